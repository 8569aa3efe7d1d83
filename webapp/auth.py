"""Logging in and out, invitations, one's own account; and the web app's security settings.

- Sessions: Flask-Login over Flask's signed session cookie (HttpOnly,
  SameSite=Lax, Secure unless ``MUTUALCREDIT_INSECURE_COOKIES``, debug or
  testing), which ends after ``SESSION_LIFETIME`` without a request and
  whenever the user's password changes (the cookie carries the user's login
  epoch).
- CSRF: every form posted to a page carries a Flask-WTF token; paths under
  ``CSRF_EXEMPT_PATH_PREFIXES`` (the JSON API, which takes bearer tokens and
  no cookies) are not checked.
- Login attempts are rate-limited per client address (``LOGIN_RATE_LIMIT``)
  and, in the service, locked per account after repeated failures; the page
  says the same thing whatever the cause.
- Password hashing uses production argon2 parameters; a ``PASSWORD_HASHING``
  setting is honoured only when ``TESTING`` is on.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as http_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms import EmailField, HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from mutualcredit import errors
from mutualcredit.region.service import get_region
from mutualcredit.users import service as users
from mutualcredit.users.errors import InvitationNotValid, LoginRefused
from mutualcredit.users.passwords import PASSWORD_LENGTH_MAX, PRODUCTION_HASHING, PasswordHashing
from mutualcredit.users.permissions import Principal
from webapp.db import db_session
from webapp.extensions import limiter
from webapp.i18n import LOCALE_NAMES, SUPPORTED_LOCALES, error_message

log = logging.getLogger(__name__)

blueprint = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()

CSRF_EXEMPT_PATH_PREFIXES = ("/api/",)
SESSION_LIFETIME = dt.timedelta(hours=12)
LOGIN_RATE_LIMIT_DEFAULT = "10 per minute"
SITE_NAME_DEFAULT = "mutualcredit"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# ---------------------------------------------------------------------------
# Who is asking


class WebUser(UserMixin):
    """Flask-Login's user: a principal, identified by user id and login epoch."""

    def __init__(self, principal: Principal) -> None:
        assert principal.user_id is not None
        self.principal = principal

    def get_id(self) -> str:
        return f"{self.principal.user_id}:{self.principal.login_epoch}"


@login_manager.user_loader
def load_user(session_id: str) -> WebUser | None:
    user_id, _, epoch = session_id.partition(":")
    try:
        principal = users.load_principal(db_session(), int(user_id), login_epoch=int(epoch))
    except ValueError:
        return None
    except SQLAlchemyError:
        log.exception("could not load the session's user")
        principal = None
    finally:
        db_session().rollback()
    return WebUser(principal) if principal is not None else None


def current_principal() -> Principal:
    """Who is asking: the logged-in user, or ``Principal.anonymous()``."""
    if current_user.is_authenticated:
        principal: Principal = current_user.principal
        return principal
    return Principal.anonymous()


def password_hashing() -> PasswordHashing:
    hashing: PasswordHashing = current_app.config["PASSWORD_HASHING"]
    return hashing


def refuse(error: errors.MutualCreditError) -> NoReturn:
    """Turn a service's permission or not-found error into the matching error page."""
    if isinstance(error, errors.NotAllowed):
        abort(403)
    if isinstance(error, errors.NotFound):
        abort(404)
    raise error


def safe_next(target: str | None) -> str | None:
    """A redirect target only if it stays on this site (a path, not another host)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def site_name() -> str:
    """The region's name for page headers; a default while the database is not ready."""
    if "site_name" not in g:
        try:
            g.site_name = get_region(db_session()).name
        except errors.RegionNotConfigured:
            g.site_name = SITE_NAME_DEFAULT
        except SQLAlchemyError:
            db_session().rollback()
            g.site_name = SITE_NAME_DEFAULT
    name: str = g.site_name
    return name


# ---------------------------------------------------------------------------
# Error pages for every page blueprint (the API answers problem+json instead)


def _error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("errors/error.html", status=status, title=title, message=message), status


def add_error_pages(page_blueprint: Blueprint) -> Blueprint:
    """Translated HTML pages for 400 (and a refused CSRF token), 403, 404 and 429 on ``page_blueprint``."""

    @page_blueprint.errorhandler(CSRFError)
    def on_csrf_error(_error: CSRFError) -> tuple[str, int]:
        return _error_page(
            400,
            _("The form has expired"),
            _("The form was too old or not sent from this site. Go back, reload the page and try again."),
        )

    @page_blueprint.errorhandler(400)
    def on_bad_request(_error: HTTPException) -> tuple[str, int]:
        return _error_page(400, _("Bad request"), _("The request was not understood."))

    @page_blueprint.errorhandler(403)
    def on_forbidden(_error: HTTPException) -> tuple[str, int]:
        return _error_page(403, _("Not allowed"), _("Your roles do not allow this."))

    @page_blueprint.errorhandler(404)
    def on_not_found(_error: HTTPException) -> tuple[str, int]:
        return _error_page(404, _("Not found"), _("There is nothing here."))

    @page_blueprint.errorhandler(429)
    def on_too_many(_error: HTTPException) -> tuple[str, int]:
        return _error_page(429, _("Too many attempts"), _("Too many attempts from your address. Wait a minute and try again."))

    return page_blueprint


add_error_pages(blueprint)


# ---------------------------------------------------------------------------
# Forms


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(), Length(max=users.EMAIL_LENGTH_MAX)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=PASSWORD_LENGTH_MAX)])
    next = HiddenField()


class NewPasswordMixin:
    password = PasswordField(_l("New password"), validators=[InputRequired(), Length(max=PASSWORD_LENGTH_MAX)])
    confirm = PasswordField(
        _l("New password, again"),
        validators=[InputRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class InvitationForm(NewPasswordMixin, FlaskForm):
    display_name = StringField(_l("Your name"), validators=[InputRequired(), Length(max=users.DISPLAY_NAME_LENGTH_MAX)])


class PasswordForm(NewPasswordMixin, FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[InputRequired(), Length(max=PASSWORD_LENGTH_MAX)])


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), validate_choice=False)


class PostForm(FlaskForm):
    """A form with nothing but its CSRF token (log out, revoke)."""


def _language_form() -> LanguageForm:
    form = LanguageForm(prefix="language")
    form.locale.choices = [SelectChoice("", _("The browser's language"))] + [SelectChoice(code, name) for code, name in LOCALE_NAMES.items()]
    return form


# ---------------------------------------------------------------------------
# Views


def _start_session(principal: Principal) -> None:
    # A fresh session at login, so nothing from before it (a fixated id, an old CSRF token) survives.
    http_session.clear()
    login_user(WebUser(principal))
    http_session.permanent = True


def _login_rate_limit() -> str:
    limit: str = current_app.config["LOGIN_RATE_LIMIT"]
    return limit


def _client_address() -> str:
    return "login:" + (request.remote_addr or "unknown")


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"], key_func=_client_address)
def login() -> Any:
    """Log in with email and password."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        return render_template("auth/login.html", form=form, error=None)
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form, error=None), 400
    try:
        principal = users.authenticate(
            db_session(), email=form.email.data or "", password=form.password.data or "", hashing=password_hashing()
        )
    except LoginRefused as refused:
        log.info("login refused (%s) from %s", refused.details.get("reason"), request.remote_addr)
        form.password.data = ""
        return render_template("auth/login.html", form=form, error=error_message(refused)), 200
    _start_session(principal)
    return redirect(safe_next(form.next.data) or url_for("treasury.home"), 303)


@blueprint.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """Log out (a POST with the form's token; a GET only asks for confirmation)."""
    if request.method == "GET":
        return render_template("auth/logout.html", form=PostForm())
    logout_user()
    http_session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"), 303)


@blueprint.route("/invitations/<secret>", methods=["GET", "POST"])
def invitation(secret: str) -> Any:
    """Accept an invitation: choose a name and a password, and be logged in."""
    session = db_session()
    try:
        invited = users.get_invitation(session, secret)
    except InvitationNotValid as error:
        return _error_page(404, _("Invitation not valid"), error_message(error))
    form = InvitationForm()
    error = None
    if form.validate_on_submit():
        try:
            principal = users.accept_invitation(
                session,
                secret=secret,
                display_name=form.display_name.data or "",
                password=form.password.data or "",
                hashing=password_hashing(),
            )
        except InvitationNotValid as refused:
            return _error_page(404, _("Invitation not valid"), error_message(refused))
        except errors.MutualCreditError as refused:
            error = error_message(refused)
        else:
            _start_session(principal)
            flash(_("Welcome! Your account is ready."), "info")
            return redirect(url_for("pages.index"), 303)
    status = 400 if request.method == "POST" else 200
    response = Response(render_template("auth/invitation.html", form=form, invitation=invited, error=error), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/account")
@login_required
def account() -> str:
    """One's own account: roles, language, password."""
    principal = current_principal()
    language = _language_form()
    language.locale.data = principal.preferred_locale or ""
    return render_template("auth/account.html", principal=principal, language_form=language, password_form=PasswordForm())


@blueprint.post("/account/language")
@login_required
def account_language() -> Any:
    """Choose the language of the pages."""
    form = _language_form()
    if not form.validate_on_submit():
        abort(400)
    chosen = form.locale.data or None
    try:
        users.set_preferred_locale(db_session(), user_id=current_principal().user_id or 0, locale=chosen)
    except errors.InvalidInput:
        abort(400)
    # Said in the language just chosen (this request still runs in the old one).
    with force_locale(chosen or request.accept_languages.best_match(SUPPORTED_LOCALES) or "en"):
        flash(_("Language saved."), "info")
    return redirect(url_for("auth.account"), 303)


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def account_password() -> Any:
    """Change one's password (other sessions end)."""
    principal = current_principal()
    form = PasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            renewed = users.change_password(
                db_session(),
                user_id=principal.user_id or 0,
                current_password=form.current_password.data or "",
                new_password=form.password.data or "",
                hashing=password_hashing(),
            )
        except errors.MutualCreditError as refused:
            error = error_message(refused)
        else:
            _start_session(renewed)  # this session goes on; every other one ended with the old epoch
            flash(_("Your password is changed."), "info")
            return redirect(url_for("auth.account"), 303)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form, error=error), status


# ---------------------------------------------------------------------------
# Binding to the app


def _security_headers(response: Response) -> Response:
    if request.path.startswith(CSRF_EXEMPT_PATH_PREFIXES):
        return response
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        # Pages show people's balances and tokens: no shared or back-button caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class PageSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions for the pages only.

    The JSON API authenticates every call by its bearer token: it neither
    reads nor sets the session cookie (a cookie sent along is ignored), and
    skips the cost of verifying and re-signing it.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if request.path.startswith(CSRF_EXEMPT_PATH_PREFIXES):
            return self.make_null_session(app)  # type: ignore[return-value]
        return super().open_session(app, request)


def _check_csrf() -> None:
    if request.path.startswith(CSRF_EXEMPT_PATH_PREFIXES):
        return
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect(apply_exemptions=True)


def init_app(app: Flask) -> None:
    """Sessions, cookies, CSRF, login limits and password hashing for ``app``."""
    insecure = bool(app.config.get("INSECURE_COOKIES")) or app.debug or app.testing
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not insecure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=not insecure,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by _check_csrf, which skips the JSON API
    )
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", SESSION_LIFETIME)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    app.config.setdefault("LOGIN_RATE_LIMIT", LOGIN_RATE_LIMIT_DEFAULT)
    configured = app.config.get("PASSWORD_HASHING")
    if configured is not None and not app.testing:
        log.warning("PASSWORD_HASHING is honoured only in tests; using the production parameters")
    app.config["PASSWORD_HASHING"] = configured if configured is not None and app.testing else PRODUCTION_HASHING
    proxy_hops = int(app.config.get("PROXY_HOPS") or 0)
    if proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops)  # type: ignore[method-assign]

    app.session_interface = PageSessionInterface()
    csrf.init_app(app)
    app.before_request(_check_csrf)
    app.after_request(_security_headers)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    app.jinja_env.globals.update(site_name=site_name, current_principal=current_principal)
    app.register_blueprint(blueprint)
