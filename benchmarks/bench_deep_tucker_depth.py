"""Deep Tucker depths at one initialization, over independent trials.

The setting of ``examples/plot_deep_tucker_depth.py`` (Hariz et al., AISTATS
2024: active core slices fall with depth at one initialization), repeated over
seeds with :func:`sktensorflow.experiments.run_trials`: each trial draws its
own ``10 x 10 x 10`` tensor of multilinear rank ``(3, 3, 3)`` with 70 % of the
entries observed and its own start, and fits depths 1, 2 and 3 with the
gradient flow (``solver="flow"``, per-column chains, one ``init_scale`` at
every depth: 0.1 as in the example and 0.3; no early stopping) for
``--max-iter`` iterations. Reported per
depth: the active core slices (at least half the largest slice norm of the
mode; the largest count over the three modes), the largest entry of the fitted
multilinear rank, the relative error on the missing entries, and the first
iteration at which the training loss falls below a quarter of its initial
value (relative error 0.5 on the fitted entries: the end of the initial
plateau; NaN if never).

Run ``python benchmarks/bench_deep_tucker_depth.py`` (``--seeds 5 --max-iter
8000``, several minutes); the example's budget of 2500 iterations ends on
depth 3's plateau.
"""

import argparse
import warnings

import numpy as np
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeepTucker
from sktensorflow.datasets import make_low_multilinear_rank
from sktensorflow.experiments import format_table, run_trials
from sktensorflow.models.deep_tucker import active_core_slices

SIZE, RANK = 10, 3


def trial(seed, depth, max_iter, init_scale):
    """One independent trial: its own tensor, mask and start."""
    X, truth = make_low_multilinear_rank(
        (SIZE,) * 3, (RANK,) * 3, observed_fraction=0.7, random_state=seed
    )
    missing = np.isnan(X)
    scale = np.linalg.norm(truth.tensor[missing])
    est = DeepTucker(
        width=SIZE,
        depth=depth,
        factor_form="column",
        init_scale=init_scale,
        solver="flow",
        early_stopping=False,
        max_iter=max_iter,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    fitted = tl.tucker_to_tensor(est.to_tensorly(full=True))
    below = np.flatnonzero(est.loss_curve_ < 0.25 * est.loss_curve_[0])
    return {
        "active@0.5": max(active_core_slices(est.core_slice_norms_, 0.5)),
        "ml rank": max(est.multilinear_rank_),
        "missing err": np.linalg.norm((fitted - truth.tensor)[missing]) / scale,
        "plateau exit": below[0] if below.size else np.nan,
        "iters": est.n_iter_,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=8000)
    parser.add_argument("--init-scale", type=float, nargs="+", default=[0.1, 0.3])
    args = parser.parse_args()
    settings = [
        {"init_scale": scale, "depth": depth, "max_iter": args.max_iter}
        for scale in args.init_scale
        for depth in (1, 2, 3)
    ]
    table = run_trials(trial, range(args.seeds), settings)
    print(
        f"true multilinear rank ({RANK}, {RANK}, {RANK}), one init_scale for all depths per block"
    )
    print(format_table(table, fmt=".3g"))


if __name__ == "__main__":
    main()
