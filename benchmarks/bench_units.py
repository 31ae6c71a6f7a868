"""The classifier's default expert and the units of the features, measured.

Not a test: it cross-validates the default ``MixtureOfExpertsClassifier`` on
real and generated data, with its experts the former default
``LogisticRegression()`` (its penalty ``||coef||^2 / (2 C)`` in the units of
the features) and the new one, ``ScaledLogisticRegression()`` (the penalty in
units of each feature's spread), each on the features as given, divided by
1000 and multiplied by 1000, and records the held-out log-loss (mean per row ±
fold-sd) and accuracy. A model whose answer does not depend on units gives
one number per data set; the former default gave three. ``linear`` (a
standardised ``LogisticRegression``, as ``compare`` builds it) is the single
model beside them.

Data and folds: those of ``bench_label_noise.py`` (scikit-learn's iris, wine
and breast cancer; a generated gated classification with overlapping regimes
and 5% of its labels flipped; MASS's ``Pima.tr``, ``fgl``, ``Melanoma``,
``crabs`` and ``biopsy`` when ``Rscript`` is found), repeated stratified
5-fold cross-validation.

Usage::

    python benchmarks/bench_units.py          # full run, writes results/bench_units.md
    python benchmarks/bench_units.py --quick  # 1 repeat, scikit-learn data; prints only
"""

import datetime
import time
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
from bench_label_noise import load_datasets
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import RepeatedStratifiedKFold

from skmoe import MixtureOfExpertsClassifier, ScaledLogisticRegression
from skmoe.compare import default_baselines

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_units.md"
UNITS = {"as given": 1.0, "/ 1000": 1e-3, "* 1000": 1e3}


def estimators():
    return {
        "LogisticRegression() (former default)":
            MixtureOfExpertsClassifier(LogisticRegression(), random_state=0),
        "ScaledLogisticRegression() (default)":
            MixtureOfExpertsClassifier(ScaledLogisticRegression(), random_state=0),
        "linear": default_baselines("classification", random_state=0)["linear"],
    }


def run(datasets, repeats):
    rows = []
    for name, (X, y) in datasets.items():
        classes = np.unique(y)
        folds = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats,
                                             random_state=0).split(X, y))
        first = True
        for estimator, model in estimators().items():
            cells = []
            for factor in UNITS.values():
                losses, accuracies = [], []
                for train, test in folds:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        fitted = clone(model).fit(X[train] * factor, y[train])
                    proba = np.zeros((test.size, classes.size))
                    proba[:, np.searchsorted(classes, fitted.classes_)] = (
                        fitted.predict_proba(X[test] * factor))
                    losses.append(log_loss(y[test], proba, labels=classes))
                    accuracies.append(accuracy_score(y[test], classes[proba.argmax(1)]))
                cells.append(f"{np.mean(losses):.3f} ± {np.std(losses):.3f} "
                             f"({np.mean(accuracies):.3f})")
            rows.append([name if first else "", estimator, *cells])
            first = False
        print(f"{name}: done", flush=True)
    return rows


def report(args, rows, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = ["data", "experts"] + [f"features {units}" for units in UNITS]
    return f"""# bench_units results

Recorded {date} by `python benchmarks/bench_units.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
Repeated stratified 5-fold cross-validation, {args.repeats} repeats, the same folds for
every model. Each cell: held-out log-loss per row ± fold-sd (accuracy), for the default
classifier mixture (three experts, one k-means start) with the experts named, and for
compare's `linear`, with every feature as given, divided by 1000 and multiplied by 1000.

{_markdown_table(header, rows)}

{machine_section(machine_info(), blas_info())}"""


def main(argv=None):
    parser = benchmark_parser(__doc__, RESULTS, "1 repeat, scikit-learn's data sets; prints only")
    args = parser.parse_args(argv)
    args.repeats = 1 if args.quick else 2
    if args.output is None and not args.quick:
        args.output = RESULTS
    start = time.perf_counter()
    load_before = _load_average()
    rows = run(load_datasets(args.quick), args.repeats)
    text = report(args, rows, load_before, _load_average(), time.perf_counter() - start)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)


if __name__ == "__main__":
    main()
