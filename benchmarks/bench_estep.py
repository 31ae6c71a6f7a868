"""Benchmark of the fused E-step kernel and of one whole EM fit (issue 2).

Not a test: it measures, prints a table and records the figures. Every figure
is reported beside a baseline measured in the same run, because the project
machines are shared and noisy:

* the Numba kernel ``skmoe._kernels.e_step`` against its NumPy/SciPy twin
  ``skmoe._kernels.e_step_reference`` (goal: the twin >= 5x slower), and against
  a plain memory stream ``numpy.add(a, b, out=c)`` over n*K float64 values;
* one ``MixtureOfExpertsRegressor`` fit against one ``LinearRegression`` fit on
  the same data.

Usage::

    python benchmarks/bench_estep.py            # full run, writes results/bench_estep.md
    python benchmarks/bench_estep.py --quick    # small and fast, prints only

Timings are the best (minimum) of several repeats taken with
``time.perf_counter``, after one warm-up call (Numba compilation or cache
load), with the timed candidates interleaved within each repeat so that a burst
of machine noise hits all of them.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import llvmlite
import numba
import numpy as np
import scipy
import sklearn
import threadpoolctl
from numpy.testing import assert_allclose
from scipy.special import log_softmax
from sklearn.linear_model import LinearRegression

import skmoe
from skmoe._kernels import e_step, e_step_reference
from skmoe.datasets import make_switching_regression

RESULTS = Path(__file__).resolve().parent / "results" / "bench_estep.md"
GOAL_RATIO = 5.0
QUICK_HELP = "small sizes and few repeats; prints only, unless --output is given"
ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "NUMBA_CACHE_DIR",
)


# --------------------------------------------------------------------- timing
def _seconds(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _best_interleaved(candidates, repeats):
    """Best time of each named callable, calling them in turn within each repeat."""
    best = dict.fromkeys(candidates, np.inf)
    for _ in range(repeats):
        for name, func in candidates.items():
            best[name] = min(best[name], _seconds(func))
    return best


# -------------------------------------------------------------------- E-step
def make_e_step_inputs(n_samples, n_experts, rng):
    """Realistic E-step inputs: a log-softmax gate and Gaussian log-densities.

    The gate comes from random scores; each row's residuals under the experts
    are drawn with the experts' own noise scales, one expert per row fitting
    well (residual ~ its noise) and the others badly (offset residuals), as in
    a fitted mixture.
    """
    log_gate = log_softmax(2.0 * rng.standard_normal((n_samples, n_experts)), axis=1)
    variance = rng.uniform(0.1, 2.0, size=n_experts)
    residual = rng.standard_normal((n_samples, n_experts)) * np.sqrt(variance)
    owner = rng.integers(n_experts, size=n_samples)
    misfit = rng.uniform(0.5, 3.0, size=(n_samples, n_experts))
    misfit[np.arange(n_samples), owner] = 0.0
    residual += misfit
    log_lik = -0.5 * (np.log(2.0 * np.pi) + np.log(variance)) - 0.5 * residual**2 / variance
    sample_weight = rng.uniform(0.5, 1.5, size=n_samples)
    return (
        np.ascontiguousarray(log_gate),
        np.ascontiguousarray(log_lik),
        sample_weight,
    )


def bench_e_step(n_samples, n_experts, repeats, rng):
    """Seconds of kernel, reference and memory stream, best of ``repeats``."""
    log_gate, log_lik, sample_weight = make_e_step_inputs(n_samples, n_experts, rng)
    resp = np.empty_like(log_lik)
    row_log_lik = np.empty(n_samples)
    size = n_samples * n_experts
    stream_a = np.full(size, 1.0)
    stream_b = np.full(size, 2.0)
    stream_c = np.empty(size)

    # Warm up: numba compilation or cache load, first touch of every page.
    total = e_step(log_gate, log_lik, sample_weight, resp, row_log_lik)
    ref_resp, ref_row, ref_total = e_step_reference(log_gate, log_lik, sample_weight)
    np.add(stream_a, stream_b, out=stream_c)
    # Sanity only (the tests own correctness): time the same work on both sides.
    assert_allclose(resp, ref_resp, rtol=1e-10, atol=1e-12)
    assert_allclose(row_log_lik, ref_row, rtol=1e-10)
    assert_allclose(total, ref_total, rtol=1e-8)
    del ref_resp, ref_row

    best = _best_interleaved(
        {
            "kernel": lambda: e_step(log_gate, log_lik, sample_weight, resp, row_log_lik),
            "reference": lambda: e_step_reference(log_gate, log_lik, sample_weight),
            "stream": lambda: np.add(stream_a, stream_b, out=stream_c),
        },
        repeats,
    )
    # Bytes the kernel must move: read log_gate, log_lik (n*K) and sample_weight
    # (n); write resp (n*K) and row_log_lik (n). The stream reads 2 n*K, writes n*K.
    kernel_bytes = 8 * (3 * size + 2 * n_samples)
    stream_bytes = 8 * 3 * size
    return {
        "K": n_experts,
        "kernel_s": best["kernel"],
        "reference_s": best["reference"],
        "stream_s": best["stream"],
        "ratio": best["reference"] / best["kernel"],
        "kernel_gbs": kernel_bytes / best["kernel"] / 1e9,
        "stream_gbs": stream_bytes / best["stream"] / 1e9,
        "x_stream": best["kernel"] / best["stream"],
    }


# ----------------------------------------------------------------------- fit
def bench_fit(n_samples, repeats, baseline_repeats):
    """One whole MixtureOfExpertsRegressor fit against one LinearRegression fit."""
    # Warm-up fit on small data: compiles (or loads) every numba kernel of the loop.
    X_small, y_small = make_switching_regression(
        n_samples=500, n_features=5, n_experts=3, random_state=0
    )
    skmoe.MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X_small, y_small)

    X, y = make_switching_regression(n_samples=n_samples, n_features=5, n_experts=3, random_state=0)
    fitted = []

    def fit_moe():
        fitted.append(skmoe.MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y))

    def fit_moe_one_blas_thread():
        # Same fit with every BLAS limited to one thread (DESIGN.md, performance notes).
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            fit_moe()

    best = dict.fromkeys(("moe", "moe_blas1", "linear"), np.inf)
    for _ in range(repeats):
        best["moe"] = min(best["moe"], _seconds(fit_moe))
        best["moe_blas1"] = min(best["moe_blas1"], _seconds(fit_moe_one_blas_thread))
        # One LinearRegression fit is milliseconds: take the best of several per repeat.
        for _ in range(baseline_repeats):
            best["linear"] = min(best["linear"], _seconds(lambda: LinearRegression().fit(X, y)))
    n_iter = {model.n_iter_ for model in fitted}
    if len(n_iter) != 1:
        raise RuntimeError(f"n_iter_ differs between identical fits: {sorted(n_iter)}")
    n_iter = n_iter.pop()
    return {
        "n_samples": n_samples,
        "fit_s": best["moe"],
        "n_iter": n_iter,
        "per_iter_s": best["moe"] / n_iter,
        "linear_s": best["linear"],
        "x_linear": best["moe"] / best["linear"],
        "blas1_s": best["moe_blas1"],
        "x_blas1": best["moe"] / best["moe_blas1"],
        "converged": all(model.converged_ for model in fitted),
    }


# ------------------------------------------------------------------- machine
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f")
                    return " ".join(flag for flag in wanted if flag in flags)
    except OSError:
        pass
    return "unknown"


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _load_average():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _git_revision():
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "skmoe"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev} (skmoe/ with uncommitted changes)" if dirty else rev


def machine_info():
    svml = getattr(numba.config, "USING_SVML", "unknown")
    return {
        "CPU": _cpu_model(),
        "CPU flags (vector)": _cpu_flags(),
        "cores (os.cpu_count)": os.cpu_count(),
        "memory": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "scikit-learn": sklearn.__version__,
        "threadpoolctl": threadpoolctl.__version__,
        "skmoe": f"{skmoe.__version__}, git {_git_revision()}",
        "numba threads": numba.get_num_threads(),
        "numba threading layer": _numba_threading_layer(),
        "numba SVML (config.USING_SVML)": svml,
        "llvmlite built with SVML": _llvmlite_has_svml(),
        **{f"${name}": os.environ.get(name, "unset") for name in ENV_VARS},
    }


def _llvmlite_has_svml():
    try:
        from llvmlite.binding import config

        return config.has_svml
    except (ImportError, AttributeError):
        return "unknown"


def _numba_threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel function has run yet
        return "not initialised"


def blas_info():
    rows = []
    for lib in threadpoolctl.threadpool_info():
        rows.append(
            {
                "user_api": lib.get("user_api"),
                "internal_api": lib.get("internal_api"),
                "version": lib.get("version"),
                "threads": lib.get("num_threads"),
                "architecture": lib.get("architecture", ""),
                "threading_layer": lib.get("threading_layer", ""),
                "library": Path(lib.get("filepath", "")).name,
            }
        )
    return rows


# ------------------------------------------------------------------ reporting
def _markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def e_step_table(results):
    header = [
        "K",
        "kernel (s)",
        "reference (s)",
        "reference / kernel",
        "kernel GB/s",
        "stream (s)",
        "stream GB/s",
        "kernel / stream",
    ]
    rows = [
        [
            r["K"],
            f"{r['kernel_s']:.4f}",
            f"{r['reference_s']:.4f}",
            f"{r['ratio']:.1f}x" + ("" if r["ratio"] >= GOAL_RATIO else " (below goal)"),
            f"{r['kernel_gbs']:.2f}",
            f"{r['stream_s']:.4f}",
            f"{r['stream_gbs']:.2f}",
            f"{r['x_stream']:.1f}x",
        ]
        for r in results
    ]
    return _markdown_table(header, rows)


def fit_table(result):
    header = [
        "n_samples",
        "fit (s)",
        "n_iter_",
        "s / iteration",
        "LinearRegression.fit (s)",
        "fit / LinearRegression.fit",
        "fit, 1 BLAS thread (s)",
        "fit / fit with 1 BLAS thread",
    ]
    row = [
        result["n_samples"],
        f"{result['fit_s']:.3f}",
        result["n_iter"],
        f"{result['per_iter_s']:.4f}",
        f"{result['linear_s']:.5f}",
        f"{result['x_linear']:.0f}x",
        f"{result['blas1_s']:.3f}",
        f"{result['x_blas1']:.2f}x",
    ]
    return _markdown_table(header, [row])


def machine_section(machine, blas, extra_rows=(),
                    caption="BLAS / OpenMP libraries loaded (`threadpoolctl.threadpool_info()`):"):
    """A report's "## Machine" section: the machine's table, then the BLAS/OpenMP libraries."""
    machine_rows = [
        [key, f"`{value}`" if key.startswith("$") else value] for key, value in machine.items()
    ]
    machine_rows += [list(row) for row in extra_rows]
    blas_header = list(blas[0]) if blas else ["library"]
    blas_rows = [[row[key] for key in blas_header] for row in blas]
    return f"""## Machine

{_markdown_table(["", ""], machine_rows)}

{caption}

{_markdown_table(blas_header, blas_rows)}
"""


def report(args, e_results, fit_result, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# bench_estep results

Recorded {date} by `python benchmarks/bench_estep.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
Each time is the best of {args.repeats} interleaved repeats after one warm-up call.

## E-step kernel, n = {args.n_samples:,}

`skmoe._kernels.e_step` (fused Numba, parallel over rows) against its twin
`skmoe._kernels.e_step_reference` (NumPy/SciPy) and a memory stream
`numpy.add(a, b, out=c)` over n*K float64 (single-threaded). Goal: reference /
kernel >= {GOAL_RATIO:.0f}x. Kernel GB/s counts the bytes it must move,
8 * (3 n K + 2 n): log_gate, log_lik, sample_weight read; resp, row_log_lik
written. Stream GB/s counts 8 * 3 n K.

{e_step_table(e_results)}

## One fit of MixtureOfExpertsRegressor

`MixtureOfExpertsRegressor(n_experts=3, random_state=0)` with its default linear
experts on `make_switching_regression(n_samples={fit_result["n_samples"]}, n_features=5,
n_experts=3, random_state=0)`, after one warm-up fit on 500 rows (numba compile /
cache load); best of {args.fit_repeats}. Baseline: one `LinearRegression().fit` on
the same data, best of {args.fit_repeats * args.linear_repeats}. Converged:
{fit_result["converged"]}. The last two columns time the same fit inside
`threadpoolctl.threadpool_limits(limits=1, user_api="blas")`, interleaved with
the default one (a ratio above 1x means BLAS threads cost time here).

{fit_table(fit_result)}

{machine_section(machine, blas)}"""


def benchmark_parser(doc, results, quick_help=QUICK_HELP):
    """The argument parser every benchmark script starts from: ``--quick`` and ``--output``.

    ``doc`` is the script's docstring (its first paragraph describes the
    script); ``results`` is the markdown file a full run writes.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--output", type=Path, default=None,
                        help=f"markdown file to write (default: {results} for a full run)")
    return parser


def parse_args(argv=None):
    args = benchmark_parser(__doc__, RESULTS).parse_args(argv)
    if args.quick:
        args.n_samples, args.repeats = 100_000, 3
        args.fit_repeats, args.linear_repeats = 1, 5
    else:
        args.n_samples, args.repeats = 1_000_000, 7
        args.fit_repeats, args.linear_repeats = 5, 10
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    load_before = _load_average()
    rng = np.random.default_rng(0)

    e_results = []
    for n_experts in (2, 8, 32):
        result = bench_e_step(args.n_samples, n_experts, args.repeats, rng)
        e_results.append(result)
        print(
            f"E-step K={n_experts}: kernel {result['kernel_s']:.4f} s, "
            f"reference {result['reference_s']:.4f} s ({result['ratio']:.1f}x)",
            flush=True,
        )
    fit_result = bench_fit(20_000, args.fit_repeats, args.linear_repeats)

    load_after = _load_average()
    elapsed = time.perf_counter() - start
    machine, blas = machine_info(), blas_info()

    print()
    print(f"E-step, n = {args.n_samples:,} (best of {args.repeats})")
    print(e_step_table(e_results))
    print()
    print(f"One fit, best of {args.fit_repeats}")
    print(fit_table(fit_result))
    print()
    for key, value in machine.items():
        print(f"{key}: {value}")
    for lib in blas:
        print(
            f"{lib['internal_api']} {lib['version']} ({lib['library']}): "
            f"{lib['threads']} threads, {lib['architecture']}"
        )

    below = [r["K"] for r in e_results if r["ratio"] < GOAL_RATIO]
    if below:
        print(f"\nBelow the {GOAL_RATIO:.0f}x goal for K in {below}.")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            report(args, e_results, fit_result, machine, blas, load_before, load_after, elapsed)
        )
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
