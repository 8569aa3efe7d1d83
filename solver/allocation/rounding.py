"""Largest-remainder rounding of exact awards to whole minor units, and exact ordering of fractions.

Every exact award ``floor + remainder`` (0 <= remainder < 1, an exact
fraction given as numerator and denominator) is rounded down, then the
leftover units are handed out one at a time to the largest remainders, ties
broken by need id (string order). Invariants, given exact awards that
respect integer bounds (each award <= its need's integer claim, each
member's total <= its integer cap, and a whole-number total):

- every result is ``floor`` or ``floor + 1``: within 1 of the exact award;
- only needs with a positive remainder get a unit, so no result exceeds its
  claim (``floor + 1 <= claim`` when the award is below the claim);
- a member never goes above its cap: a member whose cap is reached is
  skipped. This never leaves units undistributed: a member's remainders add
  up to at most ``cap - its floors``, and to at most its count of
  fractional needs, so the members can take every leftover unit together;
- the total is preserved: exactly ``units`` units are handed out.

``exact_order`` sorts fractions exactly without building a ``Fraction``
per item: it sorts their correctly rounded float values (Python's int / int
is correctly rounded, hence monotone: a < b implies float(a) <= float(b)),
then re-sorts exactly only the runs of equal floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np


def exact_order(
    numerators: Sequence[int],
    denominators: Sequence[int],
    tie_keys: Sequence[str] | None = None,
    *,
    descending: bool = False,
) -> list[int]:
    """Indices sorted by ``numerators[i] / denominators[i]`` exactly (denominators > 0), then by ``tie_keys[i]``.

    Without ``tie_keys``, equal fractions keep their index order. ``descending``
    reverses the fractions' order only; ties still go by ascending key.
    """
    values = np.fromiter(
        (numerator / denominator for numerator, denominator in zip(numerators, denominators)),
        dtype=np.float64,
        count=len(numerators),
    )
    if descending:
        values = -values
    order_array = np.argsort(values, kind="stable")
    sorted_values = values[order_array]
    order: list[int] = order_array.tolist()
    equal = np.flatnonzero(sorted_values[1:] == sorted_values[:-1]).tolist()
    start = end = -1
    for index in equal:  # runs of equal floats: order[start:end + 1]
        if index == end:
            end = index + 1
            continue
        _sort_run(order, start, end + 1, numerators, denominators, tie_keys, descending)
        start, end = index, index + 1
    _sort_run(order, start, end + 1, numerators, denominators, tie_keys, descending)
    return order


def _sort_run(
    order: list[int],
    start: int,
    end: int,
    numerators: Sequence[int],
    denominators: Sequence[int],
    tie_keys: Sequence[str] | None,
    descending: bool,
) -> None:
    if end - start < 2:
        return
    run = order[start:end]
    first_numerator, first_denominator = numerators[run[0]], denominators[run[0]]
    all_equal = all(numerators[i] * first_denominator == first_numerator * denominators[i] for i in run)
    if all_equal:
        if tie_keys is not None:
            run.sort(key=tie_keys.__getitem__)
    else:
        sign = -1 if descending else 1
        if tie_keys is None:
            run.sort(key=lambda i: sign * Fraction(numerators[i], denominators[i]))
        else:
            run.sort(key=lambda i: (sign * Fraction(numerators[i], denominators[i]), tie_keys[i]))
    order[start:end] = run


def round_largest_remainder(
    floors_minor: Sequence[int],
    remainder_numerators: Sequence[int],
    denominators: Sequence[int],
    need_ids: Sequence[str],
    claims_minor: Sequence[int],
    members: Sequence[str],
    member_room_minor: Mapping[str, int] | None,
    units: int,
) -> list[int]:
    """Whole awards: ``floors_minor`` plus one unit for each of the ``units`` largest remainders (see module).

    Need i's remainder is ``remainder_numerators[i] / denominators[i]``, in [0, 1);
    ``member_room_minor`` is how many units each member may still take above its floors
    (its cap minus the sum of its floors); None means no member cap.
    """
    count = len(floors_minor)
    assert len(remainder_numerators) == count
    assert len(denominators) == count
    assert len(need_ids) == count
    assert units >= 0
    result = list(floors_minor)
    if units == 0:
        return result
    fractional = [index for index, numerator in enumerate(remainder_numerators) if numerator > 0]
    assert len(fractional) >= units
    order = exact_order(
        [remainder_numerators[index] for index in fractional],
        [denominators[index] for index in fractional],
        [need_ids[index] for index in fractional],
        descending=True,
    )
    room = dict(member_room_minor) if member_room_minor is not None else None
    given = 0
    for position in order:
        if given == units:
            break
        index = fractional[position]
        if result[index] + 1 > claims_minor[index]:
            continue  # never above the claim (cannot happen with exact awards below an integer claim)
        if room is not None:
            member = members[index]
            if room[member] <= 0:
                continue
            room[member] -= 1
        result[index] += 1
        given += 1
    assert given == units, "the leftover units did not fit under the claims and member caps"
    return result


def round_exact(
    awards: Sequence[Fraction],
    need_ids: Sequence[str],
    claims_minor: Sequence[int],
    members: Sequence[str],
    member_cap_minor: int | None,
) -> list[int]:
    """Round exact ``awards`` (a whole-number total) by largest remainder: for tests and callers."""
    floors = [award.numerator // award.denominator for award in awards]
    numerators = [award.numerator % award.denominator for award in awards]
    denominators = [award.denominator for award in awards]
    total = sum(awards, Fraction(0))
    assert total.denominator == 1
    room: dict[str, int] | None = None
    if member_cap_minor is not None:
        room = {}
        for member, floor in zip(members, floors):
            room[member] = room.get(member, member_cap_minor) - floor
    return round_largest_remainder(
        floors, numerators, denominators, need_ids, claims_minor, members, room, int(total) - sum(floors)
    )
