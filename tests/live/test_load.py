"""Through HTTP on real PostgreSQL with gunicorn (several workers): 16 clients x 300 random transfers.

Afterwards ``mutualcredit audit`` passes and every transfer answered 2xx is
in the ledger exactly once; every refused one (409 for a limit) is absent.
Each client is a thread with its own connection; a barrier starts
them together. Some transfers are sent again with the same id (at once,
later, or by another client), some with an ``Idempotency-Key`` too, and
some acknowledged ids are sent again with other content, which must be
refused. Plain SQL, not the services, says what the database holds.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from conftest import read_ledger_with_plain_sql

from live.conftest import Answer, HttpClient, LiveServer, run_cli

pytestmark = pytest.mark.postgres

CLIENT_COUNT = 16
TRANSFERS_PER_CLIENT = 300
MEMBER_COUNT = 10
AMOUNT_MINOR_MAX = 60_000  # 600.00, of the order of the limits, so that many transfers are refused
RETRY_SHARE = 0.10  # of new transfers, sent again later with the same id and content
KEY_SHARE = 0.5  # of new transfers, sent with an Idempotency-Key as well as an id
CONFLICT_SHARE = 0.03  # of acknowledged transfers, sent again with the same id and another amount
BARRIER_TIMEOUT_S = 120
JOIN_TIMEOUT_S = 600
LIMIT_REFUSALS = {"/api/v1/problems/exceeds_floor", "/api/v1/problems/exceeds_ceiling"}


def member_slug(index: int) -> str:
    return f"coop-{index:02d}"


# Tight limits (-400.00 to -900.00), a third of the members without a ceiling.
MEMBERS: dict[str, tuple[int, int | None]] = {
    member_slug(i): (-(40_000 + 10_000 * (i % 6)), None if i % 3 == 0 else 50_000 + 15_000 * (i % 5))
    for i in range(MEMBER_COUNT)
}


@pytest.fixture(scope="module")
def server(live_server_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with live_server_factory("load", MEMBERS) as server:
        yield server


def decimal_string(amount_minor: int) -> str:
    return f"{amount_minor // 100}.{amount_minor % 100:02d}"


@dataclass(frozen=True, slots=True)
class Order:
    """One transfer a client wants made, and how it asks for it."""

    id: uuid.UUID
    payer: str
    payee: str
    amount_minor: int
    description: str
    idempotency_key: str | None

    def body(self, *, amount_minor: int | None = None) -> dict[str, str]:
        return {
            "id": str(self.id),
            "payer": self.payer,
            "payee": self.payee,
            "amount": decimal_string(self.amount_minor if amount_minor is None else amount_minor),
            "description": self.description,
        }


@dataclass
class Ledgerbook:
    """What the clients were answered, shared between threads under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: dict[uuid.UUID, Order] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    conflicts_refused: int = 0

    def record(self, order: Order, answer: Answer, *, retry: str | None) -> None:
        is_replayed = answer.headers.get("idempotent-replayed") == "true"
        with self.lock:
            if retry is not None:
                self.retries[retry] = self.retries.get(retry, 0) + 1
            known = order.id in self.acknowledged
            if answer.status in (200, 201):
                body = answer.json()
                sent = (str(order.id), order.payer, order.payee, decimal_string(order.amount_minor), order.description)
                got = (body["id"], body["payer"], body["payee"], body["amount"], body["description"])
                if got != sent:
                    self.problems.append(f"{order.id} was answered with other content: {got} for {sent}")
                is_new = answer.status == 201 and not is_replayed
                if is_new and known:
                    self.problems.append(f"{order.id} was acknowledged twice as new: paid twice?")
                elif not is_new and not known:
                    self.problems.append(f"{order.id} was answered as a replay but never acknowledged before")
                self.acknowledged[order.id] = order
            elif answer.status == 409 and answer.problem_type in LIMIT_REFUSALS:
                self.refusals[answer.problem_type] = self.refusals.get(answer.problem_type, 0) + 1
                if known and not is_replayed:
                    self.problems.append(f"{order.id} was acknowledged, then a retry was refused: {answer.body!r}")
            else:
                self.problems.append(f"{order.id}: unexpected {answer.status} {answer.body[:300]!r}")

    def record_conflict(self, order: Order, answer: Answer) -> None:
        with self.lock:
            if answer.status == 409 and answer.problem_type == "/api/v1/problems/idempotency_conflict":
                self.conflicts_refused += 1
            else:
                self.problems.append(
                    f"{order.id} sent again with another amount got {answer.status} {answer.body[:300]!r}, not 409"
                )


def run_clients(count: int, work: Callable[[int, threading.Barrier], None]) -> None:
    """Run ``work(index, barrier)`` in ``count`` threads; fail with every client's traceback if any failed."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)
    failures: list[str] = []

    def guarded(index: int) -> None:
        try:
            work(index, barrier)
        except BaseException:
            failures.append(f"client {index}:\n{traceback.format_exc()}")
            barrier.abort()  # do not leave the others waiting

    threads = [threading.Thread(target=guarded, args=(index,), name=f"client-{index}") for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a client is still waiting: a deadlock or a hang"
    assert not failures, "\n".join(failures)


def test_sixteen_clients_through_gunicorn_never_pay_twice_nor_lose_an_acknowledged_transfer(server: LiveServer) -> None:
    book = Ledgerbook()
    slugs = sorted(MEMBERS)
    # Retries handed to the next client, so that they come over another connection.
    inboxes: list[queue.SimpleQueue[Order]] = [queue.SimpleQueue() for _ in range(CLIENT_COUNT)]

    def work(index: int, barrier: threading.Barrier) -> None:
        rng = random.Random(5_000 + index)
        later: list[Order] = []
        with HttpClient(server.host, server.port) as client:

            def send(order: Order, retry: str | None = None) -> None:
                headers = {"Idempotency-Key": order.idempotency_key} if order.idempotency_key else {}
                answer = client.request(
                    "POST", "/api/v1/transfers", token=server.tokens[order.payer], body=order.body(), headers=headers
                )
                book.record(order, answer, retry=retry)
                if order.id in book.acknowledged and rng.random() < CONFLICT_SHARE:
                    other = client.request(
                        "POST",
                        "/api/v1/transfers",
                        token=server.tokens[order.payer],
                        body=order.body(amount_minor=order.amount_minor + 1),
                    )
                    book.record_conflict(order, other)

            def drain_inbox() -> None:
                while True:
                    try:
                        order = inboxes[index].get_nowait()
                    except queue.Empty:
                        return
                    send(order, "by another client")

            barrier.wait()
            for number in range(TRANSFERS_PER_CLIENT):
                payer, payee = rng.sample(slugs, 2)
                transfer_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                order = Order(
                    id=transfer_id,
                    payer=payer,
                    payee=payee,
                    amount_minor=rng.randint(1, AMOUNT_MINOR_MAX),
                    description=f"c{index}-{number}",
                    idempotency_key=f"load-{transfer_id}" if rng.random() < KEY_SHARE else None,
                )
                send(order)
                if rng.random() < RETRY_SHARE:
                    match rng.randrange(3):
                        case 0:
                            send(order, "at once")
                        case 1:
                            later.append(order)
                        case _:
                            inboxes[(index + 1) % CLIENT_COUNT].put(order)
                if later and rng.random() < 0.05:
                    send(later.pop(rng.randrange(len(later))), "later")
                drain_inbox()
            for order in later:
                send(order, "later")
            barrier.wait()  # every client has handed over all its retries
            drain_inbox()

    run_clients(CLIENT_COUNT, work)

    assert not book.problems, book.problems[:20]
    # The limits really were reached, and retries and conflicts came in every way.
    assert book.refusals.get("/api/v1/problems/exceeds_floor", 0) > 50, book.refusals
    assert book.refusals.get("/api/v1/problems/exceeds_ceiling", 0) > 50, book.refusals
    assert set(book.retries) == {"at once", "later", "by another client"}, book.retries
    assert sum(book.retries.values()) > 0.05 * CLIENT_COUNT * TRANSFERS_PER_CLIENT, book.retries
    assert book.conflicts_refused > 0
    assert len(book.acknowledged) > 0.2 * CLIENT_COUNT * TRANSFERS_PER_CLIENT

    audit = run_cli(server, "audit", "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert (report["ok"], report["findings"], report["transfers"]) == (True, [], len(book.acknowledged))

    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            accounts, rows, derived = read_ledger_with_plain_sql(connection)
    finally:
        engine.dispose()

    assert sum(account.balance for account in accounts) == 0, "zero-sum does not hold"
    for account in accounts:
        assert (account.debits_pending, account.credits_pending) == (0, 0), account.code
        if account.floor is not None:
            assert account.balance >= account.floor, f"{account.code} is below its floor"
        if account.ceiling is not None:
            assert account.balance <= account.ceiling, f"{account.code} is above its ceiling"
        assert account.balance == derived[account.id], f"{account.code}: cached balance differs from its transfers"

    counted: dict[uuid.UUID, int] = {}
    for row in rows:
        counted[row.id] = counted.get(row.id, 0) + 1
    assert [transfer_id for transfer_id, count in counted.items() if count != 1] == [], "a transfer is stored twice"
    assert set(counted) == set(book.acknowledged), "an acknowledged transfer is missing, or a refused one stored"
    for row in rows:
        order = book.acknowledged[row.id]
        assert (row.payer, row.payee, row.amount_minor, row.description, row.kind, row.state) == (
            order.payer,
            order.payee,
            order.amount_minor,
            order.description,
            "transfer",
            "posted",
        ), f"{row.id} is stored with other content than acknowledged"
