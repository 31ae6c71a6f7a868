"""Tree experts fitted on responsibility-weighted rows: each leaf carries rows' worth of weight."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._experts import cross_fitted_predictions, leaf_weight_floor
from skmoe.datasets import make_switching_regression


def _switching(n=200):
    return make_switching_regression(n, 3, 3, noise=[0.1, 0.5, 1.5], random_state=0)


def _fit(model, X, y, **fit_params):
    with warnings.catch_warnings():
        # Experts removed for too few rows warn; the leaves are what is checked here.
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(X, y, **fit_params)


def _trees(model):
    return [expert.steps[-1][1] if hasattr(expert, "steps") else expert
            for expert in model.experts_]


def _leaf_weights(tree):
    """Weight of each leaf, and the whole weight the tree was fitted with (its root's)."""
    weights = tree.tree_.weighted_n_node_samples
    return weights[tree.tree_.children_left == -1], weights[0]


def _assert_leaves_carry(model, unit, own=0.0):
    """Each leaf holds min_rows_per_parameter rows of mean weight ``unit`` (at most half
    of the tree's weight), or the tree's own fraction when that asks more."""
    for tree in _trees(model):
        leaves, total = _leaf_weights(tree)
        floor = max(min(model.min_rows_per_parameter * unit, 0.5 * total), own * total)
        assert leaves.min() >= floor * (1 - 1e-9), (leaves.min(), floor)


@pytest.mark.parametrize("min_rows", [3.0, 5.0])
def test_regressor_tree_leaves_carry_min_rows_of_weight(min_rows):
    X, y = _switching()
    model = _fit(MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3), n_experts=3,
                                           min_rows_per_parameter=min_rows, random_state=0),
                 X, y)
    assert model.n_experts_ >= 2
    _assert_leaves_carry(model, 1.0)


def test_leaf_floor_counts_rows_of_mean_weight():
    X, y = _switching()
    weight = np.random.RandomState(1).uniform(0.5, 4.0, size=y.size)
    weight[:20] = 0.0
    model = _fit(MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3), n_experts=3,
                                           random_state=0),
                 X, y, sample_weight=weight)
    _assert_leaves_carry(model, weight.sum() / np.count_nonzero(weight))


def test_without_the_rule_leaves_hold_less_than_a_row():
    # The case needs the rule: with min_rows_per_parameter=0 (no floor) the trees
    # end leaves on rows they are barely responsible for.
    X, y = _switching()
    model = _fit(MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3), n_experts=3,
                                           min_rows_per_parameter=0, random_state=0), X, y)
    lightest = min(_leaf_weights(tree)[0].min() for tree in _trees(model))
    assert lightest < 1.0


def test_classifier_tree_leaves_carry_min_rows_of_weight():
    X, y = load_iris(return_X_y=True)
    model = _fit(MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=3,
                                            random_state=0), X, y)
    _assert_leaves_carry(model, 1.0)


def test_own_setting_kept_when_larger_and_parameters_restored():
    X, y = _switching()
    template = DecisionTreeRegressor(max_depth=3, min_weight_fraction_leaf=0.2)
    model = _fit(MixtureOfExpertsRegressor(template, n_experts=3, random_state=0), X, y)
    _assert_leaves_carry(model, 1.0, own=0.2)
    for tree in _trees(model):
        assert tree.get_params() == {**template.get_params(),
                                     "random_state": tree.random_state}


def test_pipeline_tree_gets_the_floor_and_keeps_its_parameters():
    X, y = _switching()
    template = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=3))
    model = _fit(MixtureOfExpertsRegressor(template, n_experts=3, random_state=0), X, y)
    _assert_leaves_carry(model, 1.0)
    for expert in model.experts_:
        assert expert.get_params()["decisiontreeregressor__min_weight_fraction_leaf"] == 0.0


def test_cross_fitted_refits_carry_the_floor():
    X, y = _switching()
    weight = np.random.RandomState(2).dirichlet([0.3, 0.3], size=y.size)[:, 0]
    folds = np.arange(y.size) % 5
    expert = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y, sample_weight=weight)
    got = cross_fitted_predictions(expert, X, y, weight, folds, seed=0, index=0,
                                   leaf_weight=3.0)
    expected = np.empty(y.size)
    for fold in range(5):
        kept = folds != fold
        refit = clone(expert).set_params(min_weight_fraction_leaf=3.0 / weight[kept].sum())
        refit.fit(X[kept], y[kept], sample_weight=weight[kept])
        expected[~kept] = refit.predict(X[~kept])
        assert _leaf_weights(refit)[0].min() >= 3.0 * (1 - 1e-9)
    np.testing.assert_array_equal(got, expected)
    assert expert.min_weight_fraction_leaf == 0.0


def test_floor_capped_at_half_and_restored_after_a_failed_fit():
    tree = DecisionTreeRegressor(max_depth=3)
    weight = np.ones(4)
    with leaf_weight_floor(tree, weight, 3.0):
        assert tree.min_weight_fraction_leaf == 0.5
    assert tree.min_weight_fraction_leaf == 0.0
    with pytest.raises(ValueError, match="Number of labels=3 does not match number of samples=4"):
        with leaf_weight_floor(tree, weight, 1.0):
            assert tree.min_weight_fraction_leaf == 0.25
            tree.fit(np.ones((4, 1)), np.ones(3), sample_weight=weight)
    assert tree.min_weight_fraction_leaf == 0.0
    # Experts without the parameter, and no floor, are left alone.
    with leaf_weight_floor(tree, weight, None):
        assert tree.min_weight_fraction_leaf == 0.0


def test_forest_bootstrap_follows_the_weights_so_out_of_bag_rows_are_not_honest():
    # Why a forest expert's noise is cross-fitted rather than taken from its
    # out-of-bag residuals (user guide, "Regressor: noise variances"): scikit-learn
    # draws each tree's bootstrap sample in proportion to the sample weights, so the
    # rows an expert is responsible for are in (almost) every tree's sample. If this
    # fails, out-of-bag residuals may have become an honest, cheaper source.
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.RandomState(0)
    X = rng.uniform(size=(300, 3))
    y = X[:, 0] + rng.normal(size=300)
    weight = np.full(300, 1e-3)
    weight[:30] = 1.0
    forest = RandomForestRegressor(100, random_state=0).fit(X, y, sample_weight=weight)
    out_of_bag = np.zeros(300, dtype=int)
    for sample in forest.estimators_samples_:
        drawn = np.zeros(300, dtype=bool)
        drawn[sample] = True
        out_of_bag += ~drawn
    assert np.mean(out_of_bag[:30] == 0) > 0.9
    assert np.median(out_of_bag[30:]) > 95


def test_cross_fitted_refits_on_threads_equal_the_sequential_ones():
    from sklearn.neighbors import KNeighborsRegressor

    X, y = _switching()
    weight = np.random.RandomState(2).dirichlet([0.3, 0.3], size=y.size)[:, 0]
    folds = np.arange(y.size) % 5
    # Through the sample weights (with the leaves' floor), and on a weighted
    # resample for an expert without them.
    for expert in (DecisionTreeRegressor(max_depth=3, random_state=0),
                   KNeighborsRegressor(5)):
        expert = clone(expert).fit(X, y)
        sequential = cross_fitted_predictions(expert, X, y, weight, folds, seed=3, index=0,
                                              leaf_weight=3.0)
        threaded = cross_fitted_predictions(expert, X, y, weight, folds, seed=3, index=0,
                                            leaf_weight=3.0, n_jobs=2)
        np.testing.assert_array_equal(threaded, sequential)


def test_mixture_of_trees_with_threads_equals_the_sequential_fit():
    # n_jobs threads run the experts' fits and their noise's cross-fitted refits.
    X, y = _switching()
    params = dict(experts=DecisionTreeRegressor(max_depth=3), n_experts=3, random_state=0)
    sequential = MixtureOfExpertsRegressor(**params).fit(X, y)
    threaded = MixtureOfExpertsRegressor(**params, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(threaded.lower_bounds_, sequential.lower_bounds_)
    np.testing.assert_array_equal(threaded.noise_variance_, sequential.noise_variance_)
    np.testing.assert_array_equal(threaded.predict(X), sequential.predict(X))
