"""`mutualcredit invoice …` and `mutualcredit clearing invoices|notice|runs`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from mutualcredit import errors
from mutualcredit.cli import Context, actor_option, emit_json, json_option, parse_uuid, pass_context
from mutualcredit.clearing.cli import clearing_group
from mutualcredit.invoices import service
from mutualcredit.money import format_plain, parse_amount


def _invoice_json(view: service.InvoiceView, decimals: int) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "number": view.number,
        "creditor": view.creditor,
        "debtor": view.debtor,
        "amount": format_plain(view.amount_minor, decimals),
        "outstanding": format_plain(view.outstanding_minor, decimals),
        "due": view.due_date.isoformat(),
        "description": view.description,
        "state": view.state,
        "dispute_reason": view.dispute_reason,
        "settlement_transfer_id": str(view.settlement_transfer_id) if view.settlement_transfer_id else None,
    }


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-31", param_hint="--due") from None


@click.group("invoice")
def invoice_group() -> None:
    """Invoices among members: record, confirm or dispute, settle."""


@invoice_group.command("record")
@click.option("--creditor", required=True, help="The member that is owed.")
@click.option("--debtor", required=True, help="The member that owes.")
@click.option("--number", required=True, help="The creditor's own invoice number.")
@click.option("--due", required=True, help="Due date, YYYY-MM-DD.")
@click.option("-d", "--description", default="")
@click.argument("amount")
@actor_option
@json_option
@pass_context
def invoice_record(
    context: Context, creditor: str, debtor: str, number: str, due: str, description: str, amount: str, actor: str, as_json: bool
) -> None:
    """Record an invoice CREDITOR is owed by DEBTOR (the debtor then confirms or disputes it)."""
    decimals = context.decimals
    draft = service.check_draft(creditor, number, debtor, parse_amount(amount, decimals), _parse_date(due), description)
    (view,) = service.record_invoices(context.session, creditor, [draft], created_by=actor)
    if as_json:
        emit_json(_invoice_json(view, decimals))
    else:
        click.echo(f"invoice {view.number} {view.id}: {view.debtor} owes {view.creditor} {format_plain(view.amount_minor, decimals)} ({view.state})")


@invoice_group.command("import")
@click.option("--creditor", required=True, help="The member that is owed every invoice in FILE.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would be recorded.")
@actor_option
@pass_context
def invoice_import(context: Context, creditor: str, file: Path, dry_run: bool, actor: str) -> None:
    """Record invoices from a CSV (number,debtor,amount,due[,description]): all, or none if any row is wrong."""
    preview = service.preview_csv(context.session, creditor, file.read_text(encoding="utf-8-sig"))
    if preview.errors:
        for problem in preview.errors:
            click.echo(f"{file}:{problem.line}: {problem.message}", err=True)
        raise errors.InvalidInput(f"{len(preview.errors)} row(s) of {file} are wrong; nothing was recorded")
    if dry_run:
        click.echo(f"{len(preview.drafts)} invoices would be recorded")
        return
    views = service.record_invoices(context.session, creditor, preview.drafts, created_by=actor)
    click.echo(f"{len(views)} invoices recorded for {creditor}")


@invoice_group.command("list")
@click.option("--member", help="Only this member's invoices.")
@click.option("--side", type=click.Choice(["creditor", "debtor"]), help="With --member: only those it is owed, or owes.")
@click.option("--state", type=click.Choice([s.value for s in service.InvoiceState]))
@json_option
@pass_context
def invoice_list(context: Context, member: str | None, side: str | None, state: str | None, as_json: bool) -> None:
    """List invoices by due date."""
    decimals = context.decimals
    views = service.list_invoices(context.session, member=member, side=side, state=state)
    if as_json:
        emit_json([_invoice_json(view, decimals) for view in views])
        return
    for view in views:
        click.echo(
            f"{view.id}  {view.due_date}  {view.creditor:<16} <- {view.debtor:<16} {view.number:<12} "
            f"{format_plain(view.amount_minor, decimals):>12} outstanding {format_plain(view.outstanding_minor, decimals):>12}  {view.state}"
        )


def _decide(context: Context, invoice_id: str, debtor: str, actor: str, reason: str | None) -> None:
    identifier = parse_uuid(invoice_id, "INVOICE_ID")
    if reason is None:
        view = service.confirm_invoice(context.session, identifier, debtor=debtor, actor=actor)
    else:
        view = service.dispute_invoice(context.session, identifier, debtor=debtor, actor=actor, reason=reason)
    click.echo(f"invoice {view.number} {view.state}")


@invoice_group.command("confirm")
@click.argument("invoice_id")
@click.option("--debtor", required=True, help="The member confirming (must be the invoice's debtor).")
@actor_option
@pass_context
def invoice_confirm(context: Context, invoice_id: str, debtor: str, actor: str) -> None:
    """The debtor agrees it owes the invoice."""
    _decide(context, invoice_id, debtor, actor, None)


@invoice_group.command("dispute")
@click.argument("invoice_id")
@click.option("--debtor", required=True, help="The member disputing (must be the invoice's debtor).")
@click.option("--reason", required=True)
@actor_option
@pass_context
def invoice_dispute(context: Context, invoice_id: str, debtor: str, reason: str, actor: str) -> None:
    """The debtor does not agree; a disputed invoice is never cleared."""
    _decide(context, invoice_id, debtor, actor, reason)


@invoice_group.command("settle")
@click.argument("invoice_id")
@click.option("--debtor", required=True, help="The paying member (must be the invoice's debtor).")
@actor_option
@pass_context
def invoice_settle(context: Context, invoice_id: str, debtor: str, actor: str) -> None:
    """Pay what remains of a confirmed invoice in mutual credit (one transfer, linked to it)."""
    decimals = context.decimals
    view, transfer = service.settle_invoice(context.session, parse_uuid(invoice_id, "INVOICE_ID"), debtor=debtor, actor=actor)
    verb = "was settled before by" if transfer.is_replay else "settled by"
    click.echo(f"invoice {view.number} {verb} transfer {transfer.id} ({format_plain(transfer.amount_minor, decimals)})")


# --- clearing runs --------------------------------------------------------------


def _run_json(run: service.RunView, decimals: int) -> dict[str, Any]:
    def amount(value: int) -> str:
        return format_plain(value, decimals)

    return {
        "reference": run.reference,
        "id": str(run.id),
        "replayed": run.is_replay,
        "created_at": run.created_at.isoformat(),
        "created_by": run.created_by,
        "invoices": run.invoice_count,
        "participants": run.participant_count,
        "td": amount(run.td_minor),
        "nid": amount(run.nid_minor),
        "cleared": amount(run.cleared_minor),
        "remainder": amount(run.remainder_minor),
        "bound": amount(run.bound_minor),
        "cycles": [{"members": list(c.participants), "amount": amount(c.amount_minor)} for c in run.cycles],
        "members": [
            {
                "member": f.member,
                "owed_before": amount(f.owed_before_minor),
                "owing_before": amount(f.owing_before_minor),
                "owed_after": amount(f.owed_after_minor),
                "owing_after": amount(f.owing_after_minor),
            }
            for f in run.members
        ],
    }


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))


def print_run(run: service.RunView, decimals: int) -> None:
    def amount(value: int) -> str:
        return format_plain(value, decimals)

    share = f"{run.cleared_minor / run.bound_minor:.2%}" if run.bound_minor else "-"
    heading = f"clearing run {run.reference}" + (" (recorded before; nothing changed)" if run.is_replay else "")
    click.echo(heading)
    _table(
        [
            ("confirmed invoices", f"{run.invoice_count:,}"),
            ("members", f"{run.participant_count:,}"),
            ("total debt (TD)", amount(run.td_minor)),
            ("net internal debt (NID)", amount(run.nid_minor)),
            ("cleared", amount(run.cleared_minor)),
            ("remainder", amount(run.remainder_minor)),
            ("bound (TD - NID)", amount(run.bound_minor)),
            ("share of bound cleared", share),
            ("cycles", f"{len(run.cycles):,}"),
        ]
    )
    if run.members:
        click.echo("")
        _table(
            [("member", "owed before", "owed after", "owing before", "owing after")]
            + [
                (f.member, amount(f.owed_before_minor), amount(f.owed_after_minor), amount(f.owing_before_minor), amount(f.owing_after_minor))
                for f in run.members
            ]
        )
    for cycle in run.cycles:
        click.echo(f"cycle {cycle.position}: {' -> '.join((*cycle.participants, cycle.participants[0]))}  {amount(cycle.amount_minor)}")


@clearing_group.command("invoices")
@click.option("--reference", help="Names the run (default: today's date); running it again changes nothing.")
@actor_option
@json_option
@pass_context
def clearing_invoices(context: Context, reference: str | None, actor: str, as_json: bool) -> None:
    """Clear every confirmed invoice among the members by multilateral set-off."""
    decimals = context.decimals

    def progress(message: str) -> None:
        click.echo(f"… {message}", err=True)

    run = service.run_clearing(context.session, reference=reference, actor=actor, progress=None if as_json else progress)
    if as_json:
        emit_json(_run_json(run, decimals))
    else:
        print_run(run, decimals)


@clearing_group.command("runs")
@json_option
@pass_context
def clearing_runs(context: Context, as_json: bool) -> None:
    """List recorded clearing runs, newest first."""
    decimals = context.decimals
    runs = service.list_runs(context.session)
    if as_json:
        emit_json([_run_json(run, decimals) for run in runs])
        return
    for run in runs:
        click.echo(f"{run.reference:<20} {run.created_at:%Y-%m-%d %H:%M}  cleared {format_plain(run.cleared_minor, decimals)} of {format_plain(run.td_minor, decimals)}")


@clearing_group.command("notice")
@click.argument("reference")
@click.option("--member", required=True)
@click.option("--csv", "as_csv", is_flag=True, help="Print the notice as CSV.")
@pass_context
def clearing_notice(context: Context, reference: str, member: str, as_csv: bool) -> None:
    """A member's set-off notice for run REFERENCE: its invoices settled wholly or partly."""
    from mutualcredit.region.service import get_region

    region = get_region(context.session)
    decimals, unit = region.decimals, region.unit_code
    notice = service.notice(context.session, reference, member)
    if as_csv:
        sys.stdout.write(service.notice_csv(notice, decimals, unit))
        return
    click.echo(f"set-off notice for {member}, clearing run {reference}")
    if not notice.lines:
        click.echo("none of your invoices was set off in this run")
        return
    rows = [("invoice", "side", "counterparty", "outstanding before", "set off", "outstanding after", "cycles")]
    for line in notice.lines:
        rows.append(
            (
                line.number,
                line.side,
                line.counterparty,
                format_plain(line.outstanding_before_minor, decimals),
                format_plain(line.setoff_minor, decimals),
                format_plain(line.outstanding_after_minor, decimals),
                ",".join(map(str, line.cycles)),
            )
        )
    _table(rows)
