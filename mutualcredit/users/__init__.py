"""People who use the web app: accounts, roles, invitations and what each may do.

A user logs in with an email (unique, compared case-insensitively: it is
stored lower-cased, and the database refuses any other form) and a password
kept only as an argon2 hash. What a user may do follows from roles alone:

- per member (co-op): ``treasurer`` (reads the co-op's data, pays, invoices,
  accepts or rejects requests, manages its API tokens) or ``viewer`` (reads
  only); at most one role per user and member;
- regional: ``coordinator``, ``auditor`` and ``admin``; all three read every
  member's data; none of them ever pays from a member's account.

``Principal`` (in ``permissions``) answers every "may this person ..."
question; views, API resources and commands ask it and hold no rule of
their own. Invitations are one-time and expire; their secret, like a
password, is never stored. Every administrative act is in the activity log.
This package never imports Flask.
"""
