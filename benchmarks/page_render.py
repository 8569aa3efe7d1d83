"""Page render time: a treasurer's dashboard and the statement of an account with 10,000 transfers.

Run by hand (it asserts nothing on time); see benchmarks/README.md. For each
database (SQLite in a temporary file, PostgreSQL in a fresh database created
on ``--pg-url`` and dropped at the end) the script sets up a region with one
busy member (``busy``, the account whose pages are timed) and ``--partners``
trading partners, writes ``--transfers`` transfers between them through the
ledger's batch call (``create_transfers``, batches of 1,000, each batch
dated a little later, so that the transfers spread over ``--days`` days),
and adds a treasurer of the busy member. It then logs in as that treasurer
with the Flask test client and times, after ``--warmup`` untimed requests,
``--repeat`` GETs of each page:

* dashboard            -- ``/co-ops/busy``: balances, the 90-day chart, recent transfers, requests;
* statement            -- ``/accounts/busy/statement``: its newest page (50 lines);
* statement, filtered  -- the same for one month and one counterparty.

With ``--http`` the same pages are also fetched from gunicorn (one sync
worker, as deployed) over loopback HTTP, one request at a time on one kept
connection, so the figures include the server and the socket.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api_throughput import psycopg_conninfo, run_gunicorn, server_environment, server_facts  # noqa: E402
from mutualcredit.db import make_engine, make_session_factory, utc_now  # noqa: E402
from mutualcredit.ledger import service as ledger  # noqa: E402
from mutualcredit.members.service import add_member  # noqa: E402
from mutualcredit.region.service import init_region  # noqa: E402
from mutualcredit.schema import upgrade  # noqa: E402
from mutualcredit.users import service as users  # noqa: E402
from workload import GENEROUS_FLOOR_MINOR  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ACTOR = "bench:pages"
BUSY = "busy"
TREASURER_EMAIL = "treasurer@busy.example"
TREASURER_PASSWORD = "a long benchmark password"
BATCH_SIZE = 1_000
TARGET_P95_MS = 100.0
CSRF_PATTERN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def partner_code(index: int) -> str:
    return f"partner-{index:03d}"


# ---------------------------------------------------------------------------
# The region


@dataclass(frozen=True, slots=True)
class Prepared:
    transfers: int  # on the busy account
    seconds: float  # to write them
    first_day: dt.date
    last_day: dt.date


def prepare(url: str, *, transfers: int, partners: int, days: int) -> Prepared:
    """Migrate; a region, the busy member, its partners, ``transfers`` transfers and a treasurer."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            init_region(
                session, slug="bench", name="Benchmark region", unit_code="BNC", unit_name="bench unit",
                unit_symbol="B", decimals=2, actor=ACTOR,
            )  # fmt: skip
            add_member(session, slug=BUSY, name="Busy Co-op", floor=GENEROUS_FLOOR_MINOR, actor=ACTOR)
            for index in range(partners):
                add_member(session, slug=partner_code(index), name=f"Partner {index}", floor=GENEROUS_FLOOR_MINOR, actor=ACTOR)
            batches = math.ceil(transfers / BATCH_SIZE)
            end = utc_now() - dt.timedelta(hours=1)
            start = end - dt.timedelta(days=days)
            step = (end - start) / max(batches - 1, 1)
            began = time.perf_counter()
            written = 0
            for batch in range(batches):
                specs = []
                for item in range(min(BATCH_SIZE, transfers - written)):
                    number = written + item
                    partner = partner_code(number % partners)
                    # The busy co-op sells two times in three and buys the third.
                    payer, payee = (partner, BUSY) if number % 3 else (BUSY, partner)
                    specs.append(ledger.TransferSpec(
                        id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=100 + number % 9_900,
                        description=f"Order {number}",
                    ))  # fmt: skip
                results = ledger.create_transfers(session, specs, created_by=ACTOR, now=start + batch * step)
                failed = [result for result in results if result.error is not None]
                if failed:
                    raise SystemExit(f"{len(failed)} transfers refused, first: {failed[0].error!r}")
                written += len(specs)
            seconds = time.perf_counter() - began
            users.add_user(
                session, email=TREASURER_EMAIL, display_name="Busy treasurer", password=TREASURER_PASSWORD,
                actor=ACTOR, member_roles=((BUSY, "treasurer"),),
            )  # fmt: skip
            count = len(ledger.list_transfers(session, accounts=[BUSY], limit=ledger.TRANSFER_PAGE_SIZE_MAX))
            assert count == min(transfers, ledger.TRANSFER_PAGE_SIZE_MAX), count
            return Prepared(written, seconds, start.date(), end.date())
    finally:
        engine.dispose()


def pages(prepared: Prepared) -> list[tuple[str, str]]:
    """(name, path) of the timed pages; the filtered statement covers a month in the middle of the period."""
    middle = prepared.first_day + (prepared.last_day - prepared.first_day) / 2
    query = urllib.parse.urlencode(
        {"from": (middle - dt.timedelta(days=15)).isoformat(), "to": (middle + dt.timedelta(days=15)).isoformat(),
         "counterparty": partner_code(1)}
    )  # fmt: skip
    return [
        ("dashboard", f"/co-ops/{BUSY}"),
        ("statement", f"/accounts/{BUSY}/statement"),
        ("statement, filtered", f"/accounts/{BUSY}/statement?{query}"),
    ]


# ---------------------------------------------------------------------------
# Timing


@dataclass(frozen=True, slots=True)
class Row:
    database: str
    via: str
    page: str
    count: int
    median_ms: float
    p95_ms: float
    size_kb: float


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile by the nearest-rank method (a value that was measured)."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def time_page(fetch: Callable[[str], bytes], path: str, *, warmup: int, repeat: int) -> tuple[list[float], int]:
    for _ in range(warmup):
        fetch(path)
    samples, size = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        body = fetch(path)
        samples.append((time.perf_counter() - began) * 1000)
        size = len(body)
    return samples, size


def test_client_fetcher(database_url: str, instance_dir: Path) -> Callable[[str], bytes]:
    """A Flask test client logged in as the treasurer; fetch(path) -> body, insisting on 200."""
    from webapp import create_app

    app = create_app(
        {"DATABASE_URL": database_url, "INSECURE_COOKIES": True, "WEBHOOK_WORKER": False}
    )
    client = app.test_client()
    token = CSRF_PATTERN.search(client.get("/login").get_data(as_text=True))
    assert token is not None, "no CSRF token on /login"
    answer = client.post("/login", data={"csrf_token": token.group(1), "email": TREASURER_EMAIL, "password": TREASURER_PASSWORD})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]

    def fetch(path: str) -> bytes:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}:\n{response.get_data(as_text=True)[:1000]}")
        return response.get_data()

    return fetch


@contextlib.contextmanager
def http_fetcher(database_url: str, work_dir: Path) -> Iterator[Callable[[str], bytes]]:
    """gunicorn (one sync worker) and one HTTP connection logged in as the treasurer."""
    environment = server_environment(database_url, work_dir)
    with run_gunicorn(environment, work_dir / "gunicorn.log", workers=1, worker_class="sync", threads=1) as server:
        cookies: dict[str, str] = {}
        connection: list[http.client.HTTPConnection] = []

        def send(method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
            headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            for attempt in (1, 2):
                if not connection:
                    connection.append(http.client.HTTPConnection(server.host, server.port, timeout=60))
                try:
                    connection[0].request(method, path, body=body, headers=headers)
                    response = connection[0].getresponse()
                    data = response.read()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    connection.pop().close()  # sync workers close after each answer: open a new one
                    if attempt == 2:
                        raise
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, data

        status, login_page = send("GET", "/login")
        token = CSRF_PATTERN.search(login_page.decode())
        assert status == 200 and token is not None, status
        form = urllib.parse.urlencode({"csrf_token": token.group(1), "email": TREASURER_EMAIL, "password": TREASURER_PASSWORD})
        status, body = send("POST", "/login", form)
        assert status == 303, (status, body[:500])

        def fetch(path: str) -> bytes:
            status, body = send("GET", path)
            if status != 200:
                raise SystemExit(f"GET {path} over HTTP answered {status}:\n{body[:1000]!r}")
            return body

        yield fetch


def measure(database: str, url: str, args: argparse.Namespace, work_dir: Path) -> list[Row]:
    log(f"{database}: writing {args.transfers:,} transfers in batches of {BATCH_SIZE:,}")
    prepared = prepare(url, transfers=args.transfers, partners=args.partners, days=args.days)
    log(f"{database}: {prepared.transfers:,} transfers written in {prepared.seconds:.1f} s")
    rows = []
    fetchers: list[tuple[str, contextlib.AbstractContextManager[Callable[[str], bytes]]]] = [
        ("test client", contextlib.nullcontext(test_client_fetcher(url, work_dir)))
    ]
    if args.http:
        fetchers.append(("HTTP", http_fetcher(url, work_dir)))
    for via, context in fetchers:
        with context as fetch:
            for name, path in pages(prepared):
                log(f"{database} / {via}: {name} ({args.warmup} + {args.repeat} requests)")
                samples, size = time_page(fetch, path, warmup=args.warmup, repeat=args.repeat)
                rows.append(Row(database, via, name, len(samples), statistics.median(samples), p95(samples), size / 1024))
    return rows


def print_table(rows: Sequence[Row], transfers: int) -> None:
    print(f"{'database':<11} {'via':<12} {'page':<20} {'requests':>8} {'median ms':>10} {'p95 ms':>8} {'KiB':>6}  p95 < {TARGET_P95_MS:.0f} ms")
    for row in rows:
        verdict = "met" if row.p95_ms < TARGET_P95_MS else "NOT met"
        print(
            f"{row.database:<11} {row.via:<12} {row.page:<20} {row.count:>8} {row.median_ms:>10.1f} {row.p95_ms:>8.1f}"
            f" {row.size_kb:>6.1f}  {verdict}"
        )
    worst = max(rows, key=lambda row: row.p95_ms)
    verdict = "met" if worst.p95_ms < TARGET_P95_MS else "NOT met"
    print(
        f"\ntarget p95 < {TARGET_P95_MS:.0f} ms for the dashboard and a statement of an account with {transfers:,} transfers:"
        f" worst p95 {worst.p95_ms:.1f} ms ({worst.database}, {worst.via}, {worst.page}): {verdict}"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("MUTUALCREDIT_BENCH_POSTGRES_URL", DEFAULT_PG_URL),
                        help="server to create the benchmark database on (default: %(default)s)")
    parser.add_argument("--transfers", type=int, default=10_000, help="transfers on the busy account (default 10,000)")
    parser.add_argument("--partners", type=int, default=20, help="trading partners of the busy co-op (default 20)")
    parser.add_argument("--days", type=int, default=120, help="days the transfers spread over (default 120)")
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per page (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per page first (default 10)")
    parser.add_argument("--http", action="store_true", help="also time the pages through gunicorn over loopback HTTP")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases (and print where they are)")
    args = parser.parse_args(argv)
    if args.transfers < 1 or args.partners < 1 or args.repeat < 1 or args.days < 1 or args.warmup < 0:
        parser.error("--transfers, --partners, --repeat and --days take a positive number, --warmup zero or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"Page render: {args.transfers:,} transfers on one account, {args.partners} partners over {args.days} days;"
        f" {args.warmup} warm-up + {args.repeat} timed requests per page; {os.cpu_count()} CPUs,"
        f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; Python {platform.python_version()}"
    )
    rows: list[Row] = []
    work_dir = Path(tempfile.mkdtemp(prefix="mc_bench_pages_"))
    if not args.skip_sqlite:
        path = work_dir / "pages.sqlite3"
        print(f"SQLite: a temporary file ({path})")
        rows += measure("SQLite", f"sqlite:///{path}", args, work_dir)
        if args.keep:
            print(f"database kept: sqlite:///{path}")
        else:
            path.unlink()
    if not args.skip_postgres:
        admin_url = make_url(args.pg_url)
        print(server_facts(admin_url))
        name = f"mc_bench_pages_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(**psycopg_conninfo(admin_url), autocommit=True) as connection:  # type: ignore[arg-type]
            connection.execute(f'CREATE DATABASE "{name}"')
        database_url = admin_url.set(database=name).render_as_string(hide_password=False)
        try:
            rows += measure("PostgreSQL", database_url, args, work_dir)
        finally:
            if args.keep:
                print(f"database kept: {database_url}")
            else:
                with psycopg.connect(**psycopg_conninfo(admin_url), autocommit=True) as connection:  # type: ignore[arg-type]
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print()
    if rows:
        print_table(rows, args.transfers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
