"""The data-scale study (`prs-search study data-scale`): fixed schedules trained across dataset sizes.

Modules: `protocol` (the request, the sizes, the epochs each trains, the schedules rescaled to them),
`driver` (`run_data_scale`: plans the runs, reuses the stored ones, stores each as it finishes), `runs`
(one run, in this process or as a Ray task), `summary` (intervals over seeds, paired differences),
`fourier_trend` (convolution time against high frequency), `tables` (CSV, Markdown and console cells).
Imported by module, not from here: the CLI's `--help` must not pay for torch.
"""
