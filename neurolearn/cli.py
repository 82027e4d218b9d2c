"""Command-line interface: ``neurolearn demo`` and ``neurolearn formats``."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from data_loaders import load_bernerslee, make_overtraining_dataset, write_bernerslee
    from neurolearn.behavior import days_to_criterion, performance
    from neurolearn.decoding import decode
    from neurolearn.plotting import plot_across_days, plot_behavior
    from neurolearn.schema import session_table, validate
    from neurolearn.summary import across_mice, phase_summary

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    t0 = time.perf_counter()
    tree = make_overtraining_dataset(n_mice=args.n_mice, n_training_days=args.training_days,
                                     n_overtraining_days=args.overtraining_days, seed=args.seed)
    n_sessions = session_table(tree).sizes["session"]
    print(f"generated {n_sessions} sessions from {args.n_mice} mice "
          f"({time.perf_counter() - t0:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="neurolearn-bernerslee-") as raw:
        files = write_bernerslee(tree, raw, seed=args.seed, progress=progress)
        print(f"wrote {len(files)} Berners-Lee unit files to a temporary directory")
        loaded = load_bernerslee(raw, progress=progress)
    validate(loaded)
    print(f"loaded and validated {session_table(loaded).sizes['session']} sessions "
          f"({time.perf_counter() - t0:.1f} s)")
    perf = performance(loaded)
    summary = across_mice(perf["fraction_correct"])
    table = summary.to_dataframe()[["phase", "mean", "sem", "n_mice"]]
    table.columns = ["phase", "fraction correct", "SE", "mice"]
    print("\nBehaviour per day (mean ± SE across mice):")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    criterion = days_to_criterion(perf["fraction_correct"])
    print("\nDays to 80% correct (2 days in a row): "
          + ", ".join(f"{m}: {d:g}" for m, d in zip(criterion["mouse"].values,
                                                      criterion.values, strict=True)))
    fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    plot_behavior(perf, ax=ax)
    png = out / "behavior.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    print(f"\nsaved {png}")

    t1 = time.perf_counter()
    res = decode(loaded, "lda", n_permutations=args.permutations, seed=args.seed,
                 progress=progress)
    print(f"\nDecoding target vs non-target: LDA, 10-fold CV, {args.permutations} "
          f"permutations per session ({time.perf_counter() - t1:.1f} s)")
    acc = across_mice(res["accuracy"])
    held = across_mice(res["heldout_accuracy"])
    rows = acc.to_dataframe()[["phase", "mean", "sem"]]
    rows.columns = ["phase", "CV accuracy", "SE"]
    rows["held-out accuracy"] = held["mean"].to_series()
    rows["sessions p<0.05"] = (res["pvalue"] < 0.05).groupby("day").sum().to_series()
    print(rows.to_string(float_format=lambda v: f"{v:.3f}"))
    phases = phase_summary(res["accuracy"])
    print("By phase: " + ", ".join(
        f"{p}: {m:.3f} ± {s:.3f}" for p, m, s in zip(
            phases["phase"].values, phases["mean"].values, phases["sem"].values, strict=True)))
    fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    plot_across_days(acc, ax=ax, label="CV accuracy (trained odours)", reference=0.5)
    plot_across_days(held, ax=ax, label="generalisation (held-out odours)", shade=False)
    ax.set_ylabel("decoding accuracy")
    ax.set_title("Population decoding")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    png = out / "decoding.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    res.to_netcdf(out / "decoding.nc", engine="h5netcdf")
    print(f"saved {png} and {out / 'decoding.nc'}")
    return 0


def _formats(args: argparse.Namespace) -> int:
    from data_loaders import list_formats

    for name, description in list_formats().items():
        print(f"{name:12s} {description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neurolearn`` console script."""
    parser = argparse.ArgumentParser(prog="neurolearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the pipeline on the embedded synthetic dataset")
    demo.add_argument("--out", default="neurolearn-demo", help="output directory")
    demo.add_argument("--n-mice", type=int, default=4, help="mice to simulate (default 4)")
    demo.add_argument("--training-days", type=int, default=8, help="default 8")
    demo.add_argument("--overtraining-days", type=int, default=18, help="default 18")
    demo.add_argument("--permutations", type=int, default=1000,
                      help="label permutations per session for the decoding null (default 1000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=_demo)
    formats = sub.add_parser("formats", help="list the recording formats load() reads")
    formats.set_defaults(func=_formats)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
