"""Linear-regression experts fitted from their weighted Gram matrices.

In an M-step every expert solves a weighted least-squares problem on the same
rows. For plain :class:`~sklearn.linear_model.LinearRegression` experts on
dense data, one pass over the rows gives all K weighted Gram matrices of
``[x - c, 1, y - c_y]`` (a BLAS product per block of rows); each expert then
needs only a ``(d + 2) x (d + 2)`` matrix. Fitting the expert itself on
``2 d`` rows built from a square root of its centred Gram matrix gives the
estimator the coefficients, intercept, rank and singular values that
``fit(X, y, sample_weight=w)`` gives, without a pass over X per expert and
without the copy of X that ``fit`` makes. That ``fit`` runs once per distinct
set of parameters, in the first EM iteration, to check them; every other time
the same solution sets those attributes directly.

The normal equations square the condition number, so an expert whose
standardised Gram matrix is ill-conditioned is left to its own ``fit``.
"""

from numbers import Real
from typing import NamedTuple

import numpy as np
from sklearn.linear_model import LinearRegression

from ._gram_kernels import (
    _BLOCK_ROWS,
    _MIN_CENTRED_RATIO,
    _MIN_EIGENVALUE_RATIO,
    _TOL_MARGIN,
    solve_gram_stack,
    weighted_design_block,
)
from ._scaling import magnitude

# Magnitudes of columns, targets and weights within which Gram matrices are safe.
_GRAM_MAGNITUDE = (2.0**-150, 2.0**150)


# --------------------------------------------------------- Gram algebra
def weighted_design_block_reference(X, y, weights, center, y_center):
    """NumPy twin of :func:`weighted_design_block` over all rows.

    Returns
    -------
    design : ndarray of shape (n_samples, n_features + 2)
    products : ndarray of shape (n_samples, n_experts * (n_features + 2))
    """
    design = np.column_stack([X - center, np.ones(X.shape[0]), y - y_center])
    products = (weights[:, :, None] * design[:, None, :]).reshape(X.shape[0], -1)
    return design, products


def solve_grams_reference(grams, centred, min_ratio):
    """NumPy twin of :func:`solve_gram_stack`: the same outputs, from stacked NumPy calls.

    Returns
    -------
    solution : GramSolution
    """
    n_features = grams.shape[1] - 2
    total = grams[:, n_features, n_features]
    usable = (total > 0) & np.all(np.isfinite(grams), axis=(1, 2))
    safe_total = np.where(usable, total, 1.0)
    weight = np.asarray(centred, dtype=np.float64) * safe_total
    finite = np.where(usable[:, None, None], grams, 0.0)
    x_shift = np.where(usable[:, None], finite[:, :n_features, n_features] / safe_total[:, None],
                       0.0)
    y_shift = np.where(usable, finite[:, n_features + 1, n_features] / safe_total, 0.0)
    xx = finite[:, :n_features, :n_features] - (
        weight[:, None, None] * x_shift[:, :, None] * x_shift[:, None, :]
    )
    xy = finite[:, :n_features, n_features + 1] - weight[:, None] * x_shift * y_shift[:, None]
    diagonal = np.diagonal(xx, axis1=1, axis2=2)
    usable &= np.all(diagonal > _MIN_CENTRED_RATIO * np.diagonal(finite, axis1=1, axis2=2)
                     [:, :n_features], axis=1)
    scale = np.sqrt(np.where(usable[:, None], diagonal, 1.0))
    standardised = xx / (scale[:, :, None] * scale[:, None, :])
    standardised[~usable] = np.eye(n_features)
    values, vectors = np.linalg.eigh(standardised)
    usable &= values[:, 0] > min_ratio * values[:, -1]
    eigenvalues = np.where(usable[:, None], values, 1.0)
    eigenvectors = np.where(usable[:, None, None], vectors, 0.0)
    scale = np.where(usable[:, None], scale, 1.0)
    root = np.sqrt(eigenvalues)[:, :, None] * np.swapaxes(eigenvectors, 1, 2) * scale[:, None, :]
    singular = np.where(usable[:, None], np.linalg.svd(root, compute_uv=False), 1.0)
    projected = np.einsum("kji,kj->ki", eigenvectors, xy / scale)
    coef = np.einsum("kij,kj->ki", eigenvectors, projected / eigenvalues) / scale
    return GramSolution(usable, x_shift, y_shift, scale, eigenvalues, eigenvectors, root,
                        singular, projected, coef)

class GramSolution(NamedTuple):
    """Each expert's normal equations, decomposed (see :func:`solve_gram_stack`)."""

    usable: np.ndarray
    x_shift: np.ndarray
    y_shift: np.ndarray
    scale: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    root: np.ndarray
    singular: np.ndarray
    projected: np.ndarray
    coef: np.ndarray


def solve_grams(grams, centred, min_ratio):
    """:func:`solve_gram_stack` on a stack of Gram matrices, as a :class:`GramSolution`.

    Parameters
    ----------
    grams : ndarray of shape (n_experts, n_features + 2, n_features + 2)
    centred : ndarray of shape (n_experts,), bool
    min_ratio : float

    Returns
    -------
    solution : GramSolution
    """
    return GramSolution(*solve_gram_stack(np.ascontiguousarray(grams), centred, min_ratio))


def grams_are_safe(X, y, sample_weight):
    """Whether the weighted Gram matrices of X and y keep their digits in float64.

    Their entries are weighted squares: with columns, targets and weights
    between 2**-150 and 2**150 in magnitude (about 1e-45 to 1e45) they neither
    overflow nor lose digits to underflow. Otherwise the experts' own ``fit``
    (which works in scaled units, or by SVD) is used.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        The experts' inputs.
    y : ndarray of shape (n_samples,)
        Targets.
    sample_weight : ndarray of shape (n_samples,)
        Row weights.

    Returns
    -------
    bool
    """
    if not isinstance(X, np.ndarray) or np.ndim(y) != 1:
        return True
    values = [magnitude(X), magnitude(np.asarray(y, dtype=np.float64)[:, None]),
              magnitude(sample_weight[:, None])]
    return all(np.all((value >= _GRAM_MAGNITUDE[0]) & (value <= _GRAM_MAGNITUDE[1]))
               for value in values)


def fits_from_gram(expert, X):
    """Whether ``expert`` can be fitted on ``X`` through :func:`fit_from_gram`.

    Parameters
    ----------
    expert : estimator
        An expert of the mixture.
    X : ndarray or sparse matrix
        The experts' inputs.

    Returns
    -------
    bool
        True for a plain LinearRegression (not a subclass, not ``positive``)
        on a dense float64 array. Parameters of the wrong type send the expert
        to its own ``fit``, which names the problem.
    """
    return (
        type(expert) is LinearRegression
        and expert.positive is False
        and isinstance(expert.fit_intercept, bool)
        and isinstance(expert.tol, Real)
        and isinstance(X, np.ndarray)
        and X.dtype == np.float64
    )


def gram_shift(X, y, fit_intercept):
    """The shift ``(c, c_y)`` of :func:`weighted_grams`' rows: the means of ``X``
    and ``y`` with an intercept, zeros without.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    fit_intercept : bool

    Returns
    -------
    center : ndarray of shape (n_features,)
    y_center : float
    """
    if not fit_intercept:
        return np.zeros(X.shape[1]), 0.0
    # The means through BLAS: NumPy's reduction along the rows of a narrow X
    # costs more than the whole Gram pass on small data. Any shift near the
    # data's centre serves.
    mean_weights = np.full(X.shape[0], 1.0 / X.shape[0])
    return mean_weights @ X, float(mean_weights @ y)


def weighted_grams(X, y, weights, fit_intercept, shift=None):
    """The weighted Gram matrices of ``z_i = [x_i - c, 1, y_i - c_y]``, one per column.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs, float64.
    y : ndarray of shape (n_samples,)
        Targets.
    weights : ndarray of shape (n_samples, n_experts)
        Each expert's row weights.
    fit_intercept : bool
        Shift X and y by their means (``c``, ``c_y``) so that centring each
        expert's matrix cancels no digits; without intercept, no shift.
    shift : tuple of (ndarray of shape (n_features,), float), default=None
        ``(c, c_y)`` to use instead of the means of these rows (with
        ``fit_intercept``): matrices of subsets of the rows computed with one
        shift add up to the matrix of their union.

    Returns
    -------
    grams : ndarray of shape (n_experts, n_features + 2, n_features + 2)
        ``sum_i weights[i, k] z_i z_i^T``.
    center : ndarray of shape (n_features,)
        ``c``.
    y_center : float
        ``c_y``.
    """
    n_samples, n_features = X.shape
    n_experts = weights.shape[1]
    n_columns = n_features + 2
    if fit_intercept and shift is not None:
        center, y_center = shift
    else:
        center, y_center = gram_shift(X, y, fit_intercept)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    rows = min(_BLOCK_ROWS, n_samples)
    design = np.empty((rows, n_columns))
    products = np.empty((rows, n_experts * n_columns))
    if rows == n_samples:
        # One block (small data): its product is the sum.
        weighted_design_block(X, y, weights, center, y_center, 0, n_samples, design, products)
        return (products.T @ design).reshape(n_experts, n_columns, n_columns), center, y_center
    grams = np.zeros((n_experts * n_columns, n_columns))
    for start in range(0, n_samples, rows):
        stop = min(n_samples, start + rows)
        weighted_design_block(X, y, weights, center, y_center, start, stop, design, products)
        used = stop - start
        grams += products[:used].T @ design[:used]
    return grams.reshape(n_experts, n_columns, n_columns), center, y_center


def fit_from_gram(expert, gram, center, y_center, validate=True):
    """Fit one LinearRegression expert from its weighted Gram matrix.

    :func:`fit_from_grams` for a single expert.

    Parameters
    ----------
    expert : LinearRegression
        The expert; fitted in place.
    gram : ndarray of shape (n_features + 2, n_features + 2)
        Its matrix from :func:`weighted_grams`.
    center : ndarray of shape (n_features,)
        The shift of the inputs used for ``gram``.
    y_center : float
        The shift of the targets used for ``gram``.
    validate : bool, default=True
        See :func:`fit_from_grams`.

    Returns
    -------
    expert : LinearRegression or None
        The fitted expert, or None when the problem is left to its own ``fit``.
    """
    return fit_from_grams([expert], gram[None], center, y_center, [validate])[0]


def fit_from_grams(experts, grams, center, y_center, validate):
    """Fit LinearRegression experts from their weighted Gram matrices, all at once.

    The small linear algebra (centring, eigendecompositions, singular values)
    is one Numba call for the stack (:func:`solve_gram_stack`): on small
    data the fixed cost of each NumPy call, not the arithmetic, is what an
    M-step pays.

    Parameters
    ----------
    experts : list of LinearRegression
        The experts; fitted in place.
    grams : ndarray of shape (n_experts, n_features + 2, n_features + 2)
        Their matrices from :func:`weighted_grams`.
    center : ndarray of shape (n_features,)
        The shift of the inputs used for ``grams``.
    y_center : float
        The shift of the targets used for ``grams``.
    validate : list of bool
        For each expert: fit through its own ``fit``, which validates its
        parameters. Otherwise the attributes ``fit`` sets (``coef_``,
        ``intercept_``, ``rank_``, ``singular_``, ``n_features_in_``) are set
        from the same solution directly: the EM loop validates each set of
        parameters once, in its first iteration, and on small data ``fit``'s
        checks were most of the cost of an M-step.

    Returns
    -------
    fitted : list of LinearRegression or None
        Each expert fitted as ``expert.fit(X, y, sample_weight=w)`` would
        leave it up to rounding; None where the problem is too ill-conditioned
        for the normal equations (or has no weight), and then that expert is
        untouched.
    """
    n_features = grams.shape[1] - 2
    # Centre each expert with an intercept on its own weighted means.
    centred = np.array([bool(expert.fit_intercept) for expert in experts])
    solution = solve_grams(grams, centred, _MIN_EIGENVALUE_RATIO)
    usable, x_shift, y_shift = solution.usable, solution.x_shift, solution.y_shift
    eigenvalues, root, singular = solution.eigenvalues, solution.root, solution.singular
    projected, coef = solution.projected, solution.coef
    # root.T @ root == xx: its singular values are those of the weighted, centred
    # inputs, the ones ``fit`` reports (and truncates below tol times the largest).
    # Which directions ``fit`` would drop is decided by its own SVD of the data.
    fitted = [None] * len(experts)
    for k, expert in enumerate(experts):
        tol = float(expert.tol)
        if not (usable[k] and (tol <= 0 or singular[k, -1] > _TOL_MARGIN * tol * singular[k, 0])):
            continue
        x_mean, y_mean = center + x_shift[k], y_center + y_shift[k]
        if not validate[k]:
            # What ``fit`` on the rows below would set: the rank is full here.
            expert.coef_ = coef[k].copy()
            expert.intercept_ = y_mean - x_mean @ coef[k] if expert.fit_intercept else 0.0
            expert.rank_ = n_features
            expert.singular_ = singular[k].copy()
            expert.n_features_in_ = n_features
            fitted[k] = expert
            continue
        # With root.T @ target == xy, the 2 d rows +-root / sqrt(2) (shifted to the
        # weighted means) have the centred Gram matrix and cross-products of the
        # weighted data: the expert's own fit on them gives the weighted solution.
        target = projected[k] / np.sqrt(eigenvalues[k])
        rows = np.vstack([root[k], -root[k]]) / np.sqrt(2.0)
        targets = np.concatenate([target, -target]) / np.sqrt(2.0)
        if expert.fit_intercept:
            rows += x_mean
            targets += y_mean
        fitted[k] = expert.fit(rows, targets)
    return fitted


def linear_predictions(experts, X, out):
    """Predictions of fitted plain LinearRegression experts, one BLAS product for all.

    Parameters
    ----------
    experts : list of (int, LinearRegression)
        Column of ``out`` and the fitted expert.
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    out : ndarray of shape (n_samples, n_columns)
        Output: each expert's predictions in its column.
    """
    if not experts:
        return
    columns = [k for k, _ in experts]
    coef = np.empty((X.shape[1], len(experts)))
    intercept = np.empty(len(experts))
    for j, (_, expert) in enumerate(experts):
        coef[:, j] = np.ravel(expert.coef_)
        value = expert.intercept_
        # A float intercept (one target) without the cost of an array around it.
        intercept[j] = value if isinstance(value, float) else np.ravel(value)[0]
    if columns == list(range(out.shape[1])) and out.flags.c_contiguous:
        # Every column: straight into ``out``, no temporary of its size.
        np.matmul(X, coef, out=out)
        out += intercept
    else:
        out[:, columns] = X @ coef + intercept
