"""partial_fit of the symmetric CP estimators: batches of samples, one moment."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import sktensorflow._streaming as streaming
from sktensorflow import DeflationFlowCP, OverparamCP

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: Fits short enough for the default test run (the comparisons hold at any length).
FAST = dict(random_state=0, max_iter=300)
#: ``(class, parameters, tolerance)``. The adaptive flow's step sizes follow its error
#: estimates, which the order of summation perturbs: measured 2e-5 relative (1e-13 for gd).
ESTIMATORS = [
    (OverparamCP, FAST, 1e-10),
    (DeflationFlowCP, dict(order=3, random_state=0, max_epochs=5), 1e-4),
]
IDS = ["OverparamCP", "DeflationFlowCP"]


def _samples(n=3000, d=6, seed=0):
    """Three skewed sources mixed into ``d`` features, plus noise; the largest entry comes late."""
    rng = np.random.default_rng(seed)
    A = np.linalg.qr(rng.standard_normal((d, 3)))[0]
    X = (rng.exponential(size=(n, 3)) - 1.0) @ A.T + 0.3 * rng.standard_normal((n, d))
    X[n - n // 6, 0] = 2 * np.max(np.abs(X))  # another normalization than the first batch's
    return X


def _stream(est, X, n_batches=4):
    for rows in np.array_split(np.arange(X.shape[0]), n_batches):
        est.partial_fit(X[rows])
    return est


@pytest.mark.parametrize("cls, params, tol", ESTIMATORS, ids=IDS)
def test_batches_fit_as_their_concatenation(cls, params, tol):
    X = _samples()
    full = cls(**params).fit(X)
    est = _stream(cls(**params), X)
    assert est.rank_ == full.rank_ == 3
    assert est._stream.n == X.shape[0]
    assert est.noise_level_ == pytest.approx(full.noise_level_, rel=1e-12)
    np.testing.assert_allclose(est.components_, full.components_, atol=tol)
    np.testing.assert_allclose(est.weights_, full.weights_, rtol=tol)
    assert est.score(X) == pytest.approx(full.score(X), rel=tol)


def test_each_call_fits_the_batches_so_far():
    X = _samples()
    est = OverparamCP(**FAST).partial_fit(X[:1000]).partial_fit(X[1000:2000])
    first_two = OverparamCP(**FAST).fit(X[:2000])
    np.testing.assert_allclose(est.components_, first_two.components_, atol=1e-10)
    assert est.n_features_in_ == 6


def test_warm_start_continues_the_iterations_on_the_updated_moment():
    X = _samples()
    est = OverparamCP(random_state=0, warm_start=True, max_iter=100)
    est.partial_fit(X[:1500])
    n_first = est.n_iter_
    est.partial_fit(X[1500:])
    assert est.n_iter_ == n_first + 100  # counters run on
    assert est._stream.n == 3000


def test_fit_starts_a_new_stream():
    X = _samples()
    est = OverparamCP(**FAST).partial_fit(X[:1000])
    est.fit(X[1000:2000])
    assert not hasattr(est, "_stream")
    est.partial_fit(X[2000:])
    alone = OverparamCP(**FAST).fit(X[2000:])
    np.testing.assert_allclose(est.components_, alone.components_, atol=1e-10)


def test_cumulant_and_precomputed_do_not_stream():
    X = _samples()
    for tensor in ("cumulant", "precomputed"):
        with pytest.raises(ValueError, match=f"tensor='{tensor}'"):
            OverparamCP(tensor=tensor).partial_fit(X)


def test_a_batch_with_other_features_is_an_error_and_changes_nothing():
    X = _samples()
    est = OverparamCP(**FAST).partial_fit(X[:1000])
    before = est.components_.copy()
    with pytest.raises(ValueError, match="X has 5 features, but OverparamCP is expecting 6"):
        est.partial_fit(X[1000:2000, :5])
    np.testing.assert_array_equal(est.components_, before)
    assert est._stream.n == 1000


def test_a_failed_call_leaves_the_stream_as_it_was():
    X = _samples()
    est = OverparamCP(**FAST).partial_fit(X[:1500])
    stream, components = est._stream, est.components_.copy()

    def stop(state):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        est.set_params(callback=stop).partial_fit(X[1500:])
    assert est._stream is stream and stream.n == 1500
    np.testing.assert_array_equal(est.components_, components)
    est.set_params(callback=None).partial_fit(X[1500:])
    full = OverparamCP(**FAST).fit(X)
    np.testing.assert_allclose(est.components_, full.components_, atol=1e-10)


def test_feature_names_of_the_first_batch_are_kept():
    pd = pytest.importorskip("pandas")
    X = _samples()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    est = OverparamCP(**FAST).partial_fit(frame.iloc[:1500]).partial_fit(frame.iloc[1500:])
    assert list(est.feature_names_in_) == list(frame.columns)


def test_reservoir_keeps_every_row_while_there_is_room(monkeypatch):
    monkeypatch.setattr(streaming, "NOISE_MAX_ENTRIES", 6 * 100)
    X = np.arange(80 * 6, dtype=float).reshape(80, 6)
    state = streaming.updated(None, X[:50], 3)
    state = streaming.updated(state, X[50:], 3)
    np.testing.assert_array_equal(np.ldexp(state.reservoir, state.x_exp), X)
    assert streaming.noise_rows_of(state, 3) is state.reservoir


def test_reservoir_is_a_uniform_subset_beyond(monkeypatch):
    """200 slots over 4000 rows: each row kept with probability 1/20, whatever its batch."""
    monkeypatch.setattr(streaming, "NOISE_MAX_ENTRIES", 2 * 200)
    X = np.arange(4000 * 2, dtype=float).reshape(4000, 2)
    state = None
    for rows in np.array_split(np.arange(4000), 7):
        state = streaming.updated(state, X[rows], 3)
    kept = np.ldexp(state.reservoir[:, 0], state.x_exp) / 2  # row indices
    assert kept.shape == (200,) and len(np.unique(kept)) == 200
    assert np.all(kept == np.round(kept)) and kept.max() < 4000
    # Binomial(200, 1/2) rows from the first half: 100 +- 7; 4 sigma.
    assert abs(np.sum(kept < 2000) - 100) < 28
    again = None
    for rows in np.array_split(np.arange(4000), 7):
        again = streaming.updated(again, X[rows], 3)
    np.testing.assert_array_equal(again.reservoir, state.reservoir)  # seeded
    scaled = streaming.noise_rows_of(state, 3)
    np.testing.assert_allclose(scaled, state.reservoir * (200 / 4000) ** (1 / 6))


def test_noise_level_from_the_reservoir_is_close(monkeypatch):
    """A 500-row subset of 3000 rows: measured 0.98 against 0.81 with all rows."""
    monkeypatch.setattr(streaming, "NOISE_MAX_ENTRIES", 6 * 500)
    X = _samples()
    est = _stream(OverparamCP(**FAST), X)
    full = OverparamCP(**FAST).fit(X)
    assert est._stream.reservoir.shape == (500, 6)
    assert 0.67 < est.noise_level_ / full.noise_level_ < 1.5


def test_torch_batches_fit_on_the_pytorch_backend():
    torch = pytest.importorskip("torch")
    X = _samples()
    est = OverparamCP(**FAST)
    est.partial_fit(torch.tensor(X[:1500])).partial_fit(torch.tensor(X[1500:]))
    assert isinstance(est.components_, torch.Tensor)
    full = OverparamCP(**FAST).fit(X)
    np.testing.assert_allclose(est.components_.numpy(), full.components_, atol=1e-10)


def test_convergence_warning_is_raised_per_call():
    X = _samples()
    with pytest.warns(ConvergenceWarning):
        OverparamCP(random_state=0, max_iter=5).partial_fit(X)
