"""Family-wise error and power of decode_time's tests over time bins, on planted studies.

Each study: 6 mice × 1 session of 60 trials (two balanced classes), 5 units
of Poisson counts (3 spikes per 50 ms bin), 12 bins. Under the null the
classes do not differ; with ``--signal s`` the units' rates differ by ±s
spikes per bin between the classes in bins 4–7 only. ``decode_time`` runs
LDA with 5 folds and 99 permutations per session.

Reported: the fraction of null sessions with any bin at p ≤ 0.05
(uncorrected, max-statistic, cluster) and of null studies with any
significant group cluster (the family-wise error), and the same fractions
within the planted window with a signal (power).

Usage: python benchmarks/cluster_error_rates.py [--studies 500] [--signal 0.35]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neurolearn.decoding import decode_time
from neurolearn.schema import make_session, to_tree


def study(rng: np.random.Generator, signal: float, n_mice: int = 6, n_trials: int = 60,
          n_units: int = 5, n_bins: int = 12, window: tuple[int, int] = (4, 8)):
    sessions = []
    for m in range(n_mice):
        y = np.arange(n_trials) % 2
        rng.shuffle(y)
        lam = np.full((n_trials, n_units, n_bins), 3.0)
        sign = (np.arange(n_units) % 2 * 2 - 1)[None, :, None]
        lam[:, :, window[0]:window[1]] += signal * (2 * y[:, None, None] - 1) * sign
        binned = rng.poisson(np.clip(lam, 0.1, None)).astype(float)
        sessions.append(make_session(
            binned=binned, time=np.arange(n_bins) * 0.05, bin_size=0.05,
            stimulus=np.where(y, "t", "n"), label=y, session=f"m{m}-d01", mouse=f"m{m}",
            day=1, phase="overtraining"))
    return to_tree(sessions)


def rates(n_studies: int, signal: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    bins = slice(4, 8) if signal else slice(None)
    hits = {"uncorrected": 0, "max-statistic": 0, "cluster": 0, "group cluster": 0}
    n_sessions = 0
    for s in range(n_studies):
        res = decode_time(study(rng, signal), n_folds=5, n_permutations=99, seed=s,
                          progress=False)
        for key, var in (("uncorrected", "pvalue"), ("max-statistic", "pvalue_max"),
                         ("cluster", "cluster_pvalue")):
            hits[key] += int(np.sum(np.any(res[var].values[:, bins] <= 0.05, axis=1)))
        hits["group cluster"] += int(np.any(res["group_cluster_pvalue"].values[bins] <= 0.05))
        n_sessions += res.sizes["session"]
    return {k: v / (n_studies if k == "group cluster" else n_sessions)
            for k, v in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=500)
    parser.add_argument("--signal", type=float, default=0.35)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t0 = time.perf_counter()
    null = rates(args.studies, 0.0, args.seed)
    power = rates(args.studies, args.signal, args.seed + 1)
    se = np.sqrt(0.05 * 0.95 / (6 * args.studies))
    print(f"{args.studies} studies x 6 sessions; binomial SE at 0.05: {se:.4f} (sessions), "
          f"{np.sqrt(0.05 * 0.95 / args.studies):.4f} (studies); {time.perf_counter() - t0:.0f} s")
    print("| test | family-wise error (null) | power (planted window, signal "
          f"{args.signal:g}) |")
    print("| --- | --- | --- |")
    for key in null:
        print(f"| {key} | {null[key]:.3f} | {power[key]:.3f} |")


if __name__ == "__main__":
    main()
