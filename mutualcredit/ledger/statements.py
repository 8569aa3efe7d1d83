"""Account statements: one account's movements over a period of days, page by page or whole for a download.

The definitions, kept consistent with each other so that the opening balance
plus the period's lines is the closing balance whatever order the timestamps
were written in:

- a period is a range of whole days, both included, counted in
  ``STATEMENT_TIME_ZONE`` (UTC, the zone the pages show times in); either end
  may be open;
- the period's lines are the account's movements (``transfer`` and ``post``
  rows; a pending hold moves no balance) created within the period,
  optionally only those with one counterparty, in ledger order (``seq``);
- the opening balance is the sum of the account's movements created before
  the period, the closing balance the sum of those created before its end;
- a line's balance after is the account's balance right after that movement
  in ledger order: its cached balance minus every later movement.

Every query reads one account's rows through the ``(payer_account_id, seq)``
and ``(payee_account_id, seq)`` indexes: a page is two index scans of at
most a page each, merged (``UNION ALL`` of the two sides, which cannot
overlap since a transfer's two accounts differ), and the balances after are
one window over the rows from the page's first line on. Nothing loads the
account's whole history into Python.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select, union_all
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.ledger.models import Account, Transfer, TransferKind
from mutualcredit.ledger.service import AccountView, StatementLine, get_account, list_accounts

STATEMENT_TIME_ZONE = dt.timezone.utc
STATEMENT_PAGE_LINES = 50
STATEMENT_PAGE_LINES_MAX = 500
# A download holds the whole filtered period, up to this many lines.
STATEMENT_EXPORT_LINES_MAX = 50_000

_transfers = Transfer.__table__
_accounts = Account.__table__
_MOVING = (TransferKind.TRANSFER, TransferKind.POST)


class InvalidPeriod(errors.InvalidInput):
    """The period ends before it starts."""

    code = "invalid_period"


class UnknownCounterparty(errors.InvalidInput):
    """No other account has that code."""

    code = "unknown_counterparty"


class StatementTooLong(errors.InvalidInput):
    """The period holds more lines than one download may."""

    code = "statement_too_long"


@dataclass(frozen=True, slots=True)
class StatementFilter:
    """Which lines a statement shows: a period of days (both included) and a counterparty's account code."""

    first_day: dt.date | None = None
    last_day: dt.date | None = None
    counterparty: str | None = None

    @property
    def since(self) -> dt.datetime | None:
        """The period's first instant (included)."""
        if self.first_day is None:
            return None
        return dt.datetime.combine(self.first_day, dt.time(), STATEMENT_TIME_ZONE)

    @property
    def until(self) -> dt.datetime | None:
        """The instant after the period (excluded): midnight after its last day."""
        if self.last_day is None:
            return None
        return dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), STATEMENT_TIME_ZONE)


@dataclass(frozen=True, slots=True)
class StatementPage:
    """One page of a statement, its lines oldest first, and the cursors of the pages around it."""

    account: AccountView
    filter: StatementFilter
    lines: tuple[StatementLine, ...]
    opening_minor: int  # the period's, not the page's
    closing_minor: int
    older_before_seq: int | None  # pass as ``before_seq`` for the older page; None: this is the oldest
    newer_after_seq: int | None  # pass as ``after_seq`` for the newer page; None: this is the newest


@dataclass(frozen=True, slots=True)
class Statement:
    """A whole filtered period, for downloads: lines oldest first, and every account by code (for names)."""

    account: AccountView
    filter: StatementFilter
    lines: tuple[StatementLine, ...]
    opening_minor: int
    closing_minor: int
    accounts: Mapping[str, AccountView]


# ---------------------------------------------------------------------------
# Queries


# Statements are built once per shape of filter, with bound parameters, and
# cached: building a union of subqueries costs more than running it.
_SIDE_CONDITIONS = {
    "since": lambda other: _transfers.c.created_at >= bindparam("since"),
    "until": lambda other: _transfers.c.created_at < bindparam("until"),
    "counterparty": lambda other: other == bindparam("counterparty_id"),
    "before": lambda other: _transfers.c.seq < bindparam("before_seq"),
    "after": lambda other: _transfers.c.seq > bindparam("after_seq"),
    "from_seq": lambda other: _transfers.c.seq >= bindparam("from_seq"),
}
_BALANCE = select(_accounts.c.balance).where(_accounts.c.id == bindparam("account_id")).scalar_subquery()


def _sides(conditions: frozenset[str], order: str | None = None) -> Any:
    """The account's movements as one selectable with a signed ``amount``: its two index scans, merged.

    With ``order`` each side is ordered by ``seq`` and limited (``limit``),
    so that each is an index scan that stops early.
    """
    sides = []
    for own, other, signed in (
        (_transfers.c.payee_account_id, _transfers.c.payer_account_id, _transfers.c.amount_minor),
        (_transfers.c.payer_account_id, _transfers.c.payee_account_id, -_transfers.c.amount_minor),
    ):
        side: Select[Any] = select(
            _transfers.c.seq,
            _transfers.c.id,
            _transfers.c.kind,
            _transfers.c.created_at,
            _transfers.c.description,
            _transfers.c.pending_id,
            _transfers.c.reverses_id,
            signed.label("amount"),
            other.label("counterparty_id"),
        ).where(
            own == bindparam("account_id"),
            _transfers.c.kind.in_(_MOVING),
            *[_SIDE_CONDITIONS[name](other) for name in sorted(conditions)],
        )
        if order is not None:
            side = side.order_by(_transfers.c.seq.desc() if order == "desc" else _transfers.c.seq).limit(bindparam("limit"))
            side = select(side.subquery())  # SQLite wants a limited member of a compound in a subquery
        sides.append(side)
    return union_all(*sides).subquery("movements")


def _with_codes(movements: Any) -> Select[Any]:
    return select(movements, _accounts.c.code.label("counterparty")).join(_accounts, _accounts.c.id == movements.c.counterparty_id)


@functools.lru_cache(maxsize=64)
def _page_query(conditions: frozenset[str], order: str) -> Select[Any]:
    merged = _sides(conditions, order)
    ordered = select(merged).order_by(merged.c.seq if order == "asc" else merged.c.seq.desc()).limit(bindparam("limit")).subquery()
    return _with_codes(ordered)


@functools.lru_cache(maxsize=1)
def _balances_query() -> Select[Any]:
    movements = _sides(frozenset({"from_seq"}))
    later = func.sum(movements.c.amount).over(order_by=movements.c.seq.desc(), rows=(None, -1))
    windowed = select(movements.c.seq, (_BALANCE - func.coalesce(later, 0)).label("balance_after")).subquery()
    return select(windowed).where(windowed.c.seq.in_(bindparam("seqs", expanding=True)))


@functools.lru_cache(maxsize=4)
def _period_query(has_since: bool, has_until: bool) -> Select[Any]:
    movements = _sides(frozenset())

    def created_before(name: str | None) -> Any:
        if name is None:
            return func.coalesce(func.sum(movements.c.amount), 0)
        return func.coalesce(func.sum(case((movements.c.created_at < bindparam(name), movements.c.amount), else_=0)), 0)

    return select(
        created_before("since" if has_since else None).label("opening"),
        created_before("until" if has_until else None).label("closing"),
    )


@functools.lru_cache(maxsize=16)
def _whole_query(conditions: frozenset[str]) -> Select[Any]:
    """Every filtered line with its balance after: one window over the account's history, filtered outside it."""
    movements = _sides(frozenset())
    later = func.sum(movements.c.amount).over(order_by=movements.c.seq.desc(), rows=(None, -1))
    windowed = select(movements, (_BALANCE - func.coalesce(later, 0)).label("balance_after")).subquery()
    outside = {
        "since": windowed.c.created_at >= bindparam("since"),
        "until": windowed.c.created_at < bindparam("until"),
        "counterparty": windowed.c.counterparty_id == bindparam("counterparty_id"),
    }
    query = select(windowed).where(*[outside[name] for name in sorted(conditions)])
    return _with_codes(query.order_by(windowed.c.seq).limit(bindparam("limit")).subquery())


def _parameters(account_id: int, statement_filter: StatementFilter, counterparty_id: int | None) -> tuple[frozenset[str], dict[str, Any]]:
    """The filter's conditions by name, and the values of their parameters."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "since": statement_filter.since,
        "until": statement_filter.until,
        "counterparty_id": counterparty_id,
    }
    present = {"since": statement_filter.since, "until": statement_filter.until, "counterparty": counterparty_id}
    return frozenset(name for name, value in present.items() if value is not None), values


def _balances_after(session: Session, account_id: int, seqs: list[int]) -> dict[int, int]:
    """Each of ``seqs``' balance after: the account's cached balance minus every later movement, in one statement."""
    if not seqs:
        return {}
    rows = session.execute(_balances_query(), {"account_id": account_id, "from_seq": min(seqs), "seqs": seqs})
    return {row.seq: row.balance_after for row in rows}


def _period_balances(session: Session, account: AccountView, statement_filter: StatementFilter) -> tuple[int, int]:
    """The balance before the period and at its end (the account's movements created before each)."""
    since, until = statement_filter.since, statement_filter.until
    if since is None and until is None:
        return 0, account.balance
    query = _period_query(since is not None, until is not None)
    row = session.execute(query, {"account_id": account.id, "since": since, "until": until}).one()
    return (int(row.opening) if since is not None else 0), int(row.closing)


def _lines(rows: Iterable[Any]) -> list[StatementLine]:
    """Rows with counterparty codes as lines, oldest first."""
    return [
        StatementLine(
            seq=row.seq,
            transfer_id=row.id,
            kind=row.kind,
            created_at=row.created_at,
            counterparty=row.counterparty,
            description=row.description,
            amount_minor=row.amount,
            balance_after_minor=getattr(row, "balance_after", 0),  # filled in later for pages
            pending_id=row.pending_id,
            reverses_id=row.reverses_id,
        )
        for row in sorted(rows, key=lambda row: row.seq)
    ]


def _resolve(session: Session, code: str, statement_filter: StatementFilter) -> tuple[AccountView, int | None]:
    """Check the filter, in order: the period, the account, the counterparty."""
    if statement_filter.first_day and statement_filter.last_day and statement_filter.first_day > statement_filter.last_day:
        raise InvalidPeriod("the period ends before it starts")
    account = get_account(session, code)
    counterparty_id = None
    if statement_filter.counterparty is not None:
        counterparty_id = session.scalar(select(_accounts.c.id).where(_accounts.c.code == statement_filter.counterparty))
        if counterparty_id is None or counterparty_id == account.id:
            raise UnknownCounterparty(f"no other account {statement_filter.counterparty!r}", account=statement_filter.counterparty)
    return account, counterparty_id


def _page_rows(
    session: Session,
    account_id: int,
    statement_filter: StatementFilter,
    counterparty_id: int | None,
    *,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int,
) -> list[StatementLine]:
    """Up to ``limit`` lines next to a cursor: the newest before ``before_seq`` (or of all), or the oldest after ``after_seq``."""
    conditions, values = _parameters(account_id, statement_filter, counterparty_id)
    if before_seq is not None:
        conditions |= {"before"}
    if after_seq is not None:
        conditions |= {"after"}
    values.update(before_seq=before_seq, after_seq=after_seq, limit=limit)
    query = _page_query(conditions, "asc" if after_seq is not None else "desc")
    return _lines(session.execute(query, values))


# ---------------------------------------------------------------------------
# Services


def statement_page(
    session: Session,
    code: str,
    statement_filter: StatementFilter = StatementFilter(),
    *,
    before_seq: int | None = None,
    after_seq: int | None = None,
    page_lines: int = STATEMENT_PAGE_LINES,
) -> StatementPage:
    """One page of the account's statement: the newest lines (or those before or after a cursor), oldest first.

    Checks, in order: the page's shape, the period, the account
    (``AccountNotFound``), the counterparty (``UnknownCounterparty``).
    """
    if not 1 <= page_lines <= STATEMENT_PAGE_LINES_MAX:
        raise errors.InvalidInput(f"a statement page holds 1 to {STATEMENT_PAGE_LINES_MAX} lines")
    if before_seq is not None and after_seq is not None:
        raise errors.InvalidInput("page either before or after a line, not both")
    try:
        account, counterparty_id = _resolve(session, code, statement_filter)
        fetched = _page_rows(
            session, account.id, statement_filter, counterparty_id, before_seq=before_seq, after_seq=after_seq, limit=page_lines + 1
        )
        more = len(fetched) > page_lines
        lines = fetched[:page_lines] if after_seq is not None else fetched[-page_lines:] if fetched else []
        older = newer = None
        if lines:
            first, last = lines[0].seq, lines[-1].seq
            if after_seq is not None:
                newer = last if more else None
                older = first if _page_rows(session, account.id, statement_filter, counterparty_id, before_seq=first, limit=1) else None
            else:
                older = first if more else None
                newer = last if _page_rows(session, account.id, statement_filter, counterparty_id, after_seq=last, limit=1) else None
        balances = _balances_after(session, account.id, [line.seq for line in lines])
        opening, closing = _period_balances(session, account, statement_filter)
    finally:
        session.rollback()
    return StatementPage(
        account=account,
        filter=statement_filter,
        lines=tuple(_with_balance(line, balances[line.seq]) for line in lines),
        opening_minor=opening,
        closing_minor=closing,
        older_before_seq=older,
        newer_after_seq=newer,
    )


def _with_balance(line: StatementLine, balance_after_minor: int) -> StatementLine:
    return StatementLine(
        seq=line.seq,
        transfer_id=line.transfer_id,
        kind=line.kind,
        created_at=line.created_at,
        counterparty=line.counterparty,
        description=line.description,
        amount_minor=line.amount_minor,
        balance_after_minor=balance_after_minor,
        pending_id=line.pending_id,
        reverses_id=line.reverses_id,
    )


def whole_statement(
    session: Session,
    code: str,
    statement_filter: StatementFilter = StatementFilter(),
    *,
    lines_max: int = STATEMENT_EXPORT_LINES_MAX,
) -> Statement:
    """Every line of the filtered period, oldest first (for downloads); ``StatementTooLong`` beyond ``lines_max``."""
    assert 1 <= lines_max <= STATEMENT_EXPORT_LINES_MAX
    try:
        account, counterparty_id = _resolve(session, code, statement_filter)
        conditions, values = _parameters(account.id, statement_filter, counterparty_id)
        lines = _lines(session.execute(_whole_query(conditions), {**values, "limit": lines_max + 1}))
        if len(lines) > lines_max:
            raise StatementTooLong(f"the period holds more than {lines_max} lines", lines_max=lines_max)
        opening, closing = _period_balances(session, account, statement_filter)
        accounts = {view.code: view for view in list_accounts(session)}
    finally:
        session.rollback()
    return Statement(
        account=account, filter=statement_filter, lines=tuple(lines), opening_minor=opening, closing_minor=closing, accounts=accounts
    )
