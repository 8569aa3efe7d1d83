"""The JSON API for local-currency schemes: ``/api/v1``, described by OpenAPI.

flask-smorest writes the OpenAPI document (``/api/v1/openapi.json``, browsable
at ``/api/v1/docs``) from the same marshmallow schemas that validate the
requests. Every error under ``/api/`` is an RFC 9457 problem+json document
whose ``type`` names a stable error code; HTML pages keep Flask's own errors.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from mutualcredit import errors
from webapp.api.problem_docs import PROBLEM_CONTENT_TYPE, ProblemResponses, ProblemSchema
from webapp.api.schemas import plain

API_PREFIX = "/api/v1"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def problem_type(code: str) -> str:
    """The stable ``type`` URI of an error kind."""
    return f"{API_PREFIX}/problems/{code}"


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem+json response with a stable ``type`` per error kind."""
    body = {"type": problem_type(code), "title": code.replace("_", " "), "status": status, "detail": detail}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM_CONTENT_TYPE
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mutualcredit"'
    return response


class ProblemApi(Api):
    """flask-smorest's Api, answering errors under /api/ as problem+json (and documenting them so)."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            return error.get_response()
        status = error.code or 500
        extra: dict[str, Any] = {}
        messages = getattr(error, "data", {}).get("messages") if hasattr(error, "data") else None
        if messages:
            extra["errors"] = messages  # marshmallow's field errors, by location and field
        response = problem(status, _HTTP_CODES.get(status, "error"), error.description or "", **extra)
        # Keep the exception's own headers, such as a 405's Allow (RFC 9110 requires it).
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response


api = ProblemApi(spec_kwargs={"extra_plugins": [ProblemResponses()]})


def handle_domain_error(error: errors.MutualCreditError) -> Response:
    """Map the services' typed errors to problem+json (one place for every resource)."""
    details: dict[str, Any] = {}
    for key, value in error.details.items():
        if key.endswith("_minor") and isinstance(value, int):
            # Amounts leave the API as decimal strings, never integers.
            details[key.removesuffix("_minor")] = plain(value)
        elif isinstance(value, str | int):
            details[key] = value
    item_errors = getattr(error, "item_errors", None)
    if item_errors is not None:
        details["errors"] = item_errors
    return problem(error.status, error.code, error.message, **details)


def init_app(app: Flask) -> None:
    """Bind the API to the app and register its resources."""
    app.config.setdefault("API_TITLE", "mutualcredit")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "/docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist/")
    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    from webapp.api import invoices, payment_requests, pools, resources, transfers, webhooks

    api.register_blueprint(resources.blueprint)
    api.register_blueprint(webhooks.blueprint)
    api.register_blueprint(transfers.blueprint)
    api.register_blueprint(payment_requests.blueprint)
    api.register_blueprint(invoices.blueprint)
    api.register_blueprint(pools.blueprint)

    @app.errorhandler(errors.MutualCreditError)
    def on_domain_error(error: errors.MutualCreditError) -> Any:
        if request.path.startswith("/api/"):
            return handle_domain_error(error)
        raise error

