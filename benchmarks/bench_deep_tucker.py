"""Deep Tucker: analytic gradients (sktensorflow) against PyTorch autograd, same model and loss.

Both sides evaluate ``(1 / (2p)) Σ_Ω (X̂ - X)²`` and its gradient for the deep Tucker
model of :mod:`sktensorflow.models.deep_tucker` (full-size core, ``depth`` matrices
per factor) on a planted 25×25×25 tensor of multilinear rank (5, 5, 5) with 70 %
of its entries observed, from the same balanced initialization. Reported:

- time per loss-and-gradient evaluation (median of repeated runs): the analytic
  gradient on the numpy and pytorch backends, and autograd on the same forward
  pass written in PyTorch;
- time to reach a held-out relative error with the same fixed-step gradient descent
  (same step, same start, so both follow the same iterates).

All runs use one thread per library (the machine is shared). Usage, from the
repository root with the package importable::

    python benchmarks/bench_deep_tucker.py [--json out.json] [--quick]
"""

import argparse
import json
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sktensorflow import _backend
from sktensorflow.datasets import make_low_multilinear_rank
from sktensorflow.models import deep_tucker as dtm


def _problem(n=25, rank=5, fraction=0.7):
    X, truth = make_low_multilinear_rank(
        (n,) * 3, (rank,) * 3, observed_fraction=fraction, random_state=0
    )
    observed = ~np.isnan(X)
    p = observed.mean()
    filled = np.where(observed, X, 0.0)
    scale = dtm.spectral_scale(filled) / p
    return filled / scale, observed, p, truth.tensor / scale


def _torch_loss(torch, depth, form):
    def factor(chain):
        if form == "product":
            U = chain[0]
            for W in chain[1:]:
                U = W @ U
            return U
        v = chain[0].T
        for M in reversed(chain[1:]):
            v = torch.einsum("jab,jb->ja", M, v)
        return v.T

    def loss(params, Y, M, coef):
        G, chains = dtm.split_params(params, 3, depth)
        U = [factor(c) for c in chains]
        X_hat = torch.einsum("abc,ia,jb,kc->ijk", G, *U)
        R = (X_hat - Y) * M
        return 0.5 * coef * (R * R).sum()

    return loss


def _median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _ours(backend, init, Y, observed, p, depth, form):
    """The loss and gradient ``DeepTucker`` iterates on, on ``backend``."""
    with _backend.backend_context(backend):
        problem = dtm.problem(
            tuple(_backend.to_backend(a) for a in init),
            _backend.to_backend(Y),
            _backend.to_backend(observed.astype(float)),
            depth=depth,
            form=form,
            coef=1.0 / p,
        )

    def fun(q):
        with _backend.backend_context(backend):
            return problem.fun(q)

    return fun, problem.start


def _autograd(init, Y, observed, p, depth, form):
    import torch

    loss = _torch_loss(torch, depth, form)
    target = torch.tensor(Y)
    mask = torch.tensor(observed.astype(float))

    def fun(q):
        q = [a.detach().requires_grad_(True) for a in q]
        value = loss(q, target, mask, 1.0 / p)
        grads = torch.autograd.grad(value, q)
        return float(value.detach()), tuple(grads)

    return fun, tuple(torch.tensor(a) for a in init)


def _held_out(params, backend, depth, form, truth, missing):
    host = [
        _backend.to_numpy(a) if not hasattr(a, "detach") else a.detach().numpy() for a in params
    ]
    with _backend.backend_context("numpy"):
        X_hat = dtm.to_tensor(host, 3, depth, form)
    return float(np.linalg.norm((X_hat - truth)[missing]) / np.linalg.norm(truth[missing]))


def _time_to_error(
    fun, params, lr, target_err, max_iter, check, backend, depth, form, truth, missing
):
    elapsed, n_iter = 0.0, 0
    err = _held_out(params, backend, depth, form, truth, missing)
    while n_iter < max_iter and err > target_err:
        t0 = time.perf_counter()
        for _ in range(check):
            _, grads = fun(params)
            params = tuple(a - lr * g for a, g in zip(params, grads, strict=True))
        elapsed += time.perf_counter() - t0
        n_iter += check
        err = _held_out(params, backend, depth, form, truth, missing)
    return elapsed, n_iter, err


def run(quick=False):
    Y, observed, p, truth = _problem()
    missing = ~observed
    rows = []
    cases = [(2, "product"), (2, "column"), (3, "product")] if not quick else [(2, "product")]
    for depth, form in cases:
        init = dtm.init_params(np.random.RandomState(0), Y.shape, Y.shape, depth, form, 0.6)
        lr = 1.0 / dtm.n_layers(3, depth)
        impls = {
            "analytic/numpy": _ours("numpy", init, Y, observed, p, depth, form),
            "analytic/pytorch": _ours("pytorch", init, Y, observed, p, depth, form),
            "autograd/pytorch": _autograd(init, Y, observed, p, depth, form),
        }
        for name, (fun, params) in impls.items():
            per_iter = _median_time(lambda f=fun, q=params: f(q), 10 if quick else 50)
            backend = "numpy" if name.endswith("numpy") else "pytorch"
            t, n, err = _time_to_error(
                fun,
                params,
                lr,
                5e-2,
                400 if quick else 4000,
                50,
                backend,
                depth,
                form,
                truth,
                missing,
            )
            rows.append(
                dict(
                    depth=depth,
                    form=form,
                    impl=name,
                    ms_per_iter=1e3 * per_iter,
                    time_to_err_s=t,
                    iters=n,
                    held_out_err=err,
                )
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write the rows to this file")
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        import torch

        torch.set_num_threads(1)
        rows = run(args.quick)
    print(
        f"{'depth':>5} {'form':>8} {'implementation':>17} {'ms/iter':>8} "
        f"{'speedup':>8} {'s to 5e-2':>10} {'iters':>6} {'held-out':>9}"
    )
    for row in rows:
        ref = next(
            r
            for r in rows
            if r["depth"] == row["depth"]
            and r["form"] == row["form"]
            and r["impl"] == "autograd/pytorch"
        )
        row["speedup_vs_autograd"] = ref["ms_per_iter"] / row["ms_per_iter"]
        print(
            f"{row['depth']:>5} {row['form']:>8} {row['impl']:>17} "
            f"{row['ms_per_iter']:>8.3f} {row['speedup_vs_autograd']:>7.2f}x "
            f"{row['time_to_err_s']:>10.2f} {row['iters']:>6} {row['held_out_err']:>9.2e}"
        )
    payload = json.dumps(
        {"benchmark": "deep_tucker", "shape": [25, 25, 25], "rows": rows}, indent=1
    )
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(payload)
    else:
        sys.stdout.write(payload + "\n")


if __name__ == "__main__":
    main()
