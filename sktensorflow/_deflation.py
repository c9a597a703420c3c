"""DeflationFlowCP: the modified gradient flow that fits a tensor one component at a time."""

import warnings
from dataclasses import replace

import numpy as np
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning

from ._base import Integral, Interval, Real, StrOptions, _outside_package_stacklevel
from ._deflation_epochs import DeflationEpochsMixin
from ._deflation_trajectory import (
    column_recorder,
    directional_residuals,
    saddle_check,
    unexplained_message,
)
from ._optim import Schedule
from ._symmetric import BaseSymmetricCP
from ._symmetric_saddle import symmetric_escape
from .models import symmetric_cp as scp
from .models._problem import max_ratio

__all__ = ["DeflationFlowCP", "directional_residuals"]


class DeflationFlowCP(DeflationEpochsMixin, BaseSymmetricCP):
    """Symmetric CP decomposition by the modified gradient flow of tensor deflation.

    Fits ``T = sum_i s_i ||w_i||² (w_i/||w_i||)^{⊗order}`` with ``width`` columns
    ``w_i`` to a symmetric target ``T*`` built from ``X``, following Ge, Ren, Wang
    and Zhou, "Understanding Deflation Process in Over-parametrized Tensor
    Decomposition" (NeurIPS 2021). From a tiny initialization the gradient flow
    of ``½||T - T*||²`` fits the components one at a time, larger weights first
    (a column aligned with an unfitted ``u_k`` grows like ``exp(2 a_k t)``, so it
    escapes after a flow time ``≈ ln(1/δ0) / (2 a_k)``). The *modified* flow (the
    paper's Algorithm 1) adds a small ℓ2 regularizer ``(λ/2)||W||²`` and runs in
    epochs of growing flow time ``t0 (1 + γ)^s``; after each epoch the small
    columns (norm below ``δ1``) are re-drawn as fresh random columns of norm
    ``δ0`` (all of them with ``reinit_rule="paper"``, those not growing with
    the default ``"stalled"``), so later, smaller components are found by
    columns that the larger ones did not capture. ``method="plain"`` runs the
    plain gradient flow of the paper's Figure 1 (no re-initialization, λ = 0) on
    the same epochs.

    Epochs are measured in *flow time*: the adaptive ``"flow"`` solver lands on
    every epoch end, so the step size never changes the algorithm. The target is
    never materialized (see :class:`OverparamCP`).

    Parameters
    ----------
    width : int, default=32
        Number of columns ``m`` of the over-parametrized model.
    order : int, default=4
        Order of the symmetric tensor (``>= 3``).
    init_scale : float, default=1e-6
        ``δ0``: norm of every initial (and re-drawn) column, relative to
        ``sqrt(||T*||_F)``.
    reinit_threshold : float, default=1e-2
        ``δ1``: after each epoch, columns with norm below ``reinit_threshold *
        sqrt(||T*||_F)`` are re-drawn (modified flow only; see ``reinit_rule``).
    reinit_rule : {"stalled", "paper"}, default="stalled"
        Which small columns are re-drawn at an epoch end. ``"paper"``: every
        column below ``δ1``, as in the paper's Algorithm 1 (the analysed
        algorithm). ``"stalled"``: only those whose norm is not growing, so a
        column already on its way to an unfitted component keeps its head
        start. Both recover the components of orthogonal targets; the default
        ``"stalled"`` needs less flow time: on 6 components with weights from 1
        to 1/20 in ``R^20`` (10 seeds), ``"paper"`` fits the last component
        after 2.3 times the flow time (median; range 1.2-3.7) and re-draws
        more than 5 times as many columns (``n_reinit_``).
    epoch_growth : float, default=0.5
        ``γ``: epoch ``s`` (from 0) lasts ``first_epoch * (1 + γ)^s`` flow time.
    first_epoch : float or "auto", default="auto"
        Flow time of the first epoch, in units of ``1/||T*||_F``. ``"auto"``:
        ``ln(1/init_scale) / (2 a_max)``, the escape time of the largest
        component, with ``a_max`` the largest ``|T*(v^{⊗order})|`` over unit
        ``v`` found by the tensor power method from the initial columns.
    l2_reg : float, default=1e-7
        ``λ`` relative to ``||T*||_F`` (modified flow only). Each fitted weight
        is biased by about ``-λ/2``.
    target_accuracy : float, default=1e-6
        ``ε``: stop once ``||T - T*||_F <= ε ||T*||_F`` (tested continuously for
        the plain flow, at epoch ends for the modified one).
    max_epochs : int, default=10
        The fit stops after this many epochs (the total flow-time budget).
    method : {"modified", "plain"}, default="modified"
        ``"plain"``: the plain gradient flow of ``½||T - T*||²`` on the same
        epochs (no re-initialization, ``λ = 0``).
    tensor : {"moment", "cumulant", "precomputed"}, default="moment"
        How ``T*`` is built from ``X``, as in :class:`OverparamCP`.
    whiten : bool, default=False
        With ``tensor="cumulant"``, whiten the centered samples first.
    signs : {"positive", "auto", "both"}, default="positive"
        Signs ``s_i`` of the columns' terms. The paper's model is
        ``"positive"``; ``"both"`` alternates ``+1, -1`` (negative weights);
        ``"auto"`` chooses as :class:`OverparamCP` does.
    record_columns : bool, default=False
        Store every iterate's columns in ``columns_history_`` (for
        :func:`directional_residuals`); memory ``n_iter_ * n_features * width``.
    learning_rate : float or "auto", default="auto"
        Step (``solver="gd"``) or first trial step (``"flow"``); ``"auto"``
        scales with ``1 / (order² ||T*||_F)``.
    solver : {"flow", "gd", "adam"}, default="flow"
        ``"flow"`` integrates the gradient flow with error control; ``"gd"`` is
        its fixed-step Euler scheme.
    solver_options : dict, default=None
        Options of the step rule, validated against the options it declares:
        ``rtol``, ``atol``, ``max_step`` for ``"flow"``; ``beta1``, ``beta2``,
        ``eps`` for ``"adam"``; none for ``"gd"``. Defaults for ``"flow"``:
        ``rtol=1e-3`` (the fit times agree with ``rtol=1e-4`` to 0.2 %) and
        ``atol=0.0``.
    max_iter : int, default=20000
    tol : float, default=1e-8
        Stop when no column changes faster than ``tol * ||T*||_F`` relative to
        its norm: at any iteration for the plain flow, at epoch ends for the
        modified one (a stationary point inside an epoch is left by the
        re-initialization at its end).
    rank_tol : float, default=1e-2
        Components with weight below ``rank_tol`` times the largest are not
        counted in ``rank_``; for ``tensor="moment"``/``"cumulant"``,
        components within ``noise_level_`` are not counted either.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    callback : callable, default=None
        Called after every iteration with an ``OptimState`` (``params`` is
        ``(W,)``, the columns); return ``True`` to stop.
    backend : str, default=None
        Tensorly backend; ``None`` uses the input's array library.
    warm_start : bool, default=False
        ``True``: ``fit`` continues the previous fit from its last iterate for
        ``max_iter`` more iterations and ``max_epochs`` more epochs (the
        schedule runs on), with its random generator and normalization; on
        the same data the two fits make one fit with the
        summed ``max_iter`` and ``max_epochs``. Data with another number of
        features, or a changed ``width``, ``order``, ``tensor``, ``whiten``,
        ``signs`` or ``method``, is a ``ValueError``.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the fit on the backend (data, parameters, gradients) and
        dtype of the fitted model attributes and of ``transform`` and
        ``inverse_transform``. With ``"float32"``, a start whose column
        entries or their squares fall below float32's normal range (a tiny
        ``init_scale``) is a ``ValueError`` (user guide, "dtype and device").
    device : str, default=None
        Torch device of the computation, e.g. ``"cuda:0"`` (pytorch backend;
        elsewhere only ``"cpu"``). ``None``: the input's device. Fitted
        attributes and outputs follow the input's array library and device.

    Attributes
    ----------
    components_ : ndarray of shape ``(rank_, n_features)``
        Recovered unit components, by decreasing ``|weight|``.
    weights_ : ndarray of shape ``(rank_,)``
        Their weights (summed over the columns that represent them).
    rank_ : int
        Estimated CP rank: grouped components with ``|weight| >= rank_tol *
        max |weight|`` whose weight and contraction ``|<T*, u^{⊗order}>|`` both
        exceed ``noise_level_``, after merging them into the fewest components
        whose model differs from theirs by at most ``noise_level_`` along every
        direction (user guide, "Sampling noise").
    weight_errors_ : ndarray of shape ``(rank_,)``
        Standard error of each weight from the target's sampling noise along its
        direction (root mean square over 19 random half-splits of the samples);
        zeros for ``tensor="precomputed"``.
    noise_level_ : float
        Largest ``|<E, u^{⊗order}>|`` over unit ``u`` of the split-half noise
        tensors ``E = (T_A - T_B)/2`` (the largest over 19 random half-splits);
        a pure-noise component exceeds it about 5 % of the time. 0.0 for
        ``tensor="precomputed"``.
    effective_rank_ : float
    columns_ : ndarray of shape (n_features, width)
    column_weights_ : ndarray of shape (width,)
        ``s_i ||w_i||²``.
    column_signs_ : ndarray of shape (width,)
        ``s_i``.
    fit_times_ : ndarray of shape ``(rank_,)``
        Flow time at which each component of ``components_`` was fitted: when
        the summed weight of its columns first reached half its final value.
    discovery_order_ : ndarray of shape ``(rank_,)``
        Indices into ``components_`` by increasing ``fit_times_``; equal to
        ``arange(rank_)`` when the flow deflates from the largest weight down.
    n_iter_ : int
        Accepted iterations of the flow solver.
    n_grad_evals_ : int
        Evaluations of the loss and gradient (rejected trial steps included).
    learning_rate_ : float
        The step (or first trial step) used, ``"auto"`` resolved.
    loss_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        The minimized objective ``½||T - T*||² + (λ/2)||W||²``.
    time_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        Flow time of each ``loss_curve_`` entry.
    error_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        Relative error ``||T - T*||_F / ||T*||_F`` along the trajectory.
    history_iter_, history_time_ : ndarray of shape ``(n_iter_ + 1,)``
        Iteration and flow time of each record of the histories below (every
        iteration).
    column_norms_history_ : ndarray of shape ``(n_iter_ + 1, width)``
    columns_history_ : ndarray of shape ``(n_iter_ + 1, n_features, width)``
        Only with ``record_columns=True``.
    epoch_times_ : ndarray of shape ``(n_epochs_,)``
        Flow times at which the completed epochs ended.
    n_reinit_ : ndarray of shape ``(n_epochs_,)``
        Columns re-drawn at the end of each epoch.
    n_epochs_ : int
    init_norm_ : float
        ``δ0`` in absolute units.
    first_epoch_ : float
        Flow time of the first epoch (absolute units).
    stop_reason_ : str
        ``"target_accuracy"``, ``"max_epochs"``, ``"tol"``, ``"saddle"``,
        ``"max_iter"`` or ``"callback"``.
    n_escapes_ : int
        Saddle escapes: stationary epoch ends at which a column was re-seeded
        along an unexplained residual direction (see Notes); 0 for ``"plain"``.
    mean_, whitening_ : ndarray
        Centering and whitening (see :class:`OverparamCP`).
    n_features_in_ : int

    See Also
    --------
    OverparamCP : the same model fitted by gradient descent with optional
        periodic re-initialization.
    directional_residuals : the residual along given directions over time.

    Notes
    -----
    **Saddle check.** Where the fit would stop short of ``target_accuracy`` (a
    stationary epoch end, or the last epoch), the best rank-one direction ``u``
    of the residual is found by the tensor power method (as in
    :class:`OverparamCP`, never materializing the target). If the model would
    count ``R(u^{⊗order}) u^{⊗order}`` as a new component, the modified flow
    re-seeds its smallest free column along ``u`` at ``δ0`` and goes on (at most
    10 times, ``n_escapes_``); the plain flow (which never re-initializes), a
    spent budget and the last epoch end with a ``ConvergenceWarning`` instead.

    **Scale.** The fit runs on normalized data: the samples (or the precomputed
    target) are divided by an exact power of two chosen from their largest
    entry, so the normalized problem is the same, bit for bit, under a change of
    scale by a power of two, and the same up to rounding under any other (from
    1e-150 to 1e150). The fitted attributes are scaled back to data units: with
    the data multiplied by ``c``, a target built from samples scales as
    ``c**order`` (not at all with ``whiten=True``; a precomputed one as ``c``),
    and so do ``weights_``,
    ``weight_errors_``, ``noise_level_`` and ``column_weights_``; ``columns_``
    and column norms scale as its square root, ``loss_curve_`` as its square,
    and flow times (``time_curve_``, ``history_time_``, ``learning_rate_``,
    ``epoch_times_``, ``fit_times_``, ``first_epoch_``) as its inverse;
    ``init_norm_`` is a column norm. A ``learning_rate`` the user gives is in
    data units. ``callback`` sees the columns of the normalized problem. Weights
    beyond the float64 range in data units (e.g. ``c = 1e150`` at order 3) are
    inf or 0, with a warning. A zero target gives ``rank_ = 0`` with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow import DeflationFlowCP
    >>> from sktensorflow.datasets import make_symmetric_cp
    >>> T, truth = make_symmetric_cp(8, 3, order=4, weights=[1.0, 0.6, 0.3], random_state=0)
    >>> est = DeflationFlowCP(width=16, tensor="precomputed", random_state=0).fit(T)
    >>> est.rank_, est.discovery_order_.tolist()
    (3, [0, 1, 2])
    >>> bool(np.all(np.diff(est.fit_times_) > 0))
    True
    """

    _parameter_constraints: dict = {
        **BaseSymmetricCP._parameter_constraints,
        "order": [Interval(Integral, 3, None, closed="left")],
        "init_scale": [Interval(Real, 0, 1, closed="neither")],
        "reinit_threshold": [Interval(Real, 0, None, closed="left")],
        "epoch_growth": [Interval(Real, 0, None, closed="left")],
        "first_epoch": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "l2_reg": [Interval(Real, 0, None, closed="left")],
        "target_accuracy": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"modified", "plain"})],
        "reinit_rule": [StrOptions({"stalled", "paper"})],
        "record_columns": ["boolean"],
    }

    _model_attributes = (*BaseSymmetricCP._model_attributes, "column_signs_")

    def __init__(
        self,
        width=32,
        *,
        order=4,
        init_scale=1e-6,
        reinit_threshold=1e-2,
        reinit_rule="stalled",
        epoch_growth=0.5,
        first_epoch="auto",
        l2_reg=1e-7,
        target_accuracy=1e-6,
        max_epochs=10,
        method="modified",
        tensor="moment",
        whiten=False,
        signs="positive",
        record_columns=False,
        learning_rate="auto",
        solver="flow",
        solver_options=None,
        max_iter=20000,
        tol=1e-8,
        rank_tol=1e-2,
        random_state=None,
        verbose=0,
        callback=None,
        backend=None,
        warm_start=False,
        dtype="float64",
        device=None,
    ):
        self.width = width
        self.order = order
        self.init_scale = init_scale
        self.reinit_threshold = reinit_threshold
        self.reinit_rule = reinit_rule
        self.epoch_growth = epoch_growth
        self.first_epoch = first_epoch
        self.l2_reg = l2_reg
        self.target_accuracy = target_accuracy
        self.max_epochs = max_epochs
        self.method = method
        self.tensor = tensor
        self.whiten = whiten
        self.signs = signs
        self.record_columns = record_columns
        self.learning_rate = learning_rate
        self.solver = solver
        self.solver_options = solver_options
        self.max_iter = max_iter
        self.tol = tol
        self.rank_tol = rank_tol
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback
        self.backend = backend
        self.warm_start = warm_start
        self.dtype = dtype
        self.device = device

    def fit(self, X, y=None):
        """Run the (modified) gradient flow on the target built from ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or the target
            Samples (``tensor="moment"``/``"cumulant"``), or for
            ``tensor="precomputed"`` a symmetric array of shape ``(d,)*order`` or
            a symmetric tensorly ``CPTensor`` or ``(weights, factors)`` pair.
        y : Ignored

        Returns
        -------
        self : DeflationFlowCP
        """
        return super().fit(X, y)

    def _fit_normalized(self, X):
        target, target_sq, t_norm = self._fit_target(X)
        rng = self._rng()
        self.init_norm_ = self.init_scale * np.sqrt(t_norm)
        d, start_rng = self.n_features_in_, self._start_rng(rng)
        W0 = scp.random_columns(start_rng, d, self.width, self.init_norm_)
        coefs = self._column_signs(self.width, self.tensor == "moment")
        self.first_epoch_ = self._first_epoch_length(target, W0, t_norm)
        modified = self.method == "modified"
        lam = self.l2_reg * t_norm if modified else 0.0
        problem = scp.problem(
            self._to_backend(W0),
            target,
            self._to_backend(coefs),
            l2_reg=lam,
            target_sq=target_sq,
            rate_scale=0.0 if modified else t_norm,  # modified: tol is tested at epoch ends
        )
        escape = symmetric_escape(self, target, coefs, rng, t_norm, self.init_norm_)
        goal, log = 0.5 * (self.target_accuracy**2) * target_sq, self._epoch_log()
        result = self._minimize(
            replace(problem, escape=None if modified else escape),
            learning_rate=self._learning_rate(t_norm),
            target_loss=goal if goal > 0 else None,
            schedule=self._schedule(problem.fun, escape, rng, t_norm, lam, goal, log),
            record=column_recorder(self.record_columns),
            describe=lambda p: f"rank={self._rank_of(p[0], coefs)}",
            max_escapes=0,  # plain: no re-initialization, a saddle warns
        )
        self._set_components(result.view[0], coefs)
        self._set_trajectory(result, log, coefs, lam, target_sq)
        message = unexplained_message(log, self.max_epochs)
        if message:  # stopped short of target_accuracy with a component left
            warnings.warn(message, ConvergenceWarning, stacklevel=_outside_package_stacklevel())

    def _preferred_solver_options(self):
        return {**super()._preferred_solver_options(), "rtol": 1e-3}

    def _learning_rate(self, t_norm):
        if self.learning_rate != "auto":
            return self._user_time(self.learning_rate)
        return self._auto_learning_rate(t_norm)

    def _schedule(self, fun, escape, rng, t_norm, lam, goal, log):
        threshold = self.reinit_threshold * np.sqrt(t_norm)
        modified = self.method == "modified"
        stalled = self.reinit_rule == "stalled"

        def action(params, time, index):
            loss, (grad,) = fun(params)
            W = params[0]
            log.times.append(time)
            data_loss = loss - 0.5 * lam * float(tl.sum(W * W))
            log.accurate = data_loss <= goal
            rate = max_ratio((grad,), scp.column_scale((W,)))
            stationary = modified and rate <= self.tol * t_norm
            last = index + 1 >= self._total_epochs
            if not log.accurate and (stationary or last):
                new = saddle_check(escape, params, grad, log, stationary and not last)
                if new is not None:
                    log.n_reinit.append(1)
                    return new
            if log.accurate or stationary or last:
                log.n_reinit.append(0)
                log.stationary = stationary and not log.accurate
                return None
            n_new = 0
            if modified:
                W, n_new = scp.reinit_small_columns(
                    W, grad, rng, self.init_norm_, threshold, keep_growing=stalled
                )
            log.n_reinit.append(n_new)
            return (W,)

        return Schedule(self._epoch_ends(), action)
