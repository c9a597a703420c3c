"""``set_output`` and the global ``transform_output`` config for every estimator.

scikit-learn 1.9's ``check_estimator`` no longer runs its set-output checks, so
they run here, plus direct checks of the DataFrame the fold-in estimators
(``TubalFactorizer``, ``DeepTucker``) return.
"""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
)

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer

pd = pytest.importorskip("pandas")

# Small symmetric CP fits (the defaults take ~40 s per check); at these settings
# each still returns one component on the checks' data, so the frames compared
# have a column.
ESTIMATORS = [
    OverparamCP(width=8, max_iter=50),
    TubalFactorizer(),
    DeepTucker(),
    DeflationFlowCP(width=8, max_iter=50),
]
SKLEARN_CHECKS = [
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
]
FOLD_IN = [TubalFactorizer, DeepTucker]


def _low_rank(shape, rank=3, seed=0):
    """A rank-``rank`` array of ``shape`` (rows times a fixed loading)."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((shape[0], rank))
    return (rows @ rng.standard_normal((rank, int(np.prod(shape[1:]))))).reshape(shape)


# The checks mix DataFrame and array inputs between fit and transform on purpose.
@pytest.mark.filterwarnings("ignore:X (has|does not have valid) feature names:UserWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_sklearn_set_output_checks(estimator, check):
    check(type(estimator).__name__, clone(estimator))


def test_tubal_pandas_output_has_the_feature_names():
    X = _low_rank((30, 8))
    est = TubalFactorizer(width=6, random_state=0).set_output(transform="pandas").fit(X)
    Z = est.transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert est.tubal_rank_ == 3
    names = [f"tubalfactorizer{i}" for i in range(est.tubal_rank_)]
    assert list(Z.columns) == names
    assert list(est.get_feature_names_out()) == names
    default = clone(est).set_output(transform="default").fit(X).transform(X)
    np.testing.assert_array_equal(Z.to_numpy(), default)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_pandas_output_matches_default_output(estimator):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5)) + np.array([3.0, 0, 0, 0, 0])
    est = clone(estimator).set_params(random_state=0).set_output(transform="pandas")
    Z = est.fit(X).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert Z.shape[1] == est._n_features_out >= 1
    prefix = type(est).__name__.lower()
    assert list(Z.columns) == [f"{prefix}{i}" for i in range(Z.shape[1])]
    default = clone(est).set_output(transform="default").fit(X).transform(X)
    assert isinstance(default, np.ndarray)
    np.testing.assert_array_equal(Z.to_numpy(), default)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", FOLD_IN, ids=lambda c: c.__name__)
def test_fold_in_pandas_output_for_nd_input(cls):
    X = _low_rank((12, 4, 5))
    est = cls(random_state=0, max_iter=200).set_output(transform="pandas")
    Z = est.fit(X).transform(X)
    Z_fit = clone(est).fit_transform(X)
    prefix = cls.__name__.lower()
    names = [f"{prefix}{i}" for i in range(est._n_features_out)]
    for out in (Z, Z_fit):
        assert isinstance(out, pd.DataFrame)
        assert out.shape == (12, est._n_features_out)
        assert list(out.columns) == names
    np.testing.assert_allclose(Z.to_numpy(), Z_fit.to_numpy())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", FOLD_IN, ids=lambda c: c.__name__)
def test_fold_in_global_config_and_dataframe_index(cls):
    X = _low_rank((20, 6))
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(6)], index=np.arange(100, 120))
    with sklearn.config_context(transform_output="pandas"):
        est = cls(random_state=0, max_iter=200).fit(df)
        Z = est.transform(df.iloc[5:])
        Z_fit = clone(est).fit_transform(df)
    for out in (Z, Z_fit):
        assert isinstance(out, pd.DataFrame)
        assert list(out.columns) == list(est.get_feature_names_out())
    assert list(Z.index) == list(range(105, 120))
    assert list(Z_fit.index) == list(df.index)
    # outside the context the default (ndarray) output is back
    assert isinstance(est.transform(df), np.ndarray)
