"""Sampling noise of an empirical moment or cumulant tensor, from the samples.

A moment or cumulant tensor ``T̂`` built from ``n`` samples differs from its
expectation ``T`` by a noise tensor ``E = T̂ - T`` of size ``O(1/sqrt(n))``. A
fitted component ``a u^{⊗l}`` is indistinguishable from noise when ``|a|`` is no
larger than what ``E`` alone can produce along *some* unit direction, because the
fit chooses the direction ``u`` from the same data (a pointwise test along ``u``
would ignore that choice).

The noise is estimated by random half-splits of the rows: with ``T̂_A`` and
``T̂_B`` built the same way from two disjoint halves (re-centered per half for a
cumulant), ``(T̂_A - T̂_B) / 2`` has, to first order, the law of ``E`` (it is the
balanced sign-flip bootstrap of the estimator's influence terms). For each split
the largest ``|<(T̂_A - T̂_B)/2, u^{⊗l}>|`` over unit ``u`` is found by the tensor
power method from several starts; the largest of ``n_splits`` such values is the
noise level. With ``n_splits = 19`` it exceeds the true noise's supremum with
probability about ``1 - 1/20``: a pure-noise component is counted with
probability about 5 %.

The level bounds the noise along every direction at once, so it controls the
chance of counting *any* pure-noise component; the price is power at small
``n`` when the cumulant estimate is heavy-tailed. ``benchmarks/bench_sampling_noise.py``
measures both: the third-cumulant weight of centered exponential sources is
counted in nearly every data set from 1000 samples on, the fourth-cumulant
weight of Laplace sources in about half of them at 500 samples and in all at
5000.

The power method's contractions come from the samples (``O(n d k)`` per step
for ``k`` directions) for few samples, and otherwise from each split's packed
symmetric difference ``(T̂_A - T̂_B)/2`` (``packed_moments.PackedTensor``,
built once per half in ``O(n C(d+l-1, l))``, then ``O(C(d+l-1, l) k)`` per
step), whichever :func:`choose_contractions` estimates cheaper within the
packed memory budget; both give the same values up to rounding. Never a dense
``d^l`` array.
"""

from functools import partial
from typing import NamedTuple

import numpy as np
import tensorly as tl

from .. import _backend
from .packed_moments import MAX_PACKED_ENTRIES, PackedTensor, accumulator_size, packed_size
from .symmetric_cp import sample_target, split_columns, target_contractions

__all__ = [
    "NoiseModel",
    "choose_contractions",
    "half_splits",
    "noise_contractions",
    "noise_level",
    "packed_noise_contractions",
    "weight_errors",
]


class NoiseModel(NamedTuple):
    """Random half-splits of the samples and the noise level they give.

    ``splits`` holds one ``(target_a, target_b)`` pair of sample targets per
    split; ``sups[b]`` is the largest ``|<(T̂_A - T̂_B)/2, u^{⊗l}>|`` found for
    split ``b``; ``level`` is ``max(sups)``.
    """

    splits: list
    sups: np.ndarray
    level: float


def _half_target(X, order, cumulant):
    if cumulant:
        X = X - X.mean(axis=0)
    return sample_target(_backend.to_backend(X), order, cumulant=cumulant)


def half_splits(X, order, *, cumulant, rng, n_splits=19):
    """``n_splits`` random halvings of the rows of ``X`` as pairs of sample targets.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Preprocessed host samples (centered and whitened for a cumulant).
    order : int
    cumulant : bool
        Re-center each half and subtract the Gaussian part as the full target does.
    rng : numpy.random.Generator or RandomState
        Draws the permutations.
    n_splits : int, default=19

    Returns
    -------
    splits : list of (SampleTarget, SampleTarget)
        Targets on the active backend (an empty list for fewer than 4 samples).
    """
    n = X.shape[0]
    if n < 4:
        return []
    half = n // 2
    splits = []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        a, b = np.sort(perm[:half]), np.sort(perm[half : 2 * half])
        splits.append((_half_target(X[a], order, cumulant), _half_target(X[b], order, cumulant)))
    return splits


def noise_contractions(pair, U):
    """``(E(u^{⊗(l-1)}, ·), <E, u^{⊗l}>)`` of ``E = (T̂_A - T̂_B)/2`` for unit columns ``U``."""
    V_a, rho_a = target_contractions(pair[0], U)
    V_b, rho_b = target_contractions(pair[1], U)
    return 0.5 * (V_a - V_b), 0.5 * (rho_a - rho_b)


def packed_noise_contractions(pair):
    """Contraction function of ``E = (T̂_A - T̂_B)/2`` through its packed difference.

    Same values as :func:`noise_contractions` up to rounding: the packed moments
    of the two (already centered) halves, and for order 4 the Gaussian parts
    ``3 Σ⊗Σ`` of each half subtracted per call (``O(d² k)``).
    """
    target_a, target_b = pair
    order = target_a.order
    E = PackedTensor(target_a.X, order).combine(PackedTensor(target_b.X, order), 0.5, -0.5)
    covs = None
    if target_a.covariance is not None:
        covs = (_backend.to_numpy(target_a.covariance), _backend.to_numpy(target_b.covariance))

    def contract(U):
        U = _backend.to_numpy(U)
        V, rho = E.contractions(U)
        if covs is not None:
            for sign, S in zip((1.5, -1.5), covs, strict=True):
                SW = S @ U
                q = np.sum(SW * U, axis=0)
                V, rho = V - sign * SW * q, rho - sign * q**2
        return _backend.to_backend(V), _backend.to_backend(rho)

    return contract


def choose_contractions(n_half, d, order, k, n_iter, *, max_entries=MAX_PACKED_ENTRIES):
    """``"packed"`` or ``"samples"``: the cheaper way to run ``n_iter + 1`` noise contractions.

    Estimates in nanoseconds (numpy, single-threaded OpenBLAS): building the two
    halves' packed moments ``2 n (0.7 C(d+l-1, l) + 2 (lower degrees) + d)`` plus
    ``4 C(d+l-1, l) k + 30 µs d (l - 2)`` per step, against
    ``2 n k (d/2 + 1)`` per step from the samples of both halves.

    Examples
    --------
    >>> choose_contractions(100, 30, 3, 60, 20), choose_contractions(20_000, 30, 3, 60, 20)
    ('samples', 'packed')
    >>> choose_contractions(20_000, 30, 4, 60, 20)  # building C(33, 4) entries per row costs more
    'samples'
    """
    if order < 2 or accumulator_size(d, order) > max_entries:
        return "samples"
    size = packed_size(d, order)
    lower = sum(packed_size(d, j) for j in range(1, order))
    steps = n_iter + 1
    packed_ns = 2 * n_half * (0.7 * size + 2 * lower + d) + steps * (
        4 * (size + lower) * k + 3e4 * d * (order - 2) + 1e5
    )
    sample_ns = steps * 2 * n_half * k * (0.5 * d + 1)
    return "packed" if packed_ns < sample_ns else "samples"


def _largest_contraction(contract, U0, n_iter):
    """Largest ``|<E, u^{⊗l}>|`` reached by the tensor power method from ``U0``'s columns."""
    U = U0
    best = 0.0
    for _ in range(n_iter):
        V, rho = contract(U)
        best = max(best, float(tl.max(tl.abs(rho))))
        _, U = split_columns(V)
    _, rho = contract(U)
    return max(best, float(tl.max(tl.abs(rho))))


def noise_level(splits, rng, *, n_starts=None, n_iter=20, method="auto"):
    """Noise level: the largest, over splits, supremum of the split-half noise.

    Parameters
    ----------
    splits : list of (SampleTarget, SampleTarget)
        From :func:`half_splits`.
    rng : numpy.random.Generator or RandomState
        Draws the power method's starting directions (host side).
    n_starts : int, default=None
        Starting directions per split; ``None``: ``max(8, 2 * n_features)``.
    n_iter : int, default=20
        Power-method steps.
    method : {"auto", "packed", "samples"}, default="auto"
        How the contractions are computed (:func:`choose_contractions` for
        ``"auto"``); the results agree up to rounding.

    Returns
    -------
    noise : NoiseModel

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((4000, 3))
    >>> rng = np.random.default_rng(1)
    >>> noise = noise_level(half_splits(X, 3, cumulant=True, rng=rng), rng)
    >>> 0.02 < noise.level < 0.2  # a few times sqrt(6 / 4000)
    True
    """
    if not splits:
        return NoiseModel([], np.zeros(0), 0.0)
    n_half, d = tl.shape(splits[0][0].X)
    k = max(8, 2 * d) if n_starts is None else int(n_starts)
    if method == "auto":
        method = choose_contractions(n_half, d, splits[0][0].order, k, n_iter)
    if method not in ("packed", "samples"):
        raise ValueError(f"method must be 'auto', 'packed' or 'samples', got {method!r}")
    sups = []
    for pair in splits:
        U0 = rng.standard_normal((d, k))
        U0 = _backend.to_backend(U0 / np.linalg.norm(U0, axis=0))
        if method == "packed":
            contract = packed_noise_contractions(pair)
        else:
            contract = partial(noise_contractions, pair)
        sups.append(_largest_contraction(contract, U0, n_iter))
    sups = np.asarray(sups)
    return NoiseModel(splits, sups, float(sups.max()))


def weight_errors(splits, U):
    """Standard error of ``<T̂, u^{⊗l}>`` along each unit column of ``U`` (host array).

    The root mean square over the splits of ``<(T̂_A - T̂_B)/2, u^{⊗l}>``: a
    pointwise error, for a direction chosen without looking at the data.

    Parameters
    ----------
    splits : list of (SampleTarget, SampleTarget)
    U : array of shape (n_features, k)

    Returns
    -------
    errors : ndarray of shape (k,)
    """
    k = tl.shape(U)[1]
    if not splits or k == 0:
        return np.zeros(k)
    _, U = split_columns(U)
    rho = np.stack([_backend.to_numpy(noise_contractions(pair, U)[1]) for pair in splits])
    return np.sqrt(np.mean(rho**2, axis=0))
