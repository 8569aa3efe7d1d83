"""API throughput: transfers per second through HTTP, gunicorn and PostgreSQL, with latencies.

Run by hand (it asserts nothing on time); see benchmarks/README.md. It
creates a fresh PostgreSQL database (``mc_bench_api_<random>``, dropped at
the end), sets up a region whose members have floors far below anything the
workload reaches, creates an API token per member, starts gunicorn on a free
loopback port as a subprocess, and drives it from this process: N client
threads, each with its own ``http.client`` connection, sending
request bodies built before the clock starts. Scenarios:

* single      -- ``POST /api/v1/transfers``, one transfer per request (with its id);
* single+key  -- the same with an ``Idempotency-Key`` header (two more commits per request);
* batch 100   -- ``POST /api/v1/transfers/batch`` with 100 transfers per request;
* batch 1000  -- the same with 1,000 (the API's maximum).

A member's token pays only from its member's accounts, so each request is
sent with the token of its payer, and a batch has a single payer. Every
scenario starts with untimed warm-up requests (every worker process fills its
caches). Afterwards ``mutualcredit audit`` checks the ledger. The load
generator shares the machine's cores with gunicorn and PostgreSQL: the
table shows the CPU seconds each used during the timed part.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY_ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import psycopg  # noqa: E402
from sqlalchemy.engine import URL, make_url  # noqa: E402

from mutualcredit.db import make_engine, make_session_factory  # noqa: E402
from mutualcredit.members.service import add_member  # noqa: E402
from mutualcredit.region.service import init_region  # noqa: E402
from mutualcredit.schema import upgrade  # noqa: E402
from mutualcredit.tokens.service import create_token  # noqa: E402
from workload import GENEROUS_FLOOR_MINOR, account_code, transfers  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ACTOR = "bench:api"
TOKEN_SCOPES = ["accounts:read", "transfers:write"]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 120.0
AUDIT_TIMEOUT_S = 600.0
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")

TARGET_SINGLE_PER_SECOND = 500
TARGET_BATCH_PER_SECOND = 10_000


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def decimal_string(amount_minor: int) -> str:
    return f"{amount_minor // 100}.{amount_minor % 100:02d}"


# ---------------------------------------------------------------------------
# Database, region, tokens


def psycopg_conninfo(url: URL) -> dict[str, object]:
    info: dict[str, object] = {"host": url.host or "127.0.0.1", "port": url.port or 5432, "dbname": url.database}
    if url.username:
        info["user"] = url.username
    if url.password:
        info["password"] = url.password
    return info


def prepare_region(url: str, accounts: int) -> dict[str, str]:
    """Migrate, set up the region and its members; a token per member (``{account code: secret}``)."""
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
            tokens = {}
            for i in range(accounts):
                code = account_code(i)
                add_member(session, slug=code, name=f"Bench member {i}", floor=GENEROUS_FLOOR_MINOR, actor=ACTOR)
                tokens[code] = create_token(session, member_slug=code, scopes=TOKEN_SCOPES, created_by=ACTOR)[0]
            return tokens
    finally:
        engine.dispose()


def server_facts(url: URL) -> str:
    with psycopg.connect(**psycopg_conninfo(url), autocommit=True) as connection:  # type: ignore[arg-type]
        version = connection.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        sync = connection.execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[index]
        fsync = connection.execute("SHOW fsync").fetchone()[0]  # type: ignore[index]
    return f"PostgreSQL {version} (synchronous_commit={sync}, fsync={fsync})"


# ---------------------------------------------------------------------------
# gunicorn


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    environment: dict[str, str]


def server_environment(database_url: str, instance_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MUTUALCREDIT_DATABASE_URL": database_url,
        "MUTUALCREDIT_INSTANCE_DIR": str(instance_dir),
        "MUTUALCREDIT_SECRET_KEY": secrets.token_hex(16),
        "MUTUALCREDIT_API_RATE_LIMIT": "1000000 per minute",
        "MUTUALCREDIT_WEBHOOK_WORKER": "off",
    }


@contextlib.contextmanager
def run_gunicorn(
    environment: dict[str, str], log_path: Path, *, workers: int, worker_class: str, threads: int
) -> Iterator[Server]:
    """gunicorn on a loopback port chosen by the kernel (the socket is handed over, ``fd://``); stopped afterwards."""
    host = "127.0.0.1"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"fd://{fd}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        # gunicorn turns sync workers into gthread ones when given more than one thread.
        "--threads", str(threads if worker_class == "gthread" else 1),
        "--keep-alive", "60",
        "--backlog", "1024",
        "--timeout", "120",
        "webapp.wsgi:app",
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPOSITORY_ROOT, env=environment, pass_fds=(fd,), stdout=log_file, stderr=subprocess.STDOUT
        )
    listener.close()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                connection = http.client.HTTPConnection(host, port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
                connection.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer /health in {START_TIMEOUT_S} s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield Server(host, port, process, environment)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU seconds used so far by these processes (those that have exited count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS_PER_S


POSTGRES_SHARED_PROCESSES = ("walwriter", "checkpointer", "background writer")


def postgres_processes(database: str) -> list[int]:
    """PostgreSQL's backends serving ``database`` and the WAL writer, checkpointer and background writer.

    Other databases' backends (a test suite running beside the benchmark)
    are left out; their share of the shared processes is not.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f" {database} " in title or any(name in title for name in POSTGRES_SHARED_PROCESSES):
                pids.append(int(entry.name))
    return pids


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


# ---------------------------------------------------------------------------
# The load generator


@dataclass(frozen=True, slots=True)
class Call:
    """One request, ready to send: its path, its headers (the payer's token) and its JSON body."""

    path: str
    headers: dict[str, str]
    body: bytes
    transfers: int


@dataclass
class ClientReport:
    latencies_s: list[float] = field(default_factory=list)
    applied: int = 0
    failures: collections.Counter[str] = field(default_factory=collections.Counter)


def send(connection: http.client.HTTPConnection, call: Call, report: ClientReport) -> None:
    started = time.perf_counter()
    connection.request("POST", call.path, body=call.body, headers=call.headers)
    response = connection.getresponse()
    body = response.read()
    report.latencies_s.append(time.perf_counter() - started)
    if response.status in (200, 201):
        if call.transfers == 1:
            report.applied += 1
        else:
            answer = json.loads(body)
            report.applied += answer["applied"]
            if answer["failed"]:
                for item in answer["items"]:
                    if item["error"] is not None:
                        report.failures[item["error"]["type"].rsplit("/", 1)[-1]] += 1
    else:
        try:
            code = json.loads(body)["type"].rsplit("/", 1)[-1]
        except (ValueError, KeyError, TypeError):
            code = "?"
        report.failures[f"{response.status} {code}"] += call.transfers


def run_clients(server: Server, per_client: list[list[Call]]) -> tuple[float, list[ClientReport]]:
    """Each client sends its calls in order on its own connection; all start together. Returns the wall time."""
    barrier = threading.Barrier(len(per_client) + 1)
    reports = [ClientReport() for _ in per_client]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=REQUEST_TIMEOUT_S)
        connection.connect()
        try:
            barrier.wait()
            for call in per_client[index]:
                send(connection, call, reports[index])
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(index,), daemon=True) for index in range(len(per_client))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"a client failed: {errors[0]!r}")
    return seconds, reports


def single_calls(
    tokens: dict[str, str], count: int, accounts: int, seed: int, *, with_key: bool
) -> list[Call]:
    calls = []
    for payer, payee, amount in transfers(count, accounts, seed=seed):
        transfer_id = str(uuid.uuid4())
        headers = {"Authorization": f"Bearer {tokens[account_code(payer)]}", "Content-Type": "application/json"}
        if with_key:
            headers["Idempotency-Key"] = transfer_id
        body = {"id": transfer_id, "payer": account_code(payer), "payee": account_code(payee), "amount": decimal_string(amount)}
        calls.append(Call("/api/v1/transfers", headers, json.dumps(body).encode(), 1))
    return calls


def batch_calls(tokens: dict[str, str], count: int, accounts: int, seed: int, batch_size: int) -> list[Call]:
    """``count`` transfers in batches of ``batch_size``; a batch's payer is its first transfer's (a token pays from its own)."""
    pairs = list(transfers(count, accounts, seed=seed))
    calls = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        payer = chunk[0][0]
        items = []
        for _, payee, amount in chunk:
            if payee == payer:
                payee = (payee + 1) % accounts
            items.append(
                {"id": str(uuid.uuid4()), "payer": account_code(payer), "payee": account_code(payee), "amount": decimal_string(amount)}
            )
        headers = {"Authorization": f"Bearer {tokens[account_code(payer)]}", "Content-Type": "application/json"}
        body = json.dumps({"transfers": items, "atomic": False}).encode()
        calls.append(Call("/api/v1/transfers/batch", headers, body, len(items)))
    return calls


def deal(calls: list[Call], clients: int) -> list[list[Call]]:
    return [calls[index::clients] for index in range(clients)]


@dataclass
class Row:
    scenario: str
    clients: int
    transfers: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: collections.Counter[str]
    cpu_s: dict[str, float]

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds if self.seconds > 0 else 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_scenario(server: Server, name: str, calls: list[Call], warmup: list[Call], clients: int, database: str) -> Row:
    log(f"{name}: warm-up ({len(warmup)} requests), then {len(calls)} requests from {clients} clients")
    run_clients(server, deal(warmup, clients))
    workers = children_of(server.process.pid)
    postgres = postgres_processes(database)
    before = {"load generator": time.process_time(), "gunicorn": cpu_seconds(workers), "postgres": cpu_seconds(postgres)}
    seconds, reports = run_clients(server, deal(calls, clients))
    after = {"load generator": time.process_time(), "gunicorn": cpu_seconds(workers), "postgres": cpu_seconds(postgres_processes(database))}
    latencies = [latency for report in reports for latency in report.latencies_s]
    failures: collections.Counter[str] = collections.Counter()
    for report in reports:
        failures.update(report.failures)
    row = Row(
        scenario=name,
        clients=clients,
        transfers=sum(report.applied for report in reports),
        seconds=seconds,
        p50_ms=1000 * statistics.median(latencies),
        p99_ms=1000 * percentile(latencies, 0.99),
        failures=failures,
        cpu_s={key: after[key] - before[key] for key in before},
    )
    log(f"{name}: {row.per_second:,.0f} transfers/s")
    return row


# ---------------------------------------------------------------------------
# Profiling with py-spy (optional)


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None, rate: int, *, gil_only: bool = False) -> Iterator[None]:
    """Sample the gunicorn workers with py-spy while the body runs (collapsed stacks into ``out``)."""
    if out is None:
        yield
        return
    beside_python = Path(sys.executable).with_name("py-spy")
    executable = str(beside_python) if beside_python.exists() else "py-spy"
    process = subprocess.Popen(
        [executable, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate), "--format", "raw",
         "--output", str(out), "--nonblocking", *(["--gil"] if gil_only else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # let it attach
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def summarize_profile(path: Path, top: int) -> str:
    """Sample shares by area, by own time and by inclusive time, from py-spy's collapsed stacks.

    py-spy leaves out idle threads (a worker blocked in ``accept`` or
    ``epoll``), but a thread waiting for PostgreSQL's answer inside psycopg
    counts: that share is time the request spent waiting, not computing.
    """
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        count = int(count_text)
        names = [_frame_name(frame) for frame in frames]
        total += count
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
        areas[_area(frames)] += count
    if total == 0:
        return "py-spy recorded no samples"
    lines = [f"py-spy: {total:,} samples of busy gunicorn worker threads"]
    for title, counter, limit in (
        ("by area (the innermost frame of a known package)", areas, top),
        ("by own time", own, top),
        ("by inclusive time", inclusive, top * 2),
    ):
        lines.append(f"  {title}:")
        lines.extend(f"    {100 * count / total:5.1f}%  {name}" for name, count in counter.most_common(limit))
    return "\n".join(lines)


def _frame_name(frame: str) -> str:
    # py-spy frames read "function (path/to/file.py:line)"; drop the line number.
    function, _, location = frame.partition(" (")
    location = location.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in location:
            location = location.split(marker, 1)[1]
    return f"{function} ({location})"


def _area(frames: list[str]) -> str:
    """Which part of the stack the sample is in: the innermost frame of a known package."""
    packages = (
        ("psycopg", "psycopg (driver, waiting on PostgreSQL)"),
        ("sqlalchemy", "SQLAlchemy"),
        ("marshmallow", "marshmallow"),
        ("webargs", "webargs"),
        ("flask_smorest", "flask-smorest"),
        ("flask_limiter", "flask-limiter"),
        ("limits/", "limits"),
        ("werkzeug", "werkzeug"),
        ("flask/", "flask"),
        ("gunicorn", "gunicorn"),
        ("mutualcredit/", "mutualcredit (services)"),
        ("webapp/", "webapp (views)"),
        ("json/", "json"),
    )
    for frame in reversed(frames):
        for marker, name in packages:
            if marker in frame:
                return name
    return "other"


# ---------------------------------------------------------------------------
# Report


def print_table(rows: list[Row]) -> None:
    header = ("scenario", "clients", "transfers", "seconds", "transfers/s", "p50 ms", "p99 ms", "failures", "CPU s: client / gunicorn / postgres")
    body = [
        (
            row.scenario,
            str(row.clients),
            f"{row.transfers:,}",
            f"{row.seconds:.2f}",
            f"{row.per_second:,.0f}",
            f"{row.p50_ms:.1f}",
            f"{row.p99_ms:.1f}",
            str(sum(row.failures.values())),
            " / ".join(f"{row.cpu_s[key]:.1f}" for key in ("load generator", "gunicorn", "postgres")),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    print("  ".join(text.ljust(width) if i == 0 else text.rjust(width) for i, (text, width) in enumerate(zip(header, widths))))
    for line in body:
        print("  ".join(text.ljust(width) if i == 0 else text.rjust(width) for i, (text, width) in enumerate(zip(line, widths))))
    for row in rows:
        if row.failures:
            print(f"  {row.scenario} failures: {dict(row.failures)}")


def print_summary(rows: list[Row]) -> None:
    print()
    for row in rows:
        wall_cores = row.seconds * (os.cpu_count() or 1)
        shares = ", ".join(f"{key} {100 * value / wall_cores:.0f}%" for key, value in row.cpu_s.items())
        print(f"{row.scenario}: CPU share of the machine ({os.cpu_count()} cores): {shares}")
    singles = [row for row in rows if row.scenario == "single"]
    batches = [row for row in rows if row.scenario.startswith("batch")]
    print()
    if singles:
        rate = singles[0].per_second
        verdict = "met" if rate >= TARGET_SINGLE_PER_SECOND else "NOT met"
        print(f"target >= {TARGET_SINGLE_PER_SECOND} single transfers/s: {rate:,.0f}/s ({verdict})")
    if batches:
        rate = max(row.per_second for row in batches)
        verdict = "met" if rate >= TARGET_BATCH_PER_SECOND else "NOT met"
        print(f"target >= {TARGET_BATCH_PER_SECOND:,} transfers/s in batches: {rate:,.0f}/s, best batch size ({verdict})")


def audit(server_env: dict[str, str]) -> str:
    script = Path(sys.executable).with_name("mutualcredit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "webapp.cli"]
    result = subprocess.run(
        [*command, "audit", "--json"], cwd=REPOSITORY_ROOT, env=server_env, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return f"FAILED to run (exit {result.returncode}): {result.stderr.strip()[:500]}"
    status = "passed" if result.returncode == 0 and report["ok"] else f"FAILED (exit {result.returncode})"
    line = f"{status}: {report['accounts']} accounts, {report['transfers']:,} transfers"
    for finding in report["findings"][:10]:
        line += f"\n      {finding}"
    return line


# ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("MUTUALCREDIT_BENCH_POSTGRES_URL", DEFAULT_PG_URL),
                        help="server to create the benchmark database on (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=3,
                        help="gunicorn worker processes (default 3: with 2 cores and PostgreSQL on the same machine, 3 measured best, see README)")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"],
                        help="gunicorn worker class (default sync, as the README deploys; gthread keeps connections alive)")
    parser.add_argument("--threads", type=int, default=1,
                        help="request threads per gthread worker (default 1)")
    parser.add_argument("--accounts", type=int, default=100, help="members, each with one account and one token (default 100)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for single transfers (default 8)")
    parser.add_argument("--batch-clients", type=int, default=2, help="concurrent clients for batches (default 2)")
    parser.add_argument("--transfers", type=int, default=5_000, help="single transfers per single scenario (default 5,000)")
    parser.add_argument("--batch-transfers", type=int, default=50_000, help="transfers per batch scenario (default 50,000)")
    parser.add_argument("--warmup", type=int, default=400, help="warm-up requests before single scenarios (default 400; batches: a tenth)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-key", action="store_true", help="skip the single+key scenario")
    parser.add_argument("--skip-singles", action="store_true", help="skip both single-transfer scenarios")
    parser.add_argument("--skip-batches", action="store_true")
    parser.add_argument("--py-spy", type=Path, metavar="FILE",
                        help="sample the workers with py-spy during one scenario (--py-spy-scenario); collapsed stacks into FILE, summary printed")
    parser.add_argument("--py-spy-scenario", default="single", choices=["single", "single+key", "batch 100", "batch 1000"],
                        help="the scenario py-spy samples (default single)")
    parser.add_argument("--py-spy-gil", action="store_true",
                        help="sample only threads holding the GIL: Python CPU time, without the waits for PostgreSQL or the client")
    parser.add_argument("--py-spy-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    parser.add_argument("--profile-top", type=int, default=12, help="lines per profile summary section (default 12)")
    parser.add_argument("--keep", action="store_true", help="keep the database (and print its URL)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    admin_url = make_url(args.pg_url)
    name = f"mc_bench_api_{uuid.uuid4().hex[:10]}"
    database_url = admin_url.set(database=name).render_as_string(hide_password=False)
    print(
        f"API throughput: gunicorn {args.workers} x {args.worker_class}"
        + (f" ({args.threads} threads each)" if args.worker_class == "gthread" else "")
        + f", {args.accounts} accounts; {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())};"
        f" Python {platform.python_version()}"
    )
    print(server_facts(admin_url))
    with psycopg.connect(**psycopg_conninfo(admin_url), autocommit=True) as connection:  # type: ignore[arg-type]
        connection.execute(f'CREATE DATABASE "{name}"')
    rows: list[Row] = []
    profile = ""
    work_dir = Path(tempfile.mkdtemp(prefix="mc_bench_api_"))
    try:
        log(f"preparing {name}: region, {args.accounts} members and tokens")
        tokens = prepare_region(database_url, args.accounts)
        environment = server_environment(database_url, work_dir)
        log("building request bodies")
        seed = args.seed
        plans: list[tuple[str, list[Call], list[Call], int]] = []
        if not args.skip_singles:
            plans.append(("single", single_calls(tokens, args.transfers, args.accounts, seed, with_key=False),
                          single_calls(tokens, args.warmup, args.accounts, seed + 100, with_key=False), args.clients))  # fmt: skip
        if not args.skip_singles and not args.skip_key:
            plans.append(("single+key", single_calls(tokens, args.transfers, args.accounts, seed + 1, with_key=True),
                          single_calls(tokens, args.warmup, args.accounts, seed + 101, with_key=True), args.clients))  # fmt: skip
        if not args.skip_batches:
            for size in (100, 1_000):
                warmup_count = max(size * args.batch_clients, args.warmup * size // 10)
                plans.append((f"batch {size}", batch_calls(tokens, args.batch_transfers, args.accounts, seed + size, size),
                              batch_calls(tokens, warmup_count, args.accounts, seed + size + 1, size), args.batch_clients))  # fmt: skip
        with run_gunicorn(
            environment, work_dir / "gunicorn.log", workers=args.workers, worker_class=args.worker_class, threads=args.threads
        ) as server:
            for scenario, calls, warmup, clients in plans:
                if scenario == args.py_spy_scenario and args.py_spy is not None:
                    with py_spy(server.process.pid, args.py_spy, args.py_spy_rate, gil_only=args.py_spy_gil):
                        rows.append(run_scenario(server, scenario, calls, warmup, clients, name))
                    profile = summarize_profile(args.py_spy, args.profile_top)
                else:
                    rows.append(run_scenario(server, scenario, calls, warmup, clients, name))
        log("auditing")
        audit_line = audit(environment)
    finally:
        if args.keep:
            print(f"database kept: {database_url}")
        else:
            with psycopg.connect(**psycopg_conninfo(admin_url), autocommit=True) as connection:  # type: ignore[arg-type]
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print()
    print_table(rows)
    print_summary(rows)
    print(f"\naudit (mutualcredit audit): {audit_line}")
    if profile:
        print()
        print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
