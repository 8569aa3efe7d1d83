"""The API's JSON shapes of ledger objects, and a per-process cache of account owners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, current_app

from mutualcredit.ledger import service as ledger
from mutualcredit.db import utc_now
from mutualcredit.ledger.requests import PaymentRequestView, state_as_of
from mutualcredit.members.service import MemberView
from mutualcredit.webhooks.payloads import EventRegion, request_data, rfc3339, transfer_data
from webapp.api.schemas import encode_cursor, plain, region_unit
from webapp.db import db_session


@dataclass(frozen=True, slots=True)
class AccountOwner:
    """An account's owner and kind: fixed when the account is opened, so safe to cache."""

    code: str
    member_slug: str | None
    kind: str


def account_owner(code: str) -> AccountOwner:
    """Who owns account ``code`` (404 ``account_not_found`` if none)."""
    cache: dict[str, AccountOwner] = current_app.extensions.setdefault("mutualcredit.account_owners", {})
    owner = cache.get(code)
    if owner is None:
        view = ledger.get_account(db_session(), code)
        owner = cache[code] = AccountOwner(view.code, view.member_slug, view.kind)
    return owner


def account_json(view: ledger.AccountView) -> dict[str, Any]:
    return {
        "code": view.code,
        "name": view.name,
        "kind": view.kind,
        "status": view.status,
        "member": view.member_slug,
        "unit": region_unit().code,
        "balance": plain(view.balance),
        "available": plain(view.available_minor),
        "floor": plain(view.floor),
        "ceiling": plain(view.ceiling),
        "debits_pending": plain(view.debits_pending),
        "credits_pending": plain(view.credits_pending),
    }


def member_json(view: MemberView) -> dict[str, Any]:
    return {
        "slug": view.slug,
        "name": view.name,
        "trade": view.trade,
        "status": view.status,
        "joined_at": view.joined_at,
        "left_at": view.left_at,
        "accounts": [account.code for account in view.accounts],
    }


def _payload_region() -> EventRegion:
    unit = region_unit()
    return EventRegion(slug="", unit_code=unit.code, decimals=unit.decimals)


def transfer_json(result: ledger.TransferResult) -> dict[str, Any]:
    """The same shape as a webhook's transfer, plus who recorded it and its hash."""
    return {**transfer_data(result, _payload_region()), "created_by": result.created_by, "hash": result.hash}


def request_json(view: PaymentRequestView) -> dict[str, Any]:
    """The same shape as a webhook's payment request, plus who made and decided it.

    An open request past its expiry reads as ``expired`` at once, as on the
    pages, before ``mutualcredit request expire`` records it.
    """
    return {
        **request_data(view, _payload_region()),
        "state": state_as_of(view, utc_now()),
        "created_by": view.created_by,
        "decided_by": view.decided_by,
        "decided_at": rfc3339(view.decided_at),
        "reason": view.reason,
    }


def shaped_json(document: dict[str, Any]) -> Response:
    """A JSON response built by this module's functions, already in its documented schema's shape.

    flask-smorest sends a returned ``Response`` as it is, so the view's
    response schema then only documents the answer. For a batch of 1,000
    transfers, dumping the finished document through marshmallow a second
    time cost as much CPU as the ledger's own work; a test checks that the
    schema's dump of such an answer leaves it unchanged.
    """
    return current_app.json.response(document)


def next_cursor(seqs: list[int], limit: int) -> str | None:
    """A cursor after the last row, if the page was full (there may be more)."""
    return encode_cursor(seqs[-1]) if len(seqs) == limit else None
