"""Aggregate per-session results across sessions and mice, day by day."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neurolearn.errors import SchemaError

__all__ = ["across_mice", "phase_summary"]


def across_mice(per_session: xr.DataArray) -> xr.Dataset:
    """Mean ± standard error across mice for each day.

    Sessions of the same mouse and day are averaged first, so each mouse
    counts once per day; the SE is the SD across mice (ddof=1) / √n_mice.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        Coordinates ``mouse``, ``day`` and ``phase`` on ``session`` (as
        returned by every per-session analysis). Further dims are kept.
        NaN sessions are left out of that day's mean.

    Returns
    -------
    Dataset with dim ``day``
        ``mean``, ``sem`` and ``n_mice`` (mice with a value that day), plus a
        ``phase`` coordinate per day (the most common phase that day).
    """
    for name in ("mouse", "day", "phase"):
        if name not in per_session.coords or per_session[name].dims != ("session",):
            raise SchemaError(f"per-session results need coordinate `{name}` on dim "
                              "'session'; use neurolearn.schema.stack_sessions.")
    keys = xr.DataArray(
        [f"{m}\x00{d}" for m, d in zip(per_session["mouse"].values, per_session["day"].values,
                                       strict=True)], dims="session")
    data = per_session.drop_vars([c for c in per_session.coords if c != "session"
                                  and "session" in per_session[c].dims]).assign_coords(
        mouse_day=keys)
    per_mouse_day = data.groupby("mouse_day").mean("session", skipna=True)
    md = per_mouse_day["mouse_day"].values
    day = np.array([int(k.split("\x00")[1]) for k in md])
    per_mouse_day = per_mouse_day.assign_coords(day=("mouse_day", day))
    grouped = per_mouse_day.groupby("day")
    mean = grouped.mean("mouse_day", skipna=True)
    n = per_mouse_day.notnull().groupby("day").sum("mouse_day")
    sd = grouped.std("mouse_day", ddof=1, skipna=True)
    sem = sd / np.sqrt(n.where(n > 0))
    phases = []
    for d in mean["day"].values:
        vals, counts = np.unique(per_session["phase"].values[per_session["day"].values == d],
                                 return_counts=True)
        phases.append(vals[np.argmax(counts)])
    out = xr.Dataset({"mean": mean, "sem": sem, "n_mice": n})
    out = out.assign_coords(phase=("day", np.array(phases, dtype=object)))
    out.attrs = {"aggregation": "mean over sessions per mouse-day, then mean ± SE across mice",
                 **{k: v for k, v in per_session.attrs.items()}}
    if per_session.name is not None:
        out.attrs["variable"] = str(per_session.name)
    return out


def phase_summary(per_session: xr.DataArray) -> xr.Dataset:
    """Mean ± standard error across mice for each phase (training, overtraining).

    Each mouse's sessions within a phase are averaged first, so a mouse counts
    once per phase.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        With ``mouse`` and ``phase`` coordinates on ``session``.

    Returns
    -------
    Dataset with dim ``phase``
        ``mean``, ``sem`` (SD across mice, ddof=1, / √n) and ``n_mice``.
    """
    for name in ("mouse", "phase"):
        if name not in per_session.coords:
            raise SchemaError(f"per-session results need coordinate `{name}` on dim 'session'.")
    keys = xr.DataArray([f"{m}\x00{p}" for m, p in zip(
        per_session["mouse"].values, per_session["phase"].values, strict=True)], dims="session")
    data = per_session.drop_vars([c for c in per_session.coords if c != "session"
                                  and "session" in per_session[c].dims]).assign_coords(
        mouse_phase=keys)
    per_mouse = data.groupby("mouse_phase").mean("session", skipna=True)
    phase = [k.split("\x00")[1] for k in per_mouse["mouse_phase"].values]
    per_mouse = per_mouse.assign_coords(phase=("mouse_phase", np.array(phase, dtype=object)))
    grouped = per_mouse.groupby("phase")
    n = per_mouse.notnull().groupby("phase").sum("mouse_phase")
    out = xr.Dataset({"mean": grouped.mean("mouse_phase", skipna=True),
                      "sem": grouped.std("mouse_phase", ddof=1, skipna=True)
                      / np.sqrt(n.where(n > 0)),
                      "n_mice": n})
    out.attrs = {"aggregation": "mean over sessions per mouse and phase, then mean ± SE "
                                "across mice"}
    return out
