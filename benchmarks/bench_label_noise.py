"""Honest class probabilities, measured: held-out log-loss of classifier mixtures of trees.

Not a test: it cross-validates classifiers on real and generated data and
records each one's held-out log-loss (mean per row ± fold-sd), its largest
per-row loss, and its accuracy. A tree fitted on its training rows gives a
pure leaf's class probability 1 and every other class 0; a mixture of such
trees, without a model of their label noise, gave held-out rows of another
class a log-loss near 23 (the probability floor of the metric). The mixtures'
``label_noise="auto"`` (the default) mixes each tree's probabilities with its
class frequencies by a share estimated out of fold; ``"none"`` is the former
behaviour.

The estimators, on the same folds (``RepeatedStratifiedKFold(5, 2, random_state=0)``):
``moe_trees`` as :func:`skmoe.compare.default_baselines` builds it (three
depth-3 trees, one k-means start, ``tol=1e-4``), with ``label_noise`` "auto"
and "none"; ``moe_linear``; ``random_forest``, ``gradient_boosting`` and
``linear`` as ``compare`` builds them.

Data: scikit-learn's iris, wine and breast cancer; a generated gated
classification with overlapping regimes and 5% of its labels flipped; and,
when ``Rscript`` is found (exported to ``benchmarks/data/``), MASS's
``Pima.tr`` (type), ``fgl`` (type), ``Melanoma`` (status), ``crabs`` (sp) and
``biopsy`` (class, rows with a missing value dropped), first run after the
model was settled.

Usage::

    python benchmarks/bench_label_noise.py          # full run, writes results/bench_label_noise.md
    python benchmarks/bench_label_noise.py --quick  # 1 repeat, scikit-learn data; prints only
"""

import datetime
import shutil
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
from bench_real_data import DATA, export_r_datasets
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import RepeatedStratifiedKFold

from skmoe.compare import default_baselines
from skmoe.datasets import make_gated_classification

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_label_noise.md"
# name -> (R expression of the data frame, target column)
R_CLASSIFICATION = {
    "Pima.tr": ("MASS::Pima.tr", "type"),
    "fgl": ("MASS::fgl", "type"),
    "Melanoma": ("MASS::Melanoma", "status"),
    "crabs": ("MASS::crabs[, c('sex', 'FL', 'RW', 'CL', 'CW', 'BD', 'sp')]", "sp"),
    "biopsy": ("na.omit(MASS::biopsy)[, -1]", "class"),
}
ESTIMATORS = ["moe_trees", "moe_trees, label_noise='none'", "moe_linear", "random_forest",
              "gradient_boosting", "linear"]


def load_datasets(quick):
    """name -> (X, y) of numbers and integer class codes."""
    datasets = {name: loader(return_X_y=True) for name, loader in
                [("iris", load_iris), ("wine", load_wine), ("breast cancer", load_breast_cancer)]}
    if quick:
        return datasets
    X, y = make_gated_classification(n_samples=600, n_features=4, n_experts=3, n_classes=3,
                                     gate_sharpness=1.0, random_state=3)
    rng = np.random.default_rng(3)
    y = np.where(rng.random(y.size) < 0.05, rng.integers(0, 3, y.size), y)
    datasets["gated, overlapping, 5% flipped (generated)"] = (X, y)
    if shutil.which("Rscript") is not None:
        export_r_datasets(DATA, R_CLASSIFICATION)
    for name, (_, target) in R_CLASSIFICATION.items():
        path = DATA / f"{name}.csv"
        if path.exists():
            frame = pd.read_csv(path)
            labels = frame.pop(target)
            frame = pd.get_dummies(frame, dtype=float)
            datasets[name] = (frame.to_numpy(float), np.unique(labels, return_inverse=True)[1])
    return datasets


def estimators():
    baselines = default_baselines("classification", random_state=0)
    chosen = {name: baselines[name] for name in ESTIMATORS if name in baselines}
    chosen["moe_trees, label_noise='none'"] = clone(baselines["moe_trees"]).set_params(
        label_noise="none")
    return {name: chosen[name] for name in ESTIMATORS}


def run(datasets, repeats):
    rows = []
    for name, (X, y) in datasets.items():
        classes = np.unique(y)
        folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=0)
        scores = {estimator: [] for estimator in ESTIMATORS}
        for train, test in folds.split(X, y):
            for estimator, model in estimators().items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tic = time.perf_counter()
                    fitted = clone(model).fit(X[train], y[train])
                    seconds = time.perf_counter() - tic
                proba = np.zeros((test.size, classes.size))
                proba[:, np.searchsorted(classes, fitted.classes_)] = fitted.predict_proba(X[test])
                own = np.clip(proba[np.arange(test.size), np.searchsorted(classes, y[test])],
                              1e-15, 1.0)
                scores[estimator].append((log_loss(y[test], proba, labels=classes),
                                          float(np.max(-np.log(own))),
                                          accuracy_score(y[test], classes[proba.argmax(1)]),
                                          seconds))
        for estimator in ESTIMATORS:
            loss, worst, accuracy, seconds = np.array(scores[estimator]).T
            rows.append([name if estimator == ESTIMATORS[0] else "", estimator,
                         f"{loss.mean():.3f} ± {loss.std():.3f}", f"{worst.max():.1f}",
                         f"{accuracy.mean():.3f}", f"{seconds.mean():.3f}"])
        print(f"{name}: done", flush=True)
    return rows


def report(args, rows, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# bench_label_noise results

Recorded {date} by `python benchmarks/bench_label_noise.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
Repeated stratified 5-fold cross-validation, {args.repeats} repeats, the same folds for
every estimator of a data set. Log-loss: mean held-out per row ± fold-sd (probabilities
clipped at 1e-15, as scikit-learn's `log_loss`); worst row: the largest per-row loss
over all folds; fit s: mean seconds per fit.

{_markdown_table(["data", "estimator", "log-loss", "worst row", "accuracy", "fit s"], rows)}

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
