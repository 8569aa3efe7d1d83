"""Invoices among members, and clearing them by multilateral set-off.

A member records an invoice it is owed (its own number, the debtor, the
amount in the region's unit, a due date). The debtor confirms or disputes
it; only confirmed invoices are cleared. A coordinator's clearing run takes
every confirmed invoice with something outstanding, has the solver
(``solver.clearing``) set off the most it can while every member's net
position stays as it was, has the independent checker verify the answer,
and records it in one database transaction: a set-off per invoice, the
cycles that cancelled out, and each invoice's new outstanding amount. A run
is named by a reference (by default today's date); running a reference
again answers the recorded run and changes nothing.

After a run, a debtor may settle what remains of an invoice in mutual
credit: one ledger transfer per invoice, from the debtor's main account to
the creditor's, linked to the invoice, within the debtor's available credit.

Set-offs happen outside the ledger: invoices are debts between members
(trade credit), not movements of mutual credit; clearing only cancels them.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, aliased

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import utc_now
from mutualcredit.invoices.models import ClearingCycle, ClearingRun, Invoice, InvoiceSetoff, InvoiceState
from mutualcredit.ledger import service as ledger
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.money import format_plain, parse_amount
from mutualcredit.region.service import get_region
from solver import clearing
from solver.clearing_check import check_setoffs
from solver.cycles import decompose_cycles

NUMBER_LENGTH_MAX = 100
DESCRIPTION_LENGTH_MAX = 500
CSV_ROWS_MAX = 10_000
REFERENCE_LENGTH_MAX = 100
SETTLEMENT_NAMESPACE = uuid.UUID("5d0c2b8e-1f6a-4c77-9b3e-8a2f4e6d1c90")
INVOICE_NAMESPACE = uuid.UUID("c3a1f7e2-94b5-4d08-a6c1-2e7f9b0d5a43")


class InvoiceNotFound(errors.NotFound):
    """No invoice has that id."""

    code = "invoice_not_found"


class InvoiceNotOpen(errors.Conflict):
    """The invoice is not in a state that allows this."""

    code = "invoice_not_open"


class ClearingRunNotFound(errors.NotFound):
    """No clearing run has that reference."""

    code = "clearing_run_not_found"


class ClearingNotVerified(errors.MutualCreditError):
    """The independent checker refused the solver's answer; nothing was recorded."""

    code = "clearing_not_verified"
    status = 500


@dataclass(frozen=True, slots=True)
class InvoiceView:
    id: uuid.UUID
    number: str
    creditor: str
    debtor: str
    amount_minor: int
    outstanding_minor: int
    due_date: dt.date
    description: str
    state: str
    created_by: str
    created_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    dispute_reason: str
    settlement_transfer_id: uuid.UUID | None

    @property
    def setoff_minor(self) -> int:
        """What set-offs and a settlement took off it (the amount less what is outstanding)."""
        return self.amount_minor - self.outstanding_minor


def invoice_id_for(creditor: str, number: str) -> uuid.UUID:
    """Invoices are idempotent on (creditor, number): the same pair always names the same id."""
    return uuid.uuid5(INVOICE_NAMESPACE, f"{creditor}\n{number}")


_creditor = aliased(Member, name="creditor")
_debtor = aliased(Member, name="debtor")
_WITH_SLUGS = (
    select(Invoice, _creditor.slug, _debtor.slug)
    .join(_creditor, _creditor.id == Invoice.creditor_member_id)
    .join(_debtor, _debtor.id == Invoice.debtor_member_id)
)


def _view(invoice: Invoice, creditor: str, debtor: str) -> InvoiceView:
    return InvoiceView(
        id=invoice.id,
        number=invoice.number,
        creditor=creditor,
        debtor=debtor,
        amount_minor=invoice.amount_minor,
        outstanding_minor=invoice.outstanding_minor,
        due_date=invoice.due_date,
        description=invoice.description,
        state=invoice.state,
        created_by=invoice.created_by,
        created_at=invoice.created_at,
        decided_by=invoice.decided_by,
        decided_at=invoice.decided_at,
        dispute_reason=invoice.dispute_reason,
        settlement_transfer_id=invoice.settlement_transfer_id,
    )


def invoice_exists(session: Session, creditor: str, number: str) -> bool:
    """Whether ``creditor`` recorded invoice ``number`` already (to tell a replay from a creation)."""
    found = session.get(Invoice, invoice_id_for(creditor, number.strip())) is not None
    session.rollback()
    return found


def get_invoice(session: Session, invoice_id: uuid.UUID) -> InvoiceView:
    row = session.execute(_WITH_SLUGS.where(Invoice.id == invoice_id)).first()
    if row is None:
        raise InvoiceNotFound(f"no invoice {invoice_id}")
    return _view(*row)


def list_invoices(
    session: Session,
    *,
    member: str | None = None,
    side: str | None = None,
    state: str | None = None,
    limit: int = 1_000,
) -> list[InvoiceView]:
    """Invoices (a member's: ``side`` ``creditor``, ``debtor`` or both), by due date then number."""
    query = _WITH_SLUGS.order_by(Invoice.due_date, _creditor.slug, Invoice.number).limit(limit)
    if member is not None:
        if side == "creditor":
            query = query.where(_creditor.slug == member)
        elif side == "debtor":
            query = query.where(_debtor.slug == member)
        else:
            query = query.where(or_(_creditor.slug == member, _debtor.slug == member))
    if state is not None:
        query = query.where(Invoice.state == state)
    views = [_view(*row) for row in session.execute(query)]
    session.rollback()
    return views


# ---------------------------------------------------------------------------
# Recording invoices


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """An invoice checked and ready to record."""

    number: str
    debtor: str
    amount_minor: int
    due_date: dt.date
    description: str = ""


def _active_member_ids(session: Session, slugs: Iterable[str]) -> dict[str, tuple[int, str]]:
    rows = session.execute(select(Member.slug, Member.id, Member.status).where(Member.slug.in_(set(slugs))))
    return {slug: (member_id, status) for slug, member_id, status in rows}


def check_draft(
    creditor: str, number: str, debtor: str, amount_minor: int, due_date: dt.date, description: str
) -> InvoiceDraft:
    number = (number or "").strip()
    if not number or len(number) > NUMBER_LENGTH_MAX:
        raise errors.InvalidInput(f"an invoice number is 1 to {NUMBER_LENGTH_MAX} characters")
    if debtor == creditor:
        raise errors.InvalidInput("an invoice is owed by another member")
    if amount_minor <= 0:
        raise errors.InvalidAmount("the amount must be greater than zero")
    if len(description) > DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidInput(f"the description is longer than {DESCRIPTION_LENGTH_MAX} characters")
    return InvoiceDraft(number, debtor, amount_minor, due_date, description)


def record_invoices(
    session: Session, creditor: str, drafts: Sequence[InvoiceDraft], *, created_by: str, now: dt.datetime | None = None
) -> list[InvoiceView]:
    """Record invoices ``creditor`` is owed, all or none, in one transaction.

    Idempotent per (creditor, number): recording the same invoice again
    returns it; the same number with other content is a conflict.
    """
    now = now or utc_now()
    try:
        members = _active_member_ids(session, [creditor, *(d.debtor for d in drafts)])
        if creditor not in members:
            raise errors.MemberNotFound(f"no member {creditor!r}", member=creditor)
        if members[creditor][1] != MemberStatus.ACTIVE:
            raise errors.MemberNotActive(f"{creditor} is {members[creditor][1]}")
        ids = []
        for draft in drafts:
            check_draft(creditor, draft.number, draft.debtor, draft.amount_minor, draft.due_date, draft.description)
            if draft.debtor not in members:
                raise errors.MemberNotFound(f"no member {draft.debtor!r}", member=draft.debtor)
            if members[draft.debtor][1] == MemberStatus.LEFT:
                raise errors.MemberNotActive(f"{draft.debtor} has left the region")
            invoice_id = invoice_id_for(creditor, draft.number)
            existing = session.get(Invoice, invoice_id)
            if existing is not None:
                same = (existing.debtor_member_id, existing.amount_minor, existing.due_date, existing.description) == (
                    members[draft.debtor][0],
                    draft.amount_minor,
                    draft.due_date,
                    draft.description,
                )
                if not same:
                    raise errors.IdempotencyConflict(f"invoice {draft.number} was already recorded with other content")
            else:
                session.add(
                    Invoice(
                        id=invoice_id,
                        number=draft.number,
                        creditor_member_id=members[creditor][0],
                        debtor_member_id=members[draft.debtor][0],
                        amount_minor=draft.amount_minor,
                        outstanding_minor=draft.amount_minor,
                        due_date=draft.due_date,
                        description=draft.description,
                        state=InvoiceState.RECORDED,
                        created_by=created_by,
                        created_at=now,
                    )
                )
                session.flush()
            ids.append(invoice_id)
        if drafts:
            record_activity(
                session, actor=created_by, action="invoice.record", subject=creditor, details={"count": len(drafts)}
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return [get_invoice(session, invoice_id) for invoice_id in ids]


@dataclass(frozen=True, slots=True)
class CsvRowError:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class CsvPreview:
    """What an uploaded CSV would record, and every row's error (nothing is recorded while any)."""

    drafts: tuple[InvoiceDraft, ...]
    errors: tuple[CsvRowError, ...]

    @property
    def is_valid(self) -> bool:
        return not self.errors and bool(self.drafts)


CSV_COLUMNS = ("number", "debtor", "amount", "due")


def preview_csv(session: Session, creditor: str, text: str, *, locale: str | None = None) -> CsvPreview:
    """Check an invoices CSV (header ``number,debtor,amount,due[,description]``) row by row.

    Amounts are plain decimals (``1234.50``), or in ``locale``'s format when
    given; due dates are ``YYYY-MM-DD``. Every row is checked, so the
    preview lists all the errors at once, with their line numbers.
    """
    decimals = get_region(session).decimals
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = list(reader)
    session.rollback()
    if not rows:
        return CsvPreview((), (CsvRowError(1, "the file is empty"),))
    header = [cell.strip().lower() for cell in rows[0]]
    if header[:4] != list(CSV_COLUMNS) or header[4:] not in ([], ["description"]):
        return CsvPreview((), (CsvRowError(1, f"the header must be {','.join(CSV_COLUMNS)}[,description]"),))
    if len(rows) - 1 > CSV_ROWS_MAX:
        return CsvPreview((), (CsvRowError(1, f"at most {CSV_ROWS_MAX} invoices per file"),))
    members = _active_member_ids(session, [row[1].strip() for row in rows[1:] if len(row) > 1])
    session.rollback()
    drafts: list[InvoiceDraft] = []
    problems: list[CsvRowError] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(CsvRowError(line, f"expected {len(header)} fields, found {len(row)}"))
            continue
        number, debtor, amount_text, due_text = (cell.strip() for cell in row[:4])
        description = row[4].strip() if len(row) > 4 else ""
        try:
            amount_minor = parse_amount(amount_text, decimals, locale)
            try:
                due = dt.date.fromisoformat(due_text)
            except ValueError:
                raise errors.InvalidInput(f"{due_text!r} is not a date like 2026-12-31") from None
            if debtor not in members:
                raise errors.MemberNotFound(f"no member {debtor!r}")
            if members[debtor][1] == MemberStatus.LEFT:
                raise errors.MemberNotActive(f"{debtor} has left the region")
            draft = check_draft(creditor, number, debtor, amount_minor, due, description)
            if draft.number in seen:
                raise errors.InvalidInput(f"invoice number {draft.number} is also on line {seen[draft.number]}")
            seen[draft.number] = line
            drafts.append(draft)
        except errors.MutualCreditError as error:
            problems.append(CsvRowError(line, error.message))
    if not drafts and not problems:
        problems.append(CsvRowError(2, "the file has no invoices"))
    return CsvPreview(tuple(drafts), tuple(problems))


def _decide(
    session: Session,
    invoice_id: uuid.UUID,
    *,
    debtor: str,
    state: InvoiceState,
    actor: str,
    reason: str = "",
    now: dt.datetime | None = None,
) -> InvoiceView:
    try:
        view = get_invoice(session, invoice_id)
        if view.debtor != debtor:
            raise errors.NotAllowed("only the debtor confirms or disputes an invoice")
        if view.state == state:
            session.rollback()
            return view
        allowed_from = {InvoiceState.CONFIRMED: (InvoiceState.RECORDED, InvoiceState.DISPUTED), InvoiceState.DISPUTED: (InvoiceState.RECORDED,)}
        if view.state not in allowed_from[state]:
            raise InvoiceNotOpen(f"invoice {view.number} is {view.state}")
        if state == InvoiceState.DISPUTED and not reason.strip():
            raise errors.InvalidInput("say why the invoice is disputed")
        changed = session.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id, Invoice.state == view.state)
            .values(state=state, decided_by=actor, decided_at=now or utc_now(), dispute_reason=reason.strip())
        ).rowcount
        if changed != 1:
            raise InvoiceNotOpen(f"invoice {view.number} changed meanwhile; try again")
        record_activity(session, actor=actor, action=f"invoice.{state.value}", subject=str(invoice_id), details={"reason": reason})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_invoice(session, invoice_id)


def confirm_invoice(session: Session, invoice_id: uuid.UUID, *, debtor: str, actor: str) -> InvoiceView:
    """The debtor agrees it owes the invoice (a disputed one may be confirmed later)."""
    return _decide(session, invoice_id, debtor=debtor, state=InvoiceState.CONFIRMED, actor=actor)


def dispute_invoice(session: Session, invoice_id: uuid.UUID, *, debtor: str, actor: str, reason: str) -> InvoiceView:
    """The debtor does not agree; a disputed invoice is never cleared."""
    return _decide(session, invoice_id, debtor=debtor, state=InvoiceState.DISPUTED, actor=actor, reason=reason)


# ---------------------------------------------------------------------------
# Clearing runs


@dataclass(frozen=True, slots=True)
class CycleView:
    position: int
    participants: tuple[str, ...]
    amount_minor: int

    def arcs(self) -> list[tuple[str, str]]:
        people = self.participants
        return [(people[i], people[(i + 1) % len(people)]) for i in range(len(people))]


@dataclass(frozen=True, slots=True)
class MemberFigures:
    """A member's invoices that a run touched: what it was owed and owed, before and after."""

    member: str
    owed_before_minor: int
    owing_before_minor: int
    owed_after_minor: int
    owing_after_minor: int


@dataclass(frozen=True, slots=True)
class RunView:
    id: uuid.UUID
    reference: str
    created_by: str
    created_at: dt.datetime
    invoice_count: int
    participant_count: int
    td_minor: int
    nid_minor: int
    cleared_minor: int
    cycles: tuple[CycleView, ...]
    members: tuple[MemberFigures, ...]
    is_replay: bool = False

    @property
    def remainder_minor(self) -> int:
        return self.td_minor - self.cleared_minor

    @property
    def bound_minor(self) -> int:
        return self.td_minor - self.nid_minor


Progress = Callable[[str], None]


def _load_run(session: Session, run: ClearingRun, *, is_replay: bool) -> RunView:
    cycles = session.scalars(select(ClearingCycle).where(ClearingCycle.run_id == run.id).order_by(ClearingCycle.position))
    rows = session.execute(
        select(_creditor.slug, _debtor.slug, InvoiceSetoff.outstanding_before_minor, InvoiceSetoff.amount_minor)
        .select_from(InvoiceSetoff)
        .join(Invoice, Invoice.id == InvoiceSetoff.invoice_id)
        .join(_creditor, _creditor.id == Invoice.creditor_member_id)
        .join(_debtor, _debtor.id == Invoice.debtor_member_id)
        .where(InvoiceSetoff.run_id == run.id)
    ).all()
    # Per member, over the invoices this run touched: owed before, owing before, set off on each side.
    figures: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for creditor, debtor, before, amount in rows:
        figures[creditor][0] += before
        figures[creditor][2] += amount
        figures[debtor][1] += before
        figures[debtor][3] += amount
    view = RunView(
        id=run.id,
        reference=run.reference,
        created_by=run.created_by,
        created_at=run.created_at,
        invoice_count=run.invoice_count,
        participant_count=run.participant_count,
        td_minor=run.td_minor,
        nid_minor=run.nid_minor,
        cleared_minor=run.cleared_minor,
        cycles=tuple(CycleView(c.position, tuple(c.participants), c.amount_minor) for c in cycles),
        members=tuple(
            MemberFigures(member, owed, owing, owed - owed_off, owing - owing_off)
            for member, (owed, owing, owed_off, owing_off) in sorted(figures.items())
        ),
        is_replay=is_replay,
    )
    session.rollback()
    return view


def get_run(session: Session, reference: str) -> RunView:
    run = session.scalar(select(ClearingRun).where(ClearingRun.reference == reference))
    if run is None:
        session.rollback()
        raise ClearingRunNotFound(f"no clearing run {reference!r}")
    return _load_run(session, run, is_replay=False)


def list_runs(session: Session) -> list[RunView]:
    runs = session.scalars(select(ClearingRun).order_by(ClearingRun.created_at.desc())).all()
    return [_load_run(session, run, is_replay=False) for run in runs]


def _lock_open_invoices(session: Session) -> list[tuple[Invoice, str, str]]:
    query = (
        _WITH_SLUGS.where(Invoice.state == InvoiceState.CONFIRMED, Invoice.outstanding_minor > 0)
        .order_by(Invoice.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Invoice)
    return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def run_clearing(
    session: Session,
    *,
    reference: str | None = None,
    actor: str,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> RunView:
    """Clear every confirmed invoice with something outstanding, once per ``reference``."""
    now = now or utc_now()
    reference = (reference or now.date().isoformat()).strip()
    if not reference or len(reference) > REFERENCE_LENGTH_MAX:
        raise errors.InvalidInput(f"a run's reference is 1 to {REFERENCE_LENGTH_MAX} characters")
    say = progress or (lambda _message: None)
    try:
        earlier = session.scalar(select(ClearingRun).where(ClearingRun.reference == reference))
        if earlier is not None:
            say(f"run {reference} was recorded before; nothing changes")
            session.rollback()
            return _load_run(session, earlier, is_replay=True)
        say("locking confirmed invoices")
        invoices = _lock_open_invoices(session)
        obligations = [
            clearing.Obligation(str(invoice.id), debtor, creditor, invoice.outstanding_minor, invoice.due_date)
            for invoice, creditor, debtor in invoices
        ]
        say(f"clearing {len(obligations)} invoices")
        result = clearing.clear(obligations)
        say("verifying the set-off independently")
        findings = check_setoffs(obligations, result.setoffs_minor, require_maximum=True, is_whole=False)
        if findings:
            raise ClearingNotVerified("; ".join(str(finding) for finding in findings[:5]))
        pair_setoff: dict[tuple[str, str], int] = defaultdict(int)
        for obligation, amount in zip(obligations, result.setoffs_minor):
            pair_setoff[(obligation.debtor, obligation.creditor)] += amount
        cycles = decompose_cycles((d, c, a) for (d, c), a in pair_setoff.items())
        say(f"recording {sum(1 for s in result.setoffs_minor if s)} set-offs in {len(cycles)} cycles")
        run = ClearingRun(
            id=uuid.uuid4(),
            reference=reference,
            created_by=actor,
            created_at=now,
            invoice_count=len(obligations),
            participant_count=len({o.debtor for o in obligations} | {o.creditor for o in obligations}),
            td_minor=result.td_minor,
            nid_minor=result.nid_minor,
            cleared_minor=result.cleared_minor,
        )
        session.add(run)
        session.flush()
        for position, cycle in enumerate(cycles, start=1):
            session.add(ClearingCycle(run_id=run.id, position=position, participants=list(cycle.participants), amount_minor=cycle.amount_minor))
        for (invoice, _creditor_slug, _debtor_slug), amount in zip(invoices, result.setoffs_minor):
            if not amount:
                continue
            session.add(
                InvoiceSetoff(
                    run_id=run.id, invoice_id=invoice.id, outstanding_before_minor=invoice.outstanding_minor, amount_minor=amount
                )
            )
            left = invoice.outstanding_minor - amount
            invoice.outstanding_minor = left
            if left == 0:
                invoice.state = InvoiceState.SETTLED
        record_activity(
            session,
            actor=actor,
            action="clearing.run",
            subject=reference,
            details={"invoices": len(obligations), "cleared_minor": result.cleared_minor, "cycles": len(cycles)},
        )
        session.commit()
    except clearing.ClearingError as error:
        session.rollback()
        raise errors.InvalidInput(f"{error.code}: {error}") from None
    except BaseException:
        session.rollback()
        raise
    return _load_run(session, run, is_replay=False)


# ---------------------------------------------------------------------------
# Set-off notices


@dataclass(frozen=True, slots=True)
class NoticeLine:
    invoice_id: uuid.UUID
    number: str
    side: str  # "owed": the member is the creditor; "owing": the member is the debtor
    counterparty: str
    due_date: dt.date
    amount_minor: int
    outstanding_before_minor: int
    setoff_minor: int
    outstanding_after_minor: int
    cycles: tuple[int, ...]  # positions of the run's cycles through this invoice's pair

    @property
    def is_whole(self) -> bool:
        return self.outstanding_after_minor == 0


@dataclass(frozen=True, slots=True)
class Notice:
    run: RunView
    member: str
    lines: tuple[NoticeLine, ...] = field(default_factory=tuple)

    @property
    def setoff_owed_minor(self) -> int:
        return sum(line.setoff_minor for line in self.lines if line.side == "owed")

    @property
    def setoff_owing_minor(self) -> int:
        return sum(line.setoff_minor for line in self.lines if line.side == "owing")


def notice(session: Session, reference: str, member: str) -> Notice:
    """The member's set-off notice for a run: each of its invoices the run settled wholly or partly."""
    run = get_run(session, reference)
    rows = session.execute(
        select(Invoice, _creditor.slug, _debtor.slug, InvoiceSetoff.outstanding_before_minor, InvoiceSetoff.amount_minor)
        .join(_creditor, _creditor.id == Invoice.creditor_member_id)
        .join(_debtor, _debtor.id == Invoice.debtor_member_id)
        .join(InvoiceSetoff, InvoiceSetoff.invoice_id == Invoice.id)
        .where(InvoiceSetoff.run_id == run.id, or_(_creditor.slug == member, _debtor.slug == member))
        .order_by(Invoice.due_date, Invoice.number, _creditor.slug)
    ).all()
    lines = []
    for invoice, creditor, debtor, before, amount in rows:
        pair = (debtor, creditor)
        lines.append(
            NoticeLine(
                invoice_id=invoice.id,
                number=invoice.number,
                side="owed" if creditor == member else "owing",
                counterparty=debtor if creditor == member else creditor,
                due_date=invoice.due_date,
                amount_minor=invoice.amount_minor,
                outstanding_before_minor=before,
                setoff_minor=amount,
                outstanding_after_minor=before - amount,
                cycles=tuple(c.position for c in run.cycles if pair in c.arcs()),
            )
        )
    session.rollback()
    return Notice(run, member, tuple(lines))


def notice_csv(notice_: Notice, decimals: int, unit: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["run", "invoice", "side", "counterparty", "due", "amount", "outstanding_before", "set_off", "outstanding_after", "settled", "cycles", "unit"]
    )
    for line in notice_.lines:
        writer.writerow(
            [
                notice_.run.reference,
                line.number,
                line.side,
                line.counterparty,
                line.due_date.isoformat(),
                format_plain(line.amount_minor, decimals),
                format_plain(line.outstanding_before_minor, decimals),
                format_plain(line.setoff_minor, decimals),
                format_plain(line.outstanding_after_minor, decimals),
                "wholly" if line.is_whole else "partly",
                " ".join(str(position) for position in line.cycles),
                unit,
            ]
        )
    return out.getvalue()


# ---------------------------------------------------------------------------
# Settling what remains in mutual credit


def settlement_id(invoice_id: uuid.UUID) -> uuid.UUID:
    """The one ledger transfer that settles an invoice: settling twice pays once."""
    return uuid.uuid5(SETTLEMENT_NAMESPACE, invoice_id.hex)


def settle_invoice(
    session: Session, invoice_id: uuid.UUID, *, debtor: str, actor: str, now: dt.datetime | None = None
) -> tuple[InvoiceView, ledger.TransferResult]:
    """The debtor pays what remains of a confirmed invoice from its main account, within its credit.

    The transfer (debtor's account → creditor's account) and the invoice's
    settlement are written in one database transaction; the transfer's
    metadata names the invoice.
    """
    view = get_invoice(session, invoice_id)
    session.rollback()
    if view.debtor != debtor:
        raise errors.NotAllowed("only the debtor settles an invoice")
    transfer_id = settlement_id(invoice_id)
    if view.settlement_transfer_id is not None:
        return view, dataclasses.replace(ledger.get_transfer(session, transfer_id), is_replay=True)
    if view.state != InvoiceState.CONFIRMED:
        raise InvoiceNotOpen(f"invoice {view.number} is {view.state}; only a confirmed invoice with something outstanding is settled")
    spec = ledger.TransferSpec(
        id=transfer_id,
        payer=view.debtor,
        payee=view.creditor,
        amount_minor=view.outstanding_minor,
        description=f"Invoice {view.number}",
        metadata={"invoice": str(invoice_id), "invoice_number": view.number},
    )

    def mark_settled(conn, _row) -> None:  # type: ignore[no-untyped-def]
        changed = conn.execute(
            update(Invoice.__table__)
            .where(
                Invoice.id == invoice_id,
                Invoice.state == InvoiceState.CONFIRMED,
                Invoice.outstanding_minor == view.outstanding_minor,
            )
            .values(state=InvoiceState.SETTLED, outstanding_minor=0, settlement_transfer_id=transfer_id)
        ).rowcount
        if changed != 1:
            raise InvoiceNotOpen(f"invoice {view.number} changed meanwhile (a clearing run?); look again and retry")

    transfer = ledger._create_checked(session, spec, created_by=actor, now=now, before_commit=mark_settled)
    return get_invoice(session, invoice_id), transfer


# ---------------------------------------------------------------------------
# Audit


def check_invoices(session: Session) -> list[str]:
    """Recompute every invoice's outstanding amount from its set-offs and settlement; list disagreements."""
    setoffs = dict(
        session.execute(select(InvoiceSetoff.invoice_id, func.sum(InvoiceSetoff.amount_minor)).group_by(InvoiceSetoff.invoice_id)).all()
    )
    findings = []
    for invoice in session.scalars(select(Invoice).order_by(Invoice.id)):
        paid = 0
        if invoice.settlement_transfer_id is not None:
            paid = ledger.get_transfer(session, invoice.settlement_transfer_id).amount_minor
        expected = invoice.amount_minor - int(setoffs.get(invoice.id, 0)) - paid
        if expected != invoice.outstanding_minor:
            findings.append(f"invoice {invoice.id}: outstanding {invoice.outstanding_minor}, expected {expected}")
    session.rollback()
    return findings
