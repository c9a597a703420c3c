"""The ``fit`` and ``complete`` commands of ``python -m sktensorflow``.

``fit INPUT.npy --estimator NAME [--param KEY=VALUE ...] --output OUT.npz``
fits an estimator to the array in ``INPUT.npy`` (``NaN`` marks a missing
entry) and saves the fit to ``OUT.npz``; ``complete INPUT.npy --output
FILLED.npy [--estimator NAME] [--param KEY=VALUE ...]`` fits a completion
estimator (``TubalFactorizer`` by default) and saves the input with its missing
entries filled by the fitted model (:meth:`fit_complete`: observed entries are
kept exactly).

``NAME`` is an estimator class name in any case. Each ``--param`` value is read
as a Python literal (``ast.literal_eval``: int, float, ``True``/``False``,
``None``, quoted strings, tuples, lists, dicts); a bare word such as
``solver=flow`` stays a string. The estimator validates the values itself.

The layout of ``OUT.npz`` is documented in :mod:`sktensorflow._fit_archive`.

Errors are one line on standard error, ``<prog> <command>: error: <message>``.
Exit status 2 is a usage error, found in the command line alone before any
file is read (unknown estimator, a ``--param`` that does not parse, names no
parameter or has a value the estimator rejects, an output name without the
``.npz``/``.npy`` suffix, ``complete`` with an estimator that cannot
complete); exit status 1 is a runtime error, found while doing the work (an
input that is missing, unreadable, not a ``.npy`` array, not numeric, of the
wrong shape or without observed entries; an output directory that does not
exist or cannot be written; a fit that fails). Warnings raised by the fit are
printed as one line each, ``<prog> <command>: warning: <message>``.
"""

import ast
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from ._deep_tucker import DeepTucker
from ._deflation import DeflationFlowCP
from ._fit_archive import fit_record
from ._overparam_cp import OverparamCP
from ._sklearn_private import InvalidParameterError
from ._tubal import TubalFactorizer

#: Exit status of a usage error (a command line that is wrong in itself).
EXIT_USAGE = 2
#: Exit status of a runtime error (bad input file, failed fit, failed write).
EXIT_RUNTIME = 1

ESTIMATORS = {
    cls.__name__: cls for cls in (OverparamCP, DeflationFlowCP, TubalFactorizer, DeepTucker)
}
#: The rank estimate's attribute, the first of these the estimator has.
RANK_ATTRIBUTES = ("rank_", "tubal_rank_", "multilinear_rank_")

_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


class CommandError(Exception):
    """A user error: reported as one line, exits with ``status``."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def _one_line(error):
    return " ".join(str(error).split())


# -- the command line ---------------------------------------------------------------
def estimator_class(name):
    """The estimator class named ``name`` (any case); usage error otherwise."""
    by_lower = {key.lower(): cls for key, cls in ESTIMATORS.items()}
    if name.lower() not in by_lower:
        raise CommandError(
            f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)}", EXIT_USAGE
        )
    return by_lower[name.lower()]


def parse_param(text):
    """Split ``KEY=VALUE`` and read the value as a Python literal or a bare word."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise CommandError(f"--param expects KEY=VALUE, got {text!r}", EXIT_USAGE)
    try:
        return key, ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if _BARE_WORD.fullmatch(raw.strip()):
            return key, raw.strip()
    raise CommandError(
        f"--param {key}: cannot read {raw!r} as a Python literal (number, True, False, "
        "None, quoted string, tuple, list, dict) or a bare word",
        EXIT_USAGE,
    )


def make_estimator(cls, param_texts):
    """An instance of ``cls`` with the ``--param`` values, validated by ``cls``."""
    params = {}
    for text in param_texts:
        key, value = parse_param(text)
        if key in params:
            raise CommandError(f"--param {key} is given twice", EXIT_USAGE)
        params[key] = value
    estimator = cls()
    valid = estimator.get_params(deep=False)
    for key in params:
        if key not in valid:
            raise CommandError(
                f"--param {key}: {cls.__name__} has no parameter {key!r}; "
                f"its parameters are {', '.join(sorted(valid))}",
                EXIT_USAGE,
            )
    estimator.set_params(**params)
    try:
        estimator._validate_params()
    except InvalidParameterError as error:
        raise CommandError(f"--param: {_one_line(error)}", EXIT_USAGE) from None
    return estimator


def check_output_name(path, suffix):
    """Usage error unless ``path`` ends in ``suffix``."""
    if Path(path).suffix.lower() != suffix:
        raise CommandError(f"--output {path!r} must end in {suffix}", EXIT_USAGE)


# -- reading the input --------------------------------------------------------------
def load_array(path):
    """The float64 array stored in the ``.npy`` file ``path``; runtime error otherwise."""
    try:
        with open(path, "rb") as file:
            magic = file.read(len(np.lib.format.MAGIC_PREFIX))
            if magic != np.lib.format.MAGIC_PREFIX:
                kind = "a .npz archive" if magic.startswith(b"PK") else "not a .npy file"
                raise CommandError(f"{path}: {kind}; expected one array saved by numpy.save", 1)
            file.seek(0)
            X = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file", EXIT_RUNTIME) from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory, not a .npy file", EXIT_RUNTIME) from None
    except OSError as error:
        raise CommandError(f"{path}: cannot read: {error.strerror}", EXIT_RUNTIME) from None
    except (ValueError, EOFError) as error:
        raise CommandError(f"{path}: unreadable .npy file: {_one_line(error)}", 1) from None
    if X.dtype.kind not in "biuf":
        raise CommandError(f"{path}: holds dtype {X.dtype}; expected real numbers", EXIT_RUNTIME)
    return X.astype(np.float64)


def check_input(X, path, cls):
    """Runtime error for data no estimator, or not ``cls``, can fit."""
    if X.ndim < 2:
        raise CommandError(
            f"{path}: has shape {X.shape}; expected at least 2 dimensions, "
            "samples along the first axis",
            EXIT_RUNTIME,
        )
    missing = int(np.isnan(X).sum())
    if missing == X.size:
        raise CommandError(f"{path}: has no observed entries (all NaN)", EXIT_RUNTIME)
    if missing and not _can_complete(cls):
        raise CommandError(
            f"{path}: has {missing} missing (NaN) entries, which {cls.__name__} cannot "
            f"handle; use one of {', '.join(_completers())}",
            EXIT_RUNTIME,
        )


def _can_complete(cls):
    return hasattr(cls, "fit_complete")


def _completers():
    return [name for name, cls in ESTIMATORS.items() if _can_complete(cls)]


def check_output_directory(path):
    """Runtime error, before the fit, when the output's directory is missing or read-only."""
    directory = Path(path).parent
    if not directory.is_dir():
        raise CommandError(f"--output {path}: no directory {str(directory)!r}", EXIT_RUNTIME)
    if not os.access(directory, os.W_OK):
        raise CommandError(f"--output {path}: directory not writable", EXIT_RUNTIME)


# -- fitting -------------------------------------------------------------------------
def fit_estimator(estimator, X, complete):
    """Fit; return ``(completed or None, warning messages)``.

    With ``complete`` the fit is :meth:`fit_complete`. Invalid parameters found
    by the fit are usage errors; other ``ValueError``, divergence and memory
    errors are runtime errors.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            completed = estimator.fit_complete(X) if complete else estimator.fit(X)
        except InvalidParameterError as error:
            raise CommandError(f"--param: {_one_line(error)}", EXIT_USAGE) from None
        except (ValueError, FloatingPointError, MemoryError) as error:
            name = type(estimator).__name__
            raise CommandError(f"{name} fit failed: {_one_line(error)}", EXIT_RUNTIME) from None
    messages = list(dict.fromkeys(_one_line(w.message) for w in caught))
    return (completed if complete else None), messages


def summary(estimator, path, filled=None):
    """One line: estimator, rank estimate, iterations, stop reason, output path."""
    rank_name = next(name for name in RANK_ATTRIBUTES if hasattr(estimator, name))
    parts = [
        type(estimator).__name__,
        f"{rank_name}={getattr(estimator, rank_name)}",
        f"n_iter_={estimator.n_iter_}",
        f"stop_reason_={estimator.stop_reason_}",
    ]
    if filled is not None:
        parts.append(f"filled {filled} missing entries")
    return ", ".join(parts) + f" -> {path}"


def write_output(path, save, payload):
    """``save(file, payload)`` into ``path``; a failed write leaves no partial file."""
    try:
        file = open(path, "wb")  # noqa: SIM115 -- closed below, unlinked on failure
    except OSError as error:
        raise CommandError(f"--output {path}: cannot write: {error.strerror}", 1) from None
    try:
        with file:
            save(file, payload)
    except OSError as error:
        Path(path).unlink(missing_ok=True)
        raise CommandError(f"--output {path}: cannot write: {error.strerror}", 1) from None


# -- the commands --------------------------------------------------------------------
def run_fit(args):
    """The ``fit`` command; returns the exit status."""
    estimator = make_estimator(estimator_class(args.estimator), args.param)
    check_output_name(args.output, ".npz")
    X = load_array(args.input)
    check_input(X, args.input, type(estimator))
    check_output_directory(args.output)
    complete = bool(np.isnan(X).any())
    completed, messages = fit_estimator(estimator, X, complete)
    _warn(args, messages)
    write_output(args.output, lambda f, r: np.savez(f, **r), fit_record(estimator, completed))
    print(summary(estimator, args.output))
    return 0


def run_complete(args):
    """The ``complete`` command; returns the exit status."""
    cls = estimator_class(args.estimator)
    if not _can_complete(cls):
        raise CommandError(
            f"{cls.__name__} cannot complete a tensor; use one of {', '.join(_completers())}",
            EXIT_USAGE,
        )
    estimator = make_estimator(cls, args.param)
    check_output_name(args.output, ".npy")
    X = load_array(args.input)
    check_input(X, args.input, cls)
    check_output_directory(args.output)
    completed, messages = fit_estimator(estimator, X, complete=True)
    _warn(args, messages)
    write_output(args.output, np.save, np.asarray(completed))
    print(summary(estimator, args.output, filled=int(np.isnan(X).sum())))
    return 0


def _warn(args, messages):
    for message in messages:
        print(f"{args.prog}: warning: {message}", file=sys.stderr)


def run(args):
    """Run ``args.handler``; a :class:`CommandError` becomes one line on stderr."""
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"{args.prog}: error: {error}", file=sys.stderr)
        return error.status


def add_commands(subparsers):
    """Add ``fit`` and ``complete`` to the ``python -m sktensorflow`` subparsers."""
    names = ", ".join(ESTIMATORS)
    param_help = (
        "an estimator parameter; VALUE is a Python literal or a bare word "
        "(repeat for several, e.g. --param width=8 --param random_state=0)"
    )
    fit = subparsers.add_parser(
        "fit",
        help="fit an estimator to an array in a .npy file, save the fit to a .npz file",
        description="Fit an estimator (NaN marks a missing entry) and save its factors, "
        "rank estimates, histories and, for input with NaN, the completed tensor. "
        "Exit status 2: usage error; 1: bad input, failed fit or failed write.",
    )
    fit.add_argument("input", metavar="INPUT.npy", help="the data, as saved by numpy.save")
    fit.add_argument("--estimator", required=True, metavar="NAME", help=f"one of {names}")
    fit.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help=param_help)
    fit.add_argument("--output", required=True, metavar="OUT.npz", help="where the fit is saved")
    fit.set_defaults(handler=run_fit, prog=fit.prog)
    complete = subparsers.add_parser(
        "complete",
        help="fill the missing (NaN) entries of an array in a .npy file",
        description="Fit a completion estimator and save the input with its NaN entries "
        "filled by the fitted model (observed entries are kept exactly). "
        "Exit status 2: usage error; 1: bad input, failed fit or failed write.",
    )
    complete.add_argument("input", metavar="INPUT.npy", help="the data, NaN for missing")
    complete.add_argument(
        "--estimator",
        default="TubalFactorizer",
        metavar="NAME",
        help=f"one of {', '.join(_completers())} (default TubalFactorizer)",
    )
    complete.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help=param_help
    )
    complete.add_argument("--output", required=True, metavar="FILLED.npy", help="the filled array")
    complete.set_defaults(handler=run_complete, prog=complete.prog)
