"""Observed-entries input (sparse.COO, (indices, values, shape)) of the completion estimators.

The DeepTucker fit on entries (``sktensorflow._deep_tucker_entries_fit``) sums
the loss and its gradient over the entries chunk by chunk, a different
summation order than the dense masked fit: the two agree to rounding, asserted
to ``1e-8`` relative. TubalFactorizer densifies the entries, so its fits are
identical.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker, TubalFactorizer
from sktensorflow._early_stopping import validation_split
from sktensorflow._entries import as_observed_entries, check_entries, entries_validation_split
from sktensorflow.datasets import make_low_multilinear_rank

sparse = pytest.importorskip("sparse")

RTOL = 1e-8  # DeepTucker: entries and dense fits sum in different orders


def _coo(X, fill_value=0.0):
    """The observed entries of the NaN-dense ``X`` as a ``sparse.COO``."""
    observed = ~np.isnan(X)
    coords = np.array(np.nonzero(observed))
    return sparse.COO(coords, X[observed], shape=X.shape, fill_value=fill_value)


def _as_tuple(X):
    observed = ~np.isnan(X)
    return (np.argwhere(observed), X[observed], X.shape)


def _data(shape, seed=0):
    rank = (2,) * len(shape)
    X, _ = make_low_multilinear_rank(shape, rank, observed_fraction=0.6, random_state=seed)
    return X


def _close(a, b, scale):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)


def _projector(est):
    C = est.components_.reshape(len(est.components_), -1)
    return C.T @ C


def _assert_same_deep_tucker(a, b, X, X_entries):
    scale = float(np.nanmax(np.abs(X)))
    assert a.n_iter_ == b.n_iter_ and a.best_iter_ == b.best_iter_
    assert a.multilinear_rank_ == b.multilinear_rank_ and a.n_features_in_ == b.n_features_in_
    assert a.feature_shape_ == b.feature_shape_ and a.widths_ == b.widths_
    _close(a.data_scale_, b.data_scale_, 0.0)
    _close(a.loss_curve_, b.loss_curve_, a.loss_curve_[0])
    _close(a.core_, b.core_, np.abs(a.core_).max())
    for U, V in zip(a.factors_, b.factors_, strict=True):
        _close(U, V, np.abs(U).max())
    if a.validation_scores_ is not None:
        _close(a.validation_scores_, b.validation_scores_, 1.0)
    _close(_projector(a), _projector(b), 1.0)  # components_ up to the sign of each
    _close(a.complete(X), b.complete(X_entries), scale)
    _close(a.score(X), b.score(X_entries), 1.0)


@pytest.mark.parametrize("shape", [(14, 9), (9, 8, 7)])
@pytest.mark.parametrize("solver", ["adam", "flow"])
def test_deep_tucker_coo_equals_dense(shape, solver):
    X = _data(shape)
    kw = dict(solver=solver, max_iter=150, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = DeepTucker(**kw).fit(X)
        coo = DeepTucker(**kw).fit(_coo(X))
    assert dense.loss_curve_[-1] < 0.5 * dense.loss_curve_[0]  # the fits moved
    _assert_same_deep_tucker(dense, coo, X, _coo(X))


def test_deep_tucker_escape_from_entries():
    """The saddle escape (depth-1 flow, no early stopping) runs on entries as on dense input."""
    rng = np.random.RandomState(0)
    M = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 8))
    kw = dict(solver="flow", early_stopping=False, random_state=0)
    dense = DeepTucker(**kw).fit(M)
    entries = DeepTucker(**kw).fit(sparse.COO.from_numpy(M))
    assert dense.n_escapes_ >= 1 and entries.n_escapes_ == dense.n_escapes_
    _close(entries.core_, dense.core_, np.abs(dense.core_).max())


def test_tuple_equals_coo_and_fill_value_is_ignored():
    X = _data((9, 8, 7), seed=1)
    kw = dict(max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [DeepTucker(**kw).fit(X_in) for X_in in (_coo(X), _as_tuple(X), _coo(X, np.nan))]
        tubal = [TubalFactorizer(**kw).fit(X_in) for X_in in (_coo(X), _as_tuple(X))]
    for other in fits[1:]:
        np.testing.assert_array_equal(other.core_, fits[0].core_)
        np.testing.assert_array_equal(other.loss_curve_, fits[0].loss_curve_)
    np.testing.assert_array_equal(tubal[0].loss_curve_, tubal[1].loss_curve_)
    np.testing.assert_array_equal(tubal[0].complete(_coo(X)), tubal[1].complete(_as_tuple(X)))


def test_shuffled_tuple_is_canonical():
    X = _data((9, 8), seed=2)
    indices, values, shape = _as_tuple(X)
    order = np.random.RandomState(0).permutation(len(values))
    a = as_observed_entries((indices, values, shape))
    b = as_observed_entries((indices[order], values[order], shape))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("shape", [(12, 10), (10, 8, 6)])
def test_tubal_coo_equals_dense(shape):
    X = _data(shape, seed=3)
    kw = dict(max_iter=150, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = TubalFactorizer(**kw).fit(X)
        coo = TubalFactorizer(**kw).fit(_coo(X))
    assert dense.tubal_rank_ == coo.tubal_rank_ and dense.n_features_in_ == coo.n_features_in_
    np.testing.assert_array_equal(dense.loss_curve_, coo.loss_curve_)
    np.testing.assert_array_equal(dense.complete(X), coo.complete(_coo(X)))
    np.testing.assert_array_equal(dense.transform(X), coo.transform(_coo(X)))
    assert dense.score(X) == coo.score(_coo(X))


def test_validation_split_over_entries_matches_dense():
    rng = np.random.RandomState(0)
    plain = rng.rand(8, 7, 3) < 0.5
    pixels = np.repeat(rng.rand(8, 7, 1) < 0.5, 3, axis=2)  # whole fibres along axis 2
    for observed in (plain, pixels):
        entries = check_entries(np.argwhere(observed), np.ones(observed.sum()), observed.shape)
        dense = validation_split(observed, 0.2, np.random.RandomState(1))
        split = entries_validation_split(entries, 0.2, np.random.RandomState(1))
        np.testing.assert_array_equal(dense[observed], split)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ((np.array([[0, 0], [2, 1]]), np.ones(2), (2, 2)), r"Index \(2, 1\) of entry 1 is out"),
        ((np.array([[0, -1]]), np.ones(1), (2, 2)), "out of range"),
        ((np.array([[0, 1], [0, 1]]), np.ones(2), (2, 2)), r"\(0, 1\) are listed 2 times"),
        ((np.array([[0, 1], [1, 0]]), np.array([1.0, np.nan]), (2, 2)), "must be finite"),
        ((np.array([[0, 1]]), np.array([np.inf]), (2, 2)), "must be finite"),
        ((np.array([[0, 1, 0]]), np.ones(1), (2, 2)), r"shape \(n_entries, 2\)"),
        ((np.array([[0.0, 1.0]]), np.ones(1), (2, 2)), "must be integers"),
        ((np.array([[0, 1]]), np.ones(2), (2, 2)), r"values must have shape \(n_entries,\)"),
        ((np.array([[0]]), np.ones(1), (2,)), "at least 2 positive ints"),
        ((np.zeros((0, 2), dtype=int), np.ones(0), (2, 2)), "no observed entry"),
    ],
)
@pytest.mark.parametrize("Estimator", [DeepTucker, TubalFactorizer])
def test_bad_entries_raise(Estimator, X, message):
    with pytest.raises(ValueError, match=message):
        Estimator(max_iter=2).fit(X)


def test_stored_nan_in_coo_raises():
    X = sparse.COO(np.array([[0, 1], [1, 0]]), np.array([1.0, np.nan]), shape=(2, 2))
    with pytest.raises(ValueError, match="not a stored NaN"):
        DeepTucker(max_iter=2).fit(X)


def _planted_entries(shape, fraction, seed=0):
    """Entries of a rank-2 CP tensor at random coordinates (the tensor never formed)."""
    rng = np.random.RandomState(seed)
    n = int(fraction * np.prod(shape))
    flat = rng.choice(int(np.prod(shape)), n, replace=False)
    indices = np.array(np.unravel_index(flat, shape)).T
    factors = [rng.standard_normal((d, 2)) for d in shape]
    values = np.prod([U[indices[:, k]] for k, U in enumerate(factors)], axis=0).sum(axis=1)
    return indices, values


def test_deep_tucker_entries_memory_is_not_dense():
    """200 x 200 x 50 at 1 %: the fit's peak memory stays far below the 16 MB dense tensor."""
    shape = (200, 200, 50)
    indices, values = _planted_entries(shape, 0.01)
    dense_bytes = 8 * np.prod(shape)
    tracemalloc.start()
    try:
        est = DeepTucker(width=8, max_iter=10, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit((indices, values, shape))
        predicted = est.predict_entries(indices[:100])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < dense_bytes / 4, f"peak {peak / 1e6:.1f} MB"
    assert predicted.shape == (100,) and np.all(np.isfinite(predicted))


def test_predict_entries_equals_dense_model():
    X = _data((9, 8, 7), seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = DeepTucker(max_iter=80, random_state=0).fit(_coo(X))
    indices = np.array([[0, 0, 0], [8, 7, 6], [3, 2, 1], [3, 2, 1]])  # repeats allowed
    dense = est._fitted_values()
    np.testing.assert_allclose(est.predict_entries(indices), dense[tuple(indices.T)], rtol=1e-12)
    with pytest.raises(ValueError, match="out of range"):
        est.predict_entries([[9, 0, 0]])


def test_minibatch_adam_on_entries_is_deterministic():
    X = _data((10, 9, 8), seed=5)
    kw = dict(solver="minibatch_adam", max_iter=20, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = DeepTucker(**kw).fit(_coo(X))
        b = DeepTucker(**kw).fit(_as_tuple(X))
        c = DeepTucker(**{**kw, "random_state": 4}).fit(_coo(X))
        dense = DeepTucker(**kw).fit(X)
    np.testing.assert_array_equal(a.core_, b.core_)
    assert not np.allclose(a.core_, c.core_)
    _close(a.core_, dense.core_, np.abs(dense.core_).max())  # the same batches as dense


def test_set_rank_tol_after_entries_fit_matches_dense():
    X = _data((9, 8, 7), seed=6)
    kw = dict(max_iter=150, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = DeepTucker(**kw).fit(X).set_rank_tol(0.3)
        coo = DeepTucker(**kw).fit(_coo(X)).set_rank_tol(0.3)
    assert coo.multilinear_rank_ == dense.multilinear_rank_
    _close(_projector(coo), _projector(dense), 1.0)
    _close(coo.complete(X), dense.complete(X), float(np.nanmax(np.abs(X))))


def test_user_guide_example_runs():
    """The user guide's observed-entries example runs and completes the held-out entries."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "user_guide.rst").read_text()
    section = text.split("Completion from observed entries")[1]
    block = section.split(".. code-block:: python\n\n")[1].split("\n\n``")[0]
    code = "\n".join(line[4:] for line in block.splitlines())
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(compile(code.replace("print(", "("), "user_guide", "exec"), namespace)
    assert namespace["error"] < 0.05
