"""Deep Tucker on lists of entries: gradients, batches, the "minibatch_adam" step rule."""

import warnings

import numpy as np
import pytest
from finite_differences import numeric_grad
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sktensorflow import DeepTucker, OverparamCP
from sktensorflow._optim import minimize
from sktensorflow.datasets import make_low_multilinear_rank
from sktensorflow.models import deep_tucker as dtm
from sktensorflow.models import deep_tucker_entries as dte
from sktensorflow.models._minibatch import MinibatchProblem, with_batches


def _random_model(form, dims, widths, depth, seed=0):
    rng = np.random.RandomState(seed)
    params = dtm.init_params(rng, dims, widths, depth, form, scale=1.0)
    return tuple(p + 0.3 * rng.standard_normal(p.shape) for p in params), rng


@pytest.mark.parametrize(
    "form, dims, widths",
    [
        ("product", (4, 3, 5), (3, 3, 4)),
        ("column", (4, 3, 5), (4, 2, 3)),
        ("product", (3, 4), (2, 3)),
    ],
)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_entries_gradient_matches_finite_differences(form, dims, widths, depth):
    params, rng = _random_model(form, dims, widths, depth, seed=depth)
    coords = tuple(rng.randint(n, size=9) for n in dims)  # repeated entries included
    values = rng.standard_normal(9)

    def f(q):
        return dte.entries_loss_and_grad(q, coords, values, 0.7, depth=depth, form=form)[0]

    _, grads = dte.entries_loss_and_grad(params, coords, values, 0.7, depth=depth, form=form)
    for g, n in zip(grads, numeric_grad(f, params), strict=True):
        np.testing.assert_allclose(g, n, atol=1e-6 * max(1.0, np.abs(n).max()), rtol=1e-6)


@pytest.mark.parametrize("form", ["product", "column"])
def test_all_observed_entries_give_the_masked_loss(form):
    dims, depth = (5, 4, 3), 2
    params, rng = _random_model(form, dims, (4, 3, 3), depth)
    target = rng.standard_normal(dims)
    mask = rng.rand(*dims) < 0.6
    loss, grads = dtm.loss_and_grad(
        params, target, mask.astype(float), 1.3, depth=depth, form=form
    )
    batches = dte.tucker_batches(target, mask, 1.3, seed=0, depth=depth, form=form)
    assert batches.n_entries == mask.sum()
    b_loss, b_grads = batches.fun(params, np.arange(batches.n_entries))
    assert b_loss == pytest.approx(loss, rel=1e-12)
    for g, h in zip(grads, b_grads, strict=True):
        np.testing.assert_allclose(h, g, rtol=1e-10, atol=1e-12)
    # a batch estimates the full loss without bias: the mean over a partition is the loss
    parts = np.array_split(np.arange(batches.n_entries), 4)
    mean = np.mean([batches.fun(params, p)[0] * len(p) for p in parts]) * 4 / batches.n_entries
    assert mean == pytest.approx(loss, rel=1e-12)


def _problem(seed=0, depth=2):
    X, _ = make_low_multilinear_rank((6, 5, 4), (2, 2, 2), observed_fraction=0.6, random_state=0)
    observed = ~np.isnan(X)
    target = np.where(observed, X, 0.0)
    target /= dtm.spectral_scale(target)
    start = dtm.init_params(np.random.RandomState(1), X.shape, X.shape, depth, scale=0.3)
    coef = 1.0 / observed.mean()
    problem = dtm.problem(start, target, observed.astype(float), depth=depth, coef=coef)
    rng = np.random.RandomState(seed)
    return dte.for_solver(problem, "minibatch_adam", target, observed, coef, rng, depth=depth)


def test_one_batch_per_epoch_is_full_batch_adam():
    problem = _problem()
    assert isinstance(problem, MinibatchProblem)
    kw = dict(learning_rate=1e-2, max_iter=40, tol=0)
    full = minimize(problem, solver="adam", **kw)
    whole = minimize(problem, solver="minibatch_adam", solver_options={"batch_size": 10**6}, **kw)
    for p, q in zip(full.params, whole.params, strict=True):
        np.testing.assert_allclose(q, p, rtol=1e-10, atol=1e-13)
    assert whole.n_grad_evals == 1 + 2 * 40  # one batch and one full evaluation per epoch


def test_minibatch_epochs_are_deterministic_and_descend():
    kw = dict(
        solver="minibatch_adam", learning_rate=1e-2, solver_options={"batch_size": 16}, tol=0
    )
    a = minimize(_problem(seed=0), max_iter=30, **kw)
    b = minimize(_problem(seed=0), max_iter=30, **kw)
    c = minimize(_problem(seed=1), max_iter=30, **kw)
    np.testing.assert_array_equal(a.loss_curve, b.loss_curve)
    assert not np.array_equal(a.loss_curve, c.loss_curve)  # the seed orders the batches
    n_batches = -(-_problem().batches.n_entries // 16)
    assert a.n_grad_evals == 1 + 30 * (n_batches + 1)
    assert a.time_curve[-1] == pytest.approx(30 * n_batches * 1e-2)
    assert a.loss_curve[-1] < 0.2 * a.loss_curve[0]


def test_minibatch_needs_batches_and_validates_batch_size():
    problem = _problem()
    plain = dtm.problem(problem.start, np.ones((6, 5, 4)), None, depth=2)
    with pytest.raises(InvalidParameterError, match="minibatch_adam"):
        minimize(plain, solver="minibatch_adam", max_iter=2)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        minimize(problem, solver="minibatch_adam", solver_options={"batch_size": 0})
    X = np.random.RandomState(0).standard_normal((50, 3))
    with pytest.raises(InvalidParameterError, match="minibatch_adam"):
        OverparamCP(order=3, solver="minibatch_adam", max_iter=2).fit(X)
    assert with_batches(plain, problem.batches).batches is problem.batches


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_deep_tucker_minibatch_completion_and_determinism():
    X, truth = make_low_multilinear_rank(
        (12, 10, 8), (2, 2, 2), observed_fraction=0.5, random_state=0
    )
    kw = dict(depth=2, solver="minibatch_adam", max_iter=150, random_state=0)
    est = DeepTucker(**kw).fit(X)
    again = DeepTucker(**kw).fit(X)
    np.testing.assert_array_equal(est.core_, again.core_)
    miss = np.isnan(X)
    X_hat = est._fitted_values()
    err = np.linalg.norm((X_hat - truth.tensor)[miss]) / np.linalg.norm(truth.tensor[miss])
    assert est.learning_rate_ == 1e-3
    assert est.multilinear_rank_ == (2, 2, 2)
    assert err < 2e-2


def test_minibatch_warm_start_continues_the_batch_order():
    """Two warm fits of 10 epochs are one fit of 20: Adam's moments and the shuffling resume."""
    X, _ = make_low_multilinear_rank((8, 7, 6), (2, 2, 2), observed_fraction=0.6, random_state=0)
    kw = dict(depth=2, solver="minibatch_adam", early_stopping=False, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = DeepTucker(max_iter=10, warm_start=True, **kw).fit(X).fit(X)
        once = DeepTucker(max_iter=20, **kw).fit(X)
    assert warm.n_iter_ == 20
    np.testing.assert_allclose(warm.loss_curve_, once.loss_curve_, rtol=1e-12, atol=0)
