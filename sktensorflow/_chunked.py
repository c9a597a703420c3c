"""Samples larger than memory for the symmetric CP estimators: ``X`` as a dask array.

:class:`~sktensorflow.OverparamCP` and :class:`~sktensorflow.DeflationFlowCP`
with ``tensor="moment"`` or ``"cumulant"`` accept a ``dask.array.Array`` of shape
``(n_samples, n_features)`` (so also zarr stores and memory maps, through
``dask.array.from_zarr`` / ``dask.array.from_array``). It is never loaded
whole: every sum over samples the fit needs is computed chunk by chunk
(:mod:`sktensorflow.models.blockwise`) by dask's scheduler, so under an active
``dask.distributed.Client`` the chunks are processed on the cluster's workers.
Memory is a chunk per running task plus the parameters and, in the
``"packed"`` mode, the packed moment (``C(d+order-1, order)`` floats).

The fit makes a few passes over the data: the largest entry and finiteness
(for the exact power-of-two normalization), for a cumulant the mean and the
covariance (for whitening), then the packed moment — the sufficient statistic
from which the loss, ``||T*||`` and every gradient follow without touching the
data again. Where the packed moment exceeds its budget (large ``d`` or
order) each gradient is one pass instead (see the blockwise module).

The sampling noise (``noise_level_``, ``weight_errors_``) is estimated, as for
in-memory data, from random half-splits, which hold 19 reshuffled copies of
the rows they read; above :data:`NOISE_MAX_ENTRIES` entries (``n_samples *
n_features``) it is estimated on a fixed random subset of
``NOISE_MAX_ENTRIES // n_features`` rows and scaled by
``sqrt(n_subset / n_samples)`` (the noise of an empirical moment decreases as
``1/sqrt(n)``; the subset's rows are multiplied by
``(n_subset / n_samples)^(1 / (2 order))``, which scales every contraction of
the degree-``order`` tensors, the order-4 Gaussian part included, by that
factor). In-memory samples follow the same rule, with the same subset.

``transform`` returns a lazy dask array; ``score`` builds its target chunk by
chunk as ``fit`` does. A dask input gives the numpy input's results up to
rounding (the order of summation).

Grid searches on a cluster
--------------------------
Every estimator of the package works with ``GridSearchCV(n_jobs=-1)`` under
joblib's dask backend, which sends the fits of a grid to the workers of a
``dask.distributed`` cluster::

    from dask.distributed import Client, LocalCluster
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    cluster = LocalCluster(processes=True, n_workers=2, threads_per_worker=1)
    with Client(cluster), parallel_backend("dask"):
        search = GridSearchCV(
            OverparamCP(random_state=0),
            {"width": [5, 20], "init_scale": [1e-3, 1e-1]},
            n_jobs=-1,
        ).fit(X)

The scores equal the serial ones (each fit is deterministic given its
``random_state``); set ``OMP_NUM_THREADS=1`` on the workers when they share a
machine. The data travel to each worker once per task: for large in-memory
``X`` scatter it first (``client.scatter(X, broadcast=True)``) or pass a dask
array.
"""

from typing import NamedTuple

import numpy as np

from ._symmetric_scale import even_exponent
from .models import blockwise as bw

__all__ = ["ChunkedSamples", "is_dask_array", "noise_rows", "samples_for", "validate_chunked"]

#: Largest number of entries the sampling-noise estimate reads (a random subset of rows
#: beyond); its half-splits hold 19 copies of them (2**19 floats: 76 MiB in all).
NOISE_MAX_ENTRIES = 2**19
#: Seed of that subset: the noise level is a function of the data alone.
_SUBSET_SEED = 0


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (without importing dask)."""
    return type(X).__module__.split(".")[:2] == ["dask", "array"]


class ChunkedSamples(NamedTuple):
    """Chunked raw rows and how the fit preprocesses them (in the normalized units)."""

    X: object
    prep: bw.Prep
    order: int
    covariance: object

    def target(self, method="auto"):
        """The :class:`~sktensorflow.models.blockwise.ChunkedTarget` of these rows."""
        return bw.ChunkedTarget(self.X, self.prep, self.order, self.covariance, method=method)


def validate_chunked(est, X, *, reset):
    """Check a dask ``X`` lazily and return it as float64 with one chunk across features."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array of samples for X, got X.ndim={X.ndim}.")
    n, d = X.shape
    if np.isnan(n) or np.isnan(d):
        raise ValueError("X is a dask array of unknown shape; call X.compute_chunk_sizes() first.")
    if n < 1 or d < 1:
        raise ValueError(f"X has shape {X.shape}; at least 1 sample and 1 feature are needed.")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X has dtype {X.dtype}, expected real numbers.")
    if reset:
        vars(est).pop("feature_names_in_", None)
        est.n_features_in_ = d
    elif d != est.n_features_in_:
        raise ValueError(
            f"X has {d} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    return X.astype(np.float64).rechunk({1: -1})


def _largest_entry(X):
    """``max |X|``, raising a ``ValueError`` for NaN or infinity (one pass)."""
    import dask
    import dask.array as da

    largest, finite = dask.compute(abs(X).max(), da.isfinite(X).all())
    if not finite:
        raise ValueError("Input X contains NaN or infinity.")
    return float(largest)


def samples_for(est, X, *, fit):
    """:class:`ChunkedSamples` of validated dask rows ``X``.

    With ``fit=True`` also fits the preprocessing (``_x_exp``, ``_mean_n``,
    ``_whitening_n``, ``_t_exp``) as :meth:`BaseSymmetricCP._fit_target` does
    for in-memory samples; else uses the fitted one (``score``).
    """
    cumulant = est.tensor == "cumulant"
    whitened = cumulant and est.whiten
    largest = _largest_entry(X)
    if fit:
        warm = est._continuation(X.shape[1])
        est._x_exp = warm.extras["x_exp"] if warm else even_exponent(largest)
        n, d = X.shape
        est._mean_n = bw.column_sums(X, bw.Prep(est._x_exp)) / n if cumulant else np.zeros(d)
        if whitened:
            centered = bw.Prep(est._x_exp, est._mean_n)
            est._whitening_n = bw.inverse_sqrt(bw.scatter(X, centered) / n)
        else:
            est._whitening_n = np.eye(d)
        est._t_exp = 0 if whitened else est._x_exp * est.order
    prep = bw.Prep(
        est._x_exp, est._mean_n if cumulant else None, est._whitening_n if whitened else None
    )
    covariance = None
    if cumulant and est.order == 4:
        covariance = bw.scatter(X, prep) / X.shape[0]
    return ChunkedSamples(X, prep, est.order, covariance)


def noise_rows(data, order):
    """Host rows for the sampling-noise estimate, standing for all the rows of ``data``.

    ``data`` is preprocessed host rows or :class:`ChunkedSamples`. Up to
    :data:`NOISE_MAX_ENTRIES` entries: all the rows; beyond, a fixed random
    subset of ``NOISE_MAX_ENTRIES // n_features`` rows (the same for in-memory
    and chunked data), scaled so that the estimate is that of all rows (module
    docstring).
    """
    chunked = isinstance(data, ChunkedSamples)
    n, d = data.X.shape if chunked else data.shape
    size = max(NOISE_MAX_ENTRIES // d, 4)
    if n <= size:
        return bw.preprocess(data.X.compute(), data.prep) if chunked else data
    rng = np.random.default_rng(_SUBSET_SEED)
    rows = np.sort(rng.choice(n, size=size, replace=False))
    subset = bw.preprocess(data.X[rows].compute(), data.prep) if chunked else data[rows]
    return subset * (size / n) ** (0.5 / order)
