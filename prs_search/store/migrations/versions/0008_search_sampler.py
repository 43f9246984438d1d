"""A search's Optuna sampler is called what it is: `prs_searches.searcher` -> `prs_searches.sampler`.

`searcher` was the sampler's name (tpe or random), while `search/searcher.py` is Ray's `Searcher`: the
column, the record and the API field are renamed together. Values are kept; the Optuna studies are not
touched (they never stored it).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite before 3.25 cannot RENAME COLUMN, so it copies the table
    with op.batch_alter_table("prs_searches") as batch_op:
        batch_op.alter_column("searcher", new_column_name="sampler")


def downgrade() -> None:
    with op.batch_alter_table("prs_searches") as batch_op:
        batch_op.alter_column("sampler", new_column_name="searcher")
