"""Engine options shared by both estimators: column selectors, assignment modes, any gate."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import (
    make_gated_classification,
    make_hierarchical_regression,
    make_switching_regression,
)
from skmoe.inspection import apply, expert_summary, posterior, predict_gate

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def concomitant():
    """The gate depends on z only, the experts on x only."""
    rng = np.random.RandomState(0)
    n = 1500
    x = rng.normal(size=(n, 2))
    z = rng.normal(size=(n, 1))
    regime = (z[:, 0] + 0.2 * rng.normal(size=n) > 0).astype(int)
    coef = np.array([[2.0, -1.0], [-1.5, 0.5]])
    y = np.einsum("ij,ij->i", x, coef[regime]) + 0.1 * rng.normal(size=n)
    frame = pd.DataFrame({"x1": x[:, 0], "z": z[:, 0], "x2": x[:, 1]})
    return frame, y


@pytest.mark.parametrize(
    "gate_features, expert_features",
    [
        (["z"], ["x1", "x2"]),
        ([1], [0, 2]),
        ([False, True, False], [True, False, True]),
    ],
    ids=["names", "indices", "masks"],
)
def test_column_selectors_give_the_same_fit(concomitant, gate_features, expert_features):
    frame, y = concomitant
    reference = MixtureOfExpertsRegressor(n_experts=2, random_state=0, gate_features=["z"],
                                          expert_features=["x1", "x2"]).fit(frame, y)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0, gate_features=gate_features,
                                      expert_features=expert_features).fit(frame, y)
    assert_array_equal(model.gate_features_, [1])
    assert_array_equal(model.expert_features_, [0, 2])
    assert_allclose(model.predict(frame), reference.predict(frame), rtol=1e-12)
    assert model.gate_.coef_.shape == (2, 1)
    assert all(e.coef_.shape == (2,) for e in model.experts_)


def test_concomitant_gate_recovers_regimes(concomitant):
    frame, y = concomitant
    model = MixtureOfExpertsRegressor(n_experts=2, n_init=3, random_state=0,
                                      gate_features=["z"], expert_features=["x1", "x2"])
    model.fit(frame, y)
    coefs = sorted(tuple(np.round(e.coef_, 1)) for e in model.experts_)
    assert_allclose(coefs, [(-1.5, 0.5), (2.0, -1.0)], atol=0.1)


@pytest.mark.parametrize(
    "selector, message",
    [
        ([5], "gate_features contains column index 5, but X has 3 columns"),
        (["nope"], r"gate_features names columns that X does not have: \['nope'\]"),
        ([True, False], "gate_features is a boolean mask of length 2, but X has 3 columns"),
        ([False, False, False], "gate_features selects no column"),
    ],
)
def test_bad_selectors_are_refused(concomitant, selector, message):
    frame, y = concomitant
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(n_experts=2, gate_features=selector).fit(frame, y)


def test_experts_need_columns():
    # gate_features=[] is a gate without inputs; experts without inputs are refused.
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    with pytest.raises(ValueError, match=r"expert_features must be a non-empty 1-D list of "
                                         r"columns, got \[\]"):
        MixtureOfExpertsRegressor(n_experts=2, expert_features=[]).fit(X, y)


def test_names_need_a_dataframe(concomitant):
    frame, y = concomitant
    with pytest.raises(ValueError, match="expert_features names columns .* but X has no column "
                                         "names"):
        MixtureOfExpertsRegressor(n_experts=2, expert_features=["x1"]).fit(frame.to_numpy(), y)


def test_hard_assignment_fits_on_one_hot_responsibilities():
    X, y = make_switching_regression(400, 2, 2, noise=0.2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, assignment="hard", max_iter=30,
                                      random_state=0).fit(X, y)
    # After convergence the experts are least-squares fits on the rows each one wins.
    winner = posterior(model, X, y).argmax(axis=1)
    soft = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert model.converged_
    for k, expert in enumerate(model.experts_):
        rows = winner == k
        residual = y[rows] - expert.predict(X[rows])
        assert_allclose(model.noise_variance_[k], np.mean(residual**2), rtol=0.1)
    assert abs(model.score(X, y) - soft.score(X, y)) < 0.05


def test_hard_assignment_targets_are_one_hot():
    model = MixtureOfExpertsRegressor(assignment="hard")
    resp = np.random.RandomState(0).dirichlet([1, 1, 1], size=50)
    targets = model._assign(resp, np.random.RandomState(0))
    assert_array_equal(targets.sum(axis=1), 1.0)
    assert set(np.unique(targets)) == {0.0, 1.0}
    assert_array_equal(targets.argmax(axis=1), resp.argmax(axis=1))


def test_stochastic_assignment_draws_from_responsibilities():
    model = MixtureOfExpertsRegressor(assignment="stochastic")
    resp = np.tile([0.2, 0.5, 0.3], (20000, 1))
    targets = model._assign(resp, np.random.RandomState(0))
    assert set(np.unique(targets)) == {0.0, 1.0}
    assert_allclose(targets.mean(axis=0), [0.2, 0.5, 0.3], atol=0.015)


def test_stochastic_em_is_reproducible():
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    a = MixtureOfExpertsRegressor(n_experts=2, assignment="stochastic", max_iter=15, tol=0,
                                  random_state=4).fit(X, y)
    b = MixtureOfExpertsRegressor(n_experts=2, assignment="stochastic", max_iter=15, tol=0,
                                  random_state=4).fit(X, y)
    c = MixtureOfExpertsRegressor(n_experts=2, assignment="stochastic", max_iter=15, tol=0,
                                  random_state=5).fit(X, y)
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.lower_bounds_ != c.lower_bounds_


def _boxes(n, seed):
    """Three regimes on axis-aligned boxes, which a linear gate can only approximate."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    regime = np.where(X[:, 0] < -0.3, 0, np.where(X[:, 1] < 0.2, 1, 2))
    coef = np.array([[3.0, 1.0], [-2.0, 2.0], [0.5, -3.0]])
    y = np.einsum("ij,ij->i", X, coef[regime]) + np.array([1.0, -1.0, 0.0])[regime]
    return X, y + 0.1 * rng.normal(size=n)


def test_tree_gate_beats_softmax_gate_on_boxes():
    X, y = _boxes(2000, 0)
    X_test, y_test = _boxes(2000, 1)
    tree = MixtureOfExpertsRegressor(n_experts=3, gate=DecisionTreeClassifier(max_depth=3),
                                     n_init=3, random_state=0).fit(X, y)
    softmax = MixtureOfExpertsRegressor(n_experts=3, n_init=3, random_state=0).fit(X, y)
    tree_score = tree.score_samples(X_test, y_test).mean()
    softmax_score = softmax.score_samples(X_test, y_test).mean()
    assert tree_score > softmax_score + 0.05
    assert tree.score(X_test, y_test) > softmax.score(X_test, y_test) + 0.03
    assert tree.score(X_test, y_test) > 0.98


def test_classifier_gate_never_locks_an_expert_out():
    X, y = _boxes(500, 0)
    model = MixtureOfExpertsRegressor(n_experts=3, gate=DecisionTreeClassifier(max_depth=2),
                                      max_iter=5, random_state=0).fit(X, y)
    gate = model.predict_gate(X)
    # Pure leaves would give 0; the gate keeps a floor so responsibilities can recover.
    assert gate.min() > 0
    assert_allclose(gate.sum(axis=1), 1.0)


def test_boosting_gate_for_a_classifier():
    X, y = make_gated_classification(500, 2, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0,
                                       gate=HistGradientBoostingClassifier(max_iter=10))
    model.fit(X, y)
    assert_allclose(model.predict_gate(X).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="HistGradientBoostingClassifier gate is not defined"):
        model.bic(X, y)


def test_gate_without_sample_weight_is_refused():
    X, y = make_switching_regression(50, 2, 2, random_state=0)
    with pytest.raises(TypeError, match="gate KNeighborsClassifier must accept sample_weight"):
        MixtureOfExpertsRegressor(n_experts=2, gate=KNeighborsClassifier()).fit(X, y)


def test_every_start_history_is_kept():
    X, y = make_switching_regression(300, 2, 3, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=3, n_init=3, max_iter=20,
                                      random_state=0).fit(X, y)
    assert len(model.init_lower_bounds_) == 3
    assert model.lower_bounds_ in model.init_lower_bounds_
    assert model.lower_bound_ == max(h[-1] for h in model.init_lower_bounds_)


def test_effective_samples_and_gate_share():
    X, y = make_switching_regression(400, 2, 2, random_state=0)
    weights = np.full(400, 2.0)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y, sample_weight=weights)
    assert_allclose(model.effective_n_samples_.sum(), 800.0)
    assert_allclose(model.effective_n_samples_, 2 * posterior(model, X, y).sum(axis=0),
                    rtol=1e-10)
    assert_allclose(model.gate_share_, model.predict_gate(X).mean(axis=0), rtol=1e-10)


# ------------------------------------------------------------------ top_k
class _CountingRegressor(RegressorMixin, BaseEstimator):
    """Linear regressor that records the size of every predict call."""

    def fit(self, X, y, sample_weight=None):
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        self.calls_ = []
        return self

    def predict(self, X):
        self.calls_.append(X.shape[0])
        return self.model_.predict(X)


@pytest.fixture(scope="module")
def four_experts():
    X, y = make_switching_regression(800, 2, 4, noise=0.2, gate_sharpness=1.0, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)
    return X, y, model


def _top_k_by_hand(gate, values, k):
    chosen = np.argsort(-gate, axis=1)[:, :k]
    weights = np.take_along_axis(gate, chosen, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    return chosen, weights, np.take_along_axis(values, chosen, axis=1)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_regression_uses_renormalised_top_experts(four_experts, k):
    X, _, model = four_experts
    gate = model.predict_gate(X)
    experts = np.column_stack([e.predict(X) for e in model.experts_])
    chosen, weights, values = _top_k_by_hand(gate, experts, k)
    model.set_params(top_k=k)
    try:
        mean, std = model.predict(X, return_std=True)
    finally:
        model.set_params(top_k=None)
    expected_mean = (weights * values).sum(axis=1)
    assert_allclose(mean, expected_mean, rtol=1e-12)
    variance = model.noise_variance_[chosen] + (values - expected_mean[:, None]) ** 2
    assert_allclose(std, np.sqrt((weights * variance).sum(axis=1)), rtol=1e-12)


def test_top_k_of_all_experts_equals_dense(four_experts):
    X, _, model = four_experts
    dense = model.predict(X, return_std=True)
    model.set_params(top_k=4)
    try:
        assert_allclose(model.predict(X, return_std=True), dense, rtol=1e-12)
    finally:
        model.set_params(top_k=None)


def test_top_k_calls_each_expert_once_on_its_rows():
    X, y = make_switching_regression(600, 2, 4, noise=0.2, random_state=1)
    model = MixtureOfExpertsRegressor(_CountingRegressor(), n_experts=4, top_k=2, max_iter=10,
                                      random_state=0).fit(X, y)
    for expert in model.experts_:
        expert.calls_.clear()
    model.predict(X)
    chosen = np.argsort(-model.predict_gate(X), axis=1)[:, :2]
    for k, expert in enumerate(model.experts_):
        assert expert.calls_ == ([int((chosen == k).any(axis=1).sum())]
                                 if (chosen == k).any() else [])
    assert sum(sum(e.calls_) for e in model.experts_) == 2 * 600


def test_top_k_classifier_probabilities():
    X, y = make_gated_classification(500, 2, 3, 3, gate_sharpness=1.0, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=3, top_k=1, max_iter=10, random_state=0)
    model.fit(X, y)
    proba = model.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    winner = model.predict_gate(X).argmax(axis=1)
    for k, expert in enumerate(model.experts_):
        rows = winner == k
        if rows.any():
            assert_allclose(proba[rows], expert.predict_proba(X[rows]), rtol=1e-12)


def test_parallel_starts_give_the_same_fit():
    X, y = make_switching_regression(400, 2, 3, random_state=0)
    serial = MixtureOfExpertsRegressor(n_experts=3, n_init=3, max_iter=15, random_state=2)
    parallel = MixtureOfExpertsRegressor(n_experts=3, n_init=3, max_iter=15, random_state=2,
                                         n_jobs=2)
    serial.fit(X, y)
    parallel.fit(X, y)
    assert serial.init_lower_bounds_ == parallel.init_lower_bounds_
    assert_array_equal(serial.predict(X), parallel.predict(X))


def test_em_stops_only_after_a_gate_step_that_solved_its_problem(monkeypatch):
    # The gate M-step is a generalised-EM step (a few L-BFGS iterations); a small change
    # of the log-likelihood while the gate was still cut short by that budget is not
    # convergence: the next step solves the gate's problem, and only then may EM stop.
    from skmoe._gate import SoftmaxGate

    X, y = make_switching_regression(600, 2, 2, random_state=0)
    original = SoftmaxGate._fit_soft
    solved = []

    def recording(self, *args, **kwargs):
        solved.append(original(self, *args, **kwargs))
        return solved[-1]

    monkeypatch.setattr(SoftmaxGate, "_fit_soft", recording)
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=200, random_state=0).fit(X, y)
    assert model.converged_ and solved[-1]

    monkeypatch.setattr(SoftmaxGate, "_fit_soft",
                        lambda self, *args, **kwargs: original(self, *args, **kwargs) and False)
    stuck = MixtureOfExpertsRegressor(n_experts=2, max_iter=40, random_state=0).fit(X, y)
    assert not stuck.converged_ and stuck.n_iter_ == 40


def test_the_em_loop_passes_the_gate_and_the_experts_its_budget(monkeypatch):
    # The loop decides: its generalised-EM budget while the log-likelihood moves, None
    # (a full solve) in the iteration after a change below tol; the gate only honours it.
    import skmoe._base
    from skmoe._base import EM_STEP_BUDGET
    from skmoe._gate import SoftmaxGate

    X, y = make_switching_regression(600, 2, 2, random_state=0)
    original_gate, original_experts = SoftmaxGate._fit_soft, skmoe._base.fit_experts
    gate_budgets, expert_budgets, solved = [], [], []

    def gate_spy(self, X, targets, sample_weight, budget=None):
        gate_budgets.append(budget)
        solved.append(original_gate(self, X, targets, sample_weight, budget))
        return solved[-1]

    def experts_spy(*args):
        expert_budgets.append(args[11])
        return original_experts(*args)

    monkeypatch.setattr(SoftmaxGate, "_fit_soft", gate_spy)
    monkeypatch.setattr(skmoe._base, "fit_experts", experts_spy)
    tol = 1e-5
    # L-BFGS: its budget of 3 iterations leaves the gate unsolved near convergence.
    model = MixtureOfExpertsRegressor(n_experts=2, gate=SoftmaxGate(solver="lbfgs"), tol=tol,
                                      max_iter=200, random_state=0).fit(X, y)
    assert model.converged_
    assert len(gate_budgets) == len(expert_budgets) == model.n_iter_
    assert expert_budgets == gate_budgets
    assert gate_budgets[0] == EM_STEP_BUDGET == (1, 3)
    # The change of iteration m (from 2 on; the first one's is infinite).
    changes = np.abs(np.diff(model.lower_bounds_))
    assert len(changes) == model.n_iter_ - 1
    for m in range(1, model.n_iter_):
        # Iteration m + 1 solves the gate exactly when iteration m stalled.
        stalled = m >= 2 and changes[m - 2] < tol
        assert gate_budgets[m] == (None if stalled else EM_STEP_BUDGET)
    # A full solve always solves; the fit converged after a gate step that solved.
    assert all(flag for budget, flag in zip(gate_budgets, solved) if budget is None)
    assert solved[-1]
    assert None in gate_budgets


def test_only_the_first_m_step_of_a_run_validates_the_experts(monkeypatch):
    import skmoe._base
    from skmoe._init import EMEM_SHORT_ITER, EMEM_SHORT_RUNS

    original = skmoe._base.fit_experts
    validated = []

    def spy(*args):
        validated.append((args[7], args[14]))
        return original(*args)

    monkeypatch.setattr(skmoe._base, "fit_experts", spy)
    X, y = make_switching_regression(400, 2, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=5, tol=0.0, random_state=0,
                                      warm_start=True)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    first_run = [(1, True)] + [(n_iter, False) for n_iter in range(2, 6)]
    assert validated == first_run
    # A warm start is a new run of the fitted model, counted from 1.
    validated.clear()
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert validated == first_run
    # emEM: each short run checks in its first M-step; the best one then continues
    # without checking again.
    validated.clear()
    with pytest.warns(ConvergenceWarning):
        MixtureOfExpertsRegressor(n_experts=2, init="emem", max_iter=EMEM_SHORT_ITER + 3,
                                  tol=0.0, random_state=0).fit(X, y)
    short = [(1, True)] + [(n_iter, False) for n_iter in range(2, EMEM_SHORT_ITER + 1)]
    continued = [(n_iter, False) for n_iter in range(EMEM_SHORT_ITER + 1,
                                                     EMEM_SHORT_ITER + 4)]
    assert validated == short * EMEM_SHORT_RUNS + continued


def test_workspace_reuses_an_array_until_its_shape_changes():
    from skmoe._base import _Workspace

    workspace = _Workspace()
    first = workspace.array("log_lik", (5, 3))
    assert workspace.array("log_lik", (5, 3)) is first
    assert workspace.array("log_gate", (5, 3)) is not first
    # An expert was removed: a new array of the new shape.
    smaller = workspace.array("log_lik", (5, 2))
    assert smaller.shape == (5, 2) and smaller is not first
    assert workspace.array("log_lik", (5, 2)) is smaller


class _BlasThreadsSpy(LinearRegression):
    """Records the BLAS thread counts it sees while it fits (a subclass: its own fit runs)."""

    seen = []

    def fit(self, X, y, sample_weight=None):
        from threadpoolctl import threadpool_info

        _BlasThreadsSpy.seen.append(
            {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
        return super().fit(X, y, sample_weight=sample_weight)


def test_blas_is_limited_to_one_thread_during_the_fit_and_restored_after():
    from threadpoolctl import threadpool_info, threadpool_limits

    X, y = make_switching_regression(300, 2, 2, random_state=0)
    _BlasThreadsSpy.seen = []
    with threadpool_limits(limits=2, user_api="blas"):
        MixtureOfExpertsRegressor(_BlasThreadsSpy(), n_experts=2, max_iter=3,
                                  random_state=0).fit(X, y)
        after = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    assert _BlasThreadsSpy.seen and all(seen == {1} for seen in _BlasThreadsSpy.seen)
    assert after == {2}


class _KernelThreadsSpy(LinearRegression):
    """Records Numba's thread count in the thread that fits it (a subclass: its own fit runs)."""

    seen = []

    def fit(self, X, y, sample_weight=None):
        import numba

        _KernelThreadsSpy.seen.append(numba.get_num_threads())
        return super().fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("n_init, n_jobs", [(2, 2), (1, 2), (2, 1)])
def test_parallel_starts_share_the_kernel_threads(n_init, n_jobs):
    # Two starts in two threads each get half of Numba's threads, so their kernels do
    # not start twice as many threads as there are cores; otherwise nothing changes.
    import numba

    X, y = make_switching_regression(300, 2, 2, random_state=0)
    cores = numba.config.NUMBA_NUM_THREADS  # Numba's default: one thread per core
    _KernelThreadsSpy.seen = []
    MixtureOfExpertsRegressor(_KernelThreadsSpy(), n_experts=2, n_init=n_init,
                              n_jobs=n_jobs, max_iter=3, random_state=0).fit(X, y)
    assert numba.get_num_threads() == cores
    expected = max(1, cores // 2) if n_init == 2 and n_jobs == 2 else cores
    assert _KernelThreadsSpy.seen and set(_KernelThreadsSpy.seen) == {expected}


# --------------------------------------------------- mixtures as experts (trees)
def _permutation_error(estimated, truth, weight=None):
    """Smallest (row-weighted) mean absolute difference between the columns of
    ``estimated``, reordered, and those of ``truth``; and that order."""
    import itertools

    def error(order):
        return np.average(np.abs(estimated[:, order] - truth).mean(axis=1), weights=weight)

    best = min(itertools.permutations(range(truth.shape[1])), key=error)
    return error(best), list(best)


@pytest.fixture(scope="module")
def tree_data():
    X, y, params = make_hierarchical_regression(7000, 2, noise=0.3, random_state=0,
                                                return_params=True)
    return X[:2000], y[:2000], X[2000:], y[2000:], params


@pytest.fixture(scope="module")
def tree_fit(tree_data):
    X, y, _, _, _ = tree_data
    inner = MixtureOfExpertsRegressor(n_experts=2)
    return MixtureOfExpertsRegressor(inner, n_experts=2, n_init=5, random_state=0).fit(X, y)


def test_tree_beats_flat_and_nears_the_true_model_on_tree_data(tree_data, tree_fit):
    X, y, X_test, y_test, params = tree_data
    flat = MixtureOfExpertsRegressor(n_experts=4, n_init=5, random_state=0).fit(X, y)
    tree = tree_fit.score_samples(X_test, y_test).mean()
    truth = params.log_density(X_test, y_test).mean()
    assert tree >= flat.score_samples(X_test, y_test).mean()
    assert tree >= truth - 0.02
    # The flat softmax over four experts cannot represent the tree of gates.
    assert flat.score_samples(X_test, y_test).mean() < truth - 0.02


def test_both_levels_of_the_tree_recover_the_true_gates_and_experts(tree_data, tree_fit):
    _, _, X_test, _, params = tree_data
    outer = predict_gate(tree_fit, X_test)
    error, order = _permutation_error(outer, params.gate_proba[2000:])
    assert error < 0.03
    for j in range(2):
        # An inner mixture is an estimator of its own: the inspection tools read it.
        inner_model = tree_fit.experts_[order[j]]
        inner = predict_gate(inner_model, X_test)
        # Inner gates matter only where their subtree does.
        error, leaves = _permutation_error(inner, params.inner_gate_proba[2000:, j],
                                           weight=params.gate_proba[2000:, j])
        assert error < 0.05
        assert_array_equal(apply(inner_model, X_test), inner.argmax(axis=1))
        summary = expert_summary(inner_model)
        assert_allclose(summary[["x0", "x1"]].to_numpy()[leaves], params.coef[j], atol=0.1)
        assert_allclose(summary["intercept"].to_numpy()[leaves], params.intercept[j],
                        atol=0.1)
        # Within four standard errors of a standard deviation estimated from the
        # expert's effective rows.
        error = np.abs(summary["noise_std"] - 0.3)
        assert np.all(error < 4 * 0.3 / np.sqrt(2 * summary["effective_n_samples"]))
    # The probability of leaf (j, k) is the product of the gates on its path.
    leaf = np.column_stack([outer[:, j] * predict_gate(tree_fit.experts_[j], X_test)[:, k]
                            for j in range(2) for k in range(2)])
    assert_allclose(leaf.sum(axis=1), 1.0)


def test_tree_lower_bound_is_the_penalised_log_likelihood(tree_data, tree_fit):
    X, y, _, _, _ = tree_data
    inner_penalty = sum(e.gate_._penalty() + e._likelihood_penalty(
        e.experts_, e._fitted_params(), {"target_variance": e._objective_constants_[
            "target_variance"]}) for e in tree_fit.experts_)
    total = tree_fit.score_samples(X, y).sum()
    assert_allclose(tree_fit.lower_bound_ * X.shape[0],
                    total - tree_fit.gate_._penalty() - inner_penalty, rtol=1e-6)


@pytest.mark.parametrize("init", ["kmeans", "random"])
@pytest.mark.parametrize("seed", [1, 3])
def test_tree_log_likelihood_never_decreases_with_inner_fits_to_convergence(init, seed):
    X, y = make_hierarchical_regression(1000, 2, noise=0.3, random_state=seed)
    inner = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
                                      noise_variance="in_sample", tol=1e-10, max_iter=1000)
    with warnings.catch_warnings():
        # No expert is removed, and every inner fit converges.
        warnings.simplefilter("error")
        model = MixtureOfExpertsRegressor(inner, n_experts=2, init=init, max_iter=300,
                                          tol=1e-8, random_state=seed).fit(X, y)
    assert model.converged_ and len(model.lower_bounds_) > 5
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10)
    assert all(expert.converged_ for expert in model.experts_)


def test_tree_log_likelihood_never_decreases_with_one_inner_iteration_per_m_step():
    # Generalised EM: one inner iteration from the previous inner fit still improves.
    X, y = make_hierarchical_regression(1000, 2, noise=0.3, random_state=1)
    inner = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
                                      noise_variance="in_sample", max_iter=1)
    model = MixtureOfExpertsRegressor(inner, n_experts=2, init="random", max_iter=60,
                                      tol=0.0, random_state=1).fit(X, y)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10)


def test_inner_mixture_continues_its_fit_in_each_m_step():
    X, y = make_hierarchical_regression(600, 2, noise=0.3, random_state=2)
    weight = np.random.RandomState(0).uniform(size=600)
    inner = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
                                      noise_variance="in_sample", tol=1e-8, random_state=0)
    inner._fit_m_step(X, y, weight)
    first = inner.lower_bound_
    assert inner.n_iter_ > 5
    # With other weights, it resumes from its fit, where a fresh fit starts from k-means.
    moved = weight * np.where(X[:, 0] > 0, 1.5, 0.5)
    fresh = clone(inner).fit(X, y, moved)
    inner._fit_m_step(X, y, weight)
    # Resumed from the fitted experts and gate: one iteration, no lower.
    assert inner.n_iter_ <= 2 and inner.lower_bounds_[0] >= first - 1e-12
    assert inner.warm_start is False
    inner._fit_m_step(X, y, moved)
    assert inner.n_iter_ < fresh.n_iter_
    # An outer fit never fits the user's own inner mixture.
    template = MixtureOfExpertsRegressor(n_experts=2)
    MixtureOfExpertsRegressor(template, n_experts=2, max_iter=3, random_state=0).fit(X, y)
    assert not hasattr(template, "experts_")


def test_tree_start_needs_one_configuration_of_inner_mixtures():
    same = MixtureOfExpertsRegressor(n_experts=2, random_state=1)
    model = MixtureOfExpertsRegressor([same, clone(same).set_params(n_experts=3)],
                                      n_experts=2)
    flat, sizes = model._tree_layout(model.experts, "auto")
    assert sizes == [2, 3] and flat.n_experts == 5 and len(flat.experts) == 5
    other = clone(same).set_params(noise="laplace")
    assert model._tree_layout([same, other], "auto") is None
    assert model._tree_layout([same, same], np.full((10, 2), 0.5)) is None
    assert model._tree_layout([same, LinearRegression()], "auto") is None


@pytest.mark.parametrize("sizes, count", [([2, 2], 3), ([2, 3], 10), ([1, 1, 1], 1),
                                          ([2, 2, 2], 15), ([3, 3, 3], 100)])
def test_groupings_of_the_flat_experts_into_subtrees(sizes, count):
    from skmoe._base import _groupings

    groupings = list(_groupings(sizes, np.random.RandomState(0)))
    assert len(groupings) == count
    keys = set()
    for groups in groupings:
        assert [len(group) for group in groups] == sizes
        assert_array_equal(np.sort(np.concatenate(groups)), np.arange(sum(sizes)))
        keys.add(frozenset(tuple(group) for group in groups))
    assert len(keys) == count


def test_mixture_of_mixtures_of_classifiers_continues_inner_fits():
    X, y = make_gated_classification(800, 2, 4, 3, random_state=0)
    inner = MixtureOfExpertsClassifier(n_experts=2, max_iter=50)
    model = MixtureOfExpertsClassifier(inner, n_experts=2, max_iter=30,
                                       random_state=0).fit(X, y)
    assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    # Continued inner fits converge in a few iterations once the outer EM settles.
    assert all(expert.n_iter_ < 10 for expert in model.experts_)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-3)


# ------------------------------------------------------------ grouped mixtures
def _grouped_regression(n_groups=80, rows=6, seed=0):
    """Two regimes; every row of a group follows its group's regime, and the
    gate's column (the third) is constant within a group and says which."""
    rng = np.random.RandomState(seed)
    groups = np.repeat(np.arange(n_groups), rows)
    covariate = rng.normal(size=n_groups)
    regime = (rng.uniform(size=n_groups) < 1 / (1 + np.exp(-3 * covariate))).astype(int)
    x = rng.uniform(-2, 2, groups.shape[0])
    y = (np.where(regime[groups] == 1, 1 + 2 * x, -1 - x)
         + np.where(regime[groups] == 1, 0.3, 0.6) * rng.normal(size=x.shape[0]))
    X = np.column_stack([x, covariate[groups]])
    return X, y, groups, regime


def _hand_grouped_log_likelihood(model, X, y, groups, sample_weight):
    from scipy.special import logsumexp
    from scipy.stats import norm

    means = np.column_stack([expert.predict(X[:, model.expert_features_])
                             for expert in model.experts_])
    rows = norm.logpdf(y[:, None], means, np.sqrt(model.noise_variance_))
    labels, codes = np.unique(groups, return_inverse=True)
    summed = np.zeros((labels.shape[0], rows.shape[1]))
    np.add.at(summed, codes, sample_weight[:, None] * rows)
    first = np.array([np.flatnonzero(codes == g)[0] for g in range(labels.shape[0])])
    log_gate = np.log(model.predict_gate(X[first]))
    return logsumexp(log_gate + summed, axis=1).sum()


def test_grouped_mixture_recovers_regimes_of_whole_groups():
    X, y, groups, regime = _grouped_regression()
    model = MixtureOfExpertsRegressor(
        LinearRegression(), n_experts=2, expert_features=[0], gate_features=[1], n_init=3,
        random_state=0).fit(X, y, groups=groups)
    slopes = np.array([expert.coef_[0] for expert in model.experts_])
    order = np.argsort(slopes)
    assert_allclose(slopes[order], [-1.0, 2.0], atol=0.05)
    # About three standard errors of the intercepts (noise 0.6 and 0.3, ~240 rows each).
    assert_allclose([model.experts_[k].intercept_ for k in order], [-1.0, 1.0], atol=0.12)
    assert_allclose(model.noise_variance_[order], [0.36, 0.09], rtol=0.15)
    resp = posterior(model, X, y, groups=groups)
    # One responsibility vector per group, and every group in its own regime.
    for g in range(5):
        assert_allclose(resp[groups == g], np.tile(resp[groups == g][0], (6, 1)))
    assert_array_equal(resp[::6, order[1]].round(), regime)
    # The gate reads the covariate: more of the second regime where it is large.
    gate = model.predict_gate(X, groups=groups)[:, order[1]]
    assert np.corrcoef(gate[::6], X[::6, 1])[0, 1] > 0.9
    # Linear experts and the softmax gate: exact or improving M-steps.
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10)


def test_grouped_log_likelihood_is_the_sum_over_groups_of_the_mixed_products():
    X, y, groups, _ = _grouped_regression(seed=1)
    weight = np.random.RandomState(2).uniform(0.5, 2.0, y.shape[0])
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, expert_features=[0],
                                      gate_features=[1], random_state=0)
    model.fit(X, y, sample_weight=weight, groups=groups)
    expected = _hand_grouped_log_likelihood(model, X, y, groups, weight)
    assert_allclose(model.log_likelihood(X, y, sample_weight=weight, groups=groups), expected,
                    rtol=1e-10)
    # LinearRegression has no penalty and SoftmaxGate's is the gate's: the fit's bound.
    assert_allclose(model.lower_bound_ * weight.sum() + model._penalty_, expected, rtol=1e-8)
    # Without groups, the weighted sum of score_samples.
    assert_allclose(model.log_likelihood(X, y, sample_weight=weight),
                    weight @ model.score_samples(X, y), rtol=1e-12)
    n_parameters = 2 + 2 * 2 + 2
    assert_allclose(model.bic(X, y, sample_weight=weight, groups=groups),
                    -2 * expected + n_parameters * np.log(80), rtol=1e-10)
    assert_allclose(model.aic(X, y, groups=groups),
                    -2 * model.log_likelihood(X, y, groups=groups) + 2 * n_parameters)


def test_groups_of_one_row_fit_as_no_groups():
    X, y, _, _ = _grouped_regression(n_groups=50)
    ungrouped = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    grouped = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(
        X, y, groups=np.arange(y.shape[0])[::-1])
    assert_allclose(grouped.lower_bounds_, ungrouped.lower_bounds_, rtol=1e-10)
    assert_allclose(grouped.predict(X), ungrouped.predict(X), rtol=1e-10)


def test_grouped_classifier_shares_responsibilities_within_groups():
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(60), 10)
    regime = rng.randint(2, size=60)
    x = rng.normal(size=600)
    logit = np.where(regime[groups] == 1, 3 * x, -3 * x)
    y = (rng.uniform(size=600) < 1 / (1 + np.exp(-logit))).astype(int)
    model = MixtureOfExpertsClassifier(n_experts=2, gate_features=[], n_init=3,
                                       random_state=0).fit(x[:, None], y, groups=groups)
    resp = posterior(model, x[:, None], y, groups=groups)
    truth = regime[groups]
    agreement = np.mean(resp.argmax(axis=1) == truth)
    assert max(agreement, 1 - agreement) == 1.0
    assert_allclose(np.sort(model.gate_.proportions_), np.sort([regime.mean(),
                                                                1 - regime.mean()]), atol=0.02)


def test_groups_are_checked_before_any_work():
    X, y, groups, _ = _grouped_regression(n_groups=10)
    model = MixtureOfExpertsRegressor(n_experts=2, gate_features=[0])
    with pytest.raises(ValueError, match=r"With groups, the gate sees one row per group, so "
                                         r"its columns must be constant within each group; "
                                         r"gate feature 0 varies within group 0\. Pass "
                                         r"gate_features that are constant within groups, or "
                                         r"gate_features=\[\] for mixing proportions only\."):
        model.fit(X, y, groups=groups)
    frame = pd.DataFrame(X, columns=["dose", "centre_size"])
    with pytest.raises(ValueError, match="gate feature 'dose' varies within group 'b'"):
        MixtureOfExpertsRegressor(n_experts=2, gate_features=["dose"]).fit(
            frame, y, groups=np.where(groups < 5, "a", "b")[::-1])
    with pytest.raises(ValueError, match=r"groups must be one label per row, of shape "
                                         r"\(n_samples,\)=\(60,\); got an array of shape "
                                         r"\(59,\)\."):
        model.fit(X, y, groups=groups[1:])
    with pytest.raises(ValueError, match="groups must not contain NaN"):
        model.fit(X, y, groups=np.where(groups == 3, np.nan, groups))
    with pytest.raises(ValueError, match=r"Expected n_groups >= n_experts: each group belongs "
                                         r"to one expert, got n_experts=3, n_groups=2\."):
        MixtureOfExpertsRegressor(n_experts=3, gate_features=[]).fit(X, y, groups=groups % 2)
    assert not hasattr(model, "experts_")
    fitted = MixtureOfExpertsRegressor(n_experts=2, gate_features=[1], max_iter=5,
                                       random_state=0).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="gate feature 1 varies within group 0"):
        fitted.predict_gate(X, groups=np.zeros(60))


# ------------------------------------------- warnings point at the user's line
def _vanishing_third_expert(classifier=False):
    """Data and a mixture whose third expert is removed in the first iteration."""
    X, y = make_switching_regression(500, 2, 2, noise=0.1, random_state=0)
    init = np.full((500, 3), [0.49, 0.49, 0.02])
    if classifier:
        y = (y > np.median(y)).astype(int)
        model = MixtureOfExpertsClassifier(n_experts=3, init=init, min_expert_weight=0.05,
                                           random_state=0)
    else:
        model = MixtureOfExpertsRegressor(n_experts=3, init=init, min_expert_weight=0.05,
                                          random_state=0)
    return X, y, model


def _removal_warnings_lines(call):
    """The (file, line) of each removal warning raised by ``call()``."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call()
    return [(w.filename, w.lineno) for w in record if "was removed" in str(w.message)]


def test_removal_warning_points_at_the_users_line_through_scikit_learn():
    # Inside a Pipeline, cross_validate or GridSearchCV the mixture's fit is called by
    # scikit-learn, several frames away from the user's line: the warning names that
    # line, not one in scikit-learn.
    import inspect

    from sklearn.model_selection import GridSearchCV, KFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, model = _vanishing_third_expert()
    line = inspect.currentframe().f_lineno
    pipeline = _removal_warnings_lines(lambda: make_pipeline(StandardScaler(), model).fit(X, y))
    assert pipeline == [(__file__, line + 1)]
    # On folds: a share of at least 0.4 leaves at most two of three experts.
    model, folds = MixtureOfExpertsRegressor(n_experts=3, min_expert_weight=0.4,
                                             random_state=0), KFold(2)
    cv = _removal_warnings_lines(lambda: cross_validate(model, X, y, cv=folds))
    assert len(cv) >= 2 and set(cv) == {(__file__, line + 6)}
    search = _removal_warnings_lines(
        lambda: GridSearchCV(model, {"tol": [1e-5]}, cv=folds).fit(X, y))
    # Two folds and the refit on all rows.
    assert len(search) >= 3 and set(search) == {(__file__, line + 9)}
    X, y, classifier = _vanishing_third_expert(classifier=True)
    line = inspect.currentframe().f_lineno
    assert _removal_warnings_lines(lambda: classifier.fit(X, y)) == [(__file__, line + 1)]


def test_convergence_warning_points_at_the_users_line_through_a_pipeline():
    from sklearn.pipeline import make_pipeline

    X, y = make_switching_regression(300, 2, 2, random_state=0)
    pipeline = make_pipeline(MixtureOfExpertsRegressor(n_experts=2, max_iter=2, tol=0.0,
                                                       random_state=0))
    with pytest.warns(ConvergenceWarning, match="did not converge") as record:
        pipeline.fit(X, y)
    assert [w.filename for w in record if w.category is ConvergenceWarning] == [__file__]


def test_the_experts_own_fit_checks_their_parameters_once_per_fit(monkeypatch):
    # Every run asks for the check in its first M-step; the runs of one fit (all its
    # starts, emEM's short runs) share which parameters were checked.
    calls = []
    original = LinearRegression.fit

    def spy(self, X, y, sample_weight=None):
        calls.append(type(self))
        return original(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(LinearRegression, "fit", spy)
    X, y = make_switching_regression(300, 2, 2, random_state=0)
    for init in ("random", "emem"):
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, init=init, n_init=3,
                                          max_iter=4, tol=0.0, random_state=0)
        with pytest.warns(ConvergenceWarning):
            model.fit(X, y)
        assert calls == [LinearRegression]
        calls.clear()
    # Parameters that the expert's fit would refuse fail the fit before any work,
    # naming the expert.
    bad = MixtureOfExpertsRegressor(LinearRegression(fit_intercept="yes"), n_experts=2,
                                    n_init=2, random_state=0)
    with pytest.raises(ValueError, match=r"^expert 0 \(LinearRegression\): The "
                                         r"'fit_intercept' parameter of LinearRegression"):
        bad.fit(X, y)
    assert calls == []
