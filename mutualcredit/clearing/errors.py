"""Typed errors of clearing, under the project's one root (``MutualCreditError``)."""

from __future__ import annotations

from mutualcredit.errors import InvalidInput, MutualCreditError


class InvalidObligationsFile(InvalidInput):
    """The obligations file is malformed."""

    code = "invalid_obligations_file"


class ClearingRefused(MutualCreditError):
    """The solver refused the obligations (too large, or no proven answer)."""

    code = "clearing_refused"


class SetOffNotVerified(MutualCreditError):
    """The independent checker found a problem with the solver's set-off."""

    code = "set_off_not_verified"
    status = 500
