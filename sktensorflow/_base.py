"""Private base estimator shared by the four estimators.

It owns the shared parameter vocabulary and its validation, the single RNG per
fit, backend resolution, the call into the one optimization loop, conversion of
fitted attributes to the input's array namespace, and the fold-in hold-out
``score`` of the sample-axis estimators. This is the only module that imports
scikit-learn's private helpers; estimator modules import them from here.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _backend
from ._optim import SOLVERS, minimize

__all__ = [
    "BaseOverparam",
    "FoldInScoreMixin",
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "check_is_fitted",
    "holdout_mask",
    "masked_r2",
]

#: Share of each row's observed entries hidden by the fold-in ``score``.
HOLDOUT_EVERY = 5


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
    def _minimize(self, fun, params, *, learning_rate, tol_scale=1.0, **options):
        """Run the shared loop with this estimator's solver settings.

        Sets ``n_iter_``, ``loss_curve_``, ``time_curve_`` and returns the result.
        ``tol`` is multiplied by ``tol_scale`` (the model's characteristic rate),
        so it is dimensionless for the user.
        """
        result = minimize(
            fun,
            params,
            solver=self.solver,
            learning_rate=learning_rate,
            max_iter=self.max_iter,
            tol=self.tol * tol_scale,
            callback=self.callback,
            verbose=bool(self.verbose),
            **options,
        )
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                f"iterations; increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
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


class FoldInScoreMixin:
    """Fold-in hold-out ``score`` for estimators whose axis 0 is the sample axis.

    Subclasses implement ``_fold_in(X)`` (sample-mode representation of rows
    with ``NaN`` entries, factors fixed; numpy in and out) and
    ``_reconstruct(Z)`` (the rows the model predicts from that representation,
    shaped like ``X``).
    """

    def score(self, X, y=None):
        """Fold-in R² on a deterministic hold-out share of each row's entries.

        Every fifth observed entry of each row is hidden, the row's
        representation is solved from the remaining entries with the fitted
        non-sample factors, and R² is computed on the hidden entries. Higher is
        better; at most 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Data with ``NaN`` for missing entries.
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False, allow_nan=True, allow_nd=True)
        self._check_feature_shape(X)
        hidden = holdout_mask(~np.isnan(X))
        X_hat = self._reconstruct(self._fold_in(np.where(hidden, np.nan, X)))
        return masked_r2(X, X_hat, hidden)

    def _check_feature_shape(self, X):
        if X.shape[1:] != tuple(self.feature_shape_):
            raise ValueError(
                f"X has feature shape {X.shape[1:]}, but {type(self).__name__} was fitted "
                f"on feature shape {tuple(self.feature_shape_)}."
            )


def holdout_mask(observed, every=HOLDOUT_EVERY):
    """Deterministic hold-out entries of each row, for fold-in scoring.

    Within each row (axis 0), observed entries are counted in C order and every
    ``every``-th one (the 5th, 10th, ...) is held out, so the choice depends on
    the row alone: scoring is row-separable and independent of the sample order.

    Parameters
    ----------
    observed : ndarray of bool, shape (n_samples, ...)
        ``True`` where an entry is observed.
    every : int, default=5

    Returns
    -------
    hidden : ndarray of bool, same shape as ``observed``

    Examples
    --------
    >>> import numpy as np
    >>> holdout_mask(np.ones((2, 6), dtype=bool)).astype(int)
    array([[0, 0, 0, 0, 1, 0],
           [0, 0, 0, 0, 1, 0]])
    """
    flat = observed.reshape(observed.shape[0], -1)
    rank_in_row = np.cumsum(flat, axis=1)
    hidden = flat & (rank_in_row % every == 0)
    return hidden.reshape(observed.shape)


def masked_r2(truth, prediction, mask):
    """R² of ``prediction`` against ``truth`` on the entries where ``mask`` is set.

    Returns 0.0 when fewer than two entries are selected or they are constant
    (the prediction cannot be compared with a mean there).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([1.0, 2.0, 3.0]); m = np.ones(3, dtype=bool)
    >>> masked_r2(t, t, m)
    1.0
    """
    y, p = truth[mask], prediction[mask]
    total = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    if y.size < 2 or total == 0.0:
        return 0.0
    return 1.0 - float(np.sum((y - p) ** 2)) / total
