"""Predictive quantiles of Student t, Gamma and Poisson mixtures: compiled kernel vs NumPy.

Not a test: it fits ``MixtureOfExpertsRegressor(n_experts=3)`` to 2,000 rows
of each family (Student t noise around linear experts; ``GammaRegressor`` and
``PoissonRegressor`` experts on log-linear data), then times
``predict_quantiles(X, (0.05, 0.5, 0.95))`` on 100,000 rows through the
compiled kernel (``skmoe._kernels.mixture_quantiles``; with Numba's default
threads and with one) and through the NumPy path (``_solve_quantile``, level
by level over all rows, scipy's distribution functions), in the same run,
best of the interleaved repeats after one warm-up call. It
also records the largest difference of the two answers in probability
(continuous families) or the number of differing integers (Poisson).

Usage::

    python benchmarks/bench_quantiles.py            # full run, writes results/bench_quantiles.md
    python benchmarks/bench_quantiles.py --quick    # 1 repeat; prints only
"""

import datetime
import time
from pathlib import Path

import numba
import numpy as np
from bench_estep import (
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
)
from sklearn.linear_model import GammaRegressor, LinearRegression, PoissonRegressor

from skmoe import MixtureOfExpertsRegressor

RESULTS = Path(__file__).resolve().parent / "results" / "bench_quantiles.md"
N_ROWS, N_FIT = 100_000, 2_000
LEVELS = (0.05, 0.5, 0.95)


def _data(family, n_samples, rng):
    X = rng.normal(size=(n_samples, 3))
    regime = rng.integers(0, 3, n_samples)
    coef = np.array([[0.5, -0.3, 0.2], [-0.4, 0.6, 0.1], [0.2, 0.2, -0.5]])
    eta = np.einsum("ij,ij->i", X, coef[regime]) + np.array([0.5, 1.5, 2.5])[regime]
    if family == "student_t":
        return X, eta + 0.5 * rng.standard_t(4, n_samples)
    if family == "gamma":
        return X, rng.gamma(4.0, np.exp(eta) / 4.0)
    return X, rng.poisson(np.exp(eta)).astype(float)


def _model(family):
    if family == "student_t":
        return MixtureOfExpertsRegressor(LinearRegression(), n_experts=3, noise="student_t",
                                         random_state=0)
    expert = GammaRegressor(alpha=0) if family == "gamma" else PoissonRegressor(alpha=0)
    return MixtureOfExpertsRegressor(expert, n_experts=3, random_state=0)


def _one_thread(function):
    def run():
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            function()
        finally:
            numba.set_num_threads(threads)
    return run


def _best_interleaved(functions, repeats):
    """Best seconds of each function, interleaved within each repeat."""
    for function in functions:
        function()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, record in zip(functions, times):
            start = time.perf_counter()
            function()
            record.append(time.perf_counter() - start)
    return [min(record) for record in times]


def bench_family(family, repeats, rng):
    X_fit, y_fit = _data(family, N_FIT, rng)
    model = _model(family).fit(X_fit, y_fit)
    X, _ = _data(family, N_ROWS, rng)
    compiled = model.predict_quantiles(X, LEVELS)
    numpy_model = _model(family).fit(X_fit, y_fit)
    numpy_model._quantile_kernel_family = lambda: None
    numpy = numpy_model.predict_quantiles(X, LEVELS)
    if family == "poisson":
        agreement = f"{int(np.sum(compiled != numpy))} differing integers"
    else:
        gap = max(np.max(np.abs(model.predict_cdf(X, compiled[:, j])
                                - model.predict_cdf(X, numpy[:, j]))) for j in range(3))
        agreement = f"{gap:.1e} in probability"
    t_compiled, t_serial, t_numpy = _best_interleaved([
        lambda: model.predict_quantiles(X, LEVELS),
        _one_thread(lambda: model.predict_quantiles(X, LEVELS)),
        lambda: numpy_model.predict_quantiles(X, LEVELS),
    ], repeats)
    return [family, f"{t_compiled:.3f}", f"{t_serial:.3f}", f"{t_numpy:.3f}",
            f"{t_numpy / t_compiled:.1f}x", f"{t_numpy / t_serial:.1f}x", agreement]


def main(argv=None):
    parser = benchmark_parser(__doc__, RESULTS)
    args = parser.parse_args(argv)
    if args.output is None and not args.quick:
        args.output = RESULTS
    repeats = 1 if args.quick else 5
    start = time.perf_counter()
    load_before = _load_average()
    rng = np.random.default_rng(0)
    header = ["family", "compiled (s)", "compiled, 1 thread (s)", "NumPy path (s)",
              "NumPy / compiled", "NumPy / compiled 1 thread", "compiled vs NumPy answers"]
    rows = []
    for family in ("student_t", "gamma", "poisson"):
        rows.append(bench_family(family, repeats, rng))
        print(" | ".join(rows[-1]), flush=True)
    table = _markdown_table(header, rows)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# bench_quantiles results

Recorded {date} by `python benchmarks/bench_quantiles.py{" --quick" if args.quick else ""}`
(total {time.perf_counter() - start:.0f} s; load average before {load_before}, after
{_load_average()}).

`predict_quantiles(X, {LEVELS})` of a 3-expert mixture fitted to {N_FIT:,} rows, on
{N_ROWS:,} rows: the compiled kernel against the NumPy path (scipy's distribution
functions, level by level), best of {repeats} interleaved repeats after one warm-up call;
the kernel also with one Numba thread (`numba.set_num_threads(1)`). Each time includes
the gate's and the experts' predictions, common to both paths.

{table}

{machine_section(machine_info(), blas_info())}"""
    print(table)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
