"""Exporting the ledger: CSV for spreadsheets, Beancount for accountants.

Only movements (transfers and posted pending transfers) are exported; holds
move no balance. The Beancount file ends with a ``balance`` assertion per
account, so ``bean-check`` proves the export agrees with the ledger.
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
