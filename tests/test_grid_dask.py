"""GridSearchCV on a local dask.distributed cluster equals the serial search (all four)."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow.datasets import make_ica_mixture, make_low_multilinear_rank, make_tubal_low_rank

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes on 127.0.0.1 (skip if they cannot start)."""
    try:
        cluster = distributed.LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            env={"OMP_NUM_THREADS": "1"},
        )
        client = distributed.Client(cluster, timeout="30s")
    except Exception as exc:  # no sockets, no processes: nothing to test here
        pytest.skip(f"dask.distributed cannot start a local cluster: {exc}")
    yield client
    client.close()
    cluster.close()


def _cases():
    ica, _ = make_ica_mixture(1500, 2, 4, random_state=0)
    tubal, _ = make_tubal_low_rank((10, 6, 4), 2, observed_fraction=0.8, random_state=0)
    tucker, _ = make_low_multilinear_rank(
        (10, 6, 5), (2, 2, 2), observed_fraction=0.8, random_state=0
    )
    fast = {"max_iter": 60, "random_state": 0}
    return [
        (OverparamCP(tensor="cumulant", **fast), ica, [2, 4], [1e-3, 0.1]),
        (DeflationFlowCP(tensor="cumulant", max_epochs=3, **fast), ica, [2, 4], [1e-6, 1e-3]),
        (TubalFactorizer(early_stopping=False, **fast), tubal, [2, 4], [1e-3, 0.1]),
        (DeepTucker(early_stopping=False, **fast), tucker, [3, 5], [1e-2, 0.3]),
    ]


def _search(est, X, widths, scales):
    grid = {"width": widths, "init_scale": scales}
    search = GridSearchCV(est, grid, cv=2, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X)
    return search


@pytest.mark.parametrize("index", range(4), ids=["OverparamCP", "Deflation", "Tubal", "Tucker"])
def test_grid_search_on_dask_cluster_equals_serial(client, index):
    est, X, widths, scales = _cases()[index]
    serial = GridSearchCV(est, {"width": widths, "init_scale": scales}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial.fit(X)
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        remote = _search(est, X, widths, scales)
    # joblib sends the fits in batches named "batch_of__fit_and_score_<k>_calls-..."
    calls = [re.search(r"_(\d+)_calls", task["key"]) for task in stream.data]
    assert sum(int(c.group(1)) for c in calls if c) == 8  # 4 settings x 2 folds, on the cluster
    keys = ("split0_test_score", "split1_test_score", "mean_test_score")
    for key in keys:
        np.testing.assert_allclose(remote.cv_results_[key], serial.cv_results_[key], rtol=1e-12)
    assert remote.best_params_ == serial.best_params_
    assert np.isfinite(remote.cv_results_["mean_test_score"]).all()


def test_chunked_fit_runs_on_the_cluster(client):
    """The passes over a dask array run on the workers and give the local result."""
    X, _ = make_ica_mixture(3000, 2, 4, random_state=1)
    Xd = da.from_array(X, chunks=(700, -1))
    params = {"width": 4, "tensor": "cumulant", "order": 3, "max_iter": 100, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with dask.config.set(scheduler="synchronous"):
            local = OverparamCP(**params).fit(Xd)
        with distributed.get_task_stream(client) as stream:
            remote = OverparamCP(**params).fit(Xd)
    # the packed moment was accumulated chunk by chunk on the workers
    assert any(str(task["key"]).startswith("_packed_chunk") for task in stream.data)
    np.testing.assert_array_equal(remote.columns_, local.columns_)
    assert remote.score(Xd) == local.score(Xd)
