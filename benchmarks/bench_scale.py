"""OverparamCP on samples larger than memory: a chunked dask array, fitted chunk by chunk.

The samples ``x = A s + 0.5 g`` (``d`` features, three centered exponential
sources ``s`` mixed by an orthonormal ``A``, Gaussian noise ``g``) are a lazy
``dask.array``: each chunk is drawn from the seed when a pass reads it, so
the array is never held whole (as data read from zarr or a memory map are
not). ``OverparamCP(tensor="cumulant", order=3)`` fits the third cumulant,
whose components are the columns of ``A`` with weight 2.

For each ``n`` the script reports the fit's wall and CPU time (the CPU time
of the process: with the default synchronous scheduler it is the fit's work,
whatever else runs on the machine), the CPU time per million samples (linear
in ``n``: the fit reads the data in a fixed number of passes,
:mod:`sktensorflow._chunked`), the peak of memory allocated by numpy during
the fit (``tracemalloc``) in MB and in chunks, the rank found and the
smallest ``|cos|`` between a true source direction and its best-matching
recovered component. The packed third moment (``C(d+2, 3)`` floats) is the
sufficient statistic; the gradient steps never touch the data, so their time
does not depend on ``n``.

Run ``python benchmarks/bench_scale.py`` (``--sizes 1e5,3e5`` for a quick
look, ``--scheduler threads --workers 2`` or a ``dask.distributed`` client
for parallel passes, ``--backend pytorch`` for the same fit on the pytorch
backend: the packed moment stays on the host, where each step's
contractions are computed and moved to the backend, so the rows compare the
loop's overhead on the two backends; ``tracemalloc`` sees numpy's
allocations only, so the peak leaves out torch's).
"""

import argparse
import json
import time
import tracemalloc

import dask
import dask.array as da
import numpy as np
import tensorly as tl

from sktensorflow import OverparamCP


def _chunk(block_info=None, *, A, seed):
    """One chunk of samples, drawn from ``seed`` and the chunk's index (two chunk-size arrays)."""
    (rows, cols), index = block_info[None]["chunk-shape"], block_info[None]["chunk-location"]
    rng = np.random.default_rng([seed, index[0]])
    X = rng.standard_normal((rows, cols))
    X *= 0.5
    X += (rng.exponential(size=(rows, 3)) - 1.0) @ A.T
    return X


def lazy_samples(n, d, chunk, seed=0):
    """Lazy ``(n, d)`` samples of three skewed sources mixed by an orthonormal ``A``."""
    A = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, 3)))[0]
    chunks = (tuple(min(chunk, n - s) for s in range(0, n, chunk)), (d,))
    return da.map_blocks(_chunk, chunks=chunks, dtype=np.float64, A=A, seed=seed + 1), A


def run(n, d, chunk, max_iter, backend="numpy"):
    X, A = lazy_samples(n, d, chunk)
    est = OverparamCP(
        width=10, tensor="cumulant", order=3, max_iter=max_iter, random_state=0, backend=backend
    )
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    est.fit(X)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    components = np.asarray(est.components_)  # a torch tensor on the pytorch backend
    cos = np.abs(A.T @ components.T).max(axis=1) if est.rank_ else np.zeros(3)
    chunk_mb = chunk * d * 8 / 2**20
    return {
        "backend": backend,
        "n": n,
        "chunk MB": round(chunk_mb, 1),
        "fit s": round(seconds, 1),
        "cpu s": round(cpu, 1),
        "cpu s per 1e6": round(cpu / n * 1e6, 2),
        "peak MB": round(peak / 2**20, 1),
        "peak / chunk": round(peak / 2**20 / chunk_mb, 1),
        "iters": est.n_iter_,
        "rank": est.rank_,
        "min cos": round(float(cos.min()), 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,3e6,1e7")
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--max-iter", type=int, default=2000)
    parser.add_argument("--scheduler", default="synchronous")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", default="numpy", help="tensorly backend of the fit")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    if args.backend != "numpy":  # load the backend before the measurements
        tl.set_backend(args.backend)
        tl.set_backend("numpy")
    with dask.config.set(scheduler=args.scheduler, num_workers=args.workers):
        for size in args.sizes.split(","):
            rows.append(run(int(float(size)), args.d, args.chunk, args.max_iter, args.backend))
            if len(rows) > 1:  # CPU time of the added samples: the passes over the data
                extra = rows[-1]["cpu s"] - rows[-2]["cpu s"]
                rows[-1]["marginal cpu s per 1e6"] = round(
                    extra / (rows[-1]["n"] - rows[-2]["n"]) * 1e6, 2
                )
            print(json.dumps(rows[-1]), flush=True)
    keys = list(rows[-1])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
