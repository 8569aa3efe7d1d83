"""Peer baseline: the benchmark's transfers recorded with python-accounting 2.x.

Runs in its own virtualenv (benchmarks/.venv-peer, made by
setup_peer_venv.sh), because python-accounting pins its own dependencies and
registers SQLAlchemy session listeners for every Session in the process.
Called by ledger_throughput.py as a subprocess; prints progress on stderr and
one JSON line with its figures on stdout.

Each transfer is what the library's documentation shows for moving an amount
between two accounts: a JournalEntry whose main account is the payer
(credited), with one LineItem on the payee's account (debited), then
``JournalEntry.post(session)``, which writes the two Ledger rows (with the
library's own hash chain) and commits: one database transaction per transfer.
python-accounting has no credit limits, so nothing is checked against floors.

Standalone use:
    benchmarks/.venv-peer/bin/python benchmarks/peer_python_accounting.py \
        --url postgresql+psycopg2://postgres@127.0.0.1:5432/mc_bench_x --schema peer
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from python_accounting.database.session import get_session  # noqa: E402
from python_accounting.models import Account, Balance, Base, Currency, Entity, Ledger, LineItem  # noqa: E402
from python_accounting.transactions import JournalEntry  # noqa: E402
from workload import account_code, transfers  # noqa: E402


def log(message: str) -> None:
    print(f"[peer] {message}", file=sys.stderr, flush=True)


def record_transfer(session, entity_id: int, payer_id: int, payee_id: int, amount_minor: int, n: int) -> None:
    """One transfer: a journal entry from payer to payee, posted and committed."""
    entry = JournalEntry(
        narration=f"bench transfer {n}",
        transaction_date=dt.datetime.now(),
        account_id=payer_id,  # the main account, credited
        entity_id=entity_id,
    )
    session.add(entry)
    session.flush()
    line = LineItem(
        narration=f"bench transfer {n}",
        account_id=payee_id,  # debited
        amount=Decimal(amount_minor) / 100,
        entity_id=entity_id,
    )
    session.add(line)
    session.flush()
    entry.line_items.add(line)
    session.add(entry)
    entry.post(session)  # writes both Ledger rows and commits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL (psycopg2 driver) of the database")
    parser.add_argument("--schema", default="peer", help="PostgreSQL schema for the library's tables")
    parser.add_argument("--transfers", type=int, default=2_000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    admin = create_engine(args.url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{args.schema}"'))
    admin.dispose()
    engine = create_engine(args.url, connect_args={"options": f"-csearch_path={args.schema}"})
    engine = engine.execution_options(include_deleted=False, ignore_isolation=False)
    Base.metadata.create_all(engine)

    failures: dict[str, int] = {}
    with get_session(engine) as session:
        entity = Entity(name="Bench co-op")
        session.add(entity)
        session.commit()  # also sets up the entity's reporting period
        entity_id = entity.id
        currency = Currency(name="Bench unit", code="BNC", entity_id=entity_id)
        session.add(currency)
        session.commit()
        accounts = [
            Account(
                name=account_code(i),
                account_type=Account.AccountType.RECEIVABLE,
                currency_id=currency.id,
                entity_id=entity_id,
            )
            for i in range(args.accounts)
        ]
        session.add_all(accounts)
        session.commit()
        ids = [account.id for account in accounts]
        log(f"{len(ids)} accounts ready")

        def run(items: list[tuple[int, int, int]], offset: int) -> None:
            for n, (payer, payee, amount) in enumerate(items, start=offset):
                try:
                    record_transfer(session, entity_id, ids[payer], ids[payee], amount, n)
                except Exception as error:  # counted, never hidden
                    session.rollback()
                    failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1

        run(list(transfers(args.warmup, args.accounts, seed=args.seed + 1_000)), 0)
        failures.clear()
        timed = list(transfers(args.transfers, args.accounts, seed=args.seed))
        log(f"warm-up done, timing {len(timed)} transfers")
        started = time.perf_counter()
        run(timed, args.warmup)
        seconds = time.perf_counter() - started

        session.rollback()
        debits, credits, rows = (
            session.execute(
                select(
                    func.sum(Ledger.amount).filter(Ledger.entry_type == Balance.BalanceType.DEBIT),
                    func.sum(Ledger.amount).filter(Ledger.entry_type == Balance.BalanceType.CREDIT),
                    func.count(Ledger.id),
                )
            ).one()
        )
    engine.dispose()
    posted = args.transfers - sum(failures.values())
    print(
        json.dumps(
            {
                "library": "python-accounting",
                "version": version("python-accounting"),
                "transfers": args.transfers,
                "posted": posted,
                "failures": failures,
                "seconds": seconds,
                "per_second": posted / seconds if seconds else None,
                "ledger_rows": rows,
                "balanced": debits == credits,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
