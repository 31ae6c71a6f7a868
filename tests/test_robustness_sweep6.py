"""The classifier's label noise and its neighbours: results that were silently wrong
(docs/robustness.rst)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_gated_classification

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ------------------------------------------ a generator given as random_state
def test_label_noise_that_models_nothing_leaves_a_shared_generator_alone():
    # The seed of the folds' resamples was drawn from random_state before the
    # starts' seeds: with a RandomState (or None and NumPy's global generator),
    # a mixture of LogisticRegression experts under label_noise="auto", which
    # refits none of them on folds, started elsewhere than with "none"
    # (probabilities 0.11 apart), as the regressor's LinearRegression experts
    # did under noise_variance="auto" against "in_sample" (predictions 0.47 apart).
    X, y = make_gated_classification(n_samples=400, n_experts=2, random_state=0)
    proba = {
        noise: MixtureOfExpertsClassifier(n_experts=3, init="random", label_noise=noise,
                                          random_state=np.random.RandomState(0))
        .fit(X, y).predict_proba(X)
        for noise in ("auto", "none")
    }
    assert_array_equal(proba["auto"], proba["none"])
    target = 2 * X[:, 0] + np.random.default_rng(1).normal(size=X.shape[0])
    predictions = {
        noise: MixtureOfExpertsRegressor(LinearRegression(), n_experts=3, init="random",
                                         noise_variance=noise,
                                         random_state=np.random.RandomState(0))
        .fit(X, target).predict(X)
        for noise in ("auto", "in_sample")
    }
    assert_array_equal(predictions["auto"], predictions["in_sample"])
    # The starts are those of the generator's first draws, whatever the noise.
    seeded = MixtureOfExpertsClassifier(n_experts=3, init="random", label_noise="none",
                                        random_state=0).fit(X, y)
    assert_array_equal(seeded.predict_proba(X), proba["auto"])


# ------------------------------------------------- the tables of a noisy classifier
def test_expert_tables_show_each_experts_share_of_noisy_labels():
    # expert_summary ("its share, its effective sample size, its noise and
    # coefficients") and report's experts table showed nothing of the label
    # noise, a share that mixes 20 to 40% of class frequencies into an expert's
    # probabilities; the tables read as those of the experts' own probabilities.
    from sklearn.tree import DecisionTreeClassifier

    from skmoe.inspection import expert_summary, report

    X, y = make_gated_classification(n_samples=300, n_experts=2, random_state=1)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=2,
                                       max_iter=30, random_state=0).fit(X, y)
    summary = expert_summary(model)
    assert list(summary.columns) == ["expert", "share", "effective_n_samples", "label_noise"]
    assert_array_equal(summary["label_noise"], model.label_noise_)
    table = report(model, X, y).experts
    assert_array_equal(table["label_noise"], model.label_noise_)
    # Without label noise the tables are as before.
    plain = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    assert "label_noise" not in expert_summary(plain).columns
    assert "label_noise" not in report(plain, X, y).experts.columns


# --------------------------------------------- a refit's prediction that fails
@pytest.mark.filterwarnings("ignore:Expert 0 .* does not accept sample_weight")
@pytest.mark.parametrize("estimator, what", [
    ("classifier", "label noise"),
    ("regressor", "noise variance"),
])
def test_a_refit_that_fails_to_predict_is_named(estimator, what):
    # Nearest neighbours asked for 56 of 60 rows fit every row but not a refit
    # without a fold (54 rows): the regressor raised scikit-learn's bare message,
    # naming no expert, and neither said that a refit had failed.
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    if estimator == "classifier":
        model = MixtureOfExpertsClassifier(KNeighborsClassifier(56), n_experts=1,
                                           random_state=0)
        y = (X[:, 0] > 0).astype(int)
        method = "predict_proba"
    else:
        model = MixtureOfExpertsRegressor(KNeighborsRegressor(56), n_experts=1,
                                          random_state=0)
        y = X[:, 0] + rng.normal(size=60)
        method = "predict"
    message = (rf"^Expert 0 \(KNeighbors\w+\) failed in {method}: Expected n_neighbors "
               rf".* \(in a refit of the expert on 54 of the 60 rows, the rows outside one "
               rf"fold, while its {what} was cross-fitted\)$")
    with pytest.raises(ValueError, match=message) as caught:
        model.fit(X, y)
    assert isinstance(caught.value.__cause__, ValueError)
