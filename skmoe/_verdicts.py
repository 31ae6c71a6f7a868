"""Verdicts on a comparison: the paired lead in standard deviations, and who wins."""

from typing import NamedTuple

import numpy as np
import pandas as pd

from ._scorers import SCORES

__all__ = ["Lead", "paired_lead", "verdicts"]


class Lead(NamedTuple):
    """How far one estimator is ahead of another: :func:`paired_lead`'s result."""

    #: Mean score difference, positive when the first estimator is better.
    lead: float
    #: ``lead`` in standard deviations of the per-fold differences (NaN or inf
    #: when they have no spread).
    n_sd: float


def paired_lead(results, winner, other, score=None):
    """How far one estimator leads another, and that in standard deviations.

    All estimators of :func:`skmoe.compare.compare` see the same folds, so
    their scores pair up fold by fold: the lead is the mean difference of the
    scores (signed so that positive means ``winner`` is better, whichever way
    the score points), and its size is judged against the standard deviation
    of the per-fold differences. Two or three standard deviations over five
    folds is a clear lead; below one is within the fold-to-fold noise. It is a
    rough guide, not a test: the training folds overlap, so the differences
    are correlated. :func:`verdicts` words it.

    Parameters
    ----------
    results : pandas.DataFrame
        The table returned by :func:`skmoe.compare.compare`.
    winner, other : str
        Names of two estimators of ``results``.
    score : str, default=None
        The score; None means the primary score of ``results``.

    Returns
    -------
    lead : Lead
        A named tuple ``(lead, n_sd)``: the mean difference, and that in
        standard deviations of the per-fold differences (without per-fold
        scores in ``results.attrs``, of the root mean square of the two
        standard deviations). ``n_sd`` is NaN when the differences cannot be
        measured (one fold) or are all zero, and infinite when the lead is the
        same on every fold.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from skmoe.compare import compare, paired_lead
    >>> from skmoe.datasets import make_switching_regression
    >>> X, y = make_switching_regression(n_samples=300, random_state=0)
    >>> results = compare(X, y, {"linear": LinearRegression(),
    ...                          "tree": DecisionTreeRegressor(random_state=0)}, cv=3)
    >>> lead, n_sd = paired_lead(results, "linear", "tree", "r2")
    >>> bool(lead == results.loc["linear", "r2_mean"] - results.loc["tree", "r2_mean"])
    True
    """
    _check_results(results)
    score = _check_score(results, score)
    for name in (winner, other):
        if name not in results.index:
            raise ValueError(f"{name!r} is not an estimator of results; they are "
                             f"{list(results.index)}.")
    greater = results.attrs.get("greater_is_better", {}).get(
        score, SCORES[score][2] if score in SCORES else True)
    sign = 1.0 if greater else -1.0
    lead = sign * (results.loc[winner, f"{score}_mean"] - results.loc[other, f"{score}_mean"])
    folds = results.attrs.get("fold_scores", {})
    if winner in folds and other in folds and score in folds[winner]:
        diff = sign * (np.asarray(folds[winner][score]) - np.asarray(folds[other][score]))
        diff = diff[np.isfinite(diff)]
        sd = diff.std(ddof=1) if diff.size > 1 else np.nan
    else:
        sd = np.sqrt((results.loc[winner, f"{score}_std"] ** 2
                      + results.loc[other, f"{score}_std"] ** 2) / 2)
    lead = float(lead)
    if np.isnan(sd):
        return Lead(lead, np.nan)
    # Differences equal on every fold up to rounding have no spread to measure by.
    if sd <= 1e-12 * max(1.0, abs(lead)):
        return Lead(lead, np.nan if abs(lead) <= 1e-12 else np.inf)
    return Lead(lead, float(lead / sd))


def _check_results(results):
    if not isinstance(results, pd.DataFrame) or "family" not in results.columns:
        raise TypeError("results must be the DataFrame returned by skmoe.compare.compare.")


def _check_score(results, score):
    score = results.attrs.get("primary") if score is None else score
    if score is None or f"{score}_mean" not in results.columns:
        available = [c[: -len("_mean")] for c in results.columns if c.endswith("_mean")]
        raise ValueError(f"score must be one of the scores in results {available}, got "
                         f"{score!r}.")
    return score


def _in_sd(lead, n_sd):
    """The lead in standard deviations, and how clear it is."""
    if np.isinf(lead):
        return "a score is infinite on some fold"
    if np.isnan(n_sd):
        return "tied on every fold" if abs(lead) <= 1e-12 else "no spread to judge by"
    if np.isinf(n_sd):
        return "ahead by the same amount on every fold"
    clarity = ("a clear gap" if n_sd >= 2 else "a modest gap" if n_sd >= 1
               else "within the fold-to-fold noise")
    return f"{n_sd:.1f} sd, {clarity}"


def verdicts(results, score=None):
    """One line per family, best family first, and a final verdict.

    Each family line names the family's best estimator and its score, and
    how far the overall winner leads it: the mean difference, and that
    difference in standard deviations of the per-fold differences (the folds
    are shared, so the difference is paired). Two or three standard
    deviations over five folds is a clear lead; below one is a tie within the
    fold-to-fold noise. It is a rough guide, not a test: folds share training
    rows, so their differences are correlated.

    The last line says whether a mixture of experts wins, and when it does
    not, how far the best mixture is behind. On the held-out log-likelihood,
    a model whose noise ended at its floor in some fold (``results.attrs
    ["noise_at_floor"]``) is marked, and its win is not trusted: its density
    there is the floor's, not the data's.

    Parameters
    ----------
    results : pandas.DataFrame
        The table returned by :func:`compare`.
    score : str, default=None
        The score to judge by; None means the primary score of ``results``.

    Returns
    -------
    lines : list of str
        The verdict lines, without trailing newlines.
    """
    _check_results(results)
    score = _check_score(results, score)
    label = SCORES[score][1] if score in SCORES else score
    ordered = results.sort_values(f"{score}_mean", ascending=not SCORES[score][2],
                                  na_position="last", kind="stable")
    winner = ordered.index[0]
    best = ordered.groupby("family", sort=False).head(1)
    width = max(len(str(name)) for name in best.index)
    lines = []
    for name, row in best.iterrows():
        head = (f"{row['family']:<18}  best: {name:<{width}}  {label} "
                f"{row[f'{score}_mean']:.3f} ± {row[f'{score}_std']:.3f}")
        floored = _at_floor(ordered, name, score)
        mark = f"  (noise at its floor in {_folds(floored)})" if floored else ""
        if name == winner:
            lines.append(f"{head}  <- winner{mark}")
        else:
            lead, n_sd = paired_lead(ordered, winner, name, score)
            lines.append(f"{head}  winner leads by {lead:.3f} ({_in_sd(lead, n_sd)}){mark}")
    floored = _at_floor(ordered, winner, score)
    if floored:
        lines.append(_untrusted_verdict(ordered, winner, floored, score, label))
    else:
        lines.append(_final_verdict(ordered, best, winner, score, label))
    return lines


def _at_floor(results, name, score):
    """The folds in which ``name``'s noise ended at its floor, when ``score`` is its
    log-likelihood (which the floor then sets); empty otherwise."""
    if score != "log_likelihood":
        return []
    return list(results.attrs.get("noise_at_floor", {}).get(name, []))


def _folds(folds):
    return f"fold{'s' if len(folds) > 1 else ''} {', '.join(str(fold) for fold in folds)}"


def _untrusted_verdict(ordered, winner, folds, score, label):
    """The verdict when the winner's log-likelihood is its noise floor's."""
    trusted = [name for name in ordered.index if not _at_floor(ordered, name, score)]
    head = (f"Verdict: no trusted winner on {label}: {winner} "
            f"({ordered.loc[winner, 'family']}) is ahead, but its noise ended at its floor in "
            f"{_folds(folds)}: "
            "there the floor, not the data, set its density (the fits' warnings say why), "
            "so its lead is the floor's and is not trusted.")
    if not trusted:
        return head
    runner = trusted[0]
    return (f"{head} The best model without such folds is {runner} "
            f"({ordered.loc[runner, 'family']}, {ordered.loc[runner, f'{score}_mean']:.3f}).")


def _final_verdict(ordered, best, winner, score, label):
    family = ordered.loc[winner, "family"]
    others = [name for name in best.index if name != winner]
    moe = best.index[best["family"] == "mixture of experts"]
    if family == "mixture of experts":
        if not others:
            return f"Verdict: {winner} is best on {label}; no other family was compared."
        runner = others[0]
        lead, n_sd = paired_lead(ordered, winner, runner, score)
        if abs(lead) <= 1e-12:
            return (f"Verdict: no clear winner on {label}: the mixture {winner} and {runner} "
                    f"({best.loc[runner, 'family']}) tie ({_in_sd(lead, n_sd)}).")
        if np.isnan(n_sd) or n_sd < 1:
            return (f"Verdict: no clear winner on {label}: the mixture {winner} is ahead of "
                    f"{runner} ({best.loc[runner, 'family']}) by {lead:.3f} "
                    f"({_in_sd(lead, n_sd)}), so a mixture of experts does not clearly win.")
        return (f"Verdict: a mixture of experts wins on {label}: {winner} leads the best other "
                f"family ({runner}, {best.loc[runner, 'family']}) by {lead:.3f} "
                f"({_in_sd(lead, n_sd)}).")
    if len(moe) == 0:
        return (f"Verdict: {winner} ({family}) is best on {label}; no mixture of experts "
                "was compared.")
    lead, n_sd = paired_lead(ordered, winner, moe[0], score)
    if abs(lead) <= 1e-12:
        return (f"Verdict: no clear winner on {label}: {winner} ({family}) and the best mixture "
                f"({moe[0]}) tie ({_in_sd(lead, n_sd)}); a mixture of experts does not win.")
    if np.isnan(n_sd) or n_sd < 1:
        return (f"Verdict: no clear winner on {label}: {winner} ({family}) is ahead of the best "
                f"mixture ({moe[0]}) by {lead:.3f} ({_in_sd(lead, n_sd)}); a mixture of "
                "experts does not win.")
    return (f"Verdict: a mixture of experts does not win on {label}: {winner} ({family}) is "
            f"best, the best mixture ({moe[0]}) is {lead:.3f} behind ({_in_sd(lead, n_sd)}).")
