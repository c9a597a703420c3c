"""
Tubal tensor sensing: the width of the over-parametrized factor barely matters
==============================================================================

Reproduces Figure 3 of Karnik, Veselovska, Iwen and Krahmer (ICML 2025):
recovery of a ``10 x 10 x 4`` t-projector of tubal rank 3 from ``m = 285``
symmetrized Gaussian measurements ``G_j = Z_j + Z_j^T``, by gradient descent
(step ``1e-5``, 4 000 iterations) on ``U`` of width 10, 50, 100, 200 and 400
started at ``1e-7 * N(0, 1) / sqrt(width)``.

Every trial here is **independent**: a fresh ground truth, fresh measurements
and a fresh initialization. (The scripts released with the paper warm-start
each "repeated trial" from the previous trial's final factors, so only the
first run of a sequence starts small and their averages are not averages of
independent runs.)

The table reports, per width, the median over trials of the first iteration at
which the test error falls below 0.5 (the end of the alignment phase) and the
geometric mean, minimum and maximum of the final test error.

Sizes: this page shows a smaller run (see ``PAPER_SIZE`` in the code: widths 10,
100 and 400, 2 trials each); ``SKTF_PAPER_SIZE=1`` runs the size described
above.
"""

import os

import numpy as np

from sktensorflow.sensing import fit_sensing, make_sensing_problem

# The paper's sizes take minutes; the default is a smaller run of the same
# experiment (SKTF_PAPER_SIZE=1 runs the paper's sizes, see the gallery's front page).
PAPER_SIZE = os.environ.get("SKTF_PAPER_SIZE") == "1"
WIDTHS = [10, 50, 100, 200, 400] if PAPER_SIZE else [10, 100, 400]
N_TRIALS = 5 if PAPER_SIZE else 2
N_ITER = 4000


def run_trial(width, trial):
    G, y, truth = make_sensing_problem(
        10, 4, 3, 285, symmetric_measurements=True, random_state=1000 + trial
    )
    return fit_sensing(
        G,
        y,
        truth.shape,
        width=width,
        init_scale=1e-7,
        learning_rate=1e-5,
        max_iter=N_ITER,
        truth=truth.tensor,
        random_state=trial,
        record_every=10,
    )


curves, rows = {}, []
for width in WIDTHS:
    results = [run_trial(width, trial) for trial in range(N_TRIALS)]
    it = results[0].history_iter
    errors = np.array([r.history["test_error"] for r in results])
    curves[width] = (it, errors)
    escape = [int(it[np.argmax(e < 0.5)]) if np.any(e < 0.5) else -1 for e in errors]
    final = errors[:, -1]
    rows.append(
        (width, int(np.median(escape)), np.exp(np.mean(np.log(final))), final.min(), final.max())
    )

print(f"{'width':>6} {'t(err<0.5)':>11} {'final (geo-mean)':>17} {'min':>10} {'max':>10}")
for width, escape, gmean, lo, hi in rows:
    print(f"{width:6d} {escape:11d} {gmean:17.2e} {lo:10.2e} {hi:10.2e}")

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for width, (it, errors) in curves.items():
        (line,) = ax.semilogy(it, np.exp(np.mean(np.log(errors), axis=0)), label=f"width {width}")
        ax.fill_between(
            it, errors.min(axis=0), errors.max(axis=0), alpha=0.15, color=line.get_color()
        )
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative test error")
    ax.set_title(f"{N_TRIALS} independent trials per width, alpha=1e-7")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
