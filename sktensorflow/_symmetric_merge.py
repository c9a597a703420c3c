"""Fewest components the sampling noise cannot tell from the fitted ones.

On a target built from samples, gradient descent from a small initialization
may fit one true component with two columns a few degrees apart, or fit part
of the sampling noise with a column that mixes two true directions; both carry
a weight above the noise level, so they would count in ``rank_``. The fitted
model ``T̂ = sum_k a_k u_k^{⊗l}`` (the grouped components that passed every
other test) is therefore reduced: for ``r = K-1, K-2, ...`` the best model of
``r`` components is fitted to ``T̂`` itself (a small problem: the target is
given by its ``K`` factors, the start is the ``r`` largest components), and
it replaces ``T̂`` when the residual's largest rank-one contraction
``max_{|u|=1} |<T̂ - T̂_r, u^{⊗l}>|`` is at most ``noise_level_``: the two models
differ by less than the sampling noise can along any direction, which is the
norm ``noise_level_`` bounds. The reduction stops at the first ``r`` that
fails. A refit that does not fit well leaves a large residual and so merges
nothing: the test can only err towards keeping components.

For a noiseless (precomputed) target the level is 0 and nothing is merged.
"""

import numpy as np

from . import _backend
from ._optim import minimize
from .metrics import group_components
from .models import symmetric_cp as scp
from .models.symmetric_cp_residual import residual_direction

__all__ = ["merge_within_noise"]

#: Seed of the power method's random starts: the reduction is deterministic.
_MERGE_SEED = 20201207
#: Refit budget and tolerance (relative to the fitted model's Frobenius norm).
_MAX_ITER, _TOL = 3000, 1e-10


def merge_within_noise(components, weights, order, level):
    """Fewest components whose model is within ``level`` of the given one.

    Parameters
    ----------
    components : ndarray of shape (K, n_features)
        Unit directions, one per row (host array), sorted by decreasing ``|weight|``.
    weights : ndarray of shape (K,)
    order : int
    level : float
        Sampling-noise level, in the weights' units (``0`` merges nothing).

    Returns
    -------
    components : ndarray of shape (r, n_features)
    weights : ndarray of shape (r,)
        ``r <= K`` components, sorted by decreasing ``|weight|``; the input
        itself when no smaller model is within ``level``.

    Examples
    --------
    >>> import numpy as np
    >>> u = np.array([1.0, 0.0, 0.0])
    >>> v = np.array([np.cos(0.1), np.sin(0.1), 0.0])   # 6 degrees from u
    >>> comps, w = merge_within_noise(np.stack([u, v]), np.array([1.5, 0.5]), 3, 0.05)
    >>> comps.shape, bool(abs(w[0] - 2.0) < 0.01)
    ((1, 3), True)
    >>> merge_within_noise(np.stack([u, v]), np.array([1.5, 0.5]), 3, 0.0)[0].shape
    (2, 3)
    """
    best = (components, weights)
    if not level > 0 or weights.size < 2:
        return best
    with _backend.backend_context("numpy"):
        model = scp.cp_target(weights, components.T, order)
        rng = np.random.default_rng(_MERGE_SEED)
        for rank in range(weights.size - 1, 0, -1):
            W, signs = _refit(model, components, weights, rank)
            _, value = residual_direction(
                W, model, signs, rng, n_starts=4 * weights.size, n_iter=50
            )
            if not abs(value) <= level:
                break
            best = group_components(W, signs * np.sum(W * W, axis=0), order)
    return best


def _refit(model, components, weights, rank):
    """Columns and signs of ``rank`` components fitted to ``model`` from its largest ones."""
    order = model.order
    a = weights[:rank]
    columns = components[:rank].T * np.sqrt(np.abs(a))
    if order % 2:  # an odd power carries the sign: (-u)^{⊗l} = -u^{⊗l}
        columns, signs = columns * np.sign(a), np.ones(rank)
    else:
        signs = np.sign(a)
    problem = scp.problem(columns, model, signs)
    result = minimize(problem, solver="flow", learning_rate=1e-2, max_iter=_MAX_ITER, tol=_TOL)
    return result.params[0], signs
