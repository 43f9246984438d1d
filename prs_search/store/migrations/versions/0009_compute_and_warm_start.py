"""What a trial's training cost, and how a search was warm-started: `prs_trials.flops`,
`prs_epoch_metrics.flops`, `prs_confirmation_runs.flops` and `prs_searches.warm_started`.

FLOPs are counted while training (forward and backward of every training step; convolution and
attention epochs differ), so runs stored before this revision have none (NULL): nothing can count them
afterwards. `warm_started` records the schedules a search enqueued from the cross-size model as its
first trials (NULL: it was not warm-started).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLOPS_TABLES = ("prs_trials", "prs_epoch_metrics", "prs_confirmation_runs")


def upgrade() -> None:
    for table in _FLOPS_TABLES:
        op.add_column(table, sa.Column("flops", sa.Float(), nullable=True))
    op.add_column("prs_searches", sa.Column("warm_started", sa.JSON(), nullable=True))


def downgrade() -> None:
    # batch mode: SQLite before 3.35 cannot DROP COLUMN, so it copies the table
    with op.batch_alter_table("prs_searches") as batch_op:
        batch_op.drop_column("warm_started")
    for table in reversed(_FLOPS_TABLES):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("flops")
