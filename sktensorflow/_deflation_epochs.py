"""DeflationFlowCP's epochs: their schedule, its warm-start continuation, the trajectory.

The modified flow runs in epochs of growing flow time ``t0 (1 + γ)^s``. A
continuation (``warm_start=True``) adds ``max_epochs`` epochs to the ones the
previous fits had: the schedule goes on with epoch ``s = n_previous, ...``
from the previous first-epoch length, and the epoch log (end times,
re-initializations, escapes) runs on. A fit that stopped at its last epoch's
end (the only point where the last epoch is treated differently: no
re-initialization, a final saddle check) redoes that epoch end as an
ordinary one, with the random generator as it was before the final check,
so the two fits are one fit with the summed ``max_epochs``.
"""

import copy

import numpy as np

from ._deflation_trajectory import EpochLog, component_fit_times, epoch_attributes
from .models import symmetric_cp as scp

__all__ = ["DeflationEpochsMixin"]


class DeflationEpochsMixin:
    """Epoch schedule, its warm-start continuation and the trajectory (DeflationFlowCP)."""

    _warm_fixed = ("width", "order", "tensor", "whiten", "signs", "method")

    def _first_epoch_length(self, target, W0, t_norm):
        """``first_epoch_``, normalized (the previous fit's when continuing)."""
        return self._warm_value("first_epoch", lambda: self._first_epoch_from(target, W0, t_norm))

    def _first_epoch_from(self, target, W0, t_norm):
        if self.first_epoch != "auto":
            return float(self.first_epoch) / t_norm
        a_max = scp.largest_weight(target, W0)
        a_max = a_max if a_max > 0 else t_norm
        return np.log(1.0 / self.init_scale) / (2.0 * a_max)

    def _epoch_log(self):
        """The log of the epoch ends, and the epoch budget ``_total_epochs``.

        A continuation takes the previous fit's log; when that fit stopped at an
        epoch end, the entry of that end is dropped (it is redone).
        """
        previous = self._warm.extras if self._continuing() else {}
        self._total_epochs = previous.get("total_epochs", 0) + self.max_epochs
        log = previous.get("log", EpochLog())
        if self._continuing() and self._warm.loop.reason == "schedule":
            del log.times[-1:], log.n_reinit[-1:]
            log.accurate = log.stationary = log.saddle = log.unexplained = False
        self._note("total_epochs", self._total_epochs)
        self._note("log", log)
        return log

    def _epoch_ends(self):
        """Flow times of the epoch ends (a copy of the generator noted before each one)."""
        t0, growth, end = self.first_epoch_, 1.0 + self.epoch_growth, 0.0
        for s in range(self._total_epochs):
            end += t0 * growth**s
            rng = (vars(self).get("_warm_notes") or {}).get("rng")
            self._note("rng_before_end", copy.deepcopy(rng))
            yield end

    def _keep_warm_state(self, problem, loop_options, result):
        """A fit that stopped at an epoch end continues with the generator from before it."""
        super()._keep_warm_state(problem, loop_options, result)
        state = self._warm_state
        before = state.extras.pop("rng_before_end", None)
        if result.stop_reason == "schedule":
            state.rng = before

    def _set_trajectory(self, result, log, coefs, lam, target_sq):
        """Fitted attributes describing the deflation (host arrays)."""
        self.column_signs_ = coefs
        norms = np.asarray(result.history["norms"])
        times = np.asarray(result.history_time)
        self.column_norms_history_ = norms
        if self.record_columns:
            self.columns_history_ = np.asarray(result.history["columns"])
        data_loss = result.loss_curve - 0.5 * lam * np.sum(norms**2, axis=1)
        scale = np.sqrt(target_sq) if target_sq > 0 else 1.0
        self.error_curve_ = np.sqrt(np.maximum(2.0 * data_loss, 0.0)) / scale
        vars(self).update(epoch_attributes(result, log))
        fit_times = component_fit_times(
            norms, times, self.columns_, coefs, self.components_, self.order
        )
        self.fit_times_ = fit_times
        self.discovery_order_ = np.argsort(fit_times, kind="stable")

    def _rethreshold(self):
        """Components at the new ``rank_tol``, then their fit times (in data units)."""
        super()._rethreshold()
        e = self._t_exp
        fit_times = component_fit_times(
            np.ldexp(self.column_norms_history_, -(e // 2)),
            np.ldexp(self.history_time_, e),
            self._columns_n,
            self.column_signs_,
            self.components_,
            self.order,
        )
        self.fit_times_ = np.ldexp(fit_times, -e)
        self.discovery_order_ = np.argsort(fit_times, kind="stable")
