"""Invoices among members and their clearing by set-off (each test on SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.invoices import service as invoices
from mutualcredit.invoices.service import InvoiceDraft
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.members.service import add_member

DUE = dt.date(2026, 12, 31)


def record(session: Session, creditor: str, number: str, debtor: str, amount: int, due: dt.date = DUE) -> invoices.InvoiceView:
    return invoices.record_invoices(session, creditor, [InvoiceDraft(number, debtor, amount, due)], created_by="t")[0]


def confirmed(session: Session, creditor: str, number: str, debtor: str, amount: int, due: dt.date = DUE) -> invoices.InvoiceView:
    view = record(session, creditor, number, debtor, amount, due)
    return invoices.confirm_invoice(session, view.id, debtor=debtor, actor="t")


def test_an_invoice_is_recorded_once_per_creditor_and_number(region: Session) -> None:
    first = record(region, "alpha", "F-1", "beta", 10_000)
    assert (first.state, first.outstanding_minor, first.creditor, first.debtor) == ("recorded", 10_000, "alpha", "beta")
    assert record(region, "alpha", "F-1", "beta", 10_000).id == first.id
    with pytest.raises(errors.IdempotencyConflict):
        record(region, "alpha", "F-1", "beta", 10_001)
    assert record(region, "beta", "F-1", "alpha", 5).id != first.id  # another creditor's F-1
    with pytest.raises(errors.InvalidInput):
        record(region, "alpha", "F-2", "alpha", 5)
    with pytest.raises(errors.MemberNotFound):
        record(region, "alpha", "F-3", "nobody", 5)
    with pytest.raises(errors.InvalidAmount):
        record(region, "alpha", "F-4", "beta", 0)
    assert [v.number for v in invoices.list_invoices(region, member="alpha", side="creditor")] == ["F-1"]


def test_a_batch_of_invoices_is_recorded_all_or_nothing(region: Session) -> None:
    with pytest.raises(errors.MemberNotFound):
        invoices.record_invoices(
            region, "alpha", [InvoiceDraft("A", "beta", 1, DUE), InvoiceDraft("B", "nobody", 1, DUE)], created_by="t"
        )
    assert invoices.list_invoices(region) == []


def test_only_the_debtor_confirms_or_disputes_and_a_dispute_needs_a_reason(region: Session) -> None:
    invoice = record(region, "alpha", "F-1", "beta", 100)
    with pytest.raises(errors.NotAllowed):
        invoices.confirm_invoice(region, invoice.id, debtor="alpha", actor="t")
    with pytest.raises(errors.InvalidInput):
        invoices.dispute_invoice(region, invoice.id, debtor="beta", actor="t", reason=" ")
    disputed = invoices.dispute_invoice(region, invoice.id, debtor="beta", actor="t", reason="Never delivered")
    assert (disputed.state, disputed.dispute_reason) == ("disputed", "Never delivered")
    assert invoices.confirm_invoice(region, invoice.id, debtor="beta", actor="t").state == "confirmed"
    with pytest.raises(invoices.InvoiceNotOpen):
        invoices.dispute_invoice(region, invoice.id, debtor="beta", actor="t", reason="changed my mind")


CSV_OK = """number,debtor,amount,due,description
F-10,beta,"1234.50",2026-12-01,Flour
F-11,gamma,10,2026-12-15,
"""


def test_a_csv_is_previewed_with_every_row_error_and_its_line(region: Session) -> None:
    preview = invoices.preview_csv(region, "alpha", CSV_OK)
    assert preview.is_valid
    assert [(d.number, d.debtor, d.amount_minor, d.due_date, d.description) for d in preview.drafts] == [
        ("F-10", "beta", 123_450, dt.date(2026, 12, 1), "Flour"),
        ("F-11", "gamma", 1_000, dt.date(2026, 12, 15), ""),
    ]
    bad = (
        "number,debtor,amount,due\n"
        "A,beta,12.5,2026-12-01\n"
        "B,nobody,1,2026-12-01\n"
        "C,beta,-3,2026-12-01\n"
        "D,beta,1,31/12/2026\n"
        "A,gamma,1,2026-12-01\n"
        "E,alpha,1,2026-12-01\n"
        "F,beta,1\n"
        "G,beta,1.001,2026-12-01\n"
    )
    preview = invoices.preview_csv(region, "alpha", bad)
    assert not preview.is_valid
    assert [e.line for e in preview.errors] == [3, 4, 5, 6, 7, 8, 9]
    messages = {e.line: e.message for e in preview.errors}
    assert "nobody" in messages[3] and "31/12/2026" in messages[5] and "line 2" in messages[6] and "2 decimal" in messages[9]
    assert invoices.preview_csv(region, "alpha", "id,who,amount\nx,beta,1\n").errors[0].line == 1
    assert invoices.preview_csv(region, "alpha", "").errors[0].message == "the file is empty"


def test_a_csv_in_spanish_takes_spanish_amounts(region: Session) -> None:
    preview = invoices.preview_csv(region, "alpha", 'number,debtor,amount,due\nF-1,beta,"1.234,50",2026-12-01\n', locale="es")
    assert preview.is_valid and preview.drafts[0].amount_minor == 123_450


def triangle(session: Session) -> dict[str, invoices.InvoiceView]:
    """alpha is owed 100 by beta, beta 80 by gamma, gamma 60 by alpha: 60 goes round."""
    return {
        "ab": confirmed(session, "alpha", "A-1", "beta", 10_000, dt.date(2026, 11, 1)),
        "bg": confirmed(session, "beta", "B-1", "gamma", 8_000),
        "ga": confirmed(session, "gamma", "G-1", "alpha", 6_000),
    }


def net_positions(session: Session) -> dict[str, int]:
    net: dict[str, int] = {}
    for view in invoices.list_invoices(session):
        if view.state in ("confirmed", "settled"):
            net[view.creditor] = net.get(view.creditor, 0) + view.outstanding_minor
            net[view.debtor] = net.get(view.debtor, 0) - view.outstanding_minor
    return net


def test_a_run_clears_the_cycle_keeps_net_positions_and_records_it_once(region: Session) -> None:
    made = triangle(region)
    record(region, "beta", "B-2", "alpha", 5_000)  # not confirmed: never cleared
    disputed = record(region, "alpha", "A-2", "gamma", 7_000)
    invoices.dispute_invoice(region, disputed.id, debtor="gamma", actor="t", reason="no")
    before = net_positions(region)
    run = invoices.run_clearing(region, reference="2026-11", actor="coordinator")
    assert (run.td_minor, run.nid_minor, run.cleared_minor, run.remainder_minor, run.invoice_count) == (24_000, 4_000, 18_000, 6_000, 3)
    assert run.bound_minor == 20_000 and not run.is_replay
    assert [(c.participants, c.amount_minor) for c in run.cycles] == [(("alpha", "gamma", "beta"), 6_000)]
    assert net_positions(region) == before
    after = {key: invoices.get_invoice(region, view.id) for key, view in made.items()}
    assert (after["ab"].outstanding_minor, after["bg"].outstanding_minor, after["ga"].outstanding_minor) == (4_000, 2_000, 0)
    assert after["ga"].state == "settled" and after["ab"].state == "confirmed"
    assert invoices.get_invoice(region, disputed.id).outstanding_minor == 7_000
    alpha = {f.member: f for f in run.members}["alpha"]
    assert (alpha.owed_before_minor, alpha.owing_before_minor, alpha.owed_after_minor, alpha.owing_after_minor) == (10_000, 6_000, 4_000, 0)

    again = invoices.run_clearing(region, reference="2026-11", actor="coordinator")
    assert again.is_replay and again.id == run.id and again.cleared_minor == 18_000
    assert invoices.get_invoice(region, made["ab"].id).outstanding_minor == 4_000
    later = invoices.run_clearing(region, reference="2026-12", actor="coordinator")
    assert later.cleared_minor == 0 and later.cycles == ()
    assert invoices.check_invoices(region) == []


def test_each_member_gets_a_notice_of_its_invoices_and_their_cycles(region: Session) -> None:
    triangle(region)
    invoices.run_clearing(region, reference="r1", actor="c")
    notice = invoices.notice(region, "r1", "alpha")
    assert [(l.number, l.side, l.counterparty, l.outstanding_before_minor, l.setoff_minor, l.outstanding_after_minor, l.cycles, l.is_whole) for l in notice.lines] == [
        ("A-1", "owed", "beta", 10_000, 6_000, 4_000, (1,), False),
        ("G-1", "owing", "gamma", 6_000, 6_000, 0, (1,), True),
    ]
    assert (notice.setoff_owed_minor, notice.setoff_owing_minor) == (6_000, 6_000)
    rows = list(csv.DictReader(io.StringIO(invoices.notice_csv(notice, 2, "TST"))))
    assert [(r["invoice"], r["set_off"], r["outstanding_after"], r["settled"], r["cycles"]) for r in rows] == [
        ("A-1", "60.00", "40.00", "partly", "1"),
        ("G-1", "60.00", "0.00", "wholly", "1"),
    ]
    with pytest.raises(invoices.ClearingRunNotFound):
        invoices.notice(region, "nope", "alpha")


def test_the_debtor_settles_the_rest_in_credit_once_within_its_limits(region: Session) -> None:
    made = triangle(region)
    invoices.run_clearing(region, reference="r1", actor="c")
    with pytest.raises(errors.NotAllowed):
        invoices.settle_invoice(region, made["ab"].id, debtor="alpha", actor="t")
    settled, transfer = invoices.settle_invoice(region, made["ab"].id, debtor="beta", actor="t")
    assert (settled.state, settled.outstanding_minor, settled.settlement_transfer_id) == ("settled", 0, transfer.id)
    assert (transfer.payer, transfer.payee, transfer.amount_minor) == ("beta", "alpha", 4_000)
    assert transfer.metadata["invoice"] == str(made["ab"].id)
    again_view, again = invoices.settle_invoice(region, made["ab"].id, debtor="beta", actor="t")
    assert again.is_replay and again.id == transfer.id and ledger.get_account(region, "beta").balance == -4_000
    # gamma has floor 0: it cannot pay its 20.00 in credit, and nothing changes.
    with pytest.raises(errors.ExceedsFloor):
        invoices.settle_invoice(region, made["bg"].id, debtor="gamma", actor="t")
    assert invoices.get_invoice(region, made["bg"].id).outstanding_minor == 2_000
    unconfirmed = record(region, "alpha", "A-9", "beta", 100)
    with pytest.raises(invoices.InvoiceNotOpen):
        invoices.settle_invoice(region, unconfirmed.id, debtor="beta", actor="t")
    assert invoices.check_invoices(region) == []
    assert run_audit(region).is_clean


def test_a_run_over_many_members_clears_the_optimum_the_checker_accepts(region: Session) -> None:
    import random

    rng = random.Random(7)
    slugs = [f"m{i:02d}" for i in range(12)]
    for slug in slugs:
        add_member(region, slug=slug, name=slug, floor=-1_000_000, actor="t")
    drafts: dict[str, list[InvoiceDraft]] = {}
    for n in range(120):
        creditor, debtor = rng.sample(slugs, 2)
        drafts.setdefault(creditor, []).append(InvoiceDraft(f"N-{n}", debtor, rng.randint(1, 50_000), DUE))
    for creditor, items in drafts.items():
        for view in invoices.record_invoices(region, creditor, items, created_by="t"):
            invoices.confirm_invoice(region, view.id, debtor=view.debtor, actor="t")
    before = net_positions(region)
    messages: list[str] = []
    run = invoices.run_clearing(region, reference="big", actor="c", progress=messages.append)
    assert run.cleared_minor > 0 and run.cleared_minor <= run.bound_minor
    assert net_positions(region) == before
    assert sum(c.amount_minor * len(c.participants) for c in run.cycles) == run.cleared_minor
    assert any("verifying" in m for m in messages)
    assert invoices.check_invoices(region) == []
