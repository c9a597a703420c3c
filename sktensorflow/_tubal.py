"""TubalFactorizer: t-product factorization by small-initialization gradient descent."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np

from . import _backend
from . import tproduct as tp
from ._base import BaseOverparam
from ._data_scale import DataScaleMixin
from ._early_stopping import EarlyStoppingMixin, heldout_total_sq
from ._entries import EntriesInputMixin
from ._sklearn_private import Interval, Options, StrOptions
from ._tubal_foldin import TubalFoldInMixin
from ._tubal_state import TubalStateMixin
from ._tubal_svd import TubalSVDMixin
from ._tube_axis import select_fit, to_tubes
from .models import tubal as mt
from .models.tubal_precondition import slice_preconditioner
from .models.tubal_saddle import saddle_escape

__all__ = ["TubalFactorizer"]


class TubalFactorizer(
    EntriesInputMixin,
    TubalStateMixin,
    TubalSVDMixin,
    EarlyStoppingMixin,
    DataScaleMixin,
    TubalFoldInMixin,
    BaseOverparam,
):
    """Low-tubal-rank factorization ``X ≈ A * B^T`` by over-parametrized gradient descent.

    The data are a third-order tensor, samples along the first axis and tubes
    along one of the other two (``tube_axis``; a 2-D ``X`` is a tensor with
    tubes of length 1, i.e. a matrix), ``NaN`` for missing entries. The factors
    ``A`` (n_samples, width, n_tubes) and ``B`` (n_features, width, n_tubes)
    start small and random and descend ``½ ||M ⊙ (A * B^T - X)||²`` (``M`` the
    observed entries) by gradient descent. The
    implicit bias of the small initialization towards low tubal rank (Karnik,
    Veselovska, Iwen and Krahmer, "Implicit Regularization for Tubal Tensor
    Factorizations via Gradient Descent", ICML 2025) means the rank need not be
    known: ``width`` only has to exceed it, and ``tubal_rank_`` is read off the
    fitted tensor's t-SVD, computed from the factors.

    Parameters
    ----------
    width : int, default=16
        Number of lateral slices of each factor (the model's maximal tubal
        rank), capped at twice ``min(n_samples, n_features)`` of the frontal
        slices (the largest tubal rank there is): wider factors only cost time.
    tube_axis : {"auto", 2, 1}, default="auto"
        Axis of a third-order ``X`` that holds the tubes (the other non-sample
        axis holds the features). The t-product mixes the entries of a tube
        through the Fourier transform and the tubal rank counts components
        shared by all tube frequencies, so this is a modelling choice:
        ``"auto"`` fits both orientations on the same withheld entries and
        keeps the one with the larger held-out R² (``tube_axis_``); it means 2
        for 2-D ``X``, with ``symmetric=True`` and without early stopping.
    symmetric : bool, default=False
        Fit ``X ≈ U * U^T`` with a single factor ``U`` (needs square frontal
        slices, ``n_samples == n_features``).
    init_scale : float, default=None
        Entries of the factors start as ``init_scale * sqrt(sigma / n_tubes)
        * N(0, 1) / sqrt(width)``, with ``sigma`` the largest Fourier-slice
        singular value of the zero-filled data, so that the start is
        ``init_scale`` times the size of a fitted factor whatever the data scale.
        ``None`` is ``1e-6`` for ``solver="scaled_gd"`` and ``1e-3`` for the
        others: the preconditioner lets small spurious components grow faster
        than gradient descent does, which the smaller start makes up for (from
        ``1e-3`` it counts up to five too many on planted completions).
    early_stopping : bool, default=True
        Withhold ``validation_fraction`` of the observed entries (drawn with
        ``random_state``; whole tubes when whole tubes are missing, as for the
        pixels of a photograph), evaluate the error on them every 5
        iterations, stop after ``n_iter_no_change`` evaluations without
        improvement and keep the best iterate. With a small initialization the
        stopping time selects the rank, so on data that are not exactly
        low-rank this keeps the fit from fitting noise. ``False`` fits all
        observed entries until ``tol``.
    validation_fraction : float, default=0.1
        Share of the observed entries withheld when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Evaluations of the held-out error without improvement before stopping.
    learning_rate : float or "auto", default="auto"
        Step of the solver. ``"auto"`` is 0.8 for ``"scaled_gd"`` (whose step
        is dimensionless) and ``0.6 / sigma`` otherwise (``0.3 / sigma`` when
        symmetric), 60 % of the stability bound of gradient descent at a fit
        (``1 / sigma``, ``0.5 / sigma`` when symmetric); for ``"flow"`` it is
        the first trial step.
    solver : {"scaled_gd", "gd", "flow", "adam"}, default="scaled_gd"
        Step rule of the shared loop. ``"scaled_gd"`` multiplies each factor's
        gradient, per Fourier slice, by the inverse of the other factor's Gram
        matrix damped by ``damping`` times the second largest slice singular
        value of the zero-filled data, and halves a step that does not decrease
        the loss (:mod:`sktensorflow.models.tubal_precondition`): components
        above the damping converge in a number of iterations that does not
        depend on their size, so data whose largest component (often the mean)
        dwarfs the others take hundreds of iterations, not thousands as with
        the paper's fixed-step gradient descent (``"gd"``).
    solver_options : dict, default=None
        Options of the step rule, validated against the options it declares:
        ``damping`` (default 0.5) for ``"scaled_gd"``; ``rtol``, ``atol``,
        ``max_step`` for ``"flow"``; ``beta1``, ``beta2``, ``eps`` for
        ``"adam"``; none for ``"gd"``.
    max_iter : int, default=5000
    tol : float, default=1e-4
        Stop when no Fourier coordinate of a factor changes faster than
        ``tol * sigma`` relative to the factor's root-mean-square entry (its
        rate under the gradient flow).
    rank_tol : float, default=1e-2
        Fourier-slice singular values below ``rank_tol`` times the largest are not
        counted in ``tubal_rank_`` (see :mod:`sktensorflow.metrics`).
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Show a progress bar with the loss and the current tubal rank.
    callback : callable, default=None
        Called after every iteration with an ``OptimState`` whose ``params`` are
        the factors ``(A, B)`` (``(U,)`` when symmetric); return ``True`` to stop
        the fit of the current orientation (``tube_axis="auto"`` fits both).
    backend : str, default=None
        Tensorly backend; ``None`` uses the input's array library.
    warm_start : bool, default=False
        ``True``: ``fit`` continues the previous fit from its last iterate (not
        the best one early stopping kept) for ``max_iter`` more iterations, with
        its validation split and record, tube axis and normalization; on the
        same data the two fits make one fit of the
        combined length, whose best iterate is the model. Data of another
        shape, or a changed ``width``, ``symmetric``, ``early_stopping``,
        ``validation_fraction`` or ``tube_axis``, is a ``ValueError``.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the fit on the backend (data, parameters, gradients) and
        dtype of the fitted model attributes and of ``transform``,
        ``inverse_transform`` and ``complete``. With ``"float32"``, a start
        whose entries or products of one entry per factor (``A·B``) fall
        below float32's normal range (a tiny ``init_scale``) is a
        ``ValueError`` (user guide, "dtype and device").
    device : str, default=None
        Torch device of the computation, e.g. ``"cuda:0"`` (pytorch backend;
        elsewhere only ``"cpu"``). ``None``: the input's device. Fitted
        attributes and outputs follow the input's array library and device.

    Attributes
    ----------
    init_scale_ : float
        The initialization scale used (``init_scale`` or its default).
    tube_axis_ : int
        The axis of ``X`` that holds the tubes (2 or 1). ``factors_``,
        ``singular_values_``, ``singular_tubes_`` and ``to_tensorly`` are in the
        t-product's orientation, ``(n_samples, n_features, n_tubes)`` with the
        tubes along this axis; ``components_`` and every method's input and
        output are in the input's.
    factors_ : list of two ndarrays
        ``[A, B]`` with shapes (n_samples, width, n_tubes) and
        (n_features, width, n_tubes) (``[U, U]`` when symmetric).
    singular_values_ : ndarray of shape (n_tubes // 2 + 1, n_singular)
        Singular values of each independent Fourier slice of ``A * B^T``,
        ``n_singular = min(n_samples, n_features, width)``.
    tubal_rank_ : int
        Estimated tubal rank (slice singular values ``>= rank_tol * max``).
    effective_rank_ : float
        Largest Roy-Vetterli effective rank of the Fourier slices.
    singular_tubes_ : ndarray of shape ``(tubal_rank_, n_tubes)``
        The leading singular tubes ``S[i, i, :]`` of the fitted tensor's t-SVD.
    components_ : ndarray of shape ``(tubal_rank_, n_features[, n_tubes])``
        The leading right singular tubes (lateral slices of ``V``), shaped like
        one sample: the basis of :meth:`transform`.
    tubal_rank_history_ : ndarray of shape (n_records,)
        Tubal rank of the iterate at the iterations ``history_iter_``.
    singular_values_history_ : ndarray of shape (n_records, n_tubes // 2 + 1, n_singular)
        ``singular_values_`` of the iterate at the iterations ``history_iter_``.
    history_iter_ : ndarray of shape (n_records,)
        Iterations at which the histories were recorded.
    history_time_ : ndarray of shape (n_records,)
        Flow time of each record.
    learning_rate_ : float
        The step used.
    feature_shape_ : tuple
        Shape of one sample, ``X.shape[1:]``.
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
        Gradient evaluations (rejected trial steps of ``"flow"`` included).
    stop_reason_ : str
        Why the loop stopped (``"tol"``, ``"max_iter"``, ``"callback"``, ...).
    loss_curve_ : ndarray of shape ``(n_iter_ + 1,)``
    time_curve_ : ndarray of shape ``(n_iter_ + 1,)``
        Flow time of each ``loss_curve_`` entry.
    n_features_in_ : int

    Notes
    -----
    The loss is the plain sum of squares over the observed entries (no
    ``1/n``), as in the paper; ``learning_rate="auto"`` makes the step
    proportional to ``1/sigma`` so the iteration count does not depend on the
    data scale. Gradient descent runs on the factors' orthonormal Fourier
    coordinates (the ``n_tubes // 2 + 1`` independent Fourier slices, see
    :func:`sktensorflow.models.tubal.to_coordinates`): an isometric change of
    variables, so the iterates are those of gradient descent on ``A`` and ``B``,
    and an iteration costs one transform of the data each way and a matrix
    product per Fourier slice. ``callback`` and the recorded histories see the
    factors ``A`` and ``B``. With ``solver="adam"`` the per-coordinate step
    scaling acts on the Fourier coordinates.

    :meth:`transform`, :meth:`complete` and :meth:`score` fold rows in on the
    ``tubal_rank_`` leading right singular tubes ``V`` (not on the raw factor
    ``B``, whose many small lateral slices would make the per-row least squares
    ill-conditioned), so the representation has ``tubal_rank_ * n_tubes``
    columns (column ``l * n_tubes + t`` is entry ``t`` of the coefficient tube
    of singular tube ``l``) and dropping the small spurious components of the
    over-parametrized fit also denoises the completion.

    The fit runs on ``X`` divided by an exact power of two (largest observed
    entry in ``[1/4, 1)``): it is the same under any scale ``c`` of ``X`` (1e-150
    to 1e150), exactly for powers of two; with ``X`` times ``c``, ``factors_``
    scale as ``sqrt(c)``, singular values as ``c``, ``loss_curve_`` as ``c²``,
    ``learning_rate_`` (a given one is in data units), ``time_curve_`` and
    ``history_time_`` as ``1/c`` (``sqrt(c)`` for Adam, 1 for ``"scaled_gd"``).
    The measurement (sensing) setting of the paper is in :mod:`sktensorflow.sensing`.

    Examples
    --------
    >>> from sktensorflow import TubalFactorizer
    >>> from sktensorflow.datasets import make_tubal_low_rank
    >>> X, truth = make_tubal_low_rank((12, 10, 4), 2, observed_fraction=0.7, random_state=0)
    >>> est = TubalFactorizer(width=8, random_state=0).fit(X)
    >>> est.tubal_rank_
    2
    >>> est.transform(X).shape
    (12, 8)
    """

    _coefficients_name = "tubal_rank_ * n_tubes"
    _validation_every = 5  # the check reuses the last gradient's A * B^T (models.tubal)
    _model_attributes = ("factors_", "singular_values_", "singular_tubes_", "components_")

    _parameter_constraints: dict = {
        **BaseOverparam._parameter_constraints,
        **EarlyStoppingMixin._early_stopping_constraints,
        "symmetric": ["boolean"],
        "tube_axis": [StrOptions({"auto"}), Options(Integral, {1, 2})],
        "init_scale": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        width=16,
        *,
        symmetric=False,
        tube_axis="auto",
        init_scale=None,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        learning_rate="auto",
        solver="scaled_gd",
        solver_options=None,
        max_iter=5000,
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
        self.symmetric = symmetric
        self.tube_axis = tube_axis
        self.init_scale = init_scale
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

    # -- input -----------------------------------------------------------------
    def _as_tensor(self, X):
        if X.ndim not in (2, 3):
            raise ValueError(
                f"TubalFactorizer expects X of shape (n_samples, n_features) or "
                f"(n_samples, n_features, n_tubes), got shape {X.shape}."
            )
        return X[:, :, None] if X.ndim == 2 else X

    def _validate_fit_data(self, X):
        X = self._validate_input(X, reset=True, allow_nan=True, allow_nd=True)
        self.feature_shape_ = X.shape[1:]
        T = self._as_tensor(X)
        if self.symmetric and T.shape[0] != T.shape[1]:
            raise ValueError(
                f"symmetric=True needs square frontal slices (n_samples == n_features), "
                f"got X of shape {X.shape}."
            )
        if T.size and np.isnan(T).all():
            raise ValueError("X has no observed entry (every entry is NaN).")
        return T

    # -- fit -------------------------------------------------------------------
    def _init_scale(self):
        if self.init_scale is not None:
            return float(self.init_scale)
        return 1e-6 if self.solver == "scaled_gd" else 1e-3

    def _learning_rate(self, sigma):
        if self.learning_rate != "auto":
            return self._user_rate(self.learning_rate, self._step_units())
        if self.solver == "scaled_gd":
            return 0.8
        return (0.3 if self.symmetric else 0.6) / sigma

    def fit(self, X, y=None):
        """Fit the factorization to the observed entries of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_features, n_tubes), \
                sparse.COO or tuple (indices, values, shape)
            Data, ``NaN`` for missing entries; or only the observed entries:
            a ``sparse.COO`` array (its stored coordinates, whatever its
            ``fill_value``) or a tuple ``(indices, values, shape)`` with
            ``indices`` of shape ``(n_entries, len(shape))``. The t-product
            model transforms whole tubes, so observed entries are densified
            to an array with ``NaN`` at the missing entries: memory is that
            of the dense tensor (every method accepts the same forms).
        y : Ignored

        Returns
        -------
        self : TubalFactorizer
        """
        return super().fit(X, y)

    def _fit(self, X):
        T = self._normalize_data(self._validate_fit_data(X))
        observed = ~np.isnan(T)
        self.init_scale_ = self._init_scale()
        rng = self._rng()
        heldout = self._heldout_entries(observed, rng)
        axes = self._tube_axes(heldout)
        start = rng.get_state()
        fits = []
        for axis in axes:
            rng.set_state(start)  # every orientation starts from the same draws
            fits.append(copy.copy(self)._fit_along(axis, T, observed, heldout, rng))
        vars(self).update(vars(select_fit(fits)))
        self._warn_useless_early_stop()
        filled = np.where(observed, T, 0.0)
        if not filled.any():
            self._warn_zero_data("tubal_rank_")
        with _backend.backend_context("numpy"):  # host-side post-processing
            self._set_fitted(self._factors, self._result, zero_data=not filled.any())
            self._set_fold_in_prior(T, observed)  # normalized units (see DataScaleMixin)
        del self._factors, self._result
        self._to_data_units(self._data_units())

    def _fit_along(self, axis, T, observed, heldout, rng):
        """Fit with the tubes along ``axis`` (on a copy); it and the warnings raised."""
        self.tube_axis_ = axis
        T, observed = to_tubes(T, axis), to_tubes(observed, axis)
        heldout = None if heldout is None else to_tubes(heldout, axis)
        filled = np.where(observed, T, 0.0)
        with _backend.backend_context("numpy"):  # host-side scale of the data
            s0 = tp.tubal_singular_values(filled)
        sigma = float(s0.max()) if s0.size and s0.max() > 0 else 1.0
        params = tuple(self._to_backend(p) for p in self._initial_factors(rng, T.shape, sigma))
        data, heldout_data = self._data(filled, observed, heldout)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._factors, self._result = self._run(params, data, heldout_data, sigma)
        self._set_validation(
            self._result, heldout_total_sq(T[heldout] if heldout is not None else [])
        )
        return self, caught

    def _data(self, filled, observed, heldout):
        """The fitted entries and the withheld ones (``None``) as model data."""
        fitted = observed if heldout is None else observed & ~heldout
        if fitted.all():
            return mt.dense_data(self._to_backend(filled)), None
        data = mt.masked_data(self._to_backend(filled), self._to_backend(fitted.astype(float)))
        if heldout is None:
            return data, None
        return data, mt.masked_data(
            self._to_backend(filled), self._to_backend(heldout.astype(float))
        )

    def _run(self, params, data, heldout, sigma):
        """Iterate on the factors' Fourier coordinates; final factors (numpy) and result.

        The coordinates are an isometric reparametrization
        (:func:`sktensorflow.models.tubal.to_coordinates`): gradient descent takes
        the steps it takes on the factors, with two tube transforms per gradient
        instead of six. Records, the progress bar and the user's callback see the
        real factors (the problem's view).
        """
        seed_norm = self._seed_norm(params)
        escape = saddle_escape(data, rank_tol=self.rank_tol, seed_norm=seed_norm)
        problem = mt.coordinate_problem(
            params,
            data,
            rate_scale=sigma,
            heldout=heldout,
            escape=escape,
            precondition=slice_preconditioner(data),
        )
        problem = self._view_in_data_units(problem, 1)  # factors scale as sqrt(c)
        result = self._minimize(
            problem,
            learning_rate=self._learning_rate(sigma),
            record=self._record,
            record_every=max(10, self.max_iter // 200),
            describe=lambda factors: f"rank={self._record(factors)['rank']}",
            **self._validation_options(heldout),
        )
        return [_backend.to_numpy(p) / self._unit(1) for p in result.view], result
