"""One bad row and the noise scale's floor: what a single far y does to the floors of the
heavy-tailed families, and the warning when a fit's noise ends at its floor
(docs/robustness.rst, "A few bad rows")."""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# The noise standard deviations of the two regimes of _two_regimes.
NOISE = np.array([0.05, 0.3])


def _two_regimes(far=None, seed=0, n_samples=600):
    """Two lines, y = 2x and y = 4 - x, that a soft gate mixes all over x (about 2/3 of
    the rows on the first), with Gaussian noise NOISE; ``far`` replaces y of row 0 (a
    row of the second regime)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n_samples, 1))
    regime = (rng.uniform(size=n_samples) < 1 / (1 + np.exp(-2 * X[:, 0] + 1))).astype(int)
    y = np.where(regime == 0, 2 * X[:, 0], 4 - X[:, 0]) + NOISE[regime] * rng.standard_normal(
        n_samples)
    if far is not None:
        y[0] = far
    return X, y


def _by_regime(model):
    """The experts' indices in the order of the regimes (rising line first)."""
    assert model.n_experts_ == 2
    return np.argsort([-expert.coef_[0] for expert in model.experts_])


# ------------------------------------------------- the heavy-tailed families' floors
@pytest.mark.parametrize("far", [1e3, 1e6])
def test_student_t_scales_stay_at_the_noise_with_one_far_row(far):
    # The floor of every expert's scale was 1e-3 (in variance) of the squared mean
    # absolute residual at the start's first M-step, and var_floor of var(y): one y
    # of 1e3 among 600 rows of noise 0.05 and 0.3 held the first expert's scale at
    # 0.14 to 0.18 (its floor), one of 1e6 held both experts at about 120, where they
    # merged into one. The noise quartile of each expert, s * t_nu^-1(0.75) (a scale
    # comparable across degrees of freedom), is its regime's within 25%.
    X, y = _two_regimes(far)
    # Random soft starts: k-means (and emEM's hard partitions) give a row of 1e6 a
    # start of its own, whose expert is removed whatever the floor.
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      init="random", n_init=4, random_state=0).fit(X, y)
    order = _by_regime(model)
    quartile = model.noise_scale_[order] * stats.t.ppf(0.75, model.df_[order])
    np.testing.assert_allclose(quartile, NOISE * stats.norm.ppf(0.75), rtol=0.25)


def test_laplace_scale_of_the_other_expert_stays_at_its_noise_with_one_far_row():
    # The Laplace scale is the weighted mean absolute residual, its maximum-likelihood
    # estimate: the expert that holds a y of 1e3 has a scale of about 1e3 / its rows
    # whatever the floor. Its floor held the other expert's scale at 0.125, three
    # times its noise (sd 0.05, Laplace scale 0.05 * sqrt(2 / pi) = 0.040).
    X, y = _two_regimes(1e3)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="laplace",
                                      n_init=4, random_state=0).fit(X, y)
    quiet = _by_regime(model)[0]
    assert model.noise_scale_[quiet] == pytest.approx(NOISE[0] * np.sqrt(2 / np.pi), rel=0.15)
