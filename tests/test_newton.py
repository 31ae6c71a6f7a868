"""Newton's method: exact on quadratics, its null space, line search and budget."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skmoe._newton import newton_solve, newton_steps


def _quadratic(matrix, vector):
    """``f(x) = x^T A x / 2 - b^T x`` with its gradient and Hessian."""

    def objective(x):
        return 0.5 * x @ matrix @ x - vector @ x, matrix @ x - vector

    def hessian(x):
        return matrix

    return objective, hessian


def _positive_definite(rng, size):
    """A random positive definite matrix and vector of ``size``."""
    root = rng.normal(size=(size, size))
    return root @ root.T + np.eye(size), rng.normal(size=size)


def test_one_step_solves_a_positive_definite_quadratic():
    rng = np.random.default_rng(0)
    matrix, vector = _positive_definite(rng, 6)
    objective, hessian = _quadratic(matrix, vector)
    params, n_iter, solved = newton_solve(objective, hessian, np.zeros(6), 10, 1e-10,
                                          np.zeros((6, 0)))
    assert_allclose(params, np.linalg.solve(matrix, vector), rtol=1e-10)
    assert n_iter == 1
    assert solved


def test_the_null_space_component_of_the_start_is_kept():
    # A singular quadratic, constant along a known direction: the step solves it
    # in the other directions and leaves the start's component along that one.
    rng = np.random.default_rng(1)
    null = np.ones((4, 1)) / 2.0
    basis = np.linalg.qr(np.column_stack([null, rng.normal(size=(4, 3))]))[0][:, 1:]
    matrix = basis @ np.diag([1.0, 5.0, 30.0]) @ basis.T
    vector = basis @ rng.normal(size=3)
    objective, hessian = _quadratic(matrix, vector)
    start = rng.normal(size=4)
    params, _, solved = newton_solve(objective, hessian, start, 10, 1e-12, null)
    assert solved
    assert_allclose(matrix @ params, vector, atol=1e-12)
    assert_allclose(null.T @ params, null.T @ start, rtol=1e-12)


def test_a_singular_hessian_outside_the_known_null_space_takes_the_pseudo_inverse():
    matrix = np.diag([2.0, 0.0])
    objective, hessian = _quadratic(matrix, np.array([4.0, 0.0]))
    params, _, solved = newton_solve(objective, hessian, np.array([0.0, 3.0]), 5, 1e-12,
                                     np.zeros((2, 0)))
    assert solved
    assert_allclose(params, [2.0, 3.0])


def test_line_search_makes_every_step_decrease_the_loss():
    # f(x) = sqrt(1 + x^2): a full Newton step from x maps it to -x^3 and diverges.
    losses = []

    def objective(x):
        value = float(np.sqrt(1.0 + x @ x))
        losses.append(value)
        return value, x / value

    def hessian(x):
        value = np.sqrt(1.0 + x @ x)
        return np.eye(1) / value**3

    params, n_iter, solved = newton_solve(objective, hessian, np.array([2.0]), 100, 1e-10,
                                          np.zeros((1, 0)))
    assert solved
    assert abs(params[0]) < 1e-9
    assert n_iter < 100
    # Full steps were tried and rejected: the line search did its work...
    assert max(losses) > losses[0]
    # ...and the point returned has the smallest loss evaluated.
    assert losses[-1] == min(losses) == pytest.approx(1.0)


def test_budget_and_zero_iterations():
    def objective(x):
        return float(np.sum(np.exp(x) - x)), np.exp(x) - 1.0

    def hessian(x):
        return np.diag(np.exp(x))

    start = np.array([3.0, -2.0])
    params, n_iter, solved = newton_solve(objective, hessian, start, 1, 1e-10,
                                          np.zeros((2, 0)))
    assert n_iter == 1
    assert not solved
    assert objective(params)[0] < objective(start)[0]
    params, n_iter, solved = newton_solve(objective, hessian, start, 0, 1e-10,
                                          np.zeros((2, 0)))
    assert n_iter == 0
    assert not solved
    assert_allclose(params, start)
    assert params is not start
    params, n_iter, solved = newton_solve(objective, hessian, start, 50, 1e-10,
                                          np.zeros((2, 0)))
    assert solved
    assert_allclose(params, 0.0, atol=1e-10)


def test_newton_steps_from_a_solved_start_take_no_step():
    # At the minimum, the gradient's rounding floor may lie above a tight tol: a
    # later M-step, started from the last one's fit, took steps of rounding size
    # (two on one machine, where the test of ScaledLogisticRegression's M-step
    # expects at most one). A step whose predicted decrease is below the loss's
    # rounding is not taken.
    rng = np.random.default_rng(0)
    matrix, vector = _positive_definite(rng, 4)
    objective, hessian = _quadratic(matrix, vector)
    offset = 1.0 - objective(np.linalg.solve(matrix, vector))[0]

    def evaluate(x):
        loss, grad = objective(x)
        return loss + offset, grad, hessian(x)

    minimum = np.linalg.solve(matrix, vector)
    start = minimum + 1e-9 * rng.normal(size=4)
    assert np.abs(evaluate(start)[1]).max() > 1e-12
    params, n_iter, solved = newton_steps(evaluate, lambda x: evaluate(x)[0], start, 10,
                                          1e-12, np.zeros((4, 0)))
    assert (n_iter, solved) == (0, True)
    assert_allclose(params, start, rtol=0, atol=0)
    # Further away the predicted decrease is above the rounding: one step solves it.
    start = minimum + 1e-3 * rng.normal(size=4)
    params, n_iter, solved = newton_steps(evaluate, lambda x: evaluate(x)[0], start, 10,
                                          1e-12, np.zeros((4, 0)))
    assert solved and n_iter in (1, 2)
    assert_allclose(params, minimum, rtol=1e-10)
