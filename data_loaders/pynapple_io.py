"""pynapple objects: a ``TsGroup`` of spike trains (or a ``TsdFrame`` of traces) and its events.

pynapple (Viejo et al. 2023) holds spike trains as a ``TsGroup`` (one ``Ts``
per unit, with a metadata table) and trial epochs as an ``IntervalSet``
(``start``/``end`` and metadata columns). This reader takes those objects
already in memory, so it needs no file format of its own; pynapple itself
is not imported (only the objects' documented attributes are read).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from data_loaders._study import study_tree
from data_loaders.events import (
    IMAGING_WINDOW,
    SPIKE_WINDOW,
    read_events,
    session_events,
    session_from_events,
    spike_responses,
    trace_responses,
)
from neurolearn.errors import LoaderError

__all__ = ["from_pynapple"]


def _events_frame(events: Any) -> pd.DataFrame:
    """An events table from an IntervalSet (onset = start), a TsdFrame (onset = its
    times), a Tsd of labels (onset = its times; the label names the stimulus) or a
    DataFrame."""
    if isinstance(events, pd.DataFrame):
        return events
    if hasattr(events, "as_series") and not hasattr(events, "as_dataframe"):  # Tsd
        series = events.as_series()
        labels = np.asarray(series.to_numpy())
        if not np.all(labels == np.round(labels)):
            raise LoaderError("a Tsd of events must hold integer labels (one per onset).")
        labels = labels.astype(np.int64)
        return pd.DataFrame({"time": np.asarray(series.index, dtype=float), "label": labels,
                             "stimulus": labels.astype(str)})
    if hasattr(events, "as_dataframe"):
        frame = events.as_dataframe()
        if "start" in frame.columns:  # IntervalSet: its metadata ride along as columns
            return frame.rename(columns={"start": "time"}).drop(columns=["end"])
        frame = frame.copy()
        frame.insert(0, "time", np.asarray(events.times() if callable(getattr(
            events, "times", None)) else frame.index, dtype=float))
        return frame.reset_index(drop=True)
    raise LoaderError(f"events must be a pynapple IntervalSet or TsdFrame, or a DataFrame; "
                      f"got {type(events).__name__}.")


def from_pynapple(
    data: Any,
    events: Any,
    *,
    session: str,
    mouse: str | None = None,
    subject: str | None = None,
    day: int | None = None,
    phase: str | None = None,
    window: tuple[float, float] | None = None,
    baseline: tuple[float, float] | None = None,
    bin_size: float | None = None,
    zscore: bool = True,
    columns: dict[str, str] | None = None,
) -> xr.DataTree:
    """One session from pynapple objects.

    Parameters
    ----------
    data : TsGroup or TsdFrame
        Spike trains (one ``Ts`` per unit; its metadata columns become
        ``neuron`` coords) or traces (time × neurons).
    events : IntervalSet, TsdFrame, Tsd or DataFrame
        One entry per trial with ``stimulus`` and ``label`` (metadata columns
        of the IntervalSet, or columns); the onset is the interval's
        ``start`` (or the TsdFrame's time). A Tsd holds one integer label per
        onset, which then also names the stimulus.
    session : str
        Session name.
    mouse, subject, day, phase : optional
        Override the events' ``mouse`` (or ``subject``), ``day`` and ``phase``
        columns; a study without days leaves ``day`` out.
    window : (float, float), optional
        Response window in s from onset; default (0.1, 0.6) for spikes and
        (0.0, 1.0) for traces.
    baseline, bin_size, zscore, columns
        As in :func:`data_loaders.load_suite2p`.

    Returns
    -------
    DataTree
        One session at ``/<mouse>/<session>``.

    Raises
    ------
    LoaderError
        If the objects are not what is described above, or an event falls
        outside the data's time support.
    """
    rows = session_events(read_events(_events_frame(events), columns=columns), session,
                          where="pynapple events")
    onsets = rows["time"].to_numpy()
    attrs = {"source": "pynapple", "format": "pynapple"}
    if hasattr(data, "keys") and hasattr(data, "time_support"):  # TsGroup
        keys = list(data.keys())
        trains = [np.asarray(data[k].times(), dtype=float) for k in keys]
        support = data.time_support
        extent = (float(np.min(support.start)), float(np.max(support.end)))
        window = SPIKE_WINDOW if window is None else window
        responses = spike_responses(trains, onsets, window=window, baseline=baseline,
                                    bin_size=bin_size, extent=extent, session=session)
        meta = getattr(data, "metadata", None)
        coords = ({str(c): meta[c].to_numpy() for c in meta.columns if c != "rate"}
                  if isinstance(meta, pd.DataFrame) else {})
        return study_tree([session_from_events(
            responses, rows, session=session, unit_id=[str(k) for k in keys], mouse=mouse,
            subject=subject, day=day, phase=phase, units="Hz", zscore=zscore, neuron_coords=coords,
            attrs={**attrs, "response_window": list(window)})], source=session,
            format="pynapple")
    if hasattr(data, "values") and hasattr(data, "columns"):  # TsdFrame of traces
        times = np.asarray(data.times() if callable(getattr(data, "times", None))
                           else data.index, dtype=float)
        window = IMAGING_WINDOW if window is None else window
        responses = trace_responses(np.asarray(data.values, dtype=float).T, times, onsets,
                                    window=window, baseline=baseline, bin_size=bin_size,
                                    session=session)
        return study_tree([session_from_events(
            responses, rows, session=session, unit_id=[str(c) for c in data.columns],
            mouse=mouse, subject=subject, day=day, phase=phase, units="a.u.", zscore=zscore,
            attrs={**attrs, "response_window": list(window)})], source=session,
            format="pynapple")
    raise LoaderError(f"data must be a pynapple TsGroup or TsdFrame; got {type(data).__name__}.")
