"""TubalFactorizer's fold-in, solved per Fourier slice along the tubes.

A fitted :class:`~sktensorflow.TubalFactorizer` describes a row ``x`` (shape
``(n_features, k)`` with the tubes along the last axis) as ``x = z * V^T``: the
t-product of a coefficient slice ``z`` (``(1, r, k)``) with the ``r`` right
singular tubes ``V`` (``(n_features, r, k)``). The map is block-circulant, so
the FFT along the tubes diagonalizes it: in Fourier slice ``j``,
``x_hat_j = A_j z_hat_j`` with ``A_j = conj(V_hat_j)`` (``n_features x r``).

The fold-in is the posterior mean of :class:`~sktensorflow._foldin.FoldInMixin`,
``argmin ||P_o(x - D z)||² + σ² z^T Σ^{-1} z`` (``P_o`` the observed entries),
computed without the dense ``(n_features k) x (r k)`` design ``D``, in time and
memory linear in ``k`` (up to the FFT's ``log k``):

- **The prior is block-circulant plus a few principal directions.** The
  t-product model is equivariant to circular shifts along the tubes (shifting
  a row's tubes shifts its coefficient tubes), so the covariance of the
  training coefficients ``Z`` (``n x rk``) is learned per Fourier slice: one
  ``r x r`` Hermitian matrix per slice, ``C_j = (1 / (n k)) Σ_i z_hat_ij
  z_hat_ij^H``, a block-circulant covariance. It is the average of the dense
  estimate ``Z^T Z / n`` over all circular shifts (equal to it when the
  coefficients' law is shift-invariant) and costs ``O(r² k)`` memory instead
  of ``O(r² k²)``. Real rows are not shift-invariant (the border pixels of
  a digit are always dark, where its center is not): the purely
  block-circulant prior completes the digits of
  ``benchmarks/bench_real_completion.py`` 11 % worse than the dense one. So the
  ``q = min(16, n, rk)`` leading principal directions of ``Z`` keep their
  exact covariance, ``Σ = U U^T + circ(Σ_rest)``: ``U = Z^T E / sqrt(n)`` with
  ``E`` the leading left singular vectors of ``Z`` (a randomized SVD,
  ``O(n r k q)``), and the block-circulant part is learned from the remainder
  ``Z - E E^T Z``. With fewer training rows than ``q`` the prior is the dense
  one. ``q`` is the class attribute ``_prior_rank`` (0: purely
  block-circulant). The noise variance ``σ²`` is the mean squared residual on
  the observed entries, as in ``FoldInMixin``.
- The problem is solved in the whitened variable ``w = (w_u, w_c)``,
  ``z = U w_u + L w_c`` with ``L = circ(Σ_rest)^{1/2}`` (per slice),
  as ``FoldInMixin`` solves it in ``z = Σ^{1/2} w``.
- **Fully observed rows**: the normal equations are block-circulant but for a
  rank-``q`` border, so they are solved exactly: per Fourier slice for ``w_c``
  and a ``q x q`` Schur complement for ``w_u``
  (``O(n_features r k + n_features k log k + q r k)`` per row).
- **Rows with missing entries** couple the slices through the mask. The same
  ridge problem is solved to a tight tolerance by preconditioned conjugate
  gradients on its normal equations, with FFT-based products (never the
  dense design), preconditioned by the fully-observed solve (per slice for
  ``w_c``, ``q x q`` for ``w_u``) with the data term scaled by the row's
  observed fraction, for all such rows at once.
"""

import numpy as np
from sklearn.utils.extmath import randomized_svd

from ._foldin import FoldInMixin
from ._tube_axis import from_tubes, to_tubes

__all__ = ["TubalFoldInMixin"]

#: Relative residual at which the conjugate-gradient solve of a row stops.
PCG_RTOL = 1e-12

#: Rows solved together by the conjugate-gradient fold-in (bounds its memory).
PCG_BATCH = 256

#: Most conjugate-gradient iterations (a row that cannot reach ``PCG_RTOL`` in
#: floating point, being too ill-conditioned, stops there).
PCG_MAX_ITER = 2000

#: Leading principal directions of the coefficients kept exactly in the prior.
PRIOR_RANK = 16


class TubalFoldInMixin(FoldInMixin):
    """Fold-in of :class:`~sktensorflow.TubalFactorizer` per Fourier slice.

    Overrides :meth:`_set_fold_in_prior`, :meth:`_fold_in` and
    :meth:`_reconstruct` of :class:`~sktensorflow._foldin.FoldInMixin` with
    the same coefficients layout (column ``l * k + t`` is entry ``t`` of the
    coefficient tube of singular tube ``l``) and the same units (those of the
    prior: the normalized units of the fit). Memory and time per row are
    linear in the tube length ``k`` up to the FFT's ``log k``.

    Needs from the fitted estimator: ``components_`` (the right singular tubes,
    shape ``(r, *feature_shape_)`` in the input's orientation),
    ``feature_shape_``, ``tube_axis_`` and ``_fitted_values()``. Sets
    ``_slice_design`` (``A_j = conj(V_hat_j)``, shape ``(k // 2 + 1,
    n_features, r)``), ``_slice_prior_sqrt`` (``L_j``, shape
    ``(k // 2 + 1, r, r)``), ``_prior_factor`` (``U``, shape ``(q, r, k)``),
    ``_tube_length`` (``k``) and ``_noise_var``.
    """

    _prior_rank = PRIOR_RANK

    def _tube_rows(self, X):
        """Rows of ``X`` (input orientation) as ``(n, n_features, k)`` tubes."""
        shape = tuple(self.feature_shape_)
        shape = shape if len(shape) == 2 else (*shape, 1)
        return to_tubes(np.reshape(X, (X.shape[0], *shape)), self.tube_axis_)

    def _set_fold_in_prior(self, X, observed):
        """Learn the coefficient prior and the noise variance from the fit.

        The singular tubes ``V`` come from ``components_`` (their lateral
        slices, in the input's orientation); the prior is ``U U^T`` plus a
        block-circulant covariance (see the module docstring).
        """
        n = X.shape[0]
        fitted = self._fitted_values()
        Vt = self._tube_rows(self.components_)  # (r, n_features, k): the tubes of V^T
        r, _, k = Vt.shape
        self._tube_length = k
        self._slice_design = np.ascontiguousarray(_h(_to_freq(Vt)))  # (h, n_features, r)
        coef = _to_freq(self._tube_rows(fitted)) @ _t(np.linalg.pinv(self._slice_design))
        q = min(self._prior_rank, n, r * k)
        self._prior_factor, rest = _principal_part(_from_freq(coef, k), q)
        cov = slice_covariance(rest)
        self._slice_prior_sqrt = _psd_sqrt_batch(cov) if r else cov
        residual = (np.reshape(X, fitted.shape) - fitted)[np.reshape(observed, fitted.shape)]
        self._noise_var = float(np.mean(residual**2)) if residual.size else 0.0

    def _reconstruct(self, Z):
        """Rows ``z * V^T`` of coefficients ``Z`` (``(n, r * k)``), shaped like a sample."""
        A, k = self._slice_design, self._tube_length
        coef = _to_freq(np.reshape(Z, (Z.shape[0], A.shape[2], k)))
        rows = from_tubes(_from_freq(coef @ _t(A), k), self.tube_axis_)
        return np.reshape(rows, (Z.shape[0], *self.feature_shape_))

    def _fold_in(self, X):
        """Posterior mean of each row's coefficients given its observed entries.

        The ridge problem of :meth:`FoldInMixin._fold_in`, solved exactly for
        fully observed rows and by preconditioned conjugate gradients for rows
        with missing entries (see the module docstring).
        """
        T = self._tube_rows(X)
        m, _, k = T.shape
        Z = np.zeros((m, self._slice_design.shape[2], k))
        if Z.size == 0:
            return Z.reshape(m, -1)
        post = _Posterior(
            self._slice_design, self._slice_prior_sqrt, self._prior_factor, self._noise_var
        )
        observed = ~np.isnan(T)
        full = observed.all(axis=(1, 2))
        if full.any():
            Z[full] = post.solve_full(T[full])
        some = np.flatnonzero(~full & observed.any(axis=(1, 2)))
        for rows in np.array_split(some, -(-some.size // PCG_BATCH) or 1):
            if rows.size:
                Z[rows] = post.solve_masked(np.nan_to_num(T[rows]), observed[rows])
        return Z.reshape(m, -1)


def slice_covariance(Z):
    """Per-slice covariance ``C_j = (1 / (n k)) Σ_i z_hat_ij z_hat_ij^H`` of ``Z`` (``(n, r, k)``).

    The Fourier blocks of the shift-averaged covariance of the rows of ``Z``:
    ``(h, r, r)`` Hermitian positive semi-definite matrices.
    """
    coef = _to_freq(Z)
    return _t(coef) @ np.conj(coef) / (max(Z.shape[0], 1) * Z.shape[2])


def _principal_part(Z, q):
    """``U`` (``(q, r, k)``, ``U U^T = Z^T E E^T Z / n``) and the remainder ``Z - E E^T Z``.

    ``E`` holds the ``q`` leading left singular vectors of ``Z`` (``n x rk``),
    from a randomized SVD with a fixed seed (deterministic).
    """
    n = Z.shape[0]
    if q == 0:
        return np.zeros((0, *Z.shape[1:])), Z
    flat = Z.reshape(n, -1)
    E = randomized_svd(flat, q, random_state=0)[0]
    top = E.T @ flat
    return (top / np.sqrt(n)).reshape(q, *Z.shape[1:]), (flat - E @ top).reshape(Z.shape)


class _Posterior:
    """The fold-in's ridge problem in the whitened variable ``w = (w_u, w_c)``.

    ``z = G w = U^T w_u + L w_c`` (``U``: ``(q, r, k)``, one direction per
    row; ``L``: per-slice ``L_j``). The normal equations are ``(G^T D^T P_o D
    G + σ² I) w = G^T D^T P_o x``. Per slice, ``H_j = A_j^H A_j`` is the design's
    Gram matrix and ``K_j = L_j H_j L_j = Q Λ Q^H``. Vectors ``w`` are packed as
    ``(m, q + r k)`` arrays.
    """

    def __init__(self, A, L, U, noise_var):
        self.A, self.L, self.U, self.k = A, L, U, U.shape[2]
        self.H = _h(A) @ A
        lam, self.Q = np.linalg.eigh(L @ self.H @ L)
        self.lam = np.clip(lam, 0.0, None)
        HU = _slices(U, self.H)
        self.LHU = _slices(HU, L)
        UHU = _inner(U, HU)
        lam_u, self.Q_u = np.linalg.eigh(UHU)
        self.lam_u = np.clip(lam_u, 0.0, None)
        top = max(self.lam.max(initial=0.0), self.lam_u.max(initial=0.0), np.finfo(float).tiny)
        self.noise_var = max(noise_var, 1e3 * np.finfo(float).eps * top)
        self.Y = self._inverse_gram(self.LHU, np.ones(U.shape[0]))
        self.schur = UHU + self.noise_var * np.eye(U.shape[0]) - _inner(self.LHU, self.Y)

    def _inverse_gram(self, W, scale):
        """``(scale K + σ² I)^{-1} w_c`` per slice, ``scale`` per row (``(m,)``)."""
        values = scale[None, :, None] * self.lam[:, None, :] + self.noise_var
        return _from_freq(((_to_freq(W) @ np.conj(self.Q)) / values) @ _t(self.Q), self.k)

    def _adjoint(self, X):
        """``G^T D^T x`` for tube rows ``X`` (``(m, n_features, k)``), as ``(w_u, w_c)``."""
        y = _from_freq(_to_freq(X) @ np.conj(self.A), self.k)
        return np.einsum("mrk,crk->mc", y, self.U), _slices(y, self.L)

    def _combine(self, w_u, w_c):
        """``z = U^T w_u + L w_c``."""
        return np.einsum("mc,crk->mrk", w_u, self.U) + _slices(w_c, self.L)

    def _split(self, W):
        q = self.U.shape[0]
        return W[:, :q], W[:, q:].reshape(W.shape[0], -1, self.k)

    def solve_full(self, T):
        """Coefficients of fully observed tube rows ``T`` (``(m, n_features, k)``), exactly."""
        b_u, b_c = self._adjoint(T)
        t = self._inverse_gram(b_c, np.ones(T.shape[0]))
        w_u = np.linalg.solve(self.schur, (b_u - _inner(t, self.LHU)).T).T
        return self._combine(w_u, t - np.einsum("mc,crk->mrk", w_u, self.Y))

    def _normal(self, W, mask):
        """``(G^T D^T P_o D G + σ² I) w`` for packed ``W``."""
        z = self._combine(*self._split(W))
        rows = _from_freq(_to_freq(z) @ _t(self.A), self.k) * mask
        return _pack(*self._adjoint(rows)) + self.noise_var * W

    def _precondition(self, R, fraction):
        """The fully-observed system, data term times ``fraction``, block-diagonal in ``w``."""
        r_u, r_c = self._split(R)
        values = fraction[:, None] * self.lam_u + self.noise_var
        w_u = ((r_u @ self.Q_u) / values) @ self.Q_u.T
        return _pack(w_u, self._inverse_gram(r_c, fraction))

    def solve_masked(self, T, mask):
        """Coefficients of zero-filled tube rows ``T`` observed on ``mask``, by PCG."""
        b = _pack(*self._adjoint(T * mask))
        fraction = mask.mean(axis=(1, 2))
        W = _pcg(lambda P, rows: self._normal(P, mask[rows]), b, self._precondition, fraction)
        return self._combine(*self._split(W))


def _slices(W, M):
    """Per-slice matrices ``M`` (``(h, a, b)``, column form) applied to real tubes ``W``."""
    return _from_freq(_to_freq(W) @ _t(M), W.shape[2])


def _inner(X, Y):
    """Real inner products of the rows of ``X`` and ``Y`` (``(m, r, k)`` and ``(p, r, k)``)."""
    size = int(np.prod(X.shape[1:]))
    return np.reshape(X, (X.shape[0], size)) @ np.reshape(Y, (Y.shape[0], size)).T


def _pack(w_u, w_c):
    return np.concatenate([w_u, w_c.reshape(w_c.shape[0], -1)], axis=1)


def _pcg(normal, b, precondition, fraction, rtol=PCG_RTOL):
    """Preconditioned conjugate gradients for a batch of SPD systems (one per row).

    ``normal(P, rows)`` applies the system of the rows ``rows`` to ``P``,
    ``precondition(R, fraction)`` the preconditioner; ``b`` has shape
    ``(m, n)``. A row stops when its residual is below ``rtol`` times its
    right-hand side; at most ``min(4 n + 20, PCG_MAX_ITER)`` iterations
    (conjugate gradients is exact after ``n`` in exact arithmetic).
    """
    W, R = np.zeros_like(b), b.copy()
    Y = precondition(R, fraction)
    P, rz = Y.copy(), _dot(R, Y)
    target = rtol * np.sqrt(_dot(b, b))
    active = np.flatnonzero(np.sqrt(_dot(R, R)) > target)
    for _ in range(min(4 * b.shape[1] + 20, PCG_MAX_ITER)):
        if not active.size:
            break
        Q = normal(P[active], active)
        alpha = rz[active] / _dot(P[active], Q)
        W[active] += alpha[:, None] * P[active]
        R[active] -= alpha[:, None] * Q
        Y = precondition(R[active], fraction[active])
        rz_new = _dot(R[active], Y)
        P[active] = Y + (rz_new / rz[active])[:, None] * P[active]
        rz[active] = rz_new
        active = active[np.sqrt(_dot(R[active], R[active])) > target[active]]
    return W


def _dot(X, Y):
    """Row-wise inner products of ``(m, ...)`` arrays."""
    return np.einsum("ij,ij->i", X, Y)


def _to_freq(T):
    """``(m, c, k)`` real tubes -> ``(h, m, c)`` Fourier slices (``h = k // 2 + 1``)."""
    return np.ascontiguousarray(np.transpose(np.fft.rfft(T, axis=-1), (2, 0, 1)))


def _from_freq(F, k):
    """Inverse of :func:`_to_freq`: ``(h, m, c)`` -> real ``(m, c, k)``."""
    return np.fft.irfft(np.transpose(F, (1, 2, 0)), n=k, axis=-1)


def _psd_sqrt_batch(cov):
    """Hermitian square roots of a batch of positive semi-definite matrices."""
    values, vectors = np.linalg.eigh((cov + _h(cov)) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]) @ _h(vectors)


def _t(M):
    """Transpose of the last two axes."""
    return np.swapaxes(M, -1, -2)


def _h(M):
    """Conjugate transpose of the last two axes."""
    return np.conj(_t(M))
