"""No silent stop on a saddle: the residual check of the symmetric CP estimators (issue 11)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeflationFlowCP, OverparamCP
from sktensorflow._symmetric_saddle import component_counter
from sktensorflow.datasets import make_symmetric_cp
from sktensorflow.models import symmetric_cp as scp
from sktensorflow.models import symmetric_cp_residual as res


def _dense_cp(weights, U, order):
    T = 0.0
    for a, u in zip(weights, U.T, strict=True):
        T = T + a * _outer(u, order)
    return T


def _outer(u, order):
    return np.einsum(",".join("abcdef"[:order]) + "->" + "abcdef"[:order], *[u] * order)


def _contract(T, u, times):
    for _ in range(times):
        T = T @ u
    return T


def _random_case(order, seed=0, d=6, r=3, m=4):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((d, r))
    U /= np.linalg.norm(U, axis=0)
    weights = np.array([1.0, -0.7, 0.5])[:r]
    W = 0.5 * rng.standard_normal((d, m))
    signs = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
    R = _dense_cp(weights, U, order) - scp.to_tensor(W, signs, order)
    return scp.cp_target(weights, U, order), W, signs, R


@pytest.mark.parametrize("order", [3, 4])
def test_residual_contractions_and_direction_match_a_dense_computation(order):
    target, W, signs, R = _random_case(order)
    Q = np.linalg.qr(np.random.default_rng(1).standard_normal((6, 5)))[0]
    V, rho = res.residual_contractions(target, W, signs, Q)
    dense_V = np.stack([_contract(R, q, order - 1) for q in Q.T], axis=1)
    np.testing.assert_allclose(V, dense_V, atol=1e-12)
    np.testing.assert_allclose(rho, [_contract(R, q, order) for q in Q.T], atol=1e-12)

    u, value = res.residual_direction(
        W, target, signs, np.random.RandomState(0), n_starts=8, n_iter=100
    )
    assert np.linalg.norm(u) == pytest.approx(1.0)
    assert value == pytest.approx(_contract(R, u, order), abs=1e-12)
    # a fixed point of the power method (an eigenvector of R) ...
    np.testing.assert_allclose(_contract(R, u, order - 1), value * u, atol=1e-6 * abs(value))
    # ... at least as good as the best of a dense power method from many starts
    starts = np.random.default_rng(2).standard_normal((6, 200))
    best = 0.0
    for v in (starts / np.linalg.norm(starts, axis=0)).T:
        for _ in range(100):
            v = _contract(R, v, order - 1)
            v /= np.linalg.norm(v)
        best = max(best, abs(_contract(R, v, order)))
    assert abs(value) >= 0.999 * best


def test_sample_and_dense_targets_give_the_same_direction():
    X = np.random.default_rng(0).standard_normal((300, 5)) ** 2
    W = 0.3 * np.random.default_rng(1).standard_normal((5, 3))
    signs = np.ones(3)
    M = np.einsum("si,sj,sk->ijk", X, X, X) / len(X)
    found = []
    for target in (scp.sample_target(X, 3, chunk_size=64), scp.dense_target(M)):
        found.append(res.residual_direction(W, target, signs, np.random.RandomState(0)))
    np.testing.assert_allclose(found[0][0], found[1][0], atol=1e-10)
    assert found[0][1] == pytest.approx(found[1][1], rel=1e-10)
    R = M - scp.to_tensor(W, signs, 3)
    assert found[0][1] == pytest.approx(_contract(R, found[0][0], 3), rel=1e-10)


def test_even_order_sign_constrained_direction_skips_a_larger_wrong_sign_term():
    U = np.eye(5)[:, :2]
    target = scp.cp_target(np.array([0.2, -3.0]), U, order=4)
    W = np.zeros((5, 2))
    rng = np.random.RandomState(0)
    u_any, v_any = res.residual_direction(W, target, np.ones(2), rng)
    u_pos, v_pos = res.residual_direction(W, target, np.ones(2), rng, sign=1.0)
    assert v_any == pytest.approx(-3.0) and abs(u_any[1]) == pytest.approx(1.0)
    assert v_pos == pytest.approx(0.2) and abs(u_pos[0]) == pytest.approx(1.0)


def _fitted_two_of_three(order=3):
    U = np.eye(6)[:, :3]
    target = scp.cp_target(np.array([1.0, 0.9, 0.8]), U, order)
    rng = np.random.default_rng(0)
    W = np.column_stack([U[:, 0], np.sqrt(0.9) * U[:, 1], 1e-3 * rng.standard_normal((6, 2))])
    return target, W, U


def _escape(target, signs, floor=1e-8, seed=0):
    counts = component_counter(target.order, 1e-2, signs, floor)
    rng = np.random.RandomState(seed)
    return res.saddle_escape(target, signs, rng, init_norm=1e-3, counts=counts, rank_tol=1e-2)


def test_escape_reseeds_the_smallest_column_along_the_missing_component():
    target, W, U = _fitted_two_of_three()
    escape = _escape(target, np.ones(4))
    (W_new,) = escape((W,), (np.zeros_like(W),))
    np.testing.assert_array_equal(W_new[:, :2], W[:, :2])  # fitted components kept
    j = int(np.argmin(np.linalg.norm(W[:, 2:], axis=0))) + 2
    np.testing.assert_allclose(W_new[:, j], 1e-3 * U[:, 2], atol=1e-9)  # +u: weight +0.8
    other = 5 - j
    np.testing.assert_array_equal(W_new[:, other], W[:, other])
    # a negative coefficient fits +0.8 u^3 with the column along -u
    (W_neg,) = _escape(target, np.array([1.0, 1.0, -1.0, -1.0]))((W,), (np.zeros_like(W),))
    np.testing.assert_allclose(W_neg[:, j], -1e-3 * U[:, 2], atol=1e-9)


def test_escape_returns_none_at_a_true_minimum():
    target, W, U = _fitted_two_of_three()
    assert _escape(target, np.ones(4), floor=1.0)((W,), None) is None  # 0.8 below the floor
    W[:, 2] = np.sqrt(0.8) * U[:, 2]  # exact fit (plus one tiny column)
    assert _escape(target, np.ones(4))((W,), (np.zeros_like(W),)) is None
    # a residual term below rank_tol * the largest weight is not a saddle either
    small = scp.cp_target(np.array([1.0, 0.9, 0.8, 0.005]), np.eye(6)[:, :4], 3)
    assert _escape(small, np.ones(4))((W,), (np.zeros_like(W),)) is None


def test_escape_without_a_free_column_changes_nothing():
    target, W, U = _fitted_two_of_three()
    W = W[:, :2]  # width 2 < rank 3: both columns carry a component
    assert _escape(target, np.ones(2))((W,), (np.zeros_like(W),)) is None
    # even order, positive terms only: a negative residual term cannot be fitted
    U4 = np.eye(4)[:, :2]
    target4 = scp.cp_target(np.array([1.0, -0.5]), U4, order=4)
    W4 = np.column_stack([U4[:, 0], 1e-3 * np.ones(4)])
    assert _escape(target4, np.ones(2))((W4,), (np.zeros_like(W4),)) is None
    (W4_new,) = _escape(target4, np.array([1.0, -1.0]))((W4,), (np.zeros_like(W4),))
    np.testing.assert_allclose(np.abs(W4_new[:, 1]), 1e-3 * U4[:, 1], atol=1e-9)


def _fits(make, weights, seeds, order=3):
    """``(rank_, warned, n_escapes_)`` of each seed's fit on an orthogonal target."""
    out = []
    for seed in seeds:
        T, _ = make_symmetric_cp(10, 3, order=order, weights=weights, random_state=seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est = make(seed).fit(T)
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        out.append((est.rank_, warned, est.n_escapes_))
    return out


@pytest.mark.parametrize("weights", [[1.0, 0.9, 0.8], [1.0, 0.98, 0.96]])
def test_overparam_cp_width_2r_is_never_silent_with_the_wrong_rank(weights):
    # Issue 11: before the saddle check, 4 of these 10 seeds (3, 6, 8, 9) stopped
    # "converged" with rank_=2 and no warning, for either set of weights.
    fits = _fits(
        lambda s: OverparamCP(width=6, tensor="precomputed", random_state=s), weights, range(10)
    )
    assert all(rank == 3 or warned for rank, warned, _ in fits), fits
    assert sum(n > 0 for *_, n in fits) >= 3  # the check did the work on some seeds
    assert sum(rank == 3 for rank, *_ in fits) == 10


@pytest.mark.parametrize("weights", [[1.0, 0.9, 0.8], [1.0, 0.98, 0.96]])
def test_deflation_flow_width_2r_is_never_silent_with_the_wrong_rank(weights):
    def make(seed):
        return DeflationFlowCP(width=6, order=3, tensor="precomputed", random_state=seed)

    # Before the saddle check, seed 3 stopped "tol" with rank_=2, no warning.
    fits = _fits(make, weights, range(10))
    assert all(rank == 3 or warned for rank, warned, _ in fits), fits
    assert sum(rank == 3 for rank, *_ in fits) == 10
    assert fits[3][2] >= 1


def test_gd_solver_escapes_too():
    # With solver="gd" and tol=1e-3 this seed stopped "converged" at rank 2 before
    # the saddle check (the default tol is not reached on the plateau: max_iter warns).
    T, _ = make_symmetric_cp(10, 3, order=3, weights=[1.0, 0.9, 0.8], random_state=3)
    kw = dict(width=6, tensor="precomputed", solver="gd", tol=1e-3, max_iter=20000)
    est = OverparamCP(random_state=3, **kw).fit(T)
    assert est.rank_ == 3 and est.n_escapes_ >= 1 and est.stop_reason_ == "tol"


def test_easy_problems_do_no_extra_work():
    T, _ = make_symmetric_cp(8, 3, order=3, random_state=0)
    est = OverparamCP(width=20, tensor="precomputed", random_state=0).fit(T)
    assert est.rank_ == 3 and est.n_escapes_ == 0 and est.stop_reason_ == "tol"
    T4, _ = make_symmetric_cp(8, 3, order=4, weights=[1.0, 0.6, 0.3], random_state=0)
    est = DeflationFlowCP(width=16, tensor="precomputed", random_state=0).fit(T4)
    assert est.rank_ == 3 and est.n_escapes_ == 0 and est.stop_reason_ == "target_accuracy"


def test_plain_deflation_flow_warns_at_a_saddle_instead_of_reseeding():
    T, _ = make_symmetric_cp(10, 3, order=3, weights=[1.0, 0.98, 0.96], random_state=3)
    kw = dict(width=6, order=3, tensor="precomputed", method="plain", random_state=3)
    with pytest.warns(ConvergenceWarning, match="saddle point: after 0 re-seedings"):
        est = DeflationFlowCP(**kw).fit(T)
    assert est.rank_ == 2 and est.stop_reason_ == "saddle" and est.n_escapes_ == 0
