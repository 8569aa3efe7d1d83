"""Allocation of pooled resources by declared need: exact where it can be, CP-SAT where it must.

Pure: frozen dataclasses in (``model.Problem``), frozen dataclasses out
(``model.AllocationResult``); no database, no Flask, no clock but the solve
time it reports. The same problem gives the same allocation on any machine.

Every need names one resource and member caps are per resource, so
resources are independent: each is allocated on its own, then the results
are merged in the needs' input order.

- A divisible resource whose needs are all divisible (no all-or-nothing) is
  allocated with exact rational arithmetic in O(n log n)
  (``solver.allocation.divisible``), then rounded to whole minor units by
  largest remainder (``solver.allocation.rounding``).
- A resource made of slots, or with all-or-nothing needs, is allocated with
  CP-SAT in integer units, by successive optimisation stages
  (``solver.allocation.cpsat``).

The rules (``model.Rule``), for sharing an amount among claims, each with
weight ``w`` (see ``divisible`` for the exact definitions):

- proportional: awards proportional to ``w × claim``;
- equal-awards (constrained equal awards): ``min(claim, λ·w)``;
- equal-losses (constrained equal losses): ``max(0, claim − λ/w)``;
- leximin on the share of need met (``allocated / desired``, divided by
  ``w``): raise the worst-off share as far as it goes, then the next, ...

Order of service on each resource: first every essential minimum (if the
pool cannot cover them all, the minimums themselves are shared by the rule,
nothing above them is given, and the result says so); then tier 1's
remaining claims (desired − minimum) by the rule, then tier 2's with what
is left, and so on. A member never gets more than ``member_cap_share`` of a
resource, minimums included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from solver._gc import garbage_collection_paused
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

__all__ = [
    "AllocationResult",
    "Need",
    "NeedAllocation",
    "Policy",
    "Problem",
    "Resource",
    "ResourceResult",
    "Rule",
    "Slot",
    "StageReport",
    "Status",
    "allocate",
]

_STATUS_ORDER = (Status.OPTIMAL, Status.FEASIBLE, Status.INFEASIBLE)


@dataclass(frozen=True, slots=True)
class ResourceResult:
    """One resource's allocation, as the exact and CP-SAT allocators return it."""

    status: Status
    allocations: tuple[NeedAllocation, ...]  # one per need of the resource, any order
    minimums_met: bool
    message: str = ""
    stages: tuple[StageReport, ...] = ()
    method: str = "exact"
    notes: tuple[str, ...] = ()


def needs_solver(resource: Resource, needs: Sequence[Need]) -> bool:
    """True when a resource needs CP-SAT: slots, or an all-or-nothing need."""
    return not resource.is_divisible or any(need.all_or_nothing for need in needs)


def allocate(problem: Problem, *, on_stage: Callable[[StageReport], None] | None = None) -> AllocationResult:
    """Allocate every resource of ``problem`` by its policy (see the module docstring).

    ``on_stage``, if given, is called with each CP-SAT stage's report as the
    stage ends, for a progress display; it does not change the result.
    """
    # Tens of thousands of small result objects: a collection pass would only slow their making.
    with garbage_collection_paused():
        return _allocate(problem, on_stage)


def _allocate(problem: Problem, on_stage: Callable[[StageReport], None] | None = None) -> AllocationResult:
    from solver.allocation.validate import check_problem

    check_problem(problem)
    started = time.perf_counter()
    by_resource: dict[str, list[Need]] = {resource.id: [] for resource in problem.resources}
    for need in problem.needs:
        by_resource[need.resource].append(need)
    results: list[ResourceResult] = []
    for resource in problem.resources:
        needs = by_resource[resource.id]
        if needs_solver(resource, needs):
            from solver.allocation.cpsat import allocate_with_cp_sat

            elapsed_s = time.perf_counter() - started
            remaining_s = max(0.0, problem.policy.time_limit_s - elapsed_s)
            results.append(
                allocate_with_cp_sat(resource, needs, problem.policy, time_limit_s=remaining_s, on_stage=on_stage)
            )
        else:
            from solver.allocation.divisible import allocate_divisible

            results.append(allocate_divisible(resource, needs, problem.policy))
    return _merge(problem, results, time.perf_counter() - started)


def _merge(problem: Problem, results: Sequence[ResourceResult], solve_time_s: float) -> AllocationResult:
    by_need = {allocation.need_id: allocation for result in results for allocation in result.allocations}
    assert len(by_need) == len(problem.needs)
    status = max((result.status for result in results), key=_STATUS_ORDER.index, default=Status.OPTIMAL)
    methods = sorted({result.method for result in results}) or ["exact"]
    return AllocationResult(
        status=status,
        allocations=tuple(by_need[need.id] for need in problem.needs),
        minimums_met=all(result.minimums_met for result in results),
        message="; ".join(result.message for result in results if result.message),
        stages=tuple(stage for result in results for stage in result.stages),
        solve_time_s=solve_time_s,
        method="+".join(methods),
        notes=tuple(note for result in results for note in result.notes),
    )
