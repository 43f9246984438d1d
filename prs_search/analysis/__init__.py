"""Analyses of trained models and searches: the Fourier analysis of feature maps and the HTML report
(`prs-search analyze fourier`, `report`; the data-scale study is `prs_search.study`).

Modules: `fourier` (pure tensor maths, both readings of the diagonal), `features` (hooks that collect the
maps after every sub-layer), `sources` (the model and data to analyse), `plots` (matplotlib, Agg canvas),
`report` (HTML).
"""
