"""Shared machinery of the symmetric CP estimators (OverparamCP, DeflationFlowCP).

Builds the target tensor from the input (moment, cumulant or precomputed, never
materialized), initializes the columns, runs the shared loop and turns the
over-parametrized columns into fitted components and rank estimates.

Rank estimates of sample-built targets (``tensor="moment"``/``"cumulant"``)
ignore components within the sampling noise of the empirical tensor
(:mod:`sktensorflow.models.sampling_noise`), and ``score`` leaves those out.

The fit runs on data divided by an exact power of two chosen from their size
(so the normalized problem is the same whatever the data's scale, from 1e-150
to 1e150) and the fitted attributes are scaled back to data units.
"""

import numpy as np
from sklearn.utils.validation import check_array

from . import _backend
from ._base import (
    BaseOverparam,
    Integral,
    Interval,
    StrOptions,
    check_is_fitted,
)
from ._chunked import ChunkedSamples, is_dask_array, noise_rows, samples_for, validate_chunked
from ._cp_input import check_symmetric_cp, cp_pair
from ._interop import cp_to_tensorly
from ._streaming import PartialFitMixin, StreamState, noise_rows_of, stream_target
from ._symmetric_rank import SymmetricRankMixin
from ._symmetric_scale import ScaleMixin
from .models import blockwise as bw
from .models import packed_moments as pm
from .models import sampling_noise as sn
from .models import symmetric_cp as scp
from .models._problem import TINY

__all__ = ["BaseSymmetricCP"]

_TENSOR_KINDS = {"moment", "cumulant", "precomputed"}

#: Seed of the half-splits that estimate the sampling noise: the noise level is
#: a function of the data alone, and the fit's one RNG is left untouched.
_NOISE_SEED = 0
#: Random half-splits; the noise level is the largest of their suprema, which a
#: pure-noise component exceeds with probability about 1 / (_N_SPLITS + 1).
_N_SPLITS = 19


class BaseSymmetricCP(PartialFitMixin, SymmetricRankMixin, ScaleMixin, BaseOverparam):
    """Base class of the symmetric CP estimators (not public)."""

    _parameter_constraints: dict = {
        **BaseOverparam._parameter_constraints,
        "order": [Interval(Integral, 2, None, closed="left")],
        "tensor": [StrOptions(_TENSOR_KINDS)],
        "whiten": ["boolean"],
        "signs": [StrOptions({"auto", "positive", "both"})],
    }

    #: Fitted attributes that follow the input's array namespace.
    _model_attributes = (
        "components_",
        "weights_",
        "weight_errors_",
        "columns_",
        "column_weights_",
    )

    def _backend_probe(self, X):
        """A precomputed target's factors choose the backend (CP form), else ``X`` itself."""
        if isinstance(X, StreamState):  # partial_fit: the last batch
            return X.probe
        pair = cp_pair(X) if self.tensor == "precomputed" else None
        return X if pair is None else pair[1][0]

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
            warm = self._continuation(d)
            data, self._t_exp = self._normalize_precomputed(data, warm and warm.extras["t_exp"])
            self._x_exp, self._mean_n, self._whitening_n = 0, np.zeros(d), np.eye(d)
            self.n_features_in_ = d
        elif isinstance(X, StreamState):  # partial_fit (sktensorflow._streaming)
            data = self._stream_data(X)
        elif is_dask_array(X):  # samples larger than memory (sktensorflow._chunked)
            data = samples_for(self, self._validate_input(X, reset=True), fit=True)
        else:
            X = self._validate_input(X, reset=True)
            warm = self._continuation(X.shape[1])
            X = self._normalize_samples(X, warm and warm.extras["x_exp"])
            self._mean_n = X.mean(axis=0) if self.tensor == "cumulant" else np.zeros(X.shape[1])
            self._whitening_n = self._whitening(X - self._mean_n)
            data = (X - self._mean_n) @ self._whitening_n
            whitened = self.whiten and self.tensor == "cumulant"
            self._t_exp = 0 if whitened else self._x_exp * self.order
        self._fit_noise(data)
        target, target_sq, t_norm = self._target_and_scale(data)
        self._noise_target = target if self.tensor != "precomputed" else None
        self._zero_target = not target_sq > 0
        if self._zero_target:
            self._warn_zero_data("rank_")
        return target, target_sq, t_norm

    def _fit_noise(self, data):
        """``noise_level_`` of a sample-built target (0.0 for a precomputed one).

        Keeps the half-splits in ``_noise_splits`` (and the target in
        ``_noise_target``) until :meth:`_set_components` has used them.
        """
        if self.tensor == "precomputed":
            self._noise_splits, self.noise_level_ = [], 0.0
            return
        rng = np.random.default_rng(_NOISE_SEED)
        streamed = isinstance(data, StreamState)
        rows = noise_rows_of(data, self.order) if streamed else noise_rows(data, self.order)
        splits = sn.half_splits(
            rows,
            self.order,
            cumulant=self.tensor == "cumulant",
            rng=rng,
            n_splits=_N_SPLITS,
        )
        self._noise_splits = splits
        self.noise_level_ = sn.noise_level(splits, rng).level

    def _whitening(self, Xc):
        d = Xc.shape[1]
        if not (self.whiten and self.tensor == "cumulant"):
            return np.eye(d)
        return bw.inverse_sqrt(Xc.T @ Xc / Xc.shape[0])

    def _validate_input(self, X, *, reset, **kwargs):
        """A dask array of samples stays chunked (:mod:`sktensorflow._chunked`)."""
        if is_dask_array(X) and self.tensor != "precomputed":
            return validate_chunked(self, X, reset=reset)
        return super()._validate_input(X, reset=reset, **kwargs)

    def _preprocess(self, X):
        return (X - self.mean_) @ self.whitening_

    def _check_precomputed(self, X):
        """Validate a precomputed target: ``(host data, n_features)``; changes nothing.

        A tensorly ``CPTensor`` or a plain ``(weights, factors)`` pair is checked
        by :func:`~sktensorflow._cp_input.check_symmetric_cp`.
        """
        pair = cp_pair(X)
        if pair is not None:
            w, A = check_symmetric_cp(*pair, self.order)
            return ("cp", w, A), A.shape[0]
        T = check_array(
            _backend.detached(X), allow_nd=True, dtype=np.float64, ensure_min_samples=1
        )
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
        if isinstance(data, ChunkedSamples):
            return data.target()
        if isinstance(data, StreamState):
            return stream_target(data, self.order)
        if isinstance(data, tuple) and data[0] == "cp":
            return scp.cp_target(self._to_backend(data[1]), self._to_backend(data[2]), self.order)
        if isinstance(data, tuple):
            return scp.dense_target(self._to_backend(data[1]))
        target = scp.sample_target(
            self._to_backend(data), self.order, cumulant=self.tensor == "cumulant"
        )
        n, d = data.shape
        if _backend.on_host() and pm.prefer_packed_target(n, d, self.order, self.width):
            return bw.packed_sample_target(data, self.order, target.covariance)
        return target

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

    # -- public API ------------------------------------------------------------------
    def transform(self, X):
        """Project samples onto the recovered unit components.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_new : ndarray of shape ``(n_samples, rank_)``
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
        X : array-like of shape ``(n_samples, rank_)``

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        Z = check_array(
            _backend.to_numpy(X) if _backend.array_backend(X) else X,
            dtype=np.float64,
            ensure_min_features=0,
        )
        components = _backend.to_numpy(self.components_)
        if Z.shape[1] != components.shape[0]:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but inverse_transform expects "
                f"rank_ = {components.shape[0]} (one per recovered component)."
            )
        Xw = Z @ components
        out = Xw @ np.linalg.pinv(self.whitening_) + self.mean_
        return self._as_input_namespace(out, X)

    def score(self, X, y=None):
        """Explained fraction of the target tensor's energy, ``1 - ||T - T*||²/||T*||²``.

        ``T*`` is built from ``X`` the way ``fit`` built it (same centering and
        whitening); it is never materialized. For a sample-built target, ``T``
        is the fitted model without the components in the sampling noise: the
        columns of the grouped components whose contraction ``|<T*_fit,
        u^{⊗order}>|`` with the training target exceeds ``noise_level_`` (the
        counted components and their small satellites, which fit part of a true
        component). For a precomputed target every column counts.

        Why: on held-out samples a component fitted to the training samples'
        noise is uncorrelated with the held-out noise, so it adds its energy to
        the held-out error only on average; with a fold of a few thousand
        samples that penalty is far below the fold's own noise, and a grid
        search over ``width`` would pick among such fits by chance (it picked
        a width-30 fit with two noise components on 9000 samples of three
        sources). Leaving the noise components out makes fits that agree on the
        signal score alike whatever their width, while a fit that misses a
        component still scores lower.

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
            data = self._normalize_precomputed(self._check_precomputed_score(X), self._t_exp)[0]
        else:
            data = self._preprocess_normalized(self._validate_input(X, reset=False))
        with _backend.backend_context(self._backend_name):
            target = self._make_target(data)
            target_sq = scp.target_norm_sq(target)
            kept = self._scored_columns
            W = self._to_backend(self._columns_n[:, kept])
            signs = self._to_backend(self._signs_host[kept])
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

    def to_tensorly(self, full=False):
        """The fitted model as a tensorly ``CPTensor``, on the fit's backend.

        Parameters
        ----------
        full : bool, default=False
            ``False``: the ``rank_`` recovered components, ``(weights_,
            [components_.T] * order)``. ``True``: the whole over-parametrized
            model, every column of ``columns_`` as a unit direction with its
            weight in ``column_weights_``.

        Returns
        -------
        cp : tensorly.cp_tensor.CPTensor
            Arrays of the input's library (torch tensors after a fit on torch
            tensors). ``tensorly.cp_to_tensor`` gives the dense tensor; for
            figures of the components see tensorly-viz (https://tensorly.org/viz).
        """
        return cp_to_tensorly(self, full=full)

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
