"""Why this expert: gate attributions, gate rules and their Display."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_gated_classification, make_switching_regression
from skmoe.inspection import apply, explain_gate, gate_rules, predict_gate
from skmoe.plotting import GateExplanationDisplay

matplotlib.use("Agg")


def _frame(n=300, n_experts=3, seed=0):
    X, y = make_switching_regression(n, 3, n_experts, noise=0.3, random_state=seed)
    # Columns off centre and of different scales: the gate standardises them.
    X = pd.DataFrame(X * [3.0, 0.2, 1.0] + [5.0, -1.0, 0.0], columns=["age", "dose", "noise"])
    return X, y


def _other_log_odds(log_gate, chosen):
    """log g_c minus the mean log-probability of the other experts (written anew)."""
    out = np.empty(log_gate.shape[0])
    for i, c in enumerate(chosen):
        others = np.delete(log_gate[i], c)
        out[i] = log_gate[i, c] - others.mean()
    return out


@pytest.mark.parametrize("n_experts", [2, 3])
def test_attributions_sum_to_the_gate_log_odds(n_experts):
    X, y = _frame(n_experts=n_experts)
    model = MixtureOfExpertsRegressor(n_experts=n_experts, gate_features=["age", "dose"],
                                      random_state=0).fit(X, y)
    table = explain_gate(model, X)
    log_gate = np.log(predict_gate(model, X))
    np.testing.assert_array_equal(table["expert"], apply(model, X))
    np.testing.assert_allclose(table["probability"], predict_gate(model, X).max(axis=1),
                               rtol=1e-12)
    expected = _other_log_odds(log_gate, table["expert"].to_numpy())
    parts = table["baseline"] + table["age"] + table["dose"]
    np.testing.assert_allclose(parts, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(table["log_odds"], expected, rtol=0, atol=1e-10)
    assert list(table.columns) == ["expert", "probability", "log_odds", "baseline", "age", "dose"]
    assert table.attrs["method"] == "exact"
    pd.testing.assert_index_equal(table.index, X.index)
    if n_experts == 2:
        g = predict_gate(model, X)[np.arange(len(y)), table["expert"]]
        np.testing.assert_allclose(table["log_odds"], np.log(g / (1 - g)), atol=1e-10)


def test_exact_attribution_is_what_moving_one_feature_to_its_mean_changes():
    # For a linear gate, setting feature j to its training mean removes exactly its
    # contribution: a check of the coefficients on the user's scale.
    X, y = _frame()
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    table = explain_gate(model, X.head(20), expert=1)
    assert (table["expert"] == 1).all()
    log_odds = _other_log_odds(np.log(predict_gate(model, X.head(20))), np.ones(20, int))
    for name in X.columns:
        moved = X.head(20).copy()
        moved[name] = np.average(X[name])
        after = _other_log_odds(np.log(predict_gate(model, moved)), np.ones(20, int))
        np.testing.assert_allclose(log_odds - after, table[name], atol=1e-10)
    at_mean = pd.DataFrame([X.mean()], columns=X.columns)
    baseline = _other_log_odds(np.log(predict_gate(model, at_mean)), [1])
    np.testing.assert_allclose(table["baseline"], baseline[0], atol=1e-10)


def test_other_gates_are_explained_by_occlusion_with_an_interaction_term():
    X, y = _frame(n_experts=2)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
                                      gate=DecisionTreeClassifier(max_depth=3, random_state=0),
                                      random_state=0).fit(X, y)
    rows = X.head(15)
    table = explain_gate(model, rows)
    assert table.attrs["method"] == "occlusion"
    log_gate = np.log(predict_gate(model, rows))
    chosen = table["expert"].to_numpy()
    parts = table[["baseline", "age", "dose", "noise", "interaction"]].sum(axis=1)
    np.testing.assert_allclose(parts, _other_log_odds(log_gate, chosen), atol=1e-10)
    moved = rows.copy()
    moved["age"] = np.average(X["age"])
    after = _other_log_odds(np.log(predict_gate(model, moved)), chosen)
    np.testing.assert_allclose(table["age"], table["log_odds"] - after, atol=1e-10)


def test_a_gate_without_inputs_has_only_its_baseline():
    X, y = _frame(n_experts=2)
    model = MixtureOfExpertsRegressor(n_experts=2, gate_features=[], random_state=0).fit(X, y)
    table = explain_gate(model, X.head())
    assert list(table.columns) == ["expert", "probability", "log_odds", "baseline"]
    np.testing.assert_allclose(table["baseline"], table["log_odds"], atol=1e-12)
    with pytest.raises(ValueError, match=r"gate_features=\[\]"):
        gate_rules(model, X)


def test_classifier_and_plain_arrays_are_explained_too():
    X, y = make_gated_classification(300, 2, 2, 2, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=500, random_state=0).fit(X, y)
    table = explain_gate(model, X)
    np.testing.assert_allclose(table["baseline"] + table["x0"] + table["x1"], table["log_odds"],
                               atol=1e-10)


@pytest.mark.parametrize("max_depth", [1, 3])
def test_rules_report_their_fidelity_on_the_rows_given(max_depth):
    X, y = _frame()
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    rules = gate_rules(model, X, max_depth=max_depth)
    choice = apply(model, X)
    agrees = rules.tree_.predict(X.to_numpy()) == choice
    assert rules.fidelity == agrees.mean()
    for k, value in rules.fidelity_per_expert.items():
        assert value == agrees[choice == k].mean()
    assert rules.tree_.get_depth() <= max_depth and rules.n_samples == len(X)
    text = str(rules)
    assert text.startswith(f"Fidelity: the rules agree with the gate's choice on "
                           f"{rules.fidelity:.1%} of {len(X)} rows")
    assert rules.rules in text and "class: expert" in text
    assert any(f"|--- {name} <=" in text for name in X.columns)
    # On other rows the fidelity is measured on them.
    held_out, _ = _frame(seed=1)
    other = gate_rules(model, held_out, max_depth=max_depth)
    assert other.fidelity == np.mean(other.tree_.predict(held_out.to_numpy())
                                     == apply(model, held_out))


def test_deeper_rules_are_more_faithful():
    X, y = _frame()
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    assert gate_rules(model, X, max_depth=1).fidelity < gate_rules(model, X, max_depth=4).fidelity


def test_bad_input():
    X, y = _frame()
    with pytest.raises(NotFittedError):
        explain_gate(MixtureOfExpertsRegressor(), X)
    with pytest.raises(TypeError, match="got LinearRegression"):
        gate_rules(LinearRegression().fit(X, y), X)
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"expert must be an expert's index, an integer in "
                                         r"\[0, 2\], got 3"):
        explain_gate(model, X, expert=3)
    with pytest.raises(ValueError, match="max_depth must be a positive integer, got 0"):
        gate_rules(model, X, max_depth=0)


def test_display_draws_the_contributions_and_their_mean_size():
    X, y = _frame()
    model = MixtureOfExpertsRegressor(n_experts=3, gate_features=["age", "dose"],
                                      random_state=0).fit(X, y)
    display = GateExplanationDisplay.from_estimator(model, X, rows=[0, 5, 7])
    table = explain_gate(model, X.iloc[[0, 5, 7]])
    assert len(display.bars_) == 3
    for bars, (_, row) in zip(display.bars_, table.iterrows()):
        np.testing.assert_allclose([bar.get_width() for bar in bars], row[["age", "dose"]])
    for k, bars in enumerate(display.importance_bars_):
        expected = explain_gate(model, X, expert=k)[["age", "dose"]].abs().mean()
        np.testing.assert_allclose([bar.get_width() for bar in bars], expected)
    assert display.ax_.shape == (2,) and display.figure_ is display.ax_[0].figure
    assert list(display.importance.columns) == ["expert 0", "expert 1", "expert 2"]
