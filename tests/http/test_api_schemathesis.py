"""Every operation of /api/v1/openapi.json, fuzzed by schemathesis, answers as the document says.

Schemathesis reads the API's own OpenAPI document and, for each operation,
sends a fixed number of generated requests (valid and invalid: boundary
values, missing and extra fields, wrong types) to the app in-process, on
SQLite and on PostgreSQL, as a member (all member scopes) and as a regional
admin. Every answer must be no 5xx, a documented status code, with the
documented content type, a body that validates against the documented
schema, and documented headers; an operation that declares authentication
must refuse a request without it. Generation is derandomized, so a run
repeats the previous one exactly.

So that requests get past "404 not found" and "422", about two in three
generated values of fields that name something (path parameters, account
codes, members) or must be well-formed (amounts, URLs) are replaced with
ones that exist or are valid, chosen from the generated value, so the run
stays deterministic. The checks of how strictly requests are validated
(schemathesis' positive_data_acceptance and negative_data_rejection) are
left out: they judge the request side, not the answers.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from conftest import fresh_postgres_database, set_up_region
from mutualcredit import schema as database_schema
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger import requests as payment_requests
from mutualcredit.pools import service as pools
from mutualcredit.tokens.service import create_token
from webapp import create_app

EXAMPLES_PER_OPERATION = 10
MEMBER_SCOPES = ["accounts:read", "transfers:write", "requests:write", "pools:write"]
# These two judge how strictly requests are validated, not whether answers
# conform; and they would misjudge cases this test points at existing things.
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.negative_data_rejection]
APP_CONFIG = {"TESTING": True, "API_RATE_LIMIT": "1000000 per minute", "WEBHOOK_WORKER": False}


class CurrentApp:
    """The WSGI app under test: at import the one that serves the document, then each backend's in turn.

    Schemathesis binds a schema to one app; its own probes (a request
    without the token, for instance) go there too, in-process.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


# Building the document touches no database.
CURRENT_APP = CurrentApp(create_app({**APP_CONFIG, "DATABASE_URL": "sqlite://"}))
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", CURRENT_APP)
schema.config.generation.update(deterministic=True, max_examples=EXAMPLES_PER_OPERATION)


@dataclass
class World:
    """An app on a seeded database, its callers' tokens, and values that exist in it."""

    app: Flask
    tokens: dict[str, str]
    known: dict[str, list[Any]] = field(default_factory=dict)
    keys_sent: int = 0


def seed(app: Flask) -> World:
    session = app.extensions["mutualcredit.sessions"]()
    try:
        set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, 200_000), "gamma": (0, 50_000)})
        posted = ledger.create_transfer(
            session, ledger.TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=1_250), created_by="t"
        )
        pending = ledger.create_transfer(
            session,
            ledger.TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=500, pending=True),
            created_by="t",
        )
        request = payment_requests.create_payment_request(
            session, id=uuid.uuid4(), payee="beta", payer="alpha", amount_minor=300, description="", created_by="t"
        )
        pools.create_pool(session, slug="seed", name="Seed", kind="divisible", unit="kg", decimals=2, actor="t")
        pools.open_round(session, "seed", actor="t")
        pools.add_contribution(session, "seed-1", member="gamma", quantity_minor=1_000, actor="t")
        need = pools.declare_need(session, "seed-1", member="alpha", need=pools.NeedInput(500), actor="t")
        tokens = {
            "member": create_token(session, member_slug="alpha", scopes=MEMBER_SCOPES, created_by="t")[0],
            "admin": create_token(session, role="admin", scopes=["admin"], created_by="t")[0],
        }
    finally:
        session.close()
    known: dict[str, list[Any]] = {
        "code": ["alpha", "beta", "gamma"],
        "slug": ["alpha", "beta", "seed"],
        "transfer_id": [str(posted.id), str(pending.id)],
        "request_id": [str(request.id)],
        "payer": ["alpha"],
        "payee": ["beta", "gamma"],
        "debtor": ["beta", "gamma"],
        "account": ["alpha", "beta"],
        "counterparty": ["beta"],
        "member": ["alpha", None],
        "amount": ["1.00", "0.25", "12.50"],
        "floor": ["0", None],
        "ceiling": [None],
        "url": ["https://scheme.example/hooks"],
        "expires_at": [None],
        "reference": ["seed-1"],
        "need_id": [str(need.id)],
        "number": [1],
        "desired": ["2.50", "1"],
        "minimum": [None, "1.00"],
        "quantity": ["3.00"],
        "window": [None],
        "acceptable": [None],
        "zone": [None],
    }
    return World(app, tokens, known)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded database per backend, shared by every operation's examples (state accumulates, as in use)."""
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("schemathesis")) / "api.sqlite3"
        url = f"sqlite:///{path}"
        database_schema.upgrade(url)
        CURRENT_APP.app = create_app({**APP_CONFIG, "DATABASE_URL": url})
        yield seed(CURRENT_APP.app)
        return
    with fresh_postgres_database("schemathesis") as url:
        database_schema.upgrade(url)
        app = CURRENT_APP.app = create_app({**APP_CONFIG, "DATABASE_URL": url})
        yield seed(app)
        app.extensions["mutualcredit.sessions"].kw["bind"].dispose()


def _stable_number(value: Any) -> int:
    return zlib.crc32(json.dumps(value, sort_keys=True, default=str).encode())


def _known_or_generated(name: str, value: Any, known: dict[str, list[Any]]) -> Any:
    """Two in three generated values of a name that refers to something are replaced with one that exists."""
    candidates = known.get(name)
    number = _stable_number([name, value])
    if not candidates or number % 3 == 0:
        return value
    return candidates[number % len(candidates)]


def point_at_existing_things(case: Any, world: World) -> None:
    known = world.known
    if case.operation.path.startswith("/api/v1/requests"):
        # The member asks to be paid: it is the payee of its requests.
        known = {**known, "payer": ["beta", "gamma"], "payee": ["alpha"]}
    for container in (case.path_parameters, case.query, case.body):
        if isinstance(container, dict):
            for name, value in list(container.items()):
                container[name] = _known_or_generated(name, value, known)
    if isinstance(case.body, dict) and isinstance(case.body.get("transfers"), list):
        for item in case.body["transfers"]:
            if isinstance(item, dict):
                for name, value in list(item.items()):
                    item[name] = _known_or_generated(name, value, known)
    # Generated keys repeat ("0", "00", ...), and a key reused with another
    # body is only ever 409: make each well-formed one unique (still derived
    # from the generated one, so the run stays the same from one time to the next).
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= 200 and all(32 < ord(character) < 127 for character in key):
        world.keys_sent += 1
        case.headers["Idempotency-Key"] = f"{key}-{world.keys_sent}"


@pytest.mark.parametrize("caller", ["member", "admin"])
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_the_openapi_document_says(case: Any, world: World, caller: str) -> None:
    point_at_existing_things(case, world)
    case.call_and_validate(headers={"Authorization": f"Bearer {world.tokens[caller]}"}, excluded_checks=EXCLUDED_CHECKS)
