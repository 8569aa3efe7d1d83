"""The database itself refuses bad rows, and the audit catches what it cannot refuse.

These tests bypass the services and write with plain SQL, as a bug or a
careless administrator would, and commit for real.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.ledger.checkpoint import create_checkpoint
from mutualcredit.ledger.service import TransferSpec


def pay(session: Session, payer: str, payee: str, amount: int, **kwargs) -> ledger.TransferResult:
    return ledger.create_transfer(
        session, TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=amount, **kwargs), created_by="t"
    )


def raw(engine: sa.Engine, sql: str, **params) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)


def without_transfer_guards(engine: sa.Engine, sql: str, **params) -> None:
    """Edit transfers as someone with full database access could, switching the triggers off."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("ALTER TABLE transfers DISABLE TRIGGER transfers_append_only"))
            connection.execute(sa.text(sql), params)
            connection.execute(sa.text("ALTER TABLE transfers ENABLE TRIGGER transfers_append_only"))
        else:
            connection.execute(sa.text("DROP TRIGGER transfers_no_edit"))
            connection.execute(sa.text(sql), params)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts SET balance = -100001 WHERE code = 'alpha'",  # below the floor
        "UPDATE accounts SET debits_pending = 100001 WHERE code = 'alpha'",  # holds below the floor
        "UPDATE accounts SET balance = 50001 WHERE code = 'gamma'",  # above the ceiling
        "UPDATE accounts SET credits_pending = 50001 WHERE code = 'gamma'",
        "UPDATE accounts SET debits_pending = -1 WHERE code = 'beta'",
        "UPDATE accounts SET floor = 10 WHERE code = 'beta'",
        "UPDATE accounts SET floor = NULL WHERE code = 'beta'",  # a member always has a floor
    ],
)
def test_the_database_refuses_an_account_outside_its_limits(region: Session, engine: sa.Engine, sql: str) -> None:
    region.close()
    with pytest.raises(sa.exc.IntegrityError):
        raw(engine, sql)


def test_the_database_refuses_a_transfer_with_a_non_positive_amount_or_one_account(region: Session, engine: sa.Engine) -> None:
    original = pay(region, "alpha", "beta", 100)
    region.close()
    columns = (
        "id, kind, state, payer_account_id, payee_account_id, amount_minor, description, metadata, "
        "created_by, created_at, payer_prev_head, payee_prev_head, hash"
    )
    values = (
        ":id, 'transfer', 'posted', 2, :payee, :amount, '', '{}', 'x', CURRENT_TIMESTAMP, '0', '0', '0'"
    )
    for amount, payee in ((0, 3), (-5, 3), (10, 2)):
        with pytest.raises(sa.exc.IntegrityError):
            raw(engine, f"INSERT INTO transfers ({columns}) VALUES ({values})", id=uuid.uuid4().hex if engine.dialect.name == "sqlite" else str(uuid.uuid4()), payee=payee, amount=amount)
    assert original.amount_minor == 100


def test_the_database_refuses_to_edit_or_delete_a_posted_transfer(region: Session, engine: sa.Engine) -> None:
    transfer = pay(region, "alpha", "beta", 100)
    region.close()
    key = transfer.id.hex if engine.dialect.name == "sqlite" else str(transfer.id)
    for sql in (
        "UPDATE transfers SET amount_minor = 1 WHERE id = :id",
        "UPDATE transfers SET description = 'changed' WHERE id = :id",
        "UPDATE transfers SET state = 'voided' WHERE id = :id",
        "DELETE FROM transfers WHERE id = :id",
    ):
        with pytest.raises((sa.exc.IntegrityError, sa.exc.InternalError, sa.exc.OperationalError)):
            raw(engine, sql, id=key)


def test_the_database_lets_a_pending_transfer_be_resolved_only_once(region: Session, engine: sa.Engine) -> None:
    pending = pay(region, "alpha", "beta", 100, pending=True)
    ledger.void_pending_transfer(region, pending.id, created_by="t")
    region.close()
    key = pending.id.hex if engine.dialect.name == "sqlite" else str(pending.id)
    with pytest.raises((sa.exc.IntegrityError, sa.exc.InternalError, sa.exc.OperationalError)):
        raw(engine, "UPDATE transfers SET state = 'posted' WHERE id = :id", id=key)


def test_the_audit_passes_on_an_honest_ledger(region: Session) -> None:
    pay(region, "alpha", "beta", 100)
    pending = pay(region, "beta", "gamma", 50, pending=True)
    ledger.post_pending_transfer(region, pending.id, amount_minor=20, created_by="t")
    report = run_audit(region)
    assert report.is_clean, report.findings
    assert (report.account_count, report.transfer_count) == (4, 3)


def test_the_audit_catches_a_posted_amount_changed_in_the_database(region: Session, engine: sa.Engine) -> None:
    pay(region, "alpha", "beta", 100)
    tampered = pay(region, "beta", "alpha", 40)
    pay(region, "alpha", "gamma", 10)
    region.close()
    key = tampered.id.hex if engine.dialect.name == "sqlite" else str(tampered.id)
    without_transfer_guards(engine, "UPDATE transfers SET amount_minor = 4 WHERE id = :id", id=key)
    findings = run_audit(region).findings
    codes = {(f.code, f.account, f.transfer) for f in findings}
    assert ("transfer_hash_mismatch", None, str(tampered.id)) in codes
    assert ("balance_mismatch", "alpha", None) in codes and ("balance_mismatch", "beta", None) in codes
    alpha = next(f for f in findings if f.code == "balance_mismatch" and f.account == "alpha")
    assert (alpha.expected, alpha.found) == ("-106", "-70")


def test_the_audit_catches_a_balance_edited_in_the_database(region: Session, engine: sa.Engine) -> None:
    pay(region, "alpha", "beta", 100)
    region.close()
    raw(engine, "UPDATE accounts SET balance = balance + 500 WHERE code = 'beta'")
    findings = run_audit(region).findings
    assert {(f.code, f.account, f.expected, f.found) for f in findings} >= {
        ("balance_mismatch", "beta", "100", "600"),
        ("zero_sum", None, "0", "500"),
    }


def test_the_audit_catches_history_rewritten_with_recomputed_hashes(region: Session, engine: sa.Engine) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mutualcredit.ledger.checkpoint import public_key_hex

    first = pay(region, "alpha", "beta", 100)
    key = Ed25519PrivateKey.generate()
    create_checkpoint(region, key=key, created_by="t")
    assert run_audit(region, trusted_public_key=public_key_hex(key)).is_clean
    # Someone rewrites the only transfer and fixes every hash and head to match.
    region.close()
    from mutualcredit.ledger.chain import transfer_hash
    from mutualcredit.ledger.models import HASH_GENESIS

    row = ledger.get_transfer(region, first.id)
    region.close()
    forged = transfer_hash(
        id=row.id,
        kind=row.kind,
        payer_account_id=2,
        payee_account_id=3,
        amount_minor=10,
        description=row.description,
        meta=row.metadata,
        pending_id=None,
        reverses_id=None,
        expires_at=None,
        created_by=row.created_by,
        created_at=row.created_at,
        payer_prev_head=HASH_GENESIS,
        payee_prev_head=HASH_GENESIS,
    )
    key_id = first.id.hex if engine.dialect.name == "sqlite" else str(first.id)
    without_transfer_guards(engine, "UPDATE transfers SET amount_minor = 10, hash = :h WHERE id = :id", h=forged, id=key_id)
    raw(engine, "UPDATE accounts SET balance = -10, head = :h WHERE code = 'alpha'", h=forged)
    raw(engine, "UPDATE accounts SET balance = 10, head = :h WHERE code = 'beta'", h=forged)
    findings = run_audit(region, trusted_public_key=public_key_hex(key)).findings
    assert {f.code for f in findings} == {"checkpoint_head_missing"}
    assert {f.account for f in findings} == {"alpha", "beta"}


def test_the_audit_catches_a_forged_checkpoint_signature(region: Session, engine: sa.Engine) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pay(region, "alpha", "beta", 100)
    create_checkpoint(region, key=Ed25519PrivateKey.generate(), created_by="t")
    region.close()
    raw(engine, "UPDATE checkpoints SET merkle_root = :root", root="ab" * 32)
    codes = {f.code for f in run_audit(region).findings}
    assert codes == {"checkpoint_signature_invalid", "checkpoint_root_mismatch"}


def test_a_write_to_an_account_changed_under_its_lock_is_refused_and_nothing_is_kept(
    region: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate a writer that bypassed the lock: the head read "under lock"
    # no longer matches the row, so the conditional update must miss it.
    real_lock_rows = ledger._lock_rows

    def stale_lock_rows(rows):  # type: ignore[no-untyped-def]
        locked = real_lock_rows(rows)
        for account in locked.values():
            account.head_locked = "f" * 64
            account.head = "f" * 64
        return locked

    monkeypatch.setattr(ledger, "_lock_rows", stale_lock_rows)
    with pytest.raises(RuntimeError, match="changed while it was locked"):
        pay(region, "alpha", "beta", 100)
    monkeypatch.undo()
    assert ledger.get_account(region, "alpha").balance == 0
    assert ledger.statement(region, "alpha") == []
    assert run_audit(region).is_clean
