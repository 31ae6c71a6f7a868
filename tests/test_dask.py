"""Exact EM on Dask collections: the same fit as in memory, predictions block by block."""

import contextlib

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, ScaledRidge
from skmoe.datasets import make_switching_regression

N_ROWS, CHUNK = 3000, 750


@pytest.fixture(scope="module")
def data():
    X, y = make_switching_regression(n_samples=N_ROWS, n_experts=2, random_state=0)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)


@pytest.fixture(scope="module")
def dask_data(data, dask_client):
    """The same rows as Dask arrays held by the cluster's workers."""
    X, y = data
    X_d = da.from_array(X, chunks=(CHUNK, -1)).persist()
    y_d = da.from_array(y, chunks=CHUNK).persist()
    return X_d, y_d


def _coefficients(model):
    return np.array([np.append(np.ravel(e.coef_), e.intercept_) for e in model.experts_])


@pytest.mark.parametrize("experts, noise_variance", [
    (LinearRegression(), "auto"),
    (Ridge(alpha=5.0), "in_sample"),
    (ScaledRidge(alpha=10.0), "in_sample"),
])
def test_dask_fit_equals_in_memory_fit_from_the_same_responsibilities(
        data, dask_data, experts, noise_variance):
    X, y = data
    X_d, y_d = dask_data
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=N_ROWS)
    params = dict(experts=experts, n_experts=2, init=init, tol=1e-12, max_iter=500,
                  noise_variance=noise_variance)
    memory = MixtureOfExpertsRegressor(**params).fit(X, y)
    distributed = MixtureOfExpertsRegressor(**params).fit(X_d, y_d)
    assert memory.converged_ and distributed.converged_
    assert_allclose(distributed.score_samples(X, y).mean(), memory.score_samples(X, y).mean(),
                    rtol=0, atol=1e-8)
    assert_allclose(distributed.lower_bound_, memory.lower_bound_, rtol=0, atol=1e-8)
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-6)
    assert_allclose(distributed.noise_variance_, memory.noise_variance_, rtol=1e-6)
    assert_allclose(distributed.predict_gate(X), memory.predict_gate(X), rtol=0, atol=1e-6)


# Blocks of unequal sizes whose boundaries (700, 1700, 2200) fall inside groups of
# three consecutive rows, the groups of the noise folds.
UNEQUAL_CHUNKS = (700, 1000, 500, 800)


@pytest.mark.parametrize("scheduler", ["cluster", "synchronous"])
@pytest.mark.parametrize("params", [
    dict(),
    dict(noise_variance="cross_fitted"),
    dict(experts=ScaledRidge(alpha=10.0, fit_intercept=False)),
    dict(experts=[ScaledRidge(alpha=10.0), ScaledRidge(alpha=3.0, fit_intercept=False)],
         noise_variance="cross_fitted"),
])
def test_default_regressor_on_dask_cross_fits_the_noise_as_in_memory(
        data, dask_client, scheduler, params):
    X, y = data
    X_d = da.from_array(X, chunks=(UNEQUAL_CHUNKS, -1))
    y_d = da.from_array(y, chunks=(UNEQUAL_CHUNKS,))
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=N_ROWS)
    params = dict(params, init=init, tol=1e-12, max_iter=500, random_state=0)
    if not isinstance(params.get("experts"), list):
        params["n_experts"] = 2
    memory = MixtureOfExpertsRegressor(**params).fit(X, y)
    with (dask.config.set(scheduler="sync") if scheduler == "synchronous"
          else contextlib.nullcontext()):
        distributed = MixtureOfExpertsRegressor(**params).fit(X_d, y_d)
    assert memory.converged_ and distributed.converged_
    assert distributed.n_iter_ == memory.n_iter_
    assert_allclose(distributed.score_samples(X, y).mean(), memory.score_samples(X, y).mean(),
                    rtol=0, atol=1e-8)
    assert_allclose(distributed.lower_bound_, memory.lower_bound_, rtol=0, atol=1e-8)
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-6)
    assert_allclose(distributed.noise_variance_, memory.noise_variance_, rtol=1e-6)
    # The noise is the cross-fitted one: in sample it is smaller by far more than
    # the tolerance above.
    in_sample = MixtureOfExpertsRegressor(**dict(params, noise_variance="in_sample")).fit(X, y)
    assert np.all(distributed.noise_variance_ > (1 + 1e-3) * in_sample.noise_variance_)


def test_dask_cross_fitted_noise_with_weights_and_a_fold_without_weight(data, dask_client):
    # One M-step from one-hot responsibilities: expert 1 is responsible for rows of
    # fold 0 only, so its refit without fold 0 has no weight and the expert itself
    # predicts those rows, as in memory. Zero weights on the first rows too.
    from skmoe._regressor import noise_folds

    X, y = data
    folds = noise_folds(N_ROWS)
    init = np.zeros((N_ROWS, 2))
    only_fold_0 = (folds == 0) & (X[:, 0] > 0)
    init[only_fold_0, 1] = 1.0
    init[~only_fold_0, 0] = 1.0
    weight = np.random.RandomState(2).uniform(0.5, 2.0, size=N_ROWS)
    weight[:40] = 0.0
    params = dict(n_experts=2, init=init, max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning):
        memory = MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=weight)
    with pytest.warns(ConvergenceWarning) as caught:
        distributed = MixtureOfExpertsRegressor(**params).fit(
            da.from_array(X, chunks=(UNEQUAL_CHUNKS, -1)),
            da.from_array(y, chunks=(UNEQUAL_CHUNKS,)),
            sample_weight=da.from_array(weight, chunks=(UNEQUAL_CHUNKS,)))
    # At the line that called fit.
    assert {w.filename for w in caught if w.category is ConvergenceWarning} == {__file__}
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-6)
    assert_allclose(distributed.noise_variance_, memory.noise_variance_, rtol=1e-6)
    # Expert 1's noise: its out-of-fold residuals are its own in-sample residuals on
    # fold 0 (the only rows it has weight on).
    expert = distributed.experts_[1]
    rows = only_fold_0 & (weight > 0)
    own = np.sum(weight[rows] * (y[rows] - expert.predict(X[rows])) ** 2) / weight[rows].sum()
    assert distributed.noise_variance_[1] == pytest.approx(own, rel=1e-6)


def test_cross_fitted_noise_on_dask_is_refused_for_experts_other_than_scaled_ridge(dask_data):
    X_d, y_d = dask_data
    model = MixtureOfExpertsRegressor([ScaledRidge(), LinearRegression()],
                                      noise_variance="cross_fitted")
    with pytest.raises(ValueError, match=r"noise_variance='cross_fitted' on a Dask collection "
                                         r"applies to ScaledRidge experts only .*expert 1 is "
                                         r"LinearRegression"):
        model.fit(X_d, y_d)
    assert not hasattr(model, "experts_")


def test_dask_fit_with_an_init_held_by_the_cluster_and_weights(data, dask_data):
    X, y = data
    X_d, y_d = dask_data
    rng = np.random.RandomState(1)
    init = rng.dirichlet(np.ones(2), size=N_ROWS)
    weight = rng.uniform(0.5, 2.0, size=N_ROWS)
    params = dict(experts=LinearRegression(), n_experts=2, tol=1e-12, max_iter=500)
    memory = MixtureOfExpertsRegressor(init=init, **params).fit(X, y, sample_weight=weight)
    distributed = MixtureOfExpertsRegressor(
        init=da.from_array(init, chunks=(CHUNK, -1)), **params).fit(
        X_d, y_d, sample_weight=da.from_array(weight, chunks=CHUNK))
    assert_allclose(distributed.log_likelihood(X, y, weight) / N_ROWS,
                    memory.log_likelihood(X, y, weight) / N_ROWS, rtol=0, atol=1e-8)
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-6)


def test_default_init_best_of_starts_is_as_good_as_in_memory(data, dask_data):
    X, y = data
    X_d, y_d = dask_data
    params = dict(n_experts=2, n_init=2, random_state=0, noise_variance="in_sample")
    memory = MixtureOfExpertsRegressor(**params).fit(X, y)
    distributed = MixtureOfExpertsRegressor(**params).fit(X_d, y_d)
    assert len(distributed.init_lower_bounds_) == 2
    assert (distributed.score_samples(X, y).mean()
            >= memory.score_samples(X, y).mean() - 1e-4)


def test_dask_dataframe_input_keeps_feature_names(data, dask_client):
    X, y = data
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    X_dd = dd.from_pandas(frame, npartitions=3)
    y_dd = dd.from_pandas(pd.Series(y, name="y"), npartitions=3)
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=N_ROWS)
    params = dict(experts=LinearRegression(), n_experts=2, init=init, tol=1e-12, max_iter=500)
    memory = MixtureOfExpertsRegressor(**params).fit(frame, y)
    distributed = MixtureOfExpertsRegressor(**params).fit(X_dd, y_dd)
    assert list(distributed.feature_names_in_) == list(frame.columns)
    prediction = distributed.predict(X_dd)
    assert isinstance(prediction, da.Array)
    assert_allclose(prediction.compute(), memory.predict(frame), rtol=0, atol=1e-6)


def test_predictions_on_dask_collections_are_dask_arrays_block_by_block(data, dask_data):
    X, y = data
    X_d, y_d = dask_data
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    for name, args in [("predict", ()), ("predict_gate", ()), ("score_samples", (y_d,))]:
        result = getattr(model, name)(X_d, *args)
        assert isinstance(result, da.Array), name
        assert result.chunks[0] == X_d.chunks[0]
        expected = getattr(model, name)(X, *[y for _ in args])
        assert_allclose(result.compute(), expected, rtol=1e-12, atol=1e-12)
    mean, std = model.predict(X_d, return_std=True)
    assert isinstance(mean, da.Array) and isinstance(std, da.Array)
    expected_mean, expected_std = model.predict(X, return_std=True)
    assert_allclose(mean.compute(), expected_mean, rtol=1e-12, atol=1e-12)
    assert_allclose(std.compute(), expected_std, rtol=1e-12, atol=1e-12)
    labels = (y > np.median(y)).astype(int)
    classifier = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(
        X, labels)
    proba = classifier.predict_proba(X_d)
    assert isinstance(proba, da.Array)
    assert_allclose(proba.compute(), classifier.predict_proba(X), rtol=1e-12, atol=1e-12)
    assert_allclose(classifier.predict(X_d).compute(), classifier.predict(X))


def test_predictions_on_uneven_blocks_and_blocks_of_some_columns(data):
    # A fit takes X chunked along its columns (it rechunks them); predictions ended in
    # "IndexError: tuple index out of range", one delayed block per chunk of columns.
    X, y = data
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    labels = (y > np.median(y)).astype(int)
    classifier = MixtureOfExpertsClassifier(n_experts=2, max_iter=20, random_state=0).fit(
        X, labels)
    rows = (1, 0, 1499, 1500)  # one row, none, and uneven ones
    X_d = da.from_array(X, chunks=(rows, 1))
    y_d = da.from_array(y, chunks=(rows,))
    with dask.config.set(scheduler="synchronous"):
        for estimator, name, args in [(model, "predict", ()), (model, "predict_gate", ()),
                                      (model, "score_samples", (y_d,)),
                                      (classifier, "predict_proba", ()),
                                      (classifier, "predict", ())]:
            result = getattr(estimator, name)(X_d, *args)
            # The block of no rows is left out of the result (da.concatenate drops it).
            assert result.chunks[0] == (1, 1499, 1500), name
            expected = getattr(estimator, name)(X, *[y for _ in args])
            assert_allclose(result.compute(), expected, rtol=1e-12, atol=1e-12)
        mean, std = model.predict(X_d, return_std=True)
        assert_allclose(std.compute(), model.predict(X, return_std=True)[1], rtol=1e-12)


def test_expert_without_a_sum_over_rows_is_named(dask_data):
    X_d, y_d = dask_data
    model = MixtureOfExpertsRegressor([LinearRegression(), DecisionTreeRegressor()],
                                      n_experts=2)
    with pytest.raises(TypeError, match=r"Expert 1 \(DecisionTreeRegressor\) has no M-step "
                                        "that is a sum over rows and no partial_fit"):
        model.fit(X_d, y_d)
    assert not hasattr(model, "experts_")


def test_nan_in_a_dask_array_is_refused(data):
    X, y = data
    X = X.copy()
    X[5, 0] = np.nan
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match=r"Input X contains NaN or infinity \(1 entries"):
            MixtureOfExpertsRegressor(n_experts=2, noise_variance="in_sample").fit(
                da.from_array(X, chunks=(CHUNK, -1)), da.from_array(y, chunks=CHUNK))


def test_unknown_chunk_sizes_are_refused_with_the_fix(data):
    X, y = data
    X_d = da.from_array(X, chunks=(CHUNK, -1))
    y_d = da.from_array(y, chunks=CHUNK)
    keep = y_d > -np.inf
    with pytest.raises(ValueError, match=r"X is a Dask array with unknown chunk sizes .* call "
                                         r"X.compute_chunk_sizes\(\) first"):
        MixtureOfExpertsRegressor(n_experts=2).fit(X_d[keep], y_d)


def test_mismatched_chunks_of_X_and_y_are_refused(data):
    X, y = data
    with pytest.raises(ValueError, match=r"y's row chunks \(1000, 1000, 1000\) differ from X's "
                                         r"\(750, 750, 750, 750\).*y.rechunk"):
        MixtureOfExpertsRegressor(n_experts=2).fit(da.from_array(X, chunks=(CHUNK, -1)),
                                                   da.from_array(y, chunks=1000))


def test_skmoe_imports_without_dask():
    import subprocess
    import sys

    code = ("import sys; sys.modules['dask'] = None; import skmoe; "
            "print('dask' in [m.split('.')[0] for m in sys.modules if sys.modules[m]])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_experts_with_partial_fit_stream_through_the_blocks(data, dask_data):
    from sklearn.linear_model import SGDRegressor

    X, y = data
    X_d, y_d = dask_data
    params = dict(experts=SGDRegressor(random_state=0), n_experts=2, random_state=0)
    distributed = MixtureOfExpertsRegressor(**params).fit(X_d, y_d)
    by_hand = MixtureOfExpertsRegressor(**params)
    for start in range(0, N_ROWS, CHUNK):
        by_hand.partial_fit(X[start:start + CHUNK], y[start:start + CHUNK])
    assert distributed.n_iter_ == N_ROWS // CHUNK
    assert_allclose(distributed.score_samples(X, y), by_hand.score_samples(X, y))


def _classification(n_classes, seed, n_features=2):
    """Gated classification whose EM converges to tol=1e-12 in under 100 iterations."""
    from skmoe.datasets import make_gated_classification

    X, y = make_gated_classification(n_samples=2000, n_features=n_features, n_experts=2,
                                     n_classes=n_classes, gate_sharpness=5.0,
                                     random_state=seed)
    return X, y


@pytest.mark.parametrize("n_classes, seed, expert, labels, options", [
    (2, 1, LogisticRegression(), np.array(["no", "yes"]), {}),
    (3, 2, LogisticRegression(C=0.5, fit_intercept=False), np.array([3, 5, 7]), {}),
    # Weights, and experts and gate on different columns.
    (2, 5, LogisticRegression(C=0.5), np.arange(2),
     {"n_features": 3, "expert_features": [0, 1], "gate_features": [0, 2]}),
])
def test_classifier_dask_fit_equals_in_memory_fit_from_the_same_responsibilities(
        dask_client, n_classes, seed, expert, labels, options):
    options = dict(options)
    X, codes = _classification(n_classes, seed, options.pop("n_features", 2))
    y = labels[codes]
    weight = (np.random.RandomState(3).uniform(0.5, 2.0, size=X.shape[0]) if options
              else None)
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=X.shape[0])
    params = dict(experts=expert, n_experts=2, init=init, tol=1e-12, max_iter=300, **options)
    memory = MixtureOfExpertsClassifier(**params).fit(X, y, sample_weight=weight)
    distributed = MixtureOfExpertsClassifier(**params).fit(
        da.from_array(X, chunks=(500, -1)), da.from_array(y, chunks=500),
        sample_weight=None if weight is None else da.from_array(weight, chunks=500))
    assert memory.converged_ and distributed.converged_
    assert list(distributed.classes_) == list(labels)
    n_rows = X.shape[0]
    assert_allclose(distributed.log_likelihood(X, y, weight) / n_rows,
                    memory.log_likelihood(X, y, weight) / n_rows, rtol=0, atol=1e-8)
    assert_allclose(distributed.lower_bound_, memory.lower_bound_, rtol=0, atol=1e-8)
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-6)
    assert_allclose(distributed.predict_gate(X), memory.predict_gate(X), rtol=0, atol=1e-6)
    X_d = da.from_array(X, chunks=(500, -1))
    proba, predicted = distributed.predict_proba(X_d), distributed.predict(X_d)
    assert isinstance(proba, da.Array) and isinstance(predicted, da.Array)
    assert_allclose(proba.compute(), memory.predict_proba(X), rtol=0, atol=1e-6)
    assert_array_equal(predicted.compute(), memory.predict(X))


def _classifier_fits(X, y, tol=1e-8, **params):
    """The in-memory and the Dask fit of one classifier, from the same responsibilities.

    At tol=1e-8 the runs stop before the changes of the objective reach its
    rounding (at tol=1e-12 a comparison of two objectives a few ulps apart can
    go either way in sums taken in another order), so that both runs take the
    same iterations.
    """
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=X.shape[0])
    params = dict(experts=LogisticRegression(C=0.5, fit_intercept=False), n_experts=2,
                  init=init, tol=tol, max_iter=300, **params)
    memory = MixtureOfExpertsClassifier(**params).fit(X, y)
    distributed = MixtureOfExpertsClassifier(**params).fit(
        da.from_array(X, chunks=(500, -1)), da.from_array(y, chunks=500))
    return memory, distributed


class _NoExtrapolation:
    """A SQUAREM that never proposes: plain (generalised) EM."""

    def restart(self):
        pass

    def step(self, run, lower_bound, evaluate, total_weight):
        return None


def test_classifier_dask_fit_extrapolates_as_in_memory(dask_client, monkeypatch):
    from skmoe import _dask

    X, y = _classification(3, 2)
    memory, distributed = _classifier_fits(X, y)
    # The same SQUAREM decisions: the same objective at every iteration.
    assert distributed.n_iter_ == memory.n_iter_
    assert_allclose(distributed.init_lower_bounds_[0], memory.init_lower_bounds_[0],
                    rtol=0, atol=1e-12)
    # Iterations to the optimum: near it the objective is flat, and at tol=1e-8 plain
    # EM stops where the probabilities still move by 1e-4.
    fast = _classifier_fits(X, y, tol=1e-10)[1]
    monkeypatch.setattr(_dask, "Squarem", _NoExtrapolation)
    plain = _classifier_fits(X, y, tol=1e-10)[1]
    assert fast.converged_ and plain.converged_
    assert fast.n_iter_ < 0.7 * plain.n_iter_
    # The objective the M-steps climb is no lower where the extrapolated fit stops.
    assert fast.lower_bound_ >= plain.lower_bound_ - 1e-12


def test_classifier_dask_fit_solves_the_stalled_m_step_as_in_memory(dask_client,
                                                                   monkeypatch):
    from skmoe import _dask

    solves = []
    solve = _dask._DaskFit.solve

    def recorded(self, model, steps, sources):
        solves.append([step.part for step in steps])
        return solve(self, model, steps, sources)

    monkeypatch.setattr(_dask._DaskFit, "solve", recorded)
    X, y = _classification(2, 1)
    # At tol=1e-4 the in-memory loop stops right after the iteration in which it
    # solved the gate and the experts, which one Newton step each does not.
    memory, distributed = _classifier_fits(X, y, tol=1e-4)
    assert solves
    assert distributed.n_iter_ == memory.n_iter_
    assert_allclose(distributed.init_lower_bounds_[0], memory.init_lower_bounds_[0],
                    rtol=0, atol=1e-12)
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-10)


def test_classifier_dask_fit_refusing_proposals_continues_as_in_memory(dask_client,
                                                                        monkeypatch):
    from skmoe import _base, _dask, _squarem

    X, y = _classification(3, 2)
    monkeypatch.setattr(_dask, "Squarem", _NoExtrapolation)
    monkeypatch.setattr(_base, "Squarem", _NoExtrapolation)
    plain = _classifier_fits(X, y)
    monkeypatch.undo()
    proposals = []

    def overconfident(theta0, theta1, theta2):
        # Fifty times theta2's coefficients: gate and experts far too sure of
        # themselves, a much lower objective; the proposal is refused.
        proposals.append(theta2)
        return 50.0 * theta2

    monkeypatch.setattr(_squarem, "squared_extrapolation", overconfident)
    memory, distributed = _classifier_fits(X, y)
    # Both runs went back to theta2 at every proposal, and went on as plain EM.
    assert len(proposals) >= 2 * (plain[1].n_iter_ // 3 - 2)
    for fitted, without in zip((memory, distributed), plain):
        assert fitted.n_iter_ == without.n_iter_
        assert_allclose(fitted.init_lower_bounds_[0], without.init_lower_bounds_[0], rtol=0,
                        atol=1e-12)


def test_classifier_logistic_experts_without_a_newton_m_step_are_named(dask_data):
    X_d, y_d = dask_data
    expert = LogisticRegression(l1_ratio=1.0, solver="saga")
    with pytest.raises(TypeError, match=r"Expert 0 \(LogisticRegression\) has no M-step that "
                                        r"is a sum over rows and no partial_fit.*Use "
                                        "LogisticRegression experts with an L2 penalty or none"):
        MixtureOfExpertsClassifier(expert, n_experts=2).fit(X_d, y_d > 0)


def test_classifier_logistic_experts_beside_streamed_ones_are_named(dask_data):
    from sklearn.linear_model import SGDClassifier

    X_d, y_d = dask_data
    model = MixtureOfExpertsClassifier([SGDClassifier(loss="log_loss"), LogisticRegression()])
    with pytest.raises(TypeError, match=r"Expert 1 \(LogisticRegression\) is fitted on a "
                                        "Dask collection only when every expert is such a "
                                        "LogisticRegression"):
        model.fit(X_d, y_d > 0)


def test_classifier_labels_with_nan_or_one_class_on_dask_are_refused():
    X, y = _classification(2, 1)
    X_d = da.from_array(X, chunks=(500, -1))
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match="at least 2 classes in y; got 1 class: 4"):
            MixtureOfExpertsClassifier(n_experts=2).fit(
                X_d, da.from_array(np.full(X.shape[0], 4), chunks=500))
        labels = y.astype(np.float64)
        labels[3] = np.nan
        with pytest.raises(ValueError, match="Input y contains NaN or infinity; drop or impute"):
            MixtureOfExpertsClassifier(n_experts=2).fit(X_d, da.from_array(labels, chunks=500))


# ------------------------------------------------- joblib's Dask backend
def _small(data, n_rows=600):
    X, y = data
    return X[:n_rows], y[:n_rows]


def _on_workers(client, work):
    """``work()`` under joblib's Dask backend, and the number of tasks the workers ran."""
    from distributed import get_task_stream
    from joblib import parallel_config

    with parallel_config(backend="dask"), get_task_stream(client) as tasks:
        result = work()
    return result, len(tasks.data)


def test_workers_run_numba_and_blas_with_their_own_thread_count(dask_client):
    def threads():
        import numba
        from threadpoolctl import threadpool_info

        blas = [pool["num_threads"] for pool in threadpool_info()
                if pool["user_api"] == "blas"]
        return numba.get_num_threads(), blas

    for numba_threads, blas in dask_client.run(threads).values():
        assert numba_threads == 1
        assert blas and all(count == 1 for count in blas)


def test_starts_run_on_the_workers_and_equal_the_local_fit(data, dask_client):
    X, y = _small(data)
    params = dict(n_experts=2, n_init=3, n_jobs=2, random_state=0)
    local = MixtureOfExpertsRegressor(**params).fit(X, y)
    remote, n_tasks = _on_workers(dask_client,
                                  lambda: MixtureOfExpertsRegressor(**params).fit(X, y))
    assert n_tasks >= 3
    assert_allclose(remote.init_lower_bounds_[0], local.init_lower_bounds_[0], rtol=0,
                    atol=1e-10)
    assert_allclose(remote.lower_bound_, local.lower_bound_, rtol=0, atol=1e-10)
    assert_allclose(_coefficients(remote), _coefficients(local), rtol=0, atol=1e-8)


# tol=0 runs every one of the 10 iterations, so both fits stop unconverged.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_per_expert_fits_run_on_the_workers_and_equal_the_local_fit(data, dask_client):
    X, y = _small(data)
    params = dict(experts=DecisionTreeRegressor(max_depth=3), n_experts=2, n_jobs=2,
                  random_state=0, max_iter=10, tol=0.0)
    local = MixtureOfExpertsRegressor(**params).fit(X, y)
    remote, n_tasks = _on_workers(dask_client,
                                  lambda: MixtureOfExpertsRegressor(**params).fit(X, y))
    assert n_tasks >= 10
    assert_allclose(remote.lower_bounds_, local.lower_bounds_, rtol=0, atol=1e-10)
    assert_allclose(remote.predict(X), local.predict(X), rtol=0, atol=1e-10)


def test_grid_search_runs_on_the_workers_and_equals_the_local_search(data, dask_client):
    from sklearn.model_selection import GridSearchCV

    X, y = _small(data)

    def search():
        return GridSearchCV(MixtureOfExpertsRegressor(random_state=0),
                            {"n_experts": [1, 2]}, cv=3, n_jobs=2).fit(X, y)

    local = search()
    remote, n_tasks = _on_workers(dask_client, search)
    assert n_tasks >= 6
    assert remote.best_params_ == local.best_params_ == {"n_experts": 2}
    assert_allclose(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"],
                    rtol=0, atol=1e-10)


def test_select_n_experts_and_compare_run_on_the_workers(data, dask_client):
    from skmoe.compare import compare
    from skmoe.inspection import select_n_experts

    X, y = _small(data)
    estimator = MixtureOfExpertsRegressor(n_init=2, n_jobs=2, random_state=0)

    def select():
        return select_n_experts(estimator, X, y, n_experts=[1, 2])

    (local_table, local_best) = select()
    (remote_table, remote_best), n_tasks = _on_workers(dask_client, select)
    assert n_tasks >= 4
    assert remote_best.n_experts_ == local_best.n_experts_ == 2
    assert_allclose(remote_table["bic"], local_table["bic"], rtol=0, atol=1e-8)

    estimators = {"moe": MixtureOfExpertsRegressor(n_experts=2, random_state=0),
                  "linear": LinearRegression()}

    def cross_validate():
        return compare(X, y, estimators=estimators, cv=3, n_jobs=2)

    local = cross_validate()
    remote, n_tasks = _on_workers(dask_client, cross_validate)
    assert n_tasks >= 6
    assert list(remote.index) == list(local.index)
    for name in estimators:
        for score, values in local.attrs["fold_scores"][name].items():
            assert_allclose(remote.attrs["fold_scores"][name][score], values, rtol=0,
                            atol=1e-10)


def test_gate_steps_that_fail_the_line_search_are_shortened(data, dask_data, monkeypatch):
    from skmoe import _dask

    X, y = data
    X_d, y_d = dask_data
    refused = []
    sufficient = _dask._GateStep.sufficient

    def refuse_full_steps(self, loss, step):
        # The first three full Newton steps are refused: those EM iterations backtrack.
        if step == 1.0 and len(refused) < 3:
            refused.append(loss)
            return False
        return sufficient(self, loss, step)

    monkeypatch.setattr(_dask._GateStep, "sufficient", refuse_full_steps)
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=N_ROWS)
    params = dict(experts=LinearRegression(), n_experts=2, init=init, tol=1e-12, max_iter=500)
    memory = MixtureOfExpertsRegressor(**params).fit(X, y)
    distributed = MixtureOfExpertsRegressor(**params).fit(X_d, y_d)
    assert len(refused) == 3
    assert distributed.converged_
    assert_allclose(distributed.lower_bound_, memory.lower_bound_, rtol=0, atol=1e-8)
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-6)


def test_random_starts_and_later_starts_from_an_array_on_dask(data, dask_data):
    X, y = data
    X_d, y_d = dask_data
    model = MixtureOfExpertsRegressor(n_experts=2, init="random", n_init=2, random_state=0,
                                      noise_variance="in_sample").fit(X_d, y_d)
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=N_ROWS)
    from_array = MixtureOfExpertsRegressor(n_experts=2, init=init, n_init=2, random_state=0,
                                           noise_variance="in_sample").fit(X_d, y_d)
    memory = MixtureOfExpertsRegressor(n_experts=2, n_init=2, random_state=0,
                                       noise_variance="in_sample").fit(X, y)
    for fitted in (model, from_array):
        assert len(fitted.init_lower_bounds_) == 2
        assert fitted.score_samples(X, y).mean() >= memory.score_samples(X, y).mean() - 1e-4


class _Term:
    """A summand that records how it was added: its value is the sum's parenthesised form."""

    def __init__(self, text):
        self.text = text

    def __add__(self, other):
        return _Term(f"({self.text}+{other.text})")


@pytest.mark.parametrize("batch", [1, 2, 4, 8])
@pytest.mark.parametrize("n_blocks", [1, 2, 3, 5, 7, 8, 9, 16, 23, 37])
def test_batched_pass_adds_in_the_order_of_one_pairwise_tree(n_blocks, batch):
    from skmoe._dask import _add, _PairwiseSum, _tree_sum

    terms = [_Term(str(i)) for i in range(n_blocks)]
    whole = _tree_sum([dask.delayed(term) for term in terms]).compute(scheduler="sync")
    batched = _PairwiseSum()
    for start in range(0, n_blocks, batch):
        part = terms[start:start + batch]
        while len(part) > 1:
            part = [_add(a, b) if b is not None else a
                    for a, b in zip(part[::2], part[1::2] + [None])]
        batched.add(part[0])
    assert batched.total().text == whole.text


# The default ScaledRidge experts: their noise folds' sums are batched too.
@pytest.mark.parametrize("experts", [LinearRegression(), ScaledRidge(alpha=10.0)])
def test_batches_of_blocks_give_the_fit_of_one_pass(data, monkeypatch, experts):
    from skmoe import _dask

    X, y = data
    X_d, y_d = da.from_array(X, chunks=(CHUNK, -1)), da.from_array(y, chunks=CHUNK)
    # The synchronous scheduler: on the cluster the workers' kernels may round the
    # last bit differently from run to run.
    monkeypatch.setitem(dask.config.config, "scheduler", "sync")
    fits = []
    # All blocks in one computation (as before batches), then batches of 1 and 2 blocks;
    # two starts: the second draws its k-means weights from the same random state.
    for batch in (2**30, 1, 2):
        monkeypatch.setattr(_dask, "batch_blocks", lambda batch=batch: batch)
        fits.append(MixtureOfExpertsRegressor(experts, n_experts=3, random_state=0,
                                              max_iter=5, n_init=2).fit(X_d, y_d))
    for model in fits[1:]:
        assert model.lower_bound_ == fits[0].lower_bound_
        assert_array_equal(_coefficients(model), _coefficients(fits[0]))


def test_kmeans_sample_reaches_the_client_as_one_array_per_batch(data, monkeypatch):
    from skmoe import _dask

    X, y = data
    X_d, y_d = da.from_array(X, chunks=(CHUNK, -1)), da.from_array(y, chunks=CHUNK)
    monkeypatch.setitem(dask.config.config, "scheduler", "sync")
    monkeypatch.setattr(_dask, "batch_blocks", lambda: 3)
    computed = []
    compute = _dask._DaskFit.compute

    def spy(self, *values):
        computed.append([str(value.key) for value in values])
        return compute(self, *values)

    monkeypatch.setattr(_dask._DaskFit, "compute", spy)
    MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, init="kmeans", max_iter=1,
                              random_state=0).fit(X_d, y_d)
    samples = [keys for keys in computed if any("sample" in key for key in keys)]
    # 4 blocks in batches of 3: two computations, each bringing one joined sample.
    assert len(samples) == 2
    assert all(len(keys) == 1 and keys[0].startswith("_join_samples") for keys in samples)


@pytest.mark.parametrize("case", ["y * 1e160", "one y of 1e300", "weights of 5e-324",
                                  "weights of 1e300", "X * 1e160", "X * 1e-160",
                                  "one X of 1e300", "classifier constant column of 1e300"])
def test_what_the_block_sums_cannot_hold_is_refused_as_in_memory(case):
    # y of 1e160 ended in an OverflowError; weights beyond the in-memory limits were
    # taken; columns of 1e160 ended in a Gram-matrix error blaming collinear columns,
    # of 1e-160 gave another model, silently; the classifier's LogisticRegression
    # experts ended in "LinAlgError: Eigenvalues did not converge".
    X, y = make_switching_regression(400, 3, 2, random_state=0)
    weights = None
    estimator = MixtureOfExpertsRegressor
    if case == "y * 1e160":
        y, message = y * 1e160, r"y has a weighted standard deviation beyond float64's " \
                                r"squares \(y reaches 4.25e\+160\), outside \[1e-152, 1e\+152\]"
    elif case == "one y of 1e300":
        y[0], message = 1e300, r"\(y reaches 1e\+300\).* Divide y by 1e300"
    elif case == "weights of 5e-324":
        weights, message = np.full(400, 5e-324), "sample_weight's largest value is 4.94e-324"
    elif case == "weights of 1e300":
        weights, message = np.full(400, 1e300), r"sample_weight sums to 4e\+302, more than"
    elif case == "classifier constant column of 1e300":
        estimator = MixtureOfExpertsClassifier
        X, y = np.c_[X, np.full(400, 1e300)], (y > 0).astype(int)
        message = r"LogisticRegression experts .* the experts' column 3 reaches 1e\+300"
    else:
        if case == "X * 1e160":
            X, spans = X * 1e160, "3.1e\\+160"
        elif case == "X * 1e-160":
            X, spans = X * 1e-160, "3.1e-160"
        else:
            X[0, 1], spans = 1e300, "1e\\+300"
        column = 1 if case == "one X of 1e300" else 0
        message = (r"A fit on Dask collections sums the squares of the columns of X block by "
                   r"block, which keep their digits for columns whose values differ by about "
                   rf"1e-150 to 1e150; column {column} spans {spans}")
    X_d, y_d = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    w_d = None if weights is None else da.from_array(weights, chunks=100)
    with pytest.raises(ValueError, match=message):
        estimator(n_experts=2, max_iter=3, random_state=0).fit(X_d, y_d, sample_weight=w_d)


def test_dask_fit_warns_about_weights_worth_fewer_rows_than_the_parameters_need(data):
    # As the in-memory fit: weights summing to one leave the data a row's weight.
    X, y = data
    weights = np.full(X.shape[0], 1.0 / X.shape[0])
    params = dict(n_experts=2, max_iter=5, random_state=0)
    model = MixtureOfExpertsRegressor(**params)
    with pytest.warns(UserWarning, match=rf"sample_weight sums to 1, fewer rows' worth .* "
                                         rf"though {X.shape[0]} rows have positive weight"):
        model.fit(da.from_array(X, chunks=(CHUNK, -1)), da.from_array(y, chunks=CHUNK),
                  sample_weight=da.from_array(weights, chunks=CHUNK))
    with pytest.warns(UserWarning, match="sample_weight sums to 1, fewer rows' worth"):
        MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=weights)


def test_a_constant_column_of_1e300_on_dask_leaves_the_model_unchanged(data):
    X, y = data
    wide = np.c_[X, np.full(X.shape[0], 1e300)]
    # From the same responsibilities: k-means' sample of the blocks depends on the
    # number of columns.
    params = dict(n_experts=2, max_iter=5, init=np.eye(2)[np.arange(X.shape[0]) % 2],
                  random_state=0)
    base = MixtureOfExpertsRegressor(**params).fit(da.from_array(X, chunks=(CHUNK, -1)),
                                                   da.from_array(y, chunks=CHUNK))
    model = MixtureOfExpertsRegressor(**params).fit(da.from_array(wide, chunks=(CHUNK, -1)),
                                                    da.from_array(y, chunks=CHUNK))
    assert_allclose(model.predict(wide), base.predict(X), rtol=1e-9, atol=1e-12)


def _thin_start(n_rows, n_thin, seed):
    """Responsibilities of three experts, the third holding ``n_thin`` rows (sharply)."""
    rng = np.random.RandomState(seed)
    init = np.full((n_rows, 3), 0.001)
    owner = rng.randint(0, 2, size=n_rows)
    owner[rng.choice(n_rows, n_thin, replace=False)] = 2
    init[np.arange(n_rows), owner] = 1.0
    return init / init.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("experts, noise_variance, weighted", [
    (LinearRegression(), "auto", False),
    (ScaledRidge(alpha=1.0), "auto", True),
    (Ridge(alpha=2.0), "in_sample", True),
])
def test_dask_fit_removes_experts_too_thin_for_their_parameters_as_in_memory(
        dask_client, experts, noise_variance, weighted):
    # Small, wide data (8 columns, 150 rows): an expert holding 20 rows has fewer
    # than min_rows_per_parameter=3 rows for each of its ~10 parameters. The Dask
    # fit kept it (fitted nearly exactly on its rows) where the in-memory fit
    # removes it; now both remove it and end at the same model.
    X, y = make_switching_regression(n_samples=150, n_features=8, n_experts=2, noise=0.5,
                                     random_state=4)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    weight = np.random.RandomState(1).uniform(0.5, 2.0, size=150) if weighted else None
    params = dict(experts=experts, n_experts=3, init=_thin_start(150, 20, 0), tol=1e-10,
                  max_iter=500, noise_variance=noise_variance)
    with pytest.warns(UserWarning, match="fewer than min_rows_per_parameter=3") as memory_log:
        memory = MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=weight)
    with pytest.warns(UserWarning, match="fewer than min_rows_per_parameter=3") as dask_log:
        distributed = MixtureOfExpertsRegressor(**params).fit(
            da.from_array(X, chunks=(50, -1)), da.from_array(y, chunks=50),
            sample_weight=None if weight is None else da.from_array(weight, chunks=50))
    assert memory.n_experts_ == distributed.n_experts_ == 2
    removal = [str(w.message) for w in memory_log if "min_rows" in str(w.message)]
    assert removal == [str(w.message) for w in dask_log if "min_rows" in str(w.message)]
    assert "Expert 2" in removal[0]
    # Both point at the line that called fit (the Dask fit's pointed into scikit-learn).
    for log in (memory_log, dask_log):
        assert {w.filename for w in log if "min_rows" in str(w.message)} == {__file__}
    assert memory.converged_ and distributed.converged_
    assert_allclose(distributed.lower_bound_, memory.lower_bound_, rtol=0, atol=1e-8)
    assert_allclose(_coefficients(distributed), _coefficients(memory), rtol=0, atol=1e-6)
    assert_allclose(distributed.noise_variance_, memory.noise_variance_, rtol=1e-6)


def test_dask_fit_keeps_thin_experts_when_the_rule_is_off(dask_client):
    X, y = make_switching_regression(n_samples=150, n_features=8, n_experts=2, noise=0.5,
                                     random_state=4)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    params = dict(experts=LinearRegression(), n_experts=3, init=_thin_start(150, 20, 0),
                  tol=1e-10, max_iter=500, min_rows_per_parameter=0)
    memory = MixtureOfExpertsRegressor(**params).fit(X, y)
    distributed = MixtureOfExpertsRegressor(**params).fit(
        da.from_array(X, chunks=(50, -1)), da.from_array(y, chunks=50))
    assert memory.n_experts_ == distributed.n_experts_ == 3
    assert_allclose(distributed.lower_bound_, memory.lower_bound_, rtol=0, atol=1e-8)


def test_classifier_dask_fit_removes_thin_experts_as_in_memory(dask_client):
    X, codes = _classification(2, 1, n_features=6)
    X, codes = X[:300], codes[:300]
    params = dict(experts=LogisticRegression(C=0.5), n_experts=3,
                  init=_thin_start(300, 15, 2), tol=1e-8, max_iter=300)
    with pytest.warns(UserWarning, match="fewer than min_rows_per_parameter=3"):
        memory = MixtureOfExpertsClassifier(**params).fit(X, codes)
    with pytest.warns(UserWarning, match="fewer than min_rows_per_parameter=3"):
        distributed = MixtureOfExpertsClassifier(**params).fit(
            da.from_array(X, chunks=(100, -1)), da.from_array(codes, chunks=100))
    assert memory.n_experts_ == distributed.n_experts_ == 2
    assert_allclose(distributed.lower_bound_, memory.lower_bound_, rtol=0, atol=1e-7)
    assert_allclose(distributed.predict_proba(X), memory.predict_proba(X), rtol=0, atol=1e-6)


def test_classifier_dask_fit_refuses_cross_fitted_label_noise(dask_client):
    X, codes = _classification(2, 1)
    with pytest.raises(ValueError, match="supports label_noise='auto' or 'none' only, got "
                                         "'cross_fitted'"):
        MixtureOfExpertsClassifier(n_experts=2, label_noise="cross_fitted").fit(
            da.from_array(X, chunks=(500, -1)), da.from_array(codes, chunks=500))
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(
        da.from_array(X, chunks=(500, -1)), da.from_array(codes, chunks=500))
    assert not hasattr(model, "label_noise_")
