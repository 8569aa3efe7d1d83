"""Money and units of account: the one home for amounts.

Amounts are integers in the unit's minor units (a unit with 2 decimals
stores 12.34 as 1234). They are never floats. Text is parsed and formatted
through Babel, per locale, so that a Spanish treasurer may type ``1.234,50``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel import numbers as babel_numbers

from mutualcredit.errors import InvalidAmount

DECIMALS_MAX = 4
# The largest amount a single transfer may carry, in minor units. Balances
# are 64-bit in the database; keeping single amounts well below that leaves
# room for sums without overflow.
AMOUNT_MINOR_MAX = 10**15


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of account: ISO-like code, name, symbol and number of decimals."""

    code: str
    name: str
    symbol: str
    decimals: int

    def __post_init__(self) -> None:
        assert 0 <= self.decimals <= DECIMALS_MAX


def to_minor(value: Decimal, decimals: int) -> int:
    """Convert an exact decimal to minor units, refusing extra precision."""
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{value} has more than {decimals} decimal places")
    return int(scaled)


def to_decimal(amount_minor: int, decimals: int) -> Decimal:
    """The exact decimal value of an amount in minor units."""
    return Decimal(amount_minor).scaleb(-decimals)


def parse_amount(text: str, decimals: int, locale: str | None = None) -> int:
    """Parse a positive amount typed by a person (or a script) into minor units.

    With a locale, the locale's separators apply (``1.234,50`` in ``es``);
    without one, plain ``1234.50`` is expected.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidAmount("an amount is required")
    try:
        if locale:
            group = babel_numbers.get_group_symbol(locale)
            if group.isspace():
                # French groups with a narrow no-break space; people type a plain one.
                text = "".join(group if character.isspace() else character for character in text)
            value = babel_numbers.parse_decimal(text, locale=locale, strict=True)
        else:
            value = Decimal(text)
    except (babel_numbers.NumberFormatError, InvalidOperation, ValueError):
        raise InvalidAmount(f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise InvalidAmount(f"{text!r} is not an amount")
    amount_minor = to_minor(value, decimals)
    if amount_minor <= 0:
        raise InvalidAmount("the amount must be greater than zero")
    if amount_minor > AMOUNT_MINOR_MAX:
        raise InvalidAmount("the amount is too large")
    return amount_minor


def parse_signed_amount(text: str, decimals: int) -> int:
    """Parse a plain decimal that may be zero or negative (limits, balances)."""
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        raise InvalidAmount(f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise InvalidAmount(f"{text!r} is not an amount")
    amount_minor = to_minor(value, decimals)
    if abs(amount_minor) > AMOUNT_MINOR_MAX:
        raise InvalidAmount("the amount is too large")
    return amount_minor


def format_plain(amount_minor: int, decimals: int) -> str:
    """Machine-readable decimal string, e.g. ``-12.50`` (for CSV, JSON, Beancount)."""
    return f"{to_decimal(amount_minor, decimals):.{decimals}f}"


def format_amount(amount_minor: int, unit: Unit, locale: str = "en") -> str:
    """Human-readable amount with the unit's symbol, in the viewer's locale."""
    value = to_decimal(amount_minor, unit.decimals)
    pattern_decimals = "0" * unit.decimals
    number = babel_numbers.format_decimal(
        value,
        format="#,##0" + ("." + pattern_decimals if unit.decimals else ""),
        locale=locale,
    )
    return f"{number} {unit.symbol}"
