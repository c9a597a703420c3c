"""Helpers of DeflationFlowCP: its trajectory and its epoch ends.

:func:`directional_residuals` and :func:`component_fit_times` are pure numpy
functions of recorded histories. :class:`EpochLog` and :func:`saddle_check`
record what the epoch ends found, including the saddle check: at an epoch end
where the flow is stationary, or at the last one, a residual direction the
model would count as a component is escaped from (a column re-seeded along it)
or reported.
"""

from dataclasses import dataclass, field

import numpy as np

from . import _backend

__all__ = [
    "EpochLog",
    "column_recorder",
    "component_fit_times",
    "directional_residuals",
    "epoch_attributes",
    "saddle_check",
    "stop_reason",
    "unexplained_message",
]

#: Saddle escapes at epoch ends allowed in one fit (the loop's default budget).
MAX_ESCAPES = 10


@dataclass
class EpochLog:
    """What the epoch ends of one fit found (kept off the estimator until the fit ends)."""

    times: list = field(default_factory=list)
    n_reinit: list = field(default_factory=list)
    accurate: bool = False
    stationary: bool = False
    n_escapes: int = 0
    saddle: bool = False  # stationary at an unexplained residual, escape budget spent
    unexplained: bool = False  # the last epoch ended with an unexplained residual


def saddle_check(escape, params, grad, log, may_escape):
    """At a stationary or the last epoch end: parameters to continue from, or ``None``.

    ``escape(params, grads)`` (:func:`sktensorflow.models.symmetric_cp_residual.saddle_escape`)
    returns re-seeded parameters when the residual has a direction the model would
    count as a component. They are returned when ``may_escape`` (a stationary
    point before the last epoch) and the budget of :data:`MAX_ESCAPES` is not
    spent; otherwise ``log`` records a saddle (budget spent) or an unexplained
    final residual.
    """
    new = escape(params, (grad,))
    if new is None:
        return None
    if may_escape and log.n_escapes < MAX_ESCAPES:
        log.n_escapes += 1
        return new
    log.saddle = may_escape
    log.unexplained = not may_escape
    return None


def column_recorder(record_columns):
    """``record(params)`` of the loop: column norms (and the columns themselves)."""

    def record(params):
        W = _backend.to_numpy(params[0])
        out = {"norms": np.linalg.norm(W, axis=0)}
        if record_columns:
            out["columns"] = W.copy()
        return out

    return record


def epoch_attributes(result, log):
    """Fitted attributes from the epoch ends and the loop's ``result`` (host values)."""
    times = np.asarray(log.times)
    return {
        "epoch_times_": times,
        "n_reinit_": np.asarray(log.n_reinit, dtype=int),
        "n_epochs_": len(times),
        "stop_reason_": stop_reason(result.stop_reason, log),
        "n_escapes_": result.n_escapes + log.n_escapes,
    }


def stop_reason(reason, log):
    """The loop's stopping reason in the deflation's terms (``stop_reason_``)."""
    if reason != "schedule":
        return "target_accuracy" if reason == "target_loss" else reason
    if log.accurate:
        return "target_accuracy"
    if log.saddle:
        return "saddle"
    return "tol" if log.stationary else "max_epochs"


def unexplained_message(log, max_epochs):
    """The ConvergenceWarning's text for a fit that ended unexplained, else ``None``."""
    if log.saddle:
        what = f"stopped at a saddle point after {log.n_escapes} re-seedings"
        advice = "Try another random_state or a larger width"
    elif log.unexplained:
        what = f"reached max_epochs={max_epochs}"
        advice = "Increase max_epochs"
    else:
        return None
    return (
        f"DeflationFlowCP {what} with a residual direction it would count as a "
        f"component: the fitted rank is too low. {advice}."
    )


def _unit_rows(A):
    A = np.asarray(A, dtype=float)
    norms = np.linalg.norm(A, axis=-1, keepdims=True)
    return A / np.where(norms > 0, norms, 1.0)


def directional_residuals(columns_history, components, weights, *, signs=None, order=4):
    """Residual ``(T* - T)(u_k^{⊗order})`` along each direction ``u_k`` over time.

    This is the quantity of the right panel of Figure 1 of Ge, Ren, Wang and
    Zhou (2021): with ``T* = sum_j a_j u_j^{⊗order}`` and the model
    ``T = sum_i s_i ||w_i||² (w_i/||w_i||)^{⊗order}``, it equals ``a_k`` before
    ``u_k`` is fitted and falls to 0 once it is (for orthonormal ``u``).

    Parameters
    ----------
    columns_history : ndarray of shape (n_records, n_features, width) or (n_features, width)
        Model columns over time, e.g. ``DeflationFlowCP(record_columns=True)``'s
        ``columns_history_`` (or a single ``columns_``).
    components : ndarray of shape (n_components, n_features)
        Directions ``u_k`` of the true components (normalized inside).
    weights : ndarray of shape (n_components,)
        True weights ``a_k``.
    signs : ndarray of shape (width,), default=None
        Signs ``s_i`` of the model's terms (``column_signs_``); default all +1.
    order : int, default=4

    Returns
    -------
    residuals : ndarray of shape (n_records, n_components) or (n_components,)
        ``T*(u_k^{⊗order}) - T(u_k^{⊗order})``, one row per record.

    Examples
    --------
    >>> import numpy as np
    >>> U = np.eye(3)[:2]                      # true directions e_1, e_2
    >>> W = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1e-9]])  # columns: e_1, tiny e_3
    >>> directional_residuals(W, U, [1.0, 0.5]).round(12).tolist()
    [0.0, 0.5]
    """
    H = np.asarray(columns_history, dtype=float)
    single = H.ndim == 2
    H = H[None] if single else H
    if H.ndim != 3:
        raise ValueError(
            "columns_history must have shape (n_records, n_features, width) or "
            f"(n_features, width), got shape {np.shape(columns_history)}."
        )
    U = _unit_rows(components)
    a = np.asarray(weights, dtype=float)
    if U.ndim != 2 or U.shape[1] != H.shape[1] or a.shape != (U.shape[0],):
        raise ValueError(
            f"components must have shape (n_components, {H.shape[1]}) and weights shape "
            f"(n_components,), got {np.shape(components)} and {np.shape(weights)}."
        )
    s = np.ones(H.shape[2]) if signs is None else np.asarray(signs, dtype=float)
    target = (U @ U.T) ** order @ a
    sq = np.sum(H * H, axis=1)  # (n_records, width)
    norms = np.sqrt(sq)
    cos = np.einsum("kd,tdi->tki", U, H) / np.where(norms > 0, norms, 1.0)[:, None, :]
    model = np.einsum("tki,ti->tk", cos**order, s * sq)
    out = target - model
    return out[0] if single else out


def component_fit_times(norms_history, times, columns, signs, components, order, cos_tol=0.99):
    """Flow time at which each component's summed weight first reaches half its final value.

    Each model column is assigned to the component its final direction is
    closest to (``|cos| >= cos_tol``); the component's weight over time is the
    sum of ``s_i ||w_i(t)||²`` over its columns (columns only grow once aligned,
    so their earlier directions do not matter). The crossing time is
    interpolated between records, log-linearly while the weight grows.

    Parameters
    ----------
    norms_history : ndarray of shape (n_records, width)
    times : ndarray of shape (n_records,)
    columns : ndarray of shape (n_features, width)
        Final columns.
    signs : ndarray of shape (width,)
    components : ndarray of shape (n_components, n_features)
    order : int
    cos_tol : float, default=0.99

    Returns
    -------
    fit_times : ndarray of shape (n_components,)
        ``nan`` for a component whose weight never reached half its final value.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0.0, 10.0, 101)
    >>> norms = np.sqrt(1.0 / (1.0 + np.exp(-4.0 * (t - 5.0))))[:, None]
    >>> W = np.array([[1.0], [0.0]])
    >>> component_fit_times(norms, t, W, np.ones(1), np.array([[1.0, 0.0]]), 4).round(3)
    array([5.])
    """
    norms_history, times = np.asarray(norms_history, float), np.asarray(times, float)
    U = _unit_rows(components)
    if U.shape[0] == 0:
        return np.zeros(0)
    cos = U @ _unit_rows(np.asarray(columns, float).T).T  # (r, width)
    best = np.argmax(np.abs(cos), axis=0)
    member = np.zeros_like(cos)
    cols = np.arange(cos.shape[1])
    hit = np.abs(cos[best, cols]) >= cos_tol
    member[best[hit], cols[hit]] = np.sign(cos[best[hit], cols[hit]]) ** order
    weight = (norms_history**2 * np.asarray(signs, float)) @ member.T  # (n_records, r)
    return np.array([_half_crossing(weight[:, k], times) for k in range(U.shape[0])])


def _half_crossing(w, times):
    final = w[-1]
    if final == 0:
        return np.nan
    w = w * np.sign(final)
    half = 0.5 * abs(final)
    above = np.flatnonzero(w >= half)
    if above.size == 0:
        return np.nan
    j = above[0]
    if j == 0:
        return float(times[0])
    w0, w1 = w[j - 1], w[j]
    if w0 > 0:
        frac = np.log(half / w0) / np.log(w1 / w0)
    else:
        frac = (half - w0) / (w1 - w0)
    return float(times[j - 1] + frac * (times[j] - times[j - 1]))
