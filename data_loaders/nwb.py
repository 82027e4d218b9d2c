"""Neurodata Without Borders (NWB) files: spikes (``units``) or optical physiology, per trial.

Needs the optional ``pynwb`` dependency (``pip install 'neurolearn[nwb]'``).

One file is one session. Its ``trials`` table gives the trials; its columns
are mapped to neurolearn's names by ``columns=`` whatever they are called
(``start_time`` is the onset unless told otherwise). The responses come from

- the ``units`` table (``spike_times``, s): binned around each onset, then
  the preprocessing preset (the Berners-Lee study's by default) gives
  ``rates``; or
- an ``ophys`` processing module: a ``DfOverF`` (preferred) or
  ``Fluorescence`` ``RoiResponseSeries`` (frames × ROIs, with timestamps or a
  rate) over a ``PlaneSegmentation``; the response is the trace's mean in
  ``window`` after onset (:func:`data_loaders.events.trace_responses`).

A folder is read as a DANDI dandiset: every ``sub-*/sub-*_ses-*.nwb`` (or
any ``*.nwb`` below it) is one session, the mouse is the file's
``subject.subject_id`` and, unless the trials table has a ``day`` column,
the day is counted from the subject's first session date in the folder
(``session_start_time``; day 1 is the first).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from data_loaders._study import study_tree
from data_loaders.events import IMAGING_WINDOW, read_events, session_from_events, trace_responses
from neurolearn.errors import DependencyError, LoaderError, ParameterError
from neurolearn.preprocess import DEFAULT_PRESET
from neurolearn.preprocess import preprocess as preprocess_sessions
from neurolearn.schema import make_session

__all__ = ["load_nwb", "nwb_files"]

DATA = ("auto", "units", "ophys")


def nwb_files(path: str | Path) -> list[Path]:
    """The NWB files of a file or a DANDI-layout folder, in path order.

    Parameters
    ----------
    path : path
        An ``.nwb`` file, or a folder (DANDI's ``sub-*/sub-*_ses-*.nwb``
        first, else any ``*.nwb`` below it).

    Returns
    -------
    list of Path

    Raises
    ------
    LoaderError
        If the path does not exist or holds no ``.nwb`` file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("sub-M1/sub-M1_ses-2.nwb", "sub-M1/sub-M1_ses-1.nwb"):
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     (root / name).touch()
    >>> [f.name for f in nwb_files(root)]
    ['sub-M1_ses-1.nwb', 'sub-M1_ses-2.nwb']
    """
    path = Path(path)
    if not path.exists():
        raise LoaderError(f"{path}: no such file or directory.")
    if path.is_file():
        return [path]
    files = sorted(path.glob("sub-*/sub-*_ses-*.nwb")) or sorted(path.rglob("*.nwb"))
    if not files:
        raise LoaderError(f"{path}: no .nwb files (DANDI layout sub-*/sub-*_ses-*.nwb).")
    return files


def _trials(nwb: Any, path: Path, columns: Mapping[str, str]) -> pd.DataFrame:
    if nwb.trials is None or len(nwb.trials) == 0:
        raise LoaderError(f"{path}: the file has no `trials` table.")
    table = nwb.trials.to_dataframe().reset_index(drop=True)
    wanted = dict(columns)
    missing = [k for k in wanted if k not in table.columns]
    if missing:
        raise LoaderError(f"{path}: the trials table has no column "
                          f"{', '.join(f'`{m}`' for m in missing)} (columns: "
                          f"{', '.join(table.columns)}).")
    # Canonical names the mapping replaces are dropped so they cannot collide.
    table = table.drop(columns=[v for v in wanted.values() if v in table.columns
                                and v not in wanted])
    try:
        return read_events(table, columns=wanted)
    except LoaderError as exc:
        raise LoaderError(f"{path}: {exc}") from exc


def _roi_series(nwb: Any, path: Path, series: str | None) -> tuple[list[Any], str]:
    """The RoiResponseSeries to read — every one of the first interface kind found
    (DfOverF before Fluorescence: one per imaging plane in a multi-plane file), or
    the one named ``series`` — and that kind."""
    if "ophys" not in nwb.processing:
        raise LoaderError(f"{path}: no `ophys` processing module (optical physiology).")
    module = nwb.processing["ophys"]
    for kind in ("DfOverF", "Fluorescence"):
        chosen = []
        for interface in module.data_interfaces.values():
            if type(interface).__name__ != kind:
                continue
            found = interface.roi_response_series
            chosen += ([found[series]] if series in found else []) if series is not None \
                else list(found.values())
        if chosen:
            return chosen, kind
    raise LoaderError(f"{path}: the ophys module has no DfOverF or Fluorescence "
                      f"RoiResponseSeries{f' named {series!r}' if series else ''}.")


def _spike_session(nwb: Any, rows: pd.DataFrame, path: Path, *, bin_size: float,
                   time_window: tuple[float, float]) -> dict[str, Any]:
    n_bins = int(round((time_window[1] - time_window[0]) / bin_size))
    edges = time_window[0] + bin_size * np.arange(n_bins + 1)
    units = nwb.units
    onsets = rows["time"].to_numpy()
    unit_ids = [str(i) for i in units.id[:]]
    binned = np.zeros((onsets.size, len(unit_ids), n_bins), dtype=np.int32)
    total = np.zeros(len(unit_ids))
    for u in range(len(unit_ids)):
        spikes = np.sort(np.asarray(units["spike_times"][u], dtype=float))
        total[u] = spikes.size
        # Counts per (trial, bin) from sorted spike times: one searchsorted.
        idx = np.searchsorted(spikes, onsets[:, None] + edges[None, :], side="left")
        binned[:, u, :] = np.diff(idx, axis=1)
    return {"binned": binned, "time": np.round(edges[:-1], 9), "unit_id": unit_ids,
            "total": total}


def _ophys_session(nwb: Any, rows: pd.DataFrame, path: Path, *, series: str | None,
                   window: tuple[float, float], baseline: tuple[float, float] | None,
                   bin_size: float | None, session: str) -> dict[str, Any]:
    chosen, kind = _roi_series(nwb, path, series)
    parts = []
    for roi_series in chosen:  # each plane on its own clock, then side by side
        data = np.asarray(roi_series.data[:], dtype=float)
        if data.ndim == 1:
            data = data[:, None]
        if roi_series.timestamps is not None:
            times = np.asarray(roi_series.timestamps[:], dtype=float)
        else:
            times = roi_series.starting_time + np.arange(data.shape[0]) / roi_series.rate
        responses = trace_responses(data.T, times, rows["time"].to_numpy(), window=window,
                                    baseline=baseline, bin_size=bin_size, session=session)
        table = roi_series.rois.table
        roi = np.asarray(table.id[:])[np.asarray(roi_series.rois.data[:], dtype=np.int64)]
        parts.append((responses, roi, table.name, roi_series))
    responses = {key: np.concatenate([p[0][key] for p in parts], axis=1)
                 for key in ("rates", "binned") if key in parts[0][0]}
    if "time" in parts[0][0]:
        responses["time"] = parts[0][0]["time"]
    first = chosen[0]
    return {"responses": responses, "roi": np.concatenate([p[1] for p in parts]),
            "plane": np.concatenate([np.full(p[1].size, p[2], dtype=object) for p in parts]),
            "kind": kind, "series": ",".join(str(p[3].name) for p in parts),
            "units": "dF/F" if kind == "DfOverF" else str(first.unit or "a.u.")}


def load_nwb(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    onset_column: str = "start_time",
    stimulus_column: str = "stimulus",
    label_column: str = "label",
    data: str = "auto",
    series: str | None = None,
    mouse: str | None = None,
    day: int | None = None,
    phase: str | None = None,
    animal: str = "mouse",
    bin_size: float | None = None,
    time_window: tuple[float, float] = (-1.0, 2.5),
    window: tuple[float, float] = IMAGING_WINDOW,
    baseline: tuple[float, float] | None = None,
    zscore: bool = True,
    preprocess: bool = True,
    preset: str = DEFAULT_PRESET,
    **preprocess_params: Any,
) -> xr.DataTree:
    """Load NWB sessions: spikes from ``units`` or traces from ``ophys``, per trial.

    Parameters
    ----------
    path : path
        An NWB (HDF5) file, or a DANDI-layout folder of them (one session
        per file).
    columns : mapping, optional
        Trials-table column → neurolearn name, e.g. ``{"odor": "stimulus",
        "rewarded": "label", "odor_on": "time"}``; names not mapped are read
        as they are (``stimulus``, ``label``, ``choice``, ``correct``,
        ``heldout``, ``day``, ``phase``).
    onset_column, stimulus_column, label_column : str
        Shorthands for the three required mappings (``columns`` wins).
    data : {"auto", "units", "ophys"}, default "auto"
        Which responses to read; "auto" takes ``units`` when the file has a
        units table, else ``ophys``.
    series : str, optional
        The RoiResponseSeries to read. By default every one of the file's
        DfOverF (else Fluorescence) interfaces — one per imaging plane in a
        multi-plane file, each aligned on its own timestamps, then side by
        side with a ``plane`` coordinate.
    mouse, day, phase : optional
        Override the file's subject, the day count and the trials columns.
        ``phase`` otherwise defaults to "overtraining" when any trial is held
        out.
    animal : {"mouse", "subject"}, default "mouse"
        Name of the animal coordinate; "subject" (NWB's own name) for a study
        of other animals. The value is the file's ``subject.subject_id``.
    bin_size : float, optional
        Spikes: bin width (s, default 0.05) of ``binned``. Ophys: also keep
        per-bin trace means over ``window`` (default: none).
    time_window : (float, float), default (-1.0, 2.5)
        Spikes: span around onset (s) to bin; the preset's windows must lie
        within it.
    window : (float, float), default (0.0, 1.0)
        Ophys: response window in s from onset.
    baseline : (float, float), optional
        Ophys: baseline window subtracted from the response.
    zscore : bool, default True
        Ophys: z-score each ROI within its session (ddof = 1). Spikes are
        z-scored by the preset (pass ``zscore=False`` to override it).
    preprocess : bool, default True
        Spikes: compute ``rates`` with :func:`neurolearn.preprocess.preprocess`
        (a session left with too few units is skipped).
    preset : str, default "bernerslee2023"
        Spikes: preprocessing preset.
    **preprocess_params
        Spikes: overrides of any preset parameter.

    Returns
    -------
    DataTree
        One session per file at ``/<subject_id>/<session>``. Ophys sessions
        carry ``neuron`` coords ``roi`` (the PlaneSegmentation row id) and
        ``plane``.

    Raises
    ------
    LoaderError
        If a file cannot be read or lacks a table or column.
    """
    try:
        from pynwb import NWBHDF5IO
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError("load_nwb needs pynwb: pip install 'neurolearn[nwb]'.") from exc
    if data not in DATA:
        raise ParameterError(f"`data` must be one of {DATA}; got {data!r}.")
    if animal not in ("mouse", "subject"):
        raise ParameterError(f"`animal` must be 'mouse' or 'subject'; got {animal!r}.")
    mapping = dict(columns or {})
    for column, name in ((onset_column, "time"), (stimulus_column, "stimulus"),
                         (label_column, "label")):
        if name not in mapping.values() and column != name:
            mapping[column] = name  # a shorthand, unless `columns` maps that name
    files = nwb_files(path)
    found = []
    for file in files:
        try:
            io = NWBHDF5IO(str(file), mode="r")
            nwb = io.read()
        except Exception as exc:  # pynwb/h5py raise many types for a bad file
            raise LoaderError(f"{file}: cannot read as an NWB file: {exc}") from exc
        try:
            found.append(_read_file(nwb, file, mapping=mapping, data=data, series=series,
                                    mouse=mouse, phase=phase, bin_size=bin_size,
                                    time_window=time_window, window=window, baseline=baseline,
                                    zscore=zscore, animal=animal))
        finally:
            io.close()
    first = {}
    for item in found:
        first[item["mouse"]] = min(first.get(item["mouse"], item["date"]), item["date"])
    sessions = []
    for item in found:
        d = day if day is not None else item["day"]
        if d is None:
            d = (item["date"].date() - first[item["mouse"]].date()).days + 1
        sessions.append(item["build"](int(d)))
    root = Path(path)
    if any("binned" in s.data_vars and s["binned"].attrs["units"] == "spike count"
           and "rates" not in s.data_vars for s in sessions):
        if not preprocess:
            return study_tree(sessions, source=root, format="nwb")
        overrides = {**({"zscore": False} if not zscore else {}), **preprocess_params}
        return preprocess_sessions(sessions, preset=preset,
                                   attrs={"source": str(root), "format": "nwb"}, **overrides)
    return study_tree(sessions, source=root, format="nwb")


def _read_file(nwb: Any, path: Path, *, mapping: dict[str, str], data: str,
               series: str | None, mouse: str | None, phase: str | None,
               bin_size: float | None, time_window: tuple[float, float],
               window: tuple[float, float], baseline: tuple[float, float] | None,
               zscore: bool, animal: str = "mouse") -> dict[str, Any]:
    """Everything needed from one open file; the session is built once its day is known."""
    rows = _trials(nwb, path, mapping)
    has_units = nwb.units is not None and len(nwb.units) > 0
    kind = ("units" if has_units else "ophys") if data == "auto" else data
    if kind == "units" and not has_units:
        raise LoaderError(f"{path}: the file has no `units` table (spike times).")
    subject = (mouse or (nwb.subject.subject_id if nwb.subject is not None
                         and nwb.subject.subject_id else None))
    if subject is None:
        raise LoaderError(f"{path}: the file names no subject (subject.subject_id); pass "
                          "`mouse=`.")
    heldout = (rows["heldout"].to_numpy(dtype=bool) if "heldout" in rows.columns
               else np.zeros(len(rows), bool))
    file_day = int(rows["day"].iloc[0]) if "day" in rows.columns else None
    session = nwb.session_id or path.stem
    if phase is None:
        phase = (str(rows["phase"].iloc[0]) if "phase" in rows.columns else
                 "overtraining" if heldout.any() else "training")
    attrs = {"source": str(path), "format": "nwb", "responses": kind}
    if kind == "ophys":
        got = _ophys_session(nwb, rows, path, series=series, window=window, baseline=baseline,
                             bin_size=bin_size, session=session)

        def build(d: int) -> xr.Dataset:
            return session_from_events(
                got["responses"], rows, session=session,
                unit_id=[f"{pl}-roi{r}" for pl, r in zip(got["plane"], got["roi"], strict=True)],
                **{animal: subject}, day=d, phase=phase, units=got["units"], zscore=zscore,
                neuron_coords={"roi": got["roi"], "plane": got["plane"]},
                where=str(path),
                attrs={**attrs, "series": got["series"], "series_kind": got["kind"],
                       "response_window": list(window)})
    else:
        got = _spike_session(nwb, rows, path, bin_size=bin_size or 0.05,
                             time_window=time_window)

        def build(d: int) -> xr.Dataset:
            correct = (pd.to_numeric(rows["correct"], errors="coerce").to_numpy(dtype=float)
                       if "correct" in rows.columns else None)
            return make_session(
                stimulus=rows["stimulus"].to_numpy(), label=rows["label"].to_numpy(),
                session=session, **{animal: subject}, day=d, phase=phase, binned=got["binned"],
                time=got["time"], bin_size=bin_size or 0.05,
                choice=(rows["choice"].astype(str).to_numpy() if "choice" in rows.columns
                        else None),
                correct=correct, heldout=heldout, unit_id=got["unit_id"], attrs=attrs,
            ).assign(total_spikes=("neuron", got["total"]))
    return {"mouse": subject, "day": file_day, "date": nwb.session_start_time, "build": build}
