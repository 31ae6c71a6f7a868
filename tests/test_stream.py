"""Streaming EM: partial_fit by stepwise EM, batch by batch."""

import copy
import warnings

import dask.array as da
import numpy as np
import pytest
from dask_ml.wrappers import Incremental
from numpy.testing import assert_allclose
from sklearn.linear_model import LinearRegression, SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_switching_regression


@pytest.fixture(scope="module")
def stream():
    X, y = make_switching_regression(n_samples=200_000, n_experts=2, random_state=0)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _stream_through(model, X, y, batch=2_000, **kwargs):
    for start in range(0, X.shape[0], batch):
        model.partial_fit(X[start:start + batch], y[start:start + batch], **kwargs)
    return model


def test_streamed_batches_reach_the_batch_fit(stream):
    X, y = stream
    batch = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    streamed = _stream_through(MixtureOfExpertsRegressor(n_experts=2, random_state=0), X, y)
    assert streamed.n_iter_ == 100
    assert (abs(streamed.score_samples(X, y).mean() - batch.score_samples(X, y).mean())
            < 0.02)
    # The regimes' noise, one expert each (in any order).
    assert_allclose(np.sort(streamed.noise_variance_), np.sort(batch.noise_variance_),
                    rtol=0.1)


def test_linear_experts_stream_from_running_gram_matrices(stream):
    X, y = stream
    streamed = _stream_through(
        MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0), X, y)
    batch = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0).fit(X, y)
    assert abs(streamed.score_samples(X, y).mean() - batch.score_samples(X, y).mean()) < 0.02


def test_a_slower_decay_forgets_old_batches_faster(stream):
    X, y = stream
    fast = _stream_through(MixtureOfExpertsRegressor(n_experts=2, random_state=0,
                                                     step_size_decay=0.6), X, y)
    slow = _stream_through(MixtureOfExpertsRegressor(n_experts=2, random_state=0,
                                                     step_size_decay=1.0), X, y)
    # With decay 1 every batch weighs alike, the first (k-means) one too.
    assert fast.score_samples(X, y).mean() > slow.score_samples(X, y).mean()


def test_partial_fit_continues_a_fitted_model(stream):
    X, y = stream
    X, y = X[:10_000], y[:10_000]
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X[:8_000], y[:8_000])
    before = model.score_samples(X, y).mean()
    model.partial_fit(X[8_000:], y[8_000:])
    assert model.n_iter_ == 1
    # Its first step measures the fitted model on the new rows.
    assert_allclose(model.lower_bound_, model.lower_bounds_[-1])
    assert abs(model.score_samples(X, y).mean() - before) < 0.01


def test_classifier_streams_experts_with_partial_fit(stream):
    X, y = stream
    X, y = X[:20_000], y[:20_000]
    labels = np.where(y > np.median(y), "high", "low")
    for expert in (SGDClassifier(loss="log_loss", random_state=0), GaussianNB()):
        model = MixtureOfExpertsClassifier(expert, n_experts=2, random_state=0)
        _stream_through(model, X, labels, batch=1_000, classes=["low", "high"])
        assert list(model.classes_) == ["high", "low"]
        # The labels split y at its median; each regime's line crosses it, so one
        # expert per regime classifies well (accuracy of a coin: 0.5).
        assert model.score(X, labels) > 0.9


def test_classifier_first_call_needs_the_classes(stream):
    X, y = stream
    model = MixtureOfExpertsClassifier(GaussianNB(), n_experts=2)
    with pytest.raises(ValueError, match="classes must be passed to the first call"):
        model.partial_fit(X[:100], (y[:100] > 0).astype(int))


@pytest.mark.parametrize("model, name", [
    (MixtureOfExpertsRegressor([LinearRegression(), DecisionTreeRegressor()], n_experts=2),
     "Expert 1 \\(DecisionTreeRegressor\\)"),
    (MixtureOfExpertsClassifier(n_experts=2), "Expert 0 \\(ScaledLogisticRegression\\)"),
])
def test_expert_without_partial_fit_is_named(stream, model, name):
    X, y = stream
    target = y[:500] if isinstance(model, MixtureOfExpertsRegressor) else (y[:500] > 0)
    with pytest.raises(TypeError, match=name + " has no partial_fit"):
        model.partial_fit(X[:500], target, classes=[False, True])
    assert not hasattr(model, "experts_")


def test_dask_ml_incremental_streams_the_blocks(stream):
    X, y = stream
    X, y = X[:20_000], y[:20_000]
    X_d = da.from_array(X, chunks=(2_000, -1))
    y_d = da.from_array(y, chunks=2_000)
    wrapped = Incremental(MixtureOfExpertsRegressor(n_experts=2, random_state=0),
                          shuffle_blocks=False).fit(X_d, y_d)
    by_hand = _stream_through(MixtureOfExpertsRegressor(n_experts=2, random_state=0), X, y)
    assert wrapped.estimator_.n_iter_ == 10
    assert_allclose(wrapped.estimator_.score_samples(X, y), by_hand.score_samples(X, y))
    prediction = wrapped.predict(X_d)
    assert isinstance(prediction, da.Array)
    assert_allclose(prediction.compute(), by_hand.predict(X))


@pytest.mark.parametrize("estimator, params, message", [
    (MixtureOfExpertsRegressor, {"noise_variance": "cross_fitted"},
     "noise_variance='cross_fitted' is not honoured by partial_fit"),
    (MixtureOfExpertsClassifier, {"label_noise": "cross_fitted",
                                  "experts": SGDClassifier(loss="log_loss", random_state=0)},
     "label_noise='cross_fitted' is not honoured by partial_fit"),
])
def test_partial_fit_says_it_does_not_cross_fit_what_is_asked_for(estimator, params, message):
    # partial_fit refits no expert on folds: an explicit "cross_fitted" went unsaid.
    X, y = make_switching_regression(n_samples=300, n_experts=2, random_state=0)
    target = y if estimator is MixtureOfExpertsRegressor else y > np.median(y)
    extra = {} if estimator is MixtureOfExpertsRegressor else {"classes": [False, True]}
    model = estimator(n_experts=2, random_state=0, **params)
    with pytest.warns(UserWarning, match=message) as caught:
        model.partial_fit(X[:150], target[:150], **extra)
    # At the line that called partial_fit (it pointed into skmoe's _base.py).
    assert {w.filename for w in caught if "not honoured" in str(w.message)} == {__file__}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.partial_fit(X[150:], target[150:])  # said once, at the first batch
    default = estimator(n_experts=2, random_state=0,
                        **{k: v for k, v in params.items() if k == "experts"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default.partial_fit(X[:150], target[:150], **extra)


def test_lower_bound_is_the_batch_log_likelihood_before_the_step(stream):
    X, y = stream
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    model.partial_fit(X[:1000], y[:1000])
    # No model came before the first batch of an unfitted estimator.
    assert model.lower_bound_ == -np.inf and model.lower_bounds_ == []
    before = copy.deepcopy(model)
    model.partial_fit(X[1000:2000], y[1000:2000])
    held_out = before.score_samples(X[1000:2000], y[1000:2000]).mean()
    assert_allclose(model.lower_bound_, held_out, rtol=1e-12)
    assert_allclose(model.lower_bounds_, [held_out], rtol=1e-12)
