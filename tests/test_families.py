"""Likelihood families of MixtureOfExpertsRegressor and its predictive distribution."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    PoissonRegressor,
    QuantileRegressor,
    TweedieRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from skmoe import MixtureOfExpertsRegressor
from skmoe._families import FAMILIES
from skmoe.datasets import make_switching_regression
from skmoe.inspection import expert_summary, posterior

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

COEF = np.array([[1.0, -0.5], [-1.0, 0.8]])
INTERCEPT = np.array([1.0, 2.0])


def _glm_data(family, n_samples=3000, seed=0):
    """Two GLM regimes with log link, switched by a gate on the first feature."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n_samples, 2))
    regime = (rng.uniform(size=n_samples) < 1 / (1 + np.exp(-4 * X[:, 0]))).astype(int)
    mean = np.exp(np.einsum("ij,ij->i", X, COEF[regime]) + INTERCEPT[regime])
    if family == "poisson":
        y = rng.poisson(mean).astype(float)
    else:
        y = rng.gamma(2.0, mean / 2.0)  # dispersion 0.5
    return X, y


def _exact(expert):
    return expert.set_params(alpha=0.0, solver="newton-cholesky", tol=1e-12, max_iter=1000)


def _matched_coef(model, coef):
    fitted = np.array([np.r_[e.coef_, e.intercept_] for e in model.experts_])
    cost = ((coef[:, None, :] - fitted[None]) ** 2).sum(axis=2)
    truth, order = linear_sum_assignment(cost)
    return fitted[order[np.argsort(truth)]]


# ------------------------------------------------- densities against scipy
PARAMS = {
    "gaussian": {"noise_variance_": np.array([0.3, 2.0])},
    "student_t": {"noise_scale_": np.array([0.5, 2.0]), "df_": np.array([1.5, 7.0])},
    "laplace": {"noise_scale_": np.array([0.4, 1.7])},
    "poisson": {},
    "gamma": {"dispersion_": np.array([0.5, 2.5])},
}


def _scipy(name, mean, params):
    """scipy.stats' frozen distributions of the two experts, column by column."""
    if name == "gaussian":
        return stats.norm(mean, np.sqrt(params["noise_variance_"]))
    if name == "student_t":
        return stats.t(params["df_"], mean, params["noise_scale_"])
    if name == "laplace":
        return stats.laplace(mean, params["noise_scale_"])
    if name == "poisson":
        return stats.poisson(mean)
    shape = 1 / params["dispersion_"]
    return stats.gamma(shape, scale=mean / shape)


def _values(name, rng, n):
    if name == "poisson":
        return rng.poisson(3.0, size=n).astype(float)
    if name == "gamma":
        return rng.gamma(2.0, 1.5, size=n)
    return rng.normal(1.0, 2.0, size=n)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_log_density_cdf_quantiles_and_variance_equal_scipy(name):
    rng = np.random.RandomState(0)
    family, params = FAMILIES[name], PARAMS[name]
    mean = rng.uniform(0.5, 4.0, size=(200, 2))
    y = _values(name, rng, 200)
    reference = _scipy(name, mean, params)
    log_pdf = reference.logpmf(y[:, None]) if family.discrete else reference.logpdf(y[:, None])
    assert_allclose(family.log_density(y, mean, params), log_pdf, rtol=1e-10, atol=1e-12)
    out = np.empty_like(mean)
    family.log_density(y, mean, params, out)
    assert_allclose(out, log_pdf, rtol=1e-10, atol=1e-12)
    assert_allclose(family.cdf(y[:, None], mean, params), reference.cdf(y[:, None]),
                    rtol=1e-9, atol=1e-12)
    levels = rng.uniform(0.01, 0.99, size=(200, 2))
    assert_allclose(family.ppf(levels, mean, params), reference.ppf(levels), rtol=1e-8,
                    atol=1e-9)
    assert_allclose(family.variance(mean, params), reference.var(), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_samplers_draw_the_family(name):
    family, params = FAMILIES[name], {k: v[:1] for k, v in PARAMS[name].items()}
    mean = np.full(50_000, 2.5)
    draws = family.sample(mean, params, np.random.RandomState(0))
    reference = _scipy(name, 2.5, {k: v[0] for k, v in params.items()})
    result = stats.cramervonmises(draws, reference.cdf) if not family.discrete else None
    if family.discrete:
        counts = np.bincount(draws.astype(int), minlength=15)[:15] / draws.size
        assert_allclose(counts, reference.pmf(np.arange(15)), atol=0.005)
    else:
        assert result.pvalue > 0.001


# ------------------------------------------------------- GLM experts
def test_poisson_experts_get_the_poisson_likelihood_and_recover_the_truth():
    X, y = _glm_data("poisson")
    model = MixtureOfExpertsRegressor(_exact(PoissonRegressor()), n_experts=2,
                                      random_state=0).fit(X, y)
    assert model.family_ == "poisson"
    assert not hasattr(model, "noise_variance_")
    assert_allclose(_matched_coef(model, np.c_[COEF, INTERCEPT]), np.c_[COEF, INTERCEPT],
                    atol=0.1)
    mean = np.column_stack([e.predict(X) for e in model.experts_])
    gate = model.predict_gate(X)
    expected = logsumexp(np.log(gate) + stats.poisson.logpmf(y[:, None], mean), axis=1)
    assert_allclose(model.score_samples(X, y), expected, rtol=1e-10)
    # No parameter besides the GLMs' coefficients: gate (K-1)(d+1) + experts K(d+1).
    assert model._n_parameters() == 3 + 6
    assert_allclose(model.bic(X, y), -2 * expected.sum() + 9 * np.log(len(y)))
    assert_allclose(model.aic(X, y), -2 * expected.sum() + 18)
    prediction, std = model.predict(X, return_std=True)
    assert_allclose(std**2, (gate * (mean + (mean - prediction[:, None]) ** 2)).sum(axis=1))
    assert list(expert_summary(model).columns)[:4] == ["expert", "share",
                                                       "effective_n_samples", "intercept"]


def test_glm_experts_start_each_m_step_from_their_last_fit(monkeypatch):
    import skmoe._base

    X, y = _glm_data("poisson", n_samples=800)
    kwargs = dict(n_experts=2, max_iter=15, tol=0, random_state=0)
    warm = MixtureOfExpertsRegressor(_exact(PoissonRegressor()), **kwargs).fit(X, y)
    # The same EM with every M-step's fits started from zero.
    monkeypatch.setattr(skmoe._base, "warm_start_glms", lambda experts: set())
    cold = MixtureOfExpertsRegressor(_exact(PoissonRegressor()), **kwargs).fit(X, y)
    assert_allclose(warm.lower_bounds_, cold.lower_bounds_, rtol=1e-9)
    for a, b in zip(warm.experts_, cold.experts_):
        assert_allclose(a.coef_, b.coef_, rtol=1e-7)
    # The fitted experts carry the parameters the user gave.
    assert all(expert.warm_start is False for expert in warm.experts_)
    # Fewer solver iterations: the last M-step's fits started near their optimum.
    assert sum(e.n_iter_ for e in warm.experts_) < sum(e.n_iter_ for e in cold.experts_)


class _ThreadRecordingPoisson(PoissonRegressor):
    """A Poisson expert that records the OpenMP threads it is given in each fit."""

    threads = []

    def fit(self, X, y, sample_weight=None):
        # The number of threads scikit-learn's GLM losses ask OpenMP for.
        type(self).threads.append(_openmp_effective_n_threads())
        return super().fit(X, y, sample_weight=sample_weight)


def test_glm_experts_fit_on_one_openmp_thread():
    X, y = _glm_data("poisson", n_samples=300)
    _ThreadRecordingPoisson.threads = []
    MixtureOfExpertsRegressor(_exact(_ThreadRecordingPoisson()), n_experts=2, max_iter=3,
                              random_state=0).fit(X, y)
    assert _ThreadRecordingPoisson.threads and set(_ThreadRecordingPoisson.threads) == {1}


def test_gamma_experts_fit_their_dispersion():
    X, y = _glm_data("gamma")
    model = MixtureOfExpertsRegressor(_exact(GammaRegressor()), n_experts=2,
                                      random_state=0).fit(X, y)
    assert model.family_ == "gamma"
    assert_allclose(model.dispersion_, 0.5, rtol=0.1)
    assert_allclose(_matched_coef(model, np.c_[COEF, INTERCEPT]), np.c_[COEF, INTERCEPT],
                    atol=0.1)
    mean = np.column_stack([e.predict(X) for e in model.experts_])
    shape = 1 / model.dispersion_
    expected = logsumexp(np.log(model.predict_gate(X))
                         + stats.gamma.logpdf(y[:, None], shape, scale=mean / shape), axis=1)
    assert_allclose(model.score_samples(X, y), expected, rtol=1e-10)
    assert model._n_parameters() == 3 + 6 + 2
    assert_allclose(expert_summary(model)["dispersion"], model.dispersion_)


@pytest.mark.parametrize("expert, family", [
    (TweedieRegressor(power=0), "gaussian"),
    (TweedieRegressor(power=1, link="log"), "poisson"),
    (TweedieRegressor(power=2, link="log"), "gamma"),
    (make_pipeline(StandardScaler(), PoissonRegressor()), "poisson"),
])
def test_tweedie_powers_and_pipelines_give_their_family(expert, family):
    X, y = _glm_data("poisson", n_samples=300)
    y = y + 1  # positive for the Gamma family
    model = MixtureOfExpertsRegressor(expert, n_experts=2, max_iter=5, random_state=0)
    assert model.fit(X, y).family_ == family


def test_other_tweedie_powers_are_refused():
    X, y = _glm_data("poisson", n_samples=100)
    model = MixtureOfExpertsRegressor(TweedieRegressor(power=1.5), n_experts=2)
    with pytest.raises(ValueError, match=r"Expert 0 is a TweedieRegressor with power=1.5; "
                                         r"skmoe computes the likelihood of power 0"):
        model.fit(X, y)


@pytest.mark.parametrize("expert, bad, message", [
    (PoissonRegressor(), -1.0, "y must hold non-negative integers for the Poisson family"),
    (PoissonRegressor(), 2.5, "y must hold non-negative integers for the Poisson family"),
    (GammaRegressor(), 0.0, "y must be positive for the Gamma family"),
])
def test_targets_outside_the_family_are_refused_before_any_fit(expert, bad, message,
                                                               monkeypatch):
    X, y = _glm_data("poisson", n_samples=100)
    y = y + 1
    y[7] = bad

    def fail(*args, **kwargs):
        raise AssertionError("an expert was fitted")

    monkeypatch.setattr("skmoe._base.fit_experts", fail)
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(expert, n_experts=2).fit(X, y)


def test_score_samples_checks_targets_against_the_family():
    X, y = _glm_data("poisson", n_samples=300)
    model = MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2, max_iter=3,
                                      random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="non-negative integers"):
        model.score_samples(X[:2], [1.0, -3.0])


def test_mixed_families_and_misplaced_noise_are_refused():
    X, y = _glm_data("poisson", n_samples=100)
    with pytest.raises(ValueError, match=r"different likelihood families \(expert 0 is "
                                         r"poisson, expert 1 is gaussian\)"):
        MixtureOfExpertsRegressor([PoissonRegressor(), LinearRegression()],
                                  n_experts=2).fit(X, y)
    with pytest.raises(ValueError, match=r"noise='student_t' is for experts that predict only "
                                         r"a mean; expert 0 \(PoissonRegressor\)"):
        MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2, noise="student_t").fit(X, y)
    with pytest.raises(ValueError, match=r"noise_variance='cross_fitted' applies to the "
                                         r"families with a noise scale .* the experts' "
                                         r"family is poisson"):
        MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2,
                                  noise_variance="cross_fitted").fit(X, y)


# ------------------------------------------------- heavy-tailed noise
def _contaminated(seed=0, n_samples=2000):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n_samples, 2))
    regime = (rng.uniform(size=n_samples) < 1 / (1 + np.exp(-4 * X[:, 0]))).astype(int)
    y = np.einsum("ij,ij->i", X, COEF[regime]) + INTERCEPT[regime]
    y += 0.1 * rng.standard_normal(n_samples)
    outliers = rng.uniform(size=n_samples) < 0.1
    y[outliers] += rng.choice([-1, 1], outliers.sum()) * rng.uniform(5, 15, outliers.sum())
    return X, y


def test_student_t_experts_recover_coefficients_under_gross_outliers():
    X, y = _contaminated()
    truth = np.c_[COEF, INTERCEPT]
    errors = {}
    for noise in ("gaussian", "student_t"):
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise=noise,
                                          n_init=3, random_state=0).fit(X, y)
        errors[noise] = np.abs(_matched_coef(model, truth) - truth).max()
    assert errors["student_t"] <= 0.1
    assert errors["gaussian"] > 0.1
    summary = expert_summary(model)
    assert_allclose(summary["noise_scale"], model.noise_scale_)
    assert_allclose(summary["df"], model.df_)


def test_student_t_score_samples_and_std_follow_the_family():
    X, y = _contaminated(n_samples=600)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      random_state=0).fit(X, y)
    mean = np.column_stack([e.predict(X) for e in model.experts_])
    gate = model.predict_gate(X)
    expected = logsumexp(np.log(gate) + stats.t.logpdf(y[:, None], model.df_, mean,
                                                       model.noise_scale_), axis=1)
    assert_allclose(model.score_samples(X, y), expected, rtol=1e-10)
    assert model._n_parameters() == 3 + 6 + 4
    model.df_ = np.array([1.5, 6.0])  # one infinite variance, one finite
    assert np.all(np.isinf(model.predict(X[:3], return_std=True)[1]))
    model.df_ = np.array([3.0, 6.0])
    variance = stats.t(model.df_, 0, model.noise_scale_).var()
    prediction, std = model.predict(X, return_std=True)
    assert_allclose(std**2, (gate * (variance + (mean - prediction[:, None]) ** 2)).sum(1),
                    rtol=1e-10)


@pytest.mark.parametrize("case", ["student_t", "student_t_ridge", "laplace", "laplace_ridge",
                                  "poisson", "gamma"])
@pytest.mark.parametrize("seed", [0, 1])
def test_log_likelihood_never_decreases_for_every_family(case, seed):
    if case in ("poisson", "gamma"):
        X, y = _glm_data(case, n_samples=800, seed=seed)
        expert = _exact(PoissonRegressor() if case == "poisson" else GammaRegressor())
        noise = "gaussian"
    else:
        X, y = _contaminated(seed, n_samples=800)
        expert = None if case.endswith("ridge") else LinearRegression()
        noise = case.removesuffix("_ridge")
    weights = np.random.RandomState(seed).uniform(0.2, 3, size=len(y))
    # In-sample noise: a cross-fitted scale (the ScaledRidge experts' default) is not
    # the likelihood's maximiser, and EM may then move the bound down a little.
    model = MixtureOfExpertsRegressor(expert, n_experts=3, noise=noise, max_iter=60, tol=0,
                                      noise_variance="in_sample",
                                      random_state=seed).fit(X, y, sample_weight=weights)
    bounds = np.array(model.lower_bounds_)
    assert len(bounds) == 60
    steps = np.diff(bounds)
    assert np.all(steps >= -1e-8 * np.abs(bounds[1:])), steps.min()


def test_refit_with_another_family_drops_the_old_parameters():
    X, y = _glm_data("poisson", n_samples=300)
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, random_state=0).fit(X, y)
    assert hasattr(model, "noise_variance_")
    model.set_params(noise="student_t").fit(X, y)
    assert model.family_ == "student_t"
    assert not hasattr(model, "noise_variance_")
    assert model.noise_scale_.shape == model.df_.shape == (2,)


# ------------------------------------------------- predictive distribution
@pytest.fixture(scope="module")
def switching():
    X, y = make_switching_regression(25_000, 2, 2, noise=[0.2, 0.6], gate_sharpness=1.0,
                                     random_state=3)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0)
    return model.fit(X[:5000], y[:5000]), X[5000:], y[5000:]


def test_ninety_percent_intervals_cover_ninety_percent_of_new_rows(switching):
    model, X, y = switching
    interval = model.predict_interval(X, coverage=0.9)
    covered = np.mean((interval[:, 0] <= y) & (y <= interval[:, 1]))
    assert abs(covered - 0.9) <= 0.015
    assert_allclose(model.predict_cdf(X, interval[:, 0]), 0.05, atol=1e-8)
    assert_allclose(model.predict_cdf(X, interval[:, 1]), 0.95, atol=1e-8)


def test_quantiles_invert_the_cdf_and_rise_with_the_level(switching):
    model, X, _ = switching
    levels = np.array([0.9, 0.01, 0.5, 0.3, 0.99])
    quantiles = model.predict_quantiles(X[:2000], levels)
    assert quantiles.shape == (2000, 5)
    for column, level in enumerate(levels):
        assert_allclose(model.predict_cdf(X[:2000], quantiles[:, column]), level, atol=1e-8)
    order = np.argsort(levels)
    assert np.all(np.diff(quantiles[:, order], axis=1) >= 0)
    # The mixture's distribution function, from scipy.
    gate = model.predict_gate(X[:5])
    mean = np.column_stack([e.predict(X[:5]) for e in model.experts_])
    cdf = (gate * stats.norm.cdf(quantiles[:5, :1], mean, np.sqrt(model.noise_variance_)))
    assert_allclose(cdf.sum(axis=1), 0.9, atol=1e-8)


@pytest.mark.parametrize("noise, reference", [("gaussian", stats.norm),
                                               ("laplace", stats.laplace)])
@pytest.mark.parametrize("top_k", [None, 1])
def test_compiled_quantiles_invert_scipys_mixture_cdf(noise, reference, top_k):
    # Gaussian and Laplace mixtures are solved by the compiled kernel: each
    # quantile is the root of the mixture CDF built from scipy and the fitted
    # parameters (with top_k, over the kept expert), to 1e-10 in probability.
    X, y = make_switching_regression(1500, 2, 3, noise=[0.2, 0.5, 1.0], random_state=1)
    model = MixtureOfExpertsRegressor(n_experts=3, noise=noise, top_k=top_k, random_state=0)
    model.fit(X[:1000], y[:1000])
    levels = np.array([0.5, 0.001, 0.25, 0.999])
    quantiles = model.predict_quantiles(X[1000:], levels)
    gate = model.predict_gate(X[1000:])
    if top_k == 1:
        gate = (gate == gate.max(axis=1, keepdims=True)).astype(float)
    mean = np.column_stack([e.predict(X[1000:]) for e in model.experts_])
    scale = (np.sqrt(model.noise_variance_) if noise == "gaussian" else model.noise_scale_)
    for column, level in enumerate(levels):
        cdf = (gate * reference.cdf(quantiles[:, column:column + 1], mean, scale)).sum(axis=1)
        assert_allclose(cdf, level, rtol=0, atol=1e-10)
    assert np.all(np.diff(quantiles[:, np.argsort(levels)], axis=1) >= 0)


@pytest.mark.parametrize("case", ["gaussian", "student_t", "laplace", "poisson", "gamma"])
def test_sample_moments_match_predict_and_quantiles_invert_the_cdf(case):
    if case in ("poisson", "gamma"):
        X, y = _glm_data(case, n_samples=1000)
        expert, noise = (PoissonRegressor(alpha=0) if case == "poisson"
                         else GammaRegressor(alpha=0)), "gaussian"
    else:
        X, y = _contaminated(n_samples=1000) if case != "gaussian" else _glm_data("gamma", 1000)
        expert, noise = LinearRegression(), case
    model = MixtureOfExpertsRegressor(expert, n_experts=2, noise=noise, random_state=0)
    model.fit(X, y)
    if case == "student_t":
        model.df_ = np.array([5.0, 9.0])  # finite fourth moment for the check
    rows = X[:4]
    draws = model.sample_y(rows, n_samples=100_000, random_state=0)
    assert draws.shape == (4, 100_000)
    mean, std = model.predict(rows, return_std=True)
    assert np.all(np.abs(draws.mean(axis=1) - mean) <= 5 * std / np.sqrt(100_000))
    assert_allclose(draws.std(axis=1), std, rtol=0.03)
    quantiles = model.predict_quantiles(rows, (0.1, 0.5, 0.9))
    cdf = np.column_stack([model.predict_cdf(rows, quantiles[:, j]) for j in range(3)])
    if case == "poisson":
        # The smallest integer whose probability reaches the level.
        below = np.column_stack([model.predict_cdf(rows, quantiles[:, j] - 1)
                                 for j in range(3)])
        assert np.all(cdf >= [0.1, 0.5, 0.9]) and np.all(below < [0.1, 0.5, 0.9])
        assert np.all(draws == np.round(draws))
    else:
        assert_allclose(cdf, np.broadcast_to([0.1, 0.5, 0.9], cdf.shape), atol=1e-8)
        assert_allclose(np.mean(draws <= quantiles[:, 1:2], axis=1), 0.5, atol=0.01)


def test_mixture_as_expert_gives_its_predictive_distribution():
    X, y = make_switching_regression(600, 2, 2, noise=0.3, random_state=1)
    inner = MixtureOfExpertsRegressor(n_experts=2, max_iter=10, random_state=0)
    outer = MixtureOfExpertsRegressor(inner, n_experts=2, max_iter=5, random_state=0).fit(X, y)
    quantiles = outer.predict_quantiles(X[:50], (0.2, 0.7))
    assert_allclose(outer.predict_cdf(X[:50], quantiles[:, 1]), 0.7, atol=1e-8)
    gate = outer.predict_gate(X[:50])
    inner_cdf = np.column_stack([e.predict_cdf(X[:50], quantiles[:, 0])
                                 for e in outer.experts_])
    assert_allclose((gate * inner_cdf).sum(axis=1), 0.2, atol=1e-8)
    assert outer.sample_y(X[:3], n_samples=2, random_state=0).shape == (3, 2)


class _DensityOnly(RegressorMixin, BaseEstimator):
    """A Gaussian expert that brings its own density and nothing else."""

    def fit(self, X, y, sample_weight=None):
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def score_samples(self, X, y):
        return stats.norm.logpdf(y, self.predict(X), 1.0)


def test_experts_with_their_own_density_need_its_distribution_methods():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(_DensityOnly(), n_experts=2, max_iter=3,
                                      random_state=0).fit(X, y)
    # scikit-learn's available_if names the method; the reason is the cause, in the traceback.
    with pytest.raises(AttributeError, match="has no attribute 'predict_interval'") as info:
        model.predict_interval(X)
    assert str(info.value.__cause__) == (
        "Expert 0 (_DensityOnly) defines its own density (score_samples) but no predict_cdf "
        "method; the predictive distribution needs predict_cdf and predict_quantiles of such "
        "experts.")
    with pytest.raises(AttributeError, match="has no attribute 'sample_y'") as info:
        model.sample_y(X)
    assert "but no sample_y method" in str(info.value.__cause__)
    for method in ("predict_cdf", "predict_quantiles", "predict_interval", "sample_y",
                   "crps_samples"):
        assert not hasattr(model, method)
        # Unfitted, the experts' templates decide.
        assert not hasattr(clone(model), method)
        assert hasattr(MixtureOfExpertsRegressor(), method)
    with pytest.raises(ValueError, match=r"predict\(return_std=True\) needs the variance of "
                                         r"every expert; expert 0 \(_DensityOnly\) defines its "
                                         r"own density \(score_samples\) but its predict takes "
                                         r"no return_std"):
        model.predict(X, return_std=True)
    assert model.predict(X).shape == (X.shape[0],)


@pytest.mark.parametrize("method, kwargs, message", [
    ("predict_quantiles", {"quantiles": (0.1, 1.0)}, "quantiles must be levels strictly"),
    ("predict_quantiles", {"quantiles": 0.0}, "quantiles must be levels strictly"),
    ("predict_quantiles", {"quantiles": []}, "quantiles must be levels strictly"),
    ("predict_interval", {"coverage": 1.0}, "coverage must be a probability strictly"),
    ("predict_interval", {"coverage": -0.2}, "coverage must be a probability strictly"),
    ("sample_y", {"n_samples": 0}, "n_samples must be a positive integer, got 0"),
    ("sample_y", {"n_samples": 2.5}, "n_samples must be a positive integer, got 2.5"),
])
def test_bad_predictive_arguments_name_the_parameter(switching, method, kwargs, message):
    model, X, _ = switching
    with pytest.raises(ValueError, match=message):
        getattr(model, method)(X[:3], **kwargs)


@pytest.mark.parametrize("noise", ["student_t", "laplace"])
def test_heavy_tailed_scales_of_trees_are_cross_fitted(noise):
    # A tree fits its rows nearly exactly: as for Gaussian noise, the t and Laplace
    # scales of such experts come from residuals of refits without each row's fold.
    from sklearn.base import clone
    from sklearn.tree import DecisionTreeRegressor

    from skmoe._regressor import noise_folds

    X, y = _contaminated(seed=1, n_samples=300)
    init = np.column_stack([X[:, 0] < 0, X[:, 0] >= 0]).astype(float)
    kwargs = dict(n_experts=2, init=init, max_iter=1, noise=noise, random_state=0)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0)
    auto = MixtureOfExpertsRegressor(tree, **kwargs).fit(X, y)
    in_sample = MixtureOfExpertsRegressor(tree, noise_variance="in_sample", **kwargs).fit(X, y)
    folds = noise_folds(300, 10)
    for k, expert in enumerate(auto.experts_):
        out_of_fold = np.empty(300)
        for fold in range(10):
            held = folds == fold
            # Each leaf keeps min_rows_per_parameter (3) rows' worth of weight.
            refit = clone(expert).set_params(
                min_weight_fraction_leaf=3.0 / init[~held, k].sum())
            refit.fit(X[~held], y[~held], sample_weight=init[~held, k])
            out_of_fold[held] = refit.predict(X[held])
        for model, mean in ((auto, out_of_fold), (in_sample, expert.predict(X))):
            residual = y - mean
            if noise == "laplace":
                expected = np.sum(init[:, k] * np.abs(residual)) / init[:, k].sum()
                assert model.noise_scale_[k] == pytest.approx(expected, rel=1e-10)
            else:
                scale, df = _weighted_t_fit(residual, init[:, k])
                assert model.noise_scale_[k] == pytest.approx(scale, rel=1e-4)
                assert model.df_[k] == pytest.approx(df, rel=1e-3)
    assert np.all(auto.noise_scale_ > in_sample.noise_scale_)


def _weighted_t_fit(residual, weight):
    """The weighted maximum-likelihood t scale and degrees of freedom (in [1, 200]) of
    residuals around zero, by Nelder-Mead on scipy's t density: a reference that
    shares nothing with the family's own gradient-based fit."""
    from scipy.optimize import minimize

    def minus_log_lik(params):
        scale, df = np.exp(params[0]), np.clip(np.exp(params[1]), 1.0, 200.0)
        return -weight @ stats.t.logpdf(residual, df, scale=scale) / weight.sum()

    best = None
    for df in (2.0, 10.0, 100.0):
        start = [np.log(np.sqrt(weight @ residual**2 / weight.sum())), np.log(df)]
        result = minimize(minus_log_lik, start, method="Nelder-Mead",
                          options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 4000})
        if best is None or result.fun < best.fun:
            best = result
    return np.exp(best.x[0]), float(np.clip(np.exp(best.x[1]), 1.0, 200.0))


@pytest.mark.parametrize("df", [3.0, np.inf])
def test_student_t_degrees_of_freedom_reach_their_maximum_likelihood_in_one_fit(df):
    # ECME: each M-step maximises the t likelihood in nu itself. The complete-data
    # step in nu alone is so short near Gaussian noise that a fit stopped by its
    # tolerance with nu near its start of 4 (about 11 for Gaussian noise).
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(4000, 2))
    regime = (X[:, 0] > 0).astype(int)
    noise = rng.standard_normal(4000) if np.isinf(df) else rng.standard_t(df, 4000)
    y = np.einsum("ij,ij->i", X, COEF[regime]) + INTERCEPT[regime] + 0.3 * noise
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      random_state=0).fit(X, y)
    assert model.converged_
    if np.isinf(df):
        assert np.all(model.df_ >= 50), model.df_
        assert_allclose(model.noise_scale_, 0.3, rtol=0.05)
    else:
        assert np.all((model.df_ > 2.4) & (model.df_ < 3.8)), model.df_
        assert_allclose(model.noise_scale_, 0.3, rtol=0.1)
        # At convergence each expert's (scale, df) is the t fit of its residuals
        # weighted by the responsibilities.
        resp = posterior(model, X, y)
        for k, expert in enumerate(model.experts_):
            scale, df_k = _weighted_t_fit(y - expert.predict(X), resp[:, k])
            assert model.noise_scale_[k] == pytest.approx(scale, rel=1e-3)
            assert model.df_[k] == pytest.approx(df_k, rel=1e-2)


@pytest.mark.parametrize("expert", [
    QuantileRegressor(quantile=0.9, alpha=0.0),
    HistGradientBoostingRegressor(loss="quantile", quantile=0.1),
    GradientBoostingRegressor(loss="quantile", alpha=0.95),
    make_pipeline(StandardScaler(), QuantileRegressor(quantile=0.25, alpha=0.0)),
])
def test_experts_that_predict_a_quantile_other_than_the_median_are_refused(expert, monkeypatch):
    # Scored as Gaussian around its 0.9-quantile, such an expert's likelihood would
    # not be the model's; refused before any work.
    import skmoe._base

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the expert was refused")

    monkeypatch.setattr(skmoe._base, "initial_responsibilities", no_work)
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    with pytest.raises(ValueError, match=r"Expert 0 \(\w+\) predicts the 0\.\d+-quantile of y"):
        MixtureOfExpertsRegressor(expert, n_experts=2).fit(X, y)


@pytest.mark.parametrize("expert", [
    GradientBoostingRegressor(loss="quantile", alpha=0.5, n_estimators=20),
    HistGradientBoostingRegressor(loss="absolute_error", max_iter=20),
])
def test_median_experts_are_accepted_with_symmetric_noise(expert):
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(expert, n_experts=2, noise="laplace", max_iter=5,
                                      random_state=0).fit(X, y)
    assert np.isfinite(model.score_samples(X, y)).all()


def _fitted_family_mixture(case):
    if case in ("poisson", "gamma"):
        X, y = _glm_data(case, n_samples=1500)
        expert = PoissonRegressor(alpha=0) if case == "poisson" else GammaRegressor(alpha=0)
        model = MixtureOfExpertsRegressor(expert, n_experts=3, random_state=0)
    else:
        X, y = _contaminated(n_samples=1500)
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=3, noise=case,
                                          random_state=0)
    return model.fit(X[:1000], y[:1000]), X[1000:]


@pytest.mark.parametrize("case", ["student_t", "gamma", "poisson"])
def test_compiled_quantiles_of_t_gamma_and_poisson_equal_the_numpy_path(case, monkeypatch):
    # Every family takes the compiled kernel; its quantiles invert scipy's
    # mixture CDF (predict_cdf) to 1e-10 in probability, and are the NumPy
    # path's (the exact integer quantiles for Poisson).
    model, X = _fitted_family_mixture(case)
    if case == "student_t":
        # Its 10% of gross outliers take every expert's fitted df to the bound of 1:
        # three shapes, so that the kernel's per-expert constants are exercised.
        model.df_ = np.array([1.0, 3.5, 40.0])
    levels = np.array([0.5, 0.001, 0.25, 0.95, 0.999])

    def numpy_path(*args, **kwargs):
        raise AssertionError("the NumPy path was taken")

    with monkeypatch.context() as patch:
        patch.setattr(MixtureOfExpertsRegressor, "_solve_quantile", numpy_path)
        compiled = model.predict_quantiles(X, levels)
    with monkeypatch.context() as patch:
        patch.setattr(MixtureOfExpertsRegressor, "_quantile_kernel_family", lambda self: None)
        numpy = model.predict_quantiles(X, levels)
    assert np.all(np.diff(compiled[:, np.argsort(levels)], axis=1) >= 0)
    for column, level in enumerate(levels):
        cdf = model.predict_cdf(X, compiled[:, column])
        if case == "poisson":
            assert np.all(cdf >= level)
            assert np.all(model.predict_cdf(X, compiled[:, column] - 1) < level)
        else:
            assert_allclose(cdf, level, rtol=0, atol=1e-10)
            assert_allclose(model.predict_cdf(X, numpy[:, column]), cdf, rtol=0, atol=1e-8)
    if case == "poisson":
        np.testing.assert_array_equal(compiled, numpy)


@pytest.mark.parametrize("shift", [1e12, 1e20, 1e30])
def test_poisson_quantiles_of_huge_means_end_on_both_paths(shift, monkeypatch):
    # The integer bisections of the NumPy path (Poisson.ppf, the mixture's solve) and
    # of the kernel never ended beyond 2**53, where floats are not every integer.
    model, X = _fitted_family_mixture("poisson")
    X = X[:20]
    for expert in model.experts_:
        expert.intercept_ += np.log(shift)
    means = np.column_stack([expert.predict(X) for expert in model.experts_])
    levels = np.array([0.05, 0.5, 0.95])
    compiled = model.predict_quantiles(X, levels)
    with monkeypatch.context() as patch:
        patch.setattr(MixtureOfExpertsRegressor, "_quantile_kernel_family", lambda self: None)
        numpy = model.predict_quantiles(X, levels)
    # Both lie within the experts' own quantiles (normal approximations, whose error
    # is below one sd), and rise with the level.
    z = stats.norm.ppf(levels)
    sd = np.sqrt(means)
    low = (means[:, :, None] + (z - 1) * sd[:, :, None]).min(axis=1)
    high = (means[:, :, None] + (z + 1) * sd[:, :, None]).max(axis=1)
    for result in (compiled, numpy):
        assert np.all((result >= low) & (result <= high))
        assert np.all(np.diff(result, axis=1) >= 0)
    assert_allclose(compiled, numpy, rtol=1e-6)


def test_poisson_targets_of_zeros_are_refused_before_any_fit_and_a_dead_expert_is_named(
        monkeypatch):
    # Both ended in "predicted a mean <= 0 ...; use a log link", advice to experts
    # that have one: PoissonRegressor fits a mean of exactly 0 to targets all 0.
    X, y = _glm_data("poisson", n_samples=200)
    zeros = np.zeros(200)

    def fail(*args, **kwargs):
        raise AssertionError("an expert was fitted")

    message = ("y is 0 on every row of positive weight: the Poisson family's mean is then 0, "
               "which its log link cannot reach")
    with monkeypatch.context() as patch:
        patch.setattr("skmoe._base.fit_experts", fail)
        with pytest.raises(ValueError, match=message):
            MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2).fit(X, zeros)
        with pytest.raises(ValueError, match=message):
            MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2).fit(
                X, np.where(np.arange(200) < 3, 1.0, 0.0),
                sample_weight=np.where(np.arange(200) < 3, 0.0, 1.0))
    # Three counts of 1 among 200 rows: one of two experts is left the zeros.
    sparse = np.where(np.arange(200) < 3, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"Expert \d \(PoissonRegressor\) predicted a mean of "
                                         r"0, which the Poisson family cannot hold: its log "
                                         r"link's exp underflowed"):
        MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2, random_state=0).fit(
            X, sparse)
    one = MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=1).fit(X, sparse)
    assert np.all(one.predict(X) > 0)
    # An identity link can go below 0: there the advice stands.
    with pytest.raises(ValueError, match=r"Expert \d \(TweedieRegressor\) predicted a mean <= "
                                         r"0, which the Poisson family cannot hold; use a log "
                                         r"link"):
        MixtureOfExpertsRegressor(TweedieRegressor(power=1, link="identity"), n_experts=1,
                                  max_iter=2).fit(X - 10 * X.max(), y + 1)
