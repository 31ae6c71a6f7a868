"""The compiled Gram algebra of linear experts: their weighted Gram matrices and solves,
and the whole M-step of plain LinearRegression experts with Gaussian noise.

:mod:`skmoe._linear` builds its M-step on these kernels (and holds their
NumPy twins), :mod:`skmoe._linear_em` its prepared one; they are apart from
those so that compiling them (``python -m skmoe warmup``) needs Numba and
NumPy only, not scikit-learn.
"""

import math

import numpy as np
from numba import njit

from ._kernels import _SERIAL, _gaussian_serial

# Rows per block: the products of a block (K (d + 2) columns) stay in cache.
_BLOCK_ROWS = 1024
# Smallest eigenvalue of the standardised Gram matrix, relative to its largest,
# that the normal equations are trusted with: the solution then keeps about
# nine of its sixteen digits, the rest is left to ``fit``'s own SVD.
_MIN_EIGENVALUE_RATIO = 1e-6
# Smallest centred diagonal of an expert's Gram matrix, relative to the same
# entry about the rows' shared shift, that keeps half its digits: centring a
# column that is constant on the expert's rows (up to the rounding of the
# shift) leaves a residue of rounding errors, which standardising would blow up
# into a column like any other, with a coefficient of 1e14.
_MIN_CENTRED_RATIO = 1e-8
# How far above LinearRegression's ``tol`` cutoff the smallest singular value
# must be for the Gram path to know that ``fit`` would keep every direction.
_TOL_MARGIN = 10.0


@njit(**_SERIAL)
def weighted_design_block(X, y, weights, center, y_center, start, stop, design, products):
    """Rows ``start:stop`` of the augmented design and its products with each weight column.

    With ``z_i = [x_i - center, 1, y_i - y_center]`` (length ``d + 2``), writes
    ``design[i - start] = z_i`` and ``products[i - start, k (d + 2) + a] =
    weights[i, k] z_ia``, so that ``products.T @ design`` is the stack of the
    K weighted Gram matrices ``sum_i w_ik z_i z_i^T`` of these rows, one BLAS
    call for all experts.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples,)
        Targets.
    weights : ndarray of shape (n_samples, n_experts)
        Each expert's row weights.
    center : ndarray of shape (n_features,)
        Shift of the inputs (their mean keeps the Gram matrices well scaled).
    y_center : float
        Shift of the targets.
    start, stop : int
        The rows of this block.
    design : ndarray of shape (>= stop - start, n_features + 2)
        Output: the augmented rows.
    products : ndarray of shape (>= stop - start, n_experts * (n_features + 2))
        Output: the augmented rows times each expert's weight.
    """
    n_features = X.shape[1]
    n_columns = n_features + 2
    n_experts = weights.shape[1]
    for i in range(stop - start):
        row = start + i
        for a in range(n_features):
            design[i, a] = X[row, a] - center[a]
        design[i, n_features] = 1.0
        design[i, n_features + 1] = y[row] - y_center
        for k in range(n_experts):
            w = weights[row, k]
            offset = k * n_columns
            for a in range(n_columns):
                products[i, offset + a] = w * design[i, a]


@njit(cache=True, nogil=True)
def solve_gram_stack(grams, centred, min_ratio):
    """The normal equations of each expert's weighted Gram matrix, decomposed (kernel).

    :func:`skmoe._linear.solve_grams` gives its outputs as a
    :class:`~skmoe._linear.GramSolution`.

    For expert ``k`` with matrix ``grams[k]`` from
    :func:`~skmoe._linear.weighted_grams` (rows and columns ``[x - c, 1,
    y - c_y]``): the total weight ``t`` and the weighted means' offsets
    ``x_shift`` and ``y_shift``; the cross-products ``xx`` and ``xy`` of the
    inputs and target, centred on those means when
    ``centred[k]``; the scale ``sqrt(diag(xx))``; the eigendecomposition
    ``V diag(lambda) V^T`` of the standardised ``xx / (scale scale^T)``; the
    square root ``root = diag(sqrt(lambda)) V^T diag(scale)`` of ``xx`` and its
    singular values; ``V^T (xy / scale)``; and the solution of the normal
    equations ``xx coef = xy``, ``coef = V (V^T (xy / scale) / lambda) / scale``.
    One call for the stack: on small data the fixed cost of a NumPy call per
    matrix, not the arithmetic, is what an M-step pays.

    An expert is usable when its matrix is finite, ``t > 0``, every entry of
    ``diag(xx)`` is more than ``_MIN_CENTRED_RATIO`` times the same entry of
    ``grams[k]`` (positive, and not the rounding residue of centring a constant
    column) and ``lambda_min > min_ratio * lambda_max``; the outputs of the
    others are placeholders.

    Parameters
    ----------
    grams : ndarray of shape (n_experts, n_features + 2, n_features + 2)
    centred : ndarray of shape (n_experts,), bool
        Whether each expert has an intercept.
    min_ratio : float
        Smallest trusted ratio of the standardised matrix's eigenvalues.

    Returns
    -------
    usable : ndarray of shape (n_experts,), bool
    x_shift : ndarray of shape (n_experts, n_features)
    y_shift : ndarray of shape (n_experts,)
    scale : ndarray of shape (n_experts, n_features)
    eigenvalues : ndarray of shape (n_experts, n_features)
        Ascending.
    eigenvectors : ndarray of shape (n_experts, n_features, n_features)
        Columns.
    root : ndarray of shape (n_experts, n_features, n_features)
    singular : ndarray of shape (n_experts, n_features)
        Descending.
    projected : ndarray of shape (n_experts, n_features)
    coef : ndarray of shape (n_experts, n_features)
        Twin: :func:`skmoe._linear.solve_grams_reference`.
    """
    n_experts = grams.shape[0]
    n_features = grams.shape[1] - 2
    # np.empty and a fill: np.zeros and np.ones would each add compilations.
    usable = np.empty(n_experts, dtype=np.bool_)
    usable[:] = False
    x_shift = np.empty((n_experts, n_features))
    x_shift[:] = 0.0
    y_shift = np.empty(n_experts)
    y_shift[:] = 0.0
    scale = np.empty((n_experts, n_features))
    scale[:] = 1.0
    eigenvalues = np.empty((n_experts, n_features))
    eigenvalues[:] = 1.0
    eigenvectors = np.empty((n_experts, n_features, n_features))
    eigenvectors[:] = 0.0
    root = np.empty((n_experts, n_features, n_features))
    root[:] = 0.0
    singular = np.empty((n_experts, n_features))
    singular[:] = 1.0
    projected = np.empty((n_experts, n_features))
    projected[:] = 0.0
    coef = np.empty((n_experts, n_features))
    coef[:] = 0.0
    for k in range(n_experts):
        gram = grams[k]
        total = gram[n_features, n_features]
        # Not finite (an overflow of huge inputs): left to the expert's own fit.
        if not (total > 0 and _all_finite(gram)):
            continue
        for a in range(n_features):
            x_shift[k, a] = gram[a, n_features] / total
        y_shift[k] = gram[n_features + 1, n_features] / total
        weight = total if centred[k] else 0.0
        xx = np.empty((n_features, n_features))
        xy = np.empty(n_features)
        for a in range(n_features):
            for b in range(n_features):
                xx[a, b] = gram[a, b] - weight * x_shift[k, a] * x_shift[k, b]
            xy[a] = gram[a, n_features + 1] - weight * x_shift[k, a] * y_shift[k]
        positive = True
        for a in range(n_features):
            if not xx[a, a] > _MIN_CENTRED_RATIO * gram[a, a]:
                positive = False
        if not positive:
            continue
        for a in range(n_features):
            scale[k, a] = np.sqrt(xx[a, a])
        for a in range(n_features):
            for b in range(n_features):
                xx[a, b] /= scale[k, a] * scale[k, b]
        values, vectors = np.linalg.eigh(xx)
        if not values[0] > min_ratio * values[n_features - 1]:
            continue
        usable[k] = True
        # Element by element: an array assigned to a slice would compile Numba's
        # shape-mismatch message (its string formatting) into the kernel.
        for a in range(n_features):
            eigenvalues[k, a] = values[a]
            for b in range(n_features):
                eigenvectors[k, a, b] = vectors[a, b]
        for a in range(n_features):
            root_value = np.sqrt(values[a])
            for b in range(n_features):
                root[k, a, b] = root_value * vectors[b, a] * scale[k, b]
            acc = 0.0
            for b in range(n_features):
                acc += vectors[b, a] * xy[b] / scale[k, b]
            projected[k, a] = acc
        for b in range(n_features):
            acc = 0.0
            for a in range(n_features):
                acc += vectors[b, a] * projected[k, a] / values[a]
            coef[k, b] = acc / scale[k, b]
        values = np.linalg.svd(root[k])[1]
        for a in range(n_features):
            singular[k, a] = values[a]
    return (usable, x_shift, y_shift, scale, eigenvalues, eigenvectors, root, singular,
            projected, coef)


@njit(cache=True, nogil=True)
def _all_finite(matrix):
    """Whether every entry of a matrix is finite (a loop: ``np.isfinite`` costs a compilation)."""
    for a in range(matrix.shape[0]):
        for b in range(matrix.shape[1]):
            if not math.isfinite(matrix[a, b]):
                return False
    return True


# linear_gaussian_m_step's outcomes.
DONE, ILL_CONDITIONED, NOT_FINITE = 0, 1, 2


@njit(cache=True, nogil=True)
def linear_gaussian_m_step(X, y, targets, sample_weight, center, y_center, centred, tols,
                           floor, weights, design, products, coef, intercept, singular,
                           predictions, log_lik, residuals, variance):
    """The M-step of plain LinearRegression experts with Gaussian noise, in one call.

    What the general M-step computes for them, in the same operations:
    ``weights = targets * sample_weight``; the weighted Gram matrices of
    ``[x - center, 1, y - y_center]`` (:func:`~skmoe._linear.weighted_grams`:
    blocks of ``_BLOCK_ROWS`` rows, one BLAS product each);
    :func:`~skmoe._linear.solve_gram_stack`; each expert's coefficients and
    intercept (:func:`~skmoe._linear.fit_from_grams`); the predictions (one
    BLAS product, :func:`~skmoe._linear.linear_predictions`); the weighted
    sums of squared residuals with the weights divided by a power of two near
    the largest, and the noise variances floored (the regressor's
    ``_likelihood_m_step``, whose ``einsum`` and column sums add the rows in
    order, as the loops here do); the Gaussian log-densities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    targets : ndarray of shape (n_samples, n_experts)
        The responsibilities.
    sample_weight : ndarray of shape (n_samples,)
    center : ndarray of shape (n_features,)
    y_center : float
        The shift of the Gram matrices (the rows' means with intercepts, else 0).
    centred : ndarray of shape (n_experts,), bool
        Whether each expert fits an intercept.
    tols : ndarray of shape (n_experts,)
        Each expert's ``tol``.
    floor : float
        The noise variances' floor; NaN at a start's first M-step, whose
        pooled floor the caller fixes from ``residuals`` (then the variances
        and log-densities are left to it).
    weights : ndarray of shape (n_samples, n_experts)
        Output: ``targets * sample_weight``.
    design, products : ndarray
        The Gram buffers: ``design`` (rows, n_features + 2) and ``products``
        (rows, n_experts (n_features + 2)), rows ``min(_BLOCK_ROWS, n_samples)``.
    coef, intercept : ndarray of shape (n_features, n_experts) and (n_experts,)
        Output: the experts' coefficients, as ``linear_predictions`` arranges them.
    singular : ndarray of shape (n_experts, n_features)
        Output: each expert's singular values.
    predictions, log_lik : ndarray of shape (n_samples, n_experts)
        Output.
    residuals, variance : ndarray of shape (n_experts,)
        Output: the weighted sums of squared residuals (with the scaled
        weights) and the noise variances.

    Returns
    -------
    outcome : int
        ``DONE``; ``ILL_CONDITIONED`` when an expert's problem is left to its
        own ``fit`` (nothing after the Gram solve is written); ``NOT_FINITE``
        when a prediction is not finite.
    unit : float
        The power of two the weights were divided by in the sums.
    """
    n_samples, n_features = X.shape
    n_experts = targets.shape[1]
    n_columns = n_features + 2
    for i in range(n_samples):
        for k in range(n_experts):
            weights[i, k] = targets[i, k] * sample_weight[i]
    rows = design.shape[0]
    if rows == n_samples:
        # (np.int64: a literal 0 would compile weighted_design_block once more.)
        weighted_design_block(X, y, weights, center, y_center, np.int64(0), n_samples,
                              design, products)
        flat = np.dot(products.T, design)
    else:
        flat = np.empty((n_experts * n_columns, n_columns))
        flat[:] = 0.0
        for start in range(0, n_samples, rows):
            stop = min(n_samples, start + rows)
            weighted_design_block(X, y, weights, center, y_center, start, stop, design,
                                  products)
            used = stop - start
            flat += np.dot(products[:used].T, design[:used])
    grams = flat.reshape(n_experts, n_columns, n_columns)
    usable, x_shift, y_shift, _, _, _, _, solved_singular, _, solved_coef = solve_gram_stack(
        grams, centred, _MIN_EIGENVALUE_RATIO)
    for k in range(n_experts):
        tol = tols[k]
        if not (usable[k] and (tol <= 0 or solved_singular[k, n_features - 1]
                               > _TOL_MARGIN * tol * solved_singular[k, 0])):
            return ILL_CONDITIONED, 1.0
    x_mean = np.empty(n_features)
    for k in range(n_experts):
        for a in range(n_features):
            coef[a, k] = solved_coef[k, a]
            singular[k, a] = solved_singular[k, a]
        if centred[k]:
            for a in range(n_features):
                x_mean[a] = center[a] + x_shift[k, a]
            intercept[k] = (y_center + y_shift[k]) - np.dot(x_mean, solved_coef[k])
        else:
            intercept[k] = 0.0
    np.dot(X, coef, predictions)
    for i in range(n_samples):
        for k in range(n_experts):
            predictions[i, k] += intercept[k]
            if not math.isfinite(predictions[i, k]):
                return NOT_FINITE, 1.0
    # power_of_two of the largest weight (weights.max() as a loop, NaN first as it
    # gives it: np.max would add a compilation).
    largest = -math.inf
    for i in range(n_samples):
        for k in range(n_experts):
            value = weights[i, k]
            if value != value:
                largest = value
            elif value > largest:
                largest = value
    largest = abs(largest)
    unit = 1.0
    if math.isfinite(largest) and largest > 0:
        unit = math.ldexp(1.0, math.frexp(largest)[1] - 1)
    column_sums = np.empty(n_experts)
    column_sums[:] = 0.0
    residuals[:] = 0.0
    for i in range(n_samples):
        for k in range(n_experts):
            weight = weights[i, k] / unit if unit != 1.0 else weights[i, k]
            residual = predictions[i, k] - y[i]
            log_lik[i, k] = residual * residual
            residuals[k] += weight * log_lik[i, k]
            column_sums[k] += weight
    if math.isnan(floor):
        return DONE, unit
    for k in range(n_experts):
        value = residuals[k] / column_sums[k]
        variance[k] = value if value >= floor or math.isnan(value) else floor
    _gaussian_serial(y, predictions, variance, log_lik)
    return DONE, unit
