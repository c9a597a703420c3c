"""In-memory samples: the packed moment target where cheaper, and the noise subset."""

import numpy as np
import pytest

import sktensorflow._chunked as chunked
from sktensorflow import DeflationFlowCP, OverparamCP
from sktensorflow.models import blockwise as bw
from sktensorflow.models import packed_moments as pm
from sktensorflow.models import symmetric_cp as scp

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _sources(n, d, seed=0):
    rng = np.random.default_rng(seed)
    A = np.linalg.qr(rng.standard_normal((d, 3)))[0]
    return (rng.laplace(size=(n, 3)) + rng.exponential(size=(n, 3)) - 1.0) @ A.T + 0.2 * (
        rng.standard_normal((n, d))
    )


@pytest.mark.parametrize("order, cumulant", [(3, False), (3, True), (4, True)])
def test_packed_target_equals_the_sample_target(order, cumulant):
    X = _sources(2000, 5)
    X = X - X.mean(axis=0) if cumulant else X
    samples = scp.sample_target(X, order, cumulant=cumulant)
    packed = bw.packed_sample_target(X, order, samples.covariance)
    assert scp.target_norm_sq(packed) == pytest.approx(scp.target_norm_sq(samples), rel=1e-12)
    W = np.random.default_rng(1).standard_normal((5, 7))
    got, want = scp.target_contractions(packed, W), scp.target_contractions(samples, W)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize(
    "cls, params",
    [
        (OverparamCP, dict(width=10, tensor="cumulant", order=3, max_iter=300)),
        (OverparamCP, dict(width=10, tensor="cumulant", order=4, max_iter=300)),
        (DeflationFlowCP, dict(width=10, tensor="moment", order=3, max_epochs=4)),
    ],
)
def test_a_fit_on_the_packed_target_equals_one_on_the_samples(cls, params, monkeypatch):
    X = _sources(20000, 6)
    assert pm.prefer_packed_target(20000, 6, params["order"], 10)
    packed = cls(random_state=0, **params).fit(X)
    monkeypatch.setattr(pm, "prefer_packed_target", lambda *args, **kwargs: False)
    samples = cls(random_state=0, **params).fit(X)
    assert packed.rank_ == samples.rank_ > 0
    assert packed.noise_level_ == pytest.approx(samples.noise_level_, rel=1e-12)
    np.testing.assert_allclose(packed.weights_, samples.weights_, rtol=1e-6)
    np.testing.assert_allclose(packed.components_, samples.components_, atol=1e-6)


def test_in_memory_and_chunked_noise_use_the_same_subset(monkeypatch):
    da = pytest.importorskip("dask.array")
    monkeypatch.setattr(chunked, "NOISE_MAX_ENTRIES", 1500 * 6)
    X = _sources(6000, 6)
    params = dict(width=6, tensor="cumulant", order=3, max_iter=5, random_state=0)
    memory = OverparamCP(**params).fit(X)
    dask = OverparamCP(**params).fit(da.from_array(X, chunks=(1000, -1)))
    assert memory.noise_level_ == pytest.approx(dask.noise_level_, rel=1e-10)
    monkeypatch.setattr(chunked, "NOISE_MAX_ENTRIES", 10**9)
    every_row = OverparamCP(**params).fit(X).noise_level_
    assert every_row != memory.noise_level_  # the subset was used
    assert 0.6 * every_row < memory.noise_level_ < 1.6 * every_row
