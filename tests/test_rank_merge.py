"""Merging fitted symmetric CP components within the sampling noise (``_symmetric_merge``)."""

from unittest import mock

import numpy as np
import pytest

from sktensorflow import OverparamCP, _symmetric_rank
from sktensorflow._symmetric_merge import merge_within_noise


def _unit(angle, d=5, plane=(0, 1)):
    u = np.zeros(d)
    u[plane[0]], u[plane[1]] = np.cos(angle), np.sin(angle)
    return u


@pytest.mark.parametrize("order", [3, 4])
def test_a_split_component_merges_into_one_with_the_summed_weight(order):
    # one component fitted by two columns 5 degrees apart, and a second one
    comps = np.stack([_unit(0.0), _unit(0.0, plane=(2, 3)), _unit(np.radians(5))])
    weights = np.array([1.6, 1.0, 0.4])
    merged, w = merge_within_noise(comps, weights, order, level=0.05)
    assert merged.shape == (2, 5)
    np.testing.assert_allclose(w[0], 2.0, rtol=5e-3)
    np.testing.assert_allclose(w[1], 1.0, rtol=1e-3)
    # the merged direction lies between the two columns, nearer the heavier
    angle = np.arctan2(merged[0, 1], merged[0, 0]) * np.sign(merged[0, 0])
    assert 0.0 < np.degrees(angle) < 2.5


def test_a_component_orthogonal_to_the_others_is_kept_above_the_noise():
    comps = np.stack([_unit(0.0), _unit(0.0, plane=(2, 3)), _unit(0.0, plane=(4, 1))])
    weights = np.array([2.0, 1.0, 0.12])
    merged, w = merge_within_noise(comps, weights, 3, level=0.1)
    np.testing.assert_array_equal(w, weights)
    # within the noise it goes, and the others keep their weights
    merged, w = merge_within_noise(comps, weights, 3, level=0.15)
    assert merged.shape[0] == 2
    np.testing.assert_allclose(w, [2.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize(("level", "rank"), [(0.065, 3), (0.085, 2)])
def test_a_partly_absorbable_component_is_merged_only_within_the_noise(level, rank):
    # 0.12 u with u 45 degrees from the largest: the best 2-component model (the largest
    # turns towards u) leaves a residual whose largest contraction is 0.0739
    comps = np.stack([_unit(0.0), _unit(0.0, plane=(2, 3)), _unit(np.pi / 4, plane=(0, 4))])
    merged, _ = merge_within_noise(comps, np.array([2.0, 1.0, 0.12]), 3, level=level)
    assert merged.shape[0] == rank


def test_even_order_keeps_the_signs():
    comps = np.stack([_unit(0.0), _unit(0.0, plane=(2, 3)), _unit(np.radians(4))])
    merged, w = merge_within_noise(comps, np.array([-1.5, 1.0, -0.5]), 4, level=0.05)
    assert merged.shape[0] == 2
    np.testing.assert_allclose(sorted(w), [-2.0, 1.0], rtol=5e-3)


def test_no_noise_merges_nothing():
    comps = np.stack([_unit(0.0), _unit(np.radians(1))])
    merged, w = merge_within_noise(comps, np.array([1.0, 0.5]), 3, level=0.0)
    np.testing.assert_array_equal(merged, comps)
    np.testing.assert_array_equal(w, [1.0, 0.5])


def _mixed_sources(n, d, seed):
    """Three centered exponential sources in ``d`` features plus Gaussian noise 0.5."""
    rng = np.random.default_rng(seed)
    A = np.linalg.qr(rng.standard_normal((d, 3)))[0]
    X = (rng.exponential(size=(n, 3)) - 1.0) @ A.T + 0.5 * rng.standard_normal((n, d))
    return X, A


def test_finite_sample_fit_counts_the_sources_not_their_splits():
    # A fit of this data set groups 5 components above the noise (two sources are
    # each also fitted by a column mixing them with another source); merged, 3.
    X, A = _mixed_sources(30_000, 20, seed=3)
    seen = []
    merge = _symmetric_rank.merge_within_noise

    def recording(components, weights, *args):
        seen.append(weights.size)
        return merge(components, weights, *args)

    est = OverparamCP(width=10, tensor="cumulant", order=3, max_iter=1000, random_state=0)
    with mock.patch.object(_symmetric_rank, "merge_within_noise", recording):
        est.fit(X)
    assert seen[0] > 3
    assert est.rank_ == 3
    assert np.abs(A.T @ est.components_.T).max(axis=1).min() > 0.99
    np.testing.assert_allclose(np.abs(est.weights_), 2.0, rtol=0.1)
    # set_rank_tol re-reads the merged components
    assert est.set_rank_tol(0.99).rank_ == 1
    assert est.set_rank_tol(1e-2).rank_ == 3
