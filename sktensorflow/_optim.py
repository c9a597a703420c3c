"""The one iteration loop of the library.

:func:`minimize` drives a ``fun(params) -> (loss, grads)`` closure over a tuple
of backend arrays with a step rule chosen by name:

``"gd"``
    Fixed-step gradient descent, ``p <- p - learning_rate * grad``. Its flow time
    advances by ``learning_rate`` per iteration (it is the explicit Euler scheme
    of the gradient flow).
``"flow"``
    Follows the gradient flow ``dp/dt = -grad L(p)`` with an embedded
    Bogacki-Shampine 3(2) Runge-Kutta pair and error control, so plateaus are
    crossed with long steps and fast phases with short ones. ``learning_rate``
    is the first trial step in flow time.
``"adam"``
    Adam with bias correction; ``learning_rate`` is its step size.

Stopping: a non-finite loss raises :class:`FloatingPointError` (the flow solver
first retries with shorter steps); ``tol`` on the largest relative rate of change
of the parameters; ``target_loss``; ``max_time`` (flow time); ``max_iter``;
a ``callback`` returning ``True`` or raising :class:`StopIteration`; a
:class:`Schedule` action returning ``None``.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import tensorly as tl
from tqdm.auto import tqdm

__all__ = ["OptimResult", "OptimState", "Schedule", "minimize", "SOLVERS"]

_TINY = np.finfo(np.float64).tiny


@dataclass
class OptimState:
    """What a callback sees after each iteration."""

    n_iter: int
    time: float
    loss: float
    params: tuple


@dataclass
class OptimResult:
    """Outcome of :func:`minimize`.

    Attributes
    ----------
    params : tuple of arrays
        Final parameters.
    loss_curve : ndarray of shape (n_iter + 1,)
        Loss at the start and after every iteration.
    time_curve : ndarray of shape (n_iter + 1,)
        Flow time of every ``loss_curve`` entry.
    n_iter : int
        Accepted iterations.
    n_grad_evals : int
        Evaluations of ``fun``, rejected trial steps included.
    converged : bool
        ``False`` only when the loop stopped at ``max_iter``.
    stop_reason : str
        ``"tol"``, ``"target_loss"``, ``"max_time"``, ``"max_iter"``,
        ``"callback"`` or ``"schedule"``.
    history : dict of str to list
        Values returned by ``record``, one entry per recorded iteration.
    history_iter, history_time : list
        Iteration and flow time of each recorded entry.
    """

    params: tuple
    loss_curve: np.ndarray
    time_curve: np.ndarray
    n_iter: int
    n_grad_evals: int
    converged: bool
    stop_reason: str
    history: dict = field(default_factory=dict)
    history_iter: list = field(default_factory=list)
    history_time: list = field(default_factory=list)


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


def _to_float(x):
    return float(tl.to_numpy(x)) if not isinstance(x, float) else x


def _axpy(params, alpha, direction):
    return tuple(p + alpha * d for p, d in zip(params, direction, strict=True))


def _combine(grads_list, coefs):
    out = []
    for blocks in zip(*grads_list, strict=True):
        acc = coefs[0] * blocks[0]
        for c, b in zip(coefs[1:], blocks[1:], strict=True):
            acc = acc + c * b
        out.append(acc)
    return tuple(out)


def _default_scale(params):
    return tuple(tl.norm(p) / np.sqrt(max(math.prod(tl.shape(p)), 1)) for p in params)


def _max_ratio(num, den):
    with np.errstate(over="ignore"):
        return max(
            _to_float(tl.max(tl.abs(n) / (d + _TINY)))
            if tl.shape(n)
            else _to_float(tl.abs(n) / (d + _TINY))
            for n, d in zip(num, den, strict=True)
        )


def _sq_norm(arrays):
    return sum(_to_float(tl.sum(a * a)) for a in arrays)


def _all_finite(arrays):
    return all(np.all(np.isfinite(tl.to_numpy(a))) for a in arrays)


class _GD:
    """Fixed-step gradient descent (explicit Euler on the gradient flow)."""

    def __init__(self, learning_rate, **_):
        self.h = float(learning_rate)

    def step(self, fun, params, loss, grads, h_max, scale):
        h = min(self.h, h_max)
        new = _axpy(params, -h, grads)
        loss, grads = fun(new)
        return new, loss, grads, h, 1


class _Adam:
    """Adam with bias correction (Kingma and Ba, 2015)."""

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8, **_):
        self.h, self.b1, self.b2, self.eps = float(learning_rate), beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def step(self, fun, params, loss, grads, h_max, scale):
        if self.m is None:
            self.m = tuple(0 * g for g in grads)
            self.v = tuple(0 * g for g in grads)
        self.t += 1
        self.m = tuple(self.b1 * m + (1 - self.b1) * g for m, g in zip(self.m, grads, strict=True))
        self.v = tuple(
            self.b2 * v + (1 - self.b2) * g * g for v, g in zip(self.v, grads, strict=True)
        )
        c1, c2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        h = min(self.h, h_max)
        new = tuple(
            p - h * (m / c1) / (tl.sqrt(v / c2) + self.eps)
            for p, m, v in zip(params, self.m, self.v, strict=True)
        )
        loss, grads = fun(new)
        return new, loss, grads, h, 1


class _Flow:
    """Adaptive Bogacki-Shampine 3(2) integration of the gradient flow (FSAL)."""

    _C = (2 / 9, 1 / 3, 4 / 9)
    _E = (-5 / 72, 1 / 12, 1 / 9, -1 / 8)

    def __init__(self, learning_rate, rtol=1e-4, atol=1e-12, max_step=np.inf, loss_atol=0.0, **_):
        self.h, self.rtol, self.atol, self.max_step = float(learning_rate), rtol, atol, max_step
        self.loss_atol = loss_atol  # rounding level of the loss, for the decrease test
        self.cap = np.inf  # step bound learned from steps that failed to decrease the loss

    def _attempt(self, fun, params, g1, h):
        l2, g2 = fun(_axpy(params, -h / 2, g1))
        l3, g3 = fun(_axpy(params, -3 * h / 4, g2))
        new = _axpy(params, -h, _combine((g1, g2, g3), self._C))
        loss, g4 = fun(new)
        err = _combine((g1, g2, g3, g4), tuple(h * e for e in self._E))
        finite = all(np.isfinite(v) for v in (l2, l3, loss)) and _all_finite(err)
        return new, loss, g4, err, finite

    def _decreases(self, loss, new_loss, grads, new_grads, h):
        """Sufficient decrease along the flow, ``dL/dt = -||grad||^2``.

        Rejects steps at the edge of the explicit scheme's stability region,
        where the error estimate can stay small while the iterates oscillate.
        """
        slope = min(_sq_norm(grads), _sq_norm(new_grads))
        return new_loss <= loss - 0.1 * h * slope + 1e-14 * abs(loss) + self.loss_atol

    def step(self, fun, params, loss, grads, h_max, scale):
        h, evals, rejected = min(self.h, h_max, self.max_step), 0, False
        clipped = h < self.h
        while True:
            new, new_loss, new_grads, err, finite = self._attempt(fun, params, grads, h)
            evals += 3
            factor = 0.25
            if finite:
                ratio = self._error_ratio(err, scale(params), scale(new))
                factor = 0.9 * max(ratio, 1e-10) ** (-1 / 3)
                accurate = ratio <= 1.0
                if accurate and self._decreases(loss, new_loss, grads, new_grads, h):
                    self._propose(h, factor, rejected, clipped and not rejected)
                    return new, new_loss, new_grads, h, evals
                factor = min(factor, 0.5)
                if accurate:  # unstable rather than inaccurate: remember the bound
                    self.cap = 0.5 * h
            h *= max(0.2, factor)
            rejected = True
            if h < 1e-300:
                raise FloatingPointError(
                    "The flow solver could not find a stable step; the loss is not finite "
                    "near the current parameters."
                )

    def _error_ratio(self, err, s_old, s_new):
        bound = tuple(
            self.atol + self.rtol * tl.where(a > b, a, b)
            for a, b in zip(s_old, s_new, strict=True)
        )
        return _max_ratio(err, bound)

    def _propose(self, h, factor, rejected, clipped):
        """Next trial step: no growth right after a rejection (Hairer's rule)."""
        self.cap *= 1.1
        proposal = min(h * min(1.0 if rejected else 5.0, factor), self.max_step, self.cap)
        self.h = max(self.h, proposal) if clipped else proposal


SOLVERS = {"gd": _GD, "flow": _Flow, "adam": _Adam}


class _Recorder:
    def __init__(self, record, every):
        self.record, self.every = record, max(int(every), 1)
        self.history, self.iters, self.times = {}, [], []

    def __call__(self, params, n_iter, time, force=False):
        if self.record is None or not (force or n_iter % self.every == 0):
            return
        if self.iters and self.iters[-1] == n_iter:
            return
        for key, value in self.record(params).items():
            self.history.setdefault(key, []).append(value)
        self.iters.append(n_iter)
        self.times.append(time)


def _check_finite(loss, solver):
    if not np.isfinite(loss):
        raise FloatingPointError(
            f"The loss became non-finite ({loss}) with solver={solver!r}; the iteration "
            "diverged. Use a smaller learning_rate (or solver='flow', which adapts its step)."
        )


def _progress(verbose, max_iter, describe):
    bar = tqdm(total=max_iter, disable=not verbose, leave=False)

    def update(n_iter, loss, params):
        bar.update(1)
        if verbose and (n_iter % 10 == 0 or n_iter == 1):
            extra = describe(params) if describe is not None else ""
            bar.set_postfix_str(f"loss={loss:.3e} {extra}".strip())

    return bar, update


def minimize(
    fun,
    params,
    *,
    solver="gd",
    learning_rate=1e-2,
    max_iter=1000,
    tol=1e-6,
    target_loss=None,
    max_time=np.inf,
    scale=None,
    schedule=None,
    record=None,
    record_every=1,
    callback=None,
    verbose=False,
    describe=None,
    **solver_options,
):
    """Minimize ``fun`` from ``params`` with the step rule ``solver``.

    Parameters
    ----------
    fun : callable
        ``fun(params) -> (loss, grads)`` with ``loss`` a float and ``grads`` a
        tuple shaped like ``params``.
    params : tuple of arrays
        Starting point (backend arrays).
    solver : {"gd", "flow", "adam"}, default="gd"
        Step rule, see the module docstring.
    learning_rate : float, default=1e-2
        Step size (``"gd"``, ``"adam"``) or first trial step (``"flow"``).
    max_iter : int, default=1000
        Maximum number of accepted iterations.
    tol : float, default=1e-6
        Stop when ``max_i |grad_i| / scale_i <= tol``: the fastest relative rate of
        change of any parameter under the gradient flow. Plateaus of small
        initializations do not trigger it, since small parameters grow at a
        relative rate of order one there.
    target_loss : float, default=None
        Stop once the loss is at most this value.
    max_time : float, default=inf
        Stop at this flow time (sum of the steps taken).
    scale : callable, default=None
        ``scale(params) -> tuple`` of non-negative arrays broadcastable to the
        parameters: their natural size, used for the relative error control of
        ``"flow"`` and for ``tol``. Default: the root-mean-square of each array.
    schedule : Schedule, default=None
        Actions applied at given flow times (the steps are shortened to land on
        them).
    record : callable, default=None
        ``record(params) -> dict`` stored every ``record_every`` iterations.
    record_every : int, default=1
    callback : callable, default=None
        ``callback(OptimState) -> bool``; ``True`` (or raising ``StopIteration``)
        stops the loop.
    verbose : bool, default=False
        Show a progress bar with the loss and ``describe(params)``.
    describe : callable, default=None
        ``describe(params) -> str`` for the progress bar (e.g. the current rank).
    **solver_options
        Passed to the step rule (``rtol``, ``atol``, ``max_step``, ``loss_atol`` (the
        loss's rounding level, for the sufficient-decrease test) for ``"flow"``;
        ``beta1``, ``beta2``, ``eps`` for ``"adam"``).

    Returns
    -------
    result : OptimResult

    Examples
    --------
    >>> import numpy as np
    >>> def quadratic(p):
    ...     (x,) = p
    ...     return 0.5 * float((x - 1) @ (x - 1)), (x - 1,)
    >>> res = minimize(quadratic, (np.zeros(3),), solver="flow", learning_rate=0.1, tol=1e-8)
    >>> res.converged, round(float(res.params[0][0]), 6)
    (True, 1.0)
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver={solver!r} is not one of {sorted(SOLVERS)}.")
    rule = SOLVERS[solver](learning_rate, **solver_options)
    scale = _default_scale if scale is None else scale
    params = tuple(params)
    loss, grads = fun(params)
    _check_finite(loss, solver)
    n_evals, time, n_iter = 1, 0.0, 0
    losses, times = [loss], [0.0]
    recorder = _Recorder(record, record_every)
    recorder(params, 0, 0.0, force=True)
    bar, progress = _progress(verbose, max_iter, describe)
    reason = "max_iter"
    try:
        while n_iter < max_iter:
            if _max_ratio(grads, scale(params)) <= tol:
                reason = "tol"
                break
            if target_loss is not None and loss <= target_loss:
                reason = "target_loss"
                break
            horizon = min(max_time, schedule.next_time if schedule is not None else np.inf)
            params, loss, grads, h, evals = rule.step(
                fun, params, loss, grads, horizon - time, scale
            )
            n_evals += evals
            _check_finite(loss, solver)
            n_iter += 1
            time += h
            losses.append(loss)
            times.append(time)
            recorder(params, n_iter, time)
            progress(n_iter, loss, params)
            if time >= max_time * (1 - 1e-12):
                reason = "max_time"
                break
            if schedule is not None and time >= schedule.next_time * (1 - 1e-12):
                recorder(params, n_iter, time, force=True)
                new = schedule.fire(params, time)
                if new is None:
                    reason = "schedule"
                    break
                params = tuple(new)
                loss, grads = fun(params)
                n_evals += 1
            if callback is not None:
                try:
                    if callback(OptimState(n_iter, time, loss, params)):
                        reason = "callback"
                        break
                except StopIteration:
                    reason = "callback"
                    break
    finally:
        bar.close()
    recorder(params, n_iter, time, force=True)
    return OptimResult(
        params=params,
        loss_curve=np.asarray(losses),
        time_curve=np.asarray(times),
        n_iter=n_iter,
        n_grad_evals=n_evals,
        converged=reason != "max_iter",
        stop_reason=reason,
        history=recorder.history,
        history_iter=recorder.iters,
        history_time=recorder.times,
    )
