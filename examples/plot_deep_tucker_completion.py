"""
Deep Tucker completion without the rank: depth 1, 2, 3 against masked Tucker
============================================================================

The setting of Hariz et al. (AISTATS 2024): a 25×25×25 tensor of multilinear
rank (5, 5, 5), 70 % of its entries observed. :class:`~sktensorflow.DeepTucker`
fits a full-size 25×25×25 core with factors that are products of ``depth``
matrices, from a small balanced start, and is never told the rank. To study the
paper's implicit bias this example integrates the gradient flow
(``solver="flow"``) on all observed entries (``early_stopping=False``) instead
of the estimator's defaults (Adam with early stopping, a 32-slice core). On the same
mask, tensorly's masked ``tucker`` is given the true rank (5, 5, 5) and an
over-estimated rank (10, 10, 10).

The table reports the relative error on the held-out (missing) entries, the
estimated multilinear rank, the Roy-Vetterli effective rank of each unfolding,
and per mode the number of *active* core slices (norm at least 1 % of the
largest) and of *grown* core slices (norm at least twice its initial value).
A slice that never grows keeps its initial norm, so with the default
initialization no slice falls below 1 % of the largest: the grown count is the
informative one. The paper's released code uses per-column chains
(``factor_form="column"``), whose only symmetry is a rescaling of one core slice
against its column, so sparsity of the raw core slices is meaningful there; with
whole-factor chains (``"product"``) the core can be rotated inside each mode, so
its raw slices need not be sparse and the multilinear rank is the scale-free
measure. The figure shows the slice-norm trajectories of the mode-0 core slices.
The default initialization grows with depth (``init_scaling="matched"``: the
same initial product at every depth); the paper compares depths at one
initialization, which ``plot_deep_tucker_depth.py`` does.

Sizes: this page shows a smaller run (see ``PAPER_SIZE`` in the code: a 12×12×12
tensor of multilinear rank (3, 3, 3), 2 000 iterations); ``SKTF_PAPER_SIZE=1``
runs the size described above.
"""

import os
import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker
from sktensorflow.datasets import make_low_multilinear_rank

# The paper's sizes take minutes; the default is a smaller run of the same
# experiment (SKTF_PAPER_SIZE=1 runs the paper's sizes, see the gallery's front page).
PAPER_SIZE = os.environ.get("SKTF_PAPER_SIZE") == "1"
SIZE, RANK, MAX_ITER = (25, 5, 6000) if PAPER_SIZE else (12, 3, 2000)

X, truth = make_low_multilinear_rank(
    (SIZE,) * 3, (RANK,) * 3, observed_fraction=0.7, random_state=0
)
missing = np.isnan(X)


def held_out_error(X_hat):
    diff = (X_hat - truth.tensor)[missing]
    return np.linalg.norm(diff) / np.linalg.norm(truth.tensor[missing])


def active_slices(est, share=1e-2):
    return tuple(int(np.sum(v >= share * v.max())) for v in est.core_slice_norms_)


def grown_slices(est, factor=2.0):
    return tuple(int(np.sum(h[-1] >= factor * h[0])) for h in est.core_slice_norms_history_)


rows, fitted = [], {}
for form in ("product", "column"):
    for depth in (1, 2, 3):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = DeepTucker(
                width=SIZE,
                depth=depth,
                factor_form=form,
                solver="flow",
                early_stopping=False,
                max_iter=MAX_ITER,
                random_state=0,
            ).fit(X)
        seconds = time.perf_counter() - start
        fitted[form, depth] = est
        rows.append(
            (
                f"DeepTucker {form} depth={depth}",
                held_out_error(tl.tucker_to_tensor(est.to_tensorly())),
                est.multilinear_rank_,
                np.round(est.effective_rank_, 2),
                active_slices(est),
                grown_slices(est),
                est.n_iter_,
                seconds,
            )
        )

mask = (~missing).astype(float)
for rank in ((RANK,) * 3, (2 * RANK,) * 3):
    start = time.perf_counter()
    tucker = tl.decomposition.tucker(
        np.where(missing, 0.0, X), rank, mask=mask, n_iter_max=500, random_state=0
    )
    seconds = time.perf_counter() - start
    rows.append(
        (
            f"tensorly tucker rank={rank}",
            held_out_error(tl.tucker_to_tensor(tucker)),
            rank,
            "-",
            "-",
            "-",
            "-",
            seconds,
        )
    )

print(
    f"{'method':<34} {'held-out err':>12} {'ml rank':>12} {'eff. rank':>20} "
    f"{'active slices':>14} {'grown slices':>13} {'iters':>6} {'time':>6}"
)
for name, err, rank, eff, active, grown, n_iter, seconds in rows:
    print(
        f"{name:<34} {err:>12.2e} {str(rank):>12} {str(eff):>20} {str(active):>14} "
        f"{str(grown):>13} {n_iter:>6} {seconds:>5.1f}s"
    )

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - the table is the result
    plt = None
if plt is not None:
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharey=True)
    for (form, depth), ax in zip(fitted, axes.ravel(), strict=True):
        est = fitted[form, depth]
        ax.semilogy(est.history_iter_, est.core_slice_norms_history_[0])
        ax.set_title(f"{form}, depth {depth}")
        ax.set_xlabel("iteration")
    for ax in axes[:, 0]:
        ax.set_ylabel("mode-0 core slice norms")
    fig.tight_layout()
    plt.show()
