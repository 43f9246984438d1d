"""The search: Ray Tune runs trials, Optuna suggests them, the results store records them.

`run_search(request)` is the one entry point; the modules below are the adapters it wires together.
"""

from prs_search.search.driver import SearchProgress, SearchRequest, SearchSummary, run_search

__all__ = ["SearchProgress", "SearchRequest", "SearchSummary", "run_search"]
