"""
Completing a color photograph with half of its pixels missing
=============================================================

A color image of shape ``(height, width, 3)`` is a third-order tensor, and
natural images are close to low *tubal* rank. The image rows are the samples;
the tubes run along one of the other two axes: the pixels' RGB triples, or the
image columns. The default ``tube_axis="auto"`` fits both and keeps the one
that predicts withheld pixels better (``tube_axis_``). We hide 50 % of the
pixels (all three channels) of the ``china.jpg`` sample image shipped with
scikit-learn (downsampled by 4 to keep the example fast) and complete it
with :class:`~sktensorflow.TubalFactorizer` **on its defaults**: no rank, no
iteration count.

Real images are not exactly low-rank: run long enough, gradient descent fits
fine detail and the noise of the observed pixels and the completion degrades.
The small initialization makes the iteration count act as the rank control, so
the estimator withholds 10 % of the observed pixels (whole pixels, since whole
pixels are missing), stops when the error on them stops improving and keeps the
best iterate. ``fit_complete`` fills the hidden pixels with the fitted model.

The baselines are filling with the mean and tensorly's masked CP decomposition
(``parafac(..., mask=...)``) at several ranks, reported with the best rank *in
hindsight* (chosen on the hidden pixels themselves, which favours it). PSNR is
measured on the hidden pixels.
"""

import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.datasets import load_sample_image
from tensorly.decomposition import parafac

from sktensorflow import TubalFactorizer

image = load_sample_image("china.jpg")[::4, ::4].astype(float) / 255.0
rng = np.random.default_rng(0)
hidden = np.repeat((rng.random(image.shape[:2]) < 0.5)[:, :, None], 3, axis=2)
X = np.where(hidden, np.nan, image)


def psnr(estimate):
    err = np.clip(estimate, 0, 1)[hidden] - image[hidden]
    return 10 * np.log10(1.0 / np.mean(err**2))


# -- TubalFactorizer on its defaults ----------------------------------------------------
start = time.perf_counter()
est = TubalFactorizer(random_state=0)
completed = est.fit_complete(X)
tubal_time = time.perf_counter() - start

# -- baselines -----------------------------------------------------------------------------
mean_fill = np.where(hidden, np.nanmean(X), X)
observed = (~hidden).astype(float)
cp_rows = []
for rank in (5, 10, 20, 30):
    start = time.perf_counter()
    with warnings.catch_warnings():  # the SVD init of the 3-long color mode warns
        warnings.simplefilter("ignore", UserWarning)
        cp = parafac(mean_fill, rank, mask=observed, init="svd", random_state=0)
    cp_rows.append((psnr(tl.cp_to_tensor(cp)), rank, time.perf_counter() - start, cp))
best_cp = max(cp_rows, key=lambda row: row[0])

print(f"image {image.shape}, {hidden[:, :, 0].mean():.0%} of the pixels hidden")
print(f"{'method':50} {'PSNR (dB)':>10} {'time (s)':>9}")
print(f"{'mean filling':50} {psnr(mean_fill):10.2f} {0.0:9.2f}")
for value, rank, seconds, _ in cp_rows:
    print(f"{f'tensorly masked parafac, rank {rank}':50} {value:10.2f} {seconds:9.2f}")
label = "TubalFactorizer().fit_complete (defaults)"
print(f"{label:50} {psnr(completed):10.2f} {tubal_time:9.2f}")
print(
    f"tube_axis_ = {est.tube_axis_}, tubal_rank_ = {est.tubal_rank_}, "
    f"stopped at iteration {est.n_iter_} "
    f"({est.stop_reason_}), best iterate {est.best_iter_}, "
    f"held-out R² {est.best_validation_score_:.3f}"
)

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    shown = [
        ("original", image),
        ("observed", np.where(hidden, 1.0, image)),
        ("mean filling", mean_fill),
        (f"parafac rank {best_cp[1]} (best)", tl.cp_to_tensor(best_cp[3])),
        ("TubalFactorizer", completed),
    ]
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(18, 3))
    for ax, (title, picture) in zip(axes, shown, strict=False):
        ax.imshow(np.clip(picture, 0, 1))
        ax.set_title(title)
        ax.axis("off")
    ax = axes[-1]
    ax.plot(est.validation_iter_, est.validation_scores_)
    ax.axvline(est.best_iter_, color="k", linestyle=":", label="best iterate")
    ax.set_xlabel("iteration")
    ax.set_ylabel("held-out R²")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    plt.show()
