"""Data with a known mixture-of-experts structure, and the named data sets of the command line.

The generators ``make_*`` draw data with known regimes (ground truth for tests
and examples); :func:`load_dataset` loads a data set by name: the generators
with the command line's settings, or one of scikit-learn's bundled data sets.
"""

from collections.abc import Callable
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._validation import Interval, validate_params

__all__ = [
    "DATASETS",
    "load_dataset",
    "make_gated_classification",
    "make_hierarchical_regression",
    "make_switching_regression",
]


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


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_outer": [Interval(Integral, 1, None, closed="left")],
        "n_inner": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left"), "array-like"],
        "gate_sharpness": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "return_params": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_hierarchical_regression(
    n_samples=1000,
    n_features=2,
    n_outer=2,
    n_inner=2,
    *,
    noise=0.1,
    gate_sharpness=3.0,
    random_state=None,
    return_params=False,
):
    """Generate regression data from a two-level tree of softmax gates over linear experts.

    The hierarchical mixture of experts of Jordan and Jacobs (1994): ``x ~
    N(0, I)``; an outer gate ``softmax(gate_sharpness * (U x))`` draws each
    row's outer regime ``j``; the inner gate of that regime,
    ``softmax(gate_sharpness * (V_j x))``, draws its inner regime ``l``; then
    ``y = x . coef[j, l] + intercept[j, l] + noise[j, l] * e`` with ``e ~
    N(0, 1)``. The rows of ``U`` and of each ``V_j`` are centred random unit
    vectors (as in :func:`make_switching_regression`), drawn independently,
    so that each outer region is split by its own direction. Coefficients and
    intercepts are drawn from N(0, 1).

    A product of two softmax gates is not a softmax gate of the
    ``n_outer * n_inner`` leaves: a flat mixture with that many experts
    cannot represent this model exactly, a mixture of ``n_outer`` mixtures
    of ``n_inner`` experts can.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    n_features : int, default=2
        Number of features.
    n_outer : int, default=2
        Number of outer regimes (outputs of the top gate).
    n_inner : int, default=2
        Number of linear experts under each outer regime.
    noise : float or array-like of shape (n_outer, n_inner), default=0.1
        Standard deviation of the noise, one for all experts or one each.
    gate_sharpness : float, default=3.0
        Scale of every gate's coefficients: larger values give crisper regions
        (0 makes the regimes independent of x).
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
        Only when ``return_params`` is True: ``gate_coef`` (n_outer,
        n_features) and ``gate_intercept`` (n_outer,), the outer gate;
        ``inner_gate_coef`` (n_outer, n_inner, n_features) and
        ``inner_gate_intercept`` (n_outer, n_inner), the inner gates;
        ``coef`` (n_outer, n_inner, n_features), ``intercept`` (n_outer,
        n_inner) and ``noise`` (n_outer, n_inner), the experts; ``regime``
        and ``inner_regime`` (n_samples,), each row's outer and inner
        regime; ``gate_proba`` (n_samples, n_outer) and ``inner_gate_proba``
        (n_samples, n_outer, n_inner), the true gate probabilities of each
        row; and ``log_density``, a function of ``(X, y)`` that gives the
        true ``log p(y | x)`` of each row.

    See Also
    --------
    make_switching_regression : The same with one (flat) gate.

    Examples
    --------
    >>> from skmoe.datasets import make_hierarchical_regression
    >>> X, y, params = make_hierarchical_regression(300, 2, random_state=0,
    ...                                             return_params=True)
    >>> X.shape, params.coef.shape, params.inner_gate_proba.shape
    ((300, 2), (2, 2, 2), (300, 2, 2))
    """
    rng = check_random_state(random_state)
    shape = (n_outer, n_inner)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim not in (0, 2) or (noise.ndim == 2 and noise.shape != shape):
        raise ValueError(
            f"noise must be a float or an array of shape (n_outer, n_inner)={shape}, got shape "
            f"{noise.shape}."
        )
    noise = np.broadcast_to(noise, shape).copy()
    if np.any(noise < 0) or not np.all(np.isfinite(noise)):
        raise ValueError("noise must be finite and non-negative.")

    gate_coef = _gate_coefficients(rng, n_outer, n_features, gate_sharpness)
    gate_intercept = np.zeros(n_outer)
    inner_gate_coef = np.stack([_gate_coefficients(rng, n_inner, n_features, gate_sharpness)
                                for _ in range(n_outer)])
    inner_gate_intercept = np.zeros(shape)
    coef = rng.normal(size=(*shape, n_features))
    intercept = rng.normal(size=shape)

    def gates(X):
        outer = _softmax(X @ gate_coef.T + gate_intercept)
        inner = _softmax(np.einsum("jld,nd->njl", inner_gate_coef, X) + inner_gate_intercept)
        return outer, inner

    def log_density(X, y):
        """The true ``log p(y | x) = log sum_jl g_j(x) g_l|j(x) N(y; mean_jl(x), noise_jl^2)``."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        outer, inner = gates(X)
        means = np.einsum("jld,nd->njl", coef, X) + intercept
        with np.errstate(divide="ignore"):
            log_leaf = (np.log(outer)[:, :, None] + np.log(inner)
                        - 0.5 * ((y[:, None, None] - means) / noise) ** 2
                        - np.log(noise) - 0.5 * np.log(2 * np.pi))
        log_leaf = log_leaf.reshape(X.shape[0], -1)
        top = log_leaf.max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(log_leaf - top).sum(axis=1))

    X = rng.normal(size=(n_samples, n_features))
    gate_proba, inner_gate_proba = gates(X)
    regime = _draw_categories(rng, gate_proba)
    inner_regime = _draw_categories(rng, inner_gate_proba[np.arange(n_samples), regime])
    y = (
        np.einsum("ij,ij->i", X, coef[regime, inner_regime])
        + intercept[regime, inner_regime]
        + noise[regime, inner_regime] * rng.normal(size=n_samples)
    )
    if not return_params:
        return X, y
    params = Bunch(
        gate_coef=gate_coef,
        gate_intercept=gate_intercept,
        inner_gate_coef=inner_gate_coef,
        inner_gate_intercept=inner_gate_intercept,
        coef=coef,
        intercept=intercept,
        noise=noise,
        regime=regime,
        inner_regime=inner_regime,
        gate_proba=gate_proba,
        inner_gate_proba=inner_gate_proba,
        log_density=log_density,
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


# ----------------------------------------------------------------- named data sets
def _switching_regression(n_samples, random_state):
    return make_switching_regression(
        n_samples=n_samples or 2000, n_features=4, n_experts=3, noise=[0.1, 0.5, 1.5],
        gate_sharpness=3.0, random_state=random_state,
    )


def _gated_classification(n_samples, random_state):
    return make_gated_classification(
        n_samples=n_samples or 2000, n_features=4, n_experts=3, n_classes=3,
        gate_sharpness=3.0, random_state=random_state,
    )


def _bundled(loader_name):
    def load(n_samples, random_state):
        from sklearn import datasets

        return getattr(datasets, loader_name)(return_X_y=True)

    return load


class _Entry(NamedTuple):
    load: Callable
    generated: bool
    task: str
    description: str


_REGISTRY = {
    "switching_regression": _Entry(
        _switching_regression, True, "regression",
        "skmoe generator, the default: 3 linear regimes picked by a soft gate, noise sd "
        "0.1/0.5/1.5, 4 features",
    ),
    "gated_classification": _Entry(
        _gated_classification, True, "classification",
        "skmoe generator: 3 multinomial-logistic regimes picked by a soft gate, 3 classes, "
        "4 features",
    ),
    "diabetes": _Entry(_bundled("load_diabetes"), False, "regression",
                       "scikit-learn: disease progression of 442 patients, 10 features"),
    "breast_cancer": _Entry(_bundled("load_breast_cancer"), False, "classification",
                            "scikit-learn: 569 tumours, malignant or benign, 30 features"),
    "wine": _Entry(_bundled("load_wine"), False, "classification",
                   "scikit-learn: 178 wines, 3 cultivars, 13 features"),
    "iris": _Entry(_bundled("load_iris"), False, "classification",
                   "scikit-learn: 150 irises, 3 species, 4 features"),
    "digits": _Entry(_bundled("load_digits"), False, "classification",
                     "scikit-learn: 1797 8x8 images of digits, 10 classes, 64 features (slow)"),
}

#: The data sets :func:`load_dataset` knows, by name: one line saying what each is.
DATASETS = {name: entry.description for name, entry in _REGISTRY.items()}


def _dataset_key(name):
    """The registry key of a name: case, dashes and ``make_``/``load_`` prefixes ignored."""
    key = name.strip().lower().replace("-", "_")
    for prefix in ("make_", "load_"):
        key = key[len(prefix):] if key.startswith(prefix) else key
    if key not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(_REGISTRY)}.")
    return key


@validate_params(
    {
        "name": [str],
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_dataset(name, *, n_samples=None, random_state=0, return_X_y=False):
    """Load a named data set: one of the skmoe generators' or scikit-learn's bundled ones.

    These are the data sets of ``python -m skmoe compare --dataset NAME``
    (listed in :data:`DATASETS`): ``switching_regression`` (the default of
    the command line: :func:`make_switching_regression` with 4 features, 3
    regimes, noise standard deviations 0.1, 0.5 and 1.5 and a gate sharpness
    of 3), ``gated_classification`` (:func:`make_gated_classification` with 4
    features, 3 regimes and 3 classes), and scikit-learn's ``diabetes``,
    ``breast_cancer``, ``wine``, ``iris`` and ``digits``.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`; case, dashes for underscores and the
        prefixes ``make_`` and ``load_`` are accepted (``"load_diabetes"``,
        ``"gated-classification"``).
    n_samples : int, default=None
        Rows of a generated data set; None means 2000. Refused for the
        bundled ones, whose size is fixed.
    random_state : int, RandomState instance or None, default=0
        Seed of the generated data sets (the bundled ones are fixed).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (X, ndarray of shape (n_samples, n_features)),
        ``target`` (y, ndarray of shape (n_samples,)), ``name`` (the
        canonical name), ``task`` (``"regression"`` or ``"classification"``)
        and ``description`` (one line).
    (X, y) : tuple of ndarray
        When ``return_X_y`` is True.

    Raises
    ------
    ValueError
        For an unknown name, or ``n_samples`` with a bundled data set.

    Examples
    --------
    >>> from skmoe.datasets import load_dataset
    >>> data = load_dataset("switching_regression", n_samples=300)
    >>> data.data.shape, data.task
    ((300, 4), 'regression')
    >>> X, y = load_dataset("load_iris", return_X_y=True)
    >>> X.shape
    (150, 4)
    """
    key = _dataset_key(name)
    entry = _REGISTRY[key]
    if n_samples is not None and not entry.generated:
        raise ValueError(
            f"n_samples applies to the generated data sets only, not to {key!r}, whose size "
            "is fixed."
        )
    X, y = entry.load(n_samples, random_state)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, name=key, task=entry.task, description=entry.description)
