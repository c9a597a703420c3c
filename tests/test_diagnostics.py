"""Tubal diagnostics: the signal/noise split of a factor and the phase boundaries."""

import numpy as np
import pytest

from sktensorflow import TubalFactorizer, TubalSensing
from sktensorflow import tproduct as tp
from sktensorflow.datasets import make_tubal_low_rank, make_tubal_sensing
from sktensorflow.diagnostics import (
    SignalNoiseRecorder,
    phase_boundaries,
    signal_noise_split,
    tubal_signal_noise,
)
from sktensorflow.sensing import fit_sensing, spectral_tensor


def _orthonormal(n, r, k, seed=0):
    """``r`` orthonormal tubes: the leading left singular tubes of a Gaussian tensor."""
    return tp.t_svd(np.random.default_rng(seed).normal(size=(n, r, k)), rank=r).U


@pytest.mark.parametrize("k", [1, 4, 5])
def test_split_of_a_known_factor(k):
    """``U = [2 V, 0.1 W]`` with ``W ⟂ V``: signal 2, noise 0.1, angle 0."""
    Q = _orthonormal(7, 5, k)
    V, W = Q[:, :2], Q[:, 2:]
    truth = tp.t_product(V, tp.t_transpose(V))
    split = tubal_signal_noise(np.concatenate([2 * V, 0.1 * W], axis=1), truth)
    assert split.rank == 2 and split.truth_sigma_min == pytest.approx(1.0)
    assert split.sigma_min_signal == pytest.approx(2.0, rel=1e-12)
    assert split.noise_norm == pytest.approx(0.1, rel=1e-12)
    assert split.angle < 1e-12
    # Rotated by theta out of the truth's subspace: all signal, angle sin(theta).
    theta = 0.3
    tilted = tubal_signal_noise(np.cos(theta) * V + np.sin(theta) * W[:, :2], truth)
    assert tilted.sigma_min_signal == pytest.approx(np.cos(theta), rel=1e-12)
    assert tilted.noise_norm < 1e-12
    assert tilted.angle == pytest.approx(np.sin(theta), rel=1e-10)


def test_right_side_and_errors():
    L, R = _orthonormal(6, 2, 3, seed=1), _orthonormal(5, 2, 3, seed=2)
    truth = tp.t_product(3 * L, tp.t_transpose(R))
    split = tubal_signal_noise(R, truth, side="right")
    assert split.sigma_min_signal == pytest.approx(1.0) and split.noise_norm < 1e-12
    assert split.truth_sigma_min == pytest.approx(3.0)
    assert tubal_signal_noise(L, truth).angle < 1e-12
    with pytest.raises(ValueError, match="side"):
        tubal_signal_noise(R, truth, side="up")
    with pytest.raises(ValueError, match="rank"):
        tubal_signal_noise(L, truth, rank=7)


@pytest.mark.parametrize("tube_axis", [2, 1])
def test_split_of_fitted_factorizer_is_balanced(tube_axis):
    """At a fit from a small start both factors carry ``sqrt(sigma_r)`` of the signal."""
    X, truth = make_tubal_low_rank((12, 10, 4), 2, random_state=0)
    if tube_axis == 1:
        X, truth.tensor = np.swapaxes(X, 1, 2), np.swapaxes(truth.tensor, 1, 2)
    est = TubalFactorizer(8, tube_axis=tube_axis, early_stopping=False, random_state=0)
    est.fit(X)
    for factor in (0, 1):
        split = signal_noise_split(est, truth.tensor, factor=factor)
        assert split.rank == 2
        # measured 1.6-2.6 % (the two factors share sigma_r unequally)
        assert split.sigma_min_signal**2 == pytest.approx(split.truth_sigma_min, rel=0.05)
        assert split.noise_norm < 3e-3 * split.sigma_min_signal  # measured 2.5e-4
        assert split.angle < 1e-3  # measured 6e-5


def test_phase_boundaries_of_a_sensing_run():
    G, y, truth = make_tubal_sensing((8, 8, 3), 2, 150, random_state=0)
    record = SignalNoiseRecorder(
        truth.tensor, every=1, spectral=spectral_tensor(G, y, truth.shape)
    )
    res = fit_sensing(G, y, truth.shape, width=20, init_scale=1e-6, learning_rate=2e-4,
                      max_iter=400, truth=truth.tensor, random_state=0, callback=record,
                      record_every=1)  # fmt: skip
    assert record.iters == list(range(1, 401))
    at = np.searchsorted(res.history_iter, record.iters)
    np.testing.assert_allclose(record.test_error, res.history["test_error"][at], rtol=1e-10)
    phases = phase_boundaries(record)
    # measured: alignment ends at 160, spectral-angle minimum 0.0019 at 156, fitting ends
    # at 258. The bands fail a gradient 5 % too large (153, 149, 246) or 10 % too small
    # (178, 173, 286).
    assert 157 <= phases.alignment_end <= 163
    assert 152 <= phases.min_angle_spectral_iter <= 160 and phases.min_angle_spectral < 0.004
    assert 252 <= phases.fitting_end <= 264
    signal = np.asarray(record.sigma_min_signal)
    assert signal[-1] ** 2 == pytest.approx(record.truth_sigma_min, rel=0.04)  # measured 0.98
    short = {k: v[:100] for k, v in _as_dict(record).items()}
    short = phase_boundaries({**short, "truth_sigma_min": record.truth_sigma_min})
    assert short.fitting_end is None and short.alignment_end is None


def _as_dict(record):
    names = ("iters", "sigma_min_signal", "noise_norm", "angle", "test_error", "angle_spectral")
    return {name: list(getattr(record, name)) for name in names}


def test_split_of_fitted_sensing_estimator():
    X, y, truth = make_tubal_sensing((6, 5, 3), 2, 180, symmetric=False, random_state=0)
    est = TubalSensing(12, shape=truth.shape, random_state=0).fit(X, y)
    left = signal_noise_split(est, truth.tensor)
    right = signal_noise_split(est, truth.tensor, factor=1)
    for split in (left, right):
        assert split.sigma_min_signal**2 == pytest.approx(split.truth_sigma_min, rel=0.05)
        assert split.noise_norm < 0.05 * split.sigma_min_signal
    with pytest.raises(ValueError, match="factor"):
        signal_noise_split(est, truth.tensor, factor=2)
