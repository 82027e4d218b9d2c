"""Neurodata Without Borders (NWB) files: the units and trials tables.

Needs the optional ``pynwb`` dependency (``pip install 'neurolearn[nwb]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurolearn.errors import LoaderError
from neurolearn.preprocess import DEFAULT_PRESET
from neurolearn.preprocess import preprocess as preprocess_sessions
from neurolearn.schema import make_session, to_tree

__all__ = ["load_nwb"]


def _column(trials: Any, name: str | None, path: Path, required: bool = False) -> Any:
    if name is None or name not in trials.colnames and name not in ("start_time", "stop_time"):
        if required:
            raise LoaderError(f"{path}: the trials table has no column `{name}` "
                              f"(columns: {', '.join(trials.colnames)}).")
        return None
    return np.asarray(trials[name].data[:])


def load_nwb(
    path: str | Path,
    *,
    onset_column: str = "start_time",
    stimulus_column: str = "stimulus",
    label_column: str = "label",
    day: int | None = None,
    phase: str | None = None,
    bin_size: float = 0.05,
    time_window: tuple[float, float] = (-1.0, 2.5),
    preprocess: bool = True,
    preset: str = DEFAULT_PRESET,
    **preprocess_params: Any,
) -> xr.DataTree:
    """Load one NWB session: spike times of ``units`` binned around trial onsets.

    Parameters
    ----------
    path : path
        An NWB (HDF5) file with a ``units`` table (``spike_times``, s) and a
        ``trials`` table.
    onset_column : str, default "start_time"
        Trials column with the stimulus onset time (s, same clock as spikes).
    stimulus_column, label_column : str
        Trials columns with the stimulus name and the integer class.
        Optional columns ``choice``, ``correct`` and ``heldout`` are read
        when present.
    day : int, optional
        Day of training; otherwise read from a ``day`` trials column.
    phase : str, optional
        ``"training"`` or ``"overtraining"``; otherwise a ``phase`` column, or
        "overtraining" when any trial is held out.
    bin_size : float, default 0.05
        Bin width (s).
    time_window : (float, float), default (-1.0, 2.5)
        Span around onset (s) to bin.
    preprocess : bool, default True
        Compute ``rates`` with :func:`neurolearn.preprocess.preprocess`. A
        session left with too few units is skipped, which leaves nothing to
        return and raises ``InsufficientDataError``.
    preset : str, default "bernerslee2023"
        Preprocessing preset (see :data:`neurolearn.preprocess.PRESETS`).
    **preprocess_params
        Overrides of any preset parameter.

    Returns
    -------
    DataTree
        One session at ``/<subject_id>/<session_id>``.

    Raises
    ------
    LoaderError
        If the file cannot be read or lacks a table or column.
    """
    try:
        from pynwb import NWBHDF5IO
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("load_nwb needs pynwb: pip install 'neurolearn[nwb]'.") from exc
    path = Path(path)
    try:
        io = NWBHDF5IO(str(path), mode="r")
        nwb = io.read()
    except Exception as exc:  # pynwb/h5py raise many types for a bad file
        raise LoaderError(f"{path}: cannot read as an NWB file: {exc}") from exc
    try:
        if nwb.units is None or len(nwb.units) == 0:
            raise LoaderError(f"{path}: the file has no `units` table (spike times).")
        if nwb.trials is None or len(nwb.trials) == 0:
            raise LoaderError(f"{path}: the file has no `trials` table.")
        trials = nwb.trials
        onsets = _column(trials, onset_column, path, required=True).astype(float)
        stimulus = _column(trials, stimulus_column, path, required=True).astype(str)
        label = _column(trials, label_column, path, required=True).astype(np.int64)
        if day is None:
            days = _column(trials, "day", path)
            if days is None:
                raise LoaderError(f"{path}: pass `day=` or add a `day` column to the trials "
                                  "table.")
            day = int(days[0])
        heldout = _column(trials, "heldout", path)
        heldout = np.zeros(onsets.size, bool) if heldout is None else heldout.astype(bool)
        if phase is None:
            phases = _column(trials, "phase", path)
            phase = (str(phases[0]) if phases is not None else
                     "overtraining" if heldout.any() else "training")
        mouse = (nwb.subject.subject_id if nwb.subject is not None and nwb.subject.subject_id
                 else "unknown")
        session = nwb.session_id or f"{mouse}-d{day:02d}"
        n_bins = int(round((time_window[1] - time_window[0]) / bin_size))
        edges = time_window[0] + bin_size * np.arange(n_bins + 1)
        units = nwb.units
        unit_ids = [str(i) for i in units.id[:]]
        binned = np.zeros((onsets.size, len(unit_ids), n_bins), dtype=np.int32)
        total = np.zeros(len(unit_ids))
        for u in range(len(unit_ids)):
            spikes = np.sort(np.asarray(units["spike_times"][u], dtype=float))
            total[u] = spikes.size
            # Counts per (trial, bin) from sorted spike times: one searchsorted.
            idx = np.searchsorted(spikes, onsets[:, None] + edges[None, :], side="left")
            binned[:, u, :] = np.diff(idx, axis=1)
        choice = _column(trials, "choice", path)
        correct = _column(trials, "correct", path)
        ds = make_session(
            stimulus=stimulus, label=label, session=session, mouse=mouse, day=day, phase=phase,
            binned=binned, time=np.round(edges[:-1], 9), bin_size=bin_size,
            choice=None if choice is None else choice.astype(str),
            correct=None if correct is None else correct.astype(float), heldout=heldout,
            unit_id=unit_ids, attrs={"source": str(path), "format": "nwb"},
        ).assign(total_spikes=("neuron", total))
    finally:
        io.close()
    attrs = {"source": str(path), "format": "nwb"}
    if not preprocess:
        return to_tree([ds], attrs=attrs)
    return preprocess_sessions([ds], preset=preset, attrs=attrs, **preprocess_params)
