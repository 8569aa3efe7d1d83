"""Account statements: a page at a time, or the whole filtered period as CSV or Beancount.

Who may read an account's statement is the ``Principal``'s to say: a
member's account, the people with a role in that member and the regional
roles; a system account (commons, pools, clearing), the regional roles.
Anyone else gets 404, as if the account did not exist. The statement's
rules (its period, balances, paging) are `mutualcredit.ledger.statements`'.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from types import SimpleNamespace
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import Field, SelectChoice, SelectField, StringField
from wtforms.validators import Length, ValidationError
from wtforms.widgets import DateInput

from mutualcredit import errors
from mutualcredit.ledger import export
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.statements import (
    STATEMENT_EXPORT_LINES_MAX,
    STATEMENT_PAGE_LINES,
    InvalidPeriod,
    Statement,
    StatementFilter,
    StatementTooLong,
    UnknownCounterparty,
    statement_page,
    whole_statement,
)
from mutualcredit.money import format_amount
from mutualcredit.region.service import get_region
from webapp.auth import add_error_pages, current_principal
from webapp.db import db_session
from webapp.i18n import current_locale, error_message

blueprint = add_error_pages(Blueprint("statements", __name__))

FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _iso_date(_form: FlaskForm, field: Field) -> None:
    if field.data:
        try:
            dt.date.fromisoformat(field.data)
        except ValueError:
            raise ValidationError(_("Enter a date as YYYY-MM-DD.")) from None


class StatementFilterForm(FlaskForm):
    """The statement's filters, read from the query string (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    first_day = StringField(_l("From"), name="from", widget=DateInput(), validators=[Length(max=32), _iso_date])
    last_day = StringField(_l("To"), name="to", widget=DateInput(), validators=[Length(max=32), _iso_date])
    counterparty = SelectField(_l("Counterparty"), validate_choice=False)

    def statement_filter(self) -> StatementFilter:
        return StatementFilter(
            first_day=dt.date.fromisoformat(self.first_day.data) if self.first_day.data else None,
            last_day=dt.date.fromisoformat(self.last_day.data) if self.last_day.data else None,
            counterparty=self.counterparty.data or None,
        )

    def query(self) -> dict[str, str]:
        """The filters as query-string arguments, for links that keep them."""
        values = {"from": self.first_day.data, "to": self.last_day.data, "counterparty": self.counterparty.data}
        return {name: value for name, value in values.items() if value}


def _region() -> Any:
    """The region's unit and name, read once per request."""
    if "statement_pages_region" not in g:
        region = get_region(db_session())
        g.statement_pages_region = SimpleNamespace(unit=region.unit, decimals=region.decimals, unit_code=region.unit_code, name=region.name)
        db_session().rollback()
    return g.statement_pages_region


def _readable_account(code: str) -> ledger.AccountView:
    """The account, if this person may read it; 404 otherwise (its existence is not told)."""
    try:
        account = ledger.get_account(db_session(), code)
    except errors.AccountNotFound:
        abort(404)
    finally:
        db_session().rollback()
    principal = current_principal()
    readable = principal.can_read_member(account.member_slug) if account.member_slug else principal.is_regional_reader
    if not readable:
        abort(404)
    return account


def _filter_form(account: ledger.AccountView) -> tuple[StatementFilterForm, dict[str, str]]:
    """The filter form bound to the query string, and every account's name by code."""
    accounts = ledger.list_accounts(db_session())
    db_session().rollback()
    names = {view.code: view.name for view in accounts}
    form = StatementFilterForm(formdata=request.args)
    others = sorted((view for view in accounts if view.code != account.code), key=lambda view: (view.name.casefold(), view.code))
    form.counterparty.choices = [SelectChoice("", _("Every counterparty"))] + [SelectChoice(view.code, view.name) for view in others]
    return form, names


def _check_filters(form: StatementFilterForm) -> StatementFilter | None:
    """The filter, or None when a field is invalid (its message is then on the field)."""
    if not form.validate():
        return None
    statement_filter = form.statement_filter()
    if statement_filter.first_day and statement_filter.last_day and statement_filter.first_day > statement_filter.last_day:
        form.last_day.errors = [error_message(InvalidPeriod())]
        return None
    return statement_filter


def _cursor(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        abort(400)
    return int(value)


def _money_in_locale() -> Callable[[int], str]:
    """Format amounts in this request's language (looked up once per page, not once per amount)."""
    unit, locale = _region().unit, current_locale()
    return lambda amount_minor: format_amount(amount_minor, unit, locale)


def _render(account: ledger.AccountView, form: StatementFilterForm, names: dict[str, str], page: Any = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "statements/statement.html",
        account=account,
        form=form,
        names=names,
        page=page,
        query=form.query(),
        money=_money_in_locale(),
        page_lines=STATEMENT_PAGE_LINES,
    ), status


@blueprint.get("/accounts/<code>/statement")
@login_required
def statement(code: str) -> tuple[str, int]:
    """One page of the account's statement, filtered by period and counterparty, newest page first."""
    account = _readable_account(code)
    form, names = _filter_form(account)
    statement_filter = _check_filters(form)
    if statement_filter is None:
        return _render(account, form, names, status=400)
    before_seq, after_seq = _cursor("before"), _cursor("after")
    if before_seq is not None and after_seq is not None:
        abort(400)
    try:
        page = statement_page(db_session(), code, statement_filter, before_seq=before_seq, after_seq=after_seq)
    except UnknownCounterparty as refused:
        form.counterparty.errors = [error_message(refused)]
        return _render(account, form, names, status=400)
    except errors.AccountNotFound:
        abort(404)
    return _render(account, form, names, page)


def _whole(code: str) -> tuple[Statement | None, Any]:
    """The whole filtered statement, or the response that refuses it (bad filters, too many lines)."""
    account = _readable_account(code)
    form, names = _filter_form(account)
    statement_filter = _check_filters(form)
    if statement_filter is None:
        return None, _render(account, form, names, status=400)
    try:
        return whole_statement(db_session(), code, statement_filter), None
    except UnknownCounterparty as refused:
        form.counterparty.errors = [error_message(refused)]
        return None, _render(account, form, names, status=400)
    except StatementTooLong as refused:
        message = _(
            "The period holds more than %(count)s lines, too many for one download. Choose a shorter period.",
            count=refused.details.get("lines_max", STATEMENT_EXPORT_LINES_MAX),
        )
        return None, (render_template("errors/error.html", status=400, title=_("Too many lines"), message=message), 400)
    except errors.AccountNotFound:
        abort(404)


def _download(statement_: Statement, content: str, extension: str, content_type: str) -> Response:
    period = f"{statement_.filter.first_day or 'start'}-to-{statement_.filter.last_day or dt.date.today()}"
    counterparty = f"-with-{statement_.filter.counterparty}" if statement_.filter.counterparty else ""
    filename = FILENAME_UNSAFE.sub("-", f"statement-{statement_.account.code}{counterparty}-{period}") + extension
    response = Response(content, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/accounts/<code>/statement.csv")
@login_required
def csv(code: str) -> Any:
    """The whole filtered period as CSV: plain signed amounts, the balance after each line, the unit."""
    statement_, refusal = _whole(code)
    if statement_ is None:
        return refusal
    region = _region()
    out = io.StringIO()
    export.export_statement_csv(statement_, out, decimals=region.decimals, unit_code=region.unit_code)
    return _download(statement_, out.getvalue(), ".csv", "text/csv; charset=utf-8")


@blueprint.get("/accounts/<code>/statement.beancount")
@login_required
def beancount(code: str) -> Any:
    """The whole filtered period as a Beancount file (opening balance, lines, closing balance assertion)."""
    statement_, refusal = _whole(code)
    if statement_ is None:
        return refusal
    region = _region()
    out = io.StringIO()
    title = f"{region.name}: {statement_.account.name}"
    export.export_statement_beancount(statement_, out, title=title, decimals=region.decimals, unit_code=region.unit_code)
    return _download(statement_, out.getvalue(), ".beancount", "text/plain; charset=utf-8")
