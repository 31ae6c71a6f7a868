"""Reading a fitted mixture: the gate, the experts, why an expert was chosen, standard
errors, a report, and how many experts to use."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedKFold,
    check_cv,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._base import BaseMixtureOfExperts, check_groups
from ._explain import GateRules, explain_gate, gate_rules
from ._families import FAMILIES
from ._report import MixtureReport
from ._report import entropy as _entropy
from ._report import report as _report
from ._stderr import bootstrap_table, check_bootstrap_params, check_mixture, information_table
from ._validation import _num_samples, _safe_indexing, check_splits, validate_params
from .metrics import log_likelihood_scorer

__all__ = [
    "GateRules",
    "MixtureReport",
    "apply",
    "expert_summary",
    "explain_gate",
    "gate_rules",
    "posterior",
    "predict_gate",
    "report",
    "select_n_experts",
    "standard_errors",
]


def _check_mixture(estimator):
    if not isinstance(estimator, BaseMixtureOfExperts):
        raise TypeError(
            "estimator must be a MixtureOfExpertsRegressor or MixtureOfExpertsClassifier, got "
            f"{type(estimator).__name__}."
        )


def predict_gate(estimator, X, groups=None):
    """Gate probabilities of each row: how much each expert speaks for it.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input data.
    groups : array-like of shape (n_samples,), default=None
        Group labels (see the estimator's ``fit``); the gate's columns must be
        constant within each group.

    Returns
    -------
    gate : ndarray of shape (n_samples, n_experts)
        Rows sum to one.
    """
    _check_mixture(estimator)
    return estimator.predict_gate(X, groups=groups)


def apply(estimator, X):
    """The most probable expert of each row under the gate.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input data.

    Returns
    -------
    experts : ndarray of shape (n_samples,)
        Index of the expert in ``estimator.experts_``.
    """
    return predict_gate(estimator, X).argmax(axis=1)


def posterior(estimator, X, y, sample_weight=None, groups=None):
    """Compute the responsibilities ``p(expert k | x, y)`` of labelled rows (new or training data).

    flexmix's ``posterior``; the most responsible expert of each row
    (``posterior(...).argmax(axis=1)``) is its ``clusters``.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input data.
    y : array-like of shape (n_samples,)
        Targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights (they matter only with ``groups``: they weight the rows'
        log-likelihoods within a group); None means unit weights.
    groups : array-like of shape (n_samples,), default=None
        Group labels (see the estimator's ``fit``): every row of a group gets
        the group's responsibilities. None: rows on their own.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_experts)
        Rows sum to one.
    """
    _check_mixture(estimator)
    return estimator._posterior(X, y, sample_weight, groups)[0]


def expert_summary(estimator):
    """One row per expert: its share, its effective sample size, its noise and coefficients.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.

    Returns
    -------
    summary : pandas.DataFrame
        Indexed by expert, with columns ``expert`` (class name), ``share``
        (mean gate probability on the training rows), ``effective_n_samples``
        (total responsibility at the final E-step); for regression the
        parameters of the experts' family ``family_`` (``noise_std`` for a
        Gaussian, ``noise_scale`` and ``df`` for a Student t, ``noise_scale``
        for a Laplace, ``dispersion`` for a Gamma expert, none for a Poisson
        one); for a classifier whose experts' labels are modelled as noisy,
        ``label_noise`` (``label_noise_``, the share with which the expert's
        class frequencies replace its probabilities); and, for linear
        experts, ``intercept`` and one column per coefficient named after the
        feature (``label:feature`` for a
        multinomial expert of the classifier, ``label`` the class of
        ``classes_`` the row stands for, not its code among the encoded
        labels the experts are fitted on; a Pipeline's final step is named
        after the features its preceding steps produce).

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.inspection import expert_summary
    >>> X, y = make_switching_regression(300, 2, 2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> list(expert_summary(model).columns)
    ['expert', 'share', 'effective_n_samples', 'noise_std', 'intercept', 'x0', 'x1']
    """
    _check_mixture(estimator)
    check_is_fitted(estimator)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = np.array([f"x{i}" for i in range(estimator.n_features_in_)], dtype=object)
    names = np.asarray(names)[estimator.expert_features_]
    rows = []
    for k, expert in enumerate(estimator.experts_):
        row = {
            "expert": type(expert).__name__,
            "share": float(estimator.gate_share_[k]),
            "effective_n_samples": float(estimator.effective_n_samples_[k]),
        }
        row.update(_likelihood_columns(estimator, k))
        row.update(_coefficients(expert, names, getattr(estimator, "classes_", None)))
        rows.append(row)
    return pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="expert_index"))


def _likelihood_columns(estimator, k):
    """The columns of expert k's likelihood parameters: the regressor's family's, the
    classifier's share of noisy labels."""
    label_noise = getattr(estimator, "label_noise_", None)
    if label_noise is not None:
        return {"label_noise": float(label_noise[k])}
    family = FAMILIES.get(getattr(estimator, "family_", None))
    if family is None:
        return {}
    params = {name: getattr(estimator, name) for name in family.params}
    return family.summary(params, k)


def _coefficients(expert, names, labels=None):
    """Intercept and named coefficients of a linear expert ({} for others).

    ``labels`` are the classifier mixture's ``classes_``: its experts are fitted on
    the encoded labels ``0 .. C - 1``, and a multinomial expert's rows are named
    after the labels they stand for, not after their codes.
    """
    if isinstance(expert, Pipeline):
        head, expert = expert[:-1], expert[-1]
        try:
            names = np.asarray(head.get_feature_names_out(names))
        except (AttributeError, ValueError, TypeError):
            names = None
    if not hasattr(expert, "coef_") or names is None:
        return {}
    coef = np.asarray(expert.coef_)
    intercept = np.atleast_1d(getattr(expert, "intercept_", 0.0))
    if coef.ndim == 1 or coef.shape[0] == 1:
        values = {"intercept": float(intercept[0])}
        values.update(zip(map(str, names), np.ravel(coef).tolist()))
        return values
    classes = getattr(expert, "classes_", np.arange(coef.shape[0]))
    if labels is not None:
        classes = np.asarray(labels)[np.asarray(classes, dtype=np.intp)]
    values = {f"{c}:intercept": float(b) for c, b in zip(classes, intercept)}
    for c, row in zip(classes, coef):
        values.update({f"{c}:{name}": float(v) for name, v in zip(names, row)})
    return values


@validate_params(
    {
        "estimator": [BaseMixtureOfExperts],
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like"],
        "n_experts": ["array-like"],
        "criterion": [str],
        "cv": ["cv_object"],
        "sample_weight": ["array-like", None],
        "groups": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def select_n_experts(estimator, X, y, n_experts=range(1, 7), criterion="bic", cv=5, *,
                     sample_weight=None, groups=None):
    """Fit the mixture for each number of experts and pick the best by a criterion.

    Each candidate is ``clone(estimator).set_params(n_experts=K)`` fitted with
    the estimator's own ``n_init`` starts (the best start is kept).

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        The mixture to tune (its ``experts`` must be one estimator or None,
        not a list).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input data.
    y : array-like of shape (n_samples,)
        Targets.
    n_experts : iterable of int, default=range(1, 7)
        The numbers of experts to try.
    criterion : {"bic", "aic", "icl", "cv"}, default="bic"
        ``"bic"``, ``"aic"``: the information criteria of the fitted models
        (lower is better). ``"icl"``: BIC plus twice the entropy of the
        responsibilities, which favours well-separated experts (lower is
        better). ``"cv"``: the mean held-out log-likelihood per row over the
        folds of ``cv`` (higher is better): scikit-learn's ``cross_val_score``
        with :func:`skmoe.metrics.log_likelihood_scorer`, the folds weighted
        by their rows.
    cv : int or cross-validation generator, default=5
        Folds for ``criterion="cv"``. An int gives that many shuffled folds
        (``StratifiedKFold`` for a classifier, ``KFold`` for a regressor)
        seeded with the estimator's ``random_state``, as
        :func:`skmoe.compare.compare` does: unshuffled folds of data sorted
        by a feature hold out whole regimes, and then favour too few experts.
        Pass a splitter to choose the folds yourself. With ``groups``, an int
        gives shuffled ``GroupKFold`` folds (a group is never split).
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights, passed to ``fit`` and to the log-likelihoods.
    groups : array-like of shape (n_samples,), default=None
        Group labels of a grouped mixture (see the estimator's ``fit``;
        flexmix's ``stepFlexmix`` on ``y ~ x | group``): every fit, criterion
        and held-out score is then grouped, and the criteria's ``n`` is the
        number of groups.

    Returns
    -------
    table : pandas.DataFrame
        One row per K: ``n_experts``, ``n_experts_fitted`` (experts that
        survived; fewer when some vanished), ``log_likelihood`` (training,
        summed), ``n_parameters``, the criterion's column, ``converged``,
        ``starts_at_best`` (how many of the ``n_init`` starts reached the
        kept optimum, within 0.01 nats) and ``best`` (True on the chosen
        row). A K whose fit lost experts is reported but not chosen, unless
        every K lost some: it is a smaller model under a larger name.
    best_estimator : estimator
        The fitted model of the chosen K (for ``"cv"``, refitted on all rows).
    """
    if criterion not in {"bic", "aic", "icl", "cv"}:
        raise ValueError(f"criterion must be 'bic', 'aic', 'icl' or 'cv', got {criterion!r}.")
    if isinstance(estimator.experts, (list, tuple)):
        raise ValueError(
            "select_n_experts needs an estimator whose experts is one estimator or None; a "
            "list fixes the number of experts."
        )
    candidates = list(n_experts)
    # int(k) of every k took 2.7 for 2 and True for 1, silently.
    if not candidates or any(isinstance(k, bool) or not isinstance(k, Integral) or k < 1
                             for k in candidates):
        raise ValueError(f"n_experts must hold positive integers, got {candidates!r}.")
    candidates = [int(k) for k in candidates]
    if len(set(candidates)) != len(candidates):
        raise ValueError(f"n_experts holds a number of experts twice: {candidates}.")
    rows, fitted = [], []
    if groups is not None:
        # Checked as fit checks them (np.unique of pd.NA: "boolean value of NA is
        # ambiguous"); ``first`` is each group's first row, in the labels' order.
        checked = check_groups(groups, _num_samples(X))
        first = checked.first
        n_rows = checked.n_groups
        n_units, unit = n_rows, "groups"
    else:
        first = slice(None)
        n_rows = _num_samples(X) if sample_weight is None else float(np.sum(sample_weight))
        n_units, unit = _num_samples(X), "rows"
    # Before any fit: the fits before the largest K were wasted work.
    if max(candidates) > n_units:
        raise ValueError(
            f"n_experts holds {max(candidates)}, more than the {n_units} {unit} of the data: "
            f"each expert needs {unit} of its own."
        )
    # Drawn and checked once, before any fit: every K is scored on the same folds
    # (a generator given as cv was spent by the first K, and the next failed).
    splits = _cv_splits(estimator, X, y, cv, groups) if criterion == "cv" else None
    for k in candidates:
        model = clone(estimator).set_params(n_experts=k).fit(
            X, y, sample_weight=sample_weight, groups=groups)
        row = {
            "n_experts": k,
            "n_experts_fitted": model.n_experts_,
            "log_likelihood": model.log_likelihood(X, y, sample_weight, groups),
            "n_parameters": _n_parameters_or_nan(model, criterion),
            "converged": model.converged_,
            "starts_at_best": model.n_starts_at_best_,
        }
        if criterion in {"bic", "icl"}:
            row["bic"] = -2 * row["log_likelihood"] + row["n_parameters"] * np.log(n_rows)
        if criterion == "aic":
            row["aic"] = -2 * row["log_likelihood"] + 2 * row["n_parameters"]
        if criterion == "icl":
            # One responsibility vector per group (rows of a group share it), each
            # group of weight 1 as in the grouped likelihood; rows weigh their
            # sample weight, as in the likelihood and in report's ICL.
            resp = model._posterior(X, y, sample_weight, groups)[0][first]
            weights = (np.ones(resp.shape[0]) if groups is not None or sample_weight is None
                       else np.asarray(sample_weight, dtype=np.float64))
            row["icl"] = row["bic"] + 2 * _entropy(resp, weights)
        if criterion == "cv":
            row["cv"] = _held_out_log_likelihood(estimator, k, X, y, splits, sample_weight,
                                                 groups)
        rows.append(row)
        fitted.append(model)
    table = pd.DataFrame(rows)
    scores = table[criterion].to_numpy(dtype=np.float64, copy=True)
    # A fit that lost experts is a smaller model asked for under a larger K: it
    # competes only when no K kept all its experts.
    whole = (table["n_experts_fitted"] == table["n_experts"]).to_numpy()
    if whole.any():
        scores[~whole] = np.nan
    best = int(np.nanargmax(scores) if criterion == "cv" else np.nanargmin(scores))
    table["best"] = np.arange(len(table)) == best
    return table, fitted[best]


def _n_parameters_or_nan(model, criterion):
    """The model's parameter count; NaN for "cv" when its experts have none."""
    try:
        return model._n_parameters()
    except ValueError:
        if criterion == "cv":
            return np.nan
        raise


def _cv_splits(estimator, X, y, cv, groups):
    """The folds of ``cv`` as checked index arrays (see :func:`select_n_experts`)."""
    labels = None if groups is None else np.asarray(groups)
    if isinstance(cv, Integral):
        if labels is not None:
            splitter = GroupKFold(cv, shuffle=True, random_state=estimator.random_state)
        else:
            splitter = (StratifiedKFold if is_classifier(estimator) else KFold)(
                cv, shuffle=True, random_state=estimator.random_state)
    else:
        splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    splits = list(splitter.split(X, y, labels))
    if not splits:
        raise ValueError("cv produced no train/test split.")
    return check_splits(splits, _num_samples(X))


def _held_out_log_likelihood(estimator, n_experts, X, y, splits, sample_weight=None,
                             groups=None):
    """Mean held-out ``log p(y | x)`` per row over the folds ``splits``.

    Each fold's mean log-likelihood (:func:`skmoe.metrics.log_likelihood_scorer`,
    by scikit-learn's ``cross_val_score``), weighted by the fold's rows. With
    weights or groups, each fold's total held-out log-likelihood
    (``log_likelihood``), the folds' totals divided by the groups (else the
    weight) held out.
    """
    if sample_weight is not None or groups is not None:
        return _held_out_grouped(estimator, n_experts, X, y, splits, sample_weight, groups)
    model = clone(estimator).set_params(n_experts=n_experts)
    scores = cross_val_score(model, X, y, cv=splits, scoring=log_likelihood_scorer,
                             error_score="raise")
    return float(np.average(scores, weights=[len(test) for _, test in splits]))


def _held_out_grouped(estimator, n_experts, X, y, splits, sample_weight, groups):
    """:func:`_held_out_log_likelihood` of a weighted or grouped mixture."""
    y = np.asarray(y)
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    labels = None if groups is None else np.asarray(groups)
    total, count = 0.0, 0.0
    for train, test in splits:
        model = clone(estimator).set_params(n_experts=n_experts).fit(
            _safe_indexing(X, train), y[train],
            sample_weight=None if weight is None else weight[train],
            groups=None if labels is None else labels[train])
        total += model.log_likelihood(
            _safe_indexing(X, test), y[test],
            sample_weight=None if weight is None else weight[test],
            groups=None if labels is None else labels[test])
        count += (np.unique(labels[test]).shape[0] if labels is not None
                  else float(np.sum(weight[test])))
    return total / count


def standard_errors(estimator, X, y, method="information", *, sample_weight=None,
                    groups=None, n_bootstrap=200, confidence=0.95, n_jobs=None,
                    random_state=None):
    """Estimates, standard errors, z and p values of every expert and gate parameter.

    The parameters are those of flexmix's ``summary(refit(model))``, on the
    user's scale of the features: for each expert its intercept, coefficients
    (on ``expert_features``) and, for a Gaussian expert, ``log(sigma)`` (the
    log of its noise standard deviation; the bootstrap reports the other
    families' parameters as :func:`expert_summary` names them, on their own
    scale: ``noise_scale`` and ``df`` for a Student t expert, ``noise_scale``
    for a Laplace one, ``dispersion`` for a Gamma one, none for a Poisson
    one); for the gate, for each expert
    ``k >= 1``, the intercept and coefficients of the log-odds of expert ``k``
    against expert 0, flexmix's reference expert (the gate's internal
    standardisation is undone). A gate without inputs (``gate_features=[]``)
    has only the intercepts, ``log(pi_k / pi_0)``.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The training inputs.
    y : array-like of shape (n_samples,)
        The training targets.
    method : {"information", "bootstrap"}, default="information"
        ``"information"``: the inverse of the observed information matrix of
        the whole log-likelihood at the fitted parameters, computed
        analytically (Louis' identity: the responsibilities' weighted
        complete-data curvature minus the variance of the complete-data
        scores), inverted once. It covers the model flexmix's ``refit``
        covers: :class:`~skmoe.MixtureOfExpertsRegressor` with
        ``LinearRegression`` experts (Gaussian family, maximum-likelihood
        noise variances) and a :class:`~skmoe.SoftmaxGate` or no gate inputs.
        The gate's L2 penalty ``||W||^2 / (2 C)`` is part of the objective EM
        maximised, so its curvature is added (on the standardised columns); with
        a large ``C`` (1e6, as for flexmix's unpenalised gate) it is negligible.
        The default ``C=1`` can hold the gate's coefficients well short of the
        likelihood's maximum where the experts overlap (a slope of 6 estimated
        at 3.5 on 300 rows); the table names each gate coefficient it holds
        half a standard error or more away (with either method; see
        ``attrs["unreliable"]`` below).
        Other experts, in particular the default ``ScaledRidge`` (a penalised
        fit with cross-fitted noise variances), raise a ValueError that says to
        refit with ``LinearRegression`` experts or to use the bootstrap; so does
        a fit with ``assignment="hard"``, whose estimates are not the
        likelihood's maximum (a warm start with ``assignment="soft"`` reaches
        it).
        ``"bootstrap"``: ``n_bootstrap`` refits on rows resampled with
        replacement, each a resample of the units the weights count (a row
        of weight ``w`` drawn with probability ``w / W``, ``W`` draws in all
        for a total weight ``W``: the bootstrap of the rows repeated; unit
        weights give the uniform bootstrap of the rows),
        each a warm start from the fitted solution run to ``tol=1e-8`` (or
        the fit's own ``tol``, if finer) and up to ``max(max_iter, 1000)``
        iterations (stopped at the fit's default tolerance, the refits stayed
        short of their resamples' maxima and spread up to 13% less), with the
        refit's experts
        matched to the fitted ones (the assignment that maximises the
        agreement of their responsibilities on the rows given, so that label
        switching does not inflate the errors); the standard error is the
        standard deviation of the refits' estimates, and the intervals are
        bias-corrected percentile intervals (Efron's BC: the refits'
        percentiles at ``Phi(2 z0 +/- z)``, ``z0`` the normal quantile of the
        share of refits below the estimate); plain percentile intervals, which
        put the estimator's bias in twice, covered log(sigma) 0.81 to 0.93 at
        95% on data drawn from Gaussian mixtures, these 0.93 to 0.94 (with
        Student t experts these covered 0.89 to 0.93, the percentiles 0.90 to
        0.96).
        The table warns, naming them, of parameters whose refits pile at a
        bound (a Student t expert's df at 200) or went far (a gate that
        separates the experts on some resamples); ``attrs["unreliable"]``
        holds the reasons. Any experts; their coefficients are reported when
        they have ``coef_`` (a Pipeline's final step included).
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights, as given to ``fit``, read as frequency weights (a row of
        weight 2 counts as two rows): both methods give the errors of the
        rows repeated, so their total is the number of observations. Weights
        totalling fewer observations than experts are refused by the
        bootstrap.
    groups : array-like of shape (n_samples,), default=None
        The group labels the mixture was fitted with (``fit(X, y,
        groups=groups)``), required for a grouped mixture and refused for
        one fitted without them. The observations are then the groups: the
        information sums each group's complete-data scores over its rows
        before their outer products (a group's rows share one latent expert),
        and the bootstrap resamples whole groups, a group drawn twice being
        two groups.
    n_bootstrap : int, default=200
        Refits of the bootstrap; at least 2.
    confidence : float, default=0.95
        Coverage of the bootstrap's intervals.
    n_jobs : int, default=None
        Refits run in parallel on this many joblib workers (threads).
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling and the refits: a fixed value gives the same table.

    Returns
    -------
    table : pandas.DataFrame
        Indexed by ``(component, parameter)``: component ``"expert k"`` or
        ``"gate k"`` (the log-odds of expert k against expert 0); columns
        ``estimate``, ``std_error``, ``z`` and ``p_value`` (two-sided, normal),
        and for the bootstrap ``ci_lower`` and ``ci_upper``. ``attrs`` holds
        the ``method``; ``unreliable``, a dict from ``(component, parameter)``
        to the reason its standard error and interval do not mean what they
        usually do (refits piled at a bound or gone far, a gate coefficient
        held by the gate's penalty; empty when none, and each one warned of);
        and the ``covariance`` matrix (information: entries
        beyond float64's range, for coefficients of features near ``1e-160``
        or ``1e160``, are inf or 0; the standard errors are computed without
        them) or the ``replicates``, ``n_bootstrap``, ``n_failed`` (the refits left
        out because they lost an expert or their parameters changed shape: a
        classifier expert whose resample lacked a class) and ``confidence``
        (bootstrap).

    Raises
    ------
    ValueError
        For an unfitted estimator (NotFittedError), a model the information
        method does not cover (naming what to use instead), an information
        matrix that is not positive definite (the fit is not at a maximum),
        ``n_bootstrap``, ``confidence``, ``n_jobs`` or ``random_state``
        outside their ranges (with either method), or ``groups`` missing for
        a mixture fitted with groups (given for one fitted without them, or
        of another number of groups).

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.inspection import standard_errors
    >>> X, y = make_switching_regression(400, 1, 2, noise=0.3, random_state=0)
    >>> model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
    ...                                   random_state=0).fit(X, y)
    >>> table = standard_errors(model, X, y)
    >>> list(table.columns)
    ['estimate', 'std_error', 'z', 'p_value']
    >>> table.index.get_level_values("component").unique().tolist()
    ['expert 0', 'expert 1', 'gate 1']
    """
    check_mixture(estimator, "standard_errors")
    # Checked whatever the method: n_bootstrap=2.5 or confidence=1.5 were taken
    # without a word by the information method.
    check_bootstrap_params(n_bootstrap, confidence, n_jobs, random_state)
    if method == "information":
        return information_table(estimator, X, y, sample_weight, groups)
    if method == "bootstrap":
        return bootstrap_table(estimator, X, y, sample_weight, n_bootstrap=n_bootstrap,
                               confidence=confidence, n_jobs=n_jobs,
                               random_state=random_state, groups=groups)
    raise ValueError(f"method must be 'information' or 'bootstrap', got {method!r}.")


# The keyword arguments of report that go to the bootstrap.
_BOOTSTRAP_PARAMS = ("n_bootstrap", "confidence", "n_jobs", "random_state")


def report(estimator, X, y, sample_weight=None, method="auto", groups=None,
           **bootstrap_params):
    """The fitted mixture as the tables a statistician reads.

    flexmix's ``summary(model)`` and ``summary(refit(model))`` in one object:
    the fit's statistics, one row per expert, and every coefficient with its
    standard error (see :func:`standard_errors`).

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The training inputs.
    y : array-like of shape (n_samples,)
        The training targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights, as given to ``fit``.
    method : {"auto", "information", "bootstrap"} or None, default="auto"
        How the standard errors are computed (see :func:`standard_errors`).
        ``"auto"``: the information method when it covers the model, else
        estimates only, with the reason and the way to bootstrap printed under
        the tables. None: estimates only.
    groups : array-like of shape (n_samples,), default=None
        The group labels of a mixture fitted with groups (required for it,
        refused otherwise): the log-likelihood is then the grouped one, the
        criteria's ``n`` (``n_samples``) the number of groups and ICL's
        entropy the groups', as the model's ``bic(X, y, groups=groups)`` and
        :func:`select_n_experts`; the standard errors are the groups' (see
        :func:`standard_errors`).
    **bootstrap_params
        ``n_bootstrap``, ``confidence``, ``n_jobs``, ``random_state`` for
        ``method="bootstrap"``.

    Returns
    -------
    report : MixtureReport
        ``fit`` (a Series: ``log_likelihood``, ``df``, ``aic``, ``bic``, ``icl``,
        ``n_samples``, ``n_iter``, ``converged``), ``experts`` (``share``,
        ``size``, ``effective_n``, ``noise_std``; ``label_noise`` for a
        classifier with noisy labels) and ``coefficients`` (as
        :func:`standard_errors`). With experts that have no parameter count
        (trees), ``df``, ``aic``, ``bic`` and ``icl`` are NaN and the report
        prints why. ``str(report)`` gives the tables as text,
        a notebook shows them as HTML. ICL is BIC plus twice the entropy of
        the responsibilities, ``-2 sum_i w_i sum_k h_ik log h_ik``: like
        ``bic`` (and flexmix's ICL), lower is better, and it is at least the BIC.
        ``size`` counts the rows whose most responsible expert it is (flexmix's
        cluster sizes), by their weights: a row of weight 2 counts as two, as
        in ``n_samples``.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.inspection import report
    >>> X, y = make_switching_regression(400, 1, 2, noise=0.3, random_state=0)
    >>> model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2,
    ...                                   random_state=0).fit(X, y)
    >>> summary = report(model, X, y)
    >>> bool(summary.fit["icl"] >= summary.fit["bic"])
    True
    """
    # An unknown name failed in an internal function, after the fit's statistics
    # ("bootstrap_table() got an unexpected keyword argument").
    unknown = sorted(set(bootstrap_params) - set(_BOOTSTRAP_PARAMS))
    if unknown:
        raise TypeError(
            f"report got unexpected keyword argument(s) {unknown}; the bootstrap's are "
            f"{', '.join(_BOOTSTRAP_PARAMS)}."
        )
    return _report(estimator, X, y, sample_weight, method, groups, **bootstrap_params)
