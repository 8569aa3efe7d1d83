"""Every page and form, for every role: the status each role gets, and that refusals change nothing.

One test per role (on SQLite and PostgreSQL) runs every case with a freshly
logged-in client and collects every mismatch, so one run shows the whole
matrix. Forged form fields are cases of their own: another co-op's member
slug in a token form, another co-op's token id in a revoke URL, a regional
role in a coordinator's invitation. ``test_the_matrix_covers_every_page_and_form``
fails when a page is added without its row here.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from mutualcredit.invoices import service as invoices
from mutualcredit.invoices.service import InvoiceDraft
from mutualcredit.tokens.service import create_token, list_tokens
from mutualcredit.users import service as users
from matrix_support import LOGIN, Case, everyone, logged_in, run_case
from web_helpers import PASSWORD, ROLES, client_as, make_app

ANONYMOUS, TREASURER_A, VIEWER_A, TREASURER_B, COORDINATOR, AUDITOR, ADMIN = ROLES
def fresh_token(member: str | None) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        if member is None:
            _, view = create_token(session, role="auditor", scopes=["accounts:read"], created_by="test")
        else:
            _, view = create_token(session, member_slug=member, scopes=["accounts:read"], created_by="test")
        return {"token": view.public_id}

    return prepare


def fresh_invitation(session: Session) -> dict[str, Any]:
    secret, _ = users.invite(session, email=f"new-{len(users.list_open_invitations(session))}@alpha.example", member_slug="alpha", member_role="viewer", actor="test")
    return {"secret": secret}


def token_still_active(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
    revoked = [view for view in list_tokens(session) if view.public_id == context["token"] and view.is_revoked]
    if bool(revoked) != allowed:
        return f"token revoked: {bool(revoked)}, expected {allowed}"
    return None


def tokens_of(member: str | None, role: str | None = None) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return sum(1 for view in list_tokens(session) if view.member_slug == member and view.role == role)

    return count


def invitations_for(email: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return sum(1 for view in users.list_open_invitations(session) if view.email == email)

    return count


CASES = [
    # Public pages.
    Case("start page", "GET", "/", everyone(200)),
    Case("health", "GET", "/health", everyone(200)),
    Case("login form", "GET", "/login", everyone(200)),
    Case("login with a wrong password", "POST", "/login", everyone(200), data={"email": "treasurer@alpha.example", "password": "wrong guess"}),
    Case("logout form", "GET", "/logout", everyone(200)),
    Case("log out", "POST", "/logout", everyone(303)),
    # One's own account.
    Case("account", "GET", "/account", logged_in(200)),
    Case("password form", "GET", "/account/password", logged_in(200)),
    Case(
        "password change with a wrong current password",
        "POST",
        "/account/password",
        logged_in(400),
        data={"current_password": "wrong guess", "password": "a new long password", "confirm": "a new long password"},
    ),
    Case("choose a language", "POST", "/account/language", logged_in(303), data={"language-locale": "es"}),
    # Invitations.
    Case("invitation form", "GET", "/invitations/new", logged_in(403, coordinator=200, admin=200)),
    Case(
        "invite a viewer of alpha",
        "POST",
        "/invitations/new",
        logged_in(403, coordinator=200, admin=200),
        data={"email": "invited@alpha.example", "role": "viewer", "member": "alpha", "lifetime_days": "7"},
        count=invitations_for("invited@alpha.example"),
    ),
    Case(
        "invite an admin (forged role for a coordinator)",
        "POST",
        "/invitations/new",
        logged_in(403, admin=200),
        data={"email": "boss@region.example", "role": "admin", "member": "", "lifetime_days": "7"},
        count=invitations_for("boss@region.example"),
    ),
    Case("open an invitation link", "GET", "/invitations/<secret>", everyone(200), path=lambda c: f"/invitations/{c['secret']}", prepare=fresh_invitation),
    Case("open a forged invitation link", "GET", "/invitations/<secret>", everyone(404), path="/invitations/forged-secret"),
    Case(
        "accept an invitation",
        "POST",
        "/invitations/<secret>",
        everyone(303),
        path=lambda c: f"/invitations/{c['secret']}",
        data={"display_name": "Newcomer", "password": PASSWORD, "confirm": PASSWORD},
        prepare=fresh_invitation,
    ),
    # API tokens.
    Case("token list", "GET", "/tokens", logged_in(200)),
    Case(
        "create a token for alpha",
        "POST",
        "/tokens/member",
        logged_in(403, treasurer_a=200),
        data={"member-member": "alpha", "member-scopes": ["accounts:read"]},
        count=tokens_of("alpha"),
    ),
    Case(
        "create a token for beta (forged member for alpha's people)",
        "POST",
        "/tokens/member",
        logged_in(403, treasurer_b=200),
        data={"member-member": "beta", "member-scopes": ["accounts:read", "transfers:write"]},
        count=tokens_of("beta"),
    ),
    Case(
        "create a token for alpha with the admin scope (forged scope)",
        "POST",
        "/tokens/member",
        logged_in(403),
        data={"member-member": "alpha", "member-scopes": ["admin"]},
        count=tokens_of("alpha"),
    ),
    Case(
        "create a regional auditor token",
        "POST",
        "/tokens/regional",
        logged_in(403, admin=200),
        data={"regional-role": "auditor", "regional-scopes": ["accounts:read"]},
        count=tokens_of(None, "auditor"),
    ),
    Case(
        "create a regional admin token",
        "POST",
        "/tokens/regional",
        logged_in(403, admin=200),
        data={"regional-role": "admin", "regional-scopes": ["admin"]},
        count=tokens_of(None, "admin"),
    ),
    Case(
        "revoke one of alpha's tokens",
        "POST",
        "/tokens/<public_id>/revoke",
        logged_in(403, treasurer_a=303, admin=303, treasurer_b=404),
        path=lambda c: f"/tokens/{c['token']}/revoke",
        prepare=fresh_token("alpha"),
        check=token_still_active,
    ),
    Case(
        "revoke one of beta's tokens (forged id for alpha's people)",
        "POST",
        "/tokens/<public_id>/revoke",
        logged_in(403, treasurer_b=303, admin=303, treasurer_a=404, viewer_a=404),
        path=lambda c: f"/tokens/{c['token']}/revoke",
        prepare=fresh_token("beta"),
        check=token_still_active,
    ),
    Case(
        "revoke a regional token",
        "POST",
        "/tokens/<public_id>/revoke",
        logged_in(404, admin=303, coordinator=403, auditor=403),
        path=lambda c: f"/tokens/{c['token']}/revoke",
        prepare=fresh_token(None),
        check=token_still_active,
    ),
    Case("revoke a token that does not exist", "POST", "/tokens/<public_id>/revoke", logged_in(404), path="/tokens/000000000000/revoke"),
]
# --- invoices and clearing -------------------------------------------------------


def fresh_invoice(creditor: str, debtor: str, *, confirm: bool = False) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        number = f"N-{uuid.uuid4().hex[:8]}"
        (view,) = invoices.record_invoices(session, creditor, [InvoiceDraft(number, debtor, 1_000, dt.date(2026, 12, 31))], created_by="test")
        if confirm:
            view = invoices.confirm_invoice(session, view.id, debtor=debtor, actor="test")
        return {"invoice": str(view.id)}

    return prepare


def invoice_unchanged_unless_allowed(state_if_allowed: str) -> Callable[[Session, dict[str, Any], bool], str | None]:
    def check(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
        view = invoices.get_invoice(session, uuid.UUID(context["invoice"]))
        before = "confirmed" if state_if_allowed == "settled" else "recorded"
        expected = state_if_allowed if allowed else before
        return None if view.state == expected else f"invoice {view.state}, expected {expected}"

    return check


def invoices_of(creditor: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return len(invoices.list_invoices(session, member=creditor, side="creditor"))

    return count


def runs_count(session: Session) -> int:
    return len(invoices.list_runs(session))


def fresh_run(session: Session) -> dict[str, Any]:
    fresh_invoice("alpha", "beta", confirm=True)(session)
    fresh_invoice("beta", "alpha", confirm=True)(session)
    reference = f"run-{uuid.uuid4().hex[:8]}"
    invoices.run_clearing(session, reference=reference, actor="test")
    return {"reference": reference}


def invoice_csv(creditor: str, debtor: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def data(_context: dict[str, Any]) -> dict[str, Any]:
        content = f"number,debtor,amount,due\nU-{uuid.uuid4().hex[:8]},{debtor},12,2026-12-31\n".encode()
        return {"creditor": creditor, "file": (io.BytesIO(content), "invoices.csv")}

    return data


def previewed(creditor: str, debtor: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def data(_context: dict[str, Any]) -> dict[str, Any]:
        return {"creditor": creditor, "content": f"number,debtor,amount,due\nP-{uuid.uuid4().hex[:8]},{debtor},12,2026-12-31\n"}

    return data


INVOICE_CASES = [
    Case("invoice list", "GET", "/invoices", logged_in(200)),
    Case("new invoice form", "GET", "/invoices/new", logged_in(403, treasurer_a=200, treasurer_b=200)),
    Case(
        "record an invoice alpha is owed",
        "POST",
        "/invoices/new",
        logged_in(403, treasurer_a=303),
        data=lambda c: {"creditor": "alpha", "debtor": "beta", "number": f"W-{uuid.uuid4().hex[:8]}", "amount": "10", "due": "2026-12-31"},
        count=invoices_of("alpha"),
    ),
    Case(
        "record an invoice beta is owed (forged creditor for alpha's people)",
        "POST",
        "/invoices/new",
        logged_in(403, treasurer_b=303),
        data=lambda c: {"creditor": "beta", "debtor": "alpha", "number": f"W-{uuid.uuid4().hex[:8]}", "amount": "10", "due": "2026-12-31"},
        count=invoices_of("beta"),
    ),
    Case("upload form", "GET", "/invoices/upload", logged_in(403, treasurer_a=200, treasurer_b=200)),
    Case(
        "preview a CSV for alpha (records nothing yet)",
        "POST",
        "/invoices/upload",
        logged_in(403, treasurer_a=200),
        data=invoice_csv("alpha", "beta"),
        prepare=lambda session: {"before": invoices_of("alpha")(session)},
        check=lambda session, c, _allowed: None if invoices_of("alpha")(session) == c["before"] else "a preview recorded invoices",
    ),
    Case(
        "record a previewed CSV for alpha",
        "POST",
        "/invoices/upload/confirm",
        logged_in(403, treasurer_a=303),
        data=previewed("alpha", "beta"),
        count=invoices_of("alpha"),
    ),
    Case(
        "record a previewed CSV for beta (forged creditor)",
        "POST",
        "/invoices/upload/confirm",
        logged_in(403, treasurer_b=303),
        data=previewed("beta", "alpha"),
        count=invoices_of("beta"),
    ),
    Case(
        "confirm an invoice beta owes",
        "POST",
        "/invoices/<uuid:invoice_id>/confirm",
        logged_in(403, treasurer_b=303),
        path=lambda c: f"/invoices/{c['invoice']}/confirm",
        prepare=fresh_invoice("alpha", "beta"),
        check=invoice_unchanged_unless_allowed("confirmed"),
    ),
    Case(
        "confirm an invoice alpha owes (forged id for beta's people)",
        "POST",
        "/invoices/<uuid:invoice_id>/confirm",
        logged_in(403, treasurer_a=303),
        path=lambda c: f"/invoices/{c['invoice']}/confirm",
        prepare=fresh_invoice("beta", "alpha"),
        check=invoice_unchanged_unless_allowed("confirmed"),
    ),
    Case(
        "dispute an invoice beta owes",
        "POST",
        "/invoices/<uuid:invoice_id>/dispute",
        logged_in(403, treasurer_b=303),
        path=lambda c: f"/invoices/{c['invoice']}/dispute",
        data={"reason": "never delivered"},
        prepare=fresh_invoice("alpha", "beta"),
        check=invoice_unchanged_unless_allowed("disputed"),
    ),
    Case(
        "settle an invoice alpha owes",
        "POST",
        "/invoices/<uuid:invoice_id>/settle",
        logged_in(403, treasurer_a=303),
        path=lambda c: f"/invoices/{c['invoice']}/settle",
        prepare=fresh_invoice("beta", "alpha", confirm=True),
        check=invoice_unchanged_unless_allowed("settled"),
    ),
    Case("confirm an invoice that does not exist", "POST", "/invoices/<uuid:invoice_id>/confirm", logged_in(404), path=f"/invoices/{uuid.UUID(int=0)}/confirm" ),
    Case("clearing runs", "GET", "/clearing", logged_in(200)),
    Case("start a clearing run", "POST", "/clearing", logged_in(403, coordinator=303, admin=303), data=lambda c: {"reference": f"r-{uuid.uuid4().hex[:8]}"}, count=runs_count),
    Case("a clearing run", "GET", "/clearing/<reference>", logged_in(200), path=lambda c: f"/clearing/{c['reference']}", prepare=fresh_run),
    Case("a clearing run that does not exist", "GET", "/clearing/<reference>", logged_in(404), path="/clearing/nope"),
    Case(
        "alpha's set-off notice",
        "GET",
        "/clearing/<reference>/notice/<member>",
        logged_in(200, treasurer_b=404),
        path=lambda c: f"/clearing/{c['reference']}/notice/alpha",
        prepare=fresh_run,
    ),
    Case(
        "alpha's set-off notice as CSV",
        "GET",
        "/clearing/<reference>/notice/<member>.csv",
        logged_in(200, treasurer_b=404),
        path=lambda c: f"/clearing/{c['reference']}/notice/alpha.csv",
        prepare=fresh_run,
    ),
]
CASES += INVOICE_CASES
# Each area's cases, from tests/http/matrix_cases_<area>.py.
for _module_path in sorted(Path(__file__).parent.glob("matrix_cases_*.py")):
    CASES += importlib.import_module(_module_path.stem).CASES


# What the start page shows each role: only the members they may read.
VISIBLE_MEMBERS = {
    ANONYMOUS: set(),
    TREASURER_A: {"Alpha"},
    VIEWER_A: {"Alpha"},
    TREASURER_B: {"Beta"},
    COORDINATOR: {"Alpha", "Beta"},
    AUDITOR: {"Alpha", "Beta"},
    ADMIN: {"Alpha", "Beta"},
}


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url, LOGIN_RATE_LIMIT="1000 per minute")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_form_answers_each_role_as_the_matrix_says(app: Flask, role: str) -> None:
    problems = [problem for case in CASES if (problem := run_case(app, role, case))]
    assert problems == []


@pytest.mark.parametrize("role", ROLES)
def test_the_start_page_shows_only_the_members_a_role_may_read(sqlite_url: str, role: str) -> None:
    app = make_app(sqlite_url)
    page = client_as(app, role).get("/").get_data(as_text=True)
    shown = {name for name in ("Alpha", "Beta") if f"<td>{name}</td>" in page}
    assert shown == VISIBLE_MEMBERS[role]


def test_the_matrix_covers_every_page_and_form(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    pages = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api/") and rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    covered = {(case.rule, case.method) for case in CASES}
    assert sorted(pages - covered) == []
    assert sorted(covered - pages) == []


def test_the_matrix_would_notice_a_page_that_let_everyone_in(sqlite_url: str) -> None:
    """The check itself can fail: a case expecting 403 for a viewer reports a 200."""
    app = make_app(sqlite_url)
    lenient = Case("token list, wrongly expected closed", "GET", "/tokens", logged_in(403))
    assert run_case(app, VIEWER_A, lenient) == "token list, wrongly expected closed: 200, expected 403"
