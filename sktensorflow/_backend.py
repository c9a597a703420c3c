"""Tensorly backend handling: the only module that names a backend.

Library code never calls ``tl.set_backend``. An estimator resolves one backend
name per call with :func:`resolve_backend` and runs its numerical work inside
:func:`backend_context`. Arrays cross the host/backend boundary through
:func:`to_backend` and :func:`to_numpy`; inside a :func:`precision_context`
:func:`to_backend` creates them with its dtype and on its device (float64 on
the backend's default device otherwise). FFTs, which tensorly does not
provide, are dispatched here to the backend's own module.
"""

import contextvars
from contextlib import contextmanager

import numpy as np
import tensorly as tl

__all__ = [
    "array_backend",
    "array_device",
    "as_complex",
    "as_real",
    "backend_context",
    "check_device",
    "complex_from_parts",
    "contiguous",
    "detached",
    "irfft",
    "on_host",
    "placement",
    "precision_context",
    "real",
    "real_context",
    "resolve_backend",
    "rfft",
    "SUPPORTED",
    "to_backend",
    "to_namespace",
    "to_numpy",
    "working_device",
    "working_dtype",
]

SUPPORTED = ("numpy", "pytorch", "jax", "tensorflow", "paddle", "cupy")


def array_backend(X):
    """Name of the tensorly backend an array belongs to, or ``None`` if unknown.

    Parameters
    ----------
    X : object
        An array of any library.

    Returns
    -------
    name : str or None
        ``"numpy"``, ``"pytorch"``, ``"jax"``, ... or ``None`` for objects that
        are not arrays of a known library (lists, pandas frames, ...).

    Examples
    --------
    >>> import numpy as np
    >>> array_backend(np.zeros(3))
    'numpy'
    >>> array_backend([1.0, 2.0]) is None
    True
    """
    module = type(X).__module__.split(".")[0]
    return {
        "numpy": "numpy",
        "torch": "pytorch",
        "jax": "jax",
        "jaxlib": "jax",
        "tensorflow": "tensorflow",
        "paddle": "paddle",
        "cupy": "cupy",
    }.get(module)


def resolve_backend(backend, X=None):
    """Choose the backend a computation runs on.

    Parameters
    ----------
    backend : str or None
        A tensorly backend name forces that backend. ``None`` uses the backend of
        ``X`` when ``X`` is an array of a known library other than numpy, else
        tensorly's active backend.
    X : object, default=None
        The user's input.

    Returns
    -------
    name : str

    Examples
    --------
    >>> import numpy as np
    >>> resolve_backend(None, np.ones(2))
    'numpy'
    >>> resolve_backend("numpy")
    'numpy'
    """
    if backend is not None:
        if backend not in SUPPORTED:
            raise ValueError(
                f"backend={backend!r} is not a tensorly backend; expected None or one of "
                f"{SUPPORTED}."
            )
        return backend
    detected = array_backend(X)
    if detected is not None and detected != "numpy":
        return detected
    return tl.get_backend()


@contextmanager
def backend_context(name):
    """Run a block on backend ``name`` without touching other threads' backend.

    Examples
    --------
    >>> with backend_context("numpy"):
    ...     x = to_backend([1.0, 2.0])
    >>> type(x).__name__
    'ndarray'
    """
    with tl.backend_context(name, local_threadsafe=True):
        yield


def on_host():
    """Whether the active backend computes on host numpy arrays."""
    return tl.get_backend() == "numpy"


def take_rows(A, index):
    """Rows ``index`` (host integers, repeats allowed) of the backend matrix ``A``.

    A gather on every backend with integer-array indexing (numpy, pytorch,
    jax, cupy); elsewhere the product with a one-hot ``(len(index), n)`` matrix.

    Examples
    --------
    >>> take_rows(np.arange(6.0).reshape(3, 2), np.array([2, 0, 2])).tolist()
    [[4.0, 5.0], [0.0, 1.0], [4.0, 5.0]]
    """
    name = tl.get_backend()
    if name == "pytorch":
        import torch

        return torch.index_select(A, 0, torch.as_tensor(index, device=A.device))
    if name in ("numpy", "jax", "cupy"):
        return A[index]
    return tl.dot(_one_hot(index, tl.shape(A)[0], A), A)


def add_rows(acc, index, rows):
    """``acc`` with row ``b`` of ``rows`` added to its row ``index[b]`` (repeats accumulate).

    May update ``acc`` in place (numpy, pytorch); use the returned array.

    Examples
    --------
    >>> add_rows(np.zeros((3, 1)), np.array([2, 0, 2]), np.ones((3, 1))).ravel().tolist()
    [1.0, 0.0, 2.0]
    """
    name = tl.get_backend()
    if name == "numpy":
        np.add.at(acc, index, rows)
        return acc
    if name == "pytorch":
        import torch

        return acc.index_add_(0, torch.as_tensor(index, device=acc.device), rows)
    if name == "jax":
        return acc.at[index].add(rows)
    return acc + tl.dot(tl.transpose(_one_hot(index, tl.shape(acc)[0], rows)), rows)


def _one_hot(index, n, like):
    """``(len(index), n)`` matrix with a one in column ``index[b]`` of row ``b``, like ``like``."""
    S = np.zeros((len(index), n))
    S[np.arange(len(index)), index] = 1.0
    return tl.tensor(S, **tl.context(like))


#: ``(dtype, device)`` new backend arrays are created with (see :func:`precision_context`).
_PRECISION = contextvars.ContextVar("sktensorflow_precision", default=(np.dtype(np.float64), None))


@contextmanager
def precision_context(dtype=np.float64, device=None):
    """Create backend arrays as ``dtype`` on ``device`` in this block (this thread only).

    ``device`` (a torch device or its name) only applies on the pytorch
    backend; ``None`` leaves arrays where the backend puts them (the host).

    Examples
    --------
    >>> with backend_context("numpy"), precision_context(np.float32):
    ...     x = to_backend([1.0, 2.0])
    >>> x.dtype
    dtype('float32')
    """
    token = _PRECISION.set((np.dtype(dtype), device))
    try:
        yield
    finally:
        _PRECISION.reset(token)


def working_dtype(complex_=False):
    """The real (or, with ``complex_``, complex) dtype of the active precision."""
    dtype = _PRECISION.get()[0]
    return np.result_type(dtype, np.complex64) if complex_ else dtype


def working_device():
    """The device of the active precision (``None``: the backend's default)."""
    return _PRECISION.get()[1]


def placement():
    """Keyword arguments of ``tl.tensor`` that put a new array on the working device."""
    device = working_device()
    return {} if device is None or tl.get_backend() != "pytorch" else {"device": device}


def real_context(x):
    """Dtype and device of the real part of backend array ``x``, as hashable pairs.

    ``dict(real_context(x))`` is the ``tl.tensor`` keyword arguments of an
    array that combines with ``x`` without changing its precision or device
    (no autograd).
    """
    context = tl.context(x.real)
    return tuple(sorted((k, v) for k, v in context.items() if k != "requires_grad"))


def to_backend(array, dtype=None):
    """Move a host array to the active backend, on the working device.

    ``dtype=None`` is the working dtype (float64 unless a
    :func:`precision_context` says otherwise; its complex counterpart for
    complex data).
    """
    host = np.asarray(array)
    if dtype is None:
        dtype = working_dtype(np.iscomplexobj(host))
    return tl.tensor(np.asarray(host, dtype=dtype), **placement())


def detached(X):
    """``X`` without autograd history: a torch tensor is detached, anything else returned as is.

    Input arrays are data, never differentiated through, so a tensor with
    ``requires_grad=True`` is accepted (and left unchanged: ``detach`` shares
    its storage without copying).
    """
    detach = getattr(X, "detach", None)
    if callable(detach) and type(X).__module__.split(".")[0] == "torch":
        return detach()
    return X


def to_numpy(array):
    """Return ``array`` as a numpy array (a no-op for numpy input).

    Works whatever tensorly backend is active: torch tensors are detached and
    copied to the host, other arrays go through ``np.asarray``.
    """
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "detach") and hasattr(array, "cpu"):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def to_namespace(array, backend, device=None):
    """Convert a numpy array to the array type of ``backend`` (fitted attributes).

    ``device`` (pytorch only; ``None``: the host) is where the array is put.
    """
    if backend == "numpy" or array is None:
        return array
    kwargs = {"device": device} if device is not None and backend == "pytorch" else {}
    with backend_context(backend):
        return tl.tensor(np.asarray(array), **kwargs)


def array_device(X):
    """The device of a torch tensor ``X``; ``None`` for arrays of other libraries."""
    return X.device if array_backend(X) == "pytorch" else None


def check_device(device, backend):
    """Validate the ``device`` parameter for ``backend``: a torch device, or ``None``.

    Raises
    ------
    ValueError
        ``device`` is not ``None``/``"cpu"`` on a backend other than pytorch, or
        is not a device torch can allocate on.
    """
    if device is None:
        return None
    if backend != "pytorch":
        if str(device) == "cpu":
            return None
        raise ValueError(
            f"device={device!r} needs the pytorch backend (backend='pytorch' or torch "
            f"input); the {backend!r} backend computes on the host: use device=None or 'cpu'."
        )
    import torch

    try:
        resolved = torch.device(device)
        torch.empty(0, device=resolved)
    except (RuntimeError, TypeError, AssertionError) as error:
        raise ValueError(f"device={device!r} is not a usable torch device: {error}") from error
    return resolved


def _fft_module():
    name = tl.get_backend()
    if name == "numpy":
        return np.fft
    if name == "pytorch":
        import torch

        return torch.fft
    if name in ("jax",):
        import jax.numpy as jnp

        return jnp.fft
    if name == "cupy":
        import cupy

        return cupy.fft
    raise NotImplementedError(f"FFT is not available for backend {name!r}.")


def rfft(x, axis=-1):
    """Real-input FFT along ``axis`` on the active backend (``k//2 + 1`` outputs)."""
    module = _fft_module()
    if tl.get_backend() == "pytorch":
        return module.rfft(x, dim=axis)
    return module.rfft(x, axis=axis)


def irfft(x, n, axis=-1):
    """Inverse of :func:`rfft` returning a real array of length ``n`` along ``axis``."""
    module = _fft_module()
    if tl.get_backend() == "pytorch":
        return module.irfft(x, n=n, dim=axis)
    return module.irfft(x, n=n, axis=axis)


def real(x):
    """Real part of a (possibly complex) backend array."""
    return x.real


def contiguous(x):
    """``x`` in C-contiguous memory (a copy only when it is not)."""
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x)
    if hasattr(x, "contiguous"):
        return x.contiguous()
    return x


def complex_from_parts(real_part, imag_part):
    """Complex array ``real_part + 1j * imag_part`` built in one pass."""
    if isinstance(real_part, np.ndarray):
        out = np.empty(real_part.shape, np.result_type(real_part.dtype, np.complex64))
        out.real, out.imag = real_part, imag_part
        return out
    if tl.get_backend() == "pytorch":
        import torch

        return torch.complex(real_part, imag_part)
    return real_part + 1j * imag_part


def as_complex(x):
    """Complex array of shape ``s`` from a real array of shape ``(*s, 2)`` (real, imaginary).

    A view without copying on numpy and pytorch when the last axis is contiguous.
    """
    if isinstance(x, np.ndarray):
        x = np.ascontiguousarray(x)
        return x.view(np.result_type(x.dtype, np.complex64))[..., 0]
    if tl.get_backend() == "pytorch":
        import torch

        return torch.view_as_complex(x.contiguous())
    return x[..., 0] + 1j * x[..., 1]


def as_real(z):
    """Real array of shape ``(*s, 2)`` (real, imaginary) from a complex array of shape ``s``.

    The inverse of :func:`as_complex`.
    """
    if isinstance(z, np.ndarray):
        z = np.ascontiguousarray(z)
        return z.view(z.real.dtype).reshape((*z.shape, 2))
    if tl.get_backend() == "pytorch":
        import torch

        return torch.view_as_real(z.resolve_conj())
    return tl.stack((z.real, z.imag), axis=-1)
