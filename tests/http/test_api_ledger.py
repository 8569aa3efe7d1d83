"""Contract tests of the API's ledger resources: every endpoint, its answers and its errors.

Each test runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import set_up_region
from mutualcredit.ledger import requests
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.ledger.models import Transfer
from mutualcredit.tokens.service import create_token
from webapp import create_app
from webapp.api.schemas import BatchResultSchema, TransferSchema

MEMBER_SCOPES = ["accounts:read", "transfers:write", "requests:write"]


class Api:
    """A test client that sends a named token and reads problem+json answers."""

    def __init__(self, app: Any, tokens: dict[str, str]) -> None:
        self.app = app
        self.client = app.test_client()
        self.tokens = tokens

    def _headers(self, token: str | None, key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, path: str, token: str | None = "alpha") -> Any:
        return self.client.get(path, headers=self._headers(token, None))

    def post(self, path: str, body: Any = None, token: str | None = "alpha", key: str | None = None) -> Any:
        return self.client.post(path, json=body, headers=self._headers(token, key))

    def session(self) -> Session:
        return self.app.extensions["mutualcredit.sessions"]()

    def transfer_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(Transfer)) or 0)

    def balance(self, code: str) -> int:
        with self.session() as session:
            return ledger.get_account(session, code).balance


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["type"] == f"/api/v1/problems/{code}", body
    assert body["status"] == status
    return body


def make_api(database_url: str, **config: Any) -> Api:
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, **config})
    session: Session = app.extensions["mutualcredit.sessions"]()
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-50_000, 200_000), "gamma": (0, 50_000)})
    tokens = {
        slug: create_token(session, member_slug=slug, scopes=MEMBER_SCOPES, created_by="t")[0]
        for slug in ("alpha", "beta", "gamma")
    }
    tokens["alpha_reader"] = create_token(session, member_slug="alpha", scopes=["accounts:read"], created_by="t")[0]
    tokens["auditor"] = create_token(session, role="auditor", scopes=["accounts:read"], created_by="t")[0]
    tokens["admin"] = create_token(session, role="admin", scopes=["admin"], created_by="t")[0]
    session.close()
    return Api(app, tokens)


@pytest.fixture
def api(database_url: str) -> Api:
    return make_api(database_url)


def pay(api: Api, amount: str = "12.50", token: str = "alpha", **fields: Any) -> Any:
    body = {"payer": token, "payee": "beta" if token != "beta" else "alpha", "amount": amount, **fields}
    return api.post("/api/v1/transfers", body, token=token)


def audit_passes(api: Api) -> bool:
    with api.session() as session:
        return run_audit(session).is_clean


# --- transfers ---------------------------------------------------------------


def test_a_transfer_is_created_with_201_a_location_and_decimal_strings(api: Api) -> None:
    response = pay(api, "12.50", description="Bread", metadata={"invoice": "F-1"})
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/transfers/{body['id']}"
    assert (body["payer"], body["payee"], body["amount"], body["unit"], body["state"], body["kind"]) == (
        "alpha", "beta", "12.50", "TST", "posted", "transfer",
    )
    assert body["metadata"] == {"invoice": "F-1"} and body["created_at"].endswith("Z")
    assert (api.balance("alpha"), api.balance("beta")) == (-1_250, 1_250)
    assert api.get(response.headers["Location"]).get_json() == body


def test_the_same_transfer_id_replays_with_200_and_other_content_is_409(api: Api) -> None:
    transfer_id = str(uuid.uuid4())
    assert pay(api, "5", id=transfer_id).status_code == 201
    again = pay(api, "5", id=transfer_id)
    assert again.status_code == 200 and again.get_json()["id"] == transfer_id
    problem(pay(api, "6", id=transfer_id), 409, "idempotency_conflict")
    assert api.transfer_count() == 1 and api.balance("alpha") == -500


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (12.5, "decimal string"),
        ("1.234", "At most 2 decimal places"),
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("-5", "Not a decimal amount"),
        ("1e3", "Not a decimal amount"),
        ("12,50", "Not a decimal amount"),
        ("NaN", "Not a decimal amount"),
        ("99999999999999999", "Not a decimal amount"),
    ],
)
def test_bad_amounts_are_422_with_the_field_error(api: Api, amount: Any, message: str) -> None:
    body = problem(pay(api, amount), 422, "invalid_request")
    assert any(message in text for text in body["errors"]["json"]["amount"])
    assert api.transfer_count() == 0


def test_missing_and_unknown_fields_are_422_and_bad_json_is_400(api: Api) -> None:
    body = problem(api.post("/api/v1/transfers", {"payee": "beta", "amount": "1", "colour": "red"}), 422, "invalid_request")
    assert set(body["errors"]["json"]) == {"payer", "colour"}
    raw = api.client.post(
        "/api/v1/transfers",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.tokens['alpha']}"},
    )
    assert raw.status_code == 400 and raw.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("token", "body", "status", "code"),
    [
        ("alpha", {"payer": "beta", "payee": "alpha", "amount": "1"}, 403, "not_allowed"),
        ("alpha_reader", {"payer": "alpha", "payee": "beta", "amount": "1"}, 403, "not_allowed"),
        ("auditor", {"payer": "alpha", "payee": "beta", "amount": "1"}, 403, "not_allowed"),
        ("admin", {"payer": "alpha", "payee": "beta", "amount": "1"}, 403, "not_allowed"),
        ("alpha", {"payer": "nobody", "payee": "beta", "amount": "1"}, 404, "account_not_found"),
        ("alpha", {"payer": "alpha", "payee": "nobody", "amount": "1"}, 404, "account_not_found"),
        ("alpha", {"payer": "alpha", "payee": "alpha", "amount": "1"}, 400, "same_account"),
        ("alpha", {"payer": "alpha", "payee": "beta", "amount": "1000.01"}, 409, "exceeds_floor"),
        ("alpha", {"payer": "alpha", "payee": "gamma", "amount": "500.01"}, 409, "exceeds_ceiling"),
        ("alpha", {"payer": "alpha", "payee": "beta", "amount": "1", "expires_at": "2030-01-01T00:00:00Z"}, 400, "invalid_input"),
    ],
)
def test_refused_transfers_get_a_stable_problem_type_and_change_nothing(
    api: Api, token: str, body: dict[str, Any], status: int, code: str
) -> None:
    problem(api.post("/api/v1/transfers", body, token=token), status, code)
    assert api.transfer_count() == 0 and api.balance("alpha") == 0


def test_a_refusal_for_limits_says_what_is_available_as_a_decimal_string(api: Api) -> None:
    body = problem(pay(api, "1000.01"), 409, "exceeds_floor")
    assert body["available"] == "1000.00"


def test_a_pending_transfer_is_posted_in_part_by_the_payee_and_the_rest_released(api: Api) -> None:
    held = pay(api, "30.00", pending=True, expires_at="2099-01-01T00:00:00Z").get_json()
    assert (held["state"], held["kind"], held["expires_at"]) == ("pending", "pending", "2099-01-01T00:00:00Z")
    alpha = api.get("/api/v1/accounts/alpha").get_json()
    assert (alpha["balance"], alpha["debits_pending"], alpha["available"]) == ("0.00", "30.00", "970.00")
    posted = api.post(f"/api/v1/transfers/{held['id']}/post", {"amount": "20.00"}, token="beta")
    assert posted.status_code == 201
    assert (posted.get_json()["kind"], posted.get_json()["amount"], posted.get_json()["pending_id"]) == ("post", "20.00", held["id"])
    assert (api.balance("alpha"), api.balance("beta")) == (-2_000, 2_000)
    assert api.get(f"/api/v1/transfers/{held['id']}").get_json()["state"] == "posted"
    again = api.post(f"/api/v1/transfers/{held['id']}/post", {"amount": "20.00"}, token="beta")
    assert again.status_code == 200 and again.get_json()["id"] == posted.get_json()["id"]
    problem(api.post(f"/api/v1/transfers/{held['id']}/void", {}), 409, "pending_transfer_already_posted")


def test_a_pending_transfer_is_voided_and_others_may_not_touch_it(api: Api) -> None:
    held = pay(api, "30.00", pending=True).get_json()
    problem(api.post(f"/api/v1/transfers/{held['id']}/post", {}, token="gamma"), 403, "not_allowed")
    problem(api.post(f"/api/v1/transfers/{held['id']}/void", {}, token="alpha_reader"), 403, "not_allowed")
    problem(api.post(f"/api/v1/transfers/{held['id']}/post", {"amount": "30.01"}), 409, "exceeds_pending_amount")
    voided = api.post(f"/api/v1/transfers/{held['id']}/void", {})
    assert voided.status_code == 201 and voided.get_json()["kind"] == "void"
    assert api.get("/api/v1/accounts/alpha").get_json()["available"] == "1000.00"
    problem(api.post(f"/api/v1/transfers/{uuid.uuid4()}/post", {}), 404, "transfer_not_found")
    posted = pay(api, "1").get_json()
    problem(api.post(f"/api/v1/transfers/{posted['id']}/void", {}), 409, "transfer_not_pending")


def test_the_payee_refunds_with_a_reversal_once_and_the_payer_cannot(api: Api) -> None:
    original = pay(api, "40.00").get_json()
    problem(api.post(f"/api/v1/transfers/{original['id']}/reverse", {}, token="alpha"), 403, "not_allowed")
    reversal = api.post(f"/api/v1/transfers/{original['id']}/reverse", {"description": "Refund"}, token="beta")
    assert reversal.status_code == 201
    body = reversal.get_json()
    assert (body["payer"], body["payee"], body["reverses_id"], body["description"]) == ("beta", "alpha", original["id"], "Refund")
    assert api.balance("alpha") == 0
    problem(api.post(f"/api/v1/transfers/{original['id']}/reverse", {}, token="beta"), 409, "cannot_reverse")


def test_reading_a_transfer_needs_being_party_to_it(api: Api) -> None:
    transfer = pay(api, "1").get_json()
    assert api.get(f"/api/v1/transfers/{transfer['id']}", token="beta").status_code == 200
    assert api.get(f"/api/v1/transfers/{transfer['id']}", token="auditor").status_code == 200
    problem(api.get(f"/api/v1/transfers/{transfer['id']}", token="gamma"), 403, "not_allowed")
    problem(api.get(f"/api/v1/transfers/{uuid.uuid4()}"), 404, "transfer_not_found")
    assert api.get("/api/v1/transfers/not-a-uuid").status_code == 404


def test_listing_pages_with_a_cursor_and_filters_and_shows_only_the_member_s_transfers(api: Api) -> None:
    made = [pay(api, f"{n}.00").get_json()["id"] for n in range(1, 8)]
    beta_to_gamma = api.post("/api/v1/transfers", {"payer": "beta", "payee": "gamma", "amount": "1"}, token="beta").get_json()
    held = pay(api, "2", pending=True).get_json()["id"]
    seen: list[str] = []
    cursor = None
    while True:
        page = api.get("/api/v1/transfers?limit=3" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*made, held]  # alpha's only, in order, none twice, none missed
    assert beta_to_gamma["id"] not in seen
    everything = api.get("/api/v1/transfers?limit=500", token="auditor").get_json()["items"]
    assert len(everything) == 9
    newest_first = api.get("/api/v1/transfers?order=desc&limit=2").get_json()
    assert [item["id"] for item in newest_first["items"]] == [held, made[-1]]
    older = api.get(f"/api/v1/transfers?order=desc&limit=2&cursor={newest_first['next_cursor']}").get_json()
    assert [item["id"] for item in older["items"]] == [made[-2], made[-3]]
    assert [i["id"] for i in api.get("/api/v1/transfers?state=pending").get_json()["items"]] == [held]
    assert len(api.get("/api/v1/transfers?kind=transfer&counterparty=beta").get_json()["items"]) == 7
    assert api.get("/api/v1/transfers?counterparty=gamma", token="beta").get_json()["items"][0]["id"] == beta_to_gamma["id"]
    assert api.get("/api/v1/transfers?since=2099-01-01T00:00:00Z").get_json()["items"] == []
    assert len(api.get("/api/v1/transfers?until=2099-01-01T00:00:00Z&limit=500").get_json()["items"]) == 8
    problem(api.get("/api/v1/transfers?account=beta"), 403, "not_allowed")
    problem(api.get("/api/v1/transfers?cursor=bm9wZQ"), 422, "invalid_request")
    problem(api.get("/api/v1/transfers?limit=0"), 422, "invalid_request")
    problem(api.get("/api/v1/transfers?state=lost"), 422, "invalid_request")
    problem(api.get("/api/v1/transfers?since=yesterday"), 422, "invalid_request")


# --- batches -----------------------------------------------------------------


def test_a_batch_gives_a_result_per_item(api: Api) -> None:
    items = [
        {"payer": "alpha", "payee": "beta", "amount": "1.00"},
        {"payer": "alpha", "payee": "beta", "amount": "5000.00"},
        {"payer": "alpha", "payee": "gamma", "amount": "2.00"},
    ]
    response = api.post("/api/v1/transfers/batch", {"transfers": items})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["applied"], body["failed"]) == (2, 1)
    assert [item["status"] for item in body["items"]] == ["created", "failed", "created"]
    assert body["items"][1]["error"]["type"] == "/api/v1/problems/exceeds_floor"
    assert api.balance("alpha") == -300
    again = api.post("/api/v1/transfers/batch", {"transfers": [{**items[0], "id": body["items"][0]["id"]}]})
    assert again.get_json()["items"][0]["status"] == "replayed"


def test_a_batch_answer_is_exactly_its_documented_schema(api: Api) -> None:
    """The view sends the answer it built without dumping it through the schema: the schema must not change it."""
    items = [
        {"payer": "alpha", "payee": "beta", "amount": "1.00", "metadata": {"order": 7}, "pending": True},
        {"payer": "alpha", "payee": "beta", "amount": "5000.00"},
        {"payer": "alpha", "payee": "gamma", "amount": "2.00", "description": "seeds"},
    ]
    body = api.post("/api/v1/transfers/batch", {"transfers": items}).get_json()
    assert BatchResultSchema().validate(body) == {}
    assert BatchResultSchema().dump(body) == body
    assert set(body["items"][0]["transfer"]) == set(TransferSchema().fields)


def test_an_atomic_batch_applies_nothing_when_one_item_fails(api: Api) -> None:
    items = [{"payer": "alpha", "payee": "beta", "amount": "1.00"}, {"payer": "alpha", "payee": "beta", "amount": "5000.00"}]
    body = problem(api.post("/api/v1/transfers/batch", {"transfers": items, "atomic": True}), 409, "batch_not_applied")
    assert [(e["index"], e["type"]) for e in body["errors"]] == [(1, "/api/v1/problems/exceeds_floor")]
    assert api.transfer_count() == 0
    ok = api.post("/api/v1/transfers/batch", {"transfers": items[:1] * 3, "atomic": True})
    assert ok.status_code == 200 and ok.get_json()["applied"] == 3 and api.balance("alpha") == -300


def test_a_batch_refuses_forged_payers_empty_and_oversized_batches(api: Api) -> None:
    forged = [{"payer": "alpha", "payee": "beta", "amount": "1"}, {"payer": "beta", "payee": "alpha", "amount": "1"}]
    problem(api.post("/api/v1/transfers/batch", {"transfers": forged}), 403, "not_allowed")
    problem(api.post("/api/v1/transfers/batch", {"transfers": []}), 422, "invalid_request")
    too_many = [{"payer": "alpha", "payee": "beta", "amount": "0.01"}] * 1001
    problem(api.post("/api/v1/transfers/batch", {"transfers": too_many}), 422, "invalid_request")
    assert api.transfer_count() == 0


# --- Idempotency-Key -----------------------------------------------------------


def test_the_same_idempotency_key_and_body_answer_the_first_response_once(api: Api) -> None:
    body = {"payer": "alpha", "payee": "beta", "amount": "7.00"}
    first = api.post("/api/v1/transfers", body, key="order-1")
    second = api.post("/api/v1/transfers", dict(reversed(list(body.items()))), key="order-1")
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json() and second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert api.transfer_count() == 1 and api.balance("alpha") == -700
    problem(api.post("/api/v1/transfers", {**body, "amount": "8.00"}, key="order-1"), 409, "idempotency_key_reused")
    problem(api.post("/api/v1/transfers/batch", {"transfers": [body]}, key="order-1"), 409, "idempotency_key_reused")
    # Keys belong to their token: beta's "order-1" is another request.
    assert api.post("/api/v1/transfers", {"payer": "beta", "payee": "alpha", "amount": "1"}, token="beta", key="order-1").status_code == 201


def test_an_error_answer_is_replayed_too_even_once_the_limits_would_allow_it(api: Api) -> None:
    refused = api.post("/api/v1/transfers", {"payer": "alpha", "payee": "beta", "amount": "1000.01"}, key="big")
    problem(refused, 409, "exceeds_floor")
    with api.session() as session:
        ledger.set_account_limits(session, "alpha", floor=-200_000, ceiling=None, actor="test")
    replay = api.post("/api/v1/transfers", {"payer": "alpha", "payee": "beta", "amount": "1000.01"}, key="big")
    assert replay.status_code == 409 and replay.get_json() == refused.get_json()
    assert api.transfer_count() == 0


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256])
def test_a_malformed_idempotency_key_is_400(api: Api, key: str) -> None:
    response = api.client.post(
        "/api/v1/transfers",
        json={"payer": "alpha", "payee": "beta", "amount": "1"},
        headers={"Authorization": f"Bearer {api.tokens['alpha']}", "Idempotency-Key": key.encode("utf-8").decode("latin-1")},
    )
    problem(response, 400, "invalid_idempotency_key")
    assert api.transfer_count() == 0


def test_a_key_derives_the_transfer_id_so_a_lost_answer_cannot_pay_twice(api: Api) -> None:
    body = {"payer": "alpha", "payee": "beta", "amount": "3.00"}
    first = api.post("/api/v1/transfers", body, key="lost-answer").get_json()
    with api.session() as session:  # the stored answer is lost, as if the process died before saving it
        session.execute(__import__("sqlalchemy").text("DELETE FROM idempotency_keys"))
        session.commit()
    again = api.post("/api/v1/transfers", body, key="lost-answer")
    assert again.status_code == 200 and again.get_json()["id"] == first["id"]
    assert api.transfer_count() == 1


# --- rate limits -------------------------------------------------------------


def test_each_token_has_its_own_rate_limit_with_headers_and_a_429_problem(database_url: str) -> None:
    api = make_api(database_url, API_RATE_LIMIT="3 per minute")
    answers = [api.get("/api/v1/accounts") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "3" and 0 < int(answers[0].headers["RateLimit-Reset"]) <= 61
    limited = problem(answers[3], 429, "too_many_requests")
    assert limited["status"] == 429 and 1 <= int(answers[3].headers["Retry-After"]) <= 61
    assert api.get("/api/v1/accounts", token="beta").status_code == 200


# --- payment requests -------------------------------------------------------


def request_payment(api: Api, amount: str = "25.00", **fields: Any) -> Any:
    return api.post("/api/v1/requests", {"payee": "beta", "payer": "alpha", "amount": amount, **fields}, token="beta")


def test_a_request_is_accepted_by_the_payer_once_and_pays_once(api: Api) -> None:
    created = request_payment(api, description="Invoice 7")
    assert created.status_code == 201
    request = created.get_json()
    assert (request["state"], request["amount"], request["unit"]) == ("open", "25.00", "TST")
    problem(api.post(f"/api/v1/requests/{request['id']}/accept", token="beta"), 403, "not_allowed")
    accepted = api.post(f"/api/v1/requests/{request['id']}/accept")
    assert accepted.status_code == 200 and accepted.get_json()["state"] == "accepted"
    transfer_id = accepted.get_json()["transfer_id"]
    assert api.post(f"/api/v1/requests/{request['id']}/accept").get_json()["transfer_id"] == transfer_id
    assert api.balance("alpha") == -2_500 and api.transfer_count() == 1
    assert api.get(f"/api/v1/transfers/{transfer_id}").get_json()["metadata"] == {"payment_request": request["id"]}
    problem(api.post(f"/api/v1/requests/{request['id']}/reject", {}), 409, "payment_request_not_open")


def test_requests_are_rejected_by_the_payer_and_cancelled_by_the_payee(api: Api) -> None:
    first = request_payment(api).get_json()
    problem(api.post(f"/api/v1/requests/{first['id']}/reject", {"reason": "no"}, token="beta"), 403, "not_allowed")
    rejected = api.post(f"/api/v1/requests/{first['id']}/reject", {"reason": "Not ordered"})
    assert (rejected.get_json()["state"], rejected.get_json()["reason"]) == ("rejected", "Not ordered")
    second = request_payment(api).get_json()
    problem(api.post(f"/api/v1/requests/{second['id']}/cancel", {}), 403, "not_allowed")
    assert api.post(f"/api/v1/requests/{second['id']}/cancel", {}, token="beta").get_json()["state"] == "cancelled"
    problem(api.post(f"/api/v1/requests/{second['id']}/accept"), 409, "payment_request_not_open")
    assert api.transfer_count() == 0


def test_an_open_request_past_its_expiry_reads_as_expired_and_cannot_be_accepted(api: Api) -> None:
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    with api.session() as session:
        overdue = requests.create_payment_request(
            session, id=uuid.uuid4(), payee="beta", payer="alpha", amount_minor=500,
            expires_at=past + dt.timedelta(days=1), created_by="t", now=past,
        )
    assert api.get(f"/api/v1/requests/{overdue.id}").get_json()["state"] == "expired"
    problem(api.post(f"/api/v1/requests/{overdue.id}/accept"), 409, "payment_request_not_open")
    assert api.transfer_count() == 0


def test_requests_are_sent_only_from_one_s_own_account_and_read_only_by_their_parties(api: Api) -> None:
    problem(api.post("/api/v1/requests", {"payee": "alpha", "payer": "gamma", "amount": "1"}, token="beta"), 403, "not_allowed")
    problem(api.post("/api/v1/requests", {"payee": "beta", "payer": "alpha", "amount": "1"}, token="auditor"), 403, "not_allowed")
    problem(api.post("/api/v1/requests", {"payee": "beta", "payer": "nobody", "amount": "1"}, token="beta"), 404, "account_not_found")
    problem(api.post("/api/v1/requests", {"payee": "beta", "payer": "alpha", "amount": "1.001"}, token="beta"), 422, "invalid_request")
    request = request_payment(api).get_json()
    problem(api.get(f"/api/v1/requests/{request['id']}", token="gamma"), 403, "not_allowed")
    problem(api.get(f"/api/v1/requests/{uuid.uuid4()}"), 404, "payment_request_not_found")
    assert [r["id"] for r in api.get("/api/v1/requests").get_json()] == [request["id"]]
    assert api.get("/api/v1/requests", token="gamma").get_json() == []
    assert [r["id"] for r in api.get("/api/v1/requests?state=open", token="auditor").get_json()] == [request["id"]]
    same = api.post("/api/v1/requests", {"id": request["id"], "payee": "beta", "payer": "alpha", "amount": "25.00"}, token="beta")
    assert same.status_code == 200


# --- statements, accounts, members ---------------------------------------------


def test_the_statement_has_running_balances_in_json_and_csv_and_pages(api: Api) -> None:
    for amount in ("10.00", "2.50", "0.25"):
        pay(api, amount)
    api.post("/api/v1/transfers", {"payer": "beta", "payee": "alpha", "amount": "1.00"}, token="beta")
    statement = api.get("/api/v1/accounts/alpha/statement").get_json()
    assert statement["unit"] == "TST" and statement["next_cursor"] is None
    assert [(line["amount"], line["balance_after"]) for line in statement["lines"]] == [
        ("-10.00", "-10.00"), ("-2.50", "-12.50"), ("-0.25", "-12.75"), ("1.00", "-11.75"),
    ]
    first = api.get("/api/v1/accounts/alpha/statement?limit=3").get_json()
    rest = api.get(f"/api/v1/accounts/alpha/statement?limit=3&cursor={first['next_cursor']}").get_json()
    assert [line["balance_after"] for line in first["lines"] + rest["lines"]] == ["-10.00", "-12.50", "-12.75", "-11.75"]
    response = api.get("/api/v1/accounts/alpha/statement.csv")
    assert response.status_code == 200 and response.content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(row["counterparty"], row["amount"], row["balance_after"], row["unit"]) for row in rows][-1] == ("beta", "1.00", "-11.75", "TST")
    problem(api.get("/api/v1/accounts/beta/statement"), 403, "not_allowed")
    problem(api.get("/api/v1/accounts/beta/statement.csv"), 403, "not_allowed")
    problem(api.get("/api/v1/accounts/nobody/statement", token="auditor"), 404, "account_not_found")


def test_a_member_opens_a_further_account_without_credit_and_an_admin_opens_any(api: Api) -> None:
    opened = api.post("/api/v1/accounts", {"code": "alpha:scheme", "name": "Alpha's scheme"})
    assert opened.status_code == 201 and opened.headers["Location"] == "/api/v1/accounts/alpha:scheme"
    assert (opened.get_json()["member"], opened.get_json()["floor"], opened.get_json()["ceiling"]) == ("alpha", "0.00", None)
    problem(api.post("/api/v1/accounts", {"code": "alpha:scheme", "name": "again"}), 409, "already_exists")
    problem(api.post("/api/v1/accounts", {"code": "alpha:credit", "name": "x", "floor": "-100"}), 403, "not_allowed")
    problem(api.post("/api/v1/accounts", {"code": "beta:mine", "name": "x", "member": "beta"}), 403, "not_allowed")
    problem(api.post("/api/v1/accounts", {"code": "Bad Code", "name": "x"}), 422, "invalid_request")
    problem(api.post("/api/v1/accounts", {"code": "audit:x", "name": "x", "kind": "pool"}, token="auditor"), 403, "not_allowed")
    pool = api.post("/api/v1/accounts", {"code": "pool:van", "name": "Van pool", "kind": "pool", "floor": "-50.00"}, token="admin")
    assert pool.status_code == 201 and pool.get_json()["floor"] == "-50.00"
    credit = api.post("/api/v1/accounts", {"code": "gamma:2", "name": "x", "member": "gamma", "floor": "-10.00"}, token="admin")
    assert credit.status_code == 201 and credit.get_json()["member"] == "gamma"
    assert [a["code"] for a in api.get("/api/v1/accounts").get_json()] == ["alpha", "alpha:scheme"]
    assert pay(api, "1", payer="alpha:scheme").status_code == 409  # no credit on it


def test_members_are_listed_for_every_token_and_unknown_ones_are_404(api: Api) -> None:
    members = api.get("/api/v1/members", token="gamma").get_json()
    assert [(m["slug"], m["accounts"], m["status"]) for m in members] == [
        ("alpha", ["alpha"], "active"), ("beta", ["beta"], "active"), ("gamma", ["gamma"], "active"),
    ]
    assert api.get("/api/v1/members/beta").get_json()["name"] == "Beta"
    problem(api.get("/api/v1/members/nobody"), 404, "member_not_found")


def test_the_ledger_audits_clean_after_api_traffic(api: Api) -> None:
    pay(api, "10")
    held = pay(api, "5", pending=True).get_json()
    api.post(f"/api/v1/transfers/{held['id']}/post", {"amount": "2"})
    api.post("/api/v1/transfers/batch", {"transfers": [{"payer": "alpha", "payee": "gamma", "amount": "3"}] * 5})
    request = request_payment(api).get_json()
    api.post(f"/api/v1/requests/{request['id']}/accept")
    assert audit_passes(api)
    assert api.balance("alpha") + api.balance("beta") + api.balance("gamma") + api.balance("commons") == 0


def test_old_idempotency_keys_are_purged_and_recent_ones_kept(api: Api) -> None:
    import datetime as dt

    from mutualcredit.idempotency.service import purge

    first = api.post("/api/v1/transfers", {"payer": "alpha", "payee": "beta", "amount": "1"}, key="recent").get_json()
    with api.session() as session:
        assert purge(session) == 0
        assert purge(session, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25)) == 1
    again = api.post("/api/v1/transfers", {"payer": "alpha", "payee": "beta", "amount": "1"}, key="recent")
    # The stored answer is gone, but the key still names the same transfer id: the ledger replays it.
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["id"] == first["id"] and api.transfer_count() == 1
