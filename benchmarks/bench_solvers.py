"""The gate's solvers in whole fits: Newton's method against L-BFGS.

Not a test: it measures, prints a table and records the figures. For each
size of data and of gate, ``MixtureOfExpertsRegressor`` is fitted with
``SoftmaxGate(solver="newton")`` and with ``SoftmaxGate(solver="lbfgs")``
(everything else default), the two fits interleaved within each repeat so that
a burst of load on the shared machine hits both. The ratio of their times is
what sets ``skmoe._gate.NEWTON_MAX_PARAMETERS``, the largest gate
(``K (d + 1)`` parameters) for which ``solver="auto"`` takes Newton's method.

Usage::

    python benchmarks/bench_solvers.py            # full run (a few minutes), writes results
    python benchmarks/bench_solvers.py --quick    # n = 2,000 and 20,000, prints only
"""

import datetime
import time
import warnings
from pathlib import Path

import numpy as np
from bench_estep import (
    _best_interleaved,
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
)
from sklearn.exceptions import ConvergenceWarning

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate
from skmoe._gate import NEWTON_MAX_HESSIAN_WORK, NEWTON_MAX_PARAMETERS
from skmoe.datasets import make_switching_regression

RESULTS = Path(__file__).resolve().parent / "results" / "bench_solvers.md"
# (n_features, n_experts): gates of 18, 40, 44, 42, 84 and 168 parameters.
SHAPES = ((5, 3), (9, 4), (10, 4), (20, 2), (20, 4), (20, 8))
MAX_ITER = 300


def _model(solver, n_experts):
    return MixtureOfExpertsRegressor(n_experts=n_experts, gate=SoftmaxGate(solver=solver),
                                     max_iter=MAX_ITER, random_state=0)


def bench_shape(n_samples, n_features, n_experts, repeats):
    """Best seconds of a fit with each solver, their iterations and final objective."""
    X, y = make_switching_regression(n_samples, n_features, n_experts, random_state=0)
    fitted = {}

    def fit(solver):
        def run():
            fitted[solver] = _model(solver, n_experts).fit(X, y)
        return run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Warm-up on a few rows: compiles the kernels or loads them from Numba's cache.
        for solver in ("newton", "lbfgs"):
            _model(solver, n_experts).fit(X[:500], y[:500])
        best = _best_interleaved({solver: fit(solver) for solver in ("newton", "lbfgs")},
                                 repeats)
    newton, lbfgs = fitted["newton"], fitted["lbfgs"]
    return {
        "n_samples": n_samples,
        "n_features": n_features,
        "n_experts": n_experts,
        "n_parameters": n_experts * (n_features + 1),
        "newton_s": best["newton"],
        "lbfgs_s": best["lbfgs"],
        "ratio": best["lbfgs"] / best["newton"],
        "newton_iter": newton.n_iter_,
        "lbfgs_iter": lbfgs.n_iter_,
        "converged": newton.converged_ and lbfgs.converged_,
        "difference": newton.lower_bound_ - lbfgs.lower_bound_,
    }


def _auto_takes_newton(result):
    """What ``solver="auto"`` picks for this size of data and gate (the gate's own rule)."""
    shape = (result["n_samples"], result["n_features"])
    return SoftmaxGate()._uses_newton(np.empty(shape), result["n_experts"])


def result_table(results):
    header = ["n", "d", "K", "gate parameters K (d + 1)", "auto picks", "newton (s)",
              "lbfgs (s)", "lbfgs / newton", "EM iterations (newton, lbfgs)", "both converged",
              "log-lik / n, newton - lbfgs"]
    rows = [
        [f"{r['n_samples']:,}", r["n_features"], r["n_experts"], r["n_parameters"],
         "newton" if _auto_takes_newton(r) else "lbfgs",
         f"{r['newton_s']:.3f}", f"{r['lbfgs_s']:.3f}", f"{r['ratio']:.2f}x",
         f"{r['newton_iter']}, {r['lbfgs_iter']}", "yes" if r["converged"] else "no",
         f"{r['difference']:+.1e}"]
        for r in results
    ]
    return _markdown_table(header, rows)


def report(args, results, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    repeats = ", ".join(f"{r} at n = {n:,}" for n, r in args.repeats.items())
    return f"""# bench_solvers results

Recorded {date} by `python benchmarks/bench_solvers.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
Each time is the best of interleaved repeats ({repeats}), after a warm-up fit.

`MixtureOfExpertsRegressor(n_experts=K, gate=SoftmaxGate(solver=...),
max_iter={MAX_ITER}, random_state=0)`, default linear experts, on
`make_switching_regression(n, d, K, random_state=0)`. "auto picks" is what
`solver="auto"` chooses: Newton's method up to `NEWTON_MAX_PARAMETERS =
{NEWTON_MAX_PARAMETERS}` gate parameters, or while n p^2 (p the gate's
parameters) is at most `NEWTON_MAX_HESSIAN_WORK = {NEWTON_MAX_HESSIAN_WORK:.0e}`.
A ratio above 1x means Newton's method made the fit faster. The two fits
follow different paths (a Newton step goes further than three L-BFGS
iterations), so they may end in different local optima; the last column shows
where they did.

{result_table(results)}

{machine_section(machine, blas)}"""


def parse_args(argv=None):
    args = benchmark_parser(
        __doc__, RESULTS, "n = 2,000 and 20,000, one repeat; prints only, unless --output"
    ).parse_args(argv)
    args.repeats = ({2_000: 1, 20_000: 1} if args.quick
                    else {2_000: 7, 20_000: 3, 200_000: 1})
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    load_before = _load_average()
    results = []
    for n_samples, repeats in args.repeats.items():
        for n_features, n_experts in SHAPES:
            result = bench_shape(n_samples, n_features, n_experts, repeats)
            results.append(result)
            print(
                f"n={n_samples:,} d={n_features} K={n_experts} "
                f"({result['n_parameters']} parameters): newton {result['newton_s']:.3f} s, "
                f"lbfgs {result['lbfgs_s']:.3f} s ({result['ratio']:.2f}x)",
                flush=True,
            )
    load_after = _load_average()
    elapsed = time.perf_counter() - start
    text = report(args, results, machine_info(), blas_info(), load_before, load_after, elapsed)
    print()
    print(result_table(results))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
