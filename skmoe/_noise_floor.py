"""Noise that ended at its floor: which experts, the likely cause, and the warning.

The regressor's M-step holds each expert's noise scale (a Gaussian variance,
the square of a t or Laplace scale, a Gamma dispersion) at or above a floor:
``var_floor`` of y's variance, and a fraction of the pooled residual variance
of the start's first M-step (see ``MixtureOfExpertsRegressor``). The floor
keeps an expert that fits its rows exactly from an infinite likelihood; an
expert whose scale ends there has a density set by the floor, not by the data,
and the log-likelihood of the fit (``lower_bound_``, ``score_samples``, ``bic``,
held-out scores) is then not an honest measure of it. That happens when the
data give an expert rows it can fit exactly: y with two values (class labels
given to a regressor), a point mass (many rows with one y that an expert
predicts exactly), a column that leaks y; or when one far row raises the pooled
floor above an expert's real noise.
"""

import numpy as np

from ._base import _join
from ._experts import has_own_density
from ._families import FAMILIES
from ._scaling import FAR_ROBUST_SDS, robust_spread, weighted_median

# A scale within this relative distance of its floor is at it: the t family's
# scale reaches its bound through L-BFGS-B in log space, the others exactly.
_AT_FLOOR_RTOL = 1e-6
# A value that holds this share of an expert's weight is a point mass of its rows.
_POINT_MASS_SHARE = 0.5
# Far rows named in the warning, at most.
_NAMED_ROWS = 3

_SCALE_NAMES = {"gaussian": "noise variance (noise_variance_)",
                "student_t": "noise scale (noise_scale_)",
                "laplace": "noise scale (noise_scale_)",
                "gamma": "dispersion (dispersion_)"}


def fit_floor(constants):
    """The floor of a fit's scale parameter, from its likelihood's constants."""
    return max(constants.get("variance_floor", 0.0), constants.get("pooled_floor", 0.0))


def experts_at_floor(family, params, constants):
    """Indices of the experts whose scale parameter ended at the fit's floor.

    Parameters
    ----------
    family : Family
        The fit's likelihood family.
    params : dict of ndarray
        The family's fitted parameters.
    constants : dict
        The fit's likelihood constants: ``variance_floor`` and, once a start's
        first M-step has fixed it, ``pooled_floor``. Without them (a streamed
        fit) no floor is known and no expert is at it.

    Returns
    -------
    indices : list of int
    """
    value = family.floored(params)
    if value is None or "variance_floor" not in constants:
        return []
    floor = fit_floor(constants)
    return [int(k) for k in np.flatnonzero(value <= floor * (1.0 + _AT_FLOOR_RTOL))]


def fitted_experts_at_floor(estimator):
    """The experts of a fitted regressor whose noise ended at its floor, as names.

    Named as the fit's warning names them (``"expert 2"``); the experts of
    mixtures that are experts themselves (hierarchical mixtures) are looked
    into (``"expert 0 of expert 1"``), and experts with a density of their own
    have no noise of the family's.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor
        Fitted.

    Returns
    -------
    names : list of str
    """
    family = FAMILIES.get(getattr(estimator, "family_", None))
    if family is None:
        return []
    params = {name: getattr(estimator, name) for name in family.params}
    floored = experts_at_floor(family, params, getattr(estimator, "_objective_constants_", {}))
    names = [f"expert {k}" for k in floored if not has_own_density(estimator.experts_[k])]
    for k, expert in enumerate(estimator.experts_):
        if hasattr(expert, "family_") and hasattr(expert, "experts_"):
            names += [f"{name} of expert {k}" for name in fitted_experts_at_floor(expert)]
    return names


def describe_floor(family, constants):
    """The floor of a fit's scale parameter and where it comes from, as text."""
    pooled = constants.get("pooled_floor", 0.0) > constants.get("variance_floor", 0.0)
    source = ("1e-3 of the pooled residual variance of the start's first M-step" if pooled
              else "var_floor times y's variance" if family.location else "var_floor")
    return f"{fit_floor(constants):.3g}, {source}"


def floor_warning(family, names, floor, diagnosis):
    """The text of the warning about experts whose scale ended at its floor.

    Parameters
    ----------
    family : Family
    names : list of str
        The experts at the floor (``"expert 2"``, ``"expert 0 of expert 1"``).
    floor : str or None
        :func:`describe_floor` of the fit's floor, None when only the experts of
        mixtures among the experts (with floors of their own) are at theirs.
    diagnosis : str
        The likely cause and what to do (:func:`likely_cause`, or
        :data:`POSSIBLE_CAUSES`).

    Returns
    -------
    message : str
    """
    its = "its" if len(names) == 1 else "their"
    return (
        f"The {_SCALE_NAMES.get(family.name, 'noise scale')} of {_join(names)} ended at {its} floor"
        f"{f' ({floor})' if floor else ''}: {its} likelihood is set by the floor, not by the "
        "data, so the fit's log-likelihood (lower_bound_, score_samples, bic, held-out "
        f"scores) is not an honest measure of it. {diagnosis}"
    )


def likely_cause(y, sample_weight, weights, residuals, constants):
    """Why experts fit their rows (nearly) exactly, read from the data, and what to do.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_samples, n_floored)
        Responsibilities times sample weights of the experts at the floor.
    residuals : ndarray of shape (n_samples, n_floored)
        Their residuals in the units of the floor's square root: ``y - prediction``
        (``y / prediction - 1`` for the Gamma family).
    constants : dict
        The fit's likelihood constants.

    Returns
    -------
    text : str
    """
    kept = sample_weight > 0
    values = np.unique(y[kept])
    if values.size == 2:
        return (f"Likely cause: y takes two values only ({values[0]:.6g} and "
                f"{values[1]:.6g}), a class label given to a regressor, which experts fit "
                "exactly. Use MixtureOfExpertsClassifier (or another classifier) for labels.")
    mass = _point_mass(y, weights)
    if mass is not None:
        rows = int(np.count_nonzero(kept & (y == mass)))
        return (f"Likely cause: a point mass: {rows} rows ({rows / np.count_nonzero(kept):.0%}) "
                f"have y = {mass:.6g} exactly, and an expert predicts them exactly. Model them "
                f"apart (a classifier for y == {mass:.6g}, and the regressor on the other "
                "rows), or do not compare this fit by its likelihood.")
    mean_square = np.einsum("ik,ik->k", weights, residuals**2) / np.maximum(
        weights.sum(axis=0), 1e-300)
    rms = float(np.sqrt(mean_square.max()))
    who, its = ("the expert", "its") if weights.shape[1] == 1 else ("the experts", "their")
    if np.all(mean_square <= constants.get("variance_floor", 0.0) * (1.0 + _AT_FLOOR_RTOL)):
        return (f"Likely cause: {who} predict{'s' if weights.shape[1] == 1 else ''} y on "
                f"{its} rows to within {rms:.3g} (root mean square) where y varies: a column "
                "that leaks y (y itself, a copy, or an exact function of it). Find that column "
                "and drop it; if y truly has no noise, no likelihood measures the fit.")
    far = _far_rows(y, sample_weight)
    if far.size:
        named = ", ".join(f"{i} (y = {y[i]:.3g})" for i in far[:_NAMED_ROWS])
        more = f" and {far.size - _NAMED_ROWS} more" if far.size > _NAMED_ROWS else ""
        rows = "row" if far.size == 1 else "rows"
        lie = "lies" if far.size == 1 else "lie"
        return (f"Likely cause: far rows: {rows} {named}{more} {lie} more than "
                f"{FAR_ROBUST_SDS:.0f} robust standard deviations from y's median and raise "
                f"the pooled floor above {who}'s own noise (root mean square residual "
                f"{rms:.3g}). Check and fix or drop them, or fit noise='student_t', whose "
                "floor they do not raise.")
    return (f"Likely cause: {who}'s own noise (root mean square residual {rms:.3g}) is below "
            "1e-3 of the pooled residual variance of the start's first M-step: regimes whose "
            "noise differs by more than about 30 times in standard deviation. The floor "
            f"keeps {who} from claiming near-zero noise on a few rows; {its} predictions are "
            f"unaffected, but {its} density is wider than {its} rows.")


#: The causes, when the rows cannot be read (a fit on a Dask collection).
POSSIBLE_CAUSES = (
    "Likely causes: y with two values (class labels: use MixtureOfExpertsClassifier), a "
    "point mass (many rows with one y that an expert predicts exactly: model them apart), "
    "a column that leaks y (drop it), or far rows that raise the pooled floor (fix or drop "
    "them)."
)


def _point_mass(y, weights):
    """The value of y that holds half the weight of a floored expert or more; or None."""
    for k in range(weights.shape[1]):
        total = float(weights[:, k].sum())
        if not total > 0:
            continue
        # A value holding half the weight or more is the weighted median.
        mode = weighted_median(y, weights[:, k])
        if float(weights[y == mode, k].sum()) >= _POINT_MASS_SHARE * total:
            return float(mode)
    return None


def _far_rows(y, sample_weight):
    """Indices of the rows whose y is more than FAR_ROBUST_SDS robust sds from the median."""
    spread = robust_spread(y, sample_weight)
    if not spread > 0:
        return np.empty(0, dtype=int)
    centre = weighted_median(y, sample_weight)
    far = np.abs(y - centre) > FAR_ROBUST_SDS * spread
    return np.flatnonzero(far & (sample_weight > 0))
