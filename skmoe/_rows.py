"""Hashes of rows: the splitmix64 finaliser, and the exact copies among a fit's rows.

The cross-fitted noise keeps a record given more than once in one fold (see
``skmoe._regressor.noise_folds``): a copy on the other side of the split would be
predicted by a refit that saw the same row, with a residual of zero.
"""

import numpy as np
import scipy.sparse as sp

# The seed of the rows' hashes; any fixed value.
_ROW_SEED = np.uint64(0xC0B1_E5D0)
# Rows hashed at a time (a block of a few hundred kilobytes at 10 columns).
_BLOCK_ROWS = 4096


def splitmix64(values):
    """The splitmix64 finaliser of unsigned 64-bit integers: a bijection whose
    outputs of consecutive inputs look independent."""
    with np.errstate(over="ignore"):
        values = values + np.uint64(0x9E3779B97F4A7C15)
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def repeated_records(X, y):
    """The first row each row repeats, where repeated rows are one record given again.

    Rows with equal inputs (:func:`first_copies` of ``X``) are taken for one
    record given more than once (a data set concatenated with itself, a row
    entered twice) when rows with equal inputs always have equal targets. If
    any two rows have equal inputs and different targets, the inputs are a
    design whose points repeat (discrete columns, repeated measurements), and
    rows equal in both are observations that happen to coincide: every row
    is then its own.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Numeric inputs.
    y : ndarray of shape (n_samples,)
        Numeric targets (or encoded labels).

    Returns
    -------
    first : ndarray of shape (n_samples,) of intp
        The first row each row repeats (``first[i] == i`` for a row that
        repeats none).
    """
    first = first_copies(X)
    target = _bits(y)
    if not np.array_equal(target[first], target):
        return np.arange(first.size)
    return first


def first_copies(X):
    """The first row of which each row of ``X`` is an exact copy.

    Two rows are copies when they are equal as numbers: ``-0.0`` equals
    ``0.0``, a NaN equals a NaN (a missing value in the same place), and in a
    sparse matrix a stored zero equals an absent one. The rows are hashed
    (``O(n d)``), the hashes sorted (``O(n log n)``), and each row compared
    with the first row of its hash: two different rows are never taken for
    copies, even when their hashes collide.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Numeric rows.

    Returns
    -------
    first : ndarray of shape (n_samples,) of intp
        The first row equal to each row: ``first[i] == i`` for a row that no
        earlier row equals, so ``arange(n_samples)`` for rows without copies.
    """
    rows = np.arange(X.shape[0])
    X = _canonical_csr(X) if sp.issparse(X) else np.asarray(X)
    candidates = _first_of_keys(_sparse_keys(X) if sp.issparse(X) else _dense_keys(X))
    if candidates is None:
        return rows
    copies = np.flatnonzero(candidates != rows)
    equal = (_sparse_rows_equal if sp.issparse(X) else _dense_rows_equal)(
        X, copies, candidates[copies])
    rows[copies[equal]] = candidates[copies[equal]]
    return rows


def _first_of_keys(keys):
    """The first position of each position's key; None when no key repeats."""
    # np.unique's first positions take a stable sort, several times slower.
    order = np.argsort(keys)
    ordered = keys[order]
    new = np.ones(keys.size, dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    if new.all():
        return None
    first = np.minimum.reduceat(order, np.flatnonzero(new))
    candidates = np.empty(keys.size, dtype=np.intp)
    candidates[order] = first[np.cumsum(new) - 1]
    return candidates


def _bits(values):
    """The 64 bits of numbers, the same for equal numbers: ``-0.0`` is taken as
    ``0.0`` and every NaN as one NaN; integers and booleans as int64."""
    values = np.asarray(values)
    if values.dtype.kind in "biu":
        return values.astype(np.int64).view(np.uint64)
    # A new array (-0.0 + 0.0 is 0.0), so setting its NaN writes in no input.
    values = np.add(values, 0.0, dtype=np.float64)
    values[np.isnan(values)] = np.nan
    return values.view(np.uint64)


def _column_seeds(n_columns):
    """A hash of each column's index: an entry's hash depends on its column."""
    return splitmix64(np.arange(n_columns, dtype=np.uint64) ^ _ROW_SEED)


def _entries(values, seeds):
    """The hash of each entry of ``values`` (the columns of ``seeds``)."""
    return splitmix64(_bits(values) ^ seeds)


def _dense_keys(X):
    # A row's key: the sum (mod 2**64) of its entries' hashes. Taken over blocks of
    # contiguous rows: a column of X at a time would read all of X once per column.
    seeds = _column_seeds(X.shape[1])
    keys = np.empty(X.shape[0], dtype=np.uint64)
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        keys[block] = _entries(X[block], seeds).sum(axis=1, dtype=np.uint64)
    return splitmix64(keys)


def _dense_rows_equal(X, rows, others):
    """Whether each row of ``rows`` equals the row of ``others`` beside it."""
    equal = np.ones(rows.size, dtype=bool)
    for start in range(0, rows.size, _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        equal[block] &= np.all(_bits(X[rows[block]]) == _bits(X[others[block]]), axis=1)
    return equal


def _canonical_csr(X):
    """A CSR copy of ``X`` in which equal rows store the same entries: duplicate
    entries summed, indices sorted, zeros (and negative zeros) dropped."""
    X = sp.csr_matrix(X, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    return X


def _sparse_keys(X):
    # As _dense_keys, the sum over the stored entries (a zero adds nothing).
    entries = _entries(X.data, _column_seeds(X.shape[1])[X.indices])
    totals = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(entries, dtype=np.uint64)])
    return splitmix64(totals[X.indptr[1:]] - totals[X.indptr[:-1]])


def _sparse_rows_equal(X, rows, others):
    """:func:`_dense_rows_equal` of a canonical CSR matrix (:func:`_canonical_csr`)."""
    lengths = np.diff(X.indptr)
    equal = lengths[rows] == lengths[others]
    # Compare the entries of the pairs that could still be equal, one pair's after another's.
    pairs = np.flatnonzero(equal)
    counts = lengths[rows[pairs]]
    owner = np.repeat(np.arange(pairs.size), counts)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    here = X.indptr[rows[pairs]][owner] + offset
    there = X.indptr[others[pairs]][owner] + offset
    values = _bits(X.data)
    differs = (X.indices[here] != X.indices[there]) | (values[here] != values[there])
    equal[pairs[np.bincount(owner[differs], minlength=pairs.size) > 0]] = False
    return equal
