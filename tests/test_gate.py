"""SoftmaxGate: the penalised soft cross-entropy, its optimum, and the classifier contract."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

import skmoe._gate
from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, SoftmaxGate
from skmoe._gate import (
    NEWTON_MAX_HESSIAN_WORK,
    NEWTON_MAX_PARAMETERS,
    ConstantGate,
    _Objective,
    _soft_cross_entropy,
    _soft_cross_entropy_fused,
)
from skmoe._gate_base import SolverBudget
from skmoe.datasets import make_switching_regression

# A generalised-EM budget as the EM loop passes it (its own is 1 Newton step or 3
# L-BFGS iterations); numbers of its own show that the gate reads the budget.
BUDGET = SolverBudget(newton_steps=2, lbfgs_iterations=4)


def _gated_data(n_samples=600, n_features=3, n_classes=3, sharpness=2.0, seed=0):
    """Inputs, true gate probabilities, regimes drawn from them, and the true gate."""
    X, _, params = make_switching_regression(
        n_samples,
        n_features,
        n_classes,
        gate_sharpness=sharpness,
        random_state=seed,
        return_params=True,
    )
    return X, params.gate_proba, params.regime, params


def _centred(coef):
    """Coefficients with the class mean removed (softmax is shift invariant)."""
    return coef - coef.mean(axis=0)


def _objective_by_hand(params, X, targets, sample_weight, alpha, fit_intercept):
    """The documented objective, written independently of _soft_cross_entropy."""
    n_classes = targets.shape[1]
    params = params.reshape(n_classes, X.shape[1] + 1)
    scores = X @ params[:, :-1].T
    if fit_intercept:
        scores = scores + params[:, -1]
    data_term = -np.sum(sample_weight[:, None] * targets * log_softmax(scores, axis=1))
    return (data_term + 0.5 * alpha * np.sum(params[:, :-1] ** 2)) / np.sum(sample_weight)


def _central_difference(fun, x, step=1e-6):
    grad = np.empty_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = step
        grad[j] = (fun(x + e) - fun(x - e)) / (2 * step)
    return grad


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("soft", [True, False], ids=["soft", "one-hot"])
def test_soft_cross_entropy_gradient_matches_finite_differences(fit_intercept, soft):
    rng = np.random.default_rng(3)
    n_samples, n_features, n_classes = 40, 3, 4
    X = rng.normal(size=(n_samples, n_features))
    if soft:
        targets = rng.dirichlet(np.ones(n_classes), size=n_samples)
    else:
        targets = np.eye(n_classes)[rng.integers(n_classes, size=n_samples)]
    sample_weight = rng.uniform(0.1, 3.0, size=n_samples)
    sample_weight[:5] = 0.0
    total_weight = float(sample_weight.sum())
    alpha = 0.7
    params = rng.normal(size=n_classes * (n_features + 1))
    args = (X, targets, sample_weight, total_weight, alpha, fit_intercept)

    loss, grad = _soft_cross_entropy(params, *args)

    assert_allclose(
        loss,
        _objective_by_hand(params, X, targets, sample_weight, alpha, fit_intercept),
        rtol=1e-12,
    )
    numeric = _central_difference(lambda p: _soft_cross_entropy(p, *args)[0], params)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    if not fit_intercept:
        assert_array_equal(grad.reshape(n_classes, -1)[:, -1], 0.0)


def test_soft_cross_entropy_does_not_modify_its_inputs():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 2))
    targets = rng.dirichlet(np.ones(3), size=20)
    sample_weight = rng.uniform(size=20)
    params = rng.normal(size=9)
    copies = [a.copy() for a in (params, X, targets, sample_weight)]
    _soft_cross_entropy(params, X, targets, sample_weight, 1.0, 1.0, True)
    for before, after in zip(copies, (params, X, targets, sample_weight)):
        assert_array_equal(after, before)


def test_soft_targets_recover_the_true_gate():
    # When the soft targets are the model's own probabilities the gradient of
    # the unpenalised objective vanishes at the true parameters.
    X, gate_proba, _, truth = _gated_data(n_samples=3000, n_features=3, n_classes=4)
    gate = SoftmaxGate(C=1e8, tol=1e-10, max_iter=1000).fit(X, gate_proba)
    assert_allclose(_centred(gate.coef_), _centred(truth.gate_coef), atol=1e-3)
    assert_allclose(gate.intercept_, truth.gate_intercept - truth.gate_intercept.mean(), atol=1e-3)
    assert_allclose(gate.predict_proba(X), gate_proba, atol=1e-4)
    assert_array_equal(gate.classes_, np.arange(4))


def test_intercept_is_centred():
    X, gate_proba, _, _ = _gated_data()
    gate = SoftmaxGate().fit(X + 2.0, gate_proba)
    assert_allclose(gate.intercept_.sum(), 0.0, atol=1e-12)
    assert np.any(np.abs(gate.intercept_) > 1e-3)


def test_hard_labels_fit_like_one_hot_soft_targets():
    X, _, regime, _ = _gated_data()
    labels = np.array(["north", "south", "west"])[regime]
    one_hot = np.eye(3)[regime]
    sample_weight = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0])
    hard = SoftmaxGate(C=0.5).fit(X, labels, sample_weight=sample_weight)
    soft = SoftmaxGate(C=0.5).fit(X, one_hot, sample_weight=sample_weight)
    assert_allclose(hard.coef_, soft.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(hard.intercept_, soft.intercept_, rtol=1e-12, atol=1e-14)
    assert_allclose(hard.predict_proba(X), soft.predict_proba(X), rtol=1e-12, atol=1e-14)
    assert_array_equal(hard.classes_, ["north", "south", "west"])
    assert_array_equal(hard.predict(X), np.array(["north", "south", "west"])[soft.predict(X)])


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_multiclass_agrees_with_logistic_regression(C):
    # scikit-learn 1.9 minimises mean_i w_i loss_i + ||W||^2 / (2 C sum_i w_i)
    # over a full (n_classes, n_features) W with a free intercept: for three or
    # more classes this is exactly SoftmaxGate's objective.
    X, _, regime, _ = _gated_data(n_classes=4, seed=1)
    sample_weight = np.random.default_rng(1).uniform(0.2, 2.0, size=X.shape[0])
    gate = SoftmaxGate(C=C, tol=1e-10, max_iter=1000).fit(X, regime, sample_weight)
    reference = LogisticRegression(C=C, tol=1e-10, max_iter=1000).fit(
        X, regime, sample_weight=sample_weight
    )
    assert_allclose(gate.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert_allclose(gate.coef_, reference.coef_, atol=1e-5)
    assert_allclose(gate.intercept_, reference.intercept_ - reference.intercept_.mean(), atol=1e-5)
    assert_array_equal(gate.predict(X), reference.predict(X))


def test_binary_agrees_with_logistic_regression_at_double_C():
    # Two classes: scikit-learn fits one vector w with penalty ||w||^2 / (2 C).
    # The symmetric optimum of the gate is W = [-w/2, w/2], whose penalty is
    # ||w||^2 / (4 C): the same objective as LogisticRegression with 2 C.
    X, _, regime, _ = _gated_data(n_classes=3, seed=2)
    y = (regime == 2).astype(int)
    gate = SoftmaxGate(C=0.05, tol=1e-10, max_iter=1000).fit(X, y)
    reference = LogisticRegression(C=0.1, tol=1e-10, max_iter=1000).fit(X, y)
    assert_allclose(gate.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert_allclose(gate.decision_function(X), reference.decision_function(X), atol=1e-5)
    assert_allclose(gate.coef_[1] - gate.coef_[0], reference.coef_[0], atol=1e-5)
    assert_allclose(gate.coef_[0], -gate.coef_[1], atol=1e-6)


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_warm_start_refit_starts_from_previous_solution(solver):
    X, gate_proba, _, _ = _gated_data(n_samples=1000)
    cold = SoftmaxGate(tol=1e-8, solver=solver).fit(X, gate_proba)
    warm = SoftmaxGate(tol=1e-8, warm_start=True, solver=solver).fit(X, gate_proba)
    assert warm.n_iter_ == cold.n_iter_ > 2
    warm.fit(X, gate_proba)
    assert warm.n_iter_ < cold.n_iter_
    assert_allclose(warm.coef_, cold.coef_, atol=1e-6)

    # On nearby targets the warm start needs fewer iterations than a cold fit.
    shifted = 0.99 * gate_proba + 0.01 / 3
    warm.fit(X, shifted)
    cold_shifted = SoftmaxGate(tol=1e-8, solver=solver).fit(X, shifted)
    assert warm.n_iter_ < cold_shifted.n_iter_
    assert_allclose(warm.coef_, cold_shifted.coef_, atol=1e-5)


def test_without_warm_start_refit_ignores_previous_solution():
    X, gate_proba, regime, _ = _gated_data()
    gate = SoftmaxGate(tol=1e-8).fit(X, np.eye(3)[regime])
    gate.fit(X, gate_proba)
    fresh = SoftmaxGate(tol=1e-8).fit(X, gate_proba)
    assert gate.n_iter_ == fresh.n_iter_
    assert_allclose(gate.coef_, fresh.coef_, rtol=1e-12, atol=1e-14)


def test_warm_start_refit_with_max_iter_zero_keeps_the_coefficients():
    X, gate_proba, regime, _ = _gated_data()
    gate = SoftmaxGate(warm_start=True).fit(X, gate_proba)
    coef, intercept = gate.coef_.copy(), gate.intercept_.copy()
    # Different targets: any iteration at all would move the coefficients.
    gate.set_params(max_iter=0).fit(X, np.eye(3)[regime])
    assert gate.n_iter_ == 0
    assert_array_equal(gate.coef_, coef)
    assert_array_equal(gate.intercept_, intercept)


def test_max_iter_zero_cold_fit_leaves_the_gate_uniform():
    X, gate_proba, _, _ = _gated_data()
    gate = SoftmaxGate(max_iter=0).fit(X, gate_proba)
    assert gate.n_iter_ == 0
    assert_array_equal(gate.coef_, 0.0)
    assert_allclose(gate.predict_proba(X), 1 / 3, rtol=1e-15)


def test_without_intercept_the_intercept_is_zero():
    X, gate_proba, _, _ = _gated_data()
    gate = SoftmaxGate(fit_intercept=False).fit(X + 1.0, gate_proba)
    assert_array_equal(gate.intercept_, 0.0)
    scores = (X + 1.0) @ gate.coef_.T
    assert_allclose(gate.predict_log_proba(X + 1.0), log_softmax(scores, axis=1), atol=1e-12)


def test_warm_start_refit_without_intercept_drops_the_old_intercept():
    X, gate_proba, _, _ = _gated_data()
    X = X + 1.0
    gate = SoftmaxGate(warm_start=True).fit(X, gate_proba)
    gate.set_params(fit_intercept=False).fit(X, gate_proba)
    fresh = SoftmaxGate(fit_intercept=False).fit(X, gate_proba)
    assert_array_equal(gate.intercept_, 0.0)
    assert_allclose(gate.predict_proba(X), fresh.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("soft", [True, False], ids=["soft", "hard"])
def test_sample_weight_equals_repeated_rows(soft):
    X, gate_proba, regime, _ = _gated_data(n_samples=300)
    y = gate_proba if soft else regime
    counts = np.random.default_rng(5).integers(0, 4, size=X.shape[0])
    counts[:3] = 1  # the hard labels keep all classes
    weighted = SoftmaxGate(tol=1e-10, max_iter=1000).fit(X, y, sample_weight=counts)
    repeated = SoftmaxGate(tol=1e-10, max_iter=1000).fit(
        np.repeat(X, counts, axis=0), np.repeat(y, counts, axis=0)
    )
    assert_allclose(weighted.coef_, repeated.coef_, atol=1e-7)
    assert_allclose(weighted.intercept_, repeated.intercept_, atol=1e-7)
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-8)


def test_zero_weight_rows_are_ignored():
    X, gate_proba, _, _ = _gated_data(n_samples=300)
    sample_weight = np.ones(300)
    sample_weight[::4] = 0.0
    rng = np.random.default_rng(6)
    garbage = gate_proba.copy()
    garbage[::4] = rng.dirichlet(np.ones(3), size=garbage[::4].shape[0])
    a = SoftmaxGate(tol=1e-10).fit(X, gate_proba, sample_weight=sample_weight)
    b = SoftmaxGate(tol=1e-10).fit(X, garbage, sample_weight=sample_weight)
    assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "targets",
    [
        np.array([[1.2, -0.2], [0.5, 0.5], [0.3, 0.7], [0.0, 1.0]]),
        np.array([[0.6, 0.6], [0.5, 0.5], [0.3, 0.7], [0.0, 1.0]]),
        np.array([[0.2, 0.2, 0.2], [0.5, 0.3, 0.2], [0.3, 0.3, 0.4], [0.0, 0.0, 1.0]]),
    ],
    ids=["negative", "row-sum-1.2", "row-sum-0.6"],
)
def test_invalid_soft_targets_raise(targets):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(
        ValueError, match=r"Soft targets y must be non-negative with rows summing to 1\."
    ):
        SoftmaxGate().fit(X, targets)


def test_single_class_raises():
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match="at least 2 classes in y; got 1 class"):
        SoftmaxGate().fit(X, ["a", "a", "a", "a"])


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_predict_before_fit_raises(method):
    with pytest.raises(NotFittedError, match="SoftmaxGate instance is not fitted yet"):
        getattr(SoftmaxGate(), method)(np.zeros((2, 2)))


def test_wrong_number_of_features_at_predict_raises():
    X, gate_proba, _, _ = _gated_data()
    gate = SoftmaxGate().fit(X, gate_proba)
    with pytest.raises(ValueError, match="has 2 features, but SoftmaxGate is expecting 3"):
        gate.predict_proba(X[:, :2])


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_probabilities_are_normalised_and_consistent(n_classes):
    X, gate_proba, regime, _ = _gated_data(n_classes=n_classes, seed=n_classes)
    gate = SoftmaxGate().fit(X, gate_proba)
    proba = gate.predict_proba(X)
    log_proba = gate.predict_log_proba(X)
    assert proba.shape == (X.shape[0], n_classes)
    assert np.all(proba > 0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert_allclose(log_proba, np.log(proba), rtol=1e-12, atol=1e-14)
    assert_array_equal(gate.predict(X), np.argmax(proba, axis=1))

    scores = X @ gate.coef_.T + gate.intercept_
    decision = gate.decision_function(X)
    if n_classes == 2:
        assert decision.shape == (X.shape[0],)
        assert_allclose(decision, scores[:, 1] - scores[:, 0], rtol=1e-12)
        assert_allclose(decision, log_proba[:, 1] - log_proba[:, 0], rtol=1e-9, atol=1e-12)
        assert_array_equal(gate.predict(X), (decision > 0).astype(int))
    else:
        assert decision.shape == (X.shape[0], n_classes)
        assert_allclose(decision, scores, rtol=1e-12)


def test_pickle_round_trip_gives_identical_probabilities():
    X, gate_proba, _, _ = _gated_data()
    gate = SoftmaxGate(C=3.0).fit(X, gate_proba)
    restored = pickle.loads(pickle.dumps(gate))
    assert_array_equal(restored.predict_proba(X), gate.predict_proba(X))
    assert_array_equal(restored.coef_, gate.coef_)
    assert restored.get_params() == gate.get_params()


@pytest.mark.parametrize(("fit_intercept", "n_parameters"), [(True, 2 * (3 + 1)), (False, 2 * 3)])
def test_penalty_and_parameter_count_on_a_known_gate(fit_intercept, n_parameters):
    X, gate_proba, _, _ = _gated_data(n_features=3, n_classes=3)
    gate = SoftmaxGate(C=4.0, fit_intercept=fit_intercept).fit(X, gate_proba)
    gate.coef_ = np.array([[1.0, -2.0, 0.0], [0.5, 0.5, 3.0], [0.0, 1.0, -1.0]])
    # ||W||^2 = 1 + 4 + 0.25 + 0.25 + 9 + 1 + 1 = 16.5, over 2 C = 8.
    assert_allclose(gate._penalty(), 16.5 / 8.0, rtol=1e-15)
    assert gate._n_parameters() == n_parameters


def test_penalty_matches_the_objective_at_the_fitted_coefficients():
    X, gate_proba, _, _ = _gated_data()
    sample_weight = np.random.default_rng(7).uniform(0.5, 1.5, size=X.shape[0])
    gate = SoftmaxGate(C=0.3).fit(X, gate_proba, sample_weight=sample_weight)
    params = np.column_stack([gate.coef_, gate.intercept_]).ravel()
    total = sample_weight.sum()
    args = (X, gate_proba, sample_weight, total)
    with_penalty, _ = _soft_cross_entropy(params, *args, 1 / 0.3, True)
    without, _ = _soft_cross_entropy(params, *args, 0.0, True)
    assert_allclose((with_penalty - without) * total, gate._penalty(), rtol=1e-10)


# ---------------------------------------------------------------------------
# the fused objective and the generalised-EM step
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(
    ("n_samples", "n_features", "n_classes"), [(1, 1, 2), (40, 3, 4), (2_000, 7, 3), (5_000, 20, 8)]
)
def test_fused_soft_cross_entropy_equals_numpy_twin(n_samples, n_features, n_classes,
                                                   fit_intercept):
    rng = np.random.default_rng(n_samples + n_classes)
    X = rng.normal(size=(n_samples, n_features))
    targets = rng.dirichlet(np.ones(n_classes), size=n_samples)
    sample_weight = rng.uniform(0.0, 3.0, size=n_samples)
    sample_weight[::7] = 0.0
    total_weight = float(sample_weight.sum()) or 1.0
    params = rng.normal(size=n_classes * (n_features + 1))
    args = (sample_weight, total_weight, 0.7, fit_intercept)
    loss, grad = _soft_cross_entropy(params, X, targets, *args)
    fused_loss, fused_grad = _soft_cross_entropy_fused(
        params, np.ascontiguousarray(X.T), np.ascontiguousarray(targets.T), *args
    )
    assert_allclose(fused_loss, loss, rtol=1e-10)
    assert_allclose(fused_grad, grad, rtol=1e-10, atol=1e-10 * np.max(np.abs(grad)))
    if not fit_intercept:
        assert_array_equal(fused_grad.reshape(n_classes, -1)[:, -1], 0.0)


def test_fit_uses_the_fused_objective_and_reaches_the_numpy_optimum():
    # The same L-BFGS run on the NumPy twin ends at the same coefficients.
    X, gate_proba, _, _ = _gated_data(n_samples=2000, n_classes=4)
    sample_weight = np.random.default_rng(9).uniform(0.5, 1.5, size=X.shape[0])
    gate = SoftmaxGate(C=2.0, tol=1e-10, max_iter=1000).fit(X, gate_proba, sample_weight)
    total = sample_weight.sum()
    twin = minimize(
        _soft_cross_entropy, np.zeros(4 * 4), method="L-BFGS-B", jac=True,
        args=(X, gate_proba, sample_weight, total, 0.5, True),
        options={"maxiter": 1000, "gtol": 1e-10, "ftol": 64 * np.finfo(float).eps},
    )
    params = twin.x.reshape(4, 4)
    assert_allclose(gate.coef_, params[:, :-1], atol=1e-6)
    assert_allclose(gate.intercept_, params[:, -1] - params[:, -1].mean(), atol=1e-6)


def _objective_at(gate, X, targets, sample_weight):
    params = np.column_stack([gate.coef_, gate.intercept_]).ravel()
    return _soft_cross_entropy(params, X, targets, sample_weight, sample_weight.sum(),
                               1.0 / gate.C, gate.fit_intercept)[0]


@pytest.mark.parametrize(("solver", "budget"),
                         [("lbfgs", BUDGET.lbfgs_iterations), ("newton", BUDGET.newton_steps)])
def test_em_step_takes_a_few_iterations_and_never_increases_the_objective(solver, budget):
    X, gate_proba, regime, _ = _gated_data(n_samples=3000, n_classes=4)
    sample_weight = np.ones(X.shape[0])
    gate = SoftmaxGate(warm_start=True, tol=1e-12, solver=solver).fit(X, np.eye(4)[regime])
    previous = _objective_at(gate, X, gate_proba, sample_weight)
    for step in range(30):
        solved = gate._fit_soft(X, gate_proba, sample_weight, BUDGET)
        # Far from the optimum the whole budget is used; near it, the solver stops early.
        assert gate.n_iter_ == budget if step == 0 else gate.n_iter_ <= budget
        # Not solved: the budget, not the solver, ended the step.
        if not solved:
            assert gate.n_iter_ == budget
        current = _objective_at(gate, X, gate_proba, sample_weight)
        assert current <= previous + 1e-15 * abs(previous)
        previous = current
    assert solved
    # Repeated steps reach the solution of a full solve.
    full = SoftmaxGate(tol=1e-12, max_iter=1000, solver=solver).fit(X, gate_proba)
    assert_allclose(gate.predict_proba(X), full.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize(("solver", "max_iter"), [("lbfgs", 2), ("newton", 1)])
def test_em_step_respects_a_smaller_max_iter(solver, max_iter):
    X, gate_proba, _, _ = _gated_data()
    gate = SoftmaxGate(max_iter=max_iter, tol=1e-12, solver=solver)
    assert gate._fit_soft(X, gate_proba, np.ones(X.shape[0]), BUDGET)
    # The user's own max_iter, not the EM step's budget, stopped it: as solved as a
    # plain fit.
    assert gate.n_iter_ == max_iter
    assert gate.set_params(max_iter=0, warm_start=True)._fit_soft(
        X, gate_proba, np.ones(X.shape[0]), BUDGET
    )
    assert gate.n_iter_ == 0


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_without_a_budget_the_gate_solves_to_tolerance(solver):
    X, gate_proba, _, _ = _gated_data()
    gate = SoftmaxGate(tol=1e-10, max_iter=1000, solver=solver)
    assert gate._fit_soft(X, gate_proba, np.ones(X.shape[0]))
    assert gate.n_iter_ > BUDGET.lbfgs_iterations
    assert_allclose(gate.coef_, SoftmaxGate(tol=1e-10, max_iter=1000, solver=solver)
                    .fit(X, gate_proba).coef_, rtol=0, atol=0)


# ---------------------------------------------------------------------------
# solvers: Newton's method and L-BFGS
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_newton_and_lbfgs_reach_the_same_optimum(fit_intercept, n_classes):
    X, gate_proba, _, _ = _gated_data(n_samples=1500, n_classes=n_classes, seed=3)
    sample_weight = np.random.default_rng(4).uniform(0.0, 2.0, size=X.shape[0])
    fits = {
        solver: SoftmaxGate(C=2.0, fit_intercept=fit_intercept, tol=1e-10, max_iter=1000,
                            solver=solver).fit(X + 0.5, gate_proba, sample_weight)
        for solver in ("lbfgs", "newton")
    }
    assert_allclose(fits["newton"].coef_, fits["lbfgs"].coef_, atol=1e-6)
    assert_allclose(fits["newton"].intercept_, fits["lbfgs"].intercept_, atol=1e-6)
    assert fits["newton"].n_iter_ < fits["lbfgs"].n_iter_
    # Newton stopped at the tolerance on the gradient.
    params = np.column_stack([fits["newton"].coef_, fits["newton"].intercept_]).ravel()
    _, grad = _soft_cross_entropy(params, X + 0.5, gate_proba, sample_weight,
                                  sample_weight.sum(), 0.5, fit_intercept)
    assert np.max(np.abs(grad)) <= 1e-10


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_objective_hessian_matches_finite_differences_of_the_gradient(fit_intercept):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 3))
    targets = rng.dirichlet(np.ones(4), size=200)
    sample_weight = rng.uniform(0.5, 2.0, size=200)
    args = (sample_weight, sample_weight.sum(), 0.3, fit_intercept)
    objective = _Objective(X, targets, *args)
    params = rng.normal(size=4 * 4)
    hess = objective.hessian(params)
    step = 1e-6
    numeric = np.column_stack([
        (_soft_cross_entropy(params + step * e, X, targets, *args)[1]
         - _soft_cross_entropy(params - step * e, X, targets, *args)[1]) / (2 * step)
        for e in np.eye(params.size)
    ])
    assert_allclose(hess, numeric, atol=1e-7)
    # The directions Newton's steps leave out: orthonormal, and the cross-entropy's
    # Hessian and gradient vanish along them; with the penalty, its gradient does at
    # coefficients centred across the classes (where the optimum lies).
    null = objective.null_space()
    assert null.shape[1] == (4 if fit_intercept else 3 + 4)
    assert_allclose(null.T @ null, np.eye(null.shape[1]), atol=1e-15)
    unpenalised = _Objective(X, targets, sample_weight, sample_weight.sum(), 0.0,
                             fit_intercept)
    assert_allclose(unpenalised.hessian(params) @ null, 0.0, atol=1e-14)
    assert_allclose(null.T @ unpenalised(params)[1], 0.0, atol=1e-14)
    centred = (params.reshape(4, 4) - params.reshape(4, 4).mean(axis=0)).ravel()
    assert_allclose(null.T @ objective(centred)[1], 0.0, atol=1e-14)


def _spy_on_solvers(monkeypatch):
    calls = []
    for name in ("_newton", "_lbfgs"):
        original = getattr(skmoe._gate, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(skmoe._gate, name, spy)
    return calls


def test_auto_solver_takes_newton_for_small_dense_gates(monkeypatch):
    calls = _spy_on_solvers(monkeypatch)
    rng = np.random.default_rng(6)
    labels = np.arange(200) % 4
    # Four classes: K (d + 1) parameters, up to the limit and one feature beyond it,
    # on rows enough for the Hessian's work n K^2 (d + 1)^2 to pass its own limit.
    n_features = NEWTON_MAX_PARAMETERS // 4 - 1
    n_rows = int(NEWTON_MAX_HESSIAN_WORK // (4 * (n_features + 2)) ** 2) + 1
    many = np.arange(n_rows) % 4
    SoftmaxGate(max_iter=1).fit(rng.normal(size=(n_rows, n_features)), many)
    SoftmaxGate(max_iter=1).fit(rng.normal(size=(n_rows, n_features + 1)), many)
    # Beyond 40 parameters on few rows: the Hessian is cheap, Newton again.
    SoftmaxGate().fit(rng.normal(size=(200, n_features + 1)), labels)
    SoftmaxGate().fit(sp.csr_matrix(rng.normal(size=(200, 2))), labels)
    SoftmaxGate(solver="lbfgs").fit(rng.normal(size=(200, 2)), labels)
    SoftmaxGate(solver="newton").fit(rng.normal(size=(200, 30)), labels)
    assert calls == ["_newton", "_lbfgs", "_newton", "_lbfgs", "_lbfgs", "_newton"]


def test_newton_refuses_sparse_inputs():
    X = sp.csr_matrix(np.eye(6))
    with pytest.raises(ValueError, match=r"SoftmaxGate\(solver='newton'\) needs dense X"):
        SoftmaxGate(solver="newton").fit(X, np.arange(6) % 2)


def test_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="The 'solver' parameter of SoftmaxGate must be"):
        SoftmaxGate(solver="sag").fit(np.eye(4), [0, 1, 0, 1])


def test_classifier_gate_solves_whatever_the_budget():
    from skmoe._gate import ClassifierGate

    X, gate_proba, _, _ = _gated_data(n_samples=300)
    budgeted = ClassifierGate(LogisticRegression())
    assert budgeted._fit_soft(X, gate_proba, np.ones(X.shape[0]), BUDGET)
    full = ClassifierGate(LogisticRegression())
    assert full._fit_soft(X, gate_proba, np.ones(X.shape[0]))
    assert_array_equal(budgeted.predict_proba(X), full.predict_proba(X))


def test_classifier_gate_fits_sparse_rows_as_dense_ones():
    from sklearn.tree import DecisionTreeClassifier

    from skmoe._gate import ClassifierGate

    X, gate_proba, _, _ = _gated_data(n_samples=300)
    weight = np.random.RandomState(1).uniform(0.5, 2.0, X.shape[0])
    dense = ClassifierGate(DecisionTreeClassifier(max_depth=3, random_state=0))
    dense._fit_soft(X, gate_proba, weight)
    sparse = ClassifierGate(DecisionTreeClassifier(max_depth=3, random_state=0))
    sparse._fit_soft(sp.csr_matrix(X), gate_proba, weight)
    assert_allclose(sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), atol=1e-12)


def test_mixture_with_a_classifier_gate_on_sparse_x_matches_dense_x():
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeClassifier

    from skmoe import MixtureOfExpertsRegressor

    X, y = make_switching_regression(n_samples=400, n_experts=2, random_state=0)
    params = dict(experts=LinearRegression(), n_experts=2, max_iter=20, random_state=0,
                  gate=DecisionTreeClassifier(max_depth=2, random_state=0))
    dense = MixtureOfExpertsRegressor(**params).fit(X, y)
    sparse = MixtureOfExpertsRegressor(**params).fit(sp.csr_matrix(X), y)
    assert sparse.n_iter_ == dense.n_iter_
    assert_allclose(sparse.lower_bounds_, dense.lower_bounds_, rtol=1e-10)
    assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-10)


def test_classifier_gate_is_unfitted_after_dropping_experts_until_refitted():
    from skmoe._gate import ClassifierGate

    X, gate_proba, _, _ = _gated_data(n_samples=300)
    gate = ClassifierGate(LogisticRegression())
    gate._fit_soft(X, gate_proba, np.ones(X.shape[0]))
    gate._drop_classes(np.array([True, False, True]))
    with pytest.raises(NotFittedError, match="This ClassifierGate is not fitted"):
        gate.predict_proba(X)
    kept = gate_proba[:, [0, 2]] / gate_proba[:, [0, 2]].sum(axis=1, keepdims=True)
    gate._fit_soft(X, kept, np.ones(X.shape[0]))
    assert gate.predict_proba(X).shape == (300, 2)


# ------------------------------------------------------- a gate without inputs
def test_constant_gate_is_a_gaussian_mixture_with_dummy_experts():
    from sklearn.dummy import DummyRegressor
    from sklearn.mixture import GaussianMixture

    from skmoe import MixtureOfExpertsRegressor

    rng = np.random.RandomState(0)
    y = np.concatenate([rng.normal(-4, 1, 500), rng.normal(1, 0.5, 300),
                        rng.normal(5, 1.5, 200)])
    X = rng.normal(size=(1000, 2))  # the gate and the dummy experts ignore it
    model = MixtureOfExpertsRegressor(DummyRegressor(), n_experts=3, gate_features=[],
                                      n_init=3, tol=1e-8, max_iter=500,
                                      random_state=0).fit(X, y)
    reference = GaussianMixture(3, n_init=3, tol=1e-8, max_iter=500,
                                random_state=0).fit(y[:, None])
    order = np.argsort(model.gate_.proportions_)
    assert_allclose(model.gate_.proportions_[order], np.sort(reference.weights_), atol=1e-4)
    assert_allclose(model.score_samples(X, y).sum(), reference.score(y[:, None]) * 1000,
                    rtol=1e-6)
    assert isinstance(model.gate_, ConstantGate)
    assert model.gate_scaler_ is None and model.gate_features_.size == 0
    assert_allclose(model.predict_gate(X[:7]), np.tile(model.gate_.proportions_, (7, 1)))
    # K - 1 proportions, K means, K variances: GaussianMixture's count.
    assert model._n_parameters() == reference._n_parameters() == 8


def test_constant_gate_proportions_are_the_weighted_mean_of_the_responsibilities():
    from skmoe import MixtureOfExpertsClassifier
    from skmoe.datasets import make_gated_classification

    X, y = make_gated_classification(600, random_state=0)
    weight = np.random.RandomState(1).uniform(0.5, 2.0, 600)
    # tol=1e-12: near the optimum the objective (the experts' penalties subtracted)
    # changes by less than 1e-10 while the proportions still move by 2e-6.
    model = MixtureOfExpertsClassifier(n_experts=2, gate_features=[], tol=1e-12,
                                       max_iter=500, random_state=0)
    model.fit(X, y, sample_weight=weight)
    resp = model._posterior(X, y)[0]
    # At convergence the proportions are a fixed point of their closed-form M-step.
    assert_allclose(model.gate_.proportions_, weight @ resp / weight.sum(), atol=1e-6)
    assert_allclose(model.predict_gate(X), np.tile(model.gate_.proportions_, (600, 1)))


def test_constant_gate_takes_no_gate():
    from skmoe import MixtureOfExpertsRegressor

    X, y = make_switching_regression(100, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, gate=SoftmaxGate(C=2.0), gate_features=[])
    with pytest.raises(ValueError, match=r"gate_features=\[\] means a gate without inputs "
                                         r"\(mixing proportions only\), fitted in closed "
                                         r"form; it takes no gate, got gate=SoftmaxGate"):
        model.fit(X, y)
    assert not hasattr(model, "gate_")


@pytest.mark.parametrize("weight", [1.0, 1e20, 1e100])
def test_newton_reaches_the_lbfgs_gate_at_any_weight_scale(weight):
    # With weights far larger than 1 / C the penalty no longer fixes the common shift
    # of the coefficients across the experts; Newton's steps must leave it out.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3))
    logits = 2 * X @ rng.normal(size=(3, 3))
    targets = np.exp(logits - logits.max(axis=1, keepdims=True))
    targets /= targets.sum(axis=1, keepdims=True)
    weights = np.full(400, weight)
    newton = SoftmaxGate(solver="newton", C=1e6, tol=1e-10).fit(X, targets, weights)
    lbfgs = SoftmaxGate(solver="lbfgs", C=1e6, tol=1e-10).fit(X, targets, weights)
    assert_allclose(newton.predict_proba(X), lbfgs.predict_proba(X), atol=1e-5)
    assert_allclose(newton.predict_proba(X), targets, atol=1e-4)
    # Centred across the experts: where the penalised optimum lies.
    assert_allclose(newton.coef_.sum(axis=0), 0.0, atol=1e-8)


def test_a_classifier_gate_with_one_expert_gives_it_every_row():
    # LogisticRegression refuses a single class: n_experts=1 with gate=
    # LogisticRegression(), or a fit whose other experts were removed, ended in
    # "This solver needs samples of at least 2 classes in the data".
    X, y = make_switching_regression(n_samples=300, n_features=2, n_experts=2, noise=0.3,
                                     random_state=0)
    reference = MixtureOfExpertsRegressor(n_experts=1, random_state=0).fit(X, y)
    model = MixtureOfExpertsRegressor(n_experts=1, gate=LogisticRegression(),
                                      random_state=0).fit(X, y)
    assert model.gate_.classifier_ is None
    assert_array_equal(model.predict_gate(X[:5]), np.ones((5, 1)))
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-10)
    labels = y > np.median(y)
    classifier = MixtureOfExpertsClassifier(n_experts=1, gate=LogisticRegression(),
                                            random_state=0).fit(X, labels)
    assert_allclose(
        classifier.predict_proba(X),
        MixtureOfExpertsClassifier(n_experts=1, random_state=0).fit(X, labels).predict_proba(X),
        rtol=1e-10)
    # Gaussian noise: a far y takes an expert, which is removed; one is left.
    y[17] = 1e6
    with pytest.warns(UserWarning, match="was removed at EM iteration"):
        kept = MixtureOfExpertsRegressor(n_experts=2, gate=LogisticRegression(),
                                         random_state=0).fit(X, y)
    assert kept.n_experts_ == 1 and kept.gate_.classifier_ is None
