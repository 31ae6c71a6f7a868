"""The mixture of experts on real data sets it was not designed for (issue 19).

Not a test: it cross-validates estimators on small real regression data sets,
prints tables and records them. Two questions:

1. **Is the default mixture safe?** ``MixtureOfExpertsRegressor(random_state=0)``
   (and in a ``Pipeline`` after ``StandardScaler``) against least squares, in
   repeated 5-fold cross-validation. Goals: its mean R^2 never below the linear
   model's by more than one fold-sd, its largest absolute error on any fold never
   more than 3x the linear model's, its mean held-out log-likelihood at least
   the linear model's. Beside it, the choices the default was made from: its
   noise variances in-sample instead of cross-fitted, the
   penalty of its ScaledRidge experts (alpha 1, 3, 10, 30), unpenalised
   ``LinearRegression`` experts with and without the rows-per-parameter rule
   (``min_rows_per_parameter=0`` is the mixture before issue 19), and the rule
   at 1 row per parameter.
2. **Does a mixture hold its own against the ensembles?** Every estimator of
   ``skmoe.compare.default_baselines`` on the same folds, with two candidate
   mixtures beside compare's two: the standardised linear mixture with K in
   {1, 2, 3} (and, in a second search, its experts' alpha in {3, 10, 30})
   chosen inside each training fold by 3-fold held-out
   log-likelihood (``GridSearchCV``), and two gradient-boosted experts
   (``GradientBoostingRegressor(n_estimators=50, max_depth=2)``), with their
   noise variances cross-fitted (the default) and in-sample. Goal: the
   best mixture family within one fold-sd of the best ensemble on R^2 and at
   least level on held-out log-likelihood.

The held-out log-likelihood of a model without a density of its own is
``compare``'s: a Gaussian around its predictions with the out-of-fold residual
variance of an inner 3-fold split (``residual_variance="cv"``).

The data: scikit-learn's bundled ``load_diabetes`` always; with ``Rscript``
(``--install`` puts R, MASS and flexmix on a Debian machine), R's data sets,
written once to ``benchmarks/data/`` (not committed): ``MASS::Boston`` (medv),
``mtcars`` (mpg), ``swiss`` (Fertility), ``airquality`` (Ozone, complete rows),
``stackloss``, ``faithful`` (eruptions on waiting), ``MASS::mcycle`` (accel on
times), ``MASS::cpus`` (perf on the six machine features) and ``flexmix::NPreg``
(yn on x and x^2). Without R only diabetes runs.

Usage::

    python benchmarks/bench_real_data.py --install   # apt-get install R, MASS, flexmix
    python benchmarks/bench_real_data.py             # full run, writes results/bench_real_data.md
    python benchmarks/bench_real_data.py --quick     # 2 repeats, section 1 only, prints only
    python benchmarks/bench_real_data.py --held-out  # both sections on HELD_OUT

``--held-out`` checks both sections' goals on eighteen more of R's data sets
(``HELD_OUT``, 30 to 1,000 rows), first run after the default was chosen
(section 1 with least squares and the default mixture only), and writes
``results/bench_real_data_held_out.md``.

The full run takes about half an hour on two cores, most of it the boosted
mixtures.
"""

import datetime
import shutil
import subprocess
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
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, RepeatedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor, ScaledRidge, SoftmaxGate
from skmoe.compare import compare, default_baselines, estimator_family
from skmoe.metrics import log_likelihood_scorer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_real_data.md"
RESULTS_HELD_OUT = HERE / "results" / "bench_real_data_held_out.md"
DATA = HERE / "data"

# name -> (R expression giving a data frame, target column, description)
R_DATASETS = {
    "Boston": ("MASS::Boston", "medv", "506 x 13, Boston house values"),
    "mtcars": ("mtcars", "mpg", "32 x 10, fuel consumption of 1974 cars"),
    "swiss": ("swiss", "Fertility", "47 x 5, Swiss provinces in 1888"),
    "airquality": ("na.omit(airquality)", "Ozone", "111 x 5, New York ozone, 1973"),
    "stackloss": ("stackloss", "stack.loss", "21 x 3, ammonia plant"),
    "faithful": ("faithful", "eruptions", "272 x 1, Old Faithful eruption lengths"),
    "mcycle": ("MASS::mcycle", "accel", "133 x 1, motorcycle crash head acceleration"),
    "cpus": ("MASS::cpus[, c('syct', 'mmin', 'mmax', 'cach', 'chmin', 'chmax', 'perf')]",
             "perf", "209 x 6, CPU performance (heavy-tailed target)"),
    "NPreg": ("transform(local({data(NPreg, package = 'flexmix'); NPreg}), x2 = x^2)"
              "[, c('x', 'x2', 'yn')]", "yn",
              "200 x 2, flexmix's two-regime example"),
}
# name -> (R expression of the data frame, target): base R's and MASS's data sets
# with numeric columns (factors coded as numbers), first run after the model
# was settled (bench_intervals.py's second table; both sections with --held-out).
HELD_OUT = {
    "cars": ("cars", "dist"),
    "trees": ("trees", "Volume"),
    "rock": ("rock", "perm"),
    "LifeCycleSavings": ("LifeCycleSavings", "sr"),
    "attitude": ("attitude", "rating"),
    "quakes": ("quakes", "mag"),
    "ChickWeight": ("transform(as.data.frame(ChickWeight), Diet = as.numeric(Diet))"
                    "[, c('Time', 'Diet', 'weight')]", "weight"),
    "CO2": ("with(CO2, data.frame(conc, quebec = as.numeric(Type == 'Quebec'), "
            "chilled = as.numeric(Treatment == 'chilled'), uptake))", "uptake"),
    "birthwt": ("MASS::birthwt[, c('age', 'lwt', 'race', 'smoke', 'ptl', 'ht', 'ui', 'ftv', "
                "'bwt')]", "bwt"),
    "hills": ("MASS::hills", "time"),
    "cats": ("MASS::cats[, c('Bwt', 'Hwt')]", "Hwt"),
    "whiteside": ("transform(MASS::whiteside, Insul = as.numeric(Insul == 'After'))", "Gas"),
    "Rubber": ("MASS::Rubber", "loss"),
    "Cars93": ("na.omit(MASS::Cars93[, c('EngineSize', 'Horsepower', 'RPM', 'Weight', "
               "'Length', 'Wheelbase', 'Width', 'Price')])", "Price"),
    "UScrime": ("MASS::UScrime", "y"),
    "Pima.tr": ("MASS::Pima.tr[, c('npreg', 'glu', 'bp', 'skin', 'age', 'ped', 'bmi')]", "bmi"),
    "geyser": ("MASS::geyser", "duration"),
    "mammals": ("MASS::mammals", "brain"),
}
GOAL_SD = 1.0
GOAL_ERROR_RATIO = 3.0


def install():
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "r-base-core", "r-cran-mass", "r-cran-flexmix"],
                   check=True)


def export_r_datasets(directory, datasets=R_DATASETS):
    """Write each R data set to ``directory/<name>.csv`` once; return the names written.

    ``datasets`` maps a name to a tuple whose first item is the R expression
    of the data frame."""
    missing = [name for name in datasets if not (directory / f"{name}.csv").exists()]
    if missing:
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f'write.csv({datasets[name][0]}, "{directory / name}.csv", row.names = FALSE)'
            for name in missing
        ]
        subprocess.run(["Rscript", "-e", "; ".join(lines)], check=True)
    return list(datasets)


def load_datasets(with_r):
    """name -> (X, y, description)."""
    X, y = load_diabetes(return_X_y=True)
    datasets = {"diabetes": (X, y, "442 x 10, scikit-learn's diabetes progression")}
    if with_r:
        for name in export_r_datasets(DATA):
            frame = pd.read_csv(DATA / f"{name}.csv")
            _, target, description = R_DATASETS[name]
            y = frame.pop(target).to_numpy(float)
            datasets[name] = (frame.to_numpy(float), y, description)
    return datasets


def load_held_out():
    """name -> (X, y) of ``HELD_OUT``, exported first when ``Rscript`` is found."""
    if shutil.which("Rscript") is not None:
        export_r_datasets(DATA, HELD_OUT)
    return exported({name: target for name, (_, target) in HELD_OUT.items()})


def exported(targets):
    """name -> (X, y) of the R data sets in ``DATA`` (those exported), given their targets."""
    datasets = {}
    for name, target in targets.items():
        path = DATA / f"{name}.csv"
        if path.exists():
            frame = pd.read_csv(path)
            y = frame.pop(target).to_numpy(float)
            datasets[name] = (frame.to_numpy(float), y)
    return datasets


def safety_estimators():
    """The default mixture, least squares, and the variants the default was chosen from."""
    def moe(experts=None, **params):
        return MixtureOfExpertsRegressor(experts, random_state=0, **params)

    return {
        "linear": LinearRegression(),
        "moe default": moe(),
        "moe default, standardised": make_pipeline(StandardScaler(), moe()),
        "moe in-sample noise": moe(noise_variance="in_sample"),
        "moe alpha=1": moe(ScaledRidge(alpha=1.0)),
        "moe alpha=3": moe(ScaledRidge(alpha=3.0)),
        "moe alpha=30": moe(ScaledRidge(alpha=30.0)),
        "moe rows/parameter=1": moe(min_rows_per_parameter=1.0),
        "moe OLS experts": moe(LinearRegression(tol=0.0)),
        "moe OLS experts, no rule": moe(LinearRegression(tol=0.0), min_rows_per_parameter=0.0),
        "moe gate C=0.3": moe(gate=SoftmaxGate(C=0.3)),
    }


def held_out_estimators():
    """Section 1's pair on the held-out data sets: least squares and the default mixture."""
    return {"linear": LinearRegression(),
            "moe default": MixtureOfExpertsRegressor(random_state=0)}


def candidate_mixtures():
    """Mixture families tried beside compare's two, to close the gap to the ensembles."""
    em = {"n_init": 1, "max_iter": 50, "tol": 1e-4, "random_state": 0}
    linear = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(**em))
    boosted = GradientBoostingRegressor(n_estimators=50, max_depth=2, random_state=0)
    return {
        "moe_linear, K by inner CV": GridSearchCV(
            linear, {"mixtureofexpertsregressor__n_experts": [1, 2, 3]},
            scoring=log_likelihood_scorer, cv=3),
        "moe_linear, K and alpha by inner CV": GridSearchCV(
            linear, {"mixtureofexpertsregressor__n_experts": [1, 2, 3],
                     "mixtureofexpertsregressor__experts": [
                         ScaledRidge(alpha=alpha) for alpha in (3.0, 10.0, 30.0)]},
            scoring=log_likelihood_scorer, cv=3),
        "moe_boosting": MixtureOfExpertsRegressor(boosted, n_experts=2, **em),
        "moe_boosting, in-sample noise": MixtureOfExpertsRegressor(
            boosted, n_experts=2, noise_variance="in_sample", **em),
    }


def run_compare(X, y, estimators, repeats, residual_variance):
    cv = RepeatedKFold(n_splits=5, n_repeats=repeats, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(X, y, estimators, cv=cv, scoring=["r2", "log_likelihood", "max_error"],
                       task="regression", residual_variance=residual_variance)


def compare_what_runs(name, X, y, estimators, repeats, failures):
    """``run_compare`` without the estimators that cannot fit this data set (recorded)."""
    estimators = dict(estimators)
    while True:
        try:
            return run_compare(X, y, estimators, repeats, "cv")
        except RuntimeError as exc:
            failed = str(exc).split("'")[1]
            failures.append(f"{name}: {failed} left out ({str(exc).split(': ', 1)[1]})")
            del estimators[failed]


def _fold_max(results, name):
    return float(np.max(results.attrs["fold_scores"][name]["max_error"]))


def safety_rows(name, results):
    linear = results.loc["linear"]
    rows = []
    for estimator in results.attrs["fold_scores"]:
        row = results.loc[estimator]
        worst = _fold_max(results, estimator)
        goals = (
            row["r2_mean"] >= linear["r2_mean"] - GOAL_SD * linear["r2_std"],
            worst <= GOAL_ERROR_RATIO * _fold_max(results, "linear"),
            row["log_likelihood_mean"] >= linear["log_likelihood_mean"],
        )
        rows.append([
            name, estimator, f"{row['r2_mean']:.3g} ± {row['r2_std']:.2g}", f"{worst:.3g}",
            f"{row['log_likelihood_mean']:.4g} ± {row['log_likelihood_std']:.2g}",
            f"{1000 * row['fit_time']:.0f}", "yes" if all(goals) else
            "no: " + ", ".join(g for g, ok in zip(("R²", "error", "log-lik."), goals) if not ok),
        ])
    return rows


def family_rows(name, results, member_rows):
    """Per family its best estimator on R^2 and on the log-likelihood; the goal's verdict.

    Every mixture's scores are appended to ``member_rows``.
    """
    families = results["family"]
    rows, best = [], {}
    for family in dict.fromkeys(families):
        members = results[families == family]
        r2_name = members["r2_mean"].idxmax()
        ll_name = members["log_likelihood_mean"].idxmax()
        best[family] = (members.loc[r2_name], members.loc[ll_name])
        rows.append([
            name, family, r2_name,
            f"{members.loc[r2_name, 'r2_mean']:.3g} ± {members.loc[r2_name, 'r2_std']:.2g}",
            ll_name, f"{members.loc[ll_name, 'log_likelihood_mean']:.4g}",
        ])
    mixtures = results[families == "mixture of experts"]
    for estimator in mixtures.index:
        member_rows.append([
            name, estimator,
            f"{mixtures.loc[estimator, 'r2_mean']:.3g} ± {mixtures.loc[estimator, 'r2_std']:.2g}",
            f"{mixtures.loc[estimator, 'log_likelihood_mean']:.4g} ± "
            f"{mixtures.loc[estimator, 'log_likelihood_std']:.2g}",
            f"{1000 * mixtures.loc[estimator, 'fit_time']:.0f}",
        ])
    ensembles = [f for f in best if f in ("bagging", "boosting", "stacking")]
    top_r2 = max((best[f][0] for f in ensembles), key=lambda r: r["r2_mean"])
    top_ll = max(best[f][1]["log_likelihood_mean"] for f in ensembles)
    mixture_r2, mixture_ll = best["mixture of experts"]
    r2_ok = mixture_r2["r2_mean"] >= top_r2["r2_mean"] - GOAL_SD * top_r2["r2_std"]
    ll_ok = mixture_ll["log_likelihood_mean"] >= top_ll
    verdict = "yes" if r2_ok and ll_ok else "no: " + ", ".join(
        g for g, ok in (("R²", r2_ok), ("log-lik.", ll_ok)) if not ok)
    return rows, verdict


HELD_OUT_NOTE = """
These data sets were first run after the default mixture was chosen on those of
`bench_real_data.md`: a check of its goals on data it was not chosen on (the R
expression that made each data frame is above; its target is `HELD_OUT`'s).
"""


def report(args, datasets, safety, families, verdicts, failures, members, load_before,
           load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data_rows = [[name, description] for name, (_, _, description) in datasets.items()]
    family_text = ""
    if families:
        verdict_rows = [[name, verdict] for name, verdict in verdicts.items()]
        family_text = f"""## 2. The mixtures against the ensembles

Every estimator of `skmoe.compare.default_baselines("regression")` on the same
folds; per family its best member on mean R² (± fold-sd) and on the mean
held-out log-likelihood.

{_markdown_table(["data", "family", "best on R²", "R²", "best on log-lik.", "log-lik."],
                 families)}

Goal: the best mixture within one fold-sd of the best ensemble (bagging,
boosting, stacking) on R², and at least level on log-likelihood:

{_markdown_table(["data", "goal met"], verdict_rows)}

Every mixture on every data set (R² and held-out log-likelihood, mean ± fold-sd; fit
time per fold in ms; one thread):

{_markdown_table(["data", "mixture", "R²", "log-lik.", "fit ms"], members)}

Left out where they cannot fit: {"; ".join(failures) if failures else "none"}.
"""
    title = "bench_real_data results" + (": held-out data sets" if args.held_out else "")
    return f"""# {title}

Recorded {date} by `python benchmarks/bench_real_data.py{" --quick" if args.quick else ""}{
    " --held-out" if args.held_out else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
Repeated 5-fold cross-validation, {args.repeats} repeats (`RepeatedKFold(random_state=0)`),
the same folds for every estimator of a data set, through `skmoe.compare.compare`.

{_markdown_table(["data", "rows x features, what"], data_rows)}
{HELD_OUT_NOTE if args.held_out else ""}
## 1. The default mixture against least squares

R² is the mean ± sd over the folds; "largest error" the largest absolute error on
any test fold; the log-likelihood the mean held-out `log p(y | x)` per row ± sd;
fit time the mean per fold (one thread). Goals (last column): R² at least the
linear model's minus one sd, largest error at most {GOAL_ERROR_RATIO:.0f}x the
linear model's, log-likelihood at least the linear model's.

{_markdown_table(["data", "estimator", "R²", "largest error", "log-lik.", "fit ms",
                  "goals met"], safety)}
{family_text}
{machine_section(machine_info(), blas_info())}"""


def parse_args(argv=None):
    parser = benchmark_parser(__doc__, RESULTS, "2 repeats, section 1 only; prints only")
    parser.add_argument("--install", action="store_true",
                        help="apt-get install r-base-core r-cran-mass r-cran-flexmix first")
    parser.add_argument("--held-out", action="store_true",
                        help="the data sets first run after the model was settled, section 1 "
                             "with least squares and the default mixture only; writes "
                             f"{RESULTS_HELD_OUT.name}")
    args = parser.parse_args(argv)
    args.repeats = 2 if args.quick else 3
    if args.output is None and not args.quick:
        args.output = RESULTS_HELD_OUT if args.held_out else RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.install:
        install()
    with_r = shutil.which("Rscript") is not None
    if not with_r and not args.held_out:
        print("Rscript not found: diabetes only (run with --install for R's data sets).")
    start = time.perf_counter()
    load_before = _load_average()
    if args.held_out:
        datasets = {name: (X, y, f"{X.shape[0]} x {X.shape[1]}, {HELD_OUT[name][0]}")
                    for name, (X, y) in load_held_out().items()}
        estimators = held_out_estimators
        if not datasets:
            print("Rscript not found and no held-out data set exported: nothing to run.")
            return 0
    else:
        datasets = load_datasets(with_r)
        estimators = safety_estimators
    safety, families, verdicts, failures, members = [], [], {}, [], []
    for name, (X, y, _) in datasets.items():
        results = run_compare(X, y, estimators(), args.repeats, "train")
        rows = safety_rows(name, results)
        safety += rows
        print(_markdown_table(["data", "estimator", "R²", "largest error", "log-lik.",
                               "fit ms", "goals met"], rows), flush=True)
        if args.quick:
            continue
        baselines = {**default_baselines("regression", random_state=0), **candidate_mixtures()}
        results = compare_what_runs(name, X, y, baselines, args.repeats, failures)
        results["family"] = [estimator_family(baselines[n]) for n in results.index]
        rows, verdicts[name] = family_rows(name, results, members)
        families += rows
        print(_markdown_table(["data", "family", "best on R²", "R²", "best on log-lik.",
                               "log-lik."], rows), f"\ngoal met: {verdicts[name]}", flush=True)
    elapsed = time.perf_counter() - start
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report(args, datasets, safety, families, verdicts, failures,
                                      members, load_before, _load_average(), elapsed))
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
