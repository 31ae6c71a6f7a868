"""Coverage of the bootstrap's intervals in ``skmoe.inspection.standard_errors``.

Not a test. Data sets are drawn from a known two-expert mixture of linear
regressions (one feature; ``make_switching_regression``), a mixture of the same
form is fitted to each, and ``standard_errors(model, X, y, method="bootstrap")``
gives its table. Each true parameter (matched to the fitted experts by their
slopes) is then checked against three 95% intervals built from the same refits:

* ``table``: the table's ``ci_lower`` and ``ci_upper`` (bias-corrected
  percentile intervals, Efron's BC);
* ``percentile``: the 2.5% and 97.5% percentiles of the refits (the table's
  intervals before);
* ``normal``: the bias-corrected normal interval, ``estimate - bias +/- 1.96
  std_error`` with ``bias`` the refits' mean less the estimate (R's
  ``boot.ci(type = "norm")``);
* ``Wald``: ``estimate +/- 1.96 std_error``.

Four cases: Gaussian noise with well-separated regimes (``n = 300``, gate
sharpness 3) and with overlapping ones (``n = 200``, sharpness 1.5), and Student
t noise with 5 degrees of freedom (``n = 300``), all with a near-unpenalised gate
(``SoftmaxGate(C=1e6)``, flexmix's model); and the first case with the default
gate (``C=1``), whose penalty shrinks the gate's coefficients (its intervals are
of the penalised estimate). Coverage is a share of (data sets x experts)
intervals; its binomial standard deviation at 0.95 is printed beside it.

Usage::

    python benchmarks/bench_bootstrap.py           # writes results/bench_bootstrap.md
    python benchmarks/bench_bootstrap.py --quick   # prints only: 20 data sets, 50 refits
"""

import datetime
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from bench_estep import (
    _load_average,
    _markdown_table,
    benchmark_parser,
    blas_info,
    machine_info,
    machine_section,
)
from scipy.stats import norm
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate
from skmoe.datasets import make_switching_regression
from skmoe.inspection import standard_errors

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_bootstrap.md"
NOISE = 0.5
CONFIDENCE = 0.95
# The kinds of attrs["unreliable"], by words of their reasons.
KINDS = {"at a bound": "refits are at its", "gone far": "spread of their middle half",
         "held by the penalty": "L2 penalty"}

CASES = {
    "Gaussian, separated": dict(n=300, sharpness=3.0, noise="gaussian", C=1e6, sets=60),
    "Gaussian, overlapping": dict(n=200, sharpness=1.5, noise="gaussian", C=1e6, sets=60),
    "Student t (df 5)": dict(n=300, sharpness=3.0, noise="student_t", C=1e6, sets=40),
    "Gaussian, default gate (C=1)": dict(n=300, sharpness=3.0, noise="gaussian", C=1.0,
                                         sets=40),
}


def draw(case, seed):
    """One data set of ``case`` and its true parameters."""
    X, y, truth = make_switching_regression(
        case["n"], 1, 2, noise=0.0 if case["noise"] == "student_t" else NOISE,
        gate_sharpness=case["sharpness"], random_state=1000 + seed, return_params=True)
    if case["noise"] == "student_t":
        y = y + NOISE * np.random.RandomState(seed).standard_t(5.0, size=y.shape[0])
    return X, y, truth


def true_values(case, truth, slopes):
    """The true value of each parameter of the table, experts matched by slope."""
    true_slopes = np.asarray(truth.coef)[:, 0]
    kept = np.abs(slopes - true_slopes).sum()
    order = [0, 1] if kept <= np.abs(slopes - true_slopes[::-1]).sum() else [1, 0]
    values = {}
    for k, t in enumerate(order):
        values[(f"expert {k}", "intercept")] = truth.intercept[t]
        values[(f"expert {k}", "x0")] = true_slopes[t]
        if case["noise"] == "gaussian":
            values[(f"expert {k}", "log(sigma)")] = np.log(NOISE)
        else:
            values[(f"expert {k}", "noise_scale")] = NOISE
            values[(f"expert {k}", "df")] = 5.0
    gate_intercept, gate_slope = np.asarray(truth.gate_intercept), np.asarray(truth.gate_coef)
    values[("gate 1", "intercept")] = gate_intercept[order[1]] - gate_intercept[order[0]]
    values[("gate 1", "x0")] = gate_slope[order[1], 0] - gate_slope[order[0], 0]
    return values


def run_case(name, case, n_sets, n_bootstrap):
    """Coverage of each kind of interval, per parameter, over ``n_sets`` data sets."""
    z = norm.ppf(0.5 + CONFIDENCE / 2.0)
    records, unreliable = [], dict.fromkeys(KINDS, 0)
    for seed in range(n_sets):
        X, y, truth = draw(case, seed)
        model = MixtureOfExpertsRegressor(
            LinearRegression(), n_experts=2, noise=case["noise"], n_init=3,
            gate=SoftmaxGate(C=case["C"]), random_state=seed).fit(X, y)
        with warnings.catch_warnings():
            # Counted below instead.
            warnings.simplefilter("ignore", UserWarning)
            table = standard_errors(model, X, y, method="bootstrap",
                                    n_bootstrap=n_bootstrap, random_state=seed)
        reasons = " ".join(table.attrs["unreliable"].values())
        for kind, words in KINDS.items():
            unreliable[kind] += words in reasons
        slopes = np.array([table.loc[(f"expert {k}", "x0"), "estimate"] for k in range(2)])
        replicates = table.attrs["replicates"]
        for key, value in true_values(case, truth, slopes).items():
            row = table.loc[key]
            column = replicates[:, table.index.get_loc(key)]
            low, high = np.percentile(column, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
            centre = 2.0 * row["estimate"] - column.mean()
            parameter = ("gate " if key[0].startswith("gate") else "expert ") + key[1]
            records.append({
                "case": name, "parameter": parameter,
                "table": row["ci_lower"] <= value <= row["ci_upper"],
                "percentile": low <= value <= high,
                "normal": abs(centre - value) <= z * row["std_error"],
                "Wald": abs(row["estimate"] - value) <= z * row["std_error"],
            })
    return pd.DataFrame(records), unreliable


def main(argv=None):
    args = benchmark_parser(__doc__, RESULTS).parse_args(argv)
    n_bootstrap = 50 if args.quick else 200
    load_before, started = _load_average(), time.perf_counter()
    frames, warned, sets = [], {}, {}
    for name, case in CASES.items():
        sets[name] = 20 if args.quick else case["sets"]
        frame, warned[name] = run_case(name, case, sets[name], n_bootstrap)
        frames.append(frame)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    records = pd.concat(frames)
    coverage = records.groupby(["case", "parameter"], sort=False).agg(
        intervals=("table", "size"), table=("table", "mean"),
        percentile=("percentile", "mean"), normal=("normal", "mean"), Wald=("Wald", "mean"))
    rows = [[case, parameter, int(row.intervals), f"{row.table:.3f}",
             f"{row.percentile:.3f}", f"{row.normal:.3f}", f"{row.Wald:.3f}",
             f"{np.sqrt(CONFIDENCE * (1 - CONFIDENCE) / row.intervals):.3f}"]
            for (case, parameter), row in coverage.iterrows()]
    table = _markdown_table(
        ["case", "parameter", "intervals", "table (BC percentile)", "percentile",
         "bias-corrected normal", "Wald", "binomial sd"], rows)
    flagged = _markdown_table(
        ["case", "data sets", *KINDS],
        [[name, sets[name], *warned[name].values()] for name in CASES])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# bench_bootstrap results

Recorded {date} by `python benchmarks/bench_bootstrap.py{" --quick" if args.quick else ""}`
(total {time.perf_counter() - started:.0f} s; load average before {load_before}, after
{_load_average()}).

Coverage of 95% intervals from `standard_errors(model, X, y, method="bootstrap",
n_bootstrap={n_bootstrap})` on data drawn from two-expert mixtures (see the script's
docstring): the table's intervals (bias-corrected percentile), the refits' percentiles,
the bias-corrected normal intervals and Wald intervals from the bootstrap's standard error.

{table}

Data sets whose table named some parameter in `attrs["unreliable"]`, by kind (refits
piled at a bound, refits gone far, a gate coefficient held by the gate's penalty):

{flagged}

{machine_section(machine_info(), blas_info())}"""
    print(text)
    output = args.output or (None if args.quick else RESULTS)
    if output is not None:
        output.write_text(text)
        print(f"written to {output}")


if __name__ == "__main__":
    main()
