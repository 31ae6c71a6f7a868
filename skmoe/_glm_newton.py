"""Newton's method for the M-step of Poisson and Gamma GLM experts.

scikit-learn's ``PoissonRegressor`` and ``GammaRegressor`` with
``solver="newton-cholesky"`` minimise

    F(b) = sum_i w_i h(y_i, x_i b) / sum_i w_i + alpha / 2 ||coef||^2

(``h`` the half-deviance of the family under a log link, up to terms free of
``b``) by Newton's method. Their ``fit`` costs milliseconds of validation and
set-up around a few microseconds of arithmetic on the small data of flexmix's
examples, and a mixture calls it once per expert in every EM iteration: on
``bioChemists`` (915 rows, K = 2) 95% of a fit was spent there, and skmoe took
1.4 to 5 times flexmix's time on its Poisson examples. Here the same objective
is minimised by Newton's method from the expert's previous coefficients, with a
backtracking line search, to the solver's own stopping rule (the largest
absolute gradient at most ``tol``); the expert is left as its own ``fit``
leaves it. Anything this module does not reproduce exactly (another solver or
class, invalid parameters, sparse X, a failed or unfinished solve) keeps the
expert's own ``fit``. Their ``predict`` is likewise computed here
(:func:`glm_predictions`): the same arithmetic, without the validation that
cost fifty times it on those data.
"""

from numbers import Integral, Real

import numpy as np
import scipy.linalg
from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor

# The Tweedie power of each class: 1 Poisson, 2 Gamma.
_POWER = {PoissonRegressor: 1.0, GammaRegressor: 2.0}
# Halvings of a Newton step before the line search gives up.
_MAX_HALVINGS = 40
# A Newton decrement below this fraction of the objective is within its rounding.
_ROUNDING = 1e-12
# The least squared Cholesky pivot of the unit-diagonal Hessian taken as nonsingular.
_SINGULAR = 1e-10


def fits_glm_by_newton(expert, X, y, route):
    """Whether ``expert`` is fitted here rather than by its own ``fit``.

    A plain ``PoissonRegressor`` or ``GammaRegressor`` (not a subclass) with
    ``solver="newton-cholesky"`` and valid parameters, fitted through
    ``sample_weight`` on dense float X.
    """
    if type(expert) not in _POWER or route != "sample_weight":
        return False
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype != np.float64:
        return False
    if np.ndim(y) != 1:
        return False
    # The parameters themselves (get_params inspects the signature: slow on small data).
    alpha, max_iter, tol = expert.alpha, expert.max_iter, expert.tol
    return (expert.solver == "newton-cholesky"
            and isinstance(expert.fit_intercept, bool)
            and isinstance(expert.warm_start, bool)
            and isinstance(alpha, Real) and not isinstance(alpha, bool)
            and np.isfinite(alpha) and alpha >= 0
            and isinstance(max_iter, Integral) and not isinstance(max_iter, bool)
            and max_iter >= 1
            and isinstance(tol, Real) and not isinstance(tol, bool) and tol > 0)


def _value(design, y, weight, total, params, alpha, penalised, power):
    """``F`` at ``params``, and the linear predictor."""
    eta = design @ params
    loss = np.exp(eta) - y * eta if power == 1.0 else y * np.exp(-eta) + eta
    return weight @ loss / total + 0.5 * alpha * params[penalised] @ params[penalised], eta


def _derivatives(design, y, weight, total, params, eta, alpha, penalised, power):
    """The gradient of ``F`` and its expected Hessian (Fisher information)."""
    if power == 1.0:
        mu = np.exp(eta)
        residual, curvature = mu - y, mu
    else:  # Gamma: h = y / mu + eta
        residual, curvature = 1.0 - y * np.exp(-eta), np.ones_like(eta)
    gradient = design.T @ (weight * residual) / total
    gradient[penalised] += alpha * params[penalised]
    hessian = design.T @ (design * (weight * curvature)[:, None]) / total
    hessian[penalised, penalised] += alpha
    return gradient, hessian


def _newton_step(hessian, gradient):
    """``-H^-1 g`` in units of the columns' curvature: by Cholesky, or, where a
    column is constant or duplicated (H singular), the least-norm step, which
    leaves what the data cannot move where it was (a column of zeros on the
    expert's rows has no curvature and no step). None if neither is finite."""
    diagonal = np.diag(hessian)
    active = diagonal > np.finfo(float).eps * max(float(diagonal.max()), 0.0)
    step = np.zeros_like(gradient)
    if not active.any():
        return None
    scale = np.sqrt(diagonal[active])
    scaled = hessian[np.ix_(active, active)] / np.outer(scale, scale)
    target = -gradient[active] / scale
    try:
        factor = scipy.linalg.cho_factor(scaled, check_finite=False)
        # A pivot this small (the diagonal is 1) is a column the others nearly repeat.
        if np.min(np.abs(np.diag(factor[0]))) ** 2 < _SINGULAR:
            raise np.linalg.LinAlgError
        solved = scipy.linalg.cho_solve(factor, target, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        try:
            solved = np.linalg.lstsq(scaled, target, rcond=1e-12)[0]
        except (np.linalg.LinAlgError, ValueError):
            return None
    step[active] = solved / scale
    return step if np.all(np.isfinite(step)) else None


def fit_glm_by_newton(expert, X, y, weight):
    """Fit ``expert`` (see :func:`fits_glm_by_newton`) on ``X, y`` with ``weight``.

    Returns the fitted expert, or None when the solve failed or did not reach
    ``tol`` within ``max_iter`` iterations (its own ``fit`` then follows, with
    its own errors and warnings).
    """
    power = _POWER[type(expert)]
    weight = np.asarray(weight, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    total = float(weight.sum())
    positive = weight > 0
    if not total > 0 or not np.all(np.isfinite(y)):
        return None
    if power == 1.0 and not (np.all(y >= 0) and np.any(y[positive] > 0)):
        return None
    if power == 2.0 and not np.all(y > 0):
        return None
    n_features = X.shape[1]
    fit_intercept = expert.fit_intercept
    design = np.column_stack([X, np.ones(X.shape[0])]) if fit_intercept else X
    penalised = np.zeros(design.shape[1], dtype=bool)
    penalised[:n_features] = True
    alpha = float(expert.alpha)
    previous = getattr(expert, "coef_", None)
    if (expert.warm_start and isinstance(previous, np.ndarray)
            and previous.shape == (n_features,)
            and getattr(expert, "n_features_in_", None) == n_features):
        params = np.concatenate([previous, [expert.intercept_]]) if fit_intercept \
            else previous.astype(np.float64)
    else:
        params = np.zeros(design.shape[1])
        if fit_intercept:
            params[-1] = np.log(weight @ y / total)
    problem = (design, y, weight, total)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value, eta = _value(*problem, params, alpha, penalised, power)
        for iteration in range(1, int(expert.max_iter) + 1):
            gradient, hessian = _derivatives(*problem, params, eta, alpha, penalised, power)
            if not (np.isfinite(value) and np.all(np.isfinite(gradient))
                    and np.all(np.isfinite(hessian))):
                return None
            if np.max(np.abs(gradient)) <= expert.tol:
                return _fitted(expert, params, n_features, iteration - 1)
            step = _newton_step(hessian, gradient)
            if step is None:
                return None
            decrement = -(gradient @ step)
            if not decrement > 0:
                return None
            if decrement <= _ROUNDING * max(1.0, abs(value)):
                # The objective is quadratic to its rounding here: the full step,
                # which no comparison of values could tell from a worse one.
                params = params + step
                value, eta = _value(*problem, params, alpha, penalised, power)
                continue
            t = 1.0
            for _ in range(_MAX_HALVINGS):
                candidate = params + t * step
                new_value, new_eta = _value(*problem, candidate, alpha, penalised, power)
                if np.isfinite(new_value) and new_value <= value - 1e-4 * t * decrement:
                    break
                t *= 0.5
            else:
                return None
            params, value, eta = candidate, new_value, new_eta
        gradient, _ = _derivatives(*problem, params, eta, alpha, penalised, power)
        if np.isfinite(value) and np.max(np.abs(gradient)) <= expert.tol:
            return _fitted(expert, params, n_features, int(expert.max_iter))
    return None


def _fitted(expert, params, n_features, n_iter):
    """Set the attributes the expert's own ``fit`` sets; returns the expert."""
    expert._base_loss = expert._get_loss()
    expert.n_features_in_ = n_features
    expert.__dict__.pop("feature_names_in_", None)
    if expert.fit_intercept:
        expert.coef_ = params[:n_features].copy()
        expert.intercept_ = float(params[-1])
    else:
        expert.coef_ = params.copy()
        expert.intercept_ = 0.0
    expert.n_iter_ = int(n_iter)
    return expert


def glm_predictions(expert, X):
    """``expert.predict(X)`` of a fitted plain ``PoissonRegressor`` or ``GammaRegressor``
    on dense float64 ``X``, or None for any other expert or input.

    The same operations as scikit-learn's ``predict`` (``exp(X @ coef_ + intercept_)``,
    the inverse of their log link), so the same numbers, without its validation of
    ``X``: the mixture has validated it, and on flexmix's small examples the
    validation took 80 microseconds of each expert's prediction against 2 of
    arithmetic, a third of a fit.
    """
    if type(expert) not in _POWER or not isinstance(X, np.ndarray):
        return None
    coef = getattr(expert, "coef_", None)
    if (X.ndim != 2 or X.dtype != np.float64 or not isinstance(coef, np.ndarray)
            or coef.shape != (X.shape[1],)):
        return None
    return np.exp(X @ coef + expert.intercept_)


def log_link_predictor(expert, X):
    """The linear predictor ``X @ coef_ + intercept_`` of a fitted scikit-learn GLM
    regressor that predicts its exp (a log link), or None for any other expert.

    ``PoissonRegressor``, ``GammaRegressor`` and ``TweedieRegressor`` with
    ``link="log"``, or ``link="auto"`` and a positive power (its identity link
    for powers at most 0); their predictions overflow to inf where this exceeds
    ``log`` of float64's largest number, about 709.78.

    Parameters
    ----------
    expert : estimator
        A fitted expert.
    X : ndarray of shape (n_samples, n_features)
        Rows, dense.

    Returns
    -------
    eta : ndarray of shape (n_samples,) or None
    """
    log_link = type(expert) in _POWER or (
        type(expert) is TweedieRegressor
        and (expert.link == "log" or (expert.link == "auto" and expert.power > 0)))
    coef = getattr(expert, "coef_", None)
    if not log_link or not isinstance(coef, np.ndarray) or coef.shape != (X.shape[1],):
        return None
    return X @ coef + expert.intercept_
