"""The JSON API's first resources: tokens, scopes, problem+json, OpenAPI."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from conftest import set_up_region
from mutualcredit.ledger import service as ledger
from mutualcredit.tokens.service import create_token, revoke_token
from webapp import create_app


@pytest.fixture
def api(database_url: str):  # type: ignore[no-untyped-def]
    """The app on a region with two members and a token for each kind of caller."""
    app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    session: Session = app.extensions["mutualcredit.sessions"]()
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-50_000, 200_000)})
    ledger.create_transfer(
        session,
        ledger.TransferSpec(id=__import__("uuid").uuid4(), payer="alpha", payee="beta", amount_minor=1_250),
        created_by="t",
    )
    tokens = {
        "alpha": create_token(session, member_slug="alpha", scopes=["accounts:read"], created_by="t")[0],
        "alpha_writer": create_token(session, member_slug="alpha", scopes=["transfers:write"], created_by="t")[0],
        "auditor": create_token(session, role="auditor", scopes=["accounts:read"], created_by="t")[0],
    }
    revoked_secret, revoked = create_token(session, member_slug="beta", scopes=["accounts:read"], created_by="t")
    revoke_token(session, revoked.public_id, revoked_by="t")
    tokens["revoked"] = revoked_secret
    session.close()
    client = app.test_client()
    client.tokens = tokens
    return client


def get(client, path: str, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {client.tokens[token]}"} if token else {}
    return client.get(path, headers=headers)


def test_the_openapi_document_describes_every_resource_and_the_bearer_scheme(api) -> None:  # type: ignore[no-untyped-def]
    document = api.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/region", "/api/v1/accounts", "/api/v1/accounts/{code}"} <= set(document["paths"])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer mct_nope", "Bearer mct_000000000000_" + "a" * 43])
def test_calls_without_a_valid_token_get_401_problem_json(api, header: str | None) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/api/v1/region", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"] == "/api/v1/problems/unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    response = get(api, "/api/v1/region", "revoked")
    assert response.status_code == 401 and "revoked" in response.get_json()["detail"]


def test_the_region_says_its_unit(api) -> None:  # type: ignore[no-untyped-def]
    body = get(api, "/api/v1/region", "alpha").get_json()
    assert body["unit"] == {"code": "TST", "name": "Test credit", "symbol": "T", "decimals": 2}


def test_a_member_token_sees_only_its_member_s_accounts_with_decimal_string_amounts(api) -> None:  # type: ignore[no-untyped-def]
    accounts = get(api, "/api/v1/accounts", "alpha").get_json()
    assert [(a["code"], a["balance"], a["available"], a["unit"]) for a in accounts] == [("alpha", "-12.50", "987.50", "TST")]
    assert get(api, "/api/v1/accounts/alpha", "alpha").get_json()["floor"] == "-1000.00"
    forbidden = get(api, "/api/v1/accounts/beta", "alpha")
    assert forbidden.status_code == 403
    assert forbidden.get_json()["type"] == "/api/v1/problems/not_allowed"


def test_a_regional_role_reads_every_account(api) -> None:  # type: ignore[no-untyped-def]
    codes = [a["code"] for a in get(api, "/api/v1/accounts", "auditor").get_json()]
    assert codes == ["alpha", "beta", "commons"]
    assert get(api, "/api/v1/accounts/beta", "auditor").get_json()["ceiling"] == "2000.00"


def test_a_token_without_the_scope_is_refused_with_403(api) -> None:  # type: ignore[no-untyped-def]
    response = get(api, "/api/v1/accounts", "alpha_writer")
    assert response.status_code == 403 and "accounts:read" in response.get_json()["detail"]


def test_unknown_accounts_and_paths_are_404_problem_json(api) -> None:  # type: ignore[no-untyped-def]
    unknown = get(api, "/api/v1/accounts/nobody", "auditor")
    assert (unknown.status_code, unknown.get_json()["type"]) == (404, "/api/v1/problems/account_not_found")
    path = get(api, "/api/v1/no-such-thing", "auditor")
    assert path.status_code == 404 and path.content_type == "application/problem+json"


def test_pages_keep_html_errors(api) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/no-such-page")
    assert response.status_code == 404 and response.content_type.startswith("text/html")
