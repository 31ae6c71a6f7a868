"""The compiled incomplete gamma and beta functions against scipy.special."""

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import special, stats

from skmoe._special import (
    betainc,
    gamma_pq,
    gammainc,
    gammaincc,
    log1pmx,
    poisson_cdf,
    student_t_cdf,
    student_t_log_beta,
    student_t_pdf,
)

# scipy's own accuracy (about 1e-13 relative over these ranges) and ours add up.
RTOL = 5e-12


def _vectorised(function, *arguments):
    return np.array([function(*values) for values in zip(*arguments)])


def _relative_error(result, expected):
    return np.max(np.abs(result - expected) / np.abs(expected))


@pytest.mark.parametrize("spread", ["log", "centre"])
def test_incomplete_gamma_equals_scipy_over_shapes_1e_3_to_1e3(spread):
    rng = np.random.default_rng(0)
    shape = 10 ** rng.uniform(-3, 3, 3000)
    if spread == "log":
        # Both tails, down to values near the smallest normal float.
        x = shape * 10 ** rng.uniform(-2, 1, 3000)
    else:
        x = np.abs(shape + np.sqrt(shape) * rng.normal(0.0, 5.0, 3000))
    lower = _vectorised(gammainc, shape, x)
    upper = _vectorised(gammaincc, shape, x)
    expected_lower, expected_upper = special.gammainc(shape, x), special.gammaincc(shape, x)
    kept = expected_lower > 1e-290
    assert _relative_error(lower[kept], expected_lower[kept]) < RTOL
    kept = expected_upper > 1e-290
    assert _relative_error(upper[kept], expected_upper[kept]) < RTOL


def _decimal_log_factor(a, x):
    """``log(x^a e^-x / Gamma(a))`` in 40 digits, with Stirling's series for log Gamma."""
    with localcontext() as context:
        context.prec = 40
        a, x = Decimal(a), Decimal(x)
        inv2 = 1 / (a * a)
        series = (1 / Decimal(12) - inv2 * (1 / Decimal(360) - inv2 * (
            1 / Decimal(1260) - inv2 / 1680))) / a
        log_gamma = (a - Decimal("0.5")) * a.ln() - a + (2 * Decimal(math.pi)).ln() / 2 + series
        return float(a * x.ln() - x - log_gamma)


@pytest.mark.parametrize("shape", [1e4, 1.37e5, 1e6])
def test_incomplete_gamma_of_large_shapes_equals_a_40_digit_factor_and_series(shape):
    # scipy's asymptotic expansion is off by up to 3e-7 relative at these shapes,
    # so the reference is the defining series with its factor in 40 digits.
    for z in (-8.0, -3.0, -1.0, 0.0, 1.0, 3.0):
        x = shape + z * math.sqrt(shape)
        p, q, log_factor = gamma_pq(shape, x)
        expected_factor = _decimal_log_factor(shape, x)
        assert abs(log_factor - expected_factor) < 1e-12
        term = total = 1.0 / shape
        n = 0
        while term > total * 1e-18:
            n += 1
            term *= x / (shape + n)
            total += term
        expected_p = total * math.exp(expected_factor)
        assert_allclose(p, expected_p, rtol=RTOL)
        assert_allclose(q, 1.0 - expected_p, rtol=RTOL)
        assert p + q == pytest.approx(1.0, abs=1e-15)


def test_incomplete_gamma_at_the_ends():
    assert gamma_pq(2.5, 0.0)[:2] == (0.0, 1.0)
    assert gamma_pq(2.5, math.inf)[:2] == (1.0, 0.0)


def test_log1pmx_equals_its_taylor_series_and_log1p_minus_x():
    t = np.concatenate([-np.geomspace(1e-12, 0.49, 200), np.geomspace(1e-12, 10.0, 200)])
    result = _vectorised(log1pmx, t)
    # log1p(t) - t computed where it does not cancel: the Taylor series for tiny t.
    small = np.abs(t) < 1e-4
    expected = np.where(small, -t**2 / 2 + t**3 / 3 - t**4 / 4 + t**5 / 5, np.log1p(t) - t)
    assert_allclose(result[small], expected[small], rtol=1e-14)
    assert_allclose(result[~small], expected[~small], rtol=1e-11)


def test_incomplete_beta_equals_scipy():
    rng = np.random.default_rng(1)
    a, b = 10 ** rng.uniform(-2, 2.5, 3000), 10 ** rng.uniform(-2, 2.5, 3000)
    x = rng.uniform(0, 1, 3000)
    result = _vectorised(betainc, a, b, x)
    expected = special.betainc(a, b, x)
    kept = expected > 1e-290
    assert _relative_error(result[kept], expected[kept]) < RTOL
    assert betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0


def test_student_t_cdf_and_pdf_equal_scipy_for_df_1_to_200():
    rng = np.random.default_rng(2)
    df = 10 ** rng.uniform(0, np.log10(200), 4000)
    t = rng.standard_cauchy(4000) * 10 ** rng.uniform(-3, 2, 4000)
    result = _vectorised(student_t_cdf, df, t)
    expected = special.stdtr(df, t)
    kept = expected > 1e-290
    assert _relative_error(result[kept], expected[kept]) < RTOL
    # The upper tail through the lower one, where 1 - F keeps its digits.
    assert_allclose(_vectorised(student_t_cdf, df, -t), special.stdtr(df, -t), rtol=RTOL,
                    atol=1e-300)
    density = np.array([student_t_pdf(d, value, student_t_log_beta(d))
                        for d, value in zip(df, t)])
    assert_allclose(density, stats.t.pdf(t, df), rtol=1e-12, atol=1e-300)
    assert student_t_cdf(3.0, 0.0) == 0.5
    assert student_t_cdf(3.0, -math.inf) == 0.0 and student_t_cdf(3.0, math.inf) == 1.0


def test_poisson_cdf_equals_scipy_for_tiny_and_large_means():
    rng = np.random.default_rng(3)
    mean = 10 ** rng.uniform(-6, 5, 3000)
    k = np.floor(np.abs(mean + np.sqrt(mean) * rng.normal(0.0, 4.0, 3000)))
    result = _vectorised(poisson_cdf, k, mean)
    expected = stats.poisson.cdf(k, mean)
    kept = expected > 1e-290
    assert _relative_error(result[kept], expected[kept]) < RTOL
    assert poisson_cdf(-1.0, 3.0) == 0.0
    assert poisson_cdf(2.7, 3.0) == stats.poisson.cdf(2, 3.0)


def _decimal_series_p(a, x, log_factor):
    """``P(a, x)``: the defining series in 40 digits, times ``exp(log_factor)``."""
    with localcontext() as context:
        context.prec = 40
        a, x = Decimal(a), Decimal(x)
        term = total = 1 / a
        n = 0
        while term > total * Decimal("1e-25"):
            n += 1
            term *= x / (a + n)
            total += term
        return float(total * Decimal(log_factor).exp())


@pytest.mark.parametrize("shape", [1e7, 1e8])
def test_incomplete_gamma_of_shapes_from_1e7_equals_the_40_digit_series(shape):
    # The series and the continued fraction stopped at 100000 terms, short of
    # converging beyond shapes of about 1e8 (P(1e12, 1e12) was 0.96): from 1e7 on
    # they are Temme's uniform expansion. (scipy's gammainc is off by up to 1e-6 in
    # the lower tail at these shapes: it cannot be the reference.)
    for z in (-7.0, -3.0, -1.0, 0.0, 0.5, 3.0, 7.0):
        x = shape + z * math.sqrt(shape)
        p, q, _ = gamma_pq(shape, x)
        expected = _decimal_series_p(shape, x, _decimal_log_factor(shape, x))
        # The expansion's first neglected term is about 2.4e-14 at a shape of 1e7.
        assert abs(p - expected) < 5e-14
        assert abs(q - (1.0 - expected)) < 5e-14


@pytest.mark.parametrize("shape", [1e12, 1e20])
def test_incomplete_gamma_of_huge_shapes_is_its_edgeworth_expansion(shape):
    # P(a, a + z sqrt(a)) = Phi(z) - (z^2 - 1) phi(z) / (3 sqrt(a)) + O(1 / a).
    for z in (-6.0, -2.0, 0.0, 1.0, 4.0):
        x = shape + z * math.sqrt(shape)
        z = (x - shape) / math.sqrt(shape)  # x is rounded to float64
        p, q, _ = gamma_pq(shape, x)
        expected = stats.norm.cdf(z) - (z * z - 1) * stats.norm.pdf(z) / (3 * math.sqrt(shape))
        assert abs(p - expected) < 10 / shape + 1e-15
        assert p + q == pytest.approx(1.0, abs=1e-15)


def test_poisson_cdf_of_counts_beyond_2_to_the_63():
    # Numba's math.floor returns an int64, which wrapped around beyond 2**63: the
    # count became -9.2e18.
    for mean in (1e19, 1e30):
        for z in (-2.0, 0.0, 3.0):
            count = float(np.floor(mean + z * math.sqrt(mean)))
            assert poisson_cdf(count, mean) == gamma_pq(count + 1.0, mean)[1]
            z = (count - mean) / math.sqrt(mean)  # the count is rounded to float64
            assert abs(poisson_cdf(count, mean) - stats.norm.cdf(z)) < 1e-8
