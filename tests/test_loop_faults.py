"""Faults of the iteration every estimator reports: divergence that has not (yet)
overflowed, and a start that underflowed to exactly zero."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow.datasets import make_symmetric_cp, make_tubal_low_rank
from sktensorflow.metrics import relative_error


def _cases():
    T3, _ = make_symmetric_cp(10, 3, random_state=0)
    T4, _ = make_symmetric_cp(10, 3, order=4, random_state=0)
    X, _ = make_tubal_low_rank((12, 10, 4), 2, observed_fraction=0.7, random_state=0)
    matrix = np.random.default_rng(0).standard_normal((20, 8))
    return [
        (OverparamCP, {"tensor": "precomputed"}, T3, 10.0),
        (DeflationFlowCP, {"tensor": "precomputed"}, T4, 1e3),
        (TubalFactorizer, {"early_stopping": False, "max_iter": 300}, X, 3.0),
        (DeepTucker, {"early_stopping": False, "max_iter": 300}, matrix, 3.0),
    ]


@pytest.mark.parametrize(
    ("cls", "params", "data", "lr"), _cases(), ids=lambda v: getattr(v, "__name__", "")
)
def test_adam_divergence_is_reported(cls, params, data, lr):
    est = cls(solver="adam", learning_rate=lr, random_state=0, **params)
    with pytest.warns(ConvergenceWarning, match="diverged. Use a smaller learning_rate"):
        est.fit(data)
    assert est.loss_curve_.max() > 10 * est.loss_curve_[0]


@pytest.mark.parametrize(
    ("cls", "params", "data", "lr"), _cases(), ids=lambda v: getattr(v, "__name__", "")
)
def test_a_stable_fit_does_not_claim_divergence(cls, params, data, lr):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = cls(random_state=0, **params).fit(data)
    assert not [w for w in caught if "diverged" in str(w.message)]
    assert est.loss_curve_.max() <= 10 * est.loss_curve_[0]


@pytest.mark.parametrize(
    ("cls", "params", "data", "lr"), _cases(), ids=lambda v: getattr(v, "__name__", "")
)
def test_an_underflowing_start_is_an_error_naming_init_scale(cls, params, data, lr):
    with pytest.raises(ValueError, match=r"init_scale=1e-300 is too small"):
        cls(init_scale=1e-300, random_state=0, **params).fit(data)


def test_a_tiny_start_that_does_not_underflow_still_fits():
    """Tubal's start is relative to the data (``init_scale * sqrt(sigma)``): 1e-300 fits.

    Without early stopping: from so far below the data, the held-out error stays
    flat for hundreds of iterations, and the patience can run out mid-growth."""
    X, truth = make_tubal_low_rank((12, 10, 4), 2, observed_fraction=0.7, random_state=0)
    est = TubalFactorizer(init_scale=1e-300, early_stopping=False, tube_axis=2, random_state=0)
    est.fit(X)
    assert est.tubal_rank_ == 2
    assert relative_error(est._fitted_values(), truth.tensor) < 1e-2


@pytest.mark.parametrize("cls", [TubalFactorizer, DeepTucker])
def test_no_observed_entry_is_an_error(cls):
    """Issue 12, A3: an all-NaN tensor gave TubalFactorizer rank 0 and an 'all zero' warning."""
    with pytest.raises(ValueError, match="no observed entry"):
        cls(random_state=0).fit(np.full((6, 5, 4), np.nan))


def test_scaled_gd_names_the_cure_when_no_step_decreases_the_loss():
    """solver="scaled_gd" halves a step that does not decrease the loss (so it no longer
    diverges on sparse masks, see test_robustness); with no decrease left at all it
    stops with an error that says so instead of looping."""
    X, _ = make_tubal_low_rank((10, 8, 3), 2, observed_fraction=0.2, random_state=0)
    est = TubalFactorizer(6, solver="scaled_gd", early_stopping=False, max_iter=300)
    with pytest.raises(FloatingPointError, match="found no step that decreases the loss"):
        est.set_params(random_state=0, learning_rate=1e300).fit(X)
