"""API resources: transfers (single, two-phase, batches, reversals) and their listing."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from mutualcredit import errors
from mutualcredit.ledger import service as ledger
from mutualcredit.tokens import access
from webapp.api import problem_type
from webapp.api.auth import BEARER, current_token, protect
from webapp.api.idempotency import idempotency_key, idempotent
from webapp.api.representations import account_owner, next_cursor, shaped_json, transfer_json
from webapp.api.schemas import (
    BatchCreateSchema,
    BatchResultSchema,
    PostPendingSchema,
    ReverseSchema,
    TransferCreateSchema,
    TransferListQuerySchema,
    TransferPageSchema,
    TransferSchema,
    VoidPendingSchema,
)
from webapp.db import db_session

blueprint = protect(Blueprint("transfers", __name__, url_prefix="/api/v1/transfers", description="Transfers between accounts"))

# Ids derived from (token, Idempotency-Key): a retry whose stored response was
# lost still names the same transfer, so the ledger answers it as a replay.
KEY_NAMESPACE = uuid.UUID("6f1c9a52-7d0e-4c39-9d55-2b7c1e0f4a10")


def _default_id(*parts: object) -> uuid.UUID:
    key = idempotency_key()
    if key is None:
        return uuid.uuid4()
    return uuid.uuid5(KEY_NAMESPACE, "\n".join([current_token().public_id, key, *map(str, parts)]))


def _actor() -> str:
    return f"token:{current_token().public_id}"


def _spec(item: dict[str, Any], transfer_id: uuid.UUID) -> ledger.TransferSpec:
    if item.get("expires_at") is not None and not item["pending"]:
        raise errors.InvalidInput("only a pending transfer has an expiry")
    return ledger.TransferSpec(
        id=transfer_id,
        payer=item["payer"],
        payee=item["payee"],
        amount_minor=item["amount"],
        description=item["description"],
        metadata=item["metadata"],
        pending=item["pending"],
        expires_at=item.get("expires_at"),
    )


def _created(result: ledger.TransferResult) -> tuple[dict[str, Any], int, dict[str, str]]:
    """201 for a new transfer, 200 for the replay of an earlier one with the same id."""
    location = url_for("transfers.TransferResource", transfer_id=result.id)
    return transfer_json(result), 200 if result.is_replay else 201, {"Location": location}


@blueprint.route("")
class TransfersResource(MethodView):
    @blueprint.arguments(TransferListQuerySchema(), location="query")
    @blueprint.response(200, TransferPageSchema)
    @blueprint.doc(security=BEARER)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Transfers the token may read, oldest first (``order=desc``: newest first), a page at a time."""
        token = current_token()
        member = access.readable_member(token)
        accounts: list[str] | None = None
        if query.get("account") is not None:
            access.check_read_account(token, account_owner(query["account"]))
            accounts = [query["account"]]
        elif member is not None:
            accounts = [view.code for view in ledger.list_accounts(db_session(), member_slug=member)]
        results = ledger.list_transfers(
            db_session(),
            accounts=accounts,
            counterparty=query.get("counterparty"),
            state=query.get("state"),
            kind=query.get("kind"),
            since=query.get("since"),
            until=query.get("until"),
            after_seq=query.get("cursor"),
            descending=query["order"] == "desc",
            limit=query["limit"],
        )
        return {
            "items": [transfer_json(result) for result in results],
            "next_cursor": next_cursor([result.seq for result in results], query["limit"]),
        }

    @idempotent(blueprint)
    @blueprint.arguments(TransferCreateSchema())
    @blueprint.response(201, TransferSchema)
    @blueprint.alt_response(200, schema=TransferSchema, description="The replay of a transfer created earlier with this id")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> Any:
        """Pay another account now, or with ``pending: true`` reserve the amount (two-phase).

        The payer must be one of the token's member's accounts. The transfer
        id makes the call idempotent: the same id with the same content
        returns the first transfer (200); with other content it is 409.
        """
        access.check_pay_from(current_token(), account_owner(body["payer"]))
        spec = _spec(body, body.get("id") or _default_id())
        return _created(ledger.create_transfer(db_session(), spec, created_by=_actor()))


@blueprint.route("/batch")
class BatchResource(MethodView):
    @idempotent(blueprint)
    @blueprint.arguments(BatchCreateSchema())
    @blueprint.response(200, BatchResultSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> Any:
        """Up to 1,000 transfers in one database transaction, applied in order.

        ``atomic: false`` (default): each item gets its own result. ``atomic:
        true``: all or nothing; if any item fails, nothing is applied and the
        answer is 409 ``batch_not_applied`` listing the items that failed.
        """
        token = current_token()
        for payer in {item["payer"] for item in body["transfers"]}:
            try:
                owner = account_owner(payer)
            except errors.AccountNotFound:
                continue  # the ledger reports it on the items that name it
            access.check_pay_from(token, owner)
        specs = []
        for index, item in enumerate(body["transfers"]):
            specs.append(_spec(item, item.get("id") or _default_id("batch", index)))
        results = ledger.create_transfers(db_session(), specs, created_by=_actor(), is_atomic=body["atomic"])
        items = [_batch_item(result) for result in results]
        failed = [item for item in items if item["status"] == "failed"]
        if body["atomic"] and failed:
            causes = [
                {"index": item["index"], "id": str(item["id"]), **item["error"]}
                for item in failed
                if item["error"]["type"] != problem_type(ledger.BatchNotApplied.code)
            ]
            raise BatchFailed(f"{len(causes)} of {len(items)} transfers failed, so none was applied", errors=causes)
        return shaped_json({"applied": len(items) - len(failed), "failed": len(failed), "items": items})


class BatchFailed(errors.Conflict):
    """An all-or-nothing batch had failing items, so nothing was applied."""

    code = "batch_not_applied"

    def __init__(self, message: str, *, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.item_errors = errors


def _batch_item(result: ledger.BatchItemResult) -> dict[str, Any]:
    if result.error is not None:
        error = result.error
        return {
            "index": result.index,
            "id": str(result.id),
            "status": "failed",
            "transfer": None,
            "error": {"type": problem_type(error.code), "title": error.code.replace("_", " "), "detail": error.message},
        }
    assert result.transfer is not None
    return {
        "index": result.index,
        "id": str(result.id),
        "status": "replayed" if result.transfer.is_replay else "created",
        "transfer": transfer_json(result.transfer),
        "error": None,
    }


def _readable_transfer(transfer_id: uuid.UUID) -> ledger.TransferResult:
    result = ledger.get_transfer(db_session(), transfer_id)
    access.check_read_any_of(current_token(), [account_owner(result.payer), account_owner(result.payee)])
    return result


@blueprint.route("/<uuid:transfer_id>")
class TransferResource(MethodView):
    @blueprint.response(200, TransferSchema)
    @blueprint.doc(security=BEARER)
    def get(self, transfer_id: uuid.UUID) -> dict[str, Any]:
        """One transfer (the token's member must be its payer or payee)."""
        return transfer_json(_readable_transfer(transfer_id))


def _pending_for_resolution(transfer_id: uuid.UUID) -> ledger.TransferResult:
    pending = ledger.get_transfer(db_session(), transfer_id)
    access.check_resolve_pending(current_token(), account_owner(pending.payer), account_owner(pending.payee))
    return pending


@blueprint.route("/<uuid:transfer_id>/post")
class PostResource(MethodView):
    @idempotent(blueprint)
    @blueprint.arguments(PostPendingSchema())
    @blueprint.response(201, TransferSchema)
    @blueprint.alt_response(200, schema=TransferSchema, description="The replay of an earlier post")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], transfer_id: uuid.UUID) -> Any:
        """Post a pending transfer, in full or a smaller amount (the rest of the hold is released)."""
        _pending_for_resolution(transfer_id)
        result = ledger.post_pending_transfer(
            db_session(), transfer_id, created_by=_actor(), amount_minor=body.get("amount"), id=body.get("id")
        )
        return _created(result)


@blueprint.route("/<uuid:transfer_id>/void")
class VoidResource(MethodView):
    @idempotent(blueprint)
    @blueprint.arguments(VoidPendingSchema())
    @blueprint.response(201, TransferSchema)
    @blueprint.alt_response(200, schema=TransferSchema, description="The replay of an earlier void")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], transfer_id: uuid.UUID) -> Any:
        """Release a pending transfer's hold; nothing moves."""
        _pending_for_resolution(transfer_id)
        return _created(ledger.void_pending_transfer(db_session(), transfer_id, created_by=_actor(), id=body.get("id")))


@blueprint.route("/<uuid:transfer_id>/reverse")
class ReverseResource(MethodView):
    @idempotent(blueprint)
    @blueprint.arguments(ReverseSchema())
    @blueprint.response(201, TransferSchema)
    @blueprint.alt_response(200, schema=TransferSchema, description="The replay of an earlier reversal")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], transfer_id: uuid.UUID) -> Any:
        """Correct a posted transfer with a new one the other way (a refund by its payee)."""
        original = ledger.get_transfer(db_session(), transfer_id)
        access.check_reverse(current_token(), account_owner(original.payee))
        result = ledger.reverse_transfer(
            db_session(),
            transfer_id,
            id=body.get("id") or _default_id("reverse", transfer_id),
            created_by=_actor(),
            description=body.get("description"),
        )
        return _created(result)
