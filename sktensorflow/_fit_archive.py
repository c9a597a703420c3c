"""The ``OUT.npz`` file that ``python -m sktensorflow fit`` writes, and its reader.

Layout (read it with ``numpy.load(path)``, no pickling needed, or with
:func:`load_fit`, which reassembles the lists):

- ``estimator``: the class name (0-d string array); ``params``: the
  estimator's ``get_params()`` as JSON text (tuples become lists, values JSON
  cannot hold are written as their ``repr``); ``version``: sktensorflow's.
- every public fitted attribute (a name ending in ``_``) under its own name:
  arrays as they are, scalars and strings as 0-d arrays, tuples or lists of
  numbers as one array (``multilinear_rank_``, ``feature_shape_``), lists of
  arrays as numbered keys, ``factors_`` as ``factors_0``, ``factors_1``, ...
  (nested lists: ``chains_0_1`` is ``chains_[0][1]``). This holds the rank
  estimates (``rank_``, ``tubal_rank_`` or ``multilinear_rank_``, and
  ``effective_rank_``), the factors, components, weights or core, and the
  histories (``loss_curve_``, ``time_curve_``, ``history_iter_``,
  ``*_history_``).
- ``completed``: the input with its missing entries filled by the fitted
  model, when the input has ``NaN`` entries and the estimator can complete.

An empty list is saved as an empty array; attributes of other types (none of
the four estimators has one) are not saved.
"""

import json
import re

import numpy as np

_NUMBERED_KEY = re.compile(r"([a-z][a-z_]*?_)(\d+(?:_\d+)*)")


def fitted_arrays(estimator):
    """The public fitted attributes as ``{key: ndarray}`` in the ``OUT.npz`` layout."""
    out = {}
    for name, value in vars(estimator).items():
        if name.endswith("_") and not name.startswith("_"):
            _flatten(name, value, out)
    return out


def _flatten(key, value, out):
    if isinstance(value, np.ndarray):
        if value.dtype != object:
            out[key] = value
    elif isinstance(value, bool | int | float | str | np.generic):
        out[key] = np.asarray(value)
    elif isinstance(value, list | tuple):
        if all(isinstance(v, int | float | np.number) for v in value):
            out[key] = np.asarray(value)
        else:
            for i, item in enumerate(value):
                _flatten(f"{key}{i}" if key.endswith("_") else f"{key}_{i}", item, out)


def fit_record(estimator, completed=None):
    """Everything ``fit`` saves, as ``{key: ndarray}`` (see the module docstring)."""
    params = json.dumps(estimator.get_params(deep=False), default=repr, sort_keys=True)
    record = {
        "estimator": np.asarray(type(estimator).__name__),
        "params": np.asarray(params),
        "version": np.asarray(_version()),
        **fitted_arrays(estimator),
    }
    if completed is not None:
        record["completed"] = completed
    return record


def _version():
    from . import __version__

    return __version__


def load_fit(path):
    """Read an ``OUT.npz`` back: ``params`` as a dict, 0-d arrays as scalars,
    numbered keys as (nested) lists under the attribute's name."""
    with np.load(path, allow_pickle=False) as data:
        raw = {key: data[key] for key in data.files}
    record = {}
    for key, value in raw.items():
        value = value.item() if value.ndim == 0 else value
        match = _NUMBERED_KEY.fullmatch(key)
        if match is None:
            record[key] = value
            continue
        *path, last = (int(i) for i in match[2].split("_"))
        node = record.setdefault(match[1], [])
        for index in path:
            node = _grow(node, index, list)
        _grow(node, last, lambda: None)
        node[last] = value
    record["params"] = json.loads(record["params"])
    return record


def _grow(items, index, make):
    while len(items) <= index:
        items.append(make())
    return items[index]
