"""The damped per-slice preconditioner (solver="scaled_gd") and the tube axis choice."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sktensorflow import DeepTucker, TubalFactorizer
from sktensorflow import tproduct as tp
from sktensorflow.datasets import make_tubal_low_rank
from sktensorflow.metrics import relative_error
from sktensorflow.models import tubal as mt
from sktensorflow.models.tubal_precondition import (
    DAMPING_FLOOR,
    damping_unit,
    observed_share,
    slice_preconditioner,
)
from sktensorflow.models.tubal_saddle import _balanced


@pytest.mark.parametrize("k", [1, 4, 5])
def test_preconditioner_is_the_damped_gram_inverse_per_fourier_slice(k):
    """On real factors, the step is G_A (p B_j^H B_j + λ)^{-1} on every Fourier slice."""
    rng = np.random.default_rng(k)
    A, B = rng.standard_normal((6, 3, k)), rng.standard_normal((5, 3, k))
    mask = (rng.random((6, 5, k)) < 0.7).astype(float)
    data = mt.masked_data(rng.standard_normal((6, 5, k)), mask)
    coords = mt.to_coordinates((A, B))
    grads = mt.coordinate_loss_and_grad(coords, data)[1]
    sigma, damping = 2.5, 0.3
    steps = mt.from_coordinates(slice_preconditioner(data, sigma)(coords, grads, damping), k)
    p = observed_share(data)
    assert p == pytest.approx(mask.mean())
    Gs = mt.from_coordinates(grads, k)
    for step, G, other in ((steps[0], Gs[0], B), (steps[1], Gs[1], A)):
        Gf, Of = np.fft.fft(G, axis=2), np.fft.fft(other, axis=2)
        expected = np.empty_like(Gf)
        for j in range(k):
            gram = p * Of[:, :, j].conj().T @ Of[:, :, j] + damping * sigma * np.eye(3)
            expected[:, :, j] = Gf[:, :, j] @ np.linalg.inv(gram)
        np.testing.assert_allclose(step, np.fft.ifft(expected, axis=2).real, atol=1e-10)


def test_symmetric_preconditioner_counts_the_residual_twice():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((5, 2, 1))
    data = mt.dense_data(rng.standard_normal((5, 5, 1)))
    coords = mt.to_coordinates((U,))
    grads = mt.coordinate_loss_and_grad(coords, data)[1]
    (step,) = mt.from_coordinates(slice_preconditioner(data, 1.0)(coords, grads, 0.5), 1)
    (G,) = mt.from_coordinates(grads, 1)
    u = U[:, :, 0]
    expected = G[:, :, 0] @ np.linalg.inv(2 * u.T @ u + 0.5 * np.eye(2))
    np.testing.assert_allclose(step[:, :, 0], expected, atol=1e-12)


def _ill_conditioned(shape=(24, 20, 4), weights=(1.0, 0.2, 0.04)):
    """A tubal rank-3 tensor whose components differ in size by factors of 5."""
    rng = np.random.default_rng(0)
    n1, n2, k = shape
    A = rng.standard_normal((n1, len(weights), k)) * np.asarray(weights)[None, :, None]
    return tp.t_product(A, tp.t_transpose(rng.standard_normal((n2, len(weights), k))))


def test_scaled_gd_fits_ill_conditioned_data_in_fewer_iterations():
    X = _ill_conditioned()
    common = dict(width=6, tube_axis=2, early_stopping=False, tol=1e-7, random_state=0)
    common["max_iter"] = 20000
    scaled = TubalFactorizer(solver="scaled_gd", init_scale=1e-6, **common).fit(X)
    plain = TubalFactorizer(solver="gd", init_scale=1e-6, **common).fit(X)
    assert scaled.tubal_rank_ == plain.tubal_rank_ == 3
    for est in (scaled, plain):
        assert relative_error(est._fitted_values(), X) < 1e-3
    assert scaled.n_iter_ * 3 < plain.n_iter_


def test_damping_unit_is_the_second_slice_singular_value_above_a_floor():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 5, 4))
    values = np.linalg.svd(np.fft.fft(X, axis=2)[:, :, :3].transpose(2, 0, 1), compute_uv=False)
    second, first = np.sort(values.ravel())[-2:]
    assert damping_unit(mt.dense_data(X)) == pytest.approx(second, rel=1e-12)
    rank_one = np.einsum("i,j,t->ijt", rng.standard_normal(6), rng.standard_normal(5), np.ones(4))
    top = tp.tubal_singular_values(rank_one).max()
    assert damping_unit(mt.dense_data(rank_one)) == pytest.approx(DAMPING_FLOOR * top)


def test_default_preconditions_a_dominant_mean():
    """Issue 11: a large offset (the mean of nonnegative data, a component far above the
    others) bounds gradient descent's step, so the small components take thousands of
    iterations; with the damping in units of the second slice singular value the
    default solver preconditions the offset and fits the same model far sooner."""
    X, truth = make_tubal_low_rank((30, 24, 6), 2, observed_fraction=0.5, random_state=0)
    offset = 20 * np.abs(truth.tensor).mean()
    common = dict(width=8, tube_axis=2, early_stopping=False, random_state=0)
    fast = TubalFactorizer(**common).fit(X + offset)
    slow = TubalFactorizer(solver="gd", **common).fit(X + offset)
    for est in (fast, slow):
        assert est.tubal_rank_ == 3
        assert relative_error(est._fitted_values(), truth.tensor + offset) < 1e-2
    assert fast.n_iter_ * 5 < slow.n_iter_


def test_saddle_escape_sees_past_unbalanced_factors():
    """A preconditioned step lets unused columns of one factor grow (A -> A Q,
    B -> B Q^-H leaves it unchanged); from a tiny start it passes ``tol`` before
    the weakest component, and the escape must still find a spare column."""
    X = _ill_conditioned()
    est = TubalFactorizer(
        width=6,
        tube_axis=2,
        solver="scaled_gd",
        init_scale=1e-9,
        early_stopping=False,
        tol=1e-7,
        random_state=0,
    ).fit(X)
    assert est.n_escapes_ >= 1 and est.tubal_rank_ == 3
    assert relative_error(est._fitted_values(), X) < 1e-3


def test_balanced_coordinates_keep_the_product_and_balance_the_factors():
    rng = np.random.default_rng(0)
    k = 5
    A = rng.standard_normal((6, 4, k)) * np.array([10, 1, 1e-3, 1])[None, :, None]
    B = rng.standard_normal((7, 4, k)) * np.array([0.1, 1, 1e3, 1e-6])[None, :, None]
    coords = _balanced(mt.to_coordinates((A, B)))
    A2, B2 = mt.from_coordinates(coords, k)
    np.testing.assert_allclose(mt.to_tensor((A2, B2)), mt.to_tensor((A, B)), atol=1e-9)
    Af, Bf = np.fft.fft(A2, axis=2), np.fft.fft(B2, axis=2)
    for j in range(k):
        gram_a = Af[:, :, j].conj().T @ Af[:, :, j]
        np.testing.assert_allclose(gram_a, Bf[:, :, j].conj().T @ Bf[:, :, j], atol=1e-8)


def test_scaled_gd_needs_a_model_with_a_preconditioner():
    X = np.random.default_rng(0).standard_normal((8, 6))
    with pytest.raises(InvalidParameterError, match="solver='scaled_gd' needs a model"):
        DeepTucker(solver="scaled_gd", max_iter=5).fit(X)


@pytest.fixture(scope="module")
def tubes_along_axis_1():
    """Low tubal rank with the tubes along axis 1 (the truth transposed)."""
    X, truth = make_tubal_low_rank((30, 24, 8), 3, observed_fraction=0.5, random_state=0)
    return X.transpose(0, 2, 1), truth.tensor.transpose(0, 2, 1)


def test_auto_tube_axis_finds_the_tubes(tubes_along_axis_1):
    X, full = tubes_along_axis_1
    est = TubalFactorizer(width=10, random_state=0).fit(X)
    assert est.tube_axis_ == 1 and est.tubal_rank_ == 3
    assert est.factors_[0].shape == (30, 10, 8) and est.factors_[1].shape == (24, 10, 8)
    assert est.components_.shape == (3, 8, 24)
    assert relative_error(est.fit_complete(X), full) < 1e-2
    assert relative_error(est.complete(X), full) < 1e-2  # fold-in in the input's orientation
    assert est.score(full) > 0.99
    with warnings.catch_warnings():  # the wrong orientation predicts nothing: it warns
        warnings.simplefilter("ignore", ConvergenceWarning)
        forced = TubalFactorizer(width=10, tube_axis=2, random_state=0)
        forced_filled = forced.fit_complete(X)
    assert forced.best_validation_score_ < est.best_validation_score_
    assert relative_error(forced_filled, full) > 0.1


def test_tube_axis_1_needs_third_order_input():
    X = np.random.default_rng(0).standard_normal((8, 6))
    with pytest.raises(ValueError, match="tube_axis=1 needs third-order X"):
        TubalFactorizer(tube_axis=1).fit(X)


def test_width_is_capped_at_twice_the_largest_tubal_rank():
    X, _ = make_tubal_low_rank((20, 3, 6), 1, random_state=0)
    est = TubalFactorizer(width=16, tube_axis=2, random_state=0).fit(X)
    assert est.factors_[0].shape == (20, 6, 6) and est.tubal_rank_ == 1
