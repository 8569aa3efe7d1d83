"""`mutualcredit recurring …`: list recurring payments, pay what is due (for cron), cancel one.

``run-due`` is meant to run once a day (or more often) from cron or a
systemd timer; running it again is harmless, since each occurrence is paid
at most once. It exits 0 even when some occurrences were refused: those
are kept, with their error, and tried again on the next run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from mutualcredit.cli import Context, actor_option, emit_json, json_option, pass_context
from mutualcredit.ledger import recurring
from mutualcredit.money import format_plain


def _recurring_json(view: recurring.RecurringView, decimals: int) -> dict[str, Any]:
    return {
        "id": view.id,
        "payer": view.payer,
        "payee": view.payee,
        "amount": format_plain(view.amount_minor, decimals),
        "description": view.description,
        "interval": view.interval,
        "first_due_on": view.first_due_on.isoformat(),
        "next_due_on": view.next_due_on.isoformat(),
        "ends_on": view.ends_on.isoformat() if view.ends_on else None,
        "state": view.state,
        "is_finished": view.is_finished,
        "created_by": view.created_by,
        "last_run_at": view.last_run_at.isoformat() if view.last_run_at else None,
        "last_error_code": view.last_error_code,
        "last_error": view.last_error,
    }


def _parse_date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-31", param_hint=what) from None


@click.group("recurring")
def recurring_group() -> None:
    """Recurring payments: list them, pay what is due, cancel one."""


@recurring_group.command("list")
@click.option("--member", help="Only the payments this member makes or receives.")
@click.option("--state", type=click.Choice([s.value for s in recurring.RecurringState]))
@json_option
@pass_context
def recurring_list(context: Context, member: str | None, state: str | None, as_json: bool) -> None:
    """List recurring payments by next due date."""
    decimals = context.decimals
    views = recurring.list_recurring_payments(context.session, member=member, state=state)
    if as_json:
        emit_json([_recurring_json(view, decimals) for view in views])
        return
    for view in views:
        state_text = "finished" if view.state == "active" and view.is_finished else view.state
        problem = f"  last refused: {view.last_error_code}" if view.last_error_code and view.is_active else ""
        click.echo(
            f"{view.id:>6}  {view.payer:<16} -> {view.payee:<16} {format_plain(view.amount_minor, decimals):>12} "
            f"{view.interval:<8} next {view.next_due_on}  {state_text}{problem}"
        )


@recurring_group.command("run-due")
@click.option("--today", help="Pay what is due up to this date, YYYY-MM-DD (default: today in the region's time zone).")
@json_option
@pass_context
def recurring_run_due(context: Context, today: str | None, as_json: bool) -> None:
    """Pay every recurring payment due up to today (catching up missed ones); for cron."""
    day = _parse_date(today, "--today") or recurring.region_today(context.session)
    decimals = context.decimals
    report = recurring.run_due_recurring_payments(context.session, today=day)
    if as_json:
        emit_json(
            {
                "today": day.isoformat(),
                "paid": len(report.paid),
                "refused": len(report.refused),
                "complete": report.is_complete,
                "occurrences": [
                    {
                        "recurring_id": outcome.recurring_id,
                        "due_on": outcome.due_on.isoformat(),
                        "transfer_id": str(outcome.transfer_id),
                        "amount": format_plain(outcome.amount_minor, decimals),
                        "error_code": outcome.error_code,
                        "error": outcome.error,
                    }
                    for outcome in report.outcomes
                ],
            }
        )
        return
    for outcome in report.refused:
        click.echo(f"refused: recurring payment {outcome.recurring_id} due {outcome.due_on}: {outcome.error_code}: {outcome.error}")
    more = "" if report.is_complete else f"; more is due (at most {recurring.RUN_OCCURRENCES_MAX} per run): run again"
    click.echo(f"{len(report.paid)} paid, {len(report.refused)} refused, up to {day}{more}")


@recurring_group.command("cancel")
@click.argument("recurring_id", type=int)
@actor_option
@pass_context
def recurring_cancel(context: Context, recurring_id: int, actor: str) -> None:
    """Cancel recurring payment RECURRING_ID: nothing more is paid."""
    view = recurring.cancel_recurring_payment(context.session, recurring_id, actor=actor)
    click.echo(f"recurring payment {view.id} ({view.payer} -> {view.payee}) {view.state}")
