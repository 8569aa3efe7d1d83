"""The `mutualcredit` command line: the same services the web app calls.

Every command that a user can get wrong ends with one line on standard
error and a non-zero exit (1 for a refused operation, 2 for bad usage),
never a traceback. Listing and reporting commands take ``--json``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from mutualcredit import errors, schema
from mutualcredit.config import Settings
from mutualcredit.db import make_engine, make_session_factory, utc_now
from mutualcredit.money import format_plain, parse_amount, parse_signed_amount

EXIT_REFUSED = 1
EXIT_USAGE = 2
# The region's decimals once a command has read them, to show amounts in errors.
_known_decimals: list[int] = []


class Context:
    """What every command needs: settings and a lazily opened database session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            engine = make_engine(self.settings.database_url)
            self._session = make_session_factory(engine)()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            bind = self._session.get_bind()
            self._session.close()
            bind.dispose()

    @property
    def decimals(self) -> int:
        from mutualcredit.region.service import get_region

        decimals = get_region(self.session).decimals
        self.session.rollback()
        _known_decimals[:] = [decimals]
        return decimals


pass_context = click.make_pass_decorator(Context)


def default_actor() -> str:
    return os.environ.get("MUTUALCREDIT_ACTOR") or f"cli:{getpass.getuser()}"


actor_option = click.option(
    "--actor", default=default_actor, show_default="$MUTUALCREDIT_ACTOR or cli:<user>", help="Who is acting (logged)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def parse_uuid(value: str, what: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a UUID", param_hint=what) from None


def parse_when(value: str | None, what: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or time", param_hint=what) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class DefaultGroup(click.Group):
    """A group that runs its default command when the first word is not a subcommand."""

    def __init__(self, *args: Any, default_command: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_command = default_command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", envvar="MUTUALCREDIT_DATABASE_URL", help="Database URL (default: instance/ SQLite).")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Mutual credit among the co-operatives of a region."""
    environ = dict(os.environ)
    if database_url:
        environ["MUTUALCREDIT_DATABASE_URL"] = database_url
    context = Context(Settings.from_environ(environ))
    ctx.obj = context
    ctx.call_on_close(context.close)


# ---------------------------------------------------------------------------
# db


@cli.group()
def db() -> None:
    """Create or migrate the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def db_upgrade(context: Context, revision: str) -> None:
    """Migrate the database up to a revision."""
    schema.upgrade(context.settings.database_url, revision)
    click.echo(f"database at revision {schema.current_revision(context.settings.database_url)}")


@db.command("downgrade")
@click.argument("revision")
@pass_context
def db_downgrade(context: Context, revision: str) -> None:
    """Migrate the database down to REVISION (``base`` removes every table)."""
    schema.downgrade(context.settings.database_url, revision)
    click.echo(f"database at revision {schema.current_revision(context.settings.database_url) or 'base'}")


# ---------------------------------------------------------------------------
# region and demo


@cli.group()
def region() -> None:
    """The region's settings."""


@region.command("init")
@click.option("--id", "slug", required=True, help="Region id (slug).")
@click.option("--name", required=True)
@click.option("--unit-code", required=True, help="Unit code, e.g. RBC.")
@click.option("--unit-name", required=True)
@click.option("--unit-symbol", required=True)
@click.option("--decimals", type=click.IntRange(0, 4), default=2, show_default=True)
@click.option("--locale", "default_locale", default="en", show_default=True)
@click.option("--time-zone", default="UTC", show_default=True)
@actor_option
@pass_context
def region_init(context: Context, actor: str, **settings: Any) -> None:
    """Set up the region (once) and its commons account."""
    from mutualcredit.region.service import init_region

    if not settings["unit_code"].isupper() or not settings["unit_code"].isalnum():
        raise click.BadParameter("use capital letters and digits, e.g. RBC", param_hint="--unit-code")
    init_region(context.session, actor=actor, **settings)
    click.echo(f"region {settings['slug']} set up")


@region.command("show")
@json_option
@pass_context
def region_show(context: Context, as_json: bool) -> None:
    """Show the region's settings."""
    from mutualcredit.region.service import get_region

    r = get_region(context.session)
    data = {
        "id": r.slug,
        "name": r.name,
        "unit": {"code": r.unit_code, "name": r.unit_name, "symbol": r.unit_symbol, "decimals": r.decimals},
        "default_locale": r.default_locale,
        "time_zone": r.time_zone,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(f"{r.name} ({r.slug}): unit {r.unit_name} ({r.unit_code}, {r.decimals} decimals), {r.time_zone}")


@cli.command()
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) when a region already exists.")
@pass_context
def demo(context: Context, if_empty: bool) -> None:
    """Load the demo region: a dozen co-ops and months of trade."""
    from mutualcredit.demo import load_demo
    from mutualcredit.region.models import Region

    if if_empty and context.session.query(Region).first() is not None:
        context.session.rollback()
        click.echo("the database already holds a region; demo not loaded")
        return
    created = load_demo(context.session)
    click.echo(
        f"demo region loaded: {created['members']} co-ops, {created['transfers']} transfers, "
        f"{created['requests']} open requests, {created['invoices']} invoices, "
        f"{created['pools']} resource pools with {created['pool needs']} declared needs"
    )
    from mutualcredit.demo import DEMO_PASSWORD, DEMO_USERS

    click.echo(f"demo users (password {DEMO_PASSWORD}): {', '.join(user[0] for user in DEMO_USERS)}")


# ---------------------------------------------------------------------------
# members


@cli.group()
def member() -> None:
    """Admit, list, suspend and let go of members."""


@member.command("add")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--floor", required=True, help="Lowest balance allowed, e.g. -500.00.")
@click.option("--ceiling", default=None, help="Highest balance allowed (default: none).")
@click.option("--trade", default="", help="What the co-op does.")
@actor_option
@pass_context
def member_add(context: Context, slug: str, name: str, floor: str, ceiling: str | None, trade: str, actor: str) -> None:
    """Admit a co-op and open its account (code = SLUG)."""
    from mutualcredit.members.service import add_member

    decimals = context.decimals
    view = add_member(
        context.session,
        slug=slug,
        name=name,
        trade=trade,
        floor=parse_signed_amount(floor, decimals),
        ceiling=None if ceiling is None else parse_signed_amount(ceiling, decimals),
        actor=actor,
    )
    click.echo(f"member {view.slug} admitted")


@member.command("list")
@click.option("--status", type=click.Choice(["active", "suspended", "left"]))
@json_option
@pass_context
def member_list(context: Context, status: str | None, as_json: bool) -> None:
    """List members with their balances."""
    from mutualcredit.members.service import list_members

    decimals = context.decimals
    views = list_members(context.session, status=status)
    if as_json:
        emit_json(
            [
                {
                    "slug": v.slug,
                    "name": v.name,
                    "trade": v.trade,
                    "status": v.status,
                    "accounts": [_account_json(a, decimals) for a in v.accounts],
                }
                for v in views
            ]
        )
        return
    click.echo(f"{'member':<18} {'status':<10} {'balance':>12} {'available':>12}  name")
    for v in views:
        available = sum(a.available_minor or 0 for a in v.accounts)
        click.echo(
            f"{v.slug:<18} {v.status:<10} {format_plain(v.balance_minor, decimals):>12} "
            f"{format_plain(available, decimals):>12}  {v.name}"
        )


def _set_status(context: Context, slug: str, status: str, actor: str, reason: str) -> None:
    from mutualcredit.members.service import set_member_status

    view = set_member_status(context.session, slug, status=status, actor=actor, reason=reason)
    click.echo(f"member {view.slug} is {view.status}")


@member.command("suspend")
@click.argument("slug")
@click.option("--reason", default="")
@actor_option
@pass_context
def member_suspend(context: Context, slug: str, reason: str, actor: str) -> None:
    """Suspend a member: it can neither pay nor be paid."""
    _set_status(context, slug, "suspended", actor, reason)


@member.command("reactivate")
@click.argument("slug")
@click.option("--reason", default="")
@actor_option
@pass_context
def member_reactivate(context: Context, slug: str, reason: str, actor: str) -> None:
    """Make a suspended member active again."""
    _set_status(context, slug, "active", actor, reason)


@member.command("leave")
@click.argument("slug")
@click.option("--write-off", is_flag=True, help="Move any remaining balance to the commons.")
@click.option("--reason", default="", help="Required with --write-off.")
@actor_option
@pass_context
def member_leave(context: Context, slug: str, write_off: bool, reason: str, actor: str) -> None:
    """Let a member leave (zero balance, or a recorded write-off)."""
    from mutualcredit.members.service import leave

    view = leave(context.session, slug, actor=actor, write_off=write_off, reason=reason)
    click.echo(f"member {view.slug} has left")


# ---------------------------------------------------------------------------
# accounts


def _account_json(account: Any, decimals: int) -> dict[str, Any]:
    def plain(value: int | None) -> str | None:
        return None if value is None else format_plain(value, decimals)

    return {
        "code": account.code,
        "name": account.name,
        "kind": account.kind,
        "status": account.status,
        "member": account.member_slug,
        "balance": plain(account.balance),
        "available": plain(account.available_minor),
        "floor": plain(account.floor),
        "ceiling": plain(account.ceiling),
        "debits_pending": plain(account.debits_pending),
        "credits_pending": plain(account.credits_pending),
    }


@cli.group()
def account() -> None:
    """Accounts and their limits."""


@account.command("list")
@json_option
@pass_context
def account_list(context: Context, as_json: bool) -> None:
    """List every account with its figures."""
    from mutualcredit.ledger.service import list_accounts

    decimals = context.decimals
    accounts = [_account_json(a, decimals) for a in list_accounts(context.session)]
    if as_json:
        emit_json(accounts)
        return
    click.echo(f"{'account':<18} {'kind':<8} {'status':<7} {'balance':>12} {'floor':>12} {'ceiling':>12}")
    for a in accounts:
        click.echo(
            f"{a['code']:<18} {a['kind']:<8} {a['status']:<7} {a['balance']:>12} "
            f"{a['floor'] or '-':>12} {a['ceiling'] or '-':>12}"
        )


@account.command("open")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(["pool", "peer_clearing", "commons"]), required=True)
@click.option("--floor", default=None, help="Lowest balance (default: none, unbounded).")
@click.option("--ceiling", default=None, help="Highest balance (default: none).")
@actor_option
@pass_context
def account_open(
    context: Context, code: str, name: str, kind: str, floor: str | None, ceiling: str | None, actor: str
) -> None:
    """Open a system account (a pool, a peer region's clearing account); members get theirs on admission."""
    from mutualcredit.ledger.service import open_account

    decimals = context.decimals
    view = open_account(
        context.session,
        code=code,
        name=name,
        kind=kind,
        floor=None if floor is None else parse_signed_amount(floor, decimals),
        ceiling=None if ceiling is None else parse_signed_amount(ceiling, decimals),
        actor=actor,
    )
    click.echo(f"account {view.code} opened")


@account.command("limits")
@click.argument("code")
@click.option("--floor", help="New floor, e.g. -800.00 ('none' only for system accounts).")
@click.option("--ceiling", help="New ceiling ('none' removes it).")
@click.option("--reason", default="")
@actor_option
@pass_context
def account_limits(
    context: Context, code: str, floor: str | None, ceiling: str | None, reason: str, actor: str
) -> None:
    """Show or change an account's floor and ceiling."""
    from mutualcredit.ledger.service import get_account, set_account_limits

    decimals = context.decimals
    current = get_account(context.session, code)
    if floor is None and ceiling is None:
        data = _account_json(current, decimals)
        click.echo(f"{code}: floor {data['floor'] or 'none'}, ceiling {data['ceiling'] or 'none'}")
        return

    def limit(text: str | None, old: int | None) -> int | None:
        if text is None:
            return old
        if text.lower() == "none":
            return None
        return parse_signed_amount(text, decimals)

    view = set_account_limits(
        context.session,
        code,
        floor=limit(floor, current.floor),
        ceiling=limit(ceiling, current.ceiling),
        actor=actor,
        reason=reason,
    )
    data = _account_json(view, decimals)
    click.echo(f"{code}: floor {data['floor'] or 'none'}, ceiling {data['ceiling'] or 'none'}")


# ---------------------------------------------------------------------------
# transfers


def _transfer_json(transfer: Any, decimals: int) -> dict[str, Any]:
    return {
        "id": str(transfer.id),
        "kind": transfer.kind,
        "state": transfer.state,
        "payer": transfer.payer,
        "payee": transfer.payee,
        "amount": format_plain(transfer.amount_minor, decimals),
        "description": transfer.description,
        "pending_id": str(transfer.pending_id) if transfer.pending_id else None,
        "reverses_id": str(transfer.reverses_id) if transfer.reverses_id else None,
        "expires_at": transfer.expires_at.isoformat() if transfer.expires_at else None,
        "created_by": transfer.created_by,
        "created_at": transfer.created_at.isoformat(),
        "hash": transfer.hash,
    }


def _print_transfer(transfer: Any, decimals: int, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(_transfer_json(transfer, decimals))
        return
    replay = " (already recorded)" if transfer.is_replay else ""
    click.echo(
        f"{verb} {transfer.id}: {transfer.payer} -> {transfer.payee} "
        f"{format_plain(transfer.amount_minor, decimals)} [{transfer.state}]{replay}"
    )


@cli.group(cls=DefaultGroup, default_command="create")
def transfer() -> None:
    """Move credit: `mutualcredit transfer PAYER PAYEE AMOUNT`, and two-phase operations."""


@transfer.command("create")
@click.argument("payer")
@click.argument("payee")
@click.argument("amount")
@click.option("--description", "-d", default="")
@click.option("--id", "transfer_id", help="Idempotency key (UUID); retrying with it never pays twice.")
@click.option("--pending", is_flag=True, help="Only reserve the amount (post or void it later).")
@click.option("--expires-in", "expires_in_s", type=click.IntRange(1, 366 * 86_400), help="Seconds until a pending transfer expires.")
@actor_option
@json_option
@pass_context
def transfer_create(
    context: Context,
    payer: str,
    payee: str,
    amount: str,
    description: str,
    transfer_id: str | None,
    pending: bool,
    expires_in_s: int | None,
    actor: str,
    as_json: bool,
) -> None:
    """Pay AMOUNT (in the region's unit, e.g. 12.50) from PAYER to PAYEE."""
    from mutualcredit.ledger.service import TransferSpec, create_transfer

    if expires_in_s is not None and not pending:
        raise click.BadParameter("only a --pending transfer expires", param_hint="--expires-in")
    decimals = context.decimals
    spec = TransferSpec(
        id=parse_uuid(transfer_id, "--id") if transfer_id else uuid.uuid4(),
        payer=payer,
        payee=payee,
        amount_minor=parse_amount(amount, decimals),
        description=description,
        pending=pending,
        expires_at=utc_now() + dt.timedelta(seconds=expires_in_s) if expires_in_s else None,
    )
    result = create_transfer(context.session, spec, created_by=actor)
    _print_transfer(result, decimals, as_json, "reserved" if pending else "transferred")


@transfer.command("post")
@click.argument("pending_id")
@click.option("--amount", help="Post less than the pending amount (the rest is released).")
@actor_option
@json_option
@pass_context
def transfer_post(context: Context, pending_id: str, amount: str | None, actor: str, as_json: bool) -> None:
    """Post a pending transfer."""
    from mutualcredit.ledger.service import post_pending_transfer

    decimals = context.decimals
    result = post_pending_transfer(
        context.session,
        parse_uuid(pending_id, "PENDING_ID"),
        amount_minor=parse_amount(amount, decimals) if amount else None,
        created_by=actor,
    )
    _print_transfer(result, decimals, as_json, "posted")


@transfer.command("void")
@click.argument("pending_id")
@actor_option
@json_option
@pass_context
def transfer_void(context: Context, pending_id: str, actor: str, as_json: bool) -> None:
    """Void a pending transfer (release its hold)."""
    from mutualcredit.ledger.service import void_pending_transfer

    result = void_pending_transfer(context.session, parse_uuid(pending_id, "PENDING_ID"), created_by=actor)
    _print_transfer(result, context.decimals, as_json, "voided")


@transfer.command("reverse")
@click.argument("transfer_id")
@click.option("--id", "reversal_id", help="Idempotency key of the reversal (UUID).")
@click.option("--description", "-d", default=None)
@actor_option
@json_option
@pass_context
def transfer_reverse(
    context: Context, transfer_id: str, reversal_id: str | None, description: str | None, actor: str, as_json: bool
) -> None:
    """Correct a posted transfer with a reversing transfer."""
    from mutualcredit.ledger.service import reverse_transfer

    result = reverse_transfer(
        context.session,
        parse_uuid(transfer_id, "TRANSFER_ID"),
        id=parse_uuid(reversal_id, "--id") if reversal_id else uuid.uuid4(),
        created_by=actor,
        description=description,
    )
    _print_transfer(result, context.decimals, as_json, "reversed by")


@transfer.command("expire")
@pass_context
def transfer_expire(context: Context) -> None:
    """Expire overdue pending transfers and payment requests (run it from cron)."""
    from mutualcredit.ledger.requests import expire_overdue_requests
    from mutualcredit.ledger.service import expire_overdue_transfers

    transfers = expire_overdue_transfers(context.session)
    expired_requests = expire_overdue_requests(context.session)
    click.echo(f"expired {len(transfers)} pending transfers and {expired_requests} payment requests")


@transfer.command("show")
@click.argument("transfer_id")
@json_option
@pass_context
def transfer_show(context: Context, transfer_id: str, as_json: bool) -> None:
    """Show one transfer."""
    from mutualcredit.ledger.service import get_transfer

    result = get_transfer(context.session, parse_uuid(transfer_id, "TRANSFER_ID"))
    _print_transfer(result, context.decimals, as_json, result.kind)


# ---------------------------------------------------------------------------
# payment requests


def _request_json(view: Any, decimals: int) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "payee": view.payee,
        "payer": view.payer,
        "amount": format_plain(view.amount_minor, decimals),
        "description": view.description,
        "state": view.state,
        "expires_at": view.expires_at.isoformat() if view.expires_at else None,
        "created_at": view.created_at.isoformat(),
        "transfer_id": str(view.transfer_id) if view.transfer_id else None,
    }


@cli.group()
def request() -> None:
    """Payment requests (invoices)."""


@request.command("create")
@click.option("--payee", required=True, help="The account asking to be paid.")
@click.option("--payer", required=True, help="The account asked to pay.")
@click.argument("amount")
@click.option("--description", "-d", default="")
@click.option("--expires-in", "expires_in_s", type=click.IntRange(60, 366 * 86_400), help="Seconds until it expires.")
@click.option("--id", "request_id", help="Idempotency key (UUID).")
@actor_option
@json_option
@pass_context
def request_create(
    context: Context,
    payee: str,
    payer: str,
    amount: str,
    description: str,
    expires_in_s: int | None,
    request_id: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Ask PAYER to pay AMOUNT to PAYEE."""
    from mutualcredit.ledger.requests import create_payment_request

    decimals = context.decimals
    view = create_payment_request(
        context.session,
        id=parse_uuid(request_id, "--id") if request_id else uuid.uuid4(),
        payee=payee,
        payer=payer,
        amount_minor=parse_amount(amount, decimals),
        description=description,
        expires_at=utc_now() + dt.timedelta(seconds=expires_in_s) if expires_in_s else None,
        created_by=actor,
    )
    if as_json:
        emit_json(_request_json(view, decimals))
    else:
        click.echo(f"requested {view.id}: {payer} asked to pay {payee} {format_plain(view.amount_minor, decimals)}")


@request.command("list")
@click.option("--account", help="Only requests this account sent or received.")
@click.option("--state", type=click.Choice(["open", "accepted", "rejected", "cancelled", "expired"]))
@json_option
@pass_context
def request_list(context: Context, account: str | None, state: str | None, as_json: bool) -> None:
    """List payment requests, newest first."""
    from mutualcredit.ledger.requests import list_payment_requests

    decimals = context.decimals
    views = [_request_json(v, decimals) for v in list_payment_requests(context.session, account=account, state=state)]
    if as_json:
        emit_json(views)
        return
    for v in views:
        click.echo(f"{v['id']}  {v['state']:<9} {v['payer']:>16} -> {v['payee']:<16} {v['amount']:>12}  {v['description']}")


@request.command("accept")
@click.argument("request_id")
@actor_option
@json_option
@pass_context
def request_accept(context: Context, request_id: str, actor: str, as_json: bool) -> None:
    """Accept a request: the payer pays it."""
    from mutualcredit.ledger.requests import accept_payment_request

    result = accept_payment_request(context.session, parse_uuid(request_id, "REQUEST_ID"), decided_by=actor)
    _print_transfer(result, context.decimals, as_json, "paid")


def _close(context: Context, request_id: str, actor: str, reason: str, close: Callable[..., Any], verb: str) -> None:
    view = close(context.session, parse_uuid(request_id, "REQUEST_ID"), decided_by=actor, reason=reason)
    click.echo(f"request {view.id} {verb}")


@request.command("reject")
@click.argument("request_id")
@click.option("--reason", default="")
@actor_option
@pass_context
def request_reject(context: Context, request_id: str, reason: str, actor: str) -> None:
    """Reject a request (as the payer)."""
    from mutualcredit.ledger.requests import reject_payment_request

    _close(context, request_id, actor, reason, reject_payment_request, "rejected")


@request.command("cancel")
@click.argument("request_id")
@click.option("--reason", default="")
@actor_option
@pass_context
def request_cancel(context: Context, request_id: str, reason: str, actor: str) -> None:
    """Cancel a request (as the payee)."""
    from mutualcredit.ledger.requests import cancel_payment_request

    _close(context, request_id, actor, reason, cancel_payment_request, "cancelled")


@request.command("expire")
@pass_context
def request_expire(context: Context) -> None:
    """Mark open requests past their expiry as expired (run it from cron)."""
    from mutualcredit.ledger.requests import expire_overdue_requests

    click.echo(f"expired {expire_overdue_requests(context.session)} payment requests")


# ---------------------------------------------------------------------------
# statement, audit, checkpoint, export


@cli.command()
@click.argument("code")
@click.option("--since", help="From this ISO date or time (inclusive).")
@click.option("--until", help="Up to this ISO date or time (exclusive).")
@click.option("--counterparty", help="Only movements with this account.")
@click.option("--after", "after_seq", type=int, help="Page on: only lines after this seq.")
@click.option("--limit", type=click.IntRange(1, 1000), default=1000, show_default=True)
@json_option
@pass_context
def statement(
    context: Context,
    code: str,
    since: str | None,
    until: str | None,
    counterparty: str | None,
    after_seq: int | None,
    limit: int,
    as_json: bool,
) -> None:
    """An account's movements with the running balance."""
    from mutualcredit.ledger.service import get_account
    from mutualcredit.ledger.service import statement as load_statement

    decimals = context.decimals
    account_view = get_account(context.session, code)
    lines = load_statement(
        context.session,
        code,
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        counterparty=counterparty,
        after_seq=after_seq,
        limit=limit,
    )
    if as_json:
        emit_json(
            {
                "account": _account_json(account_view, decimals),
                "lines": [
                    {
                        "seq": line.seq,
                        "transfer_id": str(line.transfer_id),
                        "kind": line.kind,
                        "created_at": line.created_at.isoformat(),
                        "counterparty": line.counterparty,
                        "description": line.description,
                        "amount": format_plain(line.amount_minor, decimals),
                        "balance_after": format_plain(line.balance_after_minor, decimals),
                    }
                    for line in lines
                ],
            }
        )
        return
    click.echo(f"Statement of {code} — balance {format_plain(account_view.balance, decimals)}")
    for line in lines:
        click.echo(
            f"{line.created_at:%Y-%m-%d %H:%M}  {line.counterparty:<16} {format_plain(line.amount_minor, decimals):>12} "
            f"{format_plain(line.balance_after_minor, decimals):>12}  {line.description}"
        )


def _trusted_key(context: Context) -> str | None:
    from mutualcredit.ledger.checkpoint import load_or_create_signing_key, public_key_hex

    path = context.settings.signing_key_path
    return public_key_hex(load_or_create_signing_key(path, create=False)) if path.exists() else None


@cli.command()
@json_option
@pass_context
def audit(context: Context, as_json: bool) -> None:
    """Recompute everything; exit 1 naming each discrepancy."""
    from mutualcredit.audit_checks import DOMAIN_CHECKS
    from mutualcredit.ledger.audit import run_audit

    report = run_audit(context.session, trusted_public_key=_trusted_key(context), extra_checks=DOMAIN_CHECKS)
    if as_json:
        emit_json(
            {
                "ok": report.is_clean,
                "accounts": report.account_count,
                "transfers": report.transfer_count,
                "checkpoint": report.checkpoint_id,
                "findings": [finding.as_dict() for finding in report.findings],
            }
        )
    else:
        for finding in report.findings:
            where = ", ".join(
                f"{label} {value}"
                for label, value in (
                    ("account", finding.account),
                    ("transfer", finding.transfer),
                    ("expected", finding.expected),
                    ("found", finding.found),
                )
                if value is not None
            )
            click.echo(f"{finding.code}: {finding.message}" + (f" ({where})" if where else ""))
        checkpoint = f", checkpoint {report.checkpoint_id} verified" if report.checkpoint_id else ", no checkpoint yet"
        summary = f"{report.account_count} accounts, {report.transfer_count} transfers{checkpoint if report.is_clean else ''}"
        click.echo(f"audit {'passed' if report.is_clean else 'FAILED'}: {summary}; {len(report.findings)} findings")
    if not report.is_clean:
        sys.exit(EXIT_REFUSED)


@cli.command()
@actor_option
@pass_context
def checkpoint(context: Context, actor: str) -> None:
    """Sign a Merkle root over every account head (creates the region key on first use)."""
    from mutualcredit.ledger.checkpoint import create_checkpoint, load_or_create_signing_key

    key = load_or_create_signing_key(context.settings.signing_key_path, create=True)
    view = create_checkpoint(context.session, key=key, created_by=actor)
    click.echo(
        f"checkpoint {view.id}: {view.account_count} accounts, root {view.merkle_root}, public key {view.public_key}"
    )


@cli.command()
@click.option("--format", "export_format", type=click.Choice(["csv", "beancount"]), required=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@pass_context
def export(context: Context, export_format: str, output: Path | None) -> None:
    """Export the ledger as CSV or Beancount."""
    from mutualcredit.ledger.export import export_beancount, export_csv

    writer = export_csv if export_format == "csv" else export_beancount
    if output is None:
        writer(context.session, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as out:
        count = writer(context.session, out)
    click.echo(f"wrote {count} transfers to {output}", err=True)


# ---------------------------------------------------------------------------
# entry point


def run(group: click.Group, args: list[str] | None = None) -> None:
    """Run a command group; every user-caused error ends in one line and a non-zero exit."""
    try:
        group.main(args=args, prog_name="mutualcredit", standalone_mode=False)
    except errors.MutualCreditError as error:
        amounts = ""
        if _known_decimals:
            amounts = "".join(
                f" ({name.removesuffix('_minor').replace('_', ' ')}: {format_plain(value, _known_decimals[0])})"
                for name, value in error.details.items()
                if name.endswith("_minor") and isinstance(value, int)
            )
        click.echo(f"error: {error.code}: {error.message}{amounts}", err=True)
        sys.exit(EXIT_REFUSED)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(EXIT_REFUSED)
    except click.UsageError as error:
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
        click.echo(f"error: {error.format_message()}{hint}", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except (OperationalError, ProgrammingError) as error:
        first_line = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        click.echo(
            f"error: database not ready ({first_line}); run 'mutualcredit db upgrade' first", err=True
        )
        sys.exit(EXIT_REFUSED)


def main() -> None:
    run(cli)


def _add_area_commands() -> None:
    """Commands that live with their areas (they import this module's helpers)."""
    from mutualcredit.clearing.cli import clearing_group
    from mutualcredit.invoices.cli import invoice_group  # also adds `clearing invoices|runs|notice`
    from mutualcredit.ledger.recurring_cli import recurring_group
    from mutualcredit.pools.cli import pools_group  # `pools solve` and the commands with a database
    from mutualcredit.tokens.cli import token_group
    from mutualcredit.users.cli import user_group
    from mutualcredit.webhooks.cli import webhooks_group

    cli.add_command(clearing_group)
    cli.add_command(invoice_group)
    cli.add_command(pools_group)
    cli.add_command(recurring_group)
    cli.add_command(token_group)
    cli.add_command(user_group)
    cli.add_command(webhooks_group)


_add_area_commands()
