"""Webhooks in the service layer: the outbox, fan-out, retries with backoff, and signatures.

Database tests run on SQLite and on PostgreSQL (``database_url``). Deliveries
that must fail go to a closed port on 127.0.0.1 (a real refused connection);
deliveries that must succeed are in tests/http/test_webhooks_http.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from conftest import set_up_region
from mutualcredit import errors
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.ledger import requests as invoices
from mutualcredit.ledger import service as ledger
from mutualcredit.webhooks import outbox
from mutualcredit.webhooks import service as webhooks
from mutualcredit.webhooks.errors import (
    DeliveryNotFailed,
    InvalidWebhookUrl,
    SubscriptionLimitReached,
    SubscriptionNotActive,
    SubscriptionNotFound,
    UnknownEventType,
)
from mutualcredit.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from mutualcredit.webhooks.signing import sign, verify
from mutualcredit.webhooks.worker import (
    Outcome,
    WorkerSettings,
    backoff_delay_s,
    claim_due,
    dispatch_events,
    matches,
    record_outcome,
    run_once,
)

ALL_EVENTS = ["transfer.posted", "transfer.pending", "request.created", "request.accepted"]
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def sessions(engine: sa.Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def region(session: Session) -> Session:
    """alpha and beta (floor -1000.00), gamma (floor 0, ceiling 500.00)."""
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None), "gamma": (0, 50_000)})
    return session


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: every attempt is a refused connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def pay(session: Session, payer: str, payee: str, amount_minor: int, **spec: object) -> ledger.TransferResult:
    return ledger.create_transfer(
        session,
        ledger.TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=amount_minor, **spec),  # type: ignore[arg-type]
        created_by="test",
    )


def _detached(session: Session, query: sa.Select) -> list:  # type: ignore[type-arg]
    """Rows read in a short transaction and detached, so reading them later opens none."""
    rows = list(session.scalars(query.execution_options(populate_existing=True)))
    for row in rows:
        session.expunge(row)
    session.rollback()
    return rows


def events(session: Session) -> list[WebhookEvent]:
    return _detached(session, select(WebhookEvent).order_by(WebhookEvent.seq))


def deliveries(session: Session) -> list[WebhookDelivery]:
    return _detached(session, select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.id))


def regional(session: Session, url: str = "http://127.0.0.1:9/hook", events: list[str] | None = None) -> uuid.UUID:
    return webhooks.subscribe(session, url=url, events=events or ALL_EVENTS, created_by="test")[1].id


# ---------------------------------------------------------------------------
# The outbox


def test_no_event_is_recorded_while_no_subscription_is_active(region: Session) -> None:
    pay(region, "alpha", "beta", 1_000)
    subscription_id = regional(region)
    webhooks.deactivate_subscription(region, subscription_id, actor="test")
    pay(region, "alpha", "beta", 1_000)
    invoices.create_payment_request(region, id=uuid.uuid4(), payee="beta", payer="alpha", amount_minor=500, created_by="t")
    assert events(region) == []


def test_a_transfer_s_event_is_written_in_its_transaction_and_seen_by_others_only_after_commit(
    region: Session, database_url: str
) -> None:
    regional(region)
    # A plain engine (no BEGIN IMMEDIATE), so that on SQLite it reads beside the writer.
    observer = sa.create_engine(database_url)
    seen: dict[str, int] = {}

    def count(connection: sa.Connection) -> int:
        return int(connection.execute(select(func.count()).select_from(WebhookEvent)).scalar_one())

    def before_commit(session: Session) -> None:
        seen["inside"] = count(session.connection())
        with observer.connect() as other:
            seen["outside"] = count(other)

    event.listen(region, "before_commit", before_commit)
    try:
        pay(region, "alpha", "beta", 1_250)
    finally:
        event.remove(region, "before_commit", before_commit)
    with observer.connect() as other:
        seen["after"] = count(other)
    observer.dispose()
    assert seen == {"inside": 1, "outside": 0, "after": 1}


def test_the_thread_that_recorded_events_is_told_so_once_to_wake_the_worker(region: Session) -> None:
    outbox.take_recorded()
    pay(region, "alpha", "beta", 100)
    assert outbox.take_recorded() is False  # no one listens: nothing to wake
    regional(region)
    pay(region, "alpha", "beta", 100)
    assert outbox.take_recorded() is True
    assert outbox.take_recorded() is False


def test_a_transfer_refused_for_crossing_a_floor_leaves_no_event(region: Session) -> None:
    regional(region)
    with pytest.raises(errors.ExceedsFloor):
        pay(region, "gamma", "alpha", 1)
    results = ledger.create_transfers(
        region,
        [
            ledger.TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=100),
            ledger.TransferSpec(id=uuid.uuid4(), payer="gamma", payee="beta", amount_minor=100),
        ],
        created_by="test",
        is_atomic=True,
    )
    assert [result.is_ok for result in results] == [False, False]
    assert events(region) == []


def test_a_replayed_transfer_records_no_second_event(region: Session) -> None:
    regional(region)
    spec = ledger.TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=100)
    ledger.create_transfer(region, spec, created_by="test")
    assert ledger.create_transfer(region, spec, created_by="test").is_replay
    assert len(events(region)) == 1


def test_transfers_announce_pending_and_posted_with_the_documented_payload(region: Session) -> None:
    regional(region)
    posted = pay(region, "alpha", "beta", 1_250, description="bread", metadata={"order": 7})
    held = pay(region, "alpha", "beta", 300, pending=True, expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc))
    post = ledger.post_pending_transfer(region, held.id, created_by="test", amount_minor=200)
    voided = pay(region, "beta", "alpha", 50, pending=True)
    ledger.void_pending_transfer(region, voided.id, created_by="test")
    reversal = ledger.reverse_transfer(region, posted.id, id=uuid.uuid4(), created_by="test")

    recorded = events(region)
    assert [(e.type, e.payload["data"]["id"]) for e in recorded] == [
        ("transfer.posted", str(posted.id)),
        ("transfer.pending", str(held.id)),
        ("transfer.posted", str(post.id)),
        ("transfer.pending", str(voided.id)),
        ("transfer.posted", str(reversal.id)),
    ]
    first = recorded[0].payload
    assert first["id"] == str(recorded[0].id)
    assert first["type"] == "transfer.posted"
    assert first["region"] == "testland"
    assert first["created_at"].endswith("Z")
    assert first["data"] == {
        "id": str(posted.id),
        "kind": "transfer",
        "state": "posted",
        "payer": "alpha",
        "payee": "beta",
        "amount": "12.50",
        "unit": "TST",
        "description": "bread",
        "metadata": {"order": 7},
        "pending_id": None,
        "reverses_id": None,
        "expires_at": None,
        "created_at": first["created_at"],
    }
    assert recorded[1].payload["data"]["state"] == "pending"
    assert recorded[1].payload["data"]["expires_at"] == "2099-01-01T00:00:00Z"
    assert recorded[2].payload["data"].items() >= {"kind": "post", "amount": "2.00", "pending_id": str(held.id)}.items()
    assert recorded[4].payload["data"]["reverses_id"] == str(posted.id)
    alpha, beta = (add_member_id(region, slug) for slug in ("alpha", "beta"))
    assert (recorded[0].payer_member_id, recorded[0].payee_member_id) == (alpha, beta)


def add_member_id(session: Session, slug: str) -> int:
    from mutualcredit.members.models import Member

    member_id = session.scalar(select(Member.id).where(Member.slug == slug))
    session.rollback()
    assert member_id is not None
    return member_id


def test_a_batch_records_one_event_per_new_transfer_and_none_for_its_failed_items(region: Session) -> None:
    regional(region)
    ids = [uuid.uuid4() for _ in range(4)]
    results = ledger.create_transfers(
        region,
        [
            ledger.TransferSpec(id=ids[0], payer="alpha", payee="beta", amount_minor=100),
            ledger.TransferSpec(id=ids[1], payer="gamma", payee="beta", amount_minor=100),  # gamma has no credit
            ledger.TransferSpec(id=ids[2], payer="beta", payee="alpha", amount_minor=5, pending=True),
            ledger.TransferSpec(id=ids[3], payer="beta", payee="gamma", amount_minor=7),
        ],
        created_by="test",
    )
    assert [result.is_ok for result in results] == [True, False, True, True]
    assert [(e.type, e.payload["data"]["id"]) for e in events(region)] == [
        ("transfer.posted", str(ids[0])),
        ("transfer.pending", str(ids[2])),
        ("transfer.posted", str(ids[3])),
    ]


def test_payment_requests_announce_creation_and_acceptance_but_not_rejection(region: Session) -> None:
    regional(region)
    accepted_id, rejected_id = uuid.uuid4(), uuid.uuid4()
    for request_id in (accepted_id, rejected_id):
        invoices.create_payment_request(
            region, id=request_id, payee="beta", payer="alpha", amount_minor=4_200, description="rent", created_by="t"
        )
    transfer = invoices.accept_payment_request(region, accepted_id, decided_by="t")
    invoices.reject_payment_request(region, rejected_id, decided_by="t")
    recorded = [(e.type, e.payload["data"]["id"]) for e in events(region)]
    assert recorded == [
        ("request.created", str(accepted_id)),
        ("request.created", str(rejected_id)),
        ("transfer.posted", str(transfer.id)),
        ("request.accepted", str(accepted_id)),
    ]
    accepted = events(region)[-1].payload["data"]
    assert accepted.items() >= {
        "state": "accepted",
        "payer": "alpha",
        "payee": "beta",
        "amount": "42.00",
        "unit": "TST",
        "description": "rent",
        "transfer_id": str(transfer.id),
    }.items()


# ---------------------------------------------------------------------------
# Fan-out


def test_fan_out_gives_each_event_to_regional_subscriptions_and_to_those_of_its_payer_or_payee(region: Session) -> None:
    everything = regional(region)
    _, alpha_posted = webhooks.subscribe(
        region, url="https://alpha.example/hook", events=["transfer.posted"], member_slug="alpha", created_by="t"
    )
    _, gamma_requests = webhooks.subscribe(
        region, url="https://gamma.example/hook", events=["request.created"], member_slug="gamma", created_by="t"
    )
    _, deleted = webhooks.subscribe(region, url="https://x.example/", events=ALL_EVENTS, member_slug="alpha", created_by="t")
    webhooks.deactivate_subscription(region, deleted.id, actor="t")

    pay(region, "alpha", "beta", 100)  # alpha pays: regional and alpha's
    pay(region, "beta", "gamma", 100)  # neither alpha's (not party) nor gamma's (other type)
    invoices.create_payment_request(region, id=uuid.uuid4(), payee="gamma", payer="beta", amount_minor=1, created_by="t")

    assert dispatch_events(region, now=T0) == (3, 5)
    assert dispatch_events(region, now=T0) == (0, 0)  # each event is fanned out once
    by_event = {}
    for delivery in deliveries(region):
        by_event.setdefault(delivery.event_id, set()).add(delivery.subscription_id)
    recorded = events(region)
    assert [by_event[e.id] for e in recorded] == [
        {everything, alpha_posted.id},
        {everything},
        {everything, gamma_requests.id},
    ]
    assert all(e.dispatched_at == T0 for e in recorded)


@pytest.mark.parametrize(
    ("listens", "member", "event_type", "payer", "payee", "expected"),
    [
        (["transfer.posted"], None, "transfer.posted", 1, 2, True),
        (["transfer.posted"], None, "transfer.pending", 1, 2, False),
        (["transfer.posted"], 2, "transfer.posted", 1, 2, True),
        (["transfer.posted"], 1, "transfer.posted", 1, None, True),
        (["transfer.posted"], 3, "transfer.posted", 1, 2, False),
        (["request.created"], 3, "request.created", None, None, False),
    ],
)
def test_a_subscription_matches_its_types_and_its_member_s_events(
    listens: list[str], member: int | None, event_type: str, payer: int | None, payee: int | None, expected: bool
) -> None:
    assert matches(listens, member, event_type, payer, payee) is expected


# ---------------------------------------------------------------------------
# Retries


def test_the_backoff_doubles_from_the_base_gets_a_little_jitter_and_is_capped_at_an_hour() -> None:
    assert [backoff_delay_s(n, base_s=30) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert backoff_delay_s(3, base_s=30, jitter_fraction=0.1, random_fraction=1.0) == pytest.approx(132)
    assert backoff_delay_s(3, base_s=30, jitter_fraction=0.1, random_fraction=0.5) == pytest.approx(126)
    assert backoff_delay_s(500, base_s=30, random_fraction=1.0) == 3600
    with pytest.raises(AssertionError):
        backoff_delay_s(0, base_s=30)


def test_a_delivery_that_keeps_failing_follows_the_backoff_schedule_then_fails_after_its_attempts(
    region: Session, sessions: sessionmaker[Session], closed_port_url: str
) -> None:
    subscription_id = regional(region, closed_port_url)
    pay(region, "alpha", "beta", 100)
    settings = WorkerSettings(retry_base_s=30, attempts_max=3, timeout_s=5, jitter_fraction=0)
    clock = [T0]

    def run() -> None:
        run_once(sessions, settings, now=lambda: clock[0])

    run()
    (delivery,) = deliveries(region)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("pending", 1, T0 + dt.timedelta(seconds=30))
    clock[0] = T0 + dt.timedelta(seconds=29)
    run()  # not due yet
    assert deliveries(region)[0].attempts == 1
    clock[0] = T0 + dt.timedelta(seconds=30)
    run()
    assert deliveries(region)[0].next_attempt_at == T0 + dt.timedelta(seconds=30 + 60)
    clock[0] = T0 + dt.timedelta(seconds=90)
    run()
    (delivery,) = deliveries(region)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at, delivery.completed_at) == (
        "failed",
        3,
        None,
        T0 + dt.timedelta(seconds=90),
    )
    assert delivery.last_status_code is None and "refused" in (delivery.last_error or "").lower()
    clock[0] = T0 + dt.timedelta(days=1)
    run()  # a failed delivery is not tried again by itself
    (view,) = webhooks.list_deliveries(region, subscription_id)
    assert view.attempt_count == 3
    assert [(a.number, a.status_code) for a in view.attempts] == [(1, None), (2, None), (3, None)]
    assert all(a.error and a.duration_ms >= 0 for a in view.attempts)


def test_a_failed_delivery_retried_by_hand_gets_one_more_attempt(
    region: Session, sessions: sessionmaker[Session], closed_port_url: str
) -> None:
    subscription_id = regional(region, closed_port_url)
    pay(region, "alpha", "beta", 100)
    settings = WorkerSettings(retry_base_s=30, attempts_max=1, timeout_s=5, jitter_fraction=0)
    run_once(sessions, settings, now=lambda: T0)
    (failed,) = webhooks.list_deliveries(region, subscription_id)
    assert failed.state == "failed"

    retried = webhooks.retry_delivery(region, subscription_id, failed.id, actor="t", now=T0 + dt.timedelta(minutes=5))
    assert (retried.state, retried.next_attempt_at, retried.completed_at) == ("pending", T0 + dt.timedelta(minutes=5), None)
    with pytest.raises(DeliveryNotFailed):
        webhooks.retry_delivery(region, subscription_id, failed.id, actor="t")
    run_once(sessions, settings, now=lambda: T0 + dt.timedelta(minutes=5))
    (again,) = webhooks.list_deliveries(region, subscription_id)
    assert (again.state, again.attempt_count, [a.number for a in again.attempts]) == ("failed", 2, [1, 2])


def test_an_attempt_recorded_after_its_lease_was_taken_over_changes_nothing(region: Session) -> None:
    regional(region)
    pay(region, "alpha", "beta", 100)
    dispatch_events(region, now=T0)
    settings = WorkerSettings(retry_base_s=30, attempts_max=8, jitter_fraction=0)
    (first,) = claim_due(region, now=T0, limit=10, lease_s=1)
    (second,) = claim_due(region, now=T0 + dt.timedelta(seconds=2), limit=10, lease_s=1)  # the lease ran out
    assert (first.attempt_number, second.attempt_number) == (1, 2)
    late = Outcome(started_at=T0, duration_ms=5, status_code=200, error=None)
    assert record_outcome(region, first, late, now=T0, settings=settings, random_fraction=0) is None
    assert record_outcome(region, second, late, now=T0, settings=settings, random_fraction=0) == "succeeded"
    (delivery,) = deliveries(region)
    assert (delivery.state, delivery.attempts) == ("succeeded", 2)
    numbers = list(region.scalars(select(WebhookAttempt.number)))
    region.rollback()
    assert numbers == [2]


def test_a_claimed_delivery_is_out_of_reach_until_its_lease_ends(region: Session) -> None:
    regional(region)
    pay(region, "alpha", "beta", 100)
    dispatch_events(region, now=T0)
    assert len(claim_due(region, now=T0, limit=10, lease_s=60)) == 1
    assert claim_due(region, now=T0 + dt.timedelta(seconds=59), limit=10, lease_s=60) == []
    assert len(claim_due(region, now=T0 + dt.timedelta(seconds=60), limit=10, lease_s=60)) == 1


@pytest.mark.postgres
def test_on_postgresql_a_delivery_locked_by_another_worker_is_skipped_not_waited_for(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None)})
            regional(session)
            pay(session, "alpha", "beta", 100)
            pay(session, "beta", "alpha", 100)
            dispatch_events(session, now=T0)
            first, second = deliveries(session)
        with sessions() as holder, sessions() as worker:
            holder.execute(select(WebhookDelivery.id).where(WebhookDelivery.id == first.id).with_for_update())
            worker.execute(sa.text("SET lock_timeout = '5s'"))  # would fail, not hang, if it waited
            claims = claim_due(worker, now=T0, limit=10, lease_s=60)
            holder.rollback()
        assert [claim.delivery_id for claim in claims] == [second.id]
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------
# Subscriptions


def test_subscribing_checks_the_url_the_events_and_the_member(region: Session) -> None:
    for url in ("ftp://example.org/x", "http:///nohost", "example.org/hook", "http://exa mple.org/", "http://x:99999/", ""):
        with pytest.raises(InvalidWebhookUrl):
            webhooks.subscribe(region, url=url, events=["transfer.posted"], created_by="t")
    for chosen in ([], ["transfer.voided"], "transfer.posted"):
        with pytest.raises(UnknownEventType):
            webhooks.subscribe(region, url="https://example.org/", events=chosen, created_by="t")  # type: ignore[arg-type]
    with pytest.raises(errors.MemberNotFound):
        webhooks.subscribe(region, url="https://example.org/", events=["transfer.posted"], member_slug="nobody", created_by="t")
    secret, view = webhooks.subscribe(
        region, url="HTTPS://Example.org/h?x=1", events=["request.created", "transfer.posted", "transfer.posted"], created_by="t"
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    assert (view.url, view.events, view.member_slug) == ("https://Example.org/h?x=1", ("transfer.posted", "request.created"), None)


def test_a_member_has_at_most_twenty_active_subscriptions(region: Session) -> None:
    for index in range(webhooks.SUBSCRIPTIONS_PER_OWNER_MAX):
        webhooks.subscribe(region, url=f"https://a.example/{index}", events=["transfer.posted"], member_slug="alpha", created_by="t")
    with pytest.raises(SubscriptionLimitReached):
        webhooks.subscribe(region, url="https://a.example/x", events=["transfer.posted"], member_slug="alpha", created_by="t")
    webhooks.subscribe(region, url="https://b.example/x", events=["transfer.posted"], member_slug="beta", created_by="t")


def test_deleting_a_subscription_fails_its_pending_deliveries_and_keeps_its_log(region: Session) -> None:
    subscription_id = regional(region)
    pay(region, "alpha", "beta", 100)
    dispatch_events(region, now=T0)
    webhooks.deactivate_subscription(region, subscription_id, actor="t", now=T0)
    webhooks.deactivate_subscription(region, subscription_id, actor="t")  # twice is harmless
    view = webhooks.get_subscription(region, subscription_id)
    assert (view.is_active, view.deactivated_at) == (False, T0)
    (delivery,) = webhooks.list_deliveries(region, subscription_id)
    assert (delivery.state, delivery.last_error) == ("failed", webhooks.DELETED_ERROR)
    with pytest.raises(SubscriptionNotActive):
        webhooks.retry_delivery(region, subscription_id, delivery.id, actor="t")


def test_a_member_sees_only_its_own_subscriptions(region: Session) -> None:
    _, alpha = webhooks.subscribe(region, url="https://a.example/", events=ALL_EVENTS, member_slug="alpha", created_by="t")
    _, beta = webhooks.subscribe(region, url="https://b.example/", events=ALL_EVENTS, member_slug="beta", created_by="t")
    assert [view.id for view in webhooks.list_subscriptions(region, member_slug="alpha")] == [alpha.id]
    assert {view.id for view in webhooks.list_subscriptions(region)} == {alpha.id, beta.id}
    with pytest.raises(SubscriptionNotFound):
        webhooks.get_subscription(region, beta.id, member_slug="alpha")
    with pytest.raises(SubscriptionNotFound):
        webhooks.deactivate_subscription(region, beta.id, actor="t", member_slug="alpha")
    assert webhooks.get_subscription(region, beta.id).is_active


# ---------------------------------------------------------------------------
# Signatures (pure)

SECRET = "whsec_test-secret"
BODY = b'{"id":"e1","type":"transfer.posted"}'
NOW = 1_900_000_000


def test_a_signature_verifies_with_its_secret_body_and_a_fresh_timestamp() -> None:
    header = sign(SECRET, NOW, BODY)
    assert header.startswith(f"t={NOW},v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, BODY, now=NOW)
    assert verify(SECRET, header, BODY, now=NOW + 300)
    assert verify(SECRET, f"{header},v1={'0' * 64}", BODY, now=NOW)  # one of several signatures matches


@pytest.mark.parametrize(
    ("secret", "header", "body", "now"),
    [
        ("whsec_other", None, BODY, NOW),  # another secret
        (SECRET, None, BODY.replace(b"posted", b"pending"), NOW),  # tampered body
        (SECRET, None, BODY, NOW + 301),  # stale
        (SECRET, None, BODY, NOW - 301),  # from the future
        (SECRET, f"t={NOW + 1},v1=" + "{digest}", BODY, NOW),  # timestamp changed after signing
        (SECRET, "", BODY, NOW),
        (SECRET, f"t={NOW}", BODY, NOW),
        (SECRET, "v1=" + "{digest}", BODY, NOW),
        (SECRET, f"t=abc,v1=" + "{digest}", BODY, NOW),
        (SECRET, f"t=\u0661\u0662,v1=" + "{digest}", BODY, NOW),
        (SECRET, f"t={NOW},t={NOW},v1=" + "{digest}", BODY, NOW),
        (SECRET, "garbage", BODY, NOW),
    ],
)
def test_a_signature_is_refused_for_another_secret_a_tampered_body_a_stale_time_or_a_malformed_header(
    secret: str, header: str | None, body: bytes, now: int
) -> None:
    genuine = sign(SECRET, NOW, BODY)
    digest = genuine.split("v1=")[1]
    header = genuine if header is None else header.replace("{digest}", digest)
    assert not verify(secret, header, body, now=now)


# ---------------------------------------------------------------------------
# The command line, as a real process


def mutualcredit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, MUTUALCREDIT_DATABASE_URL=database_url, MUTUALCREDIT_WEBHOOK_RETRY_BASE_S="60")
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args], capture_output=True, text=True, env=environ, timeout=120
    )


def test_the_webhooks_commands_deliver_once_and_show_subscriptions_and_their_deliveries(
    sqlite_url: str, closed_port_url: str
) -> None:
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None)})
        subscription_id = regional(session, closed_port_url, ["transfer.posted"])
        pay(session, "alpha", "beta", 100)
    engine.dispose()

    delivered = mutualcredit(sqlite_url, "webhooks", "deliver", "--once", "--json")
    assert delivered.returncode == 0, delivered.stderr
    assert json.loads(delivered.stdout) == {
        "events_dispatched": 1,
        "deliveries_created": 1,
        "attempted": 1,
        "succeeded": 0,
        "retrying": 1,
        "failed": 0,
    }
    listed = json.loads(mutualcredit(sqlite_url, "webhooks", "list", "--json").stdout)
    assert [(s["id"], s["member"], s["events"], s["active"]) for s in listed] == [
        (str(subscription_id), None, ["transfer.posted"], True)
    ]
    assert "secret" not in listed[0]
    (delivery,) = json.loads(mutualcredit(sqlite_url, "webhooks", "deliveries", str(subscription_id), "--json").stdout)
    assert (delivery["state"], delivery["attempt_count"], len(delivery["attempts"])) == ("pending", 1, 1)
    assert "refused" in delivery["attempts"][0]["error"].lower()
    assert str(subscription_id) in mutualcredit(sqlite_url, "webhooks", "list").stdout
    unknown = mutualcredit(sqlite_url, "webhooks", "deliveries", str(uuid.uuid4()))
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: webhook_subscription_not_found")


def test_the_delivery_worker_process_stops_cleanly_on_sigterm(sqlite_url: str) -> None:
    environ = dict(os.environ, MUTUALCREDIT_DATABASE_URL=sqlite_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "webhooks", "deliver", "--forever"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert "running" in process.stderr.readline()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
