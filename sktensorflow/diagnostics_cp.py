"""Diagnostics of fitted symmetric CP estimators against a known truth.

The quantities the deflation analysis of Ge, Ren, Wang and Zhou (2021) is
built on, computed from a fitted :class:`~sktensorflow.OverparamCP` or
:class:`~sktensorflow.DeflationFlowCP` and the true components ``u_k``:

- :func:`norm_correlation_trajectory`: every column's norm and its largest
  correlation ``max_k |cos(w_i, u_k)|`` over time. The proof's
  *norm/correlation relation* says that a column whose norm crosses a threshold
  must be highly correlated with one true component;
  :func:`correlation_above_norm` measures it.
- :func:`column_distances`: the distance of every fitted column's direction to
  its nearest true component, and per component the weighted average distance
  of its columns (the *local stability* quantity: columns that fit a component
  stay close to it individually and on average) and the error of the summed
  weight.

All functions take host or backend arrays and return numpy arrays. The true
components live in the space of the fitted columns: for ``tensor="cumulant"``
with ``whiten=True`` that is the whitened space.
"""

from typing import NamedTuple

import numpy as np

from . import _backend

__all__ = [
    "ColumnDistances",
    "NormCorrelation",
    "column_distances",
    "correlation_above_norm",
    "norm_correlation_trajectory",
]


class NormCorrelation(NamedTuple):
    """Columns' norms and correlations with the truth over time.

    Attributes
    ----------
    times : ndarray of shape (n_records,)
        Flow time of each record.
    norms : ndarray of shape (n_records, width)
        ``||w_i(t)||``.
    correlations : ndarray of shape (n_records, width)
        ``max_k |cos(w_i(t), u_k)|``.
    nearest : ndarray of shape (n_records, width)
        The maximizing ``k``.
    """

    times: np.ndarray
    norms: np.ndarray
    correlations: np.ndarray
    nearest: np.ndarray


class ColumnDistances(NamedTuple):
    """Fitted columns against the true components.

    Attributes
    ----------
    nearest : ndarray of shape (width,)
        Index of the true component closest in direction to each column.
    cosines : ndarray of shape (width,)
        ``|cos(w_i, u_nearest)|``.
    distances : ndarray of shape (width,)
        ``min(||wbar_i - u||, ||wbar_i + u||) = sqrt(2 - 2 |cos|)`` for the
        nearest ``u`` (the sign of a direction is absorbed by the weight).
    norms : ndarray of shape (width,)
        ``||w_i||``.
    mean_distances : ndarray of shape (n_components,)
        Per component, ``sqrt(sum_i ||w_i||² d_i² / sum_i ||w_i||²)`` over the
        columns nearest to it (``nan`` if none).
    weights : ndarray of shape (n_components,)
        Per component, the summed signed weight ``s_i ||w_i||² sign(cos)^order``
        of its columns, comparable to the true weight.
    weight_errors : ndarray of shape (n_components,)
        ``weights - true_weights`` (``nan`` without ``true_weights``).
    """

    nearest: np.ndarray
    cosines: np.ndarray
    distances: np.ndarray
    norms: np.ndarray
    mean_distances: np.ndarray
    weights: np.ndarray
    weight_errors: np.ndarray


def _unit_components(components, n_features):
    U = np.asarray(_backend.to_numpy(components), dtype=float)
    if U.ndim != 2 or U.shape[1] != n_features or U.shape[0] == 0:
        raise ValueError(
            f"components must have shape (n_components, {n_features}) with at least one "
            f"component, got shape {U.shape}."
        )
    norms = np.linalg.norm(U, axis=1, keepdims=True)
    if not np.all(norms > 0):
        raise ValueError("components must not contain a zero row.")
    return U / norms


def _fitted(estimator, name):
    if not hasattr(estimator, name):
        hint = (
            " (fit DeflationFlowCP with record_columns=True)" if name == "columns_history_" else ""
        )
        raise ValueError(
            f"{type(estimator).__name__} has no attribute {name!r}: fit it first{hint}."
        )
    return np.asarray(_backend.to_numpy(getattr(estimator, name)), dtype=float)


def _cosines(U, W):
    """``(..., r, width)`` cosines between unit rows ``U`` and the columns of ``W``."""
    norms = np.linalg.norm(W, axis=-2)
    return np.einsum("kd,...di->...ki", U, W) / np.where(norms > 0, norms, 1.0)[..., None, :]


def norm_correlation_trajectory(estimator, components):
    """Every column's norm and largest correlation with the true components over time.

    Parameters
    ----------
    estimator : DeflationFlowCP
        Fitted with ``record_columns=True`` (it needs ``columns_history_``).
    components : array-like of shape (n_components, n_features)
        True directions ``u_k`` (normalized inside).

    Returns
    -------
    trajectory : NormCorrelation

    Examples
    --------
    >>> from sktensorflow import DeflationFlowCP
    >>> from sktensorflow.datasets import make_symmetric_cp
    >>> T, truth = make_symmetric_cp(6, 2, order=4, weights=[1.0, 0.5], random_state=0)
    >>> est = DeflationFlowCP(8, tensor="precomputed", record_columns=True, random_state=0)
    >>> traj = norm_correlation_trajectory(est.fit(T), truth.components)
    >>> traj.norms.shape == traj.correlations.shape == (est.n_iter_ + 1, 8)
    True
    >>> bool(traj.correlations[-1][traj.norms[-1] > 0.1].min() > 0.999)
    True
    """
    H = _fitted(estimator, "columns_history_")
    U = _unit_components(components, H.shape[1])
    cos = np.abs(_cosines(U, H))  # (n_records, r, width)
    return NormCorrelation(
        times=_fitted(estimator, "history_time_"),
        norms=np.linalg.norm(H, axis=1),
        correlations=cos.max(axis=1),
        nearest=cos.argmax(axis=1),
    )


def correlation_above_norm(trajectory, thresholds):
    """Smallest correlation of any column at any time while its norm is at least a threshold.

    The norm/correlation relation of the deflation analysis: once a column is
    large, it is aligned with a true component, so this is close to 1 for
    thresholds well above the initial norm.

    Parameters
    ----------
    trajectory : NormCorrelation
        From :func:`norm_correlation_trajectory`.
    thresholds : array-like of shape (n_thresholds,)
        Norms (in the units of the columns).

    Returns
    -------
    min_correlations : ndarray of shape (n_thresholds,)
        ``nan`` where no column ever reached the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> traj = NormCorrelation(np.arange(2.0), np.array([[0.1, 1.0], [0.5, 2.0]]),
    ...                        np.array([[0.2, 0.9], [0.6, 0.99]]), np.zeros((2, 2), int))
    >>> correlation_above_norm(traj, [0.0, 0.4, 1.0, 5.0]).tolist()
    [0.2, 0.6, 0.9, nan]
    """
    norms, corr = np.asarray(trajectory.norms), np.asarray(trajectory.correlations)
    out = []
    for threshold in np.atleast_1d(np.asarray(thresholds, dtype=float)):
        above = norms >= threshold
        out.append(corr[above].min() if above.any() else np.nan)
    return np.asarray(out)


def column_distances(estimator, components, true_weights=None):
    """Distance of each fitted column to its nearest true component, and per-component summaries.

    Parameters
    ----------
    estimator : OverparamCP or DeflationFlowCP
        Fitted (uses ``columns_`` and ``column_weights_``).
    components : array-like of shape (n_components, n_features)
        True directions ``u_k`` (normalized inside).
    true_weights : array-like of shape (n_components,), default=None
        True weights ``a_k``, for ``weight_errors``.

    Returns
    -------
    distances : ColumnDistances

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow import DeflationFlowCP
    >>> from sktensorflow.datasets import make_symmetric_cp
    >>> T, truth = make_symmetric_cp(6, 2, order=4, weights=[1.0, 0.5], random_state=0)
    >>> est = DeflationFlowCP(8, tensor="precomputed", random_state=0).fit(T)
    >>> res = column_distances(est, truth.components, truth.weights)
    >>> bool(np.abs(res.weight_errors).max() < 1e-5), bool(res.mean_distances.max() < 1e-4)
    (True, True)
    """
    W = _fitted(estimator, "columns_")
    raw = _fitted(estimator, "column_weights_")
    U = _unit_components(components, W.shape[0])
    cos = _cosines(U, W)  # (r, width)
    nearest = np.abs(cos).argmax(axis=0)
    c = cos[nearest, np.arange(W.shape[1])]
    dist = np.sqrt(np.maximum(2.0 - 2.0 * np.abs(c), 0.0))
    sq = np.sum(W * W, axis=0)
    r = U.shape[0]
    member = nearest[None, :] == np.arange(r)[:, None]  # (r, width)
    mass = member @ sq
    mean = np.sqrt(
        np.divide(member @ (sq * dist**2), mass, out=np.full(r, np.nan), where=mass > 0)
    )
    order = getattr(estimator, "order", 4)
    weights = member @ (raw * np.sign(c) ** order)
    if true_weights is None:
        errors = np.full(r, np.nan)
    else:
        errors = weights - np.asarray(true_weights, dtype=float).reshape(r)
    return ColumnDistances(nearest, np.abs(c), dist, np.sqrt(sq), mean, weights, errors)
