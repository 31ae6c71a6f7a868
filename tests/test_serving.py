"""Prediction of mixtures of linear experts from stacked coefficients equals the per-expert path."""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import skmoe._base
from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, ScaledRidge
from skmoe._gate import ConstantGate
from skmoe._kernels import top_k_route, top_k_route_reference
from skmoe._serving import linear_mixture_mean, linear_mixture_proba, linear_probabilities
from skmoe._serving_kernels import (
    _BLOCK_ROWS,
    _MIN_PARALLEL_PRODUCTS,
    softmax_linear_mean,
    softmax_linear_mean_reference,
    softmax_logistic_proba,
    softmax_logistic_proba_reference,
)
from skmoe.datasets import make_gated_classification, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _same(actual, expected):
    """Equal to 1e-12 relative to the largest magnitude of the expected values."""
    assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * np.max(np.abs(expected)))


def _reference_gate(model, X):
    """The gate as the general path computes it: the scaler's and the gate's own methods."""
    if model.gate_features_.size == 0:
        return model.gate_.predict_proba(np.empty((X.shape[0], 0)))
    return model.gate_.predict_proba(model.gate_scaler_.transform(X[:, model.gate_features_]))


def _reference_weights(gate, top_k):
    """The routed gate: the top_k largest (lower index first among ties), renormalised."""
    if top_k is None:
        return gate
    chosen = np.argsort(-gate, axis=1, kind="stable")[:, :top_k]
    weights = np.zeros_like(gate)
    picked = np.take_along_axis(gate, chosen, axis=1)
    np.put_along_axis(weights, chosen, picked / picked.sum(axis=1, keepdims=True), axis=1)
    return weights


def _reference_mean(model, X):
    """``sum_k g_k f_k`` from each expert's own predict (the per-expert path)."""
    X_expert = X[:, model.expert_features_]
    predictions = np.column_stack([expert.predict(X_expert) for expert in model.experts_])
    weights = _reference_weights(_reference_gate(model, X), model.top_k)
    return (weights * predictions).sum(axis=1)


def _reference_proba(model, X):
    """``sum_k g_k p_k`` from each expert's own predict_proba, rows normalised."""
    X_expert = X[:, model.expert_features_]
    weights = _reference_weights(_reference_gate(model, X), model.top_k)
    proba = sum(weights[:, [k]] * expert.predict_proba(X_expert)
                for k, expert in enumerate(model.experts_))
    return proba / proba.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def regression():
    X, y = make_switching_regression(n_samples=1500, n_features=4, n_experts=3,
                                     random_state=0)[:2]
    return X, y


@pytest.fixture(scope="module")
def classification():
    X, y = make_gated_classification(n_samples=1500, n_features=4, n_experts=3, n_classes=3,
                                     random_state=0)[:2]
    return X, y


# ------------------------------------------------------------------ regressor
@pytest.mark.parametrize("expert", [ScaledRidge(), LinearRegression()])
@pytest.mark.parametrize("top_k", [None, 1, 2])
@pytest.mark.parametrize("gate_features", [None, [0, 2], []])
def test_regressor_fast_path_equals_per_expert_path(regression, expert, top_k, gate_features):
    X, y = regression
    model = MixtureOfExpertsRegressor(expert, n_experts=3, top_k=top_k,
                                      gate_features=gate_features, expert_features=[0, 1, 3],
                                      max_iter=20, random_state=0).fit(X, y)
    # A gate without inputs is a ConstantGate: the general path, whose results are the same.
    assert (linear_mixture_mean(model, X) is not None) == (gate_features != [])
    expected = _reference_mean(model, X)
    _same(model.predict(X), expected)
    # One row at a time, as a server calls it.
    _same(np.concatenate([model.predict(X[i:i + 1]) for i in range(20)]), expected[:20])


def test_regressor_fast_path_takes_pandas_rows(regression):
    X, y = regression
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = MixtureOfExpertsRegressor(n_experts=3, gate_features=["a", "d"], max_iter=20,
                                      random_state=0).fit(frame, y)
    _same(model.predict(frame.iloc[:1]), _reference_mean(model, X[:1]))
    _same(model.predict(frame), _reference_mean(model, X))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame.rename(columns={"a": "z"}))


@pytest.mark.parametrize("top_k", [None, 1, 2])
def test_regressor_fast_path_keeps_precision_on_offset_gate_columns(regression, top_k):
    # The gate's columns far from 0 in units of their spread: they are centred
    # before the gate's product, as the scaler does, so nothing cancels. (The
    # experts see columns near 0: their own sums would cancel on such columns,
    # in any order of summation.)
    X, y = regression
    X = X * [1.0, 0.01, 1.0, 3.0] + [0.0, -2e3, 0.0, 1e6]
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=3, top_k=top_k,
                                      expert_features=[0, 2], max_iter=20,
                                      random_state=0).fit(X, y)
    assert np.abs(model.gate_.coef_[:, [1, 3]]).max() > 0.1
    assert linear_mixture_mean(model, X) is not None
    _same(model.predict(X), _reference_mean(model, X))


def test_regressor_fast_path_with_a_gate_fitted_on_sparse_rows(regression, monkeypatch):
    # Fitted on sparse rows too wide to be made dense, the gate's scaler does not
    # centre: neither does the kernel.
    monkeypatch.setattr(skmoe._base, "DENSE_COPY_MAX_ENTRIES", 0)
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, top_k=2, max_iter=20,
                                      random_state=0).fit(sp.csr_matrix(X), y)
    assert not model.gate_scaler_.with_mean
    assert linear_mixture_mean(model, X) is not None
    _same(model.predict(X), _reference_mean(model, X))
    _same(model.predict(sp.csr_matrix(X)), _reference_mean(model, X))


def test_regressor_with_a_pipeline_or_tree_expert_asks_each_expert(regression):
    X, y = regression
    experts = [make_pipeline(StandardScaler(), LinearRegression()), LinearRegression(),
               DecisionTreeRegressor(max_depth=3, random_state=0)]
    model = MixtureOfExpertsRegressor(experts, n_experts=3, top_k=2, max_iter=10,
                                      random_state=0).fit(X, y)
    assert linear_mixture_mean(model, X) is None
    _same(model.predict(X), _reference_mean(model, X))


def test_regressor_return_std_unchanged_by_the_fast_path(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=20, random_state=0).fit(X, y)
    mean, std = model.predict(X, return_std=True)
    _same(mean, model.predict(X))
    predictions = np.column_stack([expert.predict(X) for expert in model.experts_])
    gate = _reference_gate(model, X)
    spread = model.noise_variance_ + (predictions - mean[:, None]) ** 2
    _same(std, np.sqrt((gate * spread).sum(axis=1)))


def test_regressor_non_finite_linear_prediction_names_the_expert(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=3, max_iter=5,
                                      random_state=0).fit(X, y)
    model.experts_[1].coef_ = np.full(X.shape[1], 1e308)
    with (pytest.raises(ValueError, match=r"Expert 1 \(LinearRegression\) returned NaN or inf"),
          np.errstate(over="ignore")):
        model.predict(np.full((1, X.shape[1]), 10.0))


def test_regressor_non_finite_gate_is_refused(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=5, random_state=0).fit(X, y)
    model.gate_.coef_ = np.full_like(model.gate_.coef_, 1e300)
    with pytest.raises(ValueError, match="The mixture's mean is not finite on 2 of the rows "
                                         "although every expert's outputs are"):
        model.predict(np.vstack([X[:1], np.full((2, X.shape[1]), 1e10)]))


# ----------------------------------------------------------------- classifier
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("top_k", [None, 1, 2])
def test_classifier_fast_path_equals_per_expert_path(classification, n_classes, top_k):
    X, y = classification
    y = y if n_classes == 3 else (y > 0).astype(int)
    model = MixtureOfExpertsClassifier(n_experts=3, top_k=top_k, gate_features=[1, 3],
                                       max_iter=10, random_state=0).fit(X, y)
    assert linear_probabilities(model, X) is not None
    assert linear_mixture_proba(model, X) is not None
    expected = _reference_proba(model, X)
    _same(model.predict_proba(X), expected)
    _same(model.predict_proba(X[:1]), expected[:1])
    assert_array_equal(model.predict(X), model.classes_[expected.argmax(axis=1)])


def test_classifier_fast_path_takes_pandas_rows_and_labels(classification):
    X, y = classification
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    labels = np.array(["low", "mid", "high"])[y]
    model = MixtureOfExpertsClassifier(n_experts=3, max_iter=10, random_state=0).fit(frame,
                                                                                      labels)
    _same(model.predict_proba(frame.iloc[:3]), _reference_proba(model, X[:3]))
    assert set(model.predict(frame)) <= set(labels)


def test_classifier_with_a_pipeline_expert_asks_each_expert(classification):
    X, y = classification
    experts = [make_pipeline(StandardScaler(), LogisticRegression()), LogisticRegression(),
               LogisticRegression()]
    model = MixtureOfExpertsClassifier(experts, n_experts=3, max_iter=10,
                                       random_state=0).fit(X, y)
    assert linear_probabilities(model, X) is None
    assert linear_mixture_proba(model, X) is None
    _same(model.predict_proba(X), _reference_proba(model, X))


def test_classifier_with_another_gate_mixes_the_stacked_experts(classification):
    X, y = classification
    model = MixtureOfExpertsClassifier(n_experts=3, gate=DecisionTreeClassifier(max_depth=3),
                                       top_k=2, max_iter=5, random_state=0).fit(X, y)
    assert linear_mixture_proba(model, X) is None
    assert linear_probabilities(model, X) is not None
    _same(model.predict_proba(X), _reference_proba(model, X))


def test_classifier_non_finite_linear_probabilities_name_the_expert(classification):
    X, y = classification
    model = MixtureOfExpertsClassifier(n_experts=3, max_iter=5, random_state=0).fit(X, y)
    model.experts_[2].coef_ = np.full_like(model.experts_[2].coef_, np.inf)
    with (pytest.raises(ValueError,
                        match=r"Expert 2 \(ScaledLogisticRegression\) returned NaN or inf"),
          np.errstate(invalid="ignore")):
        model.predict_proba(X[:3])


# ------------------------------------------------------------------ the cache
def test_refit_replaces_the_stacked_coefficients(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=20, random_state=0).fit(X, y)
    before = model.predict(X)
    model.fit(X, -2.0 * y + 1.0)
    _same(model.predict(X), _reference_mean(model, X))
    assert not np.allclose(model.predict(X), before)


def test_new_expert_coefficients_replace_the_stacked_ones(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=20, random_state=0).fit(X, y)
    model.predict(X)
    model.experts_[0].coef_ = model.experts_[0].coef_ + 1.0
    model.experts_[2] = clone(model.experts_[2]).fit(X, y)
    _same(model.predict(X), _reference_mean(model, X))


def test_new_gate_coefficients_replace_the_folded_gate(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, top_k=2, max_iter=20,
                                      random_state=0).fit(X, y)
    before = model.predict(X)
    model.gate_.coef_ = model.gate_.coef_[::-1].copy()
    _same(model.predict(X), _reference_mean(model, X))
    assert not np.allclose(model.predict(X), before)
    model.gate_scaler_.scale_ = 2.0 * model.gate_scaler_.scale_
    _same(model.predict(X), _reference_mean(model, X))


def test_prediction_leaves_the_estimator_state_unchanged_and_pickles(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=20, random_state=0).fit(X, y)
    state = dict(model.__dict__)
    size = len(pickle.dumps(model))
    expected = model.predict(X)
    assert model.__dict__ == state
    assert len(pickle.dumps(model)) == size
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X), expected)
    assert_array_equal(copy.deepcopy(model).predict(X), expected)


def test_gate_fast_path_equals_the_gates_own_probabilities(regression):
    X, y = regression
    model = MixtureOfExpertsRegressor(n_experts=3, gate_features=[0, 3], max_iter=20,
                                      random_state=0).fit(X, y)
    assert_array_equal(model.predict_gate(X), _reference_gate(model, X))
    constant = MixtureOfExpertsRegressor(n_experts=3, gate_features=[], max_iter=20,
                                         random_state=0).fit(X, y)
    assert isinstance(constant.gate_, ConstantGate)
    assert_array_equal(constant.predict_gate(X), constant.gate_.predict_proba(X))
    # Any classifier as the gate: its own predict_proba on the standardised columns.
    tree = MixtureOfExpertsRegressor(n_experts=3, gate=DecisionTreeClassifier(max_depth=3),
                                     max_iter=5, random_state=0).fit(X, y)
    assert_array_equal(tree.predict_gate(X), _reference_gate(tree, X))


# -------------------------------------------------------------------- routing
@pytest.mark.parametrize("n_experts", [2, 4, 12])
def test_top_k_route_equals_reference(n_experts):
    rng = np.random.default_rng(n_experts)
    gate = rng.dirichlet(np.ones(n_experts), size=300)
    for top_k in range(1, n_experts + 1):
        chosen = np.empty((300, top_k), dtype=np.int64)
        weights = np.empty_like(gate)
        top_k_route(gate, top_k, chosen, weights)
        expected_chosen, expected_weights = top_k_route_reference(gate, top_k)
        assert_array_equal(chosen, expected_chosen)
        assert_allclose(weights, expected_weights, rtol=1e-15)
        assert_allclose(weights.sum(axis=1), 1.0)
        # In place, without the chosen experts: the same weights.
        in_place = gate.copy()
        top_k_route(in_place, top_k, np.empty((0, top_k), dtype=np.int64), in_place)
        assert_array_equal(in_place, weights)


def test_top_k_route_breaks_ties_by_lower_index():
    gate = np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.4, 0.1, 0.4], [0.3, 0.2, 0.3, 0.2]])
    chosen = np.empty((3, 2), dtype=np.int64)
    weights = np.empty_like(gate)
    top_k_route(gate, 2, chosen, weights)
    assert_array_equal(chosen, [[0, 1], [1, 3], [0, 2]])
    assert_allclose(weights, [[0.5, 0.5, 0, 0], [0, 0.5, 0, 0.5], [0.5, 0, 0.5, 0]])


# ------------------------------------------------------------- serving kernel
def _kernel_problem(rng, n_samples, n_experts, n_features=6, gate_columns=(4, 1, 3),
                    expert_columns=(0, 2, 5, 1)):
    """Rows and a gate and experts of known coefficients (columns of different scales)."""
    X = rng.standard_normal((n_samples, n_features)) * rng.uniform(0.1, 10.0, n_features)
    gate_columns = np.array(gate_columns, dtype=np.int64)
    expert_columns = np.array(expert_columns, dtype=np.int64)
    return (X, gate_columns, rng.standard_normal(gate_columns.size),
            rng.standard_normal((n_experts, gate_columns.size)), rng.standard_normal(n_experts),
            expert_columns, rng.standard_normal((n_experts, expert_columns.size)),
            rng.standard_normal(n_experts))


def _kernel(problem, top_k):
    return softmax_linear_mean(*problem, top_k, np.empty(problem[0].shape[0]))


@pytest.mark.parametrize("n_experts", [1, 2, 3, 4, 7])
def test_softmax_linear_mean_equals_reference(n_experts):
    # 700 rows: two full blocks and a part of one.
    problem = _kernel_problem(np.random.default_rng(n_experts), 2 * _BLOCK_ROWS + 188, n_experts)
    for top_k in range(1, n_experts + 2):
        expected = softmax_linear_mean_reference(*problem, top_k)
        _same(_kernel(problem, top_k), expected)
        # Row by row, as a server calls it.
        one = [softmax_linear_mean(problem[0][i:i + 1], *problem[1:], top_k, np.empty(1))
               for i in range(5)]
        _same(np.concatenate(one), expected[:5])


def test_softmax_linear_mean_equals_the_weighted_sum_of_each_expert():
    # The reference written out: the softmax of the scores over the chosen experts.
    problem = _kernel_problem(np.random.default_rng(0), 300, 4)
    X, gate_columns, center, gate_coef, gate_intercept, expert_columns, coef, intercept = problem
    scores = (X[:, gate_columns] - center) @ gate_coef.T + gate_intercept
    predictions = X[:, expert_columns] @ coef.T + intercept
    gate = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    for top_k in (1, 2, 4):
        _same(_kernel(problem, top_k), (_reference_weights(gate, top_k) * predictions).sum(axis=1))


def test_softmax_linear_mean_without_gate_columns_mixes_by_the_intercepts():
    problem = list(_kernel_problem(np.random.default_rng(1), 50, 3, gate_columns=()))
    problem[3] = np.empty((3, 0))
    X, _, _, _, gate_intercept, expert_columns, coef, intercept = problem
    gate = np.exp(gate_intercept) / np.exp(gate_intercept).sum()
    _same(_kernel(problem, 3), (X[:, expert_columns] @ coef.T + intercept) @ gate)


def test_softmax_linear_mean_breaks_ties_by_lower_index():
    # Experts 1 and 2 have the same gate scores in every row, above expert 0's
    # in the first rows and below it in the others.
    X = np.array([[1.0], [2.0], [-1.0], [-2.0]])
    columns = np.array([0], dtype=np.int64)
    gate_coef, gate_intercept = np.array([[0.0], [1.0], [1.0]]), np.zeros(3)
    coef, intercept = np.zeros((3, 1)), np.array([10.0, 20.0, 30.0])
    problem = (X, columns, np.zeros(1), gate_coef, gate_intercept, columns, coef, intercept)
    assert_array_equal(_kernel(problem, 1), [20.0, 20.0, 10.0, 10.0])
    e1, e2 = np.exp(-1.0), np.exp(-2.0)
    _same(_kernel(problem, 2), [25.0, 25.0, (10 + 20 * e1) / (1 + e1),
                                (10 + 20 * e2) / (1 + e2)])
    for top_k in (1, 2, 3):
        _same(_kernel(problem, top_k), softmax_linear_mean_reference(*problem, top_k))


def test_softmax_linear_mean_in_parallel_equals_it_serial():
    # Enough products for the threads; the rows are split at block boundaries,
    # so every row's result is the same bits as on one thread.
    n_experts, n_features = 8, 32
    n_samples = _MIN_PARALLEL_PRODUCTS // (n_experts * 2 * n_features) + 1000
    columns = tuple(range(n_features))
    problem = _kernel_problem(np.random.default_rng(2), n_samples, n_experts, n_features,
                              columns, columns)
    half = (n_samples // 2) // _BLOCK_ROWS * _BLOCK_ROWS
    for top_k in (2, n_experts):
        parallel = _kernel(problem, top_k)
        serial = np.concatenate([
            softmax_linear_mean(problem[0][rows], *problem[1:], top_k,
                                np.empty(problem[0][rows].shape[0]))
            for rows in (slice(0, half), slice(half, None))
        ])
        assert_array_equal(parallel, serial)
        _same(parallel, softmax_linear_mean_reference(*problem, top_k))


def test_softmax_linear_mean_non_finite_prediction_comes_out():
    problem = list(_kernel_problem(np.random.default_rng(3), 10, 3))
    problem[6] = problem[6].copy()
    problem[6][2] = 1e308
    problem[0] = np.full_like(problem[0], 10.0)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(_kernel(problem, 3)).any()


def test_classifier_non_finite_gate_is_refused(classification):
    X, y = classification
    model = MixtureOfExpertsClassifier(n_experts=3, max_iter=5, random_state=0).fit(X, y)
    model.gate_.coef_ = np.full_like(model.gate_.coef_, 1e300)
    with pytest.raises(ValueError,
                       match="The mixture's probabilities are not finite on 1 of the rows"):
        model.predict_proba(np.vstack([X[:2], np.full((1, X.shape[1]), 1e10)]))


@pytest.mark.parametrize(("n_experts", "per_expert", "n_classes"),
                         [(3, 1, 2), (4, 3, 3), (1, 4, 4), (2, 5, 5)])
def test_softmax_logistic_proba_equals_reference(n_experts, per_expert, n_classes):
    rng = np.random.default_rng(n_experts * 10 + n_classes)
    problem = list(_kernel_problem(rng, 2 * _BLOCK_ROWS + 188, n_experts))
    problem[6] = 2.0 * rng.standard_normal((n_experts * per_expert, problem[5].size))
    problem[7] = rng.standard_normal(n_experts * per_expert)
    for top_k in range(1, n_experts + 2):
        proba = softmax_logistic_proba(*problem, top_k, np.empty((problem[0].shape[0],
                                                                  n_classes)))
        expected = softmax_logistic_proba_reference(*problem, top_k, n_classes)
        _same(proba, expected)
        assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)


def test_softmax_logistic_proba_breaks_ties_by_lower_index():
    # Experts 1 and 2 tie on the gate in every row; expert 0 is below them.
    X = np.array([[1.0], [3.0]])
    columns = np.array([0], dtype=np.int64)
    gate_coef = np.array([[0.0], [1.0], [1.0]])
    coef, intercept = np.zeros((3, 1)), np.array([-1.0, 0.0, 2.0])
    problem = (X, columns, np.zeros(1), gate_coef, np.zeros(3), columns, coef, intercept)
    positive = 1.0 / (1.0 + np.exp(-intercept))
    proba = softmax_logistic_proba(*problem, 1, np.empty((2, 2)))
    _same(proba, [[1 - positive[1], positive[1]]] * 2)
    _same(proba, softmax_logistic_proba_reference(*problem, 1, 2))


def test_softmax_logistic_proba_in_parallel_equals_it_serial():
    n_experts, n_classes, n_features = 4, 4, 32
    rows_per_sample = n_experts * n_features * (1 + n_classes)
    n_samples = _MIN_PARALLEL_PRODUCTS // rows_per_sample + 1000
    columns = tuple(range(n_features))
    rng = np.random.default_rng(4)
    problem = list(_kernel_problem(rng, n_samples, n_experts, n_features, columns, columns))
    problem[6] = 0.3 * rng.standard_normal((n_experts * n_classes, n_features))
    problem[7] = rng.standard_normal(n_experts * n_classes)
    half = (n_samples // 2) // _BLOCK_ROWS * _BLOCK_ROWS
    parallel = softmax_logistic_proba(*problem, 2, np.empty((n_samples, n_classes)))
    serial = np.concatenate([
        softmax_logistic_proba(problem[0][rows], *problem[1:], 2,
                               np.empty((problem[0][rows].shape[0], n_classes)))
        for rows in (slice(0, half), slice(half, None))
    ])
    assert_array_equal(parallel, serial)
    _same(parallel, softmax_logistic_proba_reference(*problem, 2, n_classes))
