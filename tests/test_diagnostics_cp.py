"""Deflation diagnostics on fitted symmetric CP estimators (sktensorflow.diagnostics_cp)."""

import numpy as np
import pytest
import tensorly as tl

from sktensorflow import DeflationFlowCP, OverparamCP
from sktensorflow.datasets import make_symmetric_cp
from sktensorflow.diagnostics_cp import (
    column_distances,
    correlation_above_norm,
    norm_correlation_trajectory,
)

WEIGHTS = 1.2 ** -np.arange(5)  # Figure 1 of Ge et al. (2021)
DELTA0 = 1e-15


def figure1_fit(seed):
    T = tl.cp_tensor.CPTensor((WEIGHTS, [np.eye(10)[:, :5]] * 4))
    est = DeflationFlowCP(
        50,
        tensor="precomputed",
        method="plain",
        init_scale=DELTA0 / np.sqrt(np.linalg.norm(WEIGHTS)),
        target_accuracy=1e-7,
        tol=0.0,
        record_columns=True,
        random_state=seed,
    )
    return est.fit(T)


@pytest.mark.parametrize("seed", [0, 3])
def test_norm_correlation_relation_on_figure1(seed):
    est = figure1_fit(seed)
    U = np.eye(10)[:5]
    traj = norm_correlation_trajectory(est, U)
    n = est.n_iter_ + 1
    assert traj.norms.shape == traj.correlations.shape == traj.nearest.shape == (n, 50)
    # At t = 0, for the axes e_1..e_5: max_k |W[k, i]| / ||w_i||, computed directly.
    W0 = est.columns_history_[0]
    expected = np.abs(W0[:5]).max(axis=0) / np.linalg.norm(W0, axis=0)
    np.testing.assert_allclose(traj.correlations[0], expected, rtol=1e-12)
    np.testing.assert_array_equal(traj.nearest[0], np.abs(W0[:5]).argmax(axis=0))
    # Random starts are poorly correlated, yet every column that has grown to
    # ten times its initial norm is aligned with one component (measured on
    # seeds 0-4: at least 0.996).
    low, high = correlation_above_norm(traj, [0.0, 10 * DELTA0])
    assert low < 0.5
    assert high >= 0.99
    assert np.isnan(correlation_above_norm(traj, [10.0])[0])
    # The large final columns cover the five components.
    big = traj.norms[-1] > 0.1
    assert set(traj.nearest[-1][big]) == set(range(5))


def test_trajectory_needs_recorded_columns():
    T, truth = make_symmetric_cp(6, 2, order=4, random_state=0)
    est = DeflationFlowCP(6, tensor="precomputed", random_state=0).fit(T)
    with pytest.raises(ValueError, match="record_columns=True"):
        norm_correlation_trajectory(est, truth.components)
    with pytest.raises(ValueError, match=r"shape \(n_components, 6\)"):
        column_distances(est, np.ones((2, 5)))


def test_column_distances_by_hand():
    class Fitted:  # order 3; columns 2 e_1, e_2 and (-0.6, 0, 0.8), nearest to e_1
        order = 3
        columns_ = np.array([[2.0, 0.0, -0.6], [0.0, 1.0, 0.0], [0.0, 0.0, 0.8]])
        column_weights_ = np.array([4.0, 1.0, 1.0])

    res = column_distances(Fitted(), np.eye(3)[:2], [3.0, 1.0])
    np.testing.assert_array_equal(res.nearest, [0, 1, 0])
    np.testing.assert_allclose(res.cosines, [1.0, 1.0, 0.6])
    np.testing.assert_allclose(res.distances, [0.0, 0.0, np.sqrt(0.8)])
    # Component 0: weight 4 (cos +1) and 1 (cos -0.6, odd order: it counts as -1).
    np.testing.assert_allclose(res.weights, [3.0, 1.0])
    np.testing.assert_allclose(res.weight_errors, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(res.mean_distances, [0.4, 0.0], atol=1e-12)


@pytest.mark.parametrize("cls, order", [(DeflationFlowCP, 4), (OverparamCP, 3)])
def test_fitted_columns_sit_on_the_truth(cls, order):
    weights = [1.0, 0.7, 0.45]
    T, truth = make_symmetric_cp(12, 3, order=order, weights=weights, random_state=1)
    est = cls(12, order=order, tensor="precomputed", random_state=0).fit(T)
    res = column_distances(est, truth.components, weights)
    assert np.abs(res.weight_errors).max() < 1e-3
    assert res.mean_distances.max() < 1e-2
    # Against a wrong truth (the components rotated) the distances are large.
    rotated = np.roll(truth.components, 1, axis=1)
    wrong = column_distances(est, rotated, weights)
    assert np.nanmax(wrong.mean_distances) > 0.3
