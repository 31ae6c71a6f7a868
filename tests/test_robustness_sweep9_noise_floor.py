"""One bad row and the noise scale's floor: what a single far y does to the floors of the
heavy-tailed families, and the warning when a fit's noise ends at its floor
(docs/robustness.rst, "A few bad rows")."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import load_dataset

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# The noise standard deviations of the two regimes of _two_regimes.
NOISE = np.array([0.05, 0.3])


def _two_regimes(far=None, seed=0, n_samples=600):
    """Two lines, y = 2x and y = 4 - x, that a soft gate mixes all over x (about 2/3 of
    the rows on the first), with Gaussian noise NOISE; ``far`` replaces y of row 0 (a
    row of the second regime)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n_samples, 1))
    regime = (rng.uniform(size=n_samples) < 1 / (1 + np.exp(-2 * X[:, 0] + 1))).astype(int)
    y = np.where(regime == 0, 2 * X[:, 0], 4 - X[:, 0]) + NOISE[regime] * rng.standard_normal(
        n_samples)
    if far is not None:
        y[0] = far
    return X, y


def _by_regime(model):
    """The experts' indices in the order of the regimes (rising line first)."""
    assert model.n_experts_ == 2
    return np.argsort([-expert.coef_[0] for expert in model.experts_])


# ------------------------------------------------- the heavy-tailed families' floors
@pytest.mark.parametrize("init", ["auto", "random"])
@pytest.mark.parametrize("far", [1e3, 1e6])
def test_student_t_scales_stay_at_the_noise_with_one_far_row(far, init):
    # The floor of every expert's scale was 1e-3 (in variance) of the squared mean
    # absolute residual at the start's first M-step, and var_floor of var(y): one y
    # of 1e3 among 600 rows of noise 0.05 and 0.3 held the first expert's scale at
    # 0.14 to 0.18 (its floor), one of 1e6 held both experts at about 120, where they
    # merged into one. The noise quartile of each expert, s * t_nu^-1(0.75) (a scale
    # comparable across degrees of freedom), is its regime's within 25%.
    X, y = _two_regimes(far)
    # Every kind of start (k-means, emEM's partitions, random soft rows) leaves the far
    # row out of its first M-step (tests/test_far_targets.py); before, the k-means and
    # emEM starts gave a row of 1e6 an expert of its own, removed whatever the floor.
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      init=init, n_init=4, random_state=0).fit(X, y)
    order = _by_regime(model)
    quartile = model.noise_scale_[order] * stats.t.ppf(0.75, model.df_[order])
    np.testing.assert_allclose(quartile, NOISE * stats.norm.ppf(0.75), rtol=0.25)


def test_laplace_scale_of_the_other_expert_stays_at_its_noise_with_one_far_row():
    # The Laplace scale is the weighted mean absolute residual, its maximum-likelihood
    # estimate: the expert that holds a y of 1e3 has a scale of about 1e3 / its rows
    # whatever the floor. Its floor held the other expert's scale at 0.125, three
    # times its noise (sd 0.05, Laplace scale 0.05 * sqrt(2 / pi) = 0.040).
    X, y = _two_regimes(1e3)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="laplace",
                                      n_init=4, random_state=0).fit(X, y)
    quiet = _by_regime(model)[0]
    assert model.noise_scale_[quiet] == pytest.approx(NOISE[0] * np.sqrt(2 / np.pi), rel=0.15)


# ------------------------------------------------- noise that ends at its floor
def _inputs(seed=0, n_samples=400):
    rng = np.random.RandomState(seed)
    return rng, rng.normal(size=(n_samples, 2))


def test_a_two_valued_target_warns_that_the_noise_is_the_floors():
    # Class labels given to the regressor: each linear expert fits one label
    # exactly, and the log-likelihood grows with 1 / var_floor, silently.
    rng, X = _inputs()
    y = (X[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(float)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0)
    with pytest.warns(UserWarning, match=r"The noise variance \(noise_variance_\) of expert 0 "
                      r"and expert 1 ended at their floor .*not an honest measure.* y takes two "
                      r"values only \(0 and 1\).*MixtureOfExpertsClassifier") as caught:
        model.fit(X, y)
    assert [w.filename for w in caught if "ended at" in str(w.message)] == [__file__]


@pytest.mark.parametrize("noise", ["gaussian", "student_t", "laplace"])
def test_a_point_mass_warns_that_the_noise_is_the_floors(noise):
    # 40% of the rows have y = 0 exactly: one expert predicts them exactly.
    rng, X = _inputs()
    y = X @ [1.0, -2.0] + 0.5 * rng.normal(size=400)
    zero = rng.uniform(size=400) < 0.4
    y[zero] = 0.0
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise=noise,
                                      random_state=0)
    with pytest.warns(UserWarning, match=rf"of expert \d ended at its floor .*point mass: "
                      rf"{zero.sum()} rows \({zero.mean():.0%}\) have y = 0 exactly.*"
                      r"a classifier for y == 0"):
        model.fit(X, y)


def test_a_column_that_leaks_y_warns_that_the_noise_is_the_floors():
    rng, X = _inputs()
    y = X @ [1.0, -2.0] + 0.5 * rng.normal(size=400)
    leaky = np.column_stack([X, 3 * y + 1])
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0)
    with pytest.warns(UserWarning, match=r"ended at their floor .*var_floor times y's variance"
                      r".*predict y on their rows to within .* a column that leaks y"):
        model.fit(leaky, y)


def test_a_far_row_that_raises_the_gaussian_floor_is_named():
    # y = 100 in row 0 raises the pooled floor (1e-3 of the first M-step's residual
    # variance) to a standard deviation of 0.13, above the first regime's 0.05. The
    # package's starts leave a far y out of the first M-step (tests/test_far_targets.py);
    # a start given as an array, here Dirichlet rows, is used as given.
    X, y = _two_regimes(100.0)
    init = np.random.RandomState(0).dirichlet([1, 1], size=600)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, init=init,
                                      random_state=0)
    with pytest.warns(UserWarning, match=r"ended at its floor \(0\.0187, 1e-3 of the pooled "
                      r"residual variance.*row 0 \(y = 100\) lies more than 10 robust standard "
                      r"deviations.*noise='student_t'"):
        model.fit(X, y)
    # From the default starts the floor stays below the first regime's noise.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, n_init=4,
                                          random_state=0).fit(X, y)
    quiet = _by_regime(model)[0]
    assert np.sqrt(model.noise_variance_[quiet]) == pytest.approx(NOISE[0], rel=0.15)


def test_the_experts_of_an_expert_mixture_warn_once_for_the_whole_fit():
    # The inner mixture's fits are M-steps of the outer one: the outer fit warns,
    # once, naming the inner expert.
    rng, X = _inputs()
    y = X @ [1.0, -2.0] + 0.5 * rng.normal(size=400)
    y[rng.uniform(size=400) < 0.4] = 0.0
    inner = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0)
    model = MixtureOfExpertsRegressor([inner, LinearRegression()], random_state=0)
    with pytest.warns(UserWarning, match=r"of expert \d of expert 0 ended at its floor: .*"
                      r"point mass") as caught:
        model.fit(X, y)
    (message,) = [str(w.message) for w in caught if "ended at" in str(w.message)]
    assert f"of expert {_zero_expert(model.experts_[0])} of expert 0 ended" in message


def _zero_expert(mixture):
    """The index of the expert of ``mixture`` that predicts the point mass y = 0 (its
    coefficients and intercept are within 1e-2 of 0; the other's slopes are 1 and -2)."""
    (index,) = [k for k, expert in enumerate(mixture.experts_)
                if np.abs(expert.coef_).max() < 1e-2 and abs(expert.intercept_) < 1e-2]
    return index


def test_a_fit_on_dask_collections_warns_that_the_noise_is_the_floors():
    import dask.array as da

    rng, X = _inputs()
    y = X @ [1.0, -2.0] + 0.5 * rng.normal(size=400)
    leaky = da.from_array(np.column_stack([X, 3 * y + 1]), chunks=100)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0)
    with pytest.warns(UserWarning, match=r"ended at their floor .*Likely causes: y with two "
                      r"values .* a column that leaks y") as caught:
        model.fit(leaky, da.from_array(y, chunks=100))
    # At the user's line.
    assert [w.filename for w in caught if "ended at" in str(w.message)] == [__file__]


def _mtcars():
    import pandas as pd

    frame = pd.read_csv(Path(__file__).resolve().parent / "data" / "mtcars.csv", index_col=0)
    return frame.drop(columns="mpg").to_numpy(float), frame["mpg"].to_numpy(float)


@pytest.mark.parametrize("name", ["switching_regression", "diabetes", "mtcars"])
@pytest.mark.parametrize("noise", ["gaussian", "student_t", "laplace"])
def test_clean_data_do_not_warn_of_the_noise_floor(name, noise):
    from skmoe._noise_floor import fitted_experts_at_floor

    X, y = _mtcars() if name == "mtcars" else load_dataset(name, return_X_y=True)
    for n_experts in (2, 3):
        model = MixtureOfExpertsRegressor(n_experts=n_experts, noise=noise, random_state=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(StandardScaler().fit_transform(X), y)
        assert not [w for w in caught if "floor" in str(w.message)]
        assert fitted_experts_at_floor(model) == []


# ------------------------------------------------- compare and the noise floor
def _point_mass_frame():
    import pandas as pd

    rng, X = _inputs()
    y = X @ [1.0, -2.0] + 0.5 * rng.normal(size=400)
    y[rng.uniform(size=400) < 0.4] = 0.0
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y})


def test_compare_does_not_trust_a_log_likelihood_won_at_the_noise_floor():
    # On rows of which 40% have y = 0 exactly, a mixture's expert fits those rows
    # exactly: its held-out log-likelihood (-0.13) led least squares' (-1.57) by
    # 7 fold-sds, and the verdict called it a clear win. It is the floor's.
    from skmoe.compare import compare, verdicts

    frame = _point_mass_frame()
    results = compare(frame[["a", "b"]], frame["y"], {
        "moe": MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0),
        "linear": LinearRegression(),
    }, cv=3)
    assert results.index[0] == "linear"  # on R², the primary score
    assert results.attrs["noise_at_floor"] == {"moe": [0, 1, 2]}
    lines = verdicts(results, "log_likelihood")
    assert lines[0].endswith("<- winner  (noise at its floor in folds 0, 1, 2)")
    assert lines[-1].startswith(
        "Verdict: no trusted winner on held-out mean log-likelihood: moe (mixture of experts) "
        "is ahead, but its noise ended at its floor in folds 0, 1, 2")
    assert lines[-1].endswith("The best model without such folds is linear (single model, "
                              f"{results.loc['linear', 'log_likelihood_mean']:.3f}).")
    # On R², where the floor plays no part, nothing is marked.
    assert not any("floor" in line for line in verdicts(results))


def test_the_command_line_says_a_log_likelihood_won_at_the_noise_floor(tmp_path, capsys):
    from skmoe.__main__ import main

    path = tmp_path / "point_mass.csv"
    _point_mass_frame().to_csv(path, index=False)
    assert main(["compare", "--csv", str(path), "--target", "y", "--estimators", "moe_linear",
                 "linear", "--cv", "3"]) == 0
    out = capsys.readouterr().out
    assert ("Verdict: no trusted winner on held-out mean log-likelihood: moe_linear (mixture of "
            "experts) is ahead, but its noise ended at its floor in folds 0, 1, 2") in out
    assert "ended at its floor" in out.split("Warnings raised during the fits")[1]


def test_fitted_experts_at_floor_names_them_as_the_warning_does():
    from skmoe._noise_floor import fitted_experts_at_floor

    rng, X = _inputs()
    y = X @ [1.0, -2.0] + 0.5 * rng.normal(size=400)
    y[rng.uniform(size=400) < 0.4] = 0.0
    inner = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, random_state=0)
    model = MixtureOfExpertsRegressor([inner, LinearRegression()], random_state=0)
    with pytest.warns(UserWarning, match=r"of expert \d of expert 0 ended at its floor"):
        model.fit(X, y)
    zero = _zero_expert(model.experts_[0])
    assert fitted_experts_at_floor(model) == [f"expert {zero} of expert 0"]
    assert fitted_experts_at_floor(model.experts_[0]) == [f"expert {zero}"]
