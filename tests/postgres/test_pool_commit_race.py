"""Committing one pool round from many workers at once on real PostgreSQL pays for it exactly once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from conftest import read_ledger_with_plain_sql, set_up_region

from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.pools import service as pools

pytestmark = pytest.mark.postgres

WORKER_COUNT = 8
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def test_concurrent_commits_of_one_round_record_and_pay_once(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        set_up_region(session, {f"coop-{n}": (-100_000, None) for n in range(6)})
        pools.create_pool(session, slug="oil", name="Olive oil", kind="divisible", unit="l", decimals=1,
                          price_minor=300, policy=pools.PolicyInput(rule="equal-losses", review_window_hours=1), actor="c")
        pools.open_round(session, "oil", actor="c", now=T0)
        pools.add_contribution(session, "oil-1", member="coop-0", quantity_minor=500, is_paid=True, actor="c")
        for n in range(1, 6):
            pools.declare_need(session, "oil-1", member=f"coop-{n}", need=pools.NeedInput(100 * n + 50), actor="t")
        pools.close_round(session, "oil-1", actor="c", now=T0)
        pools.run_round(session, "oil-1", actor="c")
        pools.start_review(session, "oil-1", actor="c", now=T0)
    barrier = threading.Barrier(WORKER_COUNT)
    outcomes: list[str] = []

    def commit() -> None:
        with sessions() as session:
            barrier.wait(timeout=30)
            try:
                outcomes.append(pools.commit_round(session, "oil-1", actor="c", now=T0 + dt.timedelta(days=1)).state)
            except Exception as error:  # recorded and asserted below
                outcomes.append(repr(error))

    workers = [threading.Thread(target=commit) for _ in range(WORKER_COUNT)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert outcomes == ["committed"] * WORKER_COUNT
    with engine.connect() as connection:
        accounts, transfers, derived = read_ledger_with_plain_sql(connection)
        allocations = connection.execute(sa.text("SELECT count(*) FROM pool_allocations")).scalar_one()
        payouts = connection.execute(sa.text("SELECT count(*) FROM pool_payouts")).scalar_one()
        charged = connection.execute(sa.text("SELECT count(*) FROM pool_allocations WHERE price_paid_minor > 0")).scalar_one()
    assert allocations == 5 and payouts == 1
    # Equal losses leaves the two smallest needs with nothing: three recipients paid once, the contributor paid once.
    assert charged == 3
    assert len(transfers) == charged + payouts
    assert sum(account.balance for account in accounts) == 0
    assert all(derived[account.id] == account.balance for account in accounts)
    engine.dispose()
