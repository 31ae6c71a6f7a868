"""Streaming EM: ``partial_fit`` by stepwise EM (Cappé and Moulines, 2009).

Each batch takes one online EM step: its responsibilities ``R`` under the
current model, then the running sufficient statistics move towards the
batch's by ``eta_t = (t + 2) ** -step_size_decay``, ``s <- (1 - eta_t) s +
eta_t s_batch``, and the parameters are solved from them:

- linear experts (``LinearRegression``, ``Ridge``, ``ScaledRidge``) from
  decayed running weighted Gram matrices of ``[x - c, 1, y - c_y]`` (per unit
  of row weight), the same matrices the exact EM sums; their Gaussian noise
  variances from the residual sums those matrices hold;
- other experts by their own ``partial_fit(X, y, sample_weight=w * R[:, k])``,
  their noise variances from decayed running means of weighted squared
  residuals;
- the softmax gate by a damped Newton step ``-eta_t H^-1 g`` with ``g`` the
  batch's gradient of the soft cross-entropy and ``H`` a decayed running mean
  of the batches' Hessians (a stochastic approximation of the gate's M-step).

The first batch of an unfitted estimator starts from k-means responsibilities
on it (a fitted one from its fitted model) and takes a whole step
(``eta = 1``): the gate is solved on it.
"""

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, validate_data

from ._base import _user_stacklevel
from ._experts import describe_expert, seeded_clones, threadpool_controller
from ._families import _floor_scale
from ._gate import SoftmaxGate
from ._init import initial_responsibilities
from ._kernels import (
    e_step,
    penalise_gate_hessian,
    penalise_gate_loss,
    soft_cross_entropy,
    soft_cross_entropy_hessian,
)
from ._linear import fit_from_grams, weighted_grams
from ._newton import _newton_direction
from ._ridge import ScaledRidge, fit_scaled_ridges_from_grams, ridge_penalty
from ._scaling import SQUARE_SAFE, fit_standard_scaler, magnitude
from ._validation import (
    check_fit_weight_scale,
    check_is_estimator,
    check_labels,
    check_n_samples,
    check_no_datetimes,
    check_sample_weight,
    no_gate_inputs,
    resolve_columns,
    unique_labels_of,
)

# Relative size below which an eigenvalue of a ridge expert's centred Gram
# matrix is a direction the data do not span (its pseudo-rows leave it out).
_EIGENVALUE_FLOOR = 1e-13
# Experts fitted from (running) Gram matrices rather than by their own partial_fit.
GRAM_EXPERTS = (LinearRegression, Ridge, ScaledRidge)


def is_gram_expert(expert):
    """Whether ``expert``'s M-step is solved from its weighted Gram matrix."""
    return type(expert) in GRAM_EXPERTS and not getattr(expert, "positive", False)


class NoPartialFitError(AttributeError, TypeError):
    """A mixture whose experts or gate cannot be updated batch by batch.

    An AttributeError, so that ``hasattr(model, "partial_fit")`` is False (as
    for scikit-learn's estimators whose settings exclude ``partial_fit``), and
    a TypeError: the experts given are of the wrong kind.
    """


class _Stream:
    """The running statistics of a streamed mixture (kept as ``_stream_``)."""

    def __init__(self, n_experts, n_expert_features, shift):
        self.n_batches = 0
        self.weight_seen = 0.0
        self.shift = shift
        size = n_expert_features + 2
        self.grams = np.zeros((n_experts, size, size))
        self.residuals = np.zeros(n_experts)
        self.weights = np.zeros(n_experts)
        self.gate_share = np.zeros(n_experts)
        self.hessian = None
        # Unweighted running moments of the experts' columns (ScaledRidge's scale)
        # and weighted moments of y (the noise floor), over every row seen.
        self.rows = 0
        self.column_sum = np.zeros(n_expert_features)
        self.column_squares = np.zeros(n_expert_features)
        self.y_weight = 0.0
        self.y_sum = 0.0
        self.y_squares = 0.0

    def add_moments(self, X, y, w):
        centred = X - self.shift[0]
        self.rows += X.shape[0]
        self.column_sum += centred.sum(axis=0)
        self.column_squares += np.einsum("ij,ij->j", centred, centred)
        if y is not None:
            self.y_weight += float(w.sum())
            self.y_sum += float(w @ (y - self.shift[1]))
            self.y_squares += float(w @ (y - self.shift[1]) ** 2)

    def column_scale(self):
        mean = self.column_sum / self.rows
        scale = np.sqrt(np.maximum(self.column_squares / self.rows - mean**2, 0.0))
        scale[~(scale > 10 * np.finfo(np.float64).eps * np.maximum(
            np.abs(mean + self.shift[0]), 1e-300))] = 1.0
        return scale

    def target_variance(self):
        mean = self.y_sum / self.y_weight
        variance = max(self.y_squares / self.y_weight - mean**2, 0.0)
        return variance or (mean + self.shift[1]) ** 2 or 1.0


def check_stream_experts(estimator, templates):
    """Refuse, naming it, an expert that neither solves from Gram matrices nor has partial_fit.

    Raises
    ------
    NoPartialFitError
        Naming the first such expert, or a gate other than SoftmaxGate.
    ValueError
        For a regressor's noise other than Gaussian.
    """
    regressor = not is_classifier(estimator)
    for index, template in enumerate(templates):
        if regressor and is_gram_expert(template):
            continue
        if not hasattr(template, "partial_fit"):
            raise NoPartialFitError(
                f"Expert {index} ({describe_expert(template)}) has no partial_fit, so it "
                "cannot be updated batch by batch. Use experts with partial_fit "
                "(SGDRegressor, SGDClassifier, MLPRegressor, MLPClassifier, the naive Bayes "
                "classifiers, PassiveAggressive models)"
                + (" or LinearRegression, Ridge or ScaledRidge experts" if regressor else "")
                + ", or fit on all the rows at once."
            )
    if estimator.gate is not None and type(estimator.gate) is not SoftmaxGate:
        raise NoPartialFitError(
            f"partial_fit needs a SoftmaxGate (or gate=None), got gate "
            f"{type(estimator.gate).__name__}."
        )
    if estimator.gate is not None:
        check_is_estimator(estimator.gate, "gate")
    if regressor and estimator.noise != "gaussian":
        raise ValueError(f"partial_fit supports noise='gaussian' only, got "
                         f"noise={estimator.noise!r}.")


def _check_gram_magnitudes(X):
    """Refuse expert columns whose squares leave float64's normal numbers.

    The running Gram matrices of the linear experts hold the squares of the
    columns (centred on the first batch's means): columns beyond about 1e150
    in magnitude overflow them, and below about 1e-150 their squares lose their
    digits (columns of 1e-160 gave another model, silently). A stream has no
    other way to fit those experts; a fit on all the rows falls back to the
    experts' own fit.
    """
    size = magnitude(X)
    bad = np.flatnonzero((size < SQUARE_SAFE[0]) | (size > SQUARE_SAFE[1]))
    if bad.size:
        raise ValueError(
            "partial_fit fits linear experts (LinearRegression, Ridge, ScaledRidge) from "
            "running weighted Gram matrices, whose squares keep their digits for columns "
            "within about 1e-150 to 1e150 in magnitude; the experts' column "
            f"{bad[0]} reaches {float(np.max(np.abs(X[:, bad[0]]))):.3g}. Rescale that "
            "column (the model of rescaled columns is the rescaled model), or fit on all "
            "the rows at once."
        )


def _validated_batch(estimator, X, y, sample_weight, classes, first):
    """X (float64, C order), encoded y and the weights of one batch."""
    check_no_datetimes(X, "X")
    if is_classifier(estimator):
        check_labels(y)
        if classes is not None:
            check_labels(classes, "classes")
    else:
        check_no_datetimes(y, "y")
    X, y = validate_data(estimator, X, y, reset=first, dtype=np.float64,
                         y_numeric=not is_classifier(estimator))
    X = np.ascontiguousarray(X)
    sample_weight = check_sample_weight(sample_weight, X)
    check_fit_weight_scale(sample_weight)
    if not is_classifier(estimator):
        y = np.asarray(y, dtype=np.float64)
        estimator._check_fit_targets(y, sample_weight)
        return X, y, sample_weight
    if first:
        if classes is None:
            raise ValueError("classes must be passed to the first call of partial_fit: "
                             "every class of the stream (later batches may lack some).")
        classes = unique_labels_of(check_array(classes, ensure_2d=False, dtype=None),
                                   "classes")
        if classes.shape[0] < 2:
            raise ValueError(f"classes must hold at least 2 classes, got {classes.tolist()}.")
        estimator.classes_ = classes
    elif classes is not None and not np.array_equal(np.unique(classes), estimator.classes_):
        raise ValueError(f"classes={list(classes)} differ from the first call's "
                         f"{estimator.classes_.tolist()}.")
    return X, estimator._validate_targets(y, X.shape[0]), sample_weight


def partial_fit(estimator, X, y, sample_weight=None, classes=None):
    """One stepwise-EM step of ``estimator`` on a batch; see the module docstring."""
    # One BLAS thread, as the in-memory EM loop: BLAS threads beside Numba's
    # oversubscribe the cores.
    with threadpool_controller().limit(limits=1, user_api="blas"):
        return _partial_fit(estimator, X, y, sample_weight, classes)


def _partial_fit(estimator, X, y, sample_weight, classes):
    stream = getattr(estimator, "_stream_", None)
    fitted = hasattr(estimator, "experts_")
    first = stream is None
    templates = estimator._expert_templates()
    if first:
        for index, template in enumerate(templates):
            estimator._check_expert(template, index)
        check_stream_experts(estimator, templates if not fitted else estimator.experts_)
        if no_gate_inputs(estimator.gate_features):
            # It was refused as "must be a non-empty 1-D list of columns", as if the
            # gate without inputs that it asks for in fit were not a setting.
            raise ValueError("gate_features=[] (a gate without inputs, mixing proportions "
                             "only) is not supported by partial_fit, whose gate takes "
                             "Newton steps on its columns; fit on all the rows, or give "
                             "the gate columns.")
        for name in ("noise_variance", "label_noise"):
            if getattr(estimator, name, None) == "cross_fitted":
                # Asked for explicitly, and not honoured: say so (it went unsaid).
                warnings.warn(
                    f"{name}='cross_fitted' is not honoured by partial_fit, which refits no "
                    "expert on folds: "
                    + ("the noise variances are the experts' in-sample ones."
                       if name == "noise_variance" else "no label noise is modelled.")
                    + " Use fit on all the rows for cross-fitting.",
                    UserWarning, stacklevel=_user_stacklevel())
    if fitted:
        estimator._warn_ignored_on_resume("partial_fit")
    X, y, sample_weight = _validated_batch(estimator, X, y, sample_weight, classes,
                                           first and not fitted)
    if not sample_weight.sum() > 0:
        raise ValueError("sample_weight of the batch must not sum to zero.")
    # Batches are never grouped: the model is no longer a grouped fit's.
    estimator.__dict__.pop("_fit_groups_", None)
    regressor = not is_classifier(estimator)
    if first and not fitted:
        # The first batch starts the experts by k-means, one cluster per expert.
        check_n_samples(X.shape[0], len(templates))
        estimator._record_resume_settings()
        if regressor:
            estimator.family_ = "gaussian"
        names = getattr(estimator, "feature_names_in_", None)
        estimator.expert_features_ = resolve_columns(estimator.expert_features, X.shape[1],
                                                     names, "expert_features")
        estimator.gate_features_ = resolve_columns(estimator.gate_features, X.shape[1], names,
                                                   "gate_features")
        estimator.gate_scaler_ = fit_standard_scaler(X[:, estimator.gate_features_],
                                                     sample_weight, with_mean=True)
    X_expert = np.ascontiguousarray(X[:, estimator.expert_features_])
    if regressor and any(map(is_gram_expert, estimator.experts_ if fitted else templates)):
        _check_gram_magnitudes(X_expert)
    X_gate = estimator._gate_input(X)
    if first:
        shift = (X_expert.mean(axis=0), float(np.mean(y)) if regressor else 0.0)
        stream = _Stream(len(templates) if not fitted else estimator.n_experts_,
                         X_expert.shape[1], shift)
    stream.add_moments(X_expert, y if regressor else None, sample_weight)
    if fitted:
        experts, gate = estimator.experts_, estimator.gate_
        params = estimator._fitted_params()
    else:
        random_state = check_random_state(estimator.random_state)
        experts = seeded_clones(templates, random_state)
        gate = seeded_clones([SoftmaxGate() if estimator.gate is None else estimator.gate],
                             random_state)[0]
        params = {}
    n_experts = len(experts)
    row_log_lik = np.empty(X.shape[0])
    if fitted:
        log_lik = estimator._log_likelihood(experts, params, X_expert, y)
        resp = np.empty_like(log_lik)
        total = e_step(gate._log_proba(X_gate), log_lik, sample_weight, resp, row_log_lik)
        batch_bound = float(total) / float(sample_weight.sum())
    else:
        resp = initial_responsibilities(
            "kmeans", X, estimator._init_targets(y), sample_weight, n_experts, 0,
            check_random_state(estimator.random_state))
        batch_bound = -np.inf
    eta = 1.0 if first else (stream.n_batches + 1) ** -float(estimator.step_size_decay)
    batch_weight = float(sample_weight.sum())
    stream.weight_seen += batch_weight
    weights = resp * sample_weight[:, None]
    experts, params = _expert_step(estimator, stream, experts, params, X_expert, y, weights,
                                   batch_weight, eta, classes=getattr(estimator, "classes_",
                                                                      None))
    gate = _gate_step(stream, gate, X_gate, resp, sample_weight, eta, first)
    stream.gate_share = (1 - eta) * stream.gate_share + eta * (
        sample_weight @ gate.predict_proba(X_gate)) / batch_weight
    stream.n_batches += 1
    _set_streamed(estimator, stream, experts, gate, params, batch_bound)
    return estimator


def _expert_step(estimator, stream, experts, params, X, y, weights, batch_weight, eta,
                 classes):
    """Update the experts (and the Gaussian noise variances) from one batch."""
    regressor = not is_classifier(estimator)
    n_experts = len(experts)
    gram = [k for k in range(n_experts) if regressor and is_gram_expert(experts[k])]
    own = [k for k in range(n_experts) if k not in gram]
    for intercept in (True, False):
        chosen = [k for k in gram if bool(experts[k].fit_intercept) is intercept]
        if not chosen:
            continue
        batch = weighted_grams(X, y, weights[:, chosen], intercept, shift=stream.shift)[0]
        stream.grams[chosen] = (1 - eta) * stream.grams[chosen] + eta * batch / batch_weight
    encoded_classes = None if regressor else np.arange(classes.shape[0])
    for k in own:
        kwargs = {"sample_weight": weights[:, k]}
        if encoded_classes is not None:
            kwargs["classes"] = encoded_classes
        try:
            experts[k].partial_fit(X, y, **kwargs)
        except Exception as exc:
            raise RuntimeError(f"Expert {k} ({describe_expert(experts[k])}) failed in "
                               f"partial_fit: {exc}") from exc
    if not regressor:
        return experts, {}
    variance = stream.target_variance()
    scale2 = params.get("noise_variance_")
    column_scale = stream.column_scale()
    zero = (np.zeros(X.shape[1]), 0.0)
    for k in gram:
        shift = stream.shift if experts[k].fit_intercept else zero
        factor = variance / scale2[k] if (scale2 is not None
                                          and isinstance(experts[k], ScaledRidge)) else 1.0
        # Running matrices per unit weight, times the weight seen: a penalty counts rows
        # as in a fit on all of them.
        experts[k] = fit_expert_from_gram(experts[k], k, factor * stream.weight_seen
                                          * stream.grams[k], *shift, column_scale,
                                          validate=stream.n_batches == 0)
        stream.residuals[k] = residual_sum(experts[k], stream.grams[k], *shift)
        stream.weights[k] = stream.grams[k][X.shape[1], X.shape[1]]
    for k in own:
        prediction = np.asarray(experts[k].predict(X), dtype=np.float64)
        stream.residuals[k] = ((1 - eta) * stream.residuals[k]
                               + eta * weights[:, k] @ (y - prediction) ** 2 / batch_weight)
        stream.weights[k] = (1 - eta) * stream.weights[k] + eta * weights[:, k].sum() / batch_weight
    floor = estimator.var_floor * variance
    safe = np.where(stream.weights > 0, stream.weights, 1.0)
    return experts, {"noise_variance_": _floor_scale(stream.residuals / safe, floor)}


def _gate_step(stream, gate, X_gate, resp, sample_weight, eta, first):
    """Solve the gate on the first batch; later, one damped Newton step per batch."""
    n_experts = resp.shape[1]
    if first or not hasattr(gate, "coef_"):
        gate._fit_soft(X_gate, resp, sample_weight)
        n_features = X_gate.shape[1]
        params = np.column_stack([gate.coef_, gate.intercept_])
        stream.hessian = _batch_hessian(gate, params, X_gate, sample_weight,
                                        stream.weight_seen)
        return gate
    n_features = X_gate.shape[1]
    params = np.column_stack([gate.coef_, gate.intercept_])
    X_t = np.ascontiguousarray(X_gate.T)
    grad = np.empty_like(params)
    fit_intercept = bool(gate.fit_intercept)
    batch_weight = float(sample_weight.sum())
    loss = soft_cross_entropy(params, X_t, np.ascontiguousarray(resp.T), sample_weight,
                              fit_intercept, grad)
    # The penalty per unit of weight of a fit on every row seen.
    grad /= batch_weight
    penalise_gate_loss(params, loss / batch_weight, grad, 1.0 / gate.C / stream.weight_seen,
                       fit_intercept, 1.0)
    hessian = _batch_hessian(gate, params, X_gate, sample_weight, stream.weight_seen)
    stream.hessian = (1 - eta) * stream.hessian + eta * hessian
    null = _null_projector(n_experts, n_features, fit_intercept)
    step = _newton_direction(stream.hessian, grad.ravel(), null)
    params = params + eta * step.reshape(params.shape)
    gate.coef_ = params[:, :-1].copy()
    intercept = params[:, -1] if fit_intercept else np.zeros(n_experts)
    gate.intercept_ = intercept - intercept.mean()
    return gate


def _batch_hessian(gate, params, X_gate, sample_weight, weight_seen):
    """The gate's Hessian on one batch, per unit of weight, with the penalty of the stream."""
    size = params.size
    hess = np.empty((size, size))
    soft_cross_entropy_hessian(params, np.ascontiguousarray(X_gate.T), sample_weight,
                               bool(gate.fit_intercept), hess)
    hess /= float(sample_weight.sum())
    penalise_gate_hessian(hess, params.shape[1], 1.0 / gate.C / weight_seen, 1.0)
    return hess


def _null_projector(n_classes, n_features, fit_intercept):
    """``V V^T`` for the directions along which the gate's objective is constant."""
    n_columns = n_features + 1
    intercepts = np.arange(n_classes) * n_columns + n_columns - 1
    if fit_intercept:
        vector = np.zeros((n_classes * n_columns, 1))
        vector[intercepts] = 1.0 / np.sqrt(n_classes)
    else:
        vector = np.zeros((n_classes * n_columns, n_classes))
        vector[intercepts, np.arange(n_classes)] = 1.0
    return vector @ vector.T


def _set_streamed(estimator, stream, experts, gate, params, batch_bound):
    """The fitted attributes after a batch."""
    from ._base import _Run

    run = _Run(experts, [None] * len(experts), gate, params)
    bounds = list(getattr(estimator, "lower_bounds_", [])) if stream.n_batches > 1 else []
    if np.isfinite(batch_bound):
        bounds.append(batch_bound)
    run.lower_bounds = bounds
    run.n_iter = stream.n_batches
    run.converged = False
    run.responsibility_total = stream.weights * stream.weight_seen if params else None
    run.gate_share = stream.gate_share
    run.penalty = gate._penalty() + (
        sum(ridge_penalty(e) for e in experts) / (2.0 * stream.target_variance())
        if params else 0.0)
    run.context = {}
    estimator._set_fitted(run)
    estimator.lower_bound_ = batch_bound
    estimator._design_ranks_ = [None] * len(experts)
    estimator._gate_rank_ = None
    estimator.init_lower_bounds_ = [list(bounds)]
    estimator.n_starts_at_best_ = 1
    estimator._stream_ = stream
    return estimator


# ------------------------------------------------------- Gram-matrix solutions
def fit_expert_from_gram(expert, index, gram, center, y_center, column_scale, validate):
    """Fit one linear expert from its weighted Gram matrix."""
    if type(expert) is ScaledRidge:
        fitted = fit_scaled_ridges_from_grams([expert], gram[None], center, y_center,
                                              column_scale)[0]
    elif type(expert) is LinearRegression:
        fitted = fit_from_grams([expert], gram[None], center, y_center, [validate])[0]
    else:
        fitted = _fit_from_pseudo_rows(expert, gram, center, y_center)
    if fitted is None:
        raise ValueError(
            f"Expert {index} ({describe_expert(expert)}) could not be fitted from its weighted "
            f"Gram matrix: the rows it is responsible for do not "
            "determine its coefficients (collinear or constant columns, or no weight). "
            "Drop collinear columns, use Ridge or ScaledRidge experts, or fewer experts."
        )
    return fitted


def _fit_from_pseudo_rows(expert, gram, center, y_center):
    """Fit a Ridge expert on rows with the same centred cross-products as the data.

    With ``xx = V diag(l) V^T`` the centred Gram matrix of the inputs and
    ``xy`` their cross-products with the target, the ``2 d`` rows
    ``+-sqrt(l_j) v_j / sqrt(2)`` (shifted to the weighted means), with
    targets ``+-(v_j . xy) / sqrt(2 l_j)``, have exactly these cross-products;
    a ridge fit depends on the data only through them (and the means).
    """
    n_features = gram.shape[0] - 2
    total = gram[n_features, n_features]
    if not total > 0 or not np.all(np.isfinite(gram)):
        return None
    x_shift = gram[:n_features, n_features] / total
    y_shift = gram[n_features + 1, n_features] / total
    xx = gram[:n_features, :n_features]
    xy = gram[:n_features, n_features + 1]
    if expert.fit_intercept:
        xx = xx - total * np.outer(x_shift, x_shift)
        xy = xy - total * x_shift * y_shift
    eigenvalues, vectors = np.linalg.eigh(xx)
    keep = eigenvalues > _EIGENVALUE_FLOOR * max(eigenvalues[-1], 0.0)
    root = np.sqrt(eigenvalues[keep])[:, None] * vectors[:, keep].T
    target = (vectors[:, keep].T @ xy) / np.sqrt(eigenvalues[keep])
    rows = np.vstack([root, -root]) / np.sqrt(2.0)
    targets = np.concatenate([target, -target]) / np.sqrt(2.0)
    if expert.fit_intercept:
        rows += center + x_shift
        targets += y_center + y_shift
    return expert.fit(rows, targets)


def residual_sum(expert, gram, center, y_center):
    """``sum_i w_i (y_i - f(x_i))^2`` of a fitted linear expert from its Gram matrix.

    The residual is ``v . z`` for ``z = [x - c, 1, y - c_y]`` and
    ``v = [-coef, c_y - intercept - c . coef, 1]``.
    """
    n_features = gram.shape[0] - 2
    coef = np.ravel(expert.coef_)
    intercept = float(np.ravel(expert.intercept_)[0]) if np.ndim(expert.intercept_) else float(
        expert.intercept_)
    vector = np.empty(n_features + 2)
    vector[:n_features] = -coef
    vector[n_features] = y_center - intercept - center @ coef
    vector[n_features + 1] = 1.0
    return max(float(vector @ gram @ vector), 0.0)


