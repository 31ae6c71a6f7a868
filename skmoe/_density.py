"""How :func:`skmoe.compare.compare` gives a regressor without a density of its own one.

A mixture of experts is scored by its own ``score_samples(X, y)``. Any other
regressor is wrapped in :class:`GaussianDensity`, whose ``score_samples`` is
the log-density of a Gaussian around the regressor's predictions, so that
:func:`skmoe.metrics.log_likelihood_scorer` scores every model alike:

* with the regressor's own standard deviation when its ``predict`` takes
  ``return_std=True`` (Bayesian ridge, Gaussian processes);
* otherwise with the mean squared residual on the training fold: out of fold
  (an inner 3-fold split of the training fold), or in sample.

The variance is computed at the first call of ``score_samples``, so that the
fit time of the wrapped model is its own; the seconds the inner fits take are
kept in ``variance_time_``, for the caller to take out of the time to score
the test fold.
"""

import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import KFold, cross_val_predict

from ._baselines import final_step
from ._experts import accepts_return_std, has_own_density
from ._families import FAMILIES

__all__ = [
    "DENSITY_LABELS",
    "DENSITY_NOTES",
    "GaussianDensity",
    "density_source",
]

_INNER_SPLITS = 3

#: What the ``density`` column of a comparison says, by source of the density.
DENSITY_LABELS = {
    "model": "model",
    "predictive std": "predictive std",
    "cv": "Gaussian, out-of-fold residuals",
    "train": "Gaussian, in-sample residuals",
}

#: The same, in a sentence, by label.
DENSITY_NOTES = {
    "model": "the model's own density (score_samples)",
    "predictive std": "a Gaussian around the predictions with the model's own predictive "
                      "standard deviation (predict with return_std=True)",
    "Gaussian, out-of-fold residuals": "no density of its own, so a Gaussian around the "
                                       "predictions whose variance is the mean squared "
                                       "out-of-fold residual on the training fold (3 inner "
                                       "folds)",
    "Gaussian, in-sample residuals": "no density of its own, so a Gaussian around the "
                                     "predictions whose variance is the mean squared "
                                     "residual on the training rows (overconfident for trees "
                                     "and forests)",
}


def density_source(estimator, residual_variance):
    """Where the log-likelihood of a regressor comes from: a key of :data:`DENSITY_LABELS`."""
    final = final_step(estimator)
    if has_own_density(final):
        return "model"
    # DummyRegressor's return_std gives zeros ("All zeros in this case"): a
    # Gaussian of no width, whose log-likelihood was -1e300 per row.
    if accepts_return_std(final) and not isinstance(final, DummyRegressor):
        return "predictive std"
    return residual_variance


class GaussianDensity(RegressorMixin, BaseEstimator):
    """A regressor given a Gaussian density around its predictions.

    Parameters
    ----------
    estimator : regressor
        The model of the mean.
    residual_variance : {"cv", "train"}, default="cv"
        The variance of the Gaussian when the regressor has no predictive
        standard deviation: the mean squared residual out of fold (an inner
        3-fold split of the training rows) or in sample.
    random_state : int, default=None
        Seed of the inner split.
    """

    def __init__(self, estimator, residual_variance="cv", random_state=None):
        self.estimator = estimator
        self.residual_variance = residual_variance
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the regressor, keeping the training rows for the variance.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training targets.

        Returns
        -------
        self : GaussianDensity
            Fitted.
        """
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.source_ = density_source(self.estimator, self.residual_variance)
        self._training_rows = (X, np.asarray(y, dtype=np.float64))
        self._variance = None
        self.variance_time_ = 0.0
        return self

    def predict(self, X):
        """The regressor's predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted means.
        """
        predicted = self.estimator_.predict(X)
        # A scorer asks for the predictions, then for the density of the same rows:
        # they are predicted once.
        self._last_predicted = (X, predicted)
        return predicted

    def score_samples(self, X, y):
        """Log-density of each row's target under the Gaussian around its prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log N(y | prediction, variance)``.
        """
        y = np.asarray(y, dtype=np.float64)
        if self.source_ == "predictive std":
            mean, std = self.estimator_.predict(X, return_std=True)
            variance = np.maximum(np.reshape(std, -1) ** 2, 1e-300)
        else:
            last_X, predicted = getattr(self, "_last_predicted", (None, None))
            mean = predicted if last_X is X else self.estimator_.predict(X)
            variance = self._plug_in_variance()
        mean = np.reshape(mean, -1)
        return FAMILIES["gaussian"].log_density(y, mean, {"noise_variance_": variance})

    def _plug_in_variance(self):
        """Mean squared residual on the training rows: out of fold, or in sample."""
        if self._variance is None:
            tic = time.perf_counter()
            X, y = self._training_rows
            if self.residual_variance == "cv" and y.shape[0] >= 2 * _INNER_SPLITS:
                inner = KFold(_INNER_SPLITS, shuffle=True, random_state=self.random_state)
                predicted = cross_val_predict(clone(self.estimator), X, y, cv=inner)
            else:
                predicted = self.estimator_.predict(X)
            variance = float(np.mean((y - np.reshape(predicted, -1)) ** 2))
            # A model that interpolates its rows must not get an infinite density.
            self._variance = max(variance, 1e-12 * max(float(np.var(y)), 1e-300))
            self._training_rows = None
            self.variance_time_ = time.perf_counter() - tic
        return self._variance
