"""The experts' likelihood families of MixtureOfExpertsRegressor.

Each family is the conditional density ``p_k(y | x)`` of an expert given its
predicted mean ``mu = f_k(x)`` and a few per-expert parameters (a noise
variance, a scale and degrees of freedom, a dispersion), fitted by EM. One
declared contract, :class:`Family`, is what the regressor drives: the check of
y, the log-density, the M-step of the family's own parameters given the
weights, the latent precision factors that reweight the experts' fits (for the
heavy-tailed families, fitted by ECM), the number of parameters for bic/aic,
the variance for ``predict(return_std=True)``, and the CDF, quantile function
and sampler of the predictive distribution.

Every method takes the mean as an array and the parameters as arrays that
broadcast against it: ``(n_samples, n_experts)`` means with ``(n_experts,)``
parameters in the EM loop, or one value per row with the parameters of each
row's expert when sampling.
"""

import numbers
from abc import ABC, abstractmethod

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import (
    digamma,
    gammainc,
    gammaincinv,
    gammaln,
    ndtr,
    ndtri,
    pdtr,
    stdtr,
    stdtrit,
    xlogy,
)
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor
from sklearn.linear_model import (
    GammaRegressor,
    PoissonRegressor,
    QuantileRegressor,
    TweedieRegressor,
)

from ._kernels import gaussian_log_likelihood
from ._scaling import weighted_median
from ._validation import pipeline_final_step

_LOG_PI = float(np.log(np.pi))
# Degrees of freedom of the Student t noise are kept in this range: below 1 the
# noise has no mean (the experts predict one), above 200 it is Gaussian to
# within the precision of any data set.
DF_BOUNDS = (1.0, 200.0)
# The t experts' degrees of freedom at the first M-step, before any E-step has
# weighed the rows.
DF_START = 4.0
# A row whose residual is this fraction of the Laplace scale or less is given
# the weight of one at that distance: the weight 1 / |r| is unbounded.
_LAPLACE_MIN_RESIDUAL = 1e-8
# Mean over median of |noise|: Laplace noise's (its median is ln 2 times its mean),
# and the t noise's with DF_START degrees of freedom, as at a start's first
# M-step, where the pooled floor is fixed (E|T_4| = 1).
_LAPLACE_MEAN_PER_MEDIAN = 1.0 / np.log(2.0)
_T_MEAN_PER_MEDIAN = 1.0 / float(stdtrit(DF_START, 0.75))
# The shape parameter of the Gamma family is solved on this range (a dispersion
# between 1e-12 and 1e12; the floors keep it well inside).
_GAMMA_LOG_SHAPE = (-27.6, 27.6)


def expert_family(expert, index):
    """The family a scikit-learn GLM expert implies, or None for a mean-only expert.

    ``PoissonRegressor`` (and ``TweedieRegressor(power=1)``, and histogram
    gradient boosting with ``loss="poisson"``) give the Poisson family,
    ``GammaRegressor`` (``power=2``, ``loss="gamma"``) the Gamma family; a
    Pipeline is looked through to its final step. ``TweedieRegressor(power=0)``
    is a Normal GLM: a mean-only expert.

    Raises
    ------
    ValueError
        For a TweedieRegressor of another power, whose compound Poisson-Gamma
        or stable density skmoe does not compute; for an expert that predicts
        a quantile of y other than the median (``QuantileRegressor``, gradient
        boosting with ``loss="quantile"``), which no family is centred on.
    """
    final = pipeline_final_step(expert)
    level = _predicted_quantile(final)
    if level is not None and level != 0.5:
        raise ValueError(
            f"Expert {index} ({type(final).__name__}) predicts the {level}-quantile of y, "
            "but the mixture's noise families are centred on each expert's prediction "
            "(its mean, or its median for symmetric noise): a likelihood around a "
            "quantile would not fit the expert. Give the expert a mean or median loss "
            "(loss='squared_error' or 'absolute_error', quantile=0.5), and take quantiles "
            "from the mixture with predict_quantiles or predict_interval."
        )
    if isinstance(final, PoissonRegressor):
        return "poisson"
    if isinstance(final, GammaRegressor):
        return "gamma"
    if isinstance(final, TweedieRegressor):
        power = final.power
        if power == 0:
            return None
        if power == 1:
            return "poisson"
        if power == 2:
            return "gamma"
        raise ValueError(
            f"Expert {index} is a TweedieRegressor with power={power}; skmoe computes the "
            "likelihood of power 0 (Gaussian), 1 (Poisson) and 2 (Gamma) only. Use one of "
            "them, or PoissonRegressor / GammaRegressor."
        )
    if isinstance(final, HistGradientBoostingRegressor) and final.loss in ("poisson", "gamma"):
        return final.loss
    return None


class Family(ABC):
    """The contract of an expert likelihood family (see the module docstring).

    Attributes
    ----------
    name : str
        The family's name, as in ``family_``.
    params : tuple of str
        Names of the fitted per-expert parameters (attributes of the regressor).
    n_parameters : int
        Free parameters per expert that the likelihood adds (for bic and aic).
    discrete : bool
        Whether y takes integer values (its CDF is a step function).
    latent : bool
        Whether the experts' fit weights are multiplied by latent precision
        factors computed at the E-step (:meth:`latent_factor`).
    location : bool
        Whether the family is a location-scale one around the experts' mean,
        whose scale is floored like a noise variance.
    robust : bool
        Whether the family is meant for data with outliers: the floors of its
        scale are then set from medians (of the residuals, and of y), which
        one far row does not raise, where a mean or a variance would follow it.
    bounds : dict
        The range ``(low, high)`` that a parameter of :meth:`summary`, by its
        name there, is kept in by the M-step; a fit at an end of it is not an
        interior maximum of the likelihood.
    """

    name = None
    params = ()
    n_parameters = 0
    discrete = False
    latent = False
    location = False
    robust = False
    bounds = {}

    def check_y(self, y, name="y"):
        """Raise ValueError when y holds values outside the family's support."""
        return None

    def check_fit_y(self, y, sample_weight):
        """Raise ValueError when the weighted y of a fit leaves nothing to fit."""
        return None

    def check_mean(self, mean, experts):
        """Raise ValueError when an expert's predicted mean is outside the family's range."""
        return None

    @abstractmethod
    def log_density(self, y, mean, params, out=None):
        """``log p(y | mean, params)``, broadcast; written into ``out`` when given."""

    @abstractmethod
    def m_step(self, y, mean, weights, latent, floor, residuals=None):
        """The family's parameters that maximise the weighted expected log-likelihood.

        Parameters
        ----------
        y : ndarray of shape (n_samples,)
        mean : ndarray of shape (n_samples, n_experts)
            The newly fitted experts' predictions (out of fold for the experts
            whose noise is cross-fitted: the scales are estimated from them).
        weights : ndarray of shape (n_samples, n_experts)
            Responsibilities times sample weights.
        latent : tuple or None
            ``(factor, params)``: the latent factors of the E-step and the
            parameters they were computed with; None at a start's first M-step.
        floor : float
            Lower bound of the scale parameter (a variance for location families).
        residuals : ndarray of shape (n_experts,), default=None
            Weighted sums of squared residuals to use instead of the in-sample ones
            (Gaussian only: cross-fitted noise).

        Returns
        -------
        params : dict of ndarray of shape (n_experts,)
        """

    def pooled_floor(self, y, mean, weights):
        """The scale's floor fixed at a start's first M-step (a fraction of the pooled one)."""
        return 0.0

    def latent_factor(self, y, mean, params):
        """The E-step's latent precision factors (n_samples, n_experts); None if none."""
        return None

    def floored(self, params):
        """The per-expert parameter that the M-step's ``floor`` bounds below (a variance,
        a squared scale, a dispersion); None for a family without one."""
        return self.scale2(params)

    def scale2(self, params):
        """The squared scale that divides a ScaledRidge expert's fit weights; None if none."""
        return None

    @abstractmethod
    def variance(self, mean, params):
        """Variance of y given the mean."""

    @abstractmethod
    def cdf(self, y, mean, params):
        """``P(Y <= y | mean, params)``."""

    @abstractmethod
    def ppf(self, q, mean, params):
        """The quantile function (the smallest y with ``cdf(y) >= q`` when discrete)."""

    @abstractmethod
    def sample(self, mean, params, random_state):
        """One draw of y for each entry of ``mean``."""

    def summary(self, params, k):
        """Columns of ``expert_summary`` for expert ``k``."""
        return {}


def _align(y, mean):
    """y against the mean: a 1-D y against 2-D means is one value per row."""
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 and np.ndim(mean) == 2 else y


def _floor_scale(values, floor):
    return np.maximum(values, floor)


def _robust_mean_absolute(absolute, weights, mean_per_median):
    """The weighted mean of the absolute residuals, or, when smaller, their weighted
    median times ``mean_per_median`` (the mean over the median of the family's own
    ``|noise|``, which makes it the same quantity on noise of that family).

    One row's residual raises the mean without bound (a single y of 1e6 among rows
    of noise 0.1 made the floor of every expert's scale 1,000 times their noise);
    the median it moves by one row's weight at most.
    """
    mean = np.einsum("ik,ik->", weights, absolute) / weights.sum()
    median = weighted_median(absolute.ravel(), weights.ravel())
    return min(mean, mean_per_median * median)


class Gaussian(Family):
    """``N(y; mu, s^2)`` with a noise variance ``s^2`` per expert (``noise_variance_``)."""

    name = "gaussian"
    params = ("noise_variance_",)
    n_parameters = 1
    location = True

    def log_density(self, y, mean, params, out=None):
        variance = params["noise_variance_"]
        if (out is not None and np.ndim(y) == 1 and np.ndim(mean) == 2
                and np.ndim(variance) == 1):
            return gaussian_log_likelihood(y, mean, variance, out)
        z2 = (_align(y, mean) - mean) ** 2 / variance
        result = -0.5 * (np.log(2 * np.pi * variance) + z2)
        if out is not None:
            out[...] = result
            return out
        return result

    def m_step(self, y, mean, weights, latent, floor, residuals=None):
        if residuals is None:
            residuals = np.einsum("ik,ik->k", weights, (mean - y[:, None]) ** 2)
        return {"noise_variance_": _floor_scale(residuals / weights.sum(axis=0), floor)}

    def pooled_floor(self, y, mean, weights):
        return np.einsum("ik,ik->", weights, (mean - y[:, None]) ** 2) / weights.sum()

    def scale2(self, params):
        return params.get("noise_variance_")

    def variance(self, mean, params):
        return np.broadcast_to(params["noise_variance_"], np.shape(mean)).astype(np.float64)

    def cdf(self, y, mean, params):
        return ndtr((y - mean) / np.sqrt(params["noise_variance_"]))

    def ppf(self, q, mean, params):
        return mean + np.sqrt(params["noise_variance_"]) * ndtri(q)

    def pdf(self, y, mean, params):
        return np.exp(self.log_density(y, mean, params))

    def sample(self, mean, params, random_state):
        return mean + np.sqrt(params["noise_variance_"]) * random_state.standard_normal(
            np.shape(mean))

    def summary(self, params, k):
        return {"noise_std": float(np.sqrt(params["noise_variance_"][k]))}


class StudentT(Family):
    """Student t noise ``t_nu(y; mu, s)``: a scale ``noise_scale_`` and degrees of
    freedom ``df_`` per expert, fitted by ECM.

    The t density is a Gaussian whose precision is scaled by a latent Gamma
    variable; its E-step gives each row the weight ``u = (nu + 1) / (nu + r^2 /
    s^2)``, small for outliers, which multiplies the expert's fit weights
    (Peel and McLachlan 2000; Chamroukhi 2016 for mixtures of experts). Then
    ``s^2`` and ``nu`` maximise the weighted t log-likelihood of the residuals
    itself, not its complete-data expectation (ECME, Liu and Rubin 1994): the
    expectation's step in ``nu`` is so short when the noise is near Gaussian
    that a fit would stop, converged in its log-likelihood, with ``nu`` still
    near its start.
    """

    name = "student_t"
    params = ("noise_scale_", "df_")
    n_parameters = 2
    bounds = {"df": DF_BOUNDS}
    latent = True
    location = True
    robust = True

    def log_density(self, y, mean, params, out=None):
        scale, df = params["noise_scale_"], params["df_"]
        r = (_align(y, mean) - mean) / scale
        result = (gammaln((df + 1) / 2) - gammaln(df / 2) - 0.5 * (np.log(df) + _LOG_PI)
                  - np.log(scale) - (df + 1) / 2 * np.log1p(r * r / df))
        if out is not None:
            out[...] = result
            return out
        return result

    def latent_factor(self, y, mean, params):
        scale, df = params["noise_scale_"], params["df_"]
        r = (y[:, None] - mean) / scale
        return (df + 1) / (df + r * r)

    def m_step(self, y, mean, weights, latent, floor, residuals=None):
        squared = (mean - y[:, None]) ** 2
        if latent is None:
            scale2 = np.einsum("ik,ik->k", weights, squared) / weights.sum(axis=0)
            df = np.full(mean.shape[1], DF_START)
        else:
            scale2, df = latent[1]["noise_scale_"] ** 2, latent[1]["df_"]
        fitted = [_fit_t_noise(squared[:, k], weights[:, k], max(scale2[k], floor), df[k],
                               floor)
                  for k in range(mean.shape[1])]
        scale2, df = np.array(fitted).T
        return {"noise_scale_": np.sqrt(scale2), "df_": df}

    def pooled_floor(self, y, mean, weights):
        # The mean squared residual would let the gross outliers this family is for
        # raise every expert's floor, and so would the mean absolute one, by a
        # single far row: that row's |r| / n.
        return _robust_mean_absolute(np.abs(mean - y[:, None]), weights, _T_MEAN_PER_MEDIAN) ** 2

    def scale2(self, params):
        scale = params.get("noise_scale_")
        return None if scale is None else scale**2

    def variance(self, mean, params):
        scale, df = params["noise_scale_"], params["df_"]
        with np.errstate(divide="ignore", invalid="ignore"):
            variance = np.where(df > 2, scale**2 * df / np.maximum(df - 2, 1e-300), np.inf)
        return np.broadcast_to(variance, np.shape(mean)).astype(np.float64)

    def cdf(self, y, mean, params):
        return stdtr(params["df_"], (y - mean) / params["noise_scale_"])

    def ppf(self, q, mean, params):
        return mean + params["noise_scale_"] * stdtrit(params["df_"], q)

    def pdf(self, y, mean, params):
        return np.exp(self.log_density(y, mean, params))

    def sample(self, mean, params, random_state):
        df = np.broadcast_to(params["df_"], np.shape(mean))
        return mean + params["noise_scale_"] * random_state.standard_t(df)

    def summary(self, params, k):
        return {"noise_scale": float(params["noise_scale_"][k]), "df": float(params["df_"][k])}


def _t_noise_objective(params, squared, weights):
    """Minus the weighted mean t log-density of residuals ``sqrt(squared)``, and its
    gradient, at ``params = (log s^2, log nu)``."""
    log_scale2, log_df = params
    df = np.exp(log_df)
    z = squared / (df * np.exp(log_scale2))
    log1p_z = np.log1p(z)
    share = z / (1.0 + z)
    half = 0.5 * (df + 1.0)
    value = (gammaln(half) - gammaln(0.5 * df) - 0.5 * (log_df + _LOG_PI + log_scale2)
             - half * (weights @ log1p_z))
    d_log_scale2 = -0.5 + half * (weights @ share)
    d_df = (0.5 * (digamma(half) - digamma(0.5 * df)) - 0.5 / df
            - 0.5 * (weights @ log1p_z) + half / df * (weights @ share))
    return -value, -np.array([d_log_scale2, df * d_df])


def _fit_t_noise(squared, weights, scale2, df, floor):
    """The scale ``s^2 >= floor`` and degrees of freedom in ``DF_BOUNDS`` that maximise
    the ``weights``-weighted t log-likelihood of residuals ``sqrt(squared)`` around
    zero, searched from ``(scale2, df)``; never a worse fit than that start."""
    weights = weights / weights.sum()
    start = np.array([np.log(scale2), np.log(df)])
    low = np.log(floor) if floor > 0 else None
    result = minimize(_t_noise_objective, start, args=(squared, weights), jac=True,
                      method="L-BFGS-B",
                      bounds=[(low, None), (np.log(DF_BOUNDS[0]), np.log(DF_BOUNDS[1]))])
    best = result.x if result.fun <= _t_noise_objective(start, squared, weights)[0] else start
    return float(np.exp(best[0])), float(np.clip(np.exp(best[1]), *DF_BOUNDS))


class Laplace(Family):
    """Laplace noise ``exp(-|y - mu| / b) / (2 b)``, a scale ``noise_scale_`` per expert.

    The experts are fitted by iteratively reweighted least squares (the
    weights ``b / |r|`` at the E-step's residuals), an MM step on the
    absolute residuals, and ``b`` is the weighted mean absolute residual.
    """

    name = "laplace"
    params = ("noise_scale_",)
    n_parameters = 1
    latent = True
    location = True
    robust = True

    def log_density(self, y, mean, params, out=None):
        scale = params["noise_scale_"]
        r = _align(y, mean) - mean
        result = -np.log(2 * scale) - np.abs(r) / scale
        if out is not None:
            out[...] = result
            return out
        return result

    def latent_factor(self, y, mean, params):
        scale = params["noise_scale_"]
        return scale / np.maximum(np.abs(y[:, None] - mean), _LAPLACE_MIN_RESIDUAL * scale)

    def m_step(self, y, mean, weights, latent, floor, residuals=None):
        scale = np.einsum("ik,ik->k", weights, np.abs(mean - y[:, None])) / weights.sum(axis=0)
        return {"noise_scale_": np.sqrt(_floor_scale(scale**2, floor))}

    def pooled_floor(self, y, mean, weights):
        return _robust_mean_absolute(np.abs(mean - y[:, None]), weights,
                                     _LAPLACE_MEAN_PER_MEDIAN) ** 2

    def scale2(self, params):
        scale = params.get("noise_scale_")
        return None if scale is None else scale**2

    def variance(self, mean, params):
        return np.broadcast_to(2 * params["noise_scale_"] ** 2, np.shape(mean)).astype(np.float64)

    def cdf(self, y, mean, params):
        z = (y - mean) / params["noise_scale_"]
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    def ppf(self, q, mean, params):
        q = np.asarray(q, dtype=np.float64)
        z = np.where(q < 0.5, np.log(2 * np.minimum(q, 0.5)),
                     -np.log(2 * (1 - np.maximum(q, 0.5))))
        return mean + params["noise_scale_"] * z

    def pdf(self, y, mean, params):
        return np.exp(self.log_density(y, mean, params))

    def sample(self, mean, params, random_state):
        return mean + params["noise_scale_"] * random_state.laplace(size=np.shape(mean))

    def summary(self, params, k):
        return {"noise_scale": float(params["noise_scale_"][k])}


class Poisson(Family):
    """``Poisson(y; mu)``: no parameter besides the expert's mean (a GLM with log link)."""

    name = "poisson"
    params = ()
    n_parameters = 0
    discrete = True

    def check_fit_y(self, y, sample_weight):
        if not np.any((y > 0) & (sample_weight > 0)):
            raise ValueError(
                "y is 0 on every row of positive weight: the Poisson family's mean is then "
                "0, which its log link cannot reach (PoissonRegressor predicts exactly 0). "
                "There is nothing to fit."
            )

    def check_y(self, y, name="y"):
        if np.any(y < 0) or np.any(y != np.floor(y)):
            bad = y[(y < 0) | (y != np.floor(y))][0]
            # A rate y / t is what a flexmix user's offset log(t) suggests trying.
            rate = (" A rate (a count divided by an exposure t) is not a count: model the "
                    "count, with log(t) as an offset (the documentation's page for flexmix "
                    "users shows how)." if bad > 0 else "")
            raise ValueError(
                f"{name} must hold non-negative integers for the Poisson family of the "
                f"experts (PoissonRegressor, or a Poisson loss); got {bad!r}.{rate}"
            )

    def check_mean(self, mean, experts):
        _check_positive_mean(mean, experts, "Poisson")

    def log_density(self, y, mean, params, out=None):
        y_b = _align(y, mean)
        result = xlogy(y_b, mean) - mean - gammaln(y_b + 1)
        if out is not None:
            out[...] = result
            return out
        return result

    def m_step(self, y, mean, weights, latent, floor, residuals=None):
        return {}

    def variance(self, mean, params):
        return np.asarray(mean, dtype=np.float64).copy()

    def cdf(self, y, mean, params):
        return np.where(y < 0, 0.0, pdtr(np.floor(np.maximum(y, 0)), mean))

    def ppf(self, q, mean, params):
        # A normal approximation brackets the answer, then the exact CDF moves it
        # to the smallest integer whose probability reaches q.
        mean, q = np.broadcast_arrays(np.asarray(mean, dtype=np.float64),
                                      np.asarray(q, dtype=np.float64))
        guess = np.maximum(np.floor(mean + np.sqrt(mean) * ndtri(q)), 0.0)
        high = guess
        step = np.maximum(np.sqrt(mean), 1.0)
        below = self.cdf(high, mean, params) < q
        while below.any():
            high = np.where(below, high + step, high)
            step = step * 2
            below = self.cdf(high, mean, params) < q
        low = np.zeros_like(high)
        return _integer_bisection(lambda value: self.cdf(value, mean, params) >= q, low, high)

    def sample(self, mean, params, random_state):
        return random_state.poisson(mean).astype(np.float64)


class Gamma(Family):
    """``Gamma(y; shape 1 / phi, scale mu phi)``: a dispersion ``dispersion_`` per expert.

    Mean ``mu``, variance ``phi mu^2``. Given the experts' means, the shape
    ``a = 1 / phi`` solves ``log a - digamma(a) = mean(y / mu - log(y / mu) - 1)``
    (the weighted mean half-deviance), the exact maximum of the likelihood.
    """

    name = "gamma"
    params = ("dispersion_",)
    n_parameters = 1

    def check_y(self, y, name="y"):
        if np.any(y <= 0):
            raise ValueError(
                f"{name} must be positive for the Gamma family of the experts "
                f"(GammaRegressor, or a Gamma loss); got {y[y <= 0][0]!r}."
            )

    def check_mean(self, mean, experts):
        _check_positive_mean(mean, experts, "Gamma")

    def log_density(self, y, mean, params, out=None):
        shape = 1.0 / params["dispersion_"]
        y_b = _align(y, mean)
        result = (shape * np.log(shape / mean) + (shape - 1) * np.log(y_b) - shape * y_b / mean
                  - gammaln(shape))
        if out is not None:
            out[...] = result
            return out
        return result

    def m_step(self, y, mean, weights, latent, floor, residuals=None):
        ratio = y[:, None] / mean
        half_deviance = np.einsum("ik,ik->k", weights, ratio - np.log(ratio) - 1)
        half_deviance /= weights.sum(axis=0)
        dispersion = np.array([1.0 / _solve_shape(c) for c in half_deviance])
        return {"dispersion_": _floor_scale(dispersion, floor)}

    def pooled_floor(self, y, mean, weights):
        return np.einsum("ik,ik->", weights, (y[:, None] / mean - 1) ** 2) / weights.sum()

    def floored(self, params):
        return params.get("dispersion_")

    def variance(self, mean, params):
        return params["dispersion_"] * np.asarray(mean, dtype=np.float64) ** 2

    def cdf(self, y, mean, params):
        shape = 1.0 / params["dispersion_"]
        return gammainc(shape, shape * np.maximum(y, 0) / mean)

    def ppf(self, q, mean, params):
        shape = 1.0 / params["dispersion_"]
        return gammaincinv(shape, q) * mean / shape

    def pdf(self, y, mean, params):
        with np.errstate(divide="ignore"):
            return np.where(y > 0, np.exp(self.log_density(np.maximum(y, 1e-300), mean, params)),
                            0.0)

    def sample(self, mean, params, random_state):
        shape = 1.0 / np.broadcast_to(params["dispersion_"], np.shape(mean))
        return random_state.gamma(shape, mean / shape)

    def summary(self, params, k):
        return {"dispersion": float(params["dispersion_"][k])}


def _solve_shape(half_deviance):
    """The Gamma shape ``a`` with ``log a - digamma(a) = half_deviance`` (decreasing in a)."""
    def equation(log_shape):
        shape = np.exp(log_shape)
        return np.log(shape) - digamma(shape) - half_deviance

    low, high = _GAMMA_LOG_SHAPE
    if equation(high) >= 0:
        return float(np.exp(high))
    if equation(low) <= 0:
        return float(np.exp(low))
    return float(np.exp(brentq(equation, low, high, xtol=1e-12, rtol=1e-12)))


def _check_positive_mean(mean, experts, family):
    bad = ~(mean > 0).all(axis=0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        name = type(experts[k]).__name__
        if _has_log_link(experts[k]):
            # Telling such an expert to use a log link blamed what the user never set.
            raise ValueError(
                f"Expert {k} ({name}) predicted a mean of 0, which the {family} family "
                "cannot hold: its log link's exp underflowed, as it does when y is 0 on "
                "(nearly) every row the expert is responsible for (scikit-learn's "
                "PoissonRegressor fits a mean of exactly 0 to targets that are all 0). "
                "Use fewer experts."
            )
        raise ValueError(
            f"Expert {k} ({name}) predicted a mean <= 0, which the {family} family cannot "
            "hold; use a log link."
        )


def _has_log_link(expert):
    """Whether a GLM expert (or a Pipeline ending in one) predicts through a log link."""
    final = pipeline_final_step(expert)
    if isinstance(final, (PoissonRegressor, GammaRegressor, HistGradientBoostingRegressor)):
        return True
    return isinstance(final, TweedieRegressor) and final.link in ("auto", "log")


def _integer_bisection(reached, low, high):
    """The smallest integer in [low, high] where ``reached`` (monotone) is True, per entry.

    ``reached(high)`` must be True everywhere. Beyond 2**53, where floats are
    not every integer, an entry stops when no float lies between its ends
    (its loop never ended): ``high`` is then the answer to float64's resolution.
    """
    low, high = low.copy(), high.copy()
    while np.any(high > low):
        middle = np.floor((low + high) / 2)
        ok = reached(middle)
        new_high = np.where(ok, middle, high)
        new_low = np.where(ok, low, middle + 1)
        stuck = (new_high == high) & (new_low == low)
        high, low = new_high, np.where(stuck, new_high, new_low)
    return high


FAMILIES = {family.name: family for family in (Gaussian(), StudentT(), Laplace(), Poisson(),
                                                 Gamma())}


def _predicted_quantile(estimator):
    """The quantile level an estimator is fitted to predict, or None for other losses."""
    if isinstance(estimator, QuantileRegressor):
        return estimator.quantile
    if isinstance(estimator, HistGradientBoostingRegressor) and estimator.loss == "quantile":
        return estimator.quantile
    if isinstance(estimator, GradientBoostingRegressor) and estimator.loss == "quantile":
        return estimator.alpha
    return None


def resolve_family(experts, noise, own_density):
    """The family of a mixture's experts.

    Parameters
    ----------
    experts : list of estimators
        The experts (their templates, or fitted experts).
    noise : {"gaussian", "student_t", "laplace"}
        The family of experts that predict only a mean.
    own_density : callable
        Whether an expert defines its own density (it then takes no family).

    Returns
    -------
    family : Family

    Raises
    ------
    ValueError
        When experts imply different families (a mixture of a count model and a
        continuous one has no density), or when ``noise`` is not Gaussian for an
        expert with its own GLM family.
    """
    names = {}
    for index, expert in enumerate(experts):
        if own_density(expert):
            continue
        glm = expert_family(expert, index)
        if glm is not None and noise != "gaussian":
            raise ValueError(
                f"noise={noise!r} is for experts that predict only a mean; expert {index} "
                f"({type(pipeline_final_step(expert)).__name__}) brings the {glm} family of "
                "its own. "
                "Leave noise='gaussian' (unused by GLM experts) or use mean-only experts."
            )
        names.setdefault(glm or noise, index)
    if len(names) > 1:
        described = ", ".join(f"expert {index} is {name}" for name, index in names.items())
        raise ValueError(
            f"The experts imply different likelihood families ({described}); the experts of "
            "one mixture must share one family."
        )
    return FAMILIES[next(iter(names), noise)]


def check_quantile_levels(levels, name):
    """Levels as a 1-D float array in (0, 1), or a ValueError naming ``name``."""
    array = np.asarray(levels, dtype=np.float64)
    if isinstance(levels, numbers.Real):
        array = array.reshape(1)
    if array.ndim != 1 or array.size == 0 or not np.all((array > 0) & (array < 1)):
        raise ValueError(f"{name} must be levels strictly between 0 and 1, got {levels!r}.")
    return array
