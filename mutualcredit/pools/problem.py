"""Pure helpers of the pools domain: a round as a solver problem document, and what a commit pays.

No database and no clock: ``service`` reads the rows and calls these.

**The problem document** is ``solver.allocation.jsonfile``'s format, built
from plain values, so a run's stored input is exactly the file
``pools export`` writes and ``pools solve`` reads: a member who re-solves
the exported file gets the same allocation. A round has one resource, whose
id is the pool's slug; a need's id is its UUID; a need's weight is its
member's weight in the round's policy (1 when the policy names none).

**Money at commit** (priced pools only; a gift pool moves no credit):

- each recipient pays ``floor(allocated × price / 10**decimals)`` credit
  minor units to the pool account (the price is per whole unit);
- a slot pool pays each slot's use to whoever contributed that slot, when
  the contribution was paid: ``price`` per use;
- a divisible pool shares what its recipients paid among all contributions
  in proportion to their quantities (largest remainder, ties by
  contribution id); paid contributions receive their part, and the parts of
  given contributions stay in the pool account.

So the pool account never pays out more than it took in within a round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solver.allocation.jsonfile import format_minor


@dataclass(frozen=True, slots=True)
class SlotSpec:
    id: str
    capacity: int = 1
    zone: str | None = None
    start: int | None = None
    end: int | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"id": self.id, "capacity": self.capacity}
        if self.zone:
            document["zone"] = self.zone
        if self.start is not None and self.end is not None:
            document["start"], document["end"] = self.start, self.end
        return document


@dataclass(frozen=True, slots=True)
class ContributionSpec:
    id: int
    member: str
    quantity_minor: int
    slots: tuple[SlotSpec, ...]
    is_paid: bool


@dataclass(frozen=True, slots=True)
class NeedSpec:
    id: str
    member: str
    desired_minor: int
    minimum_minor: int = 0
    tier: int = 1
    all_or_nothing: bool = False
    acceptable: tuple[str, ...] | None = None
    window: tuple[int, int] | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class PolicySpec:
    rule: str
    member_cap_share: str | None
    weights: Mapping[str, str]
    time_limit_s: int
    stage_time_limit_s: int


def problem_document(
    *,
    resource_id: str,
    is_slots: bool,
    decimals: int,
    policy: PolicySpec,
    contributions: Sequence[ContributionSpec],
    needs: Sequence[NeedSpec],
) -> dict[str, Any]:
    """The round's whole input, in ``solver.allocation.jsonfile``'s format (needs in the given order)."""
    document: dict[str, Any] = {"decimals": 0 if is_slots else decimals, "rule": policy.rule}
    if policy.member_cap_share is not None:
        document["member_cap_share"] = policy.member_cap_share
    document["time_limit_s"] = policy.time_limit_s
    document["stage_time_limit_s"] = policy.stage_time_limit_s
    if is_slots:
        slots = [slot.to_json() for contribution in contributions for slot in contribution.slots]
        document["resources"] = [{"id": resource_id, "slots": slots}]
    else:
        total = sum(contribution.quantity_minor for contribution in contributions)
        document["resources"] = [{"id": resource_id, "quantity": format_minor(total, decimals)}]
    rows = []
    for need in needs:
        row: dict[str, Any] = {"id": need.id, "member": need.member, "resource": resource_id}
        if is_slots:
            row["desired"] = need.desired_minor
            if need.minimum_minor:
                row["minimum"] = need.minimum_minor
        else:
            row["desired"] = format_minor(need.desired_minor, decimals)
            if need.minimum_minor:
                row["minimum"] = format_minor(need.minimum_minor, decimals)
        if need.tier != 1:
            row["tier"] = need.tier
        weight = policy.weights.get(need.member)
        if weight is not None and weight != "1":
            row["weight"] = weight
        if need.all_or_nothing:
            row["all_or_nothing"] = True
        if is_slots:
            if need.acceptable is not None:
                row["acceptable"] = list(need.acceptable)
            if need.window is not None:
                row["window"] = list(need.window)
            if need.zone:
                row["zone"] = need.zone
        rows.append(row)
    document["needs"] = rows
    return document


def charge_minor(allocated_minor: int, price_minor: int, decimals: int) -> int:
    """What a recipient pays for ``allocated_minor`` units at ``price_minor`` per whole unit (rounded down)."""
    assert allocated_minor >= 0
    assert price_minor >= 0
    return allocated_minor * price_minor // 10**decimals


def largest_remainder(total: int, weights: Sequence[tuple[Any, int]]) -> dict[Any, int]:
    """Split ``total`` in proportion to ``weights`` ((key, weight) pairs) into whole parts that sum to it.

    Each part is rounded down; the leftover units go one at a time to the
    largest fractional remainders, ties broken by key.
    """
    denominator = sum(weight for _, weight in weights)
    assert total >= 0
    if denominator == 0:
        assert total == 0
        return {key: 0 for key, _ in weights}
    parts = {key: total * weight // denominator for key, weight in weights}
    leftover = total - sum(parts.values())
    order = sorted(weights, key=lambda pair: (-(total * pair[1] % denominator), pair[0]))
    for key, _ in order[:leftover]:
        parts[key] += 1
    return parts


@dataclass(frozen=True, slots=True)
class Payout:
    contribution_id: int
    member: str
    used_minor: int
    amount_minor: int


def payouts(
    *,
    is_slots: bool,
    price_minor: int,
    contributions: Sequence[ContributionSpec],
    slots_used: Sequence[str],
    allocated_total_minor: int,
    revenue_minor: int,
) -> list[Payout]:
    """What each paid contribution receives from the pool account (only positive amounts, by contribution id)."""
    result = []
    if is_slots:
        uses = Counter(slots_used)
        for contribution in sorted(contributions, key=lambda c: c.id):
            used = sum(uses[slot.id] for slot in contribution.slots)
            amount = used * price_minor
            if contribution.is_paid and amount > 0:
                result.append(Payout(contribution.id, contribution.member, used, amount))
        return result
    pairs = [(contribution.id, contribution.quantity_minor) for contribution in contributions]
    used_parts = largest_remainder(allocated_total_minor, pairs)
    money_parts = largest_remainder(revenue_minor, pairs)
    for contribution in sorted(contributions, key=lambda c: c.id):
        amount = money_parts[contribution.id]
        if contribution.is_paid and amount > 0:
            result.append(Payout(contribution.id, contribution.member, used_parts[contribution.id], amount))
    return result
