"""How long `prs-search run` takes to refuse bad input, against the CLI's own start-up in the same run.

    .venv/bin/python benchmarks/cli_fail_fast.py --repeats 3

The tests (tests/cli/test_search_errors.py) check that bad input gives one line and exit code 2, and that a
bad Ray address is refused before the data loads; timings belong here, as ratios to a baseline taken on
the same machine at the same time: `prs-search run --help` (importing the CLI) and an unknown dataset
(importing torch and the data registry). A bad Ray address should cost about as much as the baseline plus
one refused TCP connection, not Ray's 15-30 s of retries.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = str(Path(sys.executable).with_name("prs-search"))
CASES = {
    "run --help (baseline)": ["run", "--help"],
    "unknown dataset": ["run", "--dataset", "no-such-data", "--budget", "2"],
    "bad Ray address": ["run", "--dataset", "digits", "--budget", "2", "--ray-address", "127.0.0.1:1"],
    "bad Ray address, missing image folder": [
        "run", "--dataset", "imagefolder:/no/such/folder", "--budget", "2", "--ray-address", "127.0.0.1:1",
    ],
}  # fmt: skip


def seconds(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([CLI, *args], env=env, capture_output=True, timeout=300)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRS_") and k != "RAY_ADDRESS"}
        env["PRS_HOME"] = home
        times = {name: [seconds(case, env) for _ in range(args.repeats)] for name, case in CASES.items()}
    baseline = statistics.median(times["run --help (baseline)"])
    print(f"{os.cpu_count()} CPUs, median of {args.repeats} runs")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40s} {median:6.2f} s  ({median / baseline:4.2f}x the baseline)")


if __name__ == "__main__":
    main()
