"""How often EM starting strategies find the best optimum: skmoe against R's flexmix.

Not a test: it fits the same model many times from different starts with both
packages, prints a table per data set and records them. The model is a mixture
of K linear regressions with Gaussian noise and a softmax gate:

* flexmix (R): ``flexmix(y ~ <experts' columns>, k = K, model = FLXMRglm(),
  concomitant = FLXPmultinom(~ <gate's columns>), control = list(iter.max =
  1000, minprior = 0.05, tolerance = 1e-8))``, each fit from flexmix's own
  random start after ``set.seed(seed)``, seeds 1..20; run by
  ``benchmarks/flexmix_starts.R``;
* skmoe: ``MixtureOfExpertsRegressor(LinearRegression(tol=0.0), n_experts=K,
  gate=SoftmaxGate(C=1e6), min_rows_per_parameter=0.0, min_expert_weight=0.05,
  tol=1e-6, max_iter=1000, init=<strategy>, n_init=1, random_state=seed)``,
  seeds 0..19, for every strategy of ``STRATEGIES`` that skmoe accepts; and
  one fit per strategy with ``n_init=20`` (the user's "best of 20" in one call).

The data sets (cases): flexmix's ``NPreg`` (``yn ~ x + I(x^2)``, gate on x)
with K = 3 and K = 2; two generated sets of three regression lines that share
the same x-region and cross (slopes 2, -1, 0.5; one small regime), gate on x,
K = 3: one whose regime does not depend on x (n = 300, shares 0.5 / 0.35 /
0.15) and one whose soft gate on x leaves the regimes overlapping everywhere
(n = 500); ``MASS::Boston`` (medv on the 13 other columns, standardised, gate
on all of them) with K = 3. R's data sets are written once to
``benchmarks/data/`` (not committed), as bench_real_data.py does; every case's
data goes to R as a CSV file (17 significant digits).

Like with like:

* the same data, model, removal rule (flexmix's ``minprior`` = skmoe's
  ``min_expert_weight`` = 0.05, flexmix's default) and iteration cap; skmoe's
  rows-per-parameter rule is off and its gate's L2 penalty negligible
  (C = 1e6), flexmix's multinomial gate being unpenalised;
* the log-likelihood is the total unpenalised one: flexmix's ``logLik(fit)``,
  skmoe's ``score_samples(X, y).sum()``;
* flexmix's Gaussian M-step is not the exact maximum-likelihood step: its
  ``FLXMRglm`` sets ``sigma^2 = n / (n - rank)`` times the weighted mean
  squared residual (a degrees-of-freedom correction, n all the rows), so its
  fixed points sit slightly below the likelihood's optima (0.01 to 0.1 nats
  here). To tell which optimum a flexmix start found, ``flexmix_starts.R``
  "polishes" each fit (untimed): flexmix again, from the fit's posterior
  (``cluster = posterior(fit)``), with the maximum-likelihood ``sigma^2``
  (``FLXMRglm`` with its M-step's variance replaced), to the same tolerance.
  That is the optimum of the start's basin on skmoe's scale (on NPreg both
  packages' values of the same optimum agree to 1e-3). Gaps and shares are
  measured on that scale (for skmoe's fits it is their own log-likelihood);
  flexmix's own ``logLik`` is shown beside it;
* the stopping rules are the ones asked for, not made equal: skmoe's
  ``tol=1e-6`` per sample is looser than flexmix's relative 1e-8 on the total
  (on n = 500 rows at a log-likelihood of -570: 5e-4 against 6e-6 nats per
  iteration). Where EM crawls, skmoe stops a few thousandths of a nat below
  the optimum that a polished flexmix fit reaches; 0.01 nats leaves room for it.

Reported per case and method: the best log-likelihood of the 20 starts, the
best known optimum (the maximum over everything run on the case), each method's
gap to it, the share of starts within 0.01 nats of it, median seconds per start,
total seconds, mean EM iterations. flexmix's time is that of the call to
``flexmix()`` in R; skmoe's that of ``fit`` after a warm-up fit (Numba
compilation or cache load), with Numba's default threads. The verdict per case:
does one skmoe fit with the default strategy (the first of ``STRATEGIES``) and
``n_init=20`` reach flexmix's best of 20 (to 0.01 nats), with at least as many of
its starts as flexmix's within 0.01 of the best known optimum? Last, the cost of
the default strategy: the default estimator (default experts, ``tol`` and
``max_iter``) with ``n_init=20``, ``init="auto"`` against ``init="kmeans"``, timed
alternately in the same run.

``--held-out`` asks the same of R data sets the starts were not developed on:
``bench_real_data.HELD_OUT``'s, columns standardised and the gate on all of
them, with K = 2 where a data set has at least 5 rows per parameter of the
mixture of two (``K (p + 2)`` for the experts' coefficients, intercepts and
variances) and K = 3 where it has as many for three; it writes
``results/bench_starts_held_out.md``.

Usage::

    python benchmarks/bench_starts.py             # full run, writes results/bench_starts.md
    python benchmarks/bench_starts.py --quick     # 5 starts, NPreg K = 3 and one generated set
    python benchmarks/bench_starts.py --held-out  # R's held-out data sets (needs R)
"""

import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
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
from bench_real_data import HELD_OUT, load_held_out
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor, SoftmaxGate

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_starts.md"
RESULTS_HELD_OUT = HERE / "results" / "bench_starts_held_out.md"
R_SCRIPT = HERE / "flexmix_starts.R"
DATA = HERE / "data"

# skmoe's starting strategies, the default first. One that this version of skmoe does not
# know (it raises ValueError / InvalidParameterError) is skipped with a note. "auto" is
# "kmeans" for a fit's first start and "random" for the later ones: with n_init=1 it repeats
# "kmeans", its n_init fit is the one that differs.
STRATEGIES = ("auto", "kmeans", "random", "emem")

GATE_C = 1e6
MIN_WEIGHT = 0.05  # flexmix's default minprior
TOL = 1e-6  # skmoe's per-sample tol
FLEXMIX_TOLERANCE = 1e-8  # flexmix's relative tolerance on the total log-likelihood
MAX_ITER = 1000
NEAR = 0.01  # a start "finds" the best known optimum within this many nats
# Held-out data sets: rows per parameter of the mixture for a case with K experts.
HELD_OUT_ROWS_PER_PARAMETER = 5
# Fits per init in the cost table at the default settings.
COST_REPEATS = 3

# name -> R expression giving the data frame (the same as bench_real_data.py's, same files).
R_DATASETS = {
    "NPreg": "transform(local({data(NPreg, package = 'flexmix'); NPreg}), x2 = x^2)"
             "[, c('x', 'x2', 'yn')]",
    "Boston": "MASS::Boston",
}


@dataclass
class Case:
    name: str
    description: str
    n_experts: int
    X: pd.DataFrame  # the experts see every column
    y: np.ndarray
    gate: list  # the gate's columns


# ------------------------------------------------------------------- data
def export_r_datasets(names):
    """Write each R data set to ``benchmarks/data/<name>.csv`` once."""
    missing = [name for name in names if not (DATA / f"{name}.csv").exists()]
    if missing:
        DATA.mkdir(parents=True, exist_ok=True)
        lines = [f'write.csv({R_DATASETS[name]}, "{DATA / name}.csv", row.names = FALSE)'
                 for name in missing]
        subprocess.run(["Rscript", "-e", "; ".join(lines)], check=True)


def npreg_case(n_experts):
    frame = pd.read_csv(DATA / "NPreg.csv")
    y = frame.pop("yn").to_numpy(float)
    return Case(f"NPreg, K = {n_experts}",
                f"flexmix's NPreg (200 rows): yn ~ x + x^2, gate on x; K = {n_experts}",
                n_experts, frame[["x", "x2"]], y, ["x"])


def boston_case():
    frame = pd.read_csv(DATA / "Boston.csv")
    y = frame.pop("medv").to_numpy(float)
    X = pd.DataFrame(StandardScaler().fit_transform(frame), columns=frame.columns)
    return Case("Boston, K = 3",
                "MASS::Boston (506 rows): medv on the 13 other columns (standardised), "
                "gate on all 13; K = 3", 3, X, y, list(X.columns))


def crossing_lines(n_samples, gated, seed=0):
    """Three regression lines crossing in the same x-region (hard for EM's starts).

    Slopes 2, -1, 0.5 and intercepts 0, 0.5, -0.5: the lines cross between
    x = -1/3 and x = 2/3. Not ``gated``: x ~ U(-2, 2), noise sd 0.5, regimes
    drawn with shares 0.5 / 0.35 / 0.15 independently of x (the best gate is
    nearly flat). ``gated``: x ~ U(-1, 1) (the lines closer together), noise sd
    0.6, regimes drawn from a soft gate with logits (2 x, -2 x, -1): the first
    two regimes overlap over the whole range, the third (about 10% of the rows)
    everywhere with both.
    """
    rng = np.random.default_rng(seed)
    slope = np.array([2.0, -1.0, 0.5])
    intercept = np.array([0.0, 0.5, -0.5])
    if gated:
        x = rng.uniform(-1.0, 1.0, size=n_samples)
        logits = np.column_stack([2.0 * x, -2.0 * x, np.full(n_samples, -1.0)])
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        noise = 0.6
    else:
        x = rng.uniform(-2.0, 2.0, size=n_samples)
        proba = np.tile([0.5, 0.35, 0.15], (n_samples, 1))
        noise = 0.5
    regime = (rng.uniform(size=(n_samples, 1)) > proba.cumsum(axis=1)).sum(axis=1)
    y = slope[regime] * x + intercept[regime] + noise * rng.standard_normal(n_samples)
    return pd.DataFrame({"x": x}), y, regime


def crossing_case(gated):
    n_samples = 500 if gated else 300
    X, y, regime = crossing_lines(n_samples, gated)
    shares = " / ".join(f"{share:.2f}" for share in np.bincount(regime, minlength=3) / n_samples)
    what = ("x ~ U(-1, 1), soft gate on x (logits 2x, -2x, -1), noise sd 0.6" if gated
            else "x ~ U(-2, 2), regime independent of x, noise sd 0.5")
    return Case(f"crossing lines, {'soft gate' if gated else 'flat gate'}",
                f"generated (n = {n_samples}): three crossing lines y = 2x, 0.5 - x, 0.5x - 0.5, "
                f"{what}; regime shares {shares}; gate on x; K = 3",
                3, X, y, ["x"])


def held_out_cases():
    """The cases of ``--held-out``: R data sets the starts were not developed on."""
    cases = []
    for name, (X, y) in load_held_out().items():
        n_samples, n_features = X.shape
        frame = pd.read_csv(DATA / f"{name}.csv", nrows=0)
        columns = [column for column in frame.columns if column != HELD_OUT[name][1]]
        X = pd.DataFrame(StandardScaler().fit_transform(X), columns=columns)
        for n_experts in (2, 3):
            if n_samples < HELD_OUT_ROWS_PER_PARAMETER * n_experts * (n_features + 2):
                continue
            cases.append(Case(
                f"{name}, K = {n_experts}",
                f"R's {name} ({n_samples} rows): {HELD_OUT[name][1]} on the {n_features} "
                f"other columns (standardised), gate on all of them; K = {n_experts}",
                n_experts, X, y, columns))
    return cases


def make_cases(quick, with_r):
    """The cases to run, in order; R's data sets only with R."""
    wanted = ["npreg3", "flat"] if quick else ["npreg3", "npreg2", "flat", "gated", "boston"]
    if with_r:
        export_r_datasets(R_DATASETS)
    builders = {
        "npreg3": (True, lambda: npreg_case(3)),
        "npreg2": (True, lambda: npreg_case(2)),
        "flat": (False, lambda: crossing_case(gated=False)),
        "gated": (False, lambda: crossing_case(gated=True)),
        "boston": (True, boston_case),
    }
    return [builders[key][1]() for key in wanted if with_r or not builders[key][0]]


# ------------------------------------------------------------------ skmoe
def skmoe_model(case, init, n_init=1, random_state=0, n_experts=None):
    return MixtureOfExpertsRegressor(
        LinearRegression(tol=0.0), n_experts=n_experts or case.n_experts,
        gate=SoftmaxGate(C=GATE_C), gate_features=case.gate, min_rows_per_parameter=0.0,
        min_expert_weight=MIN_WEIGHT, tol=TOL, max_iter=MAX_ITER, init=init, n_init=n_init,
        random_state=random_state,
    )


def _fit(model, case):
    """Fit; return the model and the seconds of ``fit``."""
    with warnings.catch_warnings():
        # Non-convergence and removed experts are recorded, not warned about.
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(case.X, case.y)
        return model, time.perf_counter() - start


def _record(model, case, seconds, **extra):
    loglik = float(model.score_samples(case.X, case.y).sum())
    return {"loglik": loglik, "loglik_ml": loglik, "k": model.n_experts_, "iter": model.n_iter_,
            "converged": model.converged_, "seconds": seconds, "error": None, **extra}


def run_strategy(case, strategy, n_starts):
    """``n_starts`` fits with ``n_init=1`` and seeds 0.., then one with ``n_init=n_starts``.

    None when skmoe refuses the strategy (a note is printed).
    """
    fits = []
    for seed in range(n_starts):
        try:
            model, seconds = _fit(skmoe_model(case, strategy, random_state=seed), case)
        except ValueError as exc:  # InvalidParameterError is a ValueError
            if seed == 0:
                print(f"note: skmoe refuses init={strategy!r}, skipped: {exc}", flush=True)
                return None
            fits.append(_failed(seed, exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a start that fails is recorded, not fatal
            fits.append(_failed(seed, exc))
            continue
        fits.append(_record(model, case, seconds, seed=seed))
    try:
        model, seconds = _fit(skmoe_model(case, strategy, n_init=n_starts), case)
        histories = model.init_lower_bounds_
        # Each start's total log-likelihood: its final per-sample objective times n (the
        # gate's penalty with C = 1e6 is below the precision reported).
        best_of = _record(model, case, seconds, seed=0,
                          mean_iter=float(np.mean([len(h) for h in histories])),
                          start_logliks=[h[-1] * len(case.y) for h in histories])
    except Exception as exc:  # noqa: BLE001
        best_of = _failed(0, exc)
    return {"fits": fits, "best_of": best_of}


def _failed(seed, exc):
    return {"seed": seed, "loglik": None, "loglik_ml": None, "k": None, "iter": None,
            "converged": False, "seconds": float("nan"), "error": f"{type(exc).__name__}: {exc}"}


# ---------------------------------------------------------------- flexmix
def run_flexmix(case, n_starts, directory):
    """flexmix's ``n_starts`` random starts and their polishes (one R process)."""
    data_path = directory / "data.csv"
    out = directory / "flexmix.json"
    frame = case.X.copy()
    frame["y"] = case.y
    frame.to_csv(data_path, index=False, float_format="%.17g")
    subprocess.run(
        ["Rscript", str(R_SCRIPT), str(data_path), ",".join(case.gate), str(case.n_experts),
         str(n_starts), str(MAX_ITER), repr(MIN_WEIGHT), repr(FLEXMIX_TOLERANCE), str(out)],
        check=True,
    )
    result = json.loads(out.read_text())
    for fit in result["fits"]:
        if fit["error"] is None and fit["loglik_ml"] is None:
            fit["error"] = f"polish failed: {fit['polish_error']}"
    return result


# -------------------------------------------------------------- reporting
def default_cost(case, n_starts, repeats=3):
    """One row of the cost table: the default estimator's ``n_init`` fit with
    ``init="auto"`` against the same with ``init="kmeans"`` (median seconds of
    ``repeats`` fits each, run alternately so that both see the same load)."""
    seconds = {"auto": [], "kmeans": []}
    logliks = {}
    for _ in range(repeats):
        for init in seconds:
            model = MixtureOfExpertsRegressor(n_experts=case.n_experts, gate_features=case.gate,
                                              init=init, n_init=n_starts, random_state=0)
            model, elapsed = _fit(model, case)
            seconds[init].append(elapsed)
            logliks[init] = float(model.score_samples(case.X, case.y).sum())
    auto, kmeans = (float(np.median(seconds[init])) for init in ("auto", "kmeans"))
    return [case.name, f"{auto:.2f}", f"{kmeans:.2f}", f"{auto / kmeans:.2f}",
            f"{logliks['auto']:.3f}", f"{logliks['kmeans']:.3f}"]


COST_HEADER = ["case", "auto s", "kmeans s", "auto / kmeans", "auto log-lik", "kmeans log-lik"]


def _near(fits, best_known):
    return sum(f["loglik_ml"] is not None and f["loglik_ml"] >= best_known - NEAR for f in fits)


def _best(fits, key="loglik_ml"):
    values = [f[key] for f in fits if f[key] is not None]
    return max(values) if values else None


def summarise(case, flexmix, skmoe, n_starts):
    """The table's rows and the verdict of one case."""
    candidates = [f["loglik_ml"] for f in (flexmix["fits"] if flexmix else [])]
    for result in skmoe.values():
        candidates += [f["loglik_ml"] for f in result["fits"] + [result["best_of"]]]
    best_known = max(value for value in candidates if value is not None)

    def fmt(value, spec=".3f"):
        return "—" if value is None or not np.isfinite(value) else format(value, spec)

    def row(method, fits, own_best=None):
        ok = [f for f in fits if f["loglik"] is not None]
        best = _best(fits)
        kept = sum(f["k"] == case.n_experts for f in ok)
        seconds = [f["seconds"] for f in ok]
        failed = len(fits) - len(ok)
        return [
            method, f"{len(fits)}" + (f" ({failed} failed)" if failed else ""),
            fmt(own_best if own_best is not None else best), fmt(best),
            fmt(None if best is None else best_known - best),
            f"{_near(fits, best_known)}/{len(fits)}",
            f"{kept}/{len(fits)}", fmt(float(np.median(seconds)) if seconds else None),
            fmt(float(np.sum(seconds)), ".2f"),
            fmt(float(np.mean([f["iter"] for f in ok])) if ok else None, ".0f"),
        ]

    rows = []
    if flexmix:
        own = _best(flexmix["fits"], "loglik")
        rows.append(row("flexmix, random starts", flexmix["fits"], own))
    for strategy, result in skmoe.items():
        rows.append(row(f"skmoe init={strategy!r}", result["fits"]))
    for strategy, result in skmoe.items():
        one = result["best_of"]
        best = one["loglik_ml"]
        rows.append([
            f"skmoe init={strategy!r}, n_init={n_starts} (one fit)", "1 fit" if best is not None
            else f"failed: {one['error']}", fmt(best), fmt(best),
            fmt(None if best is None else best_known - best), "—",
            "—" if best is None else f"{int(one['k'] == case.n_experts)}/1",
            fmt(one["seconds"] / n_starts), fmt(one["seconds"], ".2f"),
            fmt(one.get("mean_iter"), ".0f"),
        ])

    default = STRATEGIES[0]
    if not flexmix:
        verdict = "no flexmix (Rscript not found)"
    elif default not in skmoe:
        verdict = f"skmoe's default init={default!r} did not run"
    else:
        # The user's call: one fit with the default init and n_init = 20, against
        # flexmix's best of its 20 random starts.
        flex_best = _best(flexmix["fits"])
        one = skmoe[default]["best_of"]
        sk_best = one["loglik_ml"]
        reaches = sk_best is not None and flex_best is not None and sk_best >= flex_best - NEAR
        starts = one.get("start_logliks") or []
        sk_near = sum(value >= best_known - NEAR for value in starts)
        flex_near = _near(flexmix["fits"], best_known)
        met = reaches and sk_near >= flex_near
        verdict = (
            f"{'yes' if met else 'no'}: skmoe init={default!r}, n_init={n_starts} best "
            f"{fmt(sk_best)} vs flexmix best {fmt(flex_best)} (maximum-likelihood scale, "
            f"{'reached' if reaches else 'not reached'} to {NEAR}); starts within {NEAR} of the "
            f"best known {fmt(best_known)}: skmoe {sk_near}/{len(starts)}, flexmix "
            f"{flex_near}/{len(flexmix['fits'])}"
        )
    return rows, verdict, best_known


def failure_notes(flexmix, skmoe):
    """One line per method with failed starts: which seeds, with what error."""
    methods = [("flexmix", flexmix["fits"])] if flexmix else []
    methods += [(f"skmoe init={s!r}", r["fits"] + [r["best_of"]]) for s, r in skmoe.items()]
    notes = []
    for label, fits in methods:
        failed = [f for f in fits if f["error"]]
        if failed:
            notes.append(f"{label}: {len(failed)} of {len(fits)} fits stopped with an error: "
                         + "; ".join(f"seed {f['seed']}: `{f['error']}`" for f in failed))
    return notes


HEADER = ["method", "starts", "best log-lik (own)", "best log-lik (ML)", "gap to best known",
          f"within {NEAR} of best known", "K kept", "median s / start", "total s",
          "mean iterations"]


def case_text(case, rows, verdict, notes):
    text = f"### {case.name}\n\n{case.description}.\n\n{_markdown_table(HEADER, rows)}\n"
    text += f"\nVerdict (skmoe's default reaches flexmix's best of the starts): {verdict}\n"
    if notes:
        text += "\n" + "\n".join(f"* {note}" for note in notes) + "\n"
    return text


def report(args, texts, cost_rows, r_info, skipped, load_before, load_after, elapsed):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    r_rows = [[f"R: {key}", value] for key, value in r_info.items()]
    machine_text = machine_section(
        machine_info(), blas_info(), r_rows,
        "BLAS / OpenMP libraries loaded in Python (`threadpoolctl.threadpool_info()`; the\n"
        "EM loop limits BLAS to one thread):",
    )
    skipped_text = "; ".join(skipped) if skipped else "none"
    options = (" --quick" if args.quick else "") + (" --held-out" if args.held_out else "")
    return f"""# bench_starts results

Recorded {date} by `python benchmarks/bench_starts.py{options}`
(total {elapsed:.0f} s; load average before {load_before}, after {load_after}).
{args.starts} starts per method and case: flexmix from its random starts
(`set.seed(1..{args.starts})`, `flexmix(..., k = K, model = FLXMRglm(), concomitant =
FLXPmultinom(~ gate), control = list(iter.max = {MAX_ITER}, minprior = {MIN_WEIGHT},
tolerance = {FLEXMIX_TOLERANCE:g}))`); skmoe with `init=<strategy>, n_init=1,
random_state=0..{args.starts - 1}` (`MixtureOfExpertsRegressor(LinearRegression(tol=0.0),
n_experts=K, gate=SoftmaxGate(C={GATE_C:g}), min_rows_per_parameter=0.0,
min_expert_weight={MIN_WEIGHT}, tol={TOL:g}, max_iter={MAX_ITER})`), and one skmoe fit
per strategy with `n_init={args.starts}`. Strategies skipped (not accepted by this
skmoe): {skipped_text}.

Columns: "best log-lik (own)" is each package's total unpenalised log-likelihood
(flexmix's `logLik`, skmoe's `score_samples(X, y).sum()`); "(ML)" the same on the
maximum-likelihood scale: flexmix's fits polished by flexmix from their posterior with
the maximum-likelihood noise variance (FLXMRglm's Gaussian M-step inflates it by
n / (n - rank), so its fixed points sit a little below the likelihood's optima); skmoe's
fits are already on that scale. The best known optimum is the maximum over everything
run on the case; "within {NEAR}" counts the starts whose ML log-likelihood is within
{NEAR} nats of it; "K kept" the starts that kept all K components (`minprior` /
`min_expert_weight` = {MIN_WEIGHT} removes the others); times are flexmix's `flexmix()`
call in R (not its polish) and skmoe's `fit` (after a warm-up fit); iterations are EM
iterations per start (for the `n_init` fit, the mean over its starts). skmoe's `tol` is
looser than flexmix's `tolerance`: where EM crawls, skmoe's fits stop a few thousandths
of a nat below the optimum a polished flexmix fit reaches.

{chr(10).join(texts)}
### Cost of the default strategy at the default settings

`MixtureOfExpertsRegressor(n_experts=K, gate_features=<gate>, n_init={args.starts},
random_state=0)` (default experts, tol and max_iter) with `init="auto"` (the default)
against `init="kmeans"`: median seconds of {COST_REPEATS} fits each, run alternately, and
the total log-likelihood of the fit.

{_markdown_table(COST_HEADER, cost_rows)}

{machine_text}"""


def parse_args(argv=None):
    parser = benchmark_parser(
        __doc__, RESULTS, "5 starts, NPreg K = 3 and the flat-gate crossing lines; prints only, "
                          "unless --output")
    parser.add_argument("--held-out", action="store_true",
                        help="R's held-out data sets (bench_real_data.HELD_OUT) instead; "
                             "writes results/bench_starts_held_out.md (needs R)")
    args = parser.parse_args(argv)
    args.starts = 5 if args.quick else 20
    if args.output is None and not args.quick:
        args.output = RESULTS_HELD_OUT if args.held_out else RESULTS
    return args


def main(argv=None):
    args = parse_args(argv)
    with_r = shutil.which("Rscript") is not None
    if not with_r:
        print("note: Rscript not found: no flexmix, and no NPreg or Boston (R exports them); "
              "skmoe runs on the generated data sets only.")
    if args.held_out and not with_r:
        print("note: Rscript not found: --held-out needs R (its data sets and flexmix); "
              "nothing to run.")
        return 0
    start = time.perf_counter()
    load_before = _load_average()
    cases = held_out_cases() if args.held_out else make_cases(args.quick, with_r)
    warm = crossing_case(gated=False)
    _fit(skmoe_model(warm, "kmeans", random_state=0), warm)  # compile / load Numba's kernels
    texts, cost_rows, r_info, skipped = [], [], {}, set()
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            print(f"\n{case.name}: {case.description}", flush=True)
            flexmix = run_flexmix(case, args.starts, Path(tmp)) if with_r else None
            skmoe = {}
            for strategy in STRATEGIES:
                result = run_strategy(case, strategy, args.starts)
                if result is None:
                    skipped.add(strategy)
                else:
                    skmoe[strategy] = result
            notes = failure_notes(flexmix, skmoe)
            rows, verdict, _ = summarise(case, flexmix, skmoe, args.starts)
            if flexmix:
                r_info = {key: flexmix[key] for key in ("r_version", "flexmix_version",
                                                        "nnet_version", "blas", "lapack")}
            texts.append(case_text(case, rows, verdict, notes))
            print(texts[-1], flush=True)
            cost_rows.append(default_cost(case, args.starts, COST_REPEATS))
            print(" | ".join(cost_rows[-1]), flush=True)
    elapsed = time.perf_counter() - start
    print(f"total {elapsed:.0f} s")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report(args, texts, cost_rows, r_info, sorted(skipped), load_before,
                                      _load_average(), elapsed))
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
