"""Problems whose loss is a sum over observed entries: minibatches for the loop.

A completion loss ``(c/2) Σ_{e ∈ Ω} (X̂_e - Y_e)²`` is a sum over the observed
entries, so its gradient can be estimated from a random subset of them. A
model that can evaluate its loss and gradient on a subset hands the loop a
:class:`MinibatchProblem`: a :class:`~sktensorflow.models._problem.Problem`
(the full loss, for stopping, records and validation) with :class:`Batches`,
the subset evaluation. The step rule ``"minibatch_adam"``
(:mod:`sktensorflow._minibatch`) draws the subsets.

Nothing here depends on the model: a model supplies ``entries_fun(params,
coords, values, coef)``, its loss and gradient on the entries at ``coords``
(a tuple of integer arrays, one per mode) with values ``values``, and
:func:`entry_batches` makes the batches.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._problem import Problem

__all__ = ["Batches", "MinibatchProblem", "entry_batches", "with_batches"]


@dataclass(frozen=True)
class Batches:
    """The loss over a subset of the entries a problem sums over.

    Parameters
    ----------
    fun : callable
        ``fun(params, index) -> (loss, grads)``: loss and gradient over the
        entries ``index`` (an integer array into ``range(n_entries)``), scaled
        by ``n_entries / len(index)`` so that they estimate the full loss and
        gradient without bias (and equal them for ``index = range(n_entries)``).
    n_entries : int
        Number of entries the loss sums over.
    seed : int
        Seed of the generator that draws the batches (from the estimator's
        ``random_state``), so a fit is deterministic.
    """

    fun: Callable
    n_entries: int
    seed: int


@dataclass(frozen=True)
class MinibatchProblem(Problem):
    """A :class:`~sktensorflow.models._problem.Problem` with :class:`Batches`."""

    batches: Batches | None = None


def with_batches(problem, batches):
    """``problem`` (a :class:`Problem`) with ``batches``, as a :class:`MinibatchProblem`.

    Examples
    --------
    >>> def fun(p):
    ...     return 0.5 * float(p[0] @ p[0]), (p[0],)
    >>> pb = with_batches(Problem(fun, (np.ones(2),)), Batches(None, 2, 0))
    >>> pb.batches.n_entries, pb.fun(pb.start)[0]
    (2, 1.0)
    """
    fields = {name: getattr(problem, name) for name in Problem.__dataclass_fields__}
    return MinibatchProblem(**fields, batches=batches)


def entry_batches(entries_fun, coords, values, coef, seed):
    """:class:`Batches` of a loss ``(coef/2) Σ_e (X̂_e - values_e)²`` over listed entries.

    Parameters
    ----------
    entries_fun : callable
        ``entries_fun(params, coords, values, coef) -> (loss, grads)``, the
        model's loss ``(coef/2) Σ (X̂[coords] - values)²`` and its gradient.
    coords : tuple of int ndarrays
        Coordinates of the entries, one array of length ``n_entries`` per mode (host).
    values : ndarray of shape (n_entries,)
        Their values (host).
    coef : float
        Weight ``c`` of the full loss.
    seed : int

    Returns
    -------
    batches : Batches

    Examples
    --------
    >>> def entries_fun(params, coords, values, coef):
    ...     r = params[0][coords[0]] - values
    ...     g = np.zeros_like(params[0])
    ...     np.add.at(g, coords[0], coef * r)
    ...     return 0.5 * coef * float(r @ r), (g,)
    >>> b = entry_batches(entries_fun, (np.arange(4),), np.ones(4), 1.0, seed=0)
    >>> b.fun((np.zeros(4),), np.array([0, 1]))[0]  # half the entries, loss doubled
    2.0
    """
    coords = tuple(np.asarray(c, dtype=np.intp) for c in coords)
    values = np.asarray(values, dtype=float)
    n_entries = int(values.shape[0])

    def fun(params, index):
        index = np.asarray(index, dtype=np.intp)
        weight = coef * n_entries / max(index.shape[0], 1)
        return entries_fun(params, tuple(c[index] for c in coords), values[index], weight)

    return Batches(fun, n_entries, int(seed))
