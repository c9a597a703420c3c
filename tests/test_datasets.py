"""Planted-structure generators: shapes, exact planted rank, observation masks, determinism."""

import numpy as np
import pytest
import tensorly as tl

from sktensorflow import metrics
from sktensorflow import tproduct as tp
from sktensorflow.datasets import (
    make_ica_mixture,
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
    make_tubal_sensing,
)


def _unfolding_ranks(T, rel=1e-10):
    ranks = []
    for mode in range(T.ndim):
        s = np.linalg.svd(tl.unfold(T, mode), compute_uv=False)
        ranks.append(int(np.sum(s > rel * s[0])))
    return tuple(ranks)


def _assert_observation(X, truth, fraction, noise=0.0):
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(observed, truth.mask)
    # Bernoulli(fraction) entries: the observed share is within 4 standard deviations.
    assert abs(observed.mean() - fraction) <= 4 * np.sqrt(fraction * (1 - fraction) / X.size)
    residual = X[observed] - truth.tensor[observed]
    if noise == 0:
        np.testing.assert_array_equal(residual, 0.0)
    else:
        assert 0.8 * noise < residual.std() < 1.2 * noise


@pytest.mark.parametrize("shape, rank", [((8, 7, 6), 2), ((10, 10, 5), 3), ((5, 9, 1), 1)])
def test_tubal_low_rank_has_exact_tubal_rank(shape, rank):
    X, truth = make_tubal_low_rank(shape, rank, random_state=0)
    assert X.shape == truth.tensor.shape == shape
    assert truth.A.shape == (shape[0], rank, shape[2])
    assert truth.B.shape == (shape[1], rank, shape[2])
    np.testing.assert_array_equal(X, truth.tensor)
    assert metrics.tubal_rank(truth.tensor, 1e-10) == rank
    np.testing.assert_allclose(
        tp.t_product(truth.A, tp.t_transpose(truth.B)), truth.tensor, atol=1e-12
    )
    np.testing.assert_allclose(np.mean(truth.tensor**2), 1.0)


def test_tubal_low_rank_t_product_matches_fft_reference():
    """The t-product of the generator equals a direct FFT computation."""
    _, truth = make_tubal_low_rank((6, 5, 4), 2, random_state=0)
    Af, Bf = np.fft.fft(truth.A, axis=2), np.fft.fft(truth.B, axis=2)
    ref = np.fft.ifft(np.einsum("irf,jrf->ijf", Af, Bf.conj()), axis=2).real
    np.testing.assert_allclose(truth.tensor, ref, atol=1e-12)


def test_tubal_low_rank_symmetric_mask_noise_and_errors():
    X, truth = make_tubal_low_rank(
        (12, 12, 6), 2, symmetric=True, observed_fraction=0.4, noise=0.1, random_state=1
    )
    np.testing.assert_array_equal(truth.A, truth.B)
    np.testing.assert_allclose(truth.tensor, tp.t_transpose(truth.tensor), atol=1e-12)
    assert metrics.tubal_rank(truth.tensor, 1e-10) == 2
    _assert_observation(X, truth, 0.4, noise=0.1)
    with pytest.raises(ValueError, match="symmetric"):
        make_tubal_low_rank((4, 5, 3), 2, symmetric=True)
    with pytest.raises(ValueError, match="rank"):
        make_tubal_low_rank((4, 5, 3), 0)
    with pytest.raises(ValueError, match="observed_fraction"):
        make_tubal_low_rank((4, 5, 3), 2, observed_fraction=0.0)


@pytest.mark.parametrize(
    "shape, ranks", [((10, 9, 8), (2, 3, 4)), ((6, 6), (2, 2)), ((7, 5, 4, 3), (3, 2, 2, 1))]
)
def test_low_multilinear_rank_has_exact_multilinear_rank(shape, ranks):
    X, truth = make_low_multilinear_rank(shape, ranks, random_state=0)
    assert X.shape == truth.tensor.shape == shape
    assert truth.core.shape == ranks
    assert [U.shape for U in truth.factors] == list(zip(shape, ranks, strict=True))
    np.testing.assert_array_equal(X, truth.tensor)
    assert _unfolding_ranks(truth.tensor) == ranks
    for U in truth.factors:
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-12)
    np.testing.assert_allclose(
        tl.tucker_to_tensor((truth.core, truth.factors)), truth.tensor, atol=1e-12
    )
    np.testing.assert_allclose(np.mean(truth.tensor**2), 1.0)


def test_low_multilinear_rank_mask_noise_and_errors():
    X, truth = make_low_multilinear_rank(
        (20, 15, 10), (3, 2, 2), observed_fraction=0.3, noise=0.05, random_state=2
    )
    _assert_observation(X, truth, 0.3, noise=0.05)
    with pytest.raises(ValueError, match="ranks"):
        make_low_multilinear_rank((4, 5), (5, 2))
    with pytest.raises(ValueError, match="ranks"):
        make_low_multilinear_rank((4, 5), (2, 2, 2))


def test_symmetric_cp_planted_components():
    T, truth = make_symmetric_cp(6, 3, order=4, dense=True, random_state=0)
    U = truth.components
    assert T.shape == (6,) * 4 and U.shape == (3, 6)
    np.testing.assert_allclose(U @ U.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(T, np.transpose(T, (2, 0, 3, 1)), atol=1e-14)
    np.testing.assert_allclose(truth.weights, [1.0, 0.8, 0.64])
    assert _unfolding_ranks(T) == (3, 3, 3, 3)
    cp, _ = make_symmetric_cp(6, 3, order=4, random_state=0)
    np.testing.assert_allclose(tl.cp_to_tensor(cp), T, atol=1e-14)
    _, oblique = make_symmetric_cp(3, 5, orthogonal=False, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(oblique.components, axis=1), 1.0)
    with pytest.raises(ValueError, match="rank <= n_features"):
        make_symmetric_cp(3, 4)
    with pytest.raises(ValueError, match="weights"):
        make_symmetric_cp(5, 2, weights=[1.0])


@pytest.mark.parametrize("distribution", ["exponential", "laplace", "uniform"])
def test_ica_mixture_is_white_mixture_of_unit_sources(distribution):
    X, truth = make_ica_mixture(20000, 3, 5, distribution=distribution, random_state=0)
    A = truth.components
    assert X.shape == (20000, 5) and A.shape == (3, 5) and truth.sources.shape == (20000, 3)
    np.testing.assert_allclose(A @ A.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(X, truth.sources @ A, atol=1e-12)
    np.testing.assert_allclose(truth.sources.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(truth.sources.var(axis=0), 1.0, atol=0.1)


def test_ica_mixture_errors():
    with pytest.raises(ValueError, match="distribution"):
        make_ica_mixture(10, 2, distribution="cauchy")
    with pytest.raises(ValueError, match="n_features"):
        make_ica_mixture(10, 3, 2)


@pytest.mark.parametrize(
    "make, args, kw",
    [
        (make_tubal_low_rank, ((6, 5, 4), 2), {"observed_fraction": 0.5}),
        (make_low_multilinear_rank, ((6, 5, 4), (2, 2, 2)), {"observed_fraction": 0.5}),
        (make_symmetric_cp, (5, 2), {"dense": True}),
        (make_ica_mixture, (50, 2, 3), {}),
    ],
)
def test_generators_are_deterministic_given_random_state(make, args, kw):
    first, _ = make(*args, random_state=0, **kw)
    again, _ = make(*args, random_state=np.random.RandomState(0), **kw)
    other, _ = make(*args, random_state=1, **kw)
    assert isinstance(first, np.ndarray)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(np.nan_to_num(first), np.nan_to_num(other))


def test_generators_return_numpy_under_another_backend():
    pytest.importorskip("torch")
    reference = make_tubal_low_rank((6, 5, 4), 2, random_state=0)[0]
    tucker = make_low_multilinear_rank((5, 4, 3), (2, 2, 2), random_state=0)[0]
    with tl.backend_context("pytorch"):
        X = make_tubal_low_rank((6, 5, 4), 2, random_state=0)[0]
        Y = make_low_multilinear_rank((5, 4, 3), (2, 2, 2), random_state=0)[0]
        T, _ = make_symmetric_cp(5, 2, dense=True, random_state=0)
    assert isinstance(X, np.ndarray) and isinstance(T, np.ndarray)
    np.testing.assert_allclose(X, reference, atol=1e-12)
    np.testing.assert_array_equal(Y, tucker)


@pytest.mark.parametrize("symmetric", [True, False])
def test_tubal_sensing_truth_has_the_planted_spectrum(symmetric):
    shape = (7, 7, 4) if symmetric else (7, 5, 4)
    G, y, truth = make_tubal_sensing(
        shape, 3, 90, symmetric=symmetric, condition_number=10, random_state=0
    )
    assert G.shape == (90, np.prod(shape)) and y.shape == (90,)
    np.testing.assert_allclose(truth.singular_values, [1.0, 10**-0.5, 0.1])
    # The same singular values in every Fourier slice: condition number 10 exactly.
    s = tp.tubal_singular_values(truth.tensor)
    np.testing.assert_allclose(s[:, :3], np.tile(truth.singular_values, (3, 1)), atol=1e-12)
    np.testing.assert_allclose(s[:, 3:], 0.0, atol=1e-12)
    for Q in (truth.left, truth.right):
        np.testing.assert_allclose(tp.t_product(tp.t_transpose(Q), Q), tp.t_identity(3, 4),
                                   atol=1e-12)  # fmt: skip
    scaled = truth.left * truth.singular_values[None, :, None]
    np.testing.assert_allclose(tp.t_product(scaled, tp.t_transpose(truth.right)),
                               truth.tensor, atol=1e-12)  # fmt: skip
    assert (truth.left is truth.right) == symmetric
    np.testing.assert_allclose(G @ truth.tensor.ravel(), y, atol=1e-12)


def test_tubal_sensing_projector_noise_and_symmetric_measurements():
    G, y, truth = make_tubal_sensing((6, 6, 3), 2, 4000, noise=0.3, random_state=1)
    np.testing.assert_allclose(tp.t_product(truth.tensor, truth.tensor), truth.tensor,
                               atol=1e-12)  # fmt: skip
    noise = y - truth.noiseless
    np.testing.assert_allclose(truth.noiseless, G @ truth.tensor.ravel(), atol=1e-12)
    assert 0.28 < noise.std() < 0.32  # 4000 draws: std within 7 % of 0.3
    Gs, _, _ = make_tubal_sensing((5, 5, 3), 1, 4, symmetric_measurements=True, random_state=1)
    for row in Gs:
        np.testing.assert_allclose(tp.t_transpose(row.reshape(5, 5, 3)), row.reshape(5, 5, 3))
    again = make_tubal_sensing((6, 6, 3), 2, 50, noise=0.3, random_state=1)
    other = make_tubal_sensing((6, 6, 3), 2, 50, noise=0.3, random_state=2)
    np.testing.assert_array_equal(again[1], make_tubal_sensing((6, 6, 3), 2, 50, noise=0.3,
                                  random_state=np.random.RandomState(1))[1])  # fmt: skip
    assert not np.allclose(again[1], other[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"condition_number": 0.5}, "condition_number"),
        ({"noise": -1.0}, "noise"),
        ({"shape": (4, 5, 2)}, "symmetric"),
        ({"shape": (4, 5, 2), "symmetric": False, "symmetric_measurements": True}, "symmetric"),
        ({"shape": (4, 4, 2), "rank": 5}, "rank"),
        ({"shape": (4, 4)}, "shape"),
        ({"n_measurements": 0}, "n_measurements"),
    ],
)
def test_tubal_sensing_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_tubal_sensing(**kwargs)
