"""Fold-in of new rows: the posterior mean under the prior learned by the fit."""

import warnings

import numpy as np
import pytest

from sktensorflow import TubalFactorizer


def low_rank_rows(rng, n, p=30, rank=5, noise=0.0, basis=None):
    basis = rng.standard_normal((rank, p)) if basis is None else basis
    clean = rng.standard_normal((n, rank)) @ basis
    return clean, clean + noise * rng.standard_normal(clean.shape), basis


@pytest.fixture(scope="module")
def noisy_fit():
    rng = np.random.default_rng(0)
    _, train, basis = low_rank_rows(rng, 80, noise=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = TubalFactorizer(width=8, random_state=0, max_iter=3000).fit(train)
    clean, new, _ = low_rank_rows(rng, 40, noise=0.3, basis=basis)
    return est, clean, new, rng


def test_rows_with_few_observed_entries_are_shrunk_not_blown_up(noisy_fit):
    est, clean, new, rng = noisy_fit
    k = est._n_features_out
    design = est.inverse_transform(np.eye(k)).reshape(k, -1).T  # the fitted components
    few = np.full(new.shape, np.nan)
    for i, cols in enumerate(rng.random(new.shape).argsort(axis=1)[:, : k - 1]):
        few[i, cols] = new[i, cols]  # fewer observed entries than coefficients
    missing = np.isnan(few)
    completed = est.complete(few)
    plain = np.array(
        [
            design @ np.linalg.lstsq(design[~m], row[~m], rcond=None)[0]
            for row, m in zip(few, missing, strict=True)
        ]
    )
    error = np.linalg.norm((completed - clean)[missing]) / np.linalg.norm(clean[missing])
    plain_error = np.linalg.norm((plain - clean)[missing]) / np.linalg.norm(clean[missing])
    assert error < 0.9 * plain_error
    assert error < 1.0  # better than predicting zero


def test_fully_observed_exact_rows_are_fitted_exactly():
    rng = np.random.default_rng(1)
    _, train, basis = low_rank_rows(rng, 60, rank=3)
    est = TubalFactorizer(width=6, random_state=0).fit(train)
    assert est._noise_var < 1e-8
    _, new, _ = low_rank_rows(rng, 5, rank=3, basis=basis)
    np.testing.assert_allclose(est.inverse_transform(est.transform(new)), new, atol=1e-3)
