"""warm_start=True: a fit continues the previous one, and the two are one longer fit."""

import pickle

import numpy as np
import pytest
from interruption import Interrupt, raise_at

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow.datasets import (
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
)

TOL = 1e-10

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _cp_target(order, weights):
    cp, _ = make_symmetric_cp(8, len(weights), order=order, weights=weights, random_state=0)
    return cp


def _cases():
    """``(name, class, parameters, data, n)``: fits of ``n`` then ``n`` more iterations."""
    cp3 = _cp_target(3, [1.0, 0.6, 0.3])
    cp4 = _cp_target(4, [1.0, 0.6, 0.3])
    tubal, _ = make_tubal_low_rank((12, 10, 4), 2, observed_fraction=0.7, random_state=0)
    tucker, _ = make_low_multilinear_rank(
        (10, 9, 8), (2, 2, 2), observed_fraction=0.6, random_state=0
    )
    cp = dict(width=12, tensor="precomputed", random_state=0, solver="gd")
    deflation = dict(cp, learning_rate=0.02, init_scale=1e-3)
    validated = dict(random_state=0, solver="gd", tol=0.0, n_iter_no_change=1000)
    return [
        ("OverparamCP", OverparamCP, dict(cp, tol=0.0, init_scale=0.05), cp3, 150),
        ("DeflationFlowCP", DeflationFlowCP, deflation, cp4, 600),
        ("TubalFactorizer", TubalFactorizer, dict(validated, width=8, tube_axis=2), tubal, 150),
        ("DeepTucker", DeepTucker, dict(validated, init_scale=0.3), tucker, 150),
    ]


CASES = {case[0]: case[1:] for case in _cases()}
#: OverparamCP re-draws small columns (from its generator) in both halves of the fit.
REINIT = dict(reinit_every=0.2, reinit_threshold=0.5)

#: Fitted attributes that must agree between the continued fit and the longer one.
_COMMON = ("n_iter_", "loss_curve_", "time_curve_", "history_iter_", "history_time_")
_COMPARED = {
    "OverparamCP": ("columns_", "components_", "weights_", "rank_", "rank_history_",
                    "column_norms_history_", "n_escapes_"),
    "DeflationFlowCP": ("columns_", "components_", "weights_", "rank_", "error_curve_",
                        "column_norms_history_", "epoch_times_", "n_reinit_", "fit_times_"),
    "TubalFactorizer": ("factors_", "singular_values_", "components_", "tubal_rank_",
                        "tubal_rank_history_", "singular_values_history_", "validation_scores_",
                        "validation_iter_", "best_iter_", "tube_axis_"),
    "DeepTucker": ("core_", "chains_", "components_", "multilinear_rank_",
                   "core_slice_norms_history_", "multilinear_rank_history_",
                   "validation_scores_", "best_iter_"),
}  # fmt: skip


def max_abs_diff(a, b):
    """Largest absolute difference between two (nested lists of) arrays of equal shapes."""
    if isinstance(a, list | tuple):
        assert len(a) == len(b)
        return max([max_abs_diff(x, y) for x, y in zip(a, b, strict=True)], default=0.0)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b), initial=0.0))


def assert_same_fit(a, b, names):
    for name in (*_COMMON, *names):
        diff = max_abs_diff(getattr(a, name), getattr(b, name))
        assert diff <= TOL, (name, diff)


def _continued(cls, params, X, n, **second):
    est = cls(**params, max_iter=n, warm_start=True).fit(X)
    assert est.stop_reason_ == "max_iter" and est.n_iter_ == n
    return est, est.set_params(**second).fit(X)


@pytest.mark.parametrize("name", CASES)
def test_continuing_for_n_iterations_equals_one_fit_of_the_combined_length(name):
    cls, params, X, n = CASES[name]
    longer = cls(**params, max_iter=2 * n).fit(X)
    est = cls(**params, max_iter=n, warm_start=True).fit(X)
    assert est.stop_reason_ == "max_iter" and est.n_iter_ == n
    first_loss = est.loss_curve_[-1]
    est.fit(X)
    assert est.n_iter_ == 2 * n and est.stop_reason_ == longer.stop_reason_
    assert est.loss_curve_[-1] < 0.9 * first_loss  # the continuation did move
    assert_same_fit(est, longer, _COMPARED[name])
    # one more gradient evaluation: the resumed point is evaluated again
    assert est.n_grad_evals_ == longer.n_grad_evals_ + 1


@pytest.mark.parametrize("solver", ["adam", "flow"])
def test_the_step_rule_state_is_carried(solver):
    """Adam's moments and the flow solver's next step continue (no restart of the rule)."""
    cls, params, X, n = CASES["OverparamCP"]
    params = dict(params, solver=solver)
    longer = cls(**params, max_iter=2 * n).fit(X)
    _, est = _continued(cls, params, X, n)
    assert_same_fit(est, longer, _COMPARED["OverparamCP"])


def test_the_random_generator_continues():
    """Re-initializations draw from the generator as the longer fit's do (scale 2**200 too)."""
    cls, params, X, n = CASES["OverparamCP"]
    params = dict(params, **REINIT)
    plain = cls(**dict(params, reinit_every=None), max_iter=2 * n).fit(X)
    longer = cls(**params, max_iter=2 * n).fit(X)
    assert max_abs_diff(plain.columns_, longer.columns_) > 1e-3  # columns were re-drawn
    _, est = _continued(cls, params, X, n)
    assert_same_fit(est, longer, _COMPARED["OverparamCP"])


def test_a_continuation_stops_on_tol_where_the_longer_fit_does():
    """DeepTucker's tol scale comes from its start's rate: the continuation keeps it.

    (The record interval is the first fit's, from its ``max_iter``: histories differ.)
    """
    _, _, X, _ = CASES["DeepTucker"]
    params, n = dict(random_state=0, early_stopping=False, tol=1e-2), 100  # Adam, stops on tol
    longer = DeepTucker(**params, max_iter=1000).fit(X)
    assert longer.stop_reason_ == "tol" and n < longer.n_iter_ < 1000
    _, est = _continued(DeepTucker, params, X, n)
    assert est.stop_reason_ == "tol"
    for name in ("n_iter_", "loss_curve_", "core_", "chains_", "multilinear_rank_"):
        assert max_abs_diff(getattr(est, name), getattr(longer, name)) <= TOL, name
    est.fit(X)  # a converged fit is checked again at once, and stays
    assert est.n_iter_ == longer.n_iter_ and est.stop_reason_ == "tol"


#: Epoch-based fits: the estimator, its parameters, the attributes compared besides _COMPARED.
EPOCHS = {
    "DeflationFlowCP": (dict(width=16), ()),
    "OverparamCP": (
        dict(method="epochs", init_scale=1e-3, target_accuracy=1e-6),
        ("epoch_times_", "n_reinit_"),
    ),
}


@pytest.mark.parametrize("name", list(EPOCHS))
def test_epochs_continue_their_schedule(name):
    """Two epochs, then three more, are the epochs of one fit of five (the last end redone)."""
    cls, params, X, _ = CASES[name]
    extra, compared = EPOCHS[name]
    params = dict(params, **extra)
    longer = cls(**params, max_iter=10**6, max_epochs=5).fit(X)
    est = cls(**params, max_iter=10**6, max_epochs=2, warm_start=True).fit(X)
    assert est.stop_reason_ == "max_epochs" and est.n_epochs_ == 2
    est.set_params(max_epochs=3).fit(X)
    assert est.n_epochs_ == longer.n_epochs_ > 2 and est.stop_reason_ == longer.stop_reason_
    assert est.n_reinit_.sum() > 0  # columns were re-drawn at the epoch ends
    assert_same_fit(est, longer, _COMPARED[name] + compared)
    other = {"DeflationFlowCP": "plain", "OverparamCP": "gd"}[name]
    with pytest.raises(ValueError, match="method"):  # the method shapes the fit
        est.set_params(method=other).fit(X)


def test_tube_axis_auto_continues_along_the_chosen_axis():
    cls, params, X, n = CASES["TubalFactorizer"]
    params = dict(params, tube_axis="auto")
    _, est = _continued(cls, params, X, n)
    chosen = est.tube_axis_
    longer = cls(**dict(params, tube_axis=chosen), max_iter=2 * n).fit(X)
    assert_same_fit(est, longer, _COMPARED["TubalFactorizer"])
    other = 3 - chosen
    with pytest.raises(ValueError, match=f"tube_axis={other}"):
        est.set_params(tube_axis=other).fit(X)


def test_an_early_stopped_fit_continues_from_its_last_iterate():
    """The loop goes on from the last iterate (not the kept best one), to the next check."""
    X, _ = make_tubal_low_rank((12, 10, 4), 2, observed_fraction=0.7, random_state=0)
    params = dict(width=8, tube_axis=1, solver="gd", random_state=0)
    est = TubalFactorizer(**params, warm_start=True).fit(X)
    n, best = est.n_iter_, est.best_iter_
    assert est.stop_reason_ == "early_stopping" and best < n
    est.fit(X)
    every = TubalFactorizer._validation_every  # iterations between two checks
    assert est.stop_reason_ == "early_stopping" and est.n_iter_ == n + every  # one more check
    assert est.best_iter_ == best
    never_stopping = TubalFactorizer(**params, n_iter_no_change=1000, max_iter=n + every).fit(X)
    assert max_abs_diff(est.loss_curve_, never_stopping.loss_curve_) <= TOL


@pytest.mark.parametrize("name", CASES)
def test_a_continuation_on_other_data_keeps_the_first_fits_units(name):
    """Same shape, other data: the continuation fits them, with the "auto" step for them."""
    cls, params, X, n = CASES[name]
    X = np.asarray(X.to_tensor() if hasattr(X, "to_tensor") else X)
    params = dict(params, learning_rate="auto")
    est = cls(**params, max_iter=n, warm_start=True).fit(X)
    step = est.learning_rate_
    est.fit(3.0 * X)
    fresh = cls(**params, max_iter=n).fit(3.0 * X)
    assert est.n_iter_ == 2 * n and np.isfinite(est.loss_curve_).all()
    assert est.learning_rate_ == pytest.approx(fresh.learning_rate_, rel=1e-12)
    assert name == "DeepTucker" or fresh.learning_rate_ != pytest.approx(step)


def test_continuing_at_an_extreme_scale_is_exact():
    cls, params, X, n = CASES["OverparamCP"]
    X = np.asarray(X.to_tensor() if hasattr(X, "to_tensor") else X) * 1e150
    longer = cls(**params, max_iter=2 * n).fit(X)
    _, est = _continued(cls, params, X, n)
    assert longer.weights_.max() > 1e140
    assert_same_fit(est, longer, _COMPARED["OverparamCP"])


@pytest.mark.parametrize("name", CASES)
def test_without_warm_start_every_fit_starts_afresh(name):
    cls, params, X, n = CASES[name]
    est = cls(**params, max_iter=n).fit(X)
    first = est.loss_curve_.copy()
    est.fit(X)
    assert est.n_iter_ == n and max_abs_diff(est.loss_curve_, first) == 0.0
    assert cls().get_params()["warm_start"] is False


@pytest.mark.parametrize("name", CASES)
def test_data_of_another_shape_is_an_error_that_leaves_the_model(name):
    cls, params, X, n = CASES[name]
    est = cls(**params, max_iter=n, warm_start=True).fit(X)
    other = _other_shape(name, X)
    before = est.loss_curve_
    with pytest.raises(ValueError, match="warm_start=True continues the previous fit"):
        est.fit(other)
    assert est.loss_curve_ is before
    est.set_params(warm_start=False).fit(other)  # a fresh fit is fine


def _other_shape(name, X):
    """Data the fitted parameters cannot continue on: fewer features, or fewer samples."""
    if name in ("OverparamCP", "DeflationFlowCP"):
        cp, _ = make_symmetric_cp(6, 2, order=3 if name == "OverparamCP" else 4, random_state=0)
        return cp
    return X[:-1]


@pytest.mark.parametrize(
    "name, change",
    [("OverparamCP", {"width": 10}), ("DeflationFlowCP", {"method": "plain"}),
     ("TubalFactorizer", {"early_stopping": False}), ("DeepTucker", {"depth": 2})],
)  # fmt: skip
def test_a_parameter_that_shapes_the_model_cannot_change(name, change):
    cls, params, X, n = CASES[name]
    est = cls(**params, max_iter=n, warm_start=True).fit(X)
    (key, value), n_iter = next(iter(change.items())), est.n_iter_
    with pytest.raises(ValueError, match=f"{key}={value!r}"):
        est.set_params(**change).fit(X)
    assert est.n_iter_ == n_iter


@pytest.mark.parametrize("name", ["OverparamCP", "TubalFactorizer"])
def test_an_interrupted_continuation_leaves_the_model_and_its_state(name):
    cls, params, X, n = CASES[name]
    params = dict(params, **REINIT) if name == "OverparamCP" else params
    longer = cls(**params, max_iter=2 * n).fit(X)
    est = cls(**params, max_iter=n, warm_start=True).fit(X)
    before = {k: v for k, v in vars(est).items() if k.endswith("_")}
    with pytest.raises(Interrupt):
        est.set_params(callback=raise_at(n + 100)).fit(X)  # after re-draws (OverparamCP)
    assert all(vars(est)[k] is v for k, v in before.items())
    est.set_params(callback=None).fit(X)  # still continues the first fit
    assert_same_fit(est, longer, _COMPARED[name])


def test_a_pickled_estimator_continues():
    cls, params, X, n = CASES["DeepTucker"]
    params = dict(params, solver="adam")
    longer = cls(**params, max_iter=2 * n).fit(X)
    est = cls(**params, max_iter=n, warm_start=True).fit(X)
    est = pickle.loads(pickle.dumps(est)).fit(X)
    assert_same_fit(est, longer, _COMPARED["DeepTucker"])


def test_a_torch_fit_continues_on_torch():
    torch = pytest.importorskip("torch")
    cls, params, X, n = CASES["TubalFactorizer"]
    Xt = torch.as_tensor(X)
    longer = cls(**params, max_iter=2 * n).fit(Xt)
    _, est = _continued(cls, params, Xt, n)
    assert isinstance(est.factors_[0], torch.Tensor)
    diff = max_abs_diff([f.numpy() for f in est.factors_], [f.numpy() for f in longer.factors_])
    assert diff <= TOL
