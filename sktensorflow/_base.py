"""Private base estimator shared by the four estimators.

It owns the shared parameter vocabulary and its validation, the ``fit``
template (backend resolution, one RNG per fit, atomic assignment of fitted
attributes), the call into the one optimization loop with the step rule's
validated options, and the conversion of fitted attributes to the input's array
namespace. Estimator modules import scikit-learn's private helpers from
:mod:`sktensorflow._sklearn_private` through here.

Writing an estimator on this base takes ``__init__`` (parameters only), a
``_fit(X)`` that computes host (numpy) fitted attributes on ``self`` — it runs
on a scratch copy inside the resolved backend's context, so a failure leaves the
estimator as it was — and ``_model_attributes``, the fitted attributes that
follow the input's array namespace.
"""

import copy
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _backend, _precision
from ._doc_url import API_PAGE_TEMPLATE, DOC_LINK_MODULE
from ._optim import SOLVERS, minimize
from ._sklearn_private import Interval, StrOptions, validate_parameter_constraints
from ._steps import step_rule_options
from ._warm_start import WarmStartMixin

#: A loss peak above this multiple of the initial loss is reported as divergence.
DIVERGENCE_FACTOR = 10.0

__all__ = [
    "BaseOverparam",
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "check_is_fitted",
]


def _outside_package_stacklevel():
    """``stacklevel`` that points a warning at the first caller outside the package.

    Counted from the function that calls this one, which issues the warning.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and _in_package(frame.f_globals.get("__name__", "")):
        frame, level = frame.f_back, level + 1
    return level


def _in_package(module_name):
    return module_name == __package__ or module_name.startswith(__package__ + ".")


class BaseOverparam(
    WarmStartMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Shared machinery of the over-parametrized estimators (not public)."""

    _parameter_constraints: dict = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "solver": [StrOptions(SOLVERS.keys())],  # a live view: registered rules count
        "solver_options": [dict, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "rank_tol": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callback": [callable, None],
        "backend": [StrOptions(set(_backend.SUPPORTED)), None],
        "warm_start": ["boolean"],
        **_precision.PARAMETER_CONSTRAINTS,
    }

    #: Fitted attributes that follow the input's array namespace (the others stay numpy).
    _model_attributes: tuple = ()

    # The HTML repr links to the estimator's API page (sktensorflow._doc_url).
    _doc_link_module = DOC_LINK_MODULE
    _doc_link_template = API_PAGE_TEMPLATE

    # -- the fit template ---------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the model to ``X`` (see the class docstring for ``X``).

        Parameters
        ----------
        X : array-like
            The data; its array library chooses the backend when ``backend=None``.
        y : Ignored

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        work = self._without_fitted_state()
        work._begin_fit(vars(self).get("_warm_state"))  # see sktensorflow._warm_start
        before = dict(vars(work))
        probe = self._backend_probe(X)
        work._backend_name = _backend.resolve_backend(self.backend, probe)
        work._fit_precision = _precision.resolve(self, work._backend_name, probe)
        with _backend.backend_context(work._backend_name), _precision.active(work._fit_precision):
            work._fit(X)
        created = [k for k, v in vars(work).items() if k not in before or v is not before[k]]
        self._adopt(work, created)
        return self

    def _fit(self, X):
        """Compute the fitted attributes on ``self`` (a scratch copy), as host arrays."""
        raise NotImplementedError

    def _backend_probe(self, X):
        """The array whose library chooses the backend when ``backend=None``."""
        return X

    def _without_fitted_state(self):
        """A shallow copy without the attributes the previous fit created."""
        work = copy.copy(self)
        for name in getattr(self, "_fitted_names", ()):
            vars(work).pop(name, None)
        vars(work).pop("_fitted_names", None)
        return work

    def _adopt(self, work, created):
        """Replace this estimator's fitted state by what ``work``'s fit created, in one step.

        Only attributes the fit created are exchanged, so configuration set on
        the estimator by others (``set_output``, a pipeline's callback context)
        is kept.
        """
        new = {name: vars(work)[name] for name in created}
        for name in self._model_attributes:
            if name in new:
                new[name] = _precision.to_output(
                    new[name], work._backend_name, work._fit_precision
                )
        for name in getattr(self, "_fitted_names", ()):
            vars(self).pop(name, None)
        vars(self).update(new, _fitted_names=tuple(created))

    def set_rank_tol(self, rank_tol):
        """Set ``rank_tol`` and re-read the rank estimate of the fitted model, without refitting.

        Recomputes the rank estimate (``rank_``, ``tubal_rank_`` or
        ``multilinear_rank_``) and what depends on it (the recovered
        components, their weights or singular tubes, and the basis
        ``transform``, ``complete`` and ``score`` fold rows in on) from the
        stored over-parametrized parameters, exactly as a fit with this
        ``rank_tol`` reads them. The parameters themselves, and the histories
        recorded during the fit (e.g. ``rank_history_``), are not changed.
        ``rank_tol`` also steers the saddle checks during a fit, so a fit with
        the new value may follow another trajectory where such a check
        re-seeds (``n_escapes_ > 0``).

        Parameters
        ----------
        rank_tol : float in [0, 1]
            The new relative threshold (see the class's ``rank_tol``).

        Returns
        -------
        self : object
            The estimator, with ``rank_tol`` and the rank estimate updated.

        Examples
        --------
        >>> from sktensorflow import OverparamCP
        >>> from sktensorflow.datasets import make_symmetric_cp
        >>> T, _ = make_symmetric_cp(8, 3, order=3, weights=[1.0, 0.5, 0.05], random_state=0)
        >>> est = OverparamCP(width=20, tensor="precomputed", random_state=0).fit(T)
        >>> est.rank_, est.set_rank_tol(0.1).rank_, est.rank_tol
        (3, 2, 0.1)
        """
        check_is_fitted(self)
        constraint = {"rank_tol": self._parameter_constraints["rank_tol"]}
        validate_parameter_constraints(constraint, {"rank_tol": rank_tol}, "set_rank_tol")
        work = copy.copy(self)
        work.rank_tol = rank_tol
        before = dict(vars(work))
        with _backend.backend_context("numpy"):
            work._rethreshold()
        changed = {k: v for k, v in vars(work).items() if k not in before or v is not before[k]}
        for name in self._model_attributes:
            if name in changed:
                changed[name] = _precision.to_output(
                    changed[name], self._backend_name, vars(self).get("_fit_precision")
                )
        names = (*self._fitted_names, *(k for k in changed if k not in self._fitted_names))
        vars(self).update(changed, rank_tol=rank_tol, _fitted_names=names)
        return self

    def _rethreshold(self):
        """Recompute the rank estimate at ``self.rank_tol`` (host arrays, on a scratch copy)."""
        raise NotImplementedError

    # -- input -----------------------------------------------------------------
    def _validate_input(self, X, *, reset, allow_nan=False, allow_nd=False):
        """Validate ``X`` into a float64 numpy array (``n_features_in_`` when ``reset``).

        A torch tensor that requires grad is detached first (its values are data).
        """
        return validate_data(
            self,
            _backend.detached(X),
            reset=reset,
            dtype=np.float64,
            allow_nd=allow_nd,
            ensure_all_finite="allow-nan" if allow_nan else True,
            ensure_min_samples=1,
            ensure_min_features=1,
        )

    def _loop_callback(self):
        """The user's ``callback`` as the loop calls it (estimators in other units wrap it)."""
        return self.callback

    def _rng(self):
        """The one random generator of a fit (a warm start's: the previous fit's, continued)."""
        rng = self._warm.rng if self._continuing() else check_random_state(self.random_state)
        self._note("rng", rng)
        return rng

    @staticmethod
    def _to_backend(array):
        """A host array on the active backend, as the fit's dtype on its device."""
        return _backend.to_backend(array)

    # -- optimization ------------------------------------------------------------
    def _preferred_solver_options(self):
        """Options this estimator prefers for the rules that take them (user's win)."""
        return {}

    def _solver_options(self):
        taken = step_rule_options(self.solver)
        preferred = self._preferred_solver_options()
        return {
            **{k: v for k, v in preferred.items() if k in taken},
            **(self.solver_options or {}),
        }

    def _minimize(self, problem, *, learning_rate, **loop_options):
        """Run the shared loop on ``problem`` with this estimator's solver settings.

        Sets the diagnostics every estimator has: ``n_iter_``, ``n_grad_evals_``,
        ``n_escapes_``, ``loss_curve_``, ``time_curve_``, ``stop_reason_``, ``learning_rate_``,
        ``history_iter_`` and ``history_time_``, and returns the result.
        """
        if not self._continuing():
            self._check_start(problem.start)
        problem, max_iter, loop_options = self._warm_loop(problem, loop_options)
        result = minimize(
            problem,
            solver=self.solver,
            learning_rate=learning_rate,
            solver_options=self._solver_options(),
            max_iter=max_iter,
            tol=self.tol,
            callback=self._loop_callback(),
            verbose=bool(self.verbose),
            **loop_options,
        )
        self._keep_warm_state(problem, loop_options, result)
        self._check_moved(problem, result)
        message = self._divergence_message(result)
        if message is None and not result.converged:
            message = self._convergence_message(result)
        if message is not None:
            warnings.warn(message, ConvergenceWarning, stacklevel=_outside_package_stacklevel())
        self.n_iter_ = result.n_iter
        self.n_grad_evals_ = result.n_grad_evals
        self.n_escapes_ = result.n_escapes
        self.loss_curve_ = result.loss_curve
        self.time_curve_ = result.time_curve
        self.stop_reason_ = result.stop_reason
        self.learning_rate_ = float(learning_rate)
        self.history_iter_ = np.asarray(result.history_iter, dtype=int)
        self.history_time_ = np.asarray(result.history_time, dtype=float)
        return result

    def _check_start(self, start):
        """Refuse a start that underflows the working dtype (:func:`~._precision.check_start`)."""
        init_scale = vars(self).get("init_scale_", self.init_scale)
        _precision.check_start(start, init_scale, _backend.working_dtype())

    def _warn_zero_data(self, rank_name):
        """Warn that the data are all zero, so the fitted ``rank_name`` is 0."""
        warnings.warn(
            f"{type(self).__name__} was fitted on data whose (observed) entries are all "
            f"zero: there is nothing to factorize and {rank_name} is 0.",
            UserWarning,
            stacklevel=_outside_package_stacklevel(),
        )

    def _check_moved(self, problem, result):
        """Refuse a fit whose loss never changed while there was data to fit.

        From a start so small that the gradient underflows (or rounds to
        nothing against the factors), the iteration cannot move: ``tol``
        passes at once, or the loss stays exactly at its initial value. (On
        all-zero data the start is itself a fit, and the zero model's loss is
        zero: nothing to refuse.)
        """
        curve = result.loss_curve
        if not (curve[0] > 0 and np.all(curve == curve[0])):
            return
        if problem.fun(tuple(0 * p for p in problem.start))[0] > 0:
            raise ValueError(
                f"init_scale={self.init_scale!r} is too small for this data: at the start the "
                f"gradient vanishes to working precision and the loss never changed "
                f"({result.n_iter} iterations). Use a larger init_scale."
            )

    def _divergence_message(self, result):
        """A warning if the loss rose far above its start (the steps were too long), else None.

        Descent from a small start never raises the loss much above its initial
        value, so a peak above ``DIVERGENCE_FACTOR`` times it means the
        iteration was unstable, even when it later came back down or was
        stopped by ``max_iter`` or ``tol`` before the loss overflowed.
        """
        curve = result.loss_curve
        start, peak = float(curve[0]), float(np.max(curve))
        if not peak > DIVERGENCE_FACTOR * start:
            return None
        advice = "" if self.solver == "flow" else ", or solver='flow', which adapts its step"
        return (
            f"{type(self).__name__}'s loss rose to {peak / start:.3g} times its initial value "
            f"(final: {float(curve[-1]) / start:.3g} times) with solver={self.solver!r} and "
            f"learning_rate={self.learning_rate!r}: the steps are too long for this problem "
            f"and the iteration diverged. Use a smaller learning_rate{advice}."
        )

    def _convergence_message(self, result):
        name = type(self).__name__
        if result.stop_reason == "saddle":
            return (
                f"{name} stopped at a saddle point: after {result.n_escapes} re-seedings the "
                f"residual still has a direction the model would count as a component, so "
                f"the fitted rank is too low. Try another random_state, a larger width or "
                f"a smaller init_scale."
            )
        return (
            f"{name} did not converge in max_iter={self.max_iter} iterations; "
            f"increase max_iter or tol."
        )

    # -- output ------------------------------------------------------------------
    def _as_input_namespace(self, array, X):
        """Return ``array`` as the fit's dtype, in the namespace (and on the device) of ``X``."""
        return _precision.as_input(array, X, vars(self).get("_fit_precision"))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags
