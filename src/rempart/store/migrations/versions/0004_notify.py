"""notify: T0 per establishment, sendings, acknowledgements

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rempart.store.types

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_t0",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("establishment", sa.String(length=64), nullable=False),
        sa.Column("at", rempart.store.types.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", rempart.store.types.UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "establishment"),
    )
    op.create_index(op.f("ix_notify_t0_incident_id"), "notify_t0", ["incident_id"], unique=False)
    op.create_table(
        "notify_sendings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("establishment", sa.String(length=64), nullable=False),
        sa.Column("obligation", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempted_at", rempart.store.types.UTCDateTime(), nullable=False),
        sa.Column("done_at", rempart.store.types.UTCDateTime(), nullable=True),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("draft_sha256", sa.String(length=64), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_notify_sendings_incident_id"), "notify_sendings", ["incident_id"], unique=False)
    op.create_index(op.f("ix_notify_sendings_message_id"), "notify_sendings", ["message_id"], unique=False)
    op.create_table(
        "notify_acks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sending_id", sa.Integer(), nullable=False),
        sa.Column("at", rempart.store.types.UTCDateTime(), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["sending_id"], ["notify_sendings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_notify_acks_sending_id"), "notify_acks", ["sending_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notify_acks_sending_id"), table_name="notify_acks")
    op.drop_table("notify_acks")
    op.drop_index(op.f("ix_notify_sendings_message_id"), table_name="notify_sendings")
    op.drop_index(op.f("ix_notify_sendings_incident_id"), table_name="notify_sendings")
    op.drop_table("notify_sendings")
    op.drop_index(op.f("ix_notify_t0_incident_id"), table_name="notify_t0")
    op.drop_table("notify_t0")
