"""Payment pages of a co-op: bulk payments from a CSV file, and recurring payments.

- Bulk payments: a treasurer uploads a CSV file; the preview lists every
  line with its errors, the total and the balance after; nothing is posted
  until they confirm, and then every line is posted in one database
  transaction or none (``mutualcredit.ledger.bulk``). The confirm form
  carries the file and a batch id chosen at preview time, from which every
  transfer's id is derived: confirming twice pays once.
- Recurring payments: anyone who reads a co-op sees the payments it makes
  and receives; its treasurer sets one up or cancels it. They are paid by
  ``mutualcredit recurring run-due`` (cron or a systemd timer), not by the
  web app (``mutualcredit.ledger.recurring``).

Who may do what is the ``Principal``'s to say: the treasurer of a co-op is
the one who ``can_pay_from`` its accounts. A co-op one may not read is not
found (404); one that may be read but not paid from is forbidden (403).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from mutualcredit import errors
from mutualcredit.ledger import bulk, recurring
from mutualcredit.ledger import service as ledger
from mutualcredit.members.models import MemberStatus
from mutualcredit.members.service import MemberView, get_member, list_members
from mutualcredit.money import format_amount, parse_amount
from mutualcredit.region.service import get_region
from webapp.auth import PostForm, add_error_pages, current_principal, refuse
from webapp.csv_upload import CSV_BYTES_MAX, UNREADABLE_MESSAGE, read_csv_upload
from webapp.db import db_session
from webapp.i18n import current_locale, error_message

blueprint = add_error_pages(Blueprint("payments", __name__, url_prefix="/co-ops/<slug>"))

FIELD_LABELS = {"payee": _l("payee"), "amount": _l("amount"), "description": _l("description")}
INTERVAL_LABELS = {"weekly": _l("every week"), "monthly": _l("every month")}
RECURRING_STATE_LABELS = {"active": _l("active"), "cancelled": _l("cancelled"), "finished": _l("finished")}


class BulkUploadForm(FlaskForm):
    account = SelectField(_l("Pay from"), validate_choice=False)
    file = FileField(_l("CSV file"), validators=[FileRequired()])


class BulkConfirmForm(FlaskForm):
    account = HiddenField(validators=[DataRequired()])
    content = HiddenField(validators=[DataRequired()])
    batch_id = HiddenField(validators=[DataRequired()])


class RecurringForm(FlaskForm):
    account = SelectField(_l("Pay from"), validate_choice=False)
    payee = SelectField(_l("Pay to"), validate_choice=False, validators=[DataRequired()])
    amount = StringField(_l("Amount"), validators=[DataRequired(), Length(max=30)])
    description = StringField(_l("Description"), validators=[Length(max=recurring.DESCRIPTION_LENGTH_MAX)])
    interval = SelectField(
        _l("How often"),
        choices=[SelectChoice(value, INTERVAL_LABELS[value]) for value in ("monthly", "weekly")],
        validators=[DataRequired()],
    )
    first_due_on = DateField(_l("First payment on"), validators=[DataRequired()])
    ends_on = DateField(_l("Last payment on or before (optional)"), validators=[Optional()])


# --- shared helpers --------------------------------------------------------------


def _unit() -> Any:
    """The region's unit and decimals, read once per request."""
    if "payment_pages_region" not in g:
        region = get_region(db_session())
        g.payment_pages_region = SimpleNamespace(unit=region.unit, decimals=region.decimals)
        db_session().rollback()
    return g.payment_pages_region


def _money(amount_minor: int) -> str:
    return format_amount(amount_minor, _unit().unit, current_locale())


def _co_op(slug: str) -> MemberView:
    """The co-op of the URL, if this person may read it (404 otherwise: not even its existence)."""
    if not current_principal().can_read_member(slug):
        abort(404)
    try:
        member = get_member(db_session(), slug)
    except errors.NotFound as missing:
        refuse(missing)
    finally:
        db_session().rollback()
    return member


def _payable_accounts(member: MemberView) -> list[ledger.AccountView]:
    """The co-op's open accounts this person may pay from (the main one, whose code is the slug, first)."""
    principal = current_principal()
    accounts = [a for a in member.accounts if a.status == "open" and principal.can_pay_from(a)]
    return sorted(accounts, key=lambda account: (account.code != member.slug, account.code))


def _treasurer_accounts(member: MemberView) -> list[ledger.AccountView]:
    """The accounts to offer a treasurer; 403 for anyone who may pay from none of them."""
    if not any(current_principal().can_pay_from(account) for account in member.accounts):
        abort(403)
    return _payable_accounts(member)


def _payer(member: MemberView, code: str) -> ledger.AccountView:
    """The account named in a form: the co-op's own (404 otherwise) and one this person pays from (403)."""
    account = next((a for a in member.accounts if a.code == code), None)
    if account is None:
        abort(404)
    if not current_principal().can_pay_from(account):
        abort(403)
    return account


def _account_choices(accounts: list[ledger.AccountView]) -> list[SelectChoice]:
    return [SelectChoice(account.code, f"{account.name} ({account.code})") for account in accounts]


def _payee_name(code: str) -> str:
    names = {member.slug: member.name for member in list_members(db_session())}
    db_session().rollback()
    return names.get(code, code)


def _coded(code: str) -> errors.MutualCreditError:
    error = errors.MutualCreditError()
    error.code = code
    return error


# --- bulk payments -----------------------------------------------------------------


_FINDING_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "file_too_large": lambda v: _("The file is too large."),
    "not_csv": lambda v: _("The file is not a CSV file."),
    "empty_file": lambda v: _("The file is empty."),
    "bad_header": lambda v: _("The first line must be: %(header)s", header=",".join(bulk.CSV_COLUMNS)),
    "too_many_rows": lambda v: _("A file holds at most %(rows_max)s payments, this one %(rows)s.", rows_max=v["rows_max"], rows=v["rows"]),
    "no_payments": lambda v: _("The file has no payments."),
    "payer_not_usable": lambda v: _("This account cannot pay now: it is frozen or closed, or the co-op is suspended."),
    "field_count": lambda v: _("Expected %(expected)s fields, found %(found)s.", expected=v["expected"], found=v["found"]),
    "payee_required": lambda v: _("Say which co-op is paid."),
    "member_not_found": lambda v: _("There is no co-op %(payee)s.", payee=v["payee"]),
    "same_account": lambda v: _("A co-op cannot pay itself."),
    "member_not_active": lambda v: _("%(payee)s is suspended or has left the region.", payee=v["payee"]),
    "account_not_open": lambda v: _("The account of %(payee)s is frozen or closed.", payee=v["payee"]),
    "amount_required": lambda v: _("The amount is missing."),
    "amount_not_plain": lambda v: _("%(text)s is not an amount like 1234.50 (a dot for decimals, no thousands separator).", text=v["text"]),
    "amount_not_positive": lambda v: _("The amount must be greater than zero."),
    "amount_too_precise": lambda v: _("%(text)s has more than %(decimals)s decimals.", text=v["text"], decimals=v["decimals"]),
    "amount_too_large": lambda v: _("The amount is too large."),
    "description_too_long": lambda v: _("The description is longer than %(length_max)s characters.", length_max=v["length_max"]),
    "exceeds_floor": lambda v: _(
        "With this line the payments come to %(total)s, more than the %(available)s of credit available.",
        total=v["total_minor"],
        available=v["available_minor"],
    ),
    "exceeds_ceiling": lambda v: _("%(payee)s can receive only %(room)s more.", payee=v["payee"], room=v["room_minor"]),
    "duplicate_line": lambda v: _("The same payee, amount and description as line %(other_line)s: is it meant twice?", other_line=v["other_line"]),
}


def finding_message(finding: bulk.Finding) -> str:
    """A finding in the person's language, amounts in their format."""
    values = {name: _money(value) if name.endswith("_minor") and isinstance(value, int) else value for name, value in finding.values.items()}
    render = _FINDING_MESSAGES.get(finding.code)
    if render is not None:
        try:
            return render(values)
        except KeyError:
            pass  # the ledger's refusal of the same code carries other values
    return error_message(_coded(finding.code))


def _finding_text(finding: bulk.Finding) -> str:
    if finding.line <= 1 or finding.field is None:
        if finding.line <= 1:
            return finding_message(finding)
        return _("Line %(line)s: %(message)s", line=finding.line, message=finding_message(finding))
    return _("Line %(line)s, %(field)s: %(message)s", line=finding.line, field=FIELD_LABELS[finding.field], message=finding_message(finding))


def _bulk_form(member: MemberView) -> BulkUploadForm:
    form = BulkUploadForm()
    accounts = _treasurer_accounts(member)
    form.account.choices = _account_choices(accounts)
    if not form.account.data and accounts:
        form.account.data = accounts[0].code
    return form


def _render_preview(
    member: MemberView,
    preview: bulk.BulkPreview,
    *,
    confirm: BulkConfirmForm | None,
    problems: tuple[bulk.Finding, ...],
    refused: bool = False,
    status: int = 200,
) -> tuple[str, int]:
    by_line: dict[int, list[SimpleNamespace]] = {}
    for finding in problems:
        by_line.setdefault(finding.line, []).append(SimpleNamespace(text=_finding_text(finding), is_warning=finding.is_warning))
    return render_template(
        "payments/bulk_preview.html",
        member=member,
        preview=preview,
        confirm=confirm,
        refused=refused,
        problems=by_line,
        error_count=sum(1 for finding in problems if not finding.is_warning),
        error_texts=[_finding_text(finding) for finding in problems if not finding.is_warning],
        names=preview.names,
        money=_money,
    ), status


@blueprint.route("/payments/bulk", methods=["GET", "POST"], endpoint="bulk")
@login_required
def bulk_upload(slug: str) -> Any:
    """Upload a CSV file of payments: the answer is a preview with every line's errors; nothing is posted."""
    member = _co_op(slug)
    form = _bulk_form(member)

    def form_page(status: int = 200) -> tuple[str, int]:
        others = [other.slug for other in list_members(db_session(), status=MemberStatus.ACTIVE) if other.slug != slug]
        db_session().rollback()
        example = others[0] if others else "other-co-op"
        return render_template(
            "payments/bulk.html", member=member, form=form, columns=bulk.CSV_COLUMNS, rows_max=bulk.ROWS_MAX, example_payee=example
        ), status

    if request.method == "GET":
        return form_page()
    if not form.validate_on_submit():
        form.file.errors = [_("Choose a CSV file.")]
        return form_page(400)
    payer = _payer(member, form.account.data or slug)
    content = read_csv_upload(form.file.data, CSV_BYTES_MAX)
    if content is None:
        form.file.errors = [str(UNREADABLE_MESSAGE)]
        return form_page(400)
    preview = bulk.preview_bulk_payments(db_session(), payer.code, content)
    confirm = None
    if preview.is_valid:
        confirm = BulkConfirmForm(formdata=None, account=payer.code, content=content, batch_id=str(uuid.uuid4()))
    return _render_preview(member, preview, confirm=confirm, problems=preview.findings, status=200 if preview.is_valid else 400)


@blueprint.post("/payments/bulk/confirm")
@login_required
def bulk_confirm(slug: str) -> Any:
    """Post a previewed file: checked again, then every line in one transaction, or none."""
    member = _co_op(slug)
    _treasurer_accounts(member)
    form = BulkConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        batch_id = uuid.UUID(form.batch_id.data or "")
    except ValueError:
        abort(400)
    payer = _payer(member, form.account.data or "")
    outcome = bulk.post_bulk_payments(
        db_session(), payer.code, form.content.data or "", batch_id=batch_id, created_by=current_principal().actor
    )
    if not outcome.is_posted:
        problems = tuple(sorted(outcome.refusals + outcome.preview.warnings, key=lambda f: (f.line, f.is_warning)))
        return _render_preview(member, outcome.preview, confirm=None, problems=problems, refused=True, status=400)
    account = ledger.get_account(db_session(), payer.code)
    db_session().rollback()
    return render_template(
        "payments/bulk_result.html",
        member=member,
        outcome=outcome,
        account=account,
        names=outcome.preview.names,
        money=_money,
    )


# --- recurring payments ------------------------------------------------------------


def _recurring_state(view: recurring.RecurringView) -> str:
    return "finished" if view.state == "active" and view.is_finished else view.state


@blueprint.get("/recurring", endpoint="recurring")
@login_required
def recurring_list(slug: str) -> str:
    """The recurring payments this co-op makes and receives, by next due date."""
    member = _co_op(slug)
    views = recurring.list_recurring_payments(db_session(), member=slug)
    principal = current_principal()
    accounts = {account.code: account for account in member.accounts}
    cancellable = {
        view.id
        for view in views
        if view.payer_member == slug and view.state == "active" and view.payer in accounts and principal.can_pay_from(accounts[view.payer])
    }
    names = {other.slug: other.name for other in list_members(db_session())}
    db_session().rollback()
    return render_template(
        "payments/recurring.html",
        member=member,
        views=views,
        names=names,
        money=_money,
        cancellable=cancellable,
        can_create=any(principal.can_pay_from(account) for account in member.accounts),
        interval_labels=INTERVAL_LABELS,
        state_labels=RECURRING_STATE_LABELS,
        state_of=_recurring_state,
        error_text=lambda code: error_message(_coded(code)),
        cancel_form=PostForm(),
    )


def _recurring_form(member: MemberView) -> RecurringForm:
    form = RecurringForm()
    accounts = _treasurer_accounts(member)
    form.account.choices = _account_choices(accounts)
    if not form.account.data and accounts:
        form.account.data = accounts[0].code
    others = [other for other in list_members(db_session(), status=MemberStatus.ACTIVE) if other.slug != member.slug]
    db_session().rollback()
    form.payee.choices = [SelectChoice("", _("Choose a co-op"))] + [SelectChoice(other.slug, other.name) for other in others]
    return form


@blueprint.route("/recurring/new", methods=["GET", "POST"])
@login_required
def recurring_new(slug: str) -> Any:
    """Set up a recurring payment from this co-op (its treasurers only)."""
    member = _co_op(slug)
    form = _recurring_form(member)
    today = recurring.region_today(db_session())
    page = "payments/recurring_new.html"
    if request.method == "GET":
        if form.first_due_on.data is None:
            form.first_due_on.data = today
        return render_template(page, member=member, form=form, several=len(form.account.choices) > 1)
    if not form.validate_on_submit():
        return render_template(page, member=member, form=form, several=len(form.account.choices) > 1, error=_("Please check what you entered.")), 400
    payer = _payer(member, form.account.data or slug)
    try:
        amount_minor = parse_amount(form.amount.data or "", _unit().decimals, current_locale())
        view = recurring.create_recurring_payment(
            db_session(),
            payer=payer.code,
            payee=form.payee.data or "",
            amount_minor=amount_minor,
            interval=form.interval.data or "",
            first_due_on=form.first_due_on.data,
            ends_on=form.ends_on.data,
            today=today,
            description=form.description.data or "",
            created_by=current_principal().actor,
        )
    except errors.MutualCreditError as refused:
        message = error_message(refused)
        target = {
            errors.InvalidAmount: form.amount,
            errors.SameAccount: form.payee,
            errors.AccountNotFound: form.payee,
            errors.MemberNotActive: form.payee,
        }.get(type(refused))
        named = refused.details.get("field")
        if named == "first_due_on":
            target, message = form.first_due_on, _("The first payment cannot be in the past.")
        elif named == "ends_on":
            target, message = form.ends_on, _("The last date is before the first payment.")
        if target is not None:
            target.errors = [message]
        return render_template(page, member=member, form=form, several=len(form.account.choices) > 1, error=message), 400
    flash(
        _(
            "Recurring payment set up: %(amount)s to %(payee)s, first on %(date)s.",
            amount=_money(view.amount_minor),
            payee=_payee_name(view.payee),
            date=format_date(view.first_due_on, "medium"),
        ),
        "success",
    )
    return redirect(url_for("payments.recurring", slug=slug), 303)


@blueprint.post("/recurring/<int:recurring_id>/cancel")
@login_required
def recurring_cancel(slug: str, recurring_id: int) -> Any:
    """Cancel one of this co-op's recurring payments (its treasurers only)."""
    member = _co_op(slug)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        view = recurring.get_recurring_payment(db_session(), recurring_id)
    except errors.NotFound as missing:
        refuse(missing)
    if view.payer_member != member.slug:
        abort(404)  # another co-op's payment, named under this one's address
    _payer(member, view.payer)
    recurring.cancel_recurring_payment(db_session(), recurring_id, actor=current_principal().actor, payer_member=member.slug)
    flash(_("Recurring payment to %(payee)s cancelled: nothing more will be paid.", payee=_payee_name(view.payee)), "success")
    return redirect(url_for("payments.recurring", slug=slug), 303)
