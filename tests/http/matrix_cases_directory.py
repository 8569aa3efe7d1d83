"""Authorization matrix: the member directory (everyone logged in reads it; a co-op's treasurers edit its profile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from matrix_support import Case, logged_in
from mutualcredit.members import directory
from mutualcredit.members.directory import MemberListing
from mutualcredit.members.models import Member


def listings_of(slug: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return session.scalar(
            sa.select(sa.func.count()).select_from(MemberListing).join(Member, Member.id == MemberListing.member_id).where(Member.slug == slug)
        ) or 0

    return count


def fresh_listing(slug: str) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        view = directory.add_listing(session, slug, kind="offer", title="Matrix offer", actor="test")
        return {"listing": view.id}

    return prepare


def listing_gone_only_if_allowed(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
    still_there = session.get(MemberListing, context["listing"]) is not None
    if still_there == allowed:
        return f"listing still there: {still_there}, expected {not allowed}"
    return None


def description_changed_only_if_allowed(slug: str) -> Callable[[Session, dict[str, Any], bool], str | None]:
    def check(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
        description = session.scalar(sa.select(Member.description).where(Member.slug == slug))
        changed = description == context["description"]
        return None if changed == allowed else f"description changed: {changed}, expected {allowed}"

    return check


def new_description(_session: Session) -> dict[str, Any]:
    import uuid

    return {"description": f"Matrix description {uuid.uuid4().hex[:8]}"}


CASES = [
    Case("directory", "GET", "/directory", logged_in(200)),
    Case("directory search", "GET", "/directory", logged_in(200), path="/directory?q=alp&kind=offer"),
    Case("directory with a bad kind", "GET", "/directory", logged_in(400), path="/directory?kind=gift"),
    Case("alpha's profile", "GET", "/directory/<slug>", logged_in(200), path="/directory/alpha"),
    Case("a profile that does not exist", "GET", "/directory/<slug>", logged_in(404), path="/directory/nobody"),
    Case("alpha's profile form", "GET", "/directory/<slug>/edit", logged_in(403, treasurer_a=200), path="/directory/alpha/edit"),
    Case("the profile form of nobody", "GET", "/directory/<slug>/edit", logged_in(404), path="/directory/nobody/edit"),
    Case(
        "add an offer to alpha's profile",
        "POST",
        "/directory/<slug>/edit",
        logged_in(403, treasurer_a=303),
        path="/directory/alpha/edit",
        data={"form": "listing", "kind": "offer", "title": "Matrix bread"},
        count=listings_of("alpha"),
    ),
    Case(
        "add a want to beta's profile (forged co-op for alpha's people)",
        "POST",
        "/directory/<slug>/edit",
        logged_in(403, treasurer_b=303),
        path="/directory/beta/edit",
        data={"form": "listing", "kind": "want", "title": "Matrix want"},
        count=listings_of("beta"),
    ),
    Case(
        "change alpha's description",
        "POST",
        "/directory/<slug>/edit",
        logged_in(403, treasurer_a=303),
        path="/directory/alpha/edit",
        data=lambda c: {"form": "description", "description": c["description"]},
        prepare=new_description,
        check=description_changed_only_if_allowed("alpha"),
    ),
    Case(
        "remove one of alpha's offers",
        "POST",
        "/directory/<slug>/listings/<int:listing_id>/delete",
        logged_in(403, treasurer_a=303),
        path=lambda c: f"/directory/alpha/listings/{c['listing']}/delete",
        prepare=fresh_listing("alpha"),
        check=listing_gone_only_if_allowed,
    ),
    Case(
        "remove one of alpha's offers through beta's profile (forged id)",
        "POST",
        "/directory/<slug>/listings/<int:listing_id>/delete",
        logged_in(403, treasurer_b=404),
        path=lambda c: f"/directory/beta/listings/{c['listing']}/delete",
        prepare=fresh_listing("alpha"),
        check=listing_gone_only_if_allowed,
    ),
    Case(
        "remove a listing that does not exist",
        "POST",
        "/directory/<slug>/listings/<int:listing_id>/delete",
        logged_in(403, treasurer_a=404),
        path="/directory/alpha/listings/999999/delete",
    ),
]
