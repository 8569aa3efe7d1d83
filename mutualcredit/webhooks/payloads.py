"""What receivers get: the JSON bodies of webhook events, built in one place.

The API reuses these dicts to show the same transfer or request the same
way. Amounts are decimal strings in the region's unit, never floats; times
are RFC 3339 in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mutualcredit.money import format_plain


@dataclass(frozen=True, slots=True)
class EventRegion:
    """The region facts every payload carries: its id and its unit."""

    slug: str
    unit_code: str
    decimals: int


class TransferFacts(Protocol):
    """What a payload needs of a transfer (``ledger.service.TransferResult`` has it)."""

    id: uuid.UUID
    kind: str
    state: str
    payer: str
    payee: str
    amount_minor: int
    description: str
    metadata: Mapping[str, Any]
    pending_id: uuid.UUID | None
    reverses_id: uuid.UUID | None
    expires_at: dt.datetime | None
    created_at: dt.datetime


class RequestFacts(Protocol):
    """What a payload needs of a payment request (``PaymentRequestView`` has it)."""

    id: uuid.UUID
    state: str
    payer: str
    payee: str
    amount_minor: int
    description: str
    expires_at: dt.datetime | None
    created_at: dt.datetime
    transfer_id: uuid.UUID | None


def rfc3339(moment: dt.datetime | None) -> str | None:
    """``2026-05-01T09:30:00.123456Z``: UTC, with a ``Z``."""
    if moment is None:
        return None
    assert moment.tzinfo is not None
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def transfer_data(transfer: TransferFacts, region: EventRegion) -> dict[str, Any]:
    """A transfer as the API and webhooks show it."""
    return {
        "id": str(transfer.id),
        "kind": transfer.kind,
        "state": transfer.state,
        "payer": transfer.payer,
        "payee": transfer.payee,
        "amount": format_plain(transfer.amount_minor, region.decimals),
        "unit": region.unit_code,
        "description": transfer.description,
        "metadata": dict(transfer.metadata),
        "pending_id": _id(transfer.pending_id),
        "reverses_id": _id(transfer.reverses_id),
        "expires_at": rfc3339(transfer.expires_at),
        "created_at": rfc3339(transfer.created_at),
    }


def request_data(request: RequestFacts, region: EventRegion) -> dict[str, Any]:
    """A payment request as the API and webhooks show it."""
    return {
        "id": str(request.id),
        "state": request.state,
        "payer": request.payer,
        "payee": request.payee,
        "amount": format_plain(request.amount_minor, region.decimals),
        "unit": region.unit_code,
        "description": request.description,
        "expires_at": rfc3339(request.expires_at),
        "created_at": rfc3339(request.created_at),
        "transfer_id": _id(request.transfer_id),
    }


def event_payload(
    *, event_id: uuid.UUID, event_type: str, created_at: dt.datetime, region: EventRegion, data: dict[str, Any]
) -> dict[str, Any]:
    """The envelope every event shares."""
    return {
        "id": str(event_id),
        "type": event_type,
        "created_at": rfc3339(created_at),
        "region": region.slug,
        "data": data,
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
