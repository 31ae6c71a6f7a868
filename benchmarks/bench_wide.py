"""Wide dense data, measured: the default classifier's fit with many features.

Not a test: it fits ``MixtureOfExpertsClassifier(n_experts=3)`` (its default
LogisticRegression experts, fitted by Newton steps) on a generated gated
classification of 20,000 rows and two classes, with 100 and 300 features, and
records the fit time, the EM iterations and the time per iteration, beside a
single ``LogisticRegression`` fit. Each mixture is fitted twice in the same
run: with the two-class Newton step's Hessian from BLAS past
``BLAS_HESSIAN_COLUMNS`` columns (the code's rule) and with the compiled
kernel's sums at every width (the rule before), on the same data and start:
the ratio of the two is the figure, the machine being shared.

Usage::

    python benchmarks/bench_wide.py           # full run, writes results/bench_wide.md
    python benchmarks/bench_wide.py --quick   # 100 features only; prints only
"""

import datetime
import time
import warnings
from pathlib import Path

from bench_estep import (
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
)
from sklearn.linear_model import LogisticRegression

from skmoe import MixtureOfExpertsClassifier, _kernels
from skmoe.datasets import make_gated_classification

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_wide.md"
N_SAMPLES = 20_000


def timed(make, X, y):
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X, y)
    return model, time.perf_counter() - tic


def run(widths):
    rows = []
    rule = _kernels.BLAS_HESSIAN_COLUMNS
    for n_features in widths:
        X, y = make_gated_classification(n_samples=N_SAMPLES, n_features=n_features,
                                          n_experts=3, n_classes=2, random_state=0)
        _, single = timed(LogisticRegression, X, y)
        fits = {}
        for name, columns in (("kernel's sums", 10**9), ("BLAS past the rule", rule)):
            _kernels.BLAS_HESSIAN_COLUMNS = columns
            try:
                fits[name] = timed(lambda: MixtureOfExpertsClassifier(n_experts=3,
                                                                      random_state=0), X, y)
            finally:
                _kernels.BLAS_HESSIAN_COLUMNS = rule
        (old, old_s), (new, new_s) = fits.values()
        for name, (model, seconds) in fits.items():
            rows.append([n_features, name, f"{seconds:.2f}", model.n_iter_,
                         f"{seconds / model.n_iter_:.3f}", f"{model.lower_bound_:.8f}",
                         f"{single:.3f}"])
        rows.append([n_features, "kernel / BLAS", f"{old_s / new_s:.2f}x", "", "", "", ""])
        print(f"{n_features} features: done", flush=True)
    return rows


def main(argv=None):
    parser = benchmark_parser(__doc__, RESULTS, "100 features only; prints only")
    args = parser.parse_args(argv)
    if args.output is None and not args.quick:
        args.output = RESULTS
    start = time.perf_counter()
    load_before = _load_average()
    rows = run([100] if args.quick else [100, 300])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# bench_wide results

Recorded {date} by `python benchmarks/bench_wide.py{" --quick" if args.quick else ""}`
(total {time.perf_counter() - start:.0f} s; load average before {load_before}, after
{_load_average()}). The default classifier (three LogisticRegression experts) on
{N_SAMPLES:,} rows of a generated gated classification with two classes; the two-class
Newton Hessian from BLAS from {_kernels.BLAS_HESSIAN_COLUMNS} columns on (the rule), or
from the compiled kernel's sums at every width (before). Below 128 columns (100
features and the intercept) both rows run the same code. The last column is one
`LogisticRegression()` fit on the same data.

{_markdown_table(["features", "Hessian", "fit s", "EM iterations", "s / iteration",
                  "lower bound", "LogisticRegression s"], rows)}

{machine_section(machine_info(), blas_info())}"""
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)


if __name__ == "__main__":
    main()
