"""Properties that hold for every small random problem (hypothesis)."""

import re
import warnings

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import norm

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_gated_classification, make_switching_regression

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

problems = st.fixed_dictionaries({
    "n_samples": st.integers(20, 120),
    "n_features": st.integers(1, 4),
    "n_experts": st.integers(1, 4),
    "seed": st.integers(0, 2**16),
    "noise": st.floats(0.01, 2.0),
    "y_scale": st.sampled_from([1e-3, 1.0, 1e3]),
})


def _fit_regressor(problem, **params):
    X, y = make_switching_regression(problem["n_samples"], problem["n_features"],
                                     problem["n_experts"], noise=problem["noise"],
                                     random_state=problem["seed"])
    y = y * problem["y_scale"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MixtureOfExpertsRegressor(n_experts=problem["n_experts"],
                                          random_state=problem["seed"], **params).fit(X, y)
    # The EM iterations at which the fitted start removed an expert, from its warnings.
    removals = [int(found.group(1)) for w in caught
                if (found := re.search(r"removed at EM iteration (\d+)", str(w.message)))]
    assert len(removals) == problem["n_experts"] - model.n_experts_
    return X, y, model, removals


@SETTINGS
@given(problems)
def test_regressor_properties(problem):
    for noise_variance in ("in_sample", "auto"):
        X, y, model, removals = _fit_regressor(problem, max_iter=25, tol=0,
                                               noise_variance=noise_variance)
        _check_regressor(problem, X, y, model, removals,
                         monotone=noise_variance == "in_sample")


def _check_regressor(problem, X, y, model, removals, monotone):
    bounds = np.array(model.lower_bounds_)
    assert len(bounds) == model.n_iter_  # bounds[i] is the bound after iteration i + 1
    assert np.all(np.isfinite(bounds))
    # With maximum-likelihood noise, the penalised log-likelihood never decreases
    # between removals of experts (cross-fitted noise is not its maximiser). A removal
    # at iteration r starts a new run of iterations at bounds[r - 1].
    if monotone:
        cuts = sorted({r - 1 for r in removals if r >= 1} | {0, len(bounds)})
        for start, stop in zip(cuts[:-1], cuts[1:]):
            run = bounds[start:stop]
            assert np.all(np.diff(run) >= -1e-8 * np.abs(run[1:]))

    resp, log_density = model._posterior(X, y)
    assert np.all(np.isfinite(resp))
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)

    gate = model.predict_gate(X)
    experts = np.column_stack([e.predict(X) for e in model.experts_])
    expected = logsumexp(
        np.log(gate) + norm.logpdf(y[:, None], experts, np.sqrt(model.noise_variance_)), axis=1
    )
    assert_allclose(log_density, expected, rtol=1e-9, atol=1e-9)

    perm = np.random.RandomState(problem["seed"]).permutation(len(y))
    mean, std = model.predict(X, return_std=True)
    mean_perm, std_perm = model.predict(X[perm], return_std=True)
    assert_allclose(mean_perm, mean[perm], rtol=1e-12, atol=1e-12 * problem["y_scale"])
    assert_allclose(std_perm, std[perm], rtol=1e-12)
    assert np.all(std > 0)


@SETTINGS
@given(st.fixed_dictionaries({
    "n_samples": st.integers(30, 150),
    "n_features": st.integers(1, 3),
    "n_experts": st.integers(1, 3),
    "n_classes": st.integers(2, 4),
    "seed": st.integers(0, 2**16),
}))
def test_classifier_properties(problem):
    X, y = make_gated_classification(problem["n_samples"], problem["n_features"],
                                     problem["n_experts"], problem["n_classes"],
                                     random_state=problem["seed"])
    assume(len(np.unique(y)) >= 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsClassifier(n_experts=problem["n_experts"], max_iter=10,
                                           random_state=problem["seed"]).fit(X, y)
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    resp, log_density = model._posterior(X, y)
    assert np.all(np.isfinite(resp))
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    encoded = np.searchsorted(model.classes_, y)
    assert_allclose(log_density, np.log(np.maximum(proba[np.arange(len(y)), encoded], 1e-300)),
                    rtol=1e-9)
    perm = np.random.RandomState(problem["seed"]).permutation(len(y))
    assert_allclose(model.predict_proba(X[perm]), proba[perm], rtol=1e-12)
