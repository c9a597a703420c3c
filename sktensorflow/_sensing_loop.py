"""Helpers of tubal sensing fits: the operator's scales, the divergence stop, held-out rows.

Shared by :class:`sktensorflow.TubalSensing` and
:func:`sktensorflow.sensing.fit_sensing`.
"""

import math
from dataclasses import replace

import numpy as np

from . import _backend
from . import tproduct as tp
from ._early_stopping import validation_split
from .models import tubal_sensing as ms

__all__ = [
    "chain_callbacks",
    "divergence_stop",
    "heldout_rows",
    "operator_scales",
    "with_heldout",
]


def operator_scales(operator, values, shape):
    """Curvature and size of a sensing problem, for the step and the initialization.

    Parameters
    ----------
    operator : ndarray of shape (m, n1 * n2 * k)
    values : ndarray of shape (m,)
    shape : tuple (n1, n2, k)

    Returns
    -------
    norm_sq : float
        ``||G||_2²``, the largest eigenvalue of ``G^T G`` (an upper bound of the
        restricted isometry constant on low-rank tensors).
    mean_sq : float
        ``||G||_F² / (n1 n2 k)``, the mean of ``diag(G^T G)`` (``m`` for Gaussian
        ``G``).
    sigma : float
        An estimate of the truth's largest Fourier-slice singular value that
        errs on the large side: the larger of those of the spectral estimate
        ``reshape(G^T y) / mean_sq`` (which over-estimates by the operator's
        noise) and of the minimum-norm least-squares solution (exact for an
        injective ``G``, whatever its conditioning). 0 for ``y = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> norm_sq, mean_sq, sigma = operator_scales(np.eye(8), np.ones(8), (2, 2, 2))
    >>> norm_sq, mean_sq, round(sigma, 12)
    (1.0, 1.0, 4.0)
    """
    m, n = operator.shape
    gram = operator @ operator.T if m <= n else operator.T @ operator
    norm_sq = float(np.linalg.eigvalsh(gram)[-1]) if gram.size else 0.0
    mean_sq = float(np.sum(operator**2)) / max(n, 1)
    spectral = np.reshape(operator.T @ values, shape) / max(mean_sq, np.finfo(float).tiny)
    least_squares = np.reshape(np.linalg.lstsq(operator, values, rcond=None)[0], shape)
    with _backend.backend_context("numpy"):
        s = [tp.tubal_singular_values(T) for T in (spectral, least_squares)]
    return norm_sq, mean_sq, max(float(v.max()) if v.size else 0.0 for v in s)


def divergence_stop(threshold, measure):
    """A loop callback that stops once ``measure(state)`` exceeds ``threshold``.

    The code released with Karnik et al. (ICML 2025) stops a run when the
    relative test error exceeds 20. The returned callback records the first
    iteration at which the measure exceeded ``threshold`` in its ``diverged_at``
    attribute (``None`` while it has not).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> stop = divergence_stop(20.0, lambda state: state.loss)
    >>> stop(SimpleNamespace(loss=3.0, n_iter=1)), stop(SimpleNamespace(loss=25.0, n_iter=2))
    (False, True)
    >>> stop.diverged_at
    2
    """

    def callback(state):
        value = measure(state)
        if math.isfinite(value) and value <= threshold:
            return False
        callback.diverged_at = state.n_iter
        return True

    callback.diverged_at = None
    return callback


def chain_callbacks(*callbacks):
    """A callback that asks each of ``callbacks`` (``None`` skipped); stops if any asks."""
    active = [c for c in callbacks if c is not None]

    def callback(state):
        return any([bool(c(state)) for c in active])

    return callback


def heldout_rows(n_measurements, fraction, rng):
    """Mask of the measurements withheld for early stopping (at least one, not all)."""
    return validation_split(np.ones(n_measurements, dtype=bool), fraction, rng)


def with_heldout(problem, params, X_held, y_held, shape):
    """``problem`` with the residual on the withheld measurements as its held-out loss.

    The held-out loss is ``½ sum_j r_j²`` (no normalization), computed by the
    same coordinate model as the fit's loss, so it reads the same coordinates.
    """
    held = ms.sensing_problem(
        params, _backend.to_backend(X_held), _backend.to_backend(y_held), shape
    )
    return replace(problem, heldout_loss=lambda coords: held.fun(coords)[0])
