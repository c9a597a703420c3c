"""Per-component figures of :mod:`sktensorflow.plotting` and the helpers of every display.

The norm staircase and the deflation residuals (one line per component), and
what all displays share: the lazy import of matplotlib, the axes, the
horizontal axis and the fitted-estimator checks.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import _backend
from ._deflation_trajectory import directional_residuals

__all__ = ["DeflationResidualDisplay", "NormStaircaseDisplay"]

_XLABELS = {"iteration": "iteration", "time": "flow time"}
_RANK_HISTORIES = ("rank_history_", "tubal_rank_history_", "multilinear_rank_history_")


def _pyplot():
    """``matplotlib.pyplot``, imported on first use."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError(
            "sktensorflow.plotting needs matplotlib: pip install 'sktensorflow[plot]'."
        ) from exc
    return plt


def _host(array):
    return np.asarray(_backend.to_numpy(array), dtype=float)


def _axes(ax):
    """``(ax, figure)``: the given axes, or new ones on a new figure."""
    if ax is None:
        ax = _pyplot().subplots()[1]
    return ax, ax.figure


def _check_x(x):
    if x not in _XLABELS:
        raise ValueError(f'x must be "iteration" or "time", got x={x!r}.')
    return _XLABELS[x]


def _fitted(estimator, *names):
    """Check that ``estimator`` is fitted and has the attributes ``names``."""
    check_is_fitted(estimator)
    missing = [name for name in names if getattr(estimator, name, None) is None]
    if missing:
        raise ValueError(
            f"{type(estimator).__name__} has no {', '.join(missing)}: this figure needs a "
            "fitted OverparamCP, DeflationFlowCP, TubalFactorizer or DeepTucker."
        )


def _history_x(estimator, x):
    """Iterations or flow times of the recorded histories."""
    return _host(estimator.history_iter_ if x == "iteration" else estimator.history_time_)


def _staircase_groups(estimator, groups):
    """Per-component norm histories of ``estimator``: ``(arrays, labels, ylabel)``."""
    if hasattr(estimator, "column_norms_history_"):
        if groups is not None:
            raise ValueError(
                f"groups must be None for {type(estimator).__name__} (one group of "
                f"columns), got groups={groups!r}."
            )
        return [_host(estimator.column_norms_history_)], [None], "column norm"
    if hasattr(estimator, "core_slice_norms_history_"):
        arrays = [_host(h) for h in estimator.core_slice_norms_history_]
        what, ylabel = "mode", "core slice norm"
    elif hasattr(estimator, "singular_values_history_"):
        history = _host(estimator.singular_values_history_)
        arrays = [history[:, k, :] for k in range(history.shape[1])]
        what, ylabel = "Fourier slice", "singular value of Fourier slice"
    else:
        raise ValueError(
            f"{type(estimator).__name__} records no per-component norms: the norm staircase "
            "needs a fitted OverparamCP, DeflationFlowCP, TubalFactorizer or DeepTucker."
        )
    keep = range(len(arrays)) if groups is None else np.atleast_1d(groups).tolist()
    bad = [k for k in keep if not (isinstance(k, int | np.integer) and 0 <= k < len(arrays))]
    if bad:
        raise ValueError(
            f"groups must hold {what} indices in [0, {len(arrays)}), got groups={groups!r}."
        )
    return [arrays[k] for k in keep], [f"{what} {k}" for k in keep], ylabel


class NormStaircaseDisplay:
    """Per-component norms over a fit: the staircase of incremental learning.

    From a small initialization the components grow one after another, so on a
    log scale their norms form a staircase. The components are the columns
    (``column_norms_history_``) for the symmetric CP estimators, the core
    slices of every mode (``core_slice_norms_history_``) for DeepTucker and
    the singular values of every Fourier slice (``singular_values_history_``)
    for TubalFactorizer.

    Parameters
    ----------
    x : ndarray of shape (n_records,)
        Iterations or flow times of the records.
    norms : list of ndarray of shape (n_records, n_components)
        One array per group (modes or Fourier slices; a single group for the
        CP columns), one line per column.
    group_labels : list of str or None, default=None
        Legend label of each group (``None``: no legend).
    xlabel : str, default="iteration"
    ylabel : str, default="norm"
    estimator_name : str, default=None

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One per component, group after group, in the order of ``norms``.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sktensorflow import TubalFactorizer
    >>> from sktensorflow.datasets import make_tubal_low_rank
    >>> from sktensorflow.plotting import NormStaircaseDisplay
    >>> X, _ = make_tubal_low_rank((8, 6, 3), 2, noise=0.3, random_state=1)
    >>> est = TubalFactorizer(width=4, random_state=0).fit(X)
    >>> disp = NormStaircaseDisplay.from_estimator(est)
    >>> len(disp.lines_)  # 2 independent Fourier slices, 4 singular values each
    8
    """

    def __init__(
        self,
        *,
        x,
        norms,
        group_labels=None,
        xlabel="iteration",
        ylabel="norm",
        estimator_name=None,
    ):
        self.x, self.norms, self.group_labels = x, norms, group_labels
        self.xlabel, self.ylabel, self.estimator_name = xlabel, ylabel, estimator_name

    def plot(self, ax=None, *, log=True, **kwargs):
        """Draw one line per component.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        log : bool, default=True
            Logarithmic vertical axis.
        **kwargs : dict
            Keyword arguments of every line (``matplotlib.axes.Axes.plot``).

        Returns
        -------
        display : NormStaircaseDisplay
        """
        self.ax_, self.figure_ = _axes(ax)
        labels = self.group_labels or [None] * len(self.norms)
        self.lines_ = []
        for g, (norms, label) in enumerate(zip(self.norms, labels, strict=True)):
            kw = dict(kwargs)
            if len(self.norms) > 1:
                kw.setdefault("color", f"C{g % 10}")
            for j, column in enumerate(np.asarray(norms).T):
                line_label = label if j == 0 and label is not None else "_nolegend_"
                self.lines_ += self.ax_.plot(self.x, column, **{"label": line_label, **kw})
        if log:
            self.ax_.set_yscale("log")
        self.ax_.set(xlabel=self.xlabel, ylabel=self.ylabel)
        if self.group_labels and any(self.group_labels):
            self.ax_.legend()
        return self

    @classmethod
    def from_estimator(cls, estimator, *, x="iteration", groups=None, ax=None, **kwargs):
        """Norm staircase of a fitted estimator.

        Parameters
        ----------
        estimator : fitted OverparamCP, DeflationFlowCP, TubalFactorizer or DeepTucker
        x : {"iteration", "time"}, default="iteration"
        groups : int or list of int, default=None
            Modes (DeepTucker) or Fourier slices (TubalFactorizer) to draw;
            ``None`` draws all. Must be ``None`` for the CP estimators.
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Keyword arguments of every line.

        Returns
        -------
        display : NormStaircaseDisplay
        """
        xlabel = _check_x(x)
        _fitted(estimator, "history_iter_", "history_time_")
        norms, labels, ylabel = _staircase_groups(estimator, groups)
        display = cls(
            x=_history_x(estimator, x),
            norms=norms,
            group_labels=None if labels == [None] else labels,
            xlabel=xlabel,
            ylabel=ylabel,
            estimator_name=type(estimator).__name__,
        )
        return display.plot(ax=ax, **kwargs)


class DeflationResidualDisplay:
    """Residual along given directions over a deflation flow (Ge et al. 2021, Figure 1).

    The residual ``(T* - T)(u_k^{⊗order})`` along direction ``u_k`` equals its
    weight until the flow fits ``u_k`` and then falls to zero, one direction
    after another (:func:`sktensorflow.directional_residuals`).

    Parameters
    ----------
    x : ndarray of shape (n_records,)
        Flow times or iterations of the records.
    residuals : ndarray of shape (n_records, n_components)
    xlabel : str, default="flow time"
    estimator_name : str, default=None

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One per direction.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sktensorflow import DeflationFlowCP
    >>> from sktensorflow.datasets import make_symmetric_cp
    >>> from sktensorflow.plotting import DeflationResidualDisplay
    >>> T, truth = make_symmetric_cp(6, 2, order=4, weights=[1.0, 0.5], random_state=0)
    >>> est = DeflationFlowCP(width=6, tensor="precomputed", record_columns=True,
    ...                       random_state=0).fit(T)
    >>> disp = DeflationResidualDisplay.from_estimator(est)
    >>> len(disp.lines_)
    2
    """

    def __init__(self, *, x, residuals, xlabel="flow time", estimator_name=None):
        self.x, self.residuals = x, residuals
        self.xlabel, self.estimator_name = xlabel, estimator_name

    def plot(self, ax=None, **kwargs):
        """Draw one line per direction.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Keyword arguments of every line.

        Returns
        -------
        display : DeflationResidualDisplay
        """
        self.ax_, self.figure_ = _axes(ax)
        self.lines_ = []
        for k, column in enumerate(np.asarray(self.residuals).T):
            self.lines_ += self.ax_.plot(self.x, column, **{"label": f"$u_{{{k + 1}}}$", **kwargs})
        self.ax_.set(xlabel=self.xlabel, ylabel="residual along direction")
        self.ax_.legend()
        return self

    @classmethod
    def from_estimator(cls, estimator, components=None, weights=None, *, x="time", ax=None, **kw):
        """Residuals of a DeflationFlowCP fitted with ``record_columns=True``.

        Parameters
        ----------
        estimator : fitted DeflationFlowCP
        components : ndarray of shape (n_components, n_features), default=None
            Directions ``u_k`` (e.g. the planted ones); ``None``: the recovered
            ``components_``.
        weights : ndarray of shape (n_components,), default=None
            Their weights in the target; ``None``: the recovered ``weights_``.
        x : {"time", "iteration"}, default="time"
        ax : matplotlib Axes, default=None
        **kw : dict
            Keyword arguments of every line.

        Returns
        -------
        display : DeflationResidualDisplay
        """
        xlabel = _check_x(x)
        check_is_fitted(estimator)
        name = type(estimator).__name__
        if "record_columns" not in estimator.get_params():
            raise ValueError(f"{name} records no columns: this figure needs a DeflationFlowCP.")
        if getattr(estimator, "columns_history_", None) is None:
            raise ValueError(
                f"{name} was fitted with record_columns={estimator.record_columns!r}: set "
                "record_columns=True and refit to record the columns."
            )
        if (components is None) != (weights is None):
            raise ValueError("Pass both components and weights, or neither.")
        if components is None:
            components, weights = _host(estimator.components_), _host(estimator.weights_)
        residuals = directional_residuals(
            estimator.columns_history_,
            components,
            weights,
            signs=estimator.column_signs_,
            order=estimator.order,
        )
        display = cls(
            x=_history_x(estimator, x), residuals=residuals, xlabel=xlabel, estimator_name=name
        )
        return display.plot(ax=ax, **kw)
