"""Spectral quantities of a tensor given by its observed entries (host, numpy and scipy).

A tensor zero outside a list of entries (coordinates ``coords``, one integer
array per mode, and ``values``) has sparse unfoldings: the mode-``k``
unfolding is a ``scipy.sparse`` matrix with one stored entry per listed
entry, its columns in the C order of the other modes (as ``tl.unfold``).
The largest singular value of an unfolding comes from the Gram matrix of its
short side, formed as a sparse product (its size is the short side squared,
at most the tensor's size to the power one half) and diagonalized exactly,
so the results equal the dense computations of
:func:`~sktensorflow.models.deep_tucker_init.spectral_scale` and
:func:`~sktensorflow.models.deep_tucker_escape.unexplained_direction` to
rounding; above ``GRAM_LIMIT`` rows the Gram matrix is replaced by a Lanczos
solve (``scipy.sparse.linalg.svds``). Memory and time are linear in the
number of entries, never the tensor's size.
"""

import math

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from .deep_tucker_escape import POWER_STEPS, stands_out

__all__ = [
    "GRAM_LIMIT",
    "contract_except",
    "spectral_scale_entries",
    "top_left_vector",
    "unexplained_direction_entries",
    "unfolding",
]

#: Largest short side of an unfolding whose Gram matrix is formed (8 * 4096**2 bytes).
GRAM_LIMIT = 4096


def unfolding(coords, values, shape, mode):
    """The mode-``mode`` unfolding as a CSR matrix of shape ``(shape[mode], prod(others))``.

    Examples
    --------
    >>> import tensorly as tl
    >>> X = np.arange(24.0).reshape(2, 3, 4)
    >>> coords = tuple(np.indices(X.shape).reshape(3, -1))
    >>> A = unfolding(coords, X.ravel(), X.shape, 1)
    >>> bool(np.array_equal(A.toarray(), tl.unfold(X, 1)))
    True
    """
    others = [m for m in range(len(shape)) if m != mode]
    dims = [shape[m] for m in others]
    cols = np.ravel_multi_index(tuple(coords[m] for m in others), dims) if others else 0
    n_cols = int(np.prod(dims, dtype=np.int64))
    return sp.csr_array((values, (coords[mode], cols)), shape=(shape[mode], n_cols))


def _lanczos_top(A):
    """Top singular triplet of a large sparse ``A`` (deterministic start)."""
    v0 = np.ones(min(A.shape))
    u, s, _ = svds(A.astype(np.float64), k=1, v0=v0, tol=0, solver="arpack")
    return float(s[0]), u[:, 0]


def top_left_vector(A):
    """Top singular value and left singular vector of a sparse ``A``, from its short side.

    The same computation as the dense
    ``deep_tucker_escape._top_left_vector``, with the
    Gram matrix formed as a sparse product.
    """
    if min(A.shape) > GRAM_LIMIT:
        return _lanczos_top(A)
    if A.shape[0] <= A.shape[1]:
        vals, vecs = np.linalg.eigh((A @ A.T).toarray())
        return math.sqrt(max(vals[-1], 0.0)), vecs[:, -1]
    vals, vecs = np.linalg.eigh((A.T @ A).toarray())
    sigma = math.sqrt(max(vals[-1], 0.0))
    u = A @ vecs[:, -1]
    return sigma, u / max(np.linalg.norm(u), np.finfo(float).tiny)


def _top_singular_value(A):
    if min(A.shape) > GRAM_LIMIT:
        return _lanczos_top(A)[0]
    gram = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    return float(np.sqrt(max(np.linalg.eigvalsh(gram.toarray())[-1], 0.0)))


def spectral_scale_entries(coords, values, shape):
    """Largest singular value over the unfoldings of the tensor of the entries, as a float.

    Examples
    --------
    >>> coords = (np.array([0, 1]), np.array([0, 1]))
    >>> spectral_scale_entries(coords, np.array([3.0, -4.0]), (2, 2))
    4.0
    """
    return max(
        _top_singular_value(unfolding(coords, values, shape, mode)) for mode in range(len(shape))
    )


def contract_except(coords, values, shape, vectors, skip):
    """``E`` contracted with ``vectors[m]`` along every mode ``m != skip`` (a vector).

    Examples
    --------
    >>> coords = (np.array([0, 1]), np.array([1, 0]))
    >>> contract_except(coords, np.array([2.0, 3.0]), (2, 2), [None, np.array([1.0, 10.0])], 0)
    array([20.,  3.])
    """
    weights = np.array(values, dtype=float)
    for mode, v in enumerate(vectors):
        if mode != skip:
            weights = weights * v[coords[mode]]
    return np.bincount(coords[skip], weights=weights, minlength=shape[skip])


def _structured(coords, values, shape):
    """Per-mode top left singular vectors, or ``None`` if the residual looks unstructured."""
    total = float(np.dot(values, values))
    if total == 0.0:
        return None
    vectors, structured = [], False
    for mode in range(len(shape)):
        A = unfolding(coords, values, shape, mode)
        sigma, u = top_left_vector(A)
        structured |= stands_out(sigma, A.shape, total)
        vectors.append(u)
    return vectors if structured else None


def unexplained_direction_entries(coords, values, shape, model_scale, rank_tol):
    """Entries form of :func:`~sktensorflow.models.deep_tucker_escape.unexplained_direction`.

    ``(coords, values)`` list the residual estimate's nonzero entries (the
    observed residual divided by the observed fraction) of a tensor of ``shape``.

    Returns
    -------
    direction : tuple ``(vectors, amplitude)`` or None

    Examples
    --------
    >>> coords = (np.array([0]), np.array([1]))
    >>> vectors, amplitude = unexplained_direction_entries(coords, np.array([2.0]), (4, 3),
    ...                                                    1.0, 1e-2)
    >>> round(abs(amplitude), 6)
    2.0
    """
    vectors = _structured(coords, values, shape)
    if vectors is None:
        return None
    for _ in range(POWER_STEPS):
        for mode in range(len(shape)):
            v = contract_except(coords, values, shape, vectors, mode)
            norm = np.linalg.norm(v)
            if norm == 0.0:
                return None
            vectors[mode] = v / norm
    amplitude = float(np.dot(contract_except(coords, values, shape, vectors, 0), vectors[0]))
    if abs(amplitude) <= rank_tol * model_scale:
        return None
    return vectors, amplitude
