"""Command-line interface: ``neurolearn demo``, ``neurolearn fit`` and ``neurolearn formats``."""

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
    from neurolearn.errors import InsufficientDataError
    from neurolearn.margins import heldout_margin, svm_margin
    from neurolearn.plotting import plot_across_days, plot_behavior
    from neurolearn.schema import session_table, validate
    from neurolearn.summary import across_mice, phase_summary
    from neurolearn.trends import day_trend

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

    t2 = time.perf_counter()
    held = heldout_margin(loaded, n_units=4, n_subsamples=10, seed=args.seed, progress=progress)
    hard = svm_margin(loaded, seed=args.seed, progress=progress)
    print(f"\nMargins ({time.perf_counter() - t2:.1f} s)")
    try:
        trend = day_trend(held["heldout_margin"], seed=args.seed)
        print(f"held-out margin at 4 units: overtraining slope {float(trend['slope']):+.4f}/day, "
              f"95% CI [{float(trend['ci_low']):+.4f}, {float(trend['ci_high']):+.4f}], "
              f"permutation p = {float(trend['pvalue']):.4f} "
              f"({int(trend['n_sessions'])} sessions)")
    except InsufficientDataError as exc:
        print(f"held-out margin: no trend ({exc})")
    separable = phase_summary(hard["fraction_separable"])
    print("sessions linearly separable (all units): " + ", ".join(
        f"{p}: {m:.2f}" for p, m in zip(separable["phase"].values, separable["mean"].values,
                                        strict=True)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    plot_across_days(across_mice(held["heldout_margin"]), ax=axes[0],
                     label="held-out margin (4 units)")
    axes[0].set_ylabel("mean distance / within-class SD")
    axes[0].set_title("Held-out margin")
    plot_across_days(across_mice(hard["fraction_separable"]), ax=axes[1],
                     label="fraction separable (all units)")
    axes[1].set_ylabel("fraction of sessions separable")
    axes[1].set_title("Linear separability")
    png = out / "margins.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    print(f"saved {png}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from data_loaders import load, make_overtraining_dataset
    from neurolearn.fit import PARAMETERS, compare_models, fit_model, session_measures
    from neurolearn.plotting import plot_model_fit

    free = tuple(p.strip() for p in args.free.split(",") if p.strip())
    bad = [p for p in free if p not in PARAMETERS]
    if bad or not free:
        print(f"unknown parameter(s) {bad}; choose from {list(PARAMETERS)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    if args.path:
        data = load(args.path)
        print(f"loaded {args.path}")
    else:
        data = make_overtraining_dataset(n_mice=4, n_training_days=4, n_overtraining_days=6,
                                         seed=args.seed)
        print("no recording given: fitting the embedded synthetic study "
              "(4 mice, 4 training + 6 overtraining days)")
    t0 = time.perf_counter()
    per_session = session_measures(data, seed=args.seed)
    res = fit_model(per_session, free=free, n_bootstrap=args.bootstrap, seed=args.seed,
                    maxfev=args.maxfev, progress=progress)
    print(f"fit in {time.perf_counter() - t0:.0f} s; loss {float(res['loss']):.3f} "
          f"(mean squared error in SDs of each measure)")
    print(f"{'parameter':16s} {'estimate':>10s} {'95% CI':>22s}")
    for p in res["parameter"].values:
        row = res.sel(parameter=p)
        ci = (f"[{float(row['ci_low']):.3g}, {float(row['ci_high']):.3g}]"
              if bool(row["free"]) and args.bootstrap else "fixed" if not bool(row["free"])
              else "-")
        print(f"{p:16s} {float(row['estimate']):10.3g} {ci:>22s}")
    res.to_netcdf(out / "fit.nc")
    plot_model_fit(res)
    plt.savefig(out / "fit.png", dpi=120)
    plt.close("all")
    print(f"saved {out / 'fit.nc'} and {out / 'fit.png'}")
    if args.compare:
        comparison = compare_models(per_session, seed=args.seed, maxfev=args.maxfev,
                                    progress=progress)
        print("model comparison (best first):")
        for name in comparison["model"].values:
            row = comparison.sel(model=name)
            print(f"  {name:12s} loss {float(row['loss']):.3f}  BIC {float(row['bic']):.1f}")
        comparison.to_netcdf(out / "model_comparison.nc")
        plot_model_fit(comparison)
        plt.savefig(out / "model_comparison.png", dpi=120)
        plt.close("all")
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
    fit = sub.add_parser("fit", help="fit the feature-learning model to a recording's day "
                                     "curves")
    fit.add_argument("path", nargs="?", help="recording (any format `formats` lists); "
                                             "default: the embedded synthetic study")
    fit.add_argument("--free", default="gamma,epochs_per_day,readout_noise",
                     help="comma-separated parameters to fit (default: %(default)s)")
    fit.add_argument("--bootstrap", type=int, default=200,
                     help="bootstrap replicates for the CIs (default 200; 0 skips them)")
    fit.add_argument("--maxfev", type=int, default=80,
                     help="Nelder-Mead simulations per fit (default 80)")
    fit.add_argument("--compare", action="store_true",
                     help="also rank the lazy, rich-CE and rich-hinge models")
    fit.add_argument("--out", default="neurolearn-fit", help="output directory")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--no-progress", action="store_true", help="hide progress bars")
    fit.set_defaults(func=_fit)
    formats = sub.add_parser("formats", help="list the recording formats load() reads")
    formats.set_defaults(func=_formats)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
