"""Reading and writing Berners-Lee raster files against bare SciPy loops, in one run.

Data: the embedded synthetic study (``make_overtraining_dataset``; ``--mice``
mice × 26 days, 4-30 units a session) written once by ``write_bernerslee`` as
compressed MATLAB v5 files, one per unit (200 trials × 17,000 ms each, as
the original recordings).

* **Reading.** Reference: a bare loop of ``scipy.io.loadmat`` and the
  window sum of the raster into 50 ms bins (what any reader must do at
  least). Ours: ``load_bernerslee(folder)``, the default call (label
  parsing, checks, near-duplicate detection, session assembly and the
  original study's preprocessing), in one process and with ``workers=2``.
  Throughput ratio = reference time / our time (≥ 0.5 asked in one
  process). Peak traced memory (``tracemalloc``) of one process against
  the size of one session's rasters and of the whole study's.
* **Writing.** Reference: a bare ``scipy.io.savemat`` loop writing the same
  variables (each read back from our file just before, untimed) with the same
  compression. Ours: ``write_bernerslee`` (spreading the binned counts over
  1 ms slots, building the labels, writing each file atomically), in one
  process and with ``workers=2``.

Each side is timed as the best of ``--repeats`` interleaved runs (the
machine's timings spread by ±30 %).

Usage: python benchmarks/bench_load.py [--mice 2] [--repeats 3] [--write]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.io as sio

from data_loaders import make_overtraining_dataset
from data_loaders.bernerslee import ONSET_COLUMN, load_bernerslee, write_bernerslee

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_decoding import machine_name  # noqa: E402


def _bare_read(files: list[Path]) -> float:
    """loadmat + the (-1, 2.5) s window summed into 50 ms bins, per file."""
    t0 = time.perf_counter()
    for f in files:
        raster = sio.loadmat(f)["raster_data"]
        window = raster[:, ONSET_COLUMN - 1000:ONSET_COLUMN + 2500]
        window.reshape(window.shape[0], -1, 50).sum(axis=2)
    return time.perf_counter() - t0


def _bare_write(files: list[Path], out: Path) -> float:
    """savemat of each file's own variables (read back first, untimed: one at a
    time, so the loop never holds more than one raster)."""
    total = 0.0
    for i, f in enumerate(files):
        variables = {k: v for k, v in sio.loadmat(f).items() if not k.startswith("__")}
        t0 = time.perf_counter()
        sio.savemat(out / f"{i}.mat", variables, do_compression=True, oned_as="column",
                    long_field_names=True)
        total += time.perf_counter() - t0
    return total


def _timed(func, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    func(*args, **kwargs)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mice", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    tree = make_overtraining_dataset(n_mice=args.mice, seed=0)
    work = Path(tempfile.mkdtemp(prefix="nl-bench-load-"))
    try:
        folder = work / "study"
        files = write_bernerslee(tree, folder, progress=False)
        n = len(files)
        raster_mb = sio.loadmat(files[0])["raster_data"].nbytes / 2**20
        largest = max(node.sizes["neuron"] for node in tree.leaves)
        t_bare = t_one = t_two = np.inf
        w_bare = w_one = w_two = np.inf
        for k in range(args.repeats):
            t_bare = min(t_bare, _bare_read(files))
            t_one = min(t_one, _timed(load_bernerslee, folder, progress=False))
            t_two = min(t_two, _timed(load_bernerslee, folder, workers=2, progress=False))
            for sub in ("bare", "one", "two"):
                shutil.rmtree(work / sub, ignore_errors=True)
                (work / sub).mkdir()
            w_bare = min(w_bare, _bare_write(files, work / "bare"))
            w_one = min(w_one, _timed(write_bernerslee, tree, work / "one", progress=False))
            w_two = min(w_two, _timed(write_bernerslee, tree, work / "two", workers=2,
                                      progress=False))
            print(f"run {k + 1}: read bare {t_bare:.2f} s, ours {t_one:.2f} s / {t_two:.2f} s "
                  f"(2 workers); write bare {w_bare:.2f} s, ours {w_one:.2f} s / {w_two:.2f} s",
                  flush=True)
        tracemalloc.start()
        load_bernerslee(folder, progress=False)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("read, 1 process", t_bare, t_one), ("read, 2 workers", t_bare, t_two),
        ("write, 1 process", w_bare, w_one), ("write, 2 workers", w_bare, w_two),
    ]
    print(f"{n} unit files of {raster_mb:.1f} MiB rasters ({args.mice} mice x 26 days); "
          f"peak traced memory of a 1-process load {peak:.0f} MiB (one raster {raster_mb:.1f} "
          f"MiB, the largest session's {largest * raster_mb:.0f} MiB, the study's "
          f"{n * raster_mb:.0f} MiB); {machine_name()}")
    lines = []
    for name, ref, ours in rows:
        print(f"{name}: neurolearn {ours:.2f} s, bare SciPy loop {ref:.2f} s, throughput "
              f"ratio {ref / ours:.2f}x; scaling 1 -> 2 workers "
              f"{(t_one / t_two if name.startswith('read') else w_one / w_two):.2f}x")
        lines.append(f"| {name}: {n} files | {ours:.2f} s | {ref:.2f} s | **{ref / ours:.2f}×** "
                     f"| {machine_name()} |\n")
    if args.write:
        with open(ROOT / "BENCHMARKS.md", "a") as fh:
            fh.writelines(lines)


if __name__ == "__main__":
    main()
