"""`prs-search report`: one self-contained HTML page about a search (plots embedded as base64 PNG).

Sections: the search's settings and outcome; its history (validation accuracy per trial, pruned and
failed trials marked, the best so far); the best schedule per layer; accuracy against dataset size (the
newest data-scale study of the dataset if one is stored, else the best schedule of each searched size);
the Fourier analysis of the best trial's feature maps. Every piece of text is HTML-escaped.
"""

import base64
import html
import logging
from collections.abc import Sequence
from pathlib import Path

from prs_search.analysis import plots
from prs_search.analysis.sources import find_search, from_trial
from prs_search.analysis.study import StudyRow, latest_study
from prs_search.errors import PRSError
from prs_search.store import ResultsStore, SearchRecord, TrialRecord

log = logging.getLogger(__name__)

PAGE = 1000  # trials read per query (the store's page limit)
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; }
.note { color: #8a4b00; }
"""


def build_report(store: ResultsStore, name: str, data_dir: Path, max_images: int = 512) -> str:
    """The report of search `name` (its name or id) as one HTML document."""
    search = find_search(store, name)
    trials = _all_trials(store, search.id)
    best = store.best_trial(search.id)
    body = [
        f"<h1>prs-search report: {_e(search.name)}</h1>",
        _summary(search, trials, best),
        _history(search, trials),
        _schedule(search, best),
        _data_scale(store, search),
        _fourier(store, search, best, data_dir, max_images),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>prs-search report: {_e(search.name)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(rows: Sequence[Sequence[object]], header: Sequence[str] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _all_trials(store: ResultsStore, search_id: int) -> list[TrialRecord]:
    trials, total = store.list_trials(search_id, limit=PAGE)
    while len(trials) < total:
        more, _ = store.list_trials(search_id, offset=len(trials), limit=PAGE)
        if not more:
            break
        trials += more
    return trials


def _summary(search: SearchRecord, trials: list[TrialRecord], best: TrialRecord | None) -> str:
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
    return "<h2>Search</h2>" + _table(rows)


def _history(search: SearchRecord, trials: list[TrialRecord]) -> str:
    if not trials:
        return "<h2>History</h2>" + _note("the search has no trials yet")
    png = plots.history_png(trials, f"{search.name}: validation accuracy per trial")
    return "<h2>History</h2>" + _img(png, "validation accuracy per trial")


def _schedule(search: SearchRecord, best: TrialRecord | None) -> str:
    if best is None:
        return "<h2>Best schedule</h2>" + _note("no trial has completed: there is no best schedule yet")
    png = plots.schedule_png(best.schedule, search.epochs, f"best schedule (trial {best.trial_key})")
    rows = [(f"layer {i}", e, "convolution throughout" if e >= search.epochs else f"attention from epoch {e}")
            for i, e in enumerate(best.schedule, start=1)]  # fmt: skip
    return (
        f"<h2>Best schedule: {_e(','.join(map(str, best.schedule)))}</h2>"
        + _img(png, "best schedule per layer")
        + _table(rows, ("layer", "switch epoch", "mode"))
    )


def _data_scale(store: ResultsStore, search: SearchRecord) -> str:
    study = latest_study(store, search.dataset, search.model)
    if study is not None:
        name, rows = study
        source = f"data-scale study {name}"
    else:
        rows = [
            StudyRow(search.dataset, None, b.num_samples, "best searched schedule", ",".join(map(str, b.schedule)),
                     1, b.val_acc, 0.0, b.test_acc, 0.0 if b.test_acc is not None else None)
            for b in store.best_schedules(search.dataset)
        ]  # fmt: skip
        source = f"the best schedule of each searched size of {search.dataset}"
    if not rows:
        return "<h2>Accuracy against dataset size</h2>" + _note(f"nothing stored for {search.dataset} yet")
    png = plots.data_scale_png(rows, f"{search.dataset}: accuracy against dataset size ({source})")
    table = [(r.num_samples, r.label, r.schedule, r.repeats, _acc(r.val_mean), _acc(r.test_mean)) for r in rows]
    return (
        "<h2>Accuracy against dataset size</h2>"
        + f"<p>From {_e(source)}.</p>"
        + _img(png, "accuracy against dataset size")
        + _table(table, ("images", "schedule", "switch epochs", "runs", "val acc", "test acc"))
    )


def _fourier(
    store: ResultsStore, search: SearchRecord, best: TrialRecord | None, data_dir: Path, max_images: int
) -> str:
    title = "<h2>Fourier analysis of the best trial's feature maps</h2>"
    if best is None:
        return title + _note("no trial has completed: nothing to analyse")
    try:
        trained = from_trial(store, search.name, best.trial_key)
        assert trained.data is not None  # a stored trial always records its data
        profile = trained.fourier(trained.data.splits(data_dir), max_images)
    except PRSError as err:  # the page is still worth having without this section
        log.warning("report %s: no Fourier analysis: %s", search.name, err)
        return title + _note(f"not available: {err}")
    per_layer = zip(profile.modes(), profile.high_frequency(), strict=True)
    rows = [(layer, mode, f"{high:+.3f}") for layer, (mode, high) in enumerate(per_layer, start=1)]
    return (
        title
        + _img(plots.fourier_png(profile, trained.title), "relative log amplitude of feature maps")
        + _table(rows, ("layer", "mode", f"delta log amplitude at {profile.frequencies[-1]:.2f} pi"))
    )
