"""The member directory: every co-op's trade, what it offers and what it needs, searchable.

Every logged-in person reads the directory and the profiles (they show no
balance and no contact details); a co-op's treasurers edit its description
and its offers and wants (``Principal.can_edit_listing_of``). The rules are
`mutualcredit.members.directory`'s.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, SearchField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from mutualcredit import errors
from mutualcredit.members import directory
from webapp.auth import PostForm, add_error_pages, current_principal, refuse
from webapp.db import db_session
from webapp.i18n import error_message

blueprint = add_error_pages(Blueprint("directory", __name__))

EXCERPT_LENGTH = 200
KIND_CHOICES = (
    SelectChoice("", _l("Offers and wants")),
    SelectChoice(directory.ListingKind.OFFER, _l("Offers only")),
    SelectChoice(directory.ListingKind.WANT, _l("Wants only")),
)


class SearchForm(FlaskForm):
    """The directory's search, read from the query string (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search by name, trade, offer or want"), validators=[Length(max=directory.QUERY_LENGTH_MAX)])
    kind = SelectField(_l("Show"), choices=KIND_CHOICES, default="")


class DescriptionForm(FlaskForm):
    form = HiddenField(default="description")
    description = TextAreaField(_l("About the co-op"), validators=[Length(max=directory.DESCRIPTION_LENGTH_MAX)])


class ListingForm(FlaskForm):
    form = HiddenField(default="listing")
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(directory.ListingKind.OFFER, _l("We offer")), SelectChoice(directory.ListingKind.WANT, _l("We need"))],
    )
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=directory.TITLE_LENGTH_MAX)])
    details = TextAreaField(_l("Details (optional)"), validators=[Length(max=directory.DETAILS_LENGTH_MAX)])


@blueprint.get("/directory")
@login_required
def index() -> tuple[str, int]:
    """Active members with their trade, offers and wants; searchable, and filtered by kind."""
    form = SearchForm(formdata=request.args)
    if not form.validate():
        return render_template("directory/index.html", form=form, result=None, excerpt_length=EXCERPT_LENGTH), 400
    result = directory.search_directory(db_session(), query=form.q.data or "", kind=form.kind.data or None)
    return render_template("directory/index.html", form=form, result=result, excerpt_length=EXCERPT_LENGTH), 200


def _profile_or_404(slug: str) -> directory.ProfileView:
    try:
        return directory.get_profile(db_session(), slug)
    except errors.NotFound as missing:
        refuse(missing)


@blueprint.get("/directory/<slug>")
@login_required
def member(slug: str) -> str:
    """One co-op's profile: name, trade, description, offers and wants."""
    profile = _profile_or_404(slug)
    return render_template("directory/member.html", profile=profile, can_edit=current_principal().can_edit_listing_of(slug))


def _editable_profile(slug: str) -> directory.ProfileView:
    """The profile, if this person may edit it: 404 for an unknown member, 403 for anyone but its treasurers."""
    profile = _profile_or_404(slug)
    if not current_principal().can_edit_listing_of(slug):
        abort(403)
    return profile


def _render_edit(profile: directory.ProfileView, description_form: DescriptionForm, listing_form: ListingForm, status: int = 200, error: str | None = None) -> tuple[str, int]:
    return render_template(
        "directory/edit.html",
        profile=profile,
        description_form=description_form,
        listing_form=listing_form,
        delete_form=PostForm(),
        error=error,
    ), status


@blueprint.route("/directory/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str) -> Any:
    """Edit the co-op's description, and add offers and wants (its treasurers only)."""
    profile = _editable_profile(slug)
    actor = current_principal().actor
    if request.method == "GET":
        return _render_edit(profile, DescriptionForm(formdata=None, description=profile.description), ListingForm(formdata=None))
    which = request.form.get("form")
    if which == "description":
        description_form = DescriptionForm()
        if not description_form.validate_on_submit():
            return _render_edit(profile, description_form, ListingForm(formdata=None), 400)
        try:
            directory.set_description(db_session(), slug, description=description_form.description.data or "", actor=actor)
        except errors.InvalidInput as refused:
            description_form.description.errors = [error_message(refused)]
            return _render_edit(profile, description_form, ListingForm(formdata=None), 400)
        flash(_("The description is saved."), "success")
        return redirect(url_for("directory.edit", slug=slug), 303)
    if which == "listing":
        listing_form = ListingForm()
        description_form = DescriptionForm(formdata=None, description=profile.description)
        if not listing_form.validate_on_submit():
            return _render_edit(profile, description_form, listing_form, 400)
        try:
            view = directory.add_listing(
                db_session(),
                slug,
                kind=listing_form.kind.data or "",
                title=listing_form.title.data or "",
                details=listing_form.details.data or "",
                actor=actor,
            )
        except errors.InvalidInput as refused:
            field = {"title": listing_form.title, "details": listing_form.details}.get(str(refused.details.get("field")), listing_form.kind)
            field.errors = [error_message(refused)]
            return _render_edit(profile, description_form, listing_form, 400)
        except directory.TooManyListings as refused:
            return _render_edit(profile, description_form, listing_form, 400, error=error_message(refused))
        flash(_("“%(title)s” is added.", title=view.title), "success")
        return redirect(url_for("directory.edit", slug=slug), 303)
    abort(400)


@blueprint.post("/directory/<slug>/listings/<int:listing_id>/delete")
@login_required
def delete_listing(slug: str, listing_id: int) -> Any:
    """Remove one of the co-op's offers or wants (its treasurers only; another co-op's listing is not found)."""
    _editable_profile(slug)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        view = directory.delete_listing(db_session(), slug, listing_id, actor=current_principal().actor)
    except errors.NotFound as missing:
        refuse(missing)
    flash(_("“%(title)s” is removed.", title=view.title), "success")
    return redirect(url_for("directory.edit", slug=slug), 303)
