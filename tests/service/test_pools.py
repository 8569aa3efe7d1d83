"""The pools domain through its services, on SQLite and PostgreSQL: a round's whole life, its money and its guards."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.ledger import service as ledger
from mutualcredit.audit_checks import DOMAIN_CHECKS
from mutualcredit.ledger.audit import run_audit
from mutualcredit.pools import service as pools
from mutualcredit.pools.errors import (
    InvalidPoolInput,
    NeedNotFound,
    NoValidResult,
    ReviewNotOver,
    ReviewOver,
    RoundNotInState,
    RunInProgress,
)
from mutualcredit.pools.problem import SlotSpec
from solver.allocation.jsonfile import parse_problem
from tests.conftest import read_ledger_with_plain_sql

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone.utc)


def _seed_pool(session: Session, *, price_minor: int = 0, rule: str = "leximin", review_hours: int = 24) -> pools.RoundView:
    pools.create_pool(
        session, slug="seed", name="Seed bank", kind="divisible", unit="kg", decimals=2, price_minor=price_minor,
        policy=pools.PolicyInput(rule=rule, review_window_hours=review_hours), actor="coordinator",
    )
    return pools.open_round(session, "seed", actor="coordinator", now=T0)


def _solved(session: Session, reference: str) -> pools.RunView:
    pools.close_round(session, reference, actor="coordinator", now=T0 + dt.timedelta(hours=1))
    run = pools.run_round(session, reference, actor="coordinator")
    assert run.state == "done", run.error
    return run


def _reviewed(session: Session, reference: str) -> None:
    pools.start_review(session, reference, actor="coordinator", now=T0 + dt.timedelta(hours=2))


AFTER_REVIEW = T0 + dt.timedelta(days=3)


def test_a_gift_round_goes_from_open_to_archived_and_moves_no_credit(region: Session) -> None:
    round_ = _seed_pool(region)
    assert round_.reference == "seed-1" and round_.state == "open"
    pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=15_000, actor="coordinator")
    alpha = pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(8_000, minimum_minor=2_000), actor="a")
    beta = pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(12_000), actor="b")
    run = _solved(region, "seed-1")
    # Leximin on the share met: both get 75% of 150.00 kg over 200.00 kg asked.
    assert run.allocations() == {str(alpha.id): 6_000, str(beta.id): 9_000}
    assert run.status == "optimal"
    _reviewed(region, "seed-1")
    committed = pools.commit_round(region, "seed-1", actor="coordinator", now=AFTER_REVIEW)
    assert committed.state == "committed" and committed.committed_run_id == run.id
    assert {(a.member, a.allocated_minor, a.price_paid_minor, a.transfer_id) for a in pools.list_allocations(region, "seed-1")} == {
        ("alpha", 6_000, 0, None), ("beta", 9_000, 0, None),
    }
    assert ledger.list_transfers(region, limit=10) == []
    assert pools.archive_round(region, "seed-1", actor="coordinator").state == "archived"
    assert pools.verify_round(region, "seed-1").matches


def test_a_priced_round_charges_recipients_and_pays_paid_contributors_in_one_transaction(region: Session) -> None:
    # 1.50 credit per kg; gamma's 100.00 kg are paid for, beta's 50.00 kg are given.
    _seed_pool(region, price_minor=150, rule="proportional")
    gamma = pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=10_000, is_paid=True, actor="c")
    pools.add_contribution(region, "seed-1", member="beta", quantity_minor=5_000, actor="c")
    alpha = pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(10_000), actor="a")
    beta = pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(10_000), actor="b")
    _solved(region, "seed-1")
    _reviewed(region, "seed-1")
    plan = pools.commit_plan(region, "seed-1")
    # 75.00 kg each at 1.50 = 112.50 each; gamma contributed 2/3 of the pool: 2/3 of 225.00 = 150.00.
    assert plan.charged_minor == 22_500
    assert [(p.contribution_id, p.member, p.amount_minor) for p in plan.payouts] == [(gamma.id, "gamma", 15_000)]
    pools.commit_round(region, "seed-1", actor="coordinator", now=AFTER_REVIEW)
    balances = {code: ledger.get_account(region, code).balance for code in ("alpha", "beta", "gamma", "pool:seed")}
    assert balances == {"alpha": -11_250, "beta": -11_250, "gamma": 15_000, "pool:seed": 7_500}
    allocations = {a.need_id: a for a in pools.list_allocations(region, "seed-1")}
    assert allocations[alpha.id].price_paid_minor == 11_250
    transfer = ledger.get_transfer(region, allocations[beta.id].transfer_id)
    assert (transfer.payer, transfer.payee, transfer.amount_minor) == ("beta", "pool:seed", 11_250)
    assert transfer.metadata["pool_round"] == "seed-1"
    # The ledger's own invariants still hold: zero-sum, cached balances equal their transfers.
    accounts, rows, derived = read_ledger_with_plain_sql(region.connection())
    assert sum(account.balance for account in accounts) == 0
    assert all(derived[account.id] == account.balance for account in accounts)
    region.rollback()


def test_committing_twice_pays_once(region: Session) -> None:
    _seed_pool(region, price_minor=100)
    pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=1_000, is_paid=True, actor="c")
    pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(500), actor="a")
    _solved(region, "seed-1")
    _reviewed(region, "seed-1")
    pools.commit_round(region, "seed-1", actor="coordinator", now=AFTER_REVIEW)
    again = pools.commit_round(region, "seed-1", actor="coordinator", now=AFTER_REVIEW)
    assert again.state == "committed"
    assert len(ledger.list_transfers(region, limit=10)) == 2  # alpha → pool, pool → gamma
    assert ledger.get_account(region, "alpha").balance == -500


def test_a_recipient_without_enough_credit_stops_the_whole_commit(region: Session) -> None:
    # gamma's floor is 0: it cannot pay 10.00 for its seed.
    _seed_pool(region, price_minor=100)
    pools.add_contribution(region, "seed-1", member="beta", quantity_minor=2_000, is_paid=True, actor="c")
    pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(1_000), actor="a")
    pools.declare_need(region, "seed-1", member="gamma", need=pools.NeedInput(1_000), actor="g")
    _solved(region, "seed-1")
    _reviewed(region, "seed-1")
    with pytest.raises(errors.ExceedsFloor):
        pools.commit_round(region, "seed-1", actor="coordinator", now=AFTER_REVIEW)
    assert pools.get_round(region, "seed-1").state == "review"
    assert pools.list_allocations(region, "seed-1") == []
    assert ledger.list_transfers(region, limit=10) == []
    assert ledger.get_account(region, "alpha").balance == 0


def test_the_review_window_bounds_objections_and_commits(region: Session) -> None:
    _seed_pool(region, review_hours=48)
    pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=1_000, actor="c")
    pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(2_000), actor="a")
    _solved(region, "seed-1")
    with pytest.raises(RoundNotInState):
        pools.object_to_round(region, "seed-1", member="alpha", reason="not yet", actor="a", now=T0)
    _reviewed(region, "seed-1")
    review = pools.get_round(region, "seed-1")
    assert review.review_ends_at == T0 + dt.timedelta(hours=2 + 48)
    objection = pools.object_to_round(region, "seed-1", member="beta", reason="We asked late; reopen?", actor="b",
                                      now=T0 + dt.timedelta(hours=3))
    assert (objection.member, objection.run_number) == ("beta", 1)
    with pytest.raises(InvalidPoolInput):
        pools.object_to_round(region, "seed-1", member="beta", reason="  ", actor="b", now=T0 + dt.timedelta(hours=3))
    with pytest.raises(ReviewNotOver):
        pools.commit_round(region, "seed-1", actor="coordinator", now=T0 + dt.timedelta(hours=49))
    with pytest.raises(ReviewOver):
        pools.object_to_round(region, "seed-1", member="beta", reason="late", actor="b", now=T0 + dt.timedelta(hours=50))
    assert [o.reason for o in pools.list_objections(region, "seed-1")] == ["We asked late; reopen?"]


def test_a_re_run_after_objections_keeps_every_run_and_returns_to_draft(region: Session) -> None:
    _seed_pool(region)
    pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=1_000, actor="c")
    pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(2_000), actor="a")
    first = _solved(region, "seed-1")
    _reviewed(region, "seed-1")
    pools.object_to_round(region, "seed-1", member="alpha", reason="the contribution was larger", actor="a",
                          now=T0 + dt.timedelta(hours=3))
    # The contribution record was late; a coordinator adds nothing in review, but may re-run (same input here).
    second = pools.run_round(region, "seed-1", actor="coordinator", reason="objection by alpha")
    assert [run.number for run in pools.list_runs(region, "seed-1")] == [1, 2]
    assert second.input_sha256 == first.input_sha256 and second.allocations() == first.allocations()
    round_ = pools.get_round(region, "seed-1")
    assert (round_.state, round_.current_run_id, round_.review_ends_at) == ("solved", second.id, None)
    with pytest.raises(RoundNotInState):
        pools.commit_round(region, "seed-1", actor="coordinator", now=AFTER_REVIEW)


def test_needs_change_only_while_the_round_takes_them_and_only_by_their_member(region: Session) -> None:
    pools.create_pool(region, slug="seed", name="Seed", kind="divisible", unit="kg", decimals=2, actor="c")
    pools.open_round(region, "seed", needs_close_at=T0 + dt.timedelta(days=1), actor="c", now=T0)
    need = pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(1_000), actor="a", now=T0)
    changed = pools.update_need(region, need.id, member="alpha", need=pools.NeedInput(1_500, minimum_minor=500, tier=2,
                                justification="school kitchen"), actor="a", now=T0)
    assert (changed.desired_minor, changed.minimum_minor, changed.tier) == (1_500, 500, 2)
    with pytest.raises(NeedNotFound):  # another member's need reads as missing
        pools.update_need(region, need.id, member="beta", need=pools.NeedInput(1), actor="b", now=T0)
    with pytest.raises(RoundNotInState):  # past the round's closing time
        pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(1_000), actor="b",
                           now=T0 + dt.timedelta(days=2))
    with pytest.raises(InvalidPoolInput) as refused:
        pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(1_000, minimum_minor=2_000), actor="b",
                           now=T0)
    assert refused.value.field == "minimum"
    with pytest.raises(InvalidPoolInput) as refused:
        pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(10, zone="north"), actor="b", now=T0)
    assert refused.value.field == "zone"
    pools.withdraw_need(region, need.id, member="alpha", actor="a", now=T0)
    assert pools.list_needs(region, "seed-1") == []
    pools.close_round(region, "seed-1", actor="c")
    with pytest.raises(RoundNotInState):
        pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(1_000), actor="b", now=T0)


def test_the_same_need_id_declares_once(region: Session) -> None:
    _seed_pool(region)
    need_id = uuid.uuid4()
    first = pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(1_000), actor="a", need_id=need_id)
    again = pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(1_000), actor="a", need_id=need_id)
    assert first.id == again.id == need_id and len(pools.list_needs(region, "seed-1")) == 1
    with pytest.raises(errors.IdempotencyConflict):
        pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(2_000), actor="a", need_id=need_id)


def test_the_round_keeps_the_policy_it_opened_with(region: Session) -> None:
    _seed_pool(region, rule="equal-awards")
    pools.set_pool_policy(region, "seed", policy=pools.PolicyInput(rule="proportional", member_cap_share="0.5"),
                          actor="assembly")
    assert pools.get_round(region, "seed-1").rule == "equal-awards"
    later = pools.open_round(region, "seed", actor="c", now=T0)
    assert (later.reference, later.rule, later.member_cap_share) == ("seed-2", "proportional", "1/2")
    pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=1_000, actor="c")
    pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(900), actor="a")
    pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(300), actor="b")
    run = _solved(region, "seed-1")
    assert run.input["rule"] == "equal-awards"
    assert sorted(run.allocations().values()) == [300, 700]  # equal awards, beta's claim met in full


def test_a_slot_round_gives_whole_slots_in_the_zone_and_window_and_pays_the_slot_owner(region: Session) -> None:
    pools.create_pool(region, slug="vans", name="Vans", kind="slots", unit="van-day", price_minor=2_000,
                      policy=pools.PolicyInput(rule="leximin", review_window_hours=0), actor="c")
    pools.open_round(region, "vans", actor="c")
    owned = pools.add_contribution(region, "vans-1", member="beta", is_paid=True, actor="c",
                                   slots=[SlotSpec(f"north-{day}", 1, "north", day, day + 1) for day in range(1, 4)])
    pools.add_contribution(region, "vans-1", member="gamma", actor="c",
                           slots=[SlotSpec(f"south-{day}", 1, "south", day, day + 1) for day in range(1, 3)])
    with pytest.raises(InvalidPoolInput):  # slot ids are unique in a round
        pools.add_contribution(region, "vans-1", member="gamma", actor="c", slots=[SlotSpec("north-1")])
    north = pools.declare_need(region, "vans-1", member="alpha", need=pools.NeedInput(2, zone="north"), actor="a")
    early = pools.declare_need(region, "vans-1", member="beta", need=pools.NeedInput(2, window=(1, 2), all_or_nothing=True),
                               actor="b")
    run = _solved(region, "vans-1")
    rows = {row.need_id: row for row in run.rows()}
    assert all(slot.startswith("north-") for slot in rows[str(north.id)].slots) and rows[str(north.id)].allocated_minor == 2
    assert sorted(rows[str(early.id)].slots) == ["north-1", "south-1"]
    pools.start_review(region, "vans-1", actor="c")
    pools.commit_round(region, "vans-1", actor="c")
    # beta owns north-1..3, all three used: 3 x 20.00 to beta; gamma's south-1 was given.
    assert [(p.contribution_id, p.used_minor, p.amount_minor) for p in pools.list_payouts(region, "vans-1")] == [
        (owned.id, 3, 6_000)
    ]
    assert ledger.get_account(region, "pool:vans").balance == 2_000
    assert ledger.get_account(region, "alpha").balance == -4_000


def test_a_run_needs_needs_and_something_to_share_and_runs_one_at_a_time(region: Session) -> None:
    _seed_pool(region)
    with pytest.raises(RoundNotInState):  # still open
        pools.start_run(region, "seed-1", actor="c")
    pools.close_round(region, "seed-1", actor="c")
    with pytest.raises(NoValidResult):
        pools.start_run(region, "seed-1", actor="c")
    pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=1_000, actor="c")
    with pytest.raises(NoValidResult):
        pools.start_run(region, "seed-1", actor="c")


def test_a_queued_run_blocks_another_until_it_is_abandoned(region: Session) -> None:
    round_ = _seed_pool(region)
    pools.add_contribution(region, round_.reference, member="gamma", quantity_minor=1_000, actor="c")
    pools.declare_need(region, round_.reference, member="alpha", need=pools.NeedInput(500), actor="a")
    pools.close_round(region, round_.reference, actor="c")
    queued = pools.start_run(region, round_.reference, actor="c", now=T0)
    with pytest.raises(RunInProgress):
        pools.start_run(region, round_.reference, actor="c", now=T0 + dt.timedelta(seconds=30))
    later = T0 + dt.timedelta(seconds=60 + pools.RUN_STALE_MARGIN_S + 1)
    second = pools.start_run(region, round_.reference, actor="c", now=later)
    assert second.number == 2
    abandoned = pools.get_run(region, queued.id)
    assert abandoned.state == "failed" and "abandoned" in abandoned.error


def test_verify_finds_a_tampered_result_and_export_solves_to_the_same_allocation(region: Session) -> None:
    from solver.allocation import allocate

    _seed_pool(region)
    pools.add_contribution(region, "seed-1", member="gamma", quantity_minor=1_000, actor="c")
    alpha = pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(900), actor="a")
    pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(300), actor="b")
    run = _solved(region, "seed-1")
    exported = pools.export_round(region, "seed-1")
    assert exported == run.input
    loaded = parse_problem(exported)
    again = {allocation.need_id: allocation.allocated_minor for allocation in allocate(loaded.problem).allocations}
    assert again == run.allocations()
    assert pools.verify_round(region, "seed-1").matches
    tampered = dict(run.result or {})
    tampered["allocations"] = {**tampered["allocations"], str(alpha.id): "9.00"}
    region.execute(sa.update(sa.table("pool_runs", sa.column("id"), sa.column("result"))).where(sa.column("id") == run.id)
                   .values(result=sa.bindparam("result", type_=sa.JSON)), {"result": tampered})
    region.commit()
    report = pools.verify_round(region, "seed-1")
    assert not report.matches
    assert any(str(alpha.id) in difference for difference in report.differences)


def test_the_database_refuses_bad_pool_rows_even_without_the_services(region: Session) -> None:
    _seed_pool(region)
    round_id = region.scalar(sa.text("SELECT id FROM pool_rounds"))
    member_id = region.scalar(sa.text("SELECT id FROM members WHERE slug = 'alpha'"))
    bad_rows = [
        ("INSERT INTO pool_needs (id, round_id, member_id, desired_minor, minimum_minor, tier, all_or_nothing, "
         "justification, created_by, created_at, updated_at) VALUES (:id, :r, :m, 100, 200, 1, false, '', 't', :t, :t)"),
        ("INSERT INTO pool_needs (id, round_id, member_id, desired_minor, minimum_minor, tier, all_or_nothing, "
         "justification, created_by, created_at, updated_at) VALUES (:id, :r, :m, 0, 0, 1, false, '', 't', :t, :t)"),
        ("INSERT INTO pool_contributions (round_id, member_id, quantity_minor, slots, is_paid, note, created_by, "
         "created_at) VALUES (:r, :m, -5, '[]', false, '', 't', :t)"),
        "UPDATE pool_rounds SET state = 'committed' WHERE id = :r",
        "UPDATE pool_rounds SET state = 'review' WHERE id = :r",
        "UPDATE pools SET price_minor = -1",
    ]
    for statement in bad_rows:
        with pytest.raises(sa.exc.IntegrityError):
            region.execute(sa.text(statement), {"id": uuid.uuid4().hex if "sqlite" in str(region.bind.url) else uuid.uuid4(),
                                                "r": round_id, "m": member_id, "t": T0})
        region.rollback()
    # The pool's account never goes below zero: it pays out only what it took in.
    with pytest.raises(errors.ExceedsFloor):
        ledger.create_transfer(region, ledger.TransferSpec(uuid.uuid4(), "pool:seed", "alpha", 1), created_by="admin")


def test_the_audit_stays_clean_after_priced_commits_and_finds_edited_records(region: Session) -> None:
    _seed_pool(region, price_minor=250)
    pools.add_contribution(region, "seed-1", member="beta", quantity_minor=3_000, is_paid=True, actor="c")
    pools.declare_need(region, "seed-1", member="alpha", need=pools.NeedInput(2_000), actor="a")
    pools.declare_need(region, "seed-1", member="beta", need=pools.NeedInput(2_000), actor="b")
    _solved(region, "seed-1")
    _reviewed(region, "seed-1")
    pools.commit_round(region, "seed-1", actor="c", now=AFTER_REVIEW)
    assert run_audit(region, extra_checks=DOMAIN_CHECKS).findings == ()
    # The audit recomputes what a commit recorded from the run: an edited allocation or payout is found.
    region.execute(sa.text("UPDATE pool_allocations SET allocated_minor = allocated_minor + 1 WHERE member_id = "
                           "(SELECT id FROM members WHERE slug = 'alpha')"))
    region.execute(sa.text("UPDATE pool_payouts SET amount_minor = amount_minor + 1"))
    region.commit()
    codes = sorted(finding.code for finding in run_audit(region, extra_checks=DOMAIN_CHECKS).findings)
    assert codes == ["pool_allocation_differs", "pool_payout_differs"]
