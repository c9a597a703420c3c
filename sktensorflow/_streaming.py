"""``partial_fit`` of the symmetric CP estimators: the moment of a stream of sample batches.

A moment target ``(1/n) sum_s x_s^{⊗order}`` is a sum over samples, and its
packed form (:mod:`sktensorflow.models.packed_moments`, ``C(d+order-1, order)``
numbers) is a sufficient statistic: the loss, ``||T*||`` and every gradient
follow from it without the samples. ``partial_fit(X_batch)`` adds the batch's
contribution to that running sum and then fits on the moment of **all the
batches so far**, so after the last batch the model is the model ``fit`` gives
on their concatenation (up to the order of summation). The samples themselves
are not kept: memory is the packed moment plus one batch.

Each call refits from the start the estimator's ``random_state`` gives (its
cost: one pass over the batch, then the gradient steps, whose cost does not
depend on the number of samples). With ``warm_start=True`` a call instead
continues the previous call's iterations on the updated moment for
``max_iter`` more iterations (:mod:`sktensorflow._warm_start`).

Details, as ``fit`` does them on in-memory samples:

- the normalization (division by an exact power of two) is chosen from the
  first batch and kept;
- the sampling-noise level behind ``rank_`` is estimated from the rows
  themselves: all of them while they number at most
  :data:`sktensorflow._chunked.NOISE_MAX_ENTRIES` ``// n_features`` (then it
  equals ``fit``'s), beyond that from a uniform random subset of that many
  rows (reservoir sampling, seeded: the subset depends on the batches only),
  scaled to all rows as for data larger than memory (:mod:`sktensorflow._chunked`).

Only ``tensor="moment"`` streams: a cumulant is centered at the mean of all the
samples, which is not known until the last batch (fit a ``dask.array`` for
cumulants of samples larger than memory).
"""

import copy
from dataclasses import dataclass

import numpy as np

from . import _backend
from ._chunked import _SUBSET_SEED, NOISE_MAX_ENTRIES, is_dask_array
from ._symmetric_scale import even_exponent
from .models import blockwise as bw
from .models.packed_moments import MAX_PACKED_ENTRIES, accumulate, accumulator_size

__all__ = [
    "PartialFitMixin",
    "StreamState",
    "check_streamable",
    "noise_rows_of",
    "stream_target",
    "updated",
]


class PartialFitMixin:
    """``partial_fit`` on batches of samples (the symmetric CP estimators)."""

    def partial_fit(self, X, y=None):
        """Add a batch of samples to the moment and fit on all the batches so far.

        The model after ``partial_fit(X_1)``, ..., ``partial_fit(X_k)`` is the
        model ``fit`` gives on the concatenation of ``X_1, ..., X_k`` (up to the
        order of summation); only the packed moment of the batches is kept,
        not the samples. Each call refits from the start the ``random_state``
        gives, or with ``warm_start=True`` continues the previous call's
        iterations on the updated moment. A call after ``fit`` starts a new
        stream. The user guide's section on samples larger than memory and
        streams of batches has the details.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch of samples (``tensor="moment"`` only).
        y : Ignored

        Returns
        -------
        self : object
            The estimator fitted on all the batches so far.
        """
        self._validate_params()
        state = vars(self).get("_stream")
        checker = copy.copy(self)  # validation sets n_features_in_: not on self before the fit
        X = X.compute() if is_dask_array(X) else X
        Xv = checker._validate_input(X, reset=state is None)
        check_streamable(self, Xv.shape[1])
        names = getattr(checker, "feature_names_in_", None) if state is None else None
        return self.fit(updated(state, Xv, self.order, names, probe=X))

    def _stream_data(self, state):
        """Fit the preprocessing of a stream (``_fit_target``): the stream itself is the data."""
        d = state.reservoir.shape[1]
        self.n_features_in_ = d
        if state.feature_names is not None:
            self.feature_names_in_ = state.feature_names
        self._x_exp, self._t_exp = state.x_exp, state.x_exp * self.order
        self._mean_n, self._whitening_n = np.zeros(d), np.eye(d)
        self._stream = state
        return state


def stream_target(state, order):
    """The packed moment target of the stream's batches."""
    d = state.reservoir.shape[1]
    return bw.ChunkedTarget.from_sums(state.sums, state.n, d, order)


@dataclass(frozen=True, eq=False)
class StreamState:
    """The running statistics of the batches seen so far (normalized units, host arrays).

    Attributes
    ----------
    sums : tuple of ndarray
        Unweighted packed column-block sums of ``x^{⊗order}`` (:func:`accumulate`).
    n : int
        Samples seen.
    x_exp : int
        The samples are divided by ``2**x_exp`` (chosen from the first batch).
    reservoir : ndarray of shape (n_kept, n_features)
        The rows the sampling-noise estimate reads (all of them, or a uniform subset).
    feature_names : ndarray or None
        ``feature_names_in_`` of the first batch.
    probe : array
        An empty slice of the last batch: its array library chooses the backend.
    """

    sums: tuple
    n: int
    x_exp: int
    reservoir: np.ndarray
    feature_names: object = None
    probe: object = None


def check_streamable(est, d):
    """Raise a ``ValueError`` unless ``est`` can stream batches of ``d`` features."""
    if est.tensor != "moment":
        raise ValueError(
            f"partial_fit needs tensor='moment' (a sum over samples), got "
            f"tensor={est.tensor!r}: a cumulant is centered at the mean of all the samples; "
            "fit a dask.array to fit a cumulant of samples larger than memory."
        )
    size = accumulator_size(d, est.order)
    if size > MAX_PACKED_ENTRIES:
        raise ValueError(
            f"partial_fit keeps the packed moment, {size} numbers for n_features={d} and "
            f"order={est.order}, over the budget of {MAX_PACKED_ENTRIES}; fit a dask.array "
            "instead (its gradients are passes over the data)."
        )


def _reservoir_size(d):
    return max(NOISE_MAX_ENTRIES // d, 4)


def _sample_reservoir(kept, rows, n_before):
    """Reservoir sampling (algorithm R) of ``rows`` into ``kept``: a uniform subset of all rows.

    Rows are appended while there is room; row ``t`` (0-based over the whole
    stream) beyond it replaces a uniformly drawn slot with probability
    ``size / (t + 1)``. The draws are seeded by the position in the stream.
    """
    size = _reservoir_size(rows.shape[1])
    room = max(size - kept.shape[0], 0)
    kept = np.concatenate([kept, rows[:room]])
    rest = rows[room:]
    if rest.shape[0] == 0:
        return kept
    kept = kept.copy()
    first = n_before + room
    rng = np.random.default_rng([_SUBSET_SEED, first])
    slots = rng.integers(0, first + np.arange(rest.shape[0]) + 1)
    for row, slot in zip(rest[slots < size], slots[slots < size], strict=True):
        kept[slot] = row
    return kept


def updated(state, X, order, feature_names=None, probe=None):
    """The :class:`StreamState` after the validated batch ``X`` (``state`` is left unchanged).

    ``probe`` is the batch as given (its array library chooses the backend).
    """
    if state is None:
        x_exp = even_exponent(float(np.max(np.abs(X))) if X.size else 0.0)
        state = StreamState((), 0, x_exp, np.empty((0, X.shape[1])), feature_names)
    Xn = np.ldexp(X, -state.x_exp)
    with _backend.backend_context("numpy"):
        sums = tuple(np.asarray(a) for a in accumulate(Xn, order))
    if state.sums:
        sums = tuple(a + b for a, b in zip(state.sums, sums, strict=True))
    reservoir = _sample_reservoir(state.reservoir, Xn, state.n)
    probe = probe[:0] if hasattr(probe, "shape") else None
    return StreamState(
        sums, state.n + X.shape[0], state.x_exp, reservoir, state.feature_names, probe
    )


def noise_rows_of(state, order):
    """Rows for the sampling-noise estimate, scaled to stand for all ``state.n`` rows."""
    kept = state.reservoir
    if kept.shape[0] == state.n:
        return kept
    return kept * (kept.shape[0] / state.n) ** (0.5 / order)
