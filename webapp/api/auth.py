"""Bearer-token authentication and scope checks, shared by every API blueprint."""

from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint

from mutualcredit import errors
from mutualcredit.tokens.service import TokenView, Unauthenticated, authenticate
from webapp.db import db_session

BEARER = [{"bearer": []}]


def authenticate_request() -> None:
    """Every API call carries a bearer token; the token decides what it may see and do."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    g.token = authenticate(db_session(), secret.strip())


def protect(blueprint: Blueprint) -> Blueprint:
    """Require a valid token on every route of ``blueprint``."""
    blueprint.before_request(authenticate_request)
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
