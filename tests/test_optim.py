"""The one iteration loop: step rules, stopping rules, schedules, callbacks, records."""

import numpy as np
import pytest

from sktensorflow._optim import Problem, Schedule, minimize
from sktensorflow._sklearn_private import InvalidParameterError


def quadratic(curvatures, center=0.0):
    """``½ Σ c_i (x_i - b)²``: the flow is ``x_i(t) = b + (x_i(0) - b) exp(-c_i t)``."""
    c = np.asarray(curvatures, dtype=float)

    def fun(params):
        r = params[0] - center
        return 0.5 * float(np.sum(c * r * r)), (c * r,)

    return fun, c


def test_gd_is_the_euler_scheme():
    fun, c = quadratic([1.0, 3.0])
    x0 = np.array([1.0, -2.0])
    res = minimize(Problem(fun, (x0,)), solver="gd", learning_rate=0.1, max_iter=7, tol=0.0)
    np.testing.assert_allclose(res.params[0], x0 * (1 - 0.1 * c) ** 7, rtol=1e-13)
    np.testing.assert_allclose(res.time_curve, 0.1 * np.arange(8), rtol=1e-13)
    assert res.n_iter == 7 and res.n_grad_evals == 8 and res.stop_reason == "max_iter"
    assert not res.converged


def test_flow_follows_the_exact_trajectory_with_adaptive_steps():
    # Stiff quadratic: curvatures spanning three decades.
    fun, c = quadratic([1e-2, 1.0, 10.0])
    x0 = np.ones(3)
    res = minimize(
        Problem(fun, (x0,)),
        solver="flow",
        learning_rate=1e-3,
        max_time=50.0,
        max_iter=10**4,
        tol=0.0,
    )
    assert res.stop_reason == "max_time"
    assert res.time_curve[-1] == pytest.approx(50.0, rel=1e-12)
    # Error control is relative to the size of the parameter array as a whole.
    exact = x0 * np.exp(-c * 50.0)
    assert np.max(np.abs(res.params[0] - exact)) <= 1e-3 * np.max(np.abs(exact))
    # Steps grow from the first trial step of 1e-3 (a fixed step would need 50 000).
    assert res.n_iter < 500
    assert np.all(np.diff(res.loss_curve) <= 0)


@pytest.mark.parametrize("solver", ["gd", "flow", "adam"])
def test_tol_stops_on_the_relative_rate(solver):
    fun, _ = quadratic([1.0, 2.0], center=1.0)
    res = minimize(
        Problem(fun, (np.zeros(2),)), solver=solver, learning_rate=0.1, max_iter=5000, tol=1e-6
    )
    assert res.stop_reason == "tol" and res.converged
    # The rule: largest |grad| relative to the parameters' root-mean-square size.
    _, (g,) = fun(res.params)
    x = res.params[0]
    assert np.max(np.abs(g)) <= 1e-6 * np.sqrt(np.mean(x * x))
    assert res.n_iter > 1


def test_target_loss_and_custom_scale():
    fun, _ = quadratic([1.0])
    res = minimize(
        Problem(fun, (np.ones(1),)), solver="gd", learning_rate=0.1, tol=0.0, target_loss=1e-4
    )
    assert res.stop_reason == "target_loss"
    assert res.loss_curve[-1] <= 1e-4 < res.loss_curve[-2]
    # With a fixed unit scale, tol is an absolute gradient threshold.
    res = minimize(
        Problem(fun, (np.ones(1),), scale=lambda p: (np.ones(1),)),
        learning_rate=0.1,
        tol=1e-3,
        max_iter=10**4,
    )
    assert abs(res.params[0][0]) <= 1e-3 < abs(res.params[0][0]) / 0.9


def test_schedule_fires_at_its_flow_times_and_can_stop():
    fun, _ = quadratic([1.0])
    fired = []

    def action(params, time, index):
        fired.append((index, time))
        return None if index == 2 else (np.ones(1),)  # reset to the start, then stop

    res = minimize(
        Problem(fun, (np.ones(1),)),
        solver="flow",
        learning_rate=0.01,
        tol=0.0,
        max_iter=10**4,
        schedule=Schedule([1.0, 2.5, 4.0], action),
    )
    assert res.stop_reason == "schedule"
    np.testing.assert_allclose([t for _, t in fired], [1.0, 2.5, 4.0], rtol=1e-12)
    # Last reset at t = 2.5, so the end point is exp(-1.5).
    np.testing.assert_allclose(res.params[0], np.exp(-1.5), rtol=1e-3)


@pytest.mark.parametrize("stop", ["return", "raise"])
def test_callback_sees_every_iteration_and_can_stop(stop):
    fun, _ = quadratic([1.0])
    seen = []

    def callback(state):
        seen.append(state.n_iter)
        if state.n_iter == 5:
            if stop == "raise":
                raise StopIteration
            return True
        return False

    res = minimize(Problem(fun, (np.ones(1),)), learning_rate=0.1, tol=0.0, callback=callback)
    assert seen == [1, 2, 3, 4, 5]
    assert res.stop_reason == "callback" and res.n_iter == 5


def test_callback_and_records_see_the_problems_view():
    fun, _ = quadratic([1.0])
    seen = []
    problem = Problem(fun, (np.ones(2),), view=lambda p: (-p[0],))
    res = minimize(
        problem,
        learning_rate=0.5,
        tol=0.0,
        max_iter=2,
        callback=lambda state: seen.append(state.params[0]) or False,
        record=lambda v: {"first": float(v[0][0])},
    )
    np.testing.assert_allclose(seen[-1], -res.params[0])
    np.testing.assert_allclose(res.view[0], -res.params[0])
    assert res.history["first"][-1] == -res.params[0][0]


def test_rate_scale_makes_tol_dimensionless():
    fun, _ = quadratic([1.0])
    x0 = (np.ones(1),)
    plain = minimize(Problem(fun, x0), learning_rate=0.1, tol=1e-3, max_iter=10**4)
    scaled = minimize(
        Problem(fun, x0, rate_scale=10.0), learning_rate=0.1, tol=1e-4, max_iter=10**4
    )
    assert plain.n_iter == scaled.n_iter and plain.stop_reason == "tol"


def test_heldout_loss_is_recorded_with_the_history():
    fun, _ = quadratic([1.0])
    problem = Problem(fun, (np.ones(1),), heldout_loss=lambda p: 2.0 * float(p[0][0]))
    res = minimize(problem, learning_rate=0.1, tol=0.0, max_iter=4, record_every=2)
    assert res.history_iter == [0, 2, 4]
    np.testing.assert_allclose(res.history["heldout_loss"], 2.0 * 0.9 ** np.array([0, 2, 4]))


def test_zero_tol_stops_only_at_an_exactly_zero_gradient():
    fun, _ = quadratic([1.0, 2.0])
    assert minimize(Problem(fun, (np.zeros(2),)), tol=0.0).stop_reason == "tol"
    res = minimize(Problem(fun, (np.ones(2),)), learning_rate=0.5, tol=0.0, max_iter=30)
    assert res.stop_reason == "max_iter" and res.n_iter == 30
    assert minimize(Problem(fun, (np.zeros(2),)), tol=-1.0, max_iter=3).stop_reason == "max_iter"


def test_records_every_k_iterations_and_at_the_end():
    fun, _ = quadratic([1.0])
    res = minimize(
        Problem(fun, (np.ones(1),)),
        learning_rate=0.1,
        tol=0.0,
        max_iter=10,
        record=lambda p: {"x": float(p[0][0])},
        record_every=4,
    )
    assert res.history_iter == [0, 4, 8, 10]
    np.testing.assert_allclose(res.history["x"], 0.9 ** np.array([0, 4, 8, 10]))
    np.testing.assert_allclose(res.history_time, 0.1 * np.array([0, 4, 8, 10]))


def test_divergence_raises_and_suggests_a_smaller_learning_rate():
    fun, _ = quadratic([1.0])
    with np.errstate(over="ignore"), pytest.raises(FloatingPointError, match="learning_rate"):
        minimize(
            Problem(fun, (np.ones(1),)), solver="gd", learning_rate=3.0, max_iter=5000, tol=0.0
        )


def test_unknown_solver_is_named():
    fun, _ = quadratic([1.0])
    with pytest.raises(ValueError, match="solver='newton'"):
        minimize(Problem(fun, (np.ones(1),)), solver="newton")


@pytest.mark.parametrize(
    "solver, options, match",
    [
        ("flow", {"rtl": 1e-3}, r"\['rtl'\], which solver='flow' does not take.*'rtol'"),
        ("gd", {"beta1": 0.9}, r"\['beta1'\], which solver='gd'"),
        ("flow", {"rtol": -1.0}, "'rtol' parameter of solver_options"),
        ("flow", {"rtol": "x"}, "'rtol' parameter of solver_options"),
        ("adam", {"beta1": 1.0}, "'beta1' parameter of solver_options"),
    ],
)
def test_solver_options_are_declared_and_validated(solver, options, match):
    fun, _ = quadratic([1.0])
    with pytest.raises(InvalidParameterError, match=match):
        minimize(Problem(fun, (np.ones(1),)), solver=solver, solver_options=options)


def test_loop_keywords_are_not_swallowed():
    fun, _ = quadratic([1.0])
    with pytest.raises(TypeError, match="recrod_every"):
        minimize(Problem(fun, (np.ones(1),)), recrod_every=3)


def test_declared_options_reach_the_rule():
    fun, _ = quadratic([1.0, 50.0])
    loose = minimize(
        Problem(fun, (np.ones(2),)),
        solver="flow",
        max_time=5.0,
        tol=0.0,
        max_iter=10**4,
        solver_options={"rtol": 1e-2},
    )
    tight = minimize(
        Problem(fun, (np.ones(2),)),
        solver="flow",
        max_time=5.0,
        tol=0.0,
        max_iter=10**4,
        solver_options={"rtol": 1e-6},
    )
    assert tight.n_iter > 2 * loose.n_iter


def test_verbose_progress_bar_shows_loss_and_description(capsys):
    fun, _ = quadratic([1.0])
    minimize(
        Problem(fun, (np.ones(1),)),
        learning_rate=0.1,
        tol=0.0,
        max_iter=20,
        verbose=True,
        describe=lambda p: "rank=1",
    )
    err = capsys.readouterr().err
    assert "loss=" in err and "rank=1" in err


def test_early_stopping_returns_the_best_iterate_of_the_heldout_loss():
    # Train towards x = 1; the held-out loss is lowest at x = 0.5, reached at iteration 7.
    def fun(params):
        r = params[0] - 1.0
        return 0.5 * float(r @ r), (r,)

    def heldout(params):
        r = params[0] - 0.5
        return 0.5 * float(r @ r)

    problem = Problem(fun, (np.zeros(1),), heldout_loss=heldout)
    kw = dict(learning_rate=0.1, tol=0.0, max_iter=200, validation_every=1)
    res = minimize(problem, n_iter_no_change=3, **kw)
    iterates = 1 - 0.9 ** np.arange(res.n_iter + 1)
    best = int(np.argmin(np.abs(iterates - 0.5)))
    assert res.stop_reason == "early_stopping" and res.converged
    assert res.best_iter == best == 7 and res.n_iter == best + 3
    np.testing.assert_allclose(res.params[0], iterates[best], rtol=1e-12)
    np.testing.assert_allclose(res.validation_loss, 0.5 * (iterates - 0.5) ** 2, rtol=1e-12)
    assert res.validation_iter == list(range(res.n_iter + 1))
    # Without n_iter_no_change the loop runs on and returns the last iterate.
    plain = minimize(problem, **kw)
    assert plain.stop_reason == "max_iter" and plain.best_iter is None
    assert plain.validation_loss == [] and plain.params[0][0] > 0.99


def test_early_stopping_checks_every_k_and_lets_the_last_iterate_compete():
    def fun(params):
        r = params[0] - 1.0
        return 0.5 * float(r @ r), (r,)

    problem = Problem(fun, (np.zeros(1),), heldout_loss=lambda p: -float(p[0][0]))
    res = minimize(problem, learning_rate=0.1, tol=0.0, max_iter=25, n_iter_no_change=2,
                   validation_every=10)  # fmt: skip
    assert res.validation_iter == [0, 10, 20, 25] and res.best_iter == 25
    np.testing.assert_allclose(res.params[0], 1 - 0.9**25, rtol=1e-12)


def _two_wells():
    """``¼ (x² - 1)² + ½ y²``: a saddle at ``x = 0``, minima at ``x = ±1``."""

    def fun(p):
        (z,) = p
        x, y = z
        loss = 0.25 * (x * x - 1) ** 2 + 0.5 * y * y
        return float(loss), (np.array([x * (x * x - 1), y]),)

    return fun


def test_a_tol_stop_with_an_escape_continues_from_the_reseeded_point():
    seen = []

    def escape(params, grads):
        seen.append(params[0].copy())
        x = params[0][0]
        return None if abs(x) > 0.5 else (np.array([0.1, params[0][1]]),)

    problem = Problem(_two_wells(), (np.array([0.0, 1.0]),), scale=lambda p: (1.0,), escape=escape)
    res = minimize(problem, solver="gd", learning_rate=0.5, tol=1e-6, max_iter=5000)
    assert res.stop_reason == "tol" and res.converged
    assert res.n_escapes == 1 and len(seen) == 2
    assert abs(seen[0][0]) < 1e-12  # first stop: the saddle x = 0
    np.testing.assert_allclose(res.params[0], [1.0, 0.0], atol=1e-5)


def test_an_escape_that_never_ends_stops_at_the_budget_as_a_saddle():
    # the restart lowers the loss again (y decays), so every escape ends in a tol stop
    problem = Problem(
        _two_wells(),
        (np.array([0.0, 1.0]),),
        scale=lambda p: (1.0,),
        escape=lambda params, grads: (np.array([0.0, 1.0]),),  # back to the start
    )
    res = minimize(problem, learning_rate=0.5, tol=1e-6, max_iter=5000, max_escapes=3)
    assert res.stop_reason == "saddle" and not res.converged
    assert res.n_escapes == 3


def test_after_an_escape_tol_waits_for_the_loss_to_drop():
    calls = []

    def escape(params, grads):
        calls.append(1)
        return (params[0] + np.array([0.0, 0.0]),) if len(calls) == 1 else None

    problem = Problem(_two_wells(), (np.array([0.0, 0.0]),), scale=lambda p: (1.0,), escape=escape)
    res = minimize(problem, learning_rate=0.5, tol=1e-6, max_iter=50)
    # the same point again: the loss cannot drop, so the loop runs to max_iter
    assert res.stop_reason == "max_iter" and res.n_escapes == 1 and len(calls) == 1


def test_an_early_stop_with_an_unexplained_residual_continues_from_the_reseeded_best():
    # the training loss never moves x1; the held-out loss wants x1 = 1
    def fun(p):
        (x,) = p
        return 0.5 * float((x[0] - 1) ** 2), (np.array([x[0] - 1, 0.0]),)

    def heldout(p):
        (x,) = p
        return float((x[0] - 1) ** 2 + (x[1] - 1) ** 2) + 0.1 * x[0] ** 2

    def escape(params, grads):
        x = params[0]
        return None if x[1] == 1.0 else (np.array([x[0], 1.0]),)

    problem = Problem(fun, (np.array([0.0, 0.0]),), heldout_loss=heldout, escape=escape)
    kw = dict(learning_rate=0.1, tol=0.0, max_iter=2000, n_iter_no_change=3, validation_every=5)
    res = minimize(problem, **kw)
    assert res.stop_reason == "early_stopping" and res.n_escapes == 1
    assert res.params[0][1] == 1.0  # the best iterate comes after the escape
    plain = minimize(Problem(fun, problem.start, heldout_loss=heldout), **kw)
    assert plain.stop_reason == "early_stopping" and plain.params[0][1] == 0.0
    assert min(res.validation_loss) < min(plain.validation_loss)


def test_early_stopping_waits_out_a_plateau_where_the_training_loss_is_flat():
    # training loss barely moves (a plateau) and the held-out loss does not improve
    def fun(p):
        (x,) = p
        return 1.0 + 1e-6 * float(x[0]), (np.array([1e-6]),)

    problem = Problem(fun, (np.zeros(1),), heldout_loss=lambda p: 1.0)
    kw = dict(learning_rate=1.0, tol=0.0, max_iter=300, n_iter_no_change=3, validation_every=5)
    assert minimize(problem, **kw).stop_reason == "max_iter"
    assert minimize(problem, plateau_tol=0.0, **kw).stop_reason == "early_stopping"
