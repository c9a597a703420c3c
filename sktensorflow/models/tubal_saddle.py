"""Saddle escape of the t-product factorization.

The loop's ``tol`` test compares each factor's gradient with the factor's
root-mean-square entry, so a column that is still small grows too slowly to
register: gradient descent from a small start can pass the test on the plateau
before a weak component, with that component left in the residual. At a ``tol``
point :func:`saddle_escape` looks at the residual's t-SVD; if its leading
singular value is one the model would count in its tubal rank, a spare (small)
column pair is re-seeded along the leading singular tubes and the loop goes on.

Early stops are not escaped: with fixed-step gradient descent a plateau shows
as a flat training loss, which the loop's early stopping already waits out,
and on real data a re-seeding there costs a patience period for nothing (the
residual of noisy data always has a countable direction).
"""

import numpy as np
import tensorly as tl

from .. import _backend
from .. import tproduct as tp
from .tubal import (
    MaskedData,
    Measurements,
    _model_slices,
    _residual,
    from_coordinates,
    to_coordinates,
)

__all__ = ["residual_tensor", "saddle_escape"]


def residual_tensor(coords, data):
    """``dL/dX`` at the given coordinates, shape (n1, n2, k), as a numpy array.

    The observed residual ``M ⊙ (A * B^T - X)`` for masked data, the full one for
    dense data, the back-projected residual ``A^T(A(X̂) - y)`` for measurements.
    """
    k = data.shape[2]
    Pa = _backend.as_complex(coords[0])
    Pb = Pa if len(coords) == 1 else _backend.as_complex(coords[1])
    E = _residual(_model_slices(Pa, Pb, k), data)[1]
    return np.moveaxis(_backend.to_numpy(E), 0, 2)


def observed_share(data):
    """Share of the tensor's entries the data see (the residual's scale)."""
    if isinstance(data, MaskedData):
        return max(float(_backend.to_numpy(data.mask).mean()), np.finfo(float).tiny)
    if isinstance(data, Measurements):
        return min(1.0, tl.shape(data.values)[0] / float(np.prod(data.shape)))
    return 1.0


def saddle_escape(data, *, rank_tol, seed_norm):
    """An ``escape(coords, grads)`` for :class:`~sktensorflow.models._problem.Problem`.

    Parameters
    ----------
    data : DenseData, MaskedData or Measurements
    rank_tol : float
        A residual singular value (rescaled by the observed share of the data)
        above ``rank_tol`` times the model's largest one is a component the model
        would count: the point is then a saddle.
    seed_norm : float
        Norm given to each re-seeded column (the initialization's column norm).

    Returns
    -------
    escape : callable
        ``None`` at a genuine end (nothing countable left, or no spare column),
        else the coordinates with the weakest column pair re-seeded.
    """
    k, share = data.shape[2], observed_share(data)

    def escape(coords, grads):
        if grads is None:  # an early stop: see the module docstring
            return None
        balanced = tuple(_backend.to_backend(c) for c in _balanced(coords))
        factors = [_backend.to_numpy(f) for f in from_coordinates(balanced, k)]
        E = residual_tensor(coords, data)
        with _backend.backend_context("numpy"):
            level = rank_tol * tp.tubal_singular_values_factorized(factors[0], factors[-1]).max()
            if tp.tubal_singular_values(E).max() / share <= level:
                return None
            factors, spare = _spare_last(factors)
            if spare > level:
                return None
            U, _, V = tp.t_svd(-E, rank=1)
        for factor, seed in zip(factors, (U[:, 0, :], V[:, 0, :]), strict=False):
            factor[:, -1, :] = seed_norm * seed / max(np.linalg.norm(seed), np.finfo(float).tiny)
        return to_coordinates(tuple(_backend.to_backend(f) for f in factors))

    return escape


def _balanced(coords):
    """Factors with the same product, balanced on every Fourier slice (host arrays).

    Gradient descent from a small start keeps ``A^H A ≈ B^H B``, but a
    preconditioned step (``solver="scaled_gd"``) is invariant to ``A -> A Q``,
    ``B -> B Q^{-H}`` and lets unused columns of one factor grow while the other
    stays small, which would hide a spare column. Per slice, with ``A_j = Q_a
    R_a`` and ``B_j = Q_b R_b``, the SVD ``R_a R_b^H = U S V^H`` gives ``A_j' =
    Q_a U S^½`` and ``B_j' = Q_b V S^½``, zero-padded to the width (columns
    beyond ``min(n1, n2, width)`` carry nothing in any factorization).
    Takes and returns Fourier coordinates (host arrays).
    """
    if len(coords) == 1:  # U * U^T is balanced by construction
        return (_backend.to_numpy(coords[0]),)
    Pa, Pb = (_backend.to_numpy(_backend.as_complex(c)) for c in coords)
    Qa, Ra = np.linalg.qr(Pa)
    Qb, Rb = np.linalg.qr(Pb)
    U, S, Vh = np.linalg.svd(Ra @ Rb.conj().swapaxes(-1, -2), full_matrices=False)
    root = np.sqrt(S)[:, None, :]
    out = []
    for Q, W in ((Qa, U), (Qb, Vh.conj().swapaxes(-1, -2))):
        P = np.zeros(Q.shape[:2] + Pa.shape[2:], dtype=complex)
        P[:, :, : S.shape[-1]] = Q @ W * root
        out.append(np.stack([P.real, P.imag], axis=-1))
    return tuple(out)


def _spare_last(factors):
    """Rotate the lateral slices so that the last one is the least used.

    ``A * B^T`` is unchanged by a common orthogonal mix ``Q`` of the lateral
    slices of the factors (as is gradient descent), so the slices are rotated
    onto the right singular vectors of the stacked, unfolded factors: the last
    slice then carries the least of the model, and its size is returned.
    """
    width = factors[0].shape[1]
    stacked = np.concatenate([np.moveaxis(f, 1, 2).reshape(-1, width) for f in factors])
    _, s, Qt = np.linalg.svd(stacked, full_matrices=False)
    rotated = [np.einsum("iwk,vw->ivk", f, Qt) for f in factors]
    return rotated, float(s[-1] ** 2 / len(factors))
