"""Deep Tucker loss and gradient on a list of entries (minibatches over ``Ω``).

The model's value at the entry ``(i_0, ..., i_{N-1})`` is
``G ×_0 u_0ᵀ ×_1 u_1ᵀ ⋯`` with ``u_k`` row ``i_k`` of the end-to-end factor
``U_k`` (:mod:`sktensorflow.models.deep_tucker`). For a batch of ``B``
entries the rows are gathered, ``R_k = U_k[i_k]`` (``_backend.take_rows``),
and the core is contracted with them one mode at a time, keeping the batch axis:
``T_1 = R_0 G_(0)``, ``T_{k+1}[b, ·] = Σ_a T_k[b, a, ·] R_k[b, a]``. The cost
is ``O(B · prod(widths))`` for the first contraction, less for the others,
plus the factors' ``O(n_k · w_k²)`` per matrix, never the size of the tensor.
Reverse-mode differentiation of the same steps gives ``∂ℓ/∂G`` and
``∂ℓ/∂R_k``; ``∂ℓ/∂U_k``, the rows of ``∂ℓ/∂R_k`` added at ``i_k``
(``_backend.add_rows``), goes through each chain as in the
full model.
"""

import numpy as np
import tensorly as tl

from .. import _backend
from ._minibatch import entry_batches, with_batches
from .deep_tucker import (
    _column_backward,
    _column_factor,
    _product_backward,
    _product_factor,
    split_params,
)

__all__ = ["MINIBATCH_SOLVERS", "entries_loss_and_grad", "for_solver", "tucker_batches"]

#: Step rules that need the problem's ``Batches`` (``sktensorflow.models._minibatch``).
MINIBATCH_SOLVERS = ("minibatch_adam",)


def _factors(chains, form):
    """End-to-end factors and, per mode, the map from ``∂ℓ/∂U_k`` to the chain's gradients."""
    factors, backs = [], []
    for chain in chains:
        if form == "column":
            U, inputs = _column_factor(chain)
            backs.append(lambda g, c=chain, i=inputs: _column_backward(c, i, g))
        else:
            U, partials = _product_factor(chain)
            backs.append(lambda g, c=chain, q=partials: _product_backward(c, q, g))
        factors.append(U)
    return factors, backs


def _contract(G, rows):
    """Model values at the entries, and the intermediate ``T_k`` (each ``(B, ·)``)."""
    B = tl.shape(rows[0])[0]
    T = tl.dot(rows[0], tl.reshape(G, (tl.shape(G)[0], -1)))
    saved = []
    for R in rows[1:]:
        saved.append(T)
        w = tl.shape(R)[1]
        T = tl.sum(tl.reshape(T, (B, w, -1)) * R[:, :, None], axis=1)
    return tl.reshape(T, (B,)), saved


def _backward(G, rows, saved, e):
    """``∂ℓ/∂G`` and ``∂ℓ/∂R_k`` for ``∂ℓ/∂x̂ = e`` (length ``B``)."""
    B = tl.shape(e)[0]
    gT = tl.reshape(e, (B, 1))
    grad_rows = []
    for R, T in zip(reversed(rows[1:]), reversed(saved), strict=True):
        w = tl.shape(R)[1]
        T3 = tl.reshape(T, (B, w, -1))
        grad_rows.append(tl.sum(T3 * gT[:, None, :], axis=2))
        gT = tl.reshape(gT[:, None, :] * R[:, :, None], (B, -1))
    G0 = tl.reshape(G, (tl.shape(G)[0], -1))
    grad_rows.append(tl.dot(gT, tl.transpose(G0)))
    grad_G = tl.reshape(tl.dot(tl.transpose(rows[0]), gT), tl.shape(G))
    return grad_G, grad_rows[::-1]


def entries_loss_and_grad(params, coords, values, coef, *, depth, form="product"):
    """Loss ``(coef/2) Σ_b (X̂[coords_b] - values_b)²`` over listed entries, and its gradient.

    Parameters
    ----------
    params : tuple of arrays
        ``(G, *chain_0, ...)`` (:mod:`sktensorflow.models.deep_tucker`).
    coords : tuple of int ndarrays
        One array of ``B`` coordinates per mode (host).
    values : ndarray of shape (B,)
        Target values at those entries (host).
    coef : float
    depth : int
    form : {"product", "column"}

    Returns
    -------
    loss : float
    grads : tuple of arrays shaped like ``params``

    Examples
    --------
    >>> from sktensorflow.models import deep_tucker as dtm
    >>> rng = np.random.RandomState(0)
    >>> params = dtm.init_params(rng, (3, 4, 2), (2, 2, 2), 2, scale=1.0)
    >>> Y = rng.standard_normal((3, 4, 2))
    >>> coords = tuple(np.indices(Y.shape).reshape(3, -1))
    >>> loss, _ = entries_loss_and_grad(params, coords, Y.ravel(), 1.0, depth=2)
    >>> full, _ = dtm.loss_and_grad(params, Y, None, 1.0, depth=2)
    >>> bool(np.isclose(loss, full))
    True
    """
    G, chains = split_params(params, len(coords), depth)
    factors, backs = _factors(chains, form)
    coords = [np.asarray(c) for c in coords]
    rows = [_backend.take_rows(U, c) for c, U in zip(coords, factors, strict=True)]
    x_hat, saved = _contract(G, rows)
    r = x_hat - tl.tensor(np.asarray(values, dtype=float), **tl.context(G))
    loss = 0.5 * coef * float(tl.sum(r * r))
    grad_G, grad_rows = _backward(G, rows, saved, coef * r)
    grads = [grad_G]
    for c, U, gR, back in zip(coords, factors, grad_rows, backs, strict=True):
        zero = tl.zeros(tl.shape(U), **tl.context(G))
        grads.extend(back(_backend.add_rows(zero, c, gR)))
    return loss, tuple(grads)


def tucker_batches(target, fitted, coef, seed, *, depth, form="product"):
    """``Batches`` (``sktensorflow.models._minibatch``) over the fitted entries (host arrays).

    ``target`` is the (normalized) data, ``fitted`` the boolean mask of the
    entries the loss sums over, ``coef`` the full loss's weight.
    """
    coords = np.nonzero(np.asarray(fitted))
    values = np.asarray(target)[coords]

    def entries_fun(params, sub_coords, sub_values, weight):
        with np.errstate(over="ignore", invalid="ignore"):  # the solver handles inf
            return entries_loss_and_grad(
                params, sub_coords, sub_values, weight, depth=depth, form=form
            )

    return entry_batches(entries_fun, coords, values, coef, seed)


def for_solver(problem, solver, target, fitted, coef, rng, *, depth, form="product"):
    """``problem`` with batches over ``fitted`` if ``solver`` needs them, else unchanged.

    The batches' seed is drawn from ``rng`` only then, so the other solvers'
    random draws do not change.
    """
    if solver not in MINIBATCH_SOLVERS:
        return problem
    seed = int(rng.randint(np.iinfo(np.int32).max))
    batches = tucker_batches(target, fitted, coef, seed, depth=depth, form=form)
    return with_batches(problem, batches)
