"""The saddle check of the symmetric CP estimators (OverparamCP, DeflationFlowCP).

Binds the model's residual search (:mod:`sktensorflow.models.symmetric_cp_residual`)
to the estimators' rank rule: a residual term is worth an escape when ``rank_``
would count it as a new component.
"""

import numpy as np

from .metrics import group_components
from .models.symmetric_cp_residual import saddle_escape

__all__ = ["component_counter", "symmetric_escape"]


def symmetric_escape(est, target, coefs, rng, t_norm, init_norm):
    """The saddle check of a symmetric CP estimator ``est`` (see ``saddle_escape``).

    A residual term counts when ``rank_`` would count it (``est.rank_tol``; its
    weight above the target's sampling noise ``est.noise_level_`` when the fit
    estimated one) and a column re-seeded along it would grow faster than the
    ``tol`` rate (``est.tol * ||T*||_F``); the re-seeded column has norm ``init_norm``.
    """
    floor = max(est.tol * t_norm, getattr(est, "noise_level_", 0.0))
    counts = component_counter(est.order, est.rank_tol, coefs, floor)
    return saddle_escape(
        target,
        est._to_backend(coefs),
        rng,
        init_norm=init_norm,
        counts=counts,
        rank_tol=est.rank_tol,
    )


def component_counter(order, rank_tol, signs, floor):
    """``counts(W, u, value)``: would ``value * u^{⊗order}`` added to the model be a new component?

    The rule of ``rank_`` (:func:`sktensorflow.metrics.group_components` and
    :func:`~sktensorflow.metrics.cp_rank`): the term joins the group of columns
    pointing along ``u`` (a new group if none does); it is a new component when
    that group's weight counts (``|weight| >= rank_tol * max``) with the term and
    did not without it. Terms with ``|value| <= floor`` never count (a column
    re-seeded along them would grow slower than the ``tol`` rate).

    Parameters
    ----------
    order : int
    rank_tol : float
    signs : ndarray of shape (width,)
        Coefficients ``s_i`` of the model's terms (host).
    floor : float

    Returns
    -------
    counts : callable
        ``counts(W, u, value) -> bool`` on host arrays ``W`` (d, width) and ``u`` (d,).

    Examples
    --------
    >>> import numpy as np
    >>> counts = component_counter(3, 1e-2, np.ones(2), floor=1e-6)
    >>> W = np.array([[1.0, 1e-3], [0.0, 1e-3], [0.0, 0.0]])
    >>> counts(W, np.array([0.0, 0.0, 1.0]), 0.8), counts(W, np.array([1.0, 0.0, 0.0]), 0.8)
    (True, False)
    """

    def counts(W, u, value):
        if not abs(value) > floor:
            return False
        weights = np.append(signs * np.sum(W * W, axis=0), value)
        comps, group_w = group_components(np.column_stack([W, u]), weights, order)
        g = int(np.argmax(np.abs(comps @ u)))
        without = group_w.copy()
        without[g] -= value * np.sign(comps[g] @ u) ** order
        return _counted(group_w, g, rank_tol) and not _counted(without, g, rank_tol)

    return counts


def _counted(weights, g, rank_tol):
    w = np.abs(weights)
    return bool(w[g] > 0 and w[g] >= rank_tol * w.max())
