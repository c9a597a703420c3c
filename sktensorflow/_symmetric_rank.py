"""Components and rank estimate of the symmetric CP estimators, and their re-thresholding.

The fitted columns are grouped into components (columns whose directions
agree) and ``rank_`` counts the groups that pass two kinds of test: those that
do not depend on ``rank_tol`` (a nonzero target; for sample-built targets,
weight and contraction above the sampling noise) and the ``rank_tol`` test on
the weights. The groups that pass the first kind are then merged into the
fewest components the sampling noise cannot tell from them
(:mod:`sktensorflow._symmetric_merge`) and stored with their weights' standard
errors, so :meth:`set_rank_tol` re-reads the rank from them exactly as a fit
with the new ``rank_tol`` would.
"""

import numpy as np

from . import _backend
from ._symmetric_merge import merge_within_noise
from .metrics import cp_rank, effective_rank, group_components
from .models import sampling_noise as sn
from .models import symmetric_cp as scp

__all__ = ["SymmetricRankMixin", "columns_of"]

#: A column belongs to a counted component when its |cos| to it is at least this
#: (the grouping tolerance of :func:`sktensorflow.metrics.group_components`).
_COS_TOL = 0.99


class SymmetricRankMixin:
    """``rank_``, ``components_``, ``weights_`` from the columns (not public)."""

    def _counted(self, comps, weights, signal=None, rank_tol=None):
        """Mask of the grouped components counted in ``rank_``.

        A component counts when its ``|weight|`` is at least ``rank_tol`` (by
        default the estimator's) times the largest and, for a sample-built
        target, both its ``|weight|`` and the target's contraction ``|<T*,
        u^{⊗order}>|`` along its direction exceed ``noise_level_``. The
        contraction is at most the noise's supremum along a direction the
        target has no signal in, whereas a fitted weight may exceed it (several
        non-orthogonal components fitting the same noise); the weight test
        drops small satellites of a true component.

        ``signal``, when given (all ``True``), is overwritten with the mask of the
        components whose contraction exceeds ``noise_level_`` (satellites
        included): the components :meth:`score` evaluates.
        """
        rank_tol = self.rank_tol if rank_tol is None else rank_tol
        level = getattr(self, "noise_level_", 0.0)
        keep = np.arange(weights.size) < cp_rank(weights, rank_tol)
        keep &= not getattr(self, "_zero_target", False)
        keep &= np.abs(weights) > level
        target = getattr(self, "_noise_target", None)
        if target is None:
            return keep
        test = np.ones(weights.size, dtype=bool) if signal is not None else keep.copy()
        if test.any():
            rho = _backend.to_numpy(
                scp.target_contractions(target, self._to_backend(comps[test].T))[1]
            )
            test[test] = np.abs(rho) > level
        if signal is not None:
            signal[:] = test
        return keep & test

    def _set_components(self, W, signs):
        """Group the fitted columns into components and estimate the rank (host arrays).

        Stores, besides the fitted attributes, the components that pass every
        test but ``rank_tol``'s, merged within the sampling noise
        (:func:`~sktensorflow._symmetric_merge.merge_within_noise`), their
        weights' standard errors (normalized) and the largest weight, for
        :meth:`_rethreshold`.
        """
        W = _backend.to_numpy(W)
        raw_weights = signs * np.sum(W * W, axis=0)
        comps, weights = group_components(W, raw_weights, self.order)
        signal = np.ones(weights.size, dtype=bool)
        free = self._counted(comps, weights, signal, rank_tol=0.0)
        level = getattr(self, "noise_level_", 0.0)
        self._free_components, self._free_weights = merge_within_noise(
            comps[free], weights[free], self.order, level
        )
        self._weight_scale = float(np.abs(np.append(weights, self._free_weights)).max(initial=0.0))
        vars(self).pop("_noise_target", None)
        splits = vars(self).pop("_noise_splits", [])
        free = self._to_backend(self._free_components.T)
        self._weight_errors_free = sn.weight_errors(splits, free)
        self._signs_host = signs
        self.effective_rank_ = effective_rank(np.abs(weights)) if weights.size else 0.0
        self._set_kept()
        self.columns_, self._columns_n = W, W
        self.column_weights_ = raw_weights
        # score: the columns of the components above the noise (all for a precomputed target)
        self._scored_columns = columns_of(W, comps[signal])

    def _set_kept(self):
        """``rank_``, ``components_``, ``weights_``, ``weight_errors_`` at ``rank_tol``.

        A stored component counts when its ``|weight|`` is at least ``rank_tol``
        times the largest weight of the fit.
        """
        weights = self._free_weights
        keep = np.abs(weights) >= self.rank_tol * self._weight_scale
        keep &= self._weight_scale > 0
        self.rank_ = int(keep.sum())
        self.components_ = self._free_components[keep]
        self.weights_ = weights[keep]
        self.weight_errors_ = self._weight_errors_free[keep]
        self._n_features_out = self.rank_

    def _rank_of(self, W, signs):
        W = _backend.to_numpy(W)
        comps, weights = group_components(W, signs * np.sum(W * W, axis=0), self.order)
        return int(self._counted(comps, weights).sum())

    def _rethreshold(self):
        """Re-read the rank at the current ``rank_tol`` from the stored components.

        The components that passed the fit's ``rank_tol``-free tests (merged
        within the noise), in the data units of the fit.
        """
        self._set_kept()
        with np.errstate(over="ignore", under="ignore"):
            self.weights_ = np.ldexp(self.weights_, self._t_exp)
            self.weight_errors_ = np.ldexp(self.weight_errors_, self._t_exp)


def columns_of(W, components):
    """Mask of the columns of ``W`` whose direction is a row of ``components`` (``|cos|``)."""
    norms = np.linalg.norm(W, axis=0)
    if components.shape[0] == 0:
        return np.zeros(W.shape[1], dtype=bool)
    cos = np.abs(components @ (W / np.where(norms > 0, norms, 1.0)))
    return (cos.max(axis=0) >= _COS_TOL) & (norms > 0)
