"""Rank estimates that separate signal from sampling noise (symmetric CP, issue 11 item 4)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sktensorflow import DeflationFlowCP, OverparamCP
from sktensorflow._symmetric_rank import columns_of as _columns_of
from sktensorflow.datasets import make_ica_mixture, make_symmetric_cp
from sktensorflow.metrics import cp_rank, group_components
from sktensorflow.models import symmetric_cp as scp
from sktensorflow.models.sampling_noise import half_splits, noise_level, weight_errors


def skewed_mixture(n_samples, n_features=6, n_sources=3, seed=0):
    """Centered exponential sources (skewness 2) under a random Gaussian mixing."""
    rng = np.random.default_rng(seed)
    S = rng.exponential(size=(n_samples, n_sources)) - 1.0
    return S @ rng.standard_normal((n_features, n_sources)).T


def whitened(X):
    Xc = X - X.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(Xc.T @ Xc / Xc.shape[0])
    return Xc @ (eigvec / np.sqrt(eigval) @ eigvec.T)


def rank_without_noise_rule(est):
    """``rank_`` as the library counted it before the noise rule (``rank_tol`` only)."""
    _, weights = group_components(est.columns_, est.column_weights_, est.order)
    return cp_rank(weights, est.rank_tol)


def fit_quietly(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def cumulant_cp(**params):
    return OverparamCP(tensor="cumulant", order=3, whiten=True, random_state=0, **params)


# -- the noise model -------------------------------------------------------------------
def sup_of_noise(Z, rng, n_starts=30, n_iter=30):
    """``max_u |<T̂, u^{⊗3}>|`` of a whitened Gaussian sample's cumulant (its noise)."""
    target = scp.sample_target(Z, 3, cumulant=True)
    U = rng.standard_normal((Z.shape[1], n_starts))
    best = 0.0
    for _ in range(n_iter):
        V, rho = scp.target_contractions(target, U / np.linalg.norm(U, axis=0))
        best, U = max(best, np.abs(rho).max()), V
    return best


def count_exceedances(n_datasets, n_samples=600, n_features=4):
    """How often the noise's supremum exceeds the level, over Gaussian datasets."""
    exceeded = 0
    for seed in range(n_datasets):
        Z = whitened(np.random.default_rng(seed).standard_normal((n_samples, n_features)))
        rng = np.random.default_rng(1000 + seed)
        level = noise_level(half_splits(Z, 3, cumulant=True, rng=rng), rng).level
        exceeded += sup_of_noise(Z, rng) > level
    return exceeded


def test_noise_level_false_positive_rate():
    # Gaussian samples have a zero third cumulant: T̂ is pure noise. The level
    # (largest of 19 split-half suprema) should exceed its supremum ~95 % of the time.
    assert count_exceedances(12) <= 3  # P(>= 4 of 12) is 0.2 % at the nominal 5 %


@pytest.mark.slow
def test_noise_level_false_positive_rate_many_datasets():
    assert count_exceedances(100) <= 11  # P(>= 12 of 100) is 0.4 % at the nominal 5 %


def test_noise_level_detects_skewed_sources_at_moderate_n():
    """Power: the third-cumulant weight of a centered exponential source (2) clears the
    level in (nearly) every data set of 1000 samples, so an exact fit counts it."""
    detected = 0
    for seed in range(10):
        X, _ = make_ica_mixture(1000, 4, distribution="exponential", random_state=seed)
        rng = np.random.default_rng(1000 + seed)
        level = noise_level(half_splits(whitened(X), 3, cumulant=True, rng=rng), rng).level
        detected += 2.0 > level
    assert detected >= 9


def test_weight_errors_match_the_gaussian_standard_error():
    # Skewness estimates of Gaussian data have variance 6 / n along a fixed direction.
    Z = whitened(np.random.default_rng(0).standard_normal((4000, 3)))
    splits = half_splits(Z, 3, cumulant=True, rng=np.random.default_rng(1))
    errors = weight_errors(splits, np.eye(3))
    assert errors.shape == (3,)
    assert np.all((0.6 < errors / np.sqrt(6 / 4000)) & (errors / np.sqrt(6 / 4000) < 1.5))


# -- estimators ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_mixture_fit():
    X = skewed_mixture(2000, seed=2)
    return X, fit_quietly(cumulant_cp(width=12, tol=1e-4), X)


def test_noise_components_are_not_counted(small_mixture_fit):
    X, est = small_mixture_fit
    assert rank_without_noise_rule(est) == 4  # a noise component above rank_tol
    assert est.rank_ == 3
    assert est.components_.shape == (3, 6) and est.weights_.shape == (3,)
    assert est.noise_level_ > 0 and np.all(np.abs(est.weights_) > est.noise_level_)
    assert est.weight_errors_.shape == (3,)
    assert np.all((est.weight_errors_ > 0) & (est.weight_errors_ < 0.25 * np.abs(est.weights_)))
    assert est.transform(X).shape == (2000, 3)


def test_score_leaves_out_only_the_noise(small_mixture_fit):
    X, est = small_mixture_fit
    # The fit spreads the third source over two groups: the smaller one (a
    # satellite, below the noise level) is not counted, but it fits signal, so
    # the score keeps its columns; only the tiny columns of noise are left out.
    kept = est._scored_columns
    weights = np.abs(est.column_weights_)
    assert _columns_of(est.columns_, est.components_).sum() < kept.sum() < kept.size
    assert weights[~kept].max() < 1e-4 < weights[kept].min()
    Z = (X - est.mean_) @ est.whitening_
    target = scp.sample_target(Z, 3, cumulant=True)
    total = scp.target_norm_sq(target)
    signs = np.sign(est.column_weights_)
    loss, _ = scp.loss_and_grad(est.columns_[:, kept], target, signs[kept], target_sq=total)
    assert est.score(X) == pytest.approx(1.0 - 2.0 * loss / total, rel=1e-10)


def test_pure_noise_gives_rank_zero():
    X = np.random.default_rng(0).standard_normal((1000, 4))  # third cumulant zero
    est = fit_quietly(cumulant_cp(width=8, tol=1e-4, max_iter=300), X)
    assert rank_without_noise_rule(est) >= 4
    assert est.rank_ == 0
    assert est.components_.shape == (0, 4) and est.weight_errors_.shape == (0,)
    assert not est._scored_columns.any()  # no component carries signal: nothing scored
    assert est.score(X) == 0.0


def test_precomputed_targets_have_no_noise_rule():
    T, _ = make_symmetric_cp(8, 3, order=3, random_state=0)
    est = OverparamCP(width=20, tensor="precomputed", random_state=0).fit(T)
    assert est.noise_level_ == 0.0
    assert est.rank_ == 3 and np.all(est.weight_errors_ == 0.0)
    assert est.score(T) > 0.999


def test_deflation_flow_drops_noise_components():
    X = skewed_mixture(2000, seed=2)
    est = fit_quietly(
        DeflationFlowCP(width=12, tensor="cumulant", order=3, whiten=True, random_state=0), X
    )
    assert rank_without_noise_rule(est) == 4
    assert est.rank_ == 3


# -- the measurement (9000 samples) ------------------------------------------------
@pytest.mark.slow
def test_width_30_on_9000_samples_has_the_true_rank():
    X = skewed_mixture(9000, seed=0)
    est = fit_quietly(cumulant_cp(width=30), X)
    assert rank_without_noise_rule(est) == 5
    assert est.rank_ == 3


@pytest.mark.slow
def test_grid_search_over_width_picks_the_true_rank():
    X = skewed_mixture(9000, seed=0)
    search = GridSearchCV(cumulant_cp(), {"width": [3, 6, 12, 30]}, cv=3)
    fit_quietly(search, X)
    assert search.best_estimator_.rank_ == 3
    assert search.best_score_ > 0.9
