"""Resource pools shared by declared need (issue 6).

A pool holds resources (divisible quantities, or items and time slots);
members declare needs on them; a round allocates the pool by the rule the
members' assembly adopted, with the pure solver in ``solver.allocation``.
For now this package holds only ``solve_cli`` (``mutualcredit pools
solve FILE.json``: solve a round's file with no database, so that any
member can check a round on their own machine); the pools themselves
(models, services, rounds) come later.
"""
