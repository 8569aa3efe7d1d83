"""The allocation solver's inputs and outputs: frozen dataclasses, integers and fractions only.

Quantities are integers: minor units of a divisible resource (a resource
with 2 decimals stores 12.34 kg as 1234), or counts of slots for a resource
made of indivisible items or time slots. Shares and weights are exact
``Fraction`` values, never floats, so every member's machine computes the
same result.

Vocabulary (DESIGN.md, "Resource pools and allocation"):

- A **resource** is divisible (``quantity_minor``) or made of **slots**
  (``slots``): an item (a van, a laptop) or a time slot (a van-day, a kitchen
  morning), each usable by up to ``capacity`` needs at once, in a ``zone``,
  over ``[start, end)`` (integers chosen by the caller: minutes, days...).
- A **need** is one member's declared need on one resource: the essential
  ``minimum_minor``, the ``desired_minor`` quantity, a priority ``tier``
  (1 is served first), a ``weight`` for the rule, ``all_or_nothing``
  (the desired quantity or nothing), and for slot resources the slots it
  accepts (``acceptable`` ids, a ``window`` and a ``zone``).
- The **policy** is what the members' assembly adopted: the ``rule`` and a
  cap per member as a share of each resource's pool.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction


class Rule(enum.StrEnum):
    """How a pool that cannot meet every need is shared (see ``solver.allocation`` for definitions)."""

    PROPORTIONAL = "proportional"
    EQUAL_AWARDS = "equal-awards"  # constrained equal awards
    EQUAL_LOSSES = "equal-losses"  # constrained equal losses
    LEXIMIN = "leximin"  # on the share of need met


class Status(enum.StrEnum):
    OPTIMAL = "optimal"  # proven: exact arithmetic, or every CP-SAT stage proven optimal
    FEASIBLE = "feasible"  # a valid allocation, some stage not proven optimal (see its gap)
    INFEASIBLE = "infeasible"  # no valid allocation (the reason says why)


@dataclass(frozen=True, slots=True)
class Slot:
    """An indivisible item or time slot of a resource."""

    id: str
    capacity: int = 1  # how many needs may use it at once
    zone: str | None = None
    start: int | None = None  # [start, end): the slot's time, in the caller's unit
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """A pool's resource: divisible (``quantity_minor``) or made of ``slots`` (then quantity is ignored)."""

    id: str
    quantity_minor: int = 0
    slots: tuple[Slot, ...] = ()

    @property
    def is_divisible(self) -> bool:
        return not self.slots


@dataclass(frozen=True, slots=True)
class Need:
    """One member's declared need on one resource."""

    id: str
    member: str
    resource: str
    desired_minor: int  # > 0; for a slot resource, a number of slots
    minimum_minor: int = 0  # essential minimum, 0 <= minimum <= desired
    tier: int = 1  # priority tier: every tier 1 need is served before tier 2 gets anything above its minimum
    weight: Fraction = Fraction(1)  # > 0
    all_or_nothing: bool = False
    acceptable: frozenset[str] | None = None  # slot ids it accepts; None: any slot
    window: tuple[int, int] | None = None  # accepts only slots within [start, end)
    zone: str | None = None  # accepts only slots in this zone


@dataclass(frozen=True, slots=True)
class Policy:
    """The rule and limits the members' assembly adopted for a pool."""

    rule: Rule
    member_cap_share: Fraction | None = None  # at most this share of each resource per member, 0 < share <= 1
    time_limit_s: float = 60.0  # CP-SAT: wall-clock limit for the whole solve
    stage_time_limit_s: float = 20.0  # CP-SAT: per optimisation stage


@dataclass(frozen=True, slots=True)
class Problem:
    """Everything a round's allocation depends on; the same problem gives the same result anywhere."""

    resources: tuple[Resource, ...]
    needs: tuple[Need, ...]
    policy: Policy


@dataclass(frozen=True, slots=True)
class NeedAllocation:
    """What one need got, and why."""

    need_id: str
    member: str
    resource: str
    declared_minor: int  # the desired quantity
    minimum_minor: int
    allocated_minor: int
    slots: tuple[str, ...] = ()  # slot ids given (slot resources), sorted
    decided_by: str = ""  # the rule stage or constraint that fixed it, e.g. "tier 1, equal-awards", "minimum", "all-or-nothing"
    binding: tuple[str, ...] = ()  # constraints at their limit: "desired", "member cap", "slots", "minimum", ...

    @property
    def share_met(self) -> Fraction:
        """Allocated / declared."""
        return Fraction(self.allocated_minor, self.declared_minor)


@dataclass(frozen=True, slots=True)
class StageReport:
    """One optimisation stage of a CP-SAT solve (leximin has one per level fixed)."""

    name: str
    status: Status
    objective: Fraction | None  # what the stage reached (e.g. the worst-off share)
    bound: Fraction | None  # the best it could be (from CP-SAT or the LP relaxation)
    solve_time_s: float

    @property
    def gap(self) -> Fraction | None:
        if self.objective is None or self.bound is None:
            return None
        return self.bound - self.objective


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """The allocation per need (in the needs' input order), its status and explanation."""

    status: Status
    allocations: tuple[NeedAllocation, ...]
    minimums_met: bool  # every essential minimum is met
    message: str = ""  # why infeasible, or what could not be done (e.g. minimums the pool cannot cover)
    stages: tuple[StageReport, ...] = ()
    solve_time_s: float = 0.0
    method: str = "exact"  # "exact" (no solver) or "cp-sat"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def worst_share(self) -> Fraction | None:
        """The smallest share of need met (None with no needs)."""
        return min((allocation.share_met for allocation in self.allocations), default=None)
