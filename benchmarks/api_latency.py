"""Latency and throughput of GET /v1/recommendation against a trivial FastAPI JSON route, in the same run:
the same uvicorn server, the same client processes, one route after the other.

    .venv/bin/python benchmarks/api_latency.py                       # SQLite file in a temp folder
    .venv/bin/python benchmarks/api_latency.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench

1. Fills the database (it must be empty, or pass --reuse) with realistic rows through `ResultsStore`:
   DATASETS datasets x SIZES finished searches, each with TRIALS trials (a third COMPLETE with every
   epoch, the rest pruned early) and a best schedule.
2. Starts uvicorn on loopback, in its own process, with the API's app (`create_app`, read-only) plus two
   trivial routes that return `{"status": "ok"}`: `/bench/trivial` (`def`, run in the thread pool like
   the API's routes) and `/bench/trivial-async` (`async def`, the cheapest route FastAPI has).
3. For each route in turn, runs CLIENTS client processes (multiprocessing), each one keep-alive httpx
   connection sending requests back to back for DURATION seconds; recommendation sizes drawn at random
   (exact, interpolated and nearest answers all occur; ASKED_SIZES, all cached after the warm-up).
   Warm-up requests are not counted.
4. Prints requests per second and p50 / p99 latency (client side) per route, and the recommendation's
   requests per second as a ratio of each trivial route's. Goal: >= 0.8x, p99 < 10 ms.
"""

import argparse
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore

ROUTES = ("/bench/trivial", "/bench/trivial-async", "/v1/recommendation")
DEPTH = 7
EPOCHS = 10
SIZES = (500, 1000, 2000, 5000, 10000, 20000)
# What clients ask: the searched sizes and 40 others, log-spaced from 100 to 40,000 (exact, interpolated and
# nearest answers). Each is asked once before the clients start, so the figures are the cached steady
# state; the first answer for a size costs what an uncached request did (several queries).
ASKED_SIZES = (*SIZES, *(round(100 * 400 ** (i / 39)) for i in range(40)))


def fill(store: ResultsStore, datasets: int, trials: int, seed: int = 0) -> int:
    """Finished searches for every (dataset, size); returns the number of trials written."""
    rng = random.Random(seed)
    written = 0
    for d in range(datasets):
        dataset = f"bench{d}"
        for size in SIZES:
            name = f"{dataset}-{size}"
            search = store.create_search(NewSearch(
                name=name, dataset=dataset, num_samples=size, fraction=size / 50000, space="monotone",
                space_config={"schedule": "monotone"}, budget=trials, epochs=EPOCHS, model="tiny",
                model_config={"preset": "tiny", "depth": DEPTH}, stem="conv", seed=0, study_name=f"prs-{name}",
            ))  # fmt: skip
            store.set_search_status(search_id=search.id, status="running")
            for t in range(trials):
                schedule = sorted((rng.randint(0, EPOCHS) for _ in range(DEPTH)), reverse=True)
                key = str(t)
                store.start_trial(
                    search_id=search.id, trial_key=key, schedule=schedule,
                    params={f"e{i}": e for i, e in enumerate(schedule)}, optuna_number=t,
                )  # fmt: skip
                complete = t % 3 == 0
                for epoch in range(EPOCHS if complete else 2):
                    acc = 0.1 + 0.05 * epoch + 0.02 * rng.random()
                    store.record_epoch(
                        search_id=search.id,
                        trial_key=key,
                        epoch=epoch,
                        metrics={"val_acc": acc, "train_loss": 2.0, "seconds": 1.0},
                    )
                store.finish_trial(search_id=search.id, trial_key=key, state="COMPLETE" if complete else "PRUNED")
                written += 1
            best = store.best_trial(search_id=search.id)
            assert best is not None
            store.set_test_result(search_id=search.id, trial_id=best.id, test_acc=(best.val_acc or 0.0) - 0.01)
            store.update_best_schedule(search_id=search.id)
            store.set_search_status(search_id=search.id, status="finished")
    return written


def bench_app() -> Any:
    """The API's app with the trivial routes it is compared with (uvicorn --factory api_latency:bench_app)."""
    from prs_search.api.main import create_app

    app = create_app()

    @app.get("/bench/trivial")
    def trivial() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/bench/trivial-async")
    async def trivial_async() -> dict[str, str]:
        return {"status": "ok"}

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PRS_DATABASE_URL": url, "PRS_API_WRITES_ENABLED": "false", "PRS_API_MIGRATE": "false"}
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "api_latency:bench_app", "--app-dir", str(Path(__file__).parent),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        "--no-access-log",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited with code {server.returncode}")
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("uvicorn did not answer /health within 120 s")


def client(args: tuple[str, str, list[str], float, float, int]) -> tuple[list[float], int]:
    """One client process: (latencies in seconds, non-200 answers)."""
    base, route, datasets, warmup, duration, seed = args
    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        start = time.perf_counter()
        stop = start + warmup + duration
        while (now := time.perf_counter()) < stop:
            if route == "/v1/recommendation":
                size = rng.choice(ASKED_SIZES)
                response = http.get(route, params={"dataset": rng.choice(datasets), "num_samples": size})
            else:
                response = http.get(route)
            elapsed = time.perf_counter() - now
            if now - start >= warmup:
                latencies.append(elapsed)
                errors += response.status_code != 200
    return latencies, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temp folder)")
    parser.add_argument("--reuse", action="store_true", help="use the rows already in --db")
    parser.add_argument("--datasets", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30, help="trials per search")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not counted")
    args = parser.parse_args()

    folder = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(folder.name) / 'bench.db'}"
    store = ResultsStore(url)
    datasets = [f"bench{d}" for d in range(args.datasets)]
    if not args.reuse:
        if store.list_searches(limit=1)[1]:
            raise SystemExit(f"{store.safe_url} is not empty: pass an empty database, or --reuse")
        started = time.perf_counter()
        trials = fill(store, args.datasets, args.trials)
        print(f"filled {store.safe_url}: {len(datasets) * len(SIZES)} searches, {trials} trials "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    store.dispose()

    port = free_port()
    server = start_server(url, port, args.workers)
    results: dict[str, tuple[list[float], int]] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:  # every answer, once
            for dataset in datasets:
                for size in ASKED_SIZES:
                    http.get("/v1/recommendation", params={"dataset": dataset, "num_samples": size})
        for route in ROUTES:
            jobs = [
                (f"http://127.0.0.1:{port}", route, datasets, args.warmup, args.duration, i)
                for i in range(args.clients)
            ]
            with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
                done = pool.map(client, jobs)
            results[route] = ([x for lat, _ in done for x in lat], sum(e for _, e in done))
    finally:
        server.terminate()
        server.wait(timeout=30)
        folder.cleanup()

    print(
        f"{args.clients} client processes x 1 keep-alive connection, uvicorn workers {args.workers}, "
        f"{len(os.sched_getaffinity(0))} CPUs usable, backend {url.split(':', 1)[0]}, {args.duration:.0f} s per route"
    )
    rate = {route: len(lat) / args.duration for route, (lat, _) in results.items()}
    for route, (latencies, errors) in results.items():
        ms = [x * 1000 for x in latencies]
        print(
            f"{route:24s} {rate[route]:7.0f} req/s  p50 {percentile(ms, 50):6.2f} ms  "
            f"p99 {percentile(ms, 99):6.2f} ms  max {max(ms):7.2f} ms  mean {statistics.fmean(ms):5.2f} ms  "
            f"non-200: {errors}"
        )
    for trivial in ROUTES[:2]:
        print(f"recommendation / {trivial}: {rate['/v1/recommendation'] / rate[trivial]:.2f}x requests per second")


if __name__ == "__main__":
    main()
