"""skmoe.metrics: log-likelihood and CRPS of a predictive distribution, and their scorers."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
)
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, ScaledRidge
from skmoe._crps import CRPS_LEVELS, gaussian_mixture_crps, quadrature_crps
from skmoe.datasets import make_gated_classification, make_switching_regression
from skmoe.metrics import crps, crps_scorer, log_likelihood_scorer, mean_log_likelihood


@pytest.fixture(scope="module")
def switching():
    X, y = make_switching_regression(600, 2, 2, noise=[0.3, 1.0], random_state=0)
    return X, y


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _quad_crps(cdf, y, low, high):
    """``integral (F - 1{z >= y})^2`` by adaptive quadrature, split at y."""
    low, high = min(low, y), max(high, y)
    below = integrate.quad(lambda z: cdf(z) ** 2, low, y, limit=500, epsabs=1e-13)[0]
    above = integrate.quad(lambda z: (1 - cdf(z)) ** 2, y, high, limit=500, epsabs=1e-13)[0]
    return below + above


def _quad_crps_of(model, X, y, rows):
    values = []
    for i in rows:
        low, high = model.predict_quantiles(X[i:i + 1], (1e-13, 1 - 1e-13))[0]
        values.append(_quad_crps(lambda z, i=i: model.predict_cdf(X[i:i + 1], [z])[0], y[i],
                                 low, high))
    return np.array(values)


# ------------------------------------------------------------ log-likelihood
def test_log_likelihood_tunes_n_experts_and_expert_alpha_of_a_pipeline():
    # Held-out log-likelihood through GridSearchCV, for a mixture at the end of a
    # Pipeline: it finds the true number of regimes, and rejects the expert
    # penalty that flattens the regimes' slopes.
    X, y = make_switching_regression(900, 2, 3, noise=0.3, random_state=0)
    X = X * [10.0, 0.1] + [5.0, -3.0]
    pipeline = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(
        ScaledRidge(), n_init=3, random_state=0))
    grid = {"mixtureofexpertsregressor__n_experts": [1, 2, 3, 4, 5],
            "mixtureofexpertsregressor__experts__alpha": [1.0, 1e5]}
    with warnings.catch_warnings():
        # Experts beyond the three regimes may be removed (a UserWarning).
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        search = GridSearchCV(pipeline, grid, scoring=log_likelihood_scorer,
                              cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    assert search.best_params_ == {"mixtureofexpertsregressor__n_experts": 3,
                                   "mixtureofexpertsregressor__experts__alpha": 1.0}
    scores = search.cv_results_["mean_test_score"].reshape(2, 5)
    # More experts than regimes add nothing on new rows; fewer lose much.
    assert scores[0, 2] - scores[0, 1] > 0.2
    assert scores[0, 2] >= scores[0, 3:].max()
    # The search scores the refitted Pipeline through its scaler.
    scaler, mixture = search.best_estimator_[0], search.best_estimator_[-1]
    assert_allclose(log_likelihood_scorer(search, X, y),
                    np.mean(mixture.score_samples(scaler.transform(X), y)), rtol=1e-13)


def test_mean_log_likelihood_is_the_mean_of_score_samples(switching):
    X, y = switching
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, random_state=0), X[:400], y[:400])
    rows = model.score_samples(X[400:], y[400:])
    assert mean_log_likelihood(model, X[400:], y[400:]) == pytest.approx(rows.mean(), rel=1e-14)
    weights = np.linspace(0.0, 2.0, 200)
    assert mean_log_likelihood(model, X[400:], y[400:], sample_weight=weights) == pytest.approx(
        np.sum(weights * rows) / weights.sum(), rel=1e-13)
    assert log_likelihood_scorer(model, X[400:], y[400:]) == mean_log_likelihood(
        model, X[400:], y[400:])


def test_scorers_transform_x_through_the_pipeline(switching):
    # A scaler that changes X: scoring the mixture on raw X would give another number.
    X, y = switching
    X = X * 100.0 + 7.0
    pipeline = _fit(make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(
        n_experts=2, random_state=0)), X[:400], y[:400])
    scaler, mixture = pipeline[0], pipeline[-1]
    X_test = scaler.transform(X[400:])
    assert_allclose(log_likelihood_scorer(pipeline, X[400:], y[400:]),
                    np.mean(mixture.score_samples(X_test, y[400:])), rtol=1e-14)
    assert_allclose(crps_scorer(pipeline, X[400:], y[400:]),
                    -np.mean(mixture.crps_samples(X_test, y[400:])), rtol=1e-14)


def test_scorers_work_in_cross_validate_and_cross_val_score(switching):
    X, y = switching
    pipeline = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(
        n_experts=2, random_state=0))
    cv = KFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(pipeline, X, y, cv=cv, return_estimator=True, scoring={
            "log_likelihood": log_likelihood_scorer, "crps": crps_scorer})
        alone = cross_val_score(pipeline, X, y, cv=cv, scoring=log_likelihood_scorer)
    assert_allclose(result["test_log_likelihood"], alone, rtol=1e-12)
    for fold, (_, test) in enumerate(cv.split(X)):
        fitted = result["estimator"][fold]
        assert_allclose(result["test_crps"][fold], -crps(fitted, X[test], y[test]), rtol=1e-14)
    assert np.all(result["test_crps"] < 0)


def test_classifier_log_likelihood_is_the_log_probability_of_the_true_class():
    X, y = make_gated_classification(600, 2, 2, 3, random_state=0)
    mixture = _fit(MixtureOfExpertsClassifier(n_experts=2, random_state=0), X[:400], y[:400])
    proba = mixture.predict_proba(X[400:])
    expected = np.mean(np.log(proba[np.arange(200), np.searchsorted(mixture.classes_,
                                                                     y[400:])]))
    assert_allclose(mean_log_likelihood(mixture, X[400:], y[400:]), expected, rtol=1e-10)
    logistic = LogisticRegression().fit(X[:400], y[:400])
    assert_allclose(mean_log_likelihood(make_pipeline(logistic), X[400:], y[400:]),
                    -log_loss(y[400:], logistic.predict_proba(X[400:])), rtol=1e-12)
    with pytest.raises(ValueError, match=r"y holds labels the classifier was not fitted on, "
                                         r"such as 7; its classes_ are \[0, 1, 2\]"):
        mean_log_likelihood(logistic, X[:3], [0, 7, 1])


def test_models_of_the_mean_alone_have_no_likelihood_and_classifiers_no_crps(switching):
    X, y = switching
    linear = LinearRegression().fit(X, y)
    with pytest.raises(TypeError, match=r"score_samples\(X, y\) \(a mixture of experts\) or a "
                                        r"classifier with predict_proba; LinearRegression "
                                        r"has neither"):
        mean_log_likelihood(make_pipeline(StandardScaler(), linear).fit(X, y), X, y)
    with pytest.raises(TypeError, match=r"crps_samples\(X, y\), as MixtureOfExpertsRegressor "
                                        r"has; LinearRegression has none"):
        crps_scorer(linear, X, y)
    X_c, y_c = make_gated_classification(200, 2, 2, 2, random_state=0)
    classifier = _fit(MixtureOfExpertsClassifier(n_experts=2, random_state=0), X_c, y_c)
    with pytest.raises(TypeError, match="MixtureOfExpertsClassifier is a classifier, whose "
                                        "labels have no order. Use mean_log_likelihood"):
        crps(classifier, X_c, y_c)


def test_select_n_experts_cv_is_the_row_weighted_cross_val_score(switching):
    from skmoe.inspection import select_n_experts

    X, y = switching
    X, y = X[:500], y[:500]
    estimator = MixtureOfExpertsRegressor(random_state=0, max_iter=30)
    cv = KFold(3)  # folds of 167, 167 and 166 rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table, _ = select_n_experts(estimator, X, y, n_experts=[2], criterion="cv", cv=cv)
        total = 0.0
        for train, test in cv.split(X):
            model = MixtureOfExpertsRegressor(n_experts=2, random_state=0, max_iter=30)
            total += model.fit(X[train], y[train]).score_samples(X[test], y[test]).sum()
    assert_allclose(table["cv"].iloc[0], total / 500, rtol=1e-12)


# ----------------------------------------------------------------------- CRPS
def test_gaussian_crps_equals_the_closed_form_of_one_gaussian_and_of_a_point():
    rng = np.random.default_rng(0)
    y, mean = rng.normal(size=50), rng.normal(size=(50, 1))
    sigma = 1.7
    z = (y - mean[:, 0]) / sigma
    # Gneiting and Raftery (2007), equation (21).
    expected = sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z)
                        - 1 / np.sqrt(np.pi))
    assert_allclose(gaussian_mixture_crps(y, np.ones((50, 1)), mean, [sigma**2]), expected,
                    rtol=1e-13)
    # A vanishing variance leaves the absolute error.
    assert_allclose(gaussian_mixture_crps(y, np.ones((50, 1)), mean, [1e-30]),
                    np.abs(y - mean[:, 0]), rtol=1e-12)


def test_gaussian_mixture_crps_equals_numerical_integration():
    rng = np.random.default_rng(1)
    n, k = 12, 3
    weights = rng.dirichlet(np.ones(k), size=n)
    means = rng.normal(0, 3, size=(n, k))
    variances = rng.uniform(0.01, 4.0, size=k)
    y = rng.normal(0, 4, size=n)
    closed = gaussian_mixture_crps(y, weights, means, variances)
    for i in range(n):
        def cdf(z, i=i):
            return float(np.sum(weights[i] * stats.norm.cdf(z, means[i], np.sqrt(variances))))
        assert_allclose(closed[i], _quad_crps(cdf, y[i], -60.0, 60.0), rtol=1e-9, atol=1e-12)

    # The quadrature used for the other families gives the same on Gaussians.
    breaks = np.stack([stats.norm.ppf(level, means, np.sqrt(variances))
                       for level in CRPS_LEVELS], axis=2).reshape(n, -1)

    def mixture_cdf(z, rows):
        return np.sum(weights[rows] * stats.norm.cdf(z[:, None], means[rows],
                                                     np.sqrt(variances)), axis=1)

    assert_allclose(quadrature_crps(y, mixture_cdf, breaks), closed, rtol=1e-9, atol=1e-12)


def test_regressor_crps_of_gaussian_experts_is_the_closed_form(switching):
    X, y = switching
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, random_state=0), X, y)
    values = model.crps_samples(X[:10], y[:10])
    assert_allclose(values, _quad_crps_of(model, X, y, range(10)), rtol=1e-8, atol=1e-12)
    assert crps(model, X[:10], y[:10]) == pytest.approx(values.mean(), rel=1e-14)
    # top_k: the distribution of the two experts renormalised, as predict_cdf.
    model.set_params(top_k=1)
    assert_allclose(model.crps_samples(X[:10], y[:10]), _quad_crps_of(model, X, y, range(10)),
                    rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("noise", ["laplace", "student_t"])
def test_regressor_crps_of_other_noise_equals_numerical_integration(switching, noise):
    X, y = switching
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, noise=noise, random_state=0), X, y)
    rows = [0, 1, 2, 3, 4, 5]
    assert_allclose(model.crps_samples(X[rows], y[rows]), _quad_crps_of(model, X, y, rows),
                    rtol=1e-7, atol=1e-10)


def test_regressor_crps_of_gamma_and_poisson_experts():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y_gamma = rng.gamma(2.0, np.exp(0.5 * X[:, 0]) / 2.0)
    gamma = _fit(MixtureOfExpertsRegressor(GammaRegressor(), n_experts=2, random_state=0), X,
                 y_gamma)
    rows = range(6)
    assert_allclose(gamma.crps_samples(X[:6], y_gamma[:6]), _quad_crps_of(gamma, X, y_gamma, rows),
                    rtol=1e-7, atol=1e-10)
    # Counts: the integral of a step function is a sum over the integers.
    y_count = rng.poisson(np.exp(1.0 + X[:, 0]))
    poisson = _fit(MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2, random_state=0),
                   X, y_count)
    grid = np.arange(200.0)
    expected = [np.sum((poisson.predict_cdf(np.repeat(X[i:i + 1], 200, axis=0), grid)
                        - (grid >= y_count[i])) ** 2) for i in rows]
    assert_allclose(poisson.crps_samples(X[:6], y_count[:6]), expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="y must hold non-negative integers"):
        poisson.crps_samples(X[:2], [1.5, 2.0])


def test_regressor_crps_of_a_mixture_as_expert_equals_numerical_integration(switching):
    X, y = switching
    inner = MixtureOfExpertsRegressor(n_experts=2, random_state=0, max_iter=30)
    outer = _fit(MixtureOfExpertsRegressor([inner, LinearRegression()], n_experts=2,
                                           random_state=0, max_iter=10), X, y)
    rows = [0, 1, 2, 3]
    assert_allclose(outer.crps_samples(X[rows], y[rows]), _quad_crps_of(outer, X, y, rows),
                    rtol=1e-7, atol=1e-10)


def test_crps_of_a_fitted_mixture_nears_the_true_model_and_beats_one_expert():
    # On data from a known two-regime mixture, the fitted mixture's held-out
    # CRPS is within 1% of the true distribution's (closed form from the true
    # parameters), and a single linear model's (K = 1) is well above both.
    X, y, truth = make_switching_regression(3000, 2, 2, noise=[0.2, 1.0], random_state=0,
                                            return_params=True)
    true_means = X[2000:] @ truth.coef.T + truth.intercept
    true_crps = gaussian_mixture_crps(y[2000:], truth.gate_proba[2000:], true_means,
                                      truth.noise**2).mean()
    two = _fit(MixtureOfExpertsRegressor(n_experts=2, n_init=3, random_state=0), X[:2000],
               y[:2000])
    one = _fit(MixtureOfExpertsRegressor(n_experts=1, random_state=0), X[:2000], y[:2000])
    assert true_crps <= crps(two, X[2000:], y[2000:]) < 1.01 * true_crps
    assert crps(one, X[2000:], y[2000:]) > 1.2 * true_crps


class _NeverCalled(MixtureOfExpertsRegressor):
    """A fitted mixture whose density must not be asked for."""

    def score_samples(self, X, y):
        raise AssertionError("the model was asked before the weights were checked")

    def crps_samples(self, X, y):
        raise AssertionError("the model was asked before the weights were checked")


@pytest.mark.parametrize("score", [mean_log_likelihood, crps])
@pytest.mark.parametrize("weights, message", [
    (np.r_[np.nan, np.ones(9)], "sample_weight must be finite, got NaN or inf values"),
    (np.r_[np.inf, np.ones(9)], "sample_weight must be finite, got NaN or inf values"),
    (np.r_[-1.0, np.ones(9)], "Negative values in data passed to `sample_weight`"),
    (np.zeros(10), "Sample weights must contain at least one non-zero number"),
    (np.ones(4), r"sample_weight.shape == \(4,\), expected \(10,\)"),
])
def test_weights_of_the_mean_scores_are_checked_before_the_model(switching, score, weights,
                                                                 message):
    # NaN or inf weights gave a NaN score, negative ones a number, all-zero ones
    # numpy's ZeroDivisionError, after the model had scored every row.
    X, y = switching
    model = _fit(_NeverCalled(n_experts=2, random_state=0), X[:100], y[:100])
    with pytest.raises(ValueError, match=message):
        score(model, X[:10], y[:10], sample_weight=weights)


def test_weights_of_the_mean_scores_at_the_ends_of_float64(switching):
    # Weights of 1e308 summed to inf (a NaN score); a row of probability 0 and
    # weight 0 gave -inf * 0 = NaN.
    X, y = switching
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, random_state=0), X[:400], y[:400])
    for score in (mean_log_likelihood, crps):
        plain = score(model, X[400:], y[400:])
        for weight in (1e308, 5e-324):
            assert score(model, X[400:], y[400:], sample_weight=np.full(200, weight)) == (
                pytest.approx(plain, rel=1e-14))
    X, y = make_gated_classification(300, 2, 2, 2, random_state=0)
    logistic = LogisticRegression().fit(X, y)
    certain = X[:20] * 1e6  # probabilities of exactly 0 and 1
    labels = logistic.predict(certain)
    labels[0] = 1 - labels[0]  # a row of probability 0: log-likelihood -inf
    weights = np.r_[0.0, np.ones(19)]
    assert mean_log_likelihood(logistic, certain, labels) == -np.inf
    assert mean_log_likelihood(logistic, certain, labels, sample_weight=weights) == (
        mean_log_likelihood(logistic, certain[1:], labels[1:]))


def test_regressor_crps_of_student_t_experts_below_two_degrees_of_freedom(switching):
    # Their distribution functions fall as 1 / |z|^df: the quadrature's pieces between
    # the quantiles 1e-6, 1e-4 and 1e-3 spanned a hundredfold in z, and left the CRPS
    # 1e-5 off at df = 1.
    X, y = switching
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, noise="student_t", random_state=0),
                 X, y)
    model.df_ = np.array([1.0, 1.3])
    rows = [0, 1, 2]
    means = np.column_stack([expert.predict(X[rows]) for expert in model.experts_])
    decades = 10.0 ** np.arange(-1, 13)
    expected = []
    for row, i in enumerate(rows):
        # Adaptive quadrature between points a decade of scales apart around each expert.
        points = np.concatenate([[y[i]], *[means[row, k] + model.noise_scale_[k] * np.r_[
            -decades, decades] for k in range(2)]])
        points = np.sort(points)

        def cdf(z, i=i):
            return model.predict_cdf(X[i:i + 1], [z])[0]

        total = 0.0
        for low, high in zip(points[:-1], points[1:]):
            step = (lambda z: cdf(z) ** 2) if high <= y[i] else (lambda z: (1 - cdf(z)) ** 2)
            total += integrate.quad(step, low, high, limit=200, epsabs=1e-14,
                                    epsrel=1e-12)[0]
        expected.append(total)
    assert_allclose(model.crps_samples(X[rows], y[rows]), expected, rtol=1e-7, atol=1e-10)
