"""Repeated independent trials: seeds x settings -> a table of medians and intervals.

A reproduction claims a number; over independent trials it is a distribution.
:func:`run_trials` calls ``fn(seed, **setting)`` for every seed and setting and
summarizes each returned metric over the seeds by its median and an interval
(:class:`Summary`); :func:`format_table` prints the result. No pandas needed.

The default interval is the range over the trials, ``[min, max]``: for ``n``
independent trials it contains the population median with probability
``1 - 2**(1 - n)`` (0.9375 for 5 trials, 0.998 for 10), whatever the
distribution (``coverage`` of :class:`Summary`).
"""

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Summary", "TrialTable", "format_table", "run_trials", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Median and interval of one metric over independent trials.

    Attributes
    ----------
    median, low, high : float
    values : tuple of float
        The trials' values, in seed order.
    coverage : float or None
        Probability that ``[low, high]`` contains the population median, for
        the range interval (``None`` for a percentile interval).
    """

    median: float
    low: float
    high: float
    values: tuple = field(repr=False)
    coverage: float | None = None

    def __format__(self, spec):
        spec = spec or ".3g"
        return f"{self.median:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def summarize(values, interval="range"):
    """:class:`Summary` of ``values`` (NaN trials are ignored).

    Parameters
    ----------
    values : array-like of float
    interval : "range" or tuple of two floats, default="range"
        ``[min, max]``, or the given percentiles (e.g. ``(5, 95)``).

    Returns
    -------
    summary : Summary

    Examples
    --------
    >>> s = summarize([3.0, 1.0, 2.0, 5.0, 4.0])
    >>> s.median, s.low, s.high, s.coverage
    (3.0, 1.0, 5.0, 0.9375)
    >>> f"{s:.2f}"
    '3.00 [1.00, 5.00]'
    """
    values = np.asarray(values, dtype=float).reshape(-1)
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        return Summary(math.nan, math.nan, math.nan, tuple(values.tolist()), None)
    if interval == "range":
        low, high, coverage = kept.min(), kept.max(), 1 - 2.0 ** (1 - kept.size)
    else:
        low, high = np.percentile(kept, interval)
        coverage = None
    return Summary(
        float(np.median(kept)), float(low), float(high), tuple(values.tolist()), coverage
    )


@dataclass
class TrialTable:
    """Outcome of :func:`run_trials`: one row per setting.

    Attributes
    ----------
    rows : list of dict
        The setting's parameters, ``n_trials``, and a :class:`Summary` per metric.
    setting_names, metric_names : list of str
    seeds : list
    """

    rows: list
    setting_names: list
    metric_names: list
    seeds: list

    def column(self, metric, statistic="median"):
        """One statistic (``"median"``, ``"low"``, ``"high"``) of a metric, per row."""
        return np.array([getattr(row[metric], statistic) for row in self.rows])

    def __str__(self):
        return format_table(self)


def run_trials(fn, seeds, settings=None, *, interval="range"):
    """Run ``fn(seed, **setting)`` for every seed and setting and summarize.

    Parameters
    ----------
    fn : callable
        ``fn(seed, **setting) -> dict`` of metric name to float. Each call must
        be an independent trial: draw the problem and the initialization from
        ``seed``.
    seeds : iterable of int
    settings : list of dict, default=None
        Parameters of ``fn`` to vary (``None``: one setting without parameters).
    interval : "range" or tuple of two floats, default="range"
        See :func:`summarize`.

    Returns
    -------
    table : TrialTable

    Examples
    --------
    >>> def trial(seed, scale):
    ...     rng = np.random.default_rng(seed)
    ...     return {"value": scale * (1 + 0.1 * rng.standard_normal())}
    >>> table = run_trials(trial, range(5), [{"scale": 1.0}, {"scale": 10.0}])
    >>> table.column("value").round(1).tolist()
    [1.0, 10.2]
    >>> print(format_table(table, fmt=".2f"))
    scale n               value
     1.00 5   1.02 [0.93, 1.20]
    10.00 5 10.19 [9.35, 12.04]
    """
    seeds = list(seeds)
    settings = [{}] if settings is None else [dict(s) for s in settings]
    if not seeds:
        raise ValueError("seeds must not be empty.")
    setting_names = list(dict.fromkeys(name for s in settings for name in s))
    rows, metric_names = [], []
    for setting in settings:
        outcomes = [dict(fn(seed, **setting)) for seed in seeds]
        names = list(dict.fromkeys(name for o in outcomes for name in o))
        metric_names.extend(n for n in names if n not in metric_names)
        row = {**setting, "n_trials": len(seeds)}
        for name in names:
            row[name] = summarize([o.get(name, math.nan) for o in outcomes], interval)
        rows.append(row)
    return TrialTable(rows, setting_names, metric_names, seeds)


def format_table(table, metrics=None, *, fmt=".3g"):
    """The table as text: settings, number of trials, ``median [low, high]`` per metric.

    Parameters
    ----------
    table : TrialTable
    metrics : list of str, default=None
        Metrics to show (default: all).
    fmt : str, default=".3g"
        Format specification of the numbers.

    Returns
    -------
    text : str
    """
    metrics = table.metric_names if metrics is None else list(metrics)
    header = [*table.setting_names, "n", *metrics]
    lines = []
    for row in table.rows:
        cells = [_cell(row.get(name), fmt) for name in table.setting_names]
        cells.append(str(row["n_trials"]))
        cells.extend(format(row[m], fmt) if m in row else "-" for m in metrics)
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = [" ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    out += [" ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def _cell(value, fmt):
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, fmt)
    return str(value)
