"""The API tests read settings: none of the developer's (`clean_environment`). The databases, `store`,
`rows` and the clients are tests/conftest.py's.
"""

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: None) -> None:
    """Every API test, as `clean_environment`."""
