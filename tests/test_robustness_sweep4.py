"""Bad input through further doors: the bootstrap's parameters, a warm start's label
types, Dask DataFrames, experts' predictions, predict_cdf and the command line's
options (docs/robustness.rst)."""

import re

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.__main__ import main
from skmoe.datasets import make_switching_regression
from skmoe.inspection import report, standard_errors

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    X, y = make_switching_regression(60, 3, 2, noise=0.2, random_state=0)
    return X, y, X[:, 0] > 0


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _ = data
    return MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, max_iter=5,
                                     random_state=0).fit(X, y)


# ------------------------------------------------------------ the bootstrap
@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_standard_errors_check_n_jobs_as_the_estimators_do(data, fitted, n_jobs):
    # 0 ended in joblib's "n_jobs == 0 in Parallel has no meaning"; 1.5 was blamed
    # on the refits ("Only 0 of 3 bootstrap refits kept all 2 experts").
    X, y, _ = data
    message = ("The 'n_jobs' parameter of standard_errors must be None, an int in the range "
               f"(-inf, -1] or an int in the range [1, inf). Got {n_jobs!r} instead.")
    for method in ("information", "bootstrap"):
        with pytest.raises(ValueError) as error:
            standard_errors(fitted, X, y, method=method, n_bootstrap=3, n_jobs=n_jobs)
        assert str(error.value) == message
    with pytest.raises(ValueError, match=re.escape(message)):
        report(fitted, X, y, method="bootstrap", n_bootstrap=3, n_jobs=n_jobs)


def test_standard_errors_check_random_state_before_any_refit(data, fitted):
    X, y, _ = data
    with pytest.raises(ValueError, match=re.escape(
            "The 'random_state' parameter of standard_errors must be an int in the range "
            "[0, 4294967295], an instance of 'numpy.random.mtrand.RandomState' or None. Got "
            "-1 instead.")):
        standard_errors(fitted, X, y, method="information", random_state=-1)


# ------------------------------------------------------- a warm start's labels
@pytest.mark.parametrize("first, second, kinds", [
    (lambda b: b, lambda b: b.astype(int), ("booleans", "[False, True]", "integers")),
    (lambda b: b.astype(int), lambda b: b.astype(float), ("integers", "[0, 1]", "floats")),
    (lambda b: b.astype(int), lambda b: b, ("integers", "[0, 1]", "booleans")),
])
def test_a_warm_start_refuses_equal_labels_of_another_type(data, first, second, kinds):
    # True == 1 and 1 == 1.0: the refit replaced classes_, and predict returned
    # integers (or floats) where it had returned booleans (or integers).
    X, _, labels = data
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=3,
                                       warm_start=True, random_state=0).fit(X, first(labels))
    before = model.predict(X)
    fitted, classes, given = kinds
    with pytest.raises(TypeError) as error:
        model.fit(X, second(labels))
    assert str(error.value) == (
        f"warm_start resumes the fitted model, whose classes are {fitted} ({classes}); y "
        f"holds {given}. Equal values of another type would change the type of the predicted "
        "classes: give labels of the fitted type, or set warm_start=False to fit anew.")
    assert model.predict(X).dtype == before.dtype
    assert_array_equal(model.predict(X), before)


def test_a_warm_start_takes_labels_of_the_same_type_in_another_container(data):
    X, _, labels = data
    words = np.where(labels, "yes", "no")
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, warm_start=True,
                                       random_state=0).fit(X, list(words))
    model.fit(X, pd.Series(words, dtype=object))
    model.fit(X, pd.Categorical(words))
    assert model.classes_.tolist() == ["no", "yes"]
    integers = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, warm_start=True,
                                          random_state=0).fit(X, labels.astype(np.int64))
    integers.fit(X, labels.astype(np.int32))
    assert integers.classes_.tolist() == [0, 1]


# --------------------------------------------------------- experts' predictions
class _Predicts(RegressorMixin, BaseEstimator):
    """An expert whose predictions are made by ``make(X)``."""

    def __init__(self, make=None):
        self.make = make

    def fit(self, X, y, sample_weight=None):
        self.fitted_ = True
        return self

    def predict(self, X):
        return self.make(X)


@pytest.mark.parametrize("make, error, message", [
    (lambda X: np.zeros((X.shape[0], 2)), ValueError,
     "Expert 0 (_Predicts) returned predictions of shape (60, 2) for 60 rows; an expert of "
     "the regressor must predict one number per row."),
    (lambda X: np.zeros(X.shape[0] - 1), ValueError,
     "Expert 0 (_Predicts) returned predictions of shape (59,) for 60 rows; an expert of the "
     "regressor must predict one number per row."),
    (lambda X: np.array(["a"] * X.shape[0]), TypeError,
     "Expert 0 (_Predicts) returned predictions that are not numbers: <U1 values."),
])
def test_an_expert_that_predicts_other_than_a_number_per_row_is_named(data, make, error,
                                                                     message):
    # NumPy's "could not broadcast input array from shape (120,) into shape (60,)"
    # and "could not convert string to float" named no expert.
    X, y, _ = data
    with pytest.raises(error) as raised:
        MixtureOfExpertsRegressor([_Predicts(make), LinearRegression()], max_iter=3,
                                  random_state=0).fit(X, y)
    assert str(raised.value) == message


def test_a_column_of_predictions_is_still_one_number_per_row(data):
    X, y, _ = data
    column = MixtureOfExpertsRegressor(
        [_Predicts(lambda X: np.ones((X.shape[0], 1))), LinearRegression()], max_iter=3,
        random_state=0).fit(X, y)
    flat = MixtureOfExpertsRegressor(
        [_Predicts(lambda X: np.ones(X.shape[0])), LinearRegression()], max_iter=3,
        random_state=0).fit(X, y)
    assert_array_equal(column.predict(X), flat.predict(X))


# ------------------------------------------------------------------ predict_cdf
@pytest.mark.parametrize("values", [
    np.arange(2).astype("datetime64[D]"),
    pd.Series(pd.date_range("2020-01-01", periods=2)),
    np.arange(2).astype("timedelta64[s]"),
])
def test_predict_cdf_refuses_dates_as_y(data, fitted, values):
    # Read as counts of days since 1970 (or of seconds): a CDF of 1 at every row.
    X, _, _ = data
    with pytest.raises(TypeError, match=r"^y holds (datetime|timedelta)64\[\w+\] values, "
                                        "which are not numbers"):
        fitted.predict_cdf(X[:2], values)


# ---------------------------------------------------------------- Dask frames
def _dask_frame(X, extra):
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["extra"] = extra
    return dd.from_pandas(frame, npartitions=2)


@pytest.mark.parametrize("extra, message", [
    (pd.date_range("2020-01-01", periods=60),
     "X's column 'extra' holds {dtype} values, which are not numbers"),
    (pd.period_range("2020-01", periods=60, freq="M"),
     "X's column 'extra' holds {dtype} values, which are not numbers"),
    (np.where(np.arange(60) % 2, "x", "y"),
     "X's column 'extra' holds {dtype} values; a fit on Dask collections needs numbers in "
     "every column. Encode that column as numbers, or leave it out."),
])
def test_a_fit_on_a_dask_frame_names_the_column_that_is_not_numbers(data, dask_client, extra,
                                                                   message):
    # "X must hold numbers, got a Dask array of dtype object" named no column.
    X, y, _ = data
    frame = _dask_frame(X, extra)
    message = message.format(dtype=frame.dtypes["extra"])
    model = MixtureOfExpertsRegressor(LinearRegression(), n_experts=2, max_iter=3)
    kind = ValueError if "Encode" in message else TypeError
    with pytest.raises(kind, match="^" + re.escape(message)):
        model.fit(frame, dd.from_pandas(pd.Series(y), npartitions=2))
    assert not hasattr(model, "experts_")


def test_a_fit_on_a_dask_frame_of_no_columns_is_refused_as_in_memory(data, dask_client):
    # It ended in numpy.linalg's "Arrays cannot be empty".
    X, y, _ = data
    frame = dd.from_pandas(pd.DataFrame(index=range(60)), npartitions=2)
    with pytest.raises(ValueError, match=re.escape(
            "Found array with 0 feature(s) (shape=(60, 0)) while a minimum of 1 is "
            "required.")):
        MixtureOfExpertsRegressor(LinearRegression(), n_experts=2).fit(
            frame, dd.from_pandas(pd.Series(y), npartitions=2))


# ---------------------------------------------------------------- command line
def _csv(tmp_path, data, index=False):
    X, y, _ = data
    path = tmp_path / "rows.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y}).to_csv(path, index=index)
    return path


def _run(capsys, path, *options):
    status = main(["compare", "--csv", str(path), "--target", "y", "--estimators", "linear",
                   "--cv", "2", "--quiet", *options])
    return status, capsys.readouterr()


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_the_command_line_refuses_seeds_numpy_cannot_take(tmp_path, data, capsys, seed):
    # They ended in a traceback of the estimators' parameter checks, status 1.
    with pytest.raises(SystemExit) as exit_:
        _run(capsys, _csv(tmp_path, data), "--seed", seed)
    assert exit_.value.code == 2
    assert (f"error: argument --seed: expected an integer from 0 to 4294967295, got {seed}"
            in capsys.readouterr().err)


def test_the_command_line_takes_the_largest_seed(tmp_path, data, capsys):
    status, captured = _run(capsys, _csv(tmp_path, data), "--seed", "4294967295")
    assert status == 0, captured.err


@pytest.mark.parametrize("options, message", [
    # pandas failed with a traceback on '' and read ',,' as a regular expression.
    (["--sep", ""], "--sep takes one character, got ''."),
    (["--sep", ",,"], "--sep takes one character, got ',,'."),
    (["--decimal", ""], "--decimal takes one character, got ''."),
    (["--sep", ",", "--decimal", ","], "--sep and --decimal are both ','; a CSV needs a column "
                                        "separator other than its decimal point."),
])
def test_the_command_line_refuses_separators_that_are_not_one_character(tmp_path, data,
                                                                        capsys, options,
                                                                        message):
    status, captured = _run(capsys, _csv(tmp_path, data), *options)
    assert status == 2
    assert captured.err == f"python -m skmoe compare: error: {message}\n"


@pytest.mark.parametrize("target", ["y", "Unnamed: 0"])
def test_the_command_line_refuses_a_column_without_a_name(tmp_path, data, capsys, target):
    # A DataFrame written with its index: the row numbers were fitted as a feature,
    # or (named as --target) taken as the target.
    path = _csv(tmp_path, data, index=True)
    status = main(["compare", "--csv", str(path), "--target", target, "--estimators",
                   "linear", "--cv", "2", "--quiet"])
    assert status == 2
    assert capsys.readouterr().err == (
        "python -m skmoe compare: error: rows.csv: column 1 has no name in the header (pandas "
        "calls it 'Unnamed: 0'), as when a DataFrame is written with its index (to_csv "
        "without index=False); a row index would be fitted as a feature. Name the column in "
        "the header, or leave it out.\n".replace("rows.csv", str(path)))


def test_the_command_line_checks_that_out_can_be_written_before_any_fit(tmp_path, data,
                                                                       capsys, monkeypatch):
    # Permission bits passed (as they do for root, or on a read-only file system):
    # the directory could not be made after every fit, and the results were lost.
    path = _csv(tmp_path, data)
    out = tmp_path / "results" / "run"

    def refuse(self, *args, **kwargs):
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr("pathlib.Path.mkdir", refuse)
    status, captured = _run(capsys, path, "--out", str(out))
    assert status == 2
    assert captured.out == ""
    assert captured.err == (f"python -m skmoe compare: error: --out {out}: cannot create or "
                            "write to that directory (Read-only file system).\n")
    monkeypatch.undo()
    status, captured = _run(capsys, path, "--out", str(out))
    assert status == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "results.md",
                                                     "results.png"]


def test_the_check_of_out_leaves_no_directory_behind(tmp_path, data, capsys):
    path = tmp_path / "rows.csv"
    path.write_text("a,b,y\n1,2,3\n", encoding="utf-8")  # one row: refused after --out
    out = tmp_path / "results" / "run"
    status, captured = _run(capsys, path, "--out", str(out))
    assert status == 2 and "has a single data row" in captured.err
    assert not (tmp_path / "results").exists()


# ------------------------------------------------------------- folds given as cv
_BAD_FOLDS = [
    ([(np.arange(40), np.arange(30, 60))],
     "cv's fold 0 has 10 row(s) in both its training and its test set (the first, row 30): "
     "a score on rows the model was fitted on is not a held-out score."),
    ([(np.arange(40), np.arange(40, 70))],
     "cv's fold 0 gives test rows outside 0 to 59, the rows of X (from 40 to 69)."),
    ([(np.arange(40) + 0.5, np.arange(40, 60))],
     "cv's fold 0 gives its training set as float64 values; give row indices (integers) or "
     "a boolean mask."),
    ([(np.arange(50) < 40, np.arange(50) >= 40)],
     "cv's fold 0 gives its training set as a boolean mask of shape (50,), but X has 60 "
     "rows."),
]


@pytest.mark.parametrize("cv, message", _BAD_FOLDS)
def test_compare_refuses_folds_that_are_not_held_out_rows_of_X(data, cv, message):
    # A row in both sets scored the model on rows it was fitted on, silently; an index
    # beyond the rows or a float failed in the first fit ("Estimator 'linear' failed on
    # fold 0: IndexError"), blamed on the estimator.
    from skmoe.compare import compare

    X, y, _ = data
    with pytest.raises(ValueError) as error:
        compare(X, y, {"linear": LinearRegression()}, cv=cv)
    assert str(error.value) == message


def test_compare_takes_folds_given_as_boolean_masks(data):
    from skmoe.compare import compare

    X, y, _ = data
    masks = compare(X, y, {"linear": LinearRegression()},
                    cv=[(np.arange(60) < 40, np.arange(60) >= 40)], scoring=["r2"])
    indices = compare(X, y, {"linear": LinearRegression()},
                      cv=[(np.arange(40), np.arange(40, 60))], scoring=["r2"])
    assert masks.loc["linear", "r2_mean"] == indices.loc["linear", "r2_mean"]


@pytest.mark.parametrize("cv, message", _BAD_FOLDS[:2])
def test_select_n_experts_checks_its_folds_before_any_fit(data, monkeypatch, cv, message):
    from skmoe.inspection import select_n_experts

    X, y, _ = data
    fits = []
    original = MixtureOfExpertsRegressor.fit
    monkeypatch.setattr(MixtureOfExpertsRegressor, "fit",
                        lambda self, *a, **k: fits.append(1) or original(self, *a, **k))
    with pytest.raises(ValueError) as error:
        select_n_experts(MixtureOfExpertsRegressor(LinearRegression(), max_iter=3), X, y,
                         n_experts=[1, 2], criterion="cv", cv=cv)
    assert str(error.value) == message
    assert fits == []


@pytest.mark.parametrize("weighted", [False, True])
def test_select_n_experts_scores_every_k_on_the_folds_of_a_generator(data, weighted):
    # The first K spent the generator: the next failed with "list index out of
    # range" (ZeroDivisionError with weights).
    from sklearn.model_selection import KFold

    from skmoe.inspection import select_n_experts

    X, y, _ = data
    estimator = MixtureOfExpertsRegressor(LinearRegression(), max_iter=5, random_state=0)
    weights = np.ones(len(y)) if weighted else None
    table = select_n_experts(estimator, X, y, n_experts=[1, 2], criterion="cv",
                             cv=KFold(3).split(X), sample_weight=weights)[0]
    listed = select_n_experts(estimator, X, y, n_experts=[1, 2], criterion="cv",
                              cv=list(KFold(3).split(X)), sample_weight=weights)[0]
    assert_array_equal(table["cv"], listed["cv"])
    assert np.isfinite(table["cv"]).all()


# ------------------------------------------------------- experts' and gate's params
@pytest.mark.parametrize("params", [{"C": -1.0}, {"C": np.nan}, {"solver": "newton-cg"},
                                    {"max_iter": -1}, {"tol": np.nan}])
def test_a_softmax_gate_s_parameters_are_checked_before_any_work(data, params):
    # Never checked in a mixture: C=-1 was fitted as a negative penalty without a
    # word, C=nan failed in an eigenvalue routine ("Eigenvalues did not converge").
    from sklearn.linear_model import SGDRegressor

    from skmoe import SoftmaxGate

    X, y, _ = data
    name = next(iter(params))
    pattern = re.escape(f"gate (SoftmaxGate): The '{name}' parameter of SoftmaxGate must be ")
    gate = SoftmaxGate(**params)
    for fit in (lambda: MixtureOfExpertsRegressor(n_experts=2, gate=gate).fit(X, y),
                lambda: MixtureOfExpertsRegressor(SGDRegressor(), n_experts=2,
                                                  gate=gate).partial_fit(X, y),
                lambda: MixtureOfExpertsClassifier(n_experts=2, gate=gate).fit(X, data[2])):
        with pytest.raises(ValueError, match="^" + pattern):
            fit()


def test_an_expert_s_parameters_are_checked_before_any_work(data, monkeypatch):
    # Its own fit refused them in the first M-step, after the start's k-means, as a
    # RuntimeError ("Expert 0 (Ridge) failed to fit at EM iteration 1: ...").
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import skmoe._base

    X, y, labels = data
    starts = []
    monkeypatch.setattr(skmoe._base, "initial_responsibilities",
                        lambda *a, **k: starts.append(1) / 0)
    cases = [
        (MixtureOfExpertsRegressor([LinearRegression(), Ridge(alpha=-1.0)]), y,
         "expert 1 (Ridge): The 'alpha' parameter of Ridge must be a float in the range "
         "[0.0, inf) or an array-like. Got -1.0 instead."),
        (MixtureOfExpertsRegressor(make_pipeline(StandardScaler(), Ridge(alpha=np.nan)),
                                   n_experts=2), y,
         "expert 0 (Pipeline): The 'alpha' parameter of Ridge must be a float in the range "
         "[0.0, inf) or an array-like. Got nan instead."),
        (MixtureOfExpertsClassifier(LogisticRegression(C=0.0), n_experts=2), labels,
         "expert 0 (LogisticRegression): The 'C' parameter of LogisticRegression must be a "
         "float in the range (0.0, inf]. Got 0.0 instead."),
    ]
    for model, target, message in cases:
        with pytest.raises(ValueError) as error:
            model.fit(X, target)
        assert str(error.value) == message
        assert not hasattr(model, "experts_")
    assert starts == []


# ----------------------------------------------------- experts' own requirements
@pytest.mark.parametrize("make", ["SVR", "NuSVR"])
def test_experts_that_need_contiguous_weights_fit_on_their_weights(data, make):
    # One column of the weights is a strided view: libsvm's fit refused it
    # ("ndarray is not C-contiguous"), and the mixture blamed the expert.
    from sklearn import svm

    X, y, _ = data
    init = np.random.RandomState(0).dirichlet([1, 1], size=len(y))
    model = MixtureOfExpertsRegressor(getattr(svm, make)(), n_experts=2, init=init,
                                      max_iter=1, noise_variance="in_sample").fit(X, y)
    # The first M-step fits each expert on its column of the start's responsibilities.
    for k in range(2):
        alone = getattr(svm, make)().fit(X, y, sample_weight=init[:, k].copy())
        assert_array_equal(model.experts_[k].predict(X), alone.predict(X))


class _Proba(ClassifierMixin, BaseEstimator):
    """A classifier expert whose probabilities are made by ``make(X)``."""

    def __init__(self, make=None):
        self.make = make

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return self.make(X)


@pytest.mark.parametrize("make, message", [
    (lambda X: np.ones((X.shape[0], 1)),
     "Expert 0 (_Proba) returned probabilities of shape (60, 1); expected (60, 2), one column "
     "per class of its classes_ for each row."),
    (lambda X: np.tile([-0.5, 1.5], (X.shape[0], 1)),
     "Expert 0 (_Proba) returned probabilities that are negative or do not sum to 1 over the "
     "classes of a row."),
    (lambda X: np.full((X.shape[0], 2), 0.9),
     "Expert 0 (_Proba) returned probabilities that are negative or do not sum to 1 over the "
     "classes of a row."),
])
def test_a_classifier_expert_s_probabilities_must_be_probabilities(data, make, message):
    # One column for two classes was read as probability 1 of each class; negative
    # values gave predict_proba values below 0 and above 1, silently.
    from sklearn.linear_model import LogisticRegression

    X, _, labels = data
    with pytest.raises(ValueError) as error:
        MixtureOfExpertsClassifier([_Proba(make), LogisticRegression()], max_iter=3,
                                   random_state=0).fit(X, labels)
    assert str(error.value) == message


# ------------------------------------------------------------- Poisson experts
@pytest.fixture(scope="module")
def poisson_model(data):
    from sklearn.linear_model import PoissonRegressor

    X, _, _ = data
    counts = np.random.RandomState(0).poisson(np.exp(0.5 * X[:, 0])).astype(np.float64)
    model = MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2, max_iter=20,
                                      random_state=0).fit(X, counts)
    return model, X


def test_the_crps_of_poisson_experts_is_the_sum_over_the_integers(poisson_model):
    model, X = poisson_model
    rows = X[:3]
    y = np.array([0.0, 3.0, 200.0])
    # By hand: the sum over j of (F(j) - 1{j >= y})^2, far past where F reaches 1.
    j = np.arange(1000.0)
    by_hand = [np.sum((model.predict_cdf(np.repeat(rows[[i]], j.size, axis=0), j)
                       - (j >= y[i])) ** 2) for i in range(3)]
    np.testing.assert_allclose(model.crps_samples(rows, y), by_hand, rtol=1e-11)


def test_the_crps_of_a_count_far_from_the_poisson_mean_is_its_distance(poisson_model):
    # Summed one integer at a time: 100 s for a count of 1e9, and beyond 2**63 the
    # count of integers overflowed int64, which gave a CRPS of 0, silently.
    model, X = poisson_model
    rows = np.repeat(X[:1], 3, axis=0)
    y = np.array([1000.0, 1e19, 1e300])
    scores = model.crps_samples(rows, y)
    # Past the distribution's top, each further integer adds one to the score.
    np.testing.assert_allclose(scores - scores[0], y - y[0], rtol=1e-12)


def test_the_poisson_family_does_not_blame_poisson_regressor_for_another_expert(data):
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, _, _ = data
    model = MixtureOfExpertsRegressor(
        HistGradientBoostingRegressor(loss="poisson", max_iter=5), n_experts=2)
    with pytest.raises(ValueError) as error:
        model.fit(X, -np.ones(len(X)))
    assert str(error.value) == ("y must hold non-negative integers for the Poisson family "
                                "of the experts (PoissonRegressor, or a Poisson loss); got "
                                "np.float64(-1.0).")


# ------------------------------------------------------------ bools for numbers
@pytest.mark.parametrize("estimator", [MixtureOfExpertsRegressor, MixtureOfExpertsClassifier])
@pytest.mark.parametrize("name, value", [
    ("n_experts", True), ("n_init", True), ("max_iter", True), ("tol", True),
    ("min_rows_per_parameter", False), ("n_jobs", True), ("random_state", True),
    ("top_k", True), ("min_expert_weight", False),
])
def test_a_bool_for_a_numeric_parameter_is_refused(data, estimator, name, value):
    # scikit-learn's constraints take True for 1: n_experts=True fitted one expert,
    # max_iter=True one iteration, tol=True a tolerance of 1, without a word.
    X, y, labels = data
    model = estimator(**{name: value})
    with pytest.raises(ValueError) as error:
        model.fit(X, labels if estimator is MixtureOfExpertsClassifier else y)
    assert str(error.value) == (
        f"The {name!r} parameter of {estimator.__name__} must not be a bool ({value!r} would "
        f"be taken as {int(value)}); give a number.")


@pytest.mark.parametrize("name", ["C", "max_iter", "tol"])
def test_a_softmax_gate_refuses_a_bool_for_a_number_alone_and_in_a_mixture(data, name):
    from skmoe import SoftmaxGate

    X, y, labels = data
    message = (f"The {name!r} parameter of SoftmaxGate must not be a bool (True would be "
               "taken as 1); give a number.")
    with pytest.raises(ValueError) as error:
        SoftmaxGate(**{name: True}).fit(X, labels)
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        MixtureOfExpertsRegressor(n_experts=2, gate=SoftmaxGate(**{name: True})).fit(X, y)
    assert str(error.value) == f"gate (SoftmaxGate): {message}"


def test_bools_stay_valid_where_they_are_the_parameter_s_type(data):
    X, y, _ = data
    MixtureOfExpertsRegressor(n_experts=2, max_iter=2, verbose=False, warm_start=True,
                              random_state=0).fit(X, y)


# ------------------------------------------------------------------- Displays
def test_expert_fit_display_refuses_dates_as_y(data, fitted):
    # Read as counts of days, and the responsibilities computed from them, silently.
    import matplotlib

    matplotlib.use("Agg")
    from skmoe.plotting import ExpertFitDisplay

    X, _, _ = data
    with pytest.raises(TypeError, match=re.escape(
            "y holds datetime64[D] values, which are not numbers")):
        ExpertFitDisplay.from_estimator(fitted, X, np.arange(60).astype("datetime64[D]"))


def test_displays_refuse_tables_without_rows(data, fitted):
    # An empty selection table failed in NumPy's indexing; an empty comparison
    # drew an empty chart.
    import matplotlib

    matplotlib.use("Agg")
    from skmoe.compare import compare
    from skmoe.inspection import select_n_experts
    from skmoe.plotting import ComparisonDisplay, SelectionDisplay

    X, y, _ = data
    table = select_n_experts(MixtureOfExpertsRegressor(LinearRegression(), max_iter=3), X, y,
                             n_experts=[1, 2])[0]
    with pytest.raises(ValueError, match=re.escape("table has no row marked best")):
        SelectionDisplay.from_results(table.iloc[:0])
    results = compare(X, y, {"linear": LinearRegression()}, cv=3)
    with pytest.raises(ValueError, match=re.escape("results has no rows: there is no "
                                                   "estimator to draw.")):
        ComparisonDisplay.from_results(results.iloc[:0])


# ------------------------------------------------------- float32 readers (trees)
@pytest.mark.parametrize("scale, becomes", [(1e-45, "subnormal numbers or 0"), (1e50, "inf")])
@pytest.mark.parametrize("estimator, make", [
    (MixtureOfExpertsRegressor, "DecisionTreeRegressor"),
    (MixtureOfExpertsRegressor, "RandomForestRegressor"),
    (MixtureOfExpertsClassifier, "DecisionTreeClassifier"),
])
def test_tree_experts_refuse_columns_float32_cannot_hold(data, scale, becomes, estimator,
                                                         make):
    # scikit-learn's trees read X as float32: a feature times 1e-45 became zeros and a
    # mixture of trees fitted without it (R² 0.91 to 0.40), silently; times 1e50 the
    # trees' fit failed, blamed on the expert at EM iteration 1.
    from sklearn import ensemble, tree

    X, y, labels = data
    X = X.copy()
    X[:, 1] *= scale
    module = tree if "Tree" in make and "Forest" not in make else ensemble
    expert = getattr(module, make)(max_depth=2)
    model = estimator(expert, n_experts=2, max_iter=3)
    with pytest.raises(ValueError) as error:
        model.fit(X, labels if estimator is MixtureOfExpertsClassifier else y)
    assert str(error.value) == (
        f"Expert 0 ({make}) reads X as float32, as scikit-learn's trees do, whose numbers "
        "span about 1.2e-38 to 3.4e+38 in magnitude; the experts' column 1 reaches "
        f"{np.abs(X[:, 1]).max():.3g}, and its values would become {becomes}. Multiply or "
        "divide that column by a constant (a tree's splits do not depend on its scale), or "
        "use other experts.")


def test_tree_experts_behind_a_scaler_take_any_scale(data):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    X, y, _ = data
    expert = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=2))
    plain = MixtureOfExpertsRegressor(expert, n_experts=2, max_iter=3, random_state=0)
    tiny = MixtureOfExpertsRegressor(expert, n_experts=2, max_iter=3, random_state=0)
    plain.fit(X, y)
    tiny.fit(X * [1, 1e-45, 1], y)
    np.testing.assert_allclose(tiny.predict(X * [1, 1e-45, 1]), plain.predict(X), rtol=1e-9)


@pytest.mark.parametrize("scale, estimators, message", [
    (1e50, ["tree"], "outside about [1.2e-38, 3.4e+38]: tree read X as float32"),
    (1e-45, ["linear", "tree"], "outside about [1.2e-38, 3.4e+38]: tree read X as float32"),
    (1e200, ["linear", "moe_linear"], "outside about [3.1e-151, 3.3e+150]: linear, moe_linear "
                                      "standardise X, squaring its columns"),
])
def test_the_command_line_refuses_columns_its_estimators_cannot_fit(tmp_path, data, capsys,
                                                                   scale, estimators,
                                                                   message):
    # A tree's R² fell from 0.93 to -0.34 on a feature times 1e-45, silently; beyond
    # float32 the trees failed (exit status 1, blaming them), beyond 1e154 the scaler
    # gave NaN ("Estimator 'linear' failed on fold 0: Input X contains NaN").
    X, y, _ = data
    path = tmp_path / "scaled.csv"
    pd.DataFrame({"a": X[:, 0] * scale, "b": X[:, 1], "y": y}).to_csv(path, index=False)
    status = main(["compare", "--csv", str(path), "--target", "y", "--estimators",
                   *estimators, "--cv", "2", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert (f"scaled.csv: column 'a' reaches {np.abs(X[:, 0] * scale).max():.3g} in "
            "magnitude, ") in err
    assert message in err and "Multiply or divide that column by a constant" in err
    status = main(["compare", "--csv", str(path), "--target", "y", "--estimators",
                   "hist_gradient_boosting", "--cv", "2", "--quiet"])
    assert status == 0


def test_compare_with_its_default_estimators_refuses_columns_they_cannot_fit(data):
    from skmoe.compare import compare

    X, y, _ = data
    with pytest.raises(ValueError) as error:
        compare(X * [1, 1e-45, 1], y, cv=2)
    assert str(error.value) == (
        f"X's column 1 reaches {np.abs(X[:, 1] * 1e-45).max():.3g} in magnitude, outside "
        "about [1.2e-38, 3.4e+38]: tree, bagged_trees, random_forest, adaboost, "
        "gradient_boosting, stacking, moe_trees read X as float32, and would not fit it. "
        "Multiply or divide that column by a constant, or leave those estimators out.")


@pytest.mark.parametrize("call, message", [
    (lambda: __import__("skmoe.datasets").datasets.make_switching_regression(n_features=True),
     "The 'n_features' parameter of make_switching_regression must not be a bool"),
    (lambda: __import__("skmoe.datasets").datasets.load_dataset("switching_regression",
                                                                 n_samples=True),
     "The 'n_samples' parameter of load_dataset must not be a bool"),
    (lambda: __import__("skmoe.compare").compare.default_baselines("regression",
                                                                    n_experts=True),
     "The 'n_experts' parameter of default_baselines must not be a bool"),
])
def test_public_functions_refuse_a_bool_for_a_number(call, message):
    # make_switching_regression(n_features=True) made one feature, without a word.
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        call()


def test_standard_errors_refuse_a_bool_for_n_jobs(data, fitted):
    X, y, _ = data
    with pytest.raises(ValueError, match=re.escape(
            "The 'n_jobs' parameter of standard_errors must not be a bool (True would be "
            "taken as 1); give a number.")):
        standard_errors(fitted, X, y, method="bootstrap", n_bootstrap=3, n_jobs=True)


class _Mean(RegressorMixin, BaseEstimator):
    """The training mean, without a return_std."""

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(np.shape(X)[0], self.mean_)


def test_compare_gives_dummy_regressor_the_out_of_fold_variance(data):
    # Its predict takes return_std and gives zeros: a Gaussian of no width, whose
    # held-out log-likelihood was -1e300 per row.
    from sklearn.dummy import DummyRegressor

    from skmoe.compare import compare

    X, y, _ = data
    results = compare(X, y, {"dummy": DummyRegressor(), "mean": _Mean()}, cv=3,
                      scoring=["log_likelihood"])
    assert results.loc["dummy", "density"] == "Gaussian, out-of-fold residuals"
    np.testing.assert_allclose(results.loc["dummy", "log_likelihood_mean"],
                               results.loc["mean", "log_likelihood_mean"], rtol=1e-12)
    assert results.attrs["fold_scores"]["dummy"]["log_likelihood"] == \
        results.attrs["fold_scores"]["mean"]["log_likelihood"]


def test_report_names_an_unknown_bootstrap_parameter_itself(data, fitted):
    X, y, _ = data
    with pytest.raises(TypeError) as error:
        report(fitted, X, y, method="bootstrap", n_boot=3)
    assert str(error.value) == ("report got unexpected keyword argument(s) ['n_boot']; the "
                                "bootstrap's are n_bootstrap, confidence, n_jobs, "
                                "random_state.")


# ------------------------------------------------------------------ constant y
@pytest.mark.parametrize("noise", ["gaussian", "student_t", "laplace"])
def test_a_constant_target_gives_the_model_of_its_magnitude(data, noise):
    # The weighted mean of a constant rounds: its spread came out near 1e-16 of the
    # value, not 0, so a constant y of 0.1 had noise floors 1e13 times tighter than
    # one of 3 (the standard deviation 4e-20 against 0.003), and a constant of 1e160
    # passed the check of y's scale (its noise in the units of the rounding, with
    # "invalid value" warnings).
    X, _, _ = data
    stds, densities = [], []
    for value in (3.0, 0.1, 1e-100, 1e100):
        model = MixtureOfExpertsRegressor(n_experts=2, noise=noise, max_iter=5,
                                          random_state=0).fit(X, np.full(len(X), value))
        mean, std = model.predict(X[:3], return_std=True)
        np.testing.assert_allclose(mean, value, rtol=1e-12)
        stds.append(std / value)
        densities.append(model.score_samples(X[:3], np.full(3, value)) + np.log(value))
    for std, density in zip(stds[1:], densities[1:]):
        np.testing.assert_allclose(std, stds[0], rtol=1e-9)
        np.testing.assert_allclose(density, densities[0], rtol=1e-9)


def test_a_constant_target_beyond_the_noise_variances_range_is_refused_as_constant(data):
    X, _, _ = data
    with pytest.raises(ValueError) as error:
        MixtureOfExpertsRegressor(n_experts=2).fit(X, np.full(len(X), 1e160))
    assert str(error.value) == (
        "y is 1e+160 on every row of positive weight, a magnitude outside [1e-152, 1e+152]: "
        "the experts' noise variances, in units of y squared, and their floors would not be "
        "float64 numbers. Divide y by 1e160 and multiply the predictions back.")


@pytest.mark.parametrize("estimator, make, method", [
    (MixtureOfExpertsRegressor, "KNeighborsRegressor", "predict"),
    (MixtureOfExpertsClassifier, "KNeighborsClassifier", "predict_proba"),
])
def test_an_expert_that_fails_to_predict_is_named(data, estimator, make, method):
    # A k-NN expert asked for more neighbours than its rows fits, then fails to
    # predict: its error named no expert.
    from sklearn import neighbors

    X, y, labels = data
    model = estimator(getattr(neighbors, make)(n_neighbors=5), n_experts=2, max_iter=3,
                      random_state=0)
    target = (labels if estimator is MixtureOfExpertsClassifier else y)[:4]
    with pytest.raises(ValueError) as error:
        model.fit(X[:4], target)
    assert str(error.value) == (
        f"Expert 0 ({make}) failed in {method}: Expected n_neighbors <= n_samples_fit, but "
        "n_neighbors = 5, n_samples_fit = 4, n_samples = 4")
    assert type(error.value.__cause__) is ValueError


def test_a_single_value_for_y_is_refused_naming_y(data):
    # check_array let a scalar through to _num_samples, whose TypeError ("Input should
    # have at least 1 dimension") named no argument.
    from skmoe.metrics import crps, mean_log_likelihood

    X, y, labels = data
    expected = ("y must hold one value per row of X (an array of shape (n_samples,)); got "
                "the single value 1.0.")
    regressor = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    classifier = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, labels)
    calls = [getattr(model, method) for model in (regressor, classifier)
             for method in ("score", "score_samples", "log_likelihood", "bic", "aic")]
    calls += [regressor.predict_cdf, classifier.fit,
              lambda X, y: mean_log_likelihood(regressor, X, y),
              lambda X, y: crps(regressor, X, y)]
    for call in calls:
        with pytest.raises(ValueError) as error:
            call(X, 1.0)
        assert str(error.value) == expected
