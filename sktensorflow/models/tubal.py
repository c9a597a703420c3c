"""t-product factorization ``X = A * B^T`` (or ``U * U^T``) and its losses.

Parameters are real third-order tensors, tubes along the last axis: ``A`` of
shape ``(n1, width, k)`` and ``B`` of shape ``(n2, width, k)``; the symmetric
model uses one factor ``U`` of shape ``(n, width, k)`` and ``X = U * U^T``. The
products are computed on the ``k // 2 + 1`` independent Fourier slices
(:mod:`sktensorflow.tproduct`).

Three observation models, all with the loss ``L = ½ ||r||²``:

- :class:`DenseData`: ``r = X - T`` (every entry observed);
- :class:`MaskedData`: ``r = M ⊙ (X - T)`` (``M`` the 0/1 observation mask);
- :class:`Measurements`: ``r_j = <G_j, X> - y_j``, the ``G_j`` stored as the
  rows of an ``(m, n1 n2 k)`` matrix (C-order vectorization of ``(n1, n2, k)``).

With ``E = dL/dX`` (``r`` itself for dense and masked data, ``reshape(Gᵀ r)`` for
measurements), the adjoint of the t-product gives the analytic gradients

    dL/dA = E * B,    dL/dB = E^T * A,    dL/dU = (E + E^T) * U,

each one matrix product per Fourier slice.
"""

from typing import NamedTuple

import tensorly as tl

from .. import tproduct as tp

__all__ = [
    "DenseData",
    "MaskedData",
    "Measurements",
    "data_grad",
    "dense_data",
    "loss_and_grad",
    "masked_data",
    "measurements",
    "to_tensor",
]


class DenseData(NamedTuple):
    """Every entry of ``tensor`` (shape ``(n1, n2, k)``) observed."""

    tensor: object


class MaskedData(NamedTuple):
    """Entries of ``tensor`` where ``mask`` is 1 observed (``tensor`` is 0 elsewhere)."""

    tensor: object
    mask: object


class Measurements(NamedTuple):
    """Linear measurements ``values = operator @ vec(X)`` of a tensor of ``shape``."""

    operator: object
    values: object
    shape: tuple


def dense_data(tensor):
    """Wrap a fully observed backend tensor of shape (n1, n2, k)."""
    return DenseData(tensor)


def masked_data(tensor, mask):
    """Wrap a tensor with a 0/1 mask (both backend arrays; missing entries set to 0)."""
    return MaskedData(tensor * mask, mask)


def measurements(operator, values, shape):
    """Wrap an ``(m, n1 n2 k)`` measurement matrix and the ``(m,)`` measured values."""
    shape = tuple(int(s) for s in shape)
    n = shape[0] * shape[1] * shape[2]
    if tl.shape(operator)[1] != n or tl.shape(operator)[0] != tl.shape(values)[0]:
        raise ValueError(
            f"operator of shape {tl.shape(operator)} and values of shape {tl.shape(values)} "
            f"do not match a tensor of shape {shape} (expected ({tl.shape(values)[0]}, {n}))."
        )
    return Measurements(operator, values, shape)


def _fourier_product(Af, Bf, k):
    return tp.from_fourier(tl.matmul(Af, tp.slice_conj_transpose(Bf)), k)


def to_tensor(params):
    """The modelled tensor: ``A * B^T`` for ``(A, B)``, ``U * U^T`` for ``(U,)``."""
    k = tl.shape(params[0])[2]
    Af = tp.to_fourier(params[0])
    Bf = Af if len(params) == 1 else tp.to_fourier(params[1])
    return _fourier_product(Af, Bf, k)


def data_grad(X, data):
    """Loss ``½ ||r||²`` and its gradient ``E = dL/dX`` for an observation model.

    Parameters
    ----------
    X : array of shape (n1, n2, k)
    data : DenseData, MaskedData or Measurements

    Returns
    -------
    loss : float
    E : array of shape (n1, n2, k)
    """
    if isinstance(data, Measurements):
        res = tl.matmul(data.operator, tl.reshape(X, (-1,))) - data.values
        E = tl.reshape(tl.matmul(tl.transpose(data.operator), res), data.shape)
    elif isinstance(data, MaskedData):
        res = X * data.mask - data.tensor
        E = res
    else:
        res = X - data.tensor
        E = res
    return 0.5 * float(tl.sum(res * res)), E


def loss_and_grad(params, data):
    """Loss and analytic gradient of the t-product factorization.

    Parameters
    ----------
    params : tuple of arrays
        ``(A, B)`` with shapes ``(n1, width, k)`` and ``(n2, width, k)`` for
        ``X = A * B^T``, or ``(U,)`` of shape ``(n, width, k)`` for ``X = U * U^T``.
    data : DenseData, MaskedData or Measurements

    Returns
    -------
    loss : float
    grads : tuple of arrays shaped like ``params``

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(3, 2, 4)), rng.normal(size=(5, 2, 4))
    >>> loss, (gA, gB) = loss_and_grad((A, B), dense_data(to_tensor((A, B))))
    >>> loss, float(np.abs(gA).max())
    (0.0, 0.0)
    """
    k = tl.shape(params[0])[2]
    Af = tp.to_fourier(params[0])
    symmetric = len(params) == 1
    Bf = Af if symmetric else tp.to_fourier(params[1])
    loss, E = data_grad(_fourier_product(Af, Bf, k), data)
    Ef = tp.to_fourier(E)
    # E^H A = (A^H E)^H: conjugate-transpose the small factor, not the data-sized E.
    EhA = tp.slice_conj_transpose(tl.matmul(tp.slice_conj_transpose(Af), Ef))
    if symmetric:
        return loss, (tp.from_fourier(tl.matmul(Ef, Af) + EhA, k),)
    return loss, (tp.from_fourier(tl.matmul(Ef, Bf), k), tp.from_fourier(EhA, k))
