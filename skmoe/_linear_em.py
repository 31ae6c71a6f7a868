"""The M-step of plain linear experts with Gaussian noise, prepared once per EM run.

The EM loop's general M-step asks, every iteration, what each expert is and
how it is to be fitted, and fits the plain LinearRegression experts through
:func:`skmoe._experts.fit_experts` and the likelihood's parameters through
the regressor's ``_likelihood_m_step``. On small data those questions and
the layers around the arithmetic cost several times the arithmetic. When
every expert of a run is a plain LinearRegression fitted from its Gram
matrix with in-sample Gaussian noise, the answers do not change from one
iteration to the next: :class:`LinearGaussianMStep` takes them once and then
performs the same operations (the same kernels and BLAS calls on the same
arrays, so the same numbers) without them. Whatever it does not cover it
declines, and the general M-step runs.
"""

import numpy as np

from ._kernels import gaussian_log_likelihood
from ._linear import (
    _BLOCK_ROWS,
    _MIN_EIGENVALUE_RATIO,
    _TOL_MARGIN,
    fits_from_gram,
    solve_gram_stack,
    weighted_design_block,
    weighted_grams,
)
from ._scaling import power_of_two


class LinearGaussianMStep:
    """The M-step of one EM run whose experts are plain LinearRegression, Gaussian noise.

    Build it with :meth:`of`, which returns None where it does not apply.

    Parameters
    ----------
    experts : list of LinearRegression
        The run's experts (refitted in place, as the general M-step does).
    X : ndarray of shape (n_samples, n_features)
        The experts' inputs, float64.
    y : ndarray of shape (n_samples,)
        Targets.
    context : dict
        The run's likelihood context: ``variance_floor``; ``pooled_floor``,
        which the first M-step of a start sets.
    pooled_fraction : float
        ``pooled_floor`` is this fraction of the pooled weighted mean squared
        residual at the start's first M-step.
    """

    def __init__(self, experts, X, y, context, pooled_fraction):
        self.experts = experts
        self.pooled_fraction = pooled_fraction
        self.X = X
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.context = context
        self.fit_intercept = bool(experts[0].fit_intercept)
        self.tol = [float(expert.tol) for expert in experts]
        n_samples, n_features = X.shape
        n_experts = len(experts)
        n_columns = n_features + 2
        self.centred = np.full(n_experts, self.fit_intercept)
        # weighted_grams' shift, computed as it computes it: the same for every M-step.
        if self.fit_intercept:
            mean_weights = np.full(n_samples, 1.0 / n_samples)
            self.center, self.y_center = mean_weights @ X, float(mean_weights @ self.y)
        else:
            self.center, self.y_center = np.zeros(n_features), 0.0
        self.one_block = n_samples <= _BLOCK_ROWS
        if self.one_block:
            self.design = np.empty((n_samples, n_columns))
            self.products = np.empty((n_samples, n_experts * n_columns))
        self.coef = np.empty((n_features, n_experts))
        self.intercept = np.empty(n_experts)
        self.predictions = np.empty((n_samples, n_experts))

    @classmethod
    def of(cls, experts, X, y, context, pooled_fraction):
        """The M-step for these experts, or None where the general one is needed.

        It applies when every expert is a plain LinearRegression that
        :func:`~skmoe._linear.fits_from_gram` on ``X``, all with the same
        ``fit_intercept``, and ``y`` has one column. The caller checks the
        rest: soft assignments, no groups, the Gaussian family with in-sample
        noise, Gram matrices safe for the data, no routed fit parameters,
        the experts' parameters checked by their own fit once.
        """
        if (not experts or np.ndim(y) != 1
                or not all(fits_from_gram(expert, X) for expert in experts)
                or len({bool(expert.fit_intercept) for expert in experts}) != 1):
            return None
        return cls(experts, X, y, context, pooled_fraction)

    def fit_experts(self, weights):
        """Refit the experts on the columns of ``weights`` as the general M-step would.

        Returns False, leaving every expert untouched, when an expert's
        problem is too ill-conditioned for the normal equations (the general
        M-step then gives it to its own ``fit``).
        """
        if self.one_block:
            weighted_design_block(self.X, self.y, weights, self.center, self.y_center, 0,
                                  self.X.shape[0], self.design, self.products)
            n_experts, n_columns = weights.shape[1], self.design.shape[1]
            grams = (self.products.T @ self.design).reshape(n_experts, n_columns, n_columns)
        else:
            shift = (self.center, self.y_center) if self.fit_intercept else None
            grams = weighted_grams(self.X, self.y, weights, self.fit_intercept, shift)[0]
        (usable, x_shift, y_shift, _, _, _, _, singular, _,
         coef) = solve_gram_stack(grams, self.centred, _MIN_EIGENVALUE_RATIO)
        for k, tol in enumerate(self.tol):
            if not (usable[k] and (tol <= 0 or singular[k, -1] > _TOL_MARGIN * tol
                                   * singular[k, 0])):
                return False
        n_features = self.X.shape[1]
        for k, expert in enumerate(self.experts):
            # fit_from_grams' attributes, as ``fit`` sets them (full rank here).
            expert.coef_ = coef[k].copy()
            if self.fit_intercept:
                x_mean, y_mean = self.center + x_shift[k], self.y_center + y_shift[k]
                expert.intercept_ = y_mean - x_mean @ coef[k]
            else:
                expert.intercept_ = 0.0
            expert.rank_ = n_features
            expert.singular_ = singular[k].copy()
            expert.n_features_in_ = n_features
            # The columns linear_predictions makes of them.
            self.coef[:, k] = coef[k]
            self.intercept[k] = expert.intercept_
        return True

    def likelihood(self, weights, log_lik):
        """The noise variances and each row's log-likelihood under the experts just refitted.

        The regressor's ``_likelihood_m_step`` for this case: the experts'
        predictions (one product), the weighted mean squared residuals
        floored, the Gaussian log-densities written into ``log_lik``.

        Returns
        -------
        params : dict
            ``{"noise_variance_": ndarray of shape (n_experts,)}``.
        log_lik : ndarray of shape (n_samples, n_experts)
            ``log_lik``, filled; None when a prediction is not finite (the
            general M-step then names the expert).
        """
        predictions = self.predictions
        np.matmul(self.X, self.coef, out=predictions)
        predictions += self.intercept
        if not np.isfinite(predictions).all():
            return None, None
        # As _likelihood_m_step: sums with the weights divided by a power of two.
        unit = power_of_two(float(weights.max()))
        if unit != 1.0:
            weights = weights / unit
        np.subtract(predictions, self.y[:, None], out=log_lik)
        log_lik *= log_lik
        residuals = np.einsum("ik,ik->k", weights, log_lik)
        if "pooled_floor" not in self.context:
            # The start's first M-step fixes the floor.
            pooled = residuals.sum() / weights.sum()
            self.context["pooled_floor"] = self.pooled_fraction * pooled
        floor = max(self.context["variance_floor"], self.context["pooled_floor"])
        variance = np.maximum(residuals / weights.sum(axis=0), floor)
        gaussian_log_likelihood(self.y, predictions, variance, log_lik)
        return {"noise_variance_": variance}, log_lik
