"""`mutualcredit pools create|open|contribute|declare|close|run|review|commit|show|verify|export`, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import set_up_region
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.ledger import service as ledger


def mutualcredit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, MUTUALCREDIT_DATABASE_URL=database_url, MUTUALCREDIT_ACTOR="cli:test")
    return subprocess.run([sys.executable, "-m", "webapp.cli", *args], capture_output=True, text=True, env=environ, timeout=180)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def database(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    session = make_session_factory(engine)()
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None), "gamma": (0, None)})
    session.close()
    engine.dispose()
    return sqlite_url


def _balance(database_url: str, code: str) -> int:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        balance = ledger.get_account(session, code).balance
    engine.dispose()
    return balance


def test_a_priced_slot_round_from_creation_to_a_verified_commit(database: str, tmp_path: Path) -> None:
    ok(mutualcredit(database, "pools", "create", "vans", "--name", "Vans", "--kind", "slots", "--unit", "van-day",
                    "--price", "25", "--review-hours", "0"))
    assert "vans-1 open" in ok(mutualcredit(database, "pools", "open", "vans", "--title", "Week 49"))
    slots = tmp_path / "slots.csv"
    slots.write_text("id,capacity,zone,start,end\nn-1,1,north,1,2\nn-2,1,north,2,3\ns-1,1,south,1,2\n")
    ok(mutualcredit(database, "pools", "contribute", "vans-1", "--member", "beta", "--slots", str(slots), "--paid"))
    ok(mutualcredit(database, "pools", "declare", "vans-1", "--member", "alpha", "--desired", "2", "--zone", "north"))
    ok(mutualcredit(database, "pools", "declare", "vans-1", "--member", "beta", "--desired", "2", "--window", "1", "2"))
    ok(mutualcredit(database, "pools", "close", "vans-1"))
    out = ok(mutualcredit(database, "pools", "run", "vans-1", "--reason", "first run"))
    assert "run 1 of vans-1: optimal" in out
    # n-1 is the only slot both can use: one of them gets half of what it asked for.
    assert "alpha" in out and "50.00%" in out
    ok(mutualcredit(database, "pools", "review", "vans-1"))
    assert "committed" in ok(mutualcredit(database, "pools", "commit", "vans-1"))
    # Three slot-days used at 25.00, all beta's and paid: beta receives 75.00, the pool keeps nothing.
    assert _balance(database, "alpha") in (-2_500, -5_000)
    assert _balance(database, "alpha") + _balance(database, "beta") == 0
    assert _balance(database, "pool:vans") == 0
    assert "verified" in ok(mutualcredit(database, "pools", "verify", "vans-1"))
    shown = json.loads(ok(mutualcredit(database, "pools", "show", "vans-1", "--json")))
    assert shown["state"] == "committed" and len(shown["allocations"]) == 2
    assert [payout["amount"] for payout in shown["payouts"]] == ["75.00"]


def test_export_then_solve_with_no_database_gives_the_stored_allocation(database: str, tmp_path: Path) -> None:
    ok(mutualcredit(database, "pools", "create", "seed", "--name", "Seed", "--kind", "divisible", "--unit", "kg",
                    "--decimals", "2", "--rule", "equal-losses"))
    ok(mutualcredit(database, "pools", "open", "seed"))
    ok(mutualcredit(database, "pools", "contribute", "seed-1", "--member", "gamma", "--quantity", "100"))
    ok(mutualcredit(database, "pools", "declare", "seed-1", "--member", "alpha", "--desired", "80", "--minimum", "10"))
    ok(mutualcredit(database, "pools", "declare", "seed-1", "--member", "beta", "--desired", "45.5"))
    ok(mutualcredit(database, "pools", "close", "seed-1"))
    stored = json.loads(ok(mutualcredit(database, "pools", "run", "seed-1", "--json")))["result"]["allocations"]
    exported = tmp_path / "seed-1.json"
    ok(mutualcredit(database, "pools", "export", "seed-1", "-o", str(exported)))
    solved = json.loads(ok(mutualcredit("sqlite:////nonexistent/never.db", "pools", "solve", str(exported), "--json")))
    assert solved["allocations"] == stored
    assert sorted(stored.values()) == ["32.75", "67.25"]  # equal losses: each 12.75 short


def test_verify_names_a_tampered_need_and_exits_1(database: str) -> None:
    ok(mutualcredit(database, "pools", "create", "seed", "--name", "Seed", "--kind", "divisible", "--unit", "kg",
                    "--decimals", "2"))
    ok(mutualcredit(database, "pools", "open", "seed"))
    ok(mutualcredit(database, "pools", "contribute", "seed-1", "--member", "gamma", "--quantity", "10"))
    ok(mutualcredit(database, "pools", "declare", "seed-1", "--member", "alpha", "--desired", "20"))
    ok(mutualcredit(database, "pools", "close", "seed-1"))
    ok(mutualcredit(database, "pools", "run", "seed-1"))
    engine = make_engine(database)
    with engine.begin() as connection:
        run_id, result = connection.execute(sa.text("SELECT id, result FROM pool_runs")).one()
        document = json.loads(result) if isinstance(result, str) else result
        need_id = next(iter(document["allocations"]))
        document["allocations"][need_id] = "9.99"
        connection.execute(sa.text("UPDATE pool_runs SET result = :result WHERE id = :id"),
                           {"result": json.dumps(document), "id": run_id})
    engine.dispose()
    result = mutualcredit(database, "pools", "verify", "seed-1")
    assert result.returncode == 1
    assert need_id in result.stderr and "9.99" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("pools", "run", "nope-1"), "error: round_not_found"),
        (("pools", "declare", "seed-1", "--member", "alpha", "--desired", "12,5x"), "error: invalid_amount"),
        (("pools", "declare", "seed-1", "--member", "nobody", "--desired", "1"), "error: member_not_found"),
        (("pools", "declare", "seed-1", "--member", "alpha", "--desired", "1", "--minimum", "2"), "minimum"),
        (("pools", "contribute", "seed-1", "--member", "gamma", "--slots", __file__), "error: invalid_input"),
        (("pools", "commit", "seed-1"), "error: round_not_in_state"),
        (("pools", "create", "Bad Slug", "--name", "x", "--kind", "slots", "--unit", "u"), "slug"),
    ],
)
def test_bad_input_ends_in_one_line_and_exit_1(database: str, args: tuple[str, ...], expected: str) -> None:
    ok(mutualcredit(database, "pools", "create", "seed", "--name", "Seed", "--kind", "divisible", "--unit", "kg",
                    "--decimals", "2"))
    ok(mutualcredit(database, "pools", "open", "seed"))
    assert expected in refused(mutualcredit(database, *args))
