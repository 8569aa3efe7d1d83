"""What a pool round's commit charges and pays out: pure rules, checked on random inputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.pools.problem import ContributionSpec, SlotSpec, charge_minor, largest_remainder, payouts

weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(lambda w: sum(w) > 0)


@given(total=st.integers(min_value=0, max_value=10**12), weights=weights)
def test_largest_remainder_splits_the_whole_total_within_one_unit_of_the_exact_share(total: int, weights: list[int]) -> None:
    parts = largest_remainder(total, list(enumerate(weights)))
    assert sum(parts.values()) == total
    for key, weight in enumerate(weights):
        rounded_down = total * weight // sum(weights)
        assert rounded_down <= parts[key] <= rounded_down + 1


def test_largest_remainder_breaks_ties_by_key() -> None:
    assert largest_remainder(1, [("b", 1), ("a", 1)]) == {"a": 1, "b": 0}
    assert largest_remainder(2, [(3, 1), (1, 1), (2, 1)]) == {1: 1, 2: 1, 3: 0}


def test_a_charge_is_the_price_per_whole_unit_rounded_down() -> None:
    assert charge_minor(1_250, 150, 2) == 1_875  # 12.50 kg at 1.50
    assert charge_minor(1, 150, 2) == 1  # 0.01 kg at 1.50 = 0.015, rounded down
    assert charge_minor(3, 2_000, 0) == 6_000


@given(
    quantities=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=10),
    paid=st.lists(st.booleans(), min_size=10, max_size=10),
    price=st.integers(min_value=0, max_value=10**4),
    decimals=st.integers(min_value=0, max_value=3),
    data=st.data(),
)
def test_a_divisible_pool_never_pays_out_more_than_it_charged(
    quantities: list[int], paid: list[bool], price: int, decimals: int, data: st.DataObject
) -> None:
    contributions = [ContributionSpec(i + 1, f"m{i}", q, (), paid[i]) for i, q in enumerate(quantities)]
    allocated = data.draw(st.lists(st.integers(min_value=0, max_value=sum(quantities)), min_size=1, max_size=8)
                          .filter(lambda xs: sum(xs) <= sum(quantities)))
    revenue = sum(charge_minor(amount, price, decimals) for amount in allocated)
    result = payouts(is_slots=False, price_minor=price, contributions=contributions, slots_used=(),
                     allocated_total_minor=sum(allocated), revenue_minor=revenue)
    assert sum(p.amount_minor for p in result) <= revenue
    assert all(p.amount_minor > 0 for p in result)
    assert {p.contribution_id for p in result} <= {c.id for c in contributions if c.is_paid}
    if all(c.is_paid for c in contributions) and revenue:
        assert sum(p.amount_minor for p in result) == revenue


def test_a_slot_pool_pays_each_use_to_the_slot_owner_when_paid() -> None:
    contributions = [
        ContributionSpec(1, "owner", 2, (SlotSpec("a"), SlotSpec("b")), True),
        ContributionSpec(2, "giver", 1, (SlotSpec("c", capacity=2),), False),
    ]
    result = payouts(is_slots=True, price_minor=500, contributions=contributions, slots_used=["a", "c", "c"],
                     allocated_total_minor=3, revenue_minor=1_500)
    assert [(p.contribution_id, p.used_minor, p.amount_minor) for p in result] == [(1, 1, 500)]
