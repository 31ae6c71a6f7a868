"""Exact EM on Dask collections: the blocks stay on the workers, small sums travel.

One EM iteration is one pass over the blocks of rows. Each block computes,
from the model of the last M-step, its E-step (responsibilities and its share
of the log-likelihood) and its sufficient statistics: each linear expert's
weighted Gram matrix of ``[x - c, 1, y - c_y]`` (see
``skmoe._linear.weighted_grams``), or each LogisticRegression expert's
weighted cross-entropy, gradient and Hessian at its current coefficients (the
weights its responsibilities), and the softmax gate's soft cross-entropy,
gradient and Hessian at its current coefficients. Only these sums travel,
added pairwise on the workers; the client solves the M-step as the in-memory
loop does: the linear experts from their Gram matrices, the Gaussian noise
variances from the residual sums those matrices hold, the gate and each
logistic expert by one damped Newton step, as ``skmoe._newton.newton_solve``
with one iteration takes it (the in-memory loop's generalised-EM step). The
line search of a Newton step needs the loss at the new coefficients for the
last targets: the next pass computes it beside the E-step, making those
targets again from the previous model (responsibilities are never kept
between passes, so they take no memory in proportion to the rows). X is never
gathered on the client. A pass goes to the cluster in batches of blocks
(:func:`batch_blocks`), each summed pairwise on the workers; the client adds
the batches' sums as one pairwise tree over all blocks would (the same bits),
so it holds the graph of one batch and a partial sum per level, not a graph
of every block. In the iteration after the log-likelihood stalled,
the in-memory loop solves the gate's and the logistic experts' problems
instead (budget None): there the Newton steps continue, two passes each (the
sums at the coefficients reached, the loss at the full step), until each part
is solved, and the iteration ends solved, as in memory.

The classifier's EM is extrapolated by the in-memory loop's SQUAREM
(``skmoe._squarem``), with the same decisions: the objective at a proposal
takes one pass, which is the next iteration's pass when the proposal is kept;
a refused one leaves the run at the last iterate, whose pass was made.

The noise variances of ScaledRidge experts are cross-fitted as in memory
(``noise_variance`` "auto" or "cross_fitted"): the noise folds are a function
of each row's position (``skmoe._regressor.folds_of_rows``), so each block
also gives each fold's weighted Gram matrices, and the client refits every
expert without each fold from the total minus that fold and takes the fold's
residual sum as a quadratic form of its matrix, in the same pass. In memory, a
record given more than once takes the fold of its first copy
(``skmoe._regressor.noise_folds``); here each copy keeps its own: finding the
copies in other blocks would take a pass that brings a hash of every row to
one place and sends each block its folds. A ridge expert's refit predicts a
copy it saw only by the copy's leverage: on diabetes given twice, the noise
in memory was 2% smaller with the copies in their own folds.

Only M-steps that are sums over rows can be fitted this way: for the
regressor, the Gaussian likelihood and experts that are plain
``LinearRegression``, ``Ridge`` or ``ScaledRidge`` (the first two with
in-sample noise variances, as "auto" gives them in memory); for the
classifier, plain ``LogisticRegression`` experts whose objective
``skmoe._logistic`` minimises by Newton's method; ``SoftmaxGate`` for both.

This module imports Dask; skmoe imports it only when it is given a Dask
collection.
"""

import copy
import functools
import os
import warnings

import dask
import dask.array as da
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets

from ._base import _SEED_MAX, _user_stacklevel
from ._classifier import PROBA_FLOOR, _check_logistic_columns
from ._experts import (
    describe_expert,
    has_own_density,
    seeded_clones,
    threadpool_controller,
)
from ._families import FAMILIES, _floor_scale, resolve_family
from ._gate import SoftmaxGate
from ._init import KMEANS_MAX_ROWS
from ._kernels import (
    e_step,
    penalise_gate_hessian,
    penalise_gate_loss,
    soft_cross_entropy,
    soft_cross_entropy_newton,
)
from ._linear import weighted_grams
from ._logistic import FULL_SOLVE_TOL, _alpha, logistic_log_likelihood, logistic_penalty
from ._logistic import _null_space as _logistic_null_space
from ._newton import _ARMIJO, _MIN_STEP, _newton_direction
from ._regressor import _NOISE_FOLDS, _POOLED_VARIANCE_FLOOR, _Y_SPREAD, folds_of_rows
from ._ridge import ScaledRidge, fold_refits, fold_sums, ridge_penalty
from ._scaled_logistic import ScaledLogisticRegression
from ._scaling import SQUARE_SAFE, magnitude
from ._squarem import Squarem
from ._stream import fit_expert_from_gram, is_gram_expert, residual_sum
from ._validation import (
    MAX_TOTAL_WEIGHT,
    check_fit_weight_scale,
    check_is_estimator,
    check_no_datetimes,
    check_responsibilities,
    no_gate_inputs,
    resolve_columns,
    unique_labels_of,
)


def is_dask_collection(value):
    """Whether ``value`` is a Dask collection (array, dataframe, series)."""
    return dask.is_dask_collection(value)


# ----------------------------------------------------------- worker threads
_PLUGIN_NAME = "skmoe-worker-threads"


def worker_threads_plugin():
    """A plugin that sets each worker's Numba and BLAS threads to its own thread count.

    A worker process sees every core of its machine, and Numba (and BLAS,
    unless the nanny set it) would start that many threads in each of the
    worker's task threads: with several workers per machine the cores are
    oversubscribed. The plugin sets ``NUMBA_NUM_THREADS`` before the worker
    imports Numba (a worker that already ran Numba kernels keeps its setting
    until it restarts) and limits the BLAS libraries already loaded.
    """
    from distributed import WorkerPlugin

    class WorkerThreads(WorkerPlugin):
        name = _PLUGIN_NAME

        def setup(self, worker):
            import os
            import sys

            from threadpoolctl import threadpool_limits

            threads = max(1, int(worker.state.nthreads))
            if "numba" not in sys.modules:
                os.environ["NUMBA_NUM_THREADS"] = str(threads)
            threadpool_limits(limits=threads, user_api="blas")

    return WorkerThreads()


def register_worker_threads(client=None):
    """Register :func:`worker_threads_plugin` with ``client`` (default: the current client).

    Does nothing without a distributed client. Registering twice replaces
    the plugin (it has a fixed name).
    """
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):
            return
    client.register_plugin(worker_threads_plugin())


# ------------------------------------------------------------------ input
def _as_rows(value, name, ndim):
    """A Dask array of rows from a Dask array, DataFrame or Series (or None)."""
    if value is None:
        return None
    if hasattr(value, "to_dask_array"):
        # A Dask DataFrame or Series: its partitions' lengths are counted once.
        value = value.to_dask_array(lengths=True)
    if not isinstance(value, da.Array):
        value = np.asarray(value)
    if value.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-dimensional, got an array of shape {value.shape}."
        )
    if isinstance(value, da.Array) and any(np.isnan(size) for size in value.chunks[0]):
        raise ValueError(
            f"{name} is a Dask array with unknown chunk sizes along its rows (as boolean "
            f"indexing or a dataframe's values make); call {name}.compute_chunk_sizes() "
            "first, or pass the Dask DataFrame itself."
        )
    return value


def _aligned(value, X, name):
    """``value`` (y or sample_weight) as a Dask array with X's row chunks."""
    if value.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and {name} have different numbers of rows: {X.shape[0]} and {value.shape[0]}."
        )
    if not isinstance(value, da.Array):
        return da.from_array(value, chunks=(X.chunks[0],) + value.shape[1:])
    if value.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"{name}'s row chunks {value.chunks[0]} differ from X's {X.chunks[0]}: each block "
            f"of X needs its own {name}. Rechunk with {name} = {name}.rechunk("
            "{0: X.chunks[0]}), or make both from one Dask DataFrame."
        )
    return value


def dask_rows(estimator, X, y=None, sample_weight=None):
    """Validated Dask arrays of X (one chunk of columns), y and the weights.

    Sets nothing on the estimator; returns ``(X, y, sample_weight, names)``
    with ``names`` the DataFrame's column names, or None.
    """
    names = None
    if hasattr(X, "columns"):
        names = np.asarray(X.columns, dtype=object)
        if not all(isinstance(name, str) for name in names):
            names = None
        # By column, before the frame becomes one array of dtype object (whose
        # error named no column).
        check_no_datetimes(X, "X")
        for column, dtype in zip(X.columns, X.dtypes):
            if getattr(dtype, "kind", None) not in tuple("biuf"):
                raise ValueError(
                    f"X's column {column!r} holds {dtype} values; a fit on Dask collections "
                    "needs numbers in every column. Encode that column as numbers, or "
                    "leave it out."
                )
    X = _as_rows(X, "X", 2)
    if not isinstance(X, da.Array):
        X = da.from_array(X, chunks=(max(1, X.shape[0]),) + X.shape[1:])
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers, got a Dask array of dtype {X.dtype}.")
    if X.shape[1] == 0:
        # As scikit-learn refuses it in memory (it ended in "Arrays cannot be empty").
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    X = X.astype(np.float64).rechunk({1: -1})
    if y is not None:
        y = _aligned(_as_rows(y, "y", 1), X, "y")
    if sample_weight is not None:
        sample_weight = _aligned(_as_rows(sample_weight, "sample_weight", 1), X,
                                 "sample_weight").astype(np.float64)
    return X, y, sample_weight, names


def _summary(X, y, w, shift, y_shift):
    """One block's counts and moments about a shift near the data (the first pass of a fit)."""
    centred = X - shift
    finite_x = np.isfinite(X)
    return {
        "n": X.shape[0],
        "bad_x": int(X.size - np.count_nonzero(finite_x)),
        "bad_y": int(y.size - np.count_nonzero(np.isfinite(y))),
        "bad_w": int(np.count_nonzero(~np.isfinite(w) | (w < 0))),
        "largest": np.abs(X).max(axis=0, initial=0.0),
        "largest_centred": np.abs(centred).max(axis=0, initial=0.0),
        "largest_y": float(np.abs(y).max(initial=0.0)),
        "largest_w": float(w.max(initial=0.0)),
        "w": float(w.sum()),
        "n_positive": int(np.count_nonzero(w)),
        "wx": w @ centred,
        "wxx": w @ centred**2,
        "x": centred.sum(axis=0),
        "xx": np.einsum("ij,ij->j", centred, centred),
        "wy": float(w @ (y - y_shift)),
        "wyy": float(w @ (y - y_shift) ** 2),
    }


def _check_magnitudes(summary):
    """Refuse, after the first pass, what the block sums of a Dask fit cannot hold.

    The fit sums squares of the columns (moments, Gram matrices, Hessians)
    block by block, with no fall-back to the experts' own fit: columns beyond
    about 1e-150 to 1e150 in magnitude overflowed them or lost their digits
    (columns of 1e160 ended in a Gram-matrix error blaming collinear columns,
    of 1e-160 gave another model, silently). The weights are checked as in
    memory.
    """
    if summary["w"] > MAX_TOTAL_WEIGHT:
        raise ValueError(
            f"sample_weight sums to {summary['w']:.3g}, more than {MAX_TOTAL_WEIGHT:.0e}: the "
            "weighted sums of the fit would overflow float64. Divide the weights by a "
            "constant (only their size next to the penalties of the experts and the gate "
            "depends on it)."
        )
    check_fit_weight_scale(np.array([summary["largest_w"]]))
    # The moments are taken about the first row: a constant column of any magnitude,
    # centred, is zero.
    spread = summary["largest_centred"]
    size = magnitude(spread[None, :])
    bad = np.flatnonzero((size < SQUARE_SAFE[0]) | (size > SQUARE_SAFE[1]))
    if bad.size:
        raise ValueError(
            "A fit on Dask collections sums the squares of the columns of X block by block, "
            "which keep their digits for columns whose values differ by about 1e-150 to "
            f"1e150; column {bad[0]} spans {spread[bad[0]]:.3g}. Rescale that column (the "
            "model of rescaled columns is the rescaled model), or fit in memory."
        )


def _add(a, b):
    """Sum of two dicts of statistics (or of two tuples of them); the maximum of their
    ``"largest..."`` entries."""
    if isinstance(a, dict):
        return {key: np.maximum(a[key], b[key])
                if isinstance(key, str) and key.startswith("largest")
                else _add(a[key], b[key]) for key in a}
    if isinstance(a, tuple):
        return tuple(_add(x, y) for x, y in zip(a, b))
    if a is None:
        return None
    return a + b


def _tree_sum(parts):
    """Pairwise sums of delayed statistics on the workers: one small result to the client."""
    parts = list(parts)
    while len(parts) > 1:
        parts = [dask.delayed(_add)(a, b) if b is not None else a
                 for a, b in zip(parts[::2], parts[1::2] + [None])]
    return parts[0]


def _blocks(array):
    """The blocks of a Dask array of rows, as delayed values (one per row chunk)."""
    return list(array.to_delayed().ravel())


# The fewest blocks one computation of a pass takes (a power of two, see
# _PairwiseSum); more with a larger cluster, see batch_blocks.
BATCH_BLOCKS = 16


def batch_blocks():
    """Blocks per computation of a pass: a power of two, at least :data:`BATCH_BLOCKS`
    and twice the threads of the current distributed client (or of this machine), so
    that every thread has blocks to work on."""
    try:
        from distributed import default_client

        threads = sum(default_client().nthreads().values())
    except (ImportError, ValueError):
        threads = os.cpu_count() or 1
    size = BATCH_BLOCKS
    while size < 2 * threads:
        size *= 2
    return size


class _PairwiseSum:
    """The sum :func:`_tree_sum` makes of a sequence, added from the sums of its batches.

    The batches are consecutive and of one size, a power of two (the last may be
    shorter): the pairwise tree over the whole sequence then holds each batch's
    tree as a subtree, and the batches' sums are added as that tree adds them,
    keeping one partial sum per level (at most log2 of the number of batches).
    The total has the same bits as one :func:`_tree_sum` of all the values.
    """

    def __init__(self):
        self._partial = []  # (level, sum of 2**level batches), levels decreasing

    def add(self, value):
        """Add the next batch's sum."""
        level = 0
        while self._partial and self._partial[-1][0] == level:
            value = _add(self._partial.pop()[1], value)
            level += 1
        self._partial.append((level, value))

    def total(self):
        """The sum of every batch added."""
        value = self._partial.pop()[1]
        while self._partial:
            value = _add(self._partial.pop()[1], value)
        return value


class _Sources:
    """Where each block's responsibilities come from (see :func:`_resolve`), batch by batch.

    ``kind`` is ``"model"`` (``value``: the delayed model, whose E-step gives
    them), ``"array"`` (a Dask array of responsibilities with X's row chunks),
    ``"kmeans"`` (the delayed k-means, the mean and scale of its columns and
    whether y is one of them) or ``"drop"`` (other sources and the experts kept).
    Only the delayed sources of one batch's blocks exist at a time: the client
    builds no graph of every block.
    """

    def __init__(self, kind, value):
        self.kind, self.value = kind, value

    def batch(self, start, stop, x_blocks, y_blocks):
        """The sources of blocks ``start`` to ``stop`` (whose delayed X and y are given)."""
        if self.kind == "model":
            return [("model", self.value)] * (stop - start)
        if self.kind == "array":
            return [("init", block) for block in _blocks(self.value.blocks[start:stop])]
        if self.kind == "kmeans":
            kmeans_d, mean, scale, with_y = self.value
            return [("init", dask.delayed(_block_init)(kmeans_d, mean, scale, x,
                                                       y if with_y else None))
                    for x, y in zip(x_blocks, y_blocks)]
        sources, keep = self.value
        return [("drop", source, keep)
                for source in sources.batch(start, stop, x_blocks, y_blocks)]


class _RowRanges:
    """Each block's rows in the whole array, ``(start, stop)``, batch by batch (a source
    of :meth:`_DaskFit.pass_sum`)."""

    def __init__(self, row_chunks):
        self.bounds = np.concatenate([[0], np.cumsum(row_chunks)]).astype(int)

    def batch(self, start, stop, x_blocks, y_blocks):
        return [(int(self.bounds[i]), int(self.bounds[i + 1])) for i in range(start, stop)]


# --------------------------------------------------------------- the model
class _Model:
    """What each block needs of the current model: picklable, without data."""

    def __init__(self, experts, params, gate, expert_columns, gate_columns, gate_mean,
                 gate_scale, n_classes=None, expert_scale=None):
        self.experts = experts
        # The experts' columns' spreads (ScaledLogisticRegression experts' units).
        self.expert_scale = expert_scale
        # None for the regressor (Gaussian likelihood); the number of classes of a
        # classifier, whose y are the codes 0 .. n_classes - 1.
        self.n_classes = n_classes
        self.params = params
        self.gate = gate
        self.expert_columns = expert_columns
        self.gate_columns = gate_columns
        self.gate_mean = gate_mean
        self.gate_scale = gate_scale

    def expert_rows(self, X):
        return _columns(X, self.expert_columns)

    def replace(self, **changes):
        """A copy of this model with some of its parts replaced."""
        parts = {name: getattr(self, name) for name in (
            "experts", "params", "gate", "expert_columns", "gate_columns", "gate_mean",
            "gate_scale", "n_classes", "expert_scale")}
        parts.update(changes)
        return _Model(**parts)

    def expert_rows_t(self, X):
        """The experts' columns, transposed (the kernels' layout)."""
        return np.ascontiguousarray(self.expert_rows(X).T)

    def logistic_rows_t(self, expert, rows_t):
        """The rows (transposed) a logistic expert's Newton sums are taken on, and the
        scale of its coefficients there: a ScaledLogisticRegression's columns divided
        by their spread (as in memory, see ``skmoe._logistic``); None for the others."""
        if type(expert) is ScaledLogisticRegression:
            return rows_t / self.expert_scale[:, None], self.expert_scale
        return rows_t, None

    def indicators_t(self, y):
        """The classes' indicators of the codes ``y``, shape (n_classes, n_samples)."""
        indicators = np.zeros((self.n_classes, y.shape[0]))
        indicators[y, np.arange(y.shape[0])] = 1.0
        return indicators

    def log_likelihood(self, X, y):
        """Each row's log-likelihood under each expert, shape (n_samples, n_experts)."""
        X_expert = self.expert_rows(X)
        if self.n_classes is not None:
            log_lik = np.empty((X.shape[0], len(self.experts)))
            for k, expert in enumerate(self.experts):
                log_lik[:, k] = logistic_log_likelihood(expert, X_expert, y, PROBA_FLOOR)
            return log_lik
        from ._regressor import _expert_predictions

        predictions = _expert_predictions(self.experts, X_expert)
        log_lik = np.empty_like(predictions)
        FAMILIES["gaussian"].log_density(y, predictions, self.params, log_lik)
        return log_lik

    def gate_rows_t(self, X):
        """The gate's standardised columns, transposed (the kernels' layout)."""
        rows_t = np.array(_columns(X, self.gate_columns).T, order="C")
        rows_t -= self.gate_mean[:, None]
        rows_t /= self.gate_scale[:, None]
        return rows_t

    def e_step(self, X, y, w):
        """Responsibilities, their column sums, the log-likelihood total and gate share."""
        log_lik = self.log_likelihood(X, y)
        log_gate = self.gate._log_proba(np.ascontiguousarray(self.gate_rows_t(X).T))
        resp = np.empty_like(log_lik)
        rows = np.empty(X.shape[0])
        total = e_step(log_gate, log_lik, w, resp, rows)
        return resp, rows, float(total), w @ np.exp(log_gate)


def _columns(X, columns):
    """The given columns of X (X itself when they are all of them, in order)."""
    if columns.shape[0] == X.shape[1] and np.array_equal(columns, np.arange(X.shape[1])):
        return X
    return X[:, columns]


def _gate_params(gate, n_classes, n_features):
    """The gate's coefficients and intercepts as one (K, d + 1) array (zeros when unfitted)."""
    params = np.zeros((n_classes, n_features + 1))
    if hasattr(gate, "coef_") and gate.coef_.shape == (n_classes, n_features):
        params[:, :-1] = gate.coef_
        params[:, -1] = gate.intercept_
    return params


def _resolve(source, X, y, w):
    """A block's responsibilities from their ``source``, and the E-step's sums if any.

    Responsibilities are never kept between passes (they would hold memory in
    proportion to the rows): each pass makes them again from their source,
    ``("init", block)`` (given), ``("model", model)`` (the E-step of a model),
    or ``("drop", source, keep)`` (another source without removed experts).

    Returns ``(resp, (total, gate_share) or None)``.
    """
    kind = source[0]
    if kind == "init":
        return np.ascontiguousarray(source[1], dtype=np.float64), None
    if kind == "model":
        resp, _, total, gate_share = source[1].e_step(X, y, w)
        return resp, (total, gate_share)
    resp, _ = _resolve(source[1], X, y, w)
    return _block_renormalise(resp, source[2]), None


def _block_pass(model, X, y, w, source, shift, groups_of_experts, previous=None, checked=(),
                rows=None, cross_fitted=()):
    """:func:`_block_pass_threads` with one BLAS thread, as the in-memory loop runs.

    BLAS threads beside Numba's oversubscribe the cores: on a busy machine a
    block's Gram matrices took 17 times longer with two BLAS threads than with one.
    """
    with threadpool_controller().limit(limits=1, user_api="blas"):
        return _block_pass_threads(model, X, y, w, source, shift, groups_of_experts, previous,
                                   checked, rows, cross_fitted)


def _block_pass_threads(model, X, y, w, source, shift, groups_of_experts, previous=None,
                        checked=(), rows=None, cross_fitted=()):
    """One block's responsibilities (see :func:`_resolve`) and the sums of the next M-step.

    The sums: the E-step's (``total``, ``gate_share``, ``resp``); each linear
    expert's weighted Gram matrices (regressor), and for the experts
    ``cross_fitted`` (ScaledRidge experts whose noise is cross-fitted) each
    noise fold's sums (``skmoe._ridge.fold_sums``, always with the shift),
    the block being rows ``rows = (start, stop)`` of the whole array; or each
    logistic expert's loss, gradient and Hessian at its coefficients for the weights ``w *
    R[:, k]`` (classifier); the gate's loss, gradient and Hessian. With
    ``previous``, the source of the last pass's responsibilities, it also
    gives the loss and gradient at their (new) coefficients for those targets
    of the parts named in ``checked`` (``"gate"`` or an expert's index): the
    line search of their last Newton step, in the same pass.

    Returns a dict of sums.
    """
    stats = {}
    if previous is not None:
        targets, _ = _resolve(previous, X, y, w)
        for part in checked:
            stats[f"check_{part}"] = _part_loss(model, part, None, X, y, w, targets)
    resp, evaluated = _resolve(source, X, y, w)
    stats["total"], stats["gate_share"] = evaluated or (0.0, np.zeros(resp.shape[1]))
    weights = resp * w[:, None]
    stats["resp"] = w @ resp
    if model.n_classes is None:
        X_expert = model.expert_rows(X)
        for intercept, chosen in groups_of_experts.items():
            stats[f"grams_{intercept}"] = weighted_grams(
                X_expert, y, weights[:, chosen], intercept, shift=shift)[0]
        if cross_fitted:
            folds = folds_of_rows(*rows, _NOISE_FOLDS)
            for fold in range(_NOISE_FOLDS):
                held = folds == fold
                stats[f"fold_{fold}"] = fold_sums(X_expert[held], y[held],
                                                  weights[held][:, cross_fitted], shift)
    else:
        X_t, targets_t = model.expert_rows_t(X), model.indicators_t(y)
        for k, expert in enumerate(model.experts):
            rows_t, scale = model.logistic_rows_t(expert, X_t)
            params = logistic_params(expert, model.n_classes, X_t.shape[0], scale)
            stats[f"expert_{k}"] = _newton_sums(params, rows_t, targets_t,
                                                np.ascontiguousarray(weights[:, k]),
                                                bool(expert.fit_intercept))
    X_t = model.gate_rows_t(X)
    params = _gate_params(model.gate, resp.shape[1], X_t.shape[0])
    stats["gate"] = _newton_sums(params, X_t, np.ascontiguousarray(resp.T), w,
                                 bool(model.gate.fit_intercept))
    return stats


def _newton_sums(params, X_t, targets_t, weight, fit_intercept):
    """A softmax model's unpenalised cross-entropy, gradient and Hessian at ``params``."""
    grad = np.empty_like(params)
    hess = np.empty((params.size, params.size))
    loss = soft_cross_entropy_newton(params, X_t, targets_t, weight, fit_intercept, grad, hess)
    return loss, grad, hess


def _part_loss(model, part, params, X, y, w, resp):
    """One block's unpenalised loss and gradient of the gate (``part="gate"``) or of
    logistic expert ``part`` at ``params`` (None: its current ones) for targets ``resp``."""
    if part == "gate":
        X_t = model.gate_rows_t(X)
        targets_t = np.ascontiguousarray(resp.T)
        weight, fit_intercept = w, bool(model.gate.fit_intercept)
        if params is None:
            params = _gate_params(model.gate, resp.shape[1], X_t.shape[0])
    else:
        expert = model.experts[part]
        X_t, scale = model.logistic_rows_t(expert, model.expert_rows_t(X))
        targets_t = model.indicators_t(y)
        weight, fit_intercept = w * resp[:, part], bool(expert.fit_intercept)
        if params is None:
            params = logistic_params(expert, model.n_classes, X_t.shape[0], scale)
    grad = np.empty_like(params)
    loss = soft_cross_entropy(params, X_t, targets_t, weight, fit_intercept, grad)
    return loss, grad


def _block_part_sums(model, parts, X, y, w, source):
    """One block's Newton sums (:func:`_newton_sums`) of the gate or logistic experts
    ``parts`` at their current coefficients, for the responsibilities of ``source``."""
    with threadpool_controller().limit(limits=1, user_api="blas"):
        resp = _resolve(source, X, y, w)[0]
        sums = {}
        for part in parts:
            if part == "gate":
                X_t = model.gate_rows_t(X)
                params = _gate_params(model.gate, resp.shape[1], X_t.shape[0])
                sums[part] = _newton_sums(params, X_t, np.ascontiguousarray(resp.T), w,
                                          bool(model.gate.fit_intercept))
            else:
                expert = model.experts[part]
                X_t, scale = model.logistic_rows_t(expert, model.expert_rows_t(X))
                params = logistic_params(expert, model.n_classes, X_t.shape[0], scale)
                sums[part] = _newton_sums(params, X_t, model.indicators_t(y),
                                          np.ascontiguousarray(w * resp[:, part]),
                                          bool(expert.fit_intercept))
        return sums


def _block_checks(model, parts, X, y, w, source):
    """One block's losses and gradients of ``parts`` at their coefficients in ``model``
    for the responsibilities of ``source`` (the keys :meth:`_NewtonStep.accept` reads)."""
    with threadpool_controller().limit(limits=1, user_api="blas"):
        resp = _resolve(source, X, y, w)[0]
        return {f"check_{part}": _part_loss(model, part, None, X, y, w, resp)
                for part in parts}


def _block_part_loss(model, part, params, X, y, w, source):
    """:func:`_part_loss` for the responsibilities of ``source``, with one BLAS thread."""
    with threadpool_controller().limit(limits=1, user_api="blas"):
        return _part_loss(model, part, params, X, y, w, _resolve(source, X, y, w)[0])


def logistic_params(expert, n_classes, n_features, scale=None):
    """A LogisticRegression expert's softmax parameters (n_classes, n_features + 1).

    The binomial model's rows are ``-beta / 2`` and ``beta / 2`` (as in
    ``skmoe._logistic``); zeros for an expert not fitted yet. With ``scale``
    (a ScaledLogisticRegression's), the coefficients of the columns divided by
    it.
    """
    params = np.zeros((n_classes, n_features + 1))
    if not hasattr(expert, "coef_"):
        return params
    coef = np.asarray(expert.coef_, dtype=np.float64)
    if scale is not None:
        coef = coef * scale
    intercept = np.asarray(expert.intercept_, dtype=np.float64)
    if n_classes == 2:
        params[1, :-1], params[1, -1] = 0.5 * coef[0], 0.5 * intercept[0]
        params[0] = -params[1]
    else:
        params[:, :-1], params[:, -1] = coef, intercept
    return params


def set_logistic_params(expert, params, n_iter, scale=None):
    """Give a LogisticRegression expert the fitted attributes of softmax ``params``.

    The reverse of :func:`logistic_params`, as ``skmoe._logistic.fit_by_newton``
    sets them: intercepts centred, a binomial model's single row
    ``beta = row 1 - row 0``, and with ``scale`` the coefficients in the
    units of the inputs (and ``scale_``).
    """
    n_classes = params.shape[0]
    coef, intercept = params[:, :-1], params[:, -1]
    intercept = (intercept - intercept.mean() if expert.fit_intercept
                 else np.zeros(n_classes))
    coef = coef - coef.mean(axis=0)
    if n_classes == 2:
        coef = (coef[1] - coef[0])[None, :]
        intercept = intercept[1:] - intercept[:1]
    if scale is not None:
        coef = coef / scale
        expert.scale_ = scale
    expert.classes_ = np.arange(n_classes)
    expert.coef_ = np.ascontiguousarray(coef)
    expert.intercept_ = np.ascontiguousarray(intercept)
    expert.n_iter_ = np.array([n_iter], dtype=np.int32)
    expert.n_features_in_ = params.shape[1] - 1
    return expert


def _block_renormalise(resp, keep):
    """Responsibilities of the kept experts, rows renormalised (equal where none is left)."""
    resp = resp[:, keep]
    norm = resp.sum(axis=1, keepdims=True)
    orphan = norm[:, 0] == 0
    resp[orphan] = 1.0 / resp.shape[1]
    norm[orphan] = 1.0
    return np.ascontiguousarray(resp / norm)


def _block_init(kmeans, mean, scale, X, y):
    """One block's one-hot k-means responsibilities (standardised ``[X, y]``, or X alone
    when ``y`` is None)."""
    data = ((X if y is None else np.column_stack([X, y])) - mean) / scale
    labels = kmeans.predict(data)
    resp = np.zeros((X.shape[0], kmeans.n_clusters))
    resp[np.arange(X.shape[0]), labels] = 1.0
    return resp


def _dirichlet_rows(seed, row_chunks, n_columns):
    """Dirichlet(1) rows in the given row chunks: normalised standard exponentials."""
    draws = da.random.RandomState(seed).standard_exponential(
        size=(sum(row_chunks), n_columns), chunks=(row_chunks, n_columns))
    return draws / draws.sum(axis=1, keepdims=True)


def _block_sample(X, y, w, rate, seed):
    """A Bernoulli sample of one block's rows (for the k-means start)."""
    keep = np.random.RandomState(seed).uniform(size=X.shape[0]) < rate
    return X[keep], y[keep], w[keep]


def _join_samples(*samples):
    """The rows of several samples ``(X, y, w)`` (:func:`_block_sample`), in order."""
    return tuple(np.concatenate([sample[part] for sample in samples]) for part in range(3))


# ------------------------------------------------------------------- fit
class _DaskFit:
    """One fit of a mixture of experts on Dask arrays; see :func:`fit_dask`."""

    def __init__(self, estimator, X, y, sample_weight):
        self.estimator = estimator
        self.X, self.y, self.w = X, y, sample_weight
        self.n_blocks = X.numblocks[0]
        self.batch_blocks = batch_blocks()

    def compute(self, *values):
        return dask.compute(*values)

    def batches(self):
        """Consecutive batches of blocks: ``(start, stop, x_blocks, y_blocks, w_blocks)``.

        Each batch's delayed blocks come from its own slice of the arrays, so the
        client holds the graph of one batch at a time, never one of all blocks.
        """
        for start in range(0, self.n_blocks, self.batch_blocks):
            stop = min(start + self.batch_blocks, self.n_blocks)
            yield (start, stop) + tuple(_blocks(array.blocks[start:stop])
                                        for array in (self.X, self.y, self.w))

    def pass_sum(self, block_sum, *sources):
        """The sum over all blocks of ``block_sum(x, y, w, *their sources)``, one pass.

        ``block_sum`` makes one block's delayed statistics; ``sources`` are
        :class:`_Sources` or :class:`_RowRanges` (or None, giving None to every
        block). Each batch is summed pairwise on the workers and only its sum
        reaches the client, which adds the batches' sums as one pairwise tree
        over all blocks would (same bits, see :class:`_PairwiseSum`).
        """
        total = _PairwiseSum()
        for start, stop, x_blocks, y_blocks, w_blocks in self.batches():
            per_block = [[None] * (stop - start) if source is None
                         else source.batch(start, stop, x_blocks, y_blocks)
                         for source in sources]
            parts = [block_sum(*args) for args in zip(x_blocks, y_blocks, w_blocks,
                                                      *per_block)]
            total.add(self.compute(_tree_sum(parts))[0])
        return total.total()

    # ---------------------------------------------------------- preparation
    def summarise(self):
        """The first pass: finiteness, total weight, moments of X and y."""
        # Moments about the first row: no digits cancel in the variances.
        first, first_y = dask.compute(self.X[:1], self.y[:1])
        shift = np.where(np.isfinite(first[0]), first[0], 0.0)
        y_shift = float(first_y[0]) if np.isfinite(first_y[0]) else 0.0
        summary = self.pass_sum(lambda x, y, w: dask.delayed(_summary)(x, y, w, shift,
                                                                       y_shift))
        if summary["bad_x"]:
            raise ValueError(
                f"Input X contains NaN or infinity ({summary['bad_x']} entries of the Dask "
                "array). Drop those rows (e.g. X[da.isfinite(X).all(axis=1)], then "
                "compute_chunk_sizes()) or impute them before fitting."
            )
        if summary["bad_y"]:
            raise ValueError(
                f"Input y contains NaN or infinity ({summary['bad_y']} entries of the Dask "
                "array). Drop or impute those rows before fitting."
            )
        if summary["bad_w"]:
            raise ValueError(
                f"sample_weight must be finite and non-negative; {summary['bad_w']} entries "
                "of the Dask array are not."
            )
        if not summary["w"] > 0:
            raise ValueError("sample_weight must not sum to zero.")
        _check_magnitudes(summary)
        n, total = summary["n"], summary["w"]
        self.n_samples, self.total_weight = n, total
        self.n_positive = summary["n_positive"]
        self.shift = shift
        self.largest = summary["largest"]
        # Weighted mean and variance of the columns (the gate's scaler), unweighted
        # spread (ScaledRidge's column scale), weighted spread of y.
        self.w_mean = shift + summary["wx"] / total
        self.w_var = np.maximum(summary["wxx"] / total - (summary["wx"] / total) ** 2, 0.0)
        self.u_mean = shift + summary["x"] / n
        self.u_var = np.maximum(summary["xx"] / n - (summary["x"] / n) ** 2, 0.0)
        y_mean = summary["wy"] / total
        self.y_mean = y_shift + y_mean
        with np.errstate(over="ignore", invalid="ignore"):
            y_var = np.float64(summary["wyy"]) / total - np.float64(y_mean) ** 2
        if not np.isfinite(y_var):
            largest = summary["largest_y"]
            raise ValueError(
                f"y has a weighted standard deviation beyond float64's squares (y reaches "
                f"{largest:.3g}), outside [{_Y_SPREAD[0]:.0e}, {_Y_SPREAD[1]:.0e}]: the "
                "experts' noise variances, in units of y squared, would not be float64 "
                f"numbers. Divide y by 1e{int(np.floor(np.log10(largest)))} and multiply the "
                "predictions back."
            )
        self.y_var = max(float(y_var), 0.0)

    # ------------------------------------------------------------------ EM
    def run(self, start, random_state, init):
        """One EM start from ``init`` (strategy or Dask array of responsibilities)."""
        est = self.estimator
        experts = seeded_clones(self.templates, random_state)
        gate = seeded_clones([self.gate_template], random_state)[0]
        sources = self.initial_resp(init, start, random_state)
        K = len(experts)
        gate.classes_ = np.arange(K)
        model = _Model(experts, {}, gate, self.expert_columns, self.gate_columns,
                       self.gate_mean, self.gate_scale, self.n_classes, self.column_scale)
        context = {"pooled_floor": None}
        stats = self.stats_pass(model, sources)
        lower_bounds, previous, converged = [], -np.inf, False
        removals = []
        n_iter = 0
        # The in-memory loop's SQUAREM of the classifier, with its decisions: only
        # runs of SoftmaxGate and plain LogisticRegression experts are extrapolated.
        squarem = Squarem() if self.n_classes is not None else None
        # The in-memory loop solves the M-step (budget None) in the iteration after
        # the log-likelihood stalled without every part solved: SQUAREM restarts there.
        solving = False
        for n_iter in range(1, est.max_iter + 1):
            sources, stats, model, dropped = self.drop_vanishing(
                model, sources, stats, n_iter, removals)
            if dropped:
                previous = -np.inf
            while True:
                # The pooled noise floor is fixed by the first M-step that keeps its
                # experts (in memory, after the thin ones are removed).
                pooled_floor = context["pooled_floor"]
                fitted, steps = self.m_step(model, stats, context, n_iter, solving)
                sources, stats, model, thin = self.drop_thin(model, fitted, sources, stats,
                                                             n_iter, removals)
                if not thin:
                    model = fitted
                    break
                context["pooled_floor"] = pooled_floor
                previous = -np.inf
            previous_sources = sources
            model_d = dask.delayed(model)
            sources = _Sources("model", model_d)
            pending = [step.part for step in steps if step.pending]
            stats = self.stats_pass(model, sources, previous_sources if pending else None,
                                    model_d, pending)
            refused = [step for step in steps if not step.accept(stats)]
            # A full Newton step that did not decrease its objective: shorter steps,
            # each one more pass over the blocks.
            for step in refused:
                model = self.with_step(model, step, step.backtrack(self, previous_sources,
                                                                   model))
            # Where the in-memory loop solves the M-step, so do more Newton steps.
            unsolved = [step for step in steps if not step.solved] if solving else []
            if unsolved:
                model = self.solve(model, unsolved, previous_sources)
            if refused or unsolved:
                # The E-step again, at the parameters reached.
                model_d = dask.delayed(model)
                sources = _Sources("model", model_d)
                stats = self.stats_pass(model, sources, model_d=model_d)
            # A solved M-step, as in memory, ends solved (or at the parts' max_iter).
            solved = solving or all(step.solved for step in steps)
            penalty = self.penalty(model)
            lower_bound = (stats["total"] - penalty) / self.total_weight
            if np.isnan(lower_bound):
                raise ValueError(
                    f"The log-likelihood became NaN at EM iteration {n_iter}; check the "
                    "experts' predictions and the scale of the data."
                )
            if squarem is not None and solving:
                squarem.restart()
            elif squarem is not None:
                shell = _SquaremRun(model, penalty)
                extrapolated = squarem.step(shell, lower_bound,
                                            functools.partial(self.bound_at, shell),
                                            self.total_weight)
                if extrapolated is not None:
                    # The pass at the kept proposal holds the next M-step's sums.
                    lower_bound, (model, sources, stats) = extrapolated
            lower_bounds.append(lower_bound)
            change = lower_bound - previous
            est._print_iteration(n_iter, lower_bound, change, 0.0)
            if abs(change) < est.tol:
                if solved:
                    converged = True
                    break
                solving = True
            else:
                solving = False
            previous = lower_bound
        from ._base import _Run

        run = _Run(model.experts, [None] * len(model.experts), model.gate, model.params)
        run.lower_bounds, run.n_iter, run.converged = lower_bounds, n_iter, converged
        run.penalty = self.penalty(model)
        run.responsibility_total = stats["resp"]
        run.gate_share = stats["gate_share"] / self.total_weight
        run.removals = removals
        run.context = {"variance_floor": self.variance_floor,
                       "target_variance": self.target_variance,
                       "pooled_floor": context["pooled_floor"]}
        return run

    def initial_resp(self, init, start, random_state):
        """The delayed blocks of one start's initial responsibilities."""
        K = len(self.templates)
        if not isinstance(init, str):
            resp = init
            if start > 0:
                noise = _dirichlet_rows(random_state.randint(_SEED_MAX), self.X.chunks[0], K)
                # The rows the array leaves out (rows of zeros) stay out of every start.
                resp = da.where(resp.any(axis=1, keepdims=True), 0.5 * resp + 0.5 * noise, 0.0)
            return _Sources("array", resp.rechunk({1: -1}))
        if init == "random":
            return _Sources("array", _dirichlet_rows(random_state.randint(_SEED_MAX),
                                                     self.X.chunks[0], K))
        return self.kmeans_resp(K, start, random_state)

    def kmeans_resp(self, K, start, random_state):
        """k-means of standardised ``[X, y]`` (a classifier's X alone, as in memory) on a
        sample of rows, each block labelled by it."""
        rate = min(1.0, KMEANS_MAX_ROWS / self.n_samples)
        seeds = random_state.randint(_SEED_MAX, size=self.n_blocks)
        # One sample per batch reaches the client, joined on the workers: the client
        # keeps no list of every block's arrays.
        samples = []
        for first, stop, x_blocks, y_blocks, w_blocks in self.batches():
            samples.append(self.compute(dask.delayed(_join_samples)(*[
                dask.delayed(_block_sample)(x, y, w, rate, seed)
                for x, y, w, seed in zip(x_blocks, y_blocks, w_blocks,
                                         seeds[first:stop])]))[0])
        X_s, y_s, w_s = _join_samples(*samples)
        with_y = self.n_classes is None
        mean = np.append(self.w_mean, self.y_mean) if with_y else self.w_mean
        scale = np.sqrt(np.append(self.w_var, self.y_var) if with_y else self.w_var)
        scale[~(scale > 0)] = 1.0
        data = ((np.column_stack([X_s, y_s]) if with_y else X_s) - mean) / scale
        if start > 0:
            w_s = random_state.multinomial(w_s.shape[0], w_s / w_s.sum()).astype(np.float64)
        kmeans = KMeans(n_clusters=K, n_init=1, random_state=random_state.randint(_SEED_MAX))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            kmeans.fit(data, sample_weight=w_s)
        return _Sources("kmeans", (dask.delayed(kmeans), mean, scale, with_y))

    def stats_pass(self, model, sources, previous_sources=None, model_d=None, checked=()):
        """One pass over the blocks: the sums of the next M-step (see :func:`_block_pass`).

        ``sources`` give each block's responsibilities, ``previous_sources`` the
        last pass's (for the line search of the Newton steps of the parts in
        ``checked``); ``model_d`` is the model as a Delayed when the sources
        already refer to it (it is sent once).
        """
        model_d = dask.delayed(model) if model_d is None else model_d
        groups = self.expert_groups(model)
        cross_fitted = self.cross_fitted(model)
        return self.pass_sum(
            lambda x, y, w, source, before, rows: dask.delayed(_block_pass)(
                model_d, x, y, w, source, self.grams_shift, groups, before, tuple(checked),
                rows, cross_fitted),
            sources, previous_sources, _RowRanges(self.X.chunks[0]) if cross_fitted else None)

    def cross_fitted(self, model):
        """The ScaledRidge experts whose noise variance is cross-fitted (as in memory,
        under ``noise_variance`` "auto" or "cross_fitted"; a regressor's only)."""
        if self.n_classes is not None or self.estimator.noise_variance == "in_sample":
            return []
        return [k for k, expert in enumerate(model.experts) if type(expert) is ScaledRidge]

    def solve(self, model, steps, sources):
        """Newton steps from those of ``steps`` on until each part is solved.

        The in-memory M-step that solves the gate and the experts (in the
        iteration after the log-likelihood stalled) continues the first step's
        damped Newton iterations up to each part's tolerance or ``max_iter``
        steps; the same steps here cost two passes each (the sums at the
        current coefficients for the targets of ``sources``, then the loss at
        the full step). Returns the model at the parameters reached.
        """
        taken = 1
        while True:
            steps = [step for step in steps if taken < step.max_steps]
            if not steps:
                return model
            model_d = dask.delayed(model)
            parts = tuple(step.part for step in steps)
            sums = self.pass_sum(
                functools.partial(dask.delayed(_block_part_sums), model_d, parts), sources)
            steps = [step.successor(model, sums[step.part]) for step in steps]
            steps = [step for step in steps if step.pending]
            if not steps:
                return model
            candidate = model
            for step in steps:
                candidate = self.with_step(candidate, step, step.params)
            candidate_d = dask.delayed(candidate)
            parts = tuple(step.part for step in steps)
            checks = self.pass_sum(
                functools.partial(dask.delayed(_block_checks), candidate_d, parts), sources)
            for step in steps:
                params = (step.params if step.accept(checks)
                          else step.backtrack(self, sources, model))
                model = self.with_step(model, step, params)
            taken += 1
            steps = [step for step in steps if not step.solved]

    def bound_at(self, run):
        """The EM objective at the parameters of ``run`` (a :class:`_SquaremRun`), by one pass.

        The pass is the one the next iteration needs if SQUAREM keeps these
        parameters: its E-step and the M-step's sums at them.

        Returns ``(lower_bound, (model, sources, stats))`` and sets ``run.penalty``.
        """
        # Copies: SQUAREM gives the run's gate and experts other arrays if it refuses.
        model = run.model.replace(experts=[copy.copy(e) for e in run.experts],
                                  gate=copy.copy(run.gate))
        model_d = dask.delayed(model)
        sources = _Sources("model", model_d)
        stats = self.stats_pass(model, sources, model_d=model_d)
        run.penalty = self.penalty(model)
        return (stats["total"] - run.penalty) / self.total_weight, (model, sources, stats)

    def expert_groups(self, model):
        """Expert indices by ``fit_intercept`` (their Gram matrices use different shifts)."""
        groups = {}
        for k, expert in enumerate(model.experts):
            groups.setdefault(bool(expert.fit_intercept), []).append(k)
        return groups

    @staticmethod
    def with_step(model, step, params):
        """``model`` with the gate or the expert that ``step`` moves at ``params``."""
        if step.part == "gate":
            return model.replace(gate=step.make(params))
        experts = list(model.experts)
        experts[step.part] = step.make(params)
        return model.replace(experts=experts)

    def drop_vanishing(self, model, sources, stats, n_iter, removals):
        """Remove experts whose share fell below ``min_expert_weight``, as in memory."""
        est = self.estimator
        share = stats["resp"] / self.total_weight
        keep = (share >= est.min_expert_weight) & (share > 0)
        keep[np.argmax(share)] = True
        reasons = {
            index: f"its share of the responsibilities is {share[index]:.3g}, below "
                   f"min_expert_weight={est.min_expert_weight}"
            for index in np.flatnonzero(~keep)
        }
        return self.remove_experts(model, sources, stats, keep, reasons, n_iter, removals)

    def drop_thin(self, model, fitted, sources, stats, n_iter, removals):
        """Remove experts responsible for too few rows for the parameters they fit.

        The in-memory rule (``min_rows_per_parameter``), judged on the experts
        ``fitted`` by the M-step from ``stats``, the sums of ``model``'s E-step.
        The experts kept are the fitted ones, with ``model``'s gate and noise
        parameters, as the in-memory loop refits them from the remaining experts'
        responsibilities.
        """
        est = self.estimator
        if est.min_rows_per_parameter == 0:
            return sources, stats, model, False
        rows = self.n_positive * stats["resp"] / self.total_weight
        keep, reasons = est._thin_experts(fitted.experts, rows)
        return self.remove_experts(model.replace(experts=fitted.experts), sources, stats, keep,
                                   reasons, n_iter, removals)

    def remove_experts(self, model, sources, stats, keep, reasons, n_iter, removals):
        """Drop the experts not in ``keep`` (recording why) and sum the pass again.

        Returns ``(sources, stats, model, removed)``.
        """
        if keep.all():
            return sources, stats, model, False
        for index, reason in reasons.items():
            removals.append((
                f"Expert {index} ({type(model.experts[index]).__name__}) was removed at EM "
                f"iteration {n_iter}",
                f"{reason}. {int(keep.sum())} experts remain."))
        # A new model: the sources of the responsibilities still refer to the old one.
        gate = copy.deepcopy(model.gate)
        gate._drop_classes(keep)
        gate.classes_ = np.arange(int(keep.sum()))
        model = model.replace(experts=[e for e, k in zip(model.experts, keep) if k],
                              params={name: value[keep] for name, value in model.params.items()},
                              gate=gate)
        sources = _Sources("drop", (sources, keep))
        stats = self.stats_pass(model, sources)
        return sources, stats, model, True

    def m_step(self, model, stats, context, n_iter, solving=False):
        """Experts, noise variances and gate from the summed statistics.

        Returns the new model and the Newton steps it took (the gate's, and a
        classifier's experts'), whose line search the next pass completes.
        ``solving`` marks the iterations in which the in-memory loop solves the
        M-step (see :class:`_ExpertStep`).
        """
        gate_step = _GateStep(model.gate, len(model.experts), self.gate_columns.shape[0],
                              stats, self.total_weight)
        if self.n_classes is not None:
            steps = [_ExpertStep(k, expert, self.n_classes, self.n_expert_features, stats,
                                 solving, self.column_scale
                                 if type(expert) is ScaledLogisticRegression else None)
                     for k, expert in enumerate(model.experts)]
            experts = [step.make(step.params) for step in steps]
            return (model.replace(experts=experts, gate=gate_step.make(gate_step.params)),
                    [gate_step] + steps)
        experts = model.experts
        K = len(experts)
        grams = np.empty((K, self.n_expert_features + 2, self.n_expert_features + 2))
        for intercept, chosen in self.expert_groups(model).items():
            grams[chosen] = stats[f"grams_{intercept}"]
        shifts = {True: self.grams_shift, False: (np.zeros(self.n_expert_features), 0.0)}
        # ScaledRidge: weights scaled by var(y) / s_k^2 (the in-memory fit weights).
        scale2 = model.params.get("noise_variance_")
        factors = np.ones(K)
        if scale2 is not None:
            factors = np.where([isinstance(e, ScaledRidge) for e in experts],
                               self.target_variance / scale2, 1.0)
        fitted = []
        for k, expert in enumerate(experts):
            center, y_center = shifts[bool(expert.fit_intercept)]
            # A copy: the sources of this pass's responsibilities refer to the old experts.
            fitted.append(fit_expert_from_gram(copy.deepcopy(expert), k, factors[k] * grams[k],
                                               center, y_center, self.column_scale,
                                               n_iter == 1))
        residuals = np.array([residual_sum(e, g, *shifts[bool(e.fit_intercept)])
                              for e, g in zip(fitted, grams)])
        cross_fitted = self.cross_fitted(model)
        if cross_fitted:
            residuals[cross_fitted] = self.cross_fitted_residuals(
                [fitted[k] for k in cross_fitted], factors[cross_fitted], stats)
        weight = grams[:, self.n_expert_features, self.n_expert_features]
        if context["pooled_floor"] is None:
            context["pooled_floor"] = _POOLED_VARIANCE_FLOOR * residuals.sum() / weight.sum()
        floor = max(self.variance_floor, context["pooled_floor"])
        params = {"noise_variance_": _floor_scale(residuals / weight, floor)}
        return (model.replace(experts=fitted, params=params,
                              gate=gate_step.make(gate_step.params)), [gate_step])

    def cross_fitted_residuals(self, experts, factors, stats):
        """Weighted sums of squared out-of-fold residuals of ScaledRidge ``experts``.

        As ``MixtureOfExpertsRegressor``'s in-memory M-step: each expert refitted
        without each noise fold, on its fit weights (the responsibilities times
        ``factors``), predicts that fold's rows, whose residuals are weighted by
        the responsibilities; where the other folds give it no weight or the
        refit cannot be solved, the expert itself predicts them. The refits
        come from the folds' sums of the pass (``skmoe._ridge.fold_refits``),
        and each fold's residual sum is a quadratic form of its responsibility
        Gram matrix, so no pass is added.
        """
        folds = [stats[f"fold_{fold}"] for fold in range(_NOISE_FOLDS)]
        grams = np.stack([fold[0] for fold in folds])
        positive = np.stack([fold[1] for fold in folds])
        residuals = np.zeros(len(experts))
        for intercept in (True, False):
            group = [j for j, expert in enumerate(experts)
                     if bool(expert.fit_intercept) is intercept]
            if not group:
                continue
            scaled = grams[:, group + [-1]] * np.append(factors[group], 1.0)[:, None, None]
            models = fold_refits([experts[j] for j in group], scaled, positive[:, group],
                                 self.grams_shift, self.expert_unit)
            for position, j in enumerate(group):
                residuals[j] = sum(residual_sum(fold_models[position], gram[j],
                                                *self.grams_shift)
                                   for fold_models, gram in zip(models, grams))
        return residuals

    def penalty(self, model):
        """The objective's penalty: the gate's, the ScaledRidge experts' and the
        LogisticRegression experts' (as in memory)."""
        gate = model.gate._penalty() if hasattr(model.gate, "coef_") else 0.0
        ridges = sum(ridge_penalty(e) for e in model.experts if hasattr(e, "coef_"))
        logistic = sum(logistic_penalty(e) for e in model.experts)
        return gate + ridges / (2.0 * self.target_variance) + logistic


class _SquaremRun:
    """A model's gate and experts as the EM run ``skmoe._squarem.Squarem`` extrapolates.

    Shallow copies: SQUAREM gives them other parameter arrays, and the model
    (which the sources of responsibilities refer to) keeps its own.
    """

    def __init__(self, model, penalty):
        self.model, self.penalty = model, penalty
        self.gate = copy.copy(model.gate)
        self.experts = [copy.copy(expert) for expert in model.experts]
        self.params = model.params


class _NewtonStep:
    """One damped Newton step of a softmax model, as ``newton_solve`` with one iteration.

    The gate's (on the responsibilities) or a logistic expert's (on the
    classes' indicators, weighted by its responsibilities): the direction
    comes from the pass's sums at the current coefficients; the full step is
    tried first, and its loss (for the same targets) comes with the next pass
    over the blocks (:func:`_block_pass`). Only when it fails the
    sufficient-decrease test are shorter steps evaluated, one pass each.

    Parameters
    ----------
    part : "gate" or int
        What the step moves: the gate or the expert of that index.
    start : ndarray of shape (n_classes, n_columns)
        The current coefficients (intercepts in the last column).
    sums : tuple
        The pass's unpenalised loss, gradient and Hessian at ``start``.
    alpha, fit_intercept, total_weight, tol :
        The objective's penalty, whether it has intercepts, the weight its
        sums are divided by, and the gradient at which it is solved.
    null_space : ndarray
        Orthonormal directions the step leaves out.
    """

    def __init__(self, part, start, sums, alpha, fit_intercept, total_weight, tol, null_space):
        self.part = part
        self.shape = start.shape
        self.alpha, self.fit_intercept = alpha, fit_intercept
        self.total_weight, self.tol = total_weight, tol
        self.start = start.ravel()
        loss, grad, hess = sums
        self.loss, grad = self.penalised(self.start, loss, grad)
        self.pending, self.solved = False, True
        self.direction = None
        if np.max(np.abs(grad)) > tol:
            hess = np.array(hess)
            penalise_gate_hessian(hess, self.shape[1], alpha, total_weight)
            direction = _newton_direction(hess, grad, null_space @ null_space.T)
            self.slope = float(grad @ direction)
            if self.slope < 0:
                self.direction, self.pending = direction, True

    @property
    def params(self):
        """The coefficients after the step (the full step while it is pending)."""
        return (self.start + self.direction if self.pending else self.start).reshape(self.shape)

    def penalised(self, params, loss, grad):
        grad = np.array(grad, dtype=np.float64).reshape(self.shape)
        loss = penalise_gate_loss(params.reshape(self.shape), loss, grad, self.alpha,
                                  self.fit_intercept, self.total_weight)
        return loss, grad.ravel()

    def sufficient(self, loss, step):
        return loss <= self.loss + _ARMIJO * step * self.slope

    def done(self, loss, grad):
        """Whether the step taken leaves the problem solved."""
        return bool(np.max(np.abs(grad)) <= self.tol)

    def accept(self, stats):
        """Whether the full step passes, given the pass's loss at it; sets ``solved``."""
        if not self.pending:
            return True
        loss, grad = self.penalised(self.start + self.direction,
                                    *stats[f"check_{self.part}"])
        if not self.sufficient(loss, 1.0):
            return False
        self.solved = self.done(loss, grad)
        return True

    def backtrack(self, fit, sources, model):
        """Halve the step until the loss decreases enough; sets and returns ``params``."""
        model_d = dask.delayed(model)
        step = 0.5
        while step >= _MIN_STEP:
            params = self.start + step * self.direction
            loss, grad = self.penalised(params, *fit.pass_sum(
                functools.partial(dask.delayed(_block_part_loss), model_d, self.part,
                                  params.reshape(self.shape)), sources))
            if self.sufficient(loss, step):
                self.solved = self.done(loss, grad)
                self.direction = step * self.direction
                return self.params
            step *= 0.5
        self.solved, self.pending = True, False
        return self.params


class _GateStep(_NewtonStep):
    """The gate's :class:`_NewtonStep`, and the gate at its coefficients."""

    def __init__(self, gate, n_classes, n_features, stats, total_weight):
        self.template = gate
        fit_intercept = bool(gate.fit_intercept)
        super().__init__("gate", _gate_params(gate, n_classes, n_features), stats["gate"],
                         1.0 / gate.C, fit_intercept, total_weight, gate.tol,
                         _null_space(n_classes, n_features, fit_intercept))
        if gate.max_iter < 1:
            self.pending, self.solved = False, True

    @property
    def max_steps(self):
        """The Newton steps a solve of the gate takes at most (its ``max_iter``)."""
        return int(self.template.max_iter)

    def successor(self, model, sums):
        """The next Newton step of a solve, from ``model``'s gate and its sums there."""
        return _GateStep(model.gate, self.shape[0], self.shape[1] - 1, {"gate": sums},
                         self.total_weight)

    def make(self, params):
        gate = clone(self.template)
        n_classes = self.shape[0]
        gate.classes_ = np.arange(n_classes)
        gate.coef_ = params[:, :-1].copy()
        intercept = params[:, -1] if self.fit_intercept else np.zeros(n_classes)
        gate.intercept_ = intercept - intercept.mean()
        gate.n_features_in_ = self.shape[1] - 1
        return gate


class _ExpertStep(_NewtonStep):
    """A LogisticRegression expert's :class:`_NewtonStep` on its penalised objective.

    The objective of ``skmoe._logistic``: the weighted multinomial
    cross-entropy plus ``||W||^2 / (2 C)`` (a binomial model as a two-class
    softmax with ``C / 2``), divided by the expert's total weight; solved at
    the tolerance of its in-memory fits.

    Whether a step taken leaves the expert solved follows the in-memory fit
    (``skmoe._logistic.fit_by_newton``): a generalised-EM step of one Newton
    step leaves it unsolved (unless the expert's ``max_iter`` is 1), so the
    run takes the iteration that solves the M-step before it stops, as in
    memory. In that iteration (``solving``) a step solves the expert when its
    gradient then meets the tolerance or when it does not lower the loss (the
    gradient has reached the rounding floor of its sums); otherwise
    :meth:`_DaskFit.solve` takes the next steps, as ``newton_steps`` does.
    """

    def __init__(self, k, expert, n_classes, n_features, stats, solving=True, scale=None):
        self.template = expert
        self.solving = solving
        # A ScaledLogisticRegression's steps are taken on its columns divided by scale.
        self.scale = scale
        alpha = _alpha(expert)
        alpha = 2.0 * alpha if n_classes == 2 else alpha
        fit_intercept = bool(expert.fit_intercept)
        sums = stats[f"expert_{k}"]
        super().__init__(k, logistic_params(expert, n_classes, n_features, scale), sums, alpha,
                         fit_intercept, float(stats["resp"][k]),
                         min(float(expert.tol), FULL_SOLVE_TOL),
                         _logistic_null_space(n_classes, n_features + 1, fit_intercept))

    @property
    def max_steps(self):
        """The Newton steps a solve of the expert takes at most (its ``max_iter``)."""
        return int(self.template.max_iter)

    def successor(self, model, sums):
        """The next Newton step of a solve, from ``model``'s expert and its sums there."""
        return _ExpertStep(self.part, model.experts[self.part], self.shape[0],
                           self.shape[1] - 1,
                           {f"expert_{self.part}": sums, "resp": {self.part: self.total_weight}},
                           scale=self.scale)

    def done(self, loss, grad):
        if not self.solving:
            return int(self.template.max_iter) == 1
        return super().done(loss, grad) or not loss < self.loss

    def make(self, params):
        return set_logistic_params(copy.deepcopy(self.template), params, 1, self.scale)


def _null_space(n_classes, n_features, fit_intercept):
    """Directions along which the gate's objective is constant (see ``skmoe._gate``)."""
    n_columns = n_features + 1
    intercepts = np.arange(n_classes) * n_columns + n_columns - 1
    if fit_intercept:
        vector = np.zeros((n_classes * n_columns, 1))
        vector[intercepts] = 1.0 / np.sqrt(n_classes)
        return vector
    vectors = np.zeros((n_classes * n_columns, n_classes))
    vectors[intercepts, np.arange(n_classes)] = 1.0
    return vectors


def is_newton_logistic(expert):
    """Whether ``expert`` is a LogisticRegression whose M-step Newton's method takes from
    sums over rows (the settings ``skmoe._logistic`` fits by Newton's method)."""
    return (type(expert) in (LogisticRegression, ScaledLogisticRegression)
            and _alpha(expert) is not None)


def check_dask_experts(estimator, templates):
    """Refuse, naming it, an expert or gate the exact Dask EM cannot fit.

    Returns
    -------
    exact : bool
        True when the exact EM fits the experts; False when some cannot be
        fitted from sums over rows but every one has ``partial_fit`` (the fit
        then streams the blocks through :meth:`partial_fit`).

    Raises
    ------
    TypeError
        For an expert that has neither an M-step that is a sum over rows
        (plain LinearRegression, Ridge, ScaledRidge for the regressor; plain
        LogisticRegression with an L2 penalty or none and a solver of the
        L-BFGS family for the classifier) nor ``partial_fit``, or a gate other
        than SoftmaxGate.
    ValueError
        For settings the exact Dask EM does not support.
    """
    from ._regressor import MixtureOfExpertsRegressor

    if no_gate_inputs(estimator.gate_features):
        # It was refused as "must be a non-empty 1-D list of columns", as if the
        # gate without inputs that it asks for in memory were not a setting.
        raise ValueError("gate_features=[] (a gate without inputs, mixing proportions "
                         "only) is not supported on Dask collections; fit in memory, or "
                         "give the gate columns.")
    regressor = isinstance(estimator, MixtureOfExpertsRegressor)
    summed = is_gram_expert if regressor else is_newton_logistic
    exact = all(summed(template) for template in templates)
    if not exact:
        for index, template in enumerate(templates):
            if not (regressor or hasattr(template, "partial_fit")) and summed(template):
                # The stream updates experts by partial_fit; only linear regressors
                # have a streaming M-step of their own.
                raise TypeError(
                    f"Expert {index} ({describe_expert(template)}) is fitted on a Dask "
                    "collection only when every expert is such a LogisticRegression "
                    "(exact EM); beside experts fitted by streaming EM it would need "
                    "partial_fit. Use LogisticRegression experts only, or experts with "
                    "partial_fit only."
                )
            if not hasattr(template, "partial_fit") and not summed(template):
                raise TypeError(
                    f"Expert {index} ({describe_expert(template)}) has no M-step that is a "
                    "sum over rows and no partial_fit, so it cannot be fitted on a Dask "
                    "collection. Use "
                    + ("LinearRegression, Ridge or ScaledRidge experts (exact EM) or "
                       if regressor else
                       "LogisticRegression experts with an L2 penalty or none and the "
                       "lbfgs, newton-cg or newton-cholesky solver (exact EM) or ")
                    + "experts with partial_fit (fitted by streaming EM over the blocks), "
                    "or fit in memory."
                )
        if estimator.gate is not None and type(estimator.gate) is not SoftmaxGate:
            raise TypeError(
                f"The gate of a fit on a Dask collection must be a SoftmaxGate, got "
                f"{type(estimator.gate).__name__}."
            )
        return False
    if estimator.gate is not None and type(estimator.gate) is not SoftmaxGate:
        raise TypeError(
            f"The gate of a fit on a Dask collection must be a SoftmaxGate, got "
            f"{type(estimator.gate).__name__}."
        )
    unsupported = {"assignment": (estimator.assignment, "soft")}
    if regressor:
        unsupported["noise"] = (estimator.noise, "gaussian")
    else:
        # Its exact experts have a parameter count: "auto" models no label noise.
        unsupported["label_noise"] = (estimator.label_noise, ("auto", "none"))
    if regressor and estimator.noise_variance == "cross_fitted":
        for index, template in enumerate(templates):
            if type(template) is not ScaledRidge:
                raise ValueError(
                    f"noise_variance='cross_fitted' on a Dask collection applies to "
                    f"ScaledRidge experts only (refitted without each fold from the folds' "
                    f"Gram matrices); expert {index} is {describe_expert(template)}. Use "
                    "noise_variance='auto' or 'in_sample', or fit in memory."
                )
    for name, (value, allowed) in unsupported.items():
        if value != allowed and value not in (allowed if isinstance(allowed, tuple) else ()):
            allowed_text = (" or ".join(map(repr, allowed)) if isinstance(allowed, tuple)
                            else repr(allowed))
            raise ValueError(
                f"A fit on a Dask collection supports {name}={allowed_text} only, got "
                f"{value!r}."
            )
    if regressor and resolve_family(templates, estimator.noise,
                                    has_own_density).name != "gaussian":
        raise ValueError("A fit on a Dask collection needs the Gaussian family, not "
                         f"{resolve_family(templates, estimator.noise, has_own_density).name}.")
    if estimator.warm_start and hasattr(estimator, "converged_"):
        raise ValueError("warm_start is not supported on Dask collections; set "
                         "warm_start=False.")
    return True


def fit_dask(estimator, X, y, sample_weight=None, groups=None):
    """Fit ``estimator`` by exact EM on Dask collections; see the module docstring.

    ``init="kmeans"`` and ``"auto"`` start every start from k-means on a sample
    of the rows (``"emem"``'s short runs would each cost many passes over the
    blocks); an array init must have one row per row of X.
    """
    if groups is not None:
        raise ValueError("groups are not supported on Dask collections; fit in memory.")
    # A new fit: a later partial_fit continues from it, not from an older stream.
    estimator.__dict__.pop("_stream_", None)
    # Never grouped (an in-memory grouped fit's record would outlive it).
    estimator.__dict__.pop("_fit_groups_", None)
    templates = estimator._expert_templates()
    for index, template in enumerate(templates):
        estimator._check_expert(template, index)
    if estimator.gate is not None:
        check_is_estimator(estimator.gate, "gate")
    exact = check_dask_experts(estimator, templates)
    register_worker_threads()
    X, y, sample_weight, names = dask_rows(estimator, X, y, sample_weight)
    if y is None:
        raise ValueError("y is required.")
    if not exact:
        return _stream_blocks(estimator, X, y, sample_weight)
    classes = None
    if hasattr(estimator, "predict_proba"):
        classes = dask_classes(y)
        y = y.map_blocks(_encode_labels, classes=classes, dtype=np.int64)
    else:
        check_no_datetimes(y, "y")
        y = y.astype(np.float64)
    if sample_weight is None:
        sample_weight = da.ones(X.shape[0], chunks=(X.chunks[0],))
    n_experts = len(templates)
    if X.shape[0] < max(2, n_experts):
        raise ValueError(f"Expected n_samples >= n_experts, got n_experts={n_experts}, "
                         f"n_samples={X.shape[0]}.")
    init = estimator.init
    if not isinstance(init, str):
        if isinstance(init, da.Array) or hasattr(init, "to_dask_array"):
            init = _as_rows(init, "init", 2)
            if init.shape != (X.shape[0], n_experts):
                raise ValueError(f"init must have shape (n_samples, n_experts)="
                                 f"({X.shape[0]}, {n_experts}), got {init.shape}.")
            init = init.rechunk((X.chunks[0], -1)).astype(np.float64)
        else:
            init = da.from_array(check_responsibilities(init, X.shape[0], n_experts),
                                 chunks=(X.chunks[0], -1))
    fit = _DaskFit(estimator, X, y, sample_weight)
    fit.n_classes = None if classes is None else classes.shape[0]
    fit.summarise()
    estimator.n_features_in_ = X.shape[1]
    if names is not None:
        estimator.feature_names_in_ = names
    else:
        estimator.__dict__.pop("feature_names_in_", None)
    if classes is None:
        estimator.family_ = "gaussian"
    # Two values with y's weighted mean and spread: the in-memory check of y's scale.
    estimator._check_fit_targets(fit.y_mean + np.sqrt(fit.y_var) * np.array([-1.0, 1.0]),
                                 np.ones(2))
    expert_columns = resolve_columns(estimator.expert_features, X.shape[1], names,
                                     "expert_features")
    gate_columns = resolve_columns(estimator.gate_features, X.shape[1], names,
                                   "gate_features", allow_empty=False)
    fit.templates = templates
    fit.gate_template = (SoftmaxGate(warm_start=True) if estimator.gate is None
                         else clone(estimator.gate).set_params(warm_start=True))
    fit.expert_columns, fit.gate_columns = expert_columns, gate_columns
    fit.n_expert_features = expert_columns.shape[0]
    fit.gate_mean = fit.w_mean[gate_columns]
    gate_scale = np.sqrt(fit.w_var[gate_columns])
    gate_scale[~(gate_scale > 10 * np.finfo(np.float64).eps * np.abs(fit.gate_mean)
                 + np.finfo(np.float64).tiny)] = 1.0
    fit.gate_scale = gate_scale
    fit.grams_shift = (fit.u_mean[expert_columns], fit.y_mean)
    fit.expert_unit = magnitude(fit.largest[expert_columns][None, :])
    column_scale = np.sqrt(fit.u_var[expert_columns])
    column_scale[~(column_scale > 10 * np.finfo(np.float64).eps
                   * np.maximum(np.abs(fit.u_mean[expert_columns]), 1e-300))] = 1.0
    fit.column_scale = column_scale
    if classes is not None:
        # The largest value of each column stands for the column.
        _check_logistic_columns(templates, fit.largest[expert_columns][None, :], column_scale)
    scale = fit.y_var or fit.y_mean**2 or 1.0
    fit.target_variance = scale
    fit.variance_floor = getattr(estimator, "var_floor", 0.0) * scale
    random_state = check_random_state(estimator.random_state)
    seeds = [random_state.randint(_SEED_MAX) for _ in range(estimator.n_init)]
    runs = []
    # One BLAS thread for the client's small solves, as the in-memory loop.
    with threadpool_controller().limit(limits=1, user_api="blas"):
        for start, seed in enumerate(seeds):
            start_state = np.random.RandomState(seed)
            strategy = init if not isinstance(init, str) else (
                "kmeans" if init in ("auto", "emem") else init)
            runs.append(fit.run(start, start_state, strategy))
            estimator._print_start(start, runs[-1], 0.0)
    best = max(runs, key=lambda run: run.lower_bound)
    for what, why in best.removals:
        warnings.warn(f"{what}: {why}", UserWarning, stacklevel=_user_stacklevel())
    message = estimator._fitted_likelihood_warning(best, None)
    if message is not None:
        warnings.warn(message, UserWarning, stacklevel=_user_stacklevel())
    if not best.converged:
        warnings.warn(
            "Best performing initialization did not converge after "
            f"max_iter={estimator.max_iter} iterations (tol={estimator.tol}). Increase "
            "max_iter, loosen tol, try more starts (n_init) or another init.",
            ConvergenceWarning, stacklevel=_user_stacklevel())
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = fit.gate_mean, fit.gate_scale
    scaler.var_ = fit.gate_scale**2
    scaler.n_features_in_ = gate_columns.shape[0]
    scaler.n_samples_seen_ = fit.n_samples
    estimator.gate_scaler_ = scaler
    estimator.expert_features_ = expert_columns
    estimator.gate_features_ = gate_columns
    estimator._design_ranks_ = [None] * len(best.experts)
    estimator._gate_rank_ = None
    estimator.init_lower_bounds_ = [list(run.lower_bounds) for run in runs]
    margin = 0.01 / fit.total_weight
    estimator.n_starts_at_best_ = sum(run.lower_bound >= best.lower_bound - margin
                                      for run in runs)
    if classes is not None:
        estimator.classes_ = classes
    estimator._set_fitted(best)
    return estimator


def dask_classes(y):
    """The sorted classes of a Dask array of labels, refused as the in-memory fit refuses them."""
    if y.dtype.kind == "O":
        # NumPy cannot sort None or pd.NA among labels ('<' not supported).
        missing = y.map_blocks(pd.isna, dtype=bool)
        count, first = dask.compute(missing.sum(), missing.argmax())
        if count:
            raise ValueError(
                f"y holds {int(count)} missing label(s) (None, NaN or pd.NA), the first at "
                f"position {int(first)}: every row needs a class. Drop those rows or give "
                "them a class."
            )
    try:
        classes = unique_labels_of(da.unique(y).compute())
    except TypeError:
        # A block's sort failed ('<' not supported between 'int' and 'str').
        raise TypeError("y mixes labels of types that cannot be ordered; give labels of one "
                        "type, e.g. all strings.") from None
    if classes.dtype.kind == "f" and not np.all(np.isfinite(classes)):
        raise ValueError("Input y contains NaN or infinity; drop or impute those rows "
                         "before fitting.")
    check_classification_targets(classes)
    if classes.shape[0] < 2:
        raise ValueError(
            "MixtureOfExpertsClassifier needs at least 2 classes in y; got 1 class: "
            f"{classes[0]}."
        )
    return classes


def _encode_labels(y, classes):
    """One block's labels as their indices in ``classes``."""
    return np.searchsorted(classes, y).astype(np.int64)


def _stream_blocks(estimator, X, y, sample_weight):
    """Fit by one pass of streaming EM (:meth:`partial_fit`) over the blocks, in order.

    Each block is computed on the workers and brought to the client on its
    own; a classifier's classes come from one pass over y first.
    """
    classes = None
    if hasattr(estimator, "predict_proba"):
        classes = dask_classes(y)
    for name in ("experts_", "_stream_", "classes_", "feature_names_in_", "n_features_in_"):
        estimator.__dict__.pop(name, None)
    blocks = zip(_blocks(X), _blocks(y), [None] * X.numblocks[0] if sample_weight is None
                 else _blocks(sample_weight))
    for x_block, y_block, w_block in blocks:
        x_block, y_block, w_block = dask.compute(x_block, y_block, w_block)
        estimator.partial_fit(x_block, y_block, sample_weight=w_block, classes=classes)
    return estimator


# -------------------------------------------------------------- prediction
def predict_blockwise(estimator, method, X, *args, **kwargs):
    """``estimator.method(X, ...)`` on each block of a Dask collection, lazily.

    ``X`` (and a Dask ``y`` in ``args``, for ``score_samples``) must have
    known row chunks; the result is a Dask array with X's row chunks.
    """
    if kwargs.get("groups") is not None:
        raise ValueError("groups are not supported on Dask collections.")
    kwargs.pop("groups", None)
    frame = hasattr(X, "columns")
    columns = list(X.columns) if frame else None
    # Each block holds whole rows, as a fit makes them (see dask_rows); the row chunks
    # stay X's.
    X_rows = _as_rows(X, "X", 2)
    X_rows = X_rows.rechunk((X_rows.chunks[0], (X_rows.shape[1],)))
    arrays = []
    for value in args:
        if is_dask_collection(value) or isinstance(value, np.ndarray):
            arrays.append(_aligned(_as_rows(value, "y", 1), X_rows, "y"))
        else:
            arrays.append(value)
    bound = getattr(estimator, method).__wrapped__

    def call(block, *rest):
        if frame:
            import pandas as pd

            block = pd.DataFrame(block, columns=columns)
        return bound(estimator, block, *rest, **kwargs)

    # The shape and dtype of one row's output give each block's (a tuple, as
    # predict(X, return_std=True) gives, becomes a tuple of Dask arrays).
    head = X_rows[:1].compute()
    rest = [a[:1].compute() if isinstance(a, da.Array) else a for a in arrays]
    sample = call(head, *rest)
    several = isinstance(sample, tuple)
    samples = [np.asarray(part) for part in (sample if several else (sample,))]
    pieces = [[] for _ in samples]
    x_blocks = _blocks(X_rows)
    other = [(_blocks(a) if isinstance(a, da.Array) else [a] * len(x_blocks)) for a in arrays]
    for index, block in enumerate(x_blocks):
        n_rows = X_rows.chunks[0][index]
        output = dask.delayed(call, nout=len(samples) if several else None)(
            block, *[o[index] for o in other])
        for position, part in enumerate(samples):
            value = output[position] if several else output
            pieces[position].append(da.from_delayed(value, shape=(n_rows,) + part.shape[1:],
                                                    dtype=part.dtype))
    results = tuple(da.concatenate(blocks, axis=0) for blocks in pieces)
    return results if several else results[0]

