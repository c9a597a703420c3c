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

Fourier coordinates
-------------------
The iteration itself runs on the factors' *Fourier coordinates*
(:func:`to_coordinates`): the half spectrum ``rfft(A)`` along the tubes, scaled
per slice by ``1/sqrt(k)`` (DC and Nyquist) or ``sqrt(2/k)`` (the others) and
stored as a real array of shape ``(k // 2 + 1, n, width, 2)`` (real and
imaginary parts). The map is an isometry with inverse :func:`from_coordinates`,
so gradient descent and the gradient flow take exactly the same steps in either
parametrization, and the loss and its gradient
(:func:`coordinate_loss_and_grad`) cost one inverse and one forward transform of
the data-sized tensor per evaluation instead of six transforms. The imaginary
parts of the DC (and Nyquist) slices are not free coordinates: they start at
zero and their gradient is zero.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
import tensorly as tl

from .. import _backend
from .. import tproduct as tp
from ._problem import Problem, rms_scale

__all__ = [
    "DenseData",
    "MaskedData",
    "Measurements",
    "coordinate_loss",
    "coordinate_loss_and_grad",
    "coordinate_problem",
    "coordinate_rms",
    "dense_data",
    "from_coordinates",
    "loss_and_grad",
    "masked_data",
    "measurements",
    "to_coordinates",
    "to_tensor",
]


# -- observation models (targets stored slices-first, shape (k, n1, n2)) -------------------
class DenseData(NamedTuple):
    """Every entry observed; ``tensor`` of shape ``(k, n1, n2)`` for ``shape`` (n1, n2, k)."""

    tensor: object
    shape: tuple


class MaskedData(NamedTuple):
    """Entries where ``mask`` is 1 observed (``tensor`` 0 elsewhere), slices first."""

    tensor: object
    mask: object
    shape: tuple


class Measurements(NamedTuple):
    """Linear measurements ``values = operator @ vec(X)``, operator columns slices first."""

    operator: object
    values: object
    shape: tuple


def _slices_first(tensor):
    return _backend.contiguous(tl.moveaxis(tensor, 2, 0))


def dense_data(tensor):
    """Wrap a fully observed backend tensor of shape (n1, n2, k)."""
    return DenseData(_slices_first(tensor), tuple(tl.shape(tensor)))


def masked_data(tensor, mask):
    """Wrap a tensor with a 0/1 mask (both backend arrays of shape (n1, n2, k))."""
    mask = _slices_first(mask)
    return MaskedData(_slices_first(tensor) * mask, mask, tuple(tl.shape(tensor)))


def measurements(operator, values, shape):
    """Wrap an ``(m, n1 n2 k)`` measurement matrix and the ``(m,)`` measured values.

    The columns of ``operator`` index ``vec(X)`` in C order of ``shape`` (n1, n2, k).
    """
    shape = tuple(int(s) for s in shape)
    n1, n2, k = shape
    m = tl.shape(values)[0]
    if tl.shape(operator) != (m, n1 * n2 * k):
        raise ValueError(
            f"operator of shape {tl.shape(operator)} and values of shape {tl.shape(values)} "
            f"do not match a tensor of shape {shape} (expected ({m}, {n1 * n2 * k}))."
        )
    permuted = tl.transpose(tl.reshape(operator, (m, n1, n2, k)), (0, 3, 1, 2))
    return Measurements(tl.reshape(permuted, (m, -1)), values, shape)


def _residual(X, data):
    """Loss ``½ ||r||²`` and ``E = dL/dX`` for ``X`` of shape (k, n1, n2).

    Runs once per gradient evaluation, with array operators (see ``_model_slices``).
    """
    if isinstance(data, Measurements):
        res = data.operator @ X.reshape(-1) - data.values
        E = (data.operator.T @ res).reshape(X.shape)
    else:
        res = X * data.mask - data.tensor if isinstance(data, MaskedData) else X - data.tensor
        E = res
    flat = res.reshape(-1)
    return 0.5 * float(flat @ flat), E


# -- Fourier coordinates -------------------------------------------------------------------
def _slice_weights(k):
    """Per-slice scale of the orthonormal coordinates (host array of shape (k//2+1,))."""
    weights = np.full(k // 2 + 1, math.sqrt(2.0 / k))
    weights[0] = 1.0 / math.sqrt(k)
    if k % 2 == 0:
        weights[-1] = 1.0 / math.sqrt(k)
    return weights


@functools.cache
def _weights_tensor(backend, k, power, context=()):
    with _backend.backend_context(backend):
        return tl.tensor(_slice_weights(k)[:, None, None] ** power, **dict(context))


def _weights(k, power, like):
    """Slice weights to the ``power``, with the real dtype and the device of ``like``."""
    return _weights_tensor(tl.get_backend(), k, power, _backend.real_context(like))


@functools.cache
def _inverse_square_weights(k):
    return tuple(float(w) ** -2 for w in _slice_weights(k))


def to_coordinates(params):
    """Orthonormal Fourier coordinates of real factors.

    Parameters
    ----------
    params : tuple of arrays of shape (n, width, k)

    Returns
    -------
    coords : tuple of real arrays of shape (k // 2 + 1, n, width, 2)
        ``sum(c**2) == sum(p**2)`` for every pair.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.random.default_rng(0).normal(size=(3, 2, 4))
    >>> (C,) = to_coordinates((A,))
    >>> C.shape, bool(np.isclose(np.sum(C**2), np.sum(A**2)))
    ((3, 3, 2, 2), True)
    >>> bool(np.allclose(from_coordinates((C,), 4)[0], A))
    True
    """
    k = tl.shape(params[0])[2]
    return tuple(_backend.as_real(tp.to_fourier(p) * _weights(k, 1, p)) for p in params)


def from_coordinates(coords, k):
    """Real factors of shape (n, width, k) from their Fourier coordinates (inverse map)."""
    return tuple(tp.from_fourier(_backend.as_complex(c) * _weights(k, -1, c), k) for c in coords)


def coordinate_rms(coords, k):
    """Root-mean-square entry of each real factor, computed from its coordinates.

    The loop's scale for ``tol`` and error control: the coordinates hold the
    factor's sum of squares in ``2 (k // 2 + 1)`` instead of ``k`` entries per tube.
    """
    ratio = math.sqrt(2 * (k // 2 + 1) / k)
    return tuple(ratio * s for s in rms_scale(coords))


# The two functions below run once per gradient evaluation: they use the array
# operators ``@``, ``.mT`` and ``.conj()`` (numpy, pytorch, jax, cupy) rather than
# tensorly's dispatching functions, whose overhead is comparable to the work on
# small tensors.
def _model_slices(Pa, Pb, k):
    """``A * B^T`` slices first, shape (k, n1, n2), from complex coordinates."""
    return tp.irfft_tubes(Pa @ Pb.mT.conj(), k, slice_scale=_inverse_square_weights(k))


def coordinate_loss(coords, data):
    """The loss alone (no gradient) at the given Fourier coordinates."""
    Pa = _backend.as_complex(coords[0])
    Pb = Pa if len(coords) == 1 else _backend.as_complex(coords[1])
    return _residual(_model_slices(Pa, Pb, data.shape[2]), data)[0]


def coordinate_loss_and_grad(coords, data, model=None):
    """Loss and gradient with respect to the Fourier coordinates of the factors.

    Parameters
    ----------
    coords : tuple of arrays
        :func:`to_coordinates` of ``(A, B)`` or ``(U,)``.
    data : DenseData, MaskedData or Measurements
    model : _LastModel, default=None
        Keeps the model tensor ``A * B^T`` of this evaluation.

    Returns
    -------
    loss : float
    grads : tuple of arrays shaped like ``coords``
        The coordinates of the gradient with respect to the real factors.
    """
    k = data.shape[2]
    Pa = _backend.as_complex(coords[0])
    Pb = Pa if len(coords) == 1 else _backend.as_complex(coords[1])
    slices = _model_slices(Pa, Pb, k)
    loss, E = _residual(slices if model is None else model.store(coords, slices), data)
    Ef = tp.rfft_tubes(E)
    EhPa = Ef.mT.conj() @ Pa
    if len(coords) == 1:
        return loss, (_backend.as_real(Ef @ Pa + EhPa),)
    return loss, (_backend.as_real(Ef @ Pb), _backend.as_real(EhPa))


def _check_tube_length(params, data):
    k = tl.shape(params[0])[2]
    if k != data.shape[2]:
        raise ValueError(f"factors have tube length {k}, the data {data.shape[2]}.")
    return k


def coordinate_problem(
    params, data, *, rate_scale=1.0, heldout=None, escape=None, precondition=None
):
    """The factorization as a :class:`~sktensorflow.models._problem.Problem` on coordinates.

    The loop iterates on the Fourier coordinates of ``params``; callbacks,
    records and progress descriptions see the real factors (the problem's view).

    Parameters
    ----------
    params : tuple of arrays
        Initial ``(A, B)`` or ``(U,)``, tubes of the data's length.
    data : DenseData, MaskedData or Measurements
    rate_scale : float, default=1.0
        The problem's characteristic rate (``tol`` is relative to it), e.g. the
        largest Fourier-slice singular value of the data.
    heldout : MaskedData, default=None
        Entries withheld from ``data``: the problem's held-out loss is
        ``½ ||M_heldout ⊙ (A * B^T - X)||²``.
    escape : callable, default=None
        The problem's saddle escape on coordinates
        (:func:`sktensorflow.models.tubal_saddle.saddle_escape`).
    precondition : callable, default=None
        The problem's preconditioner for ``solver="scaled_gd"``
        (:func:`sktensorflow.models.tubal_precondition.slice_preconditioner`).

    Returns
    -------
    problem : Problem
        ``fun`` (loss and coordinate gradient), ``start`` (the coordinates of
        ``params``), ``scale`` (the factors' rms, :func:`coordinate_rms`) and
        ``view`` (:func:`from_coordinates`: ``problem.view(result.params)`` are
        the final factors).

    Examples
    --------
    >>> import numpy as np
    >>> A, B = np.ones((3, 2, 4)), np.ones((5, 2, 4))
    >>> problem = coordinate_problem((A, B), dense_data(np.zeros((3, 5, 4))))
    >>> bool(np.allclose(problem.view(problem.start)[1], B))
    True
    >>> [round(s, 12) for s in problem.scale(problem.start)]  # rms of A and B
    [1.0, 1.0]
    """
    k = _check_tube_length(params, data)
    model = _LastModel()
    return Problem(
        fun=lambda coords: coordinate_loss_and_grad(coords, data, model),
        start=to_coordinates(params),
        scale=lambda coords: coordinate_rms(coords, k),
        view=lambda coords: from_coordinates(coords, k),
        rate_scale=rate_scale,
        loss_atol=_rounding_level(data),
        heldout_loss=None if heldout is None else lambda coords: model.loss(coords, heldout),
        escape=escape,
        precondition=precondition,
    )


def _rounding_level(data):
    """Rounding level of the loss: ``1e-13`` of the loss at zero."""
    values = data.values if isinstance(data, Measurements) else data.tensor
    flat = values.reshape(-1)
    return 1e-13 * 0.5 * float(flat @ flat)


class _LastModel:
    """The model tensor of the last gradient evaluation, for the held-out loss.

    The loop evaluates the held-out loss at the point whose gradient it has
    just computed: reusing that evaluation's ``A * B^T`` spares a product and
    an inverse transform per check.
    """

    def __init__(self):
        self.coords = self.slices = None

    def store(self, coords, slices):
        self.coords, self.slices = coords, slices
        return slices

    def loss(self, coords, data):
        if self.coords is not coords:
            return coordinate_loss(coords, data)
        return _residual(self.slices, data)[0]


# -- the model on real factors -------------------------------------------------------------
def to_tensor(params):
    """The modelled tensor: ``A * B^T`` for ``(A, B)``, ``U * U^T`` for ``(U,)``."""
    k = tl.shape(params[0])[2]
    Af = tp.to_fourier(params[0])
    Bf = Af if len(params) == 1 else tp.to_fourier(params[1])
    return tp.from_fourier(tl.matmul(Af, tp.slice_conj_transpose(Bf)), k)


def loss_and_grad(params, data):
    """Loss and analytic gradient of the t-product factorization.

    Computed through the Fourier coordinates: the gradient with respect to the
    real factors is :func:`from_coordinates` of :func:`coordinate_loss_and_grad`
    (the coordinate map is an isometry).

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
    >>> loss < 1e-24, float(np.abs(gA).max()) < 1e-12
    (True, True)
    """
    k = _check_tube_length(params, data)
    loss, grads = coordinate_loss_and_grad(to_coordinates(params), data)
    return loss, from_coordinates(grads, k)
