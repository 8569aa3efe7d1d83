"""The persistent shape of webhooks: subscriptions, the event outbox, deliveries and their attempts.

The database keeps the delivery rules honest on its own: an event type is
one of the known ones, a subscription's URL is http(s), a delivery exists
once per subscription and event, and a pending delivery always has a next
attempt time while a finished one always has a completion time.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, BigId, UTCDateTime, utc_now

URL_LENGTH_MAX = 2_000
SECRET_LENGTH_MAX = 100


class EventType(enum.StrEnum):
    """What a subscription can listen to."""

    TRANSFER_POSTED = "transfer.posted"
    TRANSFER_PENDING = "transfer.pending"
    REQUEST_CREATED = "request.created"
    REQUEST_ACCEPTED = "request.accepted"


EVENT_TYPES: tuple[str, ...] = tuple(event_type.value for event_type in EventType)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookSubscription(Base):
    """A URL that receives the listed events: a member's (its own transfers and requests) or the region's (all)."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        CheckConstraint("url LIKE 'http://%' OR url LIKE 'https://%'", name="url_http"),
        CheckConstraint("active = (deactivated_at IS NULL)", name="active_until_deactivated"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH_MAX))
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(200), default="")
    # Kept in clear: the worker needs it to sign every delivery.
    secret: Mapped[str] = mapped_column(String(SECRET_LENGTH_MAX))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    created_by_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """The outbox: one event, written in the database transaction of the change it reports.

    ``payload`` is the exact JSON body receivers get. ``dispatched_at`` is set
    once the worker has made the event's deliveries.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        CheckConstraint(
            "type IN ('transfer.posted', 'transfer.pending', 'request.created', 'request.accepted')",
            name="type_known",
        ),
        # Only the events still to fan out are indexed.
        Index(
            "ix_webhook_events_undispatched",
            "seq",
            sqlite_where=text("dispatched_at IS NULL"),
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payer_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    payee_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event on its way to one subscription: its state and the outcome of its last attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        CheckConstraint("state IN ('pending', 'succeeded', 'failed')", name="state_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("(state = 'pending') = (next_attempt_at IS NOT NULL)", name="pending_has_next_attempt"),
        CheckConstraint("(state = 'pending') = (completed_at IS NULL)", name="done_has_completion"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_events.id"))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """The delivery log: one HTTP attempt, when, how long, and what came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("duration_ms >= 0", name="duration_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
