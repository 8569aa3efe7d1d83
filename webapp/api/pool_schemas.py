"""Marshmallow schemas of the pools API: they validate requests and write the OpenAPI document.

A pool's quantities travel as decimal strings in the pool's own unit
(``"12.50"`` kg, with at most the pool's decimals), and slot counts as
whole-number strings (``"2"``); JSON numbers are refused, as for amounts.
The schema checks the shape; the pool's decimals are checked against the
pool when the request names it (422 with the field). Prices and charges are
in the region's unit, like every amount.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate

from mutualcredit.pools import service
from solver.allocation.model import Rule
from webapp.api.schemas import DecimalString, UtcDateTime

_QUANTITY = re.compile(r"^[0-9]{1,19}(\.[0-9]{1,8})?$")
_SHARE = re.compile(r"^(0(\.[0-9]{1,8})?|1(\.0{1,8})?|[0-9]{1,6}/[0-9]{1,6})$")
_WEIGHT = re.compile(r"^([0-9]{1,4}(\.[0-9]{1,8})?|[0-9]{1,6}/[0-9]{1,6})$")


class Quantity(DecimalString):
    """A quantity of a pool's resource as a decimal string (slots: a whole number), e.g. ``"12.50"`` or ``"2"``.

    Kept as the string: its decimals are checked against the pool's once the view knows the pool.
    """

    pattern = _QUANTITY
    noun = "quantity"
    description = "A decimal string in the pool's unit with at most the pool's decimals (slots: a whole number)"
    mismatch = 'Not a quantity like "12.50" or "2".'

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return self._text(value)


class PolicySchema(Schema):
    rule = fields.String(load_default=Rule.LEXIMIN.value, validate=validate.OneOf([rule.value for rule in Rule]),
                         metadata={"description": "proportional, equal-awards, equal-losses or leximin (on the share of need met)"})
    member_cap_share = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(_SHARE),
                                     metadata={"description": 'Most a member gets of a round, as a share: "0.25" or "1/4"'})
    weights = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                          values=fields.String(validate=validate.Regexp(_WEIGHT)), load_default=dict,
                          validate=validate.Length(max=1000),
                          metadata={"description": 'Member slug -> weight as a decimal or fraction string ("1.5", "2/3")'})
    time_limit_s = fields.Integer(load_default=60, validate=validate.Range(min=1, max=service.TIME_LIMIT_S_MAX))
    stage_time_limit_s = fields.Integer(load_default=20, validate=validate.Range(min=1, max=service.TIME_LIMIT_S_MAX))
    review_window_hours = fields.Integer(load_default=72, validate=validate.Range(min=0, max=service.REVIEW_WINDOW_HOURS_MAX))


class PoolCreateSchema(PolicySchema):
    slug = fields.String(required=True, validate=validate.Regexp(service.SLUG_PATTERN.pattern + "$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=service.NAME_LENGTH_MAX))
    description = fields.String(load_default="", validate=validate.Length(max=service.TEXT_LENGTH_MAX))
    kind = fields.String(required=True, validate=validate.OneOf(["divisible", "slots"]))
    unit = fields.String(required=True, validate=validate.Length(min=1, max=service.UNIT_LENGTH_MAX))
    decimals = fields.Integer(load_default=0, validate=validate.Range(min=0, max=service.DECIMALS_MAX))
    price = fields.String(load_default="0", validate=validate.Regexp(r"^[0-9]{1,16}(\.[0-9]{1,8})?$"),
                          metadata={"description": "Credit per whole unit, in the region's unit (\"0\": a gift pool)"})


class PoolSchema(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "divisible or slots"})
    unit = fields.String(required=True, metadata={"description": "What one unit of the resource is called"})
    decimals = fields.Integer(required=True)
    price = fields.String(required=True, metadata={"description": "Credit per whole unit (\"0.00\": a gift pool)"})
    currency = fields.String(required=True, metadata={"description": "The region's unit code, for price and balance"})
    account = fields.String(required=True)
    balance = fields.String(required=True)
    rule = fields.String(required=True)
    member_cap_share = fields.String(allow_none=True)
    weights = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    time_limit_s = fields.Integer(required=True)
    review_window_hours = fields.Integer(required=True)
    status = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class RoundCreateSchema(Schema):
    title = fields.String(load_default="", validate=validate.Length(max=service.NAME_LENGTH_MAX))
    needs_close_at = UtcDateTime(load_default=None, allow_none=True,
                                 metadata={"description": "When needs stop being taken (RFC 3339); none: when closed"})


class RoundSchema(Schema):
    reference = fields.String(required=True, metadata={"description": '"<pool>-<number>", e.g. "seed-bank-3"'})
    pool = fields.String(required=True)
    number = fields.Integer(required=True)
    title = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "open, closed, solved, review, committed or archived"})
    unit = fields.String(required=True)
    rule = fields.String(required=True, metadata={"description": "The policy recorded with the round"})
    member_cap_share = fields.String(allow_none=True)
    weights = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    price = fields.String(required=True)
    currency = fields.String(required=True)
    review_window_hours = fields.Integer(required=True)
    needs_close_at = UtcDateTime(allow_none=True)
    review_ends_at = UtcDateTime(allow_none=True)
    contributed = fields.String(required=True)
    needs = fields.Integer(required=True)
    current_run = fields.Integer(allow_none=True, metadata={"description": "The number of the run whose result is shown"})
    created_at = UtcDateTime(required=True)
    committed_at = UtcDateTime(allow_none=True)


class SlotSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=service.SLOT_ID_LENGTH_MAX))
    capacity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=service.SLOT_CAPACITY_MAX))
    zone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=service.ZONE_LENGTH_MAX))
    start = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=-(10**9), max=10**9))
    end = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=-(10**9), max=10**9))


class ContributionCreateSchema(Schema):
    member = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = Quantity(load_default=None, allow_none=True, metadata={"description": "A divisible pool: how much"})
    slots = fields.List(fields.Nested(SlotSchema), load_default=list,
                        validate=validate.Length(max=service.SLOTS_PER_CONTRIBUTION_MAX),
                        metadata={"description": "A slot pool: the items or time slots given"})
    paid = fields.Boolean(load_default=False, metadata={"description": "Paid in credit at commit for what is used"})
    note = fields.String(load_default="", validate=validate.Length(max=service.TEXT_LENGTH_MAX))


class ContributionSchema(Schema):
    id = fields.Integer(required=True)
    member = fields.String(required=True)
    quantity = fields.String(required=True)
    slots = fields.List(fields.Nested(SlotSchema), required=True)
    paid = fields.Boolean(required=True)
    note = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class NeedWriteSchema(Schema):
    desired = Quantity(required=True)
    minimum = Quantity(load_default=None, allow_none=True, metadata={"description": "The essential minimum (default none)"})
    tier = fields.Integer(load_default=1, validate=validate.Range(min=1, max=service.TIER_MAX),
                          metadata={"description": "Priority tier: 1 is served first"})
    all_or_nothing = fields.Boolean(load_default=False)
    acceptable = fields.List(fields.String(validate=validate.Length(min=1, max=service.SLOT_ID_LENGTH_MAX)),
                             load_default=None, allow_none=True, validate=validate.Length(max=service.SLOTS_PER_CONTRIBUTION_MAX),
                             metadata={"description": "Slot pools: the slot ids it accepts (none: any)"})
    window = fields.List(fields.Integer(validate=validate.Range(min=-(10**9), max=10**9)), load_default=None,
                         allow_none=True, validate=validate.Length(equal=2),
                         metadata={"description": "Slot pools: [start, end), only slots inside it"})
    zone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=service.ZONE_LENGTH_MAX))
    justification = fields.String(load_default="", validate=validate.Length(max=service.TEXT_LENGTH_MAX))


class NeedSchema(Schema):
    id = fields.UUID(required=True)
    round = fields.String(required=True)
    member = fields.String(required=True)
    desired = fields.String(required=True)
    minimum = fields.String(required=True)
    unit = fields.String(required=True)
    tier = fields.Integer(required=True)
    all_or_nothing = fields.Boolean(required=True)
    acceptable = fields.List(fields.String(), allow_none=True)
    window = fields.List(fields.Integer(), allow_none=True)
    zone = fields.String(allow_none=True)
    justification = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class RunStartSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=service.TEXT_LENGTH_MAX))


class RunSchema(Schema):
    round = fields.String(required=True)
    number = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"description": "queued, running, done or failed"})
    status = fields.String(allow_none=True, metadata={"description": "optimal, feasible (see each stage's gap) or infeasible"})
    stages_done = fields.Integer(required=True)
    progress = fields.String(required=True, metadata={"description": "The last stage finished, in words"})
    error = fields.String(allow_none=True)
    reason = fields.String(required=True)
    started_by = fields.String(required=True)
    input_sha256 = fields.String(required=True, metadata={"description": "SHA-256 of the run's input (see /export)"})
    created_at = UtcDateTime(required=True)
    finished_at = UtcDateTime(allow_none=True)


class ResultLineSchema(Schema):
    need = fields.String(required=True)
    member = fields.String(required=True)
    declared = fields.String(required=True)
    minimum = fields.String(required=True)
    allocated = fields.String(required=True)
    share_met = fields.String(required=True, metadata={"description": "allocated / declared, 6 decimals, rounded down"})
    decided_by = fields.String(required=True, metadata={"description": "The rule stage or constraint that fixed it"})
    binding = fields.List(fields.String(), required=True, metadata={"description": "Constraints at their limit"})
    slots = fields.List(fields.String(), required=True)


class StageSchema(Schema):
    name = fields.String(required=True)
    status = fields.String(required=True)
    objective = fields.String(allow_none=True)
    bound = fields.String(allow_none=True)
    gap = fields.String(allow_none=True)
    solve_time_s = fields.Float(required=True)


class ResultSchema(Schema):
    round = fields.String(required=True)
    run = fields.Integer(required=True)
    status = fields.String(required=True)
    unit = fields.String(required=True)
    minimums_met = fields.Boolean(required=True)
    message = fields.String(required=True)
    worst_share = fields.String(allow_none=True)
    solve_time_s = fields.Float(required=True)
    stages = fields.List(fields.Nested(StageSchema), required=True)
    lines = fields.List(fields.Nested(ResultLineSchema), required=True)


class ObjectionCreateSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=service.TEXT_LENGTH_MAX))


class ObjectionSchema(Schema):
    id = fields.Integer(required=True)
    round = fields.String(required=True)
    run = fields.Integer(required=True)
    member = fields.String(required=True)
    reason = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class RoundListQuerySchema(Schema):
    state = fields.String(validate=validate.OneOf(["open", "closed", "solved", "review", "committed", "archived"]))
