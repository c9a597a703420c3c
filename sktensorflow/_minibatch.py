"""Minibatch step rule of the loop: ``"minibatch_adam"``.

Registered with :func:`sktensorflow._steps.register_step_rule` (the loop
imports this module). One iteration of the loop is one *epoch*: the entries
the problem's loss sums over are shuffled and visited in batches of
``batch_size``, with an Adam step (Kingma and Ba, 2015; moments and bias
correction carried across epochs) on each batch's unbiased estimate of the
gradient; then the full loss and gradient are evaluated once, so the loop's
stopping tests, records and validation see the same quantities as with the
full-batch rules. It is the training protocol of the released code of deep
Tucker completion (Adam, batches of 128 observed entries). The problem must be
a :class:`~sktensorflow.models._minibatch.MinibatchProblem`; the order of the
entries is drawn from its batches' seed, so a fit is deterministic.

The flow time an epoch covers is ``learning_rate`` times its number of
batches (shortened, with fewer batches, to land on the loop's horizon).
"""

import math
from numbers import Integral

import tensorly as tl
from numpy.random import RandomState

from ._sklearn_private import Interval, InvalidParameterError
from ._steps import Adam, register_step_rule

__all__ = ["MinibatchAdam"]


def _batches(problem):
    batches = getattr(problem, "batches", None)
    if batches is None:
        raise InvalidParameterError(
            "solver='minibatch_adam' needs a loss over observed entries that can be "
            "evaluated on a subset of them (DeepTucker defines one); use 'adam', "
            "'gd' or 'flow'."
        )
    return batches


@register_step_rule("minibatch_adam")
class MinibatchAdam(Adam):
    """One epoch of Adam steps on shuffled minibatches of the observed entries.

    Options: ``batch_size`` (entries per batch, default 128 as in the released
    code; a batch larger than the entries is all of them, i.e. full-batch
    Adam), and Adam's ``beta1``, ``beta2``, ``eps``.
    """

    options = {**Adam.options, "batch_size": (128, [Interval(Integral, 1, None, closed="left")])}

    def __init__(self, learning_rate, **options):
        super().__init__(learning_rate, **options)
        self.rng = None  # drawn from the problem's seed at the first step

    def _update(self, params, grads, h):
        self.t += 1
        self._moments(grads)
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        return tuple(
            p - h * (m / c1) / (tl.sqrt(v / c2) + self.eps)
            for p, m, v in zip(params, self.m, self.v, strict=True)
        )

    def step(self, problem, params, loss, grads, h_max):
        batches = _batches(problem)
        if self.rng is None:
            self.rng = RandomState(batches.seed)
        order = self.rng.permutation(batches.n_entries)
        size = min(int(self.batch_size), batches.n_entries)
        n_steps = math.ceil(batches.n_entries / size)
        h = self.learning_rate
        if h * n_steps > h_max:  # land on the horizon (schedules, max_time)
            n_steps = max(1, min(n_steps, math.floor(h_max / h)))
            h = h_max / n_steps
        for start in range(0, n_steps * size, size):
            _, batch_grads = batches.fun(params, order[start : start + size])
            params = self._update(params, batch_grads, h)
        loss, grads = problem.fun(params)
        return params, loss, grads, h * n_steps, n_steps + 1
