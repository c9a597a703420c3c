"""Tubal tensor sensing: the paper's experiments, with their metrics recorded along the run.

The setting of Karnik, Veselovska, Iwen and Krahmer (ICML 2025): a ground truth
``X*`` of shape ``(n1, n2, k)`` and tubal rank ``r`` (in the paper a symmetric
t-projector: every nonzero Fourier-slice singular value is 1; ill-conditioned
and asymmetric truths from :func:`sktensorflow.datasets.make_tubal_sensing`) is
measured by ``y_j = <G_j, X*> (+ noise)``, ``j = 1..m``, with Gaussian ``G_j``
stored as the rows of an ``(m, n1 n2 k)`` matrix (C-order vectorization).
:func:`fit_sensing` runs gradient descent on ``½ sum_j (<U * U^T, G_j> - y_j)²``
(or ``A * B^T``) from ``U0 = init_scale * N(0, 1) / sqrt(width)`` (the paper's
absolute ``alpha``) through the library's optimization loop, recording the
paper's metrics:

- :func:`relative_test_error` ``||X - X*|| / ||X*||``;
- :func:`measurement_residual` ``||G vec(X) - y|| / ||y||``;
- :func:`singular_tube_error` the relative error of the ``r``-th singular tube;
- :func:`principal_angle` the sine of the largest principal angle, maximized over
  Fourier slices, between the leading ``r``-dimensional left singular subspaces
  of the iterate and of the truth or of the spectral tensor
  :func:`spectral_tensor` ``sym(sum_j y_j G_j)``.

The estimator :class:`sktensorflow.TubalSensing` fits the same model with
scale-free defaults, as a scikit-learn regressor.
"""

import math

import numpy as np
from sklearn.utils import Bunch, check_random_state

from . import _backend
from . import tproduct as tp
from ._optim import minimize
from ._sensing_loop import chain_callbacks, divergence_stop
from .datasets import make_tubal_sensing
from .metrics import relative_error, tubal_rank
from .models.tubal_sensing import sensing_problem

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


def make_sensing_problem(
    n=10,
    n_tubes=4,
    rank=2,
    n_measurements=254,
    *,
    symmetric_measurements=False,
    condition_number=1.0,
    noise=0.0,
    random_state=None,
):
    """Symmetric ground truth and Gaussian measurements of it (the paper's setting).

    :func:`sktensorflow.datasets.make_tubal_sensing` with a symmetric truth of
    shape ``(n, n, n_tubes)``, named as in the paper.

    Parameters
    ----------
    n : int, default=10
        Frontal slices are ``n x n``.
    n_tubes : int, default=4
        Tube length ``k``.
    rank : int, default=2
        Tubal rank ``r`` of the truth ``X* = V * S * V^T``, ``V`` the ``r`` left
        singular tubes of a Gaussian ``(n, r, k)`` tensor.
    n_measurements : int, default=254
        ``m`` (254 in the paper's Figure 2, 285 in Figures 3-4).
    symmetric_measurements : bool, default=False
        Use ``G_j = Z_j + Z_j^T`` (t-transpose) with Gaussian ``Z_j`` (Figures
        3-4) instead of Gaussian ``G_j`` (Figure 2).
    condition_number : float, default=1.0
        ``S`` has singular values from 1 down to ``1 / condition_number``
        (geometric) in every Fourier slice; 1 is the paper's t-projector.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the measurements.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    operator : ndarray of shape (n_measurements, n * n * n_tubes)
    values : ndarray of shape (n_measurements,)
    truth : Bunch
        ``tensor`` (``X*``), ``V`` (its orthonormal tubes), ``singular_values``,
        ``shape``.

    Examples
    --------
    >>> G, y, truth = make_sensing_problem(6, 3, 2, 50, random_state=0)
    >>> G.shape, y.shape, truth.tensor.shape
    ((50, 108), (50,), (6, 6, 3))
    """
    _check_positive_int("n", n)
    _check_positive_int("n_tubes", n_tubes)
    G, y, truth = make_tubal_sensing(
        (n, n, n_tubes),
        rank,
        n_measurements,
        symmetric=True,
        symmetric_measurements=symmetric_measurements,
        condition_number=condition_number,
        noise=noise,
        random_state=random_state,
    )
    return (
        G,
        y,
        Bunch(
            tensor=truth.tensor,
            V=truth.left,
            singular_values=truth.singular_values,
            shape=truth.shape,
        ),
    )


def _check_positive_int(name, value):
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


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


def spectral_tensor(operator, values, shape, *, symmetric=True):
    """``sym(sum_j y_j G_j) = (M + M^T) / 2``, ``M = reshape(G^T y)`` (``M`` if not symmetric)."""
    M = np.reshape(operator.T @ values, shape)
    if not symmetric:
        return M
    with _host():
        return 0.5 * (M + tp.t_transpose(M))


def _metric_recorder(operator, values, truth, rank, spectral):
    """Record the paper's metrics of the factors ``(U,)`` or ``(A, B)`` (left subspaces)."""

    def record(params):
        factors = [_backend.to_numpy(p) for p in params]
        with _host():
            return _metrics(factors[0], tp.t_product(factors[0], tp.t_transpose(factors[-1])))

    def _metrics(U, X):
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


def _initial_factors(rng, shape, width, init_scale, symmetric):
    n1, n2, k = shape
    A = init_scale * rng.standard_normal((n1, width, k)) / math.sqrt(width)
    if symmetric:
        return (A,)
    return (A, init_scale * rng.standard_normal((n2, width, k)) / math.sqrt(width))


def _divergence(threshold, operator, values, truth, shape):
    """The released code's stop: test error (or, without truth, residual) above ``threshold``."""
    if threshold is None:
        return None

    def measure(state):
        with _host():
            factors = [_backend.to_numpy(p) for p in state.params]
            X = tp.t_product(factors[0], tp.t_transpose(factors[-1]))
        if truth is not None:
            return relative_test_error(X, truth)
        return measurement_residual(operator, values, np.reshape(X, shape))

    return divergence_stop(threshold, measure)


def _check_shape(shape, symmetric):
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or (symmetric and shape[0] != shape[1]):
        expected = "(n, n, k)" if symmetric else "(n1, n2, k)"
        raise ValueError(f"shape must be {expected}, got {shape}.")
    return shape


def fit_sensing(
    operator,
    values,
    shape,
    *,
    width=100,
    rank=None,
    symmetric=True,
    normalize=False,
    init_scale=1e-7,
    learning_rate=1e-5,
    max_iter=10000,
    tol=0.0,
    solver="gd",
    truth=None,
    divergence_threshold=20.0,
    record_every=10,
    random_state=None,
    callback=None,
    backend=None,
):
    """Tubal sensing by small-initialization gradient descent, with the paper's metrics.

    Minimizes ``½ sum_j (<U * U^T, G_j> - y_j)²`` (no ``1/m``, as in the
    released code; ``normalize=True`` divides by ``m``) over ``U`` of shape
    ``(n, width, k)`` from ``U0 = init_scale * N(0, 1) / sqrt(width)``, or the
    same over ``(A, B)`` for ``A * B^T`` with ``symmetric=False``, with the
    shared optimization loop (:func:`sktensorflow._optim.minimize`).

    Parameters
    ----------
    operator : array of shape (m, n1 * n2 * k)
        Measurement matrix, rows ``vec(G_j)`` (C order of ``(n1, n2, k)``).
    values : array of shape (m,)
        Measurements ``y``.
    shape : tuple (n1, n2, k)
    width : int, default=100
    rank : int, default=None
        Rank used by the recorded subspace metrics (default: the truth's tubal
        rank when ``truth`` is given, else 1).
    symmetric : bool, default=True
        Fit ``U * U^T`` (the paper's model) instead of ``A * B^T``.
    normalize : bool, default=False
        Scale the operator and the values by ``1/sqrt(m)``
        (:mod:`sktensorflow.models.tubal_sensing`): the same iterates as the
        plain loss with ``learning_rate / m``.
    init_scale : float, default=1e-7
        ``alpha``, an absolute scale (the paper's convention).
    learning_rate : float, default=1e-5
    max_iter : int, default=10000
        The paper runs a fixed number of iterations (``tol=0``).
    tol : float, default=0.0
    solver : {"gd", "flow", "adam"}, default="gd"
    truth : ndarray of shape ``shape``, default=None
        Ground truth, for the test error, tube error and angle to the truth.
    divergence_threshold : float or None, default=20.0
        Stop once the relative test error (the measurement residual without
        ``truth``) exceeds this value or is not finite, as the released code
        does; ``None`` never stops.
    record_every : int, default=10
        Iterations between recorded metrics.
    random_state : int, RandomState instance or None, default=None
    callback : callable, default=None
        Called after every iteration with an ``OptimState`` whose ``params`` is
        ``(U,)`` (``(A, B)``); return ``True`` to stop. (The loop itself runs on
        the Fourier coordinates of the factors,
        :func:`sktensorflow.models.tubal.to_coordinates`, which gives the same
        gradient-descent iterates.)
    backend : str, default=None
        Tensorly backend (default: the active one).

    Returns
    -------
    result : Bunch
        ``U`` (first factor), ``factors``, ``tensor`` (``U * U^T`` or
        ``A * B^T``), ``loss_curve``, ``n_iter``, ``diverged_at`` (iteration of
        the divergence stop or ``None``), ``history`` (dict of metric arrays:
        ``residual``, ``angle_spectral`` and with ``truth`` ``test_error``,
        ``tube_error``, ``angle_truth``), ``history_iter``.

    Examples
    --------
    >>> G, y, truth = make_sensing_problem(6, 3, 1, 80, random_state=0)
    >>> res = fit_sensing(G, y, truth.shape, width=10, init_scale=1e-3,
    ...                   learning_rate=2e-3, max_iter=1500, truth=truth.tensor,
    ...                   random_state=0)
    >>> bool(res.history["test_error"][-1] < 1e-3)
    True
    """
    shape = _check_shape(shape, symmetric)
    operator, values = np.asarray(operator, dtype=float), np.asarray(values, dtype=float)
    if rank is None:
        with _host():
            rank = tubal_rank(np.asarray(truth)) if truth is not None else 1
    rng = check_random_state(random_state)
    params = _initial_factors(rng, shape, width, init_scale, symmetric)
    spectral = spectral_tensor(operator, values, shape, symmetric=symmetric)
    record = _metric_recorder(operator, values, truth, rank, spectral)
    stop = _divergence(divergence_threshold, operator, values, truth, shape)
    with _backend.backend_context(_backend.resolve_backend(backend)):
        problem = sensing_problem(
            tuple(_backend.to_backend(p) for p in params),
            _backend.to_backend(operator),
            _backend.to_backend(values),
            shape,
            normalize=normalize,
        )
        result = minimize(
            problem,
            solver=solver,
            learning_rate=learning_rate,
            max_iter=max_iter,
            tol=tol,
            record=record,
            record_every=record_every,
            callback=chain_callbacks(callback, stop),
        )
        factors = [_backend.to_numpy(p) for p in result.view]
    with _host():
        tensor = tp.t_product(factors[0], tp.t_transpose(factors[-1]))
    return Bunch(
        U=factors[0],
        factors=factors,
        tensor=tensor,
        loss_curve=result.loss_curve,
        n_iter=result.n_iter,
        diverged_at=None if stop is None else stop.diverged_at,
        history={key: np.asarray(val) for key, val in result.history.items()},
        history_iter=np.asarray(result.history_iter),
    )
