"""Starts that leave a far y out (docs/robustness.rst, "The start")."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor
from skmoe._init import (
    FAR_TARGETS_MAX_SHARE,
    far_targets,
    initial_responsibilities,
    kmeans_partitions,
    leave_out_far_targets,
    random_partition,
)
from skmoe._scaling import FAR_ROBUST_SDS, MAD_TO_SD
from skmoe._validation import check_responsibilities

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAR = 17


def _two_lines(far=None, n_samples=400, seed=0):
    """Two lines mixed over all of x, 60% on y = 1 + 2x (noise 0.2), the rest on
    y = -1 - x (noise 0.5); ``far`` replaces y of row FAR."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 1))
    first = rng.uniform(size=n_samples) < 0.6
    y = np.where(first, 1 + 2 * X[:, 0] + 0.2 * rng.standard_normal(n_samples),
                 -1 - X[:, 0] + 0.5 * rng.standard_normal(n_samples))
    if far is not None:
        y[FAR] = far
    return X, y


# ------------------------------------------------------------ which rows are far
def test_far_targets_are_ten_robust_sds_from_the_median():
    rng = np.random.RandomState(0)
    y = rng.standard_normal(500)
    weights = np.ones(500)
    assert not far_targets(y, weights).any()
    centre, mad = np.median(y), np.median(np.abs(y - np.median(y)))
    bound = FAR_ROBUST_SDS * MAD_TO_SD * mad
    y[[3, 4]] = centre + 1.01 * bound, centre - 0.99 * bound
    assert_array_equal(np.flatnonzero(far_targets(y, weights)), [3])


def test_far_targets_are_left_out_only_when_few():
    # One far row always; more only while they hold at most 5% of the weight.
    rng = np.random.RandomState(0)
    y = rng.standard_normal(300)
    weights = np.ones(300)
    y[:15] = 1e4
    assert 15 / 300 == FAR_TARGETS_MAX_SHARE
    assert far_targets(y, weights).sum() == 15
    y[15] = 1e4
    assert not far_targets(y, weights).any()
    # By weight, not by rows: the sixteen rows at a tenth of the weight are 0.6%; and
    # the weights' scale does not matter (1e200 would overflow their sum).
    weights[:16] = 0.1
    assert far_targets(y, weights).sum() == 16
    assert_array_equal(far_targets(y, weights * 1e200), far_targets(y, weights))
    # A single far row whatever its share.
    assert_array_equal(np.flatnonzero(far_targets(np.r_[y[16:24], 1e4], np.ones(9))), [8])


def test_far_targets_ignore_zero_weights_and_a_point_mass():
    y = np.r_[np.zeros(60), np.linspace(1, 2, 39), 1e6]
    weights = np.ones(100)
    # More than half the rows at one value: no spread to measure far by.
    assert not far_targets(y, weights).any()
    weights[:60] = 0.0
    assert_array_equal(np.flatnonzero(far_targets(y, weights)), [99])
    weights[99] = 0.0
    assert not far_targets(y, weights).any()


# ------------------------------------------------------------ the starts
@pytest.mark.parametrize("start", [0, 2])
def test_kmeans_start_leaves_the_far_row_out_and_the_others_as_without_it(start):
    # The far row would be a cluster of its own; left out of the centres and the
    # standardisation, the other rows start as they do without it.
    X, y = _two_lines(1e6)
    weights = np.ones(400)
    resp = initial_responsibilities("kmeans", X, y, weights, 2, start,
                                    np.random.RandomState(0))
    assert_array_equal(resp[FAR], [0.0, 0.0])
    others = np.arange(400) != FAR
    assert_array_equal(resp[others].sum(axis=1), 1.0)
    if start == 0:
        without = initial_responsibilities("kmeans", X[others], y[others], weights[others],
                                           2, start, np.random.RandomState(0))
        assert_array_equal(resp[others], without)


def test_kmeans_partitions_with_far_rows_are_with_and_without_them():
    # The far rows may be outliers or a small regime: both partitions are tried.
    X, y = _two_lines()
    weights = np.ones(400)
    (alone,) = kmeans_partitions(X, y, weights, 2, 0, np.random.RandomState(0))
    assert_array_equal(alone, initial_responsibilities("kmeans", X, y, weights, 2, 0,
                                                       np.random.RandomState(0)))
    y[FAR] = 1e6
    without, with_far = kmeans_partitions(X, y, weights, 2, 0, np.random.RandomState(0))
    assert_array_equal(without[FAR], [0.0, 0.0])
    assert_array_equal(with_far.sum(axis=1), 1.0)
    # The second is k-means on every row, the far one too, from the next draws.
    generator = np.random.RandomState(0)
    assert_array_equal(without, initial_responsibilities("kmeans", X, y, weights, 2, 0,
                                                         generator))
    assert_array_equal(with_far, initial_responsibilities("kmeans", X, y, weights, 2, 0,
                                                          generator, leave_out_far=False))
    assert not np.array_equal(without[np.arange(400) != FAR], with_far[np.arange(400) != FAR])


def test_kmeans_start_on_clean_rows_is_unchanged():
    # Nothing far: k-means on every standardised row of [X, y], from the same draws.
    X, y = _two_lines()
    weights = np.random.RandomState(1).uniform(0.5, 2, size=400)
    resp = initial_responsibilities("kmeans", X, y, weights, 2, 0, np.random.RandomState(0))
    data = np.column_stack([X, y])
    mean = np.average(data, axis=0, weights=weights)
    data = (data - mean) / np.sqrt(np.average((data - mean) ** 2, axis=0, weights=weights))
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    labels = KMeans(n_clusters=2, n_init=1, random_state=seed).fit(
        data, sample_weight=weights / weights.max()).predict(data)
    assert_array_equal(resp, np.eye(2)[labels])


def test_random_starts_and_partitions_leave_the_far_row_out():
    X, y = _two_lines(1e6)
    weights = np.ones(400)
    resp = initial_responsibilities("random", X, y, weights, 2, 0, np.random.RandomState(0))
    assert_array_equal(resp[FAR], [0.0, 0.0])
    assert np.all(np.delete(resp, FAR, axis=0).sum(axis=1) > 0.999)
    partition = leave_out_far_targets(random_partition(400, 2, np.random.RandomState(0)),
                                      y, weights)
    assert_array_equal(partition[FAR], [0.0, 0.0])
    assert partition.sum() == 399
    # The classifier's starts cluster X alone: nothing is left out.
    assert_array_equal(leave_out_far_targets(np.eye(2)[[0, 1] * 200], None, weights).sum(),
                       400)


@pytest.mark.parametrize("params", [
    {},
    {"init": "random", "n_init": 3},
    {"init": "emem", "n_init": 3},
    {"n_init": 3},
    {"gate_features": []},
    {"gate": LogisticRegression()},
])
def test_student_t_mixture_keeps_both_experts_with_one_far_row(params):
    # One y of 1e6 among values of order one: the k-means start gave it a cluster
    # of its own, emEM's partitions and Dirichlet rows put it in an expert's first
    # M-step (least squares for every family), and the expert that held it was
    # removed; the fit ended with one expert (the random soft starts kept both
    # in some starts only).
    X, y = _two_lines(1e6)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(X, y)
    assert model.n_experts_ == 2
    slopes = sorted(expert.coef_[0] for expert in model.experts_)
    np.testing.assert_allclose(slopes, [-1.0, 2.0], atol=0.1)
    clean = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      random_state=0, **params).fit(*_two_lines())
    others = np.arange(400) != FAR
    assert model.score(X[others], y[others]) == pytest.approx(
        clean.score(X[others], y[others]), abs=0.01)


@pytest.mark.parametrize("params", [{}, {"n_init": 3}])
def test_student_t_mixture_keeps_both_experts_with_five_percent_outliers(params):
    # 15 rows of 300 (5%) between 1e6 and 2e6: as many experts lost as far rows kept
    # in the starts.
    X, y = _two_lines(n_samples=300)
    rng = np.random.RandomState(1)
    far = rng.choice(300, size=15, replace=False)
    y_far = y.copy()
    y_far[far] = 1e6 * (1 + rng.uniform(size=15))
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      random_state=0, **params).fit(X, y_far)
    assert model.n_experts_ == 2
    slopes = sorted(expert.coef_[0] for expert in model.experts_)
    np.testing.assert_allclose(slopes, [-1.0, 2.0], atol=0.15)


@pytest.mark.parametrize("noise", ["gaussian", "student_t"])
@pytest.mark.parametrize("params", [{}, {"n_init": 3}])
def test_a_small_far_regime_is_still_found(noise, params):
    # 4% of the rows on y = 1000 + 3x, far from the others (y = x): not outliers but a
    # regime, which the k-means partition with the far rows finds; the short runs
    # from both partitions keep it (left out, Student t noise lost it).
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, 1))
    small = rng.uniform(size=400) < 0.04
    y = np.where(small, 1000 + 3 * X[:, 0] + rng.standard_normal(400),
                 X[:, 0] + 0.3 * rng.standard_normal(400))
    assert far_targets(y, np.ones(400)).sum() == small.sum()
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise=noise,
                                      random_state=0, **params).fit(X, y)
    intercepts = sorted(expert.intercept_ for expert in model.experts_)
    np.testing.assert_allclose(intercepts, [0.0, 1000.0], atol=0.5)
    slopes = sorted(expert.coef_[0] for expert in model.experts_)
    np.testing.assert_allclose(slopes, [1.0, 3.0], atol=0.2)


def test_diabetes_with_one_far_row_keeps_both_experts():
    # scikit-learn's diabetes, standardised, one y set to the mean plus 1e6 standard
    # deviations: the default start with Student t noise lost an expert on every
    # fold of bench_far_row.py; its held-out log-likelihood is now the clean one's.
    X, y = load_diabetes(return_X_y=True)
    train = np.arange(442) % 5 != 0
    far_y = y[train].copy()
    far_y[FAR] = y.mean() + 1e6 * y.std()

    def fit(target):
        return make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(
            n_experts=2, noise="student_t", random_state=0)).fit(X[train], target)

    model, clean = fit(far_y), fit(y[train])
    assert model[-1].n_experts_ == 2
    held = ~train
    assert model[-1].log_likelihood(model[0].transform(X[held]), y[held]) / held.sum() == (
        pytest.approx(clean[-1].log_likelihood(clean[0].transform(X[held]), y[held])
                      / held.sum(), abs=0.1))


def test_a_given_init_array_is_used_as_given():
    # The user's start is not second-guessed: the far row's expert is removed, and
    # the warning says so (tests/test_robustness_sweep9_messages.py has its words).
    X, y = _two_lines(1e6)
    init = np.eye(2)[(np.arange(400) == FAR).astype(int)]
    with pytest.warns(UserWarning, match="was removed at EM iteration"):
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                          init=init, random_state=0).fit(X, y)
    assert model.n_experts_ == 1


# ------------------------------------------------------------ init arrays with zero rows
def test_an_init_array_may_leave_rows_out():
    X, y = _two_lines(1e6)
    labels = (np.arange(400) % 2).astype(int)
    init = np.eye(2)[labels]
    init[FAR] = 0.0
    assert_array_equal(check_responsibilities(init, 400, 2), init)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      init=init, max_iter=1, random_state=0).fit(X, y)
    # The first M-step fitted both experts without the far row.
    others = np.arange(400) != FAR
    for k, expert in enumerate(model.experts_):
        rows = others & (labels == k)
        reference = LinearRegression().fit(X[rows], y[rows])
        np.testing.assert_allclose(expert.coef_, reference.coef_, rtol=1e-8)
    with pytest.raises(ValueError, match=r"init array is all zeros: at least one row must "
                                         r"sum to 1\."):
        MixtureOfExpertsRegressor(n_experts=2, init=np.zeros((400, 2))).fit(X, y)
    init[3] = 0.4
    with pytest.raises(ValueError, match=r"Each row of the init array must sum to 1 \(or be "
                                         r"all zeros, to leave the row out of the first "
                                         r"M-step\)\."):
        MixtureOfExpertsRegressor(n_experts=2, init=init).fit(X, y)


@pytest.mark.parametrize("params", [{}, {"n_init": 3}, {"init": "random", "n_init": 3}])
def test_a_group_of_far_rows_stays_out_of_a_grouped_start(params):
    # With groups, a start gives every row of a group its group's expert: a group
    # whose rows were all left out was given expert 0 (the argmax of zeros), and
    # that expert chased them and was removed.
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(100), 4)
    first = np.repeat(rng.uniform(size=100) < 0.6, 4)
    X = rng.uniform(-2, 2, size=(400, 1))
    y = np.where(first, 1 + 2 * X[:, 0] + 0.2 * rng.standard_normal(400),
                 -1 - X[:, 0] + 0.5 * rng.standard_normal(400))
    y[4:8] = 1e6
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      gate_features=[], random_state=0, **params)
    model.fit(X, y, groups=groups)
    assert model.n_experts_ == 2
    slopes = sorted(expert.coef_[0] for expert in model.experts_)
    np.testing.assert_allclose(slopes, [-1.0, 2.0], atol=0.1)


@pytest.mark.parametrize("on_dask", [False, True])
def test_an_init_arrays_rows_of_zeros_stay_out_of_every_start(on_dask):
    # Later starts mix the array with Dirichlet rows: a row of zeros stays zero.
    # Left out, the far row lies at 1e6 from Gaussian experts fitted to the other
    # rows, and every start's first log-likelihood is about -5e5 per row; with half
    # a Dirichlet row it was in the experts' first M-step, whose variances took it
    # (about -12 per row, as with the row given as [0.5, 0.5] in the first start).
    import dask.array as da

    X, y = _two_lines(1e6)
    init = np.eye(2)[(np.arange(400) % 2).astype(int)]
    init[FAR] = 0.0
    later = initial_responsibilities(init, X, y, np.ones(400), 2, 1, np.random.RandomState(0))
    assert_array_equal(later[FAR], [0.0, 0.0])
    assert np.all(np.delete(later, FAR, axis=0) > 0)
    data = (da.from_array(X, chunks=(100, -1)), da.from_array(y, chunks=100)) if on_dask \
        else (X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, init=init,
                                          n_init=3, max_iter=1, random_state=0).fit(*data)
    assert len(model.init_lower_bounds_) == 3
    assert max(bounds[0] for bounds in model.init_lower_bounds_) < -1e5
