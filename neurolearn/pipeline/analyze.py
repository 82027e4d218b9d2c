"""``analyze``: the whole study's analysis as one call, composed from the analysis modules.

Nothing here computes an analysis: each step calls the function that does
(:func:`~neurolearn.behavior.performance`, :func:`~neurolearn.decoding.decode`,
:func:`~neurolearn.margins.heldout_margin`, ...) with the configuration's
parameters and files its result under one node of the result tree.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from neurolearn._version import __version__
from neurolearn.across_days import across_days
from neurolearn.behavior import days_to_criterion, performance
from neurolearn.decoding import decode
from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.geometry import class_similarity, first_vs_last_days
from neurolearn.margins import heldout_margin, svm_margin
from neurolearn.parallel import for_transfer, map_items, n_parallel, split_evenly
from neurolearn.pipeline.config import AnalysisConfig, load_config
from neurolearn.preprocess import preprocess
from neurolearn.schema import (
    animal_coord,
    check_classes,
    iter_sessions,
    session_info,
    session_table,
    to_tree,
    validate,
)
from neurolearn.separation import dprime, fisher_separation
from neurolearn.summary import across_mice, phase_summary, stimulus_flips
from neurolearn.tracking import has_tracks
from neurolearn.trends import day_trend

__all__ = ["analyze", "MEASURES", "package_versions"]

#: Per-session measures that get a trend and a day summary: (node, variable, description).
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("behaviour", "fraction_correct", "behaviour (fraction correct)"),
    ("decoding", "accuracy", "decoding accuracy (CV)"),
    ("decoding", "heldout_accuracy", "generalisation to held-out odours"),
    ("margins", "heldout_margin", "held-out margin"),
    ("margins", "margin_mean", "hard SVM margin (separable sessions)"),
    ("margins", "fraction_separable", "fraction linearly separable"),
    ("separation", "fisher_J", "Fisher discriminant J"),
    ("separation", "dprime", "d′ along the decoder axis"),
    ("separation", "between", "target–non-target similarity (r)"),
    ("separation", "separation", "within − between similarity"),
)


def package_versions() -> dict[str, str]:
    """Versions of neurolearn, Python and the numerical stack (for results' attrs).

    Returns
    -------
    dict
        Package name → version string.

    Examples
    --------
    >>> sorted(package_versions())
    ['neurolearn', 'numpy', 'python', 'scipy', 'sklearn', 'xarray']
    """
    import scipy
    import sklearn

    return {"neurolearn": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__,
            "xarray": xr.__version__}


def _ready(tree: Any, config: AnalysisConfig) -> xr.DataTree:
    """Validate; preprocess sessions that hold only spike counts; leave out unusable ones.

    Sessions the analyses cannot use (one class, fewer trials per class than
    folds) stop the analysis with an error naming them, or, with
    ``config.skip_insufficient``, are left out and added to the root's
    ``dropped_sessions`` with the reason.
    """
    if isinstance(tree, xr.Dataset):
        tree = to_tree([tree])
    if not isinstance(tree, xr.DataTree):
        raise SchemaError(f"analyze needs an xarray.DataTree of sessions (or one session "
                          f"Dataset); got {type(tree).__name__}.")
    validate(tree, require_rates=False)
    if not all("rates" in ds.data_vars for _, ds in iter_sessions(tree)):
        p = config.preprocessing
        tree = preprocess(tree, preset=p.preset, **p.overrides)
    folds = max(config.decoding.n_folds, config.margins.n_folds)
    kept, left_out = [], []
    for path, ds in iter_sessions(tree):
        try:
            check_classes(ds, min_per_class=folds)
        except InsufficientDataError as exc:
            if not config.skip_insufficient:
                raise InsufficientDataError(f"{exc} (Set skip_insufficient = true in the "
                                            "config to leave such sessions out.)") from exc
            left_out.append({"path": path, "reason": str(exc)})
        else:
            kept.append(ds)
    if not left_out:
        return tree
    if not kept:
        raise InsufficientDataError("no session has two classes with enough trials each; "
                                    f"first: {left_out[0]['reason']}")
    attrs = dict(tree.attrs)
    attrs["dropped_sessions"] = json.dumps(json.loads(attrs.get("dropped_sessions", "[]"))
                                           + left_out)
    return to_tree(kept, attrs=attrs)


def _behaviour(tree: xr.DataTree, config: AnalysisConfig) -> tuple[xr.Dataset, xr.Dataset]:
    """Per-session performance, and (dim ``mouse``) days to criterion."""
    c = config.behaviour
    perf = performance(tree, include_heldout=c.include_heldout)
    criterion = days_to_criterion(perf["fraction_correct"], criterion=c.criterion,
                                  n_consecutive=c.n_consecutive)
    return perf, criterion.to_dataset()


def _decoding(tree: xr.DataTree, config: AnalysisConfig, *, device: Any, scheduler: Any,
              progress: bool) -> xr.Dataset:
    c = config.decoding
    return decode(tree, c.method, n_folds=c.n_folds, n_permutations=c.n_permutations,
                  seed=config.seed, device=device, progress=progress, shrinkage=c.shrinkage,
                  alpha=c.alpha, C=c.C, scheduler=scheduler, target=c.target,
                  heldout=c.heldout)


def _protocol(tree: xr.DataTree, config: AnalysisConfig, *, device: Any, scheduler: Any,
              progress: bool) -> xr.Dataset:
    """The original study's decoding of probe and repeat types (``protocol="bernerslee2023"``)."""
    c = config.decoding
    return decode(tree, protocol=c.protocol, n_folds=c.n_folds,
                  n_permutations=c.n_permutations, seed=config.seed, device=device,
                  progress=progress, scheduler=scheduler)


def _margins(tree: xr.DataTree, config: AnalysisConfig, *, device: Any, scheduler: Any,
             progress: bool) -> xr.Dataset:
    c = config.margins
    held = heldout_margin(tree, n_units=c.n_units, n_subsamples=c.n_subsamples,
                          n_folds=c.n_folds, C=c.C, seed=config.seed, device=device,
                          progress=progress, scheduler=scheduler)
    hard = svm_margin(tree, n_units=c.svm_n_units, n_subsamples=c.svm_n_subsamples,
                      seed=config.seed, device=device, progress=progress, scheduler=scheduler)
    # Both have a `subsample` dim (of different sizes) and an `n_unconverged`:
    # the hard margin's are renamed.
    hard = hard.rename(subsample="svm_subsample", n_unconverged="svm_n_unconverged",
                       converged="svm_converged", status="svm_status")
    out = xr.merge([held, hard], compat="override", join="exact", combine_attrs="drop")
    out.attrs = {"heldout_margin": json.dumps(held.attrs), "svm_margin": json.dumps(hard.attrs)}
    return out


def _separation(tree: xr.DataTree, config: AnalysisConfig, *, device: Any, scheduler: Any,
                **_: Any) -> xr.Dataset:
    """Fisher J, d′ and class similarity; by groups of sessions on a scheduler's
    workers (CPU), each measure being per session (seeded by its name)."""
    if scheduler is None or device != "cpu":
        return _separation_of(tree, config, device=device)
    sessions = list(iter_sessions(tree))
    sent = for_transfer([ds for _, ds in sessions], "rates", scheduler)
    # A few groups per worker thread: each starts as soon as it has arrived
    # (measured on 2 workers, 1,038 sessions: 2.5 s in eight groups, 2.9 s in two).
    k = 4 * n_parallel(scheduler)
    groups = [dict(zip(paths, datasets, strict=True)) for paths, datasets in
              zip(split_evenly([path for path, _ in sessions], k), split_evenly(sent, k),
                  strict=True)]
    parts = map_items(_separation_of_group, groups, scheduler=scheduler, progress=False,
                      config=config)
    out = xr.concat(parts, dim="session", data_vars="all", coords="minimal",
                    compat="override", combine_attrs="override")
    return out.sel(session=[str(ds["session"].values[0]) for _, ds in sessions])


def _separation_of_group(sessions: dict[str, xr.Dataset], *, config: AnalysisConfig
                         ) -> xr.Dataset:
    """:func:`_separation_of` of a {path: session} group (on a worker)."""
    return _separation_of(xr.DataTree.from_dict(sessions), config, device="cpu")


def _separation_of(tree: xr.DataTree, config: AnalysisConfig, *, device: Any) -> xr.Dataset:
    c = config.separation
    fisher = fisher_separation(tree, shrinkage=c.fisher_shrinkage, seed=config.seed)
    d = dprime(tree, config.decoding.method, n_folds=config.decoding.n_folds, seed=config.seed,
               device=device, shrinkage=config.decoding.shrinkage, alpha=config.decoding.alpha,
               C=config.decoding.C)
    sim = class_similarity(tree)
    # Each measure's per-session `status` ("ok" or why it is NaN) becomes a
    # variable of its own, so the two do not collide.
    fisher_ds = fisher.to_dataset().reset_coords("status").rename(status="fisher_status")
    d_ds = d.to_dataset().reset_coords("status").rename(status="dprime_status")
    out = xr.merge([fisher_ds, d_ds, sim], compat="override",
                   join="exact", combine_attrs="drop")
    out.attrs = {"fisher_separation": json.dumps(fisher.attrs), "dprime": json.dumps(d.attrs),
                 "class_similarity": json.dumps(sim.attrs)}
    return out


def _first_vs_last(separation: xr.Dataset, config: AnalysisConfig) -> xr.Dataset:
    """Per mouse (dim ``mouse``): between-class similarity on its first and last days."""
    phase = config.trends.phase
    between = separation["between"]
    if phase is not None:
        between = between.where(between["phase"] == phase, drop=True)
    change = first_vs_last_days(between, n_days=config.separation.n_days)
    change.attrs.update(phase=phase or "all")
    return change


def _flips(tree: xr.DataTree, decoding: xr.Dataset, config: AnalysisConfig) -> xr.Dataset:
    c = config.flips
    flips = stimulus_flips(decoding["stimulus_accuracy"], n_days=c.n_days,
                           threshold=c.threshold)
    heldout_names: set[str] = set()
    for _, ds in iter_sessions(tree):
        if "heldout" in ds.coords:
            mask = np.asarray(ds["heldout"].values, bool)
            heldout_names.update(np.asarray(ds["stimulus"].values)[mask].astype(str))
    heldout = np.array([str(s) in heldout_names for s in flips["stimulus"].values])
    return flips.assign_coords(heldout=("stimulus", heldout))


def _across_days(tree: xr.DataTree, config: AnalysisConfig, *, scheduler: Any,
                 progress: bool, **_: Any) -> xr.Dataset:
    c = config.across_days
    return across_days(tree, n_permutations=c.n_permutations, n_folds=config.decoding.n_folds,
                       seed=config.seed, method=c.method, shrinkage=c.shrinkage,
                       min_cells=c.min_cells, scheduler=scheduler, progress=progress)


def _trends(nodes: dict[str, xr.Dataset], config: AnalysisConfig) -> xr.Dataset:
    c = config.trends
    rows, names, labels, per_mouse, reasons = [], [], [], [], {}
    keys = ("slope", "ci_low", "ci_high", "pvalue", "spearman_rho", "n_sessions", "n_mice",
            "slope_sd", "detectable_slope")
    for node, var, label in MEASURES:
        if node not in nodes or var not in nodes[node]:
            continue
        try:
            trend = day_trend(nodes[node][var], method=c.method, phase=c.phase,
                              n_boot=c.n_boot, n_permutations=c.n_permutations,
                              confidence=c.confidence, seed=config.seed)
        except InsufficientDataError as exc:
            rows.append([np.nan] * len(keys))
            reasons[var] = str(exc)
        else:
            rows.append([float(trend[k]) if k in trend else np.nan for k in keys])
            if "mouse_slope" in trend:
                per_mouse.append(trend["mouse_slope"].rename(var))
        names.append(var)
        labels.append(label)
    values = np.array(rows, dtype=float).reshape(len(names), len(keys))
    data = {k: ("measure", values[:, i]) for i, k in enumerate(keys)}
    for k in ("n_sessions", "n_mice"):
        data[k] = ("measure", np.nan_to_num(values[:, keys.index(k)]).astype(np.int64))
    out = xr.Dataset(data, coords={
        "measure": np.array(names, dtype=object),
        "description": ("measure", np.array(labels, dtype=object)),
        "node": ("measure", np.array([n for n, v, _ in MEASURES if v in names], dtype=object))})
    if per_mouse:
        slopes = xr.merge(per_mouse, join="outer", compat="override", combine_attrs="drop")
        out["mouse_slope"] = slopes.to_array("measure").reindex(measure=out["measure"])
    method = ("one-sample t-test of per-mouse OLS slopes across mice (df = mice - 1)"
              if c.method == "two_stage" else
              "pooled OLS slope; bootstrap over sessions; permutation of day labels")
    out.attrs = {"method": method, "unit": "mice" if c.method == "two_stage" else "sessions",
                 "phase": c.phase or "all", "n_boot": c.n_boot,
                 "n_permutations": c.n_permutations, "confidence": c.confidence,
                 "seed": config.seed, "not_computed": json.dumps(reasons)}
    return out


def _summaries(nodes: dict[str, xr.Dataset]) -> tuple[xr.Dataset, xr.Dataset]:
    by_day, by_phase, names = [], [], []
    for node, var, _ in MEASURES:
        if node not in nodes or var not in nodes[node]:
            continue
        per_session = nodes[node][var]
        day = across_mice(per_session)
        by_day.append(day[["mean", "sem", "n_mice"]].assign_coords(phase=day["phase"]))
        by_phase.append(phase_summary(per_session))
        names.append(var)
    measure = xr.DataArray(np.array(names, dtype=object), dims="measure", name="measure")
    day = xr.concat(by_day, dim=measure, join="outer", coords="minimal", compat="override",
                    combine_attrs="drop")
    day["n_mice"] = day["n_mice"].fillna(0).astype(np.int64)
    phase = xr.concat(by_phase, dim=measure, join="outer", combine_attrs="drop")
    phase["n_mice"] = phase["n_mice"].fillna(0).astype(np.int64)
    note = "mean over a mouse's sessions per day (phase), then mean ± SE across mice"
    day.attrs, phase.attrs = {"aggregation": note}, {"aggregation": note}
    return day, phase


def _dropped(tree: xr.DataTree) -> tuple[list[dict], list[dict]]:
    """Every unit and trial the loader or preprocessing left out, with its reason."""
    units, trials = [], []
    for _, ds in iter_sessions(tree):
        session = str(ds["session"].values[0])
        for entry in json.loads(ds.attrs.get("near_duplicate_units", "[]")):
            units.append({"session": session, "unit_id": entry["unit_id"],
                          "reason": f"near-duplicate of {entry['duplicate_of']} "
                                    f"(cosine {entry['cosine']})"})
        for entry in json.loads(ds.attrs.get("dropped_units", "[]")):
            units.append({"session": session, **entry})
        dropped_trials = json.loads(ds.attrs.get("dropped_trials", "[]"))
        if dropped_trials:
            trials.append({"session": session, "n_trials": len(dropped_trials),
                           "trials": [d["trial"] for d in dropped_trials],
                           "reason": dropped_trials[0]["reason"]})
    return units, trials


def _preprocessing_record(tree: xr.DataTree) -> str:
    if "preprocessing" in tree.attrs:
        return str(tree.attrs["preprocessing"])
    for _, ds in iter_sessions(tree):
        return str(ds.attrs.get("preprocessing", "not recorded"))
    return "not recorded"


def _animal_as_mouse(tree: Any) -> tuple[Any, str]:
    """The study with its animal coordinate named ``mouse`` (every analysis's name for
    it), and the name it had, so results can be given back the input's name."""
    animal = animal_coord(tree)
    for _, ds in iter_sessions(tree):
        info = session_info(ds)
        missing = [k for k in ("day", "phase") if info[k] is None]
        if missing:
            raise SchemaError(
                f"{info['session']}: analyze follows a study across days and phases, and this "
                f"session has no {' or '.join(f'`{m}`' for m in missing)}. Give them (e.g. "
                "day=, phase= to the reader), or run the per-session analyses directly: "
                "neurolearn.decode, neurolearn.margins.heldout_margin, neurolearn.geometry.")
    if animal == "mouse":
        return tree, animal

    def rename(ds: xr.Dataset) -> xr.Dataset:
        return ds.rename({"subject": "mouse"}) if "subject" in ds.variables else ds

    if isinstance(tree, xr.Dataset):
        return rename(tree), animal
    return tree.map_over_datasets(rename), animal


def _animal_back(results: xr.DataTree, animal: str) -> xr.DataTree:
    if animal == "mouse":
        return results

    def rename(ds: xr.Dataset) -> xr.Dataset:
        names = {n: animal for n in ("mouse",) if n in ds.variables or n in ds.dims}
        return ds.rename(names) if names else ds

    out = results.map_over_datasets(rename)
    out.attrs = dict(results.attrs, animal=animal)
    return out


def _step(name: str, func: Callable[[], Any], timings: dict[str, float], bar: Any) -> Any:
    bar.set_postfix_str(name)
    t0 = time.perf_counter()
    result = func()
    timings[name] = round(time.perf_counter() - t0, 3)
    bar.update(1)
    return result


def _is_cluster(scheduler: Any) -> bool:
    """Whether ``scheduler`` is a ``dask.distributed`` Client (tasks from many threads)."""
    return hasattr(scheduler, "submit") and hasattr(scheduler, "gather")


def _independent_steps(steps: dict[str, Callable[[], Any]], timings: dict[str, float],
                       overlapping: dict[str, float], bar: Any, *, at_once: bool,
                       may_skip: dict[str, type[Exception]]) -> dict[str, Any]:
    """Run steps that depend only on the sessions; ``{name: result}``, where a step
    in ``may_skip`` that raised the error named there has the error as its result.

    ``at_once`` (a ``dask.distributed`` Client): each step is called from a
    thread of its own, so every step's tasks reach the cluster together and
    the workers do not wait while this process scatters a step's sessions
    or assembles its results (measured on 2 cores, the 10x study: about
    0.6 s of idle workers per step). Their times then overlap: ``timings``
    gets one entry for them all (its key their names), ``overlapping`` each
    step's own time.
    """
    def run(name: str) -> Any:
        t0 = time.perf_counter()
        try:
            return steps[name]()
        except Exception as exc:
            if name in may_skip and isinstance(exc, may_skip[name]):
                return exc
            raise
        finally:
            elapsed[name] = round(time.perf_counter() - t0, 3)
            bar.update(1)

    elapsed: dict[str, float] = {}
    t_all = time.perf_counter()
    if not at_once:
        done = {}
        for name in steps:
            bar.set_postfix_str(name)
            done[name] = run(name)
        timings.update(elapsed)
        return done
    bar.set_postfix_str(", ".join(steps))
    with ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="neurolearn-step") as pool:
        futures = {name: pool.submit(run, name) for name in steps}
        try:
            done = {name: future.result() for name, future in futures.items()}
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
    timings[", ".join(steps)] = round(time.perf_counter() - t_all, 3)
    overlapping.update(elapsed)
    return done


def _file(nodes: dict[str, xr.Dataset], skipped: dict[str, str], name: str, result: Any
          ) -> None:
    """File a step's result under ``name``, or (an error) why it was skipped."""
    if isinstance(result, Exception):
        skipped[name] = str(result)
    else:
        nodes[name] = result


def analyze(tree: xr.DataTree | xr.Dataset, *, config: Any = None, device: Any = "cpu",
            scheduler: Any = None, progress: bool = True, source: str | None = None,
            source_format: str | None = None) -> xr.DataTree:
    """Run the whole analysis of a study and return every result in one DataTree.

    Steps (each the library function named, with the configuration's
    parameters): behaviour (:func:`~neurolearn.behavior.performance`,
    :func:`~neurolearn.behavior.days_to_criterion`); decoding with a
    permutation null and generalisation (:func:`~neurolearn.decoding.decode`);
    the held-out margin at a fixed unit count and the hard SVM margin
    (:func:`~neurolearn.margins.heldout_margin`,
    :func:`~neurolearn.margins.svm_margin`); separation (Fisher J, d′,
    target–non-target similarity); stimulus flips; the overtraining trend of
    every per-session measure (:func:`~neurolearn.trends.day_trend`); and
    per-day and per-phase summaries across mice.

    Parameters
    ----------
    tree : DataTree or Dataset
        Sessions in the canonical layout (:mod:`neurolearn.schema`). Sessions
        holding only ``binned`` spike counts are preprocessed with
        ``config.preprocessing`` first.
    config : AnalysisConfig, mapping, TOML path or None
        Every parameter (see :class:`~neurolearn.pipeline.config.AnalysisConfig`);
        None: the defaults.
    device : {"cpu", "cuda"} or array namespace, default "cpu"
        Where decoders and SVMs run ("cuda" needs CuPy).
    scheduler : None, str or dask.distributed.Client
        How sessions and SVM batches are spread (see
        :func:`neurolearn.parallel.map_items`); None: in this process.
    progress : bool, default True
        Progress bars over the steps and within the long ones.
    source, source_format : str, optional
        The input path and format, recorded in the result's attrs.

    Returns
    -------
    DataTree
        Nodes ``/sessions``, ``/behaviour``, ``/decoding``, (with
        ``decoding.protocol = "bernerslee2023"``) ``/bernerslee2023``, ``/margins``,
        ``/separation``, ``/flips``, (where sessions carry a ``track``
        coordinate) ``/across_days`` (:func:`~neurolearn.across_days.across_days`),
        ``/trends`` (dim ``measure``: slope per
        day, CI, permutation p, Spearman ρ, sessions) and ``/summary/by_day``
        (dims measure × day: mean, sem, n_mice) and ``/summary/by_phase``.
        Per-session variables have dim ``session`` with ``mouse``, ``day`` and
        ``phase`` coordinates; a study whose animal coordinate is ``subject``
        gets ``subject`` back in every node (and ``attrs["animal"]``). Root
        ``attrs``: ``config`` and ``versions`` (JSON), ``source``, ``format``,
        ``preprocessing``, ``dropped_units``, ``dropped_trials``,
        ``dropped_sessions`` (JSON lists with reasons), ``skipped``
        (analyses not run, with reasons), ``started``, ``finished``,
        ``run_time_s`` and ``timings`` (JSON, s per step; with a
        ``dask.distributed`` Client the steps that need only the sessions —
        decoding, margins, separation, ... — run at once and share one entry,
        their own overlapping times in ``concurrent_timings``).

    Raises
    ------
    SchemaError, InsufficientDataError, ParameterError
        For data not in the canonical layout, sessions the analyses cannot
        use (one class, too few trials), or a bad configuration.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> study = make_overtraining_dataset(n_mice=2, n_training_days=1,
    ...                                   n_overtraining_days=3, seed=1)
    >>> results = analyze(study, config={"decoding": {"n_permutations": 20},
    ...                                  "margins": {"n_subsamples": 2},
    ...                                  "trends": {"n_boot": 50, "n_permutations": 50}},
    ...                   progress=False)
    >>> sorted(results.children)
    ['behaviour', 'decoding', 'flips', 'margins', 'separation', 'sessions', 'summary', 'trends']
    >>> results["decoding"]["accuracy"].dims
    ('session',)
    """
    config = load_config(config)
    tree, animal = _animal_as_mouse(tree)
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    skipped: dict[str, str] = {}
    kw = {"device": device, "scheduler": scheduler, "progress": progress}
    at_once = _is_cluster(scheduler)
    overlapping: dict[str, float] = {}
    tracked = config.across_days.run and has_tracks(tree)
    steps = 8 + (config.decoding.protocol != "default") + tracked
    with tqdm(total=steps, desc="analysis", disable=not progress, unit="step") as bar:
        tree = _step("validate", lambda: _ready(tree, config), timings, bar)
        nodes: dict[str, xr.Dataset] = {"sessions": session_table(tree)}
        # Steps that need only the sessions: run in turn, or at once on a
        # cluster (see _independent_steps).
        # (Concurrent steps' inner progress bars would interleave: the steps' bar only.)
        kw = dict(kw, progress=progress and not at_once)
        independent: dict[str, Callable[[], Any]] = {
            "behaviour": lambda: _behaviour(tree, config),
            "decoding": lambda: _decoding(tree, config, **kw)}
        if config.decoding.protocol != "default":
            independent["protocol"] = lambda: _protocol(tree, config, **kw)
        independent["margins"] = lambda: _margins(tree, config, **kw)
        independent["separation"] = lambda: _separation(tree, config, **kw)
        if tracked:
            independent["across_days"] = lambda: _across_days(tree, config, **kw)
        done = _independent_steps(independent, timings, overlapping, bar, at_once=at_once,
                                  may_skip={"behaviour": SchemaError,
                                            "protocol": InsufficientDataError,
                                            "across_days": InsufficientDataError})
        if isinstance(done["behaviour"], SchemaError):  # no `correct`: no behaviour to report
            skipped["behaviour"] = str(done["behaviour"])
        else:
            nodes["behaviour"], nodes["behaviour/criterion"] = done["behaviour"]
        nodes["decoding"] = done["decoding"]
        if "protocol" in done:
            _file(nodes, skipped, config.decoding.protocol, done["protocol"])
        nodes["margins"] = done["margins"]
        nodes["separation"] = done["separation"]
        try:
            nodes["separation/first_vs_last"] = _first_vs_last(nodes["separation"], config)
        except InsufficientDataError as exc:
            skipped["separation/first_vs_last"] = str(exc)
        nodes["flips"] = _step("flips", lambda: _flips(tree, nodes["decoding"], config), timings,
                               bar)
        if "across_days" in done:  # (InsufficientDataError: e.g. no pair of days shares cells)
            _file(nodes, skipped, "across_days", done["across_days"])
        nodes["trends"] = _step("trends", lambda: _trends(nodes, config), timings, bar)
        by_day, by_phase = _step("summary", lambda: _summaries(nodes), timings, bar)
    units, trials = _dropped(tree)
    table = nodes["sessions"]
    attrs = {
        "title": "neurolearn analysis",
        "source": source or str(tree.attrs.get("source", "in-memory DataTree")),
        "format": source_format or str(tree.attrs.get("format", "unknown")),
        "config": config.to_json(),
        "versions": json.dumps(package_versions()),
        "preprocessing": _preprocessing_record(tree),
        "dropped_units": json.dumps(units),
        "dropped_trials": json.dumps(trials),
        "dropped_sessions": str(tree.attrs.get("dropped_sessions", "[]")),
        "skipped": json.dumps(skipped),
        "n_sessions": int(table.sizes["session"]),
        "n_mice": int(np.unique(table["mouse"].values.astype(str)).size),
        "device": device if isinstance(device, str) else getattr(device, "__name__", "?"),
        "scheduler": "in-process" if scheduler is None else str(scheduler),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_time_s": round(time.perf_counter() - t_start, 3),
        "timings": json.dumps(timings),
    }
    if overlapping:
        attrs["concurrent_timings"] = json.dumps(overlapping)
    if "generator" in tree.attrs:
        attrs["generator"] = str(tree.attrs["generator"])
    out = xr.DataTree.from_dict({f"/{name}": ds for name, ds in nodes.items()}
                                | {"/summary/by_day": by_day, "/summary/by_phase": by_phase})
    out.attrs = attrs
    return _animal_back(out, animal)
