"""Cross-validated comparison of mixtures of experts with the ensembles people already use.

:func:`compare` fits every estimator on the same cross-validation folds and
returns one row per estimator: the mean and standard deviation of each score,
the mean fit and predict seconds and the estimator's family (single model,
bagging, boosting, stacking, mixture of experts). :func:`default_baselines`
gives the estimators it compares by default, and :func:`verdicts` turns a
result table into one line per family.

Every regression row has a held-out mean log-likelihood, so that a model of the
whole conditional density (a mixture of experts) can be told from a model of the
mean alone even where R² cannot separate them:

* an estimator with its own density, a method ``score_samples(X, y)`` returning
  ``log p(y | x)`` per row (a mixture of experts), is scored by it, through
  :func:`skmoe.metrics.mean_log_likelihood` (which looks through Pipelines and
  searches);
* an estimator whose ``predict`` takes ``return_std=True`` (Bayesian ridge,
  Gaussian processes) by a Gaussian with that standard deviation;
* any other regressor by a Gaussian around its predictions whose variance is
  the mean squared residual on the training fold: by default out of fold
  (``residual_variance="cv"``, an inner 3-fold split of the training fold), since
  in-sample residuals of a forest or a deep tree are far smaller than its error
  on new rows and would make its density falsely confident.

For classifiers the held-out log-likelihood is ``-log_loss``, the mean log of
the probability given to the true class.
"""

import inspect
import time
import warnings
from contextlib import contextmanager
from numbers import Integral

import numba
import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
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
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_array, column_or_1d
from threadpoolctl import threadpool_limits

from ._base import BaseMixtureOfExperts
from ._classifier import MixtureOfExpertsClassifier
from ._experts import has_own_density
from ._regressor import MixtureOfExpertsRegressor
from ._validation import BaseSearchCV, HasMethods, Interval, StrOptions, validate_params
from ._warmup import warm_up
from .metrics import mean_log_likelihood

__all__ = [
    "FAMILIES",
    "SCORES",
    "check_target",
    "compare",
    "default_baselines",
    "estimator_family",
    "verdicts",
]

#: The estimator families, in the order the verdicts name them when tied.
FAMILIES = ("mixture of experts", "boosting", "bagging", "stacking", "single model")

#: Every score :func:`compare` computes: name -> (task, label, greater_is_better).
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

_DEFAULT_SCORING = {
    "regression": ("r2", "rmse", "log_likelihood"),
    "classification": ("accuracy", "log_loss", "brier", "roc_auc"),
}

# A target with at most this many distinct integer values is taken for class labels.
_MAX_CLASSES_AUTO = 20
_INNER_SPLITS = 3
_PLUG_IN_LABEL = {
    "cv": "Gaussian, out-of-fold residuals",
    "train": "Gaussian, in-sample residuals",
}


# --------------------------------------------------------------------- baselines
# EM settings of the default mixtures: see default_baselines for why.
_EM = {"n_init": 1, "max_iter": 50, "tol": 1e-4}


def _scaled(estimator):
    return make_pipeline(StandardScaler(), estimator)


@validate_params(
    {
        "task": [StrOptions({"regression", "classification"})],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def default_baselines(task, *, n_experts=3, random_state=0):
    """The estimators :func:`compare` fits when it is given none.

    Every family a practitioner would try first, with scikit-learn's usual
    settings, beside two mixtures of experts:

    ============================  ==================  ===============================
    name                          family              estimator
    ============================  ==================  ===============================
    ``linear``                    single model        standardised least squares
                                                      (logistic regression)
    ``tree``                      single model        decision tree,
                                                      ``min_samples_leaf=5``
    ``bagged_trees``              bagging             50 bagged full-depth trees
    ``bagged_linear``             bagging             10 bagged linear models
    ``random_forest``             bagging             random forest, 100 trees
    ``adaboost``                  boosting            AdaBoost (its default trees)
    ``gradient_boosting``         boosting            gradient boosting, 100 trees
    ``hist_gradient_boosting``    boosting            histogram gradient boosting
    ``stacking``                  stacking            linear + tree + 10-NN, linear
                                                      final estimator
    ``moe_linear``                mixture of experts  ``n_experts`` standardised
                                                      linear (logistic) experts
    ``moe_trees``                 mixture of experts  ``n_experts`` trees of depth 3
    ============================  ==================  ===============================

    ``n_experts=3`` is the estimators' own default: few enough experts that
    each still sees hundreds of rows in a training fold of a thousand, enough
    for two or three regimes. The tree experts are shallow because the gate
    already splits the input space; deep trees would each fit all the rows.
    The mixtures run one EM start (``n_init=1``) of at most 50 iterations,
    stopping when the per-sample log-likelihood changes by less than 1e-4:
    on the data sets tried (the skmoe generators, diabetes, breast cancer)
    more starts, more iterations or a tighter tolerance changed the scores by
    less than their fold-to-fold spread and took two to four times longer.

    Parameters
    ----------
    task : {"regression", "classification"}
        Which kind of estimators to return.
    n_experts : int, default=3
        Number of experts of the two mixtures.
    random_state : int, RandomState instance or None, default=0
        Seeds every estimator that has a ``random_state``; an int makes the
        comparison reproducible.

    Returns
    -------
    estimators : dict of str to estimator
        Unfitted estimators by name, in the order of the table above.

    Examples
    --------
    >>> from skmoe.compare import default_baselines
    >>> sorted(default_baselines("regression"))[:3]
    ['adaboost', 'bagged_linear', 'bagged_trees']
    """
    rng = check_random_state(random_state)

    def seed():
        return int(rng.randint(np.iinfo(np.int32).max))

    if task == "regression":
        linear = _scaled(LinearRegression())
        estimators = {
            "linear": linear,
            "tree": DecisionTreeRegressor(min_samples_leaf=5, random_state=seed()),
            "bagged_trees": BaggingRegressor(
                DecisionTreeRegressor(), n_estimators=50, random_state=seed()
            ),
            "bagged_linear": BaggingRegressor(
                _scaled(LinearRegression()), n_estimators=10, random_state=seed()
            ),
            "random_forest": RandomForestRegressor(n_estimators=100, random_state=seed()),
            "adaboost": AdaBoostRegressor(random_state=seed()),
            "gradient_boosting": GradientBoostingRegressor(random_state=seed()),
            "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed()),
            "stacking": StackingRegressor(
                [
                    ("linear", _scaled(LinearRegression())),
                    ("tree", DecisionTreeRegressor(min_samples_leaf=5, random_state=seed())),
                    ("knn", _scaled(KNeighborsRegressor(n_neighbors=10))),
                ],
                final_estimator=RidgeCV(),
            ),
            "moe_linear": _scaled(
                MixtureOfExpertsRegressor(n_experts=n_experts, **_EM, random_state=seed())
            ),
            "moe_trees": MixtureOfExpertsRegressor(
                DecisionTreeRegressor(max_depth=3), n_experts=n_experts, **_EM,
                random_state=seed(),
            ),
        }
        return estimators

    logistic = LogisticRegression(max_iter=1000)
    return {
        "linear": _scaled(clone(logistic)),
        "tree": DecisionTreeClassifier(min_samples_leaf=5, random_state=seed()),
        "bagged_trees": BaggingClassifier(
            DecisionTreeClassifier(), n_estimators=50, random_state=seed()
        ),
        "bagged_linear": BaggingClassifier(
            _scaled(clone(logistic)), n_estimators=10, random_state=seed()
        ),
        "random_forest": RandomForestClassifier(n_estimators=100, random_state=seed()),
        "adaboost": AdaBoostClassifier(random_state=seed()),
        "gradient_boosting": GradientBoostingClassifier(random_state=seed()),
        "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed()),
        "stacking": StackingClassifier(
            [
                ("linear", _scaled(clone(logistic))),
                ("tree", DecisionTreeClassifier(min_samples_leaf=5, random_state=seed())),
                ("knn", _scaled(KNeighborsClassifier(n_neighbors=10))),
            ],
            final_estimator=clone(logistic),
        ),
        "moe_linear": _scaled(
            MixtureOfExpertsClassifier(
                clone(logistic), n_experts=n_experts, **_EM, random_state=seed()
            )
        ),
        "moe_trees": MixtureOfExpertsClassifier(
            DecisionTreeClassifier(max_depth=3), n_experts=n_experts, **_EM,
            random_state=seed(),
        ),
    }


def _final_step(estimator):
    """The estimator at the end of (nested) Pipelines and hyper-parameter searches."""
    while True:
        if isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        elif isinstance(estimator, BaseSearchCV):
            estimator = getattr(estimator, "best_estimator_", estimator.estimator)
        else:
            return estimator


_FAMILY_TYPES = (
    ("mixture of experts", (BaseMixtureOfExperts,)),
    ("stacking", (StackingClassifier, StackingRegressor, VotingClassifier, VotingRegressor)),
    (
        "boosting",
        (
            AdaBoostClassifier, AdaBoostRegressor, GradientBoostingClassifier,
            GradientBoostingRegressor, HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
        ),
    ),
    (
        "bagging",
        (
            BaggingClassifier, BaggingRegressor, RandomForestClassifier,
            RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor,
        ),
    ),
)


def estimator_family(estimator):
    """The family an estimator belongs to, looking through Pipelines and searches.

    A hyper-parameter search (``GridSearchCV``, ``RandomizedSearchCV``, ...)
    belongs to the family of the estimator it tunes.

    Parameters
    ----------
    estimator : estimator
        Fitted or not.

    Returns
    -------
    family : str
        One of :data:`FAMILIES`: ``"mixture of experts"`` (skmoe's estimators),
        ``"stacking"`` (stacking and voting), ``"boosting"`` (AdaBoost and
        gradient boosting), ``"bagging"`` (bagging, random forests, extra
        trees) or ``"single model"`` (anything else).

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from skmoe.compare import estimator_family
    >>> estimator_family(RandomForestRegressor())
    'bagging'
    """
    final = _final_step(estimator)
    for family, types in _FAMILY_TYPES:
        if isinstance(final, types):
            return family
    return "single model"


# ------------------------------------------------------------------- validation
def _check_X(X):
    """X as a float64 array, naming non-numeric DataFrame columns."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):
        bad = [str(name) for name, dtype in dtypes.items()
               if not (pd.api.types.is_numeric_dtype(dtype)
                       or pd.api.types.is_bool_dtype(dtype))]
        if bad:
            raise ValueError(
                f"X has non-numeric columns {bad}; encode them as numbers (e.g. with "
                "sklearn.preprocessing.OneHotEncoder) or drop them before comparing."
            )
    return check_array(X, dtype=np.float64, input_name="X", ensure_min_samples=2)


def _resolve_task(task, y):
    """The task given, or the one the target implies."""
    if task != "auto":
        return task
    kind = y.dtype.kind
    if kind in "OSUb" or isinstance(y.dtype, pd.CategoricalDtype):
        return "classification"
    if kind == "f" and not np.all(np.mod(y, 1) == 0):
        return "regression"
    return "classification" if np.unique(y).shape[0] <= _MAX_CLASSES_AUTO else "regression"


def _plain(value):
    """A NumPy scalar as the Python value it holds, for error messages."""
    return value.item() if isinstance(value, np.generic) else value


def check_target(y, task="auto", n_samples=None):
    """Validate a target and settle the task it is for.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The target.
    task : {"auto", "regression", "classification"}, default="auto"
        ``"auto"`` reads it from the target: labels that are strings,
        booleans or categories, or at most 20 distinct integer values, mean
        classification; any other numbers mean regression.
    n_samples : int, default=None
        The number of rows of X, checked against y when given.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        The target (float64 for regression).
    task : {"regression", "classification"}
        The task.

    Examples
    --------
    >>> from skmoe.compare import check_target
    >>> check_target([0.5, 1.5, 2.25])[1], check_target(["a", "b", "a"])[1]
    ('regression', 'classification')
    """
    if task not in ("auto", "regression", "classification"):
        raise ValueError(
            f"task must be 'auto', 'regression' or 'classification', got {task!r}."
        )
    y = column_or_1d(np.asarray(y), warn=True)
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have different numbers of rows: X has {n_samples}, y has {y.shape[0]}."
        )
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity; drop or fill those rows first.")
    if y.dtype.kind == "O" and pd.isna(y).any():
        raise ValueError("y contains missing values; drop or fill those rows first.")
    task = _resolve_task(task, y)
    if task == "regression":
        if y.dtype.kind not in "iufb":
            raise ValueError(
                f"task='regression' needs a numeric target, got values of dtype {y.dtype}."
            )
        y = y.astype(np.float64)
    else:
        if type_of_target(y) == "continuous":
            raise ValueError(
                "task='classification' needs class labels, got continuous values in y; use "
                "task='regression'."
            )
    if np.unique(y).shape[0] < 2:
        raise ValueError(
            f"y has a single value ({_plain(y[0])!r}): there is nothing to predict or compare."
        )
    return y, task


def _check_scoring(scoring, task):
    if scoring is None:
        return list(_DEFAULT_SCORING[task])
    names = [scoring] if isinstance(scoring, str) else list(scoring)
    if not names:
        raise ValueError("scoring must name at least one score.")
    valid = [name for name, (kind, _, _) in SCORES.items() if kind in (task, "both")]
    for name in names:
        if name not in valid:
            raise ValueError(
                f"scoring contains {name!r}, which is not a {task} score; choose from "
                f"{valid}."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"scoring names a score twice: {names}.")
    return names


def _check_estimators(estimators, task, random_state):
    if estimators is None:
        return default_baselines(task, random_state=random_state)
    if isinstance(estimators, dict):
        items = list(estimators.items())
    elif hasattr(estimators, "fit"):
        raise TypeError(
            "estimators must be a dict of name -> estimator or a list of estimators or of "
            f"(name, estimator) pairs, got one estimator ({type(estimators).__name__}); wrap "
            "it in a list."
        )
    else:
        items = []
        counts = {}
        for entry in estimators:
            if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
                items.append(entry)
            else:
                base = type(_final_step(entry)).__name__
                counts[base] = counts.get(base, 0) + 1
                items.append((base if counts[base] == 1 else f"{base}_{counts[base]}", entry))
    if not items:
        raise ValueError("estimators is empty: give at least one estimator to compare.")
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"estimators has repeated names: {names}.")
    for name, estimator in items:
        if not isinstance(name, str):
            raise TypeError(f"estimator names must be strings, got {name!r}.")
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")
                and hasattr(estimator, "get_params")):
            raise TypeError(
                f"estimators[{name!r}] ({type(estimator).__name__}) is not a scikit-learn "
                "estimator with fit, predict and get_params."
            )
        if task == "classification" and not is_classifier(estimator):
            raise TypeError(
                f"estimators[{name!r}] ({type(estimator).__name__}) is not a classifier, "
                "but the task is classification."
            )
        if task == "regression" and is_classifier(estimator):
            raise TypeError(
                f"estimators[{name!r}] ({type(estimator).__name__}) is a classifier, but the "
                "task is regression."
            )
    return dict(items)


# ---------------------------------------------------------------------- scoring
def _has_own_density(estimator):
    """Whether the (final step of the) estimator defines ``score_samples(X, y)``."""
    return has_own_density(_final_step(estimator))


def _has_predictive_std(estimator):
    method = getattr(_final_step(estimator), "predict", None)
    try:
        return method is not None and "return_std" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def _gaussian_log_likelihood(y, mean, variance):
    """Mean log-density of y under Gaussians around the predictions."""
    return float(np.mean(-0.5 * (np.log(2.0 * np.pi * variance) + (y - mean) ** 2 / variance)))


def _plug_in_variance(estimator, fitted, X, y, residual_variance, seed):
    """Mean squared residual on the training fold: out of fold, or in sample."""
    if residual_variance == "cv" and X.shape[0] >= 2 * _INNER_SPLITS:
        inner = KFold(_INNER_SPLITS, shuffle=True, random_state=seed)
        predicted = cross_val_predict(clone(estimator), X, y, cv=inner)
    else:
        predicted = fitted.predict(X)
    variance = float(np.mean((y - np.reshape(predicted, -1)) ** 2))
    # A model that interpolates its rows must not get an infinite density.
    return max(variance, 1e-12 * max(float(np.var(y)), 1e-300))


def _class_scores(fitted, X, classes):
    """Probabilities on the columns of ``classes`` (or None), and a ranking score for AUC."""
    proba = decision = None
    if hasattr(fitted, "predict_proba"):
        own = np.asarray(fitted.predict_proba(X), dtype=np.float64)
        proba = np.zeros((X.shape[0], classes.shape[0]))
        # A sum of products of probabilities can exceed 1 by a rounding error, which
        # scikit-learn's log_loss refuses.
        proba[:, np.searchsorted(classes, fitted.classes_)] = np.clip(own, 0.0, 1.0)
    elif hasattr(fitted, "decision_function"):
        decision = np.asarray(fitted.decision_function(X), dtype=np.float64)
    return proba, decision


def _roc_auc(y, proba, decision, classes):
    present = np.unique(y)
    if present.shape[0] < classes.shape[0]:
        return np.nan  # a class absent from this test fold: AUC is not defined
    try:
        if classes.shape[0] == 2:
            scores = proba[:, 1] if proba is not None else decision
            return roc_auc_score(y == classes[1], scores)
        if proba is None:
            return np.nan
        return roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    except ValueError:
        return np.nan


def _classification_scores(names, y, predicted, proba, decision, classes):
    scores = {}
    for name in names:
        if name == "accuracy":
            scores[name] = accuracy_score(y, predicted)
        elif name == "balanced_accuracy":
            with warnings.catch_warnings():
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
    return scores


def _regression_scores(names, y, predicted, log_likelihood):
    scores = {}
    for name in names:
        if name == "r2":
            scores[name] = r2_score(y, predicted)
        elif name == "rmse":
            scores[name] = root_mean_squared_error(y, predicted)
        elif name == "mae":
            scores[name] = mean_absolute_error(y, predicted)
        elif name == "max_error":
            scores[name] = max_error(y, predicted)
        elif name == "log_likelihood":
            scores[name] = log_likelihood
    return scores


@contextmanager
def _one_thread():
    """One BLAS/OpenMP thread and one Numba thread for what runs inside.

    Numba's OpenMP threading layer spins at its barriers: on a loaded machine a
    mixture's E-step with two threads has made whole fits 10 to 50 times slower
    than with one. One thread per fit also makes the fit times comparable.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(previous)


def _fit_and_score(name, estimator, X, y, train, test, fold, task, classes, scoring,
                   residual_variance, seed):
    """Fit a clone on one training fold and score it on the test fold."""
    fitted = clone(estimator)
    X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    density = None
    # Numba's kernels compiled or loaded here, in this worker, never inside a timed fit.
    warm_up()
    with warnings.catch_warnings(record=True) as caught, _one_thread():
        warnings.simplefilter("always")
        try:
            tic = time.perf_counter()
            fitted.fit(X_train, y_train)
            fit_time = time.perf_counter() - tic
            tic = time.perf_counter()
            predicted = fitted.predict(X_test)
            if task == "classification":
                proba, decision = _class_scores(fitted, X_test, classes)
            elif "log_likelihood" in scoring and _has_own_density(fitted):
                log_likelihood = mean_log_likelihood(fitted, X_test, y_test)
                density = "model"
            elif "log_likelihood" in scoring and _has_predictive_std(fitted):
                std = np.reshape(fitted.predict(X_test, return_std=True)[1], -1)
                variance = np.maximum(std**2, 1e-300)
                log_likelihood = _gaussian_log_likelihood(y_test, predicted, variance)
                density = "predictive std"
            predict_time = time.perf_counter() - tic
            if task == "regression" and "log_likelihood" in scoring and density is None:
                variance = _plug_in_variance(estimator, fitted, X_train, y_train,
                                             residual_variance, seed)
                log_likelihood = _gaussian_log_likelihood(y_test, predicted, variance)
                density = _PLUG_IN_LABEL[residual_variance]
            if task == "classification":
                scores = _classification_scores(scoring, y_test, predicted, proba, decision,
                                                classes)
            else:
                scores = _regression_scores(scoring, y_test, np.reshape(predicted, -1),
                                            log_likelihood if density else None)
        except Exception as exc:
            raise RuntimeError(
                f"Estimator {name!r} failed on fold {fold}: {type(exc).__name__}: {exc}"
            ) from exc
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    return {
        "name": name, "fold": fold, "scores": scores, "fit_time": fit_time,
        "predict_time": predict_time, "density": density, "warnings": messages,
    }


def _splits(cv, X, y, task, random_state):
    if isinstance(cv, Integral):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds, got cv={cv}.")
        if cv > X.shape[0]:
            raise ValueError(
                f"cv={cv} folds need at least {cv} rows, got n_samples={X.shape[0]}."
            )
        if task == "classification":
            splitter = StratifiedKFold(cv, shuffle=True, random_state=random_state)
        else:
            splitter = KFold(cv, shuffle=True, random_state=random_state)
    else:
        splitter = check_cv(cv, y, classifier=task == "classification")
    with warnings.catch_warnings():
        # StratifiedKFold warns when a class has fewer rows than folds; the folds stay valid.
        warnings.filterwarnings("ignore", message="The least populated class",
                                category=UserWarning)
        splits = [(np.asarray(train), np.asarray(test)) for train, test in splitter.split(X, y)]
    if not splits:
        raise ValueError("cv produced no train/test split.")
    return splits


# ---------------------------------------------------------------------- compare
@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "estimators": [None, dict, list, tuple, HasMethods(["fit", "predict"])],
        "cv": [Interval(Integral, 2, None, closed="left"), "cv_object"],
        "scoring": [None, str, list, tuple],
        "n_jobs": [None, Integral],
        "random_state": ["random_state"],
        "task": [StrOptions({"auto", "regression", "classification"})],
        "residual_variance": [StrOptions({"cv", "train"})],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=False,
)
def compare(X, y, estimators=None, cv=5, scoring=None, n_jobs=None, random_state=0, *,
            task="auto", residual_variance="cv", progress=False):
    """Cross-validate estimators on the same folds and tabulate their scores.

    Each estimator is cloned and fitted on every training fold and scored on
    the matching test fold; all estimators see exactly the same folds, so their
    per-fold scores can be compared pairwise (:func:`verdicts` does). Each fit
    runs with one BLAS, OpenMP and Numba thread, so that fit times compare like
    with like and nested threads do not oversubscribe the cores; ``n_jobs``
    runs the (estimator, fold) pairs in parallel instead.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric inputs (a DataFrame with non-numeric columns is refused with
        the names of those columns).
    y : array-like of shape (n_samples,)
        Target: numbers for regression, labels for classification.
    estimators : dict, list or None, default=None
        The estimators to compare: a dict of name to estimator, a list of
        ``(name, estimator)`` pairs, or a list of estimators (named after their
        class). None means :func:`default_baselines` for the task, seeded with
        ``random_state``.
    cv : int, cross-validation generator or iterable, default=5
        An int gives that many shuffled folds (``StratifiedKFold`` for
        classification, ``KFold`` for regression) seeded with
        ``random_state``; anything else is used as scikit-learn's ``cv``
        parameter is. The splits are drawn once and used for every estimator.
    scoring : str or list of str, default=None
        Scores to compute, the first being the primary one that sorts the
        table. None means ``["r2", "rmse", "log_likelihood"]`` for regression
        and ``["accuracy", "log_loss", "brier", "roc_auc"]`` for
        classification. All names are in :data:`SCORES`. Scores that are not
        defined for a model or a fold (log-loss without ``predict_proba``,
        ROC-AUC on a fold missing a class) are NaN and left out of the mean.
    n_jobs : int, default=None
        Number of joblib workers over the (estimator, fold) pairs. None means
        1 unless in a :obj:`joblib.parallel_backend` context; -1 means all
        processors.
    random_state : int, RandomState instance or None, default=0
        Seeds the folds (when ``cv`` is an int), the default estimators and
        the inner split behind ``residual_variance="cv"``.
    task : {"auto", "regression", "classification"}, default="auto"
        ``"auto"`` reads it from the target: labels that are strings, booleans
        or categories, or at most 20 distinct integer values, mean
        classification; any other numbers mean regression.
    residual_variance : {"cv", "train"}, default="cv"
        For regressors without a density of their own, the variance of the
        Gaussian that gives their held-out log-likelihood: the mean squared
        out-of-fold residual of an inner 3-fold split of the training fold
        (``"cv"``, three extra fits per fold, not counted in the fit time), or
        the in-sample mean squared residual of the fitted model (``"train"``,
        overconfident for forests and deep trees).
    progress : bool, default=False
        Show a progress bar (tqdm) over folds x estimators on stderr.

    Returns
    -------
    results : pandas.DataFrame
        One row per estimator, indexed by name and sorted by the primary
        score (best first). Columns: ``family``; ``<score>_mean`` and
        ``<score>_std`` (sample standard deviation over the folds) for each
        score; ``fit_time`` and ``predict_time``, mean seconds per fold; for
        regression with the log-likelihood, ``density``, where that score
        comes from (``"model"``, ``"predictive std"`` or a Gaussian around the
        predictions). ``results.attrs`` holds ``task``, ``primary``,
        ``scoring``, ``greater_is_better``, ``n_splits``, ``n_samples``,
        ``fold_scores`` (``{name: {score: [one value per fold]}}``) and
        ``warnings`` (``{name: [distinct warning messages]}``): warnings
        raised inside the fits are recorded there rather than repeated once
        per fold.

    See Also
    --------
    default_baselines : The estimators compared by default.
    verdicts : One line per family from the returned table.
    skmoe.plotting.ComparisonDisplay : Score against fit time, one point per estimator.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from skmoe.compare import compare
    >>> from skmoe.datasets import make_switching_regression
    >>> X, y = make_switching_regression(n_samples=300, random_state=0)
    >>> results = compare(X, y, {"linear": LinearRegression(),
    ...                          "tree": DecisionTreeRegressor(random_state=0)}, cv=3)
    >>> list(results.columns[:3])
    ['family', 'r2_mean', 'r2_std']
    >>> results.attrs["primary"]
    'r2'
    """
    X = _check_X(X)
    y, task = check_target(y, task, X.shape[0])
    scoring = _check_scoring(scoring, task)
    estimators = _check_estimators(estimators, task, random_state)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int or -1.")
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    splits = _splits(cv, X, y, task, random_state)
    classes = np.unique(y) if task == "classification" else None

    jobs = [
        delayed(_fit_and_score)(name, estimator, X, y, train, test, fold, task, classes,
                                scoring, residual_variance, seed)
        for fold, (train, test) in enumerate(splits)
        for name, estimator in estimators.items()
    ]
    outputs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs)
    if progress:
        from tqdm import tqdm

        outputs = tqdm(outputs, total=len(jobs), unit="fit", leave=False,
                       desc=f"{len(estimators)} estimators x {len(splits)} folds")
    records = sorted(outputs, key=lambda r: (r["fold"], list(estimators).index(r["name"])))
    return _tabulate(records, estimators, scoring, task, splits, X.shape[0])


def _tabulate(records, estimators, scoring, task, splits, n_samples):
    rows, fold_scores, caught = [], {}, {}
    for name, estimator in estimators.items():
        mine = [r for r in records if r["name"] == name]
        row = {"family": estimator_family(estimator)}
        fold_scores[name] = {}
        for score in scoring:
            values = np.array([r["scores"][score] for r in mine], dtype=np.float64)
            fold_scores[name][score] = [float(v) for v in values]
            finite = values[np.isfinite(values)]
            row[f"{score}_mean"] = finite.mean() if finite.size else np.nan
            row[f"{score}_std"] = finite.std(ddof=1) if finite.size > 1 else np.nan
        row["fit_time"] = float(np.mean([r["fit_time"] for r in mine]))
        row["predict_time"] = float(np.mean([r["predict_time"] for r in mine]))
        if task == "regression" and "log_likelihood" in scoring:
            row["density"] = mine[0]["density"]
        rows.append(row)
        messages = [m for r in mine for m in r["warnings"]]
        if messages:
            caught[name] = list(dict.fromkeys(messages))
    results = pd.DataFrame(rows, index=pd.Index(list(estimators), name="estimator"))
    primary = scoring[0]
    results = results.sort_values(
        f"{primary}_mean", ascending=not SCORES[primary][2], na_position="last", kind="stable"
    )
    results.attrs = {
        "task": task,
        "primary": primary,
        "scoring": list(scoring),
        "greater_is_better": {score: SCORES[score][2] for score in scoring},
        "n_splits": len(splits),
        "n_samples": int(n_samples),
        "fold_scores": fold_scores,
        "warnings": caught,
    }
    return results


# --------------------------------------------------------------------- verdicts
def _lead(results, winner, other, score):
    """How far ``winner`` is ahead of ``other`` on ``score``, and that in standard deviations.

    The standard deviation is that of the per-fold differences (the folds are
    shared), or, without per-fold scores, the root mean square of the two
    standard deviations.
    """
    sign = 1.0 if SCORES[score][2] else -1.0
    lead = sign * (results.loc[winner, f"{score}_mean"] - results.loc[other, f"{score}_mean"])
    folds = results.attrs.get("fold_scores", {})
    if winner in folds and other in folds and score in folds[winner]:
        diff = sign * (np.asarray(folds[winner][score]) - np.asarray(folds[other][score]))
        diff = diff[np.isfinite(diff)]
        sd = diff.std(ddof=1) if diff.size > 1 else np.nan
    else:
        sd = np.sqrt((results.loc[winner, f"{score}_std"] ** 2
                      + results.loc[other, f"{score}_std"] ** 2) / 2)
    if np.isnan(sd):
        return lead, np.nan
    # Differences equal on every fold up to rounding have no spread to measure by.
    if sd <= 1e-12 * max(1.0, abs(lead)):
        return lead, (np.nan if abs(lead) <= 1e-12 else np.inf)
    return lead, lead / sd


def _in_sd(lead, n_sd):
    """The lead in standard deviations, and how clear it is."""
    if np.isnan(n_sd):
        return "tied on every fold" if abs(lead) <= 1e-12 else "no spread to judge by"
    if np.isinf(n_sd):
        return "ahead by the same amount on every fold"
    clarity = ("a clear gap" if n_sd >= 2 else "a modest gap" if n_sd >= 1
               else "within the fold-to-fold noise")
    return f"{n_sd:.1f} sd, {clarity}"


def verdicts(results, score=None):
    """One line per family, best family first, and a final verdict.

    Each family line names the family's best estimator and its score, and
    how far the overall winner leads it: the mean difference, and that
    difference in standard deviations of the per-fold differences (the folds
    are shared, so the difference is paired). Two or three standard
    deviations over five folds is a clear lead; below one is a tie within the
    fold-to-fold noise. It is a rough guide, not a test: folds share training
    rows, so their differences are correlated.

    The last line says whether a mixture of experts wins, and when it does
    not, how far the best mixture is behind.

    Parameters
    ----------
    results : pandas.DataFrame
        The table returned by :func:`compare`.
    score : str, default=None
        The score to judge by; None means the primary score of ``results``.

    Returns
    -------
    lines : list of str
        The verdict lines, without trailing newlines.
    """
    if not isinstance(results, pd.DataFrame) or "family" not in results.columns:
        raise TypeError("results must be the DataFrame returned by skmoe.compare.compare.")
    score = results.attrs.get("primary") if score is None else score
    if score is None or f"{score}_mean" not in results.columns:
        available = [c[: -len("_mean")] for c in results.columns if c.endswith("_mean")]
        raise ValueError(f"score must be one of the scores in results {available}, got "
                         f"{score!r}.")
    label = SCORES[score][1] if score in SCORES else score
    ordered = results.sort_values(f"{score}_mean", ascending=not SCORES[score][2],
                                  na_position="last", kind="stable")
    winner = ordered.index[0]
    best = ordered.groupby("family", sort=False).head(1)
    width = max(len(str(name)) for name in best.index)
    lines = []
    for name, row in best.iterrows():
        head = (f"{row['family']:<18}  best: {name:<{width}}  {label} "
                f"{row[f'{score}_mean']:.3f} ± {row[f'{score}_std']:.3f}")
        if name == winner:
            lines.append(f"{head}  <- winner")
        else:
            lead, n_sd = _lead(ordered, winner, name, score)
            lines.append(f"{head}  winner leads by {lead:.3f} ({_in_sd(lead, n_sd)})")
    lines.append(_final_verdict(ordered, best, winner, score, label))
    return lines


def _final_verdict(ordered, best, winner, score, label):
    family = ordered.loc[winner, "family"]
    others = [name for name in best.index if name != winner]
    moe = best.index[best["family"] == "mixture of experts"]
    if family == "mixture of experts":
        if not others:
            return f"Verdict: {winner} is best on {label}; no other family was compared."
        runner = others[0]
        lead, n_sd = _lead(ordered, winner, runner, score)
        if abs(lead) <= 1e-12:
            return (f"Verdict: no clear winner on {label}: the mixture {winner} and {runner} "
                    f"({best.loc[runner, 'family']}) tie ({_in_sd(lead, n_sd)}).")
        if np.isnan(n_sd) or n_sd < 1:
            return (f"Verdict: no clear winner on {label}: the mixture {winner} is ahead of "
                    f"{runner} ({best.loc[runner, 'family']}) by {lead:.3f} "
                    f"({_in_sd(lead, n_sd)}), so a mixture of experts does not clearly win.")
        return (f"Verdict: a mixture of experts wins on {label}: {winner} leads the best other "
                f"family ({runner}, {best.loc[runner, 'family']}) by {lead:.3f} "
                f"({_in_sd(lead, n_sd)}).")
    if len(moe) == 0:
        return (f"Verdict: {winner} ({family}) is best on {label}; no mixture of experts "
                "was compared.")
    lead, n_sd = _lead(ordered, winner, moe[0], score)
    if abs(lead) <= 1e-12:
        return (f"Verdict: no clear winner on {label}: {winner} ({family}) and the best mixture "
                f"({moe[0]}) tie ({_in_sd(lead, n_sd)}); a mixture of experts does not win.")
    if np.isnan(n_sd) or n_sd < 1:
        return (f"Verdict: no clear winner on {label}: {winner} ({family}) is ahead of the best "
                f"mixture ({moe[0]}) by {lead:.3f} ({_in_sd(lead, n_sd)}); a mixture of "
                "experts does not win.")
    return (f"Verdict: a mixture of experts does not win on {label}: {winner} ({family}) is "
            f"best, the best mixture ({moe[0]}) is {lead:.3f} behind ({_in_sd(lead, n_sd)}).")
