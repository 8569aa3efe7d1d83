"""Transfers, two-phase transfers and reversals, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.ledger.service import TransferSpec

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def pay(session: Session, payer: str, payee: str, amount: int, **kwargs) -> ledger.TransferResult:
    now = kwargs.pop("now", NOW)
    spec = TransferSpec(id=kwargs.pop("id", uuid.uuid4()), payer=payer, payee=payee, amount_minor=amount, **kwargs)
    return ledger.create_transfer(session, spec, created_by="test", now=now)


def figures(session: Session, code: str) -> tuple[int, int, int]:
    account = ledger.get_account(session, code)
    return account.balance, account.debits_pending, account.credits_pending


def test_a_transfer_moves_the_amount_from_payer_to_payee(region: Session) -> None:
    result = pay(region, "alpha", "beta", 12_50, description="bread")
    assert (result.payer, result.payee, result.amount_minor, result.state) == ("alpha", "beta", 1250, "posted")
    assert figures(region, "alpha") == (-1250, 0, 0)
    assert figures(region, "beta") == (1250, 0, 0)
    assert run_audit(region).is_clean


def test_the_same_id_and_content_returns_the_first_transfer_without_paying_twice(region: Session) -> None:
    transfer_id = uuid.uuid4()
    first = pay(region, "alpha", "beta", 500, id=transfer_id, description="x")
    again = pay(region, "alpha", "beta", 500, id=transfer_id, description="x")
    assert again.is_replay and not first.is_replay
    assert (again.id, again.seq, again.hash) == (first.id, first.seq, first.hash)
    assert figures(region, "beta")[0] == 500


def test_the_same_id_with_other_content_is_an_idempotency_conflict(region: Session) -> None:
    transfer_id = uuid.uuid4()
    pay(region, "alpha", "beta", 500, id=transfer_id)
    with pytest.raises(errors.IdempotencyConflict):
        pay(region, "alpha", "beta", 501, id=transfer_id)
    with pytest.raises(errors.IdempotencyConflict):
        pay(region, "beta", "alpha", 500, id=transfer_id)
    assert figures(region, "beta")[0] == 500


def test_a_retry_is_answered_even_when_it_would_no_longer_fit_the_floor(region: Session) -> None:
    transfer_id = uuid.uuid4()
    pay(region, "alpha", "beta", 100_000, id=transfer_id)  # alpha now at its floor
    again = pay(region, "alpha", "beta", 100_000, id=transfer_id)
    assert again.is_replay


def test_a_transfer_below_the_floor_is_refused_and_nothing_moves(region: Session) -> None:
    with pytest.raises(errors.ExceedsFloor) as refused:
        pay(region, "alpha", "beta", 100_001)
    assert refused.value.details["available_minor"] == 100_000
    assert figures(region, "alpha") == (0, 0, 0)
    pay(region, "alpha", "beta", 100_000)
    assert figures(region, "alpha") == (-100_000, 0, 0)


def test_a_transfer_above_the_payee_ceiling_is_refused(region: Session) -> None:
    pay(region, "alpha", "gamma", 50_000)
    with pytest.raises(errors.ExceedsCeiling):
        pay(region, "beta", "gamma", 1)
    assert figures(region, "gamma") == (50_000, 0, 0)


def test_an_account_with_a_zero_floor_cannot_go_negative(region: Session) -> None:
    with pytest.raises(errors.ExceedsFloor):
        pay(region, "gamma", "alpha", 1)


@pytest.mark.parametrize(
    ("payer", "payee", "amount", "error"),
    [
        ("alpha", "alpha", 1, errors.SameAccount),
        ("alpha", "beta", 0, errors.InvalidAmount),
        ("alpha", "beta", -5, errors.InvalidAmount),
        ("alpha", "beta", 10**16, errors.InvalidAmount),
        ("nobody", "beta", 1, errors.AccountNotFound),
        ("alpha", "nobody", 1, errors.AccountNotFound),
    ],
)
def test_bad_transfers_get_a_typed_error(region: Session, payer: str, payee: str, amount: int, error: type) -> None:
    with pytest.raises(error):
        pay(region, payer, payee, amount)
    assert figures(region, "alpha") == (0, 0, 0)


def test_checks_run_in_the_documented_order(region: Session) -> None:
    # Unknown payer comes before the floor; the floor before the ceiling.
    with pytest.raises(errors.AccountNotFound):
        pay(region, "nobody", "gamma", 10**9)
    pay(region, "alpha", "gamma", 50_000)
    # beta cannot pay 200_000 (floor) and gamma cannot receive it (ceiling): the floor is named.
    with pytest.raises(errors.ExceedsFloor):
        pay(region, "beta", "gamma", 200_000)


def test_overlong_descriptions_and_oversized_metadata_are_refused(region: Session) -> None:
    with pytest.raises(errors.InvalidInput):
        pay(region, "alpha", "beta", 1, description="x" * 501)
    with pytest.raises(errors.InvalidInput):
        pay(region, "alpha", "beta", 1, metadata={"blob": "x" * 5000})


def test_a_suspended_member_can_neither_pay_nor_be_paid(region: Session) -> None:
    from mutualcredit.members.service import set_member_status

    set_member_status(region, "beta", status="suspended", actor="coordinator")
    with pytest.raises(errors.MemberNotActive):
        pay(region, "beta", "alpha", 1)
    with pytest.raises(errors.MemberNotActive):
        pay(region, "alpha", "beta", 1)
    set_member_status(region, "beta", status="active", actor="coordinator")
    pay(region, "alpha", "beta", 1)


def test_a_frozen_account_is_refused(region: Session) -> None:
    ledger.set_account_status(region, "beta", status="frozen", actor="coordinator")
    with pytest.raises(errors.AccountNotOpen):
        pay(region, "alpha", "beta", 1)


def test_a_pending_transfer_holds_credit_until_it_is_posted(region: Session) -> None:
    pending = pay(region, "alpha", "beta", 60_000, pending=True)
    assert pending.state == "pending"
    assert figures(region, "alpha") == (0, 60_000, 0)
    assert figures(region, "beta") == (0, 0, 60_000)
    with pytest.raises(errors.ExceedsFloor):
        pay(region, "alpha", "beta", 40_001)  # the hold counts against the floor
    posted = ledger.post_pending_transfer(region, pending.id, created_by="test", now=NOW)
    assert (posted.kind, posted.pending_id, posted.amount_minor) == ("post", pending.id, 60_000)
    assert figures(region, "alpha") == (-60_000, 0, 0)
    assert ledger.get_transfer(region, pending.id).state == "posted"
    assert run_audit(region).is_clean


def test_a_pending_transfer_can_be_posted_for_less_and_the_rest_is_released(region: Session) -> None:
    pending = pay(region, "alpha", "beta", 60_000, pending=True)
    posted = ledger.post_pending_transfer(region, pending.id, amount_minor=25_000, created_by="test", now=NOW)
    assert posted.amount_minor == 25_000
    assert figures(region, "alpha") == (-25_000, 0, 0)
    assert figures(region, "beta") == (25_000, 0, 0)
    again = ledger.post_pending_transfer(region, pending.id, amount_minor=25_000, created_by="test", now=NOW)
    assert again.is_replay and again.id == posted.id
    with pytest.raises(errors.PendingTransferAlreadyPosted):  # "post it in full" is not what happened
        ledger.post_pending_transfer(region, pending.id, created_by="test", now=NOW)
    with pytest.raises(errors.ExceedsPendingAmount):
        other = pay(region, "alpha", "beta", 100, pending=True)
        ledger.post_pending_transfer(region, other.id, amount_minor=101, created_by="test", now=NOW)


def test_a_voided_pending_transfer_releases_its_hold_and_moves_nothing(region: Session) -> None:
    pending = pay(region, "alpha", "beta", 60_000, pending=True)
    voided = ledger.void_pending_transfer(region, pending.id, created_by="test", now=NOW)
    assert voided.state == "voided"
    assert figures(region, "alpha") == (0, 0, 0)
    with pytest.raises(errors.PendingTransferAlreadyVoided):
        ledger.post_pending_transfer(region, pending.id, created_by="test", now=NOW)


def test_resolving_twice_the_same_way_is_idempotent_and_the_other_way_is_refused(region: Session) -> None:
    pending = pay(region, "alpha", "beta", 1_000, pending=True)
    first = ledger.post_pending_transfer(region, pending.id, created_by="test", now=NOW)
    again = ledger.post_pending_transfer(region, pending.id, created_by="test", now=NOW)
    assert again.is_replay and again.id == first.id
    with pytest.raises(errors.PendingTransferAlreadyPosted):
        ledger.void_pending_transfer(region, pending.id, created_by="test", now=NOW)
    assert figures(region, "beta") == (1_000, 0, 0)


def test_only_pending_transfers_can_be_posted(region: Session) -> None:
    plain = pay(region, "alpha", "beta", 1_000)
    with pytest.raises(errors.NotPending):
        ledger.post_pending_transfer(region, plain.id, created_by="test")
    with pytest.raises(errors.PendingTransferNotFound):
        ledger.void_pending_transfer(region, uuid.uuid4(), created_by="test")


def test_overdue_pending_transfers_expire_and_release_their_holds(region: Session) -> None:
    pending = pay(region, "alpha", "beta", 1_000, pending=True, expires_at=NOW + dt.timedelta(hours=1))
    lasting = pay(region, "alpha", "beta", 2_000, pending=True, expires_at=NOW + dt.timedelta(days=9))
    assert ledger.expire_overdue_transfers(region, now=NOW) == []
    later = NOW + dt.timedelta(hours=2)
    with pytest.raises(errors.PendingTransferExpired):
        ledger.post_pending_transfer(region, pending.id, created_by="test", now=later)
    expired = ledger.expire_overdue_transfers(region, now=later)
    assert [e.pending_id for e in expired] == [pending.id]
    assert ledger.get_transfer(region, pending.id).state == "expired"
    assert ledger.get_transfer(region, lasting.id).state == "pending"
    assert figures(region, "alpha") == (0, 2_000, 0)
    with pytest.raises(errors.PendingTransferExpired):
        ledger.void_pending_transfer(region, pending.id, created_by="test", now=later)
    assert run_audit(region).is_clean


def test_an_expiry_needs_a_pending_transfer_a_time_zone_and_a_future(region: Session) -> None:
    with pytest.raises(errors.InvalidInput):
        pay(region, "alpha", "beta", 1, expires_at=NOW)
    with pytest.raises(errors.InvalidInput):
        pay(region, "alpha", "beta", 1, pending=True, expires_at=dt.datetime(2026, 1, 1))
    with pytest.raises(errors.InvalidInput):
        pay(region, "alpha", "beta", 1, pending=True, expires_at=NOW)
    assert figures(region, "alpha") == (0, 0, 0)


def test_a_pending_transfer_retried_after_its_expiry_is_answered_not_refused(region: Session) -> None:
    transfer_id = uuid.uuid4()
    expiry = NOW + dt.timedelta(minutes=5)
    first = pay(region, "alpha", "beta", 1, id=transfer_id, pending=True, expires_at=expiry)
    again = pay(region, "alpha", "beta", 1, id=transfer_id, pending=True, expires_at=expiry, now=NOW + dt.timedelta(hours=1))
    assert again.is_replay and again.seq == first.seq


def test_a_reversal_is_a_new_transfer_the_other_way_that_points_at_the_original(region: Session) -> None:
    original = pay(region, "alpha", "beta", 3_000)
    reversal = ledger.reverse_transfer(region, original.id, id=uuid.uuid4(), created_by="test", now=NOW)
    assert (reversal.payer, reversal.payee, reversal.amount_minor, reversal.reverses_id) == (
        "beta",
        "alpha",
        3_000,
        original.id,
    )
    assert figures(region, "alpha") == (0, 0, 0)
    assert ledger.get_transfer(region, original.id).amount_minor == 3_000  # the original is untouched
    with pytest.raises(errors.CannotReverse):
        ledger.reverse_transfer(region, original.id, id=uuid.uuid4(), created_by="test", now=NOW)
    assert run_audit(region).is_clean


def test_a_reversal_that_would_cross_a_limit_is_refused(region: Session) -> None:
    original = pay(region, "alpha", "beta", 3_000)
    pay(region, "beta", "gamma", 50_000)
    pay(region, "beta", "alpha", 53_000)  # beta now at -100_000 + ... its floor
    with pytest.raises(errors.ExceedsFloor):
        ledger.reverse_transfer(region, original.id, id=uuid.uuid4(), created_by="test", now=NOW)


def test_pending_transfers_cannot_be_reversed(region: Session) -> None:
    pending = pay(region, "alpha", "beta", 100, pending=True)
    with pytest.raises(errors.CannotReverse):
        ledger.reverse_transfer(region, pending.id, id=uuid.uuid4(), created_by="test")


def test_a_batch_gives_a_result_per_item_and_applies_the_good_ones(region: Session) -> None:
    specs = [
        TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=1_000),
        TransferSpec(id=uuid.uuid4(), payer="alpha", payee="alpha", amount_minor=1_000),
        TransferSpec(id=uuid.uuid4(), payer="gamma", payee="beta", amount_minor=1),
        TransferSpec(id=uuid.uuid4(), payer="beta", payee="gamma", amount_minor=500),
    ]
    results = ledger.create_transfers(region, specs, created_by="test", now=NOW)
    assert [type(r.error).__name__ if r.error else "ok" for r in results] == ["ok", "SameAccount", "ExceedsFloor", "ok"]
    assert figures(region, "beta") == (500, 0, 0)
    assert run_audit(region).is_clean


def test_later_items_of_a_batch_see_the_effect_of_earlier_ones(region: Session) -> None:
    specs = [
        TransferSpec(id=uuid.uuid4(), payer="alpha", payee="gamma", amount_minor=500),
        TransferSpec(id=uuid.uuid4(), payer="gamma", payee="beta", amount_minor=500),
        TransferSpec(id=uuid.uuid4(), payer="gamma", payee="beta", amount_minor=1),
    ]
    results = ledger.create_transfers(region, specs, created_by="test", now=NOW)
    assert [r.is_ok for r in results] == [True, True, False]
    assert isinstance(results[2].error, errors.ExceedsFloor)


def test_an_atomic_batch_applies_nothing_when_one_item_fails(region: Session) -> None:
    specs = [
        TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=1_000),
        TransferSpec(id=uuid.uuid4(), payer="gamma", payee="beta", amount_minor=1),
    ]
    results = ledger.create_transfers(region, specs, created_by="test", is_atomic=True, now=NOW)
    assert isinstance(results[0].error, ledger.BatchNotApplied)
    assert isinstance(results[1].error, errors.ExceedsFloor)
    assert figures(region, "alpha") == (0, 0, 0)


def test_a_batch_replays_known_ids_and_refuses_reused_ones(region: Session) -> None:
    known = pay(region, "alpha", "beta", 100)
    same_id = uuid.uuid4()
    specs = [
        TransferSpec(id=known.id, payer="alpha", payee="beta", amount_minor=100),
        TransferSpec(id=same_id, payer="alpha", payee="beta", amount_minor=7),
        TransferSpec(id=same_id, payer="alpha", payee="beta", amount_minor=7),
        TransferSpec(id=same_id, payer="alpha", payee="beta", amount_minor=8),
        TransferSpec(id=known.id, payer="alpha", payee="beta", amount_minor=101),
    ]
    results = ledger.create_transfers(region, specs, created_by="test", now=NOW)
    assert results[0].transfer.is_replay and results[0].transfer.seq == known.seq
    assert not results[1].transfer.is_replay and results[2].transfer.is_replay
    assert results[1].transfer.seq == results[2].transfer.seq
    assert isinstance(results[3].error, errors.IdempotencyConflict)
    assert isinstance(results[4].error, errors.IdempotencyConflict)
    assert figures(region, "beta") == (107, 0, 0)


def test_a_batch_larger_than_the_maximum_is_refused(region: Session) -> None:
    specs = [TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=1)] * (ledger.BATCH_SIZE_MAX + 1)
    with pytest.raises(errors.BatchTooLarge):
        ledger.create_transfers(region, specs, created_by="test")


def test_a_statement_lists_movements_with_running_balances_and_filters(region: Session) -> None:
    pay(region, "alpha", "beta", 1_000, now=NOW)
    pay(region, "beta", "alpha", 300, now=NOW + dt.timedelta(days=1))
    pending = pay(region, "alpha", "gamma", 200, pending=True, now=NOW + dt.timedelta(days=2))
    ledger.post_pending_transfer(region, pending.id, created_by="test", now=NOW + dt.timedelta(days=3))
    lines = ledger.statement(region, "alpha")
    assert [(line.counterparty, line.amount_minor, line.balance_after_minor) for line in lines] == [
        ("beta", -1_000, -1_000),
        ("beta", 300, -700),
        ("gamma", -200, -900),
    ]
    assert len(ledger.statement(region, "alpha", counterparty="gamma")) == 1
    assert [line.amount_minor for line in ledger.statement(region, "alpha", since=NOW + dt.timedelta(hours=12))] == [300, -200]
    first_page = ledger.statement(region, "alpha", limit=2)
    assert [line.amount_minor for line in ledger.statement(region, "alpha", after_seq=first_page[-1].seq)] == [-200]
    with pytest.raises(errors.AccountNotFound):
        ledger.statement(region, "nobody")
    with pytest.raises(errors.InvalidInput):
        ledger.statement(region, "alpha", limit=0)
