"""
Tubal tensor sensing: smaller initialization, more accurate recovery
====================================================================

Reproduces Figure 4 of Karnik, Veselovska, Iwen and Krahmer (ICML 2025): the
setting of Figure 3 (``10 x 10 x 4`` t-projector of tubal rank 3, ``m = 285``
symmetrized Gaussian measurements, step ``1e-5``) with width 200 and
initialization scales ``alpha = 1e-2, 1e-4, 1e-6, 1e-8``. The paper's theory
bounds the error after the fit by a multiple of ``alpha^(21/16)``; its figure
shows the error at 4 000 iterations, whose fitted exponent is about 0.6.

The exponent measured at 4 000 iterations is an artifact of that horizon: the
runs have not finished. Here every run continues until its test error
*saturates* (falls by less than 1 % over 1 000 iterations) or a cap. Small
scales (``1e-6``, ``1e-8``) saturate on a plateau within 7 000 iterations;
``alpha = 1e-4`` creeps down slowly and often reaches the cap; ``alpha = 1e-2``
never saturates: its spurious components decay slowly (the error keeps falling,
roughly like a power of the iteration count), so its error depends on the cap
and so does the exponent fitted over all four scales. The exponent over the
scales that saturated is a property of the plateaus. Each is printed with its
median and range over independent trials (the range contains the median of the
trials' distribution with the probability printed as ``coverage``, see
:mod:`sktensorflow.experiments`).

Measured at the paper's size (``SKTF_PAPER_SIZE=1``: 5 independent trials, cap
40 000 iterations), median [min, max]: exponent 0.62 [0.53, 0.70] at 4 000
iterations, 0.58 [0.40, 0.74] at the end of the runs, 0.77 [0.55, 0.89] over the
saturated scales (2 or 3 per trial). The default run below (3 trials, cap 12 000)
prints 0.65 [0.59, 0.70], 0.71 [0.65, 0.80] and 0.80 [0.77, 0.89]. None comes
near the theory's 21/16 = 1.31, which is an upper bound's exponent, not a
prediction of the measured error.

Every trial is **independent** (fresh ground truth, measurements and
initialization); the scripts released with the paper warm-start each repeated
trial from the previous one's final factors instead.

Sizes: this page shows a smaller run (see ``PAPER_SIZE`` in the code: 3 trials,
cap 12 000 iterations); ``SKTF_PAPER_SIZE=1`` runs 5 trials with a cap of
40 000 iterations.
"""

import os

import numpy as np

from sktensorflow import tproduct as tp
from sktensorflow.experiments import run_trials
from sktensorflow.metrics import relative_error
from sktensorflow.sensing import fit_sensing, make_sensing_problem

SCALES = [1e-2, 1e-4, 1e-6, 1e-8]
# The paper's sizes take minutes; the default is a smaller run of the same
# experiment (SKTF_PAPER_SIZE=1 runs the paper's sizes, see the gallery's front page).
PAPER_SIZE = os.environ.get("SKTF_PAPER_SIZE") == "1"
N_TRIALS = 5 if PAPER_SIZE else 3
MAX_ITER = 40000 if PAPER_SIZE else 12000
PAPER_HORIZON = 4000  # the paper's iteration count
CHECK = 1000  # iterations between saturation checks


class StopAtSaturation:
    """Stop once the test error fell by less than 1 % over ``CHECK`` iterations."""

    def __init__(self, truth):
        self.truth, self.previous = truth, np.inf

    def __call__(self, state):
        if state.n_iter % CHECK:
            return False
        (U,) = state.params
        error = relative_error(tp.t_product(U, tp.t_transpose(U)), self.truth)
        saturated = error > 0.99 * self.previous
        self.previous = error
        return saturated


def slope(alphas, errors):
    """Least-squares exponent of ``error ~ alpha^p`` (NaN with fewer than two points)."""
    if len(alphas) < 2:
        return np.nan
    return float(np.polyfit(np.log(alphas), np.log(errors), 1)[0])


CURVES = {}  # (trial, alpha) -> (iterations, test errors), for the figure


def trial(seed):
    """One independent trial: a fresh problem and initialization, every scale."""
    G, y, truth = make_sensing_problem(
        10, 4, 3, 285, symmetric_measurements=True, random_state=1000 + seed
    )
    out, at_horizon, final, saturated = {}, [], [], []
    for alpha in SCALES:
        stop = StopAtSaturation(truth.tensor)
        res = fit_sensing(
            G, y, truth.shape, width=200, init_scale=alpha, learning_rate=1e-5,
            max_iter=MAX_ITER, truth=truth.tensor, random_state=seed, record_every=100,
            callback=stop,
        )  # fmt: skip
        it, err = res.history_iter, res.history["test_error"]
        CURVES[seed, alpha] = (it, err)
        at_horizon.append(err[it == PAPER_HORIZON][0])
        final.append(err[-1])
        saturated.append(res.n_iter < MAX_ITER)
        out[f"error at {PAPER_HORIZON} it, alpha={alpha:.0e}"] = at_horizon[-1]
        out[f"final error, alpha={alpha:.0e}"] = final[-1]
        out[f"iterations, alpha={alpha:.0e}"] = res.n_iter
    kept = [i for i, s in enumerate(saturated) if s]
    out[f"exponent at {PAPER_HORIZON} it"] = slope(SCALES, at_horizon)
    out["exponent at the end"] = slope(SCALES, final)
    out["exponent, saturated scales"] = slope([SCALES[i] for i in kept], [final[i] for i in kept])
    out["saturated scales"] = len(kept)
    return out


table = run_trials(trial, range(N_TRIALS))
row = table.rows[0]
print(f"{N_TRIALS} independent trials, cap {MAX_ITER} iterations: median [min, max]")
for name in table.metric_names:
    spec = ".0f" if name.startswith(("iterations", "saturated")) else ".3g"
    print(f"{name:>36}: {row[name]:{spec}}")
coverage = row["exponent at the end"].coverage
print(f"(coverage of [min, max] for the median over {N_TRIALS} trials: {coverage:.3f})")
print(
    "theory: exponent 21/16 = 1.31; the errors reported for the paper's Figure 4 "
    "(5.3e-3 ... 1.2e-6 at 4000 iterations) give 0.61"
)

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for alpha in SCALES:
        color = None
        for seed in range(N_TRIALS):
            it, err = CURVES[seed, alpha]
            (line,) = ax.loglog(it[1:], err[1:], color=color, lw=1)
            color = line.get_color()
        line.set_label(f"alpha {alpha:.0e}")
    ax.axvline(PAPER_HORIZON, color="k", ls=":", lw=1, label="the paper's horizon")
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative test error")
    ax.set_title(f"{N_TRIALS} independent trials per scale, width 200, until saturation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
