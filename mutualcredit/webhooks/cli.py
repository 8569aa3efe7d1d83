"""`mutualcredit webhooks`: run the delivery worker, list subscriptions and their deliveries."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from mutualcredit.cli import Context, emit_json, json_option, parse_uuid, pass_context
from mutualcredit.webhooks.payloads import rfc3339
from mutualcredit.webhooks.service import DeliveryView, SubscriptionView, delivery_data
from mutualcredit.webhooks.worker import RunReport


def _subscription_json(view: SubscriptionView) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "member": view.member_slug,
        "url": view.url,
        "events": list(view.events),
        "description": view.description,
        "active": view.is_active,
        "created_by": view.created_by,
        "created_at": rfc3339(view.created_at),
        "deactivated_at": rfc3339(view.deactivated_at),
    }


def _delivery_json(view: DeliveryView) -> dict[str, Any]:
    return delivery_data(view)


def _report_line(report: RunReport) -> str:
    return (
        f"{report.events_dispatched} events dispatched ({report.deliveries_created} deliveries), "
        f"{report.attempted} attempted: {report.succeeded} succeeded, {report.retrying} to retry, {report.failed} failed"
    )


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook subscriptions and their delivery worker."""


@webhooks_group.command("deliver")
@click.option("--once/--forever", "once", default=True, show_default=True,
              help="One run (fan out new events, send what is due), or keep running until SIGTERM or Ctrl-C.")
@json_option
@pass_context
def webhooks_deliver(context: Context, once: bool, as_json: bool) -> None:
    """Send due webhook deliveries: one run, or as a long-running worker process."""
    from mutualcredit.db import make_engine, make_session_factory
    from mutualcredit.webhooks.worker import DeliveryWorker, WorkerSettings, run_once

    def emit(report: RunReport) -> None:
        if as_json:
            emit_json(report.as_dict())
        else:
            click.echo(_report_line(report))
        sys.stdout.flush()

    settings = WorkerSettings.from_settings(context.settings)
    engine = make_engine(context.settings.database_url)
    try:
        session_factory = make_session_factory(engine)
        if once:
            emit(run_once(session_factory, settings))
            return
        worker = DeliveryWorker(session_factory, settings, on_report=emit)

        def on_signal(signal_number: int, _frame: Any) -> None:
            click.echo(f"webhook worker: {signal.Signals(signal_number).name}, stopping after this run", err=True)
            worker.stop()

        previous = {number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)}
        click.echo("webhook worker: running (SIGTERM or Ctrl-C stops it)", err=True)
        try:
            worker.run_forever()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        click.echo("webhook worker: stopped", err=True)
    finally:
        engine.dispose()


@webhooks_group.command("list")
@click.option("--member", "member_slug", help="Only this member's subscriptions.")
@json_option
@pass_context
def webhooks_list(context: Context, member_slug: str | None, as_json: bool) -> None:
    """List webhook subscriptions (never their secrets), deleted ones included."""
    from mutualcredit.webhooks.service import list_subscriptions

    views = list_subscriptions(context.session, member_slug=member_slug)
    if as_json:
        emit_json([_subscription_json(view) for view in views])
        return
    for view in views:
        state = "active" if view.is_active else f"deleted {view.deactivated_at:%Y-%m-%d}"
        click.echo(f"{view.id}  {view.member_slug or '(region)':<18} {state:<18} {','.join(view.events)}  {view.url}")


@webhooks_group.command("deliveries")
@click.argument("subscription_id")
@click.option("--state", type=click.Choice(["pending", "succeeded", "failed"]), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@json_option
@pass_context
def webhooks_deliveries(context: Context, subscription_id: str, state: str | None, limit: int, as_json: bool) -> None:
    """A subscription's deliveries, newest first, with every attempt."""
    from mutualcredit.webhooks.service import list_deliveries

    views = list_deliveries(context.session, parse_uuid(subscription_id, "SUBSCRIPTION_ID"), state=state, limit=limit)
    if as_json:
        emit_json([_delivery_json(view) for view in views])
        return
    for view in views:
        last = view.last_status_code if view.last_status_code is not None else (view.last_error or "-")
        when = f"next {view.next_attempt_at:%Y-%m-%d %H:%M:%S}" if view.next_attempt_at else ""
        click.echo(f"{view.id}  {view.event_type:<17} {view.state:<10} {view.attempt_count} attempts  last {last}  {when}".rstrip())
        for attempt in view.attempts:
            outcome = attempt.status_code if attempt.status_code is not None else attempt.error
            click.echo(f"    #{attempt.number} {attempt.started_at:%Y-%m-%d %H:%M:%S} {attempt.duration_ms} ms  {outcome}")
