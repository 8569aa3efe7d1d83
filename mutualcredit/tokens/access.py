"""What an API token may read and do: the rules, in one place, for every API resource.

A token is bound either to one member or to a regional role.

- A **member-bound** token acts for its co-op only. With ``accounts:read`` it
  reads its own accounts, their transfers, statements and requests; with
  ``transfers:write`` it pays from its own accounts, posts or voids holds its
  co-op is party to, refunds (reverses) transfers its co-op received, and
  opens further accounts for its co-op with no credit (floor 0: credit limits
  are set by coordinators within the adopted policy); with ``requests:write``
  it invoices from its own accounts, accepts or rejects requests addressed to
  it and cancels its own.
- A **regional** token (coordinator, auditor or admin) with ``accounts:read``
  reads everything. Only the ``admin`` scope (admin role only) changes
  anything, and even it never pays from a member's account: it moves value
  between the region's own accounts (commons, pools, peer clearing), opens
  accounts with limits, posts and voids holds and reverses mistakes.
"""

from __future__ import annotations

from typing import Protocol

from mutualcredit import errors
from mutualcredit.ledger.models import AccountKind
from mutualcredit.tokens.service import TokenView


class AccountView(Protocol):
    """What the rules need of an account: who owns it and what kind it is (neither ever changes)."""

    @property
    def member_slug(self) -> str | None: ...

    @property
    def kind(self) -> str: ...


def require(token: TokenView, scope: str) -> None:
    if not token.allows(scope):
        raise errors.NotAllowed(f"this token lacks the {scope} scope")


def _is_own(token: TokenView, account: AccountView) -> bool:
    return token.member_slug is not None and account.member_slug == token.member_slug


def readable_member(token: TokenView) -> str | None:
    """The member whose data the token may read, or ``None`` for every member (regional roles)."""
    require(token, "accounts:read")
    return token.member_slug


def check_read_account(token: TokenView, account: AccountView) -> None:
    require(token, "accounts:read")
    if token.member_slug is not None and not _is_own(token, account):
        raise errors.NotAllowed("this token may read only its own member's accounts")


def check_read_any_of(token: TokenView, accounts: list[AccountView]) -> None:
    """Reading a transfer or request: the token's member must be one of its sides."""
    require(token, "accounts:read")
    if token.member_slug is not None and not any(_is_own(token, account) for account in accounts):
        raise errors.NotAllowed("this token may read only what its own member is party to")


def check_pay_from(token: TokenView, payer: AccountView) -> None:
    require(token, "transfers:write")
    if token.member_slug is not None:
        if not _is_own(token, payer):
            raise errors.NotAllowed("this token may pay only from its own member's accounts")
    elif payer.kind == AccountKind.MEMBER or "admin" not in token.scopes:
        raise errors.NotAllowed("a regional token never pays from a member's account")


def check_resolve_pending(token: TokenView, payer: AccountView, payee: AccountView) -> None:
    require(token, "transfers:write")
    if token.member_slug is not None:
        if not (_is_own(token, payer) or _is_own(token, payee)):
            raise errors.NotAllowed("this token may post or void only holds its own member is party to")
    elif "admin" not in token.scopes:
        raise errors.NotAllowed("only the admin scope posts or voids other members' holds")


def check_reverse(token: TokenView, original_payee: AccountView) -> None:
    require(token, "transfers:write")
    if token.member_slug is not None:
        if not _is_own(token, original_payee):
            raise errors.NotAllowed("a member may reverse (refund) only transfers it received")
    elif "admin" not in token.scopes:
        raise errors.NotAllowed("only the admin scope reverses other members' transfers")


def check_open_account(token: TokenView, *, member_slug: str | None, floor: int | None, ceiling: int | None) -> None:
    if token.member_slug is not None:
        require(token, "transfers:write")
        if member_slug not in (None, token.member_slug):
            raise errors.NotAllowed("this token may open accounts only for its own member")
        if floor not in (None, 0) or ceiling is not None:
            raise errors.NotAllowed("credit limits are set by the region's coordinators; open the account with no limits")
    elif "admin" not in token.scopes:
        raise errors.NotAllowed("opening accounts takes the admin scope")


def check_request_create(token: TokenView, payee: AccountView) -> None:
    require(token, "requests:write")
    if token.member_slug is None or not _is_own(token, payee):
        raise errors.NotAllowed("a payment request is sent by the payee's own member")


def check_request_decide(token: TokenView, payer: AccountView) -> None:
    require(token, "requests:write")
    if token.member_slug is None or not _is_own(token, payer):
        raise errors.NotAllowed("only the payer's member accepts or rejects a payment request")


def check_request_cancel(token: TokenView, payee: AccountView) -> None:
    require(token, "requests:write")
    if token.member_slug is not None and not _is_own(token, payee):
        raise errors.NotAllowed("only the payee's member cancels a payment request")
    if token.member_slug is None and "admin" not in token.scopes:
        raise errors.NotAllowed("only the admin scope cancels other members' requests")


def acting_member(token: TokenView, scope: str) -> str:
    """The member a member-bound token acts for (invoices are recorded, confirmed and settled by members)."""
    require(token, scope)
    if token.member_slug is None:
        raise errors.NotAllowed("only a member's token records, confirms, disputes or settles invoices")
    return token.member_slug


def check_run_clearing(token: TokenView) -> None:
    if token.member_slug is not None or "admin" not in token.scopes:
        raise errors.NotAllowed("clearing runs are started with a regional token holding the admin scope")


# ---------------------------------------------------------------------------
# Resource pools: every token that reads, or declares needs, sees pools, rounds and results (the
# whole input of a round is public to its members so that any of them can re-solve it); a member's
# token with pools:write declares its own needs and objects for its own co-op; only a regional token
# with the admin scope creates pools and runs rounds (a coordinator's acts).


def check_read_pools(token: TokenView) -> None:
    if not (token.allows("accounts:read") or token.allows("pools:write")):
        raise errors.NotAllowed("reading pools takes the accounts:read or pools:write scope")


def pools_member(token: TokenView) -> str:
    """The member a member-bound token declares needs and objects for."""
    require(token, "pools:write")
    if token.member_slug is None:
        raise errors.NotAllowed("needs and objections are a member's own: use the member's token")
    return token.member_slug


def check_administer_pools(token: TokenView) -> None:
    if token.member_slug is not None or "admin" not in token.scopes:
        raise errors.NotAllowed("pools and rounds are administered with a regional token holding the admin scope")
