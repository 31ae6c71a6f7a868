"""Exact copies among a fit's rows (skmoe._rows) and the noise folds that keep them together."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from skmoe import _rows
from skmoe._regressor import noise_folds
from skmoe._rows import first_copies, repeated_records


def _first_copies_reference(X):
    """Each row's first equal row, by comparing every pair of rows."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    first = np.arange(X.shape[0])
    for i in range(X.shape[0]):
        for j in range(i):
            if np.all((X[i] == X[j]) | (np.isnan(X[i]) & np.isnan(X[j]))):
                first[i] = j
                break
    return first


def _rows_with_copies(seed=0):
    """60 rows of small integers (rows repeat by chance), with planted copies."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, size=(60, 3)).astype(float)
    X[4], X[5] = 0.0, -0.0  # zeros and negative zeros
    X[7, 1] = X[9, 1] = np.nan  # missing values in the same place
    X[9] = X[7]
    X[11] = X[12] = X[13] = [5.0, 5.0, 5.0]
    X[13, 2] = np.nextafter(5.0, 6.0)  # one ulp from a copy
    return X


@pytest.mark.parametrize("to_sparse", [False, True])
def test_first_copies_equals_comparing_every_pair_of_rows(to_sparse):
    X = _rows_with_copies()
    first = first_copies(sp.csr_matrix(X) if to_sparse else X)
    assert_array_equal(first, _first_copies_reference(X))
    assert first[5] == first[4] and first[9] == 7 and first[12] == 11 and first[13] == 13
    assert 0 < np.count_nonzero(first != np.arange(60)) < 40


def test_first_copies_of_a_sparse_matrix_ignores_how_its_entries_are_stored():
    X = np.nan_to_num(_rows_with_copies(1), nan=2.0)
    stored = sp.coo_matrix(X)
    # The same matrix, each entry split in two and a zero stored explicitly.
    halves = sp.coo_matrix((np.r_[stored.data / 2, stored.data / 2, 0.0],
                            (np.r_[stored.row, stored.row, 1], np.r_[stored.col, stored.col, 2])),
                           shape=X.shape)
    assert_array_equal(first_copies(halves.tocsr()), _first_copies_reference(X))


@pytest.mark.parametrize("to_sparse", [False, True])
def test_rows_whose_hashes_collide_are_not_taken_for_copies(monkeypatch, to_sparse):
    X = np.nan_to_num(_rows_with_copies(2), nan=3.0)
    # Every row the same key: only the comparison of the rows decides.
    monkeypatch.setattr(_rows, "splitmix64", lambda values: np.zeros_like(values))
    first = first_copies(sp.csr_matrix(X) if to_sparse else X)
    expected = _first_copies_reference(X)
    # A row is a copy of the first row of all (the first of its key) or of none.
    assert_array_equal(first, np.where(expected == 0, 0, np.arange(60)))


def test_first_copies_of_integer_and_float32_columns():
    X = np.nan_to_num(_rows_with_copies(3), nan=4.0)[:, :2]
    expected = _first_copies_reference(X)
    assert_array_equal(first_copies(X.astype(np.int64)), expected)
    assert_array_equal(first_copies(X.astype(np.float32)), expected)


def test_first_copies_leaves_its_input_unchanged():
    X = _rows_with_copies(4)
    X_sparse = sp.csr_matrix(np.nan_to_num(X))
    X_sparse.data[:3] = -0.0
    before = (X.copy(), X_sparse.copy())
    first_copies(X)
    first_copies(X_sparse)
    assert_array_equal(X, before[0])
    assert_array_equal(X_sparse.data, before[1].data)
    assert X_sparse.nnz == before[1].nnz


def test_repeated_rows_are_records_only_where_equal_inputs_have_equal_targets():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 3))
    X[40:] = X[:10]
    y = rng.normal(size=50)
    y[40:] = y[:10]
    assert_array_equal(repeated_records(X, y), np.r_[np.arange(40), np.arange(10)])
    # One repeated point with another target: the inputs are a design whose points
    # repeat, and no row is taken for another's copy.
    y[49] += 1.0
    assert_array_equal(repeated_records(X, y), np.arange(50))
    # Labels of a classifier alike.
    labels = (y > 0).astype(np.int64)
    labels[49] = labels[9]
    assert_array_equal(repeated_records(X, labels)[40:], np.arange(10))


@pytest.mark.parametrize("n_folds", [3, 10])
def test_noise_folds_of_rows_without_copies_are_the_positional_folds(n_folds):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(500, 4)), rng.normal(size=500)
    assert_array_equal(noise_folds(500, n_folds, X, y), noise_folds(500, n_folds))
    # Repeated inputs with other targets: a design whose points repeat, unchanged too.
    X[250:] = X[:250]
    assert_array_equal(noise_folds(500, n_folds, X, y), noise_folds(500, n_folds))
    # Two binary inputs and noisy labels: most rows equal others in inputs and label,
    # but a point carries both labels. Held out together, a point's rows of one label
    # would be predicted by refits that never saw that label there (a tree
    # classifier's label noise was 1.0 then, 0.07 with these folds).
    X = rng.integers(0, 2, size=(500, 2)).astype(float)
    labels = np.where(rng.random(500) < 0.85, X[:, 0], 1 - X[:, 0]).astype(np.int64)
    assert_array_equal(noise_folds(500, n_folds, X, labels), noise_folds(500, n_folds))


@pytest.mark.parametrize("n_folds", [3, 10])
def test_a_copy_takes_the_fold_of_its_first_row_and_no_other_row_moves(n_folds):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(400, 4)), rng.normal(size=400)
    X[300], y[300] = X[17], y[17]
    folds, positional = noise_folds(400, n_folds, X, y), noise_folds(400, n_folds)
    assert folds[300] == positional[17]
    assert set(np.flatnonzero(folds != positional)) <= {300}


def test_data_given_twice_have_the_folds_of_the_data_given_once():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(301, 6)), rng.normal(size=301)
    X_sparse = sp.csr_matrix(np.where(X > -1.0, X, 0.0))
    for rows in (X, X_sparse):
        twice = noise_folds(602, 10, sp.vstack([rows, rows]) if sp.issparse(rows)
                            else np.vstack([rows, rows]), np.r_[y, y])
        assert_array_equal(twice, np.tile(noise_folds(301, 10), 2))
