"""Why the gate chose an expert: per-row attributions and readable rules."""

from numbers import Integral

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.tree import DecisionTreeClassifier, export_text

from ._gate import ConstantGate, SoftmaxGate
from ._stderr import check_mixture, feature_names, gate_rows


def _log_odds(log_gate, expert):
    """``log g_c - mean_{k != c} log g_k`` for the expert ``c`` of each row."""
    n_experts = log_gate.shape[1]
    rows = np.arange(log_gate.shape[0])
    chosen = log_gate[rows, expert]
    others = (log_gate.sum(axis=1) - chosen) / (n_experts - 1)
    return chosen - others


def _contrast(matrix, expert):
    """``M[c] - mean_{k != c} M[k]`` for the expert ``c`` of each row, row by row."""
    n_experts = matrix.shape[0]
    total = matrix.sum(axis=0)
    return (matrix[expert] * n_experts - total) / (n_experts - 1)


def _gate_columns(estimator, X):
    """The gate's columns of validated rows, dense, on the user's scale."""
    columns = X[:, estimator.gate_features_]
    return columns.toarray() if sp.issparse(columns) else np.asarray(columns)


def _reference_row(estimator):
    """The row every attribution is measured from: the training mean of the gate's
    columns (the gate scaler's weighted mean)."""
    scaler = getattr(estimator, "gate_scaler_", None)
    if scaler is None or scaler.mean_ is None:
        return np.zeros(estimator.gate_features_.shape[0])
    return np.asarray(scaler.mean_, dtype=np.float64)


def explain_gate(estimator, X, expert=None):
    """Why each row goes to its expert: each gate feature's share of the log-odds.

    For each row, the expert explained is ``c`` (the gate's most probable
    expert, or ``expert``), and what is explained is its log-odds against the
    others, ``log g_c(x) - mean_{k != c} log g_k(x)`` (with two experts, the
    plain log-odds ``log(g_c / (1 - g_c))``), computed from the gate's
    probabilities as ``predict_gate`` gives them. It is written as
    ``baseline + sum_j contribution_j``:

    - ``baseline``: the log-odds at the reference row, the training mean of
      the gate's columns (weighted as the gate's standardisation was);
    - ``contribution_j``: what moving feature j from its training mean to
      the row's value adds.

    For :class:`~skmoe.SoftmaxGate` (the default) the scores are linear, and
    the attribution is exact: ``contribution_j = (b_cj - mean_{k != c} b_kj)
    (x_j - mean_j)``, with ``b`` the gate's coefficients on the user's scale
    of feature j (its internal standardisation undone); these are the exact
    Shapley values of the linear log-odds for independent features. For any
    other gate (a classifier as gate), the attribution is by occlusion:
    ``contribution_j`` is the log-odds at the row minus the log-odds at the row
    with feature j set to its training mean, and a column ``interaction``
    holds what the single features leave unexplained, so that the row still
    sums exactly; it is 0 for a gate whose log-odds are additive in the
    features. A gate without inputs (``gate_features=[]``) has only the
    baseline.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture with at least two experts.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Rows to explain.
    expert : int, default=None
        The expert whose log-odds are explained in every row; None means each
        row's most probable expert.

    Returns
    -------
    explanation : pandas.DataFrame
        One row per row of X (with X's index when it is a DataFrame), with
        columns ``expert``, ``probability`` (its gate probability),
        ``log_odds``, ``baseline``, one column per gate feature (named after
        ``feature_names_in_``, or ``x<i>``, restricted to ``gate_features``),
        and ``interaction`` for gates other than SoftmaxGate. ``attrs["method"]``
        says ``"exact"`` or ``"occlusion"``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.inspection import explain_gate
    >>> X, y = make_switching_regression(300, 2, 2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> table = explain_gate(model, X[:3])
    >>> list(table.columns)
    ['expert', 'probability', 'log_odds', 'baseline', 'x0', 'x1']
    >>> parts = table["baseline"] + table["x0"] + table["x1"]
    >>> bool(np.allclose(parts, table["log_odds"]))
    True
    """
    check_mixture(estimator, "explain_gate")
    n_experts = estimator.n_experts_
    if n_experts < 2:
        raise ValueError("explain_gate needs a mixture of at least 2 experts; this one has 1.")
    # True is an Integral equal to 1, but names no expert.
    if expert is not None and not (isinstance(expert, Integral)
                                   and not isinstance(expert, (bool, np.bool_))
                                   and 0 <= expert < n_experts):
        raise ValueError(
            f"expert must be an expert's index, an integer in [0, {n_experts - 1}], got "
            f"{expert!r}."
        )
    index = X.index if isinstance(X, pd.DataFrame) else None
    Xv = estimator._validated_X(X)
    log_gate = estimator._gate_log_proba(Xv)
    if expert is None:
        chosen = log_gate.argmax(axis=1)
    else:
        chosen = np.full(Xv.shape[0], int(expert))
    rows = np.arange(Xv.shape[0])
    names = feature_names(estimator, estimator.gate_features_)
    reference = _reference_row(estimator)
    columns = _gate_columns(estimator, Xv)
    table = {
        "expert": chosen,
        "probability": np.exp(log_gate[rows, chosen]),
        "log_odds": _log_odds(log_gate, chosen),
    }
    gate = estimator.gate_
    if isinstance(gate, (SoftmaxGate, ConstantGate)):
        intercepts, coef, _ = gate_rows(estimator)
        scores_at_reference = intercepts + coef @ reference
        table["baseline"] = _contrast(scores_at_reference[:, None], chosen)[:, 0]
        # Row by row: (coef[c] - mean of the others) * (x - reference).
        contrast = _contrast(coef, chosen) if coef.shape[1] else np.zeros((len(rows), 0))
        contributions = contrast * (columns - reference)
        method = "exact"
    else:
        baseline_rows = np.tile(reference, (Xv.shape[0], 1))
        table["baseline"] = _log_odds(
            gate.predict_log_proba(_standardise(estimator, baseline_rows)), chosen)
        contributions = np.empty((Xv.shape[0], len(names)))
        for j in range(len(names)):
            occluded = columns.copy()
            occluded[:, j] = reference[j]
            contributions[:, j] = table["log_odds"] - _log_odds(
                gate.predict_log_proba(_standardise(estimator, occluded)), chosen)
        method = "occlusion"
    for j, name in enumerate(names):
        table[name] = contributions[:, j]
    if method == "occlusion":
        table["interaction"] = table["log_odds"] - table["baseline"] - contributions.sum(axis=1)
    frame = pd.DataFrame(table, index=index)
    frame.attrs["method"] = method
    return frame


def _standardise(estimator, columns):
    """The gate's columns as the gate sees them."""
    return estimator.gate_scaler_.transform(columns)


class GateRules:
    """The gate's choice as readable rules, with how often they agree with it.

    Returned by :func:`gate_rules`; printing it shows the fidelity above the
    rules.

    Attributes
    ----------
    rules : str
        The surrogate tree as text (scikit-learn's ``export_text``).
    fidelity : float
        Share of the rows given to :func:`gate_rules` on which the tree's
        leaf predicts the gate's most probable expert.
    fidelity_per_expert : pandas.Series
        The same share among the rows the gate gives to each expert.
    n_samples : int
        The rows the tree was fitted and scored on.
    tree_ : sklearn.tree.DecisionTreeClassifier
        The fitted surrogate, on the gate's columns as given.
    feature_names : list of str
        The gate's columns, in the tree's order.
    """

    def __init__(self, rules, fidelity, fidelity_per_expert, n_samples, tree, names):
        self.rules = rules
        self.fidelity = fidelity
        self.fidelity_per_expert = fidelity_per_expert
        self.n_samples = n_samples
        self.tree_ = tree
        self.feature_names = names

    def __str__(self):
        per_expert = ", ".join(f"expert {k}: {v:.1%}" for k, v in
                               self.fidelity_per_expert.items())
        return (f"Fidelity: the rules agree with the gate's choice on {self.fidelity:.1%} "
                f"of {self.n_samples} rows ({per_expert}).\n{self.rules}")

    def __repr__(self):
        return (f"GateRules(fidelity={self.fidelity:.4f}, n_samples={self.n_samples}, "
                f"max_depth={self.tree_.max_depth})")

    def _repr_html_(self):
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def gate_rules(estimator, X, max_depth=3):
    """The gate's argmax as readable rules: a shallow tree fitted to the gate's choice.

    A :class:`~sklearn.tree.DecisionTreeClassifier` of depth at most
    ``max_depth`` is fitted on the gate's columns of X (as given, not
    standardised) to the gate's most probable expert of each row, and printed
    with :func:`sklearn.tree.export_text`. The rules are an approximation of
    the gate (a softmax cuts the space along oblique lines, a tree along the
    axes): their fidelity, the share of the rows of X on which the tree's
    leaf names the gate's expert, is reported with them, overall and per
    expert, and printed above them.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture whose gate has inputs.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Rows on which the rules are fitted and their fidelity measured.
    max_depth : int, default=3
        Depth of the tree; deeper rules are more faithful and harder to read.

    Returns
    -------
    rules : GateRules
        ``str(rules)`` gives the fidelity and the rules; ``rules.fidelity``,
        ``rules.fidelity_per_expert`` and ``rules.tree_`` the parts.

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_switching_regression
    >>> from skmoe.inspection import gate_rules
    >>> X, y = make_switching_regression(300, 2, 2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> rules = gate_rules(model, X, max_depth=2)
    >>> 0.5 <= rules.fidelity <= 1.0
    True
    """
    check_mixture(estimator, "gate_rules")
    if not (isinstance(max_depth, Integral) and not isinstance(max_depth, bool)
            and max_depth >= 1):
        raise ValueError(f"max_depth must be a positive integer, got {max_depth!r}.")
    if estimator.gate_features_.size == 0:
        raise ValueError(
            "gate_rules needs a gate with inputs; this mixture was fitted with "
            "gate_features=[] (the same proportions for every row), which no rule splits."
        )
    Xv = estimator._validated_X(X)
    choice = estimator._gate_log_proba(Xv).argmax(axis=1)
    columns = _gate_columns(estimator, Xv)
    names = feature_names(estimator, estimator.gate_features_)
    tree = DecisionTreeClassifier(max_depth=max_depth, random_state=0).fit(columns, choice)
    agrees = tree.predict(columns) == choice
    per_expert = pd.Series(
        {int(k): float(agrees[choice == k].mean()) for k in np.unique(choice)},
        name="fidelity")
    per_expert.index.name = "expert"
    classes = [f"expert {k}" for k in tree.classes_]
    text = export_text(tree, feature_names=names, class_names=classes)
    return GateRules(text, float(agrees.mean()), per_expert, int(Xv.shape[0]), tree, names)
