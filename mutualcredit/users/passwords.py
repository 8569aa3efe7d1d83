"""Password hashing with argon2id: parameters, hashing, verifying, upgrading.

Production uses argon2-cffi's defaults (RFC 9106's low-memory profile:
3 passes over 64 MiB with 4 lanes). Tests may pass cheaper parameters
explicitly; nothing reads them from the environment, so a deployment
cannot lower them by accident.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mutualcredit.users.errors import PasswordNotAccepted

PASSWORD_LENGTH_MIN = 10
# Long enough for any passphrase, short enough that hashing it is no denial of service.
PASSWORD_LENGTH_MAX = 1024


@dataclass(frozen=True, slots=True)
class PasswordHashing:
    """Argon2id cost parameters."""

    time_cost: int = 3
    memory_cost_kib: int = 65_536
    parallelism: int = 4


PRODUCTION_HASHING = PasswordHashing()
# For tests only: argon2's minimum memory, one pass. Never configure this in production.
FAST_HASHING_FOR_TESTS = PasswordHashing(time_cost=1, memory_cost_kib=8, parallelism=1)


@functools.lru_cache(maxsize=8)
def _hasher(hashing: PasswordHashing) -> PasswordHasher:
    return PasswordHasher(
        time_cost=hashing.time_cost, memory_cost=hashing.memory_cost_kib, parallelism=hashing.parallelism
    )


@functools.lru_cache(maxsize=8)
def _dummy_hash(hashing: PasswordHashing) -> str:
    return _hasher(hashing).hash(secrets.token_urlsafe(32))


def check_new_password(password: str) -> None:
    """Refuse a new password that is too short or too long."""
    if len(password) < PASSWORD_LENGTH_MIN:
        raise PasswordNotAccepted(
            f"a password needs at least {PASSWORD_LENGTH_MIN} characters", length_min=PASSWORD_LENGTH_MIN
        )
    if len(password) > PASSWORD_LENGTH_MAX:
        raise PasswordNotAccepted(
            f"a password has at most {PASSWORD_LENGTH_MAX} characters", length_max=PASSWORD_LENGTH_MAX
        )


def hash_password(password: str, hashing: PasswordHashing) -> str:
    """The argon2id hash to store (salted; never the password itself)."""
    return _hasher(hashing).hash(password)


def verify_password(stored_hash: str | None, password: str, hashing: PasswordHashing) -> bool:
    """Whether ``password`` matches; with no stored hash, spend the same time and say no.

    Verifying against a dummy hash for unknown emails keeps the time a login
    takes from telling whether the email is registered.
    """
    if len(password) > PASSWORD_LENGTH_MAX:
        stored_hash = None  # no stored password is that long; still spend the time
        password = password[:PASSWORD_LENGTH_MAX]
    if stored_hash is None:
        try:
            _hasher(hashing).verify(_dummy_hash(hashing), password)
        except VerificationError:
            pass
        return False
    try:
        return _hasher(hashing).verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, hashing: PasswordHashing) -> bool:
    """Whether a hash was made with other parameters than ``hashing`` (then rehash at login)."""
    return _hasher(hashing).check_needs_rehash(stored_hash)
