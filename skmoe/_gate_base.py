"""The contract between a gate and the EM loop of the mixtures.

The mixtures' EM loop drives its gate through the methods of :class:`BaseGate`
only: it fits the gate to the responsibilities (soft targets) within a budget
that the loop chooses, asks it for log-probabilities, for the penalty of its
objective and its number of free parameters, and tells it which experts were
removed. ``SoftmaxGate``, ``ClassifierGate`` and ``ConstantGate`` subclass it,
and so can a gate of one's own.
"""

from abc import ABCMeta, abstractmethod
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator

from ._validation import check_sample_weight


class SolverBudget(NamedTuple):
    """How far a gate's solver may go in one fit: a generalised-EM step.

    The EM loop passes one to :meth:`BaseGate._fit_soft` while the
    log-likelihood still moves, and None (a full solve) when it has stalled.
    A gate with an iterative solver stops after the budget of its solver; a
    gate fitted in closed form, or by a classifier to its own tolerance,
    ignores it.

    Attributes
    ----------
    newton_steps : int
        Largest number of Newton steps.
    lbfgs_iterations : int
        Largest number of L-BFGS iterations.
    """

    newton_steps: int
    lbfgs_iterations: int


class BaseGate(BaseEstimator, metaclass=ABCMeta):
    """Base class of the gates: what the EM loop of the mixtures calls on a gate.

    A subclass implements :meth:`_fit_soft`, :meth:`predict_proba` and
    :meth:`_drop_classes`; the other methods have defaults (log-probabilities
    from :meth:`predict_proba`, no penalty, no parameter count). A mixture
    uses an instance of a subclass, given as its ``gate``, as it is (cloned)
    instead of wrapping it as a classifier.
    """

    def fit(self, X, y, sample_weight=None):
        """Fit the gate to soft targets (a full solve).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The gate's inputs.
        y : array-like of shape (n_samples, n_experts)
            Soft targets: non-negative rows that sum to one.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; None means unit weights.

        Returns
        -------
        self : BaseGate
            The fitted gate.
        """
        targets = np.asarray(y, dtype=np.float64)
        if (targets.ndim != 2 or targets.shape[0] != np.shape(X)[0] or np.any(targets < 0)
                or not np.allclose(targets.sum(axis=1), 1.0, atol=1e-6)):
            raise ValueError(
                "Soft targets y must be an array of shape (n_samples, n_experts) with "
                "non-negative rows summing to 1."
            )
        sample_weight = check_sample_weight(sample_weight, targets)
        self._fit_soft(X, targets, sample_weight)
        return self

    @abstractmethod
    def _fit_soft(self, X, targets, sample_weight, budget=None):
        """Fit to the soft ``targets`` (the responsibilities); inputs are validated.

        Parameters
        ----------
        X : ndarray, sparse matrix or TransposedRows of shape (n_samples, n_features)
            The gate's rows, standardised.
        targets : ndarray of shape (n_samples, n_experts)
            Non-negative rows that sum to one.
        sample_weight : ndarray of shape (n_samples,)
            Row weights.
        budget : SolverBudget or None, default=None
            The most the solver may do in this fit (a generalised-EM step,
            which must not increase the gate's objective); None solves the
            gate's problem to its own tolerance.

        Returns
        -------
        solved : bool
            Whether the fit solved the gate's problem: False only when the
            budget stopped the solver. The EM loop declares convergence only
            after a fit that solved it.
        """

    @abstractmethod
    def predict_proba(self, X):
        """Gate probabilities, one column per expert; rows sum to one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The gate's inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Probability of each expert.
        """

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The gate's inputs.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_experts)
            Log-probability of each expert.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _log_proba(self, X, out=None):
        """Log gate probabilities of the rows the EM loop hands over.

        Parameters
        ----------
        X : ndarray, sparse matrix or TransposedRows of shape (n_samples, n_features)
            The gate's rows, as given to :meth:`_fit_soft`.
        out : ndarray of shape (n_samples, n_experts), default=None
            May receive the result (a gate is free to return a new array).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_experts)
            By default :meth:`predict_log_proba`.
        """
        return self.predict_log_proba(X)

    def _penalty(self):
        """The penalty of the gate's objective at its fitted parameters, in nats.

        The EM loop subtracts it from the log-likelihood: the objective that
        EM climbs is the penalised one the gate minimises. 0 by default.
        """
        return 0.0

    def _n_parameters(self, rank=None):
        """The gate's free parameters, for ``bic`` and ``aic``.

        Parameters
        ----------
        rank : int or None, default=None
            The rank of the gate's (centred) training inputs, when known.

        Raises
        ------
        ValueError
            By default: the count is not defined.
        """
        raise ValueError(
            f"The number of free parameters of a {self._describe()} gate is not defined; "
            "use a SoftmaxGate for bic and aic."
        )

    def _describe(self):
        """The gate's name in error messages."""
        return type(self).__name__

    @abstractmethod
    def _drop_classes(self, keep):
        """Forget the experts that the EM loop removed.

        Parameters
        ----------
        keep : ndarray of bool of shape (n_experts,)
            The experts that remain. The loop fits the gate again before it
            asks for probabilities; an unfitted gate ignores the call.
        """
