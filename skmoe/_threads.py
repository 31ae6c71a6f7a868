"""Blocks of a large kernel call run on a pool of Python threads.

The kernels are compiled serially (no ``parallel=True``): Numba's parallel
lowering of a ``prange`` loop recompiles everything the loop calls into a
function of its own, which took most of their compilation time, and its
OpenMP threads spin at their barriers on a machine whose cores are taken by
other processes. A large call is instead cut into contiguous ranges of its
row blocks, one range per thread: the calling thread runs the first range and
threads of a shared pool the others. The kernels release the GIL
(``nogil=True``), so the ranges run at the same time; a waiting thread sleeps
instead of spinning. The blocks themselves do not depend on the number of
threads, and the kernels sum their results in block order afterwards, so a
result has the same bits whatever the number of threads.

The number of threads is Numba's setting for the calling thread
(``numba.get_num_threads()``, which ``NUMBA_NUM_THREADS``,
``numba.set_num_threads`` and :func:`skmoe._kernels.kernel_threads` set),
at most one per block range and never more than the cores this process may
run on.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba

_POOL = None
_POOL_LOCK = threading.Lock()


def available_cores():
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows
        return os.cpu_count() or 1


def _pool():
    """The shared worker threads, started on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # Several callers (EM starts on joblib threads) may share the pool at
            # once; its workers never wait on it, so a full pool only queues.
            _POOL = ThreadPoolExecutor(max_workers=max(1, available_cores()),
                                       thread_name_prefix="skmoe-kernel")
        return _POOL


def n_block_threads(n_blocks):
    """Threads a call over ``n_blocks`` blocks runs on (at least one)."""
    return max(1, min(numba.get_num_threads(), available_cores(), n_blocks))


def run_blocks(kernel, n_blocks, *args):
    """Call ``kernel(*args, first, last)`` on ranges of ``range(n_blocks)`` that cover it.

    ``kernel`` must release the GIL and write each block's results to its own
    place. Returns when every range is done; an exception in any range is
    raised here.

    Parameters
    ----------
    kernel : callable
        A compiled function over blocks ``first`` to ``last - 1``.
    n_blocks : int
        Number of blocks.
    *args
        The kernel's arguments before ``first`` and ``last``.
    """
    n_threads = n_block_threads(n_blocks)
    bounds = [n_blocks * t // n_threads for t in range(n_threads + 1)]
    if n_threads == 1:
        kernel(*args, 0, n_blocks)
        return
    pool = _pool()
    futures = [pool.submit(kernel, *args, bounds[t], bounds[t + 1])
               for t in range(1, n_threads)]
    try:
        kernel(*args, bounds[0], bounds[1])
    finally:
        # Never return while a range may still write into the caller's arrays.
        wait(futures)
    for future in futures:
        future.result()
