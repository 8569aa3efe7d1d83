"""The exact divisible allocator: feasibility, efficiency, each rule's definition, rounding, order of service.

The rules' definitions are checked on the exact (unrounded) awards from
``exact_awards``; the divisible case is cross-checked against an independent
LP (scipy's HiGHS) and, without member caps, against a plain Fraction
implementation of the level search.
"""

from __future__ import annotations

import random
from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from solver.allocation import Problem, allocate
from solver.allocation.divisible import allocate_divisible, exact_awards
from solver.allocation.model import Need, Policy, Resource, Rule, Status
from solver.allocation.rounding import exact_order, round_exact, round_largest_remainder

RULES = list(Rule)
WEIGHTS = [Fraction(1), Fraction(2), Fraction(1, 2), Fraction(3, 2), Fraction(3), Fraction(5, 4)]
CAPS = [None, Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(1)]
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def instances(draw, *, tiers: int = 1, caps: bool = True, minimums: bool = True, size_max: int = 7):
    """A random divisible resource with its needs and a policy (ids shuffled so input order is not id order)."""
    count = draw(st.integers(1, size_max))
    needs = []
    for index in range(count):
        desired = draw(st.integers(1, 40))
        minimum = draw(st.integers(0, desired)) if minimums and draw(st.booleans()) else 0
        needs.append(
            Need(
                id=f"n{index}",
                member=draw(st.sampled_from(["a", "b", "c", "d"])),
                resource="r",
                desired_minor=desired,
                minimum_minor=minimum,
                tier=draw(st.integers(1, tiers)),
                weight=draw(st.sampled_from(WEIGHTS)),
            )
        )
    draw(st.randoms(use_true_random=False)).shuffle(needs)
    quantity = draw(st.integers(0, sum(need.desired_minor for need in needs) + 10))
    cap = draw(st.sampled_from(CAPS)) if caps else None
    return Resource("r", quantity), needs, cap


def _cap_minor(resource: Resource, cap: Fraction | None) -> int | None:
    return None if cap is None else cap.numerator * resource.quantity_minor // cap.denominator


def _bounds_total(needs: list[Need], cap_minor: int | None, attribute: str) -> int:
    """Σ over members of min(cap, Σ of the attribute): the most any allocation can give."""
    by_member: dict[str, int] = defaultdict(int)
    for need in needs:
        by_member[need.member] += getattr(need, attribute)
    return sum(total if cap_minor is None else min(cap_minor, total) for total in by_member.values())


def _minimums_fit(resource: Resource, needs: list[Need], cap_minor: int | None) -> bool:
    by_member: dict[str, int] = defaultdict(int)
    for need in needs:
        by_member[need.member] += need.minimum_minor
    if sum(by_member.values()) > resource.quantity_minor:
        return False
    return cap_minor is None or all(total <= cap_minor for total in by_member.values())


def _member_totals(needs: list[Need], amounts) -> dict[str, Fraction]:
    totals: dict[str, Fraction] = defaultdict(Fraction)
    for need, amount in zip(needs, amounts):
        totals[need.member] += amount
    return totals


# ---------------------------------------------------------------------------
# feasibility and efficiency, every rule


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(instance=instances(tiers=2))
def test_every_rule_gives_a_feasible_allocation_exact_and_rounded(rule: Rule, instance) -> None:
    resource, needs, cap = instance
    policy = Policy(rule, cap)
    cap_minor = _cap_minor(resource, cap)
    exact = exact_awards(resource, needs, policy)
    result = allocate_divisible(resource, needs, policy)
    rounded = [allocation.allocated_minor for allocation in result.allocations]
    for amounts in (exact.awards, rounded):
        assert sum(amounts) <= resource.quantity_minor
        for need, amount in zip(needs, amounts):
            assert 0 <= amount <= need.desired_minor
            if exact.minimums_met:
                assert amount >= need.minimum_minor
            else:
                assert amount <= need.minimum_minor
        if cap_minor is not None:
            assert all(total <= cap_minor for total in _member_totals(needs, amounts).values())
    assert result.status is Status.OPTIMAL
    assert result.method == "exact"
    assert [allocation.need_id for allocation in result.allocations] == [need.id for need in needs]


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(instance=instances(tiers=2))
def test_nothing_is_left_in_the_pool_that_some_need_could_still_take(rule: Rule, instance) -> None:
    resource, needs, cap = instance
    cap_minor = _cap_minor(resource, cap)
    exact = exact_awards(resource, needs, Policy(rule, cap))
    rounded = [a.allocated_minor for a in allocate_divisible(resource, needs, Policy(rule, cap)).allocations]
    assert exact.minimums_met == _minimums_fit(resource, needs, cap_minor)
    bound = _bounds_total(needs, cap_minor, "desired_minor" if exact.minimums_met else "minimum_minor")
    expected = min(resource.quantity_minor, bound)
    assert sum(exact.awards) == expected
    assert sum(rounded) == expected


# ---------------------------------------------------------------------------
# each rule's definition on the exact awards (one tier, minimums met)


def _stage_view(instance, rule: Rule):
    """The exact awards above the minimums, the claims, and which needs' members are held at their cap."""
    resource, needs, cap = instance
    cap_minor = _cap_minor(resource, cap)
    exact = exact_awards(resource, needs, Policy(rule, cap))
    assume(exact.minimums_met)
    totals = _member_totals(needs, exact.awards)
    capped = [cap_minor is not None and totals[need.member] == cap_minor for need in needs]
    above = [award - need.minimum_minor for need, award in zip(needs, exact.awards)]
    claims = [need.desired_minor - need.minimum_minor for need in needs]
    return needs, above, claims, capped


@SETTINGS
@given(instance=instances())
def test_equal_awards_no_need_below_its_claim_gets_less_per_weight_than_any_other(instance) -> None:
    needs, above, claims, capped = _stage_view(instance, Rule.EQUAL_AWARDS)
    for i, need in enumerate(needs):
        if above[i] < claims[i] and not capped[i]:
            for j, other in enumerate(needs):
                assert above[i] / need.weight >= above[j] / other.weight


@SETTINGS
@given(instance=instances())
def test_equal_losses_needs_with_an_award_lose_equally_per_weight(instance) -> None:
    needs, above, claims, capped = _stage_view(instance, Rule.EQUAL_LOSSES)
    losses = {i: (claims[i] - above[i]) * needs[i].weight for i in range(len(needs)) if not capped[i]}
    level = {loss for i, loss in losses.items() if above[i] > 0}
    assert len(level) <= 1
    if level:
        (common,) = level
        # A need given nothing loses its whole claim, which is at most the common weighted loss.
        assert all(loss <= common for i, loss in losses.items() if above[i] == 0)
        # Needs of members held at their cap (which they reached at a higher level) lose at least as much.
        assert all(
            (claims[i] - above[i]) * needs[i].weight >= common for i in range(len(needs)) if capped[i] and above[i] > 0
        )


@SETTINGS
@given(instance=instances())
def test_proportional_awards_are_proportional_to_weight_times_claim_among_needs_below_claim(instance) -> None:
    needs, above, claims, capped = _stage_view(instance, Rule.PROPORTIONAL)
    ratios = {
        above[i] / (needs[i].weight * claims[i])
        for i in range(len(needs))
        if claims[i] and not capped[i] and above[i] < claims[i]
    }
    assert len(ratios) <= 1
    if ratios:
        (ratio,) = ratios
        # A need at its claim reached it below that ratio: 1/w <= ratio.
        assert all(
            1 / needs[i].weight <= ratio
            for i in range(len(needs))
            if claims[i] and above[i] == claims[i] and not capped[i]
        )


@SETTINGS
@given(instance=instances())
def test_leximin_needs_between_their_bounds_share_one_weighted_share_of_need_met(instance) -> None:
    needs, above, claims, capped = _stage_view(instance, Rule.LEXIMIN)
    shares = [(need.minimum_minor + above[i]) / (need.desired_minor * need.weight) for i, need in enumerate(needs)]
    inside = {shares[i] for i in range(len(needs)) if 0 < above[i] < claims[i] and not capped[i]}
    assert len(inside) <= 1
    if inside:
        (level,) = inside
        assert all(shares[i] >= level for i in range(len(needs)) if above[i] == 0 < claims[i] and not capped[i])
        assert all(shares[i] <= level for i in range(len(needs)) if above[i] == claims[i] > 0 and not capped[i])


# ---------------------------------------------------------------------------
# against an independent LP (scipy, HiGHS)


def _lp(needs: list[Need], quantity: int, cap_minor: int | None, metric, *, maximise_min: bool) -> float:
    """Optimise the worst need's metric (max-min, or min-max) over every feasible allocation, minimums given.

    Variables x_0..x_{n-1} (the awards, minimum <= x <= desired) and t; the metric of need i
    is a linear function ``metric(i) = (coefficient, constant)``: value = coefficient·x_i + constant.
    """
    count = len(needs)
    objective = [0.0] * count + [-1.0 if maximise_min else 1.0]
    rows, limits = [], []
    for i in range(count):
        coefficient, constant = metric(i)
        row = [0.0] * (count + 1)
        if maximise_min:  # t <= coefficient·x_i + constant
            row[i], row[count] = -float(coefficient), 1.0
            limits.append(float(constant))
        else:  # coefficient·x_i + constant <= t
            row[i], row[count] = float(coefficient), -1.0
            limits.append(-float(constant))
        rows.append(row)
    rows.append([1.0] * count + [0.0])
    limits.append(float(quantity))
    if cap_minor is not None:
        for member in sorted({need.member for need in needs}):
            rows.append([1.0 if need.member == member else 0.0 for need in needs] + [0.0])
            limits.append(float(cap_minor))
    bounds = [(need.minimum_minor, need.desired_minor) for need in needs] + [(None, None)]
    solution = linprog(objective, A_ub=rows, b_ub=limits, bounds=bounds, method="highs")
    assert solution.status == 0, solution.message
    return -solution.fun if maximise_min else solution.fun


def _max_total(needs: list[Need], quantity: int, cap_minor: int | None) -> float:
    count = len(needs)
    rows, limits = [[1.0] * count], [float(quantity)]
    if cap_minor is not None:
        for member in sorted({need.member for need in needs}):
            rows.append([1.0 if need.member == member else 0.0 for need in needs])
            limits.append(float(cap_minor))
    bounds = [(need.minimum_minor, need.desired_minor) for need in needs]
    solution = linprog([-1.0] * count, A_ub=rows, b_ub=limits, bounds=bounds, method="highs")
    assert solution.status == 0
    return -solution.fun


LP_METRICS = {
    # rule: (metric of need i as (coefficient, constant) on its award a_i, max-min or min-max, our value)
    Rule.LEXIMIN: lambda need: (Fraction(1) / (need.weight * need.desired_minor), Fraction(0)),
    Rule.EQUAL_AWARDS: lambda need: (1 / need.weight, -Fraction(need.minimum_minor) / need.weight),
    Rule.EQUAL_LOSSES: lambda need: (need.weight, -need.weight * need.desired_minor),
}


@pytest.mark.parametrize("rule", RULES)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances())
def test_the_worst_off_need_does_as_well_as_the_lp_allows(rule: Rule, instance) -> None:
    """Leximin: max-min share/w; proportional: max-min award/(w·claim); equal awards: max-min award/w;
    equal losses: min-max weighted loss (as max-min of its negative). All over every feasible allocation."""
    resource, needs, cap = instance
    cap_minor = _cap_minor(resource, cap)
    exact = exact_awards(resource, needs, Policy(rule, cap))
    assume(exact.minimums_met)
    if rule is Rule.PROPORTIONAL:
        live = [i for i, need in enumerate(needs) if need.desired_minor > need.minimum_minor]
        assume(live)

        def metric(i: int) -> tuple[Fraction, Fraction]:
            need = needs[i]
            claim = need.desired_minor - need.minimum_minor
            if claim == 0:
                return Fraction(0), Fraction(10**6)  # no claim: never the worst off
            return 1 / (need.weight * claim), -Fraction(need.minimum_minor) / (need.weight * claim)
    else:

        def metric(i: int) -> tuple[Fraction, Fraction]:
            return LP_METRICS[rule](needs[i])

    ours = min(
        coefficient * award + constant
        for (coefficient, constant), award in ((metric(i), exact.awards[i]) for i in range(len(needs)))
    )
    optimum = _lp(needs, resource.quantity_minor, cap_minor, metric, maximise_min=True)
    assert float(ours) == pytest.approx(optimum, rel=1e-7, abs=1e-7)
    assert float(sum(exact.awards)) == pytest.approx(_max_total(needs, resource.quantity_minor, cap_minor), abs=1e-6)


# ---------------------------------------------------------------------------
# against a plain Fraction implementation (no member caps, one tier)


def _reference(rule: Rule, needs: list[Need], quantity: int) -> list[Fraction]:
    """The level search done naively with Fractions: evaluate the total at every breakpoint, interpolate."""

    def award(need: Need, level: Fraction) -> Fraction:
        claim, weight, held = need.desired_minor - need.minimum_minor, need.weight, need.minimum_minor
        if rule is Rule.PROPORTIONAL:
            return min(Fraction(claim), level * weight * claim)
        if rule is Rule.EQUAL_AWARDS:
            return min(Fraction(claim), level * weight)
        if rule is Rule.EQUAL_LOSSES:
            return max(Fraction(0), claim - level / weight)
        return min(Fraction(claim), max(Fraction(0), level * weight * need.desired_minor - held))

    def total(level: Fraction) -> Fraction:
        return sum((award(need, level) for need in needs), Fraction(0))

    claims = sum(need.desired_minor - need.minimum_minor for need in needs)
    amount = min(Fraction(quantity - sum(need.minimum_minor for need in needs)), Fraction(claims))
    points = {Fraction(0)}
    for need in needs:
        claim, weight = need.desired_minor - need.minimum_minor, need.weight
        if rule is Rule.PROPORTIONAL:
            points.add(1 / weight)
        elif rule is Rule.EQUAL_AWARDS:
            points.add(claim / weight)
        elif rule is Rule.EQUAL_LOSSES:
            points.add(claim * weight)
        else:
            points |= {Fraction(need.minimum_minor) / (weight * need.desired_minor), 1 / weight}
    points_sorted = sorted(points, reverse=rule is Rule.EQUAL_LOSSES)
    previous = points_sorted[0]
    for point in points_sorted:
        if total(point) >= amount:
            low, high = total(previous), total(point)
            level = point if high == low else previous + (point - previous) * (amount - low) / (high - low)
            return [need.minimum_minor + award(need, level) for need in needs]
        previous = point
    raise AssertionError("unreachable")


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(instance=instances(caps=False))
def test_the_sweep_matches_a_plain_fraction_level_search(rule: Rule, instance) -> None:
    resource, needs, _ = instance
    exact = exact_awards(resource, needs, Policy(rule))
    assume(exact.minimums_met)
    assert list(exact.awards) == _reference(rule, needs, resource.quantity_minor)


@pytest.mark.parametrize("rule", RULES)
def test_huge_quantities_and_fine_weights_stay_exact(rule: Rule) -> None:
    rng = random.Random(7)
    big = 2**60
    needs = [
        Need(
            f"n{index}",
            f"m{index}",
            "r",
            desired_minor=big - rng.randrange(1000),
            minimum_minor=rng.randrange(3),
            weight=Fraction(rng.randrange(1, 10**12), rng.randrange(1, 10**12)),
        )
        for index in range(40)
    ]
    quantity = sum(need.desired_minor for need in needs) // 3
    exact = exact_awards(Resource("r", quantity), needs, Policy(rule))
    assert list(exact.awards) == _reference(rule, needs, quantity)
    result = allocate_divisible(Resource("r", quantity), needs, Policy(rule))
    assert sum(allocation.allocated_minor for allocation in result.allocations) == quantity


# ---------------------------------------------------------------------------
# rounding


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(instance=instances(tiers=2))
def test_rounding_is_within_one_unit_of_the_exact_award_and_keeps_the_total(rule: Rule, instance) -> None:
    resource, needs, cap = instance
    exact = exact_awards(resource, needs, Policy(rule, cap))
    result = allocate_divisible(resource, needs, Policy(rule, cap))
    for award, allocation in zip(exact.awards, result.allocations):
        assert isinstance(allocation.allocated_minor, int)
        assert award - 1 < allocation.allocated_minor < award + 1
        assert allocation.allocated_minor in (
            award.numerator // award.denominator,
            -(-award.numerator // award.denominator),
        )
    assert sum(a.allocated_minor for a in result.allocations) == sum(exact.awards)


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(instance=instances(tiers=2))
def test_the_allocation_does_not_depend_on_the_input_order(rule: Rule, instance) -> None:
    resource, needs, cap = instance
    forward = allocate_divisible(resource, needs, Policy(rule, cap))
    backward = allocate_divisible(resource, needs[::-1], Policy(rule, cap))
    assert {a.need_id: a for a in forward.allocations} == {a.need_id: a for a in backward.allocations}


def test_leftover_units_go_to_the_largest_remainders_then_by_need_id() -> None:
    needs = [Need(need_id, need_id, "r", desired_minor=10) for need_id in ("b", "c", "a")]
    result = allocate_divisible(Resource("r", 10), needs, Policy(Rule.EQUAL_AWARDS))
    assert {a.need_id: a.allocated_minor for a in result.allocations} == {"a": 4, "b": 3, "c": 3}
    result = allocate_divisible(Resource("r", 11), needs, Policy(Rule.EQUAL_AWARDS))
    assert {a.need_id: a.allocated_minor for a in result.allocations} == {"a": 4, "b": 4, "c": 3}


def test_a_larger_remainder_wins_over_a_smaller_need_id() -> None:
    awards = [Fraction(7, 4), Fraction(9, 4), Fraction(2)]  # remainders 3/4, 1/4, 0; total 6
    assert round_exact(awards, ["a", "b", "c"], [5, 5, 5], ["x", "y", "z"], None) == [2, 2, 2]


def test_rounding_never_gives_a_unit_that_would_put_a_member_above_its_cap() -> None:
    # Member x has two needs at 2.5 each and a cap of 5: it may take only one leftover unit.
    awards = [Fraction(5, 2), Fraction(5, 2), Fraction(1, 2), Fraction(1, 2)]
    rounded = round_exact(awards, ["a", "b", "c", "d"], [9, 9, 9, 9], ["x", "x", "y", "z"], 5)
    assert rounded[0] + rounded[1] == 5
    assert sum(rounded) == 6
    assert rounded == [3, 2, 1, 0]


def test_rounding_with_mixed_denominators_compares_remainders_exactly() -> None:
    floors = [0, 0, 0]
    numerators = [2**60, 1, 2**60]
    denominators = [2**61 + 1, 2, 2**61 - 1]  # just below 1/2, exactly 1/2, just above 1/2
    result = round_largest_remainder(
        floors, numerators, denominators, ["a", "b", "c"], [1, 1, 1], ["x", "y", "z"], None, 2
    )
    assert result == [0, 1, 1]


@settings(max_examples=200, deadline=None)
@given(
    fractions=st.lists(st.tuples(st.integers(-(2**64), 2**64), st.integers(1, 2**64)), min_size=0, max_size=30),
    near=st.integers(0, 2**62),
    descending=st.booleans(),
)
def test_exact_order_sorts_fractions_exactly_even_where_floats_tie(fractions, near, descending) -> None:
    # Add values that floats cannot tell apart, e.g. near/1 and (near + 1)/1 around 2**62.
    fractions = fractions + [(near, 1), (near + 1, 1), (2 * near + 1, 2), (near, 1)]
    numerators = [numerator for numerator, _ in fractions]
    denominators = [denominator for _, denominator in fractions]
    keys = [f"k{index:03d}" for index in range(len(fractions))]
    order = exact_order(numerators, denominators, keys, descending=descending)
    sign = -1 if descending else 1
    expected = sorted(range(len(fractions)), key=lambda i: (sign * Fraction(numerators[i], denominators[i]), keys[i]))
    assert order == expected


# ---------------------------------------------------------------------------
# order of service: minimums first, then tiers


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(instance=instances(tiers=3))
def test_a_later_tier_gets_more_than_its_minimums_only_when_every_earlier_need_is_satisfied(
    rule: Rule, instance
) -> None:
    resource, needs, cap = instance
    cap_minor = _cap_minor(resource, cap)
    exact = exact_awards(resource, needs, Policy(rule, cap))
    assume(exact.minimums_met)
    totals = _member_totals(needs, exact.awards)
    for later, later_award in zip(needs, exact.awards):
        if later_award > later.minimum_minor:
            for earlier, earlier_award in zip(needs, exact.awards):
                if earlier.tier < later.tier:
                    assert earlier_award == earlier.desired_minor or totals[earlier.member] == cap_minor


@pytest.mark.parametrize("rule", RULES)
def test_minimums_are_met_first_even_where_the_rule_would_give_less(rule: Rule) -> None:
    needs = [
        Need("small", "a", "r", desired_minor=10, minimum_minor=9, weight=Fraction(1, 10)),
        Need("large", "b", "r", desired_minor=1000, weight=Fraction(10)),
    ]
    result = allocate_divisible(Resource("r", 100), needs, Policy(rule))
    small, large = result.allocations
    assert result.minimums_met
    assert small.allocated_minor >= 9
    assert small.allocated_minor + large.allocated_minor == 100


@pytest.mark.parametrize("rule", RULES)
def test_when_the_pool_cannot_cover_the_minimums_they_are_shared_and_the_result_says_so(rule: Rule) -> None:
    needs = [
        Need("a", "a", "r", desired_minor=50, minimum_minor=40),
        Need("b", "b", "r", desired_minor=50, minimum_minor=20),
        Need("c", "c", "r", desired_minor=50),
    ]
    result = allocate_divisible(Resource("r", 30), needs, Policy(rule))
    assert not result.minimums_met
    assert result.status is Status.OPTIMAL
    assert "cannot cover the essential minimums" in result.message
    assert "60" in result.message and "30" in result.message
    amounts = {a.need_id: a.allocated_minor for a in result.allocations}
    assert sum(amounts.values()) == 30
    assert amounts["c"] == 0  # nothing above the minimums
    assert amounts["a"] <= 40 and amounts["b"] <= 20


def test_a_member_whose_minimums_exceed_its_cap_makes_the_minimums_shared() -> None:
    needs = [
        Need("a1", "a", "r", desired_minor=50, minimum_minor=30),
        Need("a2", "a", "r", desired_minor=50, minimum_minor=30),
        Need("b1", "b", "r", desired_minor=50, minimum_minor=10),
    ]
    result = allocate_divisible(Resource("r", 100), needs, Policy(Rule.PROPORTIONAL, Fraction(1, 2)))
    assert not result.minimums_met
    assert "'a'" in result.message and "cap is 50" in result.message
    amounts = {x.need_id: x.allocated_minor for x in result.allocations}
    assert amounts == {"a1": 25, "a2": 25, "b1": 10}


# ---------------------------------------------------------------------------
# explanations


def test_each_need_says_what_decided_its_allocation() -> None:
    needs = [
        Need("met", "a", "r", desired_minor=10, tier=1),
        Need("capped", "b", "r", desired_minor=500, tier=1),
        Need("shared1", "c", "r", desired_minor=400, minimum_minor=5, tier=2),
        Need("shared2", "d", "r", desired_minor=400, tier=2),
        Need("only-min", "e", "r", desired_minor=400, minimum_minor=7, tier=3),
    ]
    result = allocate_divisible(Resource("r", 300), needs, Policy(Rule.PROPORTIONAL, Fraction(1, 2)))
    by_id = {allocation.need_id: allocation for allocation in result.allocations}
    assert by_id["met"].decided_by == "desired met" and by_id["met"].binding == ("desired",)
    assert by_id["capped"].allocated_minor == 150
    assert by_id["capped"].decided_by == "member cap" and by_id["capped"].binding == ("member cap",)
    assert by_id["shared1"].decided_by == "tier 2, proportional"
    assert by_id["shared2"].decided_by == "tier 2, proportional"
    assert by_id["only-min"].allocated_minor == 7
    assert by_id["only-min"].decided_by == "minimum" and by_id["only-min"].binding == ("minimum",)
    assert result.status is Status.OPTIMAL and result.method == "exact" and result.minimums_met


def test_a_member_cap_on_several_needs_stops_them_together_while_others_keep_rising() -> None:
    needs = [
        Need("a1", "a", "r", desired_minor=100),
        Need("a2", "a", "r", desired_minor=100, weight=Fraction(2)),
        Need("b1", "b", "r", desired_minor=100),
        Need("c1", "c", "r", desired_minor=30),
    ]
    exact = exact_awards(Resource("r", 200), needs, Policy(Rule.EQUAL_AWARDS, Fraction(3, 10)))
    a1, a2, b1, c1 = exact.awards
    assert a1 + a2 == 60 and a2 == 2 * a1  # member a stops at its cap of 60, at level 20
    assert c1 == 30 and b1 == 60  # b keeps rising after a stops, to its own cap


def test_allocate_runs_the_exact_allocator_for_a_divisible_resource() -> None:
    problem = Problem(
        resources=(Resource("r", 90),),
        needs=(Need("x", "a", "r", desired_minor=60), Need("y", "b", "r", desired_minor=60, minimum_minor=10)),
        policy=Policy(Rule.EQUAL_LOSSES),
    )
    result = allocate(problem)
    # Equal losses above the minimums: both lose 15 of their remaining claims (60 and 50).
    assert [allocation.allocated_minor for allocation in result.allocations] == [45, 45]
    assert result.status is Status.OPTIMAL and result.method == "exact"
