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
``X.sum()``, is reported beside). One fit of 2 EM iterations per size; the
time of one iteration is the time between the ends of its first and second
iterations (one pass over the blocks and one M-step; the set-up, summary pass
and initial responsibilities, is left out). Peak memory: the client's Python
allocations during the Dask fit (``tracemalloc``); each worker's resident set
before the fit (after a warm-up fit on two blocks that loads every module and
kernel) and its peak during the fit (the kernel's high-water mark ``VmHWM``,
reset before the fit through ``/proc/self/clear_refs``); for the in-memory
fit, the peak of Python allocations during the fit. The in-memory array is
made from the same generator (``compute()``), only for (a).

Usage::

    python benchmarks/bench_dask.py            # n = 1e6, 2e6 and 1e7, writes results/bench_dask.md
    python benchmarks/bench_dask.py --quick    # n = 1e5 and 2e5, prints only
"""

import datetime
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


class _TimedMixture(MixtureOfExpertsRegressor):
    """The mixture, noting when each EM iteration ends (in memory and on Dask alike)."""

    def _print_iteration(self, n_iter, lower_bound, change, seconds):
        self.__dict__.setdefault("iteration_ends_", []).append(time.perf_counter())
        super()._print_iteration(n_iter, lower_bound, change, seconds)


def _model(init, max_iter):
    return _TimedMixture(LinearRegression(), n_experts=N_EXPERTS, init=init,
                         max_iter=max_iter, tol=0.0, min_expert_weight=0.0)


def _timed_fit(init, X, y, max_iter=2):
    """The time of the last EM iteration, the client's peak Python allocations, the model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        model = _model(init, max_iter).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    ends = model.iteration_ends_
    return ends[-1] - ends[-2] if len(ends) > 1 else None, peak, model


def _status_bytes(field):
    """A field of this process's /proc/self/status, in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_worker_peak():
    """Reset this process's peak resident set to its current one; return the latter."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS")


def _worker_peak():
    return _status_bytes("VmHWM")


def bench_dask(n_samples):
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
        _timed_fit(init[:2 * BLOCK_ROWS], X[:2 * BLOCK_ROWS], y[:2 * BLOCK_ROWS], max_iter=1)
        before = sorted(client.run(_reset_worker_peak).values())
        per_iter, client_peak, model = _timed_fit(init, X, y)
        workers = sorted(client.run(_worker_peak).values())
        return {"per_iter": per_iter, "generate": generate,
                "client_peak": client_peak, "worker_before": before, "worker_peaks": workers,
                "lower_bound": model.lower_bound_}
    finally:
        client.close()
        cluster.close()


def bench_memory(n_samples):
    """Per-iteration time and peak Python allocations of the in-memory fit."""
    X, y, init = lazy_data(n_samples, BLOCK_ROWS)
    with dask.config.set(scheduler="threads"):
        X, y, init = dask.compute(X, y, init)
    X, y, init = np.ascontiguousarray(X), np.asarray(y), np.asarray(init)
    _timed_fit(init[:BLOCK_ROWS], X[:BLOCK_ROWS], y[:BLOCK_ROWS], max_iter=1)
    per_iter, peak, model = _timed_fit(init, X, y)
    return {"per_iter": per_iter, "peak": peak,
            "lower_bound": model.lower_bound_, "data_bytes": X.nbytes + y.nbytes}


def _mib(value):
    return f"{value / 2**20:,.0f}"


def report(args, rows, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = _markdown_table(
        ["n", "in-memory rows/s per iteration", "Dask rows/s per iteration",
         "Dask / in-memory time", "generating pass (s)", "in-memory peak (MiB)",
         "Dask client peak (MiB)", "Dask workers before the fit (MiB)",
         "Dask worker peaks in the fit (MiB)", "lower bound (memory / Dask)"],
        [[f"{row['n']:,}",
          f"{row['n'] / row['memory']['per_iter']:,.0f}" if row["memory"] else "not run",
          f"{row['n'] / row['dask']['per_iter']:,.0f}",
          f"{row['dask']['per_iter'] / row['memory']['per_iter']:.2f}" if row["memory"]
          else "",
          f"{row['dask']['generate']:.1f}",
          _mib(row["memory"]["peak"]) if row["memory"] else "",
          _mib(row["dask"]["client_peak"]),
          ", ".join(_mib(v) for v in row["dask"]["worker_before"]),
          ", ".join(_mib(v) for v in row["dask"]["worker_peaks"]),
          (f"{row['memory']['lower_bound']:.6f} / " if row["memory"] else "")
          + f"{row['dask']['lower_bound']:.6f}"]
         for row in rows])
    return f"""# bench_dask results

Recorded {date} by `python benchmarks/bench_dask.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).

`MixtureOfExpertsRegressor(LinearRegression(), n_experts={N_EXPERTS})` on d = {N_FEATURES}
features, from the same initial responsibilities, `tol=0`; time of the second EM
iteration of a fit of two (one pass over the blocks and one M-step). Dask:
`LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`, blocks of
{BLOCK_ROWS:,} rows generated lazily from a seed in every pass (the generating pass
alone is the column beside). The gate has {N_EXPERTS * (N_FEATURES + 1)} parameters; the
Dask gate takes a Newton step whose Hessian each block forms (its cost grows as K^2 d^2
per row).
In-memory peak: Python allocations during the fit, the data ({N_FEATURES + 1} float64
per row) not counted. Dask client peak: Python allocations on the client during the fit.
Workers: each worker process's resident set before the fit (after a warm-up fit on two
blocks: modules and Numba kernels loaded) and its peak during the fit (`VmHWM`, reset
before the fit).

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
        args.sizes = [100_000, 200_000] if args.quick else [1_000_000, 2_000_000, 10_000_000]
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load_average()
    rows = []
    for n in args.sizes:
        dask_result = bench_dask(n)
        memory = (bench_memory(n)
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
