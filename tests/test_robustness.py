"""Bad input is refused at the door; hard data gives a usable model; fits are atomic."""

import pickle
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, SoftmaxGate
from skmoe.datasets import make_gated_classification, make_switching_regression
from skmoe.inspection import apply, posterior

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    return make_switching_regression(300, 3, 2, noise=0.2, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)


# ------------------------------------------------------------------ bad input
# Each row: what is wrong, the call, the error type, the message it must contain.
# docs/robustness.rst lists the same cases.
def _X():
    return make_switching_regression(30, 2, 2, random_state=0)[0]


def _y():
    return make_switching_regression(30, 2, 2, random_state=0)[1]


BAD_REGRESSOR_INPUT = [
    ("nan in X", lambda: (np.where(np.eye(30, 2, dtype=bool), np.nan, _X()), _y(), {}),
     ValueError, "Input X contains NaN"),
    ("inf in y", lambda: (_X(), np.r_[np.inf, _y()[1:]], {}),
     ValueError, "Input y contains infinity"),
    ("complex X", lambda: (_X() + 1j, _y(), {}), ValueError, "Complex data not supported"),
    ("object X", lambda: (np.full((30, 2), "a", dtype=object), _y(), {}),
     ValueError, "could not convert string to float"),
    ("empty X", lambda: (np.empty((0, 2)), np.empty(0), {}), ValueError,
     r"Found array with 0 sample\(s\)"),
    ("one sample", lambda: (_X()[:1], _y()[:1], {"n_experts": 1}), ValueError,
     r"Found array with 1 sample\(s\) .* while a minimum of 2 is required"),
    ("fewer samples than experts", lambda: (_X()[:3], _y()[:3], {"n_experts": 4}), ValueError,
     "Expected n_samples >= n_experts, got n_experts=4, n_samples=3"),
    ("2-D y", lambda: (_X(), np.c_[_y(), _y()], {}), ValueError,
     r"y should be a 1d array, got an array of shape \(30, 2\)"),
    ("init of wrong shape", lambda: (_X(), _y(), {"init": np.full((30, 3), 1 / 3)}), ValueError,
     r"shape \(n_samples, n_experts\)=\(30, 2\), got an array of shape \(30, 3\)"),
    ("init rows not summing to 1", lambda: (_X(), _y(), {"init": np.full((30, 2), 0.3)}),
     ValueError, "Each row of the init array must sum to 1"),
    ("expert not an estimator", lambda: (_X(), _y(), {"experts": object()}), ValueError,
     "The 'experts' parameter of MixtureOfExpertsRegressor must be"),
    ("expert without get_params", lambda: (_X(), _y(), {"experts": _Bare()}), TypeError,
     r"expert 0 \(_Bare\) is not a scikit-learn estimator: it has no get_params"),
    ("classifier as regression expert", lambda: (_X(), _y(), {"experts": LogisticRegression()}),
     TypeError, r"expert 0 \(LogisticRegression\) is a classifier"),
    ("gate without predict_proba", lambda: (_X(), _y(), {"gate": LinearRegression()}),
     ValueError, "The 'gate' parameter of MixtureOfExpertsRegressor must be None or an object "
     "implementing 'fit' and 'predict_proba'"),
    ("gate without sample_weight", lambda: (_X(), _y(), {"gate": _GateNoWeights()}),
     TypeError, "gate _GateNoWeights must accept sample_weight"),
    ("negative weights", lambda: (_X(), _y(), {"sample_weight": -np.ones(30)}), ValueError,
     "Negative values in data passed to `?sample_weight"),
    ("nan weights", lambda: (_X(), _y(), {"sample_weight": np.full(30, np.nan)}), ValueError,
     "sample_weight must be finite"),
    ("all-zero weights", lambda: (_X(), _y(), {"sample_weight": np.zeros(30)}), ValueError,
     "Sample weights must contain at least one non-zero number"),
    ("sparse X with a dense-only expert",
     lambda: (sp.csr_matrix(_X()), _y(), {"experts": _FailsAtSecondFit()}),
     TypeError, "X is a sparse matrix, but (SoftmaxGate, )?_FailsAtSecondFit needs dense input"),
    ("sparse X with a Newton gate",
     lambda: (sp.csr_matrix(_X()), _y(), {"gate": SoftmaxGate(solver="newton")}),
     ValueError, r"SoftmaxGate\(solver='newton'\) needs dense X; got a sparse matrix"),
]


class _Bare:
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


class _GateNoWeights(BaseEstimator):
    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


@pytest.mark.parametrize("case", BAD_REGRESSOR_INPUT, ids=[c[0] for c in BAD_REGRESSOR_INPUT])
def test_bad_regressor_input_is_refused_at_the_door(case, monkeypatch):
    _, make, error, message = case
    X, y, params = make()
    sample_weight = params.pop("sample_weight", None)
    params.setdefault("n_experts", 2)
    # "before any work": no expert may be fitted when the input is refused.
    monkeypatch.setattr(LinearRegression, "fit", _forbidden)
    with pytest.raises(error, match=message):
        MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=sample_weight)


def _forbidden(*args, **kwargs):
    raise AssertionError("an expert was fitted before the input was checked")


@pytest.mark.parametrize(
    "y, message",
    [(np.zeros(30), "needs at least 2 classes in y; got 1 class: 0"),
     (np.linspace(0, 1, 30), "Unknown label type: continuous")],
)
def test_bad_classifier_targets(y, message):
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsClassifier(n_experts=2).fit(_X(), y)


def test_one_feature_works():
    X, y = make_switching_regression(200, 1, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert model.n_features_in_ == 1


def test_nan_allowed_when_every_part_accepts_it():
    X, y = make_switching_regression(400, 3, 2, noise=0.1, random_state=0)
    X_nan = X.copy()
    X_nan[::7, 1] = np.nan
    model = MixtureOfExpertsRegressor(
        HistGradientBoostingRegressor(max_iter=20), n_experts=2,
        gate=HistGradientBoostingClassifier(max_iter=10), max_iter=5, random_state=0,
    )
    assert model.__sklearn_tags__().input_tags.allow_nan
    model.fit(X_nan, y)
    assert np.all(np.isfinite(model.predict(X_nan)))
    assert np.all(np.isfinite(model.score_samples(X_nan, y)))
    # The default gate does not accept NaN, so the same data is refused.
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MixtureOfExpertsRegressor(HistGradientBoostingRegressor(), n_experts=2).fit(X_nan, y)


# ------------------------------------------------------------------ hard data
@pytest.mark.parametrize("y_scale", [1e8, 1e-8])
def test_scale_of_y_and_features_only_rescales_predictions(y_scale):
    X, y = make_switching_regression(600, 3, 2, noise=0.2, random_state=3)
    feature_scale = np.array([1e-6, 1.0, 1e6])
    base = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    scaled = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    scaled.fit(X * feature_scale, y * y_scale)
    assert_allclose(scaled.predict(X * feature_scale), base.predict(X) * y_scale, rtol=1e-6,
                    atol=1e-6 * y_scale)
    mean, std = scaled.predict(X * feature_scale, return_std=True)
    assert_allclose(std, base.predict(X, return_std=True)[1] * y_scale, rtol=1e-6)
    assert_allclose(scaled.predict_gate(X * feature_scale), base.predict_gate(X), atol=1e-7)


@pytest.mark.parametrize("experts", [None, LinearRegression()], ids=["ScaledRidge", "linear"])
@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_regressor_is_scale_equivariant_over_the_float64_range(scale, experts):
    # Squared residuals and Gram matrices of y or X near 1e160 overflowed (and of
    # 1e-150 lost their digits): the fit gave another, silently wrong model.
    X, y = make_switching_regression(300, 3, 2, noise=0.2, random_state=0)
    params = dict(experts=experts, n_experts=2, random_state=0)
    base = MixtureOfExpertsRegressor(**params).fit(X, y)
    mean, std = base.predict(X, return_std=True)
    scaled_y = MixtureOfExpertsRegressor(**params).fit(X, y * scale)
    scaled_mean, scaled_std = scaled_y.predict(X, return_std=True)
    assert_allclose(scaled_mean / scale, mean, rtol=1e-6, atol=1e-9)
    assert_allclose(scaled_std / scale, std, rtol=1e-6)
    assert_allclose(scaled_y.score_samples(X, y * scale) + np.log(scale),
                    base.score_samples(X, y), rtol=1e-6, atol=1e-9)
    assert_allclose(scaled_y.lower_bound_ + np.log(scale), base.lower_bound_, rtol=1e-6)
    # Every column scaled, and (ScaledRidge experts, which standardise them) columns at
    # both ends of the range at once: least squares' own SVD cannot rank those.
    factors = [np.full(3, scale)]
    if experts is None:
        factors.append(np.array([1.0, 1.0 / scale, scale]))
    for factor in factors:
        scaled_X = MixtureOfExpertsRegressor(**params).fit(X * factor, y)
        assert_allclose(scaled_X.predict(X * factor), mean, rtol=1e-6, atol=1e-9)
        assert_allclose(scaled_X.predict_gate(X * factor), base.predict_gate(X), atol=1e-7)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_features_at_the_ends_of_float64_keep_the_model(scale):
    X, y = make_switching_regression(300, 3, 2, noise=0.2, random_state=0)
    base = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    scaled = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X * scale, y)
    assert_allclose(scaled.predict(X * scale), base.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("scale", [1e-100, 1e100])
def test_classifier_is_feature_scale_equivariant_with_scale_free_experts(scale):
    # The gate standardises its columns; the experts here standardise theirs (a bare
    # logistic regression's penalty depends on the units). scikit-learn's
    # StandardScaler squares the columns, hence scales within 1e+-150.
    X, y = make_gated_classification(300, 3, 2, 3, random_state=0)
    params = dict(experts=make_pipeline(StandardScaler(), LogisticRegression()), n_experts=2,
                  max_iter=10, random_state=0)
    base = MixtureOfExpertsClassifier(**params).fit(X, y)
    scaled = MixtureOfExpertsClassifier(**params).fit(X * scale, y)
    assert_allclose(scaled.predict_proba(X * scale), base.predict_proba(X), atol=1e-7)
    assert_allclose(scaled.predict_gate(X * scale), base.predict_gate(X), atol=1e-7)


@pytest.mark.parametrize("y_scale", [1e-160, 1e160, 1e300])
def test_targets_beyond_the_range_of_noise_variances_are_refused(y_scale):
    X, y = make_switching_regression(100, 2, 2, random_state=0)
    with pytest.raises(ValueError, match=r"y has a weighted standard deviation of .*, outside "
                                         r"\[1e-152, 1e\+152\]: the experts' noise variances"):
        MixtureOfExpertsRegressor(n_experts=2).fit(X, y * y_scale)


def test_one_huge_target_is_refused_in_skmoes_words():
    # It ended in "Input X contains NaN" from k-means: a standardisation overflowed.
    X, y = make_switching_regression(100, 2, 2, random_state=0)
    y[0] = 1e300
    with pytest.raises(ValueError, match="y has a weighted standard deviation of 9.95e\\+298"):
        MixtureOfExpertsRegressor(n_experts=2).fit(X, y)


# Each estimator with small data of its own kind.
on_both_estimators = pytest.mark.parametrize("estimator, make", [
    (MixtureOfExpertsRegressor, lambda: make_switching_regression(200, 3, 2, random_state=0)),
    (MixtureOfExpertsClassifier, lambda: make_gated_classification(200, 3, 2, 3, random_state=0)),
])


@on_both_estimators
@pytest.mark.parametrize("scale", [1e-170, 1e160, 1e300])
def test_parameter_counts_and_bic_do_not_depend_on_the_units_of_the_features(
        estimator, make, scale):
    # The rank of each linear expert's design came from the columns' raw cross-products,
    # which overflowed (1e160) or underflowed (1e-170): every column counted as
    # constant, bic counted 12 parameters instead of 18 (24 for the classifier), and
    # RuntimeWarnings leaked from the fit.
    X, y = make()
    base = estimator(n_experts=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scaled = estimator(n_experts=2, random_state=0).fit(X * scale, y)
    assert scaled._design_ranks_ == base._design_ranks_ == [X.shape[1]] * 2
    assert scaled._n_parameters() == base._n_parameters()
    assert scaled.bic(X * scale, y) == pytest.approx(base.bic(X, y), rel=1e-9)


@on_both_estimators
def test_huge_sample_weights_fit_and_too_large_ones_are_refused(estimator, make):
    # Weights of 1e200 ended in "Input X contains NaN" from k-means.
    X, y = make()
    method = "predict" if estimator is MixtureOfExpertsRegressor else "predict_proba"
    fits = {}
    for solver in ("lbfgs", "newton"):
        params = dict(n_experts=2, max_iter=10, gate=SoftmaxGate(solver=solver),
                      random_state=0)
        huge = estimator(**params).fit(X, y, sample_weight=np.full(X.shape[0], 1e200))
        large = estimator(**params).fit(X, y, sample_weight=np.full(X.shape[0], 1e100))
        # Beside weights this large the penalties vanish alike: the same model.
        assert_allclose(getattr(huge, method)(X), getattr(large, method)(X), rtol=1e-6,
                        atol=1e-9)
        assert np.isfinite(huge.lower_bound_)
        converged = dict(params, max_iter=500, tol=1e-12,
                         gate=SoftmaxGate(solver=solver, tol=1e-10))
        fits[solver] = estimator(**converged).fit(X, y, sample_weight=np.full(X.shape[0], 1e200))
    # Both solvers climb to the same optimum (Newton's steps once exploded along the
    # coefficients' common shift, which such weights leave unpenalised, and the gate
    # stalled: a bound 0.2 nats per row lower). The regressor converges, and both
    # reach the same gate; the classifier's unpenalised logistic experts still crawl
    # after 500 iterations, by then level.
    newton, lbfgs = fits["newton"], fits["lbfgs"]
    assert newton.lower_bound_ == pytest.approx(lbfgs.lower_bound_, abs=1e-5)
    if estimator is MixtureOfExpertsRegressor:
        assert newton.converged_ and lbfgs.converged_
        assert_allclose(newton.predict_gate(X), lbfgs.predict_gate(X), atol=1e-6)
    params = dict(n_experts=2, max_iter=10, gate=SoftmaxGate(solver="lbfgs"), random_state=0)
    with pytest.raises(ValueError, match="sample_weight sums to 2e\\+302, more than 1e\\+250"):
        estimator(**params).fit(X, y, sample_weight=np.full(X.shape[0], 1e300))


def test_duplicated_rows_and_constant_feature():
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    X = np.c_[np.repeat(X, 3, axis=0), np.full(600, 7.0)]
    y = np.repeat(y, 3)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.predict(X, return_std=True)))
    assert np.all(np.isfinite(model.lower_bounds_))


def test_perfectly_separable_classes():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    model = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    assert model.score(X, y) >= 0.97
    assert np.all(np.isfinite(model.score_samples(X, y)))


def test_n_samples_equal_to_n_experts():
    X = np.array([[0.0], [1.0], [2.0]])
    y = np.array([0.0, 1.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.predict(X, return_std=True)))
    assert np.all(np.isfinite(model.score_samples(X, y)))


class _FailsAtSecondFit(RegressorMixin, BaseEstimator):
    """Fails at its second fit on all ``n_rows`` rows, whatever the instance (the
    EM loop refits a clone of an expert like this one; refits on folds, for its
    cross-fitted noise, do not count)."""

    full_fits = 0

    def __init__(self, n_rows=None):
        self.n_rows = n_rows

    def fit(self, X, y, sample_weight=None):
        if len(X) == self.n_rows:
            type(self).full_fits += 1
            if type(self).full_fits == 2:
                raise np.linalg.LinAlgError("singular matrix")
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_expert_error_names_expert_and_iteration(data, monkeypatch):
    X, y = data
    monkeypatch.setattr(_FailsAtSecondFit, "full_fits", 0)
    model = MixtureOfExpertsRegressor([LinearRegression(), _FailsAtSecondFit(len(X))],
                                      n_experts=2, random_state=0)
    with pytest.raises(RuntimeError, match=r"Expert 1 \(_FailsAtSecondFit\) failed to fit at EM "
                                           r"iteration 2: LinAlgError: singular matrix") as info:
        model.fit(X, y)
    assert isinstance(info.value.__cause__, np.linalg.LinAlgError)


class _NaNPredictions(RegressorMixin, BaseEstimator):
    def fit(self, X, y, sample_weight=None):
        return self

    def predict(self, X):
        return np.full(X.shape[0], np.nan)


def test_expert_returning_nan_is_an_error(data):
    X, y = data
    with pytest.raises(ValueError, match=r"Expert 1 \(_NaNPredictions\) returned NaN or inf"):
        MixtureOfExpertsRegressor([LinearRegression(), _NaNPredictions()], n_experts=2,
                                  random_state=0).fit(X, y)


def test_extreme_outlier_keeps_responsibilities_finite():
    X, y = make_switching_regression(300, 2, 2, noise=0.1, random_state=0)
    y = y.copy()
    y[0] += 1e6 * 0.1
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    resp, log_density = model._posterior(X, y)
    assert np.all(np.isfinite(resp))
    assert_allclose(resp.sum(axis=1), 1.0)
    assert np.all(np.isfinite(log_density))
    assert np.all(np.isfinite(model.lower_bounds_))


# ------------------------------------------------------------ atomic fits
def _state(model):
    return {key: pickle.dumps(value) for key, value in vars(model).items()}


@pytest.mark.parametrize("warm_start", [False, True])
def test_failed_fit_leaves_fitted_estimator_unchanged(data, warm_start, monkeypatch):
    X, y = data
    monkeypatch.setattr(_FailsAtSecondFit, "full_fits", 0)
    model = MixtureOfExpertsRegressor([LinearRegression(), _FailsAtSecondFit(len(X))],
                                      n_experts=2, max_iter=1, warm_start=warm_start,
                                      random_state=0)
    model.fit(X, y)
    model.set_params(max_iter=3)
    before = _state(model)
    predictions = model.predict(X)
    # The next fit reaches the expert's second fit, which raises; the new data also
    # has another width, so validation would have reset n_features_in_.
    with pytest.raises(RuntimeError, match="failed to fit"):
        model.fit(np.c_[X, X[:, :1]] if not warm_start else X, y)
    assert _state(model) == before
    assert_array_equal(model.predict(X), predictions)


def test_failed_classifier_fit_keeps_classes(data):
    X, y = make_gated_classification(200, 2, 2, 3, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, random_state=0).fit(X, y)
    before = _state(model)
    with pytest.raises(ValueError, match="1 class"):
        model.fit(X, np.zeros(200))
    assert _state(model) == before


# ------------------------------------------------------- persistence, threads
def test_pickle_and_joblib_round_trip_in_a_fresh_process(fitted, data, tmp_path):
    X, y = data
    pickle_path = tmp_path / "model.pkl"
    joblib_path = tmp_path / "model.joblib"
    pickle_path.write_bytes(pickle.dumps(fitted))
    joblib.dump(fitted, joblib_path)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    script = textwrap.dedent(f"""
        import pickle, joblib, numpy as np
        X = np.load({str(tmp_path / "X.npy")!r}); y = np.load({str(tmp_path / "y.npy")!r})
        for model in (pickle.load(open({str(pickle_path)!r}, "rb")),
                      joblib.load({str(joblib_path)!r})):
            np.save({str(tmp_path)!r} + "/pred_" + type(model).__name__ + str(id(model)) + ".npy",
                    np.c_[model.predict(X), model.score_samples(X, y)])
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    outputs = sorted(tmp_path.glob("pred_*.npy"))
    assert len(outputs) == 2
    expected = np.c_[fitted.predict(X), fitted.score_samples(X, y)]
    for path in outputs:
        assert_array_equal(np.load(path), expected)


def test_skops_round_trip_with_trusted_types(fitted, data, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = data
    path = tmp_path / "model.skops"
    sio.dump(fitted, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(name.startswith("skmoe.") for name in untrusted), untrusted
    with pytest.raises(Exception, match="Untrusted types found"):
        sio.load(path)
    restored = sio.load(path, trusted=untrusted)
    assert_array_equal(restored.predict(X), fitted.predict(X))
    assert_array_equal(restored.score_samples(X, y), fitted.score_samples(X, y))


def test_concurrent_predict_equals_serial(fitted, data):
    X, y = data
    expected = (fitted.predict(X, return_std=True), fitted.score_samples(X, y))

    def work(_):
        return fitted.predict(X, return_std=True), fitted.score_samples(X, y)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(32)))
    for (mean, std), density in results:
        assert_array_equal(mean, expected[0][0])
        assert_array_equal(std, expected[0][1])
        assert_array_equal(density, expected[1])


def test_warm_start_refuses_other_features_or_classes(data):
    X, y = data
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, warm_start=True,
                                      random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="which has 3 features; X has 2 features"):
        model.fit(X[:, :2], y)
    Xc, yc = make_gated_classification(200, 2, 2, 3, random_state=0)
    clf = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, warm_start=True,
                                     random_state=0).fit(Xc, yc)
    with pytest.raises(ValueError, match=r"whose classes are \[0, 1, 2\]; y has classes "
                                         r"\[1, 2, 3\]"):
        clf.fit(Xc, yc + 1)


_OTHER_COLUMNS = {
    "reordered": lambda frame: frame[["c", "b", "a"]],
    "renamed": lambda frame: frame.rename(columns={"c": "d"}),
    "fewer": lambda frame: frame[["a", "b"]],
    "more": lambda frame: frame.assign(d=frame["a"]),
}


@pytest.mark.parametrize("change", list(_OTHER_COLUMNS))
@on_both_estimators
def test_warm_start_refuses_columns_other_than_the_fitted_ones(change, estimator, make):
    # Resumed on other columns, the gate and experts would read the wrong ones: a warm
    # refit checks the columns as predict does.
    X, y = make()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = estimator(n_experts=2, max_iter=3, warm_start=True, gate_features=["a"],
                      random_state=0).fit(frame, y)
    before = model.predict(frame)
    with pytest.raises(ValueError, match="warm_start resumes the fitted model, so X must have "
                                         "the columns it was fitted on, in the same order"):
        model.fit(_OTHER_COLUMNS[change](frame), y)
    assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    assert_array_equal(model.predict(frame), before)
    # The same columns resume.
    model.fit(frame, y)


def test_warm_start_in_a_pipeline_with_named_columns_refuses_reordered_columns():
    X, y = make_switching_regression(200, 3, 2, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    pipeline = make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        MixtureOfExpertsRegressor(n_experts=2, max_iter=3, warm_start=True, random_state=0),
    ).fit(frame, y)
    with pytest.raises(ValueError, match="warm_start resumes the fitted model"):
        pipeline.fit(frame[["b", "a", "c"]], y)


def test_warm_start_without_names_after_names_warns_as_predict_does():
    X, y = make_switching_regression(200, 3, 2, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, warm_start=True,
                                      random_state=0).fit(frame, y)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.fit(X, y)
    assert_array_equal(model.feature_names_in_, ["a", "b", "c"])


@on_both_estimators
def test_warm_start_warns_about_the_parameters_it_ignores(estimator, make):
    X, y = make()
    model = estimator(n_experts=2, max_iter=3, warm_start=True, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        # Unchanged parameters: no warning.
        warnings.filterwarnings("error", message="warm_start")
        model.fit(X, y)
    model.set_params(n_experts=4)
    with pytest.warns(UserWarning, match=r"warm_start resumes the fitted model, which keeps its "
                                         r"experts, gate and columns: n_experts=4 \(fitted with "
                                         r"2\) changed since it was fitted and is ignored"):
        model.fit(X, y)
    assert model.n_experts_ == 2
    model.set_params(n_experts=2, gate_features=[0], n_init=3)
    with pytest.warns(UserWarning, match="gate_features, n_init=3 \\(fitted with 1\\) changed "
                                         "since it was fitted and are ignored"):
        model.fit(X, y)
    assert_array_equal(model.gate_features_, [0, 1, 2])
    # Another expert with other parameters is a change too; a clone of the fitted one is not.
    model.set_params(gate_features=None, n_init=1, experts=model._default_expert())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="warm_start")
        model.set_params(experts=None).fit(X, y)
    with pytest.warns(UserWarning, match=": experts changed"):
        model.set_params(experts=make_pipeline(StandardScaler(), model._default_expert())).fit(
            X, y)


@pytest.mark.parametrize("estimator, make", [
    (MixtureOfExpertsRegressor, lambda: make_switching_regression(300, 3, 2, random_state=0)),
    (MixtureOfExpertsClassifier, lambda: make_gated_classification(300, 3, 2, 3, random_state=0)),
])
def test_sparse_input_with_linear_experts_and_softmax_gate(estimator, make):
    X, y = make()
    # Run both to a tight convergence: they reach the same fixed point by different paths.
    # Logistic experts on a sparse X are fitted by LogisticRegression itself (the Newton
    # M-step takes dense X): to a tight tolerance, as the dense path solves its objective.
    # The classifier's objective (the experts' penalties subtracted) is flat near its
    # optimum: its changes fall below 1e-8 while the log-likelihoods still move by 1e-3.
    params = dict(n_experts=2, max_iter=500, tol=1e-8, random_state=0)
    if estimator is MixtureOfExpertsClassifier:
        params["experts"] = LogisticRegression(tol=1e-10, max_iter=10_000)
        params["tol"] = 1e-12
    model = estimator(**params)
    assert model.__sklearn_tags__().input_tags.sparse
    dense = estimator(**params).fit(X, y)
    model.fit(sp.csr_matrix(X), y)
    assert dense.converged_ and model.converged_
    # The gate sees scaled but uncentred sparse columns; its intercept absorbs the shift.
    assert_allclose(model.score_samples(sp.csr_matrix(X), y), dense.score_samples(X, y),
                    rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------ dtypes and formats
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int8, np.uint8, bool, object])
def test_regressor_targets_of_any_numeric_dtype_fit_as_float64(dtype):
    # A float16 y reached the compiled kernels, which know float64 only.
    X, y = make_switching_regression(200, 2, 2, noise=0.2, random_state=0)
    y = (y > 0) if dtype is bool else (np.round(y * 10) if dtype in (np.int8, np.uint8) else y)
    y = np.abs(y) if dtype is np.uint8 else y
    y_cast = np.asarray(y).astype(dtype)
    params = dict(n_experts=2, max_iter=5, random_state=0)
    model = MixtureOfExpertsRegressor(**params).fit(X, y_cast)
    reference = MixtureOfExpertsRegressor(**params).fit(X, y_cast.astype(np.float64))
    assert_array_equal(model.predict(X), reference.predict(X))
    assert_array_equal(model.score_samples(X, y_cast), reference.score_samples(X, y_cast))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int8, bool, object])
def test_features_of_any_numeric_dtype_fit_as_float64(dtype):
    X, y = make_switching_regression(200, 2, 2, noise=0.2, random_state=0)
    X = (X > 0) if dtype is bool else (np.round(X * 10) if dtype is np.int8 else X)
    X_cast = np.asarray(X).astype(dtype)
    params = dict(n_experts=2, max_iter=5, random_state=0)
    model = MixtureOfExpertsRegressor(**params).fit(X_cast, y)
    reference = MixtureOfExpertsRegressor(**params).fit(X_cast.astype(np.float64), y)
    assert_array_equal(model.predict(X_cast), reference.predict(X_cast.astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.float16, np.int8, bool, object])
def test_classifier_labels_of_any_dtype(dtype):
    X, y = make_gated_classification(200, 2, 2, 2, random_state=0)
    # Object labels are strings (scikit-learn takes object integers for no known type).
    labels = y.astype(str).astype(object) if dtype is object else y.astype(dtype)
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(X, labels)
    assert_array_equal(model.classes_, np.unique(labels))
    assert_array_equal(model.predict(X)[:20].astype(np.int64),
                       MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0)
                       .fit(X, y).predict(X)[:20])


def _sparse_methods(model, X, y):
    results = {"predict_gate": model.predict_gate(X), "score_samples": model.score_samples(X, y),
               "bic": model.bic(X, y), "aic": model.aic(X, y), "apply": apply(model, X),
               "posterior": posterior(model, X, y)}
    if isinstance(model, MixtureOfExpertsRegressor):
        results["predict"] = model.predict(X, return_std=True)
    else:
        results["predict_proba"] = model.predict_proba(X)
        results["predict_log_proba"] = model.predict_log_proba(X)
        results["predict"] = model.predict(X)
    return results


@pytest.mark.parametrize("fit_format", ["dense", "csr"])
@on_both_estimators
def test_sparse_rows_after_a_dense_fit_and_dense_after_sparse(fit_format, estimator, make):
    # A dense fit centres the gate's columns: sparse rows reached the internal scaler,
    # which refused them in terms of its own parameters.
    X, y = make()
    model = estimator(n_experts=2, max_iter=5, random_state=0)
    model.fit(X if fit_format == "dense" else sp.csr_matrix(X), y)
    dense = _sparse_methods(model, X, y)
    for other in (sp.csr_matrix(X), sp.csc_matrix(X)):
        for name, value in _sparse_methods(model, other, y).items():
            assert_allclose(value, dense[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_sparse_rows_refused_in_skmoes_words_when_an_expert_needs_dense():
    X, y = make_switching_regression(200, 3, 2, random_state=0)
    model = MixtureOfExpertsRegressor(make_pipeline(StandardScaler(), LinearRegression()),
                                      n_experts=2, max_iter=3, random_state=0).fit(X, y)
    for method in (model.predict, model.predict_gate, lambda X: model.score_samples(X, y)):
        with pytest.raises(TypeError, match="X is a sparse matrix, but Pipeline needs dense "
                                            "input"):
            method(sp.csr_matrix(X))


# ------------------------------------------------ neighbours of issue 18's cases
def test_standard_deviation_far_from_the_training_rows_is_not_nan():
    # The law of total variance squared predictions of 1e300: inf, times the zero
    # weight of the gate's other expert, gave NaN.
    X, y = make_switching_regression(200, 3, 2, noise=0.2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=5, random_state=0).fit(X, y)
    far = X * 1e300
    gate = model.predict_gate(far)
    assert np.all(gate.max(axis=1) == 1.0)
    mean, std = model.predict(far, return_std=True)
    assert_allclose(std, np.sqrt(model.noise_variance_)[gate.argmax(axis=1)], rtol=1e-12)
    # In range, the same standard deviation as the law of total variance gives.
    weights, predictions = model.predict_gate(X), np.column_stack(
        [expert.predict(X) for expert in model.experts_])
    mean, std = model.predict(X, return_std=True)
    expected = np.sqrt(np.sum(weights * (model.noise_variance_
                                         + (predictions - mean[:, None]) ** 2), axis=1))
    assert_allclose(std, expected, rtol=1e-12)


@on_both_estimators
def test_tiny_sample_weights_fit_and_subnormal_ones_are_refused(estimator, make):
    # Weights of 5e-324 gave another model than weights of 1e-300 (the responsibilities
    # times the weights, subnormal, lost their digits), silently.
    X, y = make()
    method = "predict" if estimator is MixtureOfExpertsRegressor else "predict_proba"
    params = dict(n_experts=2, max_iter=5, random_state=0)
    tiny = estimator(**params).fit(X, y, sample_weight=np.full(X.shape[0], 1e-300))
    small = estimator(**params).fit(X, y, sample_weight=np.full(X.shape[0], 1e-100))
    # Beside weights this small the penalties dominate alike: the same model.
    assert_allclose(getattr(tiny, method)(X), getattr(small, method)(X), rtol=1e-9, atol=1e-12)
    message = r"sample_weight's largest value is 4.94e-324, less than 1e-300: the weights times"
    with pytest.raises(ValueError, match=message):
        estimator(**params).fit(X, y, sample_weight=np.full(X.shape[0], 5e-324))
    if estimator is MixtureOfExpertsRegressor:
        with pytest.raises(ValueError, match=message):
            MixtureOfExpertsRegressor(**params).partial_fit(
                X, y, sample_weight=np.full(X.shape[0], 5e-324))


@on_both_estimators
def test_weights_worth_fewer_rows_than_the_parameters_need_are_warned_about(estimator, make):
    # Weights summing to one on 200 rows fitted a model the penalties had pulled
    # towards the null one, without a word.
    X, y = make()
    params = dict(n_experts=2, random_state=0)
    relative = np.full(X.shape[0], 1.0 / X.shape[0])
    with pytest.warns(UserWarning, match="sample_weight sums to 1, fewer rows' worth than "
                                         "min_rows_per_parameter=3.0 times the") as caught:
        light = estimator(**params).fit(X, y, sample_weight=relative)
    message = next(str(w.message) for w in caught if "sample_weight sums" in str(w.message))
    assert f"times the {light._n_parameters()} parameters" in message
    assert f"though {X.shape[0]} rows have positive weight" in message
    # The warning is true: the penalties moved the model.
    unweighted = estimator(**params).fit(X, y)
    method = "predict" if estimator is MixtureOfExpertsRegressor else "predict_proba"
    assert np.abs(getattr(light, method)(X) - getattr(unweighted, method)(X)).max() > 0.05
    # Its advice gives the model of unit weights, silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        advised = estimator(**params).fit(
            X, y, sample_weight=relative * X.shape[0] / relative.sum())
        uneven = np.random.RandomState(0).uniform(0.5, 1.5, X.shape[0])
        estimator(**params).fit(X, y, sample_weight=uneven)
        # Weights below one on some rows, of rows enough for the parameters.
        estimator(**params).fit(X, y, sample_weight=uneven * 0.4)
        estimator(**params, min_rows_per_parameter=0).fit(X, y, sample_weight=relative)
    assert_allclose(getattr(advised, method)(X), getattr(unweighted, method)(X),
                    rtol=1e-9, atol=1e-12)


def test_nested_mixtures_fitted_on_responsibilities_do_not_warn_about_their_weights():
    # An inner mixture's weights are the outer responsibilities: not the user's.
    X, y = make_switching_regression(300, 3, 2, random_state=0)
    inner = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MixtureOfExpertsRegressor(n_experts=2, experts=inner, random_state=0,
                                  max_iter=20).fit(X, y)


@pytest.mark.parametrize("y_scale, fitted", [(1e160, False), (1e160, True), (1e-160, False)])
def test_partial_fit_refuses_targets_beyond_the_range_of_noise_variances(y_scale, fitted):
    # partial_fit skipped fit's check of y: a Gram-matrix error blaming collinear
    # columns (or, with one target of 1e300, an OverflowError) came instead.
    X, y = make_switching_regression(200, 3, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    if fitted:
        model.fit(X, y)
    with pytest.raises(ValueError, match=r"y has a weighted standard deviation of .*, outside "
                                         r"\[1e-152, 1e\+152\]"):
        model.partial_fit(X, y * y_scale)
    y[0] = 1e300
    with pytest.raises(ValueError, match="y has a weighted standard deviation of 7.05e\\+298"):
        MixtureOfExpertsRegressor(n_experts=2, random_state=0).partial_fit(X, y)


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_partial_fit_is_feature_scale_equivariant_and_refuses_columns_it_cannot_square(scale):
    # Columns of 1e160 ended in a Gram-matrix error blaming collinear columns; columns
    # of 1e-160 gave another model, silently (their squares lost their digits).
    X, y = make_switching_regression(200, 3, 2, noise=0.2, random_state=0)
    batches = [slice(0, 100), slice(100, 200)]
    base = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    scaled = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    for rows in batches:
        base.partial_fit(X[rows], y[rows])
        scaled.partial_fit(X[rows] * scale, y[rows])
    assert_allclose(scaled.predict(X * scale), base.predict(X), rtol=1e-9, atol=1e-12)
    beyond = np.array([1.0, scale * 1e-10 if scale < 1 else scale * 1e10, 1.0])
    with pytest.raises(ValueError, match=r"whose squares keep their digits for columns within "
                                         r"about 1e-150 to 1e150 in magnitude; the experts' "
                                         r"column 1 reaches"):
        MixtureOfExpertsRegressor(n_experts=2, random_state=0).partial_fit(X * beyond, y)
    # A fit on all the rows takes them.
    MixtureOfExpertsRegressor(n_experts=2, max_iter=3, random_state=0).fit(X * beyond, y)


@on_both_estimators
def test_warm_start_on_sparse_rows_after_a_dense_fit_resumes_as_on_dense_rows(estimator, make):
    # The resumed gate's centred scaler refused the sparse rows in its own words
    # ("Cannot center sparse matrices: pass `with_mean=False`").
    X, y = make()
    params = dict(n_experts=2, max_iter=3, warm_start=True, random_state=0)
    if estimator is MixtureOfExpertsRegressor:
        dense, sparse = estimator(**params).fit(X, y), estimator(**params).fit(X, y)
        dense.fit(X, y)
        sparse.fit(sp.csr_matrix(X), y)
        assert_allclose(sparse.predict(X), dense.predict(X), rtol=1e-8, atol=1e-10)
        assert_allclose(sparse.lower_bound_, dense.lower_bound_, rtol=1e-8)
        return
    # Logistic experts on sparse rows are fitted by LogisticRegression itself, the
    # dense ones by Newton's M-step: the same fixed point by another path, reached
    # to a tight tolerance (as in the sparse test above).
    params["experts"] = LogisticRegression(tol=1e-10, max_iter=10_000)
    dense, sparse = estimator(**params).fit(X, y), estimator(**params).fit(X, y)
    dense.set_params(max_iter=500, tol=1e-12).fit(X, y)
    sparse.set_params(max_iter=500, tol=1e-12).fit(sp.csr_matrix(X), y)
    assert dense.converged_ and sparse.converged_
    assert_allclose(sparse.score_samples(X, y), dense.score_samples(X, y), rtol=1e-4,
                    atol=1e-4)


@pytest.mark.parametrize("start", ["fit", "partial_fit"])
def test_partial_fit_warns_about_the_parameters_it_ignores(start):
    # A batch continues the fitted model: n_experts and the experts changed since were
    # ignored silently (warm_start warned about the same changes).
    X, y = make_switching_regression(200, 3, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, random_state=0)
    getattr(model, start)(X[:100], y[:100])
    with warnings.catch_warnings():
        # Unchanged parameters (and init, which a stream does not use): no warning.
        warnings.filterwarnings("error", message="partial_fit continues")
        model.set_params(init="random", n_init=2).partial_fit(X[100:], y[100:])
    model.set_params(n_experts=3, gate_features=[0])
    with pytest.warns(UserWarning, match=r"partial_fit continues the fitted model, which keeps "
                                         r"its experts, gate and columns: n_experts=3 \(fitted "
                                         r"with 2\), gate_features changed since it was fitted "
                                         r"and are ignored. Call fit to fit anew"):
        model.partial_fit(X[100:], y[100:])
    assert model.n_experts_ == 2
    assert_array_equal(model.gate_features_, [0, 1, 2])


@pytest.mark.parametrize("params", [{}, {"max_iter": 1}, {"noise": "student_t"},
                                    {"experts": LinearRegression()}],
                         ids=["default", "one iteration", "student_t", "least squares"])
def test_one_far_row_of_X_is_refused_in_skmoes_words(params):
    # One value of 1e300 among ordinary ones: the out-of-fold prediction at that row
    # squared to inf, the noise variance became inf or NaN, and the fit ended in
    # "Sample weights must contain at least one non-zero number" (a KeyError with
    # Student t noise), or with max_iter=1 returned a model with NaN noise.
    X, y = make_switching_regression(200, 3, 2, noise=0.2, random_state=0)
    X[0, 1] = 1e300
    with pytest.raises(ValueError, match=r"The squared residuals of expert \d \(\w+\) overflow "
                                         r"float64, so its noise scale is not a number. A row "
                                         r"of X far from the others"):
        MixtureOfExpertsRegressor(**{"n_experts": 2, "max_iter": 5, "random_state": 0,
                                     **params}).fit(X, y)


@pytest.mark.parametrize("value", [1e300, -1e-300, 7.0])
def test_a_constant_column_of_any_magnitude_leaves_the_model_unchanged(value):
    # ScaledRidge centred a constant column of 1e300 on its rounded mean, 1e284 off,
    # whose squares overflowed: "ScaledRidge could not solve its penalised normal
    # equations" (scikit-learn's Ridge fails on it too).
    X, y = make_switching_regression(200, 3, 2, noise=0.2, random_state=0)
    params = dict(n_experts=2, max_iter=5, random_state=0)
    base = MixtureOfExpertsRegressor(**params).fit(X, y)
    wide = np.c_[X, np.full(200, value)]
    model = MixtureOfExpertsRegressor(**params).fit(wide, y)
    assert_allclose(model.predict(wide, return_std=True), base.predict(X, return_std=True),
                    rtol=1e-9, atol=1e-12)
    # Zero (to rounding, for the Gram matrices' path taken at ordinary magnitudes).
    assert_allclose([expert.coef_[3] * value for expert in model.experts_], 0.0, atol=1e-20)


@pytest.mark.parametrize("change", ["all columns * 1e200", "one value of 1e300",
                                    "a constant column of 1e300"])
def test_classifier_refuses_columns_its_logistic_experts_cannot_square(change, monkeypatch):
    # They ended in "LinAlgError: Eigenvalues did not converge" from the Newton M-step.
    X, y = make_gated_classification(200, 3, 2, 3, random_state=0)
    if change == "all columns * 1e200":
        X, column, value = X * 1e200, 0, "2.41e\\+200"
    elif change == "one value of 1e300":
        X[0, 1], column, value = 1e300, 1, "1e\\+300"
    else:
        X, column, value = np.c_[X, np.full(200, 1e300)], 3, "1e\\+300"
    monkeypatch.setattr(LogisticRegression, "fit", _forbidden)
    with pytest.raises(ValueError, match=f"LogisticRegression experts fit the columns in their "
                                         f"own units, and their Hessians square them: the "
                                         f"experts' column {column} reaches {value}, beyond "
                                         f"about 1e150"):
        MixtureOfExpertsClassifier(LogisticRegression(), n_experts=2, max_iter=5,
                                   random_state=0).fit(X, y)
    monkeypatch.undo()
    # Columns the experts do not see (the gate standardises its own) are taken.
    gate_only = [column] if change != "all columns * 1e200" else [0, 1, 2]
    experts_see = [j for j in range(X.shape[1]) if j not in gate_only] or None
    if experts_see is not None:
        model = MixtureOfExpertsClassifier(LogisticRegression(), n_experts=2, max_iter=5,
                                           expert_features=experts_see,
                                           random_state=0).fit(X, y)
        assert np.all(np.isfinite(model.predict_proba(X)))


@pytest.mark.parametrize("value", [1e300, 7.0])
def test_a_constant_sparse_column_leaves_scaled_ridge_experts_unchanged(value):
    # The sparse normal equations subtract the means' outer product: for a constant
    # column of 1e300, inf - inf ("ScaledRidge could not solve its penalised normal
    # equations"). The gate is kept off the column: sparse gate columns are not
    # centred, so a constant one acts as a second, penalised intercept.
    X, y = make_switching_regression(200, 3, 2, noise=0.2, random_state=0)
    params = dict(n_experts=2, max_iter=5, gate_features=[0, 1, 2], random_state=0)
    base = MixtureOfExpertsRegressor(**params).fit(sp.csr_matrix(X), y)
    wide = np.c_[X, np.full(200, value)]
    model = MixtureOfExpertsRegressor(**params).fit(sp.csr_matrix(wide), y)
    assert_allclose(model.predict(wide, return_std=True), base.predict(X, return_std=True),
                    rtol=1e-9, atol=1e-12)
    assert [expert.coef_[3] for expert in model.experts_] == [0.0, 0.0]


def test_regressor_score_of_a_huge_target_is_its_r2_not_nan():
    # R² from r2_score in y's units: a held-out y of 1e300 squared to inf, and
    # inf / inf gave NaN. One such row among n: R² = 1 - n / (n - 1) to first order.
    from sklearn.metrics import r2_score

    X, y = make_switching_regression(200, 3, 2, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert model.score(X, y) == r2_score(y, model.predict(X))
    weights = np.random.RandomState(0).uniform(0.5, 2.0, 200)
    assert model.score(X, y, sample_weight=weights) == r2_score(
        y, model.predict(X), sample_weight=weights)
    huge = y.copy()
    huge[0] = 1e300
    unit = 2.0**997
    expected = r2_score(huge / unit, model.predict(X) / unit)
    assert model.score(X, huge) == expected
    assert expected == pytest.approx(1 - 200 / 199, rel=1e-12)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        model.score(X, np.where(np.arange(200) == 3, np.nan, y))


@pytest.mark.parametrize("value", [0.1, 1.0, 3.0])
def test_a_constant_column_leaves_unpenalised_least_squares_experts_unchanged(value):
    # Centring a constant column in an expert's Gram matrix left a residue of
    # rounding errors, which the standardised normal equations took for a column:
    # LinearRegression(tol=0.0) experts got coefficients near 1e14 on it and its
    # intercept, predictions 0.06 off and a lower bound 0.01 nats per row lower.
    X, y = make_switching_regression(200, 2, 2, random_state=0)
    params = dict(experts=LinearRegression(tol=0.0), n_experts=2, random_state=0)
    base = MixtureOfExpertsRegressor(**params).fit(X, y)
    wide = np.c_[X, np.full(200, value)]
    model = MixtureOfExpertsRegressor(**params).fit(wide, y)
    assert_allclose(model.predict(wide, return_std=True), base.predict(X, return_std=True),
                    rtol=1e-9, atol=1e-12)
    assert model.lower_bound_ == pytest.approx(base.lower_bound_, rel=1e-9)
    assert all(np.abs(expert.coef_).max() < 10 for expert in model.experts_)
