"""Auto-accept rules for payment requests: a payer's account accepts a chosen co-op's requests up to a cap.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auto_accept_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payer_account_id', sa.Integer(), nullable=False),
    sa.Column('payee_member_id', sa.Integer(), nullable=False),
    sa.Column('amount_max_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_max_minor > 0', name=op.f('ck_auto_accept_rules_amount_max_positive')),
    sa.ForeignKeyConstraint(['payer_account_id'], ['accounts.id'], name=op.f('fk_auto_accept_rules_payer_account_id_accounts')),
    sa.ForeignKeyConstraint(['payee_member_id'], ['members.id'], name=op.f('fk_auto_accept_rules_payee_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_accept_rules')),
    # One rule per (account, payee member).
    sa.UniqueConstraint('payer_account_id', 'payee_member_id', name=op.f('uq_auto_accept_rules_payer_account_id'))
    )
    op.create_index(op.f('ix_auto_accept_rules_payee_member_id'), 'auto_accept_rules', ['payee_member_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_auto_accept_rules_payee_member_id'), table_name='auto_accept_rules')
    op.drop_table('auto_accept_rules')
