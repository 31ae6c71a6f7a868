"""flexmix's own examples: skmoe against R's flexmix on the data sets flexmix ships.

Not a test. For each data set of flexmix (but NPreg, patent and betablocker, which
``bench_flexmix*.py`` already cover, and the multivariate Nclus and whiskey), the
mixture its help page or vignette fits, in the form skmoe expresses (varying
coefficients, ``FLXMRglm``; the examples' ``FLXMRglmfix`` with coefficients shared
across components have no skmoe translation, see ``docs/flexmix.rst``):

* Poisson (``FLXMRglm(family = "poisson")``, ``PoissonRegressor(alpha=0)`` experts):
  ``seizure`` (``Seizures ~ Treatment * log(Day)``, ``offset = log(Hours)``: the offset
  expert of ``docs/flexmix.rst``), ``bioChemists`` (``art ~ .``), ``dmft`` (``End ~
  log(Begin + 0.5) + Gender + Ethnic + Treatment``, the vignette's covariates without
  its zero inflation), ``fabricfault`` (``Faults ~ log(Length)``), ``salmonellaTA98``
  (``y ~ x + log(x + 10)``), ``candy`` (``Packages ~ 1`` with frequency ``weights =
  Freq``).
* Binomial (``cbind(s, n - s)``, the classifier on two weighted rows per observation,
  grouped by observation or by ``| group``): ``tribolium`` (``~ Species``),
  ``trypanosome`` (``~ log(Dose)``, Bernoulli rows), ``Mehta`` (``~ Drug | Site``),
  ``BregFix`` (``~ x`` with ``concomitant = FLXPmultinom(~ w)``).
* Gaussian: ``NregFix`` (``y ~ x2 + x1``, ``FLXPmultinom(~ w)``).

Each side is the best of ``N_STARTS`` starts (flexmix: ``stepFlexmix(..., nrep =
N_STARTS)`` after ``set.seed(1)``, run by ``benchmarks/flexmix_examples.R``; skmoe: one
``fit`` with ``n_init=N_STARTS``), ``minprior`` = ``min_expert_weight`` (0.05, or the
vignette's value), at most 1000 iterations, the same stopping rule (flexmix's tolerance
1e-8 on the relative change of the log-likelihood; skmoe's ``tol`` that change per unit
of sample weight at flexmix's log-likelihood), no rows-per-parameter rule (flexmix has
none), unpenalised experts (Poisson ones by ``solver="newton-cholesky"``) and gate. Recorded:
both log-likelihoods on flexmix's scale (binomial: skmoe's plus the log binomial
coefficients), both parameter counts (flexmix's ``attr(logLik(fit), "df")``, skmoe's
BIC count), the largest difference of the posteriors and of the coefficients up to
label switching, the largest relative difference of the standard errors against
``summary(refit(fit))`` where skmoe computes them (Gaussian linear experts), and the
ratio of flexmix's seconds to skmoe's (skmoe's after a warm-up fit). Then
``select_n_experts`` against ``stepFlexmix`` on bioChemists (k = 1:3, the vignette's
choice of K by BIC) and Mehta (k = 1:4, grouped). The data are exported by R to
``benchmarks/data/`` (not committed). Where ``Rscript`` (or flexmix) is missing, nothing is run.

Usage::

    python benchmarks/bench_flexmix_examples.py          # results/bench_flexmix_examples.md
    python benchmarks/bench_flexmix_examples.py --quick  # 3 starts, not written
"""

import argparse
import datetime
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from bench_estep import _markdown_table, blas_info, machine_info, machine_section
from bench_flexmix_grouped import timed_fit
from scipy.special import gammaln
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, SoftmaxGate
from skmoe.inspection import posterior, select_n_experts, standard_errors

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_flexmix_examples.md"
R_SCRIPT = HERE / "flexmix_examples.R"
DATA = HERE / "data" / "flexmix_examples"
N_STARTS = 10
MAX_ITER = 1000
FLEXMIX_TOLERANCE = 1e-8
SKMOE_TOL = 1e-10  # replaced by flexmix's stopping rule once its fit is known

# name: (K, family, minprior)
CASES = {
    "seizure": (2, "poisson", 0.05),
    "bioChemists": (2, "poisson", 0.05),
    "dmft": (2, "poisson", 0.01),
    "fabricfault": (2, "poisson", 0.05),
    "salmonellaTA98": (2, "poisson", 0.05),
    "candy": (2, "poisson", 0.05),
    "tribolium": (2, "binomial", 0.05),
    "trypanosome": (2, "binomial", 0.05),
    "Mehta": (3, "binomial", 0.04),
    "BregFix": (3, "binomial", 0.05),
    "NregFix": (3, "gaussian", 0.05),
}


class OffsetPoissonRegressor(PoissonRegressor):
    """A Poisson GLM whose last column of X is an offset (its coefficient fixed at 1).

    The translation of ``FLXMRglm(family = "poisson", offset = log(t))`` in
    ``docs/flexmix.rst``: the rate ``y / t`` with sample weight ``t`` has the
    score equations of the count ``y`` with offset ``log(t)``, and ``predict``
    returns the mean count ``t * exp(x b)``, on which the Poisson family scores ``y``.
    """

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=float)
        exposure = np.exp(X[:, -1])
        weight = exposure if sample_weight is None else np.asarray(sample_weight) * exposure
        return super().fit(X[:, :-1], np.asarray(y) / exposure, sample_weight=weight)

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return np.exp(X[:, -1]) * super().predict(X[:, :-1])


def export_data():
    """Write flexmix's data sets (designs coded by R) to ``DATA``; False without R."""
    if shutil.which("Rscript") is None:
        return False
    if all((DATA / f"{name}.csv").exists() for name in CASES):
        return True
    DATA.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(["Rscript", str(R_SCRIPT), "export", str(DATA)],
                               capture_output=True, text=True)
    return completed.returncode == 0


def run_r(mode, name, k, n_starts, minprior):
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "out.json"
        completed = subprocess.run(
            ["Rscript", str(R_SCRIPT), mode, name, str(k), str(n_starts), str(MAX_ITER),
             str(minprior), str(FLEXMIX_TOLERANCE), "1", str(out)],
            capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"{name}: {completed.stderr.strip()[-500:]}")
        result = json.loads(out.read_text())
        posterior_csv = Path(str(out) + ".posterior.csv")
        if posterior_csv.exists():
            result["posterior"] = pd.read_csv(posterior_csv).to_numpy()
    return result


def problem(name, family):
    """X, y, sample_weight, groups, gate_features, the constant between the two
    log-likelihoods (flexmix's less skmoe's), and the rows of one observation each."""
    frame = pd.read_csv(DATA / f"{name}.csv")
    experts = [c for c in frame.columns if c.startswith("x_")]
    gates = [c for c in frame.columns if c.startswith("g_")]
    X = frame[experts + gates].to_numpy(float)
    if X.shape[1] == 0:  # intercept only: one column of zeros, which adds no parameter
        X = np.zeros((len(frame), 1))
    gate_features = [len(experts) + j for j in range(len(gates))]
    if "exposure" in frame:  # the offset column, last (OffsetPoissonRegressor)
        X = np.column_stack([X, np.log(frame["exposure"].to_numpy(float))])
    weight = frame["weight"].to_numpy(float) if "weight" in frame else None
    if family != "binomial":
        return X, frame["y"].to_numpy(float), weight, None, gate_features, 0.0, None
    s, n = frame["successes"].to_numpy(float), frame["trials"].to_numpy(float)
    observation = np.arange(len(frame))
    group = frame["group"].to_numpy() if "group" in frame else observation
    rows = np.concatenate([observation, observation])
    y = np.repeat([1, 0], len(frame))
    weight = np.concatenate([s, n - s])
    keep = weight > 0  # Bernoulli rows: the row of weight 0 adds nothing
    constant = float(np.sum(gammaln(n + 1) - gammaln(s + 1) - gammaln(n - s + 1)))
    first = np.zeros(keep.sum(), dtype=bool)
    first[np.unique(rows[keep], return_index=True)[1]] = True
    return (np.concatenate([X, X])[keep], y[keep], weight[keep],
            np.concatenate([group, group])[keep], gate_features, constant,
            (rows[keep], first))


def make_model(name, family, k, minprior, n_starts):
    common = dict(n_experts=k, n_init=n_starts, random_state=0, min_expert_weight=minprior,
                  min_rows_per_parameter=0.0, tol=SKMOE_TOL, max_iter=MAX_ITER,
                  gate=SoftmaxGate(C=1e8))
    if family == "binomial":
        return MixtureOfExpertsClassifier(LogisticRegression(C=1e8, tol=1e-10, max_iter=1000),
                                          label_noise="none", **common)
    if family == "gaussian":
        return MixtureOfExpertsRegressor(LinearRegression(), **common)
    expert = OffsetPoissonRegressor if name == "seizure" else PoissonRegressor
    return MixtureOfExpertsRegressor(
        expert(alpha=0.0, solver="newton-cholesky", tol=1e-10, max_iter=1000), **common)


def coefficients(model):
    rows = []
    for expert in model.experts_:
        intercept = np.ravel(expert.intercept_)[-1:]
        rows.append(np.concatenate([intercept, np.ravel(expert.coef_)]))
    return rows


def best_permutation(ours, theirs):
    k = theirs.shape[1]
    if ours.shape[1] != k:
        return None, np.nan
    scores = {p: np.abs(ours[:, list(p)] - theirs).max() for p in itertools.permutations(range(k))}
    best = min(scores, key=scores.get)
    return best, float(scores[best])


def compare_case(name, n_starts):
    k, family, minprior = CASES[name]
    X, y, weight, groups, gate_features, constant, rows = problem(name, family)
    model = make_model(name, family, k, minprior, n_starts)
    if gate_features:  # the experts see the other columns, as in flexmix's formula
        model.set_params(gate_features=gate_features, expert_features=[
            j for j in range(X.shape[1]) if j not in gate_features])
    else:
        model.set_params(gate_features=[], gate=None)
    theirs = run_r("fit", name, k, n_starts, minprior)
    # flexmix's stopping rule: the log-likelihood's change below its tolerance times
    # its value; skmoe's tol is that change per unit of weight.
    total_weight = float(np.sum(weight)) if weight is not None else len(y)
    model.set_params(tol=FLEXMIX_TOLERANCE * abs(theirs["loglik"]) / total_weight)
    seconds = timed_fit(model, X, y, weight, groups, n_starts)
    loglik = model.log_likelihood(X, y, sample_weight=weight, groups=groups) + constant
    resp = posterior(model, X, y, sample_weight=weight, groups=groups)
    if rows is not None:  # one row per observation, in flexmix's order
        resp = resp[rows[1]][np.argsort(rows[0][rows[1]])]
    permutation, posterior_diff = best_permutation(resp, theirs["posterior"])
    coef_diff = np.nan
    if permutation is not None:
        n_coef = len(theirs["parameter_names"]) or 1
        flex = np.reshape(theirs["parameters"], (k, n_coef))
        if family == "gaussian":  # flexmix's last row is sigma
            flex = flex[:, :-1]
        ours = coefficients(model)
        coef_diff = max(float(np.max(np.abs(ours[j][:flex.shape[1]] - flex[i])))
                        for i, j in enumerate(permutation))
    se_diff = "not computed"
    if family == "gaussian" and permutation is not None and theirs["refit"]:
        table = standard_errors(model, X, y)
        flex_se = np.array([row["std_error"] for row in theirs["refit"]
                            if not row["component"].startswith("gate")])
        ours_se = np.concatenate([table.loc[f"expert {j}", "std_error"].to_numpy()
                                  for j in permutation])
        # flexmix: intercept, coefficients, sigma; skmoe: ..., log(sigma) (its se is
        # se(sigma) / sigma), so compare the coefficients' standard errors.
        n_coef = len(theirs["parameter_names"]) - 1
        flex_se = flex_se.reshape(k, -1)[:, :n_coef]
        ours_se = ours_se.reshape(k, -1)[:, :n_coef]
        se_diff = f"{float(np.max(np.abs(ours_se / flex_se - 1))):.1e}"
    return {"data set": name, "family": family, "K": k,
            "flexmix logLik": theirs["loglik"], "flexmix df": theirs["df"],
            "flexmix K": theirs["k"],
            "skmoe logLik": loglik, "skmoe df": model._n_parameters(),
            "skmoe K": model.n_experts_,
            "skmoe - flexmix": loglik - theirs["loglik"],
            "posterior diff": posterior_diff, "coef diff": coef_diff, "se rel diff": se_diff,
            "flexmix s": theirs["seconds"], "skmoe s": seconds,
            "flexmix / skmoe": theirs["seconds"] / seconds,
            "flexmix refit": "ok" if theirs["refit_error"] is None else theirs["refit_error"],
            "version": theirs["flexmix_version"]}


def compare_selection(name, max_k, n_starts):
    _, family, minprior = CASES[name]
    X, y, weight, groups, gate_features, constant, _ = problem(name, family)
    model = make_model(name, family, 1, minprior, n_starts).set_params(
        gate_features=[], gate=None)
    theirs = run_r("select", name, max_k, n_starts, minprior)
    total_weight = float(np.sum(weight)) if weight is not None else len(y)
    model.set_params(tol=FLEXMIX_TOLERANCE * max(abs(fit["loglik"]) for fit in theirs["fits"])
                     / total_weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        tic = time.perf_counter()
        table, best = select_n_experts(model, X, y, n_experts=range(1, max_k + 1),
                                       sample_weight=weight, groups=groups)
        seconds = time.perf_counter() - tic
    table = table.set_index("n_experts")
    rows = []
    for fit in theirs["fits"]:
        ours = table.loc[fit["k"]] if fit["k"] in table.index else None
        rows.append({"data set": name, "K": fit["k"], "flexmix logLik": fit["loglik"],
                     "flexmix df": fit["df"], "flexmix BIC": fit["bic"],
                     "skmoe logLik": (ours["log_likelihood"] + constant if ours is not None
                                      else np.nan),
                     "skmoe df": ours["n_parameters"] if ours is not None else np.nan,
                     "skmoe BIC": ours["bic"] if ours is not None else np.nan,
                     # skmoe's fit on flexmix's scale and n (rows, not groups)
                     "skmoe BIC at flexmix's n": (
                         -2 * (ours["log_likelihood"] + constant)
                         + ours["n_parameters"] * np.log(fit["nobs"])
                         if ours is not None else np.nan)})
    summary = {"flexmix K by BIC": theirs["best_k"], "skmoe K by BIC": best.n_experts,
               "flexmix s": theirs["seconds"], "skmoe s": seconds,
               "flexmix / skmoe": theirs["seconds"] / seconds}
    return rows, summary


def _cell(value):
    if isinstance(value, float):
        return f"{value:+.1e}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}"
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 starts, results not written")
    args = parser.parse_args()
    n_starts = 3 if args.quick else N_STARTS
    if not export_data():
        print("Rscript or flexmix missing: nothing run")
        return
    rows = []
    for name in CASES:
        rows.append(compare_case(name, n_starts))
        print(rows[-1], flush=True)
    selection, summaries = [], []
    for name, max_k in (("bioChemists", 3), ("Mehta", 4)):
        rows_k, summary = compare_selection(name, max_k, n_starts)
        selection += rows_k
        summaries.append(f"{name}: " + ", ".join(f"{key}: {_cell(value)}"
                                                for key, value in summary.items()))
        print(rows_k, summary, flush=True)
    header = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(key, "")) for key in header] for row in rows]
    sel_header = list(selection[0])
    sel_cells = [[_cell(row[key]) for key in sel_header] for row in selection]
    text = (
        "# flexmix's own examples: skmoe against flexmix\n\n"
        f"Written by `benchmarks/bench_flexmix_examples.py` on "
        f"{datetime.date.today().isoformat()}; best of {n_starts} starts each side. "
        "Log-likelihoods on flexmix's scale (higher is better), df the parameters each "
        "counts for BIC, posterior and coefficient differences the largest absolute ones "
        "up to label switching, se the largest relative difference of the coefficients' "
        "standard errors against `summary(refit(fit))`, seconds for all the starts.\n\n"
        + _markdown_table(header, cells)
        + "\n\n## Choosing K: `stepFlexmix(k = 1:K)` and `select_n_experts`\n\n"
        "flexmix's BIC takes n to be the rows of its data (Mehta: 44 arms), skmoe's the "
        "groups (22 sites); the last column puts skmoe's fit on flexmix's scale and n.\n\n"
        + _markdown_table(sel_header, sel_cells) + "\n\n"
        + "\n\n".join(summaries) + "\n\n"
        + machine_section(machine_info(), blas_info()))
    print(text)
    if not args.quick:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
