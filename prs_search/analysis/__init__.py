"""Analyses of trained models and searches: the Fourier analysis of feature maps, the data-scale study
and the HTML report (`prs-search analyze fourier`, `study data-scale`, `report`).

Modules: `fourier` (pure tensor maths, both readings of the diagonal), `features` (hooks that collect the
maps after every sub-layer), `sources` (the model and data to analyse), `study` (runs, protocol, summary),
`tables` (the study's CSV, Markdown and console cells), `plots` (matplotlib, Agg canvas), `report` (HTML).
"""
