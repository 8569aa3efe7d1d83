"""Invoices among members, clearing runs, their set-offs and the cycles they cancelled.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clearing_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('invoice_count', sa.Integer(), nullable=False),
    sa.Column('participant_count', sa.Integer(), nullable=False),
    sa.Column('td_minor', sa.BigInteger(), nullable=False),
    sa.Column('nid_minor', sa.BigInteger(), nullable=False),
    sa.Column('cleared_minor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clearing_runs')),
    sa.UniqueConstraint('reference', name=op.f('uq_clearing_runs_reference'))
    )
    op.create_table('invoices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=100), nullable=False),
    sa.Column('creditor_member_id', sa.Integer(), nullable=False),
    sa.Column('debtor_member_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('outstanding_minor', sa.BigInteger(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispute_reason', sa.Text(), nullable=False),
    sa.Column('settlement_transfer_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("state IN ('recorded', 'confirmed', 'disputed', 'settled')", name=op.f('ck_invoices_state_known')),
    sa.CheckConstraint("(state = 'settled') = (outstanding_minor = 0)", name=op.f('ck_invoices_settled_when_nothing_outstanding')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_invoices_amount_positive')),
    sa.CheckConstraint('creditor_member_id <> debtor_member_id', name=op.f('ck_invoices_two_parties')),
    sa.CheckConstraint('outstanding_minor >= 0 AND outstanding_minor <= amount_minor', name=op.f('ck_invoices_outstanding_within_amount')),
    sa.ForeignKeyConstraint(['creditor_member_id'], ['members.id'], name=op.f('fk_invoices_creditor_member_id_members')),
    sa.ForeignKeyConstraint(['debtor_member_id'], ['members.id'], name=op.f('fk_invoices_debtor_member_id_members')),
    sa.ForeignKeyConstraint(['settlement_transfer_id'], ['transfers.id'], name=op.f('fk_invoices_settlement_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('creditor_member_id', 'number', name=op.f('uq_invoices_creditor_member_id')),
    sa.UniqueConstraint('settlement_transfer_id', name=op.f('uq_invoices_settlement_transfer_id'))
    )
    op.create_index(op.f('ix_invoices_creditor_member_id'), 'invoices', ['creditor_member_id'], unique=False)
    op.create_index(op.f('ix_invoices_debtor_member_id'), 'invoices', ['debtor_member_id'], unique=False)
    op.create_table('clearing_cycles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('participants', sa.JSON(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['clearing_runs.id'], name=op.f('fk_clearing_cycles_run_id_clearing_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clearing_cycles')),
    sa.UniqueConstraint('run_id', 'position', name=op.f('uq_clearing_cycles_run_id'))
    )
    op.create_index(op.f('ix_clearing_cycles_run_id'), 'clearing_cycles', ['run_id'], unique=False)
    op.create_table('invoice_setoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('invoice_id', sa.Uuid(), nullable=False),
    sa.Column('outstanding_before_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_minor > 0 AND amount_minor <= outstanding_before_minor', name=op.f('ck_invoice_setoffs_within_outstanding')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_setoffs_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['run_id'], ['clearing_runs.id'], name=op.f('fk_invoice_setoffs_run_id_clearing_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_setoffs')),
    sa.UniqueConstraint('run_id', 'invoice_id', name=op.f('uq_invoice_setoffs_run_id'))
    )
    op.create_index(op.f('ix_invoice_setoffs_invoice_id'), 'invoice_setoffs', ['invoice_id'], unique=False)
    op.create_index(op.f('ix_invoice_setoffs_run_id'), 'invoice_setoffs', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_invoice_setoffs_run_id'), table_name='invoice_setoffs')
    op.drop_index(op.f('ix_invoice_setoffs_invoice_id'), table_name='invoice_setoffs')
    op.drop_table('invoice_setoffs')
    op.drop_index(op.f('ix_clearing_cycles_run_id'), table_name='clearing_cycles')
    op.drop_table('clearing_cycles')
    op.drop_index(op.f('ix_invoices_debtor_member_id'), table_name='invoices')
    op.drop_index(op.f('ix_invoices_creditor_member_id'), table_name='invoices')
    op.drop_table('invoices')
    op.drop_table('clearing_runs')
