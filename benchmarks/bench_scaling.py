"""Growth curves of the decoding job: cost against sessions, units, trials and permutations.

``decode`` (LDA, 10-fold CV, a permutation null per session) on planted
Gaussian sessions (two classes 0.5 SD apart on every unit), one axis grown
at a time from the base workload of 30 sessions × 15 units × 200 trials ×
100 permutations:

* sessions 10 → 3,000; units 4 → 500; trials 100 → 3,000; permutations
  10 → 10,000.

For each size: wall time (best of ``--repeats``) and the peak of traced
memory (``tracemalloc``: every NumPy allocation) that decoding adds during
a separate run (the session data, allocated before, are not in it; their
size is printed beside it). The fitted exponent is the log-log
slope over the upper half of each axis (where fixed costs have faded).
Writes ``benchmarks/scaling.png`` (log-log, one panel per axis) and, with
``--write``, a table to BENCHMARKS.md.

Usage: python benchmarks/bench_scaling.py [--repeats 1] [--quick] [--write]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from neurolearn.decoding import decode
from neurolearn.decoding.engine import MEMORY_BUDGET
from neurolearn.schema import make_session, to_tree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_decoding import machine_name  # noqa: E402

BASE = {"sessions": 30, "units": 15, "trials": 200, "permutations": 100}
AXES = {
    "sessions": [10, 30, 100, 300, 1000, 3000],
    "units": [4, 8, 16, 32, 64, 128, 256, 500],
    "trials": [100, 200, 400, 800, 1600, 3000],
    "permutations": [10, 30, 100, 300, 1000, 3000, 10000],
}


def planted_study(sessions: int, units: int, trials: int, seed: int = 0):
    """Sessions of Gaussian trials, target class shifted by 0.5 SD on every unit."""
    rng = np.random.default_rng(seed)
    y = np.arange(trials) % 2
    nodes = [make_session(rng.normal(size=(trials, units)) + 0.5 * y[:, None],
                          stimulus=np.where(y == 1, "target", "nontarget"), label=y,
                          session=f"s{i:04d}", mouse=f"m{i % 4}", day=1 + i // 4,
                          phase="overtraining")
             for i in range(sessions)]
    return to_tree(nodes)


def measure(size: dict[str, int], repeats: int) -> tuple[float, float, float]:
    """(seconds, peak traced MiB, data MiB) of one decode at ``size``."""
    tree = planted_study(size["sessions"], size["units"], size["trials"])
    kwargs = {"n_permutations": size["permutations"], "n_folds": 10, "seed": 0,
              "progress": False}
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        decode(tree, **kwargs)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    decode(tree, **kwargs)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    data = 8 * size["sessions"] * size["units"] * size["trials"] / 2**20
    return best, peak, data


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Log-log slope over the upper half of the sizes."""
    half = len(sizes) // 2
    return float(np.polyfit(np.log(sizes[half:]), np.log(seconds[half:]), 1)[0])


def plot(results: dict[str, list[tuple[int, float, float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), constrained_layout=True)
    for ax, (axis, rows) in zip(axes, results.items(), strict=True):
        sizes = [r[0] for r in rows]
        seconds = [r[1] for r in rows]
        k = exponent(sizes, seconds)
        ax.loglog(sizes, seconds, "o-", label=f"decode (slope {k:.2f})")
        # A guide of slope 1 through the last point: linear growth.
        ax.loglog(sizes, seconds[-1] * np.asarray(sizes) / sizes[-1], ":", color="grey",
                  label="slope 1")
        ax.set_xlabel(axis)
        ax.set_title(f"{axis} (others at base)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("wall time (s)")
    base = " × ".join(f"{v} {k}" for k, v in BASE.items())
    fig.suptitle("neurolearn decode (LDA, 10 folds, permutation null): cost against each "
                 f"axis, the others at {base}; {machine_name()}", fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the first half of each axis")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    decode(planted_study(2, 4, 40), n_permutations=2, progress=False)  # import costs
    results: dict[str, list[tuple[int, float, float, float]]] = {}
    for axis, sizes in AXES.items():
        if args.quick:
            sizes = sizes[:max(3, len(sizes) // 2)]
        results[axis] = []
        for value in sizes:
            seconds, peak, data = measure({**BASE, axis: value}, args.repeats)
            results[axis].append((value, seconds, peak, data))
            print(f"{axis:>12} {value:>6}: {seconds:8.3f} s, peak traced {peak:7.1f} MiB "
                  f"(data {data:6.1f} MiB; budget {MEMORY_BUDGET / 2**20:.0f} MiB)", flush=True)
    plot(results, ROOT / "benchmarks" / "scaling.png")
    # (The session data are allocated before tracing starts: the peak is what
    # decoding adds on top of them, which the chunk budget bounds.)
    lines = ["| axis | sizes | time at the smallest → largest | fitted exponent | peak "
             "traced memory at the largest (its data) |\n", "| --- | --- | --- | --- | --- |\n"]
    for axis, rows in results.items():
        sizes, seconds = [r[0] for r in rows], [r[1] for r in rows]
        lines.append(f"| {axis} | {sizes[0]} → {sizes[-1]} | {seconds[0]:.3f} → "
                     f"{seconds[-1]:.2f} s | **{exponent(sizes, seconds):.2f}** | "
                     f"{rows[-1][2]:.0f} MiB ({rows[-1][3]:.0f} MiB) |\n")
    over = [(axis, r) for axis, rows in results.items() for r in rows
            if r[2] > MEMORY_BUDGET / 2**20 * 1.25]
    print("".join(lines))
    print("peak traced memory above 1.25 x the chunk budget at: "
          + (", ".join(f"{a}={r[0]}" for a, r in over) if over else "no size"))
    per_session = results["sessions"][-1][1] / results["sessions"][-1][0]
    print(f"a study 100x the embedded one (10,400 sessions) at the base shape: about "
          f"{per_session * 10_400:.0f} s on this machine; sessions are independent, so a "
          f"Dask cluster of k such machines divides that by about k")
    if args.write:
        with open(ROOT / "BENCHMARKS.md", "a") as fh:
            fh.writelines(lines)


if __name__ == "__main__":
    main()
