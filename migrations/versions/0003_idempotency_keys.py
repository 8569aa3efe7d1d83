"""Idempotency keys for API writes: one per token and key, with the first response.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_public_id', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_type', sa.String(length=100), nullable=True),
    sa.Column('response_location', sa.String(length=500), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('started', 'done')", name=op.f('ck_idempotency_keys_state_known')),
    sa.CheckConstraint("(state = 'done') = (response_status IS NOT NULL)", name=op.f('ck_idempotency_keys_done_has_response')),
    sa.ForeignKeyConstraint(['token_public_id'], ['api_tokens.public_id'], name=op.f('fk_idempotency_keys_token_public_id_api_tokens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('token_public_id', 'key', name=op.f('uq_idempotency_keys_token_public_id'))
    )


def downgrade() -> None:
    op.drop_table('idempotency_keys')
