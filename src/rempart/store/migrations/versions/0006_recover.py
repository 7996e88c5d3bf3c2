"""recover: re-opening gates (attestations, approvals, re-openings)

Revision ID: 0006
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rempart.store.types

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reopen_attestations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("access_id", sa.String(length=64), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("at", rempart.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_reopen_attestations_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reopen_attestations")),
    )
    with op.batch_alter_table("reopen_attestations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reopen_attestations_incident_id"), ["incident_id"], unique=False)

    op.create_table(
        "reopen_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("access_id", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("at", rempart.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_reopen_approvals_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reopen_approvals")),
    )
    with op.batch_alter_table("reopen_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reopen_approvals_incident_id"), ["incident_id"], unique=False)

    op.create_table(
        "reopenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("access_id", sa.String(length=64), nullable=False),
        sa.Column("establishment", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("decided_at", rempart.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_reopenings_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reopenings")),
    )
    with op.batch_alter_table("reopenings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reopenings_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    for table in ("reopenings", "reopen_approvals", "reopen_attestations"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_incident_id"))
        op.drop_table(table)
