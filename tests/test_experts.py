"""Experts: templates, seeding, the route of sample weights, parameter counts."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor, ScaledRidge
from skmoe._experts import (
    expert_templates,
    has_own_density,
    interpolates,
    n_expert_parameters,
    n_fitted_parameters,
    seeded_clones,
    weight_parameter,
)


def test_templates():
    default = LinearRegression()
    assert expert_templates(None, 3, default) == [default] * 3
    tree = DecisionTreeRegressor()
    assert expert_templates(tree, 2, default) == [tree, tree]
    assert expert_templates([tree, default], 2, None) == [tree, default]
    with pytest.raises(ValueError, match="list of 1 estimators but n_experts=2"):
        expert_templates([tree], 2, None)


def test_seeded_clones_set_nested_random_states():
    forest = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=2))
    clones = seeded_clones([forest, forest], np.random.RandomState(0))
    seeds = [c.get_params()["randomforestregressor__random_state"] for c in clones]
    assert all(isinstance(s, int) for s in seeds)
    assert seeds[0] != seeds[1]
    assert forest.get_params()["randomforestregressor__random_state"] is None
    again = seeded_clones([forest, forest], np.random.RandomState(0))
    assert seeds == [c.get_params()["randomforestregressor__random_state"] for c in again]


@pytest.mark.parametrize(
    "expert, route",
    [
        (LinearRegression(), "sample_weight"),
        (make_pipeline(StandardScaler(), Ridge()), "ridge__sample_weight"),
        (make_pipeline(StandardScaler(), KNeighborsRegressor()), None),
        (KNeighborsRegressor(), None),
    ],
)
def test_weight_parameter(expert, route):
    assert weight_parameter(expert) == route


def test_own_density_detection():
    assert has_own_density(MixtureOfExpertsRegressor())
    assert not has_own_density(LinearRegression())


def test_parameter_counts():
    X = np.random.RandomState(0).normal(size=(30, 3))
    y = X.sum(axis=1)
    assert n_expert_parameters(LinearRegression().fit(X, y), 0) == 4
    assert n_expert_parameters(LinearRegression(fit_intercept=False).fit(X, y), 0) == 3
    poly = make_pipeline(PolynomialFeatures(2, include_bias=False), LinearRegression()).fit(X, y)
    assert n_expert_parameters(poly, 0) == 9 + 1
    with pytest.raises(ValueError, match=r"expert 3 \(KNeighborsRegressor\)"):
        n_expert_parameters(KNeighborsRegressor().fit(X, y), 3)


def test_fitted_parameters_for_the_rows_per_parameter_rule():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 3)), rng.normal(size=80)
    assert n_fitted_parameters(LinearRegression().fit(X, y)) == 4
    ridge = ScaledRidge(alpha=5.0).fit(X, y)
    assert n_fitted_parameters(ridge) == ridge.effective_dof_ < 4
    tree = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X, y)
    assert n_fitted_parameters(tree) == tree.get_n_leaves() == 4
    pipeline = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=1)).fit(X, y)
    assert n_fitted_parameters(pipeline) == 2
    assert n_fitted_parameters(KNeighborsRegressor().fit(X, y)) == 1


def test_which_experts_interpolate():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 2)), rng.normal(size=50)
    assert not interpolates(LinearRegression().fit(X, y))
    assert not interpolates(ScaledRidge().fit(X, y))
    assert not interpolates(make_pipeline(PolynomialFeatures(2), LinearRegression()).fit(X, y))
    assert interpolates(DecisionTreeRegressor().fit(X, y))
    assert interpolates(KNeighborsRegressor().fit(X, y))
    assert interpolates(RandomForestRegressor(n_estimators=3).fit(X, y))
    inner = MixtureOfExpertsRegressor(n_experts=1, max_iter=2).fit(X, y)
    assert not interpolates(inner)
