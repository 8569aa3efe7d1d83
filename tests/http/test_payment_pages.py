"""Bulk payment and recurring payment pages end to end: upload, preview, confirm once; set up, list, cancel."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from mutualcredit.ledger import recurring
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import Transfer
from web_helpers import client_as, csrf_token, make_app

BULK = "/co-ops/alpha/payments/bulk"


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url)


def post(client: FlaskClient, path: str, **data: object) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def upload(client: FlaskClient, content: str, slug: str = "alpha", **extra: object) -> TestResponse:
    data = {"csrf_token": csrf_token(client), "file": (io.BytesIO(content.encode()), "payments.csv"), **extra}
    return client.post(f"/co-ops/{slug}/payments/bulk", data=data, content_type="multipart/form-data")


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page) or re.search(rf'type="hidden" name="{name}" value="([^"]*)"', page)
    assert match is not None, f"no hidden {name}"
    return match.group(1)


def transfer_count(app: Flask) -> int:
    with app.extensions["mutualcredit.sessions"]() as session:
        return session.scalar(select(func.count()).select_from(Transfer)) or 0


def balances(app: Flask) -> tuple[int, int]:
    with app.extensions["mutualcredit.sessions"]() as session:
        return ledger.get_account(session, "alpha").balance, ledger.get_account(session, "beta").balance


def recurring_payments(app: Flask) -> list[recurring.RecurringView]:
    with app.extensions["mutualcredit.sessions"]() as session:
        return recurring.list_recurring_payments(session)


def test_a_file_with_errors_is_previewed_line_by_line_and_nothing_is_posted(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    form = text(alpha.get(BULK))
    assert "payee,amount,description" in form and "1234.50" in form
    response = upload(alpha, "payee,amount,description\nbeta,12.50,Bread\nnobody,1,\nbeta,\"1,50\",\nalpha,2,\nbeta,12.50,Bread\n")
    page = text(response)
    assert response.status_code == 400
    assert "Nothing was paid. 3 errors" in page
    assert "Line 3, payee: There is no co-op nobody." in page
    assert "Line 4, amount: 1,50 is not an amount like 1234.50" in page
    assert "Line 5, payee: A co-op cannot pay itself." in page
    assert "To check: Line 6: The same payee, amount and description as line 2" in page  # a warning only
    assert 'id="line-2"' in page and 'id="line-6"' in page  # every line is shown
    assert "/payments/bulk/confirm" not in page
    assert transfer_count(app) == 0


def test_a_clean_file_is_previewed_then_paid_in_one_go_and_a_second_confirmation_pays_nothing(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    preview = upload(alpha, "payee,amount,description\nbeta,12.50,Bread\nbeta,100,Rent\n")
    page = text(preview)
    assert preview.status_code == 200
    assert "112.50 T" in page and "-112.50 T" in page  # the total and the balance after
    assert "Pay these 2 lines now" in page
    assert transfer_count(app) == 0  # a preview pays nothing
    form = {name: hidden(page, name) for name in ("account", "content", "batch_id")}
    first = post(alpha, f"{BULK}/confirm", **form)
    assert first.status_code == 200 and "2 payments made, 112.50 T in all." in text(first)
    assert balances(app) == (-11_250, 11_250) and transfer_count(app) == 2
    again = post(alpha, f"{BULK}/confirm", **form)
    assert again.status_code == 200 and "already made" in text(again)
    assert balances(app) == (-11_250, 11_250) and transfer_count(app) == 2


def test_a_file_whose_third_line_crosses_the_floor_is_refused_whole_and_the_page_names_the_line(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    content = "payee,amount\nbeta,400\nbeta,500\nbeta,200\n"  # alpha's floor is -1000.00
    preview = upload(alpha, content)
    page = text(preview)
    assert preview.status_code == 400 and "Line 4, amount: With this line the payments come to 1,100.00 T" in page
    assert "No: the total is more than the credit available." in page
    assert "/payments/bulk/confirm" not in page
    # Confirming anyway (a forged or stale form): the ledger refuses line 4 and posts none of the lines.
    forced = post(alpha, f"{BULK}/confirm", account="alpha", content=content, batch_id=str(uuid.uuid4()))
    assert forced.status_code == 400
    assert "Nothing was paid" in text(forced) and "Line 4" in text(forced)
    assert transfer_count(app) == 0 and balances(app) == (0, 0)


def test_a_file_that_is_not_utf8_or_a_missing_file_is_refused_with_the_form_again(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    data = {"csrf_token": csrf_token(alpha), "file": (io.BytesIO("payee,amount\nbéta,1\n".encode("latin-1")), "p.csv")}
    response = alpha.post(BULK, data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "UTF-8" in text(response)
    missing = alpha.post(BULK, data={"csrf_token": csrf_token(alpha)}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "Choose a CSV file." in text(missing)


@pytest.mark.parametrize(("role", "status"), [("viewer_a", 403), ("auditor", 403), ("coordinator", 403), ("admin", 403), ("treasurer_b", 404)])
def test_only_alphas_treasurer_previews_or_pays_in_bulk_for_alpha(app: Flask, role: str, status: int) -> None:
    client = client_as(app, role)
    assert client.get(BULK).status_code == status
    assert upload(client, "payee,amount\nbeta,1\n").status_code == status
    forged = post(client, f"{BULK}/confirm", account="alpha", content="payee,amount\nbeta,1\n", batch_id=str(uuid.uuid4()))
    assert forged.status_code == status
    assert transfer_count(app) == 0


def test_a_treasurer_cannot_pay_in_bulk_from_another_co_ops_account_named_in_the_form(app: Flask) -> None:
    beta = client_as(app, "treasurer_b")
    forged = post(beta, "/co-ops/beta/payments/bulk/confirm", account="alpha", content="payee,amount\ngamma,1\n", batch_id=str(uuid.uuid4()))
    assert forged.status_code == 404
    assert upload(beta, "payee,amount\nalpha,1\n", slug="beta", account="alpha").status_code == 404
    assert transfer_count(app) == 0


def test_a_treasurer_sets_up_a_recurring_payment_in_spanish_and_everyone_of_alpha_sees_it(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    alpha.post("/account/language", data={"csrf_token": csrf_token(alpha), "language-locale": "es"})
    form = text(alpha.get("/co-ops/alpha/recurring/new"))
    assert "1.234,50" in form
    first = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    response = post(
        alpha, "/co-ops/alpha/recurring/new", account="alpha", payee="beta", amount="1.234,50", description="Alquiler del taller", interval="monthly", first_due_on=first, ends_on=""
    )
    assert response.status_code == 303 and response.headers["Location"] == "/co-ops/alpha/recurring"
    (view,) = recurring_payments(app)
    assert (view.payer, view.payee, view.amount_minor, view.interval, view.first_due_on.isoformat()) == ("alpha", "beta", 123_450, "monthly", first)
    for role in ("viewer_a", "auditor", "treasurer_b"):  # beta is paid, so beta's people see it too
        page = text(client_as(app, role).get(f"/co-ops/{'beta' if role == 'treasurer_b' else 'alpha'}/recurring"))
        assert "Alquiler del taller" in page
        assert f"/recurring/{view.id}/cancel" not in page
    assert f"/co-ops/alpha/recurring/{view.id}/cancel" in text(alpha.get("/co-ops/alpha/recurring"))


def test_a_recurring_payment_with_wrong_terms_is_refused_next_to_the_field_keeping_what_was_typed(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    past = post(alpha, "/co-ops/alpha/recurring/new", payee="beta", amount="10", description="Rent kept", interval="monthly", first_due_on="2020-01-01")
    page = text(past)
    assert past.status_code == 400 and "The first payment cannot be in the past." in page and "Rent kept" in page
    bad_amount = post(alpha, "/co-ops/alpha/recurring/new", payee="beta", amount="ten", interval="weekly", first_due_on=dt.date.today().isoformat())
    assert bad_amount.status_code == 400 and "That is not a valid amount." in text(bad_amount)
    self_paid = post(alpha, "/co-ops/alpha/recurring/new", payee="alpha", amount="10", interval="weekly", first_due_on=dt.date.today().isoformat())
    assert self_paid.status_code == 400
    assert recurring_payments(app) == []


def rent(app: Flask, payer: str = "alpha", payee: str = "beta") -> recurring.RecurringView:
    with app.extensions["mutualcredit.sessions"]() as session:
        return recurring.create_recurring_payment(
            session, payer=payer, payee=payee, amount_minor=1_000, interval="monthly", first_due_on=dt.date.today(), today=dt.date.today(), created_by="t"
        )


def test_alphas_treasurer_cancels_its_payment_but_a_forged_id_of_beta_changes_nothing(app: Flask) -> None:
    own, betas = rent(app), rent(app, payer="beta", payee="alpha")
    alpha = client_as(app, "treasurer_a")
    forged = post(alpha, f"/co-ops/alpha/recurring/{betas.id}/cancel")
    assert forged.status_code == 404
    assert post(alpha, "/co-ops/alpha/recurring/999999/cancel").status_code == 404
    response = post(alpha, f"/co-ops/alpha/recurring/{own.id}/cancel")
    assert response.status_code == 303
    states = {view.id: view.state for view in recurring_payments(app)}
    assert states == {own.id: "cancelled", betas.id: "active"}
    assert "cancelled" in text(alpha.get("/co-ops/alpha/recurring"))


@pytest.mark.parametrize(("role", "status"), [("viewer_a", 403), ("auditor", 403), ("coordinator", 403), ("admin", 403), ("treasurer_b", 404)])
def test_only_alphas_treasurer_sets_up_or_cancels_alphas_recurring_payments(app: Flask, role: str, status: int) -> None:
    own = rent(app)
    client = client_as(app, role)
    assert client.get("/co-ops/alpha/recurring/new").status_code == status
    created = post(client, "/co-ops/alpha/recurring/new", payee="beta", amount="10", interval="weekly", first_due_on=dt.date.today().isoformat())
    assert created.status_code == status
    assert post(client, f"/co-ops/alpha/recurring/{own.id}/cancel").status_code == status
    assert [(view.id, view.state) for view in recurring_payments(app)] == [(own.id, "active")]


def test_a_refused_occurrence_is_shown_on_the_page_in_the_persons_words(app: Flask) -> None:
    view = rent(app)
    with app.extensions["mutualcredit.sessions"]() as session:
        ledger.set_account_limits(session, "alpha", floor=0, ceiling=None, actor="t")
        report = recurring.run_due_recurring_payments(session, today=dt.date.today())
    assert [o.error_code for o in report.refused] == ["exceeds_floor"]
    page = text(client_as(app, "viewer_a").get("/co-ops/alpha/recurring"))
    assert "Refused on the last try: There is not enough available credit for this payment." in page
    assert view.description == ""


def test_an_unknown_co_op_is_not_found(app: Flask) -> None:
    admin = client_as(app, "admin")
    assert admin.get("/co-ops/nobody/recurring").status_code == 404
    assert admin.get("/co-ops/nobody/payments/bulk").status_code == 404
