"""The web app answers with the region's members and their balances."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from mutualcredit.demo import load_demo
from mutualcredit.members.service import list_members
from webapp import create_app


@pytest.fixture
def demo_app(sqlite_url: str):  # type: ignore[no-untyped-def]
    app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True})
    with app.app_context():
        session: Session = app.extensions["mutualcredit.sessions"]()
        load_demo(session)
        session.close()
    return app


def test_the_home_page_lists_every_demo_member_with_its_balance(demo_app) -> None:  # type: ignore[no-untyped-def]
    response = demo_app.test_client().get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    session = demo_app.extensions["mutualcredit.sessions"]()
    for member in list_members(session):
        assert member.name.replace("&", "&amp;") in page
    first = list_members(session)[0]
    session.close()
    from mutualcredit.money import Unit, format_amount

    assert format_amount(first.balance_minor, Unit("RBC", "Ribera credit", "RC", 2), "en") in page


def test_amounts_follow_the_browser_language(demo_app) -> None:  # type: ignore[no-untyped-def]
    english = demo_app.test_client().get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    spanish = demo_app.test_client().get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert english != spanish
    assert ",00 RC" in spanish or ",50 RC" in spanish or any(f",{d}" in spanish for d in range(10))


def test_an_unset_region_says_how_to_set_it_up(sqlite_url: str) -> None:
    response = create_app({"DATABASE_URL": sqlite_url}).test_client().get("/")
    assert response.status_code == 503
    assert "mutualcredit region init" in response.get_data(as_text=True)


def test_health_answers_ok_when_the_database_answers(demo_app) -> None:  # type: ignore[no-untyped-def]
    assert demo_app.test_client().get("/health").get_json() == {"status": "ok"}


def test_health_says_503_when_the_region_is_not_set_up_or_the_database_not_migrated(sqlite_url: str, tmp_path) -> None:
    assert create_app({"DATABASE_URL": sqlite_url}).test_client().get("/health").status_code == 503
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    response = create_app({"DATABASE_URL": empty}).test_client().get("/health")
    assert response.status_code == 503 and "not migrated" in response.get_json()["status"]


def test_the_home_page_of_an_unmigrated_database_says_to_migrate(tmp_path) -> None:
    response = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}).test_client().get("/")
    assert response.status_code == 503
    assert "mutualcredit db upgrade" in response.get_data(as_text=True)
