"""Deep Tucker fit on observed entries only: cost and memory linear in the entries.

The model's value at ``(i_0, ..., i_{N-1})`` is ``P[i_0] ×_1 u_1 ⋯`` with
``P = U_0 G_(0)`` (shape ``(n_0, prod_{k>0} w_k)``, computed once per
evaluation) and ``u_k`` row ``i_k`` of the end-to-end factor ``U_k``. The
entries are visited in chunks: a chunk gathers its rows of ``P`` and of the
factors, contracts them one mode at a time keeping the batch axis (as
:mod:`sktensorflow.models.deep_tucker_entries` does, with ``einsum``) and scatters the
reverse-mode gradients back into ``∂ℓ/∂P`` and ``∂ℓ/∂U_k``; then
``∂ℓ/∂G_(0) = U_0ᵀ ∂ℓ/∂P``, ``∂ℓ/∂U_0 = ∂ℓ/∂P G_(0)ᵀ`` and the chains'
gradients follow as in the full model. An intermediate of a chunk holds as
many numbers as there are entries, between ``MIN_CHUNK_FLOATS`` and
``MAX_CHUNK_FLOATS``, so memory is that of the parameters, ``P`` and the
entries, and time is ``O(|Ω| prod_{k>0} w_k)`` plus the factors' cost, never
the size of the tensor.

:func:`observed_problem` hands the loop the fit on the listed entries (with
the held-out loss and the depth-1 saddle escape computed from entries),
:func:`observed_values` evaluates the model at given coordinates.
"""

import math
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
import tensorly as tl

from .. import _backend
from ._minibatch import entry_batches, with_batches
from ._problem import Problem, initial_rate
from .deep_tucker import PLATEAU_SHARE, compressed_core, split_params
from .deep_tucker_entries import MINIBATCH_SOLVERS, _factors, entries_loss_and_grad
from .deep_tucker_escape import reseed
from .deep_tucker_init import spectral_scale
from .sparse_unfold import unexplained_direction_entries

__all__ = [
    "MAX_CHUNK_FLOATS",
    "MIN_CHUNK_FLOATS",
    "observed_loss_and_grad",
    "observed_problem",
    "observed_values",
    "with_minibatches",
]

#: Bounds on the numbers in one intermediate array of a chunk of entries (within
#: them, as many as there are entries): 256 kB to 8 MB of float64.
MIN_CHUNK_FLOATS, MAX_CHUNK_FLOATS = 2**15, 2**20


def _chunk(G, n_entries):
    """Entries per chunk for a core ``G`` and ``n_entries`` entries."""
    inner = math.prod(tl.shape(G)[1:])
    budget = min(max(n_entries, MIN_CHUNK_FLOATS), MAX_CHUNK_FLOATS)
    return max(1, budget // max(inner, 1))


def _scatter_add(acc, index, g):
    """``acc + Sᵀ g``: the rows of ``g`` added to the rows ``index`` (host ints) of ``acc``.

    On the host in place, on the rows from ``min(index)`` to ``max(index)``
    only (a short range for the sample mode, whose coordinates are sorted).
    """
    if _backend.on_host():
        B, low, high = index.shape[0], int(index.min()), int(index.max()) + 1
        S_t = sp.csr_array((np.ones(B), (index - low, np.arange(B))), shape=(high - low, B))
        acc[low:high] += S_t @ g
        return acc
    return _backend.add_rows(acc, index, g)


def _forward(T, rows):
    """Values at a chunk's entries from its rows of ``P`` and of ``U_1, ...``."""
    B, saved = tl.shape(T)[0], []
    for R in rows:
        saved.append(T)
        T = tl.einsum("bar,ba->br", tl.reshape(T, (B, tl.shape(R)[1], -1)), R)
    return tl.reshape(T, (B,)), saved


def _backward(rows, saved, e):
    """``∂ℓ/∂(rows of P)`` and ``∂ℓ/∂R_k`` for ``∂ℓ/∂x̂ = e``."""
    B = tl.shape(e)[0]
    gT, grad_rows = tl.reshape(e, (B, 1)), []
    for R, T in zip(reversed(rows), reversed(saved), strict=True):
        T3 = tl.reshape(T, (B, tl.shape(R)[1], -1))
        grad_rows.append(tl.einsum("bar,br->ba", T3, gT))
        gT = tl.reshape(gT[:, None, :] * R[:, :, None], (B, -1))
    return gT, grad_rows[::-1]


def _values(P, factors, coords, chunk):
    """Model values at ``coords`` (backend array), chunk by chunk."""
    out = []
    for start in range(0, coords[0].shape[0], chunk):
        part = slice(start, start + chunk)
        pairs = zip(factors[1:], coords[1:], strict=True)
        rows = [_backend.take_rows(U, c[part]) for U, c in pairs]
        out.append(_forward(_backend.take_rows(P, coords[0][part]), rows)[0])
    return tl.concatenate(out) if out else tl.zeros((0,), **tl.context(P))


def observed_values(params, coords, *, depth, form="product"):
    """The model's values at the entries ``coords`` (a tuple of int arrays), as a host array.

    Examples
    --------
    >>> from sktensorflow.models import deep_tucker as dtm
    >>> params = dtm.init_params(np.random.RandomState(0), (3, 4, 2), (2, 2, 2), 1, scale=1.0)
    >>> coords = tuple(np.indices((3, 4, 2)).reshape(3, -1))
    >>> x = observed_values(params, coords, depth=1)
    >>> bool(np.allclose(x, dtm.to_tensor(params, 3, 1).ravel()))
    True
    """
    coords = tuple(np.asarray(c, dtype=np.intp) for c in coords)
    G, chains = split_params(params, len(coords), depth)
    factors, _ = _factors(chains, form)
    P = tl.dot(factors[0], tl.reshape(G, (tl.shape(G)[0], -1)))
    chunk = _chunk(G, coords[0].shape[0])
    return _backend.to_numpy(_values(P, factors, coords, chunk))


def observed_loss_and_grad(params, coords, values, coef, *, depth, form="product"):
    """Loss ``(coef/2) Σ_b (X̂[coords_b] - values_b)²`` over listed entries, and its gradient.

    The same loss as :func:`~sktensorflow.models.deep_tucker_entries.entries_loss_and_grad`,
    computed chunk by chunk in memory independent of the number of entries.

    Parameters
    ----------
    params : tuple of arrays
        ``(G, *chain_0, ...)``.
    coords : tuple of int ndarrays
        One array of coordinates per mode (host).
    values : array of shape (n_entries,)
        Target values (on the active backend).
    coef : float
    depth : int
    form : {"product", "column"}

    Returns
    -------
    loss : float
    grads : tuple of arrays shaped like ``params``
    """
    G, chains = split_params(params, len(coords), depth)
    factors, backs = _factors(chains, form)
    G0 = tl.reshape(G, (tl.shape(G)[0], -1))
    P = tl.dot(factors[0], G0)
    chunk, loss = _chunk(G, coords[0].shape[0]), 0.0
    grad_P, grad_U = tl.zeros_like(P), [tl.zeros_like(U) for U in factors[1:]]
    for start in range(0, coords[0].shape[0], chunk):
        part = slice(start, start + chunk)
        pairs = zip(factors[1:], coords[1:], strict=True)
        rows = [_backend.take_rows(U, c[part]) for U, c in pairs]
        x_hat, saved = _forward(_backend.take_rows(P, coords[0][part]), rows)
        r = x_hat - values[part]
        loss += 0.5 * coef * float(tl.sum(r * r))
        gT, grad_rows = _backward(rows, saved, coef * r)
        grad_P = _scatter_add(grad_P, coords[0][part], gT)
        for k, gR in enumerate(grad_rows):
            grad_U[k] = _scatter_add(grad_U[k], coords[k + 1][part], gR)
    grads = [tl.reshape(tl.dot(tl.transpose(factors[0]), grad_P), tl.shape(G))]
    for back, gU in zip(backs, [tl.dot(grad_P, tl.transpose(G0)), *grad_U], strict=True):
        grads.extend(back(gU))
    return loss, tuple(grads)


def _heldout_loss(coords, values, depth, form):
    """``params -> ½ Σ_heldout (X̂ - values)²``."""

    def heldout_loss(params):
        x = observed_values(params, coords, depth=depth, form=form)
        return 0.5 * float(np.sum((x - values) ** 2))

    return heldout_loss


def _escape(coords, values, shape, coef, rank_tol):
    """``escape(params, grads)`` of a depth-1 product-form fit on entries (host)."""

    def escape(params, grads):
        host = [_backend.to_numpy(p) for p in params]
        with tl.backend_context("numpy", local_threadsafe=True):
            residual = coef * (values - observed_values(host, coords, depth=1))
            scale = spectral_scale(compressed_core(host, len(shape), 1))
            found = unexplained_direction_entries(coords, residual, shape, scale, rank_tol)
            new = None if found is None else reseed(host, *found)
        if new is None:
            return None
        return tuple(tl.tensor(a, **tl.context(params[0])) for a in new)

    return escape


def observed_problem(
    start,
    fitted,
    heldout=None,
    *,
    shape,
    depth,
    form="product",
    coef=1.0,
    data_scale=1.0,
    tol=0.0,
    rank_tol=None,
    plateau_share=PLATEAU_SHARE,
):
    """The deep Tucker fit on listed entries as a :class:`~sktensorflow.models._problem.Problem`.

    The entries form of :func:`sktensorflow.models.deep_tucker.problem`, with
    the same parameters, view, rate scale, held-out loss and (depth-1
    ``"product"``, ``rank_tol`` given) saddle escape.

    Parameters
    ----------
    start : tuple of arrays
        Starting ``(G, *chain_0, ...)`` on the active backend.
    fitted : tuple ``(coords, values)``
        The entries the loss sums over: one host int array per mode and the
        normalized values (host).
    heldout : tuple ``(coords, values)`` or None, default=None
        Entries withheld from the fit, for the held-out loss.
    shape : tuple of int
        The tensor's shape.
    depth, form, coef, data_scale, tol, rank_tol, plateau_share
        As in :func:`sktensorflow.models.deep_tucker.problem`.

    Returns
    -------
    problem : Problem
    """
    coords = tuple(np.asarray(c, dtype=np.intp) for c in fitted[0])
    target = tl.tensor(np.asarray(fitted[1]), **tl.context(start[0]))  # the start's dtype

    def fun(params):
        with np.errstate(over="ignore", invalid="ignore"):  # the solver handles inf
            return observed_loss_and_grad(params, coords, target, coef, depth=depth, form=form)

    def view(params):
        return (params[0] * data_scale, *params[1:])

    heldout_loss = None if heldout is None else _heldout_loss(*heldout, depth, form)
    escape = None
    if rank_tol is not None and depth == 1 and form == "product":
        escape = _escape(coords, np.asarray(fitted[1]), tuple(shape), coef, rank_tol)
    unscaled = Problem(fun, start, view=view, heldout_loss=heldout_loss, escape=escape)
    if tol == 0:
        return unscaled
    return replace(unscaled, rate_scale=min(1.0, plateau_share * initial_rate(unscaled) / tol))


def with_minibatches(problem, solver, fitted, coef, rng, *, depth, form="product"):
    """``problem`` with minibatches of the ``fitted`` entries if ``solver`` needs them.

    The entries form of :func:`sktensorflow.models.deep_tucker_entries.for_solver`:
    the same seed draw and batches, so a fit on entries listed in C order
    visits the same batches as the dense fit.
    """
    if solver not in MINIBATCH_SOLVERS:
        return problem
    seed = int(rng.randint(np.iinfo(np.int32).max))

    def entries_fun(params, sub_coords, sub_values, weight):
        with np.errstate(over="ignore", invalid="ignore"):  # the solver handles inf
            return entries_loss_and_grad(
                params, sub_coords, sub_values, weight, depth=depth, form=form
            )

    return with_batches(problem, entry_batches(entries_fun, *fitted, coef, seed))
