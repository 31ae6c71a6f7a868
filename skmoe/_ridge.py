"""ScaledRidge: ridge regression whose penalty is measured in each feature's spread.

The default expert of :class:`~skmoe.MixtureOfExpertsRegressor`. In a mixture
every expert is fitted on all the rows, weighted by its responsibilities, so
the spread of a feature over the rows given to ``fit`` is its spread over the
whole training set, not over the rows the expert is responsible for. A
penalty in those units shrinks exactly the directions an expert knows little
about: a feature that is nearly constant on its own rows, which least squares
would fit with a huge coefficient and extrapolate wildly to other rows.

The solution of an expert is the same whether it is fitted by its own ``fit``
or, inside the EM loop, from its weighted Gram matrix (``solve_scaled_ridge``
is the one solver both use).
"""

from numbers import Real
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import check_is_fitted, validate_data

from ._gram_kernels import weighted_design_block
from ._linear import weighted_grams
from ._scaling import divide_columns, magnitude, unit_weights
from ._validation import (
    Interval,
    _fit_context,
    check_no_bool_numbers,
    check_sample_weight,
    pipeline_final_step,
)

# Rows per block when the column scale of a large array is computed: the
# centred block stays small however many rows X has.
_SCALE_BLOCK_ROWS = 8192
# One row sets a column's spread when the column's standard deviation without it
# is below this fraction of the standard deviation with it: that row then holds
# over 99% of the column's sum of squares, and a penalty measured in the spread is
# over 100 times stronger on the column's effect among the other rows. On 34 data
# sets (scikit-learn's, R's and skmoe's, 21 to 2,000 rows) the smallest ratio is 0.38.
ONE_ROW_SPREAD = 0.1
# Rows per block of the out-of-fold predictions: the block's product with every
# refit's coefficients stays small.
_FOLD_BLOCK_ROWS = 8192
# Rows of one fold gathered at a time for the folds' Gram matrices: their products
# with the weights (K + 1 times as wide as X) stay in cache.
_FOLD_CHUNK_ROWS = 512


def column_scale(X):
    """Unweighted standard deviation of each column of X; 1 where a column is constant.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Inputs, finite.

    Returns
    -------
    scale : ndarray of shape (n_features,)
        Positive scales.
    """
    # The spread of the columns divided by their magnitude (below 2), whose squares
    # neither overflow nor underflow whatever the units of X.
    unit = magnitude(X)
    return _scale_of(_unit_moments(X, unit)[1], unit)


def _unit_moments(X, unit):
    """Mean and (population) variance of each column of ``X / unit``."""
    if sp.issparse(X):
        return mean_variance_axis(divide_columns(sp.csr_matrix(X, dtype=np.float64), unit),
                                  axis=0)
    n_samples = X.shape[0]
    mean = np.zeros(X.shape[1])
    for start in range(0, n_samples, _SCALE_BLOCK_ROWS):
        mean += (X[start:start + _SCALE_BLOCK_ROWS] / unit).sum(axis=0)
    mean /= n_samples
    variance = np.zeros(X.shape[1])
    for start in range(0, n_samples, _SCALE_BLOCK_ROWS):
        block = X[start:start + _SCALE_BLOCK_ROWS] / unit - mean
        variance += np.einsum("ij,ij->j", block, block)
    variance /= n_samples
    return mean, variance


def _scale_of(variance, unit):
    """Standard deviations of columns from the variances of the columns divided by
    ``unit``; 1 for a column without spread next to its magnitude."""
    scale = np.sqrt(np.maximum(variance, 0.0))
    # As StandardScaler: a column without spread (next to its magnitude) keeps its
    # units (the penalty then holds its coefficient to what the data ask, usually zero).
    constant = ~(scale > 10 * np.finfo(np.float64).eps)
    scale *= unit
    scale[constant] = 1.0
    return scale


class OneRowSpread(NamedTuple):
    """A column whose spread one row alone sets (see :func:`one_row_spreads`)."""

    column: int
    row: int
    value: float
    spread: float
    rest_spread: float


def one_row_spreads(X):
    """The columns of dense X whose standard deviation one row alone sets.

    In each column the row farthest from the mean is left out; the column is
    reported when the other rows are not all equal and their standard deviation
    is below ``ONE_ROW_SPREAD`` times the column's. A penalty measured in the
    column's spread (``ScaledRidge``, ``ScaledLogisticRegression``) is then
    more than ``1 / ONE_ROW_SPREAD**2`` times stronger on the column's effect
    among the other rows than it would be without that row. (A column constant
    but for one row, a rare indicator, is not reported: it has no effect among
    the other rows to penalise.)

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Finite inputs; sparse X and fewer than 3 rows report nothing.

    Returns
    -------
    spreads : list of OneRowSpread
        For each such column, in order: its index, the row, the row's value,
        and the column's (population) standard deviation with and without it.
    """
    n_samples = X.shape[0]
    if sp.issparse(X) or n_samples < 3:
        return []
    unit = magnitude(X)
    mean, variance = _unit_moments(X, unit)
    high, low = X.max(axis=0) / unit - mean, mean - X.min(axis=0) / unit
    farthest = np.maximum(high, low)
    # The other rows' sum of squares, n var - d^2 n / (n - 1) for the row at d from
    # the mean, screens the columns cheaply; it cancels when that row holds nearly
    # all of it, so the screen has a margin and the columns it keeps are recomputed.
    rest = n_samples * variance - farthest**2 * n_samples / (n_samples - 1)
    screened = np.flatnonzero(
        (variance > 0) & (rest < (2 * ONE_ROW_SPREAD) ** 2 * (n_samples - 1) * variance))
    spreads = []
    for j in screened:
        column = X[:, j]
        row = int(np.argmax(column) if high[j] >= low[j] else np.argmin(column))
        others = np.delete(column, row)
        if not others.min() < others.max():
            continue
        # In the other rows' own units: in the column's, their squares can underflow.
        rest_unit = float(magnitude(others[:, None])[0])
        rest_spread = float(np.std(others / rest_unit)) * rest_unit
        with np.errstate(over="ignore"):
            spread = float(np.sqrt(variance[j]) * unit[j])
        if rest_spread < ONE_ROW_SPREAD * spread:
            spreads.append(OneRowSpread(int(j), row, float(column[row]), spread, rest_spread))
    return spreads


def solve_scaled_ridge(xx, xy, scale, alpha):
    """Solve ``(xx + alpha diag(scale^2)) coef = xy`` for a stack of problems.

    Parameters
    ----------
    xx : ndarray of shape (n_problems, n_features, n_features)
        Weighted (centred) cross-products of the inputs.
    xy : ndarray of shape (n_problems, n_features)
        Weighted (centred) cross-products of inputs and target.
    scale : ndarray of shape (n_features,)
        The features' scales.
    alpha : ndarray of shape (n_problems,)
        Penalties, positive.

    Returns
    -------
    coef : ndarray of shape (n_problems, n_features)
        Solutions, in the units of the inputs (NaN where a system could not
        be solved). The systems are solved in standardised units, where the
        penalty bounds the smallest eigenvalue away from zero.
    dof : ndarray of shape (n_problems,)
        Effective degrees of freedom of each fit, ``trace((xx + alpha D)^-1
        xx)``: ``sum_j lambda_j / (lambda_j + alpha)`` over the eigenvalues
        of the standardised ``xx``. It is the number of coefficients when
        ``alpha`` is negligible next to the data and falls towards zero for
        directions the rows barely span.
    """
    standardised = xx / (scale[:, None] * scale[None, :])
    n_features = scale.shape[0]
    penalised = standardised + alpha[:, None, None] * np.eye(n_features)
    coef = np.empty_like(xy)
    dof = np.empty(xy.shape[0])
    for k in range(xy.shape[0]):
        right = np.column_stack([xy[k] / scale, standardised[k]])
        try:
            solution = scipy.linalg.solve(penalised[k], right, assume_a="pos",
                                          check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            # Not positive definite after rounding (or not finite): NaN marks it.
            coef[k], dof[k] = np.nan, np.nan
            continue
        coef[k] = solution[:, 0]
        dof[k] = np.trace(solution[:, 1:])
    return coef / scale, dof


def fits_scaled_ridge_from_gram(expert, X):
    """Whether ``expert`` is a ScaledRidge that the EM loop fits from Gram matrices on ``X``.

    Parameters
    ----------
    expert : estimator
        An expert of the mixture.
    X : ndarray or sparse matrix
        The experts' inputs.

    Returns
    -------
    bool
        True for a plain ScaledRidge (not a subclass) with valid parameters
        on a dense float64 array; otherwise its own ``fit`` runs (and names
        a bad parameter).
    """
    return (
        type(expert) is ScaledRidge
        and isinstance(expert.fit_intercept, bool)
        and isinstance(expert.alpha, Real) and expert.alpha > 0
        and isinstance(X, np.ndarray)
        and X.dtype == np.float64
    )


def fit_scaled_ridges_from_grams(experts, grams, center, y_center, scale):
    """Fit ScaledRidge experts from their weighted Gram matrices, all at once.

    Parameters
    ----------
    experts : list of ScaledRidge
        The experts, all with the same ``fit_intercept``; fitted in place.
    grams : ndarray of shape (n_experts, n_features + 2, n_features + 2)
        Their matrices from ``skmoe._linear.weighted_grams`` (rows and
        columns ``[x - center, 1, y - y_center]``).
    center : ndarray of shape (n_features,)
        The shift of the inputs used for ``grams``.
    y_center : float
        The shift of the targets used for ``grams``.
    scale : ndarray of shape (n_features,)
        :func:`column_scale` of the inputs.

    Returns
    -------
    fitted : list of ScaledRidge or None
        Each expert with the attributes its own ``fit`` on the weighted rows
        sets, up to rounding; None where the matrix is not finite or has no
        weight (that expert is left to its own ``fit``).
    """
    n_features = grams.shape[1] - 2
    total = grams[:, n_features, n_features]
    usable = (total > 0) & np.all(np.isfinite(grams), axis=(1, 2))
    safe_total = np.where(usable, total, 1.0)
    finite = np.where(usable[:, None, None], grams, 0.0)
    x_shift = finite[:, :n_features, n_features] / safe_total[:, None]
    y_shift = finite[:, n_features + 1, n_features] / safe_total
    xx = finite[:, :n_features, :n_features]
    xy = finite[:, :n_features, n_features + 1]
    intercept = bool(experts[0].fit_intercept)
    if intercept:
        xx = xx - safe_total[:, None, None] * x_shift[:, :, None] * x_shift[:, None, :]
        xy = xy - safe_total[:, None] * x_shift * y_shift[:, None]
    alpha = np.array([float(expert.alpha) for expert in experts])
    coef, dof = solve_scaled_ridge(xx, xy, scale, alpha)
    fitted = [None] * len(experts)
    for k in np.flatnonzero(usable & np.all(np.isfinite(coef), axis=1)):
        expert = experts[k]
        expert.coef_ = coef[k]
        if intercept:
            x_mean, y_mean = center + x_shift[k], y_center + y_shift[k]
            expert.intercept_ = float(y_mean - x_mean @ coef[k])
        else:
            expert.intercept_ = 0.0
        expert.scale_ = scale
        expert.effective_dof_ = float(dof[k]) + float(intercept)
        expert.n_features_in_ = n_features
        fitted[k] = expert
    return fitted


def cross_fitted_ridge_predictions(experts, X, y, weights, folds):
    """Each row's prediction by each ScaledRidge expert refitted without the row's fold.

    The refit is what ``ScaledRidge.fit`` gives on the other folds' rows with
    their weights (its ``scale_`` the spread of those rows), computed as
    :func:`fit_scaled_ridges_from_grams` computes the experts themselves: one
    pass over the rows gives every fold's weighted Gram matrices (with one
    shift, so that they add up), plus an unweighted one for the spread of the
    columns, and the problem without fold ``f`` is the total minus fold
    ``f``'s matrices (:func:`fold_refits`). This costs about one Gram pass per
    M-step, where refitting clones costs ``n_folds`` fits per expert. The
    passes go over blocks of rows: no copy of a fold's rows of X is made.

    Parameters
    ----------
    experts : list of ScaledRidge
        Fitted experts that :func:`fits_scaled_ridge_from_gram` accepts on ``X``,
        all with the same ``fit_intercept``; not modified.
    X : ndarray of shape (n_samples, n_features)
        Training inputs, float64.
    y : ndarray of shape (n_samples,)
        Training targets.
    weights : ndarray of shape (n_samples, n_experts)
        The weights each expert was fitted with.
    folds : ndarray of shape (n_samples,) of int, or FoldGrams
        The fold of each row, ``0 .. n_folds - 1``; or the folds with their
        sums already taken on ``weights`` (:meth:`FoldSumsRequest.take`: by
        the experts' own M-step), which saves the pass over X.

    Returns
    -------
    predictions : ndarray of shape (n_samples, n_experts)
        Rows of a fold whose complement has no weight for an expert, or whose
        refit cannot be solved, are predicted by the expert itself.
    """
    n_samples, n_experts = weights.shape
    if isinstance(folds, FoldGrams):
        grams, positive, shift, unit = folds.grams, folds.positive, folds.shift, folds.unit
        folds, n_folds = folds.folds, folds.n_folds
    else:
        shift = _mean_shift(X, y)
        n_folds = int(folds.max()) + 1
        grams, positive = blockwise_fold_sums(X, y, weights, folds, n_folds, shift)
        unit = magnitude(X)
    models = fold_refits(experts, grams, positive, shift, unit)
    # Each block of rows times every refit's coefficients (fold-major columns), then
    # each row takes the columns of its own fold: n_folds times the product's
    # arithmetic (small next to the Gram pass), no gather of the folds' rows.
    coef = np.column_stack([model.coef_ for fold_models in models for model in fold_models])
    intercept = np.array([model.intercept_ for fold_models in models for model in fold_models],
                         dtype=np.float64)
    predictions = np.empty((n_samples, n_experts))
    block = np.empty((min(_FOLD_BLOCK_ROWS, n_samples), n_folds * n_experts))
    for start in range(0, n_samples, _FOLD_BLOCK_ROWS):
        stop = min(n_samples, start + _FOLD_BLOCK_ROWS)
        every = block[:stop - start]
        np.matmul(X[start:stop], coef, out=every)
        every += intercept
        own = every.reshape(stop - start, n_folds, n_experts)
        predictions[start:stop] = own[np.arange(stop - start), folds[start:stop]]
    return predictions


def _mean_shift(X, y):
    """The shift of the folds' matrices: the means of X and y (as
    ``skmoe._linear.gram_shift`` with an intercept, the same numbers)."""
    mean_weights = np.full(X.shape[0], 1.0 / X.shape[0])
    return mean_weights @ X, float(mean_weights @ y)


class FoldGrams(NamedTuple):
    """The folds of the cross-fitted noise with their sums, for
    :func:`cross_fitted_ridge_predictions`."""

    folds: np.ndarray
    n_folds: int
    grams: np.ndarray
    positive: np.ndarray
    shift: tuple
    unit: np.ndarray


class FoldSumsRequest:
    """The experts' M-step asked for its weighted Gram matrices fold by fold.

    With cross-fitted noise, each M-step needs the weighted Gram matrices of
    each noise fold on the experts' fit weights twice: summed, to fit the
    ScaledRidge experts, and fold by fold, to refit them without each fold.
    Given a request, ``skmoe._experts.fit_experts`` takes its matrices of the
    experts with an intercept fold by fold (one pass over X, the folds'
    matrices adding up to the whole) and leaves them here; the likelihood's
    M-step then takes them (:meth:`take`), with the unweighted matrices of the
    folds, the same in every M-step of a fit, computed once.

    Parameters
    ----------
    folds : ndarray of shape (n_samples,) of int
        The fold of each row.
    n_folds : int
        Number of folds.
    """

    def __init__(self, folds, n_folds):
        self.folds = folds
        self.n_folds = n_folds
        # (weights, experts' columns, grams, positive, shift) of the last M-step.
        self.sums = None
        self._counts = None

    def give(self, weights, columns, grams, positive, shift):
        """Leave the folds' matrices of ``weights`` (the experts ``columns``) for :meth:`take`."""
        self.sums = (weights, list(columns), grams, positive, shift)

    def take(self, X, y, weights, columns):
        """The folds' sums left by the experts' M-step on ``weights`` (the experts
        ``columns``), as :class:`FoldGrams`; None when there are none for them.

        Each sums are taken at most once: they belong to one M-step.
        """
        sums, self.sums = self.sums, None
        if sums is None or sums[0] is not weights or sums[1] != list(columns):
            return None
        _, _, grams, positive, shift = sums
        if self._counts is None or not (np.array_equal(self._counts[0][0], shift[0])
                                        and self._counts[0][1] == shift[1]):
            empty = np.empty((X.shape[0], 0))
            counts = blockwise_fold_sums(X, y, empty, self.folds, self.n_folds, shift)[0]
            self._counts = (shift, counts, magnitude(X))
        _, counts, unit = self._counts
        return FoldGrams(self.folds, self.n_folds, np.concatenate([grams, counts], axis=1),
                         positive, shift, unit)


def blockwise_fold_sums(X, y, weights, folds, n_folds, shift, counts=True):
    """Every fold's :func:`fold_sums` of all the rows, in one pass over blocks of rows.

    Each block's rows of each fold are gathered (a few hundred rows at a
    time): the sums are those of :func:`fold_sums` on each fold's rows, up to
    the order of the additions, without a copy of a third of X. The folds'
    weighted matrices add up to those of all the rows: the experts' own
    M-step takes them from this pass when their noise is cross-fitted
    (``skmoe._experts.fit_experts``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs, float64.
    y : ndarray of shape (n_samples,)
        Targets.
    weights : ndarray of shape (n_samples, n_experts)
        The experts' weights.
    folds : ndarray of shape (n_samples,) of int
        The fold of each row, ``0 .. n_folds - 1``.
    n_folds : int
        Number of folds.
    shift : tuple of (ndarray of shape (n_features,), float)
        The shift ``(c, c_y)`` of every fold's matrices.
    counts : bool, default=True
        Add the unweighted matrix of each fold after the experts' (as
        :func:`fold_sums`).

    Returns
    -------
    grams : ndarray of shape (n_folds, n_experts + counts, n_features + 2, n_features + 2)
        Each fold's :func:`fold_sums` matrices (without the unweighted one
        unless ``counts``).
    positive : ndarray of shape (n_folds, n_experts) of int
        Each fold's rows with weight, per expert.
    """
    n_samples, n_features = X.shape
    n_experts = weights.shape[1]
    n_matrices = n_experts + bool(counts)
    y = np.asarray(y, dtype=np.float64)
    n_columns = n_features + 2
    center, y_center = shift
    # Each fold's matrices transposed: ``design.T @ products`` (the short side
    # first) is the faster BLAS product of the two orders.
    transposed = np.zeros((n_folds, n_columns, n_matrices * n_columns))
    positive = np.zeros((n_folds, n_experts), dtype=np.intp)
    block_rows = min(n_folds * _FOLD_CHUNK_ROWS, n_samples)
    # The gathered rows of one fold of a block; the weights with a last column of
    # ones (the unweighted matrix) with ``counts``.
    X_rows = np.empty((block_rows, n_features))
    y_rows = np.empty(block_rows)
    w_rows = np.ones((block_rows, n_matrices))
    design = np.empty((block_rows, n_columns))
    products = np.empty((block_rows, n_matrices * n_columns))
    for start in range(0, n_samples, block_rows):
        stop = min(n_samples, start + block_rows)
        block_folds = folds[start:stop]
        for fold in range(n_folds):
            rows = start + np.flatnonzero(block_folds == fold)
            used = rows.size
            if not used:
                continue
            # (mode="clip": the rows are valid, and ``out`` is not buffered.)
            np.take(X, rows, axis=0, out=X_rows[:used], mode="clip")
            np.take(y, rows, out=y_rows[:used], mode="clip")
            np.take(weights, rows, axis=0, out=w_rows[:used, :n_experts], mode="clip")
            positive[fold] += np.count_nonzero(w_rows[:used, :n_experts] > 0, axis=0)
            weighted_design_block(X_rows, y_rows, w_rows, center, y_center, 0, used,
                                  design, products)
            transposed[fold] += design[:used].T @ products[:used]
    # transposed[f, b, k (d + 2) + a] is entry (a, b) of fold f's matrix k.
    grams = transposed.reshape(n_folds, n_columns, n_matrices, n_columns)
    return np.ascontiguousarray(grams.transpose(0, 2, 3, 1)), positive


def fold_sums(X, y, weights, shift):
    """One fold's sums for :func:`fold_refits`, from its rows (or a part of them).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        The fold's inputs, float64.
    y : ndarray of shape (n_rows,)
        Its targets.
    weights : ndarray of shape (n_rows, n_experts)
        The experts' weights of its rows.
    shift : tuple of (ndarray of shape (n_features,), float)
        The shift ``(c, c_y)`` of every fold's matrices.

    Returns
    -------
    grams : ndarray of shape (n_experts + 1, n_features + 2, n_features + 2)
        The weighted Gram matrices of ``[x - c, 1, y - c_y]`` of the experts,
        then the unweighted one (for the spread of the columns). Those of
        parts of a fold add up to the fold's.
    positive : ndarray of shape (n_experts,) of int
        The number of rows each expert gives weight to.
    """
    with_counts = np.column_stack([weights, np.ones(X.shape[0])])
    # Always shifted: the unweighted matrix then gives the columns' spread
    # without cancelling digits.
    grams = weighted_grams(X, y, with_counts, True, shift)[0]
    return grams, np.count_nonzero(weights > 0, axis=0)


def fold_refits(experts, grams, positive, shift, unit):
    """Each ScaledRidge expert refitted without each fold, from the folds' sums.

    The refit without fold ``f`` is what ``ScaledRidge.fit`` gives on the rows
    of the other folds with their weights (its ``scale_`` the spread of those
    rows): it is solved from the total of the folds' matrices minus fold
    ``f``'s.

    Parameters
    ----------
    experts : list of ScaledRidge
        Fitted experts, all with the same ``fit_intercept``; not modified.
    grams : ndarray of shape (n_folds, n_experts + 1, n_features + 2, n_features + 2)
        Each fold's :func:`fold_sums` matrices, with the weights the experts
        are refitted with.
    positive : ndarray of shape (n_folds, n_experts) of int
        Each fold's rows with weight, per expert (:func:`fold_sums`).
    shift : tuple of (ndarray of shape (n_features,), float)
        The shift of the matrices.
    unit : ndarray of shape (n_features,)
        Powers of two about the largest absolute value of each column
        (``skmoe._scaling.magnitude`` of the inputs).

    Returns
    -------
    models : list of list of ScaledRidge
        ``models[f][k]``: expert ``k`` refitted without fold ``f``, or the
        expert itself where the other folds give it no weight or its refit
        cannot be solved.
    """
    n_features = grams.shape[2] - 2
    intercept = bool(experts[0].fit_intercept)
    total = grams.sum(axis=0)
    center, y_center = shift if intercept else (np.zeros(n_features), 0.0)
    models = []
    for gram, rows_with_weight in zip(grams, positive):
        kept = total - gram
        counts = kept[-1]
        n_kept = counts[n_features, n_features]
        column_mean = counts[:n_features, n_features] / n_kept
        scale = _scale_of((np.diag(counts)[:n_features] / n_kept - column_mean**2) / unit**2,
                          unit)
        kept_grams = kept[:-1] if intercept else _unshifted(kept[:-1], *shift)
        # From the counts of rows with weight: the difference of the matrices
        # leaves rounding where no kept row has weight.
        has_weight = positive.sum(axis=0) - rows_with_weight > 0
        refits = [ScaledRidge(alpha=expert.alpha, fit_intercept=intercept)
                  for expert in experts]
        refits = fit_scaled_ridges_from_grams(refits, kept_grams, center, y_center, scale)
        models.append([refit if refit is not None and has_weight[k] else experts[k]
                       for k, refit in enumerate(refits)])
    return models


def _unshifted(grams, center, y_center):
    """Gram matrices of ``[x, 1, y]`` from those of ``[x - c, 1, y - c_y]``."""
    n_features = center.shape[0]
    # z = M z_shifted with M the identity plus the shift in the constant's column.
    move = np.eye(n_features + 2)
    move[:n_features, n_features] = center
    move[n_features + 1, n_features] = y_center
    return move @ grams @ move.T


def scaled_ridge_of(expert):
    """The ScaledRidge an expert fits with: itself, or a Pipeline's final step; else None."""
    expert = pipeline_final_step(expert)
    return expert if isinstance(expert, ScaledRidge) else None


def ridge_penalty(expert):
    """The fitted expert's penalty ``alpha * sum((scale_ * coef_)^2)``; 0 for other experts.

    Parameters
    ----------
    expert : estimator
        A fitted expert (a Pipeline is read through its final step).

    Returns
    -------
    penalty : float
        In squared units of the target.
    """
    ridge = scaled_ridge_of(expert)
    if ridge is None:
        return 0.0
    return float(ridge.alpha * np.sum((ridge.scale_ * ridge.coef_) ** 2))


class ScaledRidge(RegressorMixin, BaseEstimator):
    """Ridge regression with the penalty in units of each feature's standard deviation.

    Minimises ``sum_i w_i (y_i - x_i . coef - intercept)^2 + alpha *
    sum_j (scale_j coef_j)^2``, where ``scale_j`` is the standard deviation of
    feature ``j`` over the rows given to ``fit``, whatever their weights. This is
    ``make_pipeline(StandardScaler(), Ridge(alpha))`` with the weights given to
    the ridge only, reported in the units of the inputs (as R's glmnet reports
    its standardised fits). Its predictions do not depend on the units of the
    features, and ``alpha`` counts rows: its effect fades as the weight of the
    data grows.

    It is the default expert of :class:`MixtureOfExpertsRegressor`: every
    expert there sees all the rows, so ``scale_`` is the spread of each
    feature over the training set, and an expert responsible for a narrow
    slice of the inputs cannot fit a direction its rows barely span with a
    coefficient that sends other rows far away.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the penalty, in rows of unit weight; positive.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept (the inputs and target are centred on
        their weighted means).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients, in the units of the inputs.
    intercept_ : float
        Intercept (0.0 when ``fit_intercept`` is False).
    scale_ : ndarray of shape (n_features,)
        Standard deviation of each feature over the rows given to ``fit``
        (1 for a constant feature).
    effective_dof_ : float
        Effective number of parameters: the trace of the penalised fit's hat
        matrix on the weighted rows, plus one for the intercept. Close to
        ``n_features + 1`` when the data outweigh the penalty; smaller for an
        expert whose rows barely span some directions.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.linear_model.Ridge : The penalty on the coefficients in the units
        of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import ScaledRidge
    >>> X = np.array([[0.0, 0.0], [1.0, 100.0], [2.0, 50.0], [3.0, 300.0]])
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> model = ScaledRidge(alpha=1e-9).fit(X, y)
    >>> np.round(model.coef_, 6)
    array([1., 0.])
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
    }

    def __init__(self, alpha=1.0, *, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def _validate_params(self):
        # scikit-learn's interval takes True for 1: alpha=True was a penalty of 1.
        super()._validate_params()
        check_no_bool_numbers(self)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the penalised least-squares problem.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; None means unit weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], y_numeric=True,
                             dtype=np.float64)
        sample_weight = check_sample_weight(sample_weight, X)
        scale = column_scale(X)
        # The problem in scaled form, so that no square over- or underflows: columns
        # in units of their spread, y in units of a power of two near its largest
        # value, and weights divided by the largest one (alpha with them, which
        # leaves the solution unchanged).
        largest_weight = sample_weight.max()
        weights = unit_weights(sample_weight)
        alpha = float(self.alpha) / largest_weight
        y_unit = float(magnitude(y[:, None])[0])
        y_scaled = y / y_unit
        if sp.issparse(X):
            xx, xy, x_mean, y_mean = self._sparse_products(X, y_scaled, weights, scale)
        else:
            xx, xy, x_mean, y_mean = self._dense_products(X, y_scaled, weights, scale)
        coef, dof = solve_scaled_ridge(xx[None], xy[None], np.ones(X.shape[1]),
                                       np.array([alpha]))
        if not np.all(np.isfinite(coef)):
            raise ValueError(
                "ScaledRidge could not solve its penalised normal equations: the "
                "inputs or weights are not finite, or too large to square."
            )
        self.coef_ = coef[0] * y_unit / scale
        self.effective_dof_ = float(dof[0]) + float(self.fit_intercept)
        self.intercept_ = (
            (y_mean - float(x_mean @ coef[0])) * y_unit if self.fit_intercept else 0.0
        )
        self.scale_ = scale
        return self

    def _dense_products(self, X, y_scaled, weights, scale):
        """Weighted cross-products of the scaled (and centred) columns of a dense X.

        Taken over blocks of rows: no copy of X is made (the EM loop's first
        M-step checks an expert's parameters by this ``fit`` on all the rows).
        """
        n_samples, n_features = X.shape
        total = weights.sum()
        if self.fit_intercept:
            x_mean = np.zeros(n_features)
            for start in range(0, n_samples, _SCALE_BLOCK_ROWS):
                stop = start + _SCALE_BLOCK_ROWS
                x_mean += weights[start:stop] @ (X[start:stop] / scale)
            x_mean /= total
            y_mean = float(weights @ y_scaled) / total
            # A constant column's mean is its value, exactly: the rounded weighted
            # mean left it eps times its magnitude off centre, whose squares
            # overflow for a constant near 1e300. (Constant columns keep scale 1,
            # so their scaled values are those of X.)
            candidates = np.flatnonzero(scale == 1.0)
            constant = candidates[np.all(X[:, candidates] == X[0, candidates], axis=0)]
            x_mean[constant] = X[0, constant]
        else:
            x_mean, y_mean = np.zeros(n_features), 0.0
        xx = np.zeros((n_features, n_features))
        xy = np.zeros(n_features)
        for start in range(0, n_samples, _SCALE_BLOCK_ROWS):
            stop = start + _SCALE_BLOCK_ROWS
            X_scaled = X[start:stop] / scale
            X_scaled -= x_mean
            weighted = X_scaled * weights[start:stop, None]
            xx += X_scaled.T @ weighted
            xy += weighted.T @ (y_scaled[start:stop] - y_mean)
        return xx, xy, x_mean, y_mean

    def _sparse_products(self, X, y_scaled, weights, scale):
        """Weighted cross-products of the scaled (and centred) columns of a sparse X."""
        X_scaled = divide_columns(X, scale)
        total = weights.sum()
        if self.fit_intercept:
            x_mean = np.asarray(weights @ X_scaled).ravel() / total
            y_mean = float(weights @ y_scaled) / total
            # Sparse products subtract the means' outer product instead of centring:
            # a constant column, centred zero, is left out of them (as a zero column).
            candidates = np.flatnonzero(scale == 1.0)
            if candidates.size:
                columns = sp.csc_matrix(X_scaled[:, candidates])
                full = np.diff(columns.indptr) == X.shape[0]
                constant = candidates[full & np.array(
                    [np.all(columns.data[a:b] == columns.data[a]) if b > a else False
                     for a, b in zip(columns.indptr[:-1], columns.indptr[1:])], dtype=bool)]
                if constant.size:
                    keep = np.ones(X.shape[1])
                    keep[constant] = 0.0
                    X_scaled = sp.csr_matrix(X_scaled @ sp.diags(keep))
                    x_mean[constant] = 0.0
        else:
            x_mean, y_mean = np.zeros(X.shape[1]), 0.0
        weighted = X_scaled.multiply(weights[:, None]).tocsc()
        xx = np.asarray((X_scaled.T @ weighted).todense()) - total * np.outer(x_mean, x_mean)
        xy = np.asarray(weighted.T @ y_scaled).ravel() - total * x_mean * y_mean
        return xx, xy, x_mean, y_mean

    def predict(self, X):
        """Predict with the fitted linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``X @ coef_ + intercept_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"],
                          dtype=np.float64)
        return np.asarray(X @ self.coef_).ravel() + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
