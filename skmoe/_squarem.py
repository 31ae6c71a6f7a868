"""Squared extrapolation (SQUAREM) of EM for softmax-gated LogisticRegression experts.

EM converges linearly, at a rate set by the fraction of the information that
the responsibilities leave missing. A class label says little about which
expert produced its row, so a classifier's EM is slow: on
``make_gated_classification(20000, 10, 4)`` the change of the per-sample
log-likelihood shrank by only about 10% per iteration near the optimum, and
the default fit took 58 iterations. Solving the M-steps instead of taking
generalised-EM steps did not help (58 iterations with the experts solved, 73
with the gate solved, 71 with both): the rate is EM's own.

SQUAREM (Varadhan and Roland, 2008, scheme "S3") treats an EM iteration as a
map ``F`` of the parameters. From three iterates ``t0``, ``t1 = F(t0)`` and
``t2 = F(t1)``, with ``r = t1 - t0``, ``v = t2 - 2 t1 + t0`` and
``a = -||r|| / ||v||``, it proposes ``t0 - 2 a r + a^2 v``: exact for a map
that contracts every direction by the same factor, and far along the slow
direction in general. The proposal is kept only if the objective that the
M-steps climb is higher there than at ``t2``: the log-likelihood per
sample less the gate's and the experts' L2 penalties ``||coef||^2 / (2 C)``
(the mixture's ``lower_bound_``); otherwise the run stays at ``t2``, so the
objective never falls. Either way the next EM iterations continue from the
point kept, and the scheme restarts from there (the first of them is the
stabilising iteration of SQUAREM).

The parameters are the softmax gate's coefficients and intercepts and every
expert's ``coef_`` (a ScaledLogisticRegression's in units of its columns'
spreads) and ``intercept_``, so only runs whose gate is a
:class:`~skmoe.SoftmaxGate` and whose experts are all plain
``LogisticRegression`` or :class:`~skmoe.ScaledLogisticRegression` whose
objective is known (an L2 penalty or none, a solver of the L-BFGS family:
see :mod:`skmoe._logistic`) are extrapolated.
"""

import numpy as np

from ._gate import SoftmaxGate
from ._logistic import _NEWTON_CLASSES, _alpha
from ._scaled_logistic import ScaledLogisticRegression


def em_parameters(run):
    """The parameters of ``run`` as one vector, or None when they are not all known here.

    Parameters
    ----------
    run : object
        An EM run with ``gate``, ``experts`` and ``params`` (the likelihood's
        own parameters, which must be empty).

    Returns
    -------
    theta : ndarray of shape (n_parameters,) or None
        The gate's ``coef_`` and ``intercept_``, then each expert's, raveled;
        None unless the gate is a fitted ``SoftmaxGate`` (not a subclass) and
        every expert a fitted plain ``LogisticRegression`` or
        ScaledLogisticRegression with a known objective.
    """
    gate = run.gate
    if type(gate) is not SoftmaxGate or not hasattr(gate, "coef_") or run.params:
        return None
    parts = [gate.coef_, gate.intercept_]
    for expert in run.experts:
        if (type(expert) not in _NEWTON_CLASSES or not hasattr(expert, "coef_")
                or _alpha(expert) is None):
            return None
        parts += [expert.coef_ * _coef_unit(expert), expert.intercept_]
    return np.concatenate([np.ravel(part) for part in parts])


def _coef_unit(expert):
    """What an expert's ``coef_`` is multiplied by in the parameters: a
    ScaledLogisticRegression's columns' spreads, so that the extrapolation's
    step (its norms) does not depend on the units of the features; 1 otherwise
    (the gate's coefficients are those of its standardised columns)."""
    return expert.scale_ if type(expert) is ScaledLogisticRegression else 1.0


def set_em_parameters(run, theta):
    """Give ``run``'s gate and experts the parameters ``theta`` (see :func:`em_parameters`).

    Every attribute gets a new array: cached values keyed on the old arrays
    (the experts' last log-probabilities) are then not taken for the new ones.
    """
    at = 0

    def take(like):
        nonlocal at
        like = np.asarray(like)
        part = theta[at:at + like.size].reshape(like.shape).copy()
        at += like.size
        return part

    run.gate.coef_ = take(run.gate.coef_)
    run.gate.intercept_ = take(run.gate.intercept_)
    for expert in run.experts:
        expert.coef_ = take(expert.coef_) / _coef_unit(expert)
        expert.intercept_ = take(expert.intercept_)


def squared_extrapolation(theta0, theta1, theta2):
    """SQUAREM's proposal (scheme S3) from three successive EM iterates.

    Parameters
    ----------
    theta0, theta1, theta2 : ndarray of shape (n_parameters,)
        ``theta1 = F(theta0)`` and ``theta2 = F(theta1)`` for the EM map ``F``.

    Returns
    -------
    theta : ndarray of shape (n_parameters,) or None
        ``theta0 - 2 a r + a^2 v`` with ``r = theta1 - theta0``,
        ``v = theta2 - 2 theta1 + theta0`` and ``a = -||r|| / ||v||``; None
        when ``a > -1`` (no step beyond ``theta2``, which ``a = -1`` gives),
        when ``v`` is 0 or when the proposal is not finite.
    """
    r = theta1 - theta0
    v = theta2 - theta1 - r
    norm_v = np.linalg.norm(v)
    if not norm_v > 0:
        return None
    alpha = -np.linalg.norm(r) / norm_v
    if not alpha < -1:
        return None
    theta = theta0 - 2.0 * alpha * r + alpha**2 * v
    return theta if np.all(np.isfinite(theta)) else None


class Squarem:
    """SQUAREM for one EM run: every third iteration, a safeguarded extrapolation."""

    def __init__(self):
        self._iterates = []

    def restart(self):
        """Forget the iterates recorded so far: the next three are taken afresh
        (after an iteration that was not a step of the same map)."""
        self._iterates = []

    def step(self, run, lower_bound, evaluate, total_weight):
        """Record ``run``'s parameters after an EM iteration; extrapolate after three.

        Parameters
        ----------
        run : object
            The EM run (see :func:`em_parameters`), just past its E-step.
        lower_bound : float
            The EM objective at the run's parameters: the penalised
            log-likelihood per unit of weight, every penalty the M-steps
            minimise (the gate's and the experts') subtracted.
        evaluate : callable
            ``evaluate() -> (lower_bound, state)``: the same objective at the
            run's current parameters and whatever the EM loop needs from that
            E-step. It sets ``run.penalty``.
        total_weight : float
            The summed sample weights. Not used: both objectives come divided
            by it already.

        Returns
        -------
        extrapolated : tuple or None
            ``evaluate()``'s result at the extrapolated parameters when they
            were kept (the run now has them); None when the run is unchanged.
        """
        theta = em_parameters(run)
        if theta is None:
            self._iterates = []
            return None
        if self._iterates and self._iterates[-1].shape != theta.shape:
            # An expert was removed: the earlier iterates are of another model.
            self._iterates = []
        self._iterates.append(theta)
        if len(self._iterates) < 3:
            return None
        proposal = squared_extrapolation(*self._iterates)
        self._iterates = []
        if proposal is None:
            return None
        penalty = run.penalty
        set_em_parameters(run, proposal)
        try:
            result = evaluate()
        except ValueError:
            # Scores that overflow at the proposal (an expert's NaN or inf
            # probabilities) reject it like a lower objective.
            result = None
        if result is not None and result[0] > lower_bound:
            return result
        set_em_parameters(run, theta)
        run.penalty = penalty
        return None
