"""Completion from observed entries given as ``sparse.COO``: DeepTucker and TubalFactorizer.

A planted tensor of multilinear rank ``(3, 3, 3)`` (a Gaussian core and
orthonormal factors, scaled to unit root-mean-square entry, plus Gaussian
noise of 0.05) of shape ``500 x 500 x 100`` is observed at 1 % of its
entries, drawn at random; a disjoint set of entries is held out for testing.
The truth is only ever evaluated at those coordinates: the 25-million-entry
tensor is never built, except by TubalFactorizer, which densifies its input
(its t-product model transforms whole tubes).

For each estimator the script reports the fit's wall time, the peak of
memory allocated by numpy during the fit (``tracemalloc``), the size of the
observed entries (coordinates and values) and of the dense tensor, and the
relative error on the held-out entries (model values from
``DeepTucker.predict_entries``, or indexed in TubalFactorizer's
``fit_complete`` output). ``max_iter`` is small so that the script runs in a
few minutes: the rows compare cost and memory, not converged accuracy.

Run ``python benchmarks/bench_entries.py`` (``--shape 200,200,50`` for a
quick look, ``--json out.json`` to save the table; ``--backend pytorch`` and
``--device cuda:0`` for the same fits on the pytorch backend and on a GPU,
where ``tracemalloc`` sees numpy's allocations only).
"""

import argparse
import json
import time
import tracemalloc
import warnings

import numpy as np
import sparse
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker, TubalFactorizer, _backend

RANK = 3
NOISE = 0.05


def _distinct_coordinates(rng, shape, n):
    """``n`` distinct random flat indices of a tensor of ``shape`` (no permutation of all)."""
    size = int(np.prod(shape))
    flat = np.unique(rng.randint(0, size, size=int(1.2 * n) + 100, dtype=np.int64))
    return np.sort(flat[rng.choice(flat.size, n, replace=False)])


def planted_entries(shape, fraction, n_test, seed=0):
    """Training ``sparse.COO`` and test ``(indices, values)`` of a planted low-rank tensor."""
    rng = np.random.RandomState(seed)
    core = rng.standard_normal((RANK,) * len(shape))
    factors = [np.linalg.qr(rng.standard_normal((n, RANK)))[0] for n in shape]
    scale = np.sqrt(np.prod(shape)) / np.linalg.norm(core)  # unit rms entry
    n_train = int(fraction * np.prod(shape))
    flat = _distinct_coordinates(rng, shape, n_train + n_test)
    test = np.zeros(flat.size, dtype=bool)
    test[rng.choice(flat.size, n_test, replace=False)] = True
    indices = np.array(np.unravel_index(flat, shape)).T

    def truth(idx):
        rows = [U[idx[:, k]] for k, U in enumerate(factors)]
        return scale * np.einsum("abc,na,nb,nc->n", core, *rows)

    train_idx, test_idx = indices[~test], indices[test]
    train_values = truth(train_idx) + NOISE * rng.standard_normal(len(train_idx))
    X = sparse.COO(train_idx.T, train_values, shape=shape)
    return X, (test_idx, truth(test_idx))


def _measure(fit):
    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        predict = fit()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return predict, seconds, peak


def run_deep_tucker(X, test, max_iter, **placement):
    est = DeepTucker(width=8, max_iter=max_iter, random_state=0, **placement)
    predict, seconds, peak = _measure(lambda: est.fit(X).predict_entries)
    predicted = np.asarray(_backend.to_numpy(predict(test[0])))
    return "DeepTucker(width=8)", est, predicted, seconds, peak


def run_tubal(X, test, max_iter, **placement):
    est = TubalFactorizer(tube_axis=2, max_iter=max_iter, random_state=0, **placement)
    completed, seconds, peak = _measure(lambda: est.fit_complete(X))
    completed = np.asarray(_backend.to_numpy(completed))
    return "TubalFactorizer(tube_axis=2)", est, completed[tuple(test[0].T)], seconds, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="500,500,100")
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--max-iter", type=int, default=40)
    parser.add_argument("--backend", default="numpy", help="tensorly backend of the fits")
    parser.add_argument("--device", default=None, help='torch device, e.g. "cuda:0"')
    parser.add_argument("--estimators", default="DeepTucker,TubalFactorizer")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    placement = {"backend": args.backend, "device": args.device}
    where = args.backend if args.device is None else f"{args.backend} {args.device}"
    runners = {"DeepTucker": run_deep_tucker, "TubalFactorizer": run_tubal}
    if args.backend != "numpy":  # load the backend before the measurements
        tl.set_backend(args.backend)
        tl.set_backend("numpy")
    shape = tuple(int(n) for n in args.shape.split(","))
    X, test = planted_entries(shape, args.fraction, n_test=20_000)
    entries_mb = (X.coords.nbytes + X.data.nbytes) / 2**20
    dense_mb = 8 * np.prod(shape) / 2**20
    rows = []
    for runner in (runners[name] for name in args.estimators.split(",")):
        name, est, predicted, seconds, peak = runner(X, test, args.max_iter, **placement)
        error = np.linalg.norm(predicted - test[1]) / np.linalg.norm(test[1])
        rows.append(
            {
                "estimator": name,
                "backend": where,
                "shape": "x".join(map(str, shape)),
                "observed": X.nnz,
                "iters": est.n_iter_,
                "fit s": round(seconds, 1),
                "peak MB": round(peak / 2**20, 1),
                "entries MB": round(entries_mb, 1),
                "dense MB": round(dense_mb, 1),
                "test rel err": round(float(error), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    header = list(rows[0])
    print("  ".join(f"{h:>12}" for h in header))
    for row in rows:
        print("  ".join(f"{row[h]!s:>12}" for h in header))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
