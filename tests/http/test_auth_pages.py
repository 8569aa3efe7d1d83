"""Logging in and out, CSRF, rate limits, lock-out, invitations, API-token pages, translations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask

from mutualcredit.tokens.service import list_tokens
from mutualcredit.users import service as users
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS
from web_helpers import PASSWORD, client_as, csrf_token, log_in, login_error, make_app

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webapp" / "translations"
TREASURER_A = "treasurer@alpha.example"


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url)


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Flask:
    return make_app(sqlite_url)


# ---------------------------------------------------------------------------
# Logging in and out


def test_the_login_page_labels_every_input_and_carries_a_csrf_token(sqlite_app: Flask) -> None:
    page = sqlite_app.test_client().get("/login").get_data(as_text=True)
    inputs = re.findall(r'<input[^>]*\bid="([^"]+)"[^>]*type="(?!hidden)[^"]+"', page)
    assert set(inputs) == {"email", "password"}
    for input_id in inputs:
        assert f'<label for="{input_id}">' in page
    assert 'autocomplete="current-password"' in page
    assert csrf_token(sqlite_app.test_client())


def test_a_signed_in_browser_s_cookie_opens_no_api_call_and_the_api_sets_none(sqlite_app: Flask) -> None:
    client = sqlite_app.test_client()
    assert log_in(client, "Treasurer@Alpha.example").status_code == 303
    assert client.get("/dashboard", follow_redirects=True).status_code == 200  # the cookie works for pages
    response = client.get("/api/v1/accounts")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers
    assert client.get("/dashboard", follow_redirects=True).status_code == 200  # and still does afterwards


def test_a_person_logs_in_sees_their_co_op_and_logs_out(app: Flask) -> None:
    client = app.test_client()
    anonymous = client.get("/").get_data(as_text=True)
    assert "/login" in anonymous and "Alpha" not in anonymous
    response = log_in(client, "Treasurer@Alpha.example")
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"
    home = client.get("/").get_data(as_text=True)
    assert "Alpha" in home and "Beta" not in home
    token = csrf_token(client, "/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert client.get("/tokens").status_code == 302
    assert "Alpha" not in client.get("/").get_data(as_text=True)


def test_a_page_that_needs_a_login_sends_there_and_back_but_never_to_another_site(sqlite_app: Flask) -> None:
    client = sqlite_app.test_client()
    response = client.get("/tokens")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=%2Ftokens"
    response = client.post(
        "/login", data={"csrf_token": csrf_token(client, "/login?next=/tokens"), "email": TREASURER_A, "password": PASSWORD, "next": "/tokens"}
    )
    assert response.headers["Location"] == "/tokens"
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        client = sqlite_app.test_client()
        response = client.post(
            "/login", data={"csrf_token": csrf_token(client), "email": TREASURER_A, "password": PASSWORD, "next": target}
        )
        assert response.headers["Location"] == "/dashboard", target


def test_a_form_without_its_csrf_token_is_refused(sqlite_app: Flask) -> None:
    client = sqlite_app.test_client()
    response = client.post("/login", data={"email": TREASURER_A, "password": PASSWORD})
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert client.get("/tokens").status_code == 302  # not logged in
    client = client_as(sqlite_app, "treasurer_a")
    for token in (None, "forged", csrf_token(sqlite_app.test_client())):  # another session's token is no better
        data = {"member-member": "alpha", "member-scopes": ["accounts:read"]}
        if token:
            data["csrf_token"] = token
        assert client.post("/tokens/member", data=data).status_code == 400
    session = sqlite_app.extensions["mutualcredit.sessions"]()
    assert list_tokens(session) == []
    session.close()


def test_the_json_api_is_not_asked_for_csrf_tokens(sqlite_app: Flask) -> None:
    sqlite_app.add_url_rule("/api/v1/test-echo", "test_echo", lambda: {"ok": True}, methods=["POST"])
    sqlite_app.add_url_rule("/test-echo", "test_page_echo", lambda: {"ok": True}, methods=["POST"])
    client = sqlite_app.test_client()
    assert client.post("/api/v1/test-echo", json={}).status_code == 200
    assert client.post("/test-echo", data={}).status_code == 400


def test_login_attempts_are_rate_limited_per_address_with_a_page_that_says_so(sqlite_url: str) -> None:
    app = make_app(sqlite_url, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf_token(client)
    for attempt in range(3):
        response = client.post("/login", data={"csrf_token": token, "email": f"nobody{attempt}@example.org", "password": "wrong guess"})
        assert response.status_code == 200
    response = client.post("/login", data={"csrf_token": token, "email": TREASURER_A, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # reading the form is not limited
    spanish = client.post("/login", data={"csrf_token": token}, headers={"Accept-Language": "es"})
    assert spanish.status_code == 429 and "Demasiados intentos" in spanish.get_data(as_text=True)
    elsewhere = app.test_client()
    response = log_in(elsewhere, TREASURER_A, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 303


def test_the_lock_out_message_does_not_tell_whether_an_email_exists(sqlite_app: Flask) -> None:
    def attempt(email: str, password: str) -> tuple[int, str]:
        client = sqlite_app.test_client()
        response = log_in(client, email, password)
        return response.status_code, login_error(response.get_data(as_text=True))

    unknown = attempt("nobody@alpha.example", "wrong guess")
    wrong = [attempt(TREASURER_A, "wrong guess") for _ in range(users.LOGIN_FAILURES_MAX)]
    locked = attempt(TREASURER_A, PASSWORD)  # the right password, on a locked account
    assert unknown[1]
    assert {unknown, *wrong, locked} == {unknown}
    assert sqlite_app.test_client().get("/login").status_code == 200


def test_session_cookies_are_http_only_same_site_and_secure_except_for_local_http(sqlite_url: str) -> None:
    from webapp import create_app

    production = create_app({"DATABASE_URL": sqlite_url})
    cookie = production.test_client().get("/login", base_url="https://localhost").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    demo = create_app({"DATABASE_URL": sqlite_url, "INSECURE_COOKIES": True})
    cookie = demo.test_client().get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert production.config["PASSWORD_HASHING"].memory_cost_kib >= 65_536
    lowered = create_app({"DATABASE_URL": sqlite_url, "PASSWORD_HASHING": FAST_HASHING_FOR_TESTS})
    assert lowered.config["PASSWORD_HASHING"].memory_cost_kib >= 65_536  # only tests may lower it


def test_pages_forbid_framing_sniffing_and_outside_scripts(sqlite_app: Flask) -> None:
    headers = sqlite_app.test_client().get("/login").headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_changing_one_s_password_ends_one_s_other_sessions(sqlite_app: Flask) -> None:
    here, elsewhere = client_as(sqlite_app, "treasurer_a"), client_as(sqlite_app, "treasurer_a")
    response = here.post(
        "/account/password",
        data={"csrf_token": csrf_token(here, "/account/password"), "current_password": PASSWORD, "password": "a new long password", "confirm": "a new long password"},
    )
    assert response.status_code == 303
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302
    assert log_in(sqlite_app.test_client(), TREASURER_A, "a new long password").status_code == 303


def test_a_wrong_current_password_or_differing_new_ones_change_nothing(sqlite_app: Flask) -> None:
    client = client_as(sqlite_app, "treasurer_a")
    token = csrf_token(client, "/account/password")
    wrong = client.post("/account/password", data={"csrf_token": token, "current_password": "wrong guess", "password": "a new long password", "confirm": "a new long password"})
    differ = client.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD, "password": "a new long password", "confirm": "another one"})
    assert (wrong.status_code, differ.status_code) == (400, 400)
    assert "Your current password is not right." in wrong.get_data(as_text=True)
    assert "The two passwords differ." in differ.get_data(as_text=True)
    assert log_in(sqlite_app.test_client(), TREASURER_A).status_code == 303


# ---------------------------------------------------------------------------
# Invitations


def test_a_coordinator_invites_a_viewer_who_joins_once_through_the_link(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    response = coordinator.post(
        "/invitations/new",
        data={"csrf_token": csrf_token(coordinator, "/invitations/new"), "email": "New@Alpha.example", "role": "viewer", "member": "alpha", "lifetime_days": "3"},
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    link = re.search(r'value="(http://localhost/invitations/[^"]+)"', response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert "new@alpha.example" in coordinator.get("/invitations/new").get_data(as_text=True)  # listed as open

    newcomer = app.test_client()
    form = newcomer.get(link)
    assert form.status_code == 200 and "new@alpha.example" in form.get_data(as_text=True)
    token = csrf_token(newcomer, link)
    short = newcomer.post(link, data={"csrf_token": token, "display_name": "Nuria", "password": "short", "confirm": "short"})
    assert short.status_code == 400
    response = newcomer.post(link, data={"csrf_token": token, "display_name": "Nuria", "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 303
    home = newcomer.get("/").get_data(as_text=True)
    assert "Alpha" in home and "Beta" not in home
    assert newcomer.get(link).status_code == 404
    eve = app.test_client()
    reused = eve.post(link, data={"csrf_token": csrf_token(eve), "display_name": "Eve", "password": PASSWORD, "confirm": PASSWORD})
    assert reused.status_code == 404
    assert log_in(app.test_client(), "new@alpha.example").status_code == 303


def test_an_unknown_invitation_link_says_it_is_not_valid(sqlite_app: Flask) -> None:
    response = sqlite_app.test_client().get("/invitations/not-a-real-secret", headers={"Accept-Language": "fr"})
    assert response.status_code == 404
    assert "Ce lien d’invitation n’est pas valide" in response.get_data(as_text=True)


def test_inviting_someone_who_has_an_account_says_so(sqlite_app: Flask) -> None:
    admin = client_as(sqlite_app, "admin")
    response = admin.post(
        "/invitations/new",
        data={"csrf_token": csrf_token(admin, "/invitations/new"), "email": TREASURER_A, "role": "auditor", "member": "", "lifetime_days": "7"},
    )
    assert response.status_code == 400
    assert "already has an account" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------
# API tokens


def test_a_treasurer_creates_a_token_sees_it_once_uses_it_and_revokes_it(app: Flask) -> None:
    client = client_as(app, "treasurer_a")
    page = client.get("/tokens").get_data(as_text=True)
    assert "New token for a co-op" in page and "New regional token" not in page
    response = client.post(
        "/tokens/member",
        data={"csrf_token": csrf_token(client, "/tokens"), "member-member": "alpha", "member-name": "till", "member-scopes": ["accounts:read", "transfers:write"]},
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(mct_[^"]+)"', response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    public_id = secret.split("_")[1]

    api = app.test_client()
    accounts = api.get("/api/v1/accounts", headers={"Authorization": f"Bearer {secret}"})
    assert accounts.status_code == 200 and [a["code"] for a in accounts.get_json()] == ["alpha"]

    listing = client.get("/tokens").get_data(as_text=True)
    assert public_id in listing and secret not in listing and "till" in listing
    assert "never" not in listing.split(public_id, 1)[1].split("</tr>", 1)[0]  # last use is shown
    response = client.post(f"/tokens/{public_id}/revoke", data={"csrf_token": csrf_token(client, "/tokens")})
    assert response.status_code == 303
    assert "revoked on" in client.get("/tokens").get_data(as_text=True)
    assert api.get("/api/v1/accounts", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_a_token_needs_a_scope_and_refuses_unknown_ones(sqlite_app: Flask) -> None:
    client = client_as(sqlite_app, "treasurer_a")
    token = csrf_token(client, "/tokens")
    nothing = client.post("/tokens/member", data={"csrf_token": token, "member-member": "alpha"})
    assert nothing.status_code == 400
    unknown = client.post("/tokens/member", data={"csrf_token": token, "member-member": "alpha", "member-scopes": ["root"]})
    assert unknown.status_code == 403
    session = sqlite_app.extensions["mutualcredit.sessions"]()
    assert list_tokens(session) == []
    session.close()


def test_an_admin_creates_a_regional_token(sqlite_app: Flask) -> None:
    client = client_as(sqlite_app, "admin")
    assert "New regional token" in client.get("/tokens").get_data(as_text=True)
    response = client.post(
        "/tokens/regional",
        data={"csrf_token": csrf_token(client, "/tokens"), "regional-role": "admin", "regional-scopes": ["accounts:read", "admin"]},
    )
    assert response.status_code == 200 and "mct_" in response.get_data(as_text=True)
    session = sqlite_app.extensions["mutualcredit.sessions"]()
    assert [(t.role, t.scopes, t.created_by) for t in list_tokens(session)] == [("admin", ("accounts:read", "admin"), "user:admin@region.example")]
    session.close()


def test_a_viewer_sees_their_co_op_s_tokens_but_no_form_to_change_them(sqlite_app: Flask) -> None:
    treasurer = client_as(sqlite_app, "treasurer_a")
    treasurer.post("/tokens/member", data={"csrf_token": csrf_token(treasurer, "/tokens"), "member-member": "alpha", "member-scopes": ["accounts:read"]})
    page = client_as(sqlite_app, "viewer_a").get("/tokens").get_data(as_text=True)
    assert "accounts:read" in page
    assert "/revoke" not in page and "New token" not in page


# ---------------------------------------------------------------------------
# Languages


@pytest.mark.parametrize(
    ("accept_language", "locale", "heading", "labels"),
    [
        ("es", "es", "Iniciar sesión", ("Correo electrónico", "Contraseña")),
        ("fr-CA,fr;q=0.9", "fr", "Se connecter", ("Adresse e-mail", "Mot de passe")),
        ("de, fr;q=0.5", "fr", "Se connecter", ("Adresse e-mail", "Mot de passe")),
        ("en", "en", "Log in", ("Email", "Password")),
        ("de", "en", "Log in", ("Email", "Password")),
    ],
)
def test_the_login_page_speaks_the_browser_s_language(
    sqlite_app: Flask, accept_language: str, locale: str, heading: str, labels: tuple[str, ...]
) -> None:
    page = sqlite_app.test_client().get("/login", headers={"Accept-Language": accept_language}).get_data(as_text=True)
    assert f'<html lang="{locale}">' in page
    assert f"<h1>{heading}</h1>" in page
    for label in labels:
        assert f">{label}</label>" in page


def test_a_person_s_chosen_language_wins_over_the_browser_s(sqlite_app: Flask) -> None:
    client = client_as(sqlite_app, "treasurer_a")
    response = client.post("/account/language", data={"csrf_token": csrf_token(client, "/account"), "language-locale": "fr"})
    assert response.status_code == 303
    page = client.get("/account", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Mon compte" in page
    # The confirmation is said in the language just chosen, not the one the form was sent in.
    assert "Langue enregistrée." in page
    client.post("/account/language", data={"csrf_token": csrf_token(client, "/account"), "language-locale": ""})
    assert "Mi cuenta" in client.get("/account", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert client.post("/account/language", data={"csrf_token": csrf_token(client, "/account"), "language-locale": "xx"}).status_code == 400


def _hashable(value: Any) -> Any:
    """A plural entry's id and string are lists in a compiled catalogue, tuples in a source one."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _catalogue(locale: str):  # type: ignore[no-untyped-def]
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


SAME_IN_TRANSLATION = ("Token", "Tokens", "Cycles", "Description", "Error", "Minimum", "Note", "Zone", "optimal", "zone %(zone)s")


@pytest.mark.parametrize("locale", ["es", "fr"])
def test_every_string_of_the_pages_is_translated_and_keeps_its_placeholders(locale: str) -> None:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}
    wanted = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    }
    catalogue = _catalogue(locale)
    # A plural entry's id is (singular, plural) and its string one form per plural; pair them up.
    pairs: dict[str, str] = {}
    for message in catalogue:
        if not message.id or message.fuzzy:
            continue
        sources = (message.id,) if isinstance(message.id, str) else message.id
        targets = (message.string,) if isinstance(message.string, str) else message.string
        if all(targets):
            pairs.update(zip(sources, (targets[0], targets[-1])))
    assert sorted(wanted - set(pairs)) == [], "run `make translations` and translate the new strings"
    for source, target in pairs.items():
        assert _placeholders(source) == _placeholders(target), source
        # Words spelt the same in the target language may stay as they are.
        assert target != source or source in SAME_IN_TRANSLATION, f"{source!r} is not translated"


@pytest.mark.parametrize("locale", ["es", "fr"])
def test_the_compiled_catalogues_match_their_sources(locale: str) -> None:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").open("rb") as mo:
        compiled = {_hashable(message.id): _hashable(message.string) for message in read_mo(mo) if message.id}
    source = {_hashable(message.id): _hashable(message.string) for message in _catalogue(locale) if message.id and not message.fuzzy}
    assert compiled == source, "run `make translations` (or `pybabel compile -d webapp/translations`)"
