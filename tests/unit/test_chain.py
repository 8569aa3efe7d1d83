"""Hash chains and Merkle roots are pure and change with any bit of content."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.ledger.chain import merkle_root, transfer_hash
from mutualcredit.ledger.checkpoint import checkpoint_message, public_key_hex, verify_signature

BASE = dict(
    id=uuid.UUID(int=1),
    kind="transfer",
    payer_account_id=1,
    payee_account_id=2,
    amount_minor=100,
    description="bread",
    meta={"b": 1, "a": [1, 2]},
    pending_id=None,
    reverses_id=None,
    expires_at=None,
    created_by="t",
    created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
    payer_prev_head="0" * 64,
    payee_prev_head="0" * 64,
)


def test_a_transfer_hash_is_stable_and_ignores_metadata_key_order() -> None:
    assert transfer_hash(**BASE) == transfer_hash(**{**BASE, "meta": {"a": [1, 2], "b": 1}})
    assert len(transfer_hash(**BASE)) == 64


def test_every_field_of_a_transfer_changes_its_hash() -> None:
    original = transfer_hash(**BASE)
    changes = {
        "id": uuid.UUID(int=2),
        "kind": "pending",
        "payer_account_id": 3,
        "payee_account_id": 4,
        "amount_minor": 101,
        "description": "bread!",
        "meta": {"b": 2},
        "pending_id": uuid.UUID(int=9),
        "reverses_id": uuid.UUID(int=9),
        "expires_at": dt.datetime(2026, 1, 3, tzinfo=dt.timezone.utc),
        "created_by": "u",
        "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=dt.timezone.utc),
        "payer_prev_head": "1" * 64,
        "payee_prev_head": "1" * 64,
    }
    for name, value in changes.items():
        assert transfer_hash(**{**BASE, name: value}) != original, name


@given(st.lists(st.tuples(st.integers(1, 10**6), st.text("0123456789abcdef", min_size=64, max_size=64)), min_size=1, max_size=40, unique_by=lambda leaf: leaf[0]))
def test_a_merkle_root_changes_when_any_head_changes(leaves: list[tuple[int, str]]) -> None:
    root = merkle_root(leaves)
    assert merkle_root(list(reversed(leaves))) == root  # order of input does not matter
    account_id, head = leaves[len(leaves) // 2]
    changed = [(a, ("f" if h[0] != "f" else "e") + h[1:]) if a == account_id else (a, h) for a, h in leaves]
    assert merkle_root(changed) != root
    assert merkle_root(leaves[:-1]) != root


def test_a_checkpoint_signature_verifies_only_for_its_message_and_key() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    message = checkpoint_message("ribera", at, 3, "ab" * 32)
    signature = key.sign(message).hex()
    assert verify_signature(public_key_hex(key), signature, message)
    assert not verify_signature(public_key_hex(other), signature, message)
    assert not verify_signature(public_key_hex(key), signature, checkpoint_message("ribera", at, 4, "ab" * 32))
    assert not verify_signature("zz", signature, message)
