"""Benchmark of the exact EM on Dask arrays against the in-memory fit (issue 16).

Not a test: it measures, prints a table and records the figures. Per EM
iteration, rows per second of

(a) the in-memory fit of ``MixtureOfExpertsRegressor`` on a NumPy array, and
(b) the same fit on a Dask array on a ``distributed.LocalCluster`` with 2
    worker processes of one thread each,

with d = 20 features and K = 8 LinearRegression experts, from the same initial
responsibilities. The LocalCluster is started in a process of its own (a
LocalCluster's scheduler runs in the process that creates it) and the fitting
process connects to it as a client: the client's memory is measured apart
from the scheduler's. The Dask array is generated lazily, block by block, from
a seed (``dask.array.random``): no process ever holds all of it, and every
pass over the blocks generates them again (the time of one generating pass,
``X.sum()``, is reported beside). One fit of 2 EM iterations per size; the
time of one iteration is the time between the ends of its first and second
iterations (one pass over the blocks and one M-step; the set-up, summary pass
and initial responsibilities, is left out). Peak memory: the client's Python
allocations during the Dask fit (``tracemalloc``) and its resident set's peak
(``VmHWM``, reset before the fit); each worker's resident set before the fit
(after a warm-up fit on two blocks that loads every module and kernel) and its
peak during the fit (``VmHWM``, reset before the fit through
``/proc/self/clear_refs``); for the in-memory fit, the peak of Python
allocations during the fit. The in-memory array is made from the same
generator (``compute()``), only for (a). The client runs with distributed's
developer log of sent messages off (``distributed.admin.low-level-log-length``
0; by default it keeps the last 1000 messages, each pass's graphs among them).

The same run measures the time cost of sending a pass in batches of blocks
(``skmoe._dask.batch_blocks``) rather than in one computation: fits of one EM
iteration (three passes), alternately one way and the other, on one cluster.

``--client-trace`` takes apart what the client holds against the number of
blocks (20 and 100 blocks of 1,000 rows, d = 5, K = 3): the input's own graph,
the slicing of one pass into batches, the fit's peak, and what Dask's caches
hold after it.

``--client-blocks`` isolates the client's peak against the number of blocks
(10, 20, 100 blocks of 1,000 rows, d = 5, K = 3): the scheduler runs in its
own process (``SubprocessCluster``), with distributed's developer log as
configured and switched off (0), and each pass's blocks in one computation (as
before batches) or in batches.

Usage::

    python benchmarks/bench_dask.py            # n = 1e6 and 1e7, writes results/bench_dask.md
    python benchmarks/bench_dask.py --quick    # n = 1e5 and 2e5, prints only
    python benchmarks/bench_dask.py --client-trace    # writes results/bench_dask_client_trace.md
    python benchmarks/bench_dask.py --client-blocks   # writes results/bench_dask_client.md
"""

import contextlib
import datetime
import gc
import subprocess
import sys
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


def lazy_data(n_samples, block_rows, n_features=N_FEATURES, n_experts=N_EXPERTS):
    """X, y and initial responsibilities as lazy Dask arrays generated from a seed.

    y switches between K linear regimes by the sign pattern of the first
    three columns (a piecewise-linear function the gate can learn).
    """
    state = da.random.RandomState(SEED)
    X = state.normal(size=(n_samples, n_features), chunks=(block_rows, n_features))
    coef = np.random.RandomState(SEED).normal(size=(n_experts, n_features))
    regime = ((X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)
              + 4 * (X[:, 2] > 0).astype(int)) % n_experts
    means = X @ coef.T
    y = da.choose(regime, [means[:, k] for k in range(n_experts)])
    y = y + 0.1 * state.normal(size=n_samples, chunks=block_rows)
    draws = state.standard_exponential(size=(n_samples, n_experts),
                                       chunks=(block_rows, n_experts))
    init = draws / draws.sum(axis=1, keepdims=True)
    return X, y, init


class _TimedMixture(MixtureOfExpertsRegressor):
    """The mixture, noting when each EM iteration ends (in memory and on Dask alike)."""

    def _print_iteration(self, n_iter, lower_bound, change, seconds):
        self.__dict__.setdefault("iteration_ends_", []).append(time.perf_counter())
        super()._print_iteration(n_iter, lower_bound, change, seconds)


def _model(init, max_iter, n_experts=N_EXPERTS):
    return _TimedMixture(LinearRegression(), n_experts=n_experts, init=init,
                         max_iter=max_iter, tol=0.0, min_expert_weight=0.0)


def _timed_fit(init, X, y, max_iter=2):
    """The time of the last EM iteration, the client's peak Python allocations, the model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        model = _model(init, max_iter, init.shape[1]).fit(X, y)
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


# The cluster's own process: a LocalCluster (its scheduler and the nannies of its
# worker processes live here), its address on stdout, closed when stdin closes.
CLUSTER_SCRIPT = """
import sys
import distributed
cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=40)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()
cluster.close()
"""


@contextlib.contextmanager
def cluster_client():
    """A client of this process connected to a 2-worker LocalCluster started in another one.

    The client keeps no developer log of the messages it sends
    (``distributed.admin.low-level-log-length`` 0).
    """
    process = subprocess.Popen([sys.executable, "-c", CLUSTER_SCRIPT], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        address = process.stdout.readline().strip()
        if not address:
            raise RuntimeError("the cluster's process did not start")
        with dask.config.set({"distributed.admin.low-level-log-length": 0}):
            client = distributed.Client(address)
        try:
            yield client
        finally:
            client.close()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_dask(n_samples):
    """Per-iteration time and peak memory of the Dask fit on a fresh 2-worker cluster."""
    with cluster_client() as client:
        X, y, init = lazy_data(n_samples, BLOCK_ROWS)
        started = time.perf_counter()
        X.sum().compute()
        generate = time.perf_counter() - started
        # Warm-up: Numba's kernels load in both workers (one block each).
        _timed_fit(init[:2 * BLOCK_ROWS], X[:2 * BLOCK_ROWS], y[:2 * BLOCK_ROWS], max_iter=1)
        before = sorted(client.run(_reset_worker_peak).values())
        client_before = _reset_worker_peak()
        per_iter, client_peak, model = _timed_fit(init, X, y)
        client_resident = _worker_peak()
        workers = sorted(client.run(_worker_peak).values())
        return {"per_iter": per_iter, "generate": generate,
                "client_peak": client_peak, "client_before": client_before,
                "client_resident": client_resident,
                "worker_before": before, "worker_peaks": workers,
                "lower_bound": model.lower_bound_}


def bench_batching(n_samples, repeats):
    """Fit time of one EM iteration with each pass in one computation and in batches,
    alternately, on one cluster."""
    from skmoe import _dask

    batched = _dask.batch_blocks
    times = {"one": [], "batched": []}
    bounds = {}
    with cluster_client():
        X, y, init = lazy_data(n_samples, BLOCK_ROWS)
        _timed_fit(init[:2 * BLOCK_ROWS], X[:2 * BLOCK_ROWS], y[:2 * BLOCK_ROWS], max_iter=1)
        for _ in range(repeats):
            for name, batch in (("one", lambda: 2**30), ("batched", batched)):
                _dask.batch_blocks = batch
                try:
                    started = time.perf_counter()
                    _, _, model = _timed_fit(init, X, y, max_iter=1)
                    times[name].append(time.perf_counter() - started)
                    bounds[name] = model.lower_bound_
                finally:
                    _dask.batch_blocks = batched
                print(name, times[name][-1], flush=True)
    return {"n": n_samples, "blocks": X.numblocks[0], "batch": batched(), "times": times,
            "bounds": bounds}


def _clear_dask_caches():
    """Empty Dask's module-level caches of key names and chunk sizes."""
    from dask import utils

    utils.key_split.cache_clear()
    utils._cumsum.cache_clear()
    utils._max.cache_clear()


def bench_client_trace():
    """What the client holds against the number of blocks (see the docstring)."""
    from dask import utils

    from skmoe import _dask

    rows = []
    with cluster_client():
        X, y, init = lazy_data(2 * CLIENT_BLOCK_ROWS, CLIENT_BLOCK_ROWS, CLIENT_FEATURES,
                               CLIENT_EXPERTS)
        _timed_fit(init, X, y, max_iter=1)
        del X, y, init
        for n_blocks in CLIENT_TRACE_BLOCKS:
            gc.collect()
            _clear_dask_caches()
            tracemalloc.start()
            X, y, init = lazy_data(n_blocks * CLIENT_BLOCK_ROWS, CLIENT_BLOCK_ROWS,
                                   CLIENT_FEATURES, CLIENT_EXPERTS)
            inputs = tracemalloc.get_traced_memory()[0]
            # One pass's slicing into batches, as the fit slices X, y and the weights.
            tracemalloc.reset_peak()
            X_f, y_f, w_f, _ = _dask.dask_rows(None, X, y)
            for batch in _dask._DaskFit(None, X_f, y_f, da.ones(X.shape[0],
                                                                  chunks=(X.chunks[0],))
                                        ).batches():
                del batch
            slicing = tracemalloc.get_traced_memory()[1] - inputs
            del X_f, y_f, w_f
            gc.collect()
            _clear_dask_caches()
            # What Dask's client needs for any one pass over these arrays: a plain
            # reduction of all three in one computation.
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            dask.compute((X * X).sum(axis=0), y.sum(), init.sum(axis=0))
            plain = tracemalloc.get_traced_memory()[1] - start
            gc.collect()
            _clear_dask_caches()
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = _model(init, 2, CLIENT_EXPERTS).fit(X, y)
            current, peak = tracemalloc.get_traced_memory()
            keys = utils.key_split.cache_info().currsize
            utils.key_split.cache_clear()
            without_keys = tracemalloc.get_traced_memory()[0]
            utils._cumsum.cache_clear()
            utils._max.cache_clear()
            without_caches = tracemalloc.get_traced_memory()[0]
            del model
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - start
            tracemalloc.stop()
            row = {"blocks": n_blocks, "inputs": inputs, "slicing": slicing,
                   "plain": plain, "peak": peak - start, "key_split": current - without_keys,
                   "key_entries": keys, "chunk_caches": without_keys - without_caches,
                   "retained": retained}
            print(row, flush=True)
            rows.append(row)
            del X, y, init
    return rows


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


CLIENT_BLOCKS, CLIENT_BLOCK_ROWS, CLIENT_FEATURES, CLIENT_EXPERTS = (10, 20, 100), 1_000, 5, 3
CLIENT_TRACE_BLOCKS = (20, 100)
RESULTS_CLIENT = RESULTS.with_name("bench_dask_client.md")
RESULTS_TRACE = RESULTS.with_name("bench_dask_client_trace.md")


def bench_client_blocks():
    """The client's peak during a fit against the number of blocks (see the docstring)."""
    from distributed.deploy.subprocess import SubprocessCluster

    from skmoe import _dask

    batched = _dask.batch_blocks
    rows = []
    for log_length in (None, 0):
        settings = {} if log_length is None else {
            "distributed.admin.low-level-log-length": log_length}
        with dask.config.set(settings):
            cluster = SubprocessCluster(n_workers=2, threads_per_worker=1,
                                        dashboard_address=":0", silence_logs=40)
            client = distributed.Client(cluster)
        try:
            X, y, init = lazy_data(2 * CLIENT_BLOCK_ROWS, CLIENT_BLOCK_ROWS, CLIENT_FEATURES,
                                   CLIENT_EXPERTS)
            _timed_fit(init, X, y, max_iter=1)
            for n_blocks in CLIENT_BLOCKS:
                X, y, init = lazy_data(n_blocks * CLIENT_BLOCK_ROWS, CLIENT_BLOCK_ROWS,
                                       CLIENT_FEATURES, CLIENT_EXPERTS)
                row = {"log": "default (1000)" if log_length is None else str(log_length),
                       "blocks": n_blocks, "batch": batched()}
                for name, batch in (("one", lambda: 2**30), ("batched", batched)):
                    _dask.batch_blocks = batch
                    try:
                        started = time.perf_counter()
                        _, row[name], model = _timed_fit(init, X, y)
                        row[name + "_time"] = time.perf_counter() - started
                        row[name + "_bound"] = model.lower_bound_
                    finally:
                        _dask.batch_blocks = batched
                print(row, flush=True)
                rows.append(row)
        finally:
            client.close()
            cluster.close()
    return rows


def report_client(rows, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = _markdown_table(
        ["developer log of sent messages", "blocks", "client peak, one computation per pass "
         "(MiB)", f"client peak, batches of {rows[0]['batch']} blocks (MiB)",
         "fit time one / batched (s)", "lower bound one / batched"],
        [[row["log"], row["blocks"], f"{row['one'] / 2**20:.2f}",
          f"{row['batched'] / 2**20:.2f}", f"{row['one_time']:.1f} / {row['batched_time']:.1f}",
          f"{row['one_bound']:.12f} / {row['batched_bound']:.12f}"] for row in rows])
    return f"""# bench_dask client peak against the number of blocks

Recorded {date} by `python benchmarks/bench_dask.py --client-blocks`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).

`MixtureOfExpertsRegressor(LinearRegression(), n_experts={CLIENT_EXPERTS})` on d =
{CLIENT_FEATURES} features, blocks of {CLIENT_BLOCK_ROWS:,} rows generated lazily from a
seed, the same initial responsibilities, a fit of two EM iterations (with the summary pass
and the initial pass). Client peak: Python allocations (`tracemalloc`) in the client's
process during the fit; the scheduler and the 2 workers (one thread each) run in their own
processes (`SubprocessCluster`). Each pass's blocks go to the cluster in one computation
(one graph of all blocks, as before batches) or in batches; the developer log is
distributed's record of the last messages the client sent to the scheduler
(`distributed.admin.low-level-log-length`), each pass's graph among them.

{table}

{machine_section(machine, blas)}
"""


def _mib(value, digits=0):
    return f"{value / 2**20:,.{digits}f}"


def report_trace(rows, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = _markdown_table(
        ["blocks", "input arrays X, y, init (MiB)", "slicing one pass into batches, peak "
         "(MiB)", "a plain Dask reduction of X, y and init, peak (MiB)", "fit peak (MiB)",
         "after the fit: Dask's key_split cache (entries, MiB)",
         "after the fit: Dask's chunk-size caches (MiB)",
         "after the fit, caches emptied and model freed (MiB)"],
        [[row["blocks"], _mib(row["inputs"], 3), _mib(row["slicing"], 3),
          _mib(row["plain"], 3), _mib(row["peak"], 3),
          f"{row['key_entries']:,}, {_mib(row['key_split'], 3)}",
          _mib(row["chunk_caches"], 3), _mib(row["retained"], 3)] for row in rows])
    first, last = rows[0], rows[-1]
    per_block = {name: (last[name] - first[name]) / (last["blocks"] - first["blocks"]) / 1024
                 for name in ("inputs", "slicing", "plain", "peak", "key_split",
                              "chunk_caches", "retained")}
    growth = ", ".join(f"{name} {value:.2f}" for name, value in per_block.items())
    return f"""# bench_dask: what the client holds against the number of blocks

Recorded {date} by `python benchmarks/bench_dask.py --client-trace`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).

`MixtureOfExpertsRegressor(LinearRegression(), n_experts={CLIENT_EXPERTS})` on d =
{CLIENT_FEATURES} features, blocks of {CLIENT_BLOCK_ROWS:,} rows generated lazily from a
seed (X, y and the initial responsibilities, as `bench_dask.py`), a fit of two EM
iterations. A `LocalCluster` of 2 single-threaded workers runs in a process of its own;
this process is only its client (developer log of sent messages off). Python allocations
(`tracemalloc`) of the client, Dask's caches emptied before: the input arrays' own
graphs (made before the fit); the peak, above them, of slicing one pass's blocks into
batches as the fit does (X, y, weights); the peak of a plain Dask reduction of the three
arrays in one computation (`dask.compute((X * X).sum(axis=0), y.sum(), init.sum(axis=0))`,
what any one pass over them costs the client); the fit's peak above the inputs; after the fit,
what Dask's module-level caches hold (`dask.utils.key_split`, an LRU cache of 100,000
key names; `dask.utils._cumsum` / `_max`, LRU caches of 128 chunk tuples), and what is
left once they are emptied and the model is freed.

{table}

Growth per block from {first['blocks']} to {last['blocks']} blocks (KiB): {growth}.

{machine_section(machine, blas)}
"""


def report(args, rows, batching, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = _markdown_table(
        ["n", "blocks", "(a) in-memory rows/s per iteration", "(b) Dask rows/s per iteration",
         "Dask / in-memory time", "generating pass (s)", "in-memory peak (MiB)",
         "Dask client peak, Python (MiB)", "Dask client resident before / peak (MiB)",
         "Dask workers before the fit (MiB)", "Dask worker peaks in the fit (MiB)",
         "lower bound (memory / Dask)"],
        [[f"{row['n']:,}", row["n"] // BLOCK_ROWS,
          f"{row['n'] / row['memory']['per_iter']:,.0f}" if row["memory"] else "not run",
          f"{row['n'] / row['dask']['per_iter']:,.0f}",
          f"{row['dask']['per_iter'] / row['memory']['per_iter']:.2f}" if row["memory"]
          else "",
          f"{row['dask']['generate']:.1f}",
          _mib(row["memory"]["peak"]) if row["memory"] else "",
          _mib(row["dask"]["client_peak"], 2),
          f"{_mib(row['dask']['client_before'], 1)} / {_mib(row['dask']['client_resident'], 1)}",
          ", ".join(_mib(v) for v in row["dask"]["worker_before"]),
          ", ".join(_mib(v) for v in row["dask"]["worker_peaks"]),
          (f"{row['memory']['lower_bound']:.10f} / " if row["memory"] else "")
          + f"{row['dask']['lower_bound']:.10f}"]
         for row in rows])
    batching_table = _markdown_table(
        ["n", "blocks", "blocks per batch", "fit time, one computation per pass (s)",
         "fit time, batches (s)", "batched / one (sum)", "lower bound one / batched"],
        [[f"{b['n']:,}", b["blocks"], b["batch"],
          ", ".join(f"{t:.1f}" for t in b["times"]["one"]),
          ", ".join(f"{t:.1f}" for t in b["times"]["batched"]),
          f"{sum(b['times']['batched']) / sum(b['times']['one']):.2f}",
          f"{b['bounds']['one']:.12f} / {b['bounds']['batched']:.12f}"]
         for b in batching])
    return f"""# bench_dask results

Recorded {date} by `python benchmarks/bench_dask.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).

`MixtureOfExpertsRegressor(LinearRegression(), n_experts={N_EXPERTS})` on d = {N_FEATURES}
features, from the same initial responsibilities, `tol=0`; time of the second EM
iteration of a fit of two (one pass over the blocks and one M-step). Dask:
`LocalCluster(n_workers=2, threads_per_worker=1, processes=True)` started in a process
of its own (its scheduler runs there), the fit in this process as its client; blocks of
{BLOCK_ROWS:,} rows generated lazily from a seed in every pass (the generating pass
alone is the column beside), each pass sent in batches of blocks. The gate has
{N_EXPERTS * (N_FEATURES + 1)} parameters; the Dask gate takes a Newton step whose
Hessian each block forms (its cost grows as K^2 d^2 per row).
In-memory peak: Python allocations during the fit, the data ({N_FEATURES + 1} float64
per row) not counted. Dask client: Python allocations (`tracemalloc`) during the fit,
and the client process's resident set before the fit and its peak during it (`VmHWM`,
reset before the fit; modules and the lazy arrays included). Workers: each worker
process's resident set before the fit (after a warm-up fit on two blocks: modules and
Numba kernels loaded) and its peak during the fit (`VmHWM`, reset before the fit).

{table}

Time cost of batches: fits of one EM iteration (summary pass, initial pass, one EM pass)
from the same responsibilities, each pass in one computation of every block or in
batches, alternately on one cluster (first one, then batched, repeated):

{batching_table}

{machine_section(machine, blas)}
"""


def parse_args(argv=None):
    parser = benchmark_parser(__doc__, RESULTS)
    parser.add_argument("--sizes", type=int, nargs="*", default=None,
                        help="sizes of the fits (none: only the time cost of batches)")
    parser.add_argument("--memory-max", type=int, default=None,
                        help="largest n fitted in memory too (default: every size)")
    parser.add_argument("--batching", type=int, nargs="*", default=None,
                        help="sizes at which the time cost of batches is measured")
    parser.add_argument("--repeats", type=int, default=2,
                        help="fits each way in the measurement of batches")
    parser.add_argument("--client-blocks", action="store_true",
                        help="the client's peak against the number of blocks only")
    parser.add_argument("--client-trace", action="store_true",
                        help="what the client holds against the number of blocks only")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [100_000, 200_000] if args.quick else [1_000_000, 10_000_000]
    if args.batching is None:
        args.batching = [200_000] if args.quick else [2_000_000]
    if args.output is None and not args.quick:
        args.output = (RESULTS_CLIENT if args.client_blocks
                       else RESULTS_TRACE if args.client_trace else RESULTS)
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load_average()
    if args.client_blocks or args.client_trace:
        rows = bench_client_blocks() if args.client_blocks else bench_client_trace()
        text = (report_client if args.client_blocks else report_trace)(
            rows, machine_info(), blas_info(), load_before, _load_average(),
            time.perf_counter() - started)
        print(text)
        if args.output is not None:
            args.output.write_text(text)
        return
    rows = []
    for n in args.sizes:
        dask_result = bench_dask(n)
        memory = (bench_memory(n)
                  if args.memory_max is None or n <= args.memory_max else None)
        rows.append({"n": n, "dask": dask_result, "memory": memory})
        print(n, dask_result, memory, flush=True)
    batching = [bench_batching(n, args.repeats) for n in args.batching]
    text = report(args, rows, batching, machine_info(), blas_info(), load_before,
                  _load_average(), time.perf_counter() - started)
    print(text)
    if args.output is not None:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
