"""SQLite, the embedded default, queues concurrent writers instead of failing or losing updates."""

from __future__ import annotations

import random
import threading
import uuid

from conftest import set_up_region
from mutualcredit import errors
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit

THREADS = 6
TRANSFERS_PER_THREAD = 80
ACCOUNTS = [f"coop-{n}" for n in range(6)]


def test_concurrent_writers_on_sqlite_lose_no_update_and_cross_no_limit(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url, pool_size=THREADS)
    sessions = make_session_factory(engine)
    with sessions() as session:
        set_up_region(session, {code: (-5_000, 8_000) for code in ACCOUNTS})
    acknowledged: dict[uuid.UUID, tuple[str, str, int]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with sessions() as session:
                barrier.wait()
                for _ in range(TRANSFERS_PER_THREAD):
                    payer, payee = rng.sample(ACCOUNTS, 2)
                    spec = ledger.TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=rng.randint(1, 3_000))
                    try:
                        result = ledger.create_transfer(session, spec, created_by=f"thread-{seed}")
                    except (errors.ExceedsFloor, errors.ExceedsCeiling):
                        continue
                    with lock:
                        acknowledged[result.id] = (payer, payee, spec.amount_minor)
        except BaseException as error:  # surfaced below: a thread's exception would vanish
            failures.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with sessions() as session:
        expected = dict.fromkeys(ACCOUNTS, 0)
        for payer, payee, amount in acknowledged.values():
            expected[payer] -= amount
            expected[payee] += amount
        accounts = {a.code: a for a in ledger.list_accounts(session)}
        assert {code: accounts[code].balance for code in ACCOUNTS} == expected
        assert all(-5_000 <= accounts[code].balance <= 8_000 for code in ACCOUNTS)
        assert len(acknowledged) > THREADS * TRANSFERS_PER_THREAD // 3
        assert run_audit(session).is_clean
    engine.dispose()
