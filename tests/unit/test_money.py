"""Amounts are integers in minor units, parsed and shown per locale."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutualcredit import errors
from mutualcredit.money import Unit, format_amount, format_plain, parse_amount, parse_signed_amount

RBC = Unit("RBC", "Ribera credit", "RC", 2)


@pytest.mark.parametrize(
    ("text", "decimals", "locale", "minor"),
    [
        ("12.34", 2, None, 1234),
        ("12", 2, None, 1200),
        ("0.01", 2, None, 1),
        ("1.234,50", 2, "es", 123450),
        ("1 234,50", 2, "fr", 123450),
        ("1,234.50", 2, "en", 123450),
        ("7", 0, None, 7),
        ("0.0001", 4, None, 1),
    ],
)
def test_amounts_are_parsed_into_minor_units(text: str, decimals: int, locale: str | None, minor: int) -> None:
    assert parse_amount(text, decimals, locale) == minor


@pytest.mark.parametrize("text", ["", "  ", "abc", "1.234", "0", "-1", "NaN", "Infinity", "1e30", "1,2,3.4.5"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(errors.InvalidAmount):
        parse_amount(text, 2)


def test_signed_amounts_allow_zero_and_negative_limits() -> None:
    assert parse_signed_amount("-500.00", 2) == -50000
    assert parse_signed_amount("0", 2) == 0
    with pytest.raises(errors.InvalidAmount):
        parse_signed_amount("-1.001", 2)


def test_amounts_are_formatted_per_locale() -> None:
    assert format_amount(-123450, RBC, "en") == "-1,234.50 RC"
    assert format_amount(123450, RBC, "es") == "1234,50 RC" or format_amount(123450, RBC, "es") == "1.234,50 RC"
    assert format_plain(-5, 2) == "-0.05"
    assert format_plain(7, 0) == "7"


@given(st.integers(min_value=1, max_value=10**15), st.integers(min_value=0, max_value=4))
def test_plain_formatting_round_trips_through_parsing(minor: int, decimals: int) -> None:
    assert parse_amount(format_plain(minor, decimals), decimals) == minor
