"""DeepTucker's start, records and fitted attributes, and their re-thresholding.

The start (data scale, widths, initial parameters), the records of the fit,
and the fitted attributes from the final parameters: the model
(:meth:`DeepTuckerStateMixin._set_model`, everything that depends on
``rank_tol``) and the histories. A warm start draws no start: it keeps the
previous fit's data scale and resumes its loop (:mod:`sktensorflow._warm_start`).
:meth:`~DeepTuckerStateMixin._rethreshold` re-reads ``multilinear_rank_`` from
the fitted parameters.
"""

import numpy as np
import tensorly as tl

from . import _backend
from ._early_stopping import heldout_total_sq
from .metrics import multilinear_rank
from .models import deep_tucker as dtm

__all__ = ["DeepTuckerStateMixin"]


class DeepTuckerStateMixin:
    """Start, fitted attributes and re-thresholding of :class:`~sktensorflow.DeepTucker`."""

    _warm_fixed = ("width", "depth", "factor_form", "early_stopping", "validation_fraction")

    def _start(self, filled, observed, rng):
        """Data scale, widths and initial scale (fitted attributes), start and step."""
        with _backend.backend_context("numpy"):
            self.data_scale_ = self._warm_value(
                "data_scale", lambda: dtm.spectral_scale(filled) / float(observed.mean()) or 1.0
            )
            self.widths_, self.init_scale_, learning_rate = self._settings(filled.shape)
            init = dtm.init_params(
                self._start_rng(rng),
                filled.shape,
                self.widths_,
                self.depth,
                self.factor_form,
                self.init_scale_,
            )
        return init, learning_rate

    def _run_loop(self, problem, learning_rate, order, heldout, heldout_values):
        """The shared loop on ``problem``; sets the loop's and validation's attributes.

        ``heldout`` is the held-out selection (``None`` without early stopping)
        and ``heldout_values`` its values in the data's units.
        """
        record = self._record(order)
        options = dict(
            learning_rate=learning_rate,
            record=record,
            record_every=max(1, self.max_iter // 200),
            describe=lambda view: f"rank={record(view)['rank']}",
            **self._validation_options(heldout),
        )
        result = self._minimize(problem, **options)
        self.loss_curve_ = self.loss_curve_ * self.data_scale_**2
        held = np.asarray(heldout_values) / self.data_scale_
        self._set_validation(result, heldout_total_sq(held))
        self._warn_useless_early_stop()
        return result

    def _record(self, order):
        """Rank and core slice norms of the parameters (view in data units) of ``X / 2**e``."""

        def record(view):
            host = [_backend.to_numpy(a) for a in view]
            host[0] = np.ldexp(host[0], -self._data_exp)
            with _backend.backend_context("numpy"):
                small = dtm.compressed_core(host, order, self.depth, self.factor_form)
                return {
                    "rank": multilinear_rank(small, self.rank_tol)[0],
                    "slices": dtm.core_slice_norms(host[0]),
                }

        return record

    def _set_fitted(self, params, result, order):
        """Fitted attributes from the final parameters of ``X / 2**e`` (host arrays)."""
        self._set_model(params, order)
        slices = result.history["slices"]
        self.core_slice_norms_history_ = [
            np.asarray([rec[k] for rec in slices]) for k in range(order)
        ]
        self.multilinear_rank_history_ = np.asarray(result.history["rank"])

    def _set_model(self, params, order):
        """The model's attributes, the rank estimate and the fold-in basis (normalized)."""
        G, chains = dtm.split_params(params, order, self.depth)
        self.core_ = G
        self.chains_ = [list(chain) for chain in chains]
        self.factors_ = dtm.end_to_end_factors(params, order, self.depth, self.factor_form)
        small = dtm.compressed_core(params, order, self.depth, self.factor_form)
        self.multilinear_rank_, self.effective_rank_ = multilinear_rank(small, self.rank_tol)
        if not self._nonzero_data:
            self.multilinear_rank_, self.effective_rank_ = (0,) * order, 0.0
        self.core_slice_norms_ = dtm.core_slice_norms(G)
        self._design = self._row_basis(params, order)
        self.components_ = self._design.T.reshape((-1, *self.feature_shape_)).copy()
        self._n_features_out = self._design.shape[1]

    def _row_basis(self, params, order):
        """The fold-in basis: leading right singular vectors of the model's mode-0 unfolding."""
        X_hat = dtm.to_tensor(params, order, self.depth, self.factor_form)
        _, _, Vt = np.linalg.svd(tl.unfold(X_hat, 0), full_matrices=False)
        return Vt[: self.multilinear_rank_[0]].T

    def _rethreshold(self):
        """``multilinear_rank_`` and the fold-in basis at ``rank_tol``, from the parameters.

        On the parameters of ``X / 2**e`` (the core divided by an exact power of
        two), as the fit computed them, then back to data units; the fold-in
        prior is re-learned for the new basis.
        """
        core = np.ldexp(_backend.to_numpy(self.core_), -self._data_exp)
        chains = [_backend.to_numpy(M) for chain in self.chains_ for M in chain]
        self._set_model([core, *chains], len(self.widths_))
        self._refit_fold_in_prior()
        self._to_data_units({"core_": 2, "core_slice_norms_": 2})
