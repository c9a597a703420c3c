"""The ``plot`` command of ``python -m sktensorflow``: training figures of a saved fit.

``plot OUT.npz --output-dir DIR [--x iteration|time] [--dpi N]`` reads a fit
saved by ``fit`` (:mod:`sktensorflow._fit_archive`) and writes one PNG file per
figure the fit recorded into ``DIR`` (created if missing; never the working
directory unless it is given):

- ``<name>_training_curve.png``: the loss and, where recorded, the rank
  estimate (:class:`~sktensorflow.plotting.TrainingCurveDisplay`);
- ``<name>_norm_staircase.png``: the per-component norms
  (:class:`~sktensorflow.plotting.NormStaircaseDisplay`);
- ``<name>_early_stopping.png``: the held-out R² of early stopping, for a fit
  with ``early_stopping=True``
  (:class:`~sktensorflow.plotting.EarlyStoppingDisplay`);
- ``<name>_deflation_residuals.png``: residuals along the recovered
  directions, for a ``DeflationFlowCP`` fit with ``record_columns=True``
  (:class:`~sktensorflow.plotting.DeflationResidualDisplay`).

``<name>`` is the archive's file name without its suffix. The figures are
drawn on matplotlib ``Figure`` objects, without pyplot, so no window opens and
no global state changes. Errors are one line, as for ``fit``: exit status 1
for a missing or unreadable archive, one that ``fit`` did not write, or a
directory that cannot be created or written; 2 for a bad command line.
"""

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ._cli import EXIT_RUNTIME, CommandError
from ._deflation_trajectory import directional_residuals
from ._fit_archive import load_fit
from ._plotting_components import _RANK_HISTORIES, _staircase_groups

__all__ = ["add_plot_command", "figures", "run_plot"]

_XLABELS = {"iteration": "iteration", "time": "flow time"}


def read_archive(path):
    """The record of a fit archive (:func:`load_fit`); runtime error otherwise."""
    path = Path(path)
    if not path.exists():
        raise CommandError(f"{path}: no such file", EXIT_RUNTIME)
    if not path.is_file():
        raise CommandError(f"{path}: is a directory, not a .npz file", EXIT_RUNTIME)
    if not zipfile.is_zipfile(path):
        raise CommandError(f"{path}: not a .npz archive written by 'fit'", EXIT_RUNTIME)
    try:
        record = load_fit(path)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, json.JSONDecodeError):
        raise CommandError(f"{path}: not a fit archive written by 'fit'", EXIT_RUNTIME) from None
    if "estimator" not in record or "loss_curve_" not in record:
        raise CommandError(f"{path}: not a fit archive written by 'fit'", EXIT_RUNTIME)
    return record


def _history_x(record, x):
    return np.asarray(record["history_iter_" if x == "iteration" else "history_time_"], float)


def training_curve(record, x):
    """A :class:`~sktensorflow.plotting.TrainingCurveDisplay` of the record (not drawn)."""
    from .plotting import TrainingCurveDisplay

    loss = np.asarray(record["loss_curve_"], float)
    xs = np.arange(loss.size, dtype=float) if x == "iteration" else record["time_curve_"]
    names = [name for name in _RANK_HISTORIES if name in record]
    return TrainingCurveDisplay(
        x=np.asarray(xs, float),
        loss=loss,
        rank_x=_history_x(record, x) if names else None,
        rank=np.asarray(record[names[0]]) if names else None,
        xlabel=_XLABELS[x],
        estimator_name=record["estimator"],
    )


def norm_staircase(record, x):
    """A :class:`~sktensorflow.plotting.NormStaircaseDisplay` of the record, or ``None``."""
    from .plotting import NormStaircaseDisplay

    try:
        norms, labels, ylabel = _staircase_groups(SimpleNamespace(**record), None)
    except ValueError:
        return None
    return NormStaircaseDisplay(
        x=_history_x(record, x),
        norms=norms,
        group_labels=None if labels == [None] else labels,
        xlabel=_XLABELS[x],
        ylabel=ylabel,
        estimator_name=record["estimator"],
    )


def early_stopping(record, x):
    """An :class:`~sktensorflow.plotting.EarlyStoppingDisplay`, or ``None`` without one."""
    from .plotting import EarlyStoppingDisplay

    if "validation_scores_" not in record:
        return None
    return EarlyStoppingDisplay(
        iterations=np.asarray(record["validation_iter_"]),
        scores=np.asarray(record["validation_scores_"], float),
        best_iter=record.get("best_iter_"),
        estimator_name=record["estimator"],
    )


def deflation_residuals(record, x):
    """A :class:`~sktensorflow.plotting.DeflationResidualDisplay`, or ``None``."""
    from .plotting import DeflationResidualDisplay

    if "columns_history_" not in record or np.size(record["weights_"]) == 0:
        return None
    residuals = directional_residuals(
        record["columns_history_"],
        record["components_"],
        record["weights_"],
        signs=record["column_signs_"],
        order=record["params"]["order"],
    )
    return DeflationResidualDisplay(
        x=_history_x(record, x),
        residuals=residuals,
        xlabel=_XLABELS[x],
        estimator_name=record["estimator"],
    )


#: File-name suffix and builder of every figure, in the order they are written.
FIGURES = {
    "training_curve": training_curve,
    "norm_staircase": norm_staircase,
    "early_stopping": early_stopping,
    "deflation_residuals": deflation_residuals,
}


def figures(record, x="iteration"):
    """``{suffix: display}`` of the figures the record holds the data of (not drawn)."""
    displays = {name: build(record, x) for name, build in FIGURES.items()}
    return {name: display for name, display in displays.items() if display is not None}


def _output_directory(path):
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CommandError(f"--output-dir {path}: is a file, not a directory", 1) from None
    except OSError as error:
        raise CommandError(f"--output-dir {path}: cannot create: {error.strerror}", 1) from None
    return directory


def _save(display, path, dpi):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    display.plot(ax=figure.add_subplot())
    try:
        figure.savefig(path, dpi=dpi, format="png")
    except OSError as error:
        Path(path).unlink(missing_ok=True)
        raise CommandError(f"--output-dir: cannot write {path}: {error.strerror}", 1) from None


def run_plot(args):
    """The ``plot`` command; returns the exit status."""
    record = read_archive(args.input)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CommandError(
            "plot needs matplotlib: pip install 'sktensorflow[plot]'", EXIT_RUNTIME
        ) from None
    displays = figures(record, args.x)
    directory = _output_directory(args.output_dir)
    stem = Path(args.input).stem
    written = []
    for name, display in displays.items():
        path = directory / f"{stem}_{name}.png"
        _save(display, path, args.dpi)
        written.append(path)
    print(f"{record['estimator']}: wrote {len(written)} figures to {directory}")
    for path in written:
        print(f"  {path.name}")
    return 0


def _positive_int(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_plot_command(subparsers):
    """Add ``plot`` to the ``python -m sktensorflow`` subparsers."""
    plot = subparsers.add_parser(
        "plot",
        help="write the training figures of a fit saved by 'fit' as PNG files",
        description="Write the training figures of a fit saved by 'fit' (loss and rank "
        "estimate, norm staircase, and where recorded the early-stopping curve and the "
        "deflation residuals) as PNG files into --output-dir. "
        "Exit status 2: usage error; 1: bad archive or failed write.",
    )
    plot.add_argument("input", metavar="OUT.npz", help="a fit saved by 'fit'")
    plot.add_argument(
        "--output-dir",
        required=True,
        metavar="DIR",
        help="directory of the PNG files (created if missing)",
    )
    plot.add_argument(
        "--x",
        choices=sorted(_XLABELS),
        default="iteration",
        help="horizontal axis: iterations or flow time (default iteration)",
    )
    plot.add_argument(
        "--dpi", type=_positive_int, default=100, help="resolution of the PNG files (default 100)"
    )
    plot.set_defaults(handler=run_plot, prog=plot.prog)
