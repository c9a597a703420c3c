"""TubalSensing: low-tubal-rank recovery from linear measurements, as a regressor."""

import copy
import math
import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _backend, _precision
from . import tproduct as tp
from ._base import BaseOverparam, _outside_package_stacklevel
from ._early_stopping import EarlyStoppingMixin, heldout_total_sq, validation_attributes
from ._optim import minimize
from ._sensing_loop import (
    chain_callbacks,
    divergence_stop,
    heldout_rows,
    operator_scales,
    with_heldout,
)
from ._sklearn_private import Interval
from .metrics import count_above, effective_rank
from .models import tubal_sensing as ms

__all__ = ["TubalSensing"]

#: Iterations between two evaluations of the held-out residual (``early_stopping=True``).
VALIDATION_EVERY = 10


class TubalSensing(RegressorMixin, BaseEstimator):
    """Low-tubal-rank tensor sensing by over-parametrized gradient descent.

    Each sample is one measurement: a row of ``X`` is a measurement tensor
    ``G_j`` of shape ``shape`` flattened in C order, and ``y_j`` the measured
    value ``<G_j, X*> (+ noise)``. The estimator fits ``X* ≈ A * B^T`` (or
    ``U * U^T`` with ``symmetric=True``; t-product, tubes along the last axis of
    ``shape``) with factors of ``width`` lateral slices, from a small random
    initialization, by gradient descent on ``½ sum_j (<G_j, A * B^T> - y_j)²``
    (Karnik, Veselovska, Iwen and Krahmer, "Implicit Regularization for Tubal
    Tensor Factorizations via Gradient Descent", ICML 2025). As a regressor it
    is a trace regression: :meth:`predict` returns ``<G, X̂>`` for new
    measurement tensors, ``coef_`` is ``vec(X̂)``, and :meth:`score` is the R² of
    the predicted measurements. The implicit bias of the small initialization
    towards low tubal rank means the rank need not be known: ``width`` only has
    to exceed it, and ``tubal_rank_`` is read off the fitted tensor.

    Parameters
    ----------
    width : int, default=16
        Lateral slices of each factor (the model's largest tubal rank).
    shape : tuple (n1, n2, k), default=None
        Shape of a measurement tensor, ``n1 * n2 * k == n_features``. ``None``
        is ``(1, n_features, 1)``: ordinary linear regression with a factorized
        coefficient vector.
    symmetric : bool, default=False
        Fit ``U * U^T`` (needs ``n1 == n2``); the measurement tensors need not be
        symmetric.
    normalize : bool, default=False
        Divide the operator and the values by ``sqrt(m)``, i.e. minimize
        ``(1/2m) sum_j r_j²`` (the operator of restricted-isometry analyses).
        The default is the plain sum of squares (no ``1/m``, as in the released
        code of the paper). With ``learning_rate="auto"`` the iterates are the
        same either way; a given ``learning_rate`` is a step on the chosen loss.
    init_scale : float, default=1e-3
        Entries of the factors start as ``init_size_ * N(0, 1) / sqrt(width)``
        with ``init_size_ = init_scale * sqrt(sigma)``, ``sigma`` an estimate of
        the truth's largest Fourier-slice singular value that errs on the large
        side (the larger of the spectral estimate ``reshape(G^T y)`` over the
        mean of ``diag(G^T G)`` and of the minimum-norm least-squares
        solution), so the start is ``init_scale`` times the size
        of a fitted factor whatever the scale of ``y``. ``init_size_`` is the
        paper's ``alpha``.
    learning_rate : float or "auto", default="auto"
        Step of the solver. ``"auto"`` is ``0.3 / (||G||_2² sigma)`` (``0.6 / ...``
        for the asymmetric model), with ``||G||_2`` the operator's spectral norm
        (after the normalization): within the stability bound of gradient descent
        at a fit. The paper's experiments use ``1e-5`` on the plain sum.
    solver : {"gd", "scaled_gd", "flow", "adam"}, default="gd"
        Step rule of the shared loop; fixed-step gradient descent is the
        analysed algorithm. (``"scaled_gd"`` has no preconditioner for
        measurements and is refused.)
    solver_options : dict, default=None
        Options of the step rule (see :class:`~sktensorflow.TubalFactorizer`).
    max_iter : int, default=5000
    tol : float, default=1e-4
        Stop when no Fourier coordinate of a factor changes faster than
        ``tol * mean_sq * sigma`` relative to the factor's root-mean-square entry.
        ``0`` runs ``max_iter`` iterations, as the paper does.
    rank_tol : float, default=1e-2
        Fourier-slice singular values below ``rank_tol`` times the largest are
        not counted in ``tubal_rank_``.
    divergence_threshold : float or None, default=20.0
        Stop when the relative measurement residual ``||G vec(X) - y|| / ||y||``
        exceeds this value (or is not finite), with a ``ConvergenceWarning``: the
        released code's stop (there on the test error, which needs the truth;
        the residual is its observable counterpart). ``None`` disables it.
    early_stopping : bool, default=False
        Withhold ``validation_fraction`` of the measurements (drawn with
        ``random_state``), evaluate the fit's residual on them every 10
        iterations, stop after ``n_iter_no_change`` evaluations without
        improvement and keep the best iterate. With noisy measurements the
        small-initialization iterates first fit the truth's components and then
        the noise, so the stopping time selects the rank: on 200 measurements of
        a rank-2 ``8 x 8 x 2`` t-projector with noise 0.1, fitting to ``tol``
        ends at tubal rank 4 and relative error 0.046, the best iterate has
        0.033 (``tests/test_tubal_sensing.py``). ``False`` (the default) runs
        the analysed algorithm on all measurements.
    validation_fraction : float, default=0.1
        Share of the measurements withheld when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Evaluations of the held-out residual without improvement before stopping.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Show a progress bar with the loss.
    callback : callable, default=None
        Called after every iteration with an ``OptimState`` whose ``params`` are
        the factors ``(A, B)`` (``(U,)`` when symmetric); return ``True`` to stop.
    backend : str, default=None
        Tensorly backend of the iteration; ``None`` uses the input's array library.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the fit on the backend (data, parameters, gradients) and
        dtype of ``factors_``, ``coef_`` and the output of ``predict``. With
        ``"float32"``, a start whose entries or products ``A·B`` fall below
        float32's normal range (a tiny ``init_scale``) is a ``ValueError``
        (user guide, "dtype and device").
    device : str, default=None
        Torch device of the computation, e.g. ``"cuda:0"`` (pytorch backend;
        elsewhere only ``"cpu"``). ``None``: the input's device. Fitted
        attributes and outputs follow the input's array library and device.

    Attributes
    ----------
    shape_ : tuple (n1, n2, k)
    factors_ : list of two ndarrays
        ``[A, B]`` of shapes (n1, width, k) and (n2, width, k) (``[U, U]`` when
        symmetric).
    coef_ : ndarray of shape ``(n_features_in_,)``
        ``vec(A * B^T)``: :meth:`predict` is ``X @ coef_``.
    singular_values_ : ndarray of shape (k // 2 + 1, min(n1, n2, width))
        Singular values of each independent Fourier slice of the fitted tensor.
    tubal_rank_ : int
    effective_rank_ : float
        Largest Roy-Vetterli effective rank of the Fourier slices.
    singular_values_history_ : ndarray of shape (n_records, k // 2 + 1, n_singular)
    tubal_rank_history_ : ndarray of shape (n_records,)
    history_iter_, history_time_ : ndarray of shape (n_records,)
        Iterations (and flow times) of the records.
    init_size_ : float
        The absolute initialization scale ``alpha``.
    learning_rate_ : float
    diverged_at_ : int or None
        Iteration of the divergence stop (``None`` if it did not fire).
    n_iter_, n_grad_evals_, n_escapes_, stop_reason_, loss_curve_, time_curve_
        As for the other estimators; the loss is on the (normalized) measurements.
    validation_scores_ : ndarray of shape (n_checks,) or None
        With ``early_stopping=True``: R² of the predicted withheld measurements at
        each evaluation (``validation_iter_`` the iterations), else ``None``.
    best_validation_score_, best_iter_ : float, int or None
        The best held-out R² and its iteration (the iterate kept).
    n_features_in_ : int

    Examples
    --------
    >>> from sktensorflow import TubalSensing
    >>> from sktensorflow.datasets import make_tubal_sensing
    >>> X, y, truth = make_tubal_sensing((6, 6, 3), 2, 150, random_state=0)
    >>> est = TubalSensing(width=8, shape=(6, 6, 3), symmetric=True, random_state=0).fit(X, y)
    >>> est.tubal_rank_, bool(est.score(X, y) > 0.999)
    (2, True)
    """

    _parameter_constraints: dict = {
        **BaseOverparam._parameter_constraints,
        "shape": [tuple, list, None],
        "symmetric": ["boolean"],
        "normalize": ["boolean"],
        "divergence_threshold": [Interval(Real, 0, None, closed="neither"), None],
        **EarlyStoppingMixin._early_stopping_constraints,
    }

    #: Fitted attributes that follow the input's array namespace.
    _model_attributes = ("factors_", "coef_")

    def __init__(
        self,
        width=16,
        *,
        shape=None,
        symmetric=False,
        normalize=False,
        init_scale=1e-3,
        learning_rate="auto",
        solver="gd",
        solver_options=None,
        max_iter=5000,
        tol=1e-4,
        rank_tol=1e-2,
        divergence_threshold=20.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=None,
        verbose=0,
        callback=None,
        backend=None,
        dtype="float64",
        device=None,
    ):
        self.width = width
        self.shape = shape
        self.symmetric = symmetric
        self.normalize = normalize
        self.init_scale = init_scale
        self.learning_rate = learning_rate
        self.solver = solver
        self.solver_options = solver_options
        self.max_iter = max_iter
        self.tol = tol
        self.rank_tol = rank_tol
        self.divergence_threshold = divergence_threshold
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback
        self.backend = backend
        self.dtype = dtype
        self.device = device

    def fit(self, X, y):
        """Fit the factorization to the measurements.

        A failed fit leaves the estimator as it was (fitted attributes are
        assigned at once at the end).

        Parameters
        ----------
        X : array-like of shape (n_measurements, n1 * n2 * k)
            Measurement tensors, flattened in C order of ``shape``.
        y : array-like of shape (n_measurements,)
            Measured values.

        Returns
        -------
        self : TubalSensing
        """
        self._validate_params()
        work = copy.copy(self)
        previous = getattr(self, "_fitted_names", ())
        for name in previous:
            vars(work).pop(name, None)
        backend = _backend.resolve_backend(self.backend, X)
        fitted = {"_fit_precision": _precision.resolve(self, backend, X)}
        with _backend.backend_context(backend), _precision.active(fitted["_fit_precision"]):
            fitted.update(work._fit(X, y))
        for name in previous:
            vars(self).pop(name, None)
        for name in self._model_attributes:
            fitted[name] = _precision.to_output(fitted[name], backend, fitted["_fit_precision"])
        vars(self).update(fitted, _fitted_names=tuple(fitted))
        return self

    def predict(self, X):
        """Predicted measurements ``<G, X̂>`` of the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n1 * n2 * k)

        Returns
        -------
        y : ndarray of shape (n_samples,)
            In the array library of ``X``.
        """
        check_is_fitted(self)
        Xv = validate_data(self, _backend.detached(X), reset=False, dtype=np.float64)
        pred = Xv @ _backend.to_numpy(self.coef_)
        return _precision.as_input(pred, X, vars(self).get("_fit_precision"))

    # -- fit (on a copy: ``_fit`` returns the fitted attributes) --------------------
    def _resolve_shape(self, n_features):
        shape = (1, n_features, 1) if self.shape is None else tuple(self.shape)
        if len(shape) != 3 or any(int(s) != s or s < 1 for s in shape):
            raise ValueError(f"shape must be three positive integers, got {self.shape!r}.")
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"shape={self.shape!r} has {math.prod(shape)} entries, but X has "
                f"{n_features} features (one flattened measurement tensor per row)."
            )
        if self.symmetric and shape[0] != shape[1]:
            raise ValueError(f"symmetric=True needs shape (n, n, k), got shape={shape}.")
        return shape

    def _fit(self, X, y):
        if self.solver == "scaled_gd":
            raise ValueError("solver='scaled_gd' has no preconditioner for measurements.")
        X, y = validate_data(
            self, _backend.detached(X), _backend.detached(y), dtype=np.float64, y_numeric=True
        )
        shape = self._resolve_shape(X.shape[1])
        rng = check_random_state(self.random_state)
        held = heldout_rows(len(y), self.validation_fraction, rng) if self.early_stopping else None
        X_fit, y_fit = (X, y) if held is None else (X[~held], y[~held])
        c = ms.measurement_scale(X_fit.shape[0], self.normalize)
        norm_sq, mean_sq, sigma = operator_scales(c * X_fit, c * y_fit, shape)
        if sigma == 0:
            _warn("All measurements are zero: tubal_rank_ is 0.", UserWarning)
            sigma = 1.0
        init_size = float(self.init_scale) * math.sqrt(sigma)
        params = self._initial_factors(rng, shape, init_size)
        params = tuple(_backend.to_backend(p) for p in params)
        _precision.check_start(params, self.init_scale, _backend.working_dtype())
        rate = self.learning_rate
        if rate == "auto":
            rate = (0.3 if self.symmetric else 0.6) / (max(norm_sq, mean_sq) * sigma)
        problem = ms.sensing_problem(
            params,
            _backend.to_backend(X_fit),
            _backend.to_backend(y_fit),
            shape,
            normalize=self.normalize,
            rate_scale=mean_sq * sigma,
        )
        if held is not None:
            problem = with_heldout(problem, params, X[held], y[held], shape)
        stop = self._divergence_stop(c * float(np.linalg.norm(y_fit)))
        result = self._minimize(problem, float(rate), stop)
        with _backend.backend_context("numpy"):
            fitted = self._fitted(tuple(_backend.to_numpy(p) for p in result.view), result)
        total_sq = 0.0 if held is None else heldout_total_sq(y[held])
        fitted.update(validation_attributes(result, total_sq))
        fitted.update(shape_=shape, init_size_=init_size, learning_rate_=float(rate))
        fitted.update(n_features_in_=self.n_features_in_)
        fitted.update(diverged_at_=None if stop is None else stop.diverged_at)
        if fitted["diverged_at_"] is not None:
            fitted["stop_reason_"] = "diverged"
        return fitted

    def _initial_factors(self, rng, shape, init_size):
        n1, n2, k = shape
        size = init_size / math.sqrt(self.width)
        A = size * rng.standard_normal((n1, self.width, k))
        return (A,) if self.symmetric else (A, size * rng.standard_normal((n2, self.width, k)))

    def _divergence_stop(self, y_norm):
        if self.divergence_threshold is None:
            return None
        tiny = np.finfo(float).tiny
        return divergence_stop(
            self.divergence_threshold, lambda state: math.sqrt(2 * state.loss) / max(y_norm, tiny)
        )

    def _minimize(self, problem, rate, stop):
        result = minimize(
            problem,
            solver=self.solver,
            learning_rate=rate,
            solver_options=self.solver_options,
            max_iter=self.max_iter,
            tol=self.tol,
            callback=chain_callbacks(self.callback, stop),
            verbose=bool(self.verbose),
            record=self._record,
            record_every=max(10, self.max_iter // 200),
            n_iter_no_change=self.n_iter_no_change if problem.heldout_loss else None,
            validation_every=VALIDATION_EVERY,
        )
        if stop is not None and stop.diverged_at is not None:
            _warn(
                f"TubalSensing stopped at iteration {stop.diverged_at}: the relative "
                f"measurement residual exceeded divergence_threshold="
                f"{self.divergence_threshold!r} with learning_rate={rate:.3g}; the iteration "
                f"diverged. Use a smaller learning_rate."
            )
        elif not result.converged and self.tol > 0:
            _warn(
                f"TubalSensing did not converge in max_iter={self.max_iter} iterations; "
                f"increase max_iter or tol."
            )
        return result

    def _record(self, factors):
        s = tp.tubal_singular_values_factorized(factors[0], factors[-1])
        return {"rank": count_above(s, self.rank_tol, axis=1), "singular_values": s}

    def _fitted(self, factors, result):
        """The fitted attributes, from the final factors and the loop's result."""
        A, B = factors[0], factors[-1]
        s = tp.tubal_singular_values_factorized(A, B)
        nonzero = bool(np.any(s))
        return dict(
            factors_=[A, B],
            coef_=np.ascontiguousarray(tp.t_product(A, tp.t_transpose(B))).reshape(-1),
            singular_values_=s,
            tubal_rank_=count_above(s, self.rank_tol, axis=1) if nonzero else 0,
            effective_rank_=max(effective_rank(r) for r in s) if nonzero else 0.0,
            tubal_rank_history_=np.asarray(result.history["rank"]),
            singular_values_history_=np.asarray(result.history["singular_values"]),
            history_iter_=np.asarray(result.history_iter, dtype=int),
            history_time_=np.asarray(result.history_time, dtype=float),
            n_iter_=result.n_iter,
            n_grad_evals_=result.n_grad_evals,
            stop_reason_=result.stop_reason,
            loss_curve_=result.loss_curve,
            time_curve_=result.time_curve,
        )


def _warn(message, category=ConvergenceWarning):
    warnings.warn(message, category, stacklevel=_outside_package_stacklevel())
