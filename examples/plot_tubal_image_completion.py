"""
Completing a color photograph with half of its pixels missing
=============================================================

A color image of shape ``(height, width, 3)`` is a third-order tensor whose
tubes are the pixels' RGB triples; natural images are close to low *tubal*
rank. We hide 50 % of the pixels (all three channels) of the ``china.jpg``
sample image shipped with scikit-learn (downsampled by 2 to keep the example
fast) and complete it with :class:`~sktensorflow.TubalFactorizer`.

Real images are not exactly low-rank: run long enough, gradient descent fits
fine detail and the noise of the observed pixels and the completion degrades.
The small initialization makes the iteration count act as the rank control, so
we stop early with a ``callback`` that monitors 5 % of the observed pixels held
out for validation. The same held-out pixels choose the rank of the baseline,
tensorly's masked CP decomposition (``parafac(..., mask=...)``); filling with the
per-channel mean is the trivial baseline. PSNR is measured on the hidden pixels.
"""

import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.datasets import load_sample_image
from sklearn.exceptions import ConvergenceWarning
from tensorly.decomposition import parafac

from sktensorflow import TubalFactorizer
from sktensorflow.models.tubal import to_tensor

image = load_sample_image("china.jpg")[::2, ::2].astype(float) / 255.0
rng = np.random.default_rng(0)
hidden = rng.random(image.shape[:2]) < 0.5  # test pixels
observed = ~hidden
validation = observed & (rng.random(image.shape[:2]) < 0.05)
train = observed & ~validation


def psnr(estimate, pixels):
    err = np.clip(estimate, 0, 1)[pixels] - image[pixels]
    return 10 * np.log10(1.0 / np.mean(err**2))


X = np.where(train[:, :, None], image, np.nan)
mean_fill = np.where(train[:, :, None], image, np.nanmean(X, axis=(0, 1)))

# -- TubalFactorizer with early stopping on the validation pixels ----------------------
history = []


def early_stopping(state, every=25, patience=4):
    """Stop when the validation PSNR has not improved for ``patience`` checks."""
    if state.n_iter % every:
        return False
    history.append((state.n_iter, psnr(to_tensor(state.params), validation)))
    best = max(range(len(history)), key=lambda i: history[i][1])
    return len(history) - 1 - best >= patience


start = time.perf_counter()
est = TubalFactorizer(width=40, max_iter=3000, random_state=0, callback=early_stopping)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    est.fit(X)
tubal_time = time.perf_counter() - start
A, B = est.factors_
tubal = to_tensor((A, B))
completed = est.complete(X)

# -- tensorly masked parafac, rank chosen on the same validation pixels -------------------
mask = np.repeat(train[:, :, None], 3, axis=2).astype(float)
best = None
start = time.perf_counter()
for rank in (5, 10, 20, 30):
    with warnings.catch_warnings():  # the SVD init of the 3-long color mode warns
        warnings.simplefilter("ignore", UserWarning)
        cp = parafac(mean_fill, rank, mask=mask, n_iter_max=100, init="svd", random_state=0)
    estimate = tl.cp_to_tensor(cp)
    score = psnr(estimate, validation)
    if best is None or score > best[0]:
        best = (score, rank, estimate)
cp_time = time.perf_counter() - start

rows = [
    ("mean filling", psnr(mean_fill, hidden), "-", 0.0),
    (f"tensorly masked parafac (rank {best[1]})", psnr(best[2], hidden), "rank 5..30", cp_time),
    (
        f"TubalFactorizer A*B^T (stopped at {est.n_iter_})",
        psnr(tubal, hidden),
        "early stop",
        tubal_time,
    ),
    ("TubalFactorizer.complete (fold-in)", psnr(completed, hidden), "early stop", tubal_time),
]
print(f"image {image.shape}, {hidden.mean():.0%} of the pixels hidden")
print(f"{'method':48} {'PSNR (dB)':>10} {'selection':>12} {'time (s)':>9}")
for name, value, selection, seconds in rows:
    print(f"{name:48} {value:10.2f} {selection:>12} {seconds:9.1f}")
print(f"tubal_rank_ = {est.tubal_rank_}, effective_rank_ = {est.effective_rank_:.1f}")

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    shown = [
        ("original", image),
        ("observed", np.where(train[:, :, None], image, 1.0)),
        ("mean filling", mean_fill),
        (f"parafac rank {best[1]}", best[2]),
        ("TubalFactorizer", completed),
    ]
    fig, axes = plt.subplots(1, len(shown), figsize=(15, 3))
    for ax, (title, picture) in zip(axes, shown, strict=True):
        ax.imshow(np.clip(picture, 0, 1))
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    plt.show()
