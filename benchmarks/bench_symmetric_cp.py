"""Symmetric CP from samples versus a materialized moment tensor, and against tensorly.

Three parts, in one run (order 4, ``d = 60``, ``n = 10 000`` samples, width 64):

1. **One loss-and-gradient evaluation** of :func:`sktensorflow.models.symmetric_cp.loss_and_grad`
   on the samples target (the moment ``(1/n) Σ_s x_s^{⊗4}`` is never formed; cost
   ``O(n d m)``) and on the dense target (the same moment materialized, ``d^4 = 13 M``
   entries, 104 MB; cost ``O(m d^4)``), at the same columns. Reported: the time (best of
   ``--repeats``), the peak of the memory allocated during one evaluation (``tracemalloc``
   traces numpy's buffers), the one-off setup (``||T*||²`` for the samples; building the
   moment tensor plus its norm for the dense path), and the relative difference of the two
   losses and gradients. Plain-numpy versions of the two target contractions are timed
   alongside as a yardstick.
2. **End to end**: ``OverparamCP(order=4, width=64, signs="positive")`` fitted with
   ``tensor="moment"`` on the samples and with ``tensor="precomputed"`` on the dense moment
   (same settings, same seed, so both follow the same iterates); the dense path's wall time
   includes building the tensor. The samples lie on 5 planted orthonormal directions
   (``x_s = a_s u_{k_s}``, Gaussian ``a_s``), so the moment is exactly of rank 5 and the fit
   converges.
3. **Orthogonal tensor**: a planted orthogonal symmetric order-4 tensor (``d = 60``, 5
   components, weights 1, 0.8, 0.6, 0.4, 0.2) decomposed by tensorly's
   ``symmetric_parafac_power_iteration`` (given the true rank, default ``n_repeat=10``,
   ``n_iteration=10``) and by ``OverparamCP`` (width 64, rank not given) on the dense array
   and on the ``CPTensor`` (Gram-matrix path). Reported: wall time, relative reconstruction
   error, recovery score (mean matched |cos|) and our rank estimate.

Usage, from the repository root with the package importable::

    python benchmarks/bench_symmetric_cp.py [--json out.json] [--repeats 5]
"""

import argparse
import contextlib
import json
import sys
import time
import tracemalloc
import warnings

import numpy as np
import tensorly as tl
from sklearn.exceptions import ConvergenceWarning
from tensorly.decomposition import symmetric_parafac_power_iteration
from threadpoolctl import threadpool_info

from sktensorflow import OverparamCP
from sktensorflow.datasets import make_symmetric_cp
from sktensorflow.metrics import recovery_score, relative_error
from sktensorflow.models import symmetric_cp as scp

ORDER, D, N, WIDTH, RANK = 4, 60, 10_000, 64, 5
MB = 2.0**20


# -- data ------------------------------------------------------------------------------------
def planted_samples(n=N, d=D, rank=RANK, seed=0):
    """Rows ``a_s u_{k_s}``: their 4th moment is ``Σ_k 3 p_k u_k^{⊗4}``, exactly rank ``rank``."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    p = np.array([0.35, 0.25, 0.2, 0.12, 0.08])[:rank]
    k = rng.choice(rank, size=n, p=p / p.sum())
    return rng.standard_normal(n)[:, None] * U.T[k], U.T


def dense_moment(X, order=ORDER, chunk=1000):
    """``(1/n) Σ_s x_s^{⊗4}`` as a ``(d,)*4`` array: a Gram matrix of ``x ⊗ x`` (BLAS)."""
    if order != 4:
        raise ValueError("dense_moment is written for order 4")
    n, d = X.shape
    M = np.zeros((d * d, d * d))
    for s in range(0, n, chunk):
        K = (X[s : s + chunk, :, None] * X[s : s + chunk, None, :]).reshape(-1, d * d)
        M += K.T @ K
    M /= n
    return M.reshape((d,) * order)


# -- measurement helpers ------------------------------------------------------------------------
def best_time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def timed_peak(fn):
    """Wall time, peak traced allocation (MB) during ``fn()`` and its result."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak / MB, out


@contextlib.contextmanager
def count_evaluations():
    """Count the calls of ``loss_and_grad`` made through the model module."""
    original, counter = scp.loss_and_grad, [0]

    def counted(*args, **kwargs):
        counter[0] += 1
        return original(*args, **kwargs)

    scp.loss_and_grad = counted
    try:
        yield counter
    finally:
        scp.loss_and_grad = original


# -- part 1: one evaluation ----------------------------------------------------------------------
def per_evaluation(X, repeats):
    rng = np.random.default_rng(1)
    W = rng.standard_normal((D, WIDTH))
    W *= 0.1 / np.linalg.norm(W, axis=0)
    signs = np.ones(WIDTH)
    samples = scp.sample_target(X, ORDER)
    setup_s, peak_setup_s, sq_s = timed_peak(lambda: scp.target_norm_sq(samples))

    def build_dense():
        target = scp.dense_target(dense_moment(X))
        return target, scp.target_norm_sq(target)

    setup_d, peak_setup_d, (dense, sq_d) = timed_peak(build_dense)
    rows, results = [], {}
    for name, target, setup, peak_setup in (
        ("samples", samples, setup_s, peak_setup_s),
        ("dense", dense, setup_d, peak_setup_d),
    ):

        def evaluate(target=target):
            return scp.loss_and_grad(W, target, signs, target_sq=sq_d)

        seconds = best_time(evaluate, repeats)
        _, peak, results[name] = timed_peak(evaluate)
        rows.append(
            {
                "path": f"{name} (library)",
                "setup_s": setup,
                "setup_peak_MB": peak_setup,
                "eval_ms": 1e3 * seconds,
                "eval_peak_MB": peak,
            }
        )
    rows += numpy_reference(X, dense.tensor, W, repeats)
    (loss_s, (g_s,)), (loss_d, (g_d,)) = results["samples"], results["dense"]
    check = {
        "norm_sq_rel_diff": abs(sq_s - sq_d) / sq_d,
        "loss_rel_diff": abs(loss_s - loss_d) / abs(loss_d),
        "grad_rel_diff": float(np.linalg.norm(g_s - g_d) / np.linalg.norm(g_d)),
    }
    return rows, check


def numpy_reference(X, T, W, repeats):
    """Plain numpy ``T(w^{⊗3}, ·)`` for all columns: ``Xᵀ (XW)³ / n`` versus dense contractions."""
    d, m = W.shape

    def from_samples():
        P = X @ W
        return X.T @ (P * P * P) / X.shape[0]

    def from_dense():
        Y = (T.reshape(-1, d) @ W).reshape(-1, d, m)
        Y = np.einsum("abm,bm->am", Y, W).reshape(-1, d, m)
        return np.einsum("abm,bm->am", Y, W)

    rows = []
    for name, fn in (("samples (plain numpy)", from_samples), ("dense (plain numpy)", from_dense)):
        seconds = best_time(fn, repeats)
        _, peak, _ = timed_peak(fn)
        rows.append(
            {
                "path": name,
                "setup_s": float("nan"),
                "setup_peak_MB": float("nan"),
                "eval_ms": 1e3 * seconds,
                "eval_peak_MB": peak,
            }
        )
    return rows


# -- part 2: end to end --------------------------------------------------------------------------
def fit_report(name, make_input, tensor, truth, max_iter, signs="auto"):
    """Fit ``OverparamCP`` on ``make_input()`` and time everything, input included."""
    with count_evaluations() as evals, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        data = make_input()
        t_input = time.perf_counter() - t0
        est = OverparamCP(
            width=WIDTH,
            order=ORDER,
            tensor=tensor,
            signs=signs,
            max_iter=max_iter,
            random_state=0,
        ).fit(data)
        total = time.perf_counter() - t0
    return {
        "path": name,
        "input_s": t_input,
        "fit_s": total - t_input,
        "total_s": total,
        "n_iter": est.n_iter_,
        "converged": est.n_iter_ < max_iter,
        "n_evals": evals[0],
        "ms_per_iter": 1e3 * (total - t_input) / max(est.n_iter_, 1),
        "rank": est.rank_,
        "recovery": recovery_score(est.components_, truth).score,
    }, est


def end_to_end(X, truth, max_iter):
    # signs="auto" would pick "both" for an even-order precomputed tensor (it may have
    # negative weights) and "positive" for a moment: fix it so both runs take the same steps.
    samples, _ = fit_report("samples", lambda: X, "moment", truth, max_iter, "positive")
    dense, _ = fit_report(
        "dense", lambda: dense_moment(X), "precomputed", truth, max_iter, "positive"
    )
    return [samples, dense]


# -- part 3: orthogonal tensor, against tensorly ------------------------------------------------
def orthogonal(max_iter):
    weights = np.array([1.0, 0.8, 0.6, 0.4, 0.2])
    T, truth = make_symmetric_cp(D, RANK, order=ORDER, weights=weights, dense=True, random_state=0)
    cp, _ = make_symmetric_cp(D, RANK, order=ORDER, weights=weights, random_state=0)
    np.random.seed(0)  # noqa: NPY002 (tensorly's power iteration uses numpy's global RNG)
    t0 = time.perf_counter()
    w_tl, F = symmetric_parafac_power_iteration(T, RANK)
    seconds = time.perf_counter() - t0
    rows = [
        {
            "method": "tensorly symmetric_parafac_power_iteration (rank=5 given)",
            "time_s": seconds,
            "rel_error": relative_error(tl.cp_to_tensor((w_tl, [F] * ORDER)), T),
            "recovery": recovery_score(F.T, truth.components).score,
            "rank": RANK,
        }
    ]
    for name, data in (("dense array", T), ("CPTensor", cp)):
        row, est = fit_report(
            f"OverparamCP width 64, {name}", lambda data=data: data, "precomputed",
            truth.components, max_iter,
        )  # fmt: skip
        rows.append(
            {
                "method": row["path"],
                "time_s": row["total_s"],
                "rel_error": relative_error(tl.cp_to_tensor(est.to_tensorly()), T),
                "recovery": row["recovery"],
                "rank": row["rank"],
            }
        )
    return rows


# -- output --------------------------------------------------------------------------------------
def markdown(rows, columns):
    """A markdown table of ``rows`` with ``columns = [(key, header, format), ...]``."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for r in rows:
        lines.append("| " + " | ".join(format(r[k], f) for k, _, f in columns) + " |")
    return "\n".join(lines)


def report(out):
    evals, check, e2e, ortho = out["per_eval"], out["check"], out["end_to_end"], out["orthogonal"]
    base = {r["path"]: r["eval_ms"] for r in evals}
    for r in evals:
        dense = base["dense (library)" if "library" in r["path"] else "dense (plain numpy)"]
        r["speedup_vs_dense"] = dense / r["eval_ms"]
    print(f"## One loss+gradient evaluation (order {ORDER}, d={D}, n={N}, width {WIDTH})\n")
    print(
        markdown(
            evals,
            [
                ("path", "path", ""),
                ("setup_s", "setup s", ".3f"),
                ("setup_peak_MB", "setup peak MB", ".1f"),
                ("eval_ms", "eval ms (best)", ".2f"),
                ("eval_peak_MB", "eval peak MB", ".1f"),
                ("speedup_vs_dense", "speed-up vs dense", ".1f"),
            ],
        )
    )
    print(
        f"\nsamples vs dense: ||T*||² rel diff {check['norm_sq_rel_diff']:.1e}, "
        f"loss rel diff {check['loss_rel_diff']:.1e}, grad rel diff {check['grad_rel_diff']:.1e}"
    )
    print("\n## End to end: OverparamCP fit (dense total includes building the moment)\n")
    print(
        markdown(
            e2e,
            [
                ("path", "path", ""),
                ("input_s", "build s", ".2f"),
                ("fit_s", "fit s", ".2f"),
                ("total_s", "total s", ".2f"),
                ("n_iter", "iters", "d"),
                ("n_evals", "evals", "d"),
                ("ms_per_iter", "ms/iter", ".1f"),
                ("rank", "rank_", "d"),
                ("recovery", "recovery", ".6f"),
            ],
        )
    )
    print(f"\nend-to-end speed-up: {e2e[1]['total_s'] / e2e[0]['total_s']:.1f}x")
    print(f"\n## Orthogonal order-{ORDER} tensor, d={D}, rank {RANK}\n")
    print(
        markdown(
            ortho,
            [
                ("method", "method", ""),
                ("time_s", "time s", ".2f"),
                ("rel_error", "rel. error", ".1e"),
                ("recovery", "recovery", ".6f"),
                ("rank", "rank", "d"),
            ],
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)
    blas = [f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info()]
    print(f"threads: {', '.join(blas)}\n")
    start = time.perf_counter()
    X, truth = planted_samples()
    per_eval, check = per_evaluation(X, args.repeats)
    out = {
        "settings": {"order": ORDER, "d": D, "n": N, "width": WIDTH, "rank": RANK},
        "per_eval": per_eval,
        "check": check,
        "end_to_end": end_to_end(X, truth, args.max_iter),
        "orthogonal": orthogonal(args.max_iter),
    }
    report(out)
    out["wall_s"] = time.perf_counter() - start
    print(f"\nwall time {out['wall_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2, default=float)
    else:
        json.dump(out, sys.stdout, indent=2, default=float)
        print()


if __name__ == "__main__":
    main()
