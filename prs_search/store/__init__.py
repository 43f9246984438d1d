"""The results store: searches, trials, per-epoch metrics and the best schedule per dataset size.

One SQL database (SQLite file by default, PostgreSQL for clusters) shared with optuna's
RDBStorage; our tables are prefixed `prs_` and versioned in `prs_alembic_version`. The records it
returns are those of `prs_search.schemas`, re-exported here.

    store = ResultsStore("sqlite:///prs.db")        # connects and migrates
    search = store.create_search(name=..., dataset=..., ...)   # keyword arguments only; returns a record
    optuna.storages.RDBStorage(store.url, engine_kwargs=store.optuna_engine_kwargs())
"""

from prs_search.field_types import SearchStatus, TrialState
from prs_search.schemas import (
    BestScheduleRecord,
    DatasetSummary,
    EpochRecord,
    LayerStatsRecord,
    SearchRecord,
    StudyRunRecord,
    TrialRecord,
)
from prs_search.store.db import make_engine, parse_url, safe_url, session_scope
from prs_search.store.migrations import current_revision, downgrade, head_revision, upgrade
from prs_search.store.results import ResultsStore

__all__ = [
    "BestScheduleRecord",
    "DatasetSummary",
    "EpochRecord",
    "LayerStatsRecord",
    "ResultsStore",
    "SearchRecord",
    "SearchStatus",
    "StudyRunRecord",
    "TrialRecord",
    "TrialState",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "parse_url",
    "safe_url",
    "session_scope",
    "upgrade",
]
