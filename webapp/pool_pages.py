"""Resource pool pages: pools, rounds, needs, the solver's runs with their progress, results, objections, commits.

Who may do what is the ``Principal``'s to say (``mutualcredit.users.permissions``):
every signed-in person sees pools, rounds, the result chart and the round's
whole input (so any member can re-solve it); a co-op's treasurer declares,
edits and withdraws its needs while a round takes them, and objects for it
during review; coordinators and admins create pools, record contributions,
open, close, run, review, commit and archive rounds; auditors see the whole
explanation and change nothing. A run is solved in a background thread; its
page refreshes itself (no JavaScript) until the run is done.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from babel import numbers as babel_numbers
from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mutualcredit import errors
from mutualcredit.members.service import list_members
from mutualcredit.money import format_amount, parse_amount, to_decimal
from mutualcredit.pools import service
from mutualcredit.pools.background import run_in_background
from mutualcredit.pools.problem import SlotSpec
from mutualcredit.region.service import get_region
from mutualcredit.users.permissions import Principal
from solver.allocation.model import Rule
from webapp.auth import PostForm, add_error_pages, current_principal, refuse
from webapp.db import db_session
from webapp.i18n import current_locale, error_message

blueprint = add_error_pages(Blueprint("pool_pages", __name__))

RULE_LABELS = {
    Rule.PROPORTIONAL.value: _l("proportional to need"),
    Rule.EQUAL_AWARDS.value: _l("equal awards (constrained)"),
    Rule.EQUAL_LOSSES.value: _l("equal losses (constrained)"),
    Rule.LEXIMIN.value: _l("leximin: the worst-off share of need first"),
}
STATE_LABELS = {
    "open": _l("open for needs"),
    "closed": _l("closed"),
    "solved": _l("solved (draft)"),
    "review": _l("under review"),
    "committed": _l("committed"),
    "archived": _l("archived"),
}
RUN_STATE_LABELS = {"queued": _l("queued"), "running": _l("running"), "done": _l("done"), "failed": _l("failed")}
STATUS_LABELS = {
    "optimal": _l("optimal"),
    "feasible": _l("feasible, not proven optimal"),
    "infeasible": _l("infeasible"),
}
TIER_CHOICES = ((1, _l("1: essential, served first")), (2, _l("2: important")), (3, _l("3: useful")))
CHART_WIDTH = 640
CHART_BAR_HEIGHT = 12
CHART_LABEL_WIDTH = 170


# --- forms ---------------------------------------------------------------------


class PoolForm(FlaskForm):
    slug = StringField(_l("Short name (in addresses)"), validators=[DataRequired(), Length(max=63)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=service.NAME_LENGTH_MAX)])
    description = TextAreaField(_l("Description"), validators=[Length(max=service.TEXT_LENGTH_MAX)])
    kind = SelectField(_l("What is shared"), choices=[SelectChoice("divisible", _l("a quantity (kg, hours, litres, credit)")),
                                                       SelectChoice("slots", _l("items or time slots (van-days, kitchen mornings)"))])
    unit = StringField(_l("Unit"), validators=[DataRequired(), Length(max=service.UNIT_LENGTH_MAX)])
    decimals = IntegerField(_l("Decimals of a quantity"), default=2,
                            validators=[Optional(), NumberRange(min=0, max=service.DECIMALS_MAX)])
    price = StringField(_l("Price per unit in credit (0 for a gift pool)"), default="0", validators=[Length(max=30)])
    rule = SelectField(_l("Sharing rule adopted by the assembly"), choices=[SelectChoice(rule, label) for rule, label in RULE_LABELS.items()],
                       default="leximin")
    member_cap_share = StringField(_l("Most a co-op gets of a round, as a share (e.g. 0.25; empty: no cap)"),
                                   validators=[Length(max=20)])
    review_window_hours = IntegerField(_l("Review window in hours"), default=72,
                                       validators=[NumberRange(min=0, max=service.REVIEW_WINDOW_HOURS_MAX)])
    time_limit_s = IntegerField(_l("Solver time limit in seconds"), default=60,
                                validators=[NumberRange(min=1, max=service.TIME_LIMIT_S_MAX)])


class RoundForm(FlaskForm):
    title = StringField(_l("Title"), validators=[Length(max=service.NAME_LENGTH_MAX)])
    needs_close_at = DateTimeLocalField(_l("Needs close at (UTC, optional)"), validators=[Optional()])


class NeedForm(FlaskForm):
    member = SelectField(_l("For co-op"), validate_choice=False)
    desired = StringField(_l("Desired quantity"), validators=[DataRequired(), Length(max=30)])
    minimum = StringField(_l("Essential minimum (optional)"), validators=[Length(max=30)])
    tier = SelectField(_l("Priority tier"), coerce=int, choices=[SelectChoice(tier, label) for tier, label in TIER_CHOICES],
                       default=1)
    all_or_nothing = BooleanField(_l("All or nothing: the whole desired quantity, or none"))
    acceptable = SelectMultipleField(_l("Acceptable slots (none ticked: any)"), validate_choice=False,
                                     option_widget=widgets.CheckboxInput(), widget=widgets.ListWidget(prefix_label=False))
    zone = SelectField(_l("Zone"), validate_choice=False)
    window_start = IntegerField(_l("From day"), validators=[Optional()])
    window_end = IntegerField(_l("Until day (not included)"), validators=[Optional()])
    justification = TextAreaField(_l("Why you need it (members read this)"), validators=[Length(max=service.TEXT_LENGTH_MAX)])


class ContributionForm(FlaskForm):
    member = SelectField(_l("Co-op"), validate_choice=False)
    quantity = StringField(_l("Quantity"), validators=[Length(max=30)])
    slots = TextAreaField(_l("Slots, one per line: id, capacity, zone, start, end"), validators=[Length(max=100_000)])
    paid = BooleanField(_l("Paid in credit for what is used (otherwise given)"))
    note = StringField(_l("Note"), validators=[Length(max=service.TEXT_LENGTH_MAX)])


class RunForm(FlaskForm):
    reason = StringField(_l("Why (kept with the run)"), validators=[Length(max=service.TEXT_LENGTH_MAX)])


class ObjectionForm(FlaskForm):
    member = SelectField(_l("For co-op"), validate_choice=False)
    reason = TextAreaField(_l("Why do you object?"), validators=[DataRequired(), Length(max=service.TEXT_LENGTH_MAX)])


# --- helpers ---------------------------------------------------------------------


def _region() -> Any:
    if "pool_pages_region" not in g:
        region = get_region(db_session())
        g.pool_pages_region = SimpleNamespace(unit=region.unit, decimals=region.decimals)
        db_session().rollback()
    return g.pool_pages_region


def _money(amount_minor: int) -> str:
    return format_amount(amount_minor, _region().unit, current_locale())


def _quantity_text(amount_minor: int, view: service.RoundView | service.PoolView) -> str:
    """A quantity in the pool's unit, in the viewer's locale: "12.50 kg", "3 van-day"."""
    decimals = 0 if view.is_slots else view.decimals
    number = babel_numbers.format_decimal(
        to_decimal(amount_minor, decimals), format="#,##0" + ("." + "0" * decimals if decimals else ""), locale=current_locale()
    )
    return f"{number} {view.unit}"


def _parse_quantity(text: str, view: service.RoundView, *, allow_zero: bool = False) -> int:
    text = (text or "").strip()
    if allow_zero and text in ("", "0"):
        return 0
    if view.is_slots:
        if not text.isdigit() or not text.isascii() or int(text) <= 0:
            raise errors.InvalidAmount("a whole number of slots")
        return int(text)
    return parse_amount(text, view.decimals, current_locale())


def _names() -> dict[str, str]:
    names = {member.slug: member.name for member in list_members(db_session())}
    db_session().rollback()
    return names


def _active_choices() -> list[SelectChoice]:
    members = [m for m in list_members(db_session()) if m.status == "active"]
    db_session().rollback()
    return [SelectChoice(m.slug, m.name) for m in sorted(members, key=lambda m: m.name)]


def _own_choices(principal: Principal, names: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(slug, names.get(slug, slug)) for slug in principal.treasurer_of]


def _round_or_404(reference: str) -> service.RoundView:
    try:
        view = service.get_round(db_session(), reference)
    except errors.NotFound as missing:
        refuse(missing)
    db_session().rollback()
    return view


def _require_admin(principal: Principal) -> None:
    if not principal.can_administer_pools:
        abort(403)


def _back(reference: str) -> Any:
    return redirect(url_for("pool_pages.round_page", reference=reference), 303)


@dataclass(frozen=True, slots=True)
class ChartBar:
    member: str
    name: str
    declared: str
    allocated: str
    declared_width: float
    allocated_width: float
    y: float
    share: str


@dataclass(frozen=True, slots=True)
class ResultChart:
    """Declared against allocated per member, as SVG bars (no JavaScript), with the figures as a table."""

    bars: tuple[ChartBar, ...]
    height: int
    summary: str
    width: int = CHART_WIDTH
    label_width: int = CHART_LABEL_WIDTH
    bar_height: int = CHART_BAR_HEIGHT


def _result_chart(rows: list[service.ResultRow], view: service.RoundView, names: dict[str, str]) -> ResultChart:
    declared: dict[str, int] = {}
    allocated: dict[str, int] = {}
    for row in rows:
        declared[row.member] = declared.get(row.member, 0) + row.declared_minor
        allocated[row.member] = allocated.get(row.member, 0) + row.allocated_minor
    largest = max(declared.values(), default=0) or 1
    plot = CHART_WIDTH - CHART_LABEL_WIDTH - 10
    bars = []
    for index, member in enumerate(sorted(declared, key=lambda m: names.get(m, m).lower())):
        share = allocated[member] / declared[member] if declared[member] else 0
        bars.append(ChartBar(
            member=member,
            name=names.get(member, member),
            declared=_quantity_text(declared[member], view),
            allocated=_quantity_text(allocated[member], view),
            declared_width=round(declared[member] / largest * plot, 1),
            allocated_width=round(allocated[member] / largest * plot, 1),
            y=10 + index * (2 * CHART_BAR_HEIGHT + 10),
            share=babel_numbers.format_percent(share, locale=current_locale()),
        ))
    total_declared, total_allocated = sum(declared.values()), sum(allocated.values())
    summary = _(
        "Declared against allocated for %(count)s co-ops: %(allocated)s allocated of %(declared)s declared.",
        count=len(bars), allocated=_quantity_text(total_allocated, view), declared=_quantity_text(total_declared, view),
    )
    return ResultChart(tuple(bars), 20 + len(bars) * (2 * CHART_BAR_HEIGHT + 10), summary)


# --- pools -------------------------------------------------------------------------


@blueprint.get("/pools")
@login_required
def index() -> str:
    """Every active pool, with its rounds that are open or under review."""
    pools = service.list_pools(db_session())
    rounds = {pool.slug: service.list_rounds(db_session(), pool_slug=pool.slug) for pool in pools}
    db_session().rollback()
    return render_template("pools/index.html", principal=current_principal(), pools=pools, rounds=rounds,
                           state_labels=STATE_LABELS, rule_labels=RULE_LABELS, money=_money, quantity=_quantity_text)


@blueprint.route("/pools/new", methods=["GET", "POST"])
@login_required
def new_pool() -> Any:
    """A coordinator creates a pool with the policy its members' assembly adopted."""
    principal = current_principal()
    _require_admin(principal)
    form = PoolForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("pools/new.html", form=form, error=_("Please check what you entered.")), 400
        try:
            price_text = (form.price.data or "0").strip()
            price = 0 if price_text in ("0", "") else parse_amount(price_text, _region().decimals, current_locale())
        except errors.InvalidAmount:
            form.price.errors = [_("That is not a valid amount.")]
            return render_template("pools/new.html", form=form, error=_("Please check what you entered.")), 400
        policy = service.PolicyInput(
            rule=form.rule.data or "leximin", member_cap_share=(form.member_cap_share.data or "").strip() or None,
            time_limit_s=form.time_limit_s.data or 60, stage_time_limit_s=min(20, form.time_limit_s.data or 60),
            review_window_hours=form.review_window_hours.data if form.review_window_hours.data is not None else 72,
        )
        try:
            view = service.create_pool(
                db_session(), slug=(form.slug.data or "").strip(), name=form.name.data or "", kind=form.kind.data or "",
                unit=form.unit.data or "", decimals=form.decimals.data or 0 if form.kind.data == "divisible" else 0,
                price_minor=price, description=form.description.data or "", policy=policy, actor=principal.actor,
            )
        except errors.MutualCreditError as refused:
            field = getattr(refused, "field", None) or refused.details.get("field")
            target = getattr(form, str(field), None) if field else None
            if target is not None:
                target.errors = [error_message(refused) + (f" ({refused.message})" if refused.code == "invalid_pool_input" else "")]
            return render_template("pools/new.html", form=form, error=error_message(refused)), 400
        flash(_("Pool %(name)s created.", name=view.name), "success")
        return redirect(url_for("pool_pages.pool", slug=view.slug), 303)
    return render_template("pools/new.html", form=form)


@blueprint.get("/pools/<slug>")
@login_required
def pool(slug: str) -> str:
    """A pool: its resource, price, policy, account and rounds."""
    try:
        view = service.get_pool(db_session(), slug)
    except errors.NotFound as missing:
        refuse(missing)
    rounds = service.list_rounds(db_session(), pool_slug=slug)
    db_session().rollback()
    return render_template("pools/pool.html", principal=current_principal(), pool=view, rounds=rounds, form=RoundForm(),
                           state_labels=STATE_LABELS, rule_labels=RULE_LABELS, money=_money, quantity=_quantity_text,
                           names=_names())


@blueprint.post("/pools/<slug>/rounds")
@login_required
def open_round(slug: str) -> Any:
    principal = current_principal()
    _require_admin(principal)
    form = RoundForm()
    if not form.validate_on_submit():
        flash(_("Please check what you entered."), "error")
        return redirect(url_for("pool_pages.pool", slug=slug), 303)
    closes = form.needs_close_at.data
    try:
        view = service.open_round(db_session(), slug, title=form.title.data or "", actor=principal.actor,
                                  needs_close_at=None if closes is None else closes.replace(tzinfo=dt.timezone.utc))
    except (errors.NotFound, errors.NotAllowed) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        flash(error_message(refused), "error")
        return redirect(url_for("pool_pages.pool", slug=slug), 303)
    flash(_("Round %(reference)s is open for needs.", reference=view.reference), "success")
    return _back(view.reference)


# --- a round -------------------------------------------------------------------------


def _need_form(principal: Principal, names: dict[str, str], view: service.RoundView,
               slots: list[SlotSpec], formdata: Any = None, **data: Any) -> NeedForm:
    form = NeedForm(formdata=formdata, **data) if formdata is not None or data else NeedForm()
    form.member.choices = _own_choices(principal, names)
    form.acceptable.choices = [SelectChoice(slot.id, _slot_label(slot)) for slot in slots]
    zones = sorted({slot.zone for slot in slots if slot.zone})
    form.zone.choices = [SelectChoice("", _("any zone"))] + [SelectChoice(zone, zone) for zone in zones]
    return form


def _slot_label(slot: SlotSpec) -> str:
    parts = [slot.id]
    if slot.zone:
        parts.append(slot.zone)
    if slot.start is not None and slot.end is not None:
        parts.append(_("days %(start)s–%(end)s", start=slot.start, end=slot.end - 1) if slot.end - slot.start > 1
                     else _("day %(day)s", day=slot.start))
    return ", ".join(parts)


def _round_context(principal: Principal, reference: str) -> dict[str, Any]:
    session = db_session()
    view = _round_or_404(reference)
    names = _names()
    contributions = service.list_contributions(session, reference)
    slots = [slot for contribution in contributions for slot in contribution.slots]
    needs = service.list_needs(session, reference)
    readable = principal.readable_member_slugs()
    own = set(principal.treasurer_of)
    run = service.current_run(session, reference)
    runs = service.list_runs(session, reference)
    objections = [o for o in service.list_objections(session, reference) if readable is None or o.member in readable]
    rows = run.rows() if run is not None else []
    plan = None
    if principal.is_regional_reader and view.state == "review" and run is not None and run.is_valid:
        plan = service.commit_plan(session, reference)
    allocations = service.list_allocations(session, reference)
    payouts = service.list_payouts(session, reference)
    session.rollback()
    need_of = {str(need.id): need for need in needs}
    contribution_form = ContributionForm()
    contribution_form.member.choices = _active_choices()
    return {
        "principal": principal,
        "round": view,
        "names": names,
        "contributions": contributions,
        "slots": slots,
        "needs": needs,
        "own_needs": [need for need in needs if need.member in own],
        "visible_needs": needs if principal.is_regional_reader else [need for need in needs if need.member in own],
        "need_of": need_of,
        "run": run,
        "runs": runs,
        "rows": rows,
        "own_rows": [row for row in rows if row.member in own],
        "chart": _result_chart(rows, view, names) if rows else None,
        "objections": objections,
        "plan": plan,
        "allocations": allocations,
        "payouts": payouts,
        "need_form": _need_form(principal, names, view, slots),
        "contribution_form": contribution_form,
        "run_form": RunForm(),
        "objection_form": _objection_form(principal, names),
        "action_form": PostForm(),
        "accepts_needs": view.accepts_needs(),
        "accepts_objections": view.accepts_objections(),
        "can_declare": bool(own) and view.accepts_needs(),
        "can_object": bool(own) and view.accepts_objections(),
        "is_admin": principal.can_administer_pools,
        "state_labels": STATE_LABELS,
        "run_state_labels": RUN_STATE_LABELS,
        "status_labels": STATUS_LABELS,
        "rule_labels": RULE_LABELS,
        "tier_labels": dict(TIER_CHOICES),
        "quantity": lambda amount: _quantity_text(amount, view),
        "money": _money,
        "slot_label": _slot_label,
    }


def _objection_form(principal: Principal, names: dict[str, str]) -> ObjectionForm:
    form = ObjectionForm()
    form.member.choices = _own_choices(principal, names)
    return form


@blueprint.get("/pools/rounds/<reference>")
@login_required
def round_page(reference: str) -> str:
    """A round, as its state and the viewer allow: needs, contributions, the result, objections, commit."""
    return render_template("pools/round.html", **_round_context(current_principal(), reference))


def _need_input(form: NeedForm, view: service.RoundView) -> service.NeedInput:
    """The form as a need; a quantity that does not parse is put on its field and raised."""
    try:
        desired = _parse_quantity(form.desired.data or "", view)
    except errors.InvalidAmount as refused:
        form.desired.errors = [_("That is not a valid quantity.")]
        raise refused
    try:
        minimum = _parse_quantity(form.minimum.data or "", view, allow_zero=True)
    except errors.InvalidAmount as refused:
        form.minimum.errors = [_("That is not a valid quantity.")]
        raise refused
    window = None
    if form.window_start.data is not None or form.window_end.data is not None:
        if form.window_start.data is None or form.window_end.data is None:
            form.window_end.errors = [_("Give both days, or neither.")]
            raise errors.InvalidInput("window")
        window = (form.window_start.data, form.window_end.data)
    return service.NeedInput(
        desired_minor=desired,
        minimum_minor=minimum,
        tier=form.tier.data or 1,
        all_or_nothing=bool(form.all_or_nothing.data) if view.is_slots else False,
        acceptable=tuple(form.acceptable.data) if view.is_slots and form.acceptable.data else None,
        window=window if view.is_slots else None,
        zone=(form.zone.data or None) if view.is_slots else None,
        justification=form.justification.data or "",
    )


_NEED_FIELDS = {"desired": "desired", "minimum": "minimum", "tier": "tier", "zone": "zone", "window": "window_end",
                "acceptable": "acceptable", "justification": "justification"}


def _need_error(form: NeedForm, refused: errors.MutualCreditError) -> str:
    field = getattr(refused, "field", None)
    target = getattr(form, _NEED_FIELDS.get(str(field), ""), None) if field else None
    message = error_message(refused)
    if target is not None and not target.errors:
        target.errors = [refused.message]
    return message


@blueprint.post("/pools/rounds/<reference>/needs")
@login_required
def declare(reference: str) -> Any:
    """A treasurer declares one of its co-ops' needs while the round takes them."""
    principal = current_principal()
    context = _round_context(principal, reference)
    view = context["round"]
    form = _need_form(principal, context["names"], view, context["slots"])
    if not form.validate_on_submit():
        context["need_form"] = form
        return render_template("pools/round.html", **context, need_error=_("Please check what you entered.")), 400
    member = form.member.data or ""
    if not principal.can_declare_needs_for(member):
        abort(403)
    try:
        need = service.declare_need(db_session(), reference, member=member, need=_need_input(form, view), actor=principal.actor)
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        context["need_form"] = form
        return render_template("pools/round.html", **context, need_error=_need_error(form, refused)), 400
    flash(_("Need declared: %(quantity)s for %(member)s.", quantity=_quantity_text(need.desired_minor, view),
            member=context["names"].get(member, member)), "success")
    return _back(reference)


def _own_need_or_404(principal: Principal, need_id: uuid.UUID) -> service.NeedView:
    try:
        need = service.get_need(db_session(), need_id)
    except errors.NotFound as missing:
        refuse(missing)
    db_session().rollback()
    if not principal.can_declare_needs_for(need.member):
        abort(404)  # another co-op's need: not even its existence
    return need


@blueprint.route("/pools/needs/<uuid:need_id>/edit", methods=["GET", "POST"])
@login_required
def edit_need(need_id: uuid.UUID) -> Any:
    """A treasurer changes one of its co-op's needs while the round takes them."""
    principal = current_principal()
    need = _own_need_or_404(principal, need_id)
    view = _round_or_404(need.round_reference)
    names = _names()
    slots = [slot for c in service.list_contributions(db_session(), view.reference) for slot in c.slots]
    db_session().rollback()
    if request.method == "GET":
        decimals = 0 if view.is_slots else view.decimals
        form = _need_form(
            principal, names, view, slots, member=need.member,
            desired=_plain_local(need.desired_minor, decimals),
            minimum=_plain_local(need.minimum_minor, decimals) if need.minimum_minor else "",
            tier=need.tier, all_or_nothing=need.all_or_nothing, acceptable=list(need.acceptable or ()),
            zone=need.zone or "", window_start=need.window[0] if need.window else None,
            window_end=need.window[1] if need.window else None, justification=need.justification,
        )
        return render_template("pools/need_edit.html", form=form, need=need, round=view)
    form = _need_form(principal, names, view, slots)
    form.member.data = need.member
    if not form.validate_on_submit():
        return render_template("pools/need_edit.html", form=form, need=need, round=view,
                               error=_("Please check what you entered.")), 400
    try:
        service.update_need(db_session(), need_id, member=need.member, need=_need_input(form, view), actor=principal.actor)
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        return render_template("pools/need_edit.html", form=form, need=need, round=view,
                               error=_need_error(form, refused)), 400
    flash(_("Need changed."), "success")
    return _back(view.reference)


def _plain_local(amount_minor: int, decimals: int) -> str:
    return babel_numbers.format_decimal(to_decimal(amount_minor, decimals),
                                        format="0" + ("." + "0" * decimals if decimals else ""), locale=current_locale())


@blueprint.post("/pools/needs/<uuid:need_id>/withdraw")
@login_required
def withdraw_need(need_id: uuid.UUID) -> Any:
    principal = current_principal()
    need = _own_need_or_404(principal, need_id)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        service.withdraw_need(db_session(), need_id, member=need.member, actor=principal.actor)
        flash(_("Need withdrawn."), "success")
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        flash(error_message(refused), "error")
    return _back(need.round_reference)


def _parse_slot_lines(text: str) -> list[SlotSpec]:
    slots = []
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) > 5:
            raise errors.InvalidInput(_("Line %(number)s: at most five values.", number=number))
        parts += [""] * (5 - len(parts))
        try:
            capacity = int(parts[1]) if parts[1] else 1
            start = int(parts[3]) if parts[3] else None
            end = int(parts[4]) if parts[4] else None
        except ValueError:
            raise errors.InvalidInput(_("Line %(number)s: capacity, start and end are whole numbers.", number=number)) from None
        slots.append(SlotSpec(parts[0], capacity, parts[2] or None, start, end))
    return slots


@blueprint.post("/pools/rounds/<reference>/contributions")
@login_required
def contribute(reference: str) -> Any:
    """A coordinator records what a co-op puts into the round."""
    principal = current_principal()
    _require_admin(principal)
    view = _round_or_404(reference)
    form = ContributionForm()
    form.member.choices = _active_choices()
    if not form.validate_on_submit():
        flash(_("Please check what you entered."), "error")
        return _back(reference)
    try:
        if view.is_slots:
            slots, quantity = _parse_slot_lines(form.slots.data or ""), 0
        else:
            slots, quantity = [], _parse_quantity(form.quantity.data or "", view)
        service.add_contribution(db_session(), reference, member=form.member.data or "", quantity_minor=quantity,
                                 slots=slots, is_paid=bool(form.paid.data), note=form.note.data or "", actor=principal.actor)
        flash(_("Contribution recorded."), "success")
    except (errors.NotAllowed, errors.NotFound) as refused:
        if isinstance(refused, errors.MemberNotFound):
            flash(error_message(refused), "error")
        else:
            refuse(refused)
    except errors.MutualCreditError as refused:
        flash(f"{error_message(refused)} ({refused.message})", "error")
    return _back(reference)


def _act(reference: str, function: Any, done: str) -> Any:
    principal = current_principal()
    _require_admin(principal)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        function(db_session(), reference, actor=principal.actor)
        flash(done, "success")
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        flash(f"{error_message(refused)} ({refused.message})", "error")
    return _back(reference)


@blueprint.post("/pools/rounds/<reference>/close")
@login_required
def close(reference: str) -> Any:
    return _act(reference, service.close_round, _("The round no longer takes needs."))


@blueprint.post("/pools/rounds/<reference>/review")
@login_required
def review(reference: str) -> Any:
    return _act(reference, service.start_review, _("The result is shown to the members, who may now object."))


@blueprint.post("/pools/rounds/<reference>/commit")
@login_required
def commit(reference: str) -> Any:
    return _act(reference, service.commit_round, _("The round is committed: allocations recorded and paid for."))


@blueprint.post("/pools/rounds/<reference>/archive")
@login_required
def archive(reference: str) -> Any:
    return _act(reference, service.archive_round, _("The round is archived."))


@blueprint.post("/pools/rounds/<reference>/runs")
@login_required
def start_run(reference: str) -> Any:
    """A coordinator starts the solver; it runs in the background and its page shows the progress."""
    principal = current_principal()
    _require_admin(principal)
    form = RunForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        run = service.start_run(db_session(), reference, actor=principal.actor, reason=form.reason.data or "")
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        flash(f"{error_message(refused)} ({refused.message})", "error")
        return _back(reference)
    run_in_background(current_app.extensions["mutualcredit.sessions"], run.id)
    return redirect(url_for("pool_pages.run_page", reference=reference, number=run.number), 303)


@blueprint.get("/pools/rounds/<reference>/runs/<int:number>")
@login_required
def run_page(reference: str, number: int) -> str:
    """One run: its progress while it runs (the page refreshes itself), then its status and stages."""
    view = _round_or_404(reference)
    runs = {run.number: run for run in service.list_runs(db_session(), reference)}
    db_session().rollback()
    if number not in runs:
        abort(404)
    return render_template("pools/run.html", round=view, run=runs[number], run_state_labels=RUN_STATE_LABELS,
                           status_labels=STATUS_LABELS)


@blueprint.post("/pools/rounds/<reference>/objections")
@login_required
def object_to(reference: str) -> Any:
    """A treasurer objects to the result under review, for one of its co-ops."""
    principal = current_principal()
    names = _names()
    form = _objection_form(principal, names)
    if not form.validate_on_submit():
        flash(_("Say why you object."), "error")
        return _back(reference)
    member = form.member.data or ""
    if not principal.can_declare_needs_for(member):
        abort(403)
    try:
        service.object_to_round(db_session(), reference, member=member, reason=form.reason.data or "", actor=principal.actor)
        flash(_("Your objection is recorded; the coordinators will read it before committing."), "success")
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        flash(error_message(refused), "error")
    return _back(reference)


@blueprint.get("/pools/rounds/<reference>/input.json")
@login_required
def export(reference: str) -> Response:
    """The round's whole input as a file `mutualcredit pools solve` re-solves on any machine."""
    _round_or_404(reference)
    document = service.export_round(db_session(), reference)
    response = Response(json.dumps(document, indent=2, ensure_ascii=False) + "\n", content_type="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{reference}.json"'
    return response
