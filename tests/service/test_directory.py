"""The member directory's service: search, offers and wants, their limits, and the activity log."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import ActivityEntry
from mutualcredit.members import directory
from mutualcredit.members.directory import ListingNotFound, MemberListing, TooManyListings
from mutualcredit.members.models import Member


@pytest.fixture
def listed(region: Session) -> Session:
    """alpha offers sourdough bread and wants flour; beta (a print shop) offers flyers; gamma has left."""
    session = region
    alpha = session.scalar(sa.select(Member).where(Member.slug == "alpha"))
    assert alpha is not None
    alpha.trade, alpha.description = "bakery", "We bake every morning."
    beta = session.scalar(sa.select(Member).where(Member.slug == "beta"))
    assert beta is not None
    beta.trade = "printing"
    gamma = session.scalar(sa.select(Member).where(Member.slug == "gamma"))
    assert gamma is not None
    gamma.status = "left"
    session.commit()
    directory.add_listing(session, "alpha", kind="offer", title="Sourdough BREAD", details="Rye and wheat, 100% whole grain", actor="test")
    directory.add_listing(session, "alpha", kind="want", title="Organic flour", actor="test")
    directory.add_listing(session, "beta", kind="offer", title="Flyers", details="Recycled paper, next-day delivery", actor="test")
    directory.add_listing(session, "gamma", kind="offer", title="Bread crates", actor="test")
    return session


def found(session: Session, query: str = "", kind: str | None = None) -> list[str]:
    return [profile.slug for profile in directory.search_directory(session, query=query, kind=kind).profiles]


def test_search_finds_members_by_offer_text_in_any_case(listed: Session) -> None:
    assert found(listed, "bread") == ["alpha"]  # gamma offers bread crates but has left
    assert found(listed, "RECYCLED") == ["beta"]  # an offer's details
    assert found(listed, "  whole   GRAIN ") == ["alpha"]  # spaces are normalised
    assert found(listed, "flour") == ["alpha"]  # a want's title


def test_search_finds_members_by_name_trade_and_description(listed: Session) -> None:
    assert found(listed, "BETA") == ["beta"]
    assert found(listed, "Print") == ["beta"]
    assert found(listed, "every morning") == ["alpha"]
    assert found(listed) == ["alpha", "beta"]  # active members only, by name
    assert found(listed, "nothing like this") == []


def test_like_wildcards_in_a_search_are_plain_characters(listed: Session) -> None:
    assert found(listed, "100%") == ["alpha"]
    assert found(listed, "%") == ["alpha"]
    assert found(listed, "_") == []


def test_the_kind_filter_shows_only_that_kind_and_matches_only_on_it(listed: Session) -> None:
    assert found(listed, kind="want") == ["alpha"]
    assert found(listed, kind="offer") == ["alpha", "beta"]
    assert found(listed, "flour", kind="offer") == []
    assert found(listed, "bakery", kind="offer") == []  # with a kind, only the listings are searched
    (alpha,) = directory.search_directory(listed, query="flour", kind="want").profiles
    assert ([w.title for w in alpha.wants], alpha.offers) == (["Organic flour"], ())


def test_a_profile_has_no_balance_and_lists_offers_and_wants(listed: Session) -> None:
    profile = directory.get_profile(listed, "alpha")
    assert (profile.name, profile.trade, profile.description) == ("Alpha", "bakery", "We bake every morning.")
    assert [o.title for o in profile.offers] == ["Sourdough BREAD"] and [w.title for w in profile.wants] == ["Organic flour"]
    assert not hasattr(profile, "balance_minor")
    with pytest.raises(errors.MemberNotFound):
        directory.get_profile(listed, "nobody")


@pytest.mark.parametrize(
    ("kind", "title", "details"),
    [
        ("offer", "   ", ""),
        ("offer", "x" * (directory.TITLE_LENGTH_MAX + 1), ""),
        ("offer", "Fine", "x" * (directory.DETAILS_LENGTH_MAX + 1)),
        ("gift", "Fine", ""),
    ],
)
def test_a_listing_needs_a_known_kind_and_a_short_title(listed: Session, kind: str, title: str, details: str) -> None:
    before = listed.scalar(sa.select(sa.func.count()).select_from(MemberListing))
    with pytest.raises(errors.InvalidInput):
        directory.add_listing(listed, "alpha", kind=kind, title=title, details=details, actor="test")
    assert listed.scalar(sa.select(sa.func.count()).select_from(MemberListing)) == before


def test_a_profile_holds_at_most_the_maximum_of_listings(listed: Session) -> None:
    for index in range(directory.LISTINGS_PER_MEMBER_MAX - 1):  # beta has one already
        directory.add_listing(listed, "beta", kind="want", title=f"Want {index}", actor="test")
    with pytest.raises(TooManyListings):
        directory.add_listing(listed, "beta", kind="want", title="One too many", actor="test")
    assert len(directory.get_profile(listed, "beta").wants) == directory.LISTINGS_PER_MEMBER_MAX - 1


def test_deleting_another_members_listing_is_not_found_and_changes_nothing(listed: Session) -> None:
    (flyers,) = directory.get_profile(listed, "beta").offers
    with pytest.raises(ListingNotFound):
        directory.delete_listing(listed, "alpha", flyers.id, actor="test")
    assert directory.get_profile(listed, "beta").offers == (flyers,)
    removed = directory.delete_listing(listed, "beta", flyers.id, actor="user:treasurer@beta.example")
    assert removed.title == "Flyers" and directory.get_profile(listed, "beta").offers == ()
    entry = listed.scalars(sa.select(ActivityEntry).where(ActivityEntry.action == "listing.delete")).one()
    assert (entry.actor, entry.subject, entry.details["title"]) == ("user:treasurer@beta.example", "beta", "Flyers")


def test_every_change_to_a_profile_is_in_the_activity_log(listed: Session) -> None:
    directory.set_description(listed, "alpha", description="  New words.  ", actor="user:t@alpha.example")
    assert directory.get_profile(listed, "alpha").description == "New words."
    actions = listed.scalars(sa.select(ActivityEntry.action).where(ActivityEntry.subject == "alpha").order_by(ActivityEntry.id)).all()
    assert actions[-3:] == ["listing.add", "listing.add", "member.description"]
    with pytest.raises(errors.InvalidInput):
        directory.set_description(listed, "alpha", description="x" * (directory.DESCRIPTION_LENGTH_MAX + 1), actor="test")


@pytest.mark.parametrize(
    ("kind", "title"),
    [("gift", "A gift"), ("offer", "")],
)
def test_the_database_refuses_a_listing_of_unknown_kind_or_without_a_title(listed: Session, kind: str, title: str) -> None:
    alpha_id = listed.scalar(sa.select(Member.id).where(Member.slug == "alpha"))
    with pytest.raises(sa.exc.IntegrityError):
        listed.execute(
            sa.text(
                "INSERT INTO member_listings (member_id, kind, title, details, created_at, updated_at)"
                " VALUES (:member_id, :kind, :title, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"member_id": alpha_id, "kind": kind, "title": title},
        )
        listed.commit()
    listed.rollback()


def test_the_demo_gives_each_co_op_one_to_three_offers_and_one_or_two_wants() -> None:
    from mutualcredit.demo import CO_OPS

    assert set(directory.DEMO_LISTINGS) == {co_op[0] for co_op in CO_OPS}
    for slug, (offers, wants) in directory.DEMO_LISTINGS.items():
        assert 1 <= len(offers) <= 3 and 1 <= len(wants) <= 2, slug
