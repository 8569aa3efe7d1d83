"""Cycle decomposition of set-offs: the cycles add up to exactly the set-off."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import clearing
from solver.cycles import Cycle, NotACirculation, decompose_cycles


def test_a_triangle_is_one_cycle_starting_at_the_smallest_name() -> None:
    cycles = decompose_cycles([("b", "c", 50), ("c", "a", 50), ("a", "b", 50)])
    assert cycles == [Cycle(("a", "b", "c"), 50)]
    assert cycles[0].arcs() == [("a", "b"), ("b", "c"), ("c", "a")]


def test_two_cycles_through_one_participant_are_told_apart() -> None:
    cycles = decompose_cycles([("a", "b", 30), ("b", "a", 30), ("a", "c", 20), ("c", "d", 20), ("d", "a", 20)])
    assert sorted(cycles, key=lambda c: c.participants) == [Cycle(("a", "b"), 30), Cycle(("a", "c", "d"), 20)]


def test_a_set_off_that_changes_a_net_position_is_refused() -> None:
    with pytest.raises(NotACirculation):
        decompose_cycles([("a", "b", 10), ("b", "c", 10)])
    with pytest.raises(NotACirculation):
        decompose_cycles([("a", "b", -1)])


def test_nothing_set_off_is_no_cycle() -> None:
    assert decompose_cycles([("a", "b", 0)]) == []


names = st.sampled_from(list("abcdefg"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, names, st.integers(min_value=1, max_value=10**6)), max_size=40))
def test_the_cycles_of_an_optimal_set_off_sum_to_it_arc_by_arc(rows: list[tuple[str, str, int]]) -> None:
    obligations = [clearing.Obligation(str(i), d, c, a) for i, (d, c, a) in enumerate(rows) if d != c]
    result = clearing.clear(obligations)
    setoff = Counter()
    for obligation, amount in zip(obligations, result.setoffs_minor):
        setoff[(obligation.debtor, obligation.creditor)] += amount
    cycles = decompose_cycles((d, c, a) for (d, c), a in setoff.items())
    rebuilt = Counter()
    for cycle in cycles:
        assert cycle.amount_minor > 0 and len(set(cycle.participants)) == len(cycle.participants) >= 2
        for arc in cycle.arcs():
            rebuilt[arc] += cycle.amount_minor
    assert rebuilt == +setoff
    assert len(cycles) <= len(+setoff)
