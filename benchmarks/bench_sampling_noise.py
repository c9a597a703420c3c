"""Power and false-positive rate of the sampling-noise rule of the symmetric CP estimators.

``OverparamCP`` and ``DeflationFlowCP`` fitted to a moment or cumulant of ``n``
samples count a component in ``rank_`` only if its weight exceeds
``noise_level_``: the largest, over 19 random half-splits of the samples, of
``max_u |<(T̂_A - T̂_B)/2, u^{⊗l}>|`` (:mod:`sktensorflow.models.sampling_noise`).

For each sample size this script draws ``--datasets`` data sets and reports

- the false-positive rate: Gaussian samples (zero third and fourth cumulants),
  how often the supremum of the empirical cumulant (pure noise) exceeds the
  level, i.e. how often a fit of pure noise would count a component (nominal
  5 %);
- the power: as many independent sources of unit variance as features under
  an orthonormal mixing (``make_ica_mixture``), how often the weight of a source's component in the
  cumulant (2 for centered exponential sources in the third cumulant, 3 for
  Laplace sources in the fourth) exceeds the level, i.e. how often an exact fit
  counts it.

Both use whitened samples, as ``tensor="cumulant", whiten=True`` does. Run
``python benchmarks/bench_sampling_noise.py`` (``--datasets 40`` for tighter
rates).
"""

import argparse

import numpy as np

from sktensorflow.datasets import make_ica_mixture
from sktensorflow.models import symmetric_cp as scp
from sktensorflow.models.sampling_noise import half_splits, noise_level

LAWS = {"exponential": (3, 2.0), "laplace": (4, 3.0)}


def whitened(X):
    Xc = X - X.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(Xc.T @ Xc / Xc.shape[0])
    return Xc @ (eigvec / np.sqrt(eigval) @ eigvec.T)


def level(Z, order, seed):
    rng = np.random.default_rng(10_000 + seed)
    return noise_level(half_splits(Z, order, cumulant=True, rng=rng), rng).level


def noise_sup(Z, order, rng, n_starts=30, n_iter=30):
    """``max_u |<T̂, u^{⊗l}>|`` by the power method (the cumulant of Gaussian data is noise)."""
    target = scp.sample_target(Z, order, cumulant=True)
    U = rng.standard_normal((Z.shape[1], n_starts))
    best = 0.0
    for _ in range(n_iter):
        V, rho = scp.target_contractions(target, U / np.linalg.norm(U, axis=0))
        best, U = max(best, float(np.abs(rho).max())), V
    return best


def rates(n, law, n_features, n_datasets):
    order, weight = LAWS[law]
    false_pos = power = 0
    for seed in range(n_datasets):
        Z = whitened(np.random.default_rng(seed).standard_normal((n, n_features)))
        false_pos += noise_sup(Z, order, np.random.default_rng(seed)) > level(Z, order, seed)
        X, _ = make_ica_mixture(n, n_features, distribution=law, random_state=seed)
        power += weight > level(whitened(X), order, seed)
    return false_pos / n_datasets, power / n_datasets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 5000, 20000])
    args = parser.parse_args()
    print(f"{args.datasets} data sets per row, {args.features} features (and sources)")
    print(f"{'law':12} {'order':>5} {'weight':>6} {'n':>6} {'false positives':>16} {'power':>6}")
    for law, (order, weight) in LAWS.items():
        for n in args.sizes:
            fp, power = rates(n, law, args.features, args.datasets)
            print(f"{law:12} {order:5d} {weight:6.1f} {n:6d} {fp:16.2f} {power:6.2f}", flush=True)


if __name__ == "__main__":
    main()
