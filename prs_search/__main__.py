"""`python -m prs_search` is the `prs-search` command."""

from prs_search.cli import main

main()
