"""Signed 2-homogeneous symmetric CP component model and its loss.

The model with ``m`` columns ``W = [w_1, ..., w_m]`` of shape ``(d, m)`` is

    T(W) = sum_i s_i ||w_i||^{2 - l} w_i^{⊗l} = sum_i s_i ||w_i||^2 wbar_i^{⊗l},

with ``wbar = w / ||w||``, real coefficients ``s_i`` (fixed signs, possibly
scaled) and order ``l >= 2``. The loss is ``L = ½||T(W) - T*||² + (λ/2)||W||²``.

Every quantity is computed from contractions ``T(wbar_j^{⊗(l-1)}, ·)`` and
``<T, wbar_j^{⊗l}>``, batched over the columns, so a target given as samples or
as CP factors is never materialized:

- CP terms (model or target): with ``C = Wbarᵀ U``,
  ``T(wbar_j^{⊗(l-1)}, ·) = sum_k c_k C_jk^{l-1} u_k``; cost ``O(m r d)``.
- Samples (moment ``(1/n) sum_s x_s^{⊗l}``): ``(1/n) Xᵀ (X wbar)^{l-1}``;
  cost ``O(n d m)``, accumulated over chunks of samples. The order-4 cumulant
  subtracts the Gaussian part ``3 (wbarᵀΣwbar) Σ wbar``.
- Dense arrays: successive BLAS contractions, ``O(m d^l)``.
- ``||T*||²`` of samples: :func:`~.packed_moments.moment_norm_sq`, linear in ``n``.

The gradient (from ``dL = -<R, dT>`` with ``R = T* - T``) is

    grad_j = -s_j ||w_j|| (l R(wbar_j^{⊗(l-1)}, ·) - (l-2) R(wbar_j^{⊗l}) wbar_j) + λ w_j.
"""

from typing import NamedTuple

import numpy as np
import tensorly as tl

from .. import _backend
from ._problem import TINY, Problem
from .packed_moments import int_power, moment_norm_sq

__all__ = [
    "CPTarget",
    "DenseTarget",
    "SampleTarget",
    "column_scale",
    "cp_contractions",
    "cp_target",
    "dense_target",
    "largest_weight",
    "loss_and_grad",
    "problem",
    "radial_rates",
    "random_columns",
    "reinit_small_columns",
    "sample_target",
    "split_columns",
    "target_contractions",
    "target_norm_sq",
    "to_tensor",
]


class DenseTarget(NamedTuple):
    """A dense symmetric array of shape ``(d,) * order``."""

    tensor: object
    order: int


class CPTarget(NamedTuple):
    """``sum_k weights[k] * factors[:, k]^{⊗order}`` (columns need not be unit)."""

    weights: object
    factors: object
    order: int


class SampleTarget(NamedTuple):
    """Moment ``(1/n) sum_s x_s^{⊗order}`` of rows of ``X``, minus the Gaussian part.

    ``covariance`` is ``None`` for a raw moment (or the order-2/3 cumulant of
    centered rows); for the order-4 cumulant it is the covariance ``Σ`` whose
    Gaussian fourth moment ``Σ⊗Σ`` (symmetrized, three terms) is subtracted.
    """

    X: object
    order: int
    covariance: object
    chunk_size: int


def dense_target(tensor):
    """Wrap a dense symmetric array as a target (its order is its ``ndim``)."""
    return DenseTarget(tensor, tl.ndim(tensor))


def cp_target(weights, factors, order):
    """Wrap symmetric CP weights ``(r,)`` and factor ``(d, r)`` as a target."""
    return CPTarget(weights, factors, int(order))


def sample_target(X, order, *, cumulant=False, chunk_size=4096):
    """Target built from samples ``X`` of shape ``(n, d)``, never materialized.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Rows; for ``cumulant=True`` they must already be centered.
    order : int
    cumulant : bool, default=False
        For order 4, subtract the Gaussian part (the order-4 cumulant); for
        orders 2 and 3 the cumulant of centered rows is their moment.
    chunk_size : int, default=4096
        Rows processed at once, bounding memory at ``chunk_size * width``.
    """
    covariance = None
    if cumulant and order == 4:
        covariance = tl.matmul(tl.transpose(X), X) / tl.shape(X)[0]
    return SampleTarget(X, int(order), covariance, int(chunk_size))


def split_columns(W):
    """Column norms ``(m,)`` and unit directions ``(d, m)`` (zero columns stay zero)."""
    norms = tl.sqrt(tl.sum(W * W, axis=0))
    safe = tl.where(norms > 0, norms, tl.ones(tl.shape(norms), **tl.context(W)))
    return norms, W / safe


def column_scale(params):
    """Natural size of each parameter: its column's norm (for ``_optim`` scale)."""
    (W,) = params
    return (tl.reshape(tl.sqrt(tl.sum(W * W, axis=0)), (1, -1)),)


def cp_contractions(coefs, U, Wbar, order):
    """Contract ``sum_k coefs_k u_k^{⊗order}`` with each column of ``Wbar``.

    Returns
    -------
    V : array of shape (d, m)
        ``V[:, j] = sum_k coefs_k (u_k·wbar_j)^{order-1} u_k``.
    rho : array of shape (m,)
        ``rho[j] = sum_k coefs_k (u_k·wbar_j)^order``.
    """
    C = tl.matmul(tl.transpose(Wbar), U)
    Cl = int_power(C, order - 1)
    V = tl.matmul(U, tl.transpose(Cl * coefs))
    rho = tl.sum(Cl * C * coefs, axis=1)
    return V, rho


def _dense_contractions(T, Wbar, order):
    d, m = tl.shape(Wbar)
    Y = tl.matmul(tl.reshape(T, (-1, d)), Wbar)
    for _ in range(order - 2):
        Y = tl.einsum("abm,bm->am", tl.reshape(Y, (-1, d, m)), Wbar)
    return Y, tl.sum(Y * Wbar, axis=0)


def _sample_contractions(target, Wbar):
    X, order = target.X, target.order
    n = tl.shape(X)[0]
    V, rho = 0.0, 0.0
    for start in range(0, n, target.chunk_size):
        Xc = X[start : start + target.chunk_size]
        P = tl.matmul(Xc, Wbar)
        Pl = int_power(P, order - 1)
        V = V + tl.matmul(tl.transpose(Xc), Pl)
        rho = rho + tl.sum(Pl * P, axis=0)
    V, rho = V / n, rho / n
    if target.covariance is not None:
        SW = tl.matmul(target.covariance, Wbar)
        q = tl.sum(SW * Wbar, axis=0)
        V, rho = V - 3.0 * SW * q, rho - 3.0 * q**2
    return V, rho


def target_contractions(target, Wbar):
    """``(T*(wbar_j^{⊗(l-1)}, ·), <T*, wbar_j^{⊗l}>)`` for every column ``j``."""
    if isinstance(target, CPTarget):
        return cp_contractions(target.weights, target.factors, Wbar, target.order)
    if isinstance(target, SampleTarget):
        return _sample_contractions(target, Wbar)
    if hasattr(target, "contractions"):  # samples in a chunked array (models.blockwise)
        return target.contractions(Wbar)
    return _dense_contractions(target.tensor, Wbar, target.order)


def _sample_norm_sq(target):
    X, n = target.X, tl.shape(target.X)[0]
    # Linear in n for many samples (packed moment), Gram tiles for few.
    total = moment_norm_sq(X, target.order)
    S = target.covariance
    if S is not None:
        quad = tl.sum(tl.matmul(X, S) * X, axis=1)
        S2 = tl.matmul(S, S)
        total += (
            -6.0 * float(tl.sum(quad**2)) / n
            + 3.0 * float(tl.sum(S * S)) ** 2
            + 6.0 * float(tl.sum(S2 * S2))
        )
    return total


def target_norm_sq(target):
    """``||T*||_F²`` without materializing a samples or CP target."""
    if isinstance(target, CPTarget):
        G = tl.matmul(tl.transpose(target.factors), target.factors)
        w = target.weights
        return float(
            tl.sum(tl.reshape(w, (-1, 1)) * tl.reshape(w, (1, -1)) * int_power(G, target.order))
        )
    if isinstance(target, SampleTarget):
        return _sample_norm_sq(target)
    if hasattr(target, "norm_sq"):  # samples in a chunked array (models.blockwise)
        return float(target.norm_sq)
    return float(tl.sum(target.tensor * target.tensor))


def loss_and_grad(W, target, signs, *, l2_reg=0.0, target_sq=0.0):
    """Loss ``½||T(W) - T*||² + (l2_reg/2)||W||²`` and its gradient in ``W``.

    Parameters
    ----------
    W : array of shape (d, m)
    target : DenseTarget, CPTarget or SampleTarget
    signs : array of shape (m,)
        Coefficients ``s_i`` of the model's terms.
    l2_reg : float, default=0.0
    target_sq : float, default=0.0
        ``||T*||²`` (from :func:`target_norm_sq`); it only shifts the loss.

    Returns
    -------
    loss : float
    grads : tuple of one array of shape (d, m)

    Examples
    --------
    >>> import numpy as np
    >>> T = cp_target(np.array([1.0]), np.eye(3)[:, :1], order=3)
    >>> loss, (g,) = loss_and_grad(np.eye(3)[:, :1], T, np.ones(1), target_sq=1.0)
    >>> round(loss, 12), float(np.abs(g).max())
    (0.0, 0.0)
    """
    order = target.order
    norms, Wbar = split_columns(W)
    coefs = signs * norms**2
    V_t, rho_t = target_contractions(target, Wbar)
    V_m, rho_m = cp_contractions(coefs, Wbar, Wbar, order)
    model_sq = float(tl.sum(coefs * rho_m))
    cross = float(tl.sum(coefs * rho_t))
    loss = 0.5 * model_sq - cross + 0.5 * target_sq + 0.5 * l2_reg * float(tl.sum(W * W))
    V, rho = V_t - V_m, rho_t - rho_m
    grad = -(signs * norms) * (order * V - (order - 2) * rho * Wbar) + float(l2_reg) * W
    return loss, (grad,)


def to_tensor(W, signs, order):
    """Dense ``(d,) * order`` array of the model (for small problems and tests)."""
    norms, Wbar = split_columns(W)
    return tl.cp_to_tensor((signs * norms**2, [Wbar] * order))


def problem(W0, target, signs, *, l2_reg=0.0, target_sq=None, rate_scale=None):
    """The symmetric CP loss as a :class:`~sktensorflow.models._problem.Problem`.

    Parameters
    ----------
    W0 : array of shape (d, m)
        Starting columns (backend array).
    target : DenseTarget, CPTarget or SampleTarget
    signs : array of shape (m,)
        Coefficients ``s_i`` of the model's terms (backend array).
    l2_reg : float, default=0.0
    target_sq : float, default=None
        ``||T*||²``; computed with :func:`target_norm_sq` when ``None``.
    rate_scale : float, default=None
        What ``tol`` is multiplied by; ``None``: ``||T*||_F`` (1.0 for a zero
        target). ``0.0`` stops on ``tol`` only at an exactly zero gradient.

    Returns
    -------
    problem : Problem
        Iterates ``(W,)``; each column is scaled by its norm
        (:func:`column_scale`) and the loss rounds at ``1e-13 ||T*||²``.

    Examples
    --------
    >>> import numpy as np
    >>> T = cp_target(np.array([1.0]), np.eye(3)[:, :1], order=3)
    >>> p = problem(np.eye(3)[:, :1], T, np.ones(1))
    >>> round(p.fun(p.start)[0], 12), p.rate_scale, p.loss_atol
    (0.0, 1.0, 1e-13)
    """
    if target_sq is None:
        target_sq = target_norm_sq(target)
    if rate_scale is None:
        rate_scale = float(np.sqrt(target_sq)) if target_sq > 0 else 1.0

    def fun(params):
        return loss_and_grad(params[0], target, signs, l2_reg=l2_reg, target_sq=target_sq)

    return Problem(
        fun,
        (W0,),
        scale=column_scale,
        rate_scale=rate_scale,
        loss_atol=1e-13 * target_sq,
    )


# -- columns: initialization, re-initialization, power method ------------------------------
def random_columns(rng, d, m, norm):
    """``(d, m)`` host columns in uniform random directions (``rng``), each of norm ``norm``.

    Examples
    --------
    >>> import numpy as np
    >>> W = random_columns(np.random.RandomState(0), 4, 3, 2.0)
    >>> np.linalg.norm(W, axis=0).round(12).tolist()
    [2.0, 2.0, 2.0]
    """
    W = rng.standard_normal((d, m))
    return norm * W / np.linalg.norm(W, axis=0)


def radial_rates(W, grad):
    """Growth rate of each column's log-norm under the flow, ``-(w·g)/||w||²``.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> radial_rates(W, np.array([[-2.0, 0.0], [0.0, 3.0]])).tolist()
    [1.0, -3.0]
    """
    sq = tl.sum(W * W, axis=0)
    return -tl.sum(W * grad, axis=0) / (sq + TINY)


def reinit_small_columns(W, grad, rng, init_norm, threshold, *, keep_growing=True):
    """Re-draw columns below ``threshold`` (host RNG).

    A column is re-drawn as ``init_norm`` times a fresh uniform unit vector when
    its norm is below ``threshold`` and, with ``keep_growing=True`` (the
    ``"stalled"`` rule), its radial rate is not positive: a small column that
    grows may be about to fit a component and is kept. ``keep_growing=False``
    (the ``"paper"`` rule of Ge et al. 2021, Algorithm 1) re-draws every column
    below ``threshold``. ``rng`` (the fit's host generator) draws a full set of
    fresh columns, whatever the number re-drawn; ``W`` and ``grad`` are backend
    arrays of shape ``(d, m)`` (``grad`` is not used when ``keep_growing=False``).

    Returns
    -------
    W_new : array like ``W``
    n_redrawn : int
    """
    norms = _backend.to_numpy(tl.sqrt(tl.sum(W * W, axis=0)))
    redraw = norms < threshold
    if keep_growing:
        redraw &= _backend.to_numpy(radial_rates(W, grad)) <= 0
    fresh = random_columns(rng, tl.shape(W)[0], norms.size, init_norm)
    W_host = _backend.to_numpy(W).copy()
    W_host[:, redraw] = fresh[:, redraw]
    return _backend.to_backend(W_host), int(redraw.sum())


def largest_weight(target, W0, n_iter=30):
    """Largest ``|T*(v^{⊗order})|`` found by the tensor power method from ``W0``'s columns.

    For an orthogonally decomposable target this is the largest ``|a_k|``.

    Parameters
    ----------
    target : DenseTarget, CPTarget or SampleTarget
    W0 : ndarray of shape (n_features, n_starts)
        Starting directions, host side (normalized inside).
    n_iter : int, default=30

    Returns
    -------
    a_max : float

    Examples
    --------
    >>> import numpy as np
    >>> T = cp_target(np.array([0.5, 2.0]), np.eye(3)[:, :2], order=4)
    >>> W0 = np.random.default_rng(0).standard_normal((3, 8))
    >>> round(largest_weight(T, W0), 10)
    2.0
    """
    _, V = split_columns(_backend.to_backend(W0))
    for _ in range(n_iter):
        _, V = split_columns(target_contractions(target, V)[0])
    _, rho = target_contractions(target, V)
    return float(np.max(np.abs(_backend.to_numpy(rho)))) if tl.shape(V)[1] else 0.0
