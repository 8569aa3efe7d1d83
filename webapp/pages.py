"""Pages for people: for now the region's members and their balances."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from mutualcredit import errors
from mutualcredit.members.service import list_members
from mutualcredit.money import format_amount
from mutualcredit.region.service import get_region
from webapp.db import db_session

blueprint = Blueprint("pages", __name__)



@blueprint.get("/")
def index() -> str | tuple[str, int]:
    """The region at a glance: members, balances, available credit."""
    session = db_session()
    try:
        region = get_region(session)
    except errors.RegionNotConfigured:
        return render_template("setup.html", needs_migration=False), 503
    except SQLAlchemyError:
        session.rollback()
        return render_template("setup.html", needs_migration=True), 503
    locale = request.accept_languages.best_match(["en", "es", "fr"]) or region.default_locale
    unit = region.unit
    members = list_members(session)
    session.rollback()
    rows = [
        {
            "slug": member.slug,
            "name": member.name,
            "trade": member.trade,
            "status": member.status,
            "balance": format_amount(member.balance_minor, unit, locale),
            "is_negative": member.balance_minor < 0,
            "available": format_amount(sum(a.available_minor or 0 for a in member.accounts), unit, locale),
        }
        for member in members
    ]
    return render_template("index.html", region=region, rows=rows)


@blueprint.get("/health")
def health() -> tuple[dict[str, str], int]:
    """Readiness for load balancers: the database answers and the region is set up."""
    session = db_session()
    try:
        get_region(session)
    except errors.RegionNotConfigured:
        return {"status": "region not configured"}, 503
    except SQLAlchemyError:
        return {"status": "database unreachable or not migrated"}, 503
    finally:
        session.rollback()
    return {"status": "ok"}, 200
