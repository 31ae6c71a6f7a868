"""Cross-validated comparison of mixtures of experts with the ensembles people already use.

:func:`compare` fits every estimator on the same cross-validation folds and
returns one row per estimator: the mean and standard deviation of each score,
the mean fit and predict seconds and the estimator's family (single model,
bagging, boosting, stacking, mixture of experts). :func:`default_baselines`
gives the estimators it compares by default, :func:`paired_lead` how far one
estimator leads another in standard deviations of the per-fold differences,
and :func:`verdicts` turns a result table into one line per family.

The folds go through scikit-learn's
:func:`~sklearn.model_selection.cross_validate`, every estimator behind the
same preprocessing (one-hot encoding of non-numeric columns, a median imputer
for the models that cannot take missing values).

Every regression row has a held-out mean log-likelihood, so that a model of the
whole conditional density (a mixture of experts) can be told from a model of the
mean alone even where R² cannot separate them:

* an estimator with its own density, a method ``score_samples(X, y)`` returning
  ``log p(y | x)`` per row (a mixture of experts), is scored by it, through
  :func:`skmoe.metrics.log_likelihood_scorer` (which looks through Pipelines
  and searches);
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

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from ._baselines import FAMILIES, default_baselines, estimator_family, final_step
from ._cv import cross_validate_each
from ._density import DENSITY_LABELS, GaussianDensity, density_source
from ._regressor import _Y_SPREAD
from ._scaling import SQUARE_SAFE, weighted_spread
from ._scorers import SCORES, make_scorer
from ._tidy import check_features, preprocessed, takes_nan
from ._validation import (
    FLOAT32_RANGE,
    HasMethods,
    Interval,
    StrOptions,
    check_splits,
    float32_merged_values,
    unique_labels_of,
    validate_params,
)
from ._verdicts import paired_lead, verdicts

__all__ = [
    "FAMILIES",
    "SCORES",
    "check_target",
    "compare",
    "default_baselines",
    "estimator_family",
    "paired_lead",
    "verdicts",
]

_DEFAULT_SCORING = {
    "regression": ("r2", "rmse", "log_likelihood"),
    "classification": ("accuracy", "log_loss", "brier", "roc_auc"),
}

# An integer target with at most this many distinct values is taken for class
# labels (the ten digits are classes; a count with a dozen values is a number).
_MAX_CLASSES_AUTO = 10


def _resolve_task(task, y):
    """The task given, or the one the target implies."""
    if task != "auto":
        return task
    kind = y.dtype.kind
    if kind in "OSUb" or isinstance(y.dtype, pd.CategoricalDtype):
        return "classification"
    # Whole numbers beyond the integers' range (1e160) are no labels to scikit-learn's
    # classifiers (type_of_target: continuous): the task was classification, then
    # refused as "task='classification' needs class labels".
    if kind == "f" and (not np.all(np.mod(y, 1) == 0) or type_of_target(y) == "continuous"):
        return "regression"
    return "classification" if np.unique(y).shape[0] <= _MAX_CLASSES_AUTO else "regression"


def _plain(value):
    """A NumPy scalar as the Python value it holds, for error messages."""
    return value.item() if isinstance(value, np.generic) else value


def check_target(y, task="auto", n_samples=None, *, input_name="y"):
    """Validate a target and settle the task it is for.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The target.
    task : {"auto", "regression", "classification"}, default="auto"
        ``"auto"`` reads it from the target's type and its number of
        distinct values: strings, booleans and categories are class labels;
        integers (or floats that are all whole numbers) with at most 10
        distinct values are class labels; any other numbers, such as a count
        with 12 values, are a regression target.
    n_samples : int, default=None
        The number of rows of X, checked against y when given.
    input_name : str, default="y"
        How the error messages name the target (``"target column 'price'"``).

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
        raise ValueError(f"{input_name} contains NaN or infinity; drop or fill those rows "
                         "first.")
    if y.dtype.kind == "O" and pd.isna(y).any():
        raise ValueError(f"{input_name} contains missing values; drop or fill those rows first.")
    if y.dtype.kind == "O":
        # Labels of several types failed in NumPy's sort ('<' not supported).
        unique_labels_of(y, input_name)
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
                f"task='classification' needs class labels, got continuous values in "
                f"{input_name}; use task='regression'."
            )
    if np.unique(y).shape[0] < 2:
        raise ValueError(
            f"{input_name} has a single value ({_plain(y[0])!r}): there is nothing to predict "
            "or compare."
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
        entries = list(estimators)
        named = [isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
                 for entry in entries]
        # Names made from the class skip those given: a given "LinearRegression_2" beside
        # two unnamed LinearRegression was refused as a name repeated by the user.
        taken = {entry[0] for entry, given in zip(entries, named) if given}
        items = []
        for entry, given in zip(entries, named):
            if given:
                items.append(entry)
                continue
            base = name = type(final_step(entry)).__name__
            count = 1
            while name in taken:
                count += 1
                name = f"{base}_{count}"
            taken.add(name)
            items.append((name, entry))
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
        splits = list(splitter.split(X, y))
    if not splits:
        raise ValueError("cv produced no train/test split.")
    return check_splits(splits, X.shape[0])


def _check_test_folds(splits, scoring, y):
    """Refuse test folds on which a chosen score is undefined (NaN): R² on one row,
    ROC AUC without every class."""
    smallest = min(test.shape[0] for _, test in splits)
    if "r2" in scoring and smallest < 2:
        raise ValueError(
            f"r2 needs at least 2 rows in every test fold, but the smallest of the "
            f"{len(splits)} folds has {smallest} row: the R² of one row is undefined. Use "
            "fewer folds, or leave r2 out of scoring."
        )
    if "roc_auc" in scoring:
        classes, counts = np.unique(y, return_counts=True)
        for fold, (_, test) in enumerate(splits):
            missing = np.setdiff1d(classes, y[test])
            if missing.size:
                rows = int(counts[np.searchsorted(classes, missing[0])])
                raise ValueError(
                    f"roc_auc needs every class in every test fold, but class "
                    f"{_plain(missing[0])!r} ({rows} rows) is not in fold {fold}. Use at "
                    "most as many folds as the rarest class has rows, or leave roc_auc out "
                    "of scoring."
                )


def _check_target_scale(y, task, scoring, input_name="y"):
    """Refuse a regression target whose squares the chosen scores cannot hold (NaN).

    ``scoring`` holds checked score names; ``input_name`` names the target in
    the message (the command line names the CSV's column)."""
    squaring = [name for name in scoring if name in ("r2", "rmse", "log_likelihood")]
    if task != "regression" or not squaring:
        return
    mean, spread = weighted_spread(y, np.ones(y.shape[0]))
    spread = spread or abs(mean)
    if spread and not _Y_SPREAD[0] <= spread <= _Y_SPREAD[1]:
        raise ValueError(
            f"{input_name} has a standard deviation of {spread:.3g}, outside "
            f"[{_Y_SPREAD[0]:.0e}, {_Y_SPREAD[1]:.0e}]: {', '.join(squaring)} square it, "
            f"beyond float64 (NaN scores). Divide {input_name} by "
            f"1e{int(np.floor(np.log10(spread)))}, or score with mae or max_error only."
        )


# The default estimators that read X as float32 (scikit-learn's trees), and those
# that standardise it first (StandardScaler squares the columns).
_FLOAT32_ESTIMATORS = ("tree", "bagged_trees", "random_forest", "adaboost",
                       "gradient_boosting", "stacking", "moe_trees")
_SCALED_ESTIMATORS = ("linear", "bagged_linear", "stacking", "moe_linear")


def _check_feature_scale(X, estimators, where="X's ", leave=""):
    """Refuse numeric columns beyond what the chosen estimators hold.

    A column beyond float32's range failed in the trees' fits (exit status 1,
    blaming them), one whose values are all below it became a column without
    splits, silently (a tree's R² fell from 0.93 to -0.34 on a feature times
    1e-45), and so did one whose spread float32's 7 digits cannot tell from its
    magnitude (a feature plus 1e8); beyond about 1e150 (or below 1e-150)
    StandardScaler's squares overflow (NaN, blamed on the estimator) or
    vanish. ``estimators`` are names of the default estimators
    (:func:`default_baselines`).
    """
    limits = []
    trees = [name for name in estimators if name in _FLOAT32_ESTIMATORS]
    if trees:
        limits.append((FLOAT32_RANGE, trees, "read X as float32"))
    scaled = [name for name in estimators if name in _SCALED_ESTIMATORS]
    if scaled:
        limits.append((SQUARE_SAFE, scaled, "standardise X, squaring its columns"))
    if not limits:
        return
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    for column, values in frame.items():
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        largest = np.abs(values.to_numpy(dtype=np.float64, na_value=np.nan))
        largest = float(np.nanmax(largest)) if np.isfinite(largest).any() else 0.0
        for (low, high), names, reason in limits:
            if largest > high or 0 < largest < low:
                raise ValueError(
                    f"{where}column {column!r} reaches {largest:.3g} in magnitude, outside "
                    f"about [{low:.2g}, {high:.2g}]: {', '.join(names)} {reason}, and would "
                    "not fit it. Multiply or divide that column by a constant, or leave "
                    f"those estimators out{leave}."
                )
        merged = trees and float32_merged_values(
            values.to_numpy(dtype=np.float64, na_value=np.nan))
        if merged:
            raise ValueError(
                f"{where}column {column!r} has a spread so small next to its magnitude that "
                f"float32, which {', '.join(trees)} read X as (about 7 significant digits), "
                f"would make its {merged[1]} distinct values {merged[0]}: a column with almost "
                "no splits. Subtract a constant from that column, e.g. its mean, or leave "
                f"those estimators out{leave}."
            )


# ---------------------------------------------------------------------- compare
@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "estimators": [None, dict, list, tuple, HasMethods(["fit", "predict"])],
        # "cv_object" holds the integers from 2 (named twice in the error otherwise).
        "cv": ["cv_object"],
        "scoring": [None, str, list, tuple],
        # As joblib: 0 jobs has no meaning.
        "n_jobs": [None, Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left")],
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

    Each estimator goes through scikit-learn's
    :func:`~sklearn.model_selection.cross_validate` on the same list of
    folds, so their per-fold scores can be compared pairwise
    (:func:`paired_lead` and :func:`verdicts` do). Each fit runs with one
    BLAS, OpenMP and Numba thread, so that fit times compare like with like
    and nested threads do not oversubscribe the cores; ``n_jobs`` runs the
    folds of an estimator in parallel instead.

    Every estimator gets the same preprocessing in front, fitted on each
    training fold: non-numeric columns of a DataFrame (strings, categories)
    are one-hot encoded (a missing value is a category; a value unseen in
    the training fold is all zeros), and missing numeric values are replaced
    by the training fold's column median for the estimators that cannot take
    them (those without scikit-learn's ``allow_nan`` tag), and left to the
    others (trees, forests, bagged trees, histogram gradient boosting).
    ``results.attrs["preprocessing"]`` says what was done.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs: numbers, with missing values as NaN; a DataFrame may also
        have string, boolean or categorical columns. Infinite values are
        refused.
    y : array-like of shape (n_samples,)
        Target: numbers for regression, labels for classification.
    estimators : dict, list or None, default=None
        The estimators to compare: a dict of name to estimator, a list of
        ``(name, estimator)`` pairs, or a list of estimators (named after their
        class). None means :func:`default_baselines` for the task, seeded with
        ``random_state``; a numeric column of ``X`` beyond what they hold is
        then refused (outside float32's range, about 1.2e-38 to 3.4e38, which
        scikit-learn's trees read X as; outside about 1e-150 to 1e150, whose
        squares StandardScaler takes).
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
        An infinite score (a held-out log-likelihood of ``-inf``, from a row
        the model gives no density) is kept: the mean is then infinite.
    n_jobs : int, default=None
        Number of joblib workers over the folds of each estimator. None means
        1 unless in a :obj:`joblib.parallel_backend` context; -1 means all
        processors. With worker processes, the warnings raised in them are
        shown by the workers instead of being recorded in
        ``results.attrs["warnings"]``, and each worker limits its BLAS threads
        to its share of the cores (joblib's default) rather than to one.
    random_state : int, RandomState instance or None, default=0
        Seeds the folds (when ``cv`` is an int), the default estimators and
        the inner split behind ``residual_variance="cv"``.
    task : {"auto", "regression", "classification"}, default="auto"
        ``"auto"`` reads it from the target: strings, booleans and categories
        are class labels, and so are integers (or whole-number floats) with at
        most 10 distinct values; any other numbers, such as a count with 12
        values, mean regression.
    residual_variance : {"cv", "train"}, default="cv"
        For regressors without a density of their own, the variance of the
        Gaussian that gives their held-out log-likelihood: the mean squared
        out-of-fold residual of an inner 3-fold split of the training fold
        (``"cv"``, three extra fits per fold, counted in neither the fit nor
        the predict time), or
        the in-sample mean squared residual of the fitted model (``"train"``,
        overconfident for forests and deep trees).
    progress : bool, default=False
        Report progress on stderr: a progress bar (tqdm) over folds x
        estimators on a terminal, and elsewhere (a log, ``make``, CI) one line
        when the comparison starts and one per estimator done.

    Returns
    -------
    results : pandas.DataFrame
        One row per estimator, indexed by name and sorted by the primary
        score (best first). Columns: ``family``; ``<score>_mean`` and
        ``<score>_std`` (sample standard deviation over the folds) for each
        score; ``fit_time`` and ``predict_time``, mean seconds per fold
        (``cross_validate``'s fit and score times: the latter predicts the
        test fold and computes every score, without the inner fits behind
        ``residual_variance="cv"``); for
        regression with the log-likelihood, ``density``, where that score
        comes from (``"model"``, ``"predictive std"`` or a Gaussian around the
        predictions). ``results.attrs`` holds ``task``, ``primary``,
        ``scoring``, ``greater_is_better``, ``n_splits``, ``n_samples``,
        ``fold_scores`` (``{name: {score: [one value per fold]}}``),
        ``warnings`` (``{name: [distinct warning messages]}``): warnings
        raised inside the fits are recorded there rather than repeated once
        per fold; ``noise_at_floor`` (``{name: [folds]}``): the folds in
        which a mixture's noise ended at its floor, where its held-out
        log-likelihood is the floor's rather than the data's (:func:`verdicts`
        does not trust it); and ``preprocessing``: ``one_hot`` (encoded
        columns and their numbers of values), ``missing`` (numeric columns
        with missing values and their counts) and ``imputed`` (the estimators
        given the median imputer).

    See Also
    --------
    default_baselines : The estimators compared by default.
    paired_lead : How far one estimator leads another, in standard deviations.
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
    X, preprocessing = check_features(X)
    y, task = check_target(y, task, X.shape[0])
    scoring = _check_scoring(scoring, task)
    if estimators is None:
        _check_feature_scale(X, default_baselines(task))
    estimators = _check_estimators(estimators, task, random_state)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int or -1.")
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    splits = _splits(cv, X, y, task, random_state)
    _check_test_folds(splits, scoring, y)
    _check_target_scale(y, task, scoring)

    prepared, densities = {}, {}
    for name, estimator in estimators.items():
        model = preprocessed(estimator, preprocessing)
        if task == "regression" and "log_likelihood" in scoring:
            densities[name] = density_source(estimator, residual_variance)
            if densities[name] != "model":
                model = GaussianDensity(model, residual_variance, random_state=seed)
        prepared[name] = model
    scorer = make_scorer(scoring, task, np.unique(y) if task == "classification" else None)
    records = cross_validate_each(prepared, X, y, splits, scorer, n_jobs=n_jobs,
                                  progress=progress)
    results = _tabulate(records, estimators, densities, scoring, task, splits, X.shape[0])
    results.attrs["preprocessing"] = {
        "one_hot": dict(preprocessing.categorical),
        "missing": dict(preprocessing.missing),
        "imputed": [name for name in estimators
                    if preprocessing.missing and not takes_nan(estimators[name])],
    }
    return results


def _tabulate(records, estimators, densities, scoring, task, splits, n_samples):
    rows, fold_scores, caught, floored = [], {}, {}, {}
    for name, estimator in estimators.items():
        record = records[name]
        row = {"family": estimator_family(estimator)}
        fold_scores[name] = {}
        for score in scoring:
            values = record["scores"][score]
            fold_scores[name][score] = [float(v) for v in values]
            row[f"{score}_mean"], row[f"{score}_std"] = _fold_summary(values)
        row["fit_time"] = float(np.mean(record["fit_time"]))
        row["predict_time"] = float(np.mean(record["predict_time"]))
        if name in densities:
            row["density"] = DENSITY_LABELS[densities[name]]
        rows.append(row)
        if record["warnings"]:
            caught[name] = record["warnings"]
        if record.get("noise_at_floor"):
            floored[name] = list(record["noise_at_floor"])
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
        "noise_at_floor": floored,
    }
    return results


def _fold_summary(values):
    """Mean and sample standard deviation of a score over the folds where it is defined.

    NaN marks a score undefined on a fold (left out); an infinite score (a
    held-out log-likelihood of ``-inf``: a row the model gives no density) is
    a score, and makes the mean infinite and the spread infinite, where
    leaving it out made a model that failed on one fold look as good as its
    other folds.
    """
    defined = values[~np.isnan(values)]
    if not defined.size:
        return np.nan, np.nan
    if not np.isfinite(defined).all():
        mean = defined.sum()  # an infinity, or NaN when both signs occur
        return mean, np.inf if defined.size > 1 else np.nan
    return defined.mean(), defined.std(ddof=1) if defined.size > 1 else np.nan
