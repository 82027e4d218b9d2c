"""A tracked study end to end, and decoder transfer against a scikit-learn loop, one run.

Data: ``make_tracked_dataset`` with 4 mice × 20 days (6 training, 14
overtraining) × 300 tracked cells (20 % missing each day) × 200 trials.

1. ``neurolearn.analyze`` on it with the default configuration (decoding with
   1,000 permutations, margins, ..., and ``/across_days``: decoder transfer
   over all 4 × 400 (train day, test day) pairs with 100 permutations each,
   learning vs drift, representational drift), with its per-step timings.
2. ``decoder_transfer`` without permutations on one mouse's 380 off-diagonal
   pairs against a loop that, per pair, z-scores each day, fits
   ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.5)`` on day d and
   scores day d′ (the same cells, the same order): time ratio, and the
   largest accuracy difference.

Usage: python benchmarks/bench_tracked.py [--skip-analyze]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from data_loaders.synthetic_tracked import make_tracked_dataset
from neurolearn.across_days import decoder_transfer
from neurolearn.pipeline import analyze
from neurolearn.tracking import common_tracks, select_tracks, tracked_sessions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decoding import machine_name, run_conditions  # noqa: E402


def sklearn_transfer(sessions) -> tuple[dict, float]:
    """Off-diagonal transfer accuracies by a scikit-learn loop, and its seconds."""
    out = {}
    t0 = time.perf_counter()
    for _, a in sessions:
        for _, b in sessions:
            if a is b:
                continue
            cells = common_tracks(a, b)
            Xa = StandardScaler().fit_transform(select_tracks(a, cells)["rates"].values)
            Xb = StandardScaler().fit_transform(select_tracks(b, cells)["rates"].values)
            model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.5)
            model.fit(Xa, a["label"].values)
            out[(int(a["day"][0]), int(b["day"][0]))] = model.score(Xb, b["label"].values)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-analyze", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine_name()}; {run_conditions()}")
    tree = make_tracked_dataset(n_mice=4, n_training_days=6, n_overtraining_days=14,
                                n_cells=300, trials_per_session=200, seed=0)
    if not args.skip_analyze:
        t0 = time.perf_counter()
        results = analyze(tree, progress=False)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        steps = json.loads(results.attrs["timings"])
        print(f"analyze, 4 mice x 20 days x 300 cells x 200 trials: {seconds:.1f} s "
              f"(peak resident memory of the process {peak:.0f} MiB)")
        print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    one = tree["A"]
    sessions = tracked_sessions(one)["A"]
    reference, ref_s = sklearn_transfer(sessions)
    t0 = time.perf_counter()
    ours = decoder_transfer(one, shrinkage=0.5, n_permutations=0, progress=False)
    ours_s = time.perf_counter() - t0
    diff = max(abs(float(ours["accuracy"].sel(mouse="A", train_day=d, test_day=e)) - acc)
               for (d, e), acc in reference.items())
    n_pairs = len(reference)
    print(f"decoder transfer, {n_pairs} off-diagonal pairs (+20 cross-validated diagonal "
          f"ones, 10 folds, ours only): neurolearn {ours_s:.2f} s, scikit-learn loop "
          f"{ref_s:.2f} s (off-diagonal only): {ref_s / ours_s:.1f}x; largest accuracy "
          f"difference {diff:.2g}")


if __name__ == "__main__":
    main()
