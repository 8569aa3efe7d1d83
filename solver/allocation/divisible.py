"""Exact allocation of one divisible resource: every rule in O(n log n), no solver.

Order of service (the agreed semantics 1 and 2). Q is the resource's
quantity and a member's cap is ``floor(member_cap_share × Q)``, on its total
(minimums included).

1. If the minimums fit (their sum <= Q and each member's minimums within
   its cap), every need gets its minimum; then each tier, smallest number
   first, shares what is left over its needs' remaining claims
   ``desired − minimum`` by the rule; what a tier cannot use goes to the next.
2. Otherwise the minimums themselves are shared by the rule (claims =
   minimums, one stage for all tiers), nothing above them is given,
   ``minimums_met`` is False and ``message`` says why.

The rules (semantics 3): sharing an amount E among claims r_i >= 0 with
weights w_i > 0, each need's award is a function of one level λ:

- proportional: x_i = min(r_i, λ·w_i·r_i)
- equal-awards: x_i = min(r_i, λ·w_i)
- equal-losses: x_i = max(0, r_i − λ/w_i)
- leximin (share of need met): x_i = clamp(λ·w_i·d_i − b_i, 0, r_i), where d_i
  is the desired quantity and b_i what the need already holds (its minimum,
  or 0 when the minimums themselves are shared), so that the share
  (b_i + x_i)/d_i, divided by w_i, equals λ wherever the need is not held at
  0 or at its claim. For one divisible resource this is exactly the
  leximin maximum of the sorted vector of weighted shares.

λ is the smallest level at which the awards add up to min(E, Σ of the
claims that the member caps allow).

How λ is found exactly in O(n log n). Each award above is
``clamp(s_i·τ − o_i, 0, r_i)`` in a rescaled level τ with an INTEGER slope
s_i > 0 and an integer offset o_i: λ = D·τ, with D the lowest common
denominator of the stage's weights, and for equal-losses λ = −A·τ (τ <= 0),
with A the lowest common multiple of the weights' numerators. So each
need's breakpoints (where it starts rising, o_i/s_i, and where it reaches
its claim, (o_i + r_i)/s_i) are pairs of integers. They are sorted once by
their correctly rounded float value (monotone in the exact value), and runs
of equal floats are re-sorted exactly. The sweep keeps S (sum of slopes of
the rising needs), O (sum of their offsets) and R (what the needs that
stopped rising hold), all integers, so the total at a breakpoint p/q is
compared with the target in integers: S·p − O·q + R·q >= target·q. In the
first segment where the total reaches the target, τ = (target − R + O)/S:
the one exact fraction of the stage. The awards are then integer pairs
(numerator, denominator) sharing τ's denominator.

Member caps (semantics 3, last sentence): when a member's total reaches its
cap, its needs stay where they are and the level keeps rising for the
others. A member whose claims add up to more than the room its cap leaves is
"at risk"; the level τ_m at which its own total reaches that room is found
by the same sweep over its needs alone (so all members together cost
O(n log n)). In the stage's sweep it becomes one more event at τ_m: the
member's rising needs leave S and O, R gains the room minus the claims of
its needs already full (their holdings at τ_m add up to the room exactly,
an integer), and its later breakpoints are dropped. A member at risk with a
single need is simpler: its claim is cut to the room (same result). After a
stage that does not use up the pool every member at risk holds exactly its
room, so the rooms stay integers from stage to stage.

Speed: scale D (or A) is small for realistic weights (decimal or simple
fractions), so every per-event step is a few machine-size integer
operations; exotic weights stay exact, with bigger integers. Weights are
at most ``validate.WEIGHT_PART_MAX`` in numerator and denominator.

Explanations (semantics 6), from the rounded allocation: "desired met"
(binding "desired"); else "member cap" when the member's total is at its cap
(binding "member cap"); else "minimum" when only the minimum was given;
else the stage, "tier 2, proportional" (or "minimums shared, leximin" when
the minimums do not fit; a need that got its whole minimum then says
"minimum").

Invariants of the result (tests/unit/test_allocation_divisible.py checks them):

- 0 <= minimum_i <= a_i <= desired_i when the minimums are met, and
  0 <= a_i <= minimum_i otherwise; Σ a_i <= Q; each member's total <= its cap;
- Σ a_i = min(Q, Σ of what the caps allow) (no unit is left when some need
  could still take it), the same before and after rounding;
- the exact awards satisfy the rule's definition; the whole-unit awards are
  the exact awards rounded by largest remainder (``rounding``), each within 1;
- the status is always OPTIMAL (the exact optimum, no solver), method "exact".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from operator import attrgetter

from solver._gc import garbage_collection_paused
from solver.allocation import ResourceResult
from solver.allocation.model import Need, NeedAllocation, Policy, Resource, Rule, Status
from solver.allocation.rounding import exact_order, round_largest_remainder

# A rule's award shape: (claims, held, desireds, weight numerators, weight denominators, scale) -> (slopes, offsets).
_Shape = Callable[[list[int], list[int], list[int], list[int], list[int], int], tuple[list[int], list[int]]]


@dataclass(frozen=True, slots=True)
class ExactAllocation:
    """The exact (unrounded) awards of one divisible resource, minimums included, in the needs' order."""

    awards: tuple[Fraction, ...]
    minimums_met: bool
    message: str


def allocate_divisible(resource: Resource, needs: Sequence[Need], policy: Policy) -> ResourceResult:
    """Allocate a divisible resource exactly by ``policy.rule``, then round to whole minor units."""
    # Hundreds of thousands of acyclic objects (integers, pairs, results): the cyclic collector
    # would walk them again and again for nothing (about a third of the time at 100,000 needs).
    with garbage_collection_paused():
        return _allocate_divisible(resource, needs, policy)


def _allocate_divisible(resource: Resource, needs: Sequence[Need], policy: Policy) -> ResourceResult:
    exact = _solve(resource, needs, policy)
    members = [need.member for need in needs]
    cap_minor = exact.cap_minor
    room: dict[str, int] | None = None
    if cap_minor is not None:
        room = dict.fromkeys(members, cap_minor)
        for member, floor in zip(members, exact.floors_minor):
            room[member] -= floor
    allocated = round_largest_remainder(
        exact.floors_minor,
        exact.remainder_numerators,
        exact.denominators,
        [need.id for need in needs],
        exact.claims_minor,
        members,
        room,
        exact.total_minor - sum(exact.floors_minor),
    )
    at_cap: set[str] = set()
    if cap_minor is not None:
        member_totals: dict[str, int] = dict.fromkeys(members, 0)
        for member, amount in zip(members, allocated):
            member_totals[member] += amount
        at_cap = {member for member, total in member_totals.items() if total >= cap_minor}
    allocations = tuple(
        _explain(need, amount, stage, exact.minimums_met, need.member in at_cap)
        for need, amount, stage in zip(needs, allocated, exact.stages)
    )
    return ResourceResult(
        status=Status.OPTIMAL,
        allocations=allocations,
        minimums_met=exact.minimums_met,
        message=exact.message,
        method="exact",
    )


def exact_awards(resource: Resource, needs: Sequence[Need], policy: Policy) -> ExactAllocation:
    """The exact awards before rounding (for checks: the rules' definitions hold on these)."""
    exact = _solve(resource, needs, policy)
    awards = tuple(
        Fraction(floor * denominator + numerator, denominator)
        for floor, numerator, denominator in zip(exact.floors_minor, exact.remainder_numerators, exact.denominators)
    )
    return ExactAllocation(awards=awards, minimums_met=exact.minimums_met, message=exact.message)


def _explain(need: Need, amount: int, stage: str, minimums_met: bool, at_cap: bool) -> NeedAllocation:
    """The need's allocation with what decided it and the constraints at their limit (semantics 6)."""
    desired, minimum = need.desired_minor, need.minimum_minor
    if amount == desired:
        decided_by = "desired met" if minimums_met else "minimum"
        binding = ("desired", "member cap") if at_cap else ("desired",)
    elif at_cap:
        decided_by = "minimum" if not minimums_met and amount == minimum else "member cap"
        binding = ("member cap", "minimum") if amount == minimum > 0 else ("member cap",)
    elif amount == minimum:
        decided_by = "minimum"  # only the minimum was given (or, when minimums do not fit, all of it)
        binding = ("minimum",) if minimum > 0 else ()
    else:
        decided_by = stage
        binding = ()
    return NeedAllocation(need.id, need.member, need.resource, desired, minimum, amount, (), decided_by, binding)


# ---------------------------------------------------------------------------
# order of service: minimums, then tiers


@dataclass(slots=True)
class _Exact:
    """Exact awards as whole part plus remainder (numerator / denominator), and what rounding needs."""

    floors_minor: list[int]
    remainder_numerators: list[int]  # 0 <= numerator < denominator
    denominators: list[int]
    claims_minor: list[int]  # the most each need may get (desired, or its minimum when minimums do not fit)
    stages: list[str]  # the rule stage each need was served in, e.g. "tier 1, leximin"
    total_minor: int  # Σ exact awards: a whole number
    minimums_met: bool
    message: str
    cap_minor: int | None


def _solve(resource: Resource, needs: Sequence[Need], policy: Policy) -> _Exact:
    assert resource.is_divisible
    assert set(map(attrgetter("resource"), needs)) <= {resource.id}
    assert not any(map(attrgetter("all_or_nothing"), needs))
    rule = policy.rule
    pool_minor = resource.quantity_minor
    share = policy.member_cap_share
    cap_minor = None if share is None else share.numerator * pool_minor // share.denominator
    count = len(needs)
    members = list(map(attrgetter("member"), needs))
    minimums = list(map(attrgetter("minimum_minor"), needs))
    desireds = list(map(attrgetter("desired_minor"), needs))
    weights = list(map(attrgetter("weight"), needs))
    weight_numerators = list(map(attrgetter("numerator"), weights))
    weight_denominators = list(map(attrgetter("denominator"), weights))
    rooms = None if cap_minor is None else dict.fromkeys(members, cap_minor)
    message = _minimums_shortfall(resource, members, minimums, cap_minor)
    if message:
        # The minimums themselves are shared by the rule; nothing above them is given.
        wholes, numerators, denominators, used_minor, _ = _share(
            rule,
            minimums,
            [0] * count,
            desireds,
            weight_numerators,
            weight_denominators,
            members,
            pool_minor,
            rooms,
        )
        return _Exact(
            floors_minor=wholes,
            remainder_numerators=numerators,
            denominators=denominators,
            claims_minor=minimums,
            stages=[f"minimums shared, {rule.value}"] * count,
            total_minor=used_minor,
            minimums_met=False,
            message=message,
            cap_minor=cap_minor,
        )
    floors = list(minimums)
    remainder_numerators = [0] * count
    denominators = [1] * count
    stages = [""] * count
    available_minor = pool_minor - sum(minimums)
    if rooms is not None:
        for member, minimum in zip(members, minimums):
            rooms[member] -= minimum
    tiers = [need.tier for need in needs]
    by_tier: dict[int, list[int]] = {}
    for index, tier in enumerate(tiers):
        by_tier.setdefault(tier, []).append(index)
    for tier in sorted(by_tier):
        indices = by_tier[tier]
        stage = f"tier {tier}, {rule.value}"
        for index in indices:
            stages[index] = stage
        if available_minor == 0:
            continue  # the pool is used up: this tier keeps its minimums
        if len(indices) == count:  # one tier: its lists are the needs' lists
            stage_minimums, stage_desireds, stage_members = minimums, desireds, members
            stage_numerators, stage_denominators = weight_numerators, weight_denominators
        else:
            stage_minimums = [minimums[index] for index in indices]
            stage_desireds = [desireds[index] for index in indices]
            stage_members = [members[index] for index in indices]
            stage_numerators = [weight_numerators[index] for index in indices]
            stage_denominators = [weight_denominators[index] for index in indices]
        claims = [desired - minimum for desired, minimum in zip(stage_desireds, stage_minimums)]
        wholes, numerators, stage_denominators_out, used_minor, at_risk = _share(
            rule,
            claims,
            stage_minimums,
            stage_desireds,
            stage_numerators,
            stage_denominators,
            stage_members,
            available_minor,
            rooms,
        )
        if len(indices) == count:
            floors = [floor + whole for floor, whole in zip(floors, wholes)]
            remainder_numerators, denominators = numerators, stage_denominators_out
        else:
            for index, whole, numerator, denominator in zip(indices, wholes, numerators, stage_denominators_out):
                floors[index] += whole
                remainder_numerators[index] = numerator
                denominators[index] = denominator
        available_minor -= used_minor
        if available_minor > 0 and rooms is not None:
            # The pool was not used up, so every need holds its claim or its member holds its whole room.
            for member in at_risk:
                rooms[member] = 0
            for member, claim in zip(stage_members, claims):
                if member not in at_risk:
                    rooms[member] -= claim
    return _Exact(
        floors_minor=floors,
        remainder_numerators=remainder_numerators,
        denominators=denominators,
        claims_minor=desireds,
        stages=stages,
        total_minor=pool_minor - available_minor,
        minimums_met=True,
        message="",
        cap_minor=cap_minor,
    )


def _minimums_shortfall(resource: Resource, members: list[str], minimums: list[int], cap_minor: int | None) -> str:
    """Why the essential minimums cannot all be met ("" when they can)."""
    asked_minor = sum(minimums)
    if asked_minor > resource.quantity_minor:
        return (
            f"resource {resource.id!r}: the pool cannot cover the essential minimums: "
            f"{asked_minor} minor units asked, {resource.quantity_minor} available; "
            "the minimums are shared by the rule and nothing above them is given"
        )
    if cap_minor is not None:
        by_member: dict[str, int] = dict.fromkeys(members, 0)
        for member, minimum in zip(members, minimums):
            by_member[member] += minimum
        for member, member_minor in by_member.items():
            if member_minor > cap_minor:
                return (
                    f"resource {resource.id!r}: the member cap cannot cover the essential minimums of "
                    f"{member!r}: {member_minor} minor units asked, its cap is {cap_minor}; "
                    "the minimums are shared by the rule and nothing above them is given"
                )
    return ""


# ---------------------------------------------------------------------------
# the rules' award shapes: x_i(τ) = clamp(slope·τ − offset, 0, claim), integers


def _proportional_shape(
    claims: list[int], held: list[int], desireds: list[int], numerators: list[int], denominators: list[int], scale: int
) -> tuple[list[int], list[int]]:
    """x = min(r, λ·w·r); with λ = D·τ the slope is w·r·D, rising from τ = 0, full at λ = 1/w."""
    slopes = [
        claim * numerator * (scale // denominator)
        for claim, numerator, denominator in zip(claims, numerators, denominators)
    ]
    return slopes, [0] * len(claims)


def _equal_awards_shape(
    claims: list[int], held: list[int], desireds: list[int], numerators: list[int], denominators: list[int], scale: int
) -> tuple[list[int], list[int]]:
    """x = min(r, λ·w); with λ = D·τ the slope is w·D, rising from τ = 0, full at λ = r/w."""
    slopes = [numerator * (scale // denominator) for numerator, denominator in zip(numerators, denominators)]
    return slopes, [0] * len(claims)


def _equal_losses_shape(
    claims: list[int], held: list[int], desireds: list[int], numerators: list[int], denominators: list[int], scale: int
) -> tuple[list[int], list[int]]:
    """x = max(0, r − λ/w); with λ = −A·τ (τ <= 0), x = r + τ·A/w: slope A/w, offset −r, full at τ = 0."""
    slopes = [denominator * (scale // numerator) for numerator, denominator in zip(numerators, denominators)]
    return slopes, [-claim for claim in claims]


def _leximin_shape(
    claims: list[int], held: list[int], desireds: list[int], numerators: list[int], denominators: list[int], scale: int
) -> tuple[list[int], list[int]]:
    """x = clamp(λ·w·d − b, 0, r); with λ = D·τ the slope is w·d·D and the offset b (what the need holds)."""
    slopes = [
        desired * numerator * (scale // denominator)
        for desired, numerator, denominator in zip(desireds, numerators, denominators)
    ]
    return slopes, list(held)


_SHAPES: dict[Rule, _Shape] = {
    Rule.PROPORTIONAL: _proportional_shape,
    Rule.EQUAL_AWARDS: _equal_awards_shape,
    Rule.EQUAL_LOSSES: _equal_losses_shape,
    Rule.LEXIMIN: _leximin_shape,
}


# ---------------------------------------------------------------------------
# one stage: share an amount among claims


def _share(
    rule: Rule,
    claims: list[int],
    held: list[int],
    desireds: list[int],
    weight_numerators: list[int],
    weight_denominators: list[int],
    members: list[str],
    amount_minor: int,
    rooms: dict[str, int] | None,
) -> tuple[list[int], list[int], list[int], int, set[str]]:
    """Share ``amount_minor`` among ``claims`` by ``rule`` under the members' ``rooms``.

    Returns each need's exact award as a whole part and a remainder (numerator and
    denominator lists), the amount used (a whole number) and the members at risk (see module).
    """
    count = len(claims)
    if rule is Rule.EQUAL_LOSSES:
        scale = math.lcm(*set(weight_numerators)) if count else 1
    else:
        scale = math.lcm(*set(weight_denominators)) if count else 1
    slopes, offsets = _SHAPES[rule](claims, held, desireds, weight_numerators, weight_denominators, scale)
    effective = list(claims)
    levels: dict[str, tuple[int, int]] = {}  # member -> the level at which it reaches its room
    freezes: list[_Freeze] = []
    cut: set[int] = set()  # needs whose rise a member freeze ends (their own full breakpoint is dropped)
    at_risk: set[str] = set()
    if rooms is not None:
        by_member: dict[str, list[int]] = {}
        for index, (member, claim) in enumerate(zip(members, claims)):
            if claim > 0:
                by_member.setdefault(member, []).append(index)
        for member, indices in by_member.items():
            room = rooms[member]
            if sum(claims[index] for index in indices) <= room:
                continue
            at_risk.add(member)
            if room == 0:
                for index in indices:
                    effective[index] = 0
            elif len(indices) == 1:
                effective[indices[0]] = room
            else:
                freezes.append(_member_freeze(member, indices, slopes, offsets, effective, room, levels, cut))
    if at_risk:
        assert rooms is not None
        total_minor = sum(claim for member, claim in zip(members, effective) if member not in at_risk)
        total_minor += sum(rooms[member] for member in at_risk)
    else:
        total_minor = sum(effective)
    target_minor = min(amount_minor, total_minor)
    if target_minor == 0:
        return [0] * count, [0] * count, [1] * count, 0, at_risk
    p, q = _sweep(_events(slopes, offsets, effective, cut, freezes), slopes, offsets, effective, target_minor)
    # Each award is clamp(s·τ − o, 0, claim) at τ = p/q, as a whole part and a remainder over q.
    if levels:
        # A member that stopped at its cap below the stage's level keeps its needs at its own level.
        needs_levels = [levels.get(member, (p, q)) for member in members]
        needs_levels = [(p, q) if level[0] * q > p * level[1] else level for level in needs_levels]
        denominators = [level_q for _, level_q in needs_levels]
        pairs = [
            _clamped(slope * level_p - offset * level_q, claim, level_q)
            for slope, offset, claim, (level_p, level_q) in zip(slopes, offsets, effective, needs_levels)
        ]
    else:
        denominators = [q] * count
        # Inlined _clamped: this runs once per need.
        pairs = [
            (0, 0) if (value := slope * p - offset * q) <= 0 else (claim, 0) if value >= claim * q else divmod(value, q)
            for slope, offset, claim in zip(slopes, offsets, effective)
        ]
    wholes = [whole for whole, _ in pairs]
    numerators = [remainder for _, remainder in pairs]
    return wholes, numerators, denominators, target_minor, at_risk


def _clamped(value: int, claim: int, denominator: int) -> tuple[int, int]:
    """clamp(value / denominator, 0, claim) as a whole part and a remainder numerator."""
    if value <= 0:
        return 0, 0
    if value >= claim * denominator:
        return claim, 0
    return divmod(value, denominator)


def _member_freeze(
    member: str,
    indices: list[int],
    slopes: list[int],
    offsets: list[int],
    effective: list[int],
    room: int,
    levels: dict[str, tuple[int, int]],
    cut: set[int],
) -> _Freeze:
    """The event at which a member at risk reaches its room: its rising needs stop there (see module)."""
    member_slopes = [slopes[index] for index in indices]
    member_offsets = [offsets[index] for index in indices]
    member_claims = [effective[index] for index in indices]
    p, q = _sweep(
        _events(member_slopes, member_offsets, member_claims, set(), []),
        member_slopes,
        member_offsets,
        member_claims,
        room,
    )
    levels[member] = (p, q)
    full_minor = 0
    change_slopes = change_offsets = 0
    for index in indices:
        slope, offset, claim = slopes[index], offsets[index], effective[index]
        if offset * q >= p * slope:
            effective[index] = 0  # starts rising only at or after the member stops: gets nothing
        elif (offset + claim) * q <= p * slope:
            full_minor += claim  # full before the member stops
        else:
            cut.add(index)
            change_slopes -= slope
            change_offsets -= offset
    return _Freeze(p, q, change_slopes, change_offsets, room - full_minor)


@dataclass(frozen=True, slots=True)
class _Freeze:
    """A member stops at level p/q: S, O and R change by these amounts there."""

    p: int
    q: int
    change_slopes: int
    change_offsets: int
    change_held: int


@dataclass(frozen=True, slots=True)
class _Events:
    """A stage's breakpoints, event i at ``numerators[i] / denominators[i]``.

    Events ``[0, starts)`` are needs starting to rise, ``[starts, len(needs))`` needs
    reaching their claim (``needs[i]`` is the need), the rest are ``freezes``.
    """

    numerators: list[int]
    denominators: list[int]
    needs: list[int]
    starts: int
    freezes: list[_Freeze]
    rising: int  # the sum of slopes of the needs rising from the start (no start event)


def _events(slopes: list[int], offsets: list[int], claims: list[int], cut: set[int], freezes: list[_Freeze]) -> _Events:
    """Each need's breakpoints (where it starts rising, where it reaches its claim) and the freezes.

    When no offset is negative the level starts at 0 and the needs with offset 0 rise from
    there: they get no start event (proportional and equal-awards have none at all).
    """
    from_zero = min(offsets, default=0) >= 0
    live = [index for index, claim in enumerate(claims) if claim > 0]
    if from_zero:
        rising = sum(slopes[index] for index in live if offsets[index] == 0)
        starting = [index for index in live if offsets[index] != 0]
    else:
        rising = 0
        starting = live
    full = [index for index in live if index not in cut] if cut else live
    return _Events(
        numerators=[offsets[index] for index in starting]
        + [offsets[index] + claims[index] for index in full]
        + [freeze.p for freeze in freezes],
        denominators=[slopes[index] for index in starting]
        + [slopes[index] for index in full]
        + [freeze.q for freeze in freezes],
        needs=starting + full,
        starts=len(starting),
        freezes=freezes,
        rising=rising,
    )


def _sweep(
    events: _Events, slopes: list[int], offsets: list[int], claims: list[int], target_minor: int
) -> tuple[int, int]:
    """Walk the events in exact order until the awards' total reaches ``target_minor`` > 0; return that level.

    S (sum of slopes of the rising needs), O (sum of their offsets) and R (what the needs that
    stopped rising hold) are integers; the total at level p/q is S·p/q − O + R.
    """
    assert target_minor > 0
    numerators, denominators, needs = events.numerators, events.denominators, events.needs
    first_full, first_freeze = events.starts, len(needs)
    slope_sum, offset_sum, held_sum = events.rising, 0, 0
    for event in exact_order(numerators, denominators):
        p, q = numerators[event], denominators[event]
        if slope_sum * p - offset_sum * q >= (target_minor - held_sum) * q:
            break  # the total reaches the target at or before p/q, after the previous event
        if event < first_full:
            need = needs[event]
            slope_sum += slopes[need]
            offset_sum += offsets[need]
        elif event < first_freeze:
            need = needs[event]
            slope_sum -= slopes[need]
            offset_sum -= offsets[need]
            held_sum += claims[need]
        else:
            freeze = events.freezes[event - first_freeze]
            slope_sum += freeze.change_slopes
            offset_sum += freeze.change_offsets
            held_sum += freeze.change_held
    else:
        raise AssertionError("the target is more than the claims allow")
    # On this segment the total is S·τ − O + R, and S > 0 since it rises to the target here.
    assert slope_sum > 0
    numerator, denominator = target_minor - held_sum + offset_sum, slope_sum
    divisor = math.gcd(numerator, denominator)
    return numerator // divisor, denominator // divisor
