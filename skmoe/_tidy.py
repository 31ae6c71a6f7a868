"""The preprocessing :func:`skmoe.compare.compare` puts in front of every model.

Data as a new user brings it, a CSV file read by pandas, has string or
categorical columns and missing values. Every compared model gets the same
preprocessing, fitted on each training fold (never on the test fold):

* string, categorical and other non-numeric columns are one-hot encoded, a
  missing value being a category of its own and a value unseen in the
  training fold encoded as zeros;
* numeric missing values are left to the models that handle them
  (scikit-learn's ``allow_nan`` tag: the trees, forests, bagged trees and
  histogram gradient boosting) and replaced by the training fold's column
  median for the others.

Numeric data without missing values is passed to the models as it is.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils import get_tags
from sklearn.utils.validation import check_array

from ._validation import check_no_datetimes

__all__ = ["Preprocessing", "check_features", "describe", "preprocessed", "takes_nan"]


class Preprocessing(NamedTuple):
    """What the features need before the models see them."""

    #: Non-numeric columns to one-hot encode: name -> number of distinct values.
    categorical: dict
    #: Numeric columns with missing values: name -> number of missing values.
    missing: dict


def _is_numeric(dtype):
    return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


def _check_not_identifier(column, name):
    """Refuse a non-numeric column whose values never repeat (an identifier).

    One-hot encoded, such a column gives every training row a feature of its
    own, and no held-out row's value is ever seen in training (it is all
    zeros): it cannot help a prediction, only let a model memorise its
    training rows (a row number or name read as a feature, silently).
    """
    values = column.dropna()
    if values.size >= 2 and values.nunique() == values.size:
        raise ValueError(
            f"X's column {name!r} is not numeric and holds a different value on every row "
            f"(e.g. {values.iloc[0]!r}, {values.iloc[1]!r}), as an identifier does: one-hot "
            "encoded, no held-out row's value would be seen in training. Leave the column "
            "out, or give it as numbers if it measures something."
        )


def check_features(X):
    """Validate X and find what it needs before the models see it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The features; a DataFrame may have non-numeric columns.

    Returns
    -------
    X : ndarray or pandas.DataFrame
        A float64 array when every column is numeric; otherwise a DataFrame
        whose numeric columns are float64 and whose other columns hold
        strings (and NaN where a value is missing).
    preprocessing : Preprocessing
        The columns to encode and those with missing values.
    """
    check_no_datetimes(X, "X")
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items") and not all(
            _is_numeric(dtype) for _, dtype in dtypes.items()):
        check_array(X, dtype=None, ensure_all_finite=False, input_name="X",
                    ensure_min_samples=2)
        frame = pd.DataFrame(X).copy()
        frame.columns = [str(c) for c in frame.columns]
        categorical = {}
        for name, dtype in frame.dtypes.items():
            if _is_numeric(dtype):
                frame[name] = frame[name].astype(np.float64)
            else:
                column = frame[name]
                frame[name] = column.astype(str).astype(object).where(column.notna(), np.nan)
                _check_not_identifier(frame[name], name)
                categorical[name] = int(frame[name].nunique(dropna=False))
        numeric = frame.drop(columns=list(categorical)).to_numpy(dtype=np.float64)
        if np.isinf(numeric).any():
            raise ValueError("Input X contains infinity in a numeric column; drop or fill those "
                             "values first.")
        missing = {name: int(count) for name, count
                   in frame.drop(columns=list(categorical)).isna().sum().items() if count}
        return frame, Preprocessing(categorical, missing)
    X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", input_name="X",
                    ensure_min_samples=2)
    names = (list(map(str, dtypes.index)) if dtypes is not None and hasattr(dtypes, "index")
             else [f"x{i}" for i in range(X.shape[1])])
    counts = np.isnan(X).sum(axis=0)
    missing = {names[i]: int(counts[i]) for i in np.flatnonzero(counts)}
    return X, Preprocessing({}, missing)


def takes_nan(estimator):
    """Whether the estimator handles missing values itself (every step of a Pipeline)."""
    if isinstance(estimator, Pipeline):
        return all(takes_nan(step) for _, step in estimator.steps
                   if step is not None and step != "passthrough")
    return bool(get_tags(estimator).input_tags.allow_nan)


def preprocessed(estimator, preprocessing):
    """The estimator behind the steps the features need (the estimator itself if none).

    Parameters
    ----------
    estimator : estimator
        A model to compare.
    preprocessing : Preprocessing
        From :func:`check_features`.

    Returns
    -------
    estimator : estimator
        ``estimator``, or a Pipeline of a one-hot encoder (when there are
        non-numeric columns), a median imputer (when there are missing
        numeric values and the model does not take them) and ``estimator``.
    """
    steps = []
    if preprocessing.categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps.append(ColumnTransformer([("onehot", encoder, list(preprocessing.categorical))],
                                       remainder="passthrough"))
    if preprocessing.missing and not takes_nan(estimator):
        steps.append(SimpleImputer(strategy="median", keep_empty_features=True))
    return make_pipeline(*steps, estimator) if steps else estimator


def describe(one_hot, missing, imputed, native):
    """Lines saying what was done to the features, for the terminal and the report.

    Parameters
    ----------
    one_hot : dict of str to int
        The encoded columns and their numbers of values.
    missing : dict of str to int
        The numeric columns with missing values and their counts.
    imputed, native : list of str
        Names of the models given the imputer, and of those that take
        missing values themselves.

    Returns
    -------
    lines : list of str
        Empty when the features went to the models as they were.
    """
    lines = []
    if one_hot:
        columns = ", ".join(f"{name!r} ({count} values)" for name, count in one_hot.items())
        lines.append(f"one-hot encoded for every model: {columns}")
    if missing:
        columns = ", ".join(f"{name!r} ({count} rows)" for name, count in missing.items())
        parts = []
        if imputed:
            parts.append("replaced by the training fold's column median for "
                         + ", ".join(imputed))
        if native:
            verb = "handles" if len(native) == 1 else "handle"
            parts.append(f"left to {', '.join(native)}, which {verb} them")
        lines.append(f"missing values in {columns}: {'; '.join(parts)}")
    return lines
