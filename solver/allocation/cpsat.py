"""CP-SAT allocation of one resource made of slots, or with all-or-nothing needs: integer units, exact stages.

The model (agreed semantics 5). Each need ``i`` gets an integer allocation
``a_i`` (a number of slots, or minor units of a divisible resource):

- slots: ``a_i = Σ_c x[i, c]`` over the slot classes ``c`` it accepts (see
  "Symmetry" below); a class of ``k`` identical slots of capacity ``cap``
  holds ``Σ_i x[i, c] <= k·cap``, and ``x[i, c] <= k`` since a need uses a
  slot at most once. A need accepts a slot when the slot is in its
  ``acceptable`` ids (if given), lies within its ``window``
  (``slot.start >= window start`` and ``slot.end <= window end``; a slot
  without times is outside every window) and is in its ``zone``.
- divisible (a divisible resource with an all-or-nothing need): one "class"
  holding ``Q = quantity_minor`` units, ``0 <= a_i <= desired_i``.
- ``a_i <= desired_i``; all-or-nothing: ``a_i = desired_i · b_i`` with ``b_i``
  boolean; member caps: ``Σ a_i <= floor(member_cap_share × Q)`` over a
  member's needs (``Q`` = the sum of the slot capacities, or the quantity).

Order of service (semantics 1, 2, 5), as successive CP-SAT stages, each
adding the level it proved as a constraint for the next:

1. **Minimums.** A feasibility solve with ``a_i >= minimum_i``. If it is
   infeasible (or a quick count shows it: Σ minimums > Q, or a member's
   minimums above its cap, or a need accepting fewer slots than its
   minimum), the minimums themselves are shared: ``a_i <= minimum_i``, the
   rule's stages over the needs with a minimum (all tiers together),
   ``minimums_met`` False and ``message`` says so. Otherwise
   ``a_i >= minimum_i`` is kept for every later stage.
2. **Tiers**, smallest number first: a lexicographic max-min (leximin) on the
   rule's per-need metric over the tier's needs that can still move.
3. **Total**: maximise ``Σ a_i`` without lowering any level fixed before.

The metric (semantics 5) is ``(α_i·a_i − γ_i) / β_i`` with positive integers
``α, β`` and an integer ``γ``, so that levels compare exactly (no floats in
any constraint): with ``w = wn/wd`` and the claim ``c_i`` (desired, or the
minimum when the minimums are shared):

- leximin ``a/(w·desired)``: α = wd, β = wn·desired, γ = 0 (desired even
  when the minimums are shared, as the divisible allocator does);
- proportional ``a/(w·c)``: α = wd, β = wn·c, γ = 0;
- equal-awards ``a/w``: α = wd, β = wn, γ = 0;
- equal-losses ``−(c − a)/w``: α = wd, β = wn, γ = wd·c.

**Leximin stages with integers.** The sorted vector of metrics is
maximised lexicographically by alternating two kinds of stage, starting
with ``M`` = the number of moving needs:

- *level*: for ``M`` = all needs, a plain max-min: maximise the integer
  ``u`` with ``S·(α_i·a_i − γ_i) >= β_i·u`` for every need. Two distinct
  values of the metrics differ by at least ``1/(β_i·β_j) >= 1/B²``
  (``B = max β``), so with ``S = B²`` the optimal ``u`` pins the level
  exactly: the level ``y`` is the smallest metric of the solution found.
  When ``B²`` would overflow CP-SAT's 64-bit coefficients (huge divisible
  quantities), ``S`` is smaller and the level is finished by bisection
  (below). For ``M`` < all, the level is found by feasibility solves with
  integer thresholds: "at least ``M`` needs have ``a_i >= t_i(y)``" (``t_i``
  the smallest allocation whose metric reaches ``y``; linear constraints
  ``a_i >= lb_i + (t_i − lb_i)·g_i`` and ``Σ g_i >= M``), first at the next
  value any need can take above the current level (usually infeasible: one
  proof), then at midpoints of the interval still open, which at least
  halves each time, until no need has a value inside it. The stage then
  fixes "at least ``M`` needs reach ``y``" (plain lower bounds when ``M`` =
  all).
- *count*: maximise the number ``C`` of needs strictly above ``y``, then fix
  "at least ``C`` needs above ``y``". Positions ``n−M+1 .. n−C`` of the
  sorted vector are ``y``; if ``C = 0`` the tier is done, else the next
  level stage runs with ``M = C``.

This is exact for integers, where the classical "fix the needs that cannot
go above ``y``" is not: two needs may each be able to go above ``y`` but not
both, and which one does changes the later levels. The number of stages
is twice the number of distinct levels in the optimal sorted vector (a few
for slot needs of 1-3 slots), not the number of needs.

**Speed levers.**

- *Symmetry*: slots with the same zone, times and capacity, accepted by the
  same needs, are one class with an integer variable per need instead of
  one boolean per (need, slot): every symmetric permutation of identical
  slots collapses to one solution. The class's units are handed to slot ids
  afterwards by a cyclic fill (needs in id order, slots in id order), which
  never puts a need twice on a slot nor a slot above its capacity.
- *Decomposition*: needs are split into connected components of the
  need–class graph (needs of one member merged when a member cap could
  bind), each solved on its own: leximin, tiers and the total separate over
  independent components. Components smaller than ``BATCH_NEEDS_MIN`` needs
  are batched together (always correct, fewer solver calls).
- *Hints and levels*: every stage starts from the previous stage's
  solution as a complete hint (``model.add_hint``), and fixed levels are
  constraints (thresholds, i.e. bounds), so later stages search a smaller
  space.
- *LP relaxation*: CP-SAT's own LP (GLOP inside CP-SAT) with
  ``linearization_level = 2`` (every constraint linearised, with cuts) and
  ``optimize_with_lb_tree_search`` (the search branches on the LP bound) in
  a second phase, for a stage the default search has not proven within
  ``FIRST_PHASE_DETERMINISTIC_TIME``: measured on the benchmark family, the
  first proves the max-min stages in milliseconds where level 1 needed
  > 20 s, the second proves a count stage in 4 s where plain search stopped
  at 40 s with a gap (but slows the easy stages, hence the phases). The bound a stage
  reports is CP-SAT's (LP-based) bound. A separate GLOP solve was not added:
  it would give the same relaxation.

**Determinism.** One worker (``num_workers = 1``), ``random_seed =
RANDOM_SEED``, and every stage bounded in deterministic time: at most
``FIRST_PHASE_DETERMINISTIC_TIME`` for the default search, the rest of
``policy.stage_time_limit_s`` for the tree search. CP-SAT's deterministic
time does not depend on the machine's speed, so the same input gives the
same stages and the same allocation on any machine. The wall clock is a
safety net: each phase also stops at ``WALL_FACTOR`` × its deterministic
budget, and never after ``time_limit_s`` (the whole call). A stage
ended by either limit keeps its best solution, reports ``Status.FEASIBLE``
with its bound, and the resource's status is FEASIBLE; only a run where
every stage is proven is OPTIMAL. With no time left a stage is not run, and
the last solution (always valid: each stage's solution satisfies every
constraint fixed so far; the first is the minimums' solution, or nothing)
is kept.

Explanations (semantics 6): ``decided_by`` is the first that applies of
"desired met", "all-or-nothing" (an all-or-nothing need left with nothing),
"member cap", "slots" (it holds every slot it accepts), "minimum" (it got
exactly its minimum) and the stage, e.g. "tier 1, leximin" (or "minimums
shared, leximin"); ``binding`` lists "desired", "member cap", "slots" (every
slot it accepts is full or is its own), "minimum" and "all-or-nothing" when
at their limit.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from ortools.sat.python import cp_model

from solver.allocation import ResourceResult
from solver.allocation.model import Need, NeedAllocation, Policy, Resource, Rule, StageReport, Status

RANDOM_SEED = 6  # fixed: the same search on every machine (with one worker)
NUM_WORKERS = 1
LINEARIZATION_LEVEL = 2  # the LP relaxation with every constraint and more cuts: proves the levels (measured)
BATCH_NEEDS_MIN = 1  # components smaller than this are batched together
COEFFICIENT_TERM_MAX = 2**60  # |coefficient × bound| in any CP-SAT constraint stays below this
REFINEMENT_ROUNDS_MAX = 1_000  # level refinements when S < B² (each proves or raises the level)
FIRST_PHASE_DETERMINISTIC_TIME = 2.0  # CP-SAT's default search, before the LP-bound tree search
WALL_FACTOR = 5.0  # wall-clock safety net per phase, × its deterministic budget (measured: 0.4-0.6 deterministic units per second here)


# ---------------------------------------------------------------------------
# the structure: slot classes, edges, components


@dataclass(frozen=True, slots=True)
class _Class:
    """Identical slots (or a divisible pool): ``size`` slots of ``capacity_each``, or ``size`` None."""

    slot_ids: tuple[str, ...]  # sorted; () for a divisible pool
    capacity_each: int
    capacity_total: int
    size: int | None  # number of slots; None: divisible (a need may take any number of units)


@dataclass(frozen=True, slots=True)
class _Metric:
    alpha: int
    beta: int
    gamma: int

    def value(self, amount: int) -> Fraction:
        return Fraction(self.alpha * amount - self.gamma, self.beta)

    def at_least(self, level: Fraction) -> int:
        """The smallest allocation whose metric is >= level."""
        numerator = level.numerator * self.beta + self.gamma * level.denominator
        return -(-numerator // (level.denominator * self.alpha))

    def above(self, level: Fraction) -> int:
        """The smallest allocation whose metric is > level."""
        numerator = level.numerator * self.beta + self.gamma * level.denominator
        return numerator // (level.denominator * self.alpha) + 1


@dataclass(slots=True)
class _Card:
    """At least ``count`` of the needs reach their threshold: ``a_i >= thresholds[i]``."""

    thresholds: dict[int, int]
    count: int


@dataclass(slots=True)
class _State:
    """One batch of components being solved: bounds, fixed levels and the current solution."""

    needs: list[int]  # global need indices, input order
    classes: list[int]  # global class indices
    lower: dict[int, int]
    upper: dict[int, int]
    cards: list[_Card] = field(default_factory=list)
    x: dict[tuple[int, int], int] = field(default_factory=dict)  # the current solution: (need, class) -> units
    amounts: dict[int, int] = field(default_factory=dict)  # the current solution: need -> a_i
    stages: list[StageReport] = field(default_factory=list)
    is_proven: bool = True

    def take(self, x: dict[tuple[int, int], int]) -> None:
        self.x = {key: units for key, units in x.items() if units}
        self.amounts = dict.fromkeys(self.needs, 0)
        for (i, _), units in self.x.items():
            self.amounts[i] += units


class _Context:
    """What every stage needs: the problem's structure, limits and the clock."""

    def __init__(
        self,
        resource: Resource,
        needs: Sequence[Need],
        policy: Policy,
        time_limit_s: float,
        started: float,
        on_stage: Callable[[StageReport], None] | None = None,
    ) -> None:
        self.resource = resource
        self.on_stage = on_stage
        self.needs = needs
        self.policy = policy
        self.deadline = started + max(0.0, time_limit_s)
        self.classes, self.edges = _classes_and_edges(resource, needs)
        self.pool = resource.quantity_minor if resource.is_divisible else sum(s.capacity for s in resource.slots)
        share = policy.member_cap_share
        self.cap = None if share is None else math.floor(share * self.pool)
        # The most each need can hold given what it accepts (an all-or-nothing need: desired or 0).
        self.reach: list[int] = []
        for index, need in enumerate(needs):
            reach = min(sum(limit for _, limit in self.edges[index]), need.desired_minor)
            if need.all_or_nothing and reach < need.desired_minor:
                reach = 0
            self.reach.append(reach)

    def seconds_left(self) -> float:
        return self.deadline - time.perf_counter()


def _accepts_times(need: Need, start: int | None, end: int | None) -> bool:
    if need.window is None:
        return True
    if start is None or end is None:
        return False
    return start >= need.window[0] and end <= need.window[1]


def _classes_and_edges(resource: Resource, needs: Sequence[Need]) -> tuple[list[_Class], list[list[tuple[int, int]]]]:
    """Slot classes (identical slots accepted by the same needs) and each need's (class, most units) edges."""
    if resource.is_divisible:
        pool = _Class((), 1, resource.quantity_minor, None)
        return [pool], [[(0, need.desired_minor)] for need in needs]
    by_zone: dict[str | None, list[int]] = defaultdict(list)
    specific: dict[str, list[int]] = defaultdict(list)  # slot id -> needs naming it in ``acceptable``
    slots_by_id = {slot.id: slot for slot in resource.slots}
    for index, need in enumerate(needs):
        if need.acceptable is None:
            by_zone[need.zone].append(index)
            continue
        for slot_id in sorted(need.acceptable):
            slot = slots_by_id.get(slot_id)
            if slot is None:
                continue
            if need.zone is not None and slot.zone != need.zone:
                continue
            if _accepts_times(need, slot.start, slot.end):
                specific[slot_id].append(index)
    # Needs without acceptable ids accept a slot by its (zone, start, end) only.
    general: dict[tuple[str | None, int | None, int | None], tuple[int, ...]] = {}
    signature_slots: dict[tuple, list[str]] = defaultdict(list)
    for slot in resource.slots:
        key = (slot.zone, slot.start, slot.end)
        if key not in general:
            candidates = sorted(by_zone.get(None, []) + (by_zone.get(slot.zone, []) if slot.zone is not None else []))
            general[key] = tuple(i for i in candidates if _accepts_times(needs[i], slot.start, slot.end))
        accepted = tuple(sorted(set(general[key]) | set(specific.get(slot.id, ()))))
        signature_slots[(slot.zone, slot.start, slot.end, slot.capacity, accepted)].append(slot.id)
    classes: list[_Class] = []
    edges: list[list[tuple[int, int]]] = [[] for _ in needs]
    for signature, slot_ids in sorted(signature_slots.items(), key=lambda item: min(item[1])):
        accepted = signature[4]
        if not accepted:
            continue
        capacity = signature[3]
        ids = tuple(sorted(slot_ids))
        class_index = len(classes)
        classes.append(_Class(ids, capacity, capacity * len(ids), len(ids)))
        for i in accepted:
            edges[i].append((class_index, min(len(ids), needs[i].desired_minor)))
    return classes, edges


def _batches(context: _Context) -> list[tuple[list[int], list[int]]]:
    """Connected components of the need–class graph (member caps merge a member's needs), batched."""
    count = len(context.needs)
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            if ri < rj:
                parent[rj] = ri
            else:
                parent[ri] = rj

    first_on_class: dict[int, int] = {}
    for i in range(count):
        for class_index, _ in context.edges[i]:
            if class_index in first_on_class:
                union(first_on_class[class_index], i)
            else:
                first_on_class[class_index] = i
    if context.cap is not None:
        by_member: dict[str, list[int]] = defaultdict(list)
        for i, need in enumerate(context.needs):
            by_member[need.member].append(i)
        for members_needs in by_member.values():
            if sum(context.reach[i] for i in members_needs) > context.cap:
                for i in members_needs[1:]:
                    union(members_needs[0], i)
    components: dict[int, list[int]] = defaultdict(list)
    for i in range(count):
        components[find(i)].append(i)
    batches: list[list[int]] = []
    current: list[int] = []
    for root in sorted(components):
        current.extend(components[root])
        if len(current) >= BATCH_NEEDS_MIN:
            batches.append(sorted(current))
            current = []
    if current:
        batches.append(sorted(current))
    result = []
    for batch in batches:
        classes = sorted({c for i in batch for c, _ in context.edges[i]})
        result.append((batch, classes))
    return result



# ---------------------------------------------------------------------------
# one CP-SAT model per stage


@dataclass(slots=True)
class _Built:
    model: cp_model.CpModel
    x: dict[tuple[int, int], cp_model.IntVar]
    amount: dict[int, cp_model.LinearExprT]


def _build(context: _Context, state: _State, extra_cards: Sequence[_Card] = ()) -> _Built:
    """The batch's model with every constraint fixed so far (no objective), hinted with the current solution."""
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    amount: dict[int, cp_model.LinearExprT] = {}
    on_class: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    reachable: dict[int, int] = defaultdict(int)  # the most the variables on a class could add up to
    for i in state.needs:
        need = context.needs[i]
        lower, upper = state.lower[i], state.upper[i]
        terms = []
        for class_index, limit in context.edges[i]:
            top = min(limit, upper)
            if top <= 0:
                continue
            var = model.new_int_var(0, top, f"x{i}_{class_index}")
            x[(i, class_index)] = var
            on_class[class_index].append(var)
            reachable[class_index] += top
            terms.append(var)
            model.add_hint(var, state.x.get((i, class_index), 0))
        total = cp_model.LinearExpr.sum(terms) if terms else 0
        if need.all_or_nothing:
            chosen = model.new_bool_var(f"b{i}")
            if upper < need.desired_minor:
                model.add(chosen == 0)
            if lower > 0:
                model.add(chosen == 1)
            model.add(total == need.desired_minor * chosen)
            model.add_hint(chosen, 1 if state.amounts.get(i, 0) > 0 else 0)
            amount[i] = need.desired_minor * chosen
        else:
            model.add_linear_constraint(total, lower, upper)
            amount[i] = total
    for class_index in state.classes:
        variables = on_class.get(class_index, [])
        if reachable[class_index] > context.classes[class_index].capacity_total:
            model.add(cp_model.LinearExpr.sum(variables) <= context.classes[class_index].capacity_total)
    if context.cap is not None:
        by_member: dict[str, list[int]] = defaultdict(list)
        for i in state.needs:
            by_member[context.needs[i].member].append(i)
        for member_needs in by_member.values():
            if sum(state.upper[i] for i in member_needs) > context.cap:
                model.add(sum(amount[i] for i in member_needs) <= context.cap)
    for card_index, card in enumerate([*state.cards, *extra_cards]):
        _add_card(model, state, amount, card, f"k{card_index}")
    return _Built(model, x, amount)


def _add_card(model: cp_model.CpModel, state: _State, amount: dict, card: _Card, name: str) -> list:
    """At least ``card.count`` needs reach their thresholds, as linear constraints a_i >= lb + (t − lb)·g_i."""
    sure = 0
    literals = []
    for i, threshold in card.thresholds.items():
        lower = state.lower[i]
        if threshold <= lower:
            sure += 1
        elif threshold <= state.upper[i]:
            literal = model.new_bool_var(f"{name}_{i}")
            model.add(amount[i] - (threshold - lower) * literal >= lower)
            model.add_hint(literal, 1 if state.amounts.get(i, 0) >= threshold else 0)
            literals.append(literal)
    if card.count > sure:
        model.add(cp_model.LinearExpr.sum(literals) >= card.count - sure)
    return literals


@dataclass(frozen=True, slots=True)
class _Outcome:
    found: bool  # a solution was found (and taken into the state)
    proven: bool  # optimal (or, without objective, proven feasible / infeasible)
    infeasible: bool
    bound: float | None  # CP-SAT's best objective bound
    seconds: float


def _solve(context: _Context, state: _State, built: _Built) -> _Outcome:
    """Solve with the determinism settings and limits of the module docstring; take the solution found.

    Two phases, both bounded in deterministic time: CP-SAT's default search
    for at most ``FIRST_PHASE_DETERMINISTIC_TIME`` (most stages are proven
    there), then, if a stage with an objective is still open, the LP-bound
    tree search (``optimize_with_lb_tree_search``) from the solution found,
    for the rest of the stage's budget.
    """
    started = time.perf_counter()
    stage_budget = context.policy.stage_time_limit_s
    first = min(FIRST_PHASE_DETERMINISTIC_TIME, stage_budget)
    status, solver = _run(context, built, first, is_tree_search=False)
    if status is None:
        state.is_proven = False
        return _Outcome(False, False, False, None, 0.0)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if found:
        state.take({key: solver.value(var) for key, var in built.x.items()})
    proven = status in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
    if not proven and stage_budget > first:
        built.model.clear_hints()
        for key, var in built.x.items():
            built.model.add_hint(var, state.x.get(key, 0))
        second_status, second = _run(context, built, stage_budget - first, is_tree_search=built.model.has_objective())
        if second_status is not None and second_status != cp_model.UNKNOWN:
            status, solver = second_status, second
            found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
            if found:
                state.take({key: solver.value(var) for key, var in built.x.items()})
            proven = status in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
    seconds = time.perf_counter() - started
    if not proven:
        state.is_proven = False
    bound = solver.best_objective_bound if (found and built.model.has_objective()) else None
    return _Outcome(found, proven, status == cp_model.INFEASIBLE, bound, seconds)


def _run(
    context: _Context, built: _Built, deterministic_time: float, *, is_tree_search: bool
) -> tuple[int | None, cp_model.CpSolver]:
    solver = cp_model.CpSolver()
    wall_s = min(WALL_FACTOR * deterministic_time, context.seconds_left())
    if wall_s <= 0.0:
        return None, solver
    solver.parameters.num_workers = NUM_WORKERS
    solver.parameters.random_seed = RANDOM_SEED
    solver.parameters.linearization_level = LINEARIZATION_LEVEL
    solver.parameters.optimize_with_lb_tree_search = is_tree_search
    solver.parameters.max_deterministic_time = deterministic_time
    solver.parameters.max_time_in_seconds = wall_s
    status = solver.solve(built.model)
    assert status != cp_model.MODEL_INVALID, built.model.validate()
    return status, solver


def _report(context: _Context, state: _State, name: str, outcome: _Outcome, objective: Fraction | None, bound: Fraction | None) -> None:
    if outcome.infeasible:
        status = Status.INFEASIBLE
    else:
        status = Status.OPTIMAL if outcome.proven else Status.FEASIBLE
    if outcome.proven and not outcome.infeasible:
        bound = objective
    report = StageReport(name, status, objective, bound, outcome.seconds)
    state.stages.append(report)
    if context.on_stage is not None:
        context.on_stage(report)


# ---------------------------------------------------------------------------
# the stages


def _kth_largest(state: _State, active: Sequence[int], metrics: dict[int, _Metric], count: int) -> Fraction:
    values = sorted((metrics[i].value(state.amounts.get(i, 0)) for i in active), reverse=True)
    return values[count - 1]


def _scale(context: _Context, state: _State, active: Sequence[int], metrics: dict[int, _Metric]) -> tuple[int, int]:
    """(S, B²): the level's scale and the scale at which it is exact (see the module docstring)."""
    largest_beta = max(metrics[i].beta for i in active)
    largest_term = max(metrics[i].alpha * state.upper[i] + abs(metrics[i].gamma) for i in active)
    largest_level = max(
        max(abs(metrics[i].value(state.upper[i])), abs(metrics[i].value(state.lower[i]))) for i in active
    )
    exact = largest_beta * largest_beta
    # |S·α·a| + |S·γ| + |β·u| with |u| <= S·largest_level + 1 stays below COEFFICIENT_TERM_MAX.
    room = (COEFFICIENT_TERM_MAX - 2 * largest_beta) // (2 * largest_term + math.ceil(largest_beta * largest_level))
    if room < 1:
        from solver.allocation.errors import TooLarge

        raise TooLarge(
            f"resource {context.resource.id!r}: quantities and weights too large for CP-SAT's 64-bit coefficients",
            field="needs",
        )
    return min(exact, room), exact


def _level_stage(
    context: _Context, state: _State, active: list[int], metrics: dict[int, _Metric], count: int, name: str
) -> Fraction:
    """Maximise the level that at least ``count`` active needs reach; fix it; return it (exact when proven)."""
    if count == len(active):
        level, bound, outcome = _max_min(context, state, active, metrics)
    else:
        top = max(metrics[i].value(state.upper[i]) for i in active)
        level, bound, outcome = _bisect_level(
            context, state, active, metrics, count, _kth_largest(state, active, metrics, count), top + 1, 0.0
        )
    _report(context, state, name, outcome, level, bound)
    if count == len(active):
        for i in active:
            state.lower[i] = max(state.lower[i], metrics[i].at_least(level))
    else:
        state.cards.append(_Card({i: metrics[i].at_least(level) for i in active}, count))
    return level


def _max_min(
    context: _Context, state: _State, active: list[int], metrics: dict[int, _Metric]
) -> tuple[Fraction, Fraction | None, _Outcome]:
    """The worst-off level: maximise u with S·(α_i·a_i − γ_i) >= β_i·u for every active need."""
    scale, exact_scale = _scale(context, state, active, metrics)
    current = _kth_largest(state, active, metrics, len(active))
    top = max(metrics[i].value(state.upper[i]) for i in active)
    built = _build(context, state)
    model = built.model
    low_u, high_u = math.floor(current * scale), math.floor(top * scale)
    u = model.new_int_var(low_u, high_u, "u")
    model.add_hint(u, low_u)
    for i in active:
        metric = metrics[i]
        model.add(scale * metric.alpha * built.amount[i] - scale * metric.gamma - metric.beta * u >= 0)
    model.maximize(u)
    outcome = _solve(context, state, built)
    level = _kth_largest(state, active, metrics, len(active))
    # u <= bound means the level is below (bound + 1)/S.
    bound = None if outcome.bound is None else Fraction(math.floor(outcome.bound + 1e-9) + 1, scale)
    if outcome.proven and scale < exact_scale:
        # The optimal u pins the level within [u/S, (u + 1)/S) only: finish exactly by bisection.
        return _bisect_level(context, state, active, metrics, len(active), level, bound, outcome.seconds)
    return level, bound, outcome


def _bisect_level(
    context: _Context,
    state: _State,
    active: list[int],
    metrics: dict[int, _Metric],
    count: int,
    low: Fraction,
    high: Fraction,
    seconds: float,
) -> tuple[Fraction, Fraction, _Outcome]:
    """The largest level at least ``count`` needs reach, known to be in [low, high) with ``low`` reached.

    Feasibility solves with integer thresholds ("at least ``count`` needs have
    ``a_i >= t_i(level)``"): first the next value any need can take above
    ``low`` (usually infeasible, and then ``low`` is proven), then midpoints.
    The interval at least halves at each solve; it stops when no need has a
    value in (low, high).
    """
    for round_number in range(REFINEMENT_ROUNDS_MAX):
        candidates = [
            metrics[i].value(metrics[i].above(low)) for i in active if metrics[i].above(low) <= state.upper[i]
        ]
        following = min(candidates, default=high)
        if following >= high:
            return low, low, _Outcome(True, True, False, None, seconds)
        probe = following if round_number == 0 else max(following, (low + high) / 2)
        card = _Card({i: metrics[i].at_least(probe) for i in active}, count)
        step = _solve(context, state, _build(context, state, (card,)))
        seconds += step.seconds
        if step.found:
            low = _kth_largest(state, active, metrics, count)
            assert low >= probe
        elif step.infeasible:
            high = probe
        else:
            return low, high, _Outcome(True, False, False, None, seconds)
    state.is_proven = False
    return low, high, _Outcome(True, False, False, None, seconds)


def _count_stage(
    context: _Context, state: _State, active: list[int], metrics: dict[int, _Metric], level: Fraction, name: str
) -> int:
    """Maximise the number of active needs strictly above ``level``; fix it; return it."""
    thresholds = {i: metrics[i].above(level) for i in active}
    thresholds = {i: t for i, t in thresholds.items() if t <= state.upper[i]}
    if all(t <= state.lower[i] for i, t in thresholds.items()):
        count = len(thresholds)  # nothing to decide: these needs are above the level whatever happens
    else:
        built = _build(context, state)
        literals = _add_card(built.model, state, built.amount, _Card(thresholds, 0), "g")
        built.model.maximize(cp_model.LinearExpr.sum(literals))
        outcome = _solve(context, state, built)
        count = sum(1 for i, t in thresholds.items() if state.amounts.get(i, 0) >= t)
        sure = sum(1 for i, t in thresholds.items() if t <= state.lower[i])
        bound = None if outcome.bound is None else Fraction(sure + math.floor(outcome.bound + 1e-9))
        _report(context, state, name, outcome, Fraction(count), bound)
    if count:
        state.cards.append(_Card(thresholds, count))
    return count


def _total_stage(context: _Context, state: _State, name: str) -> None:
    built = _build(context, state)
    built.model.maximize(sum(built.amount[i] for i in state.needs))
    outcome = _solve(context, state, built)
    total = sum(state.amounts.values())
    bound = None if outcome.bound is None else Fraction(math.floor(outcome.bound + 1e-9))
    _report(context, state, name, outcome, Fraction(total), bound)


def _leximin_stages(
    context: _Context, state: _State, active: list[int], metrics: dict[int, _Metric], label: str
) -> None:
    """Alternate level and count stages until no active need can go above the last level."""
    count = len(active)
    for number in range(1, 2 * len(active) + 2):
        level = _level_stage(context, state, active, metrics, count, f"{label}: level {number}")
        above = _count_stage(context, state, active, metrics, level, f"{label}: count above level {number}")
        if above == 0:
            return
        # above < count when both stages are proven; otherwise the next level is still higher.
        count = min(above, count)
    state.is_proven = False


def _metric(rule: Rule, need: Need, claim: int) -> _Metric:
    numerator, denominator = need.weight.numerator, need.weight.denominator
    if rule == Rule.LEXIMIN:
        return _Metric(denominator, numerator * need.desired_minor, 0)
    if rule == Rule.PROPORTIONAL:
        return _Metric(denominator, numerator * claim, 0)
    if rule == Rule.EQUAL_AWARDS:
        return _Metric(denominator, numerator, 0)
    assert rule == Rule.EQUAL_LOSSES
    return _Metric(denominator, numerator, denominator * claim)


# ---------------------------------------------------------------------------
# the entry point


def allocate_with_cp_sat(
    resource: Resource,
    needs: Sequence[Need],
    policy: Policy,
    *,
    time_limit_s: float,
    on_stage: Callable[[StageReport], None] | None = None,
) -> ResourceResult:
    """Allocate one resource (slots, or all-or-nothing needs) by CP-SAT stages (see the module docstring).

    ``on_stage`` is called with each stage's report as soon as the stage ends (a progress display).
    """
    started = time.perf_counter()
    context = _Context(resource, needs, policy, time_limit_s, started, on_stage)
    batches = _batches(context)
    prefixed = len(batches) > 1
    unit = "minor units" if resource.is_divisible else "slots"
    asked = sum(need.minimum_minor for need in needs)
    message = _minimums_shortfall(context, asked, unit)
    minimums_met = not message
    checked: list[_State] = []
    if minimums_met and asked > 0:
        # Every batch must fit its minimums; a batch that does not (or cannot be shown to) shares them all.
        for number, (batch, classes) in enumerate(batches, 1):
            state = _State(batch, classes, {i: needs[i].minimum_minor for i in batch}, {i: context.reach[i] for i in batch})
            state.take({})
            if any(state.lower[i] for i in batch):
                outcome = _solve(context, state, _build(context, state))
                prefix = f"component batch {number}: " if prefixed else ""
                _report(context, state, f"{prefix}minimums", outcome, None, None)
                if outcome.infeasible:
                    message = (
                        f"resource {resource.id!r}: the pool cannot cover the essential minimums: {asked} {unit} asked, "
                        f"{context.pool} available, but no assignment of the slots the needs accept meets them all; "
                        "the minimums are shared by the rule and nothing above them is given"
                    )
                elif not outcome.found:
                    message = (
                        f"resource {resource.id!r}: could not establish within the time limit that the essential "
                        f"minimums ({asked} {unit} asked, {context.pool} available) can all be met; "
                        "the minimums are shared by the rule and nothing above them is given"
                    )
                if message:
                    break
            checked.append(state)
        minimums_met = not message
    early_stages = [stage for state in checked for stage in state.stages]
    early_proven = all(state.is_proven for state in checked)
    states: list[_State] = []
    for number, (batch, classes) in enumerate(batches, 1):
        prefix = f"component batch {number}: " if prefixed else ""
        if minimums_met:
            state = checked[number - 1] if checked else None
            if state is None:
                state = _State(batch, classes, {i: needs[i].minimum_minor for i in batch}, {i: context.reach[i] for i in batch})
                state.take({})
            state.stages = []
            for tier in sorted({needs[i].tier for i in batch}):
                active = [i for i in batch if needs[i].tier == tier and state.upper[i] > state.lower[i]]
                if active:
                    metrics = {i: _metric(policy.rule, needs[i], needs[i].desired_minor) for i in active}
                    _leximin_stages(context, state, active, metrics, f"{prefix}tier {tier}, {policy.rule}")
        else:
            upper = {i: min(needs[i].minimum_minor, context.reach[i]) for i in batch}
            for i in batch:
                if needs[i].all_or_nothing and upper[i] < needs[i].desired_minor:
                    upper[i] = 0
            state = _State(batch, classes, dict.fromkeys(batch, 0), upper)
            state.take({})
            active = [i for i in batch if upper[i] > 0]
            if active:
                metrics = {i: _metric(policy.rule, needs[i], needs[i].minimum_minor) for i in active}
                _leximin_stages(context, state, active, metrics, f"{prefix}minimums shared, {policy.rule}")
        _total_stage(context, state, f"{prefix}total")
        states.append(state)
    allocations = _explain_all(context, states, minimums_met)
    is_proven = early_proven and all(state.is_proven for state in states)
    notes = (
        f"cp-sat: {len(batches)} batch(es) of components, {len(context.classes)} slot classes, "
        f"{NUM_WORKERS} worker, seed {RANDOM_SEED}",
    )
    return ResourceResult(
        status=Status.OPTIMAL if is_proven else Status.FEASIBLE,
        allocations=allocations,
        minimums_met=minimums_met,
        message=message,
        stages=tuple(early_stages + [stage for state in states for stage in state.stages]),
        method="cp-sat",
        notes=notes,
    )


def _minimums_shortfall(context: _Context, asked: int, unit: str) -> str:
    """Why the minimums cannot all be met, when a count shows it without a solve ("" otherwise)."""
    resource = context.resource
    tail = "the minimums are shared by the rule and nothing above them is given"
    if asked > context.pool:
        return (
            f"resource {resource.id!r}: the pool cannot cover the essential minimums: "
            f"{asked} {unit} asked, {context.pool} available; {tail}"
        )
    for i, need in enumerate(context.needs):
        if need.minimum_minor > context.reach[i]:
            return (
                f"resource {resource.id!r}: the pool cannot cover the essential minimums: need {need.id!r} asks "
                f"{need.minimum_minor} {unit} and accepts at most {context.reach[i]}; {tail}"
            )
    if context.cap is not None:
        by_member: dict[str, int] = defaultdict(int)
        for need in context.needs:
            by_member[need.member] += need.minimum_minor
        for member, member_minor in by_member.items():
            if member_minor > context.cap:
                return (
                    f"resource {resource.id!r}: the member cap cannot cover the essential minimums of {member!r}: "
                    f"{member_minor} {unit} asked, its cap is {context.cap}; {tail}"
                )
    return ""


def _explain_all(context: _Context, states: Sequence[_State], minimums_met: bool) -> tuple[NeedAllocation, ...]:
    """Each need's allocation: slot ids by a cyclic fill of its classes, what decided it, what binds."""
    needs = context.needs
    amounts: dict[int, int] = {}
    x: dict[tuple[int, int], int] = {}
    for state in states:
        amounts.update(state.amounts)
        x.update(state.x)
    slots_of: dict[int, list[str]] = defaultdict(list)
    used: dict[int, int] = defaultdict(int)
    by_class: dict[int, list[int]] = defaultdict(list)
    for (i, class_index), units in x.items():
        by_class[class_index].append(i)
        used[class_index] += units
    for class_index, holders in by_class.items():
        slot_class = context.classes[class_index]
        if slot_class.size is None:
            continue
        pointer = 0
        for i in sorted(holders, key=lambda j: needs[j].id):
            units = x[(i, class_index)]
            assert units <= slot_class.size
            for step in range(units):
                slots_of[i].append(slot_class.slot_ids[(pointer + step) % slot_class.size])
            pointer = (pointer + units) % slot_class.size
    member_totals: dict[str, int] = defaultdict(int)
    for i, amount in amounts.items():
        member_totals[needs[i].member] += amount
    label = "tier {tier}, " + str(context.policy.rule) if minimums_met else "minimums shared, " + str(context.policy.rule)
    allocations = []
    for i, need in enumerate(needs):
        amount = amounts.get(i, 0)
        holds_all = bool(context.edges[i]) and context.classes[context.edges[i][0][0]].size is not None and (
            amount == sum(context.classes[c].size or 0 for c, _ in context.edges[i])
        )
        slots_full = bool(context.edges[i]) and context.classes[context.edges[i][0][0]].size is not None and all(
            used[c] >= context.classes[c].capacity_total or x.get((i, c), 0) >= (context.classes[c].size or 0)
            for c, _ in context.edges[i]
        )
        at_cap = context.cap is not None and member_totals[need.member] >= context.cap
        binding = []
        if amount == need.desired_minor:
            binding.append("desired")
        if at_cap:
            binding.append("member cap")
        if slots_full and amount < need.desired_minor:
            binding.append("slots")
        if amount == need.minimum_minor > 0:
            binding.append("minimum")
        if need.all_or_nothing and amount == 0:
            binding.append("all-or-nothing")
        if amount == need.desired_minor:
            decided_by = "desired met" if minimums_met else "minimum"
        elif need.all_or_nothing and amount == 0:
            decided_by = "all-or-nothing"
        elif at_cap:
            decided_by = "member cap"
        elif holds_all or not context.edges[i]:
            decided_by = "slots"
        elif amount == need.minimum_minor:
            decided_by = "minimum"
        else:
            decided_by = label.format(tier=need.tier)
        allocations.append(
            NeedAllocation(
                need_id=need.id,
                member=need.member,
                resource=need.resource,
                declared_minor=need.desired_minor,
                minimum_minor=need.minimum_minor,
                allocated_minor=amount,
                slots=tuple(sorted(slots_of.get(i, ()))),
                decided_by=decided_by,
                binding=tuple(binding),
            )
        )
    return tuple(allocations)
