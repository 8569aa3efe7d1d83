"""The treasurer's pages end to end: dashboard, paying another co-op with a confirmation step, receipts."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.requests import create_payment_request
from mutualcredit.members.service import add_member, set_member_status
from web_helpers import client_as, csrf_token, make_app


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url)


def balances(app: Flask) -> dict[str, int]:
    with app.extensions["mutualcredit.sessions"]() as session:
        return {account.code: account.balance for account in ledger.list_accounts(session)}


def transfers(app: Flask) -> list[ledger.TransferResult]:
    with app.extensions["mutualcredit.sessions"]() as session:
        return ledger.list_transfers(session, limit=500)


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def notices(page: str) -> list[str]:
    return [m.strip() for m in re.findall(r'class="notice notice-\w+" role="(?:status|alert)">([^<]*)<', page)]


def pay_form(client: FlaskClient, slug: str = "alpha") -> dict[str, str]:
    """The pay form's hidden fields: its CSRF token and the transfer id it was given."""
    page = client.get(f"/co-ops/{slug}/pay").get_data(as_text=True)
    transfer_id = re.search(r'name="transfer_id" type="hidden" value="([^"]+)"', page)
    assert transfer_id is not None, page
    return {"csrf_token": csrf_token(client, f"/co-ops/{slug}/pay"), "transfer_id": transfer_id.group(1)}


def hidden_fields(page: str) -> dict[str, str]:
    """The confirmation form's hidden fields, as the browser would send them back."""
    form = page[page.index('action="/co-ops/') :]
    return {name: html.unescape(value) for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form)}


def continue_to_confirmation(client: FlaskClient, slug: str = "alpha", **fields: str) -> TestResponse:
    data = {**pay_form(client, slug), "from_account": slug, "payee": "beta", "description": "", **fields}
    return client.post(f"/co-ops/{slug}/pay", data=data)


def test_a_treasurer_pays_another_co_op_after_seeing_the_balance_after_the_payment(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    confirmation = continue_to_confirmation(alpha, amount="12.50", description="Flour <rye>")
    page = text(confirmation)
    assert confirmation.status_code == 200
    assert "Confirm the payment" in page and "Flour <rye>" in page
    assert re.search(r"Balance now</dt><dd[^>]*>0\.00 T<", page)
    assert re.search(r"Balance after the payment</dt><dd[^>]*>-12\.50 T<", page)
    assert re.search(r"Available credit after the payment</dt><dd[^>]*>987\.50 T<", page)
    assert transfers(app) == []  # nothing is paid before the confirmation

    response = alpha.post("/co-ops/alpha/pay/confirm", data=hidden_fields(confirmation.get_data(as_text=True)))
    assert response.status_code == 303
    (made,) = transfers(app)
    assert response.headers["Location"] == f"/transfers/{made.id}"
    assert (made.payer, made.payee, made.amount_minor, made.description) == ("alpha", "beta", 1_250, "Flour <rye>")
    assert made.created_by == "user:treasurer@alpha.example"
    assert balances(app) == {"alpha": -1_250, "beta": 1_250, "commons": 0}
    receipt = text(alpha.get(response.headers["Location"]))
    assert notices(receipt) == ["Paid 12.50 T to Beta."]
    assert "Alpha" in receipt and "Beta" in receipt and str(made.id) in receipt


def test_submitting_the_confirmation_twice_pays_once_and_says_so(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    confirmation = continue_to_confirmation(alpha, amount="40")
    fields = hidden_fields(confirmation.get_data(as_text=True))
    first = alpha.post("/co-ops/alpha/pay/confirm", data=fields)
    alpha.get(first.headers["Location"])  # the receipt, with its "paid" notice
    second = alpha.post("/co-ops/alpha/pay/confirm", data=fields)  # a double click, or a reload
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    assert notices(text(alpha.get(second.headers["Location"]))) == ["This payment was already made; it was not paid twice."]
    # Back to the pay form and through it again with the same id: the same receipt, no second payment.
    again = alpha.post("/co-ops/alpha/pay", data={**fields, "csrf_token": fields["csrf_token"]})
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert len(transfers(app)) == 1
    assert balances(app)["alpha"] == -4_000


def test_the_same_form_sent_again_with_other_content_pays_nothing_more(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    fields = hidden_fields(continue_to_confirmation(alpha, amount="40").get_data(as_text=True))
    first = alpha.post("/co-ops/alpha/pay/confirm", data=fields)
    changed = alpha.post("/co-ops/alpha/pay/confirm", data={**fields, "amount": "41"})
    assert changed.status_code == 303 and changed.headers["Location"] == first.headers["Location"]
    assert "To pay again, start a new payment." in " ".join(notices(text(alpha.get(changed.headers["Location"]))))
    assert [t.amount_minor for t in transfers(app)] == [4_000]


def test_a_payment_beyond_the_floor_is_refused_with_the_message_and_nothing_is_paid(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    refused = continue_to_confirmation(alpha, amount="1000.01", description="too much")
    page = text(refused)
    assert refused.status_code == 400
    assert "There is not enough available credit for this payment. You can pay at most 1,000.00 T now." in page
    assert 'id="amount-errors"' in page and 'aria-describedby="amount-hint amount-errors"' in page
    assert 'value="1000.01"' in page and 'value="too much"' in page  # nothing typed is lost
    # Posting the confirmation directly (a forged or stale form) is refused the same way.
    forged = alpha.post("/co-ops/alpha/pay/confirm", data={**pay_form(alpha), "from_account": "alpha", "payee": "beta", "amount": "1000.01"})
    assert forged.status_code == 400 and "There is not enough available credit" in text(forged)
    assert transfers(app) == []


def test_a_payment_the_ledger_refuses_at_confirmation_shows_the_form_again(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    fields = hidden_fields(continue_to_confirmation(alpha, amount="5", description="late").get_data(as_text=True))
    with app.extensions["mutualcredit.sessions"]() as session:
        set_member_status(session, "beta", status="suspended", actor="test")
    refused = alpha.post("/co-ops/alpha/pay/confirm", data=fields)
    page = text(refused)
    assert refused.status_code == 400
    assert "That member has left the region." in notices(page) and 'value="late"' in page
    assert transfers(app) == []


def test_a_spanish_treasurer_types_amounts_the_spanish_way(app: Flask) -> None:
    with app.extensions["mutualcredit.sessions"]() as session:
        ledger.set_account_limits(session, "alpha", floor=-500_000, ceiling=None, actor="test")
    alpha = client_as(app, "treasurer_a")
    alpha.post("/account/language", data={"csrf_token": csrf_token(alpha), "language-locale": "es"})
    assert "1.234,50" in text(alpha.get("/co-ops/alpha/pay"))  # the example in the hint
    confirmation = continue_to_confirmation(alpha, amount="1.234,50")
    page = text(confirmation)
    assert confirmation.status_code == 200
    assert "1.234,50 T" in page and "-1.234,50 T" in page  # the amount, and the balance after it
    assert alpha.post("/co-ops/alpha/pay/confirm", data=hidden_fields(confirmation.get_data(as_text=True))).status_code == 303
    assert [t.amount_minor for t in transfers(app)] == [123_450]
    assert "-1.234,50 T" in text(alpha.get("/co-ops/alpha"))
    wrong = continue_to_confirmation(alpha, amount="12,345")
    assert wrong.status_code == 400 and 'value="12,345"' in text(wrong)


def test_change_returns_to_the_form_with_everything_kept(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    fields = hidden_fields(continue_to_confirmation(alpha, amount="7.25", description="eggs").get_data(as_text=True))
    form = alpha.post("/co-ops/alpha/pay", data={**fields, "change": "1"})
    page = text(form)
    assert form.status_code == 200 and "Pay another co-op" in page
    assert 'value="7.25"' in page and 'value="eggs"' in page and f'value="{fields["transfer_id"]}"' in page
    assert re.search(r'<option selected value="beta">Beta</option>', page)
    assert transfers(app) == []


def test_the_payee_list_can_be_narrowed_without_javascript(app: Flask) -> None:
    with app.extensions["mutualcredit.sessions"]() as session:
        add_member(session, slug="gamma", name="Gamma Bakery", floor=0, actor="test")
        add_member(session, slug="delta", name="Delta Mill", floor=0, actor="test")
    alpha = client_as(app, "treasurer_a")
    everyone = text(alpha.get("/co-ops/alpha/pay"))
    assert all(f'value="{slug}"' in everyone for slug in ("beta", "gamma", "delta")) and 'value="alpha"' not in everyone.split('name="payee"')[1]
    narrowed = text(alpha.get("/co-ops/alpha/pay?q=bakery"))
    payee_select = narrowed.split('id="payee"')[1].split("</select>")[0]
    assert '<option selected value="gamma">Gamma Bakery</option>' in payee_select
    assert 'value="beta"' not in payee_select and 'value="delta"' not in payee_select
    assert "1 of 3 co-ops match" in narrowed


def test_a_viewer_sees_the_dashboard_but_cannot_pay(app: Flask) -> None:
    viewer = client_as(app, "viewer_a")
    dashboard = text(viewer.get("/co-ops/alpha"))
    assert "/co-ops/alpha/pay" not in dashboard
    assert viewer.get("/co-ops/alpha/pay").status_code == 403
    data = {**pay_form(client_as(app, "treasurer_a")), "from_account": "alpha", "payee": "beta", "amount": "1"}
    data["csrf_token"] = csrf_token(viewer, "/co-ops/alpha")
    assert viewer.post("/co-ops/alpha/pay", data=data).status_code == 403
    assert viewer.post("/co-ops/alpha/pay/confirm", data=data).status_code == 403
    assert transfers(app) == []


def test_beta_s_treasurer_cannot_pay_from_alpha_even_with_forged_fields(app: Flask) -> None:
    beta = client_as(app, "treasurer_b")
    token = csrf_token(beta, "/co-ops/beta")
    forged = {"csrf_token": token, "transfer_id": str(uuid.uuid4()), "from_account": "alpha", "payee": "beta", "amount": "1"}
    assert beta.get("/co-ops/alpha/pay").status_code == 404
    assert beta.post("/co-ops/alpha/pay/confirm", data=forged).status_code == 404
    through_own = beta.post("/co-ops/beta/pay/confirm", data=forged)
    assert through_own.status_code == 400 and "Choose one of your co-op" in text(through_own)
    own_payee = beta.post("/co-ops/beta/pay/confirm", data={**forged, "from_account": "beta", "payee": "beta"})
    assert own_payee.status_code == 400
    no_id = beta.post("/co-ops/beta/pay/confirm", data={**forged, "from_account": "beta", "payee": "alpha", "transfer_id": "not-a-uuid"})
    assert no_id.status_code == 400
    assert transfers(app) == []


def test_the_dashboard_shows_balances_the_chart_and_the_requests_waiting(app: Flask) -> None:
    with app.extensions["mutualcredit.sessions"]() as session:
        ledger.create_transfer(session, ledger.TransferSpec(uuid.uuid4(), "alpha", "beta", 30_000, "Rent"), created_by="test")
        request = create_payment_request(session, id=uuid.uuid4(), payee="beta", payer="alpha", amount_minor=4_200, description="Oats", created_by="test")
        create_payment_request(session, id=uuid.uuid4(), payee="alpha", payer="beta", amount_minor=99, description="Sent by alpha", created_by="test")
    page = text(client_as(app, "treasurer_a").get("/co-ops/alpha"))
    assert "<h1>Alpha</h1>" in page
    assert re.search(r'<td class="amount negative">-300\.00 T</td>\s*<td class="amount">700\.00 T</td>\s*<td class="amount">-1,000\.00 T</td>\s*<td class="amount">no limit</td>', page)
    assert 'href="/accounts/alpha/statement"' in page
    svg = re.search(r"<svg[^>]*>.*?</svg>", page, re.S)
    assert svg is not None and 'role="img"' in svg.group(0) and "<polyline" in svg.group(0)
    assert "lowest -300.00 T, highest 0.00 T, now -300.00 T" in svg.group(0)
    assert "<details>" in page and "Balance at the end of each day" in page
    assert re.search(r"<td>Beta</td>\s*<td>Rent\s*</td>\s*<td class=\"amount negative\">-300\.00 T</td>", page)
    assert "Oats" in page and "42.00 T" in page and f'href="/requests/{request.id}"' in page
    assert f'action="/requests/{request.id}/accept"' in page and f'action="/requests/{request.id}/reject"' in page
    assert "Sent by alpha" not in page  # alpha's own request waits for beta, not for alpha
    viewer_page = text(client_as(app, "viewer_a").get("/co-ops/alpha"))
    assert "Oats" in viewer_page and "/accept" not in viewer_page


def test_another_co_op_s_pages_are_not_found(app: Flask) -> None:
    with app.extensions["mutualcredit.sessions"]() as session:
        add_member(session, slug="gamma", name="Gamma", floor=-1_000, actor="test")
        private = ledger.create_transfer(session, ledger.TransferSpec(uuid.uuid4(), "beta", "gamma", 100), created_by="test")
        shared = ledger.create_transfer(session, ledger.TransferSpec(uuid.uuid4(), "alpha", "beta", 100), created_by="test")
    alpha = client_as(app, "treasurer_a")
    assert alpha.get("/co-ops/beta").status_code == 404
    assert alpha.get("/co-ops/nobody").status_code == 404
    assert alpha.get(f"/transfers/{private.id}").status_code == 404
    assert alpha.get(f"/transfers/{uuid.uuid4()}").status_code == 404
    assert alpha.get(f"/transfers/{shared.id}").status_code == 200
    assert client_as(app, "treasurer_b").get(f"/transfers/{shared.id}").status_code == 200
    auditor = client_as(app, "auditor")
    assert auditor.get("/co-ops/beta").status_code == 200 and auditor.get("/co-ops/nobody").status_code == 404
    assert auditor.get(f"/transfers/{private.id}").status_code == 200


def test_login_lands_on_the_dashboard_of_one_s_co_op_or_a_list_to_choose_from(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    response = alpha.get("/dashboard")
    assert response.status_code == 303 and response.headers["Location"] == "/co-ops/alpha"
    assert '<a href="/dashboard">Dashboard</a>' in text(alpha.get("/co-ops/alpha"))
    listing = text(client_as(app, "coordinator").get("/dashboard"))
    assert 'href="/co-ops/alpha"' in listing and 'href="/co-ops/beta"' in listing
    assert client_as(app, "anonymous").get("/dashboard").status_code == 302
