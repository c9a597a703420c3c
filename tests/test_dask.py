"""Samples in a chunked dask array: blockwise contractions equal the in-memory ones."""

import numpy as np
import pytest
from finite_differences import numeric_grad

from sktensorflow import DeflationFlowCP, OverparamCP, _chunked
from sktensorflow.models import blockwise as bw
from sktensorflow.models import symmetric_cp as scp

da = pytest.importorskip("dask.array")


def _sources(n=2000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    A = np.linalg.qr(rng.standard_normal((d, 3)))[0]
    S = rng.exponential(size=(n, 3)) - 1.0
    return S @ A.T + 0.2 * rng.standard_normal((n, d)) + 0.3


def _pair(X, order, cumulant, method, chunks=300):
    """The in-memory sample target of ``X`` and the chunked one, same preprocessing."""
    mean = X.mean(axis=0) if cumulant else None
    Xp = X - mean if cumulant else X
    prep = bw.Prep(0, mean)
    cov = Xp.T @ Xp / X.shape[0] if (cumulant and order == 4) else None
    chunked = bw.ChunkedTarget(
        da.from_array(X, chunks=(chunks, -1)), prep, order, cov, method=method
    )
    return scp.sample_target(Xp, order, cumulant=cumulant), chunked


@pytest.mark.parametrize("method", ["packed", "passes"])
@pytest.mark.parametrize(("order", "cumulant"), [(2, False), (3, False), (3, True), (4, True)])
def test_contractions_and_norm_equal_in_memory(method, order, cumulant):
    X = _sources()
    ref, chunked = _pair(X, order, cumulant, method)
    assert chunked.method == method
    U = np.random.default_rng(1).standard_normal((X.shape[1], 5))
    _, U = scp.split_columns(U)
    for got, want in zip(
        scp.target_contractions(chunked, U), scp.target_contractions(ref, U), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    want_sq = scp.target_norm_sq(ref)
    assert scp.target_norm_sq(chunked) == pytest.approx(want_sq, rel=1e-10)


@pytest.mark.parametrize("method", ["packed", "passes"])
def test_gradient_of_chunked_target_matches_finite_differences(method):
    X = _sources(n=500, d=4)
    _, target = _pair(X, 4, True, method, chunks=128)
    W = np.random.default_rng(2).standard_normal((4, 3))
    signs = np.array([1.0, -1.0, 1.0])

    def loss(params):
        return scp.loss_and_grad(params[0], target, signs, target_sq=target.norm_sq)[0]

    _, (grad,) = scp.loss_and_grad(W, target, signs, target_sq=target.norm_sq)
    np.testing.assert_allclose(grad, numeric_grad(loss, (W,))[0], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    ("Est", "params"),
    [
        (OverparamCP, {"width": 8, "tensor": "cumulant", "order": 3, "max_iter": 150}),
        (OverparamCP, {"width": 6, "tensor": "moment", "order": 3, "max_iter": 150}),
        (DeflationFlowCP, {"tensor": "cumulant", "order": 3, "whiten": True}),
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_on_dask_equals_fit_on_numpy(Est, params):
    X = _sources()
    Xd = da.from_array(X, chunks=(450, 3))  # uneven row chunks, split features
    a = Est(random_state=0, **params).fit(X)
    b = Est(random_state=0, **params).fit(Xd)
    assert b.rank_ == a.rank_ and b.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(b.noise_level_, a.noise_level_, rtol=1e-10)
    np.testing.assert_allclose(b.mean_, a.mean_, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(b.whitening_, a.whitening_, rtol=1e-10, atol=1e-12)
    # the trajectories agree to the rounding of the sums, amplified over the iterations
    np.testing.assert_allclose(b.columns_, a.columns_, atol=1e-5 * np.abs(a.columns_).max())
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-6)
    assert b.score(Xd) == pytest.approx(a.score(X), abs=1e-6)
    # one fitted model: score and transform of dask and numpy samples agree to rounding
    assert b.score(Xd) == pytest.approx(b.score(X), abs=1e-10)
    Z = b.transform(Xd)
    assert _chunked.is_dask_array(Z)
    np.testing.assert_allclose(Z.compute(), b.transform(X), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_noise_from_a_subset_scales_to_all_rows(monkeypatch):
    X = _sources(n=16000, d=4, seed=3)
    Xd = da.from_array(X, chunks=(4000, -1))
    params = {"width": 6, "tensor": "cumulant", "order": 3, "max_iter": 5, "random_state": 0}
    full = OverparamCP(**params).fit(Xd).noise_level_
    monkeypatch.setattr(_chunked, "NOISE_MAX_ENTRIES", 2000 * 4)
    subset = OverparamCP(**params).fit(Xd).noise_level_
    unscaled = subset / (2000 / 16000) ** 0.5
    # the subset's estimate, rescaled to 16000 rows, is of the size of the full one
    assert 0.6 * full < subset < 1.6 * full
    assert not 0.6 * full < unscaled < 1.6 * full


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_chunked_input_is_validated():
    est = OverparamCP(tensor="moment")
    bad = da.from_array(np.array([[1.0, np.nan], [0.0, 1.0]]), chunks=1)
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(bad)
    with pytest.raises(ValueError, match="2-D"):
        est.fit(da.ones(5, chunks=2))
    est.set_params(max_iter=5).fit(da.from_array(_sources(n=20, d=3), chunks=4))
    with pytest.raises(ValueError, match="X has 4 features, but OverparamCP is expecting 3"):
        est.transform(da.ones((2, 4)))
    with pytest.raises(ValueError, match="method must be"):
        bw.ChunkedTarget(da.ones((4, 2)), bw.Prep(0), 3, method="dense")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_memory_map_through_dask(tmp_path):
    X = _sources(n=1200, d=5)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=X.shape)
    mm[:] = X
    mm.flush()
    data = np.load(tmp_path / "x.npy", mmap_mode="r")
    params = {"width": 5, "tensor": "moment", "order": 3, "max_iter": 50, "random_state": 0}
    a = OverparamCP(**params).fit(np.asarray(data, dtype=np.float64))
    b = OverparamCP(**params).fit(da.from_array(data, chunks=(256, -1)))
    np.testing.assert_allclose(b.columns_, a.columns_, rtol=1e-8, atol=1e-10)
    assert b.noise_level_ == pytest.approx(a.noise_level_, rel=1e-10)
