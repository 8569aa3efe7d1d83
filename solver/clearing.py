"""Multilateral clearing: cancel cycles of obligation, leaving every net position unchanged.

Pure: immutable records in and out (NamedTuples and frozen dataclasses);
no database, no Flask, no clock. Amounts are integers in minor units.

The model (issue 7). Obligations are aggregated per (debtor, creditor) pair
into one arc whose capacity is the pair's total. A set-off ``s`` keeps every
participant's net position exactly when it is a *circulation* (for every
participant, what is set off on what it owes equals what is set off on what
it is owed), with ``0 <= s <= amount``. Maximising the total set off is the
same as minimising what remains, ``r = amount - s``, where ``r`` is a flow
that must still carry every participant's net position: a min-cost flow
with node supply = the participant's debt position (what it owes minus what
it is owed), arc debtor -> creditor with capacity = the pair's total and
cost 1 per unit, and cleared = total - flow. Substituting s = amount - r
turns it into the equivalent min-cost circulation (no supplies, cost -1 per
unit, flow = set-off), which is what we hand to OR-Tools'
``SimpleMinCostFlow``: same optimum, about a fifth faster on large networks.

A circulation decomposes into cycles, so only arcs inside a strongly
connected component can carry a set-off. We first prune participants that
cannot be on a cycle (repeatedly drop nodes with no incoming or no outgoing
arc), then solve each strongly connected component on its own.

Limits: every amount and the total debt must not exceed
``TOTAL_MINOR_MAX`` (2**62), so that no sum the solver or OR-Tools forms
(supplies, capacities, flow costs, all below the input's total) can overflow
a signed 64-bit integer. Larger inputs are refused with
``AmountsTooLarge``; split such an input into several runs (per region or
per period) instead. OR-Tools' own status is checked: anything but OPTIMAL
raises ``SolverFailed``, never a silently wrong answer.

Splitting: a pair's set-off is spread over its obligations oldest due date
first (obligations without a due date after every dated one), then by
obligation id (string order); each obligation takes as much as it can
before the next one gets anything. Only pairs cleared partly need this:
a pair cleared wholly clears every obligation wholly.

"Whole obligations only" (opt-in, NP-hard): each obligation is either
cancelled entirely or not at all. Solved with CP-SAT, one worker, a fixed
seed and a deterministic-time limit (so the same input gives the same
answer on any machine), plus a wall-clock limit as a safety net (if that
one ends the search first, runs may differ; the result then says it is not
proven optimal); the result reports its gap to the divisible optimum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from solver._gc import garbage_collection_paused

# The largest amount and the largest total debt, in minor units (see above).
TOTAL_MINOR_MAX = 2**62
# Whole-obligations mode builds one Boolean per obligation on a cycle.
WHOLE_OBLIGATIONS_MAX = 200_000
WHOLE_SOLVE_TIME_S_MAX_DEFAULT = 10.0
WHOLE_DETERMINISTIC_TIME_MAX_DEFAULT = 20.0
WHOLE_RANDOM_SEED = 7
# Breadth-first levels searched before the component search falls back to Tarjan alone.
SEARCH_LEVELS_MAX = 200


class ClearingError(ValueError):
    """Root of the solver's typed errors; ``code`` is stable."""

    code = "clearing_error"


class InvalidObligation(ClearingError):
    """An obligation is malformed (amount, parties or id)."""

    code = "invalid_obligation"

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index  # the obligation's position in the input


class AmountsTooLarge(ClearingError):
    """An amount or the total debt exceeds TOTAL_MINOR_MAX."""

    code = "amounts_too_large"


class SolverFailed(ClearingError):
    """The optimisation library did not return a proven answer."""

    code = "solver_failed"


class TooManyObligations(ClearingError):
    """Too many obligations for whole-obligations mode."""

    code = "too_many_obligations"


class Obligation(NamedTuple):
    """``debtor`` owes ``creditor`` ``amount_minor`` (> 0), optionally due on ``due``.

    A NamedTuple (immutable, as Beancount's records): a million of them are
    made in a third of the time a frozen dataclass takes.
    """

    id: str
    debtor: str
    creditor: str
    amount_minor: int
    due: dt.date | None = None


class ParticipantPosition(NamedTuple):
    """What a participant is owed and owes, before and after the set-off.

    A NamedTuple rather than a frozen dataclass: a run builds one per
    participant (100,000 on a large network), and a tuple is built about
    three times faster.
    """

    participant: str
    owed_before_minor: int  # others owe it
    owing_before_minor: int  # it owes others
    owed_after_minor: int
    owing_after_minor: int

    @property
    def net_minor(self) -> int:
        """Net position (owed - owing); the same before and after."""
        return self.owed_before_minor - self.owing_before_minor


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """The set-off per obligation (aligned with the input) and the run's figures."""

    setoffs_minor: tuple[int, ...]
    td_minor: int  # total debt
    nid_minor: int  # net internal debt: sum of positive net positions
    cleared_minor: int
    positions: tuple[ParticipantPosition, ...]  # sorted by participant
    is_whole: bool = False
    # Whole-obligations mode only: the divisible optimum, and whether CP-SAT proved its answer optimal.
    divisible_optimum_minor: int | None = None
    is_proven_optimal: bool = True

    @property
    def remainder_minor(self) -> int:
        return self.td_minor - self.cleared_minor

    @property
    def bound_minor(self) -> int:
        """TD - NID: no set-off can clear more."""
        return self.td_minor - self.nid_minor

    @property
    def bound_share(self) -> Fraction | None:
        """Share of the bound reached (None when the bound is zero)."""
        return Fraction(self.cleared_minor, self.bound_minor) if self.bound_minor else None

    @property
    def gap_minor(self) -> int | None:
        """Whole-obligations mode: how much less than the divisible optimum was cleared."""
        if self.divisible_optimum_minor is None:
            return None
        return self.divisible_optimum_minor - self.cleared_minor


def setoffs_by_id(obligations: Sequence[Obligation], result: ClearingResult) -> dict[str, int]:
    """Non-zero set-offs keyed by obligation id, in input order."""
    return {o.id: s for o, s in zip(obligations, result.setoffs_minor) if s}


# ---------------------------------------------------------------------------
# input checks and the graph


@dataclass(frozen=True, slots=True)
class _Graph:
    """Participants as indices, obligations as arrays, pairs aggregated."""

    names: tuple[str, ...]
    debtor: np.ndarray  # per obligation, participant index
    creditor: np.ndarray
    amount: np.ndarray  # int64
    pair_of: np.ndarray  # per obligation, index into the pair arrays
    pair_tail: np.ndarray  # debtor index per pair
    pair_head: np.ndarray  # creditor index per pair
    pair_amount: np.ndarray  # int64, the pair's total


_Columns = tuple[list[int], list[str], list[str]]  # amounts, debtors, creditors


def _columns(obligations: Sequence[Obligation]) -> _Columns:
    """The obligations' amounts, debtors and creditors as lists, read once for checking and the graph."""
    return (
        [o.amount_minor for o in obligations],
        [o.debtor for o in obligations],
        [o.creditor for o in obligations],
    )


def check_obligations(obligations: Sequence[Obligation], columns: _Columns | None = None) -> int:
    """Refuse malformed obligations in a fixed order; return the total debt.

    Checked per obligation, first failure in input order wins: amount is an
    int, amount > 0, amount <= TOTAL_MINOR_MAX, debtor and creditor
    non-empty and different, id not seen before. Then the total against
    TOTAL_MINOR_MAX. The common case (all valid) is checked in bulk; the
    slow loop runs only to name the first bad obligation.
    """
    amounts, debtors, creditors = columns or _columns(obligations)
    is_valid = (
        set(map(type, amounts)) <= {int}
        and (not amounts or (min(amounts) > 0 and max(amounts) <= TOTAL_MINOR_MAX))
        and "" not in debtors
        and "" not in creditors
        and not any(map(str.__eq__, debtors, creditors))
        and len({o.id for o in obligations}) == len(obligations)
    )
    if not is_valid:
        _refuse_first_bad(obligations)
    total = sum(amounts)
    if total > TOTAL_MINOR_MAX:
        raise AmountsTooLarge(
            f"total debt {total} exceeds {TOTAL_MINOR_MAX} minor units; split the input into several runs"
        )
    return total


def _refuse_first_bad(obligations: Sequence[Obligation]) -> None:
    seen: set[str] = set()
    for index, o in enumerate(obligations):
        amount = o.amount_minor
        if type(amount) is not int:
            raise InvalidObligation(f"obligation {o.id!r}: amount is not an integer", index=index)
        if amount <= 0:
            raise InvalidObligation(f"obligation {o.id!r}: amount must be positive", index=index)
        if amount > TOTAL_MINOR_MAX:
            raise AmountsTooLarge(f"obligation {o.id!r}: amount exceeds {TOTAL_MINOR_MAX} minor units")
        if not o.debtor or not o.creditor:
            raise InvalidObligation(f"obligation {o.id!r}: debtor and creditor are required", index=index)
        if o.debtor == o.creditor:
            raise InvalidObligation(f"obligation {o.id!r}: debtor and creditor are the same", index=index)
        if o.id in seen:
            raise InvalidObligation(f"obligation {o.id!r}: duplicate id", index=index)
        seen.add(o.id)
    raise AssertionError("no bad obligation found")  # pragma: no cover


def _build_graph(obligations: Sequence[Obligation], columns: _Columns | None = None) -> _Graph:
    amounts, debtors, creditors = columns or _columns(obligations)
    index = {name: i for i, name in enumerate(dict.fromkeys(debtors + creditors))}
    debtor = np.fromiter(map(index.__getitem__, debtors), np.int64, len(debtors))
    creditor = np.fromiter(map(index.__getitem__, creditors), np.int64, len(creditors))
    amount = np.array(amounts, np.int64)
    n = len(index)
    keys = debtor * max(n, 1) + creditor
    pair_keys, pair_of = np.unique(keys, return_inverse=True)
    # Not bincount: with weights it sums in float64. Sums stay below TOTAL_MINOR_MAX.
    pair_amount = np.zeros(len(pair_keys), np.int64)
    np.add.at(pair_amount, pair_of, amount)
    return _Graph(
        names=tuple(index),
        debtor=debtor,
        creditor=creditor,
        amount=amount,
        pair_of=pair_of.astype(np.int64),
        pair_tail=pair_keys // max(n, 1),
        pair_head=pair_keys % max(n, 1),
        pair_amount=pair_amount,
    )


def _prune(n: int, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Arcs that survive repeatedly dropping nodes with no incoming or no outgoing arc."""
    alive = np.ones(len(tail), bool)
    while True:
        t, h = tail[alive], head[alive]
        has_out = np.bincount(t, minlength=n) > 0
        has_in = np.bincount(h, minlength=n) > 0
        keep = has_out & has_in
        still = alive.copy()
        still[alive] = keep[t] & keep[h]
        if still.sum() == alive.sum():
            return alive
        alive = still


def _strong_components(n: int, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Component label per node (iterative Tarjan); nodes without arcs get their own label."""
    order = np.argsort(tail, kind="stable")
    heads = head[order].tolist()
    starts = np.searchsorted(tail[order], np.arange(n + 1)).tolist()
    index_of = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    label = [-1] * n
    stack: list[int] = []
    counter = 0
    labels = 0
    for root in range(n):
        if index_of[root] != -1:
            continue
        work = [(root, starts[root])]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, position = work[-1]
            end = starts[node + 1]
            while position < end:
                child = heads[position]
                position += 1
                if index_of[child] == -1:
                    work[-1] = (node, position)
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack[child] = True
                    work.append((child, starts[child]))
                    break
                if on_stack[child] and index_of[child] < low[node]:
                    low[node] = index_of[child]
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[node] < low[parent]:
                        low[parent] = low[node]
                if low[node] == index_of[node]:
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        label[member] = labels
                        if member == node:
                            break
                    labels += 1
    return np.asarray(label, np.int64)


def _reachable(n: int, tail: np.ndarray, head: np.ndarray, source: int) -> np.ndarray | None:
    """Nodes reachable from ``source`` (breadth first, one numpy step per level).

    None past ``SEARCH_LEVELS_MAX`` levels: a long thin graph (one long cycle)
    would take a numpy step per node; Tarjan's algorithm is quicker there.
    """
    order = np.argsort(tail, kind="stable")
    heads = head[order]
    starts = np.searchsorted(tail[order], np.arange(n + 1))
    seen = np.zeros(n, bool)
    seen[source] = True
    frontier = np.array([source], np.int64)
    for _ in range(SEARCH_LEVELS_MAX):
        if not len(frontier):
            return seen
        begin, count = starts[frontier], starts[frontier + 1] - starts[frontier]
        offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        neighbours = heads[np.repeat(begin, count) + offsets]
        frontier = np.unique(neighbours[~seen[neighbours]])
        seen[frontier] = True
    return None


def _strong_components_giant_first(n: int, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Component label per node: the component of the busiest node by two searches, the rest by Tarjan.

    Trade networks have one giant strongly connected component. It is the set
    of nodes both reachable from and reaching its busiest node (two
    vectorised searches); every other component lies among the remaining
    nodes and is found by Tarjan's algorithm on them alone.
    """
    degree = np.bincount(tail, minlength=n) * np.bincount(head, minlength=n)
    pivot = int(np.argmax(degree))
    forward = _reachable(n, tail, head, pivot)
    backward = _reachable(n, head, tail, pivot) if forward is not None else None
    if forward is None or backward is None:
        return _strong_components(n, tail, head)
    giant = forward & backward
    label = np.zeros(n, np.int64)
    rest = np.flatnonzero(~giant)
    if len(rest):
        among = ~giant[tail] & ~giant[head]
        number = np.full(n, -1, np.int64)
        number[rest] = np.arange(len(rest))
        label[rest] = 1 + _strong_components(len(rest), number[tail[among]], number[head[among]])
    return label


def _cyclic_pairs(graph: _Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pairs inside a strongly connected component, their component labels, and their ends."""
    n = len(graph.names)
    alive = np.flatnonzero(_prune(n, graph.pair_tail, graph.pair_head))
    if len(alive) == 0:
        return alive, alive, alive, alive
    local_tail, local_head = graph.pair_tail[alive], graph.pair_head[alive]
    # Participants already pruned stay as isolated nodes: cheaper than renumbering.
    label = _strong_components_giant_first(n, local_tail, local_head)
    inside = label[local_tail] == label[local_head]
    return alive[inside], label[local_tail[inside]], local_tail[inside], local_head[inside]


# ---------------------------------------------------------------------------
# divisible optimum


def _solve_component(tail: np.ndarray, head: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Set-off per arc of one strongly connected component, by min-cost flow.

    Solved as the equivalent min-cost *circulation*: no supplies, cost -1 per
    unit, so the flow is the set-off itself. It is the same problem as "supply
    = debt position, cost +1, cleared = total - flow" (substitute s = amount -
    r), and OR-Tools solves it about a fifth faster on large networks.
    """
    from ortools.graph.python import min_cost_flow

    m = len(tail)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tail.astype(np.int32), head.astype(np.int32), capacity, np.full(m, -1, np.int64)
    )
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SolverFailed(f"min-cost flow ended with status {status!r}")
    setoff = np.asarray(flow.flows(np.arange(m, dtype=np.int32)), np.int64)
    assert np.all(setoff >= 0)
    assert np.all(setoff <= capacity)
    return setoff


def _pair_setoffs(graph: _Graph) -> np.ndarray:
    pair_setoff = np.zeros(len(graph.pair_amount), np.int64)
    cyclic, label, tail, head = _cyclic_pairs(graph)
    if len(cyclic) == 0:
        return pair_setoff
    # Each component is renumbered compactly: OR-Tools runs a fifth slower with isolated nodes about.
    if label.min() == label.max():  # one component, the usual case
        _, local = np.unique(np.concatenate([tail, head]), return_inverse=True)
        pair_setoff[cyclic] = _solve_component(local[: len(tail)], local[len(tail) :], graph.pair_amount[cyclic])
        return pair_setoff
    order = np.argsort(label, kind="stable")
    cyclic, label, tail, head = cyclic[order], label[order], tail[order], head[order]
    for group in np.split(np.arange(len(cyclic)), np.flatnonzero(np.diff(label)) + 1):
        _, local = np.unique(np.concatenate([tail[group], head[group]]), return_inverse=True)
        pair_setoff[cyclic[group]] = _solve_component(
            local[: len(group)], local[len(group) :], graph.pair_amount[cyclic[group]]
        )
    return pair_setoff


def _split_onto_obligations(
    obligations: Sequence[Obligation], graph: _Graph, pair_setoff: np.ndarray
) -> np.ndarray:
    """Spread each pair's set-off over its obligations: oldest due date first, then id."""
    full = pair_setoff[graph.pair_of] == graph.pair_amount[graph.pair_of]
    setoff = np.where(full, graph.amount, 0)
    partial_pairs = (pair_setoff > 0) & (pair_setoff < graph.pair_amount)
    partial = np.flatnonzero(partial_pairs[graph.pair_of])
    # A pair with one obligation needs no order: the obligation takes the pair's set-off.
    count = np.bincount(graph.pair_of[partial], minlength=len(pair_setoff))
    alone = partial[count[graph.pair_of[partial]] == 1]
    setoff[alone] = pair_setoff[graph.pair_of[alone]]
    members = partial[count[graph.pair_of[partial]] > 1].tolist()
    if not members:
        return setoff
    chosen = [obligations[i] for i in members]
    undated = dt.date.max.toordinal() + 1  # after every date
    due = np.array([o.due.toordinal() if o.due is not None else undated for o in chosen], np.int64)
    ids = np.array([o.id for o in chosen], dtype=str)  # numpy orders strings by code point, as Python does
    order = np.lexsort((ids, due, graph.pair_of[members]))
    members_sorted = np.asarray(members, np.int64)[order]
    pair = graph.pair_of[members_sorted]
    amount = graph.amount[members_sorted]
    # What earlier obligations of the same pair already took, then as much as is left.
    running = np.cumsum(amount)
    group_start = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    before = running - amount - np.repeat(running[group_start] - amount[group_start], np.diff(np.r_[group_start, len(pair)]))
    setoff[members_sorted] = np.clip(pair_setoff[pair] - before, 0, amount)
    return setoff


def _positions(graph: _Graph, setoff: np.ndarray) -> tuple[tuple[ParticipantPosition, ...], int]:
    n = len(graph.names)
    owed = np.zeros(n, np.int64)
    owing = np.zeros(n, np.int64)
    np.add.at(owed, graph.creditor, graph.amount)
    np.add.at(owing, graph.debtor, graph.amount)
    remaining = graph.amount - setoff
    owed_after = np.zeros(n, np.int64)
    owing_after = np.zeros(n, np.int64)
    np.add.at(owed_after, graph.creditor, remaining)
    np.add.at(owing_after, graph.debtor, remaining)
    net = owed - owing
    nid = int(net[net > 0].sum())
    order = sorted(range(n), key=graph.names.__getitem__)
    owed_l, owing_l, owed_a, owing_a = owed.tolist(), owing.tolist(), owed_after.tolist(), owing_after.tolist()
    positions = tuple(
        ParticipantPosition(graph.names[i], owed_l[i], owing_l[i], owed_a[i], owing_a[i]) for i in order
    )
    return positions, nid


def clear(obligations: Sequence[Obligation]) -> ClearingResult:
    """The maximum set-off that leaves every net position unchanged (amounts divisible)."""
    with garbage_collection_paused():
        return _clear(obligations)


def _clear(obligations: Sequence[Obligation]) -> ClearingResult:
    columns = _columns(obligations)
    td = check_obligations(obligations, columns)
    if not obligations:
        return ClearingResult(setoffs_minor=(), td_minor=0, nid_minor=0, cleared_minor=0, positions=())
    graph = _build_graph(obligations, columns)
    pair_setoff = _pair_setoffs(graph)
    setoff = _split_onto_obligations(obligations, graph, pair_setoff)
    positions, nid = _positions(graph, setoff)
    cleared = int(setoff.sum())
    assert cleared <= td - nid
    return ClearingResult(
        setoffs_minor=tuple(setoff.tolist()), td_minor=td, nid_minor=nid, cleared_minor=cleared, positions=positions
    )


# ---------------------------------------------------------------------------
# whole obligations only


def clear_whole(
    obligations: Sequence[Obligation],
    *,
    solve_time_s_max: float = WHOLE_SOLVE_TIME_S_MAX_DEFAULT,
    deterministic_time_max: float = WHOLE_DETERMINISTIC_TIME_MAX_DEFAULT,
) -> ClearingResult:
    """The largest set-off that cancels whole obligations only (CP-SAT, limited time)."""
    from ortools.sat.python import cp_model

    divisible = clear(obligations)
    if divisible.cleared_minor == 0:
        return _whole_result(obligations, divisible, [0] * len(obligations), is_proven_optimal=True)
    graph = _build_graph(obligations)
    cyclic, _, _, _ = _cyclic_pairs(graph)
    on_cycle = np.zeros(len(graph.pair_amount), bool)
    on_cycle[cyclic] = True
    candidates = np.flatnonzero(on_cycle[graph.pair_of]).tolist()
    if len(candidates) > WHOLE_OBLIGATIONS_MAX:
        raise TooManyObligations(
            f"{len(candidates)} obligations lie on cycles; whole-obligations mode takes at most {WHOLE_OBLIGATIONS_MAX}"
        )
    model = cp_model.CpModel()
    chosen = {i: model.new_bool_var(f"o{i}") for i in candidates}
    balance: dict[int, list[tuple[int, cp_model.IntVar]]] = {}
    for i, var in chosen.items():
        amount = obligations[i].amount_minor
        balance.setdefault(int(graph.debtor[i]), []).append((amount, var))
        balance.setdefault(int(graph.creditor[i]), []).append((-amount, var))
    for terms in balance.values():
        model.add(sum(c * v for c, v in terms) == 0)
    objective = sum(obligations[i].amount_minor * var for i, var in chosen.items())
    # No whole set-off can beat the divisible optimum; saying so lets CP-SAT stop early.
    model.add(objective <= divisible.cleared_minor)
    model.maximize(objective)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = WHOLE_RANDOM_SEED
    solver.parameters.max_time_in_seconds = solve_time_s_max
    solver.parameters.max_deterministic_time = deterministic_time_max
    status = solver.solve(model)
    if status == cp_model.MODEL_INVALID:
        raise AmountsTooLarge(f"CP-SAT refused the model: {model.validate()}")
    setoff = [0] * len(obligations)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for i, var in chosen.items():
            if solver.value(var):
                setoff[i] = obligations[i].amount_minor
    # UNKNOWN (no solution within the limit): setting nothing off is always whole and valid.
    return _whole_result(obligations, divisible, setoff, is_proven_optimal=status == cp_model.OPTIMAL)


def _whole_result(
    obligations: Sequence[Obligation], divisible: ClearingResult, setoff: list[int], *, is_proven_optimal: bool
) -> ClearingResult:
    if not obligations:
        return ClearingResult((), 0, 0, 0, (), is_whole=True, divisible_optimum_minor=0)
    graph = _build_graph(obligations)
    positions, nid = _positions(graph, np.asarray(setoff, np.int64))
    return ClearingResult(
        setoffs_minor=tuple(setoff),
        td_minor=divisible.td_minor,
        nid_minor=nid,
        cleared_minor=sum(setoff),
        positions=positions,
        is_whole=True,
        divisible_optimum_minor=divisible.cleared_minor,
        is_proven_optimal=is_proven_optimal,
    )
