"""The scale features together: float32 with dask input and partial_fit, warm starts on entries."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker, OverparamCP
from sktensorflow.datasets import make_ica_mixture, make_low_multilinear_rank


@pytest.fixture(scope="module")
def samples():
    X, _ = make_ica_mixture(4000, 3, 5, random_state=0)
    return X + 0.1 * np.random.default_rng(0).standard_normal(X.shape)


def _weights(est):
    return np.sort(np.abs(np.asarray(est.weights_, dtype=float)))


def test_float32_fit_of_dask_samples_agrees_with_float64(samples):
    da = pytest.importorskip("dask.array")
    kw = dict(width=8, order=3, tensor="cumulant", random_state=0)
    ref = OverparamCP(**kw).fit(samples)
    est = OverparamCP(dtype="float32", **kw).fit(da.from_array(samples, chunks=1000))
    assert est.rank_ == ref.rank_ == 3
    assert est.weights_.dtype == np.float32 and est.components_.dtype == np.float32
    np.testing.assert_allclose(_weights(est), _weights(ref), rtol=1e-3)  # measured 1e-4


def test_float32_partial_fit_agrees_with_float64_fit(samples):
    kw = dict(width=8, order=3, tensor="moment", random_state=0)
    est = OverparamCP(dtype="float32", **kw)
    for batch in np.array_split(samples, 4):
        est.partial_fit(batch)
    ref = OverparamCP(**kw).fit(samples)
    assert est.rank_ == ref.rank_
    assert est.weights_.dtype == np.float32
    np.testing.assert_allclose(_weights(est), _weights(ref), rtol=1e-3)  # measured 6e-5


def test_warm_start_on_entries_continues_as_one_longer_fit():
    Y, _ = make_low_multilinear_rank((12, 10, 8), (2, 2, 2), observed_fraction=0.5, random_state=0)
    observed = ~np.isnan(Y)
    entries = (np.argwhere(observed), Y[observed], Y.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = DeepTucker(max_iter=30, tol=0.0, warm_start=True, random_state=0).fit(entries)
        warm.fit(entries)
        once = DeepTucker(max_iter=60, tol=0.0, random_state=0).fit(entries)
    assert warm.n_iter_ == once.n_iter_ == 60
    np.testing.assert_array_equal(warm.core_, once.core_)
    np.testing.assert_array_equal(warm.loss_curve_, once.loss_curve_)
