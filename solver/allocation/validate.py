"""Checks on an allocation problem before anything is solved.

``check_problem`` refuses the first bad value in input order (the order of a
problem file: the policy, then each resource and its slots, then each need
field by field), so the same bad input always gets the same error. Each
refusal is an ``InvalidProblem`` or, for a named maximum, a ``TooLarge``,
whose ``field`` is the value's path as the problem file spells it
(``needs[3].minimum``, ``resources[0].slots[2].end``, ``member_cap_share``).

What it guarantees to the allocators when it passes:

- ids are non-empty strings, unique among resources, among a resource's
  slots and among needs; every need names a known resource;
- quantities are integers (not booleans): a divisible quantity in
  [0, ``QUANTITY_MINOR_MAX``], 0 < desired, 0 <= minimum <= desired, and the
  desired quantities of one resource add up to at most
  ``QUANTITY_MINOR_MAX`` (so no sum an allocator forms overflows 64 bits);
- weights are exact (``int`` or ``Fraction``, never ``float``), positive,
  with numerator and denominator at most ``WEIGHT_PART_MAX``; tiers are >= 1;
- a member cap share is exact and in (0, 1];
- slots have capacity >= 1 and start < end (both or neither); a need's
  acceptable ids, window (start < end) and zone appear only on a slot
  resource, name only that resource's slots, and it desires no more slots
  than the resource has.
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction
from functools import partial
from itertools import chain
from operator import attrgetter

from solver._gc import garbage_collection_paused
from solver.allocation.errors import AllocationError, InvalidProblem, TooLarge
from solver.allocation.model import Need, Policy, Problem, Resource, Rule

NEEDS_MAX = 1_000_000
RESOURCES_MAX = 100_000
SLOTS_MAX = 100_000  # per resource
QUANTITY_MINOR_MAX = 2**62  # a quantity, a slot capacity, and the desired total of one resource
WEIGHT_PART_MAX = 10**40  # a weight's numerator and denominator (a 40-character decimal string)
TEXT_LENGTH_MAX = 200  # ids, members, zones
TIME_LIMIT_S_MAX = 24 * 3600.0


def check_problem(problem: Problem) -> None:
    """Refuse the first invalid value of ``problem`` (see the module docstring); return None when it is valid."""
    _check_policy(problem.policy)
    if len(problem.resources) > RESOURCES_MAX:
        raise TooLarge(f"resources: {len(problem.resources):,} resources; at most {RESOURCES_MAX:,}", field="resources")
    resources: dict[str, Resource] = {}
    slot_ids: dict[str, frozenset[str]] = {}
    for index, resource in enumerate(problem.resources):
        field = f"resources[{index}]"
        _check_resource(resource, field)
        if resource.id in resources:
            raise _invalid(f"{field}.id", f"duplicate resource id {resource.id!r}")
        resources[resource.id] = resource
        slot_ids[resource.id] = frozenset(slot.id for slot in resource.slots)
    if len(problem.needs) > NEEDS_MAX:
        raise TooLarge(f"needs: {len(problem.needs):,} needs; at most {NEEDS_MAX:,}", field="needs")
    with garbage_collection_paused():  # a million needs: lists of ids and sets, all acyclic
        if _needs_look_valid(problem.needs, resources, slot_ids):
            return
    _check_needs(problem.needs, resources, slot_ids)
    # _needs_look_valid is only ever stricter than _check_needs; a need it doubted may still pass.


def _needs_look_valid(
    needs: tuple[Need, ...], resources: dict[str, Resource], slot_ids: dict[str, frozenset[str]]
) -> bool:
    """True when every need passes, checked field by field over all needs at once (fast, no position).

    A million needs are checked with C-level ``map`` and ``min``/``max`` instead of a loop; when
    anything looks wrong, ``_check_needs`` finds the first failure in input order.
    """
    if not needs:
        return True
    try:
        return _fields_look_valid(needs, resources, slot_ids)
    except TypeError:  # an unhashable or unorderable value where a string or an integer belongs
        return False


def _fields_look_valid(
    needs: tuple[Need, ...], resources: dict[str, Resource], slot_ids: dict[str, frozenset[str]]
) -> bool:
    ids = list(map(_ID, needs))
    members = list(map(_MEMBER, needs))
    desireds = list(map(_DESIRED, needs))
    minimums = list(map(_MINIMUM, needs))
    tiers = list(map(_TIER, needs))
    weights = list(map(_WEIGHT, needs))
    if not (
        set(map(type, ids)) == {str}
        and set(map(type, members)) == {str}
        and 0 < min(map(len, ids)) <= max(map(len, ids)) <= TEXT_LENGTH_MAX
        and 0 < min(map(len, members)) <= max(map(len, members)) <= TEXT_LENGTH_MAX
        and len(set(ids)) == len(ids)
        and set(map(_RESOURCE, needs)) <= resources.keys()
        and set(map(type, desireds)) == {int}
        and set(map(type, minimums)) == {int}
        and set(map(type, tiers)) == {int}
        and set(map(type, weights)) <= {int, Fraction}
        and set(map(type, map(_ALL_OR_NOTHING, needs))) == {bool}
        and min(desireds) > 0
        and min(minimums) >= 0
        and all(map(operator.le, minimums, desireds))
        and min(tiers) >= 1
        and sum(desireds) <= QUANTITY_MINOR_MAX  # then every resource's total is within it too
    ):
        return False
    numerators = list(map(_NUMERATOR, weights))
    if not (min(numerators) > 0 and max(numerators) <= WEIGHT_PART_MAX):
        return False
    if max(map(_DENOMINATOR, weights)) > WEIGHT_PART_MAX:
        return False
    # Needs on slot resources (usually few) get the full check; the others must not name slots.
    slot_resources = {resource_id for resource_id, resource in resources.items() if not resource.is_divisible}
    if not slot_resources:
        return not any(map(_IS_NOT_NONE, chain(map(_ACCEPTABLE, needs), map(_WINDOW, needs), map(_ZONE, needs))))
    for need in needs:
        if need.resource in slot_resources:
            try:
                _check_need(need, "needs[?]", resources, slot_ids)
            except AllocationError:
                return False
        elif need.acceptable is not None or need.window is not None or need.zone is not None:
            return False
    return True


def _check_needs(needs: tuple[Need, ...], resources: dict[str, Resource], slot_ids: dict[str, frozenset[str]]) -> None:
    """Refuse the first invalid need, in input order, field by field."""
    seen: set[str] = set()
    desired_totals: dict[str, int] = dict.fromkeys(resources, 0)
    for index, need in enumerate(needs):
        field = f"needs[{index}]"
        _check_text(need.id, f"{field}.id")
        if need.id in seen:
            raise _invalid(f"{field}.id", f"duplicate need id {need.id!r}")
        seen.add(need.id)
        _check_need(need, field, resources, slot_ids)
        desired_totals[need.resource] += need.desired_minor
        if desired_totals[need.resource] > QUANTITY_MINOR_MAX:
            raise TooLarge(
                f"{field}.desired: the needs on {need.resource!r} desire more than {QUANTITY_MINOR_MAX} in total",
                field=f"{field}.desired",
            )


_ID = attrgetter("id")
_MEMBER = attrgetter("member")
_RESOURCE = attrgetter("resource")
_DESIRED = attrgetter("desired_minor")
_MINIMUM = attrgetter("minimum_minor")
_TIER = attrgetter("tier")
_WEIGHT = attrgetter("weight")
_ALL_OR_NOTHING = attrgetter("all_or_nothing")
_ACCEPTABLE = attrgetter("acceptable")
_WINDOW = attrgetter("window")
_ZONE = attrgetter("zone")
_NUMERATOR = attrgetter("numerator")
_DENOMINATOR = attrgetter("denominator")
_IS_NOT_NONE = partial(operator.is_not, None)


def _invalid(field: str, message: str) -> InvalidProblem:
    return InvalidProblem(f"{field}: {message}", field=field)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_text(value: object, field: str) -> None:
    if not isinstance(value, str) or not value:
        raise _invalid(field, "must be a non-empty string")
    if len(value) > TEXT_LENGTH_MAX:
        raise TooLarge(f"{field}: longer than {TEXT_LENGTH_MAX} characters", field=field)


def _check_quantity(value: object, field: str) -> int:
    if not _is_integer(value):
        raise _invalid(field, f"must be an integer number of minor units, found {type(value).__name__}")
    assert isinstance(value, int)
    if value < 0:
        raise _invalid(field, f"{value} is negative")
    if value > QUANTITY_MINOR_MAX:
        raise TooLarge(f"{field}: {value} is more than {QUANTITY_MINOR_MAX}", field=field)
    return value


def _check_exact(value: object, field: str) -> Fraction:
    if not (_is_integer(value) or isinstance(value, Fraction)):
        raise _invalid(field, f"must be exact (an int or a Fraction), found {type(value).__name__}")
    assert isinstance(value, (int, Fraction))
    return Fraction(value)


def _check_policy(policy: Policy) -> None:
    if not isinstance(policy.rule, Rule):
        raise _invalid("rule", f"unknown rule {policy.rule!r}")
    if policy.member_cap_share is not None:
        share = _check_exact(policy.member_cap_share, "member_cap_share")
        if not 0 < share <= 1:
            raise _invalid("member_cap_share", f"{share} is not in (0, 1]")
    for name in ("time_limit_s", "stage_time_limit_s"):
        seconds = getattr(policy, name)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise _invalid(name, "must be a finite number of seconds")
        if not 0 < seconds <= TIME_LIMIT_S_MAX:
            raise _invalid(name, f"{seconds} is not in (0, {TIME_LIMIT_S_MAX:g}]")


def _check_resource(resource: Resource, field: str) -> None:
    _check_text(resource.id, f"{field}.id")
    if resource.is_divisible:
        _check_quantity(resource.quantity_minor, f"{field}.quantity")
        return
    if len(resource.slots) > SLOTS_MAX:
        raise TooLarge(f"{field}.slots: {len(resource.slots):,} slots; at most {SLOTS_MAX:,}", field=f"{field}.slots")
    seen: set[str] = set()
    for index, slot in enumerate(resource.slots):
        slot_field = f"{field}.slots[{index}]"
        _check_text(slot.id, f"{slot_field}.id")
        if slot.id in seen:
            raise _invalid(f"{slot_field}.id", f"duplicate slot id {slot.id!r}")
        seen.add(slot.id)
        capacity = _check_quantity(slot.capacity, f"{slot_field}.capacity")
        if capacity < 1:
            raise _invalid(f"{slot_field}.capacity", f"{capacity} is less than 1")
        if slot.zone is not None:
            _check_text(slot.zone, f"{slot_field}.zone")
        if (slot.start is None) != (slot.end is None):
            raise _invalid(f"{slot_field}.{'end' if slot.end is None else 'start'}", "start and end go together")
        if slot.start is not None:
            for name in ("start", "end"):
                if not _is_integer(getattr(slot, name)):
                    raise _invalid(f"{slot_field}.{name}", "must be an integer")
            assert slot.end is not None
            if slot.start >= slot.end:
                raise _invalid(f"{slot_field}.end", f"end {slot.end} is not after start {slot.start}")


def _check_need(need: Need, field: str, resources: dict[str, Resource], slot_ids: dict[str, frozenset[str]]) -> None:
    _check_text(need.member, f"{field}.member")
    if not isinstance(need.resource, str) or need.resource not in resources:
        raise _invalid(f"{field}.resource", f"no resource has id {need.resource!r}")
    resource = resources[need.resource]
    desired = _check_quantity(need.desired_minor, f"{field}.desired")
    if desired == 0:
        raise _invalid(f"{field}.desired", "must be more than 0")
    if not resource.is_divisible and desired > len(resource.slots):
        raise _invalid(f"{field}.desired", f"{desired} slots desired; {need.resource!r} has only {len(resource.slots)}")
    minimum = _check_quantity(need.minimum_minor, f"{field}.minimum")
    if minimum > desired:
        raise _invalid(f"{field}.minimum", f"{minimum} is more than the desired {desired}")
    if not _is_integer(need.tier) or need.tier < 1:
        raise _invalid(f"{field}.tier", f"{need.tier!r} is not an integer >= 1")
    weight = _check_exact(need.weight, f"{field}.weight")
    if weight <= 0:
        raise _invalid(f"{field}.weight", f"{weight} is not positive")
    if weight.numerator > WEIGHT_PART_MAX or weight.denominator > WEIGHT_PART_MAX:
        raise TooLarge(f"{field}.weight: numerator or denominator above {WEIGHT_PART_MAX}", field=f"{field}.weight")
    if not isinstance(need.all_or_nothing, bool):
        raise _invalid(f"{field}.all_or_nothing", "must be true or false")
    for name in ("acceptable", "window", "zone"):
        if getattr(need, name) is not None and resource.is_divisible:
            raise _invalid(
                f"{field}.{name}", f"applies only to a resource made of slots; {need.resource!r} is divisible"
            )
    if need.acceptable is not None:
        if not isinstance(need.acceptable, (frozenset, set)):
            raise _invalid(f"{field}.acceptable", "must be a set of slot ids")
        unknown = sorted(str(slot_id) for slot_id in need.acceptable - slot_ids[need.resource])
        if unknown:
            raise _invalid(f"{field}.acceptable", f"{need.resource!r} has no slot {unknown[0]!r}")
    if need.window is not None:
        window = need.window
        if not (isinstance(window, tuple) and len(window) == 2 and all(_is_integer(bound) for bound in window)):
            raise _invalid(f"{field}.window", "must be (start, end), two integers")
        if window[0] >= window[1]:
            raise _invalid(f"{field}.window", f"end {window[1]} is not after start {window[0]}")
    if need.zone is not None:
        _check_text(need.zone, f"{field}.zone")
