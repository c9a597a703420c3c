"""Properties of the t-product algebra on odd and even tube lengths."""

import numpy as np
import pytest

from sktensorflow import metrics
from sktensorflow import tproduct as tp

KS = [1, 2, 5, 6, 17, 18]  # 17 and 18 exceed DFT_MATRIX_MAX_LENGTH: the FFT path


def _block_circulant_product(A, B):
    """Reference t-product from its definition: C_t = sum_s A_s B_{(t - s) mod k}."""
    k = A.shape[2]
    C = np.zeros((A.shape[0], B.shape[1], k))
    for t in range(k):
        for s in range(k):
            C[:, :, t] += A[:, :, s] @ B[:, :, (t - s) % k]
    return C


def _planted(rng, n1, n2, r, k):
    return tp.t_product(rng.standard_normal((n1, r, k)), rng.standard_normal((r, n2, k)))


@pytest.mark.parametrize("k", [1, 2, 3, 8, 16, 17, 18])
def test_tube_transforms_match_numpy_fft(k):
    X = np.random.default_rng(k).standard_normal((k, 3, 2))
    Xf = tp.rfft_tubes(X)
    np.testing.assert_allclose(Xf, np.fft.rfft(X, axis=0), atol=1e-12)
    assert np.all(Xf[0].imag == 0) and (k % 2 or np.all(Xf[-1].imag == 0))
    np.testing.assert_allclose(tp.irfft_tubes(Xf, k), X, atol=1e-12)
    noisy = Xf + 1j  # the DC/Nyquist imaginary parts are ignored, as numpy does
    np.testing.assert_allclose(tp.irfft_tubes(noisy, k), np.fft.irfft(noisy, n=k, axis=0))
    scale = tuple(np.linspace(0.5, 2.0, k // 2 + 1))
    np.testing.assert_allclose(
        tp.irfft_tubes(Xf, k, slice_scale=scale),
        np.fft.irfft(Xf * np.reshape(scale, (-1, 1, 1)), n=k, axis=0),
        atol=1e-12,
    )


@pytest.mark.parametrize("k", KS)
def test_product_matches_block_circulant_definition(k):
    rng = np.random.default_rng(k)
    A, B = rng.standard_normal((4, 3, k)), rng.standard_normal((3, 5, k))
    C = tp.t_product(A, B)
    assert C.dtype == np.float64 and np.isrealobj(C)
    np.testing.assert_allclose(C, _block_circulant_product(A, B), atol=1e-12)


@pytest.mark.parametrize("k", KS)
def test_product_matrix_is_the_matrix_of_the_t_product(k):
    rng = np.random.default_rng(20 + k)
    B = rng.standard_normal((3, 4, k))
    M = tp.t_product_matrix(B)
    assert M.shape == (4 * k, 3 * k)
    for z in rng.standard_normal((3, 1, 3, k)):
        np.testing.assert_allclose(M @ z.ravel(), tp.t_product(z, B).ravel(), atol=1e-12)
    # The unit inputs recover the block-circulant definition column by column.
    for col in range(3 * k):
        e = np.zeros(3 * k)
        e[col] = 1.0
        ref = _block_circulant_product(e.reshape(1, 3, k), B).ravel()
        np.testing.assert_allclose(M[:, col], ref, atol=1e-14)


@pytest.mark.parametrize("k", KS)
def test_associativity_transpose_identity(k):
    rng = np.random.default_rng(10 + k)
    A, B, C = (rng.standard_normal(s + (k,)) for s in [(4, 3), (3, 5), (5, 2)])
    np.testing.assert_allclose(
        tp.t_product(tp.t_product(A, B), C), tp.t_product(A, tp.t_product(B, C)), atol=1e-12
    )
    np.testing.assert_allclose(
        tp.t_product(A, B, C), tp.t_product(A, tp.t_product(B, C)), atol=1e-12
    )
    np.testing.assert_allclose(
        tp.t_transpose(tp.t_product(A, B)),
        tp.t_product(tp.t_transpose(B), tp.t_transpose(A)),
        atol=1e-12,
    )
    np.testing.assert_array_equal(tp.t_transpose(tp.t_transpose(A)), A)
    np.testing.assert_allclose(tp.t_product(tp.t_identity(4, k), A), A, atol=1e-14)
    np.testing.assert_allclose(tp.t_product(A, tp.t_identity(3, k)), A, atol=1e-14)


@pytest.mark.parametrize("k", KS)
def test_transpose_is_conjugate_transpose_in_fourier_domain(k):
    A = np.random.default_rng(k).standard_normal((3, 4, k))
    np.testing.assert_allclose(
        tp.to_fourier(tp.t_transpose(A)), tp.slice_conj_transpose(tp.to_fourier(A)), atol=1e-12
    )
    np.testing.assert_allclose(tp.from_fourier(tp.to_fourier(A), k), A, atol=1e-14)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("shape", [(5, 3), (3, 6)])
def test_t_svd_reconstructs_with_orthonormal_real_factors(k, shape):
    X = np.random.default_rng(k).standard_normal(shape + (k,))
    U, S, V = tp.t_svd(X)
    r = min(shape)
    assert U.shape == (shape[0], r, k) and S.shape == (r, r, k) and V.shape == (shape[1], r, k)
    assert all(np.isrealobj(T) for T in (U, S, V))
    np.testing.assert_allclose(tp.t_product(U, S, tp.t_transpose(V)), X, atol=1e-12)
    eye = tp.t_identity(r, k)
    np.testing.assert_allclose(tp.t_product(tp.t_transpose(U), U), eye, atol=1e-12)
    np.testing.assert_allclose(tp.t_product(tp.t_transpose(V), V), eye, atol=1e-12)
    off_diagonal = S * (1 - np.eye(r))[:, :, None]
    assert np.abs(off_diagonal).max() == 0.0


@pytest.mark.parametrize("k", KS)
def test_truncated_t_svd_is_best_tubal_rank_approximation(k):
    rng = np.random.default_rng(k)
    X = _planted(rng, 7, 6, 3, k)
    U, S, V = tp.t_svd(X, rank=3)
    np.testing.assert_allclose(tp.t_product(U, S, tp.t_transpose(V)), X, atol=1e-10)
    noisy = X + 0.1 * rng.standard_normal(X.shape)
    U, S, V = tp.t_svd(noisy, rank=2)
    approx = tp.t_product(U, S, tp.t_transpose(V))
    assert metrics.tubal_rank(approx) == 2
    # Eckart-Young per Fourier slice: the error is the discarded singular values' energy.
    s = tp.tubal_singular_values(noisy)
    weights = np.where((np.arange(k // 2 + 1) == 0) | (2 * np.arange(k // 2 + 1) == k), 1, 2)
    expected = np.sqrt(np.sum(weights[:, None] * s[:, 2:] ** 2) / k)
    np.testing.assert_allclose(np.linalg.norm(noisy - approx), expected, rtol=1e-10)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("r", [1, 3])
def test_tubal_rank_of_planted_tensors(k, r):
    rng = np.random.default_rng(100 * k + r)
    X = _planted(rng, 8, 7, r, k)
    assert metrics.tubal_rank(X) == r == metrics.tubal_rank(X)
    np.testing.assert_allclose(
        tp.tubal_singular_values(X), metrics.tubal_singular_values(X), atol=1e-10
    )
    assert metrics.tubal_rank(np.zeros((3, 3, k))) == 0 == metrics.tubal_rank(np.zeros((3, 3, k)))
    s = tp.tubal_singular_values(X)
    assert metrics.count_above(s, 1e-6, axis=1) == metrics.count_above(s, 1e-6, axis=1) == r


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("width", [2, 9])
def test_factorized_t_svd_matches_dense(k, width):
    rng = np.random.default_rng(k + width)
    A, B = rng.standard_normal((6, width, k)), rng.standard_normal((5, width, k))
    X = tp.t_product(A, tp.t_transpose(B))
    s_dense = tp.tubal_singular_values(X)
    s_fact = tp.tubal_singular_values_factorized(A, B)
    n = min(s_fact.shape[1], s_dense.shape[1])
    np.testing.assert_allclose(s_fact[:, :n], s_dense[:, :n], atol=1e-10)
    U, S, V = tp.t_svd_factorized(A, B)
    np.testing.assert_allclose(tp.t_product(U, S, tp.t_transpose(V)), X, atol=1e-10)


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(3, 2, 4\)"):
        tp.t_product(np.ones((3, 2, 4)), np.ones((3, 2, 4)))
    with pytest.raises(ValueError, match="third-order"):
        tp.t_svd(np.ones((3, 2)))
    with pytest.raises(ValueError, match="width"):
        tp.t_svd_factorized(np.ones((3, 2, 4)), np.ones((3, 3, 4)))


def test_pytorch_backend_matches_numpy():
    torch = pytest.importorskip("torch")
    from sktensorflow import _backend

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((4, 3, 6)), rng.standard_normal((5, 3, 6))
    X = tp.t_product(A, tp.t_transpose(B))
    with _backend.backend_context("pytorch"):
        for k in (6, 18):  # DFT matrix and FFT paths
            Y = rng.standard_normal((k, 3, 2))
            Yf = tp.rfft_tubes(torch.tensor(Y))
            np.testing.assert_allclose(Yf.numpy(), np.fft.rfft(Y, axis=0), atol=1e-12)
            np.testing.assert_allclose(tp.irfft_tubes(Yf, k).numpy(), Y, atol=1e-12)
        At, Bt = torch.tensor(A), torch.tensor(B)
        Xt = tp.t_product(At, tp.t_transpose(Bt))
        U, S, V = tp.t_svd(Xt, rank=3)
        s_fact = tp.tubal_singular_values_factorized(At, Bt)
        assert isinstance(Xt, torch.Tensor) and not Xt.is_complex()
        np.testing.assert_allclose(Xt.numpy(), X, atol=1e-12)
        np.testing.assert_allclose(tp.t_product(U, S, tp.t_transpose(V)).numpy(), X, atol=1e-10)
        assert metrics.tubal_rank(Xt) == 3
    np.testing.assert_allclose(s_fact[:, :3], tp.tubal_singular_values(X)[:, :3], atol=1e-10)
