"""Translations of the web pages (Flask-Babel) and the choice of language.

The language is the logged-in user's own choice if they made one, else the
best match for the browser's Accept-Language, else English. Catalogues are
in ``webapp/translations/<locale>/LC_MESSAGES/messages.po`` (compiled
``.mo`` files are committed beside them; ``make translations`` refreshes
both). The services' error messages are English; pages show the translated
message for the error's code from ``error_message``.
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, get_locale, lazy_gettext
from flask_login import current_user

from mutualcredit import errors
from mutualcredit.members.directory import LISTINGS_PER_MEMBER_MAX
from mutualcredit.users.passwords import PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN
from mutualcredit.users.service import SUPPORTED_LOCALES

babel = Babel()

LOCALE_NAMES = {"en": "English", "es": "Español", "fr": "Français"}

ROLE_LABELS = {
    "treasurer": lazy_gettext("treasurer"),
    "viewer": lazy_gettext("viewer"),
    "coordinator": lazy_gettext("coordinator"),
    "auditor": lazy_gettext("auditor"),
    "admin": lazy_gettext("admin"),
}
STATUS_LABELS = {
    "active": lazy_gettext("active"),
    "suspended": lazy_gettext("suspended"),
    "left": lazy_gettext("left"),
}
PASSWORD_HINT = lazy_gettext(
    "At least %(length_min)s characters. A few unrelated words make a good one.", length_min=PASSWORD_LENGTH_MIN
)

# Messages for the error codes a page can meet; any other code shows the generic one.
_ERROR_MESSAGES = {
    "login_refused": lazy_gettext("Wrong email or password, or too many failed attempts. Try again later."),
    "invalid_email": lazy_gettext("That is not an email address."),
    "email_taken": lazy_gettext("Someone with that email already has an account."),
    "password_not_accepted": lazy_gettext(
        "A password needs between %(length_min)s and %(length_max)s characters.",
        length_min=PASSWORD_LENGTH_MIN,
        length_max=PASSWORD_LENGTH_MAX,
    ),
    "wrong_password": lazy_gettext("Your current password is not right."),
    "invitation_not_valid": lazy_gettext("This invitation link is not valid: it is unknown, already used or expired."),
    "unknown_locale": lazy_gettext("The app is not translated into that language."),
    "not_allowed": lazy_gettext("You may not do that."),
    "member_not_found": lazy_gettext("There is no such member."),
    "member_not_active": lazy_gettext("That member has left the region."),
    "token_not_found": lazy_gettext("There is no such token."),
    "invalid_input": lazy_gettext("Please check what you entered."),
    "invalid_amount": lazy_gettext("That is not a valid amount."),
    "exceeds_floor": lazy_gettext("There is not enough available credit for this payment."),
    "exceeds_ceiling": lazy_gettext("The other co-op cannot receive that much."),
    "idempotency_conflict": lazy_gettext("That number was already used for something different."),
    "invoice_not_found": lazy_gettext("There is no such invoice."),
    "invoice_not_open": lazy_gettext("That invoice cannot be changed in the state it is in now."),
    "clearing_run_not_found": lazy_gettext("There is no such clearing run."),
    "account_not_open": lazy_gettext("That account is frozen or closed."),
    "payment_request_not_found": lazy_gettext("There is no such payment request."),
    "payment_request_not_open": lazy_gettext("This request can no longer be answered: it was already answered, cancelled or has expired."),
    "auto_accept_rule_not_found": lazy_gettext("There is no such auto-accept rule."),
    "auto_accept_rule_exists": lazy_gettext("That account already has a rule for that co-op. Remove it first to set another amount."),
    "too_many_auto_accept_rules": lazy_gettext("Your co-op has as many auto-accept rules as allowed. Remove one first."),
    "invalid_period": lazy_gettext("The period ends before it starts."),
    "unknown_counterparty": lazy_gettext("There is no such account."),
    "statement_too_long": lazy_gettext("The period holds too many lines for one download. Choose a shorter period."),
    "listing_not_found": lazy_gettext("There is no such offer or want."),
    "too_many_listings": lazy_gettext("A profile holds at most %(count)s offers and wants. Remove one first.", count=LISTINGS_PER_MEMBER_MAX),
    "limit_excludes_balance": lazy_gettext("The balance, counting pending payments, would fall outside these limits."),
    "already_exists": lazy_gettext("That already exists."),
    "account_not_found": lazy_gettext("There is no such account."),
    "user_not_found": lazy_gettext("There is no such person."),
    "member_has_balance": lazy_gettext("Only an account with a zero balance and nothing pending can be closed."),
    "recurring_payment_not_found": lazy_gettext("There is no such recurring payment."),
    "too_many_recurring_payments": lazy_gettext("This account already has as many recurring payments as allowed. Cancel one first."),
    "same_account": lazy_gettext("A co-op cannot pay itself."),
    "pool_not_found": lazy_gettext("There is no such pool."),
    "round_not_found": lazy_gettext("There is no such round."),
    "need_not_found": lazy_gettext("There is no such need."),
    "run_not_found": lazy_gettext("There is no such run."),
    "round_not_in_state": lazy_gettext("The round is not at the step this needs."),
    "run_in_progress": lazy_gettext("The solver is still running for this round. Wait for it to finish."),
    "review_not_over": lazy_gettext("Members may still object; the round can be committed when the review ends."),
    "review_over": lazy_gettext("The review has ended; objections are no longer taken."),
    "no_valid_result": lazy_gettext("There is nothing to run or commit yet: the round needs contributions, needs and a valid result."),
    "invalid_pool_input": lazy_gettext("Please check what you entered."),
}
_GENERIC_ERROR = lazy_gettext("That did not work. Please check what you entered.")


def error_message(error: errors.MutualCreditError) -> str:
    """The translated message for a service error, by its stable code."""
    return str(_ERROR_MESSAGES.get(error.code, _GENERIC_ERROR))


def select_locale() -> str:
    """The user's chosen language, else the browser's best match, else English."""
    if current_user.is_authenticated:
        preferred = current_user.principal.preferred_locale
        if preferred in SUPPORTED_LOCALES:
            return str(preferred)
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or "en"


def current_locale() -> str:
    """The language of this request's page, as a locale code (``en``, ``es``, ``fr``)."""
    return str(get_locale() or "en")


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        current_locale=current_locale,
        locale_names=LOCALE_NAMES,
        role_labels=ROLE_LABELS,
        status_labels=STATUS_LABELS,
        password_hint=PASSWORD_HINT,
    )
