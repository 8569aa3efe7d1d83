"""Contract tests of invoices and clearing runs through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from mutualcredit.tokens.service import create_token
from test_api_ledger import Api, make_api, problem


@pytest.fixture
def api(database_url: str) -> Api:
    api = make_api(database_url)
    with api.session() as session:
        api.tokens["beta_payer"] = create_token(session, member_slug="beta", scopes=["transfers:write"], created_by="t")[0]
    return api


def invoice(api: Api, creditor: str, debtor: str, amount: str, number: str = "F-1", **extra: Any) -> Any:
    body = {"number": number, "debtor": debtor, "amount": amount, "due": "2026-12-31", **extra}
    return api.post("/api/v1/invoices", body, token=creditor)


def confirmed(api: Api, creditor: str, debtor: str, amount: str, number: str = "F-1") -> dict[str, Any]:
    created = invoice(api, creditor, debtor, amount, number).get_json()
    response = api.post(f"/api/v1/invoices/{created['id']}/confirm", token=debtor)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_an_invoice_is_recorded_by_its_creditor_and_confirmed_or_disputed_by_its_debtor(api: Api) -> None:
    created = invoice(api, "alpha", "beta", "120.00", description="Flour")
    assert created.status_code == 201
    body = created.get_json()
    assert (body["creditor"], body["debtor"], body["amount"], body["outstanding"], body["state"], body["unit"], body["due"]) == (
        "alpha", "beta", "120.00", "120.00", "recorded", "TST", "2026-12-31",
    )
    assert invoice(api, "alpha", "beta", "120.00", description="Flour").status_code == 200
    problem(invoice(api, "alpha", "beta", "121.00", description="Flour"), 409, "idempotency_conflict")
    problem(api.post(f"/api/v1/invoices/{body['id']}/confirm", token="alpha"), 403, "not_allowed")
    problem(api.post(f"/api/v1/invoices/{body['id']}/dispute", {"reason": ""}, token="beta"), 422, "invalid_request")
    disputed = api.post(f"/api/v1/invoices/{body['id']}/dispute", {"reason": "Short delivery"}, token="beta")
    assert disputed.get_json()["state"] == "disputed"
    assert api.post(f"/api/v1/invoices/{body['id']}/confirm", token="beta").get_json()["state"] == "confirmed"
    problem(api.get(f"/api/v1/invoices/{body['id']}", token="gamma"), 403, "not_allowed")
    assert [i["number"] for i in api.get("/api/v1/invoices?side=debtor", token="beta").get_json()] == ["F-1"]
    assert api.get("/api/v1/invoices?side=creditor", token="beta").get_json() == []


@pytest.mark.parametrize(
    ("token", "body", "status", "code"),
    [
        ("alpha", {"number": "X", "debtor": "alpha", "amount": "1", "due": "2026-12-31"}, 400, "invalid_input"),
        ("alpha", {"number": "X", "debtor": "nobody", "amount": "1", "due": "2026-12-31"}, 404, "member_not_found"),
        ("alpha", {"number": "X", "debtor": "beta", "amount": "1", "due": "31/12/2026"}, 422, "invalid_request"),
        ("alpha", {"number": "X", "debtor": "beta", "amount": 1, "due": "2026-12-31"}, 422, "invalid_request"),
        ("alpha_reader", {"number": "X", "debtor": "beta", "amount": "1", "due": "2026-12-31"}, 403, "not_allowed"),
        ("admin", {"number": "X", "debtor": "beta", "amount": "1", "due": "2026-12-31"}, 403, "not_allowed"),
    ],
)
def test_bad_invoices_are_refused(api: Api, token: str, body: dict[str, Any], status: int, code: str) -> None:
    problem(api.post("/api/v1/invoices", body, token=token), status, code)
    assert api.get("/api/v1/invoices", token="auditor").get_json() == []


def test_a_clearing_run_sets_off_the_cycle_once_and_each_member_reads_its_notice(api: Api) -> None:
    confirmed(api, "alpha", "beta", "100.00")
    confirmed(api, "beta", "gamma", "80.00")
    confirmed(api, "gamma", "alpha", "60.00")
    problem(api.post("/api/v1/clearing-runs", {"reference": "r1"}, token="alpha"), 403, "not_allowed")
    problem(api.post("/api/v1/clearing-runs", {"reference": "r1"}, token="auditor"), 403, "not_allowed")
    created = api.post("/api/v1/clearing-runs", {"reference": "r1"}, token="admin")
    assert created.status_code == 201 and created.headers["Location"] == "/api/v1/clearing-runs/r1"
    run = created.get_json()
    assert (run["td"], run["nid"], run["cleared"], run["remainder"], run["bound"]) == ("240.00", "40.00", "180.00", "60.00", "200.00")
    assert run["cycles"] == [{"position": 1, "members": ["alpha", "gamma", "beta"], "amount": "60.00"}]
    again = api.post("/api/v1/clearing-runs", {"reference": "r1"}, token="admin")
    assert again.status_code == 200 and again.get_json()["id"] == run["id"]
    assert api.get("/api/v1/clearing-runs/r1", token="gamma").get_json()["cleared"] == "180.00"
    notice = api.get("/api/v1/clearing-runs/r1/notice", token="alpha").get_json()
    assert sorted((l["side"], l["counterparty"], l["set_off"], l["outstanding_after"], l["settled"], l["cycles"]) for l in notice["lines"]) == [
        ("owed", "beta", "60.00", "40.00", "partly", [1]),
        ("owing", "gamma", "60.00", "0.00", "wholly", [1]),
    ]
    problem(api.get("/api/v1/clearing-runs/r1/notice?member=beta", token="alpha"), 403, "not_allowed")
    problem(api.get("/api/v1/clearing-runs/r1/notice", token="auditor"), 400, "invalid_input")
    assert api.get("/api/v1/clearing-runs/r1/notice?member=beta", token="auditor").get_json()["member"] == "beta"
    as_csv = api.get("/api/v1/clearing-runs/r1/notice.csv", token="gamma")
    assert as_csv.content_type.startswith("text/csv")
    assert {row["side"]: row["set_off"] for row in csv.DictReader(io.StringIO(as_csv.get_data(as_text=True)))} == {"owed": "60.00", "owing": "60.00"}
    problem(api.get("/api/v1/clearing-runs/nope", token="alpha"), 404, "clearing_run_not_found")


def test_the_debtor_settles_the_rest_in_credit_once(api: Api) -> None:
    made = confirmed(api, "alpha", "beta", "100.00")
    problem(api.post(f"/api/v1/invoices/{made['id']}/settle", token="alpha"), 403, "not_allowed")
    settled = api.post(f"/api/v1/invoices/{made['id']}/settle", token="beta_payer")
    assert settled.status_code == 201
    transfer = settled.get_json()
    assert (transfer["payer"], transfer["payee"], transfer["amount"], transfer["metadata"]["invoice"]) == ("beta", "alpha", "100.00", made["id"])
    again = api.post(f"/api/v1/invoices/{made['id']}/settle", token="beta_payer")
    assert again.status_code == 200 and again.get_json()["id"] == transfer["id"]
    assert api.balance("beta") == -10_000
    assert api.get(f"/api/v1/invoices/{made['id']}", token="alpha").get_json()["state"] == "settled"
    over = confirmed(api, "gamma", "beta", "450.00", number="G-1")
    problem(api.post(f"/api/v1/invoices/{over['id']}/settle", token="beta_payer"), 409, "exceeds_floor")
    assert api.get(f"/api/v1/invoices/{over['id']}", token="gamma").get_json()["outstanding"] == "450.00"
