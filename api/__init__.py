"""The prs-search REST API (FastAPI), installed as `prs_search.api`: `prs_search.api.main.create_app` builds it."""
