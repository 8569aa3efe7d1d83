"""Bearer-token authentication and scope checks, shared by every API blueprint."""

from __future__ import annotations

import math
import time

from flask import Response, current_app, g, request
from flask_smorest import Blueprint

from mutualcredit import errors
from mutualcredit.tokens.service import TokenView, Unauthenticated, authenticate
from webapp.api.guards import refuse_nul_characters
from webapp.db import db_session
from webapp.extensions import limiter

BEARER = [{"bearer": []}]


def authenticate_request() -> None:
    """Every API call carries a bearer token; the token decides what it may see and do."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    g.token = authenticate(db_session(), secret.strip())


def _api_rate_limit() -> str:
    return str(current_app.config["API_RATE_LIMIT"])


def add_rate_limit_headers(response: Response) -> Response:
    """``RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds), and ``Retry-After`` on 429.

    These follow the IETF draft "RateLimit header fields for HTTP"; the reset
    is a number of seconds from now, not a timestamp.
    """
    current = limiter.current_limit
    if current is None:
        return response
    reset_in = max(0, math.ceil(current.reset_at - time.time()))
    response.headers["RateLimit-Limit"] = str(current.limit.amount)
    response.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
    response.headers["RateLimit-Reset"] = str(reset_in)
    response.headers["RateLimit-Policy"] = f"{current.limit.amount};w={current.limit.get_expiry()}"
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, reset_in))
    return response


def protect(blueprint: Blueprint) -> Blueprint:
    """Rate-limit every route of ``blueprint`` per token, require a valid token, refuse NUL characters."""
    limiter.limit(_api_rate_limit)(blueprint)
    blueprint.before_request(authenticate_request)
    blueprint.before_request(refuse_nul_characters)
    blueprint.after_request(add_rate_limit_headers)
    return blueprint


def current_token() -> TokenView:
    token: TokenView = g.token
    return token


def require_scope(scope: str) -> TokenView:
    """The request's token, if it holds ``scope`` (403 ``not_allowed`` otherwise)."""
    token = current_token()
    if not token.allows(scope):
        raise errors.NotAllowed(f"this token lacks the {scope} scope")
    return token
