"""API tokens in the web app: a treasurer's for their co-op, an admin's for a regional role.

The secret is shown once, in the answer to the form that created it (never
stored, not even in the session); the list shows each token's scopes and
last use. Who may see, create and revoke which token is decided by
``Principal`` (see ``mutualcredit.users.permissions``), not here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, ListWidget

from mutualcredit import errors
from mutualcredit.members.service import list_members
from mutualcredit.tokens.service import NAME_LENGTH_MAX, ROLES, SCOPES
from mutualcredit.users import service as users
from mutualcredit.users.permissions import MEMBER_TOKEN_SCOPES, Principal
from webapp.auth import PostForm, add_error_pages, current_principal, refuse
from webapp.db import db_session
from webapp.i18n import ROLE_LABELS, error_message

blueprint = add_error_pages(Blueprint("tokens", __name__, url_prefix="/tokens"))

SCOPE_LABELS = {
    "accounts:read": _l("Read accounts, transfers and statements"),
    "transfers:write": _l("Pay and move credit"),
    "requests:write": _l("Send, accept and reject payment requests"),
    "pools:write": _l("Declare needs on resource pools"),
    "admin": _l("Administer the region"),
}


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class MemberTokenForm(FlaskForm):
    # Choices are offered, not trusted: the service decides whether this person may.
    member = SelectField(_l("Co-op"), validate_choice=False)
    name = StringField(_l("What the token is for"), validators=[Length(max=NAME_LENGTH_MAX)])
    scopes = CheckboxesField(
        _l("Scopes"), choices=[SelectChoice(scope, SCOPE_LABELS[scope]) for scope in MEMBER_TOKEN_SCOPES], validate_choice=False
    )


class RegionalTokenForm(FlaskForm):
    role = SelectField(_l("Regional role"), choices=[SelectChoice(role, ROLE_LABELS[role]) for role in ROLES], validate_choice=False)
    name = StringField(_l("What the token is for"), validators=[Length(max=NAME_LENGTH_MAX)])
    scopes = CheckboxesField(_l("Scopes"), choices=[SelectChoice(scope, SCOPE_LABELS[scope]) for scope in SCOPES], validate_choice=False)


def _forms(principal: Principal) -> tuple[MemberTokenForm | None, RegionalTokenForm | None]:
    member_form = None
    if principal.treasurer_of:
        member_form = MemberTokenForm(prefix="member")
        names = {role.member_slug: role.member_name for role in principal.member_roles}
        member_form.member.choices = [SelectChoice(slug, names[slug]) for slug in principal.treasurer_of]
    regional_form = RegionalTokenForm(prefix="regional") if principal.can_create_regional_tokens else None
    return member_form, regional_form


def _index(principal: Principal, *, error: str | None = None, status: int = 200, **forms: Any) -> tuple[str, int]:
    session = db_session()
    tokens = users.list_tokens_for(session, principal)
    member_names = {member.slug: member.name for member in list_members(session)}
    session.rollback()
    member_form, regional_form = _forms(principal)
    page = render_template(
        "tokens/index.html",
        principal=principal,
        tokens=tokens,
        member_names=member_names,
        member_form=forms.get("member_form", member_form),
        regional_form=forms.get("regional_form", regional_form),
        scope_labels=SCOPE_LABELS,
        error=error,
    )
    return page, status


@blueprint.get("")
@login_required
def index() -> tuple[str, int]:
    """The tokens this person may see, and forms to create the ones they may create."""
    return _index(current_principal())


def _created(secret: str, view: Any) -> Response:
    response = Response(render_template("tokens/created.html", secret=secret, token=view, scope_labels=SCOPE_LABELS))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/member")
@login_required
def create_member_token() -> Any:
    """Create a token for one of this person's co-ops (treasurers only)."""
    principal = current_principal()
    form = MemberTokenForm(prefix="member")
    if not form.validate_on_submit():
        abort(400)
    try:
        secret, view = users.create_token_as(
            db_session(), principal, member_slug=form.member.data, scopes=form.scopes.data or [], name=form.name.data or ""
        )
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        return _index(principal, error=error_message(refused), status=400)
    return _created(secret, view)


@blueprint.post("/regional")
@login_required
def create_regional_token() -> Any:
    """Create a token bound to a regional role (admins only)."""
    principal = current_principal()
    form = RegionalTokenForm(prefix="regional")
    if not form.validate_on_submit():
        abort(400)
    try:
        secret, view = users.create_token_as(
            db_session(), principal, role=form.role.data, scopes=form.scopes.data or [], name=form.name.data or ""
        )
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        return _index(principal, error=error_message(refused), status=400)
    return _created(secret, view)


@blueprint.post("/<public_id>/revoke")
@login_required
def revoke(public_id: str) -> Any:
    """Revoke a token for good."""
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        view = users.revoke_token_as(db_session(), current_principal(), public_id)
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    flash(_("Token %(id)s is revoked.", id=view.public_id), "info")
    return redirect(url_for("tokens.index"), 303)
