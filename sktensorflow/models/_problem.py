"""The contract between a model and the loop: :class:`Problem`.

Every model hands :func:`sktensorflow._optim.minimize` one :class:`Problem`:
the parameters it starts from, its loss and gradient, the user-facing view of
the parameters, the natural size of each parameter block (for ``tol`` and for
error control), the rate that makes ``tol`` dimensionless, the loss's rounding
level, and an optional held-out loss for validation-based stopping. The
reductions over parameter tuples that the loop and the models share live here
too, so each is written once.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import tensorly as tl

from .. import _backend

__all__ = [
    "TINY",
    "Problem",
    "initial_rate",
    "max_ratio",
    "precision_ratio",
    "rms_scale",
    "to_float",
]

#: Smallest positive float64, guarding divisions by a vanishing scale.
TINY = np.finfo(np.float64).tiny


def _identity(params):
    return params


@dataclass(frozen=True)
class Problem:
    """A smooth minimization problem, as the loop sees it.

    Parameters
    ----------
    fun : callable
        ``fun(params) -> (loss, grads)``: ``loss`` a float, ``grads`` a tuple
        shaped like ``params``.
    start : tuple of arrays
        Starting parameters (backend arrays).
    scale : callable, default=rms_scale
        ``scale(params) -> tuple`` of floats or arrays broadcastable to each
        parameter block: its natural size. ``tol`` and the flow solver's error
        control are relative to it.
    view : callable, default=identity
        ``view(params) -> tuple``: the parameters as the user knows them (what
        callbacks, records and progress descriptions see), for problems
        iterated on a reparametrization (Fourier coordinates, normalized data).
    rate_scale : float, default=1.0
        The problem's characteristic rate: the loop stops when the fastest
        relative rate of change is at most ``tol * rate_scale``, so the user's
        ``tol`` is dimensionless.
    loss_atol : float, default=0.0
        Rounding level of the loss in float64, below which decreases are not
        meaningful (used by step rules that test for sufficient decrease).
    rounding : float, default=1.0
        Machine epsilon of the iterates' dtype relative to float64's (set by
        the loop with ``precision_ratio``): the step rules' rounding
        thresholds, ``loss_atol`` included, are multiplied by it.
    heldout_loss : callable or None, default=None
        ``heldout_loss(params) -> float``: the loss on entries withheld from
        ``fun``, for validation-based early stopping.
    escape : callable or None, default=None
        ``escape(params, grads) -> tuple or None``, asked when the ``tol`` test
        passes: ``None`` if the point is a genuine end (no part of the target the
        model would count as a component is left unexplained), else parameters
        to continue from (small columns re-seeded along the unexplained
        direction). A ``tol`` stop is a saddle unless this returns ``None``.
    precondition : callable or None, default=None
        ``precondition(params, grads, damping) -> tuple`` shaped like ``grads``:
        the gradient multiplied by the inverse of a model-specific curvature
        estimate damped by ``damping`` (dimensionless, relative to the
        problem's scale), for the ``"scaled_gd"`` step rule.

    Examples
    --------
    >>> import numpy as np
    >>> def fun(p):
    ...     return 0.5 * float(p[0] @ p[0]), (p[0],)
    >>> problem = Problem(fun, (np.ones(3),))
    >>> problem.fun(problem.start)[0], problem.view(problem.start) is problem.start
    (1.5, True)
    """

    fun: Callable
    start: tuple
    scale: Callable = field(default=None)
    view: Callable = field(default=_identity)
    rate_scale: float = 1.0
    loss_atol: float = 0.0
    rounding: float = 1.0
    heldout_loss: Callable | None = None
    escape: Callable | None = None
    precondition: Callable | None = None

    def __post_init__(self):
        object.__setattr__(self, "start", tuple(self.start))
        if self.scale is None:
            object.__setattr__(self, "scale", rms_scale)

    def with_start(self, start):
        """The same problem started from ``start``."""
        return replace(self, start=tuple(start))


def precision_ratio(params):
    """Machine epsilon of the dtype of ``params`` relative to float64's (1.0 for float64).

    Examples
    --------
    >>> import numpy as np
    >>> precision_ratio((np.ones(2),)), precision_ratio((np.ones(2, np.float32),)) == 2.0**29
    (1.0, True)
    """
    if not params:
        return 1.0
    sample = _backend.to_numpy(tl.reshape(params[0], (-1,))[:1])
    if not np.issubdtype(sample.dtype, np.floating):
        return 1.0
    return float(np.finfo(sample.dtype).eps / np.finfo(np.float64).eps)


def to_float(x):
    """A backend scalar as a Python float."""
    return float(x) if isinstance(x, float) else float(tl.to_numpy(x))


# The reductions below run every iteration on every parameter array; they use
# array methods where the array type has them (numpy, pytorch, jax, cupy), since
# tensorly's dispatch costs as much as the reduction itself on small arrays.
def _flat(a):
    return a.reshape(-1) if hasattr(a, "reshape") else tl.reshape(a, (-1,))


def sq_norm(a):
    """Sum of squares of one array, as a float."""
    flat = _flat(a)
    return to_float(flat @ flat)


def _shape(a):
    return tuple(a.shape) if hasattr(a, "shape") else tl.shape(a)


def _max_abs(a):
    return to_float(abs(a).max() if hasattr(a, "max") else tl.max(tl.abs(a)))


def rms_scale(params):
    """Root-mean-square entry of each parameter array, as floats (the default scale).

    Examples
    --------
    >>> import numpy as np
    >>> rms_scale((np.full(4, 2.0), np.zeros(2)))
    (2.0, 0.0)
    """
    return tuple(math.sqrt(sq_norm(p) / max(math.prod(_shape(p)), 1)) for p in params)


def _ratio(n, d):
    if isinstance(d, float):  # a scalar scale: one reduction, no array division
        size = _max_abs(n) if _shape(n) else abs(to_float(n))
        return float(size / (d + TINY))
    with np.errstate(over="ignore"):
        ratios = tl.abs(n) / (d + TINY)
        return to_float(tl.max(ratios) if tl.shape(ratios) else ratios)


def max_ratio(num, den):
    """Largest ``|num_i| / den_i`` over all entries of all arrays (``den`` floats or arrays).

    Examples
    --------
    >>> import numpy as np
    >>> max_ratio((np.array([1.0, -4.0]),), (2.0,))
    2.0
    """
    return max(_ratio(n, d) for n, d in zip(num, den, strict=True))


def initial_rate(problem):
    """Fastest relative rate of change at the start, ``max |grad| / scale``.

    Examples
    --------
    >>> import numpy as np
    >>> def fun(p):
    ...     return 0.5 * float(p[0] @ p[0]), (3 * p[0],)
    >>> initial_rate(Problem(fun, (np.ones(2),)))
    3.0
    """
    _, grads = problem.fun(problem.start)
    return max_ratio(grads, problem.scale(problem.start))
