"""A fit on sparse rows is the fit on the same rows dense, where the dense copy is small.

Before, a sparse X sent the gate to L-BFGS on uncentred columns and logistic
experts to their own solver (tolerance 1e-4, a cold start each M-step): EM then
stopped elsewhere, and the two fits of the same data ended apart (class
probabilities by up to 0.44, predictions by 2% of y's spread).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

import skmoe._base
import skmoe._logistic
from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, SoftmaxGate


def _sparse_rows(n_samples, seed):
    """Overlapping regimes in unequal shares, half of the entries zero, an outlier."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 6))
    X[rng.uniform(size=X.shape) < 0.5] = 0.0
    regime = (X[:, 0] + 0.8 * rng.normal(size=n_samples) > 0.6).astype(int)
    slopes = np.array([[1.0, -2.0, 0.5, 0, 0, 0], [-1.5, 0.5, 0, 2.0, 0, 0]])
    mean = np.einsum("ij,ij->i", X, slopes[regime]) + 4.0 * regime
    y = mean + rng.standard_t(4, size=n_samples)
    y[0] += 25.0
    return X, y


def _classes(X, seed):
    rng = np.random.RandomState(seed)
    scores = X[:, :3] @ rng.normal(size=(3, 3)) + rng.gumbel(size=(X.shape[0], 3))
    scores[:, 2] -= 1.0  # unequal shares
    return scores.argmax(axis=1)


def _same_fit(model, X, y, predict):
    # Equal but for rounding: sparse and dense products sum in different orders,
    # and EM carries the last bits through its iterations.
    dense = model.fit(X, y)
    expected = (dense.lower_bound_, dense.n_iter_, predict(dense, X))
    sparse = model.fit(sp.csr_matrix(X), y)
    assert sparse.n_iter_ == expected[1]
    assert_allclose(sparse.lower_bound_, expected[0], rtol=1e-9)
    for rows in (X, sp.csr_matrix(X)):
        assert_allclose(predict(sparse, rows), expected[2], rtol=1e-7, atol=1e-7)
    return sparse


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("gate_features", [None, [0, 2]], ids=["all columns", "two columns"])
def test_classifier_fit_on_sparse_rows_is_the_dense_fit(seed, gate_features):
    X, _ = _sparse_rows(600, seed)
    model = MixtureOfExpertsClassifier(n_experts=2, gate_features=gate_features,
                                       random_state=seed)
    fitted = _same_fit(model, X, _classes(X, seed), lambda m, rows: m.predict_proba(rows))
    assert fitted.gate_scaler_.with_mean


@pytest.mark.parametrize("noise", ["gaussian", "student_t"])
def test_regressor_fit_on_sparse_rows_is_the_dense_fit(noise):
    X, y = _sparse_rows(500, 2)
    model = MixtureOfExpertsRegressor(n_experts=2, noise=noise, random_state=0)
    _same_fit(model, X, y, lambda m, rows: m.predict(rows))


def test_wide_sparse_rows_keep_the_sparse_path(monkeypatch):
    # Beyond the dense copy's limit the gate trains on uncentred sparse columns
    # and the logistic experts by their own solver; the fit still predicts the
    # same for sparse and dense rows.
    monkeypatch.setattr(skmoe._base, "DENSE_COPY_MAX_ENTRIES", 0)
    monkeypatch.setattr(skmoe._logistic, "DENSE_COPY_MAX_ENTRIES", 0)
    X, _ = _sparse_rows(400, 3)
    y = _classes(X, 3)
    model = MixtureOfExpertsClassifier(n_experts=2, random_state=0)
    model.fit(sp.csr_matrix(X), y)
    assert not model.gate_scaler_.with_mean
    assert all(expert.n_iter_[0] > 1 for expert in model.experts_)
    assert_allclose(model.predict_proba(sp.csr_matrix(X)), model.predict_proba(X),
                    rtol=1e-12, atol=1e-12)


def test_sparse_gate_columns_stay_sparse_where_newton_would_not_be_taken():
    # solver="auto" takes Newton's method on 2 (30 + 1) = 62 gate parameters while
    # rows * 62**2 <= 2e7 (5,202 rows); beyond, L-BFGS, which takes sparse columns
    # at the cost of their non-zero entries, and they are not made dense.
    rng = np.random.RandomState(0)
    for n_samples, dense in [(5_202, True), (5_203, False)]:
        X = sp.random(n_samples, 30, density=0.1, format="csr", random_state=rng)
        y = np.asarray(X[:, 0].todense()).ravel() + rng.normal(size=n_samples)
        model = MixtureOfExpertsRegressor(n_experts=2, max_iter=2, random_state=0)
        with pytest.warns(ConvergenceWarning):
            model.fit(X, y)
        assert model.gate_scaler_.with_mean is dense
    # A gate asked for L-BFGS keeps sparse columns.
    model = MixtureOfExpertsRegressor(n_experts=2, gate=SoftmaxGate(solver="lbfgs"),
                                      max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X[:500], y[:500])
    assert not model.gate_scaler_.with_mean
