"""The finalists' re-evaluation: `prs_confirmation_runs`, the confidence of a best schedule, and what a
search ran with (validation size, sampler, early stopping, re-evaluation settings).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_COLUMNS: tuple[sa.Column[object], ...] = (
    sa.Column("val_size", sa.Integer(), nullable=True),
    sa.Column("searcher", sa.String(128), nullable=True),
    sa.Column("early_stopping", sa.Boolean(), nullable=True),
    sa.Column("confirm_top", sa.Integer(), nullable=True),
    sa.Column("confirm_seeds", sa.Integer(), nullable=True),
)
BEST_COLUMNS: tuple[sa.Column[object], ...] = (
    sa.Column("seeds", sa.Integer(), nullable=True),
    sa.Column("val_low", sa.Float(), nullable=True),
    sa.Column("val_high", sa.Float(), nullable=True),
    sa.Column("baseline_schedule", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("advantage", sa.Float(), nullable=True),
    sa.Column("advantage_low", sa.Float(), nullable=True),
    sa.Column("advantage_high", sa.Float(), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("prs_searches") as batch_op:
        for column in SEARCH_COLUMNS:
            batch_op.add_column(column.copy())
    # batch mode: SQLite cannot ALTER a column's NULL-ability in place, so it copies the table
    with op.batch_alter_table("prs_best_schedules") as batch_op:
        for column in BEST_COLUMNS:
            batch_op.add_column(column.copy())
        batch_op.alter_column("trial_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "prs_confirmation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("candidate", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("source_trial_id", sa.Integer(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("val_acc", sa.Float(), nullable=True),
        sa.Column("epochs_run", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('finalist', 'baseline')", name=op.f("ck_prs_confirmation_runs_role")),
        sa.CheckConstraint("state IN ('COMPLETE', 'FAIL')", name=op.f("ck_prs_confirmation_runs_state")),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["prs_searches.id"],
            name=op.f("fk_prs_confirmation_runs_search_id_prs_searches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_trial_id"],
            ["prs_trials.id"],
            name=op.f("fk_prs_confirmation_runs_source_trial_id_prs_trials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prs_confirmation_runs")),
        sa.UniqueConstraint(
            "search_id", "candidate", "seed", name=op.f("uq_prs_confirmation_runs_search_id_candidate_seed")
        ),
    )
    op.create_index(op.f("ix_prs_confirmation_runs_search_id"), "prs_confirmation_runs", ["search_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_prs_confirmation_runs_search_id"), table_name="prs_confirmation_runs")
    op.drop_table("prs_confirmation_runs")
    with op.batch_alter_table("prs_best_schedules") as batch_op:
        batch_op.alter_column("trial_id", existing_type=sa.Integer(), nullable=False)
        for column in reversed(BEST_COLUMNS):
            batch_op.drop_column(column.name)
    with op.batch_alter_table("prs_searches") as batch_op:
        for column in reversed(SEARCH_COLUMNS):
            batch_op.drop_column(column.name)
