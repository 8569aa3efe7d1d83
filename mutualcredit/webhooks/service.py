"""Subscribing to webhooks, and seeing what was delivered.

Every function runs in one database transaction on the session it is given.
``member_slug``, where a function takes it, is the viewer: a member sees
only its own subscriptions (another member's answer "not found", so their
ids leak nothing); None is a regional viewer, who sees all.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import utc_now
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.tokens.models import ApiToken
from mutualcredit.tokens.service import TokenView
from mutualcredit.webhooks.errors import (
    DeliveryNotFailed,
    DeliveryNotFound,
    InvalidWebhookUrl,
    SubscriptionLimitReached,
    SubscriptionNotActive,
    SubscriptionNotFound,
    UnknownEventType,
)
from mutualcredit.webhooks.payloads import rfc3339
from mutualcredit.webhooks.models import (
    EVENT_TYPES,
    URL_LENGTH_MAX,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

SECRET_PREFIX = "whsec_"
DESCRIPTION_LENGTH_MAX = 200
# Per member, and for the region as a whole: enough for any scheme, and a
# bound on how many deliveries one event can fan out to.
SUBSCRIPTIONS_PER_OWNER_MAX = 20
DELIVERY_PAGE_SIZE_MAX = 500
DELETED_ERROR = "the subscription was deleted"


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A subscription as its owner sees it, never its secret."""

    id: uuid.UUID
    member_slug: str | None  # None: a regional subscription, which sees every event
    url: str
    events: tuple[str, ...]
    description: str
    is_active: bool
    created_by: str
    created_at: dt.datetime
    deactivated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One HTTP attempt of a delivery."""

    number: int
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One event on its way to one subscription, with its attempt log."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    state: str
    attempt_count: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    attempts: tuple[AttemptView, ...]


# ---------------------------------------------------------------------------
# Who may manage which subscriptions (API tokens)


def viewer_for_token(token: TokenView) -> str | None:
    """The member whose webhooks a token manages, or None for every webhook.

    A member's token needs ``accounts:read`` (the events only tell what the
    member could read anyway); a regional token needs ``admin``, since a
    regional subscription receives every member's events.
    """
    if token.member_slug is not None:
        if not token.allows("accounts:read"):
            raise errors.NotAllowed("this token lacks the accounts:read scope")
        return token.member_slug
    if "admin" not in token.scopes:
        raise errors.NotAllowed("webhooks for the whole region take the admin scope")
    return None


def member_to_subscribe(token: TokenView, requested_member: str | None) -> str | None:
    """Whose events a new subscription of this token receives (None: the whole region's)."""
    viewer = viewer_for_token(token)
    if viewer is None:
        return requested_member
    if requested_member not in (None, viewer):
        raise errors.NotAllowed("a member's token subscribes only for its own member")
    return viewer


# ---------------------------------------------------------------------------
# Checks on input (pure)


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, at most ``URL_LENGTH_MAX`` characters."""
    if not isinstance(url, str) or not url or len(url) > URL_LENGTH_MAX:
        raise InvalidWebhookUrl(f"a webhook URL is 1 to {URL_LENGTH_MAX} characters")
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise InvalidWebhookUrl("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise InvalidWebhookUrl(f"{url!r} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InvalidWebhookUrl("a webhook URL is an absolute http:// or https:// URL with a host")
    # The scheme in lower case, so the database's check (LIKE 'http%') agrees.
    return parts.scheme.lower() + url[len(parts.scheme):]


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    """Known event types, each once, in the documented order."""
    if isinstance(events, str) or not events:
        raise UnknownEventType(f"subscribe to at least one of: {', '.join(EVENT_TYPES)}")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise UnknownEventType(f"unknown event type {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return tuple(event_type for event_type in EVENT_TYPES if event_type in events)


# ---------------------------------------------------------------------------
# Subscriptions


def _view(subscription: WebhookSubscription, member_slug: str | None) -> SubscriptionView:
    return SubscriptionView(
        id=subscription.id,
        member_slug=member_slug,
        url=subscription.url,
        events=tuple(subscription.events),
        description=subscription.description,
        is_active=subscription.active,
        created_by=subscription.created_by,
        created_at=subscription.created_at,
        deactivated_at=subscription.deactivated_at,
    )


# Always read fresh rows: sessions keep objects across commits, and the
# worker changes deliveries from its own session.
_FRESH = {"populate_existing": True}
_WITH_SLUG = (
    select(WebhookSubscription, Member.slug)
    .outerjoin(Member, Member.id == WebhookSubscription.member_id)
    .execution_options(**_FRESH)
)


def subscribe(
    session: Session,
    *,
    url: str,
    events: Sequence[str],
    created_by: str,
    member_slug: str | None = None,
    description: str = "",
    token_public_id: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, SubscriptionView]:
    """Subscribe ``url`` to ``events`` of one member (or, with no member, of the whole region).

    Returns the signing secret, shown this once, and the subscription.
    """
    url = check_url(url)
    event_types = check_events(events)
    if len(description) > DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidInput(f"a description is at most {DESCRIPTION_LENGTH_MAX} characters")
    if not created_by:
        raise errors.InvalidInput("the actor (created_by) is required")
    now = now or utc_now()
    try:
        member_id = None
        if member_slug is not None:
            member = session.scalar(select(Member).where(Member.slug == member_slug))
            if member is None:
                raise errors.MemberNotFound(f"no member {member_slug!r}", member=member_slug)
            if member.status == MemberStatus.LEFT:
                raise errors.MemberNotActive(f"{member_slug} has left the region")
            member_id = member.id
        owner = (
            WebhookSubscription.member_id == member_id if member_id is not None else WebhookSubscription.member_id.is_(None)
        )
        active_count = session.scalar(
            select(func.count()).select_from(WebhookSubscription).where(owner, WebhookSubscription.active.is_(True))
        )
        if active_count >= SUBSCRIPTIONS_PER_OWNER_MAX:
            raise SubscriptionLimitReached(
                f"{member_slug or 'the region'} already has {active_count} active subscriptions "
                f"(at most {SUBSCRIPTIONS_PER_OWNER_MAX}); delete one first"
            )
        token_id = None
        if token_public_id is not None:
            token_id = session.scalar(select(ApiToken.id).where(ApiToken.public_id == token_public_id))
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        subscription = WebhookSubscription(
            id=uuid.uuid4(),
            member_id=member_id,
            url=url,
            events=list(event_types),
            description=description,
            secret=secret,
            active=True,
            created_by=created_by,
            created_at=now,
            created_by_token_id=token_id,
        )
        session.add(subscription)
        record_activity(
            session,
            actor=created_by,
            action="webhook.subscribe",
            subject=str(subscription.id),
            details={"member": member_slug, "url": url, "events": list(event_types)},
            at=now,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return secret, _view(subscription, member_slug)


def _visible(session: Session, subscription_id: uuid.UUID, member_slug: str | None) -> tuple[WebhookSubscription, str | None]:
    row = session.execute(_WITH_SLUG.where(WebhookSubscription.id == subscription_id)).first()
    if row is None or (member_slug is not None and row[1] != member_slug):
        raise SubscriptionNotFound(f"no webhook subscription {subscription_id}")
    return row[0], row[1]


def get_subscription(session: Session, subscription_id: uuid.UUID, *, member_slug: str | None = None) -> SubscriptionView:
    """One subscription the viewer may see."""
    try:
        return _view(*_visible(session, subscription_id, member_slug))
    finally:
        session.rollback()


def list_subscriptions(session: Session, *, member_slug: str | None = None) -> list[SubscriptionView]:
    """The viewer's subscriptions (all of them for a regional viewer), newest first, deleted ones included."""
    query = _WITH_SLUG.order_by(WebhookSubscription.created_at.desc(), WebhookSubscription.id)
    if member_slug is not None:
        query = query.where(Member.slug == member_slug)
    try:
        return [_view(subscription, slug) for subscription, slug in session.execute(query)]
    finally:
        session.rollback()


def deactivate_subscription(
    session: Session,
    subscription_id: uuid.UUID,
    *,
    actor: str,
    member_slug: str | None = None,
    now: dt.datetime | None = None,
) -> SubscriptionView:
    """Delete a subscription: it stops receiving events, and its undelivered ones fail.

    The row and its delivery log are kept, so what was sent stays visible.
    Deleting twice is harmless.
    """
    now = now or utc_now()
    try:
        subscription, slug = _visible(session, subscription_id, member_slug)
        if subscription.active:
            subscription.active = False
            subscription.deactivated_at = now
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.subscription_id == subscription_id,
                    WebhookDelivery.state == DeliveryState.PENDING,
                )
                .values(state=DeliveryState.FAILED, next_attempt_at=None, completed_at=now, last_error=DELETED_ERROR)
            )
            record_activity(session, actor=actor, action="webhook.delete", subject=str(subscription_id), at=now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _view(subscription, slug)


# ---------------------------------------------------------------------------
# Deliveries


def _delivery_views(session: Session, rows: Sequence[tuple[WebhookDelivery, str]]) -> list[DeliveryView]:
    ids = [delivery.id for delivery, _ in rows]
    attempts: dict[uuid.UUID, list[AttemptView]] = defaultdict(list)
    if ids:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
            .execution_options(**_FRESH)
        ):
            attempts[attempt.delivery_id].append(
                AttemptView(
                    number=attempt.number,
                    started_at=attempt.started_at,
                    duration_ms=attempt.duration_ms,
                    status_code=attempt.status_code,
                    error=attempt.error,
                )
            )
    return [
        DeliveryView(
            id=delivery.id,
            subscription_id=delivery.subscription_id,
            event_id=delivery.event_id,
            event_type=event_type,
            state=delivery.state,
            attempt_count=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            completed_at=delivery.completed_at,
            attempts=tuple(attempts[delivery.id]),
        )
        for delivery, event_type in rows
    ]


_DELIVERIES = (
    select(WebhookDelivery, WebhookEvent.type)
    .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
    .execution_options(**_FRESH)
)


def list_deliveries(
    session: Session,
    subscription_id: uuid.UUID,
    *,
    member_slug: str | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[DeliveryView]:
    """A subscription's deliveries, newest first, each with its attempts."""
    if not 1 <= limit <= DELIVERY_PAGE_SIZE_MAX:
        raise errors.InvalidInput(f"a page holds 1 to {DELIVERY_PAGE_SIZE_MAX} deliveries")
    if state is not None and state not in {s.value for s in DeliveryState}:
        raise errors.InvalidInput(f"unknown delivery state {state!r}")
    try:
        _visible(session, subscription_id, member_slug)
        query = (
            _DELIVERIES.where(WebhookDelivery.subscription_id == subscription_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
        )
        if state is not None:
            query = query.where(WebhookDelivery.state == state)
        return _delivery_views(session, list(session.execute(query).all()))
    finally:
        session.rollback()


def get_delivery(
    session: Session, subscription_id: uuid.UUID, delivery_id: uuid.UUID, *, member_slug: str | None = None
) -> DeliveryView:
    """One delivery of a subscription the viewer may see."""
    try:
        _visible(session, subscription_id, member_slug)
        row = session.execute(
            _DELIVERIES.where(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription_id)
        ).first()
        if row is None:
            raise DeliveryNotFound(f"no delivery {delivery_id} for subscription {subscription_id}")
        return _delivery_views(session, [row])[0]
    finally:
        session.rollback()


def retry_delivery(
    session: Session,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    actor: str,
    member_slug: str | None = None,
    now: dt.datetime | None = None,
) -> DeliveryView:
    """Send a failed delivery once more, as soon as a worker is free.

    One more attempt: should it fail too, the delivery is failed again (it
    has used its attempts), and can be retried again by hand.
    """
    now = now or utc_now()
    try:
        subscription, _ = _visible(session, subscription_id, member_slug)
        delivery = session.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription_id)
            .execution_options(**_FRESH)
        )
        if delivery is None:
            raise DeliveryNotFound(f"no delivery {delivery_id} for subscription {subscription_id}")
        if not subscription.active:
            raise SubscriptionNotActive(f"webhook subscription {subscription_id} was deleted")
        if delivery.state != DeliveryState.FAILED:
            raise DeliveryNotFailed(f"delivery {delivery_id} is {delivery.state}; only a failed one is retried")
        changed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == DeliveryState.FAILED)
            .values(state=DeliveryState.PENDING, next_attempt_at=now, completed_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            raise DeliveryNotFailed(f"delivery {delivery_id} changed meanwhile")
        record_activity(session, actor=actor, action="webhook.retry", subject=str(delivery_id), at=now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_delivery(session, subscription_id, delivery_id, member_slug=member_slug)


def delivery_data(view: DeliveryView) -> dict[str, Any]:
    """A delivery and its attempts as the API and the CLI show them."""
    return {
        "id": str(view.id),
        "event_id": str(view.event_id),
        "event_type": view.event_type,
        "state": view.state,
        "attempt_count": view.attempt_count,
        "next_attempt_at": rfc3339(view.next_attempt_at),
        "last_status_code": view.last_status_code,
        "last_error": view.last_error,
        "created_at": rfc3339(view.created_at),
        "completed_at": rfc3339(view.completed_at),
        "attempts": [
            {
                "number": attempt.number,
                "started_at": rfc3339(attempt.started_at),
                "duration_ms": attempt.duration_ms,
                "status_code": attempt.status_code,
                "error": attempt.error,
            }
            for attempt in view.attempts
        ],
    }
