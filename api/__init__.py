"""The prs-search REST API (FastAPI): `api.main.create_app` builds it."""
