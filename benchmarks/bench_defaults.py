"""Iterations to convergence of default fits: the evidence for ``tol`` and ``max_iter`` (issue 14).

Not a test: it fits the default ``MixtureOfExpertsRegressor()`` and
``MixtureOfExpertsClassifier()`` (``n_experts=3``, ``random_state=0``) on the
data sets of ``python -m skmoe compare`` (the generators at their demo
settings, scikit-learn's bundled sets) and, where ``bench_real_data.py``
exported them to ``benchmarks/data/``, R's data sets, with ``tol`` in
{1e-4, 1e-5, 1e-6, 1e-8} and ``max_iter=2000``. For each ``tol`` it records the
EM iterations the fit took and how far its per-sample penalised
log-likelihood (``lower_bound_``) stopped below the fit with ``tol=1e-8`` (the
same start and the same path, run on); and whether the default settings
(today's ``max_iter``) converge.

Usage::

    python benchmarks/bench_defaults.py            # writes results/bench_defaults.md
    python benchmarks/bench_defaults.py --quick    # the generators only, prints only
"""

import datetime
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from bench_estep import (
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
)
from sklearn import datasets as sk_datasets
from sklearn.exceptions import ConvergenceWarning

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_gated_classification, make_switching_regression

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_defaults.md"
DATA = HERE / "data"
TOLS = (1e-4, 1e-5, 1e-6)
REFERENCE_TOL = 1e-8
MAX_ITER = 2000
# R's data sets of bench_real_data.py: file -> target column.
R_SETS = {"Boston.csv": "medv", "NPreg.csv": "yn", "airquality.csv": "Ozone", "cpus.csv": "perf",
          "faithful.csv": "eruptions", "mcycle.csv": "accel", "mtcars.csv": "mpg",
          "stackloss.csv": "stack.loss", "swiss.csv": "Fertility"}


def problems(quick, data=DATA):
    yield "regression", "switching_regression (demo, n=2000)", make_switching_regression(
        n_samples=2000, n_features=4, n_experts=3, noise=[0.1, 0.5, 1.5], gate_sharpness=3.0,
        random_state=0)
    yield "classification", "gated_classification (demo, n=2000)", make_gated_classification(
        n_samples=2000, n_features=4, n_experts=3, n_classes=3, gate_sharpness=3.0,
        random_state=0)
    yield "classification", "make_gated_classification(20000, 10, 4)", make_gated_classification(
        n_samples=20000, n_features=10, n_experts=4, random_state=0)
    if quick:
        return
    yield "regression", "diabetes", sk_datasets.load_diabetes(return_X_y=True)
    for name in ("breast_cancer", "wine", "iris"):
        yield "classification", name, getattr(sk_datasets, f"load_{name}")(return_X_y=True)
    for file, target in R_SETS.items():
        path = data / file
        if not path.exists():
            continue
        frame = pd.read_csv(path).dropna()
        if target not in frame:
            continue
        X = frame.drop(columns=[target]).select_dtypes("number").to_numpy(dtype=float)
        yield "regression", f"R {path.stem}", (X, frame[target].to_numpy(dtype=float))


def fit(task, X, y, **params):
    model_class = MixtureOfExpertsRegressor if task == "regression" else MixtureOfExpertsClassifier
    model = model_class(random_state=0, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, seconds, warned


def measure(task, name, X, y):
    reference, _, _ = fit(task, X, y, tol=REFERENCE_TOL, max_iter=MAX_ITER)
    row = {"task": task, "data": name, "n": X.shape[0], "d": X.shape[1],
           "reference_iter": reference.n_iter_, "reference_converged": reference.converged_}
    for tol in TOLS:
        model, seconds, _ = fit(task, X, y, tol=tol, max_iter=MAX_ITER)
        row[tol] = (model.n_iter_, reference.lower_bound_ - model.lower_bound_, seconds)
    default, _, warned = fit(task, X, y)
    row["default"] = (default.n_iter_, default.converged_, warned)
    return row


def table(rows):
    header = ["task", "data", "n x d"]
    header += [f"tol={tol:g}: iterations (gap)" for tol in TOLS]
    header += [f"tol={REFERENCE_TOL:g}: iterations", "defaults: n_iter_, converged"]
    body = []
    for row in rows:
        cells = [row["task"], row["data"], f"{row['n']} x {row['d']}"]
        cells += [f"{row[tol][0]} ({row[tol][1]:.1e})" for tol in TOLS]
        cells.append(f"{row['reference_iter']}"
                     + ("" if row["reference_converged"] else " (not converged)"))
        n_iter, converged, warned = row["default"]
        cells.append(f"{n_iter}, {converged}" + (" (ConvergenceWarning)" if warned else ""))
        body.append(cells)
    return _markdown_table(header, body)


def main(argv=None):
    parser = benchmark_parser(__doc__, RESULTS, "the generators only; prints only")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="folder of R's exported data sets (bench_real_data.py)")
    args = parser.parse_args(argv)
    if args.output is None and not args.quick:
        args.output = RESULTS
    start = time.perf_counter()
    load_before = _load_average()
    rows = []
    for task, name, (X, y) in problems(args.quick, args.data):
        rows.append(measure(task, name, np.asarray(X, dtype=float), np.asarray(y)))
        print(table(rows[-1:]), flush=True)
    text = table(rows)
    print(text)
    if args.output is None:
        return 0
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"""# bench_defaults results

Recorded {date} by `python benchmarks/bench_defaults.py` (total
{time.perf_counter() - start:.0f} s; load average before {load_before}, after
{_load_average()}).

Default estimators (`n_experts=3`, `random_state=0`, default experts, gate and
init) fitted with `tol` in {{{", ".join(f"{t:g}" for t in TOLS)}}} and
`max_iter={MAX_ITER}`: EM iterations, and in brackets the gap, per sample, of
`lower_bound_` below the same fit run on to `tol={REFERENCE_TOL:g}`. Last column:
the defaults as they are (`tol`, `max_iter` of the estimator).

{text}

{machine_section(machine_info(), blas_info())}""")
    print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
