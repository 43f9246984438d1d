"""The data-scale study as text: data_scale.csv, data_scale.md and the cells of the console table.

The Markdown page and the console show the same cells (`TABLE_HEADER`, `row_cells`): accuracies in %,
differences in percentage points, each with its 95% interval. The CSV keeps fractions in [0, 1] and one
column per number, for plotting elsewhere.
"""

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from prs_search.baseline import TRAIN_PROBE_IMAGES
from prs_search.stats import Interval
from prs_search.study.driver import StudyResult
from prs_search.study.fourier_trend import StudyFourier, SublayerTrend, trends
from prs_search.study.protocol import DataScaleRequest, Protocol
from prs_search.study.summary import REFERENCES, StudyRow, canonical, seeds_per_cell

CSV_COLUMNS = (
    "dataset", "fraction", "num_samples", "schedule", "concrete_schedule",
    "protocol", "reference_epochs", "step_budget", "epochs", "steps_per_epoch", "steps",
    "repeats", "val_acc_mean", "val_acc_std", "val_acc_ci_low", "val_acc_ci_high",
    "test_n", "test_acc_mean", "test_acc_std", "test_acc_ci_low", "test_acc_ci_high",
    "train_n", "train_acc_mean", "train_acc_ci_low", "train_acc_ci_high",
    *(f"vs_{ref.replace('-', '_')}_{part}" for ref in REFERENCES
      for part in ("n", "mean", "ci_low", "ci_high", "excludes_0")),
)  # fmt: skip
TABLE_HEADER = ("images", "epochs", "schedule", "switch epochs", "seeds", "train acc %", "val acc %", "test acc %",
                *(f"vs {ref} (pp)" for ref in REFERENCES))  # fmt: skip
LEGEND = (
    "Accuracy in %: mean over seeds [95% confidence interval, Student t with n - 1 degrees of freedom]; "
    f"train accuracy after training, without augmentation, on at most {TRAIN_PROBE_IMAGES:,} of the run's "
    "training images. "
    + ", ".join(f'"vs {ref}"' for ref in REFERENCES)
    + ": the paired difference in test accuracy against that schedule at the same size and seed (same subset, "
    "split and initialisation), in percentage points [95% CI]; * marks an interval that excludes 0; "
    "ref: the reference itself."
)


def write_csv(rows: Sequence[StudyRow], protocol: Protocol, path: Path) -> None:
    """One line per (size, schedule) with the protocol, the means, their intervals and the paired differences."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            size = protocol.size(r.num_samples)
            per_epoch = None if size is None else size.steps_per_epoch
            steps = None if per_epoch is None or r.epochs is None else per_epoch * r.epochs
            versus = [cell for ref in REFERENCES for cell in _difference_columns(r.versus(ref))]
            writer.writerow(
                (r.dataset, _text(r.fraction), r.num_samples, r.label, r.schedule,
                 protocol.kind, protocol.reference_epochs, _text(protocol.step_budget), _text(r.epochs),
                 _text(per_epoch), _text(steps),
                 r.repeats, _num(r.val_mean), _num(r.val_std), *_bounds(r.val),
                 _text(r.test and r.test.n), _num(r.test_mean), _num(r.test_std), *_bounds(r.test),
                 _text(r.train and r.train.n), _num(r.train.mean if r.train else None), *_bounds(r.train), *versus)
            )  # fmt: skip


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _bounds(interval: Interval | None) -> tuple[str, str]:
    if interval is None:
        return "", ""
    return _num(interval.low), _num(interval.high)


def _difference_columns(interval: Interval | None) -> tuple[str, ...]:
    if interval is None:
        return ("",) * 5
    excludes = "" if interval.low is None else str(interval.excludes_zero).lower()
    return (str(interval.n), _num(interval.mean), *_bounds(interval), excludes)


def row_cells(row: StudyRow) -> tuple[str, ...]:
    """The cells of one row of the Markdown and the console table (`TABLE_HEADER`)."""
    versus = tuple("ref" if canonical(row.label) == ref else _difference(row.versus(ref)) for ref in REFERENCES)
    return (str(row.num_samples), _text(row.epochs), row.label, row.schedule or "-", str(row.repeats),
            _accuracy(row.train), _accuracy(row.val), _accuracy(row.test), *versus)  # fmt: skip


def _accuracy(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    if interval.low is None or interval.high is None:
        return f"{100 * interval.mean:.1f} (n = 1)"
    return f"{100 * interval.mean:.1f} [{100 * interval.low:.1f}, {100 * interval.high:.1f}]"


def _difference(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    if interval.low is None or interval.high is None:
        return f"{100 * interval.mean:+.1f} (n = 1)"
    mark = " *" if interval.excludes_zero else ""
    return f"{100 * interval.mean:+.1f} [{100 * interval.low:+.1f}, {100 * interval.high:+.1f}]{mark}"


def fourier_cells(profiles: Sequence[StudyFourier]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(header, rows): the high-frequency delta per sub-layer (rows) of every analysed run (columns)."""
    header = ("sub-layer", *(f"{p.label}, {p.num_samples}" for p in profiles))
    labels = profiles[0].profile.labels() if profiles else ()
    rows = [(label, *(f"{p.profile.high_frequency()[i]:+.3f}" for p in profiles)) for i, label in enumerate(labels)]
    return header, rows


def trend_cells(profiles: Sequence[StudyFourier]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(header, rows): per sub-layer (rows) and size (columns), Spearman's rho between the block's share of
    training as a convolution and the high-frequency delta over the schedules analysed at that size,
    with "monotone" where the amplitude never falls as the share grows (`fourier_trend`)."""
    found = trends(profiles)
    sizes = sorted({t.num_samples for t in found})
    header = ("sub-layer", *(f"rho at {n} ({next(t.schedules for t in found if t.num_samples == n)} runs)"
                             for n in sizes))  # fmt: skip
    by_key = {(t.sublayer, t.num_samples): t for t in found}
    labels = list(dict.fromkeys(t.sublayer for t in found))
    rows = [(label, *(_trend(by_key.get((label, n))) for n in sizes)) for label in labels]
    return header, rows


def _trend(trend: SublayerTrend | None) -> str:
    if trend is None or math.isnan(trend.rho):
        return "-"
    return f"{trend.rho:+.2f}" + (" monotone" if trend.monotone else "")


def study_markdown(result: StudyResult, request: DataScaleRequest, command: str) -> str:
    """data_scale.md: the command, the study, the protocol and the legend, then the table a person pastes."""
    last = request.seed + request.repeats - 1
    lines = [
        f"# Data-scale study: {request.dataset}",
        "",
        f"Command: `{command}`",
        "",
        f"- Study `{result.name}`: {request.dataset}, model {request.model} ({result.conv} "
        f"convolution), stem {request.stem}, seeds "
        f"{request.seed}..{last} ({seeds_per_cell(result.rows)} per cell), {result.trained} of {len(result.runs)} runs "
        "trained by this command.",
        f"- Protocol ({result.protocol.kind}): {result.protocol.describe()}",
        f"- {LEGEND}",
        *(f"- Note: {note}" for note in result.notes),
        "",
        *_markdown_table(TABLE_HEADER, [row_cells(r) for r in result.rows], numeric=(0, 1, 4)),
    ]
    if result.fourier:
        first = result.fourier[0].profile
        header, rows = fourier_cells(result.fourier)
        lines += [
            "",
            f"## Fourier profile: {', '.join(dict.fromkeys(p.label for p in result.fourier))}",
            "",
            f"{first.high_label()} after every sub-layer (the mixer's and the MLP's residual add), for the first "
            f"seed's model on its own validation split ({_image_counts(result)}); convolutions are "
            f"high-pass, attention low-pass (Park & Kim 2022). Files: "
            + ", ".join(f"{p.file_stem}.csv/.png" for p in result.fourier)
            + ", fourier_comparison.png.",
            "",
            *_markdown_table(header, rows, numeric=tuple(range(1, len(header)))),
        ]
        header, rows = trend_cells(result.fourier)
        lines += [
            "",
            "Does the time a layer spends as a convolution move it between the ends? Per sub-layer and size: "
            "Spearman's rank correlation between the block's share of training as a convolution (switch epoch / "
            "epochs) and the value above, over the schedules analysed there (+1: more convolution time, more high "
            "frequency, for every schedule in order; monotone: the mean value per share never falls as the "
            "share grows; -: undefined, nothing varies).",
            "",
            *_markdown_table(header, rows, numeric=tuple(range(1, len(header)))),
        ]
    return "\n".join(lines) + "\n"


def _image_counts(result: StudyResult) -> str:
    """How many validation images each profile averaged, e.g. "50 images at 250, 500 at 4000"."""
    counts = dict.fromkeys((p.profile.images, p.num_samples) for p in result.fourier)
    return ", ".join(f"{images} images at {size}" for images, size in counts)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int]) -> list[str]:
    align = ["---:" if i in numeric else "---" for i in range(len(header))]
    return [_markdown_row(header), _markdown_row(align), *(_markdown_row(r) for r in rows)]


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
