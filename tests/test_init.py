"""Initial responsibilities: valid rows, and every start different."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmoe._init import initial_responsibilities
from skmoe.datasets import make_switching_regression


@pytest.fixture
def data():
    X, y = make_switching_regression(300, 2, 3, random_state=0)
    return X, y, np.ones(300)


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_rows_are_probabilities(data, init):
    X, y, w = data
    resp = initial_responsibilities(init, X, y, w, 3, 0, np.random.RandomState(0))
    assert resp.shape == (300, 3)
    assert np.all(resp >= 0)
    assert_allclose(resp.sum(axis=1), 1.0)


def test_kmeans_first_start_clusters_standardised_x_and_y():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1)) * 1e6
    # Two groups separated only in y: without standardisation X's scale would hide them.
    y = np.r_[np.zeros(100), np.full(100, 1e-6)] + rng.normal(scale=1e-9, size=200)
    resp = initial_responsibilities("kmeans", X, y, np.ones(200), 2, 0, rng)
    labels = resp.argmax(axis=1)
    assert len(set(labels[:100])) == 1 and len(set(labels[100:])) == 1
    assert labels[0] != labels[-1]


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_each_start_differs(data, init):
    X, y, w = data
    rng = np.random.RandomState(0)
    starts = [initial_responsibilities(init, X, y, w, 3, s, rng) for s in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            assert not np.array_equal(starts[a], starts[b])


def test_array_first_start_as_given_later_starts_perturbed(data):
    X, y, w = data
    given = np.random.RandomState(1).dirichlet([1, 1, 1], size=300)
    rng = np.random.RandomState(0)
    first = initial_responsibilities(given, X, y, w, 3, 0, rng)
    later = initial_responsibilities(given, X, y, w, 3, 1, rng)
    assert_array_equal(first, given)
    assert not np.allclose(later, given)
    assert_allclose(later.sum(axis=1), 1.0)


def test_kmeans_respects_zero_weights():
    X = np.r_[np.zeros((50, 1)), np.full((50, 1), 10.0), np.full((5, 1), 100.0)]
    y = X[:, 0].copy()
    w = np.r_[np.ones(100), np.zeros(5)]
    resp = initial_responsibilities("kmeans", X, y, w, 2, 0, np.random.RandomState(0))
    labels = resp.argmax(axis=1)
    # The far rows carry no weight, so they do not get a cluster of their own.
    assert labels[0] != labels[50]


def test_kmeans_on_many_rows_finds_centres_on_a_subset(monkeypatch):
    from sklearn.cluster import KMeans

    import skmoe._init

    monkeypatch.setattr(skmoe._init, "KMEANS_MAX_ROWS", 200)
    fitted_rows = []
    original = KMeans.fit

    def spy(self, X, *args, **kwargs):
        fitted_rows.append(X.shape[0])
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(KMeans, "fit", spy)
    rng = np.random.RandomState(0)
    # Three well separated groups of 400 rows each.
    X = np.repeat([[0.0], [10.0], [20.0]], 400, axis=0) + rng.normal(size=(1200, 1))
    y = X[:, 0].copy()
    resp = initial_responsibilities("kmeans", X, y, np.ones(1200), 3, 0,
                                    np.random.RandomState(1))
    assert fitted_rows == [200]
    # Every row is assigned, and the partition is the true one.
    assert resp.shape == (1200, 3)
    labels = resp.argmax(axis=1)
    groups = [set(labels[i * 400:(i + 1) * 400]) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    # The subset is drawn by the start's generator: the same seed, the same start.
    again = initial_responsibilities("kmeans", X, y, np.ones(1200), 3, 0,
                                     np.random.RandomState(1))
    assert_array_equal(resp, again)
