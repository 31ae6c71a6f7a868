"""skmoe: scikit-learn compatible mixture-of-experts estimators fitted by EM."""

from ._classifier import MixtureOfExpertsClassifier
from ._gate import SoftmaxGate
from ._regressor import MixtureOfExpertsRegressor
from ._ridge import ScaledRidge
from ._warmup import load_cached as _load_cached

__version__ = "0.1.0.dev0"

# Numba's one-time set-up and the cached kernels, here rather than in the first fit.
_load_cached()

__all__ = [
    "MixtureOfExpertsClassifier",
    "MixtureOfExpertsRegressor",
    "ScaledRidge",
    "SoftmaxGate",
    "__version__",
]
