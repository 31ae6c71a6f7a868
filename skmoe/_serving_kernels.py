"""The Numba kernel of serving: a mixture of linear experts' mean in one pass over the rows.

The gate's scores, its softmax, the ``top_k`` routing and the experts'
predictions of a block of rows are computed while the block is in cache, and
only the mean is written: no array of the size of ``X`` or of ``(n_samples,
n_experts)`` is made. A block is first transposed (features by rows), so that
every loop after that runs along the rows, contiguous, and vectorises; the
gate's ``exp`` is :func:`skmoe._fastmath._exp`, which vectorises too.

Like the kernels of :mod:`skmoe._kernels`, it is a pure function over float64
C-contiguous arrays with a NumPy twin, run in parallel only when the rows are
many enough to pay for Numba's threads (each row's result is the same
whatever the number of threads: nothing is summed across rows).
"""

import numpy as np
from numba import njit, prange

from ._fastmath import _exp
from ._kernels import _JIT, _SERIAL

# Rows transposed at a time: with 10 features, the block (10 x 256 floats) and the
# scores and predictions of 4 experts (2 x 4 x 256) fill half of a 32 KiB L1 cache.
_BLOCK_ROWS = 256
# Rows a parallel task takes: its buffers are made once for them.
_CHUNK_ROWS = 16 * _BLOCK_ROWS
# Multiply-adds (rows x experts x gate and expert columns) from which the rows are
# shared among Numba's threads: 2**25 are about 8 ms on one core (400,000 rows of
# 10 features and 4 experts). A parallel region waits for its slowest thread, and
# on a loaded machine a thread can wait milliseconds for a core: 100,000 such rows
# took 16 ms on two threads there against 2.3 ms on one. Only long calls risk it.
_MIN_PARALLEL_PRODUCTS = 1 << 25


@njit(**_JIT)
def softmax_linear_mean(X, gate_columns, center, gate_coef, gate_intercept, expert_columns,
                        coef, intercept, top_k, out):
    """The mean ``sum_k w_k(x) f_k(x)`` of a softmax gate and linear experts.

    The gate's scores are ``s_k = gate_intercept[k] + sum_j (x[gate_columns[j]]
    - center[j]) gate_coef[k, j]`` (a standardising scaler folded into
    ``gate_coef`` by dividing by its scales), the experts' predictions
    ``f_k = intercept[k] + sum_j x[expert_columns[j]] coef[k, j]``. The
    weights are the softmax of the scores over the ``top_k`` experts of
    highest score (the lower index first among equal scores), which is the
    gate's softmax renormalised over them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows.
    gate_columns : ndarray of shape (n_gate_features,), int64
        The gate's columns of ``X``.
    center : ndarray of shape (n_gate_features,)
        Subtracted from the gate's columns.
    gate_coef : ndarray of shape (n_experts, n_gate_features)
        The gate's coefficients on the centred columns.
    gate_intercept : ndarray of shape (n_experts,)
    expert_columns : ndarray of shape (n_expert_features,), int64
        The experts' columns of ``X``.
    coef : ndarray of shape (n_experts, n_expert_features)
        The experts' coefficients, one row each.
    intercept : ndarray of shape (n_experts,)
    top_k : int
        Experts each row is routed to; ``n_experts`` or more: all of them.
    out : ndarray of shape (n_samples,)
        Output.

    Returns
    -------
    out : ndarray of shape (n_samples,)
        The mixture's mean of each row; not finite when an expert's
        prediction is not (an expert left out by ``top_k`` included).
        Twin: :func:`softmax_linear_mean_reference`.
    """
    n_samples = X.shape[0]
    n_experts = gate_intercept.shape[0]
    products = n_samples * n_experts * (gate_columns.shape[0] + expert_columns.shape[0])
    if products < _MIN_PARALLEL_PRODUCTS:
        _mean_chunk(X, gate_columns, center, gate_coef, gate_intercept, expert_columns, coef,
                    intercept, top_k, 0, n_samples, out)
    else:
        n_chunks = (n_samples + _CHUNK_ROWS - 1) // _CHUNK_ROWS
        for c in prange(n_chunks):
            _mean_chunk(X, gate_columns, center, gate_coef, gate_intercept, expert_columns,
                        coef, intercept, top_k, c * _CHUNK_ROWS,
                        min(n_samples, (c + 1) * _CHUNK_ROWS), out)
    return out


@njit(**_SERIAL)
def _mean_chunk(X, gate_columns, center, gate_coef, gate_intercept, expert_columns, coef,
                intercept, top_k, start, stop, out):
    """Rows ``start:stop``, a block at a time, through buffers made once."""
    n_experts = gate_intercept.shape[0]
    rows = min(_BLOCK_ROWS, stop - start)
    block = np.empty((X.shape[1], rows))
    scores = np.empty((n_experts, rows))
    predictions = np.empty((n_experts, rows))
    rank = np.empty((n_experts, rows))
    work = np.empty((5, rows))
    for first in range(start, stop, rows):
        _mean_block(X, gate_columns, center, gate_coef, gate_intercept, expert_columns, coef,
                    intercept, top_k, first, min(stop, first + rows), out, block, scores,
                    predictions, rank, work)


@njit(**_SERIAL)
def _mean_block(X, gate_columns, center, gate_coef, gate_intercept, expert_columns, coef,
                intercept, top_k, first, last, out, block, scores, predictions, rank, work):
    """Rows ``first:last`` through the buffers (``work``: five rows of scratch)."""
    top, numerator, denominator, value, picked = work[0], work[1], work[2], work[3], work[4]
    n_rows = last - first
    n_features = X.shape[1]
    n_experts = gate_intercept.shape[0]
    for b in range(n_rows):
        for j in range(n_features):
            block[j, b] = X[first + b, j]
    for k in range(n_experts):
        for b in range(n_rows):
            scores[k, b] = gate_intercept[k]
            predictions[k, b] = intercept[k]
        for j in range(gate_columns.shape[0]):
            column, shift, weight = gate_columns[j], center[j], gate_coef[k, j]
            for b in range(n_rows):
                scores[k, b] += (block[column, b] - shift) * weight
        for j in range(expert_columns.shape[0]):
            column, weight = expert_columns[j], coef[k, j]
            for b in range(n_rows):
                predictions[k, b] += block[column, b] * weight
    if top_k >= n_experts:
        for b in range(n_rows):
            top[b] = scores[0, b]
            numerator[b] = 0.0
            denominator[b] = 0.0
        for k in range(1, n_experts):
            for b in range(n_rows):
                top[b] = max(top[b], scores[k, b])
        for k in range(n_experts):
            for b in range(n_rows):
                weight = _exp(scores[k, b] - top[b])
                numerator[b] += weight * predictions[k, b]
                denominator[b] += weight
    else:
        _route_block(scores, predictions, top_k, n_rows, rank, top, numerator, denominator,
                     value, picked)
    for b in range(n_rows):
        out[first + b] = numerator[b] / denominator[b]


@njit(**_SERIAL)
def _route_block(scores, predictions, top_k, n_rows, rank, top, numerator, denominator, value,
                 picked):
    """The softmax-weighted sum over each row's ``top_k`` experts, into the last three.

    An expert's rank in a row is the number of experts of higher score, or of
    equal score and lower index. The experts of rank 0, 1, ... are picked out
    of every row a pass over the experts each, so that the rows' exps are
    taken only for their chosen experts (none for the first, of weight 1).
    """
    n_experts = scores.shape[0]
    for k in range(n_experts):
        for b in range(n_rows):
            rank[k, b] = 0.0
    for q in range(n_experts):
        for k in range(q + 1, n_experts):
            for b in range(n_rows):
                ahead = scores[q, b] >= scores[k, b]
                rank[k, b] += 1.0 if ahead else 0.0
                rank[q, b] += 0.0 if ahead else 1.0
    for j in range(top_k):
        for b in range(n_rows):
            # Ranks are 0, 1, ... in every row unless a score is NaN; then NaN comes out.
            value[b] = np.nan
            picked[b] = np.nan
        for k in range(n_experts):
            for b in range(n_rows):
                if rank[k, b] == j:
                    value[b] = scores[k, b]
                    picked[b] = predictions[k, b]
        if j == 0:
            for b in range(n_rows):
                top[b] = value[b]
                numerator[b] = picked[b]
                denominator[b] = 1.0
        else:
            for b in range(n_rows):
                weight = _exp(value[b] - top[b])
                numerator[b] += weight * picked[b]
                denominator[b] += weight


def softmax_linear_mean_reference(X, gate_columns, center, gate_coef, gate_intercept,
                                  expert_columns, coef, intercept, top_k):
    """NumPy twin of :func:`softmax_linear_mean`: products, a softmax and a stable sort.

    Returns
    -------
    mean : ndarray of shape (n_samples,)
    """
    scores = (X[:, gate_columns] - center) @ gate_coef.T + gate_intercept
    gate = np.exp(scores - scores.max(axis=1, keepdims=True))
    if top_k < gate.shape[1]:
        left_out = np.argsort(-scores, axis=1, kind="stable")[:, top_k:]
        np.put_along_axis(gate, left_out, 0.0, axis=1)
    predictions = X[:, expert_columns] @ coef.T + intercept
    return (gate * predictions).sum(axis=1) / gate.sum(axis=1)
