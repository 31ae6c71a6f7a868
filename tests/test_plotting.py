"""The Displays of skmoe.plotting draw on matplotlib's Agg backend without error."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.compare import compare
from skmoe.datasets import make_switching_regression
from skmoe.inspection import select_n_experts
from skmoe.plotting import (
    ComparisonDisplay,
    ConvergenceDisplay,
    ExpertFitDisplay,
    GateDisplay,
    SelectionDisplay,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def results():
    X, y = make_switching_regression(n_samples=120, n_features=2, n_experts=2,
                                     random_state=0)
    estimators = {"linear": LinearRegression(),
                  "tree": DecisionTreeRegressor(max_depth=3, random_state=0)}
    return compare(X, y, estimators, cv=3), X, y


def test_from_results_draws_one_point_per_estimator(results):
    table, _, _ = results
    display = ComparisonDisplay.from_results(table)
    assert set(display.errorbars_) == {"linear", "tree"}
    assert set(display.annotations_) == {"linear", "tree"}
    assert display.figure_ is display.ax_.figure
    assert display.ax_.get_xscale() == "log"
    assert display.ax_.get_ylabel() == "R² (mean ± sd over 3 folds)"
    line = display.errorbars_["tree"].lines[0]
    assert_allclose(np.asarray(line.get_xdata(), dtype=float), [table.loc["tree", "fit_time"]])
    assert_allclose(np.asarray(line.get_ydata(), dtype=float), [table.loc["tree", "r2_mean"]])
    # error bar from mean - std to mean + std
    segment = np.asarray(display.errorbars_["tree"].lines[2][0].get_segments()[0], dtype=float)
    mean, std = table.loc["tree", "r2_mean"], table.loc["tree", "r2_std"]
    assert_allclose(segment[:, 1], [mean - std, mean + std])
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["single model"]


def test_from_results_on_given_axes_and_other_score(results):
    table, _, _ = results
    _, (left, right) = plt.subplots(1, 2)
    display = ComparisonDisplay.from_results(table, score="log_likelihood", ax=right,
                                             annotate=False)
    assert display.ax_ is right
    assert len(left.lines) == 0
    assert display.annotations_ == {}
    assert display.ax_.get_ylabel().startswith("held-out mean log-likelihood")


def test_from_estimators_runs_the_comparison(results):
    _, X, y = results
    display = ComparisonDisplay.from_estimators([LinearRegression()], X, y, cv=2,
                                                scoring="rmse")
    assert list(display.results_.index) == ["LinearRegression"]
    assert display.ax_.get_ylabel() == "RMSE (mean ± sd over 2 folds)"


def test_plot_without_families_or_spread():
    display = ComparisonDisplay(names=["a", "b"], score_mean=[0.1, 0.2],
                                score_std=[np.nan, 0.05], fit_time=[0.0, 2.0]).plot()
    assert display.ax_.get_legend() is None
    # a fit time of 0 is floored so that it shows on the log axis
    assert display.errorbars_["a"].lines[0].get_xdata()[0] > 0
    assert display.errorbars_["a"].has_yerr is False
    assert display.errorbars_["b"].has_yerr is True


def test_errorbar_kwargs_override_the_family_style(results):
    table, _, _ = results
    display = ComparisonDisplay.from_results(table)
    display.plot(errorbar_kwargs={"color": "black", "marker": "o"})
    assert display.errorbars_["linear"].lines[0].get_marker() == "o"


def test_bad_input_is_refused(results):
    table, _, _ = results
    with pytest.raises(ValueError, match=r"score must be one of the scores in results"):
        ComparisonDisplay.from_results(table, score="accuracy")
    with pytest.raises(TypeError, match="DataFrame returned by skmoe.compare.compare"):
        ComparisonDisplay.from_results({"r2_mean": [1.0]})
    with pytest.raises(ValueError, match="lacks the columns"):
        ComparisonDisplay.from_results(table.drop(columns="fit_time"))
    with pytest.raises(ValueError, match="must have the same length"):
        ComparisonDisplay(names=["a"], score_mean=[0.1, 0.2], score_std=[0.1, 0.1],
                          fit_time=[1.0, 1.0]).plot()


# ------------------------------------------------------- reading a mixture
@pytest.fixture(scope="module")
def mixture_1d():
    rng = np.random.RandomState(0)
    x = rng.uniform(-3, 3, size=(400, 1))
    y = np.where(x[:, 0] < 0, 1 + 2 * x[:, 0], 4 - x[:, 0]) + 0.2 * rng.normal(size=400)
    model = MixtureOfExpertsRegressor(n_experts=2, n_init=2, random_state=0).fit(x, y)
    return x, y, model


def test_gate_display_one_feature_curves_hold_gate(mixture_1d):
    x, _, model = mixture_1d
    display = GateDisplay.from_estimator(model, x, features=0, grid_resolution=50)
    assert len(display.lines_) == 2
    grid = display.lines_[0].get_xdata()
    assert_allclose(grid, np.linspace(x.min(), x.max(), 50))
    assert_allclose(np.column_stack([line.get_ydata() for line in display.lines_]),
                    model.predict_gate(grid[:, None]))
    assert display.ax_.get_xlabel() == "x0"
    assert display.figure_ is display.ax_.figure


def test_gate_display_two_features_regions():
    X, y = make_switching_regression(300, 3, 3, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=20, random_state=0).fit(frame, y)
    display = GateDisplay.from_estimator(model, frame, features=("a", "c"), grid_resolution=30)
    assert display.gate.shape == (30, 30, 3)
    rows = np.tile(X.mean(axis=0), (900, 1))
    rows[:, 0] = display.grid[0].ravel()
    rows[:, 2] = display.grid[1].ravel()
    expected = model.predict_gate(pd.DataFrame(rows, columns=["a", "b", "c"]))
    assert_allclose(display.gate.reshape(900, 3), expected)
    assert (display.ax_.get_xlabel(), display.ax_.get_ylabel()) == ("a", "c")
    with pytest.raises(ValueError, match="feature 'z' is not a column"):
        GateDisplay.from_estimator(model, frame, features=("a", "z"))


def test_expert_fit_display_artists(mixture_1d):
    x, y, model = mixture_1d
    display = ExpertFitDisplay.from_estimator(model, x, y, grid_resolution=40)
    grid = np.linspace(x.min(), x.max(), 40)
    for k, line in enumerate(display.lines_):
        assert_allclose(line.get_ydata(), model.experts_[k].predict(grid[:, None]))
    mean, std = model.predict(grid[:, None], return_std=True)
    assert_allclose(display.mean_line_.get_ydata(), mean)
    assert_allclose(display.std, std)
    assigned = sum(len(s.get_offsets()) for s in display.scatter_)
    assert assigned == len(y)
    assert display.band_ is not None


def test_expert_fit_display_takes_every_family_and_refuses_what_is_not_a_fitted_regressor():
    from sklearn.linear_model import PoissonRegressor

    from skmoe import MixtureOfExpertsClassifier

    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, size=(200, 1))
    counts = rng.poisson(np.exp(1 + np.where(x[:, 0] > 0, 1.5, -1.0) * x[:, 0]))
    model = MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2,
                                      random_state=0).fit(x, counts)
    display = ExpertFitDisplay.from_estimator(model, x, counts, grid_resolution=30)
    assert_allclose(display.std, model.predict(display.grid[:, None], return_std=True)[1])
    with pytest.raises(TypeError, match=r"needs a fitted MixtureOfExpertsRegressor, got "
                                        r"MixtureOfExpertsRegressor \(not fitted\)\."):
        ExpertFitDisplay.from_estimator(MixtureOfExpertsRegressor(), x, counts)
    with pytest.raises(TypeError, match=r"got MixtureOfExpertsClassifier\."):
        classifier = MixtureOfExpertsClassifier(n_experts=2, random_state=0)
        ExpertFitDisplay.from_estimator(classifier.fit(x, counts > 2), x, counts)


def test_expert_fit_display_draws_no_band_of_infinite_width():
    # Student t experts with df <= 2 have no variance: the band was infinitely wide,
    # labelled "mean ± 2 sd", without a word.
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, size=(300, 1))
    y = np.where(x[:, 0] > 0, 2.0, -1.0) * x[:, 0] + 0.3 * rng.standard_t(1.2, size=300)
    model = MixtureOfExpertsRegressor(n_experts=2, noise="student_t", random_state=0)
    model.fit(x, y)
    assert np.any(model.df_ <= 2)
    with pytest.warns(UserWarning, match=r"standard deviation is infinite on the grid .* no "
                                         r"'mean ± 2 sd' band is drawn"):
        display = ExpertFitDisplay.from_estimator(model, x, y, grid_resolution=30)
    assert display.band_ is None
    assert np.isfinite(display.mean_line_.get_ydata()).all()


def test_expert_fit_display_colours_a_grouped_fit_by_its_groups():
    # Each row was coloured by its own responsibilities, though a grouped mixture's
    # rows share their group's expert.
    from skmoe.inspection import posterior

    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(40), 5)
    slope = np.where(rng.uniform(size=40) < 0.5, 2.0, -1.0)[groups]
    x = rng.uniform(-1, 1, size=(200, 1))
    y = slope * x[:, 0] + 0.5 * rng.normal(size=200)
    model = MixtureOfExpertsRegressor(n_experts=2, gate_features=[], random_state=0)
    model.fit(x, y, groups=groups)
    display = ExpertFitDisplay.from_estimator(model, x, y, grid_resolution=20, groups=groups)
    expected = posterior(model, x, y, groups=groups).argmax(axis=1)
    np.testing.assert_array_equal(display.assignment, expected)
    for group in range(40):
        assert np.unique(display.assignment[groups == group]).size == 1
    rows = ExpertFitDisplay.from_estimator(model, x, y, grid_resolution=20).assignment
    assert np.any(rows != display.assignment)


def test_convergence_display_one_line_per_start(mixture_1d):
    _, _, model = mixture_1d
    display = ConvergenceDisplay.from_estimator(model)
    assert len(display.lines_) == 2
    for line, history in zip(display.lines_, model.init_lower_bounds_):
        assert_allclose(line.get_ydata(), history)
    kept = display.lines_[display.best]
    assert_allclose(kept.get_ydata(), model.lower_bounds_)
    assert "(kept)" in kept.get_label()


def test_selection_display_from_results_and_estimator():
    X, y = make_switching_regression(300, 2, 2, noise=0.2, random_state=0)
    estimator = MixtureOfExpertsRegressor(max_iter=20, random_state=0)
    table, _ = select_n_experts(estimator, X, y, n_experts=[1, 2, 3])
    display = SelectionDisplay.from_results(table)
    assert_allclose(display.line_.get_ydata(), table["bic"])
    assert display.best_marker_.get_xdata()[0] == table.loc[table["best"], "n_experts"].item()
    again = SelectionDisplay.from_estimator(estimator, X, y, n_experts=[1, 2, 3],
                                            criterion="aic")
    assert again.criterion == "aic"
    with pytest.raises(ValueError, match="table must come from"):
        SelectionDisplay.from_results(pd.DataFrame({"n_experts": [1]}))
