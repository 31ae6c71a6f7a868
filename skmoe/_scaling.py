"""Means, spreads and standardisation that neither overflow nor underflow.

A variance squares the data: the squares of columns beyond about 1e154 in
magnitude overflow, those below about 1e-154 lose their digits. Every spread
computed here is computed on the columns divided by a power of two near their
largest magnitude (an exact division), and multiplied back at the end; sample
weights are divided by their largest value wherever their scale cannot change
the result (a weighted mean or spread).
"""

import math
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import StandardScaler

# Magnitudes (as :func:`magnitude` gives them) whose squares are normal float64
# numbers: beyond them sums of squares overflow or lose their digits.
SQUARE_SAFE = (2.0**-500, 2.0**500)
# Rows per block when a scaler is fitted on a large dense X (see fit_standard_scaler).
_SCALER_BLOCK_ROWS = 16384
# Sparse inputs are made dense where the fit on dense rows is the exact one
# (Newton's method, centred gate columns) while the copy has at most this many
# entries, 256 MiB of float64: wider sparse inputs (text, one-hot codes) keep
# their sparse path, whose memory is that of X.
DENSE_COPY_MAX_ENTRIES = 2**25


def magnitude(X):
    """A power of two per column, about the largest absolute value in it.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features) or (n_samples,)
        Values; NaN is ignored.

    Returns
    -------
    magnitude : ndarray of shape (n_features,) or float
        ``2**e`` with every ``|X[:, j]| / magnitude[j]`` below 2; 1 for a
        column of zeros (or of NaN).
    """
    if sp.issparse(X):
        largest = np.asarray(abs(X).max(axis=0).todense()).ravel()
    elif not X.shape[0]:
        largest = np.zeros(X.shape[1:])
    else:
        # From the extremes: no array of absolute values as large as X.
        with np.errstate(invalid="ignore"):
            largest = np.maximum(X.max(axis=0), -X.min(axis=0))
        if np.isnan(largest).any():
            # inf stays inf (mapped to 1 below, as without NaN), NaN counts as 0.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                largest = np.nan_to_num(np.nanmax(np.abs(X), axis=0), nan=0.0, posinf=np.inf)
    largest = np.where(np.isfinite(largest) & (largest > 0), largest, 1.0)
    # frexp gives |largest| = m 2^e with m in [0.5, 1); 2^(e - 1) cannot overflow.
    return np.ldexp(1.0, np.frexp(largest)[1] - 1)


def power_of_two(value):
    """:func:`magnitude` of one float, without the cost of arrays.

    Parameters
    ----------
    value : float

    Returns
    -------
    magnitude : float
        ``2**e`` with ``|value| / magnitude`` below 2; 1 for zero, NaN or inf.
    """
    largest = abs(value)
    if not (math.isfinite(largest) and largest > 0):
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1] - 1)


def divide_columns(X, scale):
    """``X / scale`` column by column, for dense or sparse X (a new array)."""
    if sp.issparse(X):
        return sp.csr_matrix(X @ sp.diags(1.0 / scale))
    return X / scale


def unit_weights(sample_weight):
    """Sample weights divided by the largest one (the mean and spread they give do not change)."""
    largest = sample_weight.max()
    return sample_weight / largest if largest > 0 else sample_weight


def weighted_spread(values, sample_weight):
    """Weighted mean and standard deviation of a 1-D array, without overflow.

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        Finite values.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights, not all zero.

    Returns
    -------
    mean, std : float
        ``std`` may be inf when the spread itself is beyond float64. Values
        that are equal on every row of positive weight give that value and a
        ``std`` of exactly 0 (the rounding of the weighted mean gave a spread
        of about 1e-16 of the value: a constant ``y`` of 0.1 was given noise
        floors 1e13 times tighter than one of 3).
    """
    kept = values[sample_weight > 0]
    if kept.size and kept.min() == kept.max():
        return float(kept[0]), 0.0
    unit = float(magnitude(values[:, None])[0])
    scaled = values / unit
    weights = unit_weights(sample_weight)
    mean = np.average(scaled, weights=weights)
    std = np.sqrt(np.average((scaled - mean) ** 2, weights=weights))
    with np.errstate(over="ignore"):
        return float(mean * unit), float(std * unit)


def weighted_median(values, weights):
    """The weighted median of ``values``: the smallest value with half the weight at or below it.

    Parameters
    ----------
    values : ndarray of shape (n,)
    weights : ndarray of shape (n,)
        Non-negative weights, not all zero.

    Returns
    -------
    median : float
    """
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


# The median absolute deviation of normal values times this is their standard deviation.
MAD_TO_SD = 1.0 / 0.6744897501960817
# A value at least this many robust standard deviations (MAD_TO_SD times a median
# absolute deviation) from its centre is far: a normal value is with a chance of
# 1.5e-23, a Student t value of 3 degrees of freedom with 0.002.
FAR_ROBUST_SDS = 10.0


def robust_spread(values, sample_weight):
    """The weighted median absolute deviation from the weighted median, scaled to be the
    standard deviation of normal values: a spread that one far value does not raise.

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        Finite values.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights, not all zero.

    Returns
    -------
    spread : float
        0 when more than half the weight sits on one value.
    """
    centre = weighted_median(values, sample_weight)
    return MAD_TO_SD * weighted_median(np.abs(values - centre), sample_weight)


def fit_standard_scaler(X, sample_weight, with_mean):
    """A StandardScaler fitted with weights, in units of X, that no square overflows.

    The scaler is fitted on the columns divided by their :func:`magnitude`
    (with the weights divided by the largest one), and its ``mean_`` and
    ``scale_`` are multiplied back: ``transform`` then standardises X as a
    scaler fitted on X would, for columns of any magnitude in float64.
    ``var_`` is ``scale_**2``, inf for columns whose variance is beyond
    float64 (``transform`` does not use it).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Columns to standardise.
    sample_weight : ndarray of shape (n_samples,)
        Row weights.
    with_mean : bool
        Centre the columns (not for sparse X).

    Returns
    -------
    scaler : StandardScaler
        Fitted.
    """
    unit = magnitude(X)
    scaler = StandardScaler(with_mean=with_mean)
    weights = unit_weights(sample_weight)
    if sp.issparse(X) or X.shape[0] <= _SCALER_BLOCK_ROWS or np.isnan(X.max(axis=0)).any():
        scaler.fit(divide_columns(X, unit), sample_weight=weights)
    else:
        # By blocks of rows: fitting on all of X at once makes several arrays
        # as large as X (the divided copy, and scikit-learn's own temporaries).
        # Blocks without weight are left out: as a first block, their count of
        # zero would make the running mean 0 / 0.
        for start in range(0, X.shape[0], _SCALER_BLOCK_ROWS):
            rows = slice(start, start + _SCALER_BLOCK_ROWS)
            if weights[rows].any():
                scaler.partial_fit(X[rows] / unit, sample_weight=weights[rows])
    if scaler.mean_ is not None:
        scaler.mean_ = scaler.mean_ * unit
    scaler.scale_ = scaler.scale_ * unit
    with np.errstate(over="ignore"):
        scaler.var_ = scaler.var_ * unit**2
    return scaler
