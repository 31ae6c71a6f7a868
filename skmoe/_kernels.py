"""Numba kernels of the EM loop, each beside the NumPy reference it must equal.

The kernels are pure functions over float64 C-contiguous arrays: they never see
an estimator and write only into the ``out`` arrays they are given. They work
on blocks of rows that depend on the shape only; sums over rows are taken
serially afterwards, in row (or block) order, so that a fit is bit-for-bit
reproducible whatever the number of threads. Each public kernel is a Python
function that calls one compiled function (``serial_kernel``, which
:mod:`skmoe._warmup` compiles) when its arrays are small, and otherwise runs
ranges of its blocks on several threads (:func:`skmoe._threads.run_blocks`)
through the compiled functions that the serial one calls (or is: the
quantiles' threads run ``serial_kernel`` itself on their ranges). Nothing is
compiled with ``parallel=True``: Numba's parallel lowering recompiled
everything a ``prange`` loop calls, which was most of the kernels'
compilation time.

``exp`` and ``log`` inside the kernels are :func:`skmoe._fastmath._exp` and
:func:`skmoe._fastmath._log`, which vectorise (numba's are scalar libm calls).
The Gram algebra of the linear experts is in :mod:`skmoe._gram_kernels`, beside its only
user :mod:`skmoe._linear`."""

import math
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit

from ._fastmath import _exp, _log

# Private names: the public names of this module are the kernels the estimators
# call (and warm up); these are compiled into the quantile kernel.
from ._special import gamma_constant as _gamma_constant
from ._special import gamma_pq_given as _gamma_pq_given
from ._special import poisson_cdf as _poisson_cdf
from ._special import student_t_cdf_given as _student_t_cdf_given
from ._special import student_t_log_beta as _student_t_log_beta
from ._special import student_t_pdf as _student_t_pdf
from ._threads import run_blocks

# scipy.special is imported by the NumPy functions that use it: the warm-up's processes
# import this module and compile its kernels, which do not (0.2 s less for each).

# ``fastmath=True`` would include "nnan"/"ninf", which turn a log-sum-exp over a
# row of -inf into NaN; this subset keeps infinities exact.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
# ``error_model="numpy"``: a float division must not carry Python's
# ZeroDivisionError branch, which stops LLVM from vectorising the loop around it.
_SERIAL = {"cache": True, "fastmath": _FASTMATH, "nogil": True, "error_model": "numpy"}
# A block helper with one caller, inlined into it by Numba: not compiled (and turned
# into machine code) on its own and then again inside its caller; the same bits
# come out. Only where the run time stays the same: the categorical likelihood's
# and the log-softmax's blocks ran 5 to 25% slower inlined, the E-step's, the
# Gaussian's and the observed classes' did not. Helpers with two callers (the
# gate's loss and Hessian blocks) compiled slower inlined: each caller types them.
_INLINED = {**_SERIAL, "inline": "always"}
_LOG_2PI = float(np.log(2.0 * np.pi))

# Rows of a block are chosen so that a block holds about this many entries
# (32 KiB of float64: one L1 cache). Blocks depend on the shape only, never on
# the number of threads.
_BLOCK_ENTRIES = 4096


# Kernels on fewer entries than this run on the calling thread: handing blocks
# to other threads costs more than they save on small arrays, and on a loaded
# machine a thread can wait milliseconds to be scheduled, which an L-BFGS solve
# calling the gate's loss hundreds of times would pay every time.
_MIN_PARALLEL_ENTRIES = 1 << 20


@contextmanager
def kernel_threads(n_threads):
    """Numba's threads for the kernels this thread calls, within the block.

    Numba's thread count is per calling thread: EM starts running in parallel
    threads each get their share of the cores this way, instead of each
    starting as many kernel threads as there are cores. None changes nothing.
    """
    if n_threads is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@njit(cache=True, nogil=True)
def _rows_per_block(n_columns):
    """Rows in a block of about ``_BLOCK_ENTRIES`` entries."""
    return max(1, _BLOCK_ENTRIES // max(1, n_columns))


# The first block of a serial call. A constant (``0``) passed to a compiled
# function is typed as that literal value, and the function compiled again for
# it: the serial kernels would compile their block functions for a type that the
# threaded calls (plain integers) never use.
_FIRST = np.int64(0)
# No block buffers (a Hessian's), for the same reason.
_NO_BLOCKS = np.int64(0)


# Inlined: the block sizes are constants, and a call with each would compile it again.
@njit(cache=True, nogil=True, inline="always")
def _n_blocks(n_rows, rows):
    """Blocks of ``rows`` rows that cover ``n_rows`` rows."""
    return (n_rows + rows - 1) // rows


# -------------------------------------------------------------------- E-step
def e_step(log_gate, log_lik, sample_weight, resp, row_log_lik):
    """Fused E-step: responsibilities and the weighted log-likelihood.

    ``resp[i] = softmax(log_gate[i] + log_lik[i])`` and
    ``row_log_lik[i] = logsumexp(log_gate[i] + log_lik[i])``. A row where every
    expert gives ``-inf`` takes the gate's probabilities as responsibilities
    (and keeps ``-inf`` as its log-likelihood). Rows with zero weight do not
    enter the sum.

    Parameters
    ----------
    log_gate : ndarray of shape (n_samples, n_experts)
        Log gate probabilities.
    log_lik : ndarray of shape (n_samples, n_experts)
        Log-likelihood of each row under each expert.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative row weights.
    resp : ndarray of shape (n_samples, n_experts)
        Output: responsibilities, rows summing to one.
    row_log_lik : ndarray of shape (n_samples,)
        Output: log mixture density of each row.

    Returns
    -------
    total : float
        ``sum_i sample_weight[i] * row_log_lik[i]``.
    """
    n_samples, n_experts = log_lik.shape
    if n_samples * n_experts < _MIN_PARALLEL_ENTRIES:
        return _e_step_serial(log_gate, log_lik, sample_weight, resp, row_log_lik)
    n_blocks = _n_blocks(n_samples, _rows_per_block(n_experts))
    run_blocks(_e_step_blocks, n_blocks, log_gate, log_lik, resp, row_log_lik)
    return _weighted_sum(sample_weight, row_log_lik)


@njit(**_SERIAL)
def _e_step_serial(log_gate, log_lik, sample_weight, resp, row_log_lik):
    """:func:`e_step` on the calling thread."""
    n_samples, n_experts = log_lik.shape
    n_blocks = _n_blocks(n_samples, _rows_per_block(n_experts))
    _e_step_blocks(log_gate, log_lik, resp, row_log_lik, _FIRST, n_blocks)
    return _weighted_sum(sample_weight, row_log_lik)


e_step.serial_kernel = _e_step_serial


@njit(**_SERIAL)
def _e_step_blocks(log_gate, log_lik, resp, row_log_lik, first, last):
    """The E-step on blocks ``first`` to ``last - 1`` of rows."""
    rows = _rows_per_block(log_lik.shape[1])
    for b in range(first, last):
        # Blocks are slices, so every loop of the block starts at 0: LLVM then
        # knows the indices are non-negative (no wrap-around) and vectorises.
        block = slice(b * rows, (b + 1) * rows)
        if log_lik.shape[1] == 2:
            _e_step_block_two(log_gate[block], log_lik[block], resp[block], row_log_lik[block])
        else:
            _e_step_block(log_gate[block], log_lik[block], resp[block], row_log_lik[block])


@njit(**_INLINED)
def _e_step_block(log_gate, log_lik, resp, row_log_lik):
    """The E-step on one block of rows, in passes that each vectorise.

    1. joint scores and their row maximum (``top``); scores shifted by it;
    2. ``exp`` over the block's entries as one flat run (whatever K is);
    3. row sums; ``top + log(sum)`` over the block's rows as one run;
    4. normalisation, then the gate fallback for rows where every expert
       gives ``-inf``.
    """
    n_rows, n_experts = log_lik.shape
    tops = np.empty(n_rows)
    totals = np.empty(n_rows)
    rests = np.empty(n_rows)
    for i in range(n_rows):
        top = -np.inf
        for k in range(n_experts):
            v = log_gate[i, k] + log_lik[i, k]
            resp[i, k] = v
            top = v if v > top else top
        tops[i] = top
        # A dead row (all -inf) is shifted by 0: its entries stay -inf, exp gives 0.
        shift = top if top > -np.inf else 0.0
        for k in range(n_experts):
            resp[i, k] -= shift
    flat = resp.reshape(n_rows * n_experts)
    for j in range(flat.shape[0]):
        flat[j] = _exp(flat[j])
    for i in range(n_rows):
        # The row's maximum gave exp(0) = 1: the rest is the sum of the other
        # entries. (Ties at the maximum leave out more than one 1; the total is
        # then at least 2, where the rest is not used.)
        total = 0.0
        rest = 0.0
        for k in range(n_experts):
            v = resp[i, k]
            total += v
            rest += 0.0 if v == 1.0 else v
        totals[i] = total
        rests[i] = rest
    # A dead row: -inf + log(0) = -inf.
    _row_log_sums(tops, totals, rests, row_log_lik)
    for i in range(n_rows):
        totals[i] = 1.0 / totals[i]
    for i in range(n_rows):
        inv = totals[i]
        for k in range(n_experts):
            resp[i, k] *= inv
    for i in range(n_rows):
        if tops[i] == -np.inf:
            _gate_fallback(log_gate, i, resp)


@njit(**_INLINED)
def _e_step_block_two(log_gate, log_lik, resp, row_log_lik):
    """:func:`_e_step_block` for two experts, vectorised across rows.

    With two experts the row maximum's term is ``exp(0) = 1``, so a row needs
    one ``exp`` (of the smaller score minus the larger) and one ``log``. The
    arrays are read as flat runs, so that LLVM sees the stride of 2.
    """
    n_rows = log_lik.shape[0]
    gate = log_gate.reshape(2 * n_rows)
    lik = log_lik.reshape(2 * n_rows)
    out = resp.reshape(2 * n_rows)
    tops = np.empty(n_rows)
    totals = np.empty(n_rows)
    rests = np.empty(n_rows)
    for i in range(n_rows):
        a = gate[2 * i] + lik[2 * i]
        b = gate[2 * i + 1] + lik[2 * i + 1]
        first = a >= b
        top = a if first else b
        low = b if first else a
        # exp(-inf - top) = 0 when only one expert is -inf; a dead row gives NaN here.
        e = _exp(low - top)
        total = 1.0 + e
        inv = 1.0 / total
        out[2 * i] = inv if first else e * inv
        out[2 * i + 1] = e * inv if first else inv
        tops[i] = top
        totals[i] = total
        rests[i] = e
    _row_log_sums(tops, totals, rests, row_log_lik)
    for i in range(n_rows):
        # Only a dead row (both -inf: -inf - -inf is NaN) gives a NaN.
        if row_log_lik[i] != row_log_lik[i]:
            _gate_fallback(log_gate, i, resp)
            row_log_lik[i] = -np.inf


# Strict arithmetic, in one call per block: under "reassoc" LLVM may fold
# ``rest - ((1 + rest) - 1)`` to 0.
@njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _row_log_sums(tops, totals, rests, out):
    """``out[i] = tops[i] + log(1 + rests[i])`` given ``totals[i]``, the rounded
    ``1 + rests[i]`` (a row's sum of its exponentiated scores less their maximum).

    ``log(totals[i])`` alone errs by up to half an ulp of the total, a relative
    error of ``1e-16 / rest`` when ``rest`` is small: a row log-likelihood near
    zero (its best joint score near zero, the others far below) lost digits.
    ``total - 1`` is exact for a total in ``[1, 2)``, so ``rest - (total - 1)``
    is the rounding error, and a first-order term restores it. From 2 on (and
    for a dead row's total of 0 or NaN) ``log(total)`` keeps its digits.
    """
    for i in range(out.shape[0]):
        total = totals[i]
        value = _log(total)
        if 1.0 <= total < 2.0:
            value += (rests[i] - (total - 1.0)) / total
        out[i] = tops[i] + value


@njit(cache=True, nogil=True)
def _gate_fallback(log_gate, i, resp):
    """Write the gate's probabilities of row ``i`` (uniform if all -inf) into ``resp``."""
    n_experts = log_gate.shape[1]
    top = -np.inf
    for k in range(n_experts):
        if log_gate[i, k] > top:
            top = log_gate[i, k]
    if top == -np.inf:
        for k in range(n_experts):
            resp[i, k] = 1.0 / n_experts
        return
    total = 0.0
    for k in range(n_experts):
        e = np.exp(log_gate[i, k] - top)
        resp[i, k] = e
        total += e
    for k in range(n_experts):
        resp[i, k] /= total


# ``fastmath=False`` is explicit because numba otherwise compiles a callee with its
# first caller's flags: under e_step's "reassoc" the sum would be vectorised.
@njit(cache=True, nogil=True, fastmath=False)
def _weighted_sum(sample_weight, values):
    """Serial ``sum(w * v)`` that skips zero weights (so ``0 * -inf`` is not NaN)."""
    total = 0.0
    for i in range(values.shape[0]):
        if sample_weight[i] != 0.0:
            total += sample_weight[i] * values[i]
    return total


def e_step_reference(log_gate, log_lik, sample_weight):
    """NumPy/SciPy twin of :func:`e_step`.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_experts)
    row_log_lik : ndarray of shape (n_samples,)
    total : float
    """
    from scipy.special import logsumexp

    joint = log_gate + log_lik
    row_log_lik = logsumexp(joint, axis=1)
    dead = ~np.isfinite(row_log_lik)
    # Normalise after subtracting the row maximum, not by exp(joint - row_log_lik):
    # at |joint| ~ 1e300 the rounding of row_log_lik swamps log(n_experts).
    with np.errstate(invalid="ignore"):
        resp = _softmax_rows(joint)
    if np.any(dead):
        gate = log_gate[dead]
        fallback = np.full_like(gate, 1.0 / gate.shape[1])
        ok = np.isfinite(np.max(gate, axis=1))
        fallback[ok] = _softmax_rows(gate[ok])
        resp[dead] = fallback
    used = sample_weight != 0
    total = float(np.sum(sample_weight[used] * row_log_lik[used]))
    return resp, row_log_lik, total


def _softmax_rows(scores):
    """Row-wise softmax with the row maximum subtracted first."""
    shifted = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    return shifted / np.sum(shifted, axis=1, keepdims=True)


# ---------------------------------------------------------------- likelihoods
def gaussian_log_likelihood(y, mean, variance, out):
    """Gaussian log-density of each row under each expert.

    ``out[i, k] = log N(y[i]; mean[i, k], variance[k])``.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Targets.
    mean : ndarray of shape (n_samples, n_experts)
        Each expert's prediction.
    variance : ndarray of shape (n_experts,)
        Each expert's noise variance (positive).
    out : ndarray of shape (n_samples, n_experts)
        Output.

    Returns
    -------
    out : ndarray of shape (n_samples, n_experts)
    """
    n_samples, n_experts = mean.shape
    if n_samples * n_experts < _MIN_PARALLEL_ENTRIES:
        return _gaussian_serial(y, mean, variance, out)
    std, log_norm = _gaussian_constants(variance)
    n_blocks = _n_blocks(n_samples, _rows_per_block(n_experts))
    run_blocks(_gaussian_blocks, n_blocks, y, mean, std, log_norm, out)
    return out


@njit(**_SERIAL)
def _gaussian_serial(y, mean, variance, out):
    """:func:`gaussian_log_likelihood` on the calling thread."""
    std, log_norm = _gaussian_constants(variance)
    n_blocks = _n_blocks(mean.shape[0], _rows_per_block(mean.shape[1]))
    _gaussian_blocks(y, mean, std, log_norm, out, _FIRST, n_blocks)
    return out


gaussian_log_likelihood.serial_kernel = _gaussian_serial


@njit(**_SERIAL)
def _gaussian_constants(variance):
    """Each expert's standard deviation and log normalising constant."""
    n_experts = variance.shape[0]
    log_norm = np.empty(n_experts)
    std = np.empty(n_experts)
    for k in range(n_experts):
        log_norm[k] = -0.5 * (_LOG_2PI + np.log(variance[k]))
        # Scale by the standard deviation: 1 / variance overflows to inf for a
        # subnormal variance, and 0 * inf would be NaN on a zero residual.
        std[k] = np.sqrt(variance[k])
    return std, log_norm


@njit(**_SERIAL)
def _gaussian_blocks(y, mean, std, log_norm, out, first, last):
    """:func:`gaussian_log_likelihood` on blocks ``first`` to ``last - 1`` of rows."""
    rows = _rows_per_block(mean.shape[1])
    for b in range(first, last):
        block = slice(b * rows, (b + 1) * rows)
        _gaussian_block(y[block], mean[block], std, log_norm, out[block])


@njit(**_INLINED)
def _gaussian_block(y, mean, std, log_norm, out):
    for i in range(y.shape[0]):
        for k in range(std.shape[0]):
            z = (y[i] - mean[i, k]) / std[k]
            out[i, k] = log_norm[k] - 0.5 * z * z


def gaussian_log_likelihood_reference(y, mean, variance):
    """NumPy twin of :func:`gaussian_log_likelihood`."""
    z = (y[:, None] - mean) / np.sqrt(variance)[None, :]
    return -0.5 * (_LOG_2PI + np.log(variance)[None, :]) - 0.5 * z**2


def categorical_log_likelihood(proba, columns, y, floor, out, k):
    """Log-probability one expert gives each row's observed class, floored.

    ``out[i, k] = log(max(proba[i, columns[y[i]]], floor))``, where
    ``columns`` maps a global class index to the expert's own column, or -1
    for a class the expert never saw (probability 0, so the floor).

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_expert_classes)
        The expert's ``predict_proba``.
    columns : ndarray of shape (n_classes,), dtype int64
        Column of each global class in ``proba``, or -1.
    y : ndarray of shape (n_samples,), dtype int64
        Encoded observed classes.
    floor : float
        Smallest probability used, so that no log-likelihood is -inf.
    out : ndarray of shape (n_samples, n_experts)
        Output; only column ``k`` is written.
    k : int
        The expert's column in ``out``.

    Returns
    -------
    out : ndarray of shape (n_samples, n_experts)
    """
    n_samples = y.shape[0]
    if n_samples < _MIN_PARALLEL_ENTRIES:
        return _categorical_serial(proba, columns, y, floor, out, k)
    n_blocks = _n_blocks(n_samples, _BLOCK_ENTRIES)
    run_blocks(_categorical_blocks, n_blocks, proba, columns, y, floor, out, k)
    return out


@njit(**_SERIAL)
def _categorical_serial(proba, columns, y, floor, out, k):
    """:func:`categorical_log_likelihood` on the calling thread."""
    _categorical_blocks(proba, columns, y, floor, out, k, _FIRST,
                        _n_blocks(y.shape[0], _BLOCK_ENTRIES))
    return out


categorical_log_likelihood.serial_kernel = _categorical_serial


@njit(**_SERIAL)
def _categorical_blocks(proba, columns, y, floor, out, k, first, last):
    """:func:`categorical_log_likelihood` on blocks ``first`` to ``last - 1`` of rows."""
    rows = _BLOCK_ENTRIES
    for b in range(first, last):
        block = slice(b * rows, (b + 1) * rows)
        _categorical_block(proba[block], columns, y[block], floor, out[block], k)


@njit(**_SERIAL)
def _categorical_block(proba, columns, y, floor, out, k):
    n_rows = y.shape[0]
    picked = np.empty(n_rows)
    for i in range(n_rows):
        column = columns[y[i]]
        picked[i] = proba[i, column] if column >= 0 else 0.0
    log_floor = np.log(floor)
    for i in range(n_rows):
        p = picked[i]
        picked[i] = _log(p) if p > floor else log_floor
    for i in range(n_rows):
        out[i, k] = picked[i]


def categorical_log_likelihood_reference(proba, columns, y, floor):
    """NumPy twin of :func:`categorical_log_likelihood`; returns the column."""
    column = columns[y]
    p = np.where(column >= 0, proba[np.arange(y.shape[0]), np.maximum(column, 0)], 0.0)
    return np.log(np.maximum(p, floor))


# ----------------------------------------------------------------------- gate
def log_softmax(scores, out):
    """Row-wise log-softmax, ``out[i] = scores[i] - logsumexp(scores[i])``.

    ``out`` may be ``scores`` itself. Scores are expected finite or ``-inf``
    (a row of ``-inf`` gives NaN, as its twin does).

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes)
        Scores.
    out : ndarray of shape (n_samples, n_classes)
        Output.

    Returns
    -------
    out : ndarray of shape (n_samples, n_classes)
        Twin: ``scipy.special.log_softmax(scores, axis=1)``.
    """
    n_samples, n_classes = scores.shape
    if n_samples * n_classes < _MIN_PARALLEL_ENTRIES:
        return _log_softmax_serial(scores, out)
    n_blocks = _n_blocks(n_samples, _rows_per_block(n_classes))
    run_blocks(_log_softmax_blocks, n_blocks, scores, out)
    return out


@njit(**_SERIAL)
def _log_softmax_serial(scores, out):
    """:func:`log_softmax` on the calling thread."""
    n_blocks = _n_blocks(scores.shape[0], _rows_per_block(scores.shape[1]))
    _log_softmax_blocks(scores, out, _FIRST, n_blocks)
    return out


log_softmax.serial_kernel = _log_softmax_serial


@njit(**_SERIAL)
def _log_softmax_blocks(scores, out, first, last):
    """:func:`log_softmax` on blocks ``first`` to ``last - 1`` of rows."""
    rows = _rows_per_block(scores.shape[1])
    for b in range(first, last):
        block = slice(b * rows, (b + 1) * rows)
        _log_softmax_block(scores[block], out[block])


@njit(**_SERIAL)
def _log_softmax_block(scores, out):
    n_rows, n_classes = scores.shape
    shifted = np.empty(n_rows * n_classes)
    norms = np.empty(n_rows)
    for i in range(n_rows):
        top = -np.inf
        for k in range(n_classes):
            if scores[i, k] > top:
                top = scores[i, k]
        for k in range(n_classes):
            v = scores[i, k] - top
            out[i, k] = v
            shifted[i * n_classes + k] = v
    for j in range(shifted.shape[0]):
        shifted[j] = _exp(shifted[j])
    for i in range(n_rows):
        total = 0.0
        for k in range(n_classes):
            total += shifted[i * n_classes + k]
        norms[i] = total
    for i in range(n_rows):
        norms[i] = _log(norms[i])
    for i in range(n_rows):
        for k in range(n_classes):
            out[i, k] -= norms[i]


# Rows of one block of the gate's loss: the partial gradients of all blocks are
# kept and summed in block order, so the result does not depend on the threads.
_GATE_BLOCK_ROWS = 512


def soft_cross_entropy(params, X_t, targets_t, sample_weight, fit_intercept, grad):
    """Soft cross-entropy of a softmax gate and its gradient, in one pass over the rows.

    ``loss = -sum_i w_i sum_k R_ik log softmax(W x_i + b)_k`` and
    ``grad = d loss / d [W, b] = (w * (G - R))^T [X, 1]``, without penalty and
    without dividing by the total weight (the caller adds and divides).

    The inputs and targets come transposed (one row per feature, per class),
    as an L-BFGS solve transposes them once for all its evaluations: every
    loop then runs along samples, contiguously, and vectorises. No array of
    shape (n_samples, n_classes) is formed; each block of rows works in small
    buffers.

    Parameters
    ----------
    params : ndarray of shape (n_classes, n_features + 1)
        Coefficients ``W`` and, in the last column, intercepts ``b`` (ignored
        when ``fit_intercept`` is False).
    X_t : ndarray of shape (n_features, n_samples)
        Inputs, transposed (``X.T``, C-contiguous).
    targets_t : ndarray of shape (n_classes, n_samples)
        Soft targets ``R``, transposed.
    sample_weight : ndarray of shape (n_samples,)
        Row weights ``w``.
    fit_intercept : bool
        Whether the intercepts enter the scores.
    grad : ndarray of shape (n_classes, n_features + 1)
        Output: the gradient; its last column is the intercepts' (written even
        when ``fit_intercept`` is False).

    Returns
    -------
    loss : float
        The unpenalised, unnormalised loss. Twin: ``skmoe._gate._soft_cross_entropy``
        (which adds the penalty and divides by the total weight).
    """
    n_features, n_samples = X_t.shape
    n_classes = targets_t.shape[0]
    if n_samples * (n_features + n_classes) < _MIN_PARALLEL_ENTRIES:
        return _soft_cross_entropy_serial(params, X_t, targets_t, sample_weight, fit_intercept,
                                          grad)
    n_blocks = _n_blocks(n_samples, _GATE_BLOCK_ROWS)
    coef, intercept, partial_grad, partial_loss = _soft_cross_entropy_buffers(
        params, fit_intercept, n_blocks
    )
    run_blocks(_soft_cross_entropy_blocks, n_blocks, X_t, targets_t, sample_weight, coef,
               intercept, partial_loss, partial_grad)
    return _sum_blocks(partial_loss, partial_grad, grad)


@njit(**_SERIAL)
def _soft_cross_entropy_serial(params, X_t, targets_t, sample_weight, fit_intercept, grad):
    """:func:`soft_cross_entropy` on the calling thread."""
    n_blocks = _n_blocks(X_t.shape[1], _GATE_BLOCK_ROWS)
    coef, intercept, partial_grad, partial_loss = _soft_cross_entropy_buffers(
        params, fit_intercept, n_blocks
    )
    _soft_cross_entropy_blocks(X_t, targets_t, sample_weight, coef, intercept, partial_loss,
                               partial_grad, _FIRST, n_blocks)
    return _sum_blocks(partial_loss, partial_grad, grad)


soft_cross_entropy.serial_kernel = _soft_cross_entropy_serial


@njit(**_SERIAL)
def _soft_cross_entropy_blocks(X_t, targets_t, sample_weight, coef, intercept, partial_loss,
                               partial_grad, first, last):
    """Each block's loss and gradient, for blocks ``first`` to ``last - 1``."""
    n_samples = X_t.shape[1]
    rows = _GATE_BLOCK_ROWS
    for b in range(first, last):
        partial_loss[b] = _soft_cross_entropy_block(
            X_t, targets_t, sample_weight, coef, intercept, b * rows,
            min(n_samples, (b + 1) * rows), partial_grad[b],
        )


@njit(**_SERIAL)
def _soft_cross_entropy_buffers(params, fit_intercept, n_blocks):
    """Coefficients, intercepts (0 without ``fit_intercept``) and zeroed block buffers."""
    n_classes, n_columns = params.shape
    n_features = n_columns - 1
    # np.empty and loops: np.ascontiguousarray and np.zeros would each add
    # compilations to every kernel that calls this.
    coef = np.empty((n_classes, n_features))
    intercept = np.empty(n_classes)
    for k in range(n_classes):
        for j in range(n_features):
            coef[k, j] = params[k, j]
        intercept[k] = params[k, n_features] if fit_intercept else 0.0
    partial_grad = np.empty((n_blocks, n_classes, n_columns))
    partial_grad[:] = 0.0
    partial_loss = np.empty(n_blocks)
    partial_loss[:] = 0.0
    return coef, intercept, partial_grad, partial_loss


@njit(**_SERIAL)
def _soft_cross_entropy_block(X_t, targets_t, sample_weight, coef, intercept, start, stop,
                              grad):
    """Loss of rows ``start:stop``; their gradient is added to ``grad`` (K, d + 1).

    Features are taken four at a time, so that each pass over a buffer of
    the block does four multiply-adds per load and store.
    """
    n_features = X_t.shape[0]
    n_classes = coef.shape[0]
    n_rows = stop - start
    quads = n_features - n_features % 4
    weight = sample_weight[start:stop]
    scores = _block_scores(X_t, coef, intercept, start, stop)
    proba, tops, totals = _block_shifted_exp(scores)
    log_norm = np.empty(n_rows)
    for i in range(n_rows):
        log_norm[i] = tops[i] + _log(totals[i])
        totals[i] = 1.0 / totals[i]
    # -R log softmax = R (log_norm - score); the residual w (G - R) replaces proba.
    row_loss = np.empty(n_rows)
    row_loss[:] = 0.0
    for k in range(n_classes):
        score = scores[k]
        p = proba[k]
        target = targets_t[k, start:stop]
        for i in range(n_rows):
            row_loss[i] += target[i] * (log_norm[i] - score[i])
            p[i] = weight[i] * (p[i] * totals[i] - target[i])
    loss = 0.0
    for i in range(n_rows):
        # A row of zero weight adds nothing, whatever its targets.
        loss += weight[i] * row_loss[i] if weight[i] != 0.0 else 0.0
    # Gradient: residuals times inputs, summed over the block's rows.
    for k in range(n_classes):
        residual = proba[k]
        for j in range(0, quads, 4):
            x0, x1 = X_t[j, start:stop], X_t[j + 1, start:stop]
            x2, x3 = X_t[j + 2, start:stop], X_t[j + 3, start:stop]
            a0 = a1 = a2 = a3 = 0.0
            for i in range(n_rows):
                r = residual[i]
                a0 += r * x0[i]
                a1 += r * x1[i]
                a2 += r * x2[i]
                a3 += r * x3[i]
            grad[k, j] += a0
            grad[k, j + 1] += a1
            grad[k, j + 2] += a2
            grad[k, j + 3] += a3
        for j in range(quads, n_features):
            x = X_t[j, start:stop]
            acc = 0.0
            for i in range(n_rows):
                acc += residual[i] * x[i]
            grad[k, j] += acc
        acc = 0.0
        for i in range(n_rows):
            acc += residual[i]
        grad[k, n_features] += acc
    return loss


@njit(**_SERIAL)
def _block_scores(X_t, coef, intercept, start, stop):
    """Scores ``W x_i + b`` of rows ``start:stop``, classes x rows.

    Features are taken four at a time: four multiply-adds per load and store
    of the scores.
    """
    n_features = X_t.shape[0]
    n_classes = coef.shape[0]
    n_rows = stop - start
    quads = n_features - n_features % 4
    scores = np.empty((n_classes, n_rows))
    for k in range(n_classes):
        score = scores[k]
        b = intercept[k]
        for i in range(n_rows):
            score[i] = b
        for j in range(0, quads, 4):
            c0, c1, c2, c3 = coef[k, j], coef[k, j + 1], coef[k, j + 2], coef[k, j + 3]
            x0, x1 = X_t[j, start:stop], X_t[j + 1, start:stop]
            x2, x3 = X_t[j + 2, start:stop], X_t[j + 3, start:stop]
            for i in range(n_rows):
                score[i] += x0[i] * c0 + x1[i] * c1 + x2[i] * c2 + x3[i] * c3
        for j in range(quads, n_features):
            c = coef[k, j]
            x = X_t[j, start:stop]
            for i in range(n_rows):
                score[i] += x[i] * c
    return scores


@njit(**_SERIAL)
def _block_shifted_exp(scores):
    """Row maxima of a block's scores (classes x rows), exp of the scores minus them, row sums.

    Returns ``(exps, tops, totals)``: the softmax is ``exps / totals`` and the
    log normaliser ``tops + log(totals)``. Written class by class, so that the
    loops over rows vectorise.
    """
    n_classes, n_rows = scores.shape
    tops = np.empty(n_rows)
    tops[:] = -np.inf
    for k in range(n_classes):
        score = scores[k]
        for i in range(n_rows):
            v = score[i]
            top = tops[i]
            tops[i] = v if v > top else top
    exps = np.empty((n_classes, n_rows))
    totals = np.empty(n_rows)
    totals[:] = 0.0
    for k in range(n_classes):
        score = scores[k]
        e_k = exps[k]
        for i in range(n_rows):
            e = _exp(score[i] - tops[i])
            e_k[i] = e
            totals[i] += e
    return exps, tops, totals


@njit(cache=True, nogil=True, fastmath=False)
def _sum_blocks(partial_loss, partial_grad, grad):
    """Serial sum of the blocks' losses and gradients, in block order."""
    n_blocks, n_classes, n_columns = partial_grad.shape
    loss = 0.0
    for k in range(n_classes):
        for j in range(n_columns):
            grad[k, j] = 0.0
    for b in range(n_blocks):
        loss += partial_loss[b]
        for k in range(n_classes):
            for j in range(n_columns):
                grad[k, j] += partial_grad[b, k, j]
    return loss


@njit(cache=True, nogil=True, fastmath=False)
def penalise_gate_loss(params, loss, grad, alpha, fit_intercept, total_weight):
    """Add the L2 penalty to a loss and gradient from :func:`soft_cross_entropy`, then scale.

    ``grad`` (n_classes, n_features + 1) becomes
    ``(grad + alpha [W, 0]) / total_weight`` in place, with the intercepts'
    column zeroed without ``fit_intercept``. One call for what would be
    several small NumPy operations per evaluation of the gate's objective.

    Returns
    -------
    loss : float
        ``(loss + alpha ||W||^2 / 2) / total_weight``.
    """
    n_classes, n_columns = params.shape
    penalty = 0.0
    for k in range(n_classes):
        for j in range(n_columns - 1):
            c = params[k, j]
            penalty += c * c
            grad[k, j] = (grad[k, j] + alpha * c) / total_weight
        grad[k, n_columns - 1] = grad[k, n_columns - 1] / total_weight if fit_intercept else 0.0
    return (loss + 0.5 * alpha * penalty) / total_weight


@njit(cache=True, nogil=True, fastmath=False)
def penalise_gate_hessian(hess, n_columns, alpha, total_weight):
    """Add the L2 penalty to a Hessian from :func:`soft_cross_entropy_hessian`, then scale.

    ``alpha`` is added to the coefficients' diagonal entries (every column of
    a class's ``n_columns`` but the last, the intercept's), and the whole
    matrix is divided by ``total_weight``, in place.
    """
    size = hess.shape[0]
    for a in range(size):
        if a % n_columns != n_columns - 1:
            hess[a, a] += alpha
        for b in range(size):
            hess[a, b] /= total_weight


@njit(**_SERIAL)
def soft_cross_entropy_hessian(params, X_t, sample_weight, fit_intercept, hess):
    """Hessian of the soft cross-entropy of :func:`soft_cross_entropy`, in one pass.

    With probabilities ``G = softmax(W x_i + b)`` and ``z_i = [x_i, 1]``, the
    entry for class ``k``, column ``a`` and class ``m``, column ``b`` is
    ``sum_i w_i G_ik (delta_km - G_im) z_ia z_ib``; it does not depend on the
    targets. Unpenalised and not divided by the total weight, like the loss.
    Serial: it serves gates with few parameters (Newton's method), where a
    pass over the rows is short.

    Parameters
    ----------
    params : ndarray of shape (n_classes, n_features + 1)
        Coefficients and intercepts, as for :func:`soft_cross_entropy`.
    X_t : ndarray of shape (n_features, n_samples)
        Inputs, transposed.
    sample_weight : ndarray of shape (n_samples,)
        Row weights.
    fit_intercept : bool
        Whether the intercepts are parameters; without, their rows and columns
        are zero.
    hess : ndarray of shape (n_classes * (n_features + 1), n_classes * (n_features + 1))
        Output, rows in the order of ``params.ravel()``. Twin:
        :func:`soft_cross_entropy_hessian_reference`.
    """
    n_features, n_samples = X_t.shape
    n_classes = params.shape[0]
    n_columns = n_features + 1
    coef, intercept, _, _ = _soft_cross_entropy_buffers(params, fit_intercept, _NO_BLOCKS)
    n_pairs = n_classes * (n_classes + 1) // 2
    # One (d + 1) x (d + 1) sum per pair of classes k <= m, upper triangle only.
    sums = np.empty((n_pairs, n_columns, n_columns))
    sums[:] = 0.0
    rows = _GATE_BLOCK_ROWS
    for start in range(0, n_samples, rows):
        _hessian_block(X_t, sample_weight, coef, intercept, fit_intercept, start,
                       min(n_samples, start + rows), sums)
    pair = 0
    for k in range(n_classes):
        for m in range(k, n_classes):
            for a in range(n_columns):
                for b in range(a, n_columns):
                    value = sums[pair, a, b]
                    hess[k * n_columns + a, m * n_columns + b] = value
                    hess[k * n_columns + b, m * n_columns + a] = value
                    hess[m * n_columns + a, k * n_columns + b] = value
                    hess[m * n_columns + b, k * n_columns + a] = value
            pair += 1


@njit(**_SERIAL)
def _hessian_block(X_t, sample_weight, coef, intercept, fit_intercept, start, stop, sums):
    """Add the Hessian sums of rows ``start:stop`` to ``sums`` (pairs, d + 1, d + 1)."""
    n_features = X_t.shape[0]
    n_classes = coef.shape[0]
    n_rows = stop - start
    n_columns = n_features + 1 if fit_intercept else n_features
    weight = sample_weight[start:stop]
    proba, _, totals = _block_shifted_exp(_block_scores(X_t, coef, intercept, start, stop))
    for i in range(n_rows):
        totals[i] = 1.0 / totals[i]
    for k in range(n_classes):
        p = proba[k]
        for i in range(n_rows):
            p[i] *= totals[i]
    curvature = np.empty(n_rows)
    scaled = np.empty(n_rows)
    pair = 0
    for k in range(n_classes):
        for m in range(k, n_classes):
            for i in range(n_rows):
                own = weight[i] * proba[k, i]
                curvature[i] = own - own * proba[m, i] if k == m else -own * proba[m, i]
            for a in range(n_columns):
                # Column a of z: a feature, or the intercept's ones.
                if a < n_features:
                    x = X_t[a, start:stop]
                    for i in range(n_rows):
                        scaled[i] = curvature[i] * x[i]
                else:
                    for i in range(n_rows):
                        scaled[i] = curvature[i]
                for b in range(a, n_columns):
                    acc = 0.0
                    if b < n_features:
                        x = X_t[b, start:stop]
                        for i in range(n_rows):
                            acc += scaled[i] * x[i]
                    else:
                        for i in range(n_rows):
                            acc += scaled[i]
                    sums[pair, a, b] += acc
            pair += 1


def soft_cross_entropy_hessian_reference(params, X, sample_weight, fit_intercept):
    """NumPy twin of :func:`soft_cross_entropy_hessian`, on untransposed inputs.

    Returns
    -------
    hess : ndarray of shape (n_classes * (n_features + 1), n_classes * (n_features + 1))
    """
    n_classes, n_columns = params.shape
    z = np.column_stack([X, np.ones(X.shape[0]) if fit_intercept else np.zeros(X.shape[0])])
    scores = X @ params[:, :-1].T + (params[:, -1] if fit_intercept else 0.0)
    proba = _softmax_rows(scores)
    hess = np.empty((n_classes, n_columns, n_classes, n_columns))
    for k in range(n_classes):
        for m in range(n_classes):
            curvature = sample_weight * proba[:, k] * (float(k == m) - proba[:, m])
            hess[k, :, m, :] = z.T @ (z * curvature[:, None])
    return hess.reshape(n_classes * n_columns, n_classes * n_columns)


def soft_cross_entropy_newton(params, X_t, targets_t, sample_weight, fit_intercept, grad,
                              hess):
    """:func:`soft_cross_entropy` and :func:`soft_cross_entropy_hessian` in one pass.

    A Newton step needs the loss, the gradient and the Hessian at the same
    point: one pass over the rows reads each block once for all three. The
    sums of fixed chunks of blocks are kept and added in order, so the result does not
    depend on the threads.

    Parameters
    ----------
    params, X_t, targets_t, sample_weight, fit_intercept, grad
        As for :func:`soft_cross_entropy`.
    hess : ndarray of shape (n_classes * (n_features + 1), n_classes * (n_features + 1))
        Output, as for :func:`soft_cross_entropy_hessian`.

    Returns
    -------
    loss : float
        The unpenalised, unnormalised loss (twins: :func:`soft_cross_entropy`
        and :func:`soft_cross_entropy_hessian_reference`).
    """
    n_features, n_samples = X_t.shape
    n_classes = targets_t.shape[0]
    if n_samples * (n_features + n_classes) < _MIN_PARALLEL_ENTRIES:
        return _newton_serial(params, X_t, targets_t, sample_weight, fit_intercept, grad, hess)
    if n_classes == 2 and n_features + 1 >= BLAS_HESSIAN_COLUMNS:
        loss = soft_cross_entropy(params, X_t, targets_t, sample_weight, fit_intercept, grad)
        _binary_hessian(params, X_t, sample_weight, fit_intercept, hess)
        return loss
    coef, intercept, partial_grad, partial_loss, sums = _newton_buffers(params, X_t, targets_t,
                                                                         fit_intercept)
    run_blocks(_newton_chunks, sums.shape[0], X_t, targets_t, sample_weight, coef, intercept,
               fit_intercept, partial_loss, partial_grad, sums)
    _fill_hessian(sums, n_classes, n_features + 1, hess)
    return _sum_blocks(partial_loss, partial_grad, grad)


# From this many columns (features and intercept) a two-class Newton step takes its
# Hessian from BLAS: the kernel's sums of products run at a few GFlops, and at 300
# columns they were 80% of a classifier's fit (20,000 rows: 0.29 s a step per
# expert, against 0.04 s for the Gram matrix by BLAS).
BLAS_HESSIAN_COLUMNS = 128
# Rows per product of _binary_hessian: its scaled copy of them stays small.
_BLAS_HESSIAN_ROWS = 8192


def _binary_hessian(params, X_t, sample_weight, fit_intercept, hess):
    """The Hessian of a two-class softmax's loss by BLAS, into ``hess``.

    With two classes the curvature of each row is ``w p0 p1`` in every block:
    the Hessian is ``[[G, -G], [-G, G]]`` with ``G = Z^T diag(w p0 p1) Z``,
    ``Z = [X, 1]``, one symmetric product per block of rows, added in order
    (:func:`soft_cross_entropy_hessian_reference`'s values, to rounding).
    """
    n_features, n_samples = X_t.shape
    n_columns = n_features + 1
    difference = (params[1, :n_features] - params[0, :n_features]) @ X_t
    if fit_intercept:
        difference += params[1, n_features] - params[0, n_features]
    # p0 p1 = expit(d) expit(-d) = t / (1 + t)^2 with t = exp(-|d|): exact in both
    # tails, and no exp overflows (scores beyond 709 warned and went through inf).
    t = np.exp(-np.abs(difference))
    curvature = sample_weight * t / (1.0 + t) ** 2
    root = np.sqrt(curvature)
    gram = np.zeros((n_columns, n_columns))
    for start in range(0, n_samples, _BLAS_HESSIAN_ROWS):
        stop = min(n_samples, start + _BLAS_HESSIAN_ROWS)
        scaled = X_t[:, start:stop] * root[start:stop]
        gram[:n_features, :n_features] += scaled @ scaled.T
        if fit_intercept:
            gram[:n_features, n_features] += scaled @ root[start:stop]
    if fit_intercept:
        gram[n_features, n_features] = curvature.sum()
        gram[n_features, :n_features] = gram[:n_features, n_features]
    hess[:n_columns, :n_columns] = gram
    hess[n_columns:, n_columns:] = gram
    hess[:n_columns, n_columns:] = -gram
    hess[n_columns:, :n_columns] = -gram


@njit(**_SERIAL)
def _newton_serial(params, X_t, targets_t, sample_weight, fit_intercept, grad, hess):
    """:func:`soft_cross_entropy_newton` on the calling thread."""
    coef, intercept, partial_grad, partial_loss, sums = _newton_buffers(params, X_t, targets_t,
                                                                         fit_intercept)
    _newton_chunks(X_t, targets_t, sample_weight, coef, intercept, fit_intercept, partial_loss,
                   partial_grad, sums, _FIRST, sums.shape[0])
    _fill_hessian(sums, targets_t.shape[0], X_t.shape[0] + 1, hess)
    return _sum_blocks(partial_loss, partial_grad, grad)


soft_cross_entropy_newton.serial_kernel = _newton_serial


@njit(**_SERIAL)
def _newton_buffers(params, X_t, targets_t, fit_intercept):
    """:func:`_soft_cross_entropy_buffers` and zeroed Hessian sums, one per chunk of blocks."""
    n_features, n_samples = X_t.shape
    n_classes = targets_t.shape[0]
    n_columns = n_features + 1
    n_blocks = _n_blocks(n_samples, _GATE_BLOCK_ROWS)
    coef, intercept, partial_grad, partial_loss = _soft_cross_entropy_buffers(
        params, fit_intercept, n_blocks
    )
    n_pairs = n_classes * (n_classes + 1) // 2
    # One Hessian sum per chunk of blocks, not per block: with many classes and
    # features a sum per block would take hundreds of megabytes at a million rows.
    n_chunks = _n_blocks(n_blocks, _NEWTON_CHUNK_BLOCKS)
    sums = np.empty((n_chunks, n_pairs, n_columns, n_columns))
    sums[:] = 0.0
    return coef, intercept, partial_grad, partial_loss, sums


@njit(**_SERIAL)
def _newton_chunks(X_t, targets_t, sample_weight, coef, intercept, fit_intercept, partial_loss,
                   partial_grad, sums, first, last):
    """Loss and gradient of each block of chunks ``first`` to ``last - 1``, and each
    chunk's Hessian sums."""
    n_samples = X_t.shape[1]
    n_blocks = partial_loss.shape[0]
    rows = _GATE_BLOCK_ROWS
    for c in range(first, last):
        for b in range(c * _NEWTON_CHUNK_BLOCKS, min(n_blocks, (c + 1) * _NEWTON_CHUNK_BLOCKS)):
            start, stop = b * rows, min(n_samples, (b + 1) * rows)
            partial_loss[b] = _soft_cross_entropy_block(
                X_t, targets_t, sample_weight, coef, intercept, start, stop, partial_grad[b])
            _hessian_block(X_t, sample_weight, coef, intercept, fit_intercept, start, stop,
                           sums[c])


def softmax_observed_log_proba(params, X_t, codes, sample_weight, fit_intercept, out):
    """Log-probability of each row's observed class under a softmax model, and the loss.

    ``out[i] = log softmax(W x_i + b)[codes[i]]``; the loss is
    ``-sum_i w_i out[i]``, the value :func:`soft_cross_entropy` gives for
    one-hot targets (the same operations, in the same order), without the
    gradient.

    Parameters
    ----------
    params, X_t, sample_weight, fit_intercept
        As for :func:`soft_cross_entropy`.
    codes : ndarray of shape (n_samples,), dtype int64
        Each row's class, ``0 .. n_classes - 1``.
    out : ndarray of shape (n_samples,)
        Output: the rows' log-probabilities.

    Returns
    -------
    loss : float
        Unpenalised, not divided by the total weight.
    """
    n_features, n_samples = X_t.shape
    if n_samples * (n_features + params.shape[0]) < _MIN_PARALLEL_ENTRIES:
        return _observed_serial(params, X_t, codes, sample_weight, fit_intercept, out)
    n_blocks = _n_blocks(n_samples, _GATE_BLOCK_ROWS)
    coef, intercept, _, partial_loss = _soft_cross_entropy_buffers(params, fit_intercept,
                                                                   n_blocks)
    run_blocks(_observed_blocks, n_blocks, X_t, codes, sample_weight, coef, intercept,
               partial_loss, out)
    return _sum_losses(partial_loss)


@njit(**_SERIAL)
def _observed_serial(params, X_t, codes, sample_weight, fit_intercept, out):
    """:func:`softmax_observed_log_proba` on the calling thread."""
    n_blocks = _n_blocks(X_t.shape[1], _GATE_BLOCK_ROWS)
    coef, intercept, _, partial_loss = _soft_cross_entropy_buffers(params, fit_intercept,
                                                                   n_blocks)
    _observed_blocks(X_t, codes, sample_weight, coef, intercept, partial_loss, out, _FIRST,
                     n_blocks)
    return _sum_losses(partial_loss)


softmax_observed_log_proba.serial_kernel = _observed_serial


@njit(**_SERIAL)
def _observed_blocks(X_t, codes, sample_weight, coef, intercept, partial_loss, out, first,
                     last):
    """Each block's loss (its rows' log-probabilities into ``out``), blocks ``first`` to
    ``last - 1``."""
    n_samples = X_t.shape[1]
    rows = _GATE_BLOCK_ROWS
    for b in range(first, last):
        partial_loss[b] = _observed_block(X_t, codes, sample_weight, coef, intercept, b * rows,
                                          min(n_samples, (b + 1) * rows), out)


@njit(**_INLINED)
def _observed_block(X_t, codes, sample_weight, coef, intercept, start, stop, out):
    """Rows ``start:stop`` of :func:`softmax_observed_log_proba`; returns their loss."""
    n_rows = stop - start
    weight = sample_weight[start:stop]
    scores = _block_scores(X_t, coef, intercept, start, stop)
    _, tops, totals = _block_shifted_exp(scores)
    loss = 0.0
    for i in range(n_rows):
        log_norm = tops[i] + _log(totals[i])
        row_loss = log_norm - scores[codes[start + i], i]
        out[start + i] = -row_loss
        loss += weight[i] * row_loss if weight[i] != 0.0 else 0.0
    return loss


@njit(cache=True, nogil=True, fastmath=False)
def _sum_losses(partial_loss):
    """Serial sum of the blocks' losses, in block order."""
    loss = 0.0
    for b in range(partial_loss.shape[0]):
        loss += partial_loss[b]
    return loss


# Blocks of rows whose Hessian sums one chunk of soft_cross_entropy_newton adds
# up (fixed, so that the result does not depend on the threads).
_NEWTON_CHUNK_BLOCKS = 16


@njit(cache=True, nogil=True, fastmath=False)
def _fill_hessian(sums, n_classes, n_columns, hess):
    """The symmetric Hessian from the chunks' upper-triangle sums, added in chunk order."""
    n_blocks = sums.shape[0]
    pair = 0
    for k in range(n_classes):
        for m in range(k, n_classes):
            for a in range(n_columns):
                for b in range(a, n_columns):
                    value = 0.0
                    for block in range(n_blocks):
                        value += sums[block, pair, a, b]
                    hess[k * n_columns + a, m * n_columns + b] = value
                    hess[k * n_columns + b, m * n_columns + a] = value
                    hess[m * n_columns + a, k * n_columns + b] = value
                    hess[m * n_columns + b, k * n_columns + a] = value
            pair += 1


# ------------------------------------------------------------------ routing
@njit(**_SERIAL)
def top_k_route(gate, top_k, chosen, weights):
    """Each row's ``top_k`` most probable experts and the gate renormalised over them.

    Experts are taken in decreasing order of probability, the lower index
    first among equal ones; ``weights[i]`` is row ``i``'s gate with the other
    experts set to 0, divided by the sum over the chosen ones (in the order
    they were chosen). A row is read before it is written: ``weights`` may be
    ``gate`` itself.

    Parameters
    ----------
    gate : ndarray of shape (n_samples, n_experts)
        Gate probabilities.
    top_k : int
        Experts per row, between 1 and ``n_experts``.
    chosen : ndarray of shape (n_samples, top_k) or (0, top_k), int64
        Output: the chosen experts, most probable first; not written when it
        has no rows.
    weights : ndarray of shape (n_samples, n_experts)
        Output: the renormalised gate, 0 for the experts left out.

    Returns
    -------
    weights : ndarray of shape (n_samples, n_experts)
        Twin: :func:`top_k_route_reference`.
    """
    n_samples, n_experts = gate.shape
    picked = np.empty(top_k, dtype=np.int64)
    values = np.empty(top_k)
    for i in range(n_samples):
        total = 0.0
        for j in range(top_k):
            best = -1
            for k in range(n_experts):
                if not _taken(picked, j, k) and (best < 0 or gate[i, k] > gate[i, best]):
                    best = k
            picked[j] = best
            values[j] = gate[i, best]
            total += values[j]
        for k in range(n_experts):
            weights[i, k] = 0.0
        for j in range(top_k):
            weights[i, picked[j]] = values[j] / total
        if chosen.shape[0] > 0:
            for j in range(top_k):
                chosen[i, j] = picked[j]
    return weights


@njit(cache=True, nogil=True)
def _taken(picked, count, k):
    """Whether expert ``k`` is among the first ``count`` of ``picked``."""
    for j in range(count):
        if picked[j] == k:
            return True
    return False


def top_k_route_reference(gate, top_k):
    """NumPy twin of :func:`top_k_route`: a stable sort of each row's probabilities.

    Returns
    -------
    chosen : ndarray of shape (n_samples, top_k)
    weights : ndarray of shape (n_samples, n_experts)
    """
    chosen = np.argsort(-gate, axis=1, kind="stable")[:, :top_k]
    picked = np.take_along_axis(gate, chosen, axis=1)
    weights = np.zeros_like(gate)
    np.put_along_axis(weights, chosen, picked / picked.sum(axis=1, keepdims=True), axis=1)
    return chosen, weights


# ----------------------------------------------------- predictive quantiles
#: Family codes of :func:`mixture_quantiles`.
GAUSSIAN, LAPLACE, STUDENT_T, GAMMA, POISSON = 0, 1, 2, 3, 4
_SQRT_HALF = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))
# Rows a parallel quantile solve hands to one task. A row costs tens of
# evaluations of every expert's distribution function per level, so far fewer
# entries than in the E-step pay for the threads.
_QUANTILE_BLOCK_ROWS = 256
_MIN_PARALLEL_QUANTILE_ENTRIES = 1 << 15
# The quantile kernel's flags: no fast-math at all. A bracketed solve compares
# values, and reassociation could move a root across its bracket.
_PLAIN = {"cache": True, "nogil": True, "error_model": "numpy"}


def mixture_quantiles(family, weights, means, scales, shapes, levels, standard, lower_bound,
                      tol, max_iter, out):
    """Quantiles of mixtures of one family, every row and level at once.

    Row ``i``'s distribution function is ``F_i(y) = sum_k weights[i, k]
    F_k(y; means[i, k])``. Each level ``p`` of a continuous family is solved
    on ``F_i(y) = p`` from the bracket that the experts' own quantiles give
    (the mixture's quantile lies between the smallest and the largest of
    them, over the experts of nonzero weight), by Newton steps that fall back
    to bisection when they leave the bracket, until ``|F_i(y) - p| <= tol``
    or the bracket is a few ulps wide; should it close on an end where the
    CDF was never seen on the far side of ``p`` (an expert quantile off by
    more than ``tol``), it steps out by doubling steps. The experts' quantiles
    are ``means[i, k] + scales[k] * standard[j, k]`` for the location-scale
    families and ``means[i, k] * standard[j, k]`` for the Gamma family (a
    scale family in its mean). For the Poisson family the quantile is the smallest integer
    ``y`` with ``F_i(y) >= p``, by integer bisection from a bracket that the
    experts' normal approximations start and that steps out until it holds
    the answer. The levels must be increasing: each solution bounds the next
    level's bracket from below, so the quantiles are non-decreasing in the
    level.

    Parameters
    ----------
    family : int
        ``GAUSSIAN``, ``LAPLACE``, ``STUDENT_T``, ``GAMMA`` or ``POISSON``.
    weights : ndarray of shape (n_samples, n_experts)
        Non-negative mixture weights, each row summing to one.
    means : ndarray of shape (n_samples, n_experts)
        Each expert's location (its mean, positive, for Gamma and Poisson).
    scales : ndarray of shape (n_experts,)
        Each expert's scale (standard deviation, Laplace or Student t scale),
        positive; unused for Gamma and Poisson.
    shapes : ndarray of shape (n_experts,)
        Each expert's degrees of freedom (Student t) or shape ``1 /
        dispersion`` (Gamma); unused otherwise.
    levels : ndarray of shape (n_levels,)
        Increasing levels strictly between 0 and 1.
    standard : ndarray of shape (n_levels, n_experts)
        Each expert's standard quantile of each level (see
        :func:`expert_standard_quantiles`).
    lower_bound : ndarray of shape (n_samples,)
        A lower bound of every row's first quantile (-inf for none).
    tol : float
        Accuracy in probability.
    max_iter : int
        Newton or bisection steps per row and level at most (continuous
        families).
    out : ndarray of shape (n_samples, n_levels)
        Output.

    Returns
    -------
    out : ndarray of shape (n_samples, n_levels)
    """
    n_samples = weights.shape[0]
    args = (family, weights, means, scales, shapes, levels, standard, lower_bound, tol, max_iter,
            out)
    n_blocks = (n_samples + _QUANTILE_BLOCK_ROWS - 1) // _QUANTILE_BLOCK_ROWS
    if n_samples * weights.shape[1] * levels.shape[0] < _MIN_PARALLEL_QUANTILE_ENTRIES:
        _quantile_block(*args, _FIRST, n_blocks)
        return out
    run_blocks(_quantile_block, n_blocks, *args)
    return out


@njit(**_PLAIN)
def _quantile_block(family, weights, means, scales, shapes, levels, standard, lower_bound, tol,
                    max_iter, out, first, last):
    """:func:`mixture_quantiles` on blocks ``first`` to ``last - 1`` of rows."""
    n_experts = weights.shape[1]
    start = first * _QUANTILE_BLOCK_ROWS
    stop = min(last * _QUANTILE_BLOCK_ROWS, weights.shape[0])
    eps4 = 4.0 * np.finfo(np.float64).eps
    # The constants of each expert's distribution function, once per call.
    constants = np.empty(n_experts)
    constants[:] = 0.0
    for k in range(n_experts):
        if family == STUDENT_T:
            constants[k] = _student_t_log_beta(shapes[k])
        elif family == GAMMA:
            constants[k] = _gamma_constant(shapes[k])
    for i in range(start, stop):
        previous = lower_bound[i]
        for j in range(levels.shape[0]):
            level = levels[j]
            if family == POISSON:
                x = _poisson_mixture_quantile(weights, means, i, level, standard[j], previous)
                out[i, j] = x
                previous = x
                continue
            low, high = np.inf, -np.inf
            for k in range(n_experts):
                if weights[i, k] > 0.0:
                    if family == GAMMA:
                        each = means[i, k] * standard[j, k]
                    else:
                        each = means[i, k] + scales[k] * standard[j, k]
                    low = min(low, each)
                    high = max(high, each)
            # An end is verified once the mixture's CDF has been seen on its
            # side of the level there; the previous level's solution is.
            verified_low = previous >= low
            verified_high = False
            low = max(low, previous)
            high = max(high, low)
            widen = max(high - low, 1e-6 * abs(high), 1e-12)
            x = 0.5 * (low + high)
            for _ in range(max_iter):
                cdf, pdf = _mixture_cdf_pdf(family, weights, means, scales, shapes,
                                            constants, i, x)
                gap = cdf - level
                if gap < 0.0:
                    low = x
                    verified_low = True
                else:
                    high = x
                    verified_high = True
                if abs(gap) <= tol:
                    break
                if high - low <= eps4 * abs(x):
                    # The bracket closed on an end the CDF never confirmed: the
                    # experts' quantiles (scipy's, for Student t and Gamma) can
                    # be off by more than tol; step out by doubling steps,
                    # each new end taken next.
                    if gap < 0.0 and not verified_high:
                        high = low + widen
                        x = high
                    elif gap > 0.0 and not verified_low:
                        low = high - widen
                        if family == GAMMA:
                            low = max(low, 0.0)
                        x = low
                    else:
                        break
                    widen *= 2.0
                    continue
                step = x - gap / pdf if pdf > 0.0 else np.nan
                if low < step < high:
                    x = step
                elif family == GAMMA and low > 0.0:
                    # A small shape spreads the quantiles over decades:
                    # halve the bracket on the log scale.
                    x = math.sqrt(low) * math.sqrt(high)
                else:
                    x = 0.5 * (low + high)
            out[i, j] = x
            previous = x


# Called directly on the calling thread too: a wrapper of its own would be compiled
# (and optimised with everything it calls) once more.
mixture_quantiles.serial_kernel = _quantile_block


@njit(**_PLAIN)
def _mixture_cdf_pdf(family, weights, means, scales, shapes, constants, i, x):
    """The mixture's distribution function and density at ``x`` on row ``i``
    (``constants``: the experts' ``student_t_log_beta`` or ``gamma_constant``)."""
    cdf = 0.0
    pdf = 0.0
    for k in range(weights.shape[1]):
        w = weights[i, k]
        if w == 0.0:
            continue
        if family == GAMMA:
            if x > 0.0:
                p, _, log_factor = _gamma_pq_given(shapes[k], shapes[k] * x / means[i, k],
                                                   constants[k])
                cdf += w * p
                pdf += w * math.exp(log_factor) / x
            continue
        z = (x - means[i, k]) / scales[k]
        if family == GAUSSIAN:
            cdf += w * 0.5 * math.erfc(-z * _SQRT_HALF)
            pdf += w * _INV_SQRT_2PI * math.exp(-0.5 * z * z) / scales[k]
        elif family == STUDENT_T:
            cdf += w * _student_t_cdf_given(shapes[k], z, constants[k])
            pdf += w * _student_t_pdf(shapes[k], z, constants[k]) / scales[k]
        else:
            tail = 0.5 * math.exp(-abs(z))
            cdf += w * (tail if z < 0.0 else 1.0 - tail)
            pdf += w * tail / scales[k]
    return cdf, pdf


@njit(**_PLAIN)
def _poisson_mixture_cdf(weights, means, i, y):
    """``sum_k weights[i, k] P(Y_k <= y)`` of Poisson experts, for an integer ``y``."""
    if y < 0.0:
        return 0.0
    cdf = 0.0
    for k in range(weights.shape[1]):
        if weights[i, k] > 0.0:
            cdf += weights[i, k] * _poisson_cdf(y, means[i, k])
    return cdf


@njit(**_PLAIN)
def _poisson_mixture_quantile(weights, means, i, level, standard, previous):
    """The smallest integer ``y`` with ``F_i(y) >= level`` on row ``i`` (Poisson).

    The bracket keeps ``F_i(low) < level <= F_i(high)``: it starts from the
    experts' normal approximations ``mu + sqrt(mu) z``, steps out by doubling
    steps until it holds, then halves. ``previous`` (a lower bound: the
    previous level's solution, or -inf) gives ``F_i(previous - 1) < level``.
    """
    guess_low, guess_high, spread = np.inf, -np.inf, 1.0
    for k in range(weights.shape[1]):
        if weights[i, k] > 0.0:
            mu = means[i, k]
            each = mu + math.sqrt(mu) * standard[k]
            guess_low = min(guess_low, each)
            guess_high = max(guess_high, each)
            spread = max(spread, math.sqrt(mu))
    known = -1.0 if previous == -np.inf else max(previous - 1.0, -1.0)
    # np.floor and np.ceil, floats as every y the CDF is given: Numba's math.floor
    # and math.ceil return int64s, which wrap beyond 2**63 (the loops never ended).
    low = max(np.floor(guess_low), known)
    high = np.inf
    step = spread
    while low > known and _poisson_mixture_cdf(weights, means, i, low) >= level:
        high = low
        low = max(np.floor(low - step), known)
        step *= 2.0
    if high == np.inf:
        high = max(np.ceil(guess_high), low + 1.0)
        step = spread
        while _poisson_mixture_cdf(weights, means, i, high) < level:
            low = high
            high = np.ceil(high + step)
            step *= 2.0
    while high - low > 1.0:
        middle = np.floor(0.5 * (low + high))
        if not low < middle < high:
            # Beyond 2**53 no float lies between the ends (the loop never ended):
            # high is the quantile to float64's resolution.
            break
        if _poisson_mixture_cdf(weights, means, i, middle) >= level:
            high = middle
        else:
            low = middle
    return high


def expert_standard_quantiles(family, levels, shapes=None):
    """Each expert's standard quantile of each level, for :func:`mixture_quantiles` (NumPy).

    Parameters
    ----------
    family : int
        A family code.
    levels : array-like of shape (n_levels,)
        Levels strictly between 0 and 1.
    shapes : ndarray of shape (n_experts,), default=None
        Degrees of freedom (Student t) or Gamma shapes; the other families
        take one column.

    Returns
    -------
    standard : ndarray of shape (n_levels, n_experts)
        The standard Gaussian, Laplace or Student t quantile, the Gamma
        quantile of mean 1, or the standard Gaussian quantile (the Poisson
        family's normal approximation starts its bracket from it).
    """
    from scipy.special import gammaincinv, ndtri, stdtrit

    levels = np.asarray(levels, dtype=np.float64)[:, None]
    if family == STUDENT_T:
        return np.ascontiguousarray(stdtrit(shapes, levels))
    if family == GAMMA:
        return np.ascontiguousarray(gammaincinv(shapes, levels) / shapes)
    n_experts = 1 if shapes is None else len(shapes)
    if family == LAPLACE:
        each = np.where(levels < 0.5, np.log(2.0 * np.minimum(levels, 0.5)),
                        -np.log(2.0 * (1.0 - np.maximum(levels, 0.5))))
    else:
        each = ndtri(levels)
    return np.ascontiguousarray(np.broadcast_to(each, (levels.shape[0], n_experts)))


def mixture_cdf_reference(family, weights, means, scales, shapes, y):
    """NumPy: ``F_i(y_i)`` of each row's mixture (``y`` of shape (n_samples,))."""
    from scipy.special import gammainc, ndtr, pdtr, stdtr

    y = np.asarray(y, dtype=np.float64)[:, None]
    if family == GAMMA:
        each = gammainc(shapes, shapes * np.maximum(y, 0.0) / means)
    elif family == POISSON:
        each = np.where(y < 0, 0.0, pdtr(np.floor(np.maximum(y, 0.0)), means))
    else:
        z = (y - means) / scales
        if family == GAUSSIAN:
            each = ndtr(z)
        elif family == STUDENT_T:
            each = stdtr(shapes, z)
        else:
            tail = 0.5 * np.exp(-np.abs(z))
            each = np.where(z < 0, tail, 1.0 - tail)
    return np.einsum("ik,ik->i", weights, each)


def mixture_quantiles_reference(family, weights, means, scales, shapes, levels):
    """NumPy twin of :func:`mixture_quantiles`, by plain bisection to the last ulp.

    Each level is solved on its own, from the experts' quantiles (scipy's),
    with no Newton step and no lower bound from the previous level; a
    Poisson level by integer bisection for the smallest integer whose
    probability reaches it.
    """
    from scipy.special import gammaincinv, pdtrik, stdtrit

    out = np.empty((weights.shape[0], len(levels)))
    used = weights > 0
    for j, level in enumerate(levels):
        if family == POISSON:
            each = pdtrik(level, means)
        elif family == GAMMA:
            each = means * gammaincinv(shapes, level) / shapes
        elif family == STUDENT_T:
            each = means + scales * stdtrit(shapes, level)
        else:
            each = means + scales * expert_standard_quantiles(family, [level])[0]
        low = np.where(used, each, np.inf).min(axis=1)
        high = np.where(used, each, -np.inf).max(axis=1)
        if family == POISSON:
            # pdtrik is continuous: the integer quantile is between these.
            low, high = np.maximum(np.floor(low) - 1, -1.0), np.ceil(high) + 1
            # Until no integer, or beyond 2**53 no float, lies between the ends.
            while np.any(active := (high - low > 1) & (np.floor(0.5 * (low + high)) > low)
                         & (np.floor(0.5 * (low + high)) < high)):
                middle = np.floor(0.5 * (low + high))
                reached = mixture_cdf_reference(family, weights, means, scales, shapes,
                                                middle) >= level
                high = np.where(active & reached, middle, high)
                low = np.where(active & ~reached, middle, low)
            out[:, j] = high
            continue
        for _ in range(2100):
            middle = 0.5 * (low + high)
            if not np.any((middle > low) & (middle < high)):
                break
            below = mixture_cdf_reference(family, weights, means, scales, shapes,
                                          middle) < level
            low = np.where(below, middle, low)
            high = np.where(below, high, middle)
        out[:, j] = 0.5 * (low + high)
    return out
