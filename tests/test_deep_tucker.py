"""DeepTucker: gradients, balancedness, completion without the rank, sklearn API."""

import warnings

import numpy as np
import pytest
import tensorly as tl
from finite_differences import numeric_grad
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

from sktensorflow._deep_tucker import DEFAULT_WIDTH, DeepTucker
from sktensorflow._foldin import masked_r2
from sktensorflow._optim import minimize
from sktensorflow.datasets import make_low_multilinear_rank
from sktensorflow.metrics import relative_error
from sktensorflow.models import deep_tucker as dtm
from sktensorflow.models import deep_tucker_escape as dte
from sktensorflow.models._problem import initial_rate


def _missing_error(est, X, truth):
    miss = np.isnan(X)
    X_hat = tl.tucker_to_tensor(est.to_tensorly())
    return np.linalg.norm((X_hat - truth.tensor)[miss]) / np.linalg.norm(truth.tensor[miss])


@pytest.mark.parametrize(
    "form, dims, widths",
    [
        ("product", (4, 3, 5), (3, 3, 4)),  # every factor formed explicitly
        ("product", (6, 2, 2), (5, 2, 2)),  # mode 0 applied matrix by matrix
        ("column", (4, 3, 5), (4, 2, 3)),
    ],
)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gradient_matches_finite_differences(form, dims, widths, depth):
    rng = np.random.RandomState(depth)
    params = dtm.init_params(rng, dims, widths, depth, form, scale=1.0)
    params = tuple(p + 0.3 * rng.standard_normal(p.shape) for p in params)
    target = rng.standard_normal(dims)
    mask = (rng.rand(*dims) < 0.6).astype(float)

    def f(q):
        return dtm.loss_and_grad(q, target, mask, 0.7, depth=depth, form=form)[0]

    _, grads = dtm.loss_and_grad(params, target, mask, 0.7, depth=depth, form=form)
    for g, n in zip(grads, numeric_grad(f, params), strict=True):
        np.testing.assert_allclose(g, n, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("form", ["product", "column"])
def test_model_tensor_is_tucker_of_end_to_end_factors(form):
    rng = np.random.RandomState(0)
    params = dtm.init_params(rng, (4, 5, 3), (3, 4, 3), 3, form, scale=1.0)
    factors = dtm.end_to_end_factors(params, 3, 3, form)
    np.testing.assert_allclose(
        dtm.to_tensor(params, 3, 3, form), tl.tucker_to_tensor((params[0], factors)), atol=1e-12
    )


@pytest.mark.parametrize("form", ["product", "column"])
def test_balanced_init_and_conserved_quantities(form):
    """Small-step GD keeps the flow's conserved quantities within O(step) of zero."""
    rng = np.random.RandomState(1)
    dims, depth = (6, 5, 4), 2
    X, _ = make_low_multilinear_rank(dims, (2, 2, 2), observed_fraction=0.7, random_state=0)
    observed = ~np.isnan(X)
    target, mask = np.where(observed, X, 0.0), observed.astype(float)
    target /= np.linalg.norm(target.reshape(dims[0], -1), 2)
    params = dtm.init_params(rng, dims, dims, depth, form, scale=1.0)
    start = dtm.conserved_quantities(params, 3, depth, form)
    assert max(np.abs(c).max() for mode in start for c in mode) < 1e-12

    problem = dtm.problem(params, target, mask, depth=depth, form=form)
    drift = []
    for step in (2e-2, 1e-2):
        res = minimize(problem, solver="gd", learning_rate=step, max_iter=int(20 / step), tol=0)
        assert res.loss_curve[-1] < 0.05 * res.loss_curve[0]  # the model really moved
        end = dtm.conserved_quantities(res.params, 3, depth, form)
        moved = sum(np.sum((p - q) ** 2) for p, q in zip(res.params, params, strict=True))
        drift.append(max(np.abs(c).max() for mode in end for c in mode) / moved)
    assert drift[0] < 2e-3
    assert drift[1] < 0.7 * drift[0]  # the drift is a discretization error, O(step)


def test_completion_without_rank_default_parameters():
    X, truth = make_low_multilinear_rank(
        (20, 20, 20), (3, 3, 3), observed_fraction=0.3, random_state=0
    )
    est = DeepTucker(random_state=0).fit(X)
    assert est.widths_ == (20, 20, 20)
    assert est.multilinear_rank_ == (3, 3, 3)
    assert _missing_error(est, X, truth) <= 2e-2  # Adam's constant step leaves ~1e-2
    completed = est.complete(X)
    miss = np.isnan(X)
    np.testing.assert_array_equal(completed[~miss], X[~miss])
    err = np.linalg.norm((completed - truth.tensor)[miss]) / np.linalg.norm(truth.tensor[miss])
    assert err <= 2e-2


@pytest.mark.slow
@pytest.mark.parametrize("depth", [2, 3])
def test_completion_deeper(depth):
    X, truth = make_low_multilinear_rank(
        (20, 20, 20), (3, 3, 3), observed_fraction=0.3, random_state=0
    )
    est = DeepTucker(depth=depth, max_iter=6000, random_state=0).fit(X)
    assert est.multilinear_rank_ == (3, 3, 3)
    assert _missing_error(est, X, truth) <= 1e-2


@pytest.mark.parametrize("depth", [2, 3])
def test_completion_deeper_reduced_size(depth):
    """Depth 2 and 3 with the defaults, in the default test run (measured: 4e-3, 1.1e-2)."""
    X, truth = make_low_multilinear_rank(
        (15, 15, 15), (3, 3, 3), observed_fraction=0.5, random_state=0
    )
    est = DeepTucker(depth=depth, width=15, random_state=0).fit(X)
    assert est.multilinear_rank_ == (3, 3, 3)
    assert _missing_error(est, X, truth) <= 2e-2


def test_core_sparsity_strengthens_with_depth():
    """Flow, per-column chains, one init: depth 2 keeps as many active slices as the rank.

    Active: slice norm at least half the largest of its mode (at the start all are).
    Measured: depth 1 ends with (4, 5, 6) active slices, depth 2 with (3, 3, 3).
    """
    X, _ = make_low_multilinear_rank((8, 8, 8), (3, 3, 3), observed_fraction=0.7, random_state=0)
    kw = dict(width=8, factor_form="column", init_scale=0.1, solver="flow", early_stopping=False)
    counts = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for depth in (1, 2):
            est = DeepTucker(depth=depth, max_iter=1500, random_state=0, **kw).fit(X)
            start = [h[0] for h in est.core_slice_norms_history_]
            assert dtm.active_core_slices(start, 0.5) == (8, 8, 8)
            counts[depth] = dtm.active_core_slices(est.core_slice_norms_, 0.5)
            assert est.multilinear_rank_ == (3, 3, 3)
    assert counts[2] == (3, 3, 3)
    assert all(c > 3 for c in counts[1])


def test_init_scaling_fixed_keeps_one_init_across_depths():
    X, _ = make_low_multilinear_rank((8, 7, 6), (2, 2, 2), observed_fraction=0.7, random_state=0)
    inits = {}
    for scaling in ("matched", "fixed"):
        for depth in (1, 2, 3):
            est = DeepTucker(depth=depth, init_scaling=scaling, max_iter=1, tol=0).fit(X)
            inits[scaling, depth] = est.init_scale_
            slices = est.core_slice_norms_history_[0][0]
            assert np.mean(slices) == pytest.approx(est.init_scale_ * est.data_scale_, rel=0.3)
    assert inits["fixed", 1] == inits["fixed", 2] == inits["fixed", 3] == inits["matched", 1]
    assert inits["matched", 1] < inits["matched", 2] < inits["matched", 3]
    assert inits["fixed", 1] == pytest.approx(9e-4**0.5)
    given = DeepTucker(depth=3, init_scale=0.2, init_scaling="matched", max_iter=1, tol=0).fit(X)
    assert given.init_scale_ == 0.2  # a float is the same at every depth
    with pytest.raises(ValueError, match="init_scaling"):
        DeepTucker(init_scaling="paper").fit(X)


def _plateau_exit(est):
    """First iteration at which the training loss is below a fifth of its start."""
    return int(np.flatnonzero(est.loss_curve_ < 0.2 * est.loss_curve_[0])[0])


def test_fixed_init_depth_three_plateaus_longer_then_completes():
    """Depth 3 at the depth-1 init: a rank-one plateau two orders of magnitude longer.

    Measured plateau ends: 1900-5200 iterations over seeds 0-2 (2200 for seed 0)
    at the fixed init against 14-23 at the matched one; where in that range it
    ends moves with the platform's rounding, so the test compares the two.
    """
    X, truth = make_low_multilinear_rank(
        (10, 9, 8), (2, 2, 2), observed_fraction=0.6, random_state=0
    )
    kw = dict(depth=3, early_stopping=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fixed = DeepTucker(init_scaling="fixed", max_iter=6000, **kw).fit(X)
    matched = DeepTucker(max_iter=3000, **kw).fit(X)
    assert matched.n_iter_ < 1000 and matched.loss_curve_[-1] < 1e-4 * matched.loss_curve_[0]
    assert _plateau_exit(fixed) > 20 * _plateau_exit(matched)
    assert fixed.multilinear_rank_ == (2, 2, 2)
    assert _missing_error(fixed, X, truth) <= 1e-2  # measured 4e-3


def test_grid_search_prefers_small_init():
    """Two working inits (held-out R² > 0.99): the smaller, lower-rank biased one wins every fold.

    Measured fold scores: 1 - 1e-8 for ``init_scale=1e-2``, 0.9991-0.9997 for 0.3.
    """
    X, _ = make_low_multilinear_rank((24, 8, 8), (2, 2, 2), observed_fraction=0.5, random_state=3)
    grid = GridSearchCV(
        DeepTucker(max_iter=600, tol=1e-3, solver="flow", early_stopping=False, random_state=0),
        {"init_scale": [1e-2, 0.3]},
        cv=3,
    )
    grid.fit(X)
    assert grid.best_params_["init_scale"] == 1e-2
    for fold in range(3):
        small, large = grid.cv_results_[f"split{fold}_test_score"]
        assert large > 0.99  # both settings work
        assert small > large + 2e-4


def test_fitted_attributes_and_history():
    X, _ = make_low_multilinear_rank((9, 7, 6), (2, 3, 2), observed_fraction=0.7, random_state=1)
    est = DeepTucker(depth=2, max_iter=400, early_stopping=False, random_state=0).fit(X)
    assert est.core_.shape == (9, 7, 6)
    assert [U.shape for U in est.factors_] == [(9, 9), (7, 7), (6, 6)]
    assert [len(c) for c in est.chains_] == [2, 2, 2]
    assert [h.shape[1] for h in est.core_slice_norms_history_] == [9, 7, 6]
    assert len(est.history_iter_) == est.core_slice_norms_history_[0].shape[0]
    assert est.history_time_.shape == est.history_iter_.shape
    assert est.history_iter_[-1] == est.n_iter_
    assert est.multilinear_rank_history_.shape == (len(est.history_iter_), 3)
    assert est.n_grad_evals_ >= est.n_iter_
    assert est.stop_reason_ in ("tol", "max_iter")
    np.testing.assert_allclose(est.core_slice_norms_history_[1][-1], est.core_slice_norms_[1])
    Z = est.transform(X)
    assert Z.shape == (9, est.multilinear_rank_[0])
    assert est.inverse_transform(Z).shape == X.shape
    assert est.score(X) > 0.5


def test_transform_is_row_separable_and_deterministic():
    X, _ = make_low_multilinear_rank((12, 5, 4), (2, 2, 2), observed_fraction=0.8, random_state=2)
    est = DeepTucker(max_iter=300, random_state=0)
    Z = est.fit_transform(X)
    np.testing.assert_allclose(Z, est.transform(X))
    np.testing.assert_allclose(est.transform(X[::-1])[::-1], Z)
    np.testing.assert_allclose(est.transform(X[3:4]), Z[3:4])
    again = DeepTucker(max_iter=300, random_state=0).fit(X)
    np.testing.assert_array_equal(again.core_, est.core_)


def test_width_caps_and_bad_parameters():
    X = np.random.RandomState(0).standard_normal((6, 4))
    assert DeepTucker(width=3, max_iter=5, tol=0).fit(X).widths_ == (3, 3)
    assert DeepTucker(max_iter=5, tol=0).fit(X).widths_ == (4, 4)
    assert DeepTucker(max_iter=5, tol=0).fit(X.reshape(6, 2, 2)).widths_ == (4, 2, 2)
    with pytest.raises(ValueError, match="depth"):
        DeepTucker(depth=0).fit(X)
    with pytest.raises(ValueError, match="factor_form"):
        DeepTucker(factor_form="rows").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        DeepTucker().fit(np.full((3, 3), np.nan))
    est = DeepTucker(max_iter=5, tol=0).fit(X)
    with pytest.raises(ValueError, match="feature shape"):
        est.transform(np.ones((2, 4, 1)))


@pytest.mark.parametrize("form", ["product", "column"])
def test_backend_parity_pytorch(form):
    torch = pytest.importorskip("torch")
    X, _ = make_low_multilinear_rank((7, 6, 5), (2, 2, 2), observed_fraction=0.7, random_state=0)
    kw = dict(depth=2, factor_form=form, max_iter=60, tol=0, random_state=0)
    with threadpool_limits(1):  # spinning BLAS and OpenMP pools oversubscribe small machines
        est_np = DeepTucker(**kw).fit(X)
        est_pt = DeepTucker(**kw).fit(torch.tensor(X))
    assert isinstance(est_pt.core_, torch.Tensor)
    np.testing.assert_allclose(est_pt.core_.numpy(), est_np.core_, atol=1e-8)
    np.testing.assert_allclose(est_pt.loss_curve_, est_np.loss_curve_, rtol=1e-8, atol=1e-12)


def test_problem_view_and_rate_scale():
    rng = np.random.RandomState(0)
    start = dtm.init_params(rng, (5, 4, 3), (4, 4, 3), 2, scale=1e-2)
    target = rng.standard_normal((5, 4, 3))
    kw = dict(depth=2, coef=0.5, data_scale=7.0)
    assert dtm.problem(start, target, None, **kw).rate_scale == 1.0  # tol=0
    problem = dtm.problem(start, target, None, tol=1e-2, **kw)
    rate = initial_rate(problem)
    assert problem.rate_scale == min(1.0, dtm.PLATEAU_SHARE * rate / 1e-2) < 1.0
    assert dtm.problem(start, target, None, tol=1e3, **kw).rate_scale == min(
        1.0, dtm.PLATEAU_SHARE * rate / 1e3
    )
    view = problem.view(problem.start)
    np.testing.assert_allclose(view[0], 7.0 * start[0])
    assert all(v is p for v, p in zip(view[1:], start[1:], strict=True))
    np.testing.assert_allclose(
        dtm.to_tensor(view, 3, 2), 7.0 * dtm.to_tensor(start, 3, 2), rtol=1e-12
    )


def test_spectral_scale_is_largest_singular_value_of_unfoldings():
    X = np.random.RandomState(0).standard_normal((6, 2, 4))
    expected = max(np.linalg.norm(tl.unfold(X, k), 2) for k in range(3))
    np.testing.assert_allclose(dtm.spectral_scale(X), expected, rtol=1e-12)


def _last_view(est, X):
    """Fit ``est`` on ``X`` and return the parameters its callback saw last."""
    seen = {}

    def callback(state):
        seen["params"] = [np.array(p) for p in state.params]

    est.set_params(callback=callback).fit(X)
    return seen["params"]


def test_callback_sees_parameters_in_data_units():
    X, _ = make_low_multilinear_rank((8, 6, 5), (2, 2, 2), observed_fraction=0.7, random_state=0)
    kw = dict(max_iter=150, tol=0, random_state=0)
    est = DeepTucker(**kw)
    params = _last_view(est, X)
    est_big = DeepTucker(**kw)
    params_big = _last_view(est_big, 1000 * X)
    np.testing.assert_allclose(params_big[0], 1000 * params[0], rtol=1e-6)
    np.testing.assert_allclose(params[0], est.core_)
    X_fit = tl.tucker_to_tensor(est.to_tensorly(full=True))
    np.testing.assert_allclose(dtm.to_tensor(params, 3, 1), X_fit, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est_big.loss_curve_, 1e6 * est.loss_curve_, rtol=1e-6)


def _raising_callback(state):
    raise RuntimeError("stop the fit")


def test_failed_refit_keeps_previous_model():
    X, _ = make_low_multilinear_rank((8, 6, 5), (2, 2, 2), observed_fraction=0.7, random_state=0)
    est = DeepTucker(max_iter=100, random_state=0).fit(X)
    core, n_iter, Z = est.core_, est.n_iter_, est.transform(X)
    est.set_params(callback=_raising_callback, max_iter=50)
    with pytest.raises(RuntimeError, match="stop the fit"):
        est.fit(X[:4])
    assert est.core_ is core and est.n_iter_ == n_iter
    np.testing.assert_array_equal(est.transform(X), Z)
    with pytest.raises(ValueError, match="no observed entry"):
        est.fit(np.full((3, 3), np.nan))
    assert est.core_ is core and est.n_features_in_ == 6


def test_failed_first_fit_leaves_estimator_unfitted():
    X, _ = make_low_multilinear_rank((8, 6, 5), (2, 2, 2), observed_fraction=0.7, random_state=0)
    est = DeepTucker(max_iter=50, callback=_raising_callback, random_state=0)
    with pytest.raises(RuntimeError, match="stop the fit"):
        est.fit(X)
    with pytest.raises(NotFittedError):
        est.transform(X)
    assert not hasattr(est, "core_") and not hasattr(est, "n_features_in_")


def test_solver_options_are_validated_and_used():
    X, _ = make_low_multilinear_rank((8, 6, 5), (2, 2, 2), observed_fraction=0.7, random_state=0)
    kw = dict(max_iter=200, tol=0, solver="flow", random_state=0)
    loose = DeepTucker(solver_options={"rtol": 1e-2}, **kw).fit(X)
    tight = DeepTucker(**kw).fit(X)
    assert loose.time_curve_[-1] > tight.time_curve_[-1]  # a looser error bound, longer steps
    with pytest.raises(InvalidParameterError, match="rtol"):
        DeepTucker(**{**kw, "solver": "gd"}, solver_options={"rtol": 1e-2}).fit(X)


def test_masked_r2_uses_r2_score_with_guard():
    rng = np.random.RandomState(0)
    y, p = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    mask = rng.rand(4, 5) < 0.6
    assert masked_r2(y, p, mask) == r2_score(y[mask], p[mask])
    one = np.zeros((4, 5), dtype=bool)
    one[0, 0] = True
    assert masked_r2(y, p, one) == 0.0
    assert masked_r2(np.full((4, 5), 0.1), p, mask) == 0.0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_early_stopping_and_fit_complete():
    X, truth = make_low_multilinear_rank(
        (12, 10, 8), (2, 2, 2), observed_fraction=0.5, noise=0.2, random_state=0
    )
    missing = np.isnan(X)
    plain = DeepTucker(early_stopping=False, random_state=0)
    plain_completed = plain.fit_complete(X)
    assert plain.validation_scores_ is None and plain.best_iter_ is None
    fitted = tl.tucker_to_tensor(plain.to_tensorly(full=True))
    np.testing.assert_array_equal(plain_completed[~missing], X[~missing])
    np.testing.assert_allclose(plain_completed[missing], fitted[missing], rtol=1e-10)
    est = DeepTucker(random_state=0)  # early stopping is the default
    completed = est.fit_complete(X)
    scores = est.validation_scores_
    assert scores.shape == est.validation_iter_.shape
    assert est.best_validation_score_ == scores.max() > 0.5
    assert est.best_iter_ == est.validation_iter_[np.argmax(scores)] <= est.n_iter_
    error = relative_error(completed[missing], truth.tensor[missing])
    assert error < relative_error(plain_completed[missing], truth.tensor[missing])


def _rank3_matrix(seed):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((20, 3)) @ rng.standard_normal((3, 8))


@pytest.mark.parametrize("seed", range(5))
def test_exact_low_rank_matrix_right_rank_or_warning(seed):
    """Defaults on an exact rank-3 20x8 matrix: rank (3, 3) and a fit, or a ConvergenceWarning."""
    M = _rank3_matrix(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = DeepTucker(random_state=seed).fit(M)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    fitted = tl.tucker_to_tensor(est.to_tensorly())
    assert warned or (est.multilinear_rank_ == (3, 3) and relative_error(fitted, M) < 1e-2)


def test_flow_escapes_rank_one_saddle():
    """The flow stops on the tol test at rank (1, 1); the escape re-seeds and recovers rank 3."""
    escapes = []
    for seed in range(3):
        M = _rank3_matrix(seed)
        est = DeepTucker(solver="flow", early_stopping=False, random_state=seed).fit(M)
        assert est.multilinear_rank_ == (3, 3)
        assert relative_error(tl.tucker_to_tensor(est.to_tensorly()), M) < 1e-3
        escapes.append(est.n_escapes_)
    assert min(escapes) >= 1


def test_unexplained_direction_and_reseed():
    rng = np.random.RandomState(0)
    u, v, w = (x / np.linalg.norm(x) for x in rng.standard_normal((3, 12)))
    E = 3.0 * np.einsum("i,j,k->ijk", u, v, w) + 1e-3 * rng.standard_normal((12, 12, 12))
    vectors, amplitude = dte.unexplained_direction(E, 1.0, 1e-2)
    assert abs(amplitude) == pytest.approx(3.0, rel=1e-2)
    assert abs(vectors[0] @ u) > 0.999 and abs(vectors[2] @ w) > 0.999
    assert dte.unexplained_direction(E, 1e3, 1e-2) is None  # too small to count
    assert dte.unexplained_direction(rng.standard_normal((12, 12, 12)), 1.0, 1e-2) is None
    params = dtm.init_params(rng, (12, 12, 12), (4, 4, 4), 1, scale=1e-3)
    new = dte.reseed(params, vectors, amplitude)
    added = dtm.to_tensor(new, 3, 1) - dtm.to_tensor(params, 3, 1)
    expected = dte.SEED_SHARE * amplitude * np.einsum("i,j,k->ijk", *vectors)
    np.testing.assert_allclose(added, expected, atol=1e-6)


def test_compressed_core_gives_the_model_rank():
    rng = np.random.RandomState(0)
    params = dtm.init_params(rng, (9, 7, 6), (5, 4, 3), 2, scale=1.0)
    small = dtm.compressed_core(params, 3, 2)
    assert small.shape == (5, 4, 3)
    X_hat = dtm.to_tensor(params, 3, 2)
    for mode in range(3):
        np.testing.assert_allclose(
            np.linalg.svd(tl.unfold(small, mode), compute_uv=False),
            np.linalg.svd(tl.unfold(X_hat, mode), compute_uv=False)[: small.shape[mode]],
            rtol=1e-10,
        )


def test_default_width_is_capped():
    X = np.random.RandomState(0).standard_normal((40, 36, 3))
    est = DeepTucker(max_iter=3, random_state=0).fit(X)
    assert est.widths_ == (DEFAULT_WIDTH, DEFAULT_WIDTH, 3)
    assert est.validation_scores_ is not None  # early stopping on by default


def test_warns_when_early_stopping_keeps_a_useless_model():
    """A large start never fits the withheld entries: the kept model is flagged."""
    X, _ = make_low_multilinear_rank((24, 8, 8), (2, 2, 2), observed_fraction=0.5, random_state=3)
    with pytest.warns(ConvergenceWarning, match="no better than"):
        est = DeepTucker(init_scale=3.0, max_iter=300, random_state=0).fit(X)
    assert est.best_validation_score_ <= 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        good = DeepTucker(random_state=0).fit(X)
    assert not any("no better than" in str(w.message) for w in caught)
    assert good.best_validation_score_ > 0.9


def test_zero_data_gives_rank_zero_with_a_warning():
    X = np.zeros((8, 5, 4))
    X[0, 0, 0] = np.nan
    with pytest.warns(UserWarning, match="all zero.*multilinear_rank_ is 0"):
        est = DeepTucker(random_state=0).fit(X)
    assert est.multilinear_rank_ == (0, 0, 0) and est.components_.shape == (0, 5, 4)
    assert est.transform(X).shape == (8, 0) and est.complete(X)[0, 0, 0] == 0.0


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_results_do_not_depend_on_the_data_scale(scale):
    X, _ = make_low_multilinear_rank((10, 8, 6), (2, 2, 2), observed_fraction=0.7, random_state=0)
    ref = DeepTucker(random_state=0).fit(X)
    est = DeepTucker(random_state=0).fit(X * scale)
    assert est.multilinear_rank_ == ref.multilinear_rank_ and est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.core_, ref.core_ * scale, rtol=1e-8, atol=0)
    np.testing.assert_allclose(est.complete(X * scale), ref.complete(X) * scale, rtol=1e-6)
