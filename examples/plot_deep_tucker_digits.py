"""
Completing handwritten digits with a deep Tucker model
======================================================

scikit-learn's 8×8 digits, stacked as a ``(n_images, 8, 8)`` tensor, with half of
the pixels of every image removed at random. :class:`~sktensorflow.DeepTucker`
completes the tensor from the observed pixels without being told any rank (its
core is as large as the data allow: 64×8×8). It is compared on the same mask
with filling every missing pixel by the mean of that pixel over the images where
it is observed, and with tensorly's masked ``tucker`` at a few ranks.

Reported: relative error on the missing pixels, and the multilinear rank of the
completed tensor. Every method sees the same pixels (the observed ones minus a
validation tenth used only for the deep Tucker model's early stopping).

What this run printed: mean filling 0.557; tensorly's ``tucker`` 0.884 at rank
(16, 6, 6) and 1.000 at larger ranks; DeepTucker 0.530 (depth 1) and 0.513
(depth 2) when stopped early at 525 and 800 iterations, but 0.637 and 0.565 after
1500 iterations. Digits are not low-rank, so the over-parametrized model fits the
noise once it has fitted the structure: it beats mean filling only with early
stopping, and then only slightly.
"""

import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker
from sktensorflow.metrics import multilinear_rank
from sktensorflow.models.deep_tucker import to_tensor

images = load_digits().images  # (1797, 8, 8), values 0..16
rng = np.random.RandomState(0)
missing = rng.rand(*images.shape) < 0.5
X = np.where(missing, np.nan, images)

# Gradient descent from a small start fits the strongest structure first and the
# noise last, so the number of iterations acts as the rank regularizer on data that
# are not exactly low-rank. A random tenth of the *observed* pixels is set aside
# to choose it (early stopping); the missing pixels are never looked at.
validation = ~missing & (rng.rand(*images.shape) < 0.1)
X_train = np.where(validation, np.nan, X)


def held_out_error(X_hat):
    diff = (X_hat - images)[missing]
    return np.linalg.norm(diff) / np.linalg.norm(images[missing])


rows = []
pixel_mean = np.nanmean(np.where(validation, np.nan, X), axis=0)
pixel_mean = np.where(np.isnan(pixel_mean), 0.0, pixel_mean)
rows.append(("mean filling", held_out_error(np.broadcast_to(pixel_mean, X.shape)), "-", 0.0))


def early_stopping(est, every=25):
    """Callback keeping the fitted tensor with the lowest validation error."""
    best = {"error": np.inf}

    def callback(state):
        if state.n_iter % every:
            return False
        X_hat = to_tensor(state.params, 3, est.depth, est.factor_form)  # the data's units
        error = np.linalg.norm((X_hat - images)[validation])
        if error < best["error"]:
            best.update(error=error, n_iter=state.n_iter, X_hat=X_hat)
        return False

    return best, callback


completed = {}
for depth in (1, 2):
    est = DeepTucker(depth=depth, max_iter=1500, random_state=0)
    best, callback = early_stopping(est)
    est.set_params(callback=callback)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X_train)
    seconds = time.perf_counter() - start
    X_end = tl.tucker_to_tensor(est.to_tensorly())
    completed[depth] = np.where(missing, best["X_hat"], images)
    rows.append(
        (
            f"DeepTucker depth={depth}, {est.n_iter_} iters",
            held_out_error(X_end),
            est.multilinear_rank_,
            seconds,
        )
    )
    rank = multilinear_rank(best["X_hat"], est.rank_tol)[0]
    rows.append(
        (f"  early-stopped at {best['n_iter']}", held_out_error(best["X_hat"]), rank, seconds)
    )

mask = (~validation & ~missing).astype(float)
for rank in ((16, 6, 6), (32, 8, 8), (64, 8, 8)):
    start = time.perf_counter()
    tucker = tl.decomposition.tucker(
        np.where(mask > 0, images, 0.0), rank, mask=mask, n_iter_max=300, random_state=0
    )
    seconds = time.perf_counter() - start
    rows.append(
        (
            f"tensorly tucker rank={rank}",
            held_out_error(tl.tucker_to_tensor(tucker)),
            rank,
            seconds,
        )
    )

print(f"{'method':<34} {'held-out err':>12} {'multilinear rank':>17} {'time':>7}")
for name, err, rank, seconds in rows:
    print(f"{name:<34} {err:>12.3f} {str(rank):>17} {seconds:>6.1f}s")

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - the table is the result
    plt = None
if plt is not None:
    fig, axes = plt.subplots(3, 8, figsize=(10, 4))
    for j in range(8):
        for ax, img in zip(axes[:, j], (images[j], X[j], completed[1][j]), strict=True):
            ax.imshow(img, cmap="gray_r")
            ax.set_axis_off()
    axes[0, 0].set_title("original", loc="left")
    axes[1, 0].set_title("50 % missing", loc="left")
    axes[2, 0].set_title("deep Tucker", loc="left")
    fig.tight_layout()
    plt.show()
