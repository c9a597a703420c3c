"""Command-line entry point: ``python -m sktensorflow`` (or the ``sktensorflow`` script).

Commands: ``demo`` fits every estimator on a planted problem whose rank is
known and prints, per estimator, the true rank, the rank the fitted model
reports, the recovery error and the fit time (nothing is tuned per problem:
each estimator runs with a generous ``width`` and its default small
``init_scale``); ``fit`` and ``complete`` fit an estimator to an array in a
``.npy`` file and save the fit or the completed array (see
:mod:`sktensorflow._cli` for the options and the saved layout); ``plot``
writes the training figures of a saved fit as PNG files into a directory (see
:mod:`sktensorflow._cli_plot`); ``version`` and ``--version`` print the
version.

Exit status: 0 on success; 2 for a usage error: a bad command line (argparse
prints the usage and an error naming the option and the value) or, for
``fit``/``complete``, an unknown estimator or a bad ``--param`` (one line on
standard error); 1 for a runtime error of ``fit``/``complete``/``plot`` (a
missing, unreadable or unsuitable input file, a failed fit or write; one
line); 130
after an interrupt (Ctrl-C); and 141 when the reader of standard output goes
away early (``python -m sktensorflow demo | head -1``): the output is then
dropped quietly, with the status 128 + SIGPIPE that a shell reports for a
program killed by a broken pipe, so ``set -o pipefail`` scripts see the same
status as for ``yes | head -1``.
"""

import argparse
import os
import sys
import time

import numpy as np
import tensorly as tl

import sktensorflow
from sktensorflow import _cli, _cli_plot, datasets, metrics


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


def run_demo(seed=0, out=None):
    """Fit every estimator on its planted problem and print one row each.

    Parameters
    ----------
    seed : int, default=0
        Random seed of every planted problem and every estimator.
    out : file-like, default=None
        Where the table is printed; ``None`` means ``sys.stdout`` at call time.

    Returns
    -------
    rows : list of tuple
        ``(estimator, problem, true rank, estimated rank, relative error,
        fit seconds)`` per estimator.
    """
    out = sys.stdout if out is None else out
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


# Seeds accepted by ``numpy.random.RandomState`` (what ``random_state`` takes).
MAX_SEED = 2**32 - 1

# Exit status after a broken pipe on stdout: 128 + SIGPIPE (13), as a shell
# reports for a program killed by SIGPIPE (``signal.SIGPIPE`` is POSIX-only).
EXIT_BROKEN_PIPE = 141

# Exit status after an interrupt: 128 + SIGINT (2), as a shell reports it.
EXIT_INTERRUPTED = 130


def _seed(text):
    """Parse a ``--seed`` value: an integer in ``[0, 2**32 - 1]``.

    Raises ``argparse.ArgumentTypeError``, which argparse reports as a usage
    error naming the option, so a bad seed never reaches the estimators.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, {MAX_SEED}], got {text!r}"
        ) from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_SEED}], got {text!r}")
    return value


def _build_parser():
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Over-parametrized gradient methods for tensor factorization.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=sktensorflow.__version__,
        help="print the version and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit every estimator on a planted problem")
    demo.add_argument(
        "--seed", type=_seed, default=0, help=f"random seed in [0, {MAX_SEED}] (default 0)"
    )
    sub.add_parser("version", help="print the version")
    _cli.add_commands(sub)
    _cli_plot.add_plot_command(sub)
    return parser


def _prog():
    """``sktensorflow`` when run as the installed script, else ``python -m sktensorflow``."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "sktensorflow" if script == "sktensorflow" else "python -m sktensorflow"


def _run(args):
    if args.command == "version":
        print(sktensorflow.__version__)
    elif args.command == "demo":
        run_demo(seed=args.seed)
    else:
        return _cli.run(args)
    return 0


def _silence_stdout():
    """Point the stdout file descriptor at devnull after a broken pipe.

    Python flushes ``sys.stdout`` again at exit; without this the flush
    raises a second ``BrokenPipeError``, printed as "Exception ignored".
    A stdout without a file descriptor (a test double) is left alone.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation too
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def main(argv=None):
    """Parse ``argv`` and run the requested command.

    Returns the exit status: 0 on success, 2 (usage) or 1 (runtime) for a
    user error of ``fit``/``complete``/``plot``, reported in one line on standard error,
    ``EXIT_INTERRUPTED`` (130) after Ctrl-C and ``EXIT_BROKEN_PIPE`` (141) when
    standard output was closed by its reader. A bad command line exits with
    status 2 through argparse (``SystemExit``).
    """
    parser = _build_parser()
    try:
        try:
            return _run(parser.parse_args(argv))
        finally:  # flush here, also for --version/--help, so a closed pipe is caught below
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
