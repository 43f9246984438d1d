# On a fresh machine:
#   make quickstart   set everything up, then run a real search on the embedded defaults
#   make test         the whole test suite
#   make test-fast    the suite without the slow, postgres and gpu tests (a few minutes, no lint)
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision as a matching pair (pip takes them from this machine's disk when it can).
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: setup quickstart test test-fast lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

quickstart: setup
	$(VENV)/bin/prs-search run --dataset digits --fraction 1 --budget 12 --epochs 10 --space monotone --model tiny

# Lint, format, types (the whole package, api/ included), then the suite.
test: lint
	$(VENV)/bin/pytest -q

# The loop while editing: no Ray start-ups, long training, PostgreSQL or CUDA.
test-fast: setup
	$(VENV)/bin/pytest -q -m "not slow and not postgres and not gpu"

lint: setup
	$(VENV)/bin/ruff check prs_search api search_spaces tests benchmarks
	$(VENV)/bin/ruff format --check prs_search api search_spaces tests benchmarks
	$(VENV)/bin/mypy prs_search api search_spaces
