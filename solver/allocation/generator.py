"""Random allocation problems for tests and benchmarks: seeded and deterministic.

The same shape and seed always give the same problem, on any machine
(numpy's PCG64 generator, no clock). Two families, for the two benchmark
cases of ``benchmarks/allocation.py``:

**Divisible** (``divisible_problem``): one divisible resource ``"pool"``
shared by ``needs`` needs of ``needs // needs_per_member`` members (member
``m`` holds needs ``m, m + members, ...``: members' needs are interleaved).

* Desired quantities are heavy-tailed, as co-ops are of every size: a
  Pareto draw (``desired_pareto_shape``, smaller = heavier tail) plus 1,
  times ``desired_median_minor`` / 2, rounded to whole minor units and
  clipped to 1..``desired_minor_max``.
* A share ``minimum_share`` of the needs, among those desiring at most
  ``minimum_desired_median_max`` times the median (essential needs are
  small), has an essential minimum: a uniform 10-50 % of its desired
  quantity (at least 1 minor unit).
* Tiers 1, 2, 3 with probabilities ``tier_shares``; integer weights 1-3
  uniformly.
* The pool holds ``scarcity`` (0.8) × the total desired: tiers 1 and 2
  (about 70 % of the total) are met in full and tier 3 shares the rest.
* A member cap of ``member_cap_share`` (default: 1/100 with 200 members or
  more, 1/4 with 8 or more, none below), so that a few of the largest
  members reach it.

**Slots** (``slot_problem``): one resource ``"items"`` made of ``items``
items (vans, tools...) over ``days`` days: slot ``i07-d012`` is item 7 on
day 12, capacity 1, in zone ``z{item % zones}``, over ``[day, day + 1)``.
``needs`` needs of ``needs // 2`` members, each:

* desiring 1-3 slots (uniformly), with no minimum, tier 1, weight 1;
* in one of the zones, uniformly (a need with ``zone`` accepts only that
  zone's items);
* with a window ``[start, start + length)`` of ``length`` 1..``window_days_max``
  days (uniformly, but at least its desired slots' worth when the need is
  all-or-nothing) placed uniformly within the days;
* all-or-nothing with probability ``all_or_nothing_share`` (30 %).

``days`` defaults to ``ceil(needs × 2 / (items × slot_scarcity))``: the
average need desires 2 slots, so total demand is about ``slot_scarcity``
(1.5) times the slots. Need ids are ``n0000001`` ...; members are
``coop-00001`` ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver.allocation.model import Need, Policy, Problem, Resource, Rule, Slot

NEEDS_MAX = 1_000_000
SLOTS_MAX = 100_000


def need_id(index: int) -> str:
    return f"n{index + 1:07d}"


def member_name(index: int) -> str:
    return f"coop-{index + 1:05d}"


@dataclass(frozen=True, slots=True)
class DivisibleShape:
    """Knobs of the divisible family; see the module docstring."""

    needs: int = 1_000
    needs_per_member: int = 3
    desired_median_minor: int = 10_000
    desired_pareto_shape: float = 1.5
    desired_minor_max: int = 10**12
    minimum_share: float = 0.3
    minimum_desired_median_max: float = 4.0
    tier_shares: tuple[float, float, float] = (0.3, 0.4, 0.3)
    scarcity: float = 0.8
    member_cap_share: Fraction | None = None  # None: the default in the module docstring

    def __post_init__(self) -> None:
        if not 1 <= self.needs <= NEEDS_MAX:
            raise ValueError(f"needs must be in 1..{NEEDS_MAX}")
        if self.needs_per_member < 1 or self.desired_median_minor < 2 or self.desired_minor_max < 1:
            raise ValueError("needs_per_member, desired_median_minor and desired_minor_max must be positive")
        if not 0.0 <= self.minimum_share <= 1.0 or not 0.0 < self.scarcity:
            raise ValueError("minimum_share must be in [0, 1] and scarcity positive")
        if len(self.tier_shares) != 3 or abs(sum(self.tier_shares) - 1.0) > 1e-9:
            raise ValueError("tier_shares must be three shares adding up to 1")


@dataclass(frozen=True, slots=True)
class SlotShape:
    """Knobs of the slot family; see the module docstring."""

    needs: int = 500
    items: int = 50
    zones: int = 5
    days: int | None = None  # None: ceil(needs × 2 / (items × slot_scarcity))
    slot_scarcity: float = 1.5
    window_days_max: int = 7
    all_or_nothing_share: float = 0.3
    desired_slots_max: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.needs <= NEEDS_MAX:
            raise ValueError(f"needs must be in 1..{NEEDS_MAX}")
        if not 1 <= self.zones <= self.items or self.window_days_max < 1 or self.desired_slots_max < 1:
            raise ValueError("zones must be in 1..items; window_days_max and desired_slots_max positive")
        if self.days is not None and self.days < 1:
            raise ValueError("days must be positive")
        if self.slot_scarcity <= 0 or not 0.0 <= self.all_or_nothing_share <= 1.0:
            raise ValueError("slot_scarcity must be positive and all_or_nothing_share in [0, 1]")
        if self.items * self.day_count > SLOTS_MAX:
            raise ValueError(f"items × days must be at most {SLOTS_MAX}")

    @property
    def day_count(self) -> int:
        if self.days is not None:
            return self.days
        return max(1, math.ceil(self.needs * 2 / (self.items * self.slot_scarcity)))


def default_member_cap_share(members: int) -> Fraction | None:
    """The divisible family's default member cap (see the module docstring)."""
    if members >= 200:
        return Fraction(1, 100)
    if members >= 8:
        return Fraction(1, 4)
    return None


def divisible_problem(shape: DivisibleShape, *, seed: int, rule: Rule = Rule.PROPORTIONAL) -> Problem:
    """One divisible resource shared by ``shape.needs`` needs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = shape.needs
    members = max(1, n // shape.needs_per_member)
    raw = (rng.pareto(shape.desired_pareto_shape, n) + 1.0) * (shape.desired_median_minor / 2)
    desired = np.clip(np.rint(raw), 1, shape.desired_minor_max).astype(np.int64)
    is_small = desired <= shape.minimum_desired_median_max * shape.desired_median_minor
    has_minimum = (rng.random(n) < shape.minimum_share) & is_small
    minimum_fraction = rng.uniform(0.1, 0.5, n)
    minimum = np.where(has_minimum, np.maximum(1, np.floor(desired * minimum_fraction)), 0).astype(np.int64)
    minimum = np.minimum(minimum, desired)
    tier = rng.choice(np.array([1, 2, 3]), size=n, p=np.array(shape.tier_shares))
    weight = rng.integers(1, 4, n)
    quantity_minor = math.floor(int(desired.sum()) * shape.scarcity)
    cap = shape.member_cap_share if shape.member_cap_share is not None else default_member_cap_share(members)
    names = [member_name(m) for m in range(members)]
    weights = {w: Fraction(w) for w in (1, 2, 3)}
    needs = tuple(
        Need(
            id=need_id(i),
            member=names[i % members],
            resource="pool",
            desired_minor=d,
            minimum_minor=m,
            tier=t,
            weight=weights[w],
        )
        for i, (d, m, t, w) in enumerate(zip(desired.tolist(), minimum.tolist(), tier.tolist(), weight.tolist()))
    )
    return Problem(
        resources=(Resource(id="pool", quantity_minor=quantity_minor),),
        needs=needs,
        policy=Policy(rule=rule, member_cap_share=cap),
    )


def slot_id(item: int, day: int) -> str:
    return f"i{item:02d}-d{day:03d}"


def slot_problem(
    shape: SlotShape,
    *,
    seed: int,
    rule: Rule = Rule.LEXIMIN,
    time_limit_s: float = 60.0,
    stage_time_limit_s: float = 20.0,
) -> Problem:
    """Items over days as one slot resource, needs with zones, windows and all-or-nothing (module docstring)."""
    rng = np.random.default_rng(seed)
    n, days = shape.needs, shape.day_count
    members = max(1, n // 2)
    slots = tuple(
        Slot(id=slot_id(item, day), capacity=1, zone=f"z{item % shape.zones}", start=day, end=day + 1)
        for item in range(shape.items)
        for day in range(days)
    )
    desired = rng.integers(1, shape.desired_slots_max + 1, n)
    zone = rng.integers(0, shape.zones, n)
    is_all_or_nothing = rng.random(n) < shape.all_or_nothing_share
    window_max = min(shape.window_days_max, days)
    length = rng.integers(1, window_max + 1, n)
    # An all-or-nothing need's window holds at least its desired slots' worth of days (items per zone >= 1).
    length = np.where(is_all_or_nothing, np.maximum(length, np.minimum(desired, window_max)), length)
    start = (rng.random(n) * (days - length + 1)).astype(np.int64)
    names = [member_name(m) for m in range(members)]
    zones = [f"z{z}" for z in range(shape.zones)]
    needs = tuple(
        Need(
            id=need_id(i),
            member=names[i % members],
            resource="items",
            desired_minor=d,
            all_or_nothing=a,
            window=(s, s + l),
            zone=zones[z],
        )
        for i, (d, z, a, l, s) in enumerate(
            zip(desired.tolist(), zone.tolist(), is_all_or_nothing.tolist(), length.tolist(), start.tolist())
        )
    )
    return Problem(
        resources=(Resource(id="items", slots=slots),),
        needs=needs,
        policy=Policy(rule=rule, time_limit_s=time_limit_s, stage_time_limit_s=stage_time_limit_s),
    )
