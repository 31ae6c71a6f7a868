"""One far training row on real data: does the default mixture keep its experts?

Not a test: it cross-validates and prints (and with ``--record``, records) a
table. On each data set, repeated 5-fold cross-validation (``--repeats``
times) of ``StandardScaler`` then ``MixtureOfExpertsRegressor(n_experts=2,
noise="student_t")``, fitted four ways on each training fold: on the clean
rows, and with one training row's ``y`` (drawn by the fold's generator) set
to the mean of ``y`` plus ``--far`` (default 1e6) standard deviations, from
the default start, from random soft starts (``init="random", n_init=4``),
and with Gaussian noise instead. The held-out rows are always clean. For each it gives the mean
held-out log-likelihood per row, the mean R^2 and the number of folds whose
fit kept both experts.

The data: scikit-learn's diabetes always; with ``Rscript``, ``MASS::Boston``,
``flexmix::NPreg``, ``MASS::mcycle`` and ``faithful`` (exported by
``bench_real_data.py``'s ``export_r_datasets`` to ``benchmarks/data/``, not
committed).

Usage::

    python benchmarks/bench_far_row.py            # prints the table
    python benchmarks/bench_far_row.py --record   # and writes results/bench_far_row.md
"""

import argparse
import datetime
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from bench_estep import _markdown_table, blas_info, machine_info, machine_section
from bench_real_data import load_datasets
from sklearn.metrics import r2_score
from sklearn.model_selection import RepeatedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor
from skmoe.metrics import mean_log_likelihood

RESULTS = Path(__file__).parent / "results" / "bench_far_row.md"
DATA_SETS = ("diabetes", "Boston", "NPreg", "mcycle", "faithful")
FITS = {
    "clean": {},
    "far row": {},
    "far row, random starts": {"init": "random", "n_init": 4},
    "far row, Gaussian noise": {"noise": "gaussian"},
}


def _mixture(params):
    return make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(
        **{"n_experts": 2, "noise": "student_t", "random_state": 0, **params}))


def evaluate(X, y, repeats, far):
    """One row per fit of ``FITS``: held-out log-likelihood, R^2, folds with two experts."""
    scores = {name: [] for name in FITS}
    splits = RepeatedKFold(n_splits=5, n_repeats=repeats, random_state=0).split(X)
    for fold, (train, test) in enumerate(splits):
        far_y = y[train].copy()
        far_y[np.random.RandomState(fold).randint(train.size)] = y.mean() + far * y.std()
        for name, params in FITS.items():
            model = _mixture(params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X[train], y[train] if name == "clean" else far_y)
            scores[name].append((
                mean_log_likelihood(model, X[test], y[test]),
                r2_score(y[test], model.predict(X[test])),
                model[-1].n_experts_ == 2,
            ))
    return {name: np.array(rows) for name, rows in scores.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--far", type=float, default=1e6)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args(argv)
    datasets = load_datasets(shutil.which("Rscript") is not None)
    rows = []
    started = time.perf_counter()
    for name in DATA_SETS:
        if name not in datasets:
            continue
        X, y, _ = datasets[name]
        for fit, values in evaluate(X, y, args.repeats, args.far).items():
            rows.append({"data set": name, "fit": fit,
                         "log-lik": f"{values[:, 0].mean():.2f}",
                         "log-lik sd": f"{values[:, 0].std():.2f}",
                         "R2": f"{values[:, 1].mean():.3g}",
                         "two experts": f"{int(values[:, 2].sum())} of {len(values)}"})
        print(pd.DataFrame(rows[-len(FITS):]).to_string(index=False), flush=True)
    frame = pd.DataFrame(rows)
    table = _markdown_table(list(frame.columns), frame.to_numpy().tolist())
    print(f"\n{table}\n({time.perf_counter() - started:.0f} s)")
    if args.record:
        RESULTS.write_text(
            f"# One far training row ({datetime.date.today()})\n\n"
            f"`python benchmarks/bench_far_row.py {' '.join(sys.argv[1:])}`: "
            f"5-fold CV repeated {args.repeats} times; one training row's y set to "
            f"mean + {args.far:g} sd; held-out rows clean.\n\n{table}\n\n"
            f"{machine_section(machine_info(), blas_info())}\n")


if __name__ == "__main__":
    main()
