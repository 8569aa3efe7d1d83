"""Resource pool pages, as coordinators and treasurers use them (SQLite and PostgreSQL).

The solver runs for real, in the background thread the page starts; the
tests follow its page until it stops refreshing itself.
"""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mutualcredit.ledger import service as ledger
from mutualcredit.pools import service as pools
from web_helpers import client_as, csrf_token, make_app

RUN_TIMEOUT_S = 60


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url, LOGIN_RATE_LIMIT="1000 per minute")


def post(client: FlaskClient, path: str, data: dict[str, Any], form_page: str = "/login") -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **data})


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def solve_from_the_page(coordinator: FlaskClient, reference: str) -> str:
    started = post(coordinator, f"/pools/rounds/{reference}/runs", {"reason": "weekly"}, f"/pools/rounds/{reference}")
    assert started.status_code == 303, started.get_data(as_text=True)
    run_page = started.headers["Location"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        page = coordinator.get(run_page).get_data(as_text=True)
        if 'http-equiv="refresh"' not in page:
            return page
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.05)


def test_a_priced_round_from_the_pages_needs_to_committed_payments(app: Flask) -> None:
    coordinator, alpha, beta = (client_as(app, role) for role in ("coordinator", "treasurer_a", "treasurer_b"))
    created = post(coordinator, "/pools/new", {
        "slug": "oil", "name": "Olive oil", "kind": "divisible", "unit": "l", "decimals": "1", "price": "2",
        "rule": "proportional", "review_window_hours": "0", "time_limit_s": "30",
    }, "/pools/new")
    assert created.status_code == 303 and created.headers["Location"] == "/pools/oil"
    opened = post(coordinator, "/pools/oil/rounds", {"title": "Winter oil"}, "/pools/oil")
    assert opened.status_code == 303
    assert post(coordinator, "/pools/rounds/oil-1/contributions", {"member": "beta", "quantity": "30", "paid": "y"},
                "/pools/rounds/oil-1").status_code == 303

    # A bad quantity is shown next to its field, with what was typed, and nothing is saved.
    refused = post(alpha, "/pools/rounds/oil-1/needs", {"member": "alpha", "desired": "lots", "tier": "1"})
    assert refused.status_code == 400
    assert "That is not a valid quantity." in text(refused) and 'value="lots"' in refused.get_data(as_text=True)
    with app.extensions["mutualcredit.sessions"]() as session:
        assert pools.list_needs(session, "oil-1") == []
    # alpha's treasurer cannot declare for beta.
    assert post(alpha, "/pools/rounds/oil-1/needs", {"member": "beta", "desired": "5", "tier": "1"}).status_code == 403
    assert post(alpha, "/pools/rounds/oil-1/needs", {"member": "alpha", "desired": "40", "tier": "1",
                                                     "justification": "The co-op kitchen"}).status_code == 303
    assert post(beta, "/pools/rounds/oil-1/needs", {"member": "beta", "desired": "20", "tier": "1"}).status_code == 303
    page = text(alpha.get("/pools/rounds/oil-1"))
    assert "Your needs" in page and "40.0 l" in page and "20.0 l" not in page  # only its own needs

    assert post(coordinator, "/pools/rounds/oil-1/close", {}).status_code == 303
    run_page = html.unescape(re.sub(r"<[^>]+>", " ", solve_from_the_page(coordinator, "oil-1")))
    assert "optimal" in run_page
    round_page = alpha.get("/pools/rounds/oil-1").get_data(as_text=True)
    assert "<svg" in round_page and "Declared against allocated for 2 co-ops" in html.unescape(round_page)
    # 30 l shared in proportion to 40 and 20 asked: 20 l and 10 l.
    assert "Your explanation" in text(alpha.get("/pools/rounds/oil-1"))
    assert "Explanation, need by need" in text(coordinator.get("/pools/rounds/oil-1"))

    assert post(coordinator, "/pools/rounds/oil-1/review", {}).status_code == 303
    committed = post(coordinator, "/pools/rounds/oil-1/commit", {})
    assert committed.status_code == 303
    session = app.extensions["mutualcredit.sessions"]()
    assert pools.get_round(session, "oil-1").state == "committed"
    # 20 l at 2.00 = 40.00 from alpha; 10 l = 20.00 from beta; beta is paid 60.00 for its 30 l.
    assert ledger.get_account(session, "alpha").balance == -4_000
    assert ledger.get_account(session, "beta").balance == -2_000 + 6_000
    session.close()
    assert "Beta received 60.00 T for its contribution." in text(alpha.get("/pools/rounds/oil-1"))
    exported = alpha.get("/pools/rounds/oil-1/input.json")
    assert exported.status_code == 200 and exported.get_json()["rule"] == "proportional"


def test_objections_are_taken_during_review_and_the_commit_waits_for_the_window(app: Flask) -> None:
    session = app.extensions["mutualcredit.sessions"]()
    pools.create_pool(session, slug="seed", name="Seed", kind="divisible", unit="kg", decimals=2,
                      policy=pools.PolicyInput(review_window_hours=48), actor="test")
    pools.open_round(session, "seed", actor="test")
    pools.add_contribution(session, "seed-1", member="beta", quantity_minor=1_000, actor="test")
    pools.declare_need(session, "seed-1", member="alpha", need=pools.NeedInput(2_000), actor="test")
    pools.close_round(session, "seed-1", actor="test")
    pools.run_round(session, "seed-1", actor="test")
    session.close()
    coordinator, alpha, viewer = (client_as(app, role) for role in ("coordinator", "treasurer_a", "viewer_a"))
    assert post(coordinator, "/pools/rounds/seed-1/review", {}).status_code == 303
    assert "Object" in text(alpha.get("/pools/rounds/seed-1"))
    assert post(viewer, "/pools/rounds/seed-1/objections", {"member": "alpha", "reason": "no"}).status_code == 403
    empty = post(alpha, "/pools/rounds/seed-1/objections", {"member": "alpha", "reason": ""})
    assert empty.status_code == 303 and "Say why you object." in text(alpha.get("/pools/rounds/seed-1"))
    assert post(alpha, "/pools/rounds/seed-1/objections", {"member": "alpha", "reason": "The school garden needs 20 kg"}).status_code == 303
    assert "The school garden needs 20 kg" in text(coordinator.get("/pools/rounds/seed-1"))
    refused = post(coordinator, "/pools/rounds/seed-1/commit", {})
    assert refused.status_code == 303
    assert "Members may still object" in text(coordinator.get("/pools/rounds/seed-1"))
    session = app.extensions["mutualcredit.sessions"]()
    assert pools.get_round(session, "seed-1").state == "review"
    session.close()


def test_a_slot_round_offers_its_slots_and_zones_and_keeps_every_run(app: Flask) -> None:
    coordinator, alpha = client_as(app, "coordinator"), client_as(app, "treasurer_a")
    post(coordinator, "/pools/new", {"slug": "vans", "name": "Vans", "kind": "slots", "unit": "van-day", "price": "0",
                                     "rule": "leximin", "review_window_hours": "0", "time_limit_s": "30"}, "/pools/new")
    post(coordinator, "/pools/vans/rounds", {"title": "Week 1"}, "/pools/vans")
    bad = post(coordinator, "/pools/rounds/vans-1/contributions", {"member": "beta", "slots": "n1, x, north"})
    assert bad.status_code == 303 and "whole numbers" in text(coordinator.get("/pools/rounds/vans-1"))
    post(coordinator, "/pools/rounds/vans-1/contributions",
         {"member": "beta", "slots": "n1, 1, north, 1, 2\nn2, 1, north, 2, 3\ns1, 1, south, 1, 2"})
    form = alpha.get("/pools/rounds/vans-1").get_data(as_text=True)
    assert 'value="n1"' in form and '<option value="south">south</option>' in form
    declared = post(alpha, "/pools/rounds/vans-1/needs",
                    {"member": "alpha", "desired": "2", "tier": "1", "zone": "north", "acceptable": ["n1", "n2"]})
    assert declared.status_code == 303
    post(coordinator, "/pools/rounds/vans-1/close", {})
    solve_from_the_page(coordinator, "vans-1")
    solve_from_the_page(coordinator, "vans-1")
    page = text(coordinator.get("/pools/rounds/vans-1"))
    assert "Run 1" in page and "Run 2" in page and "n1, n2" in page
