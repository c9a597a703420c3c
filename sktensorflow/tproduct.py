"""The t-product algebra of third-order tensors (tubes along the last axis).

For ``A`` of shape ``(n1, n2, k)`` and ``B`` of shape ``(n2, n3, k)`` the
t-product ``A * B`` is the block-circulant product of the frontal slices; after
an FFT along the tubes it is one matrix product per Fourier slice. For real
inputs only the ``k // 2 + 1`` slices of ``rfft`` are independent (the others are
their complex conjugates), so every function here works on those slices and
returns real arrays through ``irfft``. The DC slice (and the Nyquist slice for
even ``k``) of a real tensor is real; decompositions of those slices are computed
in real arithmetic so that the results stay real.

All functions take and return arrays of the active tensorly backend. The
transforms along the tubes (``rfft_tubes``, ``irfft_tubes``, ``to_fourier``,
``from_fourier``, ``slice_conj_transpose``) are written in
``sktensorflow._fourier`` and re-exported here.

Definitions
-----------
t-transpose ``A^T``
    Transpose every frontal slice and reverse the order of slices ``1..k-1``
    (in the Fourier domain: the conjugate transpose of every slice).
Identity
    ``I_n`` in frontal slice 0, zeros elsewhere.
t-SVD
    ``X = U * S * V^T`` with orthogonal ``U``, ``V`` (``U^T * U = I``) and
    f-diagonal ``S``; computed by an SVD of every Fourier slice. The singular
    tubes are ``S[i, i, :]``.
Tubal rank
    Maximum over the Fourier slices of the number of singular values
    ``>= rank_tol * sigma_max`` (``sigma_max`` over all slices): rank estimates
    are defined in :mod:`sktensorflow.metrics` (:func:`~sktensorflow.metrics.tubal_rank`),
    from the singular values computed here (:func:`tubal_singular_values`).
"""

from typing import Any, NamedTuple

import numpy as np
import tensorly as tl

from . import _backend
from ._fourier import (
    DFT_MATRIX_MAX_LENGTH,
    from_fourier,
    irfft_tubes,
    rfft_tubes,
    slice_conj_transpose,
    to_fourier,
)

__all__ = [
    "DFT_MATRIX_MAX_LENGTH",
    "TSVDResult",
    "from_fourier",
    "irfft_tubes",
    "rfft_tubes",
    "slice_conj_transpose",
    "t_identity",
    "t_product",
    "t_product_matrix",
    "t_svd",
    "t_svd_factorized",
    "t_transpose",
    "to_fourier",
    "tubal_singular_values",
    "tubal_singular_values_factorized",
]


class TSVDResult(NamedTuple):
    """A (truncated) t-SVD ``X ≈ U * S * V^T``, as returned by :func:`t_svd`.

    A named tuple, so ``U, S, V = result`` unpacks it. The arrays belong to the
    backend they were computed on (numpy, pytorch, ...). This is the tubal
    counterpart of tensorly's ``CPTensor`` and ``TuckerTensor``:
    :meth:`sktensorflow.TubalFactorizer.to_tensorly` returns one.

    Attributes
    ----------
    U : array of shape (n1, r, k)
        Orthonormal left singular tubes (``U^T * U = I``).
    S : array of shape (r, r, k)
        f-diagonal: ``S[i, i, :]`` is the ``i``-th singular tube, zero elsewhere.
    V : array of shape (n2, r, k)
        Orthonormal right singular tubes.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(4, 3, 6))
    >>> result = t_svd(X, rank=2)
    >>> result.rank, result.U.shape
    (2, (4, 2, 6))
    >>> bool(np.allclose(result.to_tensor(), t_product(*result[:2], t_transpose(result.V))))
    True
    """

    U: Any
    S: Any
    V: Any

    @property
    def rank(self):
        """Number of singular tubes ``r``."""
        return tl.shape(self.S)[0]

    @property
    def singular_tubes(self):
        """The singular tubes ``S[i, i, :]``, an array of shape ``(r, k)``."""
        r = self.rank
        return self.S[np.arange(r), np.arange(r), :]

    def to_tensor(self):
        """The full tensor ``U * S * V^T`` of shape ``(n1, n2, k)``, on the arrays' backend."""
        name = _backend.array_backend(self.U) or tl.get_backend()
        with _backend.backend_context(name):
            return t_product(self.U, self.S, t_transpose(self.V))


def _check_third_order(name, X):
    if len(tl.shape(X)) != 3:
        raise ValueError(f"{name} must be a third-order tensor, got shape {tl.shape(X)}.")


def t_product(A, B, *others):
    """t-product ``A * B (* C ...)`` of third-order tensors.

    Parameters
    ----------
    A : array of shape (n1, n2, k)
    B : array of shape (n2, n3, k)
    *others : arrays
        Further factors, multiplied from the left to the right.

    Returns
    -------
    C : real array of shape (n1, n_last, k)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(3, 2, 5)), rng.normal(size=(2, 4, 5))
    >>> t_product(A, B).shape
    (3, 4, 5)
    >>> bool(np.allclose(t_product(A, t_identity(2, 5)), A))
    True
    """
    tensors = (A, B, *others)
    for i, T in enumerate(tensors):
        _check_third_order(f"argument {i}", T)
    k = tl.shape(A)[2]
    for left, right in zip(tensors[:-1], tensors[1:], strict=True):
        if tl.shape(left)[1] != tl.shape(right)[0] or tl.shape(right)[2] != k:
            raise ValueError(
                f"t_product needs shapes (n1, n2, k) and (n2, n3, k), got {tl.shape(left)} "
                f"and {tl.shape(right)}."
            )
    out = to_fourier(A)
    for T in tensors[1:]:
        out = tl.matmul(out, to_fourier(T))
    return from_fourier(out, k)


def t_transpose(A):
    """t-transpose: transpose every frontal slice, reverse slices ``1..k-1``.

    Parameters
    ----------
    A : array of shape (n1, n2, k)

    Returns
    -------
    At : array of shape (n2, n1, k)

    Examples
    --------
    >>> import numpy as np
    >>> A = np.arange(12.0).reshape(2, 2, 3)
    >>> t_transpose(A)[:, :, 1]
    array([[ 2.,  8.],
           [ 5., 11.]])
    """
    _check_third_order("A", A)
    k = tl.shape(A)[2]
    order = [0] + list(range(k - 1, 0, -1))
    return tl.transpose(A, (1, 0, 2))[:, :, order]


def t_identity(n, k):
    """Identity tensor of shape ``(n, n, k)``: ``I_n`` in frontal slice 0.

    Examples
    --------
    >>> t_identity(2, 3)[:, :, 0]
    array([[1., 0.],
           [0., 1.]])
    """
    eye = np.zeros((n, n, k))
    eye[:, :, 0] = np.eye(n)
    return _backend.to_backend(eye)


def t_product_matrix(B):
    """Matrix of the linear map ``z -> z * B`` on horizontal slices ``z`` of shape (1, r, k).

    ``(z * B)[0, j, t] = sum_{l, s} z[0, l, s] B[l, j, (t - s) mod k]``, so the
    matrix holds circulant blocks of the tubes of ``B``.

    Parameters
    ----------
    B : array of shape (r, n, k)

    Returns
    -------
    M : array of shape (n * k, r * k)
        ``vec(z * B) = M @ vec(z)``, both vectorized in C order.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z, B = rng.normal(size=(1, 2, 3)), rng.normal(size=(2, 4, 3))
    >>> M = t_product_matrix(B)
    >>> M.shape, bool(np.allclose(M @ z.reshape(-1), t_product(z, B).reshape(-1)))
    ((12, 6), True)
    """
    _check_third_order("B", B)
    r, n, k = tl.shape(B)
    shift = (np.arange(k)[:, None] - np.arange(k)[None, :]) % k  # [t, s]
    blocks = B[:, :, shift]  # (r, n, t, s)
    return tl.reshape(tl.transpose(blocks, (1, 2, 0, 3)), (n * k, r * k))


def _real_slices(k):
    """Indices of the Fourier slices of a real tensor that are real."""
    return [0, k // 2] if k % 2 == 0 and k > 1 else [0]


def _split_apply(fn, arrays, k):
    """Apply ``fn`` to the real slices in real arithmetic and to the others as complex.

    ``arrays`` are (F, ...) batches over the independent Fourier slices; ``fn``
    returns a tuple of (batch, ...) arrays. Results are reassembled in slice order.
    """
    F = k // 2 + 1
    real_idx = _real_slices(k)
    cplx_idx = [f for f in range(F) if f not in real_idx]
    real_out = fn(*[_backend.real(a[real_idx]) for a in arrays])
    pieces = {f: tuple(o[i : i + 1] + 0j for o in real_out) for i, f in enumerate(real_idx)}
    if cplx_idx:
        cplx_out = fn(*[a[cplx_idx[0] : cplx_idx[-1] + 1] for a in arrays])
        pieces[cplx_idx[0]] = cplx_out
    keys = sorted(pieces)
    return tuple(
        tl.concatenate([pieces[f][j] for f in keys], axis=0) for j in range(len(pieces[0]))
    )


def _svd_batch(Mf):
    U, s, Vh = tl.svd(Mf, full_matrices=False)
    return U, s, slice_conj_transpose(Vh)


def _to_tubes(Uf, s, Vf, k, rank):
    """Real t-SVD factors from Fourier-slice SVDs, keeping ``rank`` tubes."""
    r = tl.shape(s)[1] if rank is None else min(int(rank), tl.shape(s)[1])
    U = from_fourier(Uf[:, :, :r], k)
    V = from_fourier(Vf[:, :, :r], k)
    s_host = _backend.to_numpy(s)[:, :r]
    Sf = np.zeros((s_host.shape[0], r, r))
    Sf[:, np.arange(r), np.arange(r)] = s_host
    S = np.fft.irfft(np.moveaxis(Sf, 0, 2), n=k, axis=2)
    return TSVDResult(U, _backend.to_backend(S), V)


def t_svd(X, rank=None):
    """t-SVD ``X = U * S * V^T`` (truncated to ``rank`` tubes if given).

    Parameters
    ----------
    X : array of shape (n1, n2, k)
    rank : int, default=None
        Number of singular tubes to keep; ``None`` keeps ``min(n1, n2)`` (the
        full, economy-size t-SVD). Truncation gives the best tubal-rank-``rank``
        approximation in Frobenius norm.

    Returns
    -------
    result : TSVDResult
        The named tuple ``(U, S, V)``: ``U`` of shape (n1, r, k) and ``V`` of
        shape (n2, r, k) with orthonormal singular tubes, ``S`` of shape
        (r, r, k) f-diagonal (``S[i, i, :]`` is the ``i``-th singular tube).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(4, 3, 6))
    >>> U, S, V = t_svd(X)
    >>> bool(np.allclose(t_product(U, S, t_transpose(V)), X))
    True
    """
    _check_third_order("X", X)
    k = tl.shape(X)[2]
    Uf, s, Vf = _split_apply(_svd_batch, (to_fourier(X),), k)
    return _to_tubes(Uf, _backend.real(s), Vf, k, rank)


def _factorized_svd_batch(Af, Bf):
    Qa, Ra = tl.qr(Af)
    Qb, Rb = tl.qr(Bf)
    u, s, v = _svd_batch(tl.matmul(Ra, slice_conj_transpose(Rb)))
    return tl.matmul(Qa, u), s, tl.matmul(Qb, v)


def t_svd_factorized(A, B, rank=None, *, return_slice_values=False):
    """t-SVD of ``A * B^T`` computed from the factors, never forming the product.

    Each Fourier slice is reduced by QR factorizations of the factors' slices,
    so the cost is ``O((n1 + n2) width^2 k)`` and the memory that of the factors.

    Parameters
    ----------
    A : array of shape (n1, width, k)
    B : array of shape (n2, width, k)
    rank : int, default=None
        Number of singular tubes to keep (default ``min(n1, n2, width)``).
    return_slice_values : bool, default=False
        Also return every Fourier slice's singular values (all of them, not
        only ``rank``), as :func:`tubal_singular_values_factorized` does, from
        the same decomposition.

    Returns
    -------
    result : TSVDResult
        ``(U, S, V)`` as in :func:`t_svd`.
    s : ndarray of shape (k // 2 + 1, min(n1, n2, width))
        Only with ``return_slice_values=True``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(5, 2, 4)), rng.normal(size=(6, 2, 4))
    >>> U, S, V = t_svd_factorized(A, B)
    >>> X = t_product(A, t_transpose(B))
    >>> bool(np.allclose(t_product(U, S, t_transpose(V)), X))
    True
    """
    _check_third_order("A", A)
    _check_third_order("B", B)
    if tl.shape(A)[1:] != tl.shape(B)[1:]:
        raise ValueError(f"A and B must share width and k, got {tl.shape(A)} and {tl.shape(B)}.")
    k = tl.shape(A)[2]
    Uf, s, Vf = _split_apply(_factorized_svd_batch, (to_fourier(A), to_fourier(B)), k)
    tubes = _to_tubes(Uf, _backend.real(s), Vf, k, rank)
    return (*tubes, np.real(_backend.to_numpy(s))) if return_slice_values else tubes


def tubal_singular_values(X):
    """Singular values of each independent Fourier slice, as a numpy array.

    Parameters
    ----------
    X : array of shape (n1, n2, k)

    Returns
    -------
    s : ndarray of shape (k // 2 + 1, min(n1, n2))
        Decreasing within each slice.
    """
    _check_third_order("X", X)
    k = tl.shape(X)[2]
    s = _split_apply(lambda M: (tl.svd(M, full_matrices=False)[1],), (to_fourier(X),), k)[0]
    return np.real(_backend.to_numpy(s))


def tubal_singular_values_factorized(A, B):
    """Per-Fourier-slice singular values of ``A * B^T`` from the factors (numpy).

    Parameters
    ----------
    A : array of shape (n1, width, k)
    B : array of shape (n2, width, k)

    Returns
    -------
    s : ndarray of shape (k // 2 + 1, min(n1, n2, width))
    """
    k = tl.shape(A)[2]

    def values(Af, Bf):
        Ra, Rb = tl.qr(Af)[1], tl.qr(Bf)[1]
        return (tl.svd(tl.matmul(Ra, slice_conj_transpose(Rb)), full_matrices=False)[1],)

    s = _split_apply(values, (to_fourier(A), to_fourier(B)), k)[0]
    return np.real(_backend.to_numpy(s))
