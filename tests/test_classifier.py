"""Behaviour of MixtureOfExpertsClassifier on the shared EM engine."""

import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skmoe import MixtureOfExpertsClassifier
from skmoe._classifier import PROBA_FLOOR
from skmoe.datasets import make_gated_classification

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def gated():
    return make_gated_classification(
        n_samples=5000, n_features=4, n_experts=3, n_classes=3, random_state=1,
        return_params=True,
    )


@pytest.fixture(scope="module")
def small():
    X, y = make_gated_classification(400, 3, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=20, random_state=0).fit(X, y)
    return X, y, model


def test_recovers_gated_classification(gated):
    X, y, params = gated
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    # One start in a few reaches the true regimes' basin here (the others stop near
    # -0.537 per sample, against -0.519); the first three starts are those of n_init=3.
    model = MixtureOfExpertsClassifier(n_experts=3, n_init=5, random_state=0)
    model.fit(X_train, y_train)
    # Match fitted experts to true regimes by the gate's assignments.
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (params.gate_proba.argmax(axis=1), model.predict_gate(X).argmax(axis=1)),
              1)
    rows, cols = linear_sum_assignment(-confusion)
    assert confusion[rows, cols].sum() / len(y) >= 0.9
    bayes_accuracy = np.mean(params.bayes_proba(X_test).argmax(axis=1) == y_test)
    assert model.score(X_test, y_test) >= bayes_accuracy - 0.02


@pytest.mark.parametrize("seed", [0, 1])
def test_penalised_log_likelihood_never_decreases(seed):
    X, y = make_gated_classification(600, 3, 3, 3, random_state=seed)
    model = MixtureOfExpertsClassifier(LogisticRegression(C=np.inf, max_iter=1000, tol=1e-10),
                                       n_experts=3, max_iter=40, tol=0, random_state=seed)
    model.fit(X, y)
    bounds = np.array(model.lower_bounds_)
    assert len(bounds) == 40
    assert np.all(np.diff(bounds) >= -1e-8 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_predict_proba_is_gate_weighted_mixture(small):
    X, _, model = small
    gate = model.predict_gate(X)
    expected = sum(gate[:, [k]] * e.predict_proba(X) for k, e in enumerate(model.experts_))
    proba = model.predict_proba(X)
    assert_allclose(proba, expected, rtol=1e-12)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-12)
    assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])


def test_score_samples_is_log_mixture_probability(small):
    X, y, model = small
    gate = model.predict_gate(X)
    expert_log = np.column_stack(
        [np.log(e.predict_proba(X)[np.arange(len(y)), y]) for e in model.experts_]
    )
    assert_allclose(model.score_samples(X, y), logsumexp(np.log(gate) + expert_log, axis=1),
                    rtol=1e-10)
    assert_allclose(model.score_samples(X, y), np.log(model.predict_proba(X)[np.arange(400), y]),
                    rtol=1e-10)


def test_bic_counts_multinomial_parameters(small):
    X, y, model = small
    # gate (K-1)(d+1) = 4; each multinomial expert (C-1)(d+1) = 8
    n_params = 4 + 2 * 8
    log_lik = model.score_samples(X, y).sum()
    assert_allclose(model.bic(X, y), -2 * log_lik + n_params * np.log(400))
    assert_allclose(model.aic(X, y), -2 * log_lik + 2 * n_params)


def test_score_is_accuracy(small):
    X, y, model = small
    assert model.score(X, y) == np.mean(model.predict(X) == y)


@pytest.mark.parametrize(
    "labels, unseen",
    [(np.array(["cat", "dog", "emu"]), "yak"), (np.array([5, 7, 9]), 6),
     (np.array([-3, 0, 4]), 1)],
)
def test_labels_of_any_type_round_trip(labels, unseen):
    X, y = make_gated_classification(300, 2, 2, 3, random_state=0)
    y_labels = labels[y]
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=10, random_state=0)
    model.fit(X, y_labels)
    assert_array_equal(model.classes_, np.sort(labels))
    assert set(model.predict(X)) <= set(labels)
    assert np.all(np.isfinite(model.score_samples(X, y_labels)))
    with pytest.raises(ValueError, match="y contains labels not seen during fit"):
        model.score_samples(X[:2], np.array([labels[0], unseen]))


def test_pandas_categorical_labels():
    X, y = make_gated_classification(300, 2, 2, 2, random_state=0)
    y_cat = pd.Series(pd.Categorical.from_codes(y, ["no", "yes"]))
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=10, random_state=0).fit(X, y_cat)
    assert_array_equal(model.classes_, ["no", "yes"])
    assert model.score(X, y_cat) > 0.5


def test_binary_classification():
    X, y = make_gated_classification(400, 2, 2, 2, random_state=3)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=20, random_state=0).fit(X, y)
    assert model.predict_proba(X).shape == (400, 2)
    assert model.score(X, y) > 0.6


def test_expert_that_saw_some_classes_is_mapped_with_floor():
    X, y = make_gated_classification(300, 2, 2, 3, random_state=0)
    # Expert 0 only ever gets rows of classes 0 and 1 (resampled: k-NN takes no weights).
    init = np.zeros((300, 2))
    init[:, 0] = y != 2
    init[:, 1] = 1 - init[:, 0]
    with pytest.warns(UserWarning, match="does not accept sample_weight"):
        model = MixtureOfExpertsClassifier(KNeighborsClassifier(), n_experts=2, init=init,
                                           max_iter=1, random_state=0).fit(X, y)
    assert_array_equal(model.experts_[0].classes_, [0, 1])
    proba = model.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    scores = model.score_samples(X, y)
    assert np.all(np.isfinite(scores))
    assert scores.min() >= np.log(PROBA_FLOOR) - 1e-12


def test_predict_proba_never_exceeds_one():
    # Fully grown trees are sure of their classes (probability exactly 1); the gate's
    # weights over experts agreeing on a class summed to 1 + 2**-52 in rows of this fit.
    # (Without label noise, which would make the trees' probabilities less than 1.)
    X, y = make_gated_classification(500, 3, 3, 2, random_state=0)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(random_state=0), n_experts=3,
                                       max_iter=3, random_state=0,
                                       label_noise="none").fit(X, y)
    proba = model.predict_proba(X)
    assert np.all((proba >= 0) & (proba <= 1))
    assert np.any(proba == 1.0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=2 * np.finfo(float).eps)
    assert_allclose(proba, model.predict_proba(X), rtol=0, atol=0)


def test_tree_experts_with_zero_probabilities_stay_finite():
    X, y = make_gated_classification(300, 2, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=4), n_experts=2,
                                       max_iter=10, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.lower_bounds_))
    assert np.all(np.isfinite(model.score_samples(X, y)))


def test_heterogeneous_experts():
    X, y = make_gated_classification(300, 2, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier([LogisticRegression(), GaussianNB()], n_experts=2,
                                       max_iter=5, random_state=0).fit(X, y)
    assert isinstance(model.experts_[1], GaussianNB)


def test_experts_are_trained_on_encoded_labels():
    X, y = make_gated_classification(200, 2, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, random_state=0)
    model.fit(X, np.array(["a", "b", "c"])[y])
    assert_array_equal(model.experts_[0].classes_, [0, 1, 2])


# ------------------------------------------------------------ integration
def test_pipeline_grid_search_cross_val_calibration_and_pickle():
    X, y = make_gated_classification(600, 3, 2, 3, random_state=0)
    labels = np.array(["low", "mid", "high"])[y]
    pipe = make_pipeline(StandardScaler(),
                         MixtureOfExpertsClassifier(max_iter=20, random_state=0))
    search = GridSearchCV(pipe, {"mixtureofexpertsclassifier__n_experts": [1, 2]}, cv=3)
    search.fit(X, labels)
    assert set(search.predict(X)) <= set(labels)
    scores = cross_val_score(pipe, X, labels, cv=3, scoring="neg_log_loss")
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    calibrated = CalibratedClassifierCV(pipe, cv=3).fit(X, labels)
    assert_allclose(calibrated.predict_proba(X).sum(axis=1), 1.0)
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    assert_array_equal(restored.predict_proba(X), search.best_estimator_.predict_proba(X))


def test_same_random_state_gives_identical_fit():
    X, y = make_gated_classification(300, 2, 2, 3, random_state=0)
    a = MixtureOfExpertsClassifier(n_experts=2, n_init=2, max_iter=10, random_state=3).fit(X, y)
    b = MixtureOfExpertsClassifier(n_experts=2, n_init=2, max_iter=10, random_state=3).fit(X, y)
    assert a.lower_bounds_ == b.lower_bounds_
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# ------------------------------------------------------------ bad input
def test_single_class_is_refused():
    X = np.random.RandomState(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="needs at least 2 classes in y; got 1 class: 3"):
        MixtureOfExpertsClassifier(n_experts=2).fit(X, np.full(20, 3))


def test_continuous_target_is_refused():
    X = np.random.RandomState(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MixtureOfExpertsClassifier(n_experts=2).fit(X, X[:, 0])


@pytest.mark.parametrize("expert", [LinearRegression(), make_pipeline(LinearRegression())])
def test_expert_without_predict_proba_is_refused(expert):
    X, y = make_gated_classification(50, 2, 2, 2, random_state=0)
    with pytest.raises(TypeError, match=rf"expert 0 \({type(expert).__name__}\) has no "
                                        r"predict_proba"):
        MixtureOfExpertsClassifier(expert, n_experts=2).fit(X, y)


def test_nan_in_X_is_refused():
    X, y = make_gated_classification(50, 2, 2, 2, random_state=0)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MixtureOfExpertsClassifier(n_experts=2).fit(X, y)


def test_integer_weights_equal_repeated_rows():
    X, y = make_gated_classification(300, 2, 2, 3, random_state=1)
    counts = np.random.RandomState(0).randint(0, 4, size=len(y))
    init = np.random.RandomState(1).dirichlet([1, 1], size=len(y))
    repeat = np.repeat(np.arange(len(y)), counts)
    expert = LogisticRegression(tol=1e-10, max_iter=1000)
    kwargs = {"n_experts": 2, "max_iter": 15, "tol": 0, "random_state": 0}
    weighted = MixtureOfExpertsClassifier(expert, init=init, **kwargs)
    weighted.fit(X, y, sample_weight=counts)
    repeated = MixtureOfExpertsClassifier(expert, init=init[repeat], **kwargs)
    repeated.fit(X[repeat], y[repeat])
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-4, atol=1e-6)
    assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-6)


def test_predictions_invariant_to_row_order_and_subsets(small):
    X, y, model = small
    perm = np.random.RandomState(0).permutation(len(y))
    assert_allclose(model.predict_proba(X[perm]), model.predict_proba(X)[perm], rtol=1e-12)
    assert_allclose(model.score_samples(X[perm], y[perm]), model.score_samples(X, y)[perm],
                    rtol=1e-12)
    assert_allclose(model.predict_proba(X[:5]), model.predict_proba(X)[:5], rtol=1e-12)


# ------------------------------------------------------------ binomial counts
def _binomial_rows(x, successes, trials):
    """Two weighted rows per observation: its successes (label 1) and failures (0)."""
    n = x.shape[0]
    X = np.concatenate([x, x])
    y = np.repeat([1, 0], n)
    weight = np.concatenate([successes, trials - successes]).astype(float)
    observation = np.tile(np.arange(n), 2)
    return X, y, weight, observation


def test_binomial_counts_are_two_weighted_rows_per_observation():
    from scipy.special import expit
    from scipy.stats import binom

    # A two-component binomial regression (flexmix's cbind(s, n - s) ~ x with
    # FLXMRglm(family = "binomial")), 400 observations of 20 to 60 trials.
    rng = np.random.RandomState(0)
    x = rng.uniform(-2, 2, (400, 1))
    component = rng.uniform(size=400) < 0.35
    trials = rng.randint(20, 61, size=400)
    p = expit(np.where(component, 1.0 + 1.5 * x[:, 0], -0.5 - 1.0 * x[:, 0]))
    successes = rng.binomial(trials, p)
    X, y, weight, observation = _binomial_rows(x, successes, trials)
    model = MixtureOfExpertsClassifier(LogisticRegression(C=1e6), n_experts=2,
                                       gate_features=[], n_init=3, random_state=0)
    model.fit(X, y, sample_weight=weight, groups=observation)
    coefs = np.array([[e.intercept_[0], e.coef_[0, 0]] for e in model.experts_])
    order = np.argsort(coefs[:, 1])
    assert_allclose(coefs[order], [[-0.5, -1.0], [1.0, 1.5]], atol=0.1)
    assert_allclose(model.gate_.proportions_[order[1]], component.mean(), atol=0.03)
    # The log-likelihood is the binomial mixture's, less the binomial coefficients.
    probability = np.column_stack([e.predict_proba(x)[:, 1] for e in model.experts_])
    binomial = binom.logpmf(successes[:, None], trials[:, None], probability)
    expected = logsumexp(np.log(model.gate_.proportions_) + binomial, axis=1).sum()
    coefficients = binom.logpmf(successes, trials, 0.5) - trials * np.log(0.5)
    assert_allclose(model.log_likelihood(X, y, sample_weight=weight, groups=observation),
                    expected - coefficients.sum(), rtol=1e-9)
    # Each observation's two rows share one responsibility vector.
    resp = model._posterior(X, y, weight, observation)[0]
    assert_allclose(resp[:400], resp[400:])
    assert np.mean(resp[:400, order[1]].round() == component) > 0.9


def test_convergence_warning_gives_tol_in_full_and_the_recent_changes():
    X, y = make_gated_classification(400, 3, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=8, tol=1.234567e-7,
                                       random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        model.fit(X, y)
    message = str(record[0].message)
    change = np.abs(np.diff(model.lower_bounds_[-6:])).max()
    assert message.startswith(
        "Best performing initialization did not converge (tol=1.234567e-07, max_iter=8): its "
        f"per-sample log-likelihood changed by up to {change:.2g} per iteration over its last "
        "5 iterations.")


def test_tree_experts_never_lower_the_log_likelihood():
    # A greedy tree refit can fit its new weights worse than the tree it replaces,
    # and is then put back (a generalised-EM step). Before, this fit fell by 0.012
    # per row at one step and had not converged after 200 iterations. (The label
    # noise of the default, estimated out of fold, is not a maximiser of the
    # likelihood, and is left out of this check.)
    X, y = make_gated_classification(600, 4, 3, random_state=0)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=3,
                                       max_iter=200, random_state=0,
                                       label_noise="none").fit(X, y)
    assert model.converged_
    assert np.min(np.diff(model.lower_bounds_)) >= -1e-12


def test_an_expert_that_fails_on_absent_classes_is_told_why_and_what_to_do():
    # k-means on iris' X puts setosa in a cluster of its own. A calibrated SVC expert
    # failed at the first M-step with scikit-learn's "IndexError: index 1 is out of
    # bounds for axis 1 with size 1", which said nothing of why, nor what to do.
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    expert = CalibratedClassifierCV(SVC(), ensemble=False)
    with pytest.raises(RuntimeError, match=r"failed to fit at EM iteration 1: .* Its rows "
                       r"with positive weight hold [12] of the 3 classes .*\(init='random'\)"):
        MixtureOfExpertsClassifier(expert, n_experts=2, random_state=0).fit(X, y)
    # The advice works.
    with pytest.warns(ConvergenceWarning):
        model = MixtureOfExpertsClassifier(expert, n_experts=2, init="random", max_iter=3,
                                           random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9
    # An expert that fails for another reason, with every class in its rows, is not
    # told this.
    with pytest.raises(RuntimeError) as caught:
        MixtureOfExpertsClassifier(CalibratedClassifierCV(SVC(C=-1.0)), n_experts=2,
                                   init="random", random_state=0).fit(X, y)
    assert "failed to fit" in str(caught.value)
    assert "Its rows with positive weight" not in str(caught.value)
