"""The linearized (tangent) symmetric CP model at an initialization: the lazy regime's object.

Wang et al. (2020) prove their lower bound for *lazy training*: the model
``T(W) = sum_i c_i ||w_i||^{2-l} w_i^{⊗l}`` replaced by its first-order
expansion at the initialization ``W0``::

    T_lin(W0 + D) = T(W0) + J(W0)[D],
    J(W0)[D] = sum_i c_i ||w_i|| (l sym(wbar_i^{⊗(l-1)} ⊗ d_i)
                                 + (2 - l) (wbar_i · d_i) wbar_i^{⊗l}),

(``d_i`` the columns of ``D``, ``sym`` the average over the ``l`` positions of
``d_i``). Fitting ``T*`` with it is a linear least-squares problem; it needs
``m = Ω(d^{l-1})`` columns, because the tangent space is spanned by ``d``
directions per column (per *pair* of columns for the lazy initialization,
whose pairs ``(w, w)`` with coefficients ``(+c, -c)`` make ``T(W0) = 0``), while
the symmetric tensors of order ``l`` form a space of dimension
``binom(d + l - 1, l) ~ d^l / l!``.

Dense and numpy only: the tangent map is materialized (``d^l`` rows by ``m d``
columns), which is what a measurement of the width bound at small ``d``
needs; no sample or CP target is accepted here.
"""

import math

import numpy as np

__all__ = [
    "best_tangent_error",
    "symmetric_dimension",
    "tangent_loss_and_grad",
    "tangent_matrix",
    "tangent_to_tensor",
]


def _split(W):
    norms = np.linalg.norm(W, axis=0)
    return norms, W / np.where(norms > 0, norms, 1.0)


def _outer_power(v, order):
    out = np.ones(())
    for _ in range(order):
        out = np.multiply.outer(out, v)
    return out


def _sym_outer(v, u, order):
    """``sym(v^{⊗(order-1)} ⊗ u)``: the average over the ``order`` positions of ``u``."""
    out = np.zeros((v.size,) * order)
    for pos in range(order):
        term = np.ones(())
        for k in range(order):
            term = np.multiply.outer(term, u if k == pos else v)
        out += term
    return out / order


def tangent_to_tensor(D, W0, coefs, order):
    """Dense ``T_lin(W0 + D) = T(W0) + J(W0)[D]`` of shape ``(d,) * order``.

    Examples
    --------
    >>> import numpy as np
    >>> W0 = np.array([[1.0], [0.0]])
    >>> T = tangent_to_tensor(np.zeros((2, 1)), W0, np.ones(1), 3)  # T(W0) = e_1^{⊗3}
    >>> float(T[0, 0, 0]), float(np.abs(T).sum())
    (1.0, 1.0)
    """
    norms, Wbar = _split(np.asarray(W0, float))
    D = np.asarray(D, float)
    out = np.zeros((W0.shape[0],) * order)
    for i in range(W0.shape[1]):
        w, d, c = Wbar[:, i], D[:, i], coefs[i] * norms[i]
        base = _outer_power(w, order)
        out += coefs[i] * norms[i] ** 2 * base
        out += c * (order * _sym_outer(w, d, order) + (2 - order) * (w @ d) * base)
    return out


def _contract(R, w, times):
    for _ in range(times):
        R = R @ w
    return R


def tangent_loss_and_grad(D, W0, coefs, target):
    """``½||T_lin(W0 + D) - T*||²`` and its gradient ``J(W0)ᵀ (T_lin - T*)`` in ``D``.

    Parameters
    ----------
    D : ndarray of shape (d, m)
        Displacement from ``W0``.
    W0 : ndarray of shape (d, m)
        Point of linearization.
    coefs : ndarray of shape (m,)
        Coefficients ``c_i`` (``±1/sqrt(m)`` in the lazy regime).
    target : ndarray of shape (d,) * order
        Dense symmetric target.

    Returns
    -------
    loss : float
    grad : ndarray of shape (d, m)
        Column ``i``: ``-c_i ||w_i|| (l R(wbar_i^{⊗(l-1)}, ·) + (2 - l) R(wbar_i^{⊗l}) wbar_i)``
        with ``R = T* - T_lin``; at ``D = 0`` it is the full model's gradient at ``W0``.

    Examples
    --------
    >>> import numpy as np
    >>> W0 = np.array([[1.0], [0.0]])
    >>> target = np.zeros((2, 2, 2)); target[0, 0, 0] = 1.0
    >>> loss, g = tangent_loss_and_grad(np.zeros((2, 1)), W0, np.ones(1), target)
    >>> loss, float(np.abs(g).max())
    (0.0, 0.0)
    """
    order = target.ndim
    R = target - tangent_to_tensor(D, W0, coefs, order)
    norms, Wbar = _split(np.asarray(W0, float))
    grad = np.zeros_like(np.asarray(D, float))
    for i in range(W0.shape[1]):
        w = Wbar[:, i]
        v = _contract(R, w, order - 1)
        grad[:, i] = -coefs[i] * norms[i] * (order * v + (2 - order) * (v @ w) * w)
    return 0.5 * float(np.sum(R * R)), grad


def tangent_matrix(W0, coefs, order):
    """``J(W0)`` as a dense matrix of shape ``(d^order, d*m)``.

    Column ``i*d + a`` is ``J[D]`` for ``D`` with a single 1 at ``(a, i)``.
    """
    norms, Wbar = _split(np.asarray(W0, float))
    d, m = Wbar.shape
    J = np.empty((d**order, d * m))
    eye = np.eye(d)
    for i in range(m):
        w = Wbar[:, i]
        head = np.multiply.outer(_outer_power(w, order - 1), eye)  # (d,)*(order+1)
        sym = sum(np.moveaxis(head, order - 1, p) for p in range(order)) / order
        block = order * sym + (2 - order) * np.multiply.outer(_outer_power(w, order), w)
        J[:, i * d : (i + 1) * d] = coefs[i] * norms[i] * block.reshape(d**order, d)
    return J


def symmetric_dimension(d, order):
    """``binom(d + order - 1, order)``: dimension of the symmetric tensors of that order."""
    return math.comb(d + order - 1, order)


def best_tangent_error(W0, coefs, target):
    """Relative error of the best fit of ``target`` by the tangent model at ``W0``.

    ``min_D ||T_lin(W0 + D) - T*|| / ||T*||`` by least squares: what lazy
    training converges to (gradient descent on the linear model from ``D = 0``
    reaches the least-squares fit).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(3); u /= np.linalg.norm(u)
    >>> target = np.multiply.outer(np.multiply.outer(u, u), u)  # order 3 in R^3
    >>> symmetric_dimension(3, 3)  # so ceil(10 / 3) = 4 pairs of columns suffice
    10
    >>> W0 = np.repeat(rng.standard_normal((3, 4)), 2, axis=1)  # 4 pairs
    >>> coefs = np.tile([1.0, -1.0], 4) / np.sqrt(8)
    >>> bool(best_tangent_error(W0, coefs, target) < 1e-10)
    True
    >>> bool(best_tangent_error(W0[:, :4], coefs[:4], target) > 1e-3)  # 2 pairs
    True
    """
    order = target.ndim
    J = tangent_matrix(W0, coefs, order)
    rhs = (target - tangent_to_tensor(np.zeros_like(W0), W0, coefs, order)).ravel()
    sol, *_ = np.linalg.lstsq(J, rhs, rcond=None)
    return float(np.linalg.norm(J @ sol - rhs) / np.linalg.norm(target))
