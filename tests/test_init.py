"""Initial responsibilities: valid rows, and every start different."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skmoe._base
from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._init import (
    EMEM_SHORT_ITER,
    EMEM_SHORT_RUNS,
    initial_responsibilities,
    random_partition,
    start_strategy,
)
from skmoe.datasets import make_gated_classification, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def data():
    X, y = make_switching_regression(300, 2, 3, random_state=0)
    return X, y, np.ones(300)


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_rows_are_probabilities(data, init):
    X, y, w = data
    resp = initial_responsibilities(init, X, y, w, 3, 0, np.random.RandomState(0))
    assert resp.shape == (300, 3)
    assert np.all(resp >= 0)
    assert_allclose(resp.sum(axis=1), 1.0)


def test_kmeans_first_start_clusters_standardised_x_and_y():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1)) * 1e6
    # Two groups separated only in y: without standardisation X's scale would hide them.
    y = np.r_[np.zeros(100), np.full(100, 1e-6)] + rng.normal(scale=1e-9, size=200)
    resp = initial_responsibilities("kmeans", X, y, np.ones(200), 2, 0, rng)
    labels = resp.argmax(axis=1)
    assert len(set(labels[:100])) == 1 and len(set(labels[100:])) == 1
    assert labels[0] != labels[-1]


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_each_start_differs(data, init):
    X, y, w = data
    rng = np.random.RandomState(0)
    starts = [initial_responsibilities(init, X, y, w, 3, s, rng) for s in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            assert not np.array_equal(starts[a], starts[b])


def test_array_first_start_as_given_later_starts_perturbed(data):
    X, y, w = data
    given = np.random.RandomState(1).dirichlet([1, 1, 1], size=300)
    rng = np.random.RandomState(0)
    first = initial_responsibilities(given, X, y, w, 3, 0, rng)
    later = initial_responsibilities(given, X, y, w, 3, 1, rng)
    assert_array_equal(first, given)
    assert not np.allclose(later, given)
    assert_allclose(later.sum(axis=1), 1.0)


def test_kmeans_respects_zero_weights():
    X = np.r_[np.zeros((50, 1)), np.full((50, 1), 10.0), np.full((5, 1), 100.0)]
    y = X[:, 0].copy()
    w = np.r_[np.ones(100), np.zeros(5)]
    resp = initial_responsibilities("kmeans", X, y, w, 2, 0, np.random.RandomState(0))
    labels = resp.argmax(axis=1)
    # The far rows carry no weight, so they do not get a cluster of their own.
    assert labels[0] != labels[50]


def test_kmeans_on_many_rows_finds_centres_on_a_subset(monkeypatch):
    from sklearn.cluster import KMeans

    import skmoe._init

    monkeypatch.setattr(skmoe._init, "KMEANS_MAX_ROWS", 200)
    fitted_rows = []
    original = KMeans.fit

    def spy(self, X, *args, **kwargs):
        fitted_rows.append(X.shape[0])
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(KMeans, "fit", spy)
    rng = np.random.RandomState(0)
    # Three well separated groups of 400 rows each.
    X = np.repeat([[0.0], [10.0], [20.0]], 400, axis=0) + rng.normal(size=(1200, 1))
    y = X[:, 0].copy()
    resp = initial_responsibilities("kmeans", X, y, np.ones(1200), 3, 0,
                                    np.random.RandomState(1))
    assert fitted_rows == [200]
    # Every row is assigned, and the partition is the true one.
    assert resp.shape == (1200, 3)
    labels = resp.argmax(axis=1)
    groups = [set(labels[i * 400:(i + 1) * 400]) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    # The subset is drawn by the start's generator: the same seed, the same start.
    again = initial_responsibilities("kmeans", X, y, np.ones(1200), 3, 0,
                                     np.random.RandomState(1))
    assert_array_equal(resp, again)


def test_auto_is_kmeans_alone_or_short_run_em_whose_first_start_tries_kmeans(monkeypatch):
    assert start_strategy("auto", 0, 1) == "kmeans"
    assert [start_strategy("auto", start, 3) for start in range(3)] == [
        "emem+kmeans", "emem", "emem"]
    assert start_strategy("random", 0, 3) == "random"
    X, y = _overlapping_regimes(4, n_samples=150)
    single = dict(n_init=1, max_iter=40, random_state=2)
    assert (MixtureOfExpertsRegressor(init="auto", **single).fit(X, y).init_lower_bounds_
            == MixtureOfExpertsRegressor(init="kmeans", **single).fit(X, y).init_lower_bounds_)
    several = dict(n_init=3, max_iter=40, random_state=2)
    auto = MixtureOfExpertsRegressor(init="auto", **several).fit(X, y)
    emem = MixtureOfExpertsRegressor(init="emem", **several).fit(X, y)
    # Each start has its own seed, whatever the strategy: the later starts line up.
    assert auto.init_lower_bounds_[1:] == emem.init_lower_bounds_[1:]
    # The first start's first short run begins from the k-means partition.
    starts = []
    run_em = skmoe._base.BaseMixtureOfExperts._run_em

    def recording(self, run, resp, data, random_state, n_jobs, max_iter=None):
        if resp is not None:
            starts.append(resp.copy())
        return run_em(self, run, resp, data, random_state, n_jobs, max_iter)

    monkeypatch.setattr(skmoe._base.BaseMixtureOfExperts, "_run_em", recording)
    MixtureOfExpertsRegressor(init="auto", **several).fit(X, y)
    kmeans = initial_responsibilities("kmeans", X, y, np.ones(150), 3, 0,
                                      np.random.RandomState(_first_seed(2)))
    assert_array_equal(starts[0], kmeans)
    assert len(starts) == 3 * EMEM_SHORT_RUNS


def _first_seed(random_state):
    """The seed of a fit's first start (the fit draws one per start)."""
    return np.random.RandomState(random_state).randint(np.iinfo(np.int32).max)


def test_random_partition_is_one_hot_and_leaves_no_expert_empty():
    rng = np.random.RandomState(0)
    for n_samples, n_experts in [(5, 5), (40, 3), (1000, 7)]:
        resp = random_partition(n_samples, n_experts, rng)
        assert_array_equal(resp.sum(axis=1), 1.0)
        assert set(np.unique(resp)) == {0.0, 1.0}
        assert np.all(resp.sum(axis=0) >= 1)


def _overlapping_regimes(seed, n_samples=300):
    """Three regimes over the same x-range, differing in slope, with shares 50/35/15%
    drawn independently of x: k-means on [x, y] sees no clusters to find."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n_samples, 1))
    regime = rng.choice(3, size=n_samples, p=[0.5, 0.35, 0.15])
    y = (np.array([2.0, -1.0, 0.5])[regime] * x[:, 0] + np.array([0.0, 0.5, -1.0])[regime]
         + 0.5 * rng.normal(size=n_samples))
    return x, y


def test_default_starts_find_the_best_optimum_of_overlapping_regimes():
    X, y = _overlapping_regimes(0)
    best = MixtureOfExpertsRegressor(init="random", n_init=50, random_state=123).fit(X, y)
    margin = 0.01 / len(y)
    found = [
        MixtureOfExpertsRegressor(n_init=3, random_state=seed).fit(X, y).lower_bound_
        >= best.lower_bound_ - margin
        for seed in range(20)
    ]
    assert sum(found) >= 18


@pytest.mark.parametrize("init", ["auto", "kmeans", "random", "emem"])
@pytest.mark.parametrize("assignment", ["soft", "hard", "stochastic"])
def test_every_strategy_is_deterministic_for_a_fixed_random_state(init, assignment):
    X, y = _overlapping_regimes(1, n_samples=120)
    kwargs = dict(init=init, n_init=2, assignment=assignment, max_iter=20, random_state=3)
    first = MixtureOfExpertsRegressor(**kwargs).fit(X, y)
    again = MixtureOfExpertsRegressor(**kwargs).fit(X, y)
    assert first.init_lower_bounds_ == again.init_lower_bounds_
    assert_array_equal(first.predict(X), again.predict(X))


@pytest.mark.parametrize("init", ["auto", "random", "emem"])
def test_log_likelihood_never_decreases_for_every_strategy(init):
    X, y = _overlapping_regimes(2)
    model = MixtureOfExpertsRegressor(init=init, n_init=3, tol=0.0, max_iter=40,
                                      min_expert_weight=0.0, noise_variance="in_sample",
                                      random_state=0).fit(X, y)
    for history in model.init_lower_bounds_:
        steps = np.diff(history[1:])
        assert np.all(steps >= -1e-10 * np.abs(history[1:-1]).max())


def test_emem_continues_the_best_of_its_short_runs(monkeypatch):
    # Short runs of 5 iterations, so that the continuation is sure to be longer.
    monkeypatch.setattr(skmoe._base, "EMEM_SHORT_ITER", 5)
    X, y = _overlapping_regimes(3)
    model = MixtureOfExpertsRegressor(init="emem", random_state=0).fit(X, y)
    assert model.n_iter_ > 5 and model.converged_
    # With max_iter no longer than a short run, the best short run is the fit.
    short = MixtureOfExpertsRegressor(init="emem", max_iter=5, random_state=0).fit(X, y)
    assert short.n_iter_ == 5
    assert short.lower_bounds_ == model.lower_bounds_[:5]


def test_each_emem_start_is_its_short_runs_then_one_continuation(monkeypatch):
    calls = []
    run_em = skmoe._base.BaseMixtureOfExperts._run_em

    def recording(self, run, resp, data, random_state, n_jobs, max_iter=None):
        calls.append((resp is None, max_iter))
        return run_em(self, run, resp, data, random_state, n_jobs, max_iter)

    monkeypatch.setattr(skmoe._base.BaseMixtureOfExperts, "_run_em", recording)
    X, y = _overlapping_regimes(5, n_samples=150)
    MixtureOfExpertsRegressor(init="emem", n_init=2, random_state=0).fit(X, y)
    short = (False, EMEM_SHORT_ITER)
    assert calls == 2 * ([short] * EMEM_SHORT_RUNS + [(True, None)])


def test_emem_keeps_a_converged_short_run_as_the_start(monkeypatch):
    # Two well separated lines: short runs converge well within EMEM_SHORT_ITER.
    calls = []
    run_em = skmoe._base.BaseMixtureOfExperts._run_em

    def recording(self, run, resp, data, random_state, n_jobs, max_iter=None):
        result = run_em(self, run, resp, data, random_state, n_jobs, max_iter)
        calls.append((resp is None, run.n_iter, run.converged, list(run.lower_bounds)))
        return result

    monkeypatch.setattr(skmoe._base.BaseMixtureOfExperts, "_run_em", recording)
    X, y = make_switching_regression(200, 2, 2, noise=0.1, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, init="emem", n_init=1,
                                      random_state=0).fit(X, y)
    assert [continued for continued, *_ in calls] == [False] * EMEM_SHORT_RUNS
    assert all(converged and n_iter < EMEM_SHORT_ITER for _, n_iter, converged, _ in calls)
    best = max(calls, key=lambda call: call[3][-1])
    assert model.converged_ and model.n_iter_ == best[1]
    assert model.lower_bounds_ == best[3]


@pytest.mark.parametrize("init", ["auto", "random", "emem"])
def test_strategies_fit_the_classifier(init):
    X, y = make_gated_classification(300, 2, 2, 2, random_state=0)
    kwargs = dict(init=init, n_init=2, max_iter=20, random_state=0)
    first = MixtureOfExpertsClassifier(**kwargs).fit(X, y)
    again = MixtureOfExpertsClassifier(**kwargs).fit(X, y)
    assert first.init_lower_bounds_ == again.init_lower_bounds_
    assert first.score(X, y) > 0.7


def test_starts_at_best_counts_the_starts_within_a_hundredth_of_a_nat():
    X, y = _overlapping_regimes(4)
    model = MixtureOfExpertsRegressor(init="random", n_init=8, random_state=0).fit(X, y)
    finals = np.array([history[-1] for history in model.init_lower_bounds_])
    expected = np.sum(finals >= finals.max() - 0.01 / len(y))
    assert model.n_starts_at_best_ == expected >= 1
    assert model.lower_bound_ == finals.max()


def test_init_array_in_fortran_order_fits_as_in_c_order():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    init = np.asfortranarray(np.random.RandomState(0).dirichlet([1.0, 1.0], size=300))
    fortran = MixtureOfExpertsRegressor(n_experts=2, init=init, random_state=0).fit(X, y)
    c_order = MixtureOfExpertsRegressor(n_experts=2, init=np.ascontiguousarray(init),
                                        random_state=0).fit(X, y)
    assert_allclose(fortran.lower_bounds_, c_order.lower_bounds_)


def test_classifier_accepts_an_init_array_of_any_layout():
    X, y = make_gated_classification(300, random_state=0)
    init = np.random.RandomState(0).dirichlet([1.0, 1.0], size=300)
    c_order = MixtureOfExpertsClassifier(n_experts=2, init=init, random_state=0).fit(X, y)
    # Fortran order (as from DataFrame.to_numpy()), every other column of a
    # wider array, and columns in reverse memory order.
    wider = np.zeros((300, 4))
    wider[:, ::2] = init
    reversed_columns = np.ascontiguousarray(init[:, ::-1])[:, ::-1]
    for layout in (np.asfortranarray(init), wider[:, ::2], reversed_columns):
        assert not layout.flags["C_CONTIGUOUS"]
        model = MixtureOfExpertsClassifier(n_experts=2, init=layout, random_state=0).fit(X, y)
        assert_allclose(model.lower_bounds_, c_order.lower_bounds_)
