"""Fourier transforms along tubes: the independent slices of a real third-order tensor.

The t-product algebra (:mod:`sktensorflow.tproduct`) works on the ``k // 2 + 1``
independent slices of the FFT along the tubes of a real tensor. Short tubes are
transformed by one real DFT-matrix product (exactly real DC and Nyquist
slices), longer ones by the backend's FFT (:mod:`sktensorflow._backend`). The
public functions are re-exported by :mod:`sktensorflow.tproduct`.
"""

import functools

import numpy as np
import tensorly as tl

from . import _backend

__all__ = [
    "DFT_MATRIX_MAX_LENGTH",
    "from_fourier",
    "irfft_tubes",
    "rfft_tubes",
    "slice_conj_transpose",
    "to_fourier",
]


#: Tube lengths up to this use a real DFT matrix product instead of an FFT
#: call: for short tubes one matrix product over all positions beats the FFT's
#: per-call and strided-access cost. The functions below run once per gradient
#: evaluation of the tubal models and use array methods (``@``, ``.reshape``)
#: rather than tensorly's dispatching functions.
DFT_MATRIX_MAX_LENGTH = 16


@functools.cache
def _dft_matrices(backend, k, slice_scale=None, context=()):
    """Real matrices of the real DFT of length ``k`` on ``backend``, with ``context``.

    ``context`` holds the dtype and device (:func:`~sktensorflow._backend.real_context`).

    ``forward`` (``2h x k``, ``h = k // 2 + 1``) stacks the real and imaginary
    parts of the spectrum: ``rfft(x) = (forward @ x)[:h] + 1j (forward @ x)[h:]``.
    ``inverse`` (``k x 2h``) maps the stacked parts back: ``irfft(z) = inverse @
    [real(z); imag(z)]``, weighing the DC (and Nyquist) term once and the others
    twice, as the conjugate-symmetric half spectrum stands for the full one;
    ``slice_scale`` (``h`` floats) is folded into its columns.
    """
    h = k // 2 + 1
    spectrum = np.fft.rfft(np.eye(k), axis=0)  # column t: the spectrum of the unit tube e_t
    weights = np.full(h, 2.0)
    spectrum[0].imag, weights[0] = 0.0, 1.0  # the DC (and Nyquist) rows are exactly real
    if k % 2 == 0:
        spectrum[-1].imag, weights[-1] = 0.0, 1.0
    if slice_scale is not None:
        weights = weights * np.asarray(slice_scale)
    forward = np.concatenate([spectrum.real, spectrum.imag])
    inverse = forward.T * (np.tile(weights, 2) / k)
    with _backend.backend_context(backend):
        return tl.tensor(forward, **dict(context)), tl.tensor(inverse, **dict(context))


def rfft_tubes(X):
    """Real FFT along axis 0 of an array whose tubes lie on axis 0.

    Parameters
    ----------
    X : real array of shape (k, ...)

    Returns
    -------
    Xf : complex array of shape (k // 2 + 1, ...)
        ``Xf[f] = sum_t X[t] exp(-2i pi f t / k)``.
    """
    k, rest = X.shape[0], tuple(X.shape[1:])
    if k > DFT_MATRIX_MAX_LENGTH:
        return _backend.rfft(X, axis=0)
    forward, _ = _dft_matrices(tl.get_backend(), k, None, _backend.real_context(X))
    parts = forward @ X.reshape((k, -1))
    h = k // 2 + 1
    return _backend.complex_from_parts(parts[:h], parts[h:]).reshape((h, *rest))


def irfft_tubes(Xf, k, slice_scale=None):
    """Inverse of :func:`rfft_tubes`: a real array of shape ``(k, ...)``.

    The imaginary parts of the DC (and, for even ``k``, Nyquist) slices are ignored.

    Parameters
    ----------
    Xf : complex array of shape (k // 2 + 1, ...)
    k : int
    slice_scale : tuple of k // 2 + 1 floats, default=None
        Factors applied to the slices of ``Xf`` before the transform (folded into
        the DFT matrix, so free for short tubes).
    """
    h, rest = Xf.shape[0], tuple(Xf.shape[1:])
    if k > DFT_MATRIX_MAX_LENGTH:
        if slice_scale is not None:
            scale = np.reshape(slice_scale, (h,) + (1,) * len(rest))
            Xf = Xf * tl.tensor(scale, **dict(_backend.real_context(Xf)))
        return _backend.irfft(Xf, n=k, axis=0)
    _, inverse = _dft_matrices(tl.get_backend(), k, slice_scale, _backend.real_context(Xf))
    flat = Xf.reshape((h, -1))
    return (inverse @ tl.concatenate((flat.real, flat.imag), axis=0)).reshape((k, *rest))


def to_fourier(X):
    """Independent Fourier slices of a real tensor, slice axis first.

    Parameters
    ----------
    X : array of shape (n1, n2, k)

    Returns
    -------
    Xf : complex array of shape (k // 2 + 1, n1, n2)
        ``Xf[f] = sum_t X[:, :, t] exp(-2i pi f t / k)``.
    """
    return rfft_tubes(tl.moveaxis(X, 2, 0))  # contiguous slices for matmul


def from_fourier(Xf, k):
    """Real tensor of tube length ``k`` from its independent Fourier slices.

    Inverse of :func:`to_fourier`; the imaginary parts of the DC (and Nyquist)
    slices are ignored.

    Parameters
    ----------
    Xf : complex array of shape (k // 2 + 1, n1, n2)
    k : int

    Returns
    -------
    X : real array of shape (n1, n2, k)
    """
    return tl.moveaxis(irfft_tubes(Xf, k), 0, 2)


def slice_conj_transpose(Mf):
    """Conjugate transpose of every slice of a (F, n, m) batch."""
    return tl.conj(tl.transpose(Mf, (0, 2, 1)))
