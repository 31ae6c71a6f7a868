"""MixtureOfExpertsRegressor: the experts' likelihood families on the shared EM engine."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import RegressorMixin, is_classifier, is_clusterer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._base import _FEW_ROWS, BaseMixtureOfExperts, _join, dask_blockwise
from ._crps import (
    CRPS_HEAVY_TAIL_LEVELS,
    CRPS_LEVELS,
    gaussian_mixture_crps,
    quadrature_crps,
)
from ._docstrings import fill_doc
from ._experts import (
    accepts_return_std,
    cross_fitted_predictions,
    decided_once,
    describe_expert,
    expert_output,
    has_own_density,
    interpolates,
    interpolates_when_fitted,
)
from ._families import FAMILIES, check_quantile_levels, resolve_family
from ._glm_newton import glm_predictions, log_link_predictor
from ._kernels import (
    GAMMA,
    GAUSSIAN,
    LAPLACE,
    POISSON,
    STUDENT_T,
    expert_standard_quantiles,
    mixture_quantiles,
)
from ._linear import fits_from_gram, grams_are_safe, linear_predictions
from ._linear_em import LinearGaussianMStep
from ._noise_floor import (
    POSSIBLE_CAUSES,
    describe_floor,
    experts_at_floor,
    floor_warning,
    likely_cause,
)
from ._ridge import (
    FoldSumsRequest,
    ScaledRidge,
    cross_fitted_ridge_predictions,
    fits_scaled_ridge_from_gram,
    ridge_penalty,
    scaled_ridge_of,
)
from ._rows import repeated_records, splitmix64
from ._scaling import (
    FAR_ROBUST_SDS,
    MAD_TO_SD,
    SQUARE_SAFE,
    magnitude,
    power_of_two,
    robust_spread,
    weighted_spread,
)
from ._serving import linear_mixture_mean
from ._validation import (
    Interval,
    StrOptions,
    check_is_estimator,
    check_no_datetimes,
    check_not_scalar,
    check_score_weights,
)

# exp overflows float64 above this: log of its largest number.
_EXP_OVERFLOW = float(np.log(np.finfo(np.float64).max))
_LOG_LINK_REMEDY = ("Scale the column (divide it by a constant, or take its log) or remove the "
                    "row.")
# Levels of the predictive distribution are solved to this accuracy in probability.
_QUANTILE_TOL = 1e-10
_QUANTILE_MAX_ITER = 200

# An expert's noise variance is at least this fraction of the pooled residual
# variance: a ratio of about 30 in standard deviation between the quietest
# expert and the noise of the whole fit.
_POOLED_VARIANCE_FLOOR = 1e-3
# The likelihood's hooks whose work the prepared linear M-step (_fast_m_step) repeats.
_M_STEP_HOOKS = ("_likelihood_m_step", "_expert_fit_weights", "_likelihood_penalty",
                 "_family")

# Weighted standard deviations of y the regressor accepts: its noise variances
# (and their floors, 1e-6 of var(y) by default) stay normal float64 numbers.
_Y_SPREAD = (1e-152, 1e152)
# Folds of the cross-fitted noise variance. A refit on (F - 1) / F of the rows errs
# more than the expert fitted on all of them, so out-of-fold residuals overstate
# the noise, the more so the more the expert's error depends on its number of
# rows. Linear experts: 3 folds (as compare's out-of-fold residuals). Experts that
# can interpolate: 10; with 3, the 90% intervals of mixtures of trees covered
# 0.910-0.949 on seven data sets, with 10 0.888-0.925 (bench_intervals.py).
_NOISE_FOLDS = 3
_INTERPOLATING_NOISE_FOLDS = 10


def _floor_spread(y, sample_weight, variance, family):
    """The variance of y that ``var_floor`` is a fraction of: y's weighted ``variance``,
    or for a family meant for outliers the smaller of it and y's robust spread
    squared (one y of 1e6 among values of spread 1 raises the variance by 1e12 / n),
    unless more than half the weight sits on one value (a robust spread of 0)."""
    if not family.robust:
        return variance
    robust = robust_spread(y, sample_weight) ** 2
    return min(variance, robust) if robust > 0 else variance


def noise_folds(n_samples, n_folds=_NOISE_FOLDS, X=None, y=None):
    """The fold of each row for the cross-fitted noise variance.

    One fixed partition for a given number of rows and folds, whatever
    ``random_state``: the noise does not jitter from one M-step to the next, and
    the objective of fits that differ only in their seed (their starts) is the
    same function, so that their ``lower_bound_`` can be compared. It is
    :func:`folds_of_rows` of all the rows: a block of rows of a Dask array
    computes its own part of the same partition.

    With ``X`` and ``y``, a row that repeats an earlier one (the same inputs
    and the same target) takes that row's fold instead of its own, when such
    rows are one record given again (:func:`~skmoe._rows.repeated_records`:
    rows with the same inputs always have the same target). A copy in another
    fold would be predicted by a refit that saw the same row, with a residual
    of zero, and the noise would be too small; in one fold, data given twice
    (the copies appended) have the folds of the data given once, as with
    ``sample_weight=2``. Rows without copies keep their folds. Where rows with
    the same inputs have different targets, the inputs are a design whose
    points repeat, and equal rows are observations that coincide, as new
    rows at those points would: every row keeps its fold.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    n_folds : int, default=3
        Number of folds.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features), default=None
        The inputs the experts are fitted on; None keeps every row's fold.
    y : ndarray of shape (n_samples,), default=None
        The targets, with ``X``.

    Returns
    -------
    folds : ndarray of shape (n_samples,) of int
        The fold of each row, ``0 .. n_folds - 1``.
    """
    if X is None:
        return folds_of_rows(0, n_samples, n_folds)
    return NoiseFolds(X, y)(n_folds)


class NoiseFolds:
    """The noise folds of one fit's rows (:func:`noise_folds` with ``X`` and
    ``y``), made when first asked for and kept: the starts of a fit share them,
    and the repeated rows are looked for once.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The inputs the experts are fitted on.
    y : ndarray of shape (n_samples,)
        The targets.
    """

    def __init__(self, X, y):
        self.X = X
        self.y = y
        self._first = None
        self._folds = {}

    def __call__(self, n_folds):
        """The fold of each row among ``n_folds``."""
        if n_folds not in self._folds:
            if self._first is None:
                self._first = repeated_records(self.X, self.y)
            # Each repeated row takes the fold of its first.
            own = folds_of_rows(0, self._first.shape[0], n_folds)
            self._folds[n_folds] = own[self._first]
        return self._folds[n_folds]


# The seed of the folds' hash; fixed (see noise_folds).
_FOLD_SEED = np.uint64(0x5EED_F01D)


def folds_of_rows(start, stop, n_folds=_NOISE_FOLDS):
    """The folds of rows ``start`` to ``stop - 1`` in :func:`noise_folds`'s partition.

    The rows form consecutive groups of ``n_folds`` (rows ``g n_folds`` to
    ``(g + 1) n_folds - 1``); each group's folds are a random permutation of
    ``0 .. n_folds - 1``: the ranks within the group of a hash of each row's
    index. A row's fold depends only on its index, so
    ``noise_folds(n, F)[a:b] == folds_of_rows(a, b, F)`` for every ``a <= b <= n``,
    and each block of a Dask array computes its rows' folds alone. Every
    complete group holds each fold once and the last, partial one each fold at
    most once: the sizes of the folds of ``n`` rows differ by at most one.
    It sees the rows' positions, not their values: copies of a row are put in
    its fold by :func:`noise_folds` given the rows.

    Parameters
    ----------
    start, stop : int
        The first row and one past the last, ``0 <= start <= stop``.
    n_folds : int, default=3
        Number of folds, positive.

    Returns
    -------
    folds : ndarray of shape (stop - start,) of int
    """
    first = start // n_folds
    n_groups = -(-stop // n_folds) - first
    rows = np.arange(first * n_folds, (first + n_groups) * n_folds, dtype=np.uint64)
    # splitmix64 is a bijection: distinct rows have distinct keys, so no ties.
    keys = splitmix64(rows ^ _FOLD_SEED).reshape(n_groups, n_folds)
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1).ravel()
    offset = first * n_folds
    return ranks[start - offset:stop - offset].astype(np.intp)


def noise_fold_count(expert):
    """The number of folds ``expert``'s noise is cross-fitted on (see ``_NOISE_FOLDS``)."""
    return _INTERPOLATING_NOISE_FOLDS if interpolates(expert) else _NOISE_FOLDS


def _experts_have_distribution_methods(*methods):
    """An ``available_if`` check: experts with their own density (``score_samples(X, y)``)
    must have ``methods`` for the mixture's predictive distribution.

    The fitted experts are checked, else the experts' templates. The check
    raises an AttributeError naming the first expert that lacks one.
    """

    def check(self):
        experts = getattr(self, "experts_", None)
        if experts is None:
            try:
                experts = self._expert_templates()
            except (TypeError, ValueError):
                # Invalid parameters: fit says what is wrong.
                return True
        for k, expert in enumerate(experts):
            if not has_own_density(expert):
                continue
            for method in methods:
                if not callable(getattr(expert, method, None)):
                    raise AttributeError(
                        f"Expert {k} ({type(expert).__name__}) defines its own density "
                        f"(score_samples) but no {method} method; the predictive "
                        f"distribution needs {' and '.join(methods)} of such experts."
                    )
        return True

    return check


def _squared_residuals(y, means, weights):
    """``sum_i w_ik (y_i - m_ik)^2`` per expert (inf when it overflows)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.einsum("ik,ik->k", weights, (y[:, None] - means) ** 2)


# Rows per block of the Gaussian M-step's residual sums.
_RESIDUAL_BLOCK_ROWS = 8192


def _weighted_squared_sums(y, means, weights, unit):
    """``sum_i w_ik (y_i - m_ik)^2`` and ``sum_i w_ik`` per column, with the weights
    divided by ``unit``, over blocks of rows (inf where a sum overflows).

    The same sums as :func:`_squared_residuals` of ``weights / unit``, without
    arrays of the size of ``means``.
    """
    squares = np.zeros(means.shape[1])
    totals = np.zeros(means.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, means.shape[0], _RESIDUAL_BLOCK_ROWS):
            stop = start + _RESIDUAL_BLOCK_ROWS
            block_weights = weights[start:stop]
            if unit != 1.0:
                block_weights = block_weights / unit
            residual = means[start:stop] - y[start:stop, None]
            residual *= residual
            squares += np.einsum("ik,ik->k", block_weights, residual)
            totals += block_weights.sum(axis=0)
    return squares, totals


def _check_squared_residuals(residuals, experts, y=None, means=None, X=None, scale=True):
    """Refuse experts whose weighted squared residuals are not float64 numbers.

    A row of X far from the others (one value of 1e300 in a column of
    ordinary ones) puts an expert's out-of-fold prediction there near 1e300,
    whose squared residual overflows: the noise scale became inf or NaN, and
    the fit went on to an error about an expert's sample weights (with
    ``max_iter=1``, to a model with NaN noise; with Student t noise, to a
    KeyError). Given each row's ``means`` (the residuals' centres) and X, the
    rows are named, and for a GLM with a log link, whose exp reaches that far
    from a value of only 1e3 in a column of unit scale, where its linear
    predictor went beyond half of exp's range (:func:`_log_link_overflow`).
    ``scale``: whether the family has a noise scale that the residuals give.
    """
    bad = np.flatnonzero(~np.isfinite(residuals))
    if not bad.size:
        return
    k = int(bad[0])
    message = (f"The squared residuals of expert {k} ({describe_expert(experts[k])}) overflow "
               "float64")
    rows = cause = None
    if means is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            rows = np.flatnonzero(~np.isfinite((y - means[:, k]) ** 2))
        if X is not None:
            cause = _log_link_overflow(
                experts[k], X[rows], rows, _EXP_OVERFLOW / 2,
                f"the square of its exp overflows float64 above {_EXP_OVERFLOW / 2:.6g}")
    if cause is not None:
        raise ValueError(f"{message} on {_rows_at(rows, y.size)}. Its predictions are the exp "
                         f"of a linear predictor (a log link): {cause}. {_LOG_LINK_REMEDY}")
    raise ValueError(
        f"{message}{', so its noise scale is not a number' if scale else ''}. A row of X far "
        "from the others (a value about 1e150 times a column's spread or more) sends an "
        "expert's predictions there beyond that"
        f"{'' if rows is None else f'; here it did on {_rows_at(rows, y.size)}'}. Drop or "
        "rescale such rows."
    )


def _mixture_std(weights, predictions, mean, variance):
    """``sqrt(sum_k g_k (v_k + (f_k - mean)^2))`` per row, without overflow.

    The squares of predictions far from the training data (beyond about 1e154)
    overflow: each row's spread is summed in units of a power of two near its
    largest deviation or expert standard deviation, and experts of zero weight
    are left out (an infinite variance of such an expert must not make NaN).
    """
    used = weights > 0
    with np.errstate(over="ignore", invalid="ignore"):
        deviation = np.where(used, np.abs(predictions - mean[:, None]), 0.0)
        std = np.where(used, np.sqrt(variance), 0.0)
        unit = magnitude(np.hstack([deviation, std]).T)[:, None]
        spread = (std / unit) ** 2 + (deviation / unit) ** 2
        return np.sqrt(np.einsum("ik,ik->i", weights, spread)) * unit[:, 0]


@fill_doc
class MixtureOfExpertsRegressor(RegressorMixin, BaseMixtureOfExperts):
    """Mixture of experts for regression, fitted by EM.

    ``p(y | x) = sum_k g_k(x) p_k(y | f_k(x))``: a softmax gate ``g``
    decides which expert ``f_k`` (any scikit-learn regressor) speaks for which
    input, and each expert's density ``p_k`` around its prediction is of the
    experts' family: Gaussian with its own noise variance ``s_k^2`` by
    default, Student t or Laplace (``noise``), or the family of
    scikit-learn's GLM experts (Poisson for ``PoissonRegressor``, Gamma for
    ``GammaRegressor``, as ``TweedieRegressor`` with power 1 or 2). An expert
    that defines ``score_samples(X, y)`` (such as another mixture of experts)
    gives its own log-density instead, which builds hierarchical mixtures by
    composition.

    Parameters
    ----------
    experts : regressor, list of regressors or of (str, regressor), default=None
        One regressor, cloned ``n_experts`` times, or a list of regressors for
        heterogeneous experts.
        {experts_names}
        None means ``ScaledRidge(alpha=10.0)``: linear
        experts whose light penalty is measured in each feature's spread over
        the training set, so that an expert responsible for a narrow slice of
        the inputs cannot extrapolate wildly to other rows, and whose effect
        fades as the data grow (use ``LinearRegression(tol=0.0)`` for the
        unpenalised maximum-likelihood fit flexmix computes). Experts get
        ``sample_weight = w * responsibilities`` in every M-step (a Pipeline
        through its final step); an expert that accepts no sample weights is
        fitted on a weighted resample, with a warning. Experts that are
        scikit-learn GLMs (or Pipelines ending in one) bring their family's
        likelihood: ``PoissonRegressor`` and ``TweedieRegressor(power=1)``
        Poisson, ``GammaRegressor`` and ``TweedieRegressor(power=2)`` Gamma
        (histogram gradient boosting with ``loss="poisson"`` or ``"gamma"``
        too); ``TweedieRegressor(power=0)`` predicts a mean. Other Tweedie
        powers, and experts of different families in one mixture, raise a
        ValueError, as does y outside the family's support (negative or
        fractional counts, non-positive Gamma targets).
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
        real noise. For ``noise="student_t"`` and ``"laplace"``, meant for
        data with outliers, both bounds are taken from medians where those
        are smaller (y's median absolute deviation, the residuals' median
        absolute value), and the second one at the first M-step that weighs
        the rows by the E-step: one far y does not raise them. A fit whose
        noise ends at a floor warns, naming the experts and the likely cause:
        its likelihood is then the floor's, not the data's.
    noise_variance : {"auto", "in_sample", "cross_fitted"}, default="auto"
        How each expert's noise variance is estimated in the M-step.
        ``"in_sample"``: the weighted mean squared residual of the expert on
        its training rows, the maximum-likelihood estimate; EM then never
        decreases the (penalised) log-likelihood. ``"cross_fitted"``: the
        same mean of residuals predicted by refits of the expert without the
        row's fold (3 folds, one fixed partition for a given number of rows,
        a row given twice in one fold; ScaledRidge experts are refitted from
        fold Gram matrices, about one extra pass over the rows per M-step,
        other experts by three extra fits per M-step). ``"auto"``:
        cross-fitted for the default ScaledRidge experts and for
        experts that can fit their training rows nearly
        exactly (those without a parameter count: trees, forests, boosting,
        neighbours), whose in-sample residuals make the density falsely
        confident on new rows; in-sample for LinearRegression experts, where
        it is the exact maximum-likelihood M-step (and flexmix's fits are
        reproduced). A cross-fitted variance is not the maximiser of the
        likelihood, so ``lower_bound_`` is then the log-likelihood with
        honest noise, and EM can move it down by small amounts; on small
        real data sets its held-out log-likelihood was better by up to 0.43
        nats per row (benchmarks/bench_real_data.py). The same holds for the
        scale of ``noise="student_t"`` and ``noise="laplace"`` (the t's
        scale and degrees of freedom are the weighted t fit of the
        cross-fitted residuals, the Laplace scale their weighted mean
        absolute value). The GLM families (Poisson, Gamma) are fitted in
        sample, and ``"cross_fitted"`` with them raises a ValueError.
    noise : {"gaussian", "student_t", "laplace"}, default="gaussian"
        The density of experts that predict only a mean around their
        prediction. ``"gaussian"``: a noise variance per expert.
        ``"student_t"``: a scale and degrees of freedom (between 1 and 200)
        per expert, fitted by ECME: each row's weight in an expert's fit is
        multiplied by its latent precision ``(nu + 1) / (nu + r^2 / s^2)``,
        which makes gross outliers count little, and the scale and degrees
        of freedom maximise the weighted t likelihood of the residuals.
        ``"laplace"``: a scale per expert; the experts are fitted by
        iteratively reweighted least squares towards least absolute
        deviations. GLM experts bring their
        own family and need the default.
    {n_jobs}
    {random_state}
    {verbose}
    {warm_start}
    {top_k}
    {step_size_decay}

    Attributes
    ----------
    {fitted_common}
    family_ : str
        The experts' likelihood family: ``"gaussian"``, ``"student_t"``,
        ``"laplace"``, ``"poisson"`` or ``"gamma"``.
    noise_variance_ : ndarray of shape (`n_experts_`,)
        Noise variance of each expert, Gaussian family only (for an expert
        with its own density, the weighted variance of its residuals, which
        the likelihood does not use).
    noise_scale_ : ndarray of shape (`n_experts_`,)
        Scale of each expert's Student t or Laplace noise.
    df_ : ndarray of shape (`n_experts_`,)
        Degrees of freedom of each expert's Student t noise.
    dispersion_ : ndarray of shape (`n_experts_`,)
        Dispersion ``phi`` of each Gamma expert (variance ``phi mu^2``).

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
        "noise": [StrOptions({"gaussian", "student_t", "laplace"})],
    }

    def __init__(
        self,
        experts=None,
        *,
        n_experts=None,
        gate=None,
        gate_features=None,
        expert_features=None,
        assignment="soft",
        init="auto",
        n_init=1,
        max_iter=300,
        tol=1e-5,
        min_expert_weight=1e-3,
        min_rows_per_parameter=3.0,
        var_floor=1e-6,
        noise_variance="auto",
        noise="gaussian",
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        top_k=None,
        step_size_decay=0.7,
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
            step_size_decay=step_size_decay,
        )
        self.var_floor = var_floor
        self.noise_variance = noise_variance
        self.noise = noise

    _OBJECTIVE_CONSTANTS = ("variance_floor", "target_variance", "pooled_floor", "fold_seed")

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

    def _validate_fit_data(self, X, y, resume, **check_params):
        templates = self._expert_templates()
        family = resolve_family(templates, self.noise, has_own_density)
        if not family.location and self.noise_variance == "cross_fitted":
            raise ValueError(
                f"noise_variance='cross_fitted' applies to the families with a noise "
                f"scale around the experts' predictions (gaussian, student_t, laplace); "
                f"the experts' family is {family.name}."
            )
        previous = getattr(self, "family_", None)
        if resume and previous != family.name:
            raise ValueError(
                f"warm_start resumes the fitted model, whose family is {previous}; the experts "
                f"and noise now give the {family.name} family."
            )
        check_no_datetimes(y, "y")
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64, **check_params)
        family.check_y(np.asarray(y))
        self.family_ = family.name
        # The parameters of another family, left by an earlier fit, would describe
        # nothing.
        for other in FAMILIES.values():
            for name in other.params:
                if name not in family.params:
                    self.__dict__.pop(name, None)
        # Any numeric y (float16, integers, booleans) as float64, as X: the kernels
        # are compiled for float64.
        return X, np.asarray(y, dtype=np.float64)

    def _validate_targets(self, y, n_samples):
        check_not_scalar(y)
        check_no_datetimes(y, "y")
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim != 1:
            raise ValueError(f"y must be 1-dimensional, got an array of shape {y.shape}.")
        check_consistent_length(np.empty(n_samples), y)
        self._family().check_y(y)
        return y

    def _family(self):
        """The fitted (or, during fit, the chosen) likelihood family."""
        return FAMILIES[self.family_]

    def _init_targets(self, y):
        return y

    def _check_fit_targets(self, y, sample_weight):
        # A stream's first batch comes before its (Gaussian) family is set.
        FAMILIES[getattr(self, "family_", "gaussian")].check_fit_y(y, sample_weight)
        mean, spread = weighted_spread(y, sample_weight)
        # Constant y: its magnitude gives the noise variances their units.
        what = (f"y has a weighted standard deviation of {spread:.3g}," if spread else
                f"y is {mean:.3g} on every row of positive weight, a magnitude")
        spread = spread or abs(mean)
        if spread and not _Y_SPREAD[0] <= spread <= _Y_SPREAD[1]:
            raise ValueError(
                f"{what} outside "
                f"[{_Y_SPREAD[0]:.0e}, {_Y_SPREAD[1]:.0e}]: the experts' noise variances, "
                "in units of y squared, and their floors would not be float64 numbers. "
                f"Divide y by 1e{int(np.floor(np.log10(spread)))} and multiply the "
                "predictions back."
            )

    def _likelihood_context(self, X, y, sample_weight):
        mean, spread = weighted_spread(y, sample_weight)
        # Constant y: fall back to its magnitude so the floor keeps y's units.
        scale = spread**2 or mean**2 or 1.0
        family = self._family()
        floor = self.var_floor * (_floor_spread(y, sample_weight, scale, family)
                                  if family.location else 1.0)
        # X and y are kept (not copied) for the latent factors of the t and Laplace
        # families, computed from the current experts before each M-step.
        context = {"variance_floor": floor, "target_variance": scale, "family": family,
                   "X": X, "y": y}
        if self.noise_variance != "in_sample":
            # Seeds the resamples of experts that take no sample weights.
            context["fold_seed"] = check_random_state(self.random_state).randint(
                np.iinfo(np.int32).max)
            # Whether ScaledRidge experts may be refitted from fold Gram matrices.
            context["grams"] = grams_are_safe(X, y, sample_weight)
            context["noise_folds"] = NoiseFolds(X, y)
        return context

    def _likelihood_m_step(self, experts, X, y, weights, fit_weights, context, workspace):
        family = context["family"]
        shape = (X.shape[0], len(experts))
        log_lik = workspace.array("log_lik", shape)
        # Large weights times squared residuals would overflow: the sums are taken
        # with the weights divided by a power of two near the largest (exact).
        unit = power_of_two(float(weights.max()))
        if family.name == "gaussian":
            # The predictions are made in the log-likelihood's array, which the
            # Gaussian kernel then overwrites entry by entry, and the residual sums
            # are taken over blocks of rows: the M-step adds no array of the size of
            # the weights but the out-of-fold predictions of the cross-fitted experts.
            predictions = _expert_predictions(experts, X, out=log_lik)
            family.check_mean(predictions, experts)
            residuals, totals = _weighted_squared_sums(y, predictions, weights, unit)
            # The means the noise scales are estimated from: out of fold for the
            # experts whose in-sample residuals understate their noise.
            overflowed = {}
            for k, out_of_fold in self._cross_fitted_means(experts, X, y, fit_weights,
                                                           context):
                residuals[k] = _weighted_squared_sums(y, out_of_fold[:, None],
                                                      weights[:, k:k + 1], unit)[0][0]
                if not np.isfinite(residuals[k]):
                    overflowed[k] = out_of_fold
            if not np.isfinite(residuals).all():
                # The residuals' centres, to name the rows where they overflowed.
                centres = predictions.copy()
                for k, out_of_fold in overflowed.items():
                    centres[:, k] = out_of_fold
                _check_squared_residuals(residuals, experts, y, centres)
            if "pooled_floor" not in context:
                # Fixed at the start's first M-step, so that every later M-step
                # maximises one objective under one constraint and EM still never
                # decreases it.
                context["pooled_floor"] = _POOLED_VARIANCE_FLOOR * residuals.sum() / totals.sum()
            floor = max(context["variance_floor"], context["pooled_floor"])
            # Given the residual sums, the Gaussian M-step reads the weights only
            # through their column totals: one row holding them stands for all rows.
            params = family.m_step(y, predictions, totals[None, :], context.get("latent"), floor,
                                   residuals=residuals)
        else:
            # Not kept in the workspace: alive only here, they stay out of the memory
            # peak of the experts' fits.
            predictions = _expert_predictions(experts, X)
            family.check_mean(predictions, experts)
            if unit != 1.0:
                weights = weights / unit
            scale_means = predictions
            if family.location:
                for k, out_of_fold in self._cross_fitted_means(experts, X, y, fit_weights,
                                                               context):
                    if scale_means is predictions:
                        scale_means = predictions.copy()
                    scale_means[:, k] = out_of_fold
            _check_squared_residuals(_squared_residuals(y, scale_means, weights), experts, y,
                                     scale_means, X, bool(family.params))
            # A family meant for outliers fixes its pooled floor at the first M-step
            # whose experts were fitted with the E-step's latent weights: before,
            # they are least-squares fits that one far row drags with every residual
            # (a y of 1e6 among 500 rows of noise 0.1 moved both experts' intercepts
            # by thousands, and the median residual with them).
            if "pooled_floor" not in context and not (
                    family.robust and context.get("latent") is None):
                context["pooled_floor"] = _POOLED_VARIANCE_FLOOR * family.pooled_floor(
                    y, scale_means, weights)
            floor = max(context["variance_floor"], context.get("pooled_floor", 0.0))
            params = family.m_step(y, scale_means, weights, context.get("latent"), floor)
        family.log_density(y, predictions, params, log_lik)
        _replace_own_densities(experts, X, y, log_lik)
        return params, log_lik

    def _fast_m_step(self, experts, data, context):
        # Plain LinearRegression experts with in-sample Gaussian noise on dense data
        # whose Gram matrices are safe; soft assignments, ungrouped, nothing routed.
        # (A fitted plain LinearRegression's noise is cross-fitted only when asked for.)
        # A subclass that changes the likelihood's steps keeps the general M-step.
        cls = type(self)
        if (self.assignment != "soft" or data.groups is not None or not data.grams
                or any(data.expert_params or ()) or self.family_ != "gaussian"
                or self.noise_variance == "cross_fitted"
                or any(getattr(cls, name) is not getattr(MixtureOfExpertsRegressor, name)
                       for name in _M_STEP_HOOKS)):
            return None
        return LinearGaussianMStep.of(experts, data.X_expert, data.y, context,
                                      _POOLED_VARIANCE_FLOOR)

    def _log_likelihood(self, experts, params, X, y):
        family = self._family()
        predictions = _expert_predictions(experts, X)
        family.check_mean(predictions, experts)
        log_lik = np.empty_like(predictions)
        family.log_density(y, predictions, params, log_lik)
        _replace_own_densities(experts, X, y, log_lik)
        return log_lik

    def _cross_fitted_means(self, experts, X, y, fit_weights, context):
        """Yield ``(k, out_of_fold)`` for each expert whose in-sample residuals
        understate its noise: its predictions by refits without each row's fold.

        The refits use the experts' own fit weights (which differ from the
        responsibilities by a factor per column for ScaledRidge experts)."""
        if self.noise_variance == "in_sample":
            return
        chosen = decided_once(context.setdefault("cross_fits", {}), experts, self._cross_fits)
        if not chosen:
            return
        folds = context["noise_folds"]
        for intercept in (True, False):
            # Plain ScaledRidge experts are refitted from fold Gram matrices at once.
            ridges = [k for k in chosen if context["grams"]
                      and fits_scaled_ridge_from_gram(experts[k], X)
                      and experts[k].fit_intercept is intercept]
            if not ridges:
                continue
            # Every column: the fit weights themselves, not a copy of them.
            columns = (fit_weights if ridges == list(range(fit_weights.shape[1]))
                       else fit_weights[:, ridges])
            fold_spec = folds(_NOISE_FOLDS)
            if intercept:
                # From the next M-step on, the experts' fit takes its Gram matrices
                # fold by fold and the refits reuse them (see FoldSumsRequest).
                request = context.get("noise_fold_sums")
                if request is None:
                    context["noise_fold_sums"] = FoldSumsRequest(fold_spec, _NOISE_FOLDS)
                else:
                    taken = request.take(X, y, columns, ridges)
                    fold_spec = fold_spec if taken is None else taken
            predictions = cross_fitted_ridge_predictions(
                [experts[k] for k in ridges], X, y, columns, fold_spec)
            for j, k in enumerate(ridges):
                yield k, predictions[:, j]
                chosen.remove(k)
        params = context.get("expert_fit_params")
        # An expert the EM loop kept unchanged keeps its out-of-fold predictions:
        # refitting its fold clones on the new weights would move its noise while
        # the expert itself stays, and EM could cycle between the two.
        cache = context.setdefault("out_of_fold", {})
        kept = context.get("kept_experts", ())
        for k in chosen:
            if k in kept and k in cache and cache[k][0] is experts[k]:
                yield k, cache[k][1]
                continue
            predictions = cross_fitted_predictions(
                experts[k], X, y, fit_weights[:, k], folds(noise_fold_count(experts[k])),
                context["fold_seed"], k,
                None if params is None else params[k], context.get("leaf_weight"),
                context.get("n_jobs"))
            cache[k] = (experts[k], predictions)
            yield k, predictions

    def _fitted_on_subsets(self, expert, X=None, y=None):
        # Also the training folds of a cross-fitted noise.
        if super()._fitted_on_subsets(expert):
            return True
        if has_own_density(expert) or self.noise_variance == "in_sample":
            return False
        if self.noise_variance == "cross_fitted" or scaled_ridge_of(expert) is not None:
            return True
        # Whether its noise is cross-fitted depends on whether it interpolates.
        return interpolates_when_fitted(expert, X, y)

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
        # takes s_k^2 = var(y). The t and Laplace families (ECM) also multiply each
        # row's weight by its latent precision factor at the current parameters,
        # kept in the context for their own M-step.
        family = context["family"]
        factor = None
        context["latent"] = None
        if family.latent and params:
            predictions = _expert_predictions(experts, context["X"])
            factor = family.latent_factor(context["y"], predictions, params)
            context["latent"] = (factor, dict(params))
        ridge = np.array([scaled_ridge_of(expert) is not None for expert in experts])
        scale2 = family.scale2(params) if params else None
        if factor is None and (not ridge.any() or scale2 is None):
            return weights
        out = np.multiply(weights, factor if factor is not None else 1.0,
                          out=workspace.array("fit_weights", weights.shape))
        if ridge.any() and scale2 is not None:
            out *= np.where(ridge, context["target_variance"] / scale2, 1.0)
        return out

    def _likelihood_penalty(self, experts, params, context):
        penalty = sum(ridge_penalty(expert) for expert in experts)
        return penalty / (2.0 * context["target_variance"])

    def _expert_likelihood_parameters(self, expert):
        # The family's parameters (a noise variance for a Gaussian expert).
        return 0 if has_own_density(expert) else self._family().n_parameters

    def _fitted_likelihood_warning(self, run, data):
        # Noise at its floor: the experts' own, and those of mixtures among them
        # (whose fits, M-steps of this one, do not warn themselves). Without the
        # rows in memory (data None: a fit on a Dask collection), the causes are
        # named without reading them.
        family = self._family()
        own = [k for k in experts_at_floor(family, run.params, run.context)
               if not has_own_density(run.experts[k])]
        floor = describe_floor(family, run.context) if own else None
        if data is None:
            return (floor_warning(family, [f"expert {k}" for k in own], floor, POSSIBLE_CAUSES)
                    if own else None)
        if not (own or any(isinstance(expert, MixtureOfExpertsRegressor)
                           for expert in run.experts)):
            return None
        weights = self._run_responsibilities(run, data)[0] * data.sample_weight[:, None]
        found = _floored_rows(family, run.experts, run.params, run.context, data.X_expert,
                              data.y, weights)
        if not found:
            return None
        names, rows, residuals = zip(*found)
        diagnosis = likely_cause(data.y, data.sample_weight, np.column_stack(rows),
                                 np.column_stack(residuals), run.context)
        return floor_warning(family, list(names), floor, diagnosis)

    def _far_rows_note(self, experts, data, own, rows):
        # Far: at least FAR_ROBUST_SDS robust standard deviations from every remaining
        # expert's prediction, each expert's measured on the rows it holds.
        distance = _robust_distances(experts, data.X_expert, data.y, own, rows)
        if distance is None:
            return ""
        far = rows[distance >= FAR_ROBUST_SDS]
        if not far.size:
            return ""
        one = far.size == 1
        subject = ("the row" if rows.size == 1 else
                   f"the row at position {far[0]}" if one else
                   f"the rows at positions {_join([str(row) for row in far])}")
        it, its, errors = (("it", "its", "it is an error") if one else
                           ("them", "their", "they are errors"))
        if self.family_ == "student_t":
            advice = (f"Check {it} and remove {it} if {errors}: the Student t noise of this "
                      f"fit did not take {it}.")
        elif self.family_ in ("gaussian", "laplace"):
            advice = (f"Check {it} and remove {it} if {errors}, or fit with "
                      "noise='student_t', whose heavy tails let far rows stay with the other "
                      "experts.")
        else:
            advice = f"Check {it} and remove {it} if {errors}."
        distances = distance[np.isin(rows, far)]
        how_far = (f"is {distances[0]:.3g}" if one else
                   f"are {distances.min():.3g} or more")
        looks = "it looks like an outlier" if one else "they look like outliers"
        return (f"{subject[0].upper()}{subject[1:]} {how_far} robust standard deviations from "
                "the prediction of the nearest remaining expert (an expert's robust standard "
                "deviation: 1.4826 times the median absolute residual of the rows it holds), "
                f"more than {FAR_ROBUST_SDS:.0f}: {looks}, which took an expert of {its} own. "
                f"{advice} ")

    # ----------------------------------------------------------- prediction
    @dask_blockwise
    def predict(self, X, return_std=False):
        """Mixture mean ``sum_k g_k(x) f_k(x)``, and on request its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        return_std : bool, default=False
            Also return the standard deviation of the mixture, by the law of
            total variance: ``sum_k g_k (v_k + (f_k - mean)^2)``, with ``v_k``
            the variance of expert k's family at its mean (``s_k^2`` for a
            Gaussian, ``s_k^2 nu_k / (nu_k - 2)`` for a Student t, infinite
            when ``nu_k <= 2``; ``2 b_k^2`` for a Laplace; ``f_k`` for a Poisson;
            ``phi_k f_k^2`` for a Gamma expert; an expert
            with its own density gives its variance by its own
            ``predict(X, return_std=True)``, and one whose ``predict`` takes no
            ``return_std`` raises a ValueError).

        Returns
        -------
        mean : ndarray of shape (n_samples,)
            Predicted mean. With Student t noise, an expert whose ``df_`` is 1
            (the lower bound of its fit, reached on very heavy tails) has a
            noise without a mean: its ``f_k`` is then the centre (median) of
            its density, and the sum is a mixture of centres, not a mean;
            :meth:`predict_quantiles` gives the mixture's median.
        std : ndarray of shape (n_samples,)
            Predicted standard deviation; only when ``return_std`` is True.
        """
        if return_std:
            self._check_expert_variances()
        X = self._validated_X(X)
        if not return_std:
            # A softmax gate and linear experts: a few products per block of rows.
            mean = linear_mixture_mean(self, X)
            if mean is not None:
                return mean
        chosen, weights = self._route(self._gate_proba(X))
        X = self._expert_input(X)
        family, params = self._family(), self._fitted_params()
        predictions = np.empty(weights.shape)
        variance = np.empty(weights.shape) if return_std else None
        for k, rows, slots in self._dispatch(chosen):
            expert = self.experts_[k]
            X_rows = X if isinstance(rows, slice) else X[rows]
            if return_std and has_own_density(expert) and accepts_return_std(expert):
                mean_k, std_k = expert_output(expert, k, "predict", X_rows, return_std=True)
                variance[rows, slots] = std_k**2
            else:
                mean_k = expert_output(expert, k, "predict", X_rows)
            mean_k = _finite_predictions(mean_k, k, expert, X_rows.shape[0], X_rows,
                                         None if isinstance(rows, slice) else rows)
            if return_std and not (has_own_density(expert) and accepts_return_std(expert)):
                params_k = {name: value[k] for name, value in params.items()}
                variance[rows, slots] = family.variance(mean_k, params_k)
            predictions[rows, slots] = mean_k
        mean = np.einsum("ik,ik->i", weights, predictions)
        if not return_std:
            return mean
        return mean, _mixture_std(weights, predictions, mean, variance)

    def score(self, X, y, sample_weight=None):
        """The coefficient of determination R² of ``predict(X)`` for ``y``.

        As scikit-learn's regressors compute it (:func:`sklearn.metrics.r2_score`),
        in units of a power of two near the largest absolute value of ``y`` and
        of the predictions when their squares could overflow float64 (a ``y``
        of 1e300 gave NaN); R² does not depend on the units. The weights are
        checked first, as ``fit`` checks them (negative weights were taken),
        and taken in units of a power of two near the largest (weights of
        1e308 gave NaN).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True values for ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights: finite, non-negative, not all zero.

        Returns
        -------
        score : float
            R² of ``self.predict(X)`` against ``y``.
        """
        from sklearn.metrics import r2_score

        check_not_scalar(y)
        check_no_datetimes(y, "y")
        sample_weight = check_score_weights(sample_weight, X)
        prediction = self.predict(X)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        unit = magnitude(np.concatenate([y.ravel(), prediction]))
        if unit > SQUARE_SAFE[1]:
            y, prediction = y / unit, prediction / unit
        return r2_score(y, prediction, sample_weight=sample_weight)

    def _check_expert_variances(self):
        """Refuse ``return_std`` when an expert with its own density gives no variance.

        Raises
        ------
        ValueError
            Naming the first fitted expert that defines ``score_samples(X, y)``
            but whose ``predict`` takes no ``return_std``.
        """
        check_is_fitted(self)
        for k, expert in enumerate(self.experts_):
            if has_own_density(expert) and not accepts_return_std(expert):
                raise ValueError(
                    f"predict(return_std=True) needs the variance of every expert; expert "
                    f"{k} ({type(expert).__name__}) defines its own density (score_samples) "
                    "but its predict takes no return_std. Use predict_interval or "
                    "predict_quantiles (if the expert has predict_cdf and predict_quantiles)."
                )

    # ------------------------------------------------- predictive distribution
    def _components(self, X):
        """Each row's mixture: the weights of all experts (0 for the experts that
        ``top_k`` leaves out), their predictions, and the experts' input rows."""
        X = self._validated_X(X)
        chosen, routed = self._route(self._gate_proba(X))
        if chosen is None:
            weights = routed
        else:
            weights = np.zeros((X.shape[0], self.n_experts_))
            np.put_along_axis(weights, chosen, routed, axis=1)
        X_expert = self._expert_input(X)
        return weights, _expert_predictions(self.experts_, X_expert), X_expert

    def _mixture_cdf(self, y, weights, means, X_expert, rows):
        """``sum_k g_k F_k(y)`` on ``rows``, and the density there when asked."""
        family, params = self._family(), self._fitted_params()
        cdf = family.cdf(y[:, None], means[rows], params)
        for k, expert in enumerate(self.experts_):
            if has_own_density(expert):
                cdf[:, k] = expert.predict_cdf(X_expert[rows], y)
        return np.einsum("ik,ik->i", weights[rows], cdf)

    def _mixture_pdf(self, y, weights, means, X_expert, rows):
        family, params = self._family(), self._fitted_params()
        pdf = family.pdf(y[:, None], means[rows], params)
        for k, expert in enumerate(self.experts_):
            if has_own_density(expert):
                pdf[:, k] = np.exp(expert.score_samples(X_expert[rows], y))
        return np.einsum("ik,ik->i", weights[rows], pdf)

    @available_if(_experts_have_distribution_methods("predict_cdf"))
    def predict_cdf(self, X, y):
        """The predictive distribution function ``P(Y <= y | x)`` of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        y : array-like of shape (n_samples,)
            The value at which each row's distribution function is taken.

        Returns
        -------
        cdf : ndarray of shape (n_samples,)
            ``sum_k g_k(x) F_k(y | x)``, with ``F_k`` expert k's distribution
            function (of its family, or its own ``predict_cdf``).
        """
        check_not_scalar(y)
        # Dates were read as counts of their unit (a CDF of 1 at every row).
        check_no_datetimes(y, "y")
        weights, means, X_expert = self._components(X)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim != 1:
            raise ValueError(f"y must be 1-dimensional, got an array of shape {y.shape}.")
        check_consistent_length(means, y)
        return self._mixture_cdf(y, weights, means, X_expert, np.arange(y.shape[0]))

    @available_if(_experts_have_distribution_methods("predict_cdf", "predict_quantiles"))
    def predict_quantiles(self, X, quantiles=(0.05, 0.5, 0.95)):
        """Compute quantiles of the predictive distribution ``p(y | x)`` of each row.

        Each level is solved for all rows at once on the mixture's distribution
        function, from the bracket that the experts' own quantiles give (the
        mixture's quantile lies between the smallest and the largest of them),
        by Newton steps safeguarded by bisection, to within 1e-10 in
        probability. For a discrete family (Poisson) the quantile is the
        smallest integer whose probability reaches the level, by integer
        bisection. Every family (Gaussian, Student t, Laplace, Gamma,
        Poisson) is solved in one compiled, parallel pass over the rows, all
        levels together; only a mixture with an expert of its own density
        (its own ``predict_cdf`` and ``predict_quantiles``) is solved in
        NumPy, level by level.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        quantiles : float or array-like of shape (n_quantiles,), \
default=(0.05, 0.5, 0.95)
            Levels, each strictly between 0 and 1.

        Returns
        -------
        quantiles : ndarray of shape (n_samples, n_quantiles)
            One column per level, non-decreasing along the levels when the
            levels are increasing.

        Raises
        ------
        ValueError
            When a level is not strictly between 0 and 1.
        AttributeError
            When an expert with its own density has no ``predict_cdf`` and
            ``predict_quantiles`` (the method is then not available:
            ``hasattr`` is False).
        """
        levels = check_quantile_levels(quantiles, "quantiles")
        weights, means, X_expert = self._components(X)
        # Sorting the levels and taking each solution as the next level's lower
        # bracket makes the quantiles non-decreasing in the level by construction.
        order = np.argsort(levels, kind="stable")
        kernel = self._quantile_kernel_family()
        if kernel is not None:
            family, scales, shapes = kernel
            solved = mixture_quantiles(
                family, np.ascontiguousarray(weights), np.ascontiguousarray(means), scales,
                shapes, levels[order], expert_standard_quantiles(family, levels[order], shapes),
                np.full(means.shape[0], -np.inf), _QUANTILE_TOL, _QUANTILE_MAX_ITER,
                np.empty((means.shape[0], levels.shape[0])))
            result = np.empty_like(solved)
            result[:, order] = solved
            return result
        result = np.empty((means.shape[0], levels.shape[0]))
        lower = None
        for column in order:
            result[:, column] = self._solve_quantile(levels[column], weights, means, X_expert,
                                                     lower)
            lower = result[:, column]
        return result

    def _quantile_kernel_family(self):
        """The kernel's family code, the experts' scales and shapes, or None.

        Mixtures of every family are solved by the compiled kernel; only a
        mixture with an expert of its own density (its own ``predict_cdf``
        and ``predict_quantiles``) takes :meth:`_solve_quantile`, level by
        level.
        """
        if any(has_own_density(expert) for expert in self.experts_):
            return None
        ones = np.ones(self.n_experts_)
        if self.family_ == "gaussian":
            return GAUSSIAN, np.sqrt(np.asarray(self.noise_variance_, dtype=np.float64)), ones
        if self.family_ == "laplace":
            return LAPLACE, np.asarray(self.noise_scale_, dtype=np.float64).copy(), ones
        if self.family_ == "student_t":
            return (STUDENT_T, np.asarray(self.noise_scale_, dtype=np.float64).copy(),
                    np.asarray(self.df_, dtype=np.float64).copy())
        if self.family_ == "gamma":
            return GAMMA, ones, 1.0 / np.asarray(self.dispersion_, dtype=np.float64)
        if self.family_ == "poisson":
            return POISSON, ones, ones
        return None

    def _solve_quantile(self, level, weights, means, X_expert, lower):
        family, params = self._family(), self._fitted_params()
        each = family.ppf(np.full(means.shape, level), means, params)
        for k, expert in enumerate(self.experts_):
            if has_own_density(expert):
                each[:, k] = np.reshape(expert.predict_quantiles(X_expert, [level]), -1)
        used = weights > 0
        low = np.where(used, each, np.inf).min(axis=1)
        high = np.where(used, each, -np.inf).max(axis=1)
        if lower is not None:
            low = np.maximum(low, lower)
            high = np.maximum(high, low)
        if family.discrete:
            low, high = np.floor(low), np.ceil(high)
            while True:
                active = np.flatnonzero(high > low)
                if active.size == 0:
                    return high
                middle = np.floor((low[active] + high[active]) / 2)
                reached = self._mixture_cdf(middle, weights, means, X_expert, active) >= level
                new_high = np.where(reached, middle, high[active])
                new_low = np.where(reached, low[active], middle + 1)
                # Beyond 2**53 no float may lie between the ends: high is the answer.
                stuck = (new_high == high[active]) & (new_low == low[active])
                high[active] = new_high
                low[active] = np.where(stuck, new_high, new_low)
        value = 0.5 * (low + high)
        active = np.flatnonzero(high > low)
        for _ in range(_QUANTILE_MAX_ITER):
            if active.size == 0:
                break
            x = value[active]
            gap = self._mixture_cdf(x, weights, means, X_expert, active) - level
            below = gap < 0
            low[active] = np.where(below, x, low[active])
            high[active] = np.where(below, high[active], x)
            done = (np.abs(gap) <= _QUANTILE_TOL) | (
                high[active] - low[active] <= 4 * np.finfo(np.float64).eps * np.abs(x))
            density = self._mixture_pdf(x, weights, means, X_expert, active)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = x - gap / density
            inside = (newton > low[active]) & (newton < high[active]) & np.isfinite(newton)
            value[active] = np.where(done, x, np.where(
                inside, newton, 0.5 * (low[active] + high[active])))
            active = active[~done]
        return value

    @available_if(_experts_have_distribution_methods("predict_cdf", "predict_quantiles"))
    def predict_interval(self, X, coverage=0.9):
        """The central interval of the predictive distribution of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        coverage : float, default=0.9
            Probability of the interval, strictly between 0 and 1: it runs
            from the quantile ``(1 - coverage) / 2`` to ``(1 + coverage) / 2``.

        Returns
        -------
        interval : ndarray of shape (n_samples, 2)
            Lower and upper ends. For a continuous family the interval holds
            y with probability ``coverage`` under the model. For the Poisson
            family the ends are integers (each the smallest count whose
            probability reaches its level) and the interval is closed, both
            ends included: it holds y with probability at least ``coverage``
            (more by less than the probability of its two ends; a count's
            distribution rarely has an interval of exactly that probability).

        Raises
        ------
        ValueError
            When ``coverage`` is not strictly between 0 and 1.
        """
        if not (isinstance(coverage, Real) and 0 < coverage < 1):
            raise ValueError(
                f"coverage must be a probability strictly between 0 and 1, got {coverage!r}."
            )
        return self.predict_quantiles(X, ((1 - coverage) / 2, (1 + coverage) / 2))

    @available_if(_experts_have_distribution_methods("sample_y"))
    def sample_y(self, X, n_samples=1, random_state=None):
        """Draw samples from the predictive distribution ``p(y | x)`` of each row.

        Each draw picks an expert from the row's gate probabilities, then a
        value from that expert's distribution around its prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Input data.
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples)
            Independent draws, one column per draw.

        Raises
        ------
        ValueError
            When ``n_samples`` is not a positive integer.
        """
        if not (isinstance(n_samples, Integral) and not isinstance(n_samples, bool)
                and n_samples >= 1):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        random_state = check_random_state(random_state)
        weights, means, X_expert = self._components(X)
        family, params = self._family(), self._fitted_params()
        n_rows, n_experts = weights.shape
        draws = random_state.uniform(size=(n_rows, n_samples))
        cumulative = np.cumsum(weights, axis=1)
        cumulative /= cumulative[:, -1:]
        chosen = np.minimum((draws[:, :, None] > cumulative[:, None, :]).sum(axis=2),
                            n_experts - 1)
        rows = np.broadcast_to(np.arange(n_rows)[:, None], chosen.shape)
        row_params = {name: value[chosen] for name, value in params.items()}
        samples = family.sample(means[rows, chosen], row_params, random_state)
        for k, expert in enumerate(self.experts_):
            if has_own_density(expert):
                own = expert.sample_y(X_expert, n_samples=n_samples,
                                      random_state=random_state.randint(np.iinfo(np.int32).max))
                samples = np.where(chosen == k, np.reshape(own, chosen.shape), samples)
        return np.asarray(samples, dtype=np.float64)

    @available_if(_experts_have_distribution_methods("predict_cdf", "predict_quantiles"))
    def crps_samples(self, X, y):
        """Score each row's predictive distribution by the continuous ranked probability score.

        ``CRPS(F, y) = integral (F(z | x) - 1{z >= y})^2 dz``: the squared
        distance between the predictive distribution function and the step
        at the observation, in the units of y; lower is better, and for a
        point forecast it is the absolute error. Unlike the log-likelihood it
        stays finite for a confident miss and rewards sharpness only where it
        is calibrated.

        For Gaussian experts it is the closed form of a Gaussian mixture
        (Grimit et al. 2006): with ``A(m, v) = E|m + sqrt(v) Z|`` for a
        standard normal ``Z``, ``sum_k g_k A(y - f_k, s_k^2) - 1/2 sum_jk
        g_j g_k A(f_j - f_k, s_j^2 + s_k^2)``. For the other families, and
        for experts with their own density, it is the integral computed
        numerically: split at y and at every expert's quantiles of 23 levels
        from 1e-12 to 1 - 1e-12 (37, one per decade of the tails, for Student t
        experts of fewer than 2 degrees of freedom), with 8-point
        Gauss-Legendre quadrature on each piece (within 1e-7 of adaptive
        quadrature in the tests); for the
        Poisson family, an exact sum over the integers. The experts'
        quantiles and distribution functions come from their family, or from
        their own ``predict_quantiles`` and ``predict_cdf``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        y : array-like of shape (n_samples,)
            Observed targets.

        Returns
        -------
        crps : ndarray of shape (n_samples,)
            The score of each row (non-negative).

        Raises
        ------
        ValueError
            When y holds values outside the family's support.
        AttributeError
            When an expert with its own density has no ``predict_cdf`` and
            ``predict_quantiles`` (the method is then not available:
            ``hasattr`` is False).

        See Also
        --------
        skmoe.metrics.crps : Its mean, for any estimator that has this method.
        """
        weights, means, X_expert = self._components(X)
        y = self._validate_targets(y, means.shape[0])
        family, params = self._family(), self._fitted_params()
        own = [k for k, expert in enumerate(self.experts_) if has_own_density(expert)]
        if family.name == "gaussian" and not own:
            return gaussian_mixture_crps(y, weights, means, params["noise_variance_"])
        levels = CRPS_LEVELS
        if family.name == "student_t" and np.min(params["df_"]) < 2:
            levels = CRPS_HEAVY_TAIL_LEVELS
        breaks = np.empty((means.shape[0], means.shape[1], levels.shape[0]))
        for j, level in enumerate(levels):
            breaks[:, :, j] = family.ppf(np.full(means.shape, level), means, params)
        for k in own:
            breaks[:, k, :] = self.experts_[k].predict_quantiles(X_expert, levels)
        return quadrature_crps(
            y, lambda z, rows: self._mixture_cdf(z, weights, means, X_expert, rows),
            np.reshape(breaks, (means.shape[0], -1)), discrete=family.discrete)


def _floored_rows(family, experts, params, constants, X, y, weights):
    """``(name, weights, residuals)`` of each expert whose noise ended at its floor, and
    of those of the fitted mixtures among ``experts``, given each expert's row
    ``weights`` (responsibilities times sample weights) on ``X``, ``y``."""
    own = [k for k in experts_at_floor(family, params, constants)
           if not has_own_density(experts[k])]
    found = []
    if own:
        predictions = _expert_predictions([experts[k] for k in own], X)
        # In the floor's units: a Gamma dispersion's are those of y / mean - 1.
        residuals = (y[:, None] - predictions if family.location
                     else y[:, None] / predictions - 1.0)
        found += [(f"expert {k}", weights[:, k], residuals[:, j]) for j, k in enumerate(own)]
    for k, expert in enumerate(experts):
        if isinstance(expert, MixtureOfExpertsRegressor) and hasattr(expert, "experts_"):
            inner = expert._posterior(X, y)[0] * weights[:, k:k + 1]
            found += [(f"{name} of expert {k}", rows, residuals)
                      for name, rows, residuals in _floored_rows(
                          expert._family(), expert.experts_, expert._fitted_params(),
                          expert._objective_constants_, expert._expert_input(X), y, inner)]
    return found


def _expert_predictions(experts, X, out=None):
    """Each expert's prediction as one column, refusing non-finite values.

    Plain LinearRegression experts on dense X predict together, in one product;
    plain Poisson and Gamma experts without scikit-learn's validation of X.
    Written into ``out`` (C-contiguous, of shape (n_samples, n_experts)) when given.
    """
    predictions = np.empty((X.shape[0], len(experts))) if out is None else out
    linear = [
        (k, expert) for k, expert in enumerate(experts)
        if fits_from_gram(expert, X) or fits_scaled_ridge_from_gram(expert, X)
    ]
    linear_predictions(linear, X, predictions)
    done = {k for k, _ in linear}
    for k, expert in enumerate(experts):
        if k not in done:
            values = glm_predictions(expert, X)
            if values is None:
                values = expert_output(expert, k, "predict", X)
            predictions[:, k] = _finite_predictions(values, k, expert, X.shape[0], X)
    if linear and not np.isfinite(predictions).all():
        # One check for all the columns; the first bad linear expert is named.
        for k, expert in linear:
            _finite_predictions(predictions[:, k], k, expert, X=X)
    return predictions


def _finite_predictions(values, index, expert, n_rows=None, X=None, positions=None):
    """One expert's predictions as a 1-D float array of ``n_rows`` numbers, refusing
    NaN and inf (and, naming the expert, predictions that are not one number per
    row: they failed in NumPy's broadcasting or float conversion). The refusal
    names the rows (by ``positions``, the caller's row of each value, when
    given), and, for a GLM whose log link overflowed on ``X``'s rows, where and
    why (see :func:`_non_finite_message`)."""
    name = f"Expert {index} ({type(expert).__name__})"
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} returned predictions that are not numbers: "
                        f"{np.asarray(values).dtype} values.") from None
    if n_rows is not None and array.size != n_rows:
        raise ValueError(
            f"{name} returned predictions of shape {array.shape} for {n_rows} rows; "
            "an expert of the regressor must predict one number per row."
        )
    values = array.reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError(_non_finite_message(values, index, expert, X, positions))
    return values


def _non_finite_message(values, index, expert, X=None, positions=None):
    """Why expert ``index``'s predictions ``values`` on ``X``'s rows are not all finite.

    The rows are counted and the first few named, by ``positions`` when given
    (the caller's row of each value); for a GLM whose log link overflowed, where
    and why (:func:`_log_link_overflow`).
    """
    bad = np.flatnonzero(~np.isfinite(values))
    where = bad if positions is None else np.asarray(positions)[bad]
    message = (f"Expert {index} ({type(expert).__name__}) returned NaN or inf predictions "
               f"on {_rows_at(where, values.size)}.")
    cause = None if X is None else _log_link_overflow(
        expert, X[bad], where, _EXP_OVERFLOW, f"exp overflows float64 above {_EXP_OVERFLOW:.6g}")
    return (message if cause is None else
            f"{message} Its log link's exp overflowed: {cause}. {_LOG_LINK_REMEDY}")


def _rows_at(positions, n_rows):
    """``"2 of 6 rows (at positions 3 and 4)"``, naming at most ``_FEW_ROWS`` rows."""
    named = [str(row) for row in positions[:_FEW_ROWS]]
    if positions.size > _FEW_ROWS:
        named.append(f"{positions.size - _FEW_ROWS} more")
    at = "position" if positions.size == 1 else "positions"
    return f"{positions.size} of {n_rows} rows (at {at} {_join(named)})"


def _log_link_overflow(expert, rows, positions, limit, beyond):
    """Where a log-link GLM expert's linear predictor on ``rows`` exceeds ``limit``.

    ``rows`` are X's rows at ``positions``. Returns the clause giving the
    largest linear predictor, its row, why it is too large (``beyond``) and
    the column whose term makes most of it, or None (another expert, or no
    linear predictor beyond ``limit``).
    """
    if sp.issparse(rows):
        rows = rows.toarray()
    eta = log_link_predictor(expert, rows)
    if eta is None:
        return None
    eta = np.where(np.isnan(eta), -np.inf, eta)
    worst = int(np.argmax(eta))
    if not eta[worst] > limit:
        return None
    column = int(np.argmax(np.abs(rows[worst] * expert.coef_)))
    return (f"its linear predictor X @ coef_ + intercept_ is {eta[worst]:.6g} at the row at "
            f"position {positions[worst]} ({beyond}), most of it the term of column {column} "
            f"of the expert's inputs ({rows[worst, column]:.4g} times a coefficient of "
            f"{expert.coef_[column]:.4g}), a value far beyond the column's usual range")


def _robust_distances(experts, X, y, own, rows):
    """How far each of ``rows`` lies from every one of the fitted ``experts``.

    Each expert's robust standard deviation is 1.4826 times the median absolute
    residual of the rows it holds (``own[i] == k``); a row's distance is its
    smallest absolute residual in those units over the experts (inf for a
    residual beyond an expert that fits its rows exactly). None when an expert
    is not fitted or predicts NaN or inf.
    """
    try:
        residuals = np.abs(y[:, None] - _expert_predictions(experts, X))
    except (AttributeError, ValueError):  # an unfitted expert (NotFittedError is both)
        return None
    distance = np.full(rows.size, np.inf)
    for k in range(len(experts)):
        held = own == k
        if not held.any():
            continue
        scale = MAD_TO_SD * np.median(residuals[held, k])
        with np.errstate(divide="ignore", invalid="ignore"):
            to_expert = np.where(residuals[rows, k] > 0, residuals[rows, k] / scale, 0.0)
        distance = np.minimum(distance, to_expert)
    return distance


def _replace_own_densities(experts, X, y, log_lik):
    """Put the log-density of experts that define ``score_samples(X, y)`` into ``log_lik``."""
    for k, expert in enumerate(experts):
        if has_own_density(expert):
            log_lik[:, k] = expert.score_samples(X, y)
