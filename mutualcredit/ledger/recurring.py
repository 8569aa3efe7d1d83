"""Recurring payments: a standing order from one account to another, weekly or monthly.

A treasurer sets one up (the payer's account, the payee's, an amount, a
first date and maybe an end date); ``run_due_recurring_payments``, run from
cron or a systemd timer (``mutualcredit recurring run-due``), pays every
occurrence that has fallen due. The invariants:

- **Never twice.** An occurrence's transfer id is derived from the recurring
  payment's id and its due date (``occurrence_transfer_id``), so a run that
  is repeated, interrupted or raced by another pays each occurrence once:
  the ledger answers a known id with the transfer it already made.
- **In order, catching up.** Missed occurrences (the job did not run for a
  while) are paid one after the other up to today, at most
  ``RUN_OCCURRENCES_MAX`` per run; what is left waits for the next run.
- **A refusal waits.** When the ledger refuses an occurrence (not enough
  available credit, a frozen account, a member that left), its code and
  message are kept in ``last_error``, the occurrence stays due and is tried
  again on the next run; later occurrences of that payment wait behind it,
  so they are paid in order. The other recurring payments go on. A
  treasurer sees the error on the page and may cancel.
- **Calendar.** A monthly payment falls on its first date's day of the
  month; in a shorter month it falls on the month's last day (a payment set
  up on the 31st is paid on 30 April and 28 or 29 February, and on the 31st
  again in May). A weekly one falls every 7 days from its first date.
  Occurrences are always computed from the first date, so a short month
  never shifts the ones after it. An end date, if any, is the last day an
  occurrence may fall on.
- **Cancelling** stops every occurrence not yet paid; it is recorded in the
  activity log, and a cancelled payment is never paid again.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import uuid
import zoneinfo
from dataclasses import dataclass

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import Base, UTCDateTime, utc_now
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import Account, AccountKind, AccountStatus
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.money import AMOUNT_MINOR_MAX
from mutualcredit.region.service import get_region

DESCRIPTION_LENGTH_MAX = ledger.DESCRIPTION_LENGTH_MAX
ERROR_LENGTH_MAX = 1_000
# Occurrences paid (or refused) by one run, over every recurring payment.
RUN_OCCURRENCES_MAX = 1_000
# Active recurring payments one account may pay from.
ACTIVE_PER_PAYER_MAX = 200
LIST_SIZE_MAX = 1_000
OCCURRENCE_NAMESPACE = uuid.UUID("8c4f2a61-7d3e-4b9a-a1f5-0e6d2c7b9f38")


class RecurringInterval(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class RecurringState(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class RecurringPaymentNotFound(errors.NotFound):
    """No recurring payment has that id."""

    code = "recurring_payment_not_found"


class TooManyRecurringPayments(errors.Conflict):
    """The account already pays as many recurring payments as allowed."""

    code = "too_many_recurring_payments"


class RecurringPayment(Base):
    """A standing order: pay ``amount_minor`` from the payer's account to the payee's, every interval.

    ``next_due_on`` is the earliest occurrence not paid yet (it moves only
    when an occurrence is paid); ``first_due_on`` anchors the calendar.
    """

    __tablename__ = "recurring_payments"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("payer_account_id <> payee_account_id", name="two_accounts"),
        # "interval" is an SQL keyword: quoted in raw SQL.
        CheckConstraint("\"interval\" IN ('weekly', 'monthly')", name="interval_known"),
        CheckConstraint("state IN ('active', 'cancelled')", name="state_known"),
        CheckConstraint("next_due_on >= first_due_on", name="due_after_first"),
        CheckConstraint("ends_on IS NULL OR ends_on >= first_due_on", name="ends_after_first"),
        CheckConstraint("(state = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_has_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    payee_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text, default="")
    interval: Mapped[str] = mapped_column(String(16))
    first_due_on: Mapped[dt.date] = mapped_column(Date)
    next_due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=RecurringState.ACTIVE)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------------------
# The calendar (pure)


def _add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months``, on the month's last day when the month is shorter."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last_day))


def occurrence_on(interval: str, first_due_on: dt.date, index: int) -> dt.date:
    """The ``index``-th occurrence (0 is the first date) of a recurring payment."""
    assert index >= 0
    if interval == RecurringInterval.WEEKLY:
        return first_due_on + dt.timedelta(weeks=index)
    assert interval == RecurringInterval.MONTHLY
    return _add_months(first_due_on, index)


def occurrence_after(interval: str, first_due_on: dt.date, due_on: dt.date) -> dt.date:
    """The occurrence that follows the one falling on ``due_on``."""
    if interval == RecurringInterval.WEEKLY:
        return due_on + dt.timedelta(weeks=1)
    index = (due_on.year - first_due_on.year) * 12 + due_on.month - first_due_on.month
    assert occurrence_on(interval, first_due_on, index) == due_on, "due_on is not an occurrence"
    return occurrence_on(interval, first_due_on, index + 1)


def occurrence_transfer_id(recurring_id: int, due_on: dt.date) -> uuid.UUID:
    """The ledger id of the transfer paying the occurrence due on ``due_on``: one per occurrence, ever."""
    return uuid.uuid5(OCCURRENCE_NAMESPACE, f"{recurring_id}:{due_on.isoformat()}")


def region_today(session: Session) -> dt.date:
    """Today's date in the region's time zone."""
    time_zone = get_region(session).time_zone
    session.rollback()
    return utc_now().astimezone(zoneinfo.ZoneInfo(time_zone)).date()


# ---------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class RecurringView:
    """A recurring payment with account codes and the members owning them."""

    id: int
    payer: str
    payee: str
    payer_member: str | None
    payee_member: str | None
    amount_minor: int
    description: str
    interval: str
    first_due_on: dt.date
    next_due_on: dt.date
    ends_on: dt.date | None
    state: str
    created_by: str
    created_at: dt.datetime
    cancelled_by: str | None
    cancelled_at: dt.datetime | None
    last_run_at: dt.datetime | None
    last_error_code: str | None
    last_error: str | None

    @property
    def is_finished(self) -> bool:
        """Active, but past its end date: nothing more will be paid."""
        return self.ends_on is not None and self.next_due_on > self.ends_on

    @property
    def is_active(self) -> bool:
        return self.state == RecurringState.ACTIVE and not self.is_finished


_payer_account = aliased(Account, name="payer_account")
_payee_account = aliased(Account, name="payee_account")
_payer_member = aliased(Member, name="payer_member")
_payee_member = aliased(Member, name="payee_member")
_WITH_CODES = (
    select(RecurringPayment, _payer_account.code, _payee_account.code, _payer_member.slug, _payee_member.slug)
    .join(_payer_account, _payer_account.id == RecurringPayment.payer_account_id)
    .join(_payee_account, _payee_account.id == RecurringPayment.payee_account_id)
    .outerjoin(_payer_member, _payer_member.id == _payer_account.member_id)
    .outerjoin(_payee_member, _payee_member.id == _payee_account.member_id)
)


def _view(row: RecurringPayment, payer: str, payee: str, payer_member: str | None, payee_member: str | None) -> RecurringView:
    return RecurringView(
        id=row.id,
        payer=payer,
        payee=payee,
        payer_member=payer_member,
        payee_member=payee_member,
        amount_minor=row.amount_minor,
        description=row.description,
        interval=row.interval,
        first_due_on=row.first_due_on,
        next_due_on=row.next_due_on,
        ends_on=row.ends_on,
        state=row.state,
        created_by=row.created_by,
        created_at=row.created_at,
        cancelled_by=row.cancelled_by,
        cancelled_at=row.cancelled_at,
        last_run_at=row.last_run_at,
        last_error_code=row.last_error_code,
        last_error=row.last_error,
    )


def get_recurring_payment(session: Session, recurring_id: int) -> RecurringView:
    """One recurring payment by id."""
    row = session.execute(_WITH_CODES.where(RecurringPayment.id == recurring_id)).first()
    session.rollback()
    if row is None:
        raise RecurringPaymentNotFound(f"no recurring payment {recurring_id}")
    return _view(*row)


def list_recurring_payments(
    session: Session, *, member: str | None = None, state: str | None = None, limit: int = LIST_SIZE_MAX
) -> list[RecurringView]:
    """Recurring payments (those a member pays or receives), by next due date then id."""
    if not 1 <= limit <= LIST_SIZE_MAX:
        raise errors.InvalidInput(f"a list holds 1 to {LIST_SIZE_MAX} recurring payments")
    query = _WITH_CODES.order_by(RecurringPayment.next_due_on, RecurringPayment.id).limit(limit)
    if member is not None:
        query = query.where(or_(_payer_member.slug == member, _payee_member.slug == member))
    if state is not None:
        query = query.where(RecurringPayment.state == state)
    views = [_view(*row) for row in session.execute(query)]
    session.rollback()
    return views


# ---------------------------------------------------------------------------
# Setting up and cancelling


def _usable_account(session: Session, code: str) -> Account:
    account = session.scalar(select(Account).where(Account.code == code))
    if account is None:
        raise errors.AccountNotFound(f"no account {code!r}", account=code)
    if account.status != AccountStatus.OPEN:
        raise errors.AccountNotOpen(f"account {code} is {account.status}", account=code)
    if account.member_id is not None:
        status = session.scalar(select(Member.status).where(Member.id == account.member_id))
        if status != MemberStatus.ACTIVE:
            raise errors.MemberNotActive(f"the member owning {code} is {status}", account=code)
    return account


def create_recurring_payment(
    session: Session,
    *,
    payer: str,
    payee: str,
    amount_minor: int,
    interval: str,
    first_due_on: dt.date,
    today: dt.date,
    ends_on: dt.date | None = None,
    description: str = "",
    created_by: str,
    now: dt.datetime | None = None,
) -> RecurringView:
    """Set up a recurring payment from a member's account ``payer`` to account ``payee``.

    Checks, in this order: the interval, the amount, the description, the
    two accounts differ, the first date is not before ``today``, the end
    date is not before the first date; then the payer's account exists, is
    open and belongs to an active member, the payee's exists and is open
    (and its member active), and the payer has room for one more.
    """
    if interval not in {i.value for i in RecurringInterval}:
        raise errors.InvalidInput(f"the interval is weekly or monthly, not {interval!r}")
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise errors.InvalidAmount("the amount must be greater than zero")
    if amount_minor > AMOUNT_MINOR_MAX:
        raise errors.InvalidAmount("the amount is too large")
    description = description.strip()
    if len(description) > DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidInput(f"the description is longer than {DESCRIPTION_LENGTH_MAX} characters")
    if payer == payee:
        raise errors.SameAccount()
    if first_due_on < today:
        raise errors.InvalidInput("the first payment cannot be in the past", field="first_due_on")
    if ends_on is not None and ends_on < first_due_on:
        raise errors.InvalidInput("the end date is before the first payment", field="ends_on")
    try:
        payer_account = _usable_account(session, payer)
        if payer_account.member_id is None or payer_account.kind != AccountKind.MEMBER:
            raise errors.NotAllowed("recurring payments are paid from a member's account")
        payee_account = _usable_account(session, payee)
        active = session.scalar(
            select(func.count())
            .select_from(RecurringPayment)
            .where(RecurringPayment.payer_account_id == payer_account.id, RecurringPayment.state == RecurringState.ACTIVE)
        )
        if (active or 0) >= ACTIVE_PER_PAYER_MAX:
            raise TooManyRecurringPayments(f"{payer} already has {ACTIVE_PER_PAYER_MAX} active recurring payments")
        row = RecurringPayment(
            payer_account_id=payer_account.id,
            payee_account_id=payee_account.id,
            amount_minor=amount_minor,
            description=description,
            interval=interval,
            first_due_on=first_due_on,
            next_due_on=first_due_on,
            ends_on=ends_on,
            state=RecurringState.ACTIVE,
            created_by=created_by,
            created_at=now or utc_now(),
        )
        session.add(row)
        session.flush()
        recurring_id = row.id
        record_activity(
            session,
            actor=created_by,
            action="recurring.create",
            subject=str(recurring_id),
            details={
                "payer": payer,
                "payee": payee,
                "amount_minor": amount_minor,
                "interval": interval,
                "first_due_on": first_due_on.isoformat(),
                "ends_on": ends_on.isoformat() if ends_on else None,
            },
            at=now,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_recurring_payment(session, recurring_id)


def cancel_recurring_payment(
    session: Session, recurring_id: int, *, actor: str, payer_member: str | None = None, now: dt.datetime | None = None
) -> RecurringView:
    """Cancel a recurring payment: nothing more is paid (cancelling twice changes nothing).

    With ``payer_member``, only a payment from that member's account is
    found: another member's id is ``RecurringPaymentNotFound``.
    """
    view = get_recurring_payment(session, recurring_id)
    if payer_member is not None and view.payer_member != payer_member:
        raise RecurringPaymentNotFound(f"no recurring payment {recurring_id} from {payer_member}")
    if view.state == RecurringState.CANCELLED:
        return view
    try:
        changed = session.execute(
            update(RecurringPayment)
            .where(RecurringPayment.id == recurring_id, RecurringPayment.state == RecurringState.ACTIVE)
            .values(state=RecurringState.CANCELLED, cancelled_by=actor, cancelled_at=now or utc_now())
        ).rowcount
        if changed == 1:
            record_activity(
                session,
                actor=actor,
                action="recurring.cancel",
                subject=str(recurring_id),
                details={"payer": view.payer, "payee": view.payee, "next_due_on": view.next_due_on.isoformat()},
                at=now,
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_recurring_payment(session, recurring_id)


# ---------------------------------------------------------------------------
# Paying what is due


@dataclass(frozen=True, slots=True)
class OccurrenceOutcome:
    """One occurrence a run dealt with: paid (its transfer) or refused (the error's code and message)."""

    recurring_id: int
    due_on: dt.date
    transfer_id: uuid.UUID
    amount_minor: int
    error_code: str | None = None
    error: str | None = None

    @property
    def is_paid(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True, slots=True)
class RunReport:
    """What ``run_due_recurring_payments`` did."""

    today: dt.date
    outcomes: tuple[OccurrenceOutcome, ...]
    is_complete: bool  # False: the run hit RUN_OCCURRENCES_MAX; more is due

    @property
    def paid(self) -> tuple[OccurrenceOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.is_paid)

    @property
    def refused(self) -> tuple[OccurrenceOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.is_paid)


def _record_run(
    session: Session, recurring_id: int, *, due_on: dt.date, next_due_on: dt.date, at: dt.datetime, error: OccurrenceOutcome | None
) -> None:
    """Move the payment on after a paid occurrence, or keep its error; only if no other run moved it meanwhile."""
    try:
        session.execute(
            update(RecurringPayment)
            .where(RecurringPayment.id == recurring_id, RecurringPayment.next_due_on == due_on)
            .values(
                next_due_on=next_due_on,
                last_run_at=at,
                last_error_code=error.error_code if error else None,
                last_error=(error.error or "")[:ERROR_LENGTH_MAX] if error else None,
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise


def run_due_recurring_payments(
    session: Session,
    *,
    today: dt.date,
    occurrences_max: int = RUN_OCCURRENCES_MAX,
    now: dt.datetime | None = None,
) -> RunReport:
    """Pay every active recurring payment's occurrences due on or before ``today``, oldest first.

    Each occurrence is its own ledger transfer, with an id derived from the
    payment and the due date, so running again (the same day, or after a
    crash) never pays an occurrence twice. A refused occurrence keeps its
    payment due (and its later occurrences waiting) and records the error;
    the other payments go on. At most ``occurrences_max`` occurrences per run.
    """
    if not 1 <= occurrences_max <= RUN_OCCURRENCES_MAX:
        raise errors.InvalidInput(f"a run deals with 1 to {RUN_OCCURRENCES_MAX} occurrences")
    due = list(
        session.execute(
            _WITH_CODES.where(
                RecurringPayment.state == RecurringState.ACTIVE,
                RecurringPayment.next_due_on <= today,
                or_(RecurringPayment.ends_on.is_(None), RecurringPayment.next_due_on <= RecurringPayment.ends_on),
            ).order_by(RecurringPayment.next_due_on, RecurringPayment.id)
        )
    )
    session.rollback()
    views = [_view(*row) for row in due]
    outcomes: list[OccurrenceOutcome] = []
    is_complete = True
    for view in views:
        due_on = view.next_due_on
        while due_on <= today and (view.ends_on is None or due_on <= view.ends_on):
            if len(outcomes) >= occurrences_max:
                is_complete = False
                break
            # A cancellation between the query and this occurrence wins.
            state = session.scalar(select(RecurringPayment.state).where(RecurringPayment.id == view.id))
            session.rollback()
            if state != RecurringState.ACTIVE:
                break
            outcome = _pay_occurrence(session, view, due_on, now=now)
            outcomes.append(outcome)
            at = now or utc_now()
            if not outcome.is_paid:
                _record_run(session, view.id, due_on=due_on, next_due_on=due_on, at=at, error=outcome)
                break
            next_due_on = occurrence_after(view.interval, view.first_due_on, due_on)
            _record_run(session, view.id, due_on=due_on, next_due_on=next_due_on, at=at, error=None)
            due_on = next_due_on
        if not is_complete:
            break
    return RunReport(today=today, outcomes=tuple(outcomes), is_complete=is_complete)


def _pay_occurrence(session: Session, view: RecurringView, due_on: dt.date, *, now: dt.datetime | None) -> OccurrenceOutcome:
    transfer_id = occurrence_transfer_id(view.id, due_on)
    spec = ledger.TransferSpec(
        id=transfer_id,
        payer=view.payer,
        payee=view.payee,
        amount_minor=view.amount_minor,
        description=view.description,
        metadata={"recurring_payment_id": view.id, "due_on": due_on.isoformat()},
    )
    try:
        ledger.create_transfer(session, spec, created_by=f"recurring:{view.id}", now=now)
    except errors.MutualCreditError as refused:
        return OccurrenceOutcome(view.id, due_on, transfer_id, view.amount_minor, refused.code, refused.message)
    return OccurrenceOutcome(view.id, due_on, transfer_id, view.amount_minor)
