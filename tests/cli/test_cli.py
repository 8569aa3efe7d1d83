"""The `mutualcredit` command, run as a user runs it: a real process on a real database."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def mutualcredit(database_url: str, *args: str, tmp_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, MUTUALCREDIT_DATABASE_URL=database_url, MUTUALCREDIT_ACTOR="cli:test")
    if tmp_path is not None:
        environ["MUTUALCREDIT_INSTANCE_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args], capture_output=True, text=True, env=environ, timeout=120
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one clear line, never a traceback
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "demo.sqlite3"
    url = f"sqlite:///{path}"
    ok(mutualcredit(url, "db", "upgrade"))
    assert "12 co-ops" in ok(mutualcredit(url, "demo"))
    return url


@pytest.fixture
def database(tmp_path: Path, demo_database: str) -> str:
    import shutil

    path = tmp_path / "copy.sqlite3"
    shutil.copyfile(demo_database.removeprefix("sqlite:///"), path)
    return f"sqlite:///{path}"


def test_the_demo_region_has_a_dozen_co_ops_months_of_trade_and_open_requests(demo_database: str) -> None:
    members = json.loads(ok(mutualcredit(demo_database, "member", "list", "--json")))
    assert len(members) == 12
    assert len({m["trade"] for m in members}) == 12
    audit = json.loads(ok(mutualcredit(demo_database, "audit", "--json")))
    assert audit["ok"] and audit["transfers"] >= 200
    requests = json.loads(ok(mutualcredit(demo_database, "request", "list", "--state", "open", "--json")))
    assert len(requests) >= 5
    lines = json.loads(ok(mutualcredit(demo_database, "statement", "tierra-viva", "--json")))["lines"]
    months = {line["created_at"][:7] for line in lines}
    assert len(months) >= 4


def test_the_demo_has_a_committed_gift_round_and_open_rounds_with_needs(demo_database: str) -> None:
    pools = {pool["slug"]: pool for pool in json.loads(ok(mutualcredit(demo_database, "pools", "show", "--json")))}
    assert set(pools) == {"seed-bank", "delivery-vans"}
    assert pools["seed-bank"]["price"] == "0.00" and pools["delivery-vans"]["price"] != "0.00"
    states = {r["reference"]: (r["state"], r["needs"]) for pool in pools.values() for r in pool["rounds"]}
    assert states["seed-bank-1"] == ("committed", 4)
    assert states["seed-bank-2"][0] == "open" and states["seed-bank-2"][1] >= 3
    assert states["delivery-vans-1"][0] == "open" and states["delivery-vans-1"][1] >= 3
    assert "verified" in ok(mutualcredit(demo_database, "pools", "verify", "seed-bank-1"))
    vans = json.loads(ok(mutualcredit(demo_database, "pools", "show", "delivery-vans-1", "--json")))
    zones = {slot["zone"] for contribution in vans["contributions"] for slot in contribution["slots"]}
    assert zones == {"north", "south"} and vans["contributions"][0]["paid"]


def test_the_demo_refuses_a_database_that_already_holds_a_region(database: str) -> None:
    assert "already" in refused(mutualcredit(database, "demo"))
    assert "not loaded" in ok(mutualcredit(database, "demo", "--if-empty"))


def test_a_transfer_on_the_command_line_moves_credit_once_per_id(database: str) -> None:
    before = {m["slug"]: m["accounts"][0]["balance"] for m in json.loads(ok(mutualcredit(database, "member", "list", "--json")))}
    transfer_id = str(uuid.uuid4())
    out = ok(mutualcredit(database, "transfer", "tierra-viva", "horno-comun", "12.50", "-d", "flour", "--id", transfer_id))
    assert transfer_id in out
    again = ok(mutualcredit(database, "transfer", "tierra-viva", "horno-comun", "12.50", "-d", "flour", "--id", transfer_id))
    assert "already recorded" in again
    after = {m["slug"]: m["accounts"][0]["balance"] for m in json.loads(ok(mutualcredit(database, "member", "list", "--json")))}
    from decimal import Decimal

    assert Decimal(after["horno-comun"]) - Decimal(before["horno-comun"]) == Decimal("12.50")
    line = refused(mutualcredit(database, "transfer", "tierra-viva", "horno-comun", "13.00", "--id", transfer_id))
    assert line.startswith("error: idempotency_conflict")


@pytest.mark.parametrize(
    ("args", "expected", "exit_code"),
    [
        (("transfer", "tierra-viva", "horno-comun", "1.234"), "invalid_amount", 1),
        (("transfer", "tierra-viva", "horno-comun", "abc"), "invalid_amount", 1),
        (("transfer", "tierra-viva", "horno-comun", "0"), "invalid_amount", 1),
        (("transfer", "tierra-viva", "horno-comun", "-5"), "No such option", 2),
        (("transfer", "tierra-viva", "nobody", "5"), "account_not_found", 1),
        (("transfer", "tierra-viva", "tierra-viva", "5"), "same_account", 1),
        (("transfer", "semillero", "horno-comun", "999999"), "exceeds_floor", 1),
        (("transfer", "tierra-viva"), "Missing argument", 2),
        (("transfer", "post", "not-a-uuid"), "not a UUID", 2),
        (("statement", "nobody"), "account_not_found", 1),
        (("member", "add", "Bad Slug", "--name", "X", "--floor", "-1"), "invalid_input", 1),
        (("member", "add", "new-coop", "--name", "X", "--floor", "lots"), "invalid_amount", 1),
        (("account", "limits", "horno-comun", "--floor", "-0.01"), "limit_excludes_balance", 1),
        (("request", "accept", str(uuid.UUID(int=7))), "payment_request_not_found", 1),
        (("no-such-command",), "No such command", 2),
        (("account", "open", "Bad Code", "--name", "x", "--kind", "pool"), "invalid_input", 1),
        (("account", "open", "commons", "--name", "x", "--kind", "pool"), "already_exists", 1),
        (("account", "open", "pool:x", "--name", "x", "--kind", "member"), "Invalid value", 2),
    ],
)
def test_wrong_input_gives_one_clear_line_and_a_non_zero_exit(database: str, args: tuple[str, ...], expected: str, exit_code: int) -> None:
    assert expected in refused(mutualcredit(database, *args), exit_code)


def test_a_system_account_is_opened_with_its_limits(database: str) -> None:
    ok(mutualcredit(database, "account", "open", "pool:seeds", "--name", "Seed pool", "--kind", "pool", "--floor", "-50.00"))
    accounts = {a["code"]: a for a in json.loads(ok(mutualcredit(database, "account", "list", "--json")))}
    assert (accounts["pool:seeds"]["kind"], accounts["pool:seeds"]["floor"]) == ("pool", "-50.00")
    ok(mutualcredit(database, "transfer", "pool:seeds", "semillero", "50.00"))
    assert "exceeds_floor" in refused(mutualcredit(database, "transfer", "pool:seeds", "semillero", "0.01"))


def test_an_unmigrated_database_is_reported_in_one_line(tmp_path: Path) -> None:
    line = refused(mutualcredit(f"sqlite:///{tmp_path / 'empty.sqlite3'}", "member", "list"))
    assert "db upgrade" in line


def test_members_are_added_suspended_and_written_off_from_the_command_line(database: str) -> None:
    ok(mutualcredit(database, "member", "add", "nueva", "--name", "Nueva Co-op", "--floor", "-300.00", "--trade", "bakery"))
    ok(mutualcredit(database, "transfer", "nueva", "horno-comun", "100.00"))
    ok(mutualcredit(database, "member", "suspend", "nueva", "--reason", "unpaid fees"))
    assert "member_not_active" in refused(mutualcredit(database, "transfer", "nueva", "horno-comun", "1.00"))
    assert "member_has_balance" in refused(mutualcredit(database, "member", "leave", "nueva"))
    ok(mutualcredit(database, "member", "leave", "nueva", "--write-off", "--reason", "dissolved"))
    members = {m["slug"]: m for m in json.loads(ok(mutualcredit(database, "member", "list", "--json")))}
    assert members["nueva"]["status"] == "left"
    assert members["nueva"]["accounts"][0]["balance"] == "0.00"
    assert json.loads(ok(mutualcredit(database, "audit", "--json")))["ok"]


def test_two_phase_transfers_and_requests_from_the_command_line(database: str) -> None:
    pending = json.loads(ok(mutualcredit(database, "transfer", "--pending", "tierra-viva", "rueda-libre", "30.00", "--json")))
    assert pending["state"] == "pending"
    posted = json.loads(ok(mutualcredit(database, "transfer", "post", pending["id"], "--amount", "20.00", "--json")))
    assert (posted["kind"], posted["amount"]) == ("post", "20.00")
    assert "pending_transfer_already_posted" in refused(mutualcredit(database, "transfer", "void", pending["id"]))
    request = json.loads(
        ok(mutualcredit(database, "request", "create", "--payee", "rueda-libre", "--payer", "tierra-viva", "15.00", "--json"))
    )
    paid = json.loads(ok(mutualcredit(database, "request", "accept", request["id"], "--json")))
    assert (paid["payer"], paid["payee"], paid["amount"]) == ("tierra-viva", "rueda-libre", "15.00")
    reversal = json.loads(ok(mutualcredit(database, "transfer", "reverse", paid["id"], "--json")))
    assert reversal["reverses_id"] == paid["id"]


def test_audit_exits_non_zero_naming_a_tampered_balance(database: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(database)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE accounts SET balance = balance + 1 WHERE code = 'semillero'"))
    engine.dispose()
    result = mutualcredit(database, "audit")
    assert result.returncode == 1
    assert "balance_mismatch" in result.stdout and "semillero" in result.stdout
    assert "audit FAILED" in result.stdout


def test_a_checkpoint_is_signed_and_verified_by_the_audit(database: str, tmp_path: Path) -> None:
    out = ok(mutualcredit(database, "checkpoint", tmp_path=tmp_path))
    assert "checkpoint 1" in out and (tmp_path / "region-signing-key.pem").exists()
    assert "checkpoint 1 verified" in ok(mutualcredit(database, "audit", tmp_path=tmp_path))


def test_the_csv_export_lists_every_transfer(database: str) -> None:
    rows = list(csv.DictReader(io.StringIO(ok(mutualcredit(database, "export", "--format", "csv")))))
    audit = json.loads(ok(mutualcredit(database, "audit", "--json")))
    assert len(rows) == audit["transfers"]
    assert {row["unit"] for row in rows} == {"RBC"}


def test_the_beancount_export_passes_bean_check_and_its_balances_equal_the_ledger(database: str, tmp_path: Path) -> None:
    from decimal import Decimal

    from beancount import loader
    from beancount.core import realization

    path = tmp_path / "ledger.beancount"
    ok(mutualcredit(database, "export", "--format", "beancount", "--output", str(path)))
    check = subprocess.run([str(BIN / "bean-check"), str(path)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    entries, load_errors, _options = loader.load_file(str(path))
    assert load_errors == []
    real_root = realization.realize(entries)
    exported = {}
    for real_account in realization.iter_children(real_root):
        for position in real_account.balance:
            exported[real_account.account] = position.units.number
    accounts = json.loads(ok(mutualcredit(database, "account", "list", "--json")))
    from mutualcredit.ledger.export import beancount_account

    for account in accounts:
        name = beancount_account(account["kind"], account["code"])
        assert exported.get(name, Decimal("0.00")) == Decimal(account["balance"]), name
    assert sum(exported.values()) == 0


def test_a_token_is_printed_once_listed_without_its_secret_and_revoked(database: str) -> None:
    created = mutualcredit(database, "token", "create", "--member", "horno-comun", "--scopes", "accounts:read", "--name", "till")
    secret = ok(created).strip()
    assert secret.startswith("mct_") and "not shown again" in created.stderr
    listing = ok(mutualcredit(database, "token", "list", "--json"))
    assert secret not in listing
    (token,) = json.loads(listing)
    assert (token["member"], token["scopes"], token["revoked_at"]) == ("horno-comun", ["accounts:read"], None)
    ok(mutualcredit(database, "token", "revoke", token["id"]))
    assert json.loads(ok(mutualcredit(database, "token", "list", "--json")))[0]["revoked_at"] is not None
    assert "invalid_input" in refused(mutualcredit(database, "token", "create", "--member", "horno-comun", "--scopes", "root"))
    assert "token_not_found" in refused(mutualcredit(database, "token", "revoke", "nope"))
