"""``analyze`` on a study 10× the embedded one: one process vs a 2-worker Dask cluster.

Data: the synthetic study with 10× the mice (40 mice × 26 days). Ours, twice:
``analyze(study)`` in one process, and ``analyze(study,
scheduler=Client(LocalCluster(n_workers=2, threads_per_worker=1,
processes=True)))``. The cluster's start-up is not timed, and it includes
the workers importing neurolearn (``client.run``; 2-3 s a fresh worker
process otherwise spends inside the first step it runs); the results are
compared variable by variable.

Usage: python benchmarks/bench_distributed.py [--scale 10] [--permutations 1000]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from data_loaders import make_overtraining_dataset
from neurolearn.pipeline import analyze

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decoding import machine_name, run_conditions  # noqa: E402


def max_difference(a: xr.DataTree, b: xr.DataTree) -> float:
    """Largest absolute difference over every numeric variable of every node."""
    worst = 0.0
    for path, node in a.subtree_with_keys:
        other = b[path].to_dataset(inherit=False)
        for name, var in node.to_dataset(inherit=False).data_vars.items():
            if np.issubdtype(var.dtype, np.number):
                x, y = np.asarray(var.values, float), np.asarray(other[name].values, float)
                both = np.isfinite(x) & np.isfinite(y)
                if not np.array_equal(np.isfinite(x), np.isfinite(y)):
                    return float("inf")
                if both.any():
                    worst = max(worst, float(np.max(np.abs(x[both] - y[both]))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--permutations", type=int, default=1000)
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    study = make_overtraining_dataset(n_mice=4 * args.scale, seed=0)
    config = {"decoding": {"n_permutations": args.permutations}}
    t0 = time.perf_counter()
    one = analyze(study, config=config, progress=False)
    t_one = time.perf_counter() - t0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client:
        client.run(importlib.import_module, "neurolearn.pipeline")
        t0 = time.perf_counter()
        two = analyze(study, config=config, progress=False, scheduler=client)
        t_two = time.perf_counter() - t0
    diff = max_difference(one, two)
    n = one.attrs["n_sessions"]
    print(f"machine: {machine_name()}; {run_conditions()} (one process)")
    print(f"analyze, {n} sessions ({args.scale}x the embedded study), "
          f"{args.permutations} permutations")
    print(f"  one process: {t_one:.1f} s; LocalCluster(2 workers, processes): {t_two:.1f} s; "
          f"ratio {t_one / t_two:.2f}x; max |difference| over every variable {diff:.1e}")
    for key in ("timings",):
        print(f"  one process {key}: {one.attrs[key]}")
        print(f"  cluster     {key}: {two.attrs[key]}")


if __name__ == "__main__":
    main()
