"""Bearer-token authentication and scope checks, shared by every API blueprint."""

from __future__ import annotations

import functools
import math
import time

from flask import Response, current_app, g, request
from flask_smorest import Blueprint
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from mutualcredit import errors
from mutualcredit.tokens.service import TokenView, Unauthenticated, authenticate
from webapp.api.guards import refuse_nul_characters
from webapp.db import db_session
from webapp.extensions import limiter, rate_limit_key

BEARER = [{"bearer": []}]


def authenticate_request() -> None:
    """Every API call carries a bearer token; the token decides what it may see and do."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    g.token = authenticate(db_session(), secret.strip())


@functools.lru_cache(maxsize=8)
def _parsed_limits(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


def limit_api_calls() -> None:
    """Count the call against its token's limits (``API_RATE_LIMIT``); 429 past any of them.

    Counted with Flask-Limiter's own strategy and storage (so the store set
    by ``MUTUALCREDIT_RATE_LIMIT_STORAGE_URL`` holds these counters too), but
    called directly: its per-request search for the limits that apply cost
    about a tenth of a single transfer's CPU in the worker, for one fixed
    limit per token.
    """
    strategy = limiter.limiter
    key = rate_limit_key()
    for item in _parsed_limits(str(current_app.config["API_RATE_LIMIT"])):
        allowed = strategy.hit(item, "api", key)
        reset_at, remaining = strategy.get_window_stats(item, "api", key)
        shown = g.get("api_rate_limit")  # the headers show the broken limit, else the closest to it
        if not allowed or shown is None or remaining < shown[1]:
            g.api_rate_limit = (item, remaining, reset_at)
        if not allowed:
            raise TooManyRequests(f"more than {item} for this token")


def add_rate_limit_headers(response: Response) -> Response:
    """``RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds), and ``Retry-After`` on 429.

    These follow the IETF draft "RateLimit header fields for HTTP"; the reset
    is a number of seconds from now, not a timestamp.
    """
    current = g.get("api_rate_limit")
    if current is None:
        return response
    item, remaining, reset_at = current
    reset_in = max(0, math.ceil(reset_at - time.time()))
    response.headers["RateLimit-Limit"] = str(item.amount)
    response.headers["RateLimit-Remaining"] = str(max(0, remaining))
    response.headers["RateLimit-Reset"] = str(reset_in)
    response.headers["RateLimit-Policy"] = f"{item.amount};w={item.get_expiry()}"
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, reset_in))
    return response


def protect(blueprint: Blueprint) -> Blueprint:
    """Rate-limit every route of ``blueprint`` per token, require a valid token, refuse NUL characters."""
    blueprint.before_request(limit_api_calls)
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
