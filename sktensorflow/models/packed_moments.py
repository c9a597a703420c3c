"""Squared Frobenius norm of an empirical moment tensor, linear in the samples.

For rows ``x_s`` of ``X`` (``n × d``) and order ``l``, the moment tensor
``M = (1/n) sum_s x_s^{⊗l}`` has

    ||M||² = (1/n²) sum_{s,t} (x_s·x_t)^l        (Gram form, O(n² d))
           = sum_α mult(α) M_α²                  (packed form, O(n · C(d+l-1, l)))

where ``α`` runs over the ``C(d+l-1, l)`` sorted index tuples ``i_1 <= ... <= i_l``
and ``mult(α) = l! / prod_i (count of i in α)!`` counts its permutations.

The packed form is accumulated over chunks of rows. Per chunk the monomials
of degree ``l - 1`` are built with their indices sorted, grouped by their last
index, so those whose last index is at most ``j`` form the leading rows of a
``C(d+l-2, l-1) × chunk`` array; the degree-``l`` entries ``M_(a, k)`` with
``k >= last(a)`` are then one matrix product per block of columns ``k`` of
``X``. Memory is the packed moment (plus a few redundant entries inside each
column block) and one chunk of monomials, never a dense ``d^l`` array nor an
``n × n`` matrix.

:func:`moment_norm_sq` chooses, per call, whichever form is estimated to be
cheaper, and falls back to the Gram form (computed in ``block × block`` tiles)
when the packed moment would exceed a memory budget.
"""

from math import comb

import numpy as np
import tensorly as tl

from .. import _backend

__all__ = [
    "accumulate",
    "accumulator_size",
    "choose_method",
    "gram_moment_norm_sq",
    "int_power",
    "moment_norm_sq",
    "packed_moment_norm_sq",
    "packed_size",
]

#: Largest packed accumulator (float entries) :func:`moment_norm_sq` allows: 32 MiB
#: (the final weighting briefly holds two more copies of one column block).
MAX_PACKED_ENTRIES = 2**22
#: Float entries of per-chunk monomials the packed form allocates at once: 2 MiB.
CHUNK_ENTRIES = 2**18
#: Column blocks of ``X`` in the packed form's last contraction (fewer: more redundant entries).
_N_BLOCKS = 8


def int_power(A, exponent):
    """``A ** exponent`` for an integer ``exponent >= 1`` by repeated multiplication.

    numpy's generic ``pow`` is tens of times slower than multiplication for
    exponents other than 2, and these powers dominate the sample-path cost.

    Examples
    --------
    >>> import numpy as np
    >>> int_power(np.array([2.0, -3.0]), 3).tolist()
    [8.0, -27.0]
    """
    result, base, exponent = None, A, int(exponent)
    while exponent:
        if exponent & 1:
            result = base if result is None else result * base
        exponent >>= 1
        if exponent:
            base = base * base
    return result


def packed_size(d, order):
    """Number ``C(d + order - 1, order)`` of distinct entries of a symmetric tensor.

    Examples
    --------
    >>> packed_size(30, 3), packed_size(30, 4)
    (4960, 40920)
    """
    return comb(d + order - 1, order)


def _column_blocks(d, n_blocks):
    """Split ``range(d)`` into at most ``n_blocks`` contiguous ``(start, stop)`` blocks."""
    edges = np.unique(np.linspace(0, d, min(d, n_blocks) + 1).round().astype(int))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def accumulator_size(d, order, n_blocks=_N_BLOCKS):
    """Float entries the packed form accumulates: the packed moment plus block redundancy.

    Column block ``[start, stop)`` holds the ``C(stop + order - 2, order - 1)``
    monomials of degree ``order - 1`` on the first ``stop`` indices times its
    ``stop - start`` columns (at most about 1.25 times :func:`packed_size`).

    Examples
    --------
    >>> packed_size(30, 4), accumulator_size(30, 4)
    (40920, 48474)
    """
    if order < 2:
        return d
    return sum(
        comb(stop + order - 2, order - 1) * (stop - start)
        for start, stop in _column_blocks(d, n_blocks)
    )


def _layout(d, order):
    """Host bookkeeping of the degree-``(order - 1)`` monomials, grouped by last index.

    Returns
    -------
    ends : list of ndarray
        ``ends[k][j]``: number of degree-``(k + 1)`` monomials whose last index is at
        most ``j`` (they are the leading rows of that degree's monomials).
    last, run, mult : ndarray of shape (C(d + order - 2, order - 1),)
        Last index of each degree-``(order - 1)`` monomial, how many times it repeats at
        the end of the sorted tuple, and the tuple's number of permutations.
    """
    last, run, mult = np.arange(d), np.ones(d, int), np.ones(d)
    ends = [np.arange(1, d + 1)]
    for degree in range(2, order):
        parents = [np.arange(ends[-1][j]) for j in range(d)]
        new_last = np.concatenate([np.full(p.size, j) for j, p in enumerate(parents)])
        p_all = np.concatenate(parents)
        run = np.where(last[p_all] == new_last, run[p_all] + 1, 1)
        mult = mult[p_all] * degree / run
        last = new_last
        ends.append(np.cumsum([p.size for p in parents]))
    return ends, last, run, mult


def _block_weights(last, run, mult, order, start, stop, rows):
    """``mult`` of entry ``(a, k)`` of a column block, 0 where ``k < last(a)`` (duplicates)."""
    k = np.arange(start, stop)[None, :]
    a_last, a_run = last[:rows, None], run[:rows, None]
    repeats = np.where(a_last == k, a_run + 1, 1)
    return np.where(a_last <= k, mult[:rows, None] * order / repeats, 0.0)


def _monomials(XT, ends):
    """Degree-``len(ends)`` monomials of the columns of ``XT`` (``d × rows``), one per row.

    The result has one row per sorted index tuple, grouped by last index.
    """
    Q = XT
    for prev in ends[:-1]:
        Q = tl.concatenate([Q[: int(prev[j])] * XT[j] for j in range(tl.shape(XT)[0])], axis=0)
    return Q


def packed_moment_norm_sq(X, order, *, chunk_entries=CHUNK_ENTRIES, n_blocks=_N_BLOCKS):
    """``||(1/n) sum_s x_s^{⊗order}||_F²`` from the packed moment, ``O(n C(d+l-1, l))``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Backend array.
    order : int
        At least 1.
    chunk_entries : int, default=CHUNK_ENTRIES
        Budget (float entries) for one chunk's monomials; sets the rows per chunk.
    n_blocks : int, default=8
        Column blocks of ``X`` in the last contraction: more blocks compute fewer
        redundant entries ``(a, k)`` with ``k < last(a)``, in smaller products.

    Returns
    -------
    norm_sq : float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> round(packed_moment_norm_sq(X, 3), 12)  # 1² + 3·0.5² + 3·0.5² + 0.5²
    2.75
    """
    n, d = tl.shape(X)
    if order == 1:
        return float(tl.sum(tl.sum(X, axis=0) ** 2)) / n**2
    acc = accumulate(X, order, chunk_entries, n_blocks)
    _, last, run, mult = _layout(d, order)
    total = 0.0
    for (start, stop), block in zip(_column_blocks(d, n_blocks), acc, strict=True):
        weights = _block_weights(last, run, mult, order, start, stop, tl.shape(block)[0])
        total += float(np.sum(weights * _backend.to_numpy(block) ** 2))
    return total / n**2


def accumulate(X, order, chunk_entries=CHUNK_ENTRIES, n_blocks=_N_BLOCKS):
    """Unweighted column blocks ``sum_s Q_a(x_s) x_sk`` of the packed form (backend arrays).

    Additive over rows: the sums of two sets of rows add up to the sums of their union.
    """
    n, d = tl.shape(X)
    ends = _layout(d, order)[0]
    blocks = _column_blocks(d, n_blocks)
    rows = [int(ends[-1][stop - 1]) for _, stop in blocks]
    step = _rows_per_chunk(d, order, chunk_entries)
    acc = [0.0] * len(blocks)
    for s in range(0, n, step):
        Xc = X[s : s + step]
        Q = _monomials(tl.transpose(Xc), ends)
        for b, (start, stop) in enumerate(blocks):
            acc[b] = acc[b] + tl.matmul(Q[: rows[b]], Xc[:, start:stop])
    return acc


def gram_moment_norm_sq(X, order, *, block=1024):
    """``||(1/n) sum_s x_s^{⊗order}||_F²`` from the Gram matrix, ``O(n² d)`` time.

    The Gram matrix is formed one ``block × block`` tile at a time (memory
    ``O(block²)``); only the tiles on and above the diagonal are computed.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> round(gram_moment_norm_sq(X, 3, block=1), 12)  # (1 + 1 + 1 + 2³) / 2²
    2.75
    """
    n = tl.shape(X)[0]
    total = 0.0
    for i in range(0, n, block):
        Xi = X[i : i + block]
        for j in range(i, n, block):
            K = tl.matmul(Xi, tl.transpose(X[j : j + block]))
            # The Gram matrix is symmetric: off-diagonal tiles count twice.
            total += (1.0 if i == j else 2.0) * float(tl.sum(int_power(K, order)))
    return total / (n * n)


def _rows_per_chunk(d, order, chunk_entries=CHUNK_ENTRIES):
    """Rows per chunk so that one chunk's monomials of degrees ``1 .. order-1`` fit the budget."""
    return max(1, chunk_entries // (sum(packed_size(d, k) for k in range(1, order)) + d))


def choose_method(n, d, order, *, max_entries=MAX_PACKED_ENTRIES):
    """``"packed"`` or ``"gram"``: the cheaper form for ``n`` rows, within the memory budget.

    The estimates (in nanoseconds, measured with numpy and single-threaded
    OpenBLAS) are ``n²/2 (30 + d/2)`` for the Gram tiles and
    ``n (3 C(d+l-1, l) + 10 (lower-degree monomials) + 5 d)`` for the packed
    form, plus 2 µs per array operation of its chunk loop and 1 ms of setup.
    Only their ratio matters, and only near the crossover, where both are cheap.

    Examples
    --------
    >>> choose_method(100, 30, 3), choose_method(100_000, 30, 3)
    ('gram', 'packed')
    >>> choose_method(100_000, 30, 4, max_entries=1000)
    'gram'
    """
    if accumulator_size(d, order) > max_entries:
        return "gram"
    packed = packed_size(d, order)
    lower = sum(packed_size(d, k) for k in range(1, order))
    n_chunks = -(-n // _rows_per_chunk(d, order))
    loop_calls = n_chunks * ((order - 2) * d + _N_BLOCKS + 2)
    packed_ns = n * (3 * packed + 10 * lower + 5 * d) + 2e3 * loop_calls + 1e6
    gram_ns = 0.5 * n * n * (30 + 0.5 * d)
    return "packed" if packed_ns < gram_ns else "gram"


def prefer_packed_target(n, d, order, k, *, max_entries=MAX_PACKED_ENTRIES):
    """Whether a fit's contractions of ``k`` columns are cheaper on the packed moment.

    Per contraction, the samples cost about ``1 ns * n d k`` and the packed
    moment ``0.4 ms + 14 ns * accumulator_size(d, order) * k`` (measured with
    numpy, single-threaded OpenBLAS, ``n`` from 300 to ``10**5``, ``d`` from 4
    to 50). The packed form is chosen when it is at least twice as fast and
    fits the memory budget; its one-time accumulation (about one pass of
    ``accumulate``) is paid back by a fit's thousands of contractions.

    Examples
    --------
    >>> prefer_packed_target(3000, 6, 3, 20), prefer_packed_target(100_000, 50, 3, 10)
    (False, True)
    >>> prefer_packed_target(200, 20, 4, 20)
    False
    """
    size = accumulator_size(d, order)
    if size > max_entries:
        return False
    return 1e-9 * n * d * k > 2.0 * (4e-4 + 1.4e-8 * size * k)


def moment_norm_sq(X, order, *, max_entries=MAX_PACKED_ENTRIES):
    """``||(1/n) sum_s x_s^{⊗order}||_F²`` by the cheaper of the packed and Gram forms.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Backend array.
    order : int
    max_entries : int, default=MAX_PACKED_ENTRIES
        Largest packed accumulator (float entries, :func:`accumulator_size`)
        allowed; beyond it the Gram form is used whatever ``n_samples``.

    Returns
    -------
    norm_sq : float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((500, 3))
    >>> a, b = moment_norm_sq(X, 4), gram_moment_norm_sq(X, 4)
    >>> bool(abs(a - b) <= 1e-12 * b)
    True
    """
    n, d = tl.shape(X)
    if choose_method(n, d, order, max_entries=max_entries) == "packed":
        return packed_moment_norm_sq(X, order)
    return gram_moment_norm_sq(X, order)


class PackedTensor:
    """Symmetric tensor ``(1/n) sum_s x_s^{⊗order}`` held as weighted packed column blocks.

    Block ``b`` (columns ``[start, stop)``) holds ``mult(α) M_α`` at entry
    ``(a, k)`` for ``α = a + (k,)`` with ``k >= last(a)`` and 0 for the
    duplicates, so ``<M, u^{⊗l}> = sum_b sum_a Q_a(u) (G_b u[start:stop])_a``
    with ``Q_a(u)`` the degree-``(l-1)`` monomials of ``u``. Host arrays.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Backend array; ``order >= 2``.
    order : int
    """

    def __init__(self, X, order, *, n_blocks=_N_BLOCKS):
        n, d = tl.shape(X)
        self._set_sums(accumulate(X, int(order), n_blocks=n_blocks), n, d, order, n_blocks)

    @classmethod
    def from_sums(cls, sums, n, d, order, *, n_blocks=_N_BLOCKS):
        """The packed tensor of ``n`` rows from its unweighted column-block sums.

        ``sums`` are what :func:`accumulate` returns for the rows, or the sum of
        what it returns for chunks of them (the sums are additive over rows): a
        chunked array is reduced chunk by chunk (:mod:`.blockwise`).
        """
        out = object.__new__(cls)
        out._set_sums(sums, n, d, order, n_blocks)
        return out

    def _set_sums(self, acc, n, d, order, n_blocks):
        self.order, self.d = int(order), d
        self.ends, last, run, mult = _layout(d, self.order)
        self.blocks = _column_blocks(d, n_blocks)
        self.weighted = [
            _block_weights(last, run, mult, self.order, start, stop, tl.shape(a)[0])
            * _backend.to_numpy(a)
            / n
            for (start, stop), a in zip(self.blocks, acc, strict=True)
        ]

    def combine(self, other, alpha, beta):
        """``alpha * self + beta * other`` (same ``d`` and order), a new packed tensor."""
        out = object.__new__(PackedTensor)
        out.order, out.d, out.ends, out.blocks = self.order, self.d, self.ends, self.blocks
        out.weighted = [
            alpha * a + beta * b for a, b in zip(self.weighted, other.weighted, strict=True)
        ]
        return out

    def contractions(self, U):
        """``(M(u^{⊗(l-1)}, ·), <M, u^{⊗l}>)`` for the columns of host ``U`` (``d × k``).

        ``O(C(d+l-1, l) k)``: ``V`` is the gradient of ``rho`` divided by ``l``,
        back-propagated through the monomials by hand. Columns are taken in
        batches whose monomials fit :data:`CHUNK_ENTRIES`.
        """
        step = max(1, CHUNK_ENTRIES // int(self.ends[-1][-1]))
        if U.shape[1] > step:
            parts = [self.contractions(U[:, j : j + step]) for j in range(0, U.shape[1], step)]
            return tuple(np.concatenate(p, axis=-1) for p in zip(*parts, strict=True))
        Qs = [U]
        for prev in self.ends[:-1]:
            Qs.append(np.concatenate([Qs[-1][: int(prev[j])] * U[j] for j in range(self.d)]))
        top = Qs[-1]
        rho = np.zeros(U.shape[1])
        dU = np.zeros_like(U)
        dQ = np.zeros_like(top)
        for (start, stop), G in zip(self.blocks, self.weighted, strict=True):
            rows = G.shape[0]
            Y = G @ U[start:stop]
            rho += np.sum(top[:rows] * Y, axis=0)
            dQ[:rows] += Y
            dU[start:stop] += G.T @ top[:rows]
        for level in range(len(Qs) - 1, 0, -1):
            dQ = self._back(dQ, Qs[level - 1], U, dU, self.ends[level])
        return (dU + dQ) / self.order, rho

    def _back(self, dQ, Q_prev, U, dU, ends):
        """Back-propagate ``dQ`` of one degree to the previous degree (``dU`` updated in place)."""
        d_prev = np.zeros_like(Q_prev)
        offset = 0
        for j in range(self.d):
            size = int(ends[j]) - offset
            block = dQ[offset : offset + size]
            d_prev[:size] += block * U[j]
            dU[j] += np.sum(block * Q_prev[:size], axis=0)
            offset += size
        return d_prev
