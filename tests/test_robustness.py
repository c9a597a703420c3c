"""Robustness over the four estimators: faults, refits and invariants (issue 12).

The first half is a matrix over the estimators of faults during a fit (a
callback raising an exception or ``KeyboardInterrupt``, an error on new data)
and of refits; the fitted state compared is everything ``fit`` put on the
estimator (every instance attribute that is not a constructor parameter,
private ones included). The second half states invariants as properties over
random small shapes, ranks, missing patterns and scales (``hypothesis``).
"""

import copy
import math
import warnings

import numpy as np
import pytest
import tensorly as tl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interruption import Interrupt, raise_at
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow import tproduct as tp
from sktensorflow.datasets import (
    make_ica_mixture,
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:.*all zero:UserWarning"),
]


# -- helpers -------------------------------------------------------------------
def fitted_state(est):
    """Everything a fit put on ``est``: its instance attributes except the parameters."""
    params = est.get_params(deep=False)
    return {k: v for k, v in vars(est).items() if k not in params}


def assert_same(a, b, path="state"):
    """Recursive exact equality of fitted values (arrays, containers, NaN equal to NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), f"{path}: {type(b)} is not an array"
        assert a.shape == b.shape and a.dtype == b.dtype, f"{path}: {a.shape} != {b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), f"{path}: {b!r} is not NaN"
    else:
        assert type(a) is type(b) and a == b, f"{path}: {a!r} != {b!r}"


def assert_finite(state):
    """Every number in the fitted state is finite."""
    for name, value in state.items():
        for array in _arrays(value):
            if array.dtype.kind in "fc":
                assert np.all(np.isfinite(array)), f"{name} is not finite"


def _arrays(value):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [a for v in value for a in _arrays(v)]
    if isinstance(value, np.ndarray | float | np.floating):
        return [np.asarray(value)]
    return []


def raise_keyboard_interrupt_at(n_iter):
    """A callback pressing Ctrl-C at iteration ``n_iter``."""

    def callback(state):
        if state.n_iter >= n_iter:
            raise KeyboardInterrupt

    return callback


FAULTS = {
    "exception": (raise_at(2), Interrupt),
    "KeyboardInterrupt": (raise_keyboard_interrupt_at(2), KeyboardInterrupt),
}


# -- the four estimators, small and fast ------------------------------------------------
def _ica(n_features, seed):
    return make_ica_mixture(200, 2, n_features, random_state=seed)[0]


def _tubal(shape, seed, observed=0.8):
    return make_tubal_low_rank(shape, 2, observed_fraction=observed, random_state=seed)[0]


def _tucker(shape, seed, observed=0.7):
    ranks = (2,) * len(shape)
    X, _ = make_low_multilinear_rank(shape, ranks, observed_fraction=observed, random_state=seed)
    return X


def _matrix(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


#: name -> (estimator, training data, data of another shape)
CASES = {
    "OverparamCP": (
        OverparamCP(6, tensor="cumulant", whiten=True, max_iter=30, random_state=0),
        lambda: _ica(4, 0),
        lambda: _ica(5, 1) + 3.0,
    ),
    "DeflationFlowCP": (
        DeflationFlowCP(
            6, tensor="cumulant", whiten=True, max_epochs=2, max_iter=30, random_state=0
        ),
        lambda: _ica(4, 0),
        lambda: _ica(5, 1) + 3.0,
    ),
    "TubalFactorizer": (
        TubalFactorizer(6, max_iter=60, random_state=0),
        lambda: _tubal((10, 8, 3), 0),
        lambda: _matrix((9, 7), 1),
    ),
    "DeepTucker": (
        DeepTucker(max_iter=40, random_state=0),
        lambda: _tucker((8, 6, 5), 0),
        lambda: _matrix((9, 7), 1),
    ),
}
NAMES = list(CASES)

_FITTED = {}


def fitted(name):
    """A fitted copy of the case's estimator (each case is fitted once per session)."""
    if name not in _FITTED:
        est, data, _ = CASES[name]
        _FITTED[name] = clone(est).fit(data())
    return copy.deepcopy(_FITTED[name])


# -- faults ------------------------------------------------------------------------
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", NAMES)
def test_a_fault_in_a_first_fit_leaves_the_estimator_unfitted(name, fault):
    est, data, _ = CASES[name]
    callback, error = FAULTS[fault]
    est, X = clone(est).set_params(callback=callback), data()
    with pytest.raises(error):
        est.fit(X)
    assert fitted_state(est) == {}
    with pytest.raises(NotFittedError):
        est.transform(X)
    with pytest.raises(NotFittedError):
        est.score(X)
    # ... and nothing of the interrupted fit leaks into the next one
    assert_same(fitted_state(est.set_params(callback=None).fit(X)), fitted_state(fitted(name)))


@pytest.mark.parametrize("new_shape", [False, True], ids=["same_data", "new_shape"])
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", NAMES)
def test_a_fault_in_a_refit_keeps_the_previous_model_whole(name, fault, new_shape):
    _, data, other = CASES[name]
    callback, error = FAULTS[fault]
    est, X = fitted(name), data()
    before, Z = copy.deepcopy(fitted_state(est)), est.transform(X)
    with pytest.raises(error):
        est.set_params(callback=callback).fit(other() if new_shape else X)
    assert_same(fitted_state(est), before)
    np.testing.assert_array_equal(est.set_params(callback=None).transform(X), Z)


#: name -> (parameters, data) of a refit that fails after the new data were validated
FAILING_REFITS = {
    "OverparamCP": ({"init_scale": 1e-300}, lambda: _ica(5, 1)),
    "DeflationFlowCP": ({"init_scale": 1e-300}, lambda: _ica(5, 1)),
    "TubalFactorizer": ({"symmetric": True}, lambda: _matrix((9, 7), 1)),
    "DeepTucker": ({}, lambda: np.full((4, 3, 2), np.nan)),
}


@pytest.mark.parametrize("name", NAMES)
def test_a_refit_failing_on_new_shapes_keeps_the_previous_model_whole(name):
    params, other = FAILING_REFITS[name]
    X = CASES[name][1]()
    est = fitted(name)
    before, Z = copy.deepcopy(fitted_state(est)), est.transform(X)
    with pytest.raises(ValueError):
        est.set_params(**params).fit(other())
    assert_same(fitted_state(est), before)
    assert est.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(est.transform(X), Z)


# -- refits -----------------------------------------------------------------------
def _precomputed_cp(order, d=4):
    return make_symmetric_cp(d, 2, order=order, random_state=0)[0]


#: name -> (first parameters, first data, second parameters, second data)
REFITS = {
    "OverparamCP": [
        ({}, lambda: _ica(4, 0), {}, lambda: _ica(5, 1) + 3.0),
        ({}, lambda: _ica(4, 0), {"tensor": "precomputed"}, lambda: _precomputed_cp(3)),
        ({"reinit_every": 5.0}, lambda: _ica(4, 0), {"regime": "lazy"}, lambda: _ica(4, 0)),
        ({"tensor": "moment", "whiten": False}, lambda: _ica(4, 0),
         {"tensor": "cumulant", "whiten": True}, lambda: _ica(4, 1)),
    ],
    "DeflationFlowCP": [
        ({}, lambda: _ica(4, 0), {}, lambda: _ica(5, 1) + 3.0),
        ({"record_columns": True}, lambda: _ica(4, 0), {"record_columns": False},
         lambda: _ica(4, 0)),
        ({}, lambda: _ica(4, 0), {"tensor": "precomputed"}, lambda: _precomputed_cp(4)),
        ({"method": "plain"}, lambda: _ica(4, 0), {"method": "modified"}, lambda: _ica(4, 0)),
    ],
    "TubalFactorizer": [
        ({}, lambda: _tubal((10, 8, 3), 0), {}, lambda: _matrix((9, 7), 1)),
        ({}, lambda: _tubal((10, 8, 3), 0), {"early_stopping": False},
         lambda: _tubal((6, 6, 2), 1)),
        ({"tube_axis": 1}, lambda: _tubal((10, 8, 3), 0), {"symmetric": True, "tube_axis": 2},
         lambda: make_tubal_low_rank((6, 6, 2), 1, symmetric=True, random_state=0)[0]),
        ({"solver": "flow"}, lambda: _tubal((10, 8, 3), 0), {"solver": "gd"},
         lambda: _tubal((10, 8, 3), 0)),
    ],
    "DeepTucker": [
        ({}, lambda: _tucker((8, 6, 5), 0), {}, lambda: _matrix((9, 7), 1)),
        ({}, lambda: _tucker((8, 6, 5), 0), {"early_stopping": False}, lambda: _tucker((5, 4), 1)),
        ({"depth": 2, "factor_form": "column"}, lambda: _tucker((8, 6, 5), 0),
         {"depth": 1, "factor_form": "product"},
         lambda: _tucker((7, 6, 5, 2), 1)),
        ({"solver": "flow", "width": 3}, lambda: _tucker((8, 6, 5), 0),
         {"solver": "adam", "width": None},
         lambda: _tucker((8, 6, 5), 0)),
    ],
}  # fmt: skip
REFIT_CASES = [(name, i) for name in NAMES for i in range(len(REFITS[name]))]


@pytest.mark.parametrize(("name", "index"), REFIT_CASES, ids=[f"{n}-{i}" for n, i in REFIT_CASES])
def test_a_refit_equals_a_fresh_fit_and_leaves_nothing_stale(name, index):
    """Fit A then B equals a fresh fit on B: same attribute names, same values."""
    first, data_a, second, data_b = REFITS[name][index]
    base = CASES[name][0]
    est = clone(base).set_params(**first).fit(data_a())
    refit = est.set_params(**second).fit(data_b())
    fresh = clone(refit).fit(data_b())
    assert sorted(fitted_state(refit)) == sorted(fitted_state(fresh))
    assert_same(fitted_state(refit), fitted_state(fresh))


# -- properties ----------------------------------------------------------------------
PROPERTY = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,  # the same examples on every run, whatever ran before
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: powers of ten within the range every estimator handles (extreme scales: test_*_scale)
scales = st.integers(-3, 3).map(lambda e: 10.0**e)
seeds = st.integers(0, 2**16)


def _fit_twice(est, X):
    """Two fits with the same ``random_state``; asserts they agree, returns one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = clone(est).fit(X), clone(est).fit(X)
    assert_same(fitted_state(first), fitted_state(second))
    return first


def _check_score(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        score = est.score(X)
    assert isinstance(score, float) and np.isfinite(score) and score <= 1.0 + 1e-12


@st.composite
def missing_patterns(draw, shape):
    """``True`` where observed: random entries, whole rows or whole tubes missing."""
    rng = np.random.default_rng(draw(seeds))
    kind = draw(st.sampled_from(["none", "entries", "row", "column", "tubes"]))
    observed = np.ones(shape, dtype=bool)
    if kind == "entries":
        observed = rng.random(shape) < draw(st.floats(0.4, 0.95))
    elif kind == "row":
        observed[rng.integers(shape[0])] = False
    elif kind == "column":
        observed[:, rng.integers(shape[1])] = False
    elif kind == "tubes" and len(shape) == 3:
        observed &= (rng.random(shape[:2]) < 0.7)[:, :, None]
    if not observed.any():
        observed.flat[0] = True
    return observed


@st.composite
def tubal_problems(draw):
    shape = tuple(draw(st.integers(2, 7)) for _ in range(2)) + (draw(st.integers(1, 4)),)
    rank = draw(st.integers(1, min(shape[:2])))
    X = make_tubal_low_rank(shape, rank, random_state=draw(seeds))[0] * draw(scales)
    X = np.where(draw(missing_patterns(shape)), X, np.nan)
    if draw(st.booleans()) and shape[2] == 1:
        X = X[:, :, 0]
    params = {
        "width": draw(st.integers(1, 8)),
        "early_stopping": draw(st.booleans()),
        "solver": draw(st.sampled_from(["gd", "scaled_gd", "flow", "adam"])),
    }
    return X, params


@st.composite
def tucker_problems(draw):
    shape = tuple(draw(st.integers(2, 6)) for _ in range(draw(st.integers(2, 3))))
    ranks = tuple(draw(st.integers(1, min(2, n))) for n in shape)
    X = make_low_multilinear_rank(shape, ranks, random_state=draw(seeds))[0] * draw(scales)
    X = np.where(draw(missing_patterns(shape)), X, np.nan)
    params = {
        "width": draw(st.one_of(st.none(), st.integers(1, 6))),
        "depth": draw(st.integers(1, 2)),
        "factor_form": draw(st.sampled_from(["product", "column"])),
        "early_stopping": draw(st.booleans()),
        "solver": draw(st.sampled_from(["adam", "flow", "gd"])),
    }
    return X, params


def _fit_and_fit_complete(est, X):
    """``fit`` and ``fit_complete`` on two clones: they must agree (same ``random_state``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = clone(est).fit(X), clone(est)
        completed = second.fit_complete(X)
    assert_same(fitted_state(first), fitted_state(second))
    return first, completed


def _check_completions(est, X, completed, fitted_values):
    """``fit_complete`` fills only the missing entries, from the fitted model; ``complete``
    keeps the observed entries exactly."""
    observed = ~np.isnan(X)
    expected = np.where(observed, X, fitted_values.reshape(X.shape))
    np.testing.assert_array_equal(completed[observed], X[observed])
    np.testing.assert_allclose(completed, expected, rtol=1e-12, atol=0)
    folded = est.complete(X)
    assert folded.shape == X.shape and np.all(np.isfinite(folded))
    np.testing.assert_array_equal(folded[observed], X[observed])


@PROPERTY
@given(tubal_problems())
def test_tubal_invariants(problem):
    X, params = problem
    est, completed = _fit_and_fit_complete(
        TubalFactorizer(max_iter=100, random_state=0, **params), X
    )
    assert_finite(fitted_state(est))
    n_features = X.shape[1] if X.ndim == 2 or est.tube_axis_ == 2 else X.shape[2]
    assert 0 <= est.tubal_rank_ <= min(params["width"], X.shape[0], n_features)
    assert est.components_.shape == (est.tubal_rank_, *X.shape[1:])
    A, B = est.factors_
    fitted = tp.t_product(A, tp.t_transpose(B))
    fitted = fitted if X.ndim == 2 or est.tube_axis_ == 2 else fitted.transpose(0, 2, 1)
    _check_completions(est, X, completed, fitted)
    _check_score(est, X)


@PROPERTY
@given(tucker_problems())
def test_deep_tucker_invariants(problem):
    X, params = problem
    est, completed = _fit_and_fit_complete(DeepTucker(max_iter=40, random_state=0, **params), X)
    assert_finite(fitted_state(est))
    for n, width, rank in zip(X.shape, est.widths_, est.multilinear_rank_, strict=True):
        assert 0 <= rank <= width <= min(n, X.size // n, params["width"] or 32)
    _check_completions(est, X, completed, tl.tucker_to_tensor(est.to_tensorly(full=True)))
    _check_score(est, X)


@st.composite
def symmetric_problems(draw, order):
    """A target of order ``order``: precomputed (CP or dense) or built from samples."""
    d = draw(st.integers(2, 6))
    scale, seed = draw(scales), draw(seeds)
    params = {"order": order, "signs": draw(st.sampled_from(["auto", "positive", "both"]))}
    if draw(st.booleans()):
        rank = draw(st.integers(1, 3))
        signs = np.where(np.arange(rank) % 2 & draw(st.booleans()), -1.0, 1.0)
        T = make_symmetric_cp(
            d,
            rank,
            order=order,
            weights=scale * signs * 0.8 ** np.arange(rank),
            orthogonal=rank <= d and draw(st.booleans()),
            dense=draw(st.booleans()),
            random_state=seed,
        )[0]
        return T, {**params, "tensor": "precomputed"}
    X = make_ica_mixture(draw(st.integers(10, 60)), draw(st.integers(1, d)), d, random_state=seed)
    tensor = draw(st.sampled_from(["moment", "cumulant"]))
    whiten = tensor == "cumulant" and draw(st.booleans())
    return X[0] * scale, {**params, "tensor": tensor, "whiten": whiten}


def _check_symmetric_cp(est, width):
    assert_finite(fitted_state(est))
    assert 0 <= est.rank_ <= width
    assert est.components_.shape == (est.rank_, est.n_features_in_)
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1.0, rtol=1e-10)
    assert np.all(np.diff(np.abs(est.weights_)) <= 0)


@PROPERTY
@given(st.sampled_from([3, 4]).flatmap(symmetric_problems), st.integers(1, 4), st.booleans())
def test_overparam_cp_invariants(problem, half_width, lazy):
    X, params = problem
    width = 2 * half_width if lazy else 2 * half_width - 1
    est = OverparamCP(
        width, regime="lazy" if lazy else "rich", max_iter=30, random_state=0, **params
    )
    est = _fit_twice(est, X)
    _check_symmetric_cp(est, width)
    _check_score(est, X)


@PROPERTY
@given(symmetric_problems(order=4), st.integers(1, 8), st.sampled_from(["modified", "plain"]))
def test_deflation_invariants(problem, width, method):
    X, params = problem
    est = DeflationFlowCP(
        width, method=method, max_epochs=2, max_iter=40, random_state=0, **params
    )
    est = _fit_twice(est, X)
    _check_symmetric_cp(est, width)
    assert est.fit_times_.shape == (est.rank_,)
    _check_score(est, X)


# -- failures the properties found ----------------------------------------------------
def _one_observed_entry():
    return np.array([[[np.nan], [np.nan]], [[0.17708691], [np.nan]]])


def _sparse_tubal():
    return make_tubal_low_rank((10, 8, 3), 2, observed_fraction=0.2, random_state=0)[0]


@pytest.mark.parametrize("data", [_one_observed_entry, _sparse_tubal], ids=["one", "sparse"])
def test_scaled_gd_fits_sparsely_observed_data(data):
    """Issue 12: with the observed share of the whole tensor in its preconditioner,
    solver="scaled_gd" overshot where the mask is denser and diverged; a step that
    does not decrease the loss is now rejected and halved."""
    X = data()
    est = TubalFactorizer(6, solver="scaled_gd", early_stopping=False, max_iter=300)
    est.set_params(random_state=0).fit(X)
    assert np.all(np.isfinite(est.loss_curve_))
    assert np.all(np.diff(est.loss_curve_) <= 1e-12 * est.loss_curve_[:-1])
    assert est.loss_curve_[-1] < 1e-2 * est.loss_curve_[0]
