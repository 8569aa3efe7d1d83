"""Idempotency keys for API writes: the same key and body answer the first response."""
