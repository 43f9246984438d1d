"""The analysis plots, drawn with matplotlib's Agg canvas and returned as PNG bytes.

`Figure` objects with an explicit Agg canvas, never `pyplot`: no global figure state, no GUI backend,
safe in a server or a thread. Callers write the bytes to a file or embed them in HTML. Titles carry
user text (search and study names), so they are drawn with `parse_math=False`: a '$' is just a '$'.
"""

import io
import math
from collections.abc import Sequence

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import ColorType

from prs_search.analysis.fourier import FourierProfile
from prs_search.baseline import NAME as CNN_LABEL
from prs_search.stats import Interval
from prs_search.store import TrialRecord
from prs_search.study.summary import StudyRow

CONV_COLOR = "tab:blue"
ATTENTION_COLOR = "tab:orange"
DPI = 110


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def fourier_png(profile: FourierProfile, title: str) -> bytes:
    """Left: relative log amplitude over frequency, one curve per sub-layer (dashed: a convolution block's;
    light: after the MLP). Right: the value at the highest frequency read per sub-layer, mixer and MLP
    alternating along the depth, coloured by the block's mode."""
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    curves, per_layer = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    cmap = colormaps["viridis"]
    modes = profile.sublayer_modes()
    for i, (row, label, mode) in enumerate(zip(profile.delta, profile.labels(), modes, strict=True)):
        curves.plot(
            profile.frequencies, row, color=cmap(i / max(len(profile.delta) - 1, 1)),
            linestyle="-" if mode == "attention" else "--", alpha=1.0 if label.endswith("mixer") else 0.55,
            marker="o", markersize=3, label=f"{label} ({mode})",
        )  # fmt: skip
    curves.set_xlabel(f"frequency (x pi) along the diagonal, as the {profile.reading} reading labels it")
    curves.set_ylabel("delta log amplitude")
    curves.set_title("relative log amplitude of feature maps")
    curves.axhline(0.0, color="grey", linewidth=0.6)
    curves.legend(fontsize=7, ncol=2 if len(profile.delta) > 6 else 1)
    _high_frequency_axes(per_layer, profile)
    per_layer.plot(range(1, len(profile.delta) + 1), profile.high_frequency(), color="grey", linewidth=1)
    colors = [ATTENTION_COLOR if m == "attention" else CONV_COLOR for m in modes]
    per_layer.scatter(range(1, len(profile.delta) + 1), profile.high_frequency(), c=colors, s=45, zorder=3)
    per_layer.set_title("high-frequency amplitude per sub-layer")
    per_layer.legend(handles=_mode_handles(), fontsize=8)
    fig.suptitle(f"{title} ({profile.images} validation images, {profile.reading} reading)", parse_math=False)
    return _png(fig)


def _high_frequency_axes(ax: Axes, profile: FourierProfile) -> None:
    """Sub-layer depth on x (mixer and MLP of each block alternating), the high-frequency delta on y."""
    ax.set_xticks(range(1, len(profile.delta) + 1), profile.labels(), rotation=60, fontsize=7)
    ax.set_xlabel("sub-layer (block, then mixer or MLP)")
    ax.set_ylabel(profile.high_label(), fontsize=8)
    ax.grid(alpha=0.3)


def fourier_comparison_png(profiles: Sequence[tuple[str, FourierProfile]], title: str) -> bytes:
    """The high-frequency delta per sub-layer of several models, one line each (dashed: an all-conv model)."""
    fig = Figure(figsize=(8, 4.4), layout="constrained")
    ax = fig.subplots()
    for label, profile in profiles:
        style = "--" if all(m == "conv" for m in profile.modes()) else "-"
        ax.plot(range(1, len(profile.delta) + 1), profile.high_frequency(), style, marker="o", label=label)
    if profiles:
        _high_frequency_axes(ax, profiles[0][1])
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.legend(fontsize=8)
    ax.set_title(title, parse_math=False)
    return _png(fig)


def _mode_handles() -> list[Line2D]:
    return [
        Line2D([], [], marker="o", linestyle="", color=CONV_COLOR, label="convolution"),
        Line2D([], [], marker="o", linestyle="", color=ATTENTION_COLOR, label="self-attention"),
    ]


def data_scale_png(rows: Sequence[StudyRow], title: str) -> bytes:
    """Left: test accuracy against dataset size (log scale), one line per schedule with its 95% band over
    seeds (validation accuracy where no row has a test accuracy). Right: each schedule's paired difference
    in test accuracy against all-conv, with its band; a note instead where all-conv is not in the rows."""
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    acc_ax, diff_ax = fig.subplots(1, 2, sharex=True)  # shared: an empty right panel keeps the sizes
    split = "test" if any(r.accuracy("test") is not None for r in rows) else "val"
    labels = list(dict.fromkeys(r.label for r in rows))
    for label in labels:
        mine = sorted((r for r in rows if r.label == label), key=lambda r: r.num_samples)
        # The plain CNN is the bar, not a schedule: drawn apart, black and dashed.
        cnn = label == CNN_LABEL
        dash = "--" if cnn else "-"
        points = [(r.num_samples, r.accuracy(split)) for r in mine]
        (line,) = _band(acc_ax, label, points, color="black" if cnn else None, linestyle=dash)
        _band(diff_ax, label, [(r.num_samples, r.vs_all_conv) for r in mine], color=line.get_color(), linestyle=dash)
    sizes = sorted({r.num_samples for r in rows})
    name = "test" if split == "test" else "validation"
    acc_ax.set_title(f"{name} accuracy (mean, 95% interval over seeds)")
    acc_ax.set_ylabel(f"{name} accuracy")
    acc_ax.legend(fontsize=8)
    diff_ax.set_title("paired difference against all-conv (95% interval)")
    diff_ax.set_ylabel("test accuracy minus all-conv's (same seed)")
    diff_ax.axhline(0.0, color="grey", linewidth=0.8)
    if not any(r.vs_all_conv is not None for r in rows):
        diff_ax.text(0.5, 0.5, "all-conv is not among the schedules:\nno paired differences", ha="center",
                     va="center", transform=diff_ax.transAxes)  # fmt: skip
    for ax in (acc_ax, diff_ax):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("dataset size (images, log scale)")
        ax.grid(alpha=0.3)
    fig.suptitle(title, parse_math=False)
    return _png(fig)


def _band(
    ax: Axes, label: str, points: Sequence[tuple[int, Interval | None]], color: ColorType | None = None,
    linestyle: str = "-",
) -> list[Line2D]:  # fmt: skip
    """A mean line with its interval at each point that has one (a single seed has none), shaded between
    neighbouring points that both have one: a band never bridges a point without an interval."""
    shown = [(x, iv) for x, iv in points if iv is not None]
    xs, means = [x for x, _ in shown], [iv.mean for _, iv in shown]
    lines = ax.plot(xs, means, marker="o", label=label, color=color, linestyle=linestyle)
    ends = {x: (iv.low, iv.high) for x, iv in shown if iv.low is not None and iv.high is not None}
    if ends:
        shade = lines[0].get_color()
        bands = [ends.get(x, (math.nan, math.nan)) for x in xs]  # fill_between leaves a gap at NaN
        ax.fill_between(xs, [b[0] for b in bands], [b[1] for b in bands], color=shade, alpha=0.2)
        ax.vlines(list(ends), [e[0] for e in ends.values()], [e[1] for e in ends.values()], color=shade, alpha=0.5)
    return lines


def history_png(trials: Sequence[TrialRecord], title: str) -> bytes:
    """Final validation accuracy per trial in the order they were asked, pruned and failed trials marked,
    and the best complete trial so far."""
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    ordered = sorted(trials, key=lambda t: t.optuna_number if t.optuna_number is not None else t.id)
    number = {t.id: (t.optuna_number if t.optuna_number is not None else i) for i, t in enumerate(ordered)}
    styles = {
        "COMPLETE": {"marker": "o", "color": "tab:blue", "label": "complete"},
        "PRUNED": {"marker": "v", "color": "tab:grey", "label": "pruned (at its last epoch)"},
        "FAIL": {"marker": "x", "color": "tab:red", "label": "failed"},
        "RUNNING": {"marker": ".", "color": "tab:purple", "label": "running"},
    }
    for state, style in styles.items():
        mine = [t for t in ordered if t.state == state]
        if mine:
            ax.scatter([number[t.id] for t in mine], [t.val_acc or 0.0 for t in mine], zorder=3, **style)  # type: ignore[arg-type]
    best_x, best_y, best = [], [], None
    for t in ordered:
        if t.state == "COMPLETE" and t.val_acc is not None:
            best = t.val_acc if best is None else max(best, t.val_acc)
        if best is not None:
            best_x.append(number[t.id])
            best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", color="tab:green", label="best complete so far")
    ax.set_xlabel("trial (Optuna number)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title, parse_math=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def front_png(trials: Sequence[TrialRecord], front: Sequence[TrialRecord], title: str) -> bytes:
    """Validation accuracy against counted training FLOPs (log scale): every trial given as a point, the
    accuracy-compute front as a step line through its trials (the best accuracy reached at each cost)."""
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    ax.scatter([t.flops or 0.0 for t in trials], [t.val_acc or 0.0 for t in trials], color="tab:blue",
               alpha=0.6, label="complete trial")  # fmt: skip
    xs, ys = [t.flops or 0.0 for t in front], [t.val_acc or 0.0 for t in front]
    ax.step(xs, ys, where="post", color="tab:green", marker="o", label="front")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs, counted (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title, parse_math=False)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def schedule_png(schedule: Sequence[int], epochs: int, title: str) -> bytes:
    """One bar per layer: convolution from epoch 0 to its switch epoch, self-attention after."""
    depth = len(schedule)
    fig = Figure(figsize=(8, 0.5 * depth + 1.5), layout="constrained")
    ax = fig.subplots()
    layers = list(range(1, depth + 1))
    ax.barh(layers, list(schedule), color=CONV_COLOR, label="convolution")
    ax.barh(layers, [epochs - e for e in schedule], left=list(schedule), color=ATTENTION_COLOR, label="self-attention")
    for layer, switch in zip(layers, schedule, strict=True):
        ax.text(epochs + 0.01 * epochs, layer, f"switch at {switch}", va="center", fontsize=8)
    ax.set_yticks(layers, [f"layer {i}" for i in layers])
    ax.invert_yaxis()  # layer 1 (next to the stem) on top
    ax.set_xlim(0, epochs * 1.2)
    ax.set_xlabel("epoch")
    ax.set_title(title, parse_math=False)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8)
    return _png(fig)


CONV_DISTANCE = (4 + 4 * 2**0.5) / 9  # mean attention distance of a 3x3 convolution's one-hot taps


def attention_png(epochs: Sequence[int], layers: Sequence[Sequence[tuple[float, float] | None]], title: str) -> bytes:
    """Per layer over the epochs: mean attention distance (left) and attention on the own conv tap (right).

    `layers[e][l]` is (distance, tap mass) of layer l after epoch `epochs[e]`, None while it is a
    convolution (no point is drawn then)."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    dist_ax, tap_ax = fig.subplots(1, 2)
    depth = max((len(row) for row in layers), default=0)
    cmap = colormaps["viridis"]
    for layer in range(depth):
        color = cmap(layer / max(depth - 1, 1))
        points = [(e, row[layer]) for e, row in zip(epochs, layers, strict=True) if layer < len(row)]
        xs = [e for e, stats in points if stats is not None]
        dist_ax.plot(xs, [s[0] for _, s in points if s is not None], "o-", color=color, label=f"layer {layer + 1}")
        tap_ax.plot(xs, [s[1] for _, s in points if s is not None], "o-", color=color)
    dist_ax.axhline(CONV_DISTANCE, color=CONV_COLOR, ls="--", lw=1, label="3x3 convolution")
    tap_ax.axhline(1.0, color=CONV_COLOR, ls="--", lw=1)
    dist_ax.set_ylabel("mean attention distance (tokens)")
    tap_ax.set_ylabel("attention on the own conv tap")
    tap_ax.set_ylim(0, 1.05)
    for ax in (dist_ax, tap_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(title, parse_math=False)
    fig.legend(loc="outside right center", fontsize=8)
    return _png(fig)
