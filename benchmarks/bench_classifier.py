"""MixtureOfExpertsClassifier's EM against the regressor's and against R's flexmix (issue 14).

Not a test: it times whole fits, prints tables and records them.

1. The classifier beside the regressor: ``MixtureOfExpertsClassifier(n_experts=4,
   random_state=0)`` on ``make_gated_classification(n_samples=100_000,
   n_features=10, n_experts=4, random_state=0)`` and
   ``MixtureOfExpertsRegressor(n_experts=4, random_state=0)`` on
   ``make_switching_regression(100_000, 10, 4, random_state=0)``, default
   settings, in one run (goal: the classifier within 3x of the regressor).
   The classifier is also timed without the squared extrapolation of its EM
   iterations (``skmoe._squarem``, the path before it: its log-likelihood is
   the one the default's must not fall below, by 1e-4 per sample), and at
   n = 20,000 with its LogisticRegression experts fitted by their own ``fit``
   in every M-step (the path before ``skmoe._logistic``).
2. Why the classifier took 58 iterations, at n = 20,000, one fit each: the
   EM without extrapolation with the experts', the gate's or both M-steps
   solved to tolerance in every iteration instead of the generalised-EM
   step, and the EM from the generating regimes (an oracle start, which the
   data do not give) with and without extrapolation.
3. Where the default classifier's EM ends with and without the extrapolation,
   one fit each, on other generated data (``make_gated_classification`` with
   other sizes and seeds; ``make_switching_regression``'s y cut at its
   terciles into three classes) and on scikit-learn's breast cancer, wine,
   iris and digits (0 to 3, every fourth pixel) data sets, standardised.
4. Against flexmix on classification: K = 3 multinomial logit experts with a
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
    python benchmarks/bench_classifier.py --no-flexmix   # leave flexmix out (it takes minutes)
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
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import skmoe._base
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


class _NoExtrapolation:
    """The EM loop without its squared extrapolation (the path before ``skmoe._squarem``)."""

    class _Never:
        def restart(self):
            return None

        def step(self, *args):
            return None

    def __enter__(self):
        self.saved = skmoe._base.Squarem
        skmoe._base.Squarem = self._Never
        return self

    def __exit__(self, *exc):
        skmoe._base.Squarem = self.saved


class _Solved:
    """M-steps that solve the experts' and/or the gate's problem in every iteration."""

    def __init__(self, experts, gate):
        self.experts, self.gate = experts, gate

    def __enter__(self):
        self.saved = skmoe._experts.fit_by_newton, SoftmaxGate._fit_soft
        fit_by_newton, fit_soft = self.saved
        if self.experts:
            skmoe._experts.fit_by_newton = (
                lambda expert, data, weight, budget=None: fit_by_newton(expert, data, weight))
        if self.gate:
            SoftmaxGate._fit_soft = (
                lambda gate, X, targets, weight, budget=None: fit_soft(gate, X, targets, weight))
        return self

    def __exit__(self, *exc):
        skmoe._experts.fit_by_newton, SoftmaxGate._fit_soft = self.saved


class _Both:
    def __init__(self, *contexts):
        self.contexts = contexts

    def __enter__(self):
        for context in self.contexts:
            context.__enter__()
        return self

    def __exit__(self, *exc):
        for context in reversed(self.contexts):
            context.__exit__(*exc)


def _timed_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start


# ------------------------------------------------- classifier beside regressor
def _per_sample(model, X, y):
    """The per-sample log-likelihood, and the objective EM climbs: the penalised
    log-likelihood per sample, ``lower_bound_`` (classifier only)."""
    log_lik = model.log_likelihood(X, y) / X.shape[0]
    if not isinstance(model, MixtureOfExpertsClassifier):
        return log_lik, np.nan
    return log_lik, model.lower_bound_


def against_regressor(n_samples, with_own_fit, repeats):
    """Best of ``repeats`` fits of each model, interleaved (a burst of load hits all)."""
    X, y = make_gated_classification(n_samples=n_samples, n_features=10, n_experts=4,
                                     random_state=0)
    X_r, y_r = make_switching_regression(n_samples, 10, 4, random_state=0)
    candidates = {
        "regressor (ScaledRidge experts)": (MixtureOfExpertsRegressor, X_r, y_r, _Default),
        "classifier": (MixtureOfExpertsClassifier, X, y, _Default),
        "classifier without extrapolation": (MixtureOfExpertsClassifier, X, y,
                                             _NoExtrapolation),
    }
    if with_own_fit:
        candidates["classifier without extrapolation, LogisticRegression.fit per M-step"] = (
            MixtureOfExpertsClassifier, X, y, lambda: _Both(_NoExtrapolation(), _OwnFit()))
    best = {label: (np.inf, None) for label in candidates}
    for _ in range(repeats):
        for label, (model_class, X_c, y_c, context) in candidates.items():
            model = model_class(n_experts=4, random_state=0)
            with context():
                seconds = _timed_fit(model, X_c, y_c)
            if seconds < best[label][0]:
                best[label] = (seconds, model)
    base = best["regressor (ScaledRidge experts)"][0]
    reference = _per_sample(best["classifier without extrapolation"][1], X, y)[0]
    rows = []
    for label, (seconds, model) in best.items():
        is_classifier = isinstance(model, MixtureOfExpertsClassifier)
        log_lik = _per_sample(model, X, y)[0] if is_classifier else np.nan
        rows.append([label, n_samples, seconds, model.n_iter_, model.converged_,
                     seconds / base, log_lik, log_lik - reference])
    return rows


class _Default:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def regressor_table(rows):
    body = []
    for label, n, s, it, conv, ratio, log_lik, diff in rows:
        goal = ""
        if label == "classifier":
            goal = "met" if ratio <= GOAL_REGRESSOR and diff >= -GOAL_LOGLIK else "not met"
        body.append([label, f"{n:,}", f"{s:.2f}", it, str(conv), f"{ratio:.2f}x",
                     "" if np.isnan(log_lik) else f"{log_lik:.6f}",
                     "" if np.isnan(diff) else f"{diff:+.1e}", goal])
    return _markdown_table(
        ["model", "n", "seconds", "n_iter_", "converged", "/ regressor",
         "log-lik / n", "- without extrapolation", "goal (<= 3x, >= -1e-4)"], body)


# ------------------------------------------------------------ why 58 iterations
def iteration_causes(n_samples=20_000):
    """One fit of each variant of the default classifier's EM, in turn."""
    X, y, truth = make_gated_classification(n_samples=n_samples, n_features=10, n_experts=4,
                                            random_state=0, return_params=True)
    oracle = np.eye(4)[truth.regime]
    variants = [
        ("default (generalised-EM steps, extrapolation)", "auto", _Default),
        ("without extrapolation", "auto", _NoExtrapolation),
        ("without extrapolation, experts solved every M-step", "auto",
         lambda: _Both(_NoExtrapolation(), _Solved(True, False))),
        ("without extrapolation, gate solved every M-step", "auto",
         lambda: _Both(_NoExtrapolation(), _Solved(False, True))),
        ("without extrapolation, both solved every M-step", "auto",
         lambda: _Both(_NoExtrapolation(), _Solved(True, True))),
        ("extrapolation, both solved every M-step", "auto", lambda: _Solved(True, True)),
        ("oracle start (generating regimes), without extrapolation", oracle,
         _NoExtrapolation),
        ("oracle start (generating regimes), extrapolation", oracle, _Default),
    ]
    rows = []
    for label, init, context in variants:
        model = MixtureOfExpertsClassifier(n_experts=4, init=init, random_state=0)
        with context():
            seconds = _timed_fit(model, X, y)
        rows.append([label, seconds, model.n_iter_, model.converged_,
                     *_per_sample(model, X, y)])
    return rows


def causes_table(rows):
    reference = rows[1][4]
    return _markdown_table(
        ["EM variant (n = 20,000)", "seconds", "n_iter_", "converged", "log-lik / n",
         "- without extrapolation", "objective / n"],
        [[label, f"{s:.2f}", it, str(conv), f"{log_lik:.6f}", f"{log_lik - reference:+.1e}",
          f"{objective:.6f}"] for label, s, it, conv, log_lik, objective in rows])


# ------------------------------------------------- optima on other data
def _cases(quick):
    """(name, X, y, n_experts) of the comparison of optima."""
    seeds = (1,) if quick else (1, 2, 3, 4)
    for seed in seeds:
        for n, d, k in ((3_000, 2, 2), (5_000, 5, 3), (20_000, 10, 4)):
            yield (f"make_gated_classification({n:,}, {d}, {k}), seed {seed}",
                   *make_gated_classification(n, d, k, random_state=seed), k)
        X, y = make_switching_regression(5_000, 3, 3, random_state=seed)
        yield (f"make_switching_regression(5,000, 3, 3) terciles, seed {seed}", X,
               np.digitize(y, np.quantile(y, [1 / 3, 2 / 3])), 3)
    digits = load_digits()
    keep = digits.target < 4
    for name, (X, y) in {
        "breast cancer": load_breast_cancer(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "iris": load_iris(return_X_y=True),
        "digits 0-3, every 4th pixel": (digits.data[keep][:, ::4], digits.target[keep]),
    }.items():
        for k in (2, 3):
            yield name, StandardScaler().fit_transform(X), y, k


def optima(quick):
    rows = []
    for name, X, y, k in _cases(quick):
        fits = []
        for context in (_Default, _NoExtrapolation):
            model = MixtureOfExpertsClassifier(n_experts=k, random_state=0)
            with context():
                seconds = _timed_fit(model, X, y)
            fits.append((seconds, model.n_iter_, model.n_experts_,
                         model.log_likelihood(X, y) / X.shape[0]))
        rows.append([name, k, *fits[0], *fits[1]])
    return rows


def optima_table(rows):
    return _markdown_table(
        ["data", "K", "seconds", "n_iter_", "experts left", "log-lik / n",
         "seconds without", "n_iter_ without", "experts left without",
         "log-lik / n without", "difference"],
        [[name, k, f"{s:.2f}", it, left, f"{ll:.6f}", f"{s0:.2f}", it0, left0, f"{ll0:.6f}",
          f"{ll - ll0:+.1e}"] for name, k, s, it, left, ll, s0, it0, left0, ll0 in rows])


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
    parser.add_argument("--no-flexmix", action="store_true",
                        help="leave the comparison with flexmix out")
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
    cause_rows = iteration_causes()
    print(causes_table(cause_rows), flush=True)
    optima_rows = optima(args.quick)
    print(optima_table(optima_rows), flush=True)
    flexmix_rows = []
    if args.no_flexmix:
        print("The comparison with flexmix is left out (--no-flexmix).")
    elif shutil.which("Rscript") is None:
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
                    else "Not run: left out (`--no-flexmix`)." if args.no_flexmix
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
`make_switching_regression(n, 10, 4, random_state=0)`. "without extrapolation" is
the classifier's EM without the squared extrapolation of its iterations (the path
before it); "LogisticRegression.fit per M-step" also fits its experts by their own
`fit` in every M-step (the path before Newton's method), at n = 20,000 only.
Log-likelihoods per sample are `log_likelihood(X, y) / n`; the goal asks the
default classifier for no less than without extrapolation, to 1e-4.

{regressor_table(regressor_rows)}

## Why the classifier took 58 iterations

The default classifier at n = 20,000, one fit of each variant in turn. "solved
every M-step": the experts' (Newton) and/or the gate's solver run to tolerance in
every M-step instead of the generalised-EM step of one Newton step. "oracle start":
EM started from the regimes that generated the rows (one-hot), which real data do
not give. "objective / n": the objective that EM climbs, the penalised
log-likelihood per sample (`lower_bound_`: the gate's and the experts' L2
penalties subtracted).

{causes_table(cause_rows)}

## Optima with and without the extrapolation

The default classifier (`random_state=0`) with and without the extrapolation, one fit
each; the real data sets standardised. "difference": the per-sample log-likelihood
with less without it.

{optima_table(optima_rows)}

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
