"""The search: Ray Tune runs trials, Optuna suggests them, the results store records them.

`run_search(job)` is the one entry point: a `SearchJob` is the `SearchRequest` (what to search, as the CLI,
the REST API and its launcher pass it on) and where it runs. The modules below are the adapters it wires
together: `spaces` (what a search may vary), `searcher` (Ray's OptunaSearch, truthful and resumable, with
`optuna_adapter` for the private attributes it needs), `trainable`, `callbacks`, `stored`, `cluster`.
"""

from prs_search.search.driver import SearchProgress, SearchSummary, run_search
from prs_search.search_request import SearchJob, SearchRequest

__all__ = ["SearchJob", "SearchProgress", "SearchRequest", "SearchSummary", "run_search"]
