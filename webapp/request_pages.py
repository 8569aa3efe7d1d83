"""Payment request pages: ask another co-op to pay, accept, reject or cancel; auto-accept rules.

Who may do what is the ``Principal``'s to say: a co-op's treasurer sends
requests in its name (``can_invoice_for``), answers the ones addressed to
it (``can_accept_requests_of``) and sets its auto-accept rules; its viewers
and the regional roles read. Whoever may read neither side of a request
gets 404, as if it did not exist. The request service enforces the states
(an open request past its expiry is expired: it shows so and cannot be
answered) and the ledger its limits; these views only translate HTTP.

Sending twice is impossible by construction: the form gets a request id
when it is first shown, and the service answers a repeated id with the
request it already made.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from mutualcredit import errors
from mutualcredit.db import utc_now
from mutualcredit.ledger import auto_accept
from mutualcredit.ledger import requests as service
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import AccountStatus, PaymentRequestState
from mutualcredit.members.models import MemberStatus
from mutualcredit.members.service import MemberView, get_member, list_members
from mutualcredit.money import format_amount, parse_amount
from mutualcredit.region.service import get_region
from mutualcredit.users.permissions import Principal
from webapp.auth import add_error_pages, current_principal, refuse, safe_next
from webapp.db import db_session
from webapp.i18n import current_locale, error_message

blueprint = add_error_pages(Blueprint("request_pages", __name__))

PAGE_SIZE = 25
PAGE_MAX = service.REQUEST_OFFSET_MAX // PAGE_SIZE
AMOUNT_LENGTH_MAX = 30
REASON_LENGTH_MAX = 500

STATE_LABELS = {
    PaymentRequestState.OPEN: _l("waiting for an answer"),
    PaymentRequestState.ACCEPTED: _l("accepted and paid"),
    PaymentRequestState.REJECTED: _l("rejected"),
    PaymentRequestState.CANCELLED: _l("cancelled"),
    PaymentRequestState.EXPIRED: _l("expired"),
}
STATE_FILTERS = {
    PaymentRequestState.OPEN: _l("Waiting for an answer"),
    PaymentRequestState.ACCEPTED: _l("Accepted"),
    PaymentRequestState.REJECTED: _l("Rejected"),
    PaymentRequestState.CANCELLED: _l("Cancelled"),
    PaymentRequestState.EXPIRED: _l("Expired"),
    "all": _l("All"),
}


class RequestForm(FlaskForm):
    # Choices are offered, not trusted: every submitted value is checked against them again.
    payer = SelectField(_l("Co-op asked to pay"), validate_choice=False)
    payee_account = SelectField(_l("Paid into"), validate_choice=False)
    amount = StringField(
        _l("Amount"),
        validators=[InputRequired(message=_l("Enter the amount to ask for.")), Length(max=AMOUNT_LENGTH_MAX)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    description = StringField(_l("Description"), validators=[Length(max=ledger.DESCRIPTION_LENGTH_MAX)])
    expires_in_days = IntegerField(
        _l("Expires in (days)"),
        validators=[
            InputRequired(message=_l("Enter a number of days.")),
            NumberRange(min=1, max=service.EXPIRY_DAYS_MAX, message=_l("Between 1 and %(max)s days.", max=service.EXPIRY_DAYS_MAX)),
        ],
        render_kw={"inputmode": "numeric"},
    )
    request_id = HiddenField()


class DecisionForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=REASON_LENGTH_MAX)])
    next = HiddenField()


class RuleForm(FlaskForm):
    account = SelectField(_l("Pay from"), validate_choice=False)
    payee = SelectField(_l("Requests from"), validate_choice=False)
    amount_max = StringField(
        _l("Up to"),
        validators=[InputRequired(message=_l("Enter the largest amount to pay without asking.")), Length(max=AMOUNT_LENGTH_MAX)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )


# --- shared helpers -------------------------------------------------------------


def _region() -> Any:
    """The region's unit and decimals, read once per request."""
    if "request_pages_region" not in g:
        region = get_region(db_session())
        g.request_pages_region = SimpleNamespace(unit=region.unit, decimals=region.decimals)
        db_session().rollback()
    return g.request_pages_region


def _money(amount_minor: int) -> str:
    return format_amount(amount_minor, _region().unit, current_locale())


def _amount_example() -> str:
    """1234.5 in the region's decimals and the person's locale (``1.234,50`` in Spanish)."""
    decimals = _region().decimals
    example_minor = 1234 * 10**decimals + (5 * 10 ** (decimals - 1) if decimals else 0)
    return _money(example_minor).rsplit(" ", 1)[0]


def _member_or_404(principal: Principal, slug: str) -> MemberView:
    """The member, if this person may read it; 404 otherwise, not revealing whether it exists."""
    if not principal.can_read_member(slug):
        abort(404)
    try:
        member = get_member(db_session(), slug)
    except errors.NotFound:
        abort(404)
    finally:
        db_session().rollback()
    return member


def _other_members(slug: str) -> list[MemberView]:
    """Every other active member with an open account, by name."""
    members = list_members(db_session(), status=MemberStatus.ACTIVE)
    db_session().rollback()
    return [m for m in members if m.slug != slug and _main_account(m) is not None]


def _main_account(member: MemberView) -> str | None:
    """The account a co-op is asked to pay from: the one named like it, else its first open one."""
    open_codes = [account.code for account in member.accounts if account.status == AccountStatus.OPEN]
    if member.slug in open_codes:
        return member.slug
    return open_codes[0] if open_codes else None


def _names() -> dict[str, str]:
    """Account code -> its member's name (or the account's own name for system accounts)."""
    names = {account.code: account.name for account in ledger.list_accounts(db_session())}
    for member in list_members(db_session()):
        for account in member.accounts:
            names[account.code] = member.name
    db_session().rollback()
    return names


def _parties_or_404(principal: Principal, request_id: uuid.UUID) -> service.RequestParties:
    try:
        parties = service.get_request_parties(db_session(), request_id)
    except errors.NotFound as missing:
        refuse(missing)
    finally:
        db_session().rollback()
    readable = [slug for slug in (parties.payer_member, parties.payee_member) if slug is not None]
    if not any(principal.can_read_member(slug) for slug in readable):
        abort(404)  # not even its existence
    return parties


# --- listing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Listing:
    rows: list[service.PaymentRequestView]
    page: int
    has_next: bool
    page_param: str


def _listing(slug: str, side: str, state: str | None, now: dt.datetime, page_param: str) -> _Listing:
    page = min(max(request.args.get(page_param, 1, type=int) or 1, 1), PAGE_MAX)
    rows = service.list_payment_requests(
        db_session(), member=slug, side=side, state=state, as_of=now, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
    )
    db_session().rollback()
    return _Listing(rows=rows[:PAGE_SIZE], page=page, has_next=len(rows) > PAGE_SIZE, page_param=page_param)


@blueprint.get("/co-ops/<slug>/requests")
@login_required
def index(slug: str) -> str:
    """Requests this co-op is asked to pay (incoming) and asks to be paid (outgoing), by state, newest first."""
    principal = current_principal()
    member = _member_or_404(principal, slug)
    state_filter = request.args.get("state", PaymentRequestState.OPEN)
    if state_filter not in STATE_FILTERS:
        state_filter = PaymentRequestState.OPEN
    state = None if state_filter == "all" else state_filter
    now = utc_now()
    return render_template(
        "requests/index.html",
        member=member,
        incoming=_listing(slug, "payer", state, now, "incoming_page"),
        outgoing=_listing(slug, "payee", state, now, "outgoing_page"),
        state_filter=state_filter,
        state_filters=STATE_FILTERS,
        state_labels=STATE_LABELS,
        state_as_of=lambda view: service.state_as_of(view, now),
        names=_names(),
        money=_money,
        can_invoice=principal.can_invoice_for(slug),
        can_decide=principal.can_accept_requests_of(slug),
        form=DecisionForm(formdata=None),
    )


# --- asking another co-op to pay -------------------------------------------------------


def _request_form(member: MemberView) -> tuple[RequestForm, dict[str, str]]:
    """The form with its choices, and payer member -> the account it is asked to pay from."""
    form = RequestForm()
    others = _other_members(member.slug)
    payers = {other.slug: _main_account(other) or "" for other in others}
    form.payer.choices = [SelectChoice("", _("Choose a co-op")), *(SelectChoice(other.slug, other.name) for other in others)]
    form.payee_account.choices = [
        SelectChoice(account.code, account.name) for account in member.accounts if account.status == AccountStatus.OPEN
    ]
    return form, payers


def _render_new(member: MemberView, form: RequestForm, error: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "requests/new.html", member=member, form=form, error=error, amount_example=_amount_example(), expiry_days_max=service.EXPIRY_DAYS_MAX
    )
    return page, status


@blueprint.route("/co-ops/<slug>/requests/new", methods=["GET", "POST"])
@login_required
def new(slug: str) -> Any:
    """Ask another co-op to pay (an invoice): sent once, however often the form is posted."""
    principal = current_principal()
    member = _member_or_404(principal, slug)
    if not principal.can_invoice_for(slug):
        abort(403)
    form, payers = _request_form(member)
    if not form.payee_account.choices:
        return _render_new(member, form, error=_("This co-op has no open account to be paid into."), status=400)
    if request.method == "GET":
        form.request_id.data = str(uuid.uuid4())
        form.expires_in_days.data = service.EXPIRY_DAYS_DEFAULT
        form.payee_account.data = _main_account(member) or form.payee_account.choices[0].value
        if request.args.get("payer") in payers:
            form.payer.data = request.args["payer"]
        return _render_new(member, form)

    valid = form.validate_on_submit()
    if form.payer.data not in payers:
        form.payer.errors = [*form.payer.errors, _("Choose the co-op to ask.")]
        valid = False
    if form.payee_account.data not in {choice.value for choice in form.payee_account.choices}:
        form.payee_account.errors = [*form.payee_account.errors, _("Choose one of your co-op's open accounts.")]
        valid = False
    amount_minor = None
    if form.amount.data and not form.amount.errors:
        try:
            amount_minor = parse_amount(form.amount.data, _region().decimals, current_locale())
        except errors.InvalidAmount as invalid:
            form.amount.errors = [*form.amount.errors, error_message(invalid)]
            valid = False
    try:
        request_id = uuid.UUID(form.request_id.data or "")
    except ValueError:
        abort(400)  # only a forged or broken form lacks its id
    if not valid or amount_minor is None:
        return _render_new(member, form, error=_("Please check what you entered."), status=400)
    payer, payee = payers[form.payer.data or ""], form.payee_account.data or ""
    try:
        view = service.create_payment_request(
            db_session(),
            id=request_id,
            payee=payee,
            payer=payer,
            amount_minor=amount_minor,
            description=(form.description.data or "").strip(),
            expires_at=utc_now() + dt.timedelta(days=form.expires_in_days.data or service.EXPIRY_DAYS_DEFAULT),
            created_by=principal.actor,
        )
    except errors.IdempotencyConflict:
        # The same form sent again a moment later names a later expiry: still the same request.
        return _form_reused(request_id, payee)
    except errors.MutualCreditError as refused:
        if isinstance(refused, errors.InvalidAmount):
            form.amount.errors = [*form.amount.errors, error_message(refused)]
        return _render_new(member, form, error=error_message(refused), status=400)
    payer_name = {choice.value: choice.label for choice in form.payer.choices}.get(form.payer.data or "", payer)
    if view.state == PaymentRequestState.ACCEPTED:
        flash(_("%(payer)s paid %(amount)s at once: it accepts such requests from you automatically.", payer=payer_name, amount=_money(view.amount_minor)), "success")
    else:
        flash(_("Request sent: %(payer)s is asked to pay %(amount)s.", payer=payer_name, amount=_money(view.amount_minor)), "success")
    return redirect(url_for("request_pages.show", request_id=view.id), 303)


def _form_reused(request_id: uuid.UUID, payee: str) -> Any:
    try:
        existing = service.get_payment_request(db_session(), request_id)
    finally:
        db_session().rollback()
    if existing.payee != payee:
        abort(400)  # a forged id: not this co-op's request
    flash(_("This form was already sent; here is the request it made. To ask again, start a new request."), "warning")
    return redirect(url_for("request_pages.show", request_id=request_id), 303)


# --- one request, and the answers to it ------------------------------------------------


def _render_show(
    principal: Principal,
    parties: service.RequestParties,
    *,
    error: str | None = None,
    status: int = 200,
    form: DecisionForm | None = None,
    failed_action: str | None = None,
) -> tuple[str, int]:
    view = parties.request
    state = service.state_as_of(view, utc_now())
    is_open = state == PaymentRequestState.OPEN
    sides = [slug for slug in (parties.payer_member, parties.payee_member) if slug is not None]
    # Back to the side this person belongs to (the payer's, for regional readers).
    back_slug = next((slug for slug in sides if principal.role_in(slug)), next((s for s in sides if principal.can_read_member(s)), None))
    page = render_template(
        "requests/show.html",
        parties=parties,
        view=view,
        state=state,
        state_labels=STATE_LABELS,
        money=_money,
        can_decide=is_open and parties.payer_member is not None and principal.can_accept_requests_of(parties.payer_member),
        can_cancel=is_open and parties.payee_member is not None and principal.can_invoice_for(parties.payee_member),
        form=form or DecisionForm(formdata=None),
        failed_action=failed_action,
        reason_length_max=REASON_LENGTH_MAX,
        back_slug=back_slug,
        error=error,
    )
    return page, status


@blueprint.get("/requests/<uuid:request_id>")
@login_required
def show(request_id: uuid.UUID) -> tuple[str, int]:
    """A request: who asks whom for what, its state and dates, and the answers this person may give."""
    principal = current_principal()
    return _render_show(principal, _parties_or_404(principal, request_id))


def _decide(request_id: uuid.UUID, action: str) -> Any:
    principal = current_principal()
    parties = _parties_or_404(principal, request_id)
    deciding_member = parties.payee_member if action == "cancel" else parties.payer_member
    allowed = deciding_member is not None and (
        principal.can_invoice_for(deciding_member) if action == "cancel" else principal.can_accept_requests_of(deciding_member)
    )
    if not allowed:
        abort(403)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render_show(principal, parties, error=_("Please check what you entered."), status=400, form=form, failed_action=action)
    session = db_session()
    reason = (form.reason.data or "").strip()
    try:
        if action == "accept":
            result = service.accept_payment_request(session, request_id, decided_by=principal.actor)
            if result.is_replay:
                flash(_("This request was already accepted; nothing was paid twice."), "info")
            else:
                flash(_("Request accepted: %(amount)s paid.", amount=_money(result.amount_minor)), "success")
        elif action == "reject":
            service.reject_payment_request(session, request_id, decided_by=principal.actor, reason=reason)
            flash(_("Request rejected; nothing was paid."), "success")
        else:
            service.cancel_payment_request(session, request_id, decided_by=principal.actor, reason=reason)
            flash(_("Request cancelled."), "success")
    except errors.MutualCreditError as refused:
        # Not enough credit, a frozen account, or the request is no longer open.
        parties = _parties_or_404(principal, request_id)
        return _render_show(principal, parties, error=error_message(refused), status=400, form=form, failed_action=action)
    return redirect(safe_next(form.next.data) or url_for("request_pages.show", request_id=request_id), 303)


@blueprint.post("/requests/<uuid:request_id>/accept")
@login_required
def accept(request_id: uuid.UUID) -> Any:
    """The payer's treasurer accepts: the amount is paid (once, however often this is posted)."""
    return _decide(request_id, "accept")


@blueprint.post("/requests/<uuid:request_id>/reject")
@login_required
def reject(request_id: uuid.UUID) -> Any:
    """The payer's treasurer declines; nothing is paid."""
    return _decide(request_id, "reject")


@blueprint.post("/requests/<uuid:request_id>/cancel")
@login_required
def cancel(request_id: uuid.UUID) -> Any:
    """The payee's treasurer withdraws the request."""
    return _decide(request_id, "cancel")


# --- auto-accept rules ------------------------------------------------------------


def _rule_form(member: MemberView) -> RuleForm:
    form = RuleForm()
    form.account.choices = [SelectChoice(account.code, account.name) for account in member.accounts if account.status != AccountStatus.CLOSED]
    form.payee.choices = [SelectChoice("", _("Choose a co-op")), *(SelectChoice(m.slug, m.name) for m in _other_members(member.slug))]
    return form


def _render_rules(member: MemberView, form: RuleForm, can_change: bool, error: str | None = None, status: int = 200) -> tuple[str, int]:
    rules = auto_accept.list_rules(db_session(), member=member.slug)
    db_session().rollback()
    page = render_template(
        "requests/rules.html",
        member=member,
        rules=rules,
        form=form,
        delete_form=DecisionForm(formdata=None),
        can_change=can_change,
        error=error,
        money=_money,
        amount_example=_amount_example(),
        account_names={account.code: account.name for account in member.accounts},
    )
    return page, status


@blueprint.route("/co-ops/<slug>/auto-accept", methods=["GET", "POST"])
@login_required
def rules(slug: str) -> Any:
    """The co-op's auto-accept rules; its treasurer adds one: "pay requests from X up to Y without asking"."""
    principal = current_principal()
    member = _member_or_404(principal, slug)
    can_change = principal.can_accept_requests_of(slug)
    form = _rule_form(member)
    if request.method == "GET":
        if form.account.choices:
            form.account.data = _main_account(member) or form.account.choices[0].value
        return _render_rules(member, form, can_change)
    if not can_change:
        abort(403)
    valid = form.validate_on_submit()
    if form.account.data not in {choice.value for choice in form.account.choices}:
        form.account.errors = [*form.account.errors, _("Choose one of your co-op's accounts.")]
        valid = False
    if not form.payee.data or form.payee.data not in {choice.value for choice in form.payee.choices}:
        form.payee.errors = [*form.payee.errors, _("Choose the co-op whose requests to accept.")]
        valid = False
    amount_max = None
    if form.amount_max.data and not form.amount_max.errors:
        try:
            amount_max = parse_amount(form.amount_max.data, _region().decimals, current_locale())
        except errors.InvalidAmount as invalid:
            form.amount_max.errors = [*form.amount_max.errors, error_message(invalid)]
            valid = False
    if not valid or amount_max is None:
        return _render_rules(member, form, can_change, error=_("Please check what you entered."), status=400)
    try:
        rule = auto_accept.add_rule(
            db_session(), payer_account=form.account.data or "", payee_member=form.payee.data or "", amount_max_minor=amount_max, actor=principal.actor
        )
    except errors.MutualCreditError as refused:
        return _render_rules(member, form, can_change, error=error_message(refused), status=400)
    flash(
        _("Requests from %(payee)s up to %(amount)s will now be paid without asking.", payee=rule.payee_member_name, amount=_money(rule.amount_max_minor)),
        "success",
    )
    return redirect(url_for("request_pages.rules", slug=slug), 303)


@blueprint.post("/co-ops/<slug>/auto-accept/<int:rule_id>/delete")
@login_required
def delete_rule(slug: str, rule_id: int) -> Any:
    """Remove one of the co-op's rules: that co-op's requests wait for a person again."""
    principal = current_principal()
    _member_or_404(principal, slug)
    if not principal.can_accept_requests_of(slug):
        abort(403)
    if not DecisionForm().validate_on_submit():
        abort(400)
    try:
        rule = auto_accept.delete_rule(db_session(), rule_id, member=slug, actor=principal.actor)
    except errors.NotFound as missing:
        refuse(missing)
    flash(_("Requests from %(payee)s will wait for your answer again.", payee=rule.payee_member_name), "success")
    return redirect(url_for("request_pages.rules", slug=slug), 303)
