"""The ledger: accounts, transfers, two-phase transfers, payment requests.

Invariants it keeps, each enforced in Python with a clear error and again
by the database:

* zero-sum: one transfer row moves one amount from one account to another,
  so the balances of a region always sum to zero;
* limits: no account's balance minus its pending debits goes below its
  floor, and no balance plus pending credits goes above its ceiling;
* cached figures (balance, pending totals, chain head) change in the same
  database transaction as the transfer that changes them, under row locks
  taken in account-id order (PostgreSQL) or the single writer lock (SQLite);
* append-only history: posted transfers are never edited or deleted; a
  pending transfer is resolved once, by a new row; a mistake is corrected
  by a reversing transfer;
* idempotency: a transfer's client-chosen id returns the first result when
  the content is the same, and ``IdempotencyConflict`` when it is not.
"""
