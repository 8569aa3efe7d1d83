"""Invoice pages: record (one, or a CSV with a preview), confirm or dispute, settle; clearing runs and notices.

Who may do what is the ``Principal``'s to say (``mutualcredit.users.permissions``)
and the invoice service's to enforce: a co-op's treasurer records invoices
it is owed and answers or settles the ones it owes; viewers and auditors
read; coordinators and admins start clearing runs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from mutualcredit import errors
from mutualcredit.invoices import service
from mutualcredit.members.service import list_members
from mutualcredit.money import format_amount, parse_amount
from mutualcredit.region.service import get_region
from mutualcredit.users.permissions import Principal
from webapp.auth import PostForm, add_error_pages, current_principal, refuse
from webapp.csv_upload import CSV_BYTES_MAX, UNREADABLE_MESSAGE, read_csv_upload
from webapp.db import db_session
from webapp.i18n import current_locale, error_message

blueprint = add_error_pages(Blueprint("invoice_pages", __name__))

STATE_LABELS = {
    "recorded": _l("awaiting the debtor"),
    "confirmed": _l("confirmed"),
    "disputed": _l("disputed"),
    "settled": _l("settled"),
}


class InvoiceForm(FlaskForm):
    creditor = SelectField(_l("Your co-op (owed)"), validate_choice=False)
    debtor = SelectField(_l("Owed by"), validate_choice=False)
    number = StringField(_l("Invoice number"), validators=[DataRequired(), Length(max=service.NUMBER_LENGTH_MAX)])
    amount = StringField(_l("Amount"), validators=[DataRequired(), Length(max=30)])
    due = DateField(_l("Due date"), validators=[DataRequired()])
    description = StringField(_l("Description"), validators=[Length(max=service.DESCRIPTION_LENGTH_MAX)])


class UploadForm(FlaskForm):
    creditor = SelectField(_l("Your co-op (owed)"), validate_choice=False)
    file = FileField(_l("CSV file"), validators=[FileRequired()])


class UploadConfirmForm(FlaskForm):
    creditor = HiddenField()
    content = HiddenField()


class DisputeForm(FlaskForm):
    reason = TextAreaField(_l("Why do you dispute it?"), validators=[DataRequired(), Length(max=500)])


class RunForm(FlaskForm):
    reference = StringField(_l("Run reference"), validators=[DataRequired(), Length(max=service.REFERENCE_LENGTH_MAX)])


def _unit() -> Any:
    """The region (its unit and decimals), read once per request."""
    if "invoice_pages_region" not in g:
        region = get_region(db_session())
        g.invoice_pages_region = SimpleNamespace(unit=region.unit, decimals=region.decimals, unit_code=region.unit_code)
        db_session().rollback()
    return g.invoice_pages_region


def _money(amount_minor: int) -> str:
    return format_amount(amount_minor, _unit().unit, current_locale())


def _member_names() -> dict[str, str]:
    names = {member.slug: member.name for member in list_members(db_session())}
    db_session().rollback()
    return names


def _creditor_choices(principal: Principal, names: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(slug, names.get(slug, slug)) for slug in principal.treasurer_of]


def _invoice_or_404(principal: Principal, invoice_id: uuid.UUID) -> service.InvoiceView:
    try:
        view = service.get_invoice(db_session(), invoice_id)
    except errors.NotFound as missing:
        refuse(missing)
    db_session().rollback()
    if not (principal.can_read_member(view.creditor) or principal.can_read_member(view.debtor)):
        abort(404)  # not even its existence
    return view


# --- invoices ----------------------------------------------------------------


@blueprint.get("/invoices")
@login_required
def invoices() -> str:
    """The invoices of this person's co-ops (all of them for regional roles), by due date."""
    principal = current_principal()
    readable = principal.readable_member_slugs()
    views = service.list_invoices(db_session())
    if readable is not None:
        views = [v for v in views if v.creditor in readable or v.debtor in readable]
    names = _member_names()
    owed = [v for v in views if readable is None or v.creditor in readable]
    owing = [v for v in views if readable is not None and v.debtor in readable and v.creditor not in readable]
    return render_template(
        "invoices/index.html",
        principal=principal,
        owed=owed,
        owing=owing,
        is_regional=readable is None,
        names=names,
        money=_money,
        state_labels=STATE_LABELS,
        action_form=PostForm(),
        dispute_form=DisputeForm(),
        runs=service.list_runs(db_session()),
    )


def _new_form(principal: Principal, names: dict[str, str]) -> InvoiceForm:
    form = InvoiceForm()
    form.creditor.choices = _creditor_choices(principal, names)
    form.debtor.choices = [SelectChoice(slug, name) for slug, name in sorted(names.items(), key=lambda item: item[1])]
    return form


@blueprint.route("/invoices/new", methods=["GET", "POST"])
@login_required
def new_invoice() -> Any:
    """Record an invoice one of this person's co-ops is owed."""
    principal = current_principal()
    if not principal.treasurer_of:
        abort(403)
    names = _member_names()
    form = _new_form(principal, names)
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("invoices/new.html", form=form, error=_("Please check what you entered.")), 400
        creditor = form.creditor.data or ""
        if not principal.can_invoice_for(creditor):
            abort(403)
        try:
            amount = parse_amount(form.amount.data or "", _unit().decimals, current_locale())
            draft = service.check_draft(
                creditor, form.number.data or "", form.debtor.data or "", amount, form.due.data, form.description.data or ""
            )
            (view,) = service.record_invoices(db_session(), creditor, [draft], created_by=principal.actor)
        except errors.MutualCreditError as refused:
            error = error_message(refused)
            form.amount.errors = [error] if isinstance(refused, errors.InvalidAmount) else []
            return render_template("invoices/new.html", form=form, error=error), 400
        flash(_("Invoice %(number)s recorded; %(debtor)s is asked to confirm it.", number=view.number, debtor=names.get(view.debtor, view.debtor)), "success")
        return redirect(url_for("invoice_pages.invoices"), 303)
    return render_template("invoices/new.html", form=form, error=error)


def _upload_form(principal: Principal, names: dict[str, str]) -> UploadForm:
    form = UploadForm()
    form.creditor.choices = _creditor_choices(principal, names)
    return form


@blueprint.route("/invoices/upload", methods=["GET", "POST"])
@login_required
def upload() -> Any:
    """Upload invoices as CSV: a preview lists what would be recorded and every row's error."""
    principal = current_principal()
    if not principal.treasurer_of:
        abort(403)
    names = _member_names()
    form = _upload_form(principal, names)
    if request.method == "GET":
        return render_template("invoices/upload.html", form=form, columns=service.CSV_COLUMNS)
    if not form.validate_on_submit():
        return render_template("invoices/upload.html", form=form, columns=service.CSV_COLUMNS, error=_("Choose a CSV file.")), 400
    creditor = form.creditor.data or ""
    if not principal.can_invoice_for(creditor):
        abort(403)
    content = read_csv_upload(form.file.data, CSV_BYTES_MAX)
    if content is None:
        error = str(UNREADABLE_MESSAGE)
        return render_template("invoices/upload.html", form=form, columns=service.CSV_COLUMNS, error=error), 400
    preview = service.preview_csv(db_session(), creditor, content, locale=current_locale())
    confirm = UploadConfirmForm(formdata=None, creditor=creditor, content=content)
    status = 200 if preview.is_valid else 400
    return render_template(
        "invoices/preview.html", preview=preview, confirm=confirm, creditor=creditor, names=names, money=_money
    ), status


@blueprint.post("/invoices/upload/confirm")
@login_required
def upload_confirm() -> Any:
    """Record the previewed file: it is checked again, and recorded all or nothing."""
    principal = current_principal()
    form = UploadConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    creditor = form.creditor.data or ""
    if not principal.can_invoice_for(creditor):
        abort(403)
    preview = service.preview_csv(db_session(), creditor, form.content.data or "", locale=current_locale())
    if not preview.is_valid:
        names = _member_names()
        return render_template("invoices/preview.html", preview=preview, confirm=form, creditor=creditor, names=names, money=_money), 400
    try:
        views = service.record_invoices(db_session(), creditor, preview.drafts, created_by=principal.actor)
    except errors.MutualCreditError as refused:
        flash(error_message(refused), "error")
        return redirect(url_for("invoice_pages.upload"), 303)
    flash(_("%(count)s invoices recorded.", count=len(views)), "success")
    return redirect(url_for("invoice_pages.invoices"), 303)


def _answer(invoice_id: uuid.UUID, action: str) -> Any:
    principal = current_principal()
    view = _invoice_or_404(principal, invoice_id)
    if not principal.can_accept_requests_of(view.debtor):
        abort(403)
    try:
        if action == "confirm":
            if not PostForm().validate_on_submit():
                abort(400)
            service.confirm_invoice(db_session(), invoice_id, debtor=view.debtor, actor=principal.actor)
            flash(_("Invoice %(number)s confirmed.", number=view.number), "success")
        elif action == "dispute":
            form = DisputeForm()
            if not form.validate_on_submit():
                flash(_("Say why you dispute the invoice."), "error")
                return redirect(url_for("invoice_pages.invoices"), 303)
            service.dispute_invoice(db_session(), invoice_id, debtor=view.debtor, actor=principal.actor, reason=form.reason.data or "")
            flash(_("Invoice %(number)s disputed.", number=view.number), "success")
        else:
            if not PostForm().validate_on_submit():
                abort(400)
            if not principal.can_pay_from(_Owner(view.debtor)):
                abort(403)
            _settled, transfer = service.settle_invoice(db_session(), invoice_id, debtor=view.debtor, actor=principal.actor)
            flash(_("Invoice %(number)s settled: %(amount)s paid in credit.", number=view.number, amount=_money(transfer.amount_minor)), "success")
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        flash(error_message(refused), "error")
    return redirect(url_for("invoice_pages.invoices"), 303)


class _Owner:
    def __init__(self, member_slug: str) -> None:
        self.member_slug = member_slug


@blueprint.post("/invoices/<uuid:invoice_id>/confirm")
@login_required
def confirm(invoice_id: uuid.UUID) -> Any:
    return _answer(invoice_id, "confirm")


@blueprint.post("/invoices/<uuid:invoice_id>/dispute")
@login_required
def dispute(invoice_id: uuid.UUID) -> Any:
    return _answer(invoice_id, "dispute")


@blueprint.post("/invoices/<uuid:invoice_id>/settle")
@login_required
def settle(invoice_id: uuid.UUID) -> Any:
    return _answer(invoice_id, "settle")


# --- clearing runs -------------------------------------------------------------


def _can_run(principal: Principal) -> bool:
    return principal.is_coordinator or principal.is_admin


@blueprint.route("/clearing", methods=["GET", "POST"])
@login_required
def clearing() -> Any:
    """Past runs; coordinators start a new one (it clears every confirmed invoice)."""
    principal = current_principal()
    form = RunForm(data={"reference": dt.date.today().isoformat()}) if request.method == "GET" else RunForm()
    if request.method == "POST":
        if not _can_run(principal):
            abort(403)
        if not form.validate_on_submit():
            abort(400)
        try:
            run = service.run_clearing(db_session(), reference=form.reference.data, actor=principal.actor)
        except errors.MutualCreditError as refused:
            flash(error_message(refused), "error")
            return redirect(url_for("invoice_pages.clearing"), 303)
        if run.is_replay:
            flash(_("Run %(reference)s was recorded before; nothing changed.", reference=run.reference), "info")
        else:
            flash(_("Run %(reference)s recorded: %(cleared)s set off.", reference=run.reference, cleared=_money(run.cleared_minor)), "success")
        return redirect(url_for("invoice_pages.run", reference=run.reference), 303)
    runs = service.list_runs(db_session())
    open_invoices = [v for v in service.list_invoices(db_session(), state="confirmed") if v.outstanding_minor > 0]
    return render_template(
        "invoices/clearing.html", runs=runs, form=form, can_run=_can_run(principal), money=_money, open_count=len(open_invoices),
        open_total=sum(v.outstanding_minor for v in open_invoices),
    )


def _run_or_404(reference: str) -> service.RunView:
    try:
        return service.get_run(db_session(), reference)
    except errors.NotFound as missing:
        refuse(missing)


@blueprint.get("/clearing/<reference>")
@login_required
def run(reference: str) -> str:
    """A run's figures: totals, each member's (one's own co-ops' only, for members), the cycles."""
    principal = current_principal()
    view = _run_or_404(reference)
    readable = principal.readable_member_slugs()
    members = [f for f in view.members if readable is None or f.member in readable]
    cycles = [c for c in view.cycles if readable is None or readable & set(c.participants)]
    share = view.cleared_minor / view.bound_minor if view.bound_minor else None
    return render_template(
        "invoices/run.html",
        view=view,
        members=members,
        cycles=cycles,
        names=_member_names(),
        money=_money,
        share=share,
        notice_members=sorted(readable) if readable is not None else [f.member for f in view.members],
    )


def _notice(reference: str, member: str) -> service.Notice:
    principal = current_principal()
    if not principal.can_read_member(member):
        abort(404)
    _run_or_404(reference)
    try:
        return service.notice(db_session(), reference, member)
    except errors.NotFound as missing:
        refuse(missing)


@blueprint.get("/clearing/<reference>/notice/<member>")
@login_required
def notice(reference: str, member: str) -> str:
    """A co-op's set-off notice: each of its invoices the run settled wholly or partly, and how."""
    return render_template("invoices/notice.html", notice=_notice(reference, member), names=_member_names(), money=_money)


@blueprint.get("/clearing/<reference>/notice/<member>.csv")
@login_required
def notice_csv(reference: str, member: str) -> Response:
    notice_ = _notice(reference, member)
    region = _unit()
    response = Response(service.notice_csv(notice_, region.decimals, region.unit_code), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="set-off-{reference}-{member}.csv"'
    return response
