"""Prediction for serving: single-row latency and batch throughput of mixtures of linear experts.

Not a test: it measures, prints a table and records the figures (issue 14).
Baselines are measured in the same run, the candidates taking turns:

1. single-row calls (one row of 10 features, the same row each call):
   ``MixtureOfExpertsRegressor(n_experts=4).predict`` against
   ``LinearRegression.predict``, and ``MixtureOfExpertsClassifier(n_experts=4)
   .predict_proba`` (3 classes) against ``LogisticRegression.predict_proba``;
   the median and the 99th percentile of the calls (goal: the mixture's median
   within 3x of the single model's). Beside them, the same mixture with the
   experts wrapped in a one-step Pipeline, which takes the general path (every
   expert asked for its predictions): the prediction path before this change;
2. batch prediction of 100,000 rows: rows per second of the mixture against
   ``LinearRegression`` (goal: at least 1/3), with the general path beside it.
   ``LinearRegression.predict`` is one matrix-vector product, which OpenBLAS
   may share among its threads; it is measured with its threads and with one,
   and the faster of the two is the baseline;
3. ``top_k=2`` (1 for K = 2) against every expert (``top_k=None``), K = 2, 3
   and 4, on 100,000 rows, for the regressor's ``predict`` and the
   classifier's ``predict_proba`` (goal: no slower).

The classifier's batch ``predict_proba`` against ``LogisticRegression``'s is
measured beside the regressor's (no goal set for it).

Usage::

    python benchmarks/bench_predict.py            # full run, writes results/bench_predict.md
    python benchmarks/bench_predict.py --quick    # fewer calls, prints only
"""

import copy
import datetime
import time
import warnings
from pathlib import Path

import numpy as np
from bench_estep import _load_average, benchmark_parser, blas_info, machine_info, machine_section
from bench_estep import _markdown_table as _table
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._warmup import warm_up
from skmoe.datasets import make_gated_classification, make_switching_regression

RESULTS = Path(__file__).resolve().parent / "results" / "bench_predict.md"
GOAL_SINGLE_X = 3.0
GOAL_BATCH_FRACTION = 1 / 3
N_FEATURES = 10
N_BATCH = 100_000


def _latencies(candidates, calls):
    """Seconds of every call of each candidate, the candidates taking turns call by call."""
    times = {name: np.empty(calls) for name in candidates}
    for func in candidates.values():
        for _ in range(50):
            func()
    for i in range(calls):
        for name, func in candidates.items():
            start = time.perf_counter()
            func()
            times[name][i] = time.perf_counter() - start
    return times


def _best(candidates, repeats, *args):
    """The best of ``repeats`` seconds of each ``func(*args)``, the candidates taking turns."""
    best = dict.fromkeys(candidates, np.inf)
    for func in candidates.values():
        func(*args)
    for _ in range(repeats):
        for name, func in candidates.items():
            start = time.perf_counter()
            func(*args)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _fit_models(n_experts):
    X, y = make_switching_regression(n_samples=5000, n_features=N_FEATURES,
                                     n_experts=n_experts, random_state=0)
    regressor = MixtureOfExpertsRegressor(n_experts=n_experts, random_state=0).fit(X, y)
    return X, y, regressor, _general(regressor)


def _general(model):
    """A copy of a fitted mixture with each fitted expert in a one-step Pipeline."""
    general = copy.deepcopy(model)
    general.experts_ = [Pipeline([("expert", expert)]) for expert in general.experts_]
    return general


def single_row(calls):
    X, y, regressor, general = _fit_models(4)
    linear = LinearRegression().fit(X, y)
    Xc, yc = make_gated_classification(n_samples=5000, n_features=N_FEATURES, n_experts=4,
                                       n_classes=3, random_state=0)
    classifier = MixtureOfExpertsClassifier(n_experts=4, random_state=0).fit(Xc, yc)
    general_classifier = _general(classifier)
    logistic = LogisticRegression().fit(Xc, yc)
    row, row_c = X[:1], Xc[:1]
    times = _latencies({
        "LinearRegression.predict": lambda: linear.predict(row),
        "mixture predict": lambda: regressor.predict(row),
        "mixture predict, general path": lambda: general.predict(row),
        "LogisticRegression.predict_proba": lambda: logistic.predict_proba(row_c),
        "mixture predict_proba": lambda: classifier.predict_proba(row_c),
        "mixture predict_proba, general path": lambda: general_classifier.predict_proba(row_c),
    }, calls)
    baselines = {"predict": "LinearRegression.predict",
                 "predict_proba": "LogisticRegression.predict_proba"}
    rows = []
    for name, values in times.items():
        base = baselines["predict_proba" if "proba" in name else "predict"]
        median = np.median(values)
        rows.append([name, f"{median * 1e6:.0f}", f"{np.percentile(values, 99) * 1e6:.0f}",
                     f"{median / np.median(times[base]):.2f}x"])
    return rows, {
        "predict": np.median(times["mixture predict"])
        / np.median(times["LinearRegression.predict"]),
        "predict_proba": np.median(times["mixture predict_proba"])
        / np.median(times["LogisticRegression.predict_proba"]),
    }


def batch(repeats):
    X, y, regressor, general = _fit_models(4)
    linear = LinearRegression().fit(X, y)
    rows = np.random.default_rng(1).standard_normal((N_BATCH, N_FEATURES))

    def linear_one_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            return linear.predict(rows)

    best = _best({
        "LinearRegression.predict": lambda: linear.predict(rows),
        "LinearRegression.predict, one BLAS thread": linear_one_thread,
        "mixture predict": lambda: regressor.predict(rows),
        "mixture predict, general path": lambda: general.predict(rows),
    }, repeats)
    # The faster of the two baselines: BLAS threads help or hurt with the load.
    base = min(best["LinearRegression.predict"],
               best["LinearRegression.predict, one BLAS thread"])
    table = [[name, f"{seconds * 1e3:.2f}", f"{N_BATCH / seconds:,.0f}", f"{base / seconds:.2f}"]
             for name, seconds in best.items()]
    return table, base / best["mixture predict"]


def _fit_classifier(n_experts):
    X, y = make_gated_classification(n_samples=5000, n_features=N_FEATURES, n_experts=n_experts,
                                     n_classes=3, random_state=0)
    return X, y, MixtureOfExpertsClassifier(n_experts=n_experts, random_state=0).fit(X, y)


def batch_classifier(repeats):
    X, y, classifier = _fit_classifier(4)
    logistic = LogisticRegression().fit(X, y)
    general = _general(classifier)
    rows = np.random.default_rng(3).standard_normal((N_BATCH, N_FEATURES))

    def logistic_one_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            return logistic.predict_proba(rows)

    best = _best({
        "LogisticRegression.predict_proba": lambda: logistic.predict_proba(rows),
        "LogisticRegression.predict_proba, one BLAS thread": logistic_one_thread,
        "mixture predict_proba": lambda: classifier.predict_proba(rows),
        "mixture predict_proba, general path": lambda: general.predict_proba(rows),
    }, repeats)
    base = min(best["LogisticRegression.predict_proba"],
               best["LogisticRegression.predict_proba, one BLAS thread"])
    return [[name, f"{seconds * 1e3:.2f}", f"{N_BATCH / seconds:,.0f}", f"{base / seconds:.2f}"]
            for name, seconds in best.items()]


def top_k(repeats):
    table, worst = [], 0.0
    rows = np.random.default_rng(2).standard_normal((N_BATCH, N_FEATURES))
    for n_experts in (2, 3, 4):
        for name, model, method in (
                ("regressor", _fit_models(n_experts)[2], "predict"),
                ("classifier", _fit_classifier(n_experts)[2], "predict_proba")):
            sparse = copy.deepcopy(model).set_params(top_k=1 if n_experts == 2 else 2)
            best = _best({"dense": getattr(model, method), "top_k": getattr(sparse, method)},
                         repeats, rows)
            ratio = best["top_k"] / best["dense"]
            worst = max(worst, ratio)
            table.append([name, n_experts, sparse.top_k, f"{best['dense'] * 1e3:.2f}",
                          f"{best['top_k'] * 1e3:.2f}", f"{ratio:.2f}x"])
    return table, worst


def main(argv=None):
    args = benchmark_parser(__doc__, RESULTS).parse_args(argv)
    if args.output is None and not args.quick:
        args.output = RESULTS
    calls, repeats = (500, 5) if args.quick else (5000, 30)
    warm_up()
    start = time.perf_counter()
    load_before = _load_average()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single_rows, single_x = single_row(calls)
        batch_rows, batch_fraction = batch(repeats)
        batch_classifier_rows = batch_classifier(repeats)
        top_k_rows, top_k_worst = top_k(repeats)
    load_after = _load_average()
    summary = (
        f"Single row: predict {single_x['predict']:.2f}x LinearRegression.predict, "
        f"predict_proba {single_x['predict_proba']:.2f}x LogisticRegression.predict_proba "
        f"(goal <= {GOAL_SINGLE_X:.0f}x). Batch: {batch_fraction:.2f} of LinearRegression's "
        f"rows per second (goal >= {GOAL_BATCH_FRACTION:.2f}). top_k / dense: at most "
        f"{top_k_worst:.2f}x (goal <= 1x, within the noise)."
    )
    print(summary)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# bench_predict results

Recorded {date} by `python benchmarks/bench_predict.py{" --quick" if args.quick else ""}`
(total {time.perf_counter() - start:.0f} s; load average before {load_before}, after
{load_after}). Mixtures of 4 linear experts (the default experts: `ScaledRidge` for the
regressor, `LogisticRegression` for the classifier) fitted on 5,000 rows of
{N_FEATURES} features (`make_switching_regression`, `make_gated_classification` with 3
classes). "general path" is a copy of the same fitted mixture with each fitted expert
wrapped in a one-step `Pipeline`: every expert is then asked for its own predictions, as
every mixture was before this change (the gate still takes its new path).

## 1. Single-row calls

{calls:,} calls of each, the candidates taking turns call by call, after 50 untimed calls.
The last column is the median over that of the single model.

{_table(["call", "median (µs)", "99th percentile (µs)", "/ single model"], single_rows)}

## 2. Batch prediction, {N_BATCH:,} rows

Best of {repeats}.

{_table(["call", "ms", "rows / s", "share of LinearRegression's rows / s"], batch_rows)}

The share is against the faster of the two `LinearRegression.predict` rows.

The classifier beside it (no goal set): 4 experts, 3 classes, against the
faster of the two `LogisticRegression.predict_proba` rows.

{_table(["call", "ms", "rows / s", "share of LogisticRegression's rows / s"],
        batch_classifier_rows)}

## 3. top_k against every expert, {N_BATCH:,} rows

Best of {repeats}; the same fitted mixture with `top_k` set (`predict` of the regressor,
`predict_proba` of the classifier with 3 classes).

{_table(["estimator", "K", "top_k", "dense (ms)", "top_k (ms)", "top_k / dense"],
        top_k_rows)}

{summary}

{machine_section(machine_info(), blas_info())}"""
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
