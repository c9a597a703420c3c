"""DeepTucker: deep Tucker factorization for tensor completion without the rank."""

import numpy as np

from . import _backend
from ._base import BaseOverparam, Integral, Interval, Real, StrOptions
from ._data_scale import DataScaleMixin, scale_by_power
from ._deep_tucker_entries_fit import DeepTuckerEntriesMixin
from ._deep_tucker_protocol import DEFAULT_WIDTH, DeepTuckerSettingsMixin
from ._deep_tucker_state import DeepTuckerStateMixin
from ._early_stopping import EarlyStoppingMixin
from ._entries import as_observed_entries
from ._foldin import FoldInMixin
from ._interop import tucker_to_tensorly, tucker_values
from .models import deep_tucker as dtm
from .models import deep_tucker_entries as dte

__all__ = ["DEFAULT_WIDTH", "DeepTucker"]


class DeepTucker(
    DeepTuckerEntriesMixin,
    DeepTuckerSettingsMixin,
    DeepTuckerStateMixin,
    EarlyStoppingMixin,
    DataScaleMixin,
    FoldInMixin,
    BaseOverparam,
):
    """Deep Tucker factorization by gradient descent from a small balanced start.

    Fits ``X̂ = G ×_0 U_0 ×_1 U_1 ⋯`` to the observed entries of ``X`` (``NaN``
    marks a missing entry) with a core ``G`` of ``width`` slices per mode and
    factors that are products of ``depth`` matrices (Hariz, Kadri, Ayache,
    Moakher and Artières, "Implicit Regularization in Deep Tucker Factorization:
    Low-Rankness via Structured Sparsity", AISTATS 2024). From a
    small *balanced* initialization (every core slice and its factor column start
    with equal norms), gradient descent grows only as many core slices per mode
    as the multilinear rank of the data needs, so the rank need not be known and
    ``multilinear_rank_`` is read off the fit. ``X`` may be 2-D (deep matrix
    factorization) or N-D; axis 0 is the sample axis of :meth:`transform`.

    The data are divided by ``data_scale_`` (an estimate of the largest singular
    value of the full tensor's unfoldings, taken after an exact division by a power
    of two, so nothing over- or underflows from 1e-150 to 1e150) and the loss is
    ``(1 / (2 p)) Σ_Ω (X̂ - X)²``, ``p`` the observed fraction: every default
    below is independent of the size, scale and sampling rate of ``X``.

    Parameters
    ----------
    width : int, default=None
        Core size in every mode, capped at the largest possible rank of the
        mode's unfolding, ``min(n_k, prod_{m != k} n_m)``. ``None``: 32
        (``DEFAULT_WIDTH``) under that cap, which exceeds the multilinear rank
        early stopping selects on real data (5 to 20 on photographs, digits and
        a hyperspectral cube) while keeping an iteration cheap; pass a larger
        int, or the tensor's dimensions for the full-size core of the paper.
    depth : int, default=1
        Number of matrices in each factor's product (``1`` is a plain Tucker
        factor; deeper factors strengthen the low-rank bias and lengthen the
        initial plateau).
    factor_form : {"product", "column"}, default="product"
        ``"product"``: ``U_k = W_{k,depth} ⋯ W_{k,1}``, exactly balanced at
        initialization. ``"column"``: every column of ``U_k`` has its own chain of
        ``depth - 1`` square matrices followed by a vector (the released code of
        the paper), each rescaled to the norm of the matching core slice; it costs
        ``O(width · n_k²)`` memory per mode and matrix.
    init_scale : float, default=None
        Norm of a core slice at initialization (factor columns and chain matrices
        are balanced to it), in units where the data's largest singular value
        is 1. ``None``: ``c ** (1 / (P - 2))`` with ``P = X.ndim * depth + 1``
        the number of matrices on a path through the model (so that the initial
        product, and hence the initial plateau, is the same at every depth) and
        ``c = 9e-4`` for ``"adam"`` (``0.03`` for a 3-way tensor), ``1e-3``
        for ``"flow"`` and ``"gd"``; see ``init_scaling``. A float is the
        same slice norm at every depth.
    init_scaling : {"matched", "fixed"}, default="matched"
        How ``init_scale=None`` depends on ``depth``. ``"matched"``: the same
        initial product at every depth (``0.03 / 0.25 / 0.42`` at depth
        1 / 2 / 3 for a 3-way tensor with ``"adam"``), so deeper models start
        from larger slices and no longer plateau. ``"fixed"``: the depth-1
        value at every depth (``0.03``), the paper's protocol of comparing
        depths at one initialization; deeper models then start from a much
        smaller product and plateau longer (at depth 3 the start's gradient is
        about ``1e-13``, so Adam's ``eps`` defaults to ``1e-30`` here). Core
        slice sparsity is measured by
        :func:`~sktensorflow.models.deep_tucker.active_core_slices`.
    early_stopping : bool, default=True
        Withhold ``validation_fraction`` of the observed entries (drawn with
        ``random_state``), evaluate the error on them every 10 iterations, stop
        after ``n_iter_no_change`` evaluations without a relative improvement
        of ``1e-3`` and keep the best iterate. With a small initialization the
        stopping time selects the rank, so on data that are not exactly
        low-rank this keeps the fit from fitting noise; it does not stop on a
        plateau between two components, where the training error does not
        move either. ``False``: fit all observed entries until ``tol`` or
        ``max_iter``.
    validation_fraction : float, default=0.1
        Share of the observed entries withheld when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Evaluations of the held-out error without improvement before stopping.
    learning_rate : float or "auto", default="auto"
        Step (``"gd"``), first trial step (``"flow"``) or step size (``"adam"``).
        ``"auto"``: ``2e-2`` for ``"adam"`` (in the normalized units), ``1e-3``
        for ``"minibatch_adam"`` (many noisy steps per iteration),
        ``1 / P`` for ``"gd"``/``"flow"`` (the stability bound is ``2 / P``
        near the fitted model).
    solver : {"adam", "minibatch_adam", "flow", "gd"}, default="adam"
        Step rule of the shared loop. ``"adam"`` (what the paper's released code
        uses) scales every parameter's step by its own gradient history, so the
        weak directions of real data grow in hundreds of iterations instead of
        the tens of thousands that the stiffness of the gradient flow needs
        once the strong ones are fitted; its low-rank bias is weaker, which
        early stopping makes up for. ``"flow"`` integrates the gradient flow
        (the setting of the theory) with error control and is the choice for
        studying the dynamics; ``"gd"`` is fixed-step full-batch gradient
        descent. ``"minibatch_adam"`` is the released code's protocol: an
        iteration is an epoch of Adam steps on shuffled batches of the fitted
        entries (``solver_options={"batch_size": 128}`` by default), each
        batch's gradient computed from its entries only.
    solver_options : dict, default=None
        Options of the step rule, validated against the options it declares:
        ``rtol``, ``atol``, ``max_step`` for ``"flow"``; ``beta1``, ``beta2``,
        ``eps`` for ``"adam"``, and ``batch_size`` for ``"minibatch_adam"``;
        none for ``"gd"``.
    max_iter : int, default=3000
    tol : float, default=1e-4
        Stop when no parameter changes faster than ``tol`` relative to its
        root-mean-square size. It is lowered to half the initial rate when that
        is smaller, so the initial plateau of a small start never stops the fit.
        With depth-1 ``"product"`` factors a ``tol`` stop is first checked for a
        saddle (see Notes).
    rank_tol : float, default=1e-2
        Singular values of the fitted tensor's unfoldings below ``rank_tol`` times
        the largest are not counted in ``multilinear_rank_``.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Show a progress bar with the loss and the multilinear rank.
    callback : callable, default=None
        Called after every iteration with an ``OptimState`` whose ``params`` are
        the parameters in the data's units (``(core, *chain_0, *chain_1, ...)``,
        the core multiplied by ``data_scale_``); return ``True`` to stop.
    backend : str, default=None
        Tensorly backend; ``None`` uses the input's array library.
    warm_start : bool, default=False
        ``True``: ``fit`` continues the previous fit from its last iterate (not
        the best one early stopping kept) for ``max_iter`` more iterations, with
        its validation split and record, data scale, ``tol`` scale and step
        rule state; on the same data the two fits make one fit of the combined
        length, whose best iterate is the model. Data of another shape, or a
        changed ``width``, ``depth``, ``factor_form``, ``early_stopping`` or
        ``validation_fraction``, is a ``ValueError``.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the fit on the backend (data, parameters, gradients) and
        dtype of the fitted model attributes and of ``transform``,
        ``inverse_transform`` and ``complete``. With ``"float32"``, a start
        whose entries or products of one entry per factor (core and
        ``X.ndim * depth`` matrices) fall below float32's normal range (a tiny
        ``init_scale``) is a ``ValueError`` (user guide, "dtype and device").
    device : str, default=None
        Torch device of the computation, e.g. ``"cuda:0"`` (pytorch backend;
        elsewhere only ``"cpu"``). ``None``: the input's device. Fitted
        attributes and outputs follow the input's array library and device.

    Attributes
    ----------
    core_ : ndarray of shape ``widths_``
        Fitted core (in the data's units).
    factors_ : list of ndarray
        End-to-end factors ``U_k`` of shape ``(X.shape[k], widths_[k])``.
    chains_ : list of list of ndarray
        Raw matrices of every mode's factor (see ``factor_form``): for
        ``"product"`` ``[W_{k,1}, ..., W_{k,depth}]``; for ``"column"``
        ``[A_k, M_{k,1}, ..., M_{k,depth-1}]``.
    widths_ : tuple of int
    multilinear_rank_ : tuple of int
        Per mode, the number of singular values of the fitted tensor's unfolding
        ``>= rank_tol * sigma_max`` (:func:`sktensorflow.metrics.multilinear_rank`).
    effective_rank_ : tuple of float
        Roy-Vetterli effective rank of each unfolding of the fitted tensor.
    core_slice_norms_ : list of ndarray
        Norms of the core's slices, one array of length ``widths_[k]`` per mode.
    core_slice_norms_history_ : list of ndarray
        Per mode, shape ``(n_records, widths_[k])``: slice norms (in the data's
        units) at ``history_iter_``.
    multilinear_rank_history_ : ndarray of shape (n_records, X.ndim)
        Multilinear rank of the model at ``history_iter_``.
    history_iter_ : ndarray of shape (n_records,)
        Iterations at which the histories were recorded.
    history_time_ : ndarray of shape (n_records,)
        Flow time of each recorded entry.
    components_ : ndarray of shape ``(multilinear_rank_[0], *feature_shape_)``
        Orthonormal basis of the fitted rows (leading right singular vectors of
        the fitted tensor's mode-0 unfolding): the basis of :meth:`transform`.
    data_scale_ : float
        The normalization of the data.
    learning_rate_ : float
        The learning rate used (``"auto"`` resolved).
    init_scale_ : float
        The initial core slice norm used (``None`` resolved).
    feature_shape_ : tuple
        Shape of one sample, ``X.shape[1:]``.
    n_escapes_ : int
        Re-seedings along an unexplained residual direction (saddle escapes at
        ``tol`` stops and continuations after early stops).
    validation_scores_ : ndarray of shape (n_checks,) or None
        R² of the model on the withheld entries at each evaluation
        (``None`` without early stopping).
    validation_iter_ : ndarray of shape (n_checks,) or None
        Iterations of those evaluations.
    best_validation_score_ : float or None
        The largest of ``validation_scores_``: the returned model's.
    best_iter_ : int or None
        Iteration of the returned model (early stopping only).
    n_iter_ : int
        Accepted iterations.
    n_grad_evals_ : int
        Loss-and-gradient evaluations, rejected trial steps included.
    stop_reason_ : str
        Why the loop stopped: ``"tol"``, ``"max_iter"``, ``"callback"``, ...
    loss_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        ``(1 / (2 p)) Σ_Ω (X̂ - X)²`` in the data's units.
    time_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        Flow time of every ``loss_curve_`` entry.
    n_features_in_ : int

    Notes
    -----
    *Saddles and plateaus.* Gradient descent from a small start fits the
    multilinear structure one direction at a time, and between two directions
    the small core slices grow so slowly that the ``tol`` test can pass.
    Before accepting such a stop (depth-1
    ``"product"`` factors), the residual on the observed entries, divided by
    the observed fraction, is tested for a rank-one direction: its unfoldings'
    top singular value must stand out of an unstructured residual's (1.4 times
    the Marchenko-Pastur share, at most 0.9 of the energy), and after three
    higher-order power steps its amplitude must be at least ``rank_tol`` times
    the model's largest singular value. If there is one, the smallest core
    slice of every mode and its factor column are re-seeded along it (a
    quarter of its amplitude) and the fit continues, up to 10 times; then a
    ``ConvergenceWarning`` says it stopped at a saddle. Early stopping waits
    out plateaus (it stops only once the training error has dropped without
    the held-out error following). If it keeps an iterate that predicts the withheld
    entries no better than their mean (held-out R² ≤ 0), a
    ``ConvergenceWarning`` says so.

    *Completion.* :meth:`fit_complete` returns the fitted model's values at the
    missing entries (the completion the fit computed); :meth:`complete` folds
    rows in on the fitted non-sample factors, for rows the model was not fitted
    on. On real data (``benchmarks/bench_real_completion.py``) the defaults
    take seconds (0.7 to 10 s) and come within 8 % of tensorly's masked
    CP/Tucker at the best rank in hindsight.

    Examples
    --------
    >>> from sktensorflow import DeepTucker
    >>> from sktensorflow.datasets import make_low_multilinear_rank
    >>> X, truth = make_low_multilinear_rank((10, 9, 8), (2, 2, 2), observed_fraction=0.6,
    ...                                      random_state=0)
    >>> est = DeepTucker(random_state=0).fit(X)
    >>> est.multilinear_rank_
    (2, 2, 2)
    >>> est.transform(X).shape
    (10, 2)
    """

    _validation_tol = 1e-3  # Adam's held-out loss creeps down long after the best point
    _coefficients_name = "multilinear_rank_[0]"
    _model_attributes = ("core_", "factors_", "chains_", "components_", "core_slice_norms_")

    _parameter_constraints: dict = {
        **BaseOverparam._parameter_constraints,
        **EarlyStoppingMixin._early_stopping_constraints,
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "factor_form": [StrOptions(set(dtm.FORMS))],
        "init_scale": [Interval(Real, 0, None, closed="neither"), None],
        "init_scaling": [StrOptions(set(dtm.INIT_SCALINGS))],
    }

    def __init__(
        self,
        width=None,
        *,
        depth=1,
        factor_form="product",
        init_scale=None,
        init_scaling="matched",
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        learning_rate="auto",
        solver="adam",
        solver_options=None,
        max_iter=3000,
        tol=1e-4,
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
        self.depth = depth
        self.factor_form = factor_form
        self.init_scale = init_scale
        self.init_scaling = init_scaling
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
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

    # -- fit -------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the deep Tucker model to the observed entries of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, d_1, ..., d_k), \
                sparse.COO or tuple (indices, values, shape)
            Data, ``NaN`` for missing entries; or only the observed entries:
            a ``sparse.COO`` array (its stored coordinates, whatever its
            ``fill_value``) or a tuple ``(indices, values, shape)`` with
            ``indices`` of shape ``(n_entries, len(shape))``. Observed entries
            are fitted in time and memory ``O(n_entries + parameters)``,
            never forming the dense tensor (see the user guide,
            "Completion from observed entries").
        y : Ignored

        Returns
        -------
        self : DeepTucker
        """
        return super().fit(X, y)

    def _fit(self, X):
        entries = as_observed_entries(X)
        if entries is not None:  # sktensorflow._deep_tucker_entries_fit
            return self._fit_entries(entries, _DATA_UNITS)
        X = self._validate_input(X, reset=True, allow_nan=True, allow_nd=True)
        X = self._normalize_data(X)  # X / 2**e exactly: attributes are scaled back at the end
        self.feature_shape_ = X.shape[1:]
        observed = ~np.isnan(X)
        if not observed.any():
            raise ValueError("X has no observed entry (every entry is NaN).")
        filled, rng = np.where(observed, X, 0.0), self._rng()
        self._nonzero_data = bool(filled.any())
        if not self._nonzero_data:
            self._warn_zero_data("multilinear_rank_")
        init, learning_rate = self._start(filled, observed, rng)
        heldout = self._heldout_entries(observed, rng)
        problem = self._problem(init, filled, observed, heldout, rng)
        heldout_values = X[heldout] if heldout is not None else []
        result = self._run_loop(problem, learning_rate, X.ndim, heldout, heldout_values)
        params = [_backend.to_numpy(a) for a in result.view]
        params[0] = np.ldexp(params[0], -self._data_exp)
        with _backend.backend_context("numpy"):
            self._set_fitted(params, result, X.ndim)
        self._set_fold_in_prior(X, observed)
        self._to_data_units(_DATA_UNITS)

    def _problem(self, init, filled, observed, heldout, rng):
        """The model's problem on the normalized data, without the withheld entries."""
        fitted = observed if heldout is None else observed & ~heldout
        problem = dtm.problem(
            tuple(self._to_backend(a) for a in init),
            self._to_backend(filled / self.data_scale_),
            None if fitted.all() else self._to_backend(fitted.astype(float)),
            depth=self.depth,
            form=self.factor_form,
            coef=1.0 / float(fitted.mean()),
            data_scale=scale_by_power(self.data_scale_, self._data_exp),  # the callback's view
            tol=self.tol,
            heldout_mask=None if heldout is None else self._to_backend(heldout.astype(float)),
            rank_tol=self.rank_tol,
        )
        # minibatches of the fitted entries for "minibatch_adam"
        target, coef = filled / self.data_scale_, 1.0 / float(fitted.mean())
        model = dict(depth=self.depth, form=self.factor_form)
        return dte.for_solver(problem, self.solver, target, fitted, coef, rng, **model)

    def _fitted_values(self):
        return tucker_values(self.core_, self.factors_)

    def to_tensorly(self, full=False):
        """The fitted model as a tensorly ``TuckerTensor`` on the fit's backend.

        Parameters
        ----------
        full : bool, default=False
            ``False``: the fitted tensor's truncated HOSVD at ``multilinear_rank_``
            (orthonormal factors; exact if the rank estimate is); ``True``: ``(core_, factors_)``.

        Returns
        -------
        tucker : tensorly.tucker_tensor.TuckerTensor
        """
        return tucker_to_tensorly(self, full=full)


#: Fitted attributes in data units: the power of the data's scale each carries, in halves.
_DATA_UNITS = dict.fromkeys(("core_", "core_slice_norms_", "core_slice_norms_history_"), 2)
_DATA_UNITS.update(data_scale_=2, loss_curve_=4)
