"""Tubal tensor sensing: the measurement loss, optionally normalized by ``1/sqrt(m)``.

The loss of the t-product model ``X = A * B^T`` (or ``U * U^T``) on linear
measurements ``y_j ≈ <G_j, X>``, ``j = 1..m``, is

    L = ½ c² sum_j (<G_j, X> - y_j)²,

with ``c = 1`` (the plain sum of squares, no ``1/m``, as in the code released
with Karnik, Veselovska, Iwen and Krahmer, ICML 2025) or ``c = 1/sqrt(m)`` (the
measurement operator ``A(X)_j = <G_j, X> / sqrt(m)`` of restricted-isometry
analyses, under which ``A*A`` is close to the identity on low-rank tensors).
Scaling the operator and the values by ``c`` is the whole difference, so the
gradients are those of :mod:`sktensorflow.models.tubal`:
``dL/dA = E * B``, ``dL/dB = E^T * A``, ``dL/dU = (E + E^T) * U`` with
``E = c² reshape(G^T r)``.
"""

import math

import tensorly as tl

from . import tubal as mt

__all__ = ["measurement_scale", "sensing_data", "sensing_problem"]


def measurement_scale(n_measurements, normalize):
    """The factor ``c`` applied to the operator and the values: ``1/sqrt(m)`` or 1.

    Examples
    --------
    >>> measurement_scale(4, True), measurement_scale(4, False)
    (0.5, 1.0)
    """
    return 1.0 / math.sqrt(n_measurements) if normalize else 1.0


def sensing_data(operator, values, shape, *, normalize=False):
    """The measurements as model data, scaled by :func:`measurement_scale`.

    Parameters
    ----------
    operator : array of shape (m, n1 * n2 * k)
        Rows ``vec(G_j)`` (C order of ``shape``), on the active backend.
    values : array of shape (m,)
    shape : tuple (n1, n2, k)
    normalize : bool, default=False
        Scale by ``1/sqrt(m)`` (loss ``(1/2m) sum_j r_j²``) instead of 1.

    Returns
    -------
    data : sktensorflow.models.tubal.Measurements

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow.models import tubal as mt
    >>> G, y = np.ones((4, 8)), np.ones(4)
    >>> U = np.zeros((2, 1, 2))
    >>> mt.loss_and_grad((U,), sensing_data(G, y, (2, 2, 2), normalize=True))[0]
    0.5
    """
    c = measurement_scale(tl.shape(values)[0], normalize)
    return mt.measurements(operator * c, values * c, shape)


def sensing_problem(params, operator, values, shape, *, normalize=False, rate_scale=1.0):
    """The sensing loss as a loop problem on the factors' Fourier coordinates.

    See :func:`sktensorflow.models.tubal.coordinate_problem`: callbacks and
    records see the real factors ``(A, B)`` or ``(U,)``.
    """
    data = sensing_data(operator, values, shape, normalize=normalize)
    return mt.coordinate_problem(params, data, rate_scale=rate_scale)
