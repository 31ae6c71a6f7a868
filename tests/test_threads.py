"""run_blocks covers every block once, on as many threads as Numba's setting allows."""

import os
import threading

import numba
import numpy as np
import pytest

from skmoe import _threads
from skmoe._threads import available_cores, n_block_threads, run_blocks


def _record(ranges, lock):
    def kernel(offset, first, last):
        with lock:
            ranges.append((first, last, threading.get_ident(), offset))
    return kernel


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_run_blocks_covers_every_block_once_in_contiguous_ranges(monkeypatch, n_blocks,
                                                                  n_threads):
    monkeypatch.setattr(_threads, "available_cores", lambda: 8)
    monkeypatch.setattr(numba, "get_num_threads", lambda: n_threads)
    ranges, lock = [], threading.Lock()
    run_blocks(_record(ranges, lock), n_blocks, 5)
    ranges.sort()
    assert len(ranges) == min(n_threads, n_blocks)
    assert [first for first, *_ in ranges] == [0] + [last for _, last, *_ in ranges[:-1]]
    assert ranges[-1][1] == n_blocks
    assert all(last > first for first, last, *_ in ranges)
    assert all(offset == 5 for *_, offset in ranges)
    # The first range runs on the calling thread, the others on the pool's.
    assert ranges[0][2] == threading.get_ident()
    assert all(ident != threading.get_ident() for _, _, ident, _ in ranges[1:])


def test_threads_are_numbas_setting_at_most_the_cores_and_the_blocks(monkeypatch):
    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 4)
    assert n_block_threads(100) == 2
    assert n_block_threads(1) == 1
    assert n_block_threads(0) == 1
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
    assert n_block_threads(100) == 1



def test_available_cores_is_the_affinity():
    assert available_cores() == len(os.sched_getaffinity(0))


def test_an_error_in_any_range_is_raised_after_every_range_is_done(monkeypatch):
    monkeypatch.setattr(_threads, "available_cores", lambda: 3)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 3)
    done = np.zeros(3)

    def kernel(first, last):
        done[first] = 1.0
        if first == 2:
            raise ValueError("range 2 failed")

    with pytest.raises(ValueError, match="range 2 failed"):
        run_blocks(kernel, 3)
    np.testing.assert_array_equal(done, [1.0, 1.0, 1.0])
