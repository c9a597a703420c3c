"""Rank estimates and recovery metrics, defined once for the whole library.

All functions take and return numpy arrays (fitted estimators post-process on
the host).

Rank definitions
----------------
CP (:func:`group_components`, :func:`cp_rank`)
    Over-parametrized gradient descent spreads one true component over several
    model columns. Columns whose directions agree (``|cos| >= 0.99``) are grouped,
    their weights summed (for even order ``w`` and ``-w`` are the same
    component; for odd order ``-w`` flips the weight's sign), and groups whose
    ``|weight| >= rank_tol * max |weight|`` are counted.
Tubal (:func:`tubal_rank`)
    Maximum over the Fourier-domain frontal slices of the number of singular
    values ``>= rank_tol * sigma_max`` (``sigma_max`` over all slices),
    computed by :mod:`sktensorflow.tproduct`.
Tucker (:func:`multilinear_rank`)
    Per mode, the number of singular values of the unfolding ``>= rank_tol *
    sigma_max``; :func:`effective_rank` is the scale-free Roy-Vetterli measure.

Every count above is :func:`count_above`.
"""

from typing import NamedTuple

import numpy as np
import tensorly as tl
from scipy.optimize import linear_sum_assignment

from . import _backend, tproduct
from .models._problem import TINY

__all__ = [
    "RecoveryResult",
    "count_above",
    "cp_rank",
    "effective_rank",
    "group_components",
    "multilinear_rank",
    "recovery_score",
    "relative_error",
    "singular_value_rank",
    "tubal_rank",
    "tubal_singular_values",
]


def relative_error(estimate, truth):
    """Frobenius relative error ``||estimate - truth|| / ||truth||``.

    Examples
    --------
    >>> import numpy as np
    >>> relative_error(np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    1.0
    """
    estimate, truth = np.asarray(estimate), np.asarray(truth)
    return float(np.linalg.norm(estimate - truth) / np.linalg.norm(truth))


def _canonical_sign(directions, weights, order):
    """Flip each direction so its largest-magnitude entry is positive."""
    pivots = directions[np.argmax(np.abs(directions), axis=0), np.arange(directions.shape[1])]
    flip = np.where(pivots < 0, -1.0, 1.0)
    return directions * flip, weights * flip**order


def group_components(directions, weights, order, cos_tol=0.99):
    """Merge model columns that represent the same symmetric rank-one term.

    Parameters
    ----------
    directions : ndarray of shape (n_features, n_columns)
        Column directions (normalized inside).
    weights : ndarray of shape (n_columns,)
        Signed weight of each column's term ``weight * u^{⊗order}``.
    order : int
        Tensor order (decides whether ``-u`` flips the weight's sign).
    cos_tol : float, default=0.99
        Columns with ``|cos| >= cos_tol`` to a group's direction join it.

    Returns
    -------
    components : ndarray of shape (n_groups, n_features)
        Unit directions, by decreasing ``|weight|``.
    weights : ndarray of shape (n_groups,)
        Summed weights of the groups.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[1.0, 0.999, 0.0], [0.0, 0.04, 1.0]])
    >>> comps, w = group_components(W, np.array([2.0, 1.0, 0.5]), order=4)
    >>> w
    array([3. , 0.5])
    """
    norms = np.linalg.norm(directions, axis=0)
    unit = directions / np.where(norms > 0, norms, 1.0)
    unit, weights = _canonical_sign(unit, np.asarray(weights, dtype=float), order)
    dirs = np.empty((unit.shape[1], unit.shape[0]))  # group directions, one per row
    group_weights, n_groups = [], 0
    for j in np.argsort(-np.abs(weights), kind="stable"):
        if norms[j] == 0:
            continue
        cos = dirs[:n_groups] @ unit[:, j]
        hit = np.flatnonzero(np.abs(cos) >= cos_tol)
        if hit.size:
            g = hit[0]
            group_weights[g] += weights[j] * np.sign(cos[g]) ** order
        else:
            dirs[n_groups] = unit[:, j]
            group_weights.append(weights[j])
            n_groups += 1
    if not n_groups:
        return np.zeros((0, directions.shape[0])), np.zeros(0)
    group_weights = np.asarray(group_weights)
    order_idx = np.argsort(-np.abs(group_weights), kind="stable")
    return dirs[:n_groups][order_idx], group_weights[order_idx]


def count_above(values, rank_tol, axis=None):
    """Number of ``|values| >= rank_tol * max |values|`` (0 when empty or all zero).

    The one rank count of the library: :func:`cp_rank`, :func:`singular_value_rank`,
    :func:`multilinear_rank` and the tubal rank (:func:`tubal_rank`) all use it.

    Parameters
    ----------
    values : array-like
        Weights or singular values (their magnitudes are compared).
    rank_tol : float
        Relative threshold.
    axis : int, default=None
        Count along this axis and return the largest count; the threshold is
        still relative to the maximum over all values (the tubal rank of
        per-Fourier-slice singular values of shape ``(n_slices, n)`` is
        ``count_above(s, rank_tol, axis=1)``).

    Returns
    -------
    count : int

    Examples
    --------
    >>> count_above([3.0, -1.0, 1e-9], rank_tol=1e-3)
    2
    >>> count_above([[4.0, 2.0], [1.0, 0.0]], rank_tol=0.2, axis=1)
    2
    >>> count_above([], 0.5), count_above([0.0, 0.0], 0.5)
    (0, 0)
    """
    v = np.abs(np.asarray(values, dtype=float))
    if v.size == 0 or v.max() == 0:
        return 0
    return int(np.max(np.sum(v >= rank_tol * v.max(), axis=axis)))


def cp_rank(weights, rank_tol):
    """Number of weights with ``|w| >= rank_tol * max |w|`` (0 for no weights).

    Examples
    --------
    >>> cp_rank([3.0, -1.0, 1e-9], rank_tol=1e-3)
    2
    """
    return count_above(weights, rank_tol)


class RecoveryResult(NamedTuple):
    """Outcome of :func:`recovery_score`."""

    score: float
    cosines: np.ndarray
    matching: np.ndarray


def recovery_score(estimated, truth, sign_invariant=True):
    """Permutation- (and sign-) invariant recovery of true components.

    Each true component is matched to a distinct estimated one by the Hungarian
    algorithm on ``|cos|``; missing estimates count as cosine 0, and so do
    estimates that are zero vectors. The numbers of estimated and true
    components may differ (an over-parametrized fit usually has more).

    Parameters
    ----------
    estimated : ndarray of shape (n_estimated, n_features)
    truth : ndarray of shape (n_true, n_features)
    sign_invariant : bool, default=True
        Compare ``|cos|``; otherwise signed cosines.

    Returns
    -------
    result : RecoveryResult
        ``score`` is the mean matched cosine, ``cosines[k]`` the cosine of true
        component ``k`` with its match, ``matching[k]`` that match's index (-1 if
        none).

    Examples
    --------
    >>> import numpy as np
    >>> recovery_score(np.array([[0.0, -1.0], [1.0, 0.0]]), np.eye(2)).score
    1.0
    """
    # The matching is what tensorly.metrics.congruence_coefficient computes
    # (Hungarian assignment on the cosines, with or without absolute values), but
    # that function needs as many estimated as true components and rejects zero
    # vectors, and returns only the mean; here the counts differ (over-parametrized
    # fits) and each component's cosine and match are reported. For equal counts
    # of nonzero components the score is its congruence (tests/test_metrics.py).
    est = np.atleast_2d(np.asarray(estimated, dtype=float))
    tru = np.atleast_2d(np.asarray(truth, dtype=float))
    matching = np.full(tru.shape[0], -1)
    cosines = np.zeros(tru.shape[0])
    if est.size:
        est = est / np.maximum(np.linalg.norm(est, axis=1, keepdims=True), TINY)
        tru_u = tru / np.linalg.norm(tru, axis=1, keepdims=True)
        cos = tru_u @ est.T
        gain = np.abs(cos) if sign_invariant else cos
        rows, cols = linear_sum_assignment(-gain)
        matching[rows] = cols
        cosines[rows] = gain[rows, cols]
    return RecoveryResult(float(cosines.mean()), cosines, matching)


def singular_value_rank(singular_values, rank_tol):
    """Count singular values ``>= rank_tol * max`` (0 for an all-zero input).

    Examples
    --------
    >>> singular_value_rank([2.0, 1.0, 0.01], rank_tol=0.1)
    2
    """
    return count_above(singular_values, rank_tol)


def effective_rank(matrix_or_singular_values):
    """Roy-Vetterli effective rank ``exp(H(p))``, ``p = s / sum(s)``.

    Parameters
    ----------
    matrix_or_singular_values : ndarray
        A 2-D matrix, or a 1-D array of singular values.

    Returns
    -------
    rank : float
        Between 1 and ``min(shape)`` (0 for a zero matrix).

    Examples
    --------
    >>> import numpy as np
    >>> round(effective_rank(np.eye(3)), 6)
    3.0
    """
    a = np.asarray(matrix_or_singular_values, dtype=float)
    s = np.linalg.svd(a, compute_uv=False) if a.ndim == 2 else np.abs(a)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def tubal_singular_values(X):
    """Singular values of each independent Fourier-domain frontal slice.

    :func:`sktensorflow.tproduct.tubal_singular_values` of a numpy copy of ``X``,
    computed on the host.

    Parameters
    ----------
    X : ndarray of shape (n1, n2, k)
        Real third-order tensor, tubes along the last axis.

    Returns
    -------
    s : ndarray of shape (k // 2 + 1, min(n1, n2))
        ``s[f]`` are the singular values of slice ``f`` of ``rfft(X, axis=2)``.
    """
    with _backend.backend_context("numpy"):
        return tproduct.tubal_singular_values(np.asarray(_backend.to_numpy(X), dtype=float))


def tubal_rank(X, rank_tol=1e-6):
    """Tubal rank: max over Fourier slices of the singular values above threshold.

    The threshold is ``rank_tol * sigma_max`` with ``sigma_max`` the largest
    singular value over all slices (:func:`tubal_singular_values`, computed on
    the host).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(6, 2, 4)), rng.normal(size=(2, 5, 4))
    >>> from numpy.fft import rfft, irfft
    >>> X = irfft(np.einsum("irf,rjf->ijf", rfft(A, axis=2), rfft(B, axis=2)), n=4, axis=2)
    >>> tubal_rank(X)
    2
    """
    return count_above(tubal_singular_values(X), rank_tol, axis=1)


def multilinear_rank(X, rank_tol=1e-6):
    """Multilinear rank: per mode, the rank of the unfolding at ``rank_tol``.

    Returns
    -------
    ranks : tuple of int
    effective : tuple of float
        Roy-Vetterli effective rank of each unfolding.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.einsum("i,j,k->ijk", np.ones(3), np.arange(4.0), np.ones(2))
    >>> multilinear_rank(X)[0]
    (1, 1, 1)
    """
    X = np.asarray(X, dtype=float)
    with _backend.backend_context("numpy"):
        svals = [np.linalg.svd(tl.unfold(X, m), compute_uv=False) for m in range(X.ndim)]
    ranks = tuple(singular_value_rank(s, rank_tol) for s in svals)
    return ranks, tuple(effective_rank(s) for s in svals)
