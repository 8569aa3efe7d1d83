"""The first-come-first-served baseline, and the seeded generator the benchmarks feed it."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from solver.allocation.generator import (
    DivisibleShape,
    SlotShape,
    divisible_problem,
    slot_problem,
)
from solver.allocation.greedy import DECIDED_BY, allocate_first_come_first_served
from solver.allocation.model import Need, Policy, Problem, Resource, Rule, Slot, Status


def amounts(problem: Problem) -> list[int]:
    return [a.allocated_minor for a in allocate_first_come_first_served(problem).allocations]


def test_needs_are_served_in_input_order_each_taking_all_it_can() -> None:
    problem = Problem(
        resources=(Resource("seed", quantity_minor=100),),
        needs=(
            Need("b", "coop-b", "seed", desired_minor=60, minimum_minor=50),
            Need("a", "coop-a", "seed", desired_minor=30, tier=1, weight=Fraction(3)),
            Need("c", "coop-c", "seed", desired_minor=40, minimum_minor=40),
        ),
        policy=Policy(rule=Rule.LEXIMIN),
    )
    result = allocate_first_come_first_served(problem)
    assert [a.allocated_minor for a in result.allocations] == [60, 30, 10]
    # Minimums, tiers and weights are ignored: that is what makes it a baseline.
    assert result.minimums_met is False
    assert (result.status, result.method) == (Status.FEASIBLE, "greedy")
    assert {a.decided_by for a in result.allocations} == {DECIDED_BY}


def test_an_all_or_nothing_need_that_does_not_fit_gets_nothing_and_the_next_need_is_served() -> None:
    problem = Problem(
        resources=(Resource("seed", quantity_minor=100),),
        needs=(
            Need("a", "coop-a", "seed", desired_minor=70),
            Need("b", "coop-b", "seed", desired_minor=40, all_or_nothing=True),
            Need("c", "coop-c", "seed", desired_minor=20),
        ),
        policy=Policy(rule=Rule.PROPORTIONAL),
    )
    assert amounts(problem) == [70, 0, 20]


def test_a_member_never_takes_more_than_its_cap_minimums_included() -> None:
    problem = Problem(
        resources=(Resource("seed", quantity_minor=100),),
        needs=(
            Need("a1", "coop-a", "seed", desired_minor=20),
            Need("a2", "coop-a", "seed", desired_minor=20, minimum_minor=20),
            Need("b", "coop-b", "seed", desired_minor=90),
        ),
        policy=Policy(rule=Rule.EQUAL_AWARDS, member_cap_share=Fraction(1, 3)),  # cap: floor(100 / 3) = 33
    )
    assert amounts(problem) == [20, 13, 33]


def test_slots_are_taken_in_id_order_among_those_the_need_accepts() -> None:
    slots = (
        Slot("van2-mon", zone="north", start=0, end=1),
        Slot("van1-tue", zone="north", start=1, end=2),
        Slot("van1-mon", capacity=2, zone="north", start=0, end=1),
        Slot("van3-mon", zone="south", start=0, end=1),
    )
    problem = Problem(
        resources=(Resource("vans", slots=slots),),
        needs=(
            Need("a", "coop-a", "vans", desired_minor=2, window=(0, 1), zone="north"),
            Need("b", "coop-b", "vans", desired_minor=3),
            Need("c", "coop-c", "vans", desired_minor=1, acceptable=frozenset({"van2-mon", "van3-mon"})),
            Need("d", "coop-d", "vans", desired_minor=2, all_or_nothing=True),
        ),
        policy=Policy(rule=Rule.LEXIMIN),
    )
    result = allocate_first_come_first_served(problem)
    assert [a.slots for a in result.allocations] == [
        ("van1-mon", "van2-mon"),  # the window excludes Tuesday, the zone excludes van3
        ("van1-mon", "van1-tue", "van3-mon"),  # van1-mon has capacity 2; van2-mon is taken
        (),  # both acceptable slots are taken
        (),  # nothing left: all-or-nothing gets nothing rather than a part
    ]
    assert [a.allocated_minor for a in result.allocations] == [2, 3, 0, 0]


def test_an_all_or_nothing_need_on_slots_takes_no_slot_unless_it_gets_them_all() -> None:
    problem = Problem(
        resources=(Resource("vans", slots=(Slot("v1"), Slot("v2"), Slot("v3"))),),
        needs=(
            Need("a", "coop-a", "vans", desired_minor=1, acceptable=frozenset({"v2"})),
            Need("b", "coop-b", "vans", desired_minor=3, all_or_nothing=True),
            Need("c", "coop-c", "vans", desired_minor=2),
        ),
        policy=Policy(rule=Rule.LEXIMIN),
    )
    assert [a.slots for a in allocate_first_come_first_served(problem).allocations] == [("v2",), (), ("v1", "v3")]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), needs=st.integers(1, 60), cap=st.sampled_from([None, Fraction(1, 10)]))
def test_the_baseline_respects_capacities_acceptance_all_or_nothing_and_caps_on_random_slot_problems(
    seed: int, needs: int, cap: Fraction | None
) -> None:
    generated = slot_problem(SlotShape(needs=needs, items=8, zones=3, days=4), seed=seed)
    problem = Problem(generated.resources, generated.needs, Policy(rule=Rule.LEXIMIN, member_cap_share=cap))
    result = allocate_first_come_first_served(problem)
    slots = {slot.id: slot for slot in problem.resources[0].slots}
    used = Counter(slot_id for a in result.allocations for slot_id in a.slots)
    assert all(used[slot_id] <= slots[slot_id].capacity for slot_id in used)
    member_cap = len(slots) if cap is None else math.floor(cap * len(slots))
    per_member = Counter()
    for need, allocation in zip(problem.needs, result.allocations):
        assert allocation.need_id == need.id
        assert allocation.allocated_minor == len(allocation.slots) == len(set(allocation.slots))
        assert allocation.allocated_minor <= need.desired_minor
        if need.all_or_nothing:
            assert allocation.allocated_minor in (0, need.desired_minor)
        for slot_id in allocation.slots:
            slot = slots[slot_id]
            assert slot.zone == need.zone
            assert need.window is not None and need.window[0] <= slot.start and slot.end <= need.window[1]
        per_member[need.member] += allocation.allocated_minor
    assert max(per_member.values()) <= member_cap


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), needs=st.integers(1, 200))
def test_the_baseline_never_gives_more_than_the_pool_or_a_members_cap_on_random_divisible_problems(
    seed: int, needs: int
) -> None:
    problem = divisible_problem(DivisibleShape(needs=needs, member_cap_share=Fraction(1, 5)), seed=seed)
    result = allocate_first_come_first_served(problem)
    quantity_minor = problem.resources[0].quantity_minor
    assert sum(a.allocated_minor for a in result.allocations) <= quantity_minor
    per_member = Counter()
    for need, allocation in zip(problem.needs, result.allocations):
        assert 0 <= allocation.allocated_minor <= need.desired_minor
        per_member[need.member] += allocation.allocated_minor
    assert max(per_member.values()) <= quantity_minor // 5


def test_the_generator_gives_the_same_problem_for_the_same_seed_and_another_for_another() -> None:
    shape = DivisibleShape(needs=300)
    assert divisible_problem(shape, seed=5) == divisible_problem(shape, seed=5)
    assert divisible_problem(shape, seed=5) != divisible_problem(shape, seed=6)
    slots = SlotShape(needs=100)
    assert slot_problem(slots, seed=5) == slot_problem(slots, seed=5)


def test_generated_divisible_problems_have_the_documented_shape() -> None:
    problem = divisible_problem(DivisibleShape(needs=3_000), seed=1, rule=Rule.EQUAL_LOSSES)
    needs = problem.needs
    assert problem.policy == Policy(rule=Rule.EQUAL_LOSSES, member_cap_share=Fraction(1, 100))
    assert len({need.member for need in needs}) == 1_000
    assert {need.tier for need in needs} == {1, 2, 3}
    assert {need.weight for need in needs} == {1, 2, 3}
    with_minimum = [need for need in needs if need.minimum_minor]
    assert 0.15 * len(needs) < len(with_minimum) < 0.35 * len(needs)
    assert all(need.minimum_minor <= need.desired_minor // 2 for need in with_minimum)
    total = sum(need.desired_minor for need in needs)
    assert problem.resources[0].quantity_minor == math.floor(total * 0.8)
    assert max(need.desired_minor for need in needs) > 20 * sorted(n.desired_minor for n in needs)[len(needs) // 2]


def test_generated_slot_problems_have_the_documented_shape() -> None:
    problem = slot_problem(SlotShape(needs=2_000), seed=1)
    (resource,) = problem.resources
    assert len(resource.slots) == 50 * 54  # ceil(2000 * 2 / (50 * 1.5)) = 54 days
    assert {slot.zone for slot in resource.slots} == {"z0", "z1", "z2", "z3", "z4"}
    needs = problem.needs
    assert {need.desired_minor for need in needs} == {1, 2, 3}
    assert 0.25 * len(needs) < sum(need.all_or_nothing for need in needs) < 0.35 * len(needs)
    for need in needs:
        assert need.window is not None and 0 <= need.window[0] < need.window[1] <= 54
        assert need.window[1] - need.window[0] <= 7
        if need.all_or_nothing:
            assert need.window[1] - need.window[0] >= need.desired_minor
