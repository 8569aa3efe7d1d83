"""Read obligations from CSV: ``id,debtor,creditor,amount`` plus an optional ``due``.

Amounts are decimal strings with up to ``DECIMALS_MAX`` decimals; the
file's scale is the largest number of decimals any amount uses, and every
amount becomes an integer in those minor units (``12.50`` counts as two
decimals: written decimals, not significant ones). Every line is
checked, in this order, and the first bad line is refused with its number
(the header is line 1; blank lines are skipped): number of fields, empty
id, duplicate id, empty debtor or creditor, debtor equal to creditor,
amount (non-numeric, negative, zero, too many decimals), due date. Amounts
too large for the solver are refused with their line once the scale is
known. A fast path checks all lines in bulk; only when it finds a problem
does the line-by-line walk run, to name the first bad line.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable
from itertools import repeat
from dataclasses import dataclass

from mutualcredit.clearing.errors import InvalidObligationsFile
from solver._gc import garbage_collection_paused
from solver.clearing import TOTAL_MINOR_MAX, Obligation

DECIMALS_MAX = 4
REQUIRED_COLUMNS = ("id", "debtor", "creditor", "amount")
OPTIONAL_COLUMNS = ("due",)
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]*))?")
_DIGITS_AND_POINT = str.maketrans("", "", "0123456789.")


@dataclass(frozen=True, slots=True)
class ObligationsFile:
    """The obligations of one file, amounts in minor units at the file's scale."""

    obligations: tuple[Obligation, ...]
    decimals: int


def _refuse(line: int, message: str) -> InvalidObligationsFile:
    return InvalidObligationsFile(f"line {line}: {message}", line=line)


def _parse_amount(text: str, line: int) -> tuple[int, str]:
    match = _AMOUNT.fullmatch(text)
    if match is None:
        stripped = text.strip()
        if stripped.startswith("-") and _AMOUNT.fullmatch(stripped[1:]):
            raise _refuse(line, f"amount {text!r} is negative")
        raise _refuse(line, f"amount {text!r} is not a decimal number")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > DECIMALS_MAX:
        raise _refuse(line, f"amount {text!r} has more than {DECIMALS_MAX} decimals")
    if int(whole) == 0 and not fraction.strip("0"):
        raise _refuse(line, f"amount {text!r} is zero")
    return int(whole), fraction


def read_obligations(lines: Iterable[str]) -> ObligationsFile:
    """Parse the lines of an obligations CSV file (see the module docstring)."""
    with garbage_collection_paused():
        return _read_obligations(lines)


def _are_decimal_numbers(texts: list[str]) -> bool:
    """Whether every text matches ``_AMOUNT`` (ASCII digits, then optionally a point and digits), in bulk.

    Joined with commas and stripped of digits and points, the texts must
    leave exactly the commas: then no text holds any other character (a
    comma inside a text would add one). Each text must also be non-empty,
    start with a digit and hold at most one point. About ten times faster
    than one regular expression over the joined texts.
    """
    if not texts:
        return True
    joined = ",".join(texts)
    return (
        joined.translate(_DIGITS_AND_POINT) == "," * (len(texts) - 1)
        and "" not in texts
        and not joined.startswith(".")
        and ",." not in joined
        and max(map(str.count, texts, repeat("."))) <= 1
    )


def _read_obligations(lines: Iterable[str]) -> ObligationsFile:
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise _refuse(1, f"header not readable as CSV ({error})") from None
    except UnicodeDecodeError:
        raise InvalidObligationsFile("the file is not UTF-8 text") from None
    if header is None:
        raise _refuse(1, "the file is empty; expected a header id,debtor,creditor,amount[,due]")
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        raise _refuse(1, f"header must be id,debtor,creditor,amount with optional due; found {','.join(header)}")
    width = len(columns)
    at = tuple(columns.index(name) for name in REQUIRED_COLUMNS) + (columns.index("due") if "due" in columns else None,)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    try:
        for row in reader:
            if row:  # blank lines (a trailing one, say) carry nothing: skipped
                rows.append(row)
                line_numbers.append(reader.line_num)
    except csv.Error as error:  # a NUL byte, an unclosed quote, a field over the csv module's limit
        raise _refuse(reader.line_num, f"not readable as CSV ({error})") from None
    except UnicodeDecodeError:
        # Text is decoded in blocks ahead of the reader, so no line number would be exact.
        raise InvalidObligationsFile("the file is not UTF-8 text") from None
    loaded = _read_valid_rows(rows, width, at)
    if loaded is None:
        _refuse_first_bad_line(rows, line_numbers, width, at)
        raise AssertionError("no bad line found")  # pragma: no cover
    return loaded


def _read_valid_rows(rows: list[list[str]], width: int, at: tuple[int | None, ...]) -> ObligationsFile | None:
    """The fast path: check every line in bulk; None if any line is bad (then find it slowly)."""
    at_id, at_debtor, at_creditor, at_amount, at_due = at
    if rows and set(map(len, rows)) != {width}:
        return None
    ids = [row[at_id] for row in rows]
    debtors = [row[at_debtor] for row in rows]
    creditors = [row[at_creditor] for row in rows]
    texts = [row[at_amount] for row in rows]
    if "" in ids or "" in debtors or "" in creditors or len(set(ids)) != len(ids):
        return None
    if any(map(str.__eq__, debtors, creditors)):
        return None
    if not _are_decimal_numbers(texts):
        return None
    fraction_lengths = [len(text.partition(".")[2]) for text in texts]
    decimals = max(fraction_lengths, default=0)
    if decimals > DECIMALS_MAX:
        return None
    amounts = [int(text.replace(".", "") + "0" * (decimals - used)) for text, used in zip(texts, fraction_lengths)]
    if amounts and (min(amounts) == 0 or max(amounts) > TOTAL_MINOR_MAX):
        return None
    dues: list[dt.date | None] = [None] * len(rows)
    if at_due is not None:
        texts_due = [row[at_due] for row in rows]
        dates: dict[str, dt.date | None] = {"": None}
        try:
            for text in set(texts_due) - {""}:
                dates[text] = dt.date.fromisoformat(text)
        except ValueError:
            return None
        dues = [dates[text] for text in texts_due]
    obligations = tuple(map(Obligation, ids, debtors, creditors, amounts, dues))
    return ObligationsFile(obligations, decimals)


def _refuse_first_bad_line(
    rows: list[list[str]], line_numbers: list[int], width: int, at: tuple[int | None, ...]
) -> None:
    """The slow path: walk the lines in order and refuse the first bad one (see the module docstring)."""
    at_id, at_debtor, at_creditor, at_amount, at_due = at
    seen: set[str] = set()
    lengths: list[tuple[int, int]] = []  # (line, decimals used)
    for row, line in zip(rows, line_numbers):
        if len(row) != width:
            raise _refuse(line, f"expected {width} fields, found {len(row)}")
        obligation_id = row[at_id]
        if not obligation_id:
            raise _refuse(line, "id is empty")
        if obligation_id in seen:
            raise _refuse(line, f"duplicate id {obligation_id!r}")
        seen.add(obligation_id)
        debtor, creditor = row[at_debtor], row[at_creditor]
        if not debtor or not creditor:
            raise _refuse(line, "debtor and creditor are required")
        if debtor == creditor:
            raise _refuse(line, f"debtor and creditor are the same ({debtor!r})")
        _, fraction = _parse_amount(row[at_amount], line)
        lengths.append((line, len(fraction)))
        if at_due is not None and row[at_due]:
            try:
                dt.date.fromisoformat(row[at_due])
            except ValueError:
                raise _refuse(line, f"due {row[at_due]!r} is not a date (YYYY-MM-DD)") from None
    # Only the scale is left: an amount too large once every amount is scaled to it.
    decimals = max((used for _, used in lengths), default=0)
    for (line, used), row in zip(lengths, rows):
        whole, _, fraction = row[at_amount].partition(".")
        if int(whole + fraction + "0" * (decimals - used)) > TOTAL_MINOR_MAX:
            raise _refuse(line, f"amount exceeds the solver's limit of {TOTAL_MINOR_MAX} minor units")


def format_minor(amount_minor: int, decimals: int) -> str:
    """A decimal string in the file's units, e.g. ``12.50`` (exact, no float)."""
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"
