"""Reader and writer for the Berners-Lee et al. (2023) per-unit raster files.

One MATLAB file per unit and session (Neural Decoding Toolbox layout):

``raster_data``
    n_trials × 17000 array of 0/1 spikes in 1 ms bins; odour onset at column
    5001 (1-based), odour on for 2 s.
``raster_labels``
    struct with per-trial cell arrays (an empty cell: no value for that trial)
    ``stimulus_category_with_probes`` ∈ {target, nontarget, probes_comp_1..3},
    ``stimulus_category_with_nontarg_repeats`` ∈ {target, nontarget nonrepeat,
    nontarget repeat one|two|three} (absent in sessions without repeats),
    ``correct_vs_error`` ∈ {correct, error}, ``lick_choice`` ∈ {right, left,
    no lick}, ``all_licks_port_one`` / ``all_licks_port_two`` (lick times), and
    scalars ``mouse_name`` (str) and ``day_of_behavior`` (int).

A session is every unit file with the same (mouse, day). A session with
probes or repeats is an overtraining session (the study kept those in their
own folder).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import sparse
from tqdm.auto import tqdm

from data_loaders._matfile import read_mat, write_mat
from neurolearn._version import __version__
from neurolearn.errors import LoaderError, ParameterError
from neurolearn.params import Interval, check_params
from neurolearn.preprocess import (
    DEFAULT_PRESET,
    gather_preprocessed,
    preprocess_session,
    resolve_preset,
)
from neurolearn.schema import iter_sessions, make_session, session_info, to_tree

__all__ = ["load_bernerslee", "write_bernerslee", "DEFAULT_LABEL_MAP", "ONSET_COLUMN",
           "N_COLUMNS"]

logger = logging.getLogger("neurolearn")

ONSET_COLUMN = 5000  # 0-based column of odour onset (column 5001 in MATLAB)
N_COLUMNS = 17000
_PROBES_FIELD = "stimulus_category_with_probes"
_REPEATS_FIELD = "stimulus_category_with_nontarg_repeats"
_TRIAL_FIELDS = (_PROBES_FIELD, _REPEATS_FIELD, "correct_vs_error", "lick_choice")
_LICK_FIELDS = ("all_licks_port_one", "all_licks_port_two")

#: Class of each stimulus category: probes contain the target odorant.
DEFAULT_LABEL_MAP: dict[str, int] = {
    "target": 1, "nontarget": 0, "nontarget nonrepeat": 0, "nontarget repeat one": 0,
    "nontarget repeat two": 0, "nontarget repeat three": 0, "probes_comp_1": 1,
    "probes_comp_2": 1, "probes_comp_3": 1,
}


class _UnitFile:
    """One parsed unit file, reduced to what a session needs."""

    def __init__(self, path: Path, bin_edges_ms: np.ndarray):
        try:
            raw = read_mat(path)
        except Exception as exc:  # scipy/h5py raise many types for a bad file
            raise LoaderError(f"{path}: cannot read as a MATLAB v5 or v7.3 file "
                              f"(truncated or corrupt?): {exc}") from exc
        for key in ("raster_data", "raster_labels"):
            if key not in raw:
                raise LoaderError(f"{path}: missing variable `{key}`; not a Berners-Lee "
                                  "raster file.")
        labels = raw["raster_labels"]
        if not isinstance(labels, dict):
            raise LoaderError(f"{path}: `raster_labels` must be a struct.")
        raster = np.asarray(raw["raster_data"])
        if raster.ndim == 1:
            raster = raster[None, :]
        if raster.ndim != 2 or raster.dtype.kind not in "biuf":
            raise LoaderError(f"{path}: `raster_data` must be a numeric n_trials × n_ms "
                              f"matrix; got shape {raster.shape}, dtype {raster.dtype}.")
        needed = ONSET_COLUMN + int(bin_edges_ms[-1])
        if raster.shape[1] < needed:
            raise LoaderError(f"{path}: `raster_data` has {raster.shape[1]} columns; the "
                              f"requested time window (to {bin_edges_ms[-1] / 1000:g} s after "
                              f"onset at column {ONSET_COLUMN + 1}) needs {needed}.")
        if not _non_negative_counts(raster):
            raise LoaderError(f"{path}: `raster_data` must hold non-negative spike counts.")
        for key in ("mouse_name", "day_of_behavior", _PROBES_FIELD):
            if key not in labels:
                raise LoaderError(f"{path}: `raster_labels.{key}` is missing.")
        self.path = path
        self.n_trials = raster.shape[0]
        self.mouse = str(labels["mouse_name"])
        try:
            self.day = int(labels["day_of_behavior"])
        except (TypeError, ValueError) as exc:
            raise LoaderError(f"{path}: `raster_labels.day_of_behavior` must be an integer; "
                              f"got {labels['day_of_behavior']!r}.") from exc
        self.fields: dict[str, list[Any]] = {}
        for key in _TRIAL_FIELDS + _LICK_FIELDS:
            if key in labels:
                values = labels[key]
                if not isinstance(values, list) or len(values) != self.n_trials:
                    n = len(values) if isinstance(values, list) else 1
                    raise LoaderError(f"{path}: `raster_labels.{key}` has {n} entries but "
                                      f"`raster_data` has {self.n_trials} trials.")
                self.fields[key] = values
        start, stop = ONSET_COLUMN + bin_edges_ms[0], ONSET_COLUMN + bin_edges_ms[-1]
        bin_ms = int(bin_edges_ms[1] - bin_edges_ms[0])
        # MATLAB files store columns first, so scipy hands back a Fortran-ordered
        # raster: work on its transpose (ms × trials, C-contiguous), where the
        # window is one contiguous block and the flat index needs no copy.
        by_ms = raster.T
        self.binned = by_ms[start:stop].reshape(-1, bin_ms, self.n_trials).sum(
            axis=1, dtype=np.int64).T
        # Column-major positions of the spikes, the same order for every unit
        # whatever its memory layout (only compared between units).
        self.spike_index = _nonzero_positions(by_ms)
        self.total_spikes = float(by_ms.reshape(-1)[self.spike_index].sum(dtype=np.float64))


def _non_negative_counts(raster: np.ndarray) -> bool:
    """Whether every entry is finite and ≥ 0, in one or two reductions (no
    temporary the raster's size): NaN propagates into the minimum."""
    if raster.size == 0 or raster.dtype.kind in "bu":
        return True
    if raster.dtype.kind == "i":
        return bool(raster.min() >= 0)
    return bool(raster.min() >= 0 and np.isfinite(raster.max()))


def _nonzero_positions(a: np.ndarray) -> np.ndarray:
    """``np.flatnonzero(a)``, faster on sparse byte arrays (1 ms spike rasters
    are ~99 % zeros): eight bytes are tested at once as one 64-bit word, and
    only the nonzero words are looked into."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype.itemsize != 1 or flat.size % 8:
        return np.flatnonzero(flat)
    words = np.flatnonzero(flat.view(np.uint64))
    word, byte = np.nonzero(flat.reshape(-1, 8)[words])
    return words[word] * 8 + byte


def _read_unit(path: Path, bin_edges_ms: np.ndarray) -> _UnitFile:
    """One unit file parsed (module level, so worker processes can run it)."""
    return _UnitFile(path, bin_edges_ms)


def _read_units(files: list[Path], bin_edges_ms: np.ndarray, *, workers: int,
                progress: bool) -> Iterator[_UnitFile]:
    """Parse every file, in ``workers`` processes when more than one (reading
    and decompressing a file is pure CPU work, and each process sends back
    only the binned counts and spike positions, not the raster). Yields the
    units in file order as they are parsed."""
    with (ProcessPoolExecutor(max_workers=workers) if workers > 1
          else contextlib.nullcontext()) as pool:
        parsed = (map(_read_unit, files, repeat(bin_edges_ms)) if pool is None else
                  pool.map(_read_unit, files, repeat(bin_edges_ms),
                           chunksize=max(1, min(16, len(files) // (4 * workers)))))
        yield from tqdm(parsed, total=len(files), desc="reading unit files",
                        disable=not progress)


def _sessions_as_read(units: Iterable[_UnitFile],
                      build: Callable[[list[_UnitFile]], xr.Dataset]) -> list[xr.Dataset]:
    """Each (mouse, day) session's ``build`` of its units, in (mouse, day) order.

    A session is built as soon as the stream of units moves on to another
    session, so with worker processes the parent assembles and preprocesses
    sessions while the workers still read (instead of alone after them). A
    session whose files are not contiguous in the stream is built again with
    all of them once they are in, and a build's error is raised only after
    every file is read, in session order: the result and the errors are those
    of building each session after the whole read.
    """
    groups: dict[tuple[str, int], list[_UnitFile]] = defaultdict(list)
    built: dict[tuple[str, int], tuple[xr.Dataset | None, Exception | None]] = {}

    def close(key: tuple[str, int]) -> None:
        try:
            built[key] = (build(groups[key]), None)
        except Exception as exc:  # raised below, after the whole read, in session order
            built[key] = (None, exc)

    current = None
    for unit in units:
        key = (unit.mouse, unit.day)
        if key != current:
            if current is not None:
                close(current)  # (a session met again is built again, with all its units)
            current = key
        groups[key].append(unit)
    if current is not None:
        close(current)
    sessions = []
    for key in sorted(groups):
        ds, exc = built[key]
        if exc is not None:
            raise exc
        sessions.append(ds)
    return sessions


def _string_field(values: list[Any] | None, n: int) -> list[str]:
    if values is None:
        return [""] * n
    return [v if isinstance(v, str) else "" for v in values]


def _first_lick(unit: _UnitFile) -> np.ndarray:
    """First lick on the chosen port per trial, in s from onset (NaN: no lick).

    As the original ``get_licks.m``: port one is the right port, port two the
    left; the lick times are in ms from odour onset (the original compares
    them with the 600 ms end of the response window).
    """
    first = np.full(unit.n_trials, np.nan)
    choice = _string_field(unit.fields.get("lick_choice"), unit.n_trials)
    for key, side in zip(_LICK_FIELDS, ("right", "left"), strict=True):
        for t, v in enumerate(unit.fields.get(key, [])):
            if choice[t] == side and not isinstance(v, str) and np.size(v):
                first[t] = float(np.min(v)) / 1000.0
    return first


def _check_agree(units: list[_UnitFile]) -> None:
    ref = units[0]
    for other in units[1:]:
        if other.n_trials != ref.n_trials:
            raise LoaderError(
                f"session {ref.mouse} day {ref.day}: {other.path.name} has {other.n_trials} "
                f"trials but {ref.path.name} has {ref.n_trials}; unit files of one session "
                "must share their trials.")
        for key in _TRIAL_FIELDS:
            a, b = ref.fields.get(key), other.fields.get(key)
            if (a is None) != (b is None):
                raise LoaderError(f"session {ref.mouse} day {ref.day}: field `{key}` is in "
                                  f"{(ref if a is not None else other).path.name} but not in "
                                  f"{(other if a is not None else ref).path.name}.")
            if a is not None and a != b:
                t = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
                raise LoaderError(
                    f"session {ref.mouse} day {ref.day}: `raster_labels.{key}` disagrees "
                    f"between {ref.path.name} and {other.path.name} at trial {t + 1} "
                    f"({a[t]!r} vs {b[t]!r}).")


def _duplicates(units: list[_UnitFile], threshold: float) -> tuple[list[int], list[dict]]:
    """Exact duplicates raise; near-duplicates (cosine ≥ threshold) are reported.

    The coincident spikes of every pair of units come from one sparse
    product S Sᵀ (S: units × raster positions, one entry per spike), not from
    a sorted intersection per pair.
    """
    sizes = np.array([u.spike_index.size for u in units])
    width = max((int(u.spike_index[-1]) + 1 for u in units if u.spike_index.size), default=1)
    spikes = sparse.csr_array(
        (np.ones(int(sizes.sum()), dtype=np.int32),
         np.concatenate([u.spike_index for u in units]), np.r_[0, np.cumsum(sizes)]),
        shape=(len(units), width))
    coincident = (spikes @ spikes.T).toarray()
    drop, report = [], []
    for i in range(len(units)):
        for j in range(i + 1, len(units)):
            if sizes[i] == 0 or sizes[j] == 0:
                continue
            if sizes[i] == sizes[j] == coincident[i, j]:
                raise LoaderError(f"{units[i].path} and {units[j].path} hold identical rasters: "
                                  "a unit file is duplicated. Remove one copy.")
            # Cosine similarity of 0/1 spike trains: coincident spikes / sqrt(n_a n_b).
            cosine = coincident[i, j] / np.sqrt(float(sizes[i]) * float(sizes[j]))
            if cosine >= threshold and j not in drop:
                drop.append(j)
                report.append({"unit_id": units[j].path.stem, "duplicate_of": units[i].path.stem,
                               "cosine": round(float(cosine), 4)})
                logger.warning("near-duplicate units %s and %s (cosine %.3f): dropped %s",
                               units[i].path.name, units[j].path.name, cosine, units[j].path.name)
    return drop, report


def _session_from_units(units: list[_UnitFile], *, time: np.ndarray, bin_size: float,
                        label_map: Mapping[str, int], near_duplicates: list[dict],
                        directory: Path) -> xr.Dataset:
    ref = units[0]
    n = ref.n_trials
    probes = _string_field(ref.fields.get(_PROBES_FIELD), n)
    repeats = _string_field(ref.fields.get(_REPEATS_FIELD), n)
    stimulus = [r if r.startswith("nontarget repeat") else p for p, r in
                zip(probes, repeats, strict=True)]
    unknown = sorted({s for s in stimulus if s not in label_map})
    if unknown:
        raise LoaderError(f"{ref.path}: stimulus categories {unknown} have no class in "
                          "`label_map`; pass label_map={{category: 0 or 1}}.")
    heldout = np.array([s.startswith("probes") or s.startswith("nontarget repeat")
                        for s in stimulus])
    outcome = _string_field(ref.fields.get("correct_vs_error"), n)
    correct = np.array([1.0 if o == "correct" else 0.0 if o == "error" else np.nan
                        for o in outcome])
    phase = "overtraining" if heldout.any() else "training"
    return make_session(
        stimulus=stimulus, label=np.array([label_map[s] for s in stimulus], dtype=np.int64),
        session=f"{ref.mouse}-d{ref.day:02d}", mouse=ref.mouse, day=ref.day, phase=phase,
        binned=np.stack([u.binned for u in units], axis=1).astype(np.int16), time=time,
        bin_size=bin_size, choice=_string_field(ref.fields.get("lick_choice"), n),
        correct=correct, heldout=heldout, unit_id=[u.path.stem for u in units],
        trial_coords={"first_lick_time": _first_lick(ref)},
        attrs={"source": str(directory), "files": json.dumps([str(u.path) for u in units]),
               "near_duplicate_units": json.dumps(near_duplicates)},
    ).assign(total_spikes=("neuron", np.array([u.total_spikes for u in units]),
                           {"long_name": "spikes over the whole raster"}))


def load_bernerslee(
    directory: str | Path,
    *,
    bin_size: float = 0.05,
    time_window: tuple[float, float] = (-1.0, 2.5),
    label_map: Mapping[str, int] | None = None,
    near_duplicate_threshold: float = 0.9,
    preprocess: bool = True,
    preset: str = DEFAULT_PRESET,
    workers: int = 1,
    progress: bool = True,
    **preprocess_params: Any,
) -> xr.DataTree:
    """Load a directory of Berners-Lee per-unit raster ``.mat`` files.

    Parameters
    ----------
    directory : path
        Searched recursively for ``*.mat`` (e.g. its ``training/`` and
        ``probes/`` folders).
    bin_size : float, default 0.05
        Width (s) of the time bins the 1 ms rasters are summed into.
    time_window : (float, float), default (-1.0, 2.5)
        Span (s from onset) kept as ``binned``; must contain the response and
        baseline windows.
    label_map : mapping, optional
        Stimulus category -> class; defaults to :data:`DEFAULT_LABEL_MAP`
        (target and probes 1, non-targets 0).
    near_duplicate_threshold : float, default 0.9
        Units of one session whose spike trains have cosine similarity at or
        above this are near-duplicates (the original study removed one such
        unit); the later file is dropped and reported in the session's
        ``attrs["near_duplicate_units"]``.
    preprocess : bool, default True
        Compute ``rates`` with :func:`neurolearn.preprocess.preprocess` and
        skip sessions with too few units (recorded in the root
        ``attrs["dropped_sessions"]``).
    preset : str, default "bernerslee2023"
        Preprocessing preset: the original study's rules (response 100–600 ms
        after onset / 0.5 s, no baseline subtraction, Σ-rate unit filters,
        z-scoring with ddof = 1, sessions of ≥ 4 units); see
        :data:`neurolearn.preprocess.PRESETS`.
    workers : int, default 1
        Processes that read the files (1: in this process). Reading is
        CPU-bound (decompression, binning): 2 workers on 2 cores read about
        1.8× as fast (``benchmarks/bench_load.py``).
    progress : bool, default True
        Show a progress bar over files.
    **preprocess_params
        Overrides of any preset parameter (e.g. ``exclude_lick_trials=True``,
        ``zscore=False``, ``min_units=6``).

    Returns
    -------
    DataTree
        One node per session at ``/<mouse>/<mouse>-dDD``.

    Raises
    ------
    LoaderError
        For an empty directory, an unreadable or malformed file, unit files of
        one session that disagree in trial count or labels, or duplicated unit
        files.

    Examples
    --------
    >>> import tempfile
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                                  units_per_session=(4, 5), trials_per_session=60)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     files = write_bernerslee(tree, folder, progress=False)  # one .mat per unit
    ...     back = load_bernerslee(folder, progress=False)
    >>> [node.path for node in back.leaves] == [node.path for node in tree.leaves]
    True
    """
    directory = Path(directory)
    _check_workers(workers, "load_bernerslee")
    if preprocess:
        resolve_preset(preset, **preprocess_params)  # bad options fail before any file is read
    elif preprocess_params:
        raise TypeError(f"preprocessing parameters {sorted(preprocess_params)} given with "
                        "preprocess=False.")
    if not directory.is_dir():
        raise LoaderError(f"{directory}: not a directory of Berners-Lee .mat files.")
    files = sorted(directory.rglob("*.mat"))
    if not files:
        raise LoaderError(f"{directory}: no .mat files found (searched recursively).")
    start_ms, stop_ms = (round(t * 1000) for t in time_window)
    bin_ms = round(bin_size * 1000)
    if bin_ms < 1 or (stop_ms - start_ms) % bin_ms:
        raise ParameterError(f"time_window {time_window} s must be a whole number of bin_size "
                         f"{bin_size} s bins (of whole ms).")
    if start_ms < -ONSET_COLUMN:
        raise ParameterError(f"time_window starts before the raster ({-ONSET_COLUMN / 1000} s).")
    edges_ms = np.arange(start_ms, stop_ms + 1, bin_ms)
    time = np.round(edges_ms[:-1] / 1000.0, 9)
    label_map = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)

    def build(units: list[_UnitFile]) -> xr.Dataset:
        units = sorted(units, key=lambda u: u.path.name)
        _check_agree(units)
        drop, report = _duplicates(units, near_duplicate_threshold)
        kept = [u for i, u in enumerate(units) if i not in drop]
        ds = _session_from_units(kept, time=time, bin_size=bin_size, label_map=label_map,
                                 near_duplicates=report, directory=directory)
        return preprocess_session(ds, preset=preset, **preprocess_params) if preprocess else ds

    sessions = _sessions_as_read(_read_units(files, edges_ms, workers=workers,
                                             progress=progress), build)
    attrs = {"source": str(directory), "format": "bernerslee", "neurolearn_version": __version__}
    if preprocess:
        return gather_preprocessed(sessions, preset=preset, attrs=attrs, **preprocess_params)
    return to_tree(sessions, attrs=attrs)


def _spread_counts(counts: np.ndarray, bin_ms: int, rng: np.random.Generator) -> np.ndarray:
    """(n_trials, n_bins) counts -> (n_trials, n_bins*bin_ms) 0/1 ms raster, same counts."""
    if counts.max(initial=0) > bin_ms:
        raise ValueError(f"a bin holds {int(counts.max())} spikes, more than its {bin_ms} 1-ms "
                         "slots; a 0/1 raster cannot represent it.")
    raster = np.zeros((*counts.shape, bin_ms), dtype=np.uint8)
    trial, col = np.nonzero(counts)
    k = counts[trial, col]
    # Most bins hold one spike: a uniform slot, one draw each.
    one = k == 1
    raster[trial[one], col[one], rng.integers(0, bin_ms, int(one.sum()))] = 1
    # A bin of k > 1 spikes takes the k slots with its smallest random keys.
    many = ~one
    if many.any():
        keys = rng.random((int(many.sum()), bin_ms))
        kth = np.sort(keys, axis=1)[np.arange(keys.shape[0]), k[many] - 1]
        raster[trial[many], col[many]] = keys <= kth[:, None]
    return raster.reshape(counts.shape[0], -1)


def write_bernerslee(tree: xr.DataTree, directory: str | Path, *, version: str = "v5",
                     seed: int = 0, workers: int = 1, progress: bool = True) -> list[Path]:
    """Write every unit of every session as a Berners-Lee raster ``.mat`` file.

    Each bin's spike count from ``binned`` is spread over random distinct
    1 ms slots within that bin, so re-binning the written rasters gives back
    the same counts; columns outside the binned span hold no spikes.
    Training sessions go to ``directory/training``, sessions with held-out
    trials to ``directory/probes``; each file is named ``<unit_id>.mat``.

    Parameters
    ----------
    tree : DataTree
        Sessions with ``binned`` spike counts (e.g. from
        :func:`data_loaders.synthetic.make_overtraining_dataset`).
    directory : path
        Output directory (created).
    version : {"v5", "v7.3"}, default "v5"
        MATLAB file version.
    seed : int, default 0
        Seed for the spike positions within bins.
    workers : int, default 1
        Processes that compress and write the files (1: in this process);
        the files are the same whatever their number.
    progress : bool, default True
        Show a progress bar over sessions.

    Returns
    -------
    list of Path
        The files written, one per unit-session.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                                  units_per_session=(4, 5), trials_per_session=60)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     files = write_bernerslee(tree, folder, progress=False)
    ...     names = sorted(Path(f).suffix for f in files)
    >>> len(files) == sum(node.sizes["neuron"] for node in tree.leaves), set(names)
    (True, {'.mat'})
    """
    directory = Path(directory)
    _check_workers(workers, "write_bernerslee")
    with (ProcessPoolExecutor(max_workers=workers) if workers > 1
          else contextlib.nullcontext()) as pool:
        return _write_sessions(tree, directory, version=version, seed=seed, pool=pool,
                               progress=progress)


def _check_workers(workers: Any, where: str) -> None:
    check_params({"workers": workers}, {"workers": [Interval("int", 1, None)]}, where=where)


def _session_labels(ds: xr.Dataset) -> dict[str, Any]:
    """The ``raster_labels`` struct of a session's unit files."""
    info = session_info(ds)
    stimulus = np.asarray(ds["stimulus"].values).astype(str)
    correct = np.asarray(ds["correct"].values) if "correct" in ds.coords else None
    labels: dict[str, Any] = {
        _PROBES_FIELD: ["nontarget" if s.startswith("nontarget") else s for s in stimulus],
        "correct_vs_error": ["" if correct is None or np.isnan(c) else
                             "correct" if c else "error"
                             for c in (correct if correct is not None else stimulus)],
        "lick_choice": (list(np.asarray(ds["choice"].values).astype(str))
                        if "choice" in ds.coords else [""] * stimulus.size),
        _LICK_FIELDS[0]: [""] * stimulus.size,
        _LICK_FIELDS[1]: [""] * stimulus.size,
        "mouse_name": info["mouse"],
        "day_of_behavior": float(info["day"]),
    }
    if any(s.startswith("nontarget repeat") for s in stimulus):
        labels[_REPEATS_FIELD] = [
            "" if s.startswith("probes") else s if s != "nontarget" else
            "nontarget nonrepeat" for s in stimulus]
    return labels


def _write_sessions(tree: xr.DataTree, directory: Path, *, version: str, seed: int,
                    pool: ProcessPoolExecutor | None, progress: bool) -> list[Path]:
    """:func:`write_bernerslee`'s loop over sessions (``pool``: worker processes).

    Each unit's spikes are placed by its own generator, spawned in file order
    from ``seed``, so the files are the same whether one process writes them
    or many; the parent sends each worker only the binned counts, never a
    raster, and keeps at most a few sessions' jobs in flight.
    """
    sessions = list(iter_sessions(tree))
    n_units = sum(ds.sizes["neuron"] for _, ds in sessions)
    seeds = iter(np.random.SeedSequence(seed).spawn(n_units))
    written: list[Path] = []
    seen: set[Path] = set()
    pending: deque[Future] = deque()
    for _, ds in tqdm(sessions, desc="writing sessions", disable=not progress):
        if "binned" not in ds.data_vars:
            raise LoaderError(f"{session_info(ds)['session']}: write_bernerslee needs `binned` "
                              "spike counts.")
        bin_ms = round(float(ds["binned"].attrs["bin_size"]) * 1000)
        start_col = ONSET_COLUMN + round(float(ds["time"].values[0]) * 1000)
        labels = _session_labels(ds)
        folder = directory / ("probes" if ds["heldout"].values.any() else "training")
        folder.mkdir(parents=True, exist_ok=True)
        binned = np.asarray(ds["binned"].values)
        for u, unit_id in enumerate(np.asarray(ds["unit_id"].values).astype(str)):
            # The loader takes the unit id from the file name.
            path = folder / f"{unit_id}.mat"
            if path in seen:
                raise LoaderError(f"unit id {unit_id!r} occurs in two sessions; unit ids must "
                                  "be unique across the study to be written as file names.")
            seen.add(path)
            job = (path, binned[:, u, :], start_col, bin_ms, labels, version, next(seeds))
            if pool is None:
                _write_unit(*job)
            else:
                pending.append(pool.submit(_write_unit, *job))
            written.append(path)
        while len(pending) > 64:  # (bounded: the parent runs ahead of the workers)
            pending.popleft().result()
    for future in pending:
        future.result()
    return written


def _write_unit(path: Path, counts: np.ndarray, start_col: int, bin_ms: int,
                labels: dict[str, Any], version: str, seed: np.random.SeedSequence) -> None:
    """One unit file: its binned counts spread over 1 ms slots, written (module
    level, so worker processes can run it)."""
    spread = _spread_counts(counts, bin_ms, np.random.default_rng(seed))
    # Column-major, the order MATLAB files store: the writer reads it in place.
    raster = np.zeros((counts.shape[0], N_COLUMNS), dtype=np.uint8, order="F")
    raster[:, start_col:start_col + spread.shape[1]] = spread
    write_mat(path, raster, labels, version=version)
