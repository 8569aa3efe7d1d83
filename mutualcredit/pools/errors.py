"""Errors of the pools domain, each with a stable code (see ``mutualcredit.errors``)."""

from __future__ import annotations

from mutualcredit import errors


class PoolNotFound(errors.NotFound):
    """No pool has that slug."""

    code = "pool_not_found"


class RoundNotFound(errors.NotFound):
    """No round has that reference."""

    code = "round_not_found"


class NeedNotFound(errors.NotFound):
    """No need has that id in this round."""

    code = "need_not_found"


class RunNotFound(errors.NotFound):
    """No run has that id."""

    code = "run_not_found"


class RoundNotInState(errors.Conflict):
    """The round is not in a state that allows this (see the round's lifecycle)."""

    code = "round_not_in_state"


class RunInProgress(errors.Conflict):
    """A run of this round is queued or running; wait for it to finish."""

    code = "run_in_progress"


class ReviewNotOver(errors.Conflict):
    """The round's review window has not ended yet; members may still object."""

    code = "review_not_over"


class ReviewOver(errors.Conflict):
    """The round's review window has ended; objections are no longer taken."""

    code = "review_over"


class NoValidResult(errors.Conflict):
    """The round's latest run found no valid allocation (or there is none yet)."""

    code = "no_valid_result"


class InvalidPoolInput(errors.InvalidInput):
    """A pool, round, contribution or need field is not valid; ``field`` names it."""

    code = "invalid_pool_input"
    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)
        self.field = field
