"""The scores :func:`skmoe.compare.compare` computes, as one scikit-learn scorer per task.

:func:`make_scorer` returns a callable ``scorer(estimator, X, y) -> {name: value}``,
which :func:`sklearn.model_selection.cross_validate` takes as ``scoring``: each
test fold is predicted once and every score computed from those predictions
with scikit-learn's metrics. A score that is not defined for a model or a fold
(log-loss without ``predict_proba``, ROC-AUC on a fold missing a class) is NaN.

The regression log-likelihood is :func:`skmoe.metrics.log_likelihood_scorer`,
the scorer :func:`skmoe.inspection.select_n_experts` uses too; models without a
density of their own are given one by :mod:`skmoe._density` first.
"""

import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    max_error,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from .metrics import log_likelihood_scorer

__all__ = ["SCORES", "make_scorer"]

#: Every score :func:`skmoe.compare.compare` computes: name -> (task, label, greater_is_better).
SCORES = {
    "r2": ("regression", "R²", True),
    "rmse": ("regression", "RMSE", False),
    "mae": ("regression", "MAE", False),
    "max_error": ("regression", "largest absolute error", False),
    "log_likelihood": ("both", "held-out mean log-likelihood", True),
    "accuracy": ("classification", "accuracy", True),
    "balanced_accuracy": ("classification", "balanced accuracy", True),
    "log_loss": ("classification", "log-loss", False),
    "brier": ("classification", "Brier score", False),
    "roc_auc": ("classification", "ROC-AUC", True),
}

_REGRESSION_METRICS = {
    "r2": r2_score,
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    "max_error": max_error,
}


def make_scorer(scoring, task, classes=None):
    """One scorer computing every score of ``scoring`` from one prediction of the fold.

    Parameters
    ----------
    scoring : list of str
        Names of :data:`SCORES` for ``task``.
    task : {"regression", "classification"}
        The task.
    classes : ndarray, default=None
        Every class of the whole target (classification): probabilities are
        laid out on these columns, whatever classes a training fold held.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning a dict of score name to float.
    """
    if task == "regression":
        return _RegressionScorer(list(scoring))
    return _ClassificationScorer(list(scoring), np.asarray(classes))


class _RegressionScorer:
    def __init__(self, scoring):
        self.scoring = scoring

    def __call__(self, estimator, X, y):
        predicted = np.reshape(estimator.predict(X), -1)
        scores = {}
        for name in self.scoring:
            if name == "log_likelihood":
                scores[name] = log_likelihood_scorer(estimator, X, y)
            else:
                scores[name] = float(_REGRESSION_METRICS[name](y, predicted))
        return scores


class _ClassificationScorer:
    def __init__(self, scoring, classes):
        self.scoring = scoring
        self.classes = classes

    def __call__(self, estimator, X, y):
        classes = self.classes
        predicted = estimator.predict(X)
        proba = _aligned_proba(estimator, X, classes)
        decision = None
        if proba is None and "roc_auc" in self.scoring and hasattr(estimator, "decision_function"):
            decision = np.asarray(estimator.decision_function(X), dtype=np.float64)
        scores = {}
        for name in self.scoring:
            if name == "accuracy":
                scores[name] = accuracy_score(y, predicted)
            elif name == "balanced_accuracy":
                with warnings.catch_warnings():
                    # A class predicted but absent from the fold: the score stays defined.
                    warnings.simplefilter("ignore")
                    scores[name] = balanced_accuracy_score(y, predicted)
            elif name in ("log_loss", "log_likelihood"):
                value = np.nan if proba is None else log_loss(y, proba, labels=classes)
                scores[name] = value if name == "log_loss" else -value
            elif name == "brier":
                if proba is None:
                    scores[name] = np.nan
                elif classes.shape[0] == 2:
                    scores[name] = brier_score_loss(y == classes[1], proba[:, 1])
                else:
                    scores[name] = brier_score_loss(y, proba, labels=classes)
            elif name == "roc_auc":
                scores[name] = _roc_auc(y, proba, decision, classes)
        return {name: float(value) for name, value in scores.items()}


def _aligned_proba(estimator, X, classes):
    """``predict_proba`` on the columns of ``classes`` (None without it)."""
    if not hasattr(estimator, "predict_proba"):
        return None
    own = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    proba = np.zeros((own.shape[0], classes.shape[0]))
    # A sum of products of probabilities can exceed 1 by a rounding error, which
    # scikit-learn's log_loss refuses.
    proba[:, np.searchsorted(classes, estimator.classes_)] = np.clip(own, 0.0, 1.0)
    return proba


def _roc_auc(y, proba, decision, classes):
    if np.unique(y).shape[0] < classes.shape[0]:
        return np.nan  # a class absent from this test fold: AUC is not defined
    try:
        if classes.shape[0] == 2:
            scores = proba[:, 1] if proba is not None else decision
            return np.nan if scores is None else roc_auc_score(y == classes[1], scores)
        if proba is None:
            return np.nan
        return roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    except ValueError:
        return np.nan
