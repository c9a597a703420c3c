"""Exact power-of-two normalization of the sample-axis estimators' data.

``TubalFactorizer`` and ``DeepTucker`` fit the observed data divided by
``2**e`` (``e`` even, chosen so that the largest observed entry lies in
``[1/4, 1)``): the division is exact in floating point, so the normalized
problem is the same whatever the data's scale, and the loss (a sum of squares)
neither overflows at 1e200 nor underflows at 1e-150. :class:`DataScaleMixin`
scales the fitted attributes back to data units and folds rows in (for
``transform``, ``complete`` and ``score``) in the normalized units, where the
fold-in's prior and noise variance (kept normalized) are representable.
"""

from dataclasses import replace

import numpy as np

from ._symmetric_scale import even_exponent

__all__ = ["DataScaleMixin"]


class DataScaleMixin:
    """Fit on ``X / 2**e`` and report in data units (``e`` in ``_data_exp``).

    Placed just before the fold-in mixin (:class:`~sktensorflow._foldin.FoldInMixin`
    or a subclass) in the bases, whose ``_fold_in`` it wraps: the fold-in's
    prior and noise variance are learned on the normalized data and stay in
    its units (the noise variance of data at 1e200 is beyond the float64
    range); :meth:`_fold_in` converts the rows (``score`` computes R² after an
    exact power-of-two rescaling, :func:`~sktensorflow._foldin.masked_r2`).
    """

    def _normalize_data(self, X):
        """``X / 2**e`` with the largest observed ``|entry|`` in ``[1/4, 1)`` (``NaN`` kept).

        A warm start continues on data of the previous fit's shape, divided by
        the previous fit's ``2**e``. ``_all_zero`` says whether every observed
        entry is zero.
        """
        warm = self._continuation(X.shape)
        observed = np.abs(X[~np.isnan(X)])
        largest = observed.max() if observed.size else 0.0
        self._all_zero = not largest > 0
        self._data_exp = warm.extras["data_exp"] if warm else even_exponent(largest)
        return np.ldexp(X, -self._data_exp)

    def _warm_extras(self):
        """A continuation keeps the first fit's normalization (:mod:`sktensorflow._warm_start`)."""
        return {**super()._warm_extras(), "data_exp": self._data_exp}

    def _refit_fold_in_prior(self):
        """Re-learn the fold-in prior for the current basis, keeping the noise variance.

        For :meth:`set_rank_tol`: the prior comes from the fitted values alone,
        the noise variance (which needs the data) from the fitted values' residual,
        which the basis does not change.
        """
        noise_var = self._noise_var
        fitted = self._fitted_values()
        self._set_fold_in_prior(fitted, np.zeros(fitted.shape, dtype=bool))
        self._noise_var = noise_var

    def _to_data_units(self, powers):
        """Multiply fitted attributes by ``2**(p * e / 2)``.

        Parameters
        ----------
        powers : dict
            Attribute name to ``p``, the power of the data's scale it carries,
            in halves (``2``: data units, ``1``: a factor's share of a product,
            ``4``: squared, ``-2``: flow time). Lists are scaled elementwise,
            ``None`` and missing attributes are skipped.
        """
        for name, half_power in powers.items():
            value = vars(self).get(name)
            if value is not None:
                setattr(self, name, scale_by_power(value, half_power * self._data_exp // 2))

    def _unit(self, half_power):
        """Data unit ``2**(half_power * e / 2)``: that of ``c**(half_power / 2)``."""
        return 2.0 ** (half_power * self._data_exp // 2)

    def _view_in_data_units(self, problem, half_power):
        """``problem`` whose view (callback, records, result) is in data units.

        Every viewed array is multiplied by :meth:`_unit` (exactly, on any backend).
        """
        view, unit = problem.view, self._unit(half_power)
        return replace(problem, view=lambda params: tuple(p * unit for p in view(params)))

    def _user_rate(self, value, half_power):
        """A learning rate given in data units (scaling as ``c**(half_power / 2)``), normalized."""
        return float(np.ldexp(float(value), -half_power * self._data_exp // 2))

    def _fold_in(self, X):
        """The fold-in's coefficients (data units), solved on the normalized rows."""
        exp = getattr(self, "_data_exp", 0)
        return scale_by_power(super()._fold_in(np.ldexp(X, -exp)), exp)


def scale_by_power(value, exp):
    """``value * 2**exp`` for an array, a float or a list/tuple of them (no overflow warning)."""
    if isinstance(value, list | tuple):
        return type(value)(scale_by_power(v, exp) for v in value)
    with np.errstate(over="ignore", under="ignore"):
        scaled = np.ldexp(value, exp)
    return scaled if np.ndim(value) else float(scaled)
