"""Rank counts, component recovery and tubal ranks of :mod:`sktensorflow.metrics`."""

import numpy as np
import pytest
import tensorly as tl
from tensorly.metrics import congruence_coefficient

from sktensorflow import metrics
from sktensorflow import tproduct as tp


# -- the one rank counter ------------------------------------------------------------------
def test_count_above_threshold_edges():
    values = np.array([4.0, 2.0, 1.0, 0.5])
    assert metrics.count_above(values, 0.25) == 3  # 1.0 == 0.25 * 4 counts (>=)
    assert metrics.count_above(values, np.nextafter(0.25, 1.0)) == 2
    assert metrics.count_above(values, 1.0) == 1  # only the maximum itself
    assert metrics.count_above(values, 0.0) == 4  # every value, zeros included
    assert metrics.count_above(np.append(values, 0.0), 0.0) == 5
    assert metrics.count_above(-values, 0.25) == 3  # magnitudes are compared


@pytest.mark.parametrize("values", [[], np.zeros(0), np.zeros(3), np.zeros((2, 3))])
def test_count_above_empty_and_zero(values):
    assert metrics.count_above(values, 0.5) == 0
    assert metrics.count_above(values, 0.5, axis=-1) == 0
    assert metrics.cp_rank(values, 0.5) == 0
    assert metrics.singular_value_rank(values, 0.5) == 0


def test_count_above_along_an_axis_uses_the_global_maximum():
    s = np.array([[10.0, 3.0, 1.0], [2.0, 1.5, 0.9]])
    # Threshold 0.1 * 10 = 1: two values in row 1 pass, three in row 0.
    assert metrics.count_above(s, 0.1, axis=1) == 3
    assert metrics.count_above(s, 0.15, axis=1) == 2
    assert metrics.count_above(s, 0.25, axis=1) == 2  # 3.0 in row 0; row 1 has none
    assert metrics.count_above(s, 0.15) == 4  # over all values
    assert metrics.count_above(s, 0.15, axis=1) == metrics.count_above(s, 0.15, axis=1)


def test_public_counts_are_the_counter():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(30) * np.logspace(0, -8, 30)
    for tol in (0.0, 1e-6, 1e-3, 0.1, 0.5, 1.0):
        assert metrics.cp_rank(w, tol) == metrics.count_above(w, tol)
        assert metrics.singular_value_rank(np.abs(w), tol) == metrics.count_above(w, tol)
    assert metrics.cp_rank([3.0, -1.0, 1e-9], 1e-3) == 2


def test_multilinear_rank_of_a_planted_tucker_tensor():
    rng = np.random.default_rng(1)
    core = rng.standard_normal((2, 3, 2))
    factors = [rng.standard_normal((n, r)) for n, r in ((5, 2), (6, 3), (4, 2))]
    X = tl.tucker_to_tensor((core, factors))
    ranks, effective = metrics.multilinear_rank(X)
    assert ranks == (2, 3, 2)
    assert all(1.0 <= e <= r + 1e-12 for e, r in zip(effective, ranks, strict=True))
    rank_one = np.einsum("i,j,k->ijk", *(rng.standard_normal(n) for n in (3, 4, 5)))
    ranks, effective = metrics.multilinear_rank(rank_one)
    assert ranks == (1, 1, 1)
    np.testing.assert_allclose(effective, 1.0)


# -- recovery score ------------------------------------------------------------------------
def test_recovery_is_permutation_scale_and_sign_invariant():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((3, 7))
    estimated = np.array([-2.0, 0.5, 3.0])[:, None] * truth[[2, 0, 1]]
    result = metrics.recovery_score(estimated, truth)
    assert result.score == pytest.approx(1.0)
    np.testing.assert_allclose(result.cosines, 1.0)
    np.testing.assert_array_equal(result.matching, [1, 2, 0])


def test_signed_recovery_maximizes_signed_cosines():
    truth = np.eye(2)
    estimated = np.array([[-1.0, 0.0], [1.0, 1.0]])  # -e1 and (e1 + e2) / sqrt(2)
    c = 1 / np.sqrt(2)
    unsigned = metrics.recovery_score(estimated, truth)
    np.testing.assert_allclose(unsigned.cosines, [1.0, c])
    np.testing.assert_array_equal(unsigned.matching, [0, 1])
    # Signed: matching e1 with -e1 would cost -1; the diagonal direction goes to e1.
    signed = metrics.recovery_score(estimated, truth, sign_invariant=False)
    np.testing.assert_allclose(signed.cosines, [c, 0.0], atol=1e-15)
    np.testing.assert_array_equal(signed.matching, [1, 0])
    assert signed.score == pytest.approx(c / 2)


def test_recovery_of_a_known_imperfect_estimate():
    truth = np.eye(3)[:2]  # e1, e2
    c, s = np.cos(0.3), np.sin(0.3)
    estimated = np.array([[0.0, c, s], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    result = metrics.recovery_score(estimated, truth)
    np.testing.assert_allclose(result.cosines, [1.0, c])
    np.testing.assert_array_equal(result.matching, [1, 0])
    assert result.score == pytest.approx((1.0 + c) / 2)
    # Fewer estimates than true components: the unmatched one counts as cosine 0.
    missing = metrics.recovery_score(estimated[:1], truth)
    np.testing.assert_allclose(missing.cosines, [0.0, c])
    np.testing.assert_array_equal(missing.matching, [-1, 0])
    assert missing.score == pytest.approx(c / 2)
    # A zero estimate matches nothing (cosine 0), without dividing by zero.
    zero = metrics.recovery_score(np.zeros((2, 3)), truth)
    np.testing.assert_array_equal(zero.cosines, 0.0)
    assert zero.score == 0.0


@pytest.mark.parametrize("sign_invariant", [True, False])
def test_recovery_equals_tensorly_congruence_for_equal_counts(sign_invariant):
    rng = np.random.default_rng(3)
    truth, estimated = rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    result = metrics.recovery_score(estimated, truth, sign_invariant=sign_invariant)
    congruence, permutation = congruence_coefficient(
        truth.T, estimated.T, absolute_value=sign_invariant
    )
    assert result.score == pytest.approx(congruence, abs=1e-12)
    np.testing.assert_array_equal(result.matching, permutation)


# -- tubal rank: one implementation --------------------------------------------------------
@pytest.mark.parametrize("k", [1, 4, 5, 18])
@pytest.mark.parametrize("rank_tol", [1e-6, 0.05, 0.3])
def test_tubal_rank_agrees_with_tproduct(k, rank_tol):
    rng = np.random.default_rng(k)
    X = tp.t_product(rng.standard_normal((7, 3, k)), rng.standard_normal((3, 6, k)))
    X = X + 1e-3 * rng.standard_normal(X.shape)
    s = metrics.tubal_singular_values(X)
    np.testing.assert_array_equal(s, tp.tubal_singular_values(X))
    rank = metrics.tubal_rank(X, rank_tol)
    assert rank == metrics.tubal_rank(X, rank_tol) == metrics.count_above(s, rank_tol, axis=1)
    if rank_tol == 1e-6:
        assert rank == 6  # the noise fills every slice
    if rank_tol == 0.3:
        assert rank <= 3


def test_metrics_tubal_rank_computes_on_the_host():
    torch = pytest.importorskip("torch")
    from sktensorflow import _backend

    X = tp.t_product(np.ones((4, 1, 3)), np.ones((1, 5, 3)))
    with _backend.backend_context("pytorch"):
        assert metrics.tubal_rank(X) == 1
        assert metrics.tubal_rank(torch.tensor(X)) == 1
        assert isinstance(metrics.tubal_singular_values(X), np.ndarray)
