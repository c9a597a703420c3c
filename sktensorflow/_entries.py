"""Observed-entries input: a tensor given by the coordinates and values of its observed entries.

The completion estimators (:class:`~sktensorflow.TubalFactorizer`,
:class:`~sktensorflow.DeepTucker`) accept, besides a dense array with ``NaN``
at the missing entries, the observed entries alone, in two forms:

- a :class:`sparse.COO` array (`pydata/sparse <https://sparse.pydata.org>`_):
  its *stored* coordinates are the observed entries, whatever its
  ``fill_value`` (an explicitly stored zero is an observed zero; a coordinate
  that is not stored is missing);
- a tuple ``(indices, values, shape)``: ``indices`` an integer array of shape
  ``(n_entries, len(shape))`` (one row of coordinates per entry), ``values``
  of shape ``(n_entries,)``, ``shape`` a tuple of ints.

Both become one canonical :class:`ObservedEntries` (entries sorted in C order
of their coordinates, values float64), validated by :func:`check_entries`.
Axis 0 is the sample axis, as for a dense array of ``shape``.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from ._early_stopping import _random_share

__all__ = [
    "EntriesInputMixin",
    "ObservedEntries",
    "as_observed_entries",
    "check_entries",
    "entries_validation_split",
]


@dataclass(frozen=True, eq=False)
class ObservedEntries:
    """The observed entries of a tensor of ``shape``, in C order of their coordinates.

    Build it with :func:`check_entries` (or :func:`as_observed_entries`),
    which validates and sorts.

    Parameters
    ----------
    indices : ndarray of int of shape (n_entries, len(shape))
        Coordinates of the observed entries, one row per entry.
    values : ndarray of float64 of shape (n_entries,)
        Their values.
    shape : tuple of int
        Shape of the (dense) tensor.
    """

    indices: np.ndarray
    values: np.ndarray
    shape: tuple

    @property
    def coords(self):
        """Coordinates as a tuple of ``len(shape)`` arrays (what ``X[coords]`` indexes)."""
        return tuple(self.indices.T)

    @property
    def n_entries(self):
        return int(self.values.shape[0])

    @property
    def nbytes(self):
        """Memory of the coordinates and values, in bytes."""
        return int(self.indices.nbytes + self.values.nbytes)

    def to_dense(self):
        """The tensor as a dense float64 array with ``NaN`` at the missing entries.

        Memory is that of the dense tensor, ``8 * prod(shape)`` bytes.
        """
        dense = np.full(self.shape, np.nan)
        dense[self.coords] = self.values
        return dense

    def subset(self, keep):
        """The entries selected by the boolean or integer array ``keep`` (order kept)."""
        return ObservedEntries(self.indices[keep], self.values[keep], self.shape)


def _is_sparse_array(X):
    return type(X).__module__.split(".")[0] == "sparse" and hasattr(X, "asformat")


def _is_entries_tuple(X):
    """``(indices, values, shape)``: a tuple whose last item is a tuple of ints, indices 2-D."""
    return (
        type(X) is tuple
        and len(X) == 3
        and isinstance(X[2], tuple)
        and all(isinstance(n, Integral) for n in X[2])
        and np.ndim(X[0]) == 2
    )


def as_observed_entries(X):
    """``X`` as validated :class:`ObservedEntries`, or ``None`` if it is not in an entries form.

    Parameters
    ----------
    X : object
        A ``sparse.COO`` (or another pydata ``sparse`` array, converted to
        COO), a tuple ``(indices, values, shape)``, an :class:`ObservedEntries`,
        or anything else (dense input: ``None`` is returned).

    Returns
    -------
    entries : ObservedEntries or None

    Examples
    --------
    >>> import numpy as np
    >>> e = as_observed_entries((np.array([[1, 0], [0, 2]]), [2.0, 1.0], (2, 3)))
    >>> e.indices.tolist(), e.values.tolist()
    ([[0, 2], [1, 0]], [1.0, 2.0])
    >>> as_observed_entries(np.zeros((2, 3))) is None
    True
    """
    if isinstance(X, ObservedEntries):
        return X
    if _is_sparse_array(X):
        coo = X.asformat("coo")
        return check_entries(np.asarray(coo.coords).T, np.asarray(coo.data), coo.shape)
    if _is_entries_tuple(X):
        return check_entries(*X)
    return None


def _check_shape(shape):
    shape = tuple(shape)
    if len(shape) < 2 or not all(isinstance(n, Integral) and n >= 1 for n in shape):
        raise ValueError(
            f"The shape of observed-entries input must be a tuple of at least 2 positive "
            f"ints (n_samples, n_features, ...), got {shape!r}."
        )
    return tuple(int(n) for n in shape)


def _check_indices(indices, shape):
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[1] != len(shape):
        raise ValueError(
            f"indices must have shape (n_entries, {len(shape)}) for a tensor of shape "
            f"{shape}, got shape {indices.shape}."
        )
    if indices.size and not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"indices must be integers, got dtype {indices.dtype}.")
    indices = indices.astype(np.intp, copy=False)
    bad = (indices < 0) | (indices >= np.asarray(shape))
    if bad.any():
        row, axis = np.argwhere(bad)[0]
        raise ValueError(
            f"Index {tuple(indices[row].tolist())} of entry {row} is out of range for "
            f"shape {shape} (axis {axis} has length {shape[axis]})."
        )
    return indices


def _check_values(values, n_entries, indices):
    values = np.asarray(values)
    if values.shape != (n_entries,):
        raise ValueError(
            f"values must have shape (n_entries,) = ({n_entries},), got shape {values.shape}."
        )
    if values.size and not (
        np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)
    ):
        raise ValueError(f"values must be real numbers, got dtype {values.dtype}.")
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"Observed values must be finite: entry {first} at {tuple(indices[first].tolist())} "
            f"is {values[first]}. A missing entry is one that is not listed (in a sparse.COO, "
            f"one that is not stored), not a stored NaN."
        )
    return values


def check_entries(indices, values, shape):
    """Validate observed entries and return them as canonical :class:`ObservedEntries`.

    Parameters
    ----------
    indices : array-like of int of shape (n_entries, len(shape))
    values : array-like of shape (n_entries,)
    shape : tuple of int

    Returns
    -------
    entries : ObservedEntries
        Sorted in C order of the coordinates, values as float64.

    Raises
    ------
    ValueError
        Naming the problem: a shape with fewer than 2 axes, indices of the
        wrong shape or dtype, an out-of-range index, coordinates listed twice,
        values of the wrong shape or non-finite values.

    Examples
    --------
    >>> check_entries([[0, 0], [0, 0]], [1.0, 2.0], (2, 2))
    Traceback (most recent call last):
    ...
    ValueError: Coordinates (0, 0) are listed 2 times; every observed entry must be listed once.
    """
    shape = _check_shape(shape)
    indices = _check_indices(indices, shape)
    values = _check_values(values, indices.shape[0], indices)
    order = np.lexsort(indices.T[::-1]) if indices.shape[0] else np.arange(0)
    indices, values = indices[order], values[order]
    same = np.all(indices[1:] == indices[:-1], axis=1)
    if same.any():
        first = int(np.flatnonzero(same)[0])
        count = int(np.sum(np.all(indices == indices[first], axis=1)))
        raise ValueError(
            f"Coordinates {tuple(indices[first].tolist())} are listed {count} times; every "
            f"observed entry must be listed once."
        )
    return ObservedEntries(indices, values, shape)


class EntriesInputMixin:
    """Accept observed-entries input wherever the estimator validates a dense ``X``.

    Entries input is densified to a float64 array with ``NaN`` at the missing
    entries (memory of the dense tensor), so every method of the estimator
    accepts it as it accepts that array, ``n_features_in_`` included.
    Estimators with a cheaper path for entries (``DeepTucker.fit``) take
    :func:`as_observed_entries` themselves before validating.
    """

    def _validate_input(self, X, *, reset, allow_nan=False, allow_nd=False):
        entries = as_observed_entries(X)
        if entries is not None:
            X = entries.to_dense()
        return super()._validate_input(X, reset=reset, allow_nan=allow_nan, allow_nd=allow_nd)


# -- the held-out split over entries --------------------------------------------------
def _fibre_axes(entries):
    """Entries form of :func:`sktensorflow._early_stopping.missing_fibre_axes`."""
    shape, indices = entries.shape, entries.indices
    if entries.n_entries == int(np.prod(shape, dtype=float)):
        return ()
    axes = []
    for axis in range(1, len(shape)):
        others = np.delete(indices, axis, axis=1)
        _, counts = np.unique(others, axis=0, return_counts=True)
        if np.all(counts == shape[axis]):
            axes.append(axis)
    return () if len(axes) == len(shape) - 1 else tuple(axes)


def entries_validation_split(entries, fraction, rng):
    """Entries withheld for validation: a boolean array over ``entries``.

    The same draws, from the same ``rng`` state, as
    :func:`sktensorflow._early_stopping.validation_split` on the dense mask of
    the entries: whole fibres are withheld along the non-sample axes on which
    every fibre is observed entirely or not at all, single entries otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> e = check_entries(np.argwhere(np.ones((4, 5))), np.ones(20), (4, 5))
    >>> int(entries_validation_split(e, 0.1, np.random.RandomState(0)).sum())
    2
    """
    axes = _fibre_axes(entries)
    keep = [a for a in range(len(entries.shape)) if a not in axes]
    base = np.all(entries.indices[:, list(axes)] == 0, axis=1) if axes else None
    reduced = entries.indices[:, keep] if axes else entries.indices
    candidates = np.flatnonzero(base) if axes else np.arange(entries.n_entries)
    drawn = _random_share(np.ones(candidates.size, bool), fraction, rng)
    chosen = candidates[np.flatnonzero(drawn)]
    if not axes:
        heldout = np.zeros(entries.n_entries, dtype=bool)
        heldout[chosen] = True
        return heldout
    return _rows_in(reduced, reduced[chosen])


def _rows_in(rows, selected):
    """Whether each row of ``rows`` is one of the rows of ``selected``."""
    both = np.concatenate([selected, rows])
    _, inverse = np.unique(both, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return np.isin(inverse[selected.shape[0] :], inverse[: selected.shape[0]])
