"""The cross-fitted noise of ScaledRidge experts block by block: equal to its references.

The passes over blocks of rows (the folds' Gram matrices, the out-of-fold
predictions, the regressor's residual sums, ScaledRidge's own fit and the
columns' magnitudes) are checked against direct NumPy forms of the same sums,
and the default mixture against one whose likelihood M-step is the form
before the passes (a copy of each fold's rows, an array of squared residuals).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression

import skmoe._regressor
import skmoe._ridge
from skmoe import MixtureOfExpertsRegressor, ScaledRidge
from skmoe._experts import fit_experts
from skmoe._regressor import (
    _POOLED_VARIANCE_FLOOR,
    _check_squared_residuals,
    _expert_predictions,
    _replace_own_densities,
    _squared_residuals,
    _weighted_squared_sums,
    noise_folds,
)
from skmoe._ridge import (
    FoldGrams,
    FoldSumsRequest,
    _mean_shift,
    blockwise_fold_sums,
    column_scale,
    cross_fitted_ridge_predictions,
    fold_refits,
    fold_sums,
)
from skmoe._scaling import magnitude, power_of_two, unit_weights
from skmoe.datasets import make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _problem(seed, n_samples, n_features=4, n_experts=3, offset=0.0):
    """Inputs on different scales, soft weights with zeros (whole columns of a fold too)."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-2, 2, n_features)
    X = (rng.normal(size=(n_samples, n_features)) + offset) * scales
    y = X @ (rng.normal(size=n_features) / scales) + rng.normal(size=n_samples) + 3.0
    weights = rng.dirichlet(np.ones(n_experts), size=n_samples)
    weights[rng.random(weights.shape) < 0.2] = 0.0
    return X, y, weights


def _reference_fold_grams(X, y, weights, folds, n_folds, shift):
    """Each fold's weighted Gram matrices of ``[x - c, 1, y - c_y]`` (and the unweighted
    one), and its rows with weight, summed row by row in NumPy."""
    center, y_center = shift
    design = np.column_stack([X - center, np.ones(X.shape[0]), y - y_center])
    with_counts = np.column_stack([weights, np.ones(X.shape[0])])
    grams = np.stack([np.einsum("ik,ia,ib->kab", with_counts[folds == f], design[folds == f],
                                design[folds == f]) for f in range(n_folds)])
    positive = np.stack([np.count_nonzero(weights[folds == f] > 0, axis=0)
                         for f in range(n_folds)])
    return grams, positive


def _cross_fitted_predictions_by_fold_copies(experts, X, y, weights, folds):
    """The out-of-fold predictions as computed before the passes over blocks of rows:
    each fold's rows of X, y and the weights copied, one Gram pass per fold."""
    n_samples, n_experts = weights.shape
    mean_weights = np.full(n_samples, 1.0 / n_samples)
    shift = (mean_weights @ X, float(mean_weights @ y))
    fold_rows = [np.flatnonzero(folds == fold) for fold in range(int(folds.max()) + 1)]
    sums = [fold_sums(X[rows], y[rows], weights[rows], shift) for rows in fold_rows]
    grams, positive = np.stack([s[0] for s in sums]), np.stack([s[1] for s in sums])
    models = fold_refits(experts, grams, positive, shift, magnitude(X))
    predictions = np.empty((n_samples, n_experts))
    for rows, fold_models in zip(fold_rows, models):
        coef = np.column_stack([model.coef_ for model in fold_models])
        intercept = np.array([model.intercept_ for model in fold_models])
        predictions[rows] = X[rows] @ coef + intercept
    return predictions


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, so that small data cross many block boundaries."""
    monkeypatch.setattr(skmoe._ridge, "_FOLD_CHUNK_ROWS", 7)
    monkeypatch.setattr(skmoe._ridge, "_FOLD_BLOCK_ROWS", 23)
    monkeypatch.setattr(skmoe._ridge, "_SCALE_BLOCK_ROWS", 19)
    monkeypatch.setattr(skmoe._regressor, "_RESIDUAL_BLOCK_ROWS", 17)


@pytest.mark.parametrize("n_samples", [5, 200, 1_001])
@pytest.mark.parametrize("n_folds", [2, 3, 5])
@pytest.mark.parametrize("partition", ["noise_folds", "random"])
def test_blockwise_fold_sums_equal_each_folds_sums(small_blocks, n_samples, n_folds, partition):
    X, y, weights = _problem(0, n_samples, offset=5.0)
    if partition == "noise_folds":
        folds = noise_folds(n_samples, n_folds)
    else:
        folds = np.random.default_rng(1).integers(0, n_folds, size=n_samples)
        folds[:n_folds] = np.arange(n_folds)
    shift = (X.mean(axis=0), float(y.mean()))
    grams, positive = blockwise_fold_sums(X, y, weights, folds, n_folds, shift)
    expected, expected_positive = _reference_fold_grams(X, y, weights, folds, n_folds, shift)
    assert grams.shape == expected.shape
    assert grams.flags.c_contiguous
    # Entries relative to the largest of their matrix (1 for a fold without weight).
    scale = np.abs(expected).max(axis=(2, 3), keepdims=True)
    scale[scale == 0] = 1.0
    assert_allclose(grams / scale, expected / scale, rtol=0, atol=1e-13)
    assert_array_equal(positive, expected_positive)
    # fold_sums of each fold's rows (the Dask path's sums) agree with the pass.
    for fold in range(n_folds):
        held = folds == fold
        if held.any():
            own, own_positive = fold_sums(X[held], y[held], weights[held], shift)
            assert_allclose(grams[fold] / scale[fold], own / scale[fold], rtol=0, atol=1e-13)
            assert_array_equal(positive[fold], own_positive)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_folds", [2, 3, 5])
@pytest.mark.parametrize("blocks", ["small", "default"])
def test_cross_fitted_predictions_equal_the_fold_copy_form(monkeypatch, fit_intercept, n_folds,
                                                          blocks):
    if blocks == "small":
        monkeypatch.setattr(skmoe._ridge, "_FOLD_CHUNK_ROWS", 11)
        monkeypatch.setattr(skmoe._ridge, "_FOLD_BLOCK_ROWS", 29)
        monkeypatch.setattr(skmoe._ridge, "_SCALE_BLOCK_ROWS", 31)
    # Over 8192 rows with the default blocks: the last block of each pass is partial.
    n_samples = 9_001 if blocks == "default" else 1_003
    X, y, weights = _problem(2, n_samples, offset=2.0)
    folds = noise_folds(n_samples, n_folds)
    # The third expert has weight in fold 0 only: without fold 0 it has no rows.
    weights[:, 2] = np.where(folds == 0, weights[:, 2], 0.0)
    experts = [ScaledRidge(alpha=a, fit_intercept=fit_intercept).fit(X, y, weights[:, k])
               for k, a in enumerate((0.5, 3.0, 50.0))]
    predictions = cross_fitted_ridge_predictions(experts, X, y, weights, folds)
    expected = _cross_fitted_predictions_by_fold_copies(experts, X, y, weights, folds)
    assert_allclose(predictions, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    # The expert without kept rows predicts fold 0 itself. Its predictions sum terms of
    # order one, so one near 0 agrees to a rounding error of that order, not of itself.
    held = folds == 0
    own = experts[2].predict(X[held])
    assert_allclose(predictions[held, 2], own, rtol=1e-12, atol=1e-12 * np.abs(own).max())


def _reference_scaled_ridge(X, y, sample_weight, alpha, fit_intercept):
    """ScaledRidge's solution from the whole scaled array, in NumPy."""
    scale = X.std(axis=0)
    scale[~(scale > 10 * np.finfo(float).eps * magnitude(X))] = 1.0
    weights = unit_weights(sample_weight)
    Z = X / scale
    if fit_intercept:
        x_mean = weights @ Z / weights.sum()
        y_mean = weights @ y / weights.sum()
    else:
        x_mean, y_mean = np.zeros(X.shape[1]), 0.0
    Z = Z - x_mean
    penalised = Z.T @ (weights[:, None] * Z) + alpha / sample_weight.max() * np.eye(X.shape[1])
    coef = np.linalg.solve(penalised, Z.T @ (weights * (y - y_mean)))
    return coef / scale, (y_mean - x_mean @ coef if fit_intercept else 0.0)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_scaled_ridge_fit_by_blocks_equals_the_whole_array_form(small_blocks, monkeypatch,
                                                                fit_intercept):
    X, y, weights = _problem(4, 301, offset=3.0)
    X[:, 1] = 2.5  # a constant column: its mean is its value, its scale 1
    w = weights[:, 0] * 7.0
    model = ScaledRidge(alpha=4.0, fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    coef, intercept = _reference_scaled_ridge(X, y, w, 4.0, fit_intercept)
    assert_allclose(model.coef_, coef, rtol=1e-10, atol=1e-13)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-10, abs=1e-12)
    assert_allclose(model.scale_, column_scale(X), rtol=0)
    assert model.scale_[1] == 1.0
    # The same fit in one block.
    monkeypatch.setattr(skmoe._ridge, "_SCALE_BLOCK_ROWS", 8192)
    whole = ScaledRidge(alpha=4.0, fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    assert_allclose(model.coef_, whole.coef_, rtol=1e-12, atol=1e-15)
    assert model.intercept_ == pytest.approx(whole.intercept_, rel=1e-12, abs=1e-14)
    assert model.effective_dof_ == pytest.approx(whole.effective_dof_, rel=1e-12)


def test_weighted_squared_sums_equal_numpy(small_blocks):
    rng = np.random.default_rng(5)
    y = rng.normal(size=250)
    means = y[:, None] + rng.normal(size=(250, 4))
    weights = rng.random((250, 4)) * 3.0
    weights[::4, 1] = 0.0
    unit = power_of_two(float(weights.max()))
    assert unit == 2.0
    squares, totals = _weighted_squared_sums(y, means, weights, unit)
    assert_allclose(squares, _squared_residuals(y, means, weights / unit), rtol=1e-13)
    assert_allclose(totals, (weights / unit).sum(axis=0), rtol=1e-13)
    # Weights near the largest float64: the sums with the weights in units of a power of
    # two near the largest stay finite; a residual of 1e300 overflows to inf.
    huge = weights * 1e307
    squares, totals = _weighted_squared_sums(y, means, huge, power_of_two(float(huge.max())))
    assert np.all(np.isfinite(squares)) and np.all(np.isfinite(totals))
    means[7, 2] = 1e300
    squares, _ = _weighted_squared_sums(y, means, weights, 1.0)
    assert np.isinf(squares[2]) and np.all(np.isfinite(squares[[0, 1, 3]]))


class _FoldCopyRegressor(MixtureOfExpertsRegressor):
    """The M-steps in their form before the passes over blocks of rows: the experts
    from one Gram pass, the likelihood's residuals from (n, K) arrays."""

    def _cross_fitted_means(self, experts, X, y, fit_weights, context):
        yield from super()._cross_fitted_means(experts, X, y, fit_weights, context)
        # No request: the experts' M-step takes its Gram matrices in one pass, and
        # the refits take their own.
        context.pop("noise_fold_sums", None)

    def _likelihood_m_step(self, experts, X, y, weights, fit_weights, context, workspace):
        family = context["family"]
        predictions = _expert_predictions(experts, X)
        log_lik = workspace.array("log_lik", predictions.shape)
        unit = power_of_two(float(weights.max()))
        weights = weights / unit
        np.subtract(predictions, y[:, None], out=log_lik)
        log_lik *= log_lik
        residuals = np.einsum("ik,ik->k", weights, log_lik)
        for k, out_of_fold in self._cross_fitted_means(experts, X, y, fit_weights, context):
            residuals[k] = weights[:, k] @ (y - out_of_fold) ** 2
        _check_squared_residuals(residuals, experts)
        if "pooled_floor" not in context:
            context["pooled_floor"] = _POOLED_VARIANCE_FLOOR * residuals.sum() / weights.sum()
        floor = max(context["variance_floor"], context["pooled_floor"])
        params = family.m_step(y, predictions, weights, None, floor, residuals=residuals)
        family.log_density(y, predictions, params, log_lik)
        _replace_own_densities(experts, X, y, log_lik)
        return params, log_lik


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_default_mixture_equals_the_fold_copy_form(monkeypatch, fit_intercept):
    X, y = make_switching_regression(3_000, 4, 3, noise=0.4, random_state=1)
    X = X + 2.0
    # Weights up to 3: their largest is not a power of two, the sums are in its units.
    sample_weight = np.random.default_rng(0).uniform(0.5, 3.0, size=3_000)
    params = dict(n_experts=3, max_iter=12, tol=0, random_state=0)
    experts = ScaledRidge(alpha=10.0, fit_intercept=fit_intercept)
    # Blocks of a few hundred rows: the passes cross many block boundaries.
    monkeypatch.setattr(skmoe._ridge, "_FOLD_BLOCK_ROWS", 700)
    monkeypatch.setattr(skmoe._ridge, "_FOLD_CHUNK_ROWS", 150)
    monkeypatch.setattr(skmoe._ridge, "_SCALE_BLOCK_ROWS", 900)
    monkeypatch.setattr(skmoe._regressor, "_RESIDUAL_BLOCK_ROWS", 800)
    model = MixtureOfExpertsRegressor(experts, **params).fit(X, y, sample_weight=sample_weight)
    monkeypatch.setattr(skmoe._regressor, "cross_fitted_ridge_predictions",
                        _cross_fitted_predictions_by_fold_copies)
    reference = _FoldCopyRegressor(experts, **params).fit(X, y, sample_weight=sample_weight)
    assert model.n_iter_ == reference.n_iter_ == 12
    assert_allclose(model.lower_bounds_, reference.lower_bounds_, rtol=1e-10)
    assert_allclose(model.noise_variance_, reference.noise_variance_, rtol=1e-10)
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-10, atol=1e-12)


def _mixed_experts(fit_intercept=True):
    return [ScaledRidge(alpha=2.0, fit_intercept=fit_intercept),
            ScaledRidge(alpha=30.0, fit_intercept=fit_intercept),
            LinearRegression(fit_intercept=fit_intercept)]


@pytest.mark.parametrize("validate", [True, False])
def test_experts_fitted_from_their_fold_sums_equal_those_of_one_pass(small_blocks, validate):
    X, y, weights = _problem(6, 601, offset=4.0)
    folds = noise_folds(601)
    request = FoldSumsRequest(folds, 3)
    routes = ["sample_weight"] * 3
    by_folds = fit_experts(_mixed_experts(), routes, X, y, weights, None,
                           np.random.RandomState(0), 1, validate=validate, fold_sums=request)
    one_pass = fit_experts(_mixed_experts(), routes, X, y, weights, None,
                           np.random.RandomState(0), 1, validate=validate)
    for a, b in zip(by_folds, one_pass):
        assert_allclose(a.coef_, b.coef_, rtol=1e-11, atol=1e-13)
        assert a.intercept_ == pytest.approx(b.intercept_, rel=1e-11, abs=1e-13)
    # What the experts' M-step left: each fold's matrices of the experts' weights.
    kept_weights, columns, grams, positive, shift = request.sums
    assert kept_weights is weights and columns == [0, 1, 2]
    expected, expected_positive = _reference_fold_grams(X, y, weights, folds, 3, shift)
    scale = np.abs(expected[:, :3]).max(axis=(2, 3), keepdims=True)
    assert_allclose(grams / scale, expected[:, :3] / scale, rtol=0, atol=1e-13)
    assert_array_equal(positive, expected_positive)
    # Without an intercept, or without a ScaledRidge among them, none are taken.
    for experts in (_mixed_experts(fit_intercept=False), [LinearRegression()] * 3):
        fit_experts(experts, routes, X, y, weights, None, np.random.RandomState(0), 1,
                    fold_sums=request)
        assert request.sums is None


def test_fold_sums_are_taken_once_for_their_weights_and_experts(small_blocks):
    X, y, weights = _problem(7, 400)
    folds = noise_folds(400)
    request = FoldSumsRequest(folds, 3)
    shift = _mean_shift(X, y)
    grams, positive = blockwise_fold_sums(X, y, weights, folds, 3, shift, counts=False)
    request.give(weights, [0, 1, 2], grams, positive, shift)
    assert request.take(X, y, weights.copy(), [0, 1, 2]) is None  # other weights
    request.give(weights, [0, 1, 2], grams, positive, shift)
    assert request.take(X, y, weights, [0, 1]) is None  # other experts
    request.give(weights, [0, 1, 2], grams, positive, shift)
    taken = request.take(X, y, weights, [0, 1, 2])
    assert request.take(X, y, weights, [0, 1, 2]) is None  # taken once
    full, full_positive = blockwise_fold_sums(X, y, weights, folds, 3, shift)
    assert_array_equal(taken.folds, folds)
    assert_allclose(taken.grams, full, rtol=1e-13, atol=1e-13 * np.abs(full).max())
    assert_array_equal(taken.positive, full_positive)
    assert_array_equal(taken.unit, magnitude(X))


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_cross_fitted_predictions_from_taken_sums_equal_those_from_the_folds(small_blocks,
                                                                             fit_intercept):
    X, y, weights = _problem(8, 500, offset=1.0)
    folds = noise_folds(500)
    experts = [ScaledRidge(alpha=a, fit_intercept=fit_intercept).fit(X, y, weights[:, k])
               for k, a in enumerate((0.5, 3.0, 50.0))]
    shift = _mean_shift(X, y)
    request = FoldSumsRequest(folds, 3)
    grams, positive = blockwise_fold_sums(X, y, weights, folds, 3, shift, counts=False)
    request.give(weights, [0, 1, 2], grams, positive, shift)
    taken = request.take(X, y, weights, [0, 1, 2])
    from_sums = cross_fitted_ridge_predictions(experts, X, y, weights, taken)
    from_folds = cross_fitted_ridge_predictions(experts, X, y, weights, folds)
    assert_allclose(from_sums, from_folds, rtol=1e-12, atol=1e-12 * np.abs(from_folds).max())


def test_default_mixture_refits_from_the_experts_fold_sums(monkeypatch):
    # The first M-step of each run refits from a pass of its own; every later one from
    # the folds' matrices its experts' M-step took (with n_init runs in parallel, each
    # run its own).
    seen = []
    original = skmoe._regressor.cross_fitted_ridge_predictions

    def recording(experts, X, y, weights, folds):
        seen.append(isinstance(folds, FoldGrams))
        return original(experts, X, y, weights, folds)

    monkeypatch.setattr(skmoe._regressor, "cross_fitted_ridge_predictions", recording)
    X, y = make_switching_regression(2_000, 3, 3, random_state=0)
    MixtureOfExpertsRegressor(n_experts=3, max_iter=4, tol=0, random_state=0).fit(X, y)
    assert seen == [False, True, True, True]
    seen.clear()
    MixtureOfExpertsRegressor(n_experts=3, max_iter=4, tol=0, random_state=0, n_init=2,
                              init="kmeans", n_jobs=2).fit(X, y)
    assert seen.count(False) == 2 and seen.count(True) == 6
