"""warm_up compiles every kernel with the argument types the estimators use."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, _fastmath
from skmoe.__main__ import main
from skmoe._warmup import SIGNATURES, public_kernels, warm_up
from skmoe.datasets import make_gated_classification, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _public_kernels():
    kernels = public_kernels()
    # The Gram algebra moved to _linear; exp and log are private to _fastmath.
    assert {"e_step", "solve_gram_stack", "weighted_design_block"} <= set(kernels)
    assert not any(name in kernels for name in vars(_fastmath))
    return kernels


def _compiled():
    return {name: set(kernel.signatures) for name, kernel in _public_kernels().items()}


def test_every_public_kernel_is_warmed_up():
    assert set(SIGNATURES) == set(_public_kernels())
    seconds = warm_up()
    assert set(seconds) == set(SIGNATURES)
    for name, signatures in SIGNATURES.items():
        assert len(_public_kernels()[name].signatures) >= len(signatures)


def test_fits_and_predictions_after_warm_up_compile_nothing():
    warm_up()
    before = _compiled()
    X, y = make_switching_regression(n_samples=300, n_features=3, n_experts=3, random_state=0)
    for experts in (None, LinearRegression()):
        model = MixtureOfExpertsRegressor(experts, n_experts=3, n_init=2, top_k=2, max_iter=5,
                                          random_state=0).fit(X, y)
        model.predict(X)
        model.predict_quantiles(X[:5])
    X, y = make_gated_classification(n_samples=300, n_features=3, n_experts=2, n_classes=3,
                                     random_state=0)
    MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(X, y).predict(X)
    MixtureOfExpertsClassifier(n_experts=2, max_iter=5, random_state=0).fit(X, y > 0)
    assert _compiled() == before


def test_warmup_command_reports_every_kernel(capsys):
    assert main(["warmup"]) == 0
    out = capsys.readouterr().out
    for name in SIGNATURES:
        assert f"{name}: " in out
    assert f"{len(SIGNATURES)} kernels ready in" in out
    assert np.isfinite(float(out.strip().splitlines()[-1].split(" in ")[1].split()[0]))
