"""Grouped mixtures: skmoe's best of 20 starts against R's flexmix on flexmix's own examples.

Not a test. Two models with flexmix's default constant concomitant model (mixing
proportions only: skmoe's ``gate_features=[]``), every row of a group in one component:

* ``betablocker`` (flexmix's data set: 22 centres, a control and a treated arm each):
  ``flexmix(cbind(Deaths, Total - Deaths) ~ Treatment | Center, k = K,
  model = FLXMRglm(family = "binomial"))`` for K = 2 and 3. skmoe fits the same
  binomial mixture as a classifier on two weighted rows per arm (deaths with label 1
  and weight ``Deaths``, survivors with label 0 and weight ``Total - Deaths``),
  ``groups=Center``, with ``LogisticRegression(C=1e8, tol=1e-10)`` experts on the
  Treatment column. Its log-likelihood is flexmix's less the log binomial
  coefficients (the "Bernoulli rows" scale); both are reported.
* a grouped Gaussian case on generated data (``make_grouped_gaussian``: 150 groups of 6
  rows, three regression lines): ``flexmix(y ~ x | group, k = 3, model = FLXMRglm())``
  against ``MixtureOfExpertsRegressor(LinearRegression(), n_experts=3,
  gate_features=[])`` with ``groups=group``.

Each side: 20 starts (flexmix: 20 calls, each from its own random start after
``set.seed(seed)``, seeds 1..20, run by ``benchmarks/flexmix_grouped.R``; skmoe: one
call with ``n_init=20, random_state=0``, the user's "best of 20"), ``minprior`` =
``min_expert_weight`` = 0.05, at most 1000 iterations, flexmix's tolerance 1e-8 (on
the relative change of the log-likelihood) and skmoe's ``tol=1e-12`` (on its change per
unit of sample weight). Log-likelihoods
are totals (flexmix's ``logLik``, skmoe's ``log_likelihood(X, y, sample_weight,
groups)``), higher is better. flexmix's time is the sum of its 20 calls; skmoe's the
time of its one ``fit`` after a warm-up fit (compilation). Where ``Rscript`` (or
flexmix) is missing, the flexmix columns are reported as not run.

Usage::

    python benchmarks/bench_flexmix_grouped.py          # writes results/bench_flexmix_grouped.md
    python benchmarks/bench_flexmix_grouped.py --quick  # 5 starts, not written
"""

import argparse
import datetime
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from bench_estep import _markdown_table
from scipy.special import gammaln
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_flexmix_grouped.md"
R_SCRIPT = HERE / "flexmix_grouped.R"
MAX_ITER = 1000
MIN_WEIGHT = 0.05
TOLERANCE = 1e-8
# skmoe's tol is the change of the log-likelihood per unit of sample weight: the binomial
# rows weigh about 20,000 (the patients), so 1e-12 stops within about 2e-8 nats in total.
SKMOE_TOL = 1e-12


def make_grouped_gaussian(n_groups=150, rows=6, seed=0):
    """Three regression lines; every row of a group on its group's line."""
    rng = np.random.RandomState(seed)
    group = np.repeat(np.arange(n_groups), rows)
    component = rng.choice(3, size=n_groups, p=[0.5, 0.3, 0.2])[group]
    x = rng.uniform(0, 10, group.shape[0])
    intercept, slope, sigma = (np.array([0.0, 5.0, 2.0]), np.array([1.0, -0.5, 0.2]),
                               np.array([1.0, 1.5, 0.7]))
    y = intercept[component] + slope[component] * x + sigma[component] * rng.normal(
        size=x.shape[0])
    return pd.DataFrame({"x": x, "y": y, "group": group})


def _r(mode, data_csv, k, n_starts, out):
    return subprocess.run(
        ["Rscript", str(R_SCRIPT), mode, str(data_csv), str(k), str(n_starts), str(MAX_ITER),
         str(MIN_WEIGHT), str(TOLERANCE), str(out)], capture_output=True, text=True)


def betablocker():
    """flexmix's betablocker data (exported by R), or None without R and flexmix."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "betablocker.csv"
        completed = subprocess.run(["Rscript", str(R_SCRIPT), "export-betablocker", str(path)],
                                   capture_output=True, text=True)
        if completed.returncode != 0:
            return None
        return pd.read_csv(path)


def binomial_rows(frame):
    """Two weighted rows per arm: deaths (label 1) and survivors (label 0)."""
    X = np.concatenate([frame[["Treatment"]].to_numpy(float)] * 2)
    y = np.repeat([1, 0], len(frame))
    weight = np.concatenate([frame["Deaths"], frame["Total"] - frame["Deaths"]]).astype(float)
    groups = np.tile(frame["Center"].to_numpy(), 2)
    return X, y, weight, groups


def log_binomial_coefficients(frame):
    n, s = frame["Total"].to_numpy(float), frame["Deaths"].to_numpy(float)
    return float(np.sum(gammaln(n + 1) - gammaln(s + 1) - gammaln(n - s + 1)))


def timed_fit(model, X, y, weight, groups, n_starts):
    """Fit ``model`` with ``n_starts`` starts after a short warm-up fit; its seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # experts removed below minprior
        model.set_params(n_init=1, max_iter=5).fit(X, y, sample_weight=weight, groups=groups)
        model.set_params(n_init=n_starts, max_iter=MAX_ITER)
        tic = time.perf_counter()
        model.fit(X, y, sample_weight=weight, groups=groups)
        return time.perf_counter() - tic


def run_skmoe(model, X, y, weight, groups, n_starts):
    seconds = timed_fit(model, X, y, weight, groups, n_starts)
    total_weight = float(np.sum(weight)) if weight is not None else len(y)
    penalty = model._penalty_
    starts = np.array([history[-1] * total_weight + penalty
                       for history in model.init_lower_bounds_])
    return {"loglik": model.log_likelihood(X, y, sample_weight=weight, groups=groups),
            "seconds": seconds, "experts": model.n_experts_,
            "starts_at_best": int(np.sum(starts.max() - starts <= 0.01))}


def run_flexmix(mode, frame, k, n_starts):
    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory) / "data.csv"
        out = Path(directory) / "out.json"
        frame.to_csv(data, index=False, float_format="%.17g")
        completed = _r(mode, data, k, n_starts, out)
        if completed.returncode != 0:
            return None, completed.stderr.strip().splitlines()[-1:]
        result = json.loads(out.read_text())
    fits = [fit for fit in result["fits"] if fit["loglik"] is not None]
    logliks = np.array([fit["loglik"] for fit in fits])
    best = int(np.argmax(logliks))
    return {"loglik": float(logliks[best]),
            "seconds": float(sum(fit["seconds"] for fit in result["fits"])),
            "experts": fits[best]["k"],
            "starts_at_best": int(np.sum(logliks.max() - logliks <= 0.01)),
            "failed": len(result["fits"]) - len(fits),
            "constant": result["log_binomial_coefficients"],
            "version": result["flexmix_version"]}, None


def _cell(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _row(case, k, ours, theirs, note, constant=0.0):
    row = {"model": case, "K": k, "skmoe best": ours["loglik"],
           "skmoe experts": ours["experts"], "skmoe starts at best": ours["starts_at_best"],
           "skmoe s": ours["seconds"]}
    if theirs is None:
        row.update({"flexmix best": np.nan, "note": str(note)})
        return row
    # flexmix's binomial log-likelihood on the Bernoulli-rows scale.
    theirs_rows = theirs["loglik"] - constant
    row.update({"flexmix best": theirs_rows, "flexmix experts": theirs["experts"],
                "flexmix starts at best": theirs["starts_at_best"],
                "flexmix s": theirs["seconds"], "skmoe - flexmix": ours["loglik"] - theirs_rows,
                "flexmix logLik": theirs["loglik"], "flexmix failed starts": theirs["failed"],
                "flexmix version": theirs["version"]})
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 starts, results not written")
    args = parser.parse_args()
    n_starts = 5 if args.quick else 20
    rows = []
    frame = betablocker()
    if frame is None:
        print("betablocker: Rscript or flexmix missing, not run")
    else:
        X, y, weight, groups = binomial_rows(frame)
        constant = log_binomial_coefficients(frame)
        for k in (2, 3):
            model = MixtureOfExpertsClassifier(
                LogisticRegression(C=1e8, tol=1e-10), n_experts=k, gate_features=[],
                min_expert_weight=MIN_WEIGHT, min_rows_per_parameter=0.0, tol=SKMOE_TOL,
                random_state=0)
            ours = run_skmoe(model, X, y, weight, groups, n_starts)
            theirs, note = run_flexmix("betablocker", frame, k, n_starts)
            if theirs is not None:
                assert abs(theirs["constant"] - constant) < 1e-6 * abs(constant)
            rows.append(_row("betablocker (binomial)", k, ours, theirs, note, constant))
            print(rows[-1], flush=True)
    data = make_grouped_gaussian()
    X, y, groups = data[["x"]].to_numpy(), data["y"].to_numpy(), data["group"].to_numpy()
    model = MixtureOfExpertsRegressor(
        LinearRegression(), n_experts=3, gate_features=[], min_expert_weight=MIN_WEIGHT,
        min_rows_per_parameter=0.0, tol=SKMOE_TOL, random_state=0)
    ours = run_skmoe(model, X, y, None, groups, n_starts)
    theirs, note = run_flexmix("gaussian", data, 3, n_starts)
    rows.append(_row("grouped Gaussian (150 x 6 rows)", 3, ours, theirs, note))
    print(rows[-1], flush=True)
    header = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[f"{row[key]:+.1e}" if key == "skmoe - flexmix" and key in row
              else _cell(row.get(key, "")) for key in header] for row in rows]
    text = (f"# Grouped mixtures: skmoe against flexmix\n\n"
            f"Written by `benchmarks/bench_flexmix_grouped.py` on "
            f"{datetime.date.today().isoformat()}; {n_starts} starts each, total "
            "log-likelihoods (higher is better; the binomial ones on the Bernoulli-rows "
            "scale, flexmix's logLik less the log binomial coefficients, which is in the "
            "`flexmix logLik` column as flexmix reports it), seconds for all the starts.\n\n"
            + _markdown_table(header, cells) + "\n")
    print(text)
    if not args.quick:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
