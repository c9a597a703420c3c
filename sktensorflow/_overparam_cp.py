"""OverparamCP: symmetric CP decomposition by over-parametrized gradient descent."""

from dataclasses import replace

import numpy as np

from . import _backend
from ._base import Interval, Real, StrOptions
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
        growing are re-drawn at the initial norm at each re-initialization.
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

    Attributes
    ----------
    components_ : ndarray of shape ``(rank_, n_features)``
        Recovered unit components, by decreasing ``|weight|``.
    weights_ : ndarray of shape ``(rank_,)``
        Their signed weights (summed over the columns that represent them).
    rank_ : int
        Estimated CP rank: grouped components with ``|weight| >= rank_tol *
        max |weight|`` whose weight and contraction ``|<T*, u^{⊗order}>|`` both
        exceed ``noise_level_`` (user guide, "Sampling noise").
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
        Estimated rank at the iterations ``history_iter_``.
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
    """

    _parameter_constraints: dict = {
        **BaseSymmetricCP._parameter_constraints,
        "init_scale": [Interval(Real, 0, None, closed="neither"), None],
        "regime": [StrOptions({"rich", "lazy"})],
        "reinit_every": [Interval(Real, 0, None, closed="neither"), None],
        "reinit_threshold": [Interval(Real, 0, None, closed="left")],
    }

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
        coefs, W0 = self._initial_columns(rng, self.n_features_in_, t_norm)
        problem = scp.problem(
            self._to_backend(W0), target, self._to_backend(coefs), target_sq=target_sq
        )
        if self.regime == "rich":
            escape = symmetric_escape(self, target, coefs, rng, t_norm, self._init_norm(t_norm))
            problem = replace(problem, escape=escape)
        result = self._minimize(
            problem,
            learning_rate=self._learning_rate(t_norm, coefs, W0),
            schedule=self._schedule(problem.fun, rng, t_norm),
            record=self._recorder(coefs),
            record_every=max(1, self.max_iter // 500),
            describe=lambda p: f"rank={self._rank_of(p[0], coefs)}",
        )
        self._set_components(result.view[0], coefs)
        self.rank_history_ = np.asarray(result.history["rank"])
        self.column_norms_history_ = np.asarray(result.history["norms"])

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
