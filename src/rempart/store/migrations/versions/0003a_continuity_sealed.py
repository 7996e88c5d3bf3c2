"""continuity: the planned doses' drug and the linked IPP hold sealed values (longer than their clear form)

Revision ID: 0003a
Revises: 0003

Rows written before keep their clear values, which the code still reads; they are sealed when written
again. No key is available to a migration, so none is sealed here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003a"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("continuity_planned_doses", schema=None) as batch_op:
        batch_op.alter_column(
            "drug", existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False
        )
    with op.batch_alter_table("continuity_identity_links", schema=None) as batch_op:
        batch_op.alter_column(
            "real_identifier", existing_type=sa.String(length=64), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("continuity_identity_links", schema=None) as batch_op:
        batch_op.alter_column(
            "real_identifier", existing_type=sa.Text(), type_=sa.String(length=64), existing_nullable=False
        )
    with op.batch_alter_table("continuity_planned_doses", schema=None) as batch_op:
        batch_op.alter_column(
            "drug", existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False
        )
