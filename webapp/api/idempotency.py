"""The ``Idempotency-Key`` header on every API POST.

The first request with a key runs and its response (success or a 4xx error)
is stored; the same key with the same request answers that response again,
with ``Idempotent-Replayed: true``; the same key with another request is 409
``idempotency_key_reused``. Keys belong to the token that sent them. A 5xx
is not stored, so the client can retry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from mutualcredit import errors
from mutualcredit.idempotency import service as keys
from webapp.api.auth import current_token
from webapp.db import db_session

HEADER = "Idempotency-Key"
HEADER_DOC = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": keys.KEY_LENGTH_MAX, "pattern": "^[!-~]+$"},
    "description": "Any unique string (a UUID is best). Retrying with the same key and body returns the first response.",
}


def idempotency_key() -> str | None:
    key = request.headers.get(HEADER)
    return None if key is None else keys.check_key(key)


def _to_response(view: Callable[..., Any], args: Any, kwargs: Any) -> Response:
    from webapp.api import api, handle_domain_error

    try:
        return current_app.make_response(view(*args, **kwargs))
    except errors.MutualCreditError as error:
        return handle_domain_error(error)
    except HTTPException as error:
        return current_app.make_response(api.handle_http_exception(error))


def idempotent(blueprint: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a POST view honour ``Idempotency-Key`` (and document the header)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = idempotency_key()
            if key is None:
                return view(*args, **kwargs)
            sessions = current_app.extensions["mutualcredit.sessions"]
            claim_id, stored = keys.claim(
                sessions,
                token_public_id=current_token().public_id,
                key=key,
                method=request.method,
                path=request.full_path.rstrip("?"),
                fingerprint=keys.request_fingerprint(request.method, request.full_path.rstrip("?"), request.get_data()),
            )
            if stored is not None:
                replay = Response(stored.body, status=stored.status, content_type=stored.content_type)
                if stored.location:
                    replay.headers["Location"] = stored.location
                replay.headers["Idempotent-Replayed"] = "true"
                return replay
            assert claim_id is not None
            try:
                response = _to_response(view, args, kwargs)
            except BaseException:
                db_session().rollback()
                keys.release(sessions, claim_id)
                raise
            # End the transaction the view may have left open (a read after its
            # service committed). On SQLite it holds the write lock, and storing
            # the response below, in a session of its own, would wait for it.
            db_session().rollback()
            if response.status_code >= 500:
                keys.release(sessions, claim_id)
            else:
                keys.complete(
                    sessions,
                    claim_id,
                    keys.StoredResponse(
                        status=response.status_code,
                        content_type=response.content_type or "application/json",
                        location=response.headers.get("Location"),
                        body=response.get_data(as_text=True),
                    ),
                )
            return response

        return blueprint.doc(parameters=[HEADER_DOC])(wrapper)

    return decorate
