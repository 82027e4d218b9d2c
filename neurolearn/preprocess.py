"""Spike counts to per-trial response rates, with the original study's defaults.

Berners-Lee et al. (2023) took, for each unit and trial, the spike count 100–600 ms
after odour onset divided by 0.5 s, subtracted the 500 ms pre-onset baseline,
dropped units with ≤ 5 spikes in total or < 5 spikes in the response window,
skipped sessions with fewer than 4 units and z-scored each unit within its
session. :func:`preprocess_session` and :func:`preprocess` reproduce that by
default with every parameter exposed, and record every dropped unit and
session (in ``attrs`` as JSON, and in the ``neurolearn`` log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.schema import iter_sessions, session_info, to_tree, validate_session

__all__ = [
    "window_counts",
    "window_rates",
    "zscore_units",
    "preprocess_session",
    "filter_sessions",
    "preprocess",
    "STUDY_DEFAULTS",
]

logger = logging.getLogger("neurolearn")

#: The original study's preprocessing (DESIGN §4): windows in s from onset.
STUDY_DEFAULTS: dict[str, Any] = {
    "response_window": (0.1, 0.6),
    "baseline_window": (-0.5, 0.0),
    "subtract_baseline": True,
    "min_total_spikes": 6,
    "min_response_spikes": 5,
    "zscore": True,
    "min_units": 4,
}


def _bin_mask(time: np.ndarray, bin_size: float, window: tuple[float, float]) -> np.ndarray:
    start, stop = (float(w) for w in window)
    if not stop > start:
        raise ValueError(f"window must be (start, stop) with stop > start; got {window}.")
    # Bins are [t, t + bin_size); tolerance absorbs float error in the edges.
    tol = 1e-6 * bin_size
    inside = (time >= start - tol) & (time + bin_size <= stop + tol)
    covered = inside.sum() * bin_size
    if not np.isclose(covered, stop - start, rtol=0, atol=tol * 10):
        raise SchemaError(
            f"window {window} s is not a whole number of {bin_size:g} s bins within the "
            f"`time` coordinate ({time[0]:g} to {time[-1] + bin_size:g} s); choose edges on "
            "bin boundaries or re-bin the data.")
    return inside


def window_counts(binned: xr.DataArray, window: tuple[float, float]) -> xr.DataArray:
    """Spike count of each unit on each trial within a time window.

    Parameters
    ----------
    binned : DataArray with dims (trial, neuron, time)
        Spike counts; ``time`` holds bin left edges (s from onset) and
        ``attrs["bin_size"]`` the bin width (s).
    window : (float, float)
        Start and stop in seconds from stimulus onset; both must fall on bin
        edges.

    Returns
    -------
    DataArray with dims (trial, neuron)
        Spike counts (float).
    """
    if "bin_size" not in binned.attrs:
        raise SchemaError("`binned.attrs['bin_size']` (bin width in s) is missing.")
    mask = _bin_mask(np.asarray(binned["time"].values, dtype=float),
                     float(binned.attrs["bin_size"]), window)
    return binned.isel(time=mask).sum("time", dtype=float)


def window_rates(binned: xr.DataArray, window: tuple[float, float]) -> xr.DataArray:
    """Firing rate (spikes/s) of each unit on each trial within a time window.

    Equal to :func:`window_counts` divided by the window length in seconds.
    """
    rates = window_counts(binned, window) / (float(window[1]) - float(window[0]))
    rates.attrs["units"] = "Hz"
    return rates


def zscore_units(rates: xr.DataArray) -> xr.DataArray:
    """Z-score each unit over trials (mean 0, population SD 1).

    Units with zero variance are an error: drop them first (see
    :func:`preprocess_session`, which does so and records it).
    """
    mean = rates.mean("trial")
    sd = rates.std("trial")
    if (sd == 0).any():
        bad = rates["unit_id"].values[(sd == 0).values] if "unit_id" in rates.coords else "?"
        raise InsufficientDataError(f"cannot z-score units with constant response: {bad}.")
    out = (rates - mean) / sd
    out.attrs = {**rates.attrs, "units": "z-score"}
    return out


def preprocess_session(
    ds: xr.Dataset,
    *,
    response_window: tuple[float, float] = STUDY_DEFAULTS["response_window"],
    baseline_window: tuple[float, float] | None = STUDY_DEFAULTS["baseline_window"],
    subtract_baseline: bool = STUDY_DEFAULTS["subtract_baseline"],
    min_total_spikes: int = STUDY_DEFAULTS["min_total_spikes"],
    min_response_spikes: int = STUDY_DEFAULTS["min_response_spikes"],
    zscore: bool = STUDY_DEFAULTS["zscore"],
) -> xr.Dataset:
    """Turn one session's binned spike counts into per-trial response rates.

    Parameters
    ----------
    ds : Dataset
        A session with ``binned`` (trial, neuron, time) spike counts. An
        optional ``total_spikes`` (neuron) variable gives each unit's spike
        count over its whole recording (e.g. a full 17 s raster); otherwise the
        sum of ``binned`` is used.
    response_window : (float, float), default (0.1, 0.6)
        Response window in s from onset.
    baseline_window : (float, float) or None, default (-0.5, 0.0)
        Baseline window in s from onset.
    subtract_baseline : bool, default True
        Subtract each trial's baseline rate from its response rate.
    min_total_spikes : int, default 6
        Units with fewer spikes than this over the recording are dropped (the
        study dropped units with ≤ 5).
    min_response_spikes : int, default 5
        Units with fewer spikes than this summed over all trials' response
        windows are dropped.
    zscore : bool, default True
        Z-score each kept unit over the session's trials.

    Returns
    -------
    Dataset
        The session with ``rates`` (trial, neuron) for the kept units (``binned``
        and ``total_spikes`` restricted to them). ``attrs["preprocessing"]``
        holds the parameters and ``attrs["dropped_units"]`` a JSON list of
        ``{"unit_id", "reason"}``.

    Raises
    ------
    SchemaError
        If ``binned`` is missing or a window does not fall on bin edges.
    """
    validate_session(ds, require_rates=False)
    if "binned" not in ds.data_vars:
        raise SchemaError(f"{session_info(ds)['session']}: preprocess_session needs `binned` "
                          "(trial, neuron, time) spike counts.")
    binned = ds["binned"]
    counts = window_counts(binned, response_window)
    rates = counts / (response_window[1] - response_window[0])
    if subtract_baseline:
        if baseline_window is None:
            raise ValueError("subtract_baseline=True needs a baseline_window.")
        rates = rates - window_rates(binned, baseline_window)
    if "total_spikes" in ds.data_vars:
        total = np.asarray(ds["total_spikes"].values, dtype=float)
    else:
        total = np.asarray(binned.sum(("trial", "time")).values, dtype=float)
    in_window = np.asarray(counts.sum("trial").values)
    unit_ids = np.asarray(ds["unit_id"].values).astype(str)
    reasons: list[str | None] = []
    for i in range(unit_ids.size):
        if total[i] < min_total_spikes:
            reasons.append(f"{int(total[i])} spikes in total (< {min_total_spikes})")
        elif in_window[i] < min_response_spikes:
            reasons.append(f"{int(in_window[i])} spikes in the response window "
                           f"(< {min_response_spikes})")
        elif zscore and float(rates.isel(neuron=i).std()) == 0.0:
            reasons.append("constant response across trials (cannot z-score)")
        else:
            reasons.append(None)
    keep = np.array([r is None for r in reasons])
    dropped = [{"unit_id": u, "reason": r} for u, r in zip(unit_ids, reasons, strict=True)
               if r is not None]
    info = session_info(ds)
    for d in dropped:
        logger.info("session %s: dropped unit %s: %s", info["session"], d["unit_id"], d["reason"])
    out = ds.isel(neuron=np.flatnonzero(keep))
    rates = rates.isel(neuron=np.flatnonzero(keep))
    rates.attrs = {"units": "Hz", "long_name": "response rate"}
    if subtract_baseline:
        rates.attrs["long_name"] = "baseline-subtracted response rate"
    if zscore and keep.any():
        rates = zscore_units(rates)
    out = out.assign(rates=rates.transpose("trial", "neuron"))
    params = {
        "response_window": list(response_window),
        "baseline_window": None if baseline_window is None else list(baseline_window),
        "subtract_baseline": subtract_baseline,
        "min_total_spikes": min_total_spikes,
        "min_response_spikes": min_response_spikes,
        "zscore": zscore,
        "neurolearn_version": __version__,
    }
    out.attrs = {**ds.attrs, "preprocessing": json.dumps(params),
                 "dropped_units": json.dumps(dropped)}
    return out


def filter_sessions(sessions: xr.DataTree | Iterable[xr.Dataset], *,
                    min_units: int = STUDY_DEFAULTS["min_units"],
                    attrs: Mapping[str, Any] | None = None) -> xr.DataTree:
    """Drop sessions with fewer than ``min_units`` units, recording each one.

    Parameters
    ----------
    sessions : DataTree or iterable of Dataset
        Sessions after unit filtering (a session may have no unit left).
    min_units : int, default 4
        Fewest units a session must keep.
    attrs : mapping, optional
        Root attributes of the result (default: those of a DataTree input).

    Returns
    -------
    DataTree
        The kept sessions; root ``attrs["dropped_sessions"]`` is a JSON list of
        ``{"path", "reason"}`` (appended to any earlier record).

    Raises
    ------
    InsufficientDataError
        If no session keeps enough units.
    """
    if isinstance(sessions, xr.DataTree):
        attrs = dict(sessions.attrs) if attrs is None else attrs
        sessions = [ds for _, ds in iter_sessions(sessions)]
    kept, dropped = [], []
    for ds in sessions:
        info = session_info(ds)
        path = f"/{info['mouse']}/{info['session']}"
        n = ds.sizes.get("neuron", 0)
        if n < min_units:
            dropped.append({"path": path, "reason": f"{n} units (< {min_units})"})
            logger.info("dropped session %s: %d units (< %d)", path, n, min_units)
        else:
            kept.append(ds)
    if not kept:
        raise InsufficientDataError(f"no session has at least {min_units} units; dropped: "
                                    f"{[d['path'] for d in dropped][:10]}.")
    attrs = dict(attrs or {})
    attrs["dropped_sessions"] = json.dumps(json.loads(attrs.get("dropped_sessions", "[]"))
                                           + dropped)
    return to_tree(kept, attrs=attrs)


def preprocess(tree: xr.DataTree, *, min_units: int = STUDY_DEFAULTS["min_units"],
               **session_kwargs: Any) -> xr.DataTree:
    """Apply :func:`preprocess_session` to every session, then :func:`filter_sessions`.

    Parameters
    ----------
    tree : DataTree
        Sessions with ``binned`` spike counts.
    min_units : int, default 4
        Sessions with fewer kept units are dropped.
    **session_kwargs
        Passed to :func:`preprocess_session`.
    """
    sessions = [preprocess_session(ds, **session_kwargs) for _, ds in iter_sessions(tree)]
    return filter_sessions(sessions, min_units=min_units, attrs=tree.attrs)
