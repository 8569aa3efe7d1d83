"""Flask extensions shared by the pages and the API, created once and bound in ``create_app``."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

TOKEN_PREFIX = "mct_"


def rate_limit_key() -> str:
    """Count API calls per token (its public part), anything else per client address.

    The public part of a token (``mct_<12 hex>``) is not secret, so using it as
    the bucket leaks nothing; a forged token still lands in its own bucket and
    is refused with 401 by authentication.
    """
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.startswith(TOKEN_PREFIX):
        return "token:" + secret[: len(TOKEN_PREFIX) + 12]
    return "addr:" + (get_remote_address() or "unknown")


limiter = Limiter(key_func=rate_limit_key, headers_enabled=False)
