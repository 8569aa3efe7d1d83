"""An account's balance over time: the end-of-day balances a dashboard charts.

Days are calendar days in UTC. The balance at the end of a day counts every
posted movement (``transfer`` and ``post`` rows) created before the next
midnight UTC; pending holds move no balance and are not counted, as in a
statement.

Two small queries answer for all the days: the account's cached balance
(which ``audit`` proves equal to its transfers), and what it moved on each
day of the window (one GROUP BY over the window's transfers only, not the
account's whole history). Each day's balance is the balance now minus what
moved after that day's end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.db import utc_now
from mutualcredit.ledger.models import Account, Transfer, TransferKind

HISTORY_DAYS_DEFAULT = 90
# A year is plenty for a chart.
HISTORY_DAYS_MAX = 366

_accounts = Account.__table__
_transfers = Transfer.__table__


@dataclass(frozen=True, slots=True)
class DailyBalance:
    """An account's balance at the end of one UTC day."""

    day: dt.date
    balance_minor: int


def day_ends(last_day: dt.date, days: int) -> tuple[dt.datetime, ...]:
    """The midnight (UTC) that ends each of the ``days`` days up to ``last_day``, oldest first."""
    _check_days(days)
    first_day = last_day - dt.timedelta(days=days - 1)
    return tuple(
        dt.datetime.combine(first_day + dt.timedelta(days=offset + 1), dt.time(), tzinfo=dt.timezone.utc)
        for offset in range(days)
    )


def balances_from_movements(
    balance_now_minor: int, last_day: dt.date, moved_after_minor: Sequence[int]
) -> list[DailyBalance]:
    """Each day's closing balance, from the balance now and what moved after each day's end.

    ``moved_after_minor[i]`` is the signed sum of the movements after the end
    of the ``i``-th day (oldest first); the last of them is ``last_day``.
    """
    days = len(moved_after_minor)
    _check_days(days)
    first_day = last_day - dt.timedelta(days=days - 1)
    return [
        DailyBalance(first_day + dt.timedelta(days=offset), balance_now_minor - moved)
        for offset, moved in enumerate(moved_after_minor)
    ]


def balance_history(
    session: Session, code: str, *, days: int = HISTORY_DAYS_DEFAULT, today: dt.date | None = None
) -> list[DailyBalance]:
    """The account's balance at the end of each of the last ``days`` UTC days, oldest first, ending today."""
    last_day = today or utc_now().date()
    ends = day_ends(last_day, days)
    account = session.execute(select(_accounts.c.id, _accounts.c.balance).where(_accounts.c.code == code)).first()
    if account is None:
        session.rollback()
        raise errors.AccountNotFound(f"no account {code!r}", account=code)
    signed = case((_transfers.c.payee_account_id == account.id, _transfers.c.amount_minor), else_=-_transfers.c.amount_minor)
    day = _utc_day(session, _transfers.c.created_at)
    per_day = (
        select(day.label("day"), func.sum(signed).label("moved"))
        .where(
            or_(_transfers.c.payer_account_id == account.id, _transfers.c.payee_account_id == account.id),
            _transfers.c.kind.in_((TransferKind.TRANSFER, TransferKind.POST)),
            _transfers.c.created_at >= ends[0],
        )
        .group_by(day)
    )
    # PostgreSQL sums bigints as numeric; every value is a whole number.
    moved_on = {dt.date.fromisoformat(row.day): int(row.moved) for row in session.execute(per_day)}
    session.rollback()
    first_day = last_day - dt.timedelta(days=days - 1)
    # What moved after each day's end: the days after it, summed from the newest back.
    moved_after: list[int] = []
    running = sum(moved for moved_day, moved in moved_on.items() if moved_day > last_day)
    for offset in range(days - 1, -1, -1):
        moved_after.append(running)
        running += moved_on.get(first_day + dt.timedelta(days=offset), 0)
    moved_after.reverse()
    return balances_from_movements(int(account.balance), last_day, moved_after)


def _utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as ``YYYY-MM-DD`` text, on either database."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 10)  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _check_days(days: int) -> None:
    if not 1 <= days <= HISTORY_DAYS_MAX:
        raise errors.InvalidInput(f"a balance history covers 1 to {HISTORY_DAYS_MAX} days")
