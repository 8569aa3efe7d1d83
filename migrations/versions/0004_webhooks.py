"""Webhooks: subscriptions, the event outbox, deliveries and the attempt log.

An event row is written in the database transaction of the ledger change it
reports (the transactional outbox); the worker fans each event out into one
delivery per matching subscription (unique per subscription and event) and
logs every HTTP attempt. The CHECK constraints keep the rows honest: known
event types and delivery states, http(s) URLs, a next attempt time exactly
while a delivery is pending and a completion time exactly once it is done.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_token_id', sa.Integer(), nullable=True),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("url LIKE 'http://%' OR url LIKE 'https://%'", name=op.f('ck_webhook_subscriptions_url_http')),
    sa.CheckConstraint('active = (deactivated_at IS NULL)', name=op.f('ck_webhook_subscriptions_active_until_deactivated')),
    sa.ForeignKeyConstraint(['created_by_token_id'], ['api_tokens.id'], name=op.f('fk_webhook_subscriptions_created_by_token_id_api_tokens')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_webhook_subscriptions_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions'))
    )
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_subscriptions_member_id'), ['member_id'], unique=False)

    op.create_table('webhook_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('payer_member_id', sa.Integer(), nullable=True),
    sa.Column('payee_member_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("type IN ('transfer.posted', 'transfer.pending', 'request.created', 'request.accepted')", name=op.f('ck_webhook_events_type_known')),
    sa.ForeignKeyConstraint(['payee_member_id'], ['members.id'], name=op.f('fk_webhook_events_payee_member_id_members')),
    sa.ForeignKeyConstraint(['payer_member_id'], ['members.id'], name=op.f('fk_webhook_events_payer_member_id_members')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('id', name=op.f('uq_webhook_events_id'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_events_undispatched', ['seq'], unique=False, sqlite_where=sa.text('dispatched_at IS NULL'), postgresql_where=sa.text('dispatched_at IS NULL'))

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(state = 'pending') = (completed_at IS NULL)", name=op.f('ck_webhook_deliveries_done_has_completion')),
    sa.CheckConstraint("(state = 'pending') = (next_attempt_at IS NOT NULL)", name=op.f('ck_webhook_deliveries_pending_has_next_attempt')),
    sa.CheckConstraint("state IN ('pending', 'succeeded', 'failed')", name=op.f('ck_webhook_deliveries_state_known')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_webhook_deliveries_attempts_not_negative')),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], name=op.f('fk_webhook_deliveries_event_id_webhook_events')),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'], name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_deliveries_subscription_id'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['next_attempt_at'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.create_index('ix_webhook_deliveries_subscription_created', ['subscription_id', 'created_at'], unique=False)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint('duration_ms >= 0', name=op.f('ck_webhook_attempts_duration_not_negative')),
    sa.CheckConstraint('number >= 1', name=op.f('ck_webhook_attempts_number_positive')),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
    sa.UniqueConstraint('delivery_id', 'number', name=op.f('uq_webhook_attempts_delivery_id'))
    )


def downgrade() -> None:
    # Children before parents: attempts, deliveries, then events and subscriptions.
    op.drop_table('webhook_attempts')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_subscription_created')
        batch_op.drop_index('ix_webhook_deliveries_due', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_undispatched', sqlite_where=sa.text('dispatched_at IS NULL'), postgresql_where=sa.text('dispatched_at IS NULL'))

    op.drop_table('webhook_events')
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscriptions_member_id'))

    op.drop_table('webhook_subscriptions')
