"""journal: MAC, key id and per-field MACs (entries authenticated with a key kept outside the case store)

Revision ID: 0007_journal
Revises: 0001

Existing rows keep a NULL MAC: ``rempart journal verify`` reports them as written before the journal had
a key, and the first keyed entry seals their hash chain.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_journal"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("field_macs", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_column("field_macs")
        batch_op.drop_column("mac")
        batch_op.drop_column("key_id")
