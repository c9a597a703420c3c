"""OverparamCP's ``method="epochs"``: the variant of gradient descent of Wang et al. (2020).

Wang, Wu, Lee, Ma and Ge ("Beyond Lazy Training for Over-parameterized Tensor
Decomposition", NeurIPS 2020) show that plain gradient descent on an
over-parametrized symmetric CP model can get stuck, and analyse a variant
that runs in epochs: gradient descent on the ℓ2-regularized loss
``½||T - T*||² + (λ/2)||W||²`` from a small initialization, and at every epoch
boundary the components that are still small are re-initialized, so that a
fresh random correlation with an unfitted component can be amplified by the
tensor-power-method dynamics of small components. The paper has no
experiments; the concrete schedule here is: epochs of a constant flow time
``epoch_length``, every column below ``reinit_threshold`` re-drawn at the
initial norm in a uniform random direction at each boundary, ``λ`` constant,
and a stop once ``||T - T*||_F <= target_accuracy ||T*||_F`` or after
``max_epochs`` epochs.

A continuation (``warm_start=True``) adds ``max_epochs`` epochs to the ones
the previous fits ran: the epoch length is the first fit's, the schedule goes
on with the next boundary and the epoch log runs on. A fit that stopped at
its last boundary (where nothing is re-drawn) redoes that boundary as an
ordinary one, so two fits are one fit with the summed ``max_epochs``.

This module builds the pieces the estimator hands to the shared loop; it has
no loop of its own.
"""

import copy
from dataclasses import replace

import numpy as np
import tensorly as tl

from ._deflation_trajectory import EpochLog
from ._optim import Schedule
from .models import symmetric_cp as scp

__all__ = [
    "EpochLog",
    "continued_log",
    "epoch_attributes",
    "epoch_length",
    "epoch_schedule",
    "epochs_loop",
    "epochs_problem",
]


def epoch_length(est, target, W0, t_norm):
    """Flow time of one epoch (normalized units).

    A user value is in units of ``1/||T*||_F``. ``"auto"``: twice the escape
    time ``ln(δ1/δ0) / (2 a_min)`` of a column growing from the initial norm
    ``δ0`` to the threshold ``δ1`` along a component of weight ``a_min``,
    where ``a_min = ||T*||_F / 20`` (components more than 20 times below the
    norm of the target are not sought); at least the escape time of the
    largest component ``ln(1/init_scale) / (2 a_max)``.
    """
    if est.epoch_length != "auto":
        return float(est.epoch_length) / t_norm
    init_scale = est.init_scale if est.init_scale is not None else 1e-3
    a_max = scp.largest_weight(target, W0)
    a_max = a_max if a_max > 0 else t_norm
    grow = 2.0 * np.log(max(est.reinit_threshold / init_scale, np.e)) / (2.0 * t_norm / 20.0)
    return max(grow, np.log(1.0 / init_scale) / (2.0 * a_max))


def epochs_problem(problem):
    """The problem without a ``tol`` stop inside an epoch and without saddle escapes.

    ``rate_scale=0``: the loop's ``tol`` test then only passes at an exactly
    zero gradient, so a stationary point inside an epoch is left by the
    re-initialization at its end (as in the analysed algorithm), which is
    also this method's escape from saddles.
    """
    return replace(problem, rate_scale=0.0, escape=None)


def epoch_schedule(fun, rng, *, length, max_epochs, init_norm, threshold, l2_reg, goal, log=None):
    """Epoch boundaries every ``length`` flow time, re-drawing every column below ``threshold``.

    The action stops the loop (returns ``None``) at the boundary where the data
    loss ``½||T - T*||²`` is at most ``goal`` or after ``max_epochs`` epochs
    (counted from the first boundary). The schedule's ``log`` (``log``, or a
    new :class:`EpochLog`) records the boundary times and the re-draws.
    """
    log = EpochLog() if log is None else log

    def action(params, time, index):
        loss, (grad,) = fun(params)
        W = params[0]
        log.times.append(time)
        log.accurate = loss - 0.5 * l2_reg * float(tl.sum(W * W)) <= goal
        if log.accurate or index + 1 >= max_epochs:
            log.n_reinit.append(0)
            return None
        W, n_new = scp.reinit_small_columns(W, grad, rng, init_norm, threshold, keep_growing=False)
        log.n_reinit.append(n_new)
        return (W,)

    schedule = Schedule((length * (k + 1) for k in range(max_epochs)), action)
    schedule.log = log
    return schedule


def epochs_loop(est, problem, target, W0, rng, t_norm, target_sq):
    """``(problem, loop options)`` of ``OverparamCP(method="epochs")`` (normalized units)."""
    if est.regime == "lazy":
        raise ValueError(
            "method='epochs' is the rich-regime algorithm of Wang et al. (2020) "
            "(re-initialization of small columns); got regime='lazy'."
        )
    log, total_epochs = continued_log(est)
    schedule = epoch_schedule(
        problem.fun,
        rng,
        length=est._warm_value("epoch_length", lambda: epoch_length(est, target, W0, t_norm)),
        max_epochs=total_epochs,
        init_norm=est._init_norm(t_norm),
        threshold=est.reinit_threshold * np.sqrt(t_norm),
        l2_reg=est.l2_reg * t_norm,
        goal=0.5 * est.target_accuracy**2 * target_sq,
        log=log,
    )
    return epochs_problem(problem), {"schedule": schedule}


def continued_log(est):
    """``(log, total_epochs)``: the epoch log to extend and the epoch budget of this fit.

    A fresh fit starts an empty log with ``max_epochs``; a continuation takes
    (a copy of) the previous fit's log and adds ``max_epochs`` to its budget.
    When the previous fit stopped at a boundary, that boundary's entry is
    dropped: the continuation redoes it.
    """
    previous = est._warm.extras if est._continuing() else {}
    total = previous.get("total_epochs", 0) + est.max_epochs
    log = copy.deepcopy(previous.get("log", EpochLog()))
    if est._continuing() and est._warm.loop.reason == "schedule":
        del log.times[-1:], log.n_reinit[-1:]
        log.accurate = False
    est._note("total_epochs", total)
    est._note("log", log)
    return log, total


def epoch_attributes(result, log):
    """``epoch_times_``, ``n_reinit_``, ``n_epochs_`` and the translated ``stop_reason_``."""
    reason = result.stop_reason
    if reason == "target_loss" or (reason == "schedule" and log.accurate):
        reason = "target_accuracy"
    elif reason == "schedule":
        reason = "max_epochs"
    return {
        "epoch_times_": np.asarray(log.times, dtype=float),
        "n_reinit_": np.asarray(log.n_reinit, dtype=int),
        "n_epochs_": len(log.times),
        "stop_reason_": reason,
    }
