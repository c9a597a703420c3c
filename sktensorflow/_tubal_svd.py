"""The fitted tensor's t-SVD: TubalFactorizer's rank, components and records.

:class:`TubalSVDMixin` turns the fitted factors ``A`` and ``B`` (tubes along
the fit's ``tube_axis_``) into the estimator's attributes: the slice singular
values and ``tubal_rank_``, the singular tubes, the right singular tubes as
``components_`` (in the input's orientation) and the fold-in design, and
exports the truncated t-SVD. It also records the rank along the fit.
"""

import numpy as np

from . import _backend
from . import tproduct as tp
from ._interop import tsvd_to_tensorly
from ._tube_axis import from_tubes
from .metrics import count_above, effective_rank

__all__ = ["TubalSVDMixin"]


#: Fitted attributes (set in the normalized units of the fit) that carry the
#: data's scale ``c``, with the power of ``c`` they scale by, in halves
#: (:meth:`sktensorflow._data_scale.DataScaleMixin._to_data_units`).
_MODEL_UNITS = {
    "factors_": 1,
    **dict.fromkeys(("singular_values_", "singular_tubes_", "singular_values_history_"), 2),
    "loss_curve_": 4,
}

#: Units of a solver's step (power of ``c`` in halves); others step in time, ``1/c``.
_STEP_UNITS = {"scaled_gd": 0, "adam": 1}


class TubalSVDMixin:
    """Fitted attributes of :class:`~sktensorflow.TubalFactorizer` from its factors."""

    def _step_units(self):
        """Power of the data's scale ``c`` (in halves) a step of the solver carries.

        Gradient descent and the flow step in time (``1/c``), Adam in a
        factor's units (``sqrt(c)``); the step of ``"scaled_gd"`` is dimensionless.
        """
        return _STEP_UNITS.get(self.solver, -2)

    def _data_units(self):
        """Fitted attributes in data units: the power of ``c`` (in halves) of each."""
        steps = ("learning_rate_", "time_curve_", "history_time_")
        return {**_MODEL_UNITS, **dict.fromkeys(steps, self._step_units())}

    def _record(self, factors):
        """Rank and slice singular values (of ``X / 2**e``) of factors in data units."""
        unit = self._unit(1)
        s = tp.tubal_singular_values_factorized(factors[0] / unit, factors[-1] / unit)
        return {"rank": count_above(s, self.rank_tol, axis=1), "singular_values": s}

    def _set_fitted(self, factors, result, zero_data=False):
        A, B = factors[0], factors[-1]
        _, S, V, s = tp.t_svd_factorized(A, B, return_slice_values=True)
        rank = 0 if zero_data else count_above(s, self.rank_tol, axis=1)
        S, V = S[:rank, :rank], V[:, :rank]
        k = V.shape[2]
        self.tubal_rank_ = rank
        self.effective_rank_ = max(effective_rank(row) for row in s) if s.size else 0.0
        self.singular_values_ = s
        self.singular_tubes_ = np.ascontiguousarray(S[np.arange(rank), np.arange(rank), :])
        components = from_tubes(np.transpose(V, (1, 0, 2)), self.tube_axis_)
        self.components_ = components.reshape((rank, *self.feature_shape_))
        self.factors_ = [A, B]
        self.tubal_rank_history_ = np.asarray(result.history["rank"])
        self.singular_values_history_ = np.asarray(result.history["singular_values"])
        self._n_features_out = rank * k

    def _fitted_values(self):
        A, B = (_backend.to_numpy(f) for f in self.factors_)
        with _backend.backend_context("numpy"):
            fitted = tp.t_product(A, tp.t_transpose(B))
        return from_tubes(fitted, self.tube_axis_)

    def to_tensorly(self, full=False):
        """The t-SVD of the fitted tensor, on the fit's backend.

        Parameters
        ----------
        full : bool, default=False
            ``False``: truncated at ``tubal_rank_`` tubes. ``True``: every
            singular tube of the fitted ``A * B^T``, which it reproduces exactly.

        Returns
        -------
        result : sktensorflow.tproduct.TSVDResult
            The named tuple ``(U, S, V)``, ``U`` of shape ``(n_samples, r,
            n_tubes)``, ``S`` of shape ``(r, r, n_tubes)``, ``V`` of shape
            ``(n_features, r, n_tubes)``, in the t-product's orientation
            (``tube_axis_`` moved last); ``result.to_tensor()`` is ``U * S * V^T``.
        """
        return tsvd_to_tensorly(self, full=full)
