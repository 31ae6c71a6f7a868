"""The EM engine shared by the mixture-of-experts estimators.

Only this module knows the loop: initial responsibilities -> [M-step experts ->
likelihood parameters -> M-step gate -> E-step kernel -> convergence] -> best
start kept -> fitted attributes. The regressor and the classifier fill small
hooks: their default expert, how an expert is checked, and their likelihood.
"""

import copy
import functools
import itertools
import math
import os
import sys
import time
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import joblib
import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from joblib import effective_n_jobs
from sklearn.base import MetaEstimatorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from ._docstrings import _SHARED, fill_doc
from ._experts import (
    ContinuedExpert,
    all_validated,
    decided_once,
    describe_expert,
    design_rank,
    expert_templates,
    experts_converged,
    experts_penalty,
    fit_experts,
    glm_shortfall,
    linear_final_step,
    n_expert_parameters,
    n_fitted_parameters,
    named_experts,
    refit_may_worsen,
    restore_warm_start,
    seeded_clones,
    shared_weight_free_prefix,
    threadpool_controller,
    warm_start_glms,
    warn_unweighted,
    weight_parameter,
    with_prefix,
)
from ._gate import (
    ClassifierGate,
    ConstantGate,
    SoftmaxGate,
    TransposedRows,
    check_solver_input,
    newton_is_cheap,
)
from ._gate_base import BaseGate, SolverBudget
from ._init import (
    EMEM_SHORT_ITER,
    EMEM_SHORT_RUNS,
    far_rows,
    initial_responsibilities,
    kmeans_partitions,
    leave_out_far_targets,
    random_partition,
    start_strategy,
)
from ._kernels import e_step, kernel_threads, top_k_route
from ._linear import grams_are_safe
from ._logistic import release_logistic_data
from ._ridge import ScaledRidge, column_scale, one_row_spreads
from ._scaled_logistic import ScaledLogisticRegression
from ._scaling import DENSE_COPY_MAX_ENTRIES, fit_standard_scaler
from ._serving import softmax_gate_proba
from ._squarem import Squarem
from ._validation import (
    HasMethods,
    Interval,
    StrOptions,
    _BaseComposition,
    _check_method_params,
    _fit_context,
    _raise_for_params,
    _routing_enabled,
    check_fit_weight_scale,
    check_float32_columns,
    check_is_estimator,
    check_n_samples,
    check_no_bool_numbers,
    check_no_datetimes,
    check_responsibilities,
    check_resumed_columns,
    check_sample_weight,
    check_sparse_input,
    int32_sparse_indices,
    is_sparse_frame,
    no_gate_inputs,
    resolve_columns,
)

_SEED_MAX = np.iinfo(np.int32).max
# The packages between a user's line and the fit that warns: this one, and
# scikit-learn's and joblib's meta-estimators, model selection and dispatch.
_LIBRARY_DIRS = tuple(os.path.dirname(module.__file__) + os.sep
                      for module in (sys.modules[__package__], sklearn, joblib))
# What the gate's (and Newton-fitted LogisticRegression experts') solver may do in
# one M-step while the log-likelihood still moves: a generalised-EM step. Three
# L-BFGS iterations keep the objective rising while the responsibilities move, at
# far less cost than a solve to tolerance; one Newton step goes at least as far
# (fits take as many EM iterations or fewer) and costs less while the Hessian is
# small.
EM_STEP_BUDGET = SolverBudget(newton_steps=1, lbfgs_iterations=3)
# The parameters a warm start ignores: the resumed model keeps its experts, gate and columns.
_IGNORED_ON_RESUME = ("experts", "n_experts", "gate", "gate_features", "expert_features",
                      "init", "n_init")
# Starts whose final total log-likelihood is within this many nats of the best
# one reached the same optimum, for ``n_starts_at_best_``.
_SAME_OPTIMUM_NATS = 0.01
# scikit-learn's GLM regressors, whose own fits _warn_glm_experts_short checks.
_GLM_TYPES = (PoissonRegressor, GammaRegressor, TweedieRegressor)
# Messages name at most this many rows or columns.
_FEW_ROWS = 5
# A tree start scores at most this many groupings of the flat mixture's experts
# (a random sample of them when there are more).
_MAX_GROUPINGS = 100
# Parameters in which the mixtures under one tree may differ: a tree start fits
# one flat mixture of all their experts.
_TREE_FREE_PARAMETERS = ("experts", "n_experts", "random_state")


class _Workspace:
    """Arrays of one EM start reused from iteration to iteration.

    A fresh (n_samples, n_experts) array every iteration would be new memory
    each time (pages the system must find and zero); these are made once,
    and again only when their shape changes (an expert was removed).
    """

    def __init__(self):
        self._arrays = {}

    def array(self, name, shape):
        """The float64 array called ``name``, of ``shape``; its content is undefined."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape:
            array = self._arrays[name] = np.empty(shape)
        return array


class _Run:
    """The state of one EM start."""

    def __init__(self, experts, routes, gate, params):
        self.experts = experts
        self.routes = routes
        self.gate = gate
        self.params = params
        self.workspace = _Workspace()
        self.lower_bounds = []
        # The penalty subtracted from the summed log-likelihood at the last bound.
        self.penalty = 0.0
        self.converged = False
        self.n_iter = 0
        self.responsibility_total = None
        self.gate_share = None
        # Why experts were removed, warned about only if this start is the one kept.
        self.removals = []
        # id() of the experts whose warm_start EM turned on (see warm_start_glms).
        self.warm_started = set()
        # Initial responsibilities of each expert's own components (mixtures as
        # experts, from a tree start), used by the first M-step only.
        self.expert_inits = None
        # This start's copy of the likelihood's context (see _likelihood_m_step).
        self.context = None
        # The template each expert came from (its index in the experts asked for):
        # where its routed fit parameters are found after removals.
        self.origins = list(range(len(experts)))

    @property
    def lower_bound(self):
        return self.lower_bounds[-1] if self.lower_bounds else -np.inf


class _FitData:
    """What every EM start of one fit sees: the data, the experts' and gate's views, constants."""

    def __init__(self, X, X_expert, X_gate, y, sample_weight, context, expert_scale, grams,
                 groups=None, expert_params=None):
        self.X = X
        # Fit parameters routed to each expert template (dicts), by template index.
        self.expert_params = expert_params
        # The rows' groups (_Groups), or None: every row its own observation.
        self.groups = groups
        # Whether linear experts may be fitted from Gram matrices (see grams_are_safe).
        self.grams = grams
        self.X_expert = X_expert
        self.expert_scale = expert_scale
        self.X_gate = X_gate
        self.y = y
        self.sample_weight = sample_weight
        self.context = context
        # The experts' parameters their own fit has checked, shared by every run
        # (see fit_experts): each set is checked in the first run that meets it.
        self.validated = []
        # How each template is cloned, worked out once for all the runs (see seeded_clones).
        self.prototypes = {}


class _Groups:
    """The groups of a grouped mixture: which rows share one latent expert.

    All rows of a group share one responsibility vector: the E-step sums
    their (weighted) log-likelihoods under each expert before the softmax,
    and the gate sees one row per group.

    Parameters
    ----------
    codes : ndarray of shape (n_samples,)
        The group of each row, as an index into ``labels``.
    labels : ndarray of shape (n_groups,)
        The group labels, as given.
    """

    def __init__(self, codes, labels):
        self.codes = codes
        self.labels = labels
        self.n_groups = labels.shape[0]
        self.order = np.argsort(codes, kind="stable")
        self.counts = np.bincount(codes, minlength=self.n_groups)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.intp)
        # One row of each group: where the gate reads the group's inputs.
        self.first = self.order[self.starts]
        self.weight = np.ones(self.n_groups)

    def sum_rows(self, values, sample_weight):
        """``sum_{i in g} w_i values[i]`` for each group g (rows of weight 0 add nothing)."""
        weighted = np.where(sample_weight[:, None] > 0, values * sample_weight[:, None], 0.0)
        return np.ascontiguousarray(np.add.reduceat(weighted[self.order], self.starts, axis=0))

    def expand(self, values):
        """Group values (n_groups, ...) repeated for each row (n_samples, ...)."""
        return np.ascontiguousarray(values[self.codes])

    def e_step(self, log_gate, log_lik, sample_weight):
        """The grouped E-step: ``(resp, total)``, row responsibilities and the total.

        ``log_gate`` has one row per group, ``log_lik`` one per row; the
        total is ``sum_g log sum_k g_k exp(sum_{i in g} w_i log p_k(y_i | x_i))``.
        """
        group_lik = self.sum_rows(log_lik, sample_weight)
        resp = np.empty_like(group_lik)
        total = e_step(np.ascontiguousarray(log_gate), group_lik, self.weight, resp,
                       np.empty(self.n_groups))
        return self.expand(resp), total

    def start(self, resp, sample_weight):
        """Initial responsibilities of rows given per row: each group of several
        rows starts wholly with the expert its rows' weighted mean favours.

        An expert that no group favours (as when the rows' clusters cut across
        every group: binomial data as weighted rows, whose clusters are the
        labels) is given the group that favours it most among those of experts
        with groups to spare, while there are groups enough: left empty, it was
        removed in the first iteration, and the start had one expert fewer.

        Rows the start leaves out (a row of zeros: a far ``y``, see
        :func:`~skmoe._init.leave_out_far_targets`) stay out: they neither
        choose their group's expert nor are given it.
        """
        left_out = ~resp.any(axis=1)
        total = np.add.reduceat(sample_weight[self.order], self.starts)
        mean = self.sum_rows(resp, sample_weight)
        fraction = mean / np.maximum(total[:, None], np.finfo(float).tiny)
        hard = np.zeros_like(mean)
        chosen = mean.argmax(axis=1)
        hard[np.arange(self.n_groups), chosen] = 1.0
        single = self.counts == 1
        hard[single] = fraction[single]
        hard[single & (total == 0)] = 1.0 / resp.shape[1]
        # Groups of several rows, every one left out, hold no expert.
        several = ~single & mean.any(axis=1)
        hard[~single & ~several] = 0.0
        n_experts = resp.shape[1]
        if self.n_groups >= n_experts:
            for k in np.flatnonzero(hard.sum(axis=0) == 0):
                held = np.bincount(chosen[several], minlength=n_experts)
                spare = several & (held[chosen] > 1)
                if not spare.any():
                    break
                g = int(np.argmax(np.where(spare, fraction[:, k], -np.inf)))
                hard[g] = 0.0
                hard[g, k] = 1.0
                chosen[g] = k
        start = self.expand(hard)
        start[left_out] = 0.0
        return start


def _joblib_backend_is_dask():
    """Whether joblib's active backend runs on a Dask cluster (``parallel_config``)."""
    from joblib.parallel import get_active_backend

    return type(get_active_backend()[0]).__name__ == "DaskDistributedBackend"


def _is_dask(value):
    """Whether ``value`` is a Dask collection, without importing Dask."""
    return type(value).__module__.split(".")[0] in ("dask", "dask_expr")


def dask_blockwise(method):
    """Run a prediction method block by block when X is a Dask collection.

    The result is then a Dask array computed lazily, one block of rows at a
    time (see ``skmoe._dask.predict_blockwise``); Dask is imported only then.
    """
    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if _is_dask(X):
            from ._dask import predict_blockwise

            return predict_blockwise(self, method.__name__, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)

    return wrapper


def check_groups(groups, n_samples):
    """Validate ``groups`` given to fit or a prediction method: a :class:`_Groups` or None.

    Raises
    ------
    ValueError
        When ``groups`` is not one label per row, or holds a missing value.
    """
    if groups is None:
        return None
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ValueError(
            f"groups must be one label per row, of shape (n_samples,)=({n_samples},); got "
            f"an array of shape {labels.shape}."
        )
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError("groups must not contain NaN.")
    # pd.isna: ``label != label`` of pd.NA raised "boolean value of NA is ambiguous".
    if labels.dtype.kind == "O" and pd.isna(labels).any():
        raise ValueError("groups must not contain missing values (None, NaN or pd.NA).")
    try:
        unique, codes = np.unique(labels, return_inverse=True)
    except TypeError as exc:
        raise TypeError(f"groups must hold labels of one comparable type: {exc}") from exc
    return _Groups(codes.astype(np.intp), unique)


def check_gate_constant_within_groups(X, columns, groups, feature_names):
    """Refuse gate columns that vary within a group: the gate sees one row per group.

    Raises
    ------
    ValueError
        Naming the first gate feature that varies, and a group where it does.
    """
    if columns.size == 0:
        return
    values = _columns(X, columns)
    if sp.issparse(values):
        values = values.toarray()
    values = np.asarray(values, dtype=np.float64)
    reference = values[groups.first][groups.codes]
    differs = ~((values == reference) | (np.isnan(values) & np.isnan(reference)))
    if not differs.any():
        return
    row, column = np.argwhere(differs)[0]
    index = int(columns[column])
    name = repr(str(feature_names[index])) if feature_names is not None else str(index)
    raise ValueError(
        "With groups, the gate sees one row per group, so its columns must be constant "
        f"within each group; gate feature {name} varies within group "
        f"{groups.labels[groups.codes[row]].tolist()!r}. Pass gate_features that are constant "
        "within groups, or gate_features=[] for mixing proportions only."
    )


def _columns(X, columns):
    """The given columns of X (X itself when they are all of them, in order)."""
    if columns.shape[0] == X.shape[1] and np.array_equal(columns, np.arange(X.shape[1])):
        return X
    return X[:, columns]


def _same_setting(a, b):
    """Whether two values of a parameter are the same setting (estimators by their parameters)."""
    if hasattr(a, "get_params") or hasattr(b, "get_params"):
        return (type(a) is type(b)
                and _same_setting(a.get_params(deep=False), b.get_params(deep=False)))
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(_same_setting(a[key], b[key]) for key in a))
    if isinstance(a, np.random.RandomState) or isinstance(b, np.random.RandomState):
        return (isinstance(a, np.random.RandomState) and isinstance(b, np.random.RandomState)
                and _same_setting(a.get_state(), b.get_state()))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_setting(x, y) for x, y in zip(a, b))
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except (TypeError, ValueError):
            return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _fit_gate_scaler(X_gate, sample_weight, gate, n_experts):
    """The scaler of the gate's columns ``X_gate``: centred, but for sparse columns
    that stay sparse.

    Sparse columns are made dense (and centred) for a :class:`SoftmaxGate`
    that would train on them dense by Newton's method (``solver="auto"``
    on a small enough gate) while the copy is small
    (``DENSE_COPY_MAX_ENTRIES``): the fit on sparse rows is then the fit on
    the same rows dense. Rows given later are made dense likewise (see
    :func:`_standardised_gate_rows`). Other gates keep sparse columns, which
    L-BFGS takes at the cost of their non-zero entries.
    """
    n_samples, n_columns = X_gate.shape
    if (sp.issparse(X_gate) and isinstance(gate, SoftmaxGate) and gate.solver == "auto"
            and n_samples * n_columns <= DENSE_COPY_MAX_ENTRIES
            and newton_is_cheap(n_samples, n_experts * (n_columns + 1))):
        X_gate = X_gate.toarray()
    return fit_standard_scaler(X_gate, sample_weight, with_mean=not sp.issparse(X_gate))


def _standardised_gate_rows(X, columns, scaler, gate):
    """The gate's columns of X, standardised, in the layout the gate trains on.

    A SoftmaxGate on dense data gets them transposed (:class:`TransposedRows`),
    made in place from one copy of the columns: the only copy of X the gate
    needs for the whole fit. A gate without inputs gets rows without columns.
    """
    if columns.size == 0:
        return np.empty((X.shape[0], 0))
    X_gate = _columns(X, columns)
    if sp.issparse(X_gate) and scaler.with_mean:
        # Sparse rows whose gate sees its columns centred (see _fit_gate_scaler, or
        # a fit on dense rows resumed): made dense (the gate's columns only), as at
        # predict time.
        X_gate = X_gate.toarray()
    if sp.issparse(X_gate) or not isinstance(gate, SoftmaxGate):
        return scaler.transform(X_gate)
    # A copy whatever the shape: with one column X.T would already be contiguous.
    X_t = np.array(X_gate.T, dtype=np.float64, order="C", copy=True)
    # StandardScaler.transform's operations, on the transposed copy.
    X_t -= scaler.mean_[:, None]
    X_t /= scaler.scale_[:, None]
    return TransposedRows(X_t)


def _all_accept(parts, tag):
    """Whether every estimator in ``parts`` has the input tag ``tag`` (sparse, allow_nan)."""
    return all(
        hasattr(part, "__sklearn_tags__") and getattr(get_tags(part).input_tags, tag)
        for part in parts
    )


class BaseMixtureOfExperts(MetaEstimatorMixin, _BaseComposition, ContinuedExpert,
                           metaclass=ABCMeta):
    """Base class of the mixtures of experts; not for direct use."""

    _parameter_constraints: dict = {
        "experts": [None, HasMethods(["fit", "predict"]), list, tuple],
        "n_experts": [None, Interval(Integral, 1, None, closed="left")],
        "gate": [None, HasMethods(["fit", "predict_proba"])],
        "gate_features": [None, "array-like"],
        "expert_features": [None, "array-like"],
        "assignment": [StrOptions({"soft", "hard", "stochastic"})],
        "init": [StrOptions({"auto", "kmeans", "random", "emem"}), "array-like"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "min_expert_weight": [Interval(Real, 0, 1, closed="left")],
        "min_rows_per_parameter": [Interval(Real, 0, None, closed="left")],
        # As joblib: 0 jobs has no meaning (its error came after the checks of X).
        "n_jobs": [None, Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "top_k": [None, Interval(Integral, 1, None, closed="left")],
        "step_size_decay": [Interval(Real, 0.5, 1, closed="right")],
    }

    @abstractmethod
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
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        top_k=None,
        step_size_decay=0.7,
    ):
        self.experts = experts
        self.n_experts = n_experts
        self.gate = gate
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.assignment = assignment
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.min_expert_weight = min_expert_weight
        self.min_rows_per_parameter = min_rows_per_parameter
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.top_k = top_k
        self.step_size_decay = step_size_decay

    # Entries of the likelihood's context (see _likelihood_context) that define the
    # objective, computed from the weights of a fit: a continued fit keeps them.
    _OBJECTIVE_CONSTANTS = ()

    # ------------------------------------------------------------ parameters
    def _expert_templates(self):
        """The unfitted experts, one per expert (see :func:`~skmoe._experts.expert_templates`).

        Raises
        ------
        ValueError
            When a list of experts is empty, its names are invalid (not
            unique, with ``__``, or a constructor parameter's), or its length
            disagrees with ``n_experts``.
        """
        if isinstance(self.experts, (list, tuple)):
            if not self.experts:
                raise ValueError(
                    "experts is an empty list; give at least one estimator, or None for "
                    "the default expert."
                )
            if named_experts(self.experts):
                self._validate_names([name for name, _ in self.experts])
        return expert_templates(self.experts, self.n_experts, self._default_expert())

    def _validate_params(self):
        super()._validate_params()
        check_no_bool_numbers(self)

    def get_params(self, deep=True):
        """Get parameters for this estimator.

        With ``experts`` given as ``(name, estimator)`` pairs, ``deep=True``
        also returns each named expert (``name``) and its parameters
        (``name__param``), as ``StackingRegressor`` does for its estimators.

        Parameters
        ----------
        deep : bool, default=True
            If True, will return the parameters for this estimator and
            contained subobjects that are estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        if _named(self.experts):
            return self._get_params("experts", deep=deep)
        return super().get_params(deep=deep)

    def set_params(self, **params):
        """Set the parameters of this estimator.

        Nested parameters take the form ``<component>__<parameter>``:
        ``experts__alpha`` for a single expert template, ``<name>__alpha``
        (or ``<name>`` for the whole expert) for experts given as
        ``(name, estimator)`` pairs, ``gate__C`` for the gate. With
        ``gate=None`` (the default), ``gate__<parameter>`` first sets the gate
        to the default ``SoftmaxGate()``; with ``experts=None``,
        ``experts__<parameter>`` first sets ``experts`` to the default expert.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
            Estimator instance.

        Raises
        ------
        ValueError
            For ``experts__<...>`` when ``experts`` is a list without names.
        """
        for name in ("experts", "gate"):
            if name in params:
                setattr(self, name, params.pop(name))
        if isinstance(self.experts, tuple) and _named(self.experts):
            # Named experts are replaced in a list, as scikit-learn's compositions do.
            self.experts = list(self.experts)
        nested = {key.partition("__")[0] for key in params if "__" in key}
        if "gate" in nested and self.gate is None:
            self.gate = SoftmaxGate()
        if "experts" in nested:
            if self.experts is None:
                self.experts = self._default_expert()
            elif isinstance(self.experts, (list, tuple)):
                keys = sorted(key for key in params if key.startswith("experts__"))
                raise ValueError(
                    f"Cannot set {', '.join(keys)}: experts is a list without names, "
                    "whose experts have no parameter names. Give experts as (name, "
                    "estimator) pairs, e.g. experts=[('ridge', Ridge()), ('tree', "
                    "DecisionTreeRegressor())], and set ridge__alpha=..., or set experts "
                    "to a new list."
                )
        return self._set_params("experts", **params)

    # ----------------------------------------------------------------- hooks
    @abstractmethod
    def _default_expert(self):
        """The expert used when ``experts`` is None."""

    @abstractmethod
    def _check_expert(self, expert, index):
        """Raise TypeError when ``expert`` cannot serve as an expert of this estimator."""

    @abstractmethod
    def _validate_fit_data(self, X, y, resume, **check_params):
        """Validate X and y at fit; return X (float64) and y as the likelihood needs it.

        ``resume``: whether the fit resumes the fitted model (whose family or
        classes must then not change).

        ``check_params`` go to ``validate_data`` (sparse input, NaN, minimum rows).
        """

    def _check_fit_targets(self, y, sample_weight):
        """Refuse, before any work, validated targets the likelihood cannot represent.

        Nothing to check by default; the regressor checks the spread of y.
        """

    @abstractmethod
    def _validate_targets(self, y, n_samples):
        """Validate and encode y given at predict time (``score_samples``)."""

    def _init_targets(self, y):
        """Numeric view of y used by the k-means initialisation.

        None by default: k-means then sees X alone.
        """
        return None

    def _likelihood_context(self, X, y, sample_weight):
        """Constants of the likelihood computed once per fit (e.g. a variance floor).

        An empty dict by default.
        """
        return {}

    @abstractmethod
    def _likelihood_m_step(self, experts, X, y, weights, fit_weights, context, workspace):
        """Update the likelihood parameters after the experts' fits.

        ``weights`` are the rows' responsibilities times their sample weights;
        ``fit_weights`` the weights the experts were fitted with (see
        :meth:`_expert_fit_weights`), which clones refitted here must use too.
        ``context`` is this start's own copy of :meth:`_likelihood_context`: the
        hook may add to it what it fixes at the start's first M-step.

        Returns ``(params, log_lik)``: a dict of per-expert arrays stored as
        fitted attributes under their keys, and the (n_samples, n_experts)
        log-likelihood of each row under each expert, written into
        ``workspace.array("log_lik", ...)`` (other large arrays come from the
        workspace too).
        """

    @abstractmethod
    def _log_likelihood(self, experts, params, X, y):
        """Log-likelihood (n_samples, n_experts) of each row under each fitted expert."""

    def _fast_m_step(self, experts, data, context):
        """An object that performs this run's M-step for ``experts`` with less work, or None.

        Its ``m_step(targets, sample_weight, weights, log_lik)`` refits the
        experts and returns the likelihood's parameters, with ``weights`` and
        ``log_lik`` filled as the general M-step fills them, and the same
        numbers; or returns None, touching no expert, and the general M-step
        follows (see :class:`~skmoe._linear_em.LinearGaussianMStep`). Its
        ``keep()`` is called when the loop keeps that M-step (no expert
        removed after it), to fix what the first M-step of a start fixes in
        ``context``. The EM loop asks once per run, when the experts'
        parameters have been checked, and again after experts are removed;
        None by default.
        """
        return None

    def _expert_fit_weights(self, experts, params, weights, context, workspace):
        """The sample weights each expert is fitted with: ``weights`` unless the
        likelihood rescales some columns (see :meth:`_likelihood_penalty`)."""
        return weights

    def _likelihood_penalty(self, experts, params, context):
        """The experts' penalty subtracted from the log-likelihood in the EM objective.

        0 unless the likelihood knows the experts' penalties (the regressor's
        ScaledRidge experts, the classifier's LogisticRegression and
        ScaledLogisticRegression experts); with
        it, the objective that EM climbs is the penalised log-likelihood whose
        M-steps the experts solve, given the weights of
        :meth:`_expert_fit_weights`.
        """
        return 0.0

    def _expert_enters_likelihood(self, index):
        """Whether fitted expert ``index``'s own parameters enter the likelihood (and
        so count in bic and aic). True by default."""
        return True

    def _expert_likelihood_parameters(self, expert):
        """Free parameters the likelihood adds to a fitted ``expert`` (e.g. its noise variance).

        0 by default.
        """
        return 0

    def _fitted_likelihood_warning(self, run, data):
        """The text of a warning when the likelihood's parameters of the start kept
        (``run``) are set by a bound of the fit rather than by ``data`` (the
        :class:`_FitData` of the fit; None for a fit on a Dask collection, whose rows
        are not in memory); None when they are not.

        None by default; the regressor's says which noise ended at its floor, and why.
        """
        return None

    def _far_rows_note(self, experts, data, own, rows):
        """What the likelihood says of ``rows``, held by a removed expert, under the
        fitted ``experts`` that remain (``own[i]``: the index among them of the one
        most responsible for row ``i``, -1 for rows of removed experts): a sentence
        ending in a space, or "". Nothing by default."""
        return ""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            parts = self._parts()
            tags.input_tags.allow_nan = _all_accept(parts, "allow_nan")
            tags.input_tags.sparse = _all_accept(parts, "sparse")
        except (TypeError, ValueError, AttributeError):
            # Invalid parameters: fit will say what is wrong.
            pass
        return tags

    def _parts(self):
        """The experts' templates and the gate, whose tags the estimator's derive from."""
        return [
            *self._expert_templates(),
            self.gate if self.gate is not None else SoftmaxGate(),
        ]

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, groups=None, **fit_params):
        """Fit the mixture of experts by EM.

        The fit is atomic: if it raises or is interrupted, a previously fitted
        estimator keeps exactly the state it had.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs. Sparse matrices are accepted when every expert
            and the gate accept them; NaN is accepted when every expert and
            the gate accept it (e.g. histogram gradient boosting).
        y : array-like of shape (n_samples,)
            Training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; they multiply the responsibilities in every M-step
            and each row's term of the log-likelihood. None means unit weights.
            They count rows: a row of weight 2 counts as two identical rows,
            and the penalties of the experts and the gate count rows of unit
            weight (as do ``bic``, ``aic`` and ``standard_errors``). Weights
            worth fewer rows than ``min_rows_per_parameter`` times the fitted
            parameters, on more rows than that, are warned about: multiply
            relative weights (summing to one, say) by
            ``n_samples / sample_weight.sum()``. With ``groups``, they weight
            each row's log-likelihood within its group (a row of weight 2
            counts as two identical rows of the group), and each group counts
            once.
        groups : array-like of shape (n_samples,), default=None
            Group labels (flexmix's ``y ~ x | group``): all rows of a group
            belong to the same expert, as in repeated measures or
            multi-centre trials. The E-step sums the rows' log-likelihoods
            within each group before the softmax, so a group has one
            responsibility vector; the gate sees one row per group, and its
            columns (``gate_features``) must be constant within each group.
            Each group starts wholly with one expert (the one its rows'
            initial responsibilities favour most). None means every row is
            its own group. Prediction stays per row.
        **fit_params : dict
            Other parameters of the experts' and the gate's ``fit``, routed to
            those that request them (``set_fit_request``); only with
            ``sklearn.set_config(enable_metadata_routing=True)``. Arrays of
            one value per row are indexed with the rows: resampled for an
            expert without sample weights, one per group for the gate of a
            grouped mixture, repeated with the rows for a classifier gate.
            ``sample_weight`` is never routed: every part gets its own weights
            from the EM loop.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if _is_dask(X) or _is_dask(y) or _is_dask(sample_weight):
            if fit_params:
                raise ValueError(
                    "fit parameters cannot be routed to the experts of a fit on Dask "
                    f"collections, got {sorted(fit_params)}."
                )
            from ._dask import fit_dask

            self._fit_atomic(X, y, sample_weight, groups=groups, fit=fit_dask)
        else:
            self._fit_atomic(X, y, sample_weight, groups=groups, fit_params=fit_params)
        if sample_weight is not None:
            self._warn_if_weights_count_few_rows(sample_weight)
        return self

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        ``fit`` routes its other parameters to the experts' and the gate's
        ``fit`` (see :meth:`fit`), as scikit-learn's metadata routing does
        for its meta-estimators (see its user guide on metadata routing).

        Returns
        -------
        routing : MetadataRouter
            A :class:`~sklearn.utils.metadata_routing.MetadataRouter`
            encapsulating routing information.
        """
        router = MetadataRouter(owner=self).add_self_request(self)
        mapping = MethodMapping().add(caller="fit", callee="fit")
        for name, template in self._routed_experts():
            router.add(**{name: template}, method_mapping=mapping)
        if self.gate is not None:
            router.add(gate=self.gate, method_mapping=mapping)
        return router

    def _routed_experts(self):
        """``(name, template)`` of each distinct expert the metadata is routed to.

        Named experts by their names; a single template (or the default expert)
        as ``"experts"``; a list without names as ``"experts_0"``, ``"experts_1"``...
        """
        templates = self._expert_templates()
        if named_experts(self.experts):
            return [(name, template) for (name, _), template in zip(self.experts, templates)]
        if isinstance(self.experts, (list, tuple)):
            return [(f"experts_{k}", template) for k, template in enumerate(templates)]
        return [("experts", templates[0])]

    def _route_fit_params(self, fit_params, n_templates):
        """The fit parameters of each expert template (a list of dicts) and of the gate.

        Raises
        ------
        ValueError
            When parameters are given without metadata routing enabled, or are
            routed to a mixture used as an expert.
        """
        _raise_for_params(fit_params, self, "fit")
        if not fit_params or not _routing_enabled():
            return [{}] * n_templates, {}
        routed = process_routing(self, "fit", **fit_params)
        names = [name for name, _ in self._routed_experts()]
        if len(names) == 1:
            names = names * n_templates
        expert_params = [dict(routed[name].fit) for name in names]
        gate_params = dict(routed.gate.fit) if self.gate is not None else {}
        for k, (params, template) in enumerate(zip(expert_params, self._expert_templates())):
            if params and isinstance(template, BaseMixtureOfExperts):
                raise ValueError(
                    f"Expert {k} is a mixture of experts, whose fits the EM loop continues; "
                    f"fit parameters cannot be routed to it, got {sorted(params)}."
                )
        return expert_params, gate_params

    @property
    def partial_fit(self):
        # A property, as scikit-learn's ``available_if``, so that ``hasattr(model,
        # "partial_fit")`` is False when an expert has no partial_fit; unlike it,
        # the error raised on access (an AttributeError that is also a TypeError)
        # names that expert.
        self._streams()
        return self._partial_fit

    def _streams(self):
        """Check that the experts and gate can be updated batch by batch.

        Raises the AttributeError (also a TypeError) that names the first
        expert without ``partial_fit``; other invalid parameters are left to
        :meth:`partial_fit` to report.
        """
        from ._stream import NoPartialFitError, check_stream_experts

        try:
            # The experts as given, fitted or not: whether the estimator has
            # partial_fit must not change with a fit (whose rows rule may have
            # removed the expert that cannot stream).
            check_stream_experts(self, self._expert_templates())
        except NoPartialFitError:
            raise
        except (TypeError, ValueError):
            pass
        return True

    @_fit_context(prefer_skip_nested_validation=False)
    def _partial_fit(self, X, y, sample_weight=None, classes=None):
        """{partial_fit}

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch of training inputs, dense and finite.
        y : array-like of shape (n_samples,)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; None means unit weights.
        classes : array-like of shape (n_classes,), default=None
            Classifier only: every class of the stream, required in the first
            call (later batches may lack some); ignored by the regressor.

        Returns
        -------
        self : object
            The updated estimator.
        """
        from ._stream import partial_fit

        return self._fit_atomic(X, y, sample_weight,
                                fit=lambda est, X, y, w, _: partial_fit(est, X, y, w, classes))

    def _fit_atomic(self, X, y, sample_weight, *, continued=False, init=None, groups=None,
                    fit_params=None, fit=None, as_expert=False):
        """:meth:`_fit` (or ``fit(self, X, y, sample_weight, groups)``), leaving the
        estimator as it was if it raises."""
        saved = dict(self.__dict__)
        try:
            if fit is not None:
                return fit(self, X, y, sample_weight, groups)
            return self._fit(X, y, sample_weight, continued, init, groups, fit_params or {},
                             as_expert)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit_m_step(self, X, y, sample_weight, init=None):
        """Fit as the expert of another mixture: continued from the previous fit.

        The outer mixture's EM calls this in each of its M-steps, with its
        responsibilities for this expert as the sample weights. The first call
        fits from scratch (from ``init`` when given, else with this
        estimator's own ``init``; with its ``n_init`` starts); each later one
        resumes EM from the fitted experts and gate, whatever ``warm_start``,
        so that it improves this mixture's weighted log-likelihood (in at most
        ``max_iter`` iterations) instead of starting again. That makes it an
        improving M-step of the outer EM.
        """
        if not hasattr(self, "converged_"):
            self._validate_params()
            return self._fit_atomic(X, y, sample_weight, init=init, as_expert=True)
        return self._fit_atomic(X, y, sample_weight, continued=True, as_expert=True)

    def _fitted_on_subsets(self, expert, X=None, y=None):
        """Whether the EM loop also fits the (unfitted) ``expert`` on some of the rows
        ``X``, ``y``: on weighted resamples, for an expert without sample weights."""
        return weight_parameter(expert) is None

    def _objective_penalty(self):
        """The penalty of the fitted mixture's objective: its gate's, its experts'
        (ScaledRidge) and those of continued experts, in nats."""
        check_is_fitted(self)
        return self._penalty_

    def _fit(self, X, y, sample_weight, continued=False, init=None, groups=None,
             fit_params=None, as_expert=False):
        """Fit by EM; ``continued`` resumes the fitted model as ``warm_start`` does,
        ``init`` replaces the ``init`` parameter in a fit from scratch, ``groups``
        (see :meth:`fit`) make a grouped mixture, ``fit_params`` are routed to the
        experts and the gate (see :meth:`fit`). ``as_expert``: the fit is an
        M-step of another mixture, whose own fit warns about the likelihood of the
        whole (see :meth:`_fitted_likelihood_warning`), once rather than at each
        M-step."""
        # A new fit: a later partial_fit continues from it, not from an older stream.
        self.__dict__.pop("_stream_", None)
        templates = self._expert_templates()
        for index, template in enumerate(templates):
            self._check_expert(template, index)
        if self.gate is not None:
            check_is_estimator(self.gate, "gate")
        gate_template = self._gate_template()
        expert_params, gate_params = self._route_fit_params(fit_params or {}, len(templates))
        parts = [*templates, self.gate if self.gate is not None else SoftmaxGate()]
        allow_nan = _all_accept(parts, "allow_nan")
        check_sparse_input(X, parts, _all_accept(parts, "sparse"))
        check_no_datetimes(X, "X")
        check_solver_input(self.gate, X)
        resume = (self.warm_start or continued) and hasattr(self, "converged_")
        if resume:
            check_resumed_columns(self, X)
            self._warn_ignored_on_resume()
        # A resumed fit keeps the fitted columns' names, as predict does.
        X, y = self._validate_fit_data(
            X, y, resume, reset=not resume, accept_sparse=["csr", "csc"], ensure_min_samples=2,
            ensure_all_finite="allow-nan" if allow_nan else True,
        )
        if sp.issparse(X):
            X = int32_sparse_indices(X.tocsr())
        else:
            X = np.ascontiguousarray(X, dtype=np.float64)
        sample_weight = check_sample_weight(sample_weight, X)
        check_fit_weight_scale(sample_weight)
        groups = check_groups(groups, X.shape[0])
        self._check_fit_targets(y, sample_weight)
        n_experts = self.n_experts_ if resume else len(templates)
        check_n_samples(X.shape[0], n_experts)
        if groups is not None and groups.n_groups < n_experts:
            raise ValueError(
                "Expected n_groups >= n_experts: each group belongs to one expert, got "
                f"n_experts={n_experts}, n_groups={groups.n_groups}."
            )
        init = self.init if init is None else init
        if not isinstance(init, str) and not resume:
            init = check_responsibilities(init, X.shape[0], len(templates))
        routes = warn_unweighted(templates)
        if resume:
            expert_columns, gate_columns = self.expert_features_, self.gate_features_
            gate_scaler = self.gate_scaler_
        else:
            names = getattr(self, "feature_names_in_", None)
            expert_columns = resolve_columns(self.expert_features, X.shape[1], names,
                                             "expert_features")
            gate_columns = resolve_columns(self.gate_features, X.shape[1], names,
                                           "gate_features", allow_empty=True)
        if groups is not None:
            check_gate_constant_within_groups(X, gate_columns, groups,
                                              getattr(self, "feature_names_in_", None))
        # The gate's rows: one per group when grouped (each group counts once).
        X_gate_rows = X if groups is None else X[groups.first]
        gate_weight = sample_weight if groups is None else groups.weight
        if gate_params:
            gate_params = _check_method_params(
                X, gate_params, indices=None if groups is None else groups.first)
            gate_template = ClassifierGate(self.gate, fit_params=gate_params)
        if not resume and gate_columns.size:
            gate_scaler = _fit_gate_scaler(_columns(X_gate_rows, gate_columns), gate_weight,
                                           gate_template, n_experts)
        elif not resume:
            gate_scaler = None
        X_expert = _columns(X, expert_columns)
        # A Pipeline expert whose earlier steps ignore the weights is transformed once;
        # EM then fits its final steps, and the fitted experts are put back together.
        routed = any(expert_params)
        prefix = None if resume or routed else shared_weight_free_prefix(
            templates, X_expert, functools.partial(self._fitted_on_subsets, y=y))
        pipelines = templates
        if prefix is not None:
            X_expert = prefix.transform(X_expert)
            templates = [template.steps[-1][1] for template in templates]
            routes = [weight_parameter(template) for template in templates]
        check_float32_columns(templates, X_expert)
        if prefix is None:
            names = getattr(self, "feature_names_in_", None)
            _warn_one_row_spreads(templates, X_expert, [
                str(column) if names is None else repr(str(names[column]))
                for column in expert_columns])
        else:
            _warn_one_row_spreads(templates, X_expert, [str(j) for j in range(X_expert.shape[1])],
                                  "the experts' transformed")
        # The starts' seeds come first from random_state: a likelihood that draws a
        # seed of its own (the folds' resamples) must not move them, or a mixture
        # whose experts it never refits would start elsewhere than without it.
        random_state = check_random_state(self.random_state)
        seeds = [random_state.randint(_SEED_MAX) for _ in range(1 if resume else self.n_init)]
        context = self._likelihood_context(X_expert, y, sample_weight)
        if resume and continued:
            # A continued fit climbs the objective of the fit it continues: the
            # constants that the first fit derived from its weights stay.
            context.update(self._objective_constants_)
        X_gate = _standardised_gate_rows(X_gate_rows, gate_columns, gate_scaler, gate_template)
        # ScaledRidge experts fitted from Gram matrices, and the Newton M-steps of
        # ScaledLogisticRegression experts, need the columns' spread: the same for
        # every M-step of every start, so computed once.
        expert_scale = (column_scale(X_expert) if (
            not sp.issparse(X_expert) and any(isinstance(t, ScaledRidge) for t in templates))
            or any(type(t) is ScaledLogisticRegression for t in templates) else None)
        data = _FitData(X, X_expert, X_gate, y, sample_weight, context, expert_scale,
                        grams_are_safe(X_expert, y, sample_weight), groups,
                        [_check_method_params(X, params) for params in expert_params])
        # A tree start scores groupings by ungrouped responsibilities: not for groups.
        tree = None if resume or groups is not None else self._tree_layout(templates, init)
        # Starts run in parallel when there are several (then each fits its experts in
        # turn); with one start, the experts of each M-step are fitted in parallel.
        parallel_starts = len(seeds) > 1 and effective_n_jobs(self.n_jobs) > 1
        expert_jobs = 1 if parallel_starts else self.n_jobs
        # Parallel starts share the kernels' threads; a single start runs its kernels
        # while its expert workers are idle, so it keeps all of them.
        workers = min(effective_n_jobs(self.n_jobs), len(seeds))
        if effective_n_jobs(self.n_jobs) > 1 and _joblib_backend_is_dask():
            from ._dask import register_worker_threads

            register_worker_threads()
        start_threads = max(1, numba.get_num_threads() // workers) if parallel_starts else None
        # One BLAS thread: BLAS threads on top of the expert workers and numba's threads
        # oversubscribe the cores, which has made fits many times slower.
        with threadpool_controller().limit(limits=1, user_api="blas"):
            arguments = [
                (start, seed, resume, templates, routes, gate_template, init, data,
                 expert_jobs, start_threads, tree)
                for start, seed in enumerate(seeds)
            ]
            if parallel_starts:
                runs = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                    delayed(self._fit_start)(*args) for args in arguments
                )
            else:
                # Without joblib's set-up, a cost that shows on small data.
                runs = [self._fit_start(*args) for args in arguments]
        histories = [list(run.lower_bounds) for run in runs]
        best = max(runs, key=lambda run: run.lower_bound)
        # Only the kept start's removals describe the fitted model; they are warned
        # about at the user's line that led to this fit.
        which = f" of start {runs.index(best)} (the best of {len(runs)})" if len(runs) > 1 else ""
        for what, why in best.removals:
            warnings.warn(f"{what}{which}: {why}", UserWarning, stacklevel=_user_stacklevel())

        if not best.converged:
            # The last iterations, not the last one alone: a change below tol in a
            # generalised-EM step is not convergence (see _run_em).
            recent = np.abs(np.diff(best.lower_bounds[-6:]))
            if recent.size > 1:
                moved = (f"changed by up to {recent.max():.2g} per iteration over its last "
                         f"{recent.size} iterations")
            elif recent.size == 1:
                moved = f"changed by {recent[0]:.2g} in its last iteration"
            else:
                moved = "was computed once"
            warnings.warn(
                f"Best performing initialization did not converge (tol={float(self.tol)!r}, "
                f"max_iter={self.max_iter}): its per-sample log-likelihood {moved}. Increase "
                "max_iter, loosen tol, try more starts (n_init) or another init, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=_user_stacklevel(),
            )
        self._warn_glm_experts_short(best, data)
        message = None if as_expert else self._fitted_likelihood_warning(best, data)
        if message is not None:
            warnings.warn(message, UserWarning, stacklevel=_user_stacklevel())
        self.gate_scaler_ = gate_scaler
        self.expert_features_ = expert_columns
        self.gate_features_ = gate_columns
        # How many groups the fit's likelihood was over (None: the rows'): standard
        # errors and the report of a grouped fit need the groups again.
        self._fit_groups_ = None if groups is None else int(groups.n_groups)
        self._design_ranks_ = _design_ranks(best.experts, data.X_expert, sample_weight)
        self._gate_rank_ = _gate_rank(best.gate, data.X_gate, gate_weight)
        if prefix is not None:
            best.experts = [with_prefix(pipeline, prefix, expert)
                            for pipeline, expert in zip(pipelines, best.experts)]
        self.init_lower_bounds_ = histories
        # Within 0.01 nats of the best total (penalised) log-likelihood.
        margin = _SAME_OPTIMUM_NATS / float(sample_weight.sum())
        self.n_starts_at_best_ = sum(run.lower_bound >= best.lower_bound - margin for run in runs)
        if not resume:
            # What a later warm start ignores, as this fit saw it.
            self._record_resume_settings()
        self._set_fitted(best)
        self._expert_origins_ = list(best.origins)
        return self

    def _run_responsibilities(self, run, data, row_log_lik=None):
        """The responsibilities of ``run``'s parameters on ``data``'s rows and the total
        log-likelihood (the groups', with groups); each row's log-likelihood goes
        into ``row_log_lik`` when given (without groups)."""
        log_lik = self._log_likelihood(run.experts, run.params, data.X_expert, data.y)
        log_gate = run.gate._log_proba(data.X_gate)
        if data.groups is not None:
            return data.groups.e_step(log_gate, log_lik, data.sample_weight)
        resp = np.empty_like(log_lik)
        if row_log_lik is None:
            row_log_lik = np.empty(log_lik.shape[0])
        total = e_step(log_gate, log_lik, data.sample_weight, resp, row_log_lik)
        return resp, total

    def _warn_glm_experts_short(self, run, data):
        """Warn when a scikit-learn GLM expert's own fit stopped short of its optimum.

        Their L-BFGS solver can report convergence far from the minimum (on
        ``salmonellaTA98``, a Poisson mixture ended at a log-likelihood of -65.26
        where the model's maximum, flexmix's, is -60.90): EM then stalls at a point
        that is no fixed point of its M-step, silently. Measured once, with the
        final responsibilities, by :func:`~skmoe._experts.glm_shortfall`.
        """
        if not any(isinstance(expert, _GLM_TYPES) for expert in run.experts):
            return
        X, y, sample_weight = data.X_expert, data.y, data.sample_weight
        if not isinstance(X, np.ndarray):
            return
        resp = self._run_responsibilities(run, data)[0]
        total = float(sample_weight.sum())
        dispersion = run.params.get("dispersion_")
        for k, expert in enumerate(run.experts):
            shortfall = glm_shortfall(expert, X, y, resp[:, k] * sample_weight)
            if shortfall is None:
                continue
            if dispersion is not None:
                shortfall /= float(dispersion[k])
            if shortfall > max(_SAME_OPTIMUM_NATS, self.tol * total):
                solver = getattr(expert, "solver", "lbfgs")
                warnings.warn(
                    f"Expert {k} ({type(expert).__name__}, solver={solver!r}) stopped short of "
                    "the optimum of its own fit: one Newton step on its weighted rows would "
                    f"still raise the log-likelihood by about {shortfall:.3g}, so the mixture "
                    "is not at a maximum of its likelihood. scikit-learn's L-BFGS solver "
                    "reports convergence too early on columns of very different scales; use "
                    "solver='newton-cholesky', or standardise the columns.",
                    ConvergenceWarning,
                    stacklevel=_user_stacklevel(),
                )

    def _warn_ignored_on_resume(self, by="warm_start"):
        """Warn about the parameters a warm start ignores that changed since the fit.

        ``by="partial_fit"``: a batch that continues the fitted model, which
        ignores them too (``init`` and ``n_init`` do not apply to it).
        """
        fitted = getattr(self, "_resume_settings_", None)
        if fitted is None:
            return
        changed = [name for name, value in fitted.items()
                   if not _same_setting(getattr(self, name), value)
                   and (by == "warm_start" or name not in ("init", "n_init"))]
        if not changed:
            return
        described = ", ".join(
            f"{name}={getattr(self, name)!r} (fitted with {fitted[name]!r})"
            if isinstance(fitted[name], (Integral, str)) else name
            for name in changed
        )
        resumes, anew = (("warm_start resumes", "Set warm_start=False to fit anew")
                         if by == "warm_start" else
                         ("partial_fit continues", "Call fit to fit anew"))
        warnings.warn(
            f"{resumes} the fitted model, which keeps its experts, gate and "
            f"columns: {described} changed since it was fitted and "
            f"{'is' if len(changed) == 1 else 'are'} ignored. {anew} with the new value.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )

    def _record_resume_settings(self):
        """Keep what a later warm start or partial_fit ignores, as this fit sees it."""
        self._resume_settings_ = {name: clone(getattr(self, name), safe=False)
                                  for name in _IGNORED_ON_RESUME}

    def _fit_start(self, start, seed, resume, templates, routes, gate_template, init, data,
                   n_jobs, n_kernel_threads=None, tree=None):
        """One EM start: from the fitted state when resuming, else from fresh clones.

        ``n_kernel_threads`` is this start's share of Numba's threads when starts
        run in parallel (None: Numba's setting for the calling thread). ``tree``
        (from :meth:`_tree_layout`) starts a mixture of mixtures from a flat one.
        """
        start_state = np.random.RandomState(seed)
        started = time.perf_counter()
        strategy = start_strategy(init, start, self.n_init)
        with kernel_threads(n_kernel_threads):
            resp = None
            converged_short_run = False
            if tree is not None:
                run = self._fresh_run(templates, routes, gate_template, start_state,
                                      data.prototypes)
                resp = self._tree_start(run, tree, init, data, start, start_state)
            if resume:
                run, resp = self._resumed_run(), None
            elif resp is not None:
                pass
            elif isinstance(strategy, str) and strategy.startswith("emem"):
                firsts, n_random = [], EMEM_SHORT_RUNS
                if strategy == "emem+kmeans":
                    # The k-means partition (both, with far y's) in the first run's place.
                    firsts = kmeans_partitions(data.X, self._init_targets(data.y),
                                               data.sample_weight, len(templates), start,
                                               start_state)
                    n_random -= 1
                run = self._best_short_run(templates, routes, gate_template, data,
                                           start_state, n_jobs, firsts, n_random)
                resp = None
                # A short run that converged is at a fixed point of EM by the loop's own
                # test: continuing it would only repeat that test, one iteration later.
                converged_short_run = run.converged
            elif (isinstance(strategy, str) and strategy == "kmeans"
                  and far_rows(self._init_targets(data.y), data.sample_weight).any()):
                # Far y's may be outliers, to leave out, or a small regime, a cluster of
                # its own: short runs from both k-means partitions choose.
                run = self._best_short_run(
                    templates, routes, gate_template, data, start_state, n_jobs,
                    kmeans_partitions(data.X, self._init_targets(data.y), data.sample_weight,
                                      len(templates), start, start_state), 0)
                resp = None
                converged_short_run = run.converged
            else:
                run = self._fresh_run(templates, routes, gate_template, start_state,
                                      data.prototypes)
                resp = initial_responsibilities(
                    strategy, data.X, self._init_targets(data.y), data.sample_weight,
                    len(run.experts), start, start_state,
                )
            if run.n_iter < self.max_iter and not converged_short_run:
                self._run_em(run, resp, data, start_state, n_jobs)
        self._print_start(start, run, time.perf_counter() - started)
        return run

    def _tree_layout(self, templates, init):
        """The flat mixture that starts a tree of mixtures, and the size of each subtree.

        Returns ``(flat, sizes)`` when every expert is a mixture of experts of
        one class whose settings differ only in ``_TREE_FREE_PARAMETERS``, there
        are at least two of them, and ``init`` is a strategy (not an array);
        ``flat`` is an unfitted mixture of all their experts (``n_init=1``), and
        ``sizes[j]`` the number of experts of mixture ``j``. Otherwise None.
        """
        first = templates[0]
        if (not isinstance(init, str) or len(templates) < 2
                or not isinstance(first, BaseMixtureOfExperts)):
            return None
        settings = {name: value for name, value in first.get_params(deep=False).items()
                    if name not in _TREE_FREE_PARAMETERS}
        for template in templates[1:]:
            params = template.get_params(deep=False)
            if type(template) is not type(first) or not all(
                    _same_setting(params[name], value) for name, value in settings.items()):
                return None
        subtrees = [template._expert_templates() for template in templates]
        leaves = [leaf for subtree in subtrees for leaf in subtree]
        flat = clone(first).set_params(experts=leaves, n_experts=len(leaves), n_init=1,
                                       warm_start=False, verbose=0)
        return flat, [len(subtree) for subtree in subtrees]

    def _tree_start(self, run, tree, init, data, start, random_state):
        """Start a mixture of mixtures from a flat mixture of all their experts.

        A tree of mixtures fitted by EM cannot move an expert from one subtree
        to another: its first M-step fixes which experts share a subtree, and
        a start that groups them wrongly stays at a poor optimum. This start
        fits the flat mixture of all the experts (from ``init`` for all of
        them, as this start would for its own experts), then scores each way
        of grouping its experts into the subtrees (at most ``_MAX_GROUPINGS``)
        by the tree's gate objective at the flat mixture's responsibilities
        ``R``: the penalised cross-entropy of the top gate fitted to the
        subtrees' summed responsibilities, plus that of each subtree's gate
        fitted to its own experts' share of them. The best grouping gives the
        initial responsibilities of the subtrees and, within each, those of
        its experts (``run.expert_inits``).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_subtrees) or None
            None when the flat mixture lost experts (the start then proceeds
            as for other experts).
        """
        flat, sizes = tree
        n_leaves = sum(sizes)
        strategy = start_strategy(init, start, self.n_init)
        if strategy == "emem+kmeans":
            # The flat mixture is one start: the k-means partition alone.
            strategy = "kmeans"
        init = strategy
        if strategy != "emem":
            init = initial_responsibilities(strategy, data.X, self._init_targets(data.y),
                                            data.sample_weight, n_leaves, start, random_state)
        flat = clone(flat).set_params(init=init, random_state=random_state.randint(_SEED_MAX))
        with warnings.catch_warnings():
            # A start, not the model: its warnings would be about something the user
            # never asked for.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            flat.fit(data.X_expert, data.y, data.sample_weight)
        if flat.n_experts_ != n_leaves:
            return None
        leaf_resp = flat._posterior(data.X_expert, data.y)[0]
        weight = data.sample_weight
        inner_X = flat._gate_input(flat._validated_X(data.X_expert))
        best, best_cost = None, np.inf
        for groups in _groupings(sizes, random_state):
            resp = np.column_stack([leaf_resp[:, group].sum(axis=1) for group in groups])
            cost = _gate_cost(copy.deepcopy(run.gate), data.X_gate, resp, weight)
            inner = []
            for j, group in enumerate(groups):
                inner.append(_within(leaf_resp[:, group], resp[:, j]))
                cost += _gate_cost(flat._gate_template(), inner_X, inner[-1],
                                   weight * resp[:, j])
            if cost < best_cost:
                best, best_cost = (resp, inner), cost
        resp, run.expert_inits = best
        return np.ascontiguousarray(resp)

    def _fresh_run(self, templates, routes, gate_template, random_state, prototypes=None):
        """A run with new seeded clones of the experts and the gate (``prototypes``: see
        :func:`~skmoe._experts.seeded_clones`)."""
        experts = seeded_clones(templates, random_state, prototypes)
        gate = seeded_clones([gate_template], random_state, prototypes)[0]
        run = _Run(experts, list(routes), gate, {})
        run.warm_started = warm_start_glms(experts)
        return run

    def _best_short_run(self, templates, routes, gate_template, data, random_state, n_jobs,
                        firsts=(), n_random=EMEM_SHORT_RUNS):
        """Short-run EM (emEM): the best of runs of ``EMEM_SHORT_ITER`` iterations, from
        the given responsibilities ``firsts``, then from ``n_random`` random partitions
        of the rows (far y's left out); it is then continued."""
        best = None
        for given in [*firsts, *[None] * n_random]:
            run = self._fresh_run(templates, routes, gate_template, random_state,
                                  data.prototypes)
            resp = given
            if given is None:
                resp = leave_out_far_targets(
                    random_partition(data.X.shape[0], len(run.experts), random_state),
                    self._init_targets(data.y), data.sample_weight)
            self._run_em(run, resp, data, random_state, n_jobs,
                         max_iter=min(EMEM_SHORT_ITER, self.max_iter))
            if best is None or run.lower_bound > best.lower_bound:
                best = run
        return best

    def _gate_template(self):
        if no_gate_inputs(self.gate_features):
            if self.gate is not None:
                raise ValueError(
                    "gate_features=[] means a gate without inputs (mixing proportions "
                    f"only), fitted in closed form; it takes no gate, got gate="
                    f"{self.gate!r}. Set gate=None, or give the gate columns."
                )
            return ConstantGate()
        if self.gate is None:
            return SoftmaxGate(warm_start=True)
        if isinstance(self.gate, SoftmaxGate):
            return clone(self.gate).set_params(warm_start=True)
        if isinstance(self.gate, BaseGate):
            # A gate written against the contract is fitted on the responsibilities.
            return clone(self.gate)
        if not has_fit_parameter(self.gate, "sample_weight"):
            raise TypeError(
                f"gate {type(self.gate).__name__} must accept sample_weight in fit; the "
                "EM loop fits the gate with the responsibilities as weights."
            )
        return ClassifierGate(self.gate)

    def _resumed_run(self):
        experts = copy.deepcopy(self.experts_)
        params = {name: np.array(getattr(self, name)) for name in self._likelihood_params_}
        run = _Run(experts, [weight_parameter(e) for e in experts],
                   copy.deepcopy(self.gate_), params)
        run.origins = list(getattr(self, "_expert_origins_", run.origins))
        run.warm_started = warm_start_glms(experts)
        return run

    def _run_em(self, run, resp, data, random_state, n_jobs, max_iter=None):
        """Iterate M-step and E-step on ``run`` until convergence or ``max_iter``.

        ``resp`` None continues ``run`` from its fitted parameters (a warm start,
        or a short run of emEM), counting its iterations on from ``run.n_iter``;
        ``max_iter`` None means the estimator's.
        """
        max_iter = self.max_iter if max_iter is None else max_iter
        run.converged = False
        X, X_gate, y, sample_weight = data.X_expert, data.X_gate, data.y, data.sample_weight
        groups = data.groups
        gate_weight = sample_weight if groups is None else groups.weight
        if run.context is None:
            run.context = dict(data.context)
        context = run.context
        context["leaf_weight"] = self._leaf_weight(sample_weight)
        # The experts' fits and their noise's cross-fitted refits share the threads.
        context["n_jobs"] = n_jobs
        total_weight = float(sample_weight.sum())
        row_log_lik = np.empty(X.shape[0])
        previous = -np.inf
        resuming = resp is None
        if resuming:
            # Resuming: the fitted parameters give the first responsibilities.
            resp, total = self._run_responsibilities(run, data, row_log_lik)
            previous = (total - self._run_penalty(run, context)) / total_weight
        elif groups is not None:
            resp = groups.start(resp, sample_weight)

        # The gate's M-step is a generalised-EM step (EM_STEP_BUDGET) until the
        # log-likelihood stalls; then one step solves the gate's problem (budget None),
        # and the fit has converged only if the log-likelihood still does not move and
        # that step solved the gate. LogisticRegression experts fitted by Newton's method
        # follow the same budget.
        budget = EM_STEP_BUDGET
        # Softmax-gated LogisticRegression experts: squared extrapolation of the
        # generalised-EM steps (never of the solves that test convergence).
        squarem = Squarem() if groups is None and self.assignment == "soft" else None
        # The experts' own fits check their parameters in the first M-step of a run
        # (a run that continues, as emEM's best short run does, passed that check),
        # each set once per fit (data.validated).
        validate = run.n_iter == 0
        # Refits that may fit worse than the expert they replace are compared with
        # it from the first M-step whose experts were fitted before: a run that
        # continues (a short run of emEM) or resumes a fitted model (warm_start).
        compare_refits = run.n_iter > 0 or resuming
        may_worsen = {}
        # The M-step without the general one's per-iteration questions (_fast_m_step),
        # and the gate's objective prepared once: both made again when experts go.
        fast, gate_objective = None, None
        for n_iter in range(run.n_iter + 1, max_iter + 1):
            tic = time.perf_counter()
            if groups is None:
                targets = self._assign(resp, random_state)
            else:
                # One assignment per group (hard or stochastic), shared by its rows.
                targets = groups.expand(self._assign(resp[groups.first], random_state))
            targets, dropped = self._drop_vanishing_experts(run, targets, sample_weight,
                                                           n_iter, groups, data)
            if dropped:
                previous = -np.inf
                fast, gate_objective = None, None
            if fast is None and run.expert_inits is None and (
                    not validate or all_validated(run.experts, data.validated)):
                fast = self._fast_m_step(run.experts, data, context) or False
            if gate_objective is None:
                gate_objective = (groups is None and _gate_objective(
                    run.gate, X_gate, sample_weight, len(run.experts))) or False
            fitted, unsolved = None, []
            if fast:
                log_lik = run.workspace.array("log_lik", targets.shape)
                params = fast.m_step(targets, sample_weight,
                                     run.workspace.array("weights", targets.shape), log_lik)
                if params is not None:
                    targets, thin = self._drop_thin_experts(run, targets, sample_weight,
                                                            n_iter, data)
                    if thin:
                        # Refitted from the remaining experts' responsibilities below.
                        previous = -np.inf
                        fast, gate_objective = None, None
                    else:
                        fast.keep()
                        fitted = params, log_lik
                        context["latent"] = None
                        context["kept_experts"] = []
                        context["expert_fit_params"] = None
            while fitted is None:
                weights = np.multiply(targets, sample_weight[:, None],
                                      out=run.workspace.array("weights", targets.shape))
                fit_weights = self._expert_fit_weights(run.experts, run.params, weights,
                                                       context, run.workspace)
                fit_params = _run_fit_params(run, data)
                unsolved = []
                previous_experts = list(run.experts)
                checked = (decided_once(may_worsen, run.experts, refit_may_worsen)
                           if compare_refits else [])
                experts = ([clone(expert) if k in checked else expert
                            for k, expert in enumerate(run.experts)]
                           if checked else list(run.experts))
                run.experts = fit_experts(experts, run.routes, X, y, fit_weights, n_jobs,
                                          random_state, n_iter, data.expert_scale, data.grams,
                                          run.expert_inits, budget, unsolved, fit_params,
                                          validate, data.validated, context["leaf_weight"],
                                          context.get("noise_fold_sums"))
                run.expert_inits = None
                context["kept_experts"] = self._keep_better_experts(
                    run, previous_experts, checked, X, y, weights)
                # Removing a thin expert moves its rows to the others: they are refitted.
                targets, thin = self._drop_thin_experts(run, targets, sample_weight, n_iter,
                                                        data)
                if not thin:
                    break
                previous = -np.inf
                fast, gate_objective = None, None
            if fast and fitted is None and any(
                    a is not b for a, b in zip(fast.experts, run.experts)):
                # The general M-step replaced an expert object: prepared again.
                fast = None
            validate = False
            compare_refits = True
            if fitted is None:
                # The likelihood refits experts for cross-fitted noise with their parameters.
                context["expert_fit_params"] = fit_params
                run.params, log_lik = self._likelihood_m_step(
                    run.experts, X, y, weights, fit_weights, context, run.workspace)
            else:
                run.params, log_lik = fitted
            if groups is None:
                gate_solved = (run.gate._fit_soft(X_gate, targets, sample_weight, budget,
                                                  objective=gate_objective)
                               if gate_objective else
                               run.gate._fit_soft(X_gate, targets, sample_weight, budget))
                if resp.shape != log_lik.shape:
                    resp = np.empty_like(log_lik)
                log_gate = run.gate._log_proba(
                    X_gate, out=run.workspace.array("log_gate", log_lik.shape))
                total = e_step(log_gate, log_lik, sample_weight, resp, row_log_lik)
            else:
                gate_solved = run.gate._fit_soft(
                    X_gate, np.ascontiguousarray(targets[groups.first]), gate_weight, budget)
                log_gate = run.gate._log_proba(X_gate)
                resp, total = groups.e_step(log_gate, log_lik, sample_weight)
            if fitted is None:
                penalty = self._run_penalty(run, context)
            else:
                # The prepared M-step's experts (plain LinearRegression) add no penalty.
                penalty = run.penalty = run.gate._penalty()
            lower_bound = (total - penalty) / total_weight
            if np.isnan(lower_bound):
                raise ValueError(
                    f"The log-likelihood became NaN at EM iteration {n_iter}; check the "
                    "experts' predictions and the scale of the data."
                )
            if squarem is not None and (budget is None or fitted is not None):
                # (Runs of the prepared M-step have noise variances, which SQUAREM
                # does not extrapolate: its step would only restart it.)
                squarem.restart()
            elif squarem is not None:
                extrapolated = squarem.step(run, lower_bound, functools.partial(
                    self._bound_at, run, data, context, total_weight), total_weight)
                if extrapolated is not None:
                    lower_bound, (resp, log_gate) = extrapolated
            change = lower_bound - previous
            run.lower_bounds.append(lower_bound)
            run.n_iter = n_iter
            self._print_iteration(n_iter, lower_bound, change, time.perf_counter() - tic)
            if abs(change) < self.tol:
                # A fixed point of EM: the gate solved, and experts fitted by EM
                # themselves (mixtures) converged in this M-step.
                if gate_solved and experts_converged(run.experts) and not unsolved:
                    run.converged = True
                    break
                budget = None
            else:
                budget = EM_STEP_BUDGET
            previous = lower_bound
        release_logistic_data()
        run.responsibility_total = sample_weight @ resp
        run.gate_share = gate_weight @ np.exp(log_gate) / float(gate_weight.sum())
        return run

    def _keep_better_experts(self, run, previous, checked, X, y, weights):
        """Put back each expert of ``checked`` whose refit does not fit its weights better.

        The M-step of a generalised EM need only not decrease the expected
        complete-data log-likelihood: an expert's term is its weighted
        log-likelihood at the current likelihood parameters. Greedy refits
        (:func:`~skmoe._experts.refit_may_worsen`) can lower it; keeping the
        previous expert then keeps the objective from falling, and stops the
        cycles EM over such refits can fall into. A refit must gain at least
        ``tol`` per unit of weight, the stopping rule's own scale: smaller gains
        could not move the log-likelihood by ``tol``, while each new expert
        brings new out-of-fold predictions, and with them new noise variances.

        Returns
        -------
        kept : list of int
            The experts put back, unchanged since the previous M-step.
        """
        kept = []
        if not checked:
            return kept
        least_gain = self.tol * weights.sum()
        for k in checked:
            params = {name: value[[k, k]] for name, value in run.params.items()}
            log_lik = self._log_likelihood([previous[k], run.experts[k]], params, X, y)
            before, after = weights[:, k] @ log_lik
            if after - before < least_gain:
                run.experts[k] = previous[k]
                kept.append(k)
        return kept

    def _bound_at(self, run, data, context, total_weight):
        """The EM objective at ``run``'s parameters (ungrouped), with the
        responsibilities and gate log-probabilities of its E-step."""
        log_lik = self._log_likelihood(run.experts, run.params, data.X_expert, data.y)
        log_gate = run.gate._log_proba(data.X_gate)
        resp = np.empty_like(log_lik)
        total = e_step(log_gate, log_lik, data.sample_weight, resp, np.empty(log_lik.shape[0]))
        return (total - self._run_penalty(run, context)) / total_weight, (resp, log_gate)

    def _run_penalty(self, run, context):
        """The penalty of ``run``'s objective (kept as ``run.penalty``): the gate's,
        the likelihood's and that of experts whose fits are continued."""
        run.penalty = (run.gate._penalty()
                       + self._likelihood_penalty(run.experts, run.params, context)
                       + experts_penalty(run.experts))
        return run.penalty

    def _assign(self, resp, random_state):
        """What the M-step fits to: the responsibilities, their argmax, or a draw from them."""
        if self.assignment == "soft":
            return resp
        if self.assignment == "hard":
            chosen = resp.argmax(axis=1)
        else:
            draws = random_state.uniform(size=(resp.shape[0], 1))
            chosen = np.minimum((draws > np.cumsum(resp, axis=1)).sum(axis=1),
                                resp.shape[1] - 1)
        one_hot = np.zeros_like(resp)
        one_hot[np.arange(resp.shape[0]), chosen] = 1.0
        return one_hot

    def _drop_vanishing_experts(self, run, resp, sample_weight, n_iter, groups=None, data=None):
        """Remove experts whose share of the responsibilities fell below the floor.

        With ``groups``, the share is that of the groups (each counts once, as in
        the gate and in flexmix's ``minprior``), not of the rows' weights: a group
        of few rows or light weights is as much an observation as any other.
        """
        if groups is None:
            share = sample_weight @ resp / sample_weight.sum()
        else:
            share = groups.weight @ resp[groups.first] / groups.weight.sum()
        smallest = share.min()
        if smallest >= self.min_expert_weight and smallest > 0:
            return resp, False
        keep = (share >= self.min_expert_weight) & (share > 0)
        keep[np.argmax(share)] = True
        reasons = {
            index: f"its share of the responsibilities is {share[index]:.3g}, below "
                   f"min_expert_weight={self.min_expert_weight}"
            for index in np.flatnonzero(~keep)
        }
        return self._remove_experts(run, resp, keep, reasons, n_iter, data)

    def _leaf_weight(self, sample_weight):
        """The least weight a leaf of a tree expert carries: ``min_rows_per_parameter``
        rows' worth (the mean weight of the rows with positive weight each), as
        :meth:`_drop_thin_experts` asks of an expert per parameter (a leaf is one;
        :func:`~skmoe._experts.leaf_weight_floor`)."""
        n_rows = np.count_nonzero(sample_weight)
        return self.min_rows_per_parameter * float(sample_weight.sum()) / max(n_rows, 1)

    def _drop_thin_experts(self, run, resp, sample_weight, n_iter, data=None):
        """Remove fitted experts responsible for too few rows for the parameters they fit.

        An expert's rows are ``n * share``: the rows with positive weight times its
        share of the weighted responsibilities. It needs ``min_rows_per_parameter``
        of them per parameter (:func:`~skmoe._experts.n_fitted_parameters` plus the
        likelihood's own, such as a noise variance): with fewer it fits its rows
        nearly exactly, claims almost no noise, and the gate hands it rows it knows
        nothing about. The expert with the most rows to spare always stays.
        """
        if self.min_rows_per_parameter == 0:
            # No expert needs any rows: counting their parameters costs, on small
            # data, a sizeable part of an EM iteration.
            return resp, False
        n_rows = np.count_nonzero(sample_weight)
        rows = n_rows * (sample_weight @ resp) / sample_weight.sum()
        keep, reasons = self._thin_experts(run.experts, rows)
        return self._remove_experts(run, resp, keep, reasons, n_iter, data)

    def _thin_experts(self, experts, rows):
        """Which fitted ``experts`` have ``rows`` enough for their parameters, and why not.

        The rule of :meth:`_drop_thin_experts` (also the Dask fit's): returns
        ``keep``, a boolean array, and the reason of each expert not kept.
        """
        needed = np.array([
            n_fitted_parameters(expert) + self._expert_likelihood_parameters(expert)
            for expert in experts
        ])
        needed = self.min_rows_per_parameter * needed
        keep = rows >= needed
        keep[np.argmax(rows - needed)] = True
        reasons = {
            index: f"it is responsible for {rows[index]:.3g} rows, fewer than "
                   f"min_rows_per_parameter={self.min_rows_per_parameter} times the "
                   f"{needed[index] / self.min_rows_per_parameter:.3g} parameters it fits. "
                   "Use fewer experts or fewer expert_features on data of this size"
            for index in np.flatnonzero(~keep)
        }
        return keep, reasons

    def _remove_experts(self, run, resp, keep, reasons, n_iter, data=None):
        """Drop the experts not in ``keep`` (recording why) and renormalise ``resp``.

        The reason names the rows a removed expert was the most responsible
        for when they are few (see :meth:`_held_rows_note`; ``data`` None: not).

        Returns ``(resp, removed)``.
        """
        if keep.all():
            return resp, False
        # The expert most responsible for each row; -1 for rows without weight.
        own = None if data is None else np.where(data.sample_weight > 0, resp.argmax(axis=1), -1)
        for index, reason in reasons.items():
            note = "" if own is None else self._held_rows_note(run, keep, index, own, data)
            run.removals.append((f"Expert {index} ({type(run.experts[index]).__name__}) was "
                                 f"removed at EM iteration {n_iter}",
                                 f"{reason}. {note}{int(keep.sum())} experts remain."))
        run.experts = [e for e, k in zip(run.experts, keep) if k]
        if run.expert_inits is not None:
            run.expert_inits = [e for e, k in zip(run.expert_inits, keep) if k]
        run.routes = [r for r, k in zip(run.routes, keep) if k]
        run.origins = [o for o, k in zip(run.origins, keep) if k]
        run.params = {name: value[keep] for name, value in run.params.items()}
        run.gate._drop_classes(keep)
        resp = resp[:, keep]
        norm = resp.sum(axis=1, keepdims=True)
        orphan = norm[:, 0] == 0
        resp[orphan] = 1.0 / resp.shape[1]
        norm[orphan] = 1.0
        return np.ascontiguousarray(resp / norm), True

    def _held_rows_note(self, run, keep, index, own, data):
        """The rows removed expert ``index`` was the most responsible for, named when
        there are at most ``_FEW_ROWS`` of them, with what the likelihood says of
        them under the experts that remain (:meth:`_far_rows_note`); else ""."""
        rows = np.flatnonzero(own == index)
        if not 0 < rows.size <= _FEW_ROWS:
            return ""
        positions = _join([str(row) for row in rows])
        note = (f"It was the most responsible expert for the row at position {positions} only. "
                if rows.size == 1 else
                f"It was the most responsible expert for the rows at positions {positions} "
                "only. ")
        kept = np.flatnonzero(keep)
        # Rows held by removed experts belong to none of those that remain.
        among_kept = np.full(keep.shape[0], -1)
        among_kept[kept] = np.arange(kept.size)
        return note + self._far_rows_note([run.experts[k] for k in kept], data,
                                          np.where(own >= 0, among_kept[own], -1), rows)

    def _set_fitted(self, run):
        # The fitted experts carry the parameters the user gave them.
        restore_warm_start(run.experts, run.warm_started)
        self.experts_ = run.experts
        self.gate_ = run.gate
        for name, value in run.params.items():
            setattr(self, name, value)
        self._likelihood_params_ = tuple(run.params)
        self.n_experts_ = len(run.experts)
        self.effective_n_samples_ = run.responsibility_total
        self.gate_share_ = run.gate_share
        self.n_iter_ = run.n_iter
        self.converged_ = run.converged
        self.lower_bound_ = run.lower_bound
        self.lower_bounds_ = list(run.lower_bounds)
        self._penalty_ = run.penalty
        self._objective_constants_ = {name: run.context[name] for name in self._OBJECTIVE_CONSTANTS
                                      if name in run.context}

    # -------------------------------------------------------------- verbose
    def _print_start(self, start, run, seconds):
        if self.verbose >= 1:
            print(
                f"Start {start}: {'converged' if run.converged else 'did not converge'} "
                f"after {run.n_iter} iterations, log-likelihood {run.lower_bound:.6f}, "
                f"{len(run.experts)} experts, {seconds:.2f} s"
            )

    def _print_iteration(self, n_iter, lower_bound, change, seconds):
        if self.verbose >= 2:
            print(
                f"  Iteration {n_iter}: log-likelihood {lower_bound:.6f}, "
                f"change {change:.3e}, {seconds:.3f} s"
            )

    # ----------------------------------------------------------- prediction
    def _validated_X(self, X):
        check_is_fitted(self)
        tags = self.__sklearn_tags__().input_tags
        if not tags.sparse and (sp.issparse(X) or is_sparse_frame(X)):
            check_sparse_input(X, self._parts(), False)
        check_no_datetimes(X, "X")
        X = validate_data(
            self, X, reset=False, dtype=np.float64,
            accept_sparse=["csr", "csc"] if tags.sparse else False,
            ensure_all_finite="allow-nan" if tags.allow_nan else True,
        )
        return int32_sparse_indices(X.tocsr()) if sp.issparse(X) else np.ascontiguousarray(X)

    def _expert_input(self, X):
        """The columns of validated rows that the experts see."""
        return _columns(X, self.expert_features_)

    def _gate_input(self, X):
        """The columns of validated rows that the gate sees, standardised.

        A gate fitted on dense rows saw its columns centred: sparse rows are
        made dense (the gate's columns only) to be centred the same way.
        """
        if self.gate_features_.size == 0:
            return np.empty((X.shape[0], 0))
        columns = _columns(X, self.gate_features_)
        if sp.issparse(columns) and self.gate_scaler_.with_mean:
            columns = columns.toarray()
        return self.gate_scaler_.transform(columns)

    def _gate_log_proba(self, X):
        """Log gate probabilities of validated rows."""
        return self.gate_.predict_log_proba(self._gate_input(X))

    def _gate_proba(self, X):
        """Gate probabilities of validated rows."""
        if not sp.issparse(X):
            # A SoftmaxGate on dense rows: its products, without validating the rows again.
            columns = (np.empty((X.shape[0], 0)) if self.gate_features_.size == 0
                       else _columns(X, self.gate_features_))
            proba = softmax_gate_proba(self.gate_, self.gate_scaler_, columns)
            if proba is not None:
                return proba
        return self.gate_.predict_proba(self._gate_input(X))

    def _route(self, gate):
        """Each row's experts and their weights: all of them, or the ``top_k`` most probable.

        Returns ``(chosen, weights)``: ``chosen`` is None when every row goes to
        every expert (``weights`` is then the gate); otherwise an (n_samples,
        top_k) array of expert indices, most probable first (the lower index
        first among equal probabilities), with the gate renormalised over them.
        """
        if self.top_k is None or self.top_k >= gate.shape[1]:
            return None, gate
        gate = np.ascontiguousarray(gate, dtype=np.float64)
        chosen = np.empty((gate.shape[0], self.top_k), dtype=np.int64)
        weights = top_k_route(gate, self.top_k, chosen, np.empty_like(gate))
        return chosen, np.take_along_axis(weights, chosen, axis=1)

    def _routed_weights(self, gate):
        """:meth:`_route`'s weights as an (n_samples, n_experts) array, 0 for experts left out.

        ``gate`` (the caller's own array) is overwritten.
        """
        if self.top_k is None or self.top_k >= gate.shape[1]:
            return gate
        gate = np.ascontiguousarray(gate, dtype=np.float64)
        return top_k_route(gate, self.top_k, np.empty((0, self.top_k), dtype=np.int64), gate)

    def _dispatch(self, chosen):
        """For each expert with rows: ``(k, rows, slots)``, the rows sent to it and its slot.

        With ``chosen`` None every row goes to every expert (``rows`` is a full
        slice, ``slots`` is ``k``); otherwise rows are grouped by expert so that
        each expert is called once, on its rows only.
        """
        n_experts = len(self.experts_)
        if chosen is None:
            for k in range(n_experts):
                yield k, slice(None), k
            return
        flat = chosen.ravel()
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(n_experts + 1))
        for k in range(n_experts):
            cells = order[bounds[k]: bounds[k + 1]]
            if cells.size:
                yield k, cells // chosen.shape[1], cells % chosen.shape[1]

    @dask_blockwise
    def predict_gate(self, X, groups=None):
        """Gate probabilities: how much each expert speaks for each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        groups : array-like of shape (n_samples,), default=None
            Group labels, as in :meth:`fit`: the gate's columns must then be
            constant within each group (rows of a group get the same
            probabilities). None: rows on their own.

        Returns
        -------
        gate : ndarray of shape (n_samples, `n_experts_`)
            Rows sum to one; with a gate without inputs (``gate_features=[]``),
            the mixing proportions in every row.
        """
        X = self._validated_X(X)
        self._checked_groups(X, groups)
        return self._gate_proba(X)

    def _checked_groups(self, X, groups):
        """Validated ``groups`` of validated rows X (a _Groups or None), the gate's
        columns checked to be constant within each group."""
        groups = check_groups(groups, X.shape[0])
        if groups is not None:
            check_gate_constant_within_groups(X, self.gate_features_, groups,
                                              getattr(self, "feature_names_in_", None))
        return groups

    @fill_doc
    def log_likelihood(self, X, y, sample_weight=None, groups=None):
        """Total weighted log-likelihood of (X, y) under the fitted model.

        What flexmix's ``logLik`` reports for the data a model was fitted on:
        ``sum_i w_i log p(y_i | x_i)``, or with ``groups``
        ``sum_g log sum_k g_k(x_g) exp(sum_{i in g} w_i log p_k(y_i | x_i))``.
        It does not subtract the gate's and the experts' penalties
        (``lower_bound_`` does).

        Parameters
        ----------
        {scored_data}

        Returns
        -------
        log_likelihood : float
            The total, in nats.
        """
        return self._posterior_total(X, y, sample_weight, groups)[2]

    @dask_blockwise
    def score_samples(self, X, y):
        """Log-density of each target under the fitted mixture, ``log p(y | x)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log sum_k g_k(x) p_k(y | x)`` per row.
        """
        return self._posterior(X, y)[1]

    def _posterior(self, X, y, sample_weight=None, groups=None):
        """Responsibilities ``p(k | x, y)`` and ``log p(y | x)`` of new rows (see
        :meth:`_posterior_total`)."""
        return self._posterior_total(X, y, sample_weight, groups)[:2]

    def _posterior_total(self, X, y, sample_weight=None, groups=None):
        """Responsibilities ``p(k | x, y)``, ``log p(y | x)`` and the total weighted
        log-likelihood of new rows.

        With ``groups``, the responsibilities are the groups' (each row gets
        its group's), and the total is the grouped one (see
        :meth:`log_likelihood`); ``log p(y | x)`` stays per row.
        """
        X = self._validated_X(X)
        y = self._validate_targets(y, X.shape[0])
        sample_weight = check_sample_weight(sample_weight, X)
        groups = self._checked_groups(X, groups)
        log_lik = self._log_likelihood(self.experts_, self._fitted_params(),
                                       self._expert_input(X), y)
        log_gate = self._gate_log_proba(X)
        resp = np.empty_like(log_lik)
        row_log_lik = np.empty(X.shape[0])
        total = e_step(log_gate, log_lik, sample_weight, resp, row_log_lik)
        if groups is not None:
            resp, total = groups.e_step(log_gate[groups.first], log_lik, sample_weight)
        return resp, row_log_lik, float(total)

    def _fitted_params(self):
        return {name: getattr(self, name) for name in self._likelihood_params_}

    def _n_parameters(self, uncounted=None):
        """Free parameters of the fitted mixture: gate, experts and likelihood.

        Linear parts count what their designs can estimate (see
        :func:`~skmoe._experts.n_expert_parameters`).

        Parameters
        ----------
        uncounted : callable, default=None
            Counts an expert without a parameter count instead of raising (as
            :func:`~skmoe._experts.n_fitted_parameters` does); a gate without
            one then counts 0. None raises.

        Raises
        ------
        ValueError
            Naming every expert without a parameter count (and the gate, when
            it has none).
        """
        check_is_fitted(self)
        ranks = getattr(self, "_design_ranks_", None) or [None] * len(self.experts_)
        n_experts, missing = 0, []
        for index, (expert, rank) in enumerate(zip(self.experts_, ranks)):
            if not self._expert_enters_likelihood(index):
                continue
            try:
                n_experts += n_expert_parameters(expert, index, rank)
            except ValueError as exc:
                if uncounted is not None:
                    n_experts += uncounted(expert)
                    continue
                own = callable(getattr(expert, "_n_parameters", None))
                missing.append(f"expert {index} ({describe_expert(expert)}"
                               + (f": {exc}" if own else "") + ")")
        if missing:
            raise ValueError(
                "bic and aic need the number of free parameters of every expert; "
                f"{_join(missing)} {'has' if len(missing) == 1 else 'have'} no such count. "
                "Use experts with a parameter count (linear models, DummyRegressor, "
                "DummyClassifier, GaussianNB, mixtures of them), or compare models by "
                "held-out score_samples."
            )
        n_likelihood = sum(self._expert_likelihood_parameters(expert) for expert in self.experts_)
        try:
            n_gate = self.gate_._n_parameters(getattr(self, "_gate_rank_", None))
        except ValueError:
            if uncounted is None:
                raise
            n_gate = 0
        return n_gate + n_experts + n_likelihood

    def _warn_if_weights_count_few_rows(self, sample_weight):
        """Warn when ``sample_weight`` counts fewer rows than the fitted parameters need.

        The weights count rows (a row of weight 2 is two identical rows), and
        the penalties of the experts and the gate count rows of unit weight,
        as ``bic``, ``aic`` and ``standard_errors`` do. Weights made relative
        (summing to one, say) on rows enough for the model then leave the data
        the weight of a few rows: the penalties outweigh them, and the fit is
        pulled towards the null model (R² 0.17 against 0.70 on 400 rows of a
        switching regression) without a word.
        """
        if self.min_rows_per_parameter == 0:
            return
        if _is_dask(sample_weight):
            import dask

            total, n_positive = dask.compute(sample_weight.sum(),
                                             (sample_weight > 0).sum())
        else:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            total, n_positive = sample_weight.sum(), np.count_nonzero(sample_weight)
        n_parameters = self._n_parameters(uncounted=n_fitted_parameters)
        needed = self.min_rows_per_parameter * n_parameters
        if not total < min(needed, n_positive):
            return
        warnings.warn(
            f"sample_weight sums to {float(total):.3g}, fewer rows' worth than "
            f"min_rows_per_parameter={self.min_rows_per_parameter} times the "
            f"{n_parameters:.3g} parameters of the fitted mixture, though {int(n_positive)} "
            "rows have positive weight. The weights count rows (a row of weight 2 counts as "
            "two identical rows), and so do the penalties of the experts and the gate, bic, "
            "aic and standard_errors: the penalties outweigh these data. If the weights are "
            "relative (they sum to one, or are probabilities), multiply them by "
            "n_samples / sample_weight.sum().",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )

    @fill_doc
    def bic(self, X, y, sample_weight=None, groups=None):
        """Bayesian information criterion on (X, y); lower is better.

        ``-2 log L + p log n`` with ``p`` the free parameters that the
        training data can estimate: the gate's ``(K - 1) (r + 1)``, or
        ``(K - 1) r`` without intercept, with ``r`` the rank of its centred
        inputs (``d`` unless columns are constant or collinear; softmax is
        invariant to a shift of all classes; a gate other than SoftmaxGate has
        no count and raises a ValueError), each linear expert's coefficients
        and intercepts, counted in the same way by the rank of its design
        ((C - 1) (r + 1) for a multinomial logistic regression), one constant
        per DummyRegressor, the class priors, means and variances of a
        GaussianNB, and the likelihood's own parameters (a noise
        variance per Gaussian expert; for the classifier, ``C`` per expert
        whose labels are modelled as noisy: its share ``label_noise_`` and
        its ``C`` class frequencies less one; for an expert whose share is 1,
        which gives its class frequencies whatever its input, those alone, and
        not its own parameters). Experts without a parameter count
        (trees, neighbours) raise a ValueError that names each of them.
        ``log L`` is :meth:`log_likelihood`, and ``n`` the number of
        observations: the groups with ``groups``, else the total sample
        weight (the rows, with unit weights).

        Parameters
        ----------
        {scored_data}

        Returns
        -------
        bic : float
            The criterion; compare it across models fitted to the same data.
        """
        n_parameters = self._n_parameters()
        _, rows, total = self._posterior_total(X, y, sample_weight, groups)
        if groups is not None:
            n_observations = np.unique(np.asarray(groups)).shape[0]
        elif sample_weight is not None:
            n_observations = float(np.sum(sample_weight))
        else:
            n_observations = rows.shape[0]
        return -2.0 * total + n_parameters * np.log(n_observations)

    @fill_doc
    def aic(self, X, y, sample_weight=None, groups=None):
        """Akaike information criterion on (X, y); lower is better.

        ``-2 log L + 2 p``, with ``p`` counted as in :meth:`bic`.

        Parameters
        ----------
        {scored_data}

        Returns
        -------
        aic : float
            The criterion; compare it across models fitted to the same data.
        """
        n_parameters = self._n_parameters()
        return (-2.0 * self.log_likelihood(X, y, sample_weight, groups)
                + 2.0 * n_parameters)



def _named(experts):
    """Whether ``experts`` are ``(name, estimator)`` pairs; False for a list that mixes
    pairs and estimators (``get_params`` must not raise: fit says what is wrong)."""
    try:
        return named_experts(experts)
    except TypeError:
        return False


def _gate_objective(gate, X_gate, sample_weight, n_classes):
    """The objective of a SoftmaxGate's Newton M-steps on ``X_gate``, made once for a
    run (see :meth:`SoftmaxGate._em_objective`); None for other gates and solvers."""
    if not isinstance(gate, SoftmaxGate) or type(gate)._fit_soft is not SoftmaxGate._fit_soft:
        return None
    return gate._em_objective(X_gate, sample_weight, n_classes)


def _run_fit_params(run, data):
    """The routed fit parameters of each of ``run``'s experts (None when nothing is routed)."""
    params = data.expert_params
    if not params or not any(params):
        return None
    return [params[origin] if origin < len(params) else {} for origin in run.origins]


BaseMixtureOfExperts._partial_fit.__doc__ = BaseMixtureOfExperts._partial_fit.__doc__.replace(
    "{partial_fit}", _SHARED["partial_fit"])
BaseMixtureOfExperts.partial_fit.__doc__ = BaseMixtureOfExperts._partial_fit.__doc__


def _join(items):
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _warn_one_row_spreads(experts, X, labels, where="X's"):
    """Warn when one row alone sets the spread of a column that scaled experts penalise in.

    ``ScaledRidge`` and ``ScaledLogisticRegression`` measure their penalty in
    each column's standard deviation; a row far from all the others (one value
    of 1e6 in a column of unit scale) sets it alone, and the penalty on the
    column's effect among the other rows is then ``(spread / rest_spread)**2``
    times what it would be without that row (see
    :func:`~skmoe._ridge.one_row_spreads`).

    Parameters
    ----------
    experts : list of estimators
        The experts as they see ``X`` (a Pipeline's final steps when the
        mixture transformed X for them).
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        The experts' columns.
    labels : list of str
        Each column's name as the message gives it (``"'age'"``, ``"3"``).
    where : str
        Whose columns they are.
    """
    scaled = sorted({type(e).__name__ for e in experts
                     if type(e) in (ScaledRidge, ScaledLogisticRegression)})
    if not scaled:
        return
    spreads = one_row_spreads(X)
    if not spreads:
        return
    columns = [f"{labels[s.column]} (the row at position {s.row}, a value of {s.value:.3g}: "
               f"standard deviation {s.spread:.3g} with it, {s.rest_spread:.3g} without)"
               for s in spreads[:_FEW_ROWS]]
    if len(spreads) > _FEW_ROWS:
        columns.append(f"{len(spreads) - _FEW_ROWS} more")
    with np.errstate(over="ignore"):
        factor = min(np.square(np.float64(s.spread) / s.rest_spread) for s in spreads)
    # Beyond float64 for a row of 1e300 among ordinary values.
    factor = f"{factor:.3g}" if np.isfinite(factor) else "more than 1e308"
    warnings.warn(
        f"One row alone sets the spread of {where} {'column' if len(spreads) == 1 else 'columns'} "
        f"{_join(columns)}. {_join(scaled)} measures its penalty in each column's standard "
        "deviation, so its penalty on such a column's effect among the other rows is "
        f"{'' if len(spreads) == 1 else 'at least '}{factor} times what it would be "
        "without that row: the experts all but ignore the column there, and fit the row "
        "through it nearly free of penalty. If the row is an error, remove it or clip its "
        "value; otherwise transform the column so that no single row lies far from the "
        "others (a log or rank transform) before the fit.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )


def _design_ranks(experts, X, sample_weight):
    """The rank of each fitted linear expert's design (None for other experts).

    ``X`` is what the experts were fitted on; a Pipeline's final step sees
    its earlier steps' transform of it. Columns are centred for experts that
    fit an intercept. Sparse designs are not ranked (None).
    """
    ranks, cache = [], {}
    for expert in experts:
        final = linear_final_step(expert)
        design = X
        if final is not None and isinstance(expert, Pipeline) and len(expert.steps) > 1:
            design = expert[:-1].transform(X)
        if final is None or sp.issparse(design):
            ranks.append(None)
            continue
        center = bool(getattr(final, "fit_intercept", True))
        key = (id(design), center) if design is X else None
        if key is None or key not in cache:
            rank = design_rank(design, sample_weight, center)
            if key is None:
                ranks.append(rank)
                continue
            cache[key] = rank
        ranks.append(cache[key])
    return ranks


def _user_stacklevel():
    """The ``stacklevel`` that makes the caller's warning point at the user's line.

    The first frame, from the caller of this function outwards, outside this
    package, scikit-learn and joblib: the line that called ``fit``, or the
    ``Pipeline``, ``cross_validate`` or ``GridSearchCV`` that fitted the
    mixture (a fixed number of frames would point into those). With no such
    frame (a fit in a worker thread), the caller's caller.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level if frame is not None else 2


def _gate_rank(gate, X_gate, sample_weight):
    """The rank of a SoftmaxGate's (centred when it has intercepts) inputs; None otherwise."""
    if not isinstance(gate, SoftmaxGate):
        return None
    rows = X_gate.X_t.T if isinstance(X_gate, TransposedRows) else X_gate
    if sp.issparse(rows):
        return None
    return design_rank(rows, sample_weight, gate.fit_intercept)


def _groupings(sizes, random_state):
    """Ways of grouping ``sum(sizes)`` experts into subtrees of the given sizes.

    Each grouping is a list of index arrays, one per subtree, in order.
    Groupings that only swap subtrees of the same size are the same tree and
    given once. At most ``_MAX_GROUPINGS`` of them: all when there are no
    more, else the experts in order and then random groupings (drawn from
    ``random_state``).
    """
    n_leaves = sum(sizes)
    count = math.factorial(n_leaves)
    for size in sizes:
        count //= math.factorial(size)
    bounds = np.cumsum([0, *sizes])
    if count <= _MAX_GROUPINGS * math.factorial(len(sizes)):
        candidates = _ordered_groupings(list(range(n_leaves)), sizes)
    else:
        orders = itertools.chain([np.arange(n_leaves)],
                                 (random_state.permutation(n_leaves)
                                  for _ in range(4 * _MAX_GROUPINGS)))
        candidates = ([tuple(sorted(order[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]
                      for order in orders)
    seen = set()
    for groups in candidates:
        # Subtrees of the same size are interchangeable.
        key = frozenset(zip(sizes, groups))
        if key in seen:
            continue
        seen.add(key)
        yield [np.array(group, dtype=np.intp) for group in groups]
        if len(seen) == _MAX_GROUPINGS:
            return


def _ordered_groupings(leaves, sizes):
    """Every list of disjoint groups of ``leaves`` with the given sizes, in order."""
    if not sizes:
        yield []
        return
    for group in itertools.combinations(leaves, sizes[0]):
        rest = [leaf for leaf in leaves if leaf not in group]
        for tail in _ordered_groupings(rest, sizes[1:]):
            yield [group, *tail]


def _within(resp, total):
    """Responsibilities ``resp`` of a subtree's experts as shares of the subtree's ``total``
    (equal shares on rows the subtree has none of)."""
    shares = np.full_like(resp, 1.0 / resp.shape[1])
    rows = total > 0
    shares[rows] = resp[rows] / total[rows, None]
    return np.ascontiguousarray(shares)


def _gate_cost(gate, X, targets, sample_weight):
    """A fresh gate's penalised cross-entropy after fitting it to soft ``targets``."""
    gate._fit_soft(X, targets, sample_weight)
    log_proba = gate._log_proba(X)
    terms = np.where(targets > 0, targets * log_proba, 0.0)
    return float(-(sample_weight @ terms.sum(axis=1)) + gate._penalty())
