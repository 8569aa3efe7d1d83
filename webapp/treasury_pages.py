"""The treasurer's pages: a co-op's dashboard, paying another co-op, and a transfer's receipt.

Who may see and do what is the ``Principal``'s to say: whoever reads a
member sees its dashboard (others get 404, as if it did not exist); only the
member's treasurer pays from its accounts. The ledger decides whether a
payment fits: the confirmation step previews it with the ledger's own checks
(``mutualcredit.ledger.preview``), and the payment itself is checked again
under lock.

Paying twice is impossible by construction: the pay form gets a transfer id
when it is first shown, the id travels in hidden fields to the confirmation,
and the ledger answers a repeated id with the first transfer (``is_replay``).
A double click, the back button or a reload therefore land on the same
receipt, with a notice that nothing was paid twice.
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
from wtforms import HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length

from mutualcredit import errors
from mutualcredit.db import utc_now
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.history import HISTORY_DAYS_DEFAULT, DailyBalance, balance_history
from mutualcredit.ledger.models import AccountStatus, PaymentRequestState, TransferKind
from mutualcredit.ledger.preview import TransferPreview, preview_transfer
from mutualcredit.ledger.requests import REQUEST_PAGE_SIZE_MAX, list_payment_requests
from mutualcredit.members.models import MemberStatus
from mutualcredit.members.service import MemberView, get_member, list_members
from mutualcredit.money import format_amount, parse_amount
from mutualcredit.region.service import get_region
from mutualcredit.users.permissions import Principal
from webapp.auth import add_error_pages, current_principal
from webapp.db import db_session
from webapp.i18n import current_locale, error_message

blueprint = add_error_pages(Blueprint("treasury", __name__))

RECENT_TRANSFERS_MAX = 10
OPEN_REQUESTS_SHOWN_MAX = 50
CHARTED_ACCOUNTS_MAX = 10
SEARCH_LENGTH_MAX = 100
AMOUNT_LENGTH_MAX = 30
CHART_WIDTH = 600
CHART_HEIGHT = 200
CHART_PADDING = 20

KIND_LABELS = {
    TransferKind.TRANSFER: _l("payment"),
    TransferKind.PENDING: _l("hold"),
    TransferKind.POST: _l("hold paid"),
    TransferKind.VOID: _l("hold released"),
    TransferKind.EXPIRY: _l("hold expired"),
}
ACCOUNT_STATUS_LABELS = {
    AccountStatus.OPEN: _l("open"),
    AccountStatus.FROZEN: _l("frozen"),
    AccountStatus.CLOSED: _l("closed"),
}
STATE_LABELS = {
    "pending": _l("on hold"),
    "posted": _l("paid"),
    "voided": _l("released"),
    "expired": _l("expired"),
}


class PayForm(FlaskForm):
    # Choices are offered, not trusted: every submitted value is checked against them again.
    from_account = SelectField(_l("Pay from"), validate_choice=False)
    payee = SelectField(_l("Co-op to pay"), validate_choice=False)
    amount = StringField(
        _l("Amount"),
        validators=[InputRequired(message=_l("Enter the amount to pay.")), Length(max=AMOUNT_LENGTH_MAX)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    description = StringField(_l("Description"), validators=[Length(max=ledger.DESCRIPTION_LENGTH_MAX)])
    transfer_id = HiddenField()


# --- shared helpers -------------------------------------------------------------


def _region() -> Any:
    """The region's unit and decimals, read once per request."""
    if "treasury_region" not in g:
        region = get_region(db_session())
        g.treasury_region = SimpleNamespace(unit=region.unit, decimals=region.decimals)
        db_session().rollback()
    return g.treasury_region


def _money(amount_minor: int) -> str:
    return format_amount(amount_minor, _region().unit, current_locale())


def _limit(amount_minor: int | None) -> str:
    return _("no limit") if amount_minor is None else _money(amount_minor)


def _amount_example() -> str:
    """1234.5 in the region's decimals and the person's locale (``1.234,50`` in Spanish)."""
    decimals = _region().decimals
    example_minor = 1234 * 10**decimals + (5 * 10 ** (decimals - 1) if decimals else 0)
    return _money(example_minor).rsplit(" ", 1)[0]


def _can_read_account(principal: Principal, account: ledger.AccountView) -> bool:
    if account.member_slug is None:
        return principal.is_regional_reader  # the region's own accounts
    return principal.can_read_member(account.member_slug)


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


# --- where to start -------------------------------------------------------------


@blueprint.get("/dashboard")
@login_required
def home() -> Any:
    """One's co-op's dashboard; a list to choose from for people of several co-ops and regional roles."""
    principal = current_principal()
    if not principal.is_regional_reader and len(principal.member_roles) == 1:
        return redirect(url_for("treasury.dashboard", slug=principal.member_roles[0].member_slug), 303)
    if principal.is_regional_reader:
        members = list_members(db_session())
        db_session().rollback()
        rows = [{"slug": m.slug, "name": m.name, "status": m.status, "role": None} for m in members]
    else:
        rows = [{"slug": r.member_slug, "name": r.member_name, "status": None, "role": r.role} for r in principal.member_roles]
    return render_template("treasury/home.html", rows=rows)


# --- the dashboard --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceChart:
    """An account's end-of-day balances drawn as an SVG line, with a text summary and the data as rows."""

    code: str
    title: str
    summary: str
    points: str
    zero_y: float
    top_label: str
    bottom_label: str
    first_day: dt.date
    last_day: dt.date
    rows: tuple[tuple[dt.date, str, bool], ...]  # day, formatted balance, is negative
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def _chart(account: ledger.AccountView, daily: list[DailyBalance]) -> BalanceChart:
    values = [point.balance_minor for point in daily]
    # Zero is always on the chart: in mutual credit, which side of it a balance is on matters.
    low, high = min(*values, 0), max(*values, 0)
    span = (high - low) or 1
    plot_height = CHART_HEIGHT - 2 * CHART_PADDING

    def y_of(value: int) -> float:
        return round(CHART_PADDING + (high - value) / span * plot_height, 1)

    step = CHART_WIDTH / (len(values) - 1) if len(values) > 1 else 0
    points = " ".join(f"{round(index * step, 1) if step else CHART_WIDTH / 2},{y_of(value)}" for index, value in enumerate(values))
    lowest, highest, current = _money(min(values)), _money(max(values)), _money(values[-1])
    return BalanceChart(
        code=account.code,
        title=_("Balance of %(account)s over the last %(days)s days", account=account.name, days=len(values)),
        summary=_(
            "Balance of %(account)s over the last %(days)s days: lowest %(lowest)s, highest %(highest)s, now %(current)s.",
            account=account.name,
            days=len(values),
            lowest=lowest,
            highest=highest,
            current=current,
        ),
        points=points,
        zero_y=y_of(0),
        top_label=_money(high),
        bottom_label=_money(low),
        first_day=daily[0].day,
        last_day=daily[-1].day,
        rows=tuple((point.day, _money(point.balance_minor), point.balance_minor < 0) for point in reversed(daily)),
    )


def _recent_rows(transfers: list[ledger.TransferResult], codes: set[str], names: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for transfer in transfers:
        incoming = transfer.payee in codes and transfer.payer not in codes
        counterparty = transfer.payer if incoming else transfer.payee
        moves = transfer.kind in (TransferKind.TRANSFER, TransferKind.POST, TransferKind.PENDING)
        signed = transfer.amount_minor if incoming else -transfer.amount_minor
        rows.append(
            {
                "id": transfer.id,
                "created_at": transfer.created_at,
                "counterparty": names.get(counterparty, counterparty),
                "description": transfer.description,
                "kind": transfer.kind,
                "kind_label": KIND_LABELS.get(transfer.kind, transfer.kind),
                "amount": _money(signed) if moves else _money(transfer.amount_minor),
                "is_negative": moves and signed < 0,
            }
        )
    return rows


@blueprint.get("/co-ops/<slug>")
@login_required
def dashboard(slug: str) -> str:
    """A co-op's accounts, balance chart, recent transfers and the requests waiting for its decision."""
    principal = current_principal()
    member = _member_or_404(principal, slug)
    session = db_session()
    codes = {account.code for account in member.accounts}
    names = {account.code: account.name for account in ledger.list_accounts(session)}
    session.rollback()
    charts = [_chart(account, balance_history(session, account.code)) for account in member.accounts[:CHARTED_ACCOUNTS_MAX]]
    recent = (
        ledger.list_transfers(session, accounts=sorted(codes), descending=True, limit=RECENT_TRANSFERS_MAX) if codes else []
    )
    now = utc_now()
    waiting = [
        view
        for view in list_payment_requests(session, member=slug, state=PaymentRequestState.OPEN, limit=REQUEST_PAGE_SIZE_MAX)
        if view.payer in codes and (view.expires_at is None or view.expires_at > now)
    ]
    session.rollback()
    return render_template(
        "treasury/dashboard.html",
        member=member,
        accounts=member.accounts,
        charts=charts,
        history_days=HISTORY_DAYS_DEFAULT,
        recent=_recent_rows(recent, codes, names),
        waiting=waiting[:OPEN_REQUESTS_SHOWN_MAX],
        waiting_more=max(len(waiting) - OPEN_REQUESTS_SHOWN_MAX, 0),
        names=names,
        money=_money,
        limit=_limit,
        can_pay=any(principal.can_pay_from(account) for account in member.accounts),
        can_decide=principal.can_accept_requests_of(slug),
        account_status_labels=ACCOUNT_STATUS_LABELS,
    )


# --- paying another co-op -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PayContext:
    principal: Principal
    member: MemberView
    from_accounts: tuple[ledger.AccountView, ...]
    payees: tuple[SelectChoice, ...]  # offered: every other active member's open accounts
    # Accepted: any other member's account; the ledger says why a suspended or closed one cannot be paid.
    other_accounts: dict[str, str]


def _pay_context(slug: str) -> _PayContext:
    """The paying member and what it may pay from and to; 404 if unreadable, 403 if not its treasurer."""
    principal = current_principal()
    member = _member_or_404(principal, slug)
    from_accounts = tuple(
        account for account in member.accounts if principal.can_pay_from(account) and account.status != AccountStatus.CLOSED
    )
    if not from_accounts:
        abort(403)
    others = [m for m in list_members(db_session()) if m.slug != member.slug]
    db_session().rollback()
    payees: list[SelectChoice] = []
    other_accounts: dict[str, str] = {}
    for other in others:
        for account in other.accounts:
            label = other.name if len(other.accounts) == 1 else f"{other.name} · {account.name} ({account.code})"
            other_accounts[account.code] = label
            if other.status == MemberStatus.ACTIVE and account.status == AccountStatus.OPEN:
                payees.append(SelectChoice(account.code, label))
    return _PayContext(principal, member, from_accounts, tuple(payees), other_accounts)


def _pay_form(context: _PayContext) -> PayForm:
    form = PayForm()
    form.from_account.choices = [SelectChoice(account.code, account.name) for account in context.from_accounts]
    form.payee.choices = [SelectChoice("", _("Choose a co-op")), *context.payees]
    return form


def _render_pay_form(context: _PayContext, form: PayForm, *, error: str | None = None, status: int = 200, query: str = "") -> tuple[str, int]:
    return render_template(
        "treasury/pay.html",
        member=context.member,
        form=form,
        error=error,
        query=query,
        payee_count=len(context.payees),
        shown_count=len(form.payee.choices) - 1,
        amount_example=_amount_example(),
        accounts={account.code: account for account in context.from_accounts},
        money=_money,
        limit=_limit,
    ), status


def _transfer_id(form: PayForm) -> uuid.UUID:
    """The id the pay form was given when first shown; a missing or forged one is a bad request."""
    try:
        return uuid.UUID(form.transfer_id.data or "")
    except ValueError:
        abort(400)


def _add_error(field: Any, message: str) -> None:
    field.errors = [*field.errors, message]


def _spec_from(form: PayForm, context: _PayContext) -> ledger.TransferSpec | None:
    """The transfer the form asks for, or None with each field's error set on the form."""
    transfer_id = _transfer_id(form)
    form.validate()
    if form.from_account.data not in {account.code for account in context.from_accounts}:
        _add_error(form.from_account, _("Choose one of your co-op's accounts."))
    if form.payee.data not in context.other_accounts:
        _add_error(form.payee, _("Choose the co-op to pay."))
    elif form.payee.data not in {choice.value for choice in context.payees}:
        # Keep what was chosen visible, even if it is no longer offered.
        form.payee.choices = [*form.payee.choices, SelectChoice(form.payee.data, context.other_accounts[form.payee.data])]
    amount_minor = None
    if not form.amount.errors:
        try:
            amount_minor = parse_amount(form.amount.data or "", _region().decimals, current_locale())
        except errors.InvalidAmount as refused:
            _add_error(form.amount, error_message(refused))
    if form.errors or amount_minor is None:
        return None
    return ledger.TransferSpec(
        id=transfer_id,
        payer=form.from_account.data or "",
        payee=form.payee.data or "",
        amount_minor=amount_minor,
        description=(form.description.data or "").strip(),
    )


def _refusal(form: PayForm, refused: errors.MutualCreditError) -> str:
    """The message for a payment the ledger refuses, also set on the field it concerns."""
    message = error_message(refused)
    if isinstance(refused, errors.ExceedsFloor):
        available = refused.details.get("available_minor")
        if isinstance(available, int):
            message = _("%(message)s You can pay at most %(available)s now.", message=message, available=_money(available))
        _add_error(form.amount, message)
    elif isinstance(refused, errors.ExceedsCeiling):
        _add_error(form.amount, message)
    return message


def _already_made(result: ledger.TransferResult) -> Any:
    flash(_("This payment was already made; it was not paid twice."), "info")
    return redirect(url_for("treasury.transfer", transfer_id=result.id), 303)


def _form_reused(transfer_id: uuid.UUID) -> Any:
    flash(_("This form was already used for the payment below. To pay again, start a new payment."), "warning")
    return redirect(url_for("treasury.transfer", transfer_id=transfer_id), 303)


@blueprint.route("/co-ops/<slug>/pay", methods=["GET", "POST"])
@login_required
def pay(slug: str) -> Any:
    """The pay form (GET, or POST with ``change``), and its check: the confirmation page, or the form with errors."""
    context = _pay_context(slug)
    form = _pay_form(context)
    if request.method == "GET":
        form.transfer_id.data = str(uuid.uuid4())
        form.from_account.data = context.from_accounts[0].code
        query = (request.args.get("q") or "")[:SEARCH_LENGTH_MAX].strip()
        if query:
            folded = query.casefold()
            shown = [choice for choice in context.payees if folded in choice.label.casefold() or folded in choice.value]
            form.payee.choices = [SelectChoice("", _("Choose a co-op")), *shown]
            if len(shown) == 1:
                form.payee.data = shown[0].value
        if request.args.get("payee") in {choice.value for choice in context.payees}:
            form.payee.data = request.args["payee"]
        return _render_pay_form(context, form, query=query)
    if "change" in request.form:
        _transfer_id(form)
        return _render_pay_form(context, form)
    spec = _spec_from(form, context)
    if spec is None:
        return _render_pay_form(context, form, error=_("Please check what you entered."), status=400)
    try:
        preview = preview_transfer(db_session(), spec)
    except errors.IdempotencyConflict:
        return _form_reused(spec.id)
    except errors.MutualCreditError as refused:
        return _render_pay_form(context, form, error=_refusal(form, refused), status=400)
    if preview.already_made is not None:
        return _already_made(preview.already_made)
    return _render_confirmation(context, form, preview)


def _render_confirmation(context: _PayContext, form: PayForm, preview: TransferPreview) -> str:
    return render_template(
        "treasury/confirm.html",
        member=context.member,
        form=form,
        preview=preview,
        money=_money,
        limit=_limit,
    )


@blueprint.post("/co-ops/<slug>/pay/confirm")
@login_required
def pay_confirm(slug: str) -> Any:
    """Make the confirmed payment (once, whatever happens to the button), then show its receipt."""
    context = _pay_context(slug)
    form = _pay_form(context)
    spec = _spec_from(form, context)
    if spec is None:
        return _render_pay_form(context, form, error=_("Please check what you entered."), status=400)
    try:
        result = ledger.create_transfer(db_session(), spec, created_by=context.principal.actor)
    except errors.IdempotencyConflict:
        return _form_reused(spec.id)
    except errors.MutualCreditError as refused:
        return _render_pay_form(context, form, error=_refusal(form, refused), status=400)
    if result.is_replay:
        return _already_made(result)
    flash(
        _("Paid %(amount)s to %(payee)s.", amount=_money(result.amount_minor), payee=context.other_accounts.get(result.payee, result.payee)),
        "success",
    )
    return redirect(url_for("treasury.transfer", transfer_id=result.id), 303)


# --- a transfer's receipt -------------------------------------------------------


@blueprint.get("/transfers/<uuid:transfer_id>")
@login_required
def transfer(transfer_id: uuid.UUID) -> str:
    """A transfer and both parties, for whoever may read either side."""
    principal = current_principal()
    session = db_session()
    try:
        result = ledger.get_transfer(session, transfer_id)
        payer, payee = ledger.get_account(session, result.payer), ledger.get_account(session, result.payee)
    except errors.NotFound:
        abort(404)
    finally:
        session.rollback()
    if not (_can_read_account(principal, payer) or _can_read_account(principal, payee)):
        abort(404)  # not even its existence
    return render_template(
        "treasury/transfer.html",
        transfer=result,
        payer=payer,
        payee=payee,
        can_read_payer=_can_read_account(principal, payer),
        can_read_payee=_can_read_account(principal, payee),
        can_pay_again=principal.can_pay_from(payer) and payer.member_slug is not None,
        kind_labels=KIND_LABELS,
        state_labels=STATE_LABELS,
        money=_money,
    )
