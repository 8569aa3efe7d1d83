"""Signed checkpoints: a Merkle root over every account's chain head.

The region signs each checkpoint with its Ed25519 key. Members and peer
regions that keep a checkpoint can later prove that history before it was
not rewritten: every head it names must still lie on its account's chain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.db import utc_now
from mutualcredit.ledger.chain import merkle_root
from mutualcredit.ledger.models import Account, Checkpoint
from mutualcredit.region.service import get_region


def checkpoint_message(region_slug: str, created_at: dt.datetime, account_count: int, root: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    stamp = created_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"mutualcredit-checkpoint:v1:{region_slug}:{stamp}:{account_count}:{root}".encode()


def load_or_create_signing_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """The region's private key from a PEM file (created, mode 0600, when asked)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise errors.SigningKeyMissing(f"{path} does not hold an Ed25519 private key")
        return key
    if not create:
        raise errors.SigningKeyMissing(f"no signing key at {path}")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def verify_signature(public_key_hex_value: str, signature_hex: str, message: bytes) -> bool:
    """Whether the signature over the message is valid for the public key."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex_value))
        public.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class CheckpointView:
    id: int
    created_at: dt.datetime
    account_count: int
    merkle_root: str
    public_key: str
    signature: str


def create_checkpoint(
    session: Session, *, key: Ed25519PrivateKey, created_by: str, now: dt.datetime | None = None
) -> CheckpointView:
    """Sign a Merkle root over all account heads, read in one consistent snapshot."""
    now = now or utc_now()
    try:
        region = get_region(session)
        # Locking every account row in id order (the ledger's lock order)
        # makes the heads one consistent cut of history.
        heads = session.execute(select(Account.id, Account.head).order_by(Account.id).with_for_update()).all()
        leaves = [[account_id, head] for account_id, head in heads]
        root = merkle_root([(account_id, head) for account_id, head in heads])
        message = checkpoint_message(region.slug, now, len(leaves), root)
        checkpoint = Checkpoint(
            created_at=now,
            created_by=created_by,
            region_slug=region.slug,
            account_count=len(leaves),
            leaves=leaves,
            merkle_root=root,
            public_key=public_key_hex(key),
            signature=key.sign(message).hex(),
        )
        session.add(checkpoint)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return CheckpointView(
        id=checkpoint.id,
        created_at=checkpoint.created_at,
        account_count=checkpoint.account_count,
        merkle_root=root,
        public_key=checkpoint.public_key,
        signature=checkpoint.signature,
    )
