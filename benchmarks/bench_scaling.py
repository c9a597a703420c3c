"""Time and peak memory against problem size: the cost must grow linearly with the work.

Each series multiplies the work from one row to the next (by 2 for the
``n_samples`` series, by 4 for the others) and reports the fit time (best of
``--repeats``), the peak of the memory numpy allocates during the fit
(``tracemalloc``, in a separate run) and both ratios to the previous row. Linear
growth means a ratio of about the work's factor; the target is at most 1.25
times it (5 for x4, 2.5 for x2).

Series:

- ``OverparamCP`` on the third cumulant of ``n_samples`` whitened samples of 30
  features (``make_ica_mixture``), ``max_iter=5``, then ``score`` on the same
  samples: ``n_samples`` from 10 000 to 160 000;
- ``DeepTucker`` and ``TubalFactorizer`` (tubes along the last axis) on
  ``s x s x 8`` tensors of tubal / multilinear rank 3 with 50 % of the entries
  observed, 20 iterations without early stopping, then ``complete``: ``s`` from
  25 to 200 (each step doubles ``s``, four times the entries);
- ``TubalFactorizer`` against the tube length ``k`` of a ``40 x 40 x k``
  tensor, ``k`` from 8 to 512, fit and ``complete`` (the fold-in's cost in the
  tube length).

Run with one BLAS thread (``OMP_NUM_THREADS=1``): threads oversubscribe a
shared machine and swing timings by up to 10 x. ``--quick`` runs the first
three rows of each series.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np

from sktensorflow import DeepTucker, OverparamCP, TubalFactorizer
from sktensorflow.datasets import (
    make_ica_mixture,
    make_low_multilinear_rank,
    make_tubal_low_rank,
)


def cp_case(n):
    X, _ = make_ica_mixture(n, 3, 30, random_state=0)

    def run():
        est = OverparamCP(tensor="cumulant", order=3, whiten=True, max_iter=5, random_state=0)
        est.fit(X).score(X)

    return run


def completion_case(cls, s, k=8):
    if cls is DeepTucker:
        X, _ = make_low_multilinear_rank(
            (s, s, k), (3, 3, 3), observed_fraction=0.5, random_state=0
        )
        params = {}
    else:
        X, _ = make_tubal_low_rank((s, s, k), 3, observed_fraction=0.5, random_state=0)
        params = {"tube_axis": 2}

    def run():
        est = cls(max_iter=20, early_stopping=False, random_state=0, **params)
        est.fit(X).complete(X)

    return run


def measure(run, repeats):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 5 or 20 iterations do not converge
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return best, peak / 2**20


def series(quick):
    rows = [
        ("OverparamCP fit+score", "n_samples", [10_000, 20_000, 40_000, 80_000, 160_000], cp_case),
        (
            "DeepTucker fit+complete",
            "s (s x s x 8)",
            [25, 50, 100, 200],
            lambda s: completion_case(DeepTucker, s),
        ),
        (
            "TubalFactorizer fit+complete",
            "s (s x s x 8)",
            [25, 50, 100, 200],
            lambda s: completion_case(TubalFactorizer, s),
        ),
        (
            "TubalFactorizer fit+complete",
            "k (40 x 40 x k)",
            [8, 32, 128, 512],
            lambda k: completion_case(TubalFactorizer, 40, k),
        ),
    ]
    for name, size_name, sizes, make in rows:
        yield name, size_name, sizes[:3] if quick else sizes, make


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"{'series':30} {'size':>18} {'time s':>8} {'x prev':>7} {'peak MiB':>9} {'x prev':>7}")
    for name, size_name, sizes, make in series(args.quick):
        previous = None
        for size in sizes:
            seconds, peak = measure(make(size), args.repeats)
            ratios = (
                ("", "")
                if previous is None
                else (
                    f"{seconds / previous[0]:7.2f}",
                    f"{peak / previous[1]:7.2f}",
                )
            )
            label = f"{size_name.split()[0]}={size}"
            print(
                f"{name:30} {label:>18} {seconds:8.2f} {ratios[0]:>7} {peak:9.1f} {ratios[1]:>7}"
            )
            previous = (seconds, peak)


if __name__ == "__main__":
    main()
