"""Experts: cloning and seeding, how sample weights reach them, and their parallel fits."""

import contextlib
import copy
import functools
import inspect
import warnings
from abc import ABCMeta, abstractmethod

import numpy as np
from joblib import effective_n_jobs
from sklearn import config_context
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import (
    GammaRegressor,
    LogisticRegression,
    PoissonRegressor,
    TweedieRegressor,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    SplineTransformer,
    StandardScaler,
)
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import has_fit_parameter
from threadpoolctl import ThreadpoolController

from ._glm_newton import fit_glm_by_newton, fits_glm_by_newton
from ._linear import fit_from_gram, fit_from_grams, fits_from_gram, gram_shift, weighted_grams
from ._logistic import fit_by_newton, fits_by_newton, logistic_data
from ._ridge import (
    blockwise_fold_sums,
    fit_scaled_ridges_from_grams,
    fits_scaled_ridge_from_gram,
    scaled_ridge_of,
)
from ._ridge import column_scale as _ridge_column_scale
from ._scaled_logistic import ScaledLogisticRegression
from ._scaling import SQUARE_SAFE, magnitude
from ._validation import _check_method_params, _routing_enabled, pipeline_final_step


class ContinuedExpert(metaclass=ABCMeta):
    """The contract of an expert whose fit the EM loop of a mixture continues.

    A mixture of experts as the expert of another mixture is fitted by EM
    itself. In each M-step of the outer mixture it must improve its weighted
    log-likelihood from where the previous M-step left it, not start again:
    restarting makes the outer M-step a new, unrelated fit, and the outer
    log-likelihood can then fall. The EM loop (``fit_experts``, and the bound
    of ``BaseMixtureOfExperts._run_em``) drives such experts through these
    methods and the fitted attribute ``converged_``.
    """

    @abstractmethod
    def _fit_m_step(self, X, y, sample_weight, init=None):
        """Fit on weighted rows: from scratch when unfitted, else continued from the fit.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            The expert's inputs.
        y : ndarray of shape (n_samples,)
            Targets.
        sample_weight : ndarray of shape (n_samples,)
            The outer responsibilities of the expert times the rows' weights.
        init : ndarray of shape (n_samples, n_components), default=None
            Initial responsibilities of the expert's own components, for a
            fit from scratch (ignored when the fit is continued).

        Returns
        -------
        self : object
            The fitted expert.
        """

    @abstractmethod
    def _objective_penalty(self):
        """The penalty the fitted expert subtracted from its weighted log-likelihood.

        The objective the expert's own fit climbs is its weighted
        log-likelihood minus this (in nats, not divided by the weights); the
        outer mixture subtracts it from its own objective too, so that each
        continued fit is an improving M-step of the outer objective.

        Returns
        -------
        penalty : float
        """


def continues(expert):
    """Whether the EM loop continues ``expert``'s fit in each M-step (:class:`ContinuedExpert`)."""
    return isinstance(expert, ContinuedExpert)


def experts_penalty(experts):
    """The summed :meth:`ContinuedExpert._objective_penalty` of the fitted ``experts``.

    Experts that are not :class:`ContinuedExpert` add nothing.
    """
    return sum(expert._objective_penalty() for expert in experts if continues(expert))


def experts_converged(experts):
    """Whether every continued expert converged in its last fit (True when there are none)."""
    return all(expert.converged_ for expert in experts if continues(expert))


def expert_templates(experts, n_experts, default):
    """The list of unfitted experts a fit starts from.

    Parameters
    ----------
    experts : estimator, list of estimators, list of (str, estimator) or None
        One estimator (cloned ``n_experts`` times), a list with one estimator
        per expert (plain, or as ``(name, estimator)`` pairs), or None for
        ``default``.
    n_experts : int or None
        Number of experts asked for; None means the length of a list, else
        :data:`DEFAULT_N_EXPERTS`.
    default : estimator
        Expert used when ``experts`` is None.

    Returns
    -------
    templates : list of estimators
        One estimator per expert (not yet cloned).

    Raises
    ------
    ValueError
        When ``n_experts`` disagrees with the length of a list.
    """
    if isinstance(experts, (list, tuple)):
        templates = [expert for _, expert in experts] if named_experts(experts) else list(experts)
        if n_experts is not None and len(templates) != n_experts:
            raise ValueError(
                f"experts is a list of {len(templates)} estimators but n_experts={n_experts}; "
                "leave n_experts=None (the length of the list) or set it to the length of "
                "the list."
            )
        return templates
    n_experts = DEFAULT_N_EXPERTS if n_experts is None else n_experts
    return [default if experts is None else experts] * n_experts


# The number of experts of a single template (or of the default expert) when
# n_experts is None.
DEFAULT_N_EXPERTS = 3


def named_experts(experts):
    """Whether ``experts`` is a non-empty list of ``(name, estimator)`` pairs.

    Raises
    ------
    TypeError
        When a list mixes pairs and plain estimators.
    """
    if not isinstance(experts, (list, tuple)) or not experts:
        return False
    pairs = [isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
             for item in experts]
    if all(pairs):
        return True
    if any(pairs):
        raise TypeError(
            "experts must be a list of estimators or a list of (name, estimator) pairs, "
            "not a mix of both."
        )
    return False


@functools.cache
def threadpool_controller():
    """The process's thread pools, inspected once: an inspection per fit costs
    milliseconds, which on small data is a large part of the fit."""
    return ThreadpoolController()


# scikit-learn's GLM regressors: convex penalised likelihoods, OpenMP losses.
_GLMS = (PoissonRegressor, GammaRegressor, TweedieRegressor)


def warm_start_glms(experts):
    """Let scikit-learn's GLM experts start each M-step from their previous fit.

    The penalised likelihood of ``PoissonRegressor``, ``GammaRegressor`` and
    ``TweedieRegressor`` is convex, so a warm start reaches the optimum its
    fit from zero reaches, in fewer solver iterations: on a Poisson mixture of
    three experts on 1,000 rows, a fit took 14 s instead of 129 s, at the same
    log-likelihood. Experts whose ``warm_start`` is already on are left alone.

    Parameters
    ----------
    experts : list of estimators
        Unfitted clones; modified in place.

    Returns
    -------
    changed : set of int
        ``id`` of each expert whose ``warm_start`` was turned on (see
        :func:`restore_warm_start`).
    """
    changed = set()
    for expert in experts:
        if isinstance(expert, _GLMS) and (
                expert.warm_start is False):
            expert.warm_start = True
            changed.add(id(expert))
    return changed


def restore_warm_start(experts, changed):
    """Turn ``warm_start`` back off on the experts :func:`warm_start_glms` changed."""
    for expert in experts:
        if id(expert) in changed:
            expert.warm_start = False


def seeded_clones(templates, random_state, prototypes=None):
    """Clone each expert and fix every ``random_state`` parameter inside it.

    Parameters
    ----------
    templates : list of estimators
        The experts to clone; they are not modified.
    random_state : numpy.random.RandomState
        Source of the seeds.
    prototypes : dict, default=None
        Kept by the caller between calls on the same templates (every start
        of a fit): what cloning each template takes is worked out once (see
        :func:`_clone_from_prototype`). None works it out in this call.

    Returns
    -------
    clones : list of estimators
        Unfitted clones, each with its own integer seeds.
    """
    clones = []
    # The seeded parameters of each distinct template: the default experts are one
    # template repeated, and get_params(deep=True) is not cheap next to a small fit.
    prototypes = {} if prototypes is None else prototypes
    for template in templates:
        expert, seeded_keys = _clone_from_prototype(template, prototypes)
        seeds = {
            key: int(random_state.randint(np.iinfo(np.int32).max))
            for key in seeded_keys
        }
        if seeds:
            expert.set_params(**seeds)
        clones.append(expert)
    return clones


def _clone_from_prototype(template, prototypes):
    """``clone(template)`` and the keys of its ``random_state`` parameters.

    ``prototypes`` (``id(template)`` -> entry) keeps, per template, the keys
    and, when the template is a plain estimator (scikit-learn's own cloning,
    and no estimator, list, tuple or set, which ``clone`` searches for
    estimators, among its parameters), a deep copy of the attributes of its
    first clone, unfitted. A clone of such a template is
    ``type(template)(**params)`` with deep copies of the parameters, and so
    is a new object given a deep copy of those attributes, which costs far
    less than ``clone`` (that asks ``inspect`` for the signature of
    ``__init__`` twice) next to a fit on small data.
    """
    entry = prototypes.get(id(template))
    if entry is None or entry[0] is not template:
        expert = clone(template)
        keys = [key for key in sorted(expert.get_params(deep=True))
                if key == "random_state" or key.endswith("__random_state")]
        plain = (getattr(type(template), "__sklearn_clone__", None)
                 is BaseEstimator.__sklearn_clone__
                 and not any(hasattr(value, "get_params")
                             or isinstance(value, (list, tuple, set, frozenset))
                             for value in validation_key(expert)[1].values()))
        state = copy.deepcopy(vars(expert)) if plain else None
        prototypes[id(template)] = (template, keys, type(expert), state)
        return expert, keys
    _, keys, cls, state = entry
    if state is None:
        return clone(template), keys
    expert = object.__new__(cls)
    expert.__dict__.update(copy.deepcopy(state))
    return expert, keys


def weight_parameter(expert):
    """Name of the fit parameter that carries sample weights into ``expert``.

    A Pipeline receives them through its final step (``<step>__sample_weight``).

    Returns
    -------
    name : str or None
        None when the expert cannot take sample weights.
    """
    if has_fit_parameter(expert, "sample_weight"):
        return "sample_weight"
    if isinstance(expert, Pipeline):
        name, last = expert.steps[-1]
        if last not in (None, "passthrough") and weight_parameter(last) == "sample_weight":
            return f"{name}__sample_weight"
    return None


def warn_unweighted(experts):
    """Warn once for each expert that will be fitted on weighted resamples.

    Returns
    -------
    routes : list of str or None
        The weight parameter of each expert (see :func:`weight_parameter`).
    """
    routes = [weight_parameter(expert) for expert in experts]
    for index, (expert, route) in enumerate(zip(experts, routes)):
        if route is None:
            warnings.warn(
                f"Expert {index} ({type(expert).__name__}) does not accept sample_weight; "
                "in every M-step it is fitted on a resample of the rows drawn with "
                "probability proportional to its responsibilities.",
                UserWarning,
                stacklevel=6,
            )
    return routes


# Transformers whose fit on the same rows gives the same result whatever the
# weights (a Pipeline routes the weights to its final step only): a Pipeline of
# these before its final step can be transformed once per fit.
_WEIGHT_FREE_TRANSFORMERS = (
    PolynomialFeatures, SplineTransformer, FunctionTransformer, StandardScaler,
    MinMaxScaler, MaxAbsScaler,
)


# Of those, the transformers whose fit does not depend on the rows it is given,
# and the increasing affine maps of each column fitted on them.
_ROW_FREE_TRANSFORMERS = (PolynomialFeatures, FunctionTransformer)
_AFFINE_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler)


def _affine_invariant(final):
    """Whether ``final``'s fits and predictions are the same when each of its input
    columns goes through an increasing affine map (least squares and ScaledRidge
    with an intercept; scikit-learn's trees, forests and gradient boosting)."""
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import BaseDecisionTree

    from ._ridge import ScaledRidge

    if type(final) in (LinearRegression, ScaledRidge):
        return bool(final.fit_intercept)
    return isinstance(final, (BaseDecisionTree, BaseForest, BaseGradientBoosting))


def shared_weight_free_prefix(templates, X, fitted_on_subsets=None):
    """The transform steps shared by every expert, fitted on ``X``, or None.

    When every expert is one and the same Pipeline template whose steps before
    the final one are all weight-free transformers (exact types, not
    subclasses), the EM loop can fit those steps once and fit the final
    steps on the transformed rows: the same experts, without transforming
    ``X`` in every M-step, and with linear final steps on the Gram path.

    A Pipeline fitted on some of the rows (a weighted resample, for a final
    step without sample weights; the training folds of cross-fitted noise)
    fits its steps on those rows. Transformed once on all the rows it would be
    another expert: a scaler before nearest neighbours gave predictions 0.55
    apart, splines before least squares a cross-fitted noise variance 17%
    smaller. Such a Pipeline is transformed once only when its steps do not
    depend on the rows (polynomial features, functions), or are affine maps of
    each column before a final step that such maps leave unchanged.

    Parameters
    ----------
    templates : list of estimators
        The experts' templates.
    X : ndarray or sparse matrix
        The experts' inputs.
    fitted_on_subsets : callable, default=None
        ``fitted_on_subsets(final, X_transformed)``: whether the mixture also
        fits the final step on some of the rows. None: never.

    Returns
    -------
    prefix : Pipeline or None
        A fitted Pipeline of the shared transform steps.
    """
    first = templates[0]
    if not (isinstance(first, Pipeline) and len(first.steps) > 1
            and all(template is first for template in templates)):
        return None
    steps = first.steps[:-1]
    if not all(type(step) in _WEIGHT_FREE_TRANSFORMERS for _, step in steps):
        return None
    prefix = Pipeline([(name, clone(step)) for name, step in steps]).fit(X)
    final = first.steps[-1][1]
    if fitted_on_subsets is not None and not all(
            type(step) in _ROW_FREE_TRANSFORMERS
            or (type(step) in _AFFINE_SCALERS and _affine_invariant(final))
            for _, step in steps) and fitted_on_subsets(final, prefix.transform(X)):
        return None
    return prefix


def with_prefix(template, prefix, final):
    """A clone of the Pipeline ``template`` made of the fitted ``prefix`` and ``final``."""
    pipeline = clone(template)
    pipeline.steps = [*copy.deepcopy(prefix.steps), (template.steps[-1][0], final)]
    return pipeline


def _method_takes(estimator, method, parameter):
    """Whether ``estimator.<method>`` exists and has a parameter named ``parameter``."""
    method = getattr(estimator, method, None)
    if method is None:
        return False
    try:
        return parameter in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def has_own_density(expert):
    """True when the expert defines ``score_samples(X, y)``, a log-density per row."""
    return _method_takes(expert, "score_samples", "y")


def accepts_return_std(estimator):
    """True when the estimator's ``predict`` takes ``return_std`` (a predictive std)."""
    return _method_takes(estimator, "predict", "return_std")


def fit_experts(experts, routes, X, y, weights, n_jobs, random_state, n_iter,
                column_scale=None, grams=True, inits=None, budget=None, unsolved=None,
                fit_params=None, validate=False, validated=None, leaf_weight=None,
                fold_sums=None):
    """Fit every expert in place on its column of ``weights``, in parallel.

    Plain LinearRegression and ScaledRidge experts on dense data are fitted
    together from their weighted Gram matrices (see ``skmoe._linear``);
    LogisticRegression experts whose objective ``skmoe._logistic`` reproduces
    by Newton's method from their previous fit, and so Poisson and Gamma GLM
    experts with ``solver="newton-cholesky"`` (``skmoe._glm_newton``); the
    others through joblib threads.

    Parameters
    ----------
    experts : list of estimators
        Unfitted or previously fitted experts (refitted).
    routes : list of str or None
        Weight parameter of each expert; None means a weighted resample.
    X, y : ndarray
        Training data.
    weights : ndarray of shape (n_samples, n_experts)
        ``sample_weight * responsibilities``.
    n_jobs : int or None
        Number of joblib workers (threads).
    random_state : numpy.random.RandomState
        Source of the resampling seeds.
    n_iter : int
        The EM iteration, named in the error when an expert fails.
    column_scale : ndarray of shape (n_features,), default=None
        ``skmoe._ridge.column_scale(X)``, computed once per fit by the caller;
        None computes it when a ScaledRidge expert, or the Newton M-step of a
        ScaledLogisticRegression expert, needs it.
    grams : bool, default=True
        Whether linear experts may be fitted from Gram matrices; False when
        the data's magnitudes would make them overflow or underflow
        (``skmoe._linear.grams_are_safe``).
    inits : list of (ndarray or None), default=None
        Initial responsibilities of each :class:`ContinuedExpert`'s components
        for its first fit (see :meth:`ContinuedExpert._fit_m_step`).
    budget : SolverBudget or None, default=None
        The EM loop's generalised-EM budget: the experts fitted by Newton's
        method take at most ``budget.newton_steps`` steps from their previous
        fit; None solves their problem to tolerance.
    unsolved : list, default=None
        If given, receives the index of each expert whose generalised-EM step
        left its problem unsolved.
    fit_params : list of dict, default=None
        Other parameters of each expert's ``fit`` (routed metadata), arrays
        of one value per row of ``X``; None means none. Experts given some
        are fitted by their own ``fit``.
    validate : bool, default=False
        Whether each distinct set of parameters of the experts fitted from
        Gram matrices is checked once by the expert's own ``fit`` (the EM
        loop asks for it in the first M-step of each run); the checked expert
        then takes the same Gram solution as the others.
    validated : list, default=None
        The sets of parameters (with the expert's class) already checked, to
        which those checked now are added: the EM loop shares one list among
        the runs of a fit, whose experts are clones of the same templates, so
        that each set is checked once per fit. None means none yet.
    leaf_weight : float, default=None
        The least weight, in the units of ``weights``, that each leaf of a
        tree expert must carry (see :func:`leaf_weight_floor`); None sets no
        floor.
    fold_sums : skmoe._ridge.FoldSumsRequest, default=None
        If given (the regressor's cross-fitted noise), the Gram matrices of
        the experts with an intercept fitted from them, when some are
        ScaledRidge, are taken fold by fold and left in it.

    Returns
    -------
    experts : list of estimators
        The fitted experts.

    Raises
    ------
    RuntimeError
        When an expert's fit raises; names the expert and the iteration, and
        chains the original exception.
    """
    seeds = [
        None if route is not None else random_state.randint(np.iinfo(np.int32).max)
        for route in routes
    ]
    if fold_sums is not None:
        fold_sums.sums = None
    fitted = (_fit_linear_experts(experts, X, y, weights, n_iter, column_scale, validate,
                                  validated, fold_sums)
              if grams else {})
    if len(fitted) == len(experts):
        return [fitted[k] for k in range(len(experts))]
    newton = [k for k, (expert, route) in enumerate(zip(experts, routes))
              if k not in fitted and not (fit_params and fit_params[k])
              and fits_by_newton(expert, X, y, route)]
    if newton:
        for k in newton:
            scale = None
            if type(experts[k]) is ScaledLogisticRegression:
                if column_scale is None:
                    column_scale = _ridge_column_scale(X)
                scale = column_scale
            data = logistic_data(X, y, scale)
            try:
                fitted[k], solved = fit_by_newton(experts[k], data, weights[:, k], budget)
            except Exception as exc:
                raise _expert_error(experts[k], k, n_iter, exc) from exc
            if not solved and unsolved is not None:
                unsolved.append(k)
    for k, (expert, route) in enumerate(zip(experts, routes)):
        if k not in fitted and not (fit_params and fit_params[k]) and fits_glm_by_newton(
                expert, X, y, route):
            glm = fit_glm_by_newton(expert, X, y, weights[:, k])
            if glm is not None:
                fitted[k] = glm
    jobs = [
        delayed(_fit_one)(expert, route, X, y, weights[:, k], seed, k, n_iter,
                          None if inits is None else inits[k],
                          None if fit_params is None else fit_params[k], leaf_weight)
        for k, (expert, route, seed) in enumerate(zip(experts, routes, seeds))
        if k not in fitted
    ]
    # Setting up joblib costs more than a whole M-step of small linear experts.
    rest = iter(Parallel(n_jobs=n_jobs, prefer="threads")(jobs) if jobs else [])
    return [fitted[k] if k in fitted else next(rest) for k in range(len(experts))]


def _fit_linear_experts(experts, X, y, weights, n_iter, column_scale, validate,
                        validated=None, fold_sums=None):
    """Fit the plain linear experts from their Gram matrices, all in one pass.

    With ``validate``, the expert's own fit first checks each distinct set of
    parameters not yet in ``validated`` (see :func:`fit_experts`) once. With
    ``fold_sums``, see :func:`fit_experts`.

    Returns
    -------
    fitted : dict
        Expert index -> fitted expert, for those fitted here; an expert whose
        problem is too ill-conditioned for the normal equations is left out
        (its own ``fit`` follows).
    """
    fitted = {}
    validated = [] if validated is None else validated
    if np.ndim(y) != 1:
        return fitted
    ridge = [fits_scaled_ridge_from_gram(expert, X) for expert in experts]
    gram = [ridge[k] or fits_from_gram(expert, X) for k, expert in enumerate(experts)]
    for fit_intercept in (True, False):
        chosen = [
            k for k, expert in enumerate(experts)
            if gram[k] and bool(expert.fit_intercept) == fit_intercept
        ]
        if not chosen:
            continue
        # Every column: the weights themselves, not a copy of them.
        columns = weights if len(chosen) == weights.shape[1] else weights[:, chosen]
        if fit_intercept and fold_sums is not None and any(ridge[k] for k in chosen):
            # The same matrices as the sums of the folds' (with the same shift).
            center, y_center = gram_shift(X, y, True)
            by_fold, positive = blockwise_fold_sums(X, y, columns, fold_sums.folds,
                                                    fold_sums.n_folds, (center, y_center),
                                                    counts=False)
            fold_sums.give(columns, chosen, by_fold, positive, (center, y_center))
            grams = by_fold.sum(axis=0)
        else:
            grams, center, y_center = weighted_grams(X, y, columns, fit_intercept)
        if not validate:
            solved, column_scale = _solve_from_grams(experts, chosen, ridge, grams, center,
                                                     y_center, column_scale, X)
            fitted.update(solved)
            continue
        direct = []  # positions in ``chosen`` of the experts solved all at once
        for position, k in enumerate(chosen):
            # Each distinct set of parameters is checked once per fit (clones of one
            # template share theirs). The checked expert then takes the solution of
            # the others, so that a run's numbers do not depend on whether it was
            # the one that checked (parallel starts race for it).
            key = validation_key(experts[k])
            if key in validated:
                direct.append(position)
                continue
            validated.append(key)
            try:
                if ridge[k]:
                    expert = experts[k].fit(X, y, sample_weight=columns[:, position])
                else:
                    expert = fit_from_gram(experts[k], grams[position], center, y_center,
                                           validate=True)
            except Exception as exc:
                raise _expert_error(experts[k], k, n_iter, exc) from exc
            if expert is not None:
                fitted[k] = expert
                direct.append(position)
        stack = grams if len(direct) == len(chosen) else grams[direct]
        solved, column_scale = _solve_from_grams(experts, [chosen[p] for p in direct], ridge,
                                                 stack, center, y_center, column_scale, X)
        fitted.update(solved)
    return fitted


def validation_key(expert):
    """What :func:`fit_experts` records of an expert whose parameters its own fit checked.

    ``(class, get_params(deep=False))``; for estimators that keep
    scikit-learn's ``get_params``, the parameters are read directly under
    the names of the class's ``__init__`` (found once per class), which is
    what ``get_params(deep=False)`` returns without its ``inspect`` call.
    """
    cls = type(expert)
    if cls.get_params is not BaseEstimator.get_params:
        return cls, expert.get_params(deep=False)
    return cls, {name: getattr(expert, name) for name in _param_names(cls)}


def all_validated(experts, validated):
    """Whether every expert's parameters are among those already checked (``validated``):
    then :func:`fit_experts` with ``validate=True`` fits them as without it."""
    return all(validation_key(expert) in validated for expert in experts)


@functools.lru_cache(maxsize=256)
def _param_names(cls):
    """``cls._get_param_names()``: the names of the parameters of ``cls.__init__``."""
    return tuple(cls._get_param_names())


def _solve_from_grams(experts, indices, ridge, grams, center, y_center, column_scale, X):
    """Fit ``experts[indices]`` from ``grams`` (theirs, in that order): the
    ScaledRidge ones (``ridge[k]``) in one solve, the plain ones in another.

    Returns
    -------
    fitted : dict
        Expert index -> fitted expert, leaving out those too ill-conditioned
        for the normal equations.
    column_scale : ndarray
        ``column_scale``, computed from ``X`` if it was None and needed.
    """
    fitted = {}
    for scaled in (True, False):
        part = [j for j, k in enumerate(indices) if bool(ridge[k]) is scaled]
        if not part:
            continue
        # The whole stack when it is all of one kind: not a copy of it.
        stack = grams if len(part) == len(indices) else grams[part]
        chosen = [experts[indices[j]] for j in part]
        if scaled:
            if column_scale is None:
                column_scale = _ridge_column_scale(X)
            solved = fit_scaled_ridges_from_grams(chosen, stack, center, y_center, column_scale)
        else:
            solved = fit_from_grams(chosen, stack, center, y_center, [False] * len(part))
        fitted.update((indices[j], expert) for j, expert in zip(part, solved)
                      if expert is not None)
    return fitted, column_scale


def _fit_one(expert, route, X, y, weight, seed, index, n_iter, init=None, params=None,
             leaf_weight=None):
    try:
        return _fit_weighted(expert, route, X, y, weight, seed, init, params, leaf_weight)
    except Exception as exc:
        raise _expert_error(expert, index, n_iter, exc,
                            _absent_class_note(expert, y, weight)) from exc


def _absent_class_note(expert, y, weight):
    """Why a classifier expert may have failed: its rows with weight lack some classes.

    The classifier's k-means start clusters X alone, and a cluster can lack a
    class or hold only one (iris' setosa is a cluster of its own). Calibrated
    SVC experts then failed at the first M-step with an IndexError from
    scikit-learn ("index 1 is out of bounds for axis 1 with size 1"), or
    ``SVC(probability=True)`` refused ("all samples with positive weights
    belong to the same class"), and the error did not say why, nor what to do.
    """
    classes = np.unique(y)
    if not is_classifier(expert) or classes.size < 2:
        return ""
    present = np.unique(y[np.asarray(weight) > 0]).size
    if present == classes.size:
        return ""
    return (f" Its rows with positive weight hold {present} of the {classes.size} classes "
            "(a start that gave it a cluster of X without the others, or an expert that "
            "lost their rows), which some classifiers cannot be fitted on. Start from a "
            "random partition (init='random'), which gives every expert rows of each "
            "class, or use experts that accept absent classes (LogisticRegression does).")


def _step_weights(route, params):
    """A context in which a Pipeline takes ``<step>__sample_weight``.

    With scikit-learn's metadata routing enabled, a Pipeline takes only the
    metadata its steps request, and refused the ``<step>__sample_weight`` that
    gives the weights to its final step alone (``Pipeline.fit got unexpected
    argument(s) {'ridge__sample_weight'}``): every Pipeline expert fitted
    through its weights failed in the first M-step. Its fit runs as without
    routing then, unless metadata is routed to it (``params``), which needs it.
    """
    if "__" in route and not params and _routing_enabled():
        return config_context(enable_metadata_routing=False)
    return contextlib.nullcontext()


def _fit_weighted(expert, route, X, y, weight, seed, init=None, params=None,
                  leaf_weight=None):
    """Fit ``expert`` with row weights: through ``route``, or on a weighted resample.

    A :class:`ContinuedExpert` continues its previous fit (see there); ``init``
    starts its first one. ``params`` are other fit parameters (routed
    metadata), resampled with the rows. A tree expert fitted through its
    weights keeps ``leaf_weight`` of them in each leaf (:func:`leaf_weight_floor`).
    """
    params = params or {}
    # One column of the (rows, experts) weights is a strided view, which some
    # experts refuse (SVR: "ndarray is not C-contiguous", blamed on the expert).
    weight = np.ascontiguousarray(weight)
    if route is not None and continues(expert):
        return expert._fit_m_step(X, y, weight, init)
    if route is not None and isinstance(expert, _GLMS):
        # scikit-learn's GLM losses run on OpenMP threads; on the small fits of
        # an M-step their spinning at barriers cost more than the work: on a busy
        # machine a Poisson mixture on 1,000 rows fitted in 3.8 s, in 0.8 s on
        # one thread.
        with threadpool_controller().limit(limits=1, user_api="openmp"):
            return expert.fit(X, y, **{route: weight}, **params)
    if route is not None:
        with leaf_weight_floor(expert, weight, leaf_weight), _step_weights(route, params):
            return expert.fit(X, y, **{route: weight}, **params)
    rng = np.random.RandomState(seed)
    rows = rng.choice(X.shape[0], size=X.shape[0], p=weight / weight.sum())
    return expert.fit(X[rows], y[rows], **_check_method_params(X, params, rows))


# The largest min_weight_fraction_leaf scikit-learn's trees accept.
_MAX_LEAF_FRACTION = 0.5


def cross_fitted_predictions(expert, X, y, weight, folds, seed, index, params=None,
                             leaf_weight=None, n_jobs=None, predict=None, what="noise variance"):
    """Each row's prediction by a clone of ``expert`` fitted without that row's fold.

    The clone is fitted on the other folds with the same weights (through the
    expert's weight parameter, or a weighted resample), as the EM loop fits the
    expert itself.

    Parameters
    ----------
    expert : estimator
        The fitted expert (not modified).
    X, y : ndarray
        Training data.
    weight : ndarray of shape (n_samples,)
        The expert's row weights.
    folds : ndarray of shape (n_samples,) of int
        The fold of each row.
    seed : int
        Seed of the resamples of experts without sample weights.
    index : int
        The expert's position, named when a fit fails.
    params : dict, default=None
        Other parameters of the expert's ``fit`` (routed metadata), indexed
        with the rows of each refit.
    leaf_weight : float, default=None
        The least weight each leaf of a tree expert's refits carries, as in
        the expert's own fit (:func:`leaf_weight_floor`).
    n_jobs : int or None, default=None
        Threads the folds' refits run on (joblib's meaning); the predictions
        do not depend on it.
    predict : callable, default=None
        ``predict(fitted, X_rows, y_rows)`` gives the value of each of those
        rows (e.g. the probability of its class); None means
        ``fitted.predict(X_rows)``.
    what : str, default="noise variance"
        What the refits estimate, named when one fails.

    Returns
    -------
    predictions : ndarray of shape (n_samples,)
        Rows of a fold whose complement has no weight are predicted by the
        expert itself.

    Raises
    ------
    RuntimeError
        When a clone's fit raises; names the expert and chains the exception.
    ValueError, TypeError or IndexError
        When a clone's prediction raises one of them: raised again, of its
        type, naming the expert and the refit (which saw fewer rows than the
        expert), the original chained.
    """
    route = weight_parameter(expert)
    if predict is None:
        def predict(fitted, X_rows, y_rows):
            return fitted.predict(X_rows)

    def predict_fold(fold):
        held_out = folds == fold
        kept = ~held_out
        if not np.any(weight[kept] > 0):
            return held_out, np.reshape(predict(expert, X[held_out], y[held_out]), -1)
        try:
            fitted = _fit_weighted(clone(expert), route, X[kept], y[kept], weight[kept], seed,
                                   params=_check_method_params(X, params or {},
                                                               np.flatnonzero(kept)),
                                   leaf_weight=leaf_weight)
        except Exception as exc:
            raise RuntimeError(
                f"Expert {index} ({type(expert).__name__}) failed to fit while its {what} "
                f"was cross-fitted: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            values = predict(fitted, X[held_out], y[held_out])
        except _NAMED_ERRORS as exc:
            if type(exc) not in _NAMED_ERRORS:
                raise
            raise _refit_prediction_error(exc, expert, index, what, int(kept.sum()),
                                          X.shape[0]) from exc
        return held_out, np.reshape(values, -1)

    fold_ids = np.unique(folds)
    if effective_n_jobs(n_jobs) == 1:
        # joblib's set-up costs more than the refits of small experts.
        parts = map(predict_fold, fold_ids)
    else:
        parts = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(predict_fold)(fold) for fold in fold_ids)
    predictions = np.empty(X.shape[0])
    for held_out, fold_predictions in parts:
        predictions[held_out] = fold_predictions
    return predictions


def _refit_prediction_error(exc, expert, index, what, n_kept, n_rows):
    """``exc``, of its type, from a refit's prediction: naming the expert and the refit.

    A refit without a fold sees fewer rows than the expert: a nearest-neighbours
    expert asked for more neighbours than those rows failed there with
    scikit-learn's bare message (``n_samples_fit = 54`` of a fit on 60 rows),
    naming no expert for the regressor, and no refit for either.
    """
    message = str(exc)
    name = f"Expert {index} ({type(expert).__name__})"
    if not message.startswith(name):
        message = f"{name} failed in predict: {message}"
    return type(exc)(
        f"{message} (in a refit of the expert on {n_kept} of the {n_rows} rows, the rows "
        f"outside one fold, while its {what} was cross-fitted)"
    )


@contextlib.contextmanager
def leaf_weight_floor(expert, weight, leaf_weight):
    """Within the block, each leaf of the tree ``expert`` must carry ``leaf_weight`` of ``weight``.

    An expert fitted on responsibility-weighted rows sees all rows, most with
    little weight. A tree's leaf-size rules (``min_samples_leaf``) count rows,
    not weight: a greedy split can end in a leaf whose rows the expert is
    barely responsible for, one outlier with a little weight and a few rows
    with almost none, and the leaf's mean, estimated from almost nothing, then
    predicts new rows. A leaf is one parameter of the tree; the EM loop asks
    ``min_rows_per_parameter`` rows of an expert per parameter, and this floor
    asks the same of each leaf, in rows' worth of weight. It raises the final
    step's ``min_weight_fraction_leaf`` (scikit-learn's trees, forests and
    gradient boosting have it) to ``leaf_weight / weight.sum()``, at most
    0.5, when that is above the expert's own setting, and restores the
    setting after the fit: the fitted expert's parameters stay the ones given.

    Parameters
    ----------
    expert : estimator
        The expert about to be fitted with ``weight`` as its sample weights.
    weight : ndarray of shape (n_samples,)
        Its row weights.
    leaf_weight : float or None
        The least weight of a leaf; None or 0 sets no floor.
    """
    final = pipeline_final_step(expert)
    own = (final.get_params(deep=False).get("min_weight_fraction_leaf")
           if leaf_weight and hasattr(final, "get_params") else None)
    total = float(np.sum(weight))
    floor = min(_MAX_LEAF_FRACTION, leaf_weight / total) if own is not None and total > 0 else 0
    if own is None or floor <= own:
        yield
        return
    final.set_params(min_weight_fraction_leaf=floor)
    try:
        yield
    finally:
        final.set_params(min_weight_fraction_leaf=own)


# The plain error types an expert's prediction may raise that are raised again
# naming the expert (each takes one message).
_NAMED_ERRORS = (ValueError, TypeError, IndexError)


def expert_output(expert, index, method, X, **kwargs):
    """``getattr(expert, method)(X, **kwargs)``, with an error that names the expert.

    A plain ValueError, TypeError or IndexError raised by an expert's
    prediction (a k-NN expert asked for more neighbours than its rows) named
    no expert; it is raised again, of the same type, with the expert's index
    and class before its message, the original chained (``__cause__``).
    Other errors pass unchanged.
    """
    try:
        return getattr(expert, method)(X, **kwargs)
    except _NAMED_ERRORS as exc:
        if type(exc) not in _NAMED_ERRORS:
            raise
        raise type(exc)(
            f"Expert {index} ({type(expert).__name__}) failed in {method}: {exc}"
        ) from exc


def _expert_error(expert, index, n_iter, exc, note=""):
    """The RuntimeError that names the expert whose fit raised ``exc`` (and ``note``,
    what may have caused it)."""
    return RuntimeError(
        f"Expert {index} ({type(expert).__name__}) failed to fit at EM iteration "
        f"{n_iter}: {type(exc).__name__}: {exc}{note}"
    )


def interpolates(expert):
    """Whether a fitted expert's in-sample residuals understate its noise.

    True for experts without a closed-form parameter count (trees, forests,
    boosting, neighbours: they can fit their training rows nearly exactly), and
    False for linear experts, whose weighted mean squared residual is the
    maximum-likelihood noise variance, and for experts with their own density.
    """
    if has_own_density(expert):
        return False
    try:
        n_expert_parameters(expert, 0)
    except ValueError:
        return True
    return False


def interpolates_when_fitted(expert, X, y):
    """:func:`interpolates` of a clone of the unfitted ``expert`` fitted on ``X``, ``y``.

    Whether an expert interpolates is a question a fitted expert answers; the
    probe's warnings are silenced (the expert's own come from its fits in the
    EM loop), and a probe that fails to fit answers True.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return interpolates(clone(expert).fit(X, y))
    except Exception:
        return True


def decided_once(answers, experts, decide):
    """``decide(expert)`` for each of ``experts``, asked once per expert object.

    An answer that depends only on an expert's class and parameters does not
    change while the EM loop refits it in place; experts refitted as clones
    are new objects, and are asked again.

    Parameters
    ----------
    answers : dict
        Kept by the caller between calls; holds the current experts' answers
        (beside each expert, so that ``is`` compares live objects) and is
        replaced by this call's.
    experts : list of estimators
    decide : callable
        ``decide(expert) -> bool``.

    Returns
    -------
    chosen : list of int
        The positions of the experts ``decide`` says yes to.
    """
    current = {}
    chosen = []
    for k, expert in enumerate(experts):
        entry = answers.get(id(expert))
        if entry is None or entry[0] is not expert:
            entry = (expert, decide(expert))
        current[id(expert)] = entry
        if entry[1]:
            chosen.append(k)
    answers.clear()
    answers.update(current)
    return chosen


def refit_may_worsen(expert):
    """Whether refitting ``expert`` on new weights may leave it worse than before.

    A greedy or randomised fit (a tree, a forest, boosting, neighbours on a
    resample, a network) is not the maximiser of its weighted objective, so its
    refit can fit the new weights worse than the expert it replaces: EM over it
    then need not climb, and can cycle. The EM loop keeps such an expert when
    its refit is worse (a generalised-EM step). Linear and GLM experts are
    exact maximisers; mixtures continue their own EM; an expert with
    ``warm_start=True`` continues its previous fit in place.
    """
    return (interpolates(expert) and not continues(expert)
            and not getattr(expert, "warm_start", False))


def glm_shortfall(expert, X, y, weight):
    """What one Newton step would still gain on a scikit-learn GLM expert's own objective.

    scikit-learn's ``PoissonRegressor``, ``GammaRegressor`` and
    ``TweedieRegressor`` with a log link minimise ``sum_i w_i d(y_i, mu_i) / (2 W)
    + alpha / 2 ||coef||^2`` (``W = sum_i w_i``). Their default solver, L-BFGS,
    can stop far from that minimum without a warning: on columns of very
    different scales (flexmix's ``salmonellaTA98``, a dose of 0 to 1000 beside its
    logarithm) it stopped after one iteration at the intercept-only fit,
    reporting convergence. The Newton decrement at the fitted coefficients
    measures the shortfall: half the gradient's norm in the metric of the Fisher
    information, times ``W``, in units of half-deviance (nats, for Poisson).

    Parameters
    ----------
    expert : estimator
        A fitted expert; only these three types themselves (not subclasses or
        Pipelines, whose columns differ) with a log link are measured.
    X : ndarray of shape (n_samples, n_features)
        The expert's columns (dense).
    y : ndarray of shape (n_samples,)
    weight : ndarray of shape (n_samples,)
        The weights it was fitted with.

    Returns
    -------
    shortfall : float or None
        The gain of one Newton step, in units of half-deviance summed over
        the weights; None when the expert is not measured.
    """
    if type(expert) not in _GLMS or not isinstance(X, np.ndarray) or X.ndim != 2:
        return None
    power = 1.0 if type(expert) is PoissonRegressor else (
        2.0 if type(expert) is GammaRegressor else float(expert.power))
    if type(expert) is TweedieRegressor and (
            expert.link == "identity" or (expert.link == "auto" and power <= 0)):
        return None
    coef = np.asarray(getattr(expert, "coef_", np.empty(0)), dtype=np.float64)
    if coef.shape != (X.shape[1],):
        return None
    total = float(weight.sum())
    if not total > 0:
        return None
    design = np.column_stack([np.ones(X.shape[0]), X]) if expert.fit_intercept else X
    params = np.concatenate([[expert.intercept_], coef]) if expert.fit_intercept else coef
    with np.errstate(over="ignore", invalid="ignore"):
        mu = np.exp(design @ params)
        gradient = design.T @ (weight * (mu - y) * mu ** (1 - power)) / total
        information = design.T @ (design * (weight * mu ** (2 - power))[:, None]) / total
    penalty = np.full(params.shape[0], float(expert.alpha))
    if expert.fit_intercept:
        penalty[0] = 0.0
    gradient = gradient + penalty * params
    information[np.diag_indices_from(information)] += penalty
    if not (np.all(np.isfinite(gradient)) and np.all(np.isfinite(information))):
        return None
    # In units of the columns' spread, where the information is well conditioned.
    scale = np.sqrt(np.maximum(np.diag(information), np.finfo(float).tiny))
    step = np.linalg.lstsq(information / np.outer(scale, scale), gradient / scale,
                           rcond=None)[0]
    return 0.5 * total * float(gradient / scale @ step)


def n_expert_parameters(expert, index, rank=None):
    """Free parameters of a fitted expert, for bic and aic.

    Linear experts count their coefficients and intercepts, each row of
    coefficients only as many as ``rank`` (the rank of the design it was fitted
    on, its columns centred when it fits an intercept): a constant or duplicated
    column adds nothing that is estimable. A DummyRegressor counts its one
    constant (none with ``strategy="constant"``, which is given, not fitted), a
    DummyClassifier its class frequencies, a GaussianNB its class priors (unless
    given), and a mean and a variance per class and feature. An expert that counts its own
    (``_n_parameters``, as the mixtures do) is asked; a Pipeline counts its
    final step. Other experts have no honest count.

    Parameters
    ----------
    expert : estimator
        A fitted expert.
    index : int
        Its position among the experts, for the error message.
    rank : int, default=None
        Rank of the (centred) design of a linear expert; None means its number
        of coefficients.

    Raises
    ------
    ValueError
        When the expert's parameters cannot be counted.
    """
    if isinstance(expert, Pipeline):
        return n_expert_parameters(expert.steps[-1][1], index, rank)
    own = getattr(expert, "_n_parameters", None)
    if callable(own):
        return int(own())
    if isinstance(expert, DummyRegressor):
        return 0 if expert.strategy == "constant" else int(np.size(expert.constant_))
    if isinstance(expert, DummyClassifier):
        if expert.strategy in ("uniform", "constant"):
            return 0
        return int(np.size(expert.classes_)) - 1
    if isinstance(expert, GaussianNB):
        n_classes = int(np.size(expert.classes_))
        priors = 0 if expert.priors is not None else n_classes - 1
        return priors + 2 * int(np.size(expert.theta_))
    if hasattr(expert, "coef_"):
        coef = np.atleast_2d(expert.coef_)
        n_rows, n_features = coef.shape
        if rank is not None:
            n_features = min(n_features, int(rank))
        with_intercept = getattr(expert, "fit_intercept", True) and hasattr(expert, "intercept_")
        if isinstance(expert, LogisticRegression) and n_rows > 2:
            # Multinomial: softmax is invariant to a shift of all classes' rows.
            n_rows -= 1
        return n_rows * (n_features + int(with_intercept))
    raise ValueError(
        f"bic and aic need the number of free parameters of every expert; expert {index} "
        f"({describe_expert(expert)}) has no such count. Use linear experts, or compare "
        "models by held-out score_samples."
    )


def describe_expert(expert):
    """The expert's class name, and the final step's for a Pipeline."""
    if isinstance(expert, Pipeline):
        return f"a Pipeline ending in {type(expert.steps[-1][1]).__name__}"
    return type(expert).__name__


def linear_final_step(expert):
    """The fitted expert's final step when it is linear (has ``coef_``), else None."""
    final = expert.steps[-1][1] if isinstance(expert, Pipeline) else expert
    if hasattr(final, "coef_") and not callable(getattr(final, "_n_parameters", None)):
        return final
    return None


def design_rank(X, sample_weight, center):
    """Rank of the rows of ``X`` with positive weight, their columns centred if ``center``.

    From the cross-product of the columns (one BLAS pass over X, no copy of it
    when every weight is positive and the columns' squares are normal
    numbers; otherwise of the columns divided by their :func:`magnitude`, as
    the rank does not depend on the columns' units: columns of ``1e160`` or
    ``1e-170`` overflowed or underflowed, and counted as constant): a column
    whose centred sum of squares is at most ``1e-12`` of its raw one (a
    constant column) counts as zero; the others are scaled to unit sum of
    squares, and the rank is the number of eigenvalues of their (correlation)
    matrix above ``1e-8`` times the largest.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Dense design.
    sample_weight : ndarray of shape (n_samples,)
        Row weights; rows of weight zero are left out.
    center : bool
        Centre the columns (the model fits an intercept).

    Returns
    -------
    rank : int
    """
    positive = sample_weight > 0
    if not positive.all():
        X = X[positive]
    n_rows = X.shape[0]
    if X.shape[1] == 0 or n_rows == 0:
        return 0
    unit = magnitude(X)
    if np.any((unit < SQUARE_SAFE[0]) | (unit > SQUARE_SAFE[1])):
        X = np.asarray(X, dtype=np.float64) / unit
    raw = np.asarray(X.T @ X, dtype=np.float64)
    gram = raw
    if center:
        mean = np.asarray(X.sum(axis=0), dtype=np.float64).ravel() / n_rows
        gram = raw - n_rows * np.outer(mean, mean)
    spread = np.diag(gram)
    live = spread > 1e-12 * np.maximum(np.diag(raw), np.finfo(float).tiny)
    if not live.any():
        return 0
    scale = np.sqrt(spread[live])
    correlation = gram[np.ix_(live, live)] / np.outer(scale, scale)
    eigenvalues = np.linalg.eigvalsh(correlation)
    return int(np.sum(eigenvalues > 1e-8 * eigenvalues.max()))


def n_fitted_parameters(expert):
    """Parameters a fitted expert estimated, for the EM loop's rows-per-parameter rule.

    A ScaledRidge's effective degrees of freedom (its penalty makes the
    nominal count overstate what it can fit); the count
    :func:`n_expert_parameters` gives where there is one; a tree's number of
    leaves (one mean each); otherwise 1, the least any expert fits.

    Parameters
    ----------
    expert : estimator
        A fitted expert.

    Returns
    -------
    n_parameters : float
    """
    ridge = scaled_ridge_of(expert)
    if ridge is not None:
        return ridge.effective_dof_
    try:
        return n_expert_parameters(expert, 0)
    except ValueError:
        pass
    final = expert.steps[-1][1] if isinstance(expert, Pipeline) else expert
    if hasattr(final, "get_n_leaves") and hasattr(final, "tree_"):
        return int(final.get_n_leaves())
    return 1
