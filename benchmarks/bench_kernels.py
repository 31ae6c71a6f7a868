"""Benchmark of skmoe's kernels against their NumPy twins (issue 6).

Not a test: it measures, prints tables and records the figures. Every figure is
reported beside a baseline measured in the same run, because the project
machines are shared and noisy:

* ``exp`` and ``log``: skmoe's vectorised ones (``vector_exp``, ``vector_log``)
  against ``numpy.exp`` and ``numpy.log``, and a memory stream
  ``numpy.add(a, b, out=c)`` over as many float64 values;
* the E-step (``e_step``) against its twin ``e_step_reference`` and the memory
  stream over n*K values (goals: twin / kernel >= 5x, kernel / stream <= 3x);
* the Gaussian and categorical likelihoods and the row-wise log-softmax of the
  gate against their twins;
* the gate's loss and gradient (``_soft_cross_entropy_fused``, the Numba kernel
  ``soft_cross_entropy`` with its penalty and scaling) against the NumPy twin
  ``_soft_cross_entropy``, and a warm-started L-BFGS solve of the gate with
  each, to tolerance and as a generalised-EM step;
* the weighted Gram matrices of the linear experts' M-step
  (``skmoe._linear.weighted_grams``) against the same products in NumPy, and
  against the K weighted ``LinearRegression`` fits they replace;
* the two kernels of small fits: the gate's Hessian (``soft_cross_entropy_hessian``,
  for Newton's method on gates of few parameters) and the experts' solves from
  their Gram matrices (``solve_grams``), against their NumPy twins.

One whole EM iteration is measured in ``bench_fit.py``.

Kernel columns are given with Numba's default number of threads and with one
thread; the NumPy twins and the stream run on one thread (BLAS limited to one
thread, as inside the EM loop).

Usage::

    python benchmarks/bench_kernels.py            # full run, writes results/bench_kernels.md
    python benchmarks/bench_kernels.py --quick    # small and fast, prints only

Timings are the best (minimum) of several repeats taken with
``time.perf_counter``, after one warm-up call (Numba compilation or cache
load), with the timed candidates interleaved within each repeat.
"""

import copy
import datetime
import sys
import time
from pathlib import Path

import numba
import numpy as np
import threadpoolctl
from bench_estep import (
    _best_interleaved,
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
    make_e_step_inputs,
)
from numba import njit
from numpy.testing import assert_allclose
from scipy.optimize import minimize
from scipy.special import log_softmax as scipy_log_softmax
from sklearn.linear_model import LinearRegression

from skmoe import SoftmaxGate
from skmoe._base import EM_STEP_BUDGET
from skmoe._fastmath import _exp, _log
from skmoe._gate import _soft_cross_entropy, _soft_cross_entropy_fused
from skmoe._kernels import (
    _SERIAL,
    categorical_log_likelihood,
    categorical_log_likelihood_reference,
    e_step,
    e_step_reference,
    gaussian_log_likelihood,
    gaussian_log_likelihood_reference,
    log_softmax,
    soft_cross_entropy_hessian,
    soft_cross_entropy_hessian_reference,
)
from skmoe._linear import solve_grams, solve_grams_reference, weighted_grams
from skmoe.datasets import make_switching_regression

RESULTS = Path(__file__).resolve().parent / "results" / "bench_kernels.md"
GOAL_REFERENCE = 5.0
GOAL_STREAM = 3.0


class _one_numba_thread:
    """Numba limited to one thread inside the block."""

    def __enter__(self):
        self.previous = numba.get_num_threads()
        numba.set_num_threads(1)

    def __exit__(self, *exc):
        numba.set_num_threads(self.previous)


def _kernel_row(name, kernel, reference, stream, repeats, check=None):
    """Time a kernel (default threads, then one thread) against its twin and a stream.

    Numba's thread count is not switched between calls (with the OpenMP layer
    a switch costs far more than these kernels): the candidates are
    interleaved with the default threads, then again with one thread; the
    twin and the stream take the best of both passes.
    """
    kernel()
    reference()
    stream()
    if check is not None:
        check()
    best = _best_interleaved({"kernel": kernel, "reference": reference, "stream": stream},
                             repeats)
    with _one_numba_thread():
        kernel()
        single = _best_interleaved(
            {"kernel_1": kernel, "reference": reference, "stream": stream}, repeats
        )
    best["kernel_1"] = single["kernel_1"]
    best["reference"] = min(best["reference"], single["reference"])
    best["stream"] = min(best["stream"], single["stream"])
    return {
        "name": name,
        **{f"{key}_s": value for key, value in best.items()},
        "x_reference": best["reference"] / best["kernel"],
        "x_reference_1": best["reference"] / best["kernel_1"],
        "x_stream": best["kernel"] / best["stream"],
        "x_stream_1": best["kernel_1"] / best["stream"],
    }


def _stream(size):
    a, b, c = np.full(size, 1.0), np.full(size, 2.0), np.empty(size)
    return lambda: np.add(a, b, out=c)


# ------------------------------------------------------------------- kernels
# skmoe's exp and log in loops compiled with the kernels' flags, as the kernels use them.
@njit(**_SERIAL)
def vector_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])
    return out


@njit(**_SERIAL)
def vector_log(x, out):
    for i in range(x.shape[0]):
        out[i] = _log(x[i])
    return out


def bench_exp_log(n, repeats, rng):
    x = rng.uniform(-30.0, 0.0, size=n)
    out = np.empty(n)
    positive = rng.uniform(1.0, 32.0, size=n)
    rows = [
        _kernel_row(f"exp, n = {n:,}", lambda: vector_exp(x, out),
                    lambda: np.exp(x, out=out), _stream(n), repeats),
        _kernel_row(f"log, n = {n:,}", lambda: vector_log(positive, out),
                    lambda: np.log(positive, out=out), _stream(n), repeats),
    ]
    return rows


def bench_e_steps(n, experts, repeats, rng):
    return [_e_step_row(n, n_experts, repeats, rng) for n_experts in experts]


def _e_step_row(n, n_experts, repeats, rng):
    log_gate, log_lik, sample_weight = make_e_step_inputs(n, n_experts, rng)
    resp = np.empty_like(log_lik)
    row_log_lik = np.empty(n)

    def check():
        ref_resp, ref_row, _ = e_step_reference(log_gate, log_lik, sample_weight)
        assert_allclose(resp, ref_resp, rtol=1e-10, atol=1e-12)
        assert_allclose(row_log_lik, ref_row, rtol=1e-10)

    return _kernel_row(
        f"E-step, n = {n:,}, K = {n_experts}",
        lambda: e_step(log_gate, log_lik, sample_weight, resp, row_log_lik),
        lambda: e_step_reference(log_gate, log_lik, sample_weight),
        _stream(n * n_experts), repeats, check,
    )


def bench_likelihoods(n, experts, repeats, rng):
    rows = [_gaussian_row(n, n_experts, repeats, rng) for n_experts in experts]
    rows += [_categorical_row(n, n_classes, repeats, rng) for n_classes in (2, 10)]
    return rows


def _gaussian_row(n, n_experts, repeats, rng):
    y = rng.normal(size=n)
    mean = rng.normal(size=(n, n_experts))
    variance = rng.uniform(0.1, 2.0, size=n_experts)
    out = np.empty_like(mean)
    return _kernel_row(
        f"Gaussian log-likelihood, n = {n:,}, K = {n_experts}",
        lambda: gaussian_log_likelihood(y, mean, variance, out),
        lambda: gaussian_log_likelihood_reference(y, mean, variance),
        _stream(n * n_experts), repeats,
    )


def _categorical_row(n, n_classes, repeats, rng):
    proba = rng.dirichlet(np.ones(n_classes), size=n)
    columns = np.arange(n_classes, dtype=np.int64)
    y = rng.integers(n_classes, size=n).astype(np.int64)
    out = np.empty((n, 1))
    return _kernel_row(
        f"categorical log-likelihood, n = {n:,}, {n_classes} classes (one expert)",
        lambda: categorical_log_likelihood(proba, columns, y, 1e-10, out, 0),
        lambda: categorical_log_likelihood_reference(proba, columns, y, 1e-10),
        _stream(n), repeats,
    )


def _gate_problem(n, d, k, seed=0):
    """Gate inputs and EM-like soft targets with known truth.

    Targets are the true posterior responsibilities of the generating
    switching regression; the warm start is a gate fitted to the true gate
    probabilities (the prior), so a solve moves it as an EM iteration does.
    """
    X, y, truth = make_switching_regression(n, d, k, random_state=seed, return_params=True)
    log_lik = gaussian_log_likelihood_reference(
        y, X @ truth.coef.T + truth.intercept, truth.noise**2
    )
    resp, _, _ = e_step_reference(np.log(truth.gate_proba), log_lik, np.ones(n))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, y, np.ascontiguousarray(resp), truth.gate_proba


def bench_gate(n, d, k, repeats):
    X, _, resp, prior = _gate_problem(n, d, k)
    sample_weight = np.ones(n)
    total = float(n)
    alpha = 1.0
    params = np.random.default_rng(1).normal(scale=0.3, size=k * (d + 1))
    X_t, resp_t = np.ascontiguousarray(X.T), np.ascontiguousarray(resp.T)
    args = (sample_weight, total, alpha, True)
    fused = lambda: _soft_cross_entropy_fused(params, X_t, resp_t, *args)  # noqa: E731
    reference = lambda: _soft_cross_entropy(params, X, resp, *args)  # noqa: E731

    def check():
        loss, grad = fused()
        ref_loss, ref_grad = reference()
        assert_allclose(loss, ref_loss, rtol=1e-10)
        assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-10 * np.abs(ref_grad).max())

    scores = X @ params.reshape(k, d + 1)[:, :-1].T
    lsm_out = np.empty_like(scores)
    rows = [
        _kernel_row(f"gate loss + gradient, n = {n:,}, d = {d}, K = {k}", fused, reference,
                    _stream(n * k), repeats, check),
        _kernel_row(f"gate log-softmax (predict_log_proba), n = {n:,}, K = {k}",
                    lambda: log_softmax(scores, lsm_out),
                    lambda: scipy_log_softmax(scores, axis=1), _stream(n * k), repeats),
    ]
    return rows, (X, resp, prior)


def bench_gate_solves(problem, repeats):
    """Warm-started L-BFGS solves of the gate: NumPy twin, fused, and a GEM step."""
    X, resp, prior = problem
    n = X.shape[0]
    sample_weight = np.ones(n)
    start = SoftmaxGate(warm_start=True).fit(X, prior)

    def solve(em_step, numpy_twin=False):
        gate = copy.deepcopy(start)
        if numpy_twin:
            # The gate M-step as it was before the fused kernel: the same L-BFGS
            # call on the NumPy twin.
            x0 = np.column_stack([gate.coef_, gate.intercept_]).ravel()
            result = minimize(
                _soft_cross_entropy, x0, method="L-BFGS-B", jac=True,
                args=(X, resp, sample_weight, float(n), 1.0 / gate.C, True),
                options={"maxiter": gate.max_iter, "gtol": gate.tol,
                         "ftol": 64 * np.finfo(float).eps},
            )
            params = result.x.reshape(gate.coef_.shape[0], -1)
            gate.coef_, gate.intercept_ = params[:, :-1], params[:, -1] - params[:, -1].mean()
            gate.n_iter_ = int(result.nit)
        else:
            gate._fit_soft(X, resp, sample_weight, EM_STEP_BUDGET if em_step else None)
        solved.append((em_step, numpy_twin, gate.n_iter_, _objective(gate, X, resp)))

    solved = []
    candidates = {
        "numpy_full": lambda: solve(False, numpy_twin=True),
        "fused_full": lambda: solve(False),
        "fused_em_step": lambda: solve(True),
    }
    for func in candidates.values():
        func()
    best = _best_interleaved(candidates, repeats)
    n_iter = {(e, t): it for e, t, it, _ in solved}
    objective = {(e, t): obj for e, t, _, obj in solved}
    start_objective = _objective(start, X, resp)
    return {
        "seconds": best,
        "n_iter": {
            "numpy_full": n_iter[(False, True)],
            "fused_full": n_iter[(False, False)],
            "fused_em_step": n_iter[(True, False)],
        },
        "objective": {
            "start": start_objective,
            "numpy_full": objective[(False, True)],
            "fused_full": objective[(False, False)],
            "fused_em_step": objective[(True, False)],
        },
    }


def _objective(gate, X, targets):
    params = np.column_stack([gate.coef_, gate.intercept_]).ravel()
    n = X.shape[0]
    return _soft_cross_entropy(params, X, targets, np.ones(n), float(n), 1.0 / gate.C,
                               gate.fit_intercept)[0]


# ------------------------------------------------------- linear experts' Grams
def bench_linear_grams(n, d, k, repeats):
    """The experts' M-step of linear experts: all weighted Gram matrices in one pass.

    Kernel: ``skmoe._linear.weighted_grams`` (the Numba kernel
    ``weighted_design_block`` and one BLAS product per block of rows). Twin:
    the same matrices in NumPy, one weighted product per expert. Baseline: the
    K weighted ``LinearRegression`` fits the Gram path replaces.
    """
    X, y = make_switching_regression(n, d, k, random_state=0)
    weights = np.random.default_rng(2).dirichlet(np.ones(k), size=n)
    design = np.column_stack([X - X.mean(axis=0), np.ones(n), y - y.mean()])

    def twin():
        return [(design * weights[:, [j]]).T @ design for j in range(k)]

    def check():
        grams, _, _ = weighted_grams(X, y, weights, True)
        for gram, expected in zip(grams, twin()):
            assert_allclose(gram, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())

    def sklearn_fits():
        for j in range(k):
            LinearRegression(tol=0.0).fit(X, y, sample_weight=weights[:, j])

    row = _kernel_row(f"weighted Gram matrices, n = {n:,}, d = {d}, K = {k}",
                      lambda: weighted_grams(X, y, weights, True), twin,
                      _stream(n * (d + 2)), repeats, check)
    fits = _best_interleaved({"fits": sklearn_fits,
                              "grams": lambda: weighted_grams(X, y, weights, True)}, repeats)
    return [row], fits


# --------------------------------------------------------- small fits' kernels
def bench_small_fit_kernels(n, repeats):
    """The gate's Hessian (d = 5, K = 3: 18 parameters) and ``solve_grams`` on stacks.

    ``solve_grams`` works on K (d + 2)-square matrices whatever n: what it
    saves is the fixed cost of the NumPy calls of its twin, which on small
    data is most of an M-step. Its stream is over the matrices' values.
    """
    d, k = 5, 3
    X, _, resp, _ = _gate_problem(n, d, k)
    X_t = np.ascontiguousarray(X.T)
    sample_weight = np.ones(n)
    params = np.random.default_rng(3).normal(scale=0.3, size=(k, d + 1))
    hess = np.empty((k * (d + 1), k * (d + 1)))

    def check_hessian():
        soft_cross_entropy_hessian(params, X_t, sample_weight, True, hess)
        expected = soft_cross_entropy_hessian_reference(params, X, sample_weight, True)
        assert_allclose(hess, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())

    rows = [_kernel_row(
        f"gate Hessian (Newton), n = {n:,}, d = {d}, K = {k}",
        lambda: soft_cross_entropy_hessian(params, X_t, sample_weight, True, hess),
        lambda: soft_cross_entropy_hessian_reference(params, X, sample_weight, True),
        _stream(n * d), repeats, check_hessian,
    )]
    for d, k in ((5, 3), (20, 8)):
        X, y = make_switching_regression(2_000, d, k, random_state=0)
        weights = np.random.default_rng(4).dirichlet(np.ones(k), size=2_000)
        grams = np.ascontiguousarray(weighted_grams(X, y, weights, True)[0])
        centred = np.ones(k, dtype=bool)

        def check_solve(grams=grams, centred=centred):
            got = solve_grams(grams, centred, 1e-6)
            expected = solve_grams_reference(grams, centred, 1e-6)
            for a, b in zip(got[1:], expected[1:]):
                assert_allclose(a, b, rtol=1e-8, atol=1e-10 * np.abs(b).max())

        rows.append(_kernel_row(
            f"experts' solves from their Gram matrices, d = {d}, K = {k}",
            lambda grams=grams, centred=centred: solve_grams(grams, centred, 1e-6),
            lambda grams=grams, centred=centred: solve_grams_reference(grams, centred, 1e-6),
            _stream(grams.size), repeats * 10, check_solve,
        ))
    return rows


# ------------------------------------------------------------------ reporting
def kernel_table(rows):
    header = ["kernel", "kernel (s)", "kernel, 1 thread (s)", "twin (s)", "twin / kernel",
              "twin / kernel, 1 thread", "stream (s)", "kernel / stream",
              "kernel / stream, 1 thread"]
    body = [
        [
            r["name"],
            f"{r['kernel_s']:.4f}",
            f"{r['kernel_1_s']:.4f}",
            f"{r['reference_s']:.4f}",
            f"{r['x_reference']:.1f}x",
            f"{r['x_reference_1']:.1f}x",
            f"{r['stream_s']:.4f}",
            f"{r['x_stream']:.2f}x",
            f"{r['x_stream_1']:.2f}x",
        ]
        for r in rows
    ]
    return _markdown_table(header, body)


def solve_table(result):
    names = {
        "numpy_full": "to tolerance, NumPy twin (the objective before this change)",
        "fused_full": "to tolerance, fused kernel",
        "fused_em_step": (f"one EM step (<= {EM_STEP_BUDGET.lbfgs_iterations} iterations), "
                          "fused kernel"),
    }
    base = result["seconds"]["numpy_full"]
    start = result["objective"]["start"]
    rows = [
        [
            names[key],
            f"{result['seconds'][key]:.3f}",
            result["n_iter"][key],
            f"{base / result['seconds'][key]:.1f}x",
            f"{start - result['objective'][key]:.3e}",
        ]
        for key in names
    ]
    return _markdown_table(
        ["warm-started gate solve", "seconds", "L-BFGS iterations", "speed-up over NumPy twin",
         "objective decrease from the start"],
        rows,
    )


def report(args, sections, machine, blas, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    grams, fits = sections["grams"]
    return f"""# bench_kernels results

Recorded {date} by `python benchmarks/bench_kernels.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
Each time is the best of {args.repeats} interleaved repeats after one warm-up call.
"kernel" runs with Numba's default number of threads ({machine["numba threads"]}),
"1 thread" with one; the NumPy twins and the memory stream `numpy.add(a, b, out=c)`
(over as many float64 values as the kernel's output) run on one thread, BLAS
limited to one thread. Goals: twin / kernel >= {GOAL_REFERENCE:.0f}x, and for the
E-step kernel / stream <= {GOAL_STREAM:.0f}x.

## exp and log

skmoe's branch-free `exp`/`log` (within one ulp of NumPy's), against
`numpy.exp`/`numpy.log`.

{kernel_table(sections["exp_log"])}

## E-step

Inputs as in `bench_estep.py` (log-softmax gate, Gaussian log-densities).

{kernel_table(sections["e_step"])}

## Likelihoods

{kernel_table(sections["likelihoods"])}

## Gate: loss and gradient, log-softmax

`_soft_cross_entropy_fused` (the Numba kernel `soft_cross_entropy` with the
penalty and the division by the total weight; inputs transposed once per
solve) against the NumPy twin `_soft_cross_entropy`. EM-like soft targets:
the posterior responsibilities of `make_switching_regression(n_samples={args.gate_n},
n_features={args.gate_d}, n_experts={args.gate_k}, random_state=0)` under its true
parameters, on standardised inputs.

{kernel_table(sections["gate"])}

Warm-started L-BFGS solves of `SoftmaxGate(C=1)` on the same targets, starting
from the gate fitted to the true gate probabilities (the prior), with the
default Numba threads:

{solve_table(sections["solves"])}

## Linear experts' M-step: the weighted Gram matrices

`skmoe._linear.weighted_grams` (the Numba kernel `weighted_design_block` writing
the augmented rows and their products with every expert's weights, then one BLAS
product per block of 1,024 rows) against the NumPy twin (one weighted product
per expert); the stream is over as many values as the augmented design
(n x (d + 2)). Soft weights from a Dirichlet draw.

{kernel_table(grams)}

What the Gram path replaces: {args.gate_k} weighted `LinearRegression(tol=0.0).fit`
calls on the same data took {fits["fits"]:.4f} s, the Gram matrices of all of them
{fits["grams"]:.4f} s (one thread for both): **{fits["fits"] / fits["grams"]:.1f}x**.
Each expert is then fitted from its (d + 2) x (d + 2) matrix (see the user guide).
One whole EM iteration, with these parts in place, is measured in
`bench_fit.py` (section 2).

## Small fits: the gate's Hessian and the experts' solves

The kernels that make fits on small data cheap: the Hessian of the gate's loss
(`soft_cross_entropy_hessian`, one pass over the rows, for Newton's method on
gates of at most `NEWTON_MAX_PARAMETERS` parameters) against its NumPy twin,
on the first {args.gate_n:,} rows of the gate problem above with d = 5, K = 3;
and `solve_grams` (each linear expert's centring, eigendecomposition, singular
values and solution from its Gram matrix, one Numba call for the stack)
against its twin of stacked NumPy calls, on the Gram matrices of
`make_switching_regression(2000, d, K)` with Dirichlet weights.

{kernel_table(sections["small"])}

{machine_section(machine, blas)}"""


def parse_args(argv=None):
    args = benchmark_parser(__doc__, RESULTS).parse_args(argv)
    args.gate_d, args.gate_k = 20, 8
    if args.quick:
        args.n, args.repeats, args.gate_n = 100_000, 3, 20_000
        args.solve_repeats = 1
    else:
        args.n, args.repeats, args.gate_n = 1_000_000, 7, 200_000
        args.solve_repeats = 3
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    load_before = _load_average()
    rng = np.random.default_rng(0)
    sections = {}
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        sections["exp_log"] = bench_exp_log(8 * args.n, args.repeats, rng)
        print(kernel_table(sections["exp_log"]), flush=True)
        sections["e_step"] = bench_e_steps(args.n, (2, 8, 32), args.repeats, rng)
        print(kernel_table(sections["e_step"]), flush=True)
        sections["likelihoods"] = bench_likelihoods(args.n, (2, 8, 32), args.repeats, rng)
        print(kernel_table(sections["likelihoods"]), flush=True)
        sections["gate"], problem = bench_gate(args.gate_n, args.gate_d, args.gate_k,
                                               args.repeats)
        print(kernel_table(sections["gate"]), flush=True)
        sections["solves"] = bench_gate_solves(problem, args.solve_repeats)
        print(solve_table(sections["solves"]), flush=True)
        sections["grams"] = bench_linear_grams(args.gate_n, args.gate_d, args.gate_k,
                                               args.repeats)
        print(kernel_table(sections["grams"][0]), flush=True)
        print(sections["grams"][1], flush=True)
        sections["small"] = bench_small_fit_kernels(args.gate_n, args.repeats)
        print(kernel_table(sections["small"]), flush=True)

    load_after = _load_average()
    elapsed = time.perf_counter() - start
    machine, blas = machine_info(), blas_info()
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            report(args, sections, machine, blas, load_before, load_after, elapsed)
        )
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
