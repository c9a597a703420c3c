"""TubalFactorizer's start, its warm-start continuation and its re-thresholding.

The start: the width cap, the initial factors and the step. A continuation
(``warm_start=True``) draws no start: it resumes the loop of the previous fit
along the tube axis that fit used (the one ``tube_axis="auto"`` chose), with
its validation split (:meth:`EarlyStoppingMixin._heldout_entries
<sktensorflow._early_stopping.EarlyStoppingMixin>`) and the seed norm of its
saddle escapes. :meth:`_rethreshold` re-reads ``tubal_rank_`` from the fitted
factors.
"""

import numpy as np

from . import _backend
from ._optim import OptimResult
from ._tube_axis import candidate_axes

__all__ = ["TubalStateMixin"]

#: The histories :meth:`TubalSVDMixin._set_fitted` expects, empty (re-thresholding keeps them).
_NO_HISTORY = OptimResult(
    params=(),
    view=(),
    loss_curve=np.zeros(0),
    time_curve=np.zeros(0),
    n_iter=0,
    n_grad_evals=0,
    converged=True,
    stop_reason="",
    history={"rank": [], "singular_values": []},
)


class TubalStateMixin:
    """Start, continuation and re-thresholding of :class:`~sktensorflow.TubalFactorizer`."""

    _warm_fixed = ("width", "symmetric", "early_stopping", "validation_fraction")

    def _initial_factors(self, rng, shape, sigma):
        n1, n2, k = shape
        width, rng = self._width(n1, n2), self._start_rng(rng)
        size = self.init_scale_ * np.sqrt(sigma / k) / np.sqrt(width)
        A = size * rng.standard_normal((n1, width, k))
        if self.symmetric:
            return (A,)
        return (A, size * rng.standard_normal((n2, width, k)))

    def _width(self, n1, n2):
        """``width``, capped at twice the largest tubal rank of an ``n1 x n2`` slice."""
        return min(self.width, 2 * min(n1, n2))

    def _tube_axes(self, heldout):
        """Tube axes to fit: the candidates of ``tube_axis``, or the previous fit's axis."""
        ndim = 1 + len(self.feature_shape_)
        axes = self._warm_value(
            "tube_axes",
            lambda: candidate_axes(
                self.tube_axis, ndim, validated=heldout is not None, symmetric=self.symmetric
            ),
        )
        if self.tube_axis not in ("auto", *axes):
            raise ValueError(
                f"warm_start=True continues a fit with its tubes along axis {axes[0]}; "
                f"tube_axis={self.tube_axis!r} asks for another. Set warm_start=False to "
                f"fit afresh, or tube_axis='auto' to continue."
            )
        return axes

    def _seed_norm(self, params):
        """Norm of the columns the saddle escape re-seeds: the initial factors' median."""
        return self._warm_value(
            "seed_norm",
            lambda: float(np.median(np.linalg.norm(_backend.to_numpy(params[0]), axis=(0, 2)))),
        )

    def _warm_extras(self):
        """A continuation fits only the axis this fit used."""
        return {**super()._warm_extras(), "tube_axes": (self.tube_axis_,)}

    def _rethreshold(self):
        """``tubal_rank_`` and its t-SVD attributes at ``rank_tol``, from ``factors_``.

        On the normalized factors (an exact power of two), as the fit computed
        them, then back to data units; the fold-in prior is re-learned for the
        new basis (the noise variance does not depend on it).
        """
        half = self._data_exp // 2
        A, B = (np.ldexp(_backend.to_numpy(f), -half) for f in self.factors_)
        histories = self.tubal_rank_history_, self.singular_values_history_
        self._set_fitted((A, B), _NO_HISTORY, zero_data=self._all_zero)
        self.tubal_rank_history_, self.singular_values_history_ = histories
        self._refit_fold_in_prior()
        self._to_data_units({"factors_": 1, "singular_values_": 2, "singular_tubes_": 2})
