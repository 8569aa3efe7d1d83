"""Many workers at once on real PostgreSQL: no limit crossed, no transfer lost or doubled.

Each worker thread has its own Session (its own connection from one pool);
a barrier starts them together. Transactions commit for real. Afterwards
plain SQL, not the services, says what the database holds.
"""

from __future__ import annotations

import queue
import random
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from conftest import read_ledger_with_plain_sql, set_up_region
from sqlalchemy.orm import Session, sessionmaker

from mutualcredit import errors
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.ledger.service import TransferResult, TransferSpec

pytestmark = pytest.mark.postgres

WORKER_COUNT = 16
TRANSFERS_PER_WORKER = 500
ACCOUNT_COUNT = 20
AMOUNT_MAX = 600
RETRY_SHARE = 0.10  # of new transfers, retried later with the same id and content
BARRIER_TIMEOUT_S = 60
JOIN_TIMEOUT_S = 600
ACTOR = "worker"


def account_code(index: int) -> str:
    return f"coop-{index:02d}"


# Tight limits, a third of them without a ceiling, so that many transfers are refused.
LIMITS: dict[str, tuple[int, int | None]] = {
    account_code(i): (-(400 + 100 * (i % 6)), None if i % 3 == 0 else 500 + 150 * (i % 5)) for i in range(ACCOUNT_COUNT)
}


@pytest.fixture
def sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on one pooled engine, sized for every worker at once; the region set up."""
    engine = make_engine(postgres_url, pool_size=WORKER_COUNT, max_overflow=4)
    factory = make_session_factory(engine)
    with factory() as session:
        set_up_region(session, LIMITS)
    yield factory
    engine.dispose()


def run_workers(count: int, work: Callable[[int, threading.Barrier], None]) -> None:
    """Run ``work(index, barrier)`` in ``count`` threads; fail with every worker's traceback if any failed."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)
    failures: list[str] = []

    def guarded(index: int) -> None:
        try:
            work(index, barrier)
        except BaseException:
            failures.append(f"worker {index}:\n{traceback.format_exc()}")
            barrier.abort()  # do not leave the others waiting

    threads = [threading.Thread(target=guarded, args=(index,), name=f"worker-{index}") for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a worker is still running: a deadlock or a hang"
    assert not failures, "\n".join(failures)


def content(spec: TransferSpec) -> tuple[str, str, int, str]:
    return spec.payer, spec.payee, spec.amount_minor, spec.description


def pay(session: Session, spec: TransferSpec) -> TransferResult:
    return ledger.create_transfer(session, spec, created_by=ACTOR)


# ---------------------------------------------------------------------------
# Many random transfers, some retried


@dataclass
class Ledgerbook:
    """What the workers were told, shared between threads under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: dict[uuid.UUID, tuple[str, str, int, str]] = field(default_factory=dict)
    first_seq: dict[uuid.UUID, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)

    def record(
        self,
        spec: TransferSpec,
        result: TransferResult | None,
        error: errors.MutualCreditError | None,
        *,
        retry: str | None,
    ) -> None:
        with self.lock:
            if retry is not None:
                self.retries[retry] = self.retries.get(retry, 0) + 1
            known = self.acknowledged.get(spec.id)
            if error is not None:
                self.refusals[error.code] = self.refusals.get(error.code, 0) + 1
                if known is not None:
                    self.problems.append(f"{spec.id} was acknowledged, then its retry was refused: {error!r}")
                return
            assert result is not None
            if known is None:
                if result.is_replay:
                    self.problems.append(f"{spec.id} was answered as a replay but never acknowledged before")
                self.acknowledged[spec.id] = content(spec)
                self.first_seq[spec.id] = result.seq
                return
            # Acknowledged before: a retry must be answered with the first transfer.
            if not result.is_replay:
                self.problems.append(f"{spec.id} was acknowledged twice as new: paid twice?")
            if (result.payer, result.payee, result.amount_minor, result.description) != known:
                self.problems.append(f"{spec.id} was answered with other content than acknowledged")
            if result.seq != self.first_seq[spec.id]:
                self.problems.append(f"{spec.id} was answered with another row (seq {result.seq})")


def attempt(session: Session, spec: TransferSpec) -> tuple[TransferResult | None, errors.MutualCreditError | None]:
    try:
        return pay(session, spec), None
    except (errors.ExceedsFloor, errors.ExceedsCeiling) as error:
        return None, error


def test_sixteen_workers_never_cross_a_limit_nor_lose_a_transfer(sessions: sessionmaker[Session]) -> None:
    book = Ledgerbook()
    codes = sorted(LIMITS)
    # Retries handed to the next worker, so that they come from a different thread.
    inboxes: list[queue.SimpleQueue[TransferSpec]] = [queue.SimpleQueue() for _ in range(WORKER_COUNT)]

    def work(index: int, barrier: threading.Barrier) -> None:
        rng = random.Random(1_000 + index)
        later: list[TransferSpec] = []
        with sessions() as session:

            def submit(spec: TransferSpec, retry: str | None = None) -> None:
                result, error = attempt(session, spec)
                book.record(spec, result, error, retry=retry)

            def drain_inbox() -> None:
                while True:
                    try:
                        spec = inboxes[index].get_nowait()
                    except queue.Empty:
                        return
                    submit(spec, "from another worker")

            barrier.wait()
            for number in range(TRANSFERS_PER_WORKER):
                payer, payee = rng.sample(codes, 2)
                spec = TransferSpec(
                    id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    payer=payer,
                    payee=payee,
                    amount_minor=rng.randint(1, AMOUNT_MAX),
                    description=f"w{index}-{number}",
                )
                submit(spec)
                if rng.random() < RETRY_SHARE:
                    match rng.randrange(3):
                        case 0:
                            submit(spec, "right away")
                        case 1:
                            later.append(spec)
                        case _:
                            inboxes[(index + 1) % WORKER_COUNT].put(spec)
                if later and rng.random() < 0.05:
                    submit(later.pop(rng.randrange(len(later))), "later")
                drain_inbox()
            for spec in later:
                submit(spec, "later")
            barrier.wait()  # every worker has handed over all its retries
            drain_inbox()

    run_workers(WORKER_COUNT, work)

    assert not book.problems, book.problems[:20]
    # The limits really were tested, and retries came in every way.
    assert book.refusals.get("exceeds_floor", 0) > 100, book.refusals
    assert book.refusals.get("exceeds_ceiling", 0) > 100, book.refusals
    assert set(book.retries) == {"right away", "later", "from another worker"}, book.retries
    assert sum(book.retries.values()) > 0.05 * WORKER_COUNT * TRANSFERS_PER_WORKER, book.retries

    with sessions() as session:
        accounts, rows, derived = read_ledger_with_plain_sql(session)
        session.rollback()

        assert sum(account.balance for account in accounts) == 0
        for account in accounts:
            assert (account.debits_pending, account.credits_pending) == (0, 0), account.code
            if account.floor is not None:
                assert account.balance >= account.floor, f"{account.code} is below its floor"
            if account.ceiling is not None:
                assert account.balance <= account.ceiling, f"{account.code} is above its ceiling"
            assert account.balance == derived[account.id], f"{account.code}: cached balance differs from its transfers"

        assert len(rows) == len(book.acknowledged), "rows and acknowledged transfers differ in number"
        stored = {row.id: row for row in rows}
        assert len(stored) == len(rows), "a transfer id is stored twice"
        assert set(stored) == set(book.acknowledged), (
            "an acknowledged transfer is missing, or an unacknowledged one stored"
        )
        for transfer_id, (payer, payee, amount_minor, description) in book.acknowledged.items():
            row = stored[transfer_id]
            assert (row.payer, row.payee, row.amount_minor, row.description, row.kind, row.state) == (
                payer,
                payee,
                amount_minor,
                description,
                "transfer",
                "posted",
            ), f"{transfer_id} is stored with other content than acknowledged"

        report = run_audit(session)
        assert report.is_clean, [finding.as_dict() for finding in report.findings[:20]]


# ---------------------------------------------------------------------------
# Everyone sends the same transfer at once


def test_sixteen_workers_sending_the_same_transfer_id_at_once_create_exactly_one_row(
    sessions: sessionmaker[Session],
) -> None:
    spec = TransferSpec(
        id=uuid.uuid4(), payer=account_code(1), payee=account_code(2), amount_minor=250, description="once"
    )
    results: list[TransferResult] = []
    lock = threading.Lock()

    def work(index: int, barrier: threading.Barrier) -> None:
        with sessions() as session:
            barrier.wait()
            result = pay(session, spec)
        with lock:
            results.append(result)

    run_workers(WORKER_COUNT, work)

    assert len(results) == WORKER_COUNT
    assert len({(result.id, result.seq, result.hash, result.created_at) for result in results}) == 1
    assert sum(not result.is_replay for result in results) == 1, "exactly one worker wrote the transfer"
    with sessions() as session:
        assert session.execute(sa.text("SELECT count(*) FROM transfers")).scalar_one() == 1
        balances = dict(session.execute(sa.text("SELECT code, balance FROM accounts")).all())
        assert (balances[spec.payer], balances[spec.payee]) == (-250, 250)
        assert run_audit(session).is_clean


# ---------------------------------------------------------------------------
# A pending transfer posted and voided at once


RACE_ROUNDS = 6
Outcome = TransferResult | errors.MutualCreditError


def post_and_void_at_once(
    sessions: sessionmaker[Session], pending_id: uuid.UUID, amount_minor: int
) -> list[tuple[str, Outcome]]:
    """Every worker resolves the same pending transfer at once: even ones post, odd ones void."""
    outcomes: list[tuple[str, Outcome]] = []
    lock = threading.Lock()

    def work(index: int, barrier: threading.Barrier) -> None:
        action = "void" if index % 2 else "post"
        with sessions() as session:
            barrier.wait()
            outcome: Outcome
            try:
                if action == "post":
                    # Half the posting workers state the full amount, half leave it implied.
                    stated = amount_minor if index % 4 == 0 else None
                    outcome = ledger.post_pending_transfer(session, pending_id, created_by=ACTOR, amount_minor=stated)
                else:
                    outcome = ledger.void_pending_transfer(session, pending_id, created_by=ACTOR)
            except (errors.PendingTransferAlreadyPosted, errors.PendingTransferAlreadyVoided) as error:
                outcome = error
        with lock:
            outcomes.append((action, outcome))

    run_workers(WORKER_COUNT, work)
    return outcomes


def test_a_pending_transfer_posted_and_voided_at_once_by_many_workers_is_resolved_exactly_once(
    sessions: sessionmaker[Session],
) -> None:
    amount_minor = 300
    for round_number in range(RACE_ROUNDS):
        payer, payee = account_code(10 + round_number), account_code(4 + round_number)
        with sessions() as session:
            pending = pay(
                session,
                TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=amount_minor, pending=True),
            )
            balance_before = dict(session.execute(sa.text("SELECT code, balance FROM accounts")).all())

        outcomes = post_and_void_at_once(sessions, pending.id, amount_minor)
        assert len(outcomes) == WORKER_COUNT

        with sessions() as session:
            resolutions = session.execute(
                sa.text("SELECT id, kind, amount_minor FROM transfers WHERE pending_id = :pending_id"),
                {"pending_id": pending.id},
            ).all()
            state = session.execute(
                sa.text("SELECT state FROM transfers WHERE id = :id"), {"id": pending.id}
            ).scalar_one()
            accounts = {
                row.code: row
                for row in session.execute(
                    sa.text("SELECT code, balance, debits_pending, credits_pending FROM accounts")
                )
            }
            report = run_audit(session)

        assert len(resolutions) == 1, f"round {round_number}: resolved {len(resolutions)} times"
        (resolution,) = resolutions
        winner = resolution.kind
        assert winner in ("post", "void")
        assert state == {"post": "posted", "void": "voided"}[winner]
        refused_as = errors.PendingTransferAlreadyPosted if winner == "post" else errors.PendingTransferAlreadyVoided
        fresh = [outcome for _, outcome in outcomes if isinstance(outcome, TransferResult) and not outcome.is_replay]
        assert len(fresh) == 1, f"round {round_number}: {len(fresh)} workers resolved it as new"
        for action, outcome in outcomes:
            if action == winner:
                assert isinstance(outcome, TransferResult), f"{action}: {outcome!r}"
                assert (outcome.id, outcome.kind, outcome.amount_minor) == (resolution.id, winner, amount_minor)
            else:
                assert type(outcome) is refused_as, f"{action} got {outcome!r} after a {winner}"
        moved = amount_minor if winner == "post" else 0
        assert accounts[payer].balance == balance_before[payer] - moved
        assert accounts[payee].balance == balance_before[payee] + moved
        assert (accounts[payer].debits_pending, accounts[payee].credits_pending) == (0, 0)
        assert report.is_clean, [finding.as_dict() for finding in report.findings]
