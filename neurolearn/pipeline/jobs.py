"""The jobs the command line runs: recording folder -> ``results.nc``, figures, ``report.html``.

Each job is a thin composition: load (``data_loaders``), :func:`analyze`,
then :func:`write_outputs` into an :class:`OutputFolder` (all files or none).
The CLI (:mod:`neurolearn.cli`) only parses arguments and calls these.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from neurolearn.backend import resolve_namespace
from neurolearn.errors import DependencyError, ParameterError
from neurolearn.params import Interval, check_params
from neurolearn.pipeline.analyze import analyze
from neurolearn.pipeline.config import load_config
from neurolearn.pipeline.output import OutputFolder
from neurolearn.report import make_figures, render_report, trend_sentence

__all__ = ["JobResult", "resolve_scheduler", "load_recording", "write_outputs", "run_analysis",
           "run_demo", "run_simulate", "run_fit", "FORMATS"]

#: Formats ``--format`` accepts; "auto" picks one from the path.
FORMATS = ("auto", "bernerslee", "ndt", "nwb", "suite2p", "caiman", "phy", "npz", "netcdf")
# Readers that compute rates at load time, and so take the preprocessing preset.
_PREPROCESSING_READERS = ("bernerslee", "nwb")


@dataclass
class JobResult:
    """What a job wrote: the result tree, the report and every file, with timings (s)."""

    results: xr.DataTree | xr.Dataset
    files: list[Path]
    report: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


def resolve_scheduler(spec: Any) -> Any:
    """``None`` / ``"threads"`` / ``"processes"`` / a scheduler address -> what analyses take.

    Parameters
    ----------
    spec : None, str or dask.distributed.Client
        ``"auto"`` (Dask threads if installed), a name of a local Dask
        scheduler, or the address of a
        ``dask.distributed`` scheduler (e.g. ``"tcp://10.0.0.2:8786"``), for
        which a ``Client`` is connected.

    Returns
    -------
    None, str or dask.distributed.Client
        What :func:`neurolearn.parallel.map_items` takes as ``scheduler``.

    Raises
    ------
    DependencyError
        If Dask (or ``dask.distributed`` for an address) is not installed.
    ParameterError
        If the address cannot be reached.
    """
    if spec is None or not isinstance(spec, str):
        return spec
    if spec in ("", "none"):
        return None
    if spec == "auto":  # Dask threads where Dask is installed (see map_items)
        return spec
    try:
        import dask  # noqa: F401
    except ImportError as exc:
        raise DependencyError(f"--scheduler {spec} needs Dask: pip install "
                              "'neurolearn[dist]'.") from exc
    if spec in ("threads", "processes", "synchronous", "sync"):
        return spec
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise DependencyError(f"--scheduler {spec} needs dask.distributed: pip install "
                              "'neurolearn[dist]'.") from exc
    try:
        return Client(spec, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError(f"--scheduler {spec}: cannot connect to a Dask scheduler there "
                             f"({exc}).") from exc


def load_recording(path: str | Path, *, format: str = "auto", config: Any = None,
                   workers: int = 1, progress: bool = True, events: Any = None,
                   tracks: Any = None, reader_options: dict[str, Any] | None = None
                   ) -> xr.DataTree:
    """Read a recording with the configuration's preprocessing.

    Parameters
    ----------
    path : path
        A folder of Berners-Lee raster files or an ``.nwb``, ``.npz`` or
        ``.nc`` file (see :func:`data_loaders.load`).
    format : str, default "auto"
        One of :data:`FORMATS`.
    config : AnalysisConfig, mapping, TOML path or None
        Its ``preprocessing`` section is used by readers that compute rates.
    workers : int, default 1
        Processes that read Berners-Lee raster files (other formats are read
        in this process).
    progress : bool, default True
    events : path or DataFrame, optional
        Events table for the formats without trials of their own (Suite2p,
        CaImAn, Phy; see :mod:`data_loaders.events`).
    tracks : path, DataFrame, or a list of them, optional
        Cell identities across sessions (ROICaT, CellReg, UnitMatch or CSV;
        see :func:`data_loaders.tracks.assign_tracks`); enables the
        across-days analyses. A tracker's file covers one animal: give one
        per animal as ``"MOUSE=path"`` (a bare path where the study has one
        animal, or for a CSV naming its sessions).
    reader_options : dict, optional
        Further keyword arguments of the reader (e.g. ``columns`` for NWB,
        ``label_field`` for NDT rasters, ``signal`` for Suite2p).

    Returns
    -------
    DataTree
        One session per node at ``/<mouse>/<session>``, validated
        (:mod:`neurolearn.schema`), with ``rates`` computed by the preset.

    Raises
    ------
    LoaderError
        For a missing path, an unknown format or an unreadable file.
    ParameterError
        For an unknown ``format``.
    """
    from data_loaders import EVENT_FORMATS, detect_format, load
    from data_loaders.tracks import assign_tracks

    if format not in FORMATS:
        raise ParameterError(f"--format must be one of {', '.join(FORMATS)}; got {format!r}.")
    config = load_config(config)
    path = Path(path)
    fmt = None if format == "auto" else format
    guessed = fmt or detect_format(path)
    kwargs: dict[str, Any] = dict(reader_options or {})
    if guessed in _PREPROCESSING_READERS:
        kwargs.update(preset=config.preprocessing.preset, **config.preprocessing.overrides)
    if guessed == "bernerslee":
        kwargs.update(progress=progress, workers=workers)
    if events is not None:
        if guessed not in EVENT_FORMATS:
            raise ParameterError(f"--events is for {', '.join(EVENT_FORMATS)} recordings; "
                                 f"{path} is read as {guessed}, which has its own trials.")
        kwargs["events"] = events
    tree = load(path, format=guessed, **kwargs)
    if tracks is None:
        return tree
    for item in tracks if isinstance(tracks, (list, tuple)) else [tracks]:
        mouse, source = _mouse_and_source(item)
        tree = assign_tracks(tree, source, mouse=mouse)
    return tree


def _mouse_and_source(item: Any) -> tuple[str | None, Any]:
    """``"M1=cellreg.mat"`` -> ("M1", "cellreg.mat"); a bare path or a table -> (None, it)."""
    if isinstance(item, (str, Path)) and not Path(item).exists() and "=" in str(item):
        mouse, _, source = str(item).partition("=")
        return mouse.strip(), source.strip()
    return None, item


def write_outputs(results: xr.DataTree, out: OutputFolder, *, progress: bool = False
                  ) -> dict[str, Path]:
    """Stage ``results.nc``, ``figures/*.png`` and ``report.html`` in ``out``.

    Parameters
    ----------
    results : DataTree
        From :func:`neurolearn.pipeline.analyze`.
    out : OutputFolder
        The folder the files are staged in (moved into place on success).
    progress : bool, default False

    Returns
    -------
    dict
        ``"results"``, ``"report"`` and one entry per figure -> staged path.
    """
    with tqdm(total=3, desc="writing outputs", disable=not progress, unit="file") as bar:
        results.to_netcdf(out.path("results.nc"), engine="h5netcdf")
        bar.update(1)
        figures = make_figures(results, out.folder("figures"))
        bar.update(1)
        report = render_report(results, out.path("report.html"), figures=figures)
        bar.update(1)
    return {"results": out.path("results.nc"), "report": report, **figures}


def _key_findings(results: xr.DataTree) -> list[str]:
    trends = results["trends"].to_dataset(inherit=False)
    return [trend_sentence(trends, m, label) for m, label in (
        ("fraction_correct", "Behaviour (fraction correct)"),
        ("accuracy", "Decoding accuracy"),
        ("heldout_accuracy", "Generalisation to held-out odours"),
        ("heldout_margin", "The held-out margin"))]


def run_analysis(data: xr.DataTree | str | Path, out: str | Path, *, config: Any = None,
                 format: str = "auto", device: str = "cpu", scheduler: Any = None,
                 workers: int = 1, overwrite: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print, source: str | None = None,
                 events: Any = None, tracks: Any = None,
                 reader_options: dict[str, Any] | None = None) -> JobResult:
    """Load (if given a path), analyse and write every output into ``out``, or nothing.

    Parameters
    ----------
    data : DataTree or path
        A study tree, or a recording path for :func:`load_recording`.
    out : path
        Output folder (see :class:`OutputFolder` for what is refused).
    config : AnalysisConfig, mapping, TOML path or None
    format : str, default "auto"
    device : {"cpu", "cuda"}, default "cpu"
    scheduler : None, str or Client
        See :func:`resolve_scheduler`.
    workers : int, default 1
        Processes that read the recording's files (Berners-Lee rasters; see
        :func:`data_loaders.load_bernerslee`).
    overwrite : bool, default False
    progress : bool, default True
    log : callable, default print
        Receives one line per stage.
    source : str, optional
        The input's name in the results (default: the path, or the tree's
        ``source`` attribute).
    events, tracks, reader_options
        See :func:`load_recording` (paths only).

    Returns
    -------
    JobResult
        The result tree, the final report path and every file written.
    """
    check_params({"workers": workers}, {"workers": [Interval("int", 1, None)]},
                 where="analyze")
    config = load_config(config)
    timings: dict[str, float] = {}
    folder = OutputFolder(out, overwrite=overwrite)
    folder.check()  # refuse a foreign folder before any work is done
    resolve_namespace(device)  # a missing CuPy, likewise
    resolved = resolve_scheduler(scheduler)
    try:
        t0 = time.perf_counter()
        fmt = None
        if isinstance(data, (str, Path)):
            path, fmt = str(data), format
            data = load_recording(data, format=format, config=config, workers=workers,
                                  progress=progress, events=events, tracks=tracks,
                                  reader_options=reader_options)
            timings["load"] = round(time.perf_counter() - t0, 3)
            log(f"loaded {_n_sessions(data)} sessions from {path} ({timings['load']:.1f} s)")
            source = source or path
        if fmt == "auto":
            fmt = str(data.attrs.get("format", "auto"))
        results = analyze(data, config=config, device=device, scheduler=resolved,
                          progress=progress, source=source, source_format=fmt)
    finally:
        _close_if_owned(resolved, scheduler)
    timings.update(json.loads(results.attrs["timings"]))
    t1 = time.perf_counter()
    with folder:
        write_outputs(results, folder, progress=progress)
        written = folder.staged()
    timings["write"] = round(time.perf_counter() - t1, 3)
    for line in _key_findings(results):
        log(line)
    return JobResult(results, [(folder.directory / f).resolve() for f in written],
                     (folder.directory / "report.html").resolve(), timings)


def _close_if_owned(resolved: Any, spec: Any) -> None:
    """Close a Client that :func:`resolve_scheduler` connected for an address."""
    if resolved is not spec and hasattr(resolved, "close"):
        resolved.close()


def _n_sessions(tree: xr.DataTree) -> int:
    from neurolearn.schema import session_table

    return int(session_table(tree).sizes["session"])


def run_demo(out: str | Path, *, config: Any = None, n_mice: int = 4,
             n_training_days: int = 8, n_overtraining_days: int = 18, via_files: bool = False,
             device: str = "cpu", scheduler: Any = None, workers: int = 1,
             overwrite: bool = False, progress: bool = True,
             log: Callable[[str], None] = print) -> JobResult:
    """:func:`run_analysis` on the embedded synthetic study (planted ground truth).

    Parameters
    ----------
    out : path
    config : AnalysisConfig, mapping, TOML path or None
        Its ``seed`` also seeds the synthetic study.
    n_mice, n_training_days, n_overtraining_days : int
        Size of the study (default: the original study's 4 mice, 8 + 18 days).
    via_files : bool, default False
        Write the study as Berners-Lee raster ``.mat`` files to a temporary
        folder and load it back through the real loader first (about 1,900
        files: minutes, not seconds).
    device, scheduler, workers, overwrite, progress, log
        As in :func:`run_analysis` (``workers`` also write the files).

    Returns
    -------
    JobResult
        The result tree, ``report.html`` and every file written, with the
        per-step timings (s).
    """
    check_params({"n_mice": n_mice, "n_training_days": n_training_days,
                  "n_overtraining_days": n_overtraining_days, "workers": workers},
                 {"n_mice": [Interval("int", 1, None)],
                  "n_training_days": [Interval("int", 0, None)],
                  "n_overtraining_days": [Interval("int", 0, None)],
                  "workers": [Interval("int", 1, None)]}, where="demo")
    if n_training_days + n_overtraining_days < 1:
        raise ParameterError("demo: the study needs at least one day "
                             "(--training-days + --overtraining-days >= 1).")
    config = load_config(config)
    OutputFolder(out, overwrite=overwrite).check()
    resolve_namespace(device)
    resolved = resolve_scheduler(scheduler)
    try:
        return _demo(out, config, n_mice, n_training_days, n_overtraining_days, via_files,
                     device, resolved, workers, overwrite, progress, log)
    finally:
        _close_if_owned(resolved, scheduler)


def _demo(out: str | Path, config: Any, n_mice: int, n_training_days: int,
          n_overtraining_days: int, via_files: bool, device: str, scheduler: Any,
          workers: int, overwrite: bool, progress: bool, log: Callable[[str], None]
          ) -> JobResult:
    from data_loaders import make_overtraining_dataset, write_bernerslee
    from neurolearn.preprocess import preprocess

    t0 = time.perf_counter()
    tree = make_overtraining_dataset(n_mice=n_mice, n_training_days=n_training_days,
                                     n_overtraining_days=n_overtraining_days, preprocess=False,
                                     seed=config.seed, progress=progress)
    if not via_files:
        p = config.preprocessing
        tree = preprocess(tree, preset=p.preset, **p.overrides)
        log(f"generated the embedded synthetic study: {_n_sessions(tree)} sessions from "
            f"{n_mice} mice ({time.perf_counter() - t0:.1f} s)")
        return run_analysis(tree, out, config=config, device=device, scheduler=scheduler,
                            overwrite=overwrite, progress=progress, log=log,
                            source="embedded synthetic study (data_loaders.synthetic)")
    with tempfile.TemporaryDirectory(prefix="neurolearn-bernerslee-") as raw:
        files = write_bernerslee(tree, raw, seed=config.seed, workers=workers,
                                 progress=progress)
        log(f"wrote the embedded synthetic study as {len(files)} Berners-Lee unit files "
            f"({time.perf_counter() - t0:.1f} s)")
        return run_analysis(raw, out, config=config, format="bernerslee", device=device,
                            scheduler=scheduler, workers=workers, overwrite=overwrite,
                            progress=progress,
                            log=log, source="embedded synthetic study, written as Berners-Lee "
                                            "raster files and read back")


def run_simulate(out: str | Path, *, gamma: float = 1.0, loss: str = "ce", epochs: int = 2000,
                 width: int = 500, preset: str = "paper", n_train: int = 60, seed: int = 0,
                 device: str = "cpu", overwrite: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> JobResult:
    """Train the γ-network on the odour task; write its curves (``curves.nc``) and figures.

    Parameters
    ----------
    out : path
    gamma : float, default 1.0
        Richness γ.
    loss : {"ce", "hinge", "mse"}, default "ce"
    epochs : int, default 2000
        Full-batch epochs (train far past 100 % accuracy).
    width : int, default 500
        Hidden units.
    preset : str, default "paper"
        Odour task preset (:data:`neurolearn.models.PRESETS`).
    n_train : int, default 60
        Training mixtures.
    seed : int, default 0
    device, overwrite, progress, log
        As in :func:`run_analysis`.

    Returns
    -------
    JobResult
        The curves (Dataset over epochs), the files written and the timings (s).
    """
    from neurolearn import models
    from neurolearn.plotting import plot_model_curves

    if preset not in models.PRESETS:
        raise ParameterError(f"--preset must be one of {sorted(models.PRESETS)}; got "
                             f"{preset!r}.")
    if loss not in models.LOSSES:
        raise ParameterError(f"--loss must be one of {list(models.LOSSES)}; got {loss!r}.")
    for name, value in (("gamma", gamma), ("epochs", epochs), ("width", width)):
        if not value > 0:
            raise ParameterError(f"--{name} must be > 0; got {value!r}.")
    folder = OutputFolder(out, overwrite=overwrite)
    folder.check()
    resolve_namespace(device)
    t0 = time.perf_counter()
    task = models.make_odour_task(**models.PRESETS[preset], n_train=n_train, seed=seed)
    run = models.train(task, gamma=gamma, width=width, loss=loss, n_epochs=epochs, seed=seed,
                       device=device, progress=progress)
    run.attrs["task_preset"] = preset
    elapsed = time.perf_counter() - t0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with folder:
        run.to_netcdf(folder.path("curves.nc"), engine="h5netcdf")
        fig = plot_model_curves(run)
        fig.savefig(folder.path("figures/curves.png"), dpi=110)
        plt.close(fig)
    full = run.where(run["train_accuracy"] >= 1.0, drop=True)
    first = int(full["epoch"].values[0]) if full.sizes["epoch"] else None
    last = run.isel(epoch=-1)
    log(f"trained gamma={gamma:g} ({loss}) for {epochs} epochs in {elapsed:.1f} s; "
        + (f"100 % training accuracy from epoch {first}; " if first is not None else
           "training accuracy never reached 100 %; ")
        + f"final test accuracy {float(last['test_accuracy']):.3f}, hidden margin "
          f"{float(last['hidden_margin']):.3f}")
    files = [(folder.directory / f).resolve() for f in ("curves.nc", "figures/curves.png")]
    return JobResult(run, files, None, {"train": round(elapsed, 3)})


def run_fit(path: str | Path | None, out: str | Path, *, free: tuple[str, ...],
            n_bootstrap: int = 200, maxfev: int = 80, compare: bool = False, seed: int = 0,
            scheduler: Any = "auto", format: str = "auto", overwrite: bool = False,
            progress: bool = True, log: Callable[[str], None] = print) -> JobResult:
    """Fit the feature-learning model to a recording's day curves (see ``fit.fit_model``).

    Parameters
    ----------
    path : path or None
        A recording (see :func:`load_recording`); None fits the embedded
        synthetic study (4 mice, 4 training + 6 overtraining days).
    out : path
    free : tuple of str
        Parameters to fit (subset of :data:`neurolearn.fit.PARAMETERS`).
    n_bootstrap : int, default 200
        Bootstrap replicates for the CIs (0: none).
    maxfev : int, default 80
        Nelder–Mead simulations.
    compare : bool, default False
        Also rank the lazy, rich-CE and rich-hinge models.
    seed : int, default 0
    scheduler, format, overwrite, progress, log
        As in :func:`run_analysis`.

    Returns
    -------
    JobResult
        The fit's result Dataset, the files written and the timings (s).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from data_loaders import make_overtraining_dataset
    from neurolearn.fit import PARAMETERS, compare_models, fit_model, session_measures
    from neurolearn.plotting import plot_model_fit

    bad = [p for p in free if p not in PARAMETERS]
    if bad or not free:
        raise ParameterError(f"--free: unknown parameter(s) {bad or list(free)}; choose from "
                             f"{', '.join(PARAMETERS)}.")
    for name, value in (("bootstrap", n_bootstrap), ("maxfev", maxfev)):
        if value < 0:
            raise ParameterError(f"--{name} must be >= 0; got {value}.")
    folder = OutputFolder(out, overwrite=overwrite)
    folder.check()
    resolved = resolve_scheduler(scheduler)
    if path is not None:
        data = load_recording(path, format=format, progress=progress)
        log(f"loaded {path}")
    else:
        data = make_overtraining_dataset(n_mice=4, n_training_days=4, n_overtraining_days=6,
                                         seed=seed)
        log("no recording given: fitting the embedded synthetic study (4 mice, 4 training + 6 "
            "overtraining days)")
    t0 = time.perf_counter()
    per_session = session_measures(data, seed=seed)
    try:
        res = fit_model(per_session, free=free, n_bootstrap=n_bootstrap, seed=seed,
                        maxfev=maxfev, scheduler=resolved, progress=progress)
        comparison = (compare_models(per_session, seed=seed, maxfev=maxfev,
                                     scheduler=resolved, progress=progress)
                      if compare else None)
    finally:
        _close_if_owned(resolved, scheduler)
    elapsed = time.perf_counter() - t0
    log(f"fit in {elapsed:.0f} s; loss {float(res['loss']):.3f} (mean squared error in SDs of "
        "each measure)")
    log(f"{'parameter':16s} {'estimate':>10s} {'95% CI':>22s}")
    for p in res["parameter"].values:
        row = res.sel(parameter=p)
        ci = ("fixed" if not bool(row["free"]) else "-" if not n_bootstrap else
              f"[{float(row['ci_low']):.3g}, {float(row['ci_high']):.3g}]")
        log(f"{p:16s} {float(row['estimate']):10.3g} {ci:>22s}")
    if comparison is not None:
        log("model comparison (best first):")
        for name in comparison["model"].values:
            row = comparison.sel(model=name)
            log(f"  {name:12s} loss {float(row['loss']):.3f}  BIC {float(row['bic']):.1f}")
    with folder:
        res.to_netcdf(folder.path("fit.nc"), engine="h5netcdf")
        plot_model_fit(res)
        plt.savefig(folder.path("fit.png"), dpi=110)
        plt.close("all")
        if comparison is not None:
            comparison.to_netcdf(folder.path("model_comparison.nc"), engine="h5netcdf")
            plot_model_fit(comparison)
            plt.savefig(folder.path("model_comparison.png"), dpi=110)
            plt.close("all")
        written = folder.staged()
    files = [(folder.directory / f).resolve() for f in written]
    return JobResult(res, files, None, {"fit": round(elapsed, 3)})
