"""Offers and wants of members for the directory.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_listings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('offer', 'want')", name=op.f('ck_member_listings_kind_known')),
    sa.CheckConstraint("title <> ''", name=op.f('ck_member_listings_title_not_empty')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_listings_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_listings'))
    )
    op.create_index(op.f('ix_member_listings_member_id'), 'member_listings', ['member_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_member_listings_member_id'), table_name='member_listings')
    op.drop_table('member_listings')
