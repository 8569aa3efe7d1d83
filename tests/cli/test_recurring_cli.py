"""`mutualcredit recurring list|run-due|cancel`, run as cron runs it: a real process on a real database."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from conftest import set_up_region
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.ledger import recurring
from mutualcredit.ledger import service as ledger


def mutualcredit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, MUTUALCREDIT_DATABASE_URL=database_url, MUTUALCREDIT_ACTOR="cli:test")
    return subprocess.run([sys.executable, "-m", "webapp.cli", *args], capture_output=True, text=True, env=environ, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr  # one clear line
    return lines[0]


@pytest.fixture
def database(sqlite_url: str) -> str:
    """Alpha pays beta 250.00 monthly from 15 January 2026; gamma (floor 0) pays alpha 10.00 weekly."""
    engine = make_engine(sqlite_url)
    session = make_session_factory(engine)()
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None), "gamma": (0, None)})
    for payer, payee, amount_minor, interval in (("alpha", "beta", 25_000, "monthly"), ("gamma", "alpha", 1_000, "weekly")):
        recurring.create_recurring_payment(
            session,
            payer=payer,
            payee=payee,
            amount_minor=amount_minor,
            interval=interval,
            first_due_on=dt.date(2026, 1, 15),
            today=dt.date(2026, 1, 1),
            description=f"{payer} to {payee}",
            created_by="test",
        )
    session.close()
    engine.dispose()
    return sqlite_url


def balance(database_url: str, code: str) -> int:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return ledger.get_account(session, code).balance
    finally:
        engine.dispose()


def test_run_due_catches_up_reports_refusals_and_pays_nothing_twice(database: str) -> None:
    out = ok(mutualcredit(database, "recurring", "run-due", "--today", "2026-03-20"))
    assert out.splitlines()[-1] == "3 paid, 1 refused, up to 2026-03-20"
    assert "refused: recurring payment 2 due 2026-01-15: exceeds_floor" in out
    assert balance(database, "alpha") == -75_000
    again = json.loads(ok(mutualcredit(database, "recurring", "run-due", "--today", "2026-03-20", "--json")))
    assert (again["paid"], again["refused"], again["complete"]) == (0, 1, True)
    assert balance(database, "alpha") == -75_000

    listed = json.loads(ok(mutualcredit(database, "recurring", "list", "--member", "gamma", "--json")))
    assert [(r["id"], r["next_due_on"], r["last_error_code"]) for r in listed] == [(2, "2026-01-15", "exceeds_floor")]
    text = ok(mutualcredit(database, "recurring", "list"))
    assert "alpha" in text and "next 2026-04-15" in text and "last refused: exceeds_floor" in text


def test_a_cancelled_payment_is_listed_as_such_and_never_paid(database: str) -> None:
    assert "recurring payment 1 (alpha -> beta) cancelled" in ok(mutualcredit(database, "recurring", "cancel", "1"))
    ok(mutualcredit(database, "recurring", "run-due", "--today", "2026-06-01"))
    assert balance(database, "alpha") == 0 and balance(database, "beta") == 0
    states = {r["id"]: r["state"] for r in json.loads(ok(mutualcredit(database, "recurring", "list", "--json")))}
    assert states == {1: "cancelled", 2: "active"}
    assert json.loads(ok(mutualcredit(database, "recurring", "list", "--state", "cancelled", "--json")))[0]["id"] == 1


def test_bad_input_gets_one_line_on_stderr_and_a_non_zero_exit(database: str) -> None:
    assert "not a date" in refused(mutualcredit(database, "recurring", "run-due", "--today", "2026-02-30"), 2)
    assert "recurring_payment_not_found" in refused(mutualcredit(database, "recurring", "cancel", "99"), 1)
    assert "not a valid integer" in refused(mutualcredit(database, "recurring", "cancel", "one"), 2)
    assert refused(mutualcredit(database, "recurring", "list", "--state", "paused"), 2)


def test_run_due_without_a_date_uses_today_and_succeeds_for_cron(database: str) -> None:
    out = ok(mutualcredit(database, "recurring", "run-due"))  # the test region's time zone is UTC
    assert out.strip().splitlines()[-1].endswith(f"up to {dt.datetime.now(dt.timezone.utc).date()}")
