"""The allocation problem file: parsing, refusals with the field's path, writing and the result object."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.allocation.errors import AllocationError, InvalidProblem, TooLarge
from solver.allocation.generator import (
    DivisibleShape,
    SlotShape,
    divisible_problem,
    slot_problem,
)
from solver.allocation.jsonfile import (
    format_fraction,
    format_minor,
    loads_problem,
    parse_problem,
    problem_to_json,
    read_problem,
    result_to_json,
    write_problem,
)
from solver.allocation.model import (
    AllocationResult,
    Need,
    NeedAllocation,
    Policy,
    Problem,
    Resource,
    Rule,
    Slot,
    StageReport,
    Status,
)

MINIMAL = {
    "decimals": 2,
    "rule": "proportional",
    "resources": [{"id": "seed", "quantity": "250.00"}],
    "needs": [{"id": "n1", "member": "coop-a", "resource": "seed", "desired": "40.00"}],
}

FULL = {
    "decimals": 2,
    "rule": "leximin",
    "member_cap_share": "0.25",
    "time_limit_s": 30,
    "stage_time_limit_s": 2.5,
    "resources": [
        {"id": "seed", "quantity": "250.5"},
        {
            "id": "vans",
            "slots": [
                {"id": "van1-mon", "capacity": 2, "zone": "north", "start": 0, "end": 1},
                {"id": "van1-tue", "zone": "north", "start": 1, "end": 2},
                {"id": "van2"},
            ],
        },
    ],
    "needs": [
        {
            "id": "n1", "member": "coop-a", "resource": "seed", "desired": "40", "minimum": "10.05",
            "tier": 2, "weight": "1.5", "all_or_nothing": False,
        },
        {
            "id": "n2", "member": "coop-b", "resource": "vans", "desired": 2, "minimum": "1", "weight": "1/3",
            "all_or_nothing": True, "acceptable": ["van1-tue", "van1-mon"], "window": [0, 7], "zone": "north",
        },
        {"id": "n3", "member": "coop-b", "resource": "seed", "desired": "0.01", "weight": 3},
    ],
}


def parse(document: Any) -> Problem:
    return loads_problem(json.dumps(document)).problem


def refusal(document: Any) -> AllocationError:
    with pytest.raises(AllocationError) as raised:
        loads_problem(document if isinstance(document, str) else json.dumps(document))
    return raised.value


def changed(path: str, value: Any, document: dict[str, Any] = FULL) -> dict[str, Any]:
    """A copy of ``document`` with the field at ``path`` (``needs[1].window``) set, or removed if value is ...."""
    result = copy.deepcopy(document)
    parts = path.replace("]", "").replace("[", ".").split(".")
    target: Any = result
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is ...:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return result


def test_the_minimal_form_of_the_issue_reads_as_one_resource_and_one_need_with_defaults() -> None:
    loaded = loads_problem(json.dumps(MINIMAL))
    assert loaded.decimals == 2
    assert loaded.problem == Problem(
        resources=(Resource(id="seed", quantity_minor=25_000),),
        needs=(Need(id="n1", member="coop-a", resource="seed", desired_minor=4_000),),
        policy=Policy(rule=Rule.PROPORTIONAL),
    )


def test_every_optional_field_reads_into_the_model_exactly() -> None:
    problem = parse(FULL)
    assert problem.policy == Policy(
        rule=Rule.LEXIMIN, member_cap_share=Fraction(1, 4), time_limit_s=30.0, stage_time_limit_s=2.5
    )
    seed, vans = problem.resources
    assert seed == Resource(id="seed", quantity_minor=25_050)
    assert vans.slots == (
        Slot(id="van1-mon", capacity=2, zone="north", start=0, end=1),
        Slot(id="van1-tue", capacity=1, zone="north", start=1, end=2),
        Slot(id="van2"),
    )
    n1, n2, n3 = problem.needs
    assert n1 == Need("n1", "coop-a", "seed", desired_minor=4_000, minimum_minor=1_005, tier=2, weight=Fraction(3, 2))
    # On a slot resource, quantities are whole slots: decimals do not apply.
    assert n2 == Need(
        "n2", "coop-b", "vans", desired_minor=2, minimum_minor=1, weight=Fraction(1, 3), all_or_nothing=True,
        acceptable=frozenset({"van1-mon", "van1-tue"}), window=(0, 7), zone="north",
    )
    assert (n3.desired_minor, n3.weight) == (1, Fraction(3))


def test_a_file_with_no_decimals_reads_whole_amounts() -> None:
    document = changed("decimals", 0, MINIMAL)
    document = changed("resources[0].quantity", "250", document)
    document = changed("needs[0].desired", "40", document)
    assert parse(document).needs[0].desired_minor == 40
    assert refusal(changed("needs[0].desired", "40.0", document)).field == "needs[0].desired"


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("decimals", ..., "decimals", "required"),
        ("decimals", "2", "decimals", "expected an integer"),
        ("decimals", 9, "decimals", "between 0 and 8"),
        ("rule", "fairest", "rule", "'fairest' is not one of"),
        ("member_cap_share", 0.25, "member_cap_share", "decimal string"),
        ("member_cap_share", "-0.25", "member_cap_share", "negative"),
        ("member_cap_share", "1/0", "member_cap_share", "divides by zero"),
        ("member_cap_share", "1.5", "member_cap_share", "at most 1"),
        ("member_cap_share", "0", "member_cap_share", "more than 0"),
        ("time_limit_s", 0, "time_limit_s", "more than 0"),
        ("time_limit_s", "60", "time_limit_s", "number of seconds"),
        ("resources", {}, "resources", "expected a list"),
        ("resources[0].quantity", 250.5, "resources[0].quantity", "decimal string"),
        ("resources[0].quantity", 250, "resources[0].quantity", "decimal string"),
        ("resources[0].quantity", "250.501", "resources[0].quantity", "more than 2 decimals"),
        ("resources[0].quantity", "-1", "resources[0].quantity", "negative"),
        ("resources[0].quantity", "1e3", "resources[0].quantity", "not a decimal number"),
        ("resources[0].quantity", " 1", "resources[0].quantity", "not a decimal number"),
        ("resources[0].id", "", "resources[0].id", "must not be empty"),
        ("resources[0].id", 7, "resources[0].id", "expected a string"),
        ("resources[0].colour", "red", "resources[0].colour", "unknown field"),
        ("resources[1].quantity", "1", "resources[1]", "exactly one of quantity"),
        ("resources[1].slots", [], "resources[1].slots", "must not be empty"),
        ("resources[1].slots[0].capacity", "2", "resources[1].slots[0].capacity", "expected an integer"),
        ("resources[1].slots[0].capacity", True, "resources[1].slots[0].capacity", "expected an integer"),
        ("resources[1].slots[1].end", ..., "resources[1].slots[1].end", "start and end go together"),
        ("needs[0].id", ..., "needs[0].id", "required"),
        ("needs[0].desired", "40.001", "needs[0].desired", "more than 2 decimals"),
        ("needs[0].desired", 40, "needs[0].desired", "decimal string"),
        ("needs[0].minimum", None, "needs[0].minimum", "decimal string"),
        ("needs[0].resource", "water", "needs[0].resource", "no resource has id 'water'"),
        ("needs[0].tier", 1.0, "needs[0].tier", "expected an integer"),
        ("needs[0].weight", 1.5, "needs[0].weight", "decimal string"),
        ("needs[0].weight", "one", "needs[0].weight", "not a decimal number"),
        ("needs[0].all_or_nothing", "yes", "needs[0].all_or_nothing", "true or false"),
        ("needs[0].zone", "north", "needs[0].zone", "only to a resource made of slots"),
        ("needs[0].window", [0, 1], "needs[0].window", "only to a resource made of slots"),
        ("needs[0].priority", 1, "needs[0].priority", "unknown field"),
        ("needs[1].desired", "2.0", "needs[1].desired", "whole number of slots"),
        ("needs[1].desired", 2.5, "needs[1].desired", "expected an integer"),
        ("needs[1].desired", "-2", "needs[1].desired", "negative"),
        ("needs[1].window", [0], "needs[1].window", "expected [start, end]"),
        ("needs[1].window", [0, "7"], "needs[1].window[1]", "expected an integer"),
        ("needs[1].acceptable", ["van2", "van2"], "needs[1].acceptable[1]", "duplicate slot id"),
        ("needs[1].acceptable", "van2", "needs[1].acceptable", "expected a list"),
        ("needs[2]", [], "needs[2]", "expected an object"),
    ],
)
def test_a_bad_field_is_refused_with_its_json_path(path: str, value: Any, field: str, words: str) -> None:
    error = refusal(changed(path, value))
    assert isinstance(error, InvalidProblem)
    assert error.field == field
    assert words in str(error)


def test_an_unknown_top_level_field_is_refused() -> None:
    assert refusal({**MINIMAL, "round": "2026-05"}).field == "round"


def test_a_duplicate_key_is_refused_rather_than_silently_taking_the_last_value() -> None:
    text = json.dumps(MINIMAL).replace('"desired": "40.00"', '"desired": "40.00", "desired": "400.00"')
    assert refusal(text).field == "needs[0].desired"


def test_nan_and_infinity_are_refused_where_they_stand() -> None:
    text = json.dumps(FULL).replace('"time_limit_s": 30', '"time_limit_s": NaN')
    error = refusal(text)
    assert (error.field, "NaN" in str(error)) == ("time_limit_s", True)


def test_a_file_that_is_not_json_is_refused_with_its_line_and_column() -> None:
    error = refusal('{\n  "decimals": 2,\n  "rule": }\n')
    assert "line 3, column 11" in str(error)


def test_a_file_that_is_not_one_object_is_refused() -> None:
    assert "one JSON object" in str(refusal([MINIMAL]))


def test_an_absurd_integer_is_refused_as_too_large_not_a_crash() -> None:
    assert isinstance(refusal(changed("needs[1].window", [0, 2**70])), TooLarge)
    assert isinstance(refusal('{"decimals": ' + "9" * 5000 + "}"), AllocationError)


def test_an_amount_above_the_solvers_limit_is_refused_as_too_large() -> None:
    error = refusal(changed("resources[0].quantity", str(2**62)))
    assert isinstance(error, TooLarge)
    assert error.field == "resources[0].quantity"


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(MINIMAL).replace("coop-a", "coop-\u00e9").encode("latin-1"))
    with pytest.raises(InvalidProblem, match="not UTF-8"):
        read_problem(path)


def test_a_written_file_reads_back_to_an_equal_problem(tmp_path: Path) -> None:
    problem = parse(FULL)
    path = tmp_path / "round.json"
    write_problem(problem, path, decimals=2)
    assert read_problem(path).problem == problem
    assert parse_problem(json.loads(path.read_text(encoding="utf-8"))).problem == problem


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    needs=st.integers(1, 30),
    decimals=st.integers(0, 8),
    cap=st.none() | st.fractions(min_value=Fraction(1, 1000), max_value=1, max_denominator=1000),
    weight=st.fractions(min_value=Fraction(1, 100), max_value=100, max_denominator=100),
    is_slots=st.booleans(),
)
def test_writing_and_reading_back_gives_the_same_problem_for_random_problems(
    seed: int, needs: int, decimals: int, cap: Fraction | None, weight: Fraction, is_slots: bool
) -> None:
    if is_slots:
        problem = slot_problem(SlotShape(needs=needs, items=6, zones=2, days=3), seed=seed)
    else:
        problem = divisible_problem(DivisibleShape(needs=needs), seed=seed)
    first = problem.needs[0]
    problem = Problem(
        resources=problem.resources,
        needs=(dataclasses.replace(first, weight=weight), *problem.needs[1:]),
        policy=Policy(rule=Rule.EQUAL_LOSSES, member_cap_share=cap, time_limit_s=0.1 + seed % 7 / 3),
    )
    out = io.StringIO()
    write_problem(problem, out, decimals=decimals)
    assert loads_problem(out.getvalue()).problem == problem
    assert problem_to_json(loads_problem(out.getvalue()).problem, decimals=decimals) == json.loads(out.getvalue())


@settings(max_examples=200, deadline=None)
@given(amount_minor=st.integers(0, 2**62), decimals=st.integers(0, 8))
def test_an_amount_written_in_the_files_units_reads_back_to_the_same_minor_units(amount_minor: int, decimals: int) -> None:
    document = changed("resources[0].quantity", format_minor(amount_minor, decimals), changed("decimals", decimals, MINIMAL))
    document = changed("needs[0].desired", "1", document)
    assert parse(document).resources[0].quantity_minor == amount_minor


def test_shares_are_written_rounded_down_to_six_decimals() -> None:
    assert format_fraction(Fraction(1, 3)) == "0.333333"
    assert format_fraction(Fraction(2, 3)) == "0.666666"
    assert format_fraction(Fraction(1)) == "1.000000"
    assert format_fraction(Fraction(-1, 3)) == "-0.333334"  # down means towards minus infinity


def test_the_result_object_gives_amounts_in_the_files_units_and_slots_as_whole_counts() -> None:
    problem = parse(FULL)
    result = AllocationResult(
        status=Status.FEASIBLE,
        allocations=(
            NeedAllocation("n1", "coop-a", "seed", 4_000, 1_005, 1_250, decided_by="tier 2, leximin"),
            NeedAllocation(
                "n2", "coop-b", "vans", 2, 1, 2, slots=("van1-mon", "van1-tue"), decided_by="all-or-nothing",
                binding=("desired",),
            ),
            NeedAllocation("n3", "coop-b", "seed", 1, 0, 0, decided_by="member cap", binding=("member cap",)),
        ),
        minimums_met=False,
        message="the pool cannot cover the essential minimums",
        stages=(StageReport("tier 1, leximin, level 1", Status.FEASIBLE, Fraction(1, 3), Fraction(1, 2), 0.25),),
        solve_time_s=0.5,
        method="cp-sat",
    )
    document = result_to_json(result, problem, decimals=2)
    assert json.loads(json.dumps(document)) == document  # plain JSON values only
    assert document["status"] == "feasible"
    assert document["allocations"] == {"n1": "12.50", "n2": "2", "n3": "0.00"}
    assert document["slots"] == {"n2": ["van1-mon", "van1-tue"]}
    assert document["minimums_met"] is False
    assert document["worst_share"] == "0.000000"
    assert document["stages"] == [
        {
            "name": "tier 1, leximin, level 1", "status": "feasible", "objective": "0.333333",
            "bound": "0.500000", "gap": "0.166666", "solve_time_s": 0.25,
        }
    ]
    assert document["explanations"]["n1"] == {
        "member": "coop-a", "resource": "seed", "declared": "40.00", "minimum": "10.05", "allocated": "12.50",
        "share_met": "0.312500", "decided_by": "tier 2, leximin", "binding": [],
    }
    assert document["explanations"]["n2"]["declared"] == "2"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def field_paths(value: Any, prefix: str = "") -> list[str]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += field_paths(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += field_paths(item, f"{prefix}[{index}]")
    return paths


@settings(max_examples=300, deadline=None)
@given(data=st.data(), value=JSON_VALUES)
def test_any_change_to_a_field_is_accepted_or_refused_with_a_typed_error_never_a_crash(data: Any, value: Any) -> None:
    path = data.draw(st.sampled_from(field_paths(FULL)))
    document = changed(path, value)
    try:
        parse(document)
    except AllocationError as error:
        assert isinstance(error.field, str)
        assert str(error)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_any_json_document_is_accepted_or_refused_with_a_typed_error_never_a_crash(value: Any) -> None:
    try:
        parse(value)
    except AllocationError:
        pass
