"""The allocation problem as a JSON file, and the result as a JSON object.

A member can check a round on their own machine: ``mutualcredit pools solve
FILE.json`` reads this format, with no database; ``pools export`` writes it.
The README documents the format for users; this docstring is its reference.

The file is one JSON object (UTF-8). Amounts are **decimal strings**, never
JSON numbers, so no float ever touches a quantity::

    {
      "decimals": 2,                       # minor units per major unit: 10**decimals (0..DECIMALS_MAX)
      "rule": "leximin",                   # proportional | equal-awards | equal-losses | leximin
      "member_cap_share": "0.25",          # optional: a member gets at most this share of each resource
      "time_limit_s": 60,                  # optional: CP-SAT's wall-clock limit for the whole solve
      "stage_time_limit_s": 20,            # optional: CP-SAT's limit per optimisation stage
      "resources": [
        {"id": "seed", "quantity": "250.00"},                        # divisible
        {"id": "vans", "slots": [                                    # made of items or time slots
          {"id": "van1-mon", "capacity": 1, "zone": "north", "start": 0, "end": 1}
        ]}
      ],
      "needs": [
        {"id": "n1", "member": "coop-a", "resource": "seed", "desired": "40.00",
         "minimum": "10.00", "tier": 1, "weight": "1.5", "all_or_nothing": false},
        {"id": "n2", "member": "coop-b", "resource": "vans", "desired": 2,
         "acceptable": ["van1-mon"], "window": [0, 7], "zone": "north"}
      ]
    }

Fields, each checked for its type here (and for its meaning by
``solver.allocation.validate.check_problem``):

- ``decimals`` (required): an integer, 0..``DECIMALS_MAX``.
- ``rule`` (required): one of ``model.Rule``'s values.
- ``member_cap_share``: an exact number in (0, 1], as a decimal string
  (``"0.25"``), a fraction string (``"1/3"``) or the integer 1.
- ``time_limit_s``, ``stage_time_limit_s``: positive JSON numbers of seconds,
  at most ``TIME_LIMIT_S_MAX`` (defaults: ``model.Policy``'s).
- a resource: ``id`` and exactly one of ``quantity`` (a decimal string with
  at most ``decimals`` decimals) or ``slots`` (a non-empty list; each slot an
  ``id``, ``capacity`` (integer, default 1), optional ``zone`` (string),
  ``start`` and ``end`` (integers, both or neither)).
- a need: ``id``, ``member``, ``resource``, ``desired`` (required);
  ``minimum`` (default 0), ``tier`` (integer, default 1), ``weight``
  (an exact number like ``member_cap_share``, or an integer; default 1),
  ``all_or_nothing`` (true/false, default false), and on slot resources only
  ``acceptable`` (list of slot ids), ``window`` (``[start, end]``, integers)
  and ``zone`` (string). On a divisible resource ``desired`` and ``minimum``
  are decimal strings with at most ``decimals`` decimals; on a slot resource
  they are whole numbers of slots (a JSON integer or an integer string:
  ``2`` or ``"2"``) and ``decimals`` does not apply.

Ids, members and zones are non-empty strings of at most ``TEXT_LENGTH_MAX``
characters. Unknown fields, duplicate keys, floats and ``NaN`` are refused.
The first bad field, in file order, is refused with
``solver.allocation.errors.InvalidProblem`` (or ``TooLarge``) whose
``field`` is its JSON path, e.g. ``needs[3].desired``; a file that is not
JSON at all is refused with its line and column.

The result (``result_to_json``) is one JSON object: ``status``,
``allocations`` (need id -> amount as a decimal string in the file's units;
slot counts as integer strings), ``slots`` (need id -> slot ids, for needs on
slot resources), ``minimums_met``, ``worst_share``, ``message``, ``method``,
``solve_time_s``, ``stages`` (name, status, objective, bound, gap,
solve_time_s) and ``explanations`` (need id -> member, declared, minimum,
allocated, share_met, decided_by, binding). Shares, objectives, bounds and
gaps are exact fractions written as decimal strings rounded down to
``SHARE_DECIMALS`` decimals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

from solver.allocation.errors import InvalidProblem, TooLarge
from solver.allocation.model import (
    AllocationResult,
    Need,
    Policy,
    Problem,
    Resource,
    Rule,
    Slot,
)

# validate's named maxima, checked here too (before building big tuples) with the file's paths.
from solver.allocation.validate import (
    NEEDS_MAX,
    QUANTITY_MINOR_MAX,
    SLOTS_MAX,
    TEXT_LENGTH_MAX,
    TIME_LIMIT_S_MAX,
)

DECIMALS_MAX = 8
NUMBER_LENGTH_MAX = 40  # characters of a decimal string (amount, weight, share)
FILE_BYTES_MAX = 1 << 30  # a million needs take about 150 MB
SHARE_DECIMALS = 6

_POLICY_DEFAULT = Policy(rule=Rule.PROPORTIONAL)
_TOP_FIELDS = (
    "decimals", "rule", "member_cap_share", "time_limit_s", "stage_time_limit_s", "resources", "needs",
)
_RESOURCE_FIELDS = ("id", "quantity", "slots")
_SLOT_FIELDS = ("id", "capacity", "zone", "start", "end")
_NEED_FIELDS = (
    "id", "member", "resource", "desired", "minimum", "tier", "weight", "all_or_nothing",
    "acceptable", "window", "zone",
)
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_FRACTION = re.compile(r"([0-9]+)/([0-9]+)")
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class ProblemFile:
    """A problem read from a file, with the file's ``decimals`` (to write amounts back in its units)."""

    problem: Problem
    decimals: int


def _refuse(field: str, message: str) -> InvalidProblem:
    return InvalidProblem(f"{field}: {message}", field=field)


class _Keys(dict):  # type: ignore[type-arg]
    """A decoded JSON object that remembers its first duplicate key (refused once its path is known)."""

    duplicate: str | None = None


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Keys:
    value = _Keys()
    for key, item in pairs:
        if key in value and value.duplicate is None:
            value.duplicate = key
        value[key] = item
    return value


class _NotFinite:
    """``NaN`` or ``Infinity`` in the file: refused where it stands, with its path."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Float(Decimal):
    """A JSON number with a fraction or an exponent, kept exact: accepted only for time limits."""


def loads_problem(text: str) -> ProblemFile:
    """Parse the JSON text of a problem file (see the module docstring)."""
    try:
        document = json.loads(
            text, object_pairs_hook=_object_pairs, parse_float=_Float, parse_constant=_NotFinite
        )
    except json.JSONDecodeError as error:
        raise InvalidProblem(
            f"not JSON: {error.msg} at line {error.lineno}, column {error.colno}", field="", line=error.lineno,
            column=error.colno,
        ) from None
    except (ValueError, RecursionError) as error:  # an integer of thousands of digits, or absurd nesting
        raise InvalidProblem(f"not a valid problem file: {str(error).splitlines()[0]}", field="") from None
    return parse_problem(document)


def read_problem(path: Path) -> ProblemFile:
    """Read a problem file from disk (UTF-8, at most ``FILE_BYTES_MAX`` bytes)."""
    try:
        size_bytes = path.stat().st_size
        if size_bytes > FILE_BYTES_MAX:
            raise TooLarge(f"the file has {size_bytes:,} bytes; at most {FILE_BYTES_MAX:,} are read", field="")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidProblem(f"not UTF-8 text (byte {error.start})", field="") from None
    except OSError as error:
        raise InvalidProblem(f"cannot read {path}: {error.strerror or error}", field="") from None
    return loads_problem(text)


# ---------------------------------------------------------------------------
# parsing a decoded document


def _object(value: object, field: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        if not field:
            raise InvalidProblem(f"the file must hold one JSON object, found {_kind(value)}", field="")
        raise _refuse(field, f"expected an object, found {_kind(value)}")
    if isinstance(value, _Keys) and value.duplicate is not None:
        raise _refuse(_join(field, value.duplicate), "duplicate key")
    for key in value:
        if key not in allowed:
            raise _refuse(_join(field, key), f"unknown field (expected one of: {', '.join(allowed)})")
    return value


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, (_Float, float)):
        return "a number with a fraction"
    if isinstance(value, _NotFinite):
        return value.text
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _required(container: dict[str, Any], key: str, field: str) -> Any:
    if key not in container:
        raise _refuse(_join(field, key), "required")
    return container[key]


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise _refuse(field, f"expected a string, found {_kind(value)}")
    if not value:
        raise _refuse(field, "must not be empty")
    if len(value) > TEXT_LENGTH_MAX:
        raise _refuse(field, f"longer than {TEXT_LENGTH_MAX} characters")
    return value


def _integer(value: object, field: str, *, allow_string: bool = False) -> int:
    if isinstance(value, str) and allow_string:
        if len(value) > NUMBER_LENGTH_MAX or not _INTEGER.fullmatch(value):
            raise _refuse(field, f"expected a whole number, found {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(field, f"expected an integer, found {_kind(value)}")
    if abs(value) > QUANTITY_MINOR_MAX:
        raise TooLarge(f"{field}: larger than {QUANTITY_MINOR_MAX}", field=field)
    return value


def _amount_minor(value: object, field: str, decimals: int) -> int:
    """A decimal string with at most ``decimals`` decimals, in minor units."""
    if not isinstance(value, str):
        raise _refuse(field, f"expected a decimal string such as \"12.50\", found {_kind(value)}")
    if len(value) > NUMBER_LENGTH_MAX:
        raise TooLarge(f"{field}: longer than {NUMBER_LENGTH_MAX} characters", field=field)
    match = _DECIMAL.fullmatch(value)
    if match is None:
        if value.startswith("-") and _DECIMAL.fullmatch(value[1:]):
            raise _refuse(field, f"{value!r} is negative")
        raise _refuse(field, f"{value!r} is not a decimal number")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > decimals:
        raise _refuse(field, f"{value!r} has more than {decimals} decimals")
    amount_minor = int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")
    if amount_minor > QUANTITY_MINOR_MAX:
        raise TooLarge(f"{field}: {value} is more than {QUANTITY_MINOR_MAX} minor units", field=field)
    return amount_minor


def _exact(value: object, field: str) -> Fraction:
    """An exact positive-or-zero number: an integer, a decimal string or a fraction string ``p/q``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > QUANTITY_MINOR_MAX:
            raise TooLarge(f"{field}: larger than {QUANTITY_MINOR_MAX}", field=field)
        return Fraction(value)
    if not isinstance(value, str):
        raise _refuse(field, f"expected a decimal string such as \"1.5\", found {_kind(value)}")
    if len(value) > NUMBER_LENGTH_MAX:
        raise TooLarge(f"{field}: longer than {NUMBER_LENGTH_MAX} characters", field=field)
    if _DECIMAL.fullmatch(value):
        return Fraction(value)
    match = _FRACTION.fullmatch(value)
    if match:
        if int(match.group(2)) == 0:
            raise _refuse(field, f"{value!r} divides by zero")
        return Fraction(int(match.group(1)), int(match.group(2)))
    if value.startswith("-"):
        raise _refuse(field, f"{value!r} is negative")
    raise _refuse(field, f"{value!r} is not a decimal number")


def _seconds(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, _Float)):
        raise _refuse(field, f"expected a number of seconds, found {_kind(value)}")
    if not 0 < value <= TIME_LIMIT_S_MAX:  # NaN (from json.loads without our hooks) fails this too
        raise _refuse(field, f"must be more than 0 and at most {TIME_LIMIT_S_MAX:g}")
    return float(value)


def _boolean(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise _refuse(field, f"expected true or false, found {_kind(value)}")
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _refuse(field, f"expected a list, found {_kind(value)}")
    return value


def parse_problem(document: object) -> ProblemFile:
    """Build the problem from a decoded JSON document, refusing the first bad field with its path."""
    top = _object(document, "", _TOP_FIELDS)
    decimals = _integer(_required(top, "decimals", ""), "decimals")
    if not 0 <= decimals <= DECIMALS_MAX:
        raise _refuse("decimals", f"must be between 0 and {DECIMALS_MAX}")
    rule_text = _required(top, "rule", "")
    if not isinstance(rule_text, str) or rule_text not in {rule.value for rule in Rule}:
        rules = ", ".join(rule.value for rule in Rule)
        if isinstance(rule_text, str):
            raise _refuse("rule", f"{rule_text!r} is not one of: {rules}")
        raise _refuse("rule", f"expected one of: {rules}; found {_kind(rule_text)}")
    cap_share = None
    if top.get("member_cap_share") is not None:
        cap_share = _exact(top["member_cap_share"], "member_cap_share")
        # Checked here too (not only by validate, which names it policy.member_cap_share): the file's path.
        if not 0 < cap_share <= 1:
            raise _refuse("member_cap_share", f"must be more than 0 and at most 1, found {top['member_cap_share']}")
    policy = Policy(
        rule=Rule(rule_text),
        member_cap_share=cap_share,
        time_limit_s=(
            _seconds(top["time_limit_s"], "time_limit_s") if "time_limit_s" in top else _POLICY_DEFAULT.time_limit_s
        ),
        stage_time_limit_s=(
            _seconds(top["stage_time_limit_s"], "stage_time_limit_s")
            if "stage_time_limit_s" in top
            else _POLICY_DEFAULT.stage_time_limit_s
        ),
    )
    resources_value = _list(_required(top, "resources", ""), "resources")
    resources = tuple(
        _parse_resource(value, f"resources[{index}]", decimals) for index, value in enumerate(resources_value)
    )
    is_slots = {resource.id: not resource.is_divisible for resource in resources}
    needs_value = _list(_required(top, "needs", ""), "needs")
    if len(needs_value) > NEEDS_MAX:
        raise TooLarge(f"needs: {len(needs_value):,} needs; at most {NEEDS_MAX:,}", field="needs")
    needs = tuple(
        _parse_need(value, f"needs[{index}]", decimals, is_slots) for index, value in enumerate(needs_value)
    )
    return ProblemFile(Problem(resources=resources, needs=needs, policy=policy), decimals)


def _parse_resource(value: object, field: str, decimals: int) -> Resource:
    resource = _object(value, field, _RESOURCE_FIELDS)
    resource_id = _text(_required(resource, "id", field), f"{field}.id")
    has_quantity, has_slots = "quantity" in resource, "slots" in resource
    if has_quantity == has_slots:
        raise _refuse(field, "needs exactly one of quantity (divisible) or slots (items or time slots)")
    if has_quantity:
        return Resource(id=resource_id, quantity_minor=_amount_minor(resource["quantity"], f"{field}.quantity", decimals))
    slots_value = _list(resource["slots"], f"{field}.slots")
    if not slots_value:
        raise _refuse(f"{field}.slots", "must not be empty (a divisible resource has a quantity instead)")
    if len(slots_value) > SLOTS_MAX:
        raise TooLarge(f"{field}.slots: {len(slots_value):,} slots; at most {SLOTS_MAX:,}", field=f"{field}.slots")
    return Resource(
        id=resource_id,
        slots=tuple(_parse_slot(slot, f"{field}.slots[{index}]") for index, slot in enumerate(slots_value)),
    )


def _parse_slot(value: object, field: str) -> Slot:
    slot = _object(value, field, _SLOT_FIELDS)
    slot_id = _text(_required(slot, "id", field), f"{field}.id")
    capacity = _integer(slot["capacity"], f"{field}.capacity") if "capacity" in slot else 1
    zone = _text(slot["zone"], f"{field}.zone") if slot.get("zone") is not None else None
    start = _integer(slot["start"], f"{field}.start") if slot.get("start") is not None else None
    end = _integer(slot["end"], f"{field}.end") if slot.get("end") is not None else None
    if (start is None) != (end is None):
        raise _refuse(f"{field}.{'end' if end is None else 'start'}", "start and end go together")
    return Slot(id=slot_id, capacity=capacity, zone=zone, start=start, end=end)


def _parse_need(value: object, field: str, decimals: int, is_slots: dict[str, bool]) -> Need:
    need = _object(value, field, _NEED_FIELDS)
    need_id = _text(_required(need, "id", field), f"{field}.id")
    member = _text(_required(need, "member", field), f"{field}.member")
    resource = _text(_required(need, "resource", field), f"{field}.resource")
    if resource not in is_slots:
        raise _refuse(f"{field}.resource", f"no resource has id {resource!r}")
    on_slots = is_slots[resource]
    quantity: Callable[[object, str], int]
    if on_slots:
        quantity = _slot_count
    else:
        def quantity(item: object, path: str) -> int:
            return _amount_minor(item, path, decimals)
    desired_minor = quantity(_required(need, "desired", field), f"{field}.desired")
    minimum_minor = quantity(need["minimum"], f"{field}.minimum") if "minimum" in need else 0
    tier = _integer(need["tier"], f"{field}.tier") if "tier" in need else 1
    weight = _exact(need["weight"], f"{field}.weight") if "weight" in need else Fraction(1)
    all_or_nothing = _boolean(need["all_or_nothing"], f"{field}.all_or_nothing") if "all_or_nothing" in need else False
    acceptable = window = zone = None
    for key in ("acceptable", "window", "zone"):
        if need.get(key) is not None and not on_slots:
            raise _refuse(f"{field}.{key}", f"applies only to a resource made of slots; {resource!r} is divisible")
    if need.get("acceptable") is not None:
        items = _list(need["acceptable"], f"{field}.acceptable")
        if len(items) > SLOTS_MAX:
            raise TooLarge(f"{field}.acceptable: more than {SLOTS_MAX:,} ids", field=f"{field}.acceptable")
        ids = [_text(item, f"{field}.acceptable[{index}]") for index, item in enumerate(items)]
        seen: set[str] = set()
        for index, slot_id in enumerate(ids):
            if slot_id in seen:
                raise _refuse(f"{field}.acceptable[{index}]", f"duplicate slot id {slot_id!r}")
            seen.add(slot_id)
        acceptable = frozenset(ids)
    if need.get("window") is not None:
        bounds = _list(need["window"], f"{field}.window")
        if len(bounds) != 2:
            raise _refuse(f"{field}.window", f"expected [start, end], found {len(bounds)} numbers")
        window = (_integer(bounds[0], f"{field}.window[0]"), _integer(bounds[1], f"{field}.window[1]"))
    if need.get("zone") is not None:
        zone = _text(need["zone"], f"{field}.zone")
    return Need(
        id=need_id,
        member=member,
        resource=resource,
        desired_minor=desired_minor,
        minimum_minor=minimum_minor,
        tier=tier,
        weight=weight,
        all_or_nothing=all_or_nothing,
        acceptable=acceptable,
        window=window,
        zone=zone,
    )


def _slot_count(value: object, field: str) -> int:
    """A whole number of slots: a JSON integer or an integer string."""
    if isinstance(value, str) and "." in value:
        raise _refuse(field, f"{value!r} is not a whole number of slots (decimals do not apply to slots)")
    count = _integer(value, field, allow_string=True)
    if count < 0:
        raise _refuse(field, f"{count} is negative")
    return count


# ---------------------------------------------------------------------------
# writing


def format_minor(amount_minor: int, decimals: int) -> str:
    """Minor units as a decimal string with exactly ``decimals`` decimals (``1250``, 2 -> ``"12.50"``)."""
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"


def format_fraction(value: Fraction, decimals: int = SHARE_DECIMALS) -> str:
    """An exact fraction as a decimal string, rounded down (towards minus infinity) to ``decimals`` decimals."""
    return format_minor(value.numerator * 10**decimals // value.denominator, decimals)


def _exact_text(value: Fraction) -> str | int:
    """An exact number as the file writes it: an integer, a decimal string when finite, else ``p/q``."""
    if value.denominator == 1:
        return value.numerator
    denominator, places = value.denominator, 0
    for factor in (2, 5):
        while denominator % factor == 0:
            denominator //= factor
    if denominator == 1:
        while (value * 10**places).denominator != 1:
            places += 1
        return format_minor(int(value * 10**places), places)
    return f"{value.numerator}/{value.denominator}"


def problem_to_json(problem: Problem, *, decimals: int) -> dict[str, Any]:
    """The problem as the JSON document ``parse_problem`` reads back to an equal problem."""
    policy = problem.policy
    document: dict[str, Any] = {"decimals": decimals, "rule": policy.rule.value}
    if policy.member_cap_share is not None:
        document["member_cap_share"] = _exact_text(policy.member_cap_share)
    if policy.time_limit_s != _POLICY_DEFAULT.time_limit_s:
        document["time_limit_s"] = policy.time_limit_s
    if policy.stage_time_limit_s != _POLICY_DEFAULT.stage_time_limit_s:
        document["stage_time_limit_s"] = policy.stage_time_limit_s
    is_slots: dict[str, bool] = {}
    resources = []
    for resource in problem.resources:
        is_slots[resource.id] = not resource.is_divisible
        if resource.is_divisible:
            resources.append({"id": resource.id, "quantity": format_minor(resource.quantity_minor, decimals)})
            continue
        slots = []
        for slot in resource.slots:
            item: dict[str, Any] = {"id": slot.id, "capacity": slot.capacity}
            if slot.zone is not None:
                item["zone"] = slot.zone
            if slot.start is not None:
                item["start"] = slot.start
            if slot.end is not None:
                item["end"] = slot.end
            slots.append(item)
        resources.append({"id": resource.id, "slots": slots})
    document["resources"] = resources
    needs = []
    for need in problem.needs:
        on_slots = is_slots.get(need.resource, False)

        def quantity(value: int, on_slots: bool = on_slots) -> int | str:
            return value if on_slots else format_minor(value, decimals)

        item = {"id": need.id, "member": need.member, "resource": need.resource, "desired": quantity(need.desired_minor)}
        if need.minimum_minor:
            item["minimum"] = quantity(need.minimum_minor)
        if need.tier != 1:
            item["tier"] = need.tier
        if need.weight != 1:
            item["weight"] = _exact_text(need.weight)
        if need.all_or_nothing:
            item["all_or_nothing"] = True
        if need.acceptable is not None:
            item["acceptable"] = sorted(need.acceptable)
        if need.window is not None:
            item["window"] = list(need.window)
        if need.zone is not None:
            item["zone"] = need.zone
        needs.append(item)
    document["needs"] = needs
    return document


def write_problem(problem: Problem, out: TextIO | Path, *, decimals: int) -> None:
    """Write the problem as a JSON file ``read_problem`` reads back: one slot or need per line, for diffs."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8") as handle:
            write_problem(problem, handle, decimals=decimals)
        return

    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    document = problem_to_json(problem, decimals=decimals)
    resources, needs = document.pop("resources"), document.pop("needs")
    out.write(dumps(document)[:-1] + ',\n"resources": [')
    for index, resource in enumerate(resources):
        out.write(("," if index else "") + "\n  ")
        if "slots" not in resource:
            out.write(dumps(resource))
            continue
        out.write(f'{{"id": {dumps(resource["id"])}, "slots": [\n')
        out.write(",\n".join("    " + dumps(slot) for slot in resource["slots"]))
        out.write("\n  ]}")
    out.write('\n],\n"needs": [')
    for index, need in enumerate(needs):
        out.write(("," if index else "") + "\n  " + dumps(need))
    out.write("\n]}\n")


def result_to_json(result: AllocationResult, problem: Problem, *, decimals: int) -> dict[str, Any]:
    """The result as one JSON object, amounts in the file's units (see the module docstring)."""
    on_slots = {resource.id: not resource.is_divisible for resource in problem.resources}

    def quantity(allocation_resource: str, value: int) -> str:
        return str(value) if on_slots.get(allocation_resource, False) else format_minor(value, decimals)

    worst = result.worst_share
    return {
        "status": result.status.value,
        "allocations": {a.need_id: quantity(a.resource, a.allocated_minor) for a in result.allocations},
        "slots": {a.need_id: list(a.slots) for a in result.allocations if on_slots.get(a.resource, False)},
        "minimums_met": result.minimums_met,
        "worst_share": None if worst is None else format_fraction(worst),
        "message": result.message,
        "method": result.method,
        "solve_time_s": round(result.solve_time_s, 6),
        "stages": [
            {
                "name": stage.name,
                "status": stage.status.value,
                "objective": None if stage.objective is None else format_fraction(stage.objective),
                "bound": None if stage.bound is None else format_fraction(stage.bound),
                "gap": None if stage.gap is None else format_fraction(stage.gap),
                "solve_time_s": round(stage.solve_time_s, 6),
            }
            for stage in result.stages
        ],
        "explanations": {
            a.need_id: {
                "member": a.member,
                "resource": a.resource,
                "declared": quantity(a.resource, a.declared_minor),
                "minimum": quantity(a.resource, a.minimum_minor),
                "allocated": quantity(a.resource, a.allocated_minor),
                "share_met": format_fraction(a.share_met),
                "decided_by": a.decided_by,
                "binding": list(a.binding),
            }
            for a in result.allocations
        },
        "notes": list(result.notes),
    }
