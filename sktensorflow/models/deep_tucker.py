"""Deep Tucker model: a full-size core and deep (product-of-matrices) factors.

The model of an order-``N`` tensor is

    X̂ = G ×_0 U_0 ×_1 U_1 ⋯ ×_{N-1} U_{N-1},

with core ``G`` of shape ``widths`` and factors ``U_k`` of shape
``(dims[k], widths[k])``, each a product of ``depth`` matrices in one of two
forms:

``"product"`` (whole-factor chain)
    ``U_k = W_{k,L} ⋯ W_{k,1}`` with ``W_{k,l}`` of shape ``(w_k, w_k)`` for
    ``l < L`` and ``W_{k,L}`` of shape ``(n_k, w_k)``. ``U_k`` is formed when
    ``w_k`` is at most the product of the other widths (cost ``n_k w_k²`` per
    matrix); otherwise (e.g. the sample mode of a tall tensor) the chain is
    applied to the core one matrix at a time (``G ×_k W_{k,1} ×_k W_{k,2} ⋯``)
    and ``U_k`` is never formed.
``"column"`` (per-column chains)
    ``u_{k,j} = M_{k,1}[j] ⋯ M_{k,L-1}[j] a_{k,j}``: every column has its own
    chain of ``L - 1`` square ``(n_k, n_k)`` matrices, stored as arrays of shape
    ``(w_k, n_k, n_k)``, ending in ``A_k`` of shape ``(n_k, w_k)``.

Parameters are a flat tuple ``(G, *chain_0, *chain_1, ...)``; ``chain_k`` is
``(W_{k,1}, ..., W_{k,L})`` or ``(A_k, M_{k,1}, ..., M_{k,L-1})``.

The loss on the observed entries ``Ω`` (mask ``M``) is
``ℓ = (c/2) Σ_Ω (X̂ - Y)²``. With ``E = c M ⊙ (X̂ - Y)``, reverse-mode
differentiation through the mode products gives ``∂ℓ/∂W = E_(k) T_(k)ᵀ``
(``T`` the tensor the matrix ``W`` was applied to) and passes ``E ×_k Wᵀ`` on;
what reaches the start is ``∂ℓ/∂G = E ×_0 U_0ᵀ ⋯``. Per-column chains are
differentiated by the product rule, column by column (batched).

:func:`problem` hands the loss to the shared loop. The functions under
"host" (initialization, normalization, diagnostics) take numpy arrays and run
under tensorly's numpy backend.
"""

import math
from dataclasses import replace

import numpy as np
import tensorly as tl

from .. import _backend
from ._problem import Problem, initial_rate
from .deep_tucker_escape import reseed, unexplained_direction
from .deep_tucker_init import (
    INIT_SCALINGS,
    active_core_slices,
    conserved_quantities,
    core_slice_norms,
    default_init_scale,
    init_params,
    random_orthonormal,
    spectral_scale,
)

__all__ = [
    "FORMS",
    "INIT_SCALINGS",
    "active_core_slices",
    "PLATEAU_SHARE",
    "compressed_core",
    "conserved_quantities",
    "core_slice_norms",
    "default_init_scale",
    "end_to_end_factors",
    "init_params",
    "loss_and_grad",
    "n_layers",
    "problem",
    "random_orthonormal",
    "spectral_scale",
    "split_params",
    "to_tensor",
]

FORMS = ("product", "column")

#: Share of the initial relative rate below which :func:`problem` lowers ``tol``.
PLATEAU_SHARE = 0.5


def n_layers(order, depth):
    """Number of matrices (core included) on every path from the core to an entry."""
    return order * depth + 1


def split_params(params, order, depth):
    """``(G, [chain_0, ..., chain_{N-1}])`` from the flat parameter tuple."""
    G, rest = params[0], params[1:]
    return G, [tuple(rest[k * depth : (k + 1) * depth]) for k in range(order)]


# -- mode products -------------------------------------------------------------------
def _mode_dot(T, M, mode):
    """``T ×_mode M`` for ``M`` of shape (new, old)."""
    return tl.moveaxis(tl.tensordot(M, T, axes=([1], [mode])), 0, mode)


def _mode_grad(E, T, mode):
    """``E_(mode) T_(mode)ᵀ``: gradient of ``<E, T ×_mode W>`` with respect to ``W``."""
    axes = [a for a in range(tl.ndim(T)) if a != mode]
    return tl.tensordot(E, T, axes=(axes, axes))


# -- per-column chains ---------------------------------------------------------------
def _column_factor(chain):
    """``U`` (n, w) from ``(A, M_1, ..., M_{L-1})`` and the inputs of each matrix."""
    v = tl.transpose(chain[0])  # (w, n): row j is a_j
    inputs = []
    for M in reversed(chain[1:]):
        inputs.append(v)
        v = tl.einsum("jab,jb->ja", M, v)
    return tl.transpose(v), inputs[::-1]


def _column_backward(chain, inputs, grad_U):
    g = tl.transpose(grad_U)  # (w, n)
    grads = []
    for M, v in zip(chain[1:], inputs, strict=True):
        grads.append(tl.einsum("ja,jb->jab", g, v))
        g = tl.einsum("jab,ja->jb", M, g)
    return (tl.transpose(g), *grads)


def _product_factor(chain):
    """``U = W_L ⋯ W_1`` and the partial products ``W_l ⋯ W_1``."""
    partials = [chain[0]]
    for W in chain[1:]:
        partials.append(tl.dot(W, partials[-1]))
    return partials[-1], partials


def _product_backward(chain, partials, grad_U):
    grads, g = [], grad_U
    for layer in range(len(chain) - 1, 0, -1):
        grads.append(tl.dot(g, tl.transpose(partials[layer - 1])))
        g = tl.dot(tl.transpose(chain[layer]), g)
    grads.append(g)
    return tuple(grads[::-1])


def _explicit(chain, widths, mode):
    """Form ``U_k`` when that is cheaper than applying each matrix to the core."""
    others = math.prod(w for m, w in enumerate(widths) if m != mode)
    return len(chain) > 1 and tl.shape(chain[0])[1] <= others


def _mode_matrices(G, chains, form):
    """Matrices applied to each mode, and per mode how to map their gradients back."""
    widths = tl.shape(G)
    mats, backs = [], []
    for mode, chain in enumerate(chains):
        if form == "column":
            U, inputs = _column_factor(chain)
            mats.append([U])
            backs.append(lambda g, c=chain, i=inputs: _column_backward(c, i, g[0]))
        elif _explicit(chain, widths, mode):
            U, partials = _product_factor(chain)
            mats.append([U])
            backs.append(lambda g, c=chain, q=partials: _product_backward(c, q, g[0]))
        else:
            mats.append(list(chain))
            backs.append(tuple)
    return mats, backs


def end_to_end_factors(params, order, depth, form="product"):
    """The end-to-end factors ``U_k`` (n_k, w_k)."""
    _, chains = split_params(params, order, depth)
    if form == "column":
        return [_column_factor(c)[0] for c in chains]
    return [_product_factor(c)[0] for c in chains]


def _forward(G, mats):
    T, saved = G, []
    for mode, mode_mats in enumerate(mats):
        for M in mode_mats:
            saved.append((mode, M, T))
            T = _mode_dot(T, M, mode)
    return T, saved


def to_tensor(params, order, depth, form="product"):
    """The model tensor ``X̂`` of shape ``dims``."""
    G, chains = split_params(params, order, depth)
    mats, _ = _mode_matrices(G, chains, form)
    return _forward(G, mats)[0]


def compressed_core(params, order, depth, form="product"):
    """A small tensor whose unfoldings have the model's singular values (host, numpy).

    With ``U_k = Q_k R_k`` (thin QR), ``X̂ = (G ×_0 R_0 ×_1 R_1 ⋯) ×_0 Q_0 ⋯`` and
    the ``Q_k`` have orthonormal columns, so the returned ``G ×_k R_k`` (shape
    ``widths``) has the singular values of ``X̂``'s unfoldings at the cost of the
    core, not of the tensor. Requires ``widths[k] <= dims[k]`` (as the estimator's
    widths are).

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> params = init_params(rng, (6, 5, 4), (3, 3, 2), 1, scale=1.0)
    >>> small = compressed_core(params, 3, 1)
    >>> X_hat = to_tensor(params, 3, 1)
    >>> bool(np.allclose(np.linalg.svd(tl.unfold(small, 1), compute_uv=False),
    ...                  np.linalg.svd(tl.unfold(X_hat, 1), compute_uv=False)[:3]))
    True
    """
    core = np.asarray(params[0])
    for mode, U in enumerate(end_to_end_factors(params, order, depth, form)):
        core = _mode_dot(core, np.linalg.qr(np.asarray(U))[1], mode)
    return core


def loss_and_grad(params, target, mask, coef, *, depth, form="product"):
    """Masked squared loss ``(coef/2) Σ_Ω (X̂ - target)²`` and its gradient.

    Parameters
    ----------
    params : tuple of arrays
        ``(G, *chain_0, ...)`` (see the module docstring).
    target : array of shape dims
        Data, with any finite value at unobserved entries.
    mask : array of shape dims or None
        1.0 on observed entries, 0.0 elsewhere; ``None`` when all are observed.
    coef : float
        Loss weight ``c``.
    depth : int
    form : {"product", "column"}

    Returns
    -------
    loss : float
    grads : tuple of arrays shaped like ``params``
    """
    order = tl.ndim(target)
    G, chains = split_params(params, order, depth)
    mats, backs = _mode_matrices(G, chains, form)
    X_hat, saved = _forward(G, mats)
    R = X_hat - target
    if mask is not None:
        R = R * mask
    loss = 0.5 * coef * float(tl.sum(R * R))
    E = coef * R
    mat_grads = []
    for mode, M, T in reversed(saved):
        mat_grads.append(_mode_grad(E, T, mode))
        E = _mode_dot(E, tl.transpose(M), mode)
    mat_grads = mat_grads[::-1]
    grads, start = [E], 0
    for mode_mats, back in zip(mats, backs, strict=True):
        grads.extend(back(mat_grads[start : start + len(mode_mats)]))
        start += len(mode_mats)
    return loss, tuple(grads)


def problem(
    start,
    target,
    mask,
    *,
    depth,
    form="product",
    coef=1.0,
    data_scale=1.0,
    tol=0.0,
    plateau_share=PLATEAU_SHARE,
    heldout_mask=None,
    rank_tol=None,
):
    """The masked deep Tucker fit as a :class:`~sktensorflow.models._problem.Problem`.

    The loop iterates on the model of the normalized data ``target`` (the data
    divided by ``data_scale``); callbacks, records and progress descriptions see
    the parameters in the data's units (the core multiplied by ``data_scale``),
    so :func:`to_tensor` of the viewed parameters is the model of the data.

    Parameters
    ----------
    start : tuple of arrays
        Starting ``(G, *chain_0, ...)`` on the active backend.
    target : array of shape dims
        Normalized data, with any finite value at unobserved entries.
    mask : array of shape dims or None
        1.0 on observed entries, 0.0 elsewhere; ``None`` when all are observed.
    depth : int
    form : {"product", "column"}, default="product"
    coef : float, default=1.0
        Loss weight ``c`` (see :func:`loss_and_grad`).
    data_scale : float, default=1.0
        The data's units: the data are ``target * data_scale``.
    tol, plateau_share : float, default=0.0, PLATEAU_SHARE
        The rate scale is ``min(1, plateau_share * initial_rate / tol)`` (``1``
        when ``tol == 0``), so the plateau of a small start never stops the fit.
    heldout_mask : array of shape dims or None, default=None
        1.0 on entries withheld from the fit: the problem's held-out loss is
        ``½ Σ_heldout (X̂ - target)²`` (normalized units).
    rank_tol : float or None, default=None
        With depth-1 ``"product"`` factors, the problem's ``escape``: at a
        ``tol`` stop, a rank-one direction of the residual (observed residual
        times ``coef``) of amplitude at least ``rank_tol`` times the model's
        largest singular value re-seeds the smallest core slices
        (:mod:`sktensorflow.models.deep_tucker_escape`). ``None``: no escape.

    Returns
    -------
    problem : Problem
        With the default (root-mean-square) scale of every parameter array.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> start = init_params(rng, (3, 4), (3, 3), 1, scale=0.1)
    >>> pb = problem(start, rng.standard_normal((3, 4)), None, depth=1, data_scale=10.0)
    >>> bool(np.allclose(pb.view(pb.start)[0], 10 * start[0]))
    True
    """

    def fun(params):
        with np.errstate(over="ignore", invalid="ignore"):  # the solver handles inf
            return loss_and_grad(params, target, mask, coef, depth=depth, form=form)

    def view(params):
        return (params[0] * data_scale, *params[1:])

    heldout_loss = _heldout_loss(target, heldout_mask, depth, form)
    escape = None
    if rank_tol is not None and depth == 1 and form == "product":
        escape = _escape(target, mask, coef, rank_tol)
    unscaled = Problem(fun, start, view=view, heldout_loss=heldout_loss, escape=escape)
    if tol == 0:
        return unscaled
    return replace(unscaled, rate_scale=min(1.0, plateau_share * initial_rate(unscaled) / tol))


def _heldout_loss(target, mask, depth, form):
    """``params -> ½ Σ mask (X̂ - target)²``, or ``None`` without a mask."""
    if mask is None:
        return None
    order = tl.ndim(target)

    def heldout_loss(params):
        R = (to_tensor(params, order, depth, form) - target) * mask
        return 0.5 * float(tl.sum(R * R))

    return heldout_loss


def _escape(target, mask, coef, rank_tol):
    """``escape(params, grads)`` of a depth-1 product-form problem (host computation)."""
    order = tl.ndim(target)

    def escape(params, grads):
        host = [_backend.to_numpy(p) for p in params]
        target_host = _backend.to_numpy(target)
        mask_host = None if mask is None else _backend.to_numpy(mask)
        with tl.backend_context("numpy", local_threadsafe=True):
            X_hat = to_tensor(host, order, 1)
            R = target_host - X_hat
            if mask_host is not None:
                R = R * mask_host
            found = unexplained_direction(coef * R, spectral_scale(X_hat), rank_tol)
            new = None if found is None else reseed(host, *found)
        if new is None:
            return None
        context = tl.context(params[0])
        return tuple(tl.tensor(a, **context) for a in new)

    return escape
