"""Private base estimator shared by the four estimators.

It owns the shared parameter vocabulary and its validation, the single RNG per
fit, backend resolution, the call into the one optimization loop, conversion of
fitted attributes to the input's array namespace. This is the only module that imports
scikit-learn's private helpers; estimator modules import them from here.
"""

import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _backend
from ._optim import SOLVERS, minimize, viewing_params

__all__ = [
    "BaseOverparam",
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "check_is_fitted",
]


def _outside_package_stacklevel():
    """``stacklevel`` that points a warning at the first caller outside the package.

    Counted from the function that calls this one, which issues the warning.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and _in_package(frame.f_globals.get("__name__", "")):
        frame, level = frame.f_back, level + 1
    return level


def _in_package(module_name):
    return module_name == __package__ or module_name.startswith(__package__ + ".")


class BaseOverparam(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared machinery of the over-parametrized estimators (not public)."""

    _parameter_constraints: dict = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "solver": [StrOptions(set(SOLVERS))],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "rank_tol": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callback": [callable, None],
        "backend": [StrOptions(set(_backend._SUPPORTED)), None],
    }

    # -- input -----------------------------------------------------------------
    def _validate_input(self, X, *, reset, allow_nan=False, allow_nd=False):
        """Validate ``X`` into a float64 numpy array; remember the output backend."""
        backend = _backend.resolve_backend(self.backend, X)
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=np.float64,
            allow_nd=allow_nd,
            ensure_all_finite="allow-nan" if allow_nan else True,
            ensure_min_samples=1,
            ensure_min_features=1,
        )
        if reset:
            self._backend_name = backend
        return X

    def _rng(self):
        """The one random generator of a fit."""
        return check_random_state(self.random_state)

    # -- optimization ------------------------------------------------------------
    def _minimize(self, fun, params, *, learning_rate, tol_scale=1.0, view=None, **options):
        """Run the shared loop with this estimator's solver settings.

        Sets ``n_iter_``, ``loss_curve_``, ``time_curve_`` and returns the result.
        ``tol`` is multiplied by ``tol_scale`` (the model's characteristic rate),
        so it is dimensionless for the user. ``view`` maps the loop's parameters
        to the form the user's ``callback`` sees (default: unchanged).
        """
        result = minimize(
            fun,
            params,
            solver=self.solver,
            learning_rate=learning_rate,
            max_iter=self.max_iter,
            tol=self.tol * tol_scale,
            callback=self.callback if view is None else viewing_params(self.callback, view),
            verbose=bool(self.verbose),
            **options,
        )
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                f"iterations; increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=_outside_package_stacklevel(),
            )
        self.n_iter_ = result.n_iter
        self.loss_curve_ = result.loss_curve
        self.time_curve_ = result.time_curve
        return result

    # -- output ------------------------------------------------------------------
    def _output(self, array):
        """Convert a host array to the namespace of the fitted input."""
        return _backend.to_namespace(array, getattr(self, "_backend_name", "numpy"))

    def _as_input_namespace(self, array, X):
        """Return ``array`` in the namespace of the (raw) input ``X``."""
        name = _backend.array_backend(X)
        return array if name in (None, "numpy") else _backend.to_namespace(array, name)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags
