"""Scale normalization of the symmetric CP estimators.

The fit runs on data divided by an exact power of two chosen from their size, so
the normalized problem is the same whatever the data's scale (from 1e-150 to
1e150); :class:`ScaleMixin` scales the fitted attributes back to data units.
"""

import warnings
from dataclasses import replace

import numpy as np

from ._base import _outside_package_stacklevel

__all__ = ["ScaleMixin", "even_exponent"]


class ScaleMixin:
    """Normalized fit and conversion of the fitted attributes to data units."""

    def _fit(self, X):
        """Fit on normalized data (:meth:`_fit_normalized`), then scale back to data units."""
        self._fit_normalized(X)
        self._to_data_units()

    def _fit_normalized(self, X):
        """The estimator's fit on the normalized target (fitted attributes in its units)."""
        raise NotImplementedError

    def _loop_callback(self):
        """The user's ``callback``, shown the loop's state in data units.

        The loop runs on the normalized problem; the callback sees columns
        scaled by ``2**(e/2)``, the loss by ``2**(2e)`` and the flow time by
        ``2**-e``, as the fitted attributes are (exact: powers of two).
        """
        if self.callback is None:
            return None
        e, callback = self._t_exp, self.callback

        def in_data_units(state):
            return callback(
                replace(
                    state,
                    time=float(np.ldexp(state.time, -e)),
                    loss=float(np.ldexp(state.loss, 2 * e)),
                    params=tuple(p * 2.0 ** (e // 2) for p in state.params),
                )
            )

        return in_data_units

    def _user_time(self, value):
        """A flow time the user gave in data units, in the normalized problem's units."""
        return float(np.ldexp(float(value), self._t_exp))

    def _to_data_units(self):
        """Scale the fitted attributes of the normalized problem back to data units.

        The target was divided by ``2**e`` (``e = _t_exp``, even), so weights,
        noise levels and losses scale as ``2**e`` and ``2**(2e)``, columns as
        ``2**(e/2)`` and flow times as ``2**-e``; the samples were divided by
        ``2**k`` (``k = _x_exp``).
        """
        e, k = self._t_exp, self._x_exp
        normalized = self.weights_
        powers = [(e, _WEIGHT_ATTRS), (e // 2, _COLUMN_ATTRS), (2 * e, ("loss_curve_",))]
        with np.errstate(over="ignore", under="ignore"):
            for power, names in [*powers, (-e, _TIME_ATTRS)]:
                for name in names:
                    if name in vars(self):
                        value = np.ldexp(getattr(self, name), power)
                        setattr(self, name, value if np.ndim(value) else float(value))
            self.mean_ = np.ldexp(self._mean_n, k)
            whitened = self.whiten and self.tensor == "cumulant"  # scale-free whitened data
            self.whitening_ = np.ldexp(self._whitening_n, -k) if whitened else self._whitening_n
        self._check_weights_range(normalized)

    def _check_weights_range(self, normalized):
        """Warn when ``weights_`` over- or underflowed in data units."""
        lost = (self.weights_ == 0) != (normalized == 0)
        if np.any(lost | np.isinf(self.weights_)):
            warnings.warn(
                f"weights_ of {type(self).__name__} are outside the float64 range in data "
                f"units (the target is of the order of 2**{self._t_exp}): they are inf or 0 "
                f"there. "
                f"rank_, components_, transform and score are unaffected; rescale X "
                f"(or use whiten=True) to read the weights.",
                UserWarning,
                stacklevel=_outside_package_stacklevel(),
            )

    def _normalize_samples(self, X, x_exp=None):
        """``X / 2**k`` (``k`` in ``_x_exp``): ``x_exp``, or ``max |X / 2**k|`` in ``[1/4, 1)``."""
        if x_exp is None:
            x_exp = even_exponent(np.max(np.abs(X)) if X.size else 0.0)
        self._x_exp = x_exp
        return np.ldexp(X, -self._x_exp)

    def _warm_extras(self):
        """A continuation keeps the first fit's normalization (:mod:`sktensorflow._warm_start`)."""
        return {**super()._warm_extras(), "x_exp": self._x_exp, "t_exp": self._t_exp}

    def _normalize_precomputed(self, data, t_exp=None):
        """Divide a precomputed target by ``2**e`` (even; from its size if ``t_exp`` is None)."""
        if data[0] == "dense":
            e = even_exponent(np.max(np.abs(data[1]))) if t_exp is None else t_exp
            return ("dense", np.ldexp(data[1], -e)), e
        _, w, A = data
        f = even_exponent(np.max(np.abs(A)) if A.size else 0.0)
        g = even_exponent(np.max(np.abs(w)) if w.size else 0.0)
        g = g + (g + f * self.order) % 2 if t_exp is None else t_exp - f * self.order
        return ("cp", np.ldexp(w, -g), np.ldexp(A, -f)), g + f * self.order

    def _preprocess_normalized(self, X):
        """Centered, whitened samples of the normalized problem (chunked for a dask ``X``)."""
        from ._chunked import is_dask_array, samples_for

        if is_dask_array(X):
            return samples_for(self, X, fit=False)
        return (np.ldexp(X, -self._x_exp) - self._mean_n) @ self._whitening_n


#: Fitted attributes in the units of the target (scaled by ``2**e``), of the
#: columns (``2**(e/2)``) and of flow time (``2**-e``), for :meth:`_to_data_units`.
_WEIGHT_ATTRS = ("weights_", "weight_errors_", "noise_level_", "column_weights_")
_COLUMN_ATTRS = ("columns_", "column_norms_history_", "columns_history_", "init_norm_")
_TIME_ATTRS = (
    *("time_curve_", "history_time_", "learning_rate_"),
    *("first_epoch_", "epoch_times_", "fit_times_"),
)


def even_exponent(size):
    """Even ``k`` with ``size / 2**k`` in ``[1/4, 1)`` (0 for a zero or non-finite size)."""
    if not (np.isfinite(size) and size > 0):
        return 0
    k = int(np.frexp(size)[1])
    return k + k % 2
