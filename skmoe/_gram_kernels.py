"""The compiled Gram algebra of linear experts: their weighted Gram matrices and solves.

:mod:`skmoe._linear` builds its M-step on these kernels (and holds their
NumPy twins); they are apart from it so that compiling them (``python -m
skmoe warmup``) needs Numba and NumPy only, not scikit-learn.
"""

import math

import numpy as np
from numba import njit

from ._kernels import _SERIAL


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
    ``diag(xx)`` is positive and ``lambda_min > min_ratio * lambda_max``; the
    outputs of the others are placeholders.

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
    usable = np.zeros(n_experts, dtype=np.bool_)
    x_shift = np.zeros((n_experts, n_features))
    y_shift = np.zeros(n_experts)
    scale = np.ones((n_experts, n_features))
    eigenvalues = np.ones((n_experts, n_features))
    eigenvectors = np.zeros((n_experts, n_features, n_features))
    root = np.zeros((n_experts, n_features, n_features))
    singular = np.ones((n_experts, n_features))
    projected = np.zeros((n_experts, n_features))
    coef = np.zeros((n_experts, n_features))
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
            if not xx[a, a] > 0:
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
