"""The one iteration loop of the library.

:func:`minimize` drives a :class:`~sktensorflow.models._problem.Problem` (the
loss and gradient over a tuple of backend arrays, their scale and user-facing
view) with a step rule registered by name in ``sktensorflow._steps``:

``"gd"``
    Fixed-step gradient descent, ``p <- p - learning_rate * grad``. Its flow time
    advances by ``learning_rate`` per iteration (it is the explicit Euler scheme
    of the gradient flow).
``"scaled_gd"``
    Descent along ``problem.precondition(params, grads, damping)``, the
    gradient times the inverse of the model's damped curvature estimate
    (``learning_rate`` is then dimensionless), halving a step that does not
    decrease the loss.
``"flow"``
    Follows the gradient flow ``dp/dt = -grad L(p)`` with an embedded
    Bogacki-Shampine 3(2) Runge-Kutta pair and error control, so plateaus are
    crossed with long steps and fast phases with short ones. ``learning_rate``
    is the first trial step in flow time.
``"adam"``
    Adam with bias correction; ``learning_rate`` is its step size.
``"minibatch_adam"``
    One epoch of Adam steps on shuffled minibatches of the observed entries
    per iteration (``sktensorflow._minibatch``), for problems that define
    their loss on a subset of entries.

Each rule declares its options (``solver_options``); unknown options and
invalid values are errors that name them.

Stopping: a non-finite loss raises :class:`FloatingPointError` (the flow solver
first retries with shorter steps); ``tol`` on the largest relative rate of change
of the parameters; ``target_loss``; ``max_time`` (flow time); ``max_iter``;
early stopping on the problem's held-out loss (``n_iter_no_change``, returning
the best iterate); a ``callback`` returning ``True`` or raising
:class:`StopIteration`; a :class:`Schedule` action returning ``None``. A ``tol``
stop is checked for a saddle first: when the problem's ``escape`` finds an
unexplained direction, the loop continues from the re-seeded parameters (at
most ``max_escapes`` times, then it stops with ``"saddle"``); an early stop
likewise continues from the re-seeded best iterate while that helps
(:mod:`sktensorflow._escapes`).
"""

import math
from dataclasses import replace

import numpy as np
from tqdm.auto import tqdm

from . import _minibatch  # noqa: F401  (registers the "minibatch_adam" step rule)
from ._escapes import ESCAPE_PROGRESS, escape_plateau, escape_saddle
from ._monitoring import Recorder, Schedule, Validation
from ._optim_result import OptimResult, OptimState
from ._resume import capture, restore, start_of
from ._steps import SOLVERS, make_step_rule
from .models._problem import Problem, max_ratio, precision_ratio

__all__ = ["OptimResult", "OptimState", "Problem", "Schedule", "minimize", "SOLVERS"]


def _check_finite(loss, solver):
    if not math.isfinite(loss):
        advice = (
            "the flow solver could not keep the iteration finite: check the data's scale"
            if solver == "flow"
            else "use a smaller learning_rate, or solver='flow', which adapts its step"
        )
        raise FloatingPointError(
            f"The loss became non-finite ({loss}) with solver={solver!r}; the iteration "
            f"diverged: {advice}."
        )


def _progress(verbose, max_iter, describe, view):
    bar = tqdm(total=max_iter, disable=not verbose, leave=False)

    def update(n_iter, loss, params):
        bar.update(1)
        if verbose and (n_iter % 10 == 0 or n_iter == 1):
            extra = describe(view(params)) if describe is not None else ""
            bar.set_postfix_str(f"loss={loss:.3e} {extra}".strip())

    return bar, update


class _Run:
    """State of one run of the loop: the current point and its recorded past."""

    def __init__(self, problem, solver, recorder, resumed=False):
        self.problem, self.solver, self.recorder = problem, solver, recorder
        self.resumed, self.params = resumed, problem.start
        self.loss, self.grads = problem.fun(self.params)
        _check_finite(self.loss, solver)
        self.n_evals, self.time, self.n_iter, self.n_escapes = 1, 0.0, 0, 0
        self.escape_loss = math.inf  # loss at the last saddle escape
        self.plateau_iter = None  # iteration of the last plateau escape
        self.losses, self.times = [self.loss], [0.0]
        if not resumed:
            recorder(self.params, 0, 0.0, force=True)

    def advance(self, params, loss, grads, h, evals):
        """Accept a step of length ``h`` that cost ``evals`` gradient evaluations."""
        _check_finite(loss, self.solver)
        self.params, self.loss, self.grads = params, loss, grads
        self.n_evals += evals
        self.n_iter += 1
        self.time += h
        self.losses.append(loss)
        self.times.append(self.time)
        self.recorder(params, self.n_iter, self.time)

    def restart(self, params):
        """Continue from ``params`` (replaced by a schedule) at the same time."""
        self.params = tuple(params)
        self.loss, self.grads = self.problem.fun(self.params)
        self.n_evals += 1

    def state(self):
        return OptimState(self.n_iter, self.time, self.loss, self.problem.view(self.params))

    def result(self, reason, validation=None):
        self.recorder(self.params, self.n_iter, self.time, force=True)
        if validation is not None:
            self.params = validation.finish(self.params, self.n_iter, self.loss)
        return OptimResult(
            params=self.params,
            view=self.problem.view(self.params),
            loss_curve=np.asarray(self.losses),
            time_curve=np.asarray(self.times),
            n_iter=self.n_iter,
            n_grad_evals=self.n_evals,
            converged=reason not in ("max_iter", "saddle"),
            stop_reason=reason,
            history=self.recorder.history,
            history_iter=self.recorder.iters,
            history_time=self.recorder.times,
            validation_loss=[] if validation is None else validation.losses,
            validation_iter=[] if validation is None else validation.iters,
            best_iter=None if validation is None else validation.best_iter,
            n_escapes=self.n_escapes,
        )


def _stationary(run, tol):
    """Whether the fastest relative rate of change is at most ``tol``."""
    if run.loss > run.escape_loss * (1 - ESCAPE_PROGRESS):
        return False  # a re-seeded column is still growing
    if tol <= 0:  # only an exactly zero gradient passes; the scales are not needed
        return tol == 0 and max_ratio(run.grads, (1.0,) * len(run.grads)) == 0
    return max_ratio(run.grads, run.problem.scale(run.params)) <= tol


def _converged(run, tol, target_loss):
    """Stopping reason met at the current point before a step, else ``None``."""
    if _stationary(run, tol):
        return "tol"
    if target_loss is not None and run.loss <= target_loss:
        return "target_loss"
    return None


def _fire_schedule(run, schedule):
    """Apply the schedule's action if its time is reached; ``"schedule"`` if it stops."""
    if schedule is None or run.time < schedule.next_time * (1 - 1e-12):
        return None
    run.recorder(run.params, run.n_iter, run.time, force=True)
    new = schedule.fire(run.params, run.time)
    if new is None:
        return "schedule"
    run.restart(new)
    return None


def _ask_callback(run, callback):
    """``"callback"`` if the user's callback asks to stop."""
    if callback is None:
        return None
    try:
        stop = callback(run.state())
    except StopIteration:
        stop = True
    return "callback" if stop else None


def _iterate(
    run,
    rule,
    *,
    max_iter,
    tol,
    target_loss,
    max_time,
    schedule,
    callback,
    progress,
    validation,
    max_escapes,
):
    """The loop itself; returns the stopping reason."""
    if validation is not None and not run.resumed:
        validation.check(run.params, 0, run.loss)
    if run.resumed and (reason := _fire_schedule(run, schedule)):  # the event that stopped it
        return reason
    while run.n_iter < max_iter:
        reason = _converged(run, tol, target_loss)
        if reason == "tol":
            reason = escape_saddle(run, max_escapes)
        if reason:
            return reason
        horizon = min(max_time, schedule.next_time if schedule is not None else np.inf)
        run.advance(*rule.step(run.problem, run.params, run.loss, run.grads, horizon - run.time))
        progress(run.n_iter, run.loss, run.params)
        reason = (
            ("max_time" if run.time >= max_time * (1 - 1e-12) else None)
            or _fire_schedule(run, schedule)
            or _ask_callback(run, callback)
            or (validation.check(run.params, run.n_iter, run.loss) if validation else None)
        )
        if reason == "early_stopping":
            reason = escape_plateau(run, validation, max_escapes)
        if reason:
            return reason
    return "max_iter"


def minimize(
    problem,
    *,
    solver="gd",
    learning_rate=1e-2,
    solver_options=None,
    max_iter=1000,
    tol=1e-6,
    target_loss=None,
    max_time=np.inf,
    schedule=None,
    record=None,
    record_every=1,
    callback=None,
    verbose=False,
    describe=None,
    n_iter_no_change=None,
    validation_every=10,
    validation_tol=0.0,
    plateau_tol=1e-3,
    max_escapes=10,
    resume=None,
):
    """Minimize ``problem`` from its start with the step rule ``solver``.

    Parameters
    ----------
    problem : Problem
        Loss and gradient, start, scale, view and rate scale
        (:class:`sktensorflow.models._problem.Problem`).
    solver : str, default="gd"
        A step rule registered in ``sktensorflow._steps`` (``"gd"``,
        ``"scaled_gd"``, ``"flow"``, ``"adam"``, ...).
    learning_rate : float, default=1e-2
        Step size (``"gd"``, ``"adam"``) or first trial step (``"flow"``).
    solver_options : dict, default=None
        Options of the step rule; each rule declares the ones it takes
        (``damping`` for ``"scaled_gd"``; ``rtol``, ``atol``, ``max_step`` for
        ``"flow"``; ``beta1``, ``beta2``, ``eps`` for ``"adam"``). Unknown
        options are errors.
    max_iter : int, default=1000
        Maximum number of accepted iterations.
    tol : float, default=1e-6
        Stop when ``max_i |grad_i| / scale_i <= tol * problem.rate_scale``:
        the fastest relative rate of change of any parameter under the
        gradient flow, in units of the problem's characteristic rate. Plateaus
        of small initializations do not trigger it, since small parameters grow
        at a relative rate of order one there.
    target_loss : float, default=None
        Stop once the loss is at most this value.
    max_time : float, default=inf
        Stop at this flow time (sum of the steps taken).
    schedule : Schedule, default=None
        Actions applied to the loop's parameters at given flow times (the steps
        are shortened to land on them).
    record : callable, default=None
        ``record(view) -> dict`` stored every ``record_every`` iterations.
    record_every : int, default=1
    callback : callable, default=None
        ``callback(OptimState) -> bool``; ``True`` (or raising ``StopIteration``)
        stops the loop.
    verbose : bool, default=False
        Show a progress bar with the loss and ``describe(view)``.
    describe : callable, default=None
        ``describe(view) -> str`` for the progress bar (e.g. the current rank).
    n_iter_no_change : int, default=None
        Early stopping (needs ``problem.heldout_loss``): stop after this many
        validation checks in a row without an improvement of the held-out loss
        by more than ``validation_tol`` relative to the best, once the training
        loss has decreased by more than ``plateau_tol`` since the best check,
        and return the parameters of the best check. ``None`` disables it.
    validation_every : int, default=10
        Iterations between validation checks.
    validation_tol : float, default=0.0
        Relative improvement of the held-out loss that counts as one.
    plateau_tol : float, default=1e-3
        Relative decrease of the training loss since the best check needed
        before early stopping may stop: on a plateau, where neither loss moves,
        the loop waits for the next component instead of stopping.
    max_escapes : int, default=10
        Escapes allowed (restarts from ``problem.escape``'s re-seeded
        parameters when the ``tol`` test passes, or early stopping fires, at an
        unexplained residual); past them a ``tol`` stop is ``"saddle"``. An
        early stop is escaped only while the previous escape improved the
        held-out loss.
    resume : LoopState, default=None
        Continue an earlier run (its ``result.loop_state``) where it stopped
        (``sktensorflow._resume``); ``max_iter`` counts its iterations too.

    Returns
    -------
    result : OptimResult

    Examples
    --------
    >>> import numpy as np
    >>> def quadratic(p):
    ...     (x,) = p
    ...     return 0.5 * float((x - 1) @ (x - 1)), (x - 1,)
    >>> problem = Problem(quadratic, (np.zeros(3),))
    >>> res = minimize(problem, solver="flow", learning_rate=0.1, tol=1e-8)
    >>> res.converged, round(float(res.params[0][0]), 6)
    (True, 1.0)
    """
    rule = make_step_rule(solver, learning_rate, solver_options)
    validation = None
    if n_iter_no_change is not None and problem.heldout_loss is not None:
        validation = Validation(
            problem.heldout_loss, n_iter_no_change, validation_every, validation_tol, plateau_tol
        )
    if resume is not None:
        problem = problem.with_start(start_of(resume))
    problem = replace(problem, rounding=precision_ratio(problem.start))
    run = _Run(problem, solver, Recorder(problem, record, record_every), resume is not None)
    if resume is not None:
        restore(resume, run, rule, validation, schedule, solver)
    bar, progress = _progress(verbose, max_iter, describe, problem.view)
    try:
        reason = _iterate(
            run,
            rule,
            max_iter=max_iter,
            tol=tol * problem.rate_scale,
            target_loss=target_loss,
            max_time=max_time,
            schedule=schedule,
            callback=callback,
            progress=progress,
            validation=validation,
            max_escapes=max_escapes,
        )
    finally:
        bar.close()
    state = capture(run, rule, validation, schedule, solver, reason)
    result = run.result(reason, validation)
    result.loop_state = state
    return result
