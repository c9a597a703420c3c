"""The sampling-noise level from packed split differences equals the sample path."""

import tracemalloc

import numpy as np
import pytest

from sktensorflow.models.packed_moments import CHUNK_ENTRIES, PackedTensor, accumulator_size
from sktensorflow.models.sampling_noise import (
    choose_contractions,
    half_splits,
    noise_level,
    packed_noise_contractions,
)
from sktensorflow.models.symmetric_cp import sample_target, target_contractions


def _skewed(n, d, seed):
    X = np.random.default_rng(seed).exponential(size=(n, d)) @ np.diag(np.arange(1.0, d + 1))
    return X - X.mean(axis=0)


@pytest.mark.parametrize("order", [2, 3, 4, 5])
@pytest.mark.parametrize("d", [1, 4, 11])
def test_packed_contractions_equal_sample_contractions(order, d):
    rng = np.random.default_rng(order * 100 + d)
    X, U = rng.standard_normal((200, d)), rng.standard_normal((d, 7))
    V, rho = PackedTensor(X, order).contractions(U)
    V_ref, rho_ref = target_contractions(sample_target(X, order), U)
    np.testing.assert_allclose(V, V_ref, rtol=1e-12, atol=1e-12 * np.abs(V_ref).max())
    np.testing.assert_allclose(rho, rho_ref, rtol=1e-12, atol=1e-12 * np.abs(rho_ref).max())


@pytest.mark.parametrize("order", [3, 4])
@pytest.mark.parametrize("cumulant", [False, True])
def test_noise_level_packed_equals_samples(order, cumulant):
    X = _skewed(1501, 5, order)  # odd n: one row left out of every split
    splits = half_splits(X, order, cumulant=cumulant, rng=np.random.default_rng(1), n_splits=5)
    ref = noise_level(splits, np.random.default_rng(2), method="samples")
    packed = noise_level(splits, np.random.default_rng(2), method="packed")
    np.testing.assert_allclose(packed.sups, ref.sups, rtol=1e-10)
    assert abs(packed.level - ref.level) <= 1e-10 * ref.level


def test_order4_cumulant_subtracts_each_halfs_gaussian_part():
    X = _skewed(800, 4, 3)
    pair = half_splits(X, 4, cumulant=True, rng=np.random.default_rng(0), n_splits=1)[0]
    U = np.random.default_rng(1).standard_normal((4, 6))
    V, rho = packed_noise_contractions(pair)(U)
    (V_a, rho_a), (V_b, rho_b) = (target_contractions(t, U) for t in pair)
    np.testing.assert_allclose(rho, 0.5 * (rho_a - rho_b), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(V, 0.5 * (V_a - V_b), rtol=1e-11, atol=1e-12)


def test_choose_contractions_small_n_and_memory_budget():
    assert choose_contractions(50, 30, 3, 60, 20) == "samples"
    assert choose_contractions(20_000, 30, 3, 60, 20) == "packed"
    assert choose_contractions(20_000, 30, 3, 60, 20, max_entries=1000) == "samples"
    assert choose_contractions(20_000, 30, 1, 60, 20) == "samples"


def test_auto_uses_packed_path_for_many_samples(monkeypatch):
    import sktensorflow.models.sampling_noise as sn

    calls = []
    original = sn.packed_noise_contractions
    monkeypatch.setattr(sn, "packed_noise_contractions", lambda p: calls.append(1) or original(p))
    X = _skewed(20_000, 8, 5)
    splits = half_splits(X, 3, cumulant=True, rng=np.random.default_rng(0), n_splits=2)
    auto = noise_level(splits, np.random.default_rng(3), n_iter=3)
    ref = noise_level(splits, np.random.default_rng(3), n_iter=3, method="samples")
    assert len(calls) == 2
    np.testing.assert_allclose(auto.sups, ref.sups, rtol=1e-10)


def _packed_peak(n, d, order, k):
    X = _skewed(n, d, 7)
    pair = half_splits(X, order, cumulant=True, rng=np.random.default_rng(0), n_splits=1)[0]
    U = np.random.default_rng(1).standard_normal((d, k))
    tracemalloc.start()
    try:
        packed_noise_contractions(pair)(U)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_packed_noise_memory_bounded_and_independent_of_n():
    d, order, k = 40, 4, 80  # dense d^4 float64: 20 MiB; monomials x k columns: 7 MiB
    bound = 8 * (6 * accumulator_size(d, order) + 4 * CHUNK_ENTRIES)  # about 15 MiB
    small, large = _packed_peak(600, d, order, k), _packed_peak(2400, d, order, k)
    assert large < bound
    assert large - small < 2**20


def test_noise_level_rejects_unknown_method():
    splits = half_splits(_skewed(40, 2, 0), 3, cumulant=True, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="method"):
        noise_level(splits, np.random.default_rng(0), method="dense")
