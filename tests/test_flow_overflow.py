"""Issue 12, C1: the flow solver's rejected trial steps do not leak overflow warnings."""

import warnings

import numpy as np

from sktensorflow import DeepTucker, OverparamCP
from sktensorflow.datasets import make_symmetric_cp


def test_rejected_flow_trials_are_silent():
    T, _ = make_symmetric_cp(10, 3, random_state=0)
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((20, 2)) @ rng.standard_normal((2, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        cp = OverparamCP(tensor="precomputed", solver="flow", learning_rate=1e50, random_state=0)
        assert cp.fit(T).rank_ == 3
        dt = DeepTucker(solver="flow", learning_rate=1e10, early_stopping=False, random_state=0)
        assert dt.fit(matrix).multilinear_rank_ == (2, 2)
