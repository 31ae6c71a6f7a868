"""The cross-validation behind :func:`skmoe.compare.compare`: scikit-learn's ``cross_validate``.

Every estimator goes through :func:`sklearn.model_selection.cross_validate` on
the same list of splits, with one scorer computing all the scores of a fold
(:mod:`skmoe._scorers`); its ``fit_time`` and ``score_time`` are the times
reported (less, in the latter, the inner fits behind a Gaussian density,
``GaussianDensity.variance_time_``). This module adds what ``cross_validate``
does not do: one thread per fit, the warnings of an estimator's fits collected
under its name, the fold an estimator failed on, and progress on stderr.
"""

import sys
import warnings
from contextlib import contextmanager

import numba
import numpy as np
from joblib import effective_n_jobs
from sklearn.base import clone
from sklearn.model_selection import cross_validate
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from ._baselines import final_step
from ._noise_floor import fitted_experts_at_floor
from ._validation import _safe_indexing
from ._warmup import warm_up

__all__ = ["cross_validate_each"]


@contextmanager
def _one_thread():
    """One BLAS/OpenMP thread and one Numba thread for what runs inside.

    Numba's OpenMP threading layer spins at its barriers: on a loaded machine a
    mixture's E-step with two threads has made whole fits 10 to 50 times slower
    than with one. One thread per fit also makes the fit times comparable.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(previous)


class _Progress:
    """A progress bar on a terminal, one line per estimator elsewhere (logs, make, CI)."""

    def __init__(self, enabled, n_estimators, n_splits):
        self.enabled, self.n_estimators, self.n_splits = enabled, n_estimators, n_splits
        self.bar = None
        if not enabled:
            return
        what = f"{n_estimators} estimators x {n_splits} folds"
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=n_estimators * n_splits, unit="fit", leave=False, desc=what)
        else:
            print(f"compare: {what}", file=sys.stderr, flush=True)

    def done(self, index, name, seconds):
        if self.bar is not None:
            self.bar.update(self.n_splits)
        elif self.enabled:
            print(f"compare: [{index}/{self.n_estimators}] {name}: {self.n_splits} folds, "
                  f"{seconds:.1f} s of fitting and scoring", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def cross_validate_each(estimators, X, y, splits, scorer, n_jobs=None, progress=False):
    """Cross-validate every estimator on the same splits.

    Parameters
    ----------
    estimators : dict of str to estimator
        The estimators, each ready to fit on X as given.
    X : array-like of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Target.
    splits : list of (train, test) index arrays
        The folds, the same for every estimator.
    scorer : callable
        ``scorer(estimator, X, y) -> {score: value}``.
    n_jobs : int, default=None
        ``cross_validate``'s workers over the folds of an estimator.
    progress : bool, default=False
        Report progress on stderr.

    Returns
    -------
    records : dict of str to dict
        By name: ``scores`` ({score: per-fold array}), ``fit_time`` and
        ``predict_time`` (per-fold arrays of seconds: ``cross_validate``'s fit
        and score times, the latter without the inner fits of a
        ``GaussianDensity``), ``warnings`` (distinct messages of the warnings
        raised while fitting and scoring) and ``noise_at_floor`` (the folds
        whose fitted mixture has an expert whose noise ended at its floor; see
        :func:`~skmoe._noise_floor.fitted_experts_at_floor`).

    Raises
    ------
    RuntimeError
        Naming the estimator and the fold when an estimator fails.
    """
    # Numba's kernels compiled (into the cache) or loaded here, never inside a timed fit,
    # and loaded in the worker processes that cross_validate will reuse.
    warm_up()
    if effective_n_jobs(n_jobs) > 1:
        Parallel(n_jobs=n_jobs)(delayed(warm_up)() for _ in range(effective_n_jobs(n_jobs)))
    records = {}
    report = _Progress(progress, len(estimators), len(splits))
    try:
        for index, (name, estimator) in enumerate(estimators.items(), start=1):
            with warnings.catch_warnings(record=True) as caught, _one_thread():
                warnings.simplefilter("always")
                try:
                    out = cross_validate(estimator, X, y, cv=splits, scoring=scorer,
                                         n_jobs=n_jobs, error_score="raise",
                                         return_estimator=True)
                except Exception as exc:
                    fold, error = _failing_fold(estimator, X, y, splits, scorer)
                    where = "" if fold is None else f" on fold {fold}"
                    error = exc if error is None else error
                    raise RuntimeError(
                        f"Estimator {name!r} failed{where}: {type(error).__name__}: {error}"
                    ) from exc
            scores = {key[len("test_"):]: np.asarray(values, dtype=np.float64)
                      for key, values in out.items() if key.startswith("test_")}
            messages = [f"{w.category.__name__}: {w.message}" for w in caught]
            records[name] = {
                "scores": scores,
                "fit_time": out["fit_time"],
                "predict_time": out["score_time"] - np.array(
                    [getattr(fitted, "variance_time_", 0.0) for fitted in out["estimator"]]),
                "warnings": list(dict.fromkeys(messages)),
                # Read from the fitted models: worker processes do not pass warnings on.
                "noise_at_floor": [fold for fold, fitted in enumerate(out["estimator"])
                                   if _noise_at_floor(fitted)],
            }
            report.done(index, name, float(np.sum(out["fit_time"]) + np.sum(out["score_time"])))
    finally:
        report.close()
    return records


def _noise_at_floor(fitted):
    """Whether a fitted estimator is a mixture with an expert whose noise ended at its floor."""
    mixture = final_step(fitted)
    return hasattr(mixture, "family_") and bool(fitted_experts_at_floor(mixture))


def _failing_fold(estimator, X, y, splits, scorer):
    """The first fold on which the estimator fails again, and its error (None, None if none).

    ``cross_validate`` raises the error of a failed fit without saying which
    fold it was; the folds are tried again in order to name it.
    """
    for fold, (train, test) in enumerate(splits):
        try:
            fitted = clone(estimator).fit(_safe_indexing(X, train), y[train])
            scorer(fitted, _safe_indexing(X, test), y[test])
        except Exception as exc:
            return fold, exc
    return None, None
