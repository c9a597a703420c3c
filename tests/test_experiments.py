"""The multi-seed runner: calls, summaries and the printed table."""

import math

import numpy as np
import pytest

from sktensorflow.experiments import format_table, run_trials, summarize


def test_summary_is_median_and_range_with_its_coverage():
    s = summarize([4.0, 1.0, np.nan, 9.0, 2.0, 3.0, 7.0])
    assert (s.median, s.low, s.high) == (3.5, 1.0, 9.0)
    assert s.coverage == pytest.approx(1 - 2.0**-5)  # six trials kept
    assert math.isnan(s.values[2]) and len(s.values) == 7
    p = summarize(np.arange(101.0), interval=(5, 95))
    assert (p.median, p.low, p.high, p.coverage) == (50.0, 5.0, 95.0, None)
    empty = summarize([np.nan, np.nan])
    assert math.isnan(empty.median) and empty.coverage is None
    assert format(summarize([1.0, 2.0, 4.0]), ".1f") == "2.0 [1.0, 4.0]"


def test_every_seed_and_setting_is_run_once_in_order():
    calls = []

    def trial(seed, width, alpha=1.0):
        calls.append((seed, width, alpha))
        out = {"error": alpha * width + seed}
        if width == 2:
            out["extra"] = float(seed)
        return out

    table = run_trials(trial, [3, 1, 2], [{"width": 1}, {"width": 2, "alpha": 10.0}])
    assert calls == [(3, 1, 1.0), (1, 1, 1.0), (2, 1, 1.0), (3, 2, 10.0), (1, 2, 10.0),
                     (2, 2, 10.0)]  # fmt: skip
    assert table.setting_names == ["width", "alpha"]
    assert table.metric_names == ["error", "extra"]
    assert table.seeds == [3, 1, 2]
    np.testing.assert_array_equal(table.column("error"), [3.0, 22.0])
    np.testing.assert_array_equal(table.column("error", "low"), [2.0, 21.0])
    np.testing.assert_array_equal(table.column("error", "high"), [4.0, 23.0])
    assert table.rows[1]["error"].values == (23.0, 21.0, 22.0)
    assert "extra" not in table.rows[0] and table.rows[1]["n_trials"] == 3
    lines = format_table(table, fmt=".1f").splitlines()
    assert lines[0].split() == ["width", "alpha", "n", "error", "extra"]
    assert lines[1].split() == ["1", "-", "3", "3.0", "[2.0,", "4.0]", "-"]
    assert lines[2].split()[-6:] == ["22.0", "[21.0,", "23.0]", "2.0", "[1.0,", "3.0]"]
    assert str(table) == format_table(table)


def test_no_seeds_is_an_error():
    with pytest.raises(ValueError, match="seeds"):
        run_trials(lambda seed: {}, [])
