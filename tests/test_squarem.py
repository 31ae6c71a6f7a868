"""Squared extrapolation of the classifier's EM (skmoe._squarem)."""

from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.tree import DecisionTreeClassifier

import skmoe._base
from skmoe import MixtureOfExpertsClassifier, SoftmaxGate
from skmoe._gate import ConstantGate
from skmoe._squarem import Squarem, em_parameters, set_em_parameters, squared_extrapolation
from skmoe.datasets import make_gated_classification

# Short fits that give a run its parameters, not converged fits.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class _NoSquarem:
    def restart(self):
        return None

    def step(self, run, lower_bound, evaluate, total_weight):
        return None


@pytest.mark.parametrize("rate", [0.5, 0.9, 0.99])
def test_extrapolation_lands_on_the_fixed_point_of_a_uniform_contraction(rate):
    rng = np.random.RandomState(0)
    fixed, theta0 = rng.normal(size=7), rng.normal(size=7)

    def em_map(theta):
        return fixed + rate * (theta - fixed)

    theta1 = em_map(theta0)
    assert_allclose(squared_extrapolation(theta0, theta1, em_map(theta1)), fixed, atol=1e-12)


def test_no_extrapolation_without_a_step_beyond_the_last_iterate():
    theta0 = np.array([1.0, -2.0])
    # Differences that shrink by a factor 0.9 with alternating signs: ||r|| < ||v||.
    assert squared_extrapolation(theta0, -0.9 * theta0, 0.81 * theta0) is None
    # A constant shift: v = 0.
    assert squared_extrapolation(theta0, theta0 + 1.0, theta0 + 2.0) is None


def _run(n_classes=3):
    X, y = make_gated_classification(300, 2, 2, n_classes, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, random_state=0).fit(X, y)
    return SimpleNamespace(gate=model.gate_, experts=model.experts_, params={}, penalty=0.5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_parameters_round_trip(n_classes):
    run = _run(n_classes)
    theta = em_parameters(run)
    n_coef = 1 if n_classes == 2 else n_classes
    assert theta.shape == (2 * 3 + 2 * n_coef * 3,)
    assert_array_equal(theta[:4], run.gate.coef_.ravel())
    set_em_parameters(run, theta + 1.0)
    assert_array_equal(em_parameters(run), theta + 1.0)
    assert run.experts[1].coef_.shape == (n_coef, 2)
    assert run.experts[1].intercept_.shape == (n_coef,)


@pytest.mark.parametrize("change", [
    lambda run: setattr(run, "gate", ConstantGate()),
    lambda run: run.experts.append(DecisionTreeClassifier()),
    lambda run: run.experts[0].set_params(solver="liblinear"),
    lambda run: run.experts[0].set_params(l1_ratio=1.0),
    lambda run: run.params.update(scale=np.ones(2)),
])
def test_runs_with_parameters_not_known_here_are_left_alone(change):
    run = _run()
    change(run)
    assert em_parameters(run) is None
    assert Squarem().step(run, 0.0, pytest.fail, 1.0) is None


def _three_iterates(squarem, run, evaluate, fixed=None):
    """Feed EM iterates contracting by 0.5 towards ``fixed`` (default 0); return the last."""
    theta = em_parameters(run)
    fixed = np.zeros_like(theta) if fixed is None else fixed
    for _ in range(3):
        set_em_parameters(run, theta)
        result = squarem.step(run, -1.0, evaluate, 100.0)
        last, theta = theta, fixed + 0.5 * (theta - fixed)
    return last, result


def test_proposal_kept_where_the_objective_rises():
    run = _run()
    seen = []

    def evaluate():
        seen.append(em_parameters(run))
        run.penalty = 0.25
        return 0.0, "state"

    last, result = _three_iterates(Squarem(), run, evaluate)
    assert result == (0.0, "state")
    # The uniform contraction's fixed point.
    assert_allclose(seen[0], 0.0, atol=1e-12)
    assert_allclose(em_parameters(run), 0.0, atol=1e-12)
    assert run.penalty == 0.25


def test_restart_forgets_the_iterates():
    run = _run()
    squarem = Squarem()
    theta = em_parameters(run)
    for scale in (1.0, 0.5):
        set_em_parameters(run, scale * theta)
        assert squarem.step(run, -1.0, pytest.fail, 100.0) is None
    squarem.restart()
    for scale in (0.25, 0.125):
        set_em_parameters(run, scale * theta)
        assert squarem.step(run, -1.0, pytest.fail, 100.0) is None


@pytest.mark.parametrize("outcome", ["lower", "error"])
def test_rejected_proposal_restores_the_last_iterate(outcome):
    run = _run()

    def evaluate():
        run.penalty = 123.0
        if outcome == "error":
            raise ValueError("Expert 0 (LogisticRegression) returned NaN or inf probabilities.")
        return -2.0, "state"

    last, result = _three_iterates(Squarem(), run, evaluate)
    assert result is None
    assert_array_equal(em_parameters(run), last)
    assert run.penalty == 0.5


@pytest.mark.parametrize("n_classes", [2, 3])
def test_mixture_reaches_the_same_optimum_in_fewer_iterations(monkeypatch, n_classes):
    X, y = make_gated_classification(1000, 3, 3, n_classes, random_state=0)
    kwargs = {"n_experts": 3, "tol": 1e-10, "max_iter": 5000, "random_state": 0}
    fast = MixtureOfExpertsClassifier(**kwargs).fit(X, y)
    with monkeypatch.context() as patch:
        patch.setattr(skmoe._base, "Squarem", _NoSquarem)
        plain = MixtureOfExpertsClassifier(**kwargs).fit(X, y)
    assert fast.converged_ and plain.converged_
    assert fast.n_iter_ < 0.7 * plain.n_iter_, (fast.n_iter_, plain.n_iter_)
    assert_allclose(fast.lower_bound_, plain.lower_bound_, rtol=1e-7)
    assert_allclose(fast.predict_proba(X), plain.predict_proba(X), atol=1e-3)


def test_other_gates_and_experts_fit_as_without_it(monkeypatch):
    X, y = make_gated_classification(600, 2, 2, random_state=0)
    models = {
        "tree experts": lambda: MixtureOfExpertsClassifier(
            DecisionTreeClassifier(max_depth=2), n_experts=2, max_iter=20, random_state=0),
        "SoftmaxGate subclass": lambda: MixtureOfExpertsClassifier(
            n_experts=2, gate=type("Gate", (SoftmaxGate,), {})(), max_iter=20, random_state=0),
    }
    for make in models.values():
        model = make().fit(X, y)
        with monkeypatch.context() as patch:
            patch.setattr(skmoe._base, "Squarem", _NoSquarem)
            plain = make().fit(X, y)
        assert_array_equal(model.lower_bounds_, plain.lower_bounds_)
