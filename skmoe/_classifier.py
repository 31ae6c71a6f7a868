"""MixtureOfExpertsClassifier: categorical likelihood and label handling on the shared EM engine."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._base import BaseMixtureOfExperts, dask_blockwise
from ._docstrings import fill_doc
from ._experts import (
    cross_fitted_predictions,
    decided_once,
    expert_output,
    interpolates,
    interpolates_when_fitted,
)
from ._kernels import categorical_log_likelihood
from ._logistic import is_plain_logistic, logistic_log_likelihood, logistic_penalty
from ._regressor import NoiseFolds, noise_fold_count
from ._ridge import column_scale
from ._scaled_logistic import ScaledLogisticRegression
from ._scaling import SQUARE_SAFE, magnitude
from ._serving import linear_mixture_proba, linear_probabilities
from ._validation import (
    check_is_estimator,
    check_label_kind,
    check_labels,
    check_score_weights,
)

# Smallest class probability an expert is taken to give: an expert that never saw a
# class, or gives it probability 0, must not make a log-likelihood -inf.
PROBA_FLOOR = 1e-10


def _experts_have_predict_proba(mixture):
    """An ``available_if`` check: every expert (fitted, else its template) has
    ``predict_proba``; raises an AttributeError naming the first that has not."""
    experts = getattr(mixture, "experts_", None)
    if experts is None:
        try:
            experts = mixture._expert_templates()
        except (TypeError, ValueError):
            # Invalid parameters: fit says what is wrong.
            return True
    for index, expert in enumerate(experts):
        if not hasattr(expert, "predict_proba"):
            raise AttributeError(
                f"The mixture's probabilities are its experts' mixed by the gate; expert "
                f"{index} ({type(expert).__name__}) has no predict_proba."
            )
    return True


def _check_logistic_columns(templates, X, scale=None):
    """Refuse, before any fit, columns that logistic experts cannot square.

    A LogisticRegression expert fits the columns in their own units, a
    ScaledLogisticRegression in units of their spread, and the Hessian holds
    their squares: columns beyond about 1e150 in those units (all of X times
    1e200, one value of 1e300, a constant column of 1e300) ended in
    ``LinAlgError: Eigenvalues did not converge`` from the Newton M-step
    (scikit-learn's own fit stops there with zero coefficients). ``scale``:
    the columns' spreads when ``X`` does not hold the rows (None: ``X``'s).
    """
    kinds = {type(template) for template in templates}
    for kind in (LogisticRegression, ScaledLogisticRegression):
        if kind not in kinds:
            continue
        size = magnitude(X)
        units = "their own units"
        if kind is ScaledLogisticRegression:
            size = size / (column_scale(X) if scale is None else scale)
            units = "units of their spread (their standard deviation, 1 for a constant column)"
        bad = np.flatnonzero(size > SQUARE_SAFE[1])
        if bad.size:
            column = bad[0]
            largest = float(abs(X[:, [column]]).max())
            raise ValueError(
                f"{kind.__name__} experts fit the columns in {units}, and their Hessians "
                f"square them: the experts' column {column} reaches {largest:.3g}, beyond "
                "about 1e150 in those units. Divide such columns by a constant (or, for a "
                "column that barely varies, subtract its value)."
            )


@fill_doc
class MixtureOfExpertsClassifier(ClassifierMixin, BaseMixtureOfExperts):
    """Mixture of experts for classification, fitted by EM.

    ``p(y | x) = sum_k g_k(x) p_k(y | x)``: a softmax gate ``g`` decides which
    expert (any scikit-learn classifier with ``predict_proba``) speaks for which
    input. Each expert's probabilities are mapped onto the estimator's
    ``classes_`` (an expert may have seen only some classes) and floored at
    1e-10 in the likelihood, so that no log-likelihood is -inf. An expert
    that can fit its training rows nearly exactly (a tree) has its
    probabilities mixed with its class frequencies by a share estimated out
    of fold (``label_noise``), so that it is not surer on new rows than it
    has earned.

    Parameters
    ----------
    experts : classifier, list of classifiers or of (str, classifier), default=None
        One classifier with ``predict_proba``, cloned ``n_experts`` times, or a
        list of them for heterogeneous experts.
        {experts_names}
        None means :class:`~skmoe.ScaledLogisticRegression` ``()``: scikit-learn's
        ``LogisticRegression`` with its penalty measured in each feature's
        spread over the training rows, so that the mixture's answer does not
        depend on the units of the features (``LogisticRegression()``
        penalises the coefficients in those units: on the wine data, dividing
        the features by 1000 took the default mixture's accuracy from 0.955 to
        0.674). Experts are trained on the encoded labels
        ``0 .. n_classes - 1`` with ``sample_weight = w * responsibilities``
        (a Pipeline through its final step); an expert that accepts no sample
        weights is fitted on a weighted resample, with a warning.
    {n_experts}
    {gate}
    {gate_features}
    {expert_features}
    {assignment}
    {init}
        For the classifier, k-means clusters the standardised X alone.
    {n_init}
    {max_iter}
    {tol}
    {min_expert_weight}
    {min_rows_per_parameter}
    {n_jobs}
    {random_state}
    {verbose}
    {warm_start}
    {top_k}
    {step_size_decay}
    label_noise : {{"auto", "cross_fitted", "none"}}, default="auto"
        Whether an expert's labels are modelled as noisy: with probability
        ``label_noise_[k]`` a row's class is drawn from the expert's class
        frequencies ``base_rates_[k]`` whatever its input, so that the expert
        gives ``(1 - e) p_k(y | x) + e base_rates_[k, y]``. The share ``e``
        is estimated in each M-step by maximising the expert's weighted
        log-likelihood of each row's class as predicted by refits of the
        expert without the row's fold (10 folds for experts that can
        interpolate, 3 for the others; one fixed partition for a given number
        of rows, a row given twice in one fold), its own probabilities are
        those of its fit on all rows.
        ``"auto"``: for experts that can fit their training rows nearly
        exactly (those without a parameter count: trees, forests, boosting,
        neighbours), whose in-sample probabilities are falsely sure (a pure
        leaf gives its class probability 1 and every other class 0, and a
        held-out row of another class a log-loss of 23); not for
        LogisticRegression and other experts with a parameter count, whose
        fit is the exact M-step. ``"cross_fitted"``: for every expert.
        ``"none"``: the experts' own probabilities. The shares are not the
        maximisers of the likelihood, so ``lower_bound_`` can then move down
        by small amounts. Each expert cross-fitted costs 10 (or 3) refits
        per M-step, run on ``n_jobs`` threads. ``partial_fit`` and fits on
        Dask collections, which cannot refit experts on folds, do not
        estimate it (``"cross_fitted"`` is refused on Dask collections).

    Attributes
    ----------
    {fitted_common}
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    label_noise_ : ndarray of shape (`n_experts_`,)
        Each expert's share of noisy labels (0 for an expert whose labels
        are not modelled as noisy; see ``label_noise``). Set when the labels
        of some expert are (by ``fit`` in memory), else absent.
    base_rates_ : ndarray of shape (`n_experts_`, n_classes)
        Each expert's class frequencies weighted by its responsibilities,
        the distribution of its noisy labels. Set with ``label_noise_``.

    See Also
    --------
    MixtureOfExpertsRegressor : The same model for regression.
    SoftmaxGate : The default gate.

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsClassifier
    >>> from skmoe.datasets import make_gated_classification
    >>> X, y = make_gated_classification(n_samples=600, n_experts=2, random_state=0)
    >>> clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    """

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "label_noise": [StrOptions({"auto", "cross_fitted", "none"})],
    }

    def __init__(
        self,
        experts=None,
        *,
        n_experts=None,
        gate=None,
        gate_features=None,
        expert_features=None,
        assignment="soft",
        init="auto",
        n_init=1,
        max_iter=300,
        tol=1e-5,
        min_expert_weight=1e-3,
        min_rows_per_parameter=3.0,
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        top_k=None,
        step_size_decay=0.7,
        label_noise="auto",
    ):
        super().__init__(
            experts,
            n_experts=n_experts,
            gate=gate,
            gate_features=gate_features,
            expert_features=expert_features,
            assignment=assignment,
            init=init,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            min_expert_weight=min_expert_weight,
            min_rows_per_parameter=min_rows_per_parameter,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            top_k=top_k,
            step_size_decay=step_size_decay,
        )
        self.label_noise = label_noise

    # ----------------------------------------------------------------- hooks
    def _default_expert(self):
        return ScaledLogisticRegression()

    def _check_expert(self, expert, index):
        if not (hasattr(expert, "fit") and hasattr(expert, "predict_proba")):
            raise TypeError(
                "experts of MixtureOfExpertsClassifier must be classifiers with "
                f"predict_proba; expert {index} ({type(expert).__name__}) has no "
                "predict_proba."
            )
        check_is_estimator(expert, f"expert {index}")

    def _validate_fit_data(self, X, y, resume, **check_params):
        check_labels(y)
        X, y = validate_data(self, X, y, dtype=np.float64, **check_params)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if encoder.classes_.shape[0] < 2:
            raise ValueError(
                "MixtureOfExpertsClassifier needs at least 2 classes in y; got 1 class: "
                f"{encoder.classes_[0]}."
            )
        if resume and not np.array_equal(
            encoder.classes_, self.classes_
        ):
            raise ValueError(
                "warm_start resumes the fitted model, whose classes are "
                f"{self.classes_.tolist()}; y has classes {encoder.classes_.tolist()}."
            )
        if resume:
            check_label_kind(y, self.classes_, "y", "warm_start resumes the fitted model")
        self.classes_ = encoder.classes_
        return X, encoder.transform(y).astype(np.int64)

    def _likelihood_context(self, X, y, sample_weight):
        _check_logistic_columns(self._expert_templates(), X)
        if self.label_noise == "none":
            return {}
        # The seed of the resamples of experts that take no sample weights, and the
        # folds of the refits.
        return {"fold_seed": check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max), "noise_folds": NoiseFolds(X, y)}

    def _validate_targets(self, y, n_samples):
        check_labels(y)
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.ndim != 1:
            raise ValueError(f"y must be 1-dimensional, got an array of shape {y.shape}.")
        check_consistent_length(np.empty(n_samples), y)
        encoded = np.searchsorted(self.classes_, y)
        encoded = np.minimum(encoded, self.classes_.shape[0] - 1)
        unknown = self.classes_[encoded] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels not seen during fit: {np.unique(y[unknown])[:5].tolist()}."
            )
        return encoded.astype(np.int64)

    # _init_targets keeps the default (None): clustering on the labels would give each
    # expert one class and leave the classifying to the gate, so k-means sees X alone.

    def _likelihood_m_step(self, experts, X, y, weights, fit_weights, context, workspace):
        out = workspace.array("log_lik", (X.shape[0], len(experts)))
        log_lik = self._log_likelihood(experts, {}, X, y, out)
        chosen = ([] if self.label_noise == "none" else
                  decided_once(context.setdefault("cross_fits", {}), experts, self._cross_fits))
        if not chosen:
            # No parameters: the run stays one that SQUAREM can extrapolate.
            return {}, log_lik
        n_classes = self.classes_.shape[0]
        # One row's worth of weight: the mean weight of the rows with positive weight
        # (a row's responsibilities sum to 1, so its weights sum to its sample weight).
        row_sums = weights.sum(axis=1)
        row = float(row_sums.sum()) / max(np.count_nonzero(row_sums), 1)
        rates = np.empty((len(experts), n_classes))
        for k in range(len(experts)):
            # The rule of succession: each class one row's worth of weight more, so no
            # class has frequency 0 in an expert that saw little of it.
            counts = np.bincount(y, weights=weights[:, k], minlength=n_classes) + row
            rates[k] = counts / counts.sum()
        noise = np.zeros(len(experts))
        for k, out_of_fold in self._cross_fitted_probabilities(chosen, experts, X, y,
                                                               fit_weights, context):
            noise[k] = label_noise_share(out_of_fold, rates[k, y], weights[:, k], row)
        params = {"label_noise_": noise, "base_rates_": rates}
        _add_label_noise(log_lik, params, y)
        return params, log_lik

    def _cross_fitted_probabilities(self, chosen, experts, X, y, fit_weights, context):
        """Yield ``(k, out_of_fold)`` for each expert ``k`` of ``chosen`` (those whose
        labels are modelled as noisy): the probability of each row's class by
        refits without its fold."""
        folds = context["noise_folds"]
        params = context.get("expert_fit_params")
        # An expert the EM loop kept unchanged keeps its out-of-fold probabilities
        # (as the regressor's cross-fitted noise): EM could otherwise cycle.
        cache = context.setdefault("out_of_fold", {})
        kept = context.get("kept_experts", ())
        n_classes = self.classes_.shape[0]
        for k in chosen:
            if k in kept and k in cache and cache[k][0] is experts[k]:
                yield k, cache[k][1]
                continue
            probabilities = cross_fitted_predictions(
                experts[k], X, y, fit_weights[:, k], folds(noise_fold_count(experts[k])),
                context["fold_seed"], k,
                None if params is None else params[k], context.get("leaf_weight"),
                context.get("n_jobs"), predict=_class_probability(k, n_classes),
                what="label noise")
            cache[k] = (experts[k], probabilities)
            yield k, probabilities

    def _set_fitted(self, run):
        super()._set_fitted(run)
        if "label_noise_" not in run.params:
            # partial_fit and Dask fits estimate no label noise: none from an earlier fit.
            for name in ("label_noise_", "base_rates_"):
                self.__dict__.pop(name, None)

    def _n_parameters(self, uncounted=None):
        # Each expert with noisy labels adds its share and its class frequencies; one
        # whose labels are all noise (a share of 1, at its bound) its frequencies alone.
        params = self._fitted_params()
        n_noisy = _noisy_experts(params).size
        n_all_noise = int(np.sum(params.get("label_noise_", np.zeros(0)) >= 1.0))
        return (super()._n_parameters(uncounted) + n_noisy * self.classes_.shape[0]
                - n_all_noise)

    def _expert_enters_likelihood(self, index):
        # With a share of noisy labels of 1 the expert gives its class frequencies
        # whatever its input: its own coefficients leave the likelihood (bic counted them).
        noise = self._fitted_params().get("label_noise_")
        return noise is None or noise[index] < 1.0

    def _fitted_on_subsets(self, expert, X=None, y=None):
        # Also the training folds of its label noise.
        if super()._fitted_on_subsets(expert) or self.label_noise == "cross_fitted":
            return True
        return self.label_noise == "auto" and interpolates_when_fitted(expert, X, y)

    def _cross_fits(self, expert):
        """Whether ``expert``'s labels are modelled as noisy under ``label_noise``."""
        if self.label_noise == "none":
            return False
        return self.label_noise == "cross_fitted" or interpolates(expert)

    def _log_likelihood(self, experts, params, X, y, out=None):
        log_lik = np.empty((X.shape[0], len(experts))) if out is None else out
        n_classes = self.classes_.shape[0]
        for k, expert in enumerate(experts):
            if is_plain_logistic(expert):
                try:
                    log_lik[:, k] = logistic_log_likelihood(expert, X, y, PROBA_FLOOR)
                except ValueError:
                    raise ValueError(
                        f"Expert {k} ({type(expert).__name__}) returned NaN or inf "
                        "probabilities."
                    ) from None
                continue
            proba = _expert_proba(expert, k, X)
            columns = np.full(n_classes, -1, dtype=np.int64)
            columns[np.asarray(expert.classes_, dtype=np.int64)] = np.arange(proba.shape[1])
            categorical_log_likelihood(proba, columns, y, PROBA_FLOOR, log_lik, k)
        _add_label_noise(log_lik, params, y)
        return log_lik

    def _likelihood_penalty(self, experts, params, context):
        # Each LogisticRegression expert's M-step maximises its weighted
        # log-likelihood less ||coef_||^2 / (2 C): the objective EM climbs subtracts
        # that too, so lower_bound_ is the quantity the M-steps (and SQUAREM) raise.
        return sum(logistic_penalty(expert) for expert in experts)

    # ----------------------------------------------------------- prediction
    @available_if(_experts_have_predict_proba)
    @dask_blockwise
    def predict_proba(self, X):
        """Class probabilities ``sum_k g_k(x) p_k(y | x)`` (over the ``top_k`` experts if set).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to one.
        """
        X = self._validated_X(X)
        noisy = _noisy_experts(self._fitted_params()).size > 0
        # A softmax gate and LogisticRegression experts: one pass over the rows.
        proba = None if noisy else linear_mixture_proba(self, X)
        if proba is None:
            gate = self._gate_proba(X)
            X = self._expert_input(X)
            # LogisticRegression experts: every expert's probabilities from one product.
            each = None if noisy else linear_probabilities(self, X)
            if each is not None:
                proba = np.einsum("ik,ikc->ic", self._routed_weights(gate), each)
            else:
                proba = self._expert_mixture(X, *self._route(gate))
        # The gate-weighted sum can exceed 1 by a rounding error (two experts sure of
        # the same class); dividing by the row's sum keeps every entry within [0, 1].
        proba /= np.maximum(proba.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
        return proba

    def _expert_mixture(self, X, chosen, weights):
        """``sum_k g_k p_k`` on the experts' rows, each expert asked for its rows' probabilities."""
        proba = np.zeros((X.shape[0], self.classes_.shape[0]))
        params = self._fitted_params()
        noise = params.get("label_noise_")
        for k, rows, slots in self._dispatch(chosen):
            expert = self.experts_[k]
            columns = np.asarray(expert.classes_, dtype=np.int64)
            X_rows = X if isinstance(rows, slice) else X[rows]
            gate = weights[rows, slots][:, None]
            share = 0.0 if noise is None else float(noise[k])
            mixed = gate * _expert_proba(expert, k, X_rows)
            if share > 0:
                mixed *= 1.0 - share
            if isinstance(rows, slice):
                proba[:, columns] += mixed
            else:
                proba[np.ix_(rows, columns)] += mixed
            if share > 0:
                # The noisy labels: the expert's class frequencies, over every class.
                proba[rows] += gate * (share * params["base_rates_"][k])
        return proba

    @available_if(_experts_have_predict_proba)
    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba` (``-inf`` where every expert gives a class 0).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class, columns in the order of ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None):
        """The mean accuracy of ``predict(X)`` for ``y``.

        As scikit-learn's classifiers compute it
        (:func:`sklearn.metrics.accuracy_score`), after checking ``y`` and the
        weights as ``fit`` does: a missing label failed in NumPy's sort, and
        negative weights were taken (an accuracy above 1). The weights are
        taken in units of a power of two near the largest (weights of 1e308
        gave NaN); the accuracy does not depend on their units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels for ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights: finite, non-negative, not all zero.

        Returns
        -------
        score : float
            Accuracy of ``self.predict(X)`` against ``y``.
        """
        check_labels(y)
        return super().score(X, y, sample_weight=check_score_weights(sample_weight, X))

    @dask_blockwise
    def predict(self, X):
        """Most probable class under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        best = np.argmax(self.predict_proba(X), axis=1)
        return self.classes_[best]


# How far from 1 an expert's probabilities of a row may sum (rounding errors).
_PROBA_SUM_TOLERANCE = 1e-6
# Bisection steps of label_noise_share: 2**-60 of the unit interval, below rounding.
_SHARE_STEPS = 60


def label_noise_share(probability, base_rate, weight, row_weight):
    """The share ``e`` in (0, 1] that maximises ``sum w log((1 - e) p + e b) + c log e``.

    The M-step of an expert's label noise: ``p`` is the probability of each
    row's class as predicted without the row (out of fold), ``b`` the
    expert's frequency of that class. The term ``c log e``, with ``c`` one
    row's worth of weight, counts one more held-out row that the expert's
    refits gave probability 0 (a Beta(2, 1) prior on ``e``): refits that
    never missed on ``n`` rows do not prove that the expert never misses, and
    a share of 0 would give a new row of a class its leaf never saw a
    log-loss of 23. The objective is concave in ``e``; its derivative
    ``sum w (b - p) / ((1 - e) p + e b) + c / e`` decreases, and is solved by
    bisection. 1 when the class frequencies alone predict better.

    Parameters
    ----------
    probability, base_rate, weight : ndarray of shape (n_samples,)
        ``p``, ``b`` (positive) and the rows' weights.
    row_weight : float
        ``c``, positive.

    Returns
    -------
    share : float
    """
    rows = weight > 0
    p, b, w = probability[rows], base_rate[rows], weight[rows]

    def slope(share):
        return float(w @ ((b - p) / ((1.0 - share) * p + share * b))) + row_weight / share

    if slope(1.0) >= 0:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(_SHARE_STEPS):
        middle = 0.5 * (low + high)
        if slope(middle) > 0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _noisy_experts(params):
    """Indices of the experts with a positive share of noisy labels in ``params``."""
    noise = params.get("label_noise_")
    return np.empty(0, dtype=np.intp) if noise is None else np.flatnonzero(noise > 0)


def _add_label_noise(log_lik, params, y):
    """Mix, in place, each noisy expert's probability of each row's class with its
    class frequency: ``log((1 - e) p + e b)`` from ``log p``."""
    for k in _noisy_experts(params):
        share = params["label_noise_"][k]
        base = params["base_rates_"][k, y]
        log_lik[:, k] = np.log((1.0 - share) * np.exp(log_lik[:, k]) + share * base)


def _class_probability(index, n_classes):
    """``predict(fitted, X, y)`` for :func:`cross_fitted_predictions`: each row's
    probability of its class ``y`` (a code) under a refit of expert ``index``."""
    def predict(fitted, X, y):
        proba = _expert_proba(fitted, index, X)
        position = np.full(n_classes, -1, dtype=np.int64)
        position[np.asarray(fitted.classes_, dtype=np.int64)] = np.arange(proba.shape[1])
        column = position[y]
        # A class the refit never saw: probability 0.
        return np.where(column >= 0, proba[np.arange(y.shape[0]), np.maximum(column, 0)], 0.0)
    return predict


def _expert_proba(expert, index, X):
    """An expert's ``predict_proba`` as float64, refusing non-finite values and what
    is not a probability per class of the expert's ``classes_`` per row (one column
    for two classes was read as probability 1 of each, negative values were mixed
    into the predicted probabilities, silently)."""
    name = f"Expert {index} ({type(expert).__name__})"
    proba = np.ascontiguousarray(expert_output(expert, index, "predict_proba", X),
                                 dtype=np.float64)
    if not np.all(np.isfinite(proba)):
        raise ValueError(f"{name} returned NaN or inf probabilities.")
    expected = (X.shape[0], len(expert.classes_))
    if proba.shape != expected:
        raise ValueError(
            f"{name} returned probabilities of shape {proba.shape}; expected {expected}, one "
            "column per class of its classes_ for each row."
        )
    if (proba < 0).any() or (np.abs(proba.sum(axis=1) - 1) > _PROBA_SUM_TOLERANCE).any():
        raise ValueError(
            f"{name} returned probabilities that are negative or do not sum to 1 over the "
            "classes of a row."
        )
    return proba
