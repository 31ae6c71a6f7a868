"""Benchmark of the exact EM on Dask arrays against the in-memory fit (issue 16).

Not a test: it measures, prints a table and records the figures. Per EM
iteration, rows per second of

(a) the in-memory fit of ``MixtureOfExpertsRegressor`` on a NumPy array, and
(b) the same fit on a Dask array on a ``distributed.LocalCluster`` with 2
    worker processes of one thread each,

with d = 20 features and K = 8 LinearRegression experts, from the same initial
responsibilities. The Dask array is generated lazily, block by block, from a
seed (``dask.array.random``): no process ever holds all of it, and every pass
over the blocks generates them again (the time of one generating pass,
``X.sum()``, is reported beside). The time of one iteration is
``(t(max_iter=1 + m) - t(max_iter=1)) / m``: the set-up (summary pass,
initial responsibilities) cancels. Peak memory: the client's Python
allocations during the Dask fit (``tracemalloc``) and each worker's peak
resident set (``ru_maxrss``; a new cluster per size); for the in-memory fit,
the peak of Python allocations during the fit. The in-memory array is made
from the same generator (``compute()``), only for (a).

Usage::

    python benchmarks/bench_dask.py            # n = 1e6 and 1e7, writes results/bench_dask.md
    python benchmarks/bench_dask.py --quick    # n = 1e5 and 2e5, prints only
"""

import datetime
import resource
import time
import tracemalloc
import warnings
from pathlib import Path

import dask
import dask.array as da
import distributed
import numpy as np
from bench_estep import (
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor

RESULTS = Path(__file__).resolve().parent / "results" / "bench_dask.md"
N_FEATURES, N_EXPERTS = 20, 8
BLOCK_ROWS = 100_000
SEED = 0


def lazy_data(n_samples, block_rows):
    """X, y and initial responsibilities as lazy Dask arrays generated from a seed.

    y switches between K linear regimes by the sign pattern of the first
    three columns (a piecewise-linear function the gate can learn).
    """
    state = da.random.RandomState(SEED)
    X = state.normal(size=(n_samples, N_FEATURES), chunks=(block_rows, N_FEATURES))
    coef = np.random.RandomState(SEED).normal(size=(N_EXPERTS, N_FEATURES))
    regime = ((X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)
              + 4 * (X[:, 2] > 0).astype(int))
    means = X @ coef.T
    y = da.choose(regime, [means[:, k] for k in range(N_EXPERTS)])
    y = y + 0.1 * state.normal(size=n_samples, chunks=block_rows)
    draws = state.standard_exponential(size=(n_samples, N_EXPERTS),
                                       chunks=(block_rows, N_EXPERTS))
    init = draws / draws.sum(axis=1, keepdims=True)
    return X, y, init


def _model(init, max_iter):
    return MixtureOfExpertsRegressor(LinearRegression(), n_experts=N_EXPERTS, init=init,
                                     max_iter=max_iter, tol=0.0, min_expert_weight=0.0)


def _timed_fit(init, max_iter, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        started = time.perf_counter()
        model = _model(init, max_iter).fit(X, y)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak, model


def _worker_peak():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_dask(n_samples, iterations):
    """Per-iteration time and peak memory of the Dask fit on a fresh 2-worker cluster."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    client = distributed.Client(cluster)
    try:
        X, y, init = lazy_data(n_samples, BLOCK_ROWS)
        started = time.perf_counter()
        X.sum().compute()
        generate = time.perf_counter() - started
        # Warm-up: Numba's kernels load in both workers (one block each).
        _timed_fit(init[:2 * BLOCK_ROWS], 1, X[:2 * BLOCK_ROWS], y[:2 * BLOCK_ROWS])
        one, _, _ = _timed_fit(init, 1, X, y)
        more, client_peak, model = _timed_fit(init, 1 + iterations, X, y)
        workers = sorted(client.run(_worker_peak).values())
        return {"per_iter": (more - one) / iterations, "generate": generate,
                "client_peak": client_peak, "worker_peaks": workers,
                "lower_bound": model.lower_bound_}
    finally:
        client.close()
        cluster.close()


def bench_memory(n_samples, iterations):
    """Per-iteration time and peak Python allocations of the in-memory fit."""
    X, y, init = lazy_data(n_samples, BLOCK_ROWS)
    with dask.config.set(scheduler="threads"):
        X, y, init = dask.compute(X, y, init)
    X, y, init = np.ascontiguousarray(X), np.asarray(y), np.asarray(init)
    _timed_fit(init[:BLOCK_ROWS], 1, X[:BLOCK_ROWS], y[:BLOCK_ROWS])
    one, _, _ = _timed_fit(init, 1, X, y)
    more, peak, model = _timed_fit(init, 1 + iterations, X, y)
    return {"per_iter": (more - one) / iterations, "peak": peak,
            "lower_bound": model.lower_bound_, "data_bytes": X.nbytes + y.nbytes}


def _mib(value):
    return f"{value / 2**20:,.0f}"


def report(args, rows, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = _markdown_table(
        ["n", "in-memory rows/s per iteration", "Dask rows/s per iteration",
         "Dask / in-memory time", "generating pass (s)", "in-memory peak (MiB)",
         "Dask client peak (MiB)", "Dask worker peaks (MiB)", "lower bound (memory / Dask)"],
        [[f"{row['n']:,}",
          f"{row['n'] / row['memory']['per_iter']:,.0f}" if row["memory"] else "not run",
          f"{row['n'] / row['dask']['per_iter']:,.0f}",
          f"{row['dask']['per_iter'] / row['memory']['per_iter']:.2f}" if row["memory"]
          else "",
          f"{row['dask']['generate']:.1f}",
          _mib(row["memory"]["peak"]) if row["memory"] else "",
          _mib(row["dask"]["client_peak"]),
          ", ".join(_mib(v) for v in row["dask"]["worker_peaks"]),
          (f"{row['memory']['lower_bound']:.6f} / " if row["memory"] else "")
          + f"{row['dask']['lower_bound']:.6f}"]
         for row in rows])
    return f"""# bench_dask results

Recorded {date} by `python benchmarks/bench_dask.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).

`MixtureOfExpertsRegressor(LinearRegression(), n_experts={N_EXPERTS})` on d = {N_FEATURES}
features, from the same initial responsibilities, `tol=0`; time per EM iteration
from fits of 1 and {1 + args.iterations} iterations. Dask: `LocalCluster(n_workers=2,
threads_per_worker=1, processes=True)`, blocks of {BLOCK_ROWS:,} rows generated lazily from
a seed in every pass (the generating pass alone is the column beside). The in-memory
gate ({N_EXPERTS * (N_FEATURES + 1)} parameters) takes L-BFGS steps; the Dask gate a
Newton step whose Hessian each block forms (its cost grows as K^2 d^2 per row).
In-memory peak: Python allocations during the fit, the data ({N_FEATURES + 1} float64
per row) not counted. Dask client peak: Python allocations on the client during the fit.
Worker peak: resident set of each worker process over its life.

{table}

{machine_section(machine, blas)}
"""


def parse_args(argv=None):
    parser = benchmark_parser(__doc__, RESULTS)
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--memory-max", type=int, default=None,
                        help="largest n fitted in memory too (default: every size)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [100_000, 200_000] if args.quick else [1_000_000, 10_000_000]
    args.iterations = 1 if args.quick else 2
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load_average()
    rows = []
    for n in args.sizes:
        dask_result = bench_dask(n, args.iterations)
        memory = (bench_memory(n, args.iterations)
                  if args.memory_max is None or n <= args.memory_max else None)
        rows.append({"n": n, "dask": dask_result, "memory": memory})
        print(n, dask_result, memory, flush=True)
    text = report(args, rows, machine_info(), blas_info(), load_before, _load_average(),
                  time.perf_counter() - started)
    print(text)
    if args.output is not None:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
