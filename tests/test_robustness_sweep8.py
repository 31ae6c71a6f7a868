"""flexmix's own examples, checked against flexmix: what skmoe got wrong on them, with a
reference computed another way (docs/robustness.rst, docs/flexmix.rst)."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ---------------------------------------- min_expert_weight with groups (Mehta)
def _grouped_lines(seed=0):
    """20 groups of 10 rows on three lines; the one group on the third line weighs
    0.1 per row, so its expert's share is 1/20 of the groups but 1/191 of the weight."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(20), 10)
    line = np.where(group < 10, 0, np.where(group < 19, 1, 2))
    x = rng.uniform(-2, 2, 200)
    intercept, slope = np.array([0.0, 4.0, -6.0]), np.array([1.0, -1.0, 3.0])
    y = intercept[line] + slope[line] * x + 0.3 * rng.normal(size=200)
    weight = np.where(line == 2, 0.1, 1.0)
    return x[:, None], y, weight, group


def test_min_expert_weight_with_groups_is_the_groups_share():
    # flexmix's minprior compares each component's prior, its share of the groups.
    # skmoe compared the share of the rows' weights: on Mehta (22 sites,
    # minprior 0.04) the component of site 15 (1/22 = 0.045 of the sites, 0.037
    # of the patients) was removed, and every start ended with one expert at a
    # log-likelihood of -78.81 where flexmix reached -62.03 with three.
    X, y, weight, group = _grouped_lines()

    def fit(min_weight):
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=3, gate_features=[],
                                          n_init=3, random_state=0, min_rows_per_parameter=0,
                                          min_expert_weight=min_weight)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no expert is removed
            return model.fit(X, y, sample_weight=weight, groups=group)

    floored, free = fit(0.04), fit(0.0)
    assert floored.n_experts_ == 3
    assert np.sort(floored.gate_.proportions_)[0] == pytest.approx(1 / 20, abs=1e-6)
    assert floored.log_likelihood(X, y, weight, group) == pytest.approx(
        free.log_likelihood(X, y, weight, group), rel=1e-10)
    # A floor above the group's share still removes its expert, naming its share.
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=3, gate_features=[],
                                      n_init=3, random_state=0, min_rows_per_parameter=0,
                                      min_expert_weight=0.06)
    with pytest.warns(UserWarning, match=r"share of the responsibilities is 0\.05"):
        model.fit(X, y, sample_weight=weight, groups=group)
    assert model.n_experts_ == 2


# ------------------------------------------------ grouped starts (Mehta, betablocker)
def _grouped_binomial(seed=0):
    """30 centres of two arms in three risk levels, as two weighted rows per arm
    (deaths, label 1; survivors, label 0) grouped by centre."""
    rng = np.random.default_rng(seed)
    level = np.repeat([0, 1, 2], 10)
    treated = np.tile([0.0, 1.0], 30)
    centre = np.repeat(np.arange(30), 2)
    logit = np.array([-3.0, -1.5, 0.0])[level[centre]] - 0.5 * treated
    total = rng.integers(30, 80, size=60)
    deaths = rng.binomial(total, 1 / (1 + np.exp(-logit)))
    X = np.concatenate([treated, treated])[:, None]
    y = np.repeat([1, 0], 60)
    weight = np.concatenate([deaths, total - deaths]).astype(float)
    return X, y, weight, np.tile(centre, 2), level


def test_a_grouped_start_gives_every_expert_a_group():
    # Each group started wholly with the expert its rows' weighted mean favoured.
    # On binomial data as weighted rows, k-means' clusters are the labels, which
    # every group holds in the same proportions: no group favoured the third
    # expert, it was removed in the first iteration (share 0), and every single
    # start of Mehta (K = 3, 20 seeds) ended with two experts at -64.34 where
    # flexmix reaches -62.03 with three. Now every expert starts with a group.
    from sklearn.linear_model import LogisticRegression

    from skmoe import MixtureOfExpertsClassifier
    from skmoe.inspection import posterior

    X, y, weight, centre, level = _grouped_binomial()
    model = MixtureOfExpertsClassifier(LogisticRegression(C=1e8), n_experts=3,
                                       gate_features=[], n_init=1, random_state=0,
                                       min_rows_per_parameter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no expert is removed
        model.fit(X, y, sample_weight=weight, groups=centre)
    assert model.n_experts_ == 3
    # The three risk levels are recovered, one expert each.
    clusters = posterior(model, X, y, sample_weight=weight, groups=centre)[:60:2].argmax(axis=1)
    assert len(set(zip(clusters, level))) == 3


# ------------------------------------- GLM experts that stop short (salmonellaTA98)
# flexmix's salmonellaTA98: revertant colonies at six doses of quinoline, three plates each.
_DOSE = np.repeat([0.0, 10.0, 33.0, 100.0, 333.0, 1000.0], 3)
_COLONIES = np.array([15, 21, 29, 16, 18, 21, 16, 26, 33, 27, 41, 60, 33, 38, 41, 20, 27, 42],
                     dtype=float)


def _poisson_reference(X, y, weight):
    """The weighted Poisson GLM's maximum, by Newton's method on the log-likelihood."""
    design = np.column_stack([np.ones(len(y)), X])
    beta = np.zeros(design.shape[1])
    beta[0] = np.log(np.average(y, weights=weight))
    for _ in range(100):
        mu = np.exp(design @ beta)
        step = np.linalg.solve(design.T @ (design * (weight * mu)[:, None]),
                               design.T @ (weight * (y - mu)))
        beta += step
        if np.abs(step).max() < 1e-12:
            break
    return beta


def test_glm_shortfall_measures_what_lbfgs_left():
    # scikit-learn's PoissonRegressor (L-BFGS) stops after one iteration on these
    # columns (a dose of 0 to 1000 beside its logarithm), at the intercept-only fit,
    # reporting convergence; the shortfall is the gain of the Newton step to the
    # maximum, and nothing where the solver reached it.
    from scipy.stats import poisson
    from sklearn.linear_model import PoissonRegressor

    from skmoe._experts import glm_shortfall

    X = np.column_stack([_DOSE, np.log(_DOSE + 10)])
    weight = np.ones(18)
    beta = _poisson_reference(X, _COLONIES, weight)
    lbfgs = PoissonRegressor(alpha=0.0, tol=1e-10).fit(X, _COLONIES)
    newton = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10).fit(X, _COLONIES)
    assert np.allclose(np.r_[newton.intercept_, newton.coef_], beta, rtol=1e-6)
    gap = (poisson.logpmf(_COLONIES, np.exp(beta[0] + X @ beta[1:])).sum()
           - poisson.logpmf(_COLONIES, lbfgs.predict(X)).sum())
    assert gap > 1.0  # what the solver left behind, silently
    shortfall = glm_shortfall(lbfgs, X, _COLONIES, weight)
    assert shortfall == pytest.approx(gap, rel=0.5)  # one Newton step's gain
    assert glm_shortfall(newton, X, _COLONIES, weight) < 1e-8


def test_mixture_of_glm_experts_stopped_short_warns():
    # On salmonellaTA98 (y ~ x + log(x + 10), K = 2, best of 10), the Poisson
    # mixture ended at -65.26 where flexmix reaches -60.90, without a word: its
    # experts' L-BFGS fits stopped short in every M-step. Now it warns, naming the
    # Newton solver, which reaches flexmix's maximum.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import PoissonRegressor

    X = np.column_stack([_DOSE, np.log(_DOSE + 10)])

    def mixture(solver):
        return MixtureOfExpertsRegressor(
            PoissonRegressor(alpha=0.0, solver=solver, tol=1e-10, max_iter=1000),
            n_experts=2, gate_features=[], n_init=10, random_state=0,
            min_expert_weight=0.05, min_rows_per_parameter=0, tol=1e-10, max_iter=1000)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's overflow
        with pytest.warns(ConvergenceWarning, match="stopped short.*newton-cholesky"):
            short = mixture("lbfgs").fit(X, _COLONIES)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        newton = mixture("newton-cholesky").fit(X, _COLONIES)
    assert newton.log_likelihood(X, _COLONIES) == pytest.approx(-60.8999148, abs=1e-4)
    assert short.log_likelihood(X, _COLONIES) < newton.log_likelihood(X, _COLONIES) - 1.0


def test_a_poisson_rate_is_refused_with_the_offset_named():
    # The rate y / t with sample weight t has the score equations of y with offset
    # log(t), but skmoe's Poisson family scores counts: it refuses the rate, and
    # now says what to do (flexmix's seizure: Seizures / Hours).
    from sklearn.linear_model import PoissonRegressor

    hours = np.array([7.0, 7.0, 8.0, 10.0, 8.0, 8.0])
    seizures = np.array([56.0, 57.0, 36.0, 54.0, 41.0, 72.0])
    model = MixtureOfExpertsRegressor(PoissonRegressor(alpha=0.0), n_experts=2,
                                      gate_features=[])
    with pytest.raises(ValueError, match=r"got np.float64\(8.14.*log\(t\) as an offset"):
        model.fit(np.arange(6.0)[:, None], seizures / hours, sample_weight=hours)
