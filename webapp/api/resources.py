"""API resources: region and accounts (read), behind bearer tokens with scopes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from mutualcredit import errors
from mutualcredit.ledger import service as ledger
from mutualcredit.money import format_plain
from mutualcredit.region.service import get_region
from webapp.api.auth import BEARER, protect, require_scope
from webapp.db import db_session


blueprint = protect(Blueprint("api_v1", __name__, url_prefix="/api/v1", description="Mutual credit among the region's co-ops"))


class UnitSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    symbol = fields.String(required=True)
    decimals = fields.Integer(required=True)


class RegionSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    unit = fields.Nested(UnitSchema, required=True)
    default_locale = fields.String(required=True)
    time_zone = fields.String(required=True)


class AccountSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    member = fields.String(allow_none=True)
    unit = fields.String(required=True, metadata={"description": "The region's unit code"})
    balance = fields.String(required=True, metadata={"description": "Decimal string, e.g. \"-12.50\""})
    available = fields.String(allow_none=True, metadata={"description": "What the account can still pay, counting holds; null: unbounded"})
    floor = fields.String(allow_none=True)
    ceiling = fields.String(allow_none=True)
    debits_pending = fields.String(required=True)
    credits_pending = fields.String(required=True)


def _account(view: ledger.AccountView, decimals: int, unit: str) -> dict[str, Any]:
    def plain(value: int | None) -> str | None:
        return None if value is None else format_plain(value, decimals)

    return {
        "code": view.code,
        "name": view.name,
        "kind": view.kind,
        "status": view.status,
        "member": view.member_slug,
        "unit": unit,
        "balance": plain(view.balance),
        "available": plain(view.available_minor),
        "floor": plain(view.floor),
        "ceiling": plain(view.ceiling),
        "debits_pending": plain(view.debits_pending),
        "credits_pending": plain(view.credits_pending),
    }


@blueprint.route("/region")
class RegionResource(MethodView):
    @blueprint.response(200, RegionSchema)
    @blueprint.doc(security=BEARER)
    def get(self) -> dict[str, Any]:
        """The region's settings and unit of account."""
        region = get_region(db_session())
        return {
            "id": region.slug,
            "name": region.name,
            "unit": {"code": region.unit_code, "name": region.unit_name, "symbol": region.unit_symbol, "decimals": region.decimals},
            "default_locale": region.default_locale,
            "time_zone": region.time_zone,
        }


@blueprint.route("/accounts")
class AccountsResource(MethodView):
    @blueprint.response(200, AccountSchema(many=True))
    @blueprint.doc(security=BEARER)
    def get(self) -> list[dict[str, Any]]:
        """Accounts the token may read: its member's, or every account for a regional role."""
        token = require_scope("accounts:read")
        session = db_session()
        region = get_region(session)
        views = ledger.list_accounts(session, member_slug=token.member_slug) if token.member_slug else ledger.list_accounts(session)
        return [_account(view, region.decimals, region.unit_code) for view in views]


@blueprint.route("/accounts/<string:code>")
class AccountResource(MethodView):
    @blueprint.response(200, AccountSchema)
    @blueprint.doc(security=BEARER)
    def get(self, code: str) -> dict[str, Any]:
        """One account's balance, available credit, limits and pending holds."""
        token = require_scope("accounts:read")
        session = db_session()
        region = get_region(session)
        view = ledger.get_account(session, code)
        if token.member_slug is not None and view.member_slug != token.member_slug:
            raise errors.NotAllowed("this token may read only its own member's accounts")
        return _account(view, region.decimals, region.unit_code)
