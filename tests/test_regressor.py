"""Behaviour of MixtureOfExpertsRegressor and of the EM engine it runs on."""

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor, ScaledRidge, SoftmaxGate
from skmoe._regressor import folds_of_rows, noise_folds
from skmoe.datasets import make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def switching():
    X, y, params = make_switching_regression(
        n_samples=5000, n_features=5, n_experts=3, noise=[0.1, 0.2, 0.3],
        gate_sharpness=3.0, random_state=0, return_params=True,
    )
    return X, y, params


@pytest.fixture(scope="module")
def fitted(switching):
    X, y, _ = switching
    return MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)


def _match_experts(model, params):
    """Permutation mapping each true regime to the fitted expert with closest coefficients."""
    fitted_coef = np.array([e.coef_ for e in model.experts_])
    cost = ((params.coef[:, None, :] - fitted_coef[None, :, :]) ** 2).sum(axis=2)
    truth, fitted_index = linear_sum_assignment(cost)
    return fitted_index[np.argsort(truth)]


# ------------------------------------------------------------------ recovery
def test_recovers_switching_regression(switching, fitted):
    X, _, params = switching
    order = _match_experts(fitted, params)
    coef = np.array([fitted.experts_[k].coef_ for k in order])
    intercept = np.array([fitted.experts_[k].intercept_ for k in order])
    assert_allclose(coef, params.coef, atol=0.1)
    assert_allclose(intercept, params.intercept, atol=0.1)
    assert_allclose(np.sqrt(fitted.noise_variance_[order]), params.noise, rtol=0.1)
    gate = fitted.predict_gate(X)[:, order]
    agreement = np.mean(gate.argmax(axis=1) == params.gate_proba.argmax(axis=1))
    assert agreement >= 0.95
    assert fitted.converged_
    assert fitted.n_experts_ == 3


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_penalised_log_likelihood_never_decreases(seed, weighted, solver):
    X, y = make_switching_regression(800, 3, 3, noise=0.3, gate_sharpness=2.0,
                                     random_state=seed)
    weights = np.random.RandomState(seed).uniform(0.2, 3, size=len(y)) if weighted else None
    model = MixtureOfExpertsRegressor(n_experts=3, gate=SoftmaxGate(solver=solver), max_iter=60,
                                      tol=0, noise_variance="in_sample", random_state=seed)
    model.fit(X, y, sample_weight=weights)
    bounds = np.array(model.lower_bounds_)
    assert len(bounds) == 60
    steps = np.diff(bounds)
    assert np.all(steps >= -1e-8 * np.abs(bounds[1:])), steps.min()
    assert model.lower_bound_ == bounds[-1]


def test_newton_and_lbfgs_gates_reach_the_same_mixture():
    X, y = make_switching_regression(1000, 4, 3, noise=0.3, random_state=5)
    fits = [
        MixtureOfExpertsRegressor(n_experts=3, gate=SoftmaxGate(solver=solver), tol=1e-9,
                                  max_iter=500, random_state=0).fit(X, y)
        for solver in ("newton", "lbfgs")
    ]
    assert all(fit.converged_ for fit in fits)
    assert_allclose(fits[0].lower_bound_, fits[1].lower_bound_, rtol=1e-7)
    assert_allclose(fits[0].predict(X), fits[1].predict(X), atol=1e-4)
    assert_allclose(fits[0].predict_gate(X), fits[1].predict_gate(X), atol=1e-4)


def test_lower_bound_is_penalised_mean_log_likelihood(fitted, switching):
    X, y, _ = switching
    gate_penalty = 0.5 * np.sum(fitted.gate_.coef_**2) / fitted.gate_.C
    # The default ScaledRidge experts: a Gaussian prior on the standardised
    # coefficients with variance var(y) / alpha.
    expert_penalty = sum(
        expert.alpha * np.sum((X.std(axis=0) * expert.coef_) ** 2) for expert in fitted.experts_
    ) / (2.0 * y.var())
    expected = (fitted.score_samples(X, y).sum() - gate_penalty - expert_penalty) / len(y)
    assert_allclose(fitted.lower_bound_, expected, rtol=1e-10)


def test_more_starts_reach_a_strictly_better_optimum():
    # Small data with four regimes: the first k-means start ends in a poorer local optimum.
    X, y = make_switching_regression(150, 2, 4, noise=0.3, random_state=2)
    one = MixtureOfExpertsRegressor(n_experts=4, n_init=1, random_state=0).fit(X, y)
    ten = MixtureOfExpertsRegressor(n_experts=4, n_init=10, random_state=0).fit(X, y)
    assert ten.lower_bound_ > one.lower_bound_ + 1e-2


def test_starts_differ(capsys):
    X, y = make_switching_regression(150, 2, 4, noise=0.3, random_state=0)
    MixtureOfExpertsRegressor(n_experts=4, n_init=4, max_iter=20, random_state=0,
                              verbose=1).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    bounds = [float(re.search(r"log-likelihood (-?[\d.]+)", line).group(1)) for line in lines]
    assert len(bounds) == 4
    assert len(set(bounds)) > 1


# ------------------------------------------------------------ predictions
def test_predict_is_gate_weighted_mean(fitted, switching):
    X = switching[0][:50]
    gate = fitted.predict_gate(X)
    experts = np.column_stack([e.predict(X) for e in fitted.experts_])
    assert_allclose(fitted.predict(X), (gate * experts).sum(axis=1), rtol=1e-12)
    assert_allclose(gate.sum(axis=1), 1.0, rtol=1e-12)


def test_return_std_is_law_of_total_variance(fitted, switching):
    X = switching[0][:50]
    gate = fitted.predict_gate(X)
    experts = np.column_stack([e.predict(X) for e in fitted.experts_])
    mean, std = fitted.predict(X, return_std=True)
    expected = (gate * (fitted.noise_variance_ + experts**2)).sum(axis=1) - mean**2
    assert_allclose(std**2, expected, rtol=1e-8)
    # Against samples drawn from the fitted mixture at three inputs.
    rng = np.random.RandomState(0)
    for i in range(3):
        expert = rng.choice(len(gate[i]), p=gate[i], size=200_000)
        draws = experts[i, expert] + np.sqrt(fitted.noise_variance_[expert]) * rng.normal(
            size=expert.shape)
        assert_allclose(std[i], draws.std(), rtol=1e-2)


def test_score_samples_is_log_mixture_density(fitted, switching):
    X, y, _ = switching
    X, y = X[:100], y[:100]
    gate = fitted.predict_gate(X)
    experts = np.column_stack([e.predict(X) for e in fitted.experts_])
    log_density = norm.logpdf(y[:, None], experts, np.sqrt(fitted.noise_variance_))
    expected = logsumexp(np.log(gate) + log_density, axis=1)
    assert_allclose(fitted.score_samples(X, y), expected, rtol=1e-10)


def test_bic_and_aic_count_free_parameters(fitted, switching):
    X, y, _ = switching
    # gate (K-1)(d+1) + experts K(d+1) + noise variances K, with K=3, d=5
    n_params = 2 * 6 + 3 * 6 + 3
    log_lik = fitted.score_samples(X, y).sum()
    assert_allclose(fitted.bic(X, y), -2 * log_lik + n_params * np.log(len(y)))
    assert_allclose(fitted.aic(X, y), -2 * log_lik + 2 * n_params)


def test_bic_refuses_experts_without_parameter_count():
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=2), n_experts=2,
                                      max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"expert 0 \(DecisionTreeRegressor\) and expert 1 "
                                         r"\(DecisionTreeRegressor\) have no such count"):
        model.bic(X, y)


def _three_gaussians():
    rng = np.random.RandomState(0)
    y = np.concatenate([rng.normal(-5, 1, 300), rng.normal(0, 0.5, 300),
                        rng.normal(6, 1.5, 300)])
    return np.ones((900, 1)), y


@pytest.mark.parametrize("expert", [LinearRegression(), DummyRegressor()])
def test_parameters_on_a_constant_column_are_those_of_a_gaussian_mixture(expert):
    # Experts and gate on one constant column: a mixture of three Gaussians,
    # with 3 means, 3 variances and 2 free proportions, as GaussianMixture counts.
    X, y = _three_gaussians()
    model = MixtureOfExpertsRegressor(expert, n_experts=3, n_init=3, random_state=0).fit(X, y)
    reference = GaussianMixture(3, n_init=3, random_state=0).fit(y[:, None])
    assert model._n_parameters() == reference._n_parameters() == 8
    assert_allclose(model.bic(X, y), reference.bic(y[:, None]), rtol=1e-4)


def test_linear_experts_count_the_rank_of_their_design():
    X, y = make_switching_regression(400, 2, 2, random_state=0)
    # A duplicated column and a constant one add no estimable coefficient.
    wide = np.column_stack([X, X[:, 0], np.full(400, 3.0)])
    model = MixtureOfExpertsRegressor(n_experts=2, gate_features=[0, 1], max_iter=20,
                                      random_state=0).fit(wide, y)
    # gate (K-1)(2+1) + experts K(2+1) + noise variances K
    assert model._n_parameters() == 3 + 6 + 2
    assert_allclose(model.bic(wide, y),
                    -2 * model.score_samples(wide, y).sum() + 11 * np.log(400))


def test_dummy_experts_count_their_constant():
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(
        [DummyRegressor(), DummyRegressor(strategy="constant", constant=0.0)], n_experts=2,
        max_iter=5, random_state=0).fit(X, y)
    # gate (K-1)(d+1), one fitted mean, and two noise variances
    assert model._n_parameters() == 3 + 1 + 2


def test_bic_names_every_expert_without_a_parameter_count():
    X, y = make_switching_regression(200, 2, 3, random_state=0)
    experts = [DecisionTreeRegressor(max_depth=2), LinearRegression(),
               make_pipeline(StandardScaler(), KNeighborsRegressor())]
    model = MixtureOfExpertsRegressor(experts, n_experts=3, max_iter=3, min_expert_weight=0,
                                      random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=re.escape(
            "expert 0 (DecisionTreeRegressor) and expert 2 (a Pipeline ending in "
            "KNeighborsRegressor) have no such count.")):
        model.aic(X, y)


def test_score_is_r2(fitted, switching):
    from sklearn.metrics import r2_score

    X, y, _ = switching
    assert_allclose(fitted.score(X, y), r2_score(y, fitted.predict(X)))


def test_predictions_invariant_to_row_order_and_subsets(fitted, switching):
    X, y, _ = switching
    X, y = X[:200], y[:200]
    perm = np.random.RandomState(0).permutation(200)
    assert_allclose(fitted.predict(X[perm]), fitted.predict(X)[perm], rtol=1e-12)
    assert_allclose(fitted.score_samples(X[perm], y[perm]), fitted.score_samples(X, y)[perm],
                    rtol=1e-12)
    assert_allclose(fitted.predict(X[:7]), fitted.predict(X)[:7], rtol=1e-12)
    assert_allclose(fitted.score_samples(X[:7], y[:7]), fitted.score_samples(X, y)[:7],
                    rtol=1e-12)


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        MixtureOfExpertsRegressor().predict(np.zeros((2, 2)))


# ------------------------------------------------------------ sample weights
def test_integer_weights_equal_repeated_rows():
    X, y = make_switching_regression(300, 2, 2, noise=0.2, random_state=1)
    counts = np.random.RandomState(0).randint(0, 4, size=len(y))
    init = np.random.RandomState(1).dirichlet([1, 1], size=len(y))
    repeat = np.repeat(np.arange(len(y)), counts)
    # Plain least squares: ScaledRidge's penalty is measured in the spread of the
    # rows, which repeating rows changes.
    kwargs = {"n_experts": 2, "max_iter": 30, "tol": 0, "random_state": 0,
              "experts": LinearRegression(tol=0.0)}
    weighted = MixtureOfExpertsRegressor(init=init, **kwargs).fit(X, y, sample_weight=counts)
    repeated = MixtureOfExpertsRegressor(init=init[repeat], **kwargs).fit(X[repeat], y[repeat])
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-5, atol=1e-6)
    assert_allclose(weighted.noise_variance_, repeated.noise_variance_, rtol=1e-5)
    assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-6)


class _WeightRecorder(RegressorMixin, BaseEstimator):
    """Linear regressor that remembers the sample weights of its last fit."""

    def fit(self, X, y, sample_weight=None):
        self.sample_weight_ = sample_weight
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(X)


class _NoWeights(RegressorMixin, BaseEstimator):
    """Linear regressor without sample_weight that remembers its training rows."""

    def fit(self, X, y):
        self.X_ = X
        self.model_ = LinearRegression().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_experts_get_weights_times_responsibilities():
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    init = np.zeros((200, 2))
    init[:, 0] = X[:, 0] < 0
    init[:, 1] = 1 - init[:, 0]
    weights = np.linspace(0.5, 2.0, 200)
    model = MixtureOfExpertsRegressor(_WeightRecorder(), n_experts=2, init=init, max_iter=1,
                                      random_state=0)
    model.fit(X, y, sample_weight=weights)
    # After one iteration the experts were fitted on the initial responsibilities.
    for k in range(2):
        assert_allclose(model.experts_[k].sample_weight_, weights * init[:, k])


def test_pipeline_expert_gets_weights_through_final_step():
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    init = np.zeros((200, 2))
    init[:, 0] = X[:, 0] < 0
    init[:, 1] = 1 - init[:, 0]
    expert = make_pipeline(StandardScaler(), _WeightRecorder())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*sample_weight")
        model = MixtureOfExpertsRegressor(expert, n_experts=2, init=init, max_iter=1,
                                          random_state=0).fit(X, y)
    assert_allclose(model.experts_[1][-1].sample_weight_, init[:, 1])


def test_polynomial_pipeline_experts_fit_quadratic_regimes():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(1500, 1))
    left = X[:, 0] < 0
    y = np.where(left, X[:, 0] ** 2, 3 - X[:, 0] ** 2) + 0.05 * rng.normal(size=1500)
    expert = make_pipeline(PolynomialFeatures(2), LinearRegression())
    model = MixtureOfExpertsRegressor(expert, n_experts=2, n_init=3, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9
    assert_allclose(np.sort(np.sqrt(model.noise_variance_)), [0.05, 0.05], rtol=0.15)


@pytest.mark.filterwarnings("ignore:Expert 1 .* does not accept sample_weight:UserWarning")
def test_expert_without_sample_weight_is_fitted_on_weighted_resample():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    init = np.zeros((300, 2))
    init[:, 0] = X[:, 0] < 0
    init[:, 1] = 1 - init[:, 0]
    with pytest.warns(UserWarning, match=r"Expert 0 \(_NoWeights\) does not accept sample_weight"):
        model = MixtureOfExpertsRegressor(_NoWeights(), n_experts=2, init=init, max_iter=1,
                                          random_state=0).fit(X, y)
    # Expert 0 had all the responsibility of the rows with x0 < 0 and none of the others.
    assert np.all(model.experts_[0].X_[:, 0] < 0)
    assert model.experts_[0].X_.shape[0] == 300


def test_knn_experts_warn_and_fit():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    with pytest.warns(UserWarning, match=r"KNeighborsRegressor\) does not accept sample_weight"):
        model = MixtureOfExpertsRegressor(KNeighborsRegressor(), n_experts=2, max_iter=5,
                                          random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.predict(X)))


# -------------------------------------------------------- expert removal
def test_vanishing_expert_is_removed_with_warning():
    X, y = make_switching_regression(500, 2, 2, noise=0.1, random_state=0)
    init = np.full((500, 3), [0.49, 0.49, 0.02])
    with pytest.warns(UserWarning, match=r"Expert 2 \(ScaledRidge\) was removed at EM "
                                         r"iteration 1.*below min_expert_weight=0.05"):
        model = MixtureOfExpertsRegressor(n_experts=3, init=init, min_expert_weight=0.05,
                                          random_state=0).fit(X, y)
    assert model.n_experts_ == 2
    assert len(model.experts_) == 2
    assert model.noise_variance_.shape == (2,)
    assert model.predict_gate(X).shape == (500, 2)
    assert np.all(np.isfinite(model.predict(X, return_std=True)))


def test_removal_warning_points_at_the_callers_line():
    X, y = make_switching_regression(500, 2, 2, noise=0.1, random_state=0)
    init = np.full((500, 3), [0.49, 0.49, 0.02])
    model = MixtureOfExpertsRegressor(n_experts=3, init=init, min_expert_weight=0.05,
                                      random_state=0)
    with pytest.warns(UserWarning, match="was removed") as record:
        model.fit(X, y)
    assert [warning.filename for warning in record] == [__file__]


def test_only_the_kept_starts_removals_are_warned_about():
    X, y = make_switching_regression(600, 2, 3, noise=0.1, random_state=1)
    # The first start begins with expert 2 nearly empty and loses it; the second
    # mixes that start half and half with random rows, keeps all three and wins.
    init = np.full((600, 3), [0.495, 0.495, 0.01])
    kwargs = dict(n_experts=3, init=init, min_expert_weight=0.05, random_state=0)
    with pytest.warns(UserWarning, match=r"Expert 2 \(ScaledRidge\) was removed at EM "
                                         r"iteration 1: its share"):
        alone = MixtureOfExpertsRegressor(n_init=1, **kwargs).fit(X, y)
    assert alone.n_experts_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        both = MixtureOfExpertsRegressor(n_init=2, **kwargs).fit(X, y)
    assert both.n_experts_ == 3
    assert len(both.init_lower_bounds_) == 2
    # When the kept start is the one that lost an expert, the warning says which.
    bad = np.full((600, 3), [0.495, 0.495, 0.01])
    bad_kwargs = dict(kwargs, init=bad, min_expert_weight=0.4)
    with pytest.warns(UserWarning, match=r"was removed at EM iteration 1 of start [01] "
                                         r"\(the best of 2\): its share"):
        MixtureOfExpertsRegressor(n_init=2, **bad_kwargs).fit(X, y)


def test_more_experts_than_distinct_targets_gives_finite_model():
    X = np.repeat(np.arange(4.0), 5)[:, None]
    y = np.repeat([0.0, 1.0], 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.predict(X, return_std=True)))
    assert np.all(np.isfinite(model.score_samples(X, y)))
    assert np.all(model.noise_variance_ > 0)


class _OwnPolynomialFeatures(PolynomialFeatures):
    """A subclass: not known to ignore the weights, so transformed in every M-step."""


@pytest.mark.parametrize("final", [LinearRegression(tol=0.0), ScaledRidge(alpha=10.0)])
def test_weight_free_pipeline_prefix_is_transformed_once_with_the_same_fit(final):
    X, y = make_switching_regression(400, 2, 2, noise=0.2, random_state=3)
    y = y + X[:, 0] ** 2
    kwargs = dict(n_experts=2, n_init=2, max_iter=15, tol=0.0, random_state=0)
    fast = MixtureOfExpertsRegressor(
        make_pipeline(PolynomialFeatures(2, include_bias=False), final), **kwargs).fit(X, y)
    slow = MixtureOfExpertsRegressor(
        make_pipeline(_OwnPolynomialFeatures(2, include_bias=False), final), **kwargs).fit(X, y)
    assert_allclose(fast.init_lower_bounds_, slow.init_lower_bounds_, rtol=1e-8)
    assert_allclose(fast.predict(X), slow.predict(X), rtol=1e-8, atol=1e-10)
    for expert in fast.experts_:
        assert isinstance(expert, Pipeline)
        assert type(expert[0]) is PolynomialFeatures and expert[0].n_output_features_ == 5
        assert expert[-1].coef_.shape == (5,)
    assert fast.experts_[0][0] is not fast.experts_[1][0]
    # Warm start resumes on the put-together Pipelines.
    fast.set_params(warm_start=True, max_iter=3).fit(X, y)
    assert np.all(np.isfinite(fast.predict(X)))


# ----------------------------------------------- degenerate experts (issue 19)
def _wide_regimes(n_samples, n_features, seed):
    """Two regimes split on the first feature, with more features than a small expert can fit."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    coef = rng.normal(size=(2, n_features))
    regime = (X[:, 0] > 0).astype(int)
    y = np.einsum("ij,ij->i", X, coef[regime]) + 0.5 * rng.normal(size=n_samples)
    return X, y


def test_expert_with_fewer_rows_than_parameters_is_removed_in_the_first_m_step():
    X, y = _wide_regimes(200, 10, 0)
    # Expert 2 holds 8 rows: above min_expert_weight, below its 12 parameters
    # (10 coefficients, an intercept, a noise variance).
    init = np.zeros((200, 3))
    init[:100, 0] = init[100:, 1] = 1.0
    init[:8] = [0.0, 0.0, 1.0]
    model = MixtureOfExpertsRegressor(LinearRegression(tol=0.0), n_experts=3, init=init,
                                      min_rows_per_parameter=1.0, random_state=0)
    with pytest.warns(UserWarning, match=r"Expert 2 \(LinearRegression\) was removed at EM "
                                         r"iteration 1: it is responsible for 8 rows, fewer "
                                         r"than min_rows_per_parameter=1.0 times the 12 "
                                         r"parameters it fits"):
        model.fit(X, y)
    assert model.n_experts_ == 2
    assert model.noise_variance_.shape == (2,)


@pytest.mark.parametrize("rows_per_parameter", [1.0, 3.0])
def test_no_fitted_expert_has_fewer_rows_than_its_parameters_allow(rows_per_parameter):
    # 60 rows, 10 features, three experts: 20 rows each, fewer than the 12
    # parameters of a least-squares expert allow at 3 rows per parameter.
    X, y = _wide_regimes(60, 10, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = MixtureOfExpertsRegressor(LinearRegression(tol=0.0), n_experts=3,
                                          min_rows_per_parameter=rows_per_parameter,
                                          random_state=0).fit(X, y)
    needed = rows_per_parameter * (X.shape[1] + 2)
    assert np.all(model.effective_n_samples_ >= needed) or model.n_experts_ == 1
    if rows_per_parameter == 3.0:
        assert model.n_experts_ == 1
    assert np.all(np.isfinite(model.predict(X)))


def test_rule_turned_off_keeps_experts_the_rule_would_remove():
    X, y = _wide_regimes(60, 10, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsRegressor(LinearRegression(tol=0.0), n_experts=3,
                                          min_rows_per_parameter=0.0, random_state=0).fit(X, y)
    assert model.n_experts_ == 3
    assert np.min(model.effective_n_samples_) < 3.0 * (X.shape[1] + 2)


def test_scaled_ridge_experts_are_held_to_their_effective_parameters():
    # A heavy penalty leaves about two effective parameters per expert (an intercept
    # and a little slope, plus the noise variance): 15 rows each are enough.
    X, y = _wide_regimes(30, 10, 2)
    init = np.column_stack([X[:, 0] <= 0, X[:, 0] > 0]).astype(float)
    heavy = MixtureOfExpertsRegressor(ScaledRidge(alpha=1e4), n_experts=2, init=init,
                                      random_state=0).fit(X, y)
    assert heavy.n_experts_ == 2
    assert all(expert.effective_dof_ < 2.0 for expert in heavy.experts_)
    with pytest.warns(UserWarning, match="was removed at EM iteration 1"):
        light = MixtureOfExpertsRegressor(ScaledRidge(alpha=1e-6), n_experts=2, init=init,
                                          random_state=0).fit(X, y)
    assert light.n_experts_ == 1


def test_noise_variance_is_floored_at_a_fraction_of_the_pooled_residual_variance():
    # Expert 1 holds 3 rows with two features: it fits them exactly.
    X, y = _wide_regimes(300, 2, 3)
    init = np.zeros((300, 2))
    init[:, 0] = 1.0
    init[:3] = [0.0, 1.0]
    model = MixtureOfExpertsRegressor(LinearRegression(tol=0.0), n_experts=2, init=init,
                                      max_iter=1, min_rows_per_parameter=0.0, random_state=0)
    model.fit(X, y)
    squared = np.column_stack([(y - expert.predict(X)) ** 2 for expert in model.experts_])
    pooled = np.sum(init * squared) / len(y)
    assert np.sum(init[:, 1] * squared[:, 1]) < 1e-20
    assert model.noise_variance_[1] == pytest.approx(1e-3 * pooled, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_mixture_on_one_regime_is_close_to_its_single_expert(seed):
    # With one regime the extra experts and the gate only add estimation error: the
    # mixture's held-out squared error may exceed one expert's by about its extra
    # parameters over the rows (the excess risk of estimating them), not more.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4_400, 5))
    y = X @ rng.normal(size=5) + rng.normal(size=4_400)
    train, test = slice(0, 400), slice(400, None)
    mixture = MixtureOfExpertsRegressor(random_state=0).fit(X[train], y[train])
    single = ScaledRidge(alpha=10.0).fit(X[train], y[train])
    mse_mixture = np.mean((mixture.predict(X[test]) - y[test]) ** 2)
    mse_single = np.mean((single.predict(X[test]) - y[test]) ** 2)
    n_features = X.shape[1]
    extra = (mixture.n_experts_ - 1) * (2 * n_features + 3)
    assert mse_mixture <= mse_single * (1.0 + extra / 400)


# ------------------------------------------------------------ honest noise
def _one_regime(n_samples, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] + noise * rng.normal(size=n_samples)
    return X, y


def test_tree_experts_get_cross_fitted_noise_close_to_the_truth():
    X, y = _one_regime(600, 0.3, 0)
    deep = DecisionTreeRegressor(min_samples_leaf=1)
    # min_rows_per_parameter=0: no floor on the weight of the trees' leaves, so that
    # they fit their rows exactly.
    kwargs = dict(n_experts=2, max_iter=20, random_state=0, min_rows_per_parameter=0)
    honest = MixtureOfExpertsRegressor(deep, **kwargs).fit(X, y)
    naive = MixtureOfExpertsRegressor(deep, noise_variance="in_sample", **kwargs).fit(X, y)
    # A full-depth tree fits its rows exactly: in-sample, its noise is the floor.
    assert np.all(naive.noise_variance_ < 0.01 * 0.3**2)
    # Out of fold, a 1-nearest-leaf prediction errs by about twice the noise.
    assert np.all(honest.noise_variance_ > 0.3**2) and np.all(honest.noise_variance_ < 4 * 0.3**2)
    X_new, y_new = _one_regime(2_000, 0.3, 1)
    assert honest.score_samples(X_new, y_new).mean() > naive.score_samples(X_new, y_new).mean() + 1
    # With the default floor (each leaf 3 rows' worth of weight) the trees still fit
    # their rows closely: in sample, their noise stays well below the truth.
    floored = MixtureOfExpertsRegressor(deep, noise_variance="in_sample", n_experts=2,
                                        max_iter=20, random_state=0).fit(X, y)
    assert np.all(floored.noise_variance_ < 0.7 * 0.3**2)


def test_cross_fitted_noise_is_the_weighted_mean_of_out_of_fold_residuals():
    X, y = _one_regime(300, 0.3, 2)
    init = np.column_stack([X[:, 0] < 0, X[:, 0] >= 0]).astype(float)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0)
    model = MixtureOfExpertsRegressor(tree, n_experts=2, init=init, max_iter=1,
                                      random_state=0).fit(X, y)
    # The folds: one fixed partition of the rows for a given number of rows, 10
    # folds for experts that can interpolate. Each leaf of a refit keeps
    # min_rows_per_parameter (3) rows' worth of weight, as the expert's own fit.
    folds = noise_folds(300, 10)
    for k in range(2):
        out_of_fold = np.empty(300)
        for fold in range(10):
            held = folds == fold
            fold_tree = clone(model.experts_[k]).set_params(
                min_weight_fraction_leaf=3.0 / init[~held, k].sum())
            fold_tree.fit(X[~held], y[~held], sample_weight=init[~held, k])
            out_of_fold[held] = fold_tree.predict(X[held])
        expected = np.sum(init[:, k] * (y - out_of_fold) ** 2) / init[:, k].sum()
        assert model.noise_variance_[k] == pytest.approx(expected, rel=1e-12)


def test_linear_experts_keep_the_in_sample_noise_unless_asked():
    X, y = _one_regime(400, 0.3, 3)
    init = np.column_stack([X[:, 0] < 0, X[:, 0] >= 0]).astype(float)
    kwargs = dict(n_experts=2, init=init, max_iter=1, random_state=0)
    auto = MixtureOfExpertsRegressor(LinearRegression(), **kwargs).fit(X, y)
    residual = np.column_stack([y - expert.predict(X) for expert in auto.experts_])
    in_sample = np.sum(init * residual**2, axis=0) / init.sum(axis=0)
    assert_allclose(auto.noise_variance_, in_sample, rtol=1e-12)
    crossed = MixtureOfExpertsRegressor(LinearRegression(), noise_variance="cross_fitted",
                                        **kwargs).fit(X, y)
    assert np.all(crossed.noise_variance_ > auto.noise_variance_)


def test_cross_fitted_ridge_refits_get_the_experts_own_weights(monkeypatch):
    # A ScaledRidge expert is fitted with weights w * h * var(y) / s_k^2; the refits
    # that estimate its noise out of fold must see the same weights, or they are
    # shrunk differently from the expert whose noise they estimate.
    import skmoe._base
    import skmoe._regressor

    fitted_with, refitted_with = [], []
    fit_experts = skmoe._base.fit_experts
    cross_fitted = skmoe._regressor.cross_fitted_ridge_predictions

    def recording_fit(experts, routes, X, y, weights, *args):
        fitted_with.append(weights.copy())
        return fit_experts(experts, routes, X, y, weights, *args)

    def recording_cross_fit(experts, X, y, weights, folds):
        refitted_with.append((len(fitted_with), weights.copy()))
        return cross_fitted(experts, X, y, weights, folds)

    monkeypatch.setattr(skmoe._base, "fit_experts", recording_fit)
    monkeypatch.setattr(skmoe._regressor, "cross_fitted_ridge_predictions", recording_cross_fit)
    X, y = _one_regime(200, 0.3, 5)
    init = np.column_stack([X[:, 0] < 0, X[:, 0] >= 0]).astype(float)
    MixtureOfExpertsRegressor(ScaledRidge(alpha=10.0), n_experts=2, init=init, max_iter=3,
                              random_state=0).fit(X, y)
    assert len(refitted_with) == 3
    for n_fits, weights in refitted_with:
        assert_array_equal(weights, fitted_with[n_fits - 1])
    # From the second M-step on, the noise rescales the weights: the check above
    # would fail if the refits got the responsibilities alone.
    assert not np.allclose(fitted_with[1].sum(axis=0), fitted_with[0].sum(axis=0))


def test_default_experts_get_cross_fitted_noise_and_linear_regression_in_sample():
    X, y = _one_regime(300, 0.3, 6)
    init = np.column_stack([X[:, 0] < 0, X[:, 0] >= 0]).astype(float)
    kwargs = dict(n_experts=2, init=init, max_iter=1, random_state=0)
    default = MixtureOfExpertsRegressor(**kwargs).fit(X, y)
    folds = noise_folds(300)
    for k, expert in enumerate(default.experts_):
        out_of_fold = np.empty(300)
        for fold in range(3):
            held = folds == fold
            refit = clone(expert).fit(X[~held], y[~held], sample_weight=init[~held, k])
            out_of_fold[held] = refit.predict(X[held])
        expected = np.sum(init[:, k] * (y - out_of_fold) ** 2) / init[:, k].sum()
        assert default.noise_variance_[k] == pytest.approx(expected, rel=1e-7)
    ols = MixtureOfExpertsRegressor(LinearRegression(), **kwargs).fit(X, y)
    residual = np.column_stack([y - expert.predict(X) for expert in ols.experts_])
    assert_allclose(ols.noise_variance_, np.sum(init * residual**2, axis=0) / init.sum(axis=0),
                    rtol=1e-12)


def test_noise_folds_do_not_depend_on_the_seed():
    X, y = _one_regime(300, 0.3, 7)
    init = np.eye(2)[(X[:, 0] > 0).astype(int)]
    fits = [MixtureOfExpertsRegressor(n_experts=2, init=init, max_iter=5,
                                      random_state=seed).fit(X, y) for seed in (0, 1)]
    # Same start, different seeds: the same objective, the same fit.
    assert fits[0].lower_bounds_ == pytest.approx(fits[1].lower_bounds_, rel=1e-12)
    assert_array_equal(noise_folds(300), noise_folds(300))
    assert np.bincount(noise_folds(300)).tolist() == [100, 100, 100]


@pytest.mark.parametrize("n_samples, n_folds", [(300, 3), (301, 3), (302, 3), (1003, 10),
                                                (7, 10)])
def test_noise_folds_are_balanced_in_every_group_of_consecutive_rows(n_samples, n_folds):
    folds = noise_folds(n_samples, n_folds)
    assert folds.shape == (n_samples,)
    n_groups, rest = divmod(n_samples, n_folds)
    # Each complete group of n_folds consecutive rows holds every fold once...
    groups = folds[:n_groups * n_folds].reshape(n_groups, n_folds)
    assert_array_equal(np.sort(groups, axis=1), np.tile(np.arange(n_folds), (n_groups, 1)))
    # ... and the last, partial one each fold at most once: fold sizes differ by one at most.
    assert np.unique(folds[n_groups * n_folds:]).shape == (rest,)
    sizes = np.bincount(folds, minlength=n_folds)
    assert sizes.min() == n_groups and sizes.max() == n_groups + (rest > 0)
    assert sizes.sum() == n_samples


def test_noise_folds_are_random_permutations_of_each_group():
    groups = noise_folds(3 * 6000).reshape(6000, 3)
    # The 3! orders of a group are equally likely: about 1000 each.
    orders = np.unique(groups @ np.array([9, 3, 1]), return_counts=True)[1]
    assert orders.shape == (6,)
    assert np.all(np.abs(orders - 1000) < 5 * np.sqrt(1000))
    # Consecutive groups are not one repeated order.
    assert np.mean(np.all(groups[1:] == groups[:-1], axis=1)) < 0.25


@pytest.mark.parametrize("n_folds", [3, 10])
def test_folds_of_any_slice_of_rows_are_the_slice_of_the_folds(n_folds):
    folds = noise_folds(1000, n_folds)
    rng = np.random.default_rng(0)
    bounds = [(0, 0), (0, 1000), (999, 1000), (1, 2), (3, 3)]
    bounds += [tuple(sorted(rng.integers(0, 1001, size=2))) for _ in range(50)]
    for start, stop in bounds:
        assert_array_equal(folds_of_rows(start, stop, n_folds), folds[start:stop])
    # A prefix of more rows: the folds of the first rows do not depend on how many follow.
    assert_array_equal(noise_folds(1234, n_folds)[:1000], folds)


class _FailsOnFewerRows(RegressorMixin, BaseEstimator):
    """A regressor whose fit raises on fewer rows than it first saw."""

    def fit(self, X, y, sample_weight=None):
        if getattr(type(self), "rows", None) is None:
            type(self).rows = len(X)
        if len(X) < type(self).rows:
            raise ValueError("not enough rows")
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


# ------------------------------------------------------------ greedy refits
def _regimes_with_a_step(seed):
    X, y = make_switching_regression(800, 8, 3, noise=[0.3, 1.0, 3.0], random_state=seed)
    return X, y + 5 * (X[:, 0] > 0.5)


def test_tree_mixture_with_in_sample_noise_never_decreases():
    # A greedy tree refit can fit its new weights worse than the tree it replaces;
    # before such refits were put back, this fit fell by 0.09 per row at one step
    # and cycled without converging in 200 iterations.
    X, y = make_switching_regression(400, 4, 3, noise=[0.2, 0.5, 1.0], random_state=2)
    model = MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3), n_experts=3,
                                      noise_variance="in_sample", max_iter=200,
                                      random_state=0).fit(X, y)
    assert model.converged_
    assert np.min(np.diff(model.lower_bounds_)) >= -1e-12


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_tree_mixture_with_cross_fitted_noise_converges(seed):
    # These fits wandered for 300 iterations (steps of up to 0.04 per row) while
    # every refit, however small its gain, brought new out-of-fold noise.
    X, y = _regimes_with_a_step(seed)
    model = MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3), n_experts=3,
                                      max_iter=300, random_state=0).fit(X, y)
    assert model.converged_


class _WorseAfterFirstFits(RegressorMixin, BaseEstimator):
    """A weighted mean that is off by 100 once ``good_fits`` fits (of any instance)
    have been made: every refit after those fits its weights worse."""

    fits = 0
    good_fits = 0

    def fit(self, X, y, sample_weight=None):
        weight = np.ones(len(y)) if sample_weight is None else sample_weight
        type(self).fits += 1
        self.value_ = np.average(y, weights=weight)
        if type(self).fits > type(self).good_fits:
            self.value_ += 100.0
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.value_)


def test_a_refit_that_fits_worse_is_put_back_with_its_out_of_fold_noise(monkeypatch):
    import skmoe._regressor

    X, y = _one_regime(300, 0.3, 7)
    init = np.column_stack([X[:, 0] < 0, X[:, 0] >= 0]).astype(float)
    # The first M-step fits 2 experts and 3 fold clones of each.
    monkeypatch.setattr(_WorseAfterFirstFits, "fits", 0)
    monkeypatch.setattr(_WorseAfterFirstFits, "good_fits", 2 + 2 * 3)
    cross_fits = []
    cross_fitted = skmoe._regressor.cross_fitted_predictions

    def recording(expert, *args, **kwargs):
        cross_fits.append(expert)
        return cross_fitted(expert, *args, **kwargs)

    monkeypatch.setattr(skmoe._regressor, "cross_fitted_predictions", recording)
    model = MixtureOfExpertsRegressor(_WorseAfterFirstFits(), n_experts=2, init=init,
                                      max_iter=6, tol=0, random_state=0).fit(X, y)
    # Every later refit was worse and was put back: the experts are the first ones,
    # and their noise still comes from the first M-step's fold clones.
    assert _WorseAfterFirstFits.fits > 2 + 2 * 3
    for k in range(2):
        assert model.experts_[k].value_ == pytest.approx(np.average(y, weights=init[:, k]))
    assert len(cross_fits) == 2
    assert np.min(np.diff(model.lower_bounds_)) >= -1e-12


def test_failure_while_cross_fitting_names_the_expert():
    X, y = _one_regime(60, 0.3, 4)
    _FailsOnFewerRows.rows = None
    with pytest.raises(RuntimeError, match=r"Expert 0 \(_FailsOnFewerRows\) failed to fit "
                                           r"while its noise variance was cross-fitted: "
                                           r"ValueError: not enough rows"):
        MixtureOfExpertsRegressor(_FailsOnFewerRows(), n_experts=1, random_state=0).fit(X, y)


# ------------------------------------------------------------ bookkeeping
def test_convergence_warning_names_remedies():
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Increase max_iter, loosen tol, try more starts"):
        model = MixtureOfExpertsRegressor(n_experts=2, max_iter=1, tol=0,
                                          random_state=0).fit(X, y)
    assert not model.converged_
    assert model.n_iter_ == 1


def test_verbose_prints_starts_and_iterations(capsys):
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    MixtureOfExpertsRegressor(n_experts=2, n_init=2, max_iter=3, tol=0, random_state=0,
                              verbose=1).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["Start 0", "Start 1"]
    MixtureOfExpertsRegressor(n_experts=2, max_iter=3, tol=0, random_state=0,
                              verbose=2).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert re.match(r"  Iteration 1: log-likelihood -?[\d.]+, change inf, [\d.]+ s", out[0])
    assert re.match(r"  Iteration 3: log-likelihood -?[\d.]+, change -?[\d.e+-]+, [\d.]+ s",
                    out[2])


def test_same_random_state_gives_identical_fit():
    X, y = make_switching_regression(400, 3, 3, random_state=0)
    a = MixtureOfExpertsRegressor(n_experts=3, n_init=2, random_state=7).fit(X, y)
    b = MixtureOfExpertsRegressor(n_experts=3, n_init=2, random_state=7).fit(X, y)
    assert a.lower_bounds_ == b.lower_bounds_
    assert_array_equal(a.predict(X), b.predict(X))


def test_n_jobs_gives_identical_fit():
    X, y = make_switching_regression(400, 3, 3, random_state=0)
    a = MixtureOfExpertsRegressor(n_experts=3, max_iter=10, random_state=0).fit(X, y)
    b = MixtureOfExpertsRegressor(n_experts=3, max_iter=10, random_state=0, n_jobs=2).fit(X, y)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-12)


def test_user_experts_are_not_modified():
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    expert = DecisionTreeRegressor(max_depth=2)
    model = MixtureOfExpertsRegressor(expert, n_experts=2, max_iter=3, random_state=0)
    model.fit(X, y)
    assert not hasattr(expert, "tree_")
    assert expert.random_state is None
    seeds = [e.random_state for e in model.experts_]
    assert all(isinstance(s, int) for s in seeds) and seeds[0] != seeds[1]


def test_warm_start_resumes_from_fitted_state():
    X, y = make_switching_regression(500, 2, 3, noise=0.2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=5, tol=0, warm_start=True,
                                      n_init=3, random_state=0).fit(X, y)
    first = model.lower_bound_
    model.fit(X, y)
    assert model.lower_bounds_[0] >= first - 1e-10
    assert model.lower_bound_ >= first
    assert len(model.lower_bounds_) == 5


def test_random_and_array_init():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    random_init = MixtureOfExpertsRegressor(n_experts=2, init="random", random_state=0).fit(X, y)
    assert random_init.n_experts_ == 2
    init = np.column_stack([X[:, 0] < 0, X[:, 0] >= 0]).astype(float)
    model = MixtureOfExpertsRegressor(n_experts=2, init=init, max_iter=1, random_state=0)
    model.fit(X, y)
    # The first M-step: each default expert fitted on all rows with the array as weights.
    expected = ScaledRidge(alpha=10.0).fit(X, y, sample_weight=init[:, 0])
    assert_allclose(model.experts_[0].coef_, expected.coef_, rtol=1e-10)


def test_heterogeneous_experts():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor([LinearRegression(), DecisionTreeRegressor(max_depth=3)],
                                      n_experts=2, max_iter=5, random_state=0).fit(X, y)
    assert isinstance(model.experts_[0], LinearRegression)
    assert isinstance(model.experts_[1], DecisionTreeRegressor)


def test_mixture_as_expert_supplies_its_own_density():
    X, y = make_switching_regression(400, 2, 2, noise=0.2, random_state=0)
    inner = MixtureOfExpertsRegressor(n_experts=2, max_iter=5, random_state=0)
    outer = MixtureOfExpertsRegressor(inner, n_experts=2, max_iter=5, random_state=0).fit(X, y)
    gate = outer.predict_gate(X)
    inner_density = np.column_stack([e.score_samples(X, y) for e in outer.experts_])
    assert_allclose(outer.score_samples(X, y), logsumexp(np.log(gate) + inner_density, axis=1),
                    rtol=1e-10)
    mean, std = outer.predict(X, return_std=True)
    inner_mean = np.column_stack([e.predict(X) for e in outer.experts_])
    inner_var = np.column_stack([e.predict(X, return_std=True)[1] ** 2 for e in outer.experts_])
    assert_allclose(std**2, (gate * (inner_var + (inner_mean - mean[:, None]) ** 2)).sum(1),
                    rtol=1e-8)
    # Counted parameters: the outer gate, and each inner mixture's own count (no outer variance).
    inner_counts = sum(e._n_parameters() for e in outer.experts_)
    assert outer._n_parameters() == 1 * 3 + inner_counts


def test_classifier_gate():
    X, y = make_switching_regression(400, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, gate=DecisionTreeClassifier(max_depth=3),
                                      max_iter=10, random_state=0).fit(X, y)
    gate = model.predict_gate(X)
    assert gate.shape == (400, 2)
    assert_allclose(gate.sum(axis=1), 1.0)


# ------------------------------------------------------------ integration
def test_pipeline_grid_search_and_pickle(switching):
    X, y, _ = switching
    X, y = X[:600], y[:600]
    pipe = Pipeline([("scale", StandardScaler()),
                     ("moe", MixtureOfExpertsRegressor(max_iter=30, random_state=0))])
    search = GridSearchCV(pipe, {"moe__n_experts": [1, 3]}, cv=3).fit(X, y)
    assert search.best_params_ == {"moe__n_experts": 3}
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    assert_array_equal(restored.predict(X), search.best_estimator_.predict(X))


def test_dataframe_feature_names_kept(switching):
    X, y, _ = switching
    frame = pd.DataFrame(X[:300], columns=[f"f{i}" for i in range(5)])
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=5, random_state=0).fit(frame, y[:300])
    assert_array_equal(model.feature_names_in_, frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(frame)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.predict(X[:300])


def test_clone_keeps_parameters():
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=4, tol=1e-3)
    assert clone(model).get_params()["n_experts"] == 4


# ------------------------------------------------------------ bad input
def test_fewer_samples_than_experts():
    with pytest.raises(ValueError, match="Expected n_samples >= n_experts, got n_experts=5, "
                                         "n_samples=3"):
        MixtureOfExpertsRegressor(n_experts=5).fit(np.zeros((3, 2)), np.zeros(3))


def test_init_array_of_wrong_shape():
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_experts\)=\(50, 2\), got an "
                                         r"array of shape \(50, 3\)"):
        MixtureOfExpertsRegressor(n_experts=2, init=np.full((50, 3), 1 / 3)).fit(X, y)
    with pytest.raises(ValueError, match="Each row of the init array must sum to 1"):
        MixtureOfExpertsRegressor(n_experts=2, init=np.ones((50, 2))).fit(X, y)


@pytest.mark.parametrize("expert", [LogisticRegression(), KNeighborsClassifier()])
def test_classifier_expert_is_refused(expert):
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    name = type(expert).__name__
    with pytest.raises(TypeError, match=rf"expert 0 \({name}\) is a classifier"):
        MixtureOfExpertsRegressor(expert, n_experts=2).fit(X, y)


def test_non_estimator_expert_is_refused():
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    with pytest.raises(ValueError, match="The 'experts' parameter"):
        MixtureOfExpertsRegressor("linear", n_experts=2).fit(X, y)
    with pytest.raises(TypeError, match="expert 1 is 'linear'"):
        MixtureOfExpertsRegressor([LinearRegression(), "linear"], n_experts=2).fit(X, y)


def test_expert_list_length_must_match_n_experts():
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    with pytest.raises(ValueError, match="list of 2 estimators but n_experts=3"):
        MixtureOfExpertsRegressor([LinearRegression()] * 2, n_experts=3).fit(X, y)


def test_gate_without_sample_weight_is_refused():
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    with pytest.raises(TypeError, match="gate KNeighborsClassifier must accept sample_weight"):
        MixtureOfExpertsRegressor(n_experts=2, gate=KNeighborsClassifier()).fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(bad):
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    X_bad = X.copy()
    X_bad[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        MixtureOfExpertsRegressor(n_experts=2).fit(X_bad, y)
    y_bad = y.copy()
    y_bad[3] = bad
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        MixtureOfExpertsRegressor(n_experts=2).fit(X, y_bad)


def test_two_column_target_is_refused():
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    message = r"y should be a 1d array, got an array of shape \(50, 2\)"
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(n_experts=2).fit(X, np.column_stack([y, y]))


@pytest.mark.parametrize(
    "weights, message",
    [
        (-np.ones(50), "Negative values in data passed to `?sample_weight"),
        (np.zeros(50), "Sample weights must contain at least one non-zero number"),
        (np.full(50, np.nan), "sample_weight must be finite"),
    ],
)
def test_bad_sample_weight_is_refused(weights, message):
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(n_experts=2).fit(X, y, sample_weight=weights)


def test_default_gate_is_softmax():
    X, y = make_switching_regression(100, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, random_state=0).fit(X, y)
    assert isinstance(model.gate_, SoftmaxGate)


def test_the_weights_power_of_two_is_their_magnitude():
    # The likelihood's M-step scales the weights by a power of two computed from one
    # float; it must be the one skmoe._scaling.magnitude gives (the same numbers).
    from skmoe._scaling import magnitude
    from skmoe._scaling import power_of_two as _power_of_two

    values = [0.0, -0.0, 1.0, 0.75, 3.0, -2.5, 2.0**60, 1e300, 1e-310, 5e-324,
              np.finfo(float).max, np.inf, -np.inf]
    for value in values:
        assert _power_of_two(value) == float(magnitude(np.array([[value]]))[0]), value
    assert _power_of_two(np.nan) == 1.0
