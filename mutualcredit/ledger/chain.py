"""Hash chains and Merkle roots: pure functions, no database.

Every transfer row is hashed over its content and the previous chain heads
of both accounts it touches; the row's hash becomes the new head of both.
A checkpoint is a Merkle root over (account id, head) leaves, signed with
the region's Ed25519 key. Changing any posted amount, or rewriting history
and recomputing the hashes, breaks a chain or a signed root.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

CHAIN_VERSION = "mc1"
FIELD_SEPARATOR = "\x1f"


def canonical_json(value: Mapping[str, Any]) -> str:
    """JSON with sorted keys and no spaces, so equal metadata hashes equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    assert value.tzinfo is not None
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def transfer_hash(
    *,
    id: uuid.UUID,
    kind: str,
    payer_account_id: int,
    payee_account_id: int,
    amount_minor: int,
    description: str,
    meta: Mapping[str, Any],
    pending_id: uuid.UUID | None,
    reverses_id: uuid.UUID | None,
    expires_at: dt.datetime | None,
    created_by: str,
    created_at: dt.datetime,
    payer_prev_head: str,
    payee_prev_head: str,
) -> str:
    """The SHA-256 (hex) of a transfer's content and both previous heads."""
    fields = (
        CHAIN_VERSION,
        id.hex,
        kind,
        str(payer_account_id),
        str(payee_account_id),
        str(amount_minor),
        description,
        canonical_json(meta),
        pending_id.hex if pending_id else "",
        reverses_id.hex if reverses_id else "",
        _timestamp(expires_at),
        created_by,
        _timestamp(created_at),
        payer_prev_head,
        payee_prev_head,
    )
    return hashlib.sha256(FIELD_SEPARATOR.join(fields).encode()).hexdigest()


def merkle_leaf(account_id: int, head: str) -> bytes:
    """A leaf of the checkpoint tree (domain-separated from inner nodes)."""
    return hashlib.sha256(b"\x00" + f"{account_id}:{head}".encode()).digest()


def merkle_root(leaves: Sequence[tuple[int, str]]) -> str:
    """The Merkle root (hex) over (account id, head) pairs, in account id order.

    Inner nodes hash ``0x01 || left || right``; an odd node is carried up
    unchanged. The root of no leaves is the hash of the empty string.
    """
    level = [merkle_leaf(account_id, head) for account_id, head in sorted(leaves)]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        paired = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()
