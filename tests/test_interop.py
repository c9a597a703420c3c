"""``to_tensorly()``: tensorly objects on the fit's backend, compact at the rank estimate.

Each export round-trips through ``tl.cp_to_tensor`` / ``tl.tucker_to_tensor`` (the
t-product for TubalFactorizer) to the estimator's fitted model, on numpy and on
pytorch.
"""

import numpy as np
import pytest
import tensorly as tl

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow import tproduct as tp
from sktensorflow._interop import compact_tucker
from sktensorflow._tube_axis import to_tubes
from sktensorflow.datasets import (
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
)

torch = pytest.importorskip("torch")

BACKENDS = ["numpy", "pytorch"]


def _input(X, backend):
    return torch.tensor(X) if backend == "pytorch" else X


def _host(a):
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _check_namespace(arrays, backend):
    kind = torch.Tensor if backend == "pytorch" else np.ndarray
    for a in arrays:
        assert isinstance(a, kind), type(a)
        assert a.dtype == (torch.float64 if backend == "pytorch" else np.float64)


def _dense_cp(cp, backend):
    with tl.backend_context(backend):
        return _host(tl.cp_to_tensor(cp))


def _dense_tucker(tucker, backend):
    with tl.backend_context(backend):
        return _host(tl.tucker_to_tensor(tucker))


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_overparam_cp_round_trip(backend):
    T, truth = make_symmetric_cp(6, 2, order=3, weights=[1.0, 0.5], dense=True, random_state=0)
    est = OverparamCP(width=6, tensor="precomputed", random_state=0).fit(_input(T, backend))
    compact, full = est.to_tensorly(), est.to_tensorly(full=True)
    _check_namespace([compact.weights, *compact.factors, full.weights, *full.factors], backend)
    assert tl.shape(compact.factors[0]) == (6, est.rank_) and len(compact.factors) == 3
    assert tl.shape(full.factors[0]) == (6, 6)
    # the full export is the fitted model: its loss is the last recorded one
    model = _dense_cp(full, backend)
    assert 0.5 * np.sum((model - T) ** 2) == pytest.approx(est.loss_curve_[-1], rel=1e-4)
    assert 1 - np.sum((model - T) ** 2) / np.sum(T**2) == pytest.approx(est.score(T), abs=1e-12)
    # the rank is exact here, so the grouped components reproduce the model
    assert _rel(_dense_cp(compact, backend), model) < 1e-3
    np.testing.assert_allclose(_host(compact.weights), _host(est.weights_))


@pytest.mark.parametrize("backend", BACKENDS)
def test_deflation_round_trip(backend):
    T, _ = make_symmetric_cp(6, 2, order=4, weights=[1.0, 0.5], dense=True, random_state=0)
    est = DeflationFlowCP(width=6, tensor="precomputed", random_state=0).fit(_input(T, backend))
    compact, full = est.to_tensorly(), est.to_tensorly(full=True)
    _check_namespace([compact.weights, full.weights, *full.factors], backend)
    model = _dense_cp(full, backend)
    # error_curve_ is the fitted model's relative error to the target (a difference
    # of losses near 1e-15, hence the tolerance)
    assert _rel(model, T) == pytest.approx(est.error_curve_[-1], rel=0.05)
    assert tl.shape(compact.weights) == (est.rank_,) == (2,)
    assert _rel(_dense_cp(compact, backend), model) < 1e-6


def _hosvd_projection(X, rank):
    """``X ×_k P_k P_k^T`` with ``P_k`` the leading left singular vectors of each unfolding."""
    out = X
    for mode, r in enumerate(rank):
        P = np.linalg.svd(tl.unfold(X, mode), full_matrices=False)[0][:, :r]
        out = tl.tenalg.mode_dot(out, P @ P.T, mode)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_deep_tucker_round_trip(backend):
    X, truth = make_low_multilinear_rank((6, 5, 4), (2, 2, 2), random_state=1)
    est = DeepTucker(width=4, random_state=0).fit(_input(X, backend))
    compact, full = est.to_tensorly(), est.to_tensorly(full=True)
    _check_namespace([compact.core, *compact.factors, full.core, *full.factors], backend)
    assert tuple(tl.shape(compact.core)) == est.multilinear_rank_ == (2, 2, 2)
    assert tuple(tl.shape(full.core)) == est.widths_
    fitted = _dense_tucker(full, backend)
    np.testing.assert_allclose(fitted, est._fitted_values(), atol=1e-12)
    for U in compact.factors:  # orthonormal factors
        np.testing.assert_allclose(_host(U).T @ _host(U), np.eye(2), atol=1e-12)
    # the compact model is the HOSVD projection of the fitted tensor, nothing else
    small = _dense_tucker(compact, backend)
    np.testing.assert_allclose(small, _hosvd_projection(fitted, (2, 2, 2)), atol=1e-12)
    # and within the singular values it drops (the fit's unconverged tail)
    tails = [np.linalg.svd(tl.unfold(fitted, k), compute_uv=False)[2:] for k in range(3)]
    assert np.linalg.norm(small - fitted) <= np.sqrt(sum(np.sum(t**2) for t in tails)) + 1e-12


def test_compact_tucker_is_exact_at_the_exact_rank():
    rng = np.random.default_rng(3)
    # a 4x4x4 core of multilinear rank (2, 1, 2) behind non-orthogonal factors
    core = np.einsum("ia,jb,kc,abc->ijk", *rng.normal(size=(3, 4, 2)), rng.normal(size=(2, 2, 2)))
    core = tl.tenalg.mode_dot(core, np.outer(rng.normal(size=4), rng.normal(size=4)), 1)
    factors = [rng.normal(size=(n, 4)) for n in (7, 6, 5)]
    full = tl.tucker_to_tensor((core, factors))
    small, small_factors = compact_tucker(core, factors, (2, 1, 2))
    assert small.shape == (2, 1, 2)
    assert _rel(tl.tucker_to_tensor((small, small_factors)), full) < 1e-12
    # one component fewer in mode 0 is not exact
    small, small_factors = compact_tucker(core, factors, (1, 1, 2))
    assert _rel(tl.tucker_to_tensor((small, small_factors)), full) > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_tubal_round_trip(backend):
    X, _ = make_tubal_low_rank((8, 6, 4), 2, random_state=1)
    est = TubalFactorizer(width=4, random_state=0).fit(_input(X, backend))
    compact, full = est.to_tensorly(), est.to_tensorly(full=True)
    assert isinstance(compact, tp.TSVDResult)
    _check_namespace([*compact, *full], backend)
    assert compact.rank == est.tubal_rank_ == 2 and full.rank == 4
    A, B = (_host(f) for f in est.factors_)
    model = tp.t_product(A, tp.t_transpose(B))  # the fitted A * B^T
    np.testing.assert_allclose(_host(full.to_tensor()), model, atol=1e-12)
    with tl.backend_context(backend):  # the t-product by hand, on the export's backend
        by_hand = tp.t_product(full.U, full.S, tp.t_transpose(full.V))
    np.testing.assert_allclose(_host(by_hand), model, atol=1e-12)
    # the truncation keeps the singular tubes of the fitted model
    np.testing.assert_allclose(_host(compact.singular_tubes), _host(est.singular_tubes_))
    assert _rel(_host(compact.to_tensor()), model) < 1e-2
    np.testing.assert_allclose(to_tubes(est._fitted_values(), est.tube_axis_), model, atol=1e-12)


def test_zero_data_exports_a_zero_model():
    Z = np.zeros((5, 4, 3))
    with pytest.warns(UserWarning):
        tucker = DeepTucker(width=3, random_state=0).fit(Z).to_tensorly()
    assert tl.shape(tucker.core) == (1, 1, 1)
    assert np.all(tl.tucker_to_tensor(tucker) == 0)
    with pytest.warns(UserWarning):
        tsvd = TubalFactorizer(width=3, random_state=0).fit(Z).to_tensorly()
    assert tsvd.rank == 0 and np.all(tsvd.to_tensor() == 0)


def test_t_svd_returns_a_named_result():
    X = np.random.default_rng(0).normal(size=(4, 3, 5))
    result = tp.t_svd(X, rank=2)
    assert isinstance(result, tp.TSVDResult) and result.rank == 2
    U, S, V = result  # unpacks like the tuple it is
    assert S.shape == (2, 2, 5) and result.singular_tubes.shape == (2, 5)
    np.testing.assert_allclose(result.singular_tubes, S[[0, 1], [0, 1], :])
    np.testing.assert_allclose(tp.t_svd(X).to_tensor(), X, atol=1e-12)


@pytest.mark.parametrize("cls", [OverparamCP, DeflationFlowCP, TubalFactorizer, DeepTucker])
def test_html_repr_links_to_the_api_page(cls):
    from pathlib import Path

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from sktensorflow import _doc_url

    url = f"{_doc_url.BASE_URL}generated/sktensorflow.{cls.__name__}.html"
    assert cls()._get_doc_link() == url
    assert f'href="{url}"' in cls()._repr_html_()
    # also inside a pipeline, next to scikit-learn's own link
    html = make_pipeline(FunctionTransformer(), cls())._repr_html_()
    assert f'href="{url}"' in html and "scikit-learn.org" in html
    # the page is one autosummary generates from docs/api.rst
    docs = Path(__file__).resolve().parents[1] / "docs"
    assert f"{cls.__name__}" in (docs / "api.rst").read_text()
