"""Tests of sktensorflow.plotting: the drawn data are the estimators' recorded histories."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow.datasets import make_low_multilinear_rank, make_symmetric_cp, make_tubal_low_rank
from sktensorflow.plotting import (
    DeflationResidualDisplay,
    EarlyStoppingDisplay,
    NormStaircaseDisplay,
    TrainingCurveDisplay,
    plot_deflation_residuals,
    plot_early_stopping,
    plot_norm_staircase,
    plot_training_curve,
)

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")

KINDS = ["overparam", "deflation", "tubal", "tucker"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fit(kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "overparam":
            T, _ = make_symmetric_cp(6, 2, order=3, weights=[1.0, 0.5], random_state=0)
            return OverparamCP(width=6, tensor="precomputed", random_state=0).fit(T)
        if kind == "deflation":
            T, _ = make_symmetric_cp(6, 2, order=4, weights=[1.0, 0.5], random_state=0)
            est = DeflationFlowCP(width=6, tensor="precomputed", record_columns=True)
            return est.set_params(random_state=0).fit(T)
        if kind == "tubal":
            X, _ = make_tubal_low_rank(
                (8, 6, 3), 2, observed_fraction=0.8, noise=0.3, random_state=1
            )
            return TubalFactorizer(width=4, max_iter=400, random_state=0).fit(X)
        X, _ = make_low_multilinear_rank(
            (6, 5, 4), (2, 2, 2), observed_fraction=0.7, noise=0.3, random_state=1
        )
        return DeepTucker(width=4, max_iter=300, random_state=0).fit(X)


@pytest.fixture(scope="module")
def fitted():
    return {kind: _fit(kind) for kind in KINDS}


def _xy(line):
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


# ---------------------------------------------------------------- training curve


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("x", ["iteration", "time"])
def test_training_curve_plots_loss_and_rank(fitted, kind, x):
    est = fitted[kind]
    disp = TrainingCurveDisplay.from_estimator(est, x=x)
    xs, ys = _xy(disp.line_)
    expected_x = np.arange(est.n_iter_ + 1) if x == "iteration" else est.time_curve_
    np.testing.assert_array_equal(xs, expected_x)
    np.testing.assert_array_equal(ys, est.loss_curve_)
    assert disp.ax_.get_yscale() == "log"
    assert disp.ax_.get_xlabel() == ("iteration" if x == "iteration" else "flow time")
    assert disp.ax_.get_ylabel() == "training loss"
    rank = {
        "overparam": "rank_history_",
        "tubal": "tubal_rank_history_",
        "tucker": "multilinear_rank_history_",
    }.get(kind)
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert legend[0] == f"{type(est).__name__} loss"
    if rank is None:  # DeflationFlowCP records no rank history
        assert disp.rank_lines_ == [] and disp.rank_ax_ is None
        return
    assert legend[1:] == [line.get_label() for line in disp.rank_lines_]
    history = np.asarray(getattr(est, rank)).reshape(len(est.history_iter_), -1)
    assert len(disp.rank_lines_) == history.shape[1]
    hx = est.history_iter_ if x == "iteration" else est.history_time_
    for k, line in enumerate(disp.rank_lines_):
        lx, ly = _xy(line)
        np.testing.assert_array_equal(lx, hx)
        np.testing.assert_array_equal(ly, history[:, k])
    assert disp.rank_ax_.get_ylabel() == "rank estimate"


def test_training_curve_without_rank(fitted):
    disp = TrainingCurveDisplay.from_estimator(fitted["overparam"], show_rank=False)
    assert disp.rank_lines_ == [] and disp.rank_ax_ is None
    assert len(disp.figure_.axes) == 1


def test_training_curve_from_arrays_and_kwargs():
    disp = TrainingCurveDisplay(x=np.arange(3.0), loss=np.array([1.0, 0.1, 0.01]))
    disp.plot(color="red", rank_kwargs={"color": "k"})
    np.testing.assert_array_equal(_xy(disp.line_)[1], [1.0, 0.1, 0.01])
    assert disp.line_.get_color() == "red"
    assert disp.rank_lines_ == []


# ---------------------------------------------------------------- norm staircase


def _staircase_expected(est, kind):
    if kind in ("overparam", "deflation"):
        return [est.column_norms_history_], "column norm"
    if kind == "tucker":
        return list(est.core_slice_norms_history_), "core slice norm"
    h = est.singular_values_history_
    return [h[:, k, :] for k in range(h.shape[1])], "singular value of Fourier slice"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("x", ["iteration", "time"])
def test_norm_staircase_plots_recorded_norms(fitted, kind, x):
    est = fitted[kind]
    disp = NormStaircaseDisplay.from_estimator(est, x=x)
    groups, ylabel = _staircase_expected(est, kind)
    columns = np.concatenate([np.asarray(g) for g in groups], axis=1)
    assert len(disp.lines_) == columns.shape[1]
    hx = est.history_iter_ if x == "iteration" else est.history_time_
    for j, line in enumerate(disp.lines_):
        lx, ly = _xy(line)
        np.testing.assert_array_equal(lx, hx)
        np.testing.assert_array_equal(ly, columns[:, j])
    assert disp.ax_.get_yscale() == "log"
    assert disp.ax_.get_ylabel() == ylabel
    assert disp.ax_.get_xlabel() == ("iteration" if x == "iteration" else "flow time")
    if len(groups) > 1:  # one colour and one legend entry per mode / Fourier slice
        sizes = np.cumsum([0] + [g.shape[1] for g in groups])
        colors = [
            {line.get_color() for line in disp.lines_[a:b]}
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        assert all(len(c) == 1 for c in colors) and len(set.union(*colors)) == len(groups)
        assert len(disp.ax_.get_legend().get_texts()) == len(groups)


def test_norm_staircase_shows_incremental_learning(fitted):
    # small init: columns start tiny and the largest ends orders of magnitude above it
    norms = NormStaircaseDisplay.from_estimator(fitted["deflation"]).lines_
    first = np.array([line.get_ydata()[0] for line in norms])
    last = np.array([line.get_ydata()[-1] for line in norms])
    assert last.max() > 1e3 * first.max()


@pytest.mark.parametrize("kind", ["tubal", "tucker"])
def test_norm_staircase_selects_groups(fitted, kind):
    est = fitted[kind]
    groups, _ = _staircase_expected(est, kind)
    disp = NormStaircaseDisplay.from_estimator(est, groups=[1])
    assert len(disp.lines_) == groups[1].shape[1]
    np.testing.assert_array_equal(_xy(disp.lines_[0])[1], groups[1][:, 0])
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()][0].endswith(" 1")
    with pytest.raises(ValueError, match="groups must hold .* indices in \\[0, "):
        NormStaircaseDisplay.from_estimator(est, groups=len(groups))


def test_norm_staircase_groups_rejected_for_cp(fitted):
    with pytest.raises(ValueError, match="groups must be None for OverparamCP"):
        NormStaircaseDisplay.from_estimator(fitted["overparam"], groups=0)


def test_norm_staircase_linear_scale(fitted):
    disp = NormStaircaseDisplay.from_estimator(fitted["overparam"], ax=None)
    assert disp.ax_.get_yscale() == "log"
    disp.plot(log=False)
    assert disp.ax_.get_yscale() == "linear"


# ---------------------------------------------------------------- early stopping


@pytest.mark.parametrize("kind", ["tubal", "tucker"])
def test_early_stopping_curve(fitted, kind):
    est = fitted[kind]
    assert 0 < est.best_iter_ < est.n_iter_  # the fit stopped after its best iterate
    disp = EarlyStoppingDisplay.from_estimator(est)
    lx, ly = _xy(disp.line_)
    np.testing.assert_array_equal(lx, est.validation_iter_)
    np.testing.assert_array_equal(ly, est.validation_scores_)
    np.testing.assert_array_equal(_xy(disp.best_line_)[0], [est.best_iter_] * 2)
    best = est.validation_iter_[np.argmax(est.validation_scores_)]
    assert best == est.best_iter_
    assert disp.ax_.get_xlabel() == "iteration"
    assert disp.ax_.get_ylabel() == "held-out R²"


def test_early_stopping_needs_early_stopping():
    X, _ = make_tubal_low_rank((6, 5, 2), 1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = TubalFactorizer(width=2, early_stopping=False, max_iter=20, random_state=0).fit(X)
    with pytest.raises(ValueError, match="early_stopping=True"):
        EarlyStoppingDisplay.from_estimator(est)


@pytest.mark.parametrize("kind", ["overparam", "deflation"])
def test_early_stopping_rejects_cp(fitted, kind):
    with pytest.raises(ValueError, match="no early stopping"):
        plot_early_stopping(fitted[kind])


# ---------------------------------------------------------------- deflation residuals


def test_deflation_residuals_along_planted_directions(fitted):
    est = fitted["deflation"]
    _, truth = make_symmetric_cp(6, 2, order=4, weights=[1.0, 0.5], random_state=0)
    weights = truth.weights
    disp = DeflationResidualDisplay.from_estimator(est, truth.components, weights)
    assert len(disp.lines_) == 2
    for k, line in enumerate(disp.lines_):
        lx, ly = _xy(line)
        np.testing.assert_array_equal(lx, est.history_time_)
        assert ly.shape == (est.n_iter_ + 1,)
        # the residual is the weight before the direction is fitted, ~0 after
        assert abs(ly[0] - weights[k]) < 1e-6 * weights[k]
        assert abs(ly[-1]) < 1e-3 * weights[k]
    # the larger component is fitted first: its residual halves earlier
    halves = [
        np.argmax(_xy(line)[1] < 0.5 * w) for line, w in zip(disp.lines_, weights, strict=True)
    ]
    assert halves[0] < halves[1]
    assert disp.ax_.get_xlabel() == "flow time"
    assert disp.ax_.get_ylabel() == "residual along direction"
    # order 4 is even: the directions' signs do not matter
    flipped = DeflationResidualDisplay.from_estimator(est, -truth.components, weights)
    for line, other in zip(disp.lines_, flipped.lines_, strict=True):
        np.testing.assert_allclose(_xy(other)[1], _xy(line)[1], rtol=1e-12, atol=1e-15)


def test_deflation_residuals_use_column_signs():
    T, truth = make_symmetric_cp(5, 2, order=4, weights=[1.0, -0.5], random_state=0)
    est = DeflationFlowCP(width=6, tensor="precomputed", signs="both", record_columns=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.set_params(random_state=0).fit(T)
    assert set(est.column_signs_) == {-1.0, 1.0}
    disp = DeflationResidualDisplay.from_estimator(est, truth.components, truth.weights)
    ends = np.array([_xy(line)[1][-1] for line in disp.lines_])
    np.testing.assert_allclose(ends, 0.0, atol=1e-3)  # the negative weight is fitted too


def test_deflation_residuals_default_to_recovered(fitted):
    est = fitted["deflation"]
    disp = DeflationResidualDisplay.from_estimator(est, x="iteration")
    assert len(disp.lines_) == est.rank_
    lx, ly = _xy(disp.lines_[0])
    np.testing.assert_array_equal(lx, est.history_iter_)
    assert ly[0] == pytest.approx(est.weights_[0], rel=1e-2)
    ax = plot_deflation_residuals(est, color="k", linestyle="--")
    assert {(line.get_color(), line.get_linestyle()) for line in ax.lines} == {("k", "--")}
    with pytest.raises(ValueError, match="both components and weights"):
        DeflationResidualDisplay.from_estimator(est, est.components_)


def test_deflation_residuals_need_recorded_columns():
    T, _ = make_symmetric_cp(5, 1, order=4, random_state=0)
    est = DeflationFlowCP(width=3, tensor="precomputed", max_epochs=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(T)
    with pytest.raises(ValueError, match="record_columns=True"):
        plot_deflation_residuals(est)


@pytest.mark.parametrize("kind", ["overparam", "tubal", "tucker"])
def test_deflation_residuals_reject_other_estimators(fitted, kind):
    with pytest.raises(ValueError, match="needs a DeflationFlowCP"):
        DeflationResidualDisplay.from_estimator(fitted[kind])


# ---------------------------------------------------------------- shared behaviour


FUNCTIONS = {
    "training": (plot_training_curve, KINDS),
    "staircase": (plot_norm_staircase, KINDS),
    "early": (plot_early_stopping, ["tubal", "tucker"]),
    "deflation": (plot_deflation_residuals, ["deflation"]),
}
CASES = [(name, kind) for name, (_, kinds) in FUNCTIONS.items() for kind in kinds]


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_ax_is_honoured(fitted, name, kind):
    fig, (ax0, ax1) = plt.subplots(1, 2)
    assert FUNCTIONS[name][0](fitted[kind], ax=ax1) is ax1
    assert ax1.lines and not ax0.lines
    assert len(plt.get_fignums()) == 1


@pytest.mark.parametrize(
    "display", [TrainingCurveDisplay, NormStaircaseDisplay, EarlyStoppingDisplay]
)
def test_display_ax_attributes(fitted, display):
    fig, ax = plt.subplots()
    disp = display.from_estimator(fitted["tucker"], ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig
    assert disp.ax_.lines
    new = display.from_estimator(fitted["tucker"])
    assert new.ax_ is not ax and new.figure_ is not fig


@pytest.mark.parametrize(
    "display",
    [TrainingCurveDisplay, NormStaircaseDisplay, EarlyStoppingDisplay, DeflationResidualDisplay],
)
@pytest.mark.parametrize("cls", [OverparamCP, DeflationFlowCP, TubalFactorizer, DeepTucker])
def test_not_fitted(display, cls):
    with pytest.raises(NotFittedError):
        display.from_estimator(cls())


@pytest.mark.parametrize("display", [TrainingCurveDisplay, NormStaircaseDisplay])
def test_bad_x(fitted, display):
    with pytest.raises(ValueError, match="x must be .*got x='epoch'"):
        display.from_estimator(fitted["overparam"], x="epoch")


def test_import_does_not_import_matplotlib():
    code = (
        "import sys, sktensorflow, sktensorflow.plotting; "
        "print(any(m == 'matplotlib' or m.startswith('matplotlib.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plotting_is_a_lazy_attribute_of_the_package():
    code = (
        "import sys, sktensorflow\n"
        "print('sktensorflow.plotting' in sys.modules, 'matplotlib' in sys.modules)\n"
        "module = sktensorflow.plotting\n"
        "print(module.__name__, 'matplotlib' in sys.modules)\n"
        "from sktensorflow import *\n"
        "names = sktensorflow.__all__, dir(sktensorflow)\n"
        "print(plotting is module, 'plotting' in names[0], 'plotting' in names[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:3] == [
        "False False",
        "sktensorflow.plotting False",
        "True True True",
    ]
    import sktensorflow

    with pytest.raises(AttributeError, match="has no attribute 'plots'"):
        sktensorflow.plots  # noqa: B018
