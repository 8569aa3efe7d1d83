"""The delivery worker: fan committed events out into deliveries, send them, retry with backoff.

One run (`run_once`) does three things, each in its own short database
transaction, and never holds a transaction open during an HTTP call:

1. fan-out: undispatched events become one delivery per matching active
   subscription (its events list names the type, and it is regional or
   its member is the payer or the payee), and are marked dispatched;
2. claim: due deliveries are locked (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so several workers never claim the same one; SQLite's
   single writer lock serialises workers there), their attempt counted
   and their next attempt time pushed forward by a lease, then committed;
3. send and record: each claimed delivery is POSTed, signed, with no
   transaction open; then its attempt is logged and the delivery becomes
   ``succeeded``, is scheduled again after ``base * 2**(attempt-1)``
   seconds (plus a little jitter, at most an hour), or is ``failed`` once
   it has used its attempts. A worker that dies mid-send leaves the lease
   to expire, and another worker sends again: delivery is at least once.

It runs as `mutualcredit webhooks deliver --forever` or as a daemon thread
in the web app (`DeliveryWorker.start`); `wake()` cuts its wait short.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from mutualcredit.config import Settings
from mutualcredit.db import utc_now
from mutualcredit.webhooks.models import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from mutualcredit.webhooks.payloads import encode
from mutualcredit.webhooks.signing import SIGNATURE_HEADER, sign

LOG = logging.getLogger("mutualcredit.webhooks")

USER_AGENT = "mutualcredit-webhooks/1"
EVENT_HEADER = "Mutualcredit-Event"
DELIVERY_HEADER = "Mutualcredit-Delivery"
RETRY_DELAY_S_MAX = 3_600.0
JITTER_FRACTION = 0.1
EVENTS_PER_RUN_MAX = 500
DELIVERIES_PER_RUN_MAX = 20
SENDERS_MAX = 4
POLL_INTERVAL_S = 1.0
ERROR_PAUSE_S_MAX = 60.0
LEASE_MARGIN_S = 30.0
RESPONSE_BYTES_MAX = 4_096  # read (and ignored) of a successful answer
ERROR_LENGTH_MAX = 200

_events = WebhookEvent.__table__
_subscriptions = WebhookSubscription.__table__
_deliveries = WebhookDelivery.__table__
_attempts = WebhookAttempt.__table__


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How the worker retries and paces itself (see `mutualcredit.config.Settings` for the first three)."""

    retry_base_s: float = 30.0
    attempts_max: int = 8
    timeout_s: float = 10.0
    retry_delay_s_max: float = RETRY_DELAY_S_MAX
    jitter_fraction: float = JITTER_FRACTION
    events_per_run_max: int = EVENTS_PER_RUN_MAX
    deliveries_per_run_max: int = DELIVERIES_PER_RUN_MAX
    senders: int = SENDERS_MAX
    poll_interval_s: float = POLL_INTERVAL_S

    def __post_init__(self) -> None:
        assert self.retry_base_s > 0
        assert self.attempts_max >= 1
        assert self.timeout_s > 0
        assert self.deliveries_per_run_max >= 1
        assert self.senders >= 1

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> "WorkerSettings":
        values: dict[str, Any] = {
            "retry_base_s": settings.webhook_retry_base_s,
            "attempts_max": settings.webhook_attempts_max,
            "timeout_s": settings.webhook_timeout_s,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def lease_s(self) -> float:
        """How long a claimed delivery stays out of other workers' reach.

        Long enough for every round of sends in one run (a send may take
        the timeout twice: once to connect, once to answer), so only a
        worker that died lets another one send again.
        """
        rounds = -(-self.deliveries_per_run_max // self.senders)
        return 2 * self.timeout_s * rounds + LEASE_MARGIN_S


# ---------------------------------------------------------------------------
# Pure rules


def backoff_delay_s(
    attempt: int,
    *,
    base_s: float,
    cap_s: float = RETRY_DELAY_S_MAX,
    jitter_fraction: float = JITTER_FRACTION,
    random_fraction: float = 0.0,
) -> float:
    """The wait after failed attempt number ``attempt`` (from 1): ``base_s * 2**(attempt-1)``.

    ``random_fraction`` (0 to 1) adds up to ``jitter_fraction`` of the delay,
    so that receivers coming back up are not hit by every retry at once;
    the result never exceeds ``cap_s``.
    """
    assert attempt >= 1
    assert 0.0 <= random_fraction <= 1.0
    delay_s = base_s * 2.0 ** min(attempt - 1, 64)
    return min(cap_s, delay_s * (1.0 + jitter_fraction * random_fraction))


def matches(
    subscription_events: Sequence[str],
    subscription_member_id: int | None,
    event_type: str,
    payer_member_id: int | None,
    payee_member_id: int | None,
) -> bool:
    """Whether a subscription receives an event: it listens to the type, and is regional or concerns the member."""
    if event_type not in subscription_events:
        return False
    return subscription_member_id is None or subscription_member_id in (payer_member_id, payee_member_id)


# ---------------------------------------------------------------------------
# Fan-out


def dispatch_events(session: Session, *, now: dt.datetime, limit: int = EVENTS_PER_RUN_MAX) -> tuple[int, int]:
    """Turn up to ``limit`` undispatched events into deliveries; returns (events, deliveries)."""
    try:
        events = session.execute(
            select(_events.c.seq, _events.c.id, _events.c.type, _events.c.payer_member_id, _events.c.payee_member_id)
            .where(_events.c.dispatched_at.is_(None))
            .order_by(_events.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not events:
            session.rollback()
            return 0, 0
        subscriptions = session.execute(
            select(_subscriptions.c.id, _subscriptions.c.member_id, _subscriptions.c.events).where(
                _subscriptions.c.active == true()
            )
        ).all()
        deliveries = [
            {
                "id": uuid.uuid4(),
                "subscription_id": subscription.id,
                "event_id": event.id,
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in events
            for subscription in subscriptions
            if matches(subscription.events, subscription.member_id, event.type, event.payer_member_id, event.payee_member_id)
        ]
        if deliveries:
            session.execute(insert(_deliveries), deliveries)
        session.execute(
            update(_events).where(_events.c.seq.in_([event.seq for event in events])).values(dispatched_at=now)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(events), len(deliveries)


# ---------------------------------------------------------------------------
# Claiming, sending, recording


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery this worker holds the lease of, with what it needs to send it."""

    delivery_id: uuid.UUID
    attempt_number: int
    url: str
    secret: str
    event_type: str
    body: bytes


def claim_due(session: Session, *, now: dt.datetime, limit: int, lease_s: float) -> list[Claim]:
    """Lock up to ``limit`` due deliveries, count their attempt, push them a lease ahead, and commit."""
    try:
        rows = session.execute(
            select(
                _deliveries.c.id,
                _deliveries.c.attempts,
                _subscriptions.c.url,
                _subscriptions.c.secret,
                _events.c.type,
                _events.c.payload,
            )
            .select_from(
                _deliveries.join(_subscriptions, _subscriptions.c.id == _deliveries.c.subscription_id).join(
                    _events, _events.c.id == _deliveries.c.event_id
                )
            )
            .where(
                _deliveries.c.state == DeliveryState.PENDING,
                _deliveries.c.next_attempt_at <= now,
                _subscriptions.c.active == true(),
            )
            .order_by(_deliveries.c.next_attempt_at)
            .limit(limit)
            # Another worker's claims are skipped, not waited for.
            .with_for_update(of=_deliveries, skip_locked=True)
        ).all()
        if rows:
            session.execute(
                update(_deliveries)
                .where(_deliveries.c.id.in_([row.id for row in rows]))
                .values(attempts=_deliveries.c.attempts + 1, next_attempt_at=now + dt.timedelta(seconds=lease_s))
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return [
        Claim(
            delivery_id=row.id,
            attempt_number=row.attempts + 1,
            url=row.url,
            secret=row.secret,
            event_type=row.type,
            body=encode(row.payload),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one HTTP attempt gave."""

    started_at: dt.datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a success: the body is not re-sent elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_LENGTH_MAX else text[: ERROR_LENGTH_MAX - 1] + "…"


def headers_for(claim: Claim, timestamp: int) -> dict[str, str]:
    """The headers of one attempt; the signature covers this attempt's timestamp and the body."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(claim.secret, timestamp, claim.body),
        EVENT_HEADER: claim.event_type,
        DELIVERY_HEADER: str(claim.delivery_id),
    }


def send(claim: Claim, *, timeout_s: float, clock: Callable[[], float] = time.time) -> Outcome:
    """POST one delivery (no database involved); any 2xx answer is a success."""
    request = urllib.request.Request(claim.url, data=claim.body, headers=headers_for(claim, int(clock())), method="POST")
    started_at = utc_now()
    start = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            status_code = response.status
            response.read(RESPONSE_BYTES_MAX)
    except urllib.error.HTTPError as failure:
        # The status line only, never the answer's body: a subscriber could
        # point its URL at an internal service and read its answers here.
        status_code = failure.code
        failure.close()
        error = _clip(f"HTTP {failure.code} {failure.reason or ''}".strip())
    except urllib.error.URLError as failure:
        reason = failure.reason
        error = _clip(f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason))
    except (http.client.HTTPException, OSError, ValueError) as failure:
        error = _clip(f"{type(failure).__name__}: {failure}")
    duration_ms = max(0, round((time.monotonic() - start) * 1000))
    if status_code is not None and not 200 <= status_code < 300 and error is None:
        error = f"HTTP {status_code}"
    return Outcome(started_at=started_at, duration_ms=duration_ms, status_code=status_code, error=error)


def _send_safely(claim: Claim, timeout_s: float) -> Outcome:
    try:
        return send(claim, timeout_s=timeout_s)
    except Exception as failure:  # a bug must not leave the run half done
        LOG.exception("webhook delivery %s: unexpected error while sending", claim.delivery_id)
        return Outcome(started_at=utc_now(), duration_ms=0, status_code=None, error=_clip(f"internal error: {failure!r}"))


def record_outcome(
    session: Session,
    claim: Claim,
    outcome: Outcome,
    *,
    now: dt.datetime,
    settings: WorkerSettings,
    random_fraction: float,
) -> str | None:
    """Log the attempt and move the delivery on; returns its new state (None if the lease was lost)."""
    values: dict[str, Any] = {"last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.is_success:
        values.update(state=DeliveryState.SUCCEEDED, next_attempt_at=None, completed_at=now)
    elif claim.attempt_number >= settings.attempts_max:
        values.update(state=DeliveryState.FAILED, next_attempt_at=None, completed_at=now)
    else:
        delay_s = backoff_delay_s(
            claim.attempt_number,
            base_s=settings.retry_base_s,
            cap_s=settings.retry_delay_s_max,
            jitter_fraction=settings.jitter_fraction,
            random_fraction=random_fraction,
        )
        values.update(state=DeliveryState.PENDING, next_attempt_at=now + dt.timedelta(seconds=delay_s))
    try:
        # Only the holder of this attempt may record it: had the lease run
        # out and another worker claimed the delivery, attempts moved on.
        changed = session.execute(
            update(_deliveries)
            .where(
                _deliveries.c.id == claim.delivery_id,
                _deliveries.c.attempts == claim.attempt_number,
                _deliveries.c.state == DeliveryState.PENDING,
            )
            .values(**values)
        ).rowcount
        if changed == 1:
            session.execute(
                insert(_attempts).values(
                    delivery_id=claim.delivery_id,
                    number=claim.attempt_number,
                    started_at=outcome.started_at,
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                )
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if changed != 1:
        LOG.warning("webhook delivery %s: attempt %s finished after its lease", claim.delivery_id, claim.attempt_number)
        return None
    LOG.info(
        "webhook delivery %s attempt %s: %s in %s ms -> %s",
        claim.delivery_id,
        claim.attempt_number,
        outcome.status_code if outcome.status_code is not None else outcome.error,
        outcome.duration_ms,
        values["state"],
    )
    return str(values["state"])


# ---------------------------------------------------------------------------
# Runs


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one run did."""

    events_dispatched: int = 0
    deliveries_created: int = 0
    attempted: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    is_saturated: bool = False  # a limit was reached: more work may be waiting

    @property
    def did_work(self) -> bool:
        return bool(self.events_dispatched or self.attempted)

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "events_dispatched": self.events_dispatched,
            "deliveries_created": self.deliveries_created,
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "retrying": self.retrying,
            "failed": self.failed,
        }


def run_once(
    session_factory: sessionmaker[Session],
    settings: WorkerSettings,
    *,
    now: Callable[[], dt.datetime] = utc_now,
    rng: random.Random | None = None,
) -> RunReport:
    """Fan out new events, then send the deliveries that are due (at most one batch of each)."""
    rng = rng or random.Random()
    states: list[str | None] = []
    with session_factory() as session:
        events, created = dispatch_events(session, now=now(), limit=settings.events_per_run_max)
        claims = claim_due(session, now=now(), limit=settings.deliveries_per_run_max, lease_s=settings.lease_s)
        if len(claims) == 1:
            (claim,) = claims
            outcome = _send_safely(claim, settings.timeout_s)
            states.append(record_outcome(session, claim, outcome, now=now(), settings=settings, random_fraction=rng.random()))
        elif claims:
            with ThreadPoolExecutor(max_workers=min(settings.senders, len(claims)), thread_name_prefix="webhook-send") as pool:
                futures = {pool.submit(_send_safely, claim, settings.timeout_s): claim for claim in claims}
                # Recorded as each answer comes, from this thread only: the session is not shared.
                for future in as_completed(futures):
                    states.append(
                        record_outcome(
                            session,
                            futures[future],
                            future.result(),
                            now=now(),
                            settings=settings,
                            random_fraction=rng.random(),
                        )
                    )
    return RunReport(
        events_dispatched=events,
        deliveries_created=created,
        attempted=len(claims),
        succeeded=states.count(DeliveryState.SUCCEEDED),
        retrying=states.count(DeliveryState.PENDING),
        failed=states.count(DeliveryState.FAILED),
        is_saturated=events >= settings.events_per_run_max or len(claims) >= settings.deliveries_per_run_max,
    )


# ---------------------------------------------------------------------------
# The long-running worker

_WORKERS: "weakref.WeakSet[DeliveryWorker]" = weakref.WeakSet()
_WORKERS_LOCK = threading.Lock()


def wake() -> None:
    """Cut short the wait of every worker in this process (call it after a write commits)."""
    with _WORKERS_LOCK:
        workers = list(_WORKERS)
    for worker in workers:
        worker.wake()


@dataclass(eq=False)
class DeliveryWorker:
    """Runs `run_once` until stopped: at once when woken or when more work waits, else every poll interval."""

    session_factory: sessionmaker[Session]
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    on_report: Callable[[RunReport], None] | None = None
    _wake: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        with _WORKERS_LOCK:
            _WORKERS.add(self)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask the worker to stop after its current run (and wait for its thread, if it has one)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def is_stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> threading.Thread:
        """Run in a daemon thread (the web app's way)."""
        assert self._thread is None
        self._thread = threading.Thread(target=self.run_forever, name="webhook-worker", daemon=True)
        self._thread.start()
        return self._thread

    def run_forever(self) -> None:
        """Run until `stop`; an error is logged and retried after a growing pause, never raised."""
        failures = 0
        last_error = ""
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = run_once(self.session_factory, self.settings)
            except Exception as error:  # the database may be down or not migrated yet
                failures += 1
                message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                if message != last_error:
                    LOG.error("webhook worker: %s (retrying)", message, exc_info=failures == 1)
                    last_error = message
                self._wake.wait(min(ERROR_PAUSE_S_MAX, self.settings.poll_interval_s * 2**failures))
                continue
            failures, last_error = 0, ""
            if self.on_report is not None and report.did_work:
                self.on_report(report)
            if not report.is_saturated:
                self._wake.wait(self.settings.poll_interval_s)
