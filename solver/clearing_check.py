"""An independent checker for proposed set-offs: don't trust the solver.

Its own code path: no OR-Tools, no code shared with ``solver.clearing``
beyond the ``Obligation`` record. It collects findings instead of stopping
at the first, each naming what it concerns, the expected and the found value.

What is checked, in this order:

1. ``shape``: one set-off per obligation, each an integer;
2. ``bounds``: ``0 <= set-off <= amount`` per obligation;
3. ``whole`` (only when ``is_whole``): each set-off is 0 or the full amount;
4. ``net_position``: every participant's net position (owed - owing) is
   the same before and after;
5. ``maximum`` (only when ``require_maximum``): no set-off clears more.

Why "no cycle remains" is *not* the test of 5. If the obligations that
remain (amount - set-off > 0) contain a cycle, more can be cleared, so an
acyclic remainder is necessary. It is not sufficient: with A->B 1, B->A 1,
B->C 1, C->A 1, setting off the two-cycle A<->B leaves B->C, C->A (no
cycle) with 2 cleared, while the three-cycle A->B->C->A plus nothing else
clears 3. Undoing part of one set-off can open a larger one. The exact
condition is the min-cost-flow optimality condition on what remains, r:
its residual graph (arc debtor->creditor of cost +1 where the pair has a
set-off, arc creditor->debtor of cost -1 where something remains) has no
negative cycle.

The checker proves it with a certificate found by its own label-correcting
shortest paths (Bellman-Ford from a virtual source, all pairs relaxed at
once with numpy): potentials ``p`` with ``p[creditor] <= p[debtor] + 1``
where a pair has a set-off and ``p[creditor] >= p[debtor] + 1`` where
something remains. By weak LP duality, for *any* potentials p and any
valid set-off s (a circulation, 0 <= s <= amount),

    sum(s) = sum(s * (1 + p[debtor] - p[creditor]))
          <= sum(amount * max(0, 1 + p[debtor] - p[creditor])) = U(p),

so U(p) is an upper bound computed from the data alone, and ``cleared ==
U(p)`` proves the set-off maximal. If the potentials keep decreasing after
as many rounds as there are participants, the residual graph has a negative
cycle and the set-off is not maximal. The number of rounds is limited
(``rounds_max``); hitting the limit is a finding of its own, never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver._gc import garbage_collection_paused
from solver.clearing import Obligation

ROUNDS_MAX_DEFAULT = 100_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with a proposed set-off."""

    check: str  # shape, bounds, whole, net_position, maximum
    concerns: str  # obligation id, participant, or "total"
    expected: str
    found: str
    message: str


def check_setoffs(
    obligations: Sequence[Obligation],
    setoffs_minor: Sequence[int],
    *,
    require_maximum: bool = True,
    is_whole: bool = False,
    rounds_max: int = ROUNDS_MAX_DEFAULT,
) -> list[Finding]:
    """Every finding about ``setoffs_minor`` (aligned with ``obligations``); empty means valid.

    Checks 1 to 3 are per obligation; check 4 runs only when they pass (a net
    position over a wrong set-off says nothing new), and check 5 only when
    1 to 4 pass (maximality is defined for valid set-offs only).
    """
    with garbage_collection_paused():
        return _check_setoffs(obligations, setoffs_minor, require_maximum, is_whole, rounds_max)


def _check_setoffs(
    obligations: Sequence[Obligation],
    setoffs_minor: Sequence[int],
    require_maximum: bool,
    is_whole: bool,
    rounds_max: int,
) -> list[Finding]:
    findings: list[Finding] = []
    if len(setoffs_minor) != len(obligations):
        findings.append(
            Finding("shape", "total", str(len(obligations)), str(len(setoffs_minor)), "one set-off per obligation")
        )
        return findings
    setoffs = list(setoffs_minor)
    amounts = [o.amount_minor for o in obligations]
    is_plain = all(type(s) is int and 0 <= s <= a for s, a in zip(setoffs, amounts)) and (
        not is_whole or all(s == 0 or s == a for s, a in zip(setoffs, amounts))
    )
    if not is_plain:
        for o, s in zip(obligations, setoffs):
            if type(s) is not int:
                findings.append(Finding("shape", o.id, "an integer", repr(s), "set-off is not an integer"))
            elif s < 0 or s > o.amount_minor:
                findings.append(Finding("bounds", o.id, f"0..{o.amount_minor}", str(s), "set-off outside 0..amount"))
            elif is_whole and s not in (0, o.amount_minor):
                findings.append(
                    Finding("whole", o.id, f"0 or {o.amount_minor}", str(s), "set-off cancels part of it")
                )
        return findings
    # Net positions in exact integers: what is set off on what a participant is owed
    # must equal what is set off on what it owes (amounts themselves cancel out).
    debtors = [o.debtor for o in obligations]
    creditors = [o.creditor for o in obligations]
    number = {name: i for i, name in enumerate(dict.fromkeys(debtors + creditors))}
    debtor = np.fromiter(map(number.__getitem__, debtors), np.int64, len(debtors))
    creditor = np.fromiter(map(number.__getitem__, creditors), np.int64, len(creditors))
    amount_total = sum(amounts)
    if amount_total < 2**62:
        setoff = np.array(setoffs, np.int64)
        change = np.zeros(len(number), np.int64)
        np.add.at(change, creditor, -setoff)  # owed less
        np.add.at(change, debtor, setoff)  # owes less
        changed = {int(i): int(change[i]) for i in np.flatnonzero(change)}
    else:  # sums might not fit 64 bits: plain Python integers
        change_list = [0] * len(number)
        for d, c, s in zip(debtor.tolist(), creditor.tolist(), setoffs):
            change_list[c] -= s
            change_list[d] += s
        changed = {i: v for i, v in enumerate(change_list) if v}
    names = list(number)
    net_before = [0] * len(number)
    if changed:
        for d, c, a in zip(debtor.tolist(), creditor.tolist(), amounts):
            net_before[c] += a
            net_before[d] -= a
    for i in sorted(changed, key=names.__getitem__):
        findings.append(
            Finding(
                "net_position",
                names[i],
                str(net_before[i]),
                str(net_before[i] + changed[i]),
                "net position changed",
            )
        )
    if findings or not require_maximum:
        return findings
    finding = _check_maximum(names, debtor, creditor, amounts, setoffs, rounds_max)
    if finding is not None:
        findings.append(finding)
    return findings


def upper_bound(obligations: Sequence[Obligation], potentials: dict[str, int]) -> int:
    """U(p) = sum(amount * max(0, 1 + p[debtor] - p[creditor])): no set-off clears more."""
    return sum(
        o.amount_minor * max(0, 1 + potentials.get(o.debtor, 0) - potentials.get(o.creditor, 0)) for o in obligations
    )


def _check_maximum(
    names: list[str],
    debtor: np.ndarray,
    creditor: np.ndarray,
    amounts: list[int],
    setoffs: list[int],
    rounds_max: int,
) -> Finding | None:
    cleared = sum(setoffs)
    n = len(names)
    if sum(amounts) < 2**62:  # every amount, so every set-off (is_plain checked 0 <= s <= a), fits 64 bits
        setoff_array = np.array(setoffs, np.int64)
        setoff = setoff_array > 0
        remains = setoff_array < np.array(amounts, np.int64)
    else:
        setoff = np.array([s > 0 for s in setoffs], bool)
        remains = np.array([s < a for s, a in zip(setoffs, amounts)], bool)
    # Per pair, only whether some set-off and some remainder exist matters.
    forward = np.unique(debtor[setoff] * n + creditor[setoff])  # debtor -> creditor, +1
    backward = np.unique(creditor[remains] * n + debtor[remains])  # creditor -> debtor, -1
    source = np.concatenate([forward // n, backward // n]) if n else forward
    target = np.concatenate([forward % n, backward % n]) if n else forward
    weight = np.concatenate([np.ones(len(forward), np.int64), -np.ones(len(backward), np.int64)])
    order = np.argsort(target, kind="stable")
    source, target, weight = source[order], target[order], weight[order]
    starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]]) if len(target) else np.zeros(0, np.int64)
    targets = target[starts]
    potential = np.zeros(n, np.int64)
    rounds = 0
    converged = len(target) == 0
    while not converged:
        if rounds >= min(rounds_max, n + 1):
            break
        rounds += 1
        best = np.minimum.reduceat(potential[source] + weight, starts)
        improved = best < potential[targets]
        if not improved.any():
            converged = True
            break
        potential[targets[improved]] = best[improved]
    if not converged:
        if rounds > n:
            return Finding(
                "maximum",
                "total",
                "no cycle that clears more",
                f"{cleared} cleared",
                "set-off is not maximal: a cycle through the remaining obligations can clear more",
            )
        return Finding(
            "maximum", "total", f"a proof within {rounds_max} rounds", f"{rounds} rounds", "optimality not proven"
        )
    factor = np.maximum(0, 1 + potential[debtor] - potential[creditor])
    if sum(amounts) * int(factor.max(initial=0)) < 2**62:
        bound = int(np.dot(np.array(amounts, np.int64), factor))
    else:  # might not fit 64 bits: plain Python integers
        bound = sum(a * f for a, f in zip(amounts, factor.tolist()) if f)
    if bound != cleared:
        # Potentials that satisfy every residual arc make U(p) equal the cleared total; they did not.
        return Finding("maximum", "total", str(bound), str(cleared), "cleared total below the proven optimum")
    return None
