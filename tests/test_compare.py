"""Behaviour of skmoe.compare: the baselines, the cross-validated table and the verdicts."""

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_backend
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, RegressorMixin, clone, is_classifier, is_regressor
from sklearn.ensemble import BaggingRegressor, RandomForestClassifier, StackingRegressor
from sklearn.linear_model import BayesianRidge, LinearRegression, LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import skmoe._tidy
from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.compare import (
    FAMILIES,
    check_target,
    compare,
    default_baselines,
    estimator_family,
    paired_lead,
    verdicts,
)
from skmoe.datasets import make_gated_classification, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NAMES = [
    "linear", "tree", "bagged_trees", "bagged_linear", "random_forest", "adaboost",
    "gradient_boosting", "hist_gradient_boosting", "stacking", "moe_linear", "moe_trees",
]


@pytest.fixture(scope="module")
def regression_data():
    return make_switching_regression(n_samples=150, n_features=3, n_experts=2, noise=0.2,
                                     random_state=0)


@pytest.fixture(scope="module")
def classification_data():
    return make_gated_classification(n_samples=180, n_features=3, n_experts=2, n_classes=3,
                                     random_state=0)


def _small_moe_regressor():
    return MixtureOfExpertsRegressor(n_experts=2, max_iter=10, random_state=0)


class _RecordingRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean and records which rows it was trained on."""

    seen = []

    def __init__(self, tag="a"):
        self.tag = tag

    def fit(self, X, y):
        type(self).seen.append((self.tag, tuple(np.round(X[:, 0], 12))))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.mean_)


class _BrokenRegressor(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        raise ArithmeticError("cannot fit these rows")

    def predict(self, X):  # pragma: no cover - never fitted
        return np.zeros(X.shape[0])


class _WarningRegressor(LinearRegression):
    def fit(self, X, y, sample_weight=None):
        warnings.warn("something odd in the data", UserWarning, stacklevel=2)
        return super().fit(X, y, sample_weight=sample_weight)


# ------------------------------------------------------------------ baselines
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_default_baselines_cover_every_family(task):
    baselines = default_baselines(task)
    assert list(baselines) == NAMES
    families = {estimator_family(estimator) for estimator in baselines.values()}
    assert families == set(FAMILIES)
    check = is_regressor if task == "regression" else is_classifier
    assert all(check(estimator) for estimator in baselines.values())
    stacking = baselines["stacking"]
    assert [name for name, _ in stacking.estimators] == ["linear", "tree", "knn"]


def test_default_baselines_seeding_and_n_experts():
    first = default_baselines("regression", n_experts=4, random_state=3)
    second = default_baselines("regression", n_experts=4, random_state=3)
    other = default_baselines("regression", n_experts=4, random_state=4)
    assert first["random_forest"].random_state == second["random_forest"].random_state
    assert first["random_forest"].random_state != other["random_forest"].random_state
    assert first["moe_trees"].n_experts == 4
    assert first["moe_linear"][-1].n_experts == 4


def test_default_baselines_rejects_unknown_task():
    with pytest.raises(ValueError, match="'task' parameter"):
        default_baselines("clustering")


@pytest.mark.parametrize(
    "estimator, family",
    [
        (LinearRegression(), "single model"),
        (make_pipeline(StandardScaler(), RandomForestClassifier()), "bagging"),
        (BaggingRegressor(), "bagging"),
        (StackingRegressor([("lr", LinearRegression())]), "stacking"),
        (make_pipeline(StandardScaler(), MixtureOfExpertsClassifier()), "mixture of experts"),
    ],
)
def test_estimator_family(estimator, family):
    assert estimator_family(estimator) == family


# ---------------------------------------------------------------------- task
@pytest.mark.parametrize(
    "y, task",
    [
        ([0.5, 1.5, 2.0, 3.25], "regression"),
        (np.arange(40, dtype=float), "regression"),  # integral floats, many values
        ([0, 1, 1, 0], "classification"),
        ([1.0, 2.0, 2.0, 1.0], "classification"),  # integral floats, few values
        (np.arange(10).repeat(3), "classification"),  # ten digits are ten classes
        (np.arange(12).repeat(3), "regression"),  # a count with 12 values is a number
        (np.arange(12.0).repeat(3), "regression"),
        (["cat", "dog", "cat"], "classification"),
        ([True, False, True], "classification"),
    ],
)
def test_check_target_infers_the_task(y, task):
    assert check_target(y)[1] == task


def test_check_target_refuses_a_constant_target():
    with pytest.raises(ValueError, match=r"single value \('a'\)"):
        check_target(["a", "a", "a"])


def test_check_target_refuses_labels_for_regression():
    with pytest.raises(ValueError, match="needs a numeric target"):
        check_target(["a", "b"], task="regression")
    with pytest.raises(ValueError, match="needs class labels"):
        check_target([0.5, 1.25, 2.0], task="classification")


# ------------------------------------------------------------- the table
class _SleepyRegressor(LinearRegression):
    """A linear regression whose fit or predict first sleeps a known time."""

    def __init__(self, fit_sleep=0.0, predict_sleep=0.0):
        super().__init__()
        self.fit_sleep = fit_sleep
        self.predict_sleep = predict_sleep

    def fit(self, X, y, sample_weight=None):
        time.sleep(self.fit_sleep)
        return super().fit(X, y, sample_weight=sample_weight)

    def predict(self, X):
        time.sleep(self.predict_sleep)
        return super().predict(X)


def test_compare_times_the_fit_and_the_prediction_apart(regression_data):
    # A sleep is a lower bound on the time measured around it: each column must hold
    # at least the sleep of its own phase (swapped or missing timers fall below it).
    X, y = regression_data
    results = compare(X, y, {"slow_fit": _SleepyRegressor(fit_sleep=0.05),
                             "slow_predict": _SleepyRegressor(predict_sleep=0.05)},
                      cv=2, scoring=["r2"])
    assert results.loc["slow_fit", "fit_time"] >= 0.05
    assert results.loc["slow_predict", "predict_time"] >= 0.05
    assert np.isfinite(results[["fit_time", "predict_time"]].to_numpy()).all()


def test_compare_regression_table(regression_data):
    X, y = regression_data
    estimators = {"linear": LinearRegression(), "tree": DecisionTreeRegressor(max_depth=3),
                  "moe": _small_moe_regressor()}
    results = compare(X, y, estimators, cv=3)
    assert list(results.columns) == [
        "family", "r2_mean", "r2_std", "rmse_mean", "rmse_std", "log_likelihood_mean",
        "log_likelihood_std", "fit_time", "predict_time", "density",
    ]
    assert results.index.name == "estimator"
    assert set(results.index) == set(estimators)
    assert np.all(np.diff(results["r2_mean"].to_numpy()) <= 0)  # best first
    assert results.loc["moe", "density"] == "model"
    assert results.loc["linear", "density"] == "Gaussian, out-of-fold residuals"
    assert results.loc["moe", "family"] == "mixture of experts"
    attrs = results.attrs
    assert attrs["task"] == "regression"
    assert attrs["primary"] == "r2"
    assert attrs["n_splits"] == 3
    assert attrs["n_samples"] == 150
    folds = np.array(attrs["fold_scores"]["linear"]["r2"])
    assert folds.shape == (3,)
    assert_allclose(results.loc["linear", "r2_mean"], folds.mean())
    assert_allclose(results.loc["linear", "r2_std"], folds.std(ddof=1))


def test_compare_equals_cross_val_score(regression_data):
    X, y = regression_data
    cv = KFold(4, shuffle=True, random_state=1)
    results = compare(X, y, {"linear": LinearRegression()}, cv=cv, scoring=["r2", "rmse"])
    expected = cross_val_score(LinearRegression(), X, y, cv=cv, scoring="r2")
    assert_allclose(results.loc["linear", "r2_mean"], expected.mean())
    assert_allclose(results.loc["linear", "r2_std"], expected.std(ddof=1))
    rmse = -cross_val_score(LinearRegression(), X, y, cv=cv,
                            scoring="neg_root_mean_squared_error")
    assert_allclose(results.loc["linear", "rmse_mean"], rmse.mean())


def test_max_error_is_the_largest_absolute_error_of_each_fold(regression_data):
    X, y = regression_data
    cv = KFold(4, shuffle=True, random_state=1)
    results = compare(X, y, {"linear": LinearRegression()}, cv=cv, scoring=["max_error"])
    expected = -cross_val_score(LinearRegression(), X, y, cv=cv, scoring="neg_max_error")
    assert_allclose(results.attrs["fold_scores"]["linear"]["max_error"], expected)
    assert results.attrs["greater_is_better"] == {"max_error": False}


def test_every_estimator_sees_the_same_folds(regression_data):
    X, y = regression_data
    _RecordingRegressor.seen = []
    results = compare(X, y, {"a": _RecordingRegressor("a"), "b": _RecordingRegressor("b")},
                      cv=3, scoring="r2", random_state=5)
    seen_a = sorted(rows for tag, rows in _RecordingRegressor.seen if tag == "a")
    seen_b = sorted(rows for tag, rows in _RecordingRegressor.seen if tag == "b")
    assert len(seen_a) == 3
    assert seen_a == seen_b
    assert_array_equal(results.attrs["fold_scores"]["a"]["r2"],
                       results.attrs["fold_scores"]["b"]["r2"])
    # The folds are shuffled: the first training fold is not the first rows in order.
    assert seen_a[0] != tuple(np.round(X[: len(seen_a[0]), 0], 12))


def test_random_state_sets_the_folds(regression_data):
    X, y = regression_data
    estimators = {"linear": LinearRegression()}
    first = compare(X, y, estimators, cv=3, scoring="r2", random_state=0)
    again = compare(X, y, estimators, cv=3, scoring="r2", random_state=0)
    other = compare(X, y, estimators, cv=3, scoring="r2", random_state=1)
    assert first.attrs["fold_scores"] == again.attrs["fold_scores"]
    assert first.attrs["fold_scores"] != other.attrs["fold_scores"]


def test_sorting_follows_the_direction_of_the_primary_score(regression_data):
    X, y = regression_data
    estimators = {"mean": _RecordingRegressor(), "linear": LinearRegression(),
                  "moe": _small_moe_regressor()}
    by_rmse = compare(X, y, estimators, cv=3, scoring=["rmse", "r2"])
    assert by_rmse.attrs["primary"] == "rmse"
    assert np.all(np.diff(by_rmse["rmse_mean"].to_numpy()) >= 0)  # lower is better
    assert by_rmse.index[-1] == "mean"
    by_loglik = compare(X, y, estimators, cv=3, scoring="log_likelihood")
    assert list(by_loglik.columns[1:3]) == ["log_likelihood_mean", "log_likelihood_std"]
    assert np.all(np.diff(by_loglik["log_likelihood_mean"].to_numpy()) <= 0)


# ------------------------------------------------------- log-likelihoods
def _one_split(n, seed=0):
    order = np.random.RandomState(seed).permutation(n)
    return [(order[: 2 * n // 3], order[2 * n // 3:])]


def test_mixture_log_likelihood_is_its_own_density(regression_data):
    X, y = regression_data
    cv = _one_split(len(y))
    train, test = cv[0]
    estimators = {"moe": _small_moe_regressor(),
                  "scaled_moe": make_pipeline(StandardScaler(), _small_moe_regressor())}
    results = compare(X, y, estimators, cv=cv, scoring="log_likelihood")
    expected = _small_moe_regressor().fit(X[train], y[train]).score_samples(X[test], y[test])
    assert_allclose(results.loc["moe", "log_likelihood_mean"], expected.mean())
    scaler = StandardScaler().fit(X[train])
    scaled = _small_moe_regressor().fit(scaler.transform(X[train]), y[train])
    assert_allclose(results.loc["scaled_moe", "log_likelihood_mean"],
                    scaled.score_samples(scaler.transform(X[test]), y[test]).mean())


def test_plug_in_gaussian_uses_the_training_residuals(regression_data):
    X, y = regression_data
    cv = _one_split(len(y))
    train, test = cv[0]
    results = compare(X, y, {"linear": LinearRegression()}, cv=cv, scoring="log_likelihood",
                      residual_variance="train")
    model = LinearRegression().fit(X[train], y[train])
    variance = np.mean((y[train] - model.predict(X[train])) ** 2)
    residual = y[test] - model.predict(X[test])
    expected = np.mean(-0.5 * np.log(2 * np.pi * variance) - residual**2 / (2 * variance))
    assert_allclose(results.loc["linear", "log_likelihood_mean"], expected)
    assert results.loc["linear", "density"] == "Gaussian, in-sample residuals"


def test_out_of_fold_variance_does_not_flatter_an_overfitted_tree(regression_data):
    # A full-depth tree has (almost) no in-sample residuals: a Gaussian with that variance
    # is wildly overconfident on new rows; out-of-fold residuals give an honest spread.
    X, y = regression_data
    tree = {"tree": DecisionTreeRegressor(random_state=0)}
    honest = compare(X, y, tree, cv=3, scoring="log_likelihood", residual_variance="cv")
    naive = compare(X, y, tree, cv=3, scoring="log_likelihood", residual_variance="train")
    assert honest.loc["tree", "log_likelihood_mean"] > -5
    assert naive.loc["tree", "log_likelihood_mean"] < honest.loc["tree", "log_likelihood_mean"] - 10


def test_predictive_std_gives_the_density(regression_data):
    X, y = regression_data
    cv = _one_split(len(y))
    train, test = cv[0]
    results = compare(X, y, {"bayes": BayesianRidge()}, cv=cv, scoring="log_likelihood")
    mean, std = BayesianRidge().fit(X[train], y[train]).predict(X[test], return_std=True)
    expected = np.mean(-0.5 * np.log(2 * np.pi * std**2) - (y[test] - mean) ** 2 / (2 * std**2))
    assert_allclose(results.loc["bayes", "log_likelihood_mean"], expected)
    assert results.loc["bayes", "density"] == "predictive std"


# ------------------------------------------------------------ classification
def test_compare_classification_scores(classification_data):
    X, y = classification_data
    cv = _one_split(len(y), seed=1)
    train, test = cv[0]
    estimators = {"logistic": LogisticRegression(), "tree": DecisionTreeClassifier(max_depth=3),
                  "moe": MixtureOfExpertsClassifier(n_experts=2, max_iter=10, random_state=0)}
    results = compare(X, y, estimators, cv=cv,
                      scoring=["accuracy", "log_loss", "brier", "roc_auc", "log_likelihood"])
    assert results.attrs["task"] == "classification"
    assert "density" not in results.columns
    assert np.all(np.diff(results["accuracy_mean"].to_numpy()) <= 0)
    proba = LogisticRegression().fit(X[train], y[train]).predict_proba(X[test])
    row = results.loc["logistic"]
    assert_allclose(row["accuracy_mean"], np.mean(proba.argmax(axis=1) == y[test]))
    assert_allclose(row["log_loss_mean"], log_loss(y[test], proba))
    assert_allclose(row["log_likelihood_mean"], -row["log_loss_mean"])
    assert_allclose(row["brier_mean"], brier_score_loss(y[test], proba, labels=[0, 1, 2]))
    assert_allclose(row["roc_auc_mean"], roc_auc_score(y[test], proba, multi_class="ovr"))
    assert np.isnan(row["accuracy_std"])  # one fold: no spread


def test_binary_classifier_without_predict_proba(classification_data):
    X, y = classification_data
    y = (y == 0).astype(int)
    results = compare(X, y, {"svm": LinearSVC(), "logistic": LogisticRegression()}, cv=3)
    assert np.isnan(results.loc["svm", "log_loss_mean"])
    assert np.isnan(results.loc["svm", "brier_mean"])
    assert 0.5 < results.loc["svm", "roc_auc_mean"] <= 1.0  # from decision_function
    assert np.isfinite(results.loc["logistic", "brier_mean"])


def test_string_labels_and_dataframe_input(classification_data):
    X, y = classification_data
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    labels = np.array(["red", "green", "blue"])[y]
    results = compare(frame, labels, {"logistic": LogisticRegression()}, cv=3)
    assert results.attrs["task"] == "classification"
    assert 0 < results.loc["logistic", "accuracy_mean"] <= 1


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"cv": 1}, ValueError, "'cv' parameter of compare"),
        ({"cv": 500}, ValueError, "need at least 500 rows"),
        ({"scoring": "accuracy"}, ValueError, "'accuracy', which is not a regression score"),
        ({"scoring": ["r2", "r2"]}, ValueError, "names a score twice"),
        ({"estimators": LinearRegression()}, TypeError, "wrap it in a list"),
        ({"estimators": {}}, ValueError, "estimators is empty"),
        ({"estimators": {"lr": LogisticRegression()}}, TypeError, "is a classifier"),
        ({"estimators": {"x": "not an estimator"}}, TypeError, r"estimators\['x'\]"),
        ({"estimators": [("a", LinearRegression()), ("a", LinearRegression())]}, ValueError,
         "repeated names"),
        # Refused before any work, as joblib would only refuse it at the first fit.
        ({"n_jobs": 0}, ValueError, r"The 'n_jobs' parameter of compare must be None, an int "
                                    r"in the range \(-inf, -1\] or an int in the range "
                                    r"\[1, inf\)"),
        ({"task": "ranking"}, ValueError, "'task' parameter"),
        ({"residual_variance": "oob"}, ValueError, "'residual_variance' parameter"),
    ],
)
def test_compare_refuses_bad_parameters(regression_data, kwargs, error, match):
    X, y = regression_data
    kwargs = {"estimators": {"linear": LinearRegression()}, **kwargs}
    with pytest.raises(error, match=match):
        compare(X, y, **kwargs)


def test_compare_refuses_bad_data(regression_data):
    X, y = regression_data
    estimators = {"linear": LinearRegression()}
    with pytest.raises(ValueError, match="Input X contains infinity"):
        compare(np.where(np.arange(150)[:, None] == 3, np.inf, X), y, estimators)
    frame = pd.DataFrame({"x": X[:, 0], "city": ["a", "b", "c"] * 50})
    frame.loc[7, "x"] = -np.inf
    with pytest.raises(ValueError, match="Input X contains infinity in a numeric column"):
        compare(frame, y, estimators)
    with pytest.raises(ValueError, match="X has 150, y has 149"):
        compare(X, y[:-1], estimators)
    with pytest.raises(ValueError, match="y contains NaN"):
        compare(X, np.where(np.arange(150) == 3, np.nan, y), estimators)
    with pytest.raises(ValueError, match="single value"):
        compare(X, np.ones(150), estimators)
    with pytest.raises(TypeError, match="not a classifier, but the task is classification"):
        compare(X, (y > 0).astype(int), estimators)


def test_a_failing_estimator_is_named(regression_data):
    X, y = regression_data
    with pytest.raises(RuntimeError, match="'broken' failed on fold 0: ArithmeticError"):
        compare(X, y, {"linear": LinearRegression(), "broken": _BrokenRegressor()}, cv=3)


def test_warnings_of_the_fits_are_recorded_once(regression_data):
    X, y = regression_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape
        results = compare(X, y, {"odd": _WarningRegressor(), "linear": LinearRegression()},
                          cv=3)
    assert results.attrs["warnings"] == {"odd": ["UserWarning: something odd in the data"]}


def test_parallel_jobs_give_the_same_table(regression_data):
    X, y = regression_data
    estimators = {"linear": LinearRegression(),
                  "tree": DecisionTreeRegressor(max_depth=3, random_state=0)}
    serial = compare(X, y, estimators, cv=3)
    # Threads: the results come back out of order just the same, without starting processes.
    with parallel_backend("threading"):
        parallel = compare(X, y, estimators, cv=3, n_jobs=2)
    assert list(serial.index) == list(parallel.index)
    assert serial.attrs["fold_scores"] == parallel.attrs["fold_scores"]


def test_progress_bar_goes_to_stderr(regression_data, capsys):
    X, y = regression_data
    compare(X, y, {"linear": LinearRegression()}, cv=2, progress=True)
    captured = capsys.readouterr()
    assert "1 estimators x 2 folds" in captured.err
    assert captured.out == ""


# ------------------------------------------------------------------ verdicts
def _results(means, families, folds, score="r2", greater=True):
    """A results table as compare() makes it, from per-fold scores."""
    rows = {name: {"family": family, f"{score}_mean": np.mean(folds[name]),
                   f"{score}_std": np.std(folds[name], ddof=1), "fit_time": 1.0}
            for name, family in zip(means, families)}
    results = pd.DataFrame.from_dict(rows, orient="index")
    results.attrs = {"primary": score, "scoring": [score],
                     "fold_scores": {name: {score: list(v)} for name, v in folds.items()},
                     "greater_is_better": {score: greater}}
    return results


def test_verdicts_when_a_mixture_wins():
    folds = {"moe": [0.9, 0.8, 0.7], "forest": [0.8, 0.8, 0.5], "linear": [0.1, 0.2, 0.3]}
    results = _results(folds, ["mixture of experts", "bagging", "single model"], folds)
    lines = verdicts(results)
    assert len(lines) == 4  # three families and the verdict
    assert lines[0].startswith("mixture of experts") and lines[0].endswith("<- winner")
    # winner - forest per fold: 0.1, 0.0, 0.2 -> lead 0.1, sd 0.1 -> 1.0 sd
    assert "winner leads by 0.100 (1.0 sd, a modest gap)" in lines[1]
    assert lines[-1].startswith("Verdict: a mixture of experts wins on R²: moe leads the best "
                                "other family (forest, bagging) by 0.100")


def test_verdicts_do_not_call_a_lead_within_the_noise_a_win():
    folds = {"moe": [0.71, 0.60, 0.52], "forest": [0.70, 0.62, 0.50]}
    results = _results(folds, ["mixture of experts", "bagging"], folds)
    lines = verdicts(results)
    assert lines[0].endswith("<- winner")
    assert lines[-1].startswith("Verdict: no clear winner on R²: the mixture moe is ahead of "
                                "forest (bagging) by 0.003")
    assert lines[-1].endswith("so a mixture of experts does not clearly win.")


def test_verdicts_say_when_a_mixture_does_not_win():
    folds = {"boost": [0.5, 0.6, 0.7], "moe": [0.4, 0.45, 0.6], "lin": [0.1, 0.1, 0.1]}
    results = _results(folds, ["boosting", "mixture of experts", "single model"], folds)
    lines = verdicts(results)
    # boost - moe per fold: 0.1, 0.15, 0.1 -> lead 0.117, sd 0.029 -> 4.0 sd
    assert lines[-1] == ("Verdict: a mixture of experts does not win on R²: boost (boosting) is "
                         "best, the best mixture (moe) is 0.117 behind (4.0 sd, a clear gap).")
    close = {"boost": [0.5, 0.6, 0.7], "moe": [0.5, 0.6, 0.69]}
    lines = verdicts(_results(close, ["boosting", "mixture of experts"], close))
    assert lines[-1].startswith("Verdict: no clear winner on R²: boost (boosting) is ahead of "
                                "the best mixture (moe) by 0.003")
    assert lines[-1].endswith("within the fold-to-fold noise); a mixture of experts does not "
                              "win.")


def test_verdicts_on_a_tie():
    folds = {"lin": [0.9, 0.8, 0.7], "moe": [0.9, 0.8, 0.7]}
    lines = verdicts(_results(folds, ["single model", "mixture of experts"], folds))
    assert "winner leads by 0.000 (tied on every fold)" in lines[1]
    assert lines[-1] == ("Verdict: no clear winner on R²: lin (single model) and the best "
                         "mixture (moe) tie (tied on every fold); a mixture of experts does not "
                         "win.")


def test_verdicts_judge_lower_is_better_scores():
    folds = {"moe": [1.0, 1.1, 1.2], "forest": [2.0, 2.1, 2.2]}
    results = _results(folds, ["mixture of experts", "bagging"], folds, score="rmse",
                       greater=False)
    lines = verdicts(results)
    assert "best: moe" in lines[0]
    assert "winner leads by 1.000 (ahead by the same amount on every fold)" in lines[1]


def test_verdicts_refuse_other_tables():
    with pytest.raises(TypeError, match="DataFrame returned by"):
        verdicts({"r2_mean": 1})
    folds = {"a": [1.0, 2.0]}
    with pytest.raises(ValueError, match="score must be one of"):
        verdicts(_results(folds, ["bagging"], folds), score="accuracy")


def test_compare_and_verdicts_on_the_default_baselines(classification_data):
    X, y = classification_data
    baselines = default_baselines("classification")
    subset = {name: baselines[name] for name in ("linear", "tree", "moe_linear")}
    subset["moe_linear"].set_params(mixtureofexpertsclassifier__max_iter=30)
    results = compare(X, y, subset, cv=2)
    assert set(results["family"]) == {"single model", "mixture of experts"}
    lines = verdicts(results)
    assert len(lines) == 3
    # The data come from a gated mixture of linear models: the mixture wins, by its lead over
    # the better single model in the table (both verdicts start "a mixture of experts").
    runner = results.loc[["linear", "tree"], "accuracy_mean"].idxmax()
    lead = results.loc["moe_linear", "accuracy_mean"] - results.loc[runner, "accuracy_mean"]
    assert lines[-1].startswith("Verdict: a mixture of experts wins on accuracy: moe_linear leads "
                                f"the best other family ({runner}, single model) by {lead:.3f} (")


def test_a_search_over_a_mixture_is_a_mixture_scored_by_its_own_density(regression_data):
    X, y = regression_data
    search = GridSearchCV(make_pipeline(StandardScaler(), _small_moe_regressor()),
                          {"mixtureofexpertsregressor__n_experts": [1, 2]}, cv=2)
    assert estimator_family(search) == "mixture of experts"
    cv = KFold(3, shuffle=True, random_state=0)
    results = compare(X, y, {"search": search}, cv=cv, scoring=["log_likelihood"])
    assert results.loc["search", "density"] == "model"
    train, test = next(cv.split(X))
    fitted = clone(search).fit(X[train], y[train])
    moe = fitted.best_estimator_[-1]
    expected = moe.score_samples(fitted.best_estimator_[0].transform(X[test]), y[test]).mean()
    assert_allclose(results.attrs["fold_scores"]["search"]["log_likelihood"][0], expected)


def test_check_target_names_the_target_as_told():
    with pytest.raises(ValueError, match=r"^target column 'price' has a single value \(3\): "
                                         "there is nothing to predict or compare.$"):
        check_target([3, 3, 3], input_name="target column 'price'")
    with pytest.raises(ValueError, match="^target column 'price' contains missing values"):
        check_target(np.array(["a", None, "b"], dtype=object),
                     input_name="target column 'price'")


# ------------------------------------------------------------ paired_lead
def test_paired_lead_is_the_mean_per_fold_difference_in_its_standard_deviations():
    folds = {"moe": [0.9, 0.8, 0.7], "forest": [0.8, 0.8, 0.5]}
    results = _results(folds, ["mixture of experts", "bagging"], folds)
    lead, n_sd = paired_lead(results, "moe", "forest", "r2")
    diff = np.subtract(folds["moe"], folds["forest"])
    assert_allclose(lead, diff.mean())
    assert_allclose(n_sd, diff.mean() / diff.std(ddof=1))
    # The primary score by default, and the other way round is the negative.
    assert paired_lead(results, "moe", "forest") == (lead, n_sd)
    assert_allclose(paired_lead(results, "forest", "moe"), (-lead, -n_sd))


def test_paired_lead_is_positive_for_the_better_model_of_a_lower_is_better_score():
    folds = {"moe": [1.0, 1.2, 1.1], "forest": [2.0, 2.1, 2.3]}
    results = _results(folds, ["mixture of experts", "bagging"], folds, score="log_loss",
                       greater=False)
    lead, n_sd = paired_lead(results, "moe", "forest")
    diff = np.subtract(folds["forest"], folds["moe"])
    assert_allclose(lead, diff.mean())
    assert_allclose(n_sd, diff.mean() / diff.std(ddof=1))
    assert n_sd > 0


def test_paired_lead_without_spread_and_on_bad_input():
    same = {"a": [0.5, 0.6, 0.7], "b": [0.4, 0.5, 0.6], "c": [0.5, 0.6, 0.7]}
    results = _results(same, ["bagging", "boosting", "stacking"], same)
    lead, n_sd = paired_lead(results, "a", "b")
    assert_allclose(lead, 0.1)
    assert n_sd == np.inf  # ahead by the same amount on every fold
    lead, n_sd = paired_lead(results, "a", "c")
    assert lead == 0.0 and np.isnan(n_sd)
    with pytest.raises(ValueError, match=r"'d' is not an estimator of results; they are "
                                         r"\['a', 'b', 'c'\]"):
        paired_lead(results, "a", "d")
    with pytest.raises(ValueError, match="score must be one of the scores in results"):
        paired_lead(results, "a", "b", "accuracy")
    with pytest.raises(TypeError, match="DataFrame returned by"):
        paired_lead({"r2_mean": 1}, "a", "b")


def test_paired_lead_agrees_with_the_verdicts(regression_data):
    X, y = regression_data
    results = compare(X, y, {"linear": LinearRegression(), "moe": _small_moe_regressor()},
                      cv=3, scoring=["r2"])
    lead, n_sd = paired_lead(results, results.index[0], results.index[1])
    assert f"winner leads by {lead:.3f} ({n_sd:.1f} sd" in verdicts(results)[1]


# ------------------------------------------------------------ untidy data
def _untidy(regression_data):
    """The regression data as a user's table: a string column and missing values."""
    X, y = regression_data
    rng = np.random.RandomState(3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["city"] = rng.choice(["paris", "rome", "oslo"], size=len(y))
    frame.loc[[5, 17, 40, 41, 99], "b"] = np.nan
    frame.loc[[8, 60], "city"] = np.nan
    frame.loc[77, "city"] = "lima"  # a value seen in one fold only
    return frame, y + 2.0 * (frame["city"] == "rome").to_numpy()


def test_a_text_column_whose_values_never_repeat_is_refused(monkeypatch):
    # One-hot encoded, an identifier gives each training row a feature of its own and
    # every held-out row zeros.
    X, y = make_switching_regression(n_samples=400, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["name"] = [f"row {i}" for i in range(len(frame))]
    frame.loc[3, "name"] = np.nan  # a missing value is not a repeat
    cv = KFold(5, shuffle=True, random_state=0)
    estimators = {"linear": LinearRegression(),
                  "moe": MixtureOfExpertsRegressor(n_experts=2, random_state=0)}
    with pytest.raises(ValueError, match=r"X's column 'name' is not numeric and holds a "
                                         r"different value on every row \(e.g. 'row 0', "
                                         r"'row 1'\), as an identifier does"):
        compare(frame, y, estimators, cv=cv)
    # What it did: the mixture's ridge experts fitted the training rows' indicators,
    # and were far worse held out (least squares' minimum-norm solution was not).
    without = compare(frame.drop(columns="name"), y, estimators, cv=cv)
    monkeypatch.setattr(skmoe._tidy, "_check_not_identifier", lambda column, name: None)
    with_name = compare(frame, y, estimators, cv=cv)
    assert without.loc["moe", "r2_mean"] > with_name.loc["moe", "r2_mean"] + 0.1
    monkeypatch.undo()
    # A text column whose values repeat is a category, encoded as before.
    frame["name"] = [f"group {i % 5}" for i in range(len(frame))]
    results = compare(frame, y, estimators, cv=cv)
    assert results.attrs["preprocessing"]["one_hot"] == {"name": 5}


def test_untidy_features_get_the_same_preprocessing_in_front_of_every_model(regression_data):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    frame, y = _untidy(regression_data)
    cv = KFold(3, shuffle=True, random_state=2)
    estimators = {"linear": LinearRegression(),
                  "boosting": HistGradientBoostingRegressor(max_iter=20, random_state=0)}
    results = compare(frame, y, estimators, cv=cv, scoring=["r2", "rmse"])
    assert results.attrs["preprocessing"] == {
        "one_hot": {"city": 5}, "missing": {"b": 5}, "imputed": ["linear"]}

    def encoder():
        return ColumnTransformer(
            [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
              ["city"])], remainder="passthrough")

    imputed = make_pipeline(encoder(), SimpleImputer(strategy="median"), LinearRegression())
    expected = cross_val_score(imputed, frame, y, cv=cv, scoring="r2")
    assert_allclose(results.attrs["fold_scores"]["linear"]["r2"], expected)
    # Histogram gradient boosting takes the missing values as they are.
    native = make_pipeline(encoder(), HistGradientBoostingRegressor(max_iter=20, random_state=0))
    expected = cross_val_score(native, frame, y, cv=cv, scoring="r2")
    assert_allclose(results.attrs["fold_scores"]["boosting"]["r2"], expected)
    # The encoded city matters: the linear model is better with it than without.
    without = cross_val_score(make_pipeline(SimpleImputer(strategy="median"),
                                            LinearRegression()),
                              frame.drop(columns="city"), y, cv=cv, scoring="r2")
    assert results.loc["linear", "r2_mean"] > without.mean() + 0.1


def test_numeric_missing_values_and_the_density_of_an_imputed_model(regression_data):
    X, y = regression_data
    X = X.copy()
    X[[3, 30, 90], 1] = np.nan
    results = compare(X, y, {"linear": LinearRegression(), "moe": _small_moe_regressor(),
                             "tree": DecisionTreeRegressor(max_depth=3, random_state=0)}, cv=3)
    assert results.attrs["preprocessing"] == {
        "one_hot": {}, "missing": {"x1": 3}, "imputed": ["linear", "moe"]}
    assert results.loc["moe", "density"] == "model"
    assert results[["r2_mean", "log_likelihood_mean"]].notna().all().all()


def test_clean_numeric_data_goes_to_the_models_as_it_is(regression_data):
    X, y = regression_data
    results = compare(X, y, {"linear": LinearRegression()}, cv=3, scoring="r2")
    assert results.attrs["preprocessing"] == {"one_hot": {}, "missing": {}, "imputed": []}


def test_progress_lines_when_stderr_is_not_a_terminal(regression_data, capsys):
    X, y = regression_data
    compare(X, y, {"linear": LinearRegression(), "tree": DecisionTreeRegressor(max_depth=2)},
            cv=2, scoring="r2", progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "compare: 2 estimators x 2 folds"
    assert lines[1].startswith("compare: [1/2] linear: 2 folds, ")
    assert lines[2].startswith("compare: [2/2] tree: 2 folds, ")
    assert len(lines) == 3


def test_progress_bar_on_a_terminal(regression_data, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    compare(*regression_data, {"linear": LinearRegression()}, cv=2, scoring="r2",
            progress=True)
    text = terminal.getvalue()
    assert "1 estimators x 2 folds:   0%|" in text
    assert "0/2 [" in text  # a bar over the fits
    assert "compare: [1/1]" not in text  # no log lines on a terminal


@pytest.mark.parametrize("dataset", ["switching_regression", "diabetes"])
def test_the_demos_mixtures_converge_without_warnings(dataset):
    # make demo runs compare on these two data sets: its mixtures converge within
    # their iteration limit, so no warning is printed (none is silenced either).
    from skmoe.datasets import load_dataset

    X, y = load_dataset(dataset, return_X_y=True)
    mixtures = {name: estimator for name, estimator in default_baselines("regression").items()
                if name.startswith("moe_")}
    results = compare(X, y, mixtures)
    assert results.attrs["warnings"] == {}


def _no_fits(*args, **kwargs):
    raise AssertionError("an estimator was cross-validated before the folds were checked")


def test_scores_undefined_on_the_folds_are_refused_before_any_fit(monkeypatch):
    # Each gave a NaN mean score in the table: R² on test folds of one row, ROC AUC
    # on test folds without a class (StratifiedKFold's warning was silenced).
    monkeypatch.setattr("skmoe.compare.cross_validate_each", _no_fits)
    X, y = make_switching_regression(6, 2, 2, random_state=0)
    with pytest.raises(ValueError, match="r2 needs at least 2 rows in every test fold, but "
                                         "the smallest of the 6 folds has 1 row"):
        compare(X, y, estimators={"lr": LinearRegression()}, cv=6, scoring=["rmse", "r2"])
    X, y = make_gated_classification(60, 2, 2, 3, random_state=0)
    y = y.copy()
    y[:2] = 3
    assert np.sum(y == 3) == 2
    with pytest.raises(ValueError, match=r"roc_auc needs every class in every test fold, but "
                                         r"class \d \(2 rows\) is not in fold \d\. Use at most "
                                         r"as many folds as the rarest class has rows"):
        compare(X, y, estimators={"lr": LogisticRegression()}, cv=5,
                scoring=["accuracy", "roc_auc"])
    monkeypatch.undo()
    # With as many folds as the rarest class has rows, every fold has every class.
    results = compare(X, y, estimators={"lr": LogisticRegression()}, cv=2,
                      scoring=["accuracy", "roc_auc"])
    assert np.isfinite(results["roc_auc_mean"]).all()


@pytest.mark.parametrize("scale", [1e-160, 1e160])
def test_targets_whose_squares_the_scores_cannot_hold_are_refused(scale, monkeypatch):
    # R², RMSE and the log-likelihood squared them to inf (or 0): NaN in the table.
    X, y = make_switching_regression(60, 2, 2, random_state=0)
    monkeypatch.setattr("skmoe.compare.cross_validate_each", _no_fits)
    with pytest.raises(ValueError, match=r"y has a standard deviation of .*, outside "
                                         r"\[1e-152, 1e\+152\]: r2, rmse, log_likelihood "
                                         r"square it, beyond float64 \(NaN scores\)"):
        compare(X, y * scale, estimators={"lr": LinearRegression()}, cv=3)
    monkeypatch.undo()
    # Scores that do not square y are computed, in y's units.
    scaled = compare(X, y * scale, estimators={"lr": LinearRegression()}, cv=3,
                     scoring=["mae"])
    plain = compare(X, y, estimators={"lr": LinearRegression()}, cv=3, scoring=["mae"])
    assert_allclose(scaled["mae_mean"] / scale, plain["mae_mean"], rtol=1e-9)


def test_whole_numbers_beyond_the_integers_are_a_regression_target():
    # Five distinct multiples of 1e160 were taken for class labels by task="auto", then
    # refused: "task='classification' needs class labels, got continuous values".
    y = np.arange(40) % 5 * 1e160
    assert check_target(y)[1] == "regression"
    assert check_target(np.arange(40) % 5 * 1.0)[1] == "classification"


@pytest.mark.parametrize("empty", ["training", "test"])
def test_folds_without_rows_are_refused_before_any_fit(empty, monkeypatch):
    # An empty test fold was refused as one whose "R² of one row is undefined", or
    # failed in predict after the fit; an empty training fold failed in the fit.
    monkeypatch.setattr("skmoe.compare.cross_validate_each", _no_fits)
    X, y = make_switching_regression(40, 2, 2, random_state=0)
    rows, none = np.arange(40), np.zeros(40, dtype=bool)
    folds = [(rows[:20], rows[20:]), (rows, none) if empty == "test" else (none, rows)]
    for scoring in (["r2"], ["mae"]):
        with pytest.raises(ValueError, match=f"cv's fold 1 has an empty {empty} set: every "
                                             "fold needs rows to fit on and rows to score"):
            compare(X, y, estimators={"lr": LinearRegression()}, cv=folds, scoring=scoring)


class _DensityMissingOneRow(RegressorMixin, BaseEstimator):
    """Least squares with a unit Gaussian density, except no density at all at rows
    whose last column is 1."""

    def fit(self, X, y):
        self.model_ = LinearRegression().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def score_samples(self, X, y):
        log_density = -0.5 * (np.log(2 * np.pi) + (y - self.predict(X)) ** 2)
        return np.where(np.asarray(X)[:, -1] == 1, -np.inf, log_density)


def test_an_infinite_fold_score_is_kept_in_the_mean():
    # The mean and sd were taken over the finite folds only: a model with no density
    # at a held-out row was tabulated with the mean of its other folds, as if it had
    # never failed.
    X, y = make_switching_regression(90, 2, 2, noise=0.1, random_state=0)
    X = np.c_[X, np.zeros(90)]
    X[0, -1] = 1.0
    estimators = {"missing": _DensityMissingOneRow(),
                  "moe": MixtureOfExpertsRegressor(n_experts=2, random_state=0)}
    results = compare(X, y, estimators, cv=3, scoring=["log_likelihood", "r2"])
    folds = results.attrs["fold_scores"]["missing"]["log_likelihood"]
    assert np.sum(np.isneginf(folds)) == 1 and np.isfinite(folds).sum() == 2
    assert results.loc["missing", "log_likelihood_mean"] == -np.inf
    assert results.loc["missing", "log_likelihood_std"] == np.inf
    assert list(results.index) == ["moe", "missing"]
    lines = verdicts(results)
    assert "winner leads by inf (a score is infinite on some fold)" in lines[1]
    assert lines[-1].startswith("Verdict: a mixture of experts wins")


def test_names_made_from_the_class_skip_the_names_given(regression_data):
    # A given "LinearRegression_2" beside two unnamed LinearRegression was refused
    # as "estimators has repeated names", a name the user gave once.
    X, y = regression_data
    results = compare(X, y, [LinearRegression(), LinearRegression(),
                             ("LinearRegression_2", DecisionTreeRegressor(max_depth=2)),
                             ("LinearRegression", LinearRegression(fit_intercept=False))],
                      cv=3, scoring=["r2"])
    assert sorted(results.index) == ["LinearRegression", "LinearRegression_2",
                                     "LinearRegression_3", "LinearRegression_4"]
    # The given names keep their estimators; the unnamed ones are _3 and _4.
    folds = {name: scores["r2"] for name, scores in results.attrs["fold_scores"].items()}
    assert folds["LinearRegression_3"] == folds["LinearRegression_4"]
    assert folds["LinearRegression_2"] != folds["LinearRegression_3"]
    assert folds["LinearRegression"] != folds["LinearRegression_3"]
