"""Signing webhook bodies: pure functions, no clock of their own.

The header is ``Mutualcredit-Signature: t=<unix seconds>,v1=<hex digest>``
where the digest is HMAC-SHA256 under the subscription's secret of
``f"{t}.".encode() + body``. Signing the timestamp with the body lets a
receiver refuse a replayed delivery once ``tolerance_s`` has passed.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Mutualcredit-Signature"
SIGNATURE_VERSION = "v1"
TOLERANCE_S_DEFAULT = 300
# A header is a handful of short fields; anything much longer is not ours.
HEADER_LENGTH_MAX = 1_000
SIGNATURES_PER_HEADER_MAX = 8


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    assert isinstance(timestamp, int)
    return f"t={timestamp},{SIGNATURE_VERSION}={_digest(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, now: float, tolerance: int = TOLERANCE_S_DEFAULT) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` at a time within ``tolerance`` seconds of ``now``.

    Several ``v1=`` values are accepted (one must match), so that a sender
    may sign with an old and a new secret while a secret is being rotated.
    """
    if not header or len(header) > HEADER_LENGTH_MAX:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator:
            return False
        if key == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return False
            timestamp = int(value)
        elif key == SIGNATURE_VERSION:
            candidates.append(value)
    if timestamp is None or not candidates or len(candidates) > SIGNATURES_PER_HEADER_MAX:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    # Every candidate is compared, in constant time, so timing tells nothing.
    matches = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates]
    return any(matches)
