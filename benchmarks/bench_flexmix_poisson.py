"""A Poisson mixture of experts: skmoe's best of 20 starts against R's flexmix.

Not a test. The model is a mixture of K Poisson regressions (log link) with a softmax
gate on the same columns (flexmix's concomitant variables), on generated data with
known parameters:

* flexmix (R): ``flexmix(y ~ ., k = K, model = FLXMRglm(family = "poisson"),
  concomitant = FLXPmultinom(~ <columns>), control = list(iter.max = 1000,
  minprior = 0.05, tolerance = 1e-8))``, 20 fits, each from flexmix's own random
  start after ``set.seed(seed)``, seeds 1..20; run by ``benchmarks/flexmix_poisson.R``;
* skmoe: ``MixtureOfExpertsRegressor(PoissonRegressor(alpha=0, solver="newton-cholesky",
  tol=1e-10), n_experts=K, gate=SoftmaxGate(C=1e6), n_init=20, min_expert_weight=0.05,
  min_rows_per_parameter=0, tol=1e-8, max_iter=1000, random_state=0)``: one call, the
  user's "best of 20".

Like with like: the same data, the same unpenalised Poisson GLM experts (skmoe's
``alpha=0``), a negligible gate penalty (``C=1e6``; flexmix's multinomial gate is
unpenalised), the same removal rule (``minprior`` = ``min_expert_weight`` = 0.05).
Also flexmix's own ``patent`` data (70 pharmaceutical companies; Wang, Cockburn &
Puterman 1998), with the model of flexmix's documentation: ``Patents ~ lgRD`` with
the gate on ``RDS``, K = 3; written once to ``benchmarks/data/patent.csv`` with R
(not committed). Log-likelihoods are totals: flexmix's ``logLik(fit)``, skmoe's
``score_samples(X, y).sum()``; also the true model's. flexmix's time is the sum of
its 20 calls to ``flexmix()`` in R; skmoe's the time of its one ``fit`` call after a
warm-up fit (compilation). Where ``Rscript`` (or flexmix) is missing, the flexmix
column is reported as not run.

Usage::

    python benchmarks/bench_flexmix_poisson.py          # writes results/bench_flexmix_poisson.md
    python benchmarks/bench_flexmix_poisson.py --quick  # 5 starts, not written
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
from bench_estep import _load_average, _markdown_table, blas_info, machine_info, machine_section
from scipy.special import logsumexp
from scipy.stats import poisson
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_flexmix_poisson.md"
R_SCRIPT = HERE / "flexmix_poisson.R"
DATA = HERE / "data"
MAX_ITER = 1000
MIN_WEIGHT = 0.05
FLEXMIX_TOLERANCE = 1e-8


def make_poisson_moe(n_samples, seed=0):
    """Three Poisson regimes on two features, chosen by a softmax gate on them."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n_samples, 2))
    gate_coef = np.array([[3.0, 0.0], [-1.5, 2.5], [-1.5, -2.5]])
    scores = X @ gate_coef.T
    gate = np.exp(scores - logsumexp(scores, axis=1, keepdims=True))
    coef = np.array([[1.0, -0.5], [-0.8, 0.6], [0.3, 1.2]])
    intercept = np.array([1.0, 2.0, 0.5])
    regime = (rng.uniform(size=(n_samples, 1)) > np.cumsum(gate, axis=1)).sum(axis=1)
    mean = np.exp(np.einsum("ij,ij->i", X, coef[regime]) + intercept[regime])
    y = rng.poisson(mean).astype(float)
    truth = logsumexp(np.log(gate) + poisson.logpmf(y[:, None], np.exp(X @ coef.T + intercept)),
                      axis=1).sum()
    return X, y, truth


def load_patent():
    """flexmix's patent data as (X with columns lgRD and RDS, Patents), or None without R."""
    path = DATA / "patent.csv"
    if not path.exists():
        if shutil.which("Rscript") is None:
            return None
        DATA.mkdir(parents=True, exist_ok=True)
        completed = subprocess.run(
            ["Rscript", "-e", f'data("patent", package = "flexmix"); '
                              f'write.csv(patent, "{path}", row.names = FALSE)'],
            capture_output=True, text=True)
        if completed.returncode != 0:
            return None
    frame = pd.read_csv(path)
    return frame[["lgRD", "RDS"]], frame["Patents"].to_numpy(float)


def run_skmoe(X, y, n_starts, expert_features=None, gate_features=None):
    model = MixtureOfExpertsRegressor(
        PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10), n_experts=3,
        gate=SoftmaxGate(C=1e6), n_init=n_starts, min_expert_weight=MIN_WEIGHT,
        min_rows_per_parameter=0.0, tol=1e-8, max_iter=MAX_ITER, random_state=0,
        expert_features=expert_features, gate_features=gate_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(n_init=1, max_iter=5).fit(X, y)  # compilation
        model.set_params(n_init=n_starts, max_iter=MAX_ITER)
        tic = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - tic
    starts = [history[-1] * len(y) for history in model.init_lower_bounds_]
    return {"loglik": float(model.score_samples(X, y).sum()), "seconds": seconds,
            "experts": model.n_experts_, "iterations": model.n_iter_,
            "starts_within_0.01": int(np.sum(np.max(starts) - np.array(starts) <= 0.01))}


def run_flexmix(frame, y, n_starts, gate_columns, expert_columns):
    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory) / "data.csv"
        out = Path(directory) / "out.json"
        frame.assign(y=y.astype(int)).to_csv(data, index=False, float_format="%.17g")
        completed = subprocess.run(
            ["Rscript", str(R_SCRIPT), str(data), ",".join(gate_columns), "3", str(n_starts),
             str(MAX_ITER), str(MIN_WEIGHT), str(FLEXMIX_TOLERANCE), str(out),
             ",".join(expert_columns)],
            capture_output=True, text=True)
        if completed.returncode != 0:
            return None, completed.stderr.strip().splitlines()[-1:]
        result = json.loads(out.read_text())
    fits = [fit for fit in result["fits"] if fit["loglik"] is not None]
    logliks = np.array([fit["loglik"] for fit in fits])
    best = int(np.argmax(logliks))
    return {"loglik": float(logliks[best]),
            "seconds": float(sum(fit["seconds"] for fit in result["fits"])),
            "experts": fits[best]["k"], "iterations": fits[best]["iter"],
            "starts_within_0.01": int(np.sum(logliks.max() - logliks <= 0.01)),
            "failed": len(result["fits"]) - len(fits),
            "version": result["flexmix_version"]}, None


def _cell(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 starts, results not written")
    args = parser.parse_args()
    n_starts = 5 if args.quick else 20
    load_before = _load_average()
    cases = []
    for n_samples in (1000, 5000):
        X, y, truth = make_poisson_moe(n_samples)
        frame = pd.DataFrame(X, columns=["x1", "x2"])
        cases.append(("generated", frame, y, truth, ["x1", "x2"], ["x1", "x2"]))
    patent = load_patent()
    if patent is not None:
        cases.append(("patent", *patent, np.nan, ["lgRD"], ["RDS"]))
    rows = []
    for name, frame, y, truth, experts, gate in cases:
        ours = run_skmoe(frame, y, n_starts, experts, gate)
        theirs, note = run_flexmix(frame, y, n_starts, gate, experts)
        row = {"data": name, "n": len(y), "true model": truth, "skmoe best": ours["loglik"],
               "skmoe s": ours["seconds"], "skmoe starts at best": ours["starts_within_0.01"]}
        if theirs is None:
            row.update({"flexmix best": np.nan, "flexmix s": np.nan, "note": str(note)})
        else:
            row.update({"flexmix best": theirs["loglik"], "flexmix s": theirs["seconds"],
                        "flexmix starts at best": theirs["starts_within_0.01"],
                        "skmoe - flexmix": ours["loglik"] - theirs["loglik"],
                        "flexmix failed starts": theirs["failed"],
                        "flexmix version": theirs["version"]})
        rows.append(row)
        print(row, flush=True)
    header = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(key, "")) for key in header] for row in rows]
    text = (f"# Poisson mixture of experts: skmoe against flexmix\n\n"
            f"Written by `benchmarks/bench_flexmix_poisson.py` on "
            f"{datetime.date.today().isoformat()}; {n_starts} starts each, K = 3, generated "
            "data (`make_poisson_moe`; experts and gate on x1, x2) and flexmix's `patent` "
            "(Patents ~ lgRD, gate on RDS), total log-likelihoods (higher is better), seconds "
            f"for all the starts (load average before {load_before}, after "
            f"{_load_average()}).\n\n" + _markdown_table(header, cells) + "\n\n"
            + machine_section(machine_info(), blas_info()))
    print(text)
    if not args.quick:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
