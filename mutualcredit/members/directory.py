"""The member directory: what each co-op does, what it offers and what it needs.

A member's profile is its name and trade (set when it was admitted), a
description and its listings: offers and wants, each a short title with
optional details. A member's treasurers edit its profile (the pages ask
``Principal.can_edit_listing_of``); every change is recorded in the activity
log. A listing is a profile entry, not history: deleting one removes it.
The directory shows trade, never balances, and lists active members only.

Search is case-insensitive on both databases (``ILIKE`` on PostgreSQL, the
ASCII-insensitive ``LIKE`` of SQLite, so on SQLite accented capitals match
only themselves).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, delete, exists, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import Base, UTCDateTime, utc_now
from mutualcredit.members.models import Member, MemberStatus

TITLE_LENGTH_MAX = 120
DETAILS_LENGTH_MAX = 1_000
DESCRIPTION_LENGTH_MAX = 2_000
LISTINGS_PER_MEMBER_MAX = 30
QUERY_LENGTH_MAX = 100
DIRECTORY_MEMBERS_MAX = 200


class ListingKind(enum.StrEnum):
    OFFER = "offer"
    WANT = "want"


class MemberListing(Base):
    """One thing a member offers or wants."""

    __tablename__ = "member_listings"
    __table_args__ = (
        CheckConstraint("kind IN ('offer', 'want')", name="kind_known"),
        CheckConstraint("title <> ''", name="title_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH_MAX))
    details: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class ListingNotFound(errors.NotFound):
    """The member has no listing with that id."""

    code = "listing_not_found"


class TooManyListings(errors.Conflict):
    """The member already has as many listings as a profile may hold."""

    code = "too_many_listings"


@dataclass(frozen=True, slots=True)
class ListingView:
    id: int
    kind: str
    title: str
    details: str


@dataclass(frozen=True, slots=True)
class ProfileView:
    """A member as the directory shows it: no balance, no contact details."""

    slug: str
    name: str
    trade: str
    description: str
    status: str
    offers: tuple[ListingView, ...]
    wants: tuple[ListingView, ...]


@dataclass(frozen=True, slots=True)
class DirectoryResult:
    """The members found (by name), and whether more matched than ``DIRECTORY_MEMBERS_MAX``."""

    profiles: tuple[ProfileView, ...]
    is_truncated: bool


def _profiles(session: Session, members: Iterable[Member], kind: str | None = None) -> list[ProfileView]:
    members = list(members)
    query = select(MemberListing).where(MemberListing.member_id.in_([m.id for m in members]))
    if kind is not None:
        query = query.where(MemberListing.kind == kind)
    listings: dict[int, list[MemberListing]] = {}
    for listing in session.scalars(query.order_by(MemberListing.title, MemberListing.id)):
        listings.setdefault(listing.member_id, []).append(listing)

    def views(member: Member, listing_kind: str) -> tuple[ListingView, ...]:
        return tuple(
            ListingView(id=x.id, kind=x.kind, title=x.title, details=x.details)
            for x in listings.get(member.id, [])
            if x.kind == listing_kind
        )

    return [
        ProfileView(
            slug=m.slug,
            name=m.name,
            trade=m.trade,
            description=m.description,
            status=m.status,
            offers=views(m, ListingKind.OFFER),
            wants=views(m, ListingKind.WANT),
        )
        for m in members
    ]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_directory(session: Session, *, query: str = "", kind: str | None = None) -> DirectoryResult:
    """Active members whose name, trade, description or listings contain ``query`` (any case), by name.

    With ``kind`` (``offer`` or ``want``), only members with such listings,
    matched on those listings, and only those listings shown.
    """
    query = " ".join((query or "").split())
    if len(query) > QUERY_LENGTH_MAX:
        raise errors.InvalidInput(f"a search is at most {QUERY_LENGTH_MAX} characters")
    if kind is not None and kind not in {k.value for k in ListingKind}:
        raise errors.InvalidInput(f"unknown listing kind {kind!r}")
    listing = select(MemberListing.id).where(MemberListing.member_id == Member.id)
    if kind is not None:
        listing = listing.where(MemberListing.kind == kind)
    members = select(Member).where(Member.status == MemberStatus.ACTIVE)
    if query:
        pattern = _like_pattern(query)
        listing_matches = exists(
            listing.where(or_(MemberListing.title.ilike(pattern, escape="\\"), MemberListing.details.ilike(pattern, escape="\\")))
        )
        member_matches = or_(*(column.ilike(pattern, escape="\\") for column in (Member.name, Member.trade, Member.description)))
        members = members.where(or_(member_matches, listing_matches) if kind is None else listing_matches)
    elif kind is not None:
        members = members.where(exists(listing))
    try:
        found = session.scalars(members.order_by(Member.name, Member.id).limit(DIRECTORY_MEMBERS_MAX + 1)).all()
        profiles = _profiles(session, found[:DIRECTORY_MEMBERS_MAX], kind)
    finally:
        session.rollback()
    return DirectoryResult(profiles=tuple(profiles), is_truncated=len(found) > DIRECTORY_MEMBERS_MAX)


def _member(session: Session, slug: str) -> Member:
    member = session.scalar(select(Member).where(Member.slug == slug))
    if member is None:
        raise errors.MemberNotFound(f"no member {slug!r}", member=slug)
    return member


def get_profile(session: Session, slug: str) -> ProfileView:
    """One member's profile (whatever its status)."""
    try:
        (profile,) = _profiles(session, [_member(session, slug)])
    finally:
        session.rollback()
    return profile


def _clean(text: str, length_max: int, what: str, *, required: bool = False) -> str:
    text = (text or "").strip()
    if required and not text:
        raise errors.InvalidInput(f"the {what} is required", field=what)
    if len(text) > length_max:
        raise errors.InvalidInput(f"the {what} is at most {length_max} characters", field=what)
    return text


def set_description(session: Session, slug: str, *, description: str, actor: str) -> ProfileView:
    """Replace the member's description."""
    description = _clean(description, DESCRIPTION_LENGTH_MAX, "description")
    try:
        member = _member(session, slug)
        member.description = description
        record_activity(session, actor=actor, action="member.description", subject=slug, details={"length": len(description)})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_profile(session, slug)


def add_listing(session: Session, slug: str, *, kind: str, title: str, details: str = "", actor: str) -> ListingView:
    """Add an offer or a want to the member's profile (at most ``LISTINGS_PER_MEMBER_MAX``)."""
    if kind not in {k.value for k in ListingKind}:
        raise errors.InvalidInput(f"unknown listing kind {kind!r}", field="kind")
    title = _clean(title, TITLE_LENGTH_MAX, "title", required=True)
    details = _clean(details, DETAILS_LENGTH_MAX, "details")
    try:
        member = _member(session, slug)
        count = session.scalar(select(func.count()).where(MemberListing.member_id == member.id)) or 0
        if count >= LISTINGS_PER_MEMBER_MAX:
            raise TooManyListings(f"{slug} already has {count} listings", member=slug)
        now = utc_now()
        listing = MemberListing(member_id=member.id, kind=kind, title=title, details=details, created_at=now, updated_at=now)
        session.add(listing)
        session.flush()
        view = ListingView(id=listing.id, kind=kind, title=title, details=details)
        record_activity(session, actor=actor, action="listing.add", subject=slug, details={"id": view.id, "kind": kind, "title": title})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return view


def delete_listing(session: Session, slug: str, listing_id: int, *, actor: str) -> ListingView:
    """Remove one of the member's listings; ``ListingNotFound`` if the member has none with that id."""
    try:
        member = _member(session, slug)
        listing = session.scalar(select(MemberListing).where(MemberListing.id == listing_id, MemberListing.member_id == member.id))
        if listing is None:
            raise ListingNotFound(f"{slug} has no listing {listing_id}", member=slug, listing=listing_id)
        view = ListingView(id=listing.id, kind=listing.kind, title=listing.title, details=listing.details)
        session.execute(delete(MemberListing).where(MemberListing.id == listing.id))
        record_activity(session, actor=actor, action="listing.delete", subject=slug, details={"id": view.id, "kind": view.kind, "title": view.title})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return view


# What the demo co-ops offer and need: (offers, wants) by slug.
DEMO_LISTINGS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "horno-comun": (("Sourdough bread, daily", "Pastries for events", "Bakery workshops"), ("Organic flour and eggs",)),
    "tierra-viva": (("Seasonal vegetable boxes", "Free-range eggs"), ("Farm deliveries by cargo bike", "Seedlings")),
    "rueda-libre": (("Cargo-bike deliveries in town", "Bicycle repair and servicing"), ("Printed flyers",)),
    "imprenta-sur": (("Print runs and flyers", "Shop signage"), ("Website maintenance", "Recycled paper")),
    "nodo-digital": (("Websites and online shops", "IT support contracts", "Backups and security checks"), ("Office cleaning",)),
    "cerveza-barrio": (("Beer kegs for events", "Brewery tours"), ("Bottle labels", "Local hops and grain")),
    "limpieza-clara": (("Office and shop cleaning",), ("Workwear and uniforms", "Accounting software")),
    "taller-madera": (("Furniture made to order", "Repairs and fittings"), ("Solar panels for the workshop", "Deliveries")),
    "semillero": (("Childcare hours", "Holiday play schemes"), ("Wooden toys and furniture", "Healthy snacks")),
    "libros-cafe": (("Catering for meetings", "Books and a space for talks"), ("Fresh bread", "Beer for events")),
    "hilo-textil": (("Workwear and uniforms", "Tote bags with your logo"), ("Cleaning of the workshop",)),
    "sol-energia": (("Solar panel installation", "Maintenance contracts"), ("Mounting frames", "IT support")),
}


def load_demo_listings(session: Session, *, actor: str) -> int:
    """Give each demo co-op present its offers and wants; returns the listings added."""
    added = 0
    for slug, (offers, wants) in DEMO_LISTINGS.items():
        if session.scalar(select(Member.id).where(Member.slug == slug)) is None:
            continue
        for kind, titles in ((ListingKind.OFFER, offers), (ListingKind.WANT, wants)):
            for title in titles:
                add_listing(session, slug, kind=kind, title=title, actor=actor)
                added += 1
    session.rollback()
    return added
