"""The transactional outbox: events written in the database transaction of the change they report.

An event row exists if and only if the ledger change that caused it
committed, so the worker only ever sees committed facts and never announces
a transfer that was rolled back. Events are recorded only while at least
one subscription is active; that is decided inside the same database
transaction as the change (the ledger folds the check into the statement
that locks the accounts, see `EVENTS_REGION_COLUMN`), never from a
process-local cache, which could go stale and lose events.

A subscription created while a ledger transaction is already running may
miss that transaction's events: it receives the events of changes whose
transaction checked for subscriptions after it committed.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, insert, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from mutualcredit.ledger.models import Account
from mutualcredit.region.models import Region
from mutualcredit.webhooks.models import EventType, WebhookEvent, WebhookSubscription
from mutualcredit.webhooks.payloads import (
    EventRegion,
    RequestFacts,
    TransferFacts,
    event_payload,
    request_data,
    transfer_data,
)

_events = WebhookEvent.__table__
_subscriptions = WebhookSubscription.__table__
_region = Region.__table__

# The event a new transfer row announces, by its kind. Voids and expiries
# move nothing and release a hold; no subscription listens for them (yet).
TRANSFER_EVENT_BY_KIND: dict[str, EventType] = {
    "transfer": EventType.TRANSFER_POSTED,
    "post": EventType.TRANSFER_POSTED,
    "pending": EventType.TRANSFER_PENDING,
}

# "Is anyone listening?", as SQL: true while at least one subscription is active.
ANY_ACTIVE_SUBSCRIPTION = exists(select(1).select_from(_subscriptions).where(_subscriptions.c.active == true()))


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event ready to be inserted in the caller's database transaction."""

    id: uuid.UUID
    type: str
    payload: dict[str, Any]
    payer_member_id: int | None
    payee_member_id: int | None
    created_at: dt.datetime

    def as_params(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "payload": self.payload,
            "payer_member_id": self.payer_member_id,
            "payee_member_id": self.payee_member_id,
            "created_at": self.created_at,
        }


class _json_array(FunctionElement[Any]):
    """``json_array(…)`` on SQLite, ``json_build_array(…)`` on PostgreSQL."""

    name = "json_array"
    inherit_cache = True


@compiles(_json_array)
def _compile_json_array(element: _json_array, compiler: Any, **kw: Any) -> str:
    return f"json_array({compiler.process(element.clauses, **kw)})"


@compiles(_json_array, "postgresql")
def _compile_json_build_array(element: _json_array, compiler: Any, **kw: Any) -> str:
    return f"json_build_array({compiler.process(element.clauses, **kw)})"


# One more column for the query that locks the accounts, so that asking
# "is anyone listening?" costs no extra round trip: NULL while no
# subscription is active (no event is built), else the region's facts as a
# JSON array [slug, unit code, decimals]. An uncorrelated scalar subquery is
# evaluated once per statement, and (unlike a join) it leaves PostgreSQL's
# generic plan for the prepared locking query unchanged. `postgresql.py`
# writes the same column in SQL.
EVENTS_REGION_COLUMN = (
    select(_json_array(_region.c.slug, _region.c.unit_code, _region.c.decimals))
    .where(ANY_ACTIVE_SUBSCRIPTION)
    .scalar_subquery()
    .label("events_region")
)


def event_region(value: str | Sequence[Any] | None) -> EventRegion | None:
    """The region facts the locking query read (JSON text or an already parsed list), or None when no one listens."""
    if value is None:
        return None
    slug, unit_code, decimals = json.loads(value) if isinstance(value, str) else value
    return EventRegion(slug=slug, unit_code=unit_code, decimals=int(decimals))


def transfer_event(
    transfer: TransferFacts,
    region: EventRegion,
    *,
    payer_member_id: int | None,
    payee_member_id: int | None,
) -> EventRow | None:
    """The event a new transfer row announces (None for voids and expiries)."""
    event_type = TRANSFER_EVENT_BY_KIND.get(transfer.kind)
    if event_type is None:
        return None
    event_id = uuid.uuid4()
    return EventRow(
        id=event_id,
        type=event_type,
        payload=event_payload(
            event_id=event_id,
            event_type=event_type,
            created_at=transfer.created_at,
            region=region,
            data=transfer_data(transfer, region),
        ),
        payer_member_id=payer_member_id,
        payee_member_id=payee_member_id,
        created_at=transfer.created_at,
    )


def insert_events(conn: Connection, events: Sequence[EventRow]) -> None:
    """Insert events in the caller's database transaction (the portable path)."""
    if events:
        conn.execute(insert(_events), [event.as_params() for event in events])


# A hint, per thread, that events were just recorded: the web app wakes its
# delivery worker after a request that recorded some (and only then, so that
# writes made while no one listens cost the worker nothing). Correctness never
# depends on it: the worker also polls.
_recorded = threading.local()


def note_recorded() -> None:
    """Remember that this thread recorded events (call it wherever events are inserted)."""
    _recorded.flag = True


def take_recorded() -> bool:
    """Whether this thread recorded events since it last asked."""
    flag = bool(getattr(_recorded, "flag", False))
    _recorded.flag = False
    return flag


# ---------------------------------------------------------------------------
# Payment requests: not on the ledger's hot path, so one query decides.

_payer = aliased(Account.__table__, name="payer")
_payee = aliased(Account.__table__, name="payee")


def _request_context(conn: Connection, payer_account_id: int, payee_account_id: int) -> tuple[EventRegion, int | None, int | None] | None:
    row = conn.execute(
        select(_region.c.slug, _region.c.unit_code, _region.c.decimals, _payer.c.member_id, _payee.c.member_id)
        .select_from(_region)
        .join(_payer, _payer.c.id == payer_account_id)
        .join(_payee, _payee.c.id == payee_account_id)
        .where(ANY_ACTIVE_SUBSCRIPTION)
    ).first()
    if row is None:
        return None
    return EventRegion(slug=row[0], unit_code=row[1], decimals=row[2]), row[3], row[4]


def record_request_event(
    conn: Connection,
    event_type: EventType,
    request: RequestFacts,
    *,
    payer_account_id: int,
    payee_account_id: int,
    created_at: dt.datetime,
) -> EventRow | None:
    """Record a payment request's event in the caller's database transaction, if anyone listens."""
    assert event_type in (EventType.REQUEST_CREATED, EventType.REQUEST_ACCEPTED)
    context = _request_context(conn, payer_account_id, payee_account_id)
    if context is None:
        return None
    region, payer_member_id, payee_member_id = context
    event_id = uuid.uuid4()
    event = EventRow(
        id=event_id,
        type=event_type,
        payload=event_payload(
            event_id=event_id,
            event_type=event_type,
            created_at=created_at,
            region=region,
            data=request_data(request, region),
        ),
        payer_member_id=payer_member_id,
        payee_member_id=payee_member_id,
        created_at=created_at,
    )
    insert_events(conn, [event])
    note_recorded()
    return event

