"""Means, spreads and standardisation of skmoe._scaling, and the k-means start's rows."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import StandardScaler

from skmoe import _init, _scaling
from skmoe._scaling import fit_standard_scaler, magnitude


def _reference_magnitude(X):
    largest = np.nan_to_num(np.nanmax(np.abs(X), axis=0), nan=0.0)
    largest = np.where(np.isfinite(largest) & (largest > 0), largest, 1.0)
    return 2.0 ** (np.floor(np.log2(largest)))


def test_magnitude_is_the_power_of_two_of_the_largest_absolute_value():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)) * np.array([1e-300, 1e-5, 1.0, 3e7, 1e300, 1.0])
    X[3, 1] = -7e-3  # the largest absolute value is a negative one
    X[:, 5] = 0.0
    X[4, 2] = np.nan
    expected = _reference_magnitude(X)
    expected[5] = 1.0
    np.testing.assert_array_equal(magnitude(X), expected)
    assert magnitude(X)[1] == 2.0**-8  # 7e-3 is between 2**-8 and 2**-7
    with np.errstate(invalid="ignore"):
        infinite = np.array([[np.inf, -np.inf, np.nan], [1.0, 2.0, np.nan]])
    np.testing.assert_array_equal(magnitude(infinite), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(magnitude(np.empty((0, 3))), [1.0, 1.0, 1.0])


def _one_shot_scaler(X, sample_weight):
    unit = magnitude(X)
    scaler = StandardScaler().fit(X / unit, sample_weight=sample_weight / sample_weight.max())
    return scaler.mean_ * unit, scaler.scale_ * unit


@pytest.mark.parametrize("zero_weight_rows", [0, 20_000, 33_000])
def test_scaler_fitted_by_blocks_equals_one_fit_on_all_rows(zero_weight_rows):
    # Blocks of rows without weight (here the first one or two) are left out.
    rng = np.random.default_rng(1)
    n = 2 * _scaling._SCALER_BLOCK_ROWS + 1234
    X = rng.normal(size=(n, 4)) * np.array([1e-200, 1.0, 1e5, 1e200]) + np.array(
        [3e-200, -2.0, 7e5, 0.0])
    weights = rng.uniform(0, 3, n)
    weights[:zero_weight_rows] = 0.0
    scaler = fit_standard_scaler(X, weights * 1e250, with_mean=True)
    mean, scale = _one_shot_scaler(X, weights)
    np.testing.assert_allclose(scaler.mean_, mean, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scaler.scale_, scale, rtol=1e-12)
    standardised = scaler.transform(X)
    np.testing.assert_allclose(np.average(standardised, axis=0, weights=weights), 0.0,
                               atol=1e-12)
    np.testing.assert_allclose(np.average(standardised**2, axis=0, weights=weights), 1.0,
                               rtol=1e-12)


def test_scaler_on_large_x_with_nan_is_fitted_on_all_rows_at_once():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(_scaling._SCALER_BLOCK_ROWS + 10, 2))
    X[5, 0] = np.nan
    weights = np.ones(X.shape[0])
    scaler = fit_standard_scaler(X, weights, with_mean=True)
    mean, scale = _one_shot_scaler(X, weights)
    np.testing.assert_array_equal(scaler.mean_, mean)
    np.testing.assert_array_equal(scaler.scale_, scale)


@pytest.mark.parametrize("with_y", [True, False])
@pytest.mark.parametrize("with_nan", [True, False])
def test_kmeans_rows_are_the_standardised_columns_of_x_and_y(with_y, with_nan):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3)) * np.array([1.0, 1e6, 1e-6])
    y = rng.normal(size=300) * 50 + 3
    if with_nan:
        X[7, 1] = np.nan
    weights = rng.uniform(0.1, 1.0, 300)
    data = _init._kmeans_data(X, y if with_y else None, weights)
    filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    expected = [fit_standard_scaler(filled, weights, with_mean=True).transform(filled)]
    if with_y:
        target = y[:, None]
        expected.append(fit_standard_scaler(target, weights, with_mean=True).transform(target))
    np.testing.assert_array_equal(data, np.column_stack(expected))
    np.testing.assert_allclose(np.average(data, axis=0, weights=weights), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.average(data**2, axis=0, weights=weights), 1.0, rtol=1e-12)


def test_kmeans_rows_of_sparse_x_are_scaled_not_centred_and_y_is_standardised():
    rng = np.random.default_rng(4)
    X = sp.random(200, 5, density=0.3, format="csr", random_state=4) * 1e8
    y = rng.normal(size=200)
    weights = np.ones(200)
    data = _init._kmeans_data(X, y, weights)
    assert sp.issparse(data) and data.shape == (200, 6)
    dense = X.toarray()
    np.testing.assert_allclose(data.toarray()[:, :5], dense / dense.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(data.toarray()[:, 5], (y - y.mean()) / y.std(), rtol=1e-12)


def test_weighted_median_and_robust_spread_ignore_one_far_value():
    rng = np.random.default_rng(0)
    values = rng.normal(size=1001)
    counts = rng.integers(1, 4, size=1001)
    # Integer weights are repeated rows: the smallest value with half of them at or below it.
    repeated = np.sort(np.repeat(values, counts))
    assert _scaling.weighted_median(values, counts.astype(float)) == repeated[
        int(np.ceil(repeated.size / 2)) - 1]
    far = values.copy()
    far[0] = 1e6
    ones = np.ones(1001)
    assert _scaling.robust_spread(far, ones) == pytest.approx(1.0, rel=0.1)
    assert _scaling.robust_spread(far, ones) == pytest.approx(
        _scaling.robust_spread(values, ones), rel=0.01)
    # More than half the weight on one value: no spread.
    assert _scaling.robust_spread(np.r_[np.zeros(6), values[:5]], np.ones(11)) == 0.0
