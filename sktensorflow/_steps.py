"""Step rules of the loop in :mod:`sktensorflow._optim`: one step each, no loop.

``_GD`` (fixed step, the explicit Euler scheme of the gradient flow), ``_Flow``
(Bogacki-Shampine 3(2) with error control, following the gradient flow) and
``_Adam``. Each has ``step(fun, params, loss, grads, h_max, scale)`` returning
``(params, loss, grads, h, n_evals)``: the new point, the flow time ``h`` the
step covered (never more than ``h_max``) and the gradient evaluations it cost.
"""

import math

import numpy as np
import tensorly as tl

__all__ = ["SOLVERS", "default_scale", "max_ratio"]

_TINY = np.finfo(np.float64).tiny


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


# The helpers below run every iteration on every parameter array; they use array
# methods where the array type has them (numpy, pytorch, jax, cupy), since
# tensorly's dispatch costs as much as the reduction itself on small arrays.
def _flat(a):
    return a.reshape(-1) if hasattr(a, "reshape") else tl.reshape(a, (-1,))


def _sq_norm_one(a):
    flat = _flat(a)
    return _to_float(flat @ flat)


def _shape(a):
    return tuple(a.shape) if hasattr(a, "shape") else tl.shape(a)


def _max_abs(a):
    return _to_float(abs(a).max() if hasattr(a, "max") else tl.max(tl.abs(a)))


def default_scale(params):
    """Root-mean-square of each parameter array, as floats."""
    return tuple(math.sqrt(_sq_norm_one(p) / max(math.prod(_shape(p)), 1)) for p in params)


def _ratio(n, d):
    if isinstance(d, float):  # a scalar scale: one reduction, no array division
        size = _max_abs(n) if _shape(n) else abs(_to_float(n))
        return size / (d + _TINY)
    with np.errstate(over="ignore"):
        ratios = tl.abs(n) / (d + _TINY)
        return _to_float(tl.max(ratios) if tl.shape(ratios) else ratios)


def max_ratio(num, den):
    """Largest ``|num_i| / den_i`` over all entries of all arrays (``den`` floats or arrays)."""
    return max(_ratio(n, d) for n, d in zip(num, den, strict=True))


def _elementwise_max(a, b):
    """Larger of two scales (floats or arrays)."""
    return max(a, b) if isinstance(a, float) and isinstance(b, float) else tl.where(a > b, a, b)


def _sq_norm(arrays):
    return sum(_sq_norm_one(a) for a in arrays)


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
            self.atol + self.rtol * _elementwise_max(a, b)
            for a, b in zip(s_old, s_new, strict=True)
        )
        return max_ratio(err, bound)

    def _propose(self, h, factor, rejected, clipped):
        """Next trial step: no growth right after a rejection (Hairer's rule)."""
        self.cap *= 1.1
        proposal = min(h * min(1.0 if rejected else 5.0, factor), self.max_step, self.cap)
        self.h = max(self.h, proposal) if clipped else proposal


SOLVERS = {"gd": _GD, "flow": _Flow, "adam": _Adam}
