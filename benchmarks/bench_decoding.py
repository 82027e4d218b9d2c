"""Batched LDA cross-validation with permutations vs a scikit-learn loop, one run.

Data: 30 sessions of 15 units × 200 trials from the planted synthetic study.
Ours: ``neurolearn.decode(method="lda", n_folds=10, n_permutations=P)``.
Reference: for each session and permutation, ``cross_val_score`` of
``make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr"))``
on the same folds and the same permuted labels. The reference is timed on
``--sklearn-permutations`` permutations per session (all of them with
``--full``) and its time per permutation scaled to P — it is a plain loop, so
its cost is linear in P. Accuracies are compared on every permutation the
reference ran.

Usage: python benchmarks/bench_decoding.py [--permutations 1000] [--device cpu|cuda]
Appends a row to BENCHMARKS.md with ``--write``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from data_loaders.synthetic import make_overtraining_dataset
from neurolearn.decoding import decode
from neurolearn.decoding.cv import permuted_labels, session_problem
from neurolearn.schema import iter_sessions, to_tree


def machine_name() -> str:
    """CPU model and core count, e.g. 'AMD EPYC, 2 cores, x86_64'."""
    model = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.machine()}"


def run_conditions() -> str:
    """BLAS threads and the 1-minute load average now, e.g. 'BLAS threads 2, load 0.31'."""
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"BLAS threads {max(blas, default=1)}, load {load:.2f}"


def study(n_sessions: int = 30, n_units: int = 15, seed: int = 0):
    tree = make_overtraining_dataset(n_mice=2, n_training_days=5, n_overtraining_days=10,
                                     units_per_session=(n_units, n_units), seed=seed)
    sessions = [ds for _, ds in iter_sessions(tree)][:n_sessions]
    return to_tree(sessions)


def sklearn_loop(tree, n_perm: int, n_folds: int, seed: int, **problem: Any
                 ) -> tuple[np.ndarray, float]:
    """CV accuracy of every label vector by a scikit-learn loop on our folds.

    ``problem`` goes to ``session_problem`` (e.g. ``target="stimulus"``).
    """
    accs = []
    t0 = time.perf_counter()
    for _, ds in iter_sessions(tree):
        prob = session_problem(ds, n_folds=n_folds, seed=seed, **problem)
        splits = [(np.flatnonzero(prob.train[f]), np.flatnonzero(prob.test[f]))
                  for f in range(n_folds)]
        Y = permuted_labels(prob, n_perm)
        pipe = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr"))
        accs.append([cross_val_score(pipe, prob.X, Y[q], cv=splits).mean()
                     for q in range(n_perm + 1)])
    return np.array(accs), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--sklearn-permutations", type=int, default=50)
    parser.add_argument("--full", action="store_true", help="run the reference on all P")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="append a row to BENCHMARKS.md")
    args = parser.parse_args()
    P, folds, seed = args.permutations, 10, 0
    tree = study()
    decode(tree, n_permutations=2, progress=False, device=args.device)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = decode(tree, n_permutations=P, n_folds=folds, seed=seed, progress=False,
                      device=args.device)
        times.append(time.perf_counter() - t0)
    t_ours = min(times)
    tracemalloc.start()
    decode(tree, n_permutations=P, n_folds=folds, seed=seed, progress=False, device=args.device)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    n_ref = P if args.full else min(P, args.sklearn_permutations)
    ref, t_ref = sklearn_loop(tree, n_ref, folds, seed)
    t_ref_full = t_ref * (P + 1) / (n_ref + 1)
    ours_all = np.concatenate([ours["accuracy"].values[:, None],
                               ours["null_accuracy"].values[:, :n_ref]], axis=1)
    max_diff = float(np.max(np.abs(ours_all - ref)))
    ratio = t_ref_full / t_ours
    machine = machine_name()
    print(f"sessions 30 x 15 units x 200 trials, {folds} folds, {P} permutations, "
          f"device {args.device}; {run_conditions()} (both sides)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"neurolearn batched LDA: {t_ours:.3f} s (best of {args.repeats}); peak traced "
          f"memory {peak:.0f} MiB; max RSS {rss:.0f} MiB")
    print(f"scikit-learn loop: {t_ref:.1f} s for {n_ref + 1} label vectors/session -> "
          f"{t_ref_full:.1f} s for {P + 1}{' (measured)' if args.full else ' (scaled)'}")
    print(f"speed-up: {ratio:.0f}x; max |accuracy difference| over "
          f"{30 * (n_ref + 1)} CV scores: {max_diff:.2e}")
    if args.write:
        with open(Path(__file__).resolve().parents[1] / "BENCHMARKS.md", "a") as fh:
            fh.write(f"| decoding LDA CV | 30 sess × 15 units × 200 trials, 10 folds, P={P} | "
                     f"{args.device} | {t_ours:.2f} s | {t_ref_full:.0f} s "
                     f"({'measured' if args.full else f'scaled from {n_ref}'}) | "
                     f"**{ratio:.0f}×** | {max_diff:.1e} | {peak:.0f} MiB | {machine} |\n")


if __name__ == "__main__":
    main()
