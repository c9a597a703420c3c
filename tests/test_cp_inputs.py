"""Inputs of the symmetric CP estimators (issue 12: B9, B10, A8).

- B9: ``inverse_transform`` with the wrong number of columns is a ValueError
  naming both counts.
- B10: a precomputed target in CP form (tensorly ``CPTensor`` or a plain
  ``(weights, factors)`` pair) is validated up front: shapes, NaN/inf, complex
  values, symmetry; a plain pair is accepted and fits like the ``CPTensor``.
- A8: ``OverparamCP(regime="lazy")`` refuses an odd width (an unpaired column
  would be frozen at zero weight; ``width=1`` was the zero model).
"""

import re
import warnings

import numpy as np
import pytest
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sktensorflow import DeflationFlowCP, OverparamCP

ESTIMATORS = [OverparamCP, DeflationFlowCP]
D, RANK = 5, 2


def _factor():
    rng = np.random.default_rng(0)
    return np.linalg.qr(rng.standard_normal((D, RANK)))[0]


def _estimator(cls, **params):
    params = {"width": 4, "order": 3, "tensor": "precomputed", "random_state": 0, **params}
    return cls(max_iter=20, **params) if cls is OverparamCP else cls(max_epochs=2, **params)


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


# -- B9: inverse_transform with the wrong width -----------------------------------------
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_inverse_transform_wrong_width_names_both_counts(cls):
    options = {"max_iter": 300} if cls is OverparamCP else {}
    est = _fit(cls(width=4, order=3, tensor="precomputed", random_state=0, **options), _cp())
    assert est.rank_ == RANK
    X = np.random.default_rng(1).standard_normal((3, D))
    assert est.inverse_transform(est.transform(X)).shape == X.shape
    for k in (0, RANK - 1, RANK + 1, D):
        message = f"X has {k} columns, but inverse_transform expects rank_ = {RANK}"
        with pytest.raises(ValueError, match=re.escape(message)):
            est.inverse_transform(np.ones((3, k)))


# -- B10: precomputed targets in CP form ----------------------------------------------------
def _cp(weights=None, factors=None):
    U = _factor()
    weights = np.array([1.0, 0.5]) if weights is None else weights
    return tl.cp_tensor.CPTensor((weights, [U, U, U] if factors is None else factors))


def _with_factor(index, value):
    cp = _cp()
    cp.factors[index] = value  # bypasses CPTensor's own checks, as a user's edit does
    return cp


def _with_weights(value):
    cp = _cp()
    cp.weights = value
    return cp


def _nan_factor():
    U = _factor().copy()
    U[1, 1] = np.nan
    return U


U0 = _factor()
BAD_TARGETS = {
    "rows of one factor": (
        _cp(factors=[U0, U0, U0[:4]]),
        r"factors\[2\] .* shape \(4, 2\), expected \(5, 2\)",
    ),
    "columns of one factor": (
        _with_factor(1, np.c_[U0, U0[:, :1]]),
        r"factors\[1\] .* shape \(5, 3\), expected \(5, 2\)",
    ),
    "1-D factor in a pair": (
        (np.ones(2), [U0, U0, U0[:, 0]]),
        r"factors\[2\] .* shape \(5,\), expected \(5, 2\)",
    ),
    "weights length": (
        _with_weights(np.ones(3)),
        r"weights .* shape \(3,\), expected \(2,\)",
    ),
    "NaN in a factor": (_cp(factors=[_nan_factor()] * 3), r"factors\[0\] .* NaN or infinity"),
    "inf weight": (_cp(weights=np.array([np.inf, 1.0])), r"weights .* NaN or infinity"),
    "NaN weight": (_cp(weights=np.array([np.nan, 1.0])), r"weights .* NaN or infinity"),
    "complex factors": (_cp(factors=[U0 + 0.5j * U0] * 3), r"factors\[0\] .* complex values"),
    "complex, zero imaginary": (_cp(factors=[U0 + 0j] * 3), r"factors\[0\] .* complex values"),
    "complex weights": (_cp(weights=np.array([1.0, 0.5 + 1j])), r"weights .* complex values"),
    "unequal factors": (_cp(factors=[U0, U0, -U0]), r"factors\[2\] .* differs from factors\[0\]"),
    "wrong number of factors": (_cp(factors=[U0, U0]), r"order=3 factors .* got 2"),
    "no features": (_cp(factors=[np.zeros((0, 2))] * 3), r"factors\[0\] .* shape \(0, 2\)"),
    "strings": ((np.ones(2), [np.full((5, 2), "a")] * 3), r"factors\[0\] .* dtype <U1"),
}


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("case", BAD_TARGETS)
def test_bad_cp_target_is_named(cls, case):
    target, pattern = BAD_TARGETS[case]
    est = _estimator(cls)
    with pytest.raises(ValueError, match=pattern):
        est.fit(target)
    with pytest.raises(NotFittedError):
        est.transform(np.ones((2, D)))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_score_validates_the_cp_target(cls):
    est = _fit(_estimator(cls), _cp())
    with pytest.raises(ValueError, match=r"factors\[0\] .* complex values"):
        est.score(_cp(factors=[U0 + 0.5j * U0] * 3))
    with pytest.raises(ValueError, match=r"factors\[2\] .* shape \(4, 2\)"):
        est.score((np.ones(2), [U0, U0, U0[:4]]))


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("weights", [np.array([1.0, 0.5]), None])
@pytest.mark.parametrize("container", [tuple, list])
def test_plain_weights_factors_pair_fits_like_the_cptensor(cls, weights, container):
    factors = [U0, U0, U0]
    reference = _fit(_estimator(cls), tl.cp_tensor.CPTensor((weights, factors)))
    est = _fit(_estimator(cls), container([weights, factors]))
    np.testing.assert_array_equal(est.columns_, reference.columns_)
    cp = tl.cp_tensor.CPTensor((weights, factors))
    assert est.score(container([weights, factors])) == reference.score(cp)


def test_dense_nested_list_is_not_read_as_a_pair():
    # A 2 x 2 symmetric matrix as nested lists has two items, the second a list.
    T = [[2.0, 0.5], [0.5, 1.0]]
    est = _fit(_estimator(OverparamCP, order=2), T)
    reference = _fit(_estimator(OverparamCP, order=2), np.array(T))
    np.testing.assert_array_equal(est.columns_, reference.columns_)


def test_pair_of_torch_tensors_chooses_pytorch():
    torch = pytest.importorskip("torch")
    pair = (torch.tensor([1.0, 0.5]), [torch.tensor(U0)] * 3)
    est = _fit(_estimator(OverparamCP), pair)
    reference = _fit(_estimator(OverparamCP), _cp())
    assert isinstance(est.components_, torch.Tensor)
    np.testing.assert_allclose(est.columns_.numpy(), reference.columns_, rtol=1e-10)


# -- A8: the lazy regime needs pairs of columns ---------------------------------------------
@pytest.mark.parametrize("width", [1, 3, 7])
def test_lazy_regime_refuses_odd_width(width):
    est = _estimator(OverparamCP, regime="lazy", width=width)
    with pytest.raises(ValueError, match=rf"regime='lazy' needs an even width.*width={width}"):
        est.fit(_cp())
    with pytest.raises(NotFittedError):
        est.transform(np.ones((2, D)))


@pytest.mark.parametrize("width", [2, 4])
def test_lazy_regime_even_width_moves_every_column(width):
    est = _fit(_estimator(OverparamCP, regime="lazy", width=width), _cp())
    # Pairs start identical with opposite signs: the output, hence the loss, starts at ½||T*||².
    start = est.column_norms_history_[0]
    np.testing.assert_allclose(est.loss_curve_[0], 0.5 * (1.0 + 0.25), rtol=1e-12)
    assert np.all(np.abs(est.column_weights_) > 0)
    assert np.all(np.abs(np.linalg.norm(est.columns_, axis=0) - start) > 0)
    assert est.score(_cp()) > 0.1


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_tucker_tensor_target_is_refused_with_the_conversion(cls):
    core = np.zeros((RANK,) * 3)
    core[0, 0, 0], core[1, 1, 1] = 1.0, 0.5
    tucker = tl.tucker_tensor.TuckerTensor((core, [U0] * 3))
    est = _estimator(cls)
    with pytest.raises(ValueError, match=r"got a TuckerTensor.*tl\.tucker_to_tensor\(X\)"):
        est.fit(tucker)
    # the dense conversion the message names fits
    dense = _fit(_estimator(cls), tl.tucker_to_tensor(tucker))
    assert dense.n_features_in_ == D
    with pytest.raises(ValueError, match="got a TuckerTensor"):
        dense.score(tucker)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_to_tensorly_of_a_torch_fit_is_a_target(cls):
    torch = pytest.importorskip("torch")
    pair = (torch.tensor([1.0, 0.5]), [torch.tensor(U0)] * 3)
    first = _fit(_estimator(cls), pair)
    cp = first.to_tensorly()
    assert isinstance(cp.weights, torch.Tensor)
    again = _fit(_estimator(cls), cp)  # a CPTensor of torch tensors: pytorch again
    assert isinstance(again.components_, torch.Tensor)
    host = tl.cp_tensor.CPTensor((cp.weights.numpy(), [f.numpy() for f in cp.factors]))
    reference = _fit(_estimator(cls), host)
    np.testing.assert_allclose(again.columns_.numpy(), reference.columns_, rtol=1e-10)
