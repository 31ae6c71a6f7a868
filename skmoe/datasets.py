"""Generators of data with a known mixture-of-experts structure (ground truth for tests)."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._validation import Interval, validate_params


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left"), "array-like"],
        "gate_sharpness": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "return_params": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_switching_regression(
    n_samples=1000,
    n_features=2,
    n_experts=3,
    *,
    noise=0.1,
    gate_sharpness=3.0,
    random_state=None,
    return_params=False,
):
    """Generate a switching linear regression: a softmax gate picks each row's regime.

    ``x ~ N(0, I)``; the regime ``z`` of a row is drawn from
    ``softmax(gate_sharpness * (U x))`` where the rows of ``U`` are centred
    random unit vectors; then ``y = x . coef[z] + intercept[z] + noise[z] * e``
    with ``e ~ N(0, 1)``. Coefficients are drawn from N(0, 1) and intercepts
    from N(0, 1).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    n_features : int, default=2
        Number of features.
    n_experts : int, default=3
        Number of regimes.
    noise : float or array-like of shape (n_experts,), default=0.1
        Standard deviation of the noise, one for all regimes or one each.
    gate_sharpness : float, default=3.0
        Scale of the gate's coefficients: larger values give crisper regions
        (0 makes the regime independent of x).
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.
    return_params : bool, default=False
        Also return the true parameters.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples,)
        Targets.
    params : Bunch
        Only when ``return_params`` is True: ``gate_coef`` (n_experts,
        n_features), ``gate_intercept`` (n_experts,), ``coef`` (n_experts,
        n_features), ``intercept`` (n_experts,), ``noise`` (n_experts,),
        ``regime`` (n_samples,) and ``gate_proba`` (n_samples, n_experts), the
        true gate probabilities of each row.

    Examples
    --------
    >>> from skmoe.datasets import make_switching_regression
    >>> X, y, params = make_switching_regression(200, 3, 2, random_state=0,
    ...                                          return_params=True)
    >>> X.shape, y.shape, params.coef.shape
    ((200, 3), (200,), (2, 3))
    """
    rng = check_random_state(random_state)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim > 1 or (noise.ndim == 1 and noise.shape[0] != n_experts):
        raise ValueError(
            f"noise must be a float or an array of length n_experts={n_experts}, got shape "
            f"{noise.shape}."
        )
    noise = np.broadcast_to(noise, (n_experts,)).copy()
    if np.any(noise < 0) or not np.all(np.isfinite(noise)):
        raise ValueError("noise must be finite and non-negative.")

    gate_coef = _gate_coefficients(rng, n_experts, n_features, gate_sharpness)
    gate_intercept = np.zeros(n_experts)
    coef = rng.normal(size=(n_experts, n_features))
    intercept = rng.normal(size=n_experts)

    X = rng.normal(size=(n_samples, n_features))
    gate_proba = _softmax(X @ gate_coef.T + gate_intercept)
    regime = _draw_categories(rng, gate_proba)
    y = (
        np.einsum("ij,ij->i", X, coef[regime])
        + intercept[regime]
        + noise[regime] * rng.normal(size=n_samples)
    )
    if not return_params:
        return X, y
    params = Bunch(
        gate_coef=gate_coef,
        gate_intercept=gate_intercept,
        coef=coef,
        intercept=intercept,
        noise=noise,
        regime=regime,
        gate_proba=gate_proba,
    )
    return X, y, params


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "gate_sharpness": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "return_params": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_gated_classification(
    n_samples=1000,
    n_features=2,
    n_experts=3,
    n_classes=3,
    *,
    gate_sharpness=3.0,
    random_state=None,
    return_params=False,
):
    """Generate gated classification: a softmax gate picks each row's multinomial model.

    ``x ~ N(0, I)``; the regime ``z`` of a row is drawn from
    ``softmax(gate_sharpness * (U x))`` (rows of ``U`` centred random unit
    vectors, as in :func:`make_switching_regression`); then the class is drawn
    from ``softmax(coef[z] x + intercept[z])``, with coefficients drawn from
    N(0, 2^2) and intercepts from N(0, 1).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    n_features : int, default=2
        Number of features.
    n_experts : int, default=3
        Number of regimes.
    n_classes : int, default=3
        Number of classes (labels ``0 .. n_classes - 1``).
    gate_sharpness : float, default=3.0
        Scale of the gate's coefficients: larger values give crisper regions.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.
    return_params : bool, default=False
        Also return the true parameters.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples,)
        Integer class labels.
    params : Bunch
        Only when ``return_params`` is True: ``gate_coef`` (n_experts,
        n_features), ``gate_intercept`` (n_experts,), ``coef`` (n_experts,
        n_classes, n_features), ``intercept`` (n_experts, n_classes),
        ``regime`` (n_samples,), ``gate_proba`` (n_samples, n_experts),
        ``class_proba`` (n_samples, n_classes), the Bayes-optimal class
        probabilities ``p(y | x)`` of each row, and ``bayes_proba``, a function
        that gives them for any X.

    Examples
    --------
    >>> from skmoe.datasets import make_gated_classification
    >>> X, y, params = make_gated_classification(300, 4, 2, 3, random_state=0,
    ...                                          return_params=True)
    >>> X.shape, params.class_proba.shape
    ((300, 4), (300, 3))
    """
    rng = check_random_state(random_state)
    gate_coef = _gate_coefficients(rng, n_experts, n_features, gate_sharpness)
    gate_intercept = np.zeros(n_experts)
    coef = 2.0 * rng.normal(size=(n_experts, n_classes, n_features))
    intercept = rng.normal(size=(n_experts, n_classes))

    def bayes_proba(X):
        """Bayes-optimal ``p(y | x) = sum_k g_k(x) softmax(coef[k] x + intercept[k])``."""
        X = np.asarray(X, dtype=np.float64)
        gate = _softmax(X @ gate_coef.T + gate_intercept)
        expert = _softmax(np.einsum("kcd,nd->nkc", coef, X) + intercept)
        return np.einsum("nk,nkc->nc", gate, expert)

    X = rng.normal(size=(n_samples, n_features))
    gate_proba = _softmax(X @ gate_coef.T + gate_intercept)
    regime = _draw_categories(rng, gate_proba)
    expert_proba = _softmax(np.einsum("ncd,nd->nc", coef[regime], X) + intercept[regime])
    y = _draw_categories(rng, expert_proba)
    if not return_params:
        return X, y
    params = Bunch(
        gate_coef=gate_coef,
        gate_intercept=gate_intercept,
        coef=coef,
        intercept=intercept,
        regime=regime,
        gate_proba=gate_proba,
        class_proba=bayes_proba(X),
        bayes_proba=bayes_proba,
    )
    return X, y, params


def _gate_coefficients(rng, n_experts, n_features, sharpness):
    """Centred random unit directions scaled by ``sharpness``: regions of similar size."""
    directions = rng.normal(size=(n_experts, n_features))
    if n_experts > 1:
        directions -= directions.mean(axis=0)
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    directions /= np.where(norms > 0, norms, 1.0)
    return sharpness * directions


def _softmax(scores):
    scores = scores - scores.max(axis=-1, keepdims=True)
    proba = np.exp(scores)
    return proba / proba.sum(axis=-1, keepdims=True)


def _draw_categories(rng, proba):
    """One category per row of ``proba`` (rows sum to one)."""
    cumulative = np.cumsum(proba, axis=1)
    draws = (rng.uniform(size=(proba.shape[0], 1)) > cumulative).sum(axis=1)
    return np.minimum(draws, proba.shape[1] - 1)
