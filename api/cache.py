"""The recommendation cache: answers as ready JSON bytes, per dataset, keyed on the dataset's version.

The store bumps a dataset's version in the same transaction as every write that can change its answers
(`prs_search.store.dataset_versions`). A request reads the version (one primary-key lookup), and a cached answer
counts only when it was computed at that version, so a search that finishes is seen by every API worker,
on every machine, by its next request: there is no time to live and nothing to broadcast. An entry
computed while a write landed is stored under the version read before it, which is older, so it is
never served for the newer state.

Whatever the answer is (the cache holds the bytes of the route's response model), it is cached whole;
errors are never cached. Bounded: at most `max_datasets` datasets x `max_entries` sizes, least recently
used first out.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable


class RecommendationCache:
    """Thread-safe; one per app (per API worker process)."""

    def __init__(self, max_datasets: int = 256, max_entries: int = 1024) -> None:
        self.max_datasets, self.max_entries = max_datasets, max_entries
        self._datasets: OrderedDict[str, tuple[int, OrderedDict[Hashable, bytes]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, dataset: str, version: int, key: Hashable) -> bytes | None:
        with self._lock:
            found = self._datasets.get(dataset)
            if found is None or found[0] != version or key not in found[1]:
                self.misses += 1
                return None
            self._datasets.move_to_end(dataset)
            found[1].move_to_end(key)
            self.hits += 1
            return found[1][key]

    def put(self, dataset: str, version: int, key: Hashable, body: bytes) -> None:
        with self._lock:
            found = self._datasets.get(dataset)
            if found is not None and found[0] > version:
                return  # computed from an older state than the one already cached
            if found is None or found[0] != version:  # a new version makes every older answer stale
                found = (version, OrderedDict())
                self._datasets[dataset] = found
            entries = found[1]
            entries[key] = body
            entries.move_to_end(key)
            self._datasets.move_to_end(dataset)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
            while len(self._datasets) > self.max_datasets:
                self._datasets.popitem(last=False)
