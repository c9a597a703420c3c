"""DeepTucker's resolved settings: core widths, initialization, step size, solver options.

:class:`DeepTuckerSettingsMixin` turns ``width``, ``init_scale``,
``init_scaling``, ``learning_rate`` and ``solver`` into the numbers a fit uses
(see the parameters of :class:`~sktensorflow.DeepTucker`).
"""

import numpy as np

from .models import deep_tucker as dtm

__all__ = ["DEFAULT_WIDTH", "FIXED_INIT_ADAM_EPS", "DeepTuckerSettingsMixin"]

#: Core size per mode when ``width=None`` (capped by the tensor's dimensions).
DEFAULT_WIDTH = 32

#: Adam's ``eps`` under ``init_scaling="fixed"``: at depth 3 the depth-1 start's
#: gradient is about ``1e-13`` (normalized units), below Adam's usual ``1e-8``.
FIXED_INIT_ADAM_EPS = 1e-30

#: Step size of ``learning_rate="auto"`` per Adam solver (normalized units).
_ADAM_RATES = {"adam": 2e-2, "minibatch_adam": 1e-3}


class DeepTuckerSettingsMixin:
    """Resolved settings of :class:`~sktensorflow.DeepTucker`."""

    def _settings(self, shape):
        """Core widths, initial core slice norm and step size for data of ``shape``."""
        total = int(np.prod(shape))
        width = DEFAULT_WIDTH if self.width is None else int(self.width)
        widths = tuple(min(n, total // n, width) for n in shape)
        init = self.init_scale
        if init is None:
            adam = self.solver in _ADAM_RATES
            scaling = self.init_scaling
            init = dtm.default_init_scale(len(shape), self.depth, adam=adam, scaling=scaling)
        lr = self.learning_rate
        if lr == "auto":
            lr = _ADAM_RATES.get(self.solver, 1.0 / dtm.n_layers(len(shape), self.depth))
        return widths, float(init), float(lr)

    def _preferred_solver_options(self):
        """A tiny Adam ``eps`` under ``init_scaling="fixed"`` (the user's options win)."""
        preferred = dict(super()._preferred_solver_options())
        if self.init_scaling == "fixed":
            preferred["eps"] = FIXED_INIT_ADAM_EPS
        return preferred
