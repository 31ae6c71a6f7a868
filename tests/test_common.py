"""scikit-learn's estimator checks, run the scikit-learn way."""

import pytest
from sklearn.linear_model import (
    HuberRegressor,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skmoe import (
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
    ScaledLogisticRegression,
    ScaledRidge,
    SoftmaxGate,
)

FAST = {"max_iter": 5, "n_init": 1, "random_state": 0}

ESTIMATORS = [
    MixtureOfExpertsRegressor(n_experts=2, **FAST),
    MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3), n_experts=2, **FAST),
    MixtureOfExpertsRegressor(KNeighborsRegressor(n_neighbors=3), n_experts=2, **FAST),
    MixtureOfExpertsRegressor(
        [LinearRegression(), DecisionTreeRegressor(max_depth=3)], n_experts=2, **FAST
    ),
    # A list sets the number of experts (n_experts=None).
    MixtureOfExpertsRegressor(experts=[HuberRegressor(), Ridge()], **FAST),
    MixtureOfExpertsRegressor(
        experts=[("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=2))], **FAST
    ),
    MixtureOfExpertsClassifier(n_experts=2, **FAST),
    MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=2, **FAST),
    MixtureOfExpertsClassifier(GaussianNB(), n_experts=2, **FAST),
    MixtureOfExpertsClassifier(
        [LogisticRegression(), DecisionTreeClassifier(max_depth=3)], n_experts=2, **FAST
    ),
    MixtureOfExpertsClassifier(
        experts=[LogisticRegression(), DecisionTreeClassifier(max_depth=2)], **FAST
    ),
    MixtureOfExpertsClassifier(
        experts=[("logistic", LogisticRegression()), ("tree", DecisionTreeClassifier())],
        **FAST,
    ),
    # Sparse inputs (CSR with 64-bit indices included) reach every part that takes them.
    MixtureOfExpertsClassifier(SGDClassifier(loss="log_loss"), n_experts=2, **FAST),
    SoftmaxGate(),
    ScaledRidge(),
    ScaledLogisticRegression(),
]


def _expected_failed_checks(estimator):
    if isinstance(estimator, SoftmaxGate):
        return {}
    if isinstance(estimator, (ScaledRidge, ScaledLogisticRegression)):
        reason = (
            "by design: the penalty is measured in each feature's spread over the rows "
            "given to fit, whatever their weights (a mixture gives every expert all rows), "
            "so repeating or dropping rows changes it; tested in tests/test_ridge.py and "
            "tests/test_scaled_logistic.py."
        )
        return {
            "check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason,
        }
    # Each of these behaviours is tested directly in tests/test_regressor.py and
    # tests/test_classifier.py.

    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "EM is a local method started from k-means: repeating a row changes the "
            "k-means++ seeding, so weighted and repeated data start from different points "
            "and may reach different optima. And min_rows_per_parameter counts rows (a "
            "row's worth is the mean positive weight), for each expert and each leaf of a "
            "tree expert: a row of weight 2 is one row there, the same row twice is two. "
            "Weights are tested against repetition from a common initial array instead."
        ),
        "check_sample_weight_equivalence_on_sparse_data": (
            "as for dense data: repeated rows change the k-means++ seeding of EM and the "
            "rows min_rows_per_parameter counts."
        ),
        "check_methods_sample_order_invariance": (
            "the check calls score_samples(X), but a mixture of experts is a conditional "
            "density and its score_samples takes (X, y); predict is tested for row-order "
            "invariance directly."
        ),
        "check_methods_subset_invariance": (
            "the check calls score_samples(X), but score_samples takes (X, y); predict and "
            "score_samples are tested for subset invariance directly."
        ),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:Expert .* does not accept sample_weight:UserWarning")
@pytest.mark.filterwarnings("ignore:Expert .* was removed:UserWarning")
# GaussianNB's own warning when an expert's weights leave a class with prior 0.
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
