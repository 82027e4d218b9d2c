"""Command line: ``neurolearn analyze | demo | simulate | fit | formats``.

Thin: each command parses its options and calls a job of
:mod:`neurolearn.pipeline.jobs`. Errors end the command with one line
``neurolearn: error: …`` on stderr (the traceback only with ``--debug``):
exit status 2 for a usage error (a bad option, config or output folder), 1
for a data error (an unreadable file, a session the analyses cannot use),
130 when interrupted. An interrupted or failed run leaves no output behind.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog.split()[-1]}: {message}")


def _config(args: argparse.Namespace) -> Any:
    from neurolearn.pipeline import load_config

    config = load_config(args.config)
    changes: dict[str, Any] = {}
    if getattr(args, "permutations", None) is not None:
        changes["decoding__n_permutations"] = args.permutations
    if getattr(args, "folds", None) is not None:
        changes["decoding__n_folds"] = args.folds
        changes["margins__n_folds"] = args.folds
    if getattr(args, "seed", None) is not None:
        changes["seed"] = args.seed
    return config.replace(**changes) if changes else config


def _print_timings(timings: dict[str, float]) -> None:
    print("\nstep          seconds")
    for name, seconds in timings.items():
        print(f"{name:13s} {seconds:7.2f}")
    print(f"{'total':13s} {sum(timings.values()):7.2f}")


def _finish(result: Any, args: argparse.Namespace) -> int:
    if getattr(args, "timings", False):
        _print_timings(result.timings)
    if result.report is not None:
        print(f"\nreport: {result.report}")
    else:
        print("\nwrote: " + ", ".join(str(f) for f in result.files))
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from neurolearn.pipeline.jobs import run_analysis

    result = run_analysis(args.path, args.out, config=_config(args), format=args.format,
                          device=args.device, scheduler=args.scheduler, workers=args.workers,
                          overwrite=args.overwrite, progress=not args.no_progress,
                          events=args.events, tracks=args.tracks,
                          reader_options=_reader_options(args))
    return _finish(result, args)


def _pairs(text: str | None, option: str) -> dict[str, str]:
    """``"a=b,c=d"`` -> ``{"a": "b", "c": "d"}``."""
    if not text:
        return {}
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            from neurolearn.errors import ParameterError

            raise ParameterError(f"analyze: {option} takes name=value pairs separated by "
                                 f"commas; got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def _reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """The reader keywords given on the command line (see ``analyze --help``)."""
    options: dict[str, Any] = {}
    if args.columns:
        options["columns"] = _pairs(args.columns, "--columns")
    if args.label_field:
        options["label_field"] = args.label_field
    for key, value in _pairs(args.reader_option, "--reader-option").items():
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value  # a plain string
    return options


def _demo(args: argparse.Namespace) -> int:
    from neurolearn.pipeline.jobs import run_demo

    result = run_demo(args.out, config=_config(args), n_mice=args.n_mice,
                      n_training_days=args.training_days,
                      n_overtraining_days=args.overtraining_days, via_files=args.via_files,
                      device=args.device, scheduler=args.scheduler, workers=args.workers,
                      overwrite=args.overwrite, progress=not args.no_progress)
    return _finish(result, args)


def _simulate(args: argparse.Namespace) -> int:
    from neurolearn.pipeline.jobs import run_simulate

    result = run_simulate(args.out, gamma=args.gamma, loss=args.loss, epochs=args.epochs,
                          width=args.width, preset=args.preset, n_train=args.n_train,
                          seed=args.seed, device=args.device, overwrite=args.overwrite,
                          progress=not args.no_progress)
    return _finish(result, args)


def _fit(args: argparse.Namespace) -> int:
    from neurolearn.pipeline.jobs import run_fit

    free = tuple(p.strip() for p in args.free.split(",") if p.strip())
    result = run_fit(args.path, args.out, free=free, n_bootstrap=args.bootstrap,
                     maxfev=args.maxfev, compare=args.compare, seed=args.seed,
                     scheduler=args.scheduler, format=args.format, overwrite=args.overwrite,
                     progress=not args.no_progress)
    return _finish(result, args)


def _formats(args: argparse.Namespace) -> int:
    from data_loaders import list_formats

    for name, description in list_formats().items():
        print(f"{name:12s} {description}")
    return 0


def _common(p: argparse.ArgumentParser, *, out: str, device: bool = True) -> None:
    p.add_argument("--out", default=out, help="output folder (default: %(default)s)")
    if device:
        p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                       help="where decoders and SVMs run (cuda needs CuPy)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that is not an earlier neurolearn "
                        "output, replacing files of the same names (others are kept)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")


def _analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file with any analysis parameter (see "
                                    "neurolearn.pipeline.AnalysisConfig)")
    p.add_argument("--permutations", type=int, help="label permutations per session for the "
                                                    "decoding null (default 1000)")
    p.add_argument("--folds", type=int, help="cross-validation folds (default 10)")
    p.add_argument("--seed", type=int, help="seed of every random step (default 0)")
    p.add_argument("--scheduler", help="threads, processes, or a dask.distributed scheduler "
                                       "address (needs the dist extra)")
    p.add_argument("--timings", action="store_true", help="print the seconds of each step")


def _parser() -> argparse.ArgumentParser:
    from neurolearn.pipeline.jobs import FORMATS

    parser = _Parser(prog="neurolearn", description="Does a neural population keep learning "
                                                    "after behaviour has saturated?")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    analyze = sub.add_parser("analyze", help="analyse a recording: results.nc, figures, "
                                             "report.html")
    analyze.add_argument("path", help="a recording: a folder (Berners-Lee or NDT rasters, "
                                      "Suite2p or Kilosort/Phy output, a DANDI folder of NWB "
                                      "files) or an .nwb, CaImAn .hdf5, .npz or .nc file "
                                      "(see `neurolearn formats`)")
    analyze.add_argument("--format", default="auto", choices=FORMATS,
                         help="reader (default: from the path)")
    _analysis_options(analyze)
    _common(analyze, out="neurolearn-results")
    analyze.add_argument("--workers", type=int, default=1,
                         help="processes reading Berners-Lee raster files (default 1)")
    analyze.add_argument("--events", help="events table (CSV/TSV: time, stimulus, label, "
                                          "session, …) for Suite2p, CaImAn and Phy recordings")
    analyze.add_argument("--tracks", action="append",
                         help="cell identities across sessions: a ROICaT .pkl, CellReg .mat, "
                              "UnitMatch .mat or CSV (session, unit_id, track); one per animal "
                              "as MOUSE=FILE, repeated; adds the across-days analyses")
    analyze.add_argument("--columns", help="trial-table column renames for NWB, e.g. "
                                           "odor_on=time,odor=stimulus,rewarded=label")
    analyze.add_argument("--label-field", help="NDT rasters: the raster_labels field to decode")
    analyze.add_argument("--reader-option", help="further reader keywords, name=value pairs "
                                                 "(values as JSON where they parse), e.g. "
                                                 "signal=spks,iscell_threshold=0.5")
    analyze.set_defaults(func=_analyze)

    demo = sub.add_parser("demo", help="analyze the embedded synthetic study (planted truth)")
    demo.add_argument("--via-files", action="store_true",
                      help="write the study as Berners-Lee .mat files and load them back "
                           "through the real loader first (minutes)")
    demo.add_argument("--workers", type=int, default=1,
                      help="with --via-files: processes writing and reading the files "
                           "(default 1)")
    demo.add_argument("--n-mice", type=int, default=4, help="mice (default 4)")
    demo.add_argument("--training-days", type=int, default=8, help="default 8")
    demo.add_argument("--overtraining-days", type=int, default=18, help="default 18")
    _analysis_options(demo)
    _common(demo, out="neurolearn-demo")
    demo.set_defaults(func=_demo)

    simulate = sub.add_parser("simulate", help="train the gamma-network on the odour task and "
                                               "write its curves")
    simulate.add_argument("--gamma", type=float, default=1.0, help="richness (default 1)")
    simulate.add_argument("--loss", default="ce", choices=("ce", "hinge", "mse"))
    simulate.add_argument("--epochs", type=int, default=2000, help="default 2000")
    simulate.add_argument("--width", type=int, default=500, help="hidden units (default 500)")
    simulate.add_argument("--preset", default="paper", help="odour task preset (paper, data)")
    simulate.add_argument("--n-train", type=int, default=60, help="training mixtures")
    simulate.add_argument("--seed", type=int, default=0)
    _common(simulate, out="neurolearn-simulate")
    simulate.set_defaults(func=_simulate)

    fit = sub.add_parser("fit", help="fit the feature-learning model to a recording's day "
                                     "curves")
    fit.add_argument("path", nargs="?", help="recording (any format `formats` lists); "
                                             "default: the embedded synthetic study")
    fit.add_argument("--format", default="auto", choices=FORMATS)
    fit.add_argument("--free", default="gamma,epochs_per_day,readout_noise",
                     help="comma-separated parameters to fit (default: %(default)s)")
    fit.add_argument("--bootstrap", type=int, default=200,
                     help="bootstrap replicates for the CIs (default 200; 0 skips them)")
    fit.add_argument("--maxfev", type=int, default=80,
                     help="Nelder-Mead simulations per fit (default 80)")
    fit.add_argument("--compare", action="store_true",
                     help="also rank the lazy, rich-CE and rich-hinge models")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--scheduler", default="auto",
                     help="auto (Dask threads when installed), threads, processes, none, or a "
                          "scheduler address")
    _common(fit, out="neurolearn-fit", device=False)
    fit.set_defaults(func=_fit)

    formats = sub.add_parser("formats", help="list the recording formats load() reads")
    formats.set_defaults(func=_formats)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neurolearn`` console script; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the command line's).

    Returns
    -------
    int
    """
    from neurolearn.errors import DependencyError, NeurolearnError, ParameterError

    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"neurolearn: error: {_one_line(exc)} (see neurolearn --help)", file=sys.stderr)
        return 2
    debug = getattr(args, "debug", False)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("neurolearn: error: interrupted; no output was written", file=sys.stderr)
        return 130
    except (ParameterError, DependencyError) as exc:
        if debug:
            raise
        print(f"neurolearn: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (NeurolearnError, OSError) as exc:
        if debug:
            raise
        print(f"neurolearn: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            raise
        print(f"neurolearn: error: unexpected {type(exc).__name__}: {_one_line(exc)} (rerun "
              "with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
