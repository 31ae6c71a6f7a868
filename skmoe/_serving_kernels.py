"""The Numba kernels of serving: a mixture of linear experts in one pass over the rows.

:func:`softmax_linear_mean` gives the mean of a softmax gate and linear
regression experts, :func:`softmax_logistic_proba` the class probabilities of
a softmax gate and logistic experts. The gate's scores, its softmax, the
``top_k`` routing and the experts' outputs of a block of rows are computed
while the block is in cache, and only the result is written: no array of the
size of ``X`` or of ``(n_samples, n_experts)`` is made. A block is first
transposed (features by rows), so that every loop after that runs along the
rows, contiguous, and vectorises; ``exp`` is :func:`skmoe._fastmath._exp`,
which vectorises too.

Like the kernels of :mod:`skmoe._kernels`, they are pure functions over
float64 C-contiguous arrays with a NumPy twin: Python functions that call one
compiled function (``serial_kernel``) on the calling thread, or, when the rows
are many enough to pay for more threads, run ranges of row chunks on several
(:func:`skmoe._threads.run_blocks`); each row's result is the same whatever
the number of threads: nothing is summed across rows.
"""
import numpy as np
from numba import njit

from ._fastmath import _exp
from ._kernels import _FIRST, _SERIAL
from ._threads import run_blocks

# Rows transposed at a time: with 10 features and 4 experts, the block (20 KiB) and
# the gate's scores and experts' outputs (16 KiB) stay in the core's own caches.
_BLOCK_ROWS = 256
# Rows a parallel task takes: its buffers are made once for them.
_CHUNK_ROWS = 16 * _BLOCK_ROWS
# Multiply-adds (rows x experts x gate and expert columns) from which the rows are
# shared among threads: 2**25 are about 10 ms on one core (420,000 rows of
# 10 features and 4 experts). A parallel region waits for its slowest thread, and
# on a loaded machine a thread can wait milliseconds for a core: 100,000 such rows
# took 16 ms on two threads there against 2.3 ms on one. Only long calls risk it.
_MIN_PARALLEL_PRODUCTS = 1 << 25


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
        The mixture's mean of each row; not finite where a prediction it
        weighs is not (every expert's, or with ``top_k < n_experts`` the
        row's chosen experts').
        Twin: :func:`softmax_linear_mean_reference`.
    """
    products = X.shape[0] * gate_intercept.shape[0] * (gate_columns.shape[0]
                                                       + expert_columns.shape[0])
    _over_chunks(_mean_chunks, products, X, gate_columns, center, gate_coef, gate_intercept,
                 expert_columns, coef, intercept, top_k, out)
    return out


def _over_chunks(kernel, products, X, *args):
    """``kernel(X, *args, first, last)`` over every chunk of rows of ``X``: on the
    calling thread, or on several when ``products`` multiply-adds pay for them."""
    n_chunks = (X.shape[0] + _CHUNK_ROWS - 1) // _CHUNK_ROWS
    if products < _MIN_PARALLEL_PRODUCTS:
        kernel(X, *args, _FIRST, n_chunks)
    else:
        run_blocks(kernel, n_chunks, X, *args)


@njit(**_SERIAL)
def _mean_chunks(X, gate_columns, center, gate_coef, gate_intercept, expert_columns, coef,
                 intercept, top_k, out, first, last):
    """:func:`softmax_linear_mean` on chunks ``first`` to ``last - 1`` of rows.

    Each chunk is taken a block of rows at a time, through buffers made once
    per chunk (``work``: five rows of scratch). Chunks and blocks are loops
    here, not functions: each compiled function of its own is optimised and
    turned into machine code once more with everything it calls.
    """
    n_samples, n_experts = X.shape[0], gate_intercept.shape[0]
    for chunk in range(first, last):
        start, stop = chunk * _CHUNK_ROWS, min(n_samples, (chunk + 1) * _CHUNK_ROWS)
        rows = min(_BLOCK_ROWS, stop - start)
        block = np.empty((X.shape[1], rows))
        scores = np.empty((n_experts, rows))
        predictions = np.empty((n_experts, rows))
        rank = np.empty((n_experts, rows))
        work = np.empty((5, rows))
        top, numerator, denominator, value, picked = work[0], work[1], work[2], work[3], work[4]
        for block_first in range(start, stop, rows):
            block_last = min(stop, block_first + rows)
            n_rows = block_last - block_first
            _transpose(X, block_first, block_last, block)
            _gate_scores(block, n_rows, gate_columns, center, gate_coef, gate_intercept, scores)
            _linear_scores(block, n_rows, expert_columns, coef, intercept, predictions)
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
                _route_block(scores, predictions, top_k, n_rows, rank, top, numerator,
                             denominator, value, picked)
            for b in range(n_rows):
                out[block_first + b] = numerator[b] / denominator[b]


softmax_linear_mean.serial_kernel = _mean_chunks


@njit(**_SERIAL)
def _route_block(scores, predictions, top_k, n_rows, rank, top, numerator, denominator, value,
                 picked):
    """The softmax-weighted sum over each row's ``top_k`` experts (and the highest score).

    An expert's rank in a row is the number of experts of higher score, or of
    equal score and lower index. The experts of rank 0, 1, ... are picked out
    of every row a pass over the experts each, so that the rows' exps are
    taken only for their chosen experts (none for the first, of weight 1).
    """
    n_experts = scores.shape[0]
    _ranks(scores, n_rows, rank)
    for j in range(top_k):
        # The first rank j, into the highest score and the numerator for j = 0. Ranks
        # are 0, 1, ... in every row unless a score is NaN; then NaN comes out.
        best = top if j == 0 else value
        chosen = numerator if j == 0 else picked
        for b in range(n_rows):
            here = rank[0, b] == j
            best[b] = scores[0, b] if here else np.nan
            chosen[b] = predictions[0, b] if here else np.nan
        for k in range(1, n_experts):
            for b in range(n_rows):
                if rank[k, b] == j:
                    best[b] = scores[k, b]
                    chosen[b] = predictions[k, b]
        if j == 0:
            for b in range(n_rows):
                denominator[b] = 1.0
        else:
            for b in range(n_rows):
                weight = _exp(value[b] - top[b])
                numerator[b] += weight * picked[b]
                denominator[b] += weight


def softmax_logistic_proba(X, gate_columns, center, gate_coef, gate_intercept, expert_columns,
                           coef, intercept, top_k, out):
    """The class probabilities ``sum_k w_k(x) p_k(y | x)`` of a softmax gate and logistic experts.

    The gate's scores and weights are those of :func:`softmax_linear_mean`.
    Each expert has ``r`` rows of ``coef`` and ``intercept`` (``r = 1`` for
    binary experts, ``n_classes`` otherwise), expert ``k`` rows ``k r`` to
    ``k r + r - 1``, and gives ``[1 - expit(z), expit(z)]`` of its one score
    or the softmax of its ``n_classes`` scores, as ``LogisticRegression``'s
    ``predict_proba`` does.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows.
    gate_columns, center, gate_coef, gate_intercept, expert_columns, top_k
        As in :func:`softmax_linear_mean`.
    coef : ndarray of shape (n_experts * r, n_expert_features)
        The experts' coefficients, one row per score.
    intercept : ndarray of shape (n_experts * r,)
    out : ndarray of shape (n_samples, n_classes)
        Output.

    Returns
    -------
    out : ndarray of shape (n_samples, n_classes)
        The mixture's probabilities of each row (rows sum to one up to
        rounding); not finite where an expert's are not.
        Twin: :func:`softmax_logistic_proba_reference`.
    """
    products = X.shape[0] * (gate_coef.shape[0] * gate_columns.shape[0]
                             + coef.shape[0] * expert_columns.shape[0])
    _over_chunks(_proba_chunks, products, X, gate_columns, center, gate_coef, gate_intercept,
                 expert_columns, coef, intercept, top_k, out)
    return out


@njit(**_SERIAL)
def _proba_chunks(X, gate_columns, center, gate_coef, gate_intercept, expert_columns, coef,
                  intercept, top_k, out, first, last):
    """:func:`softmax_logistic_proba` on chunks ``first`` to ``last - 1`` of rows.

    Each chunk is taken a block of rows at a time, through buffers made once
    per chunk (a loop here, not a function of its own, as in
    :func:`_mean_chunks`).
    """
    n_samples = X.shape[0]
    n_experts, n_classes = gate_intercept.shape[0], out.shape[1]
    for chunk in range(first, last):
        start, stop = chunk * _CHUNK_ROWS, min(n_samples, (chunk + 1) * _CHUNK_ROWS)
        rows = min(_BLOCK_ROWS, stop - start)
        block = np.empty((X.shape[1], rows))
        weights = np.empty((n_experts, rows))
        rank = np.empty((n_experts, rows))
        scores = np.empty((coef.shape[0] // n_experts, rows))
        proba = np.empty((n_classes, rows))
        work = np.empty((2, rows))
        for block_first in range(start, stop, rows):
            block_last = min(stop, block_first + rows)
            n_rows = block_last - block_first
            _transpose(X, block_first, block_last, block)
            _gate_scores(block, n_rows, gate_columns, center, gate_coef, gate_intercept,
                         weights)
            _gate_weights(weights, n_rows, top_k, rank, work[0], work[1])
            _mix_logistic(block, n_rows, expert_columns, coef, intercept, weights, scores,
                          work[0], work[1], proba)
            for b in range(n_rows):
                for c in range(n_classes):
                    out[block_first + b, c] = proba[c, b]


softmax_logistic_proba.serial_kernel = _proba_chunks


@njit(**_SERIAL)
def _gate_weights(scores, n_rows, top_k, rank, top, total):
    """The gate's scores, in place, turned into its softmax over each row's ``top_k``."""
    n_experts = scores.shape[0]
    if top_k < n_experts:
        _ranks(scores, n_rows, rank)
    for b in range(n_rows):
        top[b] = scores[0, b]
        total[b] = 0.0
    for k in range(1, n_experts):
        for b in range(n_rows):
            top[b] = max(top[b], scores[k, b])
    for k in range(n_experts):
        for b in range(n_rows):
            weight = _exp(scores[k, b] - top[b])
            if top_k < n_experts and rank[k, b] >= top_k:
                weight = 0.0
            scores[k, b] = weight
            total[b] += weight
    for k in range(n_experts):
        for b in range(n_rows):
            scores[k, b] /= total[b]


@njit(**_SERIAL)
def _mix_logistic(block, n_rows, columns, coef, intercept, weights, scores, top, total, proba):
    """``proba[c] = sum_k weights[k] p_k(c)``, expert k's probabilities from its scores."""
    n_experts, n_classes = weights.shape[0], proba.shape[0]
    per_expert = scores.shape[0]
    for c in range(n_classes):
        for b in range(n_rows):
            proba[c, b] = 0.0
    for k in range(n_experts):
        own = k * per_expert
        _linear_scores(block, n_rows, columns, coef[own:own + per_expert],
                       intercept[own:own + per_expert], scores)
        if per_expert == 1:
            for b in range(n_rows):
                positive = 1.0 / (1.0 + _exp(-scores[0, b]))
                proba[0, b] += weights[k, b] * (1.0 - positive)
                proba[1, b] += weights[k, b] * positive
            continue
        for b in range(n_rows):
            top[b] = scores[0, b]
            total[b] = 0.0
        for c in range(1, n_classes):
            for b in range(n_rows):
                top[b] = max(top[b], scores[c, b])
        for c in range(n_classes):
            for b in range(n_rows):
                scores[c, b] = _exp(scores[c, b] - top[b])
                total[b] += scores[c, b]
        for b in range(n_rows):
            total[b] = weights[k, b] / total[b]
        for c in range(n_classes):
            for b in range(n_rows):
                proba[c, b] += scores[c, b] * total[b]


@njit(**_SERIAL)
def _transpose(X, first, last, block):
    """Rows ``first:last`` of ``X`` as the columns of ``block`` (features by rows)."""
    for b in range(last - first):
        for j in range(X.shape[1]):
            block[j, b] = X[first + b, j]


@njit(**_SERIAL)
def _gate_scores(block, n_rows, columns, center, coef, intercept, scores):
    """``scores[k] = intercept[k] + sum_j (block[columns[j]] - center[j]) coef[k, j]``."""
    for k in range(coef.shape[0]):
        for b in range(n_rows):
            scores[k, b] = intercept[k]
        for j in range(columns.shape[0]):
            column, shift, weight = columns[j], center[j], coef[k, j]
            for b in range(n_rows):
                scores[k, b] += (block[column, b] - shift) * weight


@njit(**_SERIAL)
def _linear_scores(block, n_rows, columns, coef, intercept, scores):
    """``scores[k] = intercept[k] + sum_j block[columns[j]] coef[k, j]``, k over coef's rows."""
    for k in range(coef.shape[0]):
        for b in range(n_rows):
            scores[k, b] = intercept[k]
        for j in range(columns.shape[0]):
            column, weight = columns[j], coef[k, j]
            for b in range(n_rows):
                scores[k, b] += block[column, b] * weight


@njit(**_SERIAL)
def _ranks(scores, n_rows, rank):
    """Each expert's rank in each row: the experts of higher score, or of equal score
    and lower index (0 for the first; a total order unless a score is NaN)."""
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


def softmax_logistic_proba_reference(X, gate_columns, center, gate_coef, gate_intercept,
                                     expert_columns, coef, intercept, top_k, n_classes):
    """NumPy twin of :func:`softmax_logistic_proba`: products, scipy's expit and softmax.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
    """
    # Here, not at the top: the warm-up imports this module and needs no SciPy.
    from scipy.special import expit, softmax

    scores = (X[:, gate_columns] - center) @ gate_coef.T + gate_intercept
    gate = softmax(scores, axis=1)
    if top_k < gate.shape[1]:
        left_out = np.argsort(-scores, axis=1, kind="stable")[:, top_k:]
        np.put_along_axis(gate, left_out, 0.0, axis=1)
        gate /= gate.sum(axis=1, keepdims=True)
    n_experts = gate.shape[1]
    decision = (X[:, expert_columns] @ coef.T + intercept).reshape(X.shape[0], n_experts, -1)
    if decision.shape[2] == 1:
        positive = expit(decision[:, :, 0])
        each = np.stack([1.0 - positive, positive], axis=2)
    else:
        each = softmax(decision, axis=2)
    return np.einsum("ik,ikc->ic", gate, each)
