"""What the API added to `ResultsStore`: list filters, and id lookups that never crash on odd keys."""

import pytest
from factories import Rows

from prs_search.errors import ConfigError
from prs_search.store import ResultsStore


def test_list_searches_filters_by_dataset_and_status(empty_url: str) -> None:
    store = ResultsStore(empty_url)
    rows = Rows(store)
    a = rows.search("cifar100", 1000)
    b = rows.search("digits", 1000)
    c = rows.search("cifar100", 2000)
    store.set_search_status(search_id=c.id, status="running")

    assert [s.id for s in store.list_searches(dataset="cifar100")[0]] == [c.id, a.id]
    assert store.list_searches(dataset="cifar100", limit=1)[1] == 2
    assert [s.id for s in store.list_searches(status="pending")[0]] == [b.id, a.id]
    assert [s.id for s in store.list_searches(dataset="cifar100", status="running")[0]] == [c.id]
    assert store.list_searches(dataset="none") == ([], 0)
    assert store.list_searches()[1] == 3  # no filter: as before
    with pytest.raises(ConfigError, match="search status"):
        store.list_searches(status="done")
    with pytest.raises(ConfigError, match="dataset"):
        store.list_searches(dataset="")
    store.dispose()


def test_get_search_with_ids_out_of_range_or_odd_digits_is_none(empty_url: str) -> None:
    store = ResultsStore(empty_url)
    search = Rows(store).search()
    assert store.get_search(name_or_id=f" {search.id} ") == search
    for key in ("²", "١", "99999999999999999999999", str(2**31), 2**31, 2**70, -1):
        assert store.get_search(name_or_id=key) is None
    store.dispose()
