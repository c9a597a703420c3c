"""Step rules of the loop in :mod:`sktensorflow._optim`: one step each, no loop.

A step rule is a class registered by name with :func:`register_step_rule`. It
declares its options in ``options``, a dict mapping each option name to its
default and its scikit-learn parameter constraints; :func:`make_step_rule`
rejects unknown options and invalid values by name. Its ``step(problem,
params, loss, grads, h_max)`` returns ``(params, loss, grads, h, n_evals)``:
the new point, the flow time ``h`` the step covered (never more than
``h_max``) and the gradient evaluations it cost.

Registered here: ``"gd"`` (fixed step, the explicit Euler scheme of the
gradient flow), ``"scaled_gd"`` (fixed step along the gradient multiplied by
the problem's damped preconditioner, ``Problem.precondition``), ``"flow"``
(Bogacki-Shampine 3(2) with error control, following the gradient flow) and
``"adam"``.
"""

from numbers import Real

import numpy as np
import tensorly as tl

from ._sklearn_private import Interval, InvalidParameterError, validate_parameter_constraints
from .models._problem import max_ratio, sq_norm

__all__ = ["SOLVERS", "StepRule", "make_step_rule", "register_step_rule", "step_rule_options"]

#: Registered step rules by name. Estimators validate ``solver`` against it.
SOLVERS = {}


def register_step_rule(name):
    """Class decorator registering a :class:`StepRule` subclass as ``solver=name``.

    Examples
    --------
    >>> @register_step_rule("half_gd")
    ... class HalfGD(StepRule):
    ...     def step(self, problem, params, loss, grads, h_max):
    ...         h = min(0.5 * self.learning_rate, h_max)
    ...         new = tuple(p - h * g for p, g in zip(params, grads, strict=True))
    ...         return (new, *problem.fun(new), h, 1)
    >>> "half_gd" in SOLVERS
    True
    >>> del SOLVERS["half_gd"]
    """

    def register(rule):
        SOLVERS[name] = rule
        return rule

    return register


class StepRule:
    """Base of the step rules: the step size and the declared options.

    Subclasses set ``options = {name: (default, constraints)}`` and implement
    ``step``; each option is available as an attribute of the same name.
    """

    options: dict = {}

    def __init__(self, learning_rate, **options):
        self.learning_rate = float(learning_rate)
        for name, (default, _) in self.options.items():
            setattr(self, name, options.get(name, default))

    def step(self, problem, params, loss, grads, h_max):
        raise NotImplementedError


def step_rule_options(solver):
    """Names and defaults of the options ``solver`` takes."""
    return {name: default for name, (default, _) in _rule(solver).options.items()}


def _rule(solver):
    if solver not in SOLVERS:
        raise InvalidParameterError(f"solver={solver!r} is not one of {sorted(SOLVERS)}.")
    return SOLVERS[solver]


def make_step_rule(solver, learning_rate, options=None, *, caller="solver_options"):
    """Build the step rule ``solver`` with validated ``options``.

    Raises
    ------
    InvalidParameterError
        For an unknown solver, an option the rule does not declare (naming it
        and the ones it takes), or an option value outside its constraints.

    Examples
    --------
    >>> make_step_rule("flow", 0.1, {"rtol": 1e-3}).rtol
    0.001
    >>> make_step_rule("gd", 0.1, {"rtol": 1e-3})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn...InvalidParameterError: solver_options has ['rtol'], which solver='gd' ...
    """
    rule = _rule(solver)
    options = dict(options or {})
    unknown = sorted(set(options) - set(rule.options))
    if unknown:
        raise InvalidParameterError(
            f"{caller} has {unknown}, which solver={solver!r} does not take; "
            f"it takes {sorted(rule.options)}."
        )
    constraints = {name: rule.options[name][1] for name in options}
    validate_parameter_constraints(constraints, options, caller_name=caller)
    return rule(learning_rate, **options)


def _axpy(params, alpha, direction):
    # Python floats: a numpy float64 scalar would promote float32 numpy arrays.
    alpha = float(alpha)
    return tuple(p + alpha * d for p, d in zip(params, direction, strict=True))


def _combine(grads_list, coefs):
    coefs = [float(c) for c in coefs]  # see _axpy
    out = []
    for blocks in zip(*grads_list, strict=True):
        acc = coefs[0] * blocks[0]
        for c, b in zip(coefs[1:], blocks[1:], strict=True):
            acc = acc + c * b
        out.append(acc)
    return tuple(out)


def _inner(a, b):
    """Inner product of two parameter tuples."""
    return sum(float(tl.sum(x * y)) for x, y in zip(a, b, strict=True))


def _elementwise_max(a, b):
    """Larger of two scales (floats or arrays)."""
    return max(a, b) if isinstance(a, float) and isinstance(b, float) else tl.where(a > b, a, b)


def _all_finite(arrays):
    return all(np.all(np.isfinite(tl.to_numpy(a))) for a in arrays)


_NON_NEGATIVE = [Interval(Real, 0, None, closed="left")]
_POSITIVE = [Interval(Real, 0, None, closed="neither")]
_UNIT = [Interval(Real, 0, 1, closed="left")]


@register_step_rule("gd")
class GradientDescent(StepRule):
    """Fixed-step gradient descent (explicit Euler on the gradient flow)."""

    def step(self, problem, params, loss, grads, h_max):
        h = min(self.learning_rate, h_max)
        new = _axpy(params, -h, grads)
        loss, grads = problem.fun(new)
        return new, loss, grads, h, 1


@register_step_rule("scaled_gd")
class ScaledGradientDescent(StepRule):
    """Descent along the damped, preconditioned gradient, halving a step that fails.

    ``p <- p - h * problem.precondition(p, grad, damping)``: for a
    factorization, the gradient of each factor times the inverse of the other
    factors' damped Gram matrix (ScaledGD(lambda) of Xu, Shi and Ma, "The Power
    of Preconditioning in Overparameterized Low-Rank Matrix Sensing", ICML
    2023). Components larger than the damping converge at a rate that does not
    depend on their size, so ill-conditioned targets take as many iterations
    as well-conditioned ones; components far below it grow as under gradient
    descent, which keeps the small initialization's bias towards low rank.

    ``h`` starts at ``learning_rate`` (dimensionless; the flow time advances
    by ``h``). The preconditioner estimates the curvature of a masked loss from
    the observed share of the whole tensor, which underestimates it where the
    mask is denser (sparse masks, rows observed much more than others): a
    step that does not decrease the loss (or overflows) is rejected and ``h``
    halved, for this step and the following ones, so the iteration cannot
    diverge. A rejected step costs one gradient evaluation.
    """

    options = {"damping": (0.5, _POSITIVE)}

    #: Steps shorter than this share of ``learning_rate`` mean no descent is left.
    _min_share = 1e-12

    def __init__(self, learning_rate, **options):
        super().__init__(learning_rate, **options)
        self.rate = self.learning_rate

    def step(self, problem, params, loss, grads, h_max):
        direction = _preconditioned(problem, params, grads, self.damping)
        evals = 0
        while True:
            h = min(self.rate, h_max)
            new = _axpy(params, -h, direction)
            with np.errstate(over="ignore", invalid="ignore"):  # a rejected trial may overflow
                new_loss, new_grads = problem.fun(new)
            evals += 1
            r = problem.rounding  # the rounding thresholds scale with the dtype's epsilon
            if new_loss <= loss + (r * 1e-12) * abs(loss) + r * problem.loss_atol:  # False for NaN
                return new, new_loss, new_grads, h, evals
            self.rate = 0.5 * h
            if self.rate < self._min_share * self.learning_rate:
                raise FloatingPointError(
                    "solver='scaled_gd' found no step that decreases the loss; the loss is "
                    "not finite or not decreasing near the current parameters."
                )


def _preconditioned(problem, params, grads, damping):
    """``problem.precondition(params, grads, damping)``, with errors that say what to do."""
    if problem.precondition is None:
        raise InvalidParameterError(
            "solver='scaled_gd' needs a model that defines a preconditioner (the "
            "t-product factorization of TubalFactorizer does); use 'gd', 'flow' or 'adam'."
        )
    try:
        return problem.precondition(params, grads, damping)
    except np.linalg.LinAlgError as error:  # the curvature overflowed: diverging
        raise FloatingPointError(
            "The preconditioner of solver='scaled_gd' became singular or non-finite: "
            "the iteration diverged. Use a smaller learning_rate or a larger "
            "solver_options['damping']."
        ) from error


@register_step_rule("adam")
class Adam(StepRule):
    """Adam with bias correction (Kingma and Ba, 2015)."""

    options = {
        "beta1": (0.9, _UNIT),
        "beta2": (0.999, _UNIT),
        "eps": (1e-8, _POSITIVE),
    }

    def __init__(self, learning_rate, **options):
        super().__init__(learning_rate, **options)
        self.m = self.v = None
        self.t = 0

    def _moments(self, grads):
        if self.m is None:
            self.m = tuple(0 * g for g in grads)
            self.v = tuple(0 * g for g in grads)
        b1, b2 = self.beta1, self.beta2
        self.m = tuple(b1 * m + (1 - b1) * g for m, g in zip(self.m, grads, strict=True))
        self.v = tuple(b2 * v + (1 - b2) * g * g for v, g in zip(self.v, grads, strict=True))

    def step(self, problem, params, loss, grads, h_max):
        self.t += 1
        self._moments(grads)
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        h = min(self.learning_rate, h_max)
        new = tuple(
            p - h * (m / c1) / (tl.sqrt(v / c2) + self.eps)
            for p, m, v in zip(params, self.m, self.v, strict=True)
        )
        loss, grads = problem.fun(new)
        return new, loss, grads, h, 1


@register_step_rule("flow")
class Flow(StepRule):
    """Adaptive Bogacki-Shampine 3(2) integration of the gradient flow (FSAL).

    Options: ``rtol`` and ``atol``, the relative (to the problem's scale) and
    absolute error allowed per step; ``max_step``, the longest step in flow time.
    """

    options = {
        "rtol": (1e-4, _POSITIVE),
        "atol": (1e-12, _NON_NEGATIVE),
        "max_step": (np.inf, _POSITIVE),
    }
    _C = (2 / 9, 1 / 3, 4 / 9)
    _E = (-5 / 72, 1 / 12, 1 / 9, -1 / 8)

    def __init__(self, learning_rate, **options):
        super().__init__(learning_rate, **options)
        self.h = self.learning_rate
        self.cap = np.inf  # step bound learned from steps that failed to decrease the loss

    def _attempt(self, fun, params, g1, h):
        # A trial step too long overflows; it is rejected (``finite``) and retried
        # shorter, so numpy's overflow warnings would only alarm the user.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._stages(fun, params, g1, h)

    def _stages(self, fun, params, g1, h):
        l2, g2 = fun(_axpy(params, -h / 2, g1))
        l3, g3 = fun(_axpy(params, -3 * h / 4, g2))
        new = _axpy(params, -h, _combine((g1, g2, g3), self._C))
        loss, g4 = fun(new)
        err = _combine((g1, g2, g3, g4), tuple(h * e for e in self._E))
        finite = all(np.isfinite(v) for v in (l2, l3, loss)) and _all_finite(err)
        return new, loss, g4, err, finite

    @staticmethod
    def _decreases(loss, new_loss, grads, new_grads, h, loss_atol, rounding=1.0):
        """Sufficient decrease along the flow, ``dL/dt = -||grad||^2``.

        Rejects steps at the edge of the explicit scheme's stability region,
        where the error estimate can stay small while the iterates oscillate.
        The loss's rounding level (``rounding`` times float64's) is allowed
        for; in a lower precision (``rounding > 1``, float32) it can hide the
        decrease, so there a step whose gradient turns back (``<g, g_new> <
        0``: the iterates would oscillate) is rejected as well.
        """
        slope = min(sum(map(sq_norm, grads)), sum(map(sq_norm, new_grads)))
        r = rounding  # relative to float64's epsilon (Problem.rounding)
        if not new_loss <= loss - 0.1 * h * slope + (r * 1e-14) * abs(loss) + r * loss_atol:
            return False
        return r == 1.0 or _inner(grads, new_grads) >= 0

    def step(self, problem, params, loss, grads, h_max):
        h, evals, rejected = min(self.h, h_max, self.max_step), 0, False
        clipped = h < self.h
        while True:
            new, new_loss, new_grads, err, finite = self._attempt(problem.fun, params, grads, h)
            evals += 3
            factor = 0.25
            if finite:
                ratio = self._error_ratio(err, problem.scale(params), problem.scale(new))
                factor = 0.9 * max(ratio, 1e-10) ** (-1 / 3)
                accurate = ratio <= 1.0
                if accurate and self._decreases(
                    loss, new_loss, grads, new_grads, h, problem.loss_atol, problem.rounding
                ):
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
