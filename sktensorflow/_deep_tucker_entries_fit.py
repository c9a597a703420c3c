"""DeepTucker's fit on observed entries: cost and memory O(observed entries + parameters).

:meth:`DeepTuckerEntriesMixin._fit_entries` is the dense fit of
:class:`~sktensorflow.DeepTucker` step by step, with every computation that
needed the dense (filled) array replaced by one on the list of entries
(:mod:`sktensorflow._entries`), so that nothing of the tensor's size is ever
allocated:

- the data scale (largest singular value of the unfoldings of the filled
  tensor) from the Gram matrices of the sparse unfoldings
  (:mod:`sktensorflow.models.sparse_unfold`);
- the held-out split drawn over the entries, with the same draws as the dense
  split (:func:`sktensorflow._entries.entries_validation_split`);
- the loss, its gradient, the held-out loss and the saddle escape on the
  entries (:mod:`sktensorflow.models.deep_tucker_observed`), minibatches of
  the same entries for ``"minibatch_adam"``;
- the fold-in basis (the leading right singular vectors of the fitted
  tensor's mode-0 unfolding) and the fold-in prior from the factors (thin QR
  of each factor), the fold-in noise variance from the residual at the
  observed entries.

The fitted attributes mean the same as after a dense fit; a fit on the entries
of a dense array equals the dense fit to rounding (the sums run in another
order), except that the fold-in basis ``components_`` may differ in the sign
of each component (singular vectors computed from the factors instead of the
dense model).
"""

import numpy as np
import tensorly as tl

from . import _backend
from ._base import check_is_fitted
from ._data_scale import scale_by_power
from ._entries import (
    EntriesInputMixin,
    ObservedEntries,
    _check_indices,
    entries_validation_split,
)
from ._foldin import _psd_sqrt
from ._symmetric_scale import even_exponent
from .models import deep_tucker as dtm
from .models.deep_tucker_observed import observed_problem, observed_values, with_minibatches
from .models.sparse_unfold import spectral_scale_entries

__all__ = ["DeepTuckerEntriesMixin"]


def _mode_products(T, matrices, first_mode):
    """``T ×_k matrices[k - first_mode]`` for the modes from ``first_mode`` on (host)."""
    for k, M in enumerate(matrices, start=first_mode):
        T = tl.tenalg.mode_dot(T, M, k)
    return T


def row_basis(core, factors, rank):
    """The leading ``rank`` right singular vectors of the model's mode-0 unfolding.

    From the thin QR ``U_k = Q_k R_k`` of every factor: the model is
    ``(G ×_k R_k) ×_k Q_k``, so the right singular vectors are those of the
    small tensor's unfolding mapped through ``⊗_{k>0} Q_k``. Returns an array
    of shape ``(prod(n_1, ...), rank)``; cost ``O(rank · prod(n_1, ...) · w)``.
    """
    qrs = [np.linalg.qr(np.asarray(U)) for U in factors]
    small = _mode_products(np.asarray(core), [r for _, r in qrs], 0)
    _, _, Wt = np.linalg.svd(tl.unfold(small, 0), full_matrices=False)
    V = Wt[:rank].reshape((rank, *small.shape[1:]))
    V = _mode_products(V, [q for q, _ in qrs[1:]], 1)
    return V.reshape(rank, -1).T


def training_coefficients(core, factors, design):
    """The fitted rows' coefficients on ``design``: ``X̂_(0) @ design``, from the factors."""
    rank = design.shape[1]
    M = design.T.reshape((rank, *(np.shape(U)[0] for U in factors[1:])))
    M = _mode_products(M, [np.asarray(U).T for U in factors[1:]], 1).reshape(rank, -1)
    G0 = tl.unfold(np.asarray(core), 0)
    return np.asarray(factors[0]) @ (G0 @ M.T)


class DeepTuckerEntriesMixin(EntriesInputMixin):
    """Observed-entries fit and :meth:`predict_entries` of :class:`~sktensorflow.DeepTucker`."""

    def _fit_entries(self, entries, data_units):
        """Fit on ``entries`` (:class:`~sktensorflow._entries.ObservedEntries`)."""
        if entries.n_entries == 0:
            raise ValueError("X has no observed entry (no coordinates are listed).")
        self._entries_fit, self.n_features_in_ = True, entries.shape[1]
        entries = self._normalize_entries(entries)
        self.feature_shape_ = entries.shape[1:]
        rng = self._rng()
        self._nonzero_data = bool(np.any(entries.values))
        if not self._nonzero_data:
            self._warn_zero_data("multilinear_rank_")
        init, learning_rate = self._start_entries(entries, rng)
        heldout = self._heldout_entries_list(entries, rng)
        result = self._run_entries(init, learning_rate, entries, heldout, rng)
        params = [_backend.to_numpy(a) for a in result.view]
        params[0] = np.ldexp(params[0], -self._data_exp)
        with _backend.backend_context("numpy"):
            self._set_fitted(params, result, len(entries.shape))
            self._set_prior_from_entries(entries)
        self._to_data_units(data_units)

    def _normalize_entries(self, entries):
        """Entries divided by ``2**e`` (see :class:`~sktensorflow._data_scale.DataScaleMixin`)."""
        warm = self._continuation(("observed entries", entries.shape, entries.n_entries))
        largest = float(np.max(np.abs(entries.values)))
        self._all_zero = not largest > 0
        self._data_exp = warm.extras["data_exp"] if warm else even_exponent(largest)
        values = np.ldexp(entries.values, -self._data_exp)
        return ObservedEntries(entries.indices, values, entries.shape)

    def _observed_fraction(self, n_entries, shape):
        return n_entries / float(np.prod(shape, dtype=float))

    def _start_entries(self, entries, rng):
        """Entries form of ``DeepTuckerStateMixin._start``."""
        p = self._observed_fraction(entries.n_entries, entries.shape)
        with _backend.backend_context("numpy"):
            self.data_scale_ = self._warm_value(
                "data_scale",
                lambda: (
                    spectral_scale_entries(entries.coords, entries.values, entries.shape) / p
                    or 1.0
                ),
            )
            self.widths_, self.init_scale_, learning_rate = self._settings(entries.shape)
            init = dtm.init_params(
                self._start_rng(rng),
                entries.shape,
                self.widths_,
                self.depth,
                self.factor_form,
                self.init_scale_,
            )
        return init, learning_rate

    def _heldout_entries_list(self, entries, rng):
        """Boolean array over the entries withheld for validation, or ``None``."""
        if not self.early_stopping:
            return None
        fraction = self.validation_fraction
        split = lambda: entries_validation_split(entries, fraction, rng)  # noqa: E731
        heldout = self._warm_value("heldout", split)
        return heldout if heldout.any() else None

    def _run_entries(self, init, learning_rate, entries, heldout, rng):
        """The loop on the entries' problem; sets the loop's and validation's attributes."""
        problem = self._entries_problem(init, entries, heldout, rng)
        held = entries.values[heldout] if heldout is not None else []
        return self._run_loop(problem, learning_rate, len(entries.shape), heldout, held)

    def _entries_problem(self, init, entries, heldout, rng):
        """Entries form of ``DeepTucker._problem``."""
        values = entries.values / self.data_scale_
        keep = np.ones(entries.n_entries, bool) if heldout is None else ~heldout
        fitted = (tuple(c[keep] for c in entries.coords), values[keep])
        held = (
            None
            if heldout is None
            else (tuple(c[heldout] for c in entries.coords), values[heldout])
        )
        coef = 1.0 / self._observed_fraction(int(keep.sum()), entries.shape)
        model = dict(depth=self.depth, form=self.factor_form)
        problem = observed_problem(
            tuple(self._to_backend(a) for a in init),
            fitted,
            held,
            shape=entries.shape,
            coef=coef,
            data_scale=scale_by_power(self.data_scale_, self._data_exp),
            tol=self.tol,
            rank_tol=self.rank_tol,
            **model,
        )
        return with_minibatches(problem, self.solver, fitted, coef, rng, **model)

    # -- fold-in from the factors --------------------------------------------------
    def _row_basis(self, params, order):
        if not getattr(self, "_entries_fit", False):
            return super()._row_basis(params, order)
        return row_basis(self.core_, self.factors_, self.multilinear_rank_[0])

    def _prior_from_factors(self):
        Z = training_coefficients(self.core_, self.factors_, self._design)
        self._prior_sqrt = _psd_sqrt(Z.T @ Z / max(Z.shape[0], 1))

    def _set_prior_from_entries(self, entries):
        """The fold-in prior from the factors, the noise variance from the observed residual."""
        self._prior_from_factors()
        x = observed_values((self.core_, *self.factors_), entries.coords, depth=1)
        self._noise_var = float(np.mean((entries.values - x) ** 2))

    def _refit_fold_in_prior(self):
        if not getattr(self, "_entries_fit", False):
            return super()._refit_fold_in_prior()
        self._prior_from_factors()

    # -- prediction at coordinates ------------------------------------------------
    def predict_entries(self, indices):
        """The fitted model's values at given coordinates, without forming the tensor.

        Cost ``O(n_entries · prod(widths_[1:]))`` plus that of the factors, and
        memory independent of the tensor's size: the way to read a model
        fitted on observed entries (for example on held-out coordinates).

        Parameters
        ----------
        indices : array-like of int of shape (n_entries, X.ndim)
            Coordinates in the tensor the model was fitted on (axis 0 the sample).

        Returns
        -------
        values : ndarray of shape (n_entries,)
            Model values in the data's units.

        Examples
        --------
        >>> import numpy as np
        >>> from sktensorflow import DeepTucker
        >>> X = np.outer(np.arange(1.0, 5.0), np.arange(1.0, 4.0))
        >>> est = DeepTucker(early_stopping=False, random_state=0).fit(X)
        >>> est.predict_entries([[3, 2], [0, 0]]).round(2)
        array([12.,  1.])
        """
        check_is_fitted(self)
        shape = (np.shape(self.factors_[0])[0], *self.feature_shape_)
        indices = _check_indices(indices, shape)
        host = [_backend.to_numpy(self.core_), *(_backend.to_numpy(U) for U in self.factors_)]
        with _backend.backend_context("numpy"):
            return observed_values(host, tuple(indices.T), depth=1)
