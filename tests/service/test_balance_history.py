"""An account's end-of-day balances (the dashboard's chart), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.ledger import history
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.history import HISTORY_DAYS_MAX, DailyBalance, balance_history, balances_from_movements, day_ends

UTC = dt.timezone.utc
TODAY = dt.date(2026, 3, 10)


def at(day: dt.date, hour: int = 12, minute: int = 0, second: int = 0, microsecond: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, microsecond, tzinfo=UTC)


def pay(session: Session, payer: str, payee: str, amount_minor: int, when: dt.datetime, *, pending: bool = False) -> ledger.TransferResult:
    spec = ledger.TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=amount_minor, pending=pending)
    return ledger.create_transfer(session, spec, created_by="test", now=when)


def by_day(points: list[DailyBalance]) -> dict[dt.date, int]:
    return {point.day: point.balance_minor for point in points}


def test_days_without_transfers_carry_the_last_balance_forward(region: Session) -> None:
    pay(region, "alpha", "beta", 1_000, at(TODAY - dt.timedelta(days=5)))
    pay(region, "beta", "alpha", 300, at(TODAY - dt.timedelta(days=2)))
    points = balance_history(region, "alpha", days=7, today=TODAY)
    assert [point.day for point in points] == [TODAY - dt.timedelta(days=offset) for offset in range(6, -1, -1)]
    assert [point.balance_minor for point in points] == [0, -1_000, -1_000, -1_000, -700, -700, -700]
    assert by_day(balance_history(region, "beta", days=7, today=TODAY))[TODAY] == 700


def test_a_transfer_before_the_window_counts_in_every_day_of_it(region: Session) -> None:
    pay(region, "alpha", "beta", 2_500, at(TODAY - dt.timedelta(days=200)))
    points = balance_history(region, "alpha", days=90, today=TODAY)
    assert len(points) == 90
    assert {point.balance_minor for point in points} == {-2_500}


def test_a_day_ends_at_midnight_utc(region: Session) -> None:
    day = TODAY - dt.timedelta(days=3)
    next_day = day + dt.timedelta(days=1)
    pay(region, "alpha", "beta", 100, at(day, 23, 59, 59, 999_999))  # the last instant of the day
    pay(region, "alpha", "beta", 10, at(next_day, 0, 0, 0))  # the first instant of the next
    # Half past one on the next day in UTC+2 is still the day before in UTC.
    pay(region, "alpha", "beta", 1, dt.datetime(next_day.year, next_day.month, next_day.day, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    balances = by_day(balance_history(region, "alpha", days=5, today=TODAY))
    assert balances[day - dt.timedelta(days=1)] == 0
    assert balances[day] == -101
    assert balances[next_day] == -111
    assert balances[TODAY] == -111


def test_pending_holds_move_no_balance_until_they_are_posted(region: Session) -> None:
    hold = pay(region, "alpha", "beta", 400, at(TODAY - dt.timedelta(days=3)), pending=True)
    ledger.post_pending_transfer(region, hold.id, amount_minor=250, created_by="test", now=at(TODAY - dt.timedelta(days=1)))
    balances = by_day(balance_history(region, "alpha", days=4, today=TODAY))
    assert balances[TODAY - dt.timedelta(days=3)] == 0
    assert balances[TODAY - dt.timedelta(days=2)] == 0
    assert balances[TODAY - dt.timedelta(days=1)] == -250
    assert balances[TODAY] == -250


def test_later_transfers_do_not_change_the_days_already_past(region: Session) -> None:
    pay(region, "alpha", "beta", 500, at(TODAY - dt.timedelta(days=1)))
    pay(region, "alpha", "beta", 70, at(TODAY + dt.timedelta(days=3)))  # after the window asked for
    balances = by_day(balance_history(region, "alpha", days=3, today=TODAY))
    assert balances == {TODAY - dt.timedelta(days=2): 0, TODAY - dt.timedelta(days=1): -500, TODAY: -500}


def test_an_account_with_no_transfers_stays_at_zero(region: Session) -> None:
    assert {point.balance_minor for point in balance_history(region, "gamma", days=30, today=TODAY)} == {0}


def test_the_number_of_days_is_capped(region: Session) -> None:
    assert len(balance_history(region, "alpha", days=HISTORY_DAYS_MAX, today=TODAY)) == HISTORY_DAYS_MAX
    for days in (0, -1, HISTORY_DAYS_MAX + 1):
        with pytest.raises(errors.InvalidInput):
            balance_history(region, "alpha", days=days, today=TODAY)


def test_an_unknown_account_has_no_history(region: Session) -> None:
    with pytest.raises(errors.AccountNotFound):
        balance_history(region, "nobody", days=3, today=TODAY)


def test_the_default_window_is_ninety_days_ending_today_in_utc(region: Session) -> None:
    points = balance_history(region, "alpha")
    assert len(points) == history.HISTORY_DAYS_DEFAULT
    assert points[-1].day == dt.datetime.now(UTC).date()


# Pure parts, no database.


def test_day_ends_are_the_midnights_after_each_day() -> None:
    assert day_ends(dt.date(2026, 1, 1), 2) == (
        dt.datetime(2026, 1, 1, tzinfo=UTC),
        dt.datetime(2026, 1, 2, tzinfo=UTC),
    )


def test_balances_are_the_balance_now_less_what_moved_after_each_day() -> None:
    points = balances_from_movements(-700, dt.date(2026, 1, 3), [-700, 300, 0])
    assert points == [
        DailyBalance(dt.date(2026, 1, 1), 0),
        DailyBalance(dt.date(2026, 1, 2), -1_000),
        DailyBalance(dt.date(2026, 1, 3), -700),
    ]
    with pytest.raises(errors.InvalidInput):
        balances_from_movements(0, dt.date(2026, 1, 3), [])
