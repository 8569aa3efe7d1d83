"""API resources: payment requests (invoices) between members."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from mutualcredit.ledger import requests as payment_requests
from mutualcredit.tokens import access
from webapp.api.auth import BEARER, current_token, protect
from webapp.api.idempotency import idempotency_key, idempotent
from webapp.api.representations import account_owner, request_json
from webapp.api.schemas import (
    PaymentRequestCreateSchema,
    PaymentRequestDecisionSchema,
    PaymentRequestListQuerySchema,
    PaymentRequestSchema,
)
from webapp.db import db_session

blueprint = protect(
    Blueprint("payment_requests", __name__, url_prefix="/api/v1/requests", description="Payment requests (invoices)")
)

KEY_NAMESPACE = uuid.UUID("0b7e3f5e-9a8c-4d1b-8e2f-3c4d5e6f7a81")


def _actor() -> str:
    return f"token:{current_token().public_id}"


def _located(view: payment_requests.PaymentRequestView, status: int) -> tuple[dict[str, Any], int, dict[str, str]]:
    return request_json(view), status, {"Location": url_for("payment_requests.RequestResource", request_id=view.id)}


@blueprint.route("")
class RequestsResource(MethodView):
    @blueprint.arguments(PaymentRequestListQuerySchema(), location="query")
    @blueprint.response(200, PaymentRequestSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Requests the token's member sent or received (all, for a regional role), newest first."""
        token = current_token()
        member = access.readable_member(token)
        if query.get("account") is not None:
            access.check_read_account(token, account_owner(query["account"]))
            views = payment_requests.list_payment_requests(
                db_session(), account=query["account"], state=query.get("state"), limit=query["limit"]
            )
        else:
            views = payment_requests.list_payment_requests(db_session(), state=query.get("state"), limit=query["limit"], member=member)
        return [request_json(view) for view in views]

    @idempotent(blueprint)
    @blueprint.arguments(PaymentRequestCreateSchema())
    @blueprint.response(201, PaymentRequestSchema)
    @blueprint.alt_response(200, schema=PaymentRequestSchema, description="The replay of a request created earlier with this id")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> Any:
        """Ask another member to pay (an invoice). The payee is one of the token's member's accounts."""
        access.check_request_create(current_token(), account_owner(body["payee"]))
        key = idempotency_key()
        request_id = body.get("id") or (
            uuid.uuid5(KEY_NAMESPACE, f"{current_token().public_id}\n{key}") if key else uuid.uuid4()
        )
        session = db_session()
        existed = payment_requests.request_exists(session, request_id)
        view = payment_requests.create_payment_request(
            session,
            id=request_id,
            payee=body["payee"],
            payer=body["payer"],
            amount_minor=body["amount"],
            description=body["description"],
            expires_at=body.get("expires_at"),
            created_by=_actor(),
        )
        return _located(view, 200 if existed else 201)


def _readable(request_id: uuid.UUID) -> payment_requests.PaymentRequestView:
    view = payment_requests.get_payment_request(db_session(), request_id)
    access.check_read_any_of(current_token(), [account_owner(view.payer), account_owner(view.payee)])
    return view


@blueprint.route("/<uuid:request_id>")
class RequestResource(MethodView):
    @blueprint.response(200, PaymentRequestSchema)
    @blueprint.doc(security=BEARER)
    def get(self, request_id: uuid.UUID) -> dict[str, Any]:
        """One payment request (the token's member must be its payer or payee)."""
        return request_json(_readable(request_id))


@blueprint.route("/<uuid:request_id>/accept")
class AcceptResource(MethodView):
    @idempotent(blueprint)
    @blueprint.response(200, PaymentRequestSchema)
    @blueprint.doc(security=BEARER)
    def post(self, request_id: uuid.UUID) -> dict[str, Any]:
        """Accept (pay) a request addressed to the token's member; accepting twice pays once."""
        view = _readable(request_id)
        access.check_request_decide(current_token(), account_owner(view.payer))
        payment_requests.accept_payment_request(db_session(), request_id, decided_by=_actor())
        return request_json(payment_requests.get_payment_request(db_session(), request_id))


@blueprint.route("/<uuid:request_id>/reject")
class RejectResource(MethodView):
    @idempotent(blueprint)
    @blueprint.arguments(PaymentRequestDecisionSchema())
    @blueprint.response(200, PaymentRequestSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], request_id: uuid.UUID) -> dict[str, Any]:
        """Decline a request addressed to the token's member, with a reason."""
        view = _readable(request_id)
        access.check_request_decide(current_token(), account_owner(view.payer))
        return request_json(
            payment_requests.reject_payment_request(db_session(), request_id, decided_by=_actor(), reason=body["reason"])
        )


@blueprint.route("/<uuid:request_id>/cancel")
class CancelResource(MethodView):
    @idempotent(blueprint)
    @blueprint.arguments(PaymentRequestDecisionSchema())
    @blueprint.response(200, PaymentRequestSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], request_id: uuid.UUID) -> dict[str, Any]:
        """Withdraw a request the token's member sent."""
        view = _readable(request_id)
        access.check_request_cancel(current_token(), account_owner(view.payee))
        return request_json(
            payment_requests.cancel_payment_request(db_session(), request_id, decided_by=_actor(), reason=body["reason"])
        )
