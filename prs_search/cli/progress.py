"""The live progress bars of long commands (`run`, `study data-scale`), on stderr."""

from types import TracebackType
from typing import Any, Self

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn

from prs_search.cli.options import err_console


class LiveBar:
    """`label`, a bar, done / total and the elapsed time, then `extra` columns; for a `with` block."""

    def __init__(
        self, label: str, extra: tuple[ProgressColumn, ...], description: str, total: int | None, fields: dict[str, Any]
    ) -> None:
        self.progress = Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), *extra, console=err_console
        )
        self.task = self.progress.add_task(description, total=total, **fields)  # fields: for the extra columns

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.progress.stop()
            return
        # On an error the one-line message is all the user should see: the bar goes, and not through
        # Progress.stop(), which ends a non-terminal stream with a blank line.
        self.progress.live.transient = True
        self.progress.live.stop()
