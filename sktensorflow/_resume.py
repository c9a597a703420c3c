"""The loop's resumable state: what a warm start needs to continue a run exactly.

:func:`sktensorflow._optim.minimize` returns, with its result, a
:class:`LoopState`: the last iterate (not the best one early stopping keeps),
the iteration counter, the flow time, the loss curve, the records, the
validation record (best held-out loss, its parameters, the patience spent),
the escape counters, the schedule's position and the step rule's own state
(Adam's moments, the flow solver's next trial step). Passed back as
``minimize(..., resume=state)``, the loop continues as if it had never
stopped: from a run that ended at ``max_iter``, ``n`` more iterations are the
iterations ``n_iter + 1, ..., n_iter + n`` of one longer run.

Arrays are kept on the host (numpy), so a state can be pickled and resumed on
any backend.
"""

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from . import _backend

__all__ = ["LoopState", "capture", "restore", "start_of"]

#: Attributes of a :class:`~sktensorflow._monitoring.Validation` that make up its state.
_VALIDATION = ("losses", "iters", "best", "best_iter", "best_params", "misses", "best_train_loss")


@dataclass
class LoopState:
    """A run of the loop, as it stood when it stopped (host arrays)."""

    solver: str
    params: tuple
    reason: str = ""
    n_iter: int = 0
    time: float = 0.0
    n_evals: int = 0
    n_escapes: int = 0
    escape_loss: float = math.inf
    plateau_iter: int | None = None
    losses: list = field(default_factory=list)
    times: list = field(default_factory=list)
    history: dict = field(default_factory=dict)
    history_iter: list = field(default_factory=list)
    history_time: list = field(default_factory=list)
    validation: dict | None = None
    schedule_index: int | None = None
    rule: dict = field(default_factory=dict)


def _host(value):
    """``value`` with every backend array (also inside tuples) as a numpy copy."""
    if isinstance(value, tuple | list):
        return type(value)(_host(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.copy()
    if _backend.array_backend(value) not in (None, "numpy"):
        return _backend.to_numpy(value).copy()
    return copy.deepcopy(value)


def _device(value):
    """``value`` with every numpy array (also inside tuples) on the active backend."""
    if isinstance(value, tuple | list):
        return type(value)(_device(v) for v in value)
    if isinstance(value, np.ndarray):  # floats as the fit's working dtype
        inexact = np.issubdtype(value.dtype, np.inexact)
        return _backend.to_backend(value.copy(), dtype=None if inexact else value.dtype)
    return copy.deepcopy(value)


def start_of(state):
    """The parameters ``state`` stopped at, on the active backend."""
    return _device(tuple(state.params))


def _rule_state(rule):
    """The step rule's mutable state: its attributes other than the step and options."""
    skip = {"learning_rate", *rule.options}
    return {name: _host(value) for name, value in vars(rule).items() if name not in skip}


def capture(run, rule, validation, schedule, solver, reason):
    """The :class:`LoopState` of ``run`` as it stopped for ``reason``.

    Taken before the run's final record and before early stopping swaps in the
    best iterate, so a resumed run records and validates exactly as an
    uninterrupted one. A run a schedule action stopped resumes at that event,
    which fires again (with the continuation's schedule) before the first step.
    """
    recorder = run.recorder
    index = None
    if schedule is not None:
        index = schedule.index - (reason == "schedule")
    return LoopState(
        solver=solver,
        params=_host(tuple(run.params)),
        reason=reason,
        n_iter=run.n_iter,
        time=run.time,
        n_evals=run.n_evals,
        n_escapes=run.n_escapes,
        escape_loss=run.escape_loss,
        plateau_iter=run.plateau_iter,
        losses=list(run.losses),
        times=list(run.times),
        history={key: list(values) for key, values in recorder.history.items()},
        history_iter=list(recorder.iters),
        history_time=list(recorder.times),
        validation=None
        if validation is None
        else {name: _host(getattr(validation, name)) for name in _VALIDATION},
        schedule_index=index,
        rule=_rule_state(rule),
    )


def restore(state, run, rule, validation, schedule, solver):
    """Put a freshly started ``run`` (and its helpers) back where ``state`` stopped.

    ``run`` was started at ``state.params``; its one evaluation there counts.
    The step rule's state is restored only for the same ``solver``; a
    validation or a schedule absent from either run is left as it is.
    """
    run.n_iter, run.time = state.n_iter, state.time
    run.n_evals = state.n_evals + run.n_evals
    run.n_escapes, run.escape_loss = state.n_escapes, state.escape_loss
    run.plateau_iter = state.plateau_iter
    run.losses, run.times = list(state.losses), list(state.times)
    recorder = run.recorder
    recorder.history = {key: list(values) for key, values in state.history.items()}
    recorder.iters, recorder.times = list(state.history_iter), list(state.history_time)
    if solver == state.solver:
        for name, value in state.rule.items():
            setattr(rule, name, _device(value))
    if validation is not None and state.validation is not None:
        for name, value in state.validation.items():
            setattr(validation, name, _device(value))
    if schedule is not None and state.schedule_index:
        _skip(schedule, state.schedule_index)


def _skip(schedule, index):
    """Advance ``schedule`` to event ``index`` without firing the earlier ones."""
    while schedule.index < index:
        schedule.index += 1
        schedule.next_time = next(schedule._times, math.inf)
