"""`mutualcredit clearing solve`, run as a user runs it: a real process on a CSV file, no database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def mutualcredit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, MUTUALCREDIT_INSTANCE_DIR=str(cwd))
    environ.pop("MUTUALCREDIT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=120
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one clear line, never a traceback
    assert "Traceback" not in result.stderr
    return lines[0]


OBLIGATIONS = """id,debtor,creditor,amount,due
1,Forn,Horta,100.00,2026-01-05
5,Forn,Horta,20,
2,Horta,Teixits,70.5,2026-02-01
3,Teixits,Forn,50,2026-01-01
4,Horta,Forn,1,
"""


@pytest.fixture
def obligations_file(tmp_path: Path) -> Path:
    path = tmp_path / "obligations.csv"
    path.write_text(OBLIGATIONS, encoding="utf-8")
    return path


def test_solve_prints_the_figures_of_the_run_as_a_table(obligations_file: Path) -> None:
    result = mutualcredit("clearing", "solve", str(obligations_file), cwd=obligations_file.parent)
    assert result.returncode == 0, result.stderr
    table = dict(line.rsplit("  ", 1) for line in result.stdout.splitlines())
    figures = {label.strip(): value.strip() for label, value in table.items()}
    assert figures["total debt (TD)"] == "241.50"
    assert figures["net internal debt (NID)"] == "69.00"
    assert figures["cleared"] == "152.00"
    assert figures["remainder"] == "89.50"
    assert figures["bound (TD - NID)"] == "172.50"


def test_solve_json_prints_exactly_one_object_with_the_set_off_per_obligation(obligations_file: Path) -> None:
    result = mutualcredit("clearing", "solve", str(obligations_file), "--json", cwd=obligations_file.parent)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"td", "nid", "cleared", "remainder", "setoffs"}
    assert (document["td"], document["cleared"], document["remainder"]) == ("241.50", "152.00", "89.50")
    # Forn -> Horta is cleared partly: the dated obligation 1 first, the undated 5 gets nothing.
    assert document["setoffs"] == {"1": "51.00", "2": "50.00", "3": "50.00", "4": "1.00"}


def test_solve_whole_cancels_whole_obligations_only_and_shows_the_gap(obligations_file: Path) -> None:
    result = mutualcredit("clearing", "solve", str(obligations_file), "--whole", "--json", cwd=obligations_file.parent)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    amounts = {"1": "100.00", "5": "20.00", "2": "70.50", "3": "50.00", "4": "1.00"}
    assert all(amounts[key] == value for key, value in document["setoffs"].items())
    table = mutualcredit("clearing", "solve", str(obligations_file), "--whole", cwd=obligations_file.parent)
    assert "gap (whole obligations)" in table.stdout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("6,Forn,Horta", "line 7: expected 5 fields, found 3"),
        ("6,Forn,Horta,5,2026-01-01,extra", "line 7: expected 5 fields, found 6"),
        ("6,Forn,Horta,-5,", "line 7: amount '-5' is negative"),
        ("6,Forn,Horta,0,", "line 7: amount '0' is zero"),
        ("6,Forn,Horta,five,", "line 7: amount 'five' is not a decimal number"),
        ("6,Forn,Forn,5,", "line 7: debtor and creditor are the same ('Forn')"),
        ("3,Forn,Horta,5,", "line 7: duplicate id '3'"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number_on_one_line(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(OBLIGATIONS + line + "\n", encoding="utf-8")
    message = refused(mutualcredit("clearing", "solve", str(path), cwd=tmp_path))
    assert message == f"error: invalid_obligations_file: {expected}"


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = mutualcredit("clearing", "solve", str(tmp_path / "nowhere.csv"), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
