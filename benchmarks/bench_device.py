"""One fit of each estimator per device and dtype: time, and float32's deviation from float64.

For every estimator (``OverparamCP``, ``DeflationFlowCP``, ``TubalFactorizer``,
``DeepTucker``, ``TubalSensing``) on a planted problem from
:mod:`sktensorflow.datasets`, the script fits the data as a numpy array (the
numpy backend, host) and as a torch tensor on every available torch device
(``cpu``, and ``cuda`` when ``torch.cuda.is_available()``), once with
``dtype="float64"`` and once with ``dtype="float32"``, from the same seed.

Each row reports the best wall time over ``--repeats`` fits (after one
warm-up fit, which on a GPU also pays for the CUDA context), the iterations,
the rank estimate, and for float32 the relative difference of the fitted
tensor from the float64 fit on the same device (the CP reconstruction, the
completed missing entries, or the sensing coefficients). The same script runs
unchanged on a machine with a GPU; without one it prints the host and CPU rows.

Run ``python benchmarks/bench_device.py`` (``--scale 2`` for larger problems,
``--json out.json`` to keep the table).
"""

import argparse
import json
import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer, TubalSensing
from sktensorflow.datasets import (
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
    make_tubal_sensing,
)


def problems(scale):
    """``name -> (estimator factory, data tuple, fitted-tensor function)``."""
    d = 10 * scale
    T3 = make_symmetric_cp(d, 3, order=3, dense=True, random_state=0)[0]
    T4 = make_symmetric_cp(d, 3, order=4, dense=True, random_state=0)[0]
    n = 15 * scale
    Xt = make_tubal_low_rank((2 * n, 2 * n, 8), 3, observed_fraction=0.5, random_state=0)
    Xd = make_low_multilinear_rank((n, n, n), (3, 3, 3), observed_fraction=0.5, random_state=0)
    G, y, _ = make_tubal_sensing((8, 8, 4), 2, 300 * scale, random_state=0)
    cp = lambda est, data: tl.cp_to_tensor(est.to_tensorly())  # noqa: E731
    missing = lambda est, data: _host(est.complete(data[0]))[np.isnan(_host(data[0]))]  # noqa: E731
    return {
        "OverparamCP": (
            lambda **k: OverparamCP(width=2 * d, tensor="precomputed", **k),
            (T3,),
            cp,
        ),
        "DeflationFlowCP": (
            lambda **k: DeflationFlowCP(width=2 * d, tensor="precomputed", **k),
            (T4,),
            cp,
        ),
        "TubalFactorizer": (lambda **k: TubalFactorizer(width=10, **k), (Xt[0],), missing),
        "DeepTucker": (lambda **k: DeepTucker(**k), (Xd[0],), missing),
        "TubalSensing": (
            lambda **k: TubalSensing(width=8, shape=(8, 8, 4), symmetric=True, **k),
            (G, y),
            lambda est, data: est.coef_,
        ),
    }


def _host(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def devices():
    """``[(label, converter)]``: the numpy host, then every torch device available."""
    out = [("numpy", np.asarray)]
    try:
        import torch
    except ImportError:
        return out
    out.append(("torch cpu", lambda a: torch.tensor(a, device="cpu")))
    if torch.cuda.is_available():
        out.append(("torch cuda", lambda a: torch.tensor(a, device="cuda")))
    return out


def _sync():
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_fit(factory, data, dtype, repeats):
    """Best wall time of ``repeats`` fits (after a warm-up) and the last fitted estimator."""
    est = factory(dtype=dtype, random_state=0).fit(*data)  # warm-up
    best = np.inf
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        est = factory(dtype=dtype, random_state=0).fit(*data)
        _sync()
        best = min(best, time.perf_counter() - start)
    return best, est


def _rank(est):
    for name in ("rank_", "tubal_rank_", "multilinear_rank_"):
        if hasattr(est, name):
            return getattr(est, name)
    return None


def run(scale, repeats):
    rows = []
    for name, (factory, data, fitted) in problems(scale).items():
        for label, convert in devices():
            moved = tuple(convert(a) for a in data)
            reference = None
            for dtype in ("float64", "float32"):
                seconds, est = time_fit(factory, moved, dtype, repeats)
                values = _host(fitted(est, moved)).astype(np.float64)
                deviation = None
                if reference is None:
                    reference = values
                else:
                    gap = np.linalg.norm(values - reference) / np.linalg.norm(reference)
                    deviation = float(gap)
                rows.append(
                    dict(
                        estimator=name,
                        device=label,
                        dtype=dtype,
                        seconds=seconds,
                        n_iter=int(est.n_iter_),
                        rank=str(_rank(est)),
                        rel_diff_vs_float64=deviation,
                    )
                )
    return rows


def print_table(rows):
    header = f"{'estimator':<16} {'device':<11} {'dtype':<8} {'s/fit':>8} {'iters':>6} "
    print(header + f"{'rank':>10} {'rel diff vs float64':>20}")
    for r in rows:
        diff = "" if r["rel_diff_vs_float64"] is None else f"{r['rel_diff_vs_float64']:.1e}"
        print(
            f"{r['estimator']:<16} {r['device']:<11} {r['dtype']:<8} {r['seconds']:>8.3f} "
            f"{r['n_iter']:>6} {r['rank']:>10} {diff:>20}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="problem size multiplier")
    parser.add_argument("--repeats", type=int, default=2, help="timed fits per row")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rows = run(args.scale, args.repeats)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
