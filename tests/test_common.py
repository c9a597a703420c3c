"""scikit-learn's estimator checks over every estimator, with no expected failures."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer, TubalSensing

ESTIMATORS = [OverparamCP(), TubalFactorizer(), DeepTucker(), DeflationFlowCP()]


#: Supervised estimators (``fit(X, y)``): the regressor over flattened measurement tensors.
REGRESSORS = [TubalSensing()]


@parametrize_with_checks(ESTIMATORS + REGRESSORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_convergence_warning_points_at_the_callers_line(estimator):
    X = np.random.default_rng(0).standard_normal((12, 6))
    with pytest.warns(ConvergenceWarning) as record:
        clone(estimator).set_params(max_iter=2, tol=0.0).fit(X)
    assert {w.filename for w in record if w.category is ConvergenceWarning} == {__file__}
