"""Recurring payments: standing orders paid weekly or monthly by `mutualcredit recurring run-due`.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recurring_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payer_account_id', sa.Integer(), nullable=False),
    sa.Column('payee_account_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('interval', sa.String(length=16), nullable=False),
    sa.Column('first_due_on', sa.Date(), nullable=False),
    sa.Column('next_due_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_by', sa.String(length=200), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error_code', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_recurring_payments_amount_positive')),
    sa.CheckConstraint('payer_account_id <> payee_account_id', name=op.f('ck_recurring_payments_two_accounts')),
    sa.CheckConstraint('"interval" IN (\'weekly\', \'monthly\')', name=op.f('ck_recurring_payments_interval_known')),
    sa.CheckConstraint("state IN ('active', 'cancelled')", name=op.f('ck_recurring_payments_state_known')),
    sa.CheckConstraint('next_due_on >= first_due_on', name=op.f('ck_recurring_payments_due_after_first')),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= first_due_on', name=op.f('ck_recurring_payments_ends_after_first')),
    sa.CheckConstraint("(state = 'cancelled') = (cancelled_at IS NOT NULL)", name=op.f('ck_recurring_payments_cancelled_has_time')),
    sa.ForeignKeyConstraint(['payer_account_id'], ['accounts.id'], name=op.f('fk_recurring_payments_payer_account_id_accounts')),
    sa.ForeignKeyConstraint(['payee_account_id'], ['accounts.id'], name=op.f('fk_recurring_payments_payee_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recurring_payments'))
    )
    op.create_index(op.f('ix_recurring_payments_payer_account_id'), 'recurring_payments', ['payer_account_id'], unique=False)
    op.create_index(op.f('ix_recurring_payments_payee_account_id'), 'recurring_payments', ['payee_account_id'], unique=False)
    op.create_index(op.f('ix_recurring_payments_next_due_on'), 'recurring_payments', ['next_due_on'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_recurring_payments_next_due_on'), table_name='recurring_payments')
    op.drop_index(op.f('ix_recurring_payments_payee_account_id'), table_name='recurring_payments')
    op.drop_index(op.f('ix_recurring_payments_payer_account_id'), table_name='recurring_payments')
    op.drop_table('recurring_payments')
