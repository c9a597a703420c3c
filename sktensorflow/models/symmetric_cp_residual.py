"""The residual of a fitted symmetric CP model: its best rank-one direction, saddle escapes.

For the model ``T(W) = sum_i s_i ||w_i||² wbar_i^{⊗l}`` of
:mod:`sktensorflow.models.symmetric_cp` and a target ``T*``, the residual is
``R = T* - T(W)``. Its contractions with unit columns ``U``,
``R(u_j^{⊗(l-1)}, ·)`` and ``R(u_j^{⊗l})``, are the target's
(:func:`~sktensorflow.models.symmetric_cp.target_contractions`) minus the
model's (:func:`~sktensorflow.models.symmetric_cp.cp_contractions`), so nothing
of size ``d^l`` is formed for a target given as samples or CP factors.

:func:`residual_direction` runs the tensor power method
``u <- R(u^{⊗(l-1)}, ·) / ||·||`` on ``R`` from random starts and from the
model's own column directions; :func:`saddle_escape` turns it into the
``escape`` of a :class:`~sktensorflow.models._problem.Problem`: at a point
where the loop's ``tol`` test passes, a residual direction the estimator would
count as a component means a saddle, and one small column is re-seeded along
it (the re-initialization of Wang et al. 2020 and Ge et al. 2021, aimed).
"""

import numpy as np
import tensorly as tl

from .. import _backend
from .symmetric_cp import cp_contractions, split_columns, target_contractions

__all__ = [
    "free_columns",
    "reseed_column",
    "residual_contractions",
    "residual_direction",
    "saddle_escape",
]


def residual_contractions(target, W, signs, U, extra=None):
    """``(R(u_j^{⊗(l-1)}, ·), R(u_j^{⊗l}))`` of ``R = T* - T(W)`` for unit columns ``U``.

    Parameters
    ----------
    target : DenseTarget, CPTarget or SampleTarget
    W : array of shape (d, m)
        Model columns.
    signs : array of shape (m,)
        Coefficients ``s_i`` of the model's terms.
    U : array of shape (d, k)
        Unit columns to contract with.
    extra : tuple (coefs, V) or None, default=None
        Further CP terms ``sum_k coefs_k v_k^{⊗l}`` subtracted from ``R``.

    Returns
    -------
    V : array of shape (d, k)
    rho : array of shape (k,)
    """
    order = target.order
    norms, Wbar = split_columns(W)
    V_t, rho_t = target_contractions(target, U)
    V_m, rho_m = cp_contractions(signs * norms**2, Wbar, U, order)
    V, rho = V_t - V_m, rho_t - rho_m
    if extra is not None:
        V_x, rho_x = cp_contractions(extra[0], extra[1], U, order)
        V, rho = V - V_x, rho - rho_x
    return V, rho


def _power_iterations(target, W, signs, U, n_iter, sign, extra):
    """``n_iter`` power steps on ``sign * R`` (``sign`` 1.0 for plain ``R``) from ``U``."""
    for _ in range(n_iter):
        V, _ = residual_contractions(target, W, signs, U, extra)
        norms, U_new = split_columns(sign * V)
        if not bool(tl.any(norms > 0)):
            break
        U = U_new
    return U, residual_contractions(target, W, signs, U, extra)[1]


def _best(rho, sign, order):
    """Index and score of the best start: ``|rho|``, or ``sign * rho`` for an even order."""
    rho = _backend.to_numpy(rho)
    score = np.abs(rho) if (sign is None or order % 2) else sign * rho
    j = int(np.argmax(score))
    return j, float(score[j])


def _distinct(U, rho, cos_tol=0.99):
    """The distinct directions among the columns of ``U`` and their values (backend)."""
    U_host, keep = _backend.to_numpy(U), []
    for j in range(U_host.shape[1]):
        if all(abs(U_host[:, j] @ U_host[:, k]) < cos_tol for k in keep):
            keep.append(j)
    rho_host = _backend.to_numpy(rho)[keep]
    return _backend.to_backend(rho_host), _backend.to_backend(U_host[:, keep])


def residual_direction(W, target, signs, rng, *, n_starts=8, n_iter=20, sign=None):
    """Best rank-one direction ``u`` of the residual ``R = T* - T(W)`` by the power method.

    The power method ``u <- R(u^{⊗(l-1)}, ·) / ||·||`` is run for ``n_iter``
    steps from ``n_starts`` random unit vectors (drawn with ``rng``, host
    side) and from the directions of the model's columns (small columns drift
    towards the unexplained directions); the start with the largest ``|R(u^{⊗l})|``
    wins. For an even order and ``sign=±1`` the largest ``sign * R(u^{⊗l})`` is
    sought instead (a model whose terms all have that sign can fit nothing
    else): directions of the wrong sign that the power method converges to are
    subtracted from ``R`` and the power method is run once more.

    Parameters
    ----------
    W : array of shape (d, m)
        Model columns (backend array).
    target : DenseTarget, CPTarget or SampleTarget
    signs : array of shape (m,)
        Coefficients ``s_i`` of the model's terms (backend array).
    rng : numpy.random.RandomState or Generator
        The fit's host random generator.
    n_starts : int, default=8
        Random starts besides the columns' directions.
    n_iter : int, default=20
        Power steps from each start.
    sign : {None, 1.0, -1.0}, default=None
        Sign of ``R(u^{⊗l})`` sought for even orders (``None``: either).

    Returns
    -------
    u : array of shape (d,)
        Unit direction (backend array); for odd order ``R(u^{⊗l}) >= 0`` (for
        ``sign=-1``, ``<= 0``).
    value : float
        ``R(u^{⊗l})``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow.models.symmetric_cp import cp_target
    >>> T = cp_target(np.array([1.0, 0.5]), np.eye(4)[:, :2], order=3)
    >>> W = np.eye(4)[:, :1]                     # the model fits e_1 with weight 1
    >>> u, value = residual_direction(W, T, np.ones(1), np.random.RandomState(0))
    >>> np.abs(u).round(6).tolist(), round(value, 6)
    ([0.0, 1.0, 0.0, 0.0], 0.5)
    """
    order, (d, m) = target.order, tl.shape(W)
    starts = _backend.to_backend(rng.standard_normal((d, n_starts)))
    _, Wbar = split_columns(W)
    U = tl.concatenate([starts, Wbar], axis=1) if m else starts
    _, U = split_columns(U)
    step_sign = 1.0 if (sign is None or order % 2) else float(sign)
    U, rho = _power_iterations(target, W, signs, U, n_iter, step_sign, None)
    j, score = _best(rho, sign, order)
    if order % 2 == 0 and sign is not None and score <= 0:
        # Every start went to a direction of the wrong sign: remove those, retry.
        extra = _distinct(U, rho)
        U, _ = _power_iterations(target, W, signs, U, n_iter, step_sign, extra)
        rho = residual_contractions(target, W, signs, U)[1]
        j, score = _best(rho, sign, order)
    u, value = U[:, j], float(_backend.to_numpy(rho)[j])
    want = 1.0 if sign is None else float(sign)
    if order % 2 and value * want < 0:
        u, value = -u, -value
    return u, value


def free_columns(W, signs, rank_tol, cos_tol=0.99):
    """Columns that can be re-seeded without losing a component (host boolean mask).

    A column is free when its own ``|s_i| ||w_i||²`` is below ``rank_tol`` times
    the largest (it would not count as a component by itself) or when a larger
    column points the same way (``|cos| >= cos_tol``: it shares a component).
    Columns with ``s_i = 0`` are never free.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[1.0, 0.5, 1e-3], [0.0, 0.0, 1e-3]])
    >>> free_columns(W, np.ones(3), 1e-2).tolist()
    [False, True, True]
    """
    W, s = _backend.to_numpy(W), _backend.to_numpy(signs)
    sq = np.sum(W * W, axis=0)
    weight = np.abs(s) * sq
    small = weight < rank_tol * weight.max() if weight.size else np.zeros(0, bool)
    unit = W / np.where(sq > 0, np.sqrt(sq), 1.0)
    aligned = np.abs(unit.T @ unit) >= cos_tol
    larger = sq[None, :] > sq[:, None]  # larger[i, j]: column j is larger than i
    duplicate = np.any(aligned & larger, axis=1)
    return (small | duplicate) & (s != 0)


def reseed_column(W, signs, u, value, norm, free, order):
    """``W`` with its smallest free column able to fit ``value * u^{⊗l}`` set along ``u``.

    The column becomes ``norm * ±u``, the sign chosen so that its term
    ``s_j ||w_j||² wbar_j^{⊗l}`` has the sign of ``value`` (for an even order
    only columns with ``s_j`` of that sign qualify).

    Parameters
    ----------
    W : ndarray of shape (d, m)
        Host columns (not modified).
    signs : ndarray of shape (m,)
    u : ndarray of shape (d,)
        Unit direction.
    value : float
        ``R(u^{⊗l})``.
    norm : float
        Norm of the re-seeded column (the initialization norm).
    free : ndarray of bool, shape (m,)
        Columns allowed to be re-seeded (:func:`free_columns`).
    order : int

    Returns
    -------
    W_new : ndarray like ``W``, or None
        ``None`` when no free column can fit the term.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[1.0, 0.1, 0.2], [0.0, 0.1, 0.0]])
    >>> free = np.array([False, True, True])      # column 1 is the smallest free one
    >>> W_new = reseed_column(W, np.ones(3), np.array([0.0, 1.0]), -0.5, 1e-3, free, order=3)
    >>> (W_new + 0.0).tolist()                     # odd order: -u carries the negative weight
    [[1.0, 0.0, 0.2], [0.0, -0.001, 0.0]]
    """
    s = np.asarray(signs)
    ok = free & (s != 0)
    if order % 2 == 0:
        ok &= np.sign(s) == np.sign(value)
    if not ok.any():
        return None
    j = int(np.argmin(np.where(ok, np.sum(W * W, axis=0), np.inf)))
    flip = 1.0 if order % 2 == 0 else (np.sign(s[j] * value) or 1.0)
    W = W.copy()
    W[:, j] = flip * norm * u
    return W


def saddle_escape(target, signs, rng, *, init_norm, counts, rank_tol, n_starts=8, n_iter=20):
    """The ``escape(params, grads)`` of a symmetric CP problem (``_problem.Problem``).

    At a point where the loop's ``tol`` test passes, the best rank-one direction
    ``u`` of the residual is found (:func:`residual_direction`). If the
    estimator would count ``R(u^{⊗l}) u^{⊗l}`` as a component (``counts``), the
    point is a saddle: the smallest free column (:func:`free_columns`) that can
    fit it is re-seeded along ``u`` at ``init_norm`` and the new parameters are
    returned; otherwise (or when no column is free: every column then carries a
    component, the model is at capacity and ``rank_`` equals the number of
    columns) ``None``.

    Parameters
    ----------
    target : DenseTarget, CPTarget or SampleTarget
    signs : array of shape (m,)
        Coefficients ``s_i`` of the model's terms (backend array).
    rng : numpy.random.RandomState or Generator
        The fit's host random generator (the power method's starts).
    init_norm : float
        Norm of a re-seeded column.
    counts : callable
        ``counts(W, u, value) -> bool`` (host arrays): whether the estimator's
        rank estimate would count a term ``value * u^{⊗l}`` added to the model.
    rank_tol : float
        Relative weight below which a column is free (:func:`free_columns`).
    n_starts, n_iter : int, default=8, 20
        Power-method starts and steps.

    Returns
    -------
    escape : callable
        ``escape(params, grads) -> tuple or None``.
    """
    order, s_host = target.order, _backend.to_numpy(signs)

    def escape(params, grads):
        (W,) = params
        free = free_columns(W, s_host, rank_tol)
        sign = _sought_sign(s_host[free], order)
        u, value = residual_direction(
            W, target, signs, rng, n_starts=n_starts, n_iter=n_iter, sign=sign
        )
        u_host = _backend.to_numpy(u)
        if not counts(_backend.to_numpy(W), u_host, value):
            return None
        W_host = _backend.to_numpy(W)
        W_new = reseed_column(W_host, s_host, u_host, value, init_norm, free, order)
        # No free column: every column carries a component (the width is at most
        # the rank), so re-seeding one would trade a component for another.
        return None if W_new is None else (_backend.to_backend(W_new),)

    return escape


def _sought_sign(free_signs, order):
    """Sign of ``R(u^{⊗l})`` the free columns can fit (``None``: either)."""
    if order % 2:
        return None
    signs = set(np.sign(free_signs[free_signs != 0]).tolist())
    return signs.pop() if len(signs) == 1 else None
