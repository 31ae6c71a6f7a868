"""Compile, or load from Numba's cache, every kernel the estimators call, before they call it.

Numba compiles a kernel on its first call with given argument types and
keeps the machine code in its cache (``cache=True``), beside the package's
sources (or in ``NUMBA_CACHE_DIR``): compilation happens once per
installation. Every new process still pays on its first fit for loading the
kernels from that cache and for starting Numba's compiler machinery, which
would otherwise be charged to whatever fit comes first (a timed one, in a
benchmark or in ``compare``).

:func:`warm_up` loads them all at once, with the exact argument types the
estimators use, so that nothing is compiled or loaded later;
``python -m skmoe warmup`` runs it after an installation, compiling in as
many processes as there are cores when the cache is empty.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from numba import types

from . import _kernels

_F1 = types.float64[::1]
_F2 = types.float64[:, ::1]
_F3 = types.float64[:, :, ::1]
_I1 = types.int64[::1]
_I2 = types.int64[:, ::1]
_B1 = types.boolean[::1]
_F, _I, _B = types.float64, types.int64, types.boolean

#: Each kernel the estimators call and the argument types they call it with.
SIGNATURES = {
    "e_step": [(_F2, _F2, _F1, _F2, _F1)],
    "gaussian_log_likelihood": [(_F1, _F2, _F1, _F2)],
    "categorical_log_likelihood": [(_F2, _I1, _I1, _F, _F2, _I)],
    "log_softmax": [(_F2, _F2)],
    "soft_cross_entropy": [(_F2, _F2, _F2, _F1, _B, _F2)],
    "soft_cross_entropy_hessian": [(_F2, _F2, _F1, _B, _F2)],
    "penalise_gate_loss": [(_F2, _F, _F2, _F, _B, _F)],
    "penalise_gate_hessian": [(_F2, _I, _F, _F)],
    "weighted_design_block": [(_F2, _F1, _F2, _F1, _F, _I, _I, _F2, _F2)],
    "solve_grams": [(_F3, _B1, _F)],
    "mixture_quantiles": [(_I, _F2, _F2, _F1, _F1, _F1, _F1, _F, _I, _F2)],
    "top_k_route": [(_F2, _I, _I2, _F2)],
    "vector_exp": [(_F1, _F1)],
    "vector_log": [(_F1, _F1)],
}


# CPU seconds of each kernel's first compilation (benchmarks/results/bench_compile.md):
# how the kernels are shared out between processes.
_COMPILE_SECONDS = {
    "solve_grams": 5.8, "soft_cross_entropy": 4.0, "e_step": 3.1,
    "soft_cross_entropy_hessian": 1.7, "mixture_quantiles": 1.3, "log_softmax": 0.9,
    "categorical_log_likelihood": 0.9, "gaussian_log_likelihood": 0.8, "top_k_route": 0.6,
    "vector_exp": 0.5, "vector_log": 0.5, "weighted_design_block": 0.3,
    "penalise_gate_loss": 0.2, "penalise_gate_hessian": 0.1,
}


def warm_up(verbose=False, n_processes=1, names=None):
    """Compile every kernel of the estimators, or load it from Numba's cache.

    Safe to call any number of times: a kernel already in memory costs
    nothing, one in the cache is loaded, and only a kernel in neither is
    compiled (and cached for later processes).

    Parameters
    ----------
    verbose : bool, default=False
        Print each kernel with the seconds it took.
    n_processes : int, default=1
        When above one and some kernel has no cache file yet, the kernels are
        first compiled into the cache by that many new Python processes, each
        a share of them; this process then loads them all. Compilation runs
        on the calling thread, so this is how it uses several cores.
    names : list of str, default=None
        Only these kernels (None: all of ``SIGNATURES``).

    Returns
    -------
    seconds : dict
        Seconds spent on each kernel in this process, by name.
    """
    names = list(SIGNATURES) if names is None else list(names)
    if n_processes > 1 and not _all_cached(names):
        _compile_in_processes(names, n_processes)
    seconds = {}
    for name in names:
        kernel = getattr(_kernels, name)
        start = time.perf_counter()
        for signature in SIGNATURES[name]:
            kernel.compile(signature)
        seconds[name] = time.perf_counter() - start
        if verbose:
            print(f"{name}: {seconds[name]:.2f} s", flush=True)
    return seconds


def _all_cached(names):
    """Whether every kernel has a cache index file (a cheap sign that it was compiled)."""
    try:
        return all(os.path.exists(getattr(_kernels, name)._cache._cache_file._index_path)
                   for name in names)
    except AttributeError:  # Numba's cache internals moved: compile in processes
        return False


def _shares(names, n_processes):
    """The kernels in ``n_processes`` groups of about equal compile time (costliest first)."""
    groups = [[] for _ in range(n_processes)]
    loads = [0.0] * n_processes
    for name in sorted(names, key=lambda name: -_COMPILE_SECONDS.get(name, 1.0)):
        lightest = loads.index(min(loads))
        groups[lightest].append(name)
        loads[lightest] += _COMPILE_SECONDS.get(name, 1.0)
    return [group for group in groups if group]


def _compile_in_processes(names, n_processes):
    """Compile ``names`` into Numba's cache in new processes, a share each.

    A process that fails leaves its kernels to the caller, which compiles
    what it does not find in the cache.
    """
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    code = "import sys; from skmoe._warmup import warm_up; warm_up(names=sys.argv[1:])"
    processes = [subprocess.Popen([sys.executable, "-c", code, *group], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for group in _shares(names, n_processes)]
    for process in processes:
        process.wait()
