"""Compiled special functions for the predictive quantiles: incomplete gamma and beta.

The regularized incomplete gamma functions ``P(a, x)`` and ``Q(a, x) = 1 -
P(a, x)`` come from the power series of ``P`` below ``x = a + 1`` and from
the continued fraction of ``Q`` above it (for shapes from 1e7, Temme's
uniform asymptotic expansion); the regularized incomplete beta
function ``I_x(a, b)`` from its continued fraction, on ``x`` or on ``1 - x``
by the symmetry ``I_x(a, b) = 1 - I_{1-x}(b, a)``, whichever converges fast.
Both are evaluated with the modified Lentz method. The factor ``x^a e^-x /
Gamma(a)`` in front of the incomplete gamma functions is taken, for large
``a``, from Stirling's series and ``log(1 + t) - t`` with ``t = x / a - 1``,
so that no large logarithms cancel. They give the Student t, Gamma and
Poisson distribution functions of the quantile kernel in :mod:`._kernels`.
"""

import math

import numpy as np
from numba import njit

_EPS = 2.220446049250313e-16
# Smallest magnitude the Lentz recursion lets a denominator take.
_TINY = 1e-300
# Terms of a series or a continued fraction at most. Near x = a both take
# about 10 sqrt(a) of them, so this covers shapes up to about 1e8.
_MAX_TERMS = 100_000
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Shapes from which log Gamma(a) is Stirling's series with its correction.
_STIRLING_FROM = 10.0
# Shapes from which P and Q are Temme's uniform asymptotic expansion: the series
# and the continued fraction would need more than _MAX_TERMS terms near x = a
# (beyond about 1e8 they stopped short: P(1e12, 1e12) came out 0.96, not 0.5).
# The expansion's first neglected term is about 2e-3 / (a sqrt(2 pi a)) at most.
_UNIFORM_FROM = 1e7
# The first Taylor coefficients of Temme's C_0(eta) = 1 / (lambda - 1) - 1 / eta
# at eta = 0, where that difference cancels.
_C0_TAYLOR = (-1.0 / 3.0, 1.0 / 12.0, -2.0 / 135.0, 1.0 / 864.0, 1.0 / 2835.0,
              -139.0 / 777600.0)
_PLAIN = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_PLAIN)
def log1pmx(t):
    """``log(1 + t) - t``, accurate also for small ``t``."""
    if abs(t) >= 0.5:
        return math.log1p(t) - t
    # log(1 + t) = 2 atanh(u) with u = t / (2 + t), and 2 u - t = -t^2 / (2 + t).
    u = t / (2.0 + t)
    u2 = u * u
    power = u * u2
    total = 0.0
    n = 3.0
    while True:
        term = power / n
        total += term
        if abs(term) <= _EPS * abs(total):
            break
        power *= u2
        n += 2.0
    return -t * t / (2.0 + t) + 2.0 * total


@njit(**_PLAIN)
def _stirling_correction(a):
    """``log Gamma(a) - ((a - 1/2) log a - a + log(2 pi) / 2)``."""
    if a < _STIRLING_FROM:
        return math.lgamma(a) - ((a - 0.5) * math.log(a) - a + _HALF_LOG_2PI)
    inv = 1.0 / a
    inv2 = inv * inv
    return inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 * (
        1.0 / 1680 - inv2 * (1.0 / 1188 - inv2 * (691.0 / 360360 - inv2 / 156))))))


@njit(**_PLAIN)
def gamma_constant(a):
    """The part of ``log(x^a e^-x / Gamma(a))`` that depends on ``a`` alone.

    ``log Gamma(a)`` for small shapes, the correction to Stirling's formula for
    large ones; a solve over many ``x`` of one shape computes it once.
    """
    if a < _STIRLING_FROM:
        return math.lgamma(a)
    return _stirling_correction(a)


@njit(**_PLAIN)
def log_gamma_factor(a, x, constant):
    """``log(x^a e^-x / Gamma(a))`` for ``a > 0`` and ``x >= 0``, given
    ``gamma_constant(a)``."""
    if x == 0.0:
        return -math.inf
    if a < _STIRLING_FROM:
        return a * math.log(x) - x - constant
    return 0.5 * math.log(a) - _HALF_LOG_2PI + a * log1pmx((x - a) / a) - constant


@njit(**_PLAIN)
def gamma_pq(a, x):
    """Both regularized incomplete gamma functions and their common factor.

    Parameters
    ----------
    a : float
        Shape, positive.
    x : float
        Argument, non-negative.

    Returns
    -------
    p : float
        ``P(a, x)``, the lower function.
    q : float
        ``Q(a, x) = 1 - P(a, x)``, the upper function.
    log_factor : float
        ``log(x^a e^-x / Gamma(a))`` (``x`` times the Gamma(a) density at ``x``).
    """
    return gamma_pq_given(a, x, gamma_constant(a))


@njit(**_PLAIN)
def gamma_pq_given(a, x, constant):
    """:func:`gamma_pq` given ``gamma_constant(a)``."""
    if x <= 0.0:
        return 0.0, 1.0, -math.inf
    if math.isinf(x):
        return 1.0, 0.0, -math.inf
    log_factor = log_gamma_factor(a, x, constant)
    if a >= _UNIFORM_FROM:
        p, q = _uniform_pq(a, x)
        return p, q, log_factor
    if x < a + 1.0:
        # P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n))
        term = 1.0 / a
        total = term
        denominator = a
        for _ in range(_MAX_TERMS):
            denominator += 1.0
            term *= x / denominator
            total += term
            if term <= total * _EPS:
                break
        p = total * math.exp(log_factor)
        return p, 1.0 - p, log_factor
    # Q(a, x) = x^a e^-x / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - ...))
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    fraction = d
    for n in range(1, _MAX_TERMS):
        an = -n * (n - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        fraction *= delta
        if abs(delta - 1.0) <= _EPS:
            break
    q = fraction * math.exp(log_factor)
    return 1.0 - q, q, log_factor


@njit(**_PLAIN)
def _uniform_pq(a, x):
    """``P(a, x)`` and ``Q(a, x)`` for large ``a`` by Temme's uniform expansion.

    With ``lambda = x / a`` and ``eta`` of the sign of ``lambda - 1`` with
    ``eta^2 / 2 = lambda - 1 - log(lambda)``: ``Q = erfc(eta sqrt(a / 2)) / 2 +
    R`` and ``P = erfc(-eta sqrt(a / 2)) / 2 - R``, ``R = exp(-a eta^2 / 2) /
    sqrt(2 pi a) (C_0(eta) + C_1(eta) / a + ...)``; the terms from ``C_1`` on,
    left out, are below 3e-14 for ``a >= _UNIFORM_FROM`` (and fall as
    ``a^-1.5``).
    """
    sigma = (x - a) / a
    eta = math.sqrt(max(-2.0 * log1pmx(sigma), 0.0))
    if sigma < 0.0:
        eta = -eta
    if abs(eta) < 1e-2:
        c0 = 0.0
        for coefficient in _C0_TAYLOR[::-1]:
            c0 = c0 * eta + coefficient
    else:
        c0 = 1.0 / sigma - 1.0 / eta
    rest = math.exp(-0.5 * a * eta * eta) / math.sqrt(2.0 * math.pi * a) * c0
    root = eta * math.sqrt(0.5 * a)
    return 0.5 * math.erfc(-root) - rest, 0.5 * math.erfc(root) + rest


@njit(**_PLAIN)
def gammainc(a, x):
    """The regularized lower incomplete gamma function ``P(a, x)``."""
    return gamma_pq(a, x)[0]


@njit(**_PLAIN)
def gammaincc(a, x):
    """The regularized upper incomplete gamma function ``Q(a, x)``."""
    return gamma_pq(a, x)[1]


@njit(**_PLAIN)
def _beta_fraction(a, b, x):
    """The continued fraction of ``I_x(a, b)``: ``I_x(a, b) = x^a (1 - x)^b /
    (a B(a, b)) * fraction``; converges fast for ``x < (a + 1) / (a + b + 2)``."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    fraction = d
    for m in range(1, _MAX_TERMS):
        m2 = 2.0 * m
        # The even step, then the odd step of the fraction.
        numerator = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2))
        d = 1.0 + numerator * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + numerator / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        fraction *= d * c
        numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2))
        d = 1.0 + numerator * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + numerator / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        fraction *= delta
        if abs(delta - 1.0) <= _EPS:
            break
    return fraction


@njit(**_PLAIN)
def log_beta(a, b):
    """``log B(a, b)``."""
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


@njit(**_PLAIN)
def betainc_pair(a, b, x, y, log_beta_ab):
    """``I_x(a, b)`` given ``x``, ``y = 1 - x`` (each as accurate as known) and
    ``log B(a, b)``.

    Passing ``y`` apart keeps its relative accuracy when ``x`` is close to 1.
    """
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log(y) - log_beta_ab)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, y) / b


@njit(**_PLAIN)
def betainc(a, b, x):
    """The regularized incomplete beta function ``I_x(a, b)``, ``0 <= x <= 1``."""
    return betainc_pair(a, b, x, 1.0 - x, log_beta(a, b))


@njit(**_PLAIN)
def student_t_cdf(df, t):
    """The standard Student t distribution function with ``df`` degrees of freedom."""
    return student_t_cdf_given(df, t, student_t_log_beta(df))


@njit(**_PLAIN)
def student_t_log_beta(df):
    """``log B(df / 2, 1 / 2)``, the constant of the Student t distribution function."""
    return log_beta(0.5 * df, 0.5)


@njit(**_PLAIN)
def student_t_cdf_given(df, t, log_beta_df):
    """:func:`student_t_cdf` given ``student_t_log_beta(df)``."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    t2 = t * t
    if math.isinf(t2):
        return 1.0 if t > 0 else 0.0
    # The tail is I_x(df/2, 1/2) / 2 with x = df / (df + t^2); near the centre
    # betainc_pair takes it from 1 - x = t^2 / (df + t^2), kept apart.
    tail = 0.5 * betainc_pair(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2), log_beta_df)
    return 1.0 - tail if t > 0 else tail


@njit(**_PLAIN)
def student_t_pdf(df, t, log_beta_df):
    """The standard Student t density, given ``student_t_log_beta(df)``:
    ``(1 + t^2 / df)^(-(df + 1) / 2) / (sqrt(df) B(df / 2, 1 / 2))``."""
    return math.exp(-log_beta_df - 0.5 * math.log(df)
                    - 0.5 * (df + 1.0) * math.log1p(t * t / df))


@njit(**_PLAIN)
def poisson_cdf(k, mu):
    """``P(Y <= k)`` for ``Y ~ Poisson(mu)``: ``Q(floor(k) + 1, mu)``, 0 below 0."""
    if k < 0.0:
        return 0.0
    # np.floor: Numba's math.floor returns an int64, which wraps beyond 2**63.
    return gamma_pq(np.floor(k) + 1.0, mu)[1]
