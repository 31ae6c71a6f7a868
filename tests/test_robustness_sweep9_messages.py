"""A few bad rows: what the messages say when one row, or a handful, is to blame
(docs/robustness.rst, "A few bad rows")."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import GammaRegressor, LinearRegression, PoissonRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import load_dataset, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _two_regimes(n_samples=300):
    return make_switching_regression(n_samples=n_samples, n_features=2, n_experts=2, noise=0.3,
                                     random_state=0)


def _removals(record):
    return [str(w.message) for w in record if "was removed at EM iteration" in str(w.message)]


# ------------------------------------------------- a far row that took an expert
def test_an_expert_removed_for_one_far_row_names_the_row():
    # A y of 1e6 on data of scale 1 took an expert, which then held about one row
    # and was removed; the warning spoke of shares and parameters only.
    X, y = _two_regimes()
    y[17] = 1e6
    with pytest.warns(UserWarning, match=r"removed at EM iteration") as record:
        MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    (message,) = _removals(record)
    assert "most responsible expert for the row at position 17 only" in message
    assert "it looks like an outlier, which took an expert of its own" in message
    assert "noise='student_t'" in message
    # Under Student t noise the advice is not to fit with Student t noise. The
    # package's starts leave a far y out of the first M-step, and Student t noise
    # then keeps both experts (tests/test_far_targets.py); a start given as an
    # array is used as given, here the k-means partition from before, which gave
    # the far row a cluster of its own.
    init = np.eye(2)[(np.arange(300) == 17).astype(int)]
    with pytest.warns(UserWarning, match=r"removed at EM iteration") as record:
        MixtureOfExpertsRegressor(n_experts=2, random_state=0, noise="student_t",
                                  init=init).fit(X, y)
    (message,) = _removals(record)
    assert "the row at position 17 only" in message
    assert "the Student t noise of this fit did not take it" in message
    assert "noise='student_t'" not in message


def test_an_expert_removed_for_a_few_ordinary_rows_names_them_without_blame():
    # Three rows of a third, small regime within the noise's reach of the others:
    # their expert is removed and its rows named, but they are not outliers. An
    # expert removed while it held many rows names none, as before.
    X, y = _two_regimes()
    extra = np.random.default_rng(0).normal(size=(3, 2))
    X3, y3 = np.vstack([X, extra]), np.concatenate([y, extra @ [1.0, 1.0] + 2.0])
    with pytest.warns(UserWarning, match=r"removed at EM iteration") as record:
        MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X3, y3)
    (message,) = _removals(record)
    assert "the rows at positions 300, 301 and 302 only" in message
    assert "outlier" not in message
    assert message.endswith("2 experts remain.")
    many = load_dataset("switching_regression", n_samples=100, random_state=0, return_X_y=True)
    with pytest.warns(UserWarning, match=r"removed at EM iteration") as record:
        MixtureOfExpertsRegressor(n_experts=5, random_state=0).fit(*many)
    messages = _removals(record)
    assert len(messages) == 2
    assert not [message for message in messages if "position" in message or "outlier" in message]


# ------------------------------------------- one row sets a column's spread
def test_one_row_that_sets_a_columns_spread_is_named_before_the_fit():
    # ScaledRidge (and ScaledLogisticRegression) penalise each column in its
    # standard deviation: one value of 1e6 in a column of unit scale set it
    # alone, and a ScaledRidge's coefficient on that column fell from 1.31 to
    # -2e-6, silently.
    X, y = _two_regimes(400)
    X[5, 0] = 1e6
    frame = pd.DataFrame(X, columns=["income", "age"])
    pattern = (r"One row alone sets the spread of X's column 'income' \(the row at position "
               r"5, a value of 1e\+06: standard deviation 4\.99e\+04 with it, 0\.978 without\)"
               r"\. ScaledRidge .* 2\.61e\+09 times .* remove it or clip its value")
    with pytest.warns(UserWarning, match=pattern):
        MixtureOfExpertsRegressor(random_state=0, max_iter=2).fit(frame, y)
    with pytest.warns(UserWarning, match=r"spread of X's column 'income' .* "
                                         "ScaledLogisticRegression measures"):
        MixtureOfExpertsClassifier(random_state=0, max_iter=2).fit(frame, y > 0)
    # Clean columns, and a column constant but for one row (an indicator, with no
    # effect among the other rows to penalise), say nothing.
    clean, _ = _two_regimes(400)
    indicator = np.zeros(400)
    indicator[9] = 1.0
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        MixtureOfExpertsRegressor(random_state=0, max_iter=2).fit(
            np.column_stack([clean, indicator]), y)
    assert not [w for w in record if "spread" in str(w.message)]


# --------------------------------------------- a log link's exp that overflowed
@pytest.mark.parametrize("expert", [PoissonRegressor(solver="newton-cholesky"),
                                    GammaRegressor(solver="newton-cholesky")])
def test_a_glm_experts_overflow_names_the_row_and_its_linear_predictor(expert):
    # exp(X @ coef_ + intercept_) overflowed at a row far out in X, and the error
    # said only "Expert 0 (PoissonRegressor) returned NaN or inf predictions."
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = rng.poisson(np.exp(0.5 + 0.8 * X[:, 0])) + 1.0
    model = MixtureOfExpertsRegressor(expert, n_experts=2, random_state=0).fit(X, y)
    X_new = X[:6].copy()
    X_new[[3, 4], 0] = 1e5
    etas = [X_new @ e.coef_ + e.intercept_ for e in model.experts_]
    k = next(k for k, eta in enumerate(etas) if eta.max() > 709.8)  # the first to overflow
    worst = int(np.argmax(etas[k]))
    name = type(expert).__name__
    with pytest.raises(ValueError, match=(
            rf"Expert {k} \({name}\) returned NaN or inf predictions on 2 of 6 rows \(at "
            rf"positions 3 and 4\)\. Its log link's exp overflowed: its linear predictor X @ "
            rf"coef_ \+ intercept_ is {etas[k][worst]:.6g} at the row at position {worst} \(exp "
            r"overflows float64 above 709\.783\), most of it the term of column 0 of the "
            r"expert's inputs \(1e\+05 times a coefficient of .*\), a value far beyond the "
            r"column's usual range\. Scale the column .* or remove the row\.")):
        model.predict(X_new)


@pytest.mark.parametrize("value, pattern", [
    # exp of about 540: a prediction of 1e232, whose squared residual overflowed; the
    # error spoke of a Poisson expert's noise scale, which it has none of, and of a
    # value 1e150 times a column's spread.
    (1e3, r"The squared residuals of expert 1 \(PoissonRegressor\) overflow float64 on 1 of "
          r"200 rows \(at position 7\)\. Its predictions are the exp of a linear predictor "
          r"\(a log link\): its linear predictor X @ coef_ \+ intercept_ is \d+\.\d+ at the "
          r"row at position 7 \(the square of its exp overflows float64 above 354\.891\), "
          r"most of it the term of column 0 "),
    (1e4, r"Expert 1 \(PoissonRegressor\) returned NaN or inf predictions on 1 of 200 rows "
          r"\(at position 7\)\. Its log link's exp overflowed: .* at the row at position 7 "
          r"\(exp overflows float64 above 709\.783\), most of it the term of column 0 "),
])
def test_a_glm_experts_overflow_in_the_fit_names_the_row(value, pattern):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = rng.poisson(np.exp(0.5 + 0.8 * X[:, 0]))
    X[7, 0] = value
    model = MixtureOfExpertsRegressor(PoissonRegressor(solver="newton-cholesky"), n_experts=2,
                                      random_state=0)
    with pytest.raises(ValueError, match=pattern) as error:
        model.fit(X, y)
    assert "noise scale" not in str(error.value)
    assert str(error.value).endswith("Scale the column (divide it by a constant, or take its "
                                     "log) or remove the row.")


@pytest.mark.parametrize("params", [{}, {"noise": "student_t"},
                                    {"experts": LinearRegression()}],
                         ids=["default", "student_t", "least squares"])
def test_a_far_row_whose_squared_residual_overflows_is_named(params):
    # One value of 1e300 in X: the refusal said that a far row of X did it, not which.
    X, y = make_switching_regression(200, 3, 2, noise=0.2, random_state=0)
    X[37, 1] = 1e300
    with pytest.raises(ValueError, match=r"overflow float64, so its noise scale is not a number\. "
                                         r"A row of X far from the others .* beyond that; here it "
                                         r"did on 1 of 200 rows \(at position 37\)\. Drop or "
                                         r"rescale such rows\."):
        MixtureOfExpertsRegressor(**{"n_experts": 2, "max_iter": 5, "random_state": 0,
                                     **params}).fit(X, y)
