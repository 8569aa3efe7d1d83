"""Directory pages end to end: search without JavaScript, profiles, and editing by the co-op's treasurers only."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mutualcredit.members import directory
from web_helpers import client_as, csrf_token, make_app


@pytest.fixture
def app(database_url: str) -> Flask:
    app = make_app(database_url)
    with app.extensions["mutualcredit.sessions"]() as session:
        directory.add_listing(session, "alpha", kind="offer", title="Sourdough bread", details="Baked at dawn", actor="test")
        directory.add_listing(session, "beta", kind="want", title="Cargo-bike deliveries", actor="test")
    return app


def post(client: FlaskClient, path: str, **data: object) -> object:
    return client.post(path, data={"csrf_token": csrf_token(client, "/directory"), **data})


def profile(app: Flask, slug: str) -> directory.ProfileView:
    with app.extensions["mutualcredit.sessions"]() as session:
        return directory.get_profile(session, slug)


def members_shown(page: str) -> list[str]:
    return re.findall(r'<h2><a href="/directory/([a-z0-9-]+)">', page)


def field_errors(page: str, field_id: str) -> list[str]:
    match = re.search(rf'<ul class="errors" id="{field_id}-errors">(.*?)</ul>', page, re.S)
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", match.group(1))] if match else []


def test_every_logged_in_person_searches_the_directory_by_offer_text_without_javascript(app: Flask) -> None:
    for role in ("viewer_a", "treasurer_b", "auditor"):
        client = client_as(app, role)
        page = client.get("/directory").get_data(as_text=True)
        assert members_shown(page) == ["alpha", "beta"] and "Sourdough bread" in page
        assert client.get("/directory?q=SOURDOUGH").status_code == 200
        assert members_shown(client.get("/directory?q=SOURDOUGH").get_data(as_text=True)) == ["alpha"]
        assert members_shown(client.get("/directory?q=cargo&kind=want").get_data(as_text=True)) == ["beta"]
        assert members_shown(client.get("/directory?q=cargo&kind=offer").get_data(as_text=True)) == []
    anonymous = app.test_client().get("/directory")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_directory_shows_no_balance_and_a_profile_no_email(app: Flask) -> None:
    client = client_as(app, "treasurer_b")
    page = client.get("/directory").get_data(as_text=True)
    assert " T<" not in page and "0.00" not in page  # no amounts at all
    page = client.get("/directory/alpha").get_data(as_text=True)
    assert "<h1>Alpha</h1>" in page and "Sourdough bread: Baked at dawn" in page
    assert "@" not in page.split("<main", 1)[1].split("</main>", 1)[0]
    assert "/directory/alpha/edit" not in page  # not beta's to edit
    assert client.get("/directory/nobody").status_code == 404


def test_bad_search_values_are_refused_with_a_message_and_kept(app: Flask) -> None:
    client = client_as(app, "viewer_a")
    response = client.get("/directory?q=bread&kind=gift")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page, "kind") and 'value="bread"' in page
    assert client.get("/directory?q=" + "x" * (directory.QUERY_LENGTH_MAX + 1)).status_code == 400


def test_a_treasurer_edits_the_description_and_adds_and_removes_offers_and_wants(app: Flask) -> None:
    client = client_as(app, "treasurer_a")
    assert "/directory/alpha/edit" in client.get("/directory/alpha").get_data(as_text=True)
    assert client.get("/directory/alpha/edit").status_code == 200
    response = post(client, "/directory/alpha/edit", form="description", description="Bakers since 1990.")
    assert response.status_code == 303
    response = post(client, "/directory/alpha/edit", form="listing", kind="want", title="Rye flour", details="50 kg a week")
    assert response.status_code == 303
    alpha = profile(app, "alpha")
    assert alpha.description == "Bakers since 1990." and [(w.title, w.details) for w in alpha.wants] == [("Rye flour", "50 kg a week")]
    assert "Rye flour" in client.get("/directory?q=rye").get_data(as_text=True)

    (bread,) = alpha.offers
    response = post(client, f"/directory/alpha/listings/{bread.id}/delete")
    assert response.status_code == 303
    assert profile(app, "alpha").offers == ()
    assert "“Sourdough bread” is removed." in html.unescape(client.get("/directory/alpha/edit").get_data(as_text=True))


def test_a_listing_without_a_title_gets_a_message_next_to_the_field_and_keeps_what_was_typed(app: Flask) -> None:
    client = client_as(app, "treasurer_a")
    response = post(client, "/directory/alpha/edit", form="listing", kind="offer", title="", details="Some details typed")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page, "title") and "Some details typed" in page
    too_long = post(client, "/directory/alpha/edit", form="description", description="x" * (directory.DESCRIPTION_LENGTH_MAX + 1))
    assert too_long.status_code == 400 and field_errors(too_long.get_data(as_text=True), "description")
    assert profile(app, "alpha").description == "" and len(profile(app, "alpha").offers) == 1


@pytest.mark.parametrize("role", ["viewer_a", "treasurer_b", "auditor", "coordinator", "admin"])
def test_only_the_co_ops_treasurers_edit_its_profile(app: Flask, role: str) -> None:
    client = client_as(app, role)
    before = profile(app, "alpha")
    (bread,) = before.offers
    assert client.get("/directory/alpha/edit").status_code == 403
    assert post(client, "/directory/alpha/edit", form="description", description="Hijacked").status_code == 403
    assert post(client, "/directory/alpha/edit", form="listing", kind="offer", title="Free money").status_code == 403
    assert post(client, f"/directory/alpha/listings/{bread.id}/delete").status_code == 403
    assert profile(app, "alpha") == before


def test_a_forged_listing_id_of_another_co_op_is_not_found_and_nothing_changes(app: Flask) -> None:
    client = client_as(app, "treasurer_b")
    (bread,) = profile(app, "alpha").offers
    assert post(client, f"/directory/beta/listings/{bread.id}/delete").status_code == 404
    assert post(client, "/directory/beta/listings/999999/delete").status_code == 404
    assert profile(app, "alpha").offers == (bread,)
