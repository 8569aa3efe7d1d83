"""Recurring payments: set up, paid when due (catching up, never twice), refused ones retried, cancelled (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import ActivityEntry
from mutualcredit.ledger import recurring
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit

JAN_15 = dt.date(2026, 1, 15)


def rent(session: Session, *, payer: str = "alpha", payee: str = "beta", amount_minor: int = 25_000, first: dt.date = JAN_15, **kwargs: object) -> recurring.RecurringView:
    return recurring.create_recurring_payment(
        session,
        payer=payer,
        payee=payee,
        amount_minor=amount_minor,
        interval=kwargs.pop("interval", "monthly"),  # type: ignore[arg-type]
        first_due_on=first,
        today=kwargs.pop("today", first),  # type: ignore[arg-type]
        description="Rent: shared workshop",
        created_by="user:treasurer@alpha",
        **kwargs,  # type: ignore[arg-type]
    )


def paid_dates(session: Session, recurring_id: int) -> list[dt.date]:
    transfers = ledger.list_transfers(session, accounts=["alpha", "beta", "gamma"], limit=500)
    return sorted(
        dt.date.fromisoformat(t.metadata["due_on"]) for t in transfers if t.metadata.get("recurring_payment_id") == recurring_id
    )


def balance(session: Session, code: str) -> int:
    value = ledger.get_account(session, code).balance
    session.rollback()
    return value


def test_a_monthly_payment_catches_up_three_missed_months_and_a_second_run_pays_nothing_more(region: Session) -> None:
    view = rent(region)
    report = recurring.run_due_recurring_payments(region, today=dt.date(2026, 3, 20))
    assert [o.due_on for o in report.paid] == [dt.date(2026, 1, 15), dt.date(2026, 2, 15), dt.date(2026, 3, 15)]
    assert report.refused == () and report.is_complete
    assert paid_dates(region, view.id) == [dt.date(2026, 1, 15), dt.date(2026, 2, 15), dt.date(2026, 3, 15)]
    assert (balance(region, "alpha"), balance(region, "beta")) == (-75_000, 75_000)
    after = recurring.get_recurring_payment(region, view.id)
    assert after.next_due_on == dt.date(2026, 4, 15) and after.last_error is None and after.last_run_at is not None

    again = recurring.run_due_recurring_payments(region, today=dt.date(2026, 3, 20))
    assert again.outcomes == ()
    assert balance(region, "alpha") == -75_000
    assert run_audit(region).is_clean


def test_an_occurrence_paid_before_a_crash_is_not_paid_again(region: Session) -> None:
    view = rent(region)
    # The transfer was made, but the run stopped before moving next_due_on.
    ledger.create_transfer(
        region,
        ledger.TransferSpec(
            recurring.occurrence_transfer_id(view.id, JAN_15),
            "alpha",
            "beta",
            25_000,
            "Rent: shared workshop",
            metadata={"recurring_payment_id": view.id, "due_on": JAN_15.isoformat()},
        ),
        created_by=f"recurring:{view.id}",
    )
    report = recurring.run_due_recurring_payments(region, today=JAN_15)
    assert [o.due_on for o in report.paid] == [JAN_15]
    assert balance(region, "alpha") == -25_000
    assert recurring.get_recurring_payment(region, view.id).next_due_on == dt.date(2026, 2, 15)


def test_a_monthly_payment_on_the_31st_falls_on_the_last_day_of_shorter_months() -> None:
    first = dt.date(2026, 1, 31)
    assert [recurring.occurrence_on("monthly", first, k) for k in range(5)] == [
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
    ]
    assert recurring.occurrence_on("monthly", dt.date(2027, 12, 31), 2) == dt.date(2028, 2, 29)  # a leap year
    assert recurring.occurrence_after("monthly", first, dt.date(2026, 2, 28)) == dt.date(2026, 3, 31)
    assert recurring.occurrence_after("weekly", first, first) == dt.date(2026, 2, 7)


def test_a_payment_on_the_31st_is_paid_on_the_last_day_of_february_then_on_the_31st_again(region: Session) -> None:
    view = rent(region, first=dt.date(2026, 1, 31), amount_minor=100)
    recurring.run_due_recurring_payments(region, today=dt.date(2026, 3, 31))
    assert paid_dates(region, view.id) == [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31)]
    assert recurring.get_recurring_payment(region, view.id).next_due_on == dt.date(2026, 4, 30)


def test_a_weekly_payment_stops_after_its_end_date(region: Session) -> None:
    view = rent(region, interval="weekly", amount_minor=100, ends_on=dt.date(2026, 1, 30))
    report = recurring.run_due_recurring_payments(region, today=dt.date(2026, 3, 1))
    assert [o.due_on for o in report.paid] == [dt.date(2026, 1, 15), dt.date(2026, 1, 22), dt.date(2026, 1, 29)]
    after = recurring.get_recurring_payment(region, view.id)
    assert after.is_finished and not after.is_active and after.state == "active"
    assert recurring.run_due_recurring_payments(region, today=dt.date(2026, 6, 1)).outcomes == ()


def test_a_cancelled_payment_is_never_paid_and_the_cancellation_is_logged(region: Session) -> None:
    view = rent(region)
    cancelled = recurring.cancel_recurring_payment(region, view.id, actor="user:treasurer@alpha", payer_member="alpha")
    assert cancelled.state == "cancelled" and cancelled.cancelled_by == "user:treasurer@alpha"
    assert recurring.cancel_recurring_payment(region, view.id, actor="someone else").cancelled_by == "user:treasurer@alpha"
    assert recurring.run_due_recurring_payments(region, today=dt.date(2026, 6, 1)).outcomes == ()
    assert balance(region, "alpha") == 0
    entries = region.scalars(sa.select(ActivityEntry).where(ActivityEntry.action == "recurring.cancel")).all()
    assert [(e.actor, e.subject) for e in entries] == [("user:treasurer@alpha", str(view.id))]


def test_only_the_payer_member_finds_its_payment_to_cancel(region: Session) -> None:
    view = rent(region)
    with pytest.raises(recurring.RecurringPaymentNotFound):
        recurring.cancel_recurring_payment(region, view.id, actor="user:treasurer@beta", payer_member="beta")
    with pytest.raises(recurring.RecurringPaymentNotFound):
        recurring.cancel_recurring_payment(region, 999_999, actor="t")
    assert recurring.get_recurring_payment(region, view.id).state == "active"


def test_a_refused_occurrence_keeps_its_error_stays_due_and_the_others_are_still_paid(region: Session) -> None:
    # gamma's floor is 0: it cannot pay anything yet.
    refused = rent(region, payer="gamma", payee="alpha", amount_minor=5_000)
    paid = rent(region, payer="beta", payee="alpha", amount_minor=1_000)
    report = recurring.run_due_recurring_payments(region, today=dt.date(2026, 2, 20))
    assert [(o.recurring_id, o.due_on) for o in report.paid] == [(paid.id, JAN_15), (paid.id, dt.date(2026, 2, 15))]
    assert [(o.recurring_id, o.due_on, o.error_code) for o in report.refused] == [(refused.id, JAN_15, "exceeds_floor")]
    kept = recurring.get_recurring_payment(region, refused.id)
    assert kept.next_due_on == JAN_15 and kept.last_error_code == "exceeds_floor" and kept.last_error
    assert balance(region, "gamma") == 0

    # Once gamma has earned enough, the next run pays what waited, in order, and clears the error.
    ledger.create_transfer(region, ledger.TransferSpec(uuid.uuid4(), "alpha", "gamma", 10_000), created_by="t")
    report = recurring.run_due_recurring_payments(region, today=dt.date(2026, 2, 20))
    assert [(o.recurring_id, o.due_on) for o in report.paid] == [(refused.id, JAN_15), (refused.id, dt.date(2026, 2, 15))]
    healed = recurring.get_recurring_payment(region, refused.id)
    assert healed.next_due_on == dt.date(2026, 3, 15) and healed.last_error is None and healed.last_error_code is None


def test_a_run_pays_at_most_its_maximum_and_leaves_the_rest_for_the_next(region: Session) -> None:
    view = rent(region, amount_minor=100)
    report = recurring.run_due_recurring_payments(region, today=dt.date(2026, 6, 30), occurrences_max=2)
    assert len(report.paid) == 2 and not report.is_complete
    report = recurring.run_due_recurring_payments(region, today=dt.date(2026, 6, 30))
    assert len(report.paid) == 4 and report.is_complete
    assert len(paid_dates(region, view.id)) == 6
    with pytest.raises(errors.InvalidInput):
        recurring.run_due_recurring_payments(region, today=dt.date(2026, 6, 30), occurrences_max=recurring.RUN_OCCURRENCES_MAX + 1)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"interval": "daily"}, errors.InvalidInput),
        ({"amount_minor": 0}, errors.InvalidAmount),
        ({"amount_minor": -5}, errors.InvalidAmount),
        ({"payee": "alpha"}, errors.SameAccount),
        ({"today": dt.date(2026, 1, 16)}, errors.InvalidInput),  # the first date is in the past
        ({"ends_on": dt.date(2026, 1, 14)}, errors.InvalidInput),
        ({"payee": "nobody"}, errors.AccountNotFound),
        ({"payer": "commons"}, errors.NotAllowed),
    ],
)
def test_a_recurring_payment_is_refused_when_its_terms_are_wrong(region: Session, changes: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        rent(region, **changes)  # type: ignore[arg-type]
    assert recurring.list_recurring_payments(region) == []


def test_a_member_lists_the_payments_it_makes_and_receives(region: Session) -> None:
    outgoing = rent(region)
    incoming = rent(region, payer="beta", payee="alpha", first=dt.date(2026, 1, 10))
    other = rent(region, payer="beta", payee="gamma", first=dt.date(2026, 1, 20))
    assert [v.id for v in recurring.list_recurring_payments(region, member="alpha")] == [incoming.id, outgoing.id]
    assert [v.id for v in recurring.list_recurring_payments(region, member="gamma")] == [other.id]
    assert (outgoing.payer_member, outgoing.payee_member) == ("alpha", "beta")


def test_the_database_refuses_a_recurring_payment_without_a_positive_amount_or_known_interval(region: Session) -> None:
    view = rent(region)
    for column, value in (("amount_minor", 0), ("interval", "daily"), ("state", "paused")):
        with pytest.raises(IntegrityError):
            region.execute(sa.text(f'UPDATE recurring_payments SET "{column}" = :value WHERE id = :id'), {"value": value, "id": view.id})
            region.flush()
        region.rollback()
    assert recurring.get_recurring_payment(region, view.id).amount_minor == 25_000
