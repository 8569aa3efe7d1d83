"""The authorization matrix's cases for payment requests and auto-accept rules.

A request between beta and a third co-op (gamma) is the forged id for
alpha's people: they must not learn it exists (404), let alone answer it.
Prepared requests ask for 10.00, above every rule the cases set (1.00), so
no rule answers them before the person does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from matrix_support import Case, logged_in
from mutualcredit.ledger import auto_accept, requests
from mutualcredit.members import service as members
from mutualcredit.members.models import Member

REQUEST_AMOUNT_MINOR = 1_000


def _ensure_gamma(session: Session) -> None:
    if session.scalar(select(Member.id).where(Member.slug == "gamma")) is None:
        members.add_member(session, slug="gamma", name="Gamma", floor=-100_000, actor="test")


def fresh_request(payee: str, payer: str) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        _ensure_gamma(session)
        view = requests.create_payment_request(
            session, id=uuid.uuid4(), payee=payee, payer=payer, amount_minor=REQUEST_AMOUNT_MINOR, created_by="test"
        )
        return {"request": str(view.id)}

    return prepare


def request_state_unless_allowed(state_if_allowed: str) -> Callable[[Session, dict[str, Any], bool], str | None]:
    def check(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
        view = requests.get_payment_request(session, uuid.UUID(context["request"]))
        expected = state_if_allowed if allowed else "open"
        return None if view.state == expected else f"request {view.state}, expected {expected}"

    return check


def requests_to(payee: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return sum(1 for view in requests.list_payment_requests(session, account=payee) if view.payee == payee)

    return count


def rules_of(member: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return len(auto_accept.list_rules(session, member=member))

    return count


def fresh_rule(payer_account: str) -> Callable[[Session], dict[str, Any]]:
    """A rule of ``payer_account`` for gamma's requests (the one already there, if a case made it before)."""

    def prepare(session: Session) -> dict[str, Any]:
        _ensure_gamma(session)
        for rule in auto_accept.list_rules(session, member=payer_account):
            if rule.payee_member == "gamma":
                return {"rule": rule.id}
        rule = auto_accept.add_rule(session, payer_account=payer_account, payee_member="gamma", amount_max_minor=100, actor="test")
        return {"rule": rule.id}

    return prepare


def rule_kept_unless_allowed(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
    try:
        auto_accept.get_rule(session, context["rule"])
        exists = True
    except auto_accept.AutoAcceptRuleNotFound:
        exists = False
    return None if exists != allowed else f"rule exists: {exists}, expected {not allowed}"


def new_request(slug: str, payer: str, payee_account: str | None = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def data(_context: dict[str, Any]) -> dict[str, Any]:
        return {
            "payer": payer,
            "payee_account": payee_account or slug,
            "amount": "10",
            "description": "Matrix",
            "expires_in_days": "30",
            "request_id": str(uuid.uuid4()),
        }

    return data


UNKNOWN = uuid.UUID(int=0)

CASES = [
    # The lists.
    Case("alpha's requests", "GET", "/co-ops/<slug>/requests", logged_in(200, treasurer_b=404), path="/co-ops/alpha/requests"),
    Case("a member that does not exist", "GET", "/co-ops/<slug>/requests", logged_in(404), path="/co-ops/nobody/requests"),
    # Asking for a payment.
    Case("new request form for alpha", "GET", "/co-ops/<slug>/requests/new", logged_in(403, treasurer_a=200, treasurer_b=404), path="/co-ops/alpha/requests/new"),
    Case(
        "alpha asks beta to pay",
        "POST",
        "/co-ops/<slug>/requests/new",
        logged_in(403, treasurer_a=303, treasurer_b=404),
        path="/co-ops/alpha/requests/new",
        data=new_request("alpha", "beta"),
        count=requests_to("alpha"),
    ),
    Case(
        "beta asks alpha to pay (forged co-op for alpha's people)",
        "POST",
        "/co-ops/<slug>/requests/new",
        logged_in(403, treasurer_b=303, treasurer_a=404, viewer_a=404),
        path="/co-ops/beta/requests/new",
        data=new_request("beta", "alpha"),
        count=requests_to("beta"),
    ),
    Case(
        "alpha asks to be paid into beta's account (forged field)",
        "POST",
        "/co-ops/<slug>/requests/new",
        logged_in(403, treasurer_a=400, treasurer_b=404),
        path="/co-ops/alpha/requests/new",
        data=new_request("alpha", "beta", payee_account="beta"),
        count=requests_to("beta"),
    ),
    # One request.
    Case(
        "a request beta sent alpha",
        "GET",
        "/requests/<uuid:request_id>",
        logged_in(200),
        path=lambda c: f"/requests/{c['request']}",
        prepare=fresh_request("beta", "alpha"),
    ),
    Case(
        "a request between beta and gamma (forged id for alpha's people)",
        "GET",
        "/requests/<uuid:request_id>",
        logged_in(200, treasurer_a=404, viewer_a=404),
        path=lambda c: f"/requests/{c['request']}",
        prepare=fresh_request("gamma", "beta"),
    ),
    Case("a request that does not exist", "GET", "/requests/<uuid:request_id>", logged_in(404), path=f"/requests/{UNKNOWN}"),
    # Answering it.
    Case(
        "accept a request alpha is asked to pay",
        "POST",
        "/requests/<uuid:request_id>/accept",
        logged_in(403, treasurer_a=303),
        path=lambda c: f"/requests/{c['request']}/accept",
        prepare=fresh_request("beta", "alpha"),
        check=request_state_unless_allowed("accepted"),
    ),
    Case(
        "accept a request gamma sent beta (forged id for alpha's people)",
        "POST",
        "/requests/<uuid:request_id>/accept",
        logged_in(403, treasurer_b=303, treasurer_a=404, viewer_a=404),
        path=lambda c: f"/requests/{c['request']}/accept",
        prepare=fresh_request("gamma", "beta"),
        check=request_state_unless_allowed("accepted"),
    ),
    Case("accept a request that does not exist", "POST", "/requests/<uuid:request_id>/accept", logged_in(404), path=f"/requests/{UNKNOWN}/accept"),
    Case(
        "reject a request alpha is asked to pay",
        "POST",
        "/requests/<uuid:request_id>/reject",
        logged_in(403, treasurer_a=303),
        path=lambda c: f"/requests/{c['request']}/reject",
        data={"reason": "not ordered"},
        prepare=fresh_request("beta", "alpha"),
        check=request_state_unless_allowed("rejected"),
    ),
    Case(
        "reject a request gamma sent beta (forged id for alpha's people)",
        "POST",
        "/requests/<uuid:request_id>/reject",
        logged_in(403, treasurer_b=303, treasurer_a=404, viewer_a=404),
        path=lambda c: f"/requests/{c['request']}/reject",
        prepare=fresh_request("gamma", "beta"),
        check=request_state_unless_allowed("rejected"),
    ),
    Case(
        "cancel a request alpha sent",
        "POST",
        "/requests/<uuid:request_id>/cancel",
        logged_in(403, treasurer_a=303),
        path=lambda c: f"/requests/{c['request']}/cancel",
        prepare=fresh_request("alpha", "beta"),
        check=request_state_unless_allowed("cancelled"),
    ),
    Case(
        "cancel a request beta sent gamma (forged id for alpha's people)",
        "POST",
        "/requests/<uuid:request_id>/cancel",
        logged_in(403, treasurer_b=303, treasurer_a=404, viewer_a=404),
        path=lambda c: f"/requests/{c['request']}/cancel",
        prepare=fresh_request("beta", "gamma"),
        check=request_state_unless_allowed("cancelled"),
    ),
    # Auto-accept rules.
    Case("alpha's auto-accept rules", "GET", "/co-ops/<slug>/auto-accept", logged_in(200, treasurer_b=404), path="/co-ops/alpha/auto-accept"),
    Case(
        "alpha accepts beta's requests up to 1.00",
        "POST",
        "/co-ops/<slug>/auto-accept",
        logged_in(403, treasurer_a=303, treasurer_b=404),
        path="/co-ops/alpha/auto-accept",
        data={"account": "alpha", "payee": "beta", "amount_max": "1"},
        count=rules_of("alpha"),
    ),
    Case(
        "beta accepts alpha's requests (forged co-op for alpha's people)",
        "POST",
        "/co-ops/<slug>/auto-accept",
        logged_in(403, treasurer_b=303, treasurer_a=404, viewer_a=404),
        path="/co-ops/beta/auto-accept",
        data={"account": "beta", "payee": "alpha", "amount_max": "1"},
        count=rules_of("beta"),
    ),
    Case(
        "a rule on beta's account from alpha's page (forged field)",
        "POST",
        "/co-ops/<slug>/auto-accept",
        logged_in(403, treasurer_a=400, treasurer_b=404),
        path="/co-ops/alpha/auto-accept",
        data={"account": "beta", "payee": "gamma", "amount_max": "1"},
        prepare=lambda session: (_ensure_gamma(session), {})[1],
        count=rules_of("beta"),
    ),
    Case(
        "remove one of alpha's rules",
        "POST",
        "/co-ops/<slug>/auto-accept/<int:rule_id>/delete",
        logged_in(403, treasurer_a=303, treasurer_b=404),
        path=lambda c: f"/co-ops/alpha/auto-accept/{c['rule']}/delete",
        prepare=fresh_rule("alpha"),
        check=rule_kept_unless_allowed,
    ),
    Case(
        "remove one of beta's rules through alpha's page (forged id)",
        "POST",
        "/co-ops/<slug>/auto-accept/<int:rule_id>/delete",
        logged_in(403, treasurer_a=404, treasurer_b=404),
        path=lambda c: f"/co-ops/alpha/auto-accept/{c['rule']}/delete",
        prepare=fresh_rule("beta"),
        check=rule_kept_unless_allowed,
    ),
]
