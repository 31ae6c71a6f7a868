"""The Newton M-step of Poisson and Gamma GLM experts (skmoe._glm_newton) against
scikit-learn's own fit of the same objective."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import GammaRegressor, PoissonRegressor

from skmoe import MixtureOfExpertsRegressor, _experts
from skmoe._glm_newton import fit_glm_by_newton, fits_glm_by_newton, glm_predictions


def _data(family, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.uniform(0, 5, n), rng.integers(0, 2, n)])
    mean = np.exp(0.3 + 0.4 * X[:, 0] - 0.2 * X[:, 1] + 0.5 * X[:, 2])
    y = rng.poisson(mean).astype(float) if family == "poisson" else rng.gamma(3.0, mean / 3.0)
    weight = rng.uniform(0, 2, n)
    weight[:20] = 0.0
    return X, y, weight


@pytest.mark.parametrize("cls, family", [(PoissonRegressor, "poisson"),
                                         (GammaRegressor, "gamma")])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_newton_m_step_is_scikit_learns_fit(cls, family, alpha, fit_intercept):
    X, y, weight = _data(family)
    expert = cls(alpha=alpha, fit_intercept=fit_intercept, solver="newton-cholesky",
                 tol=1e-12, max_iter=100)
    assert fits_glm_by_newton(expert, X, y, "sample_weight")
    reference = clone(expert).fit(X, y, sample_weight=weight)
    ours = fit_glm_by_newton(clone(expert), X, y, weight)
    assert ours is not None
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-8, atol=1e-10)
    assert ours.intercept_ == pytest.approx(reference.intercept_, rel=1e-8, abs=1e-10)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), rtol=1e-8)
    assert ours.n_features_in_ == 3 and ours.n_iter_ >= 1
    assert ours.score(X, y) == pytest.approx(reference.score(X, y), rel=1e-8)


def test_what_the_newton_m_step_leaves_to_the_experts_own_fit():
    X, y, weight = _data("poisson")
    newton = PoissonRegressor(alpha=0.0, solver="newton-cholesky")
    assert not fits_glm_by_newton(PoissonRegressor(alpha=0.0), X, y, "sample_weight")  # lbfgs
    assert not fits_glm_by_newton(newton, X, y, None)  # a weighted resample
    assert not fits_glm_by_newton(newton.set_params(alpha=-1.0), X, y, "sample_weight")
    assert not fits_glm_by_newton(newton.set_params(alpha=0.0), X.astype(np.float32), y,
                                  "sample_weight")

    class Subclass(PoissonRegressor):
        pass

    assert not fits_glm_by_newton(Subclass(solver="newton-cholesky"), X, y, "sample_weight")
    # y of 0 on every weighted row: the mean 0 that no coefficient reaches.
    assert fit_glm_by_newton(clone(newton), X, np.zeros_like(y), weight) is None
    # Too few iterations to reach tol: the expert's own fit follows.
    short = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-14, max_iter=1)
    assert fit_glm_by_newton(short, X, y, weight) is None


def test_a_column_the_data_cannot_move_stays_where_it_starts():
    # flexmix's candy: Packages ~ 1, given as one column of zeros.
    X, y, weight = _data("poisson")
    X = np.column_stack([X, np.zeros(len(y)), X[:, 0]])  # a zero and a duplicated column
    expert = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10)
    ours = fit_glm_by_newton(clone(expert), X, y, weight)
    assert ours is not None
    assert ours.coef_[3] == 0.0
    assert ours.coef_[0] == pytest.approx(ours.coef_[4], rel=1e-8)  # the least-norm split
    reference = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10).fit(
        X[:, :3], y, sample_weight=weight)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X[:, :3]), rtol=1e-7)


def test_a_mixture_fitted_by_the_newton_m_step_is_the_one_its_own_fit_gives(monkeypatch):
    # The M-step's arithmetic without scikit-learn's set-up: on bioChemists (915 rows,
    # K = 2, best of 10) a fit took 4.5 s instead of 1.4 s, and flexmix 3.1 s.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 2))
    regime = rng.uniform(size=500) < 0.4
    y = rng.poisson(np.exp(np.where(regime, 1.5 + 0.5 * X[:, 0], 0.2 - 0.4 * X[:, 1])))

    def fit():
        model = MixtureOfExpertsRegressor(
            PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-12, max_iter=200),
            n_experts=2, gate_features=[], n_init=2, random_state=0, tol=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            return model.fit(X, y.astype(float))

    ours = fit()
    monkeypatch.setattr(_experts, "fits_glm_by_newton", lambda *args: False)
    theirs = fit()
    assert ours.log_likelihood(X, y) == pytest.approx(theirs.log_likelihood(X, y), rel=1e-10)
    for a, b in zip(ours.experts_, theirs.experts_):
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cls, family", [(PoissonRegressor, "poisson"),
                                         (GammaRegressor, "gamma")])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_glm_predictions_are_the_experts_own(cls, family, fit_intercept):
    # scikit-learn's predict validated X at 80 microseconds a call, 40 times its
    # arithmetic: a third of a fit on flexmix's small Poisson examples.
    X, y, weight = _data(family)
    expert = cls(fit_intercept=fit_intercept).fit(X, y, sample_weight=weight)
    rows = np.random.default_rng(3).normal(size=(50, 3))
    strided = np.repeat(rows, 2, axis=1)[:, ::2]  # a view, as expert_features make
    for inputs in (X, rows, np.asfortranarray(rows), strided):
        np.testing.assert_array_equal(glm_predictions(expert, inputs), expert.predict(inputs))


def test_glm_predictions_leave_other_experts_and_inputs_to_predict():
    X, y, weight = _data("poisson")

    class Offset(PoissonRegressor):
        pass

    fitted = PoissonRegressor().fit(X, y)
    assert glm_predictions(Offset().fit(X, y), X) is None
    assert glm_predictions(PoissonRegressor(), X) is None  # not fitted: predict says so
    assert glm_predictions(fitted, X.astype(np.float32)) is None
    assert glm_predictions(fitted, X[:, :2]) is None  # predict names the width
    assert glm_predictions(fitted, X.tolist()) is None
