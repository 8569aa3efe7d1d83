"""Helpers for page tests: an app on a small region with one user per role, and logging in with CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from conftest import set_up_region
from mutualcredit.users import service as users
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS
from webapp import create_app

PASSWORD = "a long test password"
# role -> (email, regional roles, (member, role) pairs); None is nobody.
PEOPLE: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]] | None] = {
    "anonymous": None,
    "treasurer_a": ("treasurer@alpha.example", (), (("alpha", "treasurer"),)),
    "viewer_a": ("viewer@alpha.example", (), (("alpha", "viewer"),)),
    "treasurer_b": ("treasurer@beta.example", (), (("beta", "treasurer"),)),
    "coordinator": ("coordinator@region.example", ("coordinator",), ()),
    "auditor": ("auditor@region.example", ("auditor",), ()),
    "admin": ("admin@region.example", ("admin",), ()),
}
ROLES = tuple(PEOPLE)
CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def make_app(database_url: str, **config: Any) -> Flask:
    """The web app on a region with members alpha and beta and one user per role."""
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "PASSWORD_HASHING": FAST_HASHING_FOR_TESTS, **config})
    session: Session = app.extensions["mutualcredit.sessions"]()
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None)})
    for person in PEOPLE.values():
        if person is None:
            continue
        email, regional, member_roles = person
        users.add_user(
            session,
            email=email,
            display_name=email.split("@")[0].title(),
            password=PASSWORD,
            actor="test",
            regional_roles=regional,
            member_roles=member_roles,
            hashing=FAST_HASHING_FOR_TESTS,
        )
    session.close()
    return app


def csrf_token(client: FlaskClient, path: str = "/login", **kwargs: Any) -> str:
    """The CSRF token of the form at ``path`` (every page's logout form carries one too)."""
    page = client.get(path, **kwargs).get_data(as_text=True)
    match = CSRF_PATTERN.search(page)
    assert match is not None, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def log_in(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs: Any) -> TestResponse:
    return client.post("/login", data={"csrf_token": csrf_token(client, **kwargs), "email": email, "password": password}, **kwargs)


def client_as(app: Flask, role: str) -> FlaskClient:
    """A test client logged in as the user with ``role`` (or nobody)."""
    client = app.test_client()
    person = PEOPLE[role]
    if person is not None:
        response = log_in(client, person[0])
        assert response.status_code == 303, response.get_data(as_text=True)
    return client


def login_error(page: str) -> str:
    """The error paragraph of a login page ('' if none)."""
    match = re.search(r'<p class="notice notice-error" role="alert">(.*?)</p>', page, re.S)
    return match.group(1).strip() if match else ""
