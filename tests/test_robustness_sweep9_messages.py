"""A few bad rows: what the messages say when one row, or a handful, is to blame
(docs/robustness.rst, "A few bad rows")."""

import warnings

import numpy as np
import pandas as pd
import pytest

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
    # Under Student t noise the advice is not to fit with Student t noise.
    with pytest.warns(UserWarning, match=r"removed at EM iteration") as record:
        MixtureOfExpertsRegressor(n_experts=2, random_state=0, noise="student_t").fit(X, y)
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
