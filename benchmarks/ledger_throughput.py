"""Ledger throughput: posted transfers per second, through the service layer and baselines.

Run by hand (it asserts nothing on time); see benchmarks/README.md. Scenarios:

* service  -- ``ledger.service.create_transfer`` per transfer (idempotency,
  checks, hash chain, one database transaction each), on SQLite (a temporary
  file) and PostgreSQL (a fresh database created and dropped by this script),
  with one connection and with N threads each with its own Session;
* batch    -- ``ledger.service.create_transfers(..., is_atomic=False)``, one
  database transaction per batch of up to 1,000 transfers;
* floor    -- the same transfers as hand-written SQL through psycopg 3 on one
  PostgreSQL connection (BEGIN; SELECT .. FOR UPDATE; UPDATE x2; INSERT;
  COMMIT), on tables of its own (floor_accounts, floor_transfers);
* peer     -- the same transfers recorded with python-accounting 2.x, in a
  subprocess running benchmarks/.venv-peer (see setup_peer_venv.sh), in a
  schema of its own in the same PostgreSQL database.

Every scenario replays the same workload (benchmarks/workload.py): the same
payer/payee/amount sequence between the same accounts, with fresh transfer ids.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import psycopg  # noqa: E402
import sqlalchemy  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import URL, Engine, make_url  # noqa: E402

from mutualcredit import errors  # noqa: E402
from mutualcredit.db import make_engine, make_session_factory  # noqa: E402
from mutualcredit.ledger.audit import run_audit  # noqa: E402
from mutualcredit.ledger.service import BATCH_SIZE_MAX, TransferSpec, create_transfer, create_transfers  # noqa: E402
from mutualcredit.members.service import add_member  # noqa: E402
from mutualcredit.region.service import init_region  # noqa: E402
from mutualcredit.schema import upgrade  # noqa: E402
from workload import GENEROUS_FLOOR_MINOR, account_code, transfers  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PEER_PYTHON = HERE / ".venv-peer" / "bin" / "python"
PEER_SCRIPT = HERE / "peer_python_accounting.py"
ACTOR = "bench:throughput"
WARMUP_SEED_OFFSET = 1_000

TARGET_FLOOR_RATIO = 0.70
TARGET_BATCH_PER_SECOND = 10_000
TARGET_PEER_RATIO = 5.0


# ---------------------------------------------------------------------------
# Results


@dataclass
class Result:
    scenario: str
    database: str
    connections: int
    transfers: int
    seconds: float
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    note: str = ""

    @property
    def posted(self) -> int:
        return self.transfers - sum(self.failures.values())

    @property
    def per_second(self) -> float:
        return self.posted / self.seconds if self.seconds > 0 else 0.0


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def specs_for(count: int, accounts: int, seed: int) -> list[TransferSpec]:
    """The workload as service-layer specs, each with a fresh id (built before timing)."""
    return [
        TransferSpec(id=uuid.uuid4(), payer=account_code(p), payee=account_code(q), amount_minor=amount)
        for p, q, amount in transfers(count, accounts, seed=seed)
    ]


# ---------------------------------------------------------------------------
# The project's own database: region and member accounts through the services


def prepare_ledger(url: str, accounts: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            init_region(
                session,
                slug="bench",
                name="Benchmark region",
                unit_code="BNC",
                unit_name="bench unit",
                unit_symbol="B",
                decimals=2,
                actor=ACTOR,
            )
            for i in range(accounts):
                add_member(session, slug=account_code(i), name=f"Bench member {i}", floor=GENEROUS_FLOOR_MINOR, actor=ACTOR)
    finally:
        engine.dispose()


def audit(url: str) -> str:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            report = run_audit(session)
            status = "passed" if report.is_clean else f"FAILED ({len(report.findings)} findings)"
            line = f"{status}: {report.account_count} accounts, {report.transfer_count} transfers"
            if not report.is_clean:
                for finding in report.findings[:10]:
                    line += f"\n      {finding}"
            return line
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------
# Service layer: one transfer per call


def _post_all(session: Any, specs: Sequence[TransferSpec], failures: collections.Counter[str]) -> None:
    for spec in specs:
        try:
            create_transfer(session, spec, created_by=ACTOR)
        except errors.MutualCreditError as error:
            failures[type(error).__name__] += 1
        except sqlalchemy.exc.SQLAlchemyError as error:  # e.g. a serialization or deadlock error
            session.rollback()
            failures[type(error).__name__] += 1


def run_service(
    url: str, database: str, threads: int, count: int, accounts: int, warmup: int, seed: int
) -> Result:
    engine = make_engine(url, pool_size=threads)
    factory = make_session_factory(engine)
    timed = specs_for(count, accounts, seed)
    warm = specs_for(warmup, accounts, seed + WARMUP_SEED_OFFSET)
    failures: collections.Counter[str] = collections.Counter()
    try:
        if threads == 1:
            with factory() as session:
                _post_all(session, warm, collections.Counter())
                started = time.perf_counter()
                _post_all(session, timed, failures)
                seconds = time.perf_counter() - started
        else:
            barrier = threading.Barrier(threads + 1)
            per_thread_failures = [collections.Counter() for _ in range(threads)]
            crashes: list[BaseException] = []

            def worker(index: int) -> None:
                try:
                    with factory() as session:
                        _post_all(session, warm[index::threads], collections.Counter())
                        barrier.wait()
                        _post_all(session, timed[index::threads], per_thread_failures[index])
                except BaseException as error:  # reported below, never swallowed
                    crashes.append(error)
                    barrier.abort()

            workers = [threading.Thread(target=worker, args=(i,), name=f"bench-{i}") for i in range(threads)]
            for thread in workers:
                thread.start()
            barrier.wait()
            started = time.perf_counter()
            for thread in workers:
                thread.join()
            seconds = time.perf_counter() - started
            if crashes:
                raise crashes[0]
            for counter in per_thread_failures:
                failures.update(counter)
    finally:
        engine.dispose()
    return Result("service", database, threads, count, seconds, failures)


# ---------------------------------------------------------------------------
# Service layer: batches


def run_batch(url: str, database: str, count: int, accounts: int, batch_size: int, warmup: int, seed: int) -> Result:
    engine = make_engine(url, pool_size=1)
    factory = make_session_factory(engine)
    timed = specs_for(count, accounts, seed)
    batches = [timed[i : i + batch_size] for i in range(0, len(timed), batch_size)]
    warm = specs_for(warmup, accounts, seed + WARMUP_SEED_OFFSET)
    failures: collections.Counter[str] = collections.Counter()
    try:
        with factory() as session:
            create_transfers(session, warm, created_by=ACTOR, is_atomic=False)
            started = time.perf_counter()
            for batch in batches:
                for item in create_transfers(session, batch, created_by=ACTOR, is_atomic=False):
                    if not item.is_ok:
                        failures[type(item.error).__name__] += 1
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return Result("batch", database, 1, count, seconds, failures, note=f"{batch_size}/batch")


# ---------------------------------------------------------------------------
# Floor: hand-written SQL through psycopg 3, one connection

FLOOR_SCHEMA = """
DROP TABLE IF EXISTS floor_transfers;
DROP TABLE IF EXISTS floor_accounts;
CREATE TABLE floor_accounts (
    id bigint PRIMARY KEY,
    code varchar(100) NOT NULL UNIQUE,
    floor bigint,
    balance bigint NOT NULL DEFAULT 0,
    CONSTRAINT floor_within_floor CHECK (floor IS NULL OR balance >= floor)
);
CREATE TABLE floor_transfers (
    seq bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    payer_account_id bigint NOT NULL REFERENCES floor_accounts (id),
    payee_account_id bigint NOT NULL REFERENCES floor_accounts (id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    description text NOT NULL DEFAULT '',
    created_by varchar(200) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_floor_transfers_payer_seq ON floor_transfers (payer_account_id, seq);
CREATE INDEX ix_floor_transfers_payee_seq ON floor_transfers (payee_account_id, seq);
"""
FLOOR_LOCK = "SELECT id, balance, floor FROM floor_accounts WHERE id IN (%s, %s) ORDER BY id FOR UPDATE"
FLOOR_UPDATE = "UPDATE floor_accounts SET balance = %s WHERE id = %s"
FLOOR_INSERT = (
    "INSERT INTO floor_transfers (id, payer_account_id, payee_account_id, amount_minor, created_by)"
    " VALUES (%s, %s, %s, %s, %s)"
)


class FloorExceeded(Exception):
    pass


def psycopg_conninfo(url: URL) -> dict[str, Any]:
    info: dict[str, Any] = {"dbname": url.database}
    for key, name in (("host", "host"), ("port", "port"), ("username", "user"), ("password", "password")):
        value = getattr(url, key)
        if value is not None:
            info[name] = value
    return info


def run_floor(url: URL, count: int, accounts: int, warmup: int, seed: int) -> Result:
    failures: collections.Counter[str] = collections.Counter()
    with psycopg.connect(**psycopg_conninfo(url), autocommit=True) as conn:
        conn.execute(FLOOR_SCHEMA)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO floor_accounts (id, code, floor) VALUES (%s, %s, %s)",
                [(i + 1, account_code(i), GENEROUS_FLOOR_MINOR) for i in range(accounts)],
            )
        timed = [(uuid.uuid4(), p + 1, q + 1, a) for p, q, a in transfers(count, accounts, seed=seed)]
        warm = [
            (uuid.uuid4(), p + 1, q + 1, a)
            for p, q, a in transfers(warmup, accounts, seed=seed + WARMUP_SEED_OFFSET)
        ]

        def post(items: list[tuple[uuid.UUID, int, int, int]], failed: collections.Counter[str]) -> None:
            with conn.cursor() as cur:
                for transfer_id, payer, payee, amount in items:
                    try:
                        with conn.transaction():  # BEGIN ... COMMIT
                            rows = {row[0]: row for row in cur.execute(FLOOR_LOCK, (payer, payee)).fetchall()}
                            _, payer_balance, payer_floor = rows[payer]
                            _, payee_balance, _ = rows[payee]
                            if payer_floor is not None and payer_balance - amount < payer_floor:
                                raise FloorExceeded()
                            cur.execute(FLOOR_UPDATE, (payer_balance - amount, payer))
                            cur.execute(FLOOR_UPDATE, (payee_balance + amount, payee))
                            cur.execute(FLOOR_INSERT, (transfer_id, payer, payee, amount, ACTOR))
                    except (FloorExceeded, psycopg.Error) as error:
                        failed[type(error).__name__] += 1

        post(warm, collections.Counter())
        started = time.perf_counter()
        post(timed, failures)
        seconds = time.perf_counter() - started
        total = conn.execute("SELECT sum(balance), count(*) FROM floor_accounts").fetchone()
        if total[0] != 0:
            failures["ZeroSumBroken"] += 1
    return Result("floor (SQL)", "postgresql", 1, count, seconds, failures)


# ---------------------------------------------------------------------------
# Peer: python-accounting in its own virtualenv


def run_peer(url: URL, count: int, accounts: int, warmup: int, seed: int, python: Path) -> Result:
    peer_url = url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    command = [
        str(python),
        str(PEER_SCRIPT),
        f"--url={peer_url}",
        "--schema=peer",
        f"--transfers={count}",
        f"--accounts={accounts}",
        f"--warmup={warmup}",
        f"--seed={seed}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise RuntimeError(f"the peer benchmark failed (exit {completed.returncode})")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    failures = collections.Counter(figures["failures"])
    note = f"python-accounting {figures['version']}"
    if not figures["balanced"]:
        note += ", ledger NOT balanced"
    return Result("peer", "postgresql", 1, count, figures["seconds"], failures, note=note)


# ---------------------------------------------------------------------------
# Profiling the service layer (PostgreSQL, one connection)


def profile_service(url: str, count: int, accounts: int, warmup: int, seed: int, top: int, out: Path | None) -> str:
    """A report (returned, printed at the end) of the SQL and the top Python costs of ``create_transfer``."""
    lines: list[str] = []
    print = lines.append  # noqa: A001 -- collect instead of printing
    engine = make_engine(url, pool_size=1)
    factory = make_session_factory(engine)
    statements: list[str] = []
    pings = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _trace(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    do_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return do_ping(dbapi_connection)

    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    try:
        with factory() as session:
            _post_all(session, specs_for(warmup, accounts, seed + WARMUP_SEED_OFFSET), collections.Counter())
            statements.clear()
            pings[0] = 0
            _post_all(session, specs_for(1, accounts, seed + 2 * WARMUP_SEED_OFFSET), collections.Counter())
            print("\nSQL sent for one create_transfer (psycopg also sends BEGIN/COMMIT itself):")
            print(f"  pool pre-ping queries: {pings[0]}")
            for statement in statements:
                print(f"  - {statement[:160]}{'...' if len(statement) > 160 else ''}")
            specs = specs_for(count, accounts, seed)
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            _post_all(session, specs, collections.Counter())
            profiler.disable()
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    print(f"\ncProfile of {count} create_transfer calls (PostgreSQL, one connection): {seconds:.2f} s under the profiler")
    if out is not None:
        profiler.dump_stats(str(out))
        print(f"  (raw profile written to {out}; view with: python -m pstats {out})")
    for sort in ("tottime", "cumulative"):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(sort).print_stats(top)
        text = buffer.getvalue()
        print(f"\n-- top {top} by {sort} --")
        print(text[text.index("   ncalls") :].rstrip() if "   ncalls" in text else text)
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Output


@dataclass
class Scenario:
    """Every run of one scenario; the table shows the best run and the median."""

    runs: list[Result]

    @property
    def best(self) -> Result:
        return max(self.runs, key=lambda r: r.per_second)

    @property
    def median_per_second(self) -> float:
        return statistics.median(r.per_second for r in self.runs)


def collect(results: list[Result]) -> dict[tuple[str, str, int], Scenario]:
    scenarios: dict[tuple[str, str, int], Scenario] = {}
    for r in results:
        scenarios.setdefault((r.scenario, r.database, r.connections), Scenario([])).runs.append(r)
    return scenarios


def print_table(scenarios: dict[tuple[str, str, int], Scenario]) -> None:
    header = ("scenario", "database", "connections", "transfers", "failed", "seconds", "transfers/s", "median/s", "runs", "note")
    rows = []
    for scenario in scenarios.values():
        r = scenario.best
        rows.append(
            (
                r.scenario,
                r.database,
                str(r.connections),
                f"{r.transfers:,}",
                str(sum(sum(run.failures.values()) for run in scenario.runs)),
                f"{r.seconds:.2f}",
                f"{r.per_second:,.0f}",
                f"{scenario.median_per_second:,.0f}",
                str(len(scenario.runs)),
                r.note,
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    right = {2, 3, 4, 5, 6, 7, 8}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))
    print("(seconds and transfers/s: the best run; median/s: the median over the runs)")
    for scenario in scenarios.values():
        failures: collections.Counter[str] = collections.Counter()
        for run in scenario.runs:
            failures.update(run.failures)
        if failures:
            r = scenario.best
            print(f"  failures in {r.scenario}/{r.database}/{r.connections}: {dict(failures)}")


def print_summary(scenarios: dict[tuple[str, str, int], Scenario]) -> None:
    service = scenarios.get(("service", "postgresql", 1))
    floor = scenarios.get(("floor (SQL)", "postgresql", 1))
    peer = scenarios.get(("peer", "postgresql", 1))
    print("\nAgainst the targets (best runs; medians in brackets):")
    if service and floor:
        ratio = service.best.per_second / floor.best.per_second
        median_ratio = service.median_per_second / floor.median_per_second
        verdict = "met" if ratio >= TARGET_FLOOR_RATIO else "NOT met"
        print(
            f"  service (PostgreSQL, 1 connection) / floor: {service.best.per_second:,.0f} / {floor.best.per_second:,.0f}"
            f" = {ratio:.0%} [{median_ratio:.0%}]  (target >= {TARGET_FLOOR_RATIO:.0%}: {verdict})"
        )
    else:
        print("  service / floor: not measured (needs the PostgreSQL service and floor scenarios)")
    for database in ("postgresql", "sqlite"):
        batch = scenarios.get(("batch", database, 1))
        if batch:
            verdict = "met" if batch.best.per_second >= TARGET_BATCH_PER_SECOND else "NOT met"
            print(
                f"  batch call ({database}, {batch.best.note}): {batch.best.per_second:,.0f} transfers/s"
                f" [{batch.median_per_second:,.0f}]  (target >= {TARGET_BATCH_PER_SECOND:,}/s: {verdict})"
            )
    if service and peer:
        ratio = service.best.per_second / peer.best.per_second
        median_ratio = service.median_per_second / peer.median_per_second
        verdict = "met" if ratio >= TARGET_PEER_RATIO else "NOT met"
        print(
            f"  service (PostgreSQL, 1 connection) / python-accounting: {service.best.per_second:,.0f}"
            f" / {peer.best.per_second:,.1f} = {ratio:.1f}x [{median_ratio:.1f}x]  (target >= {TARGET_PEER_RATIO:.0f}x: {verdict})"
        )
    else:
        print("  service / python-accounting: not measured (needs the PostgreSQL service and peer scenarios)")


# ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transfers", type=int, default=5_000, help="timed transfers per scenario (default 5000)")
    parser.add_argument("--accounts", type=int, default=100, help="member accounts the transfers move between (default 100)")
    parser.add_argument("--threads", type=int, default=8, help="threads (each with its own Session) for the concurrent runs")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE_MAX, help=f"transfers per batch call (default {BATCH_SIZE_MAX})")
    parser.add_argument("--warmup", type=int, default=200, help="untimed transfers before each scenario (default 200)")
    parser.add_argument("--peer-transfers", type=int, default=None, help="timed transfers for python-accounting (default: --transfers)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per scenario, interleaved; the best and the median are shown (default 3; the peer runs once)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed")
    parser.add_argument("--pg-url", default=os.environ.get("MUTUALCREDIT_BENCH_POSTGRES_URL", DEFAULT_PG_URL),
                        help="a PostgreSQL URL to connect to for CREATE/DROP DATABASE (default %(default)s)")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON, help="python of the peer virtualenv")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-threads", action="store_true", help="skip the concurrent service runs")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, cProfile the service layer on PostgreSQL with one connection and print the top costs")
    parser.add_argument("--profile-out", type=Path, default=None, help="also write the raw cProfile data here")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the databases (and print where they are)")
    args = parser.parse_args(argv)
    if args.accounts < 2 or args.transfers < 1 or args.threads < 1 or args.warmup < 0 or args.repeat < 1:
        parser.error("needs at least 2 accounts, 1 transfer and 1 thread")
    if not 1 <= args.batch_size <= BATCH_SIZE_MAX:
        parser.error(f"--batch-size is 1 to {BATCH_SIZE_MAX}")
    if args.peer_transfers is None:
        args.peer_transfers = args.transfers
    return args


def server_facts(url: URL) -> str:
    with psycopg.connect(**psycopg_conninfo(url), autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
    return f"PostgreSQL {version} (synchronous_commit={sync}, fsync={fsync})"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    audits: list[tuple[str, str]] = []
    profile_report = ""
    print(
        f"Ledger throughput: {args.transfers:,} transfers per run between {args.accounts} accounts,"
        f" {args.warmup} warm-up transfers before each run, {args.repeat} run(s) per scenario (interleaved);"
        f" {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())};"
        f" Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, psycopg {psycopg.__version__}"
    )

    def step(label: str, run: Callable[[], Result]) -> None:
        log(f"{label} ...")
        result = run()
        log(f"{label}: {result.per_second:,.0f} transfers/s")
        results.append(result)

    n, accounts, warmup, seed, threads = args.transfers, args.accounts, args.warmup, args.seed, args.threads
    concurrent = not args.skip_threads and threads > 1

    if not args.skip_sqlite:
        tmp = Path(tempfile.mkdtemp(prefix="mc_bench_"))
        sqlite_url = f"sqlite:///{tmp / 'ledger.sqlite3'}"
        try:
            log(f"preparing {sqlite_url}")
            prepare_ledger(sqlite_url, accounts)
            for r in range(args.repeat):
                tag = f"(run {r + 1}/{args.repeat})"
                step(f"service sqlite x1 {tag}", lambda: run_service(sqlite_url, "sqlite", 1, n, accounts, warmup, seed))
                if concurrent:
                    step(f"service sqlite x{threads} {tag}",
                         lambda: run_service(sqlite_url, "sqlite", threads, n, accounts, warmup, seed))
                if not args.skip_batch:
                    step(f"batch sqlite {tag}",
                         lambda: run_batch(sqlite_url, "sqlite", n, accounts, args.batch_size, warmup, seed))
            log("auditing sqlite")
            audits.append(("sqlite", audit(sqlite_url)))
        finally:
            if args.keep:
                print(f"SQLite database kept: {sqlite_url}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)

    if not args.skip_postgres:
        admin_url = make_url(args.pg_url)
        name = f"mc_bench_{uuid.uuid4().hex[:10]}"
        bench_url = admin_url.set(database=name)
        pg_url = bench_url.render_as_string(hide_password=False)
        print(server_facts(admin_url))
        with psycopg.connect(**psycopg_conninfo(admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            log(f"preparing PostgreSQL database {name}")
            prepare_ledger(pg_url, accounts)
            for r in range(args.repeat):
                tag = f"(run {r + 1}/{args.repeat})"
                step(f"service postgresql x1 {tag}", lambda: run_service(pg_url, "postgresql", 1, n, accounts, warmup, seed))
                if not args.skip_floor:
                    step(f"floor postgresql {tag}", lambda: run_floor(bench_url, n, accounts, warmup, seed))
                if concurrent:
                    step(f"service postgresql x{threads} {tag}",
                         lambda: run_service(pg_url, "postgresql", threads, n, accounts, warmup, seed))
                if not args.skip_batch:
                    step(f"batch postgresql {tag}",
                         lambda: run_batch(pg_url, "postgresql", n, accounts, args.batch_size, warmup, seed))
            log("auditing postgresql")
            audits.append(("postgresql", audit(pg_url)))
            if not args.skip_peer:
                if args.peer_python.exists():
                    step("peer python-accounting", lambda: run_peer(
                        bench_url, args.peer_transfers, accounts, min(warmup, 100), seed, args.peer_python))
                else:
                    print(f"peer skipped: {args.peer_python} not found (run: bash benchmarks/setup_peer_venv.sh)")
            if args.profile:
                log("profiling service postgresql x1")
                profile_report = profile_service(pg_url, n, accounts, warmup, seed, args.profile_top, args.profile_out)
        finally:
            if args.keep:
                print(f"PostgreSQL database kept: {pg_url}")
            else:
                with psycopg.connect(**psycopg_conninfo(admin_url), autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    scenarios = collect(results)
    print()
    print_table(scenarios)
    print("\nAudit after the service-layer runs (not timed):")
    for database, line in audits:
        print(f"  {database}: {line}")
    print_summary(scenarios)
    if profile_report:
        print(profile_report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
