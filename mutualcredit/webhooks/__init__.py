"""Webhooks: members and schemes subscribe a URL to ledger events.

How an event travels, and what each step guarantees:

1. **Outbox** (`outbox.py`): a ledger change that others may want to hear
   about writes an event row IN THE SAME DATABASE TRANSACTION, so an event
   exists if and only if its change committed. Events are recorded only
   while at least one subscription is active, decided inside that same
   transaction (never from a process-local cache, which could go stale).
2. **Fan-out** (`worker.py`): the worker turns each committed event into one
   delivery per matching active subscription, once (a unique key on
   subscription and event).
3. **Delivery** (`worker.py`): the worker claims due deliveries (``FOR
   UPDATE SKIP LOCKED`` and a lease on PostgreSQL; SQLite's single writer
   lock elsewhere), commits, POSTs the signed body with no database
   transaction open, then records the attempt. A failed attempt is retried
   with exponential backoff until the delivery succeeds or runs out of
   attempts. Delivery is at least once: receivers de-duplicate on the
   ``Mutualcredit-Delivery`` header or the event id.

Signatures (`signing.py`) are HMAC-SHA256 over a timestamp and the body,
with a secret per subscription. This package never imports Flask.
"""
