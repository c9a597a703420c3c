"""Deep Tucker on the host: balanced small initialization and diagnostics.

Functions of numpy arrays, run under tensorly's numpy backend, for the model of
:mod:`sktensorflow.models.deep_tucker` (parameters ``(G, *chain_0, ...)``, see
there): the balanced start, the data's spectral scale, core slice norms and the
gradient flow's conserved quantities.
"""

import math

import numpy as np
import tensorly as tl

from ._problem import TINY

__all__ = [
    "INIT_SCALINGS",
    "active_core_slices",
    "conserved_quantities",
    "default_init_scale",
    "core_slice_norms",
    "init_params",
    "random_orthonormal",
    "spectral_scale",
]


def _split(params, order, depth):
    G, rest = params[0], params[1:]
    return G, [tuple(rest[k * depth : (k + 1) * depth]) for k in range(order)]


#: How the default ``init_scale`` depends on the depth (see :func:`default_init_scale`).
INIT_SCALINGS = ("matched", "fixed")


# -- balanced initialization (host, numpy) ----------------------------------------------
def default_init_scale(order, depth, *, adam, scaling="matched"):
    """Default core slice norm at initialization, in units of the data's top singular value.

    ``c ** (1 / (P - 2))`` with ``c = 9e-4`` for Adam (``1e-3`` otherwise) and
    ``P = order * d + 1`` the number of matrices on a path through the model:
    ``d = depth`` for ``scaling="matched"`` (every depth starts from the same
    product, so from larger slices the deeper it is), ``d = 1`` for
    ``scaling="fixed"`` (the depth-1 value at every depth: depths compared at
    one initialization, as in the paper).

    Examples
    --------
    >>> [round(default_init_scale(3, L, adam=True), 2) for L in (1, 2, 3)]
    [0.03, 0.25, 0.42]
    >>> [round(default_init_scale(3, L, adam=True, scaling="fixed"), 2) for L in (1, 2, 3)]
    [0.03, 0.03, 0.03]
    """
    if scaling not in INIT_SCALINGS:
        raise ValueError(f"scaling={scaling!r} is not one of {INIT_SCALINGS}.")
    n_paths = order * (depth if scaling == "matched" else 1) + 1
    return (9e-4 if adam else 1e-3) ** (1.0 / max(n_paths - 2, 1))


def random_orthonormal(rng, n_rows, n_cols):
    """Haar-distributed ``(n_rows, n_cols)`` matrix with orthonormal columns (host).

    The Q factor of a Gaussian matrix drawn from ``rng`` (a ``RandomState``),
    signs fixed so that ``R`` has a non-negative diagonal; ``n_cols <= n_rows``.

    Examples
    --------
    >>> Q = random_orthonormal(np.random.RandomState(0), 4, 2)
    >>> bool(np.allclose(Q.T @ Q, np.eye(2)))
    True
    """
    q, r = np.linalg.qr(rng.standard_normal((n_rows, n_cols)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def spectral_scale(X):
    """Largest singular value over the unfoldings of the ndarray ``X`` (host), as a float.

    Computed from the Gram matrix of each unfolding's short side.

    Examples
    --------
    >>> spectral_scale(np.diag([3.0, -4.0]))
    4.0
    """
    best = 0.0
    for mode in range(X.ndim):
        A = tl.unfold(X, mode)
        gram = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
        best = max(best, float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0))))
    return best


def _product_chain(rng, G, mode, n, depth):
    """Exactly balanced chain: ``W_1ᵀW_1 = G_(k)G_(k)ᵀ``, ``W_{l+1}ᵀW_{l+1} = W_l W_lᵀ``.

    Only the ``r = min(w_k, prod_{m != k} w_m)`` left singular pairs of the
    unfolding enter (a reduced SVD, no square of the unfolding's long side);
    the other ``w_k - r`` singular values are zero, so their columns of the
    random orthonormal matrices, still drawn, drop out of every product.
    """
    P, s, _ = np.linalg.svd(tl.unfold(G, mode), full_matrices=False)
    w, r = P.shape
    prev = P
    chain = []
    for layer in range(depth):
        rows = n if layer == depth - 1 else w
        O = random_orthonormal(rng, rows, w)
        chain.append((O[:, :r] * s) @ prev[:, :r].T)
        prev = O
    return chain


def _column_chain(rng, G, mode, n, depth):
    """Released-code balance: every array of column ``j`` has the norm of core slice ``j``."""
    slice_norms = np.linalg.norm(tl.unfold(G, mode), axis=1)
    w = slice_norms.size
    A = rng.standard_normal((n, w))
    A *= slice_norms / np.maximum(np.linalg.norm(A, axis=0), TINY)
    chain = [A]
    for _ in range(depth - 1):
        M = rng.standard_normal((w, n, n))
        M *= (slice_norms / np.maximum(np.linalg.norm(M, axis=(1, 2)), TINY))[:, None, None]
        chain.append(M)
    return chain


def init_params(rng, dims, widths, depth, form="product", scale=1e-2):
    """Balanced small initialization (numpy arrays).

    The core has i.i.d. Gaussian entries scaled so that a core slice has norm
    ``scale`` on average (exactly for equal widths). ``"product"`` chains are
    exactly balanced (the conserved quantities of the gradient flow are zero);
    ``"column"`` chains rescale every array of column ``j`` to the norm of core
    slice ``j`` (the released code's rule). Memory is a few times the size of
    the returned arrays (reduced SVDs of the core's unfoldings only).

    Parameters
    ----------
    rng : numpy.random.RandomState
    dims, widths : tuple of int
        Tensor shape and core shape (``widths[k] <= dims[k]`` for ``"product"``).
    depth : int
    form : {"product", "column"}
    scale : float

    Returns
    -------
    params : tuple of ndarrays
    """
    widths = tuple(int(w) for w in widths)
    total = math.prod(widths)
    mean_width = total ** (1.0 / len(widths))
    G = rng.standard_normal(widths) * scale * math.sqrt(mean_width / total)
    build = _product_chain if form == "product" else _column_chain
    params = [G]
    for mode, n in enumerate(dims):
        params.extend(build(rng, G, mode, n, depth))
    return tuple(params)


# -- diagnostics ---------------------------------------------------------------------
def core_slice_norms(G):
    """Norms of the core's slices, one array of length ``w_k`` per mode (numpy)."""
    G = np.asarray(G)
    return [np.linalg.norm(tl.unfold(G, k), axis=1) for k in range(G.ndim)]


def conserved_quantities(params, order, depth, form="product"):
    """Quantities the gradient flow conserves, one list of arrays per mode (numpy).

    ``"product"``: ``G_(k)G_(k)ᵀ - W_1ᵀW_1`` and ``W_l W_lᵀ - W_{l+1}ᵀW_{l+1}``
    (from the invariance ``G ×_k B⁻¹, W_1 B`` and ``W_l B⁻¹, B W_{l+1}``).
    ``"column"``: per column ``j``, ``‖G slice j‖² - ‖first array of chain j‖²``
    and the differences of consecutive arrays' squared norms along the chain
    (from the invariance under rescaling one slice or matrix by ``c`` and the
    next by ``1/c``); the chain is ordered from the core outwards
    (``M_1, ..., M_{L-1}, a``).
    """
    params = [np.asarray(p) for p in params]
    G, chains = _split(params, order, depth)
    out = []
    for mode, chain in enumerate(chains):
        if form == "product":
            G_k = tl.unfold(G, mode)
            grams = [G_k @ G_k.T]
            for W in chain:
                grams.append(W.T @ W)
                grams.append(W @ W.T)
            out.append([grams[2 * i] - grams[2 * i + 1] for i in range(depth)])
        else:
            sq = [np.sum(tl.unfold(G, mode) ** 2, axis=1)]
            sq += [np.sum(M**2, axis=(1, 2)) for M in chain[1:]]
            sq.append(np.sum(chain[0] ** 2, axis=0))
            out.append([sq[i] - sq[i + 1] for i in range(depth)])
    return out


def active_core_slices(slice_norms, rel_tol=0.1):
    """Number of active core slices per mode: norm at least ``rel_tol`` times the mode's largest.

    A slice counts relative to the largest slice of its mode, so the count does
    not depend on the initialization's scale, only on how unequal the slices
    have become: a balanced start has all slices within a factor of a few of
    each other (all active for ``rel_tol`` up to about 0.3), and the
    structured sparsity of a fitted deep Tucker core shows as few active slices.

    Parameters
    ----------
    slice_norms : list of ndarray
        Per mode, the core's slice norms (:func:`core_slice_norms`, or an
        estimator's ``core_slice_norms_``).
    rel_tol : float, default=0.1

    Returns
    -------
    counts : tuple of int

    Examples
    --------
    >>> active_core_slices([np.array([2.0, 1.0, 0.1]), np.array([1.0, 0.05])])
    (2, 1)
    """
    return tuple(int(np.sum(np.asarray(s) >= rel_tol * np.max(s))) for s in slice_norms)
