"""Bulk payments from a CSV file: every line checked, then all posted in one transaction or none (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.ledger import bulk
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.ledger.models import Transfer
from mutualcredit.members.service import add_member, set_member_status


def transfer_count(session: Session) -> int:
    count = session.scalar(select(func.count()).select_from(Transfer)) or 0
    session.rollback()
    return count


def balance(session: Session, code: str) -> int:
    value = ledger.get_account(session, code).balance
    session.rollback()
    return value


def codes(findings: tuple[bulk.Finding, ...]) -> list[tuple[int, str | None, str]]:
    return [(finding.line, finding.field, finding.code) for finding in findings]


def test_a_file_with_wrong_lines_lists_every_error_by_line_and_field_and_posts_nothing(region: Session) -> None:
    add_member(region, slug="delta", name="Delta", floor=-1_000, actor="t")
    set_member_status(region, "delta", status="suspended", actor="t")
    text = (
        "payee,amount,description\n"
        "beta,12.50,Bread\n"  # 2: fine
        "nobody,1,\n"  # 3: unknown co-op
        "alpha,1,\n"  # 4: paying oneself
        "beta,abc,\n"  # 5: not an amount
        "beta,0,\n"  # 6: zero
        "beta,-5,\n"  # 7: negative
        "beta,1.234,\n"  # 8: too many decimals
        "beta,\"1,5\",\n"  # 9: a decimal comma is not a plain decimal
        "beta,3\n"  # 10: a field missing
        "delta,1,\n"  # 11: suspended
        ",1,\n"  # 12: no payee
        "beta,12.50,Bread\n"  # 13: the same as line 2 (a warning only)
        f"beta,1,{'x' * 501}\n"  # 14: description too long
    )
    preview = bulk.preview_bulk_payments(region, "alpha", text)
    assert codes(preview.errors) == [
        (3, "payee", "member_not_found"),
        (4, "payee", "same_account"),
        (5, "amount", "amount_not_plain"),
        (6, "amount", "amount_not_positive"),
        (7, "amount", "amount_not_positive"),
        (8, "amount", "amount_too_precise"),
        (9, "amount", "amount_not_plain"),
        (10, None, "field_count"),
        (11, "payee", "member_not_active"),
        (12, "payee", "payee_required"),
        (14, "description", "description_too_long"),
    ]
    assert codes(preview.warnings) == [(13, None, "duplicate_line")]
    assert preview.warnings[0].values == {"other_line": 2}
    assert [line.line for line in preview.lines] == list(range(2, 15))  # every line is shown
    assert not preview.is_valid
    before = transfer_count(region)
    outcome = bulk.post_bulk_payments(region, "alpha", text, batch_id=uuid.uuid4(), created_by="t")
    assert not outcome.is_posted and outcome.transfers == ()
    assert [finding.line for finding in outcome.refusals] == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]
    assert transfer_count(region) == before


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_file"),
        ("payer,amount\nbeta,1\n", "bad_header"),
        ("payee,amount,description\n\n", "no_payments"),
        ("payee,amount\n" + "beta,1\n" * (bulk.ROWS_MAX + 1), "too_many_rows"),
    ],
)
def test_a_file_that_is_not_a_payments_file_says_so_on_its_first_line(region: Session, text: str, code: str) -> None:
    preview = bulk.preview_bulk_payments(region, "alpha", text)
    assert [finding.code for finding in preview.errors] == [code]
    assert not preview.is_valid


def test_a_file_of_the_maximum_size_is_read_and_the_limit_is_the_ledger_batch_size(region: Session) -> None:
    assert bulk.ROWS_MAX == ledger.BATCH_SIZE_MAX
    preview = bulk.preview_bulk_payments(region, "alpha", "payee,amount\n" + "beta,0.01\n" * bulk.ROWS_MAX)
    assert preview.is_valid and preview.total_minor == bulk.ROWS_MAX
    assert len(preview.warnings) == bulk.ROWS_MAX - 1  # identical lines are flagged, not refused


def test_a_clean_file_is_posted_in_one_batch_and_the_balances_move_by_its_totals(region: Session) -> None:
    text = "payee,amount,description\nbeta,12.50,Bread\ngamma,100,Rent\nbeta,0.5,\n"
    preview = bulk.preview_bulk_payments(region, "alpha", text)
    assert preview.is_valid
    assert (preview.total_minor, preview.balance_after_minor, preview.available_after_minor) == (11_300, -11_300, 88_700)
    assert preview.fits_floor
    assert transfer_count(region) == 0  # a preview posts nothing
    batch_id = uuid.uuid4()
    outcome = bulk.post_bulk_payments(region, "alpha", text, batch_id=batch_id, created_by="user:t")
    assert outcome.is_posted and not outcome.is_replay
    assert [(t.payee, t.amount_minor, t.description) for t in outcome.transfers] == [
        ("beta", 1_250, "Bread"),
        ("gamma", 10_000, "Rent"),
        ("beta", 50, ""),
    ]
    assert [t.id for t in outcome.transfers] == [bulk.transfer_id_for(batch_id, line) for line in (2, 3, 4)]
    assert outcome.transfers[0].metadata == {"bulk_batch_id": str(batch_id), "line": 2}
    assert (balance(region, "alpha"), balance(region, "beta"), balance(region, "gamma")) == (-11_300, 1_300, 10_000)
    assert transfer_count(region) == 3
    assert run_audit(region).is_clean


def test_a_file_whose_third_line_would_cross_the_floor_posts_nothing_and_names_that_line(region: Session) -> None:
    # alpha may go down to -1000.00: 400 + 500 fit, the third line's 200 does not.
    text = "payee,amount\nbeta,400\nbeta,500\nbeta,200\nbeta,1\n"
    preview = bulk.preview_bulk_payments(region, "alpha", text)
    assert codes(preview.errors) == [(4, "amount", "exceeds_floor")]
    assert preview.errors[0].values == {"total_minor": 110_000, "available_minor": 100_000}
    assert not preview.fits_floor and preview.balance_after_minor == -110_100
    outcome = bulk.post_bulk_payments(region, "alpha", text, batch_id=uuid.uuid4(), created_by="t")
    assert not outcome.is_posted
    assert [(finding.line, finding.code) for finding in outcome.refusals] == [(4, "exceeds_floor")]
    assert transfer_count(region) == 0
    assert balance(region, "alpha") == 0


def test_the_ledger_refuses_the_whole_batch_when_the_figures_moved_after_the_preview(region: Session) -> None:
    text = "payee,amount\nbeta,400\nbeta,500\n"
    assert bulk.preview_bulk_payments(region, "alpha", text).is_valid
    ledger.create_transfer(region, ledger.TransferSpec(uuid.uuid4(), "alpha", "gamma", 20_000), created_by="t")
    outcome = bulk.post_bulk_payments(region, "alpha", text, batch_id=uuid.uuid4(), created_by="t")
    assert [(finding.line, finding.code) for finding in outcome.refusals] == [(3, "exceeds_floor")]
    assert transfer_count(region) == 1 and balance(region, "alpha") == -20_000


def test_a_payee_ceiling_is_counted_over_the_lines_of_the_file(region: Session) -> None:
    # gamma may hold at most 500.00.
    preview = bulk.preview_bulk_payments(region, "alpha", "payee,amount\ngamma,300\ngamma,300\n")
    assert codes(preview.errors) == [(3, "amount", "exceeds_ceiling")]


def test_posting_the_same_batch_twice_pays_once_even_when_it_would_no_longer_fit(region: Session) -> None:
    text = "payee,amount\nbeta,600\nbeta,300\n"
    batch_id = uuid.uuid4()
    first = bulk.post_bulk_payments(region, "alpha", text, batch_id=batch_id, created_by="t")
    again = bulk.post_bulk_payments(region, "alpha", text, batch_id=batch_id, created_by="t")
    assert first.is_posted and not first.is_replay
    assert again.is_posted and again.is_replay
    assert [t.id for t in again.transfers] == [t.id for t in first.transfers]
    assert transfer_count(region) == 2 and balance(region, "alpha") == -90_000
    # Another batch id is another batch: it no longer fits.
    assert not bulk.post_bulk_payments(region, "alpha", text, batch_id=uuid.uuid4(), created_by="t").is_posted


def test_a_batch_id_reused_for_another_file_is_refused_and_posts_nothing_more(region: Session) -> None:
    batch_id = uuid.uuid4()
    assert bulk.post_bulk_payments(region, "alpha", "payee,amount\nbeta,1\n", batch_id=batch_id, created_by="t").is_posted
    outcome = bulk.post_bulk_payments(region, "alpha", "payee,amount\nbeta,2\ngamma,1\n", batch_id=batch_id, created_by="t")
    assert [(finding.line, finding.code) for finding in outcome.refusals] == [(2, "idempotency_conflict")]
    assert transfer_count(region) == 1


def test_only_a_members_account_pays_in_bulk(region: Session) -> None:
    with pytest.raises(errors.NotAllowed):
        bulk.preview_bulk_payments(region, "commons", "payee,amount\nbeta,1\n")
    with pytest.raises(errors.AccountNotFound):
        bulk.preview_bulk_payments(region, "nobody", "payee,amount\nbeta,1\n")


def test_amounts_are_plain_decimals_whatever_the_language() -> None:
    lines, findings = bulk.read_payments_csv("\ufeffPayee,Amount\nbeta, 1234.50 \nBETA,.5\nbeta,1.234,50\nbeta,1e3\n", 2)
    assert [(line.payee, line.amount_minor) for line in lines] == [("beta", 123_450), ("beta", 50), ("beta", None), ("beta", None)]
    assert [(finding.line, finding.code) for finding in findings] == [(4, "field_count"), (5, "amount_not_plain")]


def test_a_frozen_payer_account_is_named_before_any_line_and_nothing_is_posted(region: Session) -> None:
    ledger.set_account_status(region, "alpha", status="frozen", actor="t")
    preview = bulk.preview_bulk_payments(region, "alpha", "payee,amount\nbeta,1\n")
    assert codes(preview.errors) == [(1, None, "payer_not_usable")]
    outcome = bulk.post_bulk_payments(region, "alpha", "payee,amount\nbeta,1\n", batch_id=uuid.uuid4(), created_by="t")
    assert [(finding.line, finding.code) for finding in outcome.refusals] == [(1, "payer_not_usable")]
    assert transfer_count(region) == 0
