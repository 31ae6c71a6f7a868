"""The default mixture on small real data sets: no wild predictions, never far behind least squares.

The data: scikit-learn's bundled ``load_diabetes`` (442 rows, 10 features) and
``load_linnerud`` (20 rows, 3 features, each of its three targets), and R's
``mtcars`` (32 rows, 10 features; ``mpg`` on the rest), kept in ``tests/data``.
On the last two a mixture of three linear experts has fewer rows than
parameters, which is where unguarded experts used to fit their rows exactly and
send held-out predictions to 1e12.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, RepeatedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor

DATA = Path(__file__).resolve().parent / "data"


def _mtcars():
    frame = pd.read_csv(DATA / "mtcars.csv", index_col=0)
    return frame.drop(columns="mpg").to_numpy(float), frame["mpg"].to_numpy(float)


def _linnerud(target):
    data = load_linnerud()
    return data.data.astype(float), data.target[:, target].astype(float)


DATASETS = {
    "diabetes": lambda: load_diabetes(return_X_y=True),
    "mtcars": _mtcars,
    "linnerud_weight": lambda: _linnerud(0),
    "linnerud_waist": lambda: _linnerud(1),
    "linnerud_pulse": lambda: _linnerud(2),
}


def _default_mixtures():
    return {
        "raw": MixtureOfExpertsRegressor(random_state=0),
        "standardised": make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0)),
    }


@pytest.mark.parametrize("name", list(DATASETS))
def test_held_out_predictions_stay_near_the_training_targets(name):
    X, y = DATASETS[name]()
    for label, model in _default_mixtures().items():
        for train, test in KFold(5, shuffle=True, random_state=0).split(X):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predicted = model.fit(X[train], y[train]).predict(X[test])
            low, high = y[train].min(), y[train].max()
            span = high - low
            assert np.all(predicted >= low - span) and np.all(predicted <= high + span), (
                f"{label} on {name}: predictions {predicted.min():.3g}..{predicted.max():.3g} "
                f"for training targets {low:.3g}..{high:.3g}"
            )


def _cross_validated(model, X, y, splits):
    """Per fold: R^2, largest absolute error, mean held-out log-density."""
    scores = []
    for train, test in splits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = model.fit(X[train], y[train])
        predicted = fitted.predict(X[test])
        residual = y[test] - predicted
        r2 = 1.0 - np.sum(residual**2) / np.sum((y[test] - y[test].mean()) ** 2)
        if hasattr(fitted, "score_samples"):
            log_density = fitted.score_samples(X[test], y[test]).mean()
        else:
            # Least squares as a density: a Gaussian with its in-sample residual variance.
            variance = np.mean((y[train] - fitted.predict(X[train])) ** 2)
            log_density = np.mean(-0.5 * np.log(2 * np.pi * variance)
                                  - 0.5 * residual**2 / variance)
        scores.append((r2, np.abs(residual).max(), log_density))
    return np.array(scores)


# On diabetes the default three experts are level with least squares in held-out
# log-likelihood (benchmarks/results/bench_real_data.md: -5.423 both, 3 repeats; on
# these 2 repeats 0.010 nats per row below, fold-sd 0.099): only R^2 and the errors
# are held here.
@pytest.mark.parametrize("name, log_likelihood_goal", [("diabetes", False), ("mtcars", True)])
def test_default_mixture_holds_its_own_against_least_squares(name, log_likelihood_goal):
    X, y = DATASETS[name]()
    splits = list(RepeatedKFold(n_splits=5, n_repeats=2, random_state=0).split(X))
    linear = _cross_validated(LinearRegression(), X, y, splits)
    mixture = _cross_validated(MixtureOfExpertsRegressor(random_state=0), X, y, splits)
    assert mixture[:, 0].mean() >= linear[:, 0].mean() - linear[:, 0].std()
    assert mixture[:, 1].max() <= 3 * linear[:, 1].max()
    if log_likelihood_goal:
        assert mixture[:, 2].mean() >= linear[:, 2].mean()
