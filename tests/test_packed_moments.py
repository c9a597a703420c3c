"""Squared norm of a sample target: packed (linear in n) against the Gram computation."""

import tracemalloc
import warnings

import numpy as np
import pytest

from sktensorflow import OverparamCP, _backend
from sktensorflow.models import packed_moments as pm
from sktensorflow.models import symmetric_cp as scp


def _old_sample_norm_sq(X, order, covariance):
    """The Gram computation of ``||T*||²`` the library used before the packed form."""
    n = X.shape[0]
    K = X @ X.T
    total = float(np.sum(K**order)) / n**2
    if covariance is not None:
        S = covariance
        quad = np.sum((X @ S) * X, axis=1)
        total += -6.0 * np.sum(quad**2) / n + 3.0 * np.sum(S * S) ** 2 + 6.0 * np.sum((S @ S) ** 2)
    return total


def _dense_norm_sq(X, order, cumulant):
    """``||T*||²`` from the dense tensor (small ``d`` only): an independent reference."""
    n, letters = X.shape[0], "abcd"[:order]
    T = np.einsum(",".join("s" + c for c in letters) + "->" + letters, *([X] * order)) / n
    if cumulant and order == 4:
        S = X.T @ X / n
        T = T - (
            np.einsum("ab,cd->abcd", S, S)
            + np.einsum("ac,bd->abcd", S, S)
            + np.einsum("ad,bc->abcd", S, S)
        )
    return float(np.sum(T * T))


def _samples(n, d, *, cumulant, whiten, seed=0):
    """Skewed, heavy-tailed, correlated rows, preprocessed as the estimators do."""
    rng = np.random.default_rng(seed)
    X = (rng.exponential(size=(n, d)) - 0.3 * rng.laplace(size=(n, d))) @ rng.normal(size=(d, d))
    if cumulant:
        X = X - X.mean(axis=0)
    if whiten:
        eigval, eigvec = np.linalg.eigh(X.T @ X / n)
        X = X @ (eigvec / np.sqrt(eigval) @ eigvec.T)
    return X


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("d", [1, 3, 7])
def test_packed_matches_gram_and_dense(order, d):
    X = np.random.default_rng(order * 10 + d).standard_normal((60, d))
    dense = _dense_norm_sq(X, order, cumulant=False) if order <= 4 else None
    gram = pm.gram_moment_norm_sq(X, order, block=16)
    for chunk_entries, n_blocks in [(1, 1), (40, 3), (pm.CHUNK_ENTRIES, 8)]:
        packed = pm.packed_moment_norm_sq(X, order, chunk_entries=chunk_entries, n_blocks=n_blocks)
        assert packed == pytest.approx(gram, rel=1e-12)
        if dense is not None:
            assert packed == pytest.approx(dense, rel=1e-12)
    assert gram == pytest.approx(_old_sample_norm_sq(X, order, None), rel=1e-12)


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("cumulant", [False, True])
@pytest.mark.parametrize("order", [3, 4])
def test_sample_target_norm_equals_old_computation(order, cumulant, whiten):
    n, d = 3000, 5
    assert pm.choose_method(n, d, order) == "packed"
    X = _samples(n, d, cumulant=cumulant, whiten=whiten)
    target = scp.sample_target(X, order, cumulant=cumulant)
    new = scp.target_norm_sq(target)
    old = _old_sample_norm_sq(X, order, target.covariance)
    assert new == pytest.approx(old, rel=1e-10)
    assert new == pytest.approx(_dense_norm_sq(X, order, cumulant), rel=1e-10)


@pytest.mark.parametrize("order", [3, 4])
def test_score_equals_old_computation(order, monkeypatch):
    X = _samples(2500, 4, cumulant=False, whiten=False, seed=1)
    est = OverparamCP(tensor="cumulant", order=order, whiten=True, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    new = est.score(X)
    monkeypatch.setattr(scp, "moment_norm_sq", pm.gram_moment_norm_sq)
    old = est.score(X)
    assert new != 0.0
    assert new == pytest.approx(old, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("order", [3, 4])
@pytest.mark.parametrize("cumulant", [False, True])
def test_large_n_allocates_no_gram_matrix(order, cumulant):
    n, d = 20_000, 5
    X = _samples(n, d, cumulant=cumulant, whiten=cumulant, seed=2)
    tracemalloc.start()
    try:
        scp.target_norm_sq(scp.sample_target(X, order, cumulant=cumulant))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # n² floats would be 3.2 GB and the tiled Gram computation peaks at ~25 MB
    # (1024 × 1024 tiles and their powers); the packed form holds one chunk of
    # monomials (CHUNK_ENTRIES floats, 2 MB) and the tiny packed moment.
    assert peak < 4 * pm.CHUNK_ENTRIES * 8
    assert peak < 2.5e-3 * n * n * 8


def test_choice_keeps_small_n_on_gram_and_large_n_on_packed():
    assert pm.choose_method(50, 30, 3) == "gram"
    assert pm.choose_method(200, 30, 4) == "gram"
    assert pm.choose_method(200_000, 30, 3) == "packed"
    assert pm.choose_method(200_000, 30, 4) == "packed"


def test_memory_budget_falls_back_to_tiled_gram():
    n, d, order = 3000, 12, 4
    size = pm.accumulator_size(d, order)
    assert size > pm.packed_size(d, order)  # column blocks hold redundant entries
    assert pm.choose_method(n, d, order, max_entries=size) == "packed"
    assert pm.choose_method(n, d, order, max_entries=size - 1) == "gram"
    X = _samples(n, d, cumulant=False, whiten=False, seed=3)
    expected = pm.packed_moment_norm_sq(X, order)
    tracemalloc.start()
    try:
        value = pm.moment_norm_sq(X, order, max_entries=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert value == pytest.approx(expected, rel=1e-10)
    # Tiles of 1024 × 1024 (plus a power of one), never the 3000 × 3000 Gram matrix.
    assert 1024 * 1024 * 8 < peak < 0.5 * n * n * 8


def test_layout_multiplicities_count_every_index_tuple():
    d, order = 4, 4
    ends, last, run, mult = pm._layout(d, order)
    assert mult.sum() == d ** (order - 1)
    assert [int(e[-1]) for e in ends] == [pm.packed_size(d, k) for k in range(1, order)]
    weights = [
        pm._block_weights(last, run, mult, order, start, stop, int(ends[-1][stop - 1]))
        for start, stop in pm._column_blocks(d, 3)
    ]
    assert sum(w.sum() for w in weights) == d**order
    assert sum(np.count_nonzero(w) for w in weights) == pm.packed_size(d, order)
    assert sum(w.size for w in weights) == pm.accumulator_size(d, order, n_blocks=3)


def test_pytorch_backend_matches_numpy():
    torch = pytest.importorskip("torch")
    X = _samples(400, 4, cumulant=False, whiten=False, seed=4)
    expected = pm.packed_moment_norm_sq(X, 3)
    with _backend.backend_context("pytorch"):
        value = pm.packed_moment_norm_sq(torch.tensor(X), 3, chunk_entries=500)
    assert value == pytest.approx(expected, rel=1e-12)
