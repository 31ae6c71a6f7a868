"""Numba kernels of the EM loop, each beside the NumPy reference it must equal.

The kernels are pure functions over float64 C-contiguous arrays: they never see
an estimator and write only into the ``out`` arrays they are given. They run in
parallel over rows; sums over rows are taken serially afterwards so that a fit
is bit-for-bit reproducible whatever the thread scheduling.
"""

import numpy as np
from numba import njit, prange
from scipy.special import logsumexp

# ``fastmath=True`` would include "nnan"/"ninf", which turn a log-sum-exp over a
# row of -inf into NaN; this subset keeps infinities exact.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_JIT = {"parallel": True, "cache": True, "fastmath": _FASTMATH, "nogil": True}

_LOG_2PI = float(np.log(2.0 * np.pi))


@njit(**_JIT)
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
    for i in prange(n_samples):
        top = -np.inf
        for k in range(n_experts):
            v = log_gate[i, k] + log_lik[i, k]
            resp[i, k] = v
            if v > top:
                top = v
        if top == -np.inf:
            _gate_fallback(log_gate, i, resp)
            row_log_lik[i] = -np.inf
            continue
        total = 0.0
        for k in range(n_experts):
            e = np.exp(resp[i, k] - top)
            resp[i, k] = e
            total += e
        inv = 1.0 / total
        for k in range(n_experts):
            resp[i, k] *= inv
        row_log_lik[i] = top + np.log(total)
    return _weighted_sum(sample_weight, row_log_lik)


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


@njit(**_JIT)
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
    log_norm = np.empty(n_experts)
    std = np.empty(n_experts)
    for k in range(n_experts):
        log_norm[k] = -0.5 * (_LOG_2PI + np.log(variance[k]))
        # Scale by the standard deviation: 1 / variance overflows to inf for a
        # subnormal variance, and 0 * inf would be NaN on a zero residual.
        std[k] = np.sqrt(variance[k])
    for i in prange(n_samples):
        for k in range(n_experts):
            z = (y[i] - mean[i, k]) / std[k]
            out[i, k] = log_norm[k] - 0.5 * z * z
    return out


def gaussian_log_likelihood_reference(y, mean, variance):
    """NumPy twin of :func:`gaussian_log_likelihood`."""
    z = (y[:, None] - mean) / np.sqrt(variance)[None, :]
    return -0.5 * (_LOG_2PI + np.log(variance)[None, :]) - 0.5 * z**2


@njit(**_JIT)
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
    log_floor = np.log(floor)
    for i in prange(y.shape[0]):
        column = columns[y[i]]
        p = proba[i, column] if column >= 0 else 0.0
        out[i, k] = np.log(p) if p > floor else log_floor
    return out


def categorical_log_likelihood_reference(proba, columns, y, floor):
    """NumPy twin of :func:`categorical_log_likelihood`; returns the column."""
    column = columns[y]
    p = np.where(column >= 0, proba[np.arange(y.shape[0]), np.maximum(column, 0)], 0.0)
    return np.log(np.maximum(p, floor))
