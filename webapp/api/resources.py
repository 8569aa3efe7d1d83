"""API resources: the region, its members, accounts and statements."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from mutualcredit.ledger import service as ledger
from mutualcredit import errors
from mutualcredit.members.service import get_member, list_members, open_member_account
from mutualcredit.money import parse_signed_amount
from mutualcredit.region.service import get_region
from mutualcredit.tokens import access
from webapp.api.auth import BEARER, current_token, protect, require_scope
from webapp.api.idempotency import idempotent
from webapp.api.representations import account_json, account_owner, member_json, next_cursor
from webapp.api.schemas import (
    AccountCreateSchema,
    AccountSchema,
    MemberSchema,
    RegionSchema,
    StatementQuerySchema,
    StatementSchema,
    plain,
    region_unit,
)
from webapp.db import db_session

blueprint = protect(Blueprint("api_v1", __name__, url_prefix="/api/v1", description="The region, its members and accounts"))

CSV_RESPONSE = {"200": {"description": "The statement as CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}


@blueprint.route("/region")
class RegionResource(MethodView):
    @blueprint.response(200, RegionSchema)
    @blueprint.doc(security=BEARER)
    def get(self) -> dict[str, Any]:
        """The region's settings and unit of account."""
        require_scope("accounts:read")
        region = get_region(db_session())
        return {
            "id": region.slug,
            "name": region.name,
            "unit": {"code": region.unit_code, "name": region.unit_name, "symbol": region.unit_symbol, "decimals": region.decimals},
            "default_locale": region.default_locale,
            "time_zone": region.time_zone,
        }


@blueprint.route("/members")
class MembersResource(MethodView):
    @blueprint.response(200, MemberSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self) -> list[dict[str, Any]]:
        """The region's members (every token may see who it can trade with)."""
        require_scope("accounts:read")
        return [member_json(view) for view in list_members(db_session())]


@blueprint.route("/members/<string:slug>")
class MemberResource(MethodView):
    @blueprint.response(200, MemberSchema)
    @blueprint.doc(security=BEARER)
    def get(self, slug: str) -> dict[str, Any]:
        """One member and the codes of its accounts."""
        require_scope("accounts:read")
        return member_json(get_member(db_session(), slug))


@blueprint.route("/accounts")
class AccountsResource(MethodView):
    @blueprint.response(200, AccountSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self) -> list[dict[str, Any]]:
        """Accounts the token may read: its member's, or every account for a regional role."""
        member = access.readable_member(current_token())
        views = ledger.list_accounts(db_session(), member_slug=member) if member else ledger.list_accounts(db_session())
        return [account_json(view) for view in views]

    @idempotent(blueprint)
    @blueprint.arguments(AccountCreateSchema())
    @blueprint.response(201, AccountSchema)
    @blueprint.doc(security=BEARER)
    def post(self, body: dict[str, Any]) -> Any:
        """Open an account.

        A member's token opens further accounts for its own member, with no
        credit (floor 0): credit limits are set by the region's coordinators.
        A token with the admin scope opens any account, with limits.
        """
        token = current_token()
        decimals = region_unit().decimals
        member = body["member"] if body["member"] is not None else token.member_slug
        floor = None if body["floor"] is None else parse_signed_amount(body["floor"], decimals)
        ceiling = None if body["ceiling"] is None else parse_signed_amount(body["ceiling"], decimals)
        if body["kind"] == "member" and floor is None:
            floor = 0 if token.member_slug is not None else None
        access.check_open_account(token, member_slug=member, floor=floor, ceiling=ceiling)
        actor = f"token:{token.public_id}"
        if body["kind"] == "member":
            if member is None or floor is None:
                raise errors.InvalidInput("a member's account names its member and its floor")
            view = open_member_account(
                db_session(), member, code=body["code"], name=body["name"], floor=floor, ceiling=ceiling, actor=actor
            )
        else:
            view = ledger.open_account(
                db_session(), code=body["code"], name=body["name"], kind=body["kind"], floor=floor, ceiling=ceiling, actor=actor
            )
        return account_json(view), 201, {"Location": url_for("api_v1.AccountResource", code=view.code)}


@blueprint.route("/accounts/<string:code>")
class AccountResource(MethodView):
    @blueprint.response(200, AccountSchema)
    @blueprint.doc(security=BEARER)
    def get(self, code: str) -> dict[str, Any]:
        """One account's balance, available credit, limits and pending holds."""
        view = ledger.get_account(db_session(), code)
        access.check_read_account(current_token(), view)
        return account_json(view)


def _statement_lines(code: str, query: dict[str, Any]) -> list[ledger.StatementLine]:
    access.check_read_account(current_token(), account_owner(code))
    return ledger.statement(
        db_session(),
        code,
        since=query.get("since"),
        until=query.get("until"),
        counterparty=query.get("counterparty"),
        after_seq=query.get("cursor"),
        limit=query["limit"],
    )


@blueprint.route("/accounts/<string:code>/statement")
class StatementResource(MethodView):
    @blueprint.arguments(StatementQuerySchema(), location="query")
    @blueprint.response(200, StatementSchema)
    @blueprint.doc(security=BEARER)
    def get(self, query: dict[str, Any], code: str) -> dict[str, Any]:
        """The account's posted movements in order, each with the balance after it (paged)."""
        lines = _statement_lines(code, query)
        return {
            "account": code,
            "unit": region_unit().code,
            "lines": [
                {
                    "transfer_id": line.transfer_id,
                    "kind": line.kind,
                    "created_at": line.created_at,
                    "counterparty": line.counterparty,
                    "description": line.description,
                    "amount": plain(line.amount_minor),
                    "balance_after": plain(line.balance_after_minor),
                    "pending_id": line.pending_id,
                    "reverses_id": line.reverses_id,
                }
                for line in lines
            ],
            "next_cursor": next_cursor([line.seq for line in lines], query["limit"]),
        }


@blueprint.route("/accounts/<string:code>/statement.csv")
class StatementCsvResource(MethodView):
    @blueprint.arguments(StatementQuerySchema(), location="query")
    @blueprint.doc(security=BEARER, responses=CSV_RESPONSE)
    def get(self, query: dict[str, Any], code: str) -> Response:
        """The same statement as CSV (one page; the next page's cursor is in the ``Next-Cursor`` header)."""
        lines = _statement_lines(code, query)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "transfer_id", "kind", "counterparty", "description", "amount", "balance_after", "unit"])
        unit = region_unit().code
        for line in lines:
            writer.writerow(
                [
                    line.created_at.isoformat(),
                    line.transfer_id,
                    line.kind,
                    line.counterparty,
                    line.description,
                    plain(line.amount_minor),
                    plain(line.balance_after_minor),
                    unit,
                ]
            )
        response = Response(out.getvalue(), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="statement-{code}.csv"'
        cursor = next_cursor([line.seq for line in lines], query["limit"])
        if cursor:
            response.headers["Next-Cursor"] = cursor
        return response
