"""One driver per search and a cache key for recommendations: `prs_driver_leases`, `prs_dataset_versions`,
and the search status `cancelled`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
_STATUSES = "'pending', 'running', 'finished', 'failed', 'interrupted'"


def _status_check(statuses: str) -> None:
    # batch mode: SQLite cannot alter a CHECK constraint, so the table is copied with the new one
    with op.batch_alter_table("prs_searches") as batch_op:
        batch_op.drop_constraint(op.f("ck_prs_searches_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_prs_searches_status"), f"status IN ({statuses})")


def upgrade() -> None:
    _status_check(f"{_STATUSES}, 'cancelled'")
    op.create_table(
        "prs_driver_leases",
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("acquired_at", UTC_DATETIME, nullable=False),
        sa.Column("heartbeat_at", UTC_DATETIME, nullable=False),
        sa.Column("cancel_requested_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint("origin IN ('cli', 'api')", name=op.f("ck_prs_driver_leases_origin")),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["prs_searches.id"],
            name=op.f("fk_prs_driver_leases_search_id_prs_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("search_id", name=op.f("pk_prs_driver_leases")),
    )
    op.create_table(
        "prs_dataset_versions",
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", name=op.f("pk_prs_dataset_versions")),
    )


def downgrade() -> None:
    op.drop_table("prs_dataset_versions")
    op.drop_table("prs_driver_leases")
    # The older schema has no `cancelled`: such a search reads as interrupted there (it has stopped).
    op.execute("UPDATE prs_searches SET status = 'interrupted' WHERE status = 'cancelled'")
    _status_check(_STATUSES)
