"""Study runs: one row per training run of a study (`prs-search study data-scale`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prs_study_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study", sa.String(length=255), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=True),
        sa.Column("num_samples", sa.Integer(), nullable=False),
        sa.Column("schedule_label", sa.String(length=128), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("stem", sa.String(length=32), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("val_acc", sa.Float(), nullable=False),
        sa.Column("test_acc", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('completed', 'diverged')", name=op.f("ck_prs_study_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prs_study_runs")),
        sa.UniqueConstraint(
            "study",
            "num_samples",
            "schedule_label",
            "seed",
            name=op.f("uq_prs_study_runs_study_num_samples_schedule_label_seed"),
        ),
    )
    op.create_index(op.f("ix_prs_study_runs_dataset"), "prs_study_runs", ["dataset"])


def downgrade() -> None:
    op.drop_table("prs_study_runs")
