"""The estimators :func:`skmoe.compare.compare` fits by default, and their families."""

from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import check_random_state

from ._base import BaseMixtureOfExperts
from ._classifier import MixtureOfExpertsClassifier
from ._regressor import MixtureOfExpertsRegressor
from ._validation import BaseSearchCV, Interval, StrOptions, validate_params

__all__ = ["FAMILIES", "default_baselines", "estimator_family", "final_step"]

#: The estimator families, in the order the verdicts name them when tied.
FAMILIES = ("mixture of experts", "boosting", "bagging", "stacking", "single model")

# EM settings of the default mixtures: see default_baselines for why.
_EM = {"n_init": 1, "tol": 1e-4}


def _scaled(estimator):
    return make_pipeline(StandardScaler(), estimator)


@validate_params(
    {
        "task": [StrOptions({"regression", "classification"})],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def default_baselines(task, *, n_experts=3, random_state=0):
    """The estimators :func:`compare` fits when it is given none.

    Every family a practitioner would try first, with scikit-learn's usual
    settings, beside two mixtures of experts:

    ============================  ==================  ===============================
    name                          family              estimator
    ============================  ==================  ===============================
    ``linear``                    single model        standardised least squares
                                                      (logistic regression)
    ``tree``                      single model        decision tree,
                                                      ``min_samples_leaf=5``
    ``bagged_trees``              bagging             50 bagged full-depth trees
    ``bagged_linear``             bagging             10 bagged linear models
    ``random_forest``             bagging             random forest, 100 trees
    ``adaboost``                  boosting            AdaBoost (its default trees)
    ``gradient_boosting``         boosting            gradient boosting, 100 trees
    ``hist_gradient_boosting``    boosting            histogram gradient boosting
    ``stacking``                  stacking            linear + tree + 10-NN, linear
                                                      final estimator
    ``moe_linear``                mixture of experts  ``n_experts`` standardised
                                                      linear (logistic) experts
    ``moe_trees``                 mixture of experts  ``n_experts`` trees of depth 3
    ============================  ==================  ===============================

    ``n_experts=3`` is the estimators' own default: few enough experts that
    each still sees hundreds of rows in a training fold of a thousand, enough
    for two or three regimes. The tree experts are shallow because the gate
    already splits the input space; deep trees would each fit all the rows.
    The mixtures run one EM start (``n_init=1``) of at most ``max_iter``
    iterations (the estimators' default, 300), stopping when the per-sample
    log-likelihood changes by less than 1e-4: on the data sets tried (the
    skmoe generators, diabetes, breast cancer) more starts or a tighter
    tolerance changed the scores by less than their fold-to-fold spread and
    took two to four times longer. Their fits converge there: on diabetes,
    ``moe_linear`` takes 39 to 110 iterations.

    Parameters
    ----------
    task : {"regression", "classification"}
        Which kind of estimators to return.
    n_experts : int, default=3
        Number of experts of the two mixtures.
    random_state : int, RandomState instance or None, default=0
        Seeds every estimator that has a ``random_state``; an int makes the
        comparison reproducible.

    Returns
    -------
    estimators : dict of str to estimator
        Unfitted estimators by name, in the order of the table above.

    Examples
    --------
    >>> from skmoe.compare import default_baselines
    >>> sorted(default_baselines("regression"))[:3]
    ['adaboost', 'bagged_linear', 'bagged_trees']
    """
    rng = check_random_state(random_state)

    def seed():
        return int(rng.randint(np.iinfo(np.int32).max))

    if task == "regression":
        linear = _scaled(LinearRegression())
        estimators = {
            "linear": linear,
            "tree": DecisionTreeRegressor(min_samples_leaf=5, random_state=seed()),
            "bagged_trees": BaggingRegressor(
                DecisionTreeRegressor(), n_estimators=50, random_state=seed()
            ),
            "bagged_linear": BaggingRegressor(
                _scaled(LinearRegression()), n_estimators=10, random_state=seed()
            ),
            "random_forest": RandomForestRegressor(n_estimators=100, random_state=seed()),
            "adaboost": AdaBoostRegressor(random_state=seed()),
            "gradient_boosting": GradientBoostingRegressor(random_state=seed()),
            "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed()),
            "stacking": StackingRegressor(
                [
                    ("linear", _scaled(LinearRegression())),
                    ("tree", DecisionTreeRegressor(min_samples_leaf=5, random_state=seed())),
                    ("knn", _scaled(KNeighborsRegressor(n_neighbors=10))),
                ],
                final_estimator=RidgeCV(),
            ),
            "moe_linear": _scaled(
                MixtureOfExpertsRegressor(n_experts=n_experts, **_EM, random_state=seed())
            ),
            "moe_trees": MixtureOfExpertsRegressor(
                DecisionTreeRegressor(max_depth=3), n_experts=n_experts, **_EM,
                random_state=seed(),
            ),
        }
        return estimators

    logistic = LogisticRegression(max_iter=1000)
    return {
        "linear": _scaled(clone(logistic)),
        "tree": DecisionTreeClassifier(min_samples_leaf=5, random_state=seed()),
        "bagged_trees": BaggingClassifier(
            DecisionTreeClassifier(), n_estimators=50, random_state=seed()
        ),
        "bagged_linear": BaggingClassifier(
            _scaled(clone(logistic)), n_estimators=10, random_state=seed()
        ),
        "random_forest": RandomForestClassifier(n_estimators=100, random_state=seed()),
        "adaboost": AdaBoostClassifier(random_state=seed()),
        "gradient_boosting": GradientBoostingClassifier(random_state=seed()),
        "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed()),
        "stacking": StackingClassifier(
            [
                ("linear", _scaled(clone(logistic))),
                ("tree", DecisionTreeClassifier(min_samples_leaf=5, random_state=seed())),
                ("knn", _scaled(KNeighborsClassifier(n_neighbors=10))),
            ],
            final_estimator=clone(logistic),
        ),
        "moe_linear": _scaled(
            MixtureOfExpertsClassifier(
                clone(logistic), n_experts=n_experts, **_EM, random_state=seed()
            )
        ),
        "moe_trees": MixtureOfExpertsClassifier(
            DecisionTreeClassifier(max_depth=3), n_experts=n_experts, **_EM,
            random_state=seed(),
        ),
    }


def final_step(estimator):
    """The estimator at the end of (nested) Pipelines and hyper-parameter searches."""
    while True:
        if isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        elif isinstance(estimator, BaseSearchCV):
            estimator = getattr(estimator, "best_estimator_", estimator.estimator)
        else:
            return estimator


_FAMILY_TYPES = (
    ("mixture of experts", (BaseMixtureOfExperts,)),
    ("stacking", (StackingClassifier, StackingRegressor, VotingClassifier, VotingRegressor)),
    (
        "boosting",
        (
            AdaBoostClassifier, AdaBoostRegressor, GradientBoostingClassifier,
            GradientBoostingRegressor, HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
        ),
    ),
    (
        "bagging",
        (
            BaggingClassifier, BaggingRegressor, RandomForestClassifier,
            RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor,
        ),
    ),
)


def estimator_family(estimator):
    """The family an estimator belongs to, looking through Pipelines and searches.

    A hyper-parameter search (``GridSearchCV``, ``RandomizedSearchCV``, ...)
    belongs to the family of the estimator it tunes.

    Parameters
    ----------
    estimator : estimator
        Fitted or not.

    Returns
    -------
    family : str
        One of :data:`FAMILIES`: ``"mixture of experts"`` (skmoe's estimators),
        ``"stacking"`` (stacking and voting), ``"boosting"`` (AdaBoost and
        gradient boosting), ``"bagging"`` (bagging, random forests, extra
        trees) or ``"single model"`` (anything else).

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from skmoe.compare import estimator_family
    >>> estimator_family(RandomForestRegressor())
    'bagging'
    """
    final = final_step(estimator)
    for family, types in _FAMILY_TYPES:
        if isinstance(final, types):
            return family
    return "single model"
