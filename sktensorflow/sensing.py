"""Tubal tensor sensing: recover ``X* = V * V^T`` from Gaussian linear measurements.

The setting of Karnik, Veselovska, Iwen and Krahmer (ICML 2025): a symmetric
ground truth ``X*`` of shape ``(n, n, k)`` and tubal rank ``r`` (a t-projector:
every nonzero Fourier-slice singular value is 1) is measured by
``y_j = <G_j, X*>``, ``j = 1..m``, with Gaussian ``G_j`` stored as the rows of an
``(m, n n k)`` matrix (C-order vectorization). :func:`fit_sensing` runs gradient
descent on ``½ sum_j (<U * U^T, G_j> - y_j)²`` from ``U0 = init_scale * N(0, 1) /
sqrt(width)`` through the library's optimization loop, recording the paper's
metrics:

- :func:`relative_test_error` ``||X - X*|| / ||X*||``;
- :func:`measurement_residual` ``||G vec(X) - y|| / ||y||``;
- :func:`singular_tube_error` the relative error of the ``r``-th singular tube;
- :func:`principal_angle` the sine of the largest principal angle, maximized over
  Fourier slices, between the leading ``r``-dimensional left singular subspaces
  of the iterate and of the truth or of the spectral tensor
  :func:`spectral_tensor` ``sym(sum_j y_j G_j)``.
"""

import math

import numpy as np
from sklearn.utils import Bunch, check_random_state

from . import _backend
from . import tproduct as tp
from ._optim import minimize
from .metrics import relative_error, tubal_rank
from .models import tubal as mt

__all__ = [
    "fit_sensing",
    "make_sensing_problem",
    "measurement_residual",
    "principal_angle",
    "relative_test_error",
    "singular_tube_error",
    "spectral_tensor",
]


def _host():
    """Host-side (numpy) computations, whatever tensorly's active backend."""
    return _backend.backend_context("numpy")


def _t_projector(rng, n, rank, k):
    V, _, _ = tp.t_svd(rng.standard_normal((n, rank, k)), rank=rank)
    return V


def make_sensing_problem(
    n=10, n_tubes=4, rank=2, n_measurements=254, *, symmetric_measurements=False, random_state=None
):
    """Ground truth t-projector and Gaussian measurements of it.

    Parameters
    ----------
    n : int, default=10
        Frontal slices are ``n x n``.
    n_tubes : int, default=4
        Tube length ``k``.
    rank : int, default=2
        Tubal rank ``r`` of the truth ``X* = V * V^T``, ``V`` the ``r`` left
        singular tubes of a Gaussian ``(n, r, k)`` tensor.
    n_measurements : int, default=254
        ``m`` (254 in the paper's Figure 2, 285 in Figures 3-4).
    symmetric_measurements : bool, default=False
        Use ``G_j = Z_j + Z_j^T`` (t-transpose) with Gaussian ``Z_j`` (Figures
        3-4) instead of Gaussian ``G_j`` (Figure 2).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    operator : ndarray of shape (n_measurements, n * n * n_tubes)
    values : ndarray of shape (n_measurements,)
    truth : Bunch
        ``tensor`` (``X*``), ``V`` (its orthonormal tubes), ``shape``.

    Examples
    --------
    >>> G, y, truth = make_sensing_problem(6, 3, 2, 50, random_state=0)
    >>> G.shape, y.shape, truth.tensor.shape
    ((50, 108), (50,), (6, 6, 3))
    """
    for name, value in (
        ("n", n),
        ("n_tubes", n_tubes),
        ("rank", rank),
        ("n_measurements", n_measurements),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    rng = check_random_state(random_state)
    with _host():
        V = _t_projector(rng, n, rank, n_tubes)
        X = tp.t_product(V, tp.t_transpose(V))
    G = rng.standard_normal((n_measurements, n, n, n_tubes))
    if symmetric_measurements:
        with _host():
            G = G + np.stack([tp.t_transpose(Z) for Z in G])
    G = G.reshape(n_measurements, -1)
    return G, G @ X.reshape(-1), Bunch(tensor=X, V=V, shape=(n, n, n_tubes))


def relative_test_error(X, truth):
    """``||X - X*||_F / ||X*||_F`` (:func:`sktensorflow.metrics.relative_error`)."""
    return relative_error(X, truth)


def measurement_residual(operator, values, X):
    """Relative residual of the measurements, ``||G vec(X) - y|| / ||y||``."""
    return float(np.linalg.norm(operator @ np.reshape(X, -1) - values) / np.linalg.norm(values))


def _tube(X, index):
    """The ``index``-th singular tube: the inverse transform of its slice singular values."""
    with _host():
        s = tp.tubal_singular_values(np.asarray(X, dtype=float))
        return tp.irfft_tubes(s[:, index], X.shape[2])


def singular_tube_error(X, truth, rank):
    """Relative error of the ``rank``-th singular tube of ``X`` against the truth's.

    The ``i``-th singular tube is the inverse FFT of the ``i``-th singular values
    of the Fourier slices (``S[i, i, :]`` in the t-SVD).
    """
    ref = _tube(truth, rank - 1)
    return float(np.linalg.norm(_tube(X, rank - 1) - ref) / np.linalg.norm(ref))


def _leading_subspaces(X, rank):
    """Orthonormal leading left singular vectors of every Fourier slice, (F, n, rank)."""
    with _host():
        Xf = tp.to_fourier(np.asarray(X, dtype=float))
    return np.linalg.svd(Xf, full_matrices=False)[0][:, :, :rank]


def principal_angle(X, Y, rank):
    """Sine of the largest principal angle between leading tubal subspaces.

    Parameters
    ----------
    X, Y : ndarray of shape (n, n_x, k) and (n, n_y, k)
        Tensors (e.g. the factor ``U``, the truth, or :func:`spectral_tensor`).
    rank : int
        Dimension of the compared subspaces: the ``rank`` leading left singular
        vectors of every Fourier slice.

    Returns
    -------
    sin_theta : float
        ``max_f ||(I - Q_Y Q_Y^H) Q_X||_2`` over the independent Fourier slices.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(5, 2, 3))
    >>> principal_angle(X, X, 2) < 1e-12
    True
    """
    Qx, Qy = _leading_subspaces(X, rank), _leading_subspaces(Y, rank)
    with _host():
        resid = Qx - Qy @ (tp.slice_conj_transpose(Qy) @ Qx)
    return float(np.max(np.linalg.norm(resid, ord=2, axis=(1, 2))))


def spectral_tensor(operator, values, shape):
    """``sym(sum_j y_j G_j) = (M + M^T) / 2`` with ``M = reshape(G^T y)``."""
    M = np.reshape(operator.T @ values, shape)
    with _host():
        return 0.5 * (M + tp.t_transpose(M))


def _metric_recorder(operator, values, truth, rank, spectral):
    def record(params):
        U = _backend.to_numpy(params[0])
        with _host():
            return _metrics(U)

    def _metrics(U):
        X = tp.t_product(U, tp.t_transpose(U))
        out = {
            "residual": measurement_residual(operator, values, X),
            "angle_spectral": principal_angle(U, spectral, rank),
        }
        if truth is not None:
            out.update(
                test_error=relative_test_error(X, truth),
                tube_error=singular_tube_error(X, truth, rank),
                angle_truth=principal_angle(U, truth, rank),
            )
        return out

    return record


def fit_sensing(
    operator,
    values,
    shape,
    *,
    width=100,
    rank=None,
    init_scale=1e-7,
    learning_rate=1e-5,
    max_iter=10000,
    tol=0.0,
    solver="gd",
    truth=None,
    record_every=10,
    random_state=None,
    callback=None,
    backend=None,
):
    """Symmetric tubal sensing by small-initialization gradient descent.

    Minimizes ``½ sum_j (<U * U^T, G_j> - y_j)²`` (no ``1/m``, as in the paper)
    over ``U`` of shape ``(n, width, k)`` from ``U0 = init_scale * N(0, 1) /
    sqrt(width)``, with the shared optimization loop
    (:func:`sktensorflow._optim.minimize`).

    Parameters
    ----------
    operator : array of shape (m, n * n * k)
        Measurement matrix, rows ``vec(G_j)`` (C order of ``(n, n, k)``).
    values : array of shape (m,)
        Measurements ``y``.
    shape : tuple (n, n, k)
    width : int, default=100
    rank : int, default=None
        Rank used by the recorded subspace metrics (default: the truth's tubal
        rank when ``truth`` is given, else 1).
    init_scale : float, default=1e-7
        ``alpha``, an absolute scale (the paper's convention).
    learning_rate : float, default=1e-5
    max_iter : int, default=10000
        The paper runs a fixed number of iterations (``tol=0``).
    tol : float, default=0.0
    solver : {"gd", "flow", "adam"}, default="gd"
    truth : ndarray of shape ``shape``, default=None
        Ground truth, for the test error, tube error and angle to the truth.
    record_every : int, default=10
        Iterations between recorded metrics.
    random_state : int, RandomState instance or None, default=None
    callback : callable, default=None
        Called after every iteration with an ``OptimState`` whose ``params`` is
        ``(U,)``; return ``True`` to stop. (The loop itself runs on the Fourier
        coordinates of ``U``, :func:`sktensorflow.models.tubal.to_coordinates`,
        which gives the same gradient-descent iterates.)
    backend : str, default=None
        Tensorly backend (default: the active one).

    Returns
    -------
    result : Bunch
        ``U`` (final factor), ``tensor`` (``U * U^T``), ``loss_curve``,
        ``n_iter``, ``history`` (dict of metric arrays: ``residual``,
        ``angle_spectral`` and with ``truth`` ``test_error``, ``tube_error``,
        ``angle_truth``), ``history_iter``.

    Examples
    --------
    >>> G, y, truth = make_sensing_problem(6, 3, 1, 80, random_state=0)
    >>> res = fit_sensing(G, y, truth.shape, width=10, init_scale=1e-3,
    ...                   learning_rate=2e-3, max_iter=1500, truth=truth.tensor,
    ...                   random_state=0)
    >>> bool(res.history["test_error"][-1] < 1e-3)
    True
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"shape must be (n, n, k), got {shape}.")
    operator, values = np.asarray(operator, dtype=float), np.asarray(values, dtype=float)
    if rank is None:
        with _host():
            rank = tubal_rank(np.asarray(truth)) if truth is not None else 1
    rng = check_random_state(random_state)
    U0 = init_scale * rng.standard_normal((shape[0], width, shape[2])) / math.sqrt(width)
    record = _metric_recorder(
        operator, values, truth, rank, spectral_tensor(operator, values, shape)
    )
    name = _backend.resolve_backend(backend)
    with _backend.backend_context(name):
        data = mt.measurements(_backend.to_backend(operator), _backend.to_backend(values), shape)
        result = minimize(
            mt.coordinate_problem((_backend.to_backend(U0),), data),
            solver=solver,
            learning_rate=learning_rate,
            max_iter=max_iter,
            tol=tol,
            record=record,
            record_every=record_every,
            callback=callback,
        )
        U = _backend.to_numpy(result.view[0])
    history = {key: np.asarray(val) for key, val in result.history.items()}
    with _host():
        tensor = tp.t_product(U, tp.t_transpose(U))
    return Bunch(
        U=U,
        tensor=tensor,
        loss_curve=result.loss_curve,
        n_iter=result.n_iter,
        history=history,
        history_iter=np.asarray(result.history_iter),
    )
