"""Typed errors of webhooks, under the project's one root (``MutualCreditError``)."""

from __future__ import annotations

from mutualcredit.errors import Conflict, InvalidInput, NotFound


class InvalidWebhookUrl(InvalidInput):
    """The URL is not an absolute http(s) URL with a host."""

    code = "invalid_webhook_url"


class UnknownEventType(InvalidInput):
    """The event type is not one of those a subscription can receive."""

    code = "unknown_event_type"


class SubscriptionNotFound(NotFound):
    """No webhook subscription has that id (or the caller may not see it)."""

    code = "webhook_subscription_not_found"


class SubscriptionNotActive(Conflict):
    """The webhook subscription was deleted."""

    code = "webhook_subscription_not_active"


class SubscriptionLimitReached(Conflict):
    """A member (or the region) already has the most active subscriptions allowed."""

    code = "webhook_subscription_limit_reached"


class DeliveryNotFound(NotFound):
    """No delivery of this subscription has that id."""

    code = "webhook_delivery_not_found"


class DeliveryNotFailed(Conflict):
    """Only a failed delivery can be retried by hand."""

    code = "webhook_delivery_not_failed"
