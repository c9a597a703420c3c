"""
Lazy versus rich training: the width each needs as the dimension grows
======================================================================

Wang, Wu, Lee, Ma and Ge (NeurIPS 2020) contrast two ways of training an
over-parametrized symmetric CP model. In the *lazy* (NTK) regime the columns start
large, come in pairs of opposite sign so the output starts at zero, and the output
is scaled by ``1/sqrt(width)``; the parameters then barely move and gradient
descent fits the target with the model's linearization at initialization. That
linearization spans at most ``d`` directions per distinct column, while a generic
order-3 symmetric tensor has ``(d+1)(d+2)d/6`` degrees of freedom, so the width the
lazy regime needs grows like ``d^2`` (``d^{order-1}`` in general): with the pairs,
``width >= (d+1)(d+2)/3``. In the *rich* regime the columns start small and
gradient descent fits one component at a time, like a tensor power method; the
width it needs does not grow with ``d``.

The target is a planted orthogonal order-3 tensor of rank 2 with weights 1 and 0.6
(:func:`~sktensorflow.datasets.make_symmetric_cp`, passed as a ``CPTensor`` so
every step costs ``O(width² d)``). For each ``d`` and each regime we scan the
widths 2, 4, 8, ..., 256 and report the smallest one whose relative error
``||T - T*|| / ||T*||`` (from :meth:`~sktensorflow.OverparamCP.score`) is below
``1e-2`` after at most 1000 iterations of the gradient flow, in the median of 3
trials (fresh target and initialization each). Three settings:

- ``rich``: the defaults, ``regime="rich"`` (``init_scale=1e-3``);
- ``lazy``: ``regime="lazy", init_scale=10``;
- ``lazy, init 1``: ``regime="lazy"`` with its default ``init_scale=1``.

The table here (printed by a paper-size run) gives, per ``d``, the width
each setting needs, the count ``(d+1)(d+2)/3`` of the linearization, and for the
two lazy settings the largest relative change of a column's norm during the
successful fits (how far the parameters moved):

====  ====  ====  ============  ============  ============  ==============
d     rich  lazy  lazy, init 1  (d+1)(d+2)/3  moved (lazy)  moved (init 1)
====  ====  ====  ============  ============  ============  ==============
4     2     16    4             10.0          0.004         0.53
6     2     32    4             18.7          0.007         0.31
8     2     64    4             30.0          0.006         0.42
10    2     64    4             44.0          0.007         0.47
12    2     128   4             60.7          0.008         0.31
14    2     128   4             80.0          0.005         0.45
16    2     128   4             102.0         0.005         0.45
====  ====  ====  ============  ============  ============  ==============

The lazy width stays above the linearization count and grows eightfold, from 16
to 128, between ``d = 4`` and ``d = 16``, with the columns' norms moving by less
than 1 %; the rich regime gets by with width 2, the rank, at every ``d``. The
third column is a caveat: the lazy *parametrization* alone does not make the
training lazy. At ``init_scale=1`` and small widths the columns' norms change by
30 % or more -- the dynamics leave the linearization and behave like the rich
regime, so a width of 4 suffices at every ``d``. The columns move by a relative
``O(1 / (init_scale² sqrt(width)))``; the kernel regime needs that to be small.

Sizes: this page shows a smaller run (see ``PAPER_SIZE`` in the code: ``d`` up
to 8, 2 trials); ``SKTF_PAPER_SIZE=1`` runs the size described above, which the
table above comes from.
"""

import os
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import OverparamCP
from sktensorflow.datasets import make_symmetric_cp

# The paper's sizes take minutes; the default is a smaller run of the same
# experiment (SKTF_PAPER_SIZE=1 runs the paper's sizes, see the gallery's front page).
PAPER_SIZE = os.environ.get("SKTF_PAPER_SIZE") == "1"
DIMS = [4, 6, 8, 10, 12, 14, 16] if PAPER_SIZE else [4, 6, 8]
WIDTHS = [2, 4, 8, 16, 32, 64, 128, 256]
SETTINGS = {
    "rich": {"regime": "rich"},
    "lazy": {"regime": "lazy", "init_scale": 10.0},
    "lazy, init 1": {"regime": "lazy", "init_scale": 1.0},
}
THRESHOLD, MAX_ITER = 1e-2, 1000
N_TRIALS = 3 if PAPER_SIZE else 2


def trial(d, width, options, seed):
    """Relative error after the budget and the largest relative change of a column norm."""
    target, _ = make_symmetric_cp(d, 2, order=3, weights=[1.0, 0.6], random_state=seed)
    est = OverparamCP(
        width, order=3, tensor="precomputed", max_iter=MAX_ITER, random_state=seed, **options
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(target)
    error = np.sqrt(max(1.0 - est.score(target), 0.0))
    start = est.column_norms_history_[0]
    moved = np.max(np.abs(np.linalg.norm(est.columns_, axis=0) / start - 1.0))
    return error, moved


def width_needed(d, options):
    """Smallest width whose median error over the trials is below the threshold."""
    for width in WIDTHS:
        runs = np.array([trial(d, width, options, seed) for seed in range(N_TRIALS)])
        if np.median(runs[:, 0]) < THRESHOLD:
            return width, float(np.max(runs[runs[:, 0] < THRESHOLD, 1]))
    return np.nan, np.nan


results = {name: [width_needed(d, opts) for d in DIMS] for name, opts in SETTINGS.items()}
kernel_count = [(d + 1) * (d + 2) / 3 for d in DIMS]


def show(width):
    return f">{WIDTHS[-1]}" if np.isnan(width) else f"{int(width)}"


header = ["d", *SETTINGS, "(d+1)(d+2)/3", "moved (lazy)", "moved (init 1)"]
print(" | ".join(f"{h:>12}" for h in header))
for i, d in enumerate(DIMS):
    cells = [f"{d}", *(show(results[name][i][0]) for name in SETTINGS), f"{kernel_count[i]:.1f}"]
    cells += [f"{results['lazy'][i][1]:.3f}", f"{results['lazy, init 1'][i][1]:.2f}"]
    print(" | ".join(f"{c:>12}" for c in cells))

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, marker in zip(SETTINGS, "osv", strict=True):
        ax.loglog(DIMS, [w for w, _ in results[name]], marker=marker, label=name)
    ax.loglog(DIMS, kernel_count, "k--", label="(d+1)(d+2)/3 (linearization)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xticks(DIMS, [str(d) for d in DIMS])
    ax.set_yticks(WIDTHS, [str(w) for w in WIDTHS])
    ax.set_xlabel("dimension d")
    ax.set_ylabel(f"smallest width with rel. error < {THRESHOLD:g}")
    ax.set_title(f"Order-3 rank-2 target, {MAX_ITER} flow iterations, median of {N_TRIALS} trials")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()


# %%
# The linearization itself, at orders 3 and 4
# -------------------------------------------
# Lazy training follows the model's linearization at its initialization, and the
# lower bound of Wang et al. is a statement about that linear model. It can be
# fitted exactly, by least squares
# (:func:`sktensorflow.models.symmetric_cp_tangent.best_tangent_error`), so the
# width it needs is measured on every integer width rather than a power-of-2
# grid. The columns come in identical pairs (as in ``regime="lazy"``) and are
# nested (a wider model adds pairs to a narrower one), so the error falls with
# the width and a bisection finds the smallest number of pairs whose best fit of
# the same rank-2 target is within the threshold. Each pair spans ``d`` tangent
# directions and the symmetric tensors of order ``l`` form a space of dimension
# ``binom(d+l-1, l)``; the measured width is ``2 ceil(binom(d+l-1, l) / d)`` at
# order 3 and within one pair of it at order 4 (the threshold is met slightly
# before, or one pair after, the exact count), in every trial: it grows like
# ``d^{l-1}``, while the rich regime's width stays at the rank (table above).

from sktensorflow.models.symmetric_cp_tangent import (  # noqa: E402
    best_tangent_error,
    symmetric_dimension,
)


def tangent_width(d, order, seed):
    """Smallest lazy width (pairs of columns) whose tangent model fits the target."""
    target, _ = make_symmetric_cp(
        d, 2, order=order, weights=[1.0, 0.6], dense=True, random_state=seed
    )
    count = -(-symmetric_dimension(d, order) // d)  # pairs that span the space
    directions = np.random.default_rng(seed).standard_normal((d, 4 * count))

    def error(pairs):
        W0 = np.repeat(directions[:, :pairs], 2, axis=1)
        coefs = np.tile([1.0, -1.0], pairs) / np.sqrt(2 * pairs)
        return best_tangent_error(W0, coefs, target)

    low, high = 0, count + 1
    while error(high) >= THRESHOLD:  # not expected: one pair past the count fits
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if error(mid) < THRESHOLD else (mid, high)
    return 2 * high


TANGENT_DIMS = {3: DIMS, 4: [3, 4, 5, 6] if PAPER_SIZE else [3, 4, 5]}
print("order  d  tangent width (per trial)  2 ceil(binom(d+l-1, l) / d)")
for order, dims in TANGENT_DIMS.items():
    for d in dims:
        widths = [tangent_width(d, order, seed) for seed in range(N_TRIALS)]
        bound = 2 * -(-symmetric_dimension(d, order) // d)
        print(f"{order:5d} {d:2d}  {str(widths):>24}  {bound:>27d}")
