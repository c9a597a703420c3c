"""What the loop watches besides the loss: records, the held-out loss, schedules.

:class:`Recorder` stores user-defined records (and the held-out loss) every few
iterations; :class:`Validation` implements early stopping on the problem's
held-out loss and keeps the best iterate; :class:`Schedule` applies actions to
the parameters at given flow times. All are driven by
:func:`sktensorflow._optim.minimize`.
"""

import math

import numpy as np

__all__ = ["Recorder", "Schedule", "Validation"]


class Recorder:
    """Records ``record(view)`` (and the held-out loss) every ``every`` iterations."""

    def __init__(self, problem, record, every):
        self.view, self.record, self.every = problem.view, record, max(int(every), 1)
        self.heldout = problem.heldout_loss
        self.history, self.iters, self.times = {}, [], []

    def __call__(self, params, n_iter, time, force=False):
        if (self.record is None and self.heldout is None) or not (
            force or n_iter % self.every == 0
        ):
            return
        if self.iters and self.iters[-1] == n_iter:
            return
        values = {} if self.record is None else dict(self.record(self.view(params)))
        if self.heldout is not None:
            values["heldout_loss"] = float(self.heldout(params))
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        self.iters.append(n_iter)
        self.times.append(time)


class Validation:
    """Early stopping on the problem's held-out loss, keeping the best iterate.

    The held-out loss is evaluated every ``every`` iterations. The loop stops
    after ``patience`` evaluations in a row that do not improve on the best by
    more than ``tol`` relative to it, provided the training loss has meanwhile
    decreased by more than ``plateau_tol`` relative to its value at the best
    evaluation: the fit is then learning something the held-out entries do not
    confirm. On a plateau of the stagewise dynamics neither loss moves, and
    stopping there would select too low a rank.
    """

    def __init__(self, heldout_loss, patience, every, tol, plateau_tol=0.0):
        self.heldout_loss, self.patience = heldout_loss, patience
        self.every, self.tol, self.plateau_tol = max(int(every), 1), tol, plateau_tol
        self.losses, self.iters = [], []
        self.best, self.best_iter, self.best_params, self.misses = math.inf, None, None, 0
        self.best_train_loss = math.inf

    def check(self, params, n_iter, train_loss):
        """``"early_stopping"`` once the held-out loss has stopped improving."""
        if n_iter % self.every != 0:
            return None
        self._evaluate(params, n_iter, train_loss)
        learning = train_loss < self.best_train_loss * (1.0 - self.plateau_tol)
        return "early_stopping" if self.misses >= self.patience and learning else None

    def _evaluate(self, params, n_iter, train_loss):
        loss = float(self.heldout_loss(params))
        self.losses.append(loss)
        self.iters.append(n_iter)
        if self.best_params is None or loss < self.best - self.tol * abs(self.best):
            self.best, self.best_iter, self.best_params, self.misses = loss, n_iter, params, 0
            self.best_train_loss = train_loss
        else:
            self.misses += 1

    def wait(self):
        """Restart the patience (the loop continues from a re-seeded iterate)."""
        self.misses = 0

    def finish(self, params, n_iter, train_loss):
        """The best parameters, the last iterate competing too."""
        if self.iters[-1] != n_iter:
            self._evaluate(params, n_iter, train_loss)
        return self.best_params


class Schedule:
    """Actions applied to the parameters at given flow times.

    Parameters
    ----------
    times : iterable of float
        Increasing flow times (may be infinite, e.g. a generator).
    action : callable
        ``action(params, time, index) -> params`` returns the parameters to
        continue from, or ``None`` to stop the loop.
    """

    def __init__(self, times, action):
        self._times = iter(times)
        self.action = action
        self.index = 0
        self.next_time = next(self._times, np.inf)

    def fire(self, params, time):
        """Apply the action and advance to the following event time."""
        new = self.action(params, time, self.index)
        self.index += 1
        self.next_time = next(self._times, np.inf)
        return new
