"""Newton's method for a SoftmaxGate on small dense data, in one compiled call a step.

:func:`skmoe._newton.newton_solve` with the gate's objective
(:class:`skmoe._gate._Objective`) evaluates the loss, gradient and Hessian
through the Numba kernels, but each Newton step also makes a dozen small
NumPy calls (the system's matrix, the line search's points and tests), and
in the EM loop of a small mixture, where the gate takes one Newton step per
M-step on a few hundred rows, those calls cost several times the kernels.
:func:`gate_newton_solve` takes the same steps with the loss, gradient and
first Newton system made in one compiled call and each line search (with
the next system) in one more call of the same kernel; the system is solved
by NumPy's own LU solve, as ``newton_solve`` solves it, so that the steps
are the same numbers (a compiled solve links another LAPACK, whose last bits
differ).
"""

import numpy as np
from numba import njit

from ._kernels import (
    _soft_cross_entropy_serial,
    penalise_gate_hessian,
    penalise_gate_loss,
    soft_cross_entropy_hessian,
)
from ._newton import _ARMIJO, _MIN_STEP, _newton_direction

_TINY = np.finfo(np.float64).tiny


@njit(cache=True, nogil=True, inline="always")
def _gate_loss(params, X_t, targets_t, sample_weight, fit_intercept, alpha, total_weight,
              grad):
    """The gate's objective at ``params`` (raveled), its gradient into ``grad``.

    :func:`skmoe._gate._soft_cross_entropy_fused` on the serial kernel: the
    penalised soft cross-entropy divided by the total weight.
    """
    n_classes = targets_t.shape[0]
    n_columns = X_t.shape[0] + 1
    matrix = params.reshape(n_classes, n_columns)
    grad_matrix = grad.reshape(n_classes, n_columns)
    loss = _soft_cross_entropy_serial(matrix, X_t, targets_t, sample_weight, fit_intercept,
                                      grad_matrix)
    return penalise_gate_loss(matrix, loss, grad_matrix, alpha, fit_intercept, total_weight)


@njit(cache=True, nogil=True, inline="always")
def _newton_system(params, X_t, sample_weight, fit_intercept, alpha, total_weight, projector,
                   hess, system):
    """The gate's Hessian at ``params`` into ``hess``, and Newton's system into ``system``.

    ``system = hess + max(max(diag(hess)), tiny) projector``, the matrix
    :func:`skmoe._newton._newton_direction` solves.
    """
    n_columns = X_t.shape[0] + 1
    n_classes = params.shape[0] // n_columns
    soft_cross_entropy_hessian(params.reshape(n_classes, n_columns), X_t, sample_weight,
                               fit_intercept, hess)
    penalise_gate_hessian(hess, n_columns, alpha, total_weight)
    size = hess.shape[0]
    # max(diag(hess)) as a loop (NaN first, as np.max gives it): np.diag and
    # np.max would each add a compilation.
    largest = -np.inf
    for a in range(size):
        value = hess[a, a]
        if value != value:
            largest = value
            break
        if value > largest:
            largest = value
    scale = max(largest, _TINY)
    for a in range(size):
        for b in range(size):
            system[a, b] = hess[a, b] + scale * projector[a, b]


@njit(cache=True, nogil=True, inline="always")
def _within(grad, tol):
    """``max(abs(grad)) <= tol`` (False when an entry is NaN)."""
    for value in grad:
        if not abs(value) <= tol:
            return False
    return True


# newton_step's outcomes: no step taken (the solve ends, solved, at the point it
# had), a step to a point whose gradient is within tol (or, on the first call,
# the start is within tol), a step and the next Newton system made (or, on the
# first call, the system at the start), a direction that is not finite (nothing
# done).
STOP, WITHIN_TOL, STEPPED, NOT_FINITE = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def newton_step(first, params, direction, loss, grad, X_t, targets_t, sample_weight,
                fit_intercept, alpha, total_weight, projector, tol, check_finite, build,
                candidate, new_grad, hess, system):
    """The start of a Newton solve, or Armijo's line search of one of its steps.

    One kernel for both (two kernels would each compile the gate's loss and Hessian).

    With ``first``: the loss at ``params`` and its gradient into ``grad``;
    ``WITHIN_TOL`` when ``max(abs(grad)) <= tol`` (``newton_solve`` then stops
    before its first step), otherwise Newton's system at ``params`` into
    ``hess`` and ``system`` and ``STEPPED``. ``direction``, ``loss``,
    ``check_finite``, ``build``, ``candidate`` and ``new_grad`` are not used.

    Otherwise the line search of :func:`skmoe._newton.newton_solve` along
    ``direction`` from ``params``, whose loss and gradient are ``loss`` and
    ``grad``. With ``check_finite``, a direction that is not finite returns
    ``NOT_FINITE`` first (``newton_solve`` takes the pseudo-inverse's step
    then). A step taken leaves the point in ``candidate`` and its gradient in
    ``new_grad``; unless that gradient is within ``tol``, ``build`` makes
    the next Newton system there (into ``hess`` and ``system``).

    Returns
    -------
    loss : float
        The loss at the point the solve is now at.
    outcome : int
        ``STOP`` (the direction does not descend, or no step down to the
        shortest decreases the loss enough), ``WITHIN_TOL``, ``STEPPED`` or
        ``NOT_FINITE``.
    """
    if first:
        loss = _gate_loss(params, X_t, targets_t, sample_weight, fit_intercept, alpha,
                         total_weight, grad)
        if _within(grad, tol):
            return loss, WITHIN_TOL
        _newton_system(params, X_t, sample_weight, fit_intercept, alpha, total_weight,
                       projector, hess, system)
        return loss, STEPPED
    if check_finite:
        for value in direction:
            if not np.isfinite(value):
                return loss, NOT_FINITE
    slope = np.dot(grad, direction)
    if not slope < 0:
        return loss, STOP
    step = 1.0
    while True:
        for a in range(params.shape[0]):
            candidate[a] = params[a] + step * direction[a]
        new_loss = _gate_loss(candidate, X_t, targets_t, sample_weight, fit_intercept, alpha,
                             total_weight, new_grad)
        if new_loss <= loss + _ARMIJO * step * slope:
            break
        step *= 0.5
        if step < _MIN_STEP:
            return loss, STOP
    if _within(new_grad, tol):
        return new_loss, WITHIN_TOL
    if build:
        _newton_system(candidate, X_t, sample_weight, fit_intercept, alpha, total_weight,
                       projector, hess, system)
    return new_loss, STEPPED


def gate_newton_solve(objective, start, max_iter, tol):
    """:func:`skmoe._newton.newton_solve` on a gate's dense objective, serial kernels.

    Parameters
    ----------
    objective : skmoe._gate._Objective
        Dense (``objective.fused``), on data small enough for the serial
        loss kernel.
    start : ndarray of shape (n_params,)
        Starting point (not modified), centred across the classes.
    max_iter : int
        Maximum number of Newton steps.
    tol : float
        Stop when the largest absolute entry of the gradient is at most ``tol``.

    Returns
    -------
    params, n_iter, solved
        As ``newton_solve``'s, the same numbers.
    """
    sample_weight, total_weight, alpha, fit_intercept = objective.args
    fit_intercept, alpha, total_weight = bool(fit_intercept), float(alpha), float(total_weight)
    X_t, targets_t = objective.X, objective.targets
    projector = objective.projector()
    tol = float(tol)
    size = start.shape[0]
    params = np.array(start, dtype=np.float64)
    grad, candidate, new_grad = np.empty(size), np.empty(size), np.empty(size)
    hess, system = np.empty((size, size)), np.empty((size, size))
    loss, outcome = newton_step(True, params, grad, 0.0, grad, X_t, targets_t, sample_weight,
                                fit_intercept, alpha, total_weight, projector, tol, False,
                                False, candidate, new_grad, hess, system)
    solved = outcome == WITHIN_TOL
    if solved or max_iter < 1:
        return params, 0, solved
    for n_iter in range(max_iter):
        try:
            direction = -np.linalg.solve(system, grad)
            check_finite = True
        except np.linalg.LinAlgError:
            direction, check_finite = _newton_direction(hess, grad, projector), False
        build = n_iter + 1 < max_iter
        new_loss, outcome = newton_step(False, params, direction, loss, grad, X_t, targets_t,
                                        sample_weight, fit_intercept, alpha, total_weight,
                                        projector, tol, check_finite, build, candidate,
                                        new_grad, hess, system)
        if outcome == NOT_FINITE:
            # The pseudo-inverse of newton_solve (which first repeats this solve).
            new_loss, outcome = newton_step(False, params,
                                            _newton_direction(hess, grad, projector), loss,
                                            grad, X_t, targets_t, sample_weight,
                                            fit_intercept, alpha, total_weight, projector,
                                            tol, False, build, candidate, new_grad, hess,
                                            system)
        if outcome == STOP:
            return params, n_iter, True
        params, candidate = candidate, params
        grad, new_grad = new_grad, grad
        loss = new_loss
        if outcome == WITHIN_TOL:
            return params, n_iter + 1, True
    return params, max_iter, False
