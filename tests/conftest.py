"""Fixtures shared by the test modules."""

import pytest


@pytest.fixture(scope="session")
def dask_client():
    """A real two-process Dask cluster on this machine, started once for the suite.

    One thread per worker, as the tests of the distributed paths assume
    (each worker sets its Numba and BLAS threads from its own thread count).
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=40)
    client = Client(cluster)
    # Before any task imports Numba on the workers: then each worker runs one
    # Numba thread, its own thread count.
    from skmoe._dask import register_worker_threads

    register_worker_threads(client)
    yield client
    client.close()
    cluster.close()
