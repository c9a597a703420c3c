"""
Completing handwritten digits with a deep Tucker model
======================================================

scikit-learn's 8×8 digits, stacked as a ``(n_images, 8, 8)`` tensor, with half of
the pixels of every image removed at random. :class:`~sktensorflow.DeepTucker`
completes the tensor from the observed pixels with its defaults only: no rank,
no step size, no number of iterations. It withholds a tenth of the observed
pixels to decide when to stop (early stopping, on by default), keeps the best
iterate, and :meth:`~sktensorflow.DeepTucker.fit_complete` returns the fitted
model's values at the missing pixels. It is compared on the same mask with
filling every missing pixel by that pixel's mean over the images where it is
observed, and with tensorly's masked ``tucker`` at a few ranks (the best rank
in hindsight is the reference; DeepTucker is never told it).

Reported: relative error on the missing pixels, the multilinear rank of the
completion, and the fit time (the run's output is shown below). Digits are not
low-rank: the right rank is found by stopping, and a masked Tucker fit is only
as good as the rank it is given. ``benchmarks/bench_real_completion.py`` runs
the same comparison on 400 images with tensorly's parafac rows as well.
"""

import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.datasets import load_digits

from sktensorflow import DeepTucker

images = load_digits().images  # (1797, 8, 8), values 0..16
rng = np.random.RandomState(0)
missing = rng.rand(*images.shape) < 0.5
X = np.where(missing, np.nan, images)


def missing_error(completed):
    diff = (completed - images)[missing]
    return np.linalg.norm(diff) / np.linalg.norm(images[missing])


rows = []
pixel_mean = np.nanmean(X, axis=0)
pixel_mean = np.where(np.isnan(pixel_mean), np.nanmean(X), pixel_mean)
rows.append(
    ("mean filling (per pixel)", missing_error(np.where(missing, pixel_mean, X)), "-", 0.0)
)

est = DeepTucker(random_state=0)
start = time.perf_counter()
completed = est.fit_complete(X)
seconds = time.perf_counter() - start
rows.append(
    (
        f"DeepTucker defaults (best iteration {est.best_iter_})",
        missing_error(completed),
        est.multilinear_rank_,
        seconds,
    )
)

mask = (~missing).astype(float)
for rank in ((8, 5, 5), (16, 6, 6), (32, 8, 8)):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tucker = tl.decomposition.tucker(
            np.where(missing, np.nanmean(X), X), rank, mask=mask, random_state=0
        )
    seconds = time.perf_counter() - start
    filled = np.where(missing, tl.tucker_to_tensor(tucker), X)
    rows.append((f"tensorly masked tucker rank={rank}", missing_error(filled), rank, seconds))

print(f"{'method':<42} {'missing err':>11} {'multilinear rank':>17} {'time':>7}")
for name, err, rank, seconds in rows:
    print(f"{name:<42} {err:>11.3f} {str(rank):>17} {seconds:>6.1f}s")

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - the table is the result
    plt = None
if plt is not None:
    fig, axes = plt.subplots(3, 8, figsize=(10, 4))
    for j in range(8):
        for ax, img in zip(axes[:, j], (images[j], X[j], completed[j]), strict=True):
            ax.imshow(img, cmap="gray_r")
            ax.set_axis_off()
    axes[0, 0].set_title("original", loc="left")
    axes[1, 0].set_title("50 % missing", loc="left")
    axes[2, 0].set_title("deep Tucker", loc="left")
    fig.tight_layout()
    plt.show()
