"""People: users (argon2 password hashes), their member and regional roles, one-time invitations.

Emails are stored lower-cased (a CHECK refuses any other form), which makes
the unique constraint case-insensitive on every database. An invitation
names exactly one role, and is marked used by the user it created.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('preferred_locale', sa.String(length=16), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_login_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('login_epoch', sa.Integer(), nullable=False),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lower_case')),
    sa.CheckConstraint('failed_login_count >= 0', name=op.f('ck_users_failed_login_count_not_negative')),
    sa.CheckConstraint('login_epoch >= 0', name=op.f('ck_users_login_epoch_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('member_role', sa.String(length=16), nullable=True),
    sa.Column('regional_role', sa.String(length=16), nullable=True),
    sa.Column('invited_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by_user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("member_role IS NULL OR member_role IN ('treasurer', 'viewer')", name=op.f('ck_invitations_member_role_known')),
    sa.CheckConstraint("regional_role IS NULL OR regional_role IN ('coordinator', 'auditor', 'admin')", name=op.f('ck_invitations_regional_role_known')),
    sa.CheckConstraint(
        '(member_id IS NULL AND member_role IS NULL AND regional_role IS NOT NULL)'
        ' OR (member_id IS NOT NULL AND member_role IS NOT NULL AND regional_role IS NULL)',
        name=op.f('ck_invitations_one_role'),
    ),
    sa.CheckConstraint('(used_at IS NULL) = (used_by_user_id IS NULL)', name=op.f('ck_invitations_used_by_someone')),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_invitations_email_lower_case')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_invitations_expires_after_creation')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_invitations_member_id_members')),
    sa.ForeignKeyConstraint(['used_by_user_id'], ['users.id'], name=op.f('fk_invitations_used_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_invitations_secret_hash'))
    )
    op.create_table('user_memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('granted_by', sa.String(length=200), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('treasurer', 'viewer')", name=op.f('ck_user_memberships_role_known')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_user_memberships_member_id_members')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_memberships_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_memberships')),
    sa.UniqueConstraint('user_id', 'member_id', name=op.f('uq_user_memberships_user_id'))
    )
    op.create_index(op.f('ix_user_memberships_member_id'), 'user_memberships', ['member_id'], unique=False)
    op.create_table('user_regional_roles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('granted_by', sa.String(length=200), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('coordinator', 'auditor', 'admin')", name=op.f('ck_user_regional_roles_role_known')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_regional_roles_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_regional_roles')),
    sa.UniqueConstraint('user_id', 'role', name=op.f('uq_user_regional_roles_user_id'))
    )


def downgrade() -> None:
    op.drop_table('user_regional_roles')
    op.drop_index(op.f('ix_user_memberships_member_id'), table_name='user_memberships')
    op.drop_table('user_memberships')
    op.drop_table('invitations')
    op.drop_table('users')
