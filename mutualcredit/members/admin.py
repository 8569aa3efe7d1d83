"""Administering the region: the coordinators' acts the area services do not already offer.

Policy (who is admitted, the limits, the rules) is made by the members'
assemblies; coordinators and admins only carry it out, and every act here
is recorded in the activity log with who did it. The ``*_as`` functions
check the acting ``Principal`` first, because their rule needs something
only the database knows (the target person's roles, the invitation's role).

- editing a member's name, trade and description;
- roles, activation and invitations addressed by a person's id (the users
  service addresses people by email);
- running the audit as a person, which records the run and its findings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import ActivityView, list_activity, record_activity
from mutualcredit.db import utc_now
from mutualcredit.ledger.audit import AuditReport, run_audit
from mutualcredit.ledger.models import Account, AccountKind
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.users import service as users
from mutualcredit.users.errors import InvitationNotValid, UserNotFound
from mutualcredit.users.models import Invitation, User
from mutualcredit.users.permissions import Principal

MEMBER_NAME_LENGTH_MAX = 200
MEMBER_TRADE_LENGTH_MAX = 200
MEMBER_DESCRIPTION_LENGTH_MAX = 2_000
# An audit run's log entry keeps at most this many findings (the count is always exact).
AUDIT_FINDINGS_LOGGED_MAX = 100
AUDIT_ACTION = "audit.run"


@dataclass(frozen=True, slots=True)
class MemberDetails:
    """A member's own description, as its edit page shows it."""

    slug: str
    name: str
    trade: str
    description: str
    status: str
    joined_at: dt.datetime
    left_at: dt.datetime | None


def _member(session: Session, slug: str) -> Member:
    member = session.scalar(select(Member).where(Member.slug == slug))
    if member is None:
        raise errors.MemberNotFound(f"no member {slug!r}", member=slug)
    return member


def _details(member: Member) -> MemberDetails:
    return MemberDetails(
        slug=member.slug,
        name=member.name,
        trade=member.trade,
        description=member.description,
        status=member.status,
        joined_at=member.joined_at,
        left_at=member.left_at,
    )


def get_member_details(session: Session, slug: str) -> MemberDetails:
    """One member's name, trade, description and status."""
    return _details(_member(session, slug))


def update_member(session: Session, slug: str, *, name: str, trade: str, description: str, actor: str) -> MemberDetails:
    """Change a member's name, trade and description; the log keeps each change's old and new value.

    The member's main account (its code is the member's slug) keeps the
    member's name when it had it. Nothing is recorded when nothing changed.
    """
    name, trade, description = (name or "").strip(), (trade or "").strip(), (description or "").strip()
    if not name:
        raise errors.InvalidInput("a member needs a name", field="name")
    if len(name) > MEMBER_NAME_LENGTH_MAX:
        raise errors.InvalidInput(f"a name has at most {MEMBER_NAME_LENGTH_MAX} characters", field="name")
    if len(trade) > MEMBER_TRADE_LENGTH_MAX:
        raise errors.InvalidInput(f"a trade has at most {MEMBER_TRADE_LENGTH_MAX} characters", field="trade")
    if len(description) > MEMBER_DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidInput(
            f"a description has at most {MEMBER_DESCRIPTION_LENGTH_MAX} characters", field="description"
        )
    try:
        member = _member(session, slug)
        old = {"name": member.name, "trade": member.trade, "description": member.description}
        new = {"name": name, "trade": trade, "description": description}
        changes = {key: [old[key], new[key]] for key in old if old[key] != new[key]}
        if changes:
            if "name" in changes:
                session.execute(
                    update(Account)
                    .where(Account.code == slug, Account.kind == AccountKind.MEMBER, Account.name == member.name)
                    .values(name=name)
                )
            member.name, member.trade, member.description = name, trade, description
            record_activity(session, actor=actor, action="member.edit", subject=slug, details=changes)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_member_details(session, slug)


# ---------------------------------------------------------------------------
# People, by id


def get_user_by_id(session: Session, user_id: int) -> users.UserView:
    """One person with their roles, by id; ``UserNotFound`` if there is none."""
    email = session.scalar(select(User.email).where(User.id == user_id))
    if email is None:
        raise UserNotFound(f"no user {user_id}")
    return users.get_user(session, email)


def set_user_active_as(session: Session, principal: Principal, *, user_id: int, is_active: bool) -> users.UserView:
    """Deactivate or reactivate a person, if ``principal`` may (never oneself; regional people by admins)."""
    target = get_user_by_id(session, user_id)
    session.rollback()
    if not principal.can_set_user_active(user_id=target.id, regional_roles=target.regional_roles):
        raise errors.NotAllowed("you may not change whether this person can log in")
    return users.set_user_active(session, email=target.email, is_active=is_active, actor=principal.actor)


def grant_member_role_as(
    session: Session, principal: Principal, *, user_id: int, member_slug: str, role: str
) -> users.UserView:
    """Make a person treasurer or viewer of a member that has not left."""
    if not principal.can_administer:
        raise errors.NotAllowed("only coordinators and admins grant member roles")
    target = get_user_by_id(session, user_id)
    member = _member(session, member_slug)
    status = member.status
    session.rollback()
    if status == MemberStatus.LEFT:
        raise errors.MemberNotActive(f"{member_slug} has left the region", member=member_slug)
    return users.grant_member_role(session, email=target.email, member_slug=member_slug, role=role, actor=principal.actor)


def revoke_member_role_as(session: Session, principal: Principal, *, user_id: int, member_slug: str) -> users.UserView:
    """Take away a person's role in a member."""
    if not principal.can_administer:
        raise errors.NotAllowed("only coordinators and admins revoke member roles")
    target = get_user_by_id(session, user_id)
    session.rollback()
    return users.revoke_member_role(session, email=target.email, member_slug=member_slug, actor=principal.actor)


def set_regional_role_as(
    session: Session, principal: Principal, *, user_id: int, role: str, granted: bool
) -> users.UserView:
    """Grant (``granted``) or revoke a regional role: admins only, and never one's own."""
    if not principal.can_administer_regional_roles:
        raise errors.NotAllowed("only admins grant and revoke regional roles")
    if user_id == principal.user_id:
        raise errors.NotAllowed("another admin changes your own regional roles")
    target = get_user_by_id(session, user_id)
    session.rollback()
    change = users.grant_regional_role if granted else users.revoke_regional_role
    return change(session, email=target.email, role=role, actor=principal.actor)


# ---------------------------------------------------------------------------
# Invitations


def revoke_invitation_as(session: Session, principal: Principal, invitation_id: int, *, now: dt.datetime | None = None) -> None:
    """End an open invitation now, so its link stops working; ``InvitationNotValid`` if it is not open."""
    now = now or utc_now()
    try:
        invitation = session.get(Invitation, invitation_id)
        if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
            raise InvitationNotValid(f"no open invitation {invitation_id}")
        if not principal.can_invite(member_role=invitation.member_role, regional_role=invitation.regional_role):
            raise errors.NotAllowed("you may not revoke an invitation to that role")
        # The table requires an expiry after the creation; a clock behind the
        # creation time still ends the invitation at once (the link is
        # refused from its expiry on).
        invitation.expires_at = max(now, invitation.created_at + dt.timedelta(microseconds=1))
        record_activity(
            session,
            actor=principal.actor,
            action="user.revoke_invitation",
            subject=invitation.email,
            details={"invitation": invitation.id, "role": invitation.member_role or invitation.regional_role},
            at=now,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise


# ---------------------------------------------------------------------------
# The audit


def run_audit_as(session: Session, principal: Principal, *, trusted_public_key: str | None = None) -> AuditReport:
    """Run the audit and record the run (with its first findings) in the activity log."""
    if not principal.can_run_audit:
        raise errors.NotAllowed("only regional roles run the audit")
    from mutualcredit.audit_checks import DOMAIN_CHECKS

    report = run_audit(session, trusted_public_key=trusted_public_key, extra_checks=DOMAIN_CHECKS)
    try:
        record_activity(
            session,
            actor=principal.actor,
            action=AUDIT_ACTION,
            subject="ledger",
            details={
                "is_clean": report.is_clean,
                "account_count": report.account_count,
                "transfer_count": report.transfer_count,
                "checkpoint_id": report.checkpoint_id,
                "finding_count": len(report.findings),
                "findings": [finding.as_dict() for finding in report.findings[:AUDIT_FINDINGS_LOGGED_MAX]],
            },
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report


def last_audit_run(session: Session) -> ActivityView | None:
    """The latest recorded audit run, if any."""
    page = list_activity(session, action=AUDIT_ACTION, limit=1)
    return page.entries[0] if page.entries else None
