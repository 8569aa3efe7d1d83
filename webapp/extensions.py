"""Flask extensions shared by the pages and the API, created once and bound in ``create_app``."""

from __future__ import annotations

import threading
import time

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage

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


class SweepingMemoryStorage(MemoryStorage):
    """limits' in-memory storage, with expired counters swept inline instead of by a timer thread.

    The stock storage starts a ``threading.Timer`` on nearly every request (the
    previous one has fired 10 ms later), which costs about 0.4 ms of CPU per
    API call and, with threaded workers, can race into "threads can only be
    started once". Here the sweep runs at most once a second, in whichever
    request thread gets there first; counters are still read through
    ``get``, which drops an expired counter on its own, so sweeping only
    frees memory. ``memory://`` in the settings selects this storage.
    """

    STORAGE_SCHEME = ["sweeping-memory"]
    SWEEP_INTERVAL_S = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()
        self._sweep_lock = threading.Lock()
        self._next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - replaces the parent's private timer start
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + self.SWEEP_INTERVAL_S
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweep_lock.release()


def storage_uri(configured: str) -> str:
    """The limiter's storage: the timer-free in-memory one for ``memory://``, else as configured."""
    return "sweeping-memory://" if configured.startswith("memory://") else configured
