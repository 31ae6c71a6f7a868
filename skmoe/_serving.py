"""Prediction of fitted mixtures whose experts are linear models, in a few matrix products.

The general prediction path asks each expert for its predictions: every
expert validates the rows again, and a single row pays that fixed cost K
times, which is most of the time of serving one request. When every expert
is a plain linear model (``LinearRegression`` or ``ScaledRidge`` in the
regressor, ``LogisticRegression`` in the classifier), the experts'
coefficients are stacked into one matrix and all predictions are one
product of the rows, validated once by the mixture.

The stacked matrices are kept beside the fitted mixture, not in it: in a
cache keyed weakly by the estimator, so that prediction leaves the
estimator's ``__dict__`` untouched, pickles and copies carry nothing extra,
and the cache goes with the estimator. An entry remembers the very objects
it was built from (the experts and their coefficient arrays); a refit, or
any expert given new coefficients, replaces them and the entry is rebuilt.
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

_CACHE = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
# From this many rows the products run with one BLAS thread. They are skinny (K
# or K * n_classes columns), bound by memory, and BLAS threads gain nothing on
# them; on a busy machine they spin for cores other processes hold, which made
# a product on 100,000 rows 100 times slower than on one thread. Below, the
# limit's own cost (about 10 microseconds) would show on single-row calls.
_SERIAL_BLAS_ROWS = 2048
# Rows of the gate's columns standardised at a time (a buffer of 4096 x d floats).
_GATE_BLOCK_ROWS = 4096


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
    coef : ndarray of shape (n_features, n_outputs)
        Each expert's coefficients as columns (one per class for the
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
    """Whether a fitted classification expert is a plain LogisticRegression over all classes."""
    if type(expert) is not LogisticRegression:
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
    coef = np.column_stack([expert.coef_ for expert in experts]).astype(np.float64)
    intercept = np.array([float(expert.intercept_) for expert in experts])
    return _Stack(experts, coef, intercept)


def _stack_classifiers(experts, n_classes):
    if not all(_linear_classifier(expert, n_classes) for expert in experts):
        return None
    coef = np.vstack([expert.coef_ for expert in experts]).T.astype(np.float64)
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


def linear_means(estimator, X):
    """Every expert's prediction on the experts' rows ``X`` in one product, or None.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor
        Fitted.
    X : ndarray of shape (n_samples, n_expert_features)
        Validated dense rows, the experts' columns.

    Returns
    -------
    predictions : ndarray of shape (n_samples, n_experts) or None
        None when an expert is not a plain linear model (or ``X`` is not a
        dense float64 array): the caller asks each expert.

    Raises
    ------
    ValueError
        When an expert's prediction is not finite, naming the first one.
    """
    if not isinstance(X, np.ndarray) or X.dtype != np.float64:
        return None
    stack = _stack(estimator, _stack_regressors)
    if stack is None:
        return None
    with _blas_threads(X.shape[0]):
        predictions = X @ stack.coef
    predictions += stack.intercept
    _check_finite(predictions, estimator.experts_, "predictions")
    return predictions


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
        scores = X @ stack.coef
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
    n_samples, n_columns = columns.shape
    scores = np.empty((n_samples, gate.coef_.shape[0]))
    if n_columns == 0 or scaler is None:
        scores[:] = 0.0
    else:
        # StandardScaler.transform's operations, a block of rows at a time in a
        # buffer that stays in cache: no standardised copy of all the rows.
        buffer = np.empty((min(n_samples, _GATE_BLOCK_ROWS), n_columns))
        with _blas_threads(n_samples):
            for start in range(0, n_samples, _GATE_BLOCK_ROWS):
                stop = min(start + _GATE_BLOCK_ROWS, n_samples)
                block = buffer[:stop - start]
                if scaler.with_mean:
                    np.subtract(columns[start:stop], scaler.mean_, out=block)
                else:
                    block[:] = columns[start:stop]
                if scaler.with_std:
                    block /= scaler.scale_
                np.matmul(block, gate.coef_.T, out=scores[start:stop])
    scores += gate.intercept_
    return np.exp(log_softmax(scores, scores), out=scores)
