"""A study run's conv variant, train accuracy and Fourier profile: `prs_study_runs.conv`, `.train_acc`
and `.fourier`.

A study could not choose the variant before this revision: its runs have their preset's, `dense` for
`small` (the only preset whose default is dense) and `shift` for every other. Their train accuracy was
not measured and their profile not kept (NULL). The plain CNN reference of a study has no variant (NULL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("prs_study_runs", sa.Column("conv", sa.String(32), nullable=True))
    op.add_column("prs_study_runs", sa.Column("train_acc", sa.Float(), nullable=True))
    op.add_column("prs_study_runs", sa.Column("fourier", sa.JSON(), nullable=True))
    op.execute("UPDATE prs_study_runs SET conv = CASE WHEN model = 'small' THEN 'dense' ELSE 'shift' END")


def downgrade() -> None:
    # batch mode: SQLite before 3.35 cannot DROP COLUMN, so it copies the table
    with op.batch_alter_table("prs_study_runs") as batch_op:
        batch_op.drop_column("fourier")
        batch_op.drop_column("train_acc")
        batch_op.drop_column("conv")
