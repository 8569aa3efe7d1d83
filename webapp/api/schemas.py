"""Marshmallow schemas of the API: they validate requests and write the OpenAPI document.

Amounts travel as decimal strings in the region's unit (``"12.50"``), never
as JSON numbers; the ``Amount`` field parses them exactly with the unit's
number of decimals. Timestamps are RFC 3339 in UTC, ids are UUIDs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate

from mutualcredit.ledger.service import BATCH_SIZE_MAX, DESCRIPTION_LENGTH_MAX
from mutualcredit.errors import InvalidAmount
from mutualcredit.money import AMOUNT_MINOR_MAX, format_plain, to_minor
from mutualcredit.region.service import get_region
from mutualcredit.webhooks.payloads import rfc3339
from webapp.db import db_session

_PLAIN_DECIMAL = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,8})?$")


@dataclass(frozen=True, slots=True)
class UnitOfAccount:
    code: str
    decimals: int


def region_unit() -> UnitOfAccount:
    """The region's unit (it never changes once set), read once per process."""
    cached: UnitOfAccount | None = current_app.extensions.get("mutualcredit.unit")
    if cached is None:
        region = get_region(db_session())
        cached = UnitOfAccount(region.unit_code, region.decimals)
        current_app.extensions["mutualcredit.unit"] = cached
    return cached


def plain(amount_minor: int | None) -> str | None:
    """An amount in minor units as the API's decimal string."""
    return None if amount_minor is None else format_plain(amount_minor, region_unit().decimals)


class DecimalString(fields.String):
    """A number sent as a decimal string (never a JSON number, which a float could carry), matching ``pattern``."""

    pattern: re.Pattern[str]
    noun: str
    description: str
    mismatch: str

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {
            "description": self.description,
            "example": "12.50",
            "pattern": self.pattern.pattern,
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def _text(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f'Send the {self.noun} as a decimal string, e.g. "12.50", not a number.')
        if not self.pattern.match(value):
            raise ValidationError(self.mismatch)
        return value


class Amount(DecimalString):
    """A positive amount as a decimal string, e.g. ``"12.50"``; deserialised to minor units."""

    pattern = _PLAIN_DECIMAL
    noun = "amount"
    description = 'A decimal string in the region\'s unit, at most the unit\'s decimals, e.g. "12.50"'
    mismatch = 'Not a decimal amount like "12.50".'

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = self._text(value)
        decimals = region_unit().decimals
        try:
            amount_minor = to_minor(Decimal(text), decimals)
        except InvalidAmount:
            raise ValidationError(f"At most {decimals} decimal places.") from None
        if amount_minor <= 0:
            raise ValidationError("Must be greater than zero.")
        if amount_minor > AMOUNT_MINOR_MAX:
            raise ValidationError("Too large.")
        return amount_minor


class UtcDateTime(fields.AwareDateTime):
    """An RFC 3339 timestamp with an offset, read and written in UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", default_timezone=None, **kwargs)

    def _serialize(self, value: dt.datetime | str | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value  # already RFC 3339 (built by mutualcredit.webhooks.payloads)
        return rfc3339(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        return parsed.astimezone(dt.timezone.utc)


def Description(**kwargs: Any) -> fields.String:  # noqa: N802 - a field factory reads like a field class
    return fields.String(load_default="", validate=validate.Length(max=DESCRIPTION_LENGTH_MAX), **kwargs)


AccountCode = fields.String  # validated by the ledger (unknown codes are 404)


# --- cursors ---------------------------------------------------------------


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


class Cursor(fields.String):
    """An opaque page cursor, as given in ``next_cursor``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            prefix, _, number = decoded.partition(":")
            if prefix != "seq" or not number.isdigit():
                raise ValueError
            return int(number)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValidationError("Not a cursor this API gave out.") from None


class PageQuerySchema(Schema):
    cursor = Cursor(metadata={"description": "The next_cursor of the previous page"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


# --- resources -------------------------------------------------------------


class UnitSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    symbol = fields.String(required=True)
    decimals = fields.Integer(required=True)


class RegionSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    unit = fields.Nested(UnitSchema, required=True)
    default_locale = fields.String(required=True)
    time_zone = fields.String(required=True)


class MemberSchema(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    trade = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "active, suspended or left"})
    joined_at = UtcDateTime(required=True)
    left_at = UtcDateTime(allow_none=True)
    accounts = fields.List(fields.String(), required=True, metadata={"description": "Codes of the member's accounts"})


class AccountSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "member, pool, peer_clearing or commons"})
    status = fields.String(required=True, metadata={"description": "open, frozen or closed"})
    member = fields.String(allow_none=True)
    unit = fields.String(required=True, metadata={"description": "The region's unit code"})
    balance = fields.String(required=True, metadata={"description": "Decimal string, e.g. \"-12.50\""})
    available = fields.String(allow_none=True, metadata={"description": "What the account can still pay, counting holds; null: unbounded"})
    floor = fields.String(allow_none=True, metadata={"description": "Lowest balance allowed (the credit limit); null: none"})
    ceiling = fields.String(allow_none=True, metadata={"description": "Highest balance allowed; null: none"})
    debits_pending = fields.String(required=True)
    credits_pending = fields.String(required=True)


class AccountCreateSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9._:-]{0,99}$"), metadata={"example": "tallerverde:scheme"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(load_default="member", validate=validate.OneOf(["member", "pool", "commons"]))
    member = fields.String(allow_none=True, load_default=None, metadata={"description": "The owning member's slug (member accounts)"})
    floor = fields.String(allow_none=True, load_default=None, metadata={"description": "Zero or negative decimal string; null: no floor (system accounts only)"})
    ceiling = fields.String(allow_none=True, load_default=None)


class TransferSchema(Schema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True, metadata={"description": "transfer, pending, post, void or expiry"})
    state = fields.String(required=True, metadata={"description": "posted, pending, voided or expired"})
    payer = fields.String(required=True, metadata={"description": "The paying account's code"})
    payee = fields.String(required=True)
    amount = fields.String(required=True, metadata={"description": "Decimal string in the region's unit"})
    unit = fields.String(required=True)
    description = fields.String(required=True)
    metadata = fields.Dict(required=True)
    pending_id = fields.UUID(allow_none=True, metadata={"description": "For post, void and expiry: the pending transfer resolved"})
    reverses_id = fields.UUID(allow_none=True)
    expires_at = UtcDateTime(allow_none=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    hash = fields.String(required=True, metadata={"description": "SHA-256 of the row and both accounts' previous heads"})


class TransferCreateSchema(Schema):
    id = fields.UUID(metadata={"description": "Client-chosen id; the same id with the same content returns the first result. Default: derived from Idempotency-Key, else random."})
    payer = fields.String(required=True, validate=validate.Length(min=1, max=100))
    payee = fields.String(required=True, validate=validate.Length(min=1, max=100))
    amount = Amount(required=True)
    description = Description()
    metadata = fields.Dict(load_default=dict, metadata={"description": "A JSON object of at most 4 kB"})
    pending = fields.Boolean(load_default=False, metadata={"description": "Reserve the amount only (two-phase); post or void it later"})
    expires_at = UtcDateTime(allow_none=True, load_default=None, metadata={"description": "Pending only: when an unresolved hold is released"})


class PostPendingSchema(Schema):
    id = fields.UUID(metadata={"description": "Id of the resolution; default derived from the pending transfer's id"})
    amount = Amount(metadata={"description": "Post less than held (the rest is released); default: all of it"})


class VoidPendingSchema(Schema):
    id = fields.UUID()


class ReverseSchema(Schema):
    id = fields.UUID(metadata={"description": "Id of the reversing transfer; default derived from the Idempotency-Key, else random"})
    description = fields.String(validate=validate.Length(max=DESCRIPTION_LENGTH_MAX))


class TransferListQuerySchema(PageQuerySchema):
    account = fields.String(metadata={"description": "Only transfers touching this account"})
    counterparty = fields.String(metadata={"description": "Only transfers whose other side is this account"})
    state = fields.String(validate=validate.OneOf(["posted", "pending", "voided", "expired"]))
    kind = fields.String(validate=validate.OneOf(["transfer", "pending", "post", "void", "expiry"]))
    since = UtcDateTime(metadata={"description": "Created at or after"})
    until = UtcDateTime(metadata={"description": "Created before"})
    order = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]))


class TransferPageSchema(Schema):
    items = fields.List(fields.Nested(TransferSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True, metadata={"description": "Pass as cursor for the next page; null on the last page"})


class BatchCreateSchema(Schema):
    transfers = fields.List(
        fields.Nested(TransferCreateSchema), required=True, validate=validate.Length(min=1, max=BATCH_SIZE_MAX)
    )
    atomic = fields.Boolean(load_default=False, metadata={"description": "true: all or nothing; false: a result per item"})


class BatchErrorSchema(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    detail = fields.String(required=True)


class BatchItemSchema(Schema):
    index = fields.Integer(required=True)
    id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"description": "created, replayed or failed"})
    transfer = fields.Nested(TransferSchema, allow_none=True)
    error = fields.Nested(BatchErrorSchema, allow_none=True)


class BatchResultSchema(Schema):
    applied = fields.Integer(required=True, metadata={"description": "How many items created or replayed a transfer"})
    failed = fields.Integer(required=True)
    items = fields.List(fields.Nested(BatchItemSchema), required=True)


class PaymentRequestSchema(Schema):
    id = fields.UUID(required=True)
    payer = fields.String(required=True)
    payee = fields.String(required=True)
    amount = fields.String(required=True)
    unit = fields.String(required=True)
    description = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "open, accepted, rejected, cancelled or expired"})
    expires_at = UtcDateTime(allow_none=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    decided_by = fields.String(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    reason = fields.String(required=True)
    transfer_id = fields.UUID(allow_none=True)


class PaymentRequestCreateSchema(Schema):
    id = fields.UUID()
    payee = fields.String(required=True, metadata={"description": "Your account, to be paid"})
    payer = fields.String(required=True, metadata={"description": "The account asked to pay"})
    amount = Amount(required=True)
    description = Description()
    expires_at = UtcDateTime(allow_none=True, load_default=None)


class PaymentRequestDecisionSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=DESCRIPTION_LENGTH_MAX))


class PaymentRequestListQuerySchema(Schema):
    account = fields.String()
    state = fields.String(validate=validate.OneOf(["open", "accepted", "rejected", "cancelled", "expired"]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class StatementQuerySchema(PageQuerySchema):
    counterparty = fields.String()
    since = UtcDateTime()
    until = UtcDateTime()


class StatementLineSchema(Schema):
    transfer_id = fields.UUID(required=True)
    kind = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    counterparty = fields.String(required=True)
    description = fields.String(required=True)
    amount = fields.String(required=True, metadata={"description": "Signed: negative when the account paid"})
    balance_after = fields.String(required=True)
    pending_id = fields.UUID(allow_none=True)
    reverses_id = fields.UUID(allow_none=True)


class StatementSchema(Schema):
    account = fields.String(required=True)
    unit = fields.String(required=True)
    lines = fields.List(fields.Nested(StatementLineSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class InvoiceSchema(Schema):
    id = fields.UUID(required=True)
    number = fields.String(required=True, metadata={"description": "The creditor's own invoice number"})
    creditor = fields.String(required=True, metadata={"description": "The member that is owed"})
    debtor = fields.String(required=True)
    amount = fields.String(required=True)
    outstanding = fields.String(required=True, metadata={"description": "What set-offs and a settlement left"})
    unit = fields.String(required=True)
    due = fields.Date(required=True)
    description = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "recorded, confirmed, disputed or settled"})
    dispute_reason = fields.String(required=True)
    settlement_transfer_id = fields.UUID(allow_none=True)
    created_at = UtcDateTime(required=True)


class InvoiceCreateSchema(Schema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=100))
    debtor = fields.String(required=True, metadata={"description": "The member that owes (a member slug)"})
    amount = Amount(required=True)
    due = fields.Date(required=True)
    description = fields.String(load_default="", validate=validate.Length(max=500))


class InvoiceListQuerySchema(Schema):
    side = fields.String(validate=validate.OneOf(["creditor", "debtor"]))
    state = fields.String(validate=validate.OneOf(["recorded", "confirmed", "disputed", "settled"]))


class DisputeSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ClearingRunCreateSchema(Schema):
    reference = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "Default: today's date; the same reference answers the recorded run"})


class CycleSchema(Schema):
    position = fields.Integer(required=True)
    members = fields.List(fields.String(), required=True, metadata={"description": "Each owed the next; the last owed the first"})
    amount = fields.String(required=True)


class RunMemberSchema(Schema):
    member = fields.String(required=True)
    owed_before = fields.String(required=True)
    owing_before = fields.String(required=True)
    owed_after = fields.String(required=True)
    owing_after = fields.String(required=True)


class ClearingRunSchema(Schema):
    id = fields.UUID(required=True)
    reference = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    invoices = fields.Integer(required=True)
    participants = fields.Integer(required=True)
    unit = fields.String(required=True)
    td = fields.String(required=True, metadata={"description": "Total debt of the confirmed invoices cleared"})
    nid = fields.String(required=True, metadata={"description": "Net internal debt: the sum of positive net positions"})
    cleared = fields.String(required=True)
    remainder = fields.String(required=True)
    bound = fields.String(required=True, metadata={"description": "TD - NID: no set-off can clear more"})
    cycles = fields.List(fields.Nested(CycleSchema), required=True)
    members = fields.List(fields.Nested(RunMemberSchema), required=True)


class NoticeLineSchema(Schema):
    invoice_id = fields.UUID(required=True)
    number = fields.String(required=True)
    side = fields.String(required=True, metadata={"description": "owed (you are the creditor) or owing"})
    counterparty = fields.String(required=True)
    due = fields.Date(required=True)
    amount = fields.String(required=True)
    outstanding_before = fields.String(required=True)
    set_off = fields.String(required=True)
    outstanding_after = fields.String(required=True)
    settled = fields.String(required=True, metadata={"description": "wholly or partly"})
    cycles = fields.List(fields.Integer(), required=True)


class NoticeSchema(Schema):
    run = fields.String(required=True)
    member = fields.String(required=True)
    unit = fields.String(required=True)
    lines = fields.List(fields.Nested(NoticeLineSchema), required=True)


class NoticeQuerySchema(Schema):
    member = fields.String(metadata={"description": "Regional tokens: whose notice (member tokens always get their own)"})
