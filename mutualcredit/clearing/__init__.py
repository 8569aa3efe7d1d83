"""Multilateral clearing of obligations: the solver put to work for the region.

Cancels cycles of obligation (A owes B, B owes C, C owes A) while every
participant's net position stays exactly as it was. The optimisation lives in
``solver.clearing`` (pure, no database); this package reads obligations from
files, maps the solver's errors to the project's typed errors, and offers the
``mutualcredit clearing`` commands. Invariants it keeps: a solver's answer is
verified by the independent checker (``solver.clearing_check``) before it is
shown or used, and amounts are integers in minor units at the input's scale.
"""
