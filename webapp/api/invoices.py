"""API resources: invoices among members, and clearing runs with their set-off notices."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from mutualcredit import errors
from mutualcredit.invoices import service
from mutualcredit.tokens import access
from webapp.api.auth import BEARER, current_token, protect
from webapp.api.idempotency import idempotent
from webapp.api.representations import transfer_json
from webapp.api.schemas import (
    ClearingRunCreateSchema,
    ClearingRunSchema,
    DisputeSchema,
    InvoiceCreateSchema,
    InvoiceListQuerySchema,
    InvoiceSchema,
    NoticeQuerySchema,
    NoticeSchema,
    TransferSchema,
    plain,
    region_unit,
)
from webapp.db import db_session

blueprint = protect(Blueprint("invoices", __name__, url_prefix="/api/v1", description="Invoices among members and their clearing"))

CSV_RESPONSE = {"200": {"description": "The notice as CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}


def _actor() -> str:
    return f"token:{current_token().public_id}"


def invoice_json(view: service.InvoiceView) -> dict[str, Any]:
    return {
        "id": view.id,
        "number": view.number,
        "creditor": view.creditor,
        "debtor": view.debtor,
        "amount": plain(view.amount_minor),
        "outstanding": plain(view.outstanding_minor),
        "unit": region_unit().code,
        "due": view.due_date,
        "description": view.description,
        "state": view.state,
        "dispute_reason": view.dispute_reason,
        "settlement_transfer_id": view.settlement_transfer_id,
        "created_at": view.created_at,
    }


def run_json(run: service.RunView) -> dict[str, Any]:
    return {
        "id": run.id,
        "reference": run.reference,
        "created_at": run.created_at,
        "invoices": run.invoice_count,
        "participants": run.participant_count,
        "unit": region_unit().code,
        "td": plain(run.td_minor),
        "nid": plain(run.nid_minor),
        "cleared": plain(run.cleared_minor),
        "remainder": plain(run.remainder_minor),
        "bound": plain(run.bound_minor),
        "cycles": [{"position": c.position, "members": list(c.participants), "amount": plain(c.amount_minor)} for c in run.cycles],
        "members": [
            {
                "member": f.member,
                "owed_before": plain(f.owed_before_minor),
                "owing_before": plain(f.owing_before_minor),
                "owed_after": plain(f.owed_after_minor),
                "owing_after": plain(f.owing_after_minor),
            }
            for f in run.members
        ],
    }


def _readable_invoice(invoice_id: uuid.UUID) -> service.InvoiceView:
    """The invoice, if the token's member is party to it (any invoice for a regional reader)."""
    token = current_token()
    if token.member_slug is None:
        access.require(token, "accounts:read")
    view = service.get_invoice(db_session(), invoice_id)
    if token.member_slug is not None and token.member_slug not in (view.creditor, view.debtor):
        raise errors.NotAllowed("this token may read only invoices its member is party to")
    return view


@blueprint.route("/invoices")
class InvoicesResource(MethodView):
    @blueprint.arguments(InvoiceListQuerySchema(), location="query")
    @blueprint.response(200, InvoiceSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Invoices the token's member is owed or owes (all, for a regional role), by due date."""
        member = access.readable_member(current_token())
        views = service.list_invoices(db_session(), member=member, side=query.get("side") if member else None, state=query.get("state"))
        return [invoice_json(view) for view in views]

    @idempotent(blueprint)
    @blueprint.arguments(InvoiceCreateSchema())
    @blueprint.response(201, InvoiceSchema)
    @blueprint.alt_response(200, schema=InvoiceSchema, description="The same invoice, recorded before")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> Any:
        """Record an invoice the token's member is owed; the debtor then confirms or disputes it."""
        creditor = access.acting_member(current_token(), "requests:write")
        draft = service.check_draft(creditor, body["number"], body["debtor"], body["amount"], body["due"], body["description"])
        existed = service.invoice_exists(db_session(), creditor, draft.number)
        (view,) = service.record_invoices(db_session(), creditor, [draft], created_by=_actor())
        return invoice_json(view), 200 if existed else 201, {"Location": url_for("invoices.InvoiceResource", invoice_id=view.id)}


@blueprint.route("/invoices/<uuid:invoice_id>")
class InvoiceResource(MethodView):
    @blueprint.response(200, InvoiceSchema)
    @blueprint.doc(security=BEARER)
    def get(self, invoice_id: uuid.UUID) -> dict[str, Any]:
        """One invoice (the token's member must be its creditor or debtor)."""
        return invoice_json(_readable_invoice(invoice_id))


@blueprint.route("/invoices/<uuid:invoice_id>/confirm")
class ConfirmResource(MethodView):
    @idempotent(blueprint)
    @blueprint.response(200, InvoiceSchema)
    @blueprint.doc(security=BEARER)
    def post(self, invoice_id: uuid.UUID) -> dict[str, Any]:
        """The debtor agrees it owes the invoice: it can now be cleared or settled."""
        debtor = access.acting_member(current_token(), "requests:write")
        _readable_invoice(invoice_id)
        return invoice_json(service.confirm_invoice(db_session(), invoice_id, debtor=debtor, actor=_actor()))


@blueprint.route("/invoices/<uuid:invoice_id>/dispute")
class DisputeResource(MethodView):
    @idempotent(blueprint)
    @blueprint.arguments(DisputeSchema())
    @blueprint.response(200, InvoiceSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], invoice_id: uuid.UUID) -> dict[str, Any]:
        """The debtor does not agree, and says why; a disputed invoice is never cleared."""
        debtor = access.acting_member(current_token(), "requests:write")
        _readable_invoice(invoice_id)
        return invoice_json(service.dispute_invoice(db_session(), invoice_id, debtor=debtor, actor=_actor(), reason=body["reason"]))


@blueprint.route("/invoices/<uuid:invoice_id>/settle")
class SettleResource(MethodView):
    @idempotent(blueprint)
    @blueprint.response(201, TransferSchema)
    @blueprint.alt_response(200, schema=TransferSchema, description="The settlement made before")
    @blueprint.doc(security=BEARER)
    def post(self, invoice_id: uuid.UUID) -> Any:
        """The debtor pays what remains in mutual credit: one transfer, linked to the invoice."""
        debtor = access.acting_member(current_token(), "transfers:write")
        _readable_invoice(invoice_id)
        _view, transfer = service.settle_invoice(db_session(), invoice_id, debtor=debtor, actor=_actor())
        return transfer_json(transfer), 200 if transfer.is_replay else 201


@blueprint.route("/clearing-runs")
class RunsResource(MethodView):
    @blueprint.response(200, ClearingRunSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self) -> list[dict[str, Any]]:
        """Recorded clearing runs, newest first (their totals and cycles are shared with every member)."""
        access.require(current_token(), "accounts:read")
        return [run_json(run) for run in service.list_runs(db_session())]

    @idempotent(blueprint)
    @blueprint.arguments(ClearingRunCreateSchema())
    @blueprint.response(201, ClearingRunSchema)
    @blueprint.alt_response(200, schema=ClearingRunSchema, description="The run recorded before under this reference")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> Any:
        """Clear every confirmed invoice by multilateral set-off (a coordinator's act; admin scope)."""
        access.check_run_clearing(current_token())
        run = service.run_clearing(db_session(), reference=body.get("reference"), actor=_actor())
        location = url_for("invoices.RunResource", reference=run.reference)
        return run_json(run), 200 if run.is_replay else 201, {"Location": location}


@blueprint.route("/clearing-runs/<string:reference>")
class RunResource(MethodView):
    @blueprint.response(200, ClearingRunSchema)
    @blueprint.doc(security=BEARER)
    def get(self, reference: str) -> dict[str, Any]:
        """One clearing run: totals, each member's figures and the cycles that cancelled out."""
        access.require(current_token(), "accounts:read")
        return run_json(service.get_run(db_session(), reference))


def _notice(reference: str, query: dict[str, Any]) -> service.Notice:
    token = current_token()
    member = access.readable_member(token)
    if member is None:
        member = query.get("member")
        if member is None:
            raise errors.InvalidInput("a regional token names the member: ?member=SLUG")
    elif query.get("member") not in (None, member):
        raise errors.NotAllowed("this token reads only its own member's notice")
    return service.notice(db_session(), reference, member)


@blueprint.route("/clearing-runs/<string:reference>/notice")
class NoticeResource(MethodView):
    @blueprint.arguments(NoticeQuerySchema(), location="query")
    @blueprint.response(200, NoticeSchema)
    @blueprint.doc(security=BEARER)
    def get(self, query: dict[str, Any], reference: str) -> dict[str, Any]:
        """The member's set-off notice: its invoices the run settled wholly or partly, and through which cycles."""
        notice = _notice(reference, query)
        return {
            "run": reference,
            "member": notice.member,
            "unit": region_unit().code,
            "lines": [
                {
                    "invoice_id": line.invoice_id,
                    "number": line.number,
                    "side": line.side,
                    "counterparty": line.counterparty,
                    "due": line.due_date,
                    "amount": plain(line.amount_minor),
                    "outstanding_before": plain(line.outstanding_before_minor),
                    "set_off": plain(line.setoff_minor),
                    "outstanding_after": plain(line.outstanding_after_minor),
                    "settled": "wholly" if line.is_whole else "partly",
                    "cycles": list(line.cycles),
                }
                for line in notice.lines
            ],
        }


@blueprint.route("/clearing-runs/<string:reference>/notice.csv")
class NoticeCsvResource(MethodView):
    @blueprint.arguments(NoticeQuerySchema(), location="query")
    @blueprint.doc(security=BEARER, responses=CSV_RESPONSE)
    def get(self, query: dict[str, Any], reference: str) -> Response:
        """The same notice as CSV."""
        notice = _notice(reference, query)
        unit = region_unit()
        response = Response(service.notice_csv(notice, unit.decimals, unit.code), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="set-off-{reference}-{notice.member}.csv"'
        return response
