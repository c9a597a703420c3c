"""
Deep Tucker at one initialization: active core slices against depth
===================================================================

Hariz et al. (AISTATS 2024) explain the low-rank bias of deep Tucker
completion by a structured sparsity of the core: trained from a small balanced
start, only a few core slices per mode grow, fewer the deeper the factors, and
they compare depths 1 to 3 at *one* initialization. This example does the same
with :class:`~sktensorflow.DeepTucker`: the released code's per-column chains
(``factor_form="column"``), a full-size core, the same ``init_scale`` (core
slice norm, in units of the data's largest singular value) at every depth, and
two training protocols:

* the gradient flow on all observed entries (``solver="flow"``), the dynamics
  the theory is about;
* minibatch Adam over the observed entries (``solver="minibatch_adam"``,
  batches of 128 entries, one iteration = one epoch), the released code's
  protocol.

A core slice is *active* when its norm is at least a share of the largest
slice norm of its mode: a definition that does not depend on the scale of the
initialization (a balanced Gaussian start has all slices within a few tens of
percent of each other, so every slice is active at the start for the shares
used here). The table prints, per depth and protocol, the active slices at the
shares 0.5 and 0.1, the multilinear rank read off the fitted tensor, and the
relative error on the missing entries, against the true multilinear rank.

What it shows at the reduced size (the table and figure below are this script's
output): under the flow, depth 2 ends with exactly as many slices above half
the largest as the true rank, (3, 3, 3), and depth 1 with about twice as many,
(6, 6, 7); at a share of 0.1 nearly every slice still counts at both depths,
because the slices that do not grow keep their initial norm, here a tenth of
the largest. Depth 3 at this initialization has fitted one component and sits
on the next plateau when the budget runs out (a rank-one fit, error 0.8 on the
missing entries): once one component is large, the explicit flow's stable step
is about 0.4, while the next component needs a flow time of the order of the
first plateau's (10⁹) to grow from its start. At ``init_scale=0.3`` every depth
completes the tensor and the active slices fall 10 → 6 → 3 (median over five
trials, ``benchmarks/bench_deep_tucker_depth.py``). Minibatch Adam completes the
tensor at every depth (errors about 1e-2) but keeps all slices above half the
largest: its steps are normalized per parameter, so small slices grow about as
fast as large ones and the sparsity is not visible.

Sizes: this page runs a 10×10×10 tensor of multilinear rank (3, 3, 3) with 70 %
of the entries observed and short budgets; ``SKTF_PAPER_SIZE=1`` runs the
paper's 25×25×25 tensor of rank (5, 5, 5) with longer budgets.
"""

import os
import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker
from sktensorflow.datasets import make_low_multilinear_rank
from sktensorflow.models.deep_tucker import active_core_slices

PAPER_SIZE = os.environ.get("SKTF_PAPER_SIZE") == "1"
SIZE, RANK = (25, 5) if PAPER_SIZE else (10, 3)
BUDGET = (
    {"flow": 12000, "minibatch_adam": 1500}
    if PAPER_SIZE
    else {"flow": 2500, "minibatch_adam": 150}
)
INIT_SCALE = 0.1  # the same core slice norm at every depth
SHARES = (0.5, 0.1)

X, truth = make_low_multilinear_rank(
    (SIZE,) * 3, (RANK,) * 3, observed_fraction=0.7, random_state=0
)
missing = np.isnan(X)


def held_out_error(est):
    diff = (tl.tucker_to_tensor(est.to_tensorly(full=True)) - truth.tensor)[missing]
    return np.linalg.norm(diff) / np.linalg.norm(truth.tensor[missing])


fitted, rows = {}, []
for solver, max_iter in BUDGET.items():
    for depth in (1, 2, 3):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = DeepTucker(
                width=SIZE,
                depth=depth,
                factor_form="column",
                init_scale=INIT_SCALE,
                solver=solver,
                solver_options={"eps": 1e-30} if solver == "minibatch_adam" else None,
                early_stopping=False,
                max_iter=max_iter,
                random_state=0,
            ).fit(X)
        fitted[solver, depth] = est
        active = [active_core_slices(est.core_slice_norms_, share) for share in SHARES]
        rows.append(
            (solver, depth, *active, est.multilinear_rank_, held_out_error(est), est.n_iter_,
             time.perf_counter() - start)
        )  # fmt: skip

print(f"true multilinear rank: {(RANK,) * 3}, init_scale={INIT_SCALE} at every depth")
print(
    f"{'protocol':<15} {'depth':>5} {'active@0.5':>12} {'active@0.1':>12} "
    f"{'ml rank':>10} {'missing err':>11} {'iters':>6} {'time':>6}"
)
for solver, depth, half, tenth, rank, err, n_iter, seconds in rows:
    print(
        f"{solver:<15} {depth:>5} {str(half):>12} {str(tenth):>12} {str(rank):>10} "
        f"{err:>11.2e} {n_iter:>6} {seconds:>5.1f}s"
    )

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover - the table is the result
    plt = None
if plt is not None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, solver in zip(axes, BUDGET, strict=True):
        for depth in (1, 2, 3):
            norms = np.sort(fitted[solver, depth].core_slice_norms_[0])[::-1]
            ax.semilogy(np.arange(1, SIZE + 1), norms / norms[0], "o-", label=f"depth {depth}")
        for share in SHARES:
            ax.axhline(share, color="gray", lw=0.8, ls="--")
        ax.axvline(RANK, color="black", lw=0.8, ls=":")
        ax.set_title(f"{solver}: mode-0 core slices")
        ax.set_xlabel("slice (sorted)")
        ax.legend()
    axes[0].set_ylabel("slice norm / largest")
    fig.tight_layout()
    plt.show()
