"""Over-parametrized gradient methods for tensor factorization, for scikit-learn users.

Fit a model with far more components than needed from a small random
initialization and read the rank off the fitted estimator.
"""

from ._deep_tucker import DeepTucker
from ._deflation import DeflationFlowCP, directional_residuals
from ._overparam_cp import OverparamCP
from ._tubal import TubalFactorizer

__version__ = "0.1.0"

__all__ = [
    "DeepTucker",
    "DeflationFlowCP",
    "directional_residuals",
    "OverparamCP",
    "TubalFactorizer",
    "__version__",
]
