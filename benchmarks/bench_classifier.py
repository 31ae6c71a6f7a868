"""MixtureOfExpertsClassifier's EM against the regressor's and against R's flexmix (issue 14).

Not a test: it times whole fits, prints tables and records them.

1. The classifier beside the regressor: ``MixtureOfExpertsClassifier(n_experts=4,
   random_state=0)`` on ``make_gated_classification(n_samples=100_000,
   n_features=10, n_experts=4, random_state=0)`` and
   ``MixtureOfExpertsRegressor(n_experts=4, random_state=0)`` on
   ``make_switching_regression(100_000, 10, 4, random_state=0)``, default
   settings, in one run (goal: the classifier within 3x of the regressor).
   At n = 20,000 the classifier is also timed with its LogisticRegression
   experts fitted by their own ``fit`` in every M-step (the path before
   ``skmoe._logistic``), the baseline of the Newton path.
2. Against flexmix on classification: K = 3 multinomial logit experts with a
   softmax gate on d = 5 inputs, ``make_gated_classification(n, 5, 3,
   random_state=0)`` (3 classes), n = 5,000 and 50,000, both from the same
   k-means start (scikit-learn, ``random_state=0``, on the standardised X):
   flexmix's ``FLXMRmultinom()`` experts and ``FLXPmultinom`` gate
   (``flexmix_classify.R``) against ``MixtureOfExpertsClassifier(
   LogisticRegression(C=inf), n_experts=3, gate=SoftmaxGate(C=1e6), init=<the
   k-means start>, tol=1e-6, max_iter=1000)`` (unpenalised experts, a
   negligible gate penalty: the model flexmix fits). Stopping rules made
   equal as in ``bench_flexmix.py`` (flexmix's relative tolerance set to
   skmoe's per-sample ``tol`` at skmoe's final log-likelihood). Goal: skmoe at
   least 20x faster at a per-sample log-likelihood (``log_likelihood / n``
   against flexmix's ``logLik / n``) no lower than flexmix's to 1e-4. Skipped
   where ``Rscript`` is absent.

Usage::

    python benchmarks/bench_classifier.py            # full run, writes results/bench_classifier.md
    python benchmarks/bench_classifier.py --quick    # n = 20,000 and flexmix at 5,000 only
"""

import datetime
import json
import shutil
import subprocess
import sys
import tempfile
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
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import skmoe._experts
from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, SoftmaxGate
from skmoe.datasets import make_gated_classification, make_switching_regression

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_classifier.md"
R_SCRIPT = HERE / "flexmix_classify.R"
GOAL_REGRESSOR = 3.0
GOAL_SPEEDUP = 20.0
GOAL_LOGLIK = 1e-4
FLEX_FEATURES, FLEX_EXPERTS = 5, 3
MIN_WEIGHT = 1e-3


class _OwnFit:
    """LogisticRegression experts fitted by their own ``fit`` (the path before Newton's)."""

    def __enter__(self):
        self.saved = skmoe._experts.fits_by_newton
        skmoe._experts.fits_by_newton = lambda *args: False
        return self

    def __exit__(self, *exc):
        skmoe._experts.fits_by_newton = self.saved


def _timed_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start


# ------------------------------------------------- classifier beside regressor
def against_regressor(n_samples, with_own_fit, repeats):
    """Best of ``repeats`` fits of each model, interleaved (a burst of load hits all)."""
    X, y = make_gated_classification(n_samples=n_samples, n_features=10, n_experts=4,
                                     random_state=0)
    X_r, y_r = make_switching_regression(n_samples, 10, 4, random_state=0)
    candidates = {
        "regressor (ScaledRidge experts)": (MixtureOfExpertsRegressor, X_r, y_r, _Default),
        "classifier (Newton M-step)": (MixtureOfExpertsClassifier, X, y, _Default),
    }
    if with_own_fit:
        candidates["classifier (LogisticRegression.fit per M-step)"] = (
            MixtureOfExpertsClassifier, X, y, _OwnFit)
    best = {label: (np.inf, None) for label in candidates}
    for _ in range(repeats):
        for label, (model_class, X_c, y_c, context) in candidates.items():
            model = model_class(n_experts=4, random_state=0)
            with context():
                seconds = _timed_fit(model, X_c, y_c)
            if seconds < best[label][0]:
                best[label] = (seconds, model)
    base = best["regressor (ScaledRidge experts)"][0]
    return [[label, n_samples, seconds, model.n_iter_, model.converged_, seconds / base]
            for label, (seconds, model) in best.items()]


class _Default:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def regressor_table(rows):
    return _markdown_table(
        ["model", "n", "seconds", "n_iter_", "converged", "/ regressor", "goal (<= 3x)"],
        [[label, f"{n:,}", f"{s:.2f}", it, str(conv), f"{ratio:.2f}x",
          "" if label.startswith("regressor") or "fit per" in label
          else ("met" if ratio <= GOAL_REGRESSOR else "not met")]
         for label, n, s, it, conv, ratio in rows])


# ------------------------------------------------------------------ flexmix
def make_problem(n_samples, directory):
    X, y = make_gated_classification(n_samples, FLEX_FEATURES, FLEX_EXPERTS, random_state=0)
    labels = KMeans(FLEX_EXPERTS, n_init=1, random_state=0).fit_predict(
        StandardScaler().fit_transform(X))
    data_path = directory / f"data_{n_samples}.csv"
    init_path = directory / f"init_{n_samples}.csv"
    header = ",".join([f"x{j + 1}" for j in range(FLEX_FEATURES)] + ["y"])
    np.savetxt(data_path, np.column_stack([X, y]), delimiter=",", header=header, comments="",
               fmt="%.17g")
    np.savetxt(init_path, labels + 1, header="cluster", comments="", fmt="%d")
    return X, y, labels, data_path, init_path


def skmoe_model(labels, tol, max_iter):
    return MixtureOfExpertsClassifier(
        LogisticRegression(C=np.inf), n_experts=FLEX_EXPERTS, gate=SoftmaxGate(C=1e6),
        init=np.eye(FLEX_EXPERTS)[labels], tol=tol, max_iter=max_iter,
        min_expert_weight=MIN_WEIGHT, random_state=0,
    )


def fit_flexmix(data_path, init_path, tolerance, max_iter, directory):
    out = directory / "flexmix.json"
    subprocess.run(
        ["Rscript", str(R_SCRIPT), str(data_path), str(init_path), repr(tolerance),
         str(max_iter), repr(MIN_WEIGHT), "1", str(out)],
        check=True,
    )
    result = json.loads(out.read_text())
    result["loglik_per_sample"] = result["loglik"] / result["n"]
    return result


def against_flexmix(n_samples, tol, max_iter, directory):
    X, y, labels, data_path, init_path = make_problem(n_samples, directory)
    model = skmoe_model(labels, tol, max_iter)
    seconds = _timed_fit(model, X, y)
    skmoe = {"seconds": seconds, "n_iter": model.n_iter_, "converged": model.converged_,
             "loglik_per_sample": model.log_likelihood(X, y) / n_samples,
             "n_experts": model.n_experts_}
    tolerance = tol * n_samples / (abs(n_samples * model.lower_bound_) + 0.1)
    flexmix = fit_flexmix(data_path, init_path, tolerance, max_iter, directory)
    return {"n": n_samples, "skmoe": skmoe, "flexmix": flexmix, "tolerance": tolerance}


def flexmix_table(rows):
    body = []
    for row in rows:
        sk, flex = row["skmoe"], row["flexmix"]
        speedup = flex["seconds"] / sk["seconds"]
        diff = sk["loglik_per_sample"] - flex["loglik_per_sample"]
        met = speedup >= GOAL_SPEEDUP and diff >= -GOAL_LOGLIK
        body.append([
            f"{row['n']:,}", f"{sk['seconds']:.3f}",
            f"{sk['n_iter']}{'' if sk['converged'] else ' (not converged)'}",
            f"{flex['seconds']:.3f}",
            f"{flex['iter']}{'' if flex['converged'] else ' (not converged)'}",
            f"{speedup:.1f}x", f"{sk['loglik_per_sample']:.6f}",
            f"{flex['loglik_per_sample']:.6f}", f"{diff:+.2e}",
            f"{row['tolerance']:.3e}", "met" if met else "not met",
        ])
    return _markdown_table(
        ["n", "skmoe (s)", "skmoe n_iter_", "flexmix (s)", "flexmix iterations",
         "flexmix / skmoe time", "skmoe log-lik / n", "flexmix log-lik / n",
         "skmoe - flexmix", "flexmix tolerance", "goal (>= 20x, >= -1e-4)"], body)


def parse_args(argv=None):
    parser = benchmark_parser(__doc__, RESULTS,
                              "n = 20,000 beside the regressor, flexmix at 5,000; prints only")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args(argv)
    args.sizes = (20_000,) if args.quick else (20_000, 100_000)
    args.flexmix_sizes = (5_000,) if args.quick else (5_000, 50_000)
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    load_before = _load_average()
    # Compile or load the kernels before timing.
    X_warm, y_warm = make_gated_classification(600, 3, 2, random_state=1)
    MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(X_warm, y_warm)
    X_warm, y_warm = make_switching_regression(600, 3, 2, random_state=1)
    MixtureOfExpertsRegressor(n_experts=2, max_iter=5, random_state=0).fit(X_warm, y_warm)
    regressor_rows = []
    for n_samples in args.sizes:
        regressor_rows += against_regressor(n_samples, with_own_fit=n_samples == 20_000,
                                            repeats=1 if args.quick else 2)
        print(regressor_table(regressor_rows), flush=True)
    flexmix_rows = []
    if shutil.which("Rscript") is None:
        print("Rscript not found: the comparison with flexmix is skipped.")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for n_samples in args.flexmix_sizes:
                flexmix_rows.append(against_flexmix(n_samples, args.tol, args.max_iter,
                                                    Path(tmp)))
                print(flexmix_table(flexmix_rows[-1:]), flush=True)
    load_after = _load_average()
    elapsed = time.perf_counter() - start
    if args.output is None:
        return 0
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    r_rows = []
    if flexmix_rows:
        flex = flexmix_rows[-1]["flexmix"]
        r_rows = [[f"R: {key}", flex[key]] for key in ("r_version", "flexmix_version",
                                                        "nnet_version", "blas")]
    flexmix_text = (flexmix_table(flexmix_rows) if flexmix_rows
                    else "Not run: `Rscript` was not found.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"""# bench_classifier results

Recorded {date} by `python benchmarks/bench_classifier.py`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
Beside the regressor: the best of two fits of each, interleaved; against flexmix: one fit
of each. All after a warm-up fit that compiles or loads the kernels.

## The classifier beside the regressor

Default settings, `n_experts=4, random_state=0`; classifier on
`make_gated_classification(n, 10, 4, random_state=0)` (3 classes), regressor on
`make_switching_regression(n, 10, 4, random_state=0)`. "LogisticRegression.fit per
M-step" is the classifier with its experts fitted by their own `fit` in every
M-step (the path before Newton's method), at n = 20,000 only.

{regressor_table(regressor_rows)}

## Against flexmix

K = {FLEX_EXPERTS} multinomial logit experts and a softmax gate on d = {FLEX_FEATURES}
inputs, `make_gated_classification(n, {FLEX_FEATURES}, {FLEX_EXPERTS}, random_state=0)`,
both from the same k-means start. flexmix: `flexmix(y ~ ., cluster = <k-means>,
model = FLXMRmultinom(), concomitant = FLXPmultinom(~ x1 + ... + x5), control =
list(tolerance, iter.max = {args.max_iter}, minprior = {MIN_WEIGHT}))`, one fit,
timed inside R. skmoe: `MixtureOfExpertsClassifier(LogisticRegression(C=inf),
n_experts={FLEX_EXPERTS}, gate=SoftmaxGate(C=1e6), init=<k-means>, tol={args.tol:g},
max_iter={args.max_iter}, min_expert_weight={MIN_WEIGHT})`. Log-likelihoods per sample:
skmoe's `log_likelihood(X, y) / n`, flexmix's `logLik / n`.

{flexmix_text}

{machine_section(machine_info(), blas_info(), r_rows)}""")
    print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
