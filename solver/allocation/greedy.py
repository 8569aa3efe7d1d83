"""First come, first served: the baseline the rules are compared with (benchmarks only, never a round).

Needs are served in input order, each taking as much as it can of what is
left, up to its desired quantity:

- divisible resource: ``min(desired, what is left, what is left of the
  member's cap)`` minor units;
- slot resource: the slots it accepts (``acceptable`` ids, zone, window),
  in slot id order, that still have capacity, up to ``desired`` slots and
  the member's cap;
- an all-or-nothing need takes its desired quantity if it can, else nothing.

Minimums, tiers, weights and the rule are ignored: that is what makes it a
baseline. The member cap is ``floor(member_cap_share × Q)`` as in the
solver (``Q`` = quantity, or the sum of slot capacities). It expects a
problem that ``solver.allocation.validate.check_problem`` accepts and does
not check it again. The result's status is ``feasible`` (valid, not
optimal for any rule) and ``method`` is ``"greedy"``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

from solver.allocation.model import (
    AllocationResult,
    Need,
    NeedAllocation,
    Problem,
    Resource,
    Slot,
    Status,
)

DECIDED_BY = "first come, first served"


def _member_cap(problem: Problem, total: int) -> int:
    share = problem.policy.member_cap_share
    return total if share is None else math.floor(share * total)


def _accepts(need: Need, slot: Slot) -> bool:
    if need.acceptable is not None and slot.id not in need.acceptable:
        return False
    if need.zone is not None and slot.zone != need.zone:
        return False
    if need.window is not None:
        if slot.start is None or slot.end is None:
            return False
        if slot.start < need.window[0] or slot.end > need.window[1]:
            return False
    return True


def allocate_first_come_first_served(problem: Problem) -> AllocationResult:
    """Serve the needs in input order, each taking all it can (see the module docstring)."""
    started = time.perf_counter()
    resources = {resource.id: resource for resource in problem.resources}
    left: dict[str, int] = {}
    caps: dict[str, int] = {}
    # Slot resources: slots in id order, grouped by zone (a need with a zone scans only its zone).
    slot_order: dict[str, list[Slot]] = {}
    by_zone: dict[str, dict[str | None, list[Slot]]] = {}
    capacity_left: dict[str, dict[str, int]] = {}
    for resource in problem.resources:
        total = resource.quantity_minor if resource.is_divisible else sum(s.capacity for s in resource.slots)
        left[resource.id] = total
        caps[resource.id] = _member_cap(problem, total)
        if not resource.is_divisible:
            ordered = sorted(resource.slots, key=lambda slot: slot.id)
            slot_order[resource.id] = ordered
            zones: dict[str | None, list[Slot]] = defaultdict(list)
            for slot in ordered:
                zones[slot.zone].append(slot)
            by_zone[resource.id] = zones
            capacity_left[resource.id] = {slot.id: slot.capacity for slot in resource.slots}
    member_total: dict[tuple[str, str], int] = defaultdict(int)
    allocations = []
    for need in problem.needs:
        resource = resources[need.resource]
        key = (need.member, need.resource)
        room = min(need.desired_minor, left[need.resource], caps[need.resource] - member_total[key])
        given: tuple[str, ...] = ()
        if resource.is_divisible:
            amount = room if room >= need.desired_minor or not need.all_or_nothing else 0
        else:
            given = _take_slots(need, resource, room, slot_order, by_zone, capacity_left)
            amount = len(given)
        left[need.resource] -= amount
        member_total[key] += amount
        binding = []
        if amount == need.desired_minor:
            binding.append("desired")
        elif need.all_or_nothing and amount == 0:
            binding.append("all-or-nothing")
        allocations.append(
            NeedAllocation(
                need_id=need.id,
                member=need.member,
                resource=need.resource,
                declared_minor=need.desired_minor,
                minimum_minor=need.minimum_minor,
                allocated_minor=amount,
                slots=tuple(sorted(given)),
                decided_by=DECIDED_BY,
                binding=tuple(binding),
            )
        )
    return AllocationResult(
        status=Status.FEASIBLE,
        allocations=tuple(allocations),
        minimums_met=all(a.allocated_minor >= a.minimum_minor for a in allocations),
        message="first come, first served baseline (for comparison only)",
        solve_time_s=time.perf_counter() - started,
        method="greedy",
    )


def _take_slots(
    need: Need,
    resource: Resource,
    room: int,
    slot_order: dict[str, list[Slot]],
    by_zone: dict[str, dict[str | None, list[Slot]]],
    capacity_left: dict[str, dict[str, int]],
) -> tuple[str, ...]:
    """The slots a need takes: acceptable ones with capacity left, in id order, up to ``room``."""
    if room <= 0 or (need.all_or_nothing and room < need.desired_minor):
        return ()
    capacity = capacity_left[resource.id]
    candidates = slot_order[resource.id] if need.zone is None else by_zone[resource.id].get(need.zone, [])
    chosen: list[str] = []
    for slot in candidates:
        if capacity[slot.id] > 0 and _accepts(need, slot):
            chosen.append(slot.id)
            if len(chosen) == room:
                break
    if need.all_or_nothing and len(chosen) < need.desired_minor:
        return ()
    for slot_id in chosen:
        capacity[slot_id] -= 1
    return tuple(chosen)
