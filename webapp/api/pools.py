"""API resources: resource pools, their rounds, contributions, needs, runs, results and objections.

Reading takes ``accounts:read`` or ``pools:write``; every reader sees every
need's figures and the round's whole input (``/export``), because any
member may re-solve a round and check it. A member's token with
``pools:write`` declares, edits and withdraws its own needs and objects for
its own co-op. Pools and rounds are administered (created, opened, closed,
run, reviewed, committed) with a regional token holding ``admin``. A run is
solved in the background: ``POST …/runs`` answers 202 with the queued run,
whose ``Location`` shows its progress.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from flask import current_app, jsonify, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from mutualcredit.errors import InvalidAmount
from mutualcredit.money import format_plain, to_minor
from mutualcredit.pools import service
from mutualcredit.pools.background import run_in_background
from mutualcredit.pools.errors import InvalidPoolInput, RunNotFound
from mutualcredit.pools.problem import SlotSpec
from mutualcredit.tokens import access
from webapp.api.auth import BEARER, current_token, protect
from webapp.api.idempotency import idempotency_key, idempotent
from webapp.api.pool_schemas import (
    ContributionCreateSchema,
    ContributionSchema,
    NeedSchema,
    NeedWriteSchema,
    ObjectionCreateSchema,
    ObjectionSchema,
    PoolCreateSchema,
    PoolSchema,
    ResultSchema,
    RoundCreateSchema,
    RoundListQuerySchema,
    RoundSchema,
    RunSchema,
    RunStartSchema,
)
from webapp.api.schemas import plain, region_unit
from webapp.db import db_session

blueprint = protect(Blueprint("pools", __name__, url_prefix="/api/v1", description="Resource pools shared by declared need"))

KEY_NAMESPACE = uuid.UUID("2a7e5c18-93d4-4f0b-b6e1-0c8d7f3a5e92")
EXPORT_RESPONSE = {
    "200": {
        "description": "The round's whole input in the `pools solve` file format (see the README)",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}


def _actor() -> str:
    return f"token:{current_token().public_id}"


def _read() -> None:
    access.check_read_pools(current_token())


def _administer() -> None:
    access.check_administer_pools(current_token())


def _quantity(text: str | None, view: service.RoundView | service.PoolView, field: str) -> int:
    """A quantity string in the pool's units as minor units (422 naming the field if it does not fit)."""
    if text is None:
        return 0
    decimals = 0 if view.is_slots else view.decimals
    if len(text.partition(".")[2]) > decimals:
        what = "a whole number of slots" if view.is_slots else f"at most {decimals} decimal places"
        raise InvalidPoolInput(f"{field}: {what}", field=field)
    return to_minor(Decimal(text), decimals)


def _show(amount: int, view: service.RoundView | service.PoolView) -> str:
    return str(amount) if view.is_slots else format_plain(amount, view.decimals)


def pool_json(view: service.PoolView) -> dict[str, Any]:
    return {
        "slug": view.slug, "name": view.name, "description": view.description, "kind": view.kind, "unit": view.unit,
        "decimals": view.decimals, "price": plain(view.price_minor), "currency": region_unit().code,
        "account": view.account_code, "balance": plain(view.balance_minor), "rule": view.rule,
        "member_cap_share": view.member_cap_share, "weights": dict(view.weights), "time_limit_s": view.time_limit_s,
        "review_window_hours": view.review_window_hours, "status": view.status, "created_at": view.created_at,
    }


def round_json(view: service.RoundView) -> dict[str, Any]:
    run = service.current_run(db_session(), view.reference) if view.current_run_id else None
    return {
        "reference": view.reference, "pool": view.pool_slug, "number": view.number, "title": view.title,
        "state": view.state, "unit": view.unit, "rule": view.rule, "member_cap_share": view.member_cap_share,
        "weights": dict(view.weights), "price": plain(view.price_minor), "currency": region_unit().code,
        "review_window_hours": view.review_window_hours, "needs_close_at": view.needs_close_at,
        "review_ends_at": view.review_ends_at, "contributed": _show(view.contributed_minor, view),
        "needs": view.need_count, "current_run": None if run is None else run.number, "created_at": view.created_at,
        "committed_at": view.committed_at,
    }


def need_json(view: service.NeedView, round_view: service.RoundView) -> dict[str, Any]:
    return {
        "id": view.id, "round": view.round_reference, "member": view.member,
        "desired": _show(view.desired_minor, round_view), "minimum": _show(view.minimum_minor, round_view),
        "unit": round_view.unit, "tier": view.tier, "all_or_nothing": view.all_or_nothing,
        "acceptable": None if view.acceptable is None else list(view.acceptable),
        "window": None if view.window is None else list(view.window), "zone": view.zone,
        "justification": view.justification, "created_at": view.created_at, "updated_at": view.updated_at,
    }


def run_json(run: service.RunView) -> dict[str, Any]:
    return {
        "round": run.round_reference, "number": run.number, "state": run.state, "status": run.status,
        "stages_done": run.stages_done, "progress": run.progress_text, "error": run.error or None, "reason": run.reason,
        "started_by": run.started_by, "input_sha256": run.input_sha256, "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


def _need_input(body: dict[str, Any], round_view: service.RoundView) -> service.NeedInput:
    window = body.get("window")
    return service.NeedInput(
        desired_minor=_quantity(body["desired"], round_view, "desired"),
        minimum_minor=_quantity(body.get("minimum"), round_view, "minimum"),
        tier=body["tier"],
        all_or_nothing=body["all_or_nothing"],
        acceptable=None if body.get("acceptable") is None else tuple(body["acceptable"]),
        window=None if window is None else (window[0], window[1]),
        zone=body.get("zone"),
        justification=body["justification"],
    )


def _run_of(reference: str, number: int) -> service.RunView:
    for run in service.list_runs(db_session(), reference):
        if run.number == number:
            return run
    raise RunNotFound(f"round {reference} has no run {number}", round=reference)


# ---------------------------------------------------------------------------
# Pools


@blueprint.route("/pools")
class PoolsResource(MethodView):
    @blueprint.response(200, PoolSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self) -> list[dict[str, Any]]:
        """The region's active pools."""
        _read()
        return [pool_json(view) for view in service.list_pools(db_session())]

    @idempotent(blueprint)
    @blueprint.arguments(PoolCreateSchema())
    @blueprint.response(201, PoolSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a pool and its account with the policy its members' assembly adopted (admin scope)."""
        _administer()
        try:
            price_minor = to_minor(Decimal(body["price"]), region_unit().decimals)
        except InvalidAmount:
            raise InvalidPoolInput(f"price: at most {region_unit().decimals} decimal places", field="price") from None
        policy = service.PolicyInput(
            rule=body["rule"], member_cap_share=body["member_cap_share"], weights=body["weights"],
            time_limit_s=body["time_limit_s"], stage_time_limit_s=min(body["stage_time_limit_s"], body["time_limit_s"]),
            review_window_hours=body["review_window_hours"],
        )
        view = service.create_pool(
            db_session(), slug=body["slug"], name=body["name"], kind=body["kind"], unit=body["unit"],
            decimals=body["decimals"], price_minor=price_minor, description=body["description"], policy=policy,
            actor=_actor(),
        )
        return pool_json(view), 201, {"Location": url_for("pools.PoolResource", slug=view.slug)}


@blueprint.route("/pools/<string:slug>")
class PoolResource(MethodView):
    @blueprint.response(200, PoolSchema)
    @blueprint.doc(security=BEARER)
    def get(self, slug: str) -> dict[str, Any]:
        """One pool: its resource, price, account and current policy."""
        _read()
        return pool_json(service.get_pool(db_session(), slug))


@blueprint.route("/pools/<string:slug>/rounds")
class PoolRoundsResource(MethodView):
    @blueprint.arguments(RoundListQuerySchema(), location="query")
    @blueprint.response(200, RoundSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, query: dict[str, Any], slug: str) -> list[dict[str, Any]]:
        """The pool's rounds, newest first."""
        _read()
        states = [query["state"]] if query.get("state") else None
        return [round_json(view) for view in service.list_rounds(db_session(), pool_slug=slug, states=states)]

    @idempotent(blueprint)
    @blueprint.arguments(RoundCreateSchema())
    @blueprint.response(201, RoundSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], slug: str) -> Any:
        """Open the pool's next round; the pool's policy is recorded with it (admin scope)."""
        _administer()
        view = service.open_round(db_session(), slug, title=body["title"], needs_close_at=body["needs_close_at"],
                                  actor=_actor())
        return round_json(view), 201, {"Location": url_for("pools.RoundResource", reference=view.reference)}


# ---------------------------------------------------------------------------
# Rounds


@blueprint.route("/rounds/<string:reference>")
class RoundResource(MethodView):
    @blueprint.response(200, RoundSchema)
    @blueprint.doc(security=BEARER)
    def get(self, reference: str) -> dict[str, Any]:
        """One round: its state, the policy recorded with it, its schedule and what was contributed."""
        _read()
        return round_json(service.get_round(db_session(), reference))


def _transition(action: str, function: Any, summary: str) -> None:
    @idempotent(blueprint)
    @blueprint.response(200, RoundSchema)
    @blueprint.doc(security=BEARER, summary=summary, description=f"{summary} (admin scope).")
    def post(self: Any, reference: str) -> dict[str, Any]:
        _administer()
        return round_json(function(db_session(), reference, actor=_actor()))

    resource = type(f"Round{action.title()}Resource", (MethodView,), {"post": post})
    blueprint.route(f"/rounds/<string:reference>/{action}")(resource)


_transition("close", service.close_round, "Stop taking needs (open → closed)")
_transition("review", service.start_review, "Show the latest result to members, who may object until the window ends")
_transition("commit", service.commit_round, "Record the allocations and, for a priced pool, pay for them, all at once")
_transition("archive", service.archive_round, "Put a committed round away")


@blueprint.route("/rounds/<string:reference>/contributions")
class ContributionsResource(MethodView):
    @blueprint.response(200, ContributionSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, reference: str) -> list[dict[str, Any]]:
        """What members put into the round."""
        _read()
        round_view = service.get_round(db_session(), reference)
        return [
            {"id": c.id, "member": c.member, "quantity": _show(c.quantity_minor, round_view),
             "slots": [slot.to_json() for slot in c.slots], "paid": c.is_paid, "note": c.note, "created_at": c.created_at}
            for c in service.list_contributions(db_session(), reference)
        ]

    @idempotent(blueprint)
    @blueprint.arguments(ContributionCreateSchema())
    @blueprint.response(201, ContributionSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], reference: str) -> Any:
        """Record what a member puts into the round: a quantity, or slots (admin scope)."""
        _administer()
        round_view = service.get_round(db_session(), reference)
        slots = [SlotSpec(s["id"], s["capacity"], s["zone"], s["start"], s["end"]) for s in body["slots"]]
        view = service.add_contribution(
            db_session(), reference, member=body["member"], quantity_minor=_quantity(body["quantity"], round_view, "quantity"),
            slots=slots, is_paid=body["paid"], note=body["note"], actor=_actor(),
        )
        return {"id": view.id, "member": view.member, "quantity": _show(view.quantity_minor, round_view),
                "slots": [slot.to_json() for slot in view.slots], "paid": view.is_paid, "note": view.note,
                "created_at": view.created_at}, 201


@blueprint.route("/rounds/<string:reference>/needs")
class NeedsResource(MethodView):
    @blueprint.response(200, NeedSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, reference: str) -> list[dict[str, Any]]:
        """The round's needs: a member's token sees its own member's, a regional token every member's."""
        _read()
        round_view = service.get_round(db_session(), reference)
        member = current_token().member_slug
        return [need_json(view, round_view) for view in service.list_needs(db_session(), reference, member=member)]

    @idempotent(blueprint)
    @blueprint.arguments(NeedWriteSchema())
    @blueprint.response(201, NeedSchema)
    @blueprint.alt_response(200, schema=NeedSchema, description="The same need, declared before with this Idempotency-Key")
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], reference: str) -> Any:
        """Declare the token's member's need while the round is open (pools:write)."""
        member = access.pools_member(current_token())
        round_view = service.get_round(db_session(), reference)
        key = idempotency_key()
        need_id = uuid.uuid5(KEY_NAMESPACE, f"{current_token().public_id}\n{key}") if key else None
        existed = need_id is not None and _need_exists(need_id)
        view = service.declare_need(db_session(), reference, member=member, need=_need_input(body, round_view),
                                    actor=_actor(), need_id=need_id)
        return need_json(view, round_view), 200 if existed else 201, {"Location": url_for("pools.NeedResource", need_id=view.id)}


def _need_exists(need_id: uuid.UUID) -> bool:
    try:
        service.get_need(db_session(), need_id)
    except service.NeedNotFound:
        return False
    return True


@blueprint.route("/needs/<uuid:need_id>")
class NeedResource(MethodView):
    @blueprint.response(200, NeedSchema)
    @blueprint.doc(security=BEARER)
    def get(self, need_id: uuid.UUID) -> dict[str, Any]:
        """One need (a member's token: only its own member's)."""
        _read()
        view = service.get_need(db_session(), need_id, member=current_token().member_slug)
        return need_json(view, service.get_round(db_session(), view.round_reference))

    @blueprint.arguments(NeedWriteSchema())
    @blueprint.response(200, NeedSchema)
    @blueprint.doc(security=BEARER)
    def patch(self, body: dict[str, Any], need_id: uuid.UUID) -> dict[str, Any]:
        """Replace the figures of the token's member's need while its round takes needs (pools:write)."""
        member = access.pools_member(current_token())
        current = service.get_need(db_session(), need_id, member=member)
        round_view = service.get_round(db_session(), current.round_reference)
        view = service.update_need(db_session(), need_id, member=member, need=_need_input(body, round_view), actor=_actor())
        return need_json(view, round_view)

    @blueprint.response(204)
    @blueprint.doc(security=BEARER)
    def delete(self, need_id: uuid.UUID) -> None:
        """Withdraw the token's member's need while its round takes needs (pools:write)."""
        member = access.pools_member(current_token())
        service.withdraw_need(db_session(), need_id, member=member, actor=_actor())


@blueprint.route("/rounds/<string:reference>/runs")
class RunsResource(MethodView):
    @blueprint.response(200, RunSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, reference: str) -> list[dict[str, Any]]:
        """Every run of the round (all are kept), oldest first."""
        _read()
        return [run_json(run) for run in service.list_runs(db_session(), reference)]

    @idempotent(blueprint)
    @blueprint.arguments(RunStartSchema())
    @blueprint.response(202, RunSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], reference: str) -> Any:
        """Queue a solver run of a closed round and solve it in the background (admin scope); poll its Location."""
        _administer()
        run = service.start_run(db_session(), reference, actor=_actor(), reason=body["reason"])
        run_in_background(current_app.extensions["mutualcredit.sessions"], run.id)
        return run_json(run), 202, {"Location": url_for("pools.RunResource", reference=reference, number=run.number)}


@blueprint.route("/rounds/<string:reference>/runs/<int:number>")
class RunResource(MethodView):
    @blueprint.response(200, RunSchema)
    @blueprint.doc(security=BEARER)
    def get(self, reference: str, number: int) -> dict[str, Any]:
        """One run: its state and progress (stages done), then its status."""
        _read()
        return run_json(_run_of(reference, number))


@blueprint.route("/rounds/<string:reference>/result")
class ResultResource(MethodView):
    @blueprint.response(200, ResultSchema)
    @blueprint.doc(security=BEARER)
    def get(self, reference: str) -> dict[str, Any]:
        """The committed (else latest) run's allocation and each need's explanation (409 before any result)."""
        _read()
        round_view = service.get_round(db_session(), reference)
        run = service.current_run(db_session(), reference)
        if run is None or run.result is None:
            raise service.NoValidResult(f"round {reference} has no result yet", round=reference)
        result = run.result
        return {
            "round": reference, "run": run.number, "status": result["status"], "unit": round_view.unit,
            "minimums_met": result["minimums_met"], "message": result.get("message", ""),
            "worst_share": result.get("worst_share"), "solve_time_s": result.get("solve_time_s", 0.0),
            "stages": result.get("stages", []),
            "lines": [
                {"need": row.need_id, "member": row.member, "declared": _show(row.declared_minor, round_view),
                 "minimum": _show(row.minimum_minor, round_view), "allocated": _show(row.allocated_minor, round_view),
                 "share_met": row.share_met, "decided_by": row.decided_by, "binding": list(row.binding),
                 "slots": list(row.slots)}
                for row in run.rows()
            ],
        }


@blueprint.route("/rounds/<string:reference>/export")
class ExportResource(MethodView):
    @blueprint.doc(security=BEARER, responses=EXPORT_RESPONSE)
    def get(self, reference: str) -> Any:
        """The round's whole input as a `pools solve` file: re-solve it anywhere to check the result."""
        _read()
        response = jsonify(service.export_round(db_session(), reference))
        response.headers["Content-Disposition"] = f'attachment; filename="{reference}.json"'
        return response


@blueprint.route("/rounds/<string:reference>/objections")
class ObjectionsResource(MethodView):
    @blueprint.response(200, ObjectionSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self, reference: str) -> list[dict[str, Any]]:
        """Objections to the round (a member's token: its own member's)."""
        _read()
        member = current_token().member_slug
        return [
            {"id": o.id, "round": o.round_reference, "run": o.run_number, "member": o.member, "reason": o.reason,
             "created_at": o.created_at}
            for o in service.list_objections(db_session(), reference) if member is None or o.member == member
        ]

    @idempotent(blueprint)
    @blueprint.arguments(ObjectionCreateSchema())
    @blueprint.response(201, ObjectionSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any], reference: str) -> Any:
        """Object to the result under review, with a reason, before the review window ends (pools:write)."""
        member = access.pools_member(current_token())
        o = service.object_to_round(db_session(), reference, member=member, reason=body["reason"], actor=_actor())
        return {"id": o.id, "round": o.round_reference, "run": o.run_number, "member": o.member, "reason": o.reason,
                "created_at": o.created_at}, 201
