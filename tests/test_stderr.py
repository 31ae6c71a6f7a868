"""Standard errors (observed information, bootstrap) and the fitted-model report."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, SoftmaxGate
from skmoe._stderr import flatten, match_experts, parameter_table
from skmoe.datasets import make_gated_classification, make_switching_regression
from skmoe.inspection import posterior, report, standard_errors


def _data(n=300, seed=0, n_features=2, noise=0.5, gate_sharpness=2.0):
    X, y = make_switching_regression(n, n_features, 2, noise=noise,
                                     gate_sharpness=gate_sharpness, random_state=seed)
    # Columns off centre and of different scales: the gate's standardisation is undone.
    X = X * np.array([2.0, 0.5])[:n_features] + np.array([10.0, -3.0])[:n_features]
    return pd.DataFrame(X, columns=["a", "b"][:n_features]), y


def _linear_model(**params):
    params = {"n_experts": 2, "gate": SoftmaxGate(C=1e8), "tol": 1e-12, "max_iter": 2000,
              "random_state": 0, **params}
    return MixtureOfExpertsRegressor(LinearRegression(tol=0.0), **params)


def _log_likelihood(theta, X_expert, X_gate, y, weights, n_experts):
    """The mixture's log-likelihood at flexmix's parameters (a reference written anew)."""
    n, d = X_expert.shape
    q = X_gate.shape[1]
    log_density = np.empty((n, n_experts))
    position = 0
    for k in range(n_experts):
        beta = theta[position:position + d + 1]
        log_sigma = theta[position + d + 1]
        position += d + 2
        mean = beta[0] + X_expert @ beta[1:]
        log_density[:, k] = (-0.5 * np.log(2 * np.pi) - log_sigma
                             - (y - mean) ** 2 / (2 * np.exp(2 * log_sigma)))
    scores = np.zeros((n, n_experts))
    for k in range(1, n_experts):
        gamma = theta[position:position + q + 1]
        position += q + 1
        scores[:, k] = gamma[0] + X_gate @ gamma[1:]
    log_gate = scores - logsumexp(scores, axis=1, keepdims=True)
    return float(weights @ logsumexp(log_gate + log_density, axis=1))


def _numerical_hessian(function, theta):
    """Central second differences of ``function`` at ``theta``."""
    size = theta.shape[0]
    step = 1e-4 * np.maximum(1.0, np.abs(theta))
    hessian = np.empty((size, size))
    for j in range(size):
        for ell in range(j, size):
            total = 0.0
            for sj, sl, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                point = theta.copy()
                point[j] += sj * step[j]
                point[ell] += sl * step[ell]
                total += sign * function(point)
            hessian[j, ell] = hessian[ell, j] = total / (4 * step[j] * step[ell])
    return hessian


@pytest.mark.parametrize("gate_features", [None, ["a"]])
def test_information_matches_the_numerical_hessian_of_the_likelihood(gate_features):
    X, y = _data()
    model = _linear_model(gate_features=gate_features).fit(X, y)
    table = standard_errors(model, X, y)
    theta = table["estimate"].to_numpy()
    X_gate = X[gate_features or ["a", "b"]].to_numpy()
    weights = np.ones(len(y))

    def function(point):
        return _log_likelihood(point, X.to_numpy(), X_gate, y, weights, 2)

    # The estimates on the user's scale give the model's own log-likelihood.
    assert function(theta) == pytest.approx(model.log_likelihood(X, y), abs=1e-8)
    covariance = np.linalg.inv(-_numerical_hessian(function, theta))
    np.testing.assert_allclose(table["std_error"], np.sqrt(np.diag(covariance)), rtol=1e-4)
    np.testing.assert_allclose(table["z"], table["estimate"] / table["std_error"])
    assert table.index.get_level_values("component").unique().tolist() == [
        "expert 0", "expert 1", "gate 1"]
    assert table.loc["expert 0"].index.tolist() == ["intercept", "a", "b", "log(sigma)"]


@pytest.mark.parametrize("scale", [1e-170, 1e160, 1e300])
def test_standard_errors_do_not_depend_on_the_units_of_the_features(scale):
    # The information holds the columns' squares: beyond about 1e154 (or below
    # 1e-154) they overflowed or lost their digits, and a converged fit was refused as
    # "not at a maximum of the likelihood"; the coefficients' variances underflowed.
    X, y = _data()
    base = standard_errors(_linear_model().fit(X, y), X, y)
    scaled_X = X * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        table = standard_errors(_linear_model().fit(scaled_X, y), scaled_X, y)
    np.testing.assert_allclose(table["z"], base["z"], rtol=1e-8)
    np.testing.assert_allclose(table["p_value"], base["p_value"], rtol=1e-8, atol=1e-15)
    # A coefficient of a column times ``scale``, and its standard error, divided by it.
    coefficient = np.array([parameter in ("a", "b") for _, parameter in table.index])
    for column in ("estimate", "std_error"):
        expected = np.where(coefficient, base[column] / scale, base[column])
        np.testing.assert_allclose(table[column], expected, rtol=1e-8)


def test_gate_without_inputs_reports_log_ratios_of_proportions():
    X, y = _data()
    model = _linear_model(gate_features=[], gate=None).fit(X, y)
    table = standard_errors(model, X, y)
    proportions = model.gate_.proportions_
    assert table.loc[("gate 1", "intercept"), "estimate"] == pytest.approx(
        np.log(proportions[1] / proportions[0]))

    def function(point):
        return _log_likelihood(point, X.to_numpy(), np.empty((len(y), 0)), y,
                               np.ones(len(y)), 2)

    covariance = np.linalg.inv(-_numerical_hessian(function, table["estimate"].to_numpy()))
    np.testing.assert_allclose(table["std_error"], np.sqrt(np.diag(covariance)), rtol=1e-4)


def test_integer_weights_are_repeated_rows():
    X, y = _data(150)
    weights = np.random.RandomState(0).randint(1, 4, size=len(y))
    model = _linear_model().fit(X, y, sample_weight=weights)
    weighted = standard_errors(model, X, y, sample_weight=weights)
    repeated = standard_errors(model, X.loc[X.index.repeat(weights)],
                               np.repeat(y, weights))
    np.testing.assert_allclose(weighted["std_error"], repeated["std_error"], rtol=1e-9)


def test_tiny_weights_scale_the_information_and_subnormal_ones_are_refused():
    # Weights of 5e-324 (subnormal) were blamed on the fit: "The observed information
    # matrix is not positive definite ... Refit with a smaller tol".
    X, y = _data(150)
    model = _linear_model().fit(X, y)
    unit = standard_errors(model, X, y)
    tiny = standard_errors(model, X, y, sample_weight=np.full(len(y), 1e-300))
    # The experts' parameters are unpenalised: their information scales with the weights
    # (to 1e-5: beside weights this small the gate's prior, 1 / C = 1e-8, dominates the
    # gate's block, whose coupling moves the experts' standard errors by about 3e-6).
    experts = [name for name in unit.index.get_level_values(0).unique()
               if name.startswith("expert")]
    np.testing.assert_allclose(tiny.loc[experts, "std_error"],
                               unit.loc[experts, "std_error"] * 1e150, rtol=1e-5)
    with pytest.raises(ValueError, match="sample_weight's largest value is 4.94e-324, less "
                                         "than 1e-300"):
        standard_errors(model, X, y, sample_weight=np.full(len(y), 5e-324))


def test_the_gate_penalty_adds_its_curvature():
    X, y = _data()
    strong = _linear_model(gate=SoftmaxGate(C=0.05)).fit(X, y)
    weak = _linear_model(gate=SoftmaxGate(C=1e8)).fit(X, y)
    strong_se = standard_errors(strong, X, y).loc["gate 1", "std_error"]
    weak_se = standard_errors(weak, X, y).loc["gate 1", "std_error"]
    # A strong prior on the gate's coefficients leaves them less uncertain.
    assert (strong_se.iloc[1:] < weak_se.iloc[1:]).all()


def test_information_agrees_with_the_spread_of_refits_on_simulated_data():
    # 200 data sets drawn from the fitted model (same X), each refitted from the
    # fitted solution: the spread of the estimates is what the information predicts.
    # A gate soft enough for its estimates to be near normal at n = 400.
    X, y = _data(400, seed=3, n_features=1, noise=0.3, gate_sharpness=1.0)
    model = _linear_model(tol=1e-10).fit(X, y)
    table = standard_errors(model, X, y)
    reference = posterior(model, X, y)
    draws = model.sample_y(X, n_samples=200, random_state=1)
    estimates = []
    for column in draws.T:
        refit = copy.deepcopy(model).set_params(warm_start=True, tol=1e-8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            refit.fit(X, column)
        order = match_experts(reference, refit, X, column, np.ones(len(column)))
        estimates.append(flatten(*parameter_table(refit), order)[1])
    spread = np.std(estimates, axis=0, ddof=1)
    np.testing.assert_allclose(spread, table["std_error"], rtol=0.15)


def test_matching_undoes_a_relabelling_of_the_experts():
    X, y = _data()
    model = _linear_model().fit(X, y)
    swapped = copy.deepcopy(model)
    swapped.experts_ = swapped.experts_[::-1]
    swapped.noise_variance_ = swapped.noise_variance_[::-1].copy()
    swapped.gate_.coef_ = swapped.gate_.coef_[::-1].copy()
    swapped.gate_.intercept_ = swapped.gate_.intercept_[::-1].copy()
    order = match_experts(posterior(model, X, y), swapped, X, y, np.ones(len(y)))
    assert order.tolist() == [1, 0]
    np.testing.assert_allclose(flatten(*parameter_table(swapped), order)[1],
                               flatten(*parameter_table(model))[1], atol=1e-12)


def test_bootstrap_is_reproducible_and_brackets_the_estimates():
    X, y = _data(150)
    model = _linear_model(tol=1e-8).fit(X, y)
    first = standard_errors(model, X, y, method="bootstrap", n_bootstrap=10, random_state=0)
    again = standard_errors(model, X, y, method="bootstrap", n_bootstrap=10, random_state=0,
                            n_jobs=2)
    other = standard_errors(model, X, y, method="bootstrap", n_bootstrap=10, random_state=1)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["std_error"], other["std_error"])
    assert list(first.columns) == ["estimate", "std_error", "z", "p_value", "ci_lower",
                                   "ci_upper"]
    assert (first["ci_lower"] < first["ci_upper"]).all()
    assert first.attrs["replicates"].shape == (10 - first.attrs["n_failed"], len(first))
    np.testing.assert_allclose(first["std_error"],
                               first.attrs["replicates"].std(axis=0, ddof=1))
    np.testing.assert_allclose(first["estimate"], standard_errors(model, X, y)["estimate"])


def test_bootstrap_covers_any_experts_and_the_classifier():
    X, y = make_gated_classification(200, 2, 2, 2, random_state=0)
    model = MixtureOfExpertsClassifier(LogisticRegression(), n_experts=2,
                                       random_state=0).fit(X, y)
    table = standard_errors(model, X, y, method="bootstrap", n_bootstrap=5, random_state=0)
    assert table.loc["expert 0"].index.tolist() == ["intercept", "x0", "x1"]
    assert (table["std_error"] > 0).all()


def test_bad_input_names_what_to_use_instead():
    X, y = _data(200)
    with pytest.raises(NotFittedError):
        standard_errors(_linear_model(), X, y)
    default = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"expert 0 is ScaledRidge.*LinearRegression\(tol=0.0\)"
                                         r".*method='bootstrap'"):
        standard_errors(default, X, y)
    cross_fitted = _linear_model(noise_variance="cross_fitted").fit(X, y)
    with pytest.raises(ValueError, match="noise_variance='in_sample'.*method='bootstrap'"):
        standard_errors(cross_fitted, X, y)
    Xc, yc = make_gated_classification(200, 2, 2, random_state=0)
    classifier = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(Xc, yc)
    with pytest.raises(ValueError, match="Gaussian linear experts.*method='bootstrap'"):
        standard_errors(classifier, Xc, yc)
    model = _linear_model().fit(X, y)
    with pytest.raises(ValueError, match=r"n_bootstrap must be an integer >= 2.*got 1"):
        standard_errors(model, X, y, method="bootstrap", n_bootstrap=1)
    with pytest.raises(ValueError, match="method must be 'information' or 'bootstrap'"):
        standard_errors(model, X, y, method="hessian")
    with pytest.raises(TypeError, match="got LinearRegression"):
        standard_errors(LinearRegression().fit(X, y), X, y)


def test_report_holds_the_fit_the_experts_and_the_coefficients():
    X, y = _data()
    model = _linear_model().fit(X, y)
    summary = report(model, X, y)
    fit = summary.fit
    assert fit["log_likelihood"] == pytest.approx(model.log_likelihood(X, y))
    assert fit["bic"] == pytest.approx(model.bic(X, y))
    assert fit["aic"] == pytest.approx(model.aic(X, y))
    resp = posterior(model, X, y)
    entropy = -np.sum(resp * np.log(resp))
    assert fit["icl"] == pytest.approx(model.bic(X, y) + 2 * entropy)
    assert fit["df"] == 2 * 4 + 3 and fit["n_samples"] == len(y)
    assert fit["n_iter"] == model.n_iter_ and fit["converged"] == model.converged_
    np.testing.assert_array_equal(summary.experts["size"],
                                  np.bincount(resp.argmax(axis=1), minlength=2))
    np.testing.assert_allclose(summary.experts["noise_std"], np.sqrt(model.noise_variance_))
    pd.testing.assert_frame_equal(summary.coefficients, standard_errors(model, X, y),
                                  check_exact=False, rtol=1e-12)
    text = str(summary)
    assert "gate 1: log-odds against expert 0" in text and "Standard errors: information" in text
    assert "<table" in summary._repr_html_()


def test_report_counts_rows_by_their_weights_as_the_repeated_rows():
    # size counted each row once, whatever its weight (150 against 311 for the
    # repeated rows), while n_samples in the same report was the total weight.
    X, y = _data()
    weights = np.random.default_rng(0).integers(1, 4, size=len(y))
    model = _linear_model().fit(X, y, sample_weight=weights)
    weighted = report(model, X, y, sample_weight=weights, method=None)
    repeated = report(model, X.loc[X.index.repeat(weights)], np.repeat(y, weights),
                      method=None)
    for column in ("size", "effective_n", "share"):
        np.testing.assert_allclose(weighted.experts[column], repeated.experts[column],
                                   rtol=1e-10)
    assert weighted.fit["n_samples"] == repeated.fit["n_samples"] == weights.sum()


def test_report_without_standard_errors_says_why():
    X, y = _data()
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    summary = report(model, X, y)
    assert summary.method is None and list(summary.coefficients.columns) == ["estimate"]
    assert "ScaledRidge" in str(summary) and "method='bootstrap'" in str(summary)
    with pytest.raises(ValueError, match=r"\['n_bootstrap'\] apply to method='bootstrap' only"):
        report(model, X, y, n_bootstrap=10)


def test_report_of_experts_without_a_parameter_count_says_why_criteria_are_missing():
    from sklearn.tree import DecisionTreeRegressor

    X, y = _data(200)
    model = MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=2), n_experts=2,
                                      random_state=0).fit(X, y)
    summary = report(model, X, y)
    assert np.isnan(summary.fit["bic"]) and np.isnan(summary.fit["icl"])
    assert summary.fit["log_likelihood"] == pytest.approx(model.log_likelihood(X, y))
    assert "df, AIC, BIC and ICL are not defined" in str(summary)
    assert "DecisionTreeRegressor" in str(summary)


def test_experts_without_intercept_have_no_intercept_row():
    X, y = make_switching_regression(300, 2, 2, noise=0.5, gate_sharpness=2.0, random_state=0)
    # Centred X and y: lines through the origin fit them; their intercept is fixed at 0.
    X, y = pd.DataFrame(X, columns=["a", "b"]), y - y.mean()
    model = MixtureOfExpertsRegressor(LinearRegression(fit_intercept=False, tol=0.0),
                                      n_experts=2, gate=SoftmaxGate(C=1e8), tol=1e-12,
                                      max_iter=2000, random_state=0).fit(X, y)
    table = standard_errors(model, X, y)
    assert table.loc["expert 0"].index.tolist() == ["a", "b", "log(sigma)"]

    def function(point):
        # The reference with the intercepts fixed at 0.
        full = np.concatenate([[0.0], point[0:3], [0.0], point[3:]])
        return _log_likelihood(full, X.to_numpy(), X.to_numpy(), y, np.ones(len(y)), 2)

    theta = table["estimate"].to_numpy()
    assert function(theta) == pytest.approx(model.log_likelihood(X, y), abs=1e-8)
    covariance = np.linalg.inv(-_numerical_hessian(function, theta))
    np.testing.assert_allclose(table["std_error"], np.sqrt(np.diag(covariance)), rtol=1e-4)


def test_a_gate_without_intercepts_is_refused_by_the_information_method():
    X, y = _data(200)
    model = _linear_model(gate=SoftmaxGate(C=1e8, fit_intercept=False)).fit(X, y)
    with pytest.raises(ValueError, match="SoftmaxGate with intercepts.*method='bootstrap'"):
        standard_errors(model, X, y)
