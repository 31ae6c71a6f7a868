"""ScaledLogisticRegression: logistic regression whose penalty is measured in each
feature's spread.

scikit-learn's ``LogisticRegression`` penalises ``||coef_||^2 / (2 C)`` in the
units of the inputs, so its fit, and a mixture of such experts, depends on
them: the default classifier on the wine data reached an accuracy of 0.955 with
the features as given and 0.674 with the same features divided by 1000. The
classifier's default expert measures the penalty in units of each feature's
spread, as :class:`~skmoe.ScaledRidge` does for the regressor.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, validate_data

from ._ridge import column_scale
from ._scaling import divide_columns


class ScaledLogisticRegression(LogisticRegression):
    """Logistic regression with the penalty in units of each feature's standard deviation.

    Minimises ``sum_i w_i loss_i + sum_j (scale_j coef_j)^2 / (2 C)`` (summed
    over the classes' rows of coefficients), where ``scale_j`` is the standard
    deviation of feature ``j`` over the rows given to ``fit``, whatever their
    weights: scikit-learn's ``LogisticRegression`` fitted on the standardised
    features, its coefficients reported in the units of the inputs. Its
    predictions do not depend on the units of the features, and ``C`` counts
    rows: the penalty's effect fades as the weight of the data grows. The
    parameters are ``LogisticRegression``'s; without a penalty (``C=inf``)
    the fit is that of ``LogisticRegression`` itself, and an L1 or
    elastic-net penalty (``l1_ratio``) is measured in the same units.

    It is the default expert of :class:`MixtureOfExpertsClassifier`: every
    expert there sees all the rows, so ``scale_`` is the spread of each
    feature over the training set, and the mixture's answer does not change
    when a feature is measured in other units.

    Parameters
    ----------
    penalty : {"l1", "l2", "elasticnet", None}, default="deprecated"
        As ``LogisticRegression``'s (deprecated there: set the penalty by
        ``C`` and ``l1_ratio``).
    C : float, default=1.0
        Inverse strength of the penalty, on the standardised coefficients.
    l1_ratio : float, default=0.0
        As ``LogisticRegression``'s: 0 for an L2 penalty.
    dual : bool, default=False
        As ``LogisticRegression``'s.
    tol : float, default=1e-4
        As ``LogisticRegression``'s.
    fit_intercept : bool, default=True
        Fit unpenalised intercepts.
    intercept_scaling : float, default=1
        As ``LogisticRegression``'s (liblinear only).
    class_weight : dict or "balanced", default=None
        As ``LogisticRegression``'s.
    random_state : int, RandomState instance or None, default=None
        As ``LogisticRegression``'s.
    solver : str, default="lbfgs"
        As ``LogisticRegression``'s.
    max_iter : int, default=100
        As ``LogisticRegression``'s.
    verbose : int, default=0
        As ``LogisticRegression``'s.
    warm_start : bool, default=False
        Start the solver from the previous fit's coefficients.
    n_jobs : int, default=None
        As ``LogisticRegression``'s.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients, in the units of the inputs.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    scale_ : ndarray of shape (n_features,)
        Standard deviation of each feature over the rows given to ``fit``
        (1 for a constant feature).
    n_iter_ : ndarray of shape (1,)
        Iterations of the solver.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The penalty on the coefficients
        in the units of the inputs.
    ScaledRidge : The same penalty for least squares.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import ScaledLogisticRegression
    >>> X = np.array([[0.0, 5.0], [1.0, 3.0], [2.0, 4.0], [3.0, 1.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> grams = ScaledLogisticRegression().fit(X * 1000, y)
    >>> kilograms = ScaledLogisticRegression().fit(X, y)
    >>> bool(np.allclose(grams.predict_proba(X * 1000), kilograms.predict_proba(X)))
    True
    """

    def fit(self, X, y, sample_weight=None):
        """Fit the model on the standardised features.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; None means unit weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        values = check_array(X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
                             estimator=self)
        scale = column_scale(values)
        standardised = divide_columns(values, scale)
        # Dense columns are also centred when the intercepts absorb it: L-BFGS stalls
        # far from the optimum on a column whose mean is thousands of its spreads.
        shift = None
        if self.fit_intercept and not sp.issparse(standardised):
            shift = standardised.mean(axis=0)
            standardised = standardised - shift
        if self.warm_start and getattr(self, "coef_", None) is not None:
            # The solver starts from the coefficients in its own units.
            self.coef_ = self.coef_ * scale
            if shift is not None:
                self.intercept_ = self.intercept_ + self.coef_ @ shift
        super().fit(standardised, y, sample_weight)
        # The inputs' column names (the standardised copy has none).
        validate_data(self, X, reset=True, skip_check_array=True)
        if shift is not None:
            self.intercept_ = self.intercept_ - self.coef_ @ shift
        self.coef_ = self.coef_ / scale
        self.scale_ = scale
        return self
