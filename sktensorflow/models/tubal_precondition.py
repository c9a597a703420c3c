"""Damped per-slice preconditioner of the t-product factorization (ScaledGD(λ)).

On the Fourier coordinates of :mod:`sktensorflow.models.tubal` the loss
separates (for fully observed data) into one matrix factorization
``X_j = A_j B_j^H`` per independent Fourier slice ``j``. Scaled gradient
descent multiplies the gradient of each factor by the inverse of the other
factor's Gram matrix, slice by slice,

    G_A <- G_A (p B_j^H B_j + λ I)^{-1},    G_B <- G_B (p A_j^H A_j + λ I)^{-1},

(``G_U (2 p U_j^H U_j + λ I)^{-1}`` for the symmetric model ``U * U^T``, whose
gradient counts the residual twice), where ``p`` is the share of the tensor
the data observe (1 for dense data, the observed fraction for a mask) so that
``p B_j^H B_j`` estimates the curvature of the observed loss, and
``λ = damping * unit``. A component whose singular value is well above ``λ``
then converges in a number of iterations that does not depend on its size;
one far below ``λ`` grows as under plain gradient descent with step
``learning_rate / λ``, so the small initialization still fits the large
components first (Xu, Shi and Ma, "The Power of Preconditioning in
Overparameterized Low-Rank Matrix Sensing", ICML 2023, for matrices).

The unit (:func:`damping_unit`) is the *second* largest Fourier-slice
singular value of the zero-filled data, not the largest: the largest
component of real data is often far above the others (the mean of
nonnegative data: 13-16 times the next on a hyperspectral cube, in the
zero-frequency slice), and gradient descent, whose step that component
bounds, then spends thousands of iterations on the small ones.
Preconditioning it, and the components of the size of the next one, removes
that stiffness; below the damping the growth rates keep gradient descent's
order. The unit is at least :data:`DAMPING_FLOOR` times the largest value
(data of rank one have no second value).

The Gram matrices are ``width × width`` per slice, so a preconditioned
gradient costs two batched Hermitian solves of that size besides the
gradient itself.
"""

import math

import numpy as np
import tensorly as tl

from .. import _backend
from .. import tproduct as tp
from ._problem import sq_norm
from .tubal import MaskedData, Measurements, _inverse_square_weights

__all__ = ["DAMPING_FLOOR", "damping_unit", "observed_share", "slice_preconditioner"]

#: Smallest damping unit, as a share of the largest Fourier-slice singular value.
DAMPING_FLOOR = 0.05


def observed_share(data):
    """Share ``p`` of the tensor the data observe: ``E[loss] = p ½ ||X - T||²``.

    1 for dense data, the observed fraction for masked data, and
    ``||G||_F² / (n1 n2 k)`` for measurements (1 for Gaussian measurements
    normalized by the number of measurements).

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow.models.tubal import masked_data
    >>> mask = np.zeros((2, 5, 3)); mask[0] = 1
    >>> observed_share(masked_data(np.ones((2, 5, 3)), mask))
    0.5
    """
    if isinstance(data, MaskedData):
        return sq_norm(data.mask) / math.prod(data.shape)
    if isinstance(data, Measurements):
        return sq_norm(data.operator) / math.prod(data.shape)
    return 1.0


def _times_inverse(G, gram, shift):
    """``G (gram + shift I)^{-1}`` per slice, for Hermitian positive ``gram``."""
    eye = _backend.to_backend(np.eye(gram.shape[-1]))
    M = gram + shift * eye
    return G @ tl.solve(M, eye + 0 * M)  # the inverse is Hermitian; width-sized solves


def damping_unit(data):
    """Unit of the damping: the second largest Fourier-slice singular value of the data.

    Of the zero-filled tensor of the fitted entries (for measurements, of the
    back-projection ``G^T y``), at least :data:`DAMPING_FLOOR` times the
    largest (1.0 for zero data).

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow.models.tubal import dense_data
    >>> X = np.zeros((3, 3, 1)); X[0, 0, 0], X[1, 1, 0] = 10.0, 2.0
    >>> damping_unit(dense_data(X))
    2.0
    >>> damping_unit(dense_data(X[:1, :1]))  # rank one: the floor
    0.5
    """
    if isinstance(data, Measurements):
        tensor = tl.reshape(data.operator.T @ data.values, (data.shape[2], *data.shape[:2]))
    else:
        tensor = data.tensor
    with _backend.backend_context("numpy"):
        values = tp.tubal_singular_values(np.moveaxis(_backend.to_numpy(tensor), 0, 2))
    values = np.sort(values.ravel())[::-1]
    if values.size == 0 or values[0] <= 0:
        return 1.0
    second = values[1] if values.size > 1 else 0.0
    return float(max(second, DAMPING_FLOOR * values[0]))


def slice_preconditioner(data, unit=None):
    """``precondition(coords, grads, damping)`` for :class:`~sktensorflow.models._problem.Problem`.

    Parameters
    ----------
    data : DenseData, MaskedData or Measurements
        The fitted data (its observed share sets ``p``).
    unit : float, default=None
        Unit of the damping, ``λ = damping * unit``; ``None`` is
        :func:`damping_unit` of ``data``.

    Returns
    -------
    precondition : callable
        Maps Fourier coordinates and their gradient (tuples of real arrays of
        shape ``(k // 2 + 1, n, width, 2)``) to the preconditioned gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow.models.tubal import dense_data, coordinate_loss_and_grad
    >>> from sktensorflow.models.tubal import to_coordinates
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(4, 2, 3)), rng.normal(size=(5, 2, 3))
    >>> data = dense_data(np.zeros((4, 5, 3)))
    >>> coords = to_coordinates((A, B))
    >>> grads = coordinate_loss_and_grad(coords, data)[1]
    >>> step = slice_preconditioner(data, 1.0)(coords, grads, 1e-12)
    >>> [s.shape for s in step]
    [(2, 4, 2, 2), (2, 5, 2, 2)]
    """
    p = observed_share(data)
    unit = damping_unit(data) if unit is None else float(unit)
    k = data.shape[2]
    inverse_square = _backend.to_backend(np.asarray(_inverse_square_weights(k))[:, None, None])

    def gram(coords):
        P = _backend.as_complex(coords)
        return P.mT.conj() @ P * inverse_square

    def precondition(coords, grads, damping):
        shift = damping * unit
        if len(coords) == 1:
            (G,) = (_backend.as_complex(g) for g in grads)
            return (_backend.as_real(_times_inverse(G, 2 * p * gram(coords[0]), shift)),)
        Ga, Gb = (_backend.as_complex(g) for g in grads)
        return (
            _backend.as_real(_times_inverse(Ga, p * gram(coords[1]), shift)),
            _backend.as_real(_times_inverse(Gb, p * gram(coords[0]), shift)),
        )

    return precondition
