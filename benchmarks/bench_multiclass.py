"""K-class LDA cross-validation with permutations vs a scikit-learn loop, one run.

Data: 30 sessions of 15 units × 200 trials with K planted odour classes
(class means apart along random directions, unit-variance noise), K = 3
and K = 7. Ours: ``neurolearn.decode(target="stimulus", n_folds=10,
n_permutations=P)``. Reference: for each session and label vector,
``cross_val_score`` of ``make_pipeline(StandardScaler(),
LinearDiscriminantAnalysis(solver="lsqr"))`` on the same folds and the same
permuted labels, timed on ``--sklearn-permutations`` label vectors per
session and scaled to P + 1 (a plain loop is linear in P). Accuracies are
compared on every label vector the reference ran.

Usage: python benchmarks/bench_multiclass.py [--permutations 1000] [--classes 3 7]
       python benchmarks/bench_multiclass.py --table   # equality with scikit-learn
``--table`` prints, for K = 2, 3, 7 and 4–500 units, the largest difference
of decision values (relative to their scale) and of fold accuracies between
``decode``'s LDA and ``LinearDiscriminantAnalysis(solver="lsqr")`` on the
same folds (210 trials, 5 folds, the true labels and 3 permutations).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurolearn.decoding import decode
from neurolearn.decoding.cv import permuted_labels, session_problem
from neurolearn.schema import iter_sessions, make_session, to_tree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decoding import machine_name, run_conditions, sklearn_loop  # noqa: E402


def k_class_study(n_classes: int, n_sessions: int = 30, n_units: int = 15,
                  n_trials: int = 200, seed: int = 0):
    """Sessions of ``n_classes`` odours, classes balanced to within one trial."""
    rng = np.random.default_rng(seed)
    sessions = []
    for s in range(n_sessions):
        y = np.arange(n_trials) % n_classes
        rng.shuffle(y)
        means = rng.normal(size=(n_classes, n_units)) * 0.7
        X = 5.0 + means[y] + rng.normal(size=(n_trials, n_units))
        sessions.append(make_session(
            X, stimulus=np.array([f"odour{k}" for k in y]), label=(y == 0).astype(int),
            session=f"m{s % 2}-d{s // 2 + 1:02d}", mouse=f"m{s % 2}", day=s // 2 + 1,
            phase="overtraining"))
    return to_tree(sessions)


def equality_table() -> None:
    import array_api_compat.numpy as xnp

    from neurolearn.decoding.engine import cv_class_scores

    print("| K | units | shrinkage | max |Δ decision| / max |decision| | max |Δ fold accuracy| |")
    print("| --- | --- | --- | --- | --- |")
    for K in (2, 3, 7):
        for p in (4, 40, 150, 500):
            for shrinkage in (0.0, 0.3):
                if shrinkage == 0 and p >= 150:
                    continue  # unshrunk lsqr is undefined there (singular covariance)
                tree = k_class_study(K, n_sessions=1, n_units=p, n_trials=210, seed=K + p)
                ds = next(iter_sessions(tree))[1]
                prob = session_problem(ds, n_folds=5, seed=1, target="stimulus", binary=False)
                Y = permuted_labels(prob, 3)
                scores = cv_class_scores(xnp, "lda", xnp.asarray(prob.X[None]), prob.train,
                                         prob.test, Y, {"shrinkage": shrinkage}, n_classes=K)
                ref = np.zeros((prob.y.size, K if K > 2 else 1))
                acc_diff = 0.0
                for q in range(Y.shape[0]):
                    for f in range(5):
                        tr, te = prob.train[f] > 0, prob.test[f] > 0
                        model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
                            solver="lsqr", shrinkage=shrinkage or None)).fit(prob.X[tr],
                                                                             Y[q, tr])
                        acc = np.mean(model.predict(prob.X[te]) == Y[q, te])
                        acc_diff = max(acc_diff, abs(acc - scores.fold_accuracy[0, f, q]))
                        if q == 0:
                            ref[te] = model.decision_function(prob.X[te]).reshape(te.sum(), -1)
                ours = scores.decision[0].reshape(ref.shape)
                rel = np.abs(ours - ref).max() / np.abs(ref).max()
                print(f"| {K} | {p} | {shrinkage} | {rel:.1e} | {acc_diff:.0e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--sklearn-permutations", type=int, default=20)
    parser.add_argument("--classes", type=int, nargs="+", default=[3, 7])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--table", action="store_true",
                        help="print the equality table with scikit-learn instead")
    args = parser.parse_args()
    if args.table:
        equality_table()
        return
    P, folds, seed = args.permutations, 10, 0
    print(f"machine: {machine_name()}; {run_conditions()} (both sides)")
    for K in args.classes:
        tree = k_class_study(K)
        decode(tree, target="stimulus", n_permutations=2, progress=False,
               device=args.device)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ours = decode(tree, target="stimulus", n_permutations=P, n_folds=folds, seed=seed,
                          progress=False, device=args.device)
            times.append(time.perf_counter() - t0)
        t_ours = min(times)
        n_ref = min(P, args.sklearn_permutations)
        ref, t_ref = sklearn_loop(tree, n_ref, folds, seed, target="stimulus", binary=False)
        t_ref_full = t_ref * (P + 1) / (n_ref + 1)
        ours_all = np.concatenate([ours["accuracy"].values[:, None],
                                   ours["null_accuracy"].values[:, :n_ref]], axis=1)
        max_diff = float(np.max(np.abs(ours_all - ref)))
        print(f"K={K}: 30 sessions x 15 units x 200 trials, {folds} folds, {P} permutations, "
              f"device {args.device}")
        print(f"  neurolearn: {t_ours:.3f} s (best of {args.repeats}); scikit-learn loop "
              f"{t_ref:.1f} s for {n_ref + 1} label vectors/session -> {t_ref_full:.0f} s "
              f"for {P + 1} (scaled)")
        print(f"  speed-up: {t_ref_full / t_ours:.0f}x; max |accuracy difference| over "
              f"{ref.size} CV scores: {max_diff:.2e}; mean accuracy "
              f"{float(ours['accuracy'].mean()):.3f} (chance {1 / K:.3f})")


if __name__ == "__main__":
    main()
