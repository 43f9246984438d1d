"""The `prs-search` command line: a thin adapter over train, search, store and the API.

One module per command group, all registered here in the order `--help` lists them: `training` (train,
models, datasets), `search` (run, searches, trials), `service` (serve, recommend, dashboard), `analysis`
(report, analyze, study); the options they share are defined once in `options`. Every user error is a
`PRSError`, which `main` prints as one line with exit code 2.
"""

import logging
import sys
from typing import Annotated

import click
import typer
from rich.logging import RichHandler

from prs_search.cli import analysis, search, service, training
from prs_search.cli.options import err_console
from prs_search.errors import PRSError

app = typer.Typer(
    name="prs-search",
    help="Find, per dataset size, the epoch at which each layer of a hybrid ViT should switch from "
    "convolution to self-attention (Progressive Reparameterization Scheduling).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for group in (training, search, service, analysis):
    group.register(app)


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


# typer >= 0.2x no longer raises click's exceptions but its own (typer.Exit, typer.Abort, TyperException,
# the base of its vendored UsageError / BadParameter / NoSuchOption); older typer raises click's.
_EXIT = (click.exceptions.Exit, typer.Exit)
_USAGE_ERRORS = (click.ClickException, getattr(typer, "TyperException", click.ClickException))
_ABORT = (click.exceptions.Abort, typer.Abort)


def main() -> None:
    """Entry point: any usage or user error becomes one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except _EXIT as done:
        sys.exit(done.exit_code)
    except _USAGE_ERRORS as err:
        message = err.format_message().strip()
        if message:  # empty when the help was already shown (no arguments given)
            err_console.print(f"error: {message}", markup=False, highlight=False, emoji=False, soft_wrap=True)
        sys.exit(2)
    except PRSError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, emoji=False, soft_wrap=True)
        sys.exit(2)
    except (KeyboardInterrupt, *_ABORT):
        err_console.print("interrupted", markup=False)
        sys.exit(130)


__all__ = ["app", "main"]
