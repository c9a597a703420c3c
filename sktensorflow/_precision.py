"""Working dtype and device of a fit: the ``dtype`` and ``device`` parameters.

Every estimator takes ``dtype`` (``"float64"``, the default, or ``"float32"``)
and ``device`` (``None`` or a torch device name). A fit resolves them once into
a :class:`Precision` and runs inside :func:`active`, under which
:func:`sktensorflow._backend.to_backend` creates every backend array (the
target, the parameters drawn on the host by the fit's one RNG, masks) as that
dtype on that device; the step rules then keep it, so the loss, the gradients
and the iterates stay in it. Host-side preparation (validation, scaling) and
bookkeeping (``loss_curve_``, flow times, histories) stay float64.

Fitted model attributes and the outputs of ``transform``, ``inverse_transform``,
``complete`` and ``predict`` come back as ``dtype`` (:func:`to_output`), in the
input's array library and on the input's device (the computation's device when
the input is not a torch tensor).

float32 has a much narrower range than float64: its smallest normal number is
``np.finfo(np.float32).tiny`` (about 1.2e-38, against 2.2e-308). Small
initializations are the point of these estimators, and a start whose entries,
or whose products of one entry per factor (what the model's output and its
gradient are made of), fall below that range underflows to zero (or to
subnormal numbers without relative precision): the iteration could not leave
the start. :func:`check_start` refuses such a start with a ``ValueError`` that
names ``init_scale``.
"""

import math
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from . import _backend
from ._sklearn_private import StrOptions

__all__ = [
    "DTYPES",
    "PARAMETER_CONSTRAINTS",
    "Precision",
    "active",
    "as_input",
    "cast",
    "check_start",
    "resolve",
    "to_output",
]

#: Values of the ``dtype`` parameter.
DTYPES = {"float64": np.dtype(np.float64), "float32": np.dtype(np.float32)}

#: ``_parameter_constraints`` entries of ``dtype`` and ``device``.
PARAMETER_CONSTRAINTS = {
    "dtype": [StrOptions(set(DTYPES))],
    "device": [str, None],
}


class Precision(NamedTuple):
    """The resolved ``dtype`` and ``device`` of one fit.

    Attributes
    ----------
    dtype : numpy.dtype
        Working dtype of the computation and of the fitted model attributes.
    device : torch.device or None
        Device the computation runs on (``None``: the backend's default, the host).
    out_device : torch.device or None
        Device of the fitted attributes: the input's, else ``device``.
    """

    dtype: np.dtype
    device: object = None
    out_device: object = None


#: The precision of estimators fitted before these parameters existed (and the default).
DEFAULT = Precision(DTYPES["float64"])


def resolve(est, backend, probe):
    """The :class:`Precision` of a fit of ``est`` on ``backend``; ``probe`` is its input.

    ``device=None`` computes on the input's device when the input is a torch
    tensor (else on the backend's default device).

    Raises
    ------
    ValueError
        A ``device`` the backend cannot use (see :func:`sktensorflow._backend.check_device`).
    """
    dtype = DTYPES[getattr(est, "dtype", "float64")]
    device = _backend.check_device(getattr(est, "device", None), backend)
    input_device = _backend.array_device(probe) if backend == "pytorch" else None
    if device is None:
        device = input_device
    return Precision(dtype, device, device if input_device is None else input_device)


@contextmanager
def active(precision):
    """Create backend arrays with ``precision``'s dtype and device in this block."""
    with _backend.precision_context(precision.dtype, precision.device):
        yield


def cast(value, dtype):
    """``value`` (a host array, or lists/tuples of them) with its floats as ``dtype``.

    Integer, boolean and non-array values are returned unchanged, and so is
    everything when ``dtype`` is float64 (the computation's own precision).
    """
    dtype = np.dtype(dtype)
    if isinstance(value, list | tuple):
        return type(value)(cast(v, dtype) for v in value)
    if dtype == np.float64 or not isinstance(value, np.ndarray):
        return value
    if np.issubdtype(value.dtype, np.complexfloating):
        return value.astype(np.result_type(dtype, np.complex64), copy=False)
    if np.issubdtype(value.dtype, np.floating):
        return value.astype(dtype, copy=False)
    return value


def to_output(value, backend, precision):
    """A fitted host attribute as ``precision.dtype``, in ``backend``'s library and device."""
    precision = precision or DEFAULT
    value = cast(value, precision.dtype)
    if isinstance(value, list | tuple):
        return type(value)(to_output(v, backend, precision) for v in value)
    if not isinstance(value, np.ndarray):
        return value
    return _backend.to_namespace(value, backend, precision.out_device)


def as_input(array, X, precision):
    """An output host ``array`` as ``precision.dtype``, in the library and on the device of ``X``.

    ``precision=None`` (an estimator fitted without one) keeps float64.
    """
    array = cast(array, (precision or DEFAULT).dtype)
    name = _backend.array_backend(X)
    if name in (None, "numpy"):
        return array
    return _backend.to_namespace(array, name, _backend.array_device(X))


def check_start(params, init_scale, dtype):
    """Refuse a start that underflows ``dtype`` (float32 only), naming ``init_scale``.

    The size of each parameter block is the root mean square of its entries.
    Every output entry of the models (and every gradient entry, times the
    residual) is a sum of products of one entry per block: ``W·W`` for the
    symmetric CP columns (the model is 2-homogeneous: ``||w||² (w/||w||)^{⊗order}``
    is computed from the unit directions, so ``order`` does not enter), ``A·B``
    (``U·U``) for the tubal factors, and core times ``depth`` matrices per mode
    for deep Tucker factors. So a start is refused when a block, or the
    product of the blocks' sizes (the square of the only block's), is below
    the smallest normal number of ``dtype``.

    Parameters
    ----------
    params : tuple of arrays
        The start, on the backend.
    init_scale : float or None
        The estimator's ``init_scale`` (its resolved value), named in the message.
    dtype : numpy.dtype
        The working dtype; nothing is checked for float64.
    """
    dtype = np.dtype(dtype)
    if dtype == np.float64 or not params:
        return
    sizes = [_rms(p) for p in params]
    product = math.prod(sizes) if len(sizes) > 1 else sizes[0] ** 2
    tiny = float(np.finfo(dtype).tiny)
    if min(*sizes, product) >= tiny:
        return
    raise ValueError(
        f"init_scale={init_scale!r} is too small for dtype={dtype.name!r}: the initial "
        f"parameters are of the order of {min(sizes):.3g} and the products the model is "
        f"made of (one entry per factor) of {product:.3g}, below the smallest normal "
        f"{dtype.name} number {tiny:.3g}, where they underflow and the fit cannot leave "
        f"its start. Use a larger init_scale or dtype='float64'."
    )


def _rms(array):
    """Root mean square of a backend array's entries, in float64 on the host."""
    host = np.asarray(_backend.to_numpy(array), dtype=np.float64)
    return float(np.sqrt(np.mean(host * host))) if host.size else 1.0
