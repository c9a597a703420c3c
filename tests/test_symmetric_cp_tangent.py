"""The linearized (tangent) symmetric CP model: gradient, tangent map, lazy width bound."""

import math

import numpy as np
import pytest
import tensorly as tl
from finite_differences import numeric_grad

from sktensorflow import OverparamCP
from sktensorflow.datasets import make_symmetric_cp
from sktensorflow.metrics import relative_error
from sktensorflow.models import symmetric_cp as scp
from sktensorflow.models.symmetric_cp_tangent import (
    best_tangent_error,
    symmetric_dimension,
    tangent_loss_and_grad,
    tangent_matrix,
    tangent_to_tensor,
)


def symmetrize(T):
    perms = [p for p in np.ndindex(*(T.ndim,) * T.ndim) if len(set(p)) == T.ndim]
    return sum(T.transpose(p) for p in perms) / len(perms)


def lazy_start(d, n_pairs, seed):
    """Pairs of identical unit columns with coefficients ``±1/sqrt(m)``: ``T(W0) = 0``."""
    W = np.random.default_rng(seed).standard_normal((d, n_pairs))
    W /= np.linalg.norm(W, axis=0)
    return np.repeat(W, 2, axis=1), np.tile([1.0, -1.0], n_pairs) / np.sqrt(2 * n_pairs)


def rank_one(d, order, seed):
    u = np.random.default_rng(100 + seed).standard_normal(d)
    u /= np.linalg.norm(u)
    T = u
    for _ in range(order - 1):
        T = np.multiply.outer(T, u)
    return T


@pytest.mark.parametrize("order", [3, 4])
def test_tangent_gradient_matches_finite_differences(order):
    rng = np.random.default_rng(order)
    d, m = 3, 4
    W0, coefs = rng.standard_normal((d, m)), rng.standard_normal(m)
    T = symmetrize(rng.standard_normal((d,) * order))
    D = 0.3 * rng.standard_normal((d, m))
    _, grad = tangent_loss_and_grad(D, W0, coefs, T)
    (numeric,) = numeric_grad(lambda p: tangent_loss_and_grad(p[0], W0, coefs, T)[0], (D,))
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    # At D = 0 the linearization has the full model's gradient.
    _, grad0 = tangent_loss_and_grad(np.zeros_like(D), W0, coefs, T)
    _, (full,) = scp.loss_and_grad(W0, scp.dense_target(T), coefs, target_sq=float(np.sum(T * T)))
    np.testing.assert_allclose(grad0, full, rtol=1e-10, atol=1e-12)
    # And J[D] is the first-order change of the full model: error O(t²).
    errs = []
    for t in (1e-3, 5e-4):
        change = scp.to_tensor(W0 + t * D, coefs, order) - scp.to_tensor(W0, coefs, order)
        base = tangent_to_tensor(0 * D, W0, coefs, order)
        lin = tangent_to_tensor(t * D, W0, coefs, order) - base
        errs.append(np.linalg.norm(change - lin))
    assert 3.5 < errs[0] / errs[1] < 4.5


@pytest.mark.parametrize("order", [3, 4])
def test_tangent_matrix_is_the_tangent_map(order):
    rng = np.random.default_rng(0)
    W0, coefs, D = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    J = tangent_matrix(W0, coefs, order)
    lin = tangent_to_tensor(D, W0, coefs, order) - tangent_to_tensor(0 * D, W0, coefs, order)
    np.testing.assert_allclose(J @ D.T.ravel(), lin.ravel(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order, d", [(3, 4), (3, 6), (4, 3), (4, 4)])
def test_lazy_width_bound_is_the_symmetric_dimension_over_d(order, d):
    """Each pair spans d tangent directions; the symmetric tensors need binom(d+l-1, l).

    So the tangent model fits a generic rank-one target exactly once ``pairs * d``
    reaches that dimension (width ``~ 2 d^{l-1} / l!``), not with one pair fewer,
    and stays far off at half of it. Measured over 7 seeds: one pair short,
    errors >= 0.018; at half, medians 0.65-0.89; one pair past it, < 1e-13.
    """
    need = symmetric_dimension(d, order) / d
    assert symmetric_dimension(d, order) == math.comb(d + order - 1, order)
    half = []
    for seed in range(7):
        T = rank_one(d, order, seed)
        assert best_tangent_error(*lazy_start(d, math.ceil(need) + 1, seed), T) < 1e-10
        assert best_tangent_error(*lazy_start(d, math.ceil(need) - 1, seed), T) > 5e-3
        half.append(best_tangent_error(*lazy_start(d, max(1, math.floor(need / 2)), seed), T))
    assert np.median(half) > 0.5


def test_order4_rich_fits_where_the_tangent_model_cannot():
    # Width 10 (5 pairs) in d = 5, order 4: 5 * 5 = 25 tangent directions for a
    # space of dimension 70. Measured over 5 seeds: rich 2e-6 .. 6e-6, best
    # tangent fit 0.43 .. 0.87.
    T, _ = make_symmetric_cp(5, 2, order=4, weights=[1.0, 0.7], random_state=0)
    Td = tl.cp_to_tensor(T)
    rich = OverparamCP(width=10, order=4, tensor="precomputed", random_state=0).fit(T)
    W = rich.columns_
    model = tl.cp_to_tensor((rich.column_weights_, [W / np.linalg.norm(W, axis=0)] * 4))
    assert relative_error(model, Td) < 1e-5
    W0, coefs = lazy_start(5, 5, 0)
    assert best_tangent_error(W0 * np.sqrt(np.linalg.norm(Td)), coefs, Td) > 0.4
