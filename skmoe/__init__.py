"""skmoe: scikit-learn compatible mixture-of-experts estimators fitted by EM."""

from importlib import import_module as _import_module

from ._warmup import load_cached as _load_cached

__version__ = "0.1.0.dev0"

# Numba's one-time set-up and the cached kernels, here rather than in the first fit.
_load_cached()

# The estimators are imported on first access (PEP 562), and scikit-learn with
# them: ``python -m skmoe warmup`` and the kernels' modules need neither.
_LAZY = {
    "MixtureOfExpertsClassifier": "._classifier",
    "MixtureOfExpertsRegressor": "._regressor",
    "ScaledLogisticRegression": "._scaled_logistic",
    "ScaledRidge": "._ridge",
    "SoftmaxGate": "._gate",
}

__all__ = [
    "MixtureOfExpertsClassifier",
    "MixtureOfExpertsRegressor",
    "ScaledLogisticRegression",
    "ScaledRidge",
    "SoftmaxGate",
    "__version__",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
