"""The OpenAPI document's error responses: problem+json on every operation, written in one place.

flask-smorest documents an operation's errors as ``application/json`` in its
own error shape (a ``default`` response, and 422 where a view takes
arguments). This API answers every error as an RFC 9457 problem+json
document (``webapp.api.problem``). ``ProblemResponses``, an apispec plugin,
rewrites each operation's error responses to problem+json and adds the
statuses that every operation can answer, so that the document says what
the API really sends:

* every operation: 400, 401, 403, 422, 429 and ``default`` (405, 413, 415, 5xx);
* 404 where the operation names something that may not exist (a path
  parameter, a query or a request body);
* 409 on writes (a ledger rule, or an idempotency conflict).
"""

from __future__ import annotations

import http
from typing import Any

from apispec import APISpec, BasePlugin
from marshmallow import INCLUDE, Schema, fields

PROBLEM_CONTENT_TYPE = "application/problem+json"
DEFAULT_RESPONSE = "PROBLEM_DEFAULT"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

_DESCRIPTIONS = {
    400: "Malformed request: JSON that does not parse, a bad Idempotency-Key, or input the ledger refuses as invalid",
    401: "No valid bearer token (missing, unknown, expired or revoked)",
    403: "The token may not do this: it lacks the scope, or the account is not its member's",
    404: "Something the request names does not exist (an account, a member, a transfer, ...)",
    409: "Refused by a rule of the ledger (a limit, a state) or an idempotency conflict; `type` says which",
    422: "The request does not validate; `errors` lists the fields, by location",
    429: "Too many requests for this token; retry after `Retry-After` seconds",
}
_HEADERS = {
    429: {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}},
    401: {"WWW-Authenticate": {"description": "Bearer challenge", "schema": {"type": "string"}}},
}


class ProblemSchema(Schema):
    """An error, as RFC 9457 problem details; some errors add members (e.g. ``available`` on a refused transfer)."""

    class Meta:
        unknown = INCLUDE  # documented as additionalProperties: true

    type = fields.String(required=True, metadata={"description": "Stable URI of the error kind, e.g. /api/v1/problems/exceeds_floor"})
    title = fields.String(required=True, metadata={"description": "The error kind in words"})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status"})
    detail = fields.String(required=True, metadata={"description": "What went wrong, for people"})
    errors = fields.Raw(
        metadata={"description": "Field errors by location and field (422), or the failing items of a batch (409)"}
    )


def _response_name(status: int) -> str:
    return f"PROBLEM_{http.HTTPStatus(status).name}"


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    statuses = [400, 401, 403, 422, 429]
    names_something = "{" in path or bool(operation.get("parameters")) or "requestBody" in operation
    if names_something:
        statuses.append(404)
    if method in WRITE_METHODS:
        statuses.append(409)
    return sorted(statuses)


class ProblemResponses(BasePlugin):
    """An apispec plugin: every operation's error responses as problem+json references."""

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        for status, description in _DESCRIPTIONS.items():
            response: dict[str, Any] = {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": ProblemSchema}}}
            if status in _HEADERS:
                response["headers"] = _HEADERS[status]
            spec.components.response(_response_name(status), response)
        spec.components.response(
            DEFAULT_RESPONSE,
            {"description": "Any other error (a 5xx among them)", "content": {PROBLEM_CONTENT_TYPE: {"schema": ProblemSchema}}},
        )

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict) or method.upper() not in http.HTTPMethod.__members__:
                continue
            # Status codes may still be integers here (apispec makes them strings later).
            responses = {str(code): response for code, response in operation.get("responses", {}).items()}
            for code, response in responses.items():
                # flask-smorest's error responses are references by name: its
                # default, or a status name such as UNPROCESSABLE_ENTITY.
                if code == "default":
                    responses[code] = DEFAULT_RESPONSE
                elif isinstance(response, str) and int(code) >= 400:
                    responses[code] = _response_name(int(code))
            for status in _statuses(path or "", method, operation):
                responses.setdefault(str(status), _response_name(status))
            responses.setdefault("default", DEFAULT_RESPONSE)
            operation["responses"] = responses
