"""DeepTucker's balanced initialization: its promises, its results and its memory."""

import tracemalloc

import numpy as np
import pytest
import tensorly as tl
from threadpoolctl import threadpool_limits

from sktensorflow.models import deep_tucker_init as dti

# (dims, widths): equal widths, a 4-way tensor, and unfoldings with more rows than
# columns (mode 0 of (5, 2, 2), mode 2 of (2, 2, 5)), whose Gram has zero eigenvalues.
SHAPES = [
    ((6, 5, 4), (6, 5, 4)),
    ((7, 6, 5, 4), (4, 3, 3, 2)),
    ((9, 5, 5), (5, 2, 2)),
    ((5, 5, 9), (2, 2, 5)),
]


def _full_svd_reference(rng, dims, widths, depth, scale):
    """The product initialization written with the full SVD (the old code; small shapes only)."""
    G = rng.standard_normal(widths) * scale * np.sqrt(np.prod(widths) ** (1 / len(widths) - 1))
    params = [G]
    for mode, n in enumerate(dims):
        P, s, _ = np.linalg.svd(tl.unfold(G, mode), full_matrices=True)
        w = P.shape[0]
        s, prev = np.concatenate([s, np.zeros(w - s.size)]), P
        for layer in range(depth):
            O = dti.random_orthonormal(rng, n if layer == depth - 1 else w, w)
            params.append((O * s) @ prev.T)
            prev = O
    return params


@pytest.mark.parametrize("dims, widths", SHAPES)
@pytest.mark.parametrize("depth", [1, 3])
def test_product_init_matches_full_svd_construction(dims, widths, depth):
    """Same random draws, same arrays as the construction through the full SVD."""
    params = dti.init_params(np.random.RandomState(4), dims, widths, depth, "product", 0.3)
    reference = _full_svd_reference(np.random.RandomState(4), dims, widths, depth, 0.3)
    assert len(params) == len(reference)
    for got, want in zip(params, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("dims, widths", SHAPES)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_product_init_is_exactly_balanced(dims, widths, depth):
    """Shapes ``(w, w), ..., (n, w)`` and zero conserved quantities, rank-deficient or not."""
    params = dti.init_params(np.random.RandomState(0), dims, widths, depth, "product", 1.0)
    for mode, (n, w) in enumerate(zip(dims, widths, strict=True)):
        chain = params[1 + mode * depth : 1 + (mode + 1) * depth]
        assert [W.shape for W in chain] == [(w, w)] * (depth - 1) + [(n, w)]
    gaps = dti.conserved_quantities(params, len(dims), depth, "product")
    assert max(np.abs(c).max() for mode in gaps for c in mode) < 1e-12
    assert min(np.abs(W).max() for W in params) > 0.1  # not balanced by being zero


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_column_init_matches_core_slice_norms(depth):
    """Every array of column ``j`` has the norm of core slice ``j``."""
    dims, widths = (6, 5, 4), (4, 5, 2)
    params = dti.init_params(np.random.RandomState(0), dims, widths, depth, "column", 1.0)
    gaps = dti.conserved_quantities(params, len(dims), depth, "column")
    assert max(np.abs(c).max() for mode in gaps for c in mode) < 1e-12
    first = params[1::depth]
    assert [a.shape for a in first] == [(n, w) for n, w in zip(dims, widths, strict=True)]


@pytest.mark.parametrize("form", ["product", "column"])
def test_core_slices_have_norm_scale_on_average(form):
    """Equal widths: the mean squared core slice norm is ``scale**2``."""
    scale, widths = 1e-2, (20, 20, 20)
    G = dti.init_params(np.random.RandomState(0), widths, widths, 1, form, scale)[0]
    sq = np.concatenate(dti.core_slice_norms(G)) ** 2
    np.testing.assert_allclose(sq.mean(), scale**2, rtol=0.05)


def test_random_orthonormal_is_the_signed_q_factor():
    """Orthonormal columns; ``R = Qᵀ A`` of the drawn Gaussian is upper with ``diag >= 0``."""
    Q = dti.random_orthonormal(np.random.RandomState(5), 9, 4)
    A = np.random.RandomState(5).standard_normal((9, 4))
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=1e-14)
    R = Q.T @ A
    np.testing.assert_allclose(np.tril(R, -1), 0, atol=1e-13)
    assert np.all(np.diag(R) > 0)


@pytest.mark.parametrize(
    "dims, widths, depth",
    [
        ((200, 200, 8), (200, 200, 8), 1),  # old code: a 40000 x 40000 SVD factor, 12.8 GB
        ((20, 16, 16, 16), (16, 16, 16, 16), 2),  # 4-way: 134 MB (8.6 GB at width 32)
        ((5, 5, 9), (2, 2, 5), 2),
    ],
)
def test_init_memory_is_linear_in_the_model(dims, widths, depth):
    """Peak allocation of the initialization is a few times the model's own size."""
    with threadpool_limits(1):  # one BLAS thread: fast on a loaded machine too
        tracemalloc.start()
        try:
            params = dti.init_params(
                np.random.RandomState(0), dims, widths, depth, "product", 1e-2
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    model = sum(p.nbytes for p in params)
    assert peak < 4 * model + 2**16, (peak, model)
