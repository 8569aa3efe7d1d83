"""The web app answers with the region's members and their balances, to those who may read them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from mutualcredit.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
from mutualcredit.members.service import list_members
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS
from webapp import create_app
from web_helpers import log_in


@pytest.fixture
def demo_app(sqlite_url: str):  # type: ignore[no-untyped-def]
    app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True, "PASSWORD_HASHING": FAST_HASHING_FOR_TESTS})
    with app.app_context():
        session: Session = app.extensions["mutualcredit.sessions"]()
        load_demo(session, password_hashing=FAST_HASHING_FOR_TESTS)
        session.close()
    return app


def auditor(app):  # type: ignore[no-untyped-def]
    """A client logged in as the demo auditor, who reads every member."""
    client = app.test_client()
    assert log_in(client, "auditor@ribera.example", DEMO_PASSWORD).status_code == 303
    return client


def test_the_home_page_asks_visitors_to_log_in_and_shows_them_no_member_data(demo_app) -> None:  # type: ignore[no-untyped-def]
    response = demo_app.test_client().get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Ribera Co-operative Network" in page and 'href="/login"' in page
    assert "Horno Común Bakery" not in page and " RC<" not in page


@pytest.mark.parametrize("email", [user[0] for user in DEMO_USERS])
def test_every_demo_user_logs_in_with_the_demo_password(demo_app, email: str) -> None:  # type: ignore[no-untyped-def]
    assert log_in(demo_app.test_client(), email, DEMO_PASSWORD).status_code == 303


def test_a_demo_treasurer_sees_only_their_own_co_op(demo_app) -> None:  # type: ignore[no-untyped-def]
    client = demo_app.test_client()
    log_in(client, "treasurer@horno-comun.example", DEMO_PASSWORD)
    page = client.get("/").get_data(as_text=True)
    assert "Horno Común Bakery" in page and "Tierra Viva Farm" not in page


def test_the_home_page_lists_every_demo_member_with_its_balance(demo_app) -> None:  # type: ignore[no-untyped-def]
    response = auditor(demo_app).get("/", headers={"Accept-Language": "en"})
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
    client = auditor(demo_app)
    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    spanish = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert english != spanish
    assert ",00 RC" in spanish or ",50 RC" in spanish or any(f",{d}" in spanish for d in range(10))
    assert "Miembros y saldos" in spanish and "Members and balances" in english


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
