"""Bulk payments: many payments from one account, read from a CSV file, posted all together or not at all.

The file has the header ``payee,amount,description`` (the description
column may be left out) and one payment per line:

- ``payee`` is the paid co-op's id (its slug); the payment goes to its
  main account (the account whose code is the slug).
- ``amount`` is a plain decimal with a dot and no thousands separator
  (``1234.50``), whatever the language of the person uploading it: the
  same convention as the command line, the API and every export, so a file
  means the same thing to everyone who opens it.
- ``description`` is optional text (at most the ledger's description length).

``preview_bulk_payments`` checks every line and collects its findings
(Beancount's way: all of them, not only the first), each naming the line,
the field, a stable code and the values concerned. Nothing is posted while
any line has an error. Identical lines are allowed (two equal invoices are
real) but flagged as warnings. The preview also adds the lines up against
the payer's available credit and each payee's ceiling, line by line, so it
names the first line that would not fit.

``post_bulk_payments`` checks the file again and posts every line in one
ledger batch in atomic mode: one database transaction, all lines or none.
Each line's transfer id is derived from the batch id (chosen when the file
was previewed) and the line number, so posting the same previewed file
twice pays once: the second time the ledger answers with the transfers it
already made.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import Account, AccountStatus, Transfer
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.money import AMOUNT_MINOR_MAX, format_plain, to_minor
from mutualcredit.region.service import get_region

CSV_COLUMNS = ("payee", "amount", "description")
ROWS_MAX = ledger.BATCH_SIZE_MAX
TEXT_LENGTH_MAX = 2_000_000
BULK_NAMESPACE = uuid.UUID("1f9e7c3a-52d8-4a06-b8e4-7c2a9d0f6b15")
PLAIN_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
# Findings about room (available credit, ceilings) that the ledger checks
# again, under lock, when the batch is posted.
LIMIT_CODES = frozenset({"exceeds_floor", "exceeds_ceiling"})


@dataclass(frozen=True, slots=True)
class Finding:
    """Something wrong (or, with ``is_warning``, worth a look) in one line of the file.

    ``line`` is the line of the file (the header is line 1); ``field`` is
    ``payee``, ``amount``, ``description`` or ``None`` for the whole line or
    file; ``code`` is stable (pages translate by it); ``message`` is English
    for the command line; ``params`` are the values concerned (amounts in
    minor units, their names ending in ``_minor``).
    """

    line: int
    field: str | None
    code: str
    message: str
    params: tuple[tuple[str, str | int], ...] = ()
    is_warning: bool = False

    @property
    def values(self) -> dict[str, str | int]:
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class BulkLine:
    """One payment line as written, and its amount when it reads correctly."""

    line: int
    payee: str
    amount_text: str
    description: str
    amount_minor: int | None


@dataclass(frozen=True, slots=True)
class BulkPreview:
    """What a file would pay from ``payer``, every line's findings, and the payer's figures now."""

    payer: str
    payer_member: str
    lines: tuple[BulkLine, ...]
    findings: tuple[Finding, ...]
    balance_minor: int
    available_minor: int | None  # None: the account has no floor
    names: Mapping[str, str] = field(default_factory=dict)  # payee slug -> co-op name

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if not finding.is_warning)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.is_warning)

    @property
    def is_valid(self) -> bool:
        """No error, and at least one payment: the file may be posted."""
        return not self.errors and bool(self.lines)

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor or 0 for line in self.lines)

    @property
    def balance_after_minor(self) -> int:
        return self.balance_minor - self.total_minor

    @property
    def available_after_minor(self) -> int | None:
        return None if self.available_minor is None else self.available_minor - self.total_minor

    @property
    def fits_floor(self) -> bool:
        return self.available_minor is None or self.total_minor <= self.available_minor

    def findings_for(self, line: int) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.line == line)


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What posting a file did: every transfer, or the refusals that left the ledger untouched."""

    batch_id: uuid.UUID
    preview: BulkPreview
    transfers: tuple[ledger.TransferResult, ...] = ()
    refusals: tuple[Finding, ...] = ()

    @property
    def is_posted(self) -> bool:
        return bool(self.transfers) and not self.refusals

    @property
    def is_replay(self) -> bool:
        """Posted before, by an earlier submission of the same batch: nothing new was paid."""
        return self.is_posted and all(transfer.is_replay for transfer in self.transfers)

    @property
    def total_minor(self) -> int:
        return sum(transfer.amount_minor for transfer in self.transfers)


def transfer_id_for(batch_id: uuid.UUID, line: int) -> uuid.UUID:
    """The ledger id of the transfer paying ``line`` of batch ``batch_id`` (the same on every submission)."""
    return uuid.uuid5(BULK_NAMESPACE, f"{batch_id}:{line}")


# ---------------------------------------------------------------------------
# Reading the file (pure)


class _LineError(Exception):
    """What is wrong with one field of a line, before it becomes a ``Finding``."""

    def __init__(self, code: str, message: str, **params: str | int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = tuple(params.items())


def _parse_amount(text: str, decimals: int) -> int:
    """A plain decimal (``1234.50``) in minor units; ``_LineError`` (code, message, values) if it is not one."""
    if not text:
        raise _LineError("amount_required", "the amount is missing")
    if not PLAIN_DECIMAL.match(text):
        raise _LineError("amount_not_plain", f"{text!r} is not a plain decimal like 1234.50", text=text)
    try:
        amount_minor = to_minor(Decimal(text), decimals)
    except errors.InvalidAmount:
        raise _LineError(
            "amount_too_precise", f"{text} has more than {decimals} decimal places", text=text, decimals=decimals
        ) from None
    if amount_minor <= 0:
        raise _LineError("amount_not_positive", "the amount must be greater than zero", text=text)
    if amount_minor > AMOUNT_MINOR_MAX:
        raise _LineError("amount_too_large", "the amount is too large", text=text)
    return amount_minor


def read_payments_csv(text: str, decimals: int) -> tuple[tuple[BulkLine, ...], tuple[Finding, ...]]:
    """Read a payments file: its lines and the findings that need no database (shape, amounts, duplicates)."""
    if len(text) > TEXT_LENGTH_MAX:
        return (), (Finding(1, None, "file_too_large", f"the file is longer than {TEXT_LENGTH_MAX} characters"),)
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as error:
        return (), (Finding(1, None, "not_csv", f"the file is not CSV: {error}"),)
    if not rows or not any(cell.strip() for row in rows for cell in row):
        return (), (Finding(1, None, "empty_file", "the file is empty"),)
    header = [cell.strip().lower() for cell in rows[0]]
    if header not in (list(CSV_COLUMNS), list(CSV_COLUMNS[:2])):
        return (), (Finding(1, None, "bad_header", f"the first line must be {','.join(CSV_COLUMNS)}"),)
    numbered = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    if len(numbered) > ROWS_MAX:
        return (), (
            Finding(1, None, "too_many_rows", f"at most {ROWS_MAX} payments per file, not {len(numbered)}", (("rows_max", ROWS_MAX), ("rows", len(numbered)))),
        )
    if not numbered:
        return (), (Finding(2, None, "no_payments", "the file has no payments"),)
    lines: list[BulkLine] = []
    findings: list[Finding] = []
    seen: dict[tuple[str, int, str], int] = {}
    for number, row in numbered:
        cells = [cell.strip() for cell in row]
        payee = cells[0].lower() if cells else ""
        amount_text = cells[1] if len(cells) > 1 else ""
        description = cells[2] if len(cells) > 2 else ""
        amount_minor: int | None = None
        if len(row) != len(header):
            findings.append(
                Finding(number, None, "field_count", f"expected {len(header)} fields, found {len(row)}", (("expected", len(header)), ("found", len(row))))
            )
        else:
            if not payee:
                findings.append(Finding(number, "payee", "payee_required", "the payee is missing"))
            try:
                amount_minor = _parse_amount(amount_text, decimals)
            except _LineError as problem:
                findings.append(Finding(number, "amount", problem.code, problem.message, problem.params))
            if len(description) > ledger.DESCRIPTION_LENGTH_MAX:
                findings.append(
                    Finding(
                        number,
                        "description",
                        "description_too_long",
                        f"the description is longer than {ledger.DESCRIPTION_LENGTH_MAX} characters",
                        (("length_max", ledger.DESCRIPTION_LENGTH_MAX),),
                    )
                )
            if payee and amount_minor is not None:
                key = (payee, amount_minor, description)
                if key in seen:
                    findings.append(
                        Finding(
                            number,
                            None,
                            "duplicate_line",
                            f"the same payee, amount and description as line {seen[key]}",
                            (("other_line", seen[key]),),
                            is_warning=True,
                        )
                    )
                else:
                    seen[key] = number
        lines.append(BulkLine(number, payee, amount_text, description, amount_minor))
    return tuple(lines), tuple(findings)


# ---------------------------------------------------------------------------
# Checking against the region


@dataclass(frozen=True, slots=True)
class _Payee:
    name: str
    member_status: str
    account_status: str | None  # None: the co-op has no main account
    ceiling: int | None
    room_minor: int | None  # what it can still receive; None: no ceiling


def _payees(session: Session, slugs: set[str]) -> dict[str, _Payee]:
    if not slugs:
        return {}
    members = session.execute(select(Member.slug, Member.name, Member.status).where(Member.slug.in_(slugs))).all()
    # A co-op's main account has the co-op's slug as its code (``members.service.add_member``).
    accounts = {
        account.code: account
        for account in session.scalars(select(Account).join(Member, Member.id == Account.member_id).where(Account.code.in_(slugs), Member.slug == Account.code))
    }
    payees = {}
    for slug, name, status in members:
        account = accounts.get(slug)
        room = None
        if account is not None and account.ceiling is not None:
            room = account.ceiling - account.balance - account.credits_pending
        payees[slug] = _Payee(
            name=name,
            member_status=status,
            account_status=account.status if account is not None else None,
            ceiling=account.ceiling if account is not None else None,
            room_minor=room,
        )
    return payees


def preview_bulk_payments(session: Session, payer: str, text: str) -> BulkPreview:
    """Check a payments file line by line against the region, without posting anything.

    Per line, in this order: the shape (fields, payee, amount, description),
    then the payee (a co-op, active, its main account open, not the payer's
    own co-op), then room: the payer's available credit and the payee's
    ceiling, counting every earlier line of the file.
    """
    decimals = get_region(session).decimals
    account = ledger.get_account(session, payer)
    if account.member_slug is None:
        session.rollback()
        raise errors.NotAllowed("bulk payments are paid from a member's account")
    lines, found = read_payments_csv(text, decimals)
    payees = _payees(session, {line.payee for line in lines if line.payee})
    session.rollback()
    findings = list(found)
    payer_status = session.scalar(select(Member.status).where(Member.slug == account.member_slug))
    session.rollback()
    if account.status != AccountStatus.OPEN or payer_status != MemberStatus.ACTIVE:
        findings.insert(0, Finding(1, None, "payer_not_usable", f"{payer} cannot pay: the account is {account.status}, the co-op {payer_status}"))
    failed = {finding.line for finding in findings if not finding.is_warning}
    available = account.available_minor
    spent = 0
    received: dict[str, int] = {}
    for line in lines:
        if line.line in failed or line.amount_minor is None:
            continue
        payee = payees.get(line.payee)
        problem: Finding | None = None
        if payee is None:
            problem = Finding(line.line, "payee", "member_not_found", f"no co-op {line.payee!r}", (("payee", line.payee),))
        elif line.payee == account.member_slug:
            problem = Finding(line.line, "payee", "same_account", "a co-op cannot pay itself", (("payee", line.payee),))
        elif payee.member_status != MemberStatus.ACTIVE:
            problem = Finding(
                line.line, "payee", "member_not_active", f"{line.payee} is {payee.member_status}", (("payee", line.payee), ("status", payee.member_status))
            )
        elif payee.account_status != AccountStatus.OPEN:
            problem = Finding(
                line.line, "payee", "account_not_open", f"the account of {line.payee} is {payee.account_status or 'missing'}", (("payee", line.payee),)
            )
        elif available is not None and spent + line.amount_minor > available:
            problem = Finding(
                line.line,
                "amount",
                "exceeds_floor",
                f"with this line the payments come to {format_plain(spent + line.amount_minor, decimals)}, "
                f"more than the {format_plain(max(available, 0), decimals)} available",
                (("total_minor", spent + line.amount_minor), ("available_minor", max(available, 0))),
            )
        elif payee.room_minor is not None and received.get(line.payee, 0) + line.amount_minor > payee.room_minor:
            problem = Finding(
                line.line,
                "amount",
                "exceeds_ceiling",
                f"{line.payee} can receive only {format_plain(max(payee.room_minor, 0), decimals)} more",
                (("payee", line.payee), ("room_minor", max(payee.room_minor, 0))),
            )
        if problem is not None:
            findings.append(problem)
            continue
        spent += line.amount_minor
        received[line.payee] = received.get(line.payee, 0) + line.amount_minor
    findings.sort(key=lambda finding: (finding.line, finding.is_warning))
    return BulkPreview(
        payer=account.code,
        payer_member=account.member_slug,
        lines=lines,
        findings=tuple(findings),
        balance_minor=account.balance,
        available_minor=available,
        names={slug: payee.name for slug, payee in payees.items()},
    )


# ---------------------------------------------------------------------------
# Posting


def bulk_specs(preview: BulkPreview, batch_id: uuid.UUID) -> list[ledger.TransferSpec]:
    """The ledger transfers a previewed file asks for, with their deterministic ids."""
    return [
        ledger.TransferSpec(
            id=transfer_id_for(batch_id, line.line),
            payer=preview.payer,
            payee=line.payee,  # a co-op's main account has the co-op's slug as its code
            amount_minor=line.amount_minor,
            description=line.description,
            metadata={"bulk_batch_id": str(batch_id), "line": line.line},
        )
        for line in preview.lines
        if line.amount_minor is not None
    ]


def _all_posted(session: Session, ids: list[uuid.UUID]) -> bool:
    found = session.scalars(select(Transfer.id).where(Transfer.id.in_(ids))).all() if ids else []
    session.rollback()
    return bool(ids) and len(set(found)) == len(set(ids))


def post_bulk_payments(
    session: Session, payer: str, text: str, *, batch_id: uuid.UUID, created_by: str, now: dt.datetime | None = None
) -> BulkOutcome:
    """Post every line of a payments file from ``payer`` in one database transaction, or none.

    The file is checked again first; room (available credit, ceilings) is
    left to the ledger, which checks it under lock. If the ledger refuses
    any line, nothing is posted and the outcome's ``refusals`` name the
    lines and why. A batch posted before is answered with its transfers
    (``is_replay``), even if the figures have moved since.
    """
    preview = preview_bulk_payments(session, payer, text)
    specs = bulk_specs(preview, batch_id)
    blocking = tuple(finding for finding in preview.errors if finding.code not in LIMIT_CODES)
    if not preview.lines or (blocking and not _all_posted(session, [spec.id for spec in specs])):
        return BulkOutcome(batch_id, preview, refusals=blocking or preview.errors)
    results = ledger.create_transfers(session, specs, created_by=created_by, is_atomic=True, now=now)
    line_of = {spec.id: line.line for spec, line in zip(specs, (line for line in preview.lines if line.amount_minor is not None), strict=True)}
    refusals = tuple(
        Finding(line_of[result.id], None, result.error.code, result.error.message, _amount_details(result.error))
        for result in results
        if result.error is not None and not isinstance(result.error, ledger.BatchNotApplied)
    )
    if refusals:
        return BulkOutcome(batch_id, preview, refusals=refusals)
    transfers = tuple(result.transfer for result in results if result.transfer is not None)
    assert len(transfers) == len(specs)
    return BulkOutcome(batch_id, preview, transfers=transfers)


def _amount_details(error: errors.MutualCreditError) -> tuple[tuple[str, str | int], ...]:
    return tuple((name, value) for name, value in error.details.items() if isinstance(value, (str, int)))
