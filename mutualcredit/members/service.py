"""Admitting, suspending and letting members go."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import utc_now
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import Account, AccountKind
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.region.service import COMMONS_ACCOUNT_CODE, SLUG_PATTERN

WRITE_OFF_NAMESPACE = uuid.UUID("0b7c1d7e-6a55-4f43-8f0a-3f7d1d2b9e41")


@dataclass(frozen=True, slots=True)
class MemberView:
    """A member with its main account's figures."""

    slug: str
    name: str
    trade: str
    status: str
    joined_at: dt.datetime
    left_at: dt.datetime | None
    accounts: tuple[ledger.AccountView, ...]

    @property
    def balance_minor(self) -> int:
        return sum(account.balance for account in self.accounts)


def _member(session: Session, slug: str) -> Member:
    member = session.scalar(select(Member).where(Member.slug == slug))
    if member is None:
        raise errors.MemberNotFound(f"no member {slug!r}", member=slug)
    return member


def get_member(session: Session, slug: str) -> MemberView:
    """One member with its accounts."""
    member = _member(session, slug)
    return MemberView(
        slug=member.slug,
        name=member.name,
        trade=member.trade,
        status=member.status,
        joined_at=member.joined_at,
        left_at=member.left_at,
        accounts=tuple(ledger.list_accounts(session, member_slug=slug)),
    )


def list_members(session: Session, *, status: str | None = None) -> list[MemberView]:
    """Every member (or those with one status), by name, with their accounts."""
    query = select(Member).order_by(Member.name)
    if status is not None:
        query = query.where(Member.status == status)
    members = session.scalars(query).all()
    accounts: dict[str | None, list[ledger.AccountView]] = {}
    for account in ledger.list_accounts(session):
        accounts.setdefault(account.member_slug, []).append(account)
    return [
        MemberView(
            slug=m.slug,
            name=m.name,
            trade=m.trade,
            status=m.status,
            joined_at=m.joined_at,
            left_at=m.left_at,
            accounts=tuple(accounts.get(m.slug, [])),
        )
        for m in members
    ]


def add_member(
    session: Session,
    *,
    slug: str,
    name: str,
    floor: int,
    ceiling: int | None = None,
    trade: str = "",
    description: str = "",
    actor: str,
    joined_at: dt.datetime | None = None,
) -> MemberView:
    """Admit a co-op and open its main account (code = the member's slug)."""
    if not SLUG_PATTERN.match(slug or ""):
        raise errors.InvalidInput("a member's slug is lower-case letters, digits and dashes (at most 63)")
    if not name or not name.strip():
        raise errors.InvalidInput("a member needs a name")
    if floor > 0:
        raise errors.InvalidInput("the floor must be zero or negative")
    if ceiling is not None and ceiling < 0:
        raise errors.InvalidInput("the ceiling must be zero or positive")
    try:
        if session.scalar(select(Member.id).where(Member.slug == slug)) is not None:
            raise errors.AlreadyExists(f"a member {slug!r} already exists")
        if session.scalar(select(Account.id).where(Account.code == slug)) is not None:
            raise errors.AlreadyExists(f"an account {slug!r} already exists")
        member = Member(
            slug=slug,
            name=name.strip(),
            trade=trade,
            description=description,
            status=MemberStatus.ACTIVE,
            joined_at=joined_at or utc_now(),
        )
        session.add(member)
        session.flush()
        session.add(
            Account(
                code=slug,
                name=name.strip(),
                kind=AccountKind.MEMBER,
                member_id=member.id,
                floor=floor,
                ceiling=ceiling,
            )
        )
        record_activity(
            session,
            actor=actor,
            action="member.add",
            subject=slug,
            details={"floor": floor, "ceiling": ceiling},
            at=joined_at,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_member(session, slug)


def set_member_status(session: Session, slug: str, *, status: str, actor: str, reason: str = "") -> MemberView:
    """Suspend or reactivate a member (leaving goes through `leave`)."""
    if status not in (MemberStatus.ACTIVE, MemberStatus.SUSPENDED):
        raise errors.InvalidInput("a member is set to active or suspended; use leave to let it go")
    try:
        member = _member(session, slug)
        if member.status == MemberStatus.LEFT:
            raise errors.MemberNotActive(f"{slug} has left the region")
        member.status = status
        record_activity(
            session, actor=actor, action=f"member.{status}", subject=slug, details={"reason": reason}
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_member(session, slug)


def leave(
    session: Session,
    slug: str,
    *,
    actor: str,
    write_off: bool = False,
    reason: str = "",
    now: dt.datetime | None = None,
) -> MemberView:
    """Let a member leave: with a zero balance, or by a recorded write-off to the commons.

    A write-off moves the remaining balance (either sign) to the region's
    commons account with a reason, so that the network absorbs a departing
    debtor (or keeps a departing creditor's surplus) in the open.
    """
    now = now or utc_now()
    reason = reason.strip()
    if write_off and not reason:
        raise errors.InvalidInput("a write-off needs a reason")
    member = _member(session, slug)
    if member.status == MemberStatus.LEFT:
        session.rollback()
        raise errors.MemberNotActive(f"{slug} has already left")
    codes = [account.code for account in ledger.list_accounts(session, member_slug=slug)]

    def record_leaving(_conn: object, write_offs: list[ledger.TransferResult]) -> None:
        for transfer in write_offs:
            record_activity(
                session,
                actor=actor,
                action="member.write_off",
                subject=slug,
                details={"transfer": str(transfer.id), "amount_minor": transfer.amount_minor, "reason": reason},
                at=now,
            )
        member.status = MemberStatus.LEFT
        member.left_at = now
        record_activity(
            session, actor=actor, action="member.leave", subject=slug, details={"write_off": write_off, "reason": reason}, at=now
        )

    # The write-off transfers, the closing of the accounts and the member's
    # leaving are one database transaction: all happen, or none.
    ledger.close_accounts(
        session,
        codes,
        write_off_to=COMMONS_ACCOUNT_CODE if write_off else None,
        write_off_ids={code: uuid.uuid5(WRITE_OFF_NAMESPACE, f"{slug}:{code}") for code in codes},
        description=f"Write-off on leaving: {reason}",
        metadata={"write_off": True, "member": slug},
        created_by=actor,
        now=now,
        before_commit=record_leaving,
    )
    return get_member(session, slug)


def open_member_account(
    session: Session,
    slug: str,
    *,
    code: str,
    name: str,
    floor: int,
    ceiling: int | None = None,
    actor: str,
) -> ledger.AccountView:
    """Open a further account for an active member (its first is opened by ``add_member``)."""
    member = _member(session, slug)
    if member.status != MemberStatus.ACTIVE:
        session.rollback()
        raise errors.MemberNotActive(f"{slug} is {member.status}; only active members open accounts")
    member_id = member.id
    session.rollback()
    return ledger.open_account(
        session, code=code, name=name, kind="member", floor=floor, ceiling=ceiling, member_id=member_id, actor=actor
    )
