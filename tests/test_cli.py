"""``python -m sktensorflow``: the demo recovers every planted rank, ``fit`` and
``complete`` save what a direct fit computes, and the command line answers bad
arguments and files, ``--version`` and a closed pipe cleanly."""

import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorly as tl

import sktensorflow
from sktensorflow import __main__ as cli
from sktensorflow import _cli, datasets
from sktensorflow.__main__ import main, run_demo
from sktensorflow._fit_archive import load_fit


def test_demo_recovers_every_planted_rank():
    out = io.StringIO()
    rows = run_demo(seed=0, out=out)
    assert [r[0] for r in rows] == [
        "OverparamCP",
        "DeflationFlowCP",
        "TubalFactorizer",
        "DeepTucker",
    ]
    for name, _, true_rank, rank, error, seconds in rows:
        assert rank == true_rank, name
        assert error < 1e-2, name
        assert seconds > 0
    printed = out.getvalue().splitlines()
    assert len(printed) == 1 + len(rows)
    assert printed[0].split()[:2] == ["estimator", "problem"]


def test_version_and_unknown_command(capsys):
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip().count(".") == 2
    with pytest.raises(SystemExit) as exc:
        main(["fitt"])
    assert exc.value.code == 2
    assert "invalid choice: 'fitt'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, value",
    [
        (["demo", "--seed", "-1"], "'-1'"),
        (["demo", "--seed", "4294967296"], "'4294967296'"),
        (["demo", "--seed=-7"], "'-7'"),
        (["demo", "--seed", "abc"], "'abc'"),
        (["demo", "--seed", "1.5"], "'1.5'"),
        (["demo", "--seed="], "''"),
    ],
)
def test_bad_seed_is_a_usage_error_naming_option_and_value(argv, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m sktensorflow demo")
    assert "error: argument --seed:" in err
    assert f"got {value}" in err
    assert "[0, 4294967295]" in err


def test_seed_range_ends_are_accepted():
    parser = cli._build_parser()
    assert parser.parse_args(["demo", "--seed", "0"]).seed == 0
    assert parser.parse_args(["demo", "--seed", "4294967295"]).seed == 2**32 - 1


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == sktensorflow.__version__ + "\n"
    assert main(["version"]) == 0
    assert capsys.readouterr().out == sktensorflow.__version__ + "\n"


class _ClosedPipe(io.TextIOBase):
    """A stdout whose reader is gone: every write raises EPIPE (unbuffered)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


class _BufferedClosedPipe(_ClosedPipe):
    """Block-buffered: writes are kept, EPIPE comes only at the flush."""

    def write(self, text):
        return len(text)


@pytest.mark.parametrize("stdout", [_ClosedPipe, _BufferedClosedPipe])
@pytest.mark.parametrize("argv", [["demo"], ["version"], ["--version"]])
def test_closed_stdout_exits_quietly_with_141(argv, stdout, monkeypatch, capsys):
    row = ("Fake", "fake problem", 1, 1, 0.0, 0.01)
    monkeypatch.setattr(cli, "DEMOS", [lambda seed: row])
    monkeypatch.setattr(sys, "stdout", stdout())
    assert main(argv) == cli.EXIT_BROKEN_PIPE == 141
    assert capsys.readouterr().err == ""


def test_demo_into_a_closed_pipe_has_no_traceback():
    """``python -m sktensorflow demo | head -1`` end to end (one fit, then EPIPE).

    Run with the default block-buffered stdout (``PYTHONUNBUFFERED`` unset), as
    users have it: the header then still sits in the buffer when the pipe
    breaks, and Python's flush at exit must not report it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first row is flushed
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sktensorflow", "demo"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 141


# -- fit and complete ------------------------------------------------------------------
FAST = {"max_iter": 50, "random_state": 0}


def _inputs(directory):
    """Small .npy inputs: CP samples and a dense symmetric tensor, tensors with NaN."""
    T, _ = datasets.make_symmetric_cp(5, 2, order=3, random_state=0)
    samples, _ = datasets.make_ica_mixture(200, 2, 4, random_state=0)
    tubal, _ = datasets.make_tubal_low_rank((8, 6, 4), 2, observed_fraction=0.7, random_state=0)
    tucker, _ = datasets.make_low_multilinear_rank(
        (8, 7, 6), (2, 2, 2), observed_fraction=0.7, random_state=0
    )
    arrays = {"cp": tl.cp_to_tensor(T), "samples": samples, "tubal": tubal, "tucker": tucker}
    arrays["full"] = np.nan_to_num(tubal, nan=0.5)
    paths = {}
    for key, array in arrays.items():
        paths[key] = directory / f"{key}.npy"
        np.save(paths[key], array)
    return arrays, paths


@pytest.fixture
def inputs(tmp_path):
    return _inputs(tmp_path)


# (CLI name, class, input, extra parameters): every estimator kind, fast settings.
FITS = [
    ("overparamcp", sktensorflow.OverparamCP, "cp", {"tensor": "precomputed", "order": 3}),
    ("DEFLATIONFLOWCP", sktensorflow.DeflationFlowCP, "samples", {"width": 8}),
    ("TubalFactorizer", sktensorflow.TubalFactorizer, "tubal", {"width": 6}),
    ("deepTucker", sktensorflow.DeepTucker, "tucker", {"init_scale": 0.05}),
]


def _argv_params(params):
    return [arg for key, value in params.items() for arg in ("--param", f"{key}={value!r}")]


def _direct(cls, X, params):
    """What the CLI should compute: the same estimator fitted in this process."""
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        completed = est.fit_complete(X) if np.isnan(X).any() else est.fit(X)
    return est, (completed if np.isnan(X).any() else None)


def _assert_same(saved, value, name):
    if isinstance(value, list) and value and not np.isscalar(value[0]):
        assert len(saved) == len(value), name
        for s, v in zip(saved, value, strict=True):
            _assert_same(s, v, name)
    else:
        np.testing.assert_array_equal(saved, np.asarray(value), err_msg=name)


def _public_fitted(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


@pytest.mark.parametrize("name, cls, data, extra", FITS)
def test_fit_saves_what_a_direct_fit_computes(name, cls, data, extra, inputs, tmp_path, capsys):
    arrays, paths = inputs
    params = {**FAST, **extra}
    out = tmp_path / "fit.npz"
    argv = ["fit", str(paths[data]), "--estimator", name, *_argv_params(params)]
    # bare words stay strings: tensor=precomputed, not tensor='precomputed'
    argv = [a.replace("'precomputed'", "precomputed") for a in argv]
    assert main([*argv, "--output", str(out)]) == 0
    direct, completed = _direct(cls, arrays[data], params)
    record = load_fit(out)

    assert record["estimator"] == cls.__name__
    assert record["params"] == direct.get_params()  # JSON: callback=None, no tuples here
    fitted = _public_fitted(direct)
    meta = {"estimator", "params", "version", "completed"}
    assert set(record) - meta == set(fitted)
    for key, value in fitted.items():
        _assert_same(record[key], value, key)
    rank_name = next(n for n in _cli.RANK_ATTRIBUTES if n in fitted)
    assert {rank_name, "effective_rank_", "loss_curve_", "time_curve_", "history_iter_"} <= set(
        record
    )
    assert any(key.endswith("_history_") for key in record)
    if completed is None:
        assert "completed" not in record
    else:
        np.testing.assert_array_equal(record["completed"], completed)
    printed = capsys.readouterr()
    assert printed.out == (
        f"{cls.__name__}, {rank_name}={getattr(direct, rank_name)}, n_iter_={direct.n_iter_}, "
        f"stop_reason_={direct.stop_reason_} -> {out}\n"
    )
    for line in printed.err.splitlines():  # warnings, one line each, no traceback
        assert line.startswith("python -m sktensorflow fit: warning: "), line


def test_fit_of_complete_data_saves_no_completed_tensor(inputs, tmp_path, capsys):
    arrays, paths = inputs
    out = tmp_path / "fit.npz"
    argv = ["fit", str(paths["full"]), "--estimator", "tubalfactorizer", "--output", str(out)]
    assert main([*argv, *_argv_params(FAST)]) == 0
    with np.load(out, allow_pickle=False) as saved:
        assert "completed" not in saved.files
        assert "factors_0" in saved.files and "factors_1" in saved.files
        direct, _ = _direct(sktensorflow.TubalFactorizer, arrays["full"], FAST)
        np.testing.assert_array_equal(saved["factors_1"], direct.factors_[1])
        assert saved["tubal_rank_"] == direct.tubal_rank_


@pytest.mark.parametrize(
    "estimator, cls",
    [(None, sktensorflow.TubalFactorizer), ("deeptucker", sktensorflow.DeepTucker)],
)
def test_complete_keeps_observed_entries_and_fills_the_rest(
    estimator, cls, inputs, tmp_path, capsys
):
    arrays, paths = inputs
    X = arrays["tucker"]
    out = tmp_path / "filled.npy"
    argv = ["complete", str(paths["tucker"]), "--output", str(out), *_argv_params(FAST)]
    argv += ["--estimator", estimator] if estimator else []
    assert main(argv) == 0
    filled = np.load(out)
    observed = ~np.isnan(X)
    assert filled.shape == X.shape and not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[observed], X[observed])
    direct, completed = _direct(cls, X, FAST)
    np.testing.assert_array_equal(filled, completed)
    summary = capsys.readouterr().out
    assert summary.startswith(f"{cls.__name__}, ") and summary.count("\n") == 1
    assert f"filled {int((~observed).sum())} missing entries -> {out}" in summary


@pytest.mark.parametrize(
    "text, expected",
    [
        ("width=8", ("width", 8)),
        (" init_scale = 1e-3 ", ("init_scale", 1e-3)),
        ("early_stopping=False", ("early_stopping", False)),
        ("init_scale=None", ("init_scale", None)),
        ("solver=flow", ("solver", "flow")),
        ("tensor='moment'", ("tensor", "moment")),
        ("backend=pytorch", ("backend", "pytorch")),
        ("solver_options={'rtol': 1e-3}", ("solver_options", {"rtol": 1e-3})),
        ("depth=(2, 3)", ("depth", (2, 3))),
        ("a=x=y", None),
    ],
)
def test_param_values_are_python_literals_or_bare_words(text, expected):
    if expected is None:
        with pytest.raises(_cli.CommandError) as exc:
            _cli.parse_param(text)
        assert exc.value.status == 2
    else:
        assert _cli.parse_param(text) == expected


def _bad_files(directory):
    """Input files no estimator can fit, by case name."""
    np.save(directory / "one_d.npy", np.ones(5))
    np.save(directory / "scalar.npy", np.float64(3.0))
    np.save(directory / "four_d.npy", np.ones((3, 3, 3, 3)))
    np.save(directory / "all_nan.npy", np.full((4, 3), np.nan))
    np.save(directory / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(directory / "objects.npy", np.array([[1, None]], dtype=object), allow_pickle=True)
    np.save(directory / "inf.npy", np.array([[1.0, np.inf], [2.0, 3.0], [0.0, 1.0]]))
    np.savez(directory / "archive.npz", X=np.ones((3, 3)))
    (directory / "table.csv").write_text("1,2\n3,4\n")
    full = directory / "truncated.npy"
    np.save(full, np.ones((20, 20)))
    full.write_bytes(full.read_bytes()[:200])
    (directory / "a_directory.npy").mkdir()
    (directory / "taken.npz").mkdir()


T = "tubal.npy"  # a good input
TF = ["fit", T, "--estimator", "tubalfactorizer"]
DT = ["fit", T, "--estimator", "deeptucker"]
BAD = [
    # usage errors: status 2, found in the command line alone
    (["fit", T, "--estimator", "cpd"], 2, "unknown estimator 'cpd'; choose one of OverparamCP, "),
    ([*TF, "--param", "width"], 2, "--param expects KEY=VALUE, got 'width'"),
    ([*TF, "--param", "=3"], 2, "--param expects KEY=VALUE, got '=3'"),
    ([*DT, "--param", "width=(1,"], 2, "--param width: cannot read '(1,'"),
    ([*DT, "--param", "width=1-2"], 2, "--param width: cannot read '1-2'"),
    ([*DT, "--param", "widht=3"], 2, "DeepTucker has no parameter 'widht'"),
    ([*DT, "--param", "width=0"], 2, "The 'width' parameter of DeepTucker"),
    (["fit", "missing.npy", "--estimator", "deeptucker", "--param", "width=0"], 2, "'width'"),
    ([*DT, "--param", "width=abc"], 2, "Got 'abc'"),
    ([*DT, "--param", "tol=1", "--param", "tol=2"], 2, "--param tol is given twice"),
    ([*TF, "--param", "solver_options={'x': 1}"], 2, "solver_options has ['x']"),
    ([*TF, "-o:out.npy"], 2, "--output 'out.npy' must end in .npz"),
    (["complete", T, "--estimator", "overparamcp"], 2, "OverparamCP cannot complete"),
    (["complete", T, "-o:out.npz"], 2, "must end in .npy"),
    # runtime errors: status 1, found in the files or the fit
    (["fit", "missing.npy", "--estimator", "deeptucker"], 1, "missing.npy: no such file"),
    (["complete", "a_directory.npy"], 1, "a_directory.npy: is a directory"),
    (["fit", "archive.npz", "--estimator", "deeptucker"], 1, "archive.npz: a .npz archive"),
    (["fit", "table.csv", "--estimator", "deeptucker"], 1, "table.csv: not a .npy file"),
    (["fit", "truncated.npy", "--estimator", "deeptucker"], 1, "unreadable .npy file"),
    (["fit", "objects.npy", "--estimator", "deeptucker"], 1, "unreadable .npy file"),
    (["fit", "strings.npy", "--estimator", "deeptucker"], 1, "holds dtype <U1"),
    (["fit", "one_d.npy", "--estimator", "deeptucker"], 1, "shape (5,); expected at least 2"),
    (["complete", "scalar.npy"], 1, "shape (); expected at least 2"),
    (["fit", "four_d.npy", "--estimator", "tubalfactorizer"], 1, "got shape (3, 3, 3, 3)"),
    (["complete", "all_nan.npy"], 1, "no observed entries"),
    (["fit", T, "--estimator", "overparamcp"], 1, "missing (NaN) entries, which OverparamCP"),
    (["fit", "inf.npy", "--estimator", "deflationflowcp"], 1, "fit failed: Input X contains inf"),
    ([*DT, "-o:no_dir/out.npz"], 1, "no directory 'no_dir'"),
    ([*TF, "-o:taken.npz"], 1, "--output taken.npz: cannot write"),
]


@pytest.mark.parametrize("argv, status, message", BAD)
def test_bad_input_is_one_line_and_a_status(argv, status, message, inputs, tmp_path, capsys):
    _bad_files(tmp_path)
    outputs = [a[3:] for a in argv if a.startswith("-o:")]
    output = outputs[0] if outputs else ("out.npz" if argv[0] == "fit" else "out.npy")
    argv = [a for a in argv if not a.startswith("-o:")] + ["--output", output]
    argv += ["--param", "max_iter=5"] if "--param" not in argv else []
    before = sorted(p.name for p in tmp_path.iterdir())
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(argv) == status
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr()
    assert printed.out == ""
    errors = [line for line in printed.err.splitlines() if ": warning: " not in line]
    assert len(errors) == 1, printed.err
    assert errors[0].startswith(f"python -m sktensorflow {argv[0]}: error: "), errors[0]
    assert message in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_multi_line_fit_error_is_reported_in_one_line(inputs, tmp_path, monkeypatch, capsys):
    _, paths = inputs
    out = tmp_path / "never.npy"

    def failing_fit(self, X):
        raise ValueError("first line\n  second line")

    monkeypatch.setattr(sktensorflow.TubalFactorizer, "_fit", failing_fit)
    assert main(["complete", str(paths["tubal"]), "--output", str(out)]) == 1
    assert capsys.readouterr().err == (
        "python -m sktensorflow complete: error: TubalFactorizer fit failed: "
        "first line second line\n"
    )
    assert not out.exists()


def test_a_failed_write_leaves_no_partial_output(tmp_path):
    out = tmp_path / "filled.npy"

    def disk_full(file, payload):
        file.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(_cli.CommandError) as exc:
        _cli.write_output(out, disk_full, None)
    assert exc.value.status == 1
    assert str(exc.value) == f"--output {out}: cannot write: No space left on device"
    assert not out.exists()


def test_interrupt_is_one_line_and_status_130(inputs, tmp_path, monkeypatch, capsys):
    _, paths = inputs

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "load_array", interrupted)
    assert main(["complete", str(paths["tubal"]), "--output", str(tmp_path / "x.npy")]) == 130
    assert capsys.readouterr().err == "python -m sktensorflow: interrupted\n"


def test_the_installed_script_names_itself(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/sktensorflow"])
    assert main(["fit", "x.npy", "--estimator", "nope", "--output", "y.npz"]) == 2
    assert capsys.readouterr().err.startswith("sktensorflow fit: error: unknown estimator")


def test_fit_end_to_end(tmp_path):
    """``python -m sktensorflow fit`` in a subprocess saves what a direct fit computes."""
    arrays, paths = _inputs(tmp_path)
    out = tmp_path / "fit.npz"
    command = [sys.executable, "-m", "sktensorflow", "fit", str(paths["tubal"])]
    command += ["--estimator", "TubalFactorizer", *_argv_params(FAST), "--output", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for line in proc.stderr.splitlines():  # max_iter=50 warns, in one line
        assert line.startswith("python -m sktensorflow fit: warning: "), line
    assert proc.stdout.startswith("TubalFactorizer, tubal_rank_=") and proc.stdout.count("\n") == 1
    direct, completed = _direct(sktensorflow.TubalFactorizer, arrays["tubal"], FAST)
    record = load_fit(out)
    assert record["tubal_rank_"] == direct.tubal_rank_
    np.testing.assert_array_equal(record["completed"], completed)
    np.testing.assert_array_equal(record["singular_values_"], direct.singular_values_)
