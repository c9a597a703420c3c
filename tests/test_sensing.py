"""Tensor sensing: measurements, the paper's metrics and the Figure 2 dynamics."""

import numpy as np
import pytest

from sktensorflow import metrics
from sktensorflow import sensing as sn
from sktensorflow import tproduct as tp


def test_problem_is_a_t_projector_with_consistent_measurements():
    G, y, truth = sn.make_sensing_problem(7, 4, 2, 60, random_state=0)
    X = truth.tensor
    np.testing.assert_allclose(tp.t_product(X, X), X, atol=1e-12)
    np.testing.assert_allclose(tp.t_transpose(X), X, atol=1e-12)
    assert metrics.tubal_rank(X) == 2
    np.testing.assert_allclose(tp.tubal_singular_values(X)[:, :2], 1.0, atol=1e-12)
    np.testing.assert_allclose(G @ X.ravel(), y, atol=1e-12)
    assert sn.measurement_residual(G, y, X) < 1e-14
    with pytest.raises(ValueError, match="rank"):
        sn.make_sensing_problem(5, 3, 0, 10)


def test_symmetric_measurements_are_t_symmetric():
    G, _, _ = sn.make_sensing_problem(5, 3, 1, 4, symmetric_measurements=True, random_state=1)
    for row in G:
        Gj = row.reshape(5, 5, 3)
        np.testing.assert_allclose(tp.t_transpose(Gj), Gj, atol=1e-14)


def test_metrics_on_known_configurations():
    G, y, truth = sn.make_sensing_problem(6, 5, 2, 40, random_state=2)
    X = truth.tensor
    assert sn.relative_test_error(X, X) == 0.0
    assert sn.singular_tube_error(X, X, 2) == 0.0
    assert sn.singular_tube_error(0.5 * X, X, 2) == pytest.approx(0.5)
    assert sn.principal_angle(truth.V, X, 2) < 1e-12
    # A subspace orthogonal to the truth's in every Fourier slice: angle 1.
    complement = np.eye(6)[:, :, None] * (np.arange(5) == 0) - X
    assert sn.principal_angle(complement, X, 2) == pytest.approx(1.0)
    S = sn.spectral_tensor(G, y, truth.shape)
    np.testing.assert_allclose(tp.t_transpose(S), S, atol=1e-12)
    # Many measurements: the spectral tensor concentrates around X (its angle shrinks).
    G2, y2, truth2 = sn.make_sensing_problem(6, 5, 2, 4000, random_state=2)
    assert sn.principal_angle(sn.spectral_tensor(G2, y2, truth2.shape), truth2.tensor, 2) < 0.3


def test_figure_2_setting_three_phases():
    """Paper Figure 2 at full size: n=10, k=4, r=2, width 100, m=254, step 1e-5, alpha 1e-7."""
    G, y, truth = sn.make_sensing_problem(10, 4, 2, 254, random_state=0)
    res = sn.fit_sensing(
        G,
        y,
        truth.shape,
        width=100,
        init_scale=1e-7,
        learning_rate=1e-5,
        max_iter=10000,
        truth=truth.tensor,
        random_state=0,
        record_every=50,
    )
    it, h = res.history_iter, res.history
    assert res.n_iter == 10000
    assert h["test_error"][-1] <= 1e-3
    early = it <= 2000
    assert np.all(h["test_error"][early] > 0.5)
    # Phase 1: alignment with the spectral subspace while the error is still large.
    assert np.min(h["angle_spectral"][early]) < 0.1
    # Phases 2-3: fitting, then (near-)linear convergence of the error.
    assert h["test_error"][it == 6000][0] < 0.1
    assert h["test_error"][-1] < 0.2 * h["test_error"][it == 8000][0]
    assert h["angle_truth"][-1] < 1e-3 and h["tube_error"][-1] < 1e-3
    assert h["residual"][-1] < 1e-3


def test_sensing_pytorch_parity():
    torch = pytest.importorskip("torch")  # noqa: F841
    G, y, truth = sn.make_sensing_problem(6, 3, 1, 80, random_state=0)
    kwargs = dict(
        width=10,
        init_scale=1e-3,
        learning_rate=2e-3,
        max_iter=100,
        truth=truth.tensor,
        random_state=0,
    )
    ref = sn.fit_sensing(G, y, truth.shape, **kwargs)
    res = sn.fit_sensing(G, y, truth.shape, backend="pytorch", **kwargs)
    np.testing.assert_allclose(res.U, ref.U, atol=1e-8)
    np.testing.assert_allclose(res.history["test_error"], ref.history["test_error"], atol=1e-8)


def test_sensing_callback_sees_the_real_factor():
    G, y, truth = sn.make_sensing_problem(5, 3, 1, 40, random_state=0)
    seen = []
    res = sn.fit_sensing(
        G,
        y,
        truth.shape,
        width=4,
        init_scale=1e-3,
        learning_rate=2e-3,
        max_iter=5,
        random_state=0,
        callback=seen.append,
    )
    assert len(seen) == 5 == res.n_iter
    (U,) = seen[-1].params
    assert U.shape == (5, 4, 3)
    np.testing.assert_allclose(U, res.U)
