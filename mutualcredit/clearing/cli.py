"""``mutualcredit clearing``: clear obligations without any database.

``solve FILE.csv`` reads obligations (see ``csv_input``), clears the most
that can be set off while every net position stays as it was, has the
independent checker verify the answer, and prints TD, NID, cleared,
remainder and the bound TD - NID as a table, or with ``--json`` one JSON
object with the set-off per obligation. Errors end in one line on standard
error and exit 1 (``mutualcredit.cli.run`` turns our typed errors into it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click

from mutualcredit.clearing.csv_input import ObligationsFile, format_minor, read_obligations
from mutualcredit.clearing.errors import ClearingRefused, SetOffNotVerified
from solver import clearing
from solver.clearing_check import check_setoffs

# Files larger than this show a progress bar while they are read (on a terminal only).
PROGRESS_BYTES_MIN = 1_000_000


def _lines_with_progress(handle: TextIO, size_bytes: int) -> Iterator[str]:
    with click.progressbar(length=size_bytes, label="reading", file=sys.stderr) as bar:
        for line in handle:
            bar.update(len(line))
            yield line


def load_obligations_file(path: Path) -> ObligationsFile:
    """Read an obligations CSV, with a progress bar for large files on a terminal."""
    size_bytes = path.stat().st_size
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if size_bytes >= PROGRESS_BYTES_MIN and sys.stderr.isatty():
            return read_obligations(_lines_with_progress(handle, size_bytes))
        return read_obligations(handle)


def solve_and_verify(
    loaded: ObligationsFile, *, is_whole: bool = False, whole_solve_time_s_max: float = 10.0
) -> clearing.ClearingResult:
    """Clear the file's obligations and have the independent checker verify the answer."""
    try:
        if is_whole:
            result = clearing.clear_whole(loaded.obligations, solve_time_s_max=whole_solve_time_s_max)
        else:
            result = clearing.clear(loaded.obligations)
    except clearing.ClearingError as error:
        raise ClearingRefused(f"{error.code}: {error}") from None
    findings = check_setoffs(
        loaded.obligations, result.setoffs_minor, require_maximum=not is_whole, is_whole=is_whole
    )
    if findings:
        first = findings[0]
        raise SetOffNotVerified(
            f"{len(findings)} finding(s); first: {first.check} on {first.concerns}: "
            f"expected {first.expected}, found {first.found} ({first.message})"
        )
    return result


@click.group("clearing")
def clearing_group() -> None:
    """Multilateral clearing: cancel cycles of obligation."""


@clearing_group.command("solve")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the set-off per obligation.")
@click.option("--whole", is_flag=True, help="Cancel whole obligations only (CP-SAT, time-limited).")
@click.option(
    "--time-limit",
    "whole_solve_time_s_max",
    type=click.FloatRange(0.1, 3600),
    default=clearing.WHOLE_SOLVE_TIME_S_MAX_DEFAULT,
    show_default=True,
    help="Seconds CP-SAT may run with --whole.",
)
def solve(file: Path, as_json: bool, whole: bool, whole_solve_time_s_max: float) -> None:
    """Clear the obligations in FILE (CSV: id,debtor,creditor,amount[,due])."""
    loaded = load_obligations_file(file)
    result = solve_and_verify(loaded, is_whole=whole, whole_solve_time_s_max=whole_solve_time_s_max)
    decimals = loaded.decimals

    def amount(value: int) -> str:
        return format_minor(value, decimals)

    if as_json:
        setoffs = {o.id: amount(s) for o, s in zip(loaded.obligations, result.setoffs_minor) if s}
        document = {
            "td": amount(result.td_minor),
            "nid": amount(result.nid_minor),
            "cleared": amount(result.cleared_minor),
            "remainder": amount(result.remainder_minor),
            "setoffs": setoffs,
        }
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    share = result.bound_share
    rows = [
        ("obligations", f"{len(loaded.obligations):,}"),
        ("participants", f"{len(result.positions):,}"),
        ("total debt (TD)", amount(result.td_minor)),
        ("net internal debt (NID)", amount(result.nid_minor)),
        ("cleared", amount(result.cleared_minor)),
        ("remainder", amount(result.remainder_minor)),
        ("bound (TD - NID)", amount(result.bound_minor)),
        ("share of bound cleared", "-" if share is None else f"{float(share):.2%}"),
    ]
    if result.is_whole:
        rows.append(("divisible optimum", amount(result.divisible_optimum_minor or 0)))
        rows.append(("gap (whole obligations)", amount(result.gap_minor or 0)))
        rows.append(("proven optimal", "yes" if result.is_proven_optimal else "no (time limit)"))
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    for label, value in rows:
        click.echo(f"{label:<{label_width}}  {value:>{value_width}}")
