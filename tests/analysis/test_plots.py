"""The data-scale plot's interval bands: drawn where a size has an interval, never bridging one without."""

from matplotlib.figure import Figure

from prs_search.analysis.plots import _band
from prs_search.stats import Interval


def test_a_band_never_bridges_a_size_without_an_interval() -> None:
    ax = Figure().add_subplot()
    points = [
        (500, Interval(0.36, 0.35, 0.37, 2)),
        (1200, Interval(0.45, None, None, 1)),  # one seed: no interval
        (3000, Interval(0.52, 0.50, 0.54, 2)),
        (20000, Interval(0.55, 0.53, 0.57, 2)),
    ]
    _band(ax, "all-conv", points)
    fill, bars = ax.collections
    spans = [(path.vertices[:, 0].min(), path.vertices[:, 0].max()) for path in fill.get_paths()]
    assert spans and all(not low < 1200 < high for low, high in spans)
    assert any(low <= 3000 and high >= 20000 for low, high in spans)  # neighbours with intervals are shaded
    # Every interval is drawn at its point, the isolated one at 500 too.
    assert sorted(tuple(segment[:, 0]) for segment in bars.get_segments()) == [(500, 500), (3000, 3000), (20000, 20000)]
    assert ax.lines[0].get_xdata().tolist() == [500, 1200, 3000, 20000]  # the means, one seed's included
