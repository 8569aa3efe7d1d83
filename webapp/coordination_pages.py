"""Coordination pages: members, people and roles, invitations, limits, system accounts, the audit, the activity log.

Policy is made by the members' assemblies; coordinators (and admins) only
carry it out here, and every change is recorded in the activity log with
who made it. Who may do what is the ``Principal``'s to say:

- coordinators and admins change things (admit, edit, suspend members;
  grant member roles; set limits; open and freeze system accounts; revoke
  invitations); only admins grant regional roles or deactivate someone who
  holds one; nobody deactivates themselves;
- auditors see every page and change nothing, except that they run the
  audit: it only reads the ledger, and each run is logged like any act;
- members' treasurers and viewers see none of these pages.

Nothing here moves value: no page pays from or to any account.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from babel import numbers as babel_numbers
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from mutualcredit import errors
from mutualcredit.activity import ACTIVITY_PAGE_SIZE_DEFAULT, ActivityView, list_activity
from mutualcredit.config import Settings
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.checkpoint import load_or_create_signing_key, public_key_hex
from mutualcredit.ledger.service import ACCOUNT_CODE_PATTERN
from mutualcredit.members import admin
from mutualcredit.members import service as members
from mutualcredit.money import format_amount, parse_amount, to_decimal
from mutualcredit.region.service import SLUG_PATTERN, get_region
from mutualcredit.users import service as users
from mutualcredit.users.permissions import MEMBER_ROLES, REGIONAL_ROLES, Principal
from webapp.auth import PostForm, add_error_pages, current_principal, refuse
from webapp.db import db_session
from webapp.i18n import ROLE_LABELS, current_locale, error_message

blueprint = add_error_pages(Blueprint("coordination", __name__, url_prefix="/coordination"))

REASON_LENGTH_MAX = 500
AMOUNT_TEXT_LENGTH_MAX = 30
DETAIL_TEXT_LENGTH_MAX = 200
MEMBER_HISTORY_LENGTH = 20
SYSTEM_ACCOUNT_KINDS = ("pool", "commons")
# Paths the admission form's slug would collide with.
RESERVED_SLUGS = frozenset({"new"})
AMOUNT_DETAIL_KEYS = frozenset({"floor", "ceiling", "amount_minor"})
# Acts whose details are [old, new] pairs.
CHANGE_ACTIONS = frozenset({"member.edit", "account.limits"})
_ZERO = re.compile(r"0+(?:[.,\s\u00a0\u202f]0*)?")

KIND_LABELS = {
    "member": _l("member"),
    "pool": _l("pool"),
    "commons": _l("commons"),
    "peer_clearing": _l("peer region clearing"),
}
ACCOUNT_STATUS_LABELS = {"open": _l("open"), "frozen": _l("frozen"), "closed": _l("closed")}
# Filters of the activity log, by the first part of an action's name.
ACTIVITY_KINDS = {
    "member": _l("Members"),
    "user": _l("People and roles"),
    "account": _l("Accounts and limits"),
    "audit": _l("Audit runs"),
    "token": _l("API tokens"),
    "invoice": _l("Invoices"),
    "clearing": _l("Clearing runs"),
    "webhook": _l("Webhooks"),
    "region": _l("The region"),
}
ACTION_LABELS = {
    "member.add": _l("admitted a member"),
    "member.edit": _l("edited a member"),
    "member.suspended": _l("suspended a member"),
    "member.active": _l("reactivated a member"),
    "member.leave": _l("let a member leave"),
    "member.write_off": _l("wrote off a balance"),
    "user.add": _l("added a person"),
    "user.grant": _l("granted a role"),
    "user.revoke": _l("revoked a role"),
    "user.invite": _l("invited a person"),
    "user.revoke_invitation": _l("revoked an invitation"),
    "user.accept_invitation": _l("accepted an invitation"),
    "user.activate": _l("let a person log in again"),
    "user.deactivate": _l("deactivated a person"),
    "user.password": _l("set a password"),
    "user.lock": _l("locked an account after failed logins"),
    "account.open": _l("opened an account"),
    "account.limits": _l("changed an account's limits"),
    "account.status": _l("changed an account's status"),
    "audit.run": _l("ran the audit"),
    "region.init": _l("set up the region"),
}


# ---------------------------------------------------------------------------
# Forms


class MemberForm(FlaskForm):
    slug = StringField(
        _l("Short name (slug)"),
        validators=[
            DataRequired(),
            Length(max=63),
            Regexp(SLUG_PATTERN, message=_l("Lower-case letters, digits and dashes, starting with a letter or digit.")),
        ],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=admin.MEMBER_NAME_LENGTH_MAX)])
    trade = StringField(_l("Trade"), validators=[Length(max=admin.MEMBER_TRADE_LENGTH_MAX)])
    description = TextAreaField(_l("Description"), validators=[Length(max=admin.MEMBER_DESCRIPTION_LENGTH_MAX)])
    floor = StringField(_l("Floor (lowest balance)"), validators=[DataRequired(), Length(max=AMOUNT_TEXT_LENGTH_MAX)])
    ceiling = StringField(_l("Ceiling (highest balance, optional)"), validators=[Optional(), Length(max=AMOUNT_TEXT_LENGTH_MAX)])


class EditMemberForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=admin.MEMBER_NAME_LENGTH_MAX)])
    trade = StringField(_l("Trade"), validators=[Length(max=admin.MEMBER_TRADE_LENGTH_MAX)])
    description = TextAreaField(_l("Description"), validators=[Length(max=admin.MEMBER_DESCRIPTION_LENGTH_MAX)])


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=REASON_LENGTH_MAX)])


class GrantRoleForm(FlaskForm):
    # Choices are offered, not trusted: the service checks the member and the role.
    member = SelectField(_l("Co-op"), validate_choice=False)
    role = SelectField(_l("Role"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in MEMBER_ROLES], validate_choice=False)


class RevokeRoleForm(FlaskForm):
    member = StringField(validators=[DataRequired(), Length(max=63)])


class RegionalRoleForm(FlaskForm):
    role = SelectField(_l("Regional role"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in REGIONAL_ROLES], validate_choice=False)
    change = SelectField(choices=[SelectChoice("grant", "grant"), SelectChoice("revoke", "revoke")], validate_choice=True)


class LimitsForm(FlaskForm):
    floor = StringField(_l("Floor (lowest balance)"), validators=[Length(max=AMOUNT_TEXT_LENGTH_MAX)])
    ceiling = StringField(_l("Ceiling (highest balance)"), validators=[Length(max=AMOUNT_TEXT_LENGTH_MAX)])
    reason = StringField(_l("Reason (for the activity log)"), validators=[Length(max=REASON_LENGTH_MAX)])


class SystemAccountForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in SYSTEM_ACCOUNT_KINDS], validate_choice=True)
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(),
            Length(max=100),
            Regexp(ACCOUNT_CODE_PATTERN, message=_l("Lower-case letters, digits and . _ : - only.")),
        ],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    floor = StringField(_l("Floor (lowest balance, optional)"), validators=[Length(max=AMOUNT_TEXT_LENGTH_MAX)])
    ceiling = StringField(_l("Ceiling (highest balance, optional)"), validators=[Length(max=AMOUNT_TEXT_LENGTH_MAX)])


class ActivityFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form: it only filters what is shown

    actor = StringField(_l("Who"), validators=[Optional(), Length(max=200)])
    kind = SelectField(_l("What"), validate_choice=False)
    action = StringField(_l("Action"), validators=[Optional(), Length(max=64)])


# ---------------------------------------------------------------------------
# Helpers


def _reader() -> Principal:
    """The person asking, if they may see coordination pages (else 403)."""
    principal = current_principal()
    if not principal.can_read_coordination:
        abort(403)
    return principal


def _administrator() -> Principal:
    """The person asking, if they may change things here (else 403)."""
    principal = current_principal()
    if not principal.can_administer:
        abort(403)
    return principal


def _unit() -> Any:
    """The region's unit and decimals, read once per request."""
    if "coordination_region" not in g:
        region = get_region(db_session())
        g.coordination_region = SimpleNamespace(unit=region.unit, decimals=region.decimals)
        db_session().rollback()
    return g.coordination_region


def _money(amount_minor: int | None) -> str:
    if amount_minor is None:
        return "—"
    return format_amount(amount_minor, _unit().unit, current_locale())


def _limit_text(amount_minor: int | None) -> str:
    """A limit as a person types it in their language, without the unit (``-1,000.00``)."""
    if amount_minor is None:
        return ""
    decimals = _unit().decimals
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return babel_numbers.format_decimal(to_decimal(amount_minor, decimals), format=pattern, locale=current_locale())


def _example_limit() -> str:
    return _limit_text(-1_000 * 10 ** _unit().decimals)


def _parse_limit(text: str | None) -> int | None:
    """A limit typed in the person's language: signed, zero allowed, empty for none."""
    text = (text or "").strip()
    if not text:
        return None
    negative = text[0] in "-−"
    body = text[1:].strip() if negative else text
    try:
        amount_minor = parse_amount(body, _unit().decimals, current_locale())
    except errors.InvalidAmount:
        if _ZERO.fullmatch(body):
            return 0
        raise
    return -amount_minor if negative else amount_minor


def _read_limit(field: Any, *, floor: bool) -> int | None:
    """Parse a limit field, putting the reason next to it when it is not a valid limit."""
    try:
        value = _parse_limit(field.data)
    except errors.InvalidAmount:
        field.errors = [_("That is not a valid amount, for example %(example)s.", example=_example_limit())]
        return None
    if value is not None and floor and value > 0:
        field.errors = [_("A floor is zero or below (a negative amount).")]
    if value is not None and not floor and value < 0:
        field.errors = [_("A ceiling is zero or above.")]
    return value


def _limit_refusal(form: LimitsForm, account: ledger.AccountView, floor: int | None) -> None:
    """Put a ``LimitBelowBalance`` refusal next to the limit the balance falls outside of (the floor is checked first)."""
    if floor is not None and account.balance - account.debits_pending < floor:
        form.floor.errors = [
            _(
                "The balance less pending payments is %(figure)s, below this floor.",
                figure=_money(account.balance - account.debits_pending),
            )
        ]
    else:
        form.ceiling.errors = [
            _(
                "The balance plus pending receipts is %(figure)s, above this ceiling.",
                figure=_money(account.balance + account.credits_pending),
            )
        ]


def _trusted_public_key() -> str | None:
    """The region's own checkpoint key, if this instance has one (the audit then checks checkpoints were signed with it)."""
    configured = current_app.config.get("SIGNING_KEY_PATH")
    path = Path(configured) if configured else Settings.from_environ().signing_key_path
    if not path.exists():
        return None
    try:
        return public_key_hex(load_or_create_signing_key(path, create=False))
    except errors.SigningKeyMissing:
        return None


def _details_text(entry: ActivityView) -> list[tuple[str, str]]:
    """An activity entry's details as short (key, text) pairs; amounts in the reader's language.

    For acts that change a value (``CHANGE_ACTIONS``) each detail is an
    ``[old, new]`` pair, shown as "old → new" (unchanged ones are left out).
    """

    def text(key: str, value: Any) -> str:
        if key in AMOUNT_DETAIL_KEYS and isinstance(value, int) and not isinstance(value, bool):
            return _money(value)
        if value is None:
            return "—"
        if isinstance(value, list):
            return ", ".join(" ".join(map(str, item)) if isinstance(item, list) else text(key, item) for item in value)
        return value if isinstance(value, str) else str(value)

    pairs = []
    for key, value in entry.details.items():
        if key == "findings" or value in (None, "", [], {}):
            continue  # an audit run's findings are on the audit page
        if entry.action in CHANGE_ACTIONS and isinstance(value, list) and len(value) == 2:
            if value[0] == value[1]:
                continue
            shown = f"{text(key, value[0])} → {text(key, value[1])}"
        else:
            shown = text(key, value)
        if len(shown) > DETAIL_TEXT_LENGTH_MAX:
            shown = shown[: DETAIL_TEXT_LENGTH_MAX - 1] + "…"
        pairs.append((key, shown))
    return pairs


def _member_or_404(slug: str) -> admin.MemberDetails:
    try:
        return admin.get_member_details(db_session(), slug)
    except errors.NotFound as missing:
        refuse(missing)
    finally:
        db_session().rollback()


def _account_or_404(code: str) -> ledger.AccountView:
    try:
        return ledger.get_account(db_session(), code)
    except errors.NotFound as missing:
        refuse(missing)
    finally:
        db_session().rollback()


def _user_or_404(user_id: int) -> users.UserView:
    try:
        return admin.get_user_by_id(db_session(), user_id)
    except errors.NotFound as missing:
        refuse(missing)
    finally:
        db_session().rollback()


# ---------------------------------------------------------------------------
# The hub


@blueprint.get("")
@login_required
def index() -> str:
    """Links to every coordination page, with counts."""
    principal = _reader()
    session = db_session()
    member_views = members.list_members(session)
    accounts = ledger.list_accounts(session)
    people = users.list_users(session)
    invitations = users.list_open_invitations(session)
    last_audit = admin.last_audit_run(session)
    recent = list_activity(session, limit=5).entries
    session.rollback()
    counts = {status: sum(1 for m in member_views if m.status == status) for status in ("active", "suspended", "left")}
    return render_template(
        "coordination/index.html",
        principal=principal,
        member_counts=counts,
        account_count=len(accounts),
        system_account_count=sum(1 for a in accounts if a.member_slug is None),
        frozen_count=sum(1 for a in accounts if a.status == "frozen"),
        people_count=len(people),
        inactive_count=sum(1 for p in people if not p.is_active),
        invitation_count=len(invitations),
        last_audit=last_audit,
        recent=recent,
        action_labels=ACTION_LABELS,
    )


# ---------------------------------------------------------------------------
# Members


@blueprint.get("/members")
@login_required
def members_list() -> str:
    """Every member with its status, balance and floor."""
    principal = _reader()
    views = members.list_members(db_session())
    db_session().rollback()
    rows = []
    for view in views:
        main = next((a for a in view.accounts if a.code == view.slug), view.accounts[0] if view.accounts else None)
        rows.append(
            {
                "view": view,
                "balance": view.balance_minor,
                "floor": main.floor if main else None,
                "ceiling": main.ceiling if main else None,
            }
        )
    return render_template("coordination/members.html", principal=principal, rows=rows, money=_money)


@blueprint.route("/members/new", methods=["GET", "POST"])
@login_required
def member_new() -> Any:
    """Admit a member: it gets its main account with the floor (and ceiling) the assembly decided."""
    principal = _reader()
    form = MemberForm()
    if request.method == "GET":
        return render_template("coordination/member_new.html", form=form, error=None, example=_example_limit())
    if not principal.can_administer:
        abort(403)

    def page(error: str | None = None) -> tuple[str, int]:
        return render_template("coordination/member_new.html", form=form, error=error, example=_example_limit()), 400

    is_valid = form.validate_on_submit()
    floor = _read_limit(form.floor, floor=True) if form.floor.data else None
    ceiling = _read_limit(form.ceiling, floor=False)
    if (form.slug.data or "") in RESERVED_SLUGS:
        form.slug.errors = [*form.slug.errors, _("That short name is reserved; choose another.")]
    if not is_valid or floor is None or any(f.errors for f in form):
        return page(_("Please check what you entered."))
    try:
        view = members.add_member(
            db_session(),
            slug=form.slug.data or "",
            name=form.name.data or "",
            trade=(form.trade.data or "").strip(),
            description=(form.description.data or "").strip(),
            floor=floor,
            ceiling=ceiling,
            actor=principal.actor,
        )
    except errors.AlreadyExists:
        form.slug.errors = [_("A member or an account with that short name already exists.")]
        return page()
    except errors.MutualCreditError as refused:
        return page(error_message(refused))
    flash(_("%(name)s is admitted, with its account %(code)s.", name=view.name, code=view.slug), "success")
    return redirect(url_for("coordination.member", slug=view.slug), 303)


def _member_page(
    principal: Principal,
    details: admin.MemberDetails,
    *,
    edit_form: EditMemberForm | None = None,
    status_form: ReasonForm | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = db_session()
    accounts = ledger.list_accounts(session, member_slug=details.slug)
    roles = [
        (person, role.role)
        for person in users.list_users(session)
        for role in person.member_roles
        if role.member_slug == details.slug
    ]
    history = list_activity(session, kind="member", subject=details.slug, limit=MEMBER_HISTORY_LENGTH).entries
    session.rollback()
    if edit_form is None:
        edit_form = EditMemberForm(formdata=None, name=details.name, trade=details.trade, description=details.description)
    return render_template(
        "coordination/member.html",
        principal=principal,
        member=details,
        accounts=accounts,
        roles=roles,
        history=history,
        edit_form=edit_form,
        status_form=status_form or ReasonForm(formdata=None),
        error=error,
        money=_money,
        account_status_labels=ACCOUNT_STATUS_LABELS,
        action_labels=ACTION_LABELS,
        details_text=_details_text,
    ), status


@blueprint.route("/members/<slug>", methods=["GET", "POST"])
@login_required
def member(slug: str) -> Any:
    """A member's description, accounts and people; coordinators edit its name, trade and description."""
    principal = _reader()
    if request.method == "POST" and not principal.can_administer:
        abort(403)
    details = _member_or_404(slug)
    if request.method == "GET":
        return _member_page(principal, details)
    form = EditMemberForm()
    if not form.validate_on_submit():
        return _member_page(principal, details, edit_form=form, error=_("Please check what you entered."), status=400)
    try:
        admin.update_member(
            db_session(),
            slug,
            name=form.name.data or "",
            trade=form.trade.data or "",
            description=form.description.data or "",
            actor=principal.actor,
        )
    except errors.MutualCreditError as refused:
        field = refused.details.get("field")
        if isinstance(field, str) and field in form:
            form[field].errors = [error_message(refused)]
        return _member_page(principal, details, edit_form=form, error=error_message(refused), status=400)
    flash(_("%(name)s is saved.", name=form.name.data), "success")
    return redirect(url_for("coordination.member", slug=slug), 303)


def _set_member_status(slug: str, status: str) -> Any:
    principal = _administrator()
    details = _member_or_404(slug)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _member_page(principal, details, status_form=form, error=_("Say why."), status=400)
    try:
        view = members.set_member_status(db_session(), slug, status=status, actor=principal.actor, reason=form.reason.data or "")
    except errors.MutualCreditError as refused:
        form.reason.errors = [error_message(refused)]
        return _member_page(principal, details, status_form=form, error=error_message(refused), status=400)
    if view.status == "suspended":
        flash(_("%(name)s is suspended: it can neither pay nor be paid.", name=view.name), "success")
    else:
        flash(_("%(name)s is active again.", name=view.name), "success")
    return redirect(url_for("coordination.member", slug=slug), 303)


@blueprint.post("/members/<slug>/suspend")
@login_required
def member_suspend(slug: str) -> Any:
    """Suspend a member (with a reason): it can neither pay nor be paid until reactivated."""
    return _set_member_status(slug, "suspended")


@blueprint.post("/members/<slug>/reactivate")
@login_required
def member_reactivate(slug: str) -> Any:
    """Make a suspended member active again (with a reason)."""
    return _set_member_status(slug, "active")


# ---------------------------------------------------------------------------
# People and roles


def _with_ids(form: FlaskForm, suffix: str) -> FlaskForm:
    """Give a form's fields ids of their own, so one page holds a form per person with matching labels."""
    for form_field in form:
        form_field.id = f"{form_field.name}-{suffix}"
        form_field.label.field_id = form_field.id
    return form


def _people_page(
    principal: Principal,
    *,
    failed_user_id: int | None = None,
    failed_form: FlaskForm | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = db_session()
    people = users.list_users(session)
    member_views = members.list_members(session)
    invitations = users.list_open_invitations(session)
    session.rollback()
    choices = [SelectChoice(m.slug, m.name) for m in member_views if m.status != "left"]
    grant_forms: dict[int, FlaskForm] = {}
    regional_forms: dict[int, FlaskForm] = {}
    for person in people:
        is_failed = failed_user_id == person.id
        grant = failed_form if is_failed and isinstance(failed_form, GrantRoleForm) else GrantRoleForm(formdata=None)
        grant.member.choices = choices
        grant_forms[person.id] = _with_ids(grant, f"grant-{person.id}")
        regional = failed_form if is_failed and isinstance(failed_form, RegionalRoleForm) else RegionalRoleForm(formdata=None)
        regional_forms[person.id] = _with_ids(regional, f"regional-{person.id}")
    return render_template(
        "coordination/people.html",
        principal=principal,
        people=people,
        invitations=invitations,
        member_names={m.slug: m.name for m in member_views},
        grant_forms=grant_forms,
        regional_forms=regional_forms,
        failed_user_id=failed_user_id,
        error=error,
    ), status


@blueprint.get("/people")
@login_required
def people() -> Any:
    """Every person with their roles, whether they can log in, and the open invitations."""
    return _people_page(_reader())


@blueprint.post("/people/<int:user_id>/roles")
@login_required
def grant_role(user_id: int) -> Any:
    """Make a person treasurer or viewer of a co-op (replacing their role there)."""
    principal = _administrator()
    person = _user_or_404(user_id)
    form = GrantRoleForm()
    if not form.validate_on_submit():
        return _people_page(principal, failed_user_id=user_id, failed_form=form, error=_("Please check what you entered."), status=400)
    try:
        admin.grant_member_role_as(db_session(), principal, user_id=user_id, member_slug=form.member.data or "", role=form.role.data or "")
    except errors.NotAllowed as refused:
        refuse(refused)
    except (errors.MemberNotFound, errors.MemberNotActive) as refused:
        form.member.errors = [error_message(refused)]
        return _people_page(principal, failed_user_id=user_id, failed_form=form, error=error_message(refused), status=400)
    except errors.MutualCreditError as refused:
        form.role.errors = [_("Choose treasurer or viewer.")]
        return _people_page(principal, failed_user_id=user_id, failed_form=form, error=error_message(refused), status=400)
    flash(_("%(person)s is now %(role)s of %(member)s.", person=person.display_name, role=ROLE_LABELS[form.role.data or ""], member=form.member.data), "success")
    return redirect(url_for("coordination.people"), 303)


@blueprint.post("/people/<int:user_id>/roles/revoke")
@login_required
def revoke_role(user_id: int) -> Any:
    """Take away a person's role in a co-op."""
    principal = _administrator()
    person = _user_or_404(user_id)
    form = RevokeRoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        admin.revoke_member_role_as(db_session(), principal, user_id=user_id, member_slug=form.member.data or "")
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    flash(_("%(person)s no longer has a role in %(member)s.", person=person.display_name, member=form.member.data), "success")
    return redirect(url_for("coordination.people"), 303)


@blueprint.post("/people/<int:user_id>/regional")
@login_required
def regional_role(user_id: int) -> Any:
    """Grant or revoke a regional role (coordinator, auditor, admin): admins only."""
    principal = _reader()
    if not principal.can_administer_regional_roles:
        abort(403)
    person = _user_or_404(user_id)
    form = RegionalRoleForm()
    if not form.validate_on_submit():
        return _people_page(principal, failed_user_id=user_id, failed_form=form, error=_("Please check what you entered."), status=400)
    try:
        admin.set_regional_role_as(
            db_session(), principal, user_id=user_id, role=form.role.data or "", granted=form.change.data == "grant"
        )
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        form.role.errors = [error_message(refused)]
        return _people_page(principal, failed_user_id=user_id, failed_form=form, error=error_message(refused), status=400)
    role = ROLE_LABELS[form.role.data or ""]
    if form.change.data == "grant":
        flash(_("%(person)s is now regional %(role)s.", person=person.display_name, role=role), "success")
    else:
        flash(_("%(person)s is no longer regional %(role)s.", person=person.display_name, role=role), "success")
    return redirect(url_for("coordination.people"), 303)


def _set_active(user_id: int, *, is_active: bool) -> Any:
    principal = _administrator()
    person = _user_or_404(user_id)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        admin.set_user_active_as(db_session(), principal, user_id=user_id, is_active=is_active)
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    if is_active:
        flash(_("%(person)s can log in again.", person=person.display_name), "success")
    else:
        flash(_("%(person)s can no longer log in; their sessions have ended.", person=person.display_name), "success")
    return redirect(url_for("coordination.people"), 303)


@blueprint.post("/people/<int:user_id>/deactivate")
@login_required
def deactivate(user_id: int) -> Any:
    """Stop a person from logging in (their sessions end); never oneself, and admins only for regional roles."""
    return _set_active(user_id, is_active=False)


@blueprint.post("/people/<int:user_id>/activate")
@login_required
def activate(user_id: int) -> Any:
    """Let a deactivated person log in again."""
    return _set_active(user_id, is_active=True)


@blueprint.post("/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int) -> Any:
    """End an open invitation now: its link stops working."""
    principal = _administrator()
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        admin.revoke_invitation_as(db_session(), principal, invitation_id)
    except (errors.NotAllowed, errors.NotFound) as refused:
        refuse(refused)
    flash(_("The invitation is revoked; its link no longer works."), "success")
    return redirect(url_for("coordination.people"), 303)


# ---------------------------------------------------------------------------
# Accounts and limits


@blueprint.get("/accounts")
@login_required
def accounts() -> str:
    """Every account, members' and the region's own, with balance, limits and status."""
    principal = _reader()
    views = ledger.list_accounts(db_session())
    db_session().rollback()
    return render_template(
        "coordination/accounts.html",
        principal=principal,
        accounts=views,
        money=_money,
        kind_labels=KIND_LABELS,
        account_status_labels=ACCOUNT_STATUS_LABELS,
        reason_form=ReasonForm(formdata=None),
    )


def _limits_page(account: ledger.AccountView, form: LimitsForm, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "coordination/limits.html", account=account, form=form, error=error, money=_money, example=_example_limit()
    ), status


@blueprint.route("/accounts/<code>/limits", methods=["GET", "POST"])
@login_required
def account_limits(code: str) -> Any:
    """Set an account's floor and ceiling; refused when the balance (with holds) would fall outside them."""
    principal = _reader()
    if request.method == "POST" and not principal.can_administer:
        abort(403)
    account = _account_or_404(code)
    if request.method == "GET":
        form = LimitsForm(formdata=None, floor=_limit_text(account.floor), ceiling=_limit_text(account.ceiling))
        return _limits_page(account, form)
    form = LimitsForm()
    is_valid = form.validate_on_submit()
    floor = _read_limit(form.floor, floor=True)
    ceiling = _read_limit(form.ceiling, floor=False)
    if account.kind == "member" and floor is None and not form.floor.errors:
        form.floor.errors = [_("A member's account needs a floor.")]
    if not is_valid or any(f.errors for f in form):
        return _limits_page(account, form, error=_("Please check what you entered."), status=400)
    try:
        view = ledger.set_account_limits(
            db_session(), code, floor=floor, ceiling=ceiling, actor=principal.actor, reason=(form.reason.data or "").strip()
        )
    except errors.LimitBelowBalance as refused:
        _limit_refusal(form, ledger.get_account(db_session(), code), floor)
        db_session().rollback()
        return _limits_page(account, form, error=error_message(refused), status=400)
    except errors.NotFound as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        return _limits_page(account, form, error=error_message(refused), status=400)
    flash(_("The limits of %(code)s are now %(floor)s to %(ceiling)s.", code=code, floor=_money(view.floor), ceiling=_money(view.ceiling)), "success")
    return redirect(url_for("coordination.accounts"), 303)


@blueprint.route("/accounts/new", methods=["GET", "POST"])
@login_required
def account_new() -> Any:
    """Open a system account (a pool or a commons); members' accounts are opened on admission."""
    principal = _reader()
    form = SystemAccountForm()
    if request.method == "GET":
        return render_template("coordination/account_new.html", form=form, error=None, example=_example_limit())
    if not principal.can_administer:
        abort(403)

    def page(error: str | None = None) -> tuple[str, int]:
        return render_template("coordination/account_new.html", form=form, error=error, example=_example_limit()), 400

    is_valid = form.validate_on_submit()
    floor = _read_limit(form.floor, floor=True)
    ceiling = _read_limit(form.ceiling, floor=False)
    if not is_valid or any(f.errors for f in form):
        return page(_("Please check what you entered."))
    try:
        view = ledger.open_account(
            db_session(),
            code=form.code.data or "",
            name=(form.name.data or "").strip(),
            kind=form.kind.data or "",
            floor=floor,
            ceiling=ceiling,
            actor=principal.actor,
        )
    except errors.AlreadyExists:
        form.code.errors = [_("An account with that code already exists.")]
        return page()
    except errors.MutualCreditError as refused:
        return page(error_message(refused))
    flash(_("Account %(code)s is open.", code=view.code), "success")
    return redirect(url_for("coordination.accounts"), 303)


def _set_account_status(code: str, status: str) -> Any:
    principal = _administrator()
    account = _account_or_404(code)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Say why, in the reason field."), "error")
        return redirect(url_for("coordination.accounts"), 303)
    try:
        ledger.set_account_status(db_session(), account.code, status=status, actor=principal.actor, reason=form.reason.data or "")
    except errors.NotFound as refused:
        refuse(refused)
    except errors.MutualCreditError as refused:
        flash(error_message(refused), "error")
        return redirect(url_for("coordination.accounts"), 303)
    if status == "frozen":
        flash(_("Account %(code)s is frozen: it neither pays nor is paid.", code=code), "success")
    else:
        flash(_("Account %(code)s is open again.", code=code), "success")
    return redirect(url_for("coordination.accounts"), 303)


@blueprint.post("/accounts/<code>/freeze")
@login_required
def account_freeze(code: str) -> Any:
    """Freeze an account (with a reason): nothing is paid from or to it until it is unfrozen."""
    return _set_account_status(code, "frozen")


@blueprint.post("/accounts/<code>/unfreeze")
@login_required
def account_unfreeze(code: str) -> Any:
    """Open a frozen account again (with a reason)."""
    return _set_account_status(code, "open")


# ---------------------------------------------------------------------------
# The audit


@blueprint.route("/audit", methods=["GET", "POST"])
@login_required
def audit() -> Any:
    """What the audit checks and the last run's result; running it shows every finding."""
    principal = _reader()
    result: dict[str, Any] | None = None
    is_fresh = request.method == "POST"
    if is_fresh:
        if not principal.can_run_audit:
            abort(403)
        if not PostForm().validate_on_submit():
            abort(400)
        try:
            report = admin.run_audit_as(db_session(), principal, trusted_public_key=_trusted_public_key())
        except errors.NotAllowed as refused:
            refuse(refused)
        result = {
            "is_clean": report.is_clean,
            "account_count": report.account_count,
            "transfer_count": report.transfer_count,
            "checkpoint_id": report.checkpoint_id,
            "finding_count": len(report.findings),
            "findings": [finding.as_dict() for finding in report.findings],
        }
    last = admin.last_audit_run(db_session())
    db_session().rollback()
    if result is None and last is not None:
        result = dict(last.details)
    return render_template(
        "coordination/audit.html",
        principal=principal,
        result=result,
        is_fresh=is_fresh,
        last=last,
        form=PostForm(formdata=None),
    )


# ---------------------------------------------------------------------------
# The activity log


@blueprint.get("/activity")
@login_required
def activity() -> Any:
    """Every administrative act, newest first, 50 to a page; filtered by who and what."""
    principal = _reader()
    form = ActivityFilterForm(request.args)
    form.kind.choices = [SelectChoice("", _("Everything"))] + [SelectChoice(k, label) for k, label in ACTIVITY_KINDS.items()]
    if not form.validate():
        return render_template(
            "coordination/activity.html", principal=principal, form=form, entries=(), next_before_id=None,
            action_labels=ACTION_LABELS, details_text=_details_text, filters={},
        ), 400
    before_id = request.args.get("before", type=int)
    filters = {
        key: value
        for key, value in (("actor", (form.actor.data or "").strip()), ("kind", form.kind.data or ""), ("action", (form.action.data or "").strip()))
        if value
    }
    page = list_activity(
        db_session(),
        actor=filters.get("actor"),
        kind=filters.get("kind"),
        action=filters.get("action"),
        before_id=before_id,
        limit=ACTIVITY_PAGE_SIZE_DEFAULT,
    )
    db_session().rollback()
    return render_template(
        "coordination/activity.html",
        principal=principal,
        form=form,
        entries=page.entries,
        next_before_id=page.next_before_id,
        is_first_page=before_id is None,
        action_labels=ACTION_LABELS,
        details_text=_details_text,
        filters=filters,
    )
