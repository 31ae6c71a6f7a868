"""Pairs of calls that must give the same model or the same answer (invariances), where
skmoe gave a different one without a word (docs/robustness.rst)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_gated_classification, make_switching_regression
from skmoe.inspection import expert_summary, report, select_n_experts, standard_errors

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ------------------------------------------- warm_start refit of greedy experts
@pytest.mark.parametrize("tol", [1e-5, 1e-12])
def test_warm_start_refit_of_tree_experts_on_the_same_data_keeps_the_model(tol):
    # The resumed fit refitted every tree on the fitted responsibilities without
    # comparing it with the tree it replaced (as every later M-step does), and EM
    # climbed from the lower point to another optimum: with in-sample noise the
    # bound fell from -0.5529 to -0.5723 and predictions moved by 1.1.
    X, y = make_switching_regression(n_samples=400, n_features=3, n_experts=2,
                                     random_state=0)
    model = MixtureOfExpertsRegressor(DecisionTreeRegressor(max_depth=3), n_experts=2,
                                      noise_variance="in_sample", warm_start=True, tol=tol,
                                      max_iter=3000, random_state=0).fit(X, y)
    assert model.converged_
    bound, predictions = model.lower_bound_, model.predict(X)
    model.fit(X, y)
    # EM from a converged model: its bound never decreases, and it stays put.
    assert min(model.lower_bounds_) >= bound - 1e-9
    assert model.lower_bound_ == pytest.approx(bound, abs=1e-5)
    assert_allclose(model.predict(X), predictions, atol=0.01 * np.std(y))


def test_warm_start_refit_of_tree_experts_of_the_classifier_keeps_the_model():
    # Probabilities moved by up to 0.44 and the bound fell from -0.5418 to -0.5469.
    # (Without label noise, as the regressor's case has in-sample noise: a share
    # estimated out of fold is not a maximiser, and its out-of-fold probabilities
    # are not kept with the model.)
    X, y = make_gated_classification(n_samples=400, n_experts=2, n_classes=3,
                                     random_state=0)
    model = MixtureOfExpertsClassifier(DecisionTreeClassifier(max_depth=3), n_experts=2,
                                       warm_start=True, tol=1e-8, label_noise="none",
                                       random_state=0).fit(X, y)
    assert model.converged_
    bound, proba = model.lower_bound_, model.predict_proba(X)
    model.fit(X, y)
    assert min(model.lower_bounds_) >= bound - 1e-9
    assert_allclose(model.predict_proba(X), proba, atol=1e-3)


# ------------------------------------------------ ICL with sample weights
def test_select_n_experts_icl_weighs_the_entropy_as_the_likelihood():
    # The entropy of the responsibilities was summed without the sample weights,
    # while the log-likelihood and BIC's n took them: integer weights gave another
    # ICL than the rows repeated (-798.9 against -770.9 for two experts) and than
    # report's ICL of the same fit.
    X, y = make_switching_regression(n_samples=300, n_features=2, n_experts=2,
                                     random_state=0)
    counts = np.random.RandomState(0).randint(1, 4, size=300)
    repeated = np.repeat(np.arange(300), counts)
    estimator = MixtureOfExpertsRegressor(LinearRegression(), noise_variance="in_sample",
                                          tol=1e-10, random_state=0)
    weighted, model = select_n_experts(estimator, X, y, n_experts=[1, 2, 3],
                                       criterion="icl",
                                       sample_weight=counts.astype(float))
    rows, _ = select_n_experts(estimator, X[repeated], y[repeated], n_experts=[1, 2, 3],
                               criterion="icl")
    assert_allclose(weighted["bic"], rows["bic"], rtol=1e-7)
    assert_allclose(weighted["icl"], rows["icl"], rtol=1e-7)
    chosen = weighted.loc[weighted["best"], "icl"].item()
    fit = report(model, X, y, sample_weight=counts.astype(float), method=None).fit
    assert chosen == pytest.approx(fit["icl"], rel=1e-10)


# -------------------------------------- a classifier's coefficients by label
@pytest.mark.parametrize("labels", [np.array([1, 2, 3]), np.array(["cat", "dog", "fish"])])
def test_multinomial_experts_coefficients_are_named_after_the_class_labels(labels):
    # The experts are fitted on the encoded labels 0 .. C - 1, and expert_summary
    # and standard_errors named their rows after the codes: with labels 1, 2, 3
    # the column "1:x0" held the coefficients of class 2, silently.
    X, y = make_gated_classification(n_samples=300, n_experts=2, n_classes=3,
                                     random_state=0)
    by_code = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    by_label = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, labels[y])
    summary = expert_summary(by_label)
    for code, label in enumerate(labels):
        for k in range(2):
            assert summary.loc[k, f"{label}:x1"] == pytest.approx(
                by_label.experts_[k].coef_[code, 1])
        assert_allclose(summary[f"{label}:intercept"],
                        expert_summary(by_code)[f"{code}:intercept"], rtol=1e-10)
    table = standard_errors(by_label, X, labels[y], method="bootstrap", n_bootstrap=3,
                            random_state=0)
    names = table.loc["expert 0"].index
    assert {f"{label}:x0" for label in labels} <= set(names)
    assert table.loc[("expert 0", f"{labels[2]}:x0"), "estimate"] == pytest.approx(
        by_label.experts_[0].coef_[2, 0])


# ------------------------------------- a feature's origin and float32 (trees)
@pytest.mark.parametrize("estimator, expert", [
    (MixtureOfExpertsRegressor, DecisionTreeRegressor(max_depth=3)),
    (MixtureOfExpertsClassifier, DecisionTreeClassifier(max_depth=3)),
])
def test_tree_experts_refuse_a_column_whose_offset_float32_cannot_resolve(estimator, expert):
    # Trees do not depend on a feature's origin, but scikit-learn's read X as float32,
    # whose 7 digits put 1e8 plus values of order 1 on one number: a mixture of trees
    # went from R² 0.94 to 0.68, silently (a plain tree to 0).
    X, y = make_switching_regression(n_samples=400, n_features=2, n_experts=2,
                                     random_state=0)
    target = y if estimator is MixtureOfExpertsRegressor else (y > np.median(y))
    shifted = X + [0.0, 1e7]
    with pytest.raises(ValueError) as error:
        estimator(expert, n_experts=2, max_iter=3).fit(shifted, target)
    message = str(error.value)
    assert message.startswith(
        f"Expert 0 ({type(expert).__name__}) reads X as float32, as scikit-learn's trees "
        "do, whose numbers keep about 7 significant digits; the experts' column 1 spans ")
    assert (f"its 400 distinct values would become "
            f"{np.unique(shifted[:, 1].astype(np.float32)).shape[0]} ") in message
    assert "Subtract a constant from that column, e.g. its mean" in message
    # Where float32 still tells the values apart (an offset of 1e5, or a few integers
    # far from 0), the fit is the fit of the unshifted columns' splits.
    estimator(expert, n_experts=2, max_iter=3).fit(X + [0.0, 1e5], target)
    few = np.column_stack([X[:, 0], 1e8 + 16 * (X[:, 1] > 0)])
    estimator(expert, n_experts=2, max_iter=3).fit(few, target)


def test_compare_refuses_a_column_whose_offset_float32_cannot_resolve_for_its_trees():
    from skmoe.compare import compare

    X, y = make_switching_regression(n_samples=200, n_features=2, n_experts=2,
                                     random_state=0)
    with pytest.raises(ValueError, match=(
            "X's column 1 has a spread so small next to its magnitude that float32, which "
            "tree, bagged_trees, random_forest, adaboost, gradient_boosting, stacking, "
            "moe_trees read X as")):
        compare(X + [0.0, 1e8], y, cv=2)
    results = compare(X + [0.0, 1e8], y, {"linear": LinearRegression()}, cv=2)
    assert results.loc["linear", "r2_mean"] > 0.5


def test_the_command_line_refuses_a_column_whose_offset_float32_cannot_resolve(tmp_path,
                                                                                 capsys):
    import pandas as pd

    from skmoe.__main__ import main

    X, y = make_switching_regression(n_samples=200, n_features=2, n_experts=2,
                                     random_state=0)
    path = tmp_path / "offset.csv"
    pd.DataFrame({"a": X[:, 0] + 1e8, "b": X[:, 1], "y": y}).to_csv(path, index=False)
    status = main(["compare", "--csv", str(path), "--target", "y", "--estimators", "tree",
                   "--cv", "2", "--quiet"])
    assert status == 2
    err = capsys.readouterr().err
    assert "offset.csv: column 'a' has a spread so small next to its magnitude" in err
    assert "leave those estimators out with --estimators" in err
    assert main(["compare", "--csv", str(path), "--target", "y", "--estimators", "linear",
                 "--cv", "2", "--quiet"]) == 0


# ------------------------------------- a gate without inputs where none is fitted
def test_a_gate_without_inputs_is_refused_by_name_on_dask_and_in_partial_fit():
    # gate_features=[] (mixing proportions) is a setting of fit; on Dask and in
    # partial_fit it was refused as "gate_features must be a non-empty 1-D list of
    # columns, got []", and partial_fit after such a fit ended in an AttributeError
    # ('ConstantGate' object has no attribute 'coef_').
    import dask
    import dask.array as da
    from sklearn.linear_model import SGDRegressor

    X, y = make_switching_regression(n_samples=300, n_features=2, n_experts=2,
                                     random_state=0)
    X_d, y_d = da.from_array(X, chunks=(100, -1)), da.from_array(y, chunks=100)
    with dask.config.set(scheduler="synchronous"):
        for expert in (LinearRegression(), SGDRegressor()):
            with pytest.raises(ValueError, match=r"gate_features=\[\] \(a gate without "
                               r"inputs, mixing proportions only\) is not supported on "
                               "Dask collections; fit in memory"):
                MixtureOfExpertsRegressor(expert, n_experts=2, gate_features=[]).fit(X_d, y_d)
    message = r"gate_features=\[\] .* is not supported by partial_fit"
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(n_experts=2, gate_features=[]).partial_fit(X, y)
    fitted = MixtureOfExpertsRegressor(n_experts=2, gate_features=[], max_iter=5,
                                       random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=message):
        fitted.partial_fit(X, y)


# ------------------------- Pipeline experts transformed once, and fitted on subsets
def _subclass(transformer):
    """The same transformer as a subclass, which the mixture never transforms once."""
    cls = type(transformer)
    return type(f"Own{cls.__name__}", (cls,), {})(**transformer.get_params())


@pytest.mark.parametrize("estimator, steps, params", [
    # Fitted on weighted resamples (no sample_weight): a Pipeline fits its scaler
    # on the resample; transformed once, on all rows, predictions were 0.55 apart.
    (MixtureOfExpertsRegressor, ("StandardScaler", "KNeighborsRegressor"), {}),
    (MixtureOfExpertsClassifier, ("MinMaxScaler", "KNeighborsClassifier"), {}),
    # Cross-fitted noise: refitted on the training folds, where the Pipeline places
    # its knots or scales on those folds (noise variances 17% and 2% apart).
    (MixtureOfExpertsRegressor, ("SplineTransformer", "LinearRegression"),
     {"noise_variance": "cross_fitted"}),
    (MixtureOfExpertsRegressor, ("StandardScaler", "Ridge"),
     {"noise_variance": "cross_fitted"}),
    # The classifier's label noise: refitted on the training folds as well (a tree
    # expert's by default, any expert's with label_noise="cross_fitted").
    (MixtureOfExpertsClassifier, ("SplineTransformer", "DecisionTreeClassifier"), {}),
    (MixtureOfExpertsClassifier, ("StandardScaler", "LogisticRegression"),
     {"label_noise": "cross_fitted"}),
])
def test_pipeline_experts_fitted_on_subsets_of_rows_are_the_pipelines_given(
        estimator, steps, params):
    import warnings

    from sklearn import linear_model, neighbors, preprocessing, tree
    from sklearn.pipeline import make_pipeline

    def make(name):
        for module in (preprocessing, neighbors, linear_model, tree):
            if hasattr(module, name):
                return getattr(module, name)()

    X, y = make_switching_regression(n_samples=300, n_features=2, n_experts=2,
                                     random_state=0)
    target = y if estimator is MixtureOfExpertsRegressor else (y > np.median(y))
    init = np.random.RandomState(0).dirichlet(np.ones(2), size=300)
    transformer, final = make(steps[0]), make(steps[1])
    models = []
    for first in (transformer, _subclass(transformer)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no sample_weight: resampled
            models.append(estimator(make_pipeline(first, final), n_experts=2, init=init,
                                    tol=1e-10, max_iter=200, random_state=0,
                                    **params).fit(X, target))
    once, each = models
    assert once.lower_bound_ == pytest.approx(each.lower_bound_, abs=1e-12)
    if estimator is MixtureOfExpertsRegressor:
        assert_allclose(once.predict(X), each.predict(X), atol=1e-12)
        assert_allclose(once.noise_variance_, each.noise_variance_, rtol=1e-10)
    else:
        assert_allclose(once.predict_proba(X), each.predict_proba(X), atol=1e-12)


def test_pipelines_that_give_the_same_experts_are_still_transformed_once():
    import functools

    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler

    from skmoe import ScaledRidge
    from skmoe._experts import shared_weight_free_prefix

    X, y = make_switching_regression(n_samples=100, n_features=2, n_experts=2,
                                     random_state=0)

    def prefix(expert, **params):
        subsets = functools.partial(
            MixtureOfExpertsRegressor(**params)._fitted_on_subsets, y=y)
        return shared_weight_free_prefix([expert, expert], X, subsets)

    # Steps that do not depend on the rows; scalers before experts that scaling
    # leaves unchanged; experts always fitted on all the rows with their weights.
    for expert in (make_pipeline(PolynomialFeatures(2), KNeighborsRegressor()),
                   make_pipeline(StandardScaler(), ScaledRidge()),
                   make_pipeline(StandardScaler(), DecisionTreeRegressor()),
                   make_pipeline(StandardScaler(), Ridge()),
                   make_pipeline(SplineTransformer(), LinearRegression())):
        assert prefix(expert) is not None
    assert prefix(make_pipeline(StandardScaler(), KNeighborsRegressor())) is None
    assert prefix(make_pipeline(SplineTransformer(), DecisionTreeRegressor())) is None
    assert prefix(make_pipeline(SplineTransformer(), LinearRegression()),
                  noise_variance="cross_fitted") is None
    # The classifier: a tree's label noise is cross-fitted by default, not with "none".
    labels = y > np.median(y)
    for label_noise, expected_none in (("auto", True), ("none", False)):
        subsets = functools.partial(
            MixtureOfExpertsClassifier(label_noise=label_noise)._fitted_on_subsets, y=labels)
        expert = make_pipeline(SplineTransformer(), DecisionTreeClassifier())
        assert (shared_weight_free_prefix([expert, expert], X, subsets) is None) is expected_none


# ------------------------------------------- Pipeline experts and metadata routing
@pytest.mark.parametrize("estimator", [MixtureOfExpertsRegressor, MixtureOfExpertsClassifier])
def test_pipeline_experts_fit_with_metadata_routing_enabled(estimator):
    # The weights reach a Pipeline's final step as <step>__sample_weight, which a
    # Pipeline refuses under metadata routing ("Pipeline.fit got unexpected
    # argument(s) {'ridge__sample_weight'}"): with routing enabled, which the user
    # guide asks for to route other fit parameters, every Pipeline expert fitted
    # through its weights failed in the first M-step.
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline

    X, y = make_switching_regression(n_samples=200, n_features=3, n_experts=2,
                                     random_state=0)
    regressor = estimator is MixtureOfExpertsRegressor
    target = y if regressor else (y > np.median(y))
    expert = make_pipeline(PCA(n_components=2),
                           Ridge() if regressor else LogisticRegression())
    plain = estimator(expert, n_experts=2, max_iter=20, random_state=0).fit(X, target)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = estimator(expert, n_experts=2, max_iter=20, random_state=0).fit(X, target)
    if regressor:
        assert_allclose(routed.predict(X), plain.predict(X), rtol=0, atol=1e-12)
    else:
        assert_allclose(routed.predict_proba(X), plain.predict_proba(X), rtol=0, atol=1e-12)
