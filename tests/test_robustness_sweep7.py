"""Uncertainty that tells the truth: standard errors, intervals, criteria and
scores checked against ground truth (docs/robustness.rst)."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate
from skmoe.inspection import standard_errors

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _two_regimes(n, seed):
    """Two linear regimes under a logistic gate on both features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    upper = rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-(0.3 + 1.5 * X[:, 0] - X[:, 1])))
    mean = np.where(upper, -1.0 - X[:, 0] + 0.5 * X[:, 1], 1.0 + 2.0 * X[:, 0] - X[:, 1])
    y = mean + np.where(upper, 1.0, 0.5) * rng.normal(size=n)
    return X, y


def _linear_mixture(**params):
    return MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, gate=SoftmaxGate(C=1e6),
                                     n_init=3, noise_variance="in_sample", tol=1e-8,
                                     max_iter=2000, random_state=0, **params)


# ------------------------------------------- the bootstrap of frequency weights
def test_bootstrap_of_frequency_weights_is_that_of_the_repeated_rows():
    # Each row kept its weight times its number of uniform draws: a weight of 3
    # varied as 9 times a draw, not as three rows drawn apart, and the errors
    # were sqrt(3) = 1.73 times those of the rows repeated (measured 1.5 with
    # weights of 1 to 3). Now the weights' units are drawn.
    X, y = _two_regimes(200, 0)
    weights = np.full(200, 3.0)
    weighted = _linear_mixture().fit(X, y, sample_weight=weights)
    repeated = _linear_mixture().fit(np.repeat(X, 3, axis=0), np.repeat(y, 3))
    # The information of the weights is that of the rows repeated (to the fits'
    # convergence: the two stop 1e-9 apart in the bound).
    info = standard_errors(weighted, X, y, sample_weight=weights)
    info_r = standard_errors(repeated, np.repeat(X, 3, axis=0), np.repeat(y, 3))
    np.testing.assert_allclose(np.sort(info["std_error"]), np.sort(info_r["std_error"]),
                               rtol=1e-3)
    boot = standard_errors(weighted, X, y, "bootstrap", sample_weight=weights,
                           n_bootstrap=100, random_state=0)
    # On data drawn from the model the bootstrap agrees with the information
    # (100 refits give each error to about 7%, the mean of 11 ratios to a few
    # percent); the old draws gave a mean ratio of 1.8.
    ratio = boot["std_error"].to_numpy() / info["std_error"].to_numpy()
    assert 0.85 < np.mean(ratio) < 1.2, ratio
