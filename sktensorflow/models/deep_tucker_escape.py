"""Saddle escape for the deep Tucker model: an unexplained direction of the residual.

With a small start the gradient flow fits the multilinear structure one
direction at a time; between two directions it crosses a plateau on which the
small core slices grow so slowly that the loop's ``tol`` test passes. At such a
point the residual on the observed entries still holds a component the model
would count. :func:`unexplained_direction` looks for it with a few power steps
(top singular vectors of the residual's unfoldings, refined by higher-order
power iterations), and :func:`reseed` puts the smallest core slice of every mode
and its factor column along it, so that the loop continues from there.
"""

import math

import numpy as np
import tensorly as tl

__all__ = [
    "MAX_SHARE",
    "NOISE_MARGIN",
    "POWER_STEPS",
    "SEED_SHARE",
    "reseed",
    "stands_out",
    "unexplained_direction",
]

#: How many times the top singular value's share of a residual unfolding's energy
#: must exceed the share of an unstructured (i.i.d.) residual of the same shape
#: (the Marchenko-Pastur edge), capped at ``MAX_SHARE`` for tiny unfoldings.
NOISE_MARGIN = 1.4
MAX_SHARE = 0.9
#: Higher-order power iterations refining the rank-one direction.
POWER_STEPS = 3
#: Amplitude of the re-seeded rank-one term, as a share of the residual's along it.
SEED_SHARE = 0.25


def _top_left_vector(A):
    """Top singular value and left singular vector of ``A`` (host), from the short side."""
    if A.shape[0] <= A.shape[1]:
        vals, vecs = np.linalg.eigh(A @ A.T)
        return math.sqrt(max(vals[-1], 0.0)), vecs[:, -1]
    vals, vecs = np.linalg.eigh(A.T @ A)
    sigma = math.sqrt(max(vals[-1], 0.0))
    u = A @ vecs[:, -1]
    return sigma, u / max(np.linalg.norm(u), np.finfo(float).tiny)


def _structured(E):
    """Per-mode top left singular vectors of ``E``, or ``None`` if ``E`` looks unstructured."""
    vectors, structured = [], False
    total = float(np.sum(E * E))
    if total == 0.0:
        return None
    for mode in range(E.ndim):
        A = tl.unfold(E, mode)
        sigma, u = _top_left_vector(A)
        structured |= stands_out(sigma, tl.shape(A), total)
        vectors.append(u)
    return vectors if structured else None


def stands_out(sigma, shape, total):
    """Whether the top singular value ``sigma`` of an unfolding of ``shape`` exceeds noise.

    Noise of energy ``total`` spread over an ``n x m`` unfolding has a top
    singular value of about ``sqrt(total) (sqrt(n) + sqrt(m)) / sqrt(n m)``;
    ``sigma²`` must exceed ``NOISE_MARGIN`` times that share of ``total``
    (capped at ``MAX_SHARE`` of it).
    """
    n, m = shape
    noise_share = (math.sqrt(n) + math.sqrt(m)) ** 2 / (n * m)
    return sigma**2 >= min(NOISE_MARGIN * noise_share, MAX_SHARE) * total


def _contract_except(E, vectors, skip):
    T = E
    for mode in range(E.ndim - 1, -1, -1):
        if mode != skip:
            T = np.tensordot(T, vectors[mode], axes=([mode], [0]))
    return T


def unexplained_direction(E, model_scale, rank_tol):
    """The rank-one direction of a residual that the model would count, if any (host).

    Parameters
    ----------
    E : ndarray
        Estimate of the full residual ``target - model`` (the observed residual
        divided by the observed fraction).
    model_scale : float
        Largest singular value of the model's unfoldings.
    rank_tol : float
        A direction counts if its amplitude is at least ``rank_tol * model_scale``
        (the rule of the multilinear rank) and its unfoldings' top singular
        value stands out of an unstructured residual's (``NOISE_MARGIN``).

    Returns
    -------
    direction : tuple ``(vectors, amplitude)`` or None
        Unit vectors, one per mode, and the signed amplitude ``<E, u_0 ∘ u_1 ∘ ...>``.

    Examples
    --------
    >>> u, v = np.eye(4)[0], np.eye(3)[1]
    >>> vectors, amplitude = unexplained_direction(2 * np.outer(u, v), 1.0, 1e-2)
    >>> round(abs(amplitude), 6)
    2.0
    """
    vectors = _structured(E)
    if vectors is None:
        return None
    for _ in range(POWER_STEPS):
        for mode in range(E.ndim):
            v = _contract_except(E, vectors, mode)
            norm = np.linalg.norm(v)
            if norm == 0.0:
                return None
            vectors[mode] = v / norm
    amplitude = float(np.dot(_contract_except(E, vectors, 0), vectors[0]))
    if abs(amplitude) <= rank_tol * model_scale:
        return None
    return vectors, amplitude


def reseed(params, vectors, amplitude):
    """Depth-1 Tucker parameters with the smallest core slice of each mode along a direction.

    In every mode ``k`` the core slice of smallest norm ``j_k`` is zeroed, the
    factor column ``j_k`` is set to ``c u_k`` and the core entry
    ``(j_0, j_1, ...)`` to ``± c``, with ``c^(N+1) = SEED_SHARE * |amplitude|``
    (balanced: core slice and column have the same norm). Host arrays in and out.

    Examples
    --------
    >>> G, U, V = np.ones((2, 2)), np.ones((3, 2)), np.ones((2, 2))
    >>> G[1] = G[:, 1] = 1e-3
    >>> new = reseed((G, U, V), [np.eye(3)[2], np.eye(2)[0]], 4.0)
    >>> float(new[0][1, 1]), float(new[1][2, 1])
    (1.0, 1.0)
    """
    G, factors = np.array(params[0]), [np.array(U) for U in params[1:]]
    c = (SEED_SHARE * abs(amplitude)) ** (1.0 / (G.ndim + 1))
    index = []
    for mode in range(G.ndim):
        j = int(np.argmin(np.linalg.norm(tl.unfold(G, mode), axis=1)))
        index.append(j)
        G[(slice(None),) * mode + (j,)] = 0.0
        factors[mode][:, j] = c * vectors[mode]
    G[tuple(index)] = math.copysign(c, amplitude)
    return (G, *factors)
