"""Scores of a predictive distribution: held-out log-likelihood and CRPS, and their scorers.

A mixture of experts is a conditional density ``p(y | x)``, and the scores that
judge a density are the functions here. Each takes a fitted estimator, not
predictions, so that it can ask the model for the whole distribution:

* :func:`mean_log_likelihood`: the mean of ``log p(y | x)`` (higher is better);
* :func:`crps`: the mean continuous ranked probability score (lower is better).

:func:`log_likelihood_scorer` and :func:`crps_scorer` are the same scores with
the ``scorer(estimator, X, y)`` signature of scikit-learn's scorers (greater is
better: the CRPS scorer returns minus the CRPS), for ``GridSearchCV``,
``cross_validate`` and ``cross_val_score``::

    GridSearchCV(pipeline, grid, scoring=log_likelihood_scorer)

All four accept a :class:`~sklearn.pipeline.Pipeline` whose final step gives
the distribution: X goes through the earlier steps' ``transform``, and the
final step is scored on the result (``Pipeline.score_samples`` takes no y, so a
Pipeline cannot be asked directly). A fitted search (``GridSearchCV``) is
scored through its ``best_estimator_``.
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_consistent_length, column_or_1d

from ._experts import has_own_density
from ._scaling import power_of_two
from ._validation import BaseSearchCV, check_labels, check_sample_weight

__all__ = ["crps", "crps_scorer", "log_likelihood_scorer", "mean_log_likelihood"]


def _final_step(estimator, X):
    """The estimator that gives the distribution, and X transformed to its input."""
    while isinstance(estimator, (Pipeline, BaseSearchCV)):
        if isinstance(estimator, BaseSearchCV):
            if not hasattr(estimator, "best_estimator_"):
                raise TypeError(
                    f"{type(estimator).__name__} has no best_estimator_ (fitted with "
                    "refit=False?); score its best estimator refitted instead."
                )
            estimator = estimator.best_estimator_
            continue
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    return estimator, X


def _mean_weights(sample_weight, X):
    """Weights of the rows in a mean, checked before any work: non-negative, finite,
    not all zero (None stays None)."""
    if sample_weight is None:
        return None
    return check_sample_weight(column_or_1d(sample_weight), X, limit_total=False)


def _weighted_mean(values, sample_weight):
    """The mean of ``values`` with the weights of :func:`_mean_weights`.

    Rows of zero weight are left out (a row's ``-inf`` log-likelihood times 0 is
    NaN), and the weights are taken in units of a power of two near the
    largest, exactly, so that their sum cannot overflow.
    """
    if sample_weight is None:
        return float(np.mean(values))
    check_consistent_length(values, sample_weight)
    used = sample_weight > 0
    weights = sample_weight[used] / power_of_two(float(sample_weight.max()))
    return float(np.average(values[used], weights=weights))


def _true_class_log_proba(classifier, X, y):
    """``log p(y | x)`` of a classifier without its own density: its ``predict_proba``."""
    check_labels(y)
    proba = np.asarray(classifier.predict_proba(X), dtype=np.float64)
    classes = np.asarray(classifier.classes_)
    y = column_or_1d(y)
    check_consistent_length(proba, y)
    column = np.searchsorted(classes, y)
    column = np.minimum(column, classes.shape[0] - 1)
    unknown = classes[column] != y
    if unknown.any():
        raise ValueError(
            f"y holds labels the classifier was not fitted on, such as "
            f"{y[unknown][:1].tolist()[0]!r}; "
            f"its classes_ are {classes.tolist()}."
        )
    with np.errstate(divide="ignore"):
        return np.log(proba[np.arange(y.shape[0]), column])


def mean_log_likelihood(estimator, X, y, *, sample_weight=None):
    """Mean log-likelihood ``log p(y | x)`` of observations under a fitted model.

    The held-out log-likelihood is the natural score of a conditional
    density: it rewards a model for putting its probability where the data
    fall, and compares models of different experts, families or numbers of
    experts on one scale (nats per row; higher is better).

    Parameters
    ----------
    estimator : estimator
        A fitted estimator (or a Pipeline or search ending in one) that either
        defines its own density, a method ``score_samples(X, y)`` returning
        ``log p(y | x)`` per row (:class:`~skmoe.MixtureOfExpertsRegressor`
        and :class:`~skmoe.MixtureOfExpertsClassifier`), or is a classifier
        with ``predict_proba``.
    X : array-like of shape (n_samples, n_features)
        Input data.
    y : array-like of shape (n_samples,)
        Observed targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows in the mean: finite, non-negative, not all zero
        (a ValueError otherwise, before the model is asked).

    Returns
    -------
    score : float
        ``sum_i w_i log p(y_i | x_i) / sum_i w_i``. For a mixture it is the
        mean of its ``score_samples`` (for the classifier: the log of the
        probability the mixture gives the observed class, every expert's
        probability floored at 1e-10, over all experts whatever ``top_k``).
        For another classifier it is the mean log of ``predict_proba`` at the
        observed class, ``-inf`` when a row's class gets probability 0
        (``-sklearn.metrics.log_loss`` clips it instead).

    Raises
    ------
    TypeError
        For a regressor without ``score_samples(X, y)``: a model of the mean
        alone has no likelihood (``skmoe.compare`` gives such models a
        Gaussian plug-in density when it tabulates them).

    See Also
    --------
    log_likelihood_scorer : The same score as a scorer for model selection.
    crps : A score of the predictive distribution in the units of y.

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.metrics import mean_log_likelihood
    >>> X, y = make_switching_regression(400, 2, 2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X[:300], y[:300])
    >>> score = mean_log_likelihood(model, X[300:], y[300:])
    >>> bool(score > mean_log_likelihood(model, X[300:], y[300:] + 1.0))
    True
    """
    sample_weight = _mean_weights(sample_weight, X)
    final, Xt = _final_step(estimator, X)
    if has_own_density(final):
        values = np.asarray(final.score_samples(Xt, y), dtype=np.float64)
    elif is_classifier(final) and hasattr(final, "predict_proba"):
        values = _true_class_log_proba(final, Xt, y)
    else:
        raise TypeError(
            f"mean_log_likelihood needs a model of the density: an estimator with "
            f"score_samples(X, y) (a mixture of experts) or a classifier with predict_proba; "
            f"{type(final).__name__} has neither."
        )
    return _weighted_mean(values, sample_weight)


def crps(estimator, X, y, *, sample_weight=None):
    """Mean continuous ranked probability score (CRPS) of a fitted regressor's distribution.

    ``CRPS(F, y) = integral (F(z | x) - 1{z >= y})^2 dz``, with ``F`` the
    predictive distribution function: the squared distance between the
    forecast distribution and the step at the observation, in the units of y
    (lower is better). It equals the absolute error for a point forecast, so
    a distribution and a point prediction can be compared on it, and, unlike
    the log-likelihood, it stays finite when a confident model misses.

    For a :class:`~skmoe.MixtureOfExpertsRegressor` with Gaussian experts it
    is computed in closed form from pairs of components; for the other
    families by numerical integration (see
    :meth:`MixtureOfExpertsRegressor.crps_samples
    <skmoe.MixtureOfExpertsRegressor.crps_samples>`).

    Parameters
    ----------
    estimator : estimator
        A fitted regressor (or a Pipeline or search ending in one) with a
        method ``crps_samples(X, y)`` giving the score of each row, such as
        :class:`~skmoe.MixtureOfExpertsRegressor`.
    X : array-like of shape (n_samples, n_features)
        Input data.
    y : array-like of shape (n_samples,)
        Observed targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows in the mean: finite, non-negative, not all zero
        (a ValueError otherwise, before the model is asked).

    Returns
    -------
    score : float
        The weighted mean CRPS over the rows.

    Raises
    ------
    TypeError
        For a classifier: the CRPS scores a distribution over real values,
        and class labels have no order. Use :func:`mean_log_likelihood` (the
        log loss) or the Brier score. Also for a regressor without
        ``crps_samples``.

    See Also
    --------
    crps_scorer : Minus this score, as a scorer for model selection.
    mean_log_likelihood : The log-likelihood of the same distribution.

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.metrics import crps
    >>> X, y = make_switching_regression(400, 2, 2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X[:300], y[:300])
    >>> bool(0 < crps(model, X[300:], y[300:]) < crps(model, X[300:], y[300:] + 1.0))
    True
    """
    sample_weight = _mean_weights(sample_weight, X)
    final, Xt = _final_step(estimator, X)
    if is_classifier(final):
        raise TypeError(
            f"crps scores a predictive distribution over real values; {type(final).__name__} "
            "is a classifier, whose labels have no order. Use mean_log_likelihood (the log "
            "loss) or the Brier score for probabilities of classes."
        )
    if not callable(getattr(final, "crps_samples", None)):
        raise TypeError(
            f"crps needs the predictive distribution of the model: a method "
            f"crps_samples(X, y), as MixtureOfExpertsRegressor has; {type(final).__name__} "
            "has none."
        )
    values = np.asarray(final.crps_samples(Xt, y), dtype=np.float64)
    return _weighted_mean(values, sample_weight)


def log_likelihood_scorer(estimator, X, y, sample_weight=None):
    """Scorer of the held-out mean log-likelihood, for model selection.

    The ``scorer(estimator, X, y)`` form of :func:`mean_log_likelihood`, to
    pass as ``scoring`` to ``GridSearchCV``, ``RandomizedSearchCV``,
    ``cross_validate`` or ``cross_val_score`` (alone or in a dict of
    scorers). Greater is better. It scores a mixture at the end of a
    Pipeline, which ``Pipeline.score_samples`` cannot.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator, as for :func:`mean_log_likelihood`.
    X : array-like of shape (n_samples, n_features)
        Held-out input data.
    y : array-like of shape (n_samples,)
        Held-out targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows in the mean: finite, non-negative, not all zero
        (a ValueError otherwise, before the model is asked).

    Returns
    -------
    score : float
        The mean log-likelihood.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.metrics import log_likelihood_scorer
    >>> X, y = make_switching_regression(300, 2, 2, random_state=0)
    >>> pipeline = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0))
    >>> search = GridSearchCV(pipeline, {"mixtureofexpertsregressor__n_experts": [1, 2]},
    ...                       scoring=log_likelihood_scorer, cv=3).fit(X, y)
    >>> search.best_params_
    {'mixtureofexpertsregressor__n_experts': 2}
    """
    return mean_log_likelihood(estimator, X, y, sample_weight=sample_weight)


def crps_scorer(estimator, X, y, sample_weight=None):
    """Scorer of minus the mean CRPS, for model selection.

    The ``scorer(estimator, X, y)`` form of :func:`crps`, negated so that
    greater is better (as scikit-learn's ``neg_mean_absolute_error``), to pass
    as ``scoring`` to ``GridSearchCV``, ``cross_validate`` or
    ``cross_val_score``. It scores a mixture at the end of a Pipeline.

    Parameters
    ----------
    estimator : estimator
        A fitted regressor, as for :func:`crps`.
    X : array-like of shape (n_samples, n_features)
        Held-out input data.
    y : array-like of shape (n_samples,)
        Held-out targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows in the mean: finite, non-negative, not all zero
        (a ValueError otherwise, before the model is asked).

    Returns
    -------
    score : float
        Minus the mean CRPS (at most 0).

    Raises
    ------
    TypeError
        For a classifier, as :func:`crps`.
    """
    return -crps(estimator, X, y, sample_weight=sample_weight)
