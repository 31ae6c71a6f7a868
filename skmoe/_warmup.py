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
``python -m skmoe warmup`` runs it after an installation.
"""

import time

from numba import types
from numba.core.registry import CPUDispatcher

from . import _kernels, _linear, _serving_kernels

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
    "soft_cross_entropy_newton": [(_F2, _F2, _F2, _F1, _B, _F2, _F2)],
    "softmax_observed_log_proba": [(_F2, _F2, _I1, _F1, _B, _F1)],
    "penalise_gate_loss": [(_F2, _F, _F2, _F, _B, _F)],
    "penalise_gate_hessian": [(_F2, _I, _F, _F)],
    "weighted_design_block": [(_F2, _F1, _F2, _F1, _F, _I, _I, _F2, _F2)],
    "solve_gram_stack": [(_F3, _B1, _F)],
    "mixture_quantiles": [(_I, _F2, _F2, _F1, _F1, _F1, _F2, _F1, _F, _I, _F2)],
    "top_k_route": [(_F2, _I, _I2, _F2)],
    "softmax_linear_mean": [(_F2, _I1, _F1, _F2, _F1, _I1, _F2, _F1, _I, _F1)],
    "softmax_logistic_proba": [(_F2, _I1, _F1, _F2, _F1, _I1, _F2, _F1, _I, _F2)],
}


#: The modules whose public compiled functions are the estimators' kernels.
KERNEL_MODULES = (_kernels, _linear, _serving_kernels)


def public_kernels():
    """Every public compiled kernel of :data:`KERNEL_MODULES`, by name.

    Returns
    -------
    kernels : dict of str to numba dispatcher
    """
    return {name: kernel for module in KERNEL_MODULES for name, kernel in vars(module).items()
            if isinstance(kernel, CPUDispatcher) and not name.startswith("_")}


def warm_up(verbose=False):
    """Compile every kernel of the estimators, or load it from Numba's cache.

    Safe to call any number of times: a kernel already in memory costs
    nothing, one in the cache is loaded, and only a kernel in neither is
    compiled (and cached for later processes).

    Parameters
    ----------
    verbose : bool, default=False
        Print each kernel with the seconds it took.

    Returns
    -------
    seconds : dict
        Seconds spent on each kernel, by name.
    """
    seconds = {}
    kernels = public_kernels()
    for name, signatures in SIGNATURES.items():
        kernel = kernels[name]
        start = time.perf_counter()
        for signature in signatures:
            kernel.compile(signature)
        seconds[name] = time.perf_counter() - start
        if verbose:
            print(f"{name}: {seconds[name]:.2f} s", flush=True)
    return seconds
