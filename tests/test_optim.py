"""The one iteration loop: step rules, stopping rules, schedules, callbacks, records."""

import numpy as np
import pytest

from sktensorflow._optim import Schedule, minimize, viewing_params


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
    res = minimize(fun, (x0,), solver="gd", learning_rate=0.1, max_iter=7, tol=0.0)
    np.testing.assert_allclose(res.params[0], x0 * (1 - 0.1 * c) ** 7, rtol=1e-13)
    np.testing.assert_allclose(res.time_curve, 0.1 * np.arange(8), rtol=1e-13)
    assert res.n_iter == 7 and res.n_grad_evals == 8 and res.stop_reason == "max_iter"
    assert not res.converged


def test_flow_follows_the_exact_trajectory_with_adaptive_steps():
    # Stiff quadratic: curvatures spanning three decades.
    fun, c = quadratic([1e-2, 1.0, 10.0])
    x0 = np.ones(3)
    res = minimize(
        fun, (x0,), solver="flow", learning_rate=1e-3, max_time=50.0, max_iter=10**4, tol=0.0
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
    res = minimize(fun, (np.zeros(2),), solver=solver, learning_rate=0.1, max_iter=5000, tol=1e-6)
    assert res.stop_reason == "tol" and res.converged
    # The rule: largest |grad| relative to the parameters' root-mean-square size.
    _, (g,) = fun(res.params)
    x = res.params[0]
    assert np.max(np.abs(g)) <= 1e-6 * np.sqrt(np.mean(x * x))
    assert res.n_iter > 1


def test_target_loss_and_custom_scale():
    fun, _ = quadratic([1.0])
    res = minimize(fun, (np.ones(1),), solver="gd", learning_rate=0.1, tol=0.0, target_loss=1e-4)
    assert res.stop_reason == "target_loss"
    assert res.loss_curve[-1] <= 1e-4 < res.loss_curve[-2]
    # With a fixed unit scale, tol is an absolute gradient threshold.
    res = minimize(
        fun,
        (np.ones(1),),
        learning_rate=0.1,
        tol=1e-3,
        scale=lambda p: (np.ones(1),),
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
        fun,
        (np.ones(1),),
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

    res = minimize(fun, (np.ones(1),), learning_rate=0.1, tol=0.0, callback=callback)
    assert seen == [1, 2, 3, 4, 5]
    assert res.stop_reason == "callback" and res.n_iter == 5


def test_viewing_params_shows_the_callback_another_parametrization():
    fun, _ = quadratic([1.0])
    seen = []
    callback = viewing_params(lambda state: seen.append(state.params) or False, lambda p: -p[0])
    res = minimize(fun, (np.ones(2),), learning_rate=0.5, tol=0.0, max_iter=2, callback=callback)
    np.testing.assert_allclose(seen[-1], -res.params[0])
    assert viewing_params(None, lambda p: p) is None


def test_zero_tol_stops_only_at_an_exactly_zero_gradient():
    fun, _ = quadratic([1.0, 2.0])
    assert minimize(fun, (np.zeros(2),), tol=0.0).stop_reason == "tol"
    res = minimize(fun, (np.ones(2),), learning_rate=0.5, tol=0.0, max_iter=30)
    assert res.stop_reason == "max_iter" and res.n_iter == 30
    assert minimize(fun, (np.zeros(2),), tol=-1.0, max_iter=3).stop_reason == "max_iter"


def test_records_every_k_iterations_and_at_the_end():
    fun, _ = quadratic([1.0])
    res = minimize(
        fun,
        (np.ones(1),),
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
        minimize(fun, (np.ones(1),), solver="gd", learning_rate=3.0, max_iter=5000, tol=0.0)


def test_unknown_solver_is_named():
    fun, _ = quadratic([1.0])
    with pytest.raises(ValueError, match="solver='newton'"):
        minimize(fun, (np.ones(1),), solver="newton")


def test_verbose_progress_bar_shows_loss_and_description(capsys):
    fun, _ = quadratic([1.0])
    minimize(
        fun,
        (np.ones(1),),
        learning_rate=0.1,
        tol=0.0,
        max_iter=20,
        verbose=True,
        describe=lambda p: "rank=1",
    )
    err = capsys.readouterr().err
    assert "loss=" in err and "rank=1" in err
