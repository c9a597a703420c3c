"""Command-line entry point: ``python -m sktensorflow demo``.

The demo fits every estimator on a planted problem whose rank is known and
prints, per estimator, the true rank, the rank the fitted model reports, the
recovery error and the fit time. Nothing is tuned per problem: each estimator
runs with a generous ``width`` and its default small ``init_scale``.
"""

import argparse
import sys
import time

import numpy as np
import tensorly as tl

import sktensorflow
from sktensorflow import datasets, metrics


def _timed_fit(estimator, X):
    start = time.perf_counter()
    estimator.fit(X)
    return estimator, time.perf_counter() - start


def demo_overparam_cp(seed):
    """Order-3 orthogonal symmetric tensor, d=15, rank 4, width 20."""
    T, truth = datasets.make_symmetric_cp(
        15, 4, order=3, weights=[1.0, 0.8, 0.6, 0.45], random_state=seed
    )
    est = sktensorflow.OverparamCP(width=20, order=3, tensor="precomputed", random_state=seed)
    est, seconds = _timed_fit(est, T)
    error = metrics.relative_error(tl.cp_to_tensor(est.to_tensorly()), tl.cp_to_tensor(T))
    return "OverparamCP", "order-3 CP, d=15", 4, est.rank_, error, seconds


def demo_deflation(seed):
    """Order-4 orthogonal symmetric tensor, d=10, rank 5, weights 1.2^-i, width 50."""
    T, truth = datasets.make_symmetric_cp(
        10, 5, order=4, weights=1.2 ** -np.arange(5.0), random_state=seed
    )
    est = sktensorflow.DeflationFlowCP(width=50, tensor="precomputed", random_state=seed)
    est, seconds = _timed_fit(est, T)
    error = metrics.relative_error(tl.cp_to_tensor(est.to_tensorly()), tl.cp_to_tensor(T))
    return "DeflationFlowCP", "order-4 CP, d=10", 5, est.rank_, error, seconds


def demo_tubal(seed):
    """30x30x8 tensor of tubal rank 3, half of its entries observed."""
    X, truth = datasets.make_tubal_low_rank(
        (30, 30, 8), 3, observed_fraction=0.5, random_state=seed
    )
    est, seconds = _timed_fit(sktensorflow.TubalFactorizer(width=20, random_state=seed), X)
    error = metrics.relative_error(est.complete(X), truth.tensor)
    return "TubalFactorizer", "t-product, 30x30x8, 50% seen", 3, est.tubal_rank_, error, seconds


def demo_deep_tucker(seed):
    """20x20x20 tensor of multilinear rank (3, 3, 3), 30% of its entries observed."""
    X, truth = datasets.make_low_multilinear_rank(
        (20, 20, 20), (3, 3, 3), observed_fraction=0.3, random_state=seed
    )
    est, seconds = _timed_fit(sktensorflow.DeepTucker(random_state=seed), X)
    error = metrics.relative_error(est.complete(X), truth.tensor)
    return "DeepTucker", "Tucker, 20^3, 30% seen", (3, 3, 3), est.multilinear_rank_, error, seconds


DEMOS = [demo_overparam_cp, demo_deflation, demo_tubal, demo_deep_tucker]


def _format_row(cells, widths):
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))


def run_demo(seed=0, out=sys.stdout):
    """Fit every estimator on its planted problem and print one row each.

    Returns the rows as tuples ``(estimator, problem, true rank, estimated
    rank, relative error, fit seconds)``.
    """
    header = ("estimator", "problem", "true rank", "estimated rank", "rel. error", "fit time")
    widths = (16, 30, 10, 15, 11, 8)
    print(_format_row(header, widths), file=out)
    rows = []
    for demo in DEMOS:
        row = demo(seed)
        rows.append(row)
        name, problem, true_rank, rank, error, seconds = row
        cells = (name, problem, true_rank, rank, f"{error:.1e}", f"{seconds:.2f} s")
        print(_format_row(cells, widths), file=out, flush=True)
    return rows


def main(argv=None):
    """Parse ``argv`` and run the requested command."""
    parser = argparse.ArgumentParser(
        prog="python -m sktensorflow",
        description="Over-parametrized gradient methods for tensor factorization.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit every estimator on a planted problem")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(sktensorflow.__version__)
    else:
        run_demo(seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
