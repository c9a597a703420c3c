"""Rank estimates of the symmetric CP estimators on finite samples, with and without merging.

On a cumulant built from samples, gradient descent may fit one source with two
columns a few degrees apart, or part of the sampling noise with a column mixing
two sources; both weights exceed ``noise_level_``. The fitted components are
therefore merged into the fewest the sampling noise cannot tell from them
(:mod:`sktensorflow._symmetric_merge`). This script fits ``n`` samples of
``x = A s + sigma g`` (``r`` centered exponential or Laplace sources ``s``, an
orthonormal ``d x r`` mixing ``A``, Gaussian noise ``g``) and reports, over
seeds, how often ``rank_`` equals ``r`` before the merge (the grouped components
that pass the noise tests, read from the same fit) and after it, the median
rank, the worst ``|cos|`` between a source and its best component, and the
largest relative error of the matched weights (the source's cumulant weight:
2 for the third cumulant of exponential sources, 3 for the fourth of Laplace
sources).

Run ``python benchmarks/bench_rank_merge.py`` (``--seeds 10`` for tighter rates).
"""

import argparse
import warnings
from unittest import mock

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sktensorflow import DeflationFlowCP, OverparamCP, _symmetric_rank

SOURCES = {"exponential": (3, 2.0), "laplace": (4, 3.0)}
SETTINGS = (  # estimator, law, n_samples, n_features, n_sources, noise sigma
    ("OverparamCP", "exponential", 10_000, 20, 3, 0.5),
    ("OverparamCP", "exponential", 100_000, 20, 3, 0.5),
    ("OverparamCP", "exponential", 100_000, 50, 3, 0.5),
    ("OverparamCP", "laplace", 100_000, 10, 3, 0.3),
    ("DeflationFlowCP", "laplace", 100_000, 10, 3, 0.3),
)


def samples(law, n, d, r, sigma, seed):
    """Samples and the (orthonormal) mixing matrix, unit-variance sources."""
    rng = np.random.default_rng(seed)
    A = np.linalg.qr(rng.standard_normal((d, r)))[0]
    if law == "exponential":
        s = rng.exponential(size=(n, r)) - 1.0
    else:
        s = rng.laplace(scale=1 / np.sqrt(2), size=(n, r))
    return s @ A.T + sigma * rng.standard_normal((n, d)), A


def fit(name, law, X, seed):
    """The fitted estimator and the weights that went into the merge."""
    order = SOURCES[law][0]
    cls = OverparamCP if name == "OverparamCP" else DeflationFlowCP
    est = cls(width=10, order=order, tensor="cumulant", random_state=seed)
    seen = {}
    merge = _symmetric_rank.merge_within_noise

    def recording(components, weights, *args):
        seen["weights"] = weights
        return merge(components, weights, *args)

    with mock.patch.object(_symmetric_rank, "merge_within_noise", recording):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
    return est, seen["weights"]


def run(setting, seeds):
    name, law, n, d, r, sigma = setting
    weight = SOURCES[law][1]
    before, after, cos, errors = [], [], [], []
    for seed in range(seeds):
        X, A = samples(law, n, d, r, sigma, seed)
        est, merged_from = fit(name, law, X, seed)
        scale = np.abs(merged_from).max(initial=0.0)
        before.append(int(np.sum(np.abs(merged_from) >= est.rank_tol * scale)))
        after.append(est.rank_)
        match = np.abs(A.T @ est.components_.T) if est.rank_ else np.zeros((r, 1))
        cos.append(match.max(axis=1).min())
        best = est.weights_[match.argmax(axis=1)] if est.rank_ else np.zeros(r)
        errors.append(np.max(np.abs(np.abs(best) - weight)) / weight)
    return {
        "estimator": name,
        "law": law,
        "n": n,
        "d": d,
        "rank = r before": np.mean(np.equal(before, r)),
        "after": np.mean(np.equal(after, r)),
        "median rank before": np.median(before),
        "after ": np.median(after),
        "min cos": np.min(cos),
        "max weight rel. error": np.max(errors),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.seeds} seeds per row, 3 sources, width 10, default settings otherwise")
    rows = [run(setting, args.seeds) for setting in SETTINGS]
    header = list(rows[0])
    print("  ".join(f"{h:>{max(len(h), 11)}}" for h in header))
    for row in rows:
        cells = []
        for h in header:
            v = row[h]
            text = f"{v:.3g}" if isinstance(v, float) else str(v)
            cells.append(f"{text:>{max(len(h), 11)}}")
        print("  ".join(cells))


if __name__ == "__main__":
    main()
