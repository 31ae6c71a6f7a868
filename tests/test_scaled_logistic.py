"""ScaledLogisticRegression: the classifier's default expert, whose penalty is measured in
each feature's spread, so that the mixture's answer does not depend on units."""

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression

import skmoe._experts
from skmoe import MixtureOfExpertsClassifier, ScaledLogisticRegression
from skmoe._logistic import fit_by_newton, fits_by_newton, logistic_data, logistic_penalty
from skmoe._ridge import column_scale
from skmoe.datasets import make_gated_classification

# Columns in very different units: grams beside kilometres.
UNITS = np.array([1e-3, 1.0, 250.0])
TIGHT = dict(tol=1e-12, max_iter=10_000)


def _problem(n_classes, seed=0, n_samples=300):
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n_samples, 3))
    X = Z * UNITS + np.array([5.0, -2.0, 1e3])
    scores = Z @ rng.normal(size=(3, n_classes)) + rng.gumbel(size=(n_samples, n_classes))
    weight = rng.uniform(0, 2, size=n_samples)
    weight[rng.uniform(size=n_samples) < 0.1] = 0.0
    return X, scores.argmax(axis=1), weight


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("C", [1.0, 0.05])
def test_fit_is_logistic_regression_on_standardised_columns(n_classes, C):
    X, y, weight = _problem(n_classes)
    model = ScaledLogisticRegression(C=C, **TIGHT).fit(X, y, sample_weight=weight)
    spread = X.std(axis=0)
    assert_allclose(model.scale_, spread, rtol=1e-12)
    Z = (X - X.mean(axis=0)) / spread
    standardised = LogisticRegression(C=C, **TIGHT).fit(Z, y, sample_weight=weight)
    assert_allclose(model.coef_ * spread, standardised.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(model.predict_proba(X), standardised.predict_proba(Z), rtol=1e-6, atol=1e-9)
    assert_array_equal(model.classes_, standardised.classes_)
    assert logistic_penalty(model) == pytest.approx(
        0.5 * np.sum(standardised.coef_**2) / C, rel=1e-6)


def test_units_of_the_features_do_not_change_the_fit():
    X, y, weight = _problem(3)
    model = ScaledLogisticRegression(**TIGHT).fit(X, y, sample_weight=weight)
    other = ScaledLogisticRegression(**TIGHT).fit(X * 1e6, y, sample_weight=weight)
    # Equal to L-BFGS's tolerance (the mixture's Newton steps agree to rounding, below).
    assert_allclose(model.predict_proba(X), other.predict_proba(X * 1e6), atol=1e-6)
    # LogisticRegression's penalty in the inputs' units moves with them.
    plain = LogisticRegression(**TIGHT).fit(X, y, sample_weight=weight)
    plain_other = LogisticRegression(**TIGHT).fit(X * 1e6, y, sample_weight=weight)
    assert np.abs(plain.predict_proba(X) - plain_other.predict_proba(X * 1e6)).max() > 0.01


def test_without_a_penalty_it_is_logistic_regression():
    X, y, weight = _problem(2)
    X = (X - X.mean(axis=0)) / UNITS
    model = ScaledLogisticRegression(C=np.inf, **TIGHT).fit(X, y, sample_weight=weight)
    plain = LogisticRegression(C=np.inf, **TIGHT).fit(X, y, sample_weight=weight)
    assert_allclose(model.predict_proba(X), plain.predict_proba(X), atol=1e-6)


def test_constant_columns_keep_their_units_and_names_are_kept():
    X, y, _ = _problem(2)
    X[:, 1] = 7.0
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = ScaledLogisticRegression().fit(frame, y)
    assert model.scale_[1] == 1.0
    assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    assert model.n_features_in_ == 3
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.predict(X)


def test_warm_start_resumes_from_the_previous_coefficients():
    X, y, _ = _problem(3)
    model = ScaledLogisticRegression(warm_start=True, **TIGHT).fit(X, y)
    first, n_iter = model.coef_.copy(), model.n_iter_[0]
    model.fit(X, y)
    assert model.n_iter_[0] <= 2 < n_iter
    # In the solver's units (L-BFGS's tolerance).
    assert_allclose(model.coef_ * model.scale_, first * model.scale_, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_newton_m_step_equals_its_own_fit(n_classes):
    # The mixture's M-step takes Newton's steps on the columns divided by their spread.
    X, y, weight = _problem(n_classes, seed=1)
    expert = ScaledLogisticRegression()
    assert fits_by_newton(expert, X, y, "sample_weight")
    fitted, solved = fit_by_newton(expert, logistic_data(X, y, column_scale(X)), weight)
    assert solved and type(fitted) is ScaledLogisticRegression
    reference = ScaledLogisticRegression(**TIGHT).fit(X, y, sample_weight=weight)
    assert_allclose(fitted.scale_, reference.scale_, rtol=1e-12)
    assert_allclose(fitted.coef_ * fitted.scale_, reference.coef_ * reference.scale_,
                    rtol=1e-6, atol=1e-7)
    assert_allclose(fitted.predict_proba(X), reference.predict_proba(X), rtol=1e-6, atol=1e-9)
    # A later M-step starts from the fit: it is already solved.
    again, solved = fit_by_newton(fitted, logistic_data(X, y, column_scale(X)), weight)
    assert solved and again.n_iter_[0] <= 1


def test_the_classifier_default_does_not_depend_on_units():
    X, y = load_wine(return_X_y=True)
    units = np.logspace(-4, 4, X.shape[1])
    model = MixtureOfExpertsClassifier(random_state=0).fit(X, y)
    assert all(type(expert) is ScaledLogisticRegression for expert in model.experts_)
    other = MixtureOfExpertsClassifier(random_state=0).fit(X * units, y)
    assert_allclose(other.predict_proba(X * units), model.predict_proba(X), atol=1e-9)
    assert other.lower_bound_ == pytest.approx(model.lower_bound_, rel=1e-12)
    # The features divided by 1000 took the old default's accuracy from 0.955 to 0.674
    # (5-fold cross-validation); in-sample it still moved by far more than rounding.
    plain = MixtureOfExpertsClassifier(LogisticRegression(), random_state=0)
    moved = np.abs(plain.fit(X, y).predict_proba(X)
                   - plain.fit(X / 1000, y).predict_proba(X / 1000)).max()
    assert moved > 0.1


def test_squarem_steps_do_not_depend_on_units():
    # SQUAREM's step length comes from norms of the parameters' changes: with the
    # coefficients in the inputs' units, a binary column divided by 1024 (exactly,
    # a power of two) took 92 iterations where the fit took 56, to another point.
    X, y = make_gated_classification(300, 3, 3, 2, random_state=0)[:2]
    rng = np.random.RandomState(0)
    X = np.c_[X * np.array([1000.0, 1.0, 0.01]), rng.randint(0, 2, X.shape[0])]
    units = np.array([1.0, 1.0, 1.0, 2.0**-10])
    model = MixtureOfExpertsClassifier(random_state=0).fit(X, y)
    other = MixtureOfExpertsClassifier(random_state=0).fit(X * units, y)
    assert other.n_iter_ == model.n_iter_
    assert_allclose(other.predict_proba(X * units), model.predict_proba(X), rtol=1e-13,
                    atol=1e-15)


def test_the_default_is_fitted_by_newton_as_by_its_own_fit(monkeypatch):
    X, y = make_gated_classification(600, 3, 3, 3, random_state=0)[:2]
    X = X * UNITS
    kwargs = dict(n_experts=2, tol=1e-12, max_iter=1000, random_state=0)
    fast = MixtureOfExpertsClassifier(ScaledLogisticRegression(tol=1e-10, max_iter=1000),
                                      **kwargs).fit(X, y)
    monkeypatch.setattr(skmoe._experts, "fits_by_newton", lambda *args: False)
    plain = MixtureOfExpertsClassifier(ScaledLogisticRegression(tol=1e-10, max_iter=1000),
                                       **kwargs).fit(X, y)
    assert fast.converged_ and plain.converged_
    assert_allclose(fast.lower_bound_, plain.lower_bound_, rtol=1e-7)
    assert_allclose(fast.predict_proba(X), plain.predict_proba(X), atol=1e-4)


def test_dask_fit_of_the_default_equals_the_fit_in_memory():
    X, y = make_gated_classification(1200, 3, 3, 2, random_state=0)[:2]
    X = X * UNITS
    init = np.eye(2)[np.arange(X.shape[0]) % 2]
    kwargs = dict(n_experts=2, max_iter=30, tol=1e-8, random_state=0)
    memory = MixtureOfExpertsClassifier(init=init, **kwargs).fit(X, y)
    on_dask = MixtureOfExpertsClassifier(
        init=da.from_array(init, chunks=(300, -1)), **kwargs).fit(
        da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300))
    assert all(type(expert) is ScaledLogisticRegression for expert in on_dask.experts_)
    assert_allclose(on_dask.lower_bound_, memory.lower_bound_, rtol=1e-8)
    assert_allclose(on_dask.predict_proba(X), memory.predict_proba(X), atol=1e-6)
    for ours, theirs in zip(on_dask.experts_, memory.experts_):
        assert_allclose(ours.scale_, theirs.scale_, rtol=1e-10)


def test_columns_too_large_in_units_of_their_spread_are_refused():
    X, y = make_gated_classification(200, 3, 2, 3, random_state=0)[:2]
    # A column of spread 1e200 is an ordinary column in units of its spread.
    kwargs = dict(n_experts=2, max_iter=2000, tol=1e-10, random_state=0)
    wide = MixtureOfExpertsClassifier(**kwargs).fit(X * np.array([1e200, 1.0, 1.0]), y)
    base = MixtureOfExpertsClassifier(**kwargs).fit(X, y)
    # At a flat optimum: the bounds agree to 1e-11 while the probabilities move by 6e-5.
    assert wide.lower_bound_ == pytest.approx(base.lower_bound_, rel=1e-9)
    assert_allclose(wide.predict_proba(X * np.array([1e200, 1.0, 1.0])), base.predict_proba(X),
                    atol=1e-3)
    # One value of 1e300 is a column of spread 7e298: taken, and finite.
    outlier = X.copy()
    outlier[0, 1] = 1e300
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(outlier, y)
    assert np.all(np.isfinite(model.predict_proba(outlier)))
    constant = np.c_[X, np.full(X.shape[0], 1e300)]
    with pytest.raises(ValueError, match=r"ScaledLogisticRegression experts fit the columns in "
                                         r"units of their spread .* column 3 reaches 1e\+300"):
        MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(constant, y)
