"""OverparamCP: symmetric CP decomposition by over-parametrized gradient descent."""

from dataclasses import replace

import numpy as np

from . import _backend
from . import _overparam_epochs as ep
from ._base import Integral, Interval, Real, StrOptions
from ._optim import Schedule
from ._symmetric import BaseSymmetricCP
from ._symmetric_saddle import symmetric_escape
from .models import symmetric_cp as scp

__all__ = ["OverparamCP"]


class OverparamCP(BaseSymmetricCP):
    """Symmetric CP decomposition by over-parametrized gradient descent.

    Fits ``T ≈ sum_i s_i ||w_i||² (w_i/||w_i||)^{⊗order}`` with ``width`` columns
    ``w_i`` to a symmetric target tensor ``T*`` built from ``X`` (Wang, Wu, Lee,
    Ma and Ge, "Beyond Lazy Training for Over-parameterized Tensor
    Decomposition", NeurIPS 2020). In the *rich* regime the columns start small
    and gradient descent's implicit bias fits one component at a time, so the
    number of components with non-negligible weight is a rank estimate; in the
    *lazy* (NTK) regime the columns start large, the output is scaled by
    ``1/sqrt(width)`` and the dynamics stay close to their linearization.

    The target is never materialized: every contraction the gradient needs is
    computed from the samples (``O(n_samples * n_features * width)`` per step),
    the CP factors or the dense array the user passed.

    Parameters
    ----------
    width : int, default=32
        Number of columns of the over-parametrized model; even (at least 2)
        with ``regime="lazy"``, which uses the columns in pairs.
    order : int, default=3
        Order of the symmetric tensor.
    init_scale : float, default=None
        Initial norm of every column, relative to ``sqrt(||T*||_F)`` (so it does
        not depend on the scale of the data). ``None``: 1e-3 for
        ``regime="rich"``, 1.0 for ``regime="lazy"``.
    regime : {"rich", "lazy"}, default="rich"
        ``"rich"``: columns start at ``init_scale`` in uniform random directions.
        ``"lazy"``: columns come in identical pairs of opposite sign (the output
        starts at zero) and the output is scaled by ``1/sqrt(width)``; so
        ``width`` must be even, and an odd one is an error at ``fit`` (an
        unpaired column would have to start with zero weight, where its
        gradient is zero forever: ``width=1`` would be the zero model).
        Columns then move by a relative ``O(1 / (init_scale² sqrt(width)))``,
        so at small widths the default ``init_scale=1`` leaves the kernel
        regime; use a larger ``init_scale`` (e.g. 10) to stay lazy (see
        ``examples/plot_overparam_lazy_vs_rich.py``).
    tensor : {"moment", "cumulant", "precomputed"}, default="moment"
        ``"moment"``: ``T* = (1/n) sum_s x_s^{⊗order}``. ``"cumulant"``: the
        cumulant of centered (optionally whitened) samples, order 2, 3 or 4.
        ``"precomputed"``: ``X`` is the target, a symmetric array of shape
        ``(d,) * order`` or a symmetric target in CP form: a tensorly
        ``CPTensor`` or the plain ``(weights, factors)`` tuple (or list) that
        tensorly's functions accept, with ``order`` equal real, finite factors
        of shape ``(d, rank)`` and ``weights`` of shape ``(rank,)`` or ``None``
        (all ones). A factor of another shape, unequal factors, NaN or
        infinity, and complex values (even with a zero imaginary part) are
        errors that name the factor or the weights.
    whiten : bool, default=False
        With ``tensor="cumulant"``, whiten the centered samples first (the
        order-4 cumulant of whitened independent sources is orthogonally
        decomposable).
    signs : {"auto", "positive", "both"}, default="auto"
        Signs of the columns' terms. ``"both"`` alternates ``+1, -1`` so that
        negative weights can be fitted; ``"auto"`` is ``"positive"`` for odd
        orders (where ``-w`` flips the sign) and for even-order moments, else
        ``"both"``.
    reinit_every : float, default=None
        Flow time between re-initializations of small columns (rich regime
        only); ``None`` never re-initializes.
    reinit_threshold : float, default=1e-2
        Columns with norm below ``reinit_threshold * sqrt(||T*||_F)`` that are not
        growing are re-drawn at the initial norm at each re-initialization
        (``method="epochs"``: every column below it, growing or not).
    method : {"gd", "epochs"}, default="gd"
        ``"gd"``: gradient descent (or flow) on ``½||T - T*||²`` from the
        initialization of ``regime``, with the saddle check of the Notes and
        the optional periodic re-initialization of ``reinit_every``.
        ``"epochs"``: the variant of gradient descent analysed by Wang et al.
        (2020) (rich regime only): epochs of flow time ``epoch_length`` on the
        regularized loss ``½||T - T*||² + (λ/2)||W||²``; at every epoch boundary
        each column below ``reinit_threshold`` is re-drawn at the initial norm
        in a fresh random direction; the fit stops at the boundary where
        ``||T - T*||_F <= target_accuracy ||T*||_F`` or after ``max_epochs``.
        The paper has no experiments and its schedule constants are not
        reproduced: the constant epoch length is this library's reading
        (see ``sktensorflow/_overparam_epochs.py``). Where it matters: on 4
        orthogonal components in ``R^15`` (order 3, weights 1 to 0.3) at
        ``width=12``, plain gradient flow without the saddle check stops with
        two columns on one component and another component unfitted on 2 of
        10 seeds; ``"epochs"`` (and ``"gd"`` with its saddle check) recover
        all four on all 10 (``tests/test_overparam_cp.py``).
    epoch_length : float or "auto", default="auto"
        ``method="epochs"``: flow time of an epoch, in units of ``1/||T*||_F``.
        ``"auto"``: long enough for a column to grow from the initial norm to
        ``reinit_threshold`` along a component of weight ``||T*||_F / 20``
        (twice that escape time), and at least the escape time of the
        largest component.
    max_epochs : int, default=20
        ``method="epochs"``: the fit stops after this many epochs.
    l2_reg : float, default=1e-7
        ``λ`` relative to ``||T*||_F`` (``method="epochs"`` only); each fitted
        weight is biased by about ``-λ/2``.
    target_accuracy : float, default=1e-4
        ``ε`` of ``method="epochs"``: stop once ``||T - T*||_F <= ε ||T*||_F``
        at an epoch boundary (every re-drawn column adds ``init_scale² ||T*||_F``
        of weight in a random direction, so ``ε`` should stay well above
        ``init_scale²``).
    learning_rate : float or "auto", default="auto"
        Step (``solver="gd"``/``"adam"``) or first trial step (``"flow"``).
        ``"auto"`` scales with ``1 / (order² ||T*||_F)``.
    solver : {"flow", "gd", "adam"}, default="flow"
        Step rule of the shared loop; ``"flow"`` follows the gradient flow with
        error control.
    solver_options : dict, default=None
        Options of the step rule, validated against the options it declares:
        ``rtol``, ``atol``, ``max_step`` for ``"flow"``; ``beta1``, ``beta2``,
        ``eps`` for ``"adam"``; none for ``"gd"``. Default for ``"flow"``:
        ``atol=0.0`` (error control relative to each column's norm).
    max_iter : int, default=2000
    tol : float, default=1e-5
        Stop when no column changes faster than ``tol * ||T*||_F`` relative to its
        norm (its rate under the gradient flow).
    rank_tol : float, default=1e-2
        Components whose weight is below ``rank_tol`` times the largest are not
        counted in ``rank_``; for ``tensor="moment"``/``"cumulant"``,
        components within ``noise_level_`` are not counted either.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Show a progress bar with the loss and the current rank.
    callback : callable, default=None
        Called after every iteration with an ``OptimState`` whose ``params`` is
        ``(W,)``, the columns of shape ``(n_features, width)``; return ``True``
        to stop.
    backend : str, default=None
        Tensorly backend; ``None`` uses the input's array library.
    warm_start : bool, default=False
        ``True``: ``fit`` continues the previous fit from its last iterate for
        ``max_iter`` more iterations (``method="epochs"``: and ``max_epochs``
        more epochs), with its random generator, normalization and
        re-initialization times; on the same data the two fits make one fit
        of the combined length (histories and ``loss_curve_`` run on). Data
        with another number of features, or a changed ``width``, ``order``,
        ``regime``, ``tensor``, ``whiten``, ``signs`` or ``method``, is a
        ``ValueError``.
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
        Their signed weights (summed over the columns that represent them).
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
        Roy-Vetterli effective rank of the grouped weights.
    columns_ : ndarray of shape (n_features, width)
        The fitted over-parametrized columns ``w_i``.
    column_weights_ : ndarray of shape (width,)
        ``s_i ||w_i||²`` (including the ``1/sqrt(width)`` scaling when lazy).
    n_iter_ : int
        Accepted iterations.
    n_grad_evals_ : int
        Evaluations of the loss and gradient (rejected trial steps included).
    stop_reason_ : str
        ``"tol"``, ``"max_iter"``, ``"saddle"`` or ``"callback"``.
    n_escapes_ : int
        Saddle escapes: ``tol`` stops at which the residual still had a
        component and a small column was re-seeded along it (see Notes).
    epoch_times_ : ndarray of shape ``(n_epochs_,)``
        ``method="epochs"`` only: flow times of the epoch boundaries reached.
    n_reinit_ : ndarray of shape ``(n_epochs_,)``
        ``method="epochs"`` only: columns re-drawn at each boundary.
    n_epochs_ : int
        ``method="epochs"`` only: epochs run.
    learning_rate_ : float
        The step (or first trial step) used, ``"auto"`` resolved.
    loss_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        ``½||T - T*||²`` at the start and after every iteration.
    time_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        Flow time of each ``loss_curve_`` entry.
    history_iter_ : ndarray of shape (n_records,)
        Iterations at which the histories below were recorded.
    history_time_ : ndarray of shape (n_records,)
        Their flow times.
    rank_history_ : ndarray of shape (n_records,)
        Estimated rank at the iterations ``history_iter_`` (the grouped
        components that pass the ``rank_tol`` and noise tests, not merged).
    column_norms_history_ : ndarray of shape (n_records, width)
        Column norms at the iterations ``history_iter_``.
    mean_ : ndarray of shape (n_features,)
        Centering (zeros unless ``tensor="cumulant"``).
    whitening_ : ndarray of shape (n_features, n_features)
        Whitening matrix (identity unless ``whiten=True``).
    n_features_in_ : int

    Notes
    -----
    **Saddle check.** The ``tol`` test also passes on saddle plateaus, where small
    columns turn towards an unfitted component too slowly to count as moving.
    So in the rich regime, before a ``tol`` stop is reported as convergence, the
    best rank-one direction ``u`` of the residual ``R = T* - T`` is found by a
    few tensor power-method steps (``R(u, ..., u, ·)``, computed from the
    samples, CP factors or dense target like the gradient, from 8 random starts
    and the columns' directions). If ``R(u^{⊗order}) u^{⊗order}`` would count as
    a new component of ``rank_`` (``|R(u^{⊗order})| >= rank_tol`` times the
    largest weight) and a column re-seeded along it would grow faster than the
    ``tol`` rate, the smallest free column is re-seeded along ``u`` at the
    initial norm and the iteration continues (``n_escapes_``); after 10 escapes
    the fit stops with ``stop_reason_="saddle"`` and a ``ConvergenceWarning``.
    At a genuine minimum the check costs about 20 gradient evaluations, once.
    The lazy regime has no saddle check.

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
    and flow times (``time_curve_``, ``history_time_``, ``learning_rate_``) as
    its inverse. A ``learning_rate`` or ``reinit_every`` the user gives is in
    data units. ``callback`` sees the columns of the normalized problem.
    Weights beyond the float64 range in data units (e.g. ``c = 1e150`` at
    order 3) are inf or 0, with a warning. A zero target gives ``rank_ = 0``
    with a warning.

    Examples
    --------
    >>> from sktensorflow import OverparamCP
    >>> from sktensorflow.datasets import make_symmetric_cp
    >>> T, truth = make_symmetric_cp(8, 3, order=3, random_state=0)
    >>> est = OverparamCP(width=20, tensor="precomputed", random_state=0).fit(T)
    >>> est.rank_
    3

    The variant of Wang et al. (2020), with epochs and re-initialization:

    >>> est = OverparamCP(width=20, method="epochs", tensor="precomputed", random_state=0)
    >>> est.fit(T).rank_, est.stop_reason_
    (3, 'target_accuracy')
    """

    _parameter_constraints: dict = {
        **BaseSymmetricCP._parameter_constraints,
        "init_scale": [Interval(Real, 0, None, closed="neither"), None],
        "regime": [StrOptions({"rich", "lazy"})],
        "reinit_every": [Interval(Real, 0, None, closed="neither"), None],
        "reinit_threshold": [Interval(Real, 0, None, closed="left")],
        "method": [StrOptions({"gd", "epochs"})],
        "epoch_length": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "l2_reg": [Interval(Real, 0, None, closed="left")],
        "target_accuracy": [Interval(Real, 0, None, closed="left")],
    }
    _warm_fixed = ("width", "order", "regime", "tensor", "whiten", "signs", "method")

    def __init__(
        self,
        width=32,
        *,
        order=3,
        init_scale=None,
        regime="rich",
        tensor="moment",
        whiten=False,
        signs="auto",
        reinit_every=None,
        reinit_threshold=1e-2,
        method="gd",
        epoch_length="auto",
        max_epochs=20,
        l2_reg=1e-7,
        target_accuracy=1e-4,
        learning_rate="auto",
        solver="flow",
        solver_options=None,
        max_iter=2000,
        tol=1e-5,
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
        self.regime = regime
        self.tensor = tensor
        self.whiten = whiten
        self.signs = signs
        self.reinit_every = reinit_every
        self.reinit_threshold = reinit_threshold
        self.method = method
        self.epoch_length = epoch_length
        self.max_epochs = max_epochs
        self.l2_reg = l2_reg
        self.target_accuracy = target_accuracy
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

    def _init_norm(self, t_norm):
        scale = self.init_scale
        if scale is None:
            scale = 1e-3 if self.regime == "rich" else 1.0
        return scale * np.sqrt(t_norm)

    def _check_lazy_width(self):
        """Refuse a width the lazy regime cannot pair (see ``regime``)."""
        if self.regime == "lazy" and self.width % 2:
            raise ValueError(
                f"regime='lazy' needs an even width: its columns start in identical "
                f"pairs of opposite sign so that the output starts at zero, and an "
                f"unpaired column would have to start with zero weight, where its "
                f"gradient is zero and it never moves; got width={self.width}. "
                f"Use width={self.width + 1}."
            )

    def _initial_columns(self, rng, d, t_norm):
        """Host-side ``(coefficients, W0)`` for the chosen regime (lazy: even width)."""
        m, norm = self.width, self._init_norm(t_norm)
        W = scp.random_columns(rng, d, m, norm)
        if self.regime == "rich":
            return self._column_signs(m, self.tensor == "moment"), W
        W[:, 1::2] = W[:, 0::2]
        coefs = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
        return coefs / np.sqrt(m), W

    def _learning_rate(self, t_norm, coefs, W0):
        if self.learning_rate != "auto":
            return self._user_time(self.learning_rate)
        kernel = t_norm + float(np.sum(np.abs(coefs) * np.sum(W0 * W0, axis=0)))
        return self._auto_learning_rate(kernel)

    def fit(self, X, y=None):
        """Fit the over-parametrized model to the target built from ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or the target
            Samples (``tensor="moment"``/``"cumulant"``), or for
            ``tensor="precomputed"`` a symmetric array of shape ``(d,)*order`` or
            a symmetric tensorly ``CPTensor`` or ``(weights, factors)`` pair.
        y : Ignored

        Returns
        -------
        self : OverparamCP
        """
        return super().fit(X, y)

    def _fit_normalized(self, X):
        self._check_lazy_width()
        target, target_sq, t_norm = self._fit_target(X)
        rng = self._rng()
        coefs, W0 = self._initial_columns(self._start_rng(rng), self.n_features_in_, t_norm)
        epochs = self.method == "epochs"
        problem = scp.problem(
            self._to_backend(W0),
            target,
            self._to_backend(coefs),
            target_sq=target_sq,
            l2_reg=self.l2_reg * t_norm if epochs else 0.0,
        )
        if self.regime == "rich" and not epochs:
            escape = symmetric_escape(self, target, coefs, rng, t_norm, self._init_norm(t_norm))
            problem = replace(problem, escape=escape)
        problem, loop = self._method_loop(problem, target, W0, rng, t_norm, target_sq)
        result = self._minimize(
            problem,
            learning_rate=self._learning_rate(t_norm, coefs, W0),
            **loop,
            record=self._recorder(coefs),
            record_every=max(1, self.max_iter // 500),
            describe=lambda p: f"rank={self._rank_of(p[0], coefs)}",
        )
        self._set_components(result.view[0], coefs)
        self.rank_history_ = np.asarray(result.history["rank"])
        self.column_norms_history_ = np.asarray(result.history["norms"])
        if epochs:
            vars(self).update(ep.epoch_attributes(result, loop["schedule"].log))

    def _method_loop(self, problem, target, W0, rng, t_norm, target_sq):
        """``(problem, loop options)`` of ``method``: the schedule (and goal of ``"epochs"``)."""
        if self.method == "gd":
            return problem, {"schedule": self._schedule(problem.fun, rng, t_norm)}
        return ep.epochs_loop(self, problem, target, W0, rng, t_norm, target_sq)

    def _recorder(self, coefs):
        def record(params):
            W = _backend.to_numpy(params[0])
            return {"rank": self._rank_of(W, coefs), "norms": np.linalg.norm(W, axis=0)}

        return record

    def _schedule(self, fun, rng, t_norm):
        if self.reinit_every is None or self.regime == "lazy":
            return None
        init_norm = self._init_norm(t_norm)
        threshold = self.reinit_threshold * np.sqrt(t_norm)

        def action(params, time, index):
            _, (grad,) = fun(params)
            W, _ = scp.reinit_small_columns(params[0], grad, rng, init_norm, threshold)
            return (W,)

        times = (self._user_time(self.reinit_every * (k + 1)) for k in range(10**9))
        return Schedule(times, action)
