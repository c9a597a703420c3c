"""Loss and gradient of the symmetric CP model against finite differences and dense tensors."""

import numpy as np
import pytest
import tensorly as tl
from finite_differences import numeric_grad

from sktensorflow.models import symmetric_cp as scp


def _moment(X, order):
    n = X.shape[0]
    return tl.cp_to_tensor((np.full(n, 1.0 / n), [X.T] * order))


def _cumulant4(Xc):
    S = Xc.T @ Xc / Xc.shape[0]
    gauss = (
        np.einsum("ij,kl->ijkl", S, S)
        + np.einsum("ik,jl->ijkl", S, S)
        + np.einsum("il,jk->ijkl", S, S)
    )
    return _moment(Xc, 4) - gauss


def _targets(order, rng, d=5):
    """The same kinds of target as an implicit object and as its dense array."""
    U = rng.standard_normal((d, 3))
    c = np.array([1.0, -0.7, 0.4])
    X = rng.standard_normal((37, d)) + rng.exponential(size=(37, d))
    Xc = X - X.mean(axis=0)
    out = [
        ("cp", scp.cp_target(c, U, order), tl.cp_to_tensor((c, [U] * order))),
        ("samples", scp.sample_target(X, order, chunk_size=10), _moment(X, order)),
    ]
    if order == 4:
        out.append(
            ("cumulant", scp.sample_target(Xc, 4, cumulant=True, chunk_size=16), _cumulant4(Xc))
        )
    return out


@pytest.mark.parametrize("order", [2, 3, 4])
def test_gradient_matches_finite_differences(order):
    rng = np.random.default_rng(order)
    W = rng.standard_normal((5, 4))
    signs = np.array([1.0, -1.0, 1.0, 0.5])
    for name, target, _dense in _targets(order, rng) + [
        ("dense", scp.dense_target(_moment(rng.standard_normal((9, 5)), order)), None)
    ]:
        sq = scp.target_norm_sq(target)

        def f(V, target=target, sq=sq):
            return scp.loss_and_grad(V, target, signs, l2_reg=0.3, target_sq=sq)[0]

        _, (g,) = scp.loss_and_grad(W, target, signs, l2_reg=0.3, target_sq=sq)
        np.testing.assert_allclose(
            g, numeric_grad(lambda p: f(p[0]), (W,))[0], rtol=1e-5, atol=1e-6, err_msg=name
        )


@pytest.mark.parametrize("order", [2, 3, 4])
def test_implicit_targets_equal_dense(order):
    rng = np.random.default_rng(10 + order)
    W = rng.standard_normal((5, 6))
    signs = np.where(np.arange(6) % 2 == 0, 1.0, -1.0)
    for name, target, dense in _targets(order, rng):
        dense_t = scp.dense_target(dense)
        sq_i, sq_d = scp.target_norm_sq(target), scp.target_norm_sq(dense_t)
        np.testing.assert_allclose(sq_i, sq_d, rtol=1e-10, err_msg=name)
        li, (gi,) = scp.loss_and_grad(W, target, signs, target_sq=sq_i)
        ld, (gd,) = scp.loss_and_grad(W, dense_t, signs, target_sq=sq_d)
        np.testing.assert_allclose(li, ld, rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(gi, gd, rtol=1e-10, atol=1e-12 * np.abs(gd).max())


@pytest.mark.parametrize("order", [2, 3, 4])
def test_loss_equals_half_squared_distance(order):
    rng = np.random.default_rng(20 + order)
    W = rng.standard_normal((4, 3))
    signs = np.array([1.0, -1.0, 2.0])
    target = scp.dense_target(_moment(rng.standard_normal((8, 4)), order))
    loss, _ = scp.loss_and_grad(W, target, signs, target_sq=scp.target_norm_sq(target))
    expected = 0.5 * np.sum((scp.to_tensor(W, signs, order) - target.tensor) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-10)


def test_zero_columns_have_zero_gradient():
    target = scp.cp_target(np.ones(1), np.eye(3)[:, :1], 3)
    W = np.zeros((3, 2))
    W[0, 1] = 0.5
    _, (g,) = scp.loss_and_grad(W, target, np.ones(2))
    assert np.all(g[:, 0] == 0)
    assert np.all(np.isfinite(g))


def test_problem_wraps_the_loss_with_column_scale_and_rounding_level():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 4))
    signs = np.array([1.0, -1.0, 1.0, 0.5])
    target = scp.cp_target(np.array([2.0, 1.0]), rng.standard_normal((5, 2)), 3)
    sq = scp.target_norm_sq(target)
    problem = scp.problem(W, target, signs, l2_reg=0.3)
    loss, (g,) = problem.fun(problem.start)
    ref_loss, (ref_g,) = scp.loss_and_grad(W, target, signs, l2_reg=0.3, target_sq=sq)
    assert loss == ref_loss and np.array_equal(g, ref_g)
    assert problem.rate_scale == pytest.approx(np.sqrt(sq)) and problem.loss_atol == 1e-13 * sq
    np.testing.assert_allclose(problem.scale(problem.start)[0], np.linalg.norm(W, axis=0)[None])
    assert scp.problem(W, target, signs, target_sq=sq, rate_scale=0.0).rate_scale == 0.0


def test_reinit_small_columns_draws_from_the_given_generator():
    W = np.array([[1e-3, 1.0], [0.0, 0.0], [0.0, 0.0]])
    grad = np.ones_like(W)  # both columns shrink; only the small one is re-drawn
    a, n = scp.reinit_small_columns(W, grad, np.random.RandomState(5), 0.1, 1e-2)
    fresh = scp.random_columns(np.random.RandomState(5), 3, 2, 0.1)
    assert n == 1
    np.testing.assert_array_equal(a[:, 0], fresh[:, 0])
    np.testing.assert_array_equal(a[:, 1], W[:, 1])
