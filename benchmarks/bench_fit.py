"""Fit-level benchmarks of MixtureOfExpertsRegressor (issue 6).

Not a test: it measures, prints tables and records the figures. Every figure
is reported beside a baseline measured in the same run, because the project
machines are shared and noisy (2 cores):

1. where the time of one fit goes (cProfile, grouped by step of the EM loop:
   the linear experts' Gram path ``weighted_grams`` / ``fit_from_grams``, their
   ``linear_predictions``, the gate's generalised-EM M-step and ``_log_proba``,
   ...), against one weighted ``LinearRegression`` fit;
2. the seconds of one EM iteration at n=200,000, d=20, K=8 on one thread
   (target < 0.25 s) with the default generalised-EM gate step, against the
   gate solved to tolerance every iteration (the EM loop's ``EM_STEP_BUDGET``
   patched for that candidate only) and one weighted ``LinearRegression`` fit;
   plus the EM iterations and seconds each candidate needs to converge;
3. experts fitted in parallel (``n_jobs=2``) against ``n_jobs=1`` (goal >= 1.6x
   with random-forest experts), beside what two threads get from the machine
   at that moment (two GIL-free NumPy sorts); plain linear experts skip joblib
   (Gram path, calling thread), only their ``n_init=2`` starts run in parallel;
4. sparse ``top_k=2`` prediction against ``top_k=None`` with K=16 random-forest
   experts (goal >= 4x), beside the experts alone on the same rows, and the
   R^2 of both predictions;
5. one fit at n=1,000,000, d=20, K=8 in a fresh subprocess: seconds, peak
   memory (tracemalloc and max RSS) against the size of X (target <= 4x) and
   against one weighted ``LinearRegression`` fit; the cost of one EM iteration
   for n = 10^4, 10^5, 10^6.

Usage::

    python benchmarks/bench_fit.py            # full run (~10 min), writes results/bench_fit.md
    python benchmarks/bench_fit.py --quick    # small and fast, prints only

Timings are the best (minimum) of the repeats taken with ``time.perf_counter``,
after a warm-up fit that compiles the Numba kernels or loads them from Numba's
cache, with the candidates interleaved within each repeat so that a burst of
load on the machine hits all of them.
"""

import argparse
import contextlib
import datetime
import hashlib
import io
import json
import os
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from cProfile import Profile
from pathlib import Path
from unittest import mock

import joblib
import numpy as np
import threadpoolctl
from bench_estep import _best_interleaved, _load_average, _seconds, benchmark_parser, blas_info
from bench_estep import _markdown_table as _table
from bench_estep import machine_info as common_machine_info
from joblib.parallel import get_active_backend
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.utils.parallel import Parallel, delayed

import skmoe
import skmoe._base
import skmoe._experts
import skmoe._families
import skmoe._gate
import skmoe._linear
import skmoe._regressor
from skmoe import MixtureOfExpertsRegressor, SoftmaxGate, _kernels
from skmoe.datasets import make_switching_regression

RESULTS = Path(__file__).resolve().parent / "results" / "bench_fit.md"
TARGET_ITERATION_S = 0.25
GOAL_PARALLEL = 1.6
GOAL_TOP_K = 4.0
TARGET_MEMORY_X = 4.0
# Section 2's "gate solved every iteration" candidate: the L-BFGS iterations of
# skmoe._base.EM_STEP_BUDGET patched to this while it runs, so that each gate
# M-step gets SoftmaxGate's whole max_iter (L-BFGS to its tolerance), as before
# the generalised-EM step.
SOLVED_EM_STEP_MAX_ITER = 10_000
# The L-BFGS iterations of the default generalised-EM gate step.
EM_LBFGS_ITERATIONS = skmoe._base.EM_STEP_BUDGET.lbfgs_iterations
# Budget of the fits to convergence of section 2 (default tol).
CONVERGE_MAX_ITER = 300
_ITERATION_LINE = re.compile(r"Iteration (\d+): .*, ([0-9.]+) s$")


# --------------------------------------------------------------------- timing
def _best_of(func, repeats):
    return min(_seconds(func) for _ in range(repeats))


@contextlib.contextmanager
def _quiet():
    """Silence the warnings a benchmark fit expects (no convergence, resampled experts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*does not accept sample_weight.*")
        yield


def _one_blas_thread():
    return threadpoolctl.threadpool_limits(limits=1, user_api="blas")


def warm_up():
    """Compile (or load from Numba's cache) every kernel of the EM loop."""
    X, y = make_switching_regression(n_samples=500, n_features=5, n_experts=3, random_state=0)
    with _quiet():
        MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)


def _weights(n_samples):
    """Row weights in (0, 1], like the responsibilities an expert is fitted with."""
    return np.random.default_rng(1).uniform(0.01, 1.0, size=n_samples)


def _linear_baseline(X, y, repeats):
    """Best seconds of one ``LinearRegression().fit`` with sample weights, one BLAS thread."""
    sample_weight = _weights(X.shape[0])
    with _one_blas_thread():
        return _best_of(lambda: LinearRegression().fit(X, y, sample_weight=sample_weight),
                        repeats)


def _iteration_seconds(verbose_output):
    """Seconds of each EM iteration, from the lines a ``verbose=2`` fit prints."""
    seconds = {}
    for line in verbose_output.splitlines():
        match = _ITERATION_LINE.search(line.strip())
        if match:
            seconds[int(match.group(1))] = float(match.group(2))
    return seconds


class _GateEvaluations:
    """Counts the gate's loss+gradient evaluations, per label.

    ``skmoe._gate.minimize`` (SciPy's) is replaced by a wrapper that hands
    L-BFGS the gate's own objective inside ``_gate_objective``, which counts
    the calls and is what cProfile sees of them, whatever the objective is.
    """

    def __init__(self):
        self.label = None
        self.counts = {}

    def installed(self):
        original = skmoe._gate.minimize
        counts = self

        def counting_minimize(fun, x0, *args, **kwargs):
            def _gate_objective(*objective_args):
                counts.counts[counts.label] = counts.counts.get(counts.label, 0) + 1
                return fun(*objective_args)

            return original(_gate_objective, x0, *args, **kwargs)

        return mock.patch.object(skmoe._gate, "minimize", counting_minimize)


class _StepTimer:
    """Seconds spent in named steps of a fit, per label (thin timing wrappers).

    ``steps`` are ``(owner, attribute, step)``: the function ``owner.attribute``
    is replaced, while installed, by a wrapper adding its wall time to
    ``seconds[label][step]`` for the current ``label``.
    """

    def __init__(self, steps):
        self.steps = steps
        self.label = None
        self.seconds = {}

    def take(self, label):
        """The seconds recorded under ``label`` since the last take, then forget them."""
        return self.seconds.pop(label, {})

    def installed(self):
        stack = contextlib.ExitStack()
        for owner, name, step in self.steps:
            stack.enter_context(mock.patch.object(owner, name, self._wrap(getattr(owner, name),
                                                                          step)))
        return stack

    def _wrap(self, original, step):
        timer = self

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = timer.seconds.setdefault(timer.label, {})
                spent[step] = spent.get(step, 0.0) + time.perf_counter() - start

        return timed


# ------------------------------------------------------ 1. profile of one fit
def _profiled_e_step(*args):
    # Numba dispatchers are invisible to cProfile (not builtin functions): the
    # profiled fit calls the kernels through these thin Python wrappers.
    return _kernels.e_step(*args)


def _profiled_gaussian_log_likelihood(*args):
    return _kernels.gaussian_log_likelihood(*args)


_WEIGHTED_DESIGN_BLOCK = skmoe._linear.weighted_design_block


def _profiled_weighted_design_block(*args):
    return _WEIGHTED_DESIGN_BLOCK(*args)


def _cumulative(stats, path_end, name, caller=None):
    """Cumulative seconds and calls of the profiled function ``name`` in a file ending so
    (only its calls from the function named ``caller``, if given)."""
    seconds, calls = 0.0, 0
    for (filename, _, funcname), (_, n_calls, _, cumtime, callers) in stats.items():
        if funcname == name and filename.replace(os.sep, "/").endswith(path_end):
            if caller is None:
                seconds += cumtime
                calls += n_calls
                continue
            for (_, _, caller_name), (_, caller_calls, _, caller_time) in callers.items():
                if caller_name == caller:
                    seconds += caller_time
                    calls += caller_calls
    return seconds, calls


def profile_fit(n_samples, max_iter, baseline_repeats):
    X, y = make_switching_regression(n_samples=n_samples, n_features=10, n_experts=4,
                                     random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=4, max_iter=max_iter, random_state=0)
    profiler = Profile()
    with (
        _quiet(),
        _GateEvaluations().installed(),
        mock.patch.object(skmoe._base, "e_step", _profiled_e_step),
        mock.patch.object(skmoe._families, "gaussian_log_likelihood",
                          _profiled_gaussian_log_likelihood),
        mock.patch.object(skmoe._linear, "weighted_design_block",
                          _profiled_weighted_design_block),
    ):
        start = time.perf_counter()
        profiler.enable()
        model.fit(X, y)
        profiler.disable()
        total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats
    bench = Path(__file__).name

    experts, expert_calls = _cumulative(stats, "skmoe/_experts.py", "fit_experts")
    grams, gram_calls = _cumulative(stats, "skmoe/_linear.py", "weighted_grams")
    design, design_calls = _cumulative(stats, bench, "_profiled_weighted_design_block")
    from_gram, from_gram_calls = _cumulative(stats, "skmoe/_linear.py", "fit_from_grams")
    ridge_solve, ridge_solve_calls = _cumulative(stats, "skmoe/_ridge.py",
                                                 "fit_scaled_ridges_from_grams",
                                                 caller="_solve_from_grams")
    # The ScaledRidge experts' Gram pass fold by fold (from a run's second M-step),
    # and the noise's refits and out-of-fold predictions in the likelihood M-step.
    fold_pass, fold_pass_calls = _cumulative(stats, "skmoe/_ridge.py", "blockwise_fold_sums",
                                             caller="_fit_linear_experts")
    noise, noise_calls = _cumulative(stats, "skmoe/_ridge.py", "cross_fitted_ridge_predictions")
    noise_counts, _ = _cumulative(stats, "skmoe/_ridge.py", "take")
    # Experts the Gram path declined (ill-conditioned): their own fit, through joblib.
    _, own_fits = _cumulative(stats, "skmoe/_experts.py", "_fit_one")
    gate_fit, gate_fits = _cumulative(stats, "skmoe/_gate.py", "_fit_soft")
    evaluation, evaluations = _cumulative(stats, bench, "_gate_objective")
    gate_predict, gate_predicts = _cumulative(stats, "skmoe/_gate.py", "_log_proba")
    likelihood, _ = _cumulative(stats, "skmoe/_regressor.py", "_likelihood_m_step")
    predictions, _ = _cumulative(stats, "skmoe/_regressor.py", "_expert_predictions")
    linear_pred, linear_pred_calls = _cumulative(stats, "skmoe/_linear.py",
                                                 "linear_predictions")
    gaussian, _ = _cumulative(stats, bench, "_profiled_gaussian_log_likelihood")
    e_step, _ = _cumulative(stats, bench, "_profiled_e_step")
    em_loop, _ = _cumulative(stats, "skmoe/_base.py", "_run_em")
    init, _ = _cumulative(stats, "skmoe/_init.py", "initial_responsibilities")
    gate_rows, _ = _cumulative(stats, "skmoe/_base.py", "_standardised_gate_rows")
    loop_rest = em_loop - experts - gate_fit - gate_predict - likelihood - e_step
    groups = [
        ("expert M-step: Gram kernel (`weighted_design_block`, Numba, in `weighted_grams`: "
         "a run's first M-step)", design),
        ("expert M-step: Gram BLAS products (rest of `weighted_grams`)", grams - design),
        ("expert M-step: Gram pass fold by fold (`blockwise_fold_sums`, kernel and BLAS: "
         "the M-steps after a run's first, for the cross-fitted noise)", fold_pass),
        ("expert M-step: the experts from their Gram matrices "
         "(`fit_scaled_ridges_from_grams`, `fit_from_grams`)", ridge_solve + from_gram),
        ("expert M-step: rest of `fit_experts` (ScaledRidge's own fit checking its "
         "parameters in the first iteration, own fits through joblib, dispatch)",
         experts - grams - fold_pass - ridge_solve - from_gram),
        ("gate M-step (`SoftmaxGate._fit_soft`, generalised-EM L-BFGS step)", gate_fit),
        ("gate `_log_proba` (transposed rows)", gate_predict),
        ("likelihood M-step: expert predictions (`linear_predictions`, one product)",
         linear_pred),
        ("likelihood M-step: rest of `_expert_predictions` (finite checks)",
         predictions - linear_pred),
        ("likelihood M-step: noise refits (`cross_fitted_ridge_predictions`: solves "
         "without each fold, out-of-fold predictions; a run's first M-step's own folds' "
         "pass; the folds' unweighted matrices once per run)", noise + noise_counts),
        ("likelihood M-step: residual sums (by blocks of rows) and the rest",
         likelihood - predictions - gaussian - noise - noise_counts),
        ("likelihood M-step: Gaussian kernel (Numba)", gaussian),
        ("E-step kernel (Numba)", e_step),
        ("rest of the EM loop (assign, expert floor, weights, sums)", loop_rest),
        ("k-means init (`initial_responsibilities`)", init),
        ("gate rows standardised and transposed once (`_standardised_gate_rows`)", gate_rows),
        ("validation, gate scaler and other (outside the loop)",
         total - em_loop - init - gate_rows),
    ]
    # A wrapper around a function nobody calls reports 0 s: name the empty rows.
    empty = [name for name, seconds in groups if not seconds > 0]
    if empty:
        print(f"  warning: rows with no time: {empty}", flush=True)
    return {
        "n_samples": n_samples,
        "max_iter": max_iter,
        "n_iter": model.n_iter_,
        "converged": model.converged_,
        "total_s": total,
        "groups": groups,
        "bookkeeping_loop_s": em_loop - experts - gate_fit,
        "outside_fits_s": total - experts - gate_fit,
        "experts_s": experts,
        "expert_m_steps": expert_calls,
        "gram_calls": gram_calls,
        "design_calls": design_calls,
        "from_gram_calls": from_gram_calls,
        "ridge_solve_calls": ridge_solve_calls,
        "fold_pass_calls": fold_pass_calls,
        "noise_calls": noise_calls,
        "own_fits": own_fits,
        "linear_pred_calls": linear_pred_calls,
        "gate_predicts": gate_predicts,
        "empty_rows": empty,
        "gate_fits": gate_fits,
        "evaluations": evaluations,
        "evaluation_s": evaluation / max(evaluations, 1),
        "linear_s": _linear_baseline(X, y, baseline_repeats),
    }


# ------------------------------------------------- 2. one EM iteration, 1 thread
@contextlib.contextmanager
def _gate_mode(name):
    """The gate M-step of candidate ``name``: "default" (generalised-EM step) or
    "solved" (``EM_STEP_BUDGET`` patched so that every step solves the gate)."""
    if name == "solved":
        solved = skmoe._base.EM_STEP_BUDGET._replace(lbfgs_iterations=SOLVED_EM_STEP_MAX_ITER)
        with mock.patch.object(skmoe._base, "EM_STEP_BUDGET", solved):
            yield
    else:
        yield
    assert skmoe._base.EM_STEP_BUDGET.lbfgs_iterations != SOLVED_EM_STEP_MAX_ITER


CANDIDATES = {
    "default": "default: generalised-EM gate step (<= {em} L-BFGS iterations), Gram-path experts",
    "solved": "gate solved to tolerance every iteration (`EM_STEP_BUDGET` patched)",
}


def iteration_cost(n_samples, iterations, repeats, baseline_repeats):
    X, y = make_switching_regression(n_samples=n_samples, n_features=20, n_experts=8,
                                     random_state=0)
    evaluations = _GateEvaluations()
    timer = _StepTimer([(skmoe._base, "fit_experts", "experts"),
                        (skmoe._regressor, "cross_fitted_ridge_predictions", "noise"),
                        (SoftmaxGate, "_fit_soft", "gate"),
                        (skmoe._base, "initial_responsibilities", "init")])
    lower_bounds, steps, shortest, iteration_best, after_init = {}, {}, {}, {}, {}

    def fit(label, max_iter):
        def run():
            evaluations.label = timer.label = label
            printed = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(printed), _gate_mode(label[0]):
                model = MixtureOfExpertsRegressor(n_experts=8, max_iter=max_iter,
                                                  tol=0, random_state=0, verbose=2).fit(X, y)
            spent = time.perf_counter() - start
            # Step seconds of the shortest fit of each label (the one the table keeps).
            taken = timer.take(label)
            # The k-means init's seconds vary by whole seconds between fits on this
            # machine: the differences below are taken on the fit without its init.
            after_init[label] = min(after_init.get(label, np.inf),
                                    spent - taken.get("init", 0.0))
            if spent < shortest.get(label, np.inf):
                shortest[label], steps[label] = spent, taken
            lower_bounds[label] = model.lower_bound_
            best = iteration_best.setdefault(label, {})
            for index, seconds in _iteration_seconds(printed.getvalue()).items():
                best[index] = min(best.get(index, np.inf), seconds)
        return run

    first, last = iterations
    candidates = {(name, k): fit((name, k), k) for name in CANDIDATES for k in (first, last)}
    sample_weight = _weights(n_samples)
    with (_quiet(), _one_blas_thread(), _kernels.kernel_threads(1), evaluations.installed(),
          timer.installed()):
        best = _best_interleaved(candidates, repeats)
        linear = _best_of(lambda: LinearRegression().fit(X, y, sample_weight=sample_weight),
                          baseline_repeats)
        # One evaluation of the gate's NumPy loss+gradient on these data.
        rng = np.random.default_rng(0)
        targets = rng.dirichlet(np.ones(8), size=n_samples)
        params = 0.1 * rng.standard_normal(8 * (X.shape[1] + 1))
        args = (params, X, targets, sample_weight, float(sample_weight.sum()), 1.0, True)
        numpy_eval = _best_of(lambda: skmoe._gate._soft_cross_entropy(*args), 5)
        # Iterations to convergence with the default tol: one fit per candidate.
        converge = {}
        for name in CANDIDATES:
            evaluations.label = timer.label = ("converge", name)
            model = MixtureOfExpertsRegressor(n_experts=8, max_iter=CONVERGE_MAX_ITER,
                                              random_state=0)
            with _gate_mode(name):
                seconds = _seconds(lambda model=model: model.fit(X, y))
            init_s = timer.take(("converge", name)).get("init", 0.0)
            converge[name] = {"seconds": seconds, "init_s": init_s, "n_iter": int(model.n_iter_),
                              "converged": bool(model.converged_), "tol": model.tol,
                              "lower_bound": float(model.lower_bound_)}
            print(f"  to convergence, {name}: {seconds:.1f} s, {model.n_iter_} iterations, "
                  f"converged {model.converged_}", flush=True)
    per_fit = {key: evaluations.counts.get(key, 0) / repeats for key in candidates}
    span = last - first
    result = {"n_samples": n_samples, "iterations": iterations, "linear_s": linear,
              "numpy_eval_s": numpy_eval}
    for name in CANDIDATES:
        per_iteration = (after_init[(name, last)] - after_init[(name, first)]) / span
        result[name] = {
            "first_s": best[(name, first)],
            "last_s": best[(name, last)],
            "init_s": steps[(name, first)].get("init", 0.0),
            "per_iteration_s": per_iteration,
            "evaluations": (per_fit[(name, last)] - per_fit[(name, first)]) / span,
            "lower_bound": lower_bounds[(name, last)],
            "x_linear": per_iteration / linear,
            # Inside the iteration: expert fits, noise refits and gate M-step, the same
            # difference.
            "experts_s": (steps[(name, last)].get("experts", 0.0)
                          - steps[(name, first)].get("experts", 0.0)) / span,
            "noise_s": (steps[(name, last)].get("noise", 0.0)
                        - steps[(name, first)].get("noise", 0.0)) / span,
            "gate_s": (steps[(name, last)].get("gate", 0.0)
                       - steps[(name, first)].get("gate", 0.0)) / span,
            # Cross-check: the fit's own timing of iterations 2..last (verbose=2).
            "printed_s": float(np.mean([iteration_best[(name, last)][i]
                                        for i in range(2, last + 1)])),
            "converge": converge[name],
        }
    return result


# -------------------------------------------------------- 3. parallel experts
def _backend_name(**config):
    with joblib.parallel_config(**config):
        backend, _ = get_active_backend(prefer="threads")
    return type(backend).__name__


def parallel_experts(n_samples, n_estimators, max_iter, forest_repeats, linear_repeats):
    X, y = make_switching_regression(n_samples=n_samples, n_features=10, n_experts=4,
                                     random_state=0)
    forest = RandomForestRegressor(n_estimators=n_estimators, n_jobs=1)
    fitted, times = {}, {}
    timer = _StepTimer([(skmoe._base, "fit_experts", "experts"),
                        (skmoe._regressor, "cross_fitted_predictions", "noise refits")])

    def fit(label, experts, n_jobs, n_init=1, backend=None):
        def run():
            timer.label = label
            model = MixtureOfExpertsRegressor(experts, n_experts=4, n_init=n_init,
                                              max_iter=max_iter, tol=0, n_jobs=n_jobs,
                                              random_state=0)
            config = {} if backend is None else {"backend": backend}
            with joblib.parallel_config(**config):
                start = time.perf_counter()
                fitted[label] = model.fit(X, y)
                spent = time.perf_counter() - start
            # Expert-fit and noise-refit seconds of the best (shortest) fit of this label.
            steps = timer.take(label)
            experts_s = steps.get("experts", 0.0) + steps.get("noise refits", 0.0)
            if spent < times.get(label, (np.inf,))[0]:
                times[label] = (spent, experts_s)
        return run

    # What two threads get from this machine right now: two GIL-free NumPy sorts, in
    # turn and in two threads (interleaved with the forest fits, same load).
    to_sort = [np.random.default_rng(k).standard_normal(4_000_000) for k in range(2)]

    def sorts(n_jobs):
        return lambda: Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(np.sort)(a) for a in to_sort)

    configs = {
        "forest": (f"RandomForestRegressor(n_estimators={n_estimators}, n_jobs=1)", forest, 1,
                   forest_repeats),
        "linear": ("linear (default): Gram path, no joblib, n_jobs has nothing to spread",
                   None, 1, linear_repeats),
        "linear_starts": ("linear (default), n_init=2 starts in parallel", None, 2,
                          linear_repeats),
    }
    rows = []
    with _quiet(), timer.installed():
        for key, (label, experts, n_init, repeats) in configs.items():
            candidates = {1: fit((key, 1), experts, 1, n_init),
                          2: fit((key, 2), experts, 2, n_init)}
            if key == "forest":
                candidates.update({"sort_1": sorts(1), "sort_2": sorts(2)})
            best = _best_interleaved(candidates, repeats)
            if key == "forest":
                ceiling = best["sort_1"] / best["sort_2"]
            row = {"key": key, "label": label, "n_jobs_1_s": best[1], "n_jobs_2_s": best[2],
                   "ratio": best[1] / best[2], "backend": _backend_name(),
                   "same_fit": _same_fit(fitted[(key, 1)], fitted[(key, 2)])}
            rows.append(row)
            print(f"  {label}: n_jobs=1 {best[1]:.2f} s, n_jobs=2 {best[2]:.2f} s "
                  f"({row['ratio']:.2f}x)", flush=True)
            if key == "forest" and row["ratio"] < GOAL_PARALLEL:
                # Below the goal with threads: the same fit with processes (loky),
                # against the n_jobs=1 fit above (not re-run: the budget of the run).
                loky = _best_of(fit(("loky", 2), experts, 2, n_init, backend="loky"), repeats)
                rows.append({"key": "forest_loky", "label": label + ", loky backend",
                             "n_jobs_1_s": best[1], "n_jobs_2_s": loky,
                             "ratio": best[1] / loky,
                             "backend": _backend_name(backend="loky"),
                             "same_fit": _same_fit(fitted[(key, 1)], fitted[("loky", 2)])})
                print(f"  {label}, loky: n_jobs=2 {loky:.2f} s ({best[1] / loky:.2f}x)",
                      flush=True)
    # Amdahl: only the expert fits are spread over the workers.
    serial, experts_part = times[("forest", 1)]
    share = experts_part / serial
    return {
        "n_samples": n_samples,
        "n_estimators": n_estimators,
        "max_iter": max_iter,
        "rows": rows,
        "ceiling": ceiling,
        "forest_repeats": forest_repeats,
        "linear_repeats": linear_repeats,
        "expert_share": share,
        "amdahl": 1.0 / (1.0 - share / 2.0),
        "experts_2_s": times[("forest", 2)][1],
        "experts_1_s": experts_part,
    }


def _same_fit(first, second):
    """Whether two fits reached the same lower bound (to 1e-10)."""
    return bool(abs(first.lower_bound_ - second.lower_bound_) <= 1e-10)


# ------------------------------------------------------- 4. top-k prediction
def top_k_prediction(n_train, n_test, n_experts, n_estimators, max_iter, repeats):
    X, y = make_switching_regression(n_samples=n_train + n_test, n_features=10,
                                     n_experts=n_experts, random_state=0)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    expert = RandomForestRegressor(n_estimators=n_estimators)
    model = MixtureOfExpertsRegressor(expert, n_experts=n_experts, max_iter=max_iter, tol=0,
                                      random_state=0)
    with _quiet():
        fit_s = _seconds(lambda: model.fit(X_train, y_train))
    predictions = {}

    def predict(top_k):
        def run():
            model.set_params(top_k=top_k)
            predictions[top_k] = model.predict(X_test)
        return run

    # Baseline: the fitted experts alone, on every row and on the rows top_k=2 sends
    # each of them (its two most probable experts), without skmoe's routing.
    gate = model.predict_gate(X_test)
    chosen = np.argpartition(-gate, 1, axis=1)[:, :2]
    routed = [np.flatnonzero((chosen == k).any(axis=1)) for k in range(gate.shape[1])]

    def experts_alone(rows_of):
        def run():
            for k, expert in enumerate(model.experts_):
                rows = rows_of(k)
                if rows is None:
                    expert.predict(X_test)
                elif rows.size:
                    expert.predict(X_test[rows])
        return run

    best = _best_interleaved(
        {None: predict(None), 2: predict(2), "experts_all": experts_alone(lambda k: None),
         "experts_routed": experts_alone(lambda k: routed[k])},
        repeats,
    )
    model.set_params(top_k=None)
    top_two = np.sort(gate, axis=1)[:, -2:].sum(axis=1)
    return {
        "n_train": n_train,
        "n_test": n_test,
        "n_experts": n_experts,
        "n_estimators": n_estimators,
        "n_experts_fitted": model.n_experts_,
        "max_iter": max_iter,
        "fit_s": fit_s,
        "all_s": best[None],
        "top2_s": best[2],
        "ratio": best[None] / best[2],
        "ideal": model.n_experts_ / 2,
        "experts_all_s": best["experts_all"],
        "experts_routed_s": best["experts_routed"],
        "r2_all": r2_score(y_test, predictions[None]),
        "r2_top2": r2_score(y_test, predictions[2]),
        "max_abs_diff": float(np.max(np.abs(predictions[None] - predictions[2]))),
        "y_std": float(np.std(y_test)),
        "gate_mass_top2": float(top_two.mean()),
        "gate_mass_top2_p10": float(np.quantile(top_two, 0.1)),
    }


# ------------------------------------------------------------------- 5. scale
class _PhasePeaks:
    """Traced peak memory during each named step of a fit (tracemalloc must be on).

    Each wrapped step resets tracemalloc's peak on entry and reads it on exit,
    so a step's figure is the peak of all traced memory while it ran (what was
    alive before it included). The overall peak is kept across the resets, and a
    step wrapped inside another (``weighted_grams`` in ``fit_experts``) hands the
    peak reached so far to the enclosing steps before it resets it.
    """

    def __init__(self):
        self.phases = {}
        self.overall = 0
        self.active = []

    def _record(self, peak):
        self.overall = max(self.overall, peak)
        for label in self.active:
            self.phases[label] = max(self.phases.get(label, 0), peak)

    def wrap(self, owner, name, label):
        original = getattr(owner, name)
        peaks = self

        def wrapper(*args, **kwargs):
            peaks._record(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
            peaks.active.append(label)
            try:
                return original(*args, **kwargs)
            finally:
                peaks._record(tracemalloc.get_traced_memory()[1])
                peaks.active.pop()

        return mock.patch.object(owner, name, wrapper)

    def peak(self):
        return max(self.overall, tracemalloc.get_traced_memory()[1])


def _max_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _status_bytes(field):
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), or None."""
    value = _read_first("/proc/self/status", field)
    return int(value.split()[0]) * 1024 if value else None


def _reset_peak_rss():
    """Reset the kernel's RSS high-water mark to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def scale_worker(kind, data_dir, n_experts, max_iter):
    """Run in a fresh process: one fit on the saved data, print its figures as JSON.

    ``kind`` is "time" (a plain timed fit), "memory" (the same fit under
    tracemalloc, with the peak of each step) or "linear" (one weighted
    LinearRegression fit, the baseline).
    """
    warm_up()
    X = np.load(Path(data_dir) / "X.npy")
    y = np.load(Path(data_dir) / "y.npy")
    sample_weight = _weights(X.shape[0])
    # getrusage's max RSS is a high-water mark of the whole process life (imports and
    # the warm-up fit included), so its delta can only under-state the fit's peak; the
    # high-water mark reset through /proc gives the peak above the RSS before the fit.
    reset = _reset_peak_rss()
    rss_before = _status_bytes("VmRSS")
    max_rss_before = _max_rss_bytes()
    out = {"kind": kind, "n_samples": X.shape[0], "x_bytes": X.nbytes}
    model = MixtureOfExpertsRegressor(n_experts=n_experts, max_iter=max_iter, random_state=0,
                                      verbose=2)
    printed = io.StringIO()
    if kind == "linear":
        tracemalloc.start()
        with _one_blas_thread():
            out["seconds"] = _seconds(
                lambda: LinearRegression().fit(X, y, sample_weight=sample_weight))
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
    elif kind == "memory":
        peaks = _PhasePeaks()
        tracemalloc.start()
        with contextlib.ExitStack() as stack:
            stack.enter_context(_quiet())
            stack.enter_context(contextlib.redirect_stdout(printed))
            for owner, name, label in (
                (skmoe._base, "initial_responsibilities", "k-means init"),
                (skmoe._base, "fit_experts", "expert fits"),
                (skmoe._experts, "weighted_grams", "expert fits: weighted_grams"),
                (skmoe._experts, "blockwise_fold_sums",
                 "expert fits: Gram pass fold by fold"),
                (skmoe._regressor, "cross_fitted_ridge_predictions",
                 "likelihood M-step: noise refits"),
                (MixtureOfExpertsRegressor, "_likelihood_m_step", "likelihood M-step"),
                (skmoe._regressor, "linear_predictions",
                 "likelihood M-step: linear_predictions"),
                (skmoe._base, "_standardised_gate_rows", "gate rows (standardised, transposed)"),
                (SoftmaxGate, "_fit_soft", "gate M-step"),
                (SoftmaxGate, "_log_proba", "gate _log_proba"),
            ):
                stack.enter_context(peaks.wrap(owner, name, label))
            out["seconds"] = _seconds(lambda: model.fit(X, y))
        out["traced_peak"] = peaks.peak()
        out["phases"] = peaks.phases
    else:
        timer = _StepTimer([(skmoe._base, "initial_responsibilities", "init")])
        with _quiet(), contextlib.redirect_stdout(printed), timer.installed():
            out["seconds"] = _seconds(lambda: model.fit(X, y))
        out["init_s"] = timer.take(None).get("init", 0.0)
    out["max_rss_delta"] = _max_rss_bytes() - max_rss_before
    peak = _status_bytes("VmHWM")
    out["rss_peak"] = peak - rss_before if reset and peak and rss_before else None
    if kind != "linear":
        out["n_iter"] = model.n_iter_
        out["converged"] = bool(model.converged_)
        out["iteration_s"] = _iteration_seconds(printed.getvalue())
    print(json.dumps(out))


# A child inherits its parent's high-water RSS in getrusage (the parent's peak with
# vfork, its RSS at fork with fork): the worker is started from a small Python
# process, so that its max RSS before the fit is its own.
_HOP = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def _run_worker(kind, data_dir, n_experts, max_iter):
    command = [sys.executable, "-c", _HOP, sys.executable, str(Path(__file__).resolve()),
               "--worker", kind, str(data_dir), str(n_experts), str(max_iter)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _steady_iteration(seconds):
    """Mean seconds of EM iterations 2 and 3 (iteration 1 starts the gate from zero)."""
    chosen = [seconds[i] for i in (2, 3) if i in seconds] or list(seconds.values())
    return float(np.mean(chosen))


def scale(n_samples, max_iter, memory_max_iter, small_sizes, repeats):
    n_experts = 8
    X, y = make_switching_regression(n_samples=n_samples, n_features=20, n_experts=n_experts,
                                     random_state=0)
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as data_dir:
        np.save(Path(data_dir) / "X.npy", X)
        np.save(Path(data_dir) / "y.npy", y)
        del X, y
        timed = _run_worker("time", data_dir, n_experts, max_iter)
        print(f"  n={n_samples:,}: fit {timed['seconds']:.1f} s, {timed['n_iter']} iterations",
              flush=True)
        memory = _run_worker("memory", data_dir, n_experts, memory_max_iter)
        linear = _run_worker("linear", data_dir, n_experts, 0)

    # Cost of one EM iteration against n: iterations 2 and 3 of fits with the same
    # settings (best of the repeats per iteration), and of the large fit above.
    per_iteration = []
    for n in small_sizes:
        X, y = make_switching_regression(n_samples=n, n_features=20, n_experts=n_experts,
                                         random_state=0)
        best = {}
        for _ in range(repeats):
            printed = io.StringIO()
            with _quiet(), contextlib.redirect_stdout(printed):
                MixtureOfExpertsRegressor(n_experts=n_experts, max_iter=3, tol=0, random_state=0,
                                          verbose=2).fit(X, y)
            for index, seconds in _iteration_seconds(printed.getvalue()).items():
                best[index] = min(best.get(index, np.inf), seconds)
        per_iteration.append({"n_samples": n, "seconds": _steady_iteration(best),
                              "linear_s": _linear_baseline(X, y, 3)})
    per_iteration.append({"n_samples": n_samples,
                          "seconds": _steady_iteration(
                              {int(k): v for k, v in timed["iteration_s"].items()}),
                          "linear_s": linear["seconds"]})
    return {"n_samples": n_samples, "max_iter": max_iter, "memory_max_iter": memory_max_iter,
            "timed": timed, "memory": memory, "linear": linear,
            "per_iteration": per_iteration}


# ------------------------------------------------------------------- machine
def _read_first(path, prefix):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _git(*args):
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def _committed_sources(revision):
    """Git blob hashes of the skmoe/*.py files of a commit, by file name."""
    sources = {}
    for line in _git("ls-tree", "-r", revision, "--", "skmoe").splitlines():
        info, path = line.split("\t", 1)
        if path.endswith(".py") and "/" not in path[len("skmoe/"):]:
            sources[Path(path).name] = info.split()[2]
    return sources


def _skmoe_source():
    """Where skmoe was imported from, and which commit its files are (if any)."""
    package = Path(skmoe.__file__).resolve().parent
    root = Path(__file__).resolve().parent.parent
    where = "this repository" if package == root / "skmoe" else str(package)
    imported = {}
    for path in package.glob("*.py"):
        data = path.read_bytes()
        imported[path.name] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    try:
        head = _git("rev-parse", "--short", "HEAD").strip()
        # The imported files may be those of a recent commit (a snapshot run while
        # HEAD moved on): name it.
        for revision in _git("rev-list", "-n", "30", "HEAD").split():
            if _committed_sources(revision) == imported:
                state = f"the files of commit {revision[:7]}"
                if revision.startswith(head):
                    state += " (HEAD)"
                return f"{skmoe.__version__}, imported from {where}: {state}"
        committed = _committed_sources("HEAD")
    except (OSError, subprocess.CalledProcessError):
        return f"{skmoe.__version__}, imported from {where}"
    differ = sorted(name for name in committed.keys() | imported.keys()
                    if committed.get(name) != imported.get(name))
    return (f"{skmoe.__version__}, imported from {where}: HEAD {head} with changes in "
            f"{', '.join(differ)}")


def machine_info():
    """bench_estep's machine section, with the commit whose files skmoe was imported from."""
    return {**common_machine_info(), "skmoe": _skmoe_source()}


# ------------------------------------------------------------------ reporting
def _mib(n_bytes):
    return f"{n_bytes / 2**20:,.0f}"


def _verdict(met):
    return "**met**" if met else "**missed**"


def profile_section(p):
    total = p["total_s"]
    rows = [[name, f"{seconds:.2f}", f"{100 * seconds / total:.1f}%"]
            for name, seconds in p["groups"]]
    rows.append(["**total (profiled fit)**", f"{total:.2f}", "100%"])
    n_iter = p["n_iter"]
    return f"""## 1. Where the time of one fit goes

`MixtureOfExpertsRegressor(n_experts=4, max_iter={p["max_iter"]}, random_state=0)`,
default `ScaledRidge` experts with cross-fitted noise, on
`make_switching_regression(n_samples={p["n_samples"]:,}, n_features=10, n_experts=4,
random_state=0)`, default threads, one fit under cProfile (the Numba kernels
called through thin Python wrappers so that cProfile sees them). {n_iter} EM iterations,
converged: {p["converged"]}.

{_table(["step", "seconds", "share"], rows)}

* Expert M-step: the default `ScaledRidge` experts (and plain `LinearRegression` ones) on
  dense data are fitted together from their weighted Gram matrices
  (`skmoe._experts._fit_linear_experts`): {p["gram_calls"]} `weighted_grams` passes
  ({p["design_calls"]} calls of the Numba block kernel, each followed by one BLAS product)
  and {p["fold_pass_calls"]} passes fold by fold (`blockwise_fold_sums`: from a run's second
  M-step, the noise's refits take the folds' matrices of the same pass), then
  {p["ridge_solve_calls"]} `fit_scaled_ridges_from_grams` and {p["from_gram_calls"]}
  `fit_from_grams` calls (one stack of experts each); {p["own_fits"]} expert(s) declined by
  the Gram path and fitted on their own (`_fit_one`). Noise refits:
  {p["noise_calls"]} `cross_fitted_ridge_predictions` calls. Their predictions:
  {p["linear_pred_calls"]} `linear_predictions` products. The gate's `_log_proba` ran
  {p["gate_predicts"]} times. Rows with no time: {", ".join(p["empty_rows"]) or "none"}.
* EM bookkeeping outside the expert and gate fits, inside the loop (gate `_log_proba`,
  likelihood M-step, E-step, rest): {p["bookkeeping_loop_s"]:.2f} s,
  **{100 * p["bookkeeping_loop_s"] / total:.1f}%** of the fit; everything outside the expert
  and gate fits (init and validation included): {p["outside_fits_s"]:.2f} s,
  {100 * p["outside_fits_s"] / total:.1f}%.
* Gate M-step: {p["gate_fits"]} L-BFGS runs (at most {EM_LBFGS_ITERATIONS} iterations
  each while the log-likelihood moves, a full solve once it stalls),
  {p["evaluations"]} loss+gradient evaluations ({p["evaluations"] / max(n_iter, 1):.1f} per
  EM iteration), {1e3 * p["evaluation_s"]:.1f} ms each.
* Baseline: one `LinearRegression().fit(X, y, sample_weight=w)` on the same data (one BLAS
  thread, best of several): {p["linear_s"]:.4f} s. The profiled fit is
  {total / p["linear_s"]:,.0f}x that; its {p["expert_m_steps"]} expert M-steps (4 experts
  each) together are {p["experts_s"] / p["linear_s"]:,.1f}x.
"""


def iteration_section(it, repeats):
    first, last = it["iterations"]
    d, g = it["default"], it["solved"]
    rows, converge_rows = [], []
    for name, r in (("default", d), ("solved", g)):
        label = CANDIDATES[name].format(em=EM_LBFGS_ITERATIONS)
        rows.append([label, f"{r['first_s']:.2f}", f"{r['last_s']:.2f}",
                     f"**{r['per_iteration_s']:.3f}**", f"{r['printed_s']:.3f}",
                     f"{r['experts_s']:.3f}", f"{r['noise_s']:.3f}", f"{r['gate_s']:.3f}",
                     f"{r['per_iteration_s'] - r['experts_s'] - r['noise_s'] - r['gate_s']:.3f}",
                     f"{r['x_linear']:.1f}x", f"{r['evaluations']:.1f}",
                     f"{r['lower_bound']:.5f}"])
        c = r["converge"]
        converge_rows.append([label, f"**{c['seconds']:.1f}**", f"{c['init_s']:.1f}",
                              f"**{c['n_iter']}**", str(c["converged"]),
                              f"{(c['seconds'] - c['init_s']) / c['n_iter']:.3f}",
                              f"{c['lower_bound']:.5f}"])
    met = d["per_iteration_s"] < TARGET_ITERATION_S
    dc, gc = d["converge"], g["converge"]
    return f"""## 2. One EM iteration, n = {it["n_samples"]:,}, d = 20, K = 8, one thread

`MixtureOfExpertsRegressor(n_experts=8, max_iter=k, tol=0, random_state=0)`, linear experts
(fitted together from their weighted Gram matrices), on
`make_switching_regression(n_samples={it["n_samples"]:,}, n_features=20, n_experts=8,
random_state=0)`; BLAS limited to one thread (`threadpoolctl`), `numba.set_num_threads(1)`
for the run. Two candidates: the default, whose gate M-step is a generalised-EM step (at
most `skmoe._base.EM_STEP_BUDGET.lbfgs_iterations` = {EM_LBFGS_ITERATIONS} L-BFGS iterations
from the warm start; with `tol=0` the log-likelihood never stalls, so every step is one),
and the gate solved to tolerance at every iteration (what the EM loop did before the
generalised-EM step), simulated by patching `EM_STEP_BUDGET.lbfgs_iterations` to
{SOLVED_EM_STEP_MAX_ITER:,} while that candidate runs (restored after each fit).
Seconds per iteration = (t(k={last}) - t(k={first})) / {last - first}, with t the fit's
seconds minus those of its k-means init (`initial_responsibilities`, timed through a thin
wrapper; scikit-learn's `KMeans` runs OpenMP threads, and its seconds vary by whole
seconds between identical fits on this machine: {d["init_s"]:.2f} s in the shortest
k={first} fit of the default); best of {repeats}
interleaved repeats. The "fit k" columns are whole fits, init included. Cross-check: the mean of the
fit's own timings of iterations 2 to {last} (`verbose=2`, best per iteration). Baseline: one
`LinearRegression().fit` with sample weights on the same data, {it["linear_s"]:.4f} s.
The default experts are `ScaledRidge`, whose noise variances are cross-fitted on 3 folds
from the folds' Gram matrices (`cross_fitted_ridge_predictions`, the "noise refits"
column: each expert solved without each fold, the out-of-fold predictions). The seconds
of the expert fits (`fit_experts`: one Gram pass over X, taken fold by fold from a run's
second M-step so that the refits reuse the folds' matrices, then 8 experts solved from
their sum), of the noise refits and of the gate M-step
(`SoftmaxGate._fit_soft`) per iteration are the same difference, timed through thin
wrappers; gate loss+gradient evaluations are
counted by handing L-BFGS the gate's objective through a thin wrapper. The expert M-step
of the default is {d["experts_s"] / it["linear_s"]:.2f}x one weighted
`LinearRegression.fit` for all 8 experts.

{_table(["candidate", f"fit k={first} (s)", f"fit k={last} (s)", "s / iteration",
         "s / iteration (verbose)", "of which expert fits", "noise refits", "gate M-step",
         "rest",
         "iteration / LinearRegression.fit", "gate evaluations / iteration",
         f"lower bound after {last}"], rows)}

Target: under {TARGET_ITERATION_S} s per iteration with the default: {_verdict(met)}
({d["per_iteration_s"]:.3f} s, {d["per_iteration_s"] / TARGET_ITERATION_S:.2f}x the target;
the gate solved every iteration: {g["per_iteration_s"]:.3f} s,
{g["per_iteration_s"] / max(d["per_iteration_s"], 1e-12):.1f}x the default).
In the fit, one gate loss+gradient evaluation (with what L-BFGS does around it) costs
{1e3 * d["gate_s"] / max(d["evaluations"], 1):.1f} ms (gate M-step seconds / evaluations,
default); the NumPy function `skmoe._gate._soft_cross_entropy` alone takes
{1e3 * it["numpy_eval_s"]:.1f} ms on these data.

A cheaper iteration is no win if the fit needs many more of them: each candidate fitted
once to convergence, `MixtureOfExpertsRegressor(n_experts=8, max_iter={CONVERGE_MAX_ITER},
random_state=0)` (default `tol={dc["tol"]:g}`), same data and threads, init included. With the
default, EM stops only after a solved gate step leaves the change below tol.

{_table(["candidate", "fit to convergence (s)", "of which k-means init (s)", "n_iter_",
         "converged", "s / iteration (init excluded)", "final lower bound"], converge_rows)}

The default converges in {dc["seconds"]:.1f} s against {gc["seconds"]:.1f} s
(**{gc["seconds"] / dc["seconds"]:.2f}x** faster; without the init
{(gc["seconds"] - gc["init_s"]) / max(dc["seconds"] - dc["init_s"], 1e-12):.2f}x), with
{dc["n_iter"]} iterations against {gc["n_iter"]}.
"""


def parallel_section(par):
    rows = [[r["label"], f"{r['n_jobs_1_s']:.2f}", f"{r['n_jobs_2_s']:.2f}",
             f"**{r['ratio']:.2f}x**", r["backend"], "yes" if r["same_fit"] else "no"]
            for r in par["rows"]]
    forest = next(r for r in par["rows"] if r["key"] == "forest")
    loky = next((r for r in par["rows"] if r["key"] == "forest_loky"), None)
    met = forest["ratio"] >= GOAL_PARALLEL or (loky is not None and loky["ratio"] >= GOAL_PARALLEL)
    loky_line = (
        "The ratio with threads reached the goal, so the loky backend was not tried."
        if loky is None else
        "Below the goal with threads, so the same fit was also run inside "
        f"`joblib.parallel_config(backend=\"loky\")` (worker processes): {loky['ratio']:.2f}x."
    )
    return f"""## 3. Experts fitted in parallel, n_jobs=1 against n_jobs=2

`MixtureOfExpertsRegressor(experts, n_experts=4, max_iter={par["max_iter"]}, tol=0,
random_state=0)` on `make_switching_regression(n_samples={par["n_samples"]:,},
n_features=10, n_experts=4, random_state=0)`; n_jobs=1 and n_jobs=2 interleaved, best of
{par["forest_repeats"]} repeat(s) with the forests, {par["linear_repeats"]} with the linear
experts. With one start, forest experts of each M-step are fitted through
`sklearn.utils.parallel.Parallel(n_jobs, prefer="threads")`. Plain `LinearRegression`
experts (the default) no longer go through joblib at all: they are fitted together from
their weighted Gram matrices in the calling thread, so for the "linear (default)" row
n_jobs=2 has nothing to spread over the workers, and its ratio only measures noise (it is
no parallel-experts figure). With `n_init=2` the starts do run in parallel through joblib
(each fits its experts in turn), which the last row measures. The backend column is what
joblib resolves for `prefer="threads"`: threads, unless a `parallel_config` says otherwise.

{_table(["experts", "n_jobs=1 (s)", "n_jobs=2 (s)", "n_jobs=1 / n_jobs=2", "joblib backend",
         "same lower bound"], rows)}

Goal: at least {GOAL_PARALLEL}x with the forest experts: {_verdict(met)}. {loky_line}
Baseline, what two threads get from the machine during this run: two GIL-free
`numpy.sort` calls of 4,000,000 floats in two threads against one after the other,
interleaved with the forest fits: **{par["ceiling"]:.2f}x**.
A forest can fit its rows nearly exactly, so its noise variance is cross-fitted: each
M-step also refits each forest on 10 folds (`cross_fitted_predictions`), whose refits run
on the same `n_jobs` threads as the experts' fits. In the n_jobs=1 forest fit, the
experts' fits and these refits took {par["experts_1_s"]:.1f} s,
{100 * par["expert_share"]:.0f}% of it (timed through thin wrappers); only that part is
spread over the workers (the expert predictions of the likelihood M-step, the gate and
the E-step run serially), which bounds two workers at {par["amdahl"]:.2f}x (Amdahl). With
n_jobs=2 they took {par["experts_2_s"]:.1f} s
({par["experts_1_s"] / max(par["experts_2_s"], 1e-9):.2f}x faster).
"""


def top_k_section(tk, repeats):
    rows = [
        ["`top_k=None` (every expert)", f"{tk['all_s']:.2f}", "1.00x", f"{tk['r2_all']:.4f}"],
        ["`top_k=2`", f"{tk['top2_s']:.2f}", f"**{tk['ratio']:.2f}x**", f"{tk['r2_top2']:.4f}"],
    ]
    met = tk["ratio"] >= GOAL_TOP_K
    return f"""## 4. Sparse top-k prediction, K = {tk["n_experts"]} forest experts

`MixtureOfExpertsRegressor(RandomForestRegressor(n_estimators={tk["n_estimators"]}),
n_experts={tk["n_experts"]}, max_iter={tk["max_iter"]}, tol=0, random_state=0)` fitted once
({tk["fit_s"]:.1f} s, {tk["n_experts_fitted"]} experts kept) on {tk["n_train"]:,} rows of
`make_switching_regression(n_features=10, n_experts={tk["n_experts"]}, random_state=0)`, then
`predict` on {tk["n_test"]:,} held-out rows of the same draw, switching with
`set_params(top_k=...)` on the fitted model. Best of {repeats} interleaved repeats.

{_table(["prediction", "seconds", "speed-up", "R^2 against y"], rows)}

Baseline: the fitted experts alone, without skmoe, each predicting every row
({tk["experts_all_s"]:.2f} s) or only the rows `top_k=2` sends it ({tk["experts_routed_s"]:.2f} s):
**{tk["experts_all_s"] / tk["experts_routed_s"]:.2f}x** is what the experts themselves allow.
Outside the experts, `predict` spends {tk["all_s"] - tk["experts_all_s"]:.2f} s with
`top_k=None` and {tk["top2_s"] - tk["experts_routed_s"]:.2f} s with `top_k=2` (gate,
routing, gathering rows, combining).

Goal: at least {GOAL_TOP_K:.0f}x: {_verdict(met)} (the ideal, each expert costing in
proportion to its rows, is {tk["ideal"]:.0f}x). R^2 changes by
{tk["r2_top2"] - tk["r2_all"]:+.4f}; the largest difference between the two predictions is
{tk["max_abs_diff"]:.3f} (std of y {tk["y_std"]:.3f}). The two most probable experts hold
{100 * tk["gate_mass_top2"]:.1f}% of the gate on average (10th percentile
{100 * tk["gate_mass_top2_p10"]:.1f}%). `score_samples` uses every expert whatever `top_k`.
"""


def _times_x(n_bytes, x_bytes, bold=False):
    if n_bytes is None:
        return "n/a"
    text = f"{n_bytes / x_bytes:.2f}x"
    return f"**{text}**" if bold else text


def _mib_or_na(n_bytes):
    return "n/a" if n_bytes is None else _mib(n_bytes)


def scale_section(sc):
    timed, memory, linear = sc["timed"], sc["memory"], sc["linear"]
    x_bytes = timed["x_bytes"]
    traced = memory["traced_peak"]
    rss = [v for v in (timed["rss_peak"], memory["rss_peak"]) if v is not None]
    met = max([traced, *rss]) <= TARGET_MEMORY_X * x_bytes
    steps = sorted(memory["phases"].items(), key=lambda item: -item[1])
    step_rows = [[name, _mib(peak), f"{peak / x_bytes:.2f}x"] for name, peak in steps]

    def vs_linear(value, base):
        return "n/a" if value is None or not base else f"{value / base:.1f}x"

    mem_rows = [
        ["tracemalloc peak (Python/NumPy allocations)", _mib(traced),
         _times_x(traced, x_bytes, True), _mib(linear["traced_peak"]),
         vs_linear(traced, linear["traced_peak"])],
        ["peak RSS above the RSS before the fit (VmHWM reset)",
         _mib_or_na(timed["rss_peak"]), _times_x(timed["rss_peak"], x_bytes, True),
         _mib_or_na(linear["rss_peak"]), vs_linear(timed["rss_peak"], linear["rss_peak"])],
        ["`getrusage` max RSS, after minus before", _mib(timed["max_rss_delta"]),
         _times_x(timed["max_rss_delta"], x_bytes), _mib(linear["max_rss_delta"]),
         vs_linear(timed["max_rss_delta"], linear["max_rss_delta"])],
        [f"the same two, fit under tracemalloc (max_iter={sc['memory_max_iter']})",
         f"{_mib_or_na(memory['rss_peak'])} / {_mib(memory['max_rss_delta'])}",
         f"{_times_x(memory['rss_peak'], x_bytes)} / "
         f"{_times_x(memory['max_rss_delta'], x_bytes)}", "", ""],
    ]
    iteration_rows = []
    base = sc["per_iteration"][0]
    for r in sc["per_iteration"]:
        per_row = r["seconds"] / r["n_samples"]
        iteration_rows.append([
            f"{r['n_samples']:,}", f"{r['seconds']:.3f}", f"{1e6 * per_row:.2f}",
            f"{per_row / (base['seconds'] / base['n_samples']):.2f}",
            f"{r['linear_s']:.4f}", f"{r['seconds'] / r['linear_s']:.0f}x",
        ])
    iterations = timed["iteration_s"]
    times = [iterations[k] for k in sorted(iterations, key=int)]
    return f"""## 5. Scale: n = {sc["n_samples"]:,}, d = 20, K = 8, linear experts

Each figure of the large fit comes from a fresh subprocess that loads X and y from `.npy`
files, after a warm-up fit; default threads. X is {_mib(x_bytes)} MiB.

One fit, `MixtureOfExpertsRegressor(n_experts=8, max_iter={sc["max_iter"]}, random_state=0)`:
**{timed["seconds"]:.1f} s**, {timed["n_iter"]} iterations, converged: {timed["converged"]}
(iterations took {", ".join(f"{t:.1f}" for t in times)} s, as the fit prints them with
`verbose=2`; the k-means init, `initial_responsibilities` timed through a thin wrapper,
took {timed["init_s"]:.1f} s). Baseline: one weighted `LinearRegression().fit` on the same data,
{linear["seconds"]:.2f} s (one BLAS thread); the fit is
{timed["seconds"] / linear["seconds"]:.0f}x that.

Peak memory of the fit above what the process held before it. The tracemalloc peak is
from a separate fit with `max_iter={sc["memory_max_iter"]}` (the peak is reached within the
first two iterations); the RSS figures are from the timed fit. The workers are started
through a small intermediate Python process: a child inherits its parent's high-water
RSS in `getrusage`, which would hide the fit's peak behind the benchmark's own.
`getrusage`'s max RSS is still a high-water mark over the worker's life (imports,
warm-up, loading X), so its delta can only under-state the fit's peak; resetting the
high-water mark (`/proc/self/clear_refs`) just before the fit gives the peak RSS above the
RSS before it.

{_table(["measure", "MiB", "x size of X", "LinearRegression.fit (MiB)",
         "fit / LinearRegression.fit"], mem_rows)}

Target: peak at most {TARGET_MEMORY_X:.0f}x the size of X: {_verdict(met)}.
Traced peak while each step ran (all traced memory alive at that moment, not the step's
own share), from the tracemalloc fit:

{_table(["step", "traced peak (MiB)", "x size of X"], step_rows)}

### Cost of one EM iteration against n

Mean seconds of EM iterations 2 and 3 (`verbose=2` timings; iteration 1 starts the gate
from zero): fits with `max_iter=3, tol=0` in this process (best of the repeats per
iteration) for the smaller n, the timed fit above for n = {sc["n_samples"]:,}; default
threads. Baseline per n: one weighted `LinearRegression().fit` (one BLAS thread).

{_table(["n", "s / iteration", "us per row", f"per-row cost / n={base['n_samples']:,}",
         "LinearRegression.fit (s)", "iteration / LinearRegression.fit"], iteration_rows)}
"""


def report(args, sections, elapsed, loads, machine, blas):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_rows = [[name, load, f"{at:.0f}"] for name, load, at in loads]
    machine_rows = [[key, f"`{value}`" if key.startswith("$") else value]
                    for key, value in machine.items()]
    body = "\n".join(sections)
    return f"""# bench_fit results

Recorded {date} by `python benchmarks/bench_fit.py{" --quick" if args.quick else ""}`
(total {elapsed:.0f} s). The machine is shared: the load average (1, 5, 15 min) at the start
of each section says how busy it was; ratios within a section are taken in the same run.

{_table(["section", "load average at its start", "started at (s)"], load_rows)}

{body}
## Machine

{_table(["", ""], machine_rows)}

BLAS / OpenMP libraries loaded (`threadpoolctl.threadpool_info()`):

{_table(["user_api", "internal_api", "version", "threads", "architecture", "threading_layer",
         "library"], [list(row.values()) for row in blas])}
"""


# ---------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = benchmark_parser(__doc__, RESULTS)
    parser.add_argument("--sections", default="1,2,3,4,5",
                        help="comma-separated sections to run (default: all)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sections = sorted({int(s) for s in args.sections.split(",")})
    if args.quick:
        args.profile_n, args.iteration_n, args.repeats = 20_000, 20_000, 1
        args.iterations = (1, 3)
        args.parallel_n, args.parallel_trees, args.parallel_iter = 2_000, 10, 2
        args.forest_repeats, args.linear_repeats = 1, 1
        args.top_k_train, args.top_k_test, args.top_k_trees = 1_000, 5_000, 10
        args.scale_n, args.scale_iter, args.small_sizes = 100_000, 3, (1_000, 10_000)
    else:
        args.profile_n, args.iteration_n, args.repeats = 200_000, 200_000, 2
        args.iterations = (1, 4)
        # Forest experts: 4 experts x max_iter x 11 forest fits per MoE fit (the expert
        # and its 10 noise refits), each a second or more on a loaded 2-core machine;
        # 5,000 rows and one repeat keep the run in budget.
        args.parallel_n, args.parallel_trees, args.parallel_iter = 5_000, 50, 2
        args.forest_repeats, args.linear_repeats = 1, 3
        args.top_k_train, args.top_k_test, args.top_k_trees = 5_000, 50_000, 30
        args.scale_n, args.scale_iter, args.small_sizes = 1_000_000, 4, (10_000, 100_000)
    if args.output is None and not args.quick and args.sections == [1, 2, 3, 4, 5]:
        args.output = RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        kind, data_dir, n_experts, max_iter = args.worker
        scale_worker(kind, data_dir, int(n_experts), int(max_iter))
        return 0
    start = time.perf_counter()
    warm_up()
    sections, loads = [], []

    def begin(name):
        loads.append((name, _load_average(), time.perf_counter() - start))
        print(f"{name} (load average {loads[-1][1]})", flush=True)

    if 1 in args.sections:
        begin("1. profile of one fit")
        p = profile_fit(args.profile_n, 20, 5)
        sections.append(profile_section(p))
        print(sections[-1], flush=True)
    if 2 in args.sections:
        begin("2. one EM iteration, one thread")
        it = iteration_cost(args.iteration_n, args.iterations, args.repeats, 5)
        sections.append(iteration_section(it, args.repeats))
        print(sections[-1], flush=True)
    if 3 in args.sections:
        begin("3. parallel experts")
        par = parallel_experts(args.parallel_n, args.parallel_trees, args.parallel_iter,
                               args.forest_repeats, args.linear_repeats)
        sections.append(parallel_section(par))
        print(sections[-1], flush=True)
    if 4 in args.sections:
        begin("4. top-k prediction")
        tk = top_k_prediction(args.top_k_train, args.top_k_test, 16, args.top_k_trees, 1,
                              args.repeats)
        sections.append(top_k_section(tk, args.repeats))
        print(sections[-1], flush=True)
    if 5 in args.sections:
        begin("5. scale")
        sc = scale(args.scale_n, args.scale_iter, 2, args.small_sizes, args.repeats)
        sections.append(scale_section(sc))
        print(sections[-1], flush=True)
    loads.append(("end", _load_average(), time.perf_counter() - start))
    elapsed = time.perf_counter() - start
    text = report(args, sections, elapsed, loads, machine_info(), blas_info())
    print(f"total {elapsed:.0f} s, load average at the end {loads[-1][1]}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
