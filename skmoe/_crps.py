"""The continuous ranked probability score (CRPS) of a mixture's predictive distribution.

``CRPS(F, y) = integral of (F(z) - 1{z >= y})^2 dz`` over the real line: the
squared distance between the predictive distribution function and the step
of the observation, in the units of y (lower is better; for a point forecast
it is the absolute error). Two ways to compute it, both pure functions of the
mixture's parts:

* :func:`gaussian_mixture_crps`, closed form for Gaussian components (Grimit,
  Gneiting, Berrocal and Johnson 2006). With ``A(m, v) = E|m + sqrt(v) Z|``
  for a standard normal ``Z``, ``A(m, v) = m (2 Phi(m / s) - 1) + 2 s
  phi(m / s)`` with ``s = sqrt(v)``, and the kernel form ``CRPS = E|X - y| -
  E|X - X'| / 2`` gives ``sum_k w_k A(y - mu_k, s_k^2) - 1/2 sum_jk w_j w_k
  A(mu_j - mu_k, s_j^2 + s_k^2)``.
* :func:`quadrature_crps`, for any other family: the integral itself, split at
  the observation and at every component's quantiles of the levels
  ``CRPS_LEVELS`` (between two neighbouring break points each component's
  distribution function moves by a few percent at most, and is smooth), with
  ``CRPS_NODES``-point Gauss-Legendre quadrature on each piece. Beyond the
  outermost break points every component is within ``1e-12`` of 0 or 1, and
  the integrand is left out. A discrete family (counts) is summed exactly over
  the integers instead.
"""

import numpy as np
from scipy.special import ndtr

# Levels of each component whose quantiles split the integral: dense in the
# body, geometric in the tails.
CRPS_LEVELS = np.array([
    1e-12, 1e-9, 1e-6, 1e-4, 1e-3, 0.01, 0.03, 0.07, 0.15, 0.25, 0.35, 0.5, 0.65, 0.75,
    0.85, 0.93, 0.97, 0.99, 0.999, 1 - 1e-4, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12,
])
# The same for Student t experts of fewer than 2 degrees of freedom, whose
# distribution functions fall as 1 / |z|^df: every decade of the tails, where a
# hundredfold step left their CRPS 1e-5 off at df = 1 (1.6e-8 with these).
_TAIL = np.array([1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 3e-4, 1e-3,
                  3e-3])
CRPS_HEAVY_TAIL_LEVELS = np.concatenate([
    _TAIL, [0.01, 0.03, 0.07, 0.15, 0.25, 0.35, 0.5, 0.65, 0.75, 0.85, 0.93, 0.97, 0.99],
    1 - _TAIL[::-1]])
# Gauss-Legendre nodes on each piece.
CRPS_NODES = 8
# Entries evaluated at once (rows times points of the distribution function).
_CHUNK_ENTRIES = 1 << 20
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _expected_absolute(m, v):
    """``E|m + sqrt(v) Z|`` for a standard normal ``Z``, entrywise."""
    s = np.sqrt(v)
    z = m / s
    return m * (2.0 * ndtr(z) - 1.0) + 2.0 * s * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def gaussian_mixture_crps(y, weights, means, variances):
    """CRPS of each row's Gaussian mixture, in closed form.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Observations.
    weights : ndarray of shape (n_samples, n_experts)
        Mixture weights, rows summing to one.
    means : ndarray of shape (n_samples, n_experts)
        Component means.
    variances : ndarray of shape (n_experts,)
        Component variances (positive).

    Returns
    -------
    crps : ndarray of shape (n_samples,)
    """
    variances = np.asarray(variances, dtype=np.float64)
    spread = np.einsum("ik,ik->i", weights,
                       _expected_absolute(y[:, None] - means, variances[None, :]))
    pairs = np.zeros(y.shape[0])
    for j in range(means.shape[1]):
        between = _expected_absolute(means[:, j:j + 1] - means,
                                     variances[j] + variances[None, :])
        pairs += weights[:, j] * np.einsum("ik,ik->i", weights, between)
    return spread - 0.5 * pairs


def quadrature_crps(y, cdf, breaks, discrete=False):
    """CRPS of each row's predictive distribution by numerical integration.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Observations.
    cdf : callable
        ``cdf(z, rows)``: the distribution function of row ``rows[m]`` at
        ``z[m]`` (both 1-D of one length).
    breaks : ndarray of shape (n_samples, n_breaks)
        Points of each row outside of which the distribution function is
        within a negligible distance of 0 (below) or 1 (above), and between
        which it is smooth: the components' quantiles of ``CRPS_LEVELS`` (of
        ``CRPS_HEAVY_TAIL_LEVELS`` for tails as heavy as a Student t's of fewer
        than 2 degrees of freedom).
    discrete : bool, default=False
        Whether the distribution lives on the integers (and y is an integer):
        the integral is then the sum of ``(F(j) - 1{j >= y})^2`` over the
        integers ``j`` between the outermost break points.

    Returns
    -------
    crps : ndarray of shape (n_samples,)
    """
    y = np.asarray(y, dtype=np.float64)
    if discrete:
        return _integer_sum_crps(y, cdf, breaks)
    points = np.sort(np.column_stack([breaks, y]), axis=1)
    nodes, node_weights = np.polynomial.legendre.leggauss(CRPS_NODES)
    n_samples, n_pieces = y.shape[0], points.shape[1] - 1
    result = np.zeros(n_samples)
    rows_per_chunk = max(1, _CHUNK_ENTRIES // (n_pieces * CRPS_NODES))
    for start in range(0, n_samples, rows_per_chunk):
        rows = np.arange(start, min(start + rows_per_chunk, n_samples))
        left, right = points[rows, :-1], points[rows, 1:]
        half = 0.5 * (right - left)
        z = (left + half)[:, :, None] + half[:, :, None] * nodes
        row_index = np.broadcast_to(rows[:, None, None], z.shape)
        values = np.reshape(cdf(z.ravel(), row_index.ravel()), z.shape)
        # y is a break point: the step is constant on every piece, and a piece
        # lies above y exactly when its middle does.
        above = (left + half >= y[rows, None])[:, :, None]
        integrand = (values - above) ** 2
        result[rows] = np.einsum("ipn,n,ip->i", integrand, node_weights, half)
    return result


def _integer_sum_crps(y, cdf, breaks):
    # The integers between the outermost break points are summed one by one.
    # Between them and y, F is within 1e-12 of 0 (below) or of 1 (above), so
    # each term is 1 to 2e-12: they are counted. Summed one by one, a y far
    # from the breaks took a loop as long as the distance (100 s at 1e9), and
    # beyond 2**63 the count overflowed int64 (a CRPS of 0, silently).
    low = np.floor(breaks.min(axis=1))
    high = np.ceil(breaks.max(axis=1))
    gaps = np.maximum(low - y, 0.0) + np.maximum(y - high - 1, 0.0)
    widths = (high - low).astype(np.int64) + 1
    result = np.zeros(y.shape[0])
    columns = max(1, _CHUNK_ENTRIES // max(1, y.shape[0]))
    for offset in range(0, int(widths.max()), columns):
        steps = np.arange(offset, min(offset + columns, int(widths.max())))
        inside = steps[None, :] < widths[:, None]
        rows, which = np.nonzero(inside)
        z = low[rows] + steps[which]
        values = cdf(z, rows)
        np.add.at(result, rows, (values - (z >= y[rows])) ** 2)
    return result + gaps
