"""Per-layer statistics of every epoch: `prs_epoch_metrics.layers` (JSON, NULL for older epochs).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("prs_epoch_metrics", sa.Column("layers", sa.JSON(), nullable=True))


def downgrade() -> None:
    # batch mode: SQLite before 3.35 cannot DROP COLUMN, so it copies the table
    with op.batch_alter_table("prs_epoch_metrics") as batch_op:
        batch_op.drop_column("layers")
