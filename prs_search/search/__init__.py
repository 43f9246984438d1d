"""The search: Ray Tune runs trials, Optuna suggests them, the results store records them.

`run_search(job)` is the one entry point: a `SearchJob` is the `SearchRequest` (what to search, as the CLI,
the REST API and its launcher pass it on) and where it runs. The modules below are the adapters it wires
together: `spaces` (what a search may vary), `searcher` (Ray's OptunaSearch, truthful and resumable, with
`optuna_adapter` for the private attributes it needs), `trainable`, `callbacks`, `trial_checkpoint` (a
trial's model rebuilt from its Ray checkpoint), `driver_lease` (the running driver's heartbeat), `cluster`.
"""

from prs_search.schemas import SearchJob, SearchRequest
from prs_search.search.driver import SearchProgress, SearchSummary, run_search

__all__ = ["SearchJob", "SearchProgress", "SearchRequest", "SearchSummary", "run_search"]
