"""Typed errors a user can cause, each with a stable code.

The web app, the API and the CLI map ``code`` to a message, a problem+json
``type`` and an exit line. Assertions are kept for programming errors.
"""

from __future__ import annotations


class MutualCreditError(Exception):
    """Root of every error a user (or a client program) can cause."""

    code = "mutualcredit_error"
    status = 422  # the HTTP status the API will use

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        self.details = details
        super().__init__(self.message)


class NotFound(MutualCreditError):
    """The thing asked for does not exist."""

    code = "not_found"
    status = 404


class InvalidInput(MutualCreditError):
    """The input is malformed."""

    code = "invalid_input"
    status = 400


class InvalidAmount(InvalidInput):
    """The amount is not valid."""

    code = "invalid_amount"


class Conflict(MutualCreditError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class IdempotencyConflict(Conflict):
    """The same id was already used for a different transfer."""

    code = "idempotency_conflict"


class AccountNotFound(NotFound):
    """No account has that code."""

    code = "account_not_found"


class MemberNotFound(NotFound):
    """No member has that slug."""

    code = "member_not_found"


class TransferNotFound(NotFound):
    """No transfer has that id."""

    code = "transfer_not_found"


class PaymentRequestNotFound(NotFound):
    """No payment request has that id."""

    code = "payment_request_not_found"


class SameAccount(InvalidInput):
    """The payer and the payee are the same account."""

    code = "same_account"


class AccountNotOpen(Conflict):
    """The account is frozen or closed."""

    code = "account_not_open"


class MemberNotActive(Conflict):
    """The member is suspended or has left."""

    code = "member_not_active"


class ExceedsFloor(Conflict):
    """The transfer would take the payer below its floor (credit limit)."""

    code = "exceeds_floor"


class ExceedsCeiling(Conflict):
    """The transfer would take the payee above its ceiling."""

    code = "exceeds_ceiling"


class PendingTransferNotFound(NotFound):
    """No pending transfer has that id."""

    code = "pending_transfer_not_found"


class NotPending(Conflict):
    """The transfer is not a pending transfer."""

    code = "transfer_not_pending"


class PendingTransferAlreadyPosted(Conflict):
    """The pending transfer was already posted."""

    code = "pending_transfer_already_posted"


class PendingTransferAlreadyVoided(Conflict):
    """The pending transfer was already voided."""

    code = "pending_transfer_already_voided"


class PendingTransferExpired(Conflict):
    """The pending transfer has expired."""

    code = "pending_transfer_expired"


class ExceedsPendingAmount(Conflict):
    """The amount to post exceeds the pending amount."""

    code = "exceeds_pending_amount"


class CannotReverse(Conflict):
    """Only a posted transfer that was not reversed already can be reversed."""

    code = "cannot_reverse"


class PaymentRequestNotOpen(Conflict):
    """The payment request was already decided, cancelled or has expired."""

    code = "payment_request_not_open"


class NotAllowed(MutualCreditError):
    """This actor may not do that."""

    code = "not_allowed"
    status = 403


class LimitBelowBalance(Conflict):
    """The new limit would leave the account's balance outside its limits."""

    code = "limit_excludes_balance"


class MemberHasBalance(Conflict):
    """A member can leave only with a zero balance and no pending holds."""

    code = "member_has_balance"


class AlreadyExists(Conflict):
    """Something with that name already exists."""

    code = "already_exists"


class BatchTooLarge(InvalidInput):
    """Too many transfers in one batch."""

    code = "batch_too_large"


class RegionNotConfigured(Conflict):
    """The region has not been set up yet (run `mutualcredit demo` or `region init`)."""

    code = "region_not_configured"


class SigningKeyMissing(Conflict):
    """No signing key is configured for checkpoints."""

    code = "signing_key_missing"
