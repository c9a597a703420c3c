"""Degenerate data for the symmetric CP estimators: zero targets and extreme scales.

OverparamCP and DeflationFlowCP fit on data divided by an exact power of two
chosen from their size and scale the fitted attributes back to data units, so
their answers do not depend on the data's scale (issue 11, item 5).
"""

import functools
import warnings

import numpy as np
import pytest
import tensorly as tl

from sktensorflow import DeflationFlowCP, OverparamCP
from sktensorflow.datasets import make_symmetric_cp

ESTIMATORS = {
    "OverparamCP": lambda **kw: OverparamCP(width=6, random_state=0, **kw),
    "DeflationFlowCP": lambda **kw: DeflationFlowCP(width=6, random_state=0, **kw),
}
#: Close to 1e-150 and 1e150; powers of two keep the normalized problem bit-identical.
EXACT_SCALES = [2.0**-498, 2.0**498]
DECIMAL_SCALES = [1e-150, 1e150]


def _samples(n=600, d=3, seed=0):
    """Two skewed sources along orthogonal directions (one stands above the sampling noise)."""
    rng = np.random.default_rng(seed)
    sources = rng.exponential(size=(n, 2)) - 1.0
    mixing = np.linalg.qr(rng.standard_normal((d, 2)))[0].T
    return sources @ (mixing * [[1.0], [0.7]])


def _fit(name, data, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return ESTIMATORS[name](**params).fit(data)


def _fit_quiet(name, data, **params):
    """Fit, ignoring the warning that weights overflow float64 in data units."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="weights_ .* outside the float64 range")
        return _fit(name, data, **params)


@functools.cache
def _reference(name, tensor, kind=None):
    """The fit at scale 1 that the scaled fits are compared with."""
    data = _samples() if kind is None else _scaled_targets(kind, 1.0)[0]
    return _fit(name, data, tensor=tensor, order=3)


# -- zero data ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("tensor", ["moment", "cumulant"])
def test_zero_samples_give_rank_zero_with_a_warning(name, tensor):
    with pytest.warns(UserWarning, match="all zero"):
        est = _fit(name, np.zeros((30, 4)), tensor=tensor, order=4)
    assert est.rank_ == 0
    assert est.components_.shape == (0, 4)
    assert est.transform(np.ones((2, 4))).shape == (2, 0)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("kind", ["dense", "cp"])
def test_zero_precomputed_target_gives_rank_zero_with_a_warning(name, kind):
    if kind == "dense":
        target = np.zeros((4,) * 4)
    else:
        factor = np.random.default_rng(0).standard_normal((4, 2))
        target = tl.cp_tensor.CPTensor((np.zeros(2), [factor] * 4))
    with pytest.warns(UserWarning, match="all zero"):
        est = _fit(name, target, tensor="precomputed", order=4)
    assert est.rank_ == 0 and est.weights_.shape == (0,)


# -- scale invariance ---------------------------------------------------------------------
# -- scale invariance ---------------------------------------------------------------------
def _check_scaled(est, scaled, c, power, *, exact, rtol=1e-8):
    """``scaled`` (fitted on data times ``c``) is ``est`` with the target times ``c**power``."""
    assert scaled.rank_ == est.rank_ > 0
    if exact:  # the same normalized problem, bit for bit
        assert scaled.n_iter_ == est.n_iter_
        np.testing.assert_array_equal(scaled.components_, est.components_)
    else:
        np.testing.assert_allclose(np.abs(scaled.components_ @ est.components_.T).max(axis=1), 1)
    with np.errstate(over="ignore", under="ignore"):
        c_t, c_w = np.float64(c) ** power, np.float64(c) ** (power / 2)
    if np.isfinite(c_t) and c_t > 1e-300:  # the weights are representable in data units
        np.testing.assert_allclose(scaled.weights_ / c_t, est.weights_, rtol=rtol)
        np.testing.assert_allclose(scaled.noise_level_ / c_t, est.noise_level_, rtol=rtol)
        np.testing.assert_allclose(
            scaled.column_weights_ / c_t, est.column_weights_, rtol=rtol, atol=1e-8
        )
    atol = 1e-6 * np.abs(est.columns_).max()
    np.testing.assert_allclose(scaled.columns_ / c_w, est.columns_, rtol=rtol, atol=atol)
    if exact and np.isfinite(c_t) and c_t > 1e-300:  # flow times scale as 1 / c**power
        assert scaled.learning_rate_ * c_t == est.learning_rate_
        np.testing.assert_array_equal(scaled.time_curve_ * c_t, est.time_curve_)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("tensor", ["cumulant", "moment"])
@pytest.mark.parametrize("c", EXACT_SCALES + DECIMAL_SCALES)
def test_sample_targets_do_not_depend_on_scale(name, tensor, c):
    X = _samples()
    est = _reference(name, tensor)
    scaled = _fit_quiet(name, X * c, tensor=tensor, order=3)
    _check_scaled(est, scaled, c, 3, exact=c in EXACT_SCALES, rtol=1e-6)
    # transform is linear in the samples, score is scale-free
    np.testing.assert_allclose(
        scaled.transform(X * c) / c, est.transform(X), rtol=1e-6, atol=1e-9 * np.abs(X).max()
    )
    back = scaled.inverse_transform(scaled.transform(X * c)) / c
    np.testing.assert_allclose(back, est.inverse_transform(est.transform(X)), atol=1e-8)
    assert scaled.score(X * c) == pytest.approx(est.score(X), abs=1e-8)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("c", [1e-100, 1e100])
def test_sample_weights_scale_as_c_to_the_order(name, c):
    X = _samples()
    est = _reference(name, "cumulant")
    scaled = _fit(name, X * c, tensor="cumulant", order=3)
    np.testing.assert_allclose(scaled.weights_ / c**3, est.weights_, rtol=1e-6)
    np.testing.assert_allclose(scaled.weight_errors_ / c**3, est.weight_errors_, rtol=1e-6)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_weights_outside_float64_warn(name):
    with pytest.warns(UserWarning, match="outside the float64 range"):
        est = _fit(name, _samples() * 1e150, tensor="cumulant", order=3)
    assert est.rank_ > 0 and np.all(np.isinf(est.weights_))


def _scaled_targets(kind, c):
    """A planted order-3 target and the same tensor times ``c``, as ``kind``."""
    cp, _ = make_symmetric_cp(4, 2, order=3, weights=[1.0, 0.5], random_state=0)
    if kind == "dense":
        return tl.cp_to_tensor(cp), tl.cp_to_tensor(cp) * c
    if kind == "cp_weights":
        return cp, tl.cp_tensor.CPTensor((cp.weights * c, cp.factors))
    return cp, tl.cp_tensor.CPTensor((cp.weights, [f * np.cbrt(c) for f in cp.factors]))


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("kind", ["dense", "cp_weights", "cp_factors"])
@pytest.mark.parametrize("c", EXACT_SCALES + DECIMAL_SCALES)
def test_precomputed_targets_do_not_depend_on_scale(name, kind, c):
    target, scaled_target = _scaled_targets(kind, c)
    est = _reference(name, "precomputed", kind)
    scaled = _fit(name, scaled_target, tensor="precomputed", order=3)
    exact = c in EXACT_SCALES and kind != "cp_factors"
    # not exact: the normalized problems differ by rounding, and the fits stop
    # (tol) at points that agree to the fit's accuracy only
    _check_scaled(est, scaled, c, 1, exact=exact, rtol=1e-8 if exact else 1e-4)
    assert scaled.score(scaled_target) == pytest.approx(est.score(target), abs=1e-8)
    Y = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(scaled.transform(Y), est.transform(Y), atol=1e-8)
