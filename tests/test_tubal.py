"""TubalFactorizer: model gradients, completion and transforms."""

import warnings

import numpy as np
import pytest
from finite_differences import numeric_grad
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import tproduct as tp
from sktensorflow._tubal import TubalFactorizer
from sktensorflow.datasets import make_tubal_low_rank
from sktensorflow.metrics import relative_error
from sktensorflow.models import tubal as mt


# -- model -------------------------------------------------------------------------------
def _raw_observations(rng, n1, n2, k):
    T = rng.standard_normal((n1, n2, k))
    mask = (rng.random((n1, n2, k)) < 0.6).astype(float)
    G, y = rng.standard_normal((9, n1 * n2 * k)), rng.standard_normal(9)
    return T, mask, G, y


def _observations(rng, n1, n2, k):
    T, mask, G, y = _raw_observations(rng, n1, n2, k)
    return {
        "dense": mt.dense_data(T),
        "masked": mt.masked_data(T, mask),
        "measurements": mt.measurements(G, y, (n1, n2, k)),
    }


# k = 18 exceeds DFT_MATRIX_MAX_LENGTH: the FFT path.
@pytest.mark.parametrize("k", [1, 4, 5, 18])
@pytest.mark.parametrize("kind", ["dense", "masked", "measurements"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_gradient_matches_finite_differences(k, kind, symmetric):
    rng = np.random.default_rng(k)
    n2 = 4 if symmetric else 5
    data = _observations(rng, 4, n2, k)[kind]
    params = [rng.standard_normal((4, 3, k))] + (
        [] if symmetric else [rng.standard_normal((n2, 3, k))]
    )
    loss, grads = mt.loss_and_grad(tuple(params), data)
    for i, g in enumerate(grads):

        def f(W, i=i):
            trial = list(params)
            trial[i] = W
            return mt.loss_and_grad(tuple(trial), data)[0]

        num = numeric_grad(lambda p: f(p[0]), (params[i],))[0]
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6 * np.abs(num).max())
    assert loss > 0


def test_loss_matches_direct_definitions():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((4, 2, 3)), rng.standard_normal((5, 2, 3))
    X = tp.t_product(A, tp.t_transpose(B))
    np.testing.assert_allclose(mt.to_tensor((A, B)), X, atol=1e-12)
    T, mask, G, y = _raw_observations(rng, 4, 5, 3)
    loss = mt.loss_and_grad((A, B), mt.dense_data(T))[0]
    assert np.isclose(loss, 0.5 * np.sum((X - T) ** 2))
    loss = mt.loss_and_grad((A, B), mt.masked_data(T * mask, mask))[0]
    assert np.isclose(loss, 0.5 * np.sum((mask * (X - T)) ** 2))
    loss = mt.loss_and_grad((A, B), mt.measurements(G, y, (4, 5, 3)))[0]
    assert np.isclose(loss, 0.5 * np.sum((G @ X.ravel() - y) ** 2))
    with pytest.raises(ValueError, match="do not match"):
        mt.measurements(G, y, (4, 4, 3))
    with pytest.raises(ValueError, match="tube length 3, the data 4"):
        mt.loss_and_grad((A, B), mt.dense_data(np.zeros((4, 5, 4))))


@pytest.mark.parametrize("k", [1, 2, 5, 8, 18])
def test_fourier_coordinates_are_an_isometry(k):
    rng = np.random.default_rng(k)
    A, B = rng.standard_normal((4, 3, k)), rng.standard_normal((5, 3, k))
    CA, CB = mt.to_coordinates((A, B))
    assert CA.shape == (k // 2 + 1, 4, 3, 2)
    assert np.isclose(np.sum(CA * CA), np.sum(A * A))
    assert np.isclose(np.sum(CA * CB[:, :4]), np.sum(A * B[:4]))  # inner products too
    np.testing.assert_allclose(mt.from_coordinates((CA, CB), k)[1], B, atol=1e-12)
    np.testing.assert_allclose(mt.coordinate_rms((CA,), k), [np.sqrt(np.mean(A * A))])
    dead = [0] + ([k // 2] if k % 2 == 0 else [])
    assert np.all(CA[dead, ..., 1] == 0)  # the DC/Nyquist imaginary parts are not free


@pytest.mark.parametrize("k", [3, 4, 18])
@pytest.mark.parametrize("symmetric", [False, True])
def test_coordinate_gradient_is_the_gradient_in_coordinates(k, symmetric):
    """A step along the coordinate gradient equals the step along the real gradient."""
    rng = np.random.default_rng(k)
    data = _observations(rng, 4, 4, k)["masked"]
    params = tuple(rng.standard_normal((4, 2, k)) for _ in range(1 if symmetric else 2))
    loss, grads = mt.loss_and_grad(params, data)
    coords = mt.to_coordinates(params)
    c_loss, c_grads = mt.coordinate_loss_and_grad(coords, data)
    assert np.isclose(c_loss, loss)
    for c, g in zip(mt.to_coordinates(grads), c_grads, strict=True):
        np.testing.assert_allclose(g, c, atol=1e-12 * np.abs(c).max())
    dead = [0] + ([k // 2] if k % 2 == 0 else [])
    assert all(np.all(g[dead, ..., 1] == 0) for g in c_grads)


# -- estimator -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def completion():
    X, truth = make_tubal_low_rank((30, 30, 8), 3, observed_fraction=0.5, random_state=1)
    return X, truth


@pytest.mark.parametrize("width", [10, 24])
def test_completion_recovers_planted_tubal_rank(completion, width):
    X, truth = completion
    est = TubalFactorizer(width=width, random_state=0).fit(X)
    assert est.tubal_rank_ == 3
    assert relative_error(est.complete(X), truth.tensor) <= 1e-2
    A, B = est.factors_
    assert relative_error(tp.t_product(A, tp.t_transpose(B)), truth.tensor) <= 1e-2
    assert A.shape == (30, width, 8) and B.shape == (30, width, 8)
    assert est.singular_values_.shape == (5, min(30, width))
    assert est.singular_tubes_.shape == (3, 8) and est.components_.shape == (3, 30, 8)
    assert est.tubal_rank_history_[-1] == 3
    assert est.singular_values_history_.shape == (len(est.history_iter_), 5, min(30, width))
    assert 1.0 <= est.effective_rank_ <= 3.5


def test_matrix_input_and_fold_in(completion):
    X, truth = make_tubal_low_rank((40, 25, 1), 4, observed_fraction=0.6, random_state=3)
    M, full = X[:, :, 0], truth.tensor[:, :, 0]
    est = TubalFactorizer(width=10, random_state=0).fit(M)
    assert est.tubal_rank_ == 4 and est.components_.shape == (4, 25)
    Z = est.transform(M)
    assert Z.shape == (40, 4)
    np.testing.assert_allclose(est.transform(M[7:12]), Z[7:12], atol=1e-12)
    np.testing.assert_allclose(est.transform(M[::-1]), Z[::-1], atol=1e-12)
    np.testing.assert_allclose(est.fit_transform(M), Z, atol=1e-12)
    completed = est.complete(M)
    observed = ~np.isnan(M)
    np.testing.assert_array_equal(completed[observed], M[observed])
    assert relative_error(completed, full) < 1e-2
    # the fold-in is a posterior mean: clean rows come back up to the fit's noise level
    assert relative_error(est.inverse_transform(est.transform(full)), full) < 1e-2
    assert est.score(full) > 0.99
    noise = np.random.default_rng(0).standard_normal(full.shape)
    assert est.score(noise) < 0.5


def test_symmetric_model():
    X, truth = make_tubal_low_rank(
        (20, 20, 5), 2, symmetric=True, observed_fraction=0.6, random_state=2
    )
    est = TubalFactorizer(width=10, symmetric=True, random_state=0).fit(X)
    A, B = est.factors_
    np.testing.assert_array_equal(A, B)
    assert est.tubal_rank_ == 2
    assert relative_error(est.complete(X), truth.tensor) < 1e-2
    with pytest.raises(ValueError, match="symmetric=True"):
        TubalFactorizer(symmetric=True).fit(np.ones((4, 3, 2)))


def test_bad_inputs_and_feature_shape():
    with pytest.raises(ValueError, match=r"\(2, 2, 2, 2\)"):
        TubalFactorizer().fit(np.ones((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="width"):
        TubalFactorizer(width=0).fit(np.ones((3, 3)))
    X, _ = make_tubal_low_rank((8, 6, 3), 2, random_state=0)
    est = TubalFactorizer(width=4, random_state=0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    with pytest.raises(ValueError, match="feature shape"):
        est.transform(np.ones((2, 6, 4)))
    with pytest.raises(ValueError, match="columns"):
        est.inverse_transform(np.ones((2, est.transform(X).shape[1] + 1)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_deterministic_given_random_state(completion):
    X, _ = completion
    a = TubalFactorizer(width=6, random_state=3, max_iter=300, tol=0).fit(X[:12])
    b = TubalFactorizer(width=6, random_state=3, max_iter=300, tol=0).fit(X[:12])
    c = TubalFactorizer(width=6, random_state=4, max_iter=300, tol=0).fit(X[:12])
    np.testing.assert_array_equal(a.factors_[0], b.factors_[0])
    assert not np.array_equal(a.factors_[0], c.factors_[0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pytorch_backend_parity():
    torch = pytest.importorskip("torch")
    X, _ = make_tubal_low_rank((12, 10, 4), 2, observed_fraction=0.7, random_state=0)
    kw = dict(width=6, random_state=0, max_iter=150)
    ref = TubalFactorizer(**kw).fit(X)
    est = TubalFactorizer(**kw).fit(torch.tensor(X))
    assert isinstance(est.factors_[0], torch.Tensor)
    assert est.n_iter_ == ref.n_iter_ and est.tubal_rank_ == ref.tubal_rank_
    np.testing.assert_allclose(est.factors_[0].numpy(), ref.factors_[0], atol=1e-8)
    np.testing.assert_allclose(est.singular_values_.numpy(), ref.singular_values_, atol=1e-8)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-8)
    Z = est.transform(torch.tensor(X))
    assert isinstance(Z, torch.Tensor)
    np.testing.assert_allclose(Z.numpy(), ref.transform(X), atol=1e-8)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_callback_sees_the_real_factors(completion):
    """The loop runs on Fourier coordinates; the user's callback sees (A, B)."""
    X, _ = completion
    seen = []
    est = TubalFactorizer(
        width=5, tube_axis=2, max_iter=20, tol=0, random_state=0, callback=seen.append
    )
    est.fit(X)
    assert len(seen) == 20
    A, B = seen[-1].params
    assert A.shape == (X.shape[0], 5, X.shape[2]) and B.shape == (X.shape[1], 5, X.shape[2])
    np.testing.assert_allclose(A, est.factors_[0])


def test_coordinate_problem_views_the_real_factors():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((4, 2, 5)), rng.standard_normal((3, 2, 5))
    data = mt.dense_data(rng.standard_normal((4, 3, 5)))
    problem = mt.coordinate_problem((A, B), data, rate_scale=2.5)
    assert problem.rate_scale == 2.5
    A2, B2 = problem.view(problem.start)
    np.testing.assert_allclose(A2, A, atol=1e-12)
    np.testing.assert_allclose(B2, B, atol=1e-12)
    loss, grads = problem.fun(problem.start)
    assert np.isclose(loss, mt.loss_and_grad((A, B), data)[0])
    np.testing.assert_allclose(
        problem.scale(problem.start), [np.sqrt(np.mean(A * A)), np.sqrt(np.mean(B * B))]
    )


def test_diagnostics_and_solver_options(completion):
    X, _ = completion
    est = TubalFactorizer(width=6, random_state=0, max_iter=2000, solver="flow")
    est.set_params(solver_options={"rtol": 1e-4}).fit(X[:15])
    assert est.stop_reason_ == "tol" and est.n_grad_evals_ >= est.n_iter_ + 1
    assert est.history_iter_[0] == 0 and est.history_iter_[-1] == est.n_iter_
    assert est.history_time_.shape == est.history_iter_.shape == est.tubal_rank_history_.shape
    assert est.learning_rate_ > 0
    with pytest.raises(ValueError, match="beta1"):
        TubalFactorizer(solver="gd", solver_options={"beta1": 0.9}).fit(X[:15])


@pytest.mark.parametrize("kind", ["dense", "masked", "measurements"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_pytorch_model_parity(kind, symmetric):
    torch = pytest.importorskip("torch")
    from sktensorflow import _backend

    rng = np.random.default_rng(0)
    T, mask, G, y = _raw_observations(rng, 4, 4, 6)
    params = tuple(rng.standard_normal((4, 3, 6)) for _ in range(1 if symmetric else 2))

    def observe(to):
        if kind == "dense":
            return mt.dense_data(to(T))
        if kind == "masked":
            return mt.masked_data(to(T), to(mask))
        return mt.measurements(to(G), to(y), T.shape)

    loss, grads = mt.loss_and_grad(params, observe(np.asarray))
    with _backend.backend_context("pytorch"):
        t_loss, t_grads = mt.loss_and_grad(
            tuple(torch.tensor(p) for p in params), observe(torch.tensor)
        )
    assert np.isclose(t_loss, loss)
    for g, t_g in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(t_g.numpy(), g, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_early_stopping_keeps_the_best_held_out_iterate():
    X, truth = make_tubal_low_rank(
        (30, 25, 4), 2, observed_fraction=0.6, noise=0.3, random_state=0
    )
    missing = np.isnan(X)
    plain = TubalFactorizer(width=10, early_stopping=False, random_state=0)
    plain_error = relative_error(plain.fit_complete(X)[missing], truth.tensor[missing])
    assert plain.validation_scores_ is None and plain.best_iter_ is None
    est = TubalFactorizer(width=10, random_state=0)  # early stopping is the default
    error = relative_error(est.fit_complete(X)[missing], truth.tensor[missing])
    scores, iters = est.validation_scores_, est.validation_iter_
    assert scores.shape == iters.shape and iters[0] == 0 and np.all(np.diff(iters) > 0)
    assert est.best_validation_score_ == scores.max() > 0.5
    assert est.best_iter_ == iters[np.argmax(scores)] <= est.n_iter_
    # Noise is fitted after the signal: the held-out error stops improving early.
    assert est.stop_reason_ == "early_stopping" and est.n_iter_ < plain.n_iter_
    assert error < plain_error


def test_fit_complete_fills_with_the_fitted_model():
    X, truth = make_tubal_low_rank((20, 15, 4), 2, observed_fraction=0.5, random_state=0)
    est = TubalFactorizer(width=6, random_state=0)
    completed = est.fit_complete(X)
    A, B = est.factors_
    fitted = tp.t_product(A, tp.t_transpose(B))
    missing = np.isnan(X)
    np.testing.assert_array_equal(completed[~missing], X[~missing])
    np.testing.assert_allclose(completed[missing], fitted[missing], rtol=1e-12)
    assert relative_error(completed, truth.tensor) < 1e-2


def weak_component_matrix(seed, weights=(1.0, 0.3, 0.02)):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((30, len(weights))))[0]
    V = np.linalg.qr(rng.standard_normal((20, len(weights))))[0]
    return U @ np.diag(weights) @ V.T


@pytest.mark.parametrize("seed", range(5))
def test_a_weak_component_is_not_left_behind_on_a_plateau(seed):
    # From a tiny start the tol test passes on the plateau before the weak
    # component (weight 0.02 > rank_tol): without the saddle check most seeds stop
    # silently at tubal rank 2.
    M = weak_component_matrix(seed)
    est = TubalFactorizer(width=6, early_stopping=False, init_scale=1e-5, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est.fit(M)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert est.tubal_rank_ == 3 or warned
    assert est.n_escapes_ >= 1  # the plateau was found and left


def test_no_saddle_escape_at_a_genuine_end():
    M = weak_component_matrix(0, weights=(1.0, 0.5, 0.3))
    est = TubalFactorizer(width=6, early_stopping=False, random_state=0).fit(M)
    assert est.stop_reason_ == "tol" and est.tubal_rank_ == 3 and est.n_escapes_ == 0


def test_zero_data_gives_rank_zero_with_a_warning():
    X = np.zeros((8, 5, 3))
    X[0, 0, 0] = np.nan
    with pytest.warns(UserWarning, match="all zero.*tubal_rank_ is 0"):
        est = TubalFactorizer(width=4, random_state=0).fit(X)
    assert est.tubal_rank_ == 0 and est.components_.shape == (0, 5, 3)
    assert est.transform(X).shape == (8, 0)
    np.testing.assert_array_equal(est.complete(X)[0, 0, 0], 0.0)


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_results_do_not_depend_on_the_data_scale(scale):
    X, _ = make_tubal_low_rank((12, 10, 3), 2, observed_fraction=0.8, random_state=0)
    ref = TubalFactorizer(width=6, random_state=0).fit(X)
    est = TubalFactorizer(width=6, random_state=0).fit(X * scale)
    assert est.tubal_rank_ == ref.tubal_rank_ and est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.singular_values_, ref.singular_values_ * scale, rtol=1e-8)
    np.testing.assert_allclose(est.complete(X * scale), ref.complete(X) * scale, rtol=1e-6)


def test_heldout_loss_reuses_the_model_of_the_last_gradient_only_at_its_point():
    """The loop's validation check evaluates the held-out loss where it has just taken
    the gradient: the problem reuses that evaluation's ``A * B^T``, never another's."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((5, 3, 4)), rng.standard_normal((6, 3, 4))
    X = rng.standard_normal((5, 6, 4))
    heldout = rng.random(X.shape) < 0.3
    fitted = mt.masked_data(X, (~heldout).astype(float))
    withheld = mt.masked_data(X, heldout.astype(float))
    problem = mt.coordinate_problem((A, B), fitted, heldout=withheld)
    here = problem.start
    problem.fun(here)
    assert problem.heldout_loss(here) == pytest.approx(mt.coordinate_loss(here, withheld))
    there = tuple(1.1 * c for c in here)
    assert problem.heldout_loss(there) == pytest.approx(mt.coordinate_loss(there, withheld))
    assert mt.coordinate_loss(there, withheld) != pytest.approx(mt.coordinate_loss(here, withheld))
