"""MixtureOfExpertsRegressor: Gaussian (or expert-defined) likelihood on the shared EM engine."""

import inspect
from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin, is_classifier, is_clusterer
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._base import BaseMixtureOfExperts
from ._docstrings import fill_doc
from ._experts import cross_fitted_predictions, has_own_density, interpolates
from ._kernels import gaussian_log_likelihood
from ._linear import fits_from_gram, grams_are_safe, linear_predictions
from ._ridge import (
    ScaledRidge,
    cross_fitted_ridge_predictions,
    fits_scaled_ridge_from_gram,
    ridge_penalty,
    scaled_ridge_of,
)
from ._scaling import magnitude, weighted_spread
from ._validation import Interval, StrOptions, check_is_estimator

# An expert's noise variance is at least this fraction of the pooled residual
# variance: a ratio of about 30 in standard deviation between the quietest
# expert and the noise of the whole fit.
_POOLED_VARIANCE_FLOOR = 1e-3
# Weighted standard deviations of y the regressor accepts: its noise variances
# (and their floors, 1e-6 of var(y) by default) stay normal float64 numbers.
_Y_SPREAD = (1e-152, 1e152)
# Folds of the cross-fitted noise variance (as compare's out-of-fold residuals).
_NOISE_FOLDS = 3


def noise_folds(n_samples):
    """The fold of each row for the cross-fitted noise variance.

    One fixed partition for a given number of rows, whatever ``random_state``:
    the noise does not jitter from one M-step to the next, and the objective
    of fits that differ only in their seed (their starts) is the same function,
    so that their ``lower_bound_`` can be compared.
    """
    return np.random.RandomState(0).permutation(n_samples) % _NOISE_FOLDS


@fill_doc
class MixtureOfExpertsRegressor(RegressorMixin, BaseMixtureOfExperts):
    """Mixture of experts for regression, fitted by EM.

    ``p(y | x) = sum_k g_k(x) N(y; f_k(x), s_k^2)``: a softmax gate ``g``
    decides which expert ``f_k`` (any scikit-learn regressor) speaks for which
    input, and each expert has its own noise variance ``s_k^2``. An expert that
    defines ``score_samples(X, y)`` (such as another mixture of experts) gives
    its own log-density instead, which builds hierarchical mixtures by
    composition.

    Parameters
    ----------
    experts : regressor or list of regressors, default=None
        One regressor, cloned ``n_experts`` times, or a list of regressors for
        heterogeneous experts. None means ``ScaledRidge(alpha=10.0)``: linear
        experts whose light penalty is measured in each feature's spread over
        the training set, so that an expert responsible for a narrow slice of
        the inputs cannot extrapolate wildly to other rows, and whose effect
        fades as the data grow (use ``LinearRegression(tol=0.0)`` for the
        unpenalised maximum-likelihood fit flexmix computes). Experts get
        ``sample_weight = w * responsibilities`` in every M-step (a Pipeline
        through its final step); an expert that accepts no sample weights is
        fitted on a weighted resample, with a warning.
    {n_experts}
    {gate}
    {gate_features}
    {expert_features}
    {assignment}
    {init}
    {n_init}
    {max_iter}
    {tol}
    {min_expert_weight}
    {min_rows_per_parameter}
    var_floor : float, default=1e-6
        Lower bound of each noise variance, relative to the weighted variance
        of y; keeps an expert that fits its rows exactly from an infinite
        likelihood. A second bound holds each variance above 1e-3 of the
        pooled residual variance of the start's first M-step (the weighted
        mean squared residual over all experts), so that one expert cannot
        claim near-zero noise on a handful of rows while the others see
        real noise.
    noise_variance : {"auto", "in_sample", "cross_fitted"}, default="auto"
        How each expert's noise variance is estimated in the M-step.
        ``"in_sample"``: the weighted mean squared residual of the expert on
        its training rows, the maximum-likelihood estimate; EM then never
        decreases the (penalised) log-likelihood. ``"cross_fitted"``: the
        same mean of residuals predicted by refits of the expert without the
        row's fold (3 folds, one fixed partition for a given number of rows;
        ScaledRidge experts are refitted from fold Gram matrices, about one
        extra pass over the rows per M-step, other experts by three extra fits
        per M-step). ``"auto"``: cross-fitted for the default ScaledRidge
        experts and for experts that can fit their training rows nearly
        exactly (those without a parameter count: trees, forests, boosting,
        neighbours), whose in-sample residuals make the density falsely
        confident on new rows; in-sample for LinearRegression experts, where
        it is the exact maximum-likelihood M-step (and flexmix's fits are
        reproduced). A cross-fitted variance is not the maximiser of the
        likelihood, so ``lower_bound_`` is then the log-likelihood with
        honest noise, and EM can move it down by small amounts; on small
        real data sets its held-out log-likelihood was better by up to 0.46
        nats per row (benchmarks/bench_real_data.py).
    {n_jobs}
    {random_state}
    {verbose}
    {warm_start}
    {top_k}

    Attributes
    ----------
    {fitted_common}
    noise_variance_ : ndarray of shape (`n_experts_`,)
        Noise variance of each expert (for an expert with its own density,
        the weighted variance of its residuals, which the likelihood does not
        use).

    See Also
    --------
    MixtureOfExpertsClassifier : The same model for classification.
    SoftmaxGate : The default gate.

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> X, y = make_switching_regression(n_samples=500, n_experts=2, random_state=0)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> moe.n_experts_
    2
    >>> moe.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "var_floor": [Interval(Real, 0, None, closed="neither")],
        "noise_variance": [StrOptions({"auto", "in_sample", "cross_fitted"})],
    }

    def __init__(
        self,
        experts=None,
        *,
        n_experts=3,
        gate=None,
        gate_features=None,
        expert_features=None,
        assignment="soft",
        init="auto",
        n_init=1,
        max_iter=100,
        tol=1e-5,
        min_expert_weight=1e-3,
        min_rows_per_parameter=3.0,
        var_floor=1e-6,
        noise_variance="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        top_k=None,
    ):
        super().__init__(
            experts,
            n_experts=n_experts,
            gate=gate,
            gate_features=gate_features,
            expert_features=expert_features,
            assignment=assignment,
            init=init,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            min_expert_weight=min_expert_weight,
            min_rows_per_parameter=min_rows_per_parameter,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            top_k=top_k,
        )
        self.var_floor = var_floor
        self.noise_variance = noise_variance

    # ----------------------------------------------------------------- hooks
    def _default_expert(self):
        # Measured on real data sets in
        # benchmarks/bench_real_data.py against alpha = 1, 3 and 30.
        return ScaledRidge(alpha=10.0)

    def _check_expert(self, expert, index):
        if not (hasattr(expert, "fit") and hasattr(expert, "predict")):
            raise TypeError(
                f"experts must be scikit-learn regressors with fit and predict; expert "
                f"{index} is {expert!r}."
            )
        check_is_estimator(expert, f"expert {index}")
        if is_classifier(expert) or is_clusterer(expert):
            raise TypeError(
                f"experts of MixtureOfExpertsRegressor must be regressors; expert {index} "
                f"({type(expert).__name__}) is a "
                f"{'classifier' if is_classifier(expert) else 'clusterer'}."
            )

    def _validate_fit_data(self, X, y, **check_params):
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64, **check_params)
        # Any numeric y (float16, integers, booleans) as float64, as X: the kernels
        # are compiled for float64.
        return X, np.asarray(y, dtype=np.float64)

    def _validate_targets(self, y, n_samples):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim != 1:
            raise ValueError(f"y must be 1-dimensional, got an array of shape {y.shape}.")
        check_consistent_length(np.empty(n_samples), y)
        return y

    def _init_targets(self, y):
        return y

    def _check_fit_targets(self, y, sample_weight):
        mean, spread = weighted_spread(y, sample_weight)
        # Constant y: its magnitude gives the noise variances their units.
        spread = spread or abs(mean)
        if spread and not _Y_SPREAD[0] <= spread <= _Y_SPREAD[1]:
            raise ValueError(
                f"y has a weighted standard deviation of {spread:.3g}, outside "
                f"[{_Y_SPREAD[0]:.0e}, {_Y_SPREAD[1]:.0e}]: the experts' noise variances, "
                "in units of y squared, and their floors would not be float64 numbers. "
                f"Divide y by 1e{int(np.floor(np.log10(spread)))} and multiply the "
                "predictions back."
            )

    def _likelihood_context(self, X, y, sample_weight):
        mean, spread = weighted_spread(y, sample_weight)
        # Constant y: fall back to its magnitude so the floor keeps y's units.
        scale = spread**2 or mean**2 or 1.0
        context = {"variance_floor": self.var_floor * scale, "target_variance": scale}
        if self.noise_variance != "in_sample":
            # Seeds the resamples of experts that take no sample weights.
            context["fold_seed"] = check_random_state(self.random_state).randint(
                np.iinfo(np.int32).max)
            # Whether ScaledRidge experts may be refitted from fold Gram matrices.
            context["grams"] = grams_are_safe(X, y, sample_weight)
        return context

    def _likelihood_m_step(self, experts, X, y, weights, fit_weights, context, workspace):
        shape = (X.shape[0], len(experts))
        # Not kept in the workspace: alive only here, they stay out of the memory
        # peak of the experts' fits.
        predictions = _expert_predictions(experts, X)
        # The squared residuals are made in the log-likelihood's array, which the
        # Gaussian kernel then overwrites.
        log_lik = np.subtract(predictions, y[:, None], out=workspace.array("log_lik", shape))
        log_lik *= log_lik
        # Large weights times squared residuals would overflow: the sums are taken
        # with the weights divided by a power of two near the largest (exact).
        unit = float(magnitude(np.array([[weights.max()]]))[0])
        if unit != 1.0:
            weights = weights / unit
        residuals = np.einsum("ik,ik->k", weights, log_lik)
        self._cross_fit_noise(experts, X, y, weights, fit_weights, context, residuals)
        if "pooled_floor" not in context:
            # Fixed at the start's first M-step, so that every later M-step maximises
            # one objective under one constraint and EM still never decreases it.
            pooled = residuals.sum() / weights.sum()
            context["pooled_floor"] = _POOLED_VARIANCE_FLOOR * pooled
        variance = residuals / weights.sum(axis=0)
        variance = np.maximum(variance, max(context["variance_floor"], context["pooled_floor"]))
        gaussian_log_likelihood(y, predictions, variance, log_lik)
        _replace_own_densities(experts, X, y, log_lik)
        return {"noise_variance_": variance}, log_lik

    def _log_likelihood(self, experts, params, X, y):
        predictions = _expert_predictions(experts, X)
        log_lik = np.empty_like(predictions)
        gaussian_log_likelihood(y, predictions, params["noise_variance_"], log_lik)
        _replace_own_densities(experts, X, y, log_lik)
        return log_lik

    def _cross_fit_noise(self, experts, X, y, weights, fit_weights, context, residuals):
        """Replace the weighted squared residuals of the experts whose in-sample
        residuals understate their noise by cross-fitted ones (in place).

        The refits use the experts' own fit weights (which differ from
        ``weights`` by a factor per column for ScaledRidge experts), the residuals
        are weighted by ``weights``."""
        if self.noise_variance == "in_sample":
            return
        chosen = [k for k, expert in enumerate(experts) if self._cross_fits(expert)]
        if not chosen:
            return
        if "folds" not in context:
            context["folds"] = noise_folds(X.shape[0])
        folds = context["folds"]
        for intercept in (True, False):
            # Plain ScaledRidge experts are refitted from fold Gram matrices at once.
            ridges = [k for k in chosen if context["grams"]
                      and fits_scaled_ridge_from_gram(experts[k], X)
                      and experts[k].fit_intercept is intercept]
            if not ridges:
                continue
            predictions = cross_fitted_ridge_predictions(
                [experts[k] for k in ridges], X, y, fit_weights[:, ridges], folds)
            for j, k in enumerate(ridges):
                residuals[k] = weights[:, k] @ (y - predictions[:, j]) ** 2
                chosen.remove(k)
        for k in chosen:
            predictions = cross_fitted_predictions(
                experts[k], X, y, fit_weights[:, k], folds, context["fold_seed"], k)
            residuals[k] = weights[:, k] @ (y - predictions) ** 2

    def _cross_fits(self, expert):
        """Whether ``expert``'s noise variance is cross-fitted under ``noise_variance``."""
        if has_own_density(expert) or self.noise_variance == "in_sample":
            return False
        if self.noise_variance == "cross_fitted":
            return True
        return interpolates(expert) or scaled_ridge_of(expert) is not None

    def _expert_fit_weights(self, experts, params, weights, context, workspace):
        # A ScaledRidge expert's penalty is a Gaussian prior on its coefficients in
        # the units of y: alpha * ||scale * coef||^2 / (2 var(y)). Given its noise
        # variance s_k^2, the coefficients that maximise the penalised objective are
        # the ridge fit with weights scaled by var(y) / s_k^2: a quiet expert is
        # barely shrunk, a noisy one more. The first M-step has no s_k yet and
        # takes s_k^2 = var(y).
        ridge = np.array([scaled_ridge_of(expert) is not None for expert in experts])
        variance = params.get("noise_variance_")
        if not ridge.any() or variance is None:
            return weights
        factor = np.where(ridge, context["target_variance"] / variance, 1.0)
        return np.multiply(weights, factor, out=workspace.array("fit_weights", weights.shape))

    def _likelihood_penalty(self, experts, params, context):
        penalty = sum(ridge_penalty(expert) for expert in experts)
        return penalty / (2.0 * context["target_variance"])

    def _expert_likelihood_parameters(self, expert):
        # A noise variance for each Gaussian expert.
        return int(not has_own_density(expert))

    # ----------------------------------------------------------- prediction
    def predict(self, X, return_std=False):
        """Mixture mean ``sum_k g_k(x) f_k(x)``, and on request its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        return_std : bool, default=False
            Also return the standard deviation of the mixture, by the law of
            total variance: ``sum_k g_k (s_k^2 + (f_k - mean)^2)``.

        Returns
        -------
        mean : ndarray of shape (n_samples,)
            Predicted mean.
        std : ndarray of shape (n_samples,)
            Predicted standard deviation; only when ``return_std`` is True.
        """
        X = self._validated_X(X)
        chosen, weights = self._route(self._gate_proba(X))
        X = self._expert_input(X)
        predictions = np.empty(weights.shape)
        variance = np.empty(weights.shape) if return_std else None
        for k, rows, slots in self._dispatch(chosen):
            expert = self.experts_[k]
            X_rows = X if isinstance(rows, slice) else X[rows]
            if return_std and has_own_density(expert) and _accepts_return_std(expert):
                mean_k, std_k = expert.predict(X_rows, return_std=True)
                variance[rows, slots] = std_k**2
            else:
                mean_k = expert.predict(X_rows)
                if return_std:
                    variance[rows, slots] = self.noise_variance_[k]
            predictions[rows, slots] = _finite_predictions(mean_k, k, expert)
        mean = np.einsum("ik,ik->i", weights, predictions)
        if not return_std:
            return mean
        spread = variance + (predictions - mean[:, None]) ** 2
        return mean, np.sqrt(np.einsum("ik,ik->i", weights, spread))


def _expert_predictions(experts, X):
    """Each expert's prediction as one column, refusing non-finite values.

    Plain LinearRegression experts on dense X predict together, in one product.
    """
    predictions = np.empty((X.shape[0], len(experts)))
    linear = [
        (k, expert) for k, expert in enumerate(experts)
        if fits_from_gram(expert, X) or fits_scaled_ridge_from_gram(expert, X)
    ]
    linear_predictions(linear, X, predictions)
    done = {k for k, _ in linear}
    for k, expert in enumerate(experts):
        if k not in done:
            predictions[:, k] = _finite_predictions(expert.predict(X), k, expert)
    if linear and not np.isfinite(predictions).all():
        # One check for all the columns; the first bad linear expert is named.
        for k, expert in linear:
            _finite_predictions(predictions[:, k], k, expert)
    return predictions


def _finite_predictions(values, index, expert):
    """One expert's predictions as a 1-D float array, refusing NaN and inf."""
    values = np.reshape(np.asarray(values, dtype=np.float64), -1)
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"Expert {index} ({type(expert).__name__}) returned NaN or inf predictions."
        )
    return values


def _replace_own_densities(experts, X, y, log_lik):
    """Put the log-density of experts that define ``score_samples(X, y)`` into ``log_lik``."""
    for k, expert in enumerate(experts):
        if has_own_density(expert):
            log_lik[:, k] = expert.score_samples(X, y)


def _accepts_return_std(expert):
    try:
        return "return_std" in inspect.signature(expert.predict).parameters
    except (TypeError, ValueError):
        return False
