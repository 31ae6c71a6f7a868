"""Prediction of fitted mixtures whose experts are linear models, in one pass over the rows.

The general prediction path asks each expert for its predictions: every
expert validates the rows again, and a single row pays that fixed cost K
times, which is most of the time of serving one request. When every expert
is a plain linear model (``LinearRegression`` or ``ScaledRidge`` in the
regressor, ``LogisticRegression`` in the classifier), the experts'
coefficients are stacked into one matrix and all predictions are one
product of the rows, validated once by the mixture. A SoftmaxGate's
probabilities are its scaler's and its own operations, without validating
the rows again. With a SoftmaxGate, the regressor's mean and the
classifier's probabilities are each one Numba kernel
(:mod:`skmoe._serving_kernels`): gate, ``top_k`` routing and experts a block
of rows at a time, with the gate's scaler folded into its coefficients once,
so that nothing of the size of ``X`` is made; other gates take the products
below.

The stacked matrices (and the folded gate) are kept beside the fitted
mixture, not in it: in caches keyed weakly by the estimator, so that
prediction leaves the estimator's ``__dict__`` untouched, pickles and copies
carry nothing extra, and the cache goes with the estimator. An entry
remembers the very objects it was built from (the experts, the gate, the
scaler and their arrays); a refit, or any of them given new coefficients,
replaces them and the entry is rebuilt.
"""

import threading
import weakref
from contextlib import nullcontext

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LinearRegression, LogisticRegression

from ._experts import threadpool_controller
from ._gate import SoftmaxGate
from ._kernels import log_softmax
from ._ridge import ScaledRidge
from ._scaled_logistic import ScaledLogisticRegression
from ._serving_kernels import softmax_linear_mean, softmax_logistic_proba

_CACHE = weakref.WeakKeyDictionary()
_GATES = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
# From this many rows the products run with one BLAS thread. They are skinny (K
# or K * n_classes columns), bound by memory, and BLAS threads gain nothing on
# them; on a busy machine they spin for cores other processes hold, which made
# a product on 100,000 rows 100 times slower than on one thread. Below, the
# limit's own cost (about 10 microseconds) would show on single-row calls.
_SERIAL_BLAS_ROWS = 2048
# Rows of gate probabilities computed at a time: their standardised gate columns
# (a buffer of 4096 x d floats) and their K probabilities stay in cache.
_BLOCK_ROWS = 4096


def _blas_threads(n_rows):
    """One BLAS thread for products over ``n_rows`` rows, when that many."""
    if n_rows < _SERIAL_BLAS_ROWS:
        return nullcontext()
    return threadpool_controller().limit(limits=1, user_api="blas")


class _Stack:
    """The linear experts' coefficients stacked, and the objects they were read from.

    Parameters
    ----------
    experts : list of estimator
        The fitted experts.
    coef : ndarray of shape (n_outputs, n_features)
        Each expert's coefficients as rows (one per class for the
        multinomial classifier, one per expert otherwise).
    intercept : ndarray of shape (n_outputs,)
    binary : bool
        Classifier experts with one decision column each.
    """

    def __init__(self, experts, coef, intercept, binary=False):
        self.sources = [(expert, expert.coef_, expert.intercept_) for expert in experts]
        self.coef = coef
        self.intercept = intercept
        self.binary = binary

    def is_current(self, experts):
        """Whether ``experts`` are the objects, with the coefficient arrays, this was built from."""
        if len(experts) != len(self.sources):
            return False
        for expert, (source, coef, intercept) in zip(experts, self.sources):
            if (expert is not source or getattr(expert, "coef_", None) is not coef
                    or getattr(expert, "intercept_", None) is not intercept):
                return False
        return True


def _linear_regressor(expert):
    """Whether a fitted regression expert predicts ``X @ coef_ + intercept_`` with 1-D ``coef_``."""
    if type(expert) not in (LinearRegression, ScaledRidge):
        return False
    coef = getattr(expert, "coef_", None)
    return (isinstance(coef, np.ndarray) and coef.ndim == 1
            and np.ndim(getattr(expert, "intercept_", None)) == 0)


def _linear_classifier(expert, n_classes):
    """Whether a fitted classification expert is a plain LogisticRegression (or a
    ScaledLogisticRegression, whose coefficients are in the inputs' units) over all classes."""
    if type(expert) not in (LogisticRegression, ScaledLogisticRegression):
        return False
    classes = getattr(expert, "classes_", None)
    coef = getattr(expert, "coef_", None)
    if classes is None or not isinstance(coef, np.ndarray) or coef.ndim != 2:
        return False
    rows = 1 if n_classes == 2 else n_classes
    return (len(classes) == n_classes and np.array_equal(classes, np.arange(n_classes))
            and coef.shape[0] == rows and np.shape(expert.intercept_) == (rows,))


def _stack_regressors(experts):
    if not all(_linear_regressor(expert) for expert in experts):
        return None
    coef = np.vstack([expert.coef_ for expert in experts]).astype(np.float64)
    intercept = np.array([float(expert.intercept_) for expert in experts])
    return _Stack(experts, coef, intercept)


def _stack_classifiers(experts, n_classes):
    if not all(_linear_classifier(expert, n_classes) for expert in experts):
        return None
    coef = np.vstack([expert.coef_ for expert in experts]).astype(np.float64)
    intercept = np.concatenate([expert.intercept_ for expert in experts]).astype(np.float64)
    return _Stack(experts, coef, intercept, binary=n_classes == 2)


def _stack(estimator, build):
    """The current stack of ``estimator``'s experts (built by ``build`` when missing or stale).

    Returns None (and remembers it) when the experts are not all linear.
    """
    experts = estimator.experts_
    entry = _CACHE.get(estimator)
    if (entry is not None and entry[0] is experts and len(entry[1]) == len(experts)
            and all(a is b for a, b in zip(entry[1], experts))
            and (entry[2] is None or entry[2].is_current(experts))):
        return entry[2]
    stack = build(experts)
    with _LOCK:
        # The entry holds the list and the experts, so that ``is`` compares live objects.
        _CACHE[estimator] = (experts, tuple(experts), stack)
    return stack


def linear_mixture_mean(estimator, X):
    """The mixture's mean ``sum_k g_k f_k`` on validated rows in one pass, or None.

    For a regressor whose gate is a SoftmaxGate and whose experts are all
    plain linear models: one kernel scores each block of rows for the gate
    (the scaler folded into the gate's coefficients once), routes it to the
    ``top_k`` experts if set, and sums the experts' predictions, while the
    block is in cache; only the mean is written.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor
        Fitted.
    X : ndarray of shape (n_samples, n_features)
        Validated rows (all the columns the mixture was fitted on).

    Returns
    -------
    mean : ndarray of shape (n_samples,) or None
        None when the gate or an expert is of another kind, or ``X`` is not a
        dense float64 array: the caller takes the general path.

    Raises
    ------
    ValueError
        When an expert's prediction is not finite, naming the first one (with
        ``top_k``, among the experts the rows are routed to).
    """
    if (type(estimator.gate_) is not SoftmaxGate or not isinstance(X, np.ndarray)
            or X.dtype != np.float64):
        return None
    stack = _stack(estimator, _stack_regressors)
    if stack is None:
        return None
    gate = _folded_gate(estimator)
    n_experts = len(estimator.experts_)
    top_k = n_experts if estimator.top_k is None else min(estimator.top_k, n_experts)
    mean = softmax_linear_mean(np.ascontiguousarray(X), gate.columns, gate.center, gate.coef,
                               gate.intercept, gate.expert_columns, stack.coef, stack.intercept,
                               top_k, np.empty(X.shape[0]))
    if not np.isfinite(mean).all():
        # Rare: find the expert whose predictions made the mean so, on those rows only.
        rows = X[~np.isfinite(mean)][:, gate.expert_columns]
        _check_finite(rows @ stack.coef.T + stack.intercept, estimator.experts_, "predictions")
        _refuse_non_finite(mean, "mean is")
    return mean


class _FoldedGate:
    """A SoftmaxGate and its scaler as the serving kernel takes them.

    The scores are ``intercept + (X[:, columns] - center) @ coef.T``: the
    scaler's division by its scales is folded into ``coef`` (which leaves no
    cancellation behind: the columns are still centred before the product).

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        Fitted, with a SoftmaxGate.
    """

    def __init__(self, estimator):
        gate, scaler = estimator.gate_, estimator.gate_scaler_
        columns = np.asarray(estimator.gate_features_, dtype=np.int64)
        coef = np.asarray(gate.coef_, dtype=np.float64)
        if scaler is None:
            # No standardised columns: the scores are the intercepts (as in _gate_block).
            columns, coef = columns[:0], coef[:, :0]
        center = np.zeros(columns.shape[0])
        if scaler is not None and scaler.with_mean:
            center = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler is not None and scaler.with_std:
            coef = coef / scaler.scale_
        self.columns = np.ascontiguousarray(columns)
        self.center = np.ascontiguousarray(center)
        self.coef = np.ascontiguousarray(coef)
        self.intercept = np.ascontiguousarray(gate.intercept_, dtype=np.float64)
        self.expert_columns = np.ascontiguousarray(estimator.expert_features_, dtype=np.int64)


def _gate_sources(estimator):
    """The objects a _FoldedGate is built from: a new one of any means a new fold."""
    gate, scaler = estimator.gate_, estimator.gate_scaler_
    return (gate, gate.coef_, gate.intercept_, scaler, getattr(scaler, "mean_", None),
            getattr(scaler, "scale_", None), estimator.gate_features_,
            estimator.expert_features_)


def _folded_gate(estimator):
    """The current _FoldedGate of ``estimator``, built when missing or stale."""
    sources = _gate_sources(estimator)
    entry = _GATES.get(estimator)
    if entry is not None and all(a is b for a, b in zip(entry[0], sources)):
        return entry[1]
    folded = _FoldedGate(estimator)
    with _LOCK:
        # The entry holds the sources, so that ``is`` compares live objects.
        _GATES[estimator] = (sources, folded)
    return folded


def linear_mixture_proba(estimator, X):
    """The mixture's class probabilities ``sum_k g_k p_k`` on validated rows in one pass, or None.

    For a classifier whose gate is a SoftmaxGate and whose experts are all
    plain LogisticRegression models that know every class: one kernel
    (:func:`skmoe._serving_kernels.softmax_logistic_proba`) scores each block
    of rows for the gate, routes it to the ``top_k`` experts if set, and mixes
    the experts' probabilities, while the block is in cache.

    Parameters
    ----------
    estimator : MixtureOfExpertsClassifier
        Fitted.
    X : ndarray of shape (n_samples, n_features)
        Validated rows (all the columns the mixture was fitted on).

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes) or None
        Rows sum to one up to rounding. None when the gate or an expert is of
        another kind, or ``X`` is not a dense float64 array: the caller takes
        the general path.

    Raises
    ------
    ValueError
        When an expert's probabilities are not finite, naming the first one.
    """
    if (type(estimator.gate_) is not SoftmaxGate or not isinstance(X, np.ndarray)
            or X.dtype != np.float64):
        return None
    n_classes = estimator.classes_.shape[0]
    stack = _stack(estimator, lambda experts: _stack_classifiers(experts, n_classes))
    if stack is None:
        return None
    gate = _folded_gate(estimator)
    n_experts = len(estimator.experts_)
    top_k = n_experts if estimator.top_k is None else min(estimator.top_k, n_experts)
    proba = softmax_logistic_proba(np.ascontiguousarray(X), gate.columns, gate.center,
                                   gate.coef, gate.intercept, gate.expert_columns, stack.coef,
                                   stack.intercept, top_k, np.empty((X.shape[0], n_classes)))
    if not np.isfinite(proba).all():
        # Rare: find the expert whose probabilities made the mixture's so, on those rows.
        bad = ~np.isfinite(proba).all(axis=1)
        linear_probabilities(estimator, X[bad][:, gate.expert_columns])
        _refuse_non_finite(proba[bad], "probabilities are")
    return proba


def _refuse_non_finite(values, what):
    """Refuse a non-finite mixture output whose experts' outputs are all finite."""
    n_rows = int((~np.isfinite(values.reshape(values.shape[0], -1))).any(axis=1).sum())
    raise ValueError(
        f"The mixture's {what} not finite on {n_rows} of the rows although every expert's "
        "outputs are: the gate's scores or the weighted sum overflow there (rows or "
        "coefficients of very large magnitude)."
    )


def linear_probabilities(estimator, X):
    """Every expert's class probabilities on the experts' rows ``X``, or None.

    Binary experts give ``[1 - expit(d), expit(d)]`` and multinomial ones the
    softmax of their scores, as ``LogisticRegression.predict_proba`` does.

    Parameters
    ----------
    estimator : MixtureOfExpertsClassifier
        Fitted.
    X : ndarray of shape (n_samples, n_expert_features)
        Validated dense rows, the experts' columns.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_experts, n_classes) or None
        None when an expert is not a plain LogisticRegression that knows every
        class (or ``X`` is not a dense float64 array).
    """
    if not isinstance(X, np.ndarray) or X.dtype != np.float64:
        return None
    n_classes = estimator.classes_.shape[0]
    stack = _stack(estimator, lambda experts: _stack_classifiers(experts, n_classes))
    if stack is None:
        return None
    with _blas_threads(X.shape[0]):
        scores = X @ stack.coef.T
    scores += stack.intercept
    n_experts = len(estimator.experts_)
    if stack.binary:
        positive = expit(scores)
        proba = np.empty((X.shape[0], n_experts, 2))
        np.subtract(1.0, positive, out=proba[:, :, 0])
        proba[:, :, 1] = positive
    else:
        proba = scores.reshape(X.shape[0], n_experts, n_classes)
        proba -= proba.max(axis=2, keepdims=True)
        np.exp(proba, out=proba)
        proba /= proba.sum(axis=2, keepdims=True)
    _check_finite(proba.reshape(X.shape[0], -1), estimator.experts_, "probabilities",
                  per_expert=proba.shape[2])
    return proba


def _check_finite(values, experts, what, per_expert=1):
    """Refuse NaN or inf in stacked outputs, naming the first expert that gave one."""
    if np.isfinite(values).all():
        return
    bad = ~np.isfinite(values).all(axis=0)
    index = int(np.flatnonzero(bad)[0]) // per_expert
    raise ValueError(
        f"Expert {index} ({type(experts[index]).__name__}) returned NaN or inf {what}."
    )


def softmax_gate_proba(gate, scaler, columns):
    """A fitted SoftmaxGate's probabilities on validated, unscaled gate columns, or None.

    The same operations as ``gate.predict_proba(scaler.transform(columns))``
    (so the same bits), without validating the rows twice more.

    Parameters
    ----------
    gate : estimator
        The mixture's fitted gate.
    scaler : StandardScaler or None
        The mixture's gate scaler (None for a gate without inputs).
    columns : ndarray of shape (n_samples, n_gate_features)
        The gate's columns of validated rows.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_experts) or None
        None when the gate is not a SoftmaxGate or the rows are not dense.
    """
    if type(gate) is not SoftmaxGate or not isinstance(columns, np.ndarray):
        return None
    n_samples = columns.shape[0]
    proba = np.empty((n_samples, gate.coef_.shape[0]))
    buffer = np.empty((min(n_samples, _BLOCK_ROWS), columns.shape[1]))
    with _blas_threads(n_samples):
        for start in range(0, n_samples, _BLOCK_ROWS):
            stop = min(start + _BLOCK_ROWS, n_samples)
            _gate_block(gate, scaler, columns[start:stop], buffer[:stop - start],
                        proba[start:stop])
    return proba


def _gate_block(gate, scaler, columns, buffer, out):
    """Gate probabilities of a block of rows into ``out``, through ``buffer`` (its shape).

    StandardScaler.transform's operations, then SoftmaxGate.predict_proba's.
    """
    if columns.shape[1] == 0 or scaler is None:
        out[:] = 0.0
    else:
        if scaler.with_mean:
            np.subtract(columns, scaler.mean_, out=buffer)
        else:
            buffer[:] = columns
        if scaler.with_std:
            buffer /= scaler.scale_
        np.matmul(buffer, gate.coef_.T, out=out)
    out += gate.intercept_
    return np.exp(log_softmax(out, out), out=out)
