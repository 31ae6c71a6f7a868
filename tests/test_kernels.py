"""The Numba kernels of skmoe._kernels equal their NumPy references, and never produce NaN.

The vectorised exp and log they are built on are held to within one ulp of NumPy's.
"""

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.optimize import brentq
from scipy.special import log_softmax as scipy_log_softmax

from skmoe._kernels import (
    _MIN_PARALLEL_ENTRIES,
    _MIN_PARALLEL_QUANTILE_ENTRIES,
    GAMMA,
    GAUSSIAN,
    LAPLACE,
    POISSON,
    STUDENT_T,
    categorical_log_likelihood,
    categorical_log_likelihood_reference,
    e_step,
    e_step_reference,
    expert_standard_quantiles,
    gaussian_log_likelihood,
    gaussian_log_likelihood_reference,
    log_softmax,
    mixture_cdf_reference,
    mixture_quantiles,
    mixture_quantiles_reference,
    soft_cross_entropy,
    soft_cross_entropy_hessian,
    soft_cross_entropy_hessian_reference,
)

RTOL = 1e-12
ATOL = 1e-12
LOG2 = float(np.log(2.0))


def _run_e_step(log_gate, log_lik, sample_weight):
    """Call the kernel on C-contiguous float64 inputs, checking it leaves them untouched.

    The outputs are filled with NaN first, so an entry the kernel forgets to
    write shows up as NaN.
    """
    log_gate = np.ascontiguousarray(log_gate, dtype=np.float64)
    log_lik = np.ascontiguousarray(log_lik, dtype=np.float64)
    sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
    inputs = (log_gate, log_lik, sample_weight)
    copies = [a.copy() for a in inputs]
    resp = np.full(log_lik.shape, np.nan)
    row_log_lik = np.full(log_lik.shape[0], np.nan)
    total = e_step(log_gate, log_lik, sample_weight, resp, row_log_lik)
    for before, after in zip(copies, inputs):
        assert_array_equal(after, before)
    return resp, row_log_lik, total


def _serial_weighted_sum(sample_weight, values):
    """sum(w * v) over nonzero weights, in row order (the kernel's documented order)."""
    total = 0.0
    for w, v in zip(sample_weight.tolist(), values.tolist()):
        if w != 0.0:
            total += w * v
    return total


def _check_e_step(log_gate, log_lik, sample_weight):
    """Assert every promise of e_step on one input; return the kernel's outputs."""
    resp, row_log_lik, total = _run_e_step(log_gate, log_lik, sample_weight)
    with np.errstate(all="ignore"):
        ref_resp, ref_row, ref_total = e_step_reference(
            log_gate.copy(), log_lik.copy(), sample_weight.copy()
        )

    assert not np.any(np.isnan(resp))
    assert not np.any(np.isnan(row_log_lik))
    assert not math.isnan(total)
    assert np.all(resp >= 0.0)
    assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=1e-12)

    assert_allclose(resp, ref_resp, rtol=RTOL, atol=ATOL)
    assert_array_equal(np.isneginf(row_log_lik), np.isneginf(ref_row))
    assert_allclose(row_log_lik, ref_row, rtol=RTOL, atol=ATOL)

    # The total is the serial sum over rows of nonzero weight (bit for bit),
    # and it agrees with an exactly rounded sum up to the cancellation it allows.
    used = sample_weight != 0.0
    assert total == _serial_weighted_sum(sample_weight, row_log_lik)
    terms = sample_weight[used] * row_log_lik[used]
    if np.all(np.isfinite(terms)):
        scale = float(np.sum(np.abs(terms)))
        assert abs(total - math.fsum(terms.tolist())) <= 1e-12 * scale + 1e-300
        assert abs(total - ref_total) <= 1e-12 * scale + 1e-300
    else:
        assert total == ref_total == float(np.sum(terms))
    return resp, row_log_lik, total


def _log_normalised(scores):
    """Log-softmax of each row, computed in NumPy."""
    top = scores.max(axis=1, keepdims=True)
    return scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("n_experts", [1, 2, 8, 32])
@pytest.mark.parametrize("n_samples", [1, 7, 500])
def test_e_step_equals_reference_on_random_inputs(n_samples, n_experts):
    rng = np.random.default_rng(n_samples * 100 + n_experts)
    log_gate = _log_normalised(rng.normal(scale=3.0, size=(n_samples, n_experts)))
    log_lik = rng.normal(loc=-5.0, scale=20.0, size=(n_samples, n_experts))
    sample_weight = rng.uniform(0.0, 3.0, size=n_samples)
    resp, row_log_lik, _ = _check_e_step(log_gate, log_lik, sample_weight)
    assert np.all(np.isfinite(row_log_lik))
    if n_experts == 1:
        assert_array_equal(resp, 1.0)


@pytest.mark.parametrize(
    "log_lik_row",
    [
        [-1e300, -1e300, -1e300],
        [-1e300, -1e300 * (1 + 1e-15), -2e300],
        [-1e5, -1e5 - 0.5, -1e5 + 3.0],
        [700.0, 700.0, 699.0],
        [700.0, -1e300, -1e5],
        [1e300, 1e300, -1e300],
        [-1e300, -np.inf, 700.0],
    ],
    ids=["all-1e300", "near-1e300", "1e5", "plus700", "mixed", "plus1e300", "mixed-inf"],
)
def test_e_step_equals_reference_on_huge_magnitudes(log_lik_row):
    log_gate = np.log(np.array([[0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]]))
    log_lik = np.array([log_lik_row, log_lik_row], dtype=np.float64)
    resp, row_log_lik, _ = _check_e_step(log_gate, log_lik, np.array([1.0, 2.0]))
    assert np.all(np.isfinite(row_log_lik))


def test_e_step_equal_log_likelihoods_give_the_gate_probabilities():
    # Equal log-likelihoods carry no information, so the gate decides alone.
    log_gate = np.log(np.array([[0.25, 0.75], [0.5, 0.5], [0.1, 0.9]]))
    log_lik = np.array([[-1e3, -1e3], [700.0, 700.0], [0.0, 0.0]])
    resp, row_log_lik, _ = _check_e_step(log_gate, log_lik, np.ones(3))
    assert_allclose(resp, np.exp(log_gate), rtol=1e-12)
    assert_allclose(row_log_lik, log_lik[:, 0], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("n_experts", [1, 2, 8, 32])
def test_e_step_all_experts_minus_inf_falls_back_to_gate(n_experts):
    rng = np.random.default_rng(n_experts)
    n_samples = 20
    log_gate = _log_normalised(rng.normal(size=(n_samples, n_experts)))
    log_lik = rng.normal(size=(n_samples, n_experts))
    dead = np.arange(n_samples) % 3 == 0
    log_lik[dead] = -np.inf
    resp, row_log_lik, total = _check_e_step(log_gate, log_lik, np.ones(n_samples))
    assert_allclose(resp[dead], np.exp(log_gate[dead]), rtol=1e-13, atol=0)
    assert np.all(np.isneginf(row_log_lik[dead]))
    assert np.all(np.isfinite(row_log_lik[~dead]))
    assert total == -np.inf


def test_e_step_some_experts_minus_inf_get_zero_responsibility():
    rng = np.random.default_rng(0)
    log_gate = _log_normalised(rng.normal(size=(50, 8)))
    log_lik = rng.normal(scale=5.0, size=(50, 8))
    mask = rng.uniform(size=(50, 8)) < 0.5
    mask[:, 0] = False  # every row keeps at least one finite expert
    log_lik[mask] = -np.inf
    resp, row_log_lik, _ = _check_e_step(log_gate, log_lik, np.ones(50))
    assert_array_equal(resp[mask], 0.0)
    assert np.all(resp[~mask] > 0.0)
    assert np.all(np.isfinite(row_log_lik))


def test_e_step_zero_weight_on_minus_inf_rows_keeps_total_finite():
    rng = np.random.default_rng(1)
    log_gate = _log_normalised(rng.normal(size=(30, 4)))
    log_lik = rng.normal(size=(30, 4))
    log_lik[[2, 11, 29]] = -np.inf
    sample_weight = rng.uniform(0.5, 2.0, size=30)
    sample_weight[[2, 11, 29]] = 0.0
    resp, row_log_lik, total = _check_e_step(log_gate, log_lik, sample_weight)
    assert np.isfinite(total)
    assert np.all(np.isneginf(row_log_lik[[2, 11, 29]]))
    used = sample_weight != 0
    assert_allclose(total, np.sum(sample_weight[used] * row_log_lik[used]), rtol=1e-13)


def test_e_step_zero_weight_rows_do_not_count():
    rng = np.random.default_rng(2)
    log_gate = _log_normalised(rng.normal(size=(10, 3)))
    log_lik = rng.normal(size=(10, 3))
    weights = np.ones(10)
    weights[5:] = 0.0
    _, row_all, total_all = _check_e_step(log_gate, log_lik, np.ones(10))
    _, row_half, total_half = _check_e_step(log_gate, log_lik, weights)
    assert_array_equal(row_half, row_all)
    assert_allclose(total_half, np.sum(row_all[:5]), rtol=1e-14)
    assert total_half != total_all


def test_e_step_gate_with_minus_inf_entries():
    # An expert the gate rules out (log g = -inf) gets no responsibility even
    # when its own likelihood is the best of the row.
    log_gate = np.array(
        [[-np.inf, np.log(0.4), np.log(0.6)], [-np.inf, -np.inf, 0.0], [-LOG2, -LOG2, -np.inf]]
    )
    log_lik = np.array([[50.0, -1.0, -2.0], [700.0, -1e300, -3.0], [-np.inf, -1.0, 5.0]])
    resp, row_log_lik, _ = _check_e_step(log_gate, log_lik, np.ones(3))
    assert_array_equal(resp[[0, 1, 2], [0, 0, 2]], 0.0)
    assert_allclose(resp[1], [0.0, 0.0, 1.0], rtol=0, atol=0)
    assert_allclose(resp[2], [0.0, 1.0, 0.0], rtol=0, atol=0)
    assert_allclose(row_log_lik[1], -3.0, rtol=1e-15)


def test_e_step_gate_minus_inf_where_experts_are_alive_is_a_dead_row():
    # The only finite experts are the ones the gate rules out: the joint row is
    # all -inf, so the responsibilities fall back to the gate's probabilities.
    log_gate = np.array([[-np.inf, np.log(0.25), np.log(0.75)]])
    log_lik = np.array([[3.0, -np.inf, -np.inf]])
    resp, row_log_lik, _ = _check_e_step(log_gate, log_lik, np.ones(1))
    assert_allclose(resp, [[0.0, 0.25, 0.75]], rtol=1e-15, atol=0)
    assert row_log_lik[0] == -np.inf


def test_e_step_gate_all_minus_inf_and_dead_row_gives_uniform():
    log_gate = np.full((2, 4), -np.inf)
    log_lik = np.array([[-np.inf] * 4, [1.0, 2.0, 3.0, 4.0]])
    resp, row_log_lik, total = _check_e_step(log_gate, log_lik, np.array([0.0, 0.0]))
    assert_array_equal(resp, 0.25)
    assert np.all(np.isneginf(row_log_lik))
    assert total == 0.0


_E_STEP_VALUES = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    st.floats(-800.0, 800.0, allow_nan=False, allow_infinity=False),
    st.just(-np.inf),
    st.just(-1e300),
)


@st.composite
def _e_step_inputs(draw):
    n_samples = draw(st.integers(1, 12))
    n_experts = draw(st.sampled_from([1, 2, 3, 8, 32]))
    shape = (n_samples, n_experts)
    log_gate = draw(hnp.arrays(np.float64, shape, elements=_E_STEP_VALUES))
    log_lik = draw(hnp.arrays(np.float64, shape, elements=_E_STEP_VALUES))
    weights = draw(
        hnp.arrays(
            np.float64,
            n_samples,
            elements=st.one_of(st.just(0.0), st.floats(1e-3, 1e3)),
        )
    )
    return log_gate, log_lik, weights


@settings(max_examples=50, deadline=None)
@given(_e_step_inputs())
def test_e_step_property_equals_reference_and_never_nan(inputs):
    _check_e_step(*inputs)


def _run_gaussian(y, mean, variance):
    y, mean, variance = (np.ascontiguousarray(a, dtype=np.float64) for a in (y, mean, variance))
    copies = [a.copy() for a in (y, mean, variance)]
    out = np.full(mean.shape, np.nan)
    result = gaussian_log_likelihood(y, mean, variance, out)
    assert result is out
    for before, after in zip(copies, (y, mean, variance)):
        assert_array_equal(after, before)
    with np.errstate(all="ignore"):
        expected = gaussian_log_likelihood_reference(y.copy(), mean.copy(), variance.copy())
    assert not np.any(np.isnan(out))
    assert not np.any(np.isposinf(out))
    assert_array_equal(np.isneginf(out), np.isneginf(expected))
    assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    return out


@pytest.mark.parametrize("n_experts", [1, 2, 8, 32])
@pytest.mark.parametrize("n_samples", [1, 9, 400])
def test_gaussian_log_likelihood_equals_reference_on_random_inputs(n_samples, n_experts):
    rng = np.random.default_rng(10 * n_samples + n_experts)
    y = rng.normal(scale=5.0, size=n_samples)
    mean = rng.normal(scale=5.0, size=(n_samples, n_experts))
    variance = rng.uniform(0.01, 10.0, size=n_experts)
    out = _run_gaussian(y, mean, variance)
    # The density formula itself, independently of the reference.
    resid = y[:, None] - mean
    expected = -0.5 * np.log(2 * np.pi * variance) - resid**2 / (2 * variance)
    assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variance", [1e-300, 1e-310, 5e-324, 1e300])
def test_gaussian_log_likelihood_extreme_variance_and_residuals_never_nan(variance):
    y = np.array([0.0, 1e-160, 1e-150, 1.0, 1e150, 1e200, -1e300, 1e308])
    mean = np.zeros((y.shape[0], 2))
    mean[:, 1] = y  # residual exactly zero in the second column
    out = _run_gaussian(y, mean, np.array([variance, variance]))
    # Zero residual: the log normaliser, finite however small the variance.
    assert_allclose(out[:, 1], -0.5 * (np.log(2 * np.pi) + np.log(variance)), rtol=1e-14)
    # The residual y = 0 is exact as well.
    assert out[0, 0] == out[0, 1]


def test_gaussian_log_likelihood_huge_residual_is_minus_inf_not_nan():
    y = np.array([1e200, -1e200, 1e308, -1e308])
    mean = np.array([[-1e200, 0.0], [1e200, 0.0], [-1e308, 1e308], [1e308, -1e308]])
    out = _run_gaussian(y, mean, np.array([1e-300, 1.0]))
    assert np.all(np.isneginf(out[:, 0]))


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 10).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=st.floats(-1e200, 1e200)),
            st.integers(1, 8).flatmap(
                lambda k: st.tuples(
                    hnp.arrays(np.float64, (n, k), elements=st.floats(-1e200, 1e200)),
                    hnp.arrays(
                        np.float64,
                        k,
                        elements=st.floats(5e-324, 1e300, exclude_min=False),
                    ),
                )
            ),
        )
    )
)
def test_gaussian_log_likelihood_property_equals_reference(data):
    y, (mean, variance) = data
    _run_gaussian(y, mean, variance)


# ---------------------------------------------------------------------------
# categorical_log_likelihood
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_expert_classes, n_classes", [(2, 2), (3, 5), (5, 5)])
def test_categorical_log_likelihood_equals_reference(n_expert_classes, n_classes):
    rng = np.random.RandomState(n_classes)
    n = 400
    proba = rng.dirichlet(np.ones(n_expert_classes), size=n)
    proba[:7, 0] = 0.0  # zero probabilities must hit the floor, not -inf
    seen = np.sort(rng.choice(n_classes, size=n_expert_classes, replace=False))
    columns = np.full(n_classes, -1, dtype=np.int64)
    columns[seen] = np.arange(n_expert_classes)
    y = rng.randint(n_classes, size=n).astype(np.int64)
    out = np.full((n, 3), np.nan)
    proba_before = proba.copy()
    categorical_log_likelihood(proba, columns, y, 1e-10, out, 1)
    assert_array_equal(proba, proba_before)
    expected = categorical_log_likelihood_reference(proba, columns, y, 1e-10)
    assert_allclose(out[:, 1], expected, rtol=1e-12, atol=0)
    assert np.all(np.isnan(out[:, [0, 2]])), "only column k is written"
    assert np.all(np.isfinite(out[:, 1]))
    assert out[:, 1].min() >= np.log(1e-10)
    unseen = columns[y] < 0
    assert_allclose(out[unseen, 1], np.log(1e-10))


# ---------------------------------------------------------------------------
# the vectorised exp and log
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# blocks, two experts, threads
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_experts", [1, 2, 3, 8, 33])
def test_e_step_over_many_blocks_equals_reference(n_experts):
    # Several blocks of rows, the last one partial, dead rows in some of them.
    rng = np.random.default_rng(n_experts)
    n_samples = 9_001
    log_gate = _log_normalised(rng.normal(scale=3.0, size=(n_samples, n_experts)))
    log_lik = rng.normal(loc=-5.0, scale=20.0, size=(n_samples, n_experts))
    log_lik[::997] = -np.inf
    resp, row_log_lik, total = _check_e_step(log_gate, log_lik, rng.uniform(0, 2, n_samples))
    assert np.all(np.isneginf(row_log_lik[::997]))
    assert_allclose(resp[::997], np.exp(log_gate[::997]), rtol=1e-13)


@pytest.mark.parametrize(
    "log_lik_row",
    [
        [-1e300, -1e300],
        [-1e300, -2e300],
        [-1e5, -1e5 - 0.5],
        [700.0, 699.0],
        [700.0, -1e300],
        [1e300, -1e300],
        [-np.inf, 700.0],
        [700.0, -np.inf],
        [-np.inf, -np.inf],
        [3.0, 3.0],
    ],
)
def test_e_step_two_experts_equals_reference(log_lik_row):
    # Two experts take their own vectorised path: one exp and one log per row.
    with np.errstate(divide="ignore"):
        log_gate = np.log(np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]))
    log_lik = np.array([log_lik_row] * 4, dtype=np.float64)
    _check_e_step(log_gate, log_lik, np.array([1.0, 2.0, 0.5, 0.0]))


def _outputs_per_thread_count(n_experts, thread_counts):
    """The E-step and gate-loss kernels' outputs on one input, for each Numba thread count."""
    rng = np.random.default_rng(7)
    # Large enough for the kernels to run in parallel when threads are available.
    n_samples = 600_000
    assert n_samples * n_experts >= _MIN_PARALLEL_ENTRIES
    log_gate = _log_normalised(rng.normal(size=(n_samples, n_experts)))
    log_lik = rng.normal(scale=10.0, size=(n_samples, n_experts))
    sample_weight = rng.uniform(size=n_samples)
    X_t = rng.normal(size=(5, n_samples))
    targets_t = np.ascontiguousarray(_log_normalised(log_lik).T)
    np.exp(targets_t, out=targets_t)
    params = rng.normal(size=(n_experts, 6))
    outputs = {}
    for n_threads in thread_counts:
        numba.set_num_threads(n_threads)
        assert numba.get_num_threads() == n_threads
        resp, row_log_lik, total = _run_e_step(log_gate, log_lik, sample_weight)
        grad = np.empty((n_experts, 6))
        loss = soft_cross_entropy(params, X_t, targets_t, sample_weight, True, grad)
        outputs[n_threads] = (resp, row_log_lik, total, loss, grad)
    return outputs


def test_kernels_give_the_same_bits_whatever_the_number_of_threads(tmp_path):
    # Numba's thread pool is sized when it is imported, so the kernels run in a fresh
    # process that has three threads whatever the machine: one, two (an even split of
    # the rows) and three (an uneven one) are compared, even where this process has one.
    thread_counts = (1, 2, 3)
    tests = Path(__file__).resolve().parent
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(tests.parent)!r}, {str(tests)!r}]
        import numpy as np
        from test_kernels import _outputs_per_thread_count
        arrays = {{}}
        for n_experts in (2, 3, 8):
            outputs = _outputs_per_thread_count(n_experts, {thread_counts!r})
            for n_threads, values in outputs.items():
                for i, value in enumerate(values):
                    arrays[f"{{n_experts}}_{{n_threads}}_{{i}}"] = value
        np.savez({str(tmp_path / "outputs.npz")!r}, **arrays)
    """)
    env = {**os.environ, "NUMBA_NUM_THREADS": str(max(thread_counts))}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    with np.load(tmp_path / "outputs.npz") as arrays:
        assert len(arrays.files) == 3 * len(thread_counts) * 5
        for n_experts in (2, 3, 8):
            for n_threads in thread_counts[1:]:
                for i in range(5):
                    assert_array_equal(arrays[f"{n_experts}_{n_threads}_{i}"],
                                       arrays[f"{n_experts}_1_{i}"])


@pytest.mark.parametrize("n_experts", [1, 2, 8])
def test_gaussian_log_likelihood_over_many_blocks_equals_reference(n_experts):
    rng = np.random.default_rng(n_experts)
    n_samples = 10_001
    _run_gaussian(rng.normal(size=n_samples), rng.normal(size=(n_samples, n_experts)),
                  rng.uniform(0.1, 3.0, size=n_experts))


def test_categorical_log_likelihood_over_many_blocks_equals_reference():
    rng = np.random.RandomState(0)
    n = 10_001
    proba = rng.dirichlet(np.ones(3), size=n)
    proba[::11, 1] = 0.0
    columns = np.array([0, -1, 1, 2], dtype=np.int64)
    y = rng.randint(4, size=n).astype(np.int64)
    out = np.full((n, 2), np.nan)
    categorical_log_likelihood(proba, columns, y, 1e-10, out, 0)
    expected = categorical_log_likelihood_reference(proba, columns, y, 1e-10)
    assert_allclose(out[:, 0], expected, rtol=1e-12, atol=0)
    assert np.all(np.isnan(out[:, 1]))


# ---------------------------------------------------------------------------
# log_softmax and the gate's soft cross-entropy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [1, 2, 3, 8, 40])
@pytest.mark.parametrize("n_samples", [1, 9, 5_000])
def test_log_softmax_equals_scipy(n_samples, n_classes):
    rng = np.random.default_rng(n_samples + n_classes)
    scores = rng.normal(scale=30.0, size=(n_samples, n_classes))
    scores[::4, 0] = -np.inf
    if n_classes > 1:
        scores[1::4, 1] = 1e300
    scores[:, -1] = np.where(np.arange(n_samples) % 4 == 0, 0.0, scores[:, -1])
    before = scores.copy()
    out = np.full_like(scores, np.nan)
    assert log_softmax(scores, out) is out
    assert_array_equal(scores, before)
    expected = scipy_log_softmax(scores, axis=1)
    assert_array_equal(np.isneginf(out), np.isneginf(expected))
    assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    # In place, as the gate calls it.
    assert_array_equal(log_softmax(scores, scores), out)


def _soft_cross_entropy_by_hand(params, X, targets, sample_weight, fit_intercept):
    """The kernel's documented loss and gradient, in NumPy."""
    n_classes = targets.shape[1]
    params = params.reshape(n_classes, X.shape[1] + 1)
    scores = X @ params[:, :-1].T + (params[:, -1] if fit_intercept else 0.0)
    log_prob = scipy_log_softmax(scores, axis=1)
    loss = -np.sum(sample_weight[:, None] * targets * log_prob)
    residual = sample_weight[:, None] * (np.exp(log_prob) - targets)
    grad = np.column_stack([residual.T @ X, residual.sum(axis=0)])
    return loss, grad


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(
    ("n_samples", "n_features", "n_classes"),
    [(1, 1, 2), (7, 3, 2), (600, 4, 3), (1_500, 5, 8), (3_000, 20, 8), (513, 9, 33)],
)
def test_soft_cross_entropy_equals_reference(n_samples, n_features, n_classes, fit_intercept):
    rng = np.random.default_rng(n_samples + n_features + n_classes)
    X = rng.normal(size=(n_samples, n_features))
    targets = rng.dirichlet(np.ones(n_classes), size=n_samples)
    targets[::3] = np.eye(n_classes)[rng.integers(n_classes, size=targets[::3].shape[0])]
    sample_weight = rng.uniform(0.0, 3.0, size=n_samples)
    sample_weight[::5] = 0.0
    params = rng.normal(scale=2.0, size=(n_classes, n_features + 1))
    X_t, targets_t = np.ascontiguousarray(X.T), np.ascontiguousarray(targets.T)
    inputs = (params, X_t, targets_t, sample_weight)
    copies = [a.copy() for a in inputs]
    grad = np.full_like(params, np.nan)
    loss = soft_cross_entropy(*inputs, fit_intercept, grad)
    for before, after in zip(copies, inputs):
        assert_array_equal(after, before)
    expected_loss, expected_grad = _soft_cross_entropy_by_hand(
        params, X, targets, sample_weight, fit_intercept
    )
    assert_allclose(loss, expected_loss, rtol=1e-12)
    scale = np.max(np.abs(expected_grad))
    assert_allclose(grad, expected_grad, rtol=1e-11, atol=1e-12 * scale)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(
    ("n_samples", "n_features", "n_classes"),
    [(1, 1, 2), (7, 3, 2), (600, 4, 3), (1_500, 5, 8), (3_000, 20, 2), (513, 9, 4)],
)
def test_soft_cross_entropy_hessian_equals_reference(n_samples, n_features, n_classes,
                                                     fit_intercept):
    rng = np.random.default_rng(n_samples * n_features + n_classes)
    X = rng.normal(size=(n_samples, n_features))
    sample_weight = rng.uniform(0.0, 3.0, size=n_samples)
    sample_weight[::5] = 0.0
    params = rng.normal(scale=2.0, size=(n_classes, n_features + 1))
    X_t = np.ascontiguousarray(X.T)
    copies = [params.copy(), X_t.copy(), sample_weight.copy()]
    size = n_classes * (n_features + 1)
    hess = np.full((size, size), np.nan)
    soft_cross_entropy_hessian(params, X_t, sample_weight, fit_intercept, hess)
    for before, after in zip(copies, (params, X_t, sample_weight)):
        assert_array_equal(after, before)
    expected = soft_cross_entropy_hessian_reference(params, X, sample_weight, fit_intercept)
    assert_allclose(hess, expected, rtol=1e-11, atol=1e-12 * np.max(np.abs(expected)))
    assert_array_equal(hess, hess.T)
    intercepts = np.arange(size) % (n_features + 1) == n_features
    if not fit_intercept:
        assert_array_equal(hess[intercepts], 0.0)


def test_soft_cross_entropy_hessian_is_the_derivative_of_the_gradient():
    # The reference against the kernel's own gradient, by central differences.
    rng = np.random.default_rng(12)
    n_samples, n_features, n_classes = 300, 3, 4
    X = rng.normal(size=(n_samples, n_features))
    X_t = np.ascontiguousarray(X.T)
    targets_t = np.ascontiguousarray(rng.dirichlet(np.ones(n_classes), size=n_samples).T)
    sample_weight = rng.uniform(0.5, 2.0, size=n_samples)
    params = rng.normal(size=(n_classes, n_features + 1))
    step = 1e-6
    numeric = np.empty((params.size, params.size))
    for j in range(params.size):
        grads = []
        for sign in (1.0, -1.0):
            moved = params.copy().ravel()
            moved[j] += sign * step
            grad = np.empty_like(params)
            soft_cross_entropy(moved.reshape(params.shape), X_t, targets_t, sample_weight,
                               True, grad)
            grads.append(grad.ravel())
        numeric[:, j] = (grads[0] - grads[1]) / (2 * step)
    expected = soft_cross_entropy_hessian_reference(params, X, sample_weight, True)
    assert_allclose(expected, numeric, rtol=1e-6, atol=1e-6 * np.max(np.abs(expected)))


def test_soft_cross_entropy_ignores_targets_of_zero_weight_rows():
    rng = np.random.default_rng(8)
    X_t = rng.normal(size=(3, 50))
    targets_t = rng.dirichlet(np.ones(4), size=50).T.copy()
    sample_weight = np.ones(50)
    sample_weight[::2] = 0.0
    params = rng.normal(size=(4, 4))
    garbage = targets_t.copy()
    garbage[:, ::2] = 1e6
    grad_a, grad_b = np.empty((4, 4)), np.empty((4, 4))
    loss_a = soft_cross_entropy(params, X_t, targets_t, sample_weight, True, grad_a)
    loss_b = soft_cross_entropy(params, X_t, garbage, sample_weight, True, grad_b)
    assert loss_a == loss_b
    assert_array_equal(grad_a, grad_b)


# ----------------------------------------------------- predictive quantiles
QUANTILE_TOL = 1e-10


def _mixture_inputs(n_samples, n_experts, seed):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_experts, 0.7), size=n_samples)
    means = rng.normal(0.0, 3.0, size=(n_samples, n_experts))
    if n_experts > 1:
        # Rows where an expert has weight 0 (top_k): it must not bracket.
        weights[:20, 0] = 0.0
        weights[:20] /= weights[:20].sum(axis=1, keepdims=True)
        means[:20, 0] = 1e6
    scales = rng.uniform(0.05, 2.0, size=n_experts)
    return weights, means, scales


def _solve(family, weights, means, scales, levels, lower=None, shapes=None):
    levels = np.asarray(levels, dtype=np.float64)
    n_samples = weights.shape[0]
    lower = np.full(n_samples, -np.inf) if lower is None else lower
    shapes = np.ones(weights.shape[1]) if shapes is None else shapes
    inputs = (weights, means, scales, shapes, levels, lower)
    copies = [a.copy() for a in inputs]
    out = np.full((n_samples, levels.shape[0]), np.nan)
    mixture_quantiles(family, weights, means, scales, shapes, levels,
                      expert_standard_quantiles(family, levels, shapes), lower, QUANTILE_TOL,
                      200, out)
    for before, after in zip(copies, inputs):
        assert_array_equal(after, before)
    return out


@pytest.mark.parametrize("family", [GAUSSIAN, LAPLACE])
@pytest.mark.parametrize("n_samples, n_experts", [(300, 1), (500, 3), (40_000, 5)])
def test_mixture_quantiles_equal_reference_to_1e10_in_probability(family, n_samples,
                                                                   n_experts):
    weights, means, scales = _mixture_inputs(n_samples, n_experts, 0)
    levels = np.array([1e-6, 0.05, 0.3, 0.5, 0.9, 1 - 1e-6])
    # The small cases run serially, the largest in parallel.
    parallel = n_samples * n_experts * len(levels) >= _MIN_PARALLEL_QUANTILE_ENTRIES
    assert parallel == (n_samples == 40_000)
    result = _solve(family, weights, means, scales, levels)
    expected = mixture_quantiles_reference(family, weights, means, scales, None, levels)
    for j, level in enumerate(levels):
        assert_allclose(mixture_cdf_reference(family, weights, means, scales, None, result[:, j]),
                        level, rtol=0, atol=QUANTILE_TOL)
        assert_allclose(mixture_cdf_reference(family, weights, means, scales, None, expected[:, j]),
                        level, rtol=0, atol=1e-14)
    # In y: the gap in probability over the density, where the density is not tiny.
    body = slice(1, -1)
    assert_allclose(result[:, body], expected[:, body], rtol=0, atol=1e-7)
    assert np.all(np.diff(result, axis=1) >= 0)


@pytest.mark.parametrize("family, reference", [(GAUSSIAN, stats.norm), (LAPLACE, stats.laplace)])
def test_mixture_quantiles_of_one_expert_are_its_own(family, reference):
    weights, means, scales = _mixture_inputs(200, 1, 1)
    levels = np.array([0.01, 0.5, 0.975])
    result = _solve(family, weights, means, scales, levels)
    expected = reference.ppf(levels[None, :], loc=means, scale=scales[0])
    assert_allclose(result, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("family", [GAUSSIAN, LAPLACE])
def test_mixture_quantiles_respect_the_lower_bound(family):
    # The lower bound is the previous level's solution in the regressor: a level
    # solved from it equals the level solved alone.
    weights, means, scales = _mixture_inputs(400, 3, 2)
    alone = _solve(family, weights, means, scales, [0.7])
    below = _solve(family, weights, means, scales, [0.4])[:, 0]
    bounded = _solve(family, weights, means, scales, [0.7], lower=below)
    assert_allclose(mixture_cdf_reference(family, weights, means, scales, None, bounded[:, 0]), 0.7,
                    rtol=0, atol=QUANTILE_TOL)
    assert_allclose(bounded, alone, rtol=0, atol=1e-8)


def test_mixture_quantiles_of_bimodal_rows_equal_brentq():
    # Two far modes: the CDF is flat between them, where Newton steps overshoot
    # and bisection must take over.
    weights = np.array([[0.5, 0.5], [0.3, 0.7], [0.999, 0.001]])
    means = np.array([[-50.0, 50.0], [0.0, 1e4], [1.0, -1.0]])
    scales = np.array([0.01, 1.0])
    levels = np.array([0.2, 0.5, 0.5000001, 0.9])
    result = _solve(GAUSSIAN, weights, means, scales, levels)
    for i in range(weights.shape[0]):
        for j, level in enumerate(levels):
            def gap(y, i=i, level=level):
                return float((weights[i] * stats.norm.cdf(y, means[i], scales)).sum() - level)
            root = brentq(gap, -1e5, 1e5, xtol=1e-14, rtol=1e-15)
            assert abs(gap(result[i, j])) <= QUANTILE_TOL
            assert abs(result[i, j] - root) <= 1e-6 * max(1.0, abs(root))


def _family_inputs(family, n_samples, n_experts, seed):
    """Weights, means, scales and shapes of a mixture of Student t, Gamma or Poisson
    experts, with shapes (degrees of freedom, Gamma shapes) over a wide range."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_experts, 0.7), size=n_samples)
    weights[rng.random(weights.shape) < 0.1] = 0.0
    weights[weights.sum(axis=1) == 0, 0] = 1.0
    weights /= weights.sum(axis=1, keepdims=True)
    scales = rng.uniform(0.05, 2.0, size=n_experts)
    if family == STUDENT_T:
        means = rng.normal(0.0, 3.0, size=(n_samples, n_experts))
        shapes = np.geomspace(1.0, 200.0, n_experts)
    elif family == GAMMA:
        means = np.exp(rng.normal(0.0, 2.0, size=(n_samples, n_experts)))
        shapes = np.geomspace(0.05, 1e4, n_experts)
    else:
        means = np.exp(rng.normal(1.0, 2.5, size=(n_samples, n_experts)))
        shapes = np.ones(n_experts)
    return weights, means, scales, shapes


@pytest.mark.parametrize("family", [STUDENT_T, GAMMA])
@pytest.mark.parametrize("n_samples, n_experts", [(300, 1), (500, 3), (12_000, 4)])
def test_mixture_quantiles_of_t_and_gamma_equal_reference_in_probability(family, n_samples,
                                                                         n_experts):
    weights, means, scales, shapes = _family_inputs(family, n_samples, n_experts, 3)
    levels = np.array([1e-6, 0.05, 0.5, 0.9, 1 - 1e-6])
    result = _solve(family, weights, means, scales, levels, shapes=shapes)
    expected = mixture_quantiles_reference(family, weights, means, scales, shapes, levels)
    for j, level in enumerate(levels):
        assert_allclose(mixture_cdf_reference(family, weights, means, scales, shapes,
                                              result[:, j]), level, rtol=0, atol=QUANTILE_TOL)
        assert_allclose(mixture_cdf_reference(family, weights, means, scales, shapes,
                                              expected[:, j]), level, rtol=0, atol=1e-12)
    assert np.all(np.diff(result, axis=1) >= 0)


@pytest.mark.parametrize("n_samples, n_experts", [(300, 1), (500, 3), (12_000, 4)])
def test_poisson_mixture_quantiles_are_the_exact_integer_quantiles(n_samples, n_experts):
    weights, means, scales, shapes = _family_inputs(POISSON, n_samples, n_experts, 4)
    levels = np.array([1e-6, 0.05, 0.5, 0.9, 1 - 1e-6])
    result = _solve(POISSON, weights, means, scales, levels, shapes=shapes)
    expected = mixture_quantiles_reference(POISSON, weights, means, scales, shapes, levels)
    assert_array_equal(result, expected)
    for j, level in enumerate(levels):
        assert np.all(mixture_cdf_reference(POISSON, weights, means, scales, shapes,
                                            result[:, j]) >= level)
        assert np.all(mixture_cdf_reference(POISSON, weights, means, scales, shapes,
                                            result[:, j] - 1) < level)
    assert np.all(np.diff(result, axis=1) >= 0)


@pytest.mark.parametrize("family, reference", [
    (STUDENT_T, lambda q, mean, scale, shape: stats.t.ppf(q, shape, mean, scale)),
    (GAMMA, lambda q, mean, scale, shape: stats.gamma.ppf(q, shape, scale=mean / shape)),
    (POISSON, lambda q, mean, scale, shape: stats.poisson.ppf(q, mean)),
])
def test_mixture_quantiles_of_one_t_gamma_or_poisson_expert_are_its_own(family, reference):
    weights, means, scales, shapes = _family_inputs(family, 200, 1, 5)
    shapes = np.array([3.5])
    levels = np.array([0.01, 0.5, 0.975])
    result = _solve(family, weights, means, scales, levels, shapes=shapes)
    expected = reference(levels[None, :], means, scales[0], shapes[0])
    if family == POISSON:
        assert_array_equal(result, expected)
    else:
        assert_allclose(result, expected, rtol=1e-9)


@pytest.mark.parametrize("family", [STUDENT_T, GAMMA, POISSON])
def test_t_gamma_and_poisson_quantiles_respect_the_lower_bound(family):
    weights, means, scales, shapes = _family_inputs(family, 400, 3, 6)
    alone = _solve(family, weights, means, scales, [0.7], shapes=shapes)
    below = _solve(family, weights, means, scales, [0.4], shapes=shapes)[:, 0]
    bounded = _solve(family, weights, means, scales, [0.7], lower=below, shapes=shapes)
    if family == POISSON:
        assert_array_equal(bounded, alone)
    else:
        assert_allclose(mixture_cdf_reference(family, weights, means, scales, shapes,
                                              bounded[:, 0]), 0.7, rtol=0, atol=QUANTILE_TOL)


@pytest.mark.parametrize("family", [GAUSSIAN, STUDENT_T, GAMMA])
@pytest.mark.parametrize("shift", [-0.3, 0.3])
def test_mixture_quantiles_step_out_of_a_bracket_that_misses_the_root(family, shift):
    # The experts' quantiles come from scipy: were one off by more than the
    # tolerance, the root would lie outside the bracket. The kernel must notice
    # (the CDF never changes sign there) and step out, not stop at its end.
    weights, means, scales, shapes = _family_inputs(family, 300, 2, 7)
    if family == GAUSSIAN:
        means = means * 0.0 + np.random.default_rng(7).normal(0.0, 3.0, means.shape)
    weights[:100] = [1.0, 0.0]
    levels = np.array([0.05, 0.5, 0.95])
    wrong = expert_standard_quantiles(family, levels, shapes)
    wrong = wrong * (1 + shift) if family == GAMMA else wrong + shift
    out = mixture_quantiles(family, weights, means, scales, shapes, levels, wrong,
                            np.full(300, -np.inf), QUANTILE_TOL, 200, np.empty((300, 3)))
    for j, level in enumerate(levels):
        assert_allclose(mixture_cdf_reference(family, weights, means, scales, shapes,
                                              out[:, j]), level, rtol=0, atol=QUANTILE_TOL)


@pytest.mark.parametrize("n_experts", [2, 3, 5])
def test_e_step_keeps_the_digits_of_a_row_log_likelihood_near_zero(n_experts):
    # The best joint score 0 and the others 11 below: the row's log-likelihood is
    # log(1 + r) with r = (K - 1) exp(-11), about 1.7e-5 per other expert. Taken as
    # log of the rounded 1 + r, it lost five digits (relative error 5e-12).
    log_gate = np.zeros((4, n_experts))
    log_lik = np.full((4, n_experts), -11.0)
    log_lik[:, 0] = 0.0
    log_lik[1, 0] = -1e-3
    log_lik[2] = np.linspace(0.0, -30.0, n_experts)
    log_lik[3, :2] = 0.0  # a tie at the maximum
    _, row_log_lik, total = _run_e_step(log_gate, log_lik, np.ones(4))
    expected = [math.log1p(math.fsum(math.exp(v - row.max()) for v in row[1:])) + row.max()
                for row in log_gate + log_lik]
    assert_allclose(row_log_lik, expected, rtol=4e-16, atol=0)
    assert total == pytest.approx(math.fsum(expected), rel=1e-15)


@pytest.mark.parametrize("mean", [1e9, 1e12, 1e17, 1e20, 1e30])
def test_poisson_quantiles_of_huge_means_end_and_are_the_quantiles(mean):
    # Beyond a mean of about 1e8 the Poisson CDF stopped short of converging (the
    # 0.95 quantile of a mean of 1e12 came out as the median); beyond 2**53 the
    # integer bisection, and beyond 2**63 Numba's int64 floor, never ended.
    from skmoe._special import poisson_cdf

    weights, means = np.ones((2, 1)), np.array([[mean], [2.0 * mean]])
    levels = np.array([1e-6, 0.05, 0.5, 0.95])
    result = _solve(POISSON, weights, means, np.ones(1), levels)
    z = stats.norm.ppf(levels)
    for i in range(2):
        mu = means[i, 0]
        # The normal approximation, to its skew's term (z^2 - 1) / (6 sqrt(mu)) sds.
        assert_allclose((result[i] - mu) / np.sqrt(mu), z, rtol=0,
                        atol=5 / np.sqrt(mu) + 2 * np.spacing(mu) / np.sqrt(mu))
        for j, level in enumerate(levels):
            assert poisson_cdf(result[i, j], mu) >= level
            if mean < 2**53:
                assert poisson_cdf(result[i, j] - 1, mu) < level
