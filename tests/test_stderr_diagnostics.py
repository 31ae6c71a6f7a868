"""What standard_errors says about its own numbers: the bootstrap's intervals, refits
that pile at a bound or went far, and a gate held from the likelihood's maximum by its
penalty."""

import copy
import warnings

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate
from skmoe._families import FAMILIES
from skmoe._stderr import (
    _refit,
    bootstrap_intervals,
    flatten,
    parameter_table,
    replicate_diagnostics,
)
from skmoe.datasets import make_switching_regression
from skmoe.inspection import report, standard_errors


def _bootstrap(model, X, y, n_bootstrap=100, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = standard_errors(model, X, y, method="bootstrap", n_bootstrap=n_bootstrap,
                                random_state=0, **params)
    messages = [str(w.message) for w in caught if "do not mean what" in str(w.message)]
    return table, messages


def test_bootstrap_intervals_are_bias_corrected_percentiles():
    # Percentile intervals put the estimator's bias in twice: log(sigma), biased low,
    # had its refits lower still, and its 95% intervals covered 0.83 to 0.91.
    X, y = make_switching_regression(300, 1, 2, noise=0.5, random_state=3)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
                                      random_state=0).fit(X, y)
    table, _ = _bootstrap(model, X, y, confidence=0.9)
    replicates = table.attrs["replicates"]
    for j, estimate in enumerate(table["estimate"]):
        column = replicates[:, j]
        share = (np.sum(column < estimate) + 0.5 * np.sum(column == estimate)) / len(column)
        z0 = norm.ppf(share)
        ends = np.percentile(column, 100 * norm.cdf([2 * z0 - norm.ppf(0.95),
                                                     2 * z0 + norm.ppf(0.95)]))
        np.testing.assert_allclose(table[["ci_lower", "ci_upper"]].iloc[j], ends, rtol=1e-12)
    # Not the percentiles, where the refits sit to one side of the estimate.
    sigma = table.index.get_loc(("expert 0", "log(sigma)"))
    assert abs(table["ci_lower"].iloc[sigma]
               - np.percentile(replicates[:, sigma], 5.0)) > 1e-3


def test_bias_corrected_intervals_move_back_from_biased_refits():
    rng = np.random.RandomState(0)
    z = norm.ppf(0.975)
    # The normal's quantiles, as refits: exactly centred.
    centred = 2.0 + 0.5 * norm.ppf((np.arange(20000) + 0.5) / 20000)[:, None]
    lower, upper = bootstrap_intervals(np.array([2.0]), centred, 0.95)
    # Refits centred on the estimate: the percentile interval.
    np.testing.assert_allclose([lower[0], upper[0]], [2.0 - z * 0.5, 2.0 + z * 0.5], atol=1e-3)
    # Refits 0.2 above the estimate (a biased estimator's): the interval moves
    # 0.2 below it, where the percentiles moved 0.2 above.
    lower, upper = bootstrap_intervals(np.array([2.0]), centred + 0.2, 0.95)
    np.testing.assert_allclose([lower[0], upper[0]],
                               [1.8 - z * 0.5, 1.8 + z * 0.5], atol=0.01)
    # Ends are refits: within a positive parameter's range, whatever the skew, and
    # a gate that ran off (coefficients near 1000) overflows nothing.
    skewed = rng.lognormal(-3.0, 1.5, size=(400, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        lower, upper = bootstrap_intervals(np.array([np.exp(-3.0)]), skewed, 0.95)
        far = bootstrap_intervals(np.array([1000.0]), 1000.0 + rng.normal(size=(400, 1)),
                                  0.95)
    assert 0 < skewed.min() <= lower[0] < np.exp(-3.0) < upper[0] <= skewed.max()
    assert far[0][0] < 1000.0 < far[1][0]


def test_refits_at_a_bound_or_far_out_are_named():
    rng = np.random.RandomState(0)
    index = [("expert 0", "x0"), ("expert 0", "df"), ("expert 1", "df"), ("gate 1", "x0"),
             ("expert 1", "noise_scale")]
    tame = rng.normal(size=(200, 5))
    tame[:, 1:3] = rng.uniform(3.0, 20.0, size=(200, 2))
    tame[:, 4] = rng.uniform(0.1, 1.0, 200)
    student = FAMILIES["student_t"]
    assert replicate_diagnostics(index, tame, 0.95, student) == {}
    piled, far = tame.copy(), tame.copy()
    piled[:10, 1] = 200.0   # 5% of the refits at the upper bound: past the 2.5% tail
    piled[:3, 2] = 1.0      # 1.5% at the lower bound: within the tail, not named
    far[:8, 3] = 60.0       # a gate that separated the experts on 4% of the resamples
    named = replicate_diagnostics(index, piled, 0.95, student)
    assert list(named) == [("expert 0", "df")]
    assert named[("expert 0", "df")].startswith("10 of 200 refits are at its upper bound 200")
    named = replicate_diagnostics(index, far, 0.95, student)
    assert list(named) == [("gate 1", "x0")]
    assert "spread of their middle half" in named[("gate 1", "x0")]
    # An expert whose refits all give one value but a few (a class it alone holds).
    pure = tame.copy()
    pure[:, 0] = 22.66
    pure[:3, 0] = 23.38
    named = replicate_diagnostics(index, pure, 0.95, student)
    assert list(named) == [("expert 0", "x0")]
    assert "while their middle half does not spread at all" in named[("expert 0", "x0")]
    # Without the family, df has no bound to pile at: its pile is refits gone far.
    assert replicate_diagnostics(index, piled, 0.95, None)[("expert 0", "df")].startswith(
        "the standard deviation of its refits")


def test_student_t_df_at_its_bound_is_named_by_the_bootstrap():
    # Gaussian noise: a t expert's df goes to its bound of 200 on many refits.
    X, y = make_switching_regression(300, 1, 2, noise=0.5, random_state=3)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, noise="student_t",
                                      random_state=0).fit(X, y)
    table, messages = _bootstrap(model, X, y)
    flagged = table.attrs["unreliable"]
    assert any(name == "df" for _, name in flagged)
    # (The default gate's penalty may be named as well.)
    assert all(name == "df" for component, name in flagged if component.startswith("expert"))
    assert len(messages) == 1 and "upper bound 200" in messages[0]
    df = [i for i, (_, name) in enumerate(table.index) if name == "df"]
    assert (table["ci_upper"].iloc[df] <= 200.0).all()
    assert (table["ci_lower"].iloc[df] >= 1.0).all()


def test_a_gate_that_separates_on_some_resamples_is_named():
    # A near-unpenalised gate on crisp regimes: some resamples separate the experts,
    # and their gate runs off (standard error 254 where the middle half spread 14.5).
    X, y = make_switching_regression(150, 1, 2, noise=0.3, gate_sharpness=8, random_state=1)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
                                      gate=SoftmaxGate(C=1e6), random_state=0).fit(X, y)
    table, messages = _bootstrap(model, X, y)
    flagged = table.attrs["unreliable"]
    assert ("gate 1", "x0") in flagged
    assert all(component == "gate 1" for component, _ in flagged)
    assert len(messages) == 1 and "gate 1, x0: the standard deviation of its refits" in (
        messages[0])


def _sharp_gate(C):
    X, y = make_switching_regression(300, 1, 2, noise=0.5, gate_sharpness=3,
                                     random_state=1000)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, n_init=3,
                                      gate=SoftmaxGate(C=C), random_state=0).fit(X, y)
    return model, X, y


@pytest.mark.parametrize("method", ["information", "bootstrap"])
def test_a_gate_held_by_its_penalty_is_named(method):
    # The default gate (C=1) on a sharp gate: its slope was 3.13 where the
    # unpenalised fit's is 4.34, 1.3 standard errors away, without a word.
    shrunk, X, y = _sharp_gate(1.0)
    free = _sharp_gate(1e6)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = standard_errors(shrunk, X, y, method=method, n_bootstrap=100,
                                random_state=0)
    flagged = table.attrs["unreliable"]
    assert list(flagged) == [("gate 1", "x0")]
    reason = flagged[("gate 1", "x0")]
    assert "penalty (C=1)" in reason and "SoftmaxGate(C=1e6)" in reason
    assert sum("gate 1, x0: the gate's L2 penalty" in str(w.message) for w in caught) == 1
    # The step is towards the unpenalised fit's slope, and not past it.
    estimate = table.loc[("gate 1", "x0"), "estimate"]
    stepped = float(reason.split(" to ")[1].split(")")[0])
    unpenalised = abs(standard_errors(free, X, y).loc[("gate 1", "x0"), "estimate"])
    assert abs(estimate) < abs(stepped) <= unpenalised
    assert np.sign(stepped) == np.sign(estimate)


def test_an_unpenalised_gate_is_not_named():
    free, X, y = _sharp_gate(1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        table = standard_errors(free, X, y)
    assert table.attrs["unreliable"] == {}


def test_report_prints_the_reasons_under_its_tables():
    shrunk, X, y = _sharp_gate(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        text = str(report(shrunk, X, y))
    footer = text.splitlines()[-1]
    assert footer.startswith("Standard errors: information. gate 1, x0: the gate's L2 "
                             "penalty (C=1) holds it")
    free, X, y = _sharp_gate(1e6)
    assert str(report(free, X, y)).splitlines()[-1].startswith(
        "Standard errors: information. ICL")


def test_bootstrap_refits_reach_their_resamples_maximum():
    # A refit starts from the fitted solution, where EM's steps are short: stopped at
    # the fit's tol of 1e-5 it stayed up to 0.31 short of its resample's maximum
    # (a tenth of the spread of these refits), and the refits spread up to 13% less.
    X, y = make_switching_regression(300, 1, 2, noise=0.0, random_state=1001)
    y = y + 0.5 * np.random.RandomState(1).standard_t(5.0, size=300)
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, n_init=3,
                                      gate=SoftmaxGate(C=1e6), random_state=1).fit(X, y)
    resample = np.random.RandomState(0).multinomial(300, np.full(300, 1 / 300)) * 1.0
    refit = flatten(*parameter_table(_refit(model, X, y, resample, 0)))[1]
    tight = copy.deepcopy(model).set_params(warm_start=True, random_state=0, tol=1e-12,
                                            max_iter=20000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tight.fit(X, y, sample_weight=resample)
    np.testing.assert_allclose(refit, flatten(*parameter_table(tight))[1], atol=0.02)
