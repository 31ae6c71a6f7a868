"""LogisticRegression experts fitted by Newton's method (skmoe._logistic) against their own fit."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression

import skmoe._experts
import skmoe._logistic
from skmoe import MixtureOfExpertsClassifier, ScaledLogisticRegression
from skmoe._gate_base import SolverBudget
from skmoe._logistic import (
    LogisticData,
    fit_by_newton,
    fits_by_newton,
    logistic_log_likelihood,
)
from skmoe.datasets import make_gated_classification


def _problem(n_classes, seed=0, n_samples=400, labels=None):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 3))
    scores = X @ rng.normal(size=(3, n_classes)) + rng.gumbel(size=(n_samples, n_classes))
    y = scores.argmax(axis=1)
    if labels is not None:
        y = np.asarray(labels)[y]
    weight = rng.uniform(0, 2, size=n_samples)
    weight[rng.uniform(size=n_samples) < 0.1] = 0.0
    return X, y, weight


def _objective(model, X, y, weight):
    """scikit-learn's LogisticRegression objective (summed, not divided by the weights)."""
    scores = X @ model.coef_.T + model.intercept_
    codes = np.searchsorted(model.classes_, y)
    if model.classes_.shape[0] == 2:
        scores = np.column_stack([np.zeros(len(y)), scores[:, 0]])
    log_proba = log_softmax(scores, axis=1)[np.arange(len(y)), codes]
    penalty = 0.0 if np.isinf(model.C) else 0.5 * np.sum(model.coef_**2) / model.C
    return -weight @ log_proba + penalty


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("C", [1.0, 0.05, np.inf])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_full_solve_equals_logistic_regression_fit(n_classes, C, fit_intercept):
    X, y, weight = _problem(n_classes, seed=n_classes)
    reference = LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-12,
                                   max_iter=10_000).fit(X, y, sample_weight=weight)
    expert = LogisticRegression(C=C, fit_intercept=fit_intercept)
    assert fits_by_newton(expert, X, y, "sample_weight")
    fitted, solved = fit_by_newton(expert, LogisticData(X, y), weight)
    assert fitted is expert and solved
    assert_array_equal(expert.classes_, reference.classes_)
    assert expert.coef_.shape == reference.coef_.shape
    assert expert.intercept_.shape == reference.intercept_.shape
    assert expert.coef_.dtype == reference.coef_.dtype == np.float64
    assert expert.n_iter_.shape == reference.n_iter_.shape == (1,)
    assert expert.n_iter_.dtype == reference.n_iter_.dtype
    assert expert.n_features_in_ == reference.n_features_in_ == 3
    assert not hasattr(expert, "feature_names_in_")
    assert_allclose(expert.coef_, reference.coef_, rtol=1e-6, atol=1e-7)
    assert_allclose(expert.intercept_, reference.intercept_, rtol=1e-6, atol=1e-7)
    assert_allclose(expert.predict_proba(X), reference.predict_proba(X), rtol=1e-6, atol=1e-9)
    # At least as low an objective as L-BFGS reaches (to rounding).
    ours, theirs = _objective(expert, X, y, weight), _objective(reference, X, y, weight)
    assert ours <= theirs + 1e-10 * abs(theirs)


def test_labels_are_kept_as_given():
    X, y, weight = _problem(3, labels=[3, 7, 11])
    expert, _ = fit_by_newton(LogisticRegression(), LogisticData(X, y), weight)
    reference = LogisticRegression(tol=1e-12, max_iter=1000).fit(X, y, sample_weight=weight)
    assert_array_equal(expert.classes_, [3, 7, 11])
    assert_array_equal(expert.predict(X), reference.predict(X))


def test_em_step_improves_from_the_previous_fit_and_the_full_solve_finishes():
    X, y, weight = _problem(3, seed=5)
    data = LogisticData(X, y)
    expert, _ = fit_by_newton(LogisticRegression(), data, weight)
    # New weights: the previous optimum is the warm start of one Newton step.
    new_weight = np.random.RandomState(1).uniform(0, 2, size=len(y))
    before = _objective(expert, X, y, new_weight)
    budget = SolverBudget(newton_steps=1, lbfgs_iterations=3)
    expert, solved = fit_by_newton(expert, data, new_weight, budget)
    assert expert.n_iter_[0] == 1 and not solved
    after_step = _objective(expert, X, y, new_weight)
    assert after_step < before
    expert, solved = fit_by_newton(expert, data, new_weight)
    assert solved
    reference = LogisticRegression(tol=1e-12, max_iter=1000).fit(X, y, sample_weight=new_weight)
    assert_allclose(expert.coef_, reference.coef_, rtol=1e-6, atol=1e-7)
    assert _objective(expert, X, y, new_weight) <= after_step


def test_errors_are_those_of_fit():
    X, y, _ = _problem(2)
    with pytest.raises(ValueError, match="at least one non-zero"):
        fit_by_newton(LogisticRegression(), LogisticData(X, y), np.zeros(len(y)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        fit_by_newton(LogisticRegression(), LogisticData(X, np.zeros(len(y), dtype=int)),
                      np.ones(len(y)))


class _Subclass(LogisticRegression):
    pass


@pytest.mark.parametrize("expert", [
    LogisticRegression(class_weight="balanced"),
    LogisticRegression(solver="liblinear"),
    LogisticRegression(solver="saga"),
    LogisticRegression(l1_ratio=1.0, solver="saga"),
    LogisticRegression(penalty="l2"),
    LogisticRegression(C=-1.0),
    LogisticRegression(max_iter=0),
    LogisticRegression(dual=True),
    LogisticRegression(n_jobs=1),
    _Subclass(),
], ids=repr)
def test_other_settings_keep_their_own_fit(expert):
    X, y, _ = _problem(3)
    assert not fits_by_newton(expert, X, y, "sample_weight")


def test_other_inputs_keep_their_own_fit():
    X, y, _ = _problem(3)
    expert = LogisticRegression()
    assert fits_by_newton(expert, X, y, "sample_weight")
    assert not fits_by_newton(expert, X, y, None)
    assert not fits_by_newton(expert, X, y.astype(float), "sample_weight")


def test_sparse_inputs_are_fitted_by_newton_while_a_dense_copy_is_small():
    X, y, _ = _problem(3)
    expert = LogisticRegression()
    assert fits_by_newton(expert, sp.csr_matrix(X), y, "sample_weight")
    # A Newton step's Hessian beyond 2**30 multiply-adds: rows * (2 (10 + 1))**2 for a
    # binomial model on 10 columns, fitted as a two-class softmax.
    labels = np.arange(2_218_475) % 2
    assert fits_by_newton(expert, sp.csr_matrix((2_218_474, 10)), labels[:-1], "sample_weight")
    assert not fits_by_newton(expert, sp.csr_matrix((2_218_475, 10)), labels, "sample_weight")
    # Three classes count three rows of coefficients: 1e6 * 33**2 is beyond 2**30.
    rows = sp.csr_matrix((1_000_000, 10))
    assert fits_by_newton(expert, rows, labels[:1_000_000], "sample_weight")
    assert not fits_by_newton(expert, rows, np.arange(1_000_000) % 3, "sample_weight")


def test_sparse_inputs_with_a_large_dense_copy_keep_their_own_fit(monkeypatch):
    monkeypatch.setattr(skmoe._logistic, "DENSE_COPY_MAX_ENTRIES", 1000)
    X, y, _ = _problem(2)
    expert = LogisticRegression()
    assert fits_by_newton(expert, sp.csr_matrix((100, 10)), y[:100], "sample_weight")
    assert not fits_by_newton(expert, sp.csr_matrix((100, 11)), y[:100], "sample_weight")


@pytest.mark.parametrize("n_classes", [2, 3])
def test_newton_fit_on_sparse_rows_is_the_fit_on_dense_rows(n_classes):
    X, y, weight = _problem(n_classes)
    X[np.random.RandomState(1).uniform(size=X.shape) < 0.5] = 0.0
    dense = fit_by_newton(LogisticRegression(C=0.5), LogisticData(X, y), weight)[0]
    sparse = fit_by_newton(LogisticRegression(C=0.5), LogisticData(sp.csr_matrix(X), y),
                           weight)[0]
    assert_allclose(sparse.coef_, dense.coef_, rtol=1e-12, atol=1e-12)
    assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-12, atol=1e-12)
    for rows in (X, sp.csr_matrix(X)):
        assert_allclose(logistic_log_likelihood(sparse, rows, y, 1e-10),
                        log_softmax_at(dense, X, y), rtol=1e-12, atol=1e-12)


def log_softmax_at(model, X, y):
    """``log p(y_i | x_i)`` from the expert's own ``predict_log_proba``."""
    return model.predict_log_proba(X)[np.arange(len(y)), np.searchsorted(model.classes_, y)]


@pytest.fixture(scope="module")
def gated():
    return make_gated_classification(1500, 3, 2, 3, random_state=0)


def _without_newton(monkeypatch):
    monkeypatch.setattr(skmoe._experts, "fits_by_newton", lambda *args: False)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_mixture_reaches_the_optimum_of_plain_fits(gated, monkeypatch, n_classes):
    X, y = gated
    if n_classes == 2:
        y = (y == 0).astype(int)
    # The objective is flat near its optimum (its changes fall below 1e-9 while the
    # probabilities still move by 2e-4): a tight tol puts both fits at the optimum.
    kwargs = {"n_experts": 2, "tol": 1e-12, "max_iter": 1000, "random_state": 0}
    expert = LogisticRegression(tol=1e-10, max_iter=1000)
    fast = MixtureOfExpertsClassifier(expert, **kwargs).fit(X, y)
    with monkeypatch.context() as patch:
        _without_newton(patch)
        plain = MixtureOfExpertsClassifier(expert, **kwargs).fit(X, y)
    assert fast.converged_ and plain.converged_
    # The objective EM climbs, the gate's and the experts' penalties subtracted. Along
    # the flat ridge of an optimum, the log-likelihood alone differs by more.
    assert_allclose(fast.lower_bound_, plain.lower_bound_, rtol=1e-7)
    assert_allclose(fast.predict_proba(X), plain.predict_proba(X), atol=1e-4)
    for ours, theirs in zip(fast.experts_, plain.experts_):
        assert type(ours) is LogisticRegression
        assert ours.get_params() == theirs.get_params()
        assert_allclose(ours.coef_, theirs.coef_, atol=1e-3)


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_unhandled_settings_fit_as_before(gated, monkeypatch):
    X, y = gated
    expert = LogisticRegression(class_weight="balanced")
    kwargs = {"n_experts": 2, "max_iter": 10, "random_state": 0}
    model = MixtureOfExpertsClassifier(expert, **kwargs).fit(X, y)
    with monkeypatch.context() as patch:
        _without_newton(patch)
        plain = MixtureOfExpertsClassifier(expert, **kwargs).fit(X, y)
    assert_array_equal(model.lower_bounds_, plain.lower_bounds_)
    assert_array_equal(model.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_log_likelihood_equals_that_of_predict_proba(n_classes):
    from skmoe._classifier import PROBA_FLOOR
    from skmoe._logistic import logistic_log_likelihood

    X, y, weight = _problem(n_classes, seed=2)
    expert = LogisticRegression(C=100.0).fit(X, y, sample_weight=weight)
    proba = expert.predict_proba(X)[np.arange(len(y)), y]
    expected = np.log(np.maximum(proba, PROBA_FLOOR))
    assert_allclose(logistic_log_likelihood(expert, X, y, PROBA_FLOOR), expected, rtol=1e-12,
                    atol=1e-13)
    if n_classes > 2:
        # A class the expert never saw has probability 0: the floor.
        seen = y != n_classes - 1
        partial = LogisticRegression().fit(X[seen], y[seen])
        log_lik = logistic_log_likelihood(partial, X, y, PROBA_FLOOR)
        assert_allclose(log_lik[~seen], np.log(PROBA_FLOOR))
        assert np.all(log_lik[seen] > np.log(PROBA_FLOOR))
    expert.coef_[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        logistic_log_likelihood(expert, X, y, PROBA_FLOOR)


@pytest.mark.parametrize("n_samples", [1000, 90_000])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fused_newton_kernel_equals_its_parts(n_samples, fit_intercept):
    from skmoe._kernels import (
        soft_cross_entropy,
        soft_cross_entropy_hessian,
        soft_cross_entropy_hessian_reference,
        soft_cross_entropy_newton,
    )

    # 90,000 rows of 10 features and 3 classes take the parallel branch.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, 10))
    targets = np.eye(3)[rng.randint(3, size=n_samples)]
    weight = rng.uniform(0, 2, size=n_samples)
    params = rng.normal(size=(3, 11))
    X_t, targets_t = np.ascontiguousarray(X.T), np.ascontiguousarray(targets.T)
    grad, hess = np.empty((3, 11)), np.empty((33, 33))
    loss = soft_cross_entropy_newton(params, X_t, targets_t, weight, fit_intercept, grad, hess)
    expected_grad, expected_hess = np.empty((3, 11)), np.empty((33, 33))
    expected = soft_cross_entropy(params, X_t, targets_t, weight, fit_intercept, expected_grad)
    soft_cross_entropy_hessian(params, X_t, weight, fit_intercept, expected_hess)
    assert loss == expected
    assert_array_equal(grad, expected_grad)
    assert_allclose(hess, expected_hess, rtol=1e-12, atol=1e-12 * np.abs(hess).max())
    reference = soft_cross_entropy_hessian_reference(params, X, weight, fit_intercept)
    assert_allclose(hess, reference, rtol=1e-10, atol=1e-10 * np.abs(hess).max())


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_wide_two_class_newton_kernel_takes_its_hessian_from_blas(fit_intercept, monkeypatch):
    from skmoe import _kernels
    from skmoe._kernels import (
        BLAS_HESSIAN_COLUMNS,
        soft_cross_entropy,
        soft_cross_entropy_hessian_reference,
        soft_cross_entropy_newton,
    )

    # Two classes, 200 features (at least BLAS_HESSIAN_COLUMNS), 9,000 rows: the
    # parallel branch, whose Hessian is the Gram matrix [[G, -G], [-G, G]].
    n_samples, n_features = 9000, 200
    assert n_features + 1 >= BLAS_HESSIAN_COLUMNS
    rng = np.random.RandomState(2)
    X = rng.normal(size=(n_samples, n_features))
    targets = np.eye(2)[rng.randint(2, size=n_samples)]
    weight = rng.uniform(0, 2, size=n_samples)
    weight[:50] = 0.0
    params = rng.normal(scale=0.1, size=(2, n_features + 1))
    params[:, :5] *= 100  # rows far in both tails of the logistic curve
    X_t, targets_t = np.ascontiguousarray(X.T), np.ascontiguousarray(targets.T)
    size = 2 * (n_features + 1)
    grad, hess = np.empty((2, n_features + 1)), np.empty((size, size))
    calls = []
    blas = _kernels._binary_hessian
    monkeypatch.setattr(_kernels, "_binary_hessian",
                        lambda *args: calls.append(1) or blas(*args))
    loss = soft_cross_entropy_newton(params, X_t, targets_t, weight, fit_intercept, grad, hess)
    assert calls == [1]
    expected_grad = np.empty_like(grad)
    assert loss == soft_cross_entropy(params, X_t, targets_t, weight, fit_intercept,
                                      expected_grad)
    assert_array_equal(grad, expected_grad)
    reference = soft_cross_entropy_hessian_reference(params, X, weight, fit_intercept)
    assert_allclose(hess, reference, rtol=1e-10, atol=1e-12 * np.abs(reference).max())
    assert_array_equal(hess, hess.T)


@pytest.mark.parametrize("n_samples", [1000, 90_000])
def test_observed_log_proba_kernel(n_samples):
    from skmoe._kernels import soft_cross_entropy, softmax_observed_log_proba

    rng = np.random.RandomState(1)
    X = rng.normal(size=(n_samples, 10))
    codes = rng.randint(3, size=n_samples).astype(np.int64)
    weight = rng.uniform(0, 2, size=n_samples)
    weight[:10] = 0.0
    params = rng.normal(size=(3, 11))
    X_t = np.ascontiguousarray(X.T)
    out = np.empty(n_samples)
    loss = softmax_observed_log_proba(params, X_t, codes, weight, True, out)
    expected = log_softmax(X @ params[:, :-1].T + params[:, -1], axis=1)
    assert_allclose(out, expected[np.arange(n_samples), codes], rtol=1e-13, atol=1e-13)
    targets_t = np.ascontiguousarray(np.eye(3)[codes].T)
    reference = soft_cross_entropy(params, X_t, targets_t, weight, True, np.empty((3, 11)))
    assert_allclose(loss, reference, rtol=1e-13)


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@pytest.mark.parametrize("max_iter", [5, 300])
@pytest.mark.parametrize("expert", [LogisticRegression(), ScaledLogisticRegression()])
def test_mixture_log_likelihood_from_the_m_step_equals_predict_proba(gated, max_iter, expert):
    X, y = gated
    # Columns of other units: a ScaledLogisticRegression penalises them in their spread.
    X = X * np.array([0.01, 1.0, 30.0])
    # Five iterations end on a generalised-EM step, whose last evaluation gives the
    # log-likelihood; a converged fit ends on a full solve.
    model = MixtureOfExpertsClassifier(expert, n_experts=2, max_iter=max_iter, tol=1e-5,
                                       random_state=0).fit(X, y)
    assert model.converged_ == (max_iter == 300)
    # lower_bound_ comes from the M-step's own evaluations; log_likelihood from the scores.
    spread = X.std(axis=0) if isinstance(expert, ScaledLogisticRegression) else 1.0
    penalties = model.gate_._penalty() + sum(0.5 * np.sum((e.coef_ * spread)**2) / e.C
                                             for e in model.experts_)
    total = model.log_likelihood(X, y) - penalties
    assert_allclose(model.lower_bound_, total / len(y), rtol=1e-12)
