"""Data given twice against the data given once with ``sample_weight=2``: the cross-fitted
noise and label noise keep a repeated record in one fold (docs/robustness.rst, "A few bad
rows").

Before, a row's copy sat in another fold, the refit without the row still had its copy and
predicted it exactly, and the out-of-fold noise was too small: the noise variance of a
full-depth tree on diabetes given twice was 0.08 of the one with ``sample_weight=2``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _twice(X, y, init=None):
    """The rows given twice (the copies appended), with their initial responsibilities."""
    rows = sp.vstack([X, X]).tocsr() if sp.issparse(X) else np.vstack([X, X])
    return rows, np.r_[y, y], None if init is None else np.vstack([init, init])


def _weighted_and_twice(make, X, y, init=None):
    """``make(init)`` fitted on the rows with weight 2, and on the rows given twice."""
    weighted = make(init).fit(X, y, sample_weight=np.full(X.shape[0], 2.0))
    X_twice, y_twice, init_twice = _twice(X, y, init)
    return weighted, make(init_twice).fit(X_twice, y_twice)


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X[:350], y[:350], X[350:], y[350:]


@pytest.mark.parametrize("to_sparse", [False, True])
def test_a_tree_given_the_rows_twice_has_the_noise_of_sample_weight_2(to_sparse):
    X, y, X_new, y_new = _diabetes()
    if to_sparse:
        X, X_new = sp.csr_matrix(X), sp.csr_matrix(X_new)

    # No floor on the weight of a leaf: it counts rows' worth of weight, a row's worth
    # being the mean weight of a row, which is 2 with the weights and 1 given twice.
    def make(init):
        return MixtureOfExpertsRegressor(DecisionTreeRegressor(random_state=0), n_experts=1,
                                         min_rows_per_parameter=0, random_state=0)

    weighted, twice = _weighted_and_twice(make, X, y)
    # Before: 450 against 5665 (the out-of-fold residual of a row was 0 wherever its
    # copy was in another fold).
    assert_allclose(twice.noise_variance_, weighted.noise_variance_, rtol=1e-10)
    assert_allclose(twice.score_samples(X_new, y_new), weighted.score_samples(X_new, y_new),
                    rtol=1e-10)
    assert_allclose(twice.predict(X_new), weighted.predict(X_new), rtol=1e-12)


def test_a_shallow_tree_given_the_rows_twice_has_the_noise_of_sample_weight_2_by_default():
    X, y, X_new, y_new = _diabetes()

    def make(init):
        return MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3, random_state=0),
                                         n_experts=1, random_state=0)

    weighted, twice = _weighted_and_twice(make, X, y)
    # Its leaves hold far more than the floor's 3 rows' worth of weight either way: the
    # same tree. Before: 0.90 of the noise with the weights.
    assert_allclose(twice.noise_variance_, weighted.noise_variance_, rtol=0.03)
    assert np.mean(twice.score_samples(X_new, y_new)) == pytest.approx(
        np.mean(weighted.score_samples(X_new, y_new)), abs=0.01)


@pytest.mark.filterwarnings("ignore:Expert 0 \\(KNeighborsRegressor\\) does not accept")
def test_neighbours_given_the_rows_twice_have_about_the_noise_of_sample_weight_2():
    X, y = load_diabetes(return_X_y=True)

    def make(init):
        return MixtureOfExpertsRegressor(KNeighborsRegressor(), n_experts=1, random_state=0)

    weighted, twice = _weighted_and_twice(make, X, y)
    # KNeighborsRegressor takes no weights: each fit is on a weighted resample of as many
    # rows as it is given, 442 with the weights and 884 given twice, which are not the
    # same neighbours (over three seeds and three data sets the two noises differed by
    # -8% to +8%). Before: 0.74 of the noise with the weights (0.65 to 0.80).
    assert_allclose(twice.noise_variance_, weighted.noise_variance_, rtol=0.12)


def test_default_experts_given_the_rows_twice_fit_the_mixture_of_sample_weight_2():
    X, y, X_new, y_new = _diabetes()
    init = np.random.default_rng(0).dirichlet([1.0, 1.0], size=X.shape[0])

    def make(init):
        return MixtureOfExpertsRegressor(n_experts=2, init=init, random_state=0)

    weighted, twice = _weighted_and_twice(make, X, y, init)
    # ScaledRidge experts, refitted without each fold from the folds' Gram matrices.
    # Before: noise variances 0.64 and 0.79 of those with the weights, and another fit.
    assert_allclose(twice.noise_variance_, weighted.noise_variance_, rtol=1e-8)
    assert_allclose(twice.predict(X_new), weighted.predict(X_new), rtol=1e-8)
    assert_allclose(twice.score_samples(X_new, y_new), weighted.score_samples(X_new, y_new),
                    rtol=1e-8)
    assert twice.lower_bound_ == pytest.approx(weighted.lower_bound_, rel=1e-8)


def test_a_mixture_of_trees_given_the_rows_twice_is_about_that_of_sample_weight_2():
    X, y, X_new, y_new = _diabetes()
    init = np.random.default_rng(0).dirichlet([1.0, 1.0], size=X.shape[0])

    def make(init):
        return MixtureOfExpertsRegressor(DecisionTreeRegressor(random_state=0), n_experts=2,
                                         init=init, min_rows_per_parameter=0, random_state=0)

    weighted, twice = _weighted_and_twice(make, X, y, init)
    # The trees' sums add a copy's weight where the weighted fit doubles it: near-tied
    # splits can go either way, and EM takes another path (11 and 187 iterations).
    # Before: noise variances 0.07 of those with the weights, and a held-out
    # log-likelihood 3 nats per row lower.
    assert_allclose(twice.noise_variance_, weighted.noise_variance_, rtol=0.15)
    assert np.mean(twice.score_samples(X_new, y_new)) == pytest.approx(
        np.mean(weighted.score_samples(X_new, y_new)), abs=0.1)


def test_a_tree_classifier_given_the_rows_twice_has_the_label_noise_of_sample_weight_2():
    X, y = load_breast_cancer(return_X_y=True)
    X, y, X_new, y_new = X[:450], y[:450], X[450:], y[450:]

    def make(init):
        return MixtureOfExpertsClassifier(DecisionTreeClassifier(random_state=0), n_experts=1,
                                          min_rows_per_parameter=0, random_state=0)

    weighted, twice = _weighted_and_twice(make, X, y)
    # The label noise's prior adds one row's worth of weight (2 with the weights, 1 given
    # twice): close, not equal. Before: 0.021 against 0.165, and a held-out log-loss
    # of 0.38 against 0.27.
    assert_allclose(twice.label_noise_, weighted.label_noise_, rtol=0.05)
    assert np.mean(twice.score_samples(X_new, y_new)) == pytest.approx(
        np.mean(weighted.score_samples(X_new, y_new)), abs=0.005)

