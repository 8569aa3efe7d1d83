"""What a user can get wrong about accounts, passwords and invitations."""

from __future__ import annotations

from mutualcredit import errors


class LoginRefused(errors.MutualCreditError):
    """Wrong email or password, or too many failed attempts: try again later.

    The same error, with the same message, for an unknown email, a wrong
    password, a locked or a deactivated account, so that a login attempt
    never tells whether an email is registered. ``details["reason"]`` says
    which, for logs and tests only.
    """

    code = "login_refused"
    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__("wrong email or password, or too many failed attempts: try again later", reason=reason)


class UserNotFound(errors.NotFound):
    """No user has that email."""

    code = "user_not_found"


class EmailTaken(errors.AlreadyExists):
    """A user with that email already exists."""

    code = "email_taken"


class InvalidEmail(errors.InvalidInput):
    """That is not an email address."""

    code = "invalid_email"


class PasswordNotAccepted(errors.InvalidInput):
    """The new password is too short or too long."""

    code = "password_not_accepted"


class WrongPassword(errors.InvalidInput):
    """The current password is not right."""

    code = "wrong_password"


class InvitationNotValid(errors.NotFound):
    """The invitation link is unknown, already used or expired (one message for all three)."""

    code = "invitation_not_valid"


class UnknownLocale(errors.InvalidInput):
    """The web app is not translated into that language."""

    code = "unknown_locale"
