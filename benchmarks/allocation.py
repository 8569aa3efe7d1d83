"""Allocation benchmark: the solver's rules on generated pools, against a first-come-first-served baseline.

Run by hand (it asserts nothing on time); see benchmarks/README.md. Problems
come from ``solver.allocation.generator`` (seeded; generating is not timed);
each is solved with ``solver.allocation.allocate`` (validation included in
the time) and with ``solver.allocation.greedy`` (first come, first served),
and both answers are checked independently here (no slot over capacity,
only accepted slots, all-or-nothing respected, no need above its desired
quantity, no member above its cap, the pool not exceeded).

(a) one divisible resource, ``--sizes`` needs (default 1,000 / 10,000 /
    100,000), every rule: solve time (median of ``--repeat`` runs), status,
    worst-off share met, the 10th percentile share, needs left with nothing,
    and the greedy's.
    Target: under 1 s at 100,000 needs, every rule.
(b) 50 items x D days as one slot resource in 5 zones, ``--slot-sizes``
    needs (default 500 / 2,000) with windows, zones and 30 % all-or-nothing,
    leximin: solve time, status, stages, whether every stage is proven
    optimal, the slowest stage, worst-off share and needs left with nothing,
    and the greedy's; "lex >= greedy" compares the two sorted vectors of
    shares lexicographically (the leximin order). Targets: every stage proven
    optimal within 60 s (``--stage-time-limit``) at 2,000 needs, worst-off
    share at least the greedy's.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solver.allocation import allocate  # noqa: E402
from solver.allocation.generator import (  # noqa: E402
    DivisibleShape,
    SlotShape,
    divisible_problem,
    slot_problem,
)
from solver.allocation.greedy import allocate_first_come_first_served  # noqa: E402
from solver.allocation.model import AllocationResult, Problem, Rule, Status  # noqa: E402

DIVISIBLE_TARGET_S = 1.0
DIVISIBLE_TARGET_NEEDS = 100_000
SLOT_TARGET_NEEDS = 2_000


def check(problem: Problem, result: AllocationResult) -> list[str]:
    """Independent checks of an allocation: an empty list when it is valid."""
    findings: list[str] = []
    resources = {resource.id: resource for resource in problem.resources}
    if len(result.allocations) != len(problem.needs):
        return [f"{len(result.allocations)} allocations for {len(problem.needs)} needs"]
    given: Counter[str] = Counter()
    used: dict[str, Counter[str]] = {resource.id: Counter() for resource in problem.resources}
    per_member: Counter[tuple[str, str]] = Counter()
    for need, allocation in zip(problem.needs, result.allocations):
        resource = resources[need.resource]
        amount = allocation.allocated_minor
        if allocation.need_id != need.id:
            findings.append(f"{need.id}: allocation for {allocation.need_id}")
        if not 0 <= amount <= need.desired_minor:
            findings.append(f"{need.id}: {amount} outside 0..{need.desired_minor}")
        if need.all_or_nothing and amount not in (0, need.desired_minor):
            findings.append(f"{need.id}: all-or-nothing given {amount}")
        given[need.resource] += amount
        per_member[(need.member, need.resource)] += amount
        if resource.is_divisible:
            continue
        if len(allocation.slots) != amount or len(set(allocation.slots)) != amount:
            findings.append(f"{need.id}: {amount} allocated but slots {allocation.slots}")
        slots = {slot.id: slot for slot in resource.slots}
        for slot_id in allocation.slots:
            slot = slots.get(slot_id)
            if slot is None:
                findings.append(f"{need.id}: unknown slot {slot_id}")
                continue
            used[resource.id][slot_id] += 1
            if need.acceptable is not None and slot_id not in need.acceptable:
                findings.append(f"{need.id}: slot {slot_id} not acceptable")
            if need.zone is not None and slot.zone != need.zone:
                findings.append(f"{need.id}: slot {slot_id} in zone {slot.zone}, not {need.zone}")
            if need.window is not None and (
                slot.start is None or slot.end is None or slot.start < need.window[0] or slot.end > need.window[1]
            ):
                findings.append(f"{need.id}: slot {slot_id} outside window {need.window}")
    for resource in problem.resources:
        total = resource.quantity_minor if resource.is_divisible else sum(slot.capacity for slot in resource.slots)
        if given[resource.id] > total:
            findings.append(f"{resource.id}: {given[resource.id]} given of {total}")
        capacity = {slot.id: slot.capacity for slot in resource.slots}
        findings.extend(
            f"{resource.id}: slot {slot_id} used {count} times, capacity {capacity[slot_id]}"
            for slot_id, count in used[resource.id].items()
            if count > capacity[slot_id]
        )
        if problem.policy.member_cap_share is not None:
            cap = math.floor(problem.policy.member_cap_share * total)
            findings.extend(
                f"{member}: {amount} of {resource.id}, cap {cap}"
                for (member, resource_id), amount in per_member.items()
                if resource_id == resource.id and amount > cap
            )
    return findings


def shares(result: AllocationResult) -> list[Fraction]:
    return sorted(allocation.share_met for allocation in result.allocations)


def nothing(result: AllocationResult) -> int:
    """How many needs got nothing at all."""
    return sum(allocation.allocated_minor == 0 for allocation in result.allocations)


def percent(share: Fraction | None) -> str:
    return "-" if share is None else f"{float(share):.2%}"


def percentile(sorted_shares: list[Fraction], fraction: float) -> Fraction | None:
    if not sorted_shares:
        return None
    return sorted_shares[min(len(sorted_shares) - 1, int(fraction * len(sorted_shares)))]


def machine_line() -> str:
    try:
        from ortools import __version__ as ortools_version
    except ImportError:  # pragma: no cover
        ortools_version = "?"
    return (
        f"# {platform.python_implementation()} {platform.python_version()}, OR-Tools {ortools_version}, "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def run_divisible(sizes: list[int], seed: int, repeat: int) -> bool:
    """Case (a); returns whether the time target was met at the target size (True if not run)."""
    print("\n(a) one divisible resource, every rule")
    header = (
        f"{'needs':>8} {'rule':<13} {'solve s':>8} {'status':<10} {'worst':>7} {'p10':>7} {'nothing':>7} "
        f"{'min met':>7} {'greedy s':>8} {'g worst':>7} {'g p10':>7} {'g nothing':>9} {'checked':>8}"
    )
    print(header)
    is_met = True
    for size in sizes:
        base = divisible_problem(DivisibleShape(needs=size), seed=seed)
        greedy = allocate_first_come_first_served(base)
        greedy_shares = shares(greedy)
        greedy_findings = check(base, greedy)
        for rule in Rule:
            problem = dataclasses.replace(base, policy=dataclasses.replace(base.policy, rule=rule))
            times: list[float] = []
            result: AllocationResult | None = None
            try:
                for _ in range(repeat):
                    started = time.perf_counter()
                    result = allocate(problem)
                    times.append(time.perf_counter() - started)
            except ImportError as error:
                print(f"{size:>8,} {rule.value:<13} not available: {error}")
                is_met = False
                continue
            assert result is not None
            solve_s = statistics.median(times)
            result_shares = shares(result)
            findings = check(problem, result) + greedy_findings
            print(
                f"{size:>8,} {rule.value:<13} {solve_s:>8.3f} {result.status.value:<10} "
                f"{percent(result.worst_share):>7} {percent(percentile(result_shares, 0.1)):>7} "
                f"{nothing(result):>7,} {'yes' if result.minimums_met else 'no':>7} {greedy.solve_time_s:>8.3f} "
                f"{percent(greedy.worst_share):>7} {percent(percentile(greedy_shares, 0.1)):>7} "
                f"{nothing(greedy):>9,} {'ok' if not findings else 'FAILED':>8}"
            )
            for finding in findings[:5]:
                print(f"    finding: {finding}")
            if size >= DIVISIBLE_TARGET_NEEDS and (solve_s >= DIVISIBLE_TARGET_S or findings):
                is_met = False
    return is_met


def run_slots(sizes: list[int], seed: int, stage_time_limit_s: float, time_limit_s: float) -> bool:
    """Case (b); returns whether both targets were met at the target size (True if not run)."""
    print(f"\n(b) 50 items x D days in 5 zones, leximin (stage limit {stage_time_limit_s:g} s, "
          f"whole solve limit {time_limit_s:g} s)")
    header = (
        f"{'needs':>6} {'slots':>6} {'solve s':>8} {'status':<9} {'stages':>6} {'all opt':>7} {'slowest s':>9} "
        f"{'worst':>7} {'nothing':>7} {'given':>6} {'g worst':>7} {'g nothing':>9} {'g given':>7} "
        f"{'lex>=greedy':>11} {'checked':>8}"
    )
    print(header)
    is_met = True
    for size in sizes:
        problem = slot_problem(
            SlotShape(needs=size), seed=seed, rule=Rule.LEXIMIN, time_limit_s=time_limit_s,
            stage_time_limit_s=stage_time_limit_s,
        )
        slot_count = len(problem.resources[0].slots)
        greedy = allocate_first_come_first_served(problem)
        try:
            started = time.perf_counter()
            result = allocate(problem)
            solve_s = time.perf_counter() - started
        except ImportError as error:
            print(
                f"{size:>6,} {slot_count:>6,} not available ({error}); greedy: worst {percent(greedy.worst_share)}, "
                f"nothing {nothing(greedy)}, given {sum(a.allocated_minor for a in greedy.allocations)}"
            )
            is_met = False
            continue
        findings = check(problem, result) + check(problem, greedy)
        all_optimal = bool(result.stages) and all(stage.status is Status.OPTIMAL for stage in result.stages)
        slowest_s = max((stage.solve_time_s for stage in result.stages), default=0.0)
        ours, theirs = shares(result), shares(greedy)
        print(
            f"{size:>6,} {slot_count:>6,} {solve_s:>8.2f} {result.status.value:<9} {len(result.stages):>6} "
            f"{'yes' if all_optimal else 'no':>7} {slowest_s:>9.2f} {percent(result.worst_share):>7} "
            f"{nothing(result):>7} "
            f"{sum(a.allocated_minor for a in result.allocations):>6} {percent(greedy.worst_share):>7} "
            f"{nothing(greedy):>9} "
            f"{sum(a.allocated_minor for a in greedy.allocations):>7} "
            f"{'yes' if ours >= theirs else 'NO':>11} {'ok' if not findings else 'FAILED':>8}"
        )
        for finding in findings[:5]:
            print(f"    finding: {finding}")
        for stage in result.stages:
            if stage.status is not Status.OPTIMAL:
                gap = "-" if stage.gap is None else f"{float(stage.gap):.6f}"
                print(f"    stage {stage.name!r}: {stage.status.value}, gap {gap}, {stage.solve_time_s:.2f} s")
        if size >= SLOT_TARGET_NEEDS:
            worst, greedy_worst = result.worst_share or Fraction(0), greedy.worst_share or Fraction(0)
            if not all_optimal or slowest_s > stage_time_limit_s or worst < greedy_worst or findings:
                is_met = False
    return is_met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="needs, divisible case (default: %(default)s)")
    parser.add_argument("--slot-sizes", default="500,2000", help="needs, slot case (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per divisible case; the median is shown")
    parser.add_argument("--skip-slots", action="store_true", help="run the divisible case only")
    parser.add_argument("--skip-divisible", action="store_true", help="run the slot case only")
    parser.add_argument(
        "--stage-time-limit", type=float, default=60.0, help="seconds per leximin stage (default: %(default)s)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=1800.0, help="seconds for a whole slot solve (default: %(default)s)"
    )
    arguments = parser.parse_args()

    def sizes(text: str) -> list[int]:
        return [int(size.replace("_", "")) for size in text.split(",") if size.strip()]

    print(machine_line())
    verdicts = []
    if not arguments.skip_divisible:
        is_met = run_divisible(sizes(arguments.sizes), arguments.seed, max(1, arguments.repeat))
        if DIVISIBLE_TARGET_NEEDS in sizes(arguments.sizes):
            verdicts.append(f"(a) < {DIVISIBLE_TARGET_S:g} s at {DIVISIBLE_TARGET_NEEDS:,} needs, every rule: "
                            f"{'met' if is_met else 'NOT met'}")
    if not arguments.skip_slots:
        is_met = run_slots(sizes(arguments.slot_sizes), arguments.seed, arguments.stage_time_limit,
                           arguments.time_limit)
        if SLOT_TARGET_NEEDS in sizes(arguments.slot_sizes):
            verdicts.append(f"(b) every stage proven optimal within {arguments.stage_time_limit:g} s at "
                            f"{SLOT_TARGET_NEEDS:,} needs, worst share >= greedy's: {'met' if is_met else 'NOT met'}")
    if verdicts:
        print()
        for verdict in verdicts:
            print(verdict)


if __name__ == "__main__":
    main()
