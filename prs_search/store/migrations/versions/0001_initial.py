"""Initial schema: searches, trials, epoch metrics, best schedule per (dataset, num_samples).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prs_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("num_samples", sa.Integer(), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=True),
        sa.Column("space", sa.String(length=128), nullable=False),
        sa.Column("space_config", sa.JSON(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("model_config", sa.JSON(), nullable=False),
        sa.Column("stem", sa.String(length=32), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("study_name", sa.String(length=255), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=True),
        sa.Column("ray_address", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("test_acc", sa.Float(), nullable=True),
        sa.Column("test_trial_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'finished', 'failed', 'interrupted')",
            name=op.f("ck_prs_searches_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prs_searches")),
        sa.UniqueConstraint("name", name=op.f("uq_prs_searches_name")),
    )
    op.create_index(op.f("ix_prs_searches_dataset"), "prs_searches", ["dataset"])

    op.create_table(
        "prs_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("trial_key", sa.String(length=128), nullable=False),
        sa.Column("optuna_number", sa.Integer(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("val_acc", sa.Float(), nullable=True),
        sa.Column("best_val_acc", sa.Float(), nullable=True),
        sa.Column("epochs_run", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ray_trial_id", sa.String(length=128), nullable=True),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('RUNNING', 'COMPLETE', 'PRUNED', 'FAIL')", name=op.f("ck_prs_trials_state")),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["prs_searches.id"],
            name=op.f("fk_prs_trials_search_id_prs_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prs_trials")),
        sa.UniqueConstraint("search_id", "optuna_number", name=op.f("uq_prs_trials_search_id_optuna_number")),
        sa.UniqueConstraint("search_id", "trial_key", name=op.f("uq_prs_trials_search_id_trial_key")),
    )
    op.create_index(op.f("ix_prs_trials_search_id"), "prs_trials", ["search_id"])
    op.create_index("ix_prs_trials_search_id_state", "prs_trials", ["search_id", "state"])

    # searches <-> trials reference each other: this key can only be added once both tables exist
    # (batch mode: SQLite cannot ALTER TABLE ADD CONSTRAINT, so it copies the empty table).
    with op.batch_alter_table("prs_searches") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_prs_searches_test_trial_id_prs_trials"),
            "prs_trials",
            ["test_trial_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "prs_epoch_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("val_acc", sa.Float(), nullable=False),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("train_acc", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("attention_layers", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["prs_trials.id"],
            name=op.f("fk_prs_epoch_metrics_trial_id_prs_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prs_epoch_metrics")),
        sa.UniqueConstraint("trial_id", "epoch", name=op.f("uq_prs_epoch_metrics_trial_id_epoch")),
    )
    op.create_index(op.f("ix_prs_epoch_metrics_trial_id"), "prs_epoch_metrics", ["trial_id"])

    op.create_table(
        "prs_best_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("num_samples", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("stem", sa.String(length=32), nullable=False),
        sa.Column("val_acc", sa.Float(), nullable=False),
        sa.Column("test_acc", sa.Float(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["prs_searches.id"],
            name=op.f("fk_prs_best_schedules_search_id_prs_searches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["prs_trials.id"],
            name=op.f("fk_prs_best_schedules_trial_id_prs_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prs_best_schedules")),
        sa.UniqueConstraint("dataset", "num_samples", name=op.f("uq_prs_best_schedules_dataset_num_samples")),
    )
    op.create_index(op.f("ix_prs_best_schedules_search_id"), "prs_best_schedules", ["search_id"])
    op.create_index(op.f("ix_prs_best_schedules_trial_id"), "prs_best_schedules", ["trial_id"])


def downgrade() -> None:
    op.drop_table("prs_best_schedules")
    op.drop_table("prs_epoch_metrics")
    with op.batch_alter_table("prs_searches") as batch_op:
        batch_op.drop_constraint(op.f("fk_prs_searches_test_trial_id_prs_trials"), type_="foreignkey")
    op.drop_table("prs_trials")
    op.drop_table("prs_searches")
