"""ScaledRidge, the default expert: its solution, its units and its Gram path."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor, ScaledRidge
from skmoe._linear import weighted_grams
from skmoe._ridge import (
    column_scale,
    cross_fitted_ridge_predictions,
    fit_scaled_ridges_from_grams,
    fits_scaled_ridge_from_gram,
)
from skmoe.datasets import make_switching_regression


class _OwnScaledRidge(ScaledRidge):
    """A subclass: fitted by its own ``fit``, the reference for the Gram path."""


def _problem(seed, n_samples=2_001, n_features=5, n_experts=3, offset=0.0):
    """Inputs on scales from 1e-4 to 1e3, possibly far from zero, and soft weights."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-4, 3, n_features)
    X = rng.normal(size=(n_samples, n_features)) * scales
    X += offset * rng.normal(size=n_features) * scales
    y = X @ (rng.normal(size=n_features) / scales) + rng.normal(size=n_samples) + 5.0
    weights = rng.dirichlet(np.ones(n_experts), size=n_samples)
    return X, y, weights


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_equals_standard_scaler_then_ridge_with_weights_on_the_ridge(fit_intercept):
    X, y, weights = _problem(0, n_samples=300)
    w = weights[:, 0]
    model = ScaledRidge(alpha=7.0, fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    # StandardScaler centres the columns, which changes nothing with an intercept;
    # without one, centring would change the model, so only scale there.
    scaler = StandardScaler(with_mean=fit_intercept)
    reference = make_pipeline(scaler, Ridge(alpha=7.0, fit_intercept=fit_intercept))
    reference.fit(X, y, ridge__sample_weight=w)
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-9)
    assert_allclose(model.coef_, reference[-1].coef_ / reference[0].scale_, rtol=1e-9)
    assert_allclose(model.scale_, X.std(axis=0), rtol=1e-12)


def test_predictions_do_not_depend_on_the_units_of_the_features():
    X, y, weights = _problem(1, n_samples=200)
    units = np.array([1e-6, 1.0, 1e3, 7.0, 1e8])
    plain = ScaledRidge(alpha=3.0).fit(X, y, sample_weight=weights[:, 1])
    scaled = ScaledRidge(alpha=3.0).fit(X * units, y, sample_weight=weights[:, 1])
    assert_allclose(scaled.predict(X * units), plain.predict(X), rtol=1e-9)
    assert_allclose(scaled.coef_ * units, plain.coef_, rtol=1e-9)


def test_sparse_input_gives_the_dense_solution():
    X, y, weights = _problem(2, n_samples=300)
    X[np.abs(X) < 0.5 * np.abs(X).mean(axis=0)] = 0.0
    dense = ScaledRidge(alpha=2.0).fit(X, y, sample_weight=weights[:, 0])
    sparse = ScaledRidge(alpha=2.0).fit(sp.csr_matrix(X), y, sample_weight=weights[:, 0])
    assert_allclose(sparse.coef_, dense.coef_, rtol=1e-8)
    assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-9)
    assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-9)


def test_effective_dof_is_the_trace_of_the_hat_matrix():
    X, y, weights = _problem(3, n_samples=100)
    w = weights[:, 2]
    model = ScaledRidge(alpha=4.0).fit(X, y, sample_weight=w)
    Z = (X - np.average(X, axis=0, weights=w)) / X.std(axis=0)
    hat = Z @ np.linalg.solve(Z.T @ (w[:, None] * Z) + 4.0 * np.eye(5), Z.T * w)
    assert model.effective_dof_ == pytest.approx(np.trace(hat) + 1.0, rel=1e-10)
    assert ScaledRidge(alpha=1e-9).fit(X, y).effective_dof_ == pytest.approx(6.0, rel=1e-8)
    assert ScaledRidge(alpha=1e12).fit(X, y).effective_dof_ == pytest.approx(1.0, abs=1e-6)


def test_constant_feature_gets_a_zero_coefficient_and_unit_scale():
    X, y, _ = _problem(4, n_samples=50)
    X[:, 2] = 3.5
    model = ScaledRidge().fit(X, y)
    assert model.scale_[2] == 1.0
    assert model.coef_[2] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.isfinite(model.predict(X)))


def test_column_scale_in_blocks_equals_numpy():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20_000, 3)) * [1e-3, 1.0, 1e4] + [1e3, -2.0, 5e5]
    assert_allclose(column_scale(X), X.std(axis=0), rtol=1e-10)
    assert_allclose(column_scale(sp.csr_matrix(X)), X.std(axis=0), rtol=1e-8)


def test_bad_alpha_is_refused():
    X, y, _ = _problem(6, n_samples=20)
    with pytest.raises(ValueError, match="alpha"):
        ScaledRidge(alpha=0.0).fit(X, y)


def test_bool_alpha_is_refused_alone_and_as_an_expert():
    # scikit-learn's interval takes True for 1: it was fitted as a penalty of 1.
    X, y, _ = _problem(6, n_samples=40)
    message = (r"The 'alpha' parameter of ScaledRidge must not be a bool \(True would be "
               r"taken as 1\)")
    with pytest.raises(ValueError, match=message):
        ScaledRidge(alpha=True).fit(X, y)
    model = MixtureOfExpertsRegressor(ScaledRidge(alpha=True), n_experts=2, random_state=0)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)


# Without an intercept, inputs far from zero make the problem itself ill-conditioned
# (every column nearly the constant one): both solutions then keep fewer digits.
@pytest.mark.parametrize("fit_intercept, offset", [(True, 0.0), (True, 1e4), (False, 0.0),
                                                   (False, 10.0)])
def test_gram_solution_equals_own_fit(fit_intercept, offset):
    X, y, weights = _problem(7, offset=offset)
    experts = [ScaledRidge(alpha=a, fit_intercept=fit_intercept) for a in (0.5, 3.0, 50.0)]
    grams, center, y_center = weighted_grams(X, y, weights, fit_intercept)
    fitted = fit_scaled_ridges_from_grams(experts, grams, center, y_center, column_scale(X))
    for k, expert in enumerate(fitted):
        own = ScaledRidge(alpha=expert.alpha, fit_intercept=fit_intercept)
        own.fit(X, y, sample_weight=weights[:, k])
        assert_allclose(expert.coef_, own.coef_, rtol=1e-7)
        assert expert.intercept_ == pytest.approx(own.intercept_, rel=1e-7, abs=1e-9)
        assert expert.effective_dof_ == pytest.approx(own.effective_dof_, rel=1e-9)
        assert_allclose(expert.scale_, own.scale_, rtol=1e-10)
        assert expert.n_features_in_ == own.n_features_in_


@pytest.mark.parametrize("fit_intercept, offset", [(True, 0.0), (True, 1e4), (False, 0.0),
                                                   (False, 10.0)])
def test_cross_fitted_predictions_equal_refits_without_each_fold(fit_intercept, offset):
    X, y, weights = _problem(8, n_samples=601, offset=offset)
    # The third expert has weight in fold 0 only: without fold 0 it has no rows.
    folds = np.random.default_rng(0).permutation(601) % 3
    weights[:, 2] = np.where(folds == 0, weights[:, 2], 0.0)
    experts = [ScaledRidge(alpha=a, fit_intercept=fit_intercept).fit(X, y, weights[:, k])
               for k, a in enumerate((0.5, 3.0, 50.0))]
    predictions = cross_fitted_ridge_predictions(experts, X, y, weights, folds)
    for k, expert in enumerate(experts):
        for fold in range(3):
            held = folds == fold
            if not np.any(weights[~held, k] > 0):
                expected = expert.predict(X[held])
            else:
                refit = ScaledRidge(alpha=expert.alpha, fit_intercept=fit_intercept)
                refit.fit(X[~held], y[~held], sample_weight=weights[~held, k])
                expected = refit.predict(X[held])
            assert_allclose(predictions[held, k], expected, rtol=1e-7, atol=1e-7 * np.std(y))


def test_which_experts_take_the_gram_path():
    X = np.ones((4, 2))
    assert fits_scaled_ridge_from_gram(ScaledRidge(), X)
    assert not fits_scaled_ridge_from_gram(_OwnScaledRidge(), X)
    assert not fits_scaled_ridge_from_gram(ScaledRidge(), sp.csr_matrix(X))
    assert not fits_scaled_ridge_from_gram(ScaledRidge(), X.astype(np.float32))
    assert not fits_scaled_ridge_from_gram(ScaledRidge(alpha="big"), X)


def test_mixture_with_gram_path_equals_mixture_of_self_fitting_experts():
    # The same EM from the same start: the Gram path against the subclass that
    # takes ScaledRidge's own fit every M-step.
    X, y = make_switching_regression(1_000, 4, 3, noise=0.5, random_state=0)
    params = dict(n_experts=3, max_iter=15, tol=1e-9, random_state=0)
    fast = MixtureOfExpertsRegressor(ScaledRidge(alpha=10.0), **params).fit(X, y)
    slow = MixtureOfExpertsRegressor(_OwnScaledRidge(alpha=10.0), **params).fit(X, y)
    assert_allclose(fast.lower_bounds_, slow.lower_bounds_, rtol=1e-9)
    for a, b in zip(fast.experts_, slow.experts_):
        assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(fast.predict(X), slow.predict(X), rtol=1e-8)


def test_default_expert_is_a_scaled_ridge():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert all(type(expert) is ScaledRidge for expert in model.experts_)
    assert all(expert.alpha == 10.0 for expert in model.experts_)


def test_mixture_predictions_do_not_depend_on_the_units_of_the_features():
    X, y = make_switching_regression(600, 3, 2, noise=0.3, random_state=3)
    units = np.array([1e-7, 1.0, 1e7])
    plain = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    scaled = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X * units, y)
    assert_allclose(scaled.predict(X * units), plain.predict(X), rtol=1e-6, atol=1e-8)
    assert_allclose(scaled.lower_bound_, plain.lower_bound_, rtol=1e-8)


def test_quiet_experts_are_barely_shrunk():
    # The prior is in the units of var(y): an expert whose noise is 1% of y's
    # spread is fitted as by least squares, to well within its standard error.
    X, y, params = make_switching_regression(4_000, 3, 2, noise=0.05, random_state=1,
                                             return_params=True)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    coef = np.array(sorted(expert.coef_.tolist() for expert in model.experts_))
    assert_allclose(coef, np.array(sorted(params.coef.tolist())), atol=0.01)


def test_unsolvable_system_is_marked_and_refused(monkeypatch):
    import skmoe._ridge as ridge

    # Not positive definite: NaN, and the Gram path leaves the expert to its own fit.
    xx = np.array([[[1.0, 0.0], [0.0, -50.0]]])
    coef, dof = ridge.solve_scaled_ridge(xx, np.ones((1, 2)), np.ones(2), np.array([1.0]))
    assert np.all(np.isnan(coef)) and np.isnan(dof[0])
    grams = np.zeros((1, 4, 4))
    grams[0, 2, 2] = 1.0
    grams[0, :2, :2] = [[1.0, 0.0], [0.0, -50.0]]
    assert ridge.fit_scaled_ridges_from_grams([ScaledRidge()], grams, np.zeros(2), 0.0,
                                              np.ones(2)) == [None]
    # The own fit refuses what it cannot solve.
    monkeypatch.setattr(ridge, "solve_scaled_ridge",
                        lambda xx, xy, scale, alpha: (np.full(xy.shape, np.nan), np.full(1, 0.0)))
    X, y, _ = _problem(8, n_samples=20)
    with pytest.raises(ValueError, match="could not solve its penalised normal equations"):
        ScaledRidge().fit(X, y)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_fit_is_equivariant_in_columns_target_and_weights_over_the_float64_range(scale):
    # Its normal equations are formed in scaled units: squares of such columns,
    # targets or weights would overflow or lose their digits.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=50)
    weights = rng.uniform(0.5, 2.0, size=50)
    base = ScaledRidge(alpha=3.0).fit(X, y, sample_weight=weights)
    for X_, y_, w_, coef_scale, y_scale in [
        (X * scale, y, weights, 1 / scale, 1.0),
        (X, y * scale, weights, scale, scale),
    ]:
        model = ScaledRidge(alpha=3.0).fit(X_, y_, sample_weight=w_)
        assert_allclose(model.coef_, base.coef_ * coef_scale, rtol=1e-10)
        assert_allclose(model.intercept_, base.intercept_ * y_scale, rtol=1e-10)
        assert_allclose(model.effective_dof_, base.effective_dof_, rtol=1e-10)
    # Weights and the penalty scaled together: the same problem.
    if scale > 1:
        model = ScaledRidge(alpha=3.0 * 1e200).fit(X, y, sample_weight=weights * 1e200)
        assert_allclose(model.coef_, base.coef_, rtol=1e-10)
