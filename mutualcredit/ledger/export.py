"""Exporting the ledger: CSV for spreadsheets, Beancount for accountants.

Only movements (transfers and posted pending transfers) are exported; holds
move no balance. The Beancount file ends with a ``balance`` assertion per
account, so ``bean-check`` proves the export agrees with the ledger. One
account's statement exports the same two ways, over its filtered period.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zoneinfo
from collections.abc import Iterator
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from mutualcredit.ledger.models import Account, Transfer, TransferKind
from mutualcredit.ledger.statements import STATEMENT_TIME_ZONE, Statement
from mutualcredit.money import format_plain
from mutualcredit.region.service import get_region

CSV_COLUMNS = (
    "seq",
    "id",
    "created_at",
    "kind",
    "state",
    "payer",
    "payee",
    "amount",
    "unit",
    "description",
    "pending_id",
    "reverses_id",
    "created_by",
    "hash",
)


def _transfer_rows(session: Session, *, moving_only: bool) -> Iterator[tuple[Transfer, str, str]]:
    payer = aliased(Account)
    payee = aliased(Account)
    query = (
        select(Transfer, payer.code, payee.code)
        .join(payer, payer.id == Transfer.payer_account_id)
        .join(payee, payee.id == Transfer.payee_account_id)
        .order_by(Transfer.seq)
    )
    if moving_only:
        query = query.where(Transfer.kind.in_((TransferKind.TRANSFER, TransferKind.POST)))
    yield from session.execute(query.execution_options(yield_per=5_000)).tuples()


def export_csv(session: Session, out: TextIO) -> int:
    """Every transfer row, in order, as CSV; returns the number of rows."""
    region = get_region(session)
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for transfer, payer, payee in _transfer_rows(session, moving_only=False):
        writer.writerow(
            (
                transfer.seq,
                transfer.id,
                transfer.created_at.isoformat(),
                transfer.kind,
                transfer.state,
                payer,
                payee,
                format_plain(transfer.amount_minor, region.decimals),
                region.unit_code,
                transfer.description,
                transfer.pending_id or "",
                transfer.reverses_id or "",
                transfer.created_by,
                transfer.hash,
            )
        )
        count += 1
    return count


def beancount_account(kind: str, code: str) -> str:
    """A valid Beancount account name for a ledger account."""
    component = re.sub(r"[^A-Za-z0-9-]", "-", code).strip("-") or "Account"
    component = component[0].upper() + component[1:]
    if not component[0].isalnum() or not component[0].isupper() and not component[0].isdigit():
        component = "A" + component
    group = "Members" if kind == "member" else "System"
    return f"Assets:{group}:{component}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def export_beancount(session: Session, out: TextIO) -> int:
    """The ledger as a Beancount file with closing balance assertions; returns transactions written."""
    region = get_region(session)
    zone = zoneinfo.ZoneInfo(region.time_zone)
    currency = region.unit_code
    accounts = session.scalars(select(Account).order_by(Account.id)).all()
    names = {account.code: beancount_account(account.kind, account.code) for account in accounts}
    body = io.StringIO()
    count = 0
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    for transfer, payer, payee in _transfer_rows(session, moving_only=True):
        date = transfer.created_at.astimezone(zone).date()
        first_date = min(first_date or date, date)
        last_date = max(last_date or date, date)
        amount = format_plain(transfer.amount_minor, region.decimals)
        narration = transfer.description or f"{payer} to {payee}"
        body.write(f"{date.isoformat()} * {_quote(narration)}\n")
        body.write(f"  id: {_quote(str(transfer.id))}\n")
        body.write(f"  {names[payee]}  {amount} {currency}\n")
        body.write(f"  {names[payer]}  -{amount} {currency}\n\n")
        count += 1
    opened = min([account.created_at.astimezone(zone).date() for account in accounts] + ([first_date] if first_date else []))
    out.write(f'option "title" {_quote(region.name)}\n')
    out.write(f'option "operating_currency" "{currency}"\n\n')
    for account in accounts:
        out.write(f"{opened.isoformat()} open {names[account.code]} {currency}\n")
    out.write("\n")
    out.write(body.getvalue())
    closing = (last_date or opened) + dt.timedelta(days=1)
    for account in accounts:
        out.write(
            f"{closing.isoformat()} balance {names[account.code]}  "
            f"{format_plain(account.balance, region.decimals)} {currency}\n"
        )
    return count


# ---------------------------------------------------------------------------
# One account's statement (see `mutualcredit.ledger.statements`)

STATEMENT_CSV_COLUMNS = (
    "created_at",
    "transfer_id",
    "kind",
    "counterparty",
    "counterparty_name",
    "description",
    "amount",
    "balance_after",
    "unit",
)
OPENING_BALANCES_ACCOUNT = "Equity:Opening-Balances"
OTHER_MOVEMENTS_ACCOUNT = "Equity:Other-Movements"


def export_statement_csv(statement: Statement, out: TextIO, *, decimals: int, unit_code: str) -> int:
    """A statement's lines as CSV (signed plain amounts, the account's balance after each); returns the lines written."""
    writer = csv.writer(out)
    writer.writerow(STATEMENT_CSV_COLUMNS)
    for line in statement.lines:
        counterparty = statement.accounts.get(line.counterparty)
        writer.writerow(
            (
                line.created_at.isoformat(),
                line.transfer_id,
                line.kind,
                line.counterparty,
                counterparty.name if counterparty else "",
                line.description,
                format_plain(line.amount_minor, decimals),
                format_plain(line.balance_after_minor, decimals),
                unit_code,
            )
        )
    return len(statement.lines)


def export_statement_beancount(statement: Statement, out: TextIO, *, title: str, decimals: int, unit_code: str) -> int:
    """A statement as a Beancount file that ``bean-check`` accepts; returns the transactions written.

    The period's opening balance comes from ``Equity:Opening-Balances`` on its
    first day and its closing balance is asserted the day after its last. With
    a counterparty filter, the period's movements with other accounts are
    summed into one transaction against ``Equity:Other-Movements``, so the
    assertion is still the account's real closing balance. Dates are days in
    ``STATEMENT_TIME_ZONE``, as the statement's period is.
    """
    account = beancount_account(statement.account.kind, statement.account.code)
    line_days = [line.created_at.astimezone(STATEMENT_TIME_ZONE).date() for line in statement.lines]
    first_day = statement.filter.first_day or (line_days[0] if line_days else None)
    last_day = statement.filter.last_day or (max(line_days) if line_days else None)
    today = dt.datetime.now(STATEMENT_TIME_ZONE).date()
    first_day = min([first_day or today, *line_days])
    last_day = max([last_day or first_day, *line_days])

    def amount(minor: int) -> str:
        return f"{format_plain(minor, decimals)} {unit_code}"

    names = {account}
    body = io.StringIO()
    count = 0
    if statement.opening_minor:
        body.write(f"{first_day.isoformat()} * {_quote('Opening balance')}\n")
        body.write(f"  {account}  {amount(statement.opening_minor)}\n")
        body.write(f"  {OPENING_BALANCES_ACCOUNT}  {amount(-statement.opening_minor)}\n\n")
        names.add(OPENING_BALANCES_ACCOUNT)
        count += 1
    for line, day in zip(statement.lines, line_days):
        counterparty = statement.accounts.get(line.counterparty)
        other = beancount_account(counterparty.kind if counterparty else "member", line.counterparty)
        names.add(other)
        narration = line.description or f"{statement.account.code} and {line.counterparty}"
        body.write(f"{day.isoformat()} * {_quote(line.counterparty)} {_quote(narration)}\n")
        body.write(f"  id: {_quote(str(line.transfer_id))}\n")
        body.write(f"  {account}  {amount(line.amount_minor)}\n")
        body.write(f"  {other}  {amount(-line.amount_minor)}\n\n")
        count += 1
    others = statement.closing_minor - statement.opening_minor - sum(line.amount_minor for line in statement.lines)
    if others:
        body.write(f"{last_day.isoformat()} * {_quote('Movements with other accounts in the period')}\n")
        body.write(f"  {account}  {amount(others)}\n")
        body.write(f"  {OTHER_MOVEMENTS_ACCOUNT}  {amount(-others)}\n\n")
        names.add(OTHER_MOVEMENTS_ACCOUNT)
        count += 1
    out.write(f'option "title" {_quote(title)}\n')
    out.write(f'option "operating_currency" "{unit_code}"\n\n')
    for name in sorted(names):
        out.write(f"{first_day.isoformat()} open {name} {unit_code}\n")
    out.write("\n")
    out.write(body.getvalue())
    out.write(f"{(last_day + dt.timedelta(days=1)).isoformat()} balance {account}  {amount(statement.closing_minor)}\n")
    return count
