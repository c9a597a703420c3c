"""scikit-learn's estimator checks over every estimator, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer

ESTIMATORS = [OverparamCP(), TubalFactorizer(), DeepTucker(), DeflationFlowCP()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
