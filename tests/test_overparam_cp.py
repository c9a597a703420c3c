"""OverparamCP end to end: planted recovery, regimes, scikit-learn integration, backends."""

import warnings

import numpy as np
import pytest
import tensorly as tl
from interruption import Interrupt, raise_at
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sktensorflow import DeflationFlowCP, OverparamCP
from sktensorflow.datasets import make_ica_mixture, make_symmetric_cp
from sktensorflow.metrics import recovery_score, relative_error
from sktensorflow.models.symmetric_cp import reinit_small_columns


def _dense(cp):
    return tl.cp_to_tensor(cp)


def _fitted_error(est, T):
    return relative_error(_dense(est.to_tensorly()), _dense(T))


@pytest.mark.parametrize(
    "order, d, weights",
    [(3, 15, [1.0, 0.8, 0.6, 0.45]), (4, 18, [1.0, 0.85, 0.7, 0.55, 0.4])],
)
@pytest.mark.parametrize("dense", [False, True])
def test_planted_orthogonal_recovery(order, d, weights, dense):
    r = len(weights)
    T, truth = make_symmetric_cp(d, r, order=order, weights=weights, dense=dense, random_state=1)
    est = OverparamCP(width=5 * r, order=order, tensor="precomputed", random_state=0).fit(T)
    assert est.rank_ == r
    result = recovery_score(est.components_, truth.components)
    assert result.cosines.min() >= 0.99
    # Weights come back sorted and matched to the truth (sign fixed by direction for odd order).
    signed = est.weights_ * np.sign(np.sum(est.components_ * truth.components, axis=1)) ** order
    np.testing.assert_allclose(signed, weights, rtol=1e-3)


def test_negative_weight_recovered_with_its_sign():
    weights = [1.0, -0.8, 0.6, -0.5]
    T, truth = make_symmetric_cp(16, 4, order=4, weights=weights, random_state=2)
    est = OverparamCP(width=24, order=4, tensor="precomputed", random_state=0).fit(T)
    assert est.rank_ == 4
    result = recovery_score(est.components_, truth.components)
    assert result.cosines.min() >= 0.99
    matched = est.weights_[result.matching]
    np.testing.assert_array_equal(np.sign(matched), np.sign(weights))
    np.testing.assert_allclose(matched, weights, rtol=1e-3)


def test_moment_from_samples_equals_precomputed_moment():
    X = np.random.default_rng(0).standard_normal((300, 5))
    M = np.einsum("si,sj,sk->ijk", X, X, X) / len(X)
    kw = dict(width=6, order=3, max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = OverparamCP(**kw).fit(X)
        b = OverparamCP(tensor="precomputed", **kw).fit(M)
    np.testing.assert_allclose(a.columns_, b.columns_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)


def test_ica_skewed_sources_from_cumulant():
    X, truth = make_ica_mixture(20000, 4, 8, random_state=0)
    est = OverparamCP(width=16, tensor="cumulant", tol=1e-4, random_state=0).fit(X)
    result = recovery_score(est.components_, truth.components)
    assert result.cosines.min() >= 0.95
    # The four sources (skewness 2) carry the four largest weights.
    assert set(result.matching) == {0, 1, 2, 3}


def _model_error(est, T):
    """Relative error of the fitted over-parametrized model itself (every column)."""
    W = est.columns_
    model = tl.cp_to_tensor((est.column_weights_, [W / np.linalg.norm(W, axis=0)] * est.order))
    return relative_error(model, _dense(T))


@pytest.mark.parametrize("seed", range(5))
def test_rich_regime_fits_better_than_lazy(seed):
    T, _ = make_symmetric_cp(6, 2, order=3, weights=[1.0, 0.7], random_state=0)
    fits = {}
    for regime in ("rich", "lazy"):
        est = OverparamCP(width=10, regime=regime, tensor="precomputed", random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[regime] = est.fit(T)
    errors = {regime: _model_error(est, T) for regime, est in fits.items()}
    # Both stop on tol. Measured on seeds 0-4: rich 2e-6 .. 5e-6, lazy 1.3e-4 .. 7.5e-4.
    assert errors["rich"] <= 1e-5
    assert errors["lazy"] >= 30 * errors["rich"]
    # The rich fit is its rank-2 grouped decomposition; the lazy one is spread over
    # its columns (its grouped decomposition is worse than the model on 4 of 5 seeds).
    assert _fitted_error(fits["rich"], T) <= 1e-4
    assert fits["rich"].rank_ == 2


def _n_found(est, truth):
    if est.rank_ == 0:
        return 0
    return int(np.sum(recovery_score(est.components_, truth.components).cosines >= 0.99))


@pytest.mark.parametrize("seed", [2, 7])
def test_epochs_method_recovers_where_plain_gd_stalls(seed, monkeypatch):
    # Plain gradient flow from a small start (the saddle check switched off) ends
    # at a stationary point with two columns on one component and one component
    # unfitted on these seeds (2 of 10 seeds at width 12; the default saddle
    # check and method="epochs" recover all four on all 10).
    weights = np.geomspace(1.0, 0.3, 4)
    T, truth = make_symmetric_cp(15, 4, order=3, weights=weights, random_state=seed)
    kw = dict(width=12, tensor="precomputed", random_state=seed)
    with monkeypatch.context() as m:
        m.setattr("sktensorflow._overparam_cp.symmetric_escape", lambda *a, **k: None)
        plain = OverparamCP(**kw).fit(T)
    assert plain.stop_reason_ == "tol" and _n_found(plain, truth) == 3
    est = OverparamCP(method="epochs", **kw).fit(T)
    assert _n_found(est, truth) == 4 and est.rank_ == 4
    assert est.stop_reason_ == "target_accuracy" and est.n_epochs_ == 2
    assert est.n_reinit_[0] > 0 and est.n_escapes_ == 0  # escaped by re-initialization
    assert _model_error(est, T) <= 1e-4
    np.testing.assert_allclose(est.epoch_times_[1], 2 * est.epoch_times_[0], rtol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_epochs_method_planted_order4_recovery(seed):
    weights = [1.0, 0.85, 0.7, 0.55, 0.4]
    T, truth = make_symmetric_cp(18, 5, order=4, weights=weights, random_state=seed)
    est = OverparamCP(width=20, order=4, tensor="precomputed", method="epochs", random_state=seed)
    est.fit(T)
    assert est.rank_ == 5 and _n_found(est, truth) == 5
    np.testing.assert_allclose(est.weights_, weights, rtol=1e-3)
    assert est.stop_reason_ == "target_accuracy"


def test_epochs_method_is_rich_only():
    T, _ = make_symmetric_cp(6, 2, order=3, random_state=0)
    with pytest.raises(ValueError, match="method='epochs' .* got regime='lazy'"):
        OverparamCP(width=4, regime="lazy", method="epochs", tensor="precomputed").fit(T)


def test_rank_history_and_histories_are_recorded():
    T, _ = make_symmetric_cp(10, 3, order=3, random_state=0)
    est = OverparamCP(width=12, tensor="precomputed", random_state=0).fit(T)
    # All columns start equal (rank = width); the tiny ones then fall below rank_tol.
    assert est.rank_history_[0] == 12 and est.rank_history_[-1] == 3
    assert np.all(np.diff(est.history_iter_) > 0)
    assert est.history_time_.shape == est.rank_history_.shape == est.history_iter_.shape
    assert est.column_norms_history_.shape == (len(est.history_iter_), 12)
    assert len(est.loss_curve_) == est.n_iter_ + 1
    assert est.loss_curve_[-1] < 1e-6 * est.loss_curve_[0]
    assert np.all(np.diff(est.time_curve_) > 0)
    assert est.stop_reason_ == "tol" and est.n_grad_evals_ > est.n_iter_
    assert est.learning_rate_ > 0


def test_callback_receives_the_columns():
    T, _ = make_symmetric_cp(7, 2, order=3, random_state=0)
    shapes = []

    def callback(state):
        shapes.append([tuple(p.shape) for p in state.params])

    est = OverparamCP(width=5, tensor="precomputed", callback=callback, random_state=0).fit(T)
    assert len(shapes) == est.n_iter_ > 0
    assert all(s == [(7, 5)] for s in shapes)


@pytest.mark.parametrize("cls", [OverparamCP, DeflationFlowCP])
def test_callback_sees_data_units_whatever_the_scale(cls):
    """The fit runs on the target divided by a power of two; the callback must not see it:
    scaling the data by 2**40 scales what it sees as the fitted attributes scale."""
    order = 3 if cls is OverparamCP else 4
    T, _ = make_symmetric_cp(7, 2, order=order, random_state=0)
    runs = []
    for c in (1.0, 2.0**40):
        seen = []
        target = tl.cp_tensor.CPTensor((T.weights * c, T.factors))
        est = cls(width=5, tensor="precomputed", callback=seen.append, random_state=0)
        runs.append((est.fit(target), seen))
    (plain, seen_plain), (scaled, seen_scaled) = runs
    column_ratio = np.abs(scaled.columns_).max() / np.abs(plain.columns_).max()
    assert column_ratio > 1e3  # the columns carry the data's units
    assert len(seen_plain) == len(seen_scaled) > 0
    for a, b in zip(seen_plain, seen_scaled, strict=True):
        np.testing.assert_allclose(b.params[0], column_ratio * a.params[0], rtol=1e-10)
        assert b.loss == pytest.approx(2.0**80 * a.loss, rel=1e-10)
        assert b.time == pytest.approx(2.0**-40 * a.time, rel=1e-10)


def test_failed_refit_keeps_the_previous_model():
    X, _ = make_ica_mixture(1000, 2, 4, random_state=0)
    est = OverparamCP(width=6, tensor="cumulant", tol=1e-3, random_state=0).fit(X)
    before = {k: np.copy(getattr(est, k)) for k in ("components_", "mean_", "columns_")}
    rank, Z = est.rank_, est.transform(X)
    with pytest.raises(Interrupt):
        est.set_params(callback=raise_at(1), width=9).fit(X[:500] + 5.0)
    assert est.rank_ == rank
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(est, name), value)
    np.testing.assert_array_equal(est.transform(X), Z)


def test_failed_first_fit_leaves_the_estimator_unfitted():
    X, _ = make_ica_mixture(500, 2, 4, random_state=0)
    est = OverparamCP(width=4, callback=raise_at(1), random_state=0)
    with pytest.raises(Interrupt):
        est.fit(X)
    with pytest.raises(NotFittedError):
        est.transform(X)


def test_precomputed_refit_resets_the_preprocessing():
    X, _ = make_ica_mixture(1000, 2, 4, random_state=0)
    est = OverparamCP(width=6, tensor="cumulant", whiten=True, tol=1e-3, random_state=0)
    est.fit(X + 3.0)
    assert np.abs(est.mean_).min() > 1.0
    T, _ = make_symmetric_cp(4, 2, order=3, random_state=0)
    est.set_params(tensor="precomputed").fit(T)
    np.testing.assert_array_equal(est.mean_, np.zeros(4))
    np.testing.assert_array_equal(est.whitening_, np.eye(4))
    Z = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(est.transform(Z), Z @ est.components_.T)


def test_reinit_small_columns_redraws_only_small_shrinking_columns():
    W = np.array([[1.0, 1e-3, 1e-3, 2e-3], [0.0, 0.0, 0.0, 0.0]])
    grad = np.array([[-1.0, 1.0, -1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])  # columns 0 and 2 grow
    W_new, n_redrawn = reinit_small_columns(W, grad, np.random.RandomState(0), 0.5, 1e-2)
    assert n_redrawn == 2
    np.testing.assert_array_equal(W_new[:, [0, 2]], W[:, [0, 2]])
    np.testing.assert_allclose(np.linalg.norm(W_new[:, [1, 3]], axis=0), 0.5)


def test_reinitialization_during_fit_keeps_columns_at_init_norm():
    T, _ = make_symmetric_cp(8, 2, order=4, random_state=0)
    kw = dict(width=10, order=4, tensor="precomputed", random_state=0, reinit_threshold=0.05)
    plain = OverparamCP(**kw).fit(T)
    reinit = OverparamCP(reinit_every=2.0, **kw).fit(T)
    assert reinit.rank_ == plain.rank_ == 2
    # Negative-sign columns decay under the plain flow; re-drawing brings them back.
    smallest = [np.linalg.norm(e.columns_, axis=0).min() for e in (plain, reinit)]
    assert smallest[1] > 1.2 * smallest[0]


def test_grid_search_over_width_and_init_scale():
    # Three skewed sources: width 2 fits two of them (a score near 0.65, not
    # hopeless), width 4 all three; both initial scales work.
    X, _ = make_ica_mixture(6000, 3, 6, random_state=3)
    grid = {"width": [2, 4], "init_scale": [1e-3, 0.1]}
    search = GridSearchCV(OverparamCP(tensor="cumulant", tol=1e-3, random_state=0), grid, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X)
    assert search.best_params_["width"] == 4
    assert search.best_estimator_.rank_ == 3
    res = search.cv_results_
    scores = np.array([[res[f"split{k}_test_score"][i] for k in range(3)] for i in range(4)])
    wide = np.asarray(res["param_width"]) == 4
    assert scores[~wide].min() > 0.55  # the narrow model explains two sources of three
    assert np.all(scores[wide].min(axis=0) > scores[~wide].max(axis=0) + 0.1)  # every fold


def test_pipeline_ending_in_classifier():
    # The class is the sign of one hidden source (median split), mixed into 8
    # noisy features: no single feature carries it, one recovered component does.
    X, truth = make_ica_mixture(3000, 3, 8, random_state=2)
    X = X + 0.2 * np.random.default_rng(2).standard_normal(X.shape)
    y = (truth.sources[:, 1] > np.median(truth.sources[:, 1])).astype(int)
    train, test = slice(0, 1500), slice(1500, None)
    best_feature = max(
        LogisticRegression().fit(X[train, [j]], y[train]).score(X[test, [j]], y[test])
        for j in range(8)
    )
    assert best_feature < 0.8
    est = OverparamCP(width=6, tensor="cumulant", tol=1e-3, random_state=0)
    pipe = make_pipeline(est, LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[train], y[train])
    assert pipe[0].rank_ == 3
    assert pipe.score(X[test], y[test]) > 0.9


def test_deterministic_given_random_state():
    T, _ = make_symmetric_cp(8, 2, order=4, random_state=0)
    a = OverparamCP(width=8, order=4, tensor="precomputed", random_state=3).fit(T)
    b = OverparamCP(width=8, order=4, tensor="precomputed", random_state=3).fit(T)
    c = OverparamCP(width=8, order=4, tensor="precomputed", random_state=4).fit(T)
    np.testing.assert_array_equal(a.columns_, b.columns_)
    assert not np.allclose(a.columns_, c.columns_)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"width": 0}, "width"),
        ({"order": 1}, "order"),
        ({"regime": "ntk"}, "regime"),
        ({"method": "wang"}, "method"),
        ({"epoch_length": 0.0}, "epoch_length"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"tensor": "gram"}, "tensor"),
        ({"init_scale": -1.0}, "init_scale"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"solver_options": {"rtol": 0.0}}, "'rtol' parameter of solver_options"),
        ({"solver": "adam", "solver_options": {"rtol": 1e-3}}, r"\['rtol'\], which"),
    ],
)
def test_bad_parameters_are_named(params, match):
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match=match):
        OverparamCP(**params).fit(X)


def test_solver_options_reach_the_flow_solver():
    T, _ = make_symmetric_cp(6, 2, order=3, random_state=0)
    kw = dict(width=6, tensor="precomputed", random_state=0)
    loose = OverparamCP(solver_options={"rtol": 1e-2}, **kw).fit(T)
    default = OverparamCP(**kw).fit(T)
    assert loose.n_grad_evals_ < default.n_grad_evals_


def test_bad_precomputed_targets_are_named():
    with pytest.raises(ValueError, match=r"shape \(d,\)\*3, got shape \(4, 4\)"):
        OverparamCP(order=3, tensor="precomputed").fit(np.zeros((4, 4)))
    asym = np.random.default_rng(0).standard_normal((3, 3, 3))
    with pytest.raises(ValueError, match="symmetric"):
        OverparamCP(order=3, tensor="precomputed").fit(asym)
    with pytest.raises(ValueError, match="cumulant"):
        OverparamCP(order=5, tensor="cumulant").fit(np.ones((10, 3)))


def test_pytorch_backend_matches_numpy():
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_limits

    X = np.random.default_rng(0).standard_normal((500, 6)) + 0.5
    kw = dict(width=8, order=3, max_iter=200, random_state=0)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = OverparamCP(**kw).fit(X)
        est = OverparamCP(**kw).fit(torch.tensor(X))
    assert isinstance(est.components_, torch.Tensor)
    np.testing.assert_allclose(est.columns_.numpy(), ref.columns_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(est.transform(torch.tensor(X)).numpy(), ref.transform(X), rtol=1e-8)
    assert est.rank_ == ref.rank_
