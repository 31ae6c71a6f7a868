"""Compile, or load from Numba's cache, every kernel the estimators call, before they call it.

Numba compiles a kernel on its first call with given argument types and
keeps the machine code in its cache (``cache=True``), beside the package's
sources (or in ``NUMBA_CACHE_DIR``): compilation happens once per
installation. Every new process still pays for loading the kernels from that
cache and for starting Numba's compiler machinery; :func:`load_cached` does
both at ``import skmoe``, so that it is not charged to whatever fit comes
first (a timed one, in a benchmark or in ``compare``).

:func:`warm_up` compiles or loads them all at once, with the exact argument
types the estimators use, so that nothing is compiled or loaded later;
``python -m skmoe warmup`` runs it after an installation, compiling in two
processes at once where the process may run on two cores
(:data:`PROCESS_GROUPS`): Numba compiles on the calling thread, and the
kernels of each group share no compiled helper but ``exp``, ``log`` and the
block counts, so each process compiles its own."""

import json
import os
import subprocess
import sys
import time

from numba import types
from numba.core import sigutils
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import CPUDispatcher

from . import _gate_newton, _gram_kernels, _kernels, _serving_kernels
from ._threads import available_cores

_F1 = types.float64[::1]
_F2 = types.float64[:, ::1]
_F3 = types.float64[:, :, ::1]
_I1 = types.int64[::1]
_I2 = types.int64[:, ::1]
_B1 = types.boolean[::1]
# The gate's null-space projector, shared read-only between M-steps.
_F2_READONLY = types.Array(types.float64, 2, "C", readonly=True)
_F, _I, _B = types.float64, types.int64, types.boolean

#: Each kernel the estimators call and the argument types of its ``serial_kernel``
#: (which, for the serving and quantile kernels, is also what each thread runs on its
#: range of blocks: it takes the first and the last block after the kernel's arguments).
SIGNATURES = {
    "e_step": [(_F2, _F2, _F1, _F2, _F1)],
    "gaussian_log_likelihood": [(_F1, _F2, _F1, _F2)],
    "categorical_log_likelihood": [(_F2, _I1, _I1, _F, _F2, _I)],
    "log_softmax": [(_F2, _F2)],
    "soft_cross_entropy": [(_F2, _F2, _F2, _F1, _B, _F2)],
    "soft_cross_entropy_hessian": [(_F2, _F2, _F1, _B, _F2)],
    "soft_cross_entropy_newton": [(_F2, _F2, _F2, _F1, _B, _F2, _F2)],
    "softmax_observed_log_proba": [(_F2, _F2, _I1, _F1, _B, _F1)],
    "penalise_gate_loss": [(_F2, _F, _F2, _F, _B, _F)],
    "penalise_gate_hessian": [(_F2, _I, _F, _F)],
    "weighted_design_block": [(_F2, _F1, _F2, _F1, _F, _I, _I, _F2, _F2)],
    "solve_gram_stack": [(_F3, _B1, _F)],
    "mixture_quantiles": [(_I, _F2, _F2, _F1, _F1, _F1, _F2, _F1, _F, _I, _F2, _I, _I)],
    "top_k_route": [(_F2, _I, _I2, _F2)],
    "softmax_linear_mean": [(_F2, _I1, _F1, _F2, _F1, _I1, _F2, _F1, _I, _F1, _I, _I)],
    "softmax_logistic_proba": [(_F2, _I1, _F1, _F2, _F1, _I1, _F2, _F1, _I, _F2, _I, _I)],
    "linear_gaussian_m_step": [(_F2, _F1, _F2, _F1, _F1, _F, _B1, _F1, _F, _F2, _F2, _F2, _F2,
                                _F1, _F2, _F2, _F2, _F1, _F1)],
    "newton_step": [(_B, _F1, _F1, _F, _F1, _F2, _F2, _F1, _B, _F, _F, _F2_READONLY, _F, _B,
                     _B, _F1, _F1, _F2, _F2)],
}


#: Kernels compiled in the same process when the warm-up runs in two. A
#: compiled function re-optimises the code of every compiled function it calls,
#: so each group keeps a kernel with its callees: in the new process the gate's
#: loss, gradient and Hessian with every kernel built on their block functions
#: (the small-data Newton step, the Newton systems of the logistic experts, the
#: observed classes' log-probabilities) and the quantiles; in this one the
#: E-step, the serving kernels (which share helpers), the Gram algebra with the
#: prepared linear M-step that calls it (and the Gaussian log-density it ends
#: with) and the rest. The new process starts once this one has imported the
#: kernels' modules (0.4 CPU seconds) and imports them itself (0.3).
PROCESS_GROUPS = (
    ("e_step", "categorical_log_likelihood", "log_softmax", "top_k_route",
     "softmax_linear_mean", "softmax_logistic_proba", "gaussian_log_likelihood",
     "weighted_design_block", "solve_gram_stack", "linear_gaussian_m_step"),
    ("soft_cross_entropy", "soft_cross_entropy_hessian", "penalise_gate_loss",
     "penalise_gate_hessian", "newton_step", "softmax_observed_log_proba",
     "soft_cross_entropy_newton", "mixture_quantiles"),
)

#: The modules whose public compiled functions are the estimators' kernels.
KERNEL_MODULES = (_kernels, _gram_kernels, _gate_newton, _serving_kernels)


def public_kernels():
    """The compiled function behind every public kernel of :data:`KERNEL_MODULES`, by name.

    A public kernel is either compiled itself or a Python function whose
    ``serial_kernel`` is compiled and is, or calls with the same argument
    types, every compiled function that its threaded path calls: compiling
    that one compiles them all.

    Returns
    -------
    kernels : dict of str to numba dispatcher
    """
    kernels = {}
    for module in KERNEL_MODULES:
        for name, kernel in vars(module).items():
            kernel = getattr(kernel, "serial_kernel", kernel)
            if isinstance(kernel, CPUDispatcher) and not name.startswith("_"):
                kernels[name] = kernel
    return kernels


def load_cached():
    """Load every kernel that Numba's cache holds, compiling nothing; at import.

    The first kernel a process loads or compiles makes Numba set up its typing
    and lowering registries (it imports the whole of its NumPy support), and
    each kernel is then loaded from the cache on its first call: together
    about 0.3 s, which the first fit of every new process paid. ``import
    skmoe`` pays it instead. A kernel that is not in the cache is left to be
    compiled on its first call (or by :func:`warm_up`): an import never
    compiles, and a kernel without an index file in the cache costs nothing
    (an empty cache, as in ``python -m skmoe warmup`` after an installation,
    does not set Numba up here: that would delay the warm-up's second process
    by about 0.25 s).

    This is the cache branch of Numba's ``Dispatcher.compile``, without the
    compilation that follows it on a miss; should Numba's internals change,
    nothing is loaded here and the kernels load on first use as before.

    Returns
    -------
    n_loaded : int
        Signatures loaded.
    """
    n_loaded = 0
    try:
        with global_compiler_lock:
            for name, kernel in public_kernels().items():
                if not os.path.exists(kernel._cache._cache_file._index_path):
                    continue
                for signature in SIGNATURES[name]:
                    args, _ = sigutils.normalize_signature(signature)
                    if tuple(args) in kernel.overloads:
                        continue
                    cres = kernel._cache.load_overload(signature, kernel.targetctx)
                    if cres is None:
                        continue
                    kernel.targetctx.insert_user_function(cres.entry_point, cres.fndesc,
                                                          [cres.library])
                    kernel.add_overload(cres)
                    n_loaded += 1
    except (AttributeError, TypeError):  # pragma: no cover - another Numba's internals
        pass
    return n_loaded


def warm_up(verbose=False, processes=1):
    """Compile every kernel of the estimators, or load it from Numba's cache.

    Safe to call any number of times: a kernel already in memory costs
    nothing, one in the cache is loaded, and only a kernel in neither is
    compiled (and cached for later processes).

    Parameters
    ----------
    verbose : bool, default=False
        Print each kernel with the seconds it took.
    processes : int, default=1
        Processes that compile at once, at most ``len(PROCESS_GROUPS)``: with
        two, a new Python process compiles the second group of
        :data:`PROCESS_GROUPS` into the cache while this one compiles the
        first. The second group is then in the cache, not in this process
        (the processes to come load it at ``import skmoe``). Should the other
        process fail, this one compiles what it left.

    Returns
    -------
    seconds : dict
        Seconds spent on each kernel, by name (in the process that compiled
        it).
    """
    processes = max(1, min(int(processes), len(PROCESS_GROUPS)))
    if processes == 1:
        return _warm_names(SIGNATURES, verbose)
    children = [_start_group(group) for group in PROCESS_GROUPS[1:processes]]
    seconds = _warm_names([name for group in PROCESS_GROUPS[:1] for name in group]
                          + [name for group in PROCESS_GROUPS[processes:] for name in group],
                          verbose)
    for child in children:
        out, err = child.communicate()
        if child.returncode == 0:
            report = json.loads(out.splitlines()[-1])
            child_seconds = report["seconds"]
            if verbose:
                for name, value in child_seconds.items():
                    print(f"{name}: {value:.2f} s (other process)", flush=True)
                print(f"the other process: {report['cpu']:.1f} CPU s, its imports included",
                      flush=True)
        else:
            child_seconds = {}
            if verbose:
                print(f"the other warm-up process failed ({err.strip()[-200:]}); "
                      "compiling its kernels here", flush=True)
        seconds.update(child_seconds)
    # What another process left (it failed) is compiled here. What it compiled is
    # in the cache and not loaded here: loading would only add to the wait.
    left = [name for name in SIGNATURES if name not in seconds]
    seconds.update(_warm_names(left, verbose))
    return {name: seconds[name] for name in SIGNATURES}


def command():
    """``python -m skmoe warmup``: :func:`warm_up` in two processes where two cores are there.

    Prints each kernel with its seconds, the CPU seconds of the other process, then
    the count, the wall time and this process's CPU seconds.

    Returns
    -------
    status : int
        0.
    """
    start = time.perf_counter()
    # Numba compiles on the calling thread: a second core needs a second process.
    seconds = warm_up(verbose=True, processes=min(2, available_cores()))
    print(f"{len(seconds)} kernels ready in {time.perf_counter() - start:.1f} s "
          f"({time.process_time():.1f} CPU s in this process, its imports included)")
    return 0


def _warm_names(names, verbose):
    """Compile or load the kernels ``names`` in this process; seconds by name."""
    seconds = {}
    kernels = public_kernels()
    for name in names:
        kernel = kernels[name]
        start = time.perf_counter()
        for signature in SIGNATURES[name]:
            kernel.compile(signature)
        seconds[name] = time.perf_counter() - start
        if verbose:
            print(f"{name}: {seconds[name]:.2f} s", flush=True)
    return seconds


def _start_group(names):
    """A new Python process that compiles ``names``; prints their seconds and its CPU seconds."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    # The same skmoe as this process's: its directory goes first only when this
    # process did not find it on its own path (which the new one inherits).
    if package_parent not in {os.path.abspath(path or os.curdir) for path in sys.path}:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent,
                                                          env.get("PYTHONPATH")]))
    # The package without its __init__, which would load every cached kernel:
    # the kernels' modules are all this process needs.
    code = ("import importlib.util, json, sys, time; "
            "sys.modules['skmoe'] = importlib.util.module_from_spec("
            "importlib.util.find_spec('skmoe')); "
            "from skmoe._warmup import _warm_names; "
            "seconds = _warm_names(sys.argv[1:], verbose=False); "
            "print(json.dumps({'seconds': seconds, 'cpu': time.process_time()}))")
    return subprocess.Popen([sys.executable, "-c", code, *names], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
