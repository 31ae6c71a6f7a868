"""Small data, many starts: 20 starts against flexmix's, the fixed cost of an EM iteration.

Not a test: it times fits, prints tables and records them.

1. The fixed cost of an EM iteration: ``MixtureOfExpertsRegressor`` with
   ``LinearRegression`` experts (K = 2) on n = 100 rows of
   ``make_switching_regression(100, 2, 2, random_state=0)``, from a given
   start, ``tol=0``: the time of 50 iterations less that of one, per
   iteration, as a multiple of the E-step kernel alone on the same shape
   (``skmoe._kernels.e_step``); elapsed, and CPU time of the calling thread.
2. 20 starts on small data sets (n <= 500, d <= 15, K <= 3, linear experts):
   skmoe's one fit with ``n_init=20`` (``bench_starts.py``'s model:
   ``LinearRegression`` experts, ``SoftmaxGate(C=1e6)``, ``tol=1e-6``) against
   flexmix's 20 random starts (``flexmix_starts.R``, timed inside R; the
   fastest of ``FLEXMIX_REPEATS`` runs of the script against the fastest of
   ``SKMOE_REPEATS`` fits, so that both sides' times are their least loaded
   on a shared machine), on
   flexmix's NPreg (K = 2 and 3) and ``MASS::Boston`` (K = 3), exported from R
   to ``benchmarks/data/`` (as ``bench_starts.py`` does), and
   the generated crossing lines of ``bench_starts.py``. Goal: skmoe at least
   5x faster. Skipped where ``Rscript`` is absent.

Usage::

    python benchmarks/bench_small.py            # writes results/bench_small.md
    python benchmarks/bench_small.py --quick    # the fixed cost only, prints only
"""

import datetime
import shutil
import sys
import tempfile
import time
import timeit
import warnings
from pathlib import Path

import numpy as np
from bench_estep import (
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
)
from bench_starts import (
    DATA,
    boston_case,
    crossing_case,
    export_r_datasets,
    npreg_case,
    run_flexmix,
    skmoe_model,
)
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate
from skmoe._kernels import e_step
from skmoe.datasets import make_switching_regression

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_small.md"
N_STARTS = 20
GOAL = 5.0
# Timed runs of each side (the fastest is reported): skmoe's fits after a warm-up
# fit, flexmix's runs of its 20 starts (each a new R process).
SKMOE_REPEATS = 5
FLEXMIX_REPEATS = 3


def iteration_cost(repeats=7, clock=time.perf_counter):
    """Seconds of one EM iteration at n = 100 and of the E-step kernel alone, on ``clock``."""
    X, y = make_switching_regression(100, 2, 2, random_state=0)
    init = np.random.RandomState(0).dirichlet([1, 1], size=100)

    def fit(max_iter):
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
                                          gate=SoftmaxGate(C=1e6), init=init, tol=0.0,
                                          max_iter=max_iter, min_rows_per_parameter=0.0,
                                          random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = clock()
            model.fit(X, y)
            return clock() - start

    fit(3)
    long = min(fit(51) for _ in range(repeats))
    short = min(fit(1) for _ in range(repeats))
    per_iteration = (long - short) / 50
    rng = np.random.RandomState(0)
    log_gate = np.log(rng.dirichlet([1, 1], size=100))
    log_lik = rng.normal(size=(100, 2))
    weight, resp, row = np.ones(100), np.empty((100, 2)), np.empty(100)
    e_step(log_gate, log_lik, weight, resp, row)
    number = 2000
    kernel = min(timeit.repeat(lambda: e_step(log_gate, log_lik, weight, resp, row),
                               number=number, repeat=repeats, timer=clock)) / number
    return per_iteration, kernel, short


def cases():
    export_r_datasets(["NPreg", "Boston"])
    if (DATA / "NPreg.csv").exists():
        yield npreg_case(2)
        yield npreg_case(3)
    if (DATA / "Boston.csv").exists():
        yield boston_case()
    yield crossing_case(gated=True)


def starts_row(case, directory):
    model = skmoe_model(case, "auto", n_init=N_STARTS)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(case.X, case.y)  # warm-up
        for _ in range(SKMOE_REPEATS):
            start = time.perf_counter()
            model.fit(case.X, case.y)
            times.append(time.perf_counter() - start)
    seconds = min(times)
    loglik = float(model.score_samples(case.X, case.y).sum())
    # The iterations of each start's kept run (emEM's discarded short runs not counted).
    iterations = np.mean([len(history) for history in model.init_lower_bounds_])
    # The same seeds every run: the same fits, different times.
    flex_times = []
    for _ in range(FLEXMIX_REPEATS):
        flexmix = run_flexmix(case, N_STARTS, directory)
        flex_times.append(sum(fit["seconds"] for fit in flexmix["fits"]))
    fits = [fit for fit in flexmix["fits"] if fit["error"] is None]
    flex_seconds = min(flex_times)
    flex_best = max(fit["loglik"] for fit in fits) if fits else float("nan")
    flex_iterations = np.mean([fit["iter"] for fit in fits]) if fits else float("nan")
    ratio = flex_seconds / seconds
    return [case.name, f"{case.X.shape[0]} x {case.X.shape[1]}", f"{seconds:.3f}",
            f"{flex_seconds:.3f}", f"{ratio:.1f}x", f"{loglik:.3f}", f"{flex_best:.3f}",
            f"{iterations:.0f}", f"{flex_iterations:.0f} ({len(flexmix['fits']) - len(fits)})",
            "met" if ratio >= GOAL else "not met"]


def main(argv=None):
    parser = benchmark_parser(__doc__, RESULTS, "the fixed cost only; prints only")
    args = parser.parse_args(argv)
    if args.output is None and not args.quick:
        args.output = RESULTS
    start = time.perf_counter()
    load_before = _load_average()
    cost_rows = []
    for name, clock in (("elapsed", time.perf_counter), ("CPU of the thread", time.thread_time)):
        per_iteration, kernel, one = iteration_cost(clock=clock)
        cost_rows.append([name, f"{per_iteration:.2e}", f"{kernel:.2e}",
                          f"{per_iteration / kernel:.0f}x", f"{one:.2e}"])
    cost = _markdown_table(
        ["time", "one EM iteration, n = 100, K = 2 (s)", "E-step kernel alone (s)", "ratio",
         "fit with max_iter=1 (s)"], cost_rows)
    print(cost)
    rows = []
    if not args.quick and shutil.which("Rscript") is not None:
        with tempfile.TemporaryDirectory() as tmp:
            for case in cases():
                rows.append(starts_row(case, Path(tmp)))
                print(rows[-1], flush=True)
    header = ["case", "n x d", f"skmoe n_init={N_STARTS} (s)",
              f"flexmix {N_STARTS} starts (s)", "flexmix / skmoe", "skmoe best log-lik",
              "flexmix best log-lik", "skmoe mean iterations",
              "flexmix mean iterations (failed starts)", "goal (>= 5x)"]
    starts = _markdown_table(header, rows) if rows else "Not run (`Rscript` absent or --quick)."
    print(starts)
    if args.output is None:
        return 0
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"""# bench_small results

Recorded {date} by `python benchmarks/bench_small.py` (total
{time.perf_counter() - start:.0f} s; load average before {load_before}, after
{_load_average()}).

## The fixed cost of an EM iteration

`MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, gate=SoftmaxGate(C=1e6),
tol=0)` on 100 rows from a given start: (time of 51 iterations - time of 1) / 50,
best of 7, against `skmoe._kernels.e_step` on (100, 2) arrays. Elapsed time, and
the CPU time of the calling thread (`time.thread_time`: on a shared machine it
leaves out the time other processes hold the cores; both the loop and the kernel
run on the calling thread at this size).

{cost}

## 20 starts against flexmix's 20 starts

skmoe: `bench_starts.py`'s model with `n_init={N_STARTS}` (the fastest of
{SKMOE_REPEATS} fits, after a warm-up fit); flexmix: the sum of its {N_STARTS} random
starts' times inside R (`flexmix_starts.R`, tolerance 1e-8, not counting the
polish), the fastest of {FLEXMIX_REPEATS} runs. Both elapsed times. Log-likelihoods are
each package's own (`score_samples(X, y).sum()`, flexmix's `logLik`). Mean
iterations per start: skmoe's kept run of each start (`init_lower_bounds_`; the
short runs of emEM that were not continued are not counted), flexmix's starts
that did not fail.

{starts}

{machine_section(machine_info(), blas_info())}""")
    print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
