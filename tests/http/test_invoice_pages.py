"""Invoice and clearing pages end to end: record, upload with preview, confirm, clear, notice, settle."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mutualcredit.invoices import service as invoices
from mutualcredit.ledger import service as ledger
from web_helpers import client_as, csrf_token, make_app


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url)


def post(client: FlaskClient, path: str, **data: object) -> object:
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def messages(client: FlaskClient) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'class="notice notice-\w+" role="(?:status|alert)">([^<]*)<', client.get("/invoices").get_data(as_text=True))]


def only_invoice(app: Flask, creditor: str) -> invoices.InvoiceView:
    with app.extensions["mutualcredit.sessions"]() as session:
        (view,) = invoices.list_invoices(session, member=creditor, side="creditor")
        return view


def test_a_treasurer_records_an_invoice_in_spanish_and_the_debtor_confirms_it(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    alpha.post("/account/language", data={"csrf_token": csrf_token(alpha), "language-locale": "es"})
    form = alpha.get("/invoices/new").get_data(as_text=True)
    assert "Registrar una factura" in form and "1.234,50" in form  # the example amount, in Spanish
    response = post(alpha, "/invoices/new", creditor="alpha", debtor="beta", number="F-7", amount="1.234,50", due="2026-12-31")
    assert response.status_code == 303
    view = only_invoice(app, "alpha")
    assert (view.amount_minor, view.state) == (123_450, "recorded")
    bad = post(alpha, "/invoices/new", creditor="alpha", debtor="beta", number="F-8", amount="12,345", due="2026-12-31")
    assert bad.status_code == 400 and "Ese importe no es válido" in html.unescape(bad.get_data(as_text=True))

    beta = client_as(app, "treasurer_b")
    page = beta.get("/invoices").get_data(as_text=True)
    assert "F-7" in page and f"/invoices/{view.id}/confirm" in page
    assert post(beta, f"/invoices/{view.id}/confirm").status_code == 303
    assert only_invoice(app, "alpha").state == "confirmed"
    assert "Invoice F-7 confirmed." in messages(beta)


def test_a_dispute_needs_a_reason_and_is_shown_to_the_creditor(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    post(alpha, "/invoices/new", creditor="alpha", debtor="beta", number="F-1", amount="10", due="2026-12-31")
    view = only_invoice(app, "alpha")
    beta = client_as(app, "treasurer_b")
    post(beta, f"/invoices/{view.id}/dispute", reason="")
    assert only_invoice(app, "alpha").state == "recorded"
    post(beta, f"/invoices/{view.id}/dispute", reason="Half the flour was wet")
    assert only_invoice(app, "alpha").state == "disputed"
    assert "Half the flour was wet" in alpha.get("/invoices").get_data(as_text=True)


def upload(client: FlaskClient, creditor: str, content: str) -> object:
    data = {"csrf_token": csrf_token(client), "creditor": creditor, "file": (io.BytesIO(content.encode()), "invoices.csv")}
    return client.post("/invoices/upload", data=data, content_type="multipart/form-data")


def test_an_uploaded_csv_is_previewed_with_every_row_error_and_recorded_only_when_clean(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    wrong = upload(alpha, "alpha", "number,debtor,amount,due\nA-1,beta,12.50,2026-12-01\nA-2,nobody,1,2026-12-01\nA-3,beta,abc,2026-12-01\n")
    page = html.unescape(wrong.get_data(as_text=True))
    assert wrong.status_code == 400
    assert "Line 3: no member 'nobody'" in page and "Line 4: 'abc' is not an amount" in page
    assert "Record these" not in page
    with app.extensions["mutualcredit.sessions"]() as session:
        assert invoices.list_invoices(session) == []
    good = upload(alpha, "alpha", "number,debtor,amount,due,description\nA-1,beta,12.50,2026-12-01,Bread\nA-2,beta,3,2026-12-02,\n")
    page = good.get_data(as_text=True)
    assert good.status_code == 200 and "Record these 2 invoices" in page
    content = html.unescape(re.search(r'name="content" type="hidden" value="([^"]*)"', page).group(1))
    with app.extensions["mutualcredit.sessions"]() as session:
        assert invoices.list_invoices(session) == []  # a preview records nothing
    assert post(alpha, "/invoices/upload/confirm", creditor="alpha", content=content).status_code == 303
    with app.extensions["mutualcredit.sessions"]() as session:
        assert [(v.number, v.amount_minor, v.description) for v in invoices.list_invoices(session)] == [("A-1", 1_250, "Bread"), ("A-2", 300, "")]


def test_a_coordinator_clears_and_each_treasurer_reads_and_downloads_its_notice_then_settles(app: Flask) -> None:
    alpha, beta, coordinator = (client_as(app, role) for role in ("treasurer_a", "treasurer_b", "coordinator"))
    post(alpha, "/invoices/new", creditor="alpha", debtor="beta", number="A-1", amount="100", due="2026-12-31")
    post(beta, "/invoices/new", creditor="beta", debtor="alpha", number="B-1", amount="60", due="2026-12-31")
    with app.extensions["mutualcredit.sessions"]() as session:
        for view in invoices.list_invoices(session):
            invoices.confirm_invoice(session, view.id, debtor=view.debtor, actor="test")
    assert post(alpha, "/clearing", reference="r1").status_code == 403
    started = post(coordinator, "/clearing", reference="r1")
    assert started.status_code == 303 and started.headers["Location"] == "/clearing/r1"
    again = post(coordinator, "/clearing", reference="r1")
    assert again.headers["Location"] == "/clearing/r1"
    run_page = html.unescape(coordinator.get("/clearing/r1").get_data(as_text=True))
    assert "120.00" in run_page and "Alpha → Beta → Alpha" in run_page  # 60 each way cancelled
    notice = html.unescape(alpha.get("/clearing/r1/notice/alpha").get_data(as_text=True))
    assert "wholly" in notice and "partly" in notice
    rows = list(csv.DictReader(io.StringIO(alpha.get("/clearing/r1/notice/alpha.csv").get_data(as_text=True))))
    assert sorted((r["invoice"], r["set_off"], r["outstanding_after"]) for r in rows) == [("A-1", "60.00", "40.00"), ("B-1", "60.00", "0.00")]
    assert alpha.get("/clearing/r1/notice/beta").status_code == 404

    a1 = only_invoice(app, "alpha")
    assert post(beta, f"/invoices/{a1.id}/settle").status_code == 303
    assert only_invoice(app, "alpha").state == "settled"
    with app.extensions["mutualcredit.sessions"]() as session:
        assert ledger.get_account(session, "beta").balance == -4_000
    post(beta, f"/invoices/{a1.id}/settle")  # a second click pays nothing more
    with app.extensions["mutualcredit.sessions"]() as session:
        assert ledger.get_account(session, "beta").balance == -4_000


def test_the_invoice_pages_are_translated(app: Flask) -> None:
    alpha = client_as(app, "treasurer_a")
    assert "Factures" in alpha.get("/invoices", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Compensaciones" in alpha.get("/clearing", headers={"Accept-Language": "es"}).get_data(as_text=True)


def test_an_unknown_invoice_is_404(app: Flask) -> None:
    beta = client_as(app, "treasurer_b")
    assert post(beta, f"/invoices/{uuid.uuid4()}/confirm").status_code == 404
