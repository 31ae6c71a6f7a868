"""LogisticRegression experts fitted in the M-step by Newton's method, warm-started.

scikit-learn's ``LogisticRegression`` with an L2 penalty (or none) and a
solver of the L-BFGS family minimises, for sample weights ``w``,

    ``sum_i w_i loss_i + ||W||^2 / (2 C)``

(``sklearn/linear_model/_logistic.py`` divides both terms by ``sum_i w_i``:
its ``l2_reg_strength`` is ``1 / (C sum_i w_i)``, which does not move the
optimum), the intercepts unpenalised; ``loss_i`` is the multinomial
cross-entropy with three or more classes, the binomial one with two (one row
of coefficients ``beta``). This module minimises the same objective with the
softmax gate's fused loss, gradient and Hessian kernels (the targets are the
classes' indicators instead of responsibilities): a binomial model is the
two-class softmax with rows ``-beta / 2`` and ``beta / 2``, whose penalty is
``||beta||^2 / (4 C')``, so ``C' = C / 2`` gives the same objective.

In the EM loop of a mixture, each expert starts from its previous M-step's
coefficients, and takes a single Newton step while the mixture's
log-likelihood still moves (a generalised-EM step: the line search never lets
the objective rise); when it stalls, the step solves the problem to a tight
tolerance. The fitted expert is a plain ``LogisticRegression`` with the
attributes ``fit`` leaves (``classes_``, ``coef_``, ``intercept_``,
``n_iter_``, ``n_features_in_``).

A :class:`~skmoe.ScaledLogisticRegression` expert penalises its coefficients
in units of each column's spread over the rows (all of them in a mixture):
its Newton steps are taken on the columns divided by that spread, where the
penalty is the plain one, and its coefficients are reported in the units of
the inputs (with ``scale_``, as its own ``fit`` leaves them).
"""

import threading
import weakref
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from ._gate import TransposedRows, _Objective
from ._kernels import (
    log_softmax,
    penalise_gate_hessian,
    penalise_gate_loss,
    soft_cross_entropy_newton,
    softmax_observed_log_proba,
)
from ._newton import newton_steps
from ._scaled_logistic import ScaledLogisticRegression
from ._scaling import DENSE_COPY_MAX_ENTRIES
from ._validation import pipeline_final_step

# The largest entry of the gradient (of the objective divided by the total
# weight) at which a full solve stops, when the expert's own tol is looser:
# Newton's quadratic convergence makes the last digits cost about one step.
FULL_SOLVE_TOL = 1e-10
# Solvers whose objective is the one above (LinearModelLoss, penalty scaled by
# the total weight); liblinear penalises the intercept and sag/saga are stochastic.
_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky")
# Sparse X is made dense for the Newton M-step (the same fit as on dense X)
# while the copy is small (DENSE_COPY_MAX_ENTRIES) and a Newton step's Hessian
# costs at most this many multiply-adds, n_samples * n_parameters**2 (about a
# second); otherwise the expert's own solver, whose cost is that of X's non-zero
# entries (on 20,000 rows of 500 columns 2% filled, 0.1 s for a whole fit where
# the Newton M-steps took 10 s).
_SPARSE_MAX_NEWTON_WORK = 2**30


# The expert classes whose objective this module reproduces.
_NEWTON_CLASSES = (LogisticRegression, ScaledLogisticRegression)


def fits_by_newton(expert, X, y, route):
    """Whether ``expert`` is fitted here rather than by its own ``fit``.

    Only settings whose objective this module reproduces exactly: a plain
    ``LogisticRegression`` (not a subclass) or a
    :class:`~skmoe.ScaledLogisticRegression` with an L2 penalty or none, a
    solver of the L-BFGS family, no class weights, valid ``C``, ``tol`` and
    ``max_iter``, fitted with sample weights and integer labels on dense X,
    or on sparse X small enough to be made dense (see :func:`densifies`).
    Anything else (including invalid parameters, whose error the expert's
    own ``fit`` raises) keeps the expert's ``fit``.
    """
    if type(expert) not in _NEWTON_CLASSES or route != "sample_weight":
        return False
    if np.ndim(y) != 1 or np.asarray(y).dtype.kind not in "iu":
        return False
    if sp.issparse(X) and not densifies(X, y):
        return False
    return _alpha(expert) is not None


def densifies(X, y):
    """Whether sparse ``X`` is made dense for the Newton M-step of experts on labels ``y``.

    When ``X`` has at most ``2**25`` entries (``DENSE_COPY_MAX_ENTRIES``) and
    a Newton step's Hessian costs at most ``2**30`` multiply-adds,
    ``n_samples * p**2`` for ``p = n_classes * (n_features + 1)`` coefficients
    (a binomial model counts two classes, as the two-class softmax it is
    fitted as).
    """
    n_samples, n_features = X.shape
    n_classes = max(int(np.max(y)) + 1, 2) if n_samples else 2
    n_parameters = n_classes * (n_features + 1)
    return (n_samples * n_features <= DENSE_COPY_MAX_ENTRIES
            and n_samples * n_parameters**2 <= _SPARSE_MAX_NEWTON_WORK)


def _alpha(expert):
    """The penalty's strength ``1 / C`` of the expert's objective, or None when not handled."""
    params = expert.get_params(deep=False)
    C, l1_ratio, penalty = params["C"], params["l1_ratio"], params["penalty"]
    if not (isinstance(C, Real) and C > 0 and not isinstance(C, bool)):
        return None
    if not (isinstance(params["tol"], Real) and params["tol"] >= 0):
        return None
    max_iter = params["max_iter"]
    if not (isinstance(max_iter, Integral) and max_iter >= 1 and not isinstance(max_iter, bool)):
        return None
    if (params["solver"] not in _SOLVERS or params["class_weight"] is not None
            or params["dual"] is not False or params["n_jobs"] is not None
            or params["fit_intercept"] not in (True, False)):
        return None
    # ``penalty`` is deprecated: its default leaves the penalty to l1_ratio and C;
    # an explicit value makes fit warn, which only the expert's own fit does.
    if penalty != "deprecated" or l1_ratio is None or l1_ratio != 0:
        return None
    return 0.0 if np.isinf(C) else 1.0 / float(C)


def logistic_penalty(expert):
    """The penalty a fitted classifier expert's objective subtracts from its weighted
    log-likelihood, in nats, when skmoe knows it; 0 otherwise.

    Known: a plain ``LogisticRegression`` (not a subclass) or a
    :class:`~skmoe.ScaledLogisticRegression`, alone or as a Pipeline's final
    step (the earlier steps are fitted without the weights, so they are the
    same in every M-step), with an L2 penalty or none (set by
    ``l1_ratio=0``, ``penalty="l2"``, ``penalty=None`` or ``C=inf``), no class
    weights, a multinomial loss (not ``multi_class="ovr"``) and a solver of
    the L-BFGS family or sag/saga. Its fit with sample weights ``w`` minimises
    ``sum_i w_i loss_i + ||coef_||^2 / (2 C)`` (the intercepts unpenalised),
    so this is ``||coef_||^2 / (2 C)`` (``||scale_ coef_||^2 / (2 C)`` for a
    ScaledLogisticRegression). Any other expert gives 0: liblinear
    (which penalises the intercept and fits one-vs-rest), class weights (the
    loss is not the log-likelihood), L1 or elastic-net penalties, subclasses
    and other classifiers.

    Parameters
    ----------
    expert : estimator
        A fitted expert.

    Returns
    -------
    penalty : float
        In nats, not divided by the weights.
    """
    expert = pipeline_final_step(expert)
    if type(expert) not in _NEWTON_CLASSES or not hasattr(expert, "coef_"):
        return 0.0
    strength = _l2_strength(expert.get_params(deep=False))
    if strength is None:
        return 0.0
    coef = expert.coef_
    if type(expert) is ScaledLogisticRegression:
        coef = coef * expert.scale_
    return 0.5 * strength * float(np.sum(np.square(coef)))


def _l2_strength(params):
    """``1 / C`` of a LogisticRegression's L2 penalty (0 without a penalty), resolving
    ``penalty`` and ``l1_ratio`` as its ``fit`` does; None for any objective other
    than ``sum_i w_i loss_i + ||coef_||^2 / (2 C)`` with the multinomial loss."""
    C, penalty, l1_ratio = params["C"], params.get("penalty", "deprecated"), params["l1_ratio"]
    if (params["solver"] not in _SOLVERS + ("sag", "saga")
            or params["class_weight"] is not None
            or params.get("multi_class", "auto") not in ("auto", "multinomial", "deprecated")
            or not isinstance(C, Real) or isinstance(C, bool) or not C > 0):
        return None
    if penalty is None:
        return 0.0
    if penalty == "deprecated":
        if l1_ratio is not None and l1_ratio != 0:
            return None
    elif penalty != "l2":
        return None
    return 0.0 if np.isinf(C) else 1.0 / float(C)


class LogisticData:
    """What the Newton fits of one M-step share: X transposed, the labels' indicators.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Inputs of the experts; sparse ones are made dense.
    y : ndarray of shape (n_samples,)
        Integer labels.
    scale : ndarray of shape (n_features,), default=None
        The columns' spreads, by which they are divided (for
        ScaledLogisticRegression experts); None keeps them.
    """

    def __init__(self, X, y, scale=None):
        self.n_features = X.shape[1]
        self.scale = scale
        rows = X.T.toarray() if sp.issparse(X) else X.T
        if scale is not None:
            # One transposed copy, divided as it is made.
            rows = np.divide(rows, scale[:, None], order="C", dtype=np.float64)
        self.rows = TransposedRows(np.ascontiguousarray(rows, dtype=np.float64))
        self.classes, codes = np.unique(y, return_inverse=True)
        n_classes = self.classes.shape[0]
        self.codes = codes.astype(np.int64)
        indicators = np.zeros((n_classes, y.shape[0]))
        indicators[codes, np.arange(y.shape[0])] = 1.0
        # Softmax classes: two for a binomial model.
        self.indicators = indicators
        # id(expert) -> (its coef_, each row's log-probability of its class under
        # it), left by the expert's last M-step when its last evaluation was there.
        self.observed = {}


_LAST_DATA = threading.local()


def logistic_data(X, y, scale=None):
    """:class:`LogisticData` of ``X`` and ``y`` (its columns divided by ``scale``,
    when given), made once for the M-steps of a fit.

    The EM loop hands the same arrays to every M-step; the last ones seen
    by this thread are remembered (through weak references, so that they
    are not kept alive) with their transposed copy, one for ``scale=None``
    and one for a given ``scale`` (the same array in every M-step).
    """
    slot = "value" if scale is None else "scaled"
    last = getattr(_LAST_DATA, slot, None)
    if last is not None and last[0]() is X and last[1]() is y and last[2].scale is scale:
        return last[2]
    data = LogisticData(X, y, scale)
    setattr(_LAST_DATA, slot, (weakref.ref(X), weakref.ref(y), data))
    return data


def release_logistic_data():
    """Forget the :class:`LogisticData` this thread made (at the end of an EM run):
    it holds a copy of the inputs."""
    _LAST_DATA.value = _LAST_DATA.scaled = None


def is_plain_logistic(expert):
    """Whether ``expert`` is a fitted plain LogisticRegression (not a subclass) or
    ScaledLogisticRegression: its probabilities are the softmax of ``X coef_^T +
    intercept_``."""
    return type(expert) in _NEWTON_CLASSES and hasattr(expert, "coef_")


def logistic_log_likelihood(expert, X, y, floor):
    """``log max(p(y_i | x_i), floor)`` under a fitted LogisticRegression.

    What ``log(predict_proba(X))`` at the observed class gives (a class the
    expert never saw has probability 0, so the floor), from the log-softmax
    of the scores, without forming the probabilities.

    Parameters
    ----------
    expert : LogisticRegression
        Fitted, with integer ``classes_``.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples,)
        Integer labels, the global classes ``0 .. n_classes - 1``.
    floor : float
        Smallest probability used.

    Returns
    -------
    log_lik : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        When the expert's scores are not finite.
    """
    n_samples = X.shape[0]
    for slot in ("value", "scaled"):
        last = getattr(_LAST_DATA, slot, None)
        if last is not None and last[0]() is X and last[1]() is y:
            # The M-step's last evaluation gave these rows' log-probabilities.
            known = last[2].observed.get(id(expert))
            if known is not None and known[0] is expert.coef_:
                return np.maximum(known[1], np.log(floor))
    coef = np.asarray(expert.coef_, dtype=np.float64)
    intercept = np.asarray(expert.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:
        # Binomial: the scores of the two classes are 0 and the decision function.
        scores = np.zeros((n_samples, 2))
        if sp.issparse(X):
            scores[:, 1] = X @ coef[0]
        else:
            np.matmul(X, coef[0], out=scores[:, 1])
        scores[:, 1] += intercept[0]
    else:
        scores = np.asarray(X @ coef.T)
        scores += intercept
    if not np.all(np.isfinite(scores)):
        raise ValueError("LogisticRegression returned NaN or inf probabilities.")
    log_softmax(scores, scores)
    classes = np.asarray(expert.classes_, dtype=np.int64)
    columns = np.full(int(max(classes.max(), y.max())) + 1, -1, dtype=np.int64)
    columns[classes] = np.arange(classes.shape[0])
    column = columns[y]
    picked = scores[np.arange(n_samples), np.maximum(column, 0)]
    picked[column < 0] = -np.inf
    return np.maximum(picked, np.log(floor), out=picked)


def fit_by_newton(expert, data, weight, budget=None):
    """Fit a LogisticRegression ``expert`` to the weighted rows, from its previous fit.

    Parameters
    ----------
    expert : LogisticRegression
        An expert for which :func:`fits_by_newton` holds; fitted in place.
    data : LogisticData
        Inputs and labels.
    weight : ndarray of shape (n_samples,)
        Non-negative row weights (responsibilities times sample weights).
    budget : SolverBudget or None, default=None
        The EM loop's generalised-EM budget: take at most
        ``budget.newton_steps`` steps; None solves to tolerance.

    Returns
    -------
    expert : LogisticRegression
        The fitted expert.
    solved : bool
        Whether the solve ended at its tolerance (or at the expert's own
        ``max_iter``) rather than at the generalised-EM step's budget.

    Raises
    ------
    ValueError
        When fewer than two classes are present or the weights sum to zero,
        with the message ``LogisticRegression.fit`` gives.
    """
    n_classes = data.classes.shape[0]
    if n_classes < 2:
        raise ValueError(
            "This solver needs samples of at least 2 classes in the data, but the data "
            f"contains only one class: {data.classes[0]!r}"
        )
    total_weight = float(np.sum(weight))
    if not total_weight > 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    binary = n_classes == 2
    alpha = _alpha(expert)
    # The binomial model as a two-class softmax: C' = C / 2.
    alpha_softmax = 2.0 * alpha if binary else alpha
    fit_intercept = bool(expert.fit_intercept)
    n_columns = data.n_features + 1
    start = _start(expert, data, n_classes, binary)
    # Centred across the classes, where the penalised optimum lies: the steps then
    # leave out the coefficients' common shift (see _null_space).
    start[:, :-1] -= start[:, :-1].mean(axis=0)
    max_iter = int(expert.max_iter)
    n_steps = max_iter if budget is None else min(max_iter, budget.newton_steps)
    tol = min(float(expert.tol), FULL_SOLVE_TOL)
    objective = _ExpertObjective(data, weight, total_weight, alpha_softmax, fit_intercept)
    params, n_iter, solved = newton_steps(
        objective.evaluate, objective.loss_at, start.ravel(), n_steps, tol,
        _null_space(n_classes, n_columns, fit_intercept))
    final = params
    params = params.reshape(n_classes, n_columns)
    coef, intercept = params[:, :-1], params[:, -1]
    if fit_intercept:
        intercept = intercept - intercept.mean()
    else:
        intercept = np.zeros(n_classes)
    if alpha_softmax == 0:
        # Unpenalised: only the classes' differences are determined.
        coef = coef - coef.mean(axis=0)
    if binary:
        coef = (coef[1] - coef[0])[None, :]
        intercept = intercept[1:] - intercept[:1]
    if data.scale is not None:
        # In the units of the inputs, as ScaledLogisticRegression.fit leaves them.
        coef = coef / data.scale
        expert.scale_ = data.scale
    expert.classes_ = data.classes.copy()
    expert.coef_ = np.ascontiguousarray(coef)
    expert.intercept_ = np.ascontiguousarray(intercept)
    expert.n_iter_ = np.array([n_iter], dtype=np.int32)
    expert.n_features_in_ = data.n_features
    if objective.observed_at is not None and np.array_equal(objective.observed_at, final):
        data.observed[id(expert)] = (expert.coef_, objective.observed)
    else:
        data.observed.pop(id(expert), None)
    if hasattr(expert, "feature_names_in_"):
        # fit on an array without column names leaves none.
        del expert.feature_names_in_
    return expert, bool(solved or n_steps == max_iter)


class _ExpertObjective(_Objective):
    """The expert's penalised objective divided by the total weight (the gate's
    :class:`~skmoe._gate._Objective` on the labels' indicators), with the loss,
    gradient and Hessian of a Newton step from one pass over the rows."""

    def __init__(self, data, weight, total_weight, alpha, fit_intercept):
        super().__init__(data.rows, data.indicators.T, np.ascontiguousarray(weight),
                         total_weight, alpha, fit_intercept)
        self.codes = data.codes
        self.observed = self.observed_at = None

    def evaluate(self, params):
        """``(loss, grad, hess)`` at ``params``."""
        sample_weight, total_weight, alpha, fit_intercept = self.args
        n_classes = self.targets.shape[0]
        n_columns = self.X.shape[0] + 1
        matrix = params.reshape(n_classes, n_columns)
        grad = np.empty_like(matrix)
        size = n_classes * n_columns
        hess = np.empty((size, size))
        loss = soft_cross_entropy_newton(matrix, self.X, self.targets, sample_weight,
                                         fit_intercept, grad, hess)
        loss = penalise_gate_loss(matrix, loss, grad, alpha, fit_intercept, total_weight)
        penalise_gate_hessian(hess, n_columns, alpha, total_weight)
        return loss, grad.ravel(), hess

    def loss_at(self, params):
        """The loss at ``params``; each row's log-probability of its class is kept."""
        sample_weight, total_weight, alpha, fit_intercept = self.args
        n_classes = self.targets.shape[0]
        matrix = params.reshape(n_classes, self.X.shape[0] + 1)
        if self.observed is None:
            self.observed = np.empty(self.X.shape[1])
        loss = softmax_observed_log_proba(matrix, self.X, self.codes, sample_weight,
                                          fit_intercept, self.observed)
        self.observed_at = params.copy()
        return penalise_gate_loss(matrix, loss, np.empty_like(matrix), alpha, fit_intercept,
                                  total_weight)


def _start(expert, data, n_classes, binary):
    """The softmax parameters (n_classes, n_features + 1) of the expert's previous
    fit when it has the same classes and features; zeros otherwise."""
    start = np.zeros((n_classes, data.n_features + 1))
    coef = getattr(expert, "coef_", None)
    classes = getattr(expert, "classes_", None)
    if (coef is None or classes is None or not np.array_equal(classes, data.classes)
            or coef.shape != ((1 if binary else n_classes), data.n_features)):
        return start
    intercept = np.asarray(expert.intercept_, dtype=np.float64)
    if data.scale is not None:
        # The steps are taken on the columns divided by their spread.
        coef = coef * data.scale
    if binary:
        start[1, :-1] = 0.5 * coef[0]
        start[0, :-1] = -0.5 * coef[0]
        start[1, -1] = 0.5 * intercept[0]
        start[0, -1] = -0.5 * intercept[0]
    else:
        start[:, :-1] = coef
        start[:, -1] = intercept
    return start


def _null_space(n_classes, n_columns, fit_intercept):
    """Orthonormal directions that the Newton steps leave out.

    The intercepts' common shift (or each intercept, without intercepts), and
    each feature's common shift across classes. The cross-entropy does not
    change along them, and the penalty is smallest with the coefficients
    centred across the classes, so the optimum has no component along them;
    without them, the Newton system is singular whenever the penalty is
    negligible beside the sample weights (weights of 1e100 made the steps
    explode).
    """
    vectors = []
    intercepts = np.arange(n_classes) * n_columns + n_columns - 1
    if fit_intercept:
        vector = np.zeros(n_classes * n_columns)
        vector[intercepts] = 1.0 / np.sqrt(n_classes)
        vectors.append(vector)
    else:
        for index in intercepts:
            vector = np.zeros(n_classes * n_columns)
            vector[index] = 1.0
            vectors.append(vector)
    for column in range(n_columns - 1):
        vector = np.zeros(n_classes * n_columns)
        vector[np.arange(n_classes) * n_columns + column] = 1.0 / np.sqrt(n_classes)
        vectors.append(vector)
    return np.stack(vectors, axis=1)
