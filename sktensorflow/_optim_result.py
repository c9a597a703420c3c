"""What the loop returns (:class:`OptimResult`) and what a callback sees (:class:`OptimState`)."""

from dataclasses import dataclass, field

import numpy as np

from ._resume import LoopState

__all__ = ["OptimResult", "OptimState"]


@dataclass
class OptimState:
    """What a callback sees after each iteration (``params`` in the problem's view)."""

    n_iter: int
    time: float
    loss: float
    params: tuple


@dataclass
class OptimResult:
    """Outcome of :func:`minimize`.

    Attributes
    ----------
    params : tuple of arrays
        Final parameters, as the loop iterates them.
    view : tuple of arrays
        Final parameters in the problem's user-facing view.
    loss_curve : ndarray of shape (n_iter + 1,)
        Loss at the start and after every iteration.
    time_curve : ndarray of shape (n_iter + 1,)
        Flow time of every ``loss_curve`` entry.
    n_iter : int
        Accepted iterations.
    n_grad_evals : int
        Evaluations of ``fun``, rejected trial steps included.
    converged : bool
        ``False`` when the loop stopped at ``max_iter`` or at a saddle.
    stop_reason : str
        ``"tol"``, ``"target_loss"``, ``"max_time"``, ``"max_iter"``,
        ``"saddle"``, ``"early_stopping"``, ``"callback"`` or ``"schedule"``.
    n_escapes : int
        Saddle escapes: restarts from parameters re-seeded by the problem's
        ``escape``.
    loop_state : LoopState
        The run as it stopped, for ``minimize(..., resume=loop_state)``.
    history : dict of str to list
        Values returned by ``record``, one entry per recorded iteration (plus
        ``"heldout_loss"`` when the problem has a held-out loss).
    history_iter, history_time : list
        Iteration and flow time of each recorded entry.
    validation_loss, validation_iter : list
        Held-out loss at the validation checks and their iterations (empty
        without early stopping).
    best_iter : int or None
        With early stopping, the iteration of the lowest held-out loss, whose
        parameters ``params`` are; else ``None``.
    """

    params: tuple
    view: tuple
    loss_curve: np.ndarray
    time_curve: np.ndarray
    n_iter: int
    n_grad_evals: int
    converged: bool
    stop_reason: str
    history: dict = field(default_factory=dict)
    history_iter: list = field(default_factory=list)
    history_time: list = field(default_factory=list)
    validation_loss: list = field(default_factory=list)
    validation_iter: list = field(default_factory=list)
    best_iter: int | None = None
    n_escapes: int = 0
    loop_state: LoopState | None = None
