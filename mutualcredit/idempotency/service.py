"""Claiming, completing and releasing idempotency keys (no Flask: the API wraps these).

A client sends ``Idempotency-Key`` with a POST. The first request with a key
claims it (a committed row, so concurrent requests see it) and runs; its
response is then stored. A later request with the same key and the same
request gets that stored response; with a different request, a conflict. A
request that arrives while the first still runs waits briefly for its
response, then gets a conflict it may retry. A claim whose request never
finished (its process died) is taken over after ``STALE_AFTER``; the API
derives the transfer id from the key, so even that retry cannot pay twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.db import utc_now
from mutualcredit.idempotency.models import IdempotencyKey

KEY_LENGTH_MAX = 255
STALE_AFTER = dt.timedelta(seconds=60)
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05
KEEP_FOR = dt.timedelta(hours=24)


class IdempotencyKeyReused(errors.Conflict):
    """This Idempotency-Key was already used with a different request."""

    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(errors.Conflict):
    """A request with this Idempotency-Key is still being processed; retry shortly."""

    code = "idempotency_key_in_progress"


class InvalidIdempotencyKey(errors.InvalidInput):
    """The Idempotency-Key header is empty, too long or not printable ASCII."""

    code = "invalid_idempotency_key"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    content_type: str
    location: str | None
    body: str


def check_key(key: str) -> str:
    if not 1 <= len(key) <= KEY_LENGTH_MAX or not all(32 < ord(c) < 127 for c in key):
        raise InvalidIdempotencyKey(f"an Idempotency-Key is 1 to {KEY_LENGTH_MAX} printable ASCII characters without spaces")
    return key


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of what makes two requests "the same": method, path and JSON content.

    JSON bodies are compared by content (key order and spacing do not matter).
    """
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _stored(row: IdempotencyKey) -> StoredResponse:
    assert row.response_status is not None and row.response_body is not None
    return StoredResponse(row.response_status, row.response_type or "application/json", row.response_location, row.response_body)


def claim(
    sessions: Callable[[], Session],
    *,
    token_public_id: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    wait_seconds: float = WAIT_SECONDS,
) -> tuple[int | None, StoredResponse | None]:
    """Claim ``key`` for this request: ``(claim id, None)`` to run it, ``(None, stored)`` to replay."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with sessions() as session:
            now = utc_now()
            row = IdempotencyKey(
                token_public_id=token_public_id, key=key, method=method, path=path, request_hash=fingerprint, created_at=now
            )
            session.add(row)
            try:
                session.commit()
                return row.id, None
            except IntegrityError:
                session.rollback()
            existing = session.scalar(
                select(IdempotencyKey).where(IdempotencyKey.token_public_id == token_public_id, IdempotencyKey.key == key)
            )
            if existing is None:
                continue  # released between our insert and our read: try again
            if (existing.method, existing.path, existing.request_hash) != (method, path, fingerprint):
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was already used with a different request ({existing.method} {existing.path})"
                )
            if existing.state == "done":
                return None, _stored(existing)
            if existing.created_at <= now - STALE_AFTER:
                taken = session.execute(
                    update(IdempotencyKey)
                    .where(IdempotencyKey.id == existing.id, IdempotencyKey.state == "started", IdempotencyKey.created_at == existing.created_at)
                    .values(created_at=now)
                ).rowcount
                session.commit()
                if taken:
                    return existing.id, None
        if time.monotonic() >= deadline:
            raise IdempotencyKeyInProgress(f"a request with Idempotency-Key {key!r} is still being processed; retry shortly")
        time.sleep(POLL_SECONDS)


def complete(sessions: Callable[[], Session], claim_id: int, response: StoredResponse) -> None:
    """Store the first response for its key."""
    with sessions() as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == claim_id)
            .values(
                state="done",
                response_status=response.status,
                response_type=response.content_type,
                response_location=response.location,
                response_body=response.body,
                completed_at=utc_now(),
            )
        )
        session.commit()


def release(sessions: Callable[[], Session], claim_id: int) -> None:
    """Forget a claim whose request failed on the server's side, so the client can retry."""
    with sessions() as session:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id, IdempotencyKey.state == "started"))
        session.commit()


def purge(session: Session, *, now: dt.datetime | None = None, keep_for: dt.timedelta = KEEP_FOR) -> int:
    """Delete keys older than ``keep_for`` (a key is honoured for at least that long)."""
    cutoff = (now or utc_now()) - keep_for
    count = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)).rowcount
    session.commit()
    return int(count or 0)
