"""Auto-accept rules: a co-op's treasurer lets requests from chosen co-ops be paid without asking.

A rule says "requests to this account of ours from co-op X, up to this
amount, are accepted at once". When a payment request is created (by any
channel: pages, API, CLI) and the payer's account has a rule for the
payee's member with ``amount_minor <= amount_max_minor``, the request
service accepts it through its normal accept path (``matching_rule_id``
answers which rule applies). The invariants:

- **The ledger still decides.** An auto-accepted request is a plain accept:
  floors, ceilings and account states are checked as for a person's
  accept. If the ledger refuses, the request stays open for a person to
  answer, and creating it did not fail.
- **One rule per (account, payee member)**, enforced by a unique
  constraint; a cap is positive (a CHECK constraint) and at most
  ``AMOUNT_MINOR_MAX``.
- **Only a member's own accounts.** A rule pays from a member's account to
  another member; a co-op cannot set a rule for itself.
- Adding and removing a rule are recorded in the activity log. A rule is
  configuration, not history, so removing it deletes its row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import Base, UTCDateTime, utc_now
from mutualcredit.ledger.models import Account, AccountKind
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.money import AMOUNT_MINOR_MAX

# Rules one member may hold over all its accounts (one per other member is the most useful).
RULES_PER_MEMBER_MAX = 500
ACTOR_PREFIX = "auto-accept:"


class AutoAcceptRuleNotFound(errors.NotFound):
    """No auto-accept rule has that id (for this member)."""

    code = "auto_accept_rule_not_found"


class AutoAcceptRuleExists(errors.Conflict):
    """The account already has a rule for that co-op."""

    code = "auto_accept_rule_exists"


class TooManyAutoAcceptRules(errors.Conflict):
    """The member already holds as many auto-accept rules as allowed."""

    code = "too_many_auto_accept_rules"


class AutoAcceptRule(Base):
    """Requests to ``payer_account`` from ``payee_member``, up to ``amount_max_minor``, are accepted at once."""

    __tablename__ = "auto_accept_rules"
    __table_args__ = (
        CheckConstraint("amount_max_minor > 0", name="amount_max_positive"),
        UniqueConstraint("payer_account_id", "payee_member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    payee_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    amount_max_minor: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


@dataclass(frozen=True, slots=True)
class AutoAcceptRuleView:
    """A rule with the codes and names it concerns."""

    id: int
    payer_account: str
    payer_member: str
    payee_member: str
    payee_member_name: str
    amount_max_minor: int
    created_by: str
    created_at: dt.datetime

    @property
    def actor(self) -> str:
        """How the requests this rule accepts name their decider."""
        return f"{ACTOR_PREFIX}{self.id}"


_payer_member = aliased(Member, name="payer_member")
_payee_member = aliased(Member, name="payee_member")
_WITH_NAMES = (
    select(AutoAcceptRule, Account.code, _payer_member.slug, _payee_member.slug, _payee_member.name)
    .join(Account, Account.id == AutoAcceptRule.payer_account_id)
    .join(_payer_member, _payer_member.id == Account.member_id)
    .join(_payee_member, _payee_member.id == AutoAcceptRule.payee_member_id)
)


def _view(rule: AutoAcceptRule, account: str, payer_member: str, payee_member: str, payee_name: str) -> AutoAcceptRuleView:
    return AutoAcceptRuleView(
        id=rule.id,
        payer_account=account,
        payer_member=payer_member,
        payee_member=payee_member,
        payee_member_name=payee_name,
        amount_max_minor=rule.amount_max_minor,
        created_by=rule.created_by,
        created_at=rule.created_at,
    )


def list_rules(session: Session, *, member: str) -> list[AutoAcceptRuleView]:
    """The rules on ``member``'s accounts, by account and then payee's name."""
    query = _WITH_NAMES.where(_payer_member.slug == member).order_by(Account.code, _payee_member.name, AutoAcceptRule.id)
    return [_view(*row) for row in session.execute(query.limit(RULES_PER_MEMBER_MAX))]


def get_rule(session: Session, rule_id: int) -> AutoAcceptRuleView:
    row = session.execute(_WITH_NAMES.where(AutoAcceptRule.id == rule_id)).first()
    if row is None:
        raise AutoAcceptRuleNotFound(f"no auto-accept rule {rule_id}")
    return _view(*row)


def add_rule(
    session: Session, *, payer_account: str, payee_member: str, amount_max_minor: int, actor: str, now: dt.datetime | None = None
) -> AutoAcceptRuleView:
    """Let ``payee_member``'s requests to ``payer_account`` up to ``amount_max_minor`` be accepted at once.

    Checked in this order: the cap, the account (a member's), the payee
    (another, active member), the number of rules, a rule already there.
    """
    now = now or utc_now()
    if not 0 < amount_max_minor <= AMOUNT_MINOR_MAX:
        raise errors.InvalidAmount(f"a rule's cap is between 1 and {AMOUNT_MINOR_MAX} minor units")
    try:
        account = session.scalar(select(Account).where(Account.code == payer_account))
        if account is None or account.kind != AccountKind.MEMBER or account.member_id is None:
            raise errors.AccountNotFound(f"no member account {payer_account!r}", account=payer_account)
        payee = session.scalar(select(Member).where(Member.slug == payee_member))
        if payee is None or payee.id == account.member_id:
            raise errors.MemberNotFound(f"no other member {payee_member!r}", member=payee_member)
        if payee.status != MemberStatus.ACTIVE:
            raise errors.MemberNotActive(f"member {payee_member} is {payee.status}", member=payee_member)
        held = session.scalar(
            select(func.count())
            .select_from(AutoAcceptRule)
            .join(Account, Account.id == AutoAcceptRule.payer_account_id)
            .where(Account.member_id == account.member_id)
        )
        if (held or 0) >= RULES_PER_MEMBER_MAX:
            raise TooManyAutoAcceptRules(f"a member holds at most {RULES_PER_MEMBER_MAX} auto-accept rules")
        existing = session.scalar(
            select(AutoAcceptRule.id).where(
                AutoAcceptRule.payer_account_id == account.id, AutoAcceptRule.payee_member_id == payee.id
            )
        )
        if existing is not None:
            raise AutoAcceptRuleExists(f"account {payer_account} already has a rule for {payee_member}")
        rule = AutoAcceptRule(
            payer_account_id=account.id,
            payee_member_id=payee.id,
            amount_max_minor=amount_max_minor,
            created_by=actor,
            created_at=now,
        )
        session.add(rule)
        session.flush()
        record_activity(
            session,
            actor=actor,
            action="auto_accept.add",
            subject=payer_account,
            details={"rule": rule.id, "payee_member": payee_member, "amount_max_minor": amount_max_minor},
            at=now,
        )
        session.commit()
        rule_id = rule.id
    except BaseException:
        session.rollback()
        raise
    return get_rule(session, rule_id)


def delete_rule(session: Session, rule_id: int, *, member: str, actor: str, now: dt.datetime | None = None) -> AutoAcceptRuleView:
    """Remove one of ``member``'s rules (another member's rule is not found)."""
    try:
        view = get_rule(session, rule_id)
        if view.payer_member != member:
            raise AutoAcceptRuleNotFound(f"no auto-accept rule {rule_id} of {member}")
        session.execute(AutoAcceptRule.__table__.delete().where(AutoAcceptRule.id == rule_id))
        record_activity(
            session,
            actor=actor,
            action="auto_accept.delete",
            subject=view.payer_account,
            details={"rule": rule_id, "payee_member": view.payee_member, "amount_max_minor": view.amount_max_minor},
            at=now,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return view


def matching_rule_id(session: Session, *, payer_account_id: int, payee_account_id: int, amount_minor: int) -> int | None:
    """The rule that accepts this request at once, if any (the payee's account's member is the rule's payee)."""
    payee_member_id = select(Account.member_id).where(Account.id == payee_account_id).scalar_subquery()
    return session.scalar(
        select(AutoAcceptRule.id).where(
            AutoAcceptRule.payer_account_id == payer_account_id,
            AutoAcceptRule.payee_member_id == payee_member_id,
            AutoAcceptRule.amount_max_minor >= amount_minor,
        )
    )

