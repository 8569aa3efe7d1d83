"""Authorization matrix: account statements and their downloads (readers of the account's member only)."""

from __future__ import annotations

from matrix_support import Case, logged_in

STATEMENT_RULES = ("/accounts/<code>/statement", "/accounts/<code>/statement.csv", "/accounts/<code>/statement.beancount")

CASES = []
for rule in STATEMENT_RULES:
    CASES += [
        Case(f"alpha's statement ({rule})", "GET", rule, logged_in(200, treasurer_b=404), path=rule.replace("<code>", "alpha")),
        Case(
            f"beta's statement (forged code for alpha's people) ({rule})",
            "GET",
            rule,
            logged_in(200, treasurer_a=404, viewer_a=404),
            path=rule.replace("<code>", "beta") + "?from=2026-01-01&counterparty=alpha",
        ),
        Case(
            f"the commons' statement (regional readers only) ({rule})",
            "GET",
            rule,
            logged_in(404, coordinator=200, auditor=200, admin=200),
            path=rule.replace("<code>", "commons"),
        ),
        Case(f"an account that does not exist ({rule})", "GET", rule, logged_in(404), path=rule.replace("<code>", "no-such-account")),
        Case(
            f"alpha's statement with a bad filter ({rule})",
            "GET",
            rule,
            logged_in(400, treasurer_b=404),
            path=rule.replace("<code>", "alpha") + "?from=2026-02-01&to=2026-01-01",
        ),
    ]
