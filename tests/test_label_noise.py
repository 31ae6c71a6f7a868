"""The classifier's label noise: experts that can interpolate are not surer than earned."""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import InvalidParameterError

from skmoe import MixtureOfExpertsClassifier
from skmoe._classifier import label_noise_share
from skmoe.datasets import make_gated_classification


def _reference_share(p, b, w, c):
    """The maximiser of sum w log((1 - e) p + e b) + c log e, by scipy on (0, 1]."""
    def objective(e):
        return -(w @ np.log((1 - e) * p + e * b) + c * np.log(e))
    result = minimize_scalar(objective, bounds=(1e-12, 1.0), method="bounded",
                             options={"xatol": 1e-12})
    return result.x if objective(result.x) < objective(1.0) else 1.0


@pytest.mark.parametrize("seed", range(6))
def test_label_noise_share_equals_a_direct_maximisation(seed):
    rng = np.random.default_rng(seed)
    n = 200
    p = rng.beta(5, 1, n)
    p[rng.random(n) < 0.05 * seed] = 0.0  # refits that gave a row's class nothing
    b = rng.uniform(0.1, 0.6, n)
    w = rng.uniform(0, 2, n) * (rng.random(n) < 0.9)
    share = label_noise_share(p, b, w, 1.3)
    assert 0 < share <= 1
    assert_allclose(share, _reference_share(p[w > 0], b[w > 0], w[w > 0], 1.3), atol=1e-6)


def test_label_noise_share_at_its_bounds():
    b = np.full(50, 0.5)
    # Refits that always give the class probability 1: one row's worth of prior only.
    perfect = label_noise_share(np.ones(50), b, np.ones(50), 1.0)
    assert 0 < perfect < 0.05
    assert_allclose(perfect, _reference_share(np.ones(50), b, np.ones(50), 1.0), atol=1e-8)
    # Refits worse than the class frequencies on every row: the frequencies alone.
    assert label_noise_share(np.full(50, 0.1), b, np.ones(50), 1.0) == 1.0


def _noisy_rule(n, noise, seed):
    """Three classes, a third of the rows each, by a rule of x0; a share ``noise``
    of the labels replaced by a uniform draw."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = np.digitize(X[:, 0], [-1 / 3, 1 / 3])
    flipped = rng.random(n) < noise
    y[flipped] = rng.integers(0, 3, flipped.sum())
    return X, y


class _Rule(ClassifierMixin, BaseEstimator):
    """An expert that knows the clean rule of ``_noisy_rule``: probability 1 for its class."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.eye(3)[np.digitize(X[:, 0], [-1 / 3, 1 / 3])]

    def predict(self, X):
        return np.digitize(X[:, 0], [-1 / 3, 1 / 3])


@pytest.mark.parametrize("noise", [0.1, 0.3])
def test_label_noise_of_a_sure_expert_is_the_share_of_noisy_labels(noise):
    # One expert, sure of the clean rule: the data are exactly its noisy-label
    # model, with share `noise` and near-uniform class frequencies.
    X, y = _noisy_rule(4000, noise, 0)
    model = MixtureOfExpertsClassifier(_Rule(), n_experts=1, random_state=0).fit(X, y)
    assert_allclose(model.label_noise_, [noise], atol=0.03)
    row = 1.0
    assert_allclose(model.base_rates_[0], (np.bincount(y, minlength=3) + row) / (y.size + 3))
    # Its held-out log-loss is the noisy-label model's: -log(1 - e + e/3) on a
    # row of the rule's class, -log(e/3) on the others.
    X_new, y_new = _noisy_rule(4000, noise, 1)
    expected = -np.mean(np.where(y_new == np.digitize(X_new[:, 0], [-1 / 3, 1 / 3]),
                                 np.log(1 - noise + noise / 3), np.log(noise / 3)))
    assert_allclose(-model.score_samples(X_new, y_new).mean(), expected, atol=0.02)


def test_calibrated_trees_need_little_label_noise():
    # Depth-3 trees on 4000 rows have large leaves whose class fractions already
    # hold the noisy labels: the share beyond them is small.
    X, y = _noisy_rule(4000, 0.3, 0)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=1,
                                       random_state=0).fit(X, y)
    assert 0 < model.label_noise_[0] < 0.1
    sure = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=1,
                                      random_state=0, label_noise="none").fit(X, y)
    assert not hasattr(sure, "label_noise_")


def _held_out_log_loss(model, X, y, folds=5):
    losses, worst = [], 0.0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        model.fit(X[train], y[train])
        proba = model.predict_proba(X[test])[np.arange(test.size), y[test]]
        loss = -np.log(np.maximum(proba, 1e-300))
        losses.append(loss.mean())
        worst = max(worst, loss.max())
    return np.mean(losses), np.std(losses), worst


def test_trees_held_out_log_loss_is_honest_on_overlapping_regimes():
    # Three gated regimes that overlap (gate_sharpness 1), unequal class shares
    # and 5% of the labels flipped: a mixture of depth-3 trees without label noise
    # gives held-out rows of a class its leaf never saw a probability near 0.
    X, y = make_gated_classification(n_samples=600, n_features=4, n_experts=3, n_classes=3,
                                     gate_sharpness=1.0, random_state=3)
    rng = np.random.default_rng(3)
    flipped = rng.random(y.size) < 0.05
    y = np.where(flipped, rng.integers(0, 3, y.size), y)
    params = dict(experts=DecisionTreeClassifier(max_depth=3), n_experts=3, random_state=0)
    honest, honest_sd, honest_worst = _held_out_log_loss(
        MixtureOfExpertsClassifier(**params), X, y)
    sure, sure_sd, sure_worst = _held_out_log_loss(
        MixtureOfExpertsClassifier(label_noise="none", **params), X, y)
    linear, _, _ = _held_out_log_loss(MixtureOfExpertsClassifier(random_state=0), X, y)
    assert honest < sure - max(honest_sd, sure_sd)
    assert honest_worst < 10 < sure_worst
    # Level with the mixture of logistic experts (the right model of these data).
    assert honest < linear + 0.1


def test_logistic_experts_are_not_given_label_noise_by_default():
    X, y = make_gated_classification(n_samples=400, n_experts=2, random_state=0)
    default = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    none = MixtureOfExpertsClassifier(n_experts=2, random_state=0, label_noise="none").fit(X, y)
    assert not hasattr(default, "label_noise_")
    assert default.lower_bounds_ == none.lower_bounds_
    assert_array_equal(default.predict_proba(X), none.predict_proba(X))
    assert default.bic(X, y) == none.bic(X, y)


def test_cross_fitted_logistic_experts_count_their_noise_in_bic():
    X, y = _noisy_rule(600, 0.3, 1)
    model = MixtureOfExpertsClassifier(n_experts=2, random_state=0,
                                       label_noise="cross_fitted").fit(X, y)
    assert np.all(model.label_noise_ > 0)
    loglik = model.log_likelihood(X, y)
    n_noisy = 2 * 3  # a share and three class frequencies less one, per expert
    # An expert whose labels are all noise (here expert 1) counts its class frequencies
    # alone, not its share nor its (3 - 1) * (2 + 1) coefficients.
    all_noise = int(np.sum(model.label_noise_ == 1.0))
    assert all_noise == 1
    assert_allclose(model.bic(X, y), -2 * loglik + (model._n_parameters()) * np.log(600))
    none = MixtureOfExpertsClassifier(n_experts=2, random_state=0, label_noise="none").fit(X, y)
    assert model._n_parameters() == none._n_parameters() + n_noisy - all_noise * (1 + 6)


def test_probabilities_and_log_likelihood_are_the_noisy_experts_mixture():
    X, y = _noisy_rule(500, 0.2, 2)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=2,
                                       random_state=0).fit(X, y)
    assert np.all(model.label_noise_ > 0)
    gate = model.predict_gate(X)
    expected = np.zeros((X.shape[0], 3))
    for k, expert in enumerate(model.experts_):
        own = np.zeros((X.shape[0], 3))
        own[:, expert.classes_] = expert.predict_proba(X)
        share = model.label_noise_[k]
        expected += gate[:, [k]] * ((1 - share) * own + share * model.base_rates_[k])
    proba = model.predict_proba(X)
    assert_allclose(proba, expected, rtol=1e-12, atol=1e-15)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert_allclose(model.score_samples(X, y), np.log(proba[np.arange(y.size), y]),
                    rtol=1e-9)
    assert_allclose(model.base_rates_.sum(axis=1), 1.0)
    assert np.all(model.base_rates_ > 0)


def test_partial_fit_leaves_no_label_noise_of_an_earlier_fit():
    X, y = _noisy_rule(300, 0.2, 4)
    model = MixtureOfExpertsClassifier(MLPClassifier(hidden_layer_sizes=(4,), max_iter=50,
                                                     random_state=0),
                                       n_experts=2, max_iter=3, random_state=0)
    with pytest.warns(Warning):
        model.fit(X, y)
    assert np.all(model.label_noise_ > 0)
    model.partial_fit(X, y)
    assert not hasattr(model, "label_noise_") and not hasattr(model, "base_rates_")
    assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_label_noise_is_validated():
    X, y = _noisy_rule(100, 0.1, 5)
    with pytest.raises(InvalidParameterError, match="'label_noise' parameter"):
        MixtureOfExpertsClassifier(label_noise="yes").fit(X, y)


def test_trees_with_label_noise_converge_where_greedy_refits_cycled():
    # The case of test_classifier's generalised-EM test, with the default label noise.
    X, y = make_gated_classification(600, 4, 3, random_state=0)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=3,
                                       max_iter=200, random_state=0).fit(X, y)
    assert model.converged_ and model.n_iter_ < 100
    assert np.all(model.label_noise_ > 0)
    # Not a maximiser: the bound may move down, by little.
    assert np.min(np.diff(model.lower_bounds_)) > -1e-4


def test_an_expert_whose_labels_are_all_noise_counts_its_class_frequencies_alone():
    # Half the rows have labels that do not depend on x: the expert that takes
    # them is all noise (share 1), and predicts its class frequencies whatever its
    # coefficients; bic counted them (16 parameters for 11).
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3))
    y = np.where(X[:, 0] > 0, X[:, 1] + 0.3 * rng.normal(size=400) > 0,
                 rng.rand(400) < 0.5).astype(int)
    model = MixtureOfExpertsClassifier(LogisticRegression(), n_experts=2,
                                       label_noise="cross_fitted", random_state=0).fit(X, y)
    noisy = int(np.argmax(model.label_noise_))
    assert model.label_noise_[noisy] == 1.0 and model.label_noise_[1 - noisy] < 1.0
    log_likelihood = model.log_likelihood(X, y)
    # Its coefficients do not enter the likelihood...
    moved = copy.deepcopy(model)
    moved.experts_[noisy].coef_ = moved.experts_[noisy].coef_ + 5.0
    assert moved.log_likelihood(X, y) == pytest.approx(log_likelihood, rel=1e-12)
    # ... so they are not counted: the gate's 4, the other expert's 4, its share and
    # one class frequency, and the noisy expert's one class frequency.
    assert model._n_parameters() == 4 + 4 + 2 + 1
    assert model.bic(X, y) == pytest.approx(-2.0 * log_likelihood + 11 * np.log(400))
