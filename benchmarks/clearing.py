"""Clearing benchmark: load, solve and verify generated obligation networks; compare with networkx.

Run by hand (it asserts nothing on time); see benchmarks/README.md. For each
size, a network from ``solver.clearing_generator`` (firms = obligations / 10)
is written to a temporary CSV file (not timed), then timed:

* load   -- ``mutualcredit.clearing.cli.load_obligations_file`` (parse, check every line);
* solve  -- ``solver.clearing.clear`` (aggregate, prune, components, OR-Tools min-cost flow, split);
* verify -- ``solver.clearing_check.check_setoffs`` (bounds, net positions, proof of maximality).

Up to ``--networkx-max`` obligations, the same obligations are also cleared
with networkx's ``network_simplex`` (build the aggregated graph with node
demands = net positions, arcs debtor -> creditor with capacity = the pair's
total and weight 1; cleared = total - flow cost), the totals compared, and
the solve-time ratio printed. Each size runs ``--repeat`` times (load, solve,
verify, and networkx alike) and the table shows the medians: on a shared
2-core machine a single run can be off by half.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mutualcredit.clearing.cli import load_obligations_file  # noqa: E402
from solver.clearing import Obligation, clear  # noqa: E402
from solver.clearing_check import check_setoffs  # noqa: E402
from solver.clearing_generator import NetworkShape, generate, write_csv  # noqa: E402


def clear_with_networkx(obligations: tuple[Obligation, ...]) -> int:
    """The maximum set-off total, by networkx's network simplex on the aggregated graph."""
    import networkx as nx

    capacity: dict[tuple[str, str], int] = {}
    net: dict[str, int] = {}
    for o in obligations:
        key = (o.debtor, o.creditor)
        capacity[key] = capacity.get(key, 0) + o.amount_minor
        net[o.creditor] = net.get(o.creditor, 0) + o.amount_minor
        net[o.debtor] = net.get(o.debtor, 0) - o.amount_minor
    graph = nx.DiGraph()
    for name, position in net.items():
        graph.add_node(name, demand=position)  # positive demand: receives flow (is owed)
    for (debtor, creditor), amount in capacity.items():
        graph.add_edge(debtor, creditor, capacity=amount, weight=1)
    cost, _ = nx.network_simplex(graph)
    return sum(capacity.values()) - cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated obligation counts (default: %(default)s)"
    )
    parser.add_argument(
        "--networkx-max", type=int, default=100_000, help="largest size also solved with networkx (default: %(default)s)"
    )
    parser.add_argument("--firms-ratio", type=int, default=10, help="obligations per firm (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="runs per size, each timed; the table shows the medians, for ours and networkx alike (default: %(default)s)",
    )
    arguments = parser.parse_args()
    sizes = [int(size.replace("_", "")) for size in arguments.sizes.split(",")]

    print(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = (
        f"{'obligations':>11} {'firms':>8} {'load s':>7} {'solve s':>8} {'verify s':>9} {'total s':>8} "
        f"{'TD':>16} {'cleared':>16} {'%TD':>6} {'%bound':>7} {'nx s':>8} {'nx same':>8} {'nx/ours':>8}"
    )
    print(header)
    for size in sizes:
        firms = max(2, size // arguments.firms_ratio)
        obligations = generate(NetworkShape(firms=firms, obligations=size), seed=arguments.seed)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "obligations.csv"
            write_csv(obligations, path, decimals=2)
            del obligations
            load_runs, solve_runs, verify_runs = [], [], []
            for _ in range(arguments.repeat):
                started = time.perf_counter()
                loaded = load_obligations_file(path)
                loaded_at = time.perf_counter()
                result = clear(loaded.obligations)
                solved_at = time.perf_counter()
                findings = check_setoffs(loaded.obligations, result.setoffs_minor)
                verified_at = time.perf_counter()
                assert not findings, findings[:3]
                load_runs.append(loaded_at - started)
                solve_runs.append(solved_at - loaded_at)
                verify_runs.append(verified_at - solved_at)
        load_s, solve_s, verify_s = (statistics.median(runs) for runs in (load_runs, solve_runs, verify_runs))
        share_td = result.cleared_minor / result.td_minor if result.td_minor else 0.0
        share_bound = float(result.bound_share) if result.bound_share is not None else 1.0
        nx_s = nx_same = ratio = "-"
        if size <= arguments.networkx_max:
            nx_runs = []
            for _ in range(arguments.repeat):
                nx_started = time.perf_counter()
                nx_cleared = clear_with_networkx(loaded.obligations)
                nx_runs.append(time.perf_counter() - nx_started)
            nx_elapsed = statistics.median(nx_runs)
            nx_s = f"{nx_elapsed:.2f}"
            nx_same = "yes" if nx_cleared == result.cleared_minor else f"NO {nx_cleared}"
            ratio = f"{nx_elapsed / solve_s:.0f}x"
        print(
            f"{size:>11,} {firms:>8,} {load_s:>7.2f} {solve_s:>8.2f} {verify_s:>9.2f} "
            f"{load_s + solve_s + verify_s:>8.2f} {result.td_minor:>16,} {result.cleared_minor:>16,} "
            f"{share_td:>6.1%} {share_bound:>7.1%} {nx_s:>8} {nx_same:>8} {ratio:>8}",
            flush=True,
        )
    print(f"# times in seconds, median of {arguments.repeat} runs each; nx/ours = networkx solve time / our solve time (both from loaded obligations)")


if __name__ == "__main__":
    main()
