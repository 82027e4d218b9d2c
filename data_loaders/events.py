"""Align continuous recordings to trials through an events table.

A continuous recording (imaging traces sampled at frame times, or spike
trains) has no trials of its own; an *events table* says when each stimulus
came on and what it was. This module reads such a table (a CSV/TSV file or a
pandas DataFrame) and turns a recording plus its rows into one session in the
canonical layout (:mod:`neurolearn.schema`). Every format reader that has no
trial structure of its own (Suite2p, CaImAn, Kilosort/Phy, pynapple) goes
through here, so the window rules are the same everywhere.

The events table
----------------
One row per trial. Required columns:

``time``
    Stimulus onset in seconds, on the recording's clock.
``stimulus``
    Stimulus identity (str).
``label``
    Integer class (1 target, 0 non-target, or any integer classes).

Optional columns: ``session`` (or ``file``: which recording the row belongs
to; without it every row belongs to the one recording), ``choice``,
``correct`` (1/0, empty for no outcome), ``heldout`` (bool), ``mouse`` or
``subject`` (the animal; the sessions' coordinate takes the table's name),
``day``, ``phase``. A study that is not animals over days leaves ``day`` and
``phase`` out; they are then absent from the sessions too.

The response
------------
The response of a unit on a trial is its mean over the window
``[onset + start, onset + stop)``: the mean of the samples (frames) inside it
for traces, the spike count divided by the window length (Hz) for spikes. An
optional baseline window's mean is subtracted when given. ``bin_size`` adds
``binned`` (trial, neuron, time): per-bin sample means for traces, per-bin
spike counts for spikes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import array_api_compat.numpy as xnp
import numpy as np
import pandas as pd
import xarray as xr

from neurolearn.errors import EventOutsideRecordingError, LoaderError, ParameterError
from neurolearn.preprocess import check_window
from neurolearn.schema import make_session
from neurolearn.zscore import standardize

__all__ = [
    "EVENT_COLUMNS",
    "OPTIONAL_EVENT_COLUMNS",
    "IMAGING_WINDOW",
    "SPIKE_WINDOW",
    "read_events",
    "session_events",
    "trace_responses",
    "spike_responses",
    "session_from_events",
    "zscore_responses",
]

#: Columns every events table must have.
EVENT_COLUMNS = ("time", "stimulus", "label")
#: Columns read when present (``file`` and ``subject`` are aliases of
#: ``session`` and ``mouse``).
OPTIONAL_EVENT_COLUMNS = ("session", "choice", "correct", "heldout", "mouse", "subject", "day",
                          "phase")
#: Default response window for imaging traces, s from onset: calcium
#: indicators rise and decay over about a second.
IMAGING_WINDOW = (0.0, 1.0)
#: Default response window for spikes, s from onset: the Berners-Lee study's.
SPIKE_WINDOW = (0.1, 0.6)

_ALIASES = {"file": "session", "onset": "time", "start_time": "time"}


def read_events(events: str | Path | pd.DataFrame, *, columns: Mapping[str, str] | None = None
                ) -> pd.DataFrame:
    """Read and check an events table.

    Parameters
    ----------
    events : path or DataFrame
        A CSV (``.csv``) or tab-separated (``.tsv``, ``.txt``) file, or a
        DataFrame, with one row per trial (see the module docstring).
    columns : mapping, optional
        Renames applied first, ``{name in the table: canonical name}``, e.g.
        ``{"odor": "stimulus", "is_target": "label", "t_on": "time"}``.

    Returns
    -------
    DataFrame
        With canonical column names (``file`` → ``session``, ``onset`` →
        ``time``), ``time`` as float seconds and ``label`` as int.

    Raises
    ------
    LoaderError
        If the file cannot be read, a required column is missing, or a value
        cannot be converted (naming the column and the first bad row).

    Examples
    --------
    >>> import pandas as pd
    >>> table = read_events(pd.DataFrame({"t_on": [1.0, 5.0], "odor": ["A", "B"],
    ...                                   "label": [1, 0]}),
    ...                     columns={"t_on": "time", "odor": "stimulus"})
    >>> list(table.columns), table["time"].tolist()
    (['time', 'stimulus', 'label'], [1.0, 5.0])
    """
    where = "events table"
    if isinstance(events, pd.DataFrame):
        table = events.copy()
    else:
        path = Path(events)
        where = str(path)
        if not path.is_file():
            raise LoaderError(f"{path}: events table not found.")
        tabs = path.suffix.lower() in (".tsv", ".txt", ".tab")
        try:
            table = pd.read_csv(path, sep="\t" if tabs else ",")
        except Exception as exc:  # pandas raises many types for a malformed file
            raise LoaderError(f"{path}: cannot read as a {'TSV' if tabs else 'CSV'} "
                              f"events table: {exc}") from exc
    table = table.rename(columns=dict(columns or {}))
    table = table.rename(columns={k: v for k, v in _ALIASES.items()
                                  if k in table.columns and v not in table.columns})
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise LoaderError(f"{where}: missing column(s) {', '.join(missing)} (required: "
                          f"{', '.join(EVENT_COLUMNS)}; columns found: "
                          f"{', '.join(map(str, table.columns))}). Rename with `columns=`.")
    for name, kind in (("time", float), ("label", np.int64), ("day", np.int64)):
        if name not in table.columns:
            continue
        try:
            values = pd.to_numeric(table[name], errors="raise")
        except (TypeError, ValueError) as exc:
            hint = (" Classes must be integers: map names first, e.g. "
                    "table['label'] = (table['odor'] == 'A').astype(int), or "
                    "table['label'].map({'target': 1, 'nontarget': 0})."
                    if name == "label" else "")
            raise LoaderError(f"{where}: column `{name}` must be numeric: {exc}.{hint}") from exc
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise LoaderError(f"{where}: column `{name}` is empty in row {row}; every trial "
                              f"needs a {name}.")
        if kind is not float and not np.all(np.asarray(values) == np.round(values)):
            raise LoaderError(f"{where}: column `{name}` must hold integers.")
        table[name] = np.asarray(values, dtype=kind)
    if not np.isfinite(table["time"].to_numpy()).all():
        raise LoaderError(f"{where}: column `time` holds non-finite onsets.")
    table["stimulus"] = table["stimulus"].astype(str)
    if "session" in table.columns:
        table["session"] = table["session"].astype(str)
    if "heldout" in table.columns:
        table["heldout"] = _bool_column(table["heldout"], where)
    return table.reset_index(drop=True)


def _bool_column(values: pd.Series, where: str) -> np.ndarray:
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype(str).str.strip().str.lower()
    truth = {"true": True, "1": True, "1.0": True, "yes": True,
             "false": False, "0": False, "0.0": False, "no": False, "": False, "nan": False}
    bad = ~text.isin(list(truth))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise LoaderError(f"{where}: column `heldout` must be true/false; row {row} holds "
                          f"{values[bad].iloc[0]!r}.")
    return text.map(truth).to_numpy(dtype=bool)


def session_events(table: pd.DataFrame, session: str, *, where: str = "") -> pd.DataFrame:
    """The rows of ``table`` that belong to ``session``, in onset order.

    Parameters
    ----------
    table : DataFrame
        An events table from :func:`read_events`.
    session : str
        The recording's session name. A table without a ``session`` column
        belongs entirely to the one recording.
    where : str, optional
        Prefix for error messages (the recording's path).

    Returns
    -------
    DataFrame
        The session's rows sorted by ``time`` (stable).

    Raises
    ------
    LoaderError
        If no row names the session, or the table has no rows.

    Examples
    --------
    >>> import pandas as pd
    >>> table = read_events(pd.DataFrame({"session": ["s1", "s2", "s1"], "time": [9.0, 1.0, 2.0],
    ...                                   "stimulus": ["a", "b", "c"], "label": [1, 0, 0]}))
    >>> session_events(table, "s1")["time"].tolist()
    [2.0, 9.0]
    """
    if "session" in table.columns:
        rows = table[table["session"] == str(session)]
        if rows.empty:
            known = ", ".join(sorted(table["session"].unique())[:8])
            raise LoaderError(f"{where or session}: the events table has no rows for session "
                              f"{session!r} (sessions in the table: {known}). Pass "
                              "`session=` to name the recording as the table does.")
    else:
        rows = table
    if rows.empty:
        raise LoaderError(f"{where or session}: the events table has no rows.")
    return rows.sort_values("time", kind="stable").reset_index(drop=True)


def _check_inside(onsets: np.ndarray, window: tuple[float, float], extent: tuple[float, float],
                  session: str, what: str) -> None:
    lo, hi = onsets + window[0], onsets + window[1]
    outside = (lo < extent[0] - 1e-9) | (hi > extent[1] + 1e-9)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise EventOutsideRecordingError(
            f"session {session!r}: event {i} (onset {onsets[i]:.6g} s) has its {what} "
            f"[{lo[i]:.6g}, {hi[i]:.6g}) s outside the recording ({extent[0]:.6g} to "
            f"{extent[1]:.6g} s); {int(outside.sum())} event(s) are outside. Check that the "
            "events and the recording share a clock, or drop those events.")


def _bin_edges(window: tuple[float, float], bin_size: float) -> np.ndarray:
    n_bins = int(round((window[1] - window[0]) / bin_size))
    if n_bins < 1 or not np.isclose(n_bins * bin_size, window[1] - window[0]):
        raise ParameterError(f"`bin_size` {bin_size:g} s must divide the window {window} "
                             "into whole bins.")
    return np.round(window[0] + bin_size * np.arange(n_bins + 1), 9)


def trace_responses(traces: Any, frame_times: Any, onsets: Any, *,
                    window: tuple[float, float] = IMAGING_WINDOW,
                    baseline: tuple[float, float] | None = None,
                    bin_size: float | None = None, session: str = "") -> dict[str, Any]:
    """Per-trial mean of continuous traces in a window after each onset.

    Parameters
    ----------
    traces : array of shape (n_neurons, n_frames)
        One trace per neuron (ΔF/F, deconvolved activity, ...).
    frame_times : array of shape (n_frames,)
        Time of each frame in s, increasing, on the events' clock.
    onsets : array of shape (n_trials,)
        Stimulus onsets in s.
    window : (float, float), default (0.0, 1.0)
        Response window in s from onset, ``[start, stop)``.
    baseline : (float, float), optional
        Baseline window in s from onset; its mean is subtracted from the
        response (and from every bin of ``binned``).
    bin_size : float, optional
        Also return per-bin means over ``window`` in bins of this width (s).
    session : str, optional
        Named in errors.

    Returns
    -------
    dict
        ``rates`` (n_trials, n_neurons), and with ``bin_size`` also
        ``binned`` (n_trials, n_neurons, n_bins) and ``time`` (bin left edges,
        s from onset); ``n_frames`` (n_trials,): frames averaged per trial.

    Raises
    ------
    EventOutsideRecordingError
        If a window reaches before the first frame or after the last.
    LoaderError
        If a window (or bin) holds no frame.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(100) * 0.1                        # 10 Hz imaging
    >>> traces = np.vstack([t, 2 * t])                  # two ramps
    >>> out = trace_responses(traces, t, [2.0, 5.0], window=(0.0, 1.0))
    >>> np.round(out["rates"], 6).tolist()              # mean of frames 2.0 ... 2.9
    [[2.45, 4.9], [5.45, 10.9]]
    """
    traces = np.asarray(traces, dtype=float)
    frame_times = np.asarray(frame_times, dtype=float)
    onsets = np.asarray(onsets, dtype=float)
    if traces.ndim != 2 or traces.shape[1] != frame_times.size:
        raise LoaderError(f"session {session!r}: traces must be (n_neurons, n_frames) with one "
                          f"time per frame; got traces {traces.shape} and {frame_times.size} "
                          "frame times.")
    if frame_times.size < 2 or np.any(np.diff(frame_times) <= 0):
        raise LoaderError(f"session {session!r}: frame times must increase strictly.")
    window = check_window("window", window)
    dt = float(np.median(np.diff(frame_times)))
    extent = (float(frame_times[0]), float(frame_times[-1]) + dt)
    # Running sums over frames make every window mean two lookups, whatever
    # the number of trials or the window length.
    cumulative = np.concatenate([np.zeros((traces.shape[0], 1)), np.cumsum(traces, axis=1)],
                                axis=1)

    def means(edges: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
        # edges (n_trials, n_edges) in s; frames with edge_k <= t < edge_k+1.
        _check_inside(onsets, (edges[0, 0] - onsets[0], edges[0, -1] - onsets[0]), extent,
                      session, what)
        idx = np.searchsorted(frame_times, edges, side="left")
        counts = np.diff(idx, axis=1)
        if (counts == 0).any():
            t = int(np.argwhere(counts == 0)[0, 0])
            raise LoaderError(f"session {session!r}: the {what} of event {t} (onset "
                              f"{onsets[t]:.6g} s) holds no frame (frame interval {dt:.4g} s); "
                              "widen the window or the bins.")
        sums = cumulative[:, idx[:, 1:]] - cumulative[:, idx[:, :-1]]  # (neuron, trial, k)
        return np.moveaxis(sums / counts[None], 0, 1), counts

    rel = np.asarray(window)
    response, counts = means(onsets[:, None] + rel[None, :], "response window")
    out: dict[str, Any] = {"rates": response[:, :, 0], "n_frames": counts[:, 0]}
    base = None
    if baseline is not None:
        baseline = check_window("baseline", baseline)
        base = means(onsets[:, None] + np.asarray(baseline)[None, :], "baseline window")[0]
        out["rates"] = out["rates"] - base[:, :, 0]
    if bin_size is not None:
        edges = _bin_edges(window, float(bin_size))
        binned = means(onsets[:, None] + edges[None, :], "bin")[0]
        out["binned"] = binned - base if base is not None else binned
        out["time"] = edges[:-1]
    return out


def spike_responses(spike_times: Sequence[Any], onsets: Any, *,
                    window: tuple[float, float] = SPIKE_WINDOW,
                    baseline: tuple[float, float] | None = None,
                    bin_size: float | None = None,
                    extent: tuple[float, float] | None = None,
                    session: str = "") -> dict[str, Any]:
    """Per-trial firing rates of spike trains in a window after each onset.

    Parameters
    ----------
    spike_times : sequence of arrays
        One array of spike times (s) per unit.
    onsets : array of shape (n_trials,)
        Stimulus onsets in s.
    window : (float, float), default (0.1, 0.6)
        Response window in s from onset, ``[start, stop)``.
    baseline : (float, float), optional
        Baseline window; its rate (Hz) is subtracted from the response rate.
    bin_size : float, optional
        Also return spike counts per bin of this width (s) over ``window``.
    extent : (float, float), optional
        The recording's span in s; defaults to 0 to the last spike of any
        unit (a spike train carries no end time of its own).
    session : str, optional
        Named in errors.

    Returns
    -------
    dict
        ``rates`` (n_trials, n_units) in Hz, ``total_spikes`` (n_units,), and
        with ``bin_size`` also ``binned`` counts (n_trials, n_units, n_bins)
        and ``time``.

    Raises
    ------
    EventOutsideRecordingError
        If a window reaches outside ``extent``.

    Examples
    --------
    >>> out = spike_responses([[1.15, 1.2, 3.3], [1.0]], [1.0, 3.0], window=(0.1, 0.6),
    ...                       extent=(0.0, 10.0))
    >>> out["rates"].tolist()                           # 2 and 1 spikes in 0.5 s
    [[4.0, 0.0], [2.0, 0.0]]
    """
    onsets = np.asarray(onsets, dtype=float)
    trains = [np.sort(np.asarray(s, dtype=float).ravel()) for s in spike_times]
    window = check_window("window", window)
    if extent is None:
        last = max((float(s[-1]) for s in trains if s.size), default=0.0)
        extent = (0.0, last)
    spans = [window] if baseline is None else [window, check_window("baseline", baseline)]
    for span, what in zip(spans, ("response window", "baseline window"), strict=False):
        _check_inside(onsets, span, tuple(float(e) for e in extent), session, what)
    edges = (np.asarray(window) if bin_size is None
             else _bin_edges(window, float(bin_size)))
    counts = np.stack([np.diff(np.searchsorted(s, onsets[:, None] + edges[None, :]), axis=1)
                       for s in trains], axis=1)                      # (trial, unit, k)
    length = window[1] - window[0]
    out: dict[str, Any] = {"rates": counts.sum(axis=2) / length,
                           "total_spikes": np.array([s.size for s in trains])}
    if baseline is not None:
        base = np.stack([np.diff(np.searchsorted(s, onsets[:, None] + np.asarray(spans[1])),
                                 axis=1)[:, 0] for s in trains], axis=1)
        out["rates"] = out["rates"] - base / (spans[1][1] - spans[1][0])
    if bin_size is not None:
        out["binned"] = counts.astype(np.int32)
        out["time"] = edges[:-1]
    return out


def zscore_responses(rates: Any) -> tuple[np.ndarray, np.ndarray]:
    """Z-score each unit over a session's trials with the sample SD (ddof = 1, the study
    preset's), leaving out units constant over them.

    Constant means :func:`neurolearn.zscore.standardize`'s rule (SD zero to
    rounding); with fewer than two trials every unit is.

    Parameters
    ----------
    rates : array of shape (n_trials, n_units)

    Returns
    -------
    Z : ndarray of shape (n_trials, n_kept)
        The z-scores of the units kept.
    keep : bool ndarray of shape (n_units,)

    Examples
    --------
    >>> Z, keep = zscore_responses([[1.0, 4.0], [3.0, 4.0], [5.0, 4.0]])
    >>> Z[:, 0].tolist(), keep.tolist()
    ([-1.0, 0.0, 1.0], [True, False])
    """
    rates = np.asarray(rates, dtype=float)
    n_trials, n_units = rates.shape
    if n_trials < 2:
        return rates[:, :0], np.zeros(n_units, bool)
    Z, *_, constant = standardize(xnp, rates[None], np.ones((1, n_trials)), ddof=1)
    keep = ~constant[0, 0]
    return Z[0, 0][:, keep], keep


def _infer_phase(rows: pd.DataFrame, heldout: np.ndarray, day: int | None) -> str | None:
    if "phase" in rows.columns:
        return str(rows["phase"].iloc[0])
    if day is None:
        return None  # no days, no phases: nothing is invented
    # The Berners-Lee convention: sessions with probe or repeat trials are overtraining.
    return "overtraining" if heldout.any() else "training"


def session_from_events(responses: Mapping[str, Any], rows: pd.DataFrame, *, session: str,
                        unit_id: Sequence[Any], mouse: str | None = None,
                        day: int | None = None, phase: str | None = None,
                        subject: str | None = None,
                        units: str = "Hz", zscore: bool = True,
                        neuron_coords: Mapping[str, Any] | None = None,
                        attrs: Mapping[str, Any] | None = None, where: str = ""
                        ) -> xr.Dataset:
    """One canonical session from aligned responses and the session's events.

    Parameters
    ----------
    responses : mapping
        From :func:`trace_responses` or :func:`spike_responses`.
    rows : DataFrame
        The session's events (:func:`session_events`), one per trial.
    session : str
        Session name.
    unit_id : sequence
        One identifier per neuron.
    mouse, day, phase, subject : optional
        Override the table's ``mouse`` (or ``subject``), ``day`` and ``phase``
        columns. Without a day the session has none; with one, ``phase``
        defaults to "overtraining" when any trial is held out, else
        "training".
    units : str, default "Hz"
        What the response is measured in (``rates.attrs["units"]`` before
        z-scoring): "Hz", "dF/F", "a.u.".
    zscore : bool, default True
        Z-score each unit over the session's trials (sample SD, ddof = 1, as
        the study preset does). Units with a constant response cannot be
        z-scored: they are dropped and listed in ``attrs["dropped_units"]``.
    neuron_coords : mapping, optional
        Further coordinates on ``neuron`` (name → array of shape (n_units,)).
    attrs : mapping, optional
        Dataset attributes.
    where : str, optional
        Prefix for error messages.

    Returns
    -------
    Dataset
        A validated session.

    Raises
    ------
    LoaderError
        If the animal is neither given nor in the table, or every unit is
        constant.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rows = read_events(pd.DataFrame({"time": [1.0, 3.0, 5.0, 7.0], "stimulus": list("abab"),
    ...                                  "label": [1, 0, 1, 0], "subject": "rat1"}))
    >>> ds = session_from_events({"rates": np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 2.0],
    ...                                               [4.0, 2.0]])}, rows, session="s1",
    ...                          unit_id=["u0", "u1"])
    >>> ds["unit_id"].values.tolist(), ds.attrs["dropped_units"][:40]  # u1 is constant
    (['u0'], '[{"unit_id": "u1", "reason": "constant r')
    >>> "subject" in ds.coords, "day" in ds.coords
    (True, False)
    """
    where = where or session
    n = len(rows)
    rates = np.asarray(responses["rates"], dtype=float)
    if rates.shape[0] != n:
        raise LoaderError(f"{where}: {rates.shape[0]} aligned trials but {n} events.")
    animal = {}
    if mouse is not None or subject is not None:
        animal = {"mouse": mouse} if mouse is not None else {"subject": subject}
    else:
        for name in ("mouse", "subject"):
            if name in rows.columns:
                animal = {name: str(rows[name].iloc[0])}
                break
        else:
            raise LoaderError(f"{where}: pass `mouse=` (or `subject=`) or add a `mouse` or "
                              "`subject` column to the events table.")
    if day is None and "day" in rows.columns:
        day = int(rows["day"].iloc[0])
    heldout = (np.asarray(rows["heldout"], dtype=bool) if "heldout" in rows.columns
               else np.zeros(n, bool))
    phase = _infer_phase(rows, heldout, day) if phase is None else phase
    correct = None
    if "correct" in rows.columns:
        correct = pd.to_numeric(rows["correct"], errors="coerce").to_numpy(dtype=float)
    choice = (rows["choice"].fillna("").astype(str).to_numpy()
              if "choice" in rows.columns else None)
    unit_id = np.asarray(unit_id).astype(str)
    extra = {k: np.asarray(v) for k, v in (neuron_coords or {}).items()}
    keep = np.ones(rates.shape[1], bool)
    dropped: list[dict[str, str]] = []
    if zscore:
        rates, keep = zscore_responses(rates)
        dropped = [{"unit_id": u, "reason": "constant response: cannot be z-scored"}
                   for u in unit_id[~keep]]
        if not keep.any():
            raise LoaderError(f"{where}: every unit has a constant response over the "
                              f"{n} trials; nothing to analyse.")
    binned = responses.get("binned")
    meta = {"response_units": units, "zscore": int(bool(zscore)), "zscore_ddof": 1,
            "n_units_read": int(keep.size), "dropped_units": json.dumps(dropped),
            **dict(attrs or {})}
    ds = make_session(
        rates, binned_units="spike count" if units == "Hz" else units,
        stimulus=rows["stimulus"].to_numpy(), label=rows["label"].to_numpy(),
        session=str(session), day=day, phase=phase, **{k: str(v) for k, v in animal.items()},
        binned=None if binned is None else np.asarray(binned)[:, keep],
        time=responses.get("time"),
        choice=choice, correct=correct, heldout=heldout, unit_id=unit_id[keep],
        trial_coords={"onset": rows["time"].to_numpy(dtype=float)}, attrs=meta)
    ds["rates"].attrs["units"] = "z-score" if zscore else units
    for name, values in extra.items():
        ds = ds.assign_coords({name: ("neuron", values[keep])})
    return ds
