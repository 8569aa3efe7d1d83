"""Payment request pages end to end: ask in Spanish, accept once, reject, cancel, expiry, auto-accept rules."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from mutualcredit.db import utc_now
from mutualcredit.ledger import auto_accept, requests
from mutualcredit.ledger import service as ledger
from mutualcredit.members import service as members
from mutualcredit.tokens.service import create_token
from web_helpers import client_as, csrf_token, make_app


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url)


def post(client: FlaskClient, path: str, **data: object) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def session_of(app: Flask) -> Session:
    session: Session = app.extensions["mutualcredit.sessions"]()
    return session


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def ask(app: Flask, payee: str, payer: str, amount: int, **kwargs: object) -> requests.PaymentRequestView:
    with session_of(app) as session:
        return requests.create_payment_request(
            session, id=uuid.uuid4(), payee=payee, payer=payer, amount_minor=amount, created_by="test", **kwargs  # type: ignore[arg-type]
        )


def state_of(app: Flask, request_id: uuid.UUID) -> requests.PaymentRequestView:
    with session_of(app) as session:
        return requests.get_payment_request(session, request_id)


def transfers_between(app: Flask, payer: str, payee: str) -> list[ledger.TransferResult]:
    with session_of(app) as session:
        return [t for t in ledger.list_transfers(session, accounts=[payer]) if t.payee == payee]


def form_request_id(page: str) -> str:
    match = re.search(r'name="request_id" type="hidden" value="([^"]+)"', page)
    assert match, "the form carries no request id"
    return match.group(1)


def test_a_treasurer_asks_for_a_payment_in_spanish_and_sending_twice_sends_once(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    alpha.post("/account/language", data={"csrf_token": csrf_token(alpha), "language-locale": "es"})
    form = alpha.get("/co-ops/alpha/requests/new").get_data(as_text=True)
    assert "1.234,50" in form and 'value="30"' in form  # the example amount in Spanish, the default expiry
    request_id = form_request_id(form)
    fields = {"payer": "beta", "payee_account": "alpha", "amount": "1.234,50", "description": "Pan, semana 22", "expires_in_days": "10", "request_id": request_id}
    first = post(alpha, "/co-ops/alpha/requests/new", **fields)
    assert first.status_code == 303 and first.headers["Location"].endswith(f"/requests/{request_id}")
    view = state_of(app, uuid.UUID(request_id))
    assert (view.payer, view.payee, view.amount_minor, view.state, view.created_by) == ("beta", "alpha", 123_450, "open", "user:treasurer@alpha.example")
    assert view.expires_at is not None and dt.timedelta(days=9) < view.expires_at - utc_now() <= dt.timedelta(days=10)
    again = post(alpha, "/co-ops/alpha/requests/new", **fields)  # the back button and a second click
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/requests/{request_id}")
    with session_of(app) as session:
        assert len(requests.list_payment_requests(session, member="alpha")) == 1
    page = text(alpha.get(f"/requests/{request_id}"))
    assert "1.234,50" in page and "Pan, semana 22" in page


def test_what_the_treasurer_typed_stays_in_the_form_with_the_error_beside_the_field(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    request_id = form_request_id(alpha.get("/co-ops/alpha/requests/new").get_data(as_text=True))
    bad = post(alpha, "/co-ops/alpha/requests/new", payer="beta", payee_account="alpha", amount="12.3.4", description="Kept", expires_in_days="400", request_id=request_id)
    page = text(bad)
    assert bad.status_code == 400
    assert 'value="12.3.4"' in page and 'value="Kept"' in page
    assert 'id="amount-errors"' in page and 'id="expires_in_days-errors"' in page
    forged_payer = post(alpha, "/co-ops/alpha/requests/new", payer="alpha", payee_account="alpha", amount="5", expires_in_days="5", request_id=request_id)
    assert forged_payer.status_code == 400 and 'id="payer-errors"' in text(forged_payer)
    with session_of(app) as session:
        assert requests.list_payment_requests(session, member="alpha") == []


def test_accepting_pays_exactly_once_even_when_posted_twice(app: Flask) -> None:
    view = ask(app, "alpha", "beta", 2_500, description="Delivery")
    beta = client_as(app, "treasurer_b")
    page = text(beta.get(f"/requests/{view.id}"))
    assert f"/requests/{view.id}/accept" in page and f"/requests/{view.id}/reject" in page
    assert f"/requests/{view.id}/cancel" not in page
    first = post(beta, f"/requests/{view.id}/accept")
    second = post(beta, f"/requests/{view.id}/accept")
    assert first.status_code == second.status_code == 303
    assert len(transfers_between(app, "beta", "alpha")) == 1
    accepted = state_of(app, view.id)
    assert (accepted.state, accepted.decided_by) == ("accepted", "user:treasurer@beta.example")
    page = text(beta.get(f"/requests/{view.id}"))
    assert f"/transfers/{accepted.transfer_id}" in page and "nothing was paid twice" in page
    assert f"/requests/{view.id}/accept" not in page


def test_accepting_from_the_dashboard_goes_back_there_but_never_to_another_site(app: Flask) -> None:
    beta = client_as(app, "treasurer_b")
    view = ask(app, "alpha", "beta", 100)
    back = post(beta, f"/requests/{view.id}/accept", next="/co-ops/beta")
    assert back.headers["Location"] == "/co-ops/beta"
    other = ask(app, "alpha", "beta", 100)
    away = post(beta, f"/requests/{other.id}/reject", next="https://evil.example/")
    assert away.headers["Location"].endswith(f"/requests/{other.id}")


def test_a_ledger_refusal_is_shown_in_the_persons_language_and_the_request_stays_open(app: Flask) -> None:
    view = ask(app, "alpha", "beta", 100_001)  # beta's floor is -1000.00
    beta = client_as(app, "treasurer_b")
    beta.post("/account/language", data={"csrf_token": csrf_token(beta), "language-locale": "es"})
    refused = post(beta, f"/requests/{view.id}/accept")
    assert refused.status_code == 400
    assert 'role="alert"' in refused.get_data(as_text=True)
    assert "There is not enough available credit for this payment." not in text(refused)  # it is in Spanish
    assert state_of(app, view.id).state == "open"
    assert transfers_between(app, "beta", "alpha") == []


def test_the_payer_rejects_with_a_reason_and_the_payee_sees_it(app: Flask) -> None:
    view = ask(app, "alpha", "beta", 700)
    beta = client_as(app, "treasurer_b")
    too_long = post(beta, f"/requests/{view.id}/reject", reason="x" * 501)
    assert too_long.status_code == 400 and 'id="reject-reason-errors"' in text(too_long)
    assert post(beta, f"/requests/{view.id}/reject", reason="Never ordered").status_code == 303
    assert state_of(app, view.id).state == "rejected"
    page = text(client_as(app, "treasurer_a").get(f"/requests/{view.id}"))
    assert "Never ordered" in page and "rejected" in page and "/cancel" not in page
    assert post(beta, f"/requests/{view.id}/accept").status_code == 400
    assert transfers_between(app, "beta", "alpha") == []


def test_the_payee_cancels_its_own_request(app: Flask) -> None:
    view = ask(app, "alpha", "beta", 700)
    alpha = client_as(app, "treasurer_a")
    page = text(alpha.get(f"/requests/{view.id}"))
    assert f"/requests/{view.id}/cancel" in page and f"/requests/{view.id}/accept" not in page
    assert post(alpha, f"/requests/{view.id}/cancel", reason="Sent by mistake").status_code == 303
    assert state_of(app, view.id).state == "cancelled"


@pytest.mark.parametrize("role", ["viewer_a", "auditor", "coordinator", "admin"])
def test_people_who_only_read_change_nothing(app: Flask, role: str) -> None:
    view = ask(app, "beta", "alpha", 700)
    client = client_as(app, role)
    page = text(client.get(f"/requests/{view.id}"))
    assert "700" in page or "7.00" in page
    assert "/accept" not in page and "/reject" not in page and "/cancel" not in page
    for action in ("accept", "reject", "cancel"):
        assert post(client, f"/requests/{view.id}/{action}").status_code == 403
    assert client.get("/co-ops/alpha/requests/new").status_code == 403
    assert state_of(app, view.id).state == "open"


def test_beta_cannot_answer_requests_addressed_to_another_co_op_by_forging_the_id(app: Flask) -> None:
    with session_of(app) as session:
        members.add_member(session, slug="gamma", name="Gamma", floor=-100_000, actor="test")
    to_alpha = ask(app, "gamma", "alpha", 300)
    sent_by_alpha = ask(app, "alpha", "gamma", 300)
    beta = client_as(app, "treasurer_b")
    for view in (to_alpha, sent_by_alpha):
        assert beta.get(f"/requests/{view.id}").status_code == 404
        for action in ("accept", "reject", "cancel"):
            assert post(beta, f"/requests/{view.id}/{action}").status_code == 404
        assert state_of(app, view.id).state == "open"
    # Beta as payee of a request to alpha may read it and cancel it, never accept it.
    beta_asks = ask(app, "beta", "alpha", 300)
    assert post(beta, f"/requests/{beta_asks.id}/accept").status_code == 403
    assert post(beta, f"/requests/{beta_asks.id}/reject").status_code == 403
    assert state_of(app, beta_asks.id).state == "open"
    assert beta.get("/co-ops/alpha/requests").status_code == 404
    assert beta.get("/co-ops/alpha/requests/new").status_code == 404


def test_an_overdue_request_shows_as_expired_and_cannot_be_accepted(app: Flask) -> None:
    now = utc_now()
    view = ask(app, "alpha", "beta", 400, expires_at=now + dt.timedelta(seconds=1), now=now - dt.timedelta(seconds=1))
    with session_of(app) as session:
        # Backdate the expiry, as if the days had passed.
        session.execute(
            requests.PaymentRequest.__table__.update().where(requests.PaymentRequest.id == view.id).values(expires_at=now - dt.timedelta(days=1))
        )
        session.commit()
    beta = client_as(app, "treasurer_b")
    page = text(beta.get(f"/requests/{view.id}"))
    assert "expired" in page and f"/requests/{view.id}/accept" not in page
    assert post(beta, f"/requests/{view.id}/accept").status_code == 400
    assert transfers_between(app, "beta", "alpha") == []
    listed = text(beta.get("/co-ops/beta/requests?state=expired"))
    assert str(view.id) in listed
    assert str(view.id) not in text(beta.get("/co-ops/beta/requests"))  # open by default


def test_the_list_shows_incoming_and_outgoing_requests_by_state_a_page_at_a_time(app: Flask) -> None:
    incoming = [ask(app, "beta", "alpha", 100 + index, description=f"In {index}") for index in range(27)]
    outgoing = ask(app, "alpha", "beta", 50, description="Out 1")
    alpha = client_as(app, "treasurer_a")
    page = text(alpha.get("/co-ops/alpha/requests"))
    assert "Out 1" in page and "In 26" in page and "In 0" not in page  # the oldest are on page 2
    assert "incoming_page=2" in page
    second = text(alpha.get("/co-ops/alpha/requests?incoming_page=2"))
    assert "In 0" in second and "In 1<" in second
    client_as(app, "treasurer_b")
    with session_of(app) as session:
        requests.cancel_payment_request(session, outgoing.id, decided_by="test")
    assert "Out 1" not in text(alpha.get("/co-ops/alpha/requests"))
    assert "Out 1" in text(alpha.get("/co-ops/alpha/requests?state=cancelled"))
    assert "Out 1" in text(alpha.get("/co-ops/alpha/requests?state=all"))
    assert len(incoming) == 27


def test_a_rule_accepts_a_request_sent_from_the_pages_and_can_be_removed(app: Flask) -> None:
    beta = client_as(app, "treasurer_b")
    assert "No rules" in text(beta.get("/co-ops/beta/auto-accept"))
    bad = post(beta, "/co-ops/beta/auto-accept", payee="alpha", account="beta", amount_max="nope")
    assert bad.status_code == 400 and 'id="amount_max-errors"' in text(bad)
    added = post(beta, "/co-ops/beta/auto-accept", payee="alpha", account="beta", amount_max="50")
    assert added.status_code == 303
    duplicate = post(beta, "/co-ops/beta/auto-accept", payee="alpha", account="beta", amount_max="60")
    assert duplicate.status_code == 400 and "already has a rule" in text(duplicate)
    with session_of(app) as session:
        (rule,) = auto_accept.list_rules(session, member="beta")
    assert (rule.payee_member, rule.amount_max_minor) == ("alpha", 5_000)

    alpha = client_as(app, "treasurer_a")
    request_id = form_request_id(alpha.get("/co-ops/alpha/requests/new").get_data(as_text=True))
    sent = post(alpha, "/co-ops/alpha/requests/new", payer="beta", payee_account="alpha", amount="50", expires_in_days="5", request_id=request_id)
    assert sent.status_code == 303
    view = state_of(app, uuid.UUID(request_id))
    assert (view.state, view.decided_by) == ("accepted", f"auto-accept:{rule.id}")
    assert "paid" in text(alpha.get(f"/requests/{request_id}"))

    assert post(client_as(app, "viewer_a"), f"/co-ops/beta/auto-accept/{rule.id}/delete").status_code == 404
    assert post(alpha, f"/co-ops/alpha/auto-accept/{rule.id}/delete").status_code == 404  # not alpha's rule
    assert post(beta, f"/co-ops/beta/auto-accept/{rule.id}/delete").status_code == 303
    with session_of(app) as session:
        assert auto_accept.list_rules(session, member="beta") == []


def test_readers_see_the_rules_but_only_the_treasurer_changes_them(app: Flask) -> None:
    with session_of(app) as session:
        auto_accept.add_rule(session, payer_account="alpha", payee_member="beta", amount_max_minor=1_000, actor="test")
    viewer = client_as(app, "viewer_a")
    page = text(viewer.get("/co-ops/alpha/auto-accept"))
    assert "Beta" in page and "/delete" not in page and "Add a rule" not in page
    assert post(viewer, "/co-ops/alpha/auto-accept", payee="beta", account="alpha", amount_max="5").status_code == 403
    assert "/delete" in text(client_as(app, "treasurer_a").get("/co-ops/alpha/auto-accept"))


def test_the_menu_links_a_member_to_its_requests(app: Flask) -> None:
    assert 'href="/co-ops/alpha/requests"' in client_as(app, "viewer_a").get("/account").get_data(as_text=True)
    assert "/requests\"" not in client_as(app, "auditor").get("/account").get_data(as_text=True)


def test_a_request_sent_through_the_api_answers_with_the_state_the_rule_gave_it(app: Flask) -> None:
    with session_of(app) as session:
        auto_accept.add_rule(session, payer_account="alpha", payee_member="beta", amount_max_minor=2_000, actor="test")
        secret, _ = create_token(session, member_slug="beta", scopes=["accounts:read", "requests:write"], created_by="test")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    within = api.post("/api/v1/requests", json={"payee": "beta", "payer": "alpha", "amount": "20.00"}, headers=headers)
    assert within.status_code == 201
    assert (within.get_json()["state"], within.get_json()["transfer_id"] is not None) == ("accepted", True)
    above = api.post("/api/v1/requests", json={"payee": "beta", "payer": "alpha", "amount": "20.01"}, headers=headers)
    assert above.status_code == 201 and above.get_json()["state"] == "open"
    assert len(transfers_between(app, "alpha", "beta")) == 1
