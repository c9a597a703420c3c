"""The estimator contract: a fifth estimator written against the base passes every check.

``LowRankFactorizer`` below (``X ≈ A Bᵀ`` by gradient descent from a small start)
is all an estimator needs: parameters, a ``Problem``, ``_fit`` and ``transform``.
The base owns backend resolution, the loop, the solver options, diagnostics and
the atomic assignment of fitted attributes.
"""

import numpy as np
import pytest
from interruption import Interrupt, raise_at
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktensorflow._base import BaseOverparam, check_is_fitted
from sktensorflow._optim import Problem


class LowRankFactorizer(BaseOverparam):
    """Low-rank matrix factorization ``X ≈ A Bᵀ``; ``rank_`` counts the columns that grew."""

    _model_attributes = ("components_",)

    def __init__(self, width=8, *, init_scale=1e-3, learning_rate="auto", solver="gd",
                 solver_options=None, max_iter=500, tol=1e-4, rank_tol=1e-2,
                 random_state=None, verbose=0, callback=None, backend=None):  # fmt: skip
        self.width, self.init_scale, self.learning_rate = width, init_scale, learning_rate
        self.solver, self.solver_options, self.max_iter = solver, solver_options, max_iter
        self.tol, self.rank_tol, self.random_state = tol, rank_tol, random_state
        self.verbose, self.callback, self.backend = verbose, callback, backend

    def _fit(self, X):
        X = self._validate_input(X, reset=True)
        sigma = max(float(np.linalg.norm(X, 2)), 1e-300)
        rng, size = self._rng(), self.init_scale * np.sqrt(sigma / self.width)
        start = [size * rng.standard_normal((n, self.width)) for n in X.shape]
        T = self._to_backend(X)

        def fun(params):
            A, B = params
            R = A @ B.T - T
            return 0.5 * float((R * R).sum()), (R @ B, R.T @ A)

        problem = Problem(fun, tuple(self._to_backend(p) for p in start), rate_scale=sigma)
        lr = 0.5 / sigma if self.learning_rate == "auto" else self.learning_rate
        A, B = (np.asarray(p) for p in self._minimize(problem, learning_rate=lr).view)
        _, s, Vt = np.linalg.svd(A @ B.T, full_matrices=False)
        self.rank_ = int(np.sum(s > self.rank_tol * s[0])) if s[0] > 0 else 0
        self.components_ = Vt[: self.rank_]
        self._n_features_out = self.rank_

    def transform(self, X):
        check_is_fitted(self)
        return self._validate_input(X, reset=False) @ np.asarray(self.components_).T


@parametrize_with_checks([LowRankFactorizer()])
def test_fifth_estimator_passes_every_check(estimator, check):
    check(estimator)


def _low_rank(seed=0, shape=(30, 20), rank=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((shape[0], rank)) @ rng.standard_normal((rank, shape[1]))


def test_fifth_estimator_finds_the_rank_and_has_the_shared_diagnostics():
    est = LowRankFactorizer(width=10, max_iter=3000, random_state=0).fit(_low_rank())
    assert est.rank_ == 3
    assert est.stop_reason_ == "tol" and est.n_iter_ < 3000
    assert est.loss_curve_.shape == est.time_curve_.shape == (est.n_iter_ + 1,)
    assert est.n_grad_evals_ == est.n_iter_ + 1
    assert est.learning_rate_ > 0 and est.history_iter_.size == est.history_time_.size


def test_a_failed_refit_leaves_the_previous_model_intact():
    X = _low_rank()
    est = LowRankFactorizer(width=10, max_iter=3000, random_state=0).fit(X)
    before = {k: v for k, v in vars(est).items() if k.endswith("_")}
    with pytest.raises(Interrupt):
        est.set_params(callback=raise_at(5)).fit(_low_rank(1, shape=(12, 7)))
    after = {k: v for k, v in vars(est).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    np.testing.assert_array_equal(
        est.set_params(callback=None).transform(X), X @ before["components_"].T
    )


def test_a_failed_first_fit_leaves_the_estimator_unfitted():
    est = LowRankFactorizer(callback=raise_at(2))
    with pytest.raises(Interrupt):
        est.fit(_low_rank())
    assert not [k for k in vars(est) if k.endswith("_") or k == "_backend_name"]
    with pytest.raises(NotFittedError):
        est.transform(_low_rank())


def test_set_output_configuration_survives_a_refit():
    est = LowRankFactorizer(width=6, random_state=0).set_output(transform="pandas")
    X = _low_rank()
    assert type(est.fit(X).fit(X).transform(X)).__name__ == "DataFrame"


@pytest.mark.parametrize(
    "options, match",
    [({"rtol": 1e-3}, r"\['rtol'\], which solver='gd'"), ({"beta1": 2.0}, "'beta1' parameter")],
)
def test_solver_options_are_validated_for_every_estimator(options, match):
    solver = "adam" if "beta1" in options else "gd"
    with pytest.raises(ValueError, match=match):
        LowRankFactorizer(solver=solver, solver_options=options).fit(_low_rank())


def test_the_callback_sees_the_problems_view_and_loop_options_reach_the_rule():
    seen = []
    est = LowRankFactorizer(
        width=4,
        solver="flow",
        solver_options={"rtol": 1e-2},
        max_iter=5,
        tol=0,
        callback=lambda state: seen.append(tuple(p.shape for p in state.params)),
    )
    with pytest.warns(Warning):
        est.fit(_low_rank())
    assert seen == [((30, 4), (20, 4))] * 5
