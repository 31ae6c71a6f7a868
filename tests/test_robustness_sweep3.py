"""Bad input through further doors: column selectors, missing class labels, dates,
a stream's first batch, and the Displays' arguments (docs/robustness.rst)."""

import re

import dask.array as da
import matplotlib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    SGDClassifier,
    SGDRegressor,
)

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, SoftmaxGate
from skmoe.__main__ import main
from skmoe.compare import compare
from skmoe.datasets import make_switching_regression
from skmoe.inspection import explain_gate, select_n_experts, standard_errors
from skmoe.metrics import mean_log_likelihood
from skmoe.plotting import (
    ConvergenceDisplay,
    ExpertFitDisplay,
    GateDisplay,
    GateExplanationDisplay,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    X, y = make_switching_regression(60, 3, 2, noise=0.2, random_state=0)
    return X, y, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.8)


@pytest.fixture(scope="module")
def frame(data):
    X, y, _ = data
    X = pd.DataFrame(X * [1, 1, 100], columns=["a", "b", "c"])
    return X, y, MixtureOfExpertsRegressor(n_experts=2, max_iter=5, random_state=0).fit(X, y)


# ------------------------------------------------------------- column selectors
# Each was silently de-duplicated, or an empty boolean mask read as "no gate
# inputs"; a mix of names and indices blamed a column named "1".
@pytest.mark.parametrize("parameter", ["gate_features", "expert_features"])
@pytest.mark.parametrize("selector, message", [
    ([0, 0], r"selects column 0 more than once \(0 and 0\); give each column once"),
    ([0, -3], r"selects column 0 more than once \(0 and -3\)"),
    (np.array([], dtype=bool), "is a boolean mask of length 0, but X has 3 columns"),
    ([0, "a"], r"mixes column names and indices, got \[0, 'a'\]; give only names or only "
               "integer indices"),
])
def test_column_selectors_refuse_repeats_empty_masks_and_mixtures(data, parameter, selector,
                                                                  message):
    X, y, _ = data
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, **{parameter: selector})
    with pytest.raises(ValueError, match=f"{parameter} {message}"):
        model.fit(X, y)


@pytest.mark.parametrize("selector, message", [
    (["a", "a"], r"selects column 'a' more than once \('a' and 'a'\)"),
    (["a", 1], r"mixes column names and indices, got \['a', 1\]"),
])
def test_column_names_of_a_frame_refuse_repeats_and_indices_among_them(frame, selector,
                                                                       message):
    X, y, _ = frame
    with pytest.raises(ValueError, match=f"gate_features {message}"):
        MixtureOfExpertsRegressor(n_experts=2, max_iter=3, gate_features=selector).fit(X, y)


def test_names_on_columns_that_are_not_strings_say_what_names_are(data):
    X, y, _ = data
    tuples = pd.DataFrame(X, columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"),
                                                                ("b", "x")]))
    with pytest.raises(ValueError, match=r"gate_features names columns \(a\) but X has no "
                       r"column names \(a DataFrame whose column names are all strings\)"):
        MixtureOfExpertsRegressor(n_experts=2, max_iter=3, gate_features=["a"]).fit(tuples, y)


def test_a_stream_refuses_a_column_selected_twice(data):
    X, y, _ = data
    model = MixtureOfExpertsRegressor(SGDRegressor(random_state=0), n_experts=2,
                                      expert_features=[1, -2])
    with pytest.raises(ValueError, match="expert_features selects column 1 more than once"):
        model.partial_fit(X, y)


def test_distinct_selectors_still_fit_in_any_order(data):
    X, y, _ = data
    params = dict(n_experts=2, max_iter=5, random_state=0)
    given = MixtureOfExpertsRegressor(gate_features=[2, -3], expert_features=[True, True, False],
                                      **params).fit(X, y)
    sorted_ = MixtureOfExpertsRegressor(gate_features=[0, 2], expert_features=[0, 1],
                                        **params).fit(X, y)
    assert_array_equal(given.gate_features_, [0, 2])
    assert_array_equal(given.expert_features_, [0, 1])
    assert_allclose(given.predict(X), sorted_.predict(X), rtol=0, atol=0)
    # The empty list (not an empty mask) is still a gate without inputs.
    constant = MixtureOfExpertsRegressor(gate_features=[], **params).fit(X, y)
    assert constant.gate_features_.size == 0


# ---------------------------------------------------------- the estimators' score
@pytest.mark.parametrize("estimator", ["regressor", "classifier"])
@pytest.mark.parametrize("weights, message", [
    (np.r_[-1.0, np.full(59, 0.01)], "Negative values in data passed to `sample_weight`"),
    (np.r_[np.nan, np.ones(59)], "sample_weight must be finite, got NaN or inf values."),
    (np.zeros(60), "Sample weights must contain at least one non-zero number."),
])
def test_score_refuses_weights_as_fit_does(data, estimator, weights, message):
    # scikit-learn's scores took a weight of -1: an accuracy of 1.05.
    X, y, labels = data
    model, target = ((MixtureOfExpertsRegressor, y) if estimator == "regressor"
                     else (MixtureOfExpertsClassifier, labels > 0))
    fitted = model(n_experts=2, max_iter=5, random_state=0).fit(X, target)
    with pytest.raises(ValueError, match=re.escape(message)):
        fitted.score(X, target, sample_weight=weights)


@pytest.mark.parametrize("estimator", ["regressor", "classifier"])
def test_score_of_weights_whose_sum_overflows_is_the_score_not_nan(data, estimator):
    X, y, labels = data
    model, target = ((MixtureOfExpertsRegressor, y) if estimator == "regressor"
                     else (MixtureOfExpertsClassifier, labels > 0))
    fitted = model(n_experts=2, max_iter=5, random_state=0).fit(X, target)
    weights = np.linspace(1, 2, len(y))
    # Their sum is beyond float64 (they gave NaN); scaled by a power of two, exactly.
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(weights * 2.0**1020))
    assert fitted.score(X, target, sample_weight=weights * 2.0**1020) == fitted.score(
        X, target, sample_weight=weights)


# ------------------------------------------------------------ missing class labels
# NumPy cannot sort None or pd.NA among labels ("'<' not supported", "boolean value
# of NA is ambiguous"); NaN in an object array was blamed on an unnamed "Input".
def _labels_with_a_gap(kind, y):
    names = np.array(["u", "v", "w"], dtype=object)[y]
    if kind == "None":
        names[4] = None
        return names
    if kind == "NaN in objects":
        names[4] = np.nan
        return names
    if kind == "pd.NA in strings":
        labels = pd.Series(names, dtype="string")
    elif kind == "NaN in a Categorical":
        labels = pd.Series(pd.Categorical(names))
    else:
        labels = pd.Series(y > 0, dtype="boolean")
    labels[4] = pd.NA if kind != "NaN in a Categorical" else np.nan
    return labels


GAPS = ["None", "NaN in objects", "pd.NA in strings", "NaN in a Categorical",
        "pd.NA in booleans"]
MISSING = (r"y holds 1 missing label\(s\) \(None, NaN or pd.NA\), the first at position 4: "
           "every row needs a class. Drop those rows or give them a class.")


@pytest.mark.parametrize("kind", GAPS)
def test_classifier_refuses_missing_labels_naming_y(data, kind):
    X, _, y = data
    with pytest.raises(ValueError, match=MISSING):
        MixtureOfExpertsClassifier(n_experts=2, max_iter=3).fit(X, _labels_with_a_gap(kind, y))


@pytest.mark.parametrize("kind", GAPS)
def test_scores_of_a_classifier_refuse_missing_labels(data, kind):
    X, _, y = data
    labels = _labels_with_a_gap(kind, y)
    complete = labels.copy()
    complete[4] = labels[5]
    fitted = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, random_state=0).fit(X, complete)
    for score in (fitted.score_samples, fitted.log_likelihood, fitted.score,
                  lambda X, y: mean_log_likelihood(fitted, X, y)):
        with pytest.raises(ValueError, match=MISSING):
            score(X, labels)
    # A classifier without a density of its own: its predict_proba at the labels.
    other = LogisticRegression().fit(X, complete)
    with pytest.raises(ValueError, match=MISSING):
        mean_log_likelihood(other, X, labels)


def test_a_stream_refuses_missing_labels_in_y_and_in_classes(data):
    X, _, y = data
    model = MixtureOfExpertsClassifier(SGDClassifier(loss="log_loss", random_state=0),
                                       n_experts=2, random_state=0)
    with pytest.raises(ValueError, match=MISSING):
        model.partial_fit(X, _labels_with_a_gap("None", y), classes=["u", "v", "w"])
    with pytest.raises(ValueError, match=r"classes holds 1 missing label\(s\) .* the first at "
                       "position 3"):
        model.partial_fit(X, y, classes=[0, 1, 2, None])
    model.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes holds 1 missing label\(s\)"):
        model.partial_fit(X, y, classes=[0, 1, None])


def test_groups_with_pd_na_are_refused_as_missing(data):
    # ``label != label`` of pd.NA raised "boolean value of NA is ambiguous".
    X, y, _ = data
    groups = pd.Series(np.repeat(np.arange(12), 5).astype(str), dtype="string")
    groups[0] = pd.NA
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, gate_features=[])
    with pytest.raises(ValueError) as error:
        model.fit(X, y, groups=groups)
    assert str(error.value) == "groups must not contain missing values (None, NaN or pd.NA)."


def _mixed_labels(y):
    labels = np.array(["u", "v", "w"], dtype=object)[y]
    labels[labels == "v"] = 1
    return labels


MIXED = re.escape("y mixes labels of types that cannot be ordered (int, str); give labels of "
                  "one type, e.g. all strings.")


def test_labels_of_several_types_are_refused_in_skmoes_words(data):
    # NumPy's sort: '<' not supported between instances of 'int' and 'str'.
    X, _, y = data
    with pytest.raises(TypeError, match=MIXED):
        MixtureOfExpertsClassifier(n_experts=2, max_iter=3).fit(X, _mixed_labels(y))
    strings = np.array(["u", "v", "w"])[y]
    fitted = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, random_state=0).fit(X, strings)
    other = LogisticRegression().fit(X, strings)
    for score in (fitted.score_samples, fitted.log_likelihood, fitted.score,
                  lambda X, y: mean_log_likelihood(fitted, X, y),
                  lambda X, y: mean_log_likelihood(other, X, y)):
        with pytest.raises(TypeError, match=MIXED):
            score(X, _mixed_labels(y))
    stream = MixtureOfExpertsClassifier(SGDClassifier(loss="log_loss", random_state=0),
                                        n_experts=2)
    with pytest.raises(TypeError, match=re.escape("classes mixes labels of types that cannot be "
                                                  "ordered (int, str)")):
        stream.partial_fit(X, strings, classes=np.array(["u", 1, "w"], dtype=object))
    with pytest.raises(TypeError, match="y mixes labels of types that cannot be ordered"):
        MixtureOfExpertsClassifier(n_experts=2, max_iter=3).fit(
            da.from_array(X, chunks=20), da.from_array(_mixed_labels(y), chunks=20))
    with pytest.raises(TypeError, match=MIXED):
        compare(X, _mixed_labels(y), {"logistic": LogisticRegression()}, cv=2)


def test_softmax_gate_refuses_missing_labels_and_labels_of_several_types(data):
    # "Unknown label type: unknown" and NumPy's '<' not supported.
    X, _, y = data
    with pytest.raises(ValueError, match=MISSING):
        SoftmaxGate().fit(X, _labels_with_a_gap("None", y))
    with pytest.raises(TypeError, match=MIXED):
        SoftmaxGate().fit(X, _mixed_labels(y))


def test_a_fit_on_dask_arrays_refuses_missing_labels(data):
    # The classes' np.unique failed: '<' not supported between 'NoneType' and 'str'.
    X, _, y = data
    labels = da.from_array(_labels_with_a_gap("None", y), chunks=20)
    with pytest.raises(ValueError, match=MISSING):
        MixtureOfExpertsClassifier(n_experts=2, max_iter=3).fit(da.from_array(X, chunks=20),
                                                                labels)


def test_select_n_experts_checks_groups_as_fit_does(data):
    # Its own np.unique of the groups failed: "boolean value of NA is ambiguous".
    X, y, _ = data
    groups = pd.Series(np.repeat(np.arange(12), 5).astype(str), dtype="string")
    groups[0] = pd.NA
    with pytest.raises(ValueError) as error:
        select_n_experts(MixtureOfExpertsRegressor(max_iter=3, gate_features=[]), X, y,
                         n_experts=[1, 2], groups=groups)
    assert str(error.value) == "groups must not contain missing values (None, NaN or pd.NA)."


# -------------------------------------------------------------- a stream's start
def test_a_streams_first_batch_needs_a_row_per_expert(data):
    # k-means starts the experts, one cluster each: it blamed its own n_clusters.
    X, y, _ = data
    model = MixtureOfExpertsRegressor(SGDRegressor(random_state=0), n_experts=3)
    with pytest.raises(ValueError, match="Expected n_samples >= n_experts, got n_experts=3, "
                       "n_samples=2"):
        model.partial_fit(X[:2], y[:2])
    assert not hasattr(model, "experts_")
    # Later batches may be smaller than the number of experts.
    model.partial_fit(X, y).partial_fit(X[:1], y[:1])
    assert np.all(np.isfinite(model.predict(X)))


# -------------------------------------------------------- dates where numbers go
# NumPy read datetime64 and timedelta64 as counts of their own unit: a model fitted
# on days took seconds at prediction without a word. pandas' periods, intervals and
# time-zone dates failed in float() without naming the column.
def _with_column(X, values):
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["when"] = values
    return frame


DATE_COLUMNS = {
    "datetime64": lambda n: pd.date_range("2020-01-01", periods=n),
    "with a time zone": lambda n: pd.date_range("2020-01-01", periods=n, tz="UTC"),
    "timedelta64": lambda n: pd.to_timedelta(np.arange(n), unit="D"),
    "period": lambda n: pd.period_range("2020-01-01", periods=n, freq="D"),
    "interval": lambda n: pd.arrays.IntervalArray.from_breaks(np.arange(n + 1)),
}


@pytest.mark.parametrize("estimator", ["regressor", "classifier"])
@pytest.mark.parametrize("kind", DATE_COLUMNS)
def test_date_columns_of_X_are_refused_naming_the_column(data, estimator, kind):
    X, y, labels = data
    model, target = ((MixtureOfExpertsRegressor, y) if estimator == "regressor"
                     else (MixtureOfExpertsClassifier, labels))
    X = _with_column(X, DATE_COLUMNS[kind](len(y)))
    with pytest.raises(TypeError, match=re.escape(
            f"X's column 'when' holds {X['when'].dtype} values, which are not numbers")):
        model(n_experts=2, max_iter=3).fit(X, target)


@pytest.mark.parametrize("kind", DATE_COLUMNS)
def test_compare_refuses_date_columns_naming_the_column(data, kind):
    # datetime64 and timedelta64 columns failed in NumPy's type promotion; periods,
    # intervals and time-zone dates were one-hot encoded, one column per distinct date.
    X, y, _ = data
    X = _with_column(X, DATE_COLUMNS[kind](len(y)))
    with pytest.raises(TypeError, match=re.escape(
            f"X's column 'when' holds {X['when'].dtype} values, which are not numbers")):
        compare(X, y, {"linear": LinearRegression()}, cv=3)


@pytest.mark.parametrize("dates", [
    pd.date_range("2020-01-01", periods=60).strftime("%Y-%m-%d"),
    pd.date_range("2020-01-01", periods=60, freq="h").strftime("%Y-%m-%dT%H:%M:%S"),
])
def test_the_command_line_refuses_a_csv_column_of_dates(data, tmp_path, capsys, dates):
    # Read as text, they were one-hot encoded, one category per date.
    X, y, _ = data
    path = tmp_path / "days.csv"
    frame = pd.DataFrame({"x": X[:, 0], "when": dates, "y": y})
    frame.loc[5, "when"] = None
    frame.to_csv(path, index=False)
    args = ["compare", "--csv", str(path), "--target", "y", "--estimators", "linear",
            "--cv", "2", "--quiet"]
    assert main(args) == 2
    assert (f"days.csv: column 'when' holds dates (e.g. {dates[0]!r}), which would be read as "
            "text, one category per date; convert them to numbers in the unit you mean (e.g. "
            "days since a date), or leave the column out.") in capsys.readouterr().err
    frame.drop(columns="when").to_csv(path, index=False)
    assert main(args) == 0


def test_dates_are_refused_in_a_numpy_X_at_fit_predict_and_in_a_stream(data):
    X, y, _ = data
    days = np.arange(len(y)).astype("datetime64[D]")[:, None]
    message = r"X holds datetime64\[D\] values"
    with pytest.raises(TypeError, match=message):
        MixtureOfExpertsRegressor(n_experts=2, max_iter=3).fit(days, y)
    with pytest.raises(TypeError, match=message):
        MixtureOfExpertsRegressor(SGDRegressor(), n_experts=2).partial_fit(days, y)
    # Fitted on the days as numbers, the model is not given seconds as if they were days.
    fitted = MixtureOfExpertsRegressor(n_experts=2, max_iter=3).fit(
        days.astype(np.int64).astype(float), y)
    with pytest.raises(TypeError, match=r"X holds datetime64\[s\] values"):
        fitted.predict(days.astype("datetime64[s]"))


@pytest.mark.parametrize("target", [
    pd.Series(pd.date_range("2020-01-01", periods=60)),
    np.arange(60).astype("timedelta64[D]"),
])
def test_regressor_refuses_dates_and_durations_as_y(data, target):
    X, y, _ = data
    message = re.escape(f"y holds {target.dtype} values, which are not numbers")
    with pytest.raises(TypeError, match=message):
        MixtureOfExpertsRegressor(n_experts=2, max_iter=3).fit(X, target)
    fitted = MixtureOfExpertsRegressor(n_experts=2, max_iter=3).fit(X, y)
    for score in (fitted.score_samples, fitted.score, fitted.log_likelihood):
        with pytest.raises(TypeError, match=message):
            score(X, target)


def test_a_fit_on_dask_arrays_refuses_dates_as_y(data):
    # They were fitted as counts of days.
    X, _, _ = data
    days = da.from_array(np.arange(len(X)).astype("datetime64[D]"), chunks=20)
    with pytest.raises(TypeError, match=re.escape("y holds datetime64[D] values")):
        MixtureOfExpertsRegressor(n_experts=2, max_iter=3).fit(da.from_array(X, chunks=20),
                                                               days)


def test_dates_remain_class_labels(data):
    X, _, y = data
    dates = np.array(["2020-01-01", "2021-06-30", "2022-12-31"], dtype="datetime64[D]")[y]
    fitted = MixtureOfExpertsClassifier(n_experts=1, max_iter=5, random_state=0).fit(X, dates)
    assert_array_equal(fitted.classes_, np.unique(dates))
    assert fitted.predict(X).dtype == dates.dtype


# ------------------------------------------------------------------- the Displays
def test_gate_display_refuses_columns_other_than_the_fitted_ones(frame):
    # The grid of feature "a" took the range of column "c" (100 times wider) and the
    # estimator's names were put on the reordered columns, silently.
    X, _, fitted = frame
    display = GateDisplay.from_estimator(fitted, X, features=("a", "b"), grid_resolution=5)
    assert_allclose(display.grid[0][0], np.linspace(X["a"].min(), X["a"].max(), 5))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        GateDisplay.from_estimator(fitted, X[["c", "b", "a"]], features=("a", "b"))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        ExpertFitDisplay.from_estimator(fitted, X[["c", "b", "a"]], X["a"], feature="a")


@pytest.mark.parametrize("features, message", [
    ((0.7, 1), "feature must be a column index (an integer) or a column name, got 0.7."),
    ((True, 0), "feature must be a column index (an integer) or a column name, got True."),
    ((1, 1), "features must name two different features, got [1, 1] (both column 1)."),
    (("b", 1), "features must name two different features, got ['b', 1] (both column 1)."),
])
def test_gate_display_refuses_features_that_are_not_two_columns(frame, features, message):
    X, _, fitted = frame
    with pytest.raises(ValueError) as error:
        GateDisplay.from_estimator(fitted, X, features=features)
    assert str(error.value) == message


@pytest.mark.parametrize("grid_resolution", [0, 1, 2.5, True])
def test_displays_refuse_grids_of_fewer_than_two_points(frame, grid_resolution):
    X, y, fitted = frame
    message = f"grid_resolution must be an integer of at least 2, got {grid_resolution!r}."
    with pytest.raises(ValueError) as error:
        GateDisplay.from_estimator(fitted, X, features=("a", "b"),
                                   grid_resolution=grid_resolution)
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        ExpertFitDisplay.from_estimator(fitted, X, y, grid_resolution=grid_resolution)
    assert str(error.value) == message


@pytest.mark.parametrize("rows", [0, -3, 2.5])
def test_gate_explanation_display_refuses_rows_that_are_not_a_count(frame, rows):
    # 2.5 was read as 2; 0 and -3 left explain_gate an empty X to blame.
    X, _, fitted = frame
    with pytest.raises(ValueError) as error:
        GateExplanationDisplay.from_estimator(fitted, X, rows=rows)
    assert str(error.value) == ("rows must be a positive integer (the first rows) or positions "
                                f"in X, got {rows!r}.")


@pytest.mark.parametrize("display, args", [
    (GateDisplay, ()), (ConvergenceDisplay, None), (GateExplanationDisplay, ()),
])
def test_displays_refuse_what_is_not_a_fitted_mixture(frame, display, args):
    # Both ended in an AttributeError (init_lower_bounds_, gate_features_, predict_gate).
    X, y, _ = frame
    args = () if args is None else (X,)
    with pytest.raises(NotFittedError):
        display.from_estimator(MixtureOfExpertsRegressor(), *args)
    with pytest.raises(TypeError, match=f"{display.__name__} needs a fitted "
                       "MixtureOfExpertsRegressor or MixtureOfExpertsClassifier; got "
                       "LinearRegression."):
        display.from_estimator(LinearRegression().fit(X, y), *args)


# ----------------------------------------------------------- inspection's arguments
def test_explain_gate_refuses_true_as_an_expert(frame):
    # True is an Integral equal to 1: it explained expert 1.
    X, _, fitted = frame
    with pytest.raises(ValueError) as error:
        explain_gate(fitted, X, expert=True)
    assert str(error.value) == "expert must be an expert's index, an integer in [0, 1], got True."
    assert_allclose(explain_gate(fitted, X, expert=np.int64(1))["log_odds"],
                    explain_gate(fitted, X, expert=1)["log_odds"])


@pytest.mark.parametrize("params, message", [
    ({"n_bootstrap": 2.5}, "n_bootstrap must be an integer >= 2 (the spread of one refit is not "
                           "defined), got 2.5; 200 or more gives standard errors to about 5%."),
    ({"n_bootstrap": 0}, "n_bootstrap must be an integer >= 2 (the spread of one refit is not "
                         "defined), got 0; 200 or more gives standard errors to about 5%."),
    ({"confidence": 1.5}, "confidence must be strictly between 0 and 1, got 1.5."),
    ({"confidence": np.nan}, "confidence must be strictly between 0 and 1, got nan."),
])
def test_standard_errors_check_the_bootstraps_parameters_with_either_method(data, params,
                                                                            message):
    # The information method took them without a word.
    X, y, _ = data
    fitted = MixtureOfExpertsRegressor(LinearRegression(tol=0.0), n_experts=2, max_iter=5,
                                       random_state=0).fit(X, y)
    for method in ("information", "bootstrap"):
        with pytest.raises(ValueError) as error:
            standard_errors(fitted, X, y, method=method, **params)
        assert str(error.value) == message


def test_compare_names_the_range_of_cv_once(data):
    X, y, _ = data
    with pytest.raises(ValueError) as error:
        compare(X, y, {"linear": LinearRegression()}, cv=1)
    assert str(error.value) == (
        "The 'cv' parameter of compare must be an int in the range [2, inf), an object "
        "implementing 'split' and 'get_n_splits', an iterable or None. Got 1 instead.")


# ----------------------------------------------------------------- array layouts
def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _memory_mapped(X, path):
    mapped = np.lib.format.open_memmap(path / "X.npy", mode="w+", dtype=X.dtype,
                                       shape=X.shape)
    mapped[:] = X
    mapped.flush()
    return np.load(path / "X.npy", mmap_mode="r")


LAYOUTS = {
    "read-only": lambda X, path: _read_only(X),
    "non-contiguous": lambda X, path: np.repeat(X, 2, axis=1)[:, ::2],
    "Fortran order": lambda X, path: np.asfortranarray(X),
    "big-endian": lambda X, path: X.astype(">f8"),
    "memory-mapped": _memory_mapped,
    "nullable Float64": lambda X, path: pd.DataFrame(X).astype("Float64"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_array_layouts_give_the_model_of_the_plain_array(data, layout, tmp_path):
    X, y, labels = data
    labels = labels > 0
    params = dict(n_experts=2, max_iter=5, random_state=0)
    given = LAYOUTS[layout](X, tmp_path)
    plain = MixtureOfExpertsRegressor(**params).fit(X, y).predict(X)
    assert_array_equal(MixtureOfExpertsRegressor(**params).fit(given, y).predict(given), plain)
    plain = MixtureOfExpertsClassifier(**params).fit(X, labels).predict_proba(X)
    assert_array_equal(
        MixtureOfExpertsClassifier(**params).fit(given, labels).predict_proba(given), plain)


@pytest.mark.parametrize("layout", ["csr_array", "csc_array", "coo_array", "lil_array",
                                    "dok_array"])
def test_sparse_arrays_give_the_model_of_a_sparse_matrix(data, layout):
    X, y, _ = data
    import scipy.sparse as sp

    params = dict(n_experts=2, max_iter=5, random_state=0)
    matrix = MixtureOfExpertsRegressor(**params).fit(sp.csr_matrix(X), y)
    array = MixtureOfExpertsRegressor(**params).fit(getattr(sp, layout)(X), y)
    assert_allclose(array.predict(getattr(sp, layout)(X)), matrix.predict(X), rtol=1e-12)


@pytest.mark.parametrize("estimator", [MixtureOfExpertsRegressor, MixtureOfExpertsClassifier])
def test_zero_jobs_are_refused_with_the_other_parameters(data, estimator):
    # joblib's "n_jobs == 0 in Parallel has no meaning" came after the checks of X.
    X, y, _ = data
    with pytest.raises(ValueError, match=re.escape(
            f"The 'n_jobs' parameter of {estimator.__name__} must be None, an int in the "
            "range (-inf, -1] or an int in the range [1, inf). Got 0 instead.")):
        estimator(n_experts=2, n_jobs=0).fit(X, y > 0)


def test_a_dataframe_of_sparse_columns_is_sparse_input(data):
    # scikit-learn makes it a sparse matrix: a dense-only expert failed inside the EM
    # loop (a RuntimeError naming the expert), and at prediction in scikit-learn's words.
    import scipy.sparse as sp

    X, y, _ = data
    X = np.where(X > 0.5, X, 0.0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).astype(pd.SparseDtype("float64", 0.0))
    message = re.escape("X is a DataFrame of sparse columns, but HistGradientBoostingRegressor "
                        "needs dense input. Pass X.sparse.to_dense(), or use experts and a gate "
                        "that accept sparse input")
    trees = MixtureOfExpertsRegressor(HistGradientBoostingRegressor(max_iter=5), n_experts=2,
                                      max_iter=3, random_state=0)
    with pytest.raises(TypeError, match=message):
        trees.fit(frame, y)
    trees.fit(X, y)
    with pytest.raises(TypeError, match=message):
        trees.predict(frame)
    # Experts and a gate that take sparse input fit it as the sparse matrix it is.
    params = dict(n_experts=2, max_iter=5, random_state=0)
    matrix = MixtureOfExpertsRegressor(**params).fit(sp.csr_matrix(X), y)
    assert_allclose(MixtureOfExpertsRegressor(**params).fit(frame, y).predict(frame),
                    matrix.predict(X), rtol=1e-12)
