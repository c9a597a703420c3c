"""TubalSensing: the normalized sensing loss, recovery, noise, divergence stop, API."""

import warnings

import numpy as np
import pytest
from finite_differences import numeric_grad
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import TubalSensing
from sktensorflow import tproduct as tp
from sktensorflow.datasets import make_tubal_sensing
from sktensorflow.metrics import relative_error
from sktensorflow.models import tubal as mt
from sktensorflow.models import tubal_sensing as ms
from sktensorflow.sensing import fit_sensing


# -- model ---------------------------------------------------------------------------------
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("k", [1, 4])
def test_sensing_gradient_matches_finite_differences(normalize, symmetric, k):
    rng = np.random.default_rng(k)
    n2 = 4 if symmetric else 3
    G, y = rng.standard_normal((7, 4 * n2 * k)), rng.standard_normal(7)
    data = ms.sensing_data(G, y, (4, n2, k), normalize=normalize)
    params = [rng.standard_normal((4, 2, k))]
    params += [] if symmetric else [rng.standard_normal((n2, 2, k))]
    loss, grads = mt.loss_and_grad(tuple(params), data)
    num = numeric_grad(lambda p: mt.loss_and_grad(tuple(p), data)[0], params)
    for g, n in zip(grads, num, strict=True):
        np.testing.assert_allclose(g, n, rtol=1e-6, atol=1e-7 * np.abs(n).max())
    X = tp.t_product(params[0], tp.t_transpose(params[-1]))
    c2 = 1 / 7 if normalize else 1.0
    assert loss == pytest.approx(0.5 * c2 * np.sum((G @ X.ravel() - y) ** 2), rel=1e-12)


# -- recovery ------------------------------------------------------------------------------
def _fit(X, y, shape, **kw):
    kw = {"width": 12, "shape": shape, "random_state": 0, "max_iter": 5000, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return TubalSensing(**kw).fit(X, y)


def test_asymmetric_truth_is_recovered():
    """``A * B^T`` from 180 Gaussian measurements of a 6x5x3 tensor (90 unknowns)."""
    X, y, truth = make_tubal_sensing((6, 5, 3), 2, 180, symmetric=False, random_state=0)
    est = _fit(X, y, truth.shape)
    assert est.tubal_rank_ == 2
    # Measured 1.3e-3 (tol=1e-4 stop); the tensor is the factors' t-product.
    assert relative_error(est.coef_.reshape(truth.shape), truth.tensor) < 3e-3
    np.testing.assert_allclose(est.predict(X), X @ est.coef_)
    fitted = tp.t_product(est.factors_[0], tp.t_transpose(est.factors_[1]))
    np.testing.assert_allclose(fitted.ravel(), est.coef_, atol=1e-12)


def test_ill_conditioned_symmetric_truth_fewer_measurements_than_entries():
    """Condition number 10, m = 100 < n²k = 128: the weak component is found too."""
    X, y, truth = make_tubal_sensing((8, 8, 2), 3, 100, condition_number=10, random_state=1)
    est = _fit(X, y, truth.shape, width=10, symmetric=True, init_scale=1e-4, tol=0.0)
    assert est.tubal_rank_ == 3
    s = np.sort(est.singular_values_[0])[::-1][:3]
    np.testing.assert_allclose(s, truth.singular_values, rtol=1e-4)  # measured 2e-5
    assert relative_error(est.coef_.reshape(truth.shape), truth.tensor) < 3e-5  # measured 9.5e-6


def test_noise_sets_the_error_floor():
    """Measured errors 0.0034 and 0.046 at noise 0.01 and 0.1 (fitting to ``tol`` overfits)."""
    errors, ranks = [], []
    for noise in (0.01, 0.1):
        X, y, truth = make_tubal_sensing((8, 8, 2), 2, 200, noise=noise, random_state=2)
        est = TubalSensing(12, shape=truth.shape, symmetric=True, init_scale=1e-4,
                           max_iter=20000, random_state=0).fit(X, y)  # fmt: skip
        errors.append(relative_error(est.coef_.reshape(truth.shape), truth.tensor))
        ranks.append(est.tubal_rank_)
    assert ranks[0] == 2
    assert 0.0025 < errors[0] < 0.0045
    assert 10 < errors[1] / errors[0] < 18


def test_early_stopping_on_noisy_measurements_finds_the_rank():
    """Noise 0.1: fitting to ``tol`` ends at tubal rank 4, error 0.046; the held-out stop at
    rank 2, error 0.0385 (best iterate 140 of 240). Noise 0.3: 0.136 against 0.113."""
    X, y, truth = make_tubal_sensing((8, 8, 2), 2, 200, noise=0.1, random_state=2)
    kw = dict(shape=truth.shape, symmetric=True, init_scale=1e-4, max_iter=20000, random_state=0)
    full = TubalSensing(12, **kw).fit(X, y)
    est = TubalSensing(12, early_stopping=True, **kw).fit(X, y)
    assert full.tubal_rank_ > 2 and est.tubal_rank_ == 2
    error = relative_error(est.coef_.reshape(truth.shape), truth.tensor)
    assert error < 0.9 * relative_error(full.coef_.reshape(truth.shape), truth.tensor)
    assert est.stop_reason_ == "early_stopping" and est.best_iter_ < est.n_iter_ < 1000
    assert est.validation_iter_.shape == est.validation_scores_.shape
    assert np.all(est.validation_iter_ % 10 == 0)
    assert est.best_validation_score_ == est.validation_scores_.max() > 0.99
    assert full.validation_scores_ is None and full.best_iter_ is None


def test_early_stopping_without_noise_still_recovers():
    X, y, truth = make_tubal_sensing((8, 8, 2), 2, 200, random_state=2)
    est = TubalSensing(12, shape=truth.shape, symmetric=True, init_scale=1e-4,
                       early_stopping=True, random_state=0).fit(X, y)  # fmt: skip
    assert est.tubal_rank_ == 2
    assert relative_error(est.coef_.reshape(truth.shape), truth.tensor) < 1e-3  # measured 1e-4


def test_normalization_changes_only_the_step():
    X, y, truth = make_tubal_sensing((5, 5, 2), 1, 60, symmetric=False, random_state=3)
    kw = dict(shape=truth.shape, width=4, random_state=0, max_iter=300, tol=0.0)
    plain = TubalSensing(**kw).fit(X, y)
    scaled = TubalSensing(normalize=True, **kw).fit(X, y)
    np.testing.assert_allclose(scaled.coef_, plain.coef_, rtol=1e-8, atol=1e-12)
    assert scaled.learning_rate_ == pytest.approx(60 * plain.learning_rate_)
    fixed = TubalSensing(learning_rate=plain.learning_rate_, **kw).fit(X, y)
    fixed_scaled = TubalSensing(learning_rate=60 * plain.learning_rate_, normalize=True, **kw)
    np.testing.assert_allclose(fixed_scaled.fit(X, y).coef_, fixed.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(scaled.loss_curve_, plain.loss_curve_ / 60)


# -- the divergence stop -------------------------------------------------------------------
def test_divergence_stop_fires_on_too_long_steps():
    X, y, truth = make_tubal_sensing((5, 5, 2), 1, 60, random_state=4)
    est = TubalSensing(4, shape=truth.shape, symmetric=True, random_state=0, max_iter=2000)
    rate = 40 * est.fit(X, y).learning_rate_
    with pytest.warns(ConvergenceWarning, match="divergence_threshold=20.0") as record:
        diverged = clone(est).set_params(learning_rate=rate).fit(X, y)
    assert {w.filename for w in record if w.category is ConvergenceWarning} == {__file__}
    assert diverged.stop_reason_ == "diverged" and diverged.n_iter_ == diverged.diverged_at_
    residual = np.linalg.norm(X @ diverged.coef_ - y) / np.linalg.norm(y)
    assert residual > 20
    assert est.diverged_at_ is None
    with pytest.raises(FloatingPointError), np.errstate(all="ignore"):  # the loss overflows
        clone(est).set_params(learning_rate=rate, divergence_threshold=None).fit(X, y)


def test_fit_sensing_divergence_stop_uses_the_test_error():
    G, y, truth = make_tubal_sensing((5, 5, 2), 1, 60, random_state=4)
    res = fit_sensing(
        G, y, truth.shape, width=4, init_scale=1e-3, learning_rate=0.05, max_iter=500,
        truth=truth.tensor, random_state=0, record_every=1,
    )  # fmt: skip
    assert res.diverged_at is not None and res.n_iter == res.diverged_at
    assert relative_error(res.tensor, truth.tensor) > 20
    ok = fit_sensing(G, y, truth.shape, width=4, init_scale=1e-3, learning_rate=1e-3,
                     max_iter=500, truth=truth.tensor, random_state=0)  # fmt: skip
    assert ok.diverged_at is None and ok.n_iter == 500


def test_fit_sensing_asymmetric_model():
    G, y, truth = make_tubal_sensing((6, 5, 3), 2, 180, symmetric=False, random_state=0)
    res = fit_sensing(
        G, y, truth.shape, width=8, symmetric=False, init_scale=1e-4, learning_rate=1e-3,
        max_iter=3000, truth=truth.tensor, random_state=0, record_every=100,
    )  # fmt: skip
    assert [f.shape for f in res.factors] == [(6, 8, 3), (5, 8, 3)]
    assert res.history["test_error"][-1] < 6e-4  # measured 3.7e-4


# -- API -----------------------------------------------------------------------------------
def test_bad_shapes_are_named():
    X, y, _ = make_tubal_sensing((4, 3, 2), 1, 30, symmetric=False, random_state=0)
    with pytest.raises(ValueError, match=r"shape=\(4, 4, 2\) has 32 entries"):
        TubalSensing(shape=(4, 4, 2)).fit(X, y)
    with pytest.raises(ValueError, match="symmetric=True needs shape"):
        TubalSensing(shape=(4, 3, 2), symmetric=True).fit(X, y)
    with pytest.raises(ValueError, match="three positive integers"):
        TubalSensing(shape=(24, 1)).fit(X, y)
    with pytest.raises(ValueError, match="scaled_gd"):
        TubalSensing(shape=(4, 3, 2), solver="scaled_gd").fit(X, y)


def test_default_shape_is_linear_regression_and_refit_is_atomic():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 6))
    w = rng.standard_normal(6)
    est = TubalSensing(random_state=0).fit(X, X @ w)
    assert est.shape_ == (1, 6, 1) and est.tubal_rank_ == 1
    assert relative_error(est.coef_, w) < 1e-4  # measured 6e-5 at the tol=1e-4 stop
    before = est.coef_.copy()
    with pytest.raises(ValueError):
        est.set_params(shape=(2, 2, 2)).fit(X, X @ w)
    np.testing.assert_array_equal(est.coef_, before)


def test_deterministic_and_pytorch_parity():
    X, y, truth = make_tubal_sensing((5, 4, 3), 1, 50, symmetric=False, random_state=5)
    kw = dict(shape=truth.shape, width=4, random_state=0, max_iter=200, tol=0.0)
    ref = TubalSensing(**kw).fit(X, y)
    np.testing.assert_array_equal(TubalSensing(**kw).fit(X, y).coef_, ref.coef_)
    pytest.importorskip("torch")
    res = TubalSensing(backend="pytorch", **kw).fit(X, y)
    np.testing.assert_allclose(np.asarray(res.coef_), ref.coef_, atol=1e-10)


def test_callback_sees_the_real_factors():
    X, y, truth = make_tubal_sensing((5, 4, 3), 1, 50, symmetric=False, random_state=5)
    seen = []
    est = TubalSensing(3, shape=truth.shape, max_iter=4, tol=0.0, callback=seen.append)
    est.fit(X, y)
    assert len(seen) == 4 and [p.shape for p in seen[-1].params] == [(5, 3, 3), (4, 3, 3)]
    np.testing.assert_allclose(seen[-1].params[0], est.factors_[0])
