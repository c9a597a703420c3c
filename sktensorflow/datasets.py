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
