"""The scheme client example (examples/scheme_client.py) works against a live server.

The script runs as a subprocess, as a scheme's developer would run it,
against gunicorn on PostgreSQL; the test reads its output and then the
ledger with plain SQL. Its webhook signature check agrees with the
instance's own signer.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from types import ModuleType

import pytest
import sqlalchemy as sa

from live.conftest import REPOSITORY_ROOT, LiveServer

pytestmark = pytest.mark.postgres

EXAMPLE = REPOSITORY_ROOT / "examples" / "scheme_client.py"
EXAMPLE_TIMEOUT_S = 60
MEMBERS: dict[str, tuple[int, int | None]] = {"tallerverde": (-100_000, None), "panaderia": (-100_000, 500_000)}


@pytest.fixture(scope="module")
def server(live_server_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with live_server_factory("example", MEMBERS) as server:
        yield server


def run_example(server: LiveServer, *arguments: str) -> subprocess.CompletedProcess[str]:
    # Only what a scheme's machine would have: no project on the path, the token in the environment.
    environment = {"PATH": os.environ.get("PATH", ""), "TOKEN": server.tokens["tallerverde"], "PAYEE": "panaderia"}
    return subprocess.run(
        [sys.executable, "-I", str(EXAMPLE), server.base_url, *arguments],
        env=environment,
        cwd=EXAMPLE.parent,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_S,
    )


def ledger_state(server: LiveServer) -> tuple[dict[str, tuple[str | None, str, int | None, int]], list[tuple[str, str, int, str]]]:
    """Accounts ``{code: (member, kind, floor, balance)}`` and transfers ``(payer, payee, amount, description)``."""
    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            accounts = connection.execute(
                sa.text(
                    "SELECT a.code, m.slug, a.kind, a.floor, a.balance FROM accounts AS a LEFT JOIN members AS m ON m.id = a.member_id"
                )
            ).all()
            transfers = connection.execute(
                sa.text(
                    """
                    SELECT payer.code, payee.code, t.amount_minor, t.description FROM transfers AS t
                    JOIN accounts AS payer ON payer.id = t.payer_account_id
                    JOIN accounts AS payee ON payee.id = t.payee_account_id
                    ORDER BY t.seq
                    """
                )
            ).all()
    finally:
        engine.dispose()
    return {code: (member, kind, floor, balance) for code, member, kind, floor, balance in accounts}, [tuple(row) for row in transfers]  # type: ignore[misc]


def test_the_example_opens_an_account_pays_once_despite_a_retry_and_reads_its_statement(server: LiveServer) -> None:
    first = run_example(server)

    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "member tallerverde: main account tallerverde, balance 0.00 TST" in out
    assert "account tallerverde:scheme (created): floor 0.00, balance 0.00 TST" in out
    paid = re.search(r"paid 12\.50 TST from tallerverde to panaderia: transfer ([0-9a-f-]{36}) \(201\)", out)
    assert paid, out
    assert f"retry with the same key: transfer {paid.group(1)} (201, replayed: yes)" in out
    assert "balance of tallerverde: -12.50 TST (available 987.50)" in out
    assert "statement of tallerverde: 1 movement(s), the last 1:" in out
    assert re.search(r"-12\.50\s+panaderia\s+balance -12\.50\s+Scheme client example", out), out
    assert out.count(": ok") == 5 and "WRONG" not in out

    accounts, transfers = ledger_state(server)
    assert accounts["tallerverde:scheme"] == ("tallerverde", "member", 0, 0)
    assert (accounts["tallerverde"][3], accounts["panaderia"][3]) == (-1_250, 1_250)
    assert transfers == [("tallerverde", "panaderia", 1_250, "Scheme client example")]

    # Run again: the account is not opened twice (its key replays), and a new payment is a new transfer.
    second = run_example(server, "--amount", "0.75")

    assert second.returncode == 0, second.stdout + second.stderr
    assert "account tallerverde:scheme (replayed)" in second.stdout
    assert "balance of tallerverde: -13.25 TST" in second.stdout
    assert "statement of tallerverde: 2 movement(s)" in second.stdout
    accounts, transfers = ledger_state(server)
    assert sorted(code for code in accounts if code.startswith("tallerverde")) == ["tallerverde", "tallerverde:scheme"]
    assert [amount for _, _, amount, _ in transfers] == [1_250, 75]


def test_the_example_reports_a_refused_payment_as_the_api_s_problem_and_exits_1(server: LiveServer) -> None:
    refused = run_example(server, "--amount", "5000.00")

    assert refused.returncode == 1
    assert "error: 409 exceeds_floor:" in refused.stderr


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scheme_client_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_s_signature_check_accepts_what_the_instance_signs_and_nothing_else() -> None:
    signing = pytest.importorskip("mutualcredit.webhooks.signing")
    example = load_example()
    body = b'{"type":"transfer.created","data":{"amount":"12.50"}}'
    now = int(time.time())
    header = signing.sign("whsec_test", now, body)

    assert example.verify_signature("whsec_test", header, body)
    assert example.verify_signature("whsec_test", f"{header},v1={'0' * 64}", body)  # during a secret's rotation
    assert not example.verify_signature("whsec_test", header, body + b" ")
    assert not example.verify_signature("whsec_other", header, body)
    assert not example.verify_signature("whsec_test", signing.sign("whsec_test", now - 301, body), body)
    assert not example.verify_signature("whsec_test", "t=abc,v1=00", body)
    assert not example.verify_signature("whsec_test", "", body)
    assert example.sign_payload("whsec_test", body, now) == header
