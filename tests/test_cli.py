"""``python -m sktensorflow``: the demo recovers every planted rank."""

import io

import pytest

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
    with pytest.raises(SystemExit):
        main(["fit"])
