"""skmoe: scikit-learn compatible mixture-of-experts estimators fitted by EM."""

from ._gate import SoftmaxGate
from ._regressor import MixtureOfExpertsRegressor

__version__ = "0.1.0.dev0"

__all__ = ["MixtureOfExpertsRegressor", "SoftmaxGate", "__version__"]
