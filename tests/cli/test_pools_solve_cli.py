"""`mutualcredit pools solve`, run as a member runs it: a real process on a JSON file, no database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from solver.allocation import allocate
from solver.allocation.generator import DivisibleShape, divisible_problem
from solver.allocation.jsonfile import result_to_json, write_problem
from solver.allocation.model import Rule


def mutualcredit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, MUTUALCREDIT_INSTANCE_DIR=str(cwd))
    environ.pop("MUTUALCREDIT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=120, check=False
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one clear line, never a traceback
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


# 100.00 of seed for three needs; coop-c's 10.00 is essential. What is left after the
# minimum (90.00) is shared over the remaining claims 40.00, 80.00 and 20.00.
SEED = {
    "decimals": 2,
    "rule": "proportional",
    "resources": [{"id": "seed", "quantity": "100.00"}],
    "needs": [
        {"id": "n1", "member": "coop-a", "resource": "seed", "desired": "40.00"},
        {"id": "n2", "member": "coop-b", "resource": "seed", "desired": "80.00"},
        {"id": "n3", "member": "coop-c", "resource": "seed", "desired": "30.00", "minimum": "10.00"},
    ],
}

VANS = {
    "decimals": 2,
    "rule": "leximin",
    "time_limit_s": 30,
    "resources": [
        {
            "id": "vans",
            "slots": [
                {"id": "v1", "zone": "north", "start": 0, "end": 1},
                {"id": "v2", "zone": "north", "start": 0, "end": 1},
                {"id": "v3", "zone": "south", "start": 0, "end": 1},
            ],
        }
    ],
    "needs": [
        {"id": "a", "member": "coop-a", "resource": "vans", "desired": 2, "zone": "north"},
        {"id": "b", "member": "coop-b", "resource": "vans", "desired": "1", "zone": "north"},
        {"id": "c", "member": "coop-c", "resource": "vans", "desired": 1, "all_or_nothing": True},
    ],
}


def write(tmp_path: Path, document: Any, name: str = "round.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2), encoding="utf-8")
    return path


def solve_json(path: Path) -> dict[str, Any]:
    result = mutualcredit("pools", "solve", str(path), "--json", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)  # exactly one JSON object: anything else fails to parse


def test_solve_json_prints_one_object_with_each_needs_allocation_as_a_decimal_string(tmp_path: Path) -> None:
    document = solve_json(write(tmp_path, SEED))
    assert document["status"] == "optimal"
    # Exact shares 25.714..., 51.428..., 12.857... (+ the 10.00 minimum): floors, then the two
    # leftover cents by largest remainder (n2's .857, then n3's .714).
    assert document["allocations"] == {"n1": "25.71", "n2": "51.43", "n3": "22.86"}
    assert document["minimums_met"] is True
    assert document["worst_share"] == "0.642750"  # n1: 25.71 / 40.00
    assert document["slots"] == {}
    assert isinstance(document["solve_time_s"], float)
    assert {"message", "stages", "explanations"} <= set(document)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("equal-awards", {"n1": "35.00", "n2": "35.00", "n3": "30.00"}),
        # Losses: a third of 50.00 each (16.66...); the leftover cent goes to n1 (equal remainders, need id order).
        ("equal-losses", {"n1": "23.34", "n2": "63.33", "n3": "13.33"}),
        ("leximin", {"n1": "26.67", "n2": "53.33", "n3": "20.00"}),
    ],
)
def test_every_rule_of_the_file_is_applied(tmp_path: Path, rule: str, expected: dict[str, str]) -> None:
    assert solve_json(write(tmp_path, {**SEED, "rule": rule}))["allocations"] == expected


def test_solve_prints_a_table_per_need_then_the_status_and_the_worst_off_share(tmp_path: Path) -> None:
    path = write(tmp_path, {**SEED, "rule": "equal-awards"})
    result = mutualcredit("pools", "solve", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["need", "member", "declared", "allocated", "share", "met", "decided", "by"]
    assert lines[1].split()[:5] == ["n1", "coop-a", "40.00", "35.00", "87.50%"]
    assert lines[2].split()[:5] == ["n2", "coop-b", "80.00", "35.00", "43.75%"]
    assert lines[3].split()[:5] == ["n3", "coop-c", "30.00", "30.00", "100.00%"]
    figures = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in lines[5:] if "  " in line}
    assert figures["status"] == "optimal"
    assert figures["worst-off share met"] == "43.75%"
    assert figures["minimums met"] == "yes"
    assert figures["solve time"].endswith(" s")


def test_a_slot_resource_gets_whole_slot_counts_and_the_slot_ids(tmp_path: Path) -> None:
    document = solve_json(write(tmp_path, VANS))
    assert document["status"] == "optimal"
    # Leximin: giving a both north vans would leave b with nothing; c takes the south van whole.
    assert document["allocations"] == {"a": "1", "b": "1", "c": "1"}
    assert document["slots"]["c"] == ["v3"]
    assert sorted(document["slots"]["a"] + document["slots"]["b"]) == ["v1", "v2"]
    assert document["worst_share"] == "0.500000"
    assert document["explanations"]["a"]["declared"] == "2"
    assert all(stage["status"] == "optimal" for stage in document["stages"])


def test_the_table_shows_the_slots_and_every_stage_with_its_gap(tmp_path: Path) -> None:
    result = mutualcredit("pools", "solve", str(write(tmp_path, VANS)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split()[-1] == "slots"
    stage_header = next(line for line in result.stdout.splitlines() if line.startswith("stage"))
    assert stage_header.split() == ["stage", "status", "objective", "bound", "gap", "time", "s"]


def test_a_generated_round_solves_the_same_in_a_separate_process_as_in_this_one(tmp_path: Path) -> None:
    problem = divisible_problem(DivisibleShape(needs=500), seed=11, rule=Rule.LEXIMIN)
    path = tmp_path / "generated.json"
    write_problem(problem, path, decimals=2)
    document = solve_json(path)
    expected = result_to_json(allocate(problem), problem, decimals=2)
    for figures in (document, expected):
        figures.pop("solve_time_s")
        for stage in figures["stages"]:
            stage.pop("solve_time_s")
    assert document == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rule": "fairest"}, "rule"),
        ({"decimals": "2"}, "decimals"),
        ({"resources": [{"id": "seed", "quantity": 100.0}]}, "resources[0].quantity"),
        ({"resources": [{"id": "seed", "quantity": "100.001"}]}, "resources[0].quantity"),
        ({"needs": [{"id": "n1", "member": "coop-a", "resource": "seed", "desired": "4O.00"}]}, "needs[0].desired"),
        ({"needs": [{"id": "n1", "member": "coop-a", "resource": "rice", "desired": "40.00"}]}, "needs[0].resource"),
        ({"needs": [{"id": "n1", "member": "coop-a", "resource": "seed", "desired": "1", "colour": "red"}]},
         "needs[0].colour"),
        # Refused by the solver's own checks (validate.check_problem), with the same path.
        ({"needs": [{"id": "n1", "member": "coop-a", "resource": "seed", "desired": "1", "minimum": "2"}]},
         "needs[0].minimum"),
        ({"needs": [{"id": "n1", "member": "coop-a", "resource": "seed", "desired": "1", "tier": 0}]},
         "needs[0].tier"),
        ({"member_cap_share": "1.5"}, "member_cap_share"),
    ],
)
def test_a_bad_file_is_refused_on_one_line_naming_the_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    path = write(tmp_path, {**SEED, **change})
    line = refused(mutualcredit("pools", "solve", str(path), cwd=tmp_path))
    assert line.startswith("error: invalid_problem: "), line
    assert f" {field}" in line, line
    json_line = refused(mutualcredit("pools", "solve", str(path), "--json", cwd=tmp_path))
    assert json_line == line


def test_a_file_that_is_not_json_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "decimals": 2,\n  "rule": "leximin",\n  "needs": [}\n')
    line = refused(mutualcredit("pools", "solve", str(path), cwd=tmp_path))
    assert line.startswith("error: invalid_problem: not JSON: ")
    assert "line 4, column 13" in line


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(SEED).replace("coop-a", "coop-\u00e9").encode("latin-1"))
    assert "not UTF-8" in refused(mutualcredit("pools", "solve", str(path), cwd=tmp_path))


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = mutualcredit("pools", "solve", str(tmp_path / "nowhere.json"), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_an_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = mutualcredit("pools", "solve", str(write(tmp_path, SEED)), "--csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
