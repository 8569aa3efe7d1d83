"""The in-memory rate-limit storage counts and expires without starting threads."""

from __future__ import annotations

import threading
import time

from limits import parse
from limits.strategies import FixedWindowRateLimiter

from webapp.extensions import SweepingMemoryStorage, storage_uri


def test_it_limits_expires_and_never_starts_a_thread() -> None:
    storage = SweepingMemoryStorage()
    storage.SWEEP_INTERVAL_S = 0.0
    limiter = FixedWindowRateLimiter(storage)
    limit = parse("3 per second")
    threads_before = threading.active_count()
    assert [limiter.hit(limit, "token:a") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(limit, "token:b")  # another bucket
    assert threading.active_count() == threads_before
    time.sleep(1.05)
    assert limiter.hit(limit, "token:a")  # a new window
    storage.incr("old", 0.001)
    time.sleep(0.01)
    storage.incr("trigger", 10)  # sweeps
    assert "old" not in storage.storage


def test_memory_urls_select_it_and_others_pass_through() -> None:
    assert storage_uri("memory://") == "sweeping-memory://"
    assert storage_uri("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379"
