"""What `prs-search study data-scale --jobs N` gains in wall time over `--jobs 1` on this machine.

The same small study (`tiny` on mnist5k by default: 2 sizes x 3 schedules + the plain CNN, one seed) is run
into a fresh SQLite file per configuration: `--jobs 1` as a user gets it (torch threads = all cores), `--jobs
1` with one thread, and `--jobs N` (threads = cores / N each). Printed: each wall time (Ray's start
included) and its ratio to the first. Run it on an otherwise idle machine.

    python benchmarks/study_jobs.py --jobs 2
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from prs_search.store import ResultsStore
from prs_search.study.driver import run_data_scale
from prs_search.study.protocol import DataScaleRequest
from prs_search.study.runs import default_threads


def timed(request: DataScaleRequest, folder: Path, tag: str) -> float:
    start = time.perf_counter()
    with ResultsStore(f"sqlite:///{folder / f'{tag}.db'}") as store:
        result = run_data_scale(request, store)
    seconds = time.perf_counter() - start
    assert result.trained == len(result.runs)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--sizes", default="500,1000")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    cores = default_threads(1)  # the cores this process may use: what --jobs 1 gives each run
    base = DataScaleRequest(
        dataset=args.dataset, schedules="all-conv,prs,all-attention", data_dir=Path("~/.prs-search/data").expanduser(),
        sizes=tuple(int(s) for s in args.sizes.split(",")), epochs=args.epochs, model="tiny", fourier=False,
    )  # fmt: skip
    configs = {
        f"--jobs 1 ({cores} threads)": {"jobs": 1, "threads": cores},
        "--jobs 1 (1 thread)": {"jobs": 1, "threads": 1},
        f"--jobs {args.jobs} ({default_threads(args.jobs)} thread(s) each)": {"jobs": args.jobs, "threads": None},
    }
    with tempfile.TemporaryDirectory() as tmp:
        times = {
            label: timed(DataScaleRequest(**{**base.__dict__, **change}), Path(tmp), str(i))
            for i, (label, change) in enumerate(configs.items())
        }
    first = next(iter(times.values()))
    print(f"{args.dataset}, tiny, sizes {args.sizes}, {args.epochs} epochs, {cores} cores")
    for label, seconds in times.items():
        print(f"{label:32s} {seconds:7.1f} s  x{first / seconds:.2f} faster than the first")


if __name__ == "__main__":
    main()
