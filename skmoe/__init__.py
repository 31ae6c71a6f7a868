"""skmoe: scikit-learn compatible mixture-of-experts estimators fitted by EM."""

from ._classifier import MixtureOfExpertsClassifier
from ._gate import SoftmaxGate
from ._regressor import MixtureOfExpertsRegressor
from ._ridge import ScaledRidge

__version__ = "0.1.0.dev0"

__all__ = [
    "MixtureOfExpertsClassifier",
    "MixtureOfExpertsRegressor",
    "ScaledRidge",
    "SoftmaxGate",
    "__version__",
]
