"""`prs-search report`: one self-contained HTML page about a search (plots embedded as base64 PNG).

Sections: the search's settings and outcome; its history (validation accuracy per trial, pruned and
failed trials marked, the best so far); accuracy against counted training FLOPs with the front of the
trials no other beats in both; the best schedule per layer; accuracy against dataset size (the
newest data-scale study of the dataset if one is stored, else the best schedule of each searched size);
the Fourier analysis of the best trial's feature maps. The page is the Jinja2 template
`templates/report.html.j2` (shipped in the package), which HTML-escapes every piece of text.
"""

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from prs_search.analysis import plots
from prs_search.analysis.fourier import DEFAULT_READING, Reading
from prs_search.analysis.sources import find_search, from_trial
from prs_search.compute_cost import format_flops
from prs_search.errors import PRSError
from prs_search.pareto import accuracy_cost_front
from prs_search.store import ResultsStore, SearchRecord, TrialRecord
from prs_search.study.summary import StudyRow, latest_study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Section:
    """One section of the page: a title, then a note (there is nothing to show), or a sentence, a plot
    and a table."""

    title: str
    note: str | None = None
    text: str | None = None
    png: bytes | None = None
    alt: str = ""
    rows: Sequence[Sequence[object]] = ()
    header: Sequence[str] | None = None


def build_report(
    store: ResultsStore, name: str, data_dir: Path, max_images: int = 512, reading: Reading = DEFAULT_READING
) -> str:
    """The report of search `name` (its name or id) as one HTML document (Fourier: in `reading`)."""
    search = find_search(store, name)
    trials = store.all_trials(search_id=search.id)
    best = store.best_trial(search_id=search.id)
    sections = [
        _summary(search, trials, best),
        _history(search, trials),
        _front(search, trials),
        _schedule(search, best),
        _attention(store, best),
        _data_scale(store, search),
        _fourier(store, search, best, data_dir, max_images, reading),
    ]
    return _template().render(name=search.name, sections=sections)


@cache
def _template() -> jinja2.Template:
    # Autoescaping: every piece of text (search and study names, errors) is HTML-escaped.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("prs_search.analysis", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["b64"] = lambda png: base64.b64encode(png).decode("ascii")
    return environment.get_template("report.html.j2")


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _summary(search: SearchRecord, trials: list[TrialRecord], best: TrialRecord | None) -> Section:
    counts = {state: sum(1 for t in trials if t.state == state) for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    size = f"{search.num_samples} images" + (f" (fraction {search.fraction})" if search.fraction else "")
    rows = [
        ("dataset", f"{search.dataset}, {size}"),
        ("model / stem / epochs", f"{search.model} / {search.stem} / {search.epochs}"),
        ("search space / budget", f"{search.space} / {search.budget} trials"),
        ("status", search.status),
        ("trials", ", ".join(f"{state.lower()} {n}" for state, n in counts.items() if n) or "none"),
        ("best schedule", ",".join(map(str, best.schedule)) if best else "-"),
        ("best validation accuracy", _acc(best.val_acc if best else None)),
        ("its test accuracy", _acc(search.test_acc)),
    ]
    return Section("Search", rows=rows)


def _history(search: SearchRecord, trials: list[TrialRecord]) -> Section:
    if not trials:
        return Section("History", note="the search has no trials yet")
    png = plots.history_png(trials, f"{search.name}: validation accuracy per trial")
    return Section("History", png=png, alt="validation accuracy per trial")


def _front(search: SearchRecord, trials: list[TrialRecord]) -> Section:
    title = "Accuracy against compute"
    front = accuracy_cost_front(trials, "flops")
    if not front.trials:
        return Section(title, note="no complete trial has counted training FLOPs (trained before counting)")
    counted = [t for t in trials if t.state == "COMPLETE" and t.val_acc is not None and t.flops is not None]
    png = plots.front_png(counted, front.trials, f"{search.name}: validation accuracy against training FLOPs")
    left_out = f" ({front.uncounted} more had no count)" if front.uncounted else ""
    rows = [(t.trial_key, ",".join(map(str, t.schedule)), _acc(t.val_acc), format_flops(t.flops), f"{t.seconds:.1f}")
            for t in front.trials]  # fmt: skip
    return Section(
        title, png=png, alt="validation accuracy against training FLOPs", rows=rows,
        text=f"The {len(front.trials)} of {len(counted)} complete trials{left_out} that no other beats in both "
        "validation accuracy and training FLOPs (forward and backward of the training steps).",
        header=("trial", "schedule", "val acc", "training FLOPs", "seconds"),
    )  # fmt: skip


def _schedule(search: SearchRecord, best: TrialRecord | None) -> Section:
    if best is None:
        return Section("Best schedule", note="no trial has completed: there is no best schedule yet")
    png = plots.schedule_png(best.schedule, search.epochs, f"best schedule (trial {best.trial_key})")
    rows = [(f"layer {i}", e, "convolution throughout" if e >= search.epochs else f"attention from epoch {e}")
            for i, e in enumerate(best.schedule, start=1)]  # fmt: skip
    return Section(
        f"Best schedule: {','.join(map(str, best.schedule))}", png=png, alt="best schedule per layer", rows=rows,
        header=("layer", "switch epoch", "mode"),
    )  # fmt: skip


def _attention(store: ResultsStore, best: TrialRecord | None) -> Section:
    title = "What each layer became (best trial)"
    if best is None:
        return Section(title, note="no trial has completed yet")
    epochs = [(e.epoch, e.layers) for e in store.epoch_metrics(trial_id=best.id) if e.layers]
    if not epochs:
        return Section(title, note="the best trial's epochs carry no per-layer statistics (an older search)")
    layers = [[None if x.tap_mass is None else (x.attention_distance or 0.0, x.tap_mass) for x in stats]
              for _, stats in epochs]  # fmt: skip
    last = epochs[-1][1]
    rows = [(i, x.mode, _num(x.attention_distance, ".2f"), _num(x.tap_mass, ".2f")) for i, x in enumerate(last, 1)]
    return Section(
        title, png=plots.attention_png([e for e, _ in epochs], layers, f"trial {best.trial_key}, per layer"),
        text="Mean attention distance (in tokens) and attention on the layer's own convolution tap, measured on a "
        "fixed probe of validation images after every epoch; a 3x3 convolution has 1.07 and 1.",
        alt="attention distance and tap mass per layer over epochs", rows=rows,
        header=("layer", "mode after the last epoch", "attention distance", "tap mass"),
    )  # fmt: skip


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _data_scale(store: ResultsStore, search: SearchRecord) -> Section:
    study = latest_study(store, search.dataset, search.model)
    if study is not None:
        name, rows = study
        source = f"data-scale study {name}"
    else:
        rows = [
            StudyRow(search.dataset, None, b.num_samples, "best searched schedule", ",".join(map(str, b.schedule)),
                     1, b.val_acc, 0.0, b.test_acc, 0.0 if b.test_acc is not None else None)
            for b in store.best_schedules(dataset=search.dataset)
        ]  # fmt: skip
        source = f"the best schedule of each searched size of {search.dataset}"
    title = "Accuracy against dataset size"
    if not rows:
        return Section(title, note=f"nothing stored for {search.dataset} yet")
    png = plots.data_scale_png(rows, f"{search.dataset}: accuracy against dataset size ({source})")
    table = [(r.num_samples, r.label, r.schedule, r.repeats, _acc(r.val_mean), _acc(r.test_mean)) for r in rows]
    return Section(
        title, text=f"From {source}.", png=png, alt="accuracy against dataset size", rows=table,
        header=("images", "schedule", "switch epochs", "runs", "val acc", "test acc"),
    )  # fmt: skip


def _fourier(
    store: ResultsStore, search: SearchRecord, best: TrialRecord | None, data_dir: Path, max_images: int,
    reading: Reading,
) -> Section:  # fmt: skip
    title = "Fourier analysis of the best trial's feature maps"
    if best is None:
        return Section(title, note="no trial has completed: nothing to analyse")
    try:
        trained = from_trial(store, search.name, best.trial_key)
        assert trained.data is not None  # a stored trial always records its data
        profile = trained.fourier(trained.data.splits(data_dir), max_images, reading)
    except PRSError as err:  # the page is still worth having without this section
        log.warning("report %s: no Fourier analysis: %s", search.name, err)
        return Section(title, note=f"not available: {err}")
    per_sublayer = zip(profile.labels(), profile.sublayer_modes(), profile.high_frequency(), strict=True)
    return Section(
        title, png=plots.fourier_png(profile, trained.title), alt="relative log amplitude of feature maps",
        text="After every sub-layer: the token mixer's residual add, then the MLP's (Park & Kim 2022).",
        rows=[(label, mode, f"{high:+.3f}") for label, mode, high in per_sublayer],
        header=("sub-layer", "mode", profile.high_label()),
    )  # fmt: skip
