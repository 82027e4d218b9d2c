"""Batched SVM margins vs a scikit-learn SVC loop, in one run.

Data: 30 overtraining sessions of the planted synthetic study (``hidden=True``,
where most sessions are separable; ``--phase training`` takes 30 training
sessions instead, where most are not), 100 random subsets of 8 units each.
Ours: ``svm_margin(..., n_units=8, n_subsamples=100)`` (hard margin) and the
same with ``C=1`` (soft margin) — each solves all 3,000 problems as one
batched interior-point program. Reference: ``SVC(kernel="linear", C)`` fit
one problem at a time on the same z-scored unit subsets (hard: C=1e6).

The loop is timed with libsvm's default tolerance; accuracy is checked
against libsvm at tol=1e-8 on the first 5 sessions (500 problems). The
hard-margin reference is compared by its geometric margin
min_i yᵢf(xᵢ)/‖w‖ (libsvm's hyperplane can violate constraints by ~1e-4,
which makes 1/‖w‖ too large); the soft margin by 1/‖w‖.

Usage: python benchmarks/bench_margins.py [--device cpu|cuda] [--phase training] [--write]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.svm import SVC

from data_loaders.synthetic import make_overtraining_dataset
from neurolearn.backend import make_rng
from neurolearn.decoding.cv import session_seed
from neurolearn.margins import svm_margin
from neurolearn.schema import iter_sessions, to_tree
from neurolearn.session_arrays import trained_trials, unit_subsets, zscore_rows

# libsvm's stand-in for the hard margin (C -> infinity).
HARD_MARGIN_C = 1e6

try:
    from bench_decoding import machine_name
except ImportError:  # run from the repository root
    from benchmarks.bench_decoding import machine_name


def reference(tree, C, n_units, n_subsamples, seed, tol=1e-3, n_sessions=None):
    margins, t0 = [], time.perf_counter()
    for _, ds in list(iter_sessions(tree))[:n_sessions]:
        X, y = trained_trials(ds, "rates")
        Z = zscore_rows(X, np.ones(y.size, bool))
        rng = make_rng(session_seed(seed, str(ds["session"].values[0])))
        row = []
        for units in unit_subsets(Z.shape[1], n_units, n_subsamples, rng):
            svc = SVC(kernel="linear", C=C, tol=tol).fit(Z[:, units], y)
            w = np.linalg.norm(svc.coef_)
            if C == HARD_MARGIN_C:
                geo = np.min(y * svc.decision_function(Z[:, units])) / w
                row.append(geo if geo > 0 else np.nan)
            else:
                row.append(1 / w)
        margins.append(row)
    return np.array(margins), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--phase", default="overtraining", choices=["overtraining", "training"],
                        help="sessions to time: overtraining (mostly separable) or training "
                             "(mostly not)")
    parser.add_argument("--preset", default="bernerslee2023",
                        help="preprocessing of the synthetic sessions (baseline_subtracted: the "
                             "data of the rows before the default became the original rule)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    days = (1, 15) if args.phase == "overtraining" else (15, 1)
    full = make_overtraining_dataset(n_mice=2, n_training_days=days[0],
                                     n_overtraining_days=days[1], hidden=True,
                                     units_per_session=(10, 30), preset=args.preset, seed=0)
    tree = to_tree([ds for _, ds in iter_sessions(full)
                    if ds["phase"].values[0] == args.phase][:30])
    k, S, seed = 8, 100, 0
    rows = []
    t_hard_ref = 0.0
    for label, C in (("hard", None), ("hard + soft (C=1)", 1.0)):
        svm_margin(tree, C=C, n_units=k, n_subsamples=2, progress=False, device=args.device)
        t_ours = np.inf
        for _ in range(5):  # best of 5: the run least disturbed by other load
            t0 = time.perf_counter()
            ours = svm_margin(tree, C=C, n_units=k, n_subsamples=S, seed=seed, progress=False,
                              device=args.device)
            t_ours = min(t_ours, time.perf_counter() - t0)
        C_ref = HARD_MARGIN_C if C is None else C
        ref, t_ref = reference(tree, C_ref, k, S, seed)  # libsvm's default tol: timing
        if C is None:
            t_hard_ref = t_ref
        else:
            # svm_margin(C=...) returns the hard margin too: time both loops.
            t_ref += t_hard_ref
        ours_v = ours["margin"].values if C is None else ours["soft_margin"].values
        agree = float(np.mean(np.isfinite(ours_v) == np.isfinite(ref)))
        # Accuracy against a tightly converged libsvm (tol=1e-8) on 5 sessions.
        tight, _ = reference(tree, C_ref, k, S, seed, tol=1e-8, n_sessions=5)
        mine = ours_v[:5]
        both = np.isfinite(mine) & np.isfinite(tight)
        rel = float(np.max(np.abs(mine[both] / tight[both] - 1)))
        n = ours_v.size
        print(f"{label}: {n} problems ({tree.attrs.get('n', 30)} sessions x {S} subsets of {k} "
              f"units); neurolearn {t_ours:.2f} s, sklearn loop {t_ref:.2f} s, ratio "
              f"{t_ref / t_ours:.1f}x; max rel diff vs libsvm at tol=1e-8 {rel:.1e} over "
              f"{both.sum()} margins; "
              f"separable-flag agreement {agree:.3f}")
        rows.append(f"| SVM margin, {label} | 30 {args.phase} sess × 100 subsets × 8 units, "
                    f"~190 trials, {np.mean(np.isfinite(ours['margin'].values)):.1%} separable, "
                    f"{args.preset} | "
                    f"{args.device} | {t_ours:.2f} s | {t_ref:.1f} s (measured) | "
                    f"**{t_ref / t_ours:.0f}×** | {rel:.1e} rel | – | {machine_name()} |\n")
    if args.write:
        with open(Path(__file__).resolve().parents[1] / "BENCHMARKS.md", "a") as fh:
            fh.writelines(rows)


if __name__ == "__main__":
    main()
