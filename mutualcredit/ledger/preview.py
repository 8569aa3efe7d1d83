"""What a transfer would do, without making it: the figures a confirmation page shows.

``preview_transfer`` runs the ledger's own checks, in the ledger's documented
order (shape, idempotency, accounts exist, accounts open and members
active, the payer's floor then the payee's ceiling), on the accounts as they
stand now, and raises the same typed errors ``create_transfer`` would. It
locks nothing and writes nothing: the transfer itself checks everything
again under lock, so a preview is advice, never a promise.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import Account
from mutualcredit.members.models import Member


@dataclass(frozen=True, slots=True)
class TransferPreview:
    """A transfer's effect on both accounts, or the transfer already made with its id."""

    spec: ledger.TransferSpec
    payer: ledger.AccountView
    payee: ledger.AccountView
    already_made: ledger.TransferResult | None = None

    @property
    def payer_balance_after_minor(self) -> int:
        return self.payer.balance - (0 if self.spec.pending else self.spec.amount_minor)

    @property
    def payer_available_after_minor(self) -> int | None:
        """Available credit after the transfer (a hold reserves it as a payment spends it); None: unbounded."""
        available = self.payer.available_minor
        return None if available is None else available - self.spec.amount_minor

    @property
    def payee_balance_after_minor(self) -> int:
        return self.payee.balance + (0 if self.spec.pending else self.spec.amount_minor)


def preview_transfer(session: Session, spec: ledger.TransferSpec) -> TransferPreview:
    """Check ``spec`` as ``create_transfer`` would and tell what it would change."""
    ledger._validate_spec(spec)
    existing = ledger._fetch_transfers(session.connection(), [spec.id]).get(spec.id)
    if existing is not None:
        # The answer a retried create_transfer gives: the first result, or a conflict.
        session.rollback()
        replay = ledger._replay(existing, spec)
        payer, payee = ledger.get_account(session, spec.payer), ledger.get_account(session, spec.payee)
        session.rollback()
        return TransferPreview(spec, payer, payee, replay)
    locked: dict[str, ledger._LockedAccount] = {}
    views: dict[str, ledger.AccountView] = {}
    for account, member_slug, member_status in session.execute(
        select(Account, Member.slug, Member.status)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(Account.code.in_((spec.payer, spec.payee)))
    ):
        locked[account.code] = _as_locked(account, member_status)
        views[account.code] = ledger._account_view(account, member_slug)
    session.rollback()
    payer, payee = ledger._require_accounts(locked, spec.payer, spec.payee)
    ledger._require_usable(payer)
    ledger._require_usable(payee)
    ledger._require_room(payer, payee, spec.amount_minor)
    return TransferPreview(spec, views[spec.payer], views[spec.payee])


def _as_locked(account: Account, member_status: str | None) -> ledger._LockedAccount:
    """The ledger's checks take locked rows; here the figures are only read."""
    return ledger._LockedAccount(
        id=account.id,
        code=account.code,
        status=account.status,
        member_id=account.member_id,
        member_status=member_status,
        floor=account.floor,
        ceiling=account.ceiling,
        balance=account.balance,
        debits_pending=account.debits_pending,
        credits_pending=account.credits_pending,
        head=account.head,
        head_locked=account.head,
    )
