"""The search: Ray Tune runs trials, Optuna suggests them, the results store records them.

`run_search(job)` is the one entry point: a `SearchJob` is the `SearchRequest` (what to search, as the CLI,
the REST API and its launcher pass it on) and where it runs. `plan` resolves it against its data and space
once; the modules below are the adapters the driver wires together: `spaces` (what a search may vary),
`searcher` (Ray's OptunaSearch, truthful and resumable, with `optuna_adapter` for the private attributes it
needs), `trial_config` (a trial's config, typed), `tuner` (the Ray Tuner of the search and of its
re-evaluation), `trainable`, `callbacks`, `confirm` (the finalists' re-evaluation), `trial_checkpoint` (a
trial's model rebuilt from its Ray checkpoint), `driver_lease` (the running driver's heartbeat), `cluster`.
"""

from typing import TYPE_CHECKING

from prs_search.search_request import SearchJob, SearchRequest

if TYPE_CHECKING:
    from prs_search.search.driver import SearchProgress, SearchSummary, run_search

__all__ = ["SearchJob", "SearchProgress", "SearchRequest", "SearchSummary", "run_search"]
_FROM_DRIVER = ("SearchProgress", "SearchSummary", "run_search")


def __getattr__(name: str) -> object:
    # The driver, and with it torch and Ray, loads on first use: reading a space (`spaces`) needs neither.
    if name in _FROM_DRIVER:
        from prs_search.search import driver

        return getattr(driver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
