"""Planted-structure generators in scikit-learn style.

Every ``make_*`` function returns ``(X, truth)``: the data an estimator is fitted
on and a :class:`~sklearn.utils.Bunch` with the planted structure. All take a
``random_state``, use no global RNG and return numpy arrays whatever tensorly
backend is active.
"""

import numpy as np
import tensorly as tl
from sklearn.utils import Bunch, check_random_state

from . import _backend
from . import tproduct as tp
from .models.deep_tucker import random_orthonormal

__all__ = [
    "make_ica_mixture",
    "make_low_multilinear_rank",
    "make_symmetric_cp",
    "make_tubal_low_rank",
    "make_tubal_sensing",
]


def _check_positive(name, value):
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _observation_mask(rng, shape, observed_fraction):
    if not 0 < observed_fraction <= 1:
        raise ValueError(f"observed_fraction must be in (0, 1], got {observed_fraction!r}.")
    return rng.random(shape) < observed_fraction


def make_symmetric_cp(
    n_features=10,
    rank=3,
    *,
    order=3,
    weights=None,
    orthogonal=True,
    dense=False,
    random_state=None,
):
    """Symmetric tensor ``sum_k weights[k] * u_k^{⊗order}`` with planted components.

    Parameters
    ----------
    n_features : int, default=10
        Dimension ``d`` of every mode.
    rank : int, default=3
        Number of components.
    order : int, default=3
        Tensor order (>= 2).
    weights : array-like of shape (rank,), default=None
        Component weights (may be negative). Default: ``1, 0.8, 0.8**2, ...``.
    orthogonal : bool, default=True
        Orthonormal components (requires ``rank <= n_features``); otherwise
        independent uniform unit vectors.
    dense : bool, default=False
        Return a dense ``(d,)*order`` array instead of a tensorly ``CPTensor``.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : CPTensor or ndarray
        The target tensor (never materialized unless ``dense=True``).
    truth : Bunch
        ``components`` of shape (rank, n_features) and ``weights``.

    Examples
    --------
    >>> T, truth = make_symmetric_cp(5, 2, order=3, random_state=0)
    >>> truth.components.shape, truth.weights.tolist()
    ((2, 5), [1.0, 0.8])
    """
    _check_positive("n_features", n_features)
    _check_positive("rank", rank)
    if order < 2:
        raise ValueError(f"order must be >= 2, got {order!r}.")
    if orthogonal and rank > n_features:
        raise ValueError(f"orthogonal components need rank <= n_features, got rank={rank}.")
    rng = check_random_state(random_state)
    if weights is None:
        weights = 0.8 ** np.arange(rank)
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (rank,):
        raise ValueError(f"weights must have shape ({rank},), got {weights.shape}.")
    if orthogonal:
        U = random_orthonormal(rng, n_features, rank)
    else:
        U = rng.standard_normal((n_features, rank))
        U /= np.linalg.norm(U, axis=0)
    with _backend.backend_context("numpy"):
        cp = tl.cp_tensor.CPTensor((weights, [U] * order))
        X = tl.cp_to_tensor(cp) if dense else cp
    return X, Bunch(components=U.T.copy(), weights=weights)


def make_ica_mixture(
    n_samples=20000, n_sources=3, n_features=None, *, distribution="exponential", random_state=None
):
    """Independent non-Gaussian sources mixed by an orthonormal matrix.

    The sources have zero mean and unit variance, so the data are white and their
    third (skewed sources) or fourth (all non-Gaussian sources) cumulant is
    orthogonally decomposable with the mixing columns as components.

    Parameters
    ----------
    n_samples : int, default=20000
    n_sources : int, default=3
    n_features : int, default=None
        Observed dimension (>= ``n_sources``); default ``n_sources``.
    distribution : {"exponential", "laplace", "uniform"}, default="exponential"
        Source law: centered exponential (skewness 2, excess kurtosis 6), Laplace
        (excess kurtosis 3) or uniform (excess kurtosis -1.2).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    truth : Bunch
        ``components`` (the mixing columns, shape (n_sources, n_features)) and
        ``sources`` (shape (n_samples, n_sources)).

    Examples
    --------
    >>> X, truth = make_ica_mixture(100, 2, 3, random_state=0)
    >>> X.shape, truth.components.shape
    ((100, 3), (2, 3))
    """
    _check_positive("n_samples", n_samples)
    _check_positive("n_sources", n_sources)
    n_features = n_sources if n_features is None else n_features
    if n_features < n_sources:
        raise ValueError(f"n_features must be >= n_sources, got {n_features} < {n_sources}.")
    rng = check_random_state(random_state)
    size = (n_samples, n_sources)
    if distribution == "exponential":
        S = rng.exponential(size=size) - 1.0
    elif distribution == "laplace":
        S = rng.laplace(scale=1 / np.sqrt(2), size=size)
    elif distribution == "uniform":
        S = rng.uniform(-np.sqrt(3), np.sqrt(3), size=size)
    else:
        raise ValueError(
            f"distribution must be 'exponential', 'laplace' or 'uniform', got {distribution!r}."
        )
    A = random_orthonormal(rng, n_features, n_sources)
    return S @ A.T, Bunch(components=A.T.copy(), sources=S)


def make_tubal_low_rank(
    shape=(30, 30, 8),
    rank=3,
    *,
    symmetric=False,
    observed_fraction=1.0,
    noise=0.0,
    random_state=None,
):
    """Third-order tensor of tubal rank ``rank``, optionally with missing entries.

    ``X = A * B^T`` (t-product, tubes along the last axis) with Gaussian
    ``A`` of shape (n1, rank, k) and ``B`` of shape (n2, rank, k), scaled to unit
    mean square; ``symmetric=True`` uses ``B = A`` (requires ``n1 == n2``).

    Parameters
    ----------
    shape : tuple of 3 int, default=(30, 30, 8)
    rank : int, default=3
    symmetric : bool, default=False
    observed_fraction : float, default=1.0
        Each entry is observed independently with this probability; the others
        are ``NaN`` in ``X``.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the observed entries.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape ``shape``
    truth : Bunch
        ``tensor`` (the full noiseless tensor), ``A``, ``B``, ``mask``.

    Examples
    --------
    >>> X, truth = make_tubal_low_rank((6, 5, 4), 2, observed_fraction=0.5, random_state=0)
    >>> X.shape, bool(np.isnan(X).any())
    ((6, 5, 4), True)
    """
    n1, n2, k = shape
    _check_positive("rank", rank)
    if symmetric and n1 != n2:
        raise ValueError(f"symmetric=True needs shape[0] == shape[1], got {shape}.")
    rng = check_random_state(random_state)
    A = rng.standard_normal((n1, rank, k))
    B = A if symmetric else rng.standard_normal((n2, rank, k))
    with _backend.backend_context("numpy"):
        full = tp.t_product(A, tp.t_transpose(B))
    scale = np.sqrt(np.mean(full**2))
    full, A, B = full / scale, A / np.sqrt(scale), B / np.sqrt(scale)
    mask = _observation_mask(rng, shape, observed_fraction)
    X = np.where(mask, full + noise * rng.standard_normal(shape), np.nan)
    return X, Bunch(tensor=full, A=A, B=B, mask=mask)


def make_low_multilinear_rank(
    shape=(20, 20, 20), ranks=(3, 3, 3), *, observed_fraction=1.0, noise=0.0, random_state=None
):
    """Tensor of planted multilinear rank, optionally with missing entries.

    ``X = G ×_1 U_1 ×_2 U_2 ...`` with Gaussian core ``G`` of shape ``ranks``
    and orthonormal factors, scaled to unit mean square.

    Parameters
    ----------
    shape : tuple of int, default=(20, 20, 20)
    ranks : tuple of int, default=(3, 3, 3)
    observed_fraction : float, default=1.0
        Each entry is observed independently with this probability; the others
        are ``NaN``.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the observed entries.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape ``shape``
    truth : Bunch
        ``tensor`` (full, noiseless), ``core``, ``factors``, ``mask``.

    Examples
    --------
    >>> X, truth = make_low_multilinear_rank((5, 6, 7), (2, 2, 2), random_state=0)
    >>> X.shape, truth.core.shape
    ((5, 6, 7), (2, 2, 2))
    """
    shape, ranks = tuple(shape), tuple(ranks)
    if len(shape) != len(ranks) or any(r > n or r < 1 for r, n in zip(ranks, shape, strict=True)):
        raise ValueError(f"ranks must satisfy 1 <= ranks[i] <= shape[i], got {ranks} for {shape}.")
    rng = check_random_state(random_state)
    # Not tensorly.random.random_tucker: its core is uniform on [0, 1) and its factors
    # are QR factors of uniform matrices, neither Gaussian nor Haar-distributed.
    core = rng.standard_normal(ranks)
    factors = [random_orthonormal(rng, n, r) for n, r in zip(shape, ranks, strict=True)]
    with _backend.backend_context("numpy"):
        full = tl.tucker_to_tensor((core, factors))
    scale = np.sqrt(np.mean(full**2))
    full, core = full / scale, core / scale
    mask = _observation_mask(rng, shape, observed_fraction)
    X = np.where(mask, full + noise * rng.standard_normal(shape), np.nan)
    return X, Bunch(tensor=full, core=core, factors=factors, mask=mask)


def _orthonormal_tubes(rng, n, rank, k):
    """The ``rank`` left singular tubes of a Gaussian ``(n, rank, k)`` tensor (``Q^T * Q = I``)."""
    with _backend.backend_context("numpy"):
        return tp.t_svd(rng.standard_normal((n, rank, k)), rank=rank).U


def _check_sensing_options(shape, rank, n_measurements, symmetric, symmetric_measurements):
    if len(shape) != 3:
        raise ValueError(f"shape must be (n1, n2, k), got {shape!r}.")
    for name, value in zip(("shape[0]", "shape[1]", "shape[2]"), shape, strict=True):
        _check_positive(name, value)
    _check_positive("rank", rank)
    _check_positive("n_measurements", n_measurements)
    if rank > min(shape[:2]):
        raise ValueError(f"rank must be <= min(shape[0], shape[1]), got rank={rank} for {shape}.")
    if (symmetric or symmetric_measurements) and shape[0] != shape[1]:
        raise ValueError(
            f"symmetric truths and symmetric_measurements need shape[0] == shape[1], got {shape}."
        )


def make_tubal_sensing(
    shape=(10, 10, 4),
    rank=2,
    n_measurements=254,
    *,
    symmetric=True,
    symmetric_measurements=False,
    condition_number=1.0,
    noise=0.0,
    random_state=None,
):
    """Gaussian linear measurements of a planted low-tubal-rank tensor (tensor sensing).

    The truth is ``X* = L * S * R^T`` (t-product, tubes along the last axis) with
    ``L``, ``R`` the orthonormal left singular tubes of Gaussian tensors and ``S``
    f-diagonal with the same singular values ``s_1 = 1 > ... > s_r = 1 /
    condition_number`` (geometric) in every Fourier slice; ``symmetric=True`` uses
    ``R = L``. With ``condition_number=1`` and ``symmetric=True`` it is the
    t-projector ``V * V^T`` of Karnik, Veselovska, Iwen and Krahmer (ICML 2025).
    The measurements are ``y_j = <G_j, X*> + noise * e_j`` with i.i.d. standard
    Gaussian ``G_j`` (or ``G_j = Z_j + Z_j^T``, t-transpose, with
    ``symmetric_measurements=True``) and ``e_j``.

    Parameters
    ----------
    shape : tuple (n1, n2, k), default=(10, 10, 4)
    rank : int, default=2
        Tubal rank ``r`` of the truth.
    n_measurements : int, default=254
        ``m`` (254 in the paper's Figure 2, 285 in Figures 3-4).
    symmetric : bool, default=True
        Symmetric truth ``L * S * L^T`` (needs ``n1 == n2``).
    symmetric_measurements : bool, default=False
        t-symmetric measurement tensors ``Z_j + Z_j^T`` (needs ``n1 == n2``).
    condition_number : float, default=1.0
        ``s_1 / s_r`` (>= 1).
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the measurements.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_measurements, n1 * n2 * k)
        Rows ``vec(G_j)`` (C order of ``shape``): the measurement operator.
    y : ndarray of shape (n_measurements,)
        The (noisy) measurements.
    truth : Bunch
        ``tensor`` (``X*``), ``left`` and ``right`` (``L`` and ``R``, shapes
        (n1, r, k) and (n2, r, k)), ``singular_values`` (shape (r,)),
        ``noiseless`` (``G vec(X*)``) and ``shape``.

    Examples
    --------
    >>> X, y, truth = make_tubal_sensing((6, 5, 3), 2, 80, symmetric=False,
    ...                                  condition_number=10, random_state=0)
    >>> X.shape, y.shape, truth.tensor.shape, truth.singular_values.tolist()
    ((80, 90), (80,), (6, 5, 3), [1.0, 0.1])
    """
    shape = tuple(int(s) for s in shape)
    _check_sensing_options(shape, rank, n_measurements, symmetric, symmetric_measurements)
    if not condition_number >= 1:
        raise ValueError(f"condition_number must be >= 1, got {condition_number!r}.")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    rng = check_random_state(random_state)
    n1, n2, k = shape
    values = float(condition_number) ** (-np.arange(rank) / max(rank - 1, 1))
    L = _orthonormal_tubes(rng, n1, rank, k)
    R = L if symmetric else _orthonormal_tubes(rng, n2, rank, k)
    with _backend.backend_context("numpy"):
        X = tp.t_product(L * values[None, :, None], tp.t_transpose(R))
        G = rng.standard_normal((n_measurements, *shape))
        if symmetric_measurements:
            G = G + np.stack([tp.t_transpose(Z) for Z in G])
    G = G.reshape(n_measurements, -1)
    clean = G @ X.reshape(-1)
    y = clean + noise * rng.standard_normal(n_measurements) if noise > 0 else clean
    truth = Bunch(tensor=X, left=L, right=R, singular_values=values, noiseless=clean, shape=shape)
    return G, y, truth
