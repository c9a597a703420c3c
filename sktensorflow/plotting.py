"""Figures of the training dynamics of fitted estimators, in scikit-learn's Display style.

Each ``*Display`` holds the data of one figure (constructible from plain
arrays, e.g. loaded from a file) and draws it with its ``plot`` method;
``from_estimator`` reads the recorded histories of a fitted
:class:`~sktensorflow.OverparamCP`, :class:`~sktensorflow.DeflationFlowCP`,
:class:`~sktensorflow.TubalFactorizer` or :class:`~sktensorflow.DeepTucker`.
The ``plot_*`` functions are shortcuts that return the axes. Matplotlib is
imported only when something is drawn, so ``import sktensorflow`` never
imports it. For the components themselves (factor plots), see tensorly-viz on
the result of ``to_tensorly()``.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._plotting_components import (
    _RANK_HISTORIES,
    DeflationResidualDisplay,
    NormStaircaseDisplay,
    _axes,
    _check_x,
    _fitted,
    _history_x,
    _host,
)

__all__ = [
    "DeflationResidualDisplay",
    "EarlyStoppingDisplay",
    "NormStaircaseDisplay",
    "TrainingCurveDisplay",
    "plot_deflation_residuals",
    "plot_early_stopping",
    "plot_norm_staircase",
    "plot_training_curve",
]


class TrainingCurveDisplay:
    """Loss (log scale) and rank estimate of a fit against iterations or flow time.

    Build it with :meth:`from_estimator`; the constructor takes plain arrays.

    Parameters
    ----------
    x : ndarray of shape (n_points,)
        Iterations or flow times of ``loss``.
    loss : ndarray of shape (n_points,)
        The training loss (``loss_curve_``).
    rank_x : ndarray of shape (n_records,), default=None
        Iterations or flow times of ``rank``.
    rank : ndarray of shape (n_records,) or (n_records, n_modes), default=None
        Rank estimate over the fit (one column per mode for a multilinear rank).
    xlabel : str, default="iteration"
    estimator_name : str, default=None
        Label of the loss curve.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The loss curve.
    rank_lines_ : list of matplotlib Line2D
        The rank curves (one per mode), on ``rank_ax_``; empty without rank.
    rank_ax_ : matplotlib Axes or None
        Twin axes of the rank (right-hand scale).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sktensorflow import OverparamCP
    >>> from sktensorflow.datasets import make_symmetric_cp
    >>> from sktensorflow.plotting import TrainingCurveDisplay
    >>> T, _ = make_symmetric_cp(6, 2, order=3, weights=[1.0, 0.5], random_state=0)
    >>> est = OverparamCP(width=6, tensor="precomputed", random_state=0).fit(T)
    >>> disp = TrainingCurveDisplay.from_estimator(est, x="time")
    >>> disp.ax_.get_xlabel(), disp.rank_ax_.get_ylabel()
    ('flow time', 'rank estimate')
    """

    def __init__(
        self, *, x, loss, rank_x=None, rank=None, xlabel="iteration", estimator_name=None
    ):
        self.x, self.loss, self.rank_x, self.rank = x, loss, rank_x, rank
        self.xlabel, self.estimator_name = xlabel, estimator_name

    def plot(self, ax=None, *, show_rank=True, rank_kwargs=None, **kwargs):
        """Draw the loss on ``ax`` (log scale) and the rank on a twin axes.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        show_rank : bool, default=True
            Draw the rank (when the display has one).
        rank_kwargs : dict, default=None
            Keyword arguments of the rank lines.
        **kwargs : dict
            Keyword arguments of the loss line (``matplotlib.axes.Axes.plot``).

        Returns
        -------
        display : TrainingCurveDisplay
        """
        self.ax_, self.figure_ = _axes(ax)
        name = self.estimator_name
        kwargs = {"label": f"{name} loss" if name else "loss", **kwargs}
        (self.line_,) = self.ax_.plot(self.x, self.loss, **kwargs)
        self.ax_.set_yscale("log")
        self.ax_.set(xlabel=self.xlabel, ylabel="training loss")
        self.rank_ax_, self.rank_lines_ = None, []
        if show_rank and self.rank is not None:
            self.rank_ax_ = self.ax_.twinx()
            rank = np.asarray(self.rank)
            rank = rank[:, None] if rank.ndim == 1 else rank
            kw = {"color": "C1", "drawstyle": "steps-post", **(rank_kwargs or {})}
            for k in range(rank.shape[1]):
                label = "rank" if rank.shape[1] == 1 else f"rank, mode {k}"
                style = {"label": label, "linestyle": ("-", "--", ":", "-.")[k % 4], **kw}
                self.rank_lines_ += self.rank_ax_.plot(self.rank_x, rank[:, k], **style)
            self.rank_ax_.set_ylabel("rank estimate")
        self.ax_.legend(handles=[self.line_, *self.rank_lines_])
        return self

    @classmethod
    def from_estimator(cls, estimator, *, x="iteration", show_rank=True, ax=None, **kwargs):
        """Training curve of a fitted estimator.

        Parameters
        ----------
        estimator : fitted OverparamCP, DeflationFlowCP, TubalFactorizer or DeepTucker
        x : {"iteration", "time"}, default="iteration"
            Horizontal axis: iterations, or flow time (``time_curve_``).
        show_rank : bool, default=True
            Also draw the recorded rank estimate (``rank_history_``,
            ``tubal_rank_history_`` or ``multilinear_rank_history_``), where
            the estimator records one (``DeflationFlowCP`` does not).
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Keyword arguments of the loss line.

        Returns
        -------
        display : TrainingCurveDisplay
        """
        xlabel = _check_x(x)
        _fitted(estimator, "loss_curve_", "time_curve_")
        loss = _host(estimator.loss_curve_)
        xs = (
            np.arange(loss.size, dtype=float) if x == "iteration" else _host(estimator.time_curve_)
        )
        names = [name for name in _RANK_HISTORIES if hasattr(estimator, name)]
        rank = np.asarray(getattr(estimator, names[0])) if names else None
        display = cls(
            x=xs,
            loss=loss,
            rank_x=_history_x(estimator, x) if names else None,
            rank=rank,
            xlabel=xlabel,
            estimator_name=type(estimator).__name__,
        )
        return display.plot(ax=ax, show_rank=show_rank, **kwargs)


class EarlyStoppingDisplay:
    """Held-out R² of early stopping against iterations, with the returned iterate marked.

    Parameters
    ----------
    iterations : ndarray of shape (n_checks,)
        Iterations of the evaluations (``validation_iter_``).
    scores : ndarray of shape (n_checks,)
        Held-out R² at those iterations (``validation_scores_``).
    best_iter : int, default=None
        Iteration of the returned model (``best_iter_``), marked by a vertical line.
    estimator_name : str, default=None

    Attributes
    ----------
    line_ : matplotlib Line2D
        The validation curve.
    best_line_ : matplotlib Line2D or None
        The vertical line at ``best_iter``.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sktensorflow import TubalFactorizer
    >>> from sktensorflow.datasets import make_tubal_low_rank
    >>> from sktensorflow.plotting import EarlyStoppingDisplay
    >>> X, _ = make_tubal_low_rank((8, 6, 3), 2, noise=0.3, random_state=1)
    >>> est = TubalFactorizer(width=4, random_state=0).fit(X)
    >>> disp = EarlyStoppingDisplay.from_estimator(est)
    >>> disp.ax_.get_ylabel()
    'held-out R²'
    """

    def __init__(self, *, iterations, scores, best_iter=None, estimator_name=None):
        self.iterations, self.scores, self.best_iter = iterations, scores, best_iter
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, best_kwargs=None, **kwargs):
        """Draw the validation curve and mark the best iteration.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        best_kwargs : dict, default=None
            Keyword arguments of the vertical line at ``best_iter``.
        **kwargs : dict
            Keyword arguments of the validation curve.

        Returns
        -------
        display : EarlyStoppingDisplay
        """
        self.ax_, self.figure_ = _axes(ax)
        kwargs = {"marker": ".", "label": self.estimator_name or "held-out R²", **kwargs}
        (self.line_,) = self.ax_.plot(self.iterations, self.scores, **kwargs)
        self.best_line_ = None
        if self.best_iter is not None:
            kw = {"color": "k", "linestyle": ":", "label": f"best iteration ({self.best_iter})"}
            self.best_line_ = self.ax_.axvline(self.best_iter, **{**kw, **(best_kwargs or {})})
        self.ax_.set(xlabel="iteration", ylabel="held-out R²")
        self.ax_.legend()
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """Validation curve of a TubalFactorizer or DeepTucker fitted with early stopping.

        Parameters
        ----------
        estimator : fitted TubalFactorizer or DeepTucker
            Fitted with ``early_stopping=True``.
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Keyword arguments of the validation curve.

        Returns
        -------
        display : EarlyStoppingDisplay
        """
        check_is_fitted(estimator)
        name = type(estimator).__name__
        if not hasattr(estimator, "validation_scores_"):
            raise ValueError(
                f"{name} has no early stopping, so no validation curve: it needs a "
                "TubalFactorizer or DeepTucker."
            )
        if estimator.validation_scores_ is None:
            raise ValueError(
                f"{name} was fitted with early_stopping={estimator.early_stopping!r}: set "
                "early_stopping=True and refit to record the validation curve."
            )
        display = cls(
            iterations=np.asarray(estimator.validation_iter_),
            scores=_host(estimator.validation_scores_),
            best_iter=estimator.best_iter_,
            estimator_name=name,
        )
        return display.plot(ax=ax, **kwargs)


def plot_training_curve(estimator, *, x="iteration", ax=None, **kwargs):
    """Loss and rank estimate of a fitted estimator (:class:`TrainingCurveDisplay`).

    Parameters
    ----------
    estimator : fitted OverparamCP, DeflationFlowCP, TubalFactorizer or DeepTucker
    x : {"iteration", "time"}, default="iteration"
    ax : matplotlib Axes, default=None
        Axes to draw on; ``None`` makes a new figure.
    **kwargs : dict
        Passed to :meth:`TrainingCurveDisplay.from_estimator`.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sktensorflow import DeepTucker
    >>> from sktensorflow.datasets import make_low_multilinear_rank
    >>> from sktensorflow.plotting import plot_training_curve
    >>> X, _ = make_low_multilinear_rank((6, 5, 4), (2, 2, 2), noise=0.3, random_state=1)
    >>> ax = plot_training_curve(DeepTucker(width=4, random_state=0).fit(X))
    >>> ax.get_yscale()
    'log'
    """
    return TrainingCurveDisplay.from_estimator(estimator, x=x, ax=ax, **kwargs).ax_


def plot_norm_staircase(estimator, *, x="iteration", ax=None, **kwargs):
    """Per-component norms of a fitted estimator (:class:`NormStaircaseDisplay`).

    Parameters
    ----------
    estimator : fitted OverparamCP, DeflationFlowCP, TubalFactorizer or DeepTucker
    x : {"iteration", "time"}, default="iteration"
    ax : matplotlib Axes, default=None
    **kwargs : dict
        Passed to :meth:`NormStaircaseDisplay.from_estimator` (e.g. ``groups``).

    Returns
    -------
    ax : matplotlib Axes
    """
    return NormStaircaseDisplay.from_estimator(estimator, x=x, ax=ax, **kwargs).ax_


def plot_early_stopping(estimator, *, ax=None, **kwargs):
    """Validation curve of early stopping (:class:`EarlyStoppingDisplay`).

    Parameters
    ----------
    estimator : fitted TubalFactorizer or DeepTucker
        Fitted with ``early_stopping=True``.
    ax : matplotlib Axes, default=None
    **kwargs : dict
        Keyword arguments of the validation curve.

    Returns
    -------
    ax : matplotlib Axes
    """
    return EarlyStoppingDisplay.from_estimator(estimator, ax=ax, **kwargs).ax_


def plot_deflation_residuals(
    estimator, components=None, weights=None, *, x="time", ax=None, **kwargs
):
    """Residuals along directions of a deflation flow (:class:`DeflationResidualDisplay`).

    Parameters
    ----------
    estimator : fitted DeflationFlowCP
        Fitted with ``record_columns=True``.
    components : ndarray of shape (n_components, n_features), default=None
        Directions; ``None``: the recovered ``components_``.
    weights : ndarray of shape (n_components,), default=None
        Their weights; ``None``: the recovered ``weights_``.
    x : {"time", "iteration"}, default="time"
    ax : matplotlib Axes, default=None
    **kwargs : dict
        Keyword arguments of every line.

    Returns
    -------
    ax : matplotlib Axes
    """
    display = DeflationResidualDisplay.from_estimator(
        estimator, components, weights, x=x, ax=ax, **kwargs
    )
    return display.ax_
