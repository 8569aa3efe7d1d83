"""Inviting people: a coordinator (or an admin) sends a one-time link for one role.

Coordinators invite to member roles (treasurer, viewer); only an admin
invites to regional roles. The link is shown once, on the page that
created it; only its hash is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectChoice, SelectField
from wtforms.validators import InputRequired, Length, NumberRange

from mutualcredit import errors
from mutualcredit.members.service import list_members
from mutualcredit.users import service as users
from mutualcredit.users.permissions import MEMBER_ROLES, REGIONAL_ROLES, Principal
from webapp.auth import add_error_pages, current_principal, refuse
from webapp.db import db_session
from webapp.i18n import ROLE_LABELS, error_message

blueprint = add_error_pages(Blueprint("people", __name__))


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(), Length(max=users.EMAIL_LENGTH_MAX)])
    role = SelectField(_l("Role"), validate_choice=False)
    member = SelectField(_l("Co-op (for treasurer and viewer)"), validate_choice=False)
    lifetime_days = IntegerField(
        _l("The link works for (days)"),
        default=users.INVITATION_LIFETIME_DEFAULT.days,
        validators=[InputRequired(), NumberRange(min=1, max=users.INVITATION_LIFETIME_MAX.days)],
    )


def _form(principal: Principal) -> InviteForm:
    form = InviteForm()
    roles = list(MEMBER_ROLES) + (list(REGIONAL_ROLES) if principal.can_invite_to_regional_roles else [])
    form.role.choices = [SelectChoice(role, ROLE_LABELS[role]) for role in roles]
    form.member.choices = [SelectChoice("", "—")] + [
        SelectChoice(member.slug, member.name) for member in list_members(db_session()) if member.status != "left"
    ]
    db_session().rollback()
    return form


def _page(principal: Principal, form: InviteForm, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    invitations = users.list_open_invitations(db_session())
    return render_template("people/invite.html", form=form, invitations=invitations, error=error), status


@blueprint.route("/invitations/new", methods=["GET", "POST"])
@login_required
def invite() -> Any:
    """Invite a person to a role with a one-time link."""
    principal = current_principal()
    if not principal.can_invite_to_members:
        abort(403)
    form = _form(principal)
    if not form.validate_on_submit():
        return _page(principal, form, status=400 if form.is_submitted() else 200)
    role = form.role.data or ""
    is_member_role = role in MEMBER_ROLES
    try:
        secret, invitation = users.invite_as(
            db_session(),
            principal,
            email=form.email.data or "",
            member_slug=(form.member.data or None) if is_member_role else None,
            member_role=role if is_member_role else None,
            regional_role=None if is_member_role else role,
            lifetime=dt.timedelta(days=form.lifetime_days.data or 0),
        )
    except (errors.NotAllowed, errors.MemberNotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        return _page(principal, form, error=error_message(refused), status=400)
    link = url_for("auth.invitation", secret=secret, _external=True)
    response = Response(render_template("people/invited.html", link=link, invitation=invitation))
    response.headers["Cache-Control"] = "no-store"
    return response
