"""Contract tests of pools, rounds, needs, runs, results and objections through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mutualcredit.tokens.service import create_token
from test_api_ledger import Api, make_api, problem

POLL_TIMEOUT_S = 60


@pytest.fixture
def api(database_url: str) -> Api:
    api = make_api(database_url)
    with api.session() as session:
        for slug in ("alpha", "beta", "gamma"):
            api.tokens[f"{slug}_pools"] = create_token(session, member_slug=slug, scopes=["pools:write"], created_by="t")[0]
    return api


def patch(api: Api, path: str, body: Any, token: str) -> Any:
    return api.client.patch(path, json=body, headers={"Authorization": f"Bearer {api.tokens[token]}"})


def delete(api: Api, path: str, token: str) -> Any:
    return api.client.delete(path, headers={"Authorization": f"Bearer {api.tokens[token]}"})


def seed_pool(api: Api, **policy: Any) -> None:
    body = {"slug": "seed", "name": "Seed bank", "kind": "divisible", "unit": "kg", "decimals": 2, "rule": "leximin",
            "review_window_hours": 0, **policy}
    created = api.post("/api/v1/pools", body, token="admin")
    assert created.status_code == 201, created.get_json()
    opened = api.post("/api/v1/pools/seed/rounds", {"title": "December"}, token="admin")
    assert opened.status_code == 201 and opened.headers["Location"] == "/api/v1/rounds/seed-1"


def solved(api: Api, reference: str) -> dict[str, Any]:
    """Close, start a run in the background and poll it until it is done."""
    assert api.post(f"/api/v1/rounds/{reference}/close", token="admin").get_json()["state"] == "closed"
    started = api.post(f"/api/v1/rounds/{reference}/runs", {"reason": "monthly"}, token="admin")
    assert started.status_code == 202, started.get_json()
    location = started.headers["Location"]
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while True:
        run = api.get(location, token="auditor").get_json()
        if run["state"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert run["state"] == "done", run
    return run


def test_a_round_through_the_api_from_needs_to_a_committed_priced_result(api: Api) -> None:
    seed_pool(api, price="1.50")
    pool = api.get("/api/v1/pools/seed", token="alpha_pools").get_json()
    assert (pool["price"], pool["currency"], pool["account"], pool["balance"]) == ("1.50", "TST", "pool:seed", "0.00")
    contributed = api.post("/api/v1/rounds/seed-1/contributions", {"member": "gamma", "quantity": "100.00", "paid": True},
                           token="admin")
    assert contributed.status_code == 201 and contributed.get_json()["quantity"] == "100.00"
    declared = api.post("/api/v1/rounds/seed-1/needs", {"desired": "80.00", "minimum": "20.00",
                                                        "justification": "Sowing"}, token="alpha_pools", key="k1")
    assert declared.status_code == 201, declared.get_json()
    need = declared.get_json()
    assert (need["member"], need["desired"], need["minimum"], need["unit"]) == ("alpha", "80.00", "20.00", "kg")
    # The same key answers the same need; another body with it is a conflict.
    assert api.post("/api/v1/rounds/seed-1/needs", {"desired": "80.00", "minimum": "20.00", "justification": "Sowing"},
                    token="alpha_pools", key="k1").status_code == 201
    problem(api.post("/api/v1/rounds/seed-1/needs", {"desired": "81.00"}, token="alpha_pools", key="k1"), 409,
            "idempotency_key_reused")
    api.post("/api/v1/rounds/seed-1/needs", {"desired": "60.00"}, token="beta_pools")
    changed = patch(api, f"/api/v1/needs/{need['id']}", {"desired": "40.00", "tier": 1}, "alpha_pools")
    assert changed.status_code == 200 and changed.get_json()["desired"] == "40.00"
    assert [n["member"] for n in api.get("/api/v1/rounds/seed-1/needs", token="alpha_pools").get_json()] == ["alpha"]
    assert len(api.get("/api/v1/rounds/seed-1/needs", token="auditor").get_json()) == 2
    problem(api.get("/api/v1/rounds/seed-1/result", token="alpha_pools"), 409, "no_valid_result")
    run = solved(api, "seed-1")
    assert (run["number"], run["status"], run["reason"]) == (1, "optimal", "monthly")
    result = api.get("/api/v1/rounds/seed-1/result", token="beta_pools").get_json()
    # 100 kg for 40 + 60 asked: everyone is served in full.
    assert {line["member"]: line["allocated"] for line in result["lines"]} == {"alpha": "40.00", "beta": "60.00"}
    assert result["status"] == "optimal" and result["unit"] == "kg"
    exported = api.get("/api/v1/rounds/seed-1/export", token="gamma_pools").get_json()
    assert exported["rule"] == "leximin" and exported["resources"] == [{"id": "seed", "quantity": "100.00"}]
    assert api.post("/api/v1/rounds/seed-1/review", token="admin").get_json()["state"] == "review"
    committed = api.post("/api/v1/rounds/seed-1/commit", token="admin")
    assert committed.status_code == 200 and committed.get_json()["state"] == "committed"
    # 40 kg and 60 kg at 1.50: 60.00 and 90.00 to the pool, 150.00 to gamma for its paid contribution.
    assert (api.balance("alpha"), api.balance("beta"), api.balance("gamma"), api.balance("pool:seed")) == (
        -6_000, -9_000, 15_000, 0,
    )


def test_objections_are_taken_from_members_during_review_only(api: Api) -> None:
    seed_pool(api, review_window_hours=24)
    api.post("/api/v1/rounds/seed-1/contributions", {"member": "gamma", "quantity": "10"}, token="admin")
    api.post("/api/v1/rounds/seed-1/needs", {"desired": "20"}, token="alpha_pools")
    problem(api.post("/api/v1/rounds/seed-1/objections", {"reason": "too early"}, token="alpha_pools"), 409,
            "round_not_in_state")
    solved(api, "seed-1")
    api.post("/api/v1/rounds/seed-1/review", token="admin")
    problem(api.post("/api/v1/rounds/seed-1/objections", {"reason": ""}, token="alpha_pools"), 422, "invalid_request")
    problem(api.post("/api/v1/rounds/seed-1/objections", {"reason": "x"}, token="auditor"), 403, "not_allowed")
    created = api.post("/api/v1/rounds/seed-1/objections", {"reason": "We need it for the school"}, token="alpha_pools")
    assert created.status_code == 201 and created.get_json()["member"] == "alpha"
    assert api.get("/api/v1/rounds/seed-1/objections", token="beta_pools").get_json() == []
    assert len(api.get("/api/v1/rounds/seed-1/objections", token="auditor").get_json()) == 1
    problem(api.post("/api/v1/rounds/seed-1/commit", token="admin"), 409, "review_not_over")
    # A re-run after objections takes the round back to a draft; both runs are kept.
    rerun = api.post("/api/v1/rounds/seed-1/runs", {"reason": "objection"}, token="admin")
    assert rerun.status_code == 202
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while api.get(rerun.headers["Location"], token="auditor").get_json()["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [run["number"] for run in api.get("/api/v1/rounds/seed-1/runs", token="auditor").get_json()] == [1, 2]
    assert api.get("/api/v1/rounds/seed-1", token="auditor").get_json()["state"] == "solved"


def test_a_slot_pool_takes_slots_and_whole_counts(api: Api) -> None:
    api.post("/api/v1/pools", {"slug": "vans", "name": "Vans", "kind": "slots", "unit": "van-day", "price": "20"},
             token="admin")
    api.post("/api/v1/pools/vans/rounds", {}, token="admin")
    slots = [{"id": "n1", "zone": "north", "start": 1, "end": 2}, {"id": "s1", "zone": "south", "start": 1, "end": 2}]
    assert api.post("/api/v1/rounds/vans-1/contributions", {"member": "beta", "slots": slots, "paid": True},
                    token="admin").status_code == 201
    problem(api.post("/api/v1/rounds/vans-1/needs", {"desired": "1.5"}, token="alpha_pools"), 422, "invalid_pool_input")
    need = api.post("/api/v1/rounds/vans-1/needs", {"desired": "1", "zone": "south", "window": [1, 3]}, token="alpha_pools")
    assert need.status_code == 201 and need.get_json()["desired"] == "1"
    solved(api, "vans-1")
    (line,) = api.get("/api/v1/rounds/vans-1/result", token="alpha_pools").get_json()["lines"]
    assert (line["allocated"], line["slots"]) == ("1", ["s1"])


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "status", "code"),
    [
        ("post", "/api/v1/pools", {"slug": "x", "name": "X", "kind": "slots", "unit": "u"}, "alpha", 403, "not_allowed"),
        ("post", "/api/v1/pools", {"slug": "x", "name": "X", "kind": "slots", "unit": "u"}, "auditor", 403, "not_allowed"),
        ("post", "/api/v1/pools", {"slug": "Bad slug", "name": "X", "kind": "slots", "unit": "u"}, "admin", 422, "invalid_request"),
        ("post", "/api/v1/pools", {"slug": "seed", "name": "X", "kind": "slots", "unit": "u"}, "admin", 409, "already_exists"),
        ("post", "/api/v1/pools", {"slug": "y", "name": "Y", "kind": "slots", "unit": "u", "price": "0.001"}, "admin", 422, "invalid_pool_input"),
        ("post", "/api/v1/pools", {"slug": "y", "name": "Y", "kind": "slots", "unit": "u", "weights": {"nobody": "2"}}, "admin", 404, "member_not_found"),
        ("get", "/api/v1/pools/nope", None, "alpha", 404, "pool_not_found"),
        ("get", "/api/v1/rounds/nope-1", None, "alpha", 404, "round_not_found"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": 12.5}, "alpha_pools", 422, "invalid_request"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": "12.505"}, "alpha_pools", 422, "invalid_pool_input"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": "2", "minimum": "3"}, "alpha_pools", 422, "invalid_pool_input"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": "2", "zone": "north"}, "alpha_pools", 422, "invalid_pool_input"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": "2", "unknown": 1}, "alpha_pools", 422, "invalid_request"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": "2"}, "alpha", 403, "not_allowed"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": "2"}, "admin", 403, "not_allowed"),
        ("post", "/api/v1/rounds/seed-1/needs", {"desired": "2"}, None, 401, "unauthenticated"),
        ("post", "/api/v1/rounds/seed-1/runs", {}, "admin", 409, "round_not_in_state"),
        ("post", "/api/v1/rounds/seed-1/close", None, "alpha_pools", 403, "not_allowed"),
        ("post", "/api/v1/rounds/seed-1/commit", None, "admin", 409, "round_not_in_state"),
        ("post", "/api/v1/rounds/seed-1/contributions", {"member": "gamma", "quantity": "1", "slots": [{"id": "a"}]}, "admin", 422, "invalid_pool_input"),
        ("get", "/api/v1/rounds/seed-1/runs/7", None, "alpha", 404, "run_not_found"),
        ("get", "/api/v1/needs/00000000-0000-0000-0000-000000000000", None, "alpha", 404, "need_not_found"),
    ],
)
def test_bad_requests_get_a_problem_and_change_nothing(
    api: Api, method: str, path: str, body: Any, token: str | None, status: int, code: str
) -> None:
    seed_pool(api)
    before = api.get("/api/v1/rounds/seed-1", token="auditor").get_json()
    response = api.client.open(path, method=method.upper(), json=body,
                               headers={"Authorization": f"Bearer {api.tokens[token]}"} if token else {})
    problem(response, status, code)
    after = api.get("/api/v1/rounds/seed-1", token="auditor").get_json()
    assert after == before
    assert [pool["slug"] for pool in api.get("/api/v1/pools", token="auditor").get_json()] == ["seed"]


def test_a_member_edits_and_withdraws_only_its_own_needs(api: Api) -> None:
    seed_pool(api)
    need = api.post("/api/v1/rounds/seed-1/needs", {"desired": "5"}, token="alpha_pools").get_json()
    problem(patch(api, f"/api/v1/needs/{need['id']}", {"desired": "6"}, "beta_pools"), 404, "need_not_found")
    problem(delete(api, f"/api/v1/needs/{need['id']}", "beta_pools"), 404, "need_not_found")
    problem(api.get(f"/api/v1/needs/{need['id']}", token="beta_pools"), 404, "need_not_found")
    assert delete(api, f"/api/v1/needs/{need['id']}", "alpha_pools").status_code == 204
    assert api.get("/api/v1/rounds/seed-1/needs", token="auditor").get_json() == []
