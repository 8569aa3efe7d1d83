"""What fuzzing the API with schemathesis found, each pinned by a test of its own.

* A NUL character (U+0000) in a path, a query or a JSON body made
  PostgreSQL fail (500); now it is 400 ``nul_character`` on both databases.
* A 405 had no ``Allow`` header (RFC 9110 requires one).
* The OpenAPI document described errors as ``application/json`` in
  flask-smorest's shape; it now documents problem+json, per status.
* Found on the way, by the example client: on SQLite, a POST with an
  ``Idempotency-Key`` whose view read after its service committed (opening
  an account in a fresh process) waited 30 s for its own write lock, then
  answered 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from conftest import set_up_region
from mutualcredit.tokens.service import create_token
from webapp import create_app

SCOPES = ["accounts:read", "transfers:write", "requests:write"]


@pytest.fixture
def client(database_url: str) -> FlaskClient:
    app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    session = app.extensions["mutualcredit.sessions"]()
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None)})
    token = create_token(session, member_slug="alpha", scopes=SCOPES, created_by="t")[0]
    session.close()
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/accounts/al%00pha", None),
        ("GET", "/api/v1/transfers?account=al%00pha", None),
        ("POST", "/api/v1/transfers", {"payer": "alpha", "payee": "be\u0000ta", "amount": "1.00"}),
        ("POST", "/api/v1/transfers", {"payer": "alpha", "payee": "beta", "amount": "1.00", "description": "a\u0000b"}),
        ("POST", "/api/v1/transfers", {"payer": "alpha", "payee": "beta", "amount": "1.00", "metadata": {"k\u0000": 1}}),
        ("POST", "/api/v1/transfers/batch", {"transfers": [{"payer": "alpha", "payee": "beta\u0000", "amount": "1.00"}]}),
    ],
)
def test_a_nul_character_anywhere_is_refused_with_400_on_either_database(
    client: FlaskClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = client.open(path, method=method, json=body)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"] == "/api/v1/problems/nul_character"
    assert client.get("/api/v1/transfers").get_json()["items"] == []


def test_an_undeclared_method_is_405_problem_json_with_the_allowed_methods(client: FlaskClient) -> None:
    response = client.delete("/api/v1/transfers")

    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_the_openapi_document_describes_every_error_as_problem_json(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    responses = document["components"]["responses"]
    transfer_post = document["paths"]["/api/v1/transfers"]["post"]["responses"]

    assert {"400", "401", "403", "404", "409", "422", "429", "default"} <= set(transfer_post)
    assert "409" not in document["paths"]["/api/v1/region"]["get"]["responses"]
    for status, response in transfer_post.items():
        if status == "default" or int(status) >= 400:
            name = response["$ref"].rsplit("/", 1)[-1]
            assert list(responses[name]["content"]) == ["application/problem+json"], status
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["additionalProperties"] is True
    assert "Error" not in document["components"]["schemas"]


def test_opening_an_account_with_an_idempotency_key_answers_at_once_in_a_fresh_process(client: FlaskClient) -> None:
    # Before the fix this waited out SQLite's 30 s busy timeout, then answered 500.
    response = client.post(
        "/api/v1/accounts", json={"code": "alpha:float", "name": "Float"}, headers={"Idempotency-Key": "open-float"}
    )
    again = client.post(
        "/api/v1/accounts", json={"code": "alpha:float", "name": "Float"}, headers={"Idempotency-Key": "open-float"}
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
