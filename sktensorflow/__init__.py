"""Over-parametrized gradient methods for tensor factorization, for scikit-learn users.

Fit a model with far more components than needed from a small random
initialization and read the rank off the fitted estimator.

The figures of :mod:`sktensorflow.plotting` are reached as
``sktensorflow.plotting``; that module is imported on first access (and
matplotlib only when something is drawn), so ``import sktensorflow`` imports
neither.
"""

import importlib

from ._deep_tucker import DeepTucker
from ._deflation import DeflationFlowCP, directional_residuals
from ._overparam_cp import OverparamCP
from ._tubal import TubalFactorizer
from ._tubal_sensing import TubalSensing

__version__ = "0.1.0"

#: Submodules imported on first attribute access.
_LAZY_SUBMODULES = ("plotting",)

__all__ = [
    "DeepTucker",
    "DeflationFlowCP",
    "directional_residuals",
    "OverparamCP",
    "TubalFactorizer",
    "TubalSensing",
    "__version__",
    *_LAZY_SUBMODULES,
]


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY_SUBMODULES})
