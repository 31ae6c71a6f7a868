"""A few bad rows: what the messages say when one row, or a handful, is to blame
(docs/robustness.rst, "A few bad rows")."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _two_regimes(n_samples=300):
    return make_switching_regression(n_samples=n_samples, n_features=2, n_experts=2, noise=0.3,
                                     random_state=0)


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
