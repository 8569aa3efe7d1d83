"""check_problem refuses each kind of bad input with a stable code and the field's path."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from solver.allocation.errors import AllocationError, InvalidProblem, TooLarge
from solver.allocation.model import Need, Policy, Problem, Resource, Rule, Slot
from solver.allocation.validate import (
    QUANTITY_MINOR_MAX,
    TEXT_LENGTH_MAX,
    WEIGHT_PART_MAX,
    check_problem,
)


def _problem() -> Problem:
    """A valid problem: a divisible resource and a slot resource, two needs on each."""
    return Problem(
        resources=(
            Resource("seed", quantity_minor=1000),
            Resource(
                "vans",
                slots=(
                    Slot("van1-mon", capacity=1, zone="north", start=0, end=1),
                    Slot("van1-tue", capacity=2, zone="north", start=1, end=2),
                ),
            ),
        ),
        needs=(
            Need("n1", "coop-a", "seed", desired_minor=400, minimum_minor=100, weight=Fraction(3, 2)),
            Need("n2", "coop-b", "seed", desired_minor=800, tier=2),
            Need(
                "n3", "coop-a", "vans", desired_minor=1, acceptable=frozenset({"van1-mon"}), window=(0, 7), zone="north"
            ),
            Need("n4", "coop-b", "vans", desired_minor=2, all_or_nothing=True),
        ),
        policy=Policy(rule=Rule.LEXIMIN, member_cap_share=Fraction(1, 2)),
    )


def _with_need(index: int, **changes: object) -> Problem:
    problem = _problem()
    needs = list(problem.needs)
    needs[index] = dataclasses.replace(needs[index], **changes)
    return dataclasses.replace(problem, needs=tuple(needs))


def _with_resource(index: int, **changes: object) -> Problem:
    problem = _problem()
    resources = list(problem.resources)
    resources[index] = dataclasses.replace(resources[index], **changes)
    return dataclasses.replace(problem, resources=tuple(resources))


def _with_slot(index: int, **changes: object) -> Problem:
    problem = _problem()
    slots = list(problem.resources[1].slots)
    slots[index] = dataclasses.replace(slots[index], **changes)
    return _with_resource(1, slots=tuple(slots))


def _with_policy(**changes: object) -> Problem:
    problem = _problem()
    return dataclasses.replace(problem, policy=dataclasses.replace(problem.policy, **changes))


def test_a_valid_problem_passes() -> None:
    check_problem(_problem())


def test_an_empty_problem_passes() -> None:
    check_problem(Problem(resources=(), needs=(), policy=Policy(rule=Rule.PROPORTIONAL)))


REFUSALS = [
    # (what is wrong, the problem, code, field)
    ("unknown rule", lambda: _with_policy(rule="fairest"), "invalid_problem", "rule"),
    ("cap share 0", lambda: _with_policy(member_cap_share=Fraction(0)), "invalid_problem", "member_cap_share"),
    ("cap share above 1", lambda: _with_policy(member_cap_share=Fraction(3, 2)), "invalid_problem", "member_cap_share"),
    ("cap share a float", lambda: _with_policy(member_cap_share=0.5), "invalid_problem", "member_cap_share"),
    ("time limit 0", lambda: _with_policy(time_limit_s=0.0), "invalid_problem", "time_limit_s"),
    ("empty resource id", lambda: _with_resource(0, id=""), "invalid_problem", "resources[0].id"),
    ("duplicate resource id", lambda: _with_resource(1, id="seed"), "invalid_problem", "resources[1].id"),
    ("negative quantity", lambda: _with_resource(0, quantity_minor=-1), "invalid_problem", "resources[0].quantity"),
    (
        "quantity too large",
        lambda: _with_resource(0, quantity_minor=QUANTITY_MINOR_MAX + 1),
        "too_large",
        "resources[0].quantity",
    ),
    ("empty slot id", lambda: _with_slot(1, id=""), "invalid_problem", "resources[1].slots[1].id"),
    ("duplicate slot id", lambda: _with_slot(1, id="van1-mon"), "invalid_problem", "resources[1].slots[1].id"),
    ("slot capacity 0", lambda: _with_slot(0, capacity=0), "invalid_problem", "resources[1].slots[0].capacity"),
    ("slot start after end", lambda: _with_slot(0, start=3, end=3), "invalid_problem", "resources[1].slots[0].end"),
    ("slot start without end", lambda: _with_slot(0, end=None), "invalid_problem", "resources[1].slots[0].end"),
    ("empty need id", lambda: _with_need(1, id=""), "invalid_problem", "needs[1].id"),
    ("duplicate need id", lambda: _with_need(2, id="n1"), "invalid_problem", "needs[2].id"),
    ("id too long", lambda: _with_need(1, id="x" * (TEXT_LENGTH_MAX + 1)), "too_large", "needs[1].id"),
    ("empty member", lambda: _with_need(1, member=""), "invalid_problem", "needs[1].member"),
    ("unknown resource", lambda: _with_need(1, resource="water"), "invalid_problem", "needs[1].resource"),
    ("desired 0", lambda: _with_need(0, desired_minor=0, minimum_minor=0), "invalid_problem", "needs[0].desired"),
    (
        "desired negative",
        lambda: _with_need(0, desired_minor=-5, minimum_minor=0),
        "invalid_problem",
        "needs[0].desired",
    ),
    ("desired a float", lambda: _with_need(0, desired_minor=4.5), "invalid_problem", "needs[0].desired"),
    ("desired too large", lambda: _with_need(1, desired_minor=QUANTITY_MINOR_MAX + 1), "too_large", "needs[1].desired"),
    (
        "desired total too large",
        lambda: _with_need(1, desired_minor=QUANTITY_MINOR_MAX),
        "too_large",
        "needs[1].desired",
    ),
    ("more slots than exist", lambda: _with_need(3, desired_minor=3), "invalid_problem", "needs[3].desired"),
    ("minimum negative", lambda: _with_need(0, minimum_minor=-1), "invalid_problem", "needs[0].minimum"),
    ("minimum above desired", lambda: _with_need(0, minimum_minor=401), "invalid_problem", "needs[0].minimum"),
    ("tier 0", lambda: _with_need(1, tier=0), "invalid_problem", "needs[1].tier"),
    ("weight 0", lambda: _with_need(0, weight=Fraction(0)), "invalid_problem", "needs[0].weight"),
    ("weight negative", lambda: _with_need(0, weight=Fraction(-1, 2)), "invalid_problem", "needs[0].weight"),
    ("weight a float", lambda: _with_need(0, weight=1.5), "invalid_problem", "needs[0].weight"),
    ("weight too fine", lambda: _with_need(0, weight=Fraction(1, WEIGHT_PART_MAX + 1)), "too_large", "needs[0].weight"),
    (
        "all-or-nothing not a boolean",
        lambda: _with_need(0, all_or_nothing=1),
        "invalid_problem",
        "needs[0].all_or_nothing",
    ),
    (
        "acceptable on a divisible resource",
        lambda: _with_need(0, acceptable=frozenset({"van1-mon"})),
        "invalid_problem",
        "needs[0].acceptable",
    ),
    ("window on a divisible resource", lambda: _with_need(1, window=(0, 1)), "invalid_problem", "needs[1].window"),
    ("zone on a divisible resource", lambda: _with_need(1, zone="north"), "invalid_problem", "needs[1].zone"),
    (
        "unknown acceptable slot",
        lambda: _with_need(2, acceptable=frozenset({"van9"})),
        "invalid_problem",
        "needs[2].acceptable",
    ),
    ("window start after end", lambda: _with_need(2, window=(5, 5)), "invalid_problem", "needs[2].window"),
    ("empty zone", lambda: _with_need(2, zone=""), "invalid_problem", "needs[2].zone"),
]


@pytest.mark.parametrize(("case", "make", "code", "field"), REFUSALS, ids=[case[0] for case in REFUSALS])
def test_each_bad_value_is_refused_with_its_code_and_field_path(case: str, make, code: str, field: str) -> None:
    with pytest.raises(AllocationError) as refused:
        check_problem(make())
    assert refused.value.code == code
    assert refused.value.field == field
    assert isinstance(refused.value, TooLarge if code == "too_large" else InvalidProblem)
    assert field in str(refused.value)


def test_the_first_bad_value_in_input_order_is_the_one_refused() -> None:
    problem = _with_need(3, desired_minor=0, minimum_minor=0)
    needs = list(problem.needs)
    needs[1] = dataclasses.replace(needs[1], tier=0)
    problem = dataclasses.replace(problem, needs=tuple(needs))
    with pytest.raises(InvalidProblem) as refused:
        check_problem(problem)
    assert refused.value.field == "needs[1].tier"


def test_within_a_need_the_fields_are_checked_in_file_order() -> None:
    with pytest.raises(InvalidProblem) as refused:
        check_problem(_with_need(0, desired_minor=0, minimum_minor=-1, weight=Fraction(0)))
    assert refused.value.field == "needs[0].desired"


def test_policy_errors_come_before_resource_and_need_errors() -> None:
    problem = _with_need(0, desired_minor=0)
    problem = dataclasses.replace(problem, policy=Policy(rule=Rule.LEXIMIN, member_cap_share=Fraction(2)))
    with pytest.raises(InvalidProblem) as refused:
        check_problem(problem)
    assert refused.value.field == "member_cap_share"


def test_too_many_needs_is_refused_before_reading_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from solver.allocation import validate

    monkeypatch.setattr(validate, "NEEDS_MAX", 3)
    with pytest.raises(TooLarge) as refused:
        check_problem(_problem())
    assert refused.value.code == "too_large"
    assert refused.value.field == "needs"


def test_too_many_slots_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from solver.allocation import validate

    monkeypatch.setattr(validate, "SLOTS_MAX", 1)
    with pytest.raises(TooLarge) as refused:
        check_problem(_problem())
    assert refused.value.field == "resources[1].slots"


def test_many_valid_needs_are_checked_quickly_and_pass() -> None:
    needs = tuple(
        Need(
            f"n{index}",
            f"m{index % 97}",
            "seed",
            desired_minor=1 + index % 50,
            minimum_minor=index % 2,
            tier=1 + index % 3,
            weight=Fraction(1 + index % 4, 2),
        )
        for index in range(20_000)
    )
    check_problem(Problem(resources=(Resource("seed", 10**6),), needs=needs, policy=Policy(Rule.LEXIMIN)))


def test_a_bad_need_among_many_is_found_at_its_position() -> None:
    needs = [Need(f"n{index}", "m", "seed", desired_minor=10) for index in range(5_000)]
    needs[4321] = dataclasses.replace(needs[4321], minimum_minor=11)
    with pytest.raises(InvalidProblem) as refused:
        check_problem(Problem(resources=(Resource("seed", 100),), needs=tuple(needs), policy=Policy(Rule.LEXIMIN)))
    assert refused.value.field == "needs[4321].minimum"
