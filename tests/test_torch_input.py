"""Torch input that requires grad: accepted as data (detached), the same fit as without grad."""

import numpy as np
import pytest
import tensorly as tl

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow.datasets import make_low_multilinear_rank, make_tubal_low_rank

torch = pytest.importorskip("torch")


def _samples():
    rng = np.random.default_rng(0)
    return rng.exponential(size=(300, 4)) - 1.0


def _tubal():
    return make_tubal_low_rank((10, 8, 4), 2, observed_fraction=0.7, random_state=0)[0]


def _tucker():
    X, _ = make_low_multilinear_rank((8, 7, 6), (2, 2, 2), observed_fraction=0.7, random_state=0)
    return X


CASES = [
    (OverparamCP, dict(tensor="cumulant", max_iter=50), _samples),
    (DeflationFlowCP, dict(tensor="cumulant", max_iter=50), _samples),
    (TubalFactorizer, dict(width=4, max_iter=30), _tubal),
    (DeepTucker, dict(max_iter=30), _tucker),
]


def _host(a):
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls, params, data", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_input_requiring_grad_is_fitted_as_its_values(cls, params, data):
    values = data()
    X = torch.tensor(values, requires_grad=True)
    with tl.backend_context("pytorch"):
        est = cls(random_state=0, **params).fit(X)
        plain = cls(random_state=0, **params).fit(torch.tensor(values))
        out = est.transform(X)
    assert isinstance(est.components_, torch.Tensor) and not est.components_.requires_grad
    assert not out.requires_grad
    np.testing.assert_array_equal(_host(est.components_), _host(plain.components_))
    assert X.requires_grad and X.grad is None  # the input itself is left as it was


@pytest.mark.filterwarnings("error::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_deep_tucker_saddle_check_on_torch_warns_nothing():
    """The saddle check at a tol stop reads the torch target on the host without numpy warnings."""
    est = DeepTucker(max_iter=300, tol=1e-3, early_stopping=False, random_state=0)
    est.fit(torch.tensor(_tucker()))
    assert est.stop_reason_ == "tol" and est.multilinear_rank_ == (2, 2, 2)
