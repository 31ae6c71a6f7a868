"""Newton's method for the softmax gate, for gates with few parameters.

The gate's objective is the penalised soft cross-entropy of a multinomial
logistic regression (see :class:`skmoe.SoftmaxGate`). Its Hessian has
``K (d + 1)`` rows; when that is small, forming it costs about as much as a
few evaluations of the gradient, and a Newton step goes as far as many
L-BFGS iterations. This is the iteratively reweighted least squares with
which Jordan and Jacobs (1994) fitted the gates of their mixtures of experts.
On small data, where a whole fit takes milliseconds, it also avoids the fixed
cost of setting up an L-BFGS solve in every EM iteration.

The Hessian is only positive semi-definite: softmax does not change when the
same constant is added to every class's intercept. The gradient has no
component along that direction, and the step is taken orthogonally to it.
"""

import numpy as np

# Sufficient decrease (Armijo) constant of the line search, and the shortest
# step it tries before deciding that no step decreases the objective.
_ARMIJO = 1e-4
_MIN_STEP = 2.0**-30
# The relative rounding of a loss: a predicted decrease below it is no decrease.
_EPS = float(np.finfo(np.float64).eps)
# For a Hessian singular beyond its known null space: eigenvalues below this
# share of the largest are taken as zero (rounding), and the step leaves them out.
_EIGENVALUE_FLOOR = 1e-12


def newton_solve(objective, hessian, start, max_iter, tol, null_space):
    """Minimise ``objective`` by damped Newton steps from ``start``.

    Each step solves the Newton system orthogonally to the known null space
    and halves its length until the loss decreases enough (Armijo), so the
    loss never increases.

    Parameters
    ----------
    objective : callable
        ``objective(params) -> (loss, grad)``.
    hessian : callable
        ``hessian(params) -> hess``.
    start : ndarray of shape (n_params,)
        Starting point (not modified).
    max_iter : int
        Maximum number of Newton steps.
    tol : float
        Stop when the largest absolute entry of the gradient is at most ``tol``.
    null_space : ndarray of shape (n_params, n_null)
        Orthonormal directions along which the objective is constant (its
        gradient and Hessian vanish there); may have no columns.

    Returns
    -------
    params : ndarray of shape (n_params,)
        The last point reached.
    n_iter : int
        Newton steps taken.
    solved : bool
        True when the gradient is within ``tol``, or when no step along the
        Newton direction decreases the loss (the minimum, to rounding); False
        when ``max_iter`` ran out first.
    """
    params = np.array(start, dtype=np.float64)
    loss, grad = objective(params)
    projector = null_space @ null_space.T
    for n_iter in range(max_iter):
        if np.max(np.abs(grad)) <= tol:
            return params, n_iter, True
        direction = _newton_direction(hessian(params), grad, projector)
        slope = float(grad @ direction)
        if not slope < 0:
            return params, n_iter, True
        step = 1.0
        while True:
            candidate = params + step * direction
            new_loss, new_grad = objective(candidate)
            if new_loss <= loss + _ARMIJO * step * slope:
                break
            step *= 0.5
            if step < _MIN_STEP:
                return params, n_iter, True
        params, loss, grad = candidate, new_loss, new_grad
    return params, max_iter, bool(np.max(np.abs(grad)) <= tol)


def _newton_direction(hess, grad, projector):
    """``-H^+ grad``: the Newton step, in the span orthogonal to H's known null space.

    ``projector`` is ``V V^T`` for orthonormal vectors ``V`` with ``H V = 0``
    and ``grad . V = 0`` (the intercepts' common shift). Adding ``c V V^T``
    makes H positive definite without changing the solution, which a solve by
    LU then finds; only if that fails (a Hessian singular in other directions
    too) is the pseudo-inverse taken from an eigendecomposition, cut at
    ``_EIGENVALUE_FLOOR``.
    """
    scale = max(float(np.max(np.diag(hess))), np.finfo(float).tiny)
    try:
        direction = -np.linalg.solve(hess + scale * projector, grad)
    except np.linalg.LinAlgError:
        direction = None
    if direction is not None and np.all(np.isfinite(direction)):
        return direction
    eigenvalues, eigenvectors = np.linalg.eigh(hess)
    keep = eigenvalues > _EIGENVALUE_FLOOR * max(eigenvalues[-1], 0.0)
    projected = eigenvectors[:, keep].T @ grad
    return -(eigenvectors[:, keep] @ (projected / eigenvalues[keep]))


def newton_steps(evaluate, loss_at, start, max_iter, tol, null_space):
    """Minimise by damped Newton steps, each point's loss, gradient and Hessian in one call.

    For objectives whose Hessian costs little once the loss and gradient
    are computed in the same pass over the data (:func:`newton_solve` asks
    for them in two). The last step allowed by ``max_iter`` evaluates its
    point's loss only (``loss_at``). Stops, as solved, also after a step
    that did not lower the loss, and before one whose predicted decrease
    (half the Newton decrement) is below the rounding of the loss: the
    gradient has then reached the rounding floor of its sums, which can lie
    above a tight ``tol``.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(params) -> (loss, grad, hess)``.
    loss_at : callable
        ``loss_at(params) -> loss``.
    start : ndarray of shape (n_params,)
        Starting point (not modified).
    max_iter : int
        Maximum number of Newton steps (at least 1).
    tol : float
        Stop when the largest absolute entry of the gradient is at most ``tol``.
    null_space : ndarray of shape (n_params, n_null)
        As for :func:`newton_solve`.

    Returns
    -------
    params : ndarray of shape (n_params,)
        The last point reached.
    n_iter : int
        Newton steps taken.
    solved : bool
        As for :func:`newton_solve`; False when ``max_iter`` ran out first.
    """
    params = np.array(start, dtype=np.float64)
    loss, grad, hess = evaluate(params)
    projector = null_space @ null_space.T
    for n_iter in range(max_iter):
        if np.max(np.abs(grad)) <= tol:
            return params, n_iter, True
        direction = _newton_direction(hess, grad, projector)
        slope = float(grad @ direction)
        if not -0.5 * slope > _EPS * abs(loss):
            # The full step's predicted decrease is below the rounding of the loss:
            # no step can lower it measurably. At a solved start (a later M-step's)
            # the gradient's rounding floor may lie above ``tol``, and steps of
            # rounding size, taken or halved, cost an evaluation each.
            return params, n_iter, True
        last = n_iter == max_iter - 1
        step = 1.0
        while True:
            candidate = params + step * direction
            if last:
                new_loss = loss_at(candidate)
            else:
                new_loss, new_grad, new_hess = evaluate(candidate)
            if new_loss <= loss + _ARMIJO * step * slope:
                break
            step *= 0.5
            if step < _MIN_STEP:
                return params, n_iter, True
        if last:
            return candidate, max_iter, False
        stalled = not new_loss < loss
        params, loss, grad, hess = candidate, new_loss, new_grad, new_hess
        if stalled:
            return params, n_iter + 1, True
    return params, max_iter, bool(np.max(np.abs(grad)) <= tol)
