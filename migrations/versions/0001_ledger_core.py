"""Ledger core: region, members, accounts, transfers, payment requests, checkpoints.

The database refuses what the ledger must never hold: CHECK constraints keep
amounts positive and every account within its floor and ceiling counting
pending holds; unique keys let a pending transfer be resolved once and a
transfer be reversed once; triggers make transfers append-only (only a
pending transfer's cached state may change, once, from pending).

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:06:45.311512
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_log'))
    )
    with op.batch_alter_table('activity_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_log_at'), ['at'], unique=False)

    op.create_table('checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('region_slug', sa.String(length=64), nullable=False),
    sa.Column('account_count', sa.Integer(), nullable=False),
    sa.Column('leaves', sa.JSON(), nullable=False),
    sa.Column('merkle_root', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkpoints'))
    )
    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('trade', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'suspended', 'left')", name=op.f('ck_members_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('slug', name=op.f('uq_members_slug'))
    )
    op.create_table('region',
    sa.Column('singleton', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit_code', sa.String(length=12), nullable=False),
    sa.Column('unit_name', sa.String(length=100), nullable=False),
    sa.Column('unit_symbol', sa.String(length=12), nullable=False),
    sa.Column('decimals', sa.Integer(), nullable=False),
    sa.Column('default_locale', sa.String(length=16), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('decimals BETWEEN 0 AND 4', name=op.f('ck_region_decimals_range')),
    sa.CheckConstraint('singleton = 1', name=op.f('ck_region_one_row')),
    sa.PrimaryKeyConstraint('singleton', name=op.f('pk_region')),
    sa.UniqueConstraint('slug', name=op.f('uq_region_slug'))
    )
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('floor', sa.BigInteger(), nullable=True),
    sa.Column('ceiling', sa.BigInteger(), nullable=True),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('debits_pending', sa.BigInteger(), nullable=False),
    sa.Column('credits_pending', sa.BigInteger(), nullable=False),
    sa.Column('head', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind <> 'member' OR floor IS NOT NULL", name=op.f('ck_accounts_member_has_floor')),
    sa.CheckConstraint("kind IN ('member', 'pool', 'peer_clearing', 'commons')", name=op.f('ck_accounts_kind_known')),
    sa.CheckConstraint("status IN ('open', 'frozen', 'closed')", name=op.f('ck_accounts_status_known')),
    sa.CheckConstraint('ceiling IS NULL OR balance + credits_pending <= ceiling', name=op.f('ck_accounts_within_ceiling')),
    sa.CheckConstraint('ceiling IS NULL OR ceiling >= 0', name=op.f('ck_accounts_ceiling_not_negative')),
    sa.CheckConstraint('credits_pending >= 0', name=op.f('ck_accounts_credits_pending_not_negative')),
    sa.CheckConstraint('debits_pending >= 0', name=op.f('ck_accounts_debits_pending_not_negative')),
    sa.CheckConstraint('floor IS NULL OR balance - debits_pending >= floor', name=op.f('ck_accounts_within_floor')),
    sa.CheckConstraint('floor IS NULL OR floor <= 0', name=op.f('ck_accounts_floor_not_positive')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_accounts_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('code', name=op.f('uq_accounts_code'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_member_id'), ['member_id'], unique=False)

    op.create_table('transfers',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('payer_account_id', sa.Integer(), nullable=False),
    sa.Column('payee_account_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('pending_id', sa.Uuid(), nullable=True),
    sa.Column('reverses_id', sa.Uuid(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payer_prev_head', sa.String(length=64), nullable=False),
    sa.Column('payee_prev_head', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint("(kind = 'pending' AND state IN ('pending', 'posted', 'voided', 'expired')) OR (kind IN ('transfer', 'post') AND state = 'posted') OR (kind = 'void' AND state = 'voided') OR (kind = 'expiry' AND state = 'expired')", name=op.f('ck_transfers_state_fits_kind')),
    sa.CheckConstraint("(kind IN ('post', 'void', 'expiry')) = (pending_id IS NOT NULL)", name=op.f('ck_transfers_resolution_has_pending')),
    sa.CheckConstraint("kind = 'pending' OR expires_at IS NULL", name=op.f('ck_transfers_only_pending_expires')),
    sa.CheckConstraint("kind = 'transfer' OR reverses_id IS NULL", name=op.f('ck_transfers_only_transfers_reverse')),
    sa.CheckConstraint("kind IN ('transfer', 'pending', 'post', 'void', 'expiry')", name=op.f('ck_transfers_kind_known')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_transfers_amount_positive')),
    sa.CheckConstraint('payer_account_id <> payee_account_id', name=op.f('ck_transfers_two_accounts')),
    sa.ForeignKeyConstraint(['payee_account_id'], ['accounts.id'], name=op.f('fk_transfers_payee_account_id_accounts')),
    sa.ForeignKeyConstraint(['payer_account_id'], ['accounts.id'], name=op.f('fk_transfers_payer_account_id_accounts')),
    sa.ForeignKeyConstraint(['pending_id'], ['transfers.id'], name=op.f('fk_transfers_pending_id_transfers')),
    sa.ForeignKeyConstraint(['reverses_id'], ['transfers.id'], name=op.f('fk_transfers_reverses_id_transfers')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_transfers')),
    sa.UniqueConstraint('id', name=op.f('uq_transfers_id'))
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index('ix_transfers_open_pending', ['expires_at'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.create_index('ix_transfers_payee_seq', ['payee_account_id', 'seq'], unique=False)
        batch_op.create_index('ix_transfers_payer_seq', ['payer_account_id', 'seq'], unique=False)
        batch_op.create_index('uq_transfers_pending_id', ['pending_id'], unique=True, sqlite_where=sa.text('pending_id IS NOT NULL'), postgresql_where=sa.text('pending_id IS NOT NULL'))
        batch_op.create_index('uq_transfers_reverses_id', ['reverses_id'], unique=True, sqlite_where=sa.text('reverses_id IS NOT NULL'), postgresql_where=sa.text('reverses_id IS NOT NULL'))

    op.create_table('payment_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('payer_account_id', sa.Integer(), nullable=False),
    sa.Column('payee_account_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('transfer_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("(state = 'accepted') = (transfer_id IS NOT NULL)", name=op.f('ck_payment_requests_accepted_has_transfer')),
    sa.CheckConstraint("state IN ('open', 'accepted', 'rejected', 'cancelled', 'expired')", name=op.f('ck_payment_requests_state_known')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_requests_amount_positive')),
    sa.CheckConstraint('payer_account_id <> payee_account_id', name=op.f('ck_payment_requests_two_accounts')),
    sa.ForeignKeyConstraint(['payee_account_id'], ['accounts.id'], name=op.f('fk_payment_requests_payee_account_id_accounts')),
    sa.ForeignKeyConstraint(['payer_account_id'], ['accounts.id'], name=op.f('fk_payment_requests_payer_account_id_accounts')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_payment_requests_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_requests')),
    sa.UniqueConstraint('transfer_id', name=op.f('uq_payment_requests_transfer_id'))
    )
    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.create_index('ix_payment_requests_payee_state', ['payee_account_id', 'state'], unique=False)
        batch_op.create_index('ix_payment_requests_payer_state', ['payer_account_id', 'state'], unique=False)
    create_triggers()


# Transfers are append-only. The only update allowed is the cached state of
# a pending transfer, once, from 'pending' to its resolution; every other
# column stays as written. Deleting a transfer is refused.
POSTGRESQL_TRIGGERS = """
CREATE FUNCTION transfers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'transfers are append-only: transfer % cannot be deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.kind <> 'pending' OR OLD.state <> 'pending'
       OR NEW.state NOT IN ('posted', 'voided', 'expired')
       OR (to_jsonb(NEW) - 'state') IS DISTINCT FROM (to_jsonb(OLD) - 'state') THEN
        RAISE EXCEPTION 'transfers are append-only: transfer % cannot be edited', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_append_only();
"""
POSTGRESQL_TRIGGERS_DOWN = """
DROP TRIGGER IF EXISTS transfers_append_only ON transfers;
DROP FUNCTION IF EXISTS transfers_append_only();
"""

_TRANSFER_COLUMNS = (
    "seq", "id", "kind", "payer_account_id", "payee_account_id", "amount_minor", "description",
    "metadata", "pending_id", "reverses_id", "expires_at", "created_by", "created_at",
    "payer_prev_head", "payee_prev_head", "hash",
)
SQLITE_TRIGGERS = [
    """
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
BEGIN
    SELECT RAISE(ABORT, 'transfers are append-only: a transfer cannot be deleted');
END
""",
    """
CREATE TRIGGER transfers_no_edit BEFORE UPDATE ON transfers
WHEN OLD.kind <> 'pending' OR OLD.state <> 'pending'
     OR NEW.state NOT IN ('posted', 'voided', 'expired')
     OR """ + "\n     OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _TRANSFER_COLUMNS) + """
BEGIN
    SELECT RAISE(ABORT, 'transfers are append-only: a transfer cannot be edited');
END
""",
]
SQLITE_TRIGGERS_DOWN = ["DROP TRIGGER IF EXISTS transfers_no_edit", "DROP TRIGGER IF EXISTS transfers_no_delete"]


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_TRIGGERS)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_TRIGGERS_DOWN)
    else:
        for statement in SQLITE_TRIGGERS_DOWN:
            op.execute(statement)



def downgrade() -> None:
    drop_triggers()
    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_requests_payer_state')
        batch_op.drop_index('ix_payment_requests_payee_state')

    op.drop_table('payment_requests')
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_payer_seq')
        batch_op.drop_index('ix_transfers_payee_seq')
        batch_op.drop_index('ix_transfers_open_pending', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.drop_index('uq_transfers_reverses_id', sqlite_where=sa.text('reverses_id IS NOT NULL'), postgresql_where=sa.text('reverses_id IS NOT NULL'))
        batch_op.drop_index('uq_transfers_pending_id', sqlite_where=sa.text('pending_id IS NOT NULL'), postgresql_where=sa.text('pending_id IS NOT NULL'))

    op.drop_table('transfers')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_member_id'))

    op.drop_table('accounts')
    op.drop_table('region')
    op.drop_table('members')
    op.drop_table('checkpoints')
    with op.batch_alter_table('activity_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_log_at'))

    op.drop_table('activity_log')
