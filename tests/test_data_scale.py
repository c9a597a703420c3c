"""Scale equivariance of TubalFactorizer and DeepTucker (issue 12: B6, A2).

Both fit the data divided by an exact power of two and report in data units:
fitting ``c * X`` gives the same ranks and iterations, fitted values and
``transform`` times ``c``, the same ``score``, and no new warning, from
``c = 1e-200`` to ``1e200`` (exactly, bit for bit, when ``c`` is a power of two).
"""

import functools
import warnings

import numpy as np
import pytest

from sktensorflow import DeepTucker, TubalFactorizer
from sktensorflow.datasets import make_low_multilinear_rank, make_tubal_low_rank

#: Scales that are powers of two (exact) and not (equal up to rounding).
POWERS_OF_TWO = (2.0**-500, 2.0**500)
SCALES = (*POWERS_OF_TWO, 1e-150, 1e150)

#: Fitted attributes and the power of ``c`` they scale by, in halves (``None``:
#: the ranks, iteration counts and held-out R², which must not change at all).
UNITS = {
    "TubalFactorizer": {
        "factors_": 1,
        "singular_values_": 2,
        "singular_tubes_": 2,
        "singular_values_history_": 2,
        "components_": 0,
        "loss_curve_": 4,
        # the default solver="scaled_gd" has a dimensionless step (gd's scales as 1/c)
        "learning_rate_": 0,
        "time_curve_": 0,
        "history_time_": 0,
        "tubal_rank_": None,
        "tubal_rank_history_": None,
    },
    "DeepTucker": {
        "core_": 2,
        "data_scale_": 2,
        "core_slice_norms_": 2,
        "core_slice_norms_history_": 2,
        "factors_": 0,
        "chains_": 0,
        "components_": 0,
        "loss_curve_": 4,
        "learning_rate_": 0,
        "time_curve_": 0,
        "multilinear_rank_": None,
        "multilinear_rank_history_": None,
    },
}
COMMON = ("n_iter_", "stop_reason_", "best_iter_", "validation_scores_", "n_escapes_")


@functools.cache
def _data(name):
    if name == "TubalFactorizer":
        X, _ = make_tubal_low_rank((12, 10, 4), 2, observed_fraction=0.7, random_state=0)
    else:
        X, _ = make_low_multilinear_rank(
            (8, 7, 6), (2, 2, 2), observed_fraction=0.6, random_state=0
        )
    return X


def _make(name, **params):
    cls = {"TubalFactorizer": TubalFactorizer, "DeepTucker": DeepTucker}[name]
    return cls(random_state=0, **params)


@functools.cache
def _fit(name, early_stopping, c):
    """The estimator fitted on ``c * X`` and the warnings of the fit (category, message)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = _make(name, early_stopping=early_stopping).fit(c * _data(name))
    return est, [(w.category, str(w.message)) for w in caught]


def _close(actual, expected, exact, rtol=1e-8):
    """``actual == expected`` (bitwise when ``exact``), entries near 0 relative to the largest."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if exact:
        np.testing.assert_array_equal(actual, expected)
    else:
        top = np.max(np.abs(expected)) if expected.size else 0.0
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * top)


def _check_attribute(name, actual, reference, half_power, c, exact):
    """``actual`` is ``reference`` times ``c ** (half_power / 2)`` (lists elementwise)."""
    if half_power is None:
        assert np.array_equal(actual, reference), name
        return
    if isinstance(reference, list):
        for a, r in zip(actual, reference, strict=True):
            _check_attribute(name, a, r, half_power, c, exact)
        return
    factor = c ** (half_power / 2)
    expected = np.asarray(reference, dtype=float) * factor
    if name == "loss_curve_":  # c**2 times the loss can leave the float64 range: compare the rest
        normal = np.abs(expected) > 1e2 * np.finfo(float).tiny
        normal &= np.isfinite(expected)
        assert normal.any()
        actual, expected = np.asarray(actual)[normal], expected[normal]
    _close(actual, expected, exact and np.log2(factor).is_integer())


@pytest.mark.parametrize("c", SCALES, ids=lambda c: f"{c:.3g}")
@pytest.mark.parametrize("early_stopping", [True, False])
@pytest.mark.parametrize("name", sorted(UNITS))
def test_fit_is_scale_equivariant(name, early_stopping, c):
    ref, ref_warnings = _fit(name, early_stopping, 1.0)
    est, caught = _fit(name, early_stopping, c)
    exact = c in POWERS_OF_TWO
    assert [w[0] for w in caught] == [w[0] for w in ref_warnings]
    for attr in COMMON:
        expected = getattr(ref, attr)
        if isinstance(expected, np.ndarray):
            _close(getattr(est, attr), expected, exact, rtol=1e-10)
        else:
            assert getattr(est, attr) == expected, attr
    for attr, half_power in UNITS[name].items():
        _check_attribute(attr, getattr(est, attr), getattr(ref, attr), half_power, c, exact)
    _close(est._fitted_values() / c, ref._fitted_values(), exact)


@pytest.mark.parametrize("c", SCALES, ids=lambda c: f"{c:.3g}")
@pytest.mark.parametrize("name", sorted(UNITS))
def test_fold_in_is_scale_equivariant(name, c):
    ref, _ = _fit(name, True, 1.0)
    est, _ = _fit(name, True, c)
    X = _data(name)
    exact = c in POWERS_OF_TWO
    _close(est.transform(c * X) / c, ref.transform(X), exact)
    _close(est.complete(c * X) / c, ref.complete(X), exact)
    _close(
        est.inverse_transform(est.transform(c * X)) / c,
        ref.inverse_transform(ref.transform(X)),
        exact,
    )
    assert est.score(c * X) == pytest.approx(ref.score(X), abs=1e-12)
    assert ref.score(X) > 0.99


@pytest.mark.parametrize("c", [1e-200, 1e200], ids=["1e-200", "1e200"])
@pytest.mark.parametrize("name", sorted(UNITS))
def test_extreme_scales_fit_and_score(name, c):
    """Data at 1e200 used to crash (loss overflow, LinAlgError); at 1e-200 to underflow."""
    ref, ref_warnings = _fit(name, True, 1.0)
    est, caught = _fit(name, True, c)
    assert [w[0] for w in caught] == [w[0] for w in ref_warnings]
    rank = "tubal_rank_" if name == "TubalFactorizer" else "multilinear_rank_"
    assert getattr(est, rank) == getattr(ref, rank)
    _close(est._fitted_values() / c, ref._fitted_values(), False)
    X = _data(name)
    assert np.isfinite(est.score(c * X))
    assert est.score(c * X) == pytest.approx(ref.score(X), abs=1e-12)
    _close(est.transform(c * X) / c, ref.transform(X), False)


@pytest.mark.parametrize(
    ("solver", "learning_rate", "half_power"),
    [("gd", 0.05, -2), ("adam", 0.05, 1), ("scaled_gd", 0.5, 0)],
)
def test_tubal_given_learning_rate_is_in_data_units(solver, learning_rate, half_power):
    """A given step is in data units: time (gd), a factor's units (Adam), none (scaled_gd)."""
    X, c = _data("TubalFactorizer"), 2.0**200
    fits = []
    for scale in (1.0, c):
        lr = learning_rate * scale ** (half_power / 2)
        params = dict(solver=solver, learning_rate=lr, early_stopping=False, max_iter=60)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(_make("TubalFactorizer", **params).fit(scale * X))
    ref, est = fits
    assert est.learning_rate_ == learning_rate * c ** (half_power / 2)
    np.testing.assert_array_equal(est.time_curve_, ref.time_curve_ * c ** (half_power / 2))
    np.testing.assert_array_equal(est._fitted_values(), c * ref._fitted_values())


@pytest.mark.parametrize(("name", "half_power"), [("TubalFactorizer", 1), ("DeepTucker", 2)])
def test_callback_sees_data_units(name, half_power):
    """The callback sees Tubal's factors and DeepTucker's core in the data's units."""
    X, c = _data(name), 2.0**500
    runs = []
    for scale in (1.0, c):
        seen = []
        est = _make(name, early_stopping=False, max_iter=40, callback=seen.append)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(scale * X)
        runs.append((est, seen[-1].params[0]))
    (_, first), (est, first_c) = runs
    np.testing.assert_array_equal(first_c, first * c ** (half_power / 2))
    fitted = est.factors_[0] if name == "TubalFactorizer" else est.core_
    np.testing.assert_array_equal(first_c, fitted)
