"""Validation of a precomputed symmetric CP target given in CP form.

With ``tensor="precomputed"`` the symmetric CP estimators take the target as a
tensorly ``CPTensor`` or as the plain ``(weights, factors)`` pair tensorly's
functions accept. :func:`check_symmetric_cp` checks it up front and names what is
wrong (which factor, its shape and the expected one; NaN or infinity; complex
values) instead of letting a raw numpy error, a misleading symmetry error or a
silently dropped imaginary part surface later.

Arrays of any backend tensorly supports are accepted (a ``CPTensor`` of torch
tensors, e.g. the ``to_tensorly()`` of a fit on torch, chooses the pytorch
backend). Other tensorly factorized tensors (``TuckerTensor``, ``TTTensor``,
...) are refused with a message: the symmetric CP model has no cost formula for
them that avoids the dense ``d**order`` tensor, so the caller converts
explicitly (``tl.tucker_to_tensor`` for a small dense target).
"""

import numpy as np
import tensorly as tl

from . import _backend

__all__ = ["check_symmetric_cp", "cp_pair"]


def cp_pair(X):
    """``(weights, factors)`` if ``X`` is a target in CP form, else ``None``.

    CP form is a tensorly ``CPTensor`` or a plain tuple or list ``(weights,
    factors)`` with ``factors`` a tuple or list, as tensorly's functions accept.
    A dense array given as nested lists is never read as a pair: a pair is
    ragged (its weights are 1-D, its factors 2-D), so it is not an array.
    """
    if isinstance(X, tl.cp_tensor.CPTensor):
        return X.weights, X.factors
    _refuse_other_factorized(X)
    if not (isinstance(X, tuple | list) and len(X) == 2):
        return None
    weights, factors = X
    if not (isinstance(factors, tuple | list) and factors):
        return None
    try:
        np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return weights, factors
    return None


#: tensorly's factorized tensors other than CPTensor, with their conversion to dense.
_OTHER_FACTORIZED = {
    tl.tucker_tensor.TuckerTensor: "tl.tucker_to_tensor",
    tl.tt_tensor.TTTensor: "tl.tt_to_tensor",
    tl.tr_tensor.TRTensor: "tl.tr_to_tensor",
    tl.tt_matrix.TTMatrix: "tl.tt_matrix_to_tensor",
    tl.parafac2_tensor.Parafac2Tensor: "tl.parafac2_to_tensor",
}


def _refuse_other_factorized(X):
    for kind, convert in _OTHER_FACTORIZED.items():
        if isinstance(X, kind):
            raise ValueError(
                f"tensor='precomputed' takes a symmetric dense array or a CPTensor, got a "
                f"{kind.__name__}: the model's cost has no formula for it that avoids the "
                f"dense tensor. Pass {convert}(X) (dense), or its CP decomposition."
            )


def check_symmetric_cp(weights, factors, order):
    """Validate a symmetric CP target and return it on the host.

    Parameters
    ----------
    weights : array-like of shape (rank,) or None
        ``None`` means all ones.
    factors : sequence of array-like of shape (n_features, rank)
        ``order`` equal factors.
    order : int
        The estimator's ``order``.

    Returns
    -------
    weights : ndarray of shape (rank,), float64
    factor : ndarray of shape (n_features, rank), float64

    Raises
    ------
    ValueError
        Naming the factor (or the weights) at fault and what is wrong with it.
    """
    if len(factors) != order:
        raise ValueError(
            f"A precomputed CPTensor must have order={order} factors (all equal), "
            f"got {len(factors)} factors."
        )
    arrays = [_real_finite(f, f"factors[{i}]") for i, f in enumerate(factors)]
    first = arrays[0]
    if first.ndim != 2 or first.shape[0] == 0:
        raise ValueError(
            f"factors[0] of the precomputed CPTensor has shape {first.shape}, expected "
            f"a 2-D array of shape (n_features, rank) with n_features >= 1."
        )
    for i, f in enumerate(arrays[1:], start=1):
        _check_equal_factor(f, first, i)
    rank = first.shape[1]
    if weights is None:
        return np.ones(rank), first
    w = _real_finite(weights, "weights")
    if w.shape != (rank,):
        raise ValueError(
            f"weights of the precomputed CPTensor have shape {w.shape}, expected "
            f"({rank},): one weight per column of the factors (shape {first.shape})."
        )
    return w, first


def _check_equal_factor(f, first, i):
    """Raise unless ``factors[i]`` has the shape of ``factors[0]`` and equals it."""
    if f.shape != first.shape:
        raise ValueError(
            f"factors[{i}] of the precomputed CPTensor has shape {f.shape}, expected "
            f"{first.shape} (the shape of factors[0]): a symmetric CPTensor has "
            f"equal factors of shape (n_features, rank)."
        )
    if not np.allclose(f, first):
        gap = float(np.max(np.abs(f - first)))
        raise ValueError(
            f"factors[{i}] of the precomputed CPTensor differs from factors[0] (largest "
            f"difference {gap:.3g}): a symmetric CPTensor has all its factors equal."
        )


def _real_finite(value, name):
    """``value`` as a finite real float64 host array, or a ValueError naming ``name``."""
    try:
        array = _host(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} of the precomputed CPTensor is not an array of numbers ({exc})."
        ) from None
    if np.iscomplexobj(array):
        raise ValueError(
            f"{name} of the precomputed CPTensor {_has(name)} complex values; the symmetric CP "
            f"model is real. Pass the real part (e.g. np.real) if the imaginary part "
            f"is meant to be zero."
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} of the precomputed CPTensor has dtype {array.dtype}, expected real numbers."
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        verb = "contain" if name == "weights" else "contains"
        raise ValueError(f"{name} of the precomputed CPTensor {verb} NaN or infinity.")
    return array


def _has(name):
    return "have" if name == "weights" else "has"


def _host(value):
    """A numpy view of an array of any supported backend (or array-like)."""
    return np.asarray(_backend.to_numpy(value))
