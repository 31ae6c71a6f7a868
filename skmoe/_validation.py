"""Input checks shared by the skmoe estimators.

This is the only module that imports scikit-learn's private helpers, so that a
future scikit-learn release that moves them needs a fix in one file.
"""

import functools
import inspect
import numbers
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils._param_validation import validate_params as _sklearn_validate_params
from sklearn.utils.metadata_routing import _raise_for_params, _routing_enabled
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import (
    _check_feature_names,
    _check_method_params,
    _check_sample_weight,
    _num_features,
    _num_samples,
)

from ._scaling import power_of_two

# Largest total sample weight a fit accepts (see check_sample_weight).
MAX_TOTAL_WEIGHT = 1e250
# Smallest largest sample weight a fit accepts: the responsibilities times weights
# below it fall to float64's subnormal numbers, which lose their digits.
MIN_LARGEST_WEIGHT = 1e-300

__all__ = [
    "BaseSearchCV",
    "HasMethods",
    "Interval",
    "StrOptions",
    "_BaseComposition",
    "_check_method_params",
    "_fit_context",
    "_raise_for_params",
    "_routing_enabled",
    "_num_samples",
    "_safe_indexing",
    "check_is_estimator",
    "check_label_kind",
    "check_labels",
    "check_not_scalar",
    "check_no_datetimes",
    "check_fit_weight_scale",
    "check_float32_columns",
    "float32_merged_values",
    "no_gate_inputs",
    "check_no_bool_numbers",
    "check_no_bool_params",
    "check_n_samples",
    "check_resumed_columns",
    "check_sample_weight",
    "check_score_weights",
    "check_sparse_input",
    "check_splits",
    "int32_sparse_indices",
    "is_sparse_frame",
    "resolve_columns",
    "check_responsibilities",
    "unique_labels_of",
    "validate_parameter_constraints",
    "validate_params",
]


def check_sample_weight(sample_weight, X, limit_total=True):
    """Return float64 sample weights, refusing negative, NaN or all-zero weights.

    Weights summing to more than ``MAX_TOTAL_WEIGHT`` are refused too, unless
    ``limit_total`` is False.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        The weights given to ``fit``; None means unit weights.
    X : ndarray of shape (n_samples, n_features)
        The validated training data.
    limit_total : bool, default=True
        Refuse weights summing beyond ``MAX_TOTAL_WEIGHT`` (a weighted mean,
        which takes them in units of the largest, has no such limit).

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,)
        The checked weights.
    """
    if sample_weight is not None:
        values = np.asarray(sample_weight)
        if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
            raise ValueError("sample_weight must be finite, got NaN or inf values.")
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    # The weighted sums of a fit (log-likelihood, gate loss, Gram matrices) multiply
    # the weights by squares of standardised data: their total must leave room.
    with np.errstate(over="ignore"):
        total = sample_weight.sum()
    if limit_total and not total <= MAX_TOTAL_WEIGHT:
        raise ValueError(
            f"sample_weight sums to {total:.3g}, more than {MAX_TOTAL_WEIGHT:.0e}: the "
            "weighted sums of the fit would overflow float64. Divide the weights by a "
            "constant (only their size next to the penalties of the experts and the gate "
            "depends on it)."
        )
    return sample_weight


def check_score_weights(sample_weight, X):
    """Weights of an estimator's ``score`` (accuracy, R²), checked before it predicts.

    scikit-learn's scores take negative weights (an accuracy of 1.05 with one
    weight of -1) and give NaN when the weights' sum overflows (weights of
    1e308). The weights are refused as a fit's would be, and returned in units
    of a power of two near the largest, exactly: neither score depends on
    their units.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        The weights given to ``score``.
    X : array-like of shape (n_samples, n_features)
        The rows scored.

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,) or None
        None when None was given.
    """
    if sample_weight is None:
        return None
    sample_weight = check_sample_weight(sample_weight, X, limit_total=False)
    return sample_weight / power_of_two(float(sample_weight.max()))


def check_fit_weight_scale(sample_weight):
    """Refuse sample weights of a mixture's fit whose largest is below ``MIN_LARGEST_WEIGHT``.

    The EM loop multiplies the weights by responsibilities: below it, the
    products are subnormal float64 numbers, which lose their digits (weights of
    5e-324 gave another model than weights of 1e-300, silently).

    Parameters
    ----------
    sample_weight : ndarray of shape (n_samples,)
        Weights checked by :func:`check_sample_weight`.
    """
    largest = sample_weight.max()
    if largest < MIN_LARGEST_WEIGHT:
        raise ValueError(
            f"sample_weight's largest value is {largest:.3g}, less than "
            f"{MIN_LARGEST_WEIGHT:.0e}: the weights times the responsibilities would be "
            "subnormal float64 numbers, which lose their digits. Multiply the weights by a "
            "constant (only their size next to the penalties of the experts and the gate "
            "depends on it)."
        )


def check_not_scalar(values, name="y"):
    """Refuse a single number (or string) where one value per row of X is expected.

    ``check_array`` let a scalar through to ``_num_samples``, whose TypeError
    (``Input should have at least 1 dimension``) named no argument.

    Parameters
    ----------
    values : object
        As given.
    name : str, default="y"
        How the error names them.
    """
    # Not np.ndim: it would call the array protocol of any array-like given.
    if np.isscalar(values) or (isinstance(values, np.ndarray) and values.ndim == 0):
        raise ValueError(
            f"{name} must hold one value per row of X (an array of shape (n_samples,)); "
            f"got the single value {values!r}."
        )


def check_labels(labels, name="y"):
    """Refuse missing class labels (None, NaN or ``pd.NA``) and labels NumPy cannot order.

    NumPy cannot sort None or ``pd.NA`` among labels (``'<' not supported``,
    ``boolean value of NA is ambiguous``), and an object array's NaN was
    blamed on an unnamed "Input"; labels of several types (``"b"`` among
    integers) failed in the same sort (see :func:`unique_labels_of`).

    Parameters
    ----------
    labels : array-like
        Class labels as given (``y`` or ``classes``).
    name : str, default="y"
        How the error names them.
    """
    if labels is None:
        # No labels at all: validate_data says that y is required.
        return
    check_not_scalar(labels, name)
    values = np.asarray(labels)
    # Numeric arrays: check_array names y when it holds NaN.
    if values.dtype.kind != "O":
        return
    missing = np.flatnonzero(pd.isna(values.reshape(-1)))
    if missing.size:
        raise ValueError(
            f"{name} holds {missing.size} missing label(s) (None, NaN or pd.NA), the first "
            f"at position {missing[0]}: every row needs a class. Drop those rows or give "
            "them a class."
        )
    unique_labels_of(values, name)


def unique_labels_of(labels, name="y"):
    """The sorted distinct class labels, refusing labels NumPy cannot order.

    Labels of several types (``"b"`` among integers) failed in NumPy's sort
    with ``'<' not supported between instances of 'int' and 'str'``.

    Parameters
    ----------
    labels : array-like
        Class labels (``y`` or ``classes``), none missing.
    name : str, default="y"
        How the error names them.

    Returns
    -------
    classes : ndarray
        ``np.unique(labels)``.
    """
    try:
        return np.unique(labels)
    except TypeError:
        types = sorted({type(label).__name__ for label in np.asarray(labels, dtype=object).ravel()})
        raise TypeError(
            f"{name} mixes labels of types that cannot be ordered ({', '.join(types)}); give "
            "labels of one type, e.g. all strings."
        ) from None


_KIND_OF_DTYPE = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats",
                  "U": "strings", "S": "strings"}


def _label_kinds(labels):
    """The kinds of the labels: booleans, integers, floats, strings (or type names)."""
    values = np.asarray(labels)
    if values.dtype.kind in _KIND_OF_DTYPE:
        return {_KIND_OF_DTYPE[values.dtype.kind]}
    kinds = set()
    for value in values.ravel():
        if isinstance(value, (bool, np.bool_)):
            kinds.add("booleans")
        elif isinstance(value, numbers.Integral):
            kinds.add("integers")
        elif isinstance(value, numbers.Real):
            kinds.add("floats")
        elif isinstance(value, (str, bytes)):
            kinds.add("strings")
        else:
            kinds.add(type(value).__name__)
    return kinds


def check_label_kind(labels, classes, name, context):
    """Refuse labels of another kind than the model's classes (integers after booleans).

    ``True == 1`` and ``1 == 1.0``, so such labels passed the checks of the
    classes' values: a ``warm_start`` refit on ``[0, 1]`` after ``[False,
    True]`` replaced ``classes_`` with integers, and ``predict`` then returned
    integers, without a word.

    Parameters
    ----------
    labels : array-like
        Class labels as given (``y``).
    classes : ndarray
        The model's classes.
    name : str
        How the error names the labels.
    context : str
        What is done with the model (``"warm_start resumes the fitted model"``).
    """
    given, fitted = _label_kinds(labels), _label_kinds(classes)
    if given != fitted:
        raise TypeError(
            f"{context}, whose classes are {', '.join(sorted(fitted))} "
            f"({classes.tolist()}); {name} holds {', '.join(sorted(given))}. Equal values "
            "of another type would change the type of the predicted classes: give labels "
            "of the fitted type, or set warm_start=False to fit anew."
        )


def check_splits(splits, n_rows):
    """A cross-validation's folds as index arrays, refusing folds that are not held out.

    An index beyond the rows (or a float) failed inside the first estimator's
    fit and was blamed on it; a row in both sets of a fold made its score
    optimistic, silently.

    Parameters
    ----------
    splits : list of (train, test)
        The folds, as a splitter yields them: integer indices or boolean masks.
    n_rows : int
        The rows of X.

    Returns
    -------
    splits : list of (ndarray, ndarray)
        The folds' integer indices.
    """
    checked = []
    for fold, (train, test) in enumerate(splits):
        train, test = (_fold_rows(np.asarray(rows), fold, part, n_rows)
                       for part, rows in (("training", train), ("test", test)))
        shared = np.intersect1d(train, test)
        if shared.size:
            raise ValueError(
                f"cv's fold {fold} has {shared.size} row(s) in both its training and its test "
                f"set (the first, row {shared[0]}): a score on rows the model was fitted on "
                "is not a held-out score."
            )
        checked.append((train, test))
    return checked


def _fold_rows(rows, fold, part, n_rows):
    """One set of a fold as integer indices of X's rows, or a ValueError."""
    where = f"cv's fold {fold}"
    if rows.dtype == bool:
        if rows.shape != (n_rows,):
            raise ValueError(f"{where} gives its {part} set as a boolean mask of shape "
                             f"{rows.shape}, but X has {n_rows} rows.")
        rows = np.flatnonzero(rows)
    elif rows.size and rows.dtype.kind not in "iu":
        raise ValueError(f"{where} gives its {part} set as {rows.dtype} values; give row "
                         "indices (integers) or a boolean mask.")
    if rows.size == 0:
        raise ValueError(
            f"{where} has an empty {part} set: every fold needs rows to fit on and rows to "
            "score."
        )
    if rows.ndim != 1 or rows.min() < 0 or rows.max() >= n_rows:
        raise ValueError(f"{where} gives {part} rows outside 0 to {n_rows - 1}, the rows of X "
                         f"(from {rows.min()} to {rows.max()}).")
    return rows


def check_no_bool_numbers(estimator):
    """Refuse a bool given for a numeric parameter of ``estimator``.

    scikit-learn's constraints take a bool for an int (``True`` is 1):
    ``n_experts=True`` fitted one expert, ``max_iter=True`` one iteration,
    ``tol=True`` a tolerance of 1, without a word. The numeric parameters are
    those constrained by an interval or as a random state.

    Parameters
    ----------
    estimator : estimator
        An estimator with ``_parameter_constraints``.
    """
    check_no_bool_params(estimator._parameter_constraints, estimator.get_params(deep=False),
                         type(estimator).__name__)


def check_no_bool_params(constraints, values, caller):
    """Refuse a bool among ``values`` for a parameter that ``constraints`` make
    numeric (an interval or a random state); ``caller`` names the function or
    class in the error."""
    for name, rules in constraints.items():
        value = values.get(name)
        if isinstance(value, (bool, np.bool_)) and any(
                isinstance(rule, Interval) or rule == "random_state" for rule in rules):
            raise InvalidParameterError(
                f"The {name!r} parameter of {caller} must not be a bool ({value!r} would be "
                f"taken as {int(value)}); give a number."
            )


def validate_params(parameter_constraints, *, prefer_skip_nested_validation):
    """scikit-learn's ``validate_params``, refusing also a bool for a numeric parameter.

    Its constraints take ``True`` for 1 (``make_switching_regression(
    n_features=True)`` made one feature, without a word); see
    :func:`check_no_bool_numbers`.

    Parameters
    ----------
    parameter_constraints : dict
        As scikit-learn's.
    prefer_skip_nested_validation : bool
        As scikit-learn's.

    Returns
    -------
    decorator : callable
    """
    def decorator(func):
        validated = _sklearn_validate_params(
            parameter_constraints,
            prefer_skip_nested_validation=prefer_skip_nested_validation)(func)
        signature = inspect.signature(func)

        @functools.wraps(validated)
        def wrapper(*args, **kwargs):
            bound = signature.bind_partial(*args, **kwargs)
            check_no_bool_params(parameter_constraints, bound.arguments, func.__qualname__)
            return validated(*args, **kwargs)

        return wrapper

    return decorator


# The float32 numbers that scikit-learn's trees read X as: its normal range.
FLOAT32_RANGE = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))


def reads_float32(estimator):
    """Whether scikit-learn casts the estimator's X to float32 (its trees, forests,
    gradient boosting, and bagging or AdaBoost of trees); not for a Pipeline,
    whose earlier steps may rescale X."""
    from sklearn.ensemble import (
        AdaBoostClassifier,
        AdaBoostRegressor,
        BaggingClassifier,
        BaggingRegressor,
    )
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.tree import BaseDecisionTree

    if isinstance(estimator, (BaseDecisionTree, BaseForest, BaseGradientBoosting)):
        return True
    if isinstance(estimator, (AdaBoostClassifier, AdaBoostRegressor, BaggingClassifier,
                              BaggingRegressor)):
        base = estimator.estimator
        # AdaBoost's default is a tree, bagging's a tree too.
        return base is None or reads_float32(base)
    return False


def no_gate_inputs(gate_features):
    """Whether ``gate_features`` asks for a gate without inputs (an empty list; an empty
    boolean mask is a mask of the wrong length)."""
    return (gate_features is not None and np.ndim(gate_features) == 1
            and len(gate_features) == 0 and np.asarray(gate_features).dtype.kind != "b")


# Fewer distinct float32 values than this, where float64 has more: a column whose
# values float32 merges into a handful (see float32_merged_values).
FLOAT32_FEW_VALUES = 16


def float32_merged_values(values):
    """``(in_float32, in_float64)`` distinct values of a column that float32 merges
    into fewer than :data:`FLOAT32_FEW_VALUES`, else None.

    float32 keeps about 7 significant digits: a column whose spread is below
    its magnitude by that much (a feature with a large offset, such as 1e8 plus
    values of order 1) falls on a few float32 numbers, however many distinct
    values it has. Only a column whose range spans fewer than that many float32
    steps at its magnitude is counted (cheap for the others); a column whose
    few values float32 keeps apart (integers far from 0) passes.

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        A column, float64 (NaN left out), within float32's range.

    Returns
    -------
    counts : tuple of int or None
    """
    if values.size < 2:
        return None
    # The extremes, NaN left out, without a copy of the column.
    low, high = float(np.fmin.reduce(values)), float(np.fmax.reduce(values))
    step = float(np.spacing(np.float32(max(abs(low), abs(high)))))
    if not (low < high and high - low < FLOAT32_FEW_VALUES * step):
        return None
    values = values[~np.isnan(values)]
    in_float32 = np.unique(values.astype(np.float32)).shape[0]
    in_float64 = np.unique(values).shape[0]
    if in_float32 < in_float64 and in_float32 < FLOAT32_FEW_VALUES:
        return in_float32, in_float64
    return None


def check_float32_columns(experts, X):
    """Refuse, before any fit, columns that experts reading X as float32 cannot hold.

    scikit-learn's trees cast X to float32: a column beyond about 3.4e38 in
    magnitude failed in their fit (``Input X contains infinity or a value too
    large for dtype('float32')``), and one whose values are all below about
    1.2e-38 became subnormal numbers or 0, silently a column without splits (a
    mixture of trees on a feature times 1e-45 went from R² 0.91 to 0.40). A
    column whose spread is below float32's 7 digits at its magnitude falls on a
    few float32 numbers (:func:`float32_merged_values`): a feature of order 1
    plus 1e8 was one value, and a mixture of trees went from R² 0.94 to 0.68,
    where the trees' splits do not depend on the feature's origin.

    Parameters
    ----------
    experts : list of estimators
        The experts (their final steps, when the mixture transformed X for them).
    X : ndarray or sparse matrix
        The columns the experts see.
    """
    reading = [k for k, expert in enumerate(experts) if reads_float32(expert)]
    if not reading or X.shape[0] == 0:
        return
    if sp.issparse(X):
        largest = abs(X).max(axis=0).toarray().ravel()
    else:
        # The extremes, NaN left out, with no array as large as X.
        largest = np.maximum(np.abs(np.fmax.reduce(X, axis=0)),
                             np.abs(np.fmin.reduce(X, axis=0)))
    largest = np.where(np.isnan(largest), 0.0, largest)
    bad = np.flatnonzero((largest > FLOAT32_RANGE[1])
                         | ((largest > 0) & (largest < FLOAT32_RANGE[0])))
    if bad.size:
        column, k = int(bad[0]), reading[0]
        happens = "inf" if largest[column] > FLOAT32_RANGE[1] else "subnormal numbers or 0"
        raise ValueError(
            f"Expert {k} ({type(experts[k]).__name__}) reads X as float32, as scikit-learn's "
            f"trees do, whose numbers span about {FLOAT32_RANGE[0]:.2g} to "
            f"{FLOAT32_RANGE[1]:.2g} in magnitude; the experts' column {column} reaches "
            f"{largest[column]:.3g}, and its values would become {happens}. Multiply or "
            "divide that column by a constant (a tree's splits do not depend on its "
            "scale), or use other experts."
        )
    if sp.issparse(X):
        # A sparse column holds zeros: its spread reaches its magnitude.
        return
    for column in range(X.shape[1]):
        merged = float32_merged_values(X[:, column])
        if merged is not None:
            k = reading[0]
            raise ValueError(
                f"Expert {k} ({type(experts[k]).__name__}) reads X as float32, as "
                "scikit-learn's trees do, whose numbers keep about 7 significant digits; "
                f"the experts' column {column} spans {np.nanmin(X[:, column]):.10g} to "
                f"{np.nanmax(X[:, column]):.10g}, a spread so small next to its magnitude "
                f"that its {merged[1]} distinct values would become {merged[0]} (a column "
                "with almost no splits). Subtract a constant from that column, e.g. its "
                "mean (a tree's splits do not depend on its origin), or use other experts."
            )


def check_no_datetimes(values, name):
    """Refuse dates, times, periods and intervals where numbers are expected.

    NumPy reads datetime64 and timedelta64 values as counts of their own unit,
    so a model fitted on days and given seconds would be silently wrong;
    pandas' periods, intervals and time-zone dates failed in ``float()``
    without naming the column.

    Parameters
    ----------
    values : array-like
        ``X`` or the regressor's ``y`` as given (a DataFrame is checked column
        by column).
    name : str
        How the error names it (``"X"``, ``"y"``).
    """
    if hasattr(values, "dtypes") and not hasattr(values, "dtype"):
        columns = list(zip(values.columns, values.dtypes))
    elif hasattr(values, "dtype"):
        columns = [(None, values.dtype)]
    else:
        return
    for column, dtype in columns:
        if getattr(dtype, "kind", None) in ("M", "m") or isinstance(
                dtype, (pd.PeriodDtype, pd.IntervalDtype)):
            where = name if column is None else f"{name}'s column {column!r}"
            raise TypeError(
                f"{where} holds {dtype} values, which are not numbers (NumPy would read "
                "dates and durations as counts of their own unit). Convert them to "
                "numbers in the unit you mean, e.g. days since a date."
            )


def check_n_samples(n_samples, n_experts):
    """Refuse fewer samples than experts, before any work is done.

    Parameters
    ----------
    n_samples : int
        Number of training rows.
    n_experts : int
        Number of experts asked for.
    """
    if n_samples < n_experts:
        raise ValueError(
            f"Expected n_samples >= n_experts, got n_experts={n_experts}, "
            f"n_samples={n_samples}."
        )


def check_resumed_columns(estimator, X):
    """Refuse, for a warm start, columns other than those of the fit it resumes.

    The same check as at predict time: the column names, when either fit had
    them, must be the same and in the same order (X without names after a fit
    with names only warns, as in ``predict``, when ``validate_data`` runs), and
    the number of columns must be the same.

    Parameters
    ----------
    estimator : estimator
        The fitted estimator being resumed.
    X : {array-like, sparse matrix}
        The training inputs as given to ``fit``.
    """
    try:
        with warnings.catch_warnings():
            # validate_data(reset=False) gives these warnings once, afterwards.
            warnings.simplefilter("ignore", UserWarning)
            _check_feature_names(estimator, X, reset=False)
    except ValueError as exc:
        raise ValueError(
            "warm_start resumes the fitted model, so X must have the columns it was "
            f"fitted on, in the same order. {exc}".rstrip()
        ) from None
    try:
        n_features = _num_features(X)
    except TypeError:
        # Not a 2-D array: validate_data says what is wrong.
        return
    if n_features != estimator.n_features_in_:
        raise ValueError(
            f"warm_start resumes the fitted model, which has {estimator.n_features_in_} "
            f"features; X has {n_features} features."
        )


def check_is_estimator(obj, name):
    """Refuse an object that scikit-learn cannot clone (no ``get_params``), and
    parameters that its own ``fit`` would refuse, before any work.

    The parameters of a scikit-learn estimator (of each step of a Pipeline) are
    checked against its ``_parameter_constraints``: a SoftmaxGate's were never
    checked in a mixture (``C=-1`` was fitted as a negative penalty, ``C=nan``
    failed in an eigenvalue routine), and an expert's were refused by its own
    fit in the first M-step, after the start's work, in a RuntimeError.

    Parameters
    ----------
    obj : object
        An expert or the gate.
    name : str
        How the error names it, e.g. ``"expert 2"`` or ``"gate"``.
    """
    if not callable(getattr(obj, "get_params", None)):
        raise TypeError(
            f"{name} ({type(obj).__name__}) is not a scikit-learn estimator: it has no "
            "get_params. Derive it from sklearn.base.BaseEstimator."
        )
    parts = [step for _, step in obj.steps] if isinstance(obj, Pipeline) else [obj]
    for part in parts:
        if not isinstance(getattr(type(part), "_parameter_constraints", None), dict):
            continue
        try:
            part._validate_params()
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"{name} ({type(obj).__name__}): {exc}") from None


def resolve_columns(selector, n_features, feature_names, name, allow_empty=False):
    """Integer indices of the columns a selector picks.

    Parameters
    ----------
    selector : None, array-like of int, of str or of bool
        None for every column; integer indices; column names of a DataFrame
        (``feature_names``); or a boolean mask of length ``n_features``.
    n_features : int
        Number of columns of X.
    feature_names : ndarray of str or None
        Column names of X, when it had them.
    name : str
        The parameter's name, for the error messages.
    allow_empty : bool, default=False
        Whether an empty list selects no column (rather than raising).

    Returns
    -------
    columns : ndarray of shape (n_selected,), dtype int64
        Sorted column indices.

    Raises
    ------
    ValueError
        For a column selected twice, a boolean mask (even an empty one) whose
        length is not ``n_features``, and a mix of names and indices.
    """
    if selector is None:
        return np.arange(n_features)
    values = np.asarray(selector)
    # An empty boolean array is a mask of the wrong length, not the empty list.
    if allow_empty and values.ndim == 1 and values.size == 0 and values.dtype.kind != "b":
        return np.empty(0, dtype=np.int64)
    if values.ndim == 1 and values.dtype.kind in "UO":
        # NumPy writes the integers of a list that also holds names as names ("1").
        kinds = {isinstance(value, str) for value in np.asarray(selector, dtype=object)}
        if len(kinds) > 1:
            raise ValueError(
                f"{name} mixes column names and indices, got {selector!r}; give only "
                "names or only integer indices."
            )
    if values.ndim != 1 or (values.size == 0 and values.dtype.kind != "b"):
        raise ValueError(f"{name} must be a non-empty 1-D list of columns, got {selector!r}.")
    if values.dtype.kind == "b":
        if values.size != n_features:
            raise ValueError(
                f"{name} is a boolean mask of length {values.size}, but X has {n_features} "
                "columns."
            )
        columns = np.flatnonzero(values)
    elif values.dtype.kind in "iu":
        bad = values[(values < -n_features) | (values >= n_features)]
        if bad.size:
            raise ValueError(
                f"{name} contains column index {bad[0]}, but X has {n_features} columns."
            )
        columns = values % n_features
        _refuse_repeated(columns, values, name)
        columns = np.sort(columns)
    elif values.dtype.kind in "UO":
        if feature_names is None:
            raise ValueError(
                f"{name} names columns ({', '.join(map(str, values[:3]))}) but X has no "
                "column names (a DataFrame whose column names are all strings); pass such "
                "a DataFrame or integer indices."
            )
        missing = [str(v) for v in values if v not in set(feature_names)]
        if missing:
            raise ValueError(f"{name} names columns that X does not have: {missing}.")
        _refuse_repeated(values, values, name)
        columns = np.flatnonzero(np.isin(feature_names, values))
    else:
        raise TypeError(
            f"{name} must hold column indices, column names or a boolean mask, got values "
            f"of dtype {values.dtype}."
        )
    if columns.size == 0:
        raise ValueError(f"{name} selects no column.")
    return columns.astype(np.int64)


def _refuse_repeated(columns, given, name):
    """Refuse a column selected twice (``[0, 0]``, ``[0, -3]`` of 3 columns, ``["a", "a"]``).

    Parameters
    ----------
    columns : ndarray of shape (n_selected,)
        The selected columns, as non-negative indices or as names.
    given : ndarray of shape (n_selected,)
        The selector's values as given, for the message.
    name : str
        The parameter's name.
    """
    unique, counts = np.unique(columns, return_counts=True)
    if np.any(counts > 1):
        column = unique[np.argmax(counts > 1)]
        shown = " and ".join(repr(given[i].item()) for i in np.flatnonzero(columns == column)[:2])
        raise ValueError(
            f"{name} selects column {column.item()!r} more than once ({shown}); give each "
            "column once."
        )


def check_sparse_input(X, parts, all_accept_sparse):
    """Refuse a sparse X when an expert or the gate needs dense input.

    Parameters
    ----------
    X : array-like or sparse matrix
        The training inputs as given.
    parts : list of estimators
        The experts, then the gate.
    all_accept_sparse : bool
        Whether every part accepts sparse input.
    """
    if all_accept_sparse:
        return
    if sp.issparse(X):
        what, dense = "a sparse matrix", "X.toarray()"
    elif is_sparse_frame(X):
        # scikit-learn makes it a sparse matrix: a dense-only expert failed inside
        # the EM loop.
        what, dense = "a DataFrame of sparse columns", "X.sparse.to_dense()"
    else:
        return
    names = sorted({type(part).__name__ for part in parts
                    if not (hasattr(part, "__sklearn_tags__")
                            and get_tags(part).input_tags.sparse)})
    raise TypeError(
        f"X is {what}, but {', '.join(names)} needs dense input. Pass {dense}, or use "
        "experts and a gate that accept sparse input (linear models and SoftmaxGate)."
    )


def is_sparse_frame(X):
    """Whether X is a DataFrame whose columns are all sparse (scikit-learn's validation
    makes it a sparse matrix).

    Parameters
    ----------
    X : object
        The inputs as given.

    Returns
    -------
    sparse : bool
    """
    dtypes = getattr(X, "dtypes", None)
    return (hasattr(X, "sparse") and getattr(X, "ndim", 0) == 2 and dtypes is not None
            and len(dtypes) > 0 and all(isinstance(dtype, pd.SparseDtype) for dtype in dtypes))


def check_responsibilities(init, n_samples, n_experts):
    """Validate an initial responsibility array given as ``init``.

    Parameters
    ----------
    init : array-like of shape (n_samples, n_experts)
        Non-negative rows that sum to one, or are all zero (a row left out of
        the first M-step); not every row zero.
    n_samples : int
        Number of training rows.
    n_experts : int
        Number of experts.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_experts)
        A float64 copy of ``init``.
    """
    resp = np.array(init, dtype=np.float64)
    if resp.shape != (n_samples, n_experts):
        raise ValueError(
            "init must be 'auto', 'kmeans', 'random', 'emem' or an array of shape "
            f"(n_samples, n_experts)=({n_samples}, {n_experts}), got an array of "
            f"shape {resp.shape}."
        )
    if not np.all(np.isfinite(resp)) or np.any(resp < 0):
        raise ValueError("init array must hold finite, non-negative responsibilities.")
    sums = resp.sum(axis=1)
    if not np.all(np.isclose(sums, 1.0, rtol=0, atol=1e-6) | (sums == 0)):
        raise ValueError("Each row of the init array must sum to 1 (or be all zeros, to "
                         "leave the row out of the first M-step).")
    if not sums.any():
        raise ValueError("init array is all zeros: at least one row must sum to 1.")
    return resp


def int32_sparse_indices(X):
    """A CSR matrix with 32-bit indices when they fit, sharing X's data.

    Many scikit-learn estimators refuse sparse matrices with 64-bit indices
    (``accept_large_sparse=False``) although nothing in them needs 64 bits;
    the mixture passes its rows to every expert and the gate, so it gives
    them 32-bit indices whenever the matrix allows. X is not modified.

    Parameters
    ----------
    X : sparse matrix in CSR format

    Returns
    -------
    X : sparse matrix in CSR format
        X itself when its indices are already 32-bit or need 64 bits.
    """
    limit = np.iinfo(np.int32).max
    if (X.indices.dtype == np.int32 and X.indptr.dtype == np.int32) or max(
            X.nnz, *X.shape) > limit:
        return X
    return sp.csr_matrix((X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)),
                         shape=X.shape, copy=False)


def pipeline_final_step(estimator):
    """The estimator at the end of (nested) Pipelines: ``estimator`` itself otherwise.

    Parameters
    ----------
    estimator : estimator
        An expert, possibly a Pipeline.

    Returns
    -------
    final : estimator
    """
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator
