"""Reading a fitted mixture: gate, posterior, expert summary, choosing the number of experts."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_gated_classification, make_switching_regression
from skmoe.inspection import apply, expert_summary, posterior, predict_gate, select_n_experts

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def fitted():
    X, y = make_switching_regression(600, 2, 2, noise=[0.1, 0.3], random_state=0)
    frame = pd.DataFrame(X, columns=["speed", "load"])
    return frame, y, MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(frame, y)


def test_gate_apply_and_posterior(fitted):
    frame, y, model = fitted
    gate = predict_gate(model, frame)
    assert_allclose(gate, model.predict_gate(frame))
    assert_array_equal(apply(model, frame), gate.argmax(axis=1))
    resp = posterior(model, frame, y)
    assert_allclose(resp.sum(axis=1), 1.0)
    # Bayes' rule: responsibilities are the gate reweighted by each expert's density.
    experts = np.column_stack([e.predict(frame.to_numpy()) for e in model.experts_])
    density = np.exp(-0.5 * (y[:, None] - experts) ** 2 / model.noise_variance_) / np.sqrt(
        model.noise_variance_)
    expected = gate * density / (gate * density).sum(axis=1, keepdims=True)
    assert_allclose(resp, expected, rtol=1e-8)


def test_functions_refuse_other_estimators(fitted):
    frame, y, _ = fitted
    with pytest.raises(TypeError, match="estimator must be a MixtureOfExpertsRegressor"):
        predict_gate(LinearRegression().fit(frame, y), frame)


def test_expert_summary_of_linear_regressor(fitted):
    frame, y, model = fitted
    summary = expert_summary(model)
    assert list(summary.columns) == ["expert", "share", "effective_n_samples", "noise_std",
                                     "intercept", "speed", "load"]
    assert len(summary) == 2
    assert_allclose(summary["share"], model.predict_gate(frame).mean(axis=0), rtol=1e-10)
    assert_allclose(summary["effective_n_samples"].sum(), len(y))
    assert_allclose(summary["noise_std"], np.sqrt(model.noise_variance_))
    for k, expert in enumerate(model.experts_):
        assert_allclose(summary.loc[k, ["speed", "load"]].astype(float), expert.coef_)
        assert summary.loc[k, "intercept"] == pytest.approx(expert.intercept_)
    assert_allclose(sorted(summary["noise_std"]), [0.1, 0.3], rtol=0.15)


def test_expert_summary_names_pipeline_features():
    X, y = make_switching_regression(300, 1, 2, random_state=0)
    expert = make_pipeline(PolynomialFeatures(2, include_bias=False), LinearRegression())
    model = MixtureOfExpertsRegressor(expert, n_experts=2, max_iter=5, random_state=0).fit(X, y)
    summary = expert_summary(model)
    assert {"x0", "x0^2", "intercept"} <= set(summary.columns)


def test_expert_summary_of_multinomial_classifier():
    X, y = make_gated_classification(300, 2, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(X, y)
    summary = expert_summary(model)
    assert "noise_std" not in summary.columns
    assert {"0:intercept", "2:x1"} <= set(summary.columns)
    assert summary.loc[1, "2:x1"] == pytest.approx(model.experts_[1].coef_[2, 1])


@pytest.mark.filterwarnings("ignore:Expert .* was removed:UserWarning")
@pytest.mark.parametrize("true_k", [2, 3, 4])
def test_bic_picks_the_true_number_of_experts(true_k):
    X, y = make_switching_regression(1000, 3, true_k, noise=0.2, random_state=true_k)
    estimator = MixtureOfExpertsRegressor(n_init=2, max_iter=60, tol=1e-4, random_state=0)
    table, best = select_n_experts(estimator, X, y, n_experts=range(1, 6))
    assert table.loc[table["best"], "n_experts"].item() == true_k
    assert best.n_experts == true_k and best.n_experts_ == true_k
    assert list(table["n_experts"]) == [1, 2, 3, 4, 5]
    assert_allclose(table["bic"], -2 * table["log_likelihood"]
                    + table["n_parameters"] * np.log(1000))


@pytest.mark.parametrize("criterion", ["aic", "icl", "cv"])
def test_other_criteria(criterion):
    X, y = make_switching_regression(600, 2, 2, noise=0.2, random_state=0)
    table, best = select_n_experts(MixtureOfExpertsRegressor(max_iter=30, random_state=0), X, y,
                                   n_experts=[1, 2, 3], criterion=criterion, cv=3)
    assert criterion in table.columns
    assert table["best"].sum() == 1
    assert table.loc[table["best"], "n_experts"].item() == 2
    if criterion == "icl":
        assert np.all(table["icl"] >= table["bic"])


def test_vanishing_experts_are_reported():
    X, y = make_switching_regression(200, 1, 2, noise=0.05, random_state=0)
    estimator = MixtureOfExpertsRegressor(max_iter=50, min_expert_weight=0.2, random_state=0)
    with pytest.warns(UserWarning, match="was removed"):
        table, _ = select_n_experts(estimator, X, y, n_experts=[2, 6])
    row = table.set_index("n_experts").loc[6]
    assert row["n_experts_fitted"] < 6


def test_a_k_that_lost_experts_is_not_chosen():
    # Two regimes: at K = 4 experts are removed, and the smaller model it becomes
    # may score a hair better than K = 2 itself; it is reported, not chosen.
    X, y = make_switching_regression(300, 2, 2, noise=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table, best = select_n_experts(
            MixtureOfExpertsRegressor(max_iter=30, random_state=0, min_expert_weight=0.2),
            X, y, n_experts=[1, 2, 4])
    lost = table["n_experts_fitted"] < table["n_experts"]
    assert lost.iloc[2]
    assert table.loc[2, "bic"] < table.loc[1, "bic"]
    assert (table["starts_at_best"] == 1).all()  # one start each: it is the best
    assert not table.loc[lost, "best"].any()
    assert best.n_experts_ == best.n_experts


def test_select_n_experts_refuses_expert_lists_and_bad_criteria():
    X, y = make_switching_regression(100, 2, 2, random_state=0)
    listed = MixtureOfExpertsRegressor([LinearRegression()] * 2, n_experts=2)
    with pytest.raises(ValueError, match="a list fixes the number of experts"):
        select_n_experts(listed, X, y)
    with pytest.raises(ValueError, match="criterion must be 'bic', 'aic', 'icl' or 'cv'"):
        select_n_experts(MixtureOfExpertsRegressor(), X, y, criterion="likelihood")
    with pytest.raises(ValueError, match="n_experts must hold positive integers"):
        select_n_experts(MixtureOfExpertsRegressor(), X, y, n_experts=[0, 1])


@pytest.mark.parametrize("n_experts, message", [
    ([1.5, 2.7], r"n_experts must hold positive integers, got \[1.5, 2.7\]"),
    ([True, 2], r"n_experts must hold positive integers, got \[True, 2\]"),
    ([1, 2, 2], r"n_experts holds a number of experts twice: \[1, 2, 2\]"),
    ([1, 101], "n_experts holds 101, more than the 100 rows of the data: each expert needs "
               "rows of its own"),
])
def test_select_n_experts_refuses_odd_numbers_of_experts_before_any_fit(n_experts, message,
                                                                        monkeypatch):
    # 1.5 and 2.7 were fitted as 1 and 2, True as 1, a repeated K twice; a K beyond
    # the rows failed after the fits of the smaller ones.
    X, y = make_switching_regression(100, 2, 2, random_state=0)

    def fail(*args, **kwargs):
        raise AssertionError("a mixture was fitted")

    monkeypatch.setattr(MixtureOfExpertsRegressor, "fit", fail)
    with pytest.raises(ValueError, match=message):
        select_n_experts(MixtureOfExpertsRegressor(), X, y, n_experts=n_experts)
    groups = np.repeat(np.arange(20), 5)
    with pytest.raises(ValueError, match="n_experts holds 21, more than the 20 groups"):
        select_n_experts(MixtureOfExpertsRegressor(), X, y, n_experts=[2, 21], groups=groups)


def test_cv_criterion_shuffles_its_folds_seeded_by_the_estimator():
    # Three regimes along x, rows sorted by x: unshuffled folds would each hold
    # out a stretch of x the training folds never saw.
    rng = np.random.RandomState(0)
    x = np.sort(rng.uniform(-3, 3, 600))
    y = np.select([x < -1, x < 1], [2 + 3 * x, -2 * x], 4 - 3 * x) + 0.1 * rng.normal(size=600)
    X = x[:, None]
    estimator = MixtureOfExpertsRegressor(max_iter=40, random_state=0)
    table, best = select_n_experts(estimator, X, y, n_experts=[1, 2, 3], criterion="cv", cv=5)
    assert table.loc[table["best"], "n_experts"].item() == 3
    # The folds are KFold's, shuffled with the estimator's random_state.
    shuffled = KFold(5, shuffle=True, random_state=0)
    again, _ = select_n_experts(estimator, X, y, n_experts=[1, 2, 3], criterion="cv",
                                cv=shuffled)
    assert_allclose(table["cv"], again["cv"])


@pytest.mark.parametrize("criterion", ["bic", "icl", "cv"])
def test_select_n_experts_on_grouped_data(criterion):
    # flexmix's stepFlexmix on y ~ x | group: three lines, 60 groups of 8 rows.
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(60), 8)
    line = rng.randint(3, size=60)[groups]
    x = rng.uniform(-2, 2, 480)
    y = np.choose(line, [1 + 2 * x, -1 - x, 3 + 0 * x]) + 0.3 * rng.normal(size=480)
    X = x[:, None]
    estimator = MixtureOfExpertsRegressor(LinearRegression(), gate_features=[], n_init=3,
                                          random_state=0)
    table, best = select_n_experts(estimator, X, y, n_experts=[1, 2, 3, 4],
                                   criterion=criterion, cv=3, groups=groups)
    assert table.loc[table["best"], "n_experts"].item() == 3
    row = table.set_index("n_experts").loc[3]
    assert_allclose(row["log_likelihood"], best.log_likelihood(X, y, groups=groups))
    if criterion == "bic":
        # n is the number of groups, as in the estimator's own bic.
        assert_allclose(row["bic"], best.bic(X, y, groups=groups))
        assert row["n_parameters"] == 2 + 3 * 2 + 3
