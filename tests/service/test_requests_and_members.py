"""Payment requests, members joining and leaving, and account limits."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import ActivityEntry
from mutualcredit.ledger import requests
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.ledger.service import TransferSpec
from mutualcredit.members import service as members

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def ask(session: Session, payee: str, payer: str, amount: int, **kwargs) -> requests.PaymentRequestView:
    return requests.create_payment_request(
        session,
        id=kwargs.pop("id", uuid.uuid4()),
        payee=payee,
        payer=payer,
        amount_minor=amount,
        created_by=f"treasurer:{payee}",
        now=kwargs.pop("now", NOW),
        **kwargs,
    )


def test_a_request_becomes_a_transfer_only_when_the_payer_accepts(region: Session) -> None:
    request = ask(region, "beta", "alpha", 2_500, description="Invoice 7")
    assert request.state == "open"
    assert ledger.get_account(region, "beta").balance == 0
    transfer = requests.accept_payment_request(region, request.id, decided_by="treasurer:alpha", now=NOW)
    assert (transfer.payer, transfer.payee, transfer.amount_minor) == ("alpha", "beta", 2_500)
    accepted = requests.get_payment_request(region, request.id)
    assert (accepted.state, accepted.transfer_id, accepted.decided_by) == ("accepted", transfer.id, "treasurer:alpha")
    assert ledger.get_account(region, "beta").balance == 2_500


def test_accepting_twice_never_pays_twice(region: Session) -> None:
    request = ask(region, "beta", "alpha", 2_500)
    first = requests.accept_payment_request(region, request.id, decided_by="a", now=NOW)
    second = requests.accept_payment_request(region, request.id, decided_by="a", now=NOW)
    assert first.id == second.id and second.is_replay and not first.is_replay
    assert ledger.get_account(region, "beta").balance == 2_500


def test_accepting_beyond_the_floor_is_refused_and_the_request_stays_open(region: Session) -> None:
    request = ask(region, "alpha", "gamma", 100)
    with pytest.raises(errors.ExceedsFloor):
        requests.accept_payment_request(region, request.id, decided_by="g", now=NOW)
    assert requests.get_payment_request(region, request.id).state == "open"


def test_a_rejected_or_cancelled_request_cannot_be_accepted(region: Session) -> None:
    rejected = ask(region, "beta", "alpha", 100)
    requests.reject_payment_request(region, rejected.id, decided_by="a", reason="not ours", now=NOW)
    with pytest.raises(errors.PaymentRequestNotOpen):
        requests.accept_payment_request(region, rejected.id, decided_by="a", now=NOW)
    cancelled = ask(region, "beta", "alpha", 100)
    requests.cancel_payment_request(region, cancelled.id, decided_by="b", now=NOW)
    with pytest.raises(errors.PaymentRequestNotOpen):
        requests.accept_payment_request(region, cancelled.id, decided_by="a", now=NOW)
    with pytest.raises(errors.PaymentRequestNotOpen):
        requests.reject_payment_request(region, cancelled.id, decided_by="a", now=NOW)
    assert ledger.get_account(region, "beta").balance == 0


def test_an_overdue_request_expires_and_cannot_be_accepted(region: Session) -> None:
    request = ask(region, "beta", "alpha", 100, expires_at=NOW + dt.timedelta(days=1))
    later = NOW + dt.timedelta(days=2)
    with pytest.raises(errors.PaymentRequestNotOpen):
        requests.accept_payment_request(region, request.id, decided_by="a", now=later)
    assert requests.expire_overdue_requests(region, now=later) == 1
    assert requests.get_payment_request(region, request.id).state == "expired"


def test_bad_requests_are_refused(region: Session) -> None:
    with pytest.raises(errors.SameAccount):
        ask(region, "beta", "beta", 100)
    with pytest.raises(errors.InvalidAmount):
        ask(region, "beta", "alpha", 0)
    with pytest.raises(errors.AccountNotFound):
        ask(region, "beta", "nobody", 100)
    with pytest.raises(errors.InvalidInput):
        ask(region, "beta", "alpha", 100, expires_at=NOW - dt.timedelta(seconds=1))
    with pytest.raises(errors.PaymentRequestNotFound):
        requests.accept_payment_request(region, uuid.uuid4(), decided_by="a")


def test_a_request_id_reused_with_other_content_is_a_conflict(region: Session) -> None:
    request_id = uuid.uuid4()
    ask(region, "beta", "alpha", 100, id=request_id)
    assert ask(region, "beta", "alpha", 100, id=request_id).id == request_id
    with pytest.raises(errors.IdempotencyConflict):
        ask(region, "beta", "alpha", 101, id=request_id)


def test_requests_are_listed_per_account_and_state(region: Session) -> None:
    ask(region, "beta", "alpha", 100)
    ask(region, "gamma", "beta", 100)
    assert len(requests.list_payment_requests(region, account="alpha")) == 1
    assert len(requests.list_payment_requests(region, account="beta")) == 2
    assert requests.list_payment_requests(region, state="accepted") == []


def test_a_member_is_admitted_with_an_account_and_the_act_is_logged(region: Session) -> None:
    view = members.add_member(region, slug="delta", name="Delta Co-op", floor=-20_000, actor="coordinator:ana")
    assert [a.code for a in view.accounts] == ["delta"]
    assert view.accounts[0].floor == -20_000
    entry = region.scalars(select(ActivityEntry).where(ActivityEntry.subject == "delta")).one()
    assert (entry.actor, entry.action) == ("coordinator:ana", "member.add")


@pytest.mark.parametrize(
    ("slug", "name", "floor", "error"),
    [
        ("alpha", "Again", -1, errors.AlreadyExists),
        ("Bad Slug", "X", -1, errors.InvalidInput),
        ("ok-slug", " ", -1, errors.InvalidInput),
        ("ok-slug", "X", 5, errors.InvalidInput),
    ],
)
def test_bad_members_are_refused(region: Session, slug: str, name: str, floor: int, error: type) -> None:
    with pytest.raises(error):
        members.add_member(region, slug=slug, name=name, floor=floor, actor="c")


def test_a_member_with_a_zero_balance_leaves_and_keeps_its_history(region: Session) -> None:
    first = ledger.create_transfer(
        region, TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=100), created_by="t"
    )
    ledger.create_transfer(
        region, TransferSpec(id=uuid.uuid4(), payer="beta", payee="alpha", amount_minor=100), created_by="t"
    )
    view = members.leave(region, "alpha", actor="coordinator")
    assert view.status == "left" and view.accounts[0].status == "closed"
    assert ledger.get_transfer(region, first.id).amount_minor == 100
    with pytest.raises(errors.AccountNotOpen):
        ledger.create_transfer(
            region, TransferSpec(id=uuid.uuid4(), payer="beta", payee="alpha", amount_minor=1), created_by="t"
        )


def test_a_member_with_a_balance_cannot_leave_without_a_write_off(region: Session) -> None:
    ledger.create_transfer(
        region, TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=700), created_by="t"
    )
    with pytest.raises(errors.MemberHasBalance):
        members.leave(region, "alpha", actor="coordinator")
    with pytest.raises(errors.InvalidInput):
        members.leave(region, "alpha", actor="coordinator", write_off=True, reason=" ")
    assert members.get_member(region, "alpha").status == "active"


def test_a_departing_debtor_is_written_off_to_the_commons_with_a_reason(region: Session) -> None:
    ledger.create_transfer(
        region, TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=700), created_by="t"
    )
    view = members.leave(region, "alpha", actor="coordinator:ana", write_off=True, reason="co-op dissolved")
    assert view.status == "left" and view.accounts[0].balance == 0
    assert ledger.get_account(region, "commons").balance == -700
    line = ledger.statement(region, "commons")[-1]
    assert (line.counterparty, line.amount_minor) == ("alpha", -700)
    assert "co-op dissolved" in line.description
    actions = region.scalars(select(ActivityEntry.action).where(ActivityEntry.subject == "alpha")).all()
    assert "member.write_off" in actions and "member.leave" in actions
    assert run_audit(region).is_clean


def test_a_member_with_pending_holds_cannot_leave(region: Session) -> None:
    ledger.create_transfer(
        region,
        TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=700, pending=True),
        created_by="t",
    )
    with pytest.raises(errors.MemberHasBalance):
        members.leave(region, "alpha", actor="c", write_off=True, reason="x")


def test_limits_change_only_where_the_balance_stays_within_them(region: Session) -> None:
    ledger.create_transfer(
        region, TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=50_000), created_by="t"
    )
    with pytest.raises(errors.LimitBelowBalance):
        ledger.set_account_limits(region, "alpha", floor=-40_000, ceiling=None, actor="c")
    with pytest.raises(errors.LimitBelowBalance):
        ledger.set_account_limits(region, "beta", floor=-1, ceiling=49_999, actor="c")
    with pytest.raises(errors.InvalidInput):
        ledger.set_account_limits(region, "alpha", floor=None, ceiling=None, actor="c")
    with pytest.raises(errors.InvalidInput):
        ledger.set_account_limits(region, "alpha", floor=10, ceiling=None, actor="c")
    view = ledger.set_account_limits(region, "alpha", floor=-60_000, ceiling=10_000, actor="c", reason="assembly 12")
    assert (view.floor, view.ceiling, view.available_minor) == (-60_000, 10_000, 10_000)
    entry = region.scalars(select(ActivityEntry).where(ActivityEntry.action == "account.limits")).one()
    assert entry.details["floor"] == [-100_000, -60_000]


def test_a_write_off_the_commons_cannot_absorb_changes_nothing_at_all(region: Session) -> None:
    ledger.set_account_limits(region, "commons", floor=-500, ceiling=None, actor="assembly")
    ledger.create_transfer(
        region, TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=700), created_by="t"
    )
    with pytest.raises(errors.ExceedsFloor):
        members.leave(region, "alpha", actor="coordinator", write_off=True, reason="dissolved")
    view = members.get_member(region, "alpha")
    assert (view.status, view.accounts[0].status, view.accounts[0].balance) == ("active", "open", -700)
    assert ledger.get_account(region, "commons").balance == 0
    actions = region.scalars(select(ActivityEntry.action).where(ActivityEntry.subject == "alpha")).all()
    assert "member.leave" not in actions and "member.write_off" not in actions
    assert run_audit(region).is_clean
