"""The gate contract: what the EM loop calls on a gate, declared by BaseGate."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression, LogisticRegression

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate
from skmoe._gate import ClassifierGate, ConstantGate, TransposedRows
from skmoe._gate_base import BaseGate, SolverBudget
from skmoe.datasets import make_switching_regression

BUDGET = SolverBudget(newton_steps=1, lbfgs_iterations=3)


def _soft_targets(n_samples=300, n_experts=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 2))
    targets = rng.dirichlet(np.ones(n_experts), size=n_samples)
    return X, targets, rng.uniform(0.5, 2.0, n_samples)


GATES = [SoftmaxGate(), ClassifierGate(LogisticRegression()), ConstantGate()]


@pytest.mark.parametrize("gate", GATES, ids=lambda gate: type(gate).__name__)
def test_every_gate_implements_the_contract(gate):
    assert isinstance(gate, BaseGate)
    assert not type(gate).__abstractmethods__
    X, targets, weight = _soft_targets()
    for budget in (BUDGET, None):
        solved = gate._fit_soft(X, targets, weight, budget)
        assert type(solved) is bool
    # A full solve always solves the gate's problem.
    assert solved
    proba = gate.predict_proba(X)
    assert proba.shape == (300, 3)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_allclose(gate._log_proba(X), np.log(proba), rtol=1e-12)
    assert_allclose(gate.predict_log_proba(X), np.log(proba), rtol=1e-12)
    out = np.empty((300, 3))
    assert_allclose(gate._log_proba(X, out=out), np.log(proba), rtol=1e-12)
    penalty = gate._penalty()
    assert isinstance(penalty, float) and penalty >= 0
    gate._drop_classes(np.array([True, False, True]))
    kept = targets[:, [0, 2]] / targets[:, [0, 2]].sum(axis=1, keepdims=True)
    gate._fit_soft(X, kept, weight)
    assert gate.predict_proba(X).shape == (300, 2)


def test_softmax_gate_reads_transposed_rows_with_the_loops_budget():
    X, targets, weight = _soft_targets()
    rows = TransposedRows(np.ascontiguousarray(X.T))
    gate = SoftmaxGate(solver="lbfgs", tol=1e-12)
    assert not gate._fit_soft(rows, targets, weight, BUDGET)
    assert gate.n_iter_ == BUDGET.lbfgs_iterations
    assert_allclose(gate._log_proba(rows), gate.predict_log_proba(X), rtol=1e-12)


def test_parameter_counts_of_the_gates():
    X, targets, weight = _soft_targets()
    softmax = SoftmaxGate().fit(X, targets, sample_weight=weight)
    # (K - 1) (d + 1), or (K - 1) (r + 1) with the rank r of the inputs.
    assert softmax._n_parameters() == 2 * 3
    assert softmax._n_parameters(rank=1) == 2 * 2
    assert ConstantGate().fit(X, targets)._n_parameters() == 2
    classifier = ClassifierGate(LogisticRegression())
    classifier._fit_soft(X, targets, weight)
    with pytest.raises(ValueError, match="The number of free parameters of a "
                                         "LogisticRegression gate is not defined"):
        classifier._n_parameters()


def test_base_gate_fit_refuses_targets_that_are_not_probabilities():
    X, targets, _ = _soft_targets()
    with pytest.raises(ValueError, match=r"Soft targets y must be an array of shape "
                                         r"\(n_samples, n_experts\) with non-negative rows"):
        ConstantGate().fit(X, targets * 2)


def test_a_gate_must_implement_the_abstract_methods():
    class Incomplete(BaseGate):
        def predict_proba(self, X):
            return np.ones((X.shape[0], 1))

    with pytest.raises(TypeError, match="abstract method"):
        Incomplete()


class _Proportions(BaseGate):
    """A gate of one's own, written against the contract: mixing proportions that
    ignore the inputs (what ConstantGate does), in a few lines."""

    def _fit_soft(self, X, targets, sample_weight, budget=None):
        self.weights_ = sample_weight @ targets
        return True

    def predict_proba(self, X):
        return np.tile(self.weights_ / self.weights_.sum(), (np.shape(X)[0], 1))

    def _drop_classes(self, keep):
        if hasattr(self, "weights_"):
            self.weights_ = self.weights_[keep]


def test_a_gate_written_against_the_contract_works_in_a_mixture():
    # Mixing proportions are a gate without inputs: the mixture with this gate is the
    # mixture with gate_features=[] (the built-in ConstantGate), to the last digits.
    X, y = make_switching_regression(n_samples=600, n_experts=2, random_state=0)
    params = dict(experts=LinearRegression(), n_experts=2, max_iter=50, random_state=0)
    own = MixtureOfExpertsRegressor(gate=_Proportions(), **params).fit(X, y)
    reference = MixtureOfExpertsRegressor(gate_features=[], **params).fit(X, y)
    assert isinstance(own.gate_, _Proportions)
    assert own.n_iter_ == reference.n_iter_
    assert own.converged_ == reference.converged_
    assert_allclose(own.lower_bounds_, reference.lower_bounds_, rtol=1e-12)
    assert_allclose(own.predict(X), reference.predict(X), rtol=1e-12)
    assert_allclose(own.predict_gate(X), reference.predict_gate(X), rtol=1e-12)
    # No parameter count by default: bic says which gate lacks one.
    with pytest.raises(ValueError, match="_Proportions gate is not defined"):
        own.bic(X, y)


def test_a_gate_written_against_the_contract_loses_removed_experts():
    X, y = make_switching_regression(n_samples=500, n_experts=2, noise=0.1, random_state=0)
    init = np.full((500, 3), [0.49, 0.49, 0.02])
    with pytest.warns(UserWarning, match="Expert 2 .* was removed"):
        model = MixtureOfExpertsRegressor(n_experts=3, init=init, gate=_Proportions(),
                                          min_expert_weight=0.05, random_state=0).fit(X, y)
    assert model.n_experts_ == 2
    assert model.gate_.weights_.shape == (2,)
    assert_array_equal(model.predict_gate(X).shape, (500, 2))
