"""`mutualcredit pools …` with a database: pools, rounds, needs, runs, review, commit, verify, export.

``pools solve FILE.json`` (in ``solve_cli``) needs no database; every
command here goes through ``mutualcredit.pools.service``. Quantities on the
command line are decimal strings in the pool's unit (``12.5`` kg), or whole
numbers of slots; a service error ends in one line and exit 1.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from mutualcredit import errors
from mutualcredit.cli import Context, actor_option, emit_json, json_option, pass_context
from mutualcredit.money import format_plain, parse_amount
from mutualcredit.pools import service
from mutualcredit.pools.problem import SlotSpec
from mutualcredit.pools.solve_cli import pools_group
from solver.allocation.model import Rule


def _quantity(text: str, round_or_pool: service.RoundView | service.PoolView, what: str) -> int:
    """A quantity typed on the command line, in the pool's minor units (slots: a whole number)."""
    if round_or_pool.is_slots:
        if not text.strip().isdigit() or int(text) <= 0:
            raise errors.InvalidInput(f"{what}: {text!r} is not a whole number of {round_or_pool.unit}")
        return int(text)
    return parse_amount(text, round_or_pool.decimals)


def _show_quantity(amount: int, view: service.RoundView | service.PoolView) -> str:
    if view.is_slots:
        return f"{amount} {view.unit}"
    return f"{format_plain(amount, view.decimals)} {view.unit}"


def _parse_time(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date and time like 2026-12-31T18:00", param_hint=option) from None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


# ---------------------------------------------------------------------------
# Pools and rounds


@pools_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(["divisible", "slots"]), required=True)
@click.option("--unit", required=True, help='What one unit is called: "kg", "van-day".')
@click.option("--decimals", type=int, default=0, show_default=True, help="Decimals of a divisible quantity.")
@click.option("--price", default="0", show_default=True, help="Credit per whole unit, in the region's unit (0: a gift pool).")
@click.option("--rule", type=click.Choice([rule.value for rule in Rule]), default=Rule.LEXIMIN.value, show_default=True)
@click.option("--cap", "member_cap_share", help="Most a member gets, as a share of the pool (0.25 or 1/4).")
@click.option("--weight", "weights", multiple=True, metavar="MEMBER=WEIGHT", help="A member's weight (repeatable).")
@click.option("--review-hours", type=int, default=72, show_default=True, help="How long members may object.")
@click.option("--time-limit", "time_limit_s", type=int, default=60, show_default=True, help="Solver seconds per run.")
@click.option("--description", default="")
@actor_option
@pass_context
def pools_create(
    context: Context, slug: str, name: str, kind: str, unit: str, decimals: int, price: str, rule: str,
    member_cap_share: str | None, weights: tuple[str, ...], review_hours: int, time_limit_s: int, description: str,
    actor: str,
) -> None:
    """Create pool SLUG and its account, with the policy the members' assembly adopted."""
    price_minor = 0 if price.strip() in ("0", "0.0", "0.00") else parse_amount(price, context.decimals)
    parsed_weights = {}
    for item in weights:
        member, separator, weight = item.partition("=")
        if not separator:
            raise errors.InvalidInput(f"--weight {item!r}: write MEMBER=WEIGHT")
        parsed_weights[member.strip()] = weight.strip()
    policy = service.PolicyInput(
        rule=rule, member_cap_share=member_cap_share, weights=parsed_weights, time_limit_s=time_limit_s,
        stage_time_limit_s=min(20, time_limit_s), review_window_hours=review_hours,
    )
    view = service.create_pool(context.session, slug=slug, name=name, kind=kind, unit=unit, decimals=decimals,
                               price_minor=price_minor, description=description, policy=policy, actor=actor)
    price_text = "a gift pool" if view.is_gift else f"{format_plain(view.price_minor, context.decimals)} per {view.unit}"
    click.echo(f"pool {view.slug}: {view.name}, {view.kind}, {price_text}, rule {view.rule}, account {view.account_code}")


@pools_group.command("open")
@click.argument("pool")
@click.option("--title", default="")
@click.option("--needs-close-at", help="When needs stop being taken, e.g. 2026-12-31T18:00 (UTC unless an offset is given).")
@actor_option
@pass_context
def pools_open(context: Context, pool: str, title: str, needs_close_at: str | None, actor: str) -> None:
    """Open POOL's next round for contributions and needs (the pool's policy is recorded with it)."""
    view = service.open_round(context.session, pool, title=title, needs_close_at=_parse_time(needs_close_at, "--needs-close-at"),
                              actor=actor)
    click.echo(f"round {view.reference} open: {view.title} (rule {view.rule})")


@pools_group.command("contribute")
@click.argument("round_reference", metavar="ROUND")
@click.option("--member", required=True)
@click.option("--quantity", help="A divisible pool: how much, in the pool's unit.")
@click.option("--slots", "slots_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A slot pool: a CSV with a header id,capacity,zone,start,end (capacity, zone, start, end optional).")
@click.option("--paid", is_flag=True, help="Paid in credit at commit for what is used (default: given).")
@click.option("--note", default="")
@actor_option
@pass_context
def pools_contribute(
    context: Context, round_reference: str, member: str, quantity: str | None, slots_file: Path | None, paid: bool,
    note: str, actor: str,
) -> None:
    """Record what MEMBER puts into ROUND: a quantity, or slots from a CSV file."""
    round_view = service.get_round(context.session, round_reference)
    slots: list[SlotSpec] = []
    quantity_minor = 0
    if round_view.is_slots:
        if slots_file is None or quantity is not None:
            raise errors.InvalidInput(f"{round_reference} is a pool of slots: give --slots FILE.csv, not --quantity")
        slots = _read_slots(slots_file)
    else:
        if quantity is None or slots_file is not None:
            raise errors.InvalidInput(f"{round_reference} is a divisible pool: give --quantity, not --slots")
        quantity_minor = _quantity(quantity, round_view, "--quantity")
    view = service.add_contribution(context.session, round_reference, member=member, quantity_minor=quantity_minor,
                                    slots=slots, is_paid=paid, note=note, actor=actor)
    what = f"{len(view.slots)} slot(s)" if round_view.is_slots else _show_quantity(view.quantity_minor, round_view)
    click.echo(f"contribution {view.id} to {round_reference}: {member} gives {what}, {'paid' if view.is_paid else 'given'}")


def _read_slots(path: Path) -> list[SlotSpec]:
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise errors.InvalidInput(f"{path}: the header must start with id (id,capacity,zone,start,end)")
    unknown = set(reader.fieldnames) - {"id", "capacity", "zone", "start", "end"}
    if unknown:
        raise errors.InvalidInput(f"{path}: unknown column {sorted(unknown)[0]!r}")
    slots = []
    for row in reader:
        line = reader.line_num

        def whole(name: str, default: int | None) -> int | None:
            text = (row.get(name) or "").strip()
            if not text:
                return default
            try:
                return int(text)
            except ValueError:
                raise errors.InvalidInput(f"{path}:{line}: {name} {text!r} is not a whole number") from None

        slots.append(SlotSpec(id=(row.get("id") or "").strip(), capacity=whole("capacity", 1) or 1,
                              zone=(row.get("zone") or "").strip() or None, start=whole("start", None),
                              end=whole("end", None)))
    return slots


@pools_group.command("declare")
@click.argument("round_reference", metavar="ROUND")
@click.option("--member", required=True)
@click.option("--desired", required=True, help="How much, in the pool's unit (slots: how many).")
@click.option("--minimum", default=None, help="The essential minimum (default none).")
@click.option("--tier", type=click.IntRange(1, service.TIER_MAX), default=1, show_default=True, help="1 is served first.")
@click.option("--all-or-nothing", is_flag=True)
@click.option("--slot", "acceptable", multiple=True, help="An acceptable slot id (repeatable; default: any).")
@click.option("--window", nargs=2, type=int, default=None, metavar="START END", help="Only slots within [START, END).")
@click.option("--zone", default=None)
@click.option("--why", "justification", default="", help="The justification members will read.")
@actor_option
@pass_context
def pools_declare(
    context: Context, round_reference: str, member: str, desired: str, minimum: str | None, tier: int,
    all_or_nothing: bool, acceptable: tuple[str, ...], window: tuple[int, int] | None, zone: str | None,
    justification: str, actor: str,
) -> None:
    """Declare MEMBER's need in ROUND while it is open."""
    round_view = service.get_round(context.session, round_reference)
    need = service.NeedInput(
        desired_minor=_quantity(desired, round_view, "--desired"),
        minimum_minor=0 if minimum is None else _quantity(minimum, round_view, "--minimum"),
        tier=tier, all_or_nothing=all_or_nothing, acceptable=acceptable or None, window=window or None, zone=zone,
        justification=justification,
    )
    view = service.declare_need(context.session, round_reference, member=member, need=need, actor=actor)
    click.echo(f"need {view.id} in {round_reference}: {member} desires {_show_quantity(view.desired_minor, round_view)}")


def _transition(action: str, help_text: str) -> None:
    function = {
        "close": service.close_round, "review": service.start_review, "archive": service.archive_round,
        "commit": service.commit_round,
    }[action]

    @pools_group.command(action, help=help_text)
    @click.argument("round_reference", metavar="ROUND")
    @actor_option
    @pass_context
    def command(context: Context, round_reference: str, actor: str) -> None:
        view = function(context.session, round_reference, actor=actor)
        extra = ""
        if view.state == "review" and view.review_ends_at is not None:
            extra = f"; members may object until {view.review_ends_at:%Y-%m-%d %H:%M} UTC"
        click.echo(f"round {view.reference} {view.state}{extra}")


_transition("close", "Stop taking needs in ROUND (open → closed).")
_transition("review", "Show ROUND's latest result to the members, who may object until the window ends.")
_transition("commit", "Record ROUND's allocations and, for a priced pool, pay for them in one transaction.")
_transition("archive", "Put a committed ROUND away (it stays readable and verifiable).")


# ---------------------------------------------------------------------------
# Running, showing, verifying, exporting


@pools_group.command("run")
@click.argument("round_reference", metavar="ROUND")
@click.option("--reason", default="", help="Why it is (re-)run: kept with the run.")
@actor_option
@json_option
@pass_context
def pools_run(context: Context, round_reference: str, reason: str, actor: str, as_json: bool) -> None:
    """Solve ROUND now, with a progress display; every run is kept. Exit 1 if it finds no valid allocation."""
    run = service.start_run(context.session, round_reference, actor=actor, reason=reason)
    time_limit_s = service.get_round(context.session, round_reference).time_limit_s
    if not sys.stderr.isatty() or as_json:
        done = service.execute_run(context.session, run.id)
    else:
        # The number of stages is not known in advance (leximin adds one per level); the bar shows the time
        # used against the round's limit, which no run exceeds, and the last stage finished.
        started = time.monotonic()
        last = {"text": "", "tenths": 0}
        with click.progressbar(length=time_limit_s * 10, label=f"solving {round_reference} (run {run.number})",
                               file=sys.stderr, show_eta=False, show_percent=False,
                               item_show_func=lambda _item: last["text"][:60] or None) as bar:

            def progress(stages_done: int, text: str) -> None:
                tenths = min(int((time.monotonic() - started) * 10), time_limit_s * 10)
                last["text"] = f"stage {stages_done}: {text}"
                bar.update(tenths - last["tenths"], last["text"])
                last["tenths"] = tenths

            done = service.execute_run(context.session, run.id, on_progress=progress)
            bar.update(time_limit_s * 10 - last["tenths"])
    round_view = service.get_round(context.session, round_reference)
    if as_json:
        emit_json(_run_json(done, round_view))
    else:
        _print_run(done, round_view)
    if not done.is_valid:
        sys.exit(1)


def _run_json(run: service.RunView, round_view: service.RoundView) -> dict[str, Any]:
    return {
        "round": round_view.reference, "run": run.number, "state": run.state, "status": run.status,
        "error": run.error or None, "reason": run.reason, "started_by": run.started_by,
        "input_sha256": run.input_sha256, "result": run.result,
    }


def _print_run(run: service.RunView, round_view: service.RoundView) -> None:
    if run.state != "done":
        click.echo(f"run {run.number} of {round_view.reference}: {run.state} {run.error}".rstrip())
        return
    rows = run.rows()
    click.echo(f"{'need':<36}  {'member':<20} {'declared':>14} {'allocated':>14} {'share':>8}  decided by")
    for row in rows:
        share = f"{float(row.share_percent):.2f}%"  # display only; the stored share is exact
        click.echo(
            f"{row.need_id:<36}  {row.member:<20} {_show_quantity(row.declared_minor, round_view):>14} "
            f"{_show_quantity(row.allocated_minor, round_view):>14} {share:>8}  {row.decided_by}"
        )
    assert run.result is not None
    message = f" ({run.result['message']})" if run.result.get("message") else ""
    click.echo(
        f"run {run.number} of {round_view.reference}: {run.status}{message}, {len(run.result.get('stages', []))} stage(s), "
        f"{run.result.get('solve_time_s')} s; every minimum met: {'yes' if run.result.get('minimums_met') else 'no'}"
    )


@pools_group.command("show")
@click.argument("round_reference", metavar="[ROUND]", required=False)
@json_option
@pass_context
def pools_show(context: Context, round_reference: str | None, as_json: bool) -> None:
    """List pools and their rounds, or show ROUND: policy, contributions, needs, result, objections, payments."""
    session = context.session
    if round_reference is None:
        views = service.list_pools(session, include_archived=True)
        if as_json:
            emit_json([_pool_json(view, context.decimals) | {"rounds": [_round_json(r) for r in service.list_rounds(session, pool_slug=view.slug)]}
                       for view in views])
            return
        for view in views:
            price = "gift" if view.is_gift else f"{format_plain(view.price_minor, context.decimals)} per {view.unit}"
            click.echo(f"{view.slug:<20} {view.name:<30} {view.kind:<9} {price:<20} rule {view.rule}")
            for round_view in service.list_rounds(session, pool_slug=view.slug):
                click.echo(f"    {round_view.reference:<24} {round_view.state:<10} {round_view.need_count:>5} needs, "
                           f"{_show_quantity(round_view.contributed_minor, round_view)} contributed")
        return
    round_view = service.get_round(session, round_reference)
    contributions = service.list_contributions(session, round_reference)
    needs = service.list_needs(session, round_reference)
    run = service.current_run(session, round_reference)
    objections = service.list_objections(session, round_reference)
    allocations = service.list_allocations(session, round_reference)
    payouts = service.list_payouts(session, round_reference)
    if as_json:
        emit_json(_round_json(round_view) | {
            "contributions": [
                {"id": c.id, "member": c.member, "quantity": c.quantity_minor, "slots": [s.to_json() for s in c.slots],
                 "paid": c.is_paid} for c in contributions
            ],
            "needs": [{"id": str(n.id), "member": n.member, "desired": n.desired_minor, "minimum": n.minimum_minor,
                       "tier": n.tier} for n in needs],
            "run": None if run is None else _run_json(run, round_view),
            "objections": [{"member": o.member, "run": o.run_number, "reason": o.reason} for o in objections],
            "allocations": [{"need": str(a.need_id), "member": a.member, "allocated": a.allocated_minor,
                             "charged": format_plain(a.price_paid_minor, context.decimals)} for a in allocations],
            "payouts": [{"contribution": p.contribution_id, "member": p.member,
                         "amount": format_plain(p.amount_minor, context.decimals)} for p in payouts],
        })
        return
    click.echo(f"round {round_view.reference}: {round_view.title} ({round_view.pool_name}), {round_view.state}")
    cap = f", member cap {round_view.member_cap_share}" if round_view.member_cap_share else ""
    click.echo(f"policy: {round_view.rule}{cap}, review window {round_view.review_window_hours} h, "
               f"time limit {round_view.time_limit_s} s")
    if round_view.needs_close_at:
        click.echo(f"needs close at {round_view.needs_close_at:%Y-%m-%d %H:%M} UTC")
    if round_view.review_ends_at:
        click.echo(f"review ends at {round_view.review_ends_at:%Y-%m-%d %H:%M} UTC")
    click.echo(f"contributions ({_show_quantity(round_view.contributed_minor, round_view)}):")
    for contribution in contributions:
        what = ", ".join(slot.id for slot in contribution.slots) if round_view.is_slots else _show_quantity(contribution.quantity_minor, round_view)
        click.echo(f"    {contribution.member:<20} {what} ({'paid' if contribution.is_paid else 'given'})")
    click.echo(f"needs ({len(needs)}):")
    for need in needs:
        minimum = f", minimum {_show_quantity(need.minimum_minor, round_view)}" if need.minimum_minor else ""
        click.echo(f"    {need.member:<20} {_show_quantity(need.desired_minor, round_view)}{minimum}, tier {need.tier}  {need.id}")
    if run is not None:
        _print_run(run, round_view)
    for objection in objections:
        click.echo(f"objection by {objection.member} to run {objection.run_number}: {objection.reason}")
    for allocation in allocations:
        if allocation.price_paid_minor:
            click.echo(f"charged {allocation.member}: {format_plain(allocation.price_paid_minor, context.decimals)}")
    for payout in payouts:
        click.echo(f"paid {payout.member} for contribution {payout.contribution_id}: {format_plain(payout.amount_minor, context.decimals)}")


def _pool_json(view: service.PoolView, decimals: int) -> dict[str, Any]:
    return {
        "slug": view.slug, "name": view.name, "kind": view.kind, "unit": view.unit, "decimals": view.decimals,
        "price": format_plain(view.price_minor, decimals), "rule": view.rule, "member_cap_share": view.member_cap_share,
        "account": view.account_code,
    }


def _round_json(view: service.RoundView) -> dict[str, Any]:
    return {
        "reference": view.reference, "title": view.title, "state": view.state, "rule": view.rule,
        "member_cap_share": view.member_cap_share, "weights": dict(view.weights), "needs": view.need_count,
        "contributed": view.contributed_minor,
        "needs_close_at": view.needs_close_at.isoformat() if view.needs_close_at else None,
        "review_ends_at": view.review_ends_at.isoformat() if view.review_ends_at else None,
    }


@pools_group.command("verify")
@click.argument("round_reference", metavar="ROUND")
@pass_context
def pools_verify(context: Context, round_reference: str) -> None:
    """Re-solve ROUND's committed (else latest) run from its stored input; exit 1 if the result differs."""
    report = service.verify_round(context.session, round_reference)
    if report.matches:
        click.echo(f"round {report.round_reference} run {report.run_number}: verified, "
                   f"the re-run gives the same allocation ({report.status})")
        return
    for difference in report.differences:
        click.echo(difference, err=True)
    click.echo(f"error: round {report.round_reference} run {report.run_number}: {len(report.differences)} difference(s)",
               err=True)
    sys.exit(1)


@pools_group.command("export")
@click.argument("round_reference", metavar="ROUND")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file (default: standard output).")
@pass_context
def pools_export(context: Context, round_reference: str, output: Path | None) -> None:
    """Write ROUND's whole input as a JSON file that `mutualcredit pools solve` re-solves with no database."""
    text = json.dumps(service.export_round(context.session, round_reference), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"round {round_reference} written to {output}", err=True)
