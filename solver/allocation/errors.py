"""Typed errors of the allocation solver: a stable ``code`` and the ``field`` path of what was refused.

``field`` is a path into the problem as the JSON file spells it
(``needs[3].minimum``, ``resources[0].slots[2].capacity``, ``policy.member_cap_share``);
it is ``""`` when the refusal concerns the whole input (a file that is not JSON).
"""

from __future__ import annotations


class AllocationError(ValueError):
    """Root of the allocation solver's errors; ``code`` is stable, ``field`` says where."""

    code = "allocation_error"

    def __init__(self, message: str, *, field: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.line = line  # a file that is not JSON: where the parser stopped
        self.column = column


class InvalidProblem(AllocationError):
    """The problem is malformed: an id, a quantity, a weight, a slot or a policy value is not allowed."""

    code = "invalid_problem"


class TooLarge(AllocationError):
    """The problem exceeds a named maximum (``validate.NEEDS_MAX``, ``SLOTS_MAX``, ``QUANTITY_MINOR_MAX``...)."""

    code = "too_large"
