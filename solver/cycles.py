"""Decompose a set-off into the cycles of obligation it cancelled.

A set-off that leaves every net position unchanged is a circulation: at
every participant, what is set off on its debts equals what is set off on
its claims. Every circulation is a sum of simple cycles (flow
decomposition), and a cycle is what a co-op treasurer understands: "you owed
B, B owed C, C owed you; 120.00 went round and cancelled out".

Deterministic: the same set-off gives the same cycles in the same order on
any machine (participants and arcs are taken in sorted order). Each cycle
found empties at least one arc, so there are at most as many cycles as
arcs with a set-off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cycle:
    """``participants[0]`` owed ``participants[1]``, …, and the last owed the first; ``amount_minor`` went round."""

    participants: tuple[str, ...]
    amount_minor: int

    def arcs(self) -> list[tuple[str, str]]:
        """The (debtor, creditor) pairs of the cycle, in order."""
        people = self.participants
        return [(people[i], people[(i + 1) % len(people)]) for i in range(len(people))]


class NotACirculation(ValueError):
    """The set-off would change someone's net position, so it is no set of cycles."""


def decompose_cycles(setoffs: Iterable[tuple[str, str, int]]) -> list[Cycle]:
    """Split set-offs ``(debtor, creditor, amount)`` into simple cycles whose sum is the set-off."""
    flow: dict[str, dict[str, int]] = {}
    for debtor, creditor, amount in setoffs:
        if amount < 0:
            raise NotACirculation(f"negative set-off {debtor} -> {creditor}")
        if amount and debtor != creditor:
            out = flow.setdefault(debtor, {})
            out[creditor] = out.get(creditor, 0) + amount
    balance: dict[str, int] = {}
    for debtor, out in flow.items():
        for creditor, amount in out.items():
            balance[debtor] = balance.get(debtor, 0) + amount
            balance[creditor] = balance.get(creditor, 0) - amount
    unbalanced = sorted(p for p, b in balance.items() if b)
    if unbalanced:
        raise NotACirculation(f"set-off changes the net position of {', '.join(unbalanced[:5])}")

    cycles: list[Cycle] = []
    while flow:
        start = min(flow)
        path = [start]
        seen = {start: 0}
        while True:
            here = path[-1]
            following = min(flow[here])  # every node on a circulation's path has an outgoing arc
            if following in seen:
                loop = path[seen[following]:]
                break
            seen[following] = len(path)
            path.append(following)
        arcs = [(loop[i], loop[(i + 1) % len(loop)]) for i in range(len(loop))]
        amount = min(flow[a][b] for a, b in arcs)
        for a, b in arcs:
            flow[a][b] -= amount
            if not flow[a][b]:
                del flow[a][b]
                if not flow[a]:
                    del flow[a]
        cycles.append(Cycle(_rotate_to_smallest(loop), amount))
    return cycles


def _rotate_to_smallest(loop: list[str]) -> tuple[str, ...]:
    first = loop.index(min(loop))
    return tuple(loop[first:] + loop[:first])
