"""Analyses of trained models and searches: the Fourier analysis of feature maps, the data-scale study
and the HTML report (`prs-search analyze fourier`, `study data-scale`, `report`).

Modules: `fourier` (pure tensor maths), `features` (hooks that collect block outputs), `sources` (the
model and data to analyse), `study`, `plots` (matplotlib, Agg canvas), `report` (HTML).
"""
