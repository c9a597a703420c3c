"""Shared machinery of the symmetric CP estimators (OverparamCP, DeflationFlowCP).

Builds the target tensor from the input (moment, cumulant or precomputed, never
materialized), initializes the columns, runs the shared loop and turns the
over-parametrized columns into fitted components and rank estimates.
"""

import numpy as np
import tensorly as tl
from sklearn.utils.validation import check_array

from . import _backend
from ._base import BaseOverparam, Integral, Interval, StrOptions, check_is_fitted
from .metrics import cp_rank, effective_rank, group_components
from .models import symmetric_cp as scp
from .models._problem import TINY

__all__ = ["BaseSymmetricCP"]

_TENSOR_KINDS = {"moment", "cumulant", "precomputed"}


class BaseSymmetricCP(BaseOverparam):
    """Base class of the symmetric CP estimators (not public)."""

    _parameter_constraints: dict = {
        **BaseOverparam._parameter_constraints,
        "order": [Interval(Integral, 2, None, closed="left")],
        "tensor": [StrOptions(_TENSOR_KINDS)],
        "whiten": ["boolean"],
        "signs": [StrOptions({"auto", "positive", "both"})],
    }

    #: Fitted attributes that follow the input's array namespace.
    _model_attributes = ("components_", "weights_", "columns_", "column_weights_")

    def _backend_probe(self, X):
        """A precomputed ``CPTensor``'s factors choose the backend, else ``X`` itself."""
        return X.factors[0] if isinstance(X, tl.cp_tensor.CPTensor) else X

    # -- target -----------------------------------------------------------------
    def _fit_target(self, X):
        """Validate ``X``, fit the preprocessing and return the target on the backend.

        Returns
        -------
        target : DenseTarget, CPTarget or SampleTarget
        target_sq : float
            ``||T*||²``.
        t_norm : float
            ``||T*||_F`` (1.0 for a zero target).
        """
        if self.tensor == "cumulant" and self.order not in (2, 3, 4):
            raise ValueError(
                f"tensor='cumulant' supports order 2, 3 or 4, got order={self.order}."
            )
        if self.tensor == "precomputed":
            data, d = self._check_precomputed(X)
            self.n_features_in_, self.mean_, self.whitening_ = d, np.zeros(d), np.eye(d)
        else:
            X = self._validate_input(X, reset=True)
            self.mean_ = X.mean(axis=0) if self.tensor == "cumulant" else np.zeros(X.shape[1])
            self.whitening_ = self._whitening(X - self.mean_)
            data = self._preprocess(X)
        return self._target_and_scale(data)

    def _whitening(self, Xc):
        d = Xc.shape[1]
        if not (self.whiten and self.tensor == "cumulant"):
            return np.eye(d)
        eigval, eigvec = np.linalg.eigh(Xc.T @ Xc / Xc.shape[0])
        keep = eigval > eigval.max() * 1e-12
        inv_sqrt = np.zeros_like(eigval)
        inv_sqrt[keep] = 1.0 / np.sqrt(eigval[keep])
        return eigvec * inv_sqrt @ eigvec.T

    def _preprocess(self, X):
        return (X - self.mean_) @ self.whitening_

    def _check_precomputed(self, X):
        """Validate a precomputed target: ``(host data, n_features)``; changes nothing."""
        if isinstance(X, tl.cp_tensor.CPTensor):
            weights, factors = X
            factors = [_backend.to_numpy(f) for f in factors]
            if len(factors) != self.order or any(
                not np.allclose(f, factors[0]) for f in factors[1:]
            ):
                raise ValueError(
                    f"A precomputed CPTensor must be symmetric of order {self.order}: "
                    f"{len(factors)} factors that are all equal."
                )
            w = np.ones(factors[0].shape[1]) if weights is None else _backend.to_numpy(weights)
            data = ("cp", np.asarray(w, dtype=float), np.asarray(factors[0], dtype=float))
            return data, factors[0].shape[0]
        T = check_array(X, allow_nd=True, dtype=np.float64, ensure_min_samples=1)
        if T.ndim != self.order or len(set(T.shape)) != 1:
            raise ValueError(
                f"tensor='precomputed' expects a symmetric array of shape (d,)*{self.order}, "
                f"got shape {T.shape}."
            )
        if not _is_symmetric(T):
            raise ValueError(
                "tensor='precomputed' expects a symmetric array: X differs from its "
                "transposes by more than 1e-8 relative (symmetrize it, e.g. average "
                "over permutations of its axes)."
            )
        return ("dense", T), T.shape[0]

    def _make_target(self, data):
        """Move host data to the active backend and wrap it as a model target."""
        if isinstance(data, tuple) and data[0] == "cp":
            return scp.cp_target(self._to_backend(data[1]), self._to_backend(data[2]), self.order)
        if isinstance(data, tuple):
            return scp.dense_target(self._to_backend(data[1]))
        return scp.sample_target(
            self._to_backend(data), self.order, cumulant=self.tensor == "cumulant"
        )

    def _target_and_scale(self, data):
        """Backend target, ``||T*||²`` and ``||T*||`` (1.0 for a zero target)."""
        target = self._make_target(data)
        target_sq = scp.target_norm_sq(target)
        return target, target_sq, (np.sqrt(target_sq) if target_sq > 0 else 1.0)

    def _preferred_solver_options(self):
        """Error control relative to the columns' norms only (no absolute floor)."""
        return {"atol": 0.0}

    def _auto_learning_rate(self, kernel):
        """``"auto"`` step for a model whose gradient's Lipschitz scale is ``order² kernel``."""
        return (0.1 if self.solver == "flow" else 0.05) / (self.order**2 * kernel)

    # -- initialization ------------------------------------------------------------
    def _column_signs(self, width, target_sign_free):
        mode = self.signs
        if mode == "auto":
            mode = "positive" if (self.order % 2 == 1 or target_sign_free) else "both"
        if mode == "positive":
            return np.ones(width)
        return np.where(np.arange(width) % 2 == 0, 1.0, -1.0)

    # -- fitted attributes -------------------------------------------------------------
    def _set_components(self, W, signs):
        """Group the fitted columns into components and estimate the rank (host arrays)."""
        W = _backend.to_numpy(W)
        raw_weights = signs * np.sum(W * W, axis=0)
        comps, weights = group_components(W, raw_weights, self.order)
        rank = cp_rank(weights, self.rank_tol)
        self._signs_host = signs
        self.rank_ = rank
        self.effective_rank_ = effective_rank(np.abs(weights)) if weights.size else 0.0
        self.components_ = comps[:rank]
        self.weights_ = weights[:rank]
        self.columns_ = W
        self.column_weights_ = raw_weights
        self._n_features_out = rank

    def _rank_of(self, W, signs):
        W = _backend.to_numpy(W)
        comps, weights = group_components(W, signs * np.sum(W * W, axis=0), self.order)
        return cp_rank(weights, self.rank_tol)

    # -- public API ------------------------------------------------------------------
    def transform(self, X):
        """Project samples onto the recovered unit components.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_new : ndarray of shape (n_samples, rank_)
            ``preprocess(X) @ components_.T``, with the centering and whitening of
            ``fit`` (none for ``tensor="moment"`` and ``"precomputed"``).
        """
        check_is_fitted(self)
        Xv = self._validate_input(X, reset=False)
        Z = self._preprocess(Xv) @ _backend.to_numpy(self.components_).T
        return self._as_input_namespace(Z, X)

    def inverse_transform(self, X):
        """Map projections back to the input space: ``X @ components_``, un-whitened.

        Parameters
        ----------
        X : array-like of shape (n_samples, rank_)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        Z = check_array(_backend.to_numpy(X) if _backend.array_backend(X) else X, dtype=np.float64)
        Xw = Z @ _backend.to_numpy(self.components_)
        out = Xw @ np.linalg.pinv(self.whitening_) + self.mean_
        return self._as_input_namespace(out, X)

    def score(self, X, y=None):
        """Explained fraction of the target tensor's energy, ``1 - ||T - T*||²/||T*||²``.

        ``T*`` is built from ``X`` the way ``fit`` built it (same centering and
        whitening); it is never materialized.

        Parameters
        ----------
        X : array-like
            Samples, or the tensor itself for ``tensor="precomputed"``.
        y : Ignored

        Returns
        -------
        score : float
            At most 1; 1 for a perfect fit.
        """
        check_is_fitted(self)
        if self.tensor == "precomputed":
            data = self._check_precomputed_score(X)
        else:
            data = self._preprocess(self._validate_input(X, reset=False))
        with _backend.backend_context(self._backend_name):
            target = self._make_target(data)
            target_sq = scp.target_norm_sq(target)
            W = self._to_backend(_backend.to_numpy(self.columns_))
            signs = self._to_backend(self._signs_host)
            loss, _ = scp.loss_and_grad(W, target, signs, target_sq=target_sq)
        return 1.0 - 2.0 * loss / target_sq if target_sq > 0 else 0.0

    def _check_precomputed_score(self, X):
        data, d = self._check_precomputed(X)
        if d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return data

    def to_tensorly(self):
        """The recovered decomposition as a tensorly ``CPTensor``.

        Returns
        -------
        cp : CPTensor
            ``(weights_, [components_.T] * order)``.
        """
        check_is_fitted(self)
        comps = _backend.to_numpy(self.components_)
        return tl.cp_tensor.CPTensor(
            (_backend.to_numpy(self.weights_).copy(), [comps.T.copy()] * self.order)
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _is_symmetric(T, rtol=1e-8):
    """Whether ``T`` is invariant under axis permutations (a swap and a cycle generate them)."""
    axes = list(range(T.ndim))
    swap = [1, 0, *axes[2:]]
    cycle = [*axes[1:], 0]
    scale = rtol * max(np.linalg.norm(T), TINY)
    return all(np.linalg.norm(T - T.transpose(p)) <= scale for p in (swap, cycle))
