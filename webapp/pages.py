"""Pages for people: for now the region's members and their balances.

Anyone may see that the region exists; member data needs a login, and each
person sees the members their roles let them read.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from mutualcredit import errors
from mutualcredit.members.service import list_members
from mutualcredit.money import format_amount
from mutualcredit.region.service import get_region
from webapp.auth import add_error_pages, current_principal
from webapp.db import db_session
from webapp.i18n import current_locale

blueprint = add_error_pages(Blueprint("pages", __name__))


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
    if not current_user.is_authenticated:
        return render_template("index.html", region=region, rows=None)
    readable = current_principal().readable_member_slugs()
    locale = current_locale()
    unit = region.unit
    members = [member for member in list_members(session) if readable is None or member.slug in readable]
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
