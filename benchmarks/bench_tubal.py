"""Time per gradient-descent iteration of tubal sensing and completion.

Compares, in the same run and from the same starting point, the library
(``sktensorflow.models.tubal.coordinate_loss_and_grad`` driven by
``sktensorflow._optim.minimize``, as ``TubalFactorizer`` and ``fit_sensing`` run
it: on the factors' Fourier coordinates, converted back at the end) with
a direct transcription of the algorithm as the paper's released scripts
organize it: a complex FFT of all ``k`` frontal slices, a Python loop over the
slices for every t-product. The released scripts apply the measurements one
at a time (a loop over ``j`` of ``<X, G_j>`` and of ``res_j (G_j + G_j^T)``):
the "(loop ref)" sensing row transcribes that; the other sensing row is a
stronger, vectorized baseline that contracts an ``(m, n, n, k)`` array with
``tensordot``, so both sides share the measurement matvec that dominates the
cost. The released code has no completion script; the completion rows use the
same transcription style (complex FFT of all slices, per-slice loops). Both run the same number of
fixed-step iterations from the same start; the table reports the time per
iteration (best of ``--repeats`` runs, the machine may be shared), the speed-up
and the largest relative difference between the final factors (equal results).
The "model-only" column times the library's loss and gradient in a bare loop,
without the shared loop's per-iteration stopping tests.

Usage::

    python benchmarks/bench_tubal.py [--json out.json] [--iters 300]
"""

import argparse
import json
import sys
import time

import numpy as np

from sktensorflow import _backend
from sktensorflow._optim import minimize
from sktensorflow.datasets import make_tubal_low_rank
from sktensorflow.models import tubal as mt
from sktensorflow.sensing import make_sensing_problem


# -- reference: complex FFT of all slices, per-slice loops ------------------------------------
def ref_tprod(A, B):
    Af, Bf = np.fft.fft(A, axis=2), np.fft.fft(B, axis=2)
    C = np.zeros((A.shape[0], B.shape[1], A.shape[2]), dtype=complex)
    for i in range(A.shape[2]):
        C[:, :, i] = Af[:, :, i] @ Bf[:, :, i]
    return np.real(np.fft.ifft(C, axis=2))


def ref_ttrans(A):
    k = A.shape[2]
    At = np.zeros((A.shape[1], A.shape[0], k))
    At[:, :, 0] = A[:, :, 0].T
    for i in range(1, k):
        At[:, :, i] = A[:, :, k - i].T
    return At


def ref_sensing_step(U, G4, y, step):
    X = ref_tprod(U, ref_ttrans(U))
    res = np.tensordot(G4, X, axes=3) - y
    M = np.tensordot(res, G4, axes=1)
    return U - step * ref_tprod(M + ref_ttrans(M), U), 0.5 * float(res @ res)


def ref_sensing_step_loop(U, G4, y, step):
    """As :func:`ref_sensing_step`, with the measurements applied one at a time."""
    X = ref_tprod(U, ref_ttrans(U))
    res = np.array([np.sum(G4[j] * X) for j in range(len(y))]) - y
    M = np.zeros_like(X)
    for j in range(len(y)):
        M += res[j] * G4[j]
    return U - step * ref_tprod(M + ref_ttrans(M), U), 0.5 * float(res @ res)


def ref_completion_step(A, B, T, mask, step):
    E = mask * (ref_tprod(A, ref_ttrans(B)) - T)
    gA, gB = ref_tprod(E, B), ref_tprod(ref_ttrans(E), A)
    return A - step * gA, B - step * gB, 0.5 * float(np.sum(E * E))


# -- problems ----------------------------------------------------------------------------------
def sensing_problem(loop=False):
    G, y, truth = make_sensing_problem(10, 4, 2, 254, random_state=0)
    G4 = G.reshape(254, 10, 10, 4)
    U0 = 1e-3 * np.random.default_rng(0).standard_normal((10, 100, 4)) / 10
    ref = ref_sensing_step_loop if loop else ref_sensing_step
    return {
        "name": "sensing 10x10x4, w 100, m=254" + (" (loop ref)" if loop else ""),
        "params": (U0,),
        "step": 1e-5,
        "data": lambda: mt.measurements(
            _backend.to_backend(G), _backend.to_backend(y), truth.shape
        ),
        "ref_step": lambda p, h: ref(p[0], G4, y, h)[:1],
    }


def completion_problem(shape, rank, width):
    X, _ = make_tubal_low_rank(shape, rank, observed_fraction=0.5, random_state=0)
    mask = (~np.isnan(X)).astype(float)
    T = np.nan_to_num(X)
    rng = np.random.default_rng(0)
    params = tuple(1e-2 * rng.standard_normal((n, width, shape[2])) for n in shape[:2])
    sigma = np.max(np.linalg.norm(np.fft.fft(T, axis=2).transpose(2, 0, 1), ord=2, axis=(1, 2)))

    def ref_step(p, h):
        return ref_completion_step(p[0], p[1], T, mask, h)[:2]

    return {
        "name": f"completion {shape[0]}x{shape[1]}x{shape[2]}, w {width}, 50%",
        "params": params,
        "step": 0.3 / sigma,
        "ref_step": ref_step,
        "data": lambda: mt.masked_data(_backend.to_backend(T), _backend.to_backend(mask)),
    }


# -- timing --------------------------------------------------------------------------------------
def time_library(problem, n_iter, backend):
    """The loop as the estimators run it: on the factors' Fourier coordinates."""
    with _backend.backend_context(backend):
        data = problem["data"]()
        start = time.perf_counter()
        coords_problem = mt.coordinate_problem(
            tuple(_backend.to_backend(p) for p in problem["params"]), data
        )
        res = minimize(
            coords_problem,
            solver="gd",
            learning_rate=problem["step"],
            max_iter=n_iter,
            tol=0.0,
        )
        factors = res.view
        elapsed = time.perf_counter() - start
        return elapsed / n_iter, [_backend.to_numpy(p) for p in factors]


def time_model_only(problem, n_iter, backend):
    """The library's loss and gradient in a bare loop (no stopping tests, no records)."""
    with _backend.backend_context(backend):
        data = problem["data"]()
        coords_problem = mt.coordinate_problem(
            tuple(_backend.to_backend(p) for p in problem["params"]), data
        )
        coords = coords_problem.start
        start = time.perf_counter()
        for _ in range(n_iter):
            _, grads = coords_problem.fun(coords)
            coords = tuple(c - problem["step"] * g for c, g in zip(coords, grads, strict=True))
        return (time.perf_counter() - start) / n_iter, None


def time_reference(problem, n_iter):
    params = problem["params"]
    start = time.perf_counter()
    for _ in range(n_iter):
        params = problem["ref_step"](params, problem["step"])
    return (time.perf_counter() - start) / n_iter, list(params)


def best_of(repeats, timer, *args):
    """Smallest time of ``repeats`` runs (the machine may be shared) and the last result."""
    runs = [timer(*args) for _ in range(repeats)]
    return min(r[0] for r in runs), runs[-1][1]


def run(n_iter, backends, repeats):
    problems = [
        sensing_problem(),
        sensing_problem(loop=True),
        completion_problem((30, 30, 8), 3, 10),
        completion_problem((200, 300, 3), 10, 40),
    ]
    rows = []
    for problem in problems:
        ref_time, ref_params = best_of(repeats, time_reference, problem, n_iter)
        for backend in backends:
            lib_time, lib_params = best_of(repeats, time_library, problem, n_iter, backend)
            model_time, _ = best_of(repeats, time_model_only, problem, n_iter, backend)
            diff = max(
                float(np.max(np.abs(a - b))) for a, b in zip(lib_params, ref_params, strict=True)
            )
            scale = max(float(np.max(np.abs(b))) for b in ref_params)
            rows.append(
                {
                    "problem": problem["name"],
                    "backend": backend,
                    "reference_ms": 1e3 * ref_time,
                    "library_ms": 1e3 * lib_time,
                    "model_only_ms": 1e3 * model_time,
                    "speedup": ref_time / lib_time,
                    "max_rel_diff": diff / scale,
                    "n_iter": n_iter,
                }
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--torch", action="store_true", help="also time the pytorch backend")
    args = parser.parse_args(argv)
    backends = ["numpy"] + (["pytorch"] if args.torch else [])
    rows = run(args.iters, backends, args.repeats)
    print(
        f"{'problem':40} {'backend':8} {'reference ms/it':>16} {'library ms/it':>14} "
        f"{'speed-up':>9} {'model-only ms/it':>17} {'max rel diff':>13}"
    )
    for r in rows:
        print(
            f"{r['problem']:40} {r['backend']:8} {r['reference_ms']:16.3f} "
            f"{r['library_ms']:14.3f} {r['speedup']:9.1f} {r['model_only_ms']:17.3f} "
            f"{r['max_rel_diff']:13.1e}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    else:
        json.dump(rows, sys.stdout, indent=2)
        print()


if __name__ == "__main__":
    main()
