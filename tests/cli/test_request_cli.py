"""`mutualcredit request ...`: the demo's auto-accept rule answers at once, and `request expire` ends overdue requests."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from mutualcredit.db import make_engine, make_session_factory, utc_now
from mutualcredit.ledger import requests
from test_cli import database, demo_database, mutualcredit, ok  # noqa: F401 (fixtures)


def test_the_demo_bakery_pays_the_farms_small_requests_at_once(database: str) -> None:  # noqa: F811
    small = json.loads(ok(mutualcredit(database, "request", "create", "--payee", "tierra-viva", "--payer", "horno-comun", "15.00", "--json")))
    assert small["state"] == "accepted" and small["transfer_id"] is not None
    large = json.loads(ok(mutualcredit(database, "request", "create", "--payee", "tierra-viva", "--payer", "horno-comun", "500.01", "--json")))
    assert (large["state"], large["transfer_id"]) == ("open", None)
    other = json.loads(ok(mutualcredit(database, "request", "create", "--payee", "imprenta-sur", "--payer", "horno-comun", "15.00", "--json")))
    assert other["state"] == "open"


def test_request_expire_marks_overdue_requests_expired(database: str) -> None:  # noqa: F811
    engine = make_engine(database)
    now = utc_now()
    with make_session_factory(engine)() as session:
        overdue = requests.create_payment_request(
            session,
            id=uuid.uuid4(),
            payee="imprenta-sur",
            payer="libros-cafe",
            amount_minor=1_000,
            expires_at=now - dt.timedelta(days=1),
            created_by="test",
            now=now - dt.timedelta(days=2),
        )
    engine.dispose()
    assert "expired 1 payment requests" in ok(mutualcredit(database, "request", "expire"))
    listed = json.loads(ok(mutualcredit(database, "request", "list", "--state", "expired", "--json")))
    assert [entry["id"] for entry in listed] == [str(overdue.id)]
    assert "expired 0 payment requests" in ok(mutualcredit(database, "request", "expire"))
