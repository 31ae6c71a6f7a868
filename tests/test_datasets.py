"""The generators give data with the structure and ground truth they promise."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression

from skmoe.datasets import (
    DATASETS,
    load_dataset,
    make_gated_classification,
    make_hierarchical_regression,
    make_switching_regression,
)


def test_shapes_and_params():
    X, y, params = make_switching_regression(300, 4, 3, random_state=0, return_params=True)
    assert X.shape == (300, 4) and y.shape == (300,)
    assert params.gate_coef.shape == (3, 4)
    assert params.coef.shape == (3, 4)
    assert params.intercept.shape == (3,)
    assert params.noise.shape == (3,)
    assert params.regime.shape == (300,)
    assert_allclose(params.gate_proba.sum(axis=1), 1.0)
    assert set(np.unique(params.regime)) <= {0, 1, 2}


def test_targets_follow_each_rows_regime():
    X, y, params = make_switching_regression(
        2000, 3, 3, noise=[0.0, 0.0, 0.0], random_state=1, return_params=True
    )
    expected = np.einsum("ij,ij->i", X, params.coef[params.regime]) + params.intercept[
        params.regime
    ]
    assert_allclose(y, expected)


def test_noise_level_per_regime():
    X, y, params = make_switching_regression(
        30000, 2, 2, noise=[0.1, 0.5], random_state=2, return_params=True
    )
    for k, noise in enumerate([0.1, 0.5]):
        rows = params.regime == k
        fit = LinearRegression().fit(X[rows], y[rows])
        assert_allclose(np.std(y[rows] - fit.predict(X[rows])), noise, rtol=0.05)


def test_regimes_are_drawn_from_the_gate():
    _, _, params = make_switching_regression(
        50000, 2, 3, gate_sharpness=1.0, random_state=3, return_params=True
    )
    assert_allclose(np.bincount(params.regime) / 50000, params.gate_proba.mean(axis=0),
                    atol=0.01)


def test_sharp_gate_gives_argmax_regimes():
    _, _, params = make_switching_regression(
        2000, 2, 3, gate_sharpness=200.0, random_state=4, return_params=True
    )
    assert np.mean(params.regime == params.gate_proba.argmax(axis=1)) > 0.99


def test_random_state_reproducible():
    a = make_switching_regression(100, 2, 2, random_state=5)
    b = make_switching_regression(100, 2, 2, random_state=5)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])


def test_bad_parameters():
    with pytest.raises(ValueError, match="n_samples"):
        make_switching_regression(0)
    with pytest.raises(ValueError, match="noise must be a float or an array of length "
                                         "n_experts=3"):
        make_switching_regression(10, 2, 3, noise=[0.1, 0.2])


def test_gated_classification_shapes_and_params():
    X, y, params = make_gated_classification(500, 4, 3, 5, random_state=0, return_params=True)
    assert X.shape == (500, 4) and y.shape == (500,)
    assert set(np.unique(y)) <= set(range(5))
    assert params.coef.shape == (3, 5, 4) and params.intercept.shape == (3, 5)
    assert params.gate_proba.shape == (500, 3)
    assert_allclose(params.class_proba.sum(axis=1), 1.0)
    assert_allclose(params.bayes_proba(X), params.class_proba)


def test_gated_classification_bayes_proba_is_gate_mixture_of_softmaxes():
    X, _, params = make_gated_classification(50, 2, 2, 3, random_state=1, return_params=True)
    scores = np.einsum("kcd,nd->nkc", params.coef, X) + params.intercept
    experts = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)
    gate_scores = X @ params.gate_coef.T + params.gate_intercept
    gate = np.exp(gate_scores) / np.exp(gate_scores).sum(axis=1, keepdims=True)
    assert_allclose(params.class_proba, np.einsum("nk,nkc->nc", gate, experts))
    assert_allclose(params.gate_proba, gate)


def test_gated_classification_labels_follow_bayes_proba():
    X, y, params = make_gated_classification(40000, 2, 2, 3, random_state=2, return_params=True)
    assert_allclose(np.bincount(y, minlength=3) / len(y), params.class_proba.mean(axis=0),
                    atol=0.01)
    # Labels are drawn from the regime's own model: within a regime, frequencies match it.
    regime0 = params.regime == 0
    scores = X[regime0] @ params.coef[0].T + params.intercept[0]
    proba0 = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert_allclose(np.bincount(y[regime0], minlength=3) / regime0.sum(), proba0.mean(axis=0),
                    atol=0.015)


def test_gated_classification_needs_two_classes():
    with pytest.raises(ValueError, match="n_classes"):
        make_gated_classification(10, 2, 2, 1)


def test_hierarchical_shapes_and_params():
    X, y, params = make_hierarchical_regression(400, 3, 2, 3, random_state=0,
                                                return_params=True)
    assert X.shape == (400, 3) and y.shape == (400,)
    assert params.gate_coef.shape == (2, 3) and params.gate_intercept.shape == (2,)
    assert params.inner_gate_coef.shape == (2, 3, 3)
    assert params.inner_gate_intercept.shape == (2, 3)
    assert params.coef.shape == (2, 3, 3) and params.intercept.shape == (2, 3)
    assert params.noise.shape == (2, 3)
    assert set(np.unique(params.regime)) <= {0, 1}
    assert set(np.unique(params.inner_regime)) <= {0, 1, 2}
    assert_allclose(params.gate_proba.sum(axis=1), 1.0)
    assert_allclose(params.inner_gate_proba.sum(axis=2), 1.0)


def test_hierarchical_targets_follow_each_rows_leaf():
    X, y, params = make_hierarchical_regression(1000, 2, noise=0.0, random_state=1,
                                                return_params=True)
    leaf = (params.regime, params.inner_regime)
    assert_allclose(y, np.einsum("ij,ij->i", X, params.coef[leaf]) + params.intercept[leaf])


def test_hierarchical_regimes_are_drawn_from_both_gates():
    _, _, params = make_hierarchical_regression(60000, 2, gate_sharpness=1.0, random_state=3,
                                                return_params=True)
    assert_allclose(np.bincount(params.regime) / 60000, params.gate_proba.mean(axis=0),
                    atol=0.01)
    # Within each outer regime, the inner regime follows that regime's own gate.
    for j in range(2):
        rows = params.regime == j
        assert_allclose(np.bincount(params.inner_regime[rows], minlength=2) / rows.sum(),
                        params.inner_gate_proba[rows, j].mean(axis=0), atol=0.015)


def test_hierarchical_log_density_is_the_tree_mixture():
    from scipy.stats import norm

    X, y, params = make_hierarchical_regression(300, 2, noise=[[0.1, 0.2], [0.3, 0.4]],
                                                random_state=2, return_params=True)
    density = np.zeros(300)
    for j in range(2):
        for leaf in range(2):
            mean = X @ params.coef[j, leaf] + params.intercept[j, leaf]
            density += (params.gate_proba[:, j] * params.inner_gate_proba[:, j, leaf]
                        * norm.pdf(y, mean, params.noise[j, leaf]))
    assert_allclose(params.log_density(X, y), np.log(density), rtol=1e-10)


def test_hierarchical_inner_gates_differ_from_the_outer_one():
    # Each outer regime is split by its own direction: a product of two softmax
    # gates, which no single softmax over the four leaves equals.
    _, _, params = make_hierarchical_regression(10, 2, random_state=4, return_params=True)
    directions = [params.gate_coef[1] - params.gate_coef[0]] + [
        params.inner_gate_coef[j, 1] - params.inner_gate_coef[j, 0] for j in range(2)]
    unit = [d / np.linalg.norm(d) for d in directions]
    assert abs(unit[1] @ unit[2]) < 0.99 and abs(unit[0] @ unit[1]) < 0.99


def test_hierarchical_bad_noise():
    with pytest.raises(ValueError, match=r"noise must be a float or an array of shape "
                                         r"\(n_outer, n_inner\)=\(2, 2\), got shape \(3,\)"):
        make_hierarchical_regression(10, noise=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="noise must be finite and non-negative"):
        make_hierarchical_regression(10, noise=[[0.1, -0.2], [0.1, 0.1]])
    with pytest.raises(ValueError, match="n_inner"):
        make_hierarchical_regression(10, n_inner=0)


def test_hierarchical_random_state_reproducible():
    a = make_hierarchical_regression(100, random_state=5)
    b = make_hierarchical_regression(100, random_state=5)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])


# ------------------------------------------------------------------ load_dataset
def test_load_dataset_gives_the_generators_with_the_command_line_settings():
    data = load_dataset("switching_regression", n_samples=300, random_state=4)
    X, y = make_switching_regression(300, 4, 3, noise=[0.1, 0.5, 1.5], gate_sharpness=3.0,
                                     random_state=4)
    assert_array_equal(data.data, X)
    assert_array_equal(data.target, y)
    assert (data.name, data.task) == ("switching_regression", "regression")
    assert data.description == DATASETS["switching_regression"]
    X, y = make_gated_classification(2000, 4, 3, n_classes=3, gate_sharpness=3.0,
                                     random_state=0)
    loaded = load_dataset("gated_classification", return_X_y=True)
    assert_array_equal(loaded[0], X)
    assert_array_equal(loaded[1], y)


@pytest.mark.parametrize("name", ["diabetes", "load_diabetes", "Diabetes", " diabetes "])
def test_load_dataset_reads_scikit_learns_bundled_data(name):
    from sklearn.datasets import load_diabetes

    data = load_dataset(name)
    X, y = load_diabetes(return_X_y=True)
    assert data.name == "diabetes" and data.task == "regression"
    assert_array_equal(data.data, X)
    assert_array_equal(data.target, y)


def test_every_named_data_set_loads_with_its_task():
    assert list(DATASETS) == ["switching_regression", "gated_classification", "diabetes",
                              "breast_cancer", "wine", "iris", "digits"]
    for name in DATASETS:
        data = load_dataset(name, n_samples=50 if "_" in name and "breast" not in name
                            else None)
        assert data.data.shape[0] == data.target.shape[0]
        classes = np.unique(data.target).shape[0]
        assert (data.task == "classification") == (classes <= 10), name


def test_load_dataset_refuses_unknown_names_and_sizes_of_fixed_data():
    with pytest.raises(ValueError, match="^unknown dataset 'mnist'; choose one of: "
                                         "switching_regression, gated_classification, "
                                         "diabetes, breast_cancer, wine, iris, digits.$"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="^n_samples applies to the generated data sets only, "
                                         "not to 'iris', whose size is fixed.$"):
        load_dataset("make-iris", n_samples=100)
    with pytest.raises(ValueError, match="'n_samples' parameter"):
        load_dataset("switching_regression", n_samples=0)
