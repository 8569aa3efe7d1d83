"""``mutualcredit pools solve``: solve an allocation problem file with no database.

``solve FILE.json`` reads a problem in the format of
``solver.allocation.jsonfile`` (documented in the README), allocates it with
``solver.allocation.allocate`` and prints, per need, the member, the
declared and allocated quantities, the share of need met and what decided
it, then the status, the worst-off share, whether every essential minimum
was met, the solve time and each CP-SAT stage with its gap. With ``--json``
it prints exactly one JSON object (``jsonfile.result_to_json``), amounts as
decimal strings in the file's units.

A bad file ends in one line on standard error naming the offending field
(``error: invalid_problem: needs[3].desired: ...``) and exit 1; a file that
is not JSON names its line and column; bad usage (a missing file) exits 2.
The other ``pools`` commands (run, show, verify, export) come with the
pools domain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from solver.allocation import AllocationResult, Problem
    from solver.allocation.errors import AllocationError

# The solver is imported when ``solve`` runs, so that every other command starts without it.


@click.group("pools")
def pools_group() -> None:
    """Resource pools shared by declared need."""


def _refusal(error: AllocationError) -> click.ClickException:
    message = str(error)
    field = getattr(error, "field", "") or ""
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    return click.ClickException(f"{error.code}: {message}")


def _percent(share_text: str) -> str:
    """A share written with 6 decimals (``"0.312500"``) as a percentage (``"31.25%"``)."""
    whole, _, fraction = share_text.partition(".")
    percent_hundredths = int(whole + fraction[:4])  # shares are never negative
    return f"{percent_hundredths // 100}.{percent_hundredths % 100:02d}%"


@pools_group.command("solve")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the allocation per need.")
def solve(file: Path, as_json: bool) -> None:
    """Solve the allocation problem in FILE (JSON, see the README) with no database."""
    from solver.allocation import allocate
    from solver.allocation.errors import AllocationError
    from solver.allocation.jsonfile import read_problem, result_to_json

    try:
        loaded = read_problem(file)
        result = allocate(loaded.problem)
    except AllocationError as error:
        raise _refusal(error) from None
    if as_json:
        click.echo(json.dumps(result_to_json(result, loaded.problem, decimals=loaded.decimals), ensure_ascii=False))
        return
    _print_table(result, loaded.problem, loaded.decimals)


def _print_table(result: AllocationResult, problem: Problem, decimals: int) -> None:
    from solver.allocation.jsonfile import format_fraction, format_minor

    on_slots = {resource.id: not resource.is_divisible for resource in problem.resources}

    def quantity(resource: str, value: int) -> str:
        return str(value) if on_slots.get(resource, False) else format_minor(value, decimals)

    has_slots = any(on_slots.get(a.resource, False) for a in result.allocations)
    header = ["need", "member", "declared", "allocated", "share met", "decided by"] + (["slots"] if has_slots else [])
    rows = [
        [
            a.need_id,
            a.member,
            quantity(a.resource, a.declared_minor),
            quantity(a.resource, a.allocated_minor),
            _percent(format_fraction(a.share_met)),
            a.decided_by + (f" ({', '.join(a.binding)})" if a.binding else ""),
        ]
        + ([" ".join(a.slots)] if has_slots else [])
        for a in result.allocations
    ]
    right_aligned = {2, 3, 4}
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right_aligned else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    click.echo(line(header))
    for row in rows:
        click.echo(line(row))
    worst = result.worst_share
    summary = [
        ("status", result.status.value),
        ("worst-off share met", "-" if worst is None else _percent(format_fraction(worst))),
        ("minimums met", "yes" if result.minimums_met else "no"),
        ("method", result.method),
        ("solve time", f"{result.solve_time_s:.3f} s"),
    ]
    if result.message:
        summary.append(("message", result.message))
    summary.extend(("note", note) for note in result.notes)
    click.echo("")
    label_width = max(len(label) for label, _ in summary)
    for label, value in summary:
        click.echo(f"{label:<{label_width}}  {value}")
    if result.stages:
        click.echo("")
        stage_header = ["stage", "status", "objective", "bound", "gap", "time s"]
        stage_rows = [
            [
                stage.name,
                stage.status.value,
                "-" if stage.objective is None else format_fraction(stage.objective),
                "-" if stage.bound is None else format_fraction(stage.bound),
                "-" if stage.gap is None else format_fraction(stage.gap),
                f"{stage.solve_time_s:.3f}",
            ]
            for stage in result.stages
        ]
        stage_widths = [max(len(row[c]) for row in [stage_header, *stage_rows]) for c in range(len(stage_header))]
        for row in [stage_header, *stage_rows]:
            click.echo(
                "  ".join(
                    cell.ljust(stage_widths[i]) if i < 2 else cell.rjust(stage_widths[i]) for i, cell in enumerate(row)
                ).rstrip()
            )
