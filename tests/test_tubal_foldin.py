"""TubalFactorizer's fold-in per Fourier slice (sktensorflow._tubal_foldin)."""

import tracemalloc
import warnings

import numpy as np
import pytest

from sktensorflow import tproduct as tp
from sktensorflow._foldin import FoldInMixin
from sktensorflow._tubal import TubalFactorizer
from sktensorflow._tubal_foldin import TubalFoldInMixin
from sktensorflow._tube_axis import from_tubes, to_tubes
from sktensorflow.datasets import make_tubal_low_rank


class _Tubal(TubalFactorizer, TubalFoldInMixin):
    """TubalFactorizer wired to the per-slice fold-in.

    The MRO puts ``TubalFoldInMixin`` right after ``DataScaleMixin`` (whose
    ``_fold_in`` and ``score`` call ``super()._fold_in``) and before ``FoldInMixin``.
    """


class _Model(TubalFoldInMixin):
    """What the mixin reads from a fitted estimator, from a planted t-SVD (no fit)."""

    def __init__(self, fitted, rank, axis=2, prior_rank=0):
        self.tube_axis_, self.feature_shape_, self._fitted = axis, fitted.shape[1:], fitted
        self._prior_rank = prior_rank
        _, _, V = tp.t_svd(to_tubes(fitted, axis), rank=rank)
        self.components_ = from_tubes(np.transpose(V, (1, 0, 2)), axis)[:rank]

    def _fitted_values(self):
        return self._fitted


def _reference_design(model):
    """Dense design, one column per unit coefficient, by the t-product itself."""
    V = np.transpose(to_tubes(model.components_, model.tube_axis_), (1, 0, 2))
    r, k = V.shape[1], V.shape[2]
    units = np.eye(r * k).reshape(r * k, 1, r, k)
    rows = [from_tubes(tp.t_product(u, tp.t_transpose(V)), model.tube_axis_) for u in units]
    return np.stack([row.reshape(-1) for row in rows], axis=1)


def _dense_prior_factor(model):
    """``G`` with ``G G^T`` the mixin's prior as a dense (r k x r k) covariance."""
    L, U = model._slice_prior_sqrt, model._prior_factor
    r, k = L.shape[1], model._tube_length
    units = np.fft.rfft(np.eye(r * k).reshape(r * k, r, k), axis=-1)
    columns = np.fft.irfft(np.einsum("ilh,hml->imh", units, L), n=k, axis=-1)
    return np.concatenate([U.reshape(len(U), r * k).T, columns.reshape(r * k, r * k).T], axis=1)


def _dense_prior(model):
    G = _dense_prior_factor(model)
    return G @ G.T


def _planted(shape, rank, axis, seed, shifts=False, noise=0.05):
    """Fitted values of tubal rank ``rank`` (input orientation) and noisy data."""
    rng = np.random.default_rng(seed)
    n, n2, k = shape
    A, B = rng.standard_normal((n, rank, k)) / np.sqrt(k), rng.standard_normal((n2, rank, k))
    A = A * np.linspace(1.0, 0.3, k)  # position-dependent variance: not shift-invariant
    if shifts:  # every circular shift of each row: a shift-invariant coefficient law
        A = np.concatenate([np.roll(A, s, axis=2) for s in range(k)])
    fitted = from_tubes(tp.t_product(A, tp.t_transpose(B)), axis)
    return fitted, fitted + noise * rng.standard_normal(fitted.shape)


def _fit_prior(model, X):
    model._set_fold_in_prior(X, ~np.isnan(X))
    return model


@pytest.mark.parametrize("axis", [2, 1])
def test_reconstruct_is_the_t_product_design(axis):
    fitted, _ = _planted((5, 4, 6), 2, axis, seed=0)
    model = _fit_prior(_Model(fitted, 2, axis), fitted)
    Z = np.random.default_rng(1).standard_normal((3, 12))
    expected = (Z @ _reference_design(model).T).reshape((3, *fitted.shape[1:]))
    np.testing.assert_allclose(model._reconstruct(Z), expected, atol=1e-12)


@pytest.mark.parametrize("axis", [2, 1])
def test_prior_equals_dense_prior_when_the_law_is_shift_invariant(axis):
    fitted, X = _planted((4, 5, 6), 2, axis, seed=2, shifts=True)
    model = _fit_prior(_Model(fitted, 2, axis), X)
    model._design = _reference_design(model)
    FoldInMixin._set_fold_in_prior(model, X, ~np.isnan(X))
    dense = model._prior_sqrt @ model._prior_sqrt
    shift = np.roll(np.arange(12).reshape(2, 6), 1, axis=1).reshape(-1)
    np.testing.assert_allclose(dense[np.ix_(shift, shift)], dense, atol=1e-12)  # circulant
    np.testing.assert_allclose(_dense_prior(model), dense, atol=1e-12)


def test_prior_is_the_shift_average_of_the_dense_prior():
    fitted, X = _planted((7, 5, 6), 2, 2, seed=3)
    model = _fit_prior(_Model(fitted, 2), X)
    model._design = _reference_design(model)
    FoldInMixin._set_fold_in_prior(model, X, ~np.isnan(X))
    dense = model._prior_sqrt @ model._prior_sqrt
    index = np.arange(12).reshape(2, 6)
    shifted = [np.roll(index, s, axis=1).reshape(-1) for s in range(6)]
    average = np.mean([dense[np.ix_(p, p)] for p in shifted], axis=0)
    assert np.abs(average - dense).max() > 0.1 * np.abs(dense).max()  # not circulant itself
    np.testing.assert_allclose(_dense_prior(model), average, atol=1e-12)


@pytest.mark.parametrize("axis", [2, 1])
def test_fold_in_equals_dense_fold_in_under_a_shift_invariant_prior(axis):
    fitted, X = _planted((3, 6, 8), 2, axis, seed=4, shifts=True)
    model = _fit_prior(_Model(fitted, 2, axis), X)
    model._design = _reference_design(model)
    FoldInMixin._set_fold_in_prior(model, X, ~np.isnan(X))
    rows = _planted((5, 6, 8), 2, axis, seed=5)[1]
    rows[3:][np.random.default_rng(6).random(rows[3:].shape) < 0.4] = np.nan
    dense = FoldInMixin._fold_in(model, rows)
    np.testing.assert_allclose(model._fold_in(rows)[:3], dense[:3], atol=1e-12)  # full rows
    np.testing.assert_allclose(model._fold_in(rows), dense, rtol=0, atol=1e-9)


@pytest.mark.parametrize("prior_rank", [0, 2])
def test_matrix_rows_fold_in_as_the_dense_fold_in(prior_rank):
    fitted, X = _planted((12, 7, 1), 3, 2, seed=15)
    fitted, X = fitted[:, :, 0], X[:, :, 0]  # 2-D input: tubes of length 1
    model = _Model(fitted[:, :, None], 3, prior_rank=prior_rank)
    model.feature_shape_, model._fitted = (7,), fitted
    model.components_ = model.components_[:, :, 0]
    _fit_prior(model, X)
    model._design = model.components_.T  # k = 1: the dense prior is block-circulant
    FoldInMixin._set_fold_in_prior(model, X, ~np.isnan(X))
    rows = _planted((4, 7, 1), 3, 2, seed=16)[1][:, :, 0]
    rows[2:, :3] = np.nan
    np.testing.assert_allclose(model._fold_in(rows), FoldInMixin._fold_in(model, rows), atol=1e-10)


def _dense_posterior_mean(model, row):
    """``G (G^T D_o^T D_o G + σ² I)^{-1} G^T D_o^T x_o`` (``Σ = G G^T``), by a dense solve."""
    D, obs = _reference_design(model), ~np.isnan(row.reshape(-1))
    G = _dense_prior_factor(model)
    DG = D[obs] @ G
    gram = DG.T @ DG + model._noise_var * np.eye(G.shape[1])
    return G @ np.linalg.solve(gram, DG.T @ row.reshape(-1)[obs])


@pytest.mark.parametrize(("k", "axis", "prior_rank"), [(9, 2, 0), (10, 1, 4), (18, 2, 16)])
def test_pcg_matches_a_dense_solve_for_rows_with_missing_entries(k, axis, prior_rank):
    fitted, X = _planted((30, 5, k), 3, axis, seed=k)
    model = _fit_prior(_Model(fitted, 3, axis, prior_rank), X)
    assert model._prior_factor.shape == (prior_rank, 3, k)
    rows = _planted((6, 5, k), 3, axis, seed=k + 1)[1]
    rng = np.random.default_rng(k)
    for i, fraction in enumerate([0.95, 0.6, 0.3, 0.1, 0.02]):
        rows[i][rng.random(rows[i].shape) > fraction] = np.nan
    rows[5][...] = np.nan
    rows[5].flat[7] = 1.0  # a single observed entry
    Z = model._fold_in(rows)
    for row, z in zip(rows, Z, strict=True):
        expected = _dense_posterior_mean(model, row)
        assert np.linalg.norm(z - expected) <= 1e-8 * np.linalg.norm(expected)


@pytest.mark.parametrize("prior_rank", [0, 16])
def test_full_rows_match_a_dense_solve(prior_rank):
    fitted, X = _planted((30, 5, 8), 3, 1, seed=9)
    model = _fit_prior(_Model(fitted, 3, 1, prior_rank), X)
    rows = _planted((4, 5, 8), 3, 1, seed=10)[1]
    for row, z in zip(rows, model._fold_in(rows), strict=True):
        expected = _dense_posterior_mean(model, row)
        assert np.linalg.norm(z - expected) <= 1e-10 * np.linalg.norm(expected)


def test_prior_keeps_the_leading_principal_directions_of_the_dense_prior():
    fitted, X = _planted((40, 5, 6), 2, 2, seed=11)
    model = _fit_prior(_Model(fitted, 2, prior_rank=3), X)
    model._design = _reference_design(model)
    FoldInMixin._set_fold_in_prior(model, X, ~np.isnan(X))
    dense = model._prior_sqrt @ model._prior_sqrt
    values, vectors = np.linalg.eigh(dense)
    top = (vectors[:, -3:] * values[-3:]) @ vectors[:, -3:].T
    index = np.arange(12).reshape(2, 6)
    shifted = [np.roll(index, s, axis=1).reshape(-1) for s in range(6)]
    rest = np.mean([(dense - top)[np.ix_(p, p)] for p in shifted], axis=0)
    np.testing.assert_allclose(_dense_prior(model), top + rest, atol=1e-8 * values[-1])


def test_prior_is_the_dense_prior_with_fewer_rows_than_its_rank():
    fitted, X = _planted((5, 4, 6), 2, 1, seed=12)
    model = _fit_prior(_Model(fitted, 2, 1, prior_rank=8), X)
    model._design = _reference_design(model)
    FoldInMixin._set_fold_in_prior(model, X, ~np.isnan(X))
    np.testing.assert_allclose(
        _dense_prior(model), model._prior_sqrt @ model._prior_sqrt, atol=1e-12
    )
    rows = _planted((3, 4, 6), 2, 1, seed=13)[1]
    rows[1:][np.random.default_rng(14).random(rows[1:].shape) < 0.5] = np.nan
    dense = FoldInMixin._fold_in(model, rows)
    np.testing.assert_allclose(model._fold_in(rows), dense, rtol=0, atol=1e-9)


@pytest.mark.parametrize("prior_rank", [0, 16])
def test_exact_low_rank_rows_are_recovered_without_noise(prior_rank):
    fitted, _ = _planted((10, 6, 8), 2, 2, seed=7, noise=0.0)
    model = _fit_prior(_Model(fitted, 2, prior_rank=prior_rank), fitted)
    assert model._noise_var < 1e-25
    rows = _planted((10, 6, 8), 2, 2, seed=7, noise=0.0)[0][:4].copy()
    truth = rows.copy()
    rows[2:][np.random.default_rng(8).random(rows[2:].shape) < 0.3] = np.nan
    np.testing.assert_allclose(model._reconstruct(model._fold_in(rows)), truth, atol=1e-6)


def test_rank_zero_folds_in_to_zero():
    model = _fit_prior(_Model(np.zeros((3, 4, 5)), 0), np.zeros((3, 4, 5)))
    rows = np.ones((2, 4, 5))
    rows[1, 0, 0] = np.nan
    Z = model._fold_in(rows)
    assert Z.shape == (2, 0)
    np.testing.assert_array_equal(model._reconstruct(Z), np.zeros((2, 4, 5)))


def _fit(cls, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(random_state=0, **params).fit(X)


def test_transform_memory_is_far_below_the_dense_design():
    X, _ = make_tubal_low_rank((8, 4, 512), 2, observed_fraction=0.7, random_state=0)
    est = _fit(_Tubal, X, width=4, tube_axis=2, max_iter=100)
    r, (n2, k) = est.tubal_rank_, X.shape[1:]
    assert r >= 1
    tracemalloc.start()
    Z = est.transform(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert Z.shape == (8, r * k)
    assert peak < n2 * k * r * k * 8 / 10  # the dense design would take n2 k x r k floats


@pytest.mark.parametrize("axis", [2, 1])
def test_complete_keeps_observed_entries_and_fills_well(axis):
    X, truth = make_tubal_low_rank((20, 8, 6), 2, observed_fraction=0.6, random_state=1)
    X, full = 300.0 * X, 300.0 * truth.tensor  # data units differ from the fit's
    X, full = from_tubes(X, axis), from_tubes(full, axis)
    est = _fit(_Tubal, X, width=6, tube_axis=axis)
    completed = est.complete(X)
    missing = np.isnan(X)
    np.testing.assert_array_equal(completed[~missing], X[~missing])
    error = np.linalg.norm((completed - full)[missing]) / np.linalg.norm(full[missing])
    assert error < 0.05
    assert est.score(full) > 0.99
