"""The CP-SAT allocator: feasibility, order of service, each rule's stages against brute force, determinism, limits.

The brute force enumerates every assignment of slots to needs on tiny
instances (at most 4 slots and 4 needs), keeps the allocation vectors the
constraints allow, and applies the agreed semantics directly: minimums
first (or shared), then each tier's leximin on the rule's metric, then the
largest total. The allocator's answer must reach exactly the same sorted
metric vectors and total.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.allocation import ResourceResult
from solver.allocation.cpsat import allocate_with_cp_sat
from solver.allocation.model import Need, Policy, Resource, Rule, Slot, Status

WEIGHTS = [Fraction(1), Fraction(2), Fraction(1, 2), Fraction(3, 2)]
CAPS = [None, None, Fraction(1, 2), Fraction(1, 3), Fraction(2, 3)]
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def _accepts(need: Need, slot: Slot) -> bool:
    if need.acceptable is not None and slot.id not in need.acceptable:
        return False
    if need.zone is not None and slot.zone != need.zone:
        return False
    if need.window is not None:
        if slot.start is None or slot.end is None:
            return False
        if not (need.window[0] <= slot.start and slot.end <= need.window[1]):
            return False
    return True


def _pool(resource: Resource) -> int:
    return resource.quantity_minor if resource.is_divisible else sum(slot.capacity for slot in resource.slots)


def _cap(resource: Resource, policy: Policy) -> int | None:
    return None if policy.member_cap_share is None else math.floor(policy.member_cap_share * _pool(resource))


def _solve(resource: Resource, needs: list[Need], policy: Policy, time_limit_s: float = 30.0) -> ResourceResult:
    return allocate_with_cp_sat(resource, needs, policy, time_limit_s=time_limit_s)


def assert_valid(resource: Resource, needs: list[Need], policy: Policy, result: ResourceResult) -> list[int]:
    """Check every constraint independently of the allocator; return the amounts in the needs' order."""
    by_id = {allocation.need_id: allocation for allocation in result.allocations}
    assert set(by_id) == {need.id for need in needs}
    slots = {slot.id: slot for slot in resource.slots}
    used: dict[str, int] = defaultdict(int)
    member_totals: dict[str, int] = defaultdict(int)
    amounts = []
    for need in needs:
        allocation = by_id[need.id]
        amount = allocation.allocated_minor
        assert 0 <= amount <= need.desired_minor
        if need.all_or_nothing:
            assert amount in (0, need.desired_minor)
        if result.minimums_met:
            assert amount >= need.minimum_minor
        else:
            assert amount <= need.minimum_minor
        if not resource.is_divisible:
            assert list(allocation.slots) == sorted(set(allocation.slots))
            assert len(allocation.slots) == amount
            for slot_id in allocation.slots:
                assert _accepts(need, slots[slot_id])
                used[slot_id] += 1
        member_totals[need.member] += amount
        amounts.append(amount)
    for slot_id, count in used.items():
        assert count <= slots[slot_id].capacity
    assert sum(amounts) <= _pool(resource)
    cap = _cap(resource, policy)
    if cap is not None:
        assert all(total <= cap for total in member_totals.values())
    return amounts


# ---------------------------------------------------------------------------
# brute force


def _achievable(resource: Resource, needs: list[Need]) -> set[tuple[int, ...]]:
    """Every allocation vector some assignment of slots (or units) allows, before member caps."""
    if resource.is_divisible:
        ranges = [[0, need.desired_minor] if need.all_or_nothing else range(need.desired_minor + 1) for need in needs]
        return {vector for vector in itertools.product(*ranges) if sum(vector) <= resource.quantity_minor}
    options = []
    for need in needs:
        accepted = [k for k, slot in enumerate(resource.slots) if _accepts(need, slot)]
        sizes = [0, need.desired_minor] if need.all_or_nothing else range(need.desired_minor + 1)
        options.append([subset for size in sizes for subset in itertools.combinations(accepted, size)])
    vectors: set[tuple[int, ...]] = set()
    left = [slot.capacity for slot in resource.slots]

    def walk(index: int, prefix: tuple[int, ...]) -> None:
        if index == len(needs):
            vectors.add(prefix)
            return
        for subset in options[index]:
            if all(left[k] > 0 for k in subset):
                for k in subset:
                    left[k] -= 1
                walk(index + 1, (*prefix, len(subset)))
                for k in subset:
                    left[k] += 1

    walk(0, ())
    return vectors


def _metric(rule: Rule, need: Need, amount: int, claim: int) -> Fraction:
    weight = need.weight
    if rule == Rule.LEXIMIN:
        return Fraction(amount) / (weight * need.desired_minor)
    if rule == Rule.PROPORTIONAL:
        return Fraction(amount) / (weight * claim)
    if rule == Rule.EQUAL_AWARDS:
        return Fraction(amount) / weight
    return -Fraction(claim - amount) / weight


def _keys(
    needs: list[Need], rule: Rule, vector: tuple[int, ...] | list[int], minimums_met: bool
) -> tuple[tuple[tuple[Fraction, ...], ...], int]:
    """The sorted metric vector of each stage (tiers, or the shared minimums), and the total."""
    if minimums_met:
        groups = [
            [i for i, need in enumerate(needs) if need.tier == tier] for tier in sorted({need.tier for need in needs})
        ]
        claims = [need.desired_minor for need in needs]
    else:
        groups = [[i for i, need in enumerate(needs) if need.minimum_minor > 0]]
        claims = [need.minimum_minor for need in needs]
    sorted_vectors = tuple(
        tuple(sorted(_metric(rule, needs[i], vector[i], claims[i]) for i in group)) for group in groups
    )
    return sorted_vectors, sum(vector)


def brute_force(resource: Resource, needs: list[Need], policy: Policy) -> tuple[bool, tuple]:
    """(minimums met, the best keys) by the agreed semantics, over every feasible vector."""
    cap = _cap(resource, policy)
    vectors = []
    for vector in _achievable(resource, needs):
        if cap is not None:
            totals: dict[str, int] = defaultdict(int)
            for need, amount in zip(needs, vector):
                totals[need.member] += amount
            if any(total > cap for total in totals.values()):
                continue
        vectors.append(vector)
    meeting = [v for v in vectors if all(a >= need.minimum_minor for a, need in zip(v, needs))]
    if meeting:
        candidates, minimums_met = meeting, True
    else:
        candidates = [v for v in vectors if all(a <= need.minimum_minor for a, need in zip(v, needs))]
        minimums_met = False
    # Lexicographic over (stage vectors..., total): each stage's sorted vector maximised in turn, then the total.
    best = max(_keys(needs, policy.rule, vector, minimums_met) for vector in candidates)
    return minimums_met, best


# ---------------------------------------------------------------------------
# instances


@st.composite
def tiny_slot_instances(draw, rule: Rule | None = None):
    slot_count = draw(st.integers(1, 4))
    slots = []
    for k in range(slot_count):
        start = draw(st.integers(0, 2))
        slots.append(
            Slot(
                id=f"s{k}",
                capacity=draw(st.integers(1, 2)),
                zone=draw(st.sampled_from(["north", "south"])),
                start=start,
                end=start + 1,
            )
        )
    resource = Resource(id="vans", slots=tuple(slots))
    needs = []
    for index in range(draw(st.integers(1, 4))):
        desired = draw(st.integers(1, min(3, slot_count)))
        minimum = draw(st.integers(0, desired)) if draw(st.integers(0, 3)) == 0 else 0
        window = None
        if draw(st.booleans()):
            start = draw(st.integers(0, 2))
            window = (start, start + draw(st.integers(1, 3)))
        acceptable = None
        if draw(st.integers(0, 3)) == 0:
            acceptable = frozenset(draw(st.lists(st.sampled_from([slot.id for slot in slots]), min_size=1, unique=True)))
        needs.append(
            Need(
                id=f"n{index}",
                member=draw(st.sampled_from(["coop-a", "coop-b", "coop-c"])),
                resource="vans",
                desired_minor=desired,
                minimum_minor=minimum,
                tier=draw(st.integers(1, 2)),
                weight=draw(st.sampled_from(WEIGHTS)),
                all_or_nothing=draw(st.booleans()),
                acceptable=acceptable,
                window=window,
                zone=draw(st.sampled_from([None, None, "north", "south"])),
            )
        )
    policy = Policy(
        rule=rule if rule is not None else draw(st.sampled_from(list(Rule))),
        member_cap_share=draw(st.sampled_from(CAPS)),
    )
    return resource, needs, policy


@st.composite
def tiny_divisible_instances(draw, rule: Rule | None = None):
    resource = Resource(id="flour", quantity_minor=draw(st.integers(0, 9)))
    needs = []
    for index in range(draw(st.integers(1, 3))):
        desired = draw(st.integers(1, 5))
        needs.append(
            Need(
                id=f"n{index}",
                member=draw(st.sampled_from(["coop-a", "coop-b"])),
                resource="flour",
                desired_minor=desired,
                minimum_minor=draw(st.integers(0, desired)) if draw(st.booleans()) else 0,
                tier=draw(st.integers(1, 2)),
                weight=draw(st.sampled_from(WEIGHTS)),
                all_or_nothing=index == 0 or draw(st.booleans()),
            )
        )
    policy = Policy(
        rule=rule if rule is not None else draw(st.sampled_from(list(Rule))),
        member_cap_share=draw(st.sampled_from(CAPS)),
    )
    return resource, needs, policy


def medium_slot_instance(seed: int, *, needs_count: int = 40, rule: Rule = Rule.LEXIMIN, cap: Fraction | None = None):
    """Items over days with zones, windows, minimums, tiers and all-or-nothing needs (seeded)."""
    rng = random.Random(seed)
    slots = tuple(
        Slot(id=f"i{item}-d{day}", capacity=rng.choice([1, 1, 2]), zone=f"z{item % 2}", start=day, end=day + 1)
        for item in range(4)
        for day in range(5)
    )
    needs = []
    for index in range(needs_count):
        desired = rng.randint(1, 3)
        start = rng.randint(0, 4)
        needs.append(
            Need(
                id=f"n{index:03d}",
                member=f"coop-{index % 7}",
                resource="items",
                desired_minor=desired,
                minimum_minor=1 if rng.random() < 0.1 else 0,
                tier=rng.choice([1, 1, 2]),
                weight=rng.choice(WEIGHTS),
                all_or_nothing=rng.random() < 0.3,
                window=(start, start + rng.randint(1, 3)),
                zone=rng.choice([None, "z0", "z1"]),
                acceptable=frozenset(rng.sample([s.id for s in slots], 8)) if rng.random() < 0.2 else None,
            )
        )
    return Resource(id="items", slots=slots), needs, Policy(rule=rule, member_cap_share=cap)


# ---------------------------------------------------------------------------
# feasibility


@pytest.mark.parametrize("seed", range(6))
def test_a_medium_instance_respects_capacities_acceptability_windows_zones_all_or_nothing_and_caps(seed):
    rule = list(Rule)[seed % 4]
    resource, needs, policy = medium_slot_instance(seed, rule=rule, cap=[None, Fraction(1, 10)][seed % 2])
    result = _solve(resource, needs, policy)
    assert result.method == "cp-sat"
    assert result.status == Status.OPTIMAL
    amounts = assert_valid(resource, needs, policy, result)
    assert sum(amounts) > 0
    for stage in result.stages:
        assert stage.status == Status.OPTIMAL
        assert stage.gap in (0, None)


@SETTINGS
@given(tiny_slot_instances())
def test_every_tiny_slot_allocation_is_valid_and_as_good_as_brute_force(instance):
    resource, needs, policy = instance
    result = _solve(resource, needs, policy)
    amounts = assert_valid(resource, needs, policy, result)
    minimums_met, best = brute_force(resource, needs, policy)
    assert result.status == Status.OPTIMAL
    assert result.minimums_met == minimums_met
    assert _keys(needs, policy.rule, amounts, minimums_met) == best


@pytest.mark.parametrize("rule", list(Rule))
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_rule_matches_brute_force_on_tiny_slot_instances(rule, data):
    resource, needs, policy = data.draw(tiny_slot_instances(rule))
    result = _solve(resource, needs, policy)
    amounts = assert_valid(resource, needs, policy, result)
    minimums_met, best = brute_force(resource, needs, policy)
    assert result.minimums_met == minimums_met
    assert _keys(needs, rule, amounts, minimums_met) == best


@SETTINGS
@given(tiny_divisible_instances())
def test_a_divisible_resource_with_all_or_nothing_needs_matches_brute_force(instance):
    resource, needs, policy = instance
    result = _solve(resource, needs, policy)
    amounts = assert_valid(resource, needs, policy, result)
    minimums_met, best = brute_force(resource, needs, policy)
    assert result.status == Status.OPTIMAL
    assert result.minimums_met == minimums_met
    assert _keys(needs, policy.rule, amounts, minimums_met) == best
    assert all(allocation.slots == () for allocation in result.allocations)


# ---------------------------------------------------------------------------
# order of service and explanations


def _day_slots(count: int, zone: str = "z") -> tuple[Slot, ...]:
    return tuple(Slot(id=f"s{k}", zone=zone, start=k, end=k + 1) for k in range(count))


def test_minimums_are_met_first_when_the_slots_allow_it():
    resource = Resource(id="vans", slots=_day_slots(3))
    needs = [
        Need(id="big", member="a", resource="vans", desired_minor=3),
        Need(id="small", member="b", resource="vans", desired_minor=2, minimum_minor=2, tier=2),
    ]
    result = _solve(resource, needs, Policy(rule=Rule.LEXIMIN))
    by_id = {allocation.need_id: allocation for allocation in result.allocations}
    assert result.minimums_met
    assert by_id["small"].allocated_minor == 2  # its minimum, although tier 2
    assert by_id["big"].allocated_minor == 1
    assert by_id["small"].decided_by == "desired met"


def test_minimums_the_slots_cannot_cover_are_shared_and_the_message_says_so():
    resource = Resource(id="vans", slots=_day_slots(4))
    needs = [
        # Enough slots in total (4 >= 3), but both minimums want the same two days.
        Need(id="a", member="a", resource="vans", desired_minor=2, minimum_minor=2, window=(0, 2)),
        Need(id="b", member="b", resource="vans", desired_minor=3, minimum_minor=1, window=(0, 2)),
        Need(id="c", member="c", resource="vans", desired_minor=2),
    ]
    result = _solve(resource, needs, Policy(rule=Rule.LEXIMIN))
    amounts = assert_valid(resource, needs, Policy(rule=Rule.LEXIMIN), result)
    assert not result.minimums_met
    assert "cannot cover the essential minimums" in result.message
    assert "3 slots asked, 4 available" in result.message
    assert amounts[2] == 0  # nothing above the minimums
    assert sum(amounts) == 2
    assert result.status == Status.OPTIMAL


def test_minimums_above_the_pool_are_shared_without_a_solve():
    resource = Resource(id="flour", quantity_minor=5)
    needs = [
        Need(id="a", member="a", resource="flour", desired_minor=6, minimum_minor=4, all_or_nothing=True),
        Need(id="b", member="b", resource="flour", desired_minor=4, minimum_minor=4),
    ]
    result = _solve(resource, needs, Policy(rule=Rule.EQUAL_AWARDS))
    assert not result.minimums_met
    assert "8 minor units asked, 5 available" in result.message
    amounts = assert_valid(resource, needs, Policy(rule=Rule.EQUAL_AWARDS), result)
    assert amounts == [0, 4]  # the all-or-nothing need cannot take part of its desired quantity


def test_tier_one_is_served_in_full_before_tier_two_gets_anything():
    resource = Resource(id="vans", slots=_day_slots(4))
    needs = [
        Need(id="late", member="a", resource="vans", desired_minor=2, tier=2, weight=Fraction(3)),
        Need(id="first", member="b", resource="vans", desired_minor=3, tier=1),
        Need(id="second", member="c", resource="vans", desired_minor=2, tier=1, all_or_nothing=True),
    ]
    for rule in Rule:
        result = _solve(resource, needs, Policy(rule=rule))
        amounts = assert_valid(resource, needs, Policy(rule=rule), result)
        assert amounts[0] == 0, rule
        assert sum(amounts) == 4
        assert amounts[2] == 2  # leximin on tier 1: all-or-nothing 2 and 2 of 3 beats 3 and nothing


def test_leftover_slots_a_tier_cannot_use_go_to_the_next_tier():
    resource = Resource(id="vans", slots=_day_slots(4, "north") + tuple(
        Slot(id=f"t{k}", zone="south", start=k, end=k + 1) for k in range(2)
    ))
    needs = [
        Need(id="north", member="a", resource="vans", desired_minor=2, zone="north"),
        Need(id="anywhere", member="b", resource="vans", desired_minor=5, tier=2),
    ]
    result = _solve(resource, needs, Policy(rule=Rule.PROPORTIONAL))
    amounts = assert_valid(resource, needs, Policy(rule=Rule.PROPORTIONAL), result)
    assert amounts == [2, 4]


def test_explanations_name_the_constraint_that_decided_each_need():
    resource = Resource(id="vans", slots=_day_slots(4))
    needs = [
        Need(id="whole", member="a", resource="vans", desired_minor=3, all_or_nothing=True),  # above the cap
        Need(id="one-day", member="b", resource="vans", desired_minor=2, window=(0, 1)),
        Need(id="capped", member="c", resource="vans", desired_minor=4),
        Need(id="met", member="d", resource="vans", desired_minor=1, window=(3, 4)),
    ]
    policy = Policy(rule=Rule.LEXIMIN, member_cap_share=Fraction(1, 2))
    result = _solve(resource, needs, policy)
    by_id = {allocation.need_id: allocation for allocation in result.allocations}
    assert by_id["whole"].decided_by == "all-or-nothing"
    assert by_id["whole"].binding == ("slots", "all-or-nothing")
    assert by_id["one-day"].decided_by == "slots"
    assert by_id["one-day"].slots == ("s0",)
    assert by_id["one-day"].binding == ("slots",)
    assert by_id["capped"].decided_by == "member cap"
    assert by_id["capped"].slots == ("s1", "s2")
    assert by_id["capped"].binding == ("member cap", "slots")
    assert by_id["met"].decided_by == "desired met"
    assert by_id["met"].binding == ("desired",)


def test_stages_report_exact_levels_and_counts():
    resource = Resource(id="vans", slots=_day_slots(4))
    needs = [Need(id=f"n{k}", member=f"m{k}", resource="vans", desired_minor=k + 1) for k in range(3)]
    result = _solve(resource, needs, Policy(rule=Rule.LEXIMIN))
    assert [stage.name for stage in result.stages][:2] == ["tier 1, leximin: level 1", "tier 1, leximin: count above level 1"]
    assert result.stages[0].objective == Fraction(1, 2)  # 1 of 2 and 2 of 3 ... 1 of 1 reaches 1
    assert result.stages[-1].name == "total"
    assert result.stages[-1].objective == 4
    assert all(isinstance(stage.objective, Fraction) for stage in result.stages)


def test_large_quantities_are_leximin_exact_through_the_level_refinement():
    resource = Resource(id="flour", quantity_minor=10**12)
    needs = [
        Need(id="a", member="a", resource="flour", desired_minor=6 * 10**11, all_or_nothing=True),
        Need(id="b", member="b", resource="flour", desired_minor=5 * 10**11),
        Need(id="c", member="c", resource="flour", desired_minor=5 * 10**11 + 7),
    ]
    result = _solve(resource, needs, Policy(rule=Rule.LEXIMIN))
    amounts = assert_valid(resource, needs, Policy(rule=Rule.LEXIMIN), result)
    assert result.status == Status.OPTIMAL
    assert amounts[0] == 6 * 10**11
    assert amounts[1] + amounts[2] == 4 * 10**11
    shares = [Fraction(amounts[k], needs[k].desired_minor) for k in (1, 2)]
    # No single unit moved from the better-off to the worse-off raises the smaller share.
    low, high = (1, 2) if shares[0] <= shares[1] else (2, 1)
    moved = min(Fraction(amounts[low] + 1, needs[low].desired_minor), Fraction(amounts[high] - 1, needs[high].desired_minor))
    assert moved <= min(shares)


# ---------------------------------------------------------------------------
# determinism and limits


def test_two_runs_give_identical_allocations_and_stages():
    resource, needs, policy = medium_slot_instance(11, needs_count=60, cap=Fraction(1, 8))
    first = _solve(resource, needs, policy)
    second = _solve(resource, needs, policy)
    assert first.allocations == second.allocations
    assert [(s.name, s.status, s.objective) for s in first.stages] == [
        (s.name, s.status, s.objective) for s in second.stages
    ]


def test_no_time_at_all_gives_a_valid_feasible_result_quickly():
    resource, needs, policy = medium_slot_instance(3, needs_count=60)
    started = time.perf_counter()
    result = _solve(resource, needs, policy, time_limit_s=0.0)
    assert time.perf_counter() - started < 5.0
    assert result.status == Status.FEASIBLE
    assert_valid(resource, needs, policy, result)
    assert all(stage.status != Status.OPTIMAL for stage in result.stages) or not result.stages


def test_a_tiny_time_limit_is_honoured_and_never_called_optimal_unless_proven():
    resource, needs, policy = medium_slot_instance(5, needs_count=120)
    started = time.perf_counter()
    result = _solve(resource, needs, policy, time_limit_s=0.05)
    assert time.perf_counter() - started < 5.0
    assert_valid(resource, needs, policy, result)
    if result.status == Status.OPTIMAL:
        assert all(stage.status == Status.OPTIMAL for stage in result.stages)
    else:
        assert result.status == Status.FEASIBLE


def test_allocate_sends_slot_resources_to_cp_sat_and_merges_them_in_input_order():
    from solver.allocation import Problem, allocate

    resource, needs, policy = medium_slot_instance(2, needs_count=20)
    flour = Resource(id="flour", quantity_minor=10)
    extra = [
        Need(id="f1", member="coop-1", resource="flour", desired_minor=6, all_or_nothing=True),
        Need(id="f2", member="coop-2", resource="flour", desired_minor=6),
    ]
    result = allocate(Problem(resources=(resource, flour), needs=tuple(needs + extra), policy=policy))
    assert [allocation.need_id for allocation in result.allocations] == [need.id for need in needs + extra]
    assert result.method == "cp-sat"
    assert result.status == Status.OPTIMAL
    assert [allocation.allocated_minor for allocation in result.allocations[-2:]] == [6, 4]
