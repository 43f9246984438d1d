"""`check_known`: a search request names a dataset and a model preset that exist, checked before any data is
loaded or any process starts, by the driver and by the API alike (one message for each)."""

from prs_search.schemas import SearchRequest


def check_known(request: SearchRequest) -> None:
    """An unknown dataset -> `DatasetError`; an unknown model preset -> `ConfigError`."""
    # Imported here: the API imports this module, and torch only with its first search request.
    from prs_search.data import check_dataset_name
    from prs_search.model import model_doc

    check_dataset_name(request.dataset)
    model_doc(request.model)  # the registry's ConfigError for a preset it does not know
