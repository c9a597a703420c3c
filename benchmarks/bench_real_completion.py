"""Completion of real data with the estimators' defaults, against tensorly and mean filling.

Data that ship offline: the two scikit-learn sample photographs at 1/4 size with
60 % of the pixels missing (all channels of a pixel), 400 digit images with
50 % of the entries missing, and a 72 x 72 x 50 crop of tensorly's Indian Pines
hyperspectral cube with 20 % of the entries observed. Rows: TubalFactorizer and
DeepTucker with their defaults, completed by ``fit_complete`` (the fitted
model's values) and by ``complete`` (each row folded in on the fitted factors);
TubalFactorizer with its tubes fixed along the last axis (``tube_axis=2``,
where the default ``"auto"`` validates both non-sample axes), and with
``solver="gd"`` (plain gradient descent, where the default is the
preconditioned ``"scaled_gd"``); mean filling;
tensorly's masked ``parafac`` at ranks 5, 10, 20 and masked ``tucker`` at ranks
5 and 10 per mode (capped by the mode's size), both from tensorly's default SVD
initialization of the mean-filled data. Columns: relative error on the missing
entries, PSNR for the photographs, fit time. After each case, a verdict per
estimator row against the targets: better than mean filling, within 10 % of the
best tensorly row, and at most ``max(10 x its time, 2 s)``.

Run ``python benchmarks/bench_real_completion.py`` (``--cases digits china``
for a subset, ``--no-deep-tucker`` to skip DeepTucker, ``--json out.json``).
"""

import argparse
import json
import os
import time
import warnings

import numpy as np
import tensorly as tl
from sklearn.datasets import load_digits, load_sample_image
from tensorly.decomposition import parafac, tucker

from sktensorflow import DeepTucker, TubalFactorizer

CASES = ("china", "flower", "digits", "indian_pines")


def load_case(name, rng):
    """``(X, missing)``: the full data and the mask of hidden entries."""
    if name in ("china", "flower"):
        X = load_sample_image(f"{name}.jpg")[::4, ::4].astype(float) / 255.0
        missing = np.repeat((rng.random(X.shape[:2]) < 0.6)[:, :, None], 3, axis=2)
    elif name == "digits":
        X = load_digits().images[:400].astype(float)
        missing = rng.random(X.shape) < 0.5
    else:
        path = os.path.join(os.path.dirname(tl.__file__), "datasets", "data")
        X = np.load(os.path.join(path, "Indian_pines_corrected.npy"))[:72, :72, :50]
        X = X.astype(float) / X.max()
        missing = rng.random(X.shape) >= 0.2
    return X, missing


def errors(X, missing, filled, photo):
    rel = np.linalg.norm((filled - X)[missing]) / np.linalg.norm(X[missing])
    psnr = 10 * np.log10(1.0 / np.mean((np.clip(filled, 0, 1) - X)[missing] ** 2))
    return rel, (psnr if photo else np.nan)


def estimator_rows(Xm, deep_tucker):
    classes = [TubalFactorizer] + ([DeepTucker] if deep_tucker else [])
    for cls in classes:
        for method in ("fit_complete", "complete"):
            est = cls(random_state=0)
            start = time.perf_counter()
            filled = est.fit_complete(Xm) if method == "fit_complete" else est.fit(Xm).complete(Xm)
            yield f"{cls.__name__} {method}", filled, time.perf_counter() - start
    variants = {"tube_axis=2": {"tube_axis": 2}, "solver=gd": {"solver": "gd"}}
    for label, params in variants.items():
        start = time.perf_counter()
        filled = TubalFactorizer(random_state=0, **params).fit_complete(Xm)
        yield f"TubalFactorizer {label}", filled, time.perf_counter() - start


def baseline_rows(Xm, missing):
    start = time.perf_counter()
    mean_filled = np.where(missing, np.nanmean(Xm), Xm)
    yield "mean filling", mean_filled, time.perf_counter() - start
    observed = (~missing).astype(float)
    for rank in (5, 10, 20):
        start = time.perf_counter()
        cp = parafac(mean_filled, rank, mask=observed, random_state=0)
        yield f"tensorly parafac rank {rank}", tl.cp_to_tensor(cp), time.perf_counter() - start
    for rank in (5, 10):
        ranks = [min(n, rank) for n in Xm.shape]
        start = time.perf_counter()
        tk = tucker(mean_filled, rank=ranks, mask=observed, random_state=0)
        yield f"tensorly tucker {ranks}", tl.tucker_to_tensor(tk), time.perf_counter() - start


def run_case(name, deep_tucker):
    X, missing = load_case(name, np.random.default_rng(0))
    Xm = np.where(missing, np.nan, X)
    photo = name in ("china", "flower")
    rows = []
    for label, filled, seconds in [
        *estimator_rows(Xm, deep_tucker),
        *baseline_rows(Xm, missing),
    ]:
        filled = np.where(missing, filled, X)
        rel, psnr = errors(X, missing, filled, photo)
        rows.append({"case": name, "method": label, "rel_error": rel, "psnr": psnr, "s": seconds})
        print(f"{name:13s} {label:45s} {rel:8.3f} {psnr:8.2f} {seconds:8.2f}", flush=True)
    print_verdicts(rows)
    return rows


def print_verdicts(rows):
    """Each estimator row against mean filling and the best tensorly row (best rank)."""
    mean = next(r for r in rows if r["method"] == "mean filling")
    tensorly_rows = [r for r in rows if r["method"].startswith("tensorly")]
    best = min(tensorly_rows, key=lambda r: r["rel_error"])
    budget = max(10 * best["s"], 2.0)
    for r in rows:
        if r["method"].startswith(("TubalFactorizer", "DeepTucker")):
            ratio = r["rel_error"] / best["rel_error"]
            print(
                f"  {r['method']:45s} beats mean: {r['rel_error'] < mean['rel_error']!s:5s} "
                f"error / best tensorly ({best['method']}): {ratio:5.2f} "
                f"time {r['s']:6.2f} s of {budget:5.2f} s: {r['s'] <= budget}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--no-deep-tucker", action="store_true")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # convergence warnings of both libraries
    print(f"{'case':13s} {'method':45s} {'rel.err':>8s} {'PSNR dB':>8s} {'fit s':>8s}")
    rows = [row for case in args.cases for row in run_case(case, not args.no_deep_tucker)]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
