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

    directions = rng.normal(size=(n_experts, n_features))
    if n_experts > 1:
        directions -= directions.mean(axis=0)
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    directions /= np.where(norms > 0, norms, 1.0)
    gate_coef = gate_sharpness * directions
    gate_intercept = np.zeros(n_experts)
    coef = rng.normal(size=(n_experts, n_features))
    intercept = rng.normal(size=n_experts)

    X = rng.normal(size=(n_samples, n_features))
    scores = X @ gate_coef.T + gate_intercept
    gate_proba = np.exp(scores - scores.max(axis=1, keepdims=True))
    gate_proba /= gate_proba.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(gate_proba, axis=1)
    regime = np.minimum((rng.uniform(size=(n_samples, 1)) > cumulative).sum(axis=1),
                        n_experts - 1)
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
