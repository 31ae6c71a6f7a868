"""warm_up compiles every kernel with the argument types the estimators use."""

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, _kernels
from skmoe.__main__ import main
from skmoe._warmup import SIGNATURES, warm_up
from skmoe.datasets import make_gated_classification, make_switching_regression

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _public_kernels():
    return {name: kernel for name, kernel in vars(_kernels).items()
            if isinstance(kernel, CPUDispatcher) and not name.startswith("_")}


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
