"""The EM loop's shortcuts on small data give the general path's numbers.

The prepared M-step of plain LinearRegression experts with Gaussian noise
(skmoe._linear_em), the SoftmaxGate's Newton steps in compiled calls
(skmoe._gate_newton), clones from a prototype and the checked-parameters key
(skmoe._experts) only remove work: every test compares them with the path
they replace.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor, ScaledRidge, SoftmaxGate, _gate_newton
from skmoe._base import BaseMixtureOfExperts
from skmoe._experts import seeded_clones, validation_key
from skmoe._gate import TransposedRows, _Objective
from skmoe._gate_base import SolverBudget
from skmoe._gate_newton import gate_newton_solve
from skmoe._linear_em import LinearGaussianMStep
from skmoe._newton import newton_solve
from skmoe.datasets import make_switching_regression

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::UserWarning")


def _general(monkeypatch):
    """Make every run take the general M-step and Newton's method in Python."""
    monkeypatch.setattr(MixtureOfExpertsRegressor, "_fast_m_step", lambda self, *args: None)
    monkeypatch.setattr("skmoe._gate.gate_newton_solve",
                        lambda objective, start, max_iter, tol: newton_solve(
                            objective, objective.hessian, start, max_iter, tol,
                            objective.null_space()))


def _count_fast_m_steps(monkeypatch):
    calls = []
    m_step = LinearGaussianMStep.m_step

    def counted(self, *args):
        params = m_step(self, *args)
        calls.append(params is not None)
        return params

    monkeypatch.setattr(LinearGaussianMStep, "m_step", counted)
    return calls


def _fit_state(model):
    return {
        "n_iter": model.n_iter_,
        "lower_bound": model.lower_bound_,
        "histories": model.init_lower_bounds_,
        "coef": [expert.coef_ for expert in model.experts_],
        "intercept": [expert.intercept_ for expert in model.experts_],
        "singular": [expert.singular_ for expert in model.experts_],
        "noise": model.noise_variance_,
        "gate": model.gate_.coef_,
    }


def _assert_same_fit(fast, general):
    assert fast["n_iter"] == general["n_iter"]
    assert [len(h) for h in fast["histories"]] == [len(h) for h in general["histories"]]
    for a, b in zip(fast["histories"], general["histories"]):
        assert_allclose(a, b, rtol=1e-12, atol=0)
    assert_allclose(fast["lower_bound"], general["lower_bound"], rtol=1e-12, atol=0)
    for name in ("coef", "intercept", "singular"):
        for a, b in zip(fast[name], general[name]):
            assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert_allclose(fast["noise"], general["noise"], rtol=1e-12, atol=0)
    assert_allclose(fast["gate"], general["gate"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("settings", [
    {},
    {"min_rows_per_parameter": 0.0, "min_expert_weight": 0.05},
    {"experts": LinearRegression(fit_intercept=False)},
    {"n_experts": 4, "min_expert_weight": 0.2},  # experts removed mid-run
    {"init": "kmeans"},
])
def test_prepared_linear_m_step_gives_the_general_fit(settings, monkeypatch):
    X, y = make_switching_regression(n_samples=240, n_features=3, n_experts=3,
                                     random_state=1)
    params = {"experts": LinearRegression(), "n_experts": 3, "n_init": 4,
              "gate": SoftmaxGate(C=1e4), "random_state": 0, "max_iter": 200, **settings}
    with monkeypatch.context() as patch:
        calls = _count_fast_m_steps(patch)
        fast = _fit_state(MixtureOfExpertsRegressor(**params).fit(X, y))
    # Most M-steps took the prepared path (the first of the fit's first run cannot).
    assert sum(calls) > 0.9 * sum(len(h) for h in fast["histories"])
    _general(monkeypatch)
    general = _fit_state(MixtureOfExpertsRegressor(**params).fit(X, y))
    _assert_same_fit(fast, general)


def test_experts_too_thin_at_a_first_m_step_fix_the_general_paths_floor(monkeypatch):
    # Six experts on 60 rows, each needing 15 (3 rows for each of its 5 parameters):
    # the first M-step of every start removes all but one, and the general M-step
    # then fixes the start's pooled variance floor from the one left.
    X, y = make_switching_regression(n_samples=60, n_features=3, n_experts=2,
                                     random_state=0)
    params = {"experts": LinearRegression(), "n_experts": 6, "n_init": 4, "init": "random",
              "random_state": 0, "max_iter": 20}
    floors = []
    run_em = BaseMixtureOfExperts._run_em

    def recording(self, run, *args, **kwargs):
        run = run_em(self, run, *args, **kwargs)
        floors.append(run.context["pooled_floor"])
        return run

    monkeypatch.setattr(BaseMixtureOfExperts, "_run_em", recording)
    with monkeypatch.context() as patch:
        calls = _count_fast_m_steps(patch)
        model = MixtureOfExpertsRegressor(**params).fit(X, y)
    assert calls
    fast_floors, floors[:] = list(floors), []
    _general(monkeypatch)
    general = MixtureOfExpertsRegressor(**params).fit(X, y)
    assert model.n_experts_ == general.n_experts_ == 1
    assert len(fast_floors) == len(floors) == 4
    assert fast_floors == floors  # every start's floor, not only the kept one's
    _assert_same_fit(_fit_state(model), _fit_state(general))


def test_an_ill_conditioned_expert_leaves_the_m_step_to_the_general_path(monkeypatch):
    # The second column is the first one up to 1e-9: the normal equations are
    # refused, each M-step falls back to the experts' own fit, and the result is
    # the general path's.
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    X = np.column_stack([x, x + 1e-9 * rng.normal(size=200), rng.normal(size=200)])
    y = np.where(x > 0, 2.0 * x, -x) + 0.1 * rng.normal(size=200)
    params = {"experts": LinearRegression(), "n_experts": 2, "n_init": 2, "random_state": 0,
              "max_iter": 30}
    with monkeypatch.context() as patch:
        calls = _count_fast_m_steps(patch)
        fast = _fit_state(MixtureOfExpertsRegressor(**params).fit(X, y))
    assert calls and not any(calls)
    _general(monkeypatch)
    _assert_same_fit(fast, _fit_state(MixtureOfExpertsRegressor(**params).fit(X, y)))


@pytest.mark.parametrize("params", [
    {"experts": ScaledRidge()},
    {"experts": Ridge()},
    {"noise_variance": "cross_fitted"},
    {"assignment": "hard"},
    {"noise": "student_t"},
])
def test_the_prepared_m_step_is_only_for_linear_gaussian_soft_fits(params, monkeypatch):
    X, y = make_switching_regression(n_samples=150, n_features=2, n_experts=2,
                                     random_state=0)
    calls = _count_fast_m_steps(monkeypatch)
    built = []
    of = LinearGaussianMStep.of.__func__
    monkeypatch.setattr(LinearGaussianMStep, "of",
                        classmethod(lambda cls, *args: built.append(1) or of(cls, *args)))
    settings = {"experts": LinearRegression(), "n_experts": 2, "max_iter": 10,
                "random_state": 0, **params}
    MixtureOfExpertsRegressor(**settings).fit(X, y)
    assert calls == []
    if isinstance(settings["experts"], LinearRegression):
        assert built == []  # refused before looking at the experts


def test_the_prepared_m_step_declines_what_its_kernel_does_not_repeat():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    context = {"variance_floor": 1e-9}
    experts = [LinearRegression(), LinearRegression()]
    assert LinearGaussianMStep.of(experts, X, y, context, 1e-3) is not None
    # Products of an F-ordered X may round otherwise than the general path's.
    assert LinearGaussianMStep.of(experts, np.asfortranarray(X), y, context, 1e-3) is None
    assert LinearGaussianMStep.of(experts, sp.csr_matrix(X), y, context, 1e-3) is None
    assert LinearGaussianMStep.of(experts, X, np.column_stack([y, y]), context, 1e-3) is None
    mixed = [LinearRegression(), LinearRegression(fit_intercept=False)]
    assert LinearGaussianMStep.of(mixed, X, y, context, 1e-3) is None
    assert LinearGaussianMStep.of([LinearRegression(positive=True)] * 2, X, y, context,
                                  1e-3) is None


def test_a_subclass_with_its_own_likelihood_step_keeps_the_general_m_step(monkeypatch):
    class Custom(MixtureOfExpertsRegressor):
        def _likelihood_m_step(self, *args):
            return super()._likelihood_m_step(*args)

    X, y = make_switching_regression(n_samples=120, n_features=2, n_experts=2,
                                     random_state=0)
    calls = _count_fast_m_steps(monkeypatch)
    Custom(LinearRegression(), n_experts=2, max_iter=10, random_state=0).fit(X, y)
    assert calls == []
    MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, max_iter=10,
                              random_state=0).fit(X, y)
    assert calls


def test_grouped_fits_do_not_take_the_prepared_m_step(monkeypatch):
    X, y = make_switching_regression(n_samples=120, n_features=2, n_experts=2,
                                     random_state=0)
    calls = _count_fast_m_steps(monkeypatch)
    groups = np.arange(120) // 3
    X[:, 0] = X[groups * 3, 0]  # the gate's column is constant within each group
    MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, max_iter=10, gate_features=[0],
                              random_state=0).fit(X, y, groups=groups)
    assert calls == []


def _gate_problem(rng, fit_intercept, n_samples=None, n_features=None, n_classes=None):
    n = n_samples or int(rng.integers(20, 400))
    d = n_features or int(rng.integers(1, 8))
    k = n_classes or int(rng.integers(2, 5))
    X_t = np.ascontiguousarray(rng.normal(size=(d, n)))
    targets = rng.dirichlet(np.ones(k), size=n)
    weight = rng.uniform(0.5, 2.0, size=n)
    alpha = float(10.0 ** rng.uniform(-6, 0))
    objective = _Objective(TransposedRows(X_t), targets, weight, float(weight.sum()), alpha,
                           fit_intercept)
    start = rng.normal(size=(k, d + 1)) * 0.5
    start = (start - start.sum(axis=0) / k).ravel()
    return objective, start


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_compiled_newton_steps_equal_newton_solve(fit_intercept):
    rng = np.random.default_rng(0)
    for _ in range(40):
        objective, start = _gate_problem(rng, fit_intercept)
        max_iter = int(rng.integers(1, 8))
        tol = float(10.0 ** rng.uniform(-10, -3))
        expected = newton_solve(objective, objective.hessian, start, max_iter, tol,
                                objective.null_space())
        params, n_iter, solved = gate_newton_solve(objective, start, max_iter, tol)
        assert (n_iter, solved) == expected[1:]
        assert_allclose(params, expected[0], rtol=1e-12, atol=1e-14)


def test_compiled_newton_steps_take_the_pseudo_inverse_of_a_singular_hessian(monkeypatch):
    # A column of zeros and no penalty: the Hessian is singular beyond the common
    # shifts, the LU solve fails, and newton_solve's pseudo-inverse gives the step.
    rng = np.random.default_rng(3)
    X_t = np.ascontiguousarray(np.vstack([rng.normal(size=100), np.zeros(100)]))
    targets = rng.dirichlet(np.ones(3), size=100)
    weight = np.ones(100)
    objective = _Objective(TransposedRows(X_t), targets, weight, 100.0, 0.0, True)
    start = np.zeros(3 * 3)
    expected = newton_solve(objective, objective.hessian, start, 4, 1e-10,
                            objective.null_space())
    pseudo_inverse = []
    direction = _gate_newton._newton_direction
    monkeypatch.setattr(_gate_newton, "_newton_direction",
                        lambda *args: pseudo_inverse.append(1) or direction(*args))
    params, n_iter, solved = gate_newton_solve(objective, start, 4, 1e-10)
    assert pseudo_inverse
    assert (n_iter, solved) == expected[1:]
    assert_allclose(params, expected[0], rtol=1e-12, atol=1e-14)
    assert np.all(np.isfinite(params))


@pytest.mark.parametrize("budget", [None, SolverBudget(newton_steps=1, lbfgs_iterations=3)])
def test_gate_fit_with_a_prepared_objective_equals_a_fresh_fit(budget, monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 3))
    targets = [rng.dirichlet(np.ones(3), size=150) for _ in range(4)]
    weight = rng.uniform(0.5, 2.0, size=150)
    rows = TransposedRows(np.ascontiguousarray(X.T))
    expected = []
    with monkeypatch.context() as patch:
        _general(patch)
        fresh = SoftmaxGate(C=10.0, warm_start=True)
        for target in targets:  # warm starts from the previous fit, as in EM
            solved = fresh._fit_soft(rows, target, weight, budget)
            expected.append((solved, fresh.n_iter_, fresh.coef_, fresh.intercept_))
    prepared = SoftmaxGate(C=10.0, warm_start=True)
    objective = prepared._em_objective(rows, weight, 3)
    for target, (solved, n_iter, coef, intercept) in zip(targets, expected):
        assert prepared._fit_soft(rows, target, weight, budget, objective=objective) == solved
        assert prepared.n_iter_ == n_iter
        assert_allclose(prepared.coef_, coef, rtol=1e-12, atol=1e-14)
        assert_allclose(prepared.intercept_, intercept, rtol=1e-12, atol=1e-14)


def test_gate_objective_is_not_prepared_for_lbfgs_or_sparse_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    weight = np.ones(60)
    assert SoftmaxGate(solver="lbfgs")._em_objective(X, weight, 2) is None
    assert SoftmaxGate()._em_objective(sp.csr_matrix(X), weight, 2) is None
    assert SoftmaxGate()._em_objective(X, weight, 2) is not None


class _Nested(RegressorMixin, BaseEstimator):
    def __init__(self, inner=None, random_state=None):
        self.inner = inner
        self.random_state = random_state


@pytest.mark.parametrize("template", [
    LinearRegression(fit_intercept=False),
    ScaledRidge(alpha=3.0),
    SoftmaxGate(C=2.0, warm_start=True),
    _Nested(Ridge(alpha=2.0)),
    make_pipeline(StandardScaler(), Ridge()),
    FrozenEstimator(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])),
])
def test_clones_from_a_prototype_are_sklearn_clones(template):
    prototypes = {}
    first = [seeded_clones([template, template], np.random.RandomState(0), prototypes)
             for _ in range(3)]
    fresh = [seeded_clones([template, template], np.random.RandomState(0))
             for _ in range(3)]
    for made, expected in zip(first, fresh):
        for expert, reference in zip(made, expected):
            assert type(expert) is type(reference)
            assert repr(expert.get_params(deep=False)) == repr(
                reference.get_params(deep=False))
            assert set(vars(expert)) == set(vars(reference))
            if not isinstance(template, FrozenEstimator):
                assert expert is not template
    # Each clone is its own object, its parameters not shared with the prototype's.
    a, b = first[0][0], first[1][0]
    if isinstance(template, FrozenEstimator):
        assert a is template  # FrozenEstimator's own cloning returns itself
    else:
        assert a is not b
        for name, value in vars(a).items():
            if isinstance(value, (list, dict, np.ndarray, BaseEstimator)):
                assert value is not vars(b)[name]


@pytest.mark.parametrize("template", [SGDRegressor(max_iter=5), _Nested(Ridge())])
def test_clones_from_a_prototype_take_the_seeds_clone_takes(template):
    prototypes = {}
    for seed in range(3):
        made = seeded_clones([template, template], np.random.RandomState(seed), prototypes)
        expected = seeded_clones([template, template], np.random.RandomState(seed))
        for expert, reference in zip(made, expected):
            assert repr(expert.get_params()) == repr(reference.get_params())
        assert made[0].random_state != made[1].random_state
    # A template changed after its prototype was made: a new object, a new prototype.
    other = clone(template).set_params(random_state=7, max_iter=9) if isinstance(
        template, SGDRegressor) else clone(template).set_params(inner=LinearRegression())
    made = seeded_clones([other], np.random.RandomState(0), prototypes)[0]
    assert repr(made.get_params()) == repr(
        seeded_clones([other], np.random.RandomState(0))[0].get_params())


@pytest.mark.parametrize("expert", [
    LinearRegression(tol=1e-3),
    ScaledRidge(alpha=0.5),
    make_pipeline(StandardScaler(), LinearRegression()),
    clone(SoftmaxGate(C=3.0)),
])
def test_validation_key_is_class_and_shallow_params(expert):
    assert validation_key(expert) == (type(expert), expert.get_params(deep=False))


def test_kmeans_start_runs_on_one_openmp_thread(monkeypatch):
    # The threads scikit-learn's OpenMP code (k-means' own) would use: other OpenMP
    # runtimes a process may load later (Numba's threading layer) are not k-means'.
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    from skmoe import _init

    seen = []
    fit = _init.KMeans.fit

    def recording(self, *args, **kwargs):
        seen.append(_openmp_effective_n_threads())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(_init.KMeans, "fit", recording)
    X, y = make_switching_regression(n_samples=100, n_features=2, n_experts=2,
                                     random_state=0)
    MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, init="kmeans", max_iter=3,
                              random_state=0).fit(X, y)
    assert seen and set(seen) == {1}
