"""LinearRegression experts fitted from their Gram matrices equal LinearRegression's own fit."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression

import skmoe._base
from skmoe import MixtureOfExpertsRegressor
from skmoe._experts import fit_experts
from skmoe._linear import (
    GramSolution,
    fit_from_gram,
    fit_from_grams,
    fits_from_gram,
    linear_predictions,
    solve_grams,
    solve_grams_reference,
    weighted_design_block,
    weighted_design_block_reference,
    weighted_grams,
)
from skmoe._regressor import _expert_predictions
from skmoe.datasets import make_switching_regression


class _OwnLinearRegression(LinearRegression):
    """A subclass: fitted by its own ``fit``, the reference for the Gram path."""


def _problem(seed, n_samples=3_001, n_features=5, n_experts=3, offset=0.0, decades=(-5, 3)):
    """Inputs on scales from 1e-5 to 1e3, possibly far from zero, and soft weights."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(*decades, n_features)
    X = rng.normal(size=(n_samples, n_features)) * scales
    X += offset * rng.normal(size=n_features) * scales
    coef = rng.normal(size=n_features) / scales
    y = X @ coef + rng.normal(size=n_samples) + 7.0
    weights = rng.dirichlet(np.ones(n_experts), size=n_samples)
    weights[: n_samples // 10, 0] = 0.0
    return X, y, weights


def test_weighted_design_block_equals_reference():
    X, y, weights = _problem(0, n_samples=50)
    center, y_center = X.mean(axis=0), float(y.mean())
    design = np.full((64, X.shape[1] + 2), np.nan)
    products = np.full((64, weights.shape[1] * (X.shape[1] + 2)), np.nan)
    weighted_design_block(X, y, weights, center, y_center, 10, 40, design, products)
    expected_design, expected_products = weighted_design_block_reference(
        X, y, weights, center, y_center)
    assert_allclose(design[:30], expected_design[10:40], rtol=1e-15, atol=0)
    assert_allclose(products[:30], expected_products[10:40], rtol=1e-15, atol=0)
    # Nothing beyond the block's rows is written.
    assert np.all(np.isnan(design[30:])) and np.all(np.isnan(products[30:]))


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_weighted_grams_equal_their_definition(fit_intercept):
    # 3,001 rows: several blocks, the last one partial.
    X, y, weights = _problem(1)
    grams, center, y_center = weighted_grams(X, y, weights, fit_intercept)
    if fit_intercept:
        assert_allclose(center, X.mean(axis=0))
        assert y_center == pytest.approx(y.mean())
    else:
        assert_array_equal(center, 0.0)
        assert y_center == 0.0
    design = np.column_stack([X - center, np.ones(X.shape[0]), y - y_center])
    for k in range(weights.shape[1]):
        expected = (design * weights[:, [k]]).T @ design
        assert_allclose(grams[k], expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("offset", [0.0, 100.0])
@pytest.mark.parametrize("tol, decades", [(0.0, (-5, 3)), (1e-6, (-1, 1))])
def test_fit_from_gram_equals_linear_regression_fit(fit_intercept, offset, tol, decades):
    # With tol > 0, scales whose singular values stay far above LinearRegression's cutoff.
    X, y, weights = _problem(2, offset=offset, decades=decades)
    grams, center, y_center = weighted_grams(X, y, weights, fit_intercept)
    for k in range(weights.shape[1]):
        expert = LinearRegression(fit_intercept=fit_intercept, tol=tol)
        fitted = fit_from_gram(expert, grams[k], center, y_center)
        expected = LinearRegression(fit_intercept=fit_intercept, tol=tol).fit(
            X, y, sample_weight=weights[:, k])
        assert fitted is expert
        assert_allclose(fitted.coef_, expected.coef_, rtol=1e-8)
        assert_allclose(fitted.intercept_, expected.intercept_, rtol=1e-8,
                        atol=1e-8 * np.abs(y).max())
        assert fitted.rank_ == expected.rank_
        assert_allclose(fitted.singular_, expected.singular_, rtol=1e-8)
        assert fitted.n_features_in_ == X.shape[1]
        assert_allclose(fitted.predict(X), expected.predict(X), rtol=1e-8,
                        atol=1e-8 * np.abs(y).max())


def test_fit_from_gram_declines_what_the_normal_equations_cannot_solve():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 3))
    y = rng.normal(size=500)
    weights = np.ones((500, 1))
    expert = LinearRegression()

    # A copy of a column (exactly collinear), a nearly collinear column, a constant one.
    for bad in (X[:, 0], X[:, 0] + 1e-5 * rng.normal(size=500), np.full(500, 2.0)):
        X_bad = np.column_stack([X, bad])
        grams, center, y_center = weighted_grams(X_bad, y, weights, True)
        assert fit_from_gram(expert, grams[0], center, y_center) is None
    # No weight at all.
    grams, center, y_center = weighted_grams(X, y, np.zeros((500, 1)), True)
    assert fit_from_gram(expert, grams[0], center, y_center) is None
    # Fewer weighted rows than features.
    few = np.zeros((500, 1))
    few[:2] = 1.0
    grams, center, y_center = weighted_grams(X, y, few, True)
    assert fit_from_gram(expert, grams[0], center, y_center) is None
    assert not hasattr(expert, "coef_")


@pytest.mark.parametrize("validate", [False, True])
def test_fit_from_grams_decides_for_each_expert_of_the_stack(validate):
    # One call for the stack: a declined expert leaves the others' solutions exact.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=400)
    weights = rng.uniform(0.1, 1.0, size=(400, 4))
    weights[:, 1] = 0.0  # no weight
    weights[:, 2] = 0.0
    weights[:2, 2] = 1.0  # fewer weighted rows than features
    grams, center, y_center = weighted_grams(X, y, weights, True)
    grams = np.concatenate([grams, grams[:1]])
    grams[4, 1, 1] = np.inf  # an overflow of huge inputs
    experts = [LinearRegression(tol=0.0) for _ in range(5)]
    fitted = fit_from_grams(experts, grams, center, y_center, [validate] * 5)
    assert fitted[1] is None and fitted[2] is None and fitted[4] is None
    assert not any(hasattr(experts[k], "coef_") for k in (1, 2, 4))
    for k in (0, 3):
        assert fitted[k] is experts[k]
        expected = LinearRegression().fit(X, y, sample_weight=weights[:, k])
        assert_allclose(fitted[k].coef_, expected.coef_, rtol=1e-10)
        assert_allclose(fitted[k].intercept_, expected.intercept_, rtol=1e-10)
        assert_allclose(fitted[k].singular_, expected.singular_, rtol=1e-10)


@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_solve_grams_equals_reference(offset):
    X, y, weights = _problem(13, n_experts=6, offset=offset, decades=(-2, 2))
    weights[:, 1] = 0.0  # no weight
    weights[:, 2] = 0.0
    weights[:2, 2] = 1.0  # too few weighted rows: singular
    grams, _, _ = weighted_grams(X, y, weights, True)
    grams[3, 0, 0] = np.inf  # an overflow
    centred = np.array([True, True, True, True, False, True])
    result = solve_grams(grams, centred, 1e-6)
    expected = solve_grams_reference(grams, centred, 1e-6)
    assert isinstance(result, GramSolution) and isinstance(expected, GramSolution)
    assert_array_equal(result.usable, expected.usable)
    assert_array_equal(result.usable, [True, False, False, False, True, True])
    usable = expected.usable
    for field in GramSolution._fields[1:]:
        got, want = getattr(result, field), getattr(expected, field)[usable]
        scale = np.max(np.abs(want))
        assert_allclose(got[usable], want, rtol=1e-9, atol=1e-12 * scale)


def test_fit_from_gram_declines_when_linear_regression_tol_would_truncate():
    # Scales from 1e-5 to 1e3 put the ratio of singular values near 1e-8: below
    # tol=1e-6, where LinearRegression's own SVD drops a direction.
    X, y, weights = _problem(7, offset=100.0)
    grams, center, y_center = weighted_grams(X, y, weights, True)
    expected = LinearRegression(tol=1e-6).fit(X, y, sample_weight=weights[:, 0])
    assert expected.singular_.min() < 1e-6 * expected.singular_.max()
    assert fit_from_gram(LinearRegression(tol=1e-6), grams[0], center, y_center) is None
    assert fit_from_gram(LinearRegression(tol=0.0), grams[0], center, y_center) is not None


def test_fits_from_gram_only_plain_linear_regression_on_dense_float64():
    X = np.ones((4, 2))
    assert fits_from_gram(LinearRegression(), X)
    assert fits_from_gram(LinearRegression(fit_intercept=False, tol=1e-3), X)
    assert not fits_from_gram(LinearRegression(positive=True), X)
    assert not fits_from_gram(_OwnLinearRegression(), X)
    assert not fits_from_gram(LinearRegression(), sp.csr_matrix(X))
    assert not fits_from_gram(LinearRegression(), X.astype(np.float32))


def test_fit_experts_matches_each_expert_fitting_itself():
    # Well-posed experts go through their Gram matrices, the collinear one falls
    # back to its own fit, the subclass fits itself; all equal LinearRegression.fit.
    X, y, weights = _problem(4, n_experts=4)
    X = np.column_stack([X, X[:, 0]])
    experts = [LinearRegression(tol=0.0), LinearRegression(fit_intercept=False, tol=0.0),
               _OwnLinearRegression(tol=0.0), LinearRegression(tol=0.0)]
    fitted = fit_experts(experts, ["sample_weight"] * 4, X, y, weights, None,
                         np.random.RandomState(0), 1, validate=True)
    for k, expert in enumerate(fitted):
        assert type(expert) is type(experts[k])
        expected = LinearRegression(fit_intercept=expert.fit_intercept, tol=0.0).fit(
            X, y, sample_weight=weights[:, k])
        assert_allclose(expert.predict(X), expected.predict(X), rtol=1e-8,
                        atol=1e-8 * np.abs(y).max())


def test_fit_experts_on_well_posed_data_takes_the_gram_path(monkeypatch):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1_000, 4))
    y = X @ rng.normal(size=4) + rng.normal(size=1_000)
    weights = rng.dirichlet(np.ones(3), size=1_000)
    calls = []
    original = LinearRegression.fit

    def spy(self, X_fit, *args, **kwargs):
        calls.append(X_fit.shape)
        return original(self, X_fit, *args, **kwargs)

    monkeypatch.setattr(LinearRegression, "fit", spy)
    experts = [LinearRegression(), LinearRegression(), LinearRegression(tol=0.0)]
    fitted = fit_experts(experts, ["sample_weight"] * 3, X, y, weights, None,
                         np.random.RandomState(0), 1, validate=True)
    # Asked to validate, one fit per distinct set of parameters checks them, on the
    # 2 d rows built from a Gram matrix (not on X); the clone is fitted directly.
    assert calls == [(2 * X.shape[1], X.shape[1])] * 2
    # Without validate, fit is never called, whatever the iteration.
    fit_experts(fitted, ["sample_weight"] * 3, X, y, weights, None,
                np.random.RandomState(0), 1)
    assert len(calls) == 2
    for k, expert in enumerate(fitted):
        expected = original(LinearRegression(), X, y, sample_weight=weights[:, k])
        assert_allclose(expert.coef_, expected.coef_, rtol=1e-8)


def test_linear_predictions_equal_predict():
    X, y, weights = _problem(6)
    experts = [LinearRegression().fit(X, y, sample_weight=weights[:, k]) for k in range(2)]
    experts.append(LinearRegression(fit_intercept=False).fit(X, y))
    out = np.full((X.shape[0], 4), np.nan)
    linear_predictions([(0, experts[0]), (2, experts[1]), (3, experts[2])], X, out)
    for column, expert in zip([0, 2, 3], experts):
        assert_allclose(out[:, column], expert.predict(X), rtol=1e-12,
                        atol=1e-12 * np.abs(y).max())
    assert np.all(np.isnan(out[:, 1]))


def test_non_finite_predictions_of_a_linear_expert_are_named():
    X, y, weights = _problem(6)
    experts = [LinearRegression().fit(X, y) for _ in range(3)]
    experts[2].coef_ = experts[2].coef_.copy()
    experts[2].coef_[0] = np.inf
    with pytest.raises(ValueError, match=r"Expert 2 \(LinearRegression\) returned NaN or inf"):
        _expert_predictions(experts, X)


def test_mixture_with_gram_path_equals_mixture_of_self_fitting_experts():
    # The same EM from the same start: the Gram path against the subclass that
    # takes LinearRegression's own fit every M-step.
    X, y = make_switching_regression(2_000, 4, 3, random_state=0)
    params = dict(n_experts=3, max_iter=15, tol=1e-9, random_state=0)
    fast = MixtureOfExpertsRegressor(LinearRegression(tol=0.0), **params).fit(X, y)
    slow = MixtureOfExpertsRegressor(_OwnLinearRegression(tol=0.0), **params).fit(X, y)
    assert_allclose(fast.lower_bounds_, slow.lower_bounds_, rtol=1e-8)
    for a, b in zip(fast.experts_, slow.experts_):
        assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(fast.predict(X), slow.predict(X), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_refit_in_place_equals_linear_regression_fit(fit_intercept, monkeypatch):
    # After a first (validated) fit, later EM iterations set coef_, intercept_ and
    # singular_ in place, without calling fit again.
    X, y, weights = _problem(8, offset=10.0)
    grams, center, y_center = weighted_grams(X, y, weights, fit_intercept)
    expert = LinearRegression(fit_intercept=fit_intercept, tol=0.0)
    fit_from_gram(expert, grams[0], center, y_center)
    calls = []
    original = LinearRegression.fit
    monkeypatch.setattr(LinearRegression, "fit",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    for k in (1, 2):
        fitted = fit_from_gram(expert, grams[k], center, y_center, validate=False)
        assert fitted is expert
        expected = original(LinearRegression(fit_intercept=fit_intercept, tol=0.0), X, y,
                            sample_weight=weights[:, k])
        assert_allclose(fitted.coef_, expected.coef_, rtol=1e-8)
        assert_allclose(fitted.intercept_, expected.intercept_, rtol=1e-8,
                        atol=1e-8 * np.abs(y).max())
        assert_allclose(fitted.singular_, expected.singular_, rtol=1e-8)
        assert fitted.rank_ == expected.rank_ and fitted.n_features_in_ == X.shape[1]
        assert type(fitted.intercept_) is type(expected.intercept_)
    assert calls == []


def test_direct_fit_of_an_unfitted_expert_sets_what_fit_sets():
    # Clones sharing parameters that another expert's fit has checked are fitted
    # directly: the same attributes, with the same values, as LinearRegression.fit.
    X, y, weights = _problem(9, n_features=3, decades=(-1, 1))
    grams, center, y_center = weighted_grams(X, y, weights, True)
    fitted = fit_from_gram(LinearRegression(tol=0.0), grams[0], center, y_center,
                           validate=False)
    expected = LinearRegression(tol=0.0).fit(X, y, sample_weight=weights[:, 0])
    assert set(vars(fitted)) == set(vars(expected))
    assert fitted.rank_ == expected.rank_ and fitted.n_features_in_ == expected.n_features_in_
    assert_allclose(fitted.coef_, expected.coef_, rtol=1e-8)
    assert_allclose(fitted.intercept_, expected.intercept_, rtol=1e-8)
    assert_allclose(fitted.singular_, expected.singular_, rtol=1e-8)


def test_invalid_parameters_of_a_linear_expert_are_refused_before_any_work(monkeypatch):
    # The Gram path does not run the expert's own fit: its parameters are checked at
    # the door (they were refused in the first M-step, after the start's k-means).
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(LinearRegression(tol=-1.0), n_experts=2, random_state=0)
    started = []
    monkeypatch.setattr(skmoe._base, "initial_responsibilities",
                        lambda *args, **kwargs: started.append(True))
    with pytest.raises(ValueError, match=r"expert 0 \(LinearRegression\): The 'tol' parameter "
                                         r"of LinearRegression must be a float"):
        model.fit(X, y)
    assert not started


def test_solve_grams_declines_a_column_constant_on_the_experts_rows():
    # Centring leaves such a column a residue of rounding errors, not zero: both the
    # kernel and its twin leave the expert to its own fit, where they standardised
    # the residue and gave it a coefficient near 1e14.
    X, y, weights = _problem(3, n_samples=200, n_features=2, decades=(0, 0))
    wide = np.c_[X, np.full(200, 3.0)]
    grams, center, y_center = weighted_grams(wide, y, weights, True)
    centred = np.ones(weights.shape[1], dtype=bool)
    declined = ~solve_grams(grams, centred, 1e-6).usable
    assert_array_equal(declined, ~solve_grams_reference(grams, centred, 1e-6).usable)
    # The residue is positive for some expert here (zero or negative ones were refused).
    assert declined.all()
    for k in range(weights.shape[1]):
        assert fit_from_gram(LinearRegression(tol=0.0), grams[k], center, y_center) is None
    # The same matrices without the constant column are solved.
    grams, _, _ = weighted_grams(X, y, weights, True)
    assert solve_grams(grams, centred, 1e-6).usable.all()
