"""
Three phases of small-initialization gradient descent in tubal tensor sensing
=============================================================================

Reproduces Figure 2 of Karnik, Veselovska, Iwen and Krahmer, "Implicit
Regularization for Tubal Tensor Factorizations via Gradient Descent" (ICML 2025)
at the paper's size: a symmetric ground truth ``X* = V * V^T`` of shape
``10 x 10 x 4`` and tubal rank 2 is measured by ``m = 254`` Gaussian
measurements; gradient descent on ``U`` of width 100 starts from
``U0 = 1e-7 * N(0, 1) / sqrt(100)`` with step ``1e-5`` for 10 000 iterations.

The run shows the three phases the paper's analysis predicts:

1. *alignment*: the iterate stays tiny while its column space turns towards the
   leading subspace of the spectral tensor ``sym(sum_j y_j G_j)``, so the test
   error stays near 1;
2. *fitting*: the signal part grows and the test error drops;
3. *local refinement*: the error decreases linearly (geometrically).

Every metric below is computed by :mod:`sktensorflow.sensing` while the
library's optimization loop runs.
"""

import numpy as np

from sktensorflow.sensing import fit_sensing, make_sensing_problem

G, y, truth = make_sensing_problem(n=10, n_tubes=4, rank=2, n_measurements=254, random_state=0)
result = fit_sensing(
    G,
    y,
    truth.shape,
    width=100,
    init_scale=1e-7,
    learning_rate=1e-5,
    max_iter=10000,
    truth=truth.tensor,
    random_state=0,
    record_every=20,
)

it, h = result.history_iter, result.history
names = ["test_error", "residual", "tube_error", "angle_truth", "angle_spectral"]
print(f"{'iteration':>9} " + " ".join(f"{name:>14}" for name in names))
for t in range(0, 10001, 1000):
    i = int(np.flatnonzero(it == t)[0])
    print(f"{t:9d} " + " ".join(f"{h[name][i]:14.3e}" for name in names))

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = {
        "test_error": "relative test error",
        "residual": "measurement residual",
        "tube_error": "r-th singular tube error",
        "angle_truth": "principal angle to X*",
        "angle_spectral": "principal angle to spectral subspace",
    }
    for name in names:
        ax.semilogy(it, h[name], label=labels[name])
    ax.set_xlabel("iteration")
    ax.set_title("Tubal sensing, n=10, k=4, r=2, width 100, alpha=1e-7")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
