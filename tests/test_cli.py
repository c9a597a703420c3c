"""``python -m sktensorflow``: the demo recovers every planted rank, and the
command line answers bad arguments, ``--version`` and a closed pipe cleanly."""

import io
import os
import subprocess
import sys

import pytest

import sktensorflow
from sktensorflow import __main__ as cli
from sktensorflow.__main__ import main, run_demo


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
        main(["fit"])
    assert exc.value.code == 2
    assert "invalid choice: 'fit'" in capsys.readouterr().err


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
