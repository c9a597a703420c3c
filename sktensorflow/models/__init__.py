"""The math of the estimators: pure functions of arrays, written with tensorly ops.

No state, no scikit-learn, no iteration loops. Every ``loss_and_grad`` here has
an analytic gradient checked against finite differences in the tests.
"""
