"""API resources: webhook subscriptions and their deliveries, behind bearer tokens.

A member's token (scope ``accounts:read``) manages its member's
subscriptions, which receive the events of that member's transfers and
requests. A regional token needs the ``admin`` scope; it sees every
subscription and may subscribe for the whole region or for any member.
Another member's subscription answers 404, so its id tells nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from mutualcredit.tokens.service import TokenView
from mutualcredit.webhooks import service
from mutualcredit.webhooks.models import EVENT_TYPES, URL_LENGTH_MAX
from mutualcredit.webhooks.payloads import rfc3339
from mutualcredit.webhooks.signing import SIGNATURE_HEADER
from mutualcredit.webhooks.worker import wake
from webapp.api.auth import BEARER, current_token, protect
from webapp.db import db_session

blueprint = protect(
    Blueprint(
        "webhooks",
        __name__,
        url_prefix="/api/v1/webhooks",
        description=(
            "Webhook subscriptions: signed POSTs of transfer and request events to your URL, "
            f"retried with exponential backoff. Verify the `{SIGNATURE_HEADER}` header (see the README)."
        ),
    )
)

_TIME = {"format": "date-time", "description": "RFC 3339, UTC"}


class WebhookCreateSchema(Schema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=URL_LENGTH_MAX),
        metadata={"description": "Where events are POSTed (http or https)"},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
        metadata={"description": f"Event types to receive: {', '.join(EVENT_TYPES)}"},
    )
    member = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Regional tokens only: the member whose events to receive; "
            "omit for every event of the region. A member's token always subscribes for its own member."
        },
    )
    description = fields.String(
        load_default="",
        validate=validate.Length(max=service.DESCRIPTION_LENGTH_MAX),
        metadata={"description": "What the subscription is for (for people reading the list)"},
    )


class WebhookSchema(Schema):
    id = fields.UUID(required=True, metadata={"description": "The subscription's id"})
    member = fields.String(allow_none=True, metadata={"description": "null: a regional subscription, which sees every event"})
    url = fields.String(required=True, metadata={"description": "Where events are POSTed"})
    events = fields.List(fields.String(), required=True, metadata={"description": "The event types it receives"})
    description = fields.String(required=True, metadata={"description": "What the subscriber said it is for"})
    active = fields.Boolean(required=True, metadata={"description": "false once deleted"})
    created_at = fields.String(required=True, metadata=_TIME)
    deactivated_at = fields.String(allow_none=True, metadata=_TIME)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(
        required=True,
        metadata={"description": "The signing secret (whsec_…), shown only in this response: keep it"},
    )


class WebhookAttemptSchema(Schema):
    number = fields.Integer(required=True, metadata={"description": "1 for the first attempt"})
    started_at = fields.String(required=True, metadata=_TIME)
    duration_ms = fields.Integer(required=True, metadata={"description": "How long the receiver took, in milliseconds"})
    status_code = fields.Integer(allow_none=True, metadata={"description": "null: no HTTP answer (see error)"})
    error = fields.String(allow_none=True, metadata={"description": "Why it failed: the status line, or the network error"})


class WebhookDeliverySchema(Schema):
    id = fields.UUID(required=True, metadata={"description": "Sent as the Mutualcredit-Delivery header"})
    event_id = fields.UUID(required=True, metadata={"description": "The `id` of the JSON body sent"})
    event_type = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "pending, succeeded or failed"})
    attempt_count = fields.Integer(required=True, metadata={"description": "Attempts started so far"})
    next_attempt_at = fields.String(allow_none=True, metadata={**_TIME, "description": "When it is tried next (null once done)"})
    last_status_code = fields.Integer(allow_none=True, metadata={"description": "The last answer's HTTP status (null: no answer)"})
    last_error = fields.String(allow_none=True, metadata={"description": "Why the last attempt failed"})
    created_at = fields.String(required=True, metadata=_TIME)
    completed_at = fields.String(allow_none=True, metadata=_TIME)
    attempts = fields.List(fields.Nested(WebhookAttemptSchema), required=True, metadata={"description": "The delivery log, oldest first"})


class WebhookDeliveriesQuerySchema(Schema):
    state = fields.String(
        validate=validate.OneOf(["pending", "succeeded", "failed"]), metadata={"description": "Only deliveries in this state"}
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=service.DELIVERY_PAGE_SIZE_MAX),
        metadata={"description": f"At most this many, newest first (1 to {service.DELIVERY_PAGE_SIZE_MAX})"},
    )


def _viewer() -> tuple[TokenView, str | None]:
    """The token, and the member it manages webhooks of (None: every webhook, for a regional admin)."""
    token = current_token()
    return token, service.viewer_for_token(token)


def _actor(token: TokenView) -> str:
    return f"token:{token.public_id}"


def _subscription(view: service.SubscriptionView) -> dict[str, Any]:
    return {
        "id": view.id,
        "member": view.member_slug,
        "url": view.url,
        "events": list(view.events),
        "description": view.description,
        "active": view.is_active,
        "created_at": rfc3339(view.created_at),
        "deactivated_at": rfc3339(view.deactivated_at),
    }


def _delivery(view: service.DeliveryView) -> dict[str, Any]:
    return service.delivery_data(view)


@blueprint.route("")
class WebhooksResource(MethodView):
    @blueprint.arguments(WebhookCreateSchema())
    @blueprint.response(201, WebhookCreatedSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Subscribe a URL to events; the response shows the signing secret, once."""
        token = current_token()
        secret, view = service.subscribe(
            db_session(),
            url=body["url"],
            events=body["events"],
            member_slug=service.member_to_subscribe(token, body["member"]),
            description=body["description"],
            created_by=_actor(token),
            token_public_id=token.public_id,
        )
        return {**_subscription(view), "secret": secret}

    @blueprint.response(200, WebhookSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self) -> list[dict[str, Any]]:
        """The token's member's subscriptions (all of them for a regional token), deleted ones included."""
        _, member_slug = _viewer()
        return [_subscription(view) for view in service.list_subscriptions(db_session(), member_slug=member_slug)]


@blueprint.route("/<uuid:subscription_id>")
class WebhookResource(MethodView):
    @blueprint.response(200, WebhookSchema)
    @blueprint.doc(security=BEARER)
    def get(self, subscription_id: uuid.UUID) -> dict[str, Any]:
        """One subscription (never its secret)."""
        _, member_slug = _viewer()
        return _subscription(service.get_subscription(db_session(), subscription_id, member_slug=member_slug))

    @blueprint.response(204)
    @blueprint.doc(security=BEARER)
    def delete(self, subscription_id: uuid.UUID) -> None:
        """Delete a subscription: no more events; its undelivered ones fail; its log stays readable."""
        token, member_slug = _viewer()
        service.deactivate_subscription(db_session(), subscription_id, actor=_actor(token), member_slug=member_slug)


@blueprint.route("/<uuid:subscription_id>/deliveries")
class DeliveriesResource(MethodView):
    @blueprint.arguments(WebhookDeliveriesQuerySchema(), location="query")
    @blueprint.response(200, WebhookDeliverySchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, query: dict[str, Any], subscription_id: uuid.UUID) -> list[dict[str, Any]]:
        """A subscription's deliveries, newest first: state, attempts, last answer, next attempt."""
        _, member_slug = _viewer()
        views = service.list_deliveries(
            db_session(), subscription_id, member_slug=member_slug, state=query.get("state"), limit=query["limit"]
        )
        return [_delivery(view) for view in views]


@blueprint.route("/<uuid:subscription_id>/deliveries/<uuid:delivery_id>/retry")
class DeliveryRetryResource(MethodView):
    @blueprint.response(202, WebhookDeliverySchema)
    @blueprint.doc(security=BEARER)
    def post(self, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> dict[str, Any]:
        """Send a failed delivery once more, as soon as a worker is free."""
        token, member_slug = _viewer()
        view = service.retry_delivery(
            db_session(), subscription_id, delivery_id, actor=_actor(token), member_slug=member_slug
        )
        wake()  # committed: this process's worker sends it now
        return _delivery(view)
