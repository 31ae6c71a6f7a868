"""The gate of a mixture of experts: SoftmaxGate and the adapter for any classifier."""

import functools
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import log_softmax as _log_softmax_reference
from sklearn.base import ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._gate_base import BaseGate
from ._gate_newton import gate_newton_solve
from ._kernels import (
    _MIN_PARALLEL_ENTRIES,
    log_softmax,
    penalise_gate_hessian,
    penalise_gate_loss,
    soft_cross_entropy,
    soft_cross_entropy_hessian,
)
from ._newton import newton_solve
from ._validation import (
    Interval,
    StrOptions,
    _check_method_params,
    _fit_context,
    check_labels,
    check_no_bool_numbers,
    check_sample_weight,
)


class TransposedRows:
    """Dense gate inputs held transposed, the layout SoftmaxGate's loss kernel reads.

    The EM loop prepares them once per fit, so that no gate solve in the loop
    copies the rows again; they are trusted (validated and standardised).

    Parameters
    ----------
    X_t : ndarray of shape (n_features, n_samples)
        The rows, transposed, C-contiguous float64.
    """

    def __init__(self, X_t):
        self.X_t = X_t

    @property
    def shape(self):
        """``(n_samples, n_features)``, as for the rows themselves."""
        return self.X_t.shape[1], self.X_t.shape[0]


def check_solver_input(gate, X):
    """Refuse sparse inputs for a SoftmaxGate with ``solver="newton"``.

    Raises
    ------
    ValueError
        When ``gate`` is such a gate and ``X`` is sparse.
    """
    if isinstance(gate, SoftmaxGate) and gate.solver == "newton" and sp.issparse(X):
        raise ValueError(
            "SoftmaxGate(solver='newton') needs dense X; got a sparse matrix. "
            "Use solver='lbfgs' or 'auto' for sparse inputs."
        )


class SoftmaxGate(ClassifierMixin, BaseGate):
    """Multinomial logistic regression that also learns from soft targets.

    The gate of :class:`MixtureOfExpertsRegressor`: it maps inputs to a
    probability over experts, and in each EM iteration it is fitted to the
    responsibilities, which are probabilities rather than labels. It minimises

        ``-sum_i w_i sum_k R_ik log softmax(W x_i + b)_k + ||W||^2 / (2 C)``

    from the analytic gradient ``X^T (w * (G - R)) + W / C``: by Newton's
    method for small gates on dense inputs (the default ``solver="auto"``: at
    most 40 parameters, or a Hessian cheap to form on few rows), else by
    L-BFGS (see ``solver``). The intercept ``b`` is not penalised.

    Parameters
    ----------
    C : float, default=1.0
        Inverse strength of the L2 penalty on the coefficients (the penalty is
        added to the summed, not averaged, cross-entropy).
    fit_intercept : bool, default=True
        Whether to learn an intercept per class.
    max_iter : int, default=100
        Maximum number of L-BFGS iterations or Newton steps per call to ``fit``.
    tol : float, default=1e-6
        Tolerance on the largest entry of the gradient of the objective
        divided by the total sample weight (projected gradient, for L-BFGS).
    solver : {"auto", "lbfgs", "newton"}, default="auto"
        How the objective is minimised.

        - "lbfgs": SciPy's L-BFGS-B with the analytic gradient.
        - "newton": Newton's method with a line search (iteratively
          reweighted least squares), on dense inputs only. Each step forms the
          ``K (d + 1)``-square Hessian, which costs about ``K (d + 1) / 2``
          gradient evaluations, and goes about as far as many L-BFGS
          iterations.
        - "auto": "newton" on dense inputs when the gate has at most 40
          parameters (``p = n_classes * (n_features + 1) <= 40``) or when
          forming its Hessian is cheap (``n_samples * p**2 <= 2e7``, e.g. up
          to 100 parameters on 2,000 rows), else "lbfgs".

        Both minimise the same convex objective; they differ in speed, and in
        the last digits of the solution.
    warm_start : bool, default=False
        Start from the previous solution when refitted with the same number of
        classes and features. The EM loop of the mixtures always warm-starts its
        own copy of the gate.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features)
        Coefficients, one row per class (expert).
    intercept_ : ndarray of shape (n_classes,)
        Intercepts, centred to sum to zero (softmax is invariant to a shift).
    classes_ : ndarray of shape (n_classes,)
        Class labels; ``arange(n_classes)`` when fitted on soft targets.
    n_iter_ : int
        L-BFGS iterations or Newton steps of the last fit.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import SoftmaxGate
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    >>> soft = np.array([[0.9, 0.1], [0.7, 0.3], [0.3, 0.7], [0.1, 0.9]])
    >>> gate = SoftmaxGate().fit(X, soft)
    >>> gate.predict(X)
    array([0, 0, 1, 1])
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "lbfgs", "newton"})],
        "warm_start": ["boolean"],
    }

    def __init__(self, C=1.0, *, fit_intercept=True, max_iter=100, tol=1e-6, solver="auto",
                 warm_start=False):
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.warm_start = warm_start

    def _validate_params(self):
        super()._validate_params()
        check_no_bool_numbers(self)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the gate to class labels or to soft targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or soft targets: an array with two or more columns
            whose rows are non-negative and sum to one.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; None means unit weights.

        Returns
        -------
        self : SoftmaxGate
            The fitted gate.
        """
        y_arr = np.asarray(y) if not hasattr(y, "iloc") else y
        if np.ndim(y_arr) == 2 and np.shape(y_arr)[1] >= 2:
            X, targets = validate_data(
                self, X, y, multi_output=True, y_numeric=True, dtype=np.float64,
                accept_sparse="csr"
            )
            targets = np.asarray(targets, dtype=np.float64)
            if np.any(targets < 0) or not np.allclose(targets.sum(axis=1), 1.0, atol=1e-6):
                raise ValueError(
                    "Soft targets y must be non-negative with rows summing to 1."
                )
            self.classes_ = np.arange(targets.shape[1])
        else:
            check_labels(y)
            X, y = validate_data(self, X, y, dtype=np.float64, accept_sparse="csr")
            check_classification_targets(y)
            encoder = LabelEncoder().fit(y)
            self.classes_ = encoder.classes_
            if self.classes_.shape[0] < 2:
                raise ValueError(
                    "SoftmaxGate needs at least 2 classes in y; got 1 class: "
                    f"{self.classes_[0]}."
                )
            targets = np.zeros((X.shape[0], self.classes_.shape[0]))
            targets[np.arange(X.shape[0]), encoder.transform(y)] = 1.0
        sample_weight = check_sample_weight(sample_weight, X)
        self._fit_soft(X, targets, sample_weight)
        return self

    def _fit_soft(self, X, targets, sample_weight, budget=None, objective=None):
        """Minimise the penalised soft cross-entropy; X and targets are validated.

        With a ``budget`` (a :class:`~skmoe._gate_base.SolverBudget`, from the
        EM loop of the mixtures) this is a generalised-EM step from the warm
        start: at most ``budget.newton_steps`` Newton steps or
        ``budget.lbfgs_iterations`` L-BFGS iterations (never more than
        ``max_iter``). Newton's line search and L-BFGS only accept steps that
        decrease the objective, and the start is kept if L-BFGS's result were
        worse, so the objective never increases.

        ``objective``, if given, is a :class:`_Objective` of these ``X``
        and ``sample_weight`` from :meth:`_em_objective` (the EM loop builds it
        once per run): it takes the targets, and Newton's method is used.

        Returns whether the solve ended by its own convergence (or by
        ``max_iter``, as a plain fit does) rather than by the budget.
        """
        n_features = X.shape[1]
        n_classes = targets.shape[1]
        if not hasattr(self, "classes_") or self.classes_.shape[0] != n_classes:
            self.classes_ = np.arange(n_classes)
        start = np.zeros((n_classes, n_features + 1))
        if (
            self.warm_start
            and hasattr(self, "coef_")
            and self.coef_.shape == (n_classes, n_features)
        ):
            start[:, :-1] = self.coef_
            if self.fit_intercept:
                start[:, -1] = self.intercept_
        newton = objective is not None or self._uses_newton(X, n_classes)
        max_iter = self.max_iter
        if budget is not None:
            max_iter = min(max_iter, budget.newton_steps if newton else budget.lbfgs_iterations)
        if max_iter == 0:
            # L-BFGS-B would still take one step with maxiter=0.
            params, self.n_iter_, solved = start.ravel(), 0, True
        else:
            if objective is None:
                objective = _Objective(X, targets, sample_weight, float(np.sum(sample_weight)),
                                       1.0 / self.C, self.fit_intercept)
            else:
                objective.set_targets(targets)
            solve = _newton if newton else _lbfgs
            params, self.n_iter_, solved = solve(objective, start.ravel(), max_iter, self.tol)
        params = params.reshape(n_classes, n_features + 1)
        self.coef_ = params[:, :-1].copy()
        intercept = params[:, -1] if self.fit_intercept else np.zeros(n_classes)
        # sum / n: np.mean's result, without its cost on a few entries.
        self.intercept_ = intercept - intercept.sum() / n_classes
        # Only the budget leaves the gate short of what a plain fit gives.
        return bool(solved or max_iter == self.max_iter)

    def _uses_newton(self, X, n_classes):
        """Whether ``solver`` (resolving "auto") means Newton's method on these inputs.

        Raises
        ------
        ValueError
            For ``solver="newton"`` on sparse inputs.
        """
        check_solver_input(self, X)
        if sp.issparse(X):
            return False
        if self.solver == "auto":
            return newton_is_cheap(X.shape[0], n_classes * (X.shape[1] + 1))
        return self.solver == "newton"

    def _em_objective(self, X, sample_weight, n_classes):
        """The objective of this gate's Newton M-steps on ``X`` for :meth:`_fit_soft`, or None.

        For an EM run whose every M-step fits the gate to new targets on the
        same dense rows and weights: the transposed rows, weights and constants
        are then prepared once. None where the gate is not fitted by Newton's
        method there.
        """
        if sp.issparse(X) or not self._uses_newton(X, n_classes):
            return None
        return _Objective(X, None, sample_weight, float(np.sum(sample_weight)),
                             1.0 / self.C, self.fit_intercept)

    def _penalty(self):
        """The L2 penalty ``||W||^2 / (2 C)`` at the current coefficients."""
        return 0.5 * float((self.coef_**2).sum()) / self.C

    def _n_parameters(self, rank=None):
        """Free parameters: one class's row is fixed by softmax's shift invariance.

        ``rank``, the rank of the (centred) inputs, replaces the number of
        features when given: constant or duplicated columns add nothing
        estimable.
        """
        n_classes, n_features = self.coef_.shape
        if rank is not None:
            n_features = min(n_features, int(rank))
        return (n_classes - 1) * (n_features + int(self.fit_intercept))

    def _drop_classes(self, keep):
        """Keep only the classes (experts) whose boolean mask ``keep`` is True."""
        if not hasattr(self, "coef_"):
            return
        self.coef_ = self.coef_[keep]
        self.intercept_ = self.intercept_[keep]
        self.classes_ = np.arange(self.coef_.shape[0])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _scores(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, accept_sparse="csr")
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def decision_function(self, X):
        """Linear scores of each class, ``X W^T + b``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            The scores before the softmax; with two classes, as in
            scikit-learn's classifiers, the score of the second class minus
            that of the first.
        """
        scores = self._scores(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def _log_proba(self, X, out=None):
        """:meth:`predict_log_proba` for the EM loop, which may hand over TransposedRows.

        ``out`` (n_samples, n_classes), if given, receives the result for
        TransposedRows; other inputs get a new array.
        """
        if not isinstance(X, TransposedRows):
            return self.predict_log_proba(X)
        shape = (X.shape[0], self.coef_.shape[0])
        scores = out if out is not None and out.shape == shape else np.empty(shape)
        np.matmul(X.X_t.T, self.coef_.T, out=scores)
        scores += self.intercept_
        return log_softmax(scores, scores)

    def predict_log_proba(self, X):
        """Log of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-softmax of the scores.
        """
        scores = self._scores(X)
        return log_softmax(scores, scores)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        best = np.argmax(self._scores(X), axis=1)
        return self.classes_[best]


# Largest number of gate parameters, K (d + 1), for which solver="auto" takes
# Newton's method. Forming the Hessian costs about K (d + 1) / 2 evaluations
# of the gradient. In whole fits (benchmarks/bench_solvers.py) Newton was as
# fast or faster up to 40 parameters at n = 2,000 to 200,000; from 42 on it
# lost on 200,000 rows.
NEWTON_MAX_PARAMETERS = 40
# Larger gates take Newton's method too while n_samples * p**2 (the Hessian's
# work) stays below this: there Newton won with 42 to 84 parameters (2,000
# rows, up to 1.4e7) and lost with 168 (5.6e7) or on 20,000 rows (3.5e7). In
# EM, three L-BFGS iterations from the previous gate, each restarting without
# curvature, barely move a gate whose coefficients grow large: on MASS::Boston
# (506 rows, K = 3, 42 parameters) 8 of 20 starts crawled to the cap of 1,000
# EM iterations; with one Newton step per M-step all converged, in 6.5 times
# fewer iterations in all (benchmarks/bench_small.py).
NEWTON_MAX_HESSIAN_WORK = 2e7


def newton_is_cheap(n_samples, n_parameters):
    """Whether Newton's method on a softmax model of ``n_parameters`` parameters
    (classes times columns plus one) fitted on ``n_samples`` rows is at least
    as fast as L-BFGS: ``solver="auto"``'s rule (the constants above)."""
    return (n_parameters <= NEWTON_MAX_PARAMETERS
            or n_samples * n_parameters**2 <= NEWTON_MAX_HESSIAN_WORK)


def _lbfgs(objective, start, max_iter, tol):
    """SciPy's L-BFGS-B from ``start``; returns ``(params, n_iter, solved)``.

    ``solved`` is False only when the iteration budget stopped it. The start
    is returned if L-BFGS-B ended at a worse point.
    """
    result = minimize(
        objective,
        start,
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": max_iter, "gtol": tol, "ftol": 64 * np.finfo(float).eps},
    )
    params = result.x
    if objective.first_loss is not None and result.fun > objective.first_loss:
        params = start
    # Status 1: stopped by the iteration budget.
    return params, int(result.nit), result.status != 1


def _newton(objective, start, max_iter, tol):
    """Newton's method from ``start`` (dense inputs); returns ``(params, n_iter, solved)``.

    The start is first centred across the experts (the probabilities do not
    change, the penalty can only fall), and the steps keep it centred: the
    penalised optimum is centred, and without that constraint the Newton system
    is singular along the common shifts of the coefficients whenever the
    penalty is negligible beside the data (sample weights of 1e20 made the
    steps explode there).
    """
    n_classes = objective.targets.shape[0]
    centred = start.reshape(n_classes, -1)
    centred = (centred - centred.sum(axis=0) / n_classes).ravel()
    if objective.fused and objective.X.size + objective.targets.size < _MIN_PARALLEL_ENTRIES:
        # Data the loss kernel runs serially on: the same steps in one compiled call.
        return gate_newton_solve(objective, centred, max_iter, tol)
    return newton_solve(objective, objective.hessian, centred, max_iter, tol,
                        objective.null_space())


class _Objective:
    """The gate's objective for L-BFGS and Newton: fused Numba kernel on dense inputs.

    Transposes the targets, and the inputs unless they come as
    :class:`TransposedRows`, once for all the evaluations of one solve (the
    kernel's layout), and remembers the loss at the first point evaluated,
    which L-BFGS-B takes to be the start. :meth:`set_targets` starts a new
    solve on the same rows (targets None: set them before evaluating).
    """

    def __init__(self, X, targets, sample_weight, total_weight, alpha, fit_intercept):
        self.args = (sample_weight, total_weight, alpha, fit_intercept)
        if sp.issparse(X):
            self.X, self.targets, self.fused = X, targets, False
        else:
            X_t = X.X_t if isinstance(X, TransposedRows) else X.T
            self.X = np.ascontiguousarray(X_t, dtype=np.float64)
            self.args = (np.ascontiguousarray(sample_weight, dtype=np.float64), *self.args[1:])
            self.fused = True
            if targets is not None:
                self.set_targets(targets)
        self.first_loss = None

    def set_targets(self, targets):
        """Take new targets (dense inputs): the objective of a new solve."""
        self.targets = np.ascontiguousarray(targets.T, dtype=np.float64)
        self.first_loss = None

    def __call__(self, params):
        function = _soft_cross_entropy_fused if self.fused else _soft_cross_entropy
        loss, grad = function(params, self.X, self.targets, *self.args)
        if self.first_loss is None:
            self.first_loss = loss
        return loss, grad

    def hessian(self, params):
        """Hessian of the objective at ``params`` (dense inputs only), for Newton's method.

        The kernel's Hessian of the loss, plus ``alpha`` on the coefficients'
        diagonal, divided by the total weight.
        """
        sample_weight, total_weight, alpha, fit_intercept = self.args
        n_classes = self.targets.shape[0]
        n_columns = self.X.shape[0] + 1
        size = n_classes * n_columns
        hess = np.empty((size, size))
        soft_cross_entropy_hessian(params.reshape(n_classes, n_columns), self.X,
                                   sample_weight, fit_intercept, hess)
        penalise_gate_hessian(hess, n_columns, alpha, total_weight)
        return hess

    def null_space(self):
        """Orthonormal directions that Newton's steps leave out.

        The common shift of every column across the experts (adding one
        constant to the same coefficient, or to the intercept, of every
        expert): the cross-entropy does not change along them, and the penalty
        is smallest where the coefficients are centred across the experts, so
        the optimum has no component along them. Without intercepts, the
        intercepts themselves (they are not parameters) replace their shift.
        """
        return _null_space(self.targets.shape[0], self.X.shape[0] + 1, bool(self.args[3]))

    def projector(self):
        """``V V^T`` of :meth:`null_space` ``V``, as :func:`~skmoe._newton.newton_solve`
        forms it (read-only, shared like the null space)."""
        return _projector(self.targets.shape[0], self.X.shape[0] + 1, bool(self.args[3]))


@functools.lru_cache(maxsize=64)
def _null_space(n_classes, n_columns, fit_intercept):
    """:meth:`_Objective.null_space` of a shape (read-only: one array serves every
    M-step of a fit)."""
    rows = np.arange(n_classes) * n_columns
    shifts = np.zeros((n_classes * n_columns, n_columns))
    for column in range(n_columns):
        shifts[rows + column, column] = 1.0 / np.sqrt(n_classes)
    if fit_intercept:
        space = shifts
    else:
        intercepts = np.zeros((n_classes * n_columns, n_classes))
        intercepts[rows + n_columns - 1, np.arange(n_classes)] = 1.0
        space = np.hstack([shifts[:, :-1], intercepts])
    space.flags.writeable = False
    return space


@functools.lru_cache(maxsize=64)
def _projector(n_classes, n_columns, fit_intercept):
    """:meth:`_Objective.projector` of a shape."""
    space = _null_space(n_classes, n_columns, fit_intercept)
    projector = space @ space.T
    projector.flags.writeable = False
    return projector


def _soft_cross_entropy_fused(params, X_t, targets_t, sample_weight, total_weight, alpha,
                              fit_intercept):
    """:func:`_soft_cross_entropy` through the Numba kernel, on transposed inputs.

    ``X_t`` is ``X.T`` and ``targets_t`` is ``targets.T``, both C-contiguous.
    """
    params = params.reshape(targets_t.shape[0], X_t.shape[0] + 1)
    grad = np.empty_like(params)
    loss = soft_cross_entropy(params, X_t, targets_t, sample_weight, fit_intercept, grad)
    loss = penalise_gate_loss(params, loss, grad, alpha, fit_intercept, total_weight)
    return loss, grad.ravel()


def _soft_cross_entropy(params, X, targets, sample_weight, total_weight, alpha, fit_intercept):
    """Penalised soft cross-entropy and its gradient, both divided by the total weight.

    The NumPy twin of :func:`_soft_cross_entropy_fused` (and of the kernel
    ``skmoe._kernels.soft_cross_entropy``); also used for sparse inputs.
    """
    n_classes = targets.shape[1]
    params = params.reshape(n_classes, X.shape[1] + 1)
    coef = params[:, :-1]
    scores = X @ coef.T
    if fit_intercept:
        scores += params[:, -1]
    log_prob = _log_softmax_reference(scores, axis=1)
    weighted_targets = targets * sample_weight[:, None]
    loss = -np.sum(weighted_targets * log_prob) + 0.5 * alpha * np.sum(coef**2)
    # d loss / d scores = w * (G - R), written without a second n x K temporary.
    np.exp(log_prob, out=log_prob)
    log_prob *= sample_weight[:, None]
    log_prob -= weighted_targets
    grad = np.empty_like(params)
    grad[:, :-1] = log_prob.T @ X + alpha * coef
    grad[:, -1] = log_prob.sum(axis=0) if fit_intercept else 0.0
    return loss / total_weight, grad.ravel() / total_weight


class ConstantGate(BaseGate):
    """A gate without inputs: the same mixing proportions for every row.

    flexmix's ``FLXPconstant``, and the gate of a plain finite mixture: the
    mixtures use it for ``gate_features=[]``. Its M-step is closed-form, the
    weighted mean of the responsibilities, which maximises
    ``sum_i w_i sum_k R_ik log pi_k`` over the proportions ``pi``; it ignores
    the columns of its inputs (there are none) and reads only their number
    of rows.

    Attributes
    ----------
    proportions_ : ndarray of shape (n_experts,)
        The mixing proportions; they sum to one.
    """

    def _fit_soft(self, X, targets, sample_weight, budget=None):
        """Set the proportions to the weighted mean of the soft ``targets``.

        Closed form: the ``budget`` does not apply, and the problem is solved.
        """
        proportions = sample_weight @ targets
        self.proportions_ = proportions / proportions.sum()
        self.classes_ = np.arange(targets.shape[1])
        return True

    def _log_proba(self, X, out=None):
        """Log proportions, one row per row of X (``out`` receives them if it fits)."""
        shape = (X.shape[0], self.proportions_.shape[0])
        result = out if out is not None and out.shape == shape else np.empty(shape)
        with np.errstate(divide="ignore"):
            result[:] = np.log(self.proportions_)
        return result

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, 0)
            Rows (only their number is read).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_experts)
            The log proportions in every row.
        """
        check_is_fitted(self)
        return self._log_proba(X)

    def predict_proba(self, X):
        """The proportions, one row per row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, 0)
            Rows (only their number is read).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            The proportions in every row.
        """
        check_is_fitted(self)
        return np.tile(self.proportions_, (X.shape[0], 1))

    def _n_parameters(self, rank=None):
        """Free parameters: the proportions, which sum to one (``rank`` is not used)."""
        return self.proportions_.shape[0] - 1

    def _drop_classes(self, keep):
        """Keep the proportions of the experts in ``keep``, renormalised."""
        if not hasattr(self, "proportions_"):
            return
        proportions = self.proportions_[keep]
        self.proportions_ = proportions / proportions.sum()
        self.classes_ = np.arange(proportions.shape[0])


# Share of the uniform distribution mixed into a classifier gate's probabilities.
GATE_FLOOR = 1e-3


class ClassifierGate(BaseGate):
    """Let any classifier with ``predict_proba`` and ``sample_weight`` act as a gate.

    The classifier is fitted on the data replicated once per expert, with
    label ``k`` and weight ``w_i * R_ik`` on the k-th copy, which maximises the
    same expected log-likelihood as the soft targets do.

    Parameters
    ----------
    classifier : estimator
        An unfitted scikit-learn classifier (cloned at fit).
    fit_params : dict, default=None
        Other parameters of the classifier's ``fit`` (routed metadata); arrays
        of one value per row are repeated with the rows.
    """

    def __init__(self, classifier, fit_params=None):
        self.classifier = classifier
        self.fit_params = fit_params

    def _fit_soft(self, X, targets, sample_weight, budget=None):
        """Fit the classifier to the soft targets (to its own tolerance, whatever ``budget``).

        ``X`` may be sparse: its copies are stacked as a CSR matrix. With one
        expert (``n_experts=1``, or all but one removed) there is nothing to
        classify: the classifier is not fitted (``classifier_`` is None) and
        the gate gives the expert every row; most classifiers refuse a single
        class.
        """
        n_samples, n_experts = targets.shape
        if n_experts == 1:
            self.classifier_, self.n_experts_ = None, 1
            return True
        if sp.issparse(X):
            X_rep = sp.vstack([X] * n_experts, format="csr")
        else:
            X_rep = np.concatenate([X] * n_experts, axis=0)
        labels = np.repeat(np.arange(n_experts), n_samples)
        weights = (targets * sample_weight[:, None]).T.ravel()
        params = _check_method_params(X, self.fit_params or {},
                                      np.tile(np.arange(n_samples), n_experts))
        self.classifier_ = clone(self.classifier).fit(X_rep, labels, sample_weight=weights,
                                                      **params)
        self.n_experts_ = n_experts
        return True

    def _describe(self):
        return type(self.classifier).__name__

    def _drop_classes(self, keep):
        """Forget the fitted classifier: its classes were the experts before the removal.

        The EM loop refits the gate on the remaining experts before it asks for
        probabilities again; until then the gate is unfitted.
        """
        del self.classifier_, self.n_experts_

    def predict_proba(self, X):
        """Gate probabilities, one column per expert, mixed with a little of the uniform.

        A classifier can give an expert probability 0 (a pure leaf of a tree);
        its responsibilities there would then stay 0 in every later iteration.
        Mixing in ``GATE_FLOOR`` of the uniform distribution keeps every
        expert able to win rows back.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The gate's inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Rows sum to one.
        """
        if not hasattr(self, "classifier_"):
            raise NotFittedError(
                "This ClassifierGate is not fitted (or its experts changed since its fit)."
            )
        if self.classifier_ is None:
            return np.ones((X.shape[0], 1))
        proba = np.zeros((X.shape[0], self.n_experts_))
        proba[:, self.classifier_.classes_] = self.classifier_.predict_proba(X)
        return (1.0 - GATE_FLOOR) * proba + GATE_FLOOR / proba.shape[1]
