"""The API's JSON shapes of ledger objects, and a per-process cache of account owners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.requests import PaymentRequestView
from mutualcredit.members.service import MemberView
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


def transfer_json(result: ledger.TransferResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "kind": result.kind,
        "state": result.state,
        "payer": result.payer,
        "payee": result.payee,
        "amount": plain(result.amount_minor),
        "unit": region_unit().code,
        "description": result.description,
        "metadata": dict(result.metadata),
        "pending_id": result.pending_id,
        "reverses_id": result.reverses_id,
        "expires_at": result.expires_at,
        "created_by": result.created_by,
        "created_at": result.created_at,
        "hash": result.hash,
    }


def request_json(view: PaymentRequestView) -> dict[str, Any]:
    return {
        "id": view.id,
        "payer": view.payer,
        "payee": view.payee,
        "amount": plain(view.amount_minor),
        "unit": region_unit().code,
        "description": view.description,
        "state": view.state,
        "expires_at": view.expires_at,
        "created_by": view.created_by,
        "created_at": view.created_at,
        "decided_by": view.decided_by,
        "decided_at": view.decided_at,
        "reason": view.reason,
        "transfer_id": view.transfer_id,
    }


def next_cursor(seqs: list[int], limit: int) -> str | None:
    """A cursor after the last row, if the page was full (there may be more)."""
    return encode_cursor(seqs[-1]) if len(seqs) == limit else None
