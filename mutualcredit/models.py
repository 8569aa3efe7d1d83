"""Every model, imported in one place so the metadata is complete (Alembic, tests)."""

from mutualcredit.activity import ActivityEntry
from mutualcredit.db import Base
from mutualcredit.idempotency.models import IdempotencyKey
from mutualcredit.invoices.models import ClearingCycle, ClearingRun, Invoice, InvoiceSetoff
from mutualcredit.ledger.auto_accept import AutoAcceptRule
from mutualcredit.ledger.models import Account, Checkpoint, PaymentRequest, Transfer
from mutualcredit.ledger.recurring import RecurringPayment
from mutualcredit.members.models import Member
from mutualcredit.members.directory import MemberListing
from mutualcredit.pools.models import (
    Contribution,
    ContributionPayout,
    Objection,
    Pool,
    PoolAllocation,
    PoolNeed,
    PoolRun,
    Round,
)
from mutualcredit.region.models import Region
from mutualcredit.tokens.models import ApiToken
from mutualcredit.users.models import Invitation, Membership, RegionalRole, User
from mutualcredit.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription

__all__ = [
    "ActivityEntry",
    "Account",
    "ApiToken",
    "AutoAcceptRule",
    "Base",
    "Checkpoint",
    "ClearingCycle",
    "ClearingRun",
    "Contribution",
    "ContributionPayout",
    "IdempotencyKey",
    "Invitation",
    "Invoice",
    "InvoiceSetoff",
    "Member",
    "MemberListing",
    "Membership",
    "Objection",
    "PaymentRequest",
    "Pool",
    "PoolAllocation",
    "PoolNeed",
    "PoolRun",
    "RecurringPayment",
    "Region",
    "RegionalRole",
    "Round",
    "Transfer",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
