"""The kernels' own exp and log: NumPy's to one ulp, in loops compiled as the kernels are."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import njit
from numpy.testing import assert_array_equal

from skmoe._fastmath import _exp, _log
from skmoe._kernels import _SERIAL


def _ulps(values, expected):
    """Distance in units of the last place of ``expected`` (0 where both are equal)."""
    with np.errstate(invalid="ignore"):
        distance = np.abs(values - expected) / np.spacing(np.abs(expected))
    return np.where(values == expected, 0.0, distance)


# Loops compiled with the kernels' own flags: _exp and _log must keep their exact
# arithmetic when LLVM inlines them there (see skmoe/_fastmath.py).
@njit(**_SERIAL)
def _map_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


@njit(**_SERIAL)
def _map_log(x, out):
    for i in range(x.shape[0]):
        out[i] = _log(x[i])


def _vector_exp(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    before = x.copy()
    out = np.full_like(x, np.nan)
    _map_exp(x, out)
    assert_array_equal(x, before)
    return out


def _vector_log(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    before = x.copy()
    out = np.full_like(x, np.nan)
    _map_log(x, out)
    assert_array_equal(x, before)
    return out


@pytest.mark.parametrize(
    ("low", "high"),
    [(-745.2, 709.8), (-708.4, 709.78), (-1.0, 1.0), (-0.35, 0.35), (-50.0, 0.0), (-1e-8, 1e-8)],
)
def test_vector_exp_within_one_ulp_of_numpy(low, high):
    x = np.random.default_rng(0).uniform(low, high, size=200_000)
    out = _vector_exp(x)
    with np.errstate(over="ignore"):
        expected = np.exp(x)
    normal = expected >= np.finfo(np.float64).tiny
    assert np.max(_ulps(out[normal], expected[normal])) <= 1.0
    assert np.max(np.abs(out[~normal] - expected[~normal]), initial=0.0) <= 5e-324
    # Most results are exactly NumPy's.
    assert np.mean(out == expected) > 0.9


def test_vector_exp_subnormal_results_within_one_subnormal_step():
    # exp(x) < 2**-1022 for x < -708.3964: the result is subnormal, and its
    # spacing (5e-324) is the error allowed.
    x = np.random.default_rng(1).uniform(-745.2, -708.3, size=200_000)
    out = _vector_exp(x)
    expected = np.exp(x)
    tiny = np.finfo(np.float64).tiny
    assert np.any(expected < tiny) and np.any(expected == 0.0)
    subnormal = expected < tiny
    assert np.max(np.abs(out[subnormal] - expected[subnormal])) <= 5e-324
    assert np.max(_ulps(out[~subnormal], expected[~subnormal])) <= 1.0


def test_vector_exp_special_values():
    x = np.array([-np.inf, -1e300, -1000.0, -746.0, -745.2, -745.1332191019412, -745.13,
                  -745.0, -708.4, 0.0, -0.0, 1e-300, -1e-300, 1.0, 709.78, 709.79, 710.0,
                  1e300, np.inf, np.nan])
    out = _vector_exp(x)
    with np.errstate(over="ignore"):
        expected = np.exp(x)
    assert_array_equal(out, expected)  # exact at every one of them, NaN included
    assert out[0] == 0.0 and not np.signbit(out[0])
    assert out[9] == out[10] == 1.0


def test_vector_exp_at_every_power_of_two_and_halfway_between():
    # Every exponent of the result, normal and subnormal, and the points where
    # the rounding of x / ln 2 to an integer flips.
    k = np.arange(-1075, 1025)
    x = np.concatenate([k * np.log(2.0), (k + 0.5) * np.log(2.0)])
    x = np.concatenate([x, np.nextafter(x, -np.inf), np.nextafter(x, np.inf)])
    out = _vector_exp(x)
    with np.errstate(over="ignore"):
        expected = np.exp(x)
    normal = expected >= np.finfo(np.float64).tiny
    assert np.max(_ulps(out[normal], expected[normal])) <= 1.0
    assert np.max(np.abs(out[~normal] - expected[~normal])) <= 5e-324


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(allow_nan=True)))
def test_vector_exp_property_matches_numpy(x):
    out = _vector_exp(x)
    with np.errstate(over="ignore"):
        expected = np.exp(x)
    assert_array_equal(np.isnan(out), np.isnan(expected))
    assert_array_equal(np.isinf(out), np.isinf(expected))
    normal = expected >= np.finfo(np.float64).tiny
    assert np.all(_ulps(out[normal], expected[normal]) <= 1.0)
    small = ~normal & ~np.isnan(expected)
    assert np.all(np.abs(out[small] - expected[small]) <= 5e-324)


@pytest.mark.parametrize(
    "x",
    [
        np.random.default_rng(2).uniform(0.0, 1.0, size=100_000),
        np.random.default_rng(3).uniform(1.0, 64.0, size=100_000),
        1.0 + np.random.default_rng(4).uniform(-1e-6, 1e-6, size=100_000),
        np.exp(np.random.default_rng(5).uniform(-708.0, 709.0, size=100_000)),
        np.random.default_rng(6).uniform(0.0, 2.2250738585072014e-308, size=100_000),
    ],
    ids=["unit", "1-64", "near-one", "whole-range", "subnormal"],
)
def test_vector_log_within_one_ulp_of_numpy(x):
    out = _vector_log(x)
    with np.errstate(divide="ignore"):
        expected = np.log(x)
    assert np.max(_ulps(out, expected)) <= 1.0


def test_vector_log_special_values():
    x = np.array([0.0, -0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 0.5, 1.0, 2.0,
                  np.finfo(np.float64).max, np.inf, -1.0, -1e-300, -np.inf, np.nan])
    out = _vector_log(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.log(x)
    assert_array_equal(out, expected)
    assert out[6] == 0.0


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(allow_nan=True)))
def test_vector_log_property_matches_numpy(x):
    out = _vector_log(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.log(x)
    assert_array_equal(np.isnan(out), np.isnan(expected))
    assert_array_equal(np.isinf(out), np.isinf(expected))
    finite = np.isfinite(expected)
    assert np.all(_ulps(out[finite], expected[finite]) <= 1.0)
