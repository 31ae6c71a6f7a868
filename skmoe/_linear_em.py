"""The M-step of plain linear experts with Gaussian noise, prepared once per EM run.

The EM loop's general M-step asks, every iteration, what each expert is and
how it is to be fitted, and fits the plain LinearRegression experts through
:func:`skmoe._experts.fit_experts` and the likelihood's parameters through
the regressor's ``_likelihood_m_step``. On small data those questions, the
layers around the arithmetic and a dozen small NumPy calls cost several
times the arithmetic. When every expert of a run is a plain
LinearRegression fitted from its Gram matrix with in-sample Gaussian noise,
the answers do not change from one iteration to the next:
:class:`LinearGaussianMStep` takes them once, and
:func:`~skmoe._gram_kernels.linear_gaussian_m_step`
then makes the same computations in one compiled call: the same kernels,
the same BLAS products, and sums in the order NumPy takes them, so the
same numbers. Whatever it does not cover it declines, and the general
M-step runs.
"""

import numpy as np

from ._gram_kernels import _BLOCK_ROWS, DONE, linear_gaussian_m_step
from ._kernels import _MIN_PARALLEL_ENTRIES, _gaussian_serial
from ._linear import fits_from_gram, gram_shift


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
        self.X = X
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.context = context
        self.pooled_fraction = pooled_fraction
        n_samples, n_features = X.shape
        n_experts = len(experts)
        n_columns = n_features + 2
        fit_intercept = bool(experts[0].fit_intercept)
        self.centred = np.full(n_experts, fit_intercept)
        self.tols = np.array([float(expert.tol) for expert in experts])
        # weighted_grams' shift: the same for every M-step.
        self.center, self.y_center = gram_shift(X, self.y, fit_intercept)
        rows = min(_BLOCK_ROWS, n_samples)
        self.design = np.empty((rows, n_columns))
        self.products = np.empty((rows, n_experts * n_columns))
        self.coef = np.empty((n_features, n_experts))
        self.intercept = np.empty(n_experts)
        self.singular = np.empty((n_experts, n_features))
        self.predictions = np.empty((n_samples, n_experts))
        self.residuals = np.empty(n_experts)
        self.fixed = {}

    @classmethod
    def of(cls, experts, X, y, context, pooled_fraction):
        """The M-step for these experts, or None where the general one is needed.

        It applies when every expert is a plain LinearRegression that
        :func:`~skmoe._linear.fits_from_gram` on ``X``, all with the same
        ``fit_intercept``, ``X`` is C-contiguous (the layout whose BLAS
        products the kernel repeats), ``y`` has one column, and the
        log-densities are computed serially (fewer than
        ``_MIN_PARALLEL_ENTRIES`` of them, as on the small data this is
        for). The caller checks the rest: soft
        assignments, no groups, the Gaussian family with in-sample noise,
        Gram matrices safe for the data, no routed fit parameters, the
        experts' parameters checked by their own fit once.
        """
        if (not experts or np.ndim(y) != 1 or not isinstance(X, np.ndarray)
                or not X.flags.c_contiguous
                or X.shape[0] * len(experts) >= _MIN_PARALLEL_ENTRIES
                or not all(fits_from_gram(expert, X) for expert in experts)
                or len({bool(expert.fit_intercept) for expert in experts}) != 1):
            return None
        return cls(experts, X, y, context, pooled_fraction)

    def m_step(self, targets, sample_weight, weights, log_lik):
        """Refit the experts and the noise variances on ``targets`` (the responsibilities).

        Writes ``targets * sample_weight`` into ``weights`` and the rows'
        log-likelihoods into ``log_lik``, as the general M-step does.

        Returns
        -------
        params : dict or None
            ``{"noise_variance_": ndarray of shape (n_experts,)}``; None
            when the general M-step must run instead (an expert's problem is
            too ill-conditioned for the normal equations, or a prediction is
            not finite): the experts are then untouched.
        """
        self.fixed = {}
        context = self.context
        first = "pooled_floor" not in context
        floor = np.nan if first else max(context["variance_floor"], context["pooled_floor"])
        variance = np.empty(len(self.experts))
        # (Contiguous arguments: the kernel is compiled for that layout.)
        outcome, unit = linear_gaussian_m_step(
            self.X, self.y, np.ascontiguousarray(targets), np.ascontiguousarray(sample_weight),
            self.center, self.y_center, self.centred, self.tols, floor, weights, self.design,
            self.products, self.coef, self.intercept, self.singular, self.predictions, log_lik,
            self.residuals, variance)
        if outcome != DONE:
            return None
        n_features = self.X.shape[1]
        for k, expert in enumerate(self.experts):
            # fit_from_grams' attributes, as ``fit`` sets them (full rank here).
            expert.coef_ = self.coef[:, k].copy()
            expert.intercept_ = self.intercept[k] if self.centred[k] else 0.0
            expert.rank_ = n_features
            expert.singular_ = self.singular[k].copy()
            expert.n_features_in_ = n_features
        if first:
            # The start's first M-step fixes the pooled floor (_likelihood_m_step's sums),
            # in the context once the loop keeps this M-step (see keep).
            scaled = weights / unit if unit != 1.0 else weights
            pooled_floor = self.pooled_fraction * (self.residuals.sum() / scaled.sum())
            self.fixed = {"pooled_floor": pooled_floor}
            floor = max(context["variance_floor"], pooled_floor)
            variance = np.maximum(self.residuals / scaled.sum(axis=0), floor)
            _gaussian_serial(self.y, self.predictions, variance, log_lik)
        return {"noise_variance_": variance}

    def keep(self):
        """The EM loop keeps the last M-step (no expert is removed after it): what a
        start's first M-step fixes (the pooled variance floor) goes into the context.

        The general M-step fixes it after removing experts too thin for their
        parameters, from the remaining ones: until this call it is not fixed.
        """
        self.context.update(self.fixed)
        self.fixed = {}
