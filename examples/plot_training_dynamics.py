"""
Training dynamics of the four estimators in a few lines
========================================================

Every estimator records its loss at every iteration and, every few iterations,
its rank estimate and the norms of its components. :mod:`sktensorflow.plotting`
draws them, in scikit-learn's ``Display`` style: ``from_estimator`` reads the
histories of a fitted estimator, ``plot_*`` functions are shortcuts that return
the axes. Each estimator below is fitted on a planted problem of known rank.

Top row: the loss (log scale) and the rank estimate against iterations or flow
time (:func:`~sktensorflow.plotting.plot_training_curve`). Bottom row: the norm
of each component of the over-parametrized model
(:func:`~sktensorflow.plotting.plot_norm_staircase`): the columns for the CP
estimators, the singular values of every Fourier slice for ``TubalFactorizer``,
the core slices of every mode for ``DeepTucker``. For the CP estimators and
``TubalFactorizer`` the staircase is the rank: from the small start the
components the target needs grow one after the other, and the others stay near
their initial size. ``DeepTucker`` estimates its multilinear rank from the
singular values of the fitted tensor's unfoldings, not from the core slices,
whose norms need not separate (see
:ref:`sphx_glr_auto_examples_plot_deep_tucker_completion.py`).
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer
from sktensorflow.datasets import (
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
)
from sktensorflow.plotting import plot_norm_staircase, plot_training_curve

cp_target, _ = make_symmetric_cp(10, 3, order=3, weights=[1.0, 0.7, 0.4], random_state=0)
cp4_target, _ = make_symmetric_cp(10, 3, order=4, weights=[1.0, 0.7, 0.4], random_state=0)
X_tubal, _ = make_tubal_low_rank((30, 30, 8), 3, observed_fraction=0.5, random_state=0)
X_tucker, _ = make_low_multilinear_rank(
    (20, 20, 20), (3, 3, 3), observed_fraction=0.3, random_state=0
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    fitted = {
        "OverparamCP": OverparamCP(16, tensor="precomputed", random_state=0).fit(cp_target),
        "DeflationFlowCP": DeflationFlowCP(16, tensor="precomputed", random_state=0).fit(
            cp4_target
        ),
        "TubalFactorizer": TubalFactorizer(width=12, random_state=0).fit(X_tubal),
        "DeepTucker": DeepTucker(random_state=0).fit(X_tucker),
    }

fig, axes = plt.subplots(2, 4, figsize=(16, 7))
for (name, est), (ax_curve, ax_norms) in zip(fitted.items(), axes.T, strict=True):
    x = "time" if name == "DeflationFlowCP" else "iteration"
    plot_training_curve(est, x=x, ax=ax_curve)
    plot_norm_staircase(est, x=x, ax=ax_norms)
    ax_curve.set_title(name)
fig.tight_layout()
plt.show()
