"""``python -m sktensorflow plot``: the training figures of a fit saved by ``fit``.

Fits of every estimator kind are saved by the ``fit`` command from ``.npy``
files; ``plot`` writes one PNG per recorded figure into ``--output-dir`` and
answers a bad archive, directory or option with one line and a status.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorly as tl

from sktensorflow import _cli_plot, datasets
from sktensorflow.__main__ import main
from sktensorflow._fit_archive import load_fit

mpl = pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# kind -> (estimator, parameters, figures plot writes)
KINDS = {
    "cp": (
        "OverparamCP",
        {"tensor": "precomputed", "width": 6},
        {"training_curve", "norm_staircase"},
    ),
    "deflation": (
        "DeflationFlowCP",
        {"tensor": "precomputed", "width": 6, "record_columns": True},
        {"training_curve", "norm_staircase", "deflation_residuals"},
    ),
    "tubal": (
        "TubalFactorizer",
        {"width": 4, "early_stopping": False},
        {"training_curve", "norm_staircase"},
    ),
    "tucker": (
        "DeepTucker",
        {"width": 4, "max_iter": 200},
        {"training_curve", "norm_staircase", "early_stopping"},
    ),
}


def _arrays():
    T3, _ = datasets.make_symmetric_cp(5, 2, order=3, weights=[1.0, 0.5], random_state=0)
    T4, _ = datasets.make_symmetric_cp(5, 2, order=4, weights=[1.0, 0.5], random_state=0)
    tubal, _ = datasets.make_tubal_low_rank((8, 6, 4), 2, random_state=0)
    tucker, _ = datasets.make_low_multilinear_rank(
        (8, 7, 6), (2, 2, 2), observed_fraction=0.7, random_state=0
    )
    return {
        "cp": tl.cp_to_tensor(T3),
        "deflation": tl.cp_to_tensor(T4),
        "tubal": tubal,
        "tucker": tucker,
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """``{kind: OUT.npz}`` written by the ``fit`` command from ``.npy`` inputs."""
    directory = tmp_path_factory.mktemp("fits")
    out = {}
    for kind, X in _arrays().items():
        name, params, _ = KINDS[kind]
        np.save(directory / f"{kind}.npy", X)
        argv = ["fit", str(directory / f"{kind}.npy"), "--estimator", name]
        for key, value in {**params, "random_state": 0}.items():
            argv += ["--param", f"{key}={value!r}"]
        out[kind] = directory / f"{kind}_fit.npz"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main([*argv, "--output", str(out[kind])]) == 0
    return out


def _check_png(path, dpi=100):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), path
    image = imread(path)
    assert image.shape[:2] == (4 * dpi, round(6.4 * dpi)), image.shape
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank page


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_plot_writes_one_png_per_recorded_figure(kind, archives, tmp_path, capsys):
    out_dir = tmp_path / "figures" / "new"  # created, parents included
    capsys.readouterr()
    assert main(["plot", str(archives[kind]), "--output-dir", str(out_dir)]) == 0
    expected = {f"{kind}_fit_{name}.png" for name in KINDS[kind][2]}
    assert {p.name for p in out_dir.iterdir()} == expected
    for path in out_dir.iterdir():
        _check_png(path)
    stdout = capsys.readouterr().out.splitlines()
    assert stdout[0] == f"{KINDS[kind][0]}: wrote {len(expected)} figures to {out_dir}"
    assert {line.strip() for line in stdout[1:]} == expected


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("x", ["iteration", "time"])
def test_figures_hold_the_saved_histories(kind, x, archives):
    record = load_fit(archives[kind])
    displays = _cli_plot.figures(record, x)
    assert set(displays) == KINDS[kind][2]
    curve = displays["training_curve"]
    np.testing.assert_array_equal(curve.loss, record["loss_curve_"])
    expected_x = np.arange(record["loss_curve_"].size) if x == "iteration" else None
    np.testing.assert_array_equal(
        curve.x, record["time_curve_"] if expected_x is None else expected_x
    )
    history_x = record["history_iter_" if x == "iteration" else "history_time_"]
    staircase = displays["norm_staircase"]
    np.testing.assert_array_equal(staircase.x, history_x)
    if kind == "tucker":
        np.testing.assert_array_equal(curve.rank, record["multilinear_rank_history_"])
        for drawn, saved in zip(staircase.norms, record["core_slice_norms_history_"], strict=True):
            np.testing.assert_array_equal(drawn, saved)
        np.testing.assert_array_equal(
            displays["early_stopping"].scores, record["validation_scores_"]
        )
        assert displays["early_stopping"].best_iter == record["best_iter_"]
    if kind == "deflation":
        assert curve.rank is None  # DeflationFlowCP records no rank history
        residuals = displays["deflation_residuals"].residuals
        assert residuals.shape == (history_x.size, record["rank_"])
        # the residual along each recovered direction starts at its weight and vanishes
        np.testing.assert_allclose(residuals[0], record["weights_"], rtol=1e-3)
        np.testing.assert_allclose(residuals[-1], 0, atol=1e-3)


def test_plot_dpi_and_time_axis(archives, tmp_path):
    argv = ["plot", str(archives["cp"]), "--output-dir", str(tmp_path), "--dpi", "50"]
    assert main([*argv, "--x", "time"]) == 0
    _check_png(tmp_path / "cp_fit_training_curve.png", dpi=50)


def _bad_archives(directory):
    np.save(directory / "array.npy", np.zeros(3))
    np.savez(directory / "other.npz", a=np.zeros(3))
    (directory / "text.npz").write_text("not an archive")
    (directory / "a_file").write_text("")
    return directory


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["missing.npz"], 1, "missing.npz: no such file"),
        (["."], 1, ": is a directory, not a .npz file"),
        (["array.npy"], 1, "array.npy: not a .npz archive written by 'fit'"),
        (["text.npz"], 1, "text.npz: not a .npz archive written by 'fit'"),
        (["other.npz"], 1, "other.npz: not a fit archive written by 'fit'"),
        (["FIT", "--output-dir", "a_file"], 1, "--output-dir a_file: is a file"),
        (["FIT", "--output-dir", "a_file/sub"], 1, "--output-dir a_file/sub: cannot create"),
    ],
)
def test_bad_paths_are_one_line_and_status_1(
    args, status, message, archives, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(_bad_archives(tmp_path))
    args = [str(archives["cp"]) if a == "FIT" else a for a in args]
    if "--output-dir" not in args:
        args += ["--output-dir", "figures"]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["plot", *args]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sktensorflow plot: error: ")
    assert message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize(
    "args, message",
    [
        (["--output-dir", "d", "--x", "epoch"], "argument --x: invalid choice: 'epoch'"),
        (["--output-dir", "d", "--dpi", "0"], "argument --dpi: expected a positive integer"),
        (["--output-dir", "d", "--dpi", "many"], "argument --dpi: expected a positive integer"),
        ([], "the following arguments are required: --output-dir"),
    ],
)
def test_bad_options_are_usage_errors(args, message, archives, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(archives["cp"]), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_plot_end_to_end_never_writes_into_the_working_directory(archives, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out_dir = tmp_path / "figs"
    command = [sys.executable, "-m", "sktensorflow", "plot", str(archives["deflation"])]
    proc = subprocess.run(
        [*command, "--output-dir", str(out_dir)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert list(cwd.iterdir()) == []
    assert len(list(out_dir.glob("deflation_fit_*.png"))) == 3
    bad = subprocess.run(
        [*command[:-1], str(cwd / "nope.npz"), "--output-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert list(cwd.iterdir()) == []
