"""Warm start: a fit that continues the previous one (``warm_start=True``).

Every fit keeps the state its loop stopped in (:mod:`sktensorflow._resume`)
together with what the fit derived from its start: the random generator as
the fit left it, the exact power of two the data were divided by, the scale
of ``tol``, the record interval, and the estimator's own choices (validation
split, tube axis, epoch schedule). With ``warm_start=True`` a new ``fit`` on data of the same shape
resumes that loop instead of drawing a new start, for ``max_iter`` more
iterations. The semantics, shared by the four estimators:

- The continuation resumes from the **last iterate** of the previous fit, not
  from the best iterate early stopping kept as the model: with the same data,
  a fit that stopped at ``max_iter`` continued for ``n`` more iterations is,
  iteration for iteration, one fit of ``max_iter + n`` iterations (same
  ``random_state`` and step rule): parameters, ``loss_curve_``, histories,
  validation record, escapes and the model kept. The counters, curves and
  histories run on (``n_iter_`` counts all iterations).
- Stopping rules are checked as the longer fit would check them: a fit that
  stopped on ``tol`` is checked again before the first step (with the same
  ``tol`` it stops at once); one that stopped early keeps its best held-out
  loss and spent patience, so it goes on to the next validation check and
  stops there unless the held-out loss improves. The model kept is the best
  iterate over all the iterations.
- What the first fit derived from its data and start is kept: normalization,
  the scale of ``tol``, the validation split, the tube axis ``"auto"`` chose
  and the record interval (``learning_rate="auto"`` is recomputed, from the
  same data the same step). ``random_state`` is not drawn from again; the
  generator continues. A continuation on other data of the same shape fits
  them in the first fit's units.
- Parameters may change between the fits except those that shape the model
  (e.g. ``width``; see each estimator's ``_warm_fixed``): changing one, or
  data of another shape, is a ``ValueError``. With ``warm_start=False`` (the
  default) every fit starts afresh.
- A failed or interrupted continuation leaves the previous model, and the state
  to continue it from, as they were.
"""

import copy
import pickle
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["WarmStartMixin", "WarmState"]


@dataclass(eq=False)
class WarmState:
    """What a fit leaves for the next one to continue from (host values only).

    Two states are equal when they are exactly the same (arrays bit for bit,
    generators in the same state).
    """

    loop: object
    rng: object
    key: object
    fixed: dict
    rate_scale: float
    record_every: int
    extras: dict = field(default_factory=dict)

    def __eq__(self, other):
        return type(other) is type(self) and pickle.dumps(self) == pickle.dumps(other)

    __hash__ = None


class WarmStartMixin:
    """Keeping and resuming the fit's state (mixed into the base estimator)."""

    #: Parameters a continuation cannot change (they shape the model).
    _warm_fixed: tuple = ()

    def _begin_fit(self, previous):
        """On the fit's scratch copy: the state to continue from (a copy of the
        ``previous`` fit's, with ``warm_start=True``) and empty notes."""
        resume = getattr(self, "warm_start", False) and previous is not None
        self._warm = copy.deepcopy(previous) if resume else None
        self._warm_notes = {}

    def _note(self, name, value):
        """Remember ``value`` for the state this fit leaves (outside a fit: nothing)."""
        notes = vars(self).get("_warm_notes")
        if notes is not None:
            notes[name] = value

    def _continuation(self, key):
        """The state this fit continues (``None`` for a fresh fit), checked against ``key``.

        ``key`` identifies the data's shape as far as the parameters depend on
        it; a continuation on another key, or after a parameter of
        ``_warm_fixed`` changed, is a ``ValueError``.
        """
        self._note("key", key)
        warm = getattr(self, "_warm", None)
        if warm is None:
            return None
        if key != warm.key:
            raise ValueError(
                f"warm_start=True continues the previous fit, made on data of shape "
                f"{warm.key}, but X has shape {key}; set warm_start=False to fit it afresh."
            )
        for name in self._warm_fixed:
            if getattr(self, name) != warm.fixed[name]:
                raise ValueError(
                    f"warm_start=True cannot continue a fit made with {name}="
                    f"{warm.fixed[name]!r} with {name}={getattr(self, name)!r}: it shapes "
                    f"the model. Set warm_start=False to fit afresh."
                )
        return warm

    def _continuing(self):
        return getattr(self, "_warm", None) is not None

    def _warm_value(self, name, compute):
        """The previous fit's ``name`` when continuing, else ``compute()``; kept either way."""
        value = self._warm.extras[name] if self._continuing() else compute()
        self._note(name, value)
        return value

    def _start_rng(self, rng):
        """The generator of the initial draws: a throwaway one when continuing.

        A continuation starts from the previous fit's parameters, so its draws
        for a start (whose shapes the problem still needs) must not advance
        the generator the loop goes on with.
        """
        return np.random.RandomState(0) if self._continuing() else rng

    def _warm_extras(self):
        """Estimator-specific values a continuation reuses (besides the notes)."""
        return {}

    def _warm_loop(self, problem, loop_options):
        """Problem, ``max_iter`` and loop options of this fit (continued or not)."""
        if not self._continuing():
            return problem, self.max_iter, loop_options
        warm = self._warm
        options = {**loop_options, "resume": warm.loop, "record_every": warm.record_every}
        problem = replace(problem, rate_scale=warm.rate_scale)
        return problem, warm.loop.n_iter + self.max_iter, options

    def _keep_warm_state(self, problem, loop_options, result):
        """Leave the state a later ``warm_start=True`` fit continues from."""
        notes = dict(vars(self).get("_warm_notes") or {})
        rng, key = notes.pop("rng", None), notes.pop("key", None)
        self._warm_state = WarmState(
            loop=result.loop_state,
            rng=copy.deepcopy(rng),
            key=key,
            fixed={name: getattr(self, name) for name in self._warm_fixed},
            rate_scale=float(problem.rate_scale),
            record_every=int(loop_options.get("record_every", 1)),
            extras={**notes, **self._warm_extras()},
        )
