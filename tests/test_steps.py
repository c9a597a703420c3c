"""Step rules: registering one is all it takes for the loop and every estimator to use it."""

from numbers import Real

import numpy as np
import pytest
from sklearn.base import clone

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow._optim import Problem, minimize
from sktensorflow._sklearn_private import Interval
from sktensorflow._steps import SOLVERS, StepRule, register_step_rule, step_rule_options


@pytest.fixture
def heavy_ball():
    """A momentum rule with one declared option, registered for the test only."""

    @register_step_rule("heavy_ball")
    class HeavyBall(StepRule):
        options = {"momentum": (0.5, [Interval(Real, 0, 1, closed="left")])}

        def __init__(self, learning_rate, **options):
            super().__init__(learning_rate, **options)
            self.velocity = None

        def step(self, problem, params, loss, grads, h_max):
            h = min(self.learning_rate, h_max)
            old = self.velocity or tuple(0 * g for g in grads)
            self.velocity = tuple(
                self.momentum * v - h * g for v, g in zip(old, grads, strict=True)
            )
            new = tuple(p + v for p, v in zip(params, self.velocity, strict=True))
            return (new, *problem.fun(new), h, 1)

    yield HeavyBall
    del SOLVERS["heavy_ball"]


def _quadratic(params):
    (x,) = params
    return 0.5 * float(x @ x), (x,)


def test_a_registered_rule_runs_in_the_loop_with_its_options(heavy_ball):
    assert step_rule_options("heavy_ball") == {"momentum": 0.5}
    x0 = (np.ones(2),)
    run = minimize(Problem(_quadratic, x0), solver="heavy_ball", learning_rate=0.1, max_iter=3,
                   tol=0.0, solver_options={"momentum": 0.9})  # fmt: skip
    # x1 = 0.9, v1 = -0.1; v2 = 0.9 * -0.1 - 0.1 * 0.9 = -0.18, x2 = 0.72; x3 = 0.72 - 0.234
    np.testing.assert_allclose(run.params[0], 0.486, rtol=1e-12)
    with pytest.raises(ValueError, match="'momentum' parameter of solver_options"):
        minimize(Problem(_quadratic, x0), solver="heavy_ball", solver_options={"momentum": 1})


@pytest.mark.parametrize(
    "estimator",
    [OverparamCP(width=4), DeflationFlowCP(width=4), TubalFactorizer(width=4), DeepTucker()],
    ids=lambda e: type(e).__name__,
)
def test_every_estimator_accepts_a_registered_rule(heavy_ball, estimator):
    X = np.random.default_rng(0).standard_normal((12, 6))
    est = clone(estimator).set_params(
        solver="heavy_ball",
        solver_options={"momentum": 0.2},
        learning_rate=1e-3,
        max_iter=5,
        random_state=0,
    )
    with pytest.warns(Warning):  # five iterations do not converge
        est.fit(X)
    assert est.n_iter_ >= 1 and np.all(np.isfinite(est.loss_curve_))
    with pytest.raises(ValueError, match=r"\['rtol'\], which solver='heavy_ball'"):
        est.set_params(solver_options={"rtol": 1e-3}).fit(X)


def test_unregistered_solver_is_rejected_by_name():
    with pytest.raises(ValueError, match="heavy_ball"):
        OverparamCP(solver="heavy_ball").fit(np.ones((4, 3)))


def _stiff_quadratic(curvature):
    """``½ c |x - 1|²`` with an identity preconditioner: a step ``h`` multiplies the
    error by ``1 - h c``, so ``h c > 2`` diverges."""

    def fun(params):
        (x,) = params
        return 0.5 * curvature * float((x - 1) @ (x - 1)), (curvature * (x - 1),)

    return Problem(fun, (np.zeros(3),), precondition=lambda params, grads, damping: grads)


def test_scaled_gd_halves_a_step_that_does_not_decrease_the_loss():
    """A step of 0.8 on curvature 3 would grow the error by 1.4 per iteration; the rule
    rejects it once, goes on at 0.4 (error times 0.2) and the loss never increases."""
    result = minimize(_stiff_quadratic(3.0), solver="scaled_gd", learning_rate=0.8, tol=1e-10)
    assert result.converged and np.allclose(result.params[0], 1.0)
    assert np.all(np.diff(result.loss_curve) <= 0)
    assert result.n_grad_evals == result.n_iter + 2  # the start and one rejected trial
    np.testing.assert_allclose(np.diff(result.time_curve), 0.4)
