"""Webhooks end to end: the API, the worker, and a real HTTP receiver on 127.0.0.1.

The receiver is a real ``http.server.ThreadingHTTPServer`` on a free port;
nothing of the HTTP part is mocked. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from conftest import set_up_region
from mutualcredit.ledger import service as ledger
from mutualcredit.tokens.service import create_token
from mutualcredit.webhooks.signing import verify
from mutualcredit.webhooks.worker import WorkerSettings, run_once, wake
from webapp import create_app

DEADLINE_S = 20  # a guard against hanging, not a speed requirement
ALL_EVENTS = ["transfer.posted", "transfer.pending", "request.created", "request.accepted"]


# ---------------------------------------------------------------------------
# A real receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """What the receiver answers (a script of statuses, then 200) and what it got."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int) -> list[Received]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"the receiver got {len(self.received)} requests, not {count}, within {DEADLINE_S} s")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers.items()), body, time.time()))
                status = state.statuses.pop(0) if state.statuses else 200
            payload = b"internal secrets" if status >= 400 else b"ok"
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/mutualcredit"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---------------------------------------------------------------------------
# The app, its tokens, and the worker


class Api:
    def __init__(self, app: Any, tokens: dict[str, str]) -> None:
        self.app = app
        self.client = app.test_client()
        self.tokens = tokens

    def call(self, method: str, path: str, token: str | None = "admin", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def sessions(self) -> Any:
        return self.app.extensions["mutualcredit.sessions"]

    def subscribe(self, url: str, events: list[str] | None = None, token: str = "admin", **body: Any) -> dict[str, Any]:
        response = self.call("POST", "/api/v1/webhooks", token, json={"url": url, "events": events or ALL_EVENTS, **body})
        assert response.status_code == 201, response.get_data(as_text=True)
        created: dict[str, Any] = response.get_json()
        return created

    def deliveries(self, subscription_id: str, token: str = "admin") -> list[dict[str, Any]]:
        response = self.call("GET", f"/api/v1/webhooks/{subscription_id}/deliveries", token)
        assert response.status_code == 200, response.get_data(as_text=True)
        found: list[dict[str, Any]] = response.get_json()
        return found


SETTINGS = WorkerSettings(retry_base_s=0.02, attempts_max=8, timeout_s=5, jitter_fraction=0)


def make_api(database_url: str, **config: Any) -> Api:
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "WEBHOOK_WORKER": False, **config})
    session: Session = app.extensions["mutualcredit.sessions"]()
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-50_000, 200_000), "gamma": (0, 50_000)})
    tokens = {
        "alpha": create_token(session, member_slug="alpha", scopes=["accounts:read"], created_by="t")[0],
        "beta": create_token(session, member_slug="beta", scopes=["accounts:read"], created_by="t")[0],
        "alpha_writer": create_token(session, member_slug="alpha", scopes=["transfers:write"], created_by="t")[0],
        "auditor": create_token(session, role="auditor", scopes=["accounts:read"], created_by="t")[0],
        "admin": create_token(session, role="admin", scopes=["admin"], created_by="t")[0],
    }
    session.close()
    return Api(app, tokens)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    client = make_api(database_url)
    yield client
    client.app.extensions["mutualcredit.sessions"].kw["bind"].dispose()


def pay(api: Api, payer: str, payee: str, amount_minor: int, **spec: Any) -> ledger.TransferResult:
    with api.sessions()() as session:
        return ledger.create_transfer(
            session,
            ledger.TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=amount_minor, **spec),
            created_by="test",
        )


def deliver_until(api: Api, done: Callable[[], bool], settings: WorkerSettings = SETTINGS) -> None:
    """Run the worker until ``done()`` (or fail after the deadline: a hang guard only)."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {DEADLINE_S} s")
        run_once(api.sessions(), settings)
        time.sleep(0.005)


def settled(api: Api, subscription_id: str, state: str | None = None) -> Callable[[], bool]:
    """Whether the subscription's one delivery exists and is no longer pending (or is in ``state``)."""

    def check() -> bool:
        found = api.deliveries(subscription_id)
        return bool(found) and (found[0]["state"] == state if state else found[0]["state"] != "pending")

    return check


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["type"] == f"/api/v1/problems/{code}", body
    return body


# ---------------------------------------------------------------------------
# Delivery to a real receiver


def test_a_transfer_made_through_the_ledger_is_delivered_signed_to_the_receiver(api: Api, receiver: Receiver) -> None:
    created = api.subscribe(receiver.url, ["transfer.posted"], description="accounting sync")
    transfer = pay(api, "alpha", "beta", 1_250, description="bread")

    deliver_until(api, lambda: len(receiver.received) >= 1)
    (got,) = receiver.received
    assert got.path == "/hooks/mutualcredit"
    assert verify(created["secret"], got.headers["Mutualcredit-Signature"], got.body, now=time.time())
    assert not verify(created["secret"], got.headers["Mutualcredit-Signature"], got.body + b" ", now=time.time())
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == "mutualcredit-webhooks/1"
    assert got.headers["Mutualcredit-Event"] == "transfer.posted"
    payload = json.loads(got.body)
    assert payload["type"] == "transfer.posted" and payload["region"] == "testland"
    assert payload["data"] | {"created_at": None} == {
        "id": str(transfer.id),
        "kind": "transfer",
        "state": "posted",
        "payer": "alpha",
        "payee": "beta",
        "amount": "12.50",
        "unit": "TST",
        "description": "bread",
        "metadata": {},
        "pending_id": None,
        "reverses_id": None,
        "expires_at": None,
        "created_at": None,
    }
    (delivery,) = api.deliveries(created["id"])
    assert got.headers["Mutualcredit-Delivery"] == delivery["id"]
    assert (delivery["state"], delivery["event_id"], delivery["attempt_count"]) == ("succeeded", payload["id"], 1)
    assert (delivery["last_status_code"], delivery["next_attempt_at"]) == (200, None)


def test_a_receiver_that_fails_twice_then_succeeds_gets_three_logged_attempts(api: Api, receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 200]
    created = api.subscribe(receiver.url, ["transfer.pending"])
    pay(api, "alpha", "beta", 300, pending=True)

    deliver_until(api, settled(api, created["id"]))
    (delivery,) = api.deliveries(created["id"])
    assert (delivery["state"], delivery["attempt_count"], delivery["last_status_code"]) == ("succeeded", 3, 200)
    assert [(a["number"], a["status_code"]) for a in delivery["attempts"]] == [(1, 500), (2, 500), (3, 200)]
    # The status line is logged, never the receiver's body.
    assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500 Internal Server Error"] * 2 + [None]
    assert delivery["completed_at"] is not None and delivery["next_attempt_at"] is None

    received = receiver.received
    assert len(received) == 3
    assert len({r.body for r in received}) == 1  # the same event each time
    assert {r.headers["Mutualcredit-Delivery"] for r in received} == {delivery["id"]}
    assert all(verify(created["secret"], r.headers["Mutualcredit-Signature"], r.body, now=r.at) for r in received)
    # Backing off: the second retry waited longer than the first (0.02 s, then 0.04 s at least).
    assert received[2].at - received[1].at >= 0.04
    assert received[1].at - received[0].at >= 0.02


def test_the_web_app_s_worker_thread_is_woken_by_wake_and_by_api_writes(database_url: str, receiver: Receiver) -> None:
    # A poll interval longer than the deadline: only a wake-up can deliver in time.
    api = make_api(database_url, WEBHOOK_WORKER=True, WEBHOOK_RETRY_BASE_S=0.02, WEBHOOK_POLL_INTERVAL_S=3_600)
    worker = api.app.extensions["mutualcredit.webhook_worker"]
    try:
        created = api.subscribe(receiver.url, ["transfer.posted"], member="beta")
        pay(api, "alpha", "beta", 100)  # through the service, not the API: nothing wakes the worker
        wake()
        (first,) = receiver.wait_for(1)
        assert verify(created["secret"], first.headers["Mutualcredit-Signature"], first.body, now=time.time())

        # An API write that records events wakes it once it has committed.
        paid = api.call("POST", "/api/v1/transfers", "alpha_writer", json={"payer": "alpha", "payee": "beta", "amount": "2.00"})
        assert paid.status_code == 201, paid.get_data(as_text=True)
        assert json.loads(receiver.wait_for(2)[1].body)["data"]["amount"] == "2.00"
    finally:
        worker.stop(timeout_s=10)
        api.app.extensions["mutualcredit.sessions"].kw["bind"].dispose()
    assert worker.is_stopping


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(api: Api, receiver: Receiver) -> None:
    receiver.statuses = [302]
    created = api.subscribe(receiver.url, ["transfer.posted"])
    pay(api, "alpha", "beta", 100)
    deliver_until(api, lambda: bool(api.deliveries(created["id"])) and api.deliveries(created["id"])[0]["attempt_count"] == 1)
    (delivery,) = api.deliveries(created["id"])
    assert (delivery["state"], delivery["last_status_code"], delivery["last_error"]) == ("pending", 302, "HTTP 302 Found")
    assert [r.path for r in receiver.received] == ["/hooks/mutualcredit"]  # /elsewhere was never asked


def test_a_member_s_subscription_receives_only_its_member_s_events(api: Api, receiver: Receiver) -> None:
    created = api.subscribe(receiver.url, ["transfer.posted"], token="alpha")
    assert created["member"] == "alpha"
    pay(api, "beta", "gamma", 100)  # alpha is no party
    mine = pay(api, "beta", "alpha", 200)
    deliver_until(api, lambda: len(receiver.received) >= 1)
    run_once(api.sessions(), SETTINGS)
    assert [json.loads(r.body)["data"]["id"] for r in receiver.received] == [str(mine.id)]


# ---------------------------------------------------------------------------
# The API and its errors


def test_creating_a_subscription_shows_its_secret_once(api: Api, receiver: Receiver) -> None:
    created = api.subscribe(receiver.url, ["request.accepted", "transfer.posted"], token="alpha", description="books")
    assert created["secret"].startswith("whsec_")
    assert created | {"id": None, "secret": None, "created_at": None} == {
        "id": None,
        "secret": None,
        "member": "alpha",
        "url": receiver.url,
        "events": ["transfer.posted", "request.accepted"],
        "description": "books",
        "active": True,
        "created_at": None,
        "deactivated_at": None,
    }
    shown = api.call("GET", f"/api/v1/webhooks/{created['id']}", "alpha").get_json()
    assert "secret" not in shown and shown["id"] == created["id"]
    assert "secret" not in api.call("GET", "/api/v1/webhooks", "alpha").get_json()[0]


def test_members_list_their_own_subscriptions_and_the_admin_lists_all(api: Api) -> None:
    alpha = api.subscribe("https://alpha.example/hook", token="alpha")
    beta = api.subscribe("https://beta.example/hook", token="beta")
    regional = api.subscribe("https://region.example/hook")
    assert [s["id"] for s in api.call("GET", "/api/v1/webhooks", "alpha").get_json()] == [alpha["id"]]
    assert {s["id"] for s in api.call("GET", "/api/v1/webhooks").get_json()} == {alpha["id"], beta["id"], regional["id"]}
    assert regional["member"] is None
    problem(api.call("GET", f"/api/v1/webhooks/{beta['id']}", "alpha"), 404, "webhook_subscription_not_found")
    problem(api.call("DELETE", f"/api/v1/webhooks/{beta['id']}", "alpha"), 404, "webhook_subscription_not_found")
    problem(api.call("GET", f"/api/v1/webhooks/{beta['id']}/deliveries", "alpha"), 404, "webhook_subscription_not_found")


def test_deleting_a_subscription_answers_204_and_keeps_it_listed_as_inactive(api: Api) -> None:
    created = api.subscribe("https://example.org/hook")
    for _ in range(2):
        response = api.call("DELETE", f"/api/v1/webhooks/{created['id']}")
        assert response.status_code == 204 and response.get_data() == b""
    shown = api.call("GET", f"/api/v1/webhooks/{created['id']}").get_json()
    assert shown["active"] is False and shown["deactivated_at"] is not None


def test_a_failed_delivery_can_be_retried_and_others_cannot(api: Api, receiver: Receiver) -> None:
    receiver.statuses = [503, 503]
    created = api.subscribe(receiver.url, ["transfer.posted"])
    pay(api, "alpha", "beta", 100)
    once = WorkerSettings(retry_base_s=0.02, attempts_max=1, timeout_s=5, jitter_fraction=0)
    deliver_until(api, settled(api, created["id"], "failed"), once)
    (failed,) = api.deliveries(created["id"])
    assert (failed["attempt_count"], failed["last_status_code"], failed["last_error"]) == (1, 503, "HTTP 503 Service Unavailable")

    retry = f"/api/v1/webhooks/{created['id']}/deliveries/{failed['id']}/retry"
    response = api.call("POST", retry)
    assert response.status_code == 202
    assert (response.get_json()["state"], response.get_json()["completed_at"]) == ("pending", None)
    problem(api.call("POST", retry), 409, "webhook_delivery_not_failed")
    deliver_until(api, settled(api, created["id"]), once)
    (again,) = api.deliveries(created["id"])
    assert (again["state"], [a["status_code"] for a in again["attempts"]]) == ("failed", [503, 503])

    receiver.statuses = []
    api.call("POST", retry)
    deliver_until(api, settled(api, created["id"]), once)
    assert api.deliveries(created["id"])[0]["state"] == "succeeded"
    filtered = api.call("GET", f"/api/v1/webhooks/{created['id']}/deliveries?state=failed").get_json()
    assert filtered == []

    problem(api.call("POST", f"/api/v1/webhooks/{created['id']}/deliveries/{uuid.uuid4()}/retry"), 404, "webhook_delivery_not_found")


def test_calls_without_a_valid_token_are_401(api: Api) -> None:
    problem(api.call("GET", "/api/v1/webhooks", None), 401, "unauthenticated")
    problem(api.call("POST", "/api/v1/webhooks", None, json={"url": "https://x.example/", "events": ALL_EVENTS}), 401, "unauthenticated")
    response = api.client.get("/api/v1/webhooks", headers={"Authorization": "Bearer mct_000000000000_" + "a" * 43})
    problem(response, 401, "unauthenticated")


def test_tokens_without_the_right_scope_or_member_are_403(api: Api) -> None:
    body = {"url": "https://x.example/", "events": ["transfer.posted"]}
    problem(api.call("GET", "/api/v1/webhooks", "alpha_writer"), 403, "not_allowed")  # no accounts:read
    problem(api.call("POST", "/api/v1/webhooks", "alpha_writer", json=body), 403, "not_allowed")
    problem(api.call("GET", "/api/v1/webhooks", "auditor"), 403, "not_allowed")  # regional, but no admin
    problem(api.call("POST", "/api/v1/webhooks", "auditor", json=body), 403, "not_allowed")
    problem(api.call("POST", "/api/v1/webhooks", "alpha", json={**body, "member": "beta"}), 403, "not_allowed")
    assert api.call("POST", "/api/v1/webhooks", "alpha", json={**body, "member": "alpha"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x.example/", "events": ["transfer.posted"]}, "url"),
        ({"url": "not a url", "events": ["transfer.posted"]}, "url"),
        ({"url": "https://x.example/" + "a" * 2_000, "events": ["transfer.posted"]}, "url"),
        ({"events": ["transfer.posted"]}, "url"),
        ({"url": "https://x.example/", "events": ["transfer.voided"]}, "events"),
        ({"url": "https://x.example/", "events": []}, "events"),
        ({"url": "https://x.example/", "events": "transfer.posted"}, "events"),
        ({"url": "https://x.example/", "events": ["transfer.posted"], "description": "x" * 201}, "description"),
        ({"url": "https://x.example/", "events": ["transfer.posted"], "surprise": 1}, "surprise"),
    ],
)
def test_invalid_subscriptions_are_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    found = problem(api.call("POST", "/api/v1/webhooks", json=body), 422, "invalid_request")
    assert field in found["errors"]["json"]


def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    response = api.call("POST", "/api/v1/webhooks", data="{not json", content_type="application/json")
    problem(response, 400, "bad_request")


def test_unknown_subscriptions_deliveries_and_malformed_ids_are_404(api: Api) -> None:
    problem(api.call("GET", f"/api/v1/webhooks/{uuid.uuid4()}"), 404, "webhook_subscription_not_found")
    problem(api.call("DELETE", f"/api/v1/webhooks/{uuid.uuid4()}"), 404, "webhook_subscription_not_found")
    problem(api.call("GET", f"/api/v1/webhooks/{uuid.uuid4()}/deliveries"), 404, "webhook_subscription_not_found")
    assert api.call("GET", "/api/v1/webhooks/not-a-uuid").status_code == 404
    problem(api.call("POST", "/api/v1/webhooks", json={"url": "https://x.example/", "events": ALL_EVENTS, "member": "nobody"}), 404, "member_not_found")


def test_a_deliveries_page_is_bounded(api: Api) -> None:
    created = api.subscribe("https://example.org/hook")
    path = f"/api/v1/webhooks/{created['id']}/deliveries"
    assert api.call("GET", f"{path}?limit=500").status_code == 200
    problem(api.call("GET", f"{path}?limit=501"), 422, "invalid_request")
    problem(api.call("GET", f"{path}?state=lost"), 422, "invalid_request")


def test_the_openapi_document_describes_the_webhook_resources(api: Api) -> None:
    document = api.client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert {
        "/api/v1/webhooks",
        "/api/v1/webhooks/{subscription_id}",
        "/api/v1/webhooks/{subscription_id}/deliveries",
        "/api/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/retry",
    } <= set(paths)
    assert set(paths["/api/v1/webhooks"]) >= {"get", "post"}
    assert "201" in paths["/api/v1/webhooks"]["post"]["responses"]
    assert "204" in paths["/api/v1/webhooks/{subscription_id}"]["delete"]["responses"]
    schemas = document["components"]["schemas"]
    assert "secret" in schemas["WebhookCreated"]["properties"]
    assert schemas["WebhookCreate"]["properties"]["events"]["items"]["enum"] == ALL_EVENTS
