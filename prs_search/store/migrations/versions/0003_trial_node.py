"""The Ray node a trial ran on: `prs_trials.node_id`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("prs_trials", sa.Column("node_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # batch mode: SQLite before 3.35 cannot DROP COLUMN, so it copies the table
    with op.batch_alter_table("prs_trials") as batch_op:
        batch_op.drop_column("node_id")
