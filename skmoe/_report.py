"""The fitted mixture as the tables a statistician reads (flexmix's summary(refit(m)))."""

import numpy as np
import pandas as pd

from ._stderr import (
    bootstrap_table,
    check_mixture,
    fitted_groups,
    flatten,
    information_table,
    parameter_table,
)


class MixtureReport:
    """A fitted mixture as tables: fit statistics, experts, coefficients.

    Returned by :func:`skmoe.inspection.report`. ``str(report)`` is plain
    text; in a notebook it renders as HTML.

    Attributes
    ----------
    fit : pandas.Series
        ``log_likelihood``, ``df`` (free parameters), ``aic``, ``bic``,
        ``icl``, ``n_samples``, ``n_iter``, ``converged``.
    experts : pandas.DataFrame
        Per expert: its ``share`` (mean gate probability on the rows given),
        ``size`` (rows whose most responsible expert it is, counted by their
        weights: a row of weight 2 counts as two, as in ``n_samples``), ``effective_n``
        (summed responsibilities) and, for the regressor's Gaussian family,
        ``noise_std``; for a classifier whose experts' labels are modelled as
        noisy, ``label_noise`` (its ``label_noise_``).
    coefficients : pandas.DataFrame
        Every parameter (experts', then the gate's against expert 0) with
        estimate and, when computed, standard error, z and p value; its
        ``attrs["unreliable"]`` (see :func:`~skmoe.inspection.standard_errors`)
        is printed under the tables.
    method : str or None
        How the standard errors were computed; None when they were not.
    note : str
        Why standard errors are missing, or empty.
    criteria_note : str
        Why df, AIC, BIC and ICL are missing (NaN: experts without a parameter
        count, such as trees), or empty.
    """

    def __init__(self, fit, experts, coefficients, method, note, criteria_note=""):
        self.fit = fit
        self.experts = experts
        self.coefficients = coefficients
        self.method = method
        self.note = note
        self.criteria_note = criteria_note

    def _parts(self):
        fit = self.fit.to_frame("value")
        yield "Fit", fit
        yield "Experts", self.experts
        for component, table in self.coefficients.groupby(level="component", sort=False):
            title = (f"{component}: log-odds against expert 0" if component.startswith("gate")
                     else component)
            yield title, table.droplevel("component")

    def __str__(self):
        lines = []
        for title, table in self._parts():
            lines += [title, "-" * len(title), table.to_string(float_format=_number), ""]
        lines.append(self._footer())
        return "\n".join(lines)

    def _footer(self):
        criteria = ("ICL = BIC + 2 x entropy of the responsibilities; AIC, BIC and ICL: lower "
                    "is better.")
        if self.criteria_note:
            criteria = self.criteria_note
        if self.method is None:
            return f"Standard errors: not computed. {self.note} {criteria}"
        # The parameters whose standard errors do not mean what they usually do, under
        # the tables that show them (standard_errors warns of them too).
        caveats = "".join(f" {component}, {name}: {reason}."
                          for (component, name), reason
                          in self.coefficients.attrs.get("unreliable", {}).items())
        return f"Standard errors: {self.method}.{caveats} {criteria}"

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        import html

        parts = [f"<h4>{html.escape(title)}</h4>{table.to_html(float_format=_number)}"
                 for title, table in self._parts()]
        parts.append(f"<p>{html.escape(self._footer())}</p>")
        return "\n".join(parts)


def _number(value):
    return f"{value:.6g}"


def entropy(resp, sample_weight):
    """``-sum_i w_i sum_k h_ik log h_ik`` (0 log 0 = 0)."""
    terms = np.where(resp > 0, resp * np.log(np.where(resp > 0, resp, 1.0)), 0.0)
    return float(-(sample_weight @ terms.sum(axis=1)))


def report(estimator, X, y, sample_weight=None, method="auto", groups=None,
           **bootstrap_params):
    """See :func:`skmoe.inspection.report`."""
    check_mixture(estimator, "report")
    if method not in {"auto", "information", "bootstrap", None}:
        raise ValueError(
            f"method must be 'auto', 'information', 'bootstrap' or None, got {method!r}."
        )
    checked = fitted_groups(estimator, X, groups, "report")
    resp, rows, total = estimator._posterior_total(X, y, sample_weight, groups)
    weights = np.ones(rows.shape[0]) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float64)
    criteria_note = ""
    try:
        n_parameters = estimator._n_parameters()
    except ValueError as exc:
        # Experts without a parameter count (trees): no df, AIC, BIC or ICL, and the
        # report says why under its tables.
        n_parameters, criteria_note = np.nan, f"df, AIC, BIC and ICL are not defined: {exc} "
    n_observations = float(weights.sum()) if sample_weight is not None else rows.shape[0]
    # The entropy of the latent experts: one per row, or one per group.
    latent = entropy(resp, weights)
    if checked is not None:
        # As the model's bic with groups (and select_n_experts): the groups are
        # the observations, each one latent expert of weight 1.
        n_observations = checked.n_groups
        latent = entropy(resp[checked.first], np.ones(checked.n_groups))
    bic = -2.0 * total + n_parameters * np.log(n_observations)
    fit = pd.Series({
        "log_likelihood": total,
        "df": n_parameters,
        "aic": -2.0 * total + 2.0 * n_parameters,
        "bic": bic,
        "icl": bic + 2.0 * latent,
        "n_samples": n_observations,
        "n_iter": estimator.n_iter_,
        "converged": estimator.converged_,
    }, dtype=object, name="fit")
    gate = estimator.predict_gate(X)
    experts = pd.DataFrame({
        "share": weights @ gate / weights.sum(),
        "size": np.bincount(resp.argmax(axis=1), weights=weights,
                            minlength=estimator.n_experts_),
        "effective_n": weights @ resp,
    }, index=pd.RangeIndex(estimator.n_experts_, name="expert"))
    if getattr(estimator, "family_", None) == "gaussian":
        experts["noise_std"] = np.sqrt(estimator.noise_variance_)
    if hasattr(estimator, "label_noise_"):
        # The probabilities of a row's class are the expert's mixed with its class
        # frequencies by this share: without it the table hid a part of the model.
        experts["label_noise"] = estimator.label_noise_
    if bootstrap_params and method != "bootstrap":
        raise ValueError(
            f"{sorted(bootstrap_params)} apply to method='bootstrap' only; got method={method!r}."
        )
    note, chosen = "", method
    if method == "auto":
        try:
            coefficients, chosen = (information_table(estimator, X, y, sample_weight, groups),
                                    "information")
        except ValueError as exc:
            coefficients, chosen = _estimates_only(estimator), None
            note = f"{exc} Pass method='bootstrap' to report for bootstrap standard errors."
    elif method == "information":
        coefficients = information_table(estimator, X, y, sample_weight, groups)
    elif method == "bootstrap":
        coefficients = bootstrap_table(estimator, X, y, sample_weight, groups=groups,
                                       **bootstrap_params)
    else:
        coefficients, note = _estimates_only(estimator), "method=None was asked for."
    return MixtureReport(fit, experts, coefficients, chosen, note, criteria_note)


def _estimates_only(estimator):
    """The coefficients table without standard errors."""
    index, values = flatten(*parameter_table(estimator))
    return pd.DataFrame({"estimate": values},
                        index=pd.MultiIndex.from_tuples(index, names=["component", "parameter"]))
