"""The scikit-learn parameter contract: n_experts from a list, named experts, nested
parameters, metadata routing and methods that depend on the parts."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import (
    HuberRegressor,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
)
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, ScaledRidge, SoftmaxGate
from skmoe.datasets import make_gated_classification, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

KEEP_ALL = {"min_expert_weight": 0.0, "min_rows_per_parameter": 0.0}


@pytest.fixture(scope="module")
def switching():
    return make_switching_regression(n_samples=400, n_experts=2, random_state=0)


# ------------------------------------------------------------------ n_experts
def test_a_list_sets_the_number_of_experts(switching):
    X, y = switching
    model = MixtureOfExpertsRegressor([HuberRegressor(), Ridge()], max_iter=5, random_state=0,
                                      **KEEP_ALL).fit(X, y)
    assert model.n_experts is None
    assert model.n_experts_ == 2
    assert [type(e) for e in model.experts_] == [HuberRegressor, Ridge]
    X_c, y_c = make_gated_classification(n_samples=300, n_experts=2, random_state=0)
    classifier = MixtureOfExpertsClassifier(
        [LogisticRegression(), DecisionTreeClassifier(max_depth=2), LogisticRegression(C=0.1)],
        max_iter=5, random_state=0, **KEEP_ALL).fit(X_c, y_c)
    assert [type(e) for e in classifier.experts_] == [LogisticRegression,
                                                        DecisionTreeClassifier,
                                                        LogisticRegression]


def test_a_single_template_gives_three_experts_by_default(switching):
    X, y = switching
    for experts in (None, LinearRegression()):
        model = MixtureOfExpertsRegressor(experts, max_iter=3, random_state=0,
                                          **KEEP_ALL).fit(X, y)
        assert model.n_experts_ == 3


def test_n_experts_that_disagrees_with_the_list_is_refused(switching):
    X, y = switching
    message = ("experts is a list of 2 estimators but n_experts=3; leave n_experts=None "
               "(the length of the list) or set it to the length of the list.")
    with pytest.raises(ValueError, match=re.escape(message)):
        MixtureOfExpertsRegressor([Ridge(), Ridge()], n_experts=3).fit(X, y)
    with pytest.raises(ValueError, match=re.escape(message)):
        MixtureOfExpertsRegressor([("a", Ridge()), ("b", Ridge())], n_experts=3).fit(X, y)


def test_an_empty_list_of_experts_is_refused(switching):
    X, y = switching
    with pytest.raises(ValueError, match=r"experts is an empty list; give at least one"):
        MixtureOfExpertsRegressor([]).fit(X, y)


# --------------------------------------------------------------- named experts
def test_named_experts_fit_as_the_same_plain_list(switching):
    X, y = switching
    plain = MixtureOfExpertsRegressor([Ridge(alpha=3.0), DecisionTreeRegressor(max_depth=2)],
                                      max_iter=10, random_state=0).fit(X, y)
    named = MixtureOfExpertsRegressor(
        [("ridge", Ridge(alpha=3.0)), ("tree", DecisionTreeRegressor(max_depth=2))],
        max_iter=10, random_state=0).fit(X, y)
    assert_allclose(named.lower_bounds_, plain.lower_bounds_, rtol=1e-12)
    assert_allclose(named.predict(X), plain.predict(X), rtol=1e-12)


def test_named_experts_expose_and_take_their_parameters():
    ridge, tree = Ridge(), DecisionTreeRegressor()
    model = MixtureOfExpertsRegressor([("ridge", ridge), ("tree", tree)])
    params = model.get_params()
    assert params["ridge"] is ridge and params["tree"] is tree
    assert params["ridge__alpha"] == 1.0 and params["tree__max_depth"] is None
    # clone and get_params(deep=False) keep the constructor's value as given.
    assert model.get_params(deep=False)["experts"] is model.experts
    model.set_params(ridge__alpha=3.0, tree__max_depth=2)
    assert ridge.alpha == 3.0 and tree.max_depth == 2
    lasso = Lasso()
    model.set_params(ridge=lasso)
    assert model.experts == [("ridge", lasso), ("tree", tree)]
    copy = clone(model)
    assert [name for name, _ in copy.experts] == ["ridge", "tree"]
    assert copy.experts[0][1] is not lasso and copy.get_params()["tree__max_depth"] == 2


def test_grid_search_reaches_each_named_expert_and_the_default_gate(switching):
    X, y = switching
    model = MixtureOfExpertsRegressor(
        [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=2))], max_iter=5,
        random_state=0, **KEEP_ALL)
    search = GridSearchCV(model, {"ridge__alpha": [0.01, 100.0], "tree__max_depth": [1, 3],
                                  "gate__C": [0.1, 10.0]}, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 8
    best = search.best_estimator_
    assert best.experts_[0].alpha == search.best_params_["ridge__alpha"]
    assert best.experts_[1].max_depth == search.best_params_["tree__max_depth"]
    assert best.gate_.C == search.best_params_["gate__C"]
    # The searched estimator itself is left as it was.
    assert model.gate is None and model.experts[0][1].alpha == 1.0


@pytest.mark.parametrize("experts, message", [
    ([("a", Ridge()), ("a", Ridge())], "Names provided are not unique: ['a', 'a']"),
    ([("a__b", Ridge()), ("c", Ridge())], "Estimator names must not contain __: got ['a__b']"),
    ([("gate", Ridge()), ("c", Ridge())],
     "Estimator names conflict with constructor arguments: ['gate']"),
])
def test_bad_expert_names_are_refused(switching, experts, message):
    X, y = switching
    with pytest.raises(ValueError, match=re.escape(message)):
        MixtureOfExpertsRegressor(experts).fit(X, y)


def test_a_mix_of_names_and_plain_experts_is_refused(switching):
    X, y = switching
    with pytest.raises(TypeError, match=re.escape(
            "experts must be a list of estimators or a list of (name, estimator) pairs, not "
            "a mix of both.")):
        MixtureOfExpertsRegressor([("a", Ridge()), Ridge()]).fit(X, y)


def test_parameters_of_a_plain_list_ask_for_names():
    model = MixtureOfExpertsRegressor([HuberRegressor(), Ridge()])
    with pytest.raises(ValueError, match=re.escape(
            "Cannot set experts__1__alpha: experts is a list without names, whose experts "
            "have no parameter names. Give experts as (name, estimator) pairs")):
        model.set_params(experts__1__alpha=3.0)
    assert model.experts[1].alpha == 1.0


def test_default_gate_and_expert_take_nested_parameters(switching):
    X, y = switching
    model = MixtureOfExpertsRegressor(max_iter=5, random_state=0)
    model.set_params(gate__C=0.5, experts__alpha=2.0)
    assert isinstance(model.gate, SoftmaxGate) and model.gate.C == 0.5
    assert isinstance(model.experts, ScaledRidge) and model.experts.alpha == 2.0
    # Nothing shared with other instances.
    assert MixtureOfExpertsRegressor().gate is None
    assert MixtureOfExpertsRegressor().experts is None
    model.fit(X, y)
    assert model.gate_.C == 0.5
    assert all(expert.alpha == 2.0 for expert in model.experts_)
    # The same model as the explicit setting.
    explicit = MixtureOfExpertsRegressor(ScaledRidge(alpha=2.0), gate=SoftmaxGate(C=0.5),
                                         max_iter=5, random_state=0).fit(X, y)
    assert_allclose(model.predict(X), explicit.predict(X), rtol=1e-12)


def test_gate_parameters_with_a_classifier_gate():
    model = MixtureOfExpertsClassifier(gate=DecisionTreeClassifier())
    model.set_params(gate__max_depth=2)
    assert model.gate.max_depth == 2 and model.get_params()["gate__max_depth"] == 2


# ------------------------------------------------------------ available_if
def test_classifier_probabilities_need_experts_with_predict_proba():
    model = MixtureOfExpertsClassifier(SGDClassifier(loss="hinge"))
    assert not hasattr(model, "predict_proba")
    assert not hasattr(model, "predict_log_proba")
    with pytest.raises(AttributeError, match="has no attribute 'predict_proba'") as info:
        model.predict_proba(np.zeros((2, 2)))
    assert str(info.value.__cause__) == (
        "The mixture's probabilities are its experts' mixed by the gate; expert 0 "
        "(SGDClassifier) has no predict_proba.")
    assert hasattr(MixtureOfExpertsClassifier(SGDClassifier(loss="log_loss")), "predict_proba")
    assert hasattr(MixtureOfExpertsClassifier(), "predict_proba")


# ---------------------------------------------------------------- sparse input
def test_sparse_rows_with_64_bit_indices_reach_experts_that_refuse_them():
    X, y = make_gated_classification(n_samples=300, n_experts=2, random_state=0)
    X_sparse = sp.csr_matrix(X)
    X_sparse.indices = X_sparse.indices.astype(np.int64)
    X_sparse.indptr = X_sparse.indptr.astype(np.int64)
    model = MixtureOfExpertsClassifier(SGDClassifier(loss="log_loss", random_state=0),
                                       n_experts=2, max_iter=5, random_state=0)
    model.fit(X_sparse, y)
    # The caller's matrix is left as it was.
    assert X_sparse.indices.dtype == np.int64 and X_sparse.indptr.dtype == np.int64
    proba = model.predict_proba(X_sparse)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(model.predict_proba(sp.csr_matrix(X)), proba)
    # The same fit as on 32-bit indices.
    assert_array_equal(clone(model).fit(sp.csr_matrix(X), y).predict_proba(X_sparse), proba)


# ------------------------------------------------------------ metadata routing
_CALLS = []


class _OffsetRegressor(RegressorMixin, BaseEstimator):
    """A linear expert with a fit parameter of one value per row, ``offset``; it records
    whether each fit saw the offsets of its own rows (``offset = 1e-3 * X[:, 0]``)."""

    def fit(self, X, y, sample_weight=None, offset=None):
        self.offset_ = offset
        _CALLS.append(offset is not None and np.array_equal(offset, 1e-3 * X[:, 0]))
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(X)


class _UnweightedOffsetRegressor(_OffsetRegressor):
    """The same without sample weights: fitted on weighted resamples."""

    def fit(self, X, y, offset=None):
        return super().fit(X, y, offset=offset)


def test_fit_parameters_need_metadata_routing(switching):
    X, y = switching
    with pytest.raises(ValueError, match=re.escape(
            "Passing extra keyword arguments to MixtureOfExpertsRegressor.fit is only "
            "supported if enable_metadata_routing=True")):
        MixtureOfExpertsRegressor([_OffsetRegressor()]).fit(X, y, offset=X[:, 0])


@pytest.mark.parametrize("expert", [_OffsetRegressor, _UnweightedOffsetRegressor])
@pytest.mark.parametrize("noise_variance", ["in_sample", "cross_fitted"])
def test_fit_parameters_reach_the_experts_that_request_them(switching, expert, noise_variance):
    X, y = switching
    offset = 1e-3 * X[:, 0]
    _CALLS.clear()
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = MixtureOfExpertsRegressor(
            [("offset", expert().set_fit_request(offset=True)), ("plain", LinearRegression())],
            noise_variance=noise_variance, max_iter=4, random_state=0, **KEEP_ALL,
        ).fit(X, y, offset=offset)
    # Every fit of the expert, refits on folds and resamples included, got its rows' offsets.
    assert len(_CALLS) >= 4 * (4 if noise_variance == "cross_fitted" else 1)
    assert all(_CALLS)
    assert isinstance(model.experts_[0], expert)
    assert not hasattr(model.experts_[1], "offset_")


def test_unrequested_fit_parameters_are_refused(switching):
    X, y = switching
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(UnsetMetadataPassedError, match=re.escape(
                "[offset] are passed but are not explicitly set as requested or not requested "
                "for _OffsetRegressor.fit")):
            MixtureOfExpertsRegressor([_OffsetRegressor(), Ridge()]).fit(X, y,
                                                                         offset=X[:, 0])


class _TaggedGate(LogisticRegression):
    """A gate classifier that records the ``tag`` of the rows it is fitted on."""

    def fit(self, X, y, sample_weight=None, tag=None):
        self.tag_ = tag
        self.rows_ = X
        return super().fit(X, y, sample_weight=sample_weight)


def test_fit_parameters_reach_a_classifier_gate_repeated_with_its_rows(switching):
    X, y = switching
    with sklearn.config_context(enable_metadata_routing=True):
        gate = _TaggedGate().set_fit_request(tag=True)
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, gate=gate,
                                          max_iter=3, random_state=0,
                                          **KEEP_ALL).fit(X, y, tag=X[:, 0])
    fitted = model.gate_.classifier_
    assert fitted.rows_.shape[0] == 2 * X.shape[0]
    # The gate's rows are standardised; the tag is the raw column, repeated with them.
    assert_array_equal(fitted.tag_, np.tile(X[:, 0], 2))
    scaled = model.gate_scaler_.transform(X)[:, 0]
    assert_allclose(fitted.rows_[:, 0], np.tile(scaled, 2))


def test_fit_parameters_single_template(switching):
    X, y = switching
    _CALLS.clear()
    with sklearn.config_context(enable_metadata_routing=True):
        MixtureOfExpertsRegressor(_OffsetRegressor().set_fit_request(offset=True), n_experts=2,
                                  noise_variance="in_sample", max_iter=2, random_state=0,
                                  **KEEP_ALL).fit(X, y, offset=1e-3 * X[:, 0])
    assert len(_CALLS) == 4 and all(_CALLS)


def test_groups_stay_a_parameter_of_the_mixture_with_routing(switching):
    X, y = switching
    groups = np.arange(X.shape[0]) // 4
    params = dict(gate_features=[], max_iter=10, random_state=0)
    plain = MixtureOfExpertsRegressor(**params).fit(X, y, groups=groups)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = MixtureOfExpertsRegressor(**params).fit(X, y, groups=groups)
    assert_allclose(routed.lower_bounds_, plain.lower_bounds_, rtol=1e-12)


def test_fit_parameters_are_not_routed_into_a_mixture_expert(switching):
    X, y = switching
    with sklearn.config_context(enable_metadata_routing=True):
        inner = MixtureOfExpertsRegressor(_OffsetRegressor().set_fit_request(offset=True),
                                          n_experts=2)
        with pytest.raises(ValueError, match=re.escape(
                "Expert 0 is a mixture of experts, whose fits the EM loop continues; fit "
                "parameters cannot be routed to it, got ['offset'].")):
            MixtureOfExpertsRegressor(inner, n_experts=2).fit(X, y, offset=X[:, 0])


# ---------------------------------------------------------------- bic and aic
def test_gaussian_naive_bayes_experts_count_priors_means_and_variances():
    from sklearn.naive_bayes import GaussianNB

    X, y = make_gated_classification(n_samples=400, n_features=3, n_experts=2, n_classes=3,
                                     random_state=0)
    model = MixtureOfExpertsClassifier([GaussianNB(), GaussianNB(priors=[0.2, 0.3, 0.5])],
                                       max_iter=5, random_state=0, **KEEP_ALL).fit(X, y)
    # gate (K-1)(d+1); free priors C-1 (none when given); a mean and variance per class
    # and feature, 2 C d, for each expert.
    expected = 1 * (3 + 1) + (2 + 2 * 3 * 3) + (0 + 2 * 3 * 3)
    assert model._n_parameters() == expected
    assert_allclose(model.bic(X, y),
                    -2 * model.score_samples(X, y).sum() + expected * np.log(400))


def test_fit_parameters_of_a_grouped_gate_are_one_per_group():
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(60), 5)
    z = rng.normal(size=60)[groups]  # the gate's column, constant within groups
    x = rng.normal(size=300)
    y = np.where(z > 0, 2.0 * x, -x) + 0.1 * rng.normal(size=300)
    X = np.column_stack([x, z])
    tag = 10.0 * groups + 1.0
    with sklearn.config_context(enable_metadata_routing=True):
        gate = _TaggedGate().set_fit_request(tag=True)
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, gate=gate,
                                          gate_features=[1], expert_features=[0], max_iter=3,
                                          random_state=0, **KEEP_ALL)
        model.fit(X, y, groups=groups, tag=tag)
    # One gate row per group, in the order of the groups' labels, repeated per expert.
    assert_array_equal(model.gate_.classifier_.tag_, np.tile(10.0 * np.arange(60) + 1.0, 2))
