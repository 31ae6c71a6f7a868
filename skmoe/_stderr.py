"""Standard errors of a fitted mixture: observed information and the bootstrap.

The parameters are reported as flexmix's ``refit`` reports them, on the
user's scale of the features:

* for each expert ``k``: its intercept and coefficients (on the columns
  ``expert_features_``) and, for a Gaussian expert, ``log(sigma)``, the log of
  its noise standard deviation;
* for the gate, for each expert ``k >= 1``: the intercept and coefficients of
  the log-odds of expert ``k`` against expert 0 (the reference, whose
  coefficients are 0), on the gate's columns as given (the gate's internal
  standardisation undone).

``method="information"`` inverts the observed information matrix (the
negative Hessian of the whole log-likelihood, by Louis' identity, with the
gate's L2 penalty added) once; ``method="bootstrap"`` refits the mixture on
resampled rows from the fitted solution.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from joblib import effective_n_jobs
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from ._base import BaseMixtureOfExperts
from ._families import FAMILIES
from ._gate import ConstantGate, SoftmaxGate
from ._kernels import e_step
from ._scaling import magnitude
from ._validation import (
    Interval,
    _safe_indexing,
    check_fit_weight_scale,
    check_no_bool_params,
    check_sample_weight,
    validate_parameter_constraints,
)

# Rows per block of the information matrix: each block holds an
# (n_rows, n_experts, n_parameters) array of per-row scores.
_BLOCK_ROWS = 4096
_LOG_2PI = float(np.log(2.0 * np.pi))
# The interquartile range of a normal distribution, in standard deviations.
_NORMAL_IQR = 2.0 * float(norm.ppf(0.75))
# A bootstrap standard error above this many times the spread of the refits'
# middle half marks refits that went far (see replicate_diagnostics). Refits of
# well-posed fits measured 0.6 to 1.5 (100 to 200 refits).
_HEAVY_TAIL_RATIO = 3.0
# The bootstrap's refits run to this tolerance (or the fit's, if finer) and at
# least this many iterations. A refit starts from the fitted solution, where
# EM's steps towards its resample's maximum are short: stopped by the default
# tol of 1e-5 it stayed short of it, and the refits spread up to 13% less than
# when run to 1e-8 (Student t and Gaussian mixtures on 300 rows).
_REFIT_TOL = 1e-8
_REFIT_MAX_ITER = 1000
# A gate coefficient that the gate's penalty moves by this many of its standard
# errors or more is reported (a 95% Wald interval then covers the unpenalised
# parameter 0.92 of the time or less).
_PENALTY_SHIFT = 0.5
_NOT_POSITIVE_DEFINITE = (
    "The observed information matrix is not positive definite: the fit is not at a maximum "
    "of the likelihood, or a coefficient is not identified (collinear columns, an expert "
    "without rows). Refit with a smaller tol, drop collinear columns, or use "
    "method='bootstrap'."
)


def check_mixture(estimator, caller):
    """Refuse anything but a fitted mixture, naming ``caller``."""
    if not isinstance(estimator, BaseMixtureOfExperts):
        raise TypeError(
            f"{caller} needs a fitted MixtureOfExpertsRegressor or MixtureOfExpertsClassifier; "
            f"got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)


def feature_names(estimator, columns):
    """Names of the given columns of X: ``feature_names_in_`` or ``x0, x1, ...``."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = np.array([f"x{i}" for i in range(estimator.n_features_in_)], dtype=object)
    return [str(name) for name in np.asarray(names)[columns]]


# ------------------------------------------------------------- the parameters
def gate_rows(estimator):
    """The gate's scores on the user's scale: ``(intercepts, coef, names)``.

    ``scores(x) = intercepts + coef @ x_gate`` with ``x_gate`` the gate's
    columns as given (not standardised); one row per expert. None for a gate
    that is neither a SoftmaxGate nor a ConstantGate.
    """
    gate = estimator.gate_
    if isinstance(gate, ConstantGate):
        with np.errstate(divide="ignore"):
            return np.log(gate.proportions_), np.zeros((gate.proportions_.shape[0], 0)), []
    if not isinstance(gate, SoftmaxGate):
        return None
    scaler = estimator.gate_scaler_
    mean = scaler.mean_ if scaler.mean_ is not None else np.zeros(gate.coef_.shape[1])
    coef = gate.coef_ / scaler.scale_
    intercepts = gate.intercept_ - coef @ mean
    return intercepts, coef, feature_names(estimator, estimator.gate_features_)


def _expert_parameters(estimator, k):
    """Names and values of expert k's own parameters (coefficients, noise)."""
    from .inspection import _coefficients

    names = feature_names(estimator, estimator.expert_features_)
    values = _coefficients(estimator.experts_[k], np.asarray(names, dtype=object),
                           getattr(estimator, "classes_", None))
    family = FAMILIES.get(getattr(estimator, "family_", None))
    if family is not None and family.name == "gaussian":
        values["log(sigma)"] = 0.5 * float(np.log(estimator.noise_variance_[k]))
    elif family is not None:
        params = {name: getattr(estimator, name) for name in family.params}
        values.update({name: float(value) for name, value in family.summary(params, k).items()})
    return values


def parameter_table(estimator):
    """Every reported parameter of a fitted mixture, per expert.

    Returns
    -------
    experts : list of dict
        Expert k's named parameters.
    gate : tuple or None
        ``(intercepts, coef, names)`` of :func:`gate_rows`.
    """
    experts = [_expert_parameters(estimator, k) for k in range(estimator.n_experts_)]
    return experts, gate_rows(estimator)


def flatten(experts, gate, order=None):
    """The parameters as ``(index, values)``, experts in ``order``, the gate against
    the first of them (flexmix's reference)."""
    order = np.arange(len(experts)) if order is None else np.asarray(order)
    index, values = [], []
    for position, k in enumerate(order):
        for name, value in experts[k].items():
            index.append((f"expert {position}", name))
            values.append(value)
    if gate is not None:
        intercepts, coef, names = gate
        intercepts, coef = intercepts[order], coef[order]
        for position in range(1, len(order)):
            index.append((f"gate {position}", "intercept"))
            values.append(intercepts[position] - intercepts[0])
            for j, name in enumerate(names):
                index.append((f"gate {position}", name))
                values.append(coef[position, j] - coef[0, j])
    return index, np.asarray(values, dtype=np.float64)


def _frame(index, estimate, std_error):
    """The table of estimates, standard errors, z and two-sided p values."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = estimate / std_error
    frame = pd.DataFrame(
        {"estimate": estimate, "std_error": std_error, "z": z,
         "p_value": 2.0 * norm.sf(np.abs(z))},
        index=pd.MultiIndex.from_tuples(index, names=["component", "parameter"]),
    )
    return frame


# -------------------------------------------------------- observed information
def _check_information(estimator):
    """Refuse models whose likelihood the information method does not cover."""
    use = "use method='bootstrap', which covers any experts and gate"
    if getattr(estimator, "family_", None) != "gaussian":
        what = (f"the {estimator.family_} family" if hasattr(estimator, "family_")
                else f"a {type(estimator).__name__}")
        raise ValueError(
            "method='information' covers mixtures of Gaussian linear experts (flexmix's "
            f"FLXMRglm()); this model has {what}. Refit with LinearRegression experts, or {use}."
        )
    for k, expert in enumerate(estimator.experts_):
        if type(expert) is not LinearRegression or expert.positive:
            kind = type(expert).__name__
            if isinstance(expert, Pipeline):
                kind = f"a Pipeline ending in {type(expert[-1]).__name__}"
            raise ValueError(
                "method='information' covers LinearRegression experts, the unpenalised "
                f"least squares whose likelihood flexmix's refit differentiates; expert {k} "
                f"is {kind}{' (positive=True)' if kind == 'LinearRegression' else ''}. Refit "
                "with experts=LinearRegression(tol=0.0) (default ScaledRidge experts are "
                f"penalised fits with cross-fitted noise), or {use}."
            )
    if estimator.assignment == "hard":
        # Classification EM maximises another likelihood: where experts overlap its
        # gate is sharper and its estimates biased, and the inverse information at
        # them gave 95% intervals that covered the gate's intercept 37% of the time.
        raise ValueError(
            "method='information' needs maximum-likelihood estimates; this model was "
            "fitted with assignment='hard' (classification EM), whose estimates maximise "
            "the classification likelihood and are biased where the experts overlap. "
            "Refit with assignment='soft' (with warm_start=True it continues from this "
            f"fit), or {use} (the spread of the hard-assignment estimates, around "
            "their own bias)."
        )
    if estimator._cross_fits(estimator.experts_[0]):
        raise ValueError(
            "method='information' needs the maximum-likelihood noise variances; this model "
            "was fitted with noise_variance='cross_fitted'. Refit with "
            f"noise_variance='in_sample' (or 'auto'), or {use}."
        )
    if not isinstance(estimator.gate_, (SoftmaxGate, ConstantGate)):
        raise ValueError(
            "method='information' covers the SoftmaxGate and the gate without inputs; this "
            f"model's gate is {type(estimator.gate_.classifier).__name__}. Refit with the "
            f"default gate, or {use}."
        )
    if isinstance(estimator.gate_, SoftmaxGate) and not estimator.gate_.fit_intercept:
        raise ValueError(
            "method='information' needs a SoftmaxGate with intercepts (its scores on the "
            "standardised columns have no free intercept otherwise, which flexmix's "
            f"parameterisation cannot express); refit with fit_intercept=True, or {use}."
        )


def _gate_design(estimator, X):
    """The gate's standardised inputs, after a column of ones (its intercepts)."""
    gate = estimator.gate_
    if isinstance(gate, ConstantGate):
        return np.ones((X.shape[0], 1))
    Z = estimator._gate_input(X)
    Z = np.asarray(Z.toarray() if sp.issparse(Z) else Z, dtype=np.float64)
    return np.column_stack([np.ones(X.shape[0]), Z])


def _user_scale_jacobian(estimator):
    """The matrix that maps one expert's gate parameters on the standardised
    columns (intercept first) to the user's scale."""
    gate = estimator.gate_
    if isinstance(gate, ConstantGate):
        return np.ones((1, 1))
    scaler = estimator.gate_scaler_
    scale = scaler.scale_
    d = scale.shape[0]
    mean = scaler.mean_ if scaler.mean_ is not None else np.zeros(d)
    jacobian = np.zeros((d + 1, d + 1))
    jacobian[0, 0] = 1.0
    jacobian[0, 1:] = -mean / scale
    jacobian[1:, 1:] = np.diag(1.0 / scale)
    return jacobian


def observed_information(estimator, X, y, sample_weight=None, groups=None):
    """The observed information of the whole log-likelihood at the fitted parameters.

    The parameters are, in this order: for each expert its intercept (when it
    fits one), its coefficients (times ``units``: those of the columns divided
    by their magnitude, a power of two, whose squares are then normal numbers
    whatever the units of X) and ``log(sigma)``; then for each expert
    ``k >= 1`` the gate's intercept and coefficients of the log-odds of ``k``
    against expert 0 on the gate's *standardised* columns. By Louis' identity,
    with ``h`` the responsibilities and ``a_ik = log g_k(x_i) + log p_k(y_i | x_i)``,
    the Hessian of row i's log-likelihood is
    ``sum_k h_ik (d2 a_ik + da_ik da_ik^T) - (sum_k h_ik da_ik)(sum_k h_ik da_ik)^T``.
    The gate's penalty ``||W||^2 / (2 C)`` (on the standardised columns, over all
    experts, which the fitted gate satisfies with its coefficients centred) adds
    ``(I - 1 1^T / K) / C`` per column.

    With ``groups`` (a checked ``_Groups``) the observations are the groups:
    ``a_gk = log g_k(x_g) + sum_{i in g} w_i log p_k(y_i | x_i)``, the same
    identity over groups, each group once (see :func:`_grouped_outer`).

    Returns
    -------
    information : ndarray of shape (n_parameters, n_parameters)
    estimate : ndarray of shape (n_parameters,)
        The fitted parameters in the same order and scale.
    n_expert_parameters : int
        How many of them are the experts'.
    units : ndarray of shape (n_parameters,)
        What each parameter was multiplied by (1 but for the experts'
        coefficients).
    """
    Xv = estimator._validated_X(X)
    y = estimator._validate_targets(y, Xv.shape[0])
    weights = check_sample_weight(sample_weight, Xv)
    # The information sums the weights times the responsibilities, as the fit does.
    check_fit_weight_scale(weights)
    Xe = estimator._expert_input(Xv)
    Xe = np.asarray(Xe.toarray() if sp.issparse(Xe) else Xe, dtype=np.float64)
    # The information holds the columns' squares, which overflowed beyond about 1e154
    # (and lost their digits below 1e-154): in units of a power of two, exactly.
    unit = magnitude(Xe)
    Xe = Xe / unit
    experts = estimator.experts_
    n_experts = len(experts)
    designs, coefs, units = [], [], []
    for expert in experts:
        coef = np.ravel(expert.coef_).astype(np.float64) * unit
        if expert.fit_intercept:
            designs.append(np.column_stack([np.ones(Xe.shape[0]), Xe]))
            coefs.append(np.concatenate([[float(expert.intercept_)], coef]))
            units.append(np.concatenate([[1.0], unit, [1.0]]))
        else:
            designs.append(Xe)
            coefs.append(coef)
            units.append(np.concatenate([unit, [1.0]]))
    variance = np.asarray(estimator.noise_variance_, dtype=np.float64)
    sizes = [c.shape[0] + 1 for c in coefs]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n_expert_params = int(offsets[-1])
    Z = _gate_design(estimator, Xv)
    q = Z.shape[1]
    gate_offset = n_expert_params
    n_params = n_expert_params + (n_experts - 1) * q

    residuals = np.column_stack([y - D @ c for D, c in zip(designs, coefs)])
    log_lik = -0.5 * (_LOG_2PI + np.log(variance)) - residuals**2 / (2.0 * variance)
    log_gate = np.ascontiguousarray(estimator._gate_log_proba(Xv))
    resp = np.empty_like(log_lik)
    if groups is None:
        e_step(log_gate, np.ascontiguousarray(log_lik), weights, resp, np.empty(Xv.shape[0]))
    else:
        resp = groups.e_step(log_gate[groups.first], np.ascontiguousarray(log_lik), weights)[0]
    gate = np.exp(log_gate)

    hessian = np.zeros((n_params, n_params))
    if groups is not None:
        hessian += _grouped_outer(groups, weights, resp, residuals, variance, designs,
                                  offsets, sizes, gate, Z, gate_offset, n_params)
    for start in range(0, Xv.shape[0], _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        w, h, r, p, Zb = weights[rows], resp[rows], residuals[rows], gate[rows], Z[rows]
        m = w.shape[0]
        if groups is not None:
            # The scores' outer products are the groups' (above); the experts'
            # curvature below is the rows' own, the gate's the groups'.
            _expert_curvature(hessian, w, h, r, variance, designs, rows, offsets, sizes)
            continue
        scores = np.zeros((m, n_experts, n_params))
        for k in range(n_experts):
            o = offsets[k]
            scores[:, k, o:o + sizes[k] - 1] = (r[:, k] / variance[k])[:, None] * designs[k][rows]
            scores[:, k, o + sizes[k] - 1] = r[:, k] ** 2 / variance[k] - 1.0
            for j in range(1, n_experts):
                g = gate_offset + (j - 1) * q
                scores[:, k, g:g + q] = (float(k == j) - p[:, j])[:, None] * Zb
        # sum_k h da da^T - (sum_k h da)(sum_k h da)^T, row-weighted.
        scaled = scores * np.sqrt(w[:, None, None] * h[:, :, None])
        flat = scaled.reshape(m * n_experts, n_params)
        hessian += flat.T @ flat
        mean_score = np.einsum("ik,ikp->ip", h, scores) * np.sqrt(w)[:, None]
        hessian -= mean_score.T @ mean_score
        # sum_k h d2 a: the experts' blocks.
        _expert_curvature(hessian, w, h, r, variance, designs, rows, offsets, sizes)
        _gate_curvature(hessian, w, p, Zb, gate_offset, q)
    if groups is not None:
        # The gate sees one row per group, each of weight 1.
        first = groups.first
        _gate_curvature(hessian, np.ones(first.shape[0]), gate[first], Z[first],
                        gate_offset, q)

    information = -hessian
    information[gate_offset:, gate_offset:] += gate_penalty_information(estimator, q)
    # The estimate on the same (standardised) scale.
    estimate = np.concatenate(
        [np.concatenate([c, [0.5 * np.log(v)]]) for c, v in zip(coefs, variance)]
        + [gate_standardised_estimate(estimator)]
    )
    units = np.concatenate(units + [np.ones(n_params - n_expert_params)])
    return information, estimate, n_expert_params, units


def gate_standardised_estimate(estimator):
    """The gate's parameters as :func:`observed_information` orders them: for each
    expert ``k >= 1`` its intercept and coefficients on the standardised columns,
    less expert 0's."""
    gate = estimator.gate_
    if isinstance(gate, ConstantGate):
        with np.errstate(divide="ignore"):
            rows = np.log(gate.proportions_)[:, None]
    else:
        rows = np.column_stack([gate.intercept_, gate.coef_])
    return np.concatenate([rows[j] - rows[0] for j in range(1, rows.shape[0])])


def gate_penalty_information(estimator, q):
    """The curvature the gate's L2 penalty ``||W||^2 / (2 C)`` adds to the gate's
    parameters of :func:`gate_standardised_estimate` (``q`` per expert ``k >= 1``):
    ``(I - 1 1^T / K) / C`` per column, the intercepts (column 0) unpenalised.
    Zeros for a gate without a penalty."""
    n_experts = estimator.n_experts_
    penalty = np.zeros(((n_experts - 1) * q, (n_experts - 1) * q))
    if isinstance(estimator.gate_, SoftmaxGate):
        pairs = (np.eye(n_experts - 1) - 1.0 / n_experts) / estimator.gate_.C
        for column in range(1, q):
            idx = np.arange(n_experts - 1) * q + column
            penalty[np.ix_(idx, idx)] += pairs
    return penalty


def penalty_shift(information, penalty, estimate):
    """How far the gate's penalty holds the parameters from the likelihood's maximum.

    One Newton step of the unpenalised log-likelihood from the penalised fit:
    there the likelihood's gradient equals the penalty's, ``P theta``, so the
    step is ``(I - P)^{-1} P theta``, with ``I`` the penalised information.
    It underestimates the distance when the likelihood flattens along the
    step (measured: a gate slope of 3.13 at ``C=1`` stepped to 3.89, and the
    fit at ``C=1e6`` reached 4.34).

    Parameters
    ----------
    information : ndarray of shape (p, p)
        The penalised observed information (or the gate's block of it).
    penalty : ndarray of shape (p, p)
        The penalty's part of it.
    estimate : ndarray of shape (p,)

    Returns
    -------
    shift : ndarray of shape (p,) or None
        None when ``I - P`` is not positive definite: the likelihood alone does
        not bound the parameters (a gate that separates the experts), and the
        penalty sets them.
    """
    if not penalty.any():
        return np.zeros_like(estimate)
    try:
        covariance = _covariance(information - penalty)
    except ValueError:
        return None
    return covariance @ (penalty @ estimate)


def penalty_diagnostics(estimator, index, estimate, std_error, shift):
    """The gate parameters that the gate's penalty moves by ``_PENALTY_SHIFT`` of
    their standard errors or more: ``{(component, parameter): reason}``.

    ``shift`` is :func:`penalty_shift` on the table's scale (None: not bounded).
    """
    gate = estimator.gate_
    if not isinstance(gate, SoftmaxGate):
        return {}
    refit = ("refit with gate=SoftmaxGate(C=1e6) for the unpenalised model "
             "(flexmix's), or read the table as that of the penalised fit")
    unreliable = {}
    for j, (component, name) in enumerate(index):
        if not component.startswith("gate") or name == "intercept":
            continue
        if shift is None:
            unreliable[(component, name)] = (
                f"the likelihood alone does not bound the gate's coefficients (the "
                f"experts are separated: its maximum is at infinity); the gate's L2 "
                f"penalty (C={gate.C:g}) sets them, so the estimate and its standard "
                f"error are the penalty's, not the data's")
            continue
        if abs(shift[j]) >= _PENALTY_SHIFT * std_error[j]:
            unreliable[(component, name)] = (
                f"the gate's L2 penalty (C={gate.C:g}) holds it "
                f"{abs(shift[j]) / std_error[j]:.2g} standard errors or more from the "
                f"likelihood's maximum (one Newton step of the unpenalised likelihood "
                f"takes it from {estimate[j]:.4g} to {estimate[j] + shift[j]:.4g}): its "
                f"interval is about the penalised estimate; {refit}")
    return unreliable


def _expert_curvature(hessian, w, h, r, variance, designs, rows, offsets, sizes):
    """Add ``sum_k h d2 a`` of the experts' blocks of some rows to ``hessian``."""
    for k in range(len(designs)):
        o, size = offsets[k], sizes[k]
        wh = w * h[:, k]
        D = designs[k][rows]
        beta, log_sigma = slice(o, o + size - 1), o + size - 1
        hessian[beta, beta] -= (D * (wh / variance[k])[:, None]).T @ D
        cross = 2.0 * (D.T @ (wh * r[:, k])) / variance[k]
        hessian[beta, log_sigma] -= cross
        hessian[log_sigma, beta] -= cross
        hessian[log_sigma, log_sigma] -= 2.0 * float(wh @ r[:, k] ** 2) / variance[k]


def _gate_curvature(hessian, w, p, Z, gate_offset, q):
    """Add the gate's block (the same for every k: the responsibilities sum to one)."""
    n_experts = p.shape[1]
    for j in range(1, n_experts):
        gj = slice(gate_offset + (j - 1) * q, gate_offset + j * q)
        for ell in range(1, n_experts):
            gl = slice(gate_offset + (ell - 1) * q, gate_offset + ell * q)
            c = w * (p[:, j] * (float(j == ell) - p[:, ell]))
            hessian[gj, gl] -= (Z * c[:, None]).T @ Z


def _grouped_outer(groups, weights, resp, residuals, variance, designs, offsets, sizes, gate,
                   Z, gate_offset, n_params):
    """``sum_g [sum_k h_gk S_gk S_gk^T - (sum_k h_gk S_gk)(sum_k h_gk S_gk)^T]``.

    ``S_gk`` is group g's complete-data score under expert k: its rows'
    weighted expert scores summed, plus the gate's score at the group's row.
    The rows of a group share one latent expert, so their scores add before
    the outer product: taken row by row, as without groups, the gate's
    errors of groups of 4 rows came out half their spread.
    """
    n_experts = len(designs)
    first = groups.first
    q = Z.shape[1]
    scores = np.zeros((groups.n_groups, n_experts, n_params))
    for k in range(n_experts):
        o, size = offsets[k], sizes[k]
        r = residuals[:, k]
        own = np.column_stack([(r / variance[k])[:, None] * designs[k],
                               r**2 / variance[k] - 1.0])
        scores[:, k, o:o + size] = groups.sum_rows(own, weights)
        for j in range(1, n_experts):
            g = gate_offset + (j - 1) * q
            scores[:, k, g:g + q] += (float(k == j) - gate[first, j])[:, None] * Z[first]
    h = resp[first]
    flat = (scores * np.sqrt(h)[:, :, None]).reshape(-1, n_params)
    mean_score = np.einsum("gk,gkp->gp", h, scores)
    return flat.T @ flat - mean_score.T @ mean_score


def _covariance(information):
    """The inverse of a symmetric positive-definite information matrix (Jacobi-scaled).

    Raises
    ------
    ValueError
        When it is not positive definite: the fit is not at a maximum of the
        likelihood, or a parameter is not identified.
    """
    information = 0.5 * (information + information.T)
    diagonal = np.diag(information)
    if not np.all(np.isfinite(information)) or np.any(diagonal <= 0):
        raise ValueError(_NOT_POSITIVE_DEFINITE)
    root = np.sqrt(diagonal)
    scaled = information / np.outer(root, root)
    try:
        factor = scipy.linalg.cho_factor(scaled, lower=True)
    except np.linalg.LinAlgError:
        raise ValueError(_NOT_POSITIVE_DEFINITE) from None
    inverse = scipy.linalg.cho_solve(factor, np.eye(scaled.shape[0]))
    return inverse / np.outer(root, root)


def fitted_groups(estimator, X, groups, caller):
    """``groups`` checked against the fit: a ``_Groups`` for a grouped fit, else None.

    Raises
    ------
    ValueError
        When a mixture fitted with groups is given none (its likelihood is the
        groups', not the rows': the rows' own gave gate errors half their
        spread, silently), when groups are given to a mixture fitted without
        them, or when their number differs from the fit's.
    """
    fitted = getattr(estimator, "_fit_groups_", None)
    checked = estimator._checked_groups(estimator._validated_X(X), groups)
    if fitted is not None and checked is None:
        raise ValueError(
            f"This mixture was fitted with groups ({fitted} groups): every row of a group "
            f"shares one expert, and its likelihood is the groups'. Pass the same groups "
            f"to {caller} (groups=...)."
        )
    if fitted is None and checked is not None:
        raise ValueError(
            f"This mixture was fitted without groups; {caller} differentiates and refits "
            "the likelihood it was fitted to. Refit with fit(X, y, groups=groups), or "
            "leave groups out."
        )
    if checked is not None and checked.n_groups != fitted:
        raise ValueError(
            f"groups holds {checked.n_groups} groups, but this mixture was fitted on "
            f"{fitted}; pass the groups it was fitted with."
        )
    return checked


def information_table(estimator, X, y, sample_weight=None, groups=None):
    """Estimates and standard errors from the inverse observed information."""
    _check_information(estimator)
    groups = fitted_groups(estimator, X, groups, "standard_errors")
    information, estimate, n_expert, units = observed_information(estimator, X, y,
                                                                  sample_weight, groups)
    covariance = _covariance(information)
    # The experts' coefficients in the columns' units, and the gate's parameters from
    # the standardised columns to the user's scale.
    jacobian = np.diag(1.0 / units)
    block = _user_scale_jacobian(estimator)
    q = block.shape[0]
    for j in range(estimator.n_experts_ - 1):
        s = slice(n_expert + j * q, n_expert + (j + 1) * q)
        jacobian[s, s] = block
    penalty = np.zeros_like(information)
    penalty[n_expert:, n_expert:] = gate_penalty_information(estimator, q)
    shift = penalty_shift(information, penalty, estimate)
    estimate = jacobian @ estimate
    # Each row of the Jacobian in units of a power of two: the variances of
    # coefficients of columns near 1e160 (or 1e-160) are beyond float64's squares.
    row_unit = magnitude(jacobian.T)
    scaled = jacobian / row_unit[:, None]
    inner = scaled @ covariance @ scaled.T
    std_error = row_unit * np.sqrt(np.diag(inner))
    with np.errstate(over="ignore", under="ignore"):
        # Documented: entries beyond float64's range are inf or 0.
        covariance = row_unit[:, None] * inner * row_unit[None, :]
    experts, gate = parameter_table(estimator)
    for values, expert in zip(experts, estimator.experts_):
        if not expert.fit_intercept:
            # Fixed at 0, not a parameter.
            del values["intercept"]
    index, _ = flatten(experts, gate)
    frame = _frame(index, estimate, std_error)
    if shift is not None:
        # Only the gate's rows are read, on the user's scale.
        with np.errstate(over="ignore", invalid="ignore"):
            shift = jacobian @ shift
    unreliable = penalty_diagnostics(estimator, index, estimate, std_error, shift)
    if unreliable:
        warnings.warn(unreliable_message(unreliable), UserWarning, stacklevel=3)
    frame.attrs.update(method="information", covariance=covariance, unreliable=unreliable)
    return frame


# ------------------------------------------------------------------ bootstrap
def _refit(estimator, X, y, weights, seed, groups=None):
    """The mixture refitted from its fitted solution with new row weights (None if it
    lost experts)."""
    model = copy.deepcopy(estimator)
    model.set_params(warm_start=True, random_state=seed, verbose=0,
                     tol=min(estimator.tol, _REFIT_TOL),
                     max_iter=max(estimator.max_iter, _REFIT_MAX_ITER))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X, y, sample_weight=weights, groups=groups)
    if model.n_experts_ != estimator.n_experts_:
        return None
    return model


def match_experts(reference_resp, model, X, y, weights, groups=None):
    """The order of ``model``'s experts that best matches the reference's.

    ``order[k]`` is the expert of ``model`` that plays expert k of the
    reference: the assignment (Hungarian algorithm) that maximises the
    weighted agreement of the two models' responsibilities on the same rows
    (the groups' responsibilities, with ``groups``).
    """
    resp = model._posterior(X, y, weights if groups is not None else None, groups)[0]
    agreement = (reference_resp * weights[:, None]).T @ resp
    rows, columns = linear_sum_assignment(-agreement)
    order = np.empty_like(columns)
    order[rows] = columns
    return order


def resample_plan(weights):
    """How the bootstrap draws frequency-weighted rows: ``(probabilities, n_draws, unit)``.

    A weight counts repeated rows (``standard_errors`` and the information
    method read it so): the bootstrap of the repeated rows draws ``W = sum w``
    rows, and row i is drawn ``Multinomial(W, w / W)`` times, all its copies
    together. The same draw for any weights: ``round(W)`` draws (at least 1)
    with probabilities ``w / W``, each draw of weight ``unit = W / round(W)``,
    so that a resample's total weight is ``W``. Unit weights give the uniform
    bootstrap of the rows. (Each row's weight times its uniform draws gave
    a weight of variance ``w**2`` instead of ``w``: with weights of 1 to 3 the
    errors were half as large again as those of the repeated rows.)
    """
    total = float(np.sum(weights))
    n_draws = max(int(round(total)), 1)
    return weights / total, n_draws, total / n_draws


def _resampled_groups(groups, times):
    """The rows of a resample of groups and their new labels: group g's rows
    ``times[g]`` times, each copy a group of its own."""
    rows, labels = [], []
    for start, count, repeat in zip(groups.starts, groups.counts, times):
        members = groups.order[start:start + count]
        for _ in range(repeat):
            labels.append(np.full(count, len(rows)))
            rows.append(members)
    return np.concatenate(rows), np.concatenate(labels)


def _bootstrap_one(estimator, X, y, weights, resampled, seed, reference_resp, groups=None,
                   labels=None):
    if groups is None:
        model = _refit(estimator, X, y, resampled, seed)
    else:
        # ``resampled`` counts each group's draws: a group drawn twice is two
        # groups (two draws of its latent expert), its rows repeated.
        rows, copies = _resampled_groups(groups, resampled.astype(np.intp))
        model = _refit(estimator, _safe_indexing(X, rows), np.asarray(y)[rows],
                       weights[rows], seed, copies)
    if model is None:
        return None
    order = match_experts(reference_resp, model, X, y, weights, labels)
    experts, gate = parameter_table(model)
    return flatten(experts, gate, order)[1]


def check_bootstrap_params(n_bootstrap, confidence, n_jobs=None, random_state=None):
    """Refuse a bootstrap of fewer than 2 refits, a coverage outside (0, 1), and
    ``n_jobs`` or ``random_state`` that the estimators would refuse.

    ``n_jobs=0`` ended in joblib's own error, and ``n_jobs=1.5`` was blamed on
    the refits (every one failed).

    Parameters
    ----------
    n_bootstrap : int
        Number of refits.
    confidence : float
        Coverage of the intervals.
    n_jobs : int or None, default=None
        Parallel refits.
    random_state : int, RandomState instance or None, default=None
        Seed of the resampling and the refits.
    """
    constraints = {"n_jobs": [None, Interval(Integral, None, -1, closed="right"),
                              Interval(Integral, 1, None, closed="left")],
                   "random_state": ["random_state"]}
    values = {"n_jobs": n_jobs, "random_state": random_state}
    check_no_bool_params(constraints, values, "standard_errors")
    validate_parameter_constraints(constraints, values, caller_name="standard_errors")
    if not (isinstance(n_bootstrap, Integral) and not isinstance(n_bootstrap, bool)
            and n_bootstrap >= 2):
        raise ValueError(
            f"n_bootstrap must be an integer >= 2 (the spread of one refit is not defined), "
            f"got {n_bootstrap!r}; 200 or more gives standard errors to about 5%."
        )
    if not (isinstance(confidence, Real) and 0 < confidence < 1):
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}.")


def bootstrap_table(estimator, X, y, sample_weight=None, *, n_bootstrap=200,
                    confidence=0.95, n_jobs=None, random_state=None, groups=None):
    """Estimates, bootstrap standard errors and intervals (:func:`bootstrap_intervals`).

    With ``groups`` the groups are resampled (uniformly: each counts once in
    the likelihood), each group drawn twice a group of its own twice.
    """
    check_bootstrap_params(n_bootstrap, confidence, n_jobs, random_state)
    Xv = estimator._validated_X(X)
    weights = check_sample_weight(sample_weight, Xv)
    labels, groups = groups, fitted_groups(estimator, X, groups, "standard_errors")
    experts, gate = parameter_table(estimator)
    index, estimate = flatten(experts, gate)
    reference_resp = estimator._posterior(X, y, weights if groups is not None else None,
                                          labels)[0]
    rng = check_random_state(random_state)
    if groups is None:
        probabilities, n_draws, unit = resample_plan(weights)
        if n_draws < max(estimator.n_experts_, 2):
            # Every refit of so few draws lost experts, blamed on the experts.
            raise ValueError(
                f"sample_weight sums to {float(np.sum(weights)):.6g}: standard_errors reads "
                "the weights as frequencies (a row of weight 2 is a row seen twice), so "
                f"the data count {n_draws} observation(s), too few to resample for "
                f"{estimator.n_experts_} experts. Give the weights in counts (e.g. scaled "
                "to sum to the number of rows, if they are relative weights)."
            )
    else:
        probabilities = np.full(groups.n_groups, 1.0 / groups.n_groups)
        n_draws, unit = groups.n_groups, 1.0
    draws = [(rng.multinomial(n_draws, probabilities) * unit,
              rng.randint(np.iinfo(np.int32).max)) for _ in range(n_bootstrap)]
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_bootstrap_one)(estimator, X, y, weights, resampled, seed, reference_resp,
                                groups, labels)
        for resampled, seed in draws
    ) if effective_n_jobs(n_jobs) > 1 else [
        _bootstrap_one(estimator, X, y, weights, resampled, seed, reference_resp, groups,
                       labels)
        for resampled, seed in draws
    ]
    kept = [r for r in results if r is not None and r.shape == estimate.shape]
    if len(kept) < 2:
        raise ValueError(
            f"Only {len(kept)} of {n_bootstrap} bootstrap refits kept all "
            f"{estimator.n_experts_} experts (and the shape of their parameters); the "
            "standard errors are not defined. Use fewer experts, or a smaller "
            "min_expert_weight."
        )
    replicates = np.vstack(kept)
    std_error = replicates.std(axis=0, ddof=1)
    frame = _frame(index, estimate, std_error)
    family = FAMILIES.get(getattr(estimator, "family_", None))
    frame["ci_lower"], frame["ci_upper"] = bootstrap_intervals(estimate, replicates, confidence)
    unreliable = replicate_diagnostics(index, replicates, confidence, family)
    shift = gate_penalty_shift(estimator, replicates)
    for key, reason in penalty_diagnostics(estimator, index, estimate, std_error,
                                           shift).items():
        unreliable.setdefault(key, reason)
    if unreliable:
        warnings.warn(unreliable_message(unreliable), UserWarning, stacklevel=3)
    frame.attrs.update(method="bootstrap", n_bootstrap=n_bootstrap,
                       n_failed=n_bootstrap - len(kept), confidence=confidence,
                       replicates=replicates, unreliable=unreliable)
    return frame


def bootstrap_intervals(estimate, replicates, confidence):
    """The bootstrap's bias-corrected percentile intervals of each parameter.

    Efron's BC interval (Efron and Tibshirani 1993, ch. 14): with ``z0`` the
    normal quantile of the share of refits below the estimate (ties counted
    half), the ends are the refits' percentiles at ``Phi(2 z0 +/- z)`` instead
    of ``Phi(+/- z)``. Refits centred on the estimate give ``z0 = 0``, the
    percentile interval; refits biased one way, as those of a biased
    estimator are, move the interval back the other way. As percentiles, the
    ends stay within a parameter's range and follow a skewed spread of the
    refits, and do not depend on the scale the parameter is reported on.

    Percentile intervals, used before, put the estimator's bias in twice (once
    in the estimate, once in the refits around it). Over data sets drawn from
    two-expert Gaussian mixtures (``benchmarks/bench_bootstrap.py``) their 95%
    intervals covered log(sigma) 0.81 to 0.93 and the gate's slope 0.88 to
    0.93; these 0.93 to 0.94 and 0.92 to 0.93. With Student t experts the
    percentiles did better (0.90 to 0.96 against 0.89 to 0.93).

    Parameters
    ----------
    estimate : ndarray of shape (n_parameters,)
    replicates : ndarray of shape (n_refits, n_parameters)
    confidence : float
        Coverage of the intervals.

    Returns
    -------
    lower, upper : ndarray of shape (n_parameters,)
    """
    n_refits = replicates.shape[0]
    below = (np.sum(replicates < estimate, axis=0)
             + 0.5 * np.sum(replicates == estimate, axis=0)) / n_refits
    # A share of 0 or 1 (every refit on one side) is taken as half a refit in.
    half = 0.5 / n_refits
    z0 = norm.ppf(np.clip(below, half, 1.0 - half))
    z = norm.ppf(0.5 + confidence / 2.0)
    lower, upper = np.empty_like(estimate), np.empty_like(estimate)
    for j in range(estimate.shape[0]):
        lower[j], upper[j] = np.percentile(
            replicates[:, j], 100.0 * norm.cdf([2.0 * z0[j] - z, 2.0 * z0[j] + z]))
    return lower, upper


def gate_penalty_shift(estimator, replicates):
    """:func:`penalty_shift` of the gate's parameters, from the bootstrap's refits.

    The bootstrap has no observed information; the inverse of the covariance
    of the gate's refits (on the standardised columns) stands in for the
    gate's block of it, the experts' parameters profiled out. (The gate's
    complete-data information, as if each row's expert were known, was no
    stand-in: the experts' overlap takes most of it away, and the step it gave
    was a tenth of the observed one's.)

    Returns
    -------
    shift : ndarray of shape (n_parameters,) or None
        Zero but for the gate's parameters, the last of the table; None when
        the refits' covariance less the penalty is not positive definite.
    """
    n_parameters = replicates.shape[1]
    shift = np.zeros(n_parameters)
    if not isinstance(estimator.gate_, SoftmaxGate):
        return shift
    block = _user_scale_jacobian(estimator)
    q = block.shape[0]
    n_gate = (estimator.n_experts_ - 1) * q
    inverse = np.linalg.inv(block)
    standardised = np.concatenate(
        [replicates[:, n_parameters - n_gate + j * q:n_parameters - n_gate + (j + 1) * q]
         @ inverse.T for j in range(estimator.n_experts_ - 1)], axis=1)
    try:
        information = _covariance(np.atleast_2d(np.cov(standardised, rowvar=False)))
    except ValueError:
        return shift
    gate_shift = penalty_shift(information, gate_penalty_information(estimator, q),
                               gate_standardised_estimate(estimator))
    if gate_shift is None:
        return None
    shift[n_parameters - n_gate:] = np.concatenate(
        [block @ part for part in gate_shift.reshape(-1, q)])
    return shift


def replicate_diagnostics(index, replicates, confidence, family=None):
    """The parameters whose bootstrap standard error does not describe their refits.

    Two cases, each measured on the refits themselves:

    * refits at a bound of the parameter (``family.bounds``, e.g. a Student t
      expert's degrees of freedom at 200, where its noise is Gaussian to the
      data): when at least the interval's tail share of them is there, the
      data do not bound the parameter on that side; the standard error is
      the spread of a pile at the bound, and the interval's end is the bound;
    * refits that went far: a standard deviation above ``_HEAVY_TAIL_RATIO``
      times the spread of their middle half (the interquartile range over
      1.349, which equals it for a normal distribution). A near-unpenalised
      gate whose experts are separated on some resamples has its maximum at
      infinity there (measured: a gate slope's standard error 254 where the
      middle half of its refits spread 14.5); the standard error then
      measures those refits, not the typical one.

    Parameters
    ----------
    index : list of tuple
        ``(component, parameter)`` of each column of ``replicates``.
    replicates : ndarray of shape (n_refits, n_parameters)
    confidence : float
        Coverage of the intervals.
    family : Family or None
        The regressor's likelihood family (its ``bounds``); None for none.

    Returns
    -------
    unreliable : dict
        ``{(component, parameter): reason}``, in the table's order.
    """
    bounds = getattr(family, "bounds", {})
    tail = (1.0 - confidence) / 2.0
    n_refits = replicates.shape[0]
    quartiles = np.percentile(replicates, [25.0, 75.0], axis=0)
    middle = (quartiles[1] - quartiles[0]) / _NORMAL_IQR
    spread = replicates.std(axis=0, ddof=1)
    unreliable = {}
    for j, (component, name) in enumerate(index):
        if name in bounds and component.startswith("expert"):
            for end, label in zip(bounds[name], ("lower", "upper")):
                at_end = int(np.sum(np.isclose(replicates[:, j], end, rtol=1e-6, atol=0.0)))
                if at_end and at_end >= tail * n_refits:
                    unreliable[(component, name)] = (
                        f"{at_end} of {n_refits} refits are at its {label} bound {end:g}, "
                        "where the M-step keeps it: the data do not bound it on that side, so "
                        "its standard error is the spread of refits piled at the bound and "
                        "its interval ends there"
                    )
        if (component, name) in unreliable or spread[j] == 0:
            continue
        if spread[j] > _HEAVY_TAIL_RATIO * middle[j]:
            ratio = (f"is {spread[j] / middle[j]:.3g} times the spread of their middle half"
                     if middle[j] > 0 else
                     f"is {spread[j]:.3g}, while their middle half does not spread at all")
            cause, remedy = (
                ("a gate that separates the experts on a resample has its maximum at "
                 "infinity", "penalise the gate more (a smaller SoftmaxGate C), or use "
                 "fewer experts") if component.startswith("gate") else
                ("an expert whose rows or classes separate on a resample, or that loses "
                 "its rows, runs off", "use fewer experts, or penalised ones"))
            unreliable[(component, name)] = (
                f"the standard deviation of its refits {ratio}: some refits went far "
                f"({cause}), so the standard error describes those refits, not the "
                "typical one (the interval, of the refits' percentiles, less so; "
                f"attrs['replicates'] holds them all); {remedy}"
            )
    return unreliable


def unreliable_message(unreliable):
    """The warning that names the parameters of :func:`replicate_diagnostics` and
    :func:`penalty_diagnostics`, with their reasons."""
    lines = [f"{component}, {name}: {reason}."
             for (component, name), reason in unreliable.items()]
    return ("These parameters' standard errors and intervals do not mean what they "
            "usually do (the reasons are also in the table's attrs['unreliable']):\n"
            + "\n".join(lines))
