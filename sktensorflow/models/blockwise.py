"""Symmetric moment and cumulant targets of samples held in a chunked array (dask).

A target built from samples is an average over the samples, so every quantity
the symmetric CP fit needs — the contractions ``T*(w^{⊗(l-1)}, ·)`` and
``<T*, w^{⊗l}>``, ``||T*||²``, the mean and the covariance — is a sum over
row chunks of what each chunk contributes. :func:`blockwise_sum` maps a
per-chunk function over the chunks of a ``dask.array`` and adds the results
in a tree; dask's scheduler runs it (threads, processes, or the workers of a
``dask.distributed`` cluster when a ``Client`` is active), and memory is one
chunk per running task plus the (small) results.

:class:`ChunkedTarget` contracts in one of two ways:

- ``"packed"`` (sufficient statistic): one pass accumulates the packed moment
  (:mod:`.packed_moments`, ``C(d+l-1, l)`` distinct entries), from which
  ``||T*||²`` and every later contraction follow without touching the data
  again, in ``O(C(d+l-1, l) m)`` per gradient for ``m`` columns. It applies
  when the accumulator fits ``packed_moments.MAX_PACKED_ENTRIES``
  (e.g. ``d <= 230`` for order 3, ``d <= 80`` for order 4) and pays off once
  ``n`` is large against ``C(d+l-1, l) / d`` — always at the sizes where data
  outgrow memory. The pass costs about ``C(d+l-2, l-1) d`` flops per row.
- ``"passes"`` (streaming gradient): every contraction is one pass over the
  data, ``O(n d m)``, for any ``d`` and order. ``||T*||²`` then comes from
  Gram tiles of pairs of chunks, ``O(n² d)``: affordable for moderate ``n``
  only.

``"auto"`` takes ``"packed"`` whenever it fits the budget. Rows are
preprocessed per chunk (:func:`preprocess`) exactly as the in-memory path
does, so both give the same target up to the order of summation.
"""

from typing import NamedTuple

import numpy as np

from .. import _backend
from .packed_moments import MAX_PACKED_ENTRIES, PackedTensor, accumulate, accumulator_size
from .packed_moments import int_power as _int_power

__all__ = [
    "ChunkedTarget",
    "packed_sample_target",
    "Prep",
    "blockwise_sum",
    "column_sums",
    "inverse_sqrt",
    "preprocess",
    "scatter",
]

#: Rows of one Gram tile in the ``"passes"`` norm (memory ``_TILE²`` floats).
_TILE = 1024


class Prep(NamedTuple):
    """Per-chunk preprocessing: ``(x 2**-x_exp - mean) @ whitening``.

    ``mean=None`` skips the centering and ``whitening=None`` the product (both
    are exact no-ops in the in-memory path: a zero mean and the identity).
    """

    x_exp: int
    mean: object = None
    whitening: object = None


def preprocess(block, prep):
    """Rows of ``block`` (host array) as the fit sees them, float64."""
    X = np.ldexp(np.asarray(block, dtype=np.float64), -prep.x_exp)  # a new array
    if prep.mean is not None:
        X -= prep.mean
    if prep.whitening is not None:
        X = X @ prep.whitening
    return X


def inverse_sqrt(C, rcond=1e-12):
    """Symmetric ``C^{-1/2}`` on the eigenvalues above ``rcond`` times the largest (0 below)."""
    eigval, eigvec = np.linalg.eigh(C)
    keep = eigval > eigval.max() * rcond
    inv_sqrt = np.zeros_like(eigval)
    inv_sqrt[keep] = 1.0 / np.sqrt(eigval[keep])
    return eigvec * inv_sqrt @ eigvec.T


def _add(a, b):
    """Entry-wise sum of two (nested) tuples of arrays or numbers."""
    if isinstance(a, tuple):
        return tuple(_add(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def blockwise_sum(X, func, *args):
    """``sum_c func(chunk_c, *args)`` over the row chunks of a dask array, computed by dask.

    ``func`` returns a tuple of arrays or numbers; the tuples are added entry by
    entry in a binary tree. ``func`` and ``args`` must be picklable for a
    distributed scheduler (module-level functions and numpy arrays are).
    """
    import dask

    parts = [dask.delayed(func, pure=True)(b, *args) for b in X.to_delayed().ravel()]
    while len(parts) > 1:
        pairs = zip(parts[0::2], parts[1::2], strict=False)
        odd = parts[-1:] if len(parts) % 2 else []
        parts = [dask.delayed(_add, pure=True)(a, b) for a, b in pairs] + odd
    return dask.compute(parts[0])[0]


# -- per-chunk functions (module level: they travel to distributed workers) --------------
def _contract_chunk(block, prep, U, order):
    X = preprocess(block, prep)
    P = X @ U
    Pl = _int_power(P, order - 1)
    return X.T @ Pl, np.sum(Pl * P, axis=0)


def _packed_chunk(block, prep, order, covariance):
    X = preprocess(block, prep)
    with _backend.backend_context("numpy"):
        sums = tuple(accumulate(X, order))
    quad = 0.0 if covariance is None else np.sum(np.sum((X @ covariance) * X, axis=1) ** 2)
    return sums, quad


def _gram_pair(block_a, block_b, prep, order, weight):
    A, B = preprocess(block_a, prep), preprocess(block_b, prep)
    total = 0.0
    for i in range(0, A.shape[0], _TILE):
        for j in range(0, B.shape[0], _TILE):
            K = A[i : i + _TILE] @ B[j : j + _TILE].T
            total += float(np.sum(_int_power(K, order)))
    return (weight * total,)


def _quad_chunk(block, prep, covariance):
    X = preprocess(block, prep)
    return (np.sum(np.sum((X @ covariance) * X, axis=1) ** 2),)


class ChunkedTarget:
    """Moment ``(1/n) sum_s x_s^{⊗order}`` (minus the Gaussian part) of chunked rows.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Raw rows, one chunk along the features.
    prep : Prep
        Their preprocessing (normalization, centering, whitening).
    order : int
    covariance : ndarray of shape (n_features, n_features) or None
        Of the preprocessed rows, for the order-4 cumulant (``None`` otherwise).
    method : {"auto", "packed", "passes"}, default="auto"
        See the module docstring; the results agree up to rounding.

    Attributes
    ----------
    method : str
        ``"packed"`` or ``"passes"``.
    norm_sq : float
        ``||T*||_F²``, computed at construction.
    """

    def __init__(self, X, prep, order, covariance=None, *, method="auto"):
        if method not in ("auto", "packed", "passes"):
            raise ValueError(f"method must be 'auto', 'packed' or 'passes', got {method!r}.")
        self.X, self.prep, self.order, self.covariance = X, prep, int(order), covariance
        self.n, d = X.shape
        fits = accumulator_size(d, self.order) <= MAX_PACKED_ENTRIES
        self.method = ("packed" if fits else "passes") if method == "auto" else method
        self.packed = None
        if self.method == "packed":
            sums, quad = blockwise_sum(X, _packed_chunk, prep, self.order, covariance)
            self.packed = PackedTensor.from_sums(sums, self.n, d, self.order)
            moment_sq = _packed_norm_sq(self.packed, sums, self.n)
        else:
            moment_sq = self._gram_norm_sq()
            quad = 0.0
            if covariance is not None:
                quad = blockwise_sum(X, _quad_chunk, prep, covariance)[0]
        self.norm_sq = moment_sq + self._gaussian_norm_terms(quad)

    @classmethod
    def from_sums(cls, sums, n, d, order, covariance=None, quad=0.0):
        """The target of ``n`` rows from their packed sums alone (no data; ``"packed"``).

        ``sums`` are what :func:`~sktensorflow.models.packed_moments.accumulate`
        returns for the (preprocessed) rows, or the sum of what it returns for
        batches of them, as ``partial_fit`` accumulates them. For an order-4
        cumulant, ``covariance`` is the rows' and ``quad`` their
        ``sum_s (x_s^T Σ x_s)²`` (the Gaussian part's cross term).
        """
        out = object.__new__(cls)
        out.X, out.prep, out.order, out.covariance = None, None, int(order), covariance
        out.n, out.method = int(n), "packed"
        out.packed = PackedTensor.from_sums(sums, out.n, d, out.order)
        out.norm_sq = _packed_norm_sq(out.packed, sums, out.n) + out._gaussian_norm_terms(quad)
        return out

    def _gram_norm_sq(self):
        """``(1/n²) sum_{s,t} (x_s·x_t)^l`` over pairs of chunks (on and above the diagonal)."""
        import dask

        blocks = self.X.to_delayed().ravel()
        parts = [
            dask.delayed(_gram_pair, pure=True)(
                blocks[i], blocks[j], self.prep, self.order, 1.0 if i == j else 2.0
            )
            for i in range(len(blocks))
            for j in range(i, len(blocks))
        ]
        return float(sum(p[0] for p in dask.compute(*parts))) / self.n**2

    def _gaussian_norm_terms(self, quad):
        """What subtracting ``3 Σ⊗Σ`` (symmetrized) adds to ``||M||²`` (0 without it)."""
        S = self.covariance
        if S is None:
            return 0.0
        S2 = S @ S
        return (
            -6.0 * float(quad) / self.n
            + 3.0 * float(np.sum(S * S)) ** 2
            + 6.0 * float(np.sum(S2 * S2))
        )

    def contractions(self, Wbar):
        """``(T*(wbar_j^{⊗(l-1)}, ·), <T*, wbar_j^{⊗l}>)`` for the columns of ``Wbar``.

        ``Wbar`` is a backend array; the results are on the active backend.
        """
        U = np.array(_backend.to_numpy(Wbar), dtype=np.float64)
        if self.packed is not None:
            V, rho = self.packed.contractions(U)
        else:
            V, rho = blockwise_sum(self.X, _contract_chunk, self.prep, U, self.order)
            V, rho = V / self.n, rho / self.n
        if self.covariance is not None:
            SW = self.covariance @ U
            q = np.sum(SW * U, axis=0)
            V, rho = V - 3.0 * SW * q, rho - 3.0 * q**2
        return _backend.to_backend(V), _backend.to_backend(rho)


def packed_sample_target(X, order, covariance=None):
    """The packed target of in-memory rows ``X`` (host array), as :class:`ChunkedTarget`.

    The same tensor as :func:`~sktensorflow.models.symmetric_cp.sample_target`
    (``covariance``: the rows' covariance, for an order-4 cumulant), held as
    its packed moment: contractions then cost ``O(C(d+l-1, l) k)`` instead
    of ``O(n d k)``.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    with _backend.backend_context("numpy"):
        sums = tuple(accumulate(X, order))
    quad = 0.0
    if covariance is not None:
        covariance = np.asarray(_backend.to_numpy(covariance), dtype=np.float64)
        quad = float(np.sum(np.sum((X @ covariance) * X, axis=1) ** 2))
    return ChunkedTarget.from_sums(sums, n, d, order, covariance, quad)


def _packed_norm_sq(packed, sums, n):
    """``||M||_F²`` of the packed moment ``M`` of ``n`` rows whose unweighted sums are ``sums``."""
    total = sum(
        float(np.sum(G * _backend.to_numpy(a))) for G, a in zip(packed.weighted, sums, strict=True)
    )
    return total / n


def _sum_chunk(block, prep):
    return (np.sum(preprocess(block, prep), axis=0),)


def _scatter_chunk(block, prep):
    X = preprocess(block, prep)
    return (X.T @ X,)


def column_sums(X, prep):
    """``sum_s x_s`` of the preprocessed rows of a chunked ``X``, shape ``(n_features,)``."""
    return blockwise_sum(X, _sum_chunk, prep)[0]


def scatter(X, prep):
    """``sum_s x_s x_sᵀ`` of the preprocessed rows of a chunked ``X``."""
    return blockwise_sum(X, _scatter_chunk, prep)[0]
