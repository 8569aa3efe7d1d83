"""Auto-accept rules and request expiry: a rule pays a chosen co-op's requests up to a cap; the ledger still decides."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import ActivityEntry
from mutualcredit.ledger import auto_accept, requests
from mutualcredit.ledger import service as ledger
from mutualcredit.members import service as members
from mutualcredit.money import AMOUNT_MINOR_MAX

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def ask(session: Session, payee: str, payer: str, amount: int, **kwargs: object) -> requests.PaymentRequestView:
    return requests.create_payment_request(
        session,
        id=kwargs.pop("id", uuid.uuid4()),  # type: ignore[arg-type]
        payee=payee,
        payer=payer,
        amount_minor=amount,
        created_by=f"treasurer:{payee}",
        now=kwargs.pop("now", NOW),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def rule(session: Session, payer_account: str, payee_member: str, amount_max: int) -> auto_accept.AutoAcceptRuleView:
    return auto_accept.add_rule(
        session, payer_account=payer_account, payee_member=payee_member, amount_max_minor=amount_max, actor="treasurer:" + payer_account
    )


def test_a_request_within_the_payers_rule_is_accepted_at_once_with_a_transfer(region: Session) -> None:
    added = rule(region, "alpha", "beta", 5_000)
    request = ask(region, "beta", "alpha", 5_000, description="Bread, week 22")
    assert request.state == "accepted"
    assert request.decided_by == f"auto-accept:{added.id}" == added.actor
    transfer = ledger.get_transfer(region, request.transfer_id)  # type: ignore[arg-type]
    assert (transfer.payer, transfer.payee, transfer.amount_minor) == ("alpha", "beta", 5_000)
    assert transfer.created_by == f"auto-accept:{added.id}"
    assert ledger.get_account(region, "beta").balance == 5_000


def test_a_request_above_the_cap_stays_open(region: Session) -> None:
    rule(region, "alpha", "beta", 5_000)
    request = ask(region, "beta", "alpha", 5_001)
    assert (request.state, request.transfer_id) == ("open", None)
    assert ledger.get_account(region, "alpha").balance == 0


def test_a_rule_for_another_payee_does_not_accept_and_does_not_work_backwards(region: Session) -> None:
    rule(region, "alpha", "gamma", 5_000)
    assert ask(region, "beta", "alpha", 100).state == "open"  # beta has no rule at alpha
    assert ask(region, "alpha", "beta", 100).state == "open"  # beta pays nobody automatically
    assert ask(region, "alpha", "gamma", 100).state == "open"  # gamma pays nobody automatically


def test_a_ledger_refusal_leaves_the_request_open_and_the_requester_unharmed(region: Session) -> None:
    # gamma's floor is 0: it cannot pay anything yet, rule or not.
    rule(region, "gamma", "alpha", 5_000)
    request = ask(region, "alpha", "gamma", 100)
    assert (request.state, request.decided_by) == ("open", None)
    assert ledger.get_account(region, "gamma").balance == 0
    # A person can still answer it once gamma has the credit.
    ledger.create_transfer(region, ledger.TransferSpec(id=uuid.uuid4(), payer="beta", payee="gamma", amount_minor=500), created_by="t", now=NOW)
    requests.accept_payment_request(region, request.id, decided_by="treasurer:gamma", now=NOW)
    assert requests.get_payment_request(region, request.id).state == "accepted"


def test_a_replayed_request_is_not_paid_again(region: Session) -> None:
    rule(region, "alpha", "beta", 5_000)
    request_id = uuid.uuid4()
    first = ask(region, "beta", "alpha", 1_000, id=request_id)
    second = ask(region, "beta", "alpha", 1_000, id=request_id)
    assert first.state == second.state == "accepted" and first.transfer_id == second.transfer_id
    assert ledger.get_account(region, "beta").balance == 1_000


def test_a_rule_applies_only_to_the_account_it_names(region: Session) -> None:
    members_account = members.open_member_account(region, "alpha", code="alpha-projects", name="Alpha projects", floor=-10_000, actor="t")
    rule(region, members_account.code, "beta", 5_000)
    assert ask(region, "beta", "alpha", 100).state == "open"
    assert ask(region, "beta", "alpha-projects", 100).state == "accepted"


def test_rules_are_checked_before_they_are_added(region: Session) -> None:
    with pytest.raises(errors.InvalidAmount):
        rule(region, "alpha", "beta", 0)
    with pytest.raises(errors.InvalidAmount):
        rule(region, "alpha", "beta", AMOUNT_MINOR_MAX + 1)
    with pytest.raises(errors.AccountNotFound):
        rule(region, "nowhere", "beta", 100)
    with pytest.raises(errors.MemberNotFound):
        rule(region, "alpha", "alpha", 100)  # not for oneself
    with pytest.raises(errors.MemberNotFound):
        rule(region, "alpha", "nobody", 100)
    rule(region, "alpha", "beta", 100)
    with pytest.raises(auto_accept.AutoAcceptRuleExists):
        rule(region, "alpha", "beta", 200)
    assert [(r.payer_account, r.payee_member, r.amount_max_minor) for r in auto_accept.list_rules(region, member="alpha")] == [
        ("alpha", "beta", 100)
    ]


def test_a_deleted_rule_accepts_nothing_more_and_the_log_keeps_both_acts(region: Session) -> None:
    added = rule(region, "alpha", "beta", 5_000)
    with pytest.raises(auto_accept.AutoAcceptRuleNotFound):
        auto_accept.delete_rule(region, added.id, member="beta", actor="treasurer:beta")  # not beta's rule
    auto_accept.delete_rule(region, added.id, member="alpha", actor="treasurer:alpha")
    assert auto_accept.list_rules(region, member="alpha") == []
    assert ask(region, "beta", "alpha", 100).state == "open"
    with pytest.raises(auto_accept.AutoAcceptRuleNotFound):
        auto_accept.delete_rule(region, added.id, member="alpha", actor="treasurer:alpha")
    actions = region.scalars(select(ActivityEntry.action).where(ActivityEntry.action.like("auto_accept.%")).order_by(ActivityEntry.id)).all()
    assert actions == ["auto_accept.add", "auto_accept.delete"]


def test_the_database_refuses_a_cap_of_zero_and_a_second_rule_for_the_same_pair(region: Session) -> None:
    rule(region, "alpha", "beta", 100)
    ids = dict(region.execute(sa.text("SELECT slug, id FROM members")).all())
    account_id = region.scalar(sa.text("SELECT id FROM accounts WHERE code = 'alpha'"))
    region.rollback()
    insert = sa.text(
        "INSERT INTO auto_accept_rules (payer_account_id, payee_member_id, amount_max_minor, created_by, created_at)"
        " VALUES (:account, :member, :amount, 'sql', :at)"
    )
    for member, amount in (("gamma", 0), ("beta", 50)):
        with pytest.raises(sa.exc.IntegrityError):
            region.execute(insert, {"account": account_id, "member": ids[member], "amount": amount, "at": NOW})
        region.rollback()


def test_an_overdue_open_request_shows_as_expired_and_is_listed_so_before_the_expiry_job(region: Session) -> None:
    soon = ask(region, "beta", "alpha", 100, expires_at=NOW + dt.timedelta(days=1))
    never = ask(region, "beta", "alpha", 200)
    later = NOW + dt.timedelta(days=2)
    assert requests.state_as_of(soon, NOW) == "open"
    assert requests.state_as_of(soon, later) == "expired"
    assert requests.state_as_of(never, later) == "open"
    open_ids = {v.id for v in requests.list_payment_requests(region, member="alpha", side="payer", state="open", as_of=later)}
    expired_ids = {v.id for v in requests.list_payment_requests(region, member="alpha", side="payer", state="expired", as_of=later)}
    assert (open_ids, expired_ids) == ({never.id}, {soon.id})
    with pytest.raises(errors.PaymentRequestNotOpen):
        requests.accept_payment_request(region, soon.id, decided_by="a", now=later)
    with pytest.raises(errors.PaymentRequestNotOpen):
        requests.cancel_payment_request(region, soon.id, decided_by="b", now=later)
    assert requests.expire_overdue_requests(region, now=later) == 1
    assert requests.get_payment_request(region, soon.id).state == "expired"
    assert requests.get_payment_request(region, never.id).state == "open"


def test_listing_by_side_and_page(region: Session) -> None:
    asked = [ask(region, "beta", "alpha", 100 + index, now=NOW + dt.timedelta(minutes=index)) for index in range(3)]
    sent = ask(region, "alpha", "beta", 50, now=NOW + dt.timedelta(minutes=10))
    incoming = requests.list_payment_requests(region, member="alpha", side="payer")
    outgoing = requests.list_payment_requests(region, member="alpha", side="payee")
    assert [v.id for v in incoming] == [v.id for v in reversed(asked)]
    assert [v.id for v in outgoing] == [sent.id]
    page_two = requests.list_payment_requests(region, member="alpha", side="payer", offset=2, limit=2)
    assert [v.id for v in page_two] == [asked[0].id]
    with pytest.raises(errors.InvalidInput):
        requests.list_payment_requests(region, side="payer")
    with pytest.raises(errors.InvalidInput):
        requests.list_payment_requests(region, member="alpha", offset=-1)
