"""Initial responsibilities of an EM start: k-means on [X, y], Dirichlet rows, or a given array.

Every start of a fit with ``n_init > 1`` begins from a different point, so that
restarts explore rather than repeat one partition:

* ``"auto"`` (the default): with a single start, ``"kmeans"``; with several,
  ``"emem"`` for every start, the first start's short runs beginning with the
  k-means partition. k-means finds regimes that are clusters of the inputs and
  of y, in one start; on data whose regimes overlap in x and differ in y given
  x (and on real data sets from R) its restarts kept finding the same
  partition, often a poor optimum, where short-run EM from random partitions
  reached the best one more often than random starts did, and more often than
  flexmix's random starts (``benchmarks/bench_starts.py``). Among short runs
  the k-means partition is kept only when it is ahead after the short runs.
* ``"kmeans"``: the first start runs k-means on all standardised rows; each
  later start runs it on a weighted bootstrap of the rows with its own seed and
  assigns every row to the nearest of those centres. On small data, k-means++
  with a new seed alone tends to find the same partition again. On more than
  ``KMEANS_MAX_ROWS`` rows, k-means finds its centres on a random subset of
  that many rows (drawn by the start's generator) and every row goes to the
  nearest centre: the centres of a few tens of thousands of rows are as good a
  start as those of all of them, and k-means on a million rows would cost
  several EM iterations.
* ``"random"``: each start draws its own Dirichlet(1) rows.
* an array: the first start uses it as given; each later start mixes it half
  and half with Dirichlet(1) rows, but for its rows of zeros (rows left out).
* ``"emem"`` (short-run EM, Biernacki, Celeux & Govaert 2003) is run by the EM
  loop: each start is the best of ``EMEM_SHORT_RUNS`` runs of at most
  ``EMEM_SHORT_ITER`` iterations, each from a random partition of the rows
  (:func:`random_partition`, as flexmix's random starts), continued to
  convergence unless it has converged already. The short runs must be long
  enough to tell the basins apart: on flexmix's NPreg with three experts,
  after 5 iterations the runs that end at the best optimum ranked anywhere
  among the others; after 30 they ranked first.

In regression, a few rows whose ``y`` is far from the others'
(:func:`far_targets`) may be outliers or a small regime. Random starts and
emEM's random partitions leave them out of their first M-step (their rows of
responsibilities are 0, :func:`leave_out_far_targets`); the k-means start is
two partitions (:func:`kmeans_partitions`), k-means without them (its centres
and standardisation too) and with them, and short runs of EM choose. A far
``y`` was a k-means cluster of its own, or dragged the least-squares first
M-step of the expert whose random rows held it; either way the expert ended
with that row alone and was removed, even under Student t noise
(``benchmarks/bench_far_row.py``), while 4% of the rows on a far line are a
regime that only the partition with them finds.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer

from ._experts import threadpool_controller
from ._scaling import (
    FAR_ROBUST_SDS,
    fit_standard_scaler,
    robust_spread,
    unit_weights,
    weighted_median,
)

# Rows on which k-means looks for its centres at most.
KMEANS_MAX_ROWS = 50_000
# Short-run EM: runs per start, and EM iterations of each at most. The best run
# is continued (unless it converged), so a start costs at most
# (EMEM_SHORT_RUNS - 1) * EMEM_SHORT_ITER iterations more than a random start
# run to the same convergence.
EMEM_SHORT_RUNS = 2
EMEM_SHORT_ITER = 30
# Rows whose y is far (FAR_ROBUST_SDS robust standard deviations from y's median)
# are left out of the starts when they are one row or hold at most this share of
# the weight (the k-means start also tries them in, see kmeans_partitions).
FAR_TARGETS_MAX_SHARE = 0.05


def start_strategy(init, start, n_init):
    """The strategy of start number ``start``: ``init`` itself, except for ``"auto"``.

    Parameters
    ----------
    init : str or ndarray
        The estimator's validated ``init``.
    start : int
        Index of the start among the ``n_init`` starts.
    n_init : int
        Number of starts of the fit.

    Returns
    -------
    strategy : str or ndarray
        For ``"auto"``: ``"kmeans"`` when the fit has a single start; with
        several, ``"emem"`` for every start, the first one's short runs
        including the k-means partition (``"emem+kmeans"``). ``init``
        otherwise.
    """
    if isinstance(init, str) and init == "auto":
        if n_init == 1:
            return "kmeans"
        return "emem+kmeans" if start == 0 else "emem"
    return init


def initial_responsibilities(init, X, y, sample_weight, n_experts, start, random_state,
                             leave_out_far=True):
    """Responsibilities that start one EM run.

    Parameters
    ----------
    init : {"kmeans", "random"} or ndarray of shape (n_samples, n_experts)
        The strategy (see :func:`start_strategy`), or a validated array.
    X : ndarray of shape (n_samples, n_features)
        Training inputs.
    y : ndarray of shape (n_samples,) or None
        Training targets clustered beside X, or None to cluster X alone.
    sample_weight : ndarray of shape (n_samples,)
        Row weights.
    n_experts : int
        Number of experts.
    start : int
        Index of this start among the ``n_init`` starts.
    random_state : numpy.random.RandomState
        Generator of this start.
    leave_out_far : bool, default=True
        Whether the rows whose ``y`` is far (:func:`far_targets`) are left out
        of a ``"kmeans"`` or ``"random"`` start (a given array is used as
        given).

    Returns
    -------
    resp : ndarray of shape (n_samples, n_experts)
        Non-negative rows summing to one, or 0 for a row left out.
    """
    n_samples = X.shape[0]
    if isinstance(init, str) and init in ("kmeans", "random"):
        far = far_rows(y, sample_weight) if leave_out_far else _no_rows(n_samples)
        if init == "kmeans":
            return _kmeans_responsibilities(X, y, sample_weight, n_experts, start,
                                            random_state, far)
        resp = random_state.dirichlet(np.ones(n_experts), size=n_samples)
        resp[far] = 0.0
        return resp
    # C order whatever the given layout: the E-step kernel writes the rows in place.
    resp = np.array(init, dtype=np.float64, order="C")
    if start > 0:
        # The rows the array leaves out stay out of every start.
        noise = random_state.dirichlet(np.ones(n_experts), size=n_samples)
        resp = np.where(resp.any(axis=1, keepdims=True), 0.5 * resp + 0.5 * noise, 0.0)
    return resp


def random_partition(n_samples, n_experts, random_state):
    """One-hot responsibilities of a uniformly random partition of the rows.

    Every expert gets at least one row when there are enough rows, so that no
    expert starts empty.

    Parameters
    ----------
    n_samples, n_experts : int
    random_state : numpy.random.RandomState

    Returns
    -------
    resp : ndarray of shape (n_samples, n_experts)
    """
    labels = random_state.randint(n_experts, size=n_samples)
    if n_samples >= n_experts:
        labels[random_state.choice(n_samples, size=n_experts, replace=False)] = np.arange(
            n_experts)
    resp = np.zeros((n_samples, n_experts))
    resp[np.arange(n_samples), labels] = 1.0
    return resp


def far_targets(y, sample_weight):
    """The rows the starts leave out: a few rows whose ``y`` is far from the others'.

    A row is far when its ``y`` is at least ``FAR_ROBUST_SDS`` robust standard
    deviations (:func:`~skmoe._scaling.robust_spread`) from the weighted median
    of ``y``. Far rows are left out when they are a single row or hold at most
    ``FAR_TARGETS_MAX_SHARE`` of the weight: more of them are not outliers.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Training targets.
    sample_weight : ndarray of shape (n_samples,)
        Row weights, not all zero.

    Returns
    -------
    far : ndarray of shape (n_samples,) of bool
        All False when no row is far, when more than half the weight sits on
        one value of ``y`` (its spread is then 0), or when the far rows are too
        many to be left out.
    """
    far = np.zeros(y.shape[0], dtype=bool)
    # Their scale does not change which rows are far; large ones would overflow.
    sample_weight = unit_weights(sample_weight)
    spread = robust_spread(y, sample_weight)
    if spread > 0:
        far = np.abs(y - weighted_median(y, sample_weight)) > FAR_ROBUST_SDS * spread
        far &= sample_weight > 0
        share = sample_weight[far].sum() / sample_weight.sum()
        if np.count_nonzero(far) > 1 and share > FAR_TARGETS_MAX_SHARE:
            far[:] = False
    return far


def kmeans_partitions(X, y, sample_weight, n_experts, start, random_state):
    """The k-means starts for the likelihood to choose from: one, or two with far rows.

    With rows whose ``y`` is far (:func:`far_targets`), they may be outliers,
    which a start should leave out, or a small regime, which k-means finds as
    a cluster of its own: both partitions are returned, the first without the
    far rows, the second with them, for the EM loop's short runs (as emEM's)
    to choose from.

    Parameters
    ----------
    X, y, sample_weight, n_experts, start, random_state
        As for :func:`initial_responsibilities`.

    Returns
    -------
    partitions : list of ndarray of shape (n_samples, n_experts)
    """
    far = far_rows(y, sample_weight)
    first = _kmeans_responsibilities(X, y, sample_weight, n_experts, start, random_state, far)
    if not far.any():
        return [first]
    return [first, _kmeans_responsibilities(X, y, sample_weight, n_experts, start,
                                            random_state, _no_rows(X.shape[0]))]


def _no_rows(n_samples):
    return np.zeros(n_samples, dtype=bool)


def far_rows(y, sample_weight):
    """:func:`far_targets` of a regressor's ``y``; no rows for the classifier's None.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or None
    sample_weight : ndarray of shape (n_samples,)

    Returns
    -------
    far : ndarray of shape (n_samples,) of bool
    """
    if y is None or np.ndim(y) != 1:
        return _no_rows(sample_weight.shape[0])
    return far_targets(y, sample_weight)


def leave_out_far_targets(resp, y, sample_weight):
    """Set to 0 the rows of a start's responsibilities whose ``y`` is far (:func:`far_targets`).

    A far ``y`` in a start's rows drags the expert that holds it: the first
    M-step is least squares for every family (the heavy-tailed ones' latent
    weights come from the first E-step), and one row of ``1e6`` among values
    of order one took an expert of its own. A row of zeros leaves the row out
    of the first M-step; the first E-step gives it responsibilities.

    Parameters
    ----------
    resp : ndarray of shape (n_samples, n_experts)
        A start's responsibilities, modified in place.
    y : ndarray of shape (n_samples,) or None
        Training targets (None, or not one-dimensional: ``resp`` is returned as
        it is).
    sample_weight : ndarray of shape (n_samples,)
        Row weights.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_experts)
    """
    resp[far_rows(y, sample_weight)] = 0.0
    return resp


def _kmeans_responsibilities(X, y, sample_weight, n_experts, start, random_state, far):
    # k-means does not depend on the scale of the weights; large ones would overflow.
    sample_weight = unit_weights(sample_weight)
    # The rows in ``far`` (see leave_out_far_targets) are left out of the centres and
    # the standardisation too: a far y would be a cluster of its own.
    if far.any():
        sample_weight = np.where(far, 0.0, sample_weight)
    data = _kmeans_data(X, y, sample_weight)
    weights = sample_weight
    if start > 0:
        # A bootstrap of the rows moves the centres enough for each start to differ.
        counts = random_state.multinomial(X.shape[0], sample_weight / sample_weight.sum())
        weights = counts.astype(np.float64)
    seed = random_state.randint(np.iinfo(np.int32).max)
    fit_data = data
    if far.any():
        # Not given zero weights only: k-means' tolerance is from the unweighted
        # variance of the rows it is given, which a far row would inflate.
        kept = np.flatnonzero(~far)
        fit_data, weights = data[kept], weights[kept]
    if fit_data.shape[0] > KMEANS_MAX_ROWS:
        rows = np.sort(random_state.choice(fit_data.shape[0], size=KMEANS_MAX_ROWS,
                                           replace=False))
        if np.any(weights[rows] > 0):
            fit_data, weights = fit_data[rows], weights[rows]
    # ``fit_data`` is this function's own copy: k-means may centre it in place.
    kmeans = KMeans(n_clusters=n_experts, n_init=1, random_state=seed, copy_x=False)
    # One OpenMP thread: k-means' threads spin at their barriers, and on a busy
    # machine that made a k-means start on 300 rows take 365 ms instead of 7 ms
    # (on 50,000 rows, 1.4 s instead of 0.2 s). The process's pools inspected once:
    # threadpool_limits inspects them anew, 2.4 ms a start, longer than k-means here.
    with warnings.catch_warnings(), threadpool_controller().limit(limits=1,
                                                                  user_api="openmp"):
        # Fewer distinct points than experts is handled by the expert floor of the EM loop.
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans.fit(fit_data, sample_weight=weights)
        labels = kmeans.predict(data)
    resp = np.zeros((X.shape[0], n_experts))
    resp[np.arange(X.shape[0]), labels] = 1.0
    resp[far] = 0.0
    return resp


def _kmeans_data(X, y, sample_weight):
    """The rows k-means clusters: X's columns and y's (when given), each with unit
    weighted variance (and centred, but for sparse X's); NaN set to the column mean.

    For dense X, one new array, filled column group by column group: the
    standardised columns are not made apart and then stacked (each copy as
    large as X).
    """
    groups = [X] if y is None else [X, np.reshape(y, (X.shape[0], -1))]
    if sp.issparse(X):
        scaled = [fit_standard_scaler(values, sample_weight, with_mean=not sp.issparse(values))
                  .transform(values) for values in groups]
        return scaled[0] if y is None else sp.hstack(scaled, format="csr")
    data = np.empty((X.shape[0], sum(values.shape[1] for values in groups)))
    start = 0
    for values in groups:
        if np.isnan(values).any():
            values = SimpleImputer(strategy="mean", keep_empty_features=True).fit_transform(values)
        scaler = fit_standard_scaler(values, sample_weight, with_mean=True)
        # StandardScaler.transform's own steps, into the shared array.
        out = data[:, start:start + values.shape[1]]
        np.subtract(values, scaler.mean_, out=out)
        out /= scaler.scale_
        start += values.shape[1]
    return data
