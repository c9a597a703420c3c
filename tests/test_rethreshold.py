"""set_rank_tol: re-reading the rank of a fitted model equals fitting with that rank_tol."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow.datasets import (
    make_ica_mixture,
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _cases():
    """``name: (class, parameters, data, rank_tol_a, rank_tol_b)``."""
    cp3, _ = make_symmetric_cp(8, 3, order=3, weights=[1.0, 0.5, 0.05], random_state=0)
    cp4, _ = make_symmetric_cp(8, 3, order=4, weights=[1.0, 0.6, 0.3], random_state=0)
    X, truth = make_ica_mixture(4000, 3, 5, random_state=0)
    samples = (truth.sources * [1.0, 0.7, 0.5]) @ truth.components  # the third is in the noise
    tubal, _ = make_tubal_low_rank((12, 10, 4), 3, observed_fraction=0.7, random_state=0)
    tubal = 1e5 * tubal  # data units differ from the normalized ones
    tucker, _ = make_low_multilinear_rank(
        (10, 9, 8), (2, 2, 2), observed_fraction=0.6, random_state=0
    )
    cp = dict(tensor="precomputed", random_state=0)
    return {
        "OverparamCP": (OverparamCP, dict(cp, width=20), cp3, 1e-2, 0.1),
        "OverparamCP-samples": (OverparamCP, dict(width=12, random_state=0), samples, 1e-2, 0.5),
        "DeflationFlowCP": (DeflationFlowCP, dict(cp, width=16), cp4, 1e-2, 0.4),
        "TubalFactorizer": (TubalFactorizer, dict(width=8, random_state=0), tubal, 1e-2, 0.3),
        "DeepTucker": (DeepTucker, dict(depth=2, random_state=0), tucker, 1e-2, 1e-3),
    }  # fmt: skip


CASES = _cases()

#: The rank estimates at rank_tol_a and rank_tol_b.
EXPECTED = {
    "OverparamCP": (3, 2),
    "OverparamCP-samples": (2, 1),  # the third component is within the sampling noise
    "DeflationFlowCP": (3, 2),
    "TubalFactorizer": (4, 3),
    "DeepTucker": ((2, 2, 2), (6, 5, 6)),
}

_RANK = {
    OverparamCP: "rank_",
    DeflationFlowCP: "rank_",
    TubalFactorizer: "tubal_rank_",
    DeepTucker: "multilinear_rank_",
}
#: Attributes that depend on rank_tol, compared after re-thresholding.
_DEPENDENT = {
    OverparamCP: ("components_", "weights_", "weight_errors_"),
    DeflationFlowCP: ("components_", "weights_", "fit_times_", "discovery_order_"),
    TubalFactorizer: ("singular_tubes_", "components_", "singular_values_", "factors_"),
    DeepTucker: ("components_", "core_", "factors_"),
}


def _close(a, b, rtol=1e-9):
    if isinstance(a, list | tuple):
        return all(_close(x, y, rtol) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=0.0)


def _probe(X):
    """Rows with missing entries, for the fold-in of the sample-axis estimators."""
    X = np.array(X, dtype=float)
    X[0, :3] = np.nan
    return X


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("swap", [False, True], ids=["lower", "higher"])
def test_rethresholding_equals_fitting_with_that_rank_tol(name, swap):
    cls, params, X, tol_a, tol_b = CASES[name]
    (tol_a, rank_a), (tol_b, rank_b) = zip((tol_a, tol_b), EXPECTED[name], strict=True)
    if swap:
        (tol_a, rank_a), (tol_b, rank_b) = (tol_b, rank_b), (tol_a, rank_a)
    est = cls(**params, rank_tol=tol_a).fit(X)
    assert getattr(est, _RANK[cls]) == rank_a
    refit = cls(**params, rank_tol=tol_b).fit(X)
    assert est.n_escapes_ == refit.n_escapes_ and est.n_iter_ == refit.n_iter_  # same trajectory
    assert est.set_rank_tol(tol_b) is est and est.rank_tol == tol_b
    assert getattr(est, _RANK[cls]) == getattr(refit, _RANK[cls]) == rank_b
    for attr in _DEPENDENT[cls]:
        assert _close(getattr(est, attr), getattr(refit, attr)), attr
    if cls in (TubalFactorizer, DeepTucker):
        probe = _probe(X)
        assert _close(est.transform(probe), refit.transform(probe))
        assert _close(est.complete(probe), refit.complete(probe))
        assert est.score(X) == pytest.approx(refit.score(X), rel=1e-12)
    else:
        assert est.score(X) == pytest.approx(refit.score(X), rel=1e-12)
        if est.tensor != "precomputed":
            assert _close(est.transform(X), refit.transform(X))
    assert list(est.get_feature_names_out()) == list(refit.get_feature_names_out())


def test_rethresholding_back_restores_the_fit():
    cls, params, X, tol_a, tol_b = CASES["TubalFactorizer"]
    est = cls(**params, rank_tol=tol_a).fit(X)
    before = {k: v for k, v in vars(est).items() if k.endswith("_")}
    est.set_rank_tol(tol_b).set_rank_tol(tol_a)
    for name, value in before.items():
        if value is None or isinstance(value, str | tuple):
            assert getattr(est, name) == value, name
        else:
            assert _close(getattr(est, name), value, rtol=1e-12), name


def test_a_refit_after_rethresholding_uses_the_new_rank_tol():
    cls, params, X, tol_a, tol_b = CASES["DeflationFlowCP"]
    est = cls(**params, rank_tol=tol_a).fit(X).set_rank_tol(tol_b)
    rank = est.rank_
    assert "rank_tol" not in est._fitted_names
    assert est.fit(X).rank_ == rank and est.rank_tol == tol_b


def test_histories_and_parameters_keep_the_fit():
    cls, params, X, tol_a, tol_b = CASES["OverparamCP"]
    est = cls(**params, rank_tol=tol_a).fit(X)
    history, columns = est.rank_history_, est.columns_
    est.set_rank_tol(tol_b)
    assert est.rank_history_ is history and est.columns_ is columns


def test_errors_name_the_parameter():
    cls, params, X, _, _ = CASES["OverparamCP"]
    with pytest.raises(NotFittedError):
        cls(**params).set_rank_tol(0.1)
    est = cls(**params).fit(X)
    rank = est.rank_
    with pytest.raises(InvalidParameterError, match="rank_tol"):
        est.set_rank_tol(1.5)
    assert est.rank_ == rank and est.rank_tol == 1e-2


def test_a_torch_fit_keeps_its_namespace():
    torch = pytest.importorskip("torch")
    cls, params, X, tol_a, tol_b = CASES["TubalFactorizer"]
    est = cls(**params, rank_tol=tol_a).fit(torch.as_tensor(X))
    est.set_rank_tol(tol_b)
    refit = cls(**params, rank_tol=tol_b).fit(X)
    assert isinstance(est.components_, torch.Tensor)
    assert est.tubal_rank_ == refit.tubal_rank_
    assert _close(est.components_.numpy(), refit.components_)
