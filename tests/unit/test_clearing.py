"""Multilateral clearing: the solver, its independent checker, the generator and the CSV reader."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from mutualcredit.clearing.csv_input import format_minor, read_obligations
from mutualcredit.clearing.errors import InvalidObligationsFile
from mutualcredit.errors import InvalidInput
from solver.clearing import (
    TOTAL_MINOR_MAX,
    AmountsTooLarge,
    InvalidObligation,
    Obligation,
    clear,
    clear_whole,
    setoffs_by_id,
)
from solver.clearing_check import check_setoffs
from solver.clearing_generator import NetworkShape, generate, generate_arrays, write_csv

# ---------------------------------------------------------------------------
# helpers


def lp_optimum(obligations: list[Obligation]) -> float:
    """The maximum set-off by linear programming (scipy's HiGHS), one variable per obligation."""
    if not obligations:
        return 0.0
    names = sorted({o.debtor for o in obligations} | {o.creditor for o in obligations})
    row = {name: i for i, name in enumerate(names)}
    balance = np.zeros((len(names), len(obligations)))
    for j, o in enumerate(obligations):
        balance[row[o.debtor], j] += 1  # the debtor owes less ...
        balance[row[o.creditor], j] -= 1  # ... and is owed less by as much
    result = linprog(
        c=-np.ones(len(obligations)),
        A_eq=balance,
        b_eq=np.zeros(len(names)),
        bounds=[(0, o.amount_minor) for o in obligations],
        method="highs",
    )
    assert result.status == 0, result.message
    return -result.fun


def net_positions(obligations: list[Obligation], setoffs: tuple[int, ...] | list[int]) -> dict[str, int]:
    net: dict[str, int] = {}
    for o, s in zip(obligations, setoffs):
        remaining = o.amount_minor - s
        net[o.creditor] = net.get(o.creditor, 0) + remaining
        net[o.debtor] = net.get(o.debtor, 0) - remaining
    return net


def cycle(names: str, amount: int, *, prefix: str = "") -> list[Obligation]:
    return [
        Obligation(f"{prefix}{i}", names[i], names[(i + 1) % len(names)], amount) for i in range(len(names))
    ]


PARTICIPANTS = "ABCDEF"


@st.composite
def networks(draw: st.DrawFn, amount_max: int = 1_000_000, size_max: int = 18) -> list[Obligation]:
    count = draw(st.integers(0, size_max))
    obligations = []
    for i in range(count):
        debtor = draw(st.sampled_from(PARTICIPANTS))
        creditor = draw(st.sampled_from(PARTICIPANTS.replace(debtor, "")))
        amount = draw(st.integers(1, amount_max))
        obligations.append(Obligation(f"o{i}", debtor, creditor, amount))
    return obligations


# ---------------------------------------------------------------------------
# the divisible optimum


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_the_solver_clears_exactly_what_a_linear_program_says_is_the_maximum(obligations: list[Obligation]) -> None:
    result = clear(obligations)
    assert abs(result.cleared_minor - lp_optimum(obligations)) < 0.5
    assert check_setoffs(obligations, result.setoffs_minor) == []


@settings(max_examples=150, deadline=None)
@given(networks(amount_max=20, size_max=14))
def test_a_set_off_keeps_every_net_position_and_stays_within_each_obligation(obligations: list[Obligation]) -> None:
    result = clear(obligations)
    assert net_positions(obligations, result.setoffs_minor) == net_positions(obligations, [0] * len(obligations))
    assert all(0 <= s <= o.amount_minor for o, s in zip(obligations, result.setoffs_minor))
    assert result.td_minor == sum(o.amount_minor for o in obligations)
    assert result.cleared_minor == sum(result.setoffs_minor)
    assert result.remainder_minor == result.td_minor - result.cleared_minor
    assert result.cleared_minor <= result.bound_minor == result.td_minor - result.nid_minor
    for position in result.positions:
        assert position.owed_after_minor - position.owing_after_minor == position.net_minor
        assert 0 <= position.owed_after_minor <= position.owed_before_minor
        assert 0 <= position.owing_after_minor <= position.owing_before_minor
    assert result.nid_minor == sum(max(0, p.net_minor) for p in result.positions)


def test_nothing_is_cleared_when_there_is_no_cycle() -> None:
    chain = [Obligation("1", "A", "B", 5), Obligation("2", "B", "C", 5), Obligation("3", "A", "C", 7)]
    result = clear(chain)
    assert result.setoffs_minor == (0, 0, 0)
    assert result.bound_minor == 5  # the bound TD - NID is not always reachable
    assert result.bound_share == 0
    assert check_setoffs(chain, result.setoffs_minor) == []


def test_an_empty_input_clears_nothing_and_reports_zeros() -> None:
    result = clear([])
    assert (result.td_minor, result.nid_minor, result.cleared_minor, result.bound_share) == (0, 0, 0, None)


def test_a_participant_cannot_owe_itself() -> None:
    with pytest.raises(InvalidObligation) as caught:
        clear([Obligation("1", "A", "B", 5), Obligation("2", "A", "A", 5)])
    assert caught.value.index == 1


@pytest.mark.parametrize("amount", [0, -3])
def test_amounts_must_be_positive(amount: int) -> None:
    with pytest.raises(InvalidObligation):
        clear([Obligation("1", "A", "B", amount)])


def test_obligation_ids_must_be_unique() -> None:
    with pytest.raises(InvalidObligation, match="duplicate"):
        clear([Obligation("1", "A", "B", 5), Obligation("1", "B", "A", 5)])


def test_parallel_obligations_between_the_same_pair_are_cleared_together() -> None:
    obligations = [
        Obligation("a", "A", "B", 3),
        Obligation("b", "A", "B", 4),
        Obligation("c", "B", "A", 5),
    ]
    result = clear(obligations)
    assert result.cleared_minor == 10
    assert check_setoffs(obligations, result.setoffs_minor) == []


def test_huge_amounts_up_to_the_limit_are_cleared_exactly() -> None:
    amount = TOTAL_MINOR_MAX // 4
    obligations = cycle("ABC", amount) + [Obligation("x", "A", "C", TOTAL_MINOR_MAX - 3 * amount)]
    result = clear(obligations)
    assert result.td_minor == TOTAL_MINOR_MAX
    assert result.cleared_minor == 3 * amount
    assert check_setoffs(obligations, result.setoffs_minor) == []


@settings(max_examples=40, deadline=None)
@given(networks(amount_max=TOTAL_MINOR_MAX // 20, size_max=18))
def test_huge_random_amounts_pass_the_checker(obligations: list[Obligation]) -> None:
    result = clear(obligations)
    assert check_setoffs(obligations, result.setoffs_minor) == []


def test_totals_that_could_overflow_64_bits_are_refused_not_miscomputed() -> None:
    with pytest.raises(AmountsTooLarge):
        clear(cycle("AB", TOTAL_MINOR_MAX // 2 + 1))
    with pytest.raises(AmountsTooLarge):
        clear([Obligation("1", "A", "B", TOTAL_MINOR_MAX + 1)])
    with pytest.raises(AmountsTooLarge):
        clear([Obligation("1", "A", "B", 2**70)])


def test_a_long_cycle_of_one_unit_debts_is_cleared_entirely() -> None:
    names = [f"p{i:05d}" for i in range(50_000)]
    obligations = [Obligation(str(i), names[i], names[(i + 1) % len(names)], 1) for i in range(len(names))]
    result = clear(obligations)
    assert result.cleared_minor == len(names)
    assert check_setoffs(obligations, result.setoffs_minor) == []


def test_separate_components_are_cleared_independently() -> None:
    obligations = cycle("ABC", 5, prefix="x") + cycle("DEF", 2, prefix="y") + [Obligation("z", "C", "D", 9)]
    result = clear(obligations)
    assert result.cleared_minor == 21
    assert setoffs_by_id(obligations, result) == {"x0": 5, "x1": 5, "x2": 5, "y0": 2, "y1": 2, "y2": 2}


def test_a_pair_set_off_goes_to_the_oldest_due_date_first_then_by_id_and_undated_last() -> None:
    obligations = [
        Obligation("b-undated", "A", "B", 10),
        Obligation("c-late", "A", "B", 10, dt.date(2026, 3, 1)),
        Obligation("b-early", "A", "B", 10, dt.date(2026, 1, 1)),
        Obligation("a-early", "A", "B", 10, dt.date(2026, 1, 1)),
        Obligation("a-undated", "A", "B", 10),
        Obligation("back", "B", "A", 37),
    ]
    result = clear(obligations)
    assert setoffs_by_id(obligations, result) == {
        "a-early": 10,
        "b-early": 10,
        "c-late": 10,
        "a-undated": 7,
        "back": 37,
    }


def test_the_same_input_always_gives_the_same_set_off() -> None:
    obligations = list(generate(NetworkShape(firms=60, obligations=600), seed=3))
    assert clear(obligations) == clear(obligations)


# ---------------------------------------------------------------------------
# whole obligations only


@settings(max_examples=40, deadline=None)
@given(networks(amount_max=12, size_max=12))
def test_whole_obligations_mode_cancels_whole_obligations_and_reports_its_gap(obligations: list[Obligation]) -> None:
    divisible = clear(obligations)
    whole = clear_whole(obligations, solve_time_s_max=5)
    assert all(s in (0, o.amount_minor) for o, s in zip(obligations, whole.setoffs_minor))
    assert whole.is_whole
    assert whole.divisible_optimum_minor == divisible.cleared_minor
    assert whole.gap_minor == divisible.cleared_minor - whole.cleared_minor >= 0
    assert whole.cleared_minor <= whole.bound_minor
    assert check_setoffs(obligations, whole.setoffs_minor, is_whole=True, require_maximum=False) == []


def test_whole_obligations_mode_can_fall_short_of_the_divisible_optimum() -> None:
    obligations = [Obligation("1", "A", "B", 10), Obligation("2", "B", "A", 7)]
    whole = clear_whole(obligations)
    assert whole.cleared_minor == 0
    assert whole.gap_minor == 14
    assert whole.is_proven_optimal


def test_whole_obligations_mode_finds_whole_cycles() -> None:
    obligations = cycle("ABC", 5) + [Obligation("x", "A", "B", 3), Obligation("y", "B", "A", 3)]
    whole = clear_whole(obligations)
    assert whole.cleared_minor == 21
    assert whole.gap_minor == 0


# ---------------------------------------------------------------------------
# the independent checker


TRIANGLE_AND_PAIR = [
    Obligation("ab", "A", "B", 1),
    Obligation("ba", "B", "A", 1),
    Obligation("bc", "B", "C", 1),
    Obligation("ca", "C", "A", 1),
]


def test_the_checker_accepts_the_solvers_answer() -> None:
    result = clear(TRIANGLE_AND_PAIR)
    assert result.cleared_minor == 3
    assert check_setoffs(TRIANGLE_AND_PAIR, result.setoffs_minor) == []


def test_the_checker_refuses_a_maximal_but_not_maximum_set_off() -> None:
    # Setting off A<->B leaves no cycle, yet the triangle clears more: "no cycle remains" is not enough.
    findings = check_setoffs(TRIANGLE_AND_PAIR, [1, 1, 0, 0])
    assert [f.check for f in findings] == ["maximum"]


def test_the_checker_catches_a_changed_net_position_naming_each_participant() -> None:
    findings = check_setoffs(TRIANGLE_AND_PAIR, [1, 0, 0, 0])
    assert [(f.check, f.concerns) for f in findings] == [("net_position", "A"), ("net_position", "B")]
    assert findings[0].expected != findings[0].found


def test_the_checker_collects_every_bad_obligation_instead_of_stopping_at_the_first() -> None:
    findings = check_setoffs(TRIANGLE_AND_PAIR, [2, 0, -1, 0.5])  # type: ignore[list-item]
    assert [(f.check, f.concerns) for f in findings] == [("bounds", "ab"), ("bounds", "bc"), ("shape", "ca")]


def test_the_checker_refuses_a_partial_set_off_in_whole_obligations_mode() -> None:
    obligations = [Obligation("1", "A", "B", 2), Obligation("2", "B", "A", 1)]
    findings = check_setoffs(obligations, [1, 1], is_whole=True, require_maximum=False)
    assert [(f.check, f.concerns) for f in findings] == [("whole", "1")]


def test_the_checker_refuses_a_set_off_list_of_the_wrong_length() -> None:
    assert [f.check for f in check_setoffs(TRIANGLE_AND_PAIR, [0])] == ["shape"]


@settings(max_examples=60, deadline=None)
@given(networks(amount_max=30, size_max=12), st.data())
def test_the_checker_refuses_any_set_off_that_clears_less_than_the_maximum(
    obligations: list[Obligation], data: st.DataObject
) -> None:
    result = clear(obligations)
    if result.cleared_minor == 0:
        return
    # Shrink the optimal set-off along one of its cycles: still valid, no longer maximal.
    half = [s // 2 for s in result.setoffs_minor]
    is_valid = net_positions(obligations, half) == net_positions(obligations, [0] * len(obligations))
    findings = check_setoffs(obligations, half)
    if is_valid and sum(half) < result.cleared_minor:
        assert [f.check for f in findings] == ["maximum"]
    elif not is_valid:
        assert {f.check for f in findings} == {"net_position"}


def test_the_checker_verifies_a_generated_network() -> None:
    obligations = list(generate(NetworkShape(firms=300, obligations=3_000), seed=11))
    result = clear(obligations)
    assert result.cleared_minor > 0
    assert check_setoffs(obligations, result.setoffs_minor) == []
    assert abs(result.cleared_minor - lp_optimum(obligations)) < 0.5


# ---------------------------------------------------------------------------
# the generator


def test_the_generator_gives_the_same_network_for_the_same_seed() -> None:
    shape = NetworkShape(firms=50, obligations=500)
    assert generate(shape, seed=5) == generate(shape, seed=5)
    assert generate(shape, seed=5) != generate(shape, seed=6)


def test_generated_obligations_are_valid_and_heavy_tailed() -> None:
    shape = NetworkShape(firms=500, obligations=20_000)
    debtor, creditor, amount, _ = generate_arrays(shape, seed=2)
    assert not np.any(debtor == creditor)
    assert amount.min() >= 1 and amount.max() <= shape.amount_minor_max
    assert np.mean(amount) > 1.5 * np.median(amount)  # a long right tail
    busiest = np.sort(np.bincount(debtor, minlength=shape.firms))[::-1]
    assert busiest[: shape.firms // 10].sum() > 0.3 * len(debtor)  # a few large firms trade much


def test_the_reciprocal_share_controls_how_much_trade_flows_back() -> None:
    def reciprocal_pairs(share: float) -> int:
        debtor, creditor, _, _ = generate_arrays(
            NetworkShape(firms=2_000, obligations=5_000, reciprocal_share=share), seed=4
        )
        pairs = set(zip(debtor.tolist(), creditor.tolist()))
        return sum((c, d) in pairs for d, c in pairs)

    assert reciprocal_pairs(0.5) > 3 * reciprocal_pairs(0.0)


def test_generated_networks_round_trip_through_csv() -> None:
    obligations = generate(NetworkShape(firms=20, obligations=100), seed=1)
    out = io.StringIO()
    write_csv(obligations, out, decimals=2)
    loaded = read_obligations(io.StringIO(out.getvalue()))
    assert loaded.decimals == 2
    assert loaded.obligations == obligations


# ---------------------------------------------------------------------------
# the CSV reader


def read(text: str):  # noqa: ANN201
    return read_obligations(io.StringIO(text))


def test_the_files_scale_is_the_largest_number_of_decimals_used() -> None:
    loaded = read("id,debtor,creditor,amount,due\n1,A,B,12.5,2026-01-02\n2,B,A,3.125,\n\n3,B,A,7,\n\n")
    assert loaded.decimals == 3
    assert [o.amount_minor for o in loaded.obligations] == [12_500, 3_125, 7_000]
    assert loaded.obligations[0].due == dt.date(2026, 1, 2)
    assert loaded.obligations[1].due is None
    assert format_minor(12_500, 3) == "12.500"
    assert format_minor(7, 0) == "7"


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("1,A,B\n", 2, "fields"),
        ("1,A,B,5,x\n", 2, "fields"),
        ("1,A,B,5\n2,A,B,-5\n", 3, "negative"),
        ("1,A,B,0.00\n", 2, "zero"),
        ("1,A,B,abc\n", 2, "not a decimal"),
        ("1,A,B,1e5\n", 2, "not a decimal"),
        ("1,A,B,1.23456\n", 2, "decimals"),
        ("1,A,B,5\n2,C,C,5\n", 3, "same"),
        ("1,A,B,5\n2,A,B,5\n1,B,A,5\n", 4, "duplicate"),
        ("1,,B,5\n", 2, "required"),
        (",A,B,5\n", 2, "id is empty"),
        (f"1,A,B,{TOTAL_MINOR_MAX + 1}\n", 2, "limit"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number(body: str, line: int, words: str) -> None:
    with pytest.raises(InvalidObligationsFile, match=f"^line {line}: .*{words}") as caught:
        read("id,debtor,creditor,amount\n" + body)
    assert isinstance(caught.value, InvalidInput)


def test_a_bad_due_date_is_refused_with_its_line_number() -> None:
    with pytest.raises(InvalidObligationsFile, match="^line 3: due"):
        read("id,debtor,creditor,amount,due\n1,A,B,5,2026-01-01\n2,B,A,5,tomorrow\n")


@pytest.mark.parametrize("header", ["", "id,debtor,amount\n", "id,debtor,creditor,amount,colour\n"])
def test_a_bad_header_is_refused_on_line_1(header: str) -> None:
    with pytest.raises(InvalidObligationsFile, match="^line 1: "):
        read(header + "1,A,B,5\n")


def test_a_line_the_csv_module_cannot_read_is_refused_with_its_number() -> None:
    with pytest.raises(InvalidObligationsFile, match="^line 3: not readable as CSV"):
        read("id,debtor,creditor,amount\n1,A,B,5\n2,B," + "A" * 200_000 + ",5\n")  # over csv's field limit


def test_a_file_that_is_not_utf8_is_refused_not_crashed_on(tmp_path) -> None:  # noqa: ANN001
    from mutualcredit.clearing.cli import load_obligations_file

    path = tmp_path / "latin1.csv"
    path.write_bytes("id,debtor,creditor,amount\n1,Caf\u00e9,B,5\n".encode("latin-1"))
    with pytest.raises(InvalidObligationsFile, match="^the file is not UTF-8 text"):
        load_obligations_file(path)


@given(st.lists(st.text(alphabet="0123456789.,-+e x٣²", max_size=6), max_size=8))
def test_the_bulk_amount_check_agrees_with_the_line_by_line_pattern(texts: list[str]) -> None:
    from mutualcredit.clearing.csv_input import _AMOUNT, _are_decimal_numbers

    assert _are_decimal_numbers(texts) == all(_AMOUNT.fullmatch(text) is not None for text in texts)
